/* The PC platform in machine images (PLAT and LAPC sections): a real-mode
 * guest woken by PIT interrupts through the 8259 (with a masked periodic
 * local APIC timer and the RTC's periodic flag armed as well) is saved at
 * several instants and restored into a fresh machine, which must end
 * exactly like the uninterrupted run: the same interrupt count in RAM, the
 * same registers, exit counts and platform state. Without the platform in
 * the image the restored machine's PIC is unprogrammed and never wakes.
 * The HPET's timers run too. Then every field check of both sections: a corrupt value (encoded with
 * the visitor into an otherwise good image, the checksum recomputed) is
 * refused with its message and leaves the loading machine untouched. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "board/options.h"
#include "cpu/vmx.h"
#include "migrate/plat_state.h"
#include "migrate/snapshot.h"
#include "image_surgery.h"
#include "unit.h"
#include "vmm/irq.h"
#include "vmm/run.h"

#define CODE 0x1000ull
#define HANDLER 0x1100ull
#define COUNTER 0x500ull

/* sti; hlt; jmp short hlt */
static const uint8_t idle_loop[] = {0xfb, 0xf4, 0xeb, 0xfd};
/* inc word [0x500]; mov al, 0x20; out 0x20, al (non-specific EOI); iret */
static const uint8_t irq0_handler[] = {0xff, 0x06, 0x00, 0x05, 0xb0, 0x20, 0xe6, 0x20, 0xcf};

static void pio(const struct io_ops *ops, void *dev, uint64_t off, uint8_t v)
{
    ops->write(dev, off, 1, v);
}

/* A machine whose vCPU 0 idles in real mode, woken every millisecond by
 * the PIT (channel 0, mode 2, count 1193) on vector 8 (IVT entry 8 ->
 * HANDLER); the local APIC timer runs periodic but masked and the RTC's
 * periodic interrupt is enabled behind a masked IRQ 8, so that their
 * deadlines shape the time slices too. */
static int make_machine(struct machine *m, int smp)
{
    struct machine_options o;
    char err[256];
    options_defaults(&o);
    o.ram_size = 16ull << 20;
    o.serial = "none";
    o.quantum = 1000;
    o.smp = smp;
    if (machine_create(m, &o, err, sizeof(err)))
        return -1;
    physmem_write(&m->mem, CODE, idle_loop, sizeof(idle_loop));
    physmem_write(&m->mem, HANDLER, irq0_handler, sizeof(irq0_handler));
    const uint8_t ivt8[4] = {(uint8_t)HANDLER, (uint8_t)(HANDLER >> 8), 0, 0};
    physmem_write(&m->mem, 8 * 4, ivt8, sizeof(ivt8));
    struct vmcs *v = m->vmcs01[0];
    vmcs_set(v, VI_GUEST_CS_SELECTOR, 0);
    vmcs_set(v, VI_GUEST_CS_BASE, 0);
    vmcs_set(v, VI_GUEST_RIP, CODE);
    vmcs_set(v, VI_GUEST_RSP, 0x8000);
    struct platform *p = m->plat;
    /* 8259 master: ICW1 (ICW4 needed), ICW2 base 8, ICW3, ICW4 8086; only IRQ0 */
    pio(&pic_master_ops, &p->pic, 0, 0x11);
    pio(&pic_master_ops, &p->pic, 1, 0x08);
    pio(&pic_master_ops, &p->pic, 1, 0x04);
    pio(&pic_master_ops, &p->pic, 1, 0x01);
    pio(&pic_master_ops, &p->pic, 1, 0xfe);
    /* PIT channel 0: lo/hi, mode 2, 1193 */
    pio(&pit_ops, &p->pit, 3, 0x34);
    pio(&pit_ops, &p->pit, 0, 1193 & 0xff);
    pio(&pit_ops, &p->pit, 0, 1193 >> 8);
    /* RTC register B: PIE, 24-hour (rate 6 of register A: 1024 Hz) */
    pio(&rtc_ops, &p->rtc, 0, 0x0b);
    pio(&rtc_ops, &p->rtc, 1, 0x42);
    /* HPET: timer 0 periodic (VAL_SET, 30000 ticks) and timer 1 one-shot
     * level-triggered at 50000, both to masked I/O APIC inputs (21, 20) */
    hpet_ops.write(&p->hpet, 0x100, 8, (1u << 2) | (1u << 3) | (1u << 6) | (21u << 9));
    hpet_ops.write(&p->hpet, 0x108, 8, 30000);
    hpet_ops.write(&p->hpet, 0x120, 8, (1u << 1) | (1u << 2) | (20u << 9));
    hpet_ops.write(&p->hpet, 0x128, 8, 50000);
    hpet_ops.write(&p->hpet, 0x010, 8, 1);
    /* local APIC timer: masked, periodic, divide by 1, 250000 */
    struct lapic *l = &p->v[0].lapic;
    lapic_mmio_write(l, 0x320, APIC_LVT_MASKED | (1u << 17) | 0x30);
    lapic_mmio_write(l, 0x3e0, 0xb);
    lapic_mmio_write(l, 0x380, 250000);
    return 0;
}

