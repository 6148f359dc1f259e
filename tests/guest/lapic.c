/* The local APIC (SDM Vol. 3A chapter 11): registers, self IPIs with
 * priority (IRR/ISR/TPR/PPR), EOI, the error status register, the timer in
 * one-shot, periodic and TSC-deadline modes with the divider, timer periods
 * measured in virtual time (the TSC; the timer runs at the nominal 100 MHz
 * bus clock), APIC-base relocation, and the x2APIC MSR interface. */
#include "guest.h"

#define APIC_PHYS 0xfee00000ull
#define MSR_TSC_DEADLINE 0x6e0

static volatile uint32_t *apic = (volatile uint32_t *)APIC_PHYS;

static uint32_t ar(uint32_t off)
{
    return apic[off / 4];
}
static void aw(uint32_t off, uint32_t v)
{
    apic[off / 4] = v;
}

static volatile int order[8], norder;
static volatile uint32_t isr_seen;
static volatile uint64_t irq_tsc[8];
static volatile int timer_hits;

static void ipi_handler(struct frame *f)
{
    if (norder < 8)
        order[norder++] = (int)f->vector;
    isr_seen = ar(0x100 + (f->vector / 32) * 0x10);
    aw(0xb0, 0);
}

static void timer_handler(struct frame *f)
{
    (void)f;
    if (timer_hits < 8)
        irq_tsc[timer_hits] = rdtsc();
    timer_hits++;
    aw(0xb0, 0);
}

static void self_ipi(uint8_t vec)
{
    aw(0x300, (1u << 18) | vec); /* shorthand self, fixed, edge */
}

static bool near(uint64_t got, uint64_t want, uint64_t tol)
{
    return got + tol >= want && got <= want + tol;
}

static void test_registers(void)
{
    CHECK(cpuid(1, 0).d & (1u << 9), "cpuid_apic");
    CHECK(cpuid(1, 0).c & (1u << 21), "cpuid_x2apic");
    CHECK(cpuid(1, 0).c & (1u << 24), "cpuid_tsc_deadline");
    CHECK_EQ(rdmsr(MSR_APIC_BASE), APIC_PHYS | 0x900, "apic_base_bsp_enabled");
    CHECK_EQ(ar(0x20) >> 24, 0, "id_0");
    CHECK_EQ(ar(0x30) & 0xff, 0x14, "version");
    CHECK_EQ((ar(0x30) >> 16) & 0xff, 5, "max_lvt");
    CHECK_EQ(ar(0x350) & 0x700, 0x700, "lint0_extint_virtual_wire");
    aw(0xf0, 0x1ff); /* software enable, spurious vector 0xff */
    CHECK_EQ(ar(0xf0), 0x1ff, "svr");
    aw(0x80, 0x35);
    CHECK_EQ(ar(0x80), 0x35, "tpr");
    CHECK_EQ(ar(0xa0), 0x35, "ppr_follows_tpr");
    aw(0x80, 0);
    aw(0xd0, 0x5a000000);
    CHECK_EQ(ar(0xd0), 0x5a000000, "ldr");
    aw(0xe0, 0x0fffffff);
    CHECK_EQ(ar(0xe0), 0x0fffffff, "dfr_cluster");
    aw(0xe0, 0xffffffff);
}

static void test_self_ipi_priority(void)
{
    for (int v = 0x40; v < 0xa0; v += 0x10)
        set_handler(v, ipi_handler);
    set_handler(0x61, ipi_handler);
    self_ipi(0x40);
    CHECK_EQ(ar(0x200 + 0x20) & 1, 1, "irr_set_while_if0");
    __asm__ volatile("sti; nop; cli");
    CHECK_EQ(norder, 1, "self_ipi_delivered");
    CHECK_EQ(isr_seen & 1, 1, "isr_set_in_handler");
    CHECK_EQ(ar(0x120) & 1, 0, "isr_clear_after_eoi");
    /* highest vector first (SDM 11.8.3) */
    norder = 0;
    self_ipi(0x50);
    self_ipi(0x90);
    self_ipi(0x61);
    __asm__ volatile("sti; nop; cli");
    CHECK(norder == 3 && order[0] == 0x90 && order[1] == 0x61 && order[2] == 0x50,
          "priority_order");
    /* TPR blocks vectors of its priority class and below */
    norder = 0;
    aw(0x80, 0x60);
    self_ipi(0x61);
    __asm__ volatile("sti; nop; nop; cli");
    CHECK_EQ(norder, 0, "tpr_blocks_same_class");
    aw(0x80, 0x50);
    __asm__ volatile("sti; nop; cli");
    CHECK_EQ(norder, 1, "lower_tpr_delivers");
    aw(0x80, 0);
}

