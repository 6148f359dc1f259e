/* The platform sections of machine images (plat_state.h). */
#include "plat_state.h"

#include <stdio.h>

/* ------------------------------------------------------------ visitors */

static void x_i64(struct xf *x, int64_t *v)
{
    uint64_t t = (uint64_t)*v;
    x_u64(x, &t);
    *v = (int64_t)t;
}

/* One 8259A. elcr_mask is not saved: it is the chipset's wiring (which
 * IRQs can be level-triggered, PIIX4 3.1.6.1), the loading machine's own. */
static void pic_chip_fields(struct xf *x, struct pic8259 *s)
{
    x_u8(x, &s->irr);
    x_u8(x, &s->isr);
    x_u8(x, &s->imr);
    x_u8(x, &s->last_level);
    x_u8(x, &s->elcr);
    x_u8(x, &s->base);
    x_u8(x, &s->priority_add);
    x_u8(x, &s->init_state);
    x_bool(x, &s->icw4);
    x_bool(x, &s->single);
    x_bool(x, &s->auto_eoi);
    x_bool(x, &s->rotate_on_aeoi);
    x_bool(x, &s->special_fully_nested);
    x_bool(x, &s->read_isr);
    x_bool(x, &s->poll);
    x_bool(x, &s->special_mask);
}

static void pit_channel_fields(struct xf *x, struct pit_channel *c)
{
    x_u32(x, &c->count);
    x_u64(x, &c->load_ns);
    x_bool(x, &c->counting);
    x_u8(x, &c->mode);
    x_u8(x, &c->rw_mode);
    x_u8(x, &c->bcd);
    x_u8(x, &c->read_state);
    x_u8(x, &c->write_state);
    x_u8(x, &c->write_lsb);
    x_u16(x, &c->latched_count);
    x_u8(x, &c->count_latched);
    x_u8(x, &c->status);
    x_u8(x, &c->status_latched);
    x_bool(x, &c->gate);
    x_bool(x, &c->null_count);
    x_u64(x, &c->next_irq_ns);
}

static void rtc_fields(struct xf *x, struct rtc *r)
{
    x_bytes(x, r->cmos, sizeof(r->cmos));
    x_u8(x, &r->index);
    x_bool(x, &r->nmi_masked);
    x_i64(x, &r->base);
    x_i64(x, &r->frozen);
    x_u8(x, &r->reg_c);
    x_u64(x, &r->last_c_ns);
    x_u64(x, &r->next_pf_ns);
    x_u64(x, &r->next_upd_ns);
}

static void hpet_fields(struct xf *x, struct hpet *h)
{
    x_u64(x, &h->config);
    x_u64(x, &h->isr);
    x_u64(x, &h->counter_base);
    x_u64(x, &h->enable_ns);
    for (int i = 0; i < HPET_TIMERS; i++) {
        x_u64(x, &h->t[i].config);
        x_u64(x, &h->t[i].cmp);
        x_u64(x, &h->t[i].period);
        x_bool(x, &h->t[i].level_active);
        x_u64(x, &h->t[i].next_ns);
    }
}

void plat_state_fields(struct xf *x, struct platform *p, bool *hpet)
{
    x_u64(x, &p->clk.ns);
    x_int(x, &p->cur);
    for (int i = 0; i < 2; i++)
        pic_chip_fields(x, &p->pic.c[i]);
    for (int i = 0; i < 3; i++)
        pit_channel_fields(x, &p->pit.ch[i]);
    x_bool(x, &p->pit.speaker);
    x_u32(x, &p->ioapic.id);
    x_u32(x, &p->ioapic.sel);
    x_u32(x, &p->ioapic.irr);
    for (int i = 0; i < IOAPIC_PINS; i++)
        x_u64(x, &p->ioapic.redir[i]);
    rtc_fields(x, &p->rtc);
    x_u16(x, &p->pm.sts);
    x_u16(x, &p->pm.en);
    x_u16(x, &p->pm.cnt);
    /* whether the HPET is on the bus (-no-hpet); its state is saved
     * either way */
    x_bool(x, hpet);
    hpet_fields(x, &p->hpet);
    /* the run loop's cached earliest deadline (vmm/irq.c timers_update):
     * whether the timers run before the next entry depends on it */
    x_u64(x, &p->deadline);
    x_bool(x, &p->deadline_stale);
}

