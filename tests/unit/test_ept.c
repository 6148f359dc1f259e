/* Unit tests of the hardware EPT walker (SDM 29.3). */
#include <string.h>

#include "cpu/cpu_internal.h"
#include "cpu/ept.h"
#include "unit.h"

#define PML4 0x10000ull
#define PDPT 0x11000ull
#define PD 0x12000ull
#define PT 0x13000ull
#define EPTP (PML4 | (3ull << 3) | 6)

static struct physmem pm;

static void w64(uint64_t pa, uint64_t v)
{
    physmem_write(&pm, pa, &v, 8);
}

static uint64_t r64(uint64_t pa)
{
    uint64_t v = 0;
    physmem_read(&pm, pa, &v, 8);
    return v;
}

/* gpa 0x40000000 (PML4[0] PDPT[1]) -> PD -> PT[0] -> host 0x200000, RW;
 * gpa 0x40200000 is a 2 MiB page -> host 0x400000, execute-only;
 * PDPT[2] is a 1 GiB page (host 0), RWX. */
static void build(void)
{
    memset(pm.arena, 0, pm.ram_size);
    w64(PML4, PDPT | 7);
    w64(PDPT + 8, PD | 7);
    w64(PD, PT | 7);
    w64(PT, 0x200000 | (6 << 3) | 3);
    w64(PD + 8, 0x400000 | (6 << 3) | (1 << 7) | 4);
    w64(PDPT + 16, 0x0 | (6 << 3) | (1 << 7) | 7);
}

UNIT_TEST(ept_4k_translation)
{
    build();
    struct ept_result r;
    ept_translate(&pm, EPTP, 0x40000123, EPT_READ, &r);
    CHECK_EQ(r.outcome, EPT_OK);
    CHECK_EQ(r.hpa, 0x200123);
    CHECK_EQ(r.memtype, 6);
    CHECK_EQ(r.perms, EPT_READ | EPT_WRITE);
}

UNIT_TEST(ept_large_pages)
{
    build();
    struct ept_result r;
    ept_translate(&pm, EPTP, 0x40212345, EPT_EXEC, &r);
    CHECK_EQ(r.outcome, EPT_OK);
    CHECK_EQ(r.hpa, 0x412345);
    CHECK_EQ(r.page_mask, 0x1fffff);
    ept_translate(&pm, EPTP, 0x80000000ull + 0x1234567, EPT_WRITE, &r);
    CHECK_EQ(r.outcome, EPT_OK);
    CHECK_EQ(r.hpa, 0x1234567);
}

UNIT_TEST(ept_violation_qualification)
{
    build();
    struct ept_result r;
    /* write to a read/write page: fine; fetch from it: violation, bits
     * 2 (fetch) and 3,4 (readable, writable) */
    ept_translate(&pm, EPTP, 0x40000000, EPT_EXEC, &r);
    CHECK_EQ(r.outcome, EPT_VIOLATION);
    CHECK_EQ(r.qualification, 0x4 | 0x8 | 0x10);
    /* read of the execute-only page */
    ept_translate(&pm, EPTP, 0x40200000, EPT_READ, &r);
    CHECK_EQ(r.outcome, EPT_VIOLATION);
    CHECK_EQ(r.qualification, 0x1 | 0x20);
    /* not present at the PDPT level */
    ept_translate(&pm, EPTP, 0xc0000000ull, EPT_WRITE, &r);
    CHECK_EQ(r.outcome, EPT_VIOLATION);
    CHECK_EQ(r.qualification, 0x2);
}

UNIT_TEST(ept_misconfigurations)
{
    struct ept_result r;
    build();
    w64(PT, 0x200000 | (6 << 3) | 2); /* write-only */
    ept_translate(&pm, EPTP, 0x40000000, EPT_READ, &r);
    CHECK_EQ(r.outcome, EPT_MISCONFIG);
    build();
    w64(PT, 0x200000 | (2 << 3) | 3); /* memory type 2 is reserved */
    ept_translate(&pm, EPTP, 0x40000000, EPT_READ, &r);
    CHECK_EQ(r.outcome, EPT_MISCONFIG);
    build();
    w64(PD + 8, 0x400000 | (1 << 12) | (6 << 3) | (1 << 7) | 7); /* 2M page, bit 12 set */
    ept_translate(&pm, EPTP, 0x40200000, EPT_READ, &r);
    CHECK_EQ(r.outcome, EPT_MISCONFIG);
    build();
    w64(PML4, PDPT | 7 | (1ull << 45)); /* beyond MAXPHYADDR */
    ept_translate(&pm, EPTP, 0x40000000, EPT_READ, &r);
    CHECK_EQ(r.outcome, EPT_MISCONFIG);
    build();
    w64(PML4, 0x7fff000000ull | 7); /* table outside RAM */
    ept_translate(&pm, EPTP, 0x40000000, EPT_READ, &r);
    CHECK_EQ(r.outcome, EPT_MISCONFIG);
}

UNIT_TEST(ept_accessed_dirty)
{
    build();
    struct ept_result r;
    ept_translate(&pm, EPTP | EPTP_AD, 0x40000000, EPT_READ, &r);
    CHECK_EQ(r.outcome, EPT_OK);
    CHECK(r64(PML4) & (1 << 8));
    CHECK(r64(PT) & (1 << 8));
    CHECK(!(r64(PT) & (1 << 9)));
    ept_translate(&pm, EPTP | EPTP_AD, 0x40000000, EPT_WRITE, &r);
    CHECK(r64(PT) & (1 << 9));
    /* without the EPTP A/D bit nothing is written */
    build();
    ept_translate(&pm, EPTP, 0x40000000, EPT_WRITE, &r);
    CHECK(!(r64(PT) & (1 << 8)));
}

UNIT_TEST(eptp_validity)
{
    CHECK(ept_eptp_valid(EPTP, true));
    CHECK(ept_eptp_valid(PML4 | (3 << 3), false));
    CHECK(!ept_eptp_valid(PML4 | (3 << 3) | 1, true)); /* WC */
    CHECK(!ept_eptp_valid(PML4 | (4 << 3) | 6, true)); /* 5-level */
    CHECK(!ept_eptp_valid(EPTP | EPTP_AD, false));
    CHECK(!ept_eptp_valid(EPTP | (1ull << 50), true));
}

int main(void)
{
    if (physmem_init(&pm, 16 << 20)) {
        printf("FAIL: ept (physmem_init)\n");
        return 1;
    }
    UNIT_RUN(ept_4k_translation);
    UNIT_RUN(ept_large_pages);
    UNIT_RUN(ept_violation_qualification);
    UNIT_RUN(ept_misconfigurations);
    UNIT_RUN(ept_accessed_dirty);
    UNIT_RUN(eptp_validity);
    physmem_destroy(&pm);
    UNIT_DONE();
}
