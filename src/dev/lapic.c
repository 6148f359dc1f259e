/* Local APIC (see lapic.h). Section numbers are SDM Vol. 3A chapter 11. */
#include "lapic.h"

#include <string.h>

#define APIC_VERSION 0x14u
#define APIC_MAX_LVT 5u /* LVT entries 0..5: timer, thermal, perf, LINT0, LINT1, error */

/* ESR bits (11.5.3) */
#define ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define ESR_ILLEGAL_REG (1u << 7)

#define TIMER_ONESHOT 0
#define TIMER_PERIODIC 1
#define TIMER_TSC_DEADLINE 2

/* writable bits of each LVT (Figure 11-8) */
static const uint32_t lvt_mask[NR_LVT] = {
    [LVT_TIMER] = 0x700ff,   /* vector, mask, timer mode (bits 18:17) */
    [LVT_THERMAL] = 0x107ff, /* vector, delivery mode, mask */
    [LVT_PERF] = 0x107ff,
    [LVT_LINT0] = 0x1a7ff, /* vector, delivery mode, polarity, trigger, mask */
    [LVT_LINT1] = 0x1a7ff,
    [LVT_ERROR] = 0x100ff,
};

static int highest_bit(const uint32_t *v)
{
    for (int i = 7; i >= 0; i--)
        if (v[i])
            return i * 32 + 31 - __builtin_clz(v[i]);
    return -1;
}

static void set_bit(uint32_t *v, int b)
{
    v[b >> 5] |= 1u << (b & 31);
}
static void clr_bit(uint32_t *v, int b)
{
    v[b >> 5] &= ~(1u << (b & 31));
}
static bool test_bit(const uint32_t *v, int b)
{
    return (v[b >> 5] >> (b & 31)) & 1;
}