void lapc_state_fields(struct xf *x, struct vcpu_irq *v)
{
    struct lapic *l = &v->lapic;
    x_u32(x, &l->id);
    x_u64(x, &l->apic_base);
    x_u32(x, &l->tpr);
    x_u32(x, &l->ldr);
    x_u32(x, &l->dfr);
    x_u32(x, &l->svr);
    x_u32(x, &l->esr);
    x_u32(x, &l->esr_pending);
    x_u32(x, &l->icr_lo);
    x_u32(x, &l->icr_hi);
    for (int i = 0; i < NR_LVT; i++)
        x_u32(x, &l->lvt[i]);
    for (int i = 0; i < 8; i++)
        x_u32(x, &l->irr[i]);
    for (int i = 0; i < 8; i++)
        x_u32(x, &l->isr[i]);
    for (int i = 0; i < 8; i++)
        x_u32(x, &l->tmr[i]);
    x_u32(x, &l->initial_count);
    x_u32(x, &l->divide);
    x_u64(x, &l->timer_start_ns);
    x_u64(x, &l->tsc_deadline);
    x_u64(x, &l->deadline_ns);
    x_u64(x, &l->timer_next_ns);
    x_bool(x, &v->halted);
    x_bool(x, &v->nmi);
    x_bool(x, &v->init);
    x_bool(x, &v->sipi);
    x_u8(x, &v->sipi_vector);
    x_u64(x, &v->last_icount);
    x_i64(x, &v->tsc_delta);
}

/* ------------------------------------------------------------ checks */

#define ERR(...) (snprintf(msg, len, __VA_ARGS__), msg)

static const char *pic_check(const struct pic8259 *s, const char *name, uint8_t elcr_mask,
                             char *msg, size_t len)
{
    /* ELCR bits of IRQs wired edge-only read as 0 (pic.c elcr_write) */
    if (s->elcr & ~elcr_mask)
        return ERR("%s 8259: ELCR %#x sets edge-only IRQs (writable %#x)", name, s->elcr,
                   elcr_mask);
    if (s->base & 7) /* ICW2 holds T7-T3 only */
        return ERR("%s 8259: vector base %#x not a multiple of 8", name, s->base);
    if (s->priority_add > 7)
        return ERR("%s 8259: priority rotation %u out of range", name, s->priority_add);
    if (s->init_state > 3)
        return ERR("%s 8259: initialization state %u out of range", name, s->init_state);
    return NULL;
}

static const char *pit_check(const struct pit_channel *c, int i, uint64_t now, char *msg,
                             size_t len)
{
    /* the reload value: 0 means 65536 (pit.c load_count); 0 would divide
     * by zero when the counter is read */
    if (c->count < 1 || c->count > 0x10000)
        return ERR("PIT channel %d: count %u out of range 1-65536", i, c->count);
    if (c->mode > 5) /* modes 6 and 7 alias 2 and 3 when written */
        return ERR("PIT channel %d: mode %u", i, c->mode);
    if (c->rw_mode > 3 || c->bcd > 1 || c->status_latched > 1 || c->count_latched > 4)
        return ERR("PIT channel %d: bad access mode or latch state", i);
    /* the byte toggles follow the access mode; 3 alternates with 4 */
    bool rs = c->read_state == c->rw_mode || (c->rw_mode == 3 && c->read_state == 4);
    bool ws = c->write_state == c->rw_mode || (c->rw_mode == 3 && c->write_state == 4);
    if (!rs || !ws)
        return ERR("PIT channel %d: read/write state %u/%u with access mode %u", i, c->read_state,
                   c->write_state, c->rw_mode);
    if (c->counting && c->null_count) /* a control word stops the channel */
        return ERR("PIT channel %d: counting with a null count", i);
    if (c->counting && (c->mode == 2 || c->mode == 3) && c->count < 2)
        return ERR("PIT channel %d: count 1 in mode %u", i, c->mode);
    if (c->load_ns > now)
        return ERR("PIT channel %d: count loaded in the future", i);
    if (i != 0) {
        if (c->next_irq_ns != UINT64_MAX) /* only OUT0 is wired to an IRQ */
            return ERR("PIT channel %d: an interrupt deadline", i);
        return NULL;
    }
    bool running = c->counting && !((c->mode == 2 || c->mode == 3) && !c->gate);
    if (!running && c->next_irq_ns != UINT64_MAX)
        return ERR("PIT channel 0: an interrupt deadline while stopped");
    /* the next rising edge of OUT is at most count + 1 ticks away (pit.c
     * next_edge_tick) */
    uint64_t bound = vclock_ns(vclock_ticks(now, PIT_HZ) + c->count + 1, PIT_HZ);
    if (c->next_irq_ns != UINT64_MAX && (c->next_irq_ns < c->load_ns || c->next_irq_ns > bound))
        return ERR("PIT channel 0: interrupt deadline %llu ns outside its period",
                   (unsigned long long)c->next_irq_ns);
    return NULL;
}

