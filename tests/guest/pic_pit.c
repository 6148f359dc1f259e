/* The 8259A PIC pair and the 8254 PIT: initialization, masking, IRR/ISR
 * reads, EOI, poll mode, automatic EOI, PIT modes 0/2 on channels 0 and 2
 * (port 0x61 gate and OUT2), counter latch and read-back, HLT woken by the
 * timer interrupt. Periods are measured in virtual time with the TSC
 * (nominal 1 GHz: one tick per nanosecond), never against the host clock.
 * (8259A and 82C54 datasheets; SDM 6.8.1 for STI/HLT.) */
#include "guest.h"

#define PIT_HZ 1193182ull
#define MASTER_BASE 0x20
#define SLAVE_BASE 0x28

static volatile int ticks;
static volatile uint64_t tick_tsc[16];
static volatile uint8_t isr_in_handler;
static volatile bool eoi_in_handler = true;

static void pic_init(bool auto_eoi)
{
    outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 */
    outb(0x21, MASTER_BASE);
    outb(0x21, 0x04); /* slave on IR2 */
    outb(0x21, auto_eoi ? 0x03 : 0x01);
    outb(0xa0, 0x11);
    outb(0xa1, SLAVE_BASE);
    outb(0xa1, 0x02);
    outb(0xa1, 0x01);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

static uint8_t pic_read_isr(void)
{
    outb(0x20, 0x0b);
    return inb(0x20);
}

static uint8_t pic_read_irr(void)
{
    outb(0x20, 0x0a);
    return inb(0x20);
}

static void timer_handler(struct frame *f)
{
    (void)f;
    isr_in_handler = pic_read_isr();
    if (ticks < 16)
        tick_tsc[ticks] = rdtsc();
    ticks++;
    if (eoi_in_handler)
        outb(0x20, 0x20); /* non-specific EOI */
}

static void pit_ch0(int mode, uint16_t count)
{
    outb(0x43, (uint8_t)(0x30 | (mode << 1))); /* channel 0, lo/hi */
    outb(0x40, count & 0xff);
    outb(0x40, count >> 8);
}

static bool near(uint64_t got, uint64_t want, uint64_t tol)
{
    return got + tol >= want && got <= want + tol;
}

static void test_periodic(void)
{
    pic_init(false);
    set_handler(MASTER_BASE, timer_handler);
    ticks = 0;
    const uint16_t count = 1193; /* ~1 ms */
    pit_ch0(2, count);
    outb(0x21, 0xfe); /* unmask IRQ0 */
    __asm__ volatile("sti");
    while (ticks < 6)
        __asm__ volatile("hlt"); /* HLT waits for the timer interrupt */
    __asm__ volatile("cli");
    outb(0x21, 0xff);
    CHECK(ticks >= 6, "hlt_woken_by_irq0");
    CHECK_EQ(isr_in_handler, 1, "isr_bit0_in_handler");
    CHECK_EQ(pic_read_isr(), 0, "isr_clear_after_eoi");
    uint64_t want = count * 1000000000ull / PIT_HZ; /* 999847 ns */
    bool ok = true;
    for (int i = 2; i < 6; i++) {
        uint64_t d = tick_tsc[i] - tick_tsc[i - 1];
        if (!near(d, want, want / 100)) {
            gprintf("  period %d: %lu TSC ticks, expected %lu\n", i, d, want);
            ok = false;
        }
    }
    CHECK(ok, "mode2_period_1ms");
}

static void test_masked_irr_then_unmask(void)
{
    pic_init(false);
    set_handler(MASTER_BASE, timer_handler);
    ticks = 0;
    pit_ch0(0, 2000); /* one-shot, ~1.7 ms */
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < 3000000)
        ;
    CHECK_EQ(pic_read_irr() & 1, 1, "irr_set_while_masked");
    CHECK_EQ(ticks, 0, "masked_not_delivered");
    __asm__ volatile("sti");
    outb(0x21, 0xfe);
    __asm__ volatile("nop; nop; cli");
    CHECK_EQ(ticks, 1, "delivered_on_unmask");
    CHECK_EQ(pic_read_irr() & 1, 0, "irr_cleared_by_ack");
    /* mode 0 fires once: no further interrupts */
    t0 = rdtsc();
    __asm__ volatile("sti");
    while (rdtsc() - t0 < 5000000)
        ;
    __asm__ volatile("cli");
    CHECK_EQ(ticks, 1, "mode0_one_shot");
    outb(0x21, 0xff);
}