/* The platform's saved bytes (PLAT and every LAPC), to compare machines. */
static struct mbuf plat_bytes(struct machine *m)
{
    struct mbuf b = {0};
    struct xf x = {&b, NULL};
    bool hpet = !m->opt.no_hpet;
    plat_state_fields(&x, m->plat, &hpet);
    for (int i = 0; i < m->nr_cpus; i++)
        lapc_state_fields(&x, &m->plat->v[i]);
    return b;
}

static bool same_platform(struct machine *a, struct machine *b)
{
    struct mbuf x = plat_bytes(a), y = plat_bytes(b);
    bool same = !x.oom && !y.oom && x.len == y.len && !memcmp(x.p, y.p, x.len);
    mbuf_free(&x);
    mbuf_free(&y);
    return same;
}

static uint16_t counter(struct machine *m)
{
    uint8_t c[2];
    physmem_read(&m->mem, COUNTER, c, 2);
    return (uint16_t)(c[0] | c[1] << 8);
}

struct save_at {
    uint64_t n;
    char path[64];
    bool saved;
};

static void save_hook(struct machine *m, uint64_t insns)
{
    struct save_at *s = m->poll_opaque;
    if (s->saved || insns < s->n)
        return;
    /* the exit that ended the slice for this instant is not counted (as
     * -savevm-at does it, ui/monitor.c) */
    uint64_t r = vmcs_get(m->vmcs01[0], VI_EXIT_REASON);
    if (r == EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED && m->cpus[0]->icount < m->sched_end)
        m->exit_counts[r]--;
    char err[256];
    s->saved = !snapshot_save_file(m, s->path, err, sizeof(err));
    m->stop_at = 0;
}

#define RUN_INSNS 3000

