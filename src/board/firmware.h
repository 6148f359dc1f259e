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
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu/physmem.h"

/* The I/O APIC ID register has 4 bits (82093AA 3.2.1) */
#define FW_IOAPIC_ID(ncpus) ((uint8_t)((ncpus)&0xf))

#define FW_AREA 0xf0000ull
#define FW_MP_FLOAT 0xf0000ull  /* MP floating pointer (16 bytes) */
#define FW_MP_CONFIG 0xf0040ull /* MP configuration table */
#define FW_RSDP 0xf0800ull      /* ACPI RSDP (36 bytes, 16-byte aligned) */
#define FW_ACPI 0xf0840ull      /* the other ACPI tables */
#define FW_END 0x100000ull

/* Little-endian stores into a table being built, and the byte checksum
 * both specifications use (the bytes of a table sum to 0). */
static inline void fw_put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}
static inline void fw_put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static inline void fw_put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static inline uint8_t fw_checksum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return (uint8_t)-s;
}

/* Each returns 0, or -1 if the tables do not fit (too many vCPUs). */
int mptable_build(struct physmem *pm, int ncpus);
int acpi_build(struct physmem *pm, int ncpus, bool hpet);

#endif
