/* The HPET (IA-PC HPET Specification 1.0a): capabilities, the main counter
 * (stopped, writable while stopped, 100 MHz of virtual time against the
 * TSC), timer 0 one-shot and periodic (the VAL_SET sequence Linux uses),
 * 32-bit mode, a level-triggered timer held by its status bit, routing to
 * I/O APIC inputs 20-23, legacy replacement (timer 0 on IRQ 0 with the PIT
 * disconnected), and the ACPI HPET table. */
#include "guest.h"

#define APIC ((volatile uint32_t *)0xfee00000ull)
#define IOAPIC ((volatile uint32_t *)0xfec00000ull)
#define HPET 0xfed00000ull

static uint64_t hr(uint32_t off)
{
    return *(volatile uint64_t *)(HPET + off);
}
static void hw(uint32_t off, uint64_t v)
{
    *(volatile uint64_t *)(HPET + off) = v;
}
static void iow(uint32_t reg, uint32_t v)
{
    IOAPIC[0] = reg;
    IOAPIC[4] = v;
}
static uint32_t ior(uint32_t reg)
{
    IOAPIC[0] = reg;
    return IOAPIC[4];
}
static void route_pin(int pin, uint8_t vec, bool level)
{
    iow(0x10 + 2 * pin + 1, 0);
    iow(0x10 + 2 * pin, vec | (level ? 1u << 15 : 0));
}

static volatile int hits;
static volatile uint64_t hit_tsc[8];
static volatile uint64_t status_in_handler;
static volatile bool clear_status = true;

static void handler(struct frame *f)
{
    (void)f;
    if (hits < 8)
        hit_tsc[hits] = rdtsc();
    hits++;
    status_in_handler = hr(0x20);
    if (clear_status)
        hw(0x20, status_in_handler); /* write 1 to clear (level timers) */
    else
        iow(0x10 + 2 * 21, 0x59 | (1u << 15) | 0x10000); /* else it would storm */
    APIC[0xb0 / 4] = 0;
}

