/* Nested VMX, first steps: VMX as offered to L1 (CPUID, IA32_FEATURE_CONTROL,
 * CR4.VMXE), VMXON, a VMCS for a 64-bit L2, VMLAUNCH, reflected CPUID and
 * VMCALL exits with L2's registers, VMRESUME, and VMXOFF. */
#include "vmx.h"

static void l2_main(void)
{
    uint32_t a = 0x12345678, b, c = 7, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    /* L1 answered with a = leaf + 1, b = 0xb0b, c = subleaf, d = 0xd0d */
    uint64_t ok = a == 0x12345679 && b == 0xb0b && c == 7 && d == 0xd0d;
    __asm__ volatile("vmcall" ::"a"(ok), "b"(0x600d));
    for (;;)
        __asm__ volatile("vmcall" ::"a"(99));
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!CHECK(vmx_offered(), "cpuid_vmx"))
        return;
    CHECK_EQ(rdmsr(0x3a) & 5, 5, "feature_control_locked_vmxon_enabled");
    CHECK_EQ(rdmsr(0x480) >> 55 & 1, 1, "basic_true_ctls");
    CHECK_EQ((rdmsr(0x480) >> 32) & 0x1fff, 4096, "basic_region_size");
    write_cr4(read_cr4() | (1ull << 13));
    CHECK(read_cr4() & (1ull << 13), "cr4_vmxe_set");
    CHECK_EQ(vmxon(vmx_new_region()), VMX_OK, "vmxon");
    CHECK_EXC(write_cr4(read_cr4() & ~(1ull << 13)), GP_VECTOR, 0, "cr4_vmxe_clear_in_vmx_gp");

    uint64_t vmcs = vmx_setup_vmcs(l2_main);
    uint64_t cur = 0;
    CHECK_EQ(vmptrst(&cur), VMX_OK, "vmptrst_ok");
    CHECK_EQ(cur, vmcs, "vmptrst_value");
    CHECK_EQ(vmxon(vmx_new_region()), VMX_FAIL_VALID, "vmxon_in_root_fails");
    CHECK_EQ(vmread(VM_INSTR_ERROR), 15, "vmxon_in_root_error_15");

    int r = vmx_run();
    CHECK_EQ(r, VMX_OK, "vmlaunch");
    CHECK_EQ(vmread(EXIT_REASON), 10, "exit_cpuid");
    CHECK_EQ(vmread(EXIT_INSTR_LEN), 2, "exit_cpuid_len");
    CHECK_EQ(vmx_l2_regs.rax, 0x12345678, "l2_rax_at_exit");
    CHECK_EQ(vmx_l2_regs.rcx, 7, "l2_rcx_at_exit");
    vmx_l2_regs.rax = 0x12345679;
    vmx_l2_regs.rbx = 0xb0b;
    vmx_l2_regs.rdx = 0xd0d;
    vmx_skip();
    r = vmx_run();
    CHECK_EQ(r, VMX_OK, "vmresume");
    CHECK_EQ(vmread(EXIT_REASON), 18, "exit_vmcall");
    CHECK_EQ(vmx_l2_regs.rbx, 0x600d, "l2_rbx_vmcall");
    CHECK_EQ(vmx_l2_regs.rax, 1, "l2_saw_cpuid_emulation");
    /* VMLAUNCH of a launched VMCS: VMfailValid(4) */
    vmx_launched = 0;
    CHECK_EQ(vmx_run(), VMX_FAIL_VALID, "vmlaunch_launched_fails");
    CHECK_EQ(vmread(VM_INSTR_ERROR), 4, "vmlaunch_launched_error_4");
    CHECK_EQ(vmclear(vmcs), VMX_OK, "vmclear");
    CHECK_EQ(vmptrst(&cur), VMX_OK, "vmptrst_after_clear");
    CHECK_EQ(cur, ~0ull, "vmptrst_none");
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
