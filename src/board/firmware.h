/* Firmware tables a kernel finds without a BIOS: the MP table (Intel
 * MultiProcessor Specification 1.4) and ACPI (ACPI 6.x: RSDP, RSDT, XSDT,
 * MADT, FADT, FACS, an empty DSDT). They describe the machine nvmx builds:
 * one local APIC per vCPU (APIC ID = vCPU index), the I/O APIC (ID = number
 * of vCPUs modulo 16) at 0xfec00000 with ISA IRQ 0 on input 2, the PM timer at
 * 0x608. They live in the BIOS area 0xf0000-0xfffff (reserved in the
 * memory map), where both specifications say to search. */
#ifndef NVMX_BOARD_FIRMWARE_H
#define NVMX_BOARD_FIRMWARE_H

#include <stdbool.h>

#include "cpu/physmem.h"

/* The I/O APIC ID register has 4 bits (82093AA 3.2.1) */
#define FW_IOAPIC_ID(ncpus) ((uint8_t)((ncpus)&0xf))

#define FW_AREA 0xf0000ull
#define FW_MP_FLOAT 0xf0000ull  /* MP floating pointer (16 bytes) */
#define FW_MP_CONFIG 0xf0040ull /* MP configuration table */
#define FW_RSDP 0xf0800ull      /* ACPI RSDP (36 bytes, 16-byte aligned) */
#define FW_ACPI 0xf0840ull      /* the other ACPI tables */
#define FW_END 0x100000ull

/* Each returns 0, or -1 if the tables do not fit (too many vCPUs). */
int mptable_build(struct physmem *pm, int ncpus);
int acpi_build(struct physmem *pm, int ncpus, bool hpet);

#endif