/* CR8 is the TPR's priority class (SDM 11.8.6): both views agree, and
 * lowering CR8 lets a blocked interrupt in at once */
static void test_cr8(void)
{
    uint64_t cr8;
    __asm__ volatile("mov %0, %%cr8" ::"r"(5ull));
    CHECK_EQ(ar(0x80), 0x50, "cr8_write_sets_tpr");
    aw(0x80, 0x30);
    __asm__ volatile("mov %%cr8, %0" : "=r"(cr8));
    CHECK_EQ(cr8, 3, "tpr_write_seen_in_cr8");
    norder = 0;
    self_ipi(0x50);
    __asm__ volatile("sti; nop; nop; cli");
    CHECK_EQ(norder, 1, "above_cr8_delivered");
    __asm__ volatile("mov %0, %%cr8" ::"r"(6ull));
    norder = 0;
    self_ipi(0x70);
    self_ipi(0x50);
    __asm__ volatile("sti; nop; nop; nop; cli");
    CHECK_EQ(norder, 1, "cr8_blocks_lower_class");
    __asm__ volatile("sti; mov %0, %%cr8; nop; cli" ::"r"(0ull));
    CHECK(norder == 2 && order[1] == 0x50, "cr8_lowered_delivers_at_once");
}

static void test_esr(void)
{
    aw(0x280, 0);
    (void)ar(0x280);
    aw(0x370, 0x10000); /* error LVT masked */
    self_ipi(5);        /* illegal vector */
    aw(0x280, 0);
    CHECK_EQ(ar(0x280), 0x20, "esr_send_illegal_vector");
    aw(0x280, 0);
    CHECK_EQ(ar(0x280), 0, "esr_cleared");
}

static void test_timer(void)
{
    set_handler(0x30, timer_handler);
    /* one-shot, divide by 1: 100000 clocks of 100 MHz = 1 ms */
    timer_hits = 0;
    aw(0x3e0, 0xb);
    aw(0x320, 0x30);
    uint64_t t0 = rdtsc();
    aw(0x380, 100000);
    uint32_t c1 = ar(0x390);
    CHECK(c1 <= 100000 && c1 > 90000, "current_count_starts");
    __asm__ volatile("sti");
    while (!timer_hits)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
    uint64_t d = irq_tsc[0] - t0;
    CHECK(near(d, 1000000, 10000), "oneshot_1ms");
    if (!near(d, 1000000, 10000))
        gprintf("  one-shot took %lu TSC ticks\n", d);
    CHECK_EQ(ar(0x390), 0, "oneshot_count_zero");
    uint64_t t1 = rdtsc();
    __asm__ volatile("sti");
    while (rdtsc() - t1 < 3000000)
        ;
    __asm__ volatile("cli");
    CHECK_EQ(timer_hits, 1, "oneshot_fires_once");

    /* periodic, divide by 16: 12500 * 16 clocks = 2 ms */
    timer_hits = 0;
    aw(0x3e0, 0x3);
    aw(0x320, 0x30 | (1u << 17));
    aw(0x380, 12500);
    __asm__ volatile("sti");
    while (timer_hits < 5)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
    aw(0x380, 0); /* stop */
    bool ok = true;
    for (int i = 1; i < 5; i++) {
        uint64_t p = irq_tsc[i] - irq_tsc[i - 1];
        if (!near(p, 2000000, 20000)) {
            gprintf("  period %d: %lu\n", i, p);
            ok = false;
        }
    }
    CHECK(ok, "periodic_div16_2ms");

    /* masked LVT: the timer counts but does not interrupt */
    timer_hits = 0;
    aw(0x3e0, 0xb);
    aw(0x320, 0x30 | 0x10000);
    aw(0x380, 1000);
    t1 = rdtsc();
    __asm__ volatile("sti");
    while (rdtsc() - t1 < 100000)
        ;
    __asm__ volatile("cli");
    CHECK_EQ(timer_hits, 0, "masked_lvt_timer_silent");

    /* TSC-deadline mode (SDM 11.5.4.1) */
    timer_hits = 0;
    aw(0x320, 0x30 | (2u << 17));
    uint64_t dl = rdtsc() + 700000;
    wrmsr(MSR_TSC_DEADLINE, dl);
    CHECK_EQ(rdmsr(MSR_TSC_DEADLINE), dl, "tsc_deadline_reads_back");
    __asm__ volatile("sti");
    while (!timer_hits)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
    CHECK(irq_tsc[0] >= dl && irq_tsc[0] - dl < 10000, "tsc_deadline_fires_at_deadline");
    CHECK_EQ(rdmsr(MSR_TSC_DEADLINE), 0, "tsc_deadline_cleared");
    aw(0x380, 5000);
    CHECK_EQ(ar(0x380), 0, "initial_count_ignored_in_deadline_mode");
    aw(0x320, 0x10000);
}

