/* The interrupt and timer platform (see irq.h). */
#include "irq.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/cpu_internal.h"
#include "board/firmware.h"
#include "cpu/vmx.h"
#include "nested/nested.h"
#include "vmcs01.h"

#define RFLAGS_IF (1ull << 9)

/* ------------------------------------------------------------ the clock */

/* The machine clock catches up with the instructions vCPU i retired since
 * it last did; with capture_tsc, vCPU i just ran, and what its TSC reads
 * relative to the clock (guest writes to IA32_TSC/TSC_ADJUST) is kept. */
static void clock_sync(struct platform *p, int i, bool capture_tsc)
{
    struct cpu *c = p->m->cpus[i];
    struct vcpu_irq *vc = &p->v[i];
    p->clk.ns += (c->icount - vc->last_icount) * c->tsc_per_insn;
    vc->last_icount = c->icount;
    if (capture_tsc)
        vc->tsc_delta = (int64_t)(c->icount * c->tsc_per_insn + c->tsc_base - p->clk.ns);
}

/* The TSC of vCPU i reads the clock (+ its delta) when it next runs. */
static void tsc_load(struct platform *p, int i)
{
    struct cpu *c = p->m->cpus[i];
    c->tsc_base = p->clk.ns + (uint64_t)p->v[i].tsc_delta - c->icount * c->tsc_per_insn;
}

static void run_timers(struct platform *p)
{
    pit_advance(&p->pit);
    rtc_advance(&p->rtc);
    hpet_advance(&p->hpet);
    for (int i = 0; i < p->m->nr_cpus; i++)
        lapic_advance(&p->v[i].lapic);
}

static uint64_t compute_deadline(const struct platform *p)
{
    uint64_t d = pit_deadline(&p->pit);
    if (rtc_deadline(&p->rtc) < d)
        d = rtc_deadline(&p->rtc);
    if (hpet_deadline(&p->hpet) < d)
        d = hpet_deadline(&p->hpet);
    for (int i = 0; i < p->m->nr_cpus; i++) {
        uint64_t t = lapic_deadline(&p->v[i].lapic);
        if (t < d)
            d = t;
    }
    return d;
}

/* Runs the timers that are due and returns the earliest deadline. Exits
 * that cannot reach a device (CPUID, HLT, slice ends...) leave the cached
 * deadline valid, which keeps them cheap. */
static uint64_t timers_update(struct platform *p)
{
    if (p->deadline_stale || p->clk.ns >= p->deadline) {
        run_timers(p);
        p->deadline = compute_deadline(p);
        p->deadline_stale = false;
    }
    return p->deadline;
}

/* ------------------------------------------------------------ the APIC bus */

/* Delivers one APIC message to vCPU j (SDM 11.6.1 delivery modes). */
static void deliver_to(struct platform *p, int j, uint32_t dm, uint8_t vector, bool level)
{
    struct vcpu_irq *vc = &p->v[j];
    switch (dm) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        lapic_accept(&vc->lapic, vector, level);
        break;
    case APIC_DM_NMI:
        vc->nmi = true;
        break;
    case APIC_DM_INIT:
        vc->init = true;
        break;
    case APIC_DM_SIPI:
        /* only a processor waiting for SIPI (or about to, after a pending
         * INIT) takes a start-up IPI; others ignore it (SDM 9.4.4.1) */
        if (vc->init || vmcs_get(p->m->vmcs01[j], VI_GUEST_ACTIVITY_STATE) == ACTIVITY_WAIT_SIPI) {
            vc->sipi = true;
            vc->sipi_vector = vector;
        }
        break;
    default: /* SMI, ExtINT and reserved modes: not modelled, dropped */
        break;
    }
}

/* Sends a message to the destination set: shorthand 0 uses dest/logical,
 * 1 self, 2 all including self, 3 all excluding self (SDM 11.6.1). The
 * lowest-priority mode picks, among the destinations, the one with the
 * lowest task priority, ties going to the lowest APIC ID (deterministic;
 * SDM 11.6.2.4 leaves the choice to the chipset). */
