/* The I/O APIC (82093AA datasheet, ICH version 0x20): identification and
 * version registers, redirection entries masked at reset, the PIT on input
 * 2 (ISA IRQ 0 as the MP/ACPI tables describe it), edge and level
 * triggering with remote IRR and the LAPIC's EOI broadcast (SDM 11.8.5),
 * the EOI register, masked edges ignored, physical and logical
 * destinations; and the 8259 path through LINT0 (ExtINT, virtual wire). */
#include "guest.h"

#define APIC ((volatile uint32_t *)0xfee00000ull)
#define IOAPIC ((volatile uint32_t *)0xfec00000ull)
#define VEC 0x38

static uint32_t ar(uint32_t off)
{
    return APIC[off / 4];
}
static void aw(uint32_t off, uint32_t v)
{
    APIC[off / 4] = v;
}
static uint32_t ior(uint32_t reg)
{
    IOAPIC[0] = reg;
    return IOAPIC[4];
}
static void iow(uint32_t reg, uint32_t v)
{
    IOAPIC[0] = reg;
    IOAPIC[4] = v;
}

static volatile int hits;
static volatile uint64_t hit_tsc[8];
static volatile uint32_t redir_in_handler, redir_after_eoi_reg, tmr_in_handler;
static volatile int eoi_mode; /* 0 LAPIC EOI, 1 I/O APIC EOI register + LAPIC EOI */

static void handler(struct frame *f)
{
    (void)f;
    if (hits < 8)
        hit_tsc[hits] = rdtsc();
    hits++;
    redir_in_handler = ior(0x10 + 2 * 2);
    tmr_in_handler = ar(0x180 + (VEC / 32) * 0x10) & (1u << (VEC % 32));
    if (eoi_mode == 1) {
        IOAPIC[0x40 / 4] = VEC; /* EOI register: clears remote IRR */
        redir_after_eoi_reg = ior(0x10 + 2 * 2);
    }
    aw(0xb0, 0);
}

static void pic_handler(struct frame *f)
{
    (void)f;
    hits++;
    outb(0x20, 0x20); /* 8259 EOI (ExtINT vectors do not touch the LAPIC ISR) */
}

static void pit_periodic(uint16_t count)
{
    outb(0x43, 0x34);
    outb(0x40, count & 0xff);
    outb(0x40, count >> 8);
}

static void run_until(int n)
{
    __asm__ volatile("sti");
    uint64_t t0 = rdtsc();
    while (hits < n && rdtsc() - t0 < 20000000)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
}

static void idle(uint64_t ns)
{
    uint64_t t0 = rdtsc();
    __asm__ volatile("sti");
    while (rdtsc() - t0 < ns)
        ;
    __asm__ volatile("cli");
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    aw(0xf0, 0x1ff);
    set_handler(VEC, handler);
    CHECK_EQ(ior(0) >> 24, 1, "id_after_the_cpus");
    CHECK_EQ(ior(1) & 0xff, 0x20, "version");
    CHECK_EQ((ior(1) >> 16) & 0xff, 23, "max_redirection_entry");
    bool masked = true;
    for (int i = 0; i < 24; i++)
        masked &= (ior(0x10 + 2 * i) >> 16) & 1;
    CHECK(masked, "entries_masked_at_reset");
    iow(0x10 + 2 * 5 + 1, 0xab000000u);
    CHECK_EQ(ior(0x10 + 2 * 5 + 1), 0xab000000u, "redir_high_rw");

    /* edge, fixed, physical destination 0 */
    iow(0x10 + 2 * 2 + 1, 0);
    iow(0x10 + 2 * 2, VEC);
    hits = 0;
    pit_periodic(1193);
    run_until(4);
    CHECK_EQ(hits, 4, "pit_through_ioapic_pin2");
    uint64_t want = 1193 * 1000000000ull / 1193182;
    uint64_t d = hit_tsc[3] - hit_tsc[2];
    CHECK(d + want / 100 >= want && d <= want + want / 100, "period_1ms");
    CHECK_EQ(tmr_in_handler, 0, "edge_clears_tmr");

    /* masked: edges are ignored, nothing arrives on unmask */
    iow(0x10 + 2 * 2, VEC | 0x10000);
    hits = 0;
    idle(3000000);
    CHECK_EQ(hits, 0, "masked_pin_silent");
    iow(0x10 + 2 * 2, VEC);
    __asm__ volatile("sti; nop; cli");
    CHECK_EQ(hits, 0, "masked_edges_not_held");

    /* level-triggered: remote IRR while in service, TMR set, cleared by
     * the EOI broadcast */
    iow(0x10 + 2 * 2, VEC | (1u << 15));
    hits = 0;
    run_until(1);
    CHECK_EQ(hits, 1, "level_delivered");
    CHECK(redir_in_handler & (1u << 14), "remote_irr_in_handler");
    CHECK(tmr_in_handler, "tmr_set_for_level");
    CHECK_EQ(ior(0x10 + 2 * 2) & (1u << 14), 0, "eoi_broadcast_clears_remote_irr");
    run_until(3);
    CHECK_EQ(hits, 3, "level_keeps_coming_after_eoi");
    /* the EOI register does the same */
    eoi_mode = 1;
    hits = 0;
    run_until(1);
    CHECK((redir_in_handler & (1u << 14)) && !(redir_after_eoi_reg & (1u << 14)),
          "eoi_register_clears_remote_irr");
    eoi_mode = 0;

    /* destinations: physical 5 matches nobody; logical flat 0x01 the BSP */
    iow(0x10 + 2 * 2, VEC);
    iow(0x10 + 2 * 2 + 1, 5u << 24);
    hits = 0;
    idle(3000000);
    CHECK_EQ(hits, 0, "physical_dest_mismatch");
    aw(0xd0, 1u << 24);
    iow(0x10 + 2 * 2 + 1, 1u << 24);
    iow(0x10 + 2 * 2, VEC | (1u << 11));
    run_until(2);
    CHECK_EQ(hits, 2, "logical_flat_dest");
    iow(0x10 + 2 * 2, VEC | 0x10000);

    /* the 8259 reaches the CPU through LINT0 in ExtINT mode only */
    outb(0x20, 0x11);
    outb(0x21, 0x30);
    outb(0x21, 0x04);
    outb(0x21, 0x01);
    outb(0x21, 0xfe);
    set_handler(0x30, pic_handler);
    aw(0x350, 0x10700); /* LINT0 masked */
    hits = 0;
    idle(3000000);
    CHECK_EQ(hits, 0, "lint0_masked_blocks_pic");
    aw(0x350, 0x700);
    run_until(2);
    CHECK_EQ(hits, 2, "lint0_extint_delivers_pic");
    outb(0x21, 0xff);
}
