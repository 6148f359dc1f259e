/* HPET (see hpet.h). Register offsets and bits: IA-PC HPET Specification
 * 1.0a, 2.3 (General Capabilities and ID 0x000, General Configuration
 * 0x010, General Interrupt Status 0x020, Main Counter 0x0f0, Timer N
 * Configuration 0x100 + 0x20 N, Comparator 0x108 + 0x20 N). The counter is
 * computed from the virtual clock, never ticked. */
#include "hpet.h"

#include <string.h>

#define CFG_ENABLE 1ull
#define CFG_LEGACY 2ull
#define TN_LEVEL (1ull << 1)
#define TN_ENABLE (1ull << 2)
#define TN_PERIODIC (1ull << 3)
#define TN_PER_CAP (1ull << 4)
#define TN_SIZE_CAP (1ull << 5)
#define TN_VAL_SET (1ull << 6)
#define TN_32BIT (1ull << 8)
#define TN_ROUTE_SHIFT 9
#define TN_ROUTE_MASK (0x1full << TN_ROUTE_SHIFT)
/* writable configuration bits */
#define TN_WRITABLE (TN_LEVEL | TN_ENABLE | TN_PERIODIC | TN_VAL_SET | TN_32BIT | TN_ROUTE_MASK)
#define FS_PER_TICK 10000000ull /* 10 ns in femtoseconds */

static bool enabled(const struct hpet *h)
{
    return h->config & CFG_ENABLE;
}

static uint64_t counter(const struct hpet *h)
{
    if (!enabled(h))
        return h->counter_base;
    return h->counter_base + vclock_ticks(h->clk->ns, HPET_HZ) -
           vclock_ticks(h->enable_ns, HPET_HZ);
}

/* The virtual time at which the main counter, now at `now`, has advanced
 * by `delta` ticks; UINT64_MAX beyond any reachable time (a 64-bit
 * comparator just passed matches again only after 2^64 ticks). */
static uint64_t ns_after(const struct hpet *h, uint64_t now, uint64_t delta)
{
    if (delta >= 1ull << 62)
        return UINT64_MAX;
    uint64_t start_tick = vclock_ticks(h->enable_ns, HPET_HZ);
    return vclock_ns(start_tick + (now - h->counter_base) + delta, HPET_HZ);
}

bool hpet_legacy(const struct hpet *h)
{
    return (h->config & (CFG_ENABLE | CFG_LEGACY)) == (CFG_ENABLE | CFG_LEGACY);
}

