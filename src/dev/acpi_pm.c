/* ACPI PM registers (see acpi_pm.h). */
#include "acpi_pm.h"

#include <string.h>

#define SCI_EN 1u

void acpi_pm_init(struct acpi_pm *p, const struct vclock *clk)
{
    memset(p, 0, sizeof(*p));
    p->clk = clk;
    p->cnt = SCI_EN;
}

static uint32_t timer(const struct acpi_pm *p)
{
    /* TMR_VAL: 24 bits (the FADT leaves TMR_VAL_EXT clear) */
    return (uint32_t)vclock_ticks(p->clk->ns, ACPI_PM_TIMER_HZ) & 0xffffff;
}

static uint32_t reg32(const struct acpi_pm *p, unsigned off)
{
    /* a 32-bit view of the 12 bytes: STS|EN, CNT|0, TMR */
    if (off < 4)
        return p->sts | ((uint32_t)p->en << 16);
    if (off < 8)
        return p->cnt;
    return timer(p);
}

static uint64_t pm_read(void *opaque, uint64_t addr, int size)
{
    struct acpi_pm *p = opaque;
    unsigned off = (unsigned)addr;
    if (off >= 12)
        return ~0ull;
    uint64_t v = reg32(p, off & ~3u) >> (8 * (off & 3));
    return size >= 4 ? (uint32_t)v : v & ((1ull << (8 * size)) - 1);
}

static void pm_write(void *opaque, uint64_t addr, int size, uint64_t val)
{
    struct acpi_pm *p = opaque;
    switch ((unsigned)addr) {
    case 0: /* PM1_STS: write 1 to clear */
        p->sts &= (uint16_t)~val;
        if (size >= 4)
            p->en = (uint16_t)(val >> 16);
        break;
    case 2:
        p->en = (uint16_t)val;
        break;
    case 4: /* PM1_CNT: SCI_EN stays set; sleep requests are ignored */
        p->cnt = (uint16_t)((val & ~0x2000u) | SCI_EN);
        break;
    default:
        break; /* the timer is read-only */
    }
}

const struct io_ops acpi_pm_ops = {pm_read, pm_write};
