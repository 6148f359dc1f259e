/* Local APIC and I/O APIC as devices (SDM Vol. 3A chapter 11; 82093AA):
 * priority logic, EOI of level vectors, destination matching, IA32_APIC_BASE
 * transitions, timer deadlines from the virtual clock; I/O APIC remote IRR
 * and re-delivery of a level still asserted. */
#include "dev/ioapic.h"
#include "dev/lapic.h"
#include "unit.h"

static int eois, last_eoi, ipis;
static uint32_t last_icr, last_dest;

static void bus_ipi(void *o, struct lapic *src, uint32_t lo, uint32_t dest)
{
    (void)o, (void)src;
    ipis++;
    last_icr = lo;
    last_dest = dest;
}
static void bus_eoi(void *o, uint8_t v)
{
    (void)o;
    eois++;
    last_eoi = v;
}
static const struct lapic_bus_ops ops = {bus_ipi, bus_eoi};

UNIT_TEST(lapic_priorities_and_eoi)
{
    struct vclock clk = {0};
    struct lapic l;
    lapic_init(&l, 0, true, &clk, &ops, NULL);
    lapic_mmio_write(&l, 0xf0, 0x1ff);
    lapic_accept(&l, 0x45, false);
    lapic_accept(&l, 0x83, true); /* level */
    CHECK_EQ(lapic_pending(&l), 0x83);
    lapic_ack(&l, 0x83);
    CHECK_EQ(lapic_ppr(&l), 0x80);
    CHECK_EQ(lapic_pending(&l), -1); /* 0x45 is below the in-service class */
    eois = 0;
    lapic_mmio_write(&l, 0xb0, 0);
    CHECK_EQ(eois, 1); /* TMR set: EOI message for the I/O APIC */
    CHECK_EQ(last_eoi, 0x83);
    CHECK_EQ(lapic_pending(&l), 0x45);
    lapic_mmio_write(&l, 0x80, 0x40); /* TPR class 4 blocks 0x45 */
    CHECK_EQ(lapic_pending(&l), -1);
    lapic_mmio_write(&l, 0x80, 0x3f);
    CHECK_EQ(lapic_pending(&l), 0x45);
    lapic_ack(&l, 0x45);
    lapic_mmio_write(&l, 0xb0, 0);
    CHECK_EQ(eois, 1); /* edge: no EOI message */
    /* illegal vector received: ESR bit 6 after the ESR write */
    lapic_accept(&l, 3, false);
    lapic_mmio_write(&l, 0x280, 0);
    CHECK_EQ(lapic_mmio_read(&l, 0x280), 0x40);
}

UNIT_TEST(lapic_destinations)
{
    struct vclock clk = {0};
    struct lapic l;
    lapic_init(&l, 5, false, &clk, &ops, NULL);
    CHECK(lapic_match_dest(&l, 5, false));
    CHECK(!lapic_match_dest(&l, 4, false));
    CHECK(lapic_match_dest(&l, 0xff, false));
    lapic_mmio_write(&l, 0xd0, 0x24000000); /* flat: bits 2 and 5 */
    CHECK(lapic_match_dest(&l, 0x20, true));
    CHECK(!lapic_match_dest(&l, 0x41, true));
    lapic_mmio_write(&l, 0xe0, 0x0fffffff); /* cluster: cluster 2, member bit 2 */
    CHECK(lapic_match_dest(&l, 0x24, true));
    CHECK(!lapic_match_dest(&l, 0x34, true));
    CHECK(!lapic_match_dest(&l, 0x21, true));
    /* x2APIC: logical ID derived from the APIC ID (cluster 0, bit 5) */
    CHECK(lapic_set_base(&l, LAPIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_EXTD, ~0ull >> 18));
    CHECK(lapic_match_dest(&l, 0x00000020, true));
    CHECK(!lapic_match_dest(&l, 0x00010020, true));
    CHECK(lapic_match_dest(&l, 0xffffffff, false));
    CHECK(!lapic_match_dest(&l, 0xff, false));
}

UNIT_TEST(lapic_base_transitions)
{
    struct vclock clk = {0};
    struct lapic l;
    uint64_t mask = (1ull << 46) - 1;
    lapic_init(&l, 1, false, &clk, &ops, NULL);
    CHECK(!lapic_set_base(&l, LAPIC_DEFAULT_BASE | APIC_BASE_EXTD, mask)); /* EXTD without EN */
    CHECK(!lapic_set_base(&l, (1ull << 50) | APIC_BASE_EN, mask));         /* reserved */
    CHECK(lapic_set_base(&l, LAPIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_EXTD, mask));
    uint64_t v;
    CHECK(lapic_msr_read(&l, 0x802, &v) && v == 1);
    CHECK(!lapic_set_base(&l, LAPIC_DEFAULT_BASE | APIC_BASE_EN, mask)); /* x2APIC -> xAPIC */
    CHECK(lapic_msr_write(&l, 0x80f, 0x1ff));
    CHECK(lapic_set_base(&l, LAPIC_DEFAULT_BASE, mask)); /* disable: reset */
    CHECK(lapic_set_base(&l, LAPIC_DEFAULT_BASE | APIC_BASE_EN, mask));
    CHECK_EQ(lapic_mmio_read(&l, 0xf0), 0xff);
    CHECK_EQ(lapic_mmio_read(&l, 0x20), 1u << 24); /* the ID survives */
    /* x2APIC ICR: one 64-bit write sends with the destination in 63:32 */
    CHECK(lapic_set_base(&l, LAPIC_DEFAULT_BASE | APIC_BASE_EN | APIC_BASE_EXTD, mask));
    ipis = 0;
    CHECK(lapic_msr_write(&l, 0x830, (7ull << 32) | 0x4031));
    CHECK(ipis == 1 && last_dest == 7 && (last_icr & 0xff) == 0x31);
    CHECK(!lapic_msr_write(&l, 0x80b, 1)); /* EOI with a value: #GP */
}

