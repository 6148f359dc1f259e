/* Unit tests of VMCS field access by encoding (SDM 25.11.2). */
#include "cpu/vmcs.h"
#include "unit.h"

UNIT_TEST(vmcs_widths_truncate)
{
    struct vmcs v;
    vmcs_clear(&v, 1);
    uint64_t x;
    CHECK_EQ(vmcs_write_encoded(&v, VMCS_GUEST_CS_SELECTOR, 0x123456789ull, false), 0);
    CHECK_EQ(vmcs_read_encoded(&v, VMCS_GUEST_CS_SELECTOR, &x), 0);
    CHECK_EQ(x, 0x6789);
    CHECK_EQ(vmcs_write_encoded(&v, VMCS_GUEST_CS_LIMIT, 0x1ffffffffull, false), 0);
    CHECK_EQ(vmcs_read_encoded(&v, VMCS_GUEST_CS_LIMIT, &x), 0);
    CHECK_EQ(x, 0xffffffff);
    CHECK_EQ(vmcs_write_encoded(&v, VMCS_GUEST_RIP, 0xfedcba9876543210ull, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), 0xfedcba9876543210ull);
}

UNIT_TEST(vmcs_high_access)
{
    struct vmcs v;
    vmcs_clear(&v, 1);
    uint64_t x;
    CHECK_EQ(vmcs_write_encoded(&v, VMCS_TSC_OFFSET, 0x1111111122222222ull, false), 0);
    CHECK_EQ(vmcs_write_encoded(&v, VMCS_TSC_OFFSET + 1, 0x33333333, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_TSC_OFFSET), 0x3333333322222222ull);
    CHECK_EQ(vmcs_read_encoded(&v, VMCS_TSC_OFFSET + 1, &x), 0);
    CHECK_EQ(x, 0x33333333);
    /* "high" access to a natural-width or 32-bit field is unsupported */
    CHECK_EQ(vmcs_read_encoded(&v, VMCS_GUEST_RIP + 1, &x), 12);
    CHECK_EQ(vmcs_read_encoded(&v, VMCS_GUEST_CS_LIMIT + 1, &x), 12);
}

UNIT_TEST(vmcs_bad_encodings)
{
    struct vmcs v;
    vmcs_clear(&v, 1);
    uint64_t x;
    CHECK_EQ(vmcs_read_encoded(&v, 0x1000, &x), 12); /* bit 12 reserved */
    CHECK_EQ(vmcs_read_encoded(&v, 0x100000000ull | VMCS_GUEST_RIP, &x), 12);
    CHECK_EQ(vmcs_read_encoded(&v, 0x0c7e, &x), 12); /* no such host field */
    CHECK_EQ(vmcs_write_encoded(&v, VMCS_EXIT_REASON, 1, false), 13);
    CHECK_EQ(vmcs_write_encoded(&v, VMCS_EXIT_REASON, 1, true), 0);
}

int main(void)
{
    UNIT_RUN(vmcs_widths_truncate);
    UNIT_RUN(vmcs_high_access);
    UNIT_RUN(vmcs_bad_encodings);
    UNIT_DONE();
}