#define RE_REMOTE_IRR (1ull << 14)
#define RE_LEVEL (1ull << 15)
#define RE_DELIVS (1ull << 12)

static const char *ioapic_check(const struct ioapic *s, char *msg, size_t len)
{
    if (s->id > 0xf) /* a 4-bit ID (ioapic.c reg_write) */
        return ERR("I/O APIC: ID %u", s->id);
    if (s->sel > 0xff)
        return ERR("I/O APIC: register select %#x", s->sel);
    if (s->irr >> IOAPIC_PINS)
        return ERR("I/O APIC: input bits beyond pin %d", IOAPIC_PINS - 1);
    for (int i = 0; i < IOAPIC_PINS; i++) {
        uint64_t re = s->redir[i];
        /* delivery is instantaneous: delivery status never reads 1; remote
         * IRR exists for level-triggered entries only (82093AA 3.2.4) */
        if (re & RE_DELIVS)
            return ERR("I/O APIC: redirection entry %d with delivery status set", i);
        if ((re & RE_REMOTE_IRR) && !(re & RE_LEVEL))
            return ERR("I/O APIC: edge-triggered redirection entry %d with remote IRR", i);
    }
    return NULL;
}

/* MC146818A registers (rtc.c) */
#define RTC_A 0x0a
#define RTC_B 0x0b
#define RTC_B_SET 0x80
#define RTC_B_PIE 0x40
#define RTC_B_AIE 0x20
#define RTC_B_UIE 0x10
/* |time| limit: far beyond the years 0-9999 a guest can set, far within
 * int64 arithmetic with any virtual time */
#define RTC_TIME_LIMIT (1ll << 40)

static const char *rtc_check(const struct rtc *r, uint64_t now, char *msg, size_t len)
{
    static const uint8_t time_regs[] = {0, 2, 4, 6, 7, 8, 9, 0x0c, 0x0d, 0x32};
    uint8_t a = r->cmos[RTC_A], b = r->cmos[RTC_B];
    /* the time registers are computed from base/frozen and C/D are read
     * only: their CMOS bytes are never written (rtc.c rtc_write) */
    for (size_t i = 0; i < sizeof(time_regs); i++)
        if (r->cmos[time_regs[i]])
            return ERR("RTC: CMOS byte %#x holds a value (it is computed)", time_regs[i]);
    if (a & 0x80)
        return ERR("RTC: register A with UIP stored (it is read-only)");
    if ((b & RTC_B_SET) && (b & RTC_B_UIE))
        return ERR("RTC: register B with SET and UIE (SET clears UIE)");
    if (r->index > 0x7f)
        return ERR("RTC: index %#x", r->index);
    if (r->base < -RTC_TIME_LIMIT || r->base > RTC_TIME_LIMIT || r->frozen < -RTC_TIME_LIMIT ||
        r->frozen > RTC_TIME_LIMIT)
        return ERR("RTC: time out of range");
    if (r->reg_c & 0x0f)
        return ERR("RTC: register C %#x has reserved bits", r->reg_c);
    if (r->last_c_ns > now)
        return ERR("RTC: register C read in the future");
    /* the deadlines are what rtc.c schedule() computes: armed exactly when
     * enabled, on a multiple of the period, at most one period ahead */
    unsigned rate = a & 15;
    uint64_t period = 0;
    if (rate && ((a >> 4) & 7) == 2)
        period = VCLOCK_NS_PER_SEC * (1ull << ((rate < 3 ? rate + 7 : rate) - 1)) / 32768;
    bool pf_on = period && (b & RTC_B_PIE);
    if (pf_on != (r->next_pf_ns != UINT64_MAX) ||
        (pf_on && (r->next_pf_ns % period || r->next_pf_ns > now + period)))
        return ERR("RTC: periodic interrupt deadline inconsistent with registers A and B");
    bool upd_on = !(b & RTC_B_SET) && (b & (RTC_B_UIE | RTC_B_AIE));
    if (upd_on != (r->next_upd_ns != UINT64_MAX) ||
        (upd_on &&
         (r->next_upd_ns % VCLOCK_NS_PER_SEC || r->next_upd_ns > now + VCLOCK_NS_PER_SEC)))
        return ERR("RTC: update interrupt deadline inconsistent with register B");
    return NULL;
}