static void test_relocation(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    wrmsr(MSR_APIC_BASE, 0xfed00000ull | (base & 0xfff));
    volatile uint32_t *moved = (volatile uint32_t *)0xfed00000ull;
    CHECK_EQ(moved[0x30 / 4] & 0xff, 0x14, "relocated_version");
    CHECK_EQ(ar(0x30), 0xffffffff, "old_page_unclaimed");
    wrmsr(MSR_APIC_BASE, base);
    CHECK_EQ(ar(0x30) & 0xff, 0x14, "moved_back");
}

static void test_x2apic(void)
{
    uint64_t base = rdmsr(MSR_APIC_BASE);
    CHECK_EXC(rdmsr(0x802), GP_VECTOR, 0, "x2apic_msr_gp_in_xapic_mode");
    wrmsr(MSR_APIC_BASE, base | (1u << 10));
    CHECK_EQ(rdmsr(0x802), 0, "x2apic_id");
    CHECK_EQ(rdmsr(0x803) & 0xff, 0x14, "x2apic_version");
    CHECK_EQ(rdmsr(0x80d), 1, "x2apic_ldr_derived");
    CHECK_EXC(rdmsr(0x80e), GP_VECTOR, 0, "x2apic_no_dfr");
    CHECK_EXC(wrmsr(0x80b, 1), GP_VECTOR, 0, "x2apic_eoi_nonzero_gp");
    CHECK_EQ(ar(0x30), 0xffffffff, "mmio_off_in_x2apic");
    norder = 0;
    wrmsr(0x808, 0);
    wrmsr(0x83f, 0x70);              /* SELF IPI register */
    wrmsr(0x830, (1u << 18) | 0x80); /* ICR, self shorthand */
    __asm__ volatile("sti; nop; cli");
    CHECK(norder == 2 && order[0] == 0x80 && order[1] == 0x70, "x2apic_self_ipis");
    CHECK_EXC(wrmsr(MSR_APIC_BASE, base), GP_VECTOR, 0, "x2apic_to_xapic_gp");
    /* through disabled back to xAPIC: a disable resets the APIC */
    wrmsr(MSR_APIC_BASE, base & ~(3ull << 10));
    wrmsr(MSR_APIC_BASE, base);
    CHECK_EQ(ar(0xf0), 0xff, "disable_resets_svr");
    aw(0xf0, 0x1ff);
}

/* the ipi handler writes EOI through MMIO: in x2APIC mode use the MSR */
static void ipi_handler_x2(struct frame *f)
{
    if (norder < 8)
        order[norder++] = (int)f->vector;
    wrmsr(0x80b, 0);
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    test_registers();
    test_self_ipi_priority();
    test_cr8();
    test_esr();
    test_timer();
    test_relocation();
    set_handler(0x70, ipi_handler_x2);
    set_handler(0x80, ipi_handler_x2);
    test_x2apic();
}
