/* ACPI tables (ACPI 6.4 chapter 5): RSDP (5.2.5), RSDT (5.2.7), XSDT
 * (5.2.8), FADT revision 3+ layout (5.2.9), FACS (5.2.10), an empty DSDT
 * (5.2.11.1), the MADT (5.2.12) with processor local APIC, I/O APIC,
 * interrupt source override and local APIC NMI entries, and the HPET
 * table. */
#include <string.h>

#include "dev/acpi_pm.h"
#include "firmware.h"

/* The common 36-byte header (5.2.6); the checksum is set by finish(). */
static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    fw_put32(t + 4, len);
    t[8] = rev;
    memcpy(t + 10, "NVMX  ", 6);
    memcpy(t + 16, "NVMXPC  ", 8);
    fw_put32(t + 24, 1);
    memcpy(t + 28, "NVMX", 4);
    fw_put32(t + 32, 1);
}

static void finish(uint8_t *t, uint32_t len)
{
    t[9] = 0;
    t[9] = fw_checksum(t, len);
}

/* Generic address structure (5.2.3.2) in system I/O space */
static void gas_io(uint8_t *g, uint8_t bits, uint8_t access, uint64_t port)
{
    g[0] = 1;
    g[1] = bits;
    g[2] = 0;
    g[3] = access;
    fw_put64(g + 4, port);
}