/* hpet.c: the timers' configuration bits software may write, and their
 * fixed capabilities (IA-PC HPET 1.0a 2.3.8) */
#define TN_LEVEL (1ull << 1)
#define TN_ENABLE (1ull << 2)
#define TN_PERIODIC (1ull << 3)
#define TN_PER_CAP (1ull << 4)
#define TN_SIZE_CAP (1ull << 5)
#define TN_VAL_SET (1ull << 6)
#define TN_32BIT (1ull << 8)
#define TN_ROUTE_MASK (0x1full << 9)
#define TN_WRITABLE (TN_LEVEL | TN_ENABLE | TN_PERIODIC | TN_VAL_SET | TN_32BIT | TN_ROUTE_MASK)

static const char *hpet_check(const struct hpet *h, uint64_t now, char *msg, size_t len)
{
    if (h->config & ~3ull) /* ENABLE_CNF, LEG_RT_CNF */
        return ERR("HPET: general configuration %#llx", (unsigned long long)h->config);
    if (h->isr >> HPET_TIMERS)
        return ERR("HPET: interrupt status %#llx beyond timer %d", (unsigned long long)h->isr,
                   HPET_TIMERS - 1);
    if (h->enable_ns > now)
        return ERR("HPET: enabled in the future");
    for (int i = 0; i < HPET_TIMERS; i++) {
        const struct hpet_timer *t = &h->t[i];
        uint64_t caps = TN_SIZE_CAP | ((uint64_t)HPET_ROUTE_CAP << 32) | (i == 0 ? TN_PER_CAP : 0);
        if ((t->config & ~TN_WRITABLE) != caps)
            return ERR("HPET timer %d: configuration %#llx changes its capabilities", i,
                       (unsigned long long)t->config);
        if ((t->config & TN_PERIODIC) && !(caps & TN_PER_CAP))
            return ERR("HPET timer %d: periodic without the capability", i);
        /* the route: the reset value 0 or an input of Tn_INT_ROUTE_CAP */
        uint32_t r = (uint32_t)((t->config & TN_ROUTE_MASK) >> 9);
        if (r && !((HPET_ROUTE_CAP >> r) & 1))
            return ERR("HPET timer %d: route to I/O APIC input %u not allowed", i, r);
        if ((t->config & TN_32BIT) && (t->cmp >> 32))
            return ERR("HPET timer %d: 32-bit comparator %#llx", i, (unsigned long long)t->cmp);
        /* a level line is asserted only with its status bit (hpet.c fire) */
        if (t->level_active && !((h->isr >> i) & 1))
            return ERR("HPET timer %d: line asserted without its status bit", i);
        if ((!(h->config & 1) || !(t->config & TN_ENABLE)) && t->next_ns != UINT64_MAX)
            return ERR("HPET timer %d: a deadline while disabled", i);
    }
    return NULL;
}