static void apic_bus_send(struct platform *p, int src, int shorthand, uint32_t dest, bool logical,
                          uint32_t dm, uint8_t vector, bool level)
{
    int n = p->m->nr_cpus, best = -1;
    for (int j = 0; j < n; j++) {
        bool match;
        switch (shorthand) {
        case 1:
            match = j == src;
            break;
        case 2:
            match = true;
            break;
        case 3:
            match = j != src;
            break;
        default:
            match = lapic_match_dest(&p->v[j].lapic, dest, logical);
            break;
        }
        if (!match)
            continue;
        if (dm == APIC_DM_LOWEST && shorthand == 0) {
            if (best < 0 || (p->v[j].lapic.tpr & 0xf0) < (p->v[best].lapic.tpr & 0xf0))
                best = j;
            continue;
        }
        deliver_to(p, j, dm, vector, level);
    }
    if (best >= 0)
        deliver_to(p, best, dm, vector, level);
}

static void lapic_send_ipi(void *opaque, struct lapic *src, uint32_t lo, uint32_t dest)
{
    struct platform *p = opaque;
    int s = (int)(((struct vcpu_irq *)((char *)src - offsetof(struct vcpu_irq, lapic))) - p->v);
    uint32_t dm = (lo >> 8) & 7;
    /* INIT level de-assert (level 0, trigger level): only synchronizes
     * arbitration IDs on old processors; nothing to do */
    if (dm == APIC_DM_INIT && !(lo & (1u << 14)) && (lo & (1u << 15)))
        return;
    apic_bus_send(p, s, (int)((lo >> 18) & 3), dest, lo & (1u << 11), dm, (uint8_t)lo,
                  (dm == APIC_DM_FIXED || dm == APIC_DM_LOWEST) && (lo & (1u << 15)));
}

static void lapic_eoi(void *opaque, uint8_t vector)
{
    struct platform *p = opaque;
    ioapic_eoi(&p->ioapic, vector);
}

static const struct lapic_bus_ops lapic_bus = {lapic_send_ipi, lapic_eoi};

static void ioapic_deliver(void *opaque, uint32_t dest, bool logical, uint32_t dm, uint8_t vector,
                           bool level)
{
    struct platform *p = opaque;
    apic_bus_send(p, -1, 0, dest, logical, dm, vector, level);
}

void irq_set_isa(struct platform *p, int irq, int level)
{
    pic_set_irq(&p->pic, irq, level);
    ioapic_set_irq(&p->ioapic, irq == 0 ? 2 : irq, level);
}

/* In legacy replacement mode the HPET owns IRQ 0 and IRQ 8: the PIT's and
 * the RTC's outputs are disconnected (HPET spec 2.3.9.2.2) */
static void pit_irq(void *opaque, int level)
{
    struct platform *p = opaque;
    if (!hpet_legacy(&p->hpet))
        irq_set_isa(p, 0, level);
}

static void rtc_irq(void *opaque, int level)
{
    struct platform *p = opaque;
    if (!hpet_legacy(&p->hpet))
        irq_set_isa(p, 8, level);
}

static void hpet_irq(void *opaque, int gsi, int legacy_irq, int level)
{
    struct platform *p = opaque;
    if (legacy_irq >= 0)
        irq_set_isa(p, legacy_irq, level);
    else
        ioapic_set_irq(&p->ioapic, gsi, level);
}

/* ------------------------------------------------------------ creation */