static void test_no_eoi_blocks(void)
{
    /* without EOI, IR0 stays in service and blocks further IR0 requests */
    pic_init(false);
    set_handler(MASTER_BASE, timer_handler);
    ticks = 0;
    eoi_in_handler = false;
    pit_ch0(2, 1193);
    outb(0x21, 0xfe);
    uint64_t t0 = rdtsc();
    __asm__ volatile("sti");
    while (rdtsc() - t0 < 5000000)
        ;
    __asm__ volatile("cli");
    CHECK_EQ(ticks, 1, "in_service_blocks_same_level");
    CHECK_EQ(pic_read_isr(), 1, "isr_still_set");
    outb(0x20, 0x60); /* specific EOI for IR0 */
    CHECK_EQ(pic_read_isr(), 0, "specific_eoi");
    eoi_in_handler = true;
    outb(0x21, 0xff);
}

static void test_auto_eoi(void)
{
    pic_init(true);
    set_handler(MASTER_BASE, timer_handler);
    ticks = 0;
    eoi_in_handler = false;
    pit_ch0(2, 1193);
    outb(0x21, 0xfe);
    __asm__ volatile("sti");
    while (ticks < 3)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
    CHECK_EQ(isr_in_handler, 0, "auto_eoi_isr_clear");
    CHECK(ticks >= 3, "auto_eoi_keeps_interrupting");
    eoi_in_handler = true;
    outb(0x21, 0xff);
}

static void test_poll(void)
{
    pic_init(false);
    pit_ch0(2, 1193);
    outb(0x21, 0xfe); /* unmasked at the PIC, but IF = 0 */
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < 2000000)
        ;
    outb(0x20, 0x0c); /* OCW3 poll command */
    uint8_t v = inb(0x20);
    CHECK_EQ(v, 0x80, "poll_returns_ir0");
    CHECK_EQ(pic_read_isr(), 1, "poll_acknowledges");
    outb(0x20, 0x20);
    outb(0x21, 0xff);
    pit_ch0(0, 0xffff);
    outb(0x20, 0x0c);
    CHECK_EQ(inb(0x20), 0, "poll_nothing_pending");
}

static void test_imr(void)
{
    outb(0x21, 0x5a);
    CHECK_EQ(inb(0x21), 0x5a, "imr_master_rw");
    outb(0xa1, 0xa5);
    CHECK_EQ(inb(0xa1), 0xa5, "imr_slave_rw");
    outb(0x4d0, 0xff);
    CHECK_EQ(inb(0x4d0), 0xf8, "elcr_master_irq012_edge_only");
    outb(0x4d1, 0xff);
    CHECK_EQ(inb(0x4d1), 0xde, "elcr_slave_irq8_13_edge_only");
    outb(0x4d0, 0);
    outb(0x4d1, 0);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

static uint16_t ch2_latch(void)
{
    outb(0x43, 0x80); /* latch channel 2 */
    uint8_t lo = inb(0x42);
    return (uint16_t)(lo | (inb(0x42) << 8));
}

static void test_channel2(void)
{
    /* the calibration sequence of Linux (pit_calibrate_tsc): gate high,
     * speaker off, mode 0, wait for OUT2 in port 0x61 bit 5 */
    outb(0x61, (inb(0x61) & ~0x02) | 0x01);
    outb(0x43, 0xb0);             /* channel 2, lo/hi, mode 0 */
    const uint16_t count = 11932; /* 10 ms */
    outb(0x42, count & 0xff);
    uint64_t t0 = rdtsc();
    outb(0x42, count >> 8);
    CHECK_EQ(inb(0x61) & 0x20, 0, "out2_low_while_counting");
    uint16_t a = ch2_latch();
    uint64_t t1 = rdtsc();
    while (rdtsc() - t1 < 10000) /* ~12 PIT clocks */
        ;
    uint16_t b = ch2_latch();
    CHECK(a <= count && b < a && a - b >= 8 && a - b <= 16, "counter_counts_down");
    while (!(inb(0x61) & 0x20))
        ;
    uint64_t d = rdtsc() - t0;
    uint64_t want = count * 1000000000ull / PIT_HZ;
    CHECK(near(d, want, want / 100), "mode0_terminal_count_10ms");
    if (!near(d, want, want / 100))
        gprintf("  %lu TSC ticks, expected %lu\n", d, want);
    /* read-back: status of channel 2 (OUT high, lo/hi, mode 0, binary) */
    outb(0x43, 0xe8); /* read-back, latch status only, channel 2 */
    CHECK_EQ(inb(0x42), 0x80 | 0x30, "readback_status");
    /* refresh toggle in bit 4 changes over time */
    uint8_t r0 = inb(0x61) & 0x10;
    bool toggled = false;
    t0 = rdtsc();
    while (rdtsc() - t0 < 100000)
        if ((inb(0x61) & 0x10) != r0)
            toggled = true;
    CHECK(toggled, "port61_refresh_toggles");
    outb(0x61, inb(0x61) & ~0x03);
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    test_imr();
    test_periodic();
    test_masked_irr_then_unmask();
    test_no_eoi_blocks();
    test_auto_eoi();
    test_poll();
    test_channel2();
}
