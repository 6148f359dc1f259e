/* nvmx-args: -smp 2
 *
 * The firmware tables a kernel looks for, found the way a kernel finds
 * them: the MP floating pointer and configuration table (MP spec 1.4,
 * 4.1-4.3) and the ACPI RSDP in 0xe0000-0xfffff (ACPI 5.2.5.1), RSDT,
 * XSDT, MADT, FADT, FACS, DSDT with valid checksums; the MADT's CPUs,
 * I/O APIC and IRQ 0 override agree with the hardware; the ACPI PM timer
 * at the FADT's port counts at 3.579545 MHz of virtual time. */
#include "guest.h"

static uint8_t sum(const void *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + ((const uint8_t *)p)[i]);
    return s;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static const uint8_t *scan(const char *sig, size_t len)
{
    for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
        if (!memcmp((const void *)a, sig, len))
            return (const uint8_t *)a;
    return NULL;
}

static void test_mp(int ncpus)
{
    const uint8_t *f = scan("_MP_", 4);
    CHECK(f != NULL, "mp_floating_pointer_found");
    if (!f)
        return;
    CHECK_EQ(sum(f, 16), 0, "mp_floating_checksum");
    const uint8_t *t = (const uint8_t *)(uint64_t)rd32(f + 4);
    CHECK(!memcmp(t, "PCMP", 4), "mp_config_signature");
    uint16_t len = (uint16_t)(t[4] | t[5] << 8);
    CHECK_EQ(sum(t, len), 0, "mp_config_checksum");
    CHECK_EQ(rd32(t + 36), 0xfee00000u, "mp_lapic_address");
    int cpus = 0, ioapics = 0, bsp = -1, irq0_pin = -1;
    const uint8_t *e = t + 44;
    for (int i = 0; i < (t[34] | t[35] << 8); i++) {
        switch (e[0]) {
        case 0:
            cpus++;
            if (e[3] & 2)
                bsp = e[1];
            e += 20;
            break;
        case 2:
            ioapics++;
            CHECK_EQ(rd32(e + 4), 0xfec00000u, "mp_ioapic_address");
            e += 8;
            break;
        case 3:
            if (e[5] == 0)
                irq0_pin = e[7];
            e += 8;
            break;
        default:
            e += 8;
            break;
        }
    }
    CHECK_EQ(cpus, ncpus, "mp_processor_entries");
    CHECK_EQ(bsp, 0, "mp_bsp_apic_id_0");
    CHECK_EQ(ioapics, 1, "mp_one_ioapic");
    CHECK_EQ(irq0_pin, 2, "mp_irq0_on_pin2");
}

static const uint8_t *fadt, *madt;

static void test_acpi(int ncpus)
{
    const uint8_t *r = scan("RSD PTR ", 8);
    CHECK(r != NULL, "rsdp_found");
    if (!r)
        return;
    CHECK_EQ(sum(r, 20), 0, "rsdp_checksum");
    CHECK_EQ(r[15], 2, "rsdp_revision_2");
    CHECK_EQ(sum(r, 36), 0, "rsdp_extended_checksum");
    const uint8_t *rsdt = (const uint8_t *)(uint64_t)rd32(r + 16);
    const uint8_t *xsdt = (const uint8_t *)rd64(r + 24);
    CHECK(!memcmp(rsdt, "RSDT", 4) && sum(rsdt, rd32(rsdt + 4)) == 0, "rsdt_valid");
    CHECK(!memcmp(xsdt, "XSDT", 4) && sum(xsdt, rd32(xsdt + 4)) == 0, "xsdt_valid");
    int n = (int)(rd32(xsdt + 4) - 36) / 8;
    for (int i = 0; i < n; i++) {
        const uint8_t *t = (const uint8_t *)rd64(xsdt + 36 + 8 * i);
        CHECK_EQ(sum(t, rd32(t + 4)), 0, "table_%d_checksum", i);
        CHECK_EQ(rd32(rsdt + 36 + 4 * i), (uint64_t)t, "rsdt_xsdt_agree_%d", i);
        if (!memcmp(t, "FACP", 4))
            fadt = t;
        if (!memcmp(t, "APIC", 4))
            madt = t;
    }
    CHECK(fadt && madt, "fadt_and_madt_listed");
    if (!fadt || !madt)
        return;
    const uint8_t *dsdt = (const uint8_t *)rd64(fadt + 140);
    CHECK(!memcmp(dsdt, "DSDT", 4) && sum(dsdt, rd32(dsdt + 4)) == 0, "dsdt_valid");
    const uint8_t *facs = (const uint8_t *)rd64(fadt + 132);
    CHECK(!memcmp(facs, "FACS", 4) && rd32(facs + 4) == 64, "facs_valid");
    CHECK_EQ(rd32(fadt + 76), 0x608, "fadt_pm_timer_port");
    CHECK_EQ(fadt[91], 4, "fadt_pm_timer_len");

    CHECK_EQ(rd32(madt + 36), 0xfee00000u, "madt_lapic_address");
    int cpus = 0, ioapic_id = -1, irq0_gsi = -1;
    for (uint32_t off = 44; off < rd32(madt + 4); off += madt[off + 1]) {
        const uint8_t *e = madt + off;
        if (e[0] == 0 && (rd32(e + 4) & 1)) {
            CHECK_EQ(e[3], cpus, "madt_apic_id_%d", cpus);
            cpus++;
        } else if (e[0] == 1) {
            ioapic_id = e[2];
            CHECK_EQ(rd32(e + 4), 0xfec00000u, "madt_ioapic_address");
        } else if (e[0] == 2 && e[3] == 0) {
            irq0_gsi = (int)rd32(e + 4);
        }
    }
    CHECK_EQ(cpus, ncpus, "madt_cpus");
    volatile uint32_t *io = (volatile uint32_t *)0xfec00000ull;
    io[0] = 0;
    CHECK_EQ(ioapic_id, io[4] >> 24, "madt_ioapic_id_matches_hardware");
    CHECK_EQ(irq0_gsi, 2, "madt_irq0_override_gsi2");
}

static uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void test_pm_timer(void)
{
    uint32_t a = inl(0x608) & 0xffffff;
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < 2000000)
        ;
    uint32_t b = inl(0x608) & 0xffffff;
    uint64_t t1 = rdtsc();
    uint64_t ticks = (b - a) & 0xffffff, ns = t1 - t0;
    /* 2 ms at 3.579545 MHz: about 7159 ticks */
    uint64_t want = ns * 3579545ull / 1000000000ull;
    CHECK(ticks + 20 >= want && ticks <= want + 20, "pm_timer_3_58mhz");
    if (!(ticks + 20 >= want && ticks <= want + 20))
        gprintf("  %lu ticks in %lu ns\n", ticks, ns);
    CHECK_EQ(inl(0x608) >> 24, 0, "pm_timer_24_bits");
    CHECK_EQ(inb(0x604) & 1, 1, "sci_en_set");
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    int ncpus = (int)((cpuid(1, 0).b >> 16) & 0xff);
    test_mp(ncpus);
    test_acpi(ncpus);
    test_pm_timer();
}