bool lapic_hw_enabled(const struct lapic *l)
{
    return l->apic_base & APIC_BASE_EN;
}
bool lapic_x2apic(const struct lapic *l)
{
    return (l->apic_base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}
bool lapic_sw_enabled(const struct lapic *l)
{
    return lapic_hw_enabled(l) && (l->svr & 0x100);
}

static uint32_t timer_mode(const struct lapic *l)
{
    return (l->lvt[LVT_TIMER] >> 17) & 3;
}

bool lapic_tsc_deadline_mode(const struct lapic *l)
{
    return timer_mode(l) == TIMER_TSC_DEADLINE;
}

static uint32_t divide_shift(const struct lapic *l)
{
    /* 11.5.4, Figure 11-10: bits 3,1:0; 111b is divide by 1 */
    uint32_t v = ((l->divide >> 1) & 4) | (l->divide & 3);
    return (v + 1) & 7;
}

/* Recomputes the next expiry of the timer from its state. */
static void timer_update(struct lapic *l)
{
    l->timer_next_ns = UINT64_MAX;
    if (timer_mode(l) == TIMER_TSC_DEADLINE) {
        if (l->tsc_deadline)
            l->timer_next_ns = l->deadline_ns;
        return;
    }
    if (!l->initial_count)
        return;
    uint64_t period = (uint64_t)l->initial_count << divide_shift(l);
    uint64_t start_tick = vclock_ticks(l->timer_start_ns, LAPIC_TIMER_HZ);
    uint64_t now_tick = vclock_ticks(l->clk->ns, LAPIC_TIMER_HZ);
    uint64_t elapsed = now_tick - start_tick;
    uint64_t next;
    if (timer_mode(l) == TIMER_PERIODIC)
        next = (elapsed / period + 1) * period;
    else if (elapsed < period)
        next = period;
    else
        return; /* one-shot already expired */
    l->timer_next_ns = vclock_ns(start_tick + next, LAPIC_TIMER_HZ);
}

static uint32_t current_count(const struct lapic *l)
{
    if (timer_mode(l) == TIMER_TSC_DEADLINE || !l->initial_count)
        return 0;
    uint64_t period = (uint64_t)l->initial_count << divide_shift(l);
    uint64_t elapsed =
        vclock_ticks(l->clk->ns, LAPIC_TIMER_HZ) - vclock_ticks(l->timer_start_ns, LAPIC_TIMER_HZ);
    if (timer_mode(l) == TIMER_PERIODIC)
        elapsed %= period;
    else if (elapsed >= period)
        return 0;
    /* the count decrements once per (divided) timer clock */
    return l->initial_count - (uint32_t)(elapsed >> divide_shift(l));
}

static void lapic_error(struct lapic *l, uint32_t bits)
{
    l->esr_pending |= bits;
    uint32_t lvt = l->lvt[LVT_ERROR];
    if (!(lvt & APIC_LVT_MASKED))
        lapic_accept(l, (uint8_t)lvt, false);
}

void lapic_accept(struct lapic *l, uint8_t vector, bool level)
{
    if (!lapic_hw_enabled(l))
        return;
    if (vector < 16) {
        /* 11.5.3: vectors 0-15 are illegal; recorded, not delivered */
        l->esr_pending |= ESR_RECV_ILLEGAL_VECTOR;
        uint32_t lvt = l->lvt[LVT_ERROR];
        if (!(lvt & APIC_LVT_MASKED) && (uint8_t)lvt >= 16)
            lapic_accept(l, (uint8_t)lvt, false);
        return;
    }
    set_bit(l->irr, vector);
    if (level)
        set_bit(l->tmr, vector);
    else
        clr_bit(l->tmr, vector);
}

uint32_t lapic_ppr(const struct lapic *l)
{
    /* 11.8.3.1: PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4 */
    int isrv = highest_bit(l->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

int lapic_pending(const struct lapic *l)
{
    if (!lapic_hw_enabled(l))
        return -1;
    int v = highest_bit(l->irr);
    if (v < 0 || (uint32_t)(v & 0xf0) <= (lapic_ppr(l) & 0xf0))
        return -1;
    return v;
}

void lapic_ack(struct lapic *l, uint8_t vector)
{
    clr_bit(l->irr, vector);
    set_bit(l->isr, vector);
}

static void do_eoi(struct lapic *l)
{
    /* 11.8.5: the highest-priority in-service interrupt ends */
    int v = highest_bit(l->isr);
    if (v < 0)
        return;
    clr_bit(l->isr, v);
    if (test_bit(l->tmr, v))
        l->ops->eoi(l->opaque, (uint8_t)v); /* level-triggered: EOI message */
}

static uint32_t x2apic_ldr(uint32_t id)
{
    /* 11.12.10.2: cluster ID in 31:16, one bit of 16 in 15:0 */
    return ((id & 0xffff0u) << 12) | (1u << (id & 0xf));
}

bool lapic_match_dest(const struct lapic *l, uint32_t dest, bool logical)
{
    if (!lapic_hw_enabled(l))
        return false;
    if (lapic_x2apic(l)) {
        if (dest == 0xffffffffu)
            return true;
        if (!logical)
            return dest == l->id;
        uint32_t ldr = x2apic_ldr(l->id);
        return (dest >> 16) == (ldr >> 16) && (dest & ldr & 0xffff);
    }
    uint8_t d = (uint8_t)dest;
    if (d == 0xff)
        return true; /* broadcast in both modes */
    if (!logical)
        return d == (uint8_t)l->id;
    uint8_t ldr = (uint8_t)(l->ldr >> 24);
    if ((l->dfr >> 28) == 0xf)
        return (d & ldr) != 0; /* flat model */
    /* cluster model: bits 7:4 cluster, 3:0 members */
    return (d >> 4) == (ldr >> 4) && (d & ldr & 0xf);
}

static void reset_registers(struct lapic *l)
{
    /* 11.4.7.1 power-up / INIT state: everything zero, LVTs masked, DFR
     * all ones, SVR 0xff (software-disabled) */
    l->tpr = l->ldr = l->esr = l->esr_pending = l->icr_lo = l->icr_hi = 0;
    l->dfr = 0xffffffffu;
    l->svr = 0xff;
    for (int i = 0; i < NR_LVT; i++)
        l->lvt[i] = APIC_LVT_MASKED;
    memset(l->irr, 0, sizeof(l->irr));
    memset(l->isr, 0, sizeof(l->isr));
    memset(l->tmr, 0, sizeof(l->tmr));
    l->initial_count = l->divide = 0;
    l->tsc_deadline = l->deadline_ns = 0;
    l->timer_start_ns = 0;
    l->timer_next_ns = UINT64_MAX;
}

void lapic_init_reset(struct lapic *l)
{
    reset_registers(l);
}

void lapic_init(struct lapic *l, uint32_t id, bool bsp, const struct vclock *clk,
                const struct lapic_bus_ops *ops, void *opaque)
{
    memset(l, 0, sizeof(*l));
    l->clk = clk;
    l->ops = ops;
    l->opaque = opaque;
    l->id = id;
    l->apic_base = LAPIC_DEFAULT_BASE | APIC_BASE_EN | (bsp ? APIC_BASE_BSP : 0);
    reset_registers(l);
    if (bsp) {
        /* what a BIOS leaves (and QEMU's reset state): the bootstrap
         * processor in virtual-wire mode, LINT0 ExtINT from the 8259 and
         * LINT1 NMI, so legacy PIC interrupts reach it */
        l->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
        l->lvt[LVT_LINT1] = APIC_DM_NMI << 8;
    }
}

bool lapic_set_base(struct lapic *l, uint64_t val, uint64_t phys_addr_mask)
{
    uint64_t reserved =
        ~(phys_addr_mask & ~0xfffull) & ~(APIC_BASE_BSP | APIC_BASE_EXTD | APIC_BASE_EN);
    if (val & reserved)
        return false;
    bool en = val & APIC_BASE_EN, extd = val & APIC_BASE_EXTD;
    bool was_x2 = lapic_x2apic(l), was_en = lapic_hw_enabled(l);
    /* 11.12.5: EXTD without EN is invalid; x2APIC -> xAPIC must go
     * through disabled */
    if (extd && !en)
        return false;
    if (was_x2 && en && !extd)
        return false;
    val = (val & ~APIC_BASE_BSP) | (l->apic_base & APIC_BASE_BSP); /* BSP is read-only */
    l->apic_base = val;
    if (was_en && !en) {
        /* 11.4.3: a hardware disable resets the APIC to its power-up
         * state (the ID survives) */
        reset_registers(l);
    }
    if (!was_x2 && lapic_x2apic(l)) {
        /* entering x2APIC mode: the logical ID is derived from the ID */
        l->ldr = x2apic_ldr(l->id);
    }
    return true;
}

static void sw_disable(struct lapic *l)
{
    for (int i = 0; i < NR_LVT; i++)
        l->lvt[i] |= APIC_LVT_MASKED;
}

/* Register read by offset>>4 (shared by both interfaces). */
static bool reg_read(struct lapic *l, uint32_t reg, uint32_t *out)
{
    uint32_t v = 0;
    switch (reg) {
    case 0x02: /* ID */
        v = lapic_x2apic(l) ? l->id : l->id << 24;
        break;
    case 0x03: /* version: max LVT entry in 23:16 */
        v = APIC_VERSION | (APIC_MAX_LVT << 16);
        break;
    case 0x08:
        v = l->tpr;
        break;
    case 0x09: { /* APR (11.6.2.4): like PPR but with the highest IRR too */
        int irrv = highest_bit(l->irr), isrv = highest_bit(l->isr);
        uint32_t t = l->tpr & 0xf0;
        uint32_t ic = irrv < 0 ? 0 : (uint32_t)irrv & 0xf0,
                 sc = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
        v = (t >= ic && t >= sc) ? l->tpr & 0xff : (ic > sc ? ic : sc);
        break;
    }
    case 0x0a:
        v = lapic_ppr(l);
        break;
    case 0x0c: /* remote read: not supported (status invalid) */
        v = 0;
        break;
    case 0x0d:
        v = l->ldr;
        break;
    case 0x0e:
        if (lapic_x2apic(l))
            return false; /* no DFR in x2APIC mode */
        v = l->dfr;
        break;
    case 0x0f:
        v = l->svr;
        break;
    case 0x28:
        v = l->esr;
        break;
    case 0x30:
        v = l->icr_lo & ~(1u << 12); /* delivery is instantaneous: idle */
        break;
    case 0x31:
        if (lapic_x2apic(l))
            return false;
        v = l->icr_hi;
        break;
    case 0x32:
    case 0x33:
    case 0x34:
    case 0x35:
    case 0x36:
    case 0x37:
        v = l->lvt[reg - 0x32];
        break;
    case 0x38:
        v = l->initial_count;
        break;
    case 0x39:
        v = current_count(l);
        break;
    case 0x3e:
        v = l->divide;
        break;
    default:
        if (reg >= 0x10 && reg < 0x18)
            v = l->isr[reg - 0x10];
        else if (reg >= 0x18 && reg < 0x20)
            v = l->tmr[reg - 0x18];
        else if (reg >= 0x20 && reg < 0x28)
            v = l->irr[reg - 0x20];
        else
            return false;
        break;
    }
    *out = v;
    return true;
}

static void send_icr(struct lapic *l, uint32_t lo, uint32_t dest)
{
    uint32_t dm = (lo >> 8) & 7;
    if ((dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST) && (lo & 0xff) < 16) {
        lapic_error(l, ESR_SEND_ILLEGAL_VECTOR);
        return;
    }
    l->ops->send_ipi(l->opaque, l, lo, dest);
}

/* Register write by offset>>4; false for a read-only/reserved register. */
static bool reg_write(struct lapic *l, uint32_t reg, uint32_t val)
{
    bool x2 = lapic_x2apic(l);
    switch (reg) {
    case 0x02:
        if (x2)
            return false;
        l->id = val >> 24;
        break;
    case 0x08:
        l->tpr = val & 0xff;
        break;
    case 0x0b:
        do_eoi(l);
        break;
    case 0x0d:
        if (x2)
            return false; /* read-only in x2APIC mode */
        l->ldr = val & 0xff000000u;
        break;
    case 0x0e:
        if (x2)
            return false;
        l->dfr = val | 0x0fffffffu;
        break;
    case 0x0f:
        l->svr = val & 0x13ff;
        if (!(val & 0x100))
            sw_disable(l);
        break;
    case 0x28: /* a write latches the errors seen since the last one */
        l->esr = l->esr_pending;
        l->esr_pending = 0;
        break;
    case 0x30:
        l->icr_lo = val & ~(1u << 12);
        send_icr(l, val, x2 ? l->icr_hi : l->icr_hi >> 24);
        break;
    case 0x31:
        if (x2)
            return false;
        l->icr_hi = val & 0xff000000u;
        break;
    case 0x32:
    case 0x33:
    case 0x34:
    case 0x35:
    case 0x36:
    case 0x37: {
        int i = (int)reg - 0x32;
        uint32_t old_mode = timer_mode(l);
        l->lvt[i] = val & lvt_mask[i];
        if (!(l->svr & 0x100))
            l->lvt[i] |= APIC_LVT_MASKED; /* 11.4.7.2: stays masked */
        if (i == LVT_TIMER && timer_mode(l) != old_mode) {
            /* a mode change disarms the timer (11.5.4.1) */
            l->initial_count = 0;
            l->tsc_deadline = 0;
            timer_update(l);
        }
        break;
    }
    case 0x38:
        if (timer_mode(l) == TIMER_TSC_DEADLINE)
            break; /* ignored in TSC-deadline mode */
        l->initial_count = val;
        l->timer_start_ns = l->clk->ns;
        timer_update(l);
        break;
    case 0x3e:
        l->divide = val & 0xb;
        /* the count continues; the next expiry uses the new divider */
        timer_update(l);
        break;
    case 0x3f: /* x2APIC self IPI */
        if (!x2)
            return false;
        send_icr(l, (val & 0xff) | (1u << 18), 0); /* fixed, shorthand self */
        break;
    default:
        return false;
    }
    return true;
}

uint32_t lapic_mmio_read(struct lapic *l, uint32_t offset)
{
    uint32_t v;
    if ((offset & 0xf) || !reg_read(l, offset >> 4, &v))
        return 0;
    return v;
}

void lapic_mmio_write(struct lapic *l, uint32_t offset, uint32_t val)
{
    if (offset & 0xf)
        return;
    uint32_t reg = offset >> 4;
    if (reg == 0x3f) /* SELF IPI exists only in x2APIC mode */
        reg = 0;
    if (!reg_write(l, reg, val))
        lapic_error(l, ESR_ILLEGAL_REG);
}

bool lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *val)
{
    uint32_t reg = msr - 0x800, v;
    if (!lapic_x2apic(l) || msr < 0x800 || msr > 0x8ff)
        return false;
    if (reg == 0x30) {
        *val = ((uint64_t)l->icr_hi << 32) | (l->icr_lo & ~(1u << 12));
        return true;
    }
    if (!reg_read(l, reg, &v))
        return false;
    *val = v;
    return true;
}

bool lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t val)
{
    uint32_t reg = msr - 0x800;
    if (!lapic_x2apic(l) || msr < 0x800 || msr > 0x8ff)
        return false;
    switch (reg) {
    case 0x30:                   /* 64-bit ICR: destination in 63:32 */
        if (val & 0xfff32000ull) /* reserved bits 31:20, 17:16, 13 */
            return false;
        l->icr_hi = (uint32_t)(val >> 32);
        return reg_write(l, reg, (uint32_t)val);
    case 0x0b: /* EOI: a non-zero value is #GP (11.12.1.2) */
    case 0x3f:
        if (val >> (reg == 0x0b ? 0 : 8))
            return false;
        return reg_write(l, reg, (uint32_t)val);
    case 0x28: /* ESR: writes must be 0 */
        if (val)
            return false;
        return reg_write(l, reg, 0);
    default:
        if (val >> 32)
            return false;
        return reg_write(l, reg, (uint32_t)val);
    }
}

void lapic_advance(struct lapic *l)
{
    if (l->timer_next_ns > l->clk->ns)
        return;
    uint32_t lvt = l->lvt[LVT_TIMER];
    if (timer_mode(l) == TIMER_TSC_DEADLINE)
        l->tsc_deadline = 0; /* 11.5.4.1: the deadline MSR clears on expiry */
    if (!(lvt & APIC_LVT_MASKED))
        lapic_accept(l, (uint8_t)lvt, false);
    timer_update(l); /* periodic: the next period; missed periods coalesce */
}

uint64_t lapic_deadline(const struct lapic *l)
{
    return l->timer_next_ns;
}

void lapic_set_tsc_deadline(struct lapic *l, uint64_t tsc, uint64_t ns)
{
    if (timer_mode(l) != TIMER_TSC_DEADLINE)
        return; /* writes are ignored outside TSC-deadline mode */
    l->tsc_deadline = tsc;
    l->deadline_ns = ns;
    timer_update(l);
}
