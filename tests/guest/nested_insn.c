/* The VMX instructions as L0 emulates them for L1, with their failure
 * modes (SDM Vol. 3C chapter 31, Operation sections; VM-instruction error
 * numbers from SDM 31.4): #UD outside VMX operation, #GP at CPL 3,
 * VMfailInvalid without a current VMCS, VMfailValid with the right error,
 * register and memory operands of VMREAD/VMWRITE, field widths, read-only
 * fields, INVEPT/INVVPID types and descriptors. */
#include "vmx.h"

static uint64_t USER_TEXT user_vmxoff(uint64_t x)
{
    __asm__ volatile("vmxoff" ::: "cc");
    return x;
}

static uint64_t USER_TEXT user_vmread(uint64_t x)
{
    uint64_t v;
    __asm__ volatile("vmread %1, %0" : "=r"(v) : "r"(x) : "cc");
    return v;
}

static uint64_t cur_error(void)
{
    return vmread(VM_INSTR_ERROR);
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!vmx_offered()) {
        SKIP("VMX is not offered", "vmx_offered");
        return;
    }
    uint64_t region = vmx_new_region();
    /* outside VMX operation */
    CHECK_EXC(vmxon(region), UD_VECTOR, 0, "vmxon_without_cr4_vmxe_ud");
    write_cr4(read_cr4() | (1ull << 13));
    CHECK_EXC(vmxoff(), UD_VECTOR, 0, "vmxoff_outside_vmx_ud");
    CHECK_EXC(vmclear(region), UD_VECTOR, 0, "vmclear_outside_vmx_ud");
    uint64_t v;
    CHECK_EXC(vmread_checked(GUEST_RIP, &v), UD_VECTOR, 0, "vmread_outside_vmx_ud");
    /* VMXON operand checks: VMfailInvalid (SDM 31.3 VMXON) */
    CHECK_EQ(vmxon(region + 8), VMX_FAIL_INVALID, "vmxon_unaligned");
    CHECK_EQ(vmxon(1ull << 45), VMX_FAIL_INVALID, "vmxon_beyond_maxphyaddr");
    uint32_t *bad = alloc_page();
    bad[0] = 0x1234;
    CHECK_EQ(vmxon((uint64_t)(uintptr_t)bad), VMX_FAIL_INVALID, "vmxon_bad_revision");
    CHECK_EQ(vmxon(region), VMX_OK, "vmxon");
    CHECK_EXC(ring3_call(user_vmxoff, 0), GP_VECTOR, 0, "vmxoff_cpl3_gp");
    CHECK_EXC(ring3_call(user_vmread, GUEST_RIP), GP_VECTOR, 0, "vmread_cpl3_gp");

    /* no current VMCS: VMfailInvalid */
    CHECK_EQ(vmread_checked(GUEST_RIP, &v), VMX_FAIL_INVALID, "vmread_no_vmcs");
    CHECK_EQ(vmwrite(GUEST_RIP, 1), VMX_FAIL_INVALID, "vmwrite_no_vmcs");
    CHECK_EQ(vmx_run(), VMX_FAIL_INVALID, "vmlaunch_no_vmcs");
    CHECK_EQ(vmclear(region + 1), VMX_FAIL_INVALID, "vmclear_unaligned_no_vmcs");

    uint64_t vmcs = vmx_new_region(), vmcs2 = vmx_new_region();
    CHECK_EQ(vmptrld(vmcs), VMX_OK, "vmptrld");
    /* VMfailValid with the error numbers of SDM 31.4 */
    CHECK_EQ(vmclear(vmcs + 0x10), VMX_FAIL_VALID, "vmclear_unaligned");
    CHECK_EQ(cur_error(), 2, "vmclear_unaligned_error_2");
    CHECK_EQ(vmclear(region), VMX_FAIL_VALID, "vmclear_vmxon_ptr");
    CHECK_EQ(cur_error(), 3, "vmclear_vmxon_ptr_error_3");
    CHECK_EQ(vmptrld(vmcs2 + 8), VMX_FAIL_VALID, "vmptrld_unaligned");
    CHECK_EQ(cur_error(), 9, "vmptrld_unaligned_error_9");
    CHECK_EQ(vmptrld(region), VMX_FAIL_VALID, "vmptrld_vmxon_ptr");
    CHECK_EQ(cur_error(), 10, "vmptrld_vmxon_ptr_error_10");
    CHECK_EQ(vmptrld((uint64_t)(uintptr_t)bad), VMX_FAIL_VALID, "vmptrld_bad_revision");
    CHECK_EQ(cur_error(), 11, "vmptrld_bad_revision_error_11");
    CHECK_EQ(vmread_checked(0x6001, &v), VMX_FAIL_VALID, "vmread_unsupported_field");
    CHECK_EQ(cur_error(), 12, "vmread_unsupported_error_12");
    CHECK_EQ(vmwrite(0xffff, 0), VMX_FAIL_VALID, "vmwrite_unsupported_field");
    CHECK_EQ(cur_error(), 12, "vmwrite_unsupported_error_12");
    CHECK_EQ(vmwrite(EXIT_REASON, 5), VMX_FAIL_VALID, "vmwrite_read_only");
    CHECK_EQ(cur_error(), 13, "vmwrite_read_only_error_13");
    vmx_launched = 1;
    CHECK_EQ(vmx_run(), VMX_FAIL_VALID, "vmresume_not_launched");
    CHECK_EQ(cur_error(), 5, "vmresume_not_launched_error_5");
    CHECK_EQ(vmxon(region), VMX_FAIL_VALID, "vmxon_in_root");
    CHECK_EQ(cur_error(), 15, "vmxon_in_root_error_15");
    {
        uint64_t f;
        __asm__ volatile("vmcall; pushfq; popq %0" : "=r"(f)::"cc", "memory");
        CHECK_EQ(vmx_flags_result(f), VMX_FAIL_VALID, "vmcall_in_root");
        CHECK_EQ(cur_error(), 1, "vmcall_in_root_error_1");
    }

    /* field widths (SDM 25.11.2): 16-bit, 32-bit, 64-bit, natural;
     * "high" access to a 64-bit field */
    CHECK_EQ(vmwrite(GUEST_ES_SEL, 0x12345), VMX_OK, "vmwrite_16");
    CHECK_EQ(vmread(GUEST_ES_SEL), 0x2345, "vmread_16_truncated");
    CHECK_EQ(vmwrite(GUEST_ES_LIMIT, 0x1234567890ull), VMX_OK, "vmwrite_32");
    CHECK_EQ(vmread(GUEST_ES_LIMIT), 0x34567890, "vmread_32_truncated");
    CHECK_EQ(vmwrite(TSC_OFFSET, 0x1122334455667788ull), VMX_OK, "vmwrite_64");
    CHECK_EQ(vmread(TSC_OFFSET + 1), 0x11223344, "vmread_64_high");
    CHECK_EQ(vmwrite(TSC_OFFSET + 1, 0xaabbccdd), VMX_OK, "vmwrite_64_high");
    CHECK_EQ(vmread(TSC_OFFSET), 0xaabbccdd55667788ull, "vmwrite_64_high_keeps_low");
    CHECK_EQ(vmwrite(GUEST_RIP, 0xfedcba9876543210ull), VMX_OK, "vmwrite_natural");
    CHECK_EQ(vmread(GUEST_RIP), 0xfedcba9876543210ull, "vmread_natural");
    /* memory operands (through L1's paging) */
    static volatile uint64_t mem_val = 0x0badc0de;
    uint64_t f, field = GUEST_RSP;
    __asm__ volatile("vmwrite %1, %2; pushfq; popq %0"
                     : "=r"(f)
                     : "m"(mem_val), "r"(field)
                     : "cc", "memory");
    CHECK_EQ(vmx_flags_result(f), VMX_OK, "vmwrite_mem");
    CHECK_EQ(vmread(GUEST_RSP), 0x0badc0de, "vmwrite_mem_value");
    vmwrite(GUEST_RSP, 0x5151);
    __asm__ volatile("vmread %2, %1; pushfq; popq %0"
                     : "=r"(f), "=m"(mem_val)
                     : "r"(field)
                     : "cc", "memory");
    CHECK_EQ(vmx_flags_result(f), VMX_OK, "vmread_mem");
    CHECK_EQ(mem_val, 0x5151, "vmread_mem_value");
    /* a memory operand on an unmapped page: #PF for L1 */
    map_page(0x40000000, 0, 0);
    unmap_page(0x40000000);
    {
        uint64_t *unmapped = (uint64_t *)0x40000000;
        int got = EXPECT_EXC(__asm__ volatile("vmptrst %0" : "=m"(*unmapped)::"cc"));
        CHECK_EQ(got, PF_VECTOR, "vmptrst_to_unmapped_pf");
        CHECK_EQ(exc_last.cr2, 0x40000000, "vmptrst_pf_cr2");
        CHECK_EQ(exc_last.error_code, 2, "vmptrst_pf_write_error_code");
    }

    /* VMPTRLD of another VMCS writes the first back to memory; VMCLEAR
     * clears the launch state */
    CHECK_EQ(vmptrld(vmcs2), VMX_OK, "vmptrld_second");
    CHECK_EQ(vmread(GUEST_RIP), 0, "second_vmcs_fresh");
    CHECK_EQ(vmptrld(vmcs), VMX_OK, "vmptrld_first_again");
    CHECK_EQ(vmread(GUEST_RIP), 0xfedcba9876543210ull, "first_vmcs_kept_its_fields");

    /* INVEPT / INVVPID (SDM 31.3): types and descriptors, error 28 */
    CHECK_EQ(invept(2, 0), VMX_OK, "invept_all");
    CHECK_EQ(invept(3, 0), VMX_FAIL_VALID, "invept_bad_type");
    CHECK_EQ(cur_error(), 28, "invept_bad_type_error_28");
    CHECK_EQ(invept(1, 0x1234), VMX_FAIL_VALID, "invept_single_bad_eptp");
    CHECK_EQ(invept(1, vmx_ept_identity()), VMX_OK, "invept_single");
    CHECK_EQ(invvpid(2, 0, 0), VMX_OK, "invvpid_all");
    CHECK_EQ(invvpid(1, 0, 0), VMX_FAIL_VALID, "invvpid_single_vpid0");
    CHECK_EQ(cur_error(), 28, "invvpid_vpid0_error_28");
    CHECK_EQ(invvpid(0, 1, 0x8000000000000000ull), VMX_FAIL_VALID, "invvpid_noncanonical");
    CHECK_EQ(invvpid(0, 1, 0x1000), VMX_OK, "invvpid_address");
    CHECK_EQ(invvpid(4, 1, 0), VMX_FAIL_VALID, "invvpid_bad_type");

    CHECK_EQ(vmclear(vmcs), VMX_OK, "vmclear");
    CHECK_EQ(vmread_checked(GUEST_RIP, &v), VMX_FAIL_INVALID, "vmread_after_vmclear");
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
    CHECK_EXC(vmxoff(), UD_VECTOR, 0, "vmxoff_twice_ud");
    CHECK_NO_EXC(write_cr4(read_cr4() & ~(1ull << 13)), "cr4_vmxe_clear_after_vmxoff");
}
