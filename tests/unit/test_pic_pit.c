/* The 8259A pair and the 8254 as devices: priorities, cascade, spurious
 * IR7, rotation, level inputs via ELCR; PIT counting, OUT and IRQ 0
 * deadlines from the virtual clock (8259A and 82C54 datasheets). */
#include "dev/pic.h"
#include "dev/pit.h"
#include "unit.h"

static void wr(struct pic *p, uint16_t port, uint8_t v)
{
    const struct io_ops *ops = port >= 0x4d0  ? &pic_elcr_ops
                               : port >= 0xa0 ? &pic_slave_ops
                                              : &pic_master_ops;
    ops->write(p, port & 1, 1, v);
}
static uint8_t rd(struct pic *p, uint16_t port)
{
    const struct io_ops *ops = port >= 0x4d0  ? &pic_elcr_ops
                               : port >= 0xa0 ? &pic_slave_ops
                                              : &pic_master_ops;
    return (uint8_t)ops->read(p, port & 1, 1);
}

static void setup(struct pic *p)
{
    pic_init(p);
    wr(p, 0x20, 0x11), wr(p, 0x21, 0x20), wr(p, 0x21, 4), wr(p, 0x21, 1);
    wr(p, 0xa0, 0x11), wr(p, 0xa1, 0x28), wr(p, 0xa1, 2), wr(p, 0xa1, 1);
    wr(p, 0x21, 0), wr(p, 0xa1, 0);
}

UNIT_TEST(pic_priority_and_cascade)
{
    struct pic p;
    setup(&p);
    CHECK(!pic_intr(&p));
    pic_set_irq(&p, 5, 1);
    pic_set_irq(&p, 9, 1); /* slave IR1 goes through master IR2: higher than IR5 */
    CHECK(pic_intr(&p));
    CHECK_EQ(pic_ack(&p), 0x29);
    /* IR2 in service: IR5 (lower priority) waits */
    CHECK(!pic_intr(&p));
    wr(&p, 0xa0, 0x20), wr(&p, 0x20, 0x20); /* EOI slave, then master */
    CHECK(pic_intr(&p));
    CHECK_EQ(pic_ack(&p), 0x25);
    /* a higher-priority request nests over IR5 */
    pic_set_irq(&p, 1, 1);
    CHECK(pic_intr(&p));
    CHECK_EQ(pic_ack(&p), 0x21);
    wr(&p, 0x20, 0x0b);
    CHECK_EQ(rd(&p, 0x20), (1u << 1) | (1u << 5));
    wr(&p, 0x20, 0x20); /* non-specific EOI ends the highest: IR1 */
    CHECK_EQ(rd(&p, 0x20), 1u << 5);
}

UNIT_TEST(pic_spurious_ir7)
{
    struct pic p;
    setup(&p);
    pic_set_irq(&p, 3, 1);
    CHECK(pic_intr(&p));
    wr(&p, 0x21, 0x08); /* masked between INTR and INTA */
    CHECK_EQ(pic_ack(&p), 0x27);
    wr(&p, 0x20, 0x0b);
    CHECK_EQ(rd(&p, 0x20), 0); /* a spurious IR7 sets no ISR bit */
}

UNIT_TEST(pic_edge_and_level)
{
    struct pic p;
    setup(&p);
    pic_set_irq(&p, 4, 1);
    CHECK_EQ(pic_ack(&p), 0x24);
    wr(&p, 0x20, 0x20);
    CHECK(!pic_intr(&p)); /* edge: the line still high does not re-request */
    wr(&p, 0x4d0, 0x10);  /* IRQ4 level-triggered */
    pic_set_irq(&p, 4, 0);
    pic_set_irq(&p, 4, 1);
    CHECK_EQ(pic_ack(&p), 0x24);
    wr(&p, 0x20, 0x20);
    CHECK(pic_intr(&p)); /* level: still asserted, requests again */
    pic_set_irq(&p, 4, 0);
    CHECK(!pic_intr(&p));
}

UNIT_TEST(pic_rotation)
{
    struct pic p;
    setup(&p);
    wr(&p, 0x20, 0xc0 | 4); /* set priority: IR4 lowest, IR5 highest */
    pic_set_irq(&p, 1, 1);
    pic_set_irq(&p, 6, 1);
    CHECK_EQ(pic_ack(&p), 0x26);
    wr(&p, 0x20, 0xa0); /* rotate on non-specific EOI: IR6 becomes lowest */
    CHECK_EQ(pic_ack(&p), 0x21);
}

static int irq0_edges;
static void count_irq(void *o, int level)
{
    (void)o;
    if (level)
        irq0_edges++;
}