UNIT_TEST(restore_with_timers_equals_uninterrupted)
{
    struct machine *ref = calloc(1, sizeof(*ref)), *a = calloc(1, sizeof(*a)),
                   *b = calloc(1, sizeof(*b));
    CHECK(ref && a && b);
    CHECK(make_machine(ref, 1) == 0);
    ref->opt.max_insns = RUN_INSNS;
    CHECK_EQ(vmm_run(ref), NVMX_EXIT_INSN_LIMIT);
    /* the timer really interrupted the idle loop, hundreds of times */
    CHECK(counter(ref) > 200);
    CHECK(ref->exit_counts[EXIT_REASON_HLT] > 200);
    /* instants: before the first interrupt, inside handlers, in the idle
     * loop, next to the end */
    static const uint64_t instants[] = {1, 2, 5, 7, 100, 1001, 1502, 2999};
    for (unsigned k = 0; k < sizeof(instants) / sizeof(instants[0]); k++) {
        struct save_at s = {.n = instants[k]};
        snprintf(s.path, sizeof(s.path), "/tmp/nvmx-unit-plat-%d.img", (int)getpid());
        CHECK(make_machine(a, 1) == 0);
        a->opt.max_insns = RUN_INSNS;
        a->poll = save_hook;
        a->poll_opaque = &s;
        a->stop_at = s.n;
        CHECK_EQ(vmm_run(a), NVMX_EXIT_INSN_LIMIT);
        CHECK(s.saved);
        /* the destination: a fresh machine with no device programmed */
        struct machine_options o;
        char err[256];
        options_defaults(&o);
        o.ram_size = 16ull << 20;
        o.serial = "none";
        o.quantum = 1000;
        o.max_insns = RUN_INSNS;
        CHECK(machine_create(b, &o, err, sizeof(err)) == 0);
        CHECK(snapshot_load_file(b, s.path, err, sizeof(err)) == 0);
        CHECK_EQ(vmm_run(b), NVMX_EXIT_INSN_LIMIT);
        CHECK_EQ(counter(b), counter(ref));
        CHECK_EQ(b->cpus[0]->icount, ref->cpus[0]->icount);
        CHECK(!memcmp(b->cpus[0]->regs, ref->cpus[0]->regs, sizeof(ref->cpus[0]->regs)));
        CHECK_EQ(vmcs_get(b->vmcs01[0], VI_GUEST_RIP), vmcs_get(ref->vmcs01[0], VI_GUEST_RIP));
        CHECK(!memcmp(b->exit_counts, ref->exit_counts, sizeof(ref->exit_counts)));
        CHECK_EQ(b->plat->clk.ns, ref->plat->clk.ns);
        CHECK(same_platform(b, ref));
        CHECK(same_platform(a, ref)); /* saving perturbs nothing */
        CHECK(!memcmp(a->exit_counts, ref->exit_counts, sizeof(ref->exit_counts)));
        unlink(s.path);
        machine_destroy(a);
        machine_destroy(b);
    }
    machine_destroy(ref);
    free(ref);
    free(a);
    free(b);
}

/* ---- image surgery (image_surgery.h) ---- */

/* The error must contain `want`; the machine's platform and vCPU 0 must
 * be untouched. */
static bool refused_with(struct machine *m, struct image *im, const char *want)
{
    char err[512] = "";
    struct mbuf before = plat_bytes(m);
    uint64_t icount = m->cpus[0]->icount;
    int rc = load_image(m, im, err, sizeof(err));
    struct mbuf after = plat_bytes(m);
    bool same = before.len == after.len && !memcmp(before.p, after.p, before.len);
    mbuf_free(&before);
    mbuf_free(&after);
    if (rc != -1 || !strstr(err, want)) {
        printf("  (load returned %d: '%s', wanted '%s')\n", rc, err, want);
        return false;
    }
    return same && m->cpus[0]->icount == icount;
}

/* Replaces a section's payload by the encoding of a (mutated) structure. */
static void put_plat(struct image *im, size_t off, struct platform *p)
{
    struct mbuf b = {0};
    struct xf x = {&b, NULL};
    bool hpet = true;
    plat_state_fields(&x, p, &hpet);
    memcpy(im->p + off + 12, b.p, b.len);
    mbuf_free(&b);
    fix_checksum(im);
}

static void put_lapc(struct image *im, size_t off, struct vcpu_irq *v)
{
    struct mbuf b = {0};
    struct xf x = {&b, NULL};
    lapc_state_fields(&x, v);
    memcpy(im->p + off + 12, b.p, b.len);
    mbuf_free(&b);
    fix_checksum(im);
}

/* Offset in the LAPC payload of the byte that differs between two states
 * (to corrupt a boolean without knowing the layout). */