UNIT_TEST(lapic_timer)
{
    struct vclock clk = {1000};
    struct lapic l;
    lapic_init(&l, 0, true, &clk, &ops, NULL);
    lapic_mmio_write(&l, 0xf0, 0x1ff);
    lapic_mmio_write(&l, 0x3e0, 0x1);               /* divide by 4 */
    lapic_mmio_write(&l, 0x320, 0x40 | (1u << 17)); /* periodic */
    lapic_mmio_write(&l, 0x380, 250);               /* 1000 bus clocks = 10 us */
    CHECK_EQ(lapic_deadline(&l), 11000);
    clk.ns = 6000;
    CHECK_EQ(lapic_mmio_read(&l, 0x390), 125);
    clk.ns = 11000;
    lapic_advance(&l);
    CHECK_EQ(lapic_pending(&l), 0x40);
    CHECK_EQ(lapic_deadline(&l), 21000);
    /* one-shot: expires once, the count stays 0 */
    lapic_mmio_write(&l, 0x320, 0x41);
    lapic_mmio_write(&l, 0x380, 10);
    CHECK_EQ(lapic_deadline(&l), 11000 + 400);
    clk.ns = 20000;
    lapic_advance(&l);
    CHECK_EQ(lapic_deadline(&l), UINT64_MAX);
    CHECK_EQ(lapic_mmio_read(&l, 0x390), 0);
    /* TSC-deadline mode ignores the initial count */
    lapic_mmio_write(&l, 0x320, 0x42 | (2u << 17));
    lapic_mmio_write(&l, 0x380, 10);
    CHECK_EQ(lapic_deadline(&l), UINT64_MAX);
    lapic_set_tsc_deadline(&l, 123456, 30000);
    CHECK_EQ(lapic_deadline(&l), 30000);
}

static int msgs;
static uint8_t msg_vec;
static bool msg_level;
static void deliver(void *o, uint32_t dest, bool logical, uint32_t dm, uint8_t vec, bool level)
{
    (void)o, (void)dest, (void)logical, (void)dm;
    msgs++;
    msg_vec = vec;
    msg_level = level;
}

static void redir(struct ioapic *s, int pin, uint32_t lo)
{
    ioapic_ops.write(s, 0, 4, 0x10 + 2 * (uint64_t)pin);
    ioapic_ops.write(s, 0x10, 4, lo);
}

UNIT_TEST(ioapic_level_and_edge)
{
    struct ioapic s;
    ioapic_init(&s, 2, deliver, NULL);
    msgs = 0;
    ioapic_set_irq(&s, 4, 1); /* masked edge: ignored */
    redir(&s, 4, 0x31);
    CHECK_EQ(msgs, 0);
    ioapic_set_irq(&s, 4, 0);
    ioapic_set_irq(&s, 4, 1);
    CHECK(msgs == 1 && msg_vec == 0x31 && !msg_level);
    /* level: one message until EOI; re-sent if still asserted */
    redir(&s, 9, 0x52 | (1u << 15));
    ioapic_set_irq(&s, 9, 1);
    CHECK(msgs == 2 && msg_vec == 0x52 && msg_level);
    ioapic_set_irq(&s, 9, 1);
    CHECK_EQ(msgs, 2);
    ioapic_ops.write(&s, 0, 4, 0x10 + 18);
    CHECK(ioapic_ops.read(&s, 0x10, 4) & (1u << 14)); /* remote IRR */
    ioapic_eoi(&s, 0x52);
    CHECK_EQ(msgs, 3);
    ioapic_set_irq(&s, 9, 0);
    ioapic_eoi(&s, 0x52);
    CHECK_EQ(msgs, 3);
    CHECK_EQ(ioapic_ops.read(&s, 0x10, 4) & (1u << 14), 0);
}

int main(void)
{
    UNIT_RUN(lapic_priorities_and_eoi);
    UNIT_RUN(lapic_destinations);
    UNIT_RUN(lapic_base_transitions);
    UNIT_RUN(lapic_timer);
    UNIT_RUN(ioapic_level_and_edge);
    UNIT_DONE();
}