UNIT_TEST(pit_mode2_deadlines)
{
    struct vclock clk = {0};
    struct pit p;
    pit_init(&p, &clk, count_irq, NULL);
    irq0_edges = 0;
    CHECK_EQ(pit_deadline(&p), UINT64_MAX);
    pit_ops.write(&p, 3, 1, 0x34); /* channel 0, lo/hi, mode 2 */
    pit_ops.write(&p, 0, 1, 100);
    pit_ops.write(&p, 0, 1, 0);
    /* 100 PIT clocks: 83809.8 ns, rounded up */
    CHECK_EQ(pit_deadline(&p), 83810);
    clk.ns = 83809;
    pit_advance(&p);
    CHECK_EQ(irq0_edges, 0);
    clk.ns = 83810;
    pit_advance(&p);
    CHECK_EQ(irq0_edges, 1);
    CHECK_EQ(pit_deadline(&p), 167620); /* 200 clocks, from absolute time */
    clk.ns = 1000000;                   /* missed periods coalesce into one edge */
    pit_advance(&p);
    CHECK_EQ(irq0_edges, 2);
    CHECK(pit_deadline(&p) > clk.ns);
    /* counter latch reads a value between 1 and 100 */
    pit_ops.write(&p, 3, 1, 0x00);
    uint32_t lo = (uint32_t)pit_ops.read(&p, 0, 1), hi = (uint32_t)pit_ops.read(&p, 0, 1);
    uint32_t c = lo | hi << 8;
    CHECK(c >= 1 && c <= 100);
    CHECK_EQ(c, 100 - (1193182ull * 1000000 / 1000000000) % 100);
}

/* ns at which `ticks` PIT clocks have elapsed since 0 */
static uint64_t at(uint64_t ticks)
{
    return vclock_ns(ticks, PIT_HZ);
}

UNIT_TEST(pit_mode3_and_gated_modes)
{
    struct vclock clk = {0};
    struct pit p;
    pit_init(&p, &clk, count_irq, NULL);
    /* channel 2, mode 3 (square wave), count 100: OUT high for 50 clocks,
     * low for 50; the counter runs down by two */
    port61_ops.write(&p, 0, 1, 1); /* gate 2 high */
    pit_ops.write(&p, 3, 1, 0xb6);
    pit_ops.write(&p, 2, 1, 100);
    pit_ops.write(&p, 2, 1, 0);
    clk.ns = at(10);
    CHECK(pit_get_out(&p, 2));
    CHECK_EQ(pit_get_count(&p, 2), 80);
    clk.ns = at(60);
    CHECK(!pit_get_out(&p, 2));
    CHECK_EQ(port61_ops.read(&p, 0, 1) & 0x20, 0);
    clk.ns = at(101);
    CHECK(pit_get_out(&p, 2));
    CHECK_EQ(port61_ops.read(&p, 0, 1) & 0x21, 0x21);
    /* mode 1 (one-shot) waits for a rising gate edge */
    port61_ops.write(&p, 0, 1, 0);
    pit_ops.write(&p, 3, 1, 0xb2);
    pit_ops.write(&p, 2, 1, 50);
    pit_ops.write(&p, 2, 1, 0);
    clk.ns = at(300);
    CHECK_EQ(pit_get_count(&p, 2), 50); /* not triggered */
    port61_ops.write(&p, 0, 1, 1);
    CHECK(!pit_get_out(&p, 2)); /* low while counting */
    clk.ns = at(300) + at(30) + 1;
    CHECK(!pit_get_out(&p, 2));
    clk.ns = at(300) + at(51);
    CHECK(pit_get_out(&p, 2)); /* high at terminal count */
    /* mode 4 on channel 0: one strobe interrupt after count + 1 */
    irq0_edges = 0;
    clk.ns = 0;
    pit_ops.write(&p, 3, 1, 0x38);
    pit_ops.write(&p, 0, 1, 10);
    pit_ops.write(&p, 0, 1, 0);
    CHECK_EQ(pit_deadline(&p), at(11));
    clk.ns = at(11);
    pit_advance(&p);
    CHECK_EQ(irq0_edges, 1);
    CHECK_EQ(pit_deadline(&p), UINT64_MAX);
}

int main(void)
{
    UNIT_RUN(pic_priority_and_cascade);
    UNIT_RUN(pic_spurious_ir7);
    UNIT_RUN(pic_edge_and_level);
    UNIT_RUN(pic_rotation);
    UNIT_RUN(pit_mode2_deadlines);
    UNIT_RUN(pit_mode3_and_gated_modes);
    UNIT_DONE();
}