int acpi_build(struct physmem *pm, int ncpus, bool hpet)
{
    uint32_t madt_len = 44 + (uint32_t)ncpus * 8 + 12 + 2 * 10 + 6;
    uint64_t dsdt = FW_ACPI, facs = dsdt + 64, fadt = facs + 64, madt = fadt + 256;
    uint64_t hpet_t = madt + ((madt_len + 15) & ~15u);
    uint64_t rsdt = hpet_t + 64, xsdt = rsdt + 64, end = xsdt + 64;
    if (end > FW_END)
        return -1;
    uint8_t *base = physmem_guest_ptr(pm, FW_RSDP, end - FW_RSDP);
    if (!base)
        return -1;
    memset(base, 0, end - FW_RSDP);
#define AT(a) (base + ((a)-FW_RSDP))

    /* DSDT: a definition block with no AML */
    header(AT(dsdt), "DSDT", 36, 2);
    finish(AT(dsdt), 36);

    /* FACS: no waking vector, no global lock owner */
    uint8_t *f = AT(facs);
    memcpy(f, "FACS", 4);
    fw_put32(f + 4, 64);
    f[32] = 2; /* version */

    /* FADT */
    uint8_t *t = AT(fadt);
    header(t, "FACP", 244, 3);
    fw_put32(t + 36, (uint32_t)facs);
    fw_put32(t + 40, (uint32_t)dsdt);
    fw_put16(t + 46, 9);                /* SCI_INT: ISA IRQ 9 */
    fw_put32(t + 48, 0);                /* SMI_CMD: none, always in ACPI mode */
    fw_put32(t + 56, ACPI_PM_BASE);     /* PM1a_EVT_BLK */
    fw_put32(t + 64, ACPI_PM_BASE + 4); /* PM1a_CNT_BLK */
    fw_put32(t + 76, ACPI_PM_BASE + 8); /* PM_TMR_BLK */
    t[88] = 4;                          /* PM1_EVT_LEN */
    t[89] = 2;                          /* PM1_CNT_LEN */
    t[91] = 4;                          /* PM_TMR_LEN */
    fw_put16(t + 96, 101);              /* P_LVL2_LAT > 100: no C2 */
    fw_put16(t + 98, 1001);             /* P_LVL3_LAT > 1000: no C3 */
    t[108] = 0x32;                      /* CENTURY: CMOS index */
    fw_put16(t + 109, 1);               /* IAPC_BOOT_ARCH: LEGACY_DEVICES (8259, 8254, RTC) */
    /* flags: WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON absent; the PM
     * timer is 24 bits (TMR_VAL_EXT clear) */
    fw_put32(t + 112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5));
    fw_put64(t + 132, facs);              /* X_FIRMWARE_CTRL */
    fw_put64(t + 140, dsdt);              /* X_DSDT */
    gas_io(t + 148, 32, 2, ACPI_PM_BASE); /* X_PM1a_EVT_BLK */
    gas_io(t + 172, 16, 2, ACPI_PM_BASE + 4);
    gas_io(t + 208, 32, 3, ACPI_PM_BASE + 8);
    finish(t, 244);

    /* MADT */
    t = AT(madt);
    header(t, "APIC", madt_len, 3);
    fw_put32(t + 36, 0xfee00000u);
    fw_put32(t + 40, 1); /* PCAT_COMPAT: 8259s present */
    uint8_t *e = t + 44;
    for (int i = 0; i < ncpus; i++, e += 8) {
        e[0] = 0; /* processor local APIC */
        e[1] = 8;
        e[2] = (uint8_t)i;  /* ACPI processor UID */
        e[3] = (uint8_t)i;  /* APIC ID */
        fw_put32(e + 4, 1); /* enabled */
    }
    e[0] = 1; /* I/O APIC */
    e[1] = 12;
    e[2] = FW_IOAPIC_ID(ncpus);
    fw_put32(e + 4, 0xfec00000u);
    fw_put32(e + 8, 0); /* GSI base */
    e += 12;
    /* interrupt source overrides: ISA IRQ 0 -> GSI 2; IRQ 9 (SCI) level,
     * active high (flags: polarity 01, trigger 11) */
    e[0] = 2;
    e[1] = 10;
    e[3] = 0;
    fw_put32(e + 4, 2);
    fw_put16(e + 8, 0);
    e += 10;
    e[0] = 2;
    e[1] = 10;
    e[3] = 9;
    fw_put32(e + 4, 9);
    fw_put16(e + 8, 0x000d);
    e += 10;
    e[0] = 4; /* local APIC NMI: every processor, LINT1 */
    e[1] = 6;
    e[2] = 0xff;
    fw_put16(e + 3, 0);
    e[5] = 1;
    finish(t, madt_len);

    /* HPET description table (IA-PC HPET spec 3.2.4): event timer block
     * ID = the low half of the capabilities register, base address */
    t = AT(hpet_t);
    header(t, "HPET", 56, 1);
    fw_put32(t + 36, 0x8086a201u);
    t[40] = 0;  /* system memory */
    t[41] = 64; /* register bit width */
    fw_put64(t + 44, 0xfed00000ull);
    t[52] = 0;
    fw_put16(t + 53, 0x80); /* minimum periodic tick in counter ticks */
    finish(t, 56);

    /* RSDT (32-bit pointers) and XSDT (64-bit) list FADT, MADT (and HPET) */
    uint32_t n = hpet ? 3 : 2;
    uint64_t list[3] = {fadt, madt, hpet_t};
    t = AT(rsdt);
    header(t, "RSDT", 36 + 4 * n, 1);
    for (uint32_t i = 0; i < n; i++)
        fw_put32(t + 36 + 4 * i, (uint32_t)list[i]);
    finish(t, 36 + 4 * n);
    t = AT(xsdt);
    header(t, "XSDT", 36 + 8 * n, 1);
    for (uint32_t i = 0; i < n; i++)
        fw_put64(t + 36 + 8 * i, list[i]);
    finish(t, 36 + 8 * n);

    /* RSDP, revision 2 */
    uint8_t *r = AT(FW_RSDP);
    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, "NVMX  ", 6);
    r[15] = 2;
    fw_put32(r + 16, (uint32_t)rsdt);
    fw_put32(r + 20, 36);
    fw_put64(r + 24, xsdt);
    r[8] = fw_checksum(r, 20);
    r[32] = fw_checksum(r, 36);
#undef AT
    return 0;
}