const char *plat_state_check(const struct platform *p, int nr_cpus, char *msg, size_t len)
{
    uint64_t now = p->clk.ns;
    const char *e;
    /* 2^63 ns is 292 years of virtual time: beyond it the clock and the
     * deadlines computed from it would wrap */
    if (now >> 63)
        return ERR("virtual clock %llu ns out of range", (unsigned long long)now);
    if (p->cur < 0 || p->cur >= nr_cpus)
        return ERR("current vCPU %d does not exist", p->cur);
    if ((e = pic_check(&p->pic.c[0], "master", p->pic.c[0].elcr_mask, msg, len)) ||
        (e = pic_check(&p->pic.c[1], "slave", p->pic.c[1].elcr_mask, msg, len)))
        return e;
    for (int i = 0; i < 3; i++)
        if ((e = pit_check(&p->pit.ch[i], i, now, msg, len)))
            return e;
    if ((e = ioapic_check(&p->ioapic, msg, len)) || (e = rtc_check(&p->rtc, now, msg, len)) ||
        (e = hpet_check(&p->hpet, now, msg, len)))
        return e;
    /* PM1_STS bits are only ever cleared (no event sets them); PM1_CNT
     * keeps SCI_EN and never holds SLP_EN (acpi_pm.c) */
    if (p->pm.sts)
        return ERR("ACPI PM1_STS %#x: no event sets it", p->pm.sts);
    if (!(p->pm.cnt & 1) || (p->pm.cnt & 0x2000))
        return ERR("ACPI PM1_CNT %#x: SCI_EN clear or SLP_EN set", p->pm.cnt);
    return NULL;
}

/* lapic.c: the writable bits of each LVT (SDM Vol. 3A Figure 11-8) */
static const uint32_t lvt_mask[NR_LVT] = {0x700ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff};
#define TIMER_PERIODIC 1u
#define TIMER_TSC_DEADLINE 2u

static uint32_t timer_mode(const struct lapic *l)
{
    return (l->lvt[LVT_TIMER] >> 17) & 3;
}

const char *lapc_state_check(const struct vcpu_irq *v, int index, char *msg, size_t len)
{
    const struct lapic *l = &v->lapic;
    /* IA32_APIC_BASE: a 46-bit physical address (CPUID 0x80000008),
     * EXTD only with EN (SDM 11.12.5), BSP read-only */
    uint64_t reserved =
        ~(((1ull << 46) - 1) & ~0xfffull) & ~(APIC_BASE_BSP | APIC_BASE_EXTD | APIC_BASE_EN);
    if (l->apic_base & reserved)
        return ERR("IA32_APIC_BASE %#llx has reserved bits", (unsigned long long)l->apic_base);
    if ((l->apic_base & APIC_BASE_EXTD) && !(l->apic_base & APIC_BASE_EN))
        return ERR("IA32_APIC_BASE: x2APIC mode with the APIC disabled");
    if (!!(l->apic_base & APIC_BASE_BSP) != (index == 0))
        return ERR("IA32_APIC_BASE: the BSP flag belongs to vCPU 0 only");
    bool x2 = lapic_x2apic(l);
    if (l->id > 0xff) /* xAPIC IDs are 8 bits; x2APIC keeps them */
        return ERR("APIC ID %#x", l->id);
    if (l->tpr > 0xff)
        return ERR("TPR %#x", l->tpr);
    /* x2APIC: LDR derived from the ID (SDM 11.12.10.2), or 0 after an
     * INIT in x2APIC mode (lapic.c reset_registers); xAPIC: bits 31:24 */
    uint32_t x2ldr = ((l->id & 0xffff0u) << 12) | (1u << (l->id & 0xf));
    if (x2 ? l->ldr != x2ldr && l->ldr != 0 : (l->ldr & 0x00ffffffu) != 0)
        return ERR("LDR %#x impossible in %s mode", l->ldr, x2 ? "x2APIC" : "xAPIC");
    if ((l->dfr & 0x0fffffffu) != 0x0fffffffu)
        return ERR("DFR %#x: bits 27:0 are ones", l->dfr);
    if (l->svr & ~0x13ffu)
        return ERR("SVR %#x has reserved bits", l->svr);
    /* the errors the APIC records (SDM 11.5.3): illegal vectors, register */
    if ((l->esr | l->esr_pending) & ~0xe0u)
        return ERR("ESR %#x/%#x has bits never set", l->esr, l->esr_pending);
    if (l->icr_lo & (1u << 12)) /* delivery is instantaneous: always idle */
        return ERR("ICR %#x with delivery status pending", l->icr_lo);
    if (!x2 && (l->icr_hi & 0x00ffffffu))
        return ERR("ICR high %#x: xAPIC destination is bits 31:24", l->icr_hi);
    for (int i = 0; i < NR_LVT; i++)
        if (l->lvt[i] & ~lvt_mask[i])
            return ERR("LVT %d %#x has reserved bits", i, l->lvt[i]);
    /* vectors 0-15 are never accepted (SDM 11.5.3) */
    if ((l->irr[0] | l->isr[0] | l->tmr[0]) & 0xffffu)
        return ERR("IRR/ISR/TMR with vectors 0-15");
    if (l->divide & ~0xbu) /* divide configuration: bits 3, 1:0 (Figure 11-10) */
        return ERR("timer divide configuration %#x", l->divide);
    /* the timer's state per mode (SDM 11.5.4, lapic.c timer_update) */
    if (timer_mode(l) == TIMER_TSC_DEADLINE) {
        if (l->initial_count)
            return ERR("initial count %#x in TSC-deadline mode", l->initial_count);
        if (l->timer_next_ns != (l->tsc_deadline ? l->deadline_ns : UINT64_MAX))
            return ERR("TSC-deadline timer expiry differs from its deadline");
    } else {
        if (l->tsc_deadline)
            return ERR("IA32_TSC_DEADLINE armed outside TSC-deadline mode");
        if (!l->initial_count && l->timer_next_ns != UINT64_MAX)
            return ERR("timer armed with a zero initial count");
        if (l->initial_count && timer_mode(l) == TIMER_PERIODIC && l->timer_next_ns == UINT64_MAX)
            return ERR("periodic timer not armed");
    }
    return NULL;
}