static void wait_hits(int n)
{
    uint64_t t0 = rdtsc();
    __asm__ volatile("sti");
    while (hits < n && rdtsc() - t0 < 50000000)
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

static bool near(uint64_t got, uint64_t want, uint64_t tol)
{
    return got + tol >= want && got <= want + tol;
}

static bool acpi_hpet_listed(void)
{
    for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
        if (memcmp((const void *)a, "RSD PTR ", 8))
            continue;
        const uint8_t *x = (const uint8_t *)*(const uint64_t *)(a + 24);
        uint32_t len = *(const uint32_t *)(x + 4);
        for (uint32_t o = 36; o + 8 <= len; o += 8) {
            const uint8_t *t = (const uint8_t *)*(const uint64_t *)(x + o);
            if (!memcmp(t, "HPET", 4))
                return *(const uint64_t *)(t + 44) == HPET;
        }
    }
    return false;
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    APIC[0xf0 / 4] = 0x1ff;
    uint64_t cap = hr(0);
    CHECK_EQ(cap >> 32, 10000000, "period_10ns_in_fs");
    CHECK_EQ((cap >> 16) & 0xffff, 0x8086, "vendor");
    CHECK_EQ(((cap >> 8) & 0x1f) + 1, 3, "three_timers");
    CHECK((cap & (1u << 13)) && (cap & (1u << 15)), "64bit_and_legacy_capable");
    CHECK_EQ(hr(0x100) >> 32, 0x00f00000, "route_cap_inputs_20_23");
    CHECK(acpi_hpet_listed(), "acpi_hpet_table");

    /* stopped: the counter holds and can be written */
    hw(0x10, 0);
    hw(0xf0, 12345);
    idle(100000);
    CHECK_EQ(hr(0xf0), 12345, "stopped_counter_holds_written_value");
    hw(0xf0, 0);
    uint64_t t0 = rdtsc();
    hw(0x10, 1);
    idle(1000000);
    uint64_t c = hr(0xf0), d = rdtsc() - t0;
    CHECK(near(c * 10, d, d / 100), "counter_100mhz");

    /* timer 0 one-shot, edge, input 20 */
    set_handler(0x58, handler);
    route_pin(20, 0x58, false);
    hits = 0;
    hw(0x100, (20u << 9) | (1u << 2)); /* route 20, enable, edge, one-shot */
    t0 = rdtsc();
    hw(0x108, hr(0xf0) + 100000); /* 1 ms */
    wait_hits(1);
    CHECK_EQ(hits, 1, "oneshot_fires");
    CHECK(near(hit_tsc[0] - t0, 1000000, 10000), "oneshot_1ms");
    idle(2000000);
    CHECK_EQ(hits, 1, "oneshot_once");

    /* periodic with VAL_SET: first write sets the comparator, the next the
     * period (Linux's hpet_set_periodic) */
    hits = 0;
    hw(0x100, (20u << 9) | (1u << 2) | (1u << 3) | (1u << 6));
    hw(0x108, hr(0xf0) + 50000);
    hw(0x108, 50000); /* 0.5 ms */
    wait_hits(5);
    hw(0x100, 20u << 9);
    bool ok = hits >= 5;
    for (int i = 2; i < 5; i++)
        ok &= near(hit_tsc[i] - hit_tsc[i - 1], 500000, 5000);
    CHECK(ok, "periodic_0_5ms");

    /* 32-bit mode: the comparator is 32 bits */
    hw(0x108, 0x123456789ull);
    hw(0x100, (20u << 9) | (1u << 8));
    CHECK_EQ(hr(0x108), 0x23456789, "comparator_32bit");
    hw(0x100, 20u << 9);

    /* level-triggered timer 1 on input 21: status bit set, held until
     * cleared; the handler clears it */
    set_handler(0x59, handler);
    route_pin(21, 0x59, true);
    hits = 0;
    hw(0x120, (21u << 9) | (1u << 2) | (1u << 1));
    hw(0x128, hr(0xf0) + 20000);
    wait_hits(1);
    CHECK(hits == 1 && (status_in_handler & 2), "level_status_bit");
    CHECK_EQ(hr(0x20) & 2, 0, "status_cleared_by_write");
    idle(500000);
    CHECK_EQ(hits, 1, "level_not_repeated_after_clear");
    /* without clearing, the level stays asserted and the status set (the
     * handler masks the input, or the line would interrupt again at EOI) */
    clear_status = false;
    hits = 0;
    hw(0x128, hr(0xf0) + 20000);
    wait_hits(1);
    CHECK((hr(0x20) & 2) != 0, "status_held_until_cleared");
    /* unmasked with the line still high: the I/O APIC sends it again */
    hits = 0;
    clear_status = true;
    iow(0x10 + 2 * 21, 0x59 | (1u << 15));
    __asm__ volatile("sti; nop; cli");
    CHECK_EQ(hits, 1, "level_redelivered_on_unmask");
    CHECK_EQ(ior(0x10 + 2 * 21) & (1u << 14), 0, "remote_irr_clear");
    clear_status = true;
    hw(0x120, 0);

    /* legacy replacement: timer 0 drives IRQ 0 (I/O APIC input 2) and
     * the PIT is disconnected */
    set_handler(0x5a, handler);
    route_pin(2, 0x5a, false);
    outb(0x43, 0x34);
    outb(0x40, 0xa9);
    outb(0x40, 0x04); /* PIT: 1 ms periodic */
    hits = 0;
    idle(3000000);
    CHECK(hits >= 2, "pit_on_input2_before_legacy");
    hw(0x10, 3); /* enable + legacy replacement */
    hits = 0;
    idle(3000000);
    CHECK_EQ(hits, 0, "legacy_disconnects_pit");
    hw(0x100, (1u << 2));
    hw(0x108, hr(0xf0) + 100000);
    wait_hits(1);
    CHECK_EQ(hits, 1, "legacy_timer0_on_irq0");
    hw(0x10, 0);
    iow(0x10 + 2 * 2, 0x10000);
    iow(0x10 + 2 * 20, 0x10000);
    iow(0x10 + 2 * 21, 0x10000);
}