static void route(struct hpet *h, int i, int *gsi, int *legacy)
{
    *legacy = -1;
    *gsi = (int)((h->t[i].config & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT);
    if (hpet_legacy(h) && i < 2) {
        /* 2.3.9.2.2: timer 0 -> IRQ 0 (I/O APIC input 2), timer 1 -> IRQ 8 */
        *legacy = i == 0 ? 0 : 8;
        *gsi = i == 0 ? 2 : 8;
    }
}

static void set_line(struct hpet *h, int i, int level)
{
    int gsi, legacy;
    route(h, i, &gsi, &legacy);
    h->irq(h->irq_opaque, gsi, legacy, level);
}

/* Next comparator match of timer i strictly after the current counter. */
static void schedule(struct hpet *h, int i)
{
    struct hpet_timer *t = &h->t[i];
    t->next_ns = UINT64_MAX;
    if (!enabled(h) || !(t->config & TN_ENABLE))
        return;
    uint64_t now = counter(h);
    bool m32 = t->config & TN_32BIT;
    uint64_t delta = m32 ? (uint32_t)((uint32_t)t->cmp - (uint32_t)now) : t->cmp - now;
    if (delta == 0)
        delta = m32 ? 1ull << 32 : 0; /* a match now was already handled: wrap */
    if (delta == 0)
        return; /* 64-bit: the next match is 2^64 ticks away */
    t->next_ns = ns_after(h, now, delta);
}

static void fire(struct hpet *h, int i)
{
    struct hpet_timer *t = &h->t[i];
    if (t->config & TN_LEVEL) {
        /* level: the status bit holds the line until software clears it */
        h->isr |= 1ull << i;
        if (!t->level_active) {
            t->level_active = true;
            set_line(h, i, 1);
        }
    } else {
        set_line(h, i, 1);
        set_line(h, i, 0);
    }
    if ((t->config & TN_PERIODIC) && t->period) {
        /* 2.3.9.2.2 periodic mode: the comparator advances by the period
         * (missed periods coalesce: it moves past the counter) */
        uint64_t now = counter(h);
        do
            t->cmp += t->period;
        while ((int64_t)(t->cmp - now) <= 0);
        if (t->config & TN_32BIT)
            t->cmp = (uint32_t)t->cmp;
    }
}

void hpet_advance(struct hpet *h)
{
    for (int i = 0; i < HPET_TIMERS; i++) {
        if (h->t[i].next_ns > h->clk->ns)
            continue;
        fire(h, i);
        schedule(h, i);
    }
}

uint64_t hpet_deadline(const struct hpet *h)
{
    uint64_t d = UINT64_MAX;
    for (int i = 0; i < HPET_TIMERS; i++)
        if (h->t[i].next_ns < d)
            d = h->t[i].next_ns;
    return d;
}

void hpet_init(struct hpet *h, const struct vclock *clk, void (*irq)(void *, int, int, int),
               void *opaque)
{
    memset(h, 0, sizeof(*h));
    h->clk = clk;
    h->irq = irq;
    h->irq_opaque = opaque;
    for (int i = 0; i < HPET_TIMERS; i++) {
        h->t[i].config = TN_SIZE_CAP | ((uint64_t)HPET_ROUTE_CAP << 32) | (i == 0 ? TN_PER_CAP : 0);
        h->t[i].cmp = ~0ull;
        h->t[i].next_ns = UINT64_MAX;
    }
}

static uint64_t reg_read(struct hpet *h, uint64_t off)
{
    switch (off) {
    case 0x000:
        /* revision 1, timers - 1 in 12:8, 64-bit counter, legacy
         * replacement capable, vendor 0x8086, period in femtoseconds */
        return 1 | ((uint64_t)(HPET_TIMERS - 1) << 8) | (1ull << 13) | (1ull << 15) |
               (0x8086ull << 16) | (FS_PER_TICK << 32);
    case 0x010:
        return h->config;
    case 0x020:
        return h->isr;
    case 0x0f0:
        return counter(h);
    default:
        break;
    }
    if (off >= 0x100 && off < 0x100 + 0x20 * HPET_TIMERS) {
        const struct hpet_timer *t = &h->t[(off - 0x100) / 0x20];
        switch (off & 0x1f) {
        case 0x00:
            return t->config;
        case 0x08:
            return (t->config & TN_32BIT) ? (uint32_t)t->cmp : t->cmp;
        default:
            return 0; /* FSB interrupt route: not supported */
        }
    }
    return 0;
}

/* A 32- or 64-bit write of val at off, merged into the 64-bit register. */
static uint64_t merge(uint64_t old, uint64_t off, int size, uint64_t val)
{
    if (size >= 8)
        return val;
    int sh = (int)(off & 4) * 8;
    uint64_t mask = 0xffffffffull << sh;
    return (old & ~mask) | ((val << sh) & mask);
}

static void reg_write(struct hpet *h, uint64_t off, int size, uint64_t val)
{
    uint64_t base = off & ~7ull;
    if (base == 0x010) {
        uint64_t old = h->config;
        uint64_t cfg = merge(old, off, size, val) & (CFG_ENABLE | CFG_LEGACY);
        if ((cfg ^ old) & CFG_ENABLE) {
            /* the counter stops and resumes where it was */
            h->counter_base = counter(h);
            h->enable_ns = h->clk->ns;
        }
        if (hpet_legacy(h) != ((cfg & (CFG_ENABLE | CFG_LEGACY)) == (CFG_ENABLE | CFG_LEGACY))) {
            /* routing changes: release asserted level lines first */
            for (int i = 0; i < HPET_TIMERS; i++)
                if (h->t[i].level_active) {
                    set_line(h, i, 0);
                    h->t[i].level_active = false;
                }
        }
        h->config = cfg;
        for (int i = 0; i < HPET_TIMERS; i++)
            schedule(h, i);
        return;
    }
    if (base == 0x020) {
        /* write 1 to clear a level interrupt's status: deasserts it */
        uint64_t clr = merge(0, off, size, val);
        for (int i = 0; i < HPET_TIMERS; i++)
            if ((clr >> i) & 1) {
                h->isr &= ~(1ull << i);
                if (h->t[i].level_active) {
                    h->t[i].level_active = false;
                    set_line(h, i, 0);
                }
            }
        return;
    }
    if (base == 0x0f0) {
        /* the main counter is writable while halted (2.3.4) */
        if (!enabled(h))
            h->counter_base = merge(h->counter_base, off, size, val);
        return;
    }
    if (base >= 0x100 && base < 0x100 + 0x20 * HPET_TIMERS) {
        int i = (int)((base - 0x100) / 0x20);
        struct hpet_timer *t = &h->t[i];
        if ((base & 0x1f) == 0x00) {
            uint64_t v = merge(t->config, off, size, val);
            uint64_t ro = t->config & ~TN_WRITABLE;
            v = (v & TN_WRITABLE) | ro;
            if (!(t->config & TN_PER_CAP))
                v &= ~TN_PERIODIC;
            uint32_t r = (uint32_t)((v & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT);
            if (!((HPET_ROUTE_CAP >> r) & 1))
                v = (v & ~TN_ROUTE_MASK) | (t->config & TN_ROUTE_MASK); /* not allowed */
            if (t->level_active && (v ^ t->config) & (TN_ROUTE_MASK | TN_LEVEL)) {
                t->level_active = false;
                set_line(h, i, 0);
            }
            t->config = v;
            if (t->config & TN_32BIT)
                t->cmp = (uint32_t)t->cmp;
        } else if ((base & 0x1f) == 0x08) {
            uint64_t v = merge(t->cmp, off, size, val);
            if (t->config & TN_32BIT)
                v = (uint32_t)v;
            if ((t->config & TN_PERIODIC) && (t->config & TN_VAL_SET)) {
                /* 2.3.9.2.2: with VAL_SET the write sets the comparator;
                 * the period is the value written */
                t->cmp = v;
                t->period = v;
                t->config &= ~TN_VAL_SET;
            } else if (t->config & TN_PERIODIC) {
                t->period = v; /* later writes set the period */
            } else {
                t->cmp = v;
            }
            if (!(t->config & TN_PERIODIC))
                t->period = 0;
        }
        schedule(h, i);
    }
}

static uint64_t hpet_read(void *opaque, uint64_t addr, int size)
{
    struct hpet *h = opaque;
    uint64_t v = reg_read(h, addr & ~7ull);
    if (size < 8)
        v = (v >> ((addr & 4) * 8)) & 0xffffffffull;
    return v;
}

static void hpet_write(void *opaque, uint64_t addr, int size, uint64_t val)
{
    reg_write(opaque, addr, size, val);
}

const struct io_ops hpet_ops = {hpet_read, hpet_write};