static size_t lapc_diff(struct vcpu_irq *x0, struct vcpu_irq *x1)
{
    struct mbuf a = {0}, b = {0};
    struct xf xa = {&a, NULL}, xb = {&b, NULL};
    lapc_state_fields(&xa, x0);
    lapc_state_fields(&xb, x1);
    size_t off = 0;
    while (off < a.len && a.p[off] == b.p[off])
        off++;
    mbuf_free(&a);
    mbuf_free(&b);
    return off;
}

UNIT_TEST(load_validates_the_platform)
{
    struct machine *src = calloc(1, sizeof(*src)), *dst = calloc(1, sizeof(*dst));
    struct platform *P = malloc(sizeof(*P));
    CHECK(src && dst && P && make_machine(src, 2) == 0 && make_machine(dst, 2) == 0);
    src->opt.max_insns = 2500;
    vmm_run(src);
    struct image good = good_image(src), im;
    CHECK(good.len > 1000);
    im.p = malloc(good.len + 8192);
    CHECK(im.p);
    char err[512];
#define FRESH() (memcpy(im.p, good.p, good.len), im.len = good.len)
    size_t plat = find_section(&good, "PLAT", 0);
    size_t lapc[2] = {find_section(&good, "LAPC", 0), find_section(&good, "LAPC", 1)};
    CHECK(plat && lapc[0] && lapc[1]);
    uint64_t now = src->plat->clk.ns;
    CHECK(now > 0 && src->plat->pit.ch[0].next_irq_ns != UINT64_MAX);
    CHECK(src->plat->v[0].lapic.timer_next_ns != UINT64_MAX);

    /* the good image loads, with the platform */
    FRESH();
    CHECK(load_image(dst, &im, err, sizeof(err)) == 0);
    CHECK(same_platform(dst, src));
    CHECK_EQ(dst->plat->pit.ch[0].count, 1193);
    CHECK_EQ(dst->plat->pic.c[0].imr, 0xfe);
    /* refused loads must leave a machine that differs from the image */
    machine_destroy(dst);
    CHECK(make_machine(dst, 2) == 0);

#define PLAT_BAD(stmt, want)                                                                       \
    do {                                                                                           \
        *P = *src->plat;                                                                           \
        stmt;                                                                                      \
        FRESH();                                                                                   \
        put_plat(&im, plat, P);                                                                    \
        CHECK(refused_with(dst, &im, want));                                                       \
    } while (0)
    PLAT_BAD(P->clk.ns = 1ull << 63, "section 'PLAT': virtual clock 9223372036854775808 ns");
    PLAT_BAD(P->cur = 5, "section 'PLAT': current vCPU 5 does not exist");
    PLAT_BAD(P->pic.c[0].elcr = 0x01, "master 8259: ELCR 0x1 sets edge-only IRQs");
    PLAT_BAD(P->pic.c[1].base = 0x71, "slave 8259: vector base 0x71");
    PLAT_BAD(P->pic.c[0].priority_add = 9, "priority rotation 9");
    PLAT_BAD(P->pic.c[1].init_state = 4, "initialization state 4");
    PLAT_BAD(P->pit.ch[0].count = 0, "PIT channel 0: count 0 out of range");
    PLAT_BAD(P->pit.ch[2].count = 0x10001, "PIT channel 2: count 65537 out of range");
    PLAT_BAD(P->pit.ch[1].mode = 6, "PIT channel 1: mode 6");
    PLAT_BAD(P->pit.ch[1].bcd = 2, "PIT channel 1: bad access mode");
    PLAT_BAD(P->pit.ch[0].read_state = 1, "PIT channel 0: read/write state 1/3");
    PLAT_BAD(P->pit.ch[0].null_count = true, "counting with a null count");
    PLAT_BAD((P->pit.ch[0].count = 1), "count 1 in mode 2");
    PLAT_BAD(P->pit.ch[0].load_ns = now + 1, "PIT channel 0: count loaded in the future");
    PLAT_BAD(P->pit.ch[2].next_irq_ns = now, "PIT channel 2: an interrupt deadline");
    PLAT_BAD(P->pit.ch[0].next_irq_ns = now + 1000000000, "ns outside its period");
    PLAT_BAD((P->pit.ch[0].counting = false), "interrupt deadline while stopped");
    PLAT_BAD(P->ioapic.id = 16, "I/O APIC: ID 16");
    PLAT_BAD(P->ioapic.sel = 0x100, "register select");
    PLAT_BAD(P->ioapic.irr = 1u << 24, "input bits beyond pin 23");
    PLAT_BAD(P->ioapic.redir[3] |= 1u << 12, "entry 3 with delivery status set");
    PLAT_BAD(P->ioapic.redir[5] |= 1u << 14, "edge-triggered redirection entry 5 with remote IRR");
    PLAT_BAD(P->rtc.cmos[0] = 0x12, "CMOS byte 0 holds a value");
    PLAT_BAD(P->rtc.cmos[0x0c] = 0x80, "CMOS byte 0xc holds a value");
    PLAT_BAD(P->rtc.cmos[0x0a] |= 0x80, "UIP stored");
    PLAT_BAD(P->rtc.cmos[0x0b] |= 0x90, "SET clears UIE");
    PLAT_BAD(P->rtc.index = 0x80, "RTC: index 0x80");
    PLAT_BAD(P->rtc.base = 1ll << 50, "RTC: time out of range");
    PLAT_BAD(P->rtc.frozen = -(1ll << 50), "RTC: time out of range");
    PLAT_BAD(P->rtc.reg_c = 0x01, "register C 0x1 has reserved bits");
    PLAT_BAD(P->rtc.last_c_ns = now + 1, "register C read in the future");
    PLAT_BAD(P->rtc.next_pf_ns = UINT64_MAX, "periodic interrupt deadline inconsistent");
    PLAT_BAD(P->rtc.next_pf_ns += 1, "periodic interrupt deadline inconsistent");
    PLAT_BAD(P->rtc.cmos[0x0b] &= (uint8_t)~0x40, "periodic interrupt deadline inconsistent");
    PLAT_BAD(P->rtc.next_upd_ns = 2000000000, "update interrupt deadline inconsistent");
    PLAT_BAD(P->pm.sts = 1, "ACPI PM1_STS 0x1");
    PLAT_BAD(P->pm.cnt = 0, "ACPI PM1_CNT 0");
    PLAT_BAD(P->pm.cnt = 0x2001, "SLP_EN");
    /* the HPET: timer 0 periodic, timer 1 fired (level, status set), timer 2 off */
    CHECK(src->plat->hpet.t[1].level_active && src->plat->hpet.isr == 2);
    CHECK(src->plat->hpet.t[0].next_ns != UINT64_MAX && src->plat->hpet.t[2].next_ns == UINT64_MAX);
    PLAT_BAD(P->hpet.config |= 4, "HPET: general configuration 0x5");
    PLAT_BAD(P->hpet.isr |= 8, "HPET: interrupt status 0xa beyond timer 2");
    PLAT_BAD(P->hpet.enable_ns = now + 1, "HPET: enabled in the future");
    PLAT_BAD(P->hpet.t[1].config |= 1u << 4, "HPET timer 1: configuration");
    PLAT_BAD(P->hpet.t[2].config |= 1ull << 40, "changes its capabilities");
    PLAT_BAD(P->hpet.t[1].config |= 1u << 3, "HPET timer 1: periodic without the capability");
    PLAT_BAD(P->hpet.t[2].config |= 3u << 9, "route to I/O APIC input 3 not allowed");
    PLAT_BAD((P->hpet.t[0].config |= 1u << 8, P->hpet.t[0].cmp = 1ull << 32),
             "HPET timer 0: 32-bit comparator");
    PLAT_BAD(P->hpet.isr = 0, "HPET timer 1: line asserted without its status bit");
    PLAT_BAD(P->hpet.t[2].next_ns = now, "HPET timer 2: a deadline while disabled");
    PLAT_BAD((P->hpet.config = 0), "HPET timer 0: a deadline while disabled");
    /* the run loop's cached deadline, when marked valid, is the timers' */
    PLAT_BAD((P->deadline_stale = false, P->deadline = now + 1), "cached timer deadline");

    struct vcpu_irq V;
#define LAPC_BAD(cpu, stmt, want)                                                                  \
    do {                                                                                           \
        V = src->plat->v[cpu];                                                                     \
        stmt;                                                                                      \
        FRESH();                                                                                   \
        put_lapc(&im, lapc[cpu], &V);                                                              \
        CHECK(refused_with(dst, &im, want));                                                       \
    } while (0)
    LAPC_BAD(0, V.lapic.apic_base |= 1u << 9, "section 'LAPC' of vCPU 0: IA32_APIC_BASE");
    LAPC_BAD(0, V.lapic.apic_base |= 1ull << 46, "reserved bits");
    LAPC_BAD(1, V.lapic.apic_base = LAPIC_DEFAULT_BASE | APIC_BASE_EXTD,
             "x2APIC mode with the APIC disabled");
    LAPC_BAD(1, V.lapic.apic_base |= APIC_BASE_BSP, "vCPU 1: IA32_APIC_BASE: the BSP flag");
    LAPC_BAD(0, V.lapic.apic_base &= ~APIC_BASE_BSP, "the BSP flag belongs to vCPU 0 only");
    LAPC_BAD(0, V.lapic.id = 0x100, "APIC ID 0x100");
    LAPC_BAD(0, V.lapic.tpr = 0x100, "TPR 0x100");
    LAPC_BAD(0, V.lapic.ldr = 0x01000001, "LDR 0x1000001 impossible in xAPIC mode");
    LAPC_BAD(0, (V.lapic.apic_base |= APIC_BASE_EXTD, V.lapic.ldr = 0x10002),
             "LDR 0x10002 impossible in x2APIC mode");
    LAPC_BAD(0, V.lapic.dfr = 0, "DFR 0");
    LAPC_BAD(0, V.lapic.svr = 0x20ff, "SVR 0x20ff has reserved bits");
    LAPC_BAD(1, V.lapic.esr_pending = 1, "ESR 0/0x1");
    LAPC_BAD(0, V.lapic.icr_lo = 1u << 12, "delivery status pending");
    LAPC_BAD(0, V.lapic.icr_hi = 0x00000001, "xAPIC destination");
    LAPC_BAD(0, V.lapic.lvt[LVT_TIMER] |= 1u << 19, "LVT 0");
    LAPC_BAD(0, V.lapic.lvt[LVT_ERROR] |= 0x700, "LVT 5");
    LAPC_BAD(0, V.lapic.irr[0] = 1u << 3, "vectors 0-15");
    LAPC_BAD(1, V.lapic.isr[0] = 1u << 15, "vectors 0-15");
    LAPC_BAD(0, V.lapic.divide = 4, "timer divide configuration 0x4");
    LAPC_BAD(0, V.lapic.lvt[LVT_TIMER] ^= 3u << 17, "initial count 0x3d090 in TSC-deadline mode");
    LAPC_BAD(0, (V.lapic.lvt[LVT_TIMER] ^= 3u << 17, V.lapic.initial_count = 0),
             "TSC-deadline timer expiry differs");
    LAPC_BAD(0, V.lapic.tsc_deadline = 5, "armed outside TSC-deadline mode");
    LAPC_BAD(0, V.lapic.initial_count = 0, "timer armed with a zero initial count");
    LAPC_BAD(0, V.lapic.timer_next_ns = UINT64_MAX, "periodic timer not armed");
    /* x2APIC mode with the LDR derived from the ID, or 0 after an INIT:
     * both are states the APIC reaches, and load */
    for (uint32_t ldr = 0; ldr <= 1; ldr++) {
        V = src->plat->v[0];
        V.lapic.apic_base |= APIC_BASE_EXTD;
        V.lapic.ldr = ldr; /* x2APIC ID 0: cluster 0, bit 0 */
        FRESH();
        put_lapc(&im, lapc[0], &V);
        CHECK(load_image(dst, &im, err, sizeof(err)) == 0);
        CHECK(lapic_x2apic(&dst->plat->v[0].lapic) && dst->plat->v[0].lapic.ldr == ldr);
        machine_destroy(dst);
        CHECK(make_machine(dst, 2) == 0);
    }
    /* checks against the clock and the CPU, once every section is in */
    LAPC_BAD(0, V.last_icount = src->cpus[0]->icount + 1, "vCPU 0: clock synchronised at");
    LAPC_BAD(0, V.lapic.timer_start_ns = now + 1, "timer started in the future");
    LAPC_BAD(0, V.lapic.timer_next_ns = now + 100000000, "outside its period");
    LAPC_BAD(0, V.lapic.timer_next_ns = V.lapic.timer_start_ns, "outside its period");
    /* a boolean that is not 0 or 1: halted */
    {
        struct vcpu_irq h0 = src->plat->v[1], h1 = h0;
        h0.halted = false;
        h1.halted = true;
        size_t off = lapc_diff(&h0, &h1);
        FRESH();
        im.p[lapc[1] + 12 + off] = 7;
        fix_checksum(&im);
        CHECK(refused_with(dst, &im, "section 'LAPC' of vCPU 1: wrong length"));
    }
    /* instances, duplicates and missing sections */
    FRESH();
    im.p[lapc[1] + 4] = 7;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "vCPU 7 does not exist"));
    FRESH();
    im.p[plat + 4] = 1;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "section 'PLAT': non-zero instance"));
    FRESH();
    im.p[lapc[1] + 4] = 0;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "section 'LAPC' of vCPU 0: duplicate section"));
    FRESH();
    uint32_t plen = (uint32_t)le(good.p + plat + 8, 4);
    memmove(im.p + plat + 12 + plen, im.p + plat, good.len - plat);
    im.len += 12 + plen;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "section 'PLAT': duplicate section"));
    FRESH();
    memmove(im.p + plat, im.p + plat + 12 + plen, good.len - plat - 12 - plen);
    im.len -= 12 + plen;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "lacks section 'PLAT'"));
    FRESH();
    uint32_t llen = (uint32_t)le(good.p + lapc[1] + 8, 4);
    memmove(im.p + lapc[1], im.p + lapc[1] + 12 + llen, good.len - lapc[1] - 12 - llen);
    im.len -= 12 + llen;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "lacks section 'LAPC' of vCPU 1"));
    FRESH();
    im.p[plat + 8] = (uint8_t)(plen - 1);
    memmove(im.p + plat + 12 + plen - 1, im.p + plat + 12 + plen, good.len - plat - 12 - plen);
    im.len -= 1;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "section 'PLAT': wrong length"));

    /* an image with an HPET into a machine without one */
    dst->opt.no_hpet = true;
    FRESH();
    CHECK(refused_with(dst, &im, "use the same -no-hpet"));
    dst->opt.no_hpet = false;
    /* -rtc clock=host: the host-clock origin follows the restored clock */
    dst->opt.realtime = true;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    FRESH();
    CHECK(load_image(dst, &im, err, sizeof(err)) == 0);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t1 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t origin = dst->plat->host_start_ns + dst->plat->clk.ns;
    CHECK(origin >= t0 && origin <= t1);
#undef PLAT_BAD
#undef LAPC_BAD
#undef FRESH
    free(P);
    free(im.p);
    free(good.p);
    machine_destroy(src);
    machine_destroy(dst);
    free(src);
    free(dst);
}

int main(void)
{
    UNIT_RUN(restore_with_timers_equals_uninterrupted);
    UNIT_RUN(load_validates_the_platform);
    UNIT_DONE();
}
