/* The MP configuration table (Intel MultiProcessor Specification 1.4,
 * chapter 4): floating pointer, header, processor, bus, I/O APIC, I/O
 * interrupt assignment and local interrupt assignment entries. */
#include <string.h>

#include "firmware.h"

int mptable_build(struct physmem *pm, int ncpus)
{
    size_t len = 44 + (size_t)ncpus * 20 + 8 + 8 + 15 * 8 + 2 * 8;
    if (FW_MP_CONFIG + len > FW_RSDP)
        return -1;
    uint8_t *t = physmem_guest_ptr(pm, FW_MP_CONFIG, len);
    uint8_t *f = physmem_guest_ptr(pm, FW_MP_FLOAT, 16);
    if (!t || !f)
        return -1;
    memset(t, 0, len);
    uint8_t *e = t + 44;
    uint16_t count = 0;
    /* processor entries (4.3.1): APIC ID = index, version 0x14, enabled,
     * the BSP flagged; CPU signature family 6 and the CPUID.1 EDX flags
     * FPU|APIC as a minimum */
    for (int i = 0; i < ncpus; i++, e += 20, count++) {
        e[0] = 0;
        e[1] = (uint8_t)i;
        e[2] = 0x14;
        e[3] = 1 | (i == 0 ? 2 : 0);
        fw_put32(e + 4, 0x00050654);
        fw_put32(e + 8, (1u << 0) | (1u << 9));
    }
    /* bus entry (4.3.2): bus 0 is ISA */
    e[0] = 1;
    memcpy(e + 2, "ISA   ", 6);
    e += 8, count++;
    /* I/O APIC entry (4.3.3) */
    uint8_t ioapic_id = FW_IOAPIC_ID(ncpus);
    e[0] = 2;
    e[1] = ioapic_id;
    e[2] = 0x20;
    e[3] = 1;
    fw_put32(e + 4, 0xfec00000u);
    e += 8, count++;
    /* I/O interrupt entries (4.3.4): ISA IRQ n on input n, IRQ 0 on 2,
     * conforming polarity/trigger (ISA: edge, active high); IRQ 2 is the
     * 8259 cascade and has no input of its own */
    for (int irq = 0; irq < 16; irq++, e += 8, count++) {
        if (irq == 2) {
            e -= 8, count--;
            continue;
        }
        e[0] = 3;
        e[1] = 0; /* INT */
        e[4] = 0; /* source bus: ISA */
        e[5] = (uint8_t)irq;
        e[6] = ioapic_id;
        e[7] = (uint8_t)(irq == 0 ? 2 : irq);
    }
    /* local interrupt entries (4.3.5): ExtINT to LINT0, NMI to LINT1 of
     * every local APIC (destination 0xff) */
    for (int lint = 0; lint < 2; lint++, e += 8, count++) {
        e[0] = 4;
        e[1] = lint ? 1 : 3; /* NMI, ExtINT */
        e[4] = 0;
        e[5] = 0;
        e[6] = 0xff;
        e[7] = (uint8_t)lint;
    }
    /* header (4.2) */
    memcpy(t, "PCMP", 4);
    fw_put16(t + 4, (uint16_t)len);
    t[6] = 4; /* spec revision 1.4 */
    memcpy(t + 8, "NVMX    ", 8);
    memcpy(t + 16, "NVMX PC     ", 12);
    fw_put16(t + 34, count);
    fw_put32(t + 36, 0xfee00000u);
    t[7] = fw_checksum(t, len);
    /* floating pointer (4.1) */
    memset(f, 0, 16);
    memcpy(f, "_MP_", 4);
    fw_put32(f + 4, (uint32_t)FW_MP_CONFIG);
    f[8] = 1; /* length in 16-byte units */
    f[9] = 4;
    f[10] = fw_checksum(f, 16);
    return 0;
}