int irq_create(struct machine *m, char *err, size_t errlen)
{
    struct platform *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->plat = p;
    p->m = m;
    if (m->opt.realtime) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        p->host_start_ns = (uint64_t)ts.tv_sec * VCLOCK_NS_PER_SEC + (uint64_t)ts.tv_nsec;
    }
    pic_init(&p->pic);
    pit_init(&p->pit, &p->clk, pit_irq, p);
    ioapic_init(&p->ioapic, FW_IOAPIC_ID(m->nr_cpus), ioapic_deliver, p);
    rtc_init(&p->rtc, &p->clk, m->opt.rtc_start, m->mem.low_size, m->mem.high_size, rtc_irq, p);
    acpi_pm_init(&p->pm, &p->clk);
    hpet_init(&p->hpet, &p->clk, hpet_irq, p);
    for (int i = 0; i < m->nr_cpus; i++)
        lapic_init(&p->v[i].lapic, (uint32_t)i, i == 0, &p->clk, &lapic_bus, p);
    int bad = iobus_register(&m->pio, 0x20, 2, &pic_master_ops, &p->pic, "pic-master");
    bad |= iobus_register(&m->pio, 0xa0, 2, &pic_slave_ops, &p->pic, "pic-slave");
    bad |= iobus_register(&m->pio, 0x4d0, 2, &pic_elcr_ops, &p->pic, "elcr");
    bad |= iobus_register(&m->pio, 0x40, 4, &pit_ops, &p->pit, "pit");
    bad |= iobus_register(&m->pio, 0x61, 1, &port61_ops, &p->pit, "port61");
    bad |= iobus_register(&m->pio, 0x70, 2, &rtc_ops, &p->rtc, "rtc");
    bad |= iobus_register(&m->pio, ACPI_PM_BASE, 12, &acpi_pm_ops, &p->pm, "acpi-pm");
    bad |= iobus_register(&m->mmio, IOAPIC_BASE, 0x100, &ioapic_ops, &p->ioapic, "ioapic");
    if (!m->opt.no_hpet)
        bad |= iobus_register(&m->mmio, HPET_BASE, 0x400, &hpet_ops, &p->hpet, "hpet");
    if (bad) {
        snprintf(err, errlen, "device configuration conflict (platform devices)");
        return -1;
    }
    return 0;
}

void irq_destroy(struct machine *m)
{
    free(m->plat);
    m->plat = NULL;
}

/* ------------------------------------------------------------ INIT, SIPI */

/* INIT (SDM 9.1.1 Table 9-1, 11.4.7.3): the processor resets, keeps its
 * APIC ID and IA32_APIC_BASE, and waits for a start-up IPI. The bootstrap
 * processor does the same (there is no firmware at the reset vector). */
static void do_init(struct platform *p, int i)
{
    struct machine *m = p->m;
    struct cpu *c = m->cpus[i];
    struct vmcs *v = m->vmcs01[i];
    struct vcpu_irq *vc = &p->v[i];
    uint64_t tsc_base = c->tsc_base, apic_base = c->apic_base;
    cpu_reset(c);
    c->tsc_base = tsc_base; /* INIT does not touch the TSC */
    c->apic_base = apic_base;
    c->activity = ACTIVITY_WAIT_SIPI;
    vmx_save_guest_state(c, v);
    vmcs_set(v, VI_GUEST_CR4, vmcs_get(v, VI_GUEST_CR4) | CR4_VMXE);
    vmcs_set(v, VI_VM_ENTRY_INTERRUPTION_INFO, 0);
    vmcs_set(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL,
             vmcs_get(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL) & ~PROC_INTERRUPT_WINDOW_EXITING);
    m->events[i] = (struct event_queue){0};
    lapic_init_reset(&vc->lapic);
    vc->halted = vc->nmi = vc->init = false;
    p->deadline_stale = true; /* its APIC timer was reset */
}