const char *plat_state_check_deadline(const struct platform *p, int nr_cpus, char *msg, size_t len)
{
    /* a cached deadline that is not stale and not yet reached (else the
     * timers run and it is recomputed: power-on leaves it 0) is the earliest
     * of the timers' (vmm/irq.c timers_update, compute_deadline) */
    if (p->deadline_stale || p->deadline <= p->clk.ns)
        return NULL;
    uint64_t d = pit_deadline(&p->pit);
    if (rtc_deadline(&p->rtc) < d)
        d = rtc_deadline(&p->rtc);
    if (hpet_deadline(&p->hpet) < d)
        d = hpet_deadline(&p->hpet);
    for (int i = 0; i < nr_cpus; i++)
        if (lapic_deadline(&p->v[i].lapic) < d)
            d = lapic_deadline(&p->v[i].lapic);
    if (p->deadline != d)
        return ERR("cached timer deadline %llu ns, the timers' is %llu ns",
                   (unsigned long long)p->deadline, (unsigned long long)d);
    return NULL;
}

const char *lapc_state_check_clock(const struct vcpu_irq *v, uint64_t clk_ns, uint64_t icount,
                                   char *msg, size_t len)
{
    const struct lapic *l = &v->lapic;
    /* the clock has caught up with at most the instructions retired
     * (vmm/irq.c clock_sync) */
    if (v->last_icount > icount)
        return ERR("clock synchronised at instruction %llu, beyond the vCPU's %llu",
                   (unsigned long long)v->last_icount, (unsigned long long)icount);
    if (timer_mode(l) == TIMER_TSC_DEADLINE || !l->initial_count)
        return NULL;
    if (l->timer_start_ns > clk_ns)
        return ERR("timer started in the future");
    /* the next expiry is at most one period ahead of now */
    uint32_t d = ((l->divide >> 1) & 4) | (l->divide & 3);
    uint64_t period = (uint64_t)l->initial_count << ((d + 1) & 7);
    uint64_t bound = vclock_ns(vclock_ticks(clk_ns, LAPIC_TIMER_HZ) + period, LAPIC_TIMER_HZ);
    if (l->timer_next_ns != UINT64_MAX &&
        (l->timer_next_ns <= l->timer_start_ns || l->timer_next_ns > bound))
        return ERR("timer expiry %llu ns outside its period", (unsigned long long)l->timer_next_ns);
    return NULL;
}
