/* nvmx-args: -rtc base=2030-12-31T23:59:58
 *
 * The MC146818 RTC and CMOS (MC146818A datasheet): the start date given
 * with -rtc, BCD and binary, 24- and 12-hour formats, the year/century
 * rollover, update-ended, alarm and periodic interrupts on IRQ 8 (through
 * the I/O APIC) with their periods in virtual time, register C flags
 * cleared by reading, SET freezing the clock, the NMI-mask bit of port
 * 0x70 leaving CMOS access intact, CMOS RAM, and the memory size bytes. */
#include "guest.h"

#define APIC ((volatile uint32_t *)0xfee00000ull)
#define IOAPIC ((volatile uint32_t *)0xfec00000ull)
#define VEC 0x48

static uint8_t cmos(uint8_t idx)
{
    outb(0x70, idx);
    return inb(0x71);
}
static void cmos_w(uint8_t idx, uint8_t v)
{
    outb(0x70, idx);
    outb(0x71, v);
}

static volatile int hits;
static volatile uint8_t flags[8];
static volatile uint64_t hit_tsc[8];

static void handler(struct frame *f)
{
    (void)f;
    uint8_t c = cmos(0x0c); /* reading C acknowledges (lowers IRQ 8) */
    if (hits < 8) {
        flags[hits] = c;
        hit_tsc[hits] = rdtsc();
    }
    hits++;
    APIC[0xb0 / 4] = 0;
}

static void wait_hits(int n)
{
    uint64_t t0 = rdtsc();
    __asm__ volatile("sti");
    while (hits < n && rdtsc() - t0 < 5000000000ull)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
}

void guest_main(struct multiboot_info *mbi)
{
    /* the date from -rtc, BCD, 24-hour (the power-on format) */
    CHECK_EQ(cmos(0x09), 0x30, "year_bcd");
    CHECK_EQ(cmos(0x32), 0x20, "century_bcd");
    CHECK_EQ(cmos(0x08), 0x12, "month_bcd");
    CHECK_EQ(cmos(0x07), 0x31, "day_bcd");
    CHECK_EQ(cmos(0x04), 0x23, "hour_bcd_24h");
    CHECK_EQ(cmos(0x02), 0x59, "minute_bcd");
    CHECK_EQ(cmos(0x00), 0x58, "second_bcd");
    CHECK_EQ(cmos(0x06), 3, "weekday_tuesday"); /* 2030-12-31, Sunday = 1 */
    CHECK_EQ(cmos(0x0d), 0x80, "reg_d_valid");
    CHECK_EQ(cmos(0x0a) & 0x7f, 0x26, "reg_a_default");

    /* binary and 12-hour formats */
    cmos_w(0x0b, 0x04); /* DM binary, 12-hour */
    CHECK_EQ(cmos(0x04), 0x80 | 11, "hour_binary_12h_pm");
    CHECK_EQ(cmos(0x09), 30, "year_binary");
    cmos_w(0x0b, 0x06); /* binary, 24-hour */
    CHECK_EQ(cmos(0x04), 23, "hour_binary_24h");

    /* IRQ 8 through the I/O APIC */
    APIC[0xf0 / 4] = 0x1ff;
    set_handler(VEC, handler);
    IOAPIC[0] = 0x10 + 2 * 8 + 1;
    IOAPIC[4] = 0;
    IOAPIC[0] = 0x10 + 2 * 8;
    IOAPIC[4] = VEC;
    (void)cmos(0x0c);

    /* update-ended interrupts once a second: the rollover to 2031 */
    hits = 0;
    cmos_w(0x0b, 0x06 | 0x10); /* UIE */
    wait_hits(3);
    cmos_w(0x0b, 0x06);
    CHECK_EQ(hits, 3, "update_interrupts");
    CHECK((flags[0] & 0x90) == 0x90, "reg_c_irqf_uf");
    uint64_t d = hit_tsc[2] - hit_tsc[1];
    CHECK(d > 999000000ull && d < 1001000000ull, "update_every_second");
    CHECK_EQ(cmos(0x09), 31, "year_rolled_over");
    CHECK_EQ(cmos(0x08), 1, "month_rolled_over");
    CHECK_EQ(cmos(0x07), 1, "day_rolled_over");
    CHECK_EQ(cmos(0x04), 0, "hour_rolled_over");
    CHECK_EQ(cmos(0x0a) & 0x80, 0, "uip_clear_after_update");
    CHECK_EQ(cmos(0x0c), 0, "reg_c_cleared_by_read");

    /* alarm: the next second with don't-care hours and minutes */
    uint8_t s = cmos(0x00);
    hits = 0;
    cmos_w(0x01, (uint8_t)((s + 2) % 60));
    cmos_w(0x03, 0xc0);
    cmos_w(0x05, 0xc0);
    cmos_w(0x0b, 0x06 | 0x20); /* AIE */
    wait_hits(1);
    cmos_w(0x0b, 0x06);
    CHECK(hits == 1 && (flags[0] & 0xa0) == 0xa0, "alarm_interrupt");
    CHECK_EQ(cmos(0x00), (s + 2) % 60, "alarm_at_its_second");

    /* periodic interrupt, rate 6: 1024 Hz */
    hits = 0;
    cmos_w(0x0a, 0x26);
    cmos_w(0x0b, 0x06 | 0x40); /* PIE */
    wait_hits(4);
    cmos_w(0x0b, 0x06);
    CHECK(hits >= 4 && (flags[1] & 0xc0) == 0xc0, "periodic_interrupts");
    d = hit_tsc[3] - hit_tsc[2];
    CHECK(d > 966000 && d < 987000, "periodic_1024hz");
    if (!(d > 966000 && d < 987000))
        gprintf("  period %lu\n", d);

    /* SET freezes the time; a write while set holds until SET clears */
    cmos_w(0x0b, 0x86);
    cmos_w(0x04, 7);
    cmos_w(0x02, 30);
    cmos_w(0x00, 0);
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < 2000000)
        ;
    CHECK(cmos(0x04) == 7 && cmos(0x02) == 30 && cmos(0x00) == 0, "set_freezes");
    cmos_w(0x0b, 0x06);
    CHECK(cmos(0x04) == 7 && cmos(0x02) == 30, "set_clear_runs_from_written_time");

    /* NMI mask bit: index writes with bit 7 still select the register */
    outb(0x70, 0x80 | 0x0d);
    CHECK_EQ(inb(0x71), 0x80, "nmi_mask_bit_index");
    cmos_w(0x40, 0xa5);
    CHECK_EQ(cmos(0x40), 0xa5, "cmos_ram");
    uint32_t ext = cmos(0x30) | (uint32_t)cmos(0x31) << 8;
    uint32_t want = mbi->mem_upper > 0xffff ? 0xffff : mbi->mem_upper;
    CHECK_EQ(ext, want, "cmos_extended_memory_kib");
    cmos_w(0x0b, 0x02);
}