/* SIPI (SDM 9.4.3): real mode at vector * 4096, CS = vector << 8, IP 0. */
static void do_sipi(struct platform *p, int i)
{
    struct vmcs *v = p->m->vmcs01[i];
    uint8_t vec = p->v[i].sipi_vector;
    vmcs_set(v, VI_GUEST_CS_SELECTOR, (uint64_t)vec << 8);
    vmcs_set(v, VI_GUEST_CS_BASE, (uint64_t)vec << 12);
    vmcs_set(v, VI_GUEST_CS_LIMIT, 0xffff);
    vmcs_set(v, VI_GUEST_CS_ACCESS_RIGHTS, 0x9b);
    vmcs_set(v, VI_GUEST_RIP, 0);
    vmcs_set(v, VI_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    p->v[i].sipi = false;
}

/* ------------------------------------------------------------ TPR shadow */

/* VTPR, byte 0x80 of vmcs01's virtual-APIC page (SDM 29.1.1): MOV CR8
 * reads and writes it without an exit (CR8 = TPR[7:4], SDM 11.8.6). */
static uint8_t *vtpr(struct machine *m, int i)
{
    struct vcpu_irq *vc = &m->plat->v[i];
    uint64_t va = vmcs_get(m->vmcs01[i], VI_VIRTUAL_APIC_PAGE_ADDR);
    if (!vc->vtpr || va != vc->vapic_gpa) {
        uint8_t *page = physmem_ptr(&m->mem, va, 4096);
        vc->vtpr = page ? page + 0x80 : NULL;
        vc->vapic_gpa = va;
    }
    return vc->vtpr;
}

/* Before entry: VTPR = TPR, and a TPR threshold (SDM 29.1.2) at the
 * highest requested priority class while the TPR alone blocks it, so that
 * the guest lowering CR8 below it exits and the interrupt is injected
 * (KVM's update_cr8_intercept). */
static void tpr_load(struct platform *p, int i)
{
    uint8_t *t = vtpr(p->m, i);
    if (!t)
        return;
    struct lapic *l = &p->v[i].lapic;
    memset(t, 0, 4);
    t[0] = (uint8_t)l->tpr;
    uint32_t thr = 0;
    int irrv = -1;
    for (int w = 7; w >= 0 && irrv < 0; w--)
        if (l->irr[w])
            irrv = w * 32 + 31 - __builtin_clz(l->irr[w]);
    if (irrv >= 0 && lapic_pending(l) < 0) {
        uint32_t cls = (uint32_t)irrv >> 4;
        if (cls <= (l->tpr >> 4))
            thr = cls; /* at most VTPR[7:4], as VM entry requires */
    }
    vmcs_set(p->m->vmcs01[i], VI_TPR_THRESHOLD, thr);
}

/* After an exit: a MOV to CR8 changed VTPR, which is the APIC's TPR. */
static void tpr_save(struct platform *p, int i)
{
    uint8_t *t = vtpr(p->m, i);
    if (t)
        p->v[i].lapic.tpr = t[0];
}

/* ------------------------------------------------------------ injection */

static bool accepts_pic(const struct lapic *l)
{
    /* the 8259's INTR reaches the core when the APIC is hardware-disabled,
     * or through LINT0 programmed as ExtINT (virtual-wire mode, MP spec 3.6.2.2) */
    uint32_t lvt0 = l->lvt[LVT_LINT0];
    return !lapic_hw_enabled(l) ||
           (!(lvt0 & APIC_LVT_MASKED) && ((lvt0 >> 8) & 7) == APIC_DM_EXTINT);
}

/* An interrupt is waiting for vCPU i (fixed from its APIC, or ExtINT). */
static bool intr_pending(struct platform *p, int i)
{
    struct lapic *l = &p->v[i].lapic;
    return lapic_pending(l) >= 0 || (accepts_pic(l) && pic_intr(&p->pic));
}

/* The interrupt acknowledge cycle: the vector the processor receives. */
static uint8_t intr_ack(struct platform *p, int i)
{
    struct lapic *l = &p->v[i].lapic;
    int v = lapic_pending(l);
    if (v >= 0) {
        lapic_ack(l, (uint8_t)v);
        return (uint8_t)v;
    }
    return pic_ack(&p->pic);
}

bool irq_vcpu_runnable(struct machine *m, int i)
{
    struct platform *p = m->plat;
    struct vcpu_irq *vc = &p->v[i];
    struct vmcs *v = m->vmcs01[i];
    struct vmcs *cur = nested_current_vmcs(m, i); /* vmcs02 while L2 runs */
    if (vc->init)
        do_init(p, i);
    if (vc->sipi) {
        if (vmcs_get(v, VI_GUEST_ACTIVITY_STATE) == ACTIVITY_WAIT_SIPI)
            do_sipi(p, i);
        vc->sipi = false;
    }
    uint64_t act = vmcs_get(v, VI_GUEST_ACTIVITY_STATE);
    if (act == ACTIVITY_WAIT_SIPI || act == ACTIVITY_SHUTDOWN)
        return false;
    if (!vc->halted)
        return true;
    /* HLT ends with an NMI, or an interrupt the processor takes (IF=1) */
    /* (an interrupt for L1 that L1 intercepts always ends L2's HLT: it is
     * a nested VM exit, BRIEF decision 4) */
    if (vc->nmi ||
        (((vmcs_get(cur, VI_GUEST_RFLAGS) & RFLAGS_IF) || nested_l1_intercepts_interrupts(m, i)) &&
         intr_pending(p, i)))
        vc->halted = false;
    return !vc->halted;
}

uint64_t irq_before_entry(struct machine *m, int i, uint64_t slice)
{
    struct platform *p = m->plat;
    struct vcpu_irq *vc = &p->v[i];
    struct vmcs *v = nested_current_vmcs(m, i); /* vmcs02 while L2 runs */
    struct event_queue *q = &m->events[i];
    clock_sync(p, i, false);
    uint64_t d = timers_update(p);
    if (v != m->vmcs01[i]) {
        /* an NMI or interrupt for L1 that L1 intercepts becomes a nested
         * VM exit (BRIEF decision 4); otherwise it goes to L2 below */
        int e = nested_l1_event(m, i, vc->nmi, intr_pending(p, i));
        if (e == NESTED_EVENT_NMI)
            vc->nmi = false;
        if (e)
            v = m->vmcs01[i];
    }
    /* L1 waits here for its interrupts; L2 in a non-active state (HLT,
     * shutdown, wait-for-SIPI from vmcs12) is entered anyway: the hardware
     * lets virtual time pass until an event or a preemption timer (L0's
     * slice, vmcs12's timer) ends it */
    if (vc->halted || vc->init ||
        (v == m->vmcs01[i] && vmcs_get(v, VI_GUEST_ACTIVITY_STATE) != ACTIVITY_ACTIVE))
        return 0;
    tsc_load(p, i);

    bool busy = (vmcs_get(v, VI_VM_ENTRY_INTERRUPTION_INFO) & INTR_INFO_VALID) || events_busy(q);
    uint64_t intr_state = vmcs_get(v, VI_GUEST_INTERRUPTIBILITY_STATE);
    /* an NMI is taken unless NMIs or MOV SS block it (SDM 6.7.1, 24.4.2);
     * KVM's vmx_nmi_allowed also waits for STI blocking to end */
    if (vc->nmi && !busy && !(intr_state & (INTR_STATE_STI | INTR_STATE_MOV_SS | INTR_STATE_NMI))) {
        events_queue_nmi(q);
        vc->nmi = false;
        busy = true;
    }
    bool window = false;
    if (intr_pending(p, i)) {
        bool open = (vmcs_get(v, VI_GUEST_RFLAGS) & RFLAGS_IF) &&
                    !(intr_state & (INTR_STATE_STI | INTR_STATE_MOV_SS));
        if (open && !busy)
            events_queue_interrupt(q, intr_ack(p, i));
        else
            window = true; /* exit as soon as the guest can take it */
    }
    uint64_t proc = vmcs_get(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    proc = window ? proc | PROC_INTERRUPT_WINDOW_EXITING : proc & ~PROC_INTERRUPT_WINDOW_EXITING;
    vmcs_set(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL, proc);
    tpr_load(p, i);

    /* the slice ends at the next timer deadline, so timer interrupts are
     * raised at their exact virtual time */
    struct cpu *c = m->cpus[i];
    if (d != UINT64_MAX && d > p->clk.ns) {
        uint64_t n = (d - p->clk.ns + c->tsc_per_insn - 1) / c->tsc_per_insn;
        if (n < slice)
            slice = n;
    }
    return slice ? slice : 1;
}

uint8_t irq_intr_ack(struct machine *m, int i)
{
    return intr_ack(m->plat, i);
}

void irq_after_exit(struct machine *m, int i)
{
    struct platform *p = m->plat;
    clock_sync(p, i, true);
    tpr_save(p, i);
    p->cur = i;
    switch (vmcs_get(m->vmcs01[i], VI_EXIT_REASON) & 0xffff) {
    case EXIT_REASON_CPUID:
    case EXIT_REASON_HLT:
    case EXIT_REASON_INTERRUPT_WINDOW:
    case EXIT_REASON_TPR_BELOW_THRESHOLD:
    case EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED:
        break; /* no device touched */
    default:
        p->deadline_stale = true; /* port I/O, MMIO, MSRs... */
        break;
    }
}

void irq_hlt(struct machine *m, int i)
{
    m->plat->v[i].halted = true;
}

bool irq_idle(struct machine *m)
{
    struct platform *p = m->plat;
    /* only a halted vCPU with interrupts enabled can be woken by a timer
     * (a wait-for-SIPI one needs another vCPU); "cli; hlt" is the end */
    bool wakeable = false;
    for (int i = 0; i < m->nr_cpus; i++)
        if (p->v[i].halted && ((vmcs_get(nested_current_vmcs(m, i), VI_GUEST_RFLAGS) & RFLAGS_IF) ||
                               nested_l1_intercepts_interrupts(m, i)))
            wakeable = true;
    uint64_t d = timers_update(p);
    if (!wakeable || d == UINT64_MAX)
        return false;
    if (m->opt.realtime) {
        /* the real-time option: virtual time may not run ahead of the
         * host's while every vCPU waits (it still lags while they compute) */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t host =
            (uint64_t)ts.tv_sec * VCLOCK_NS_PER_SEC + (uint64_t)ts.tv_nsec - p->host_start_ns;
        if (d > host) {
            uint64_t w = d - host;
            struct timespec req = {(time_t)(w / VCLOCK_NS_PER_SEC), (long)(w % VCLOCK_NS_PER_SEC)};
            nanosleep(&req, NULL);
        }
    }
    if (d > p->clk.ns)
        p->clk.ns = d;
    timers_update(p);
    return true;
}

/* ------------------------------------------------------------ MSRs, MMIO */

#define MSR_IA32_APIC_BASE 0x1b
#define MSR_IA32_TSC_DEADLINE 0x6e0

bool irq_msr(struct machine *m, int i, uint32_t msr, bool write, uint64_t *val)
{
    struct platform *p = m->plat;
    struct lapic *l = &p->v[i].lapic;
    if (msr == MSR_IA32_APIC_BASE) {
        if (!write) {
            *val = l->apic_base;
            return true;
        }
        /* physical-address width 46 (CPUID 0x80000008) */
        return lapic_set_base(l, *val, (1ull << 46) - 1);
    }
    if (msr == MSR_IA32_TSC_DEADLINE) {
        if (!write) {
            *val = l->tsc_deadline;
            return true;
        }
        /* TSC value -> clock: TSC = clock + delta */
        uint64_t ns = *val - (uint64_t)p->v[i].tsc_delta;
        if (*val == 0)
            ns = 0;
        else if ((int64_t)(ns - p->clk.ns) < 0)
            ns = p->clk.ns; /* in the past: fires at once */
        lapic_set_tsc_deadline(l, *val, ns);
        return true;
    }
    if (msr >= 0x800 && msr <= 0x8ff)
        return write ? lapic_msr_write(l, msr, *val) : lapic_msr_read(l, msr, val);
    return false;
}

static struct lapic *mmio_lapic(struct machine *m, uint64_t gpa)
{
    struct lapic *l = &m->plat->v[m->plat->cur].lapic;
    uint64_t base = l->apic_base & ~0xfffull & ((1ull << 46) - 1);
    if (!lapic_hw_enabled(l) || lapic_x2apic(l) || gpa - base >= 4096)
        return NULL;
    return l;
}

bool irq_mmio_read(struct machine *m, uint64_t gpa, int size, uint64_t *val)
{
    struct lapic *l = mmio_lapic(m, gpa);
    if (!l)
        return false;
    uint32_t off = (uint32_t)(gpa & 0xfff);
    /* registers are 32 bits wide on 16-byte boundaries; a narrower read
     * sees part of one, bytes 4-15 of each slot read as zero */
    uint64_t r = (off & 0xc) ? 0 : lapic_mmio_read(l, off & ~0xfu) >> (8 * (off & 3));
    *val = size >= 8 ? r : r & ((1ull << (8 * size)) - 1);
    return true;
}

bool irq_mmio_write(struct machine *m, uint64_t gpa, int size, uint64_t val)
{
    struct lapic *l = mmio_lapic(m, gpa);
    if (!l)
        return false;
    lapic_mmio_write(l, (uint32_t)(gpa & 0xfff), (uint32_t)val);
    return true;
}
