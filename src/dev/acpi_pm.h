/* The ACPI power-management registers of a PIIX4-like chipset at I/O port
 * 0x600 (ACPI spec 4.8 "ACPI hardware registers"): PM1a event block
 * (PM1_STS, PM1_EN) at 0x600, PM1a control (SCI_EN always set: there is no
 * SMM to switch modes) at 0x604, and the 24-bit PM timer at 0x608 running
 * at 3.579545 MHz from the virtual clock. No SCI is generated. */
#ifndef NVMX_DEV_ACPI_PM_H
#define NVMX_DEV_ACPI_PM_H

#include <stdint.h>

#include "iobus.h"
#include "vclock.h"

#define ACPI_PM_BASE 0x600
#define ACPI_PM_TIMER_HZ 3579545ull

struct acpi_pm {
    const struct vclock *clk;
    uint16_t sts, en, cnt;
};

void acpi_pm_init(struct acpi_pm *p, const struct vclock *clk);

extern const struct io_ops acpi_pm_ops; /* 0x600-0x60b */

#endif
