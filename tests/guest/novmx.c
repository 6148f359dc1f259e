/* nvmx-args: -cpu max,-vmx
 *
 * VMX as seen by a guest to which it is not offered (CPUID.1:ECX.VMX = 0):
 * every VMX instruction is #UD, CR4.VMXE reads 0 and cannot be set (#GP),
 * and IA32_FEATURE_CONTROL / IA32_VMX_BASIC do not exist (#GP). L0 runs
 * the guest in VMX non-root operation with CR4.VMXE = 1 in reality, so this
 * checks L0's virtualization of all of that. */
#include "guest.h"

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t a = 1, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    if (c & (1u << 5)) {
        SKIP("this CPU offers VMX", "no_vmx_offered");
        return;
    }
    CHECK(!(read_cr4() & (1ull << 13)), "cr4_vmxe_reads_0");
    if (running_on_qemu()) {
        /* QEMU 7.2 TCG without VMX does not fault on CR4.VMXE (and the
         * guest then hangs): the SDM says #GP when VMX is not supported */
        SKIP("QEMU accepts CR4.VMXE without VMX", "cr4_vmxe_set_gp");
    } else {
        CHECK_EXC(cr4_set(1ull << 13), GP_VECTOR, 0, "cr4_vmxe_set_gp");
        CHECK(!(read_cr4() & (1ull << 13)), "cr4_vmxe_still_0");
    }

    static uint64_t region[512] ALIGNED(4096);
    uint64_t pa = (uint64_t)region, field = 0, val = 0;
    CHECK_EXC(__asm__ volatile("vmcall"), UD_VECTOR, 0, "vmcall_ud");
    CHECK_EXC(__asm__ volatile("vmxon %0" ::"m"(pa)), UD_VECTOR, 0, "vmxon_ud");
    CHECK_EXC(__asm__ volatile("vmclear %0" ::"m"(pa)), UD_VECTOR, 0, "vmclear_ud");
    CHECK_EXC(__asm__ volatile("vmptrld %0" ::"m"(pa)), UD_VECTOR, 0, "vmptrld_ud");
    CHECK_EXC(__asm__ volatile("vmptrst %0" : "=m"(pa)), UD_VECTOR, 0, "vmptrst_ud");
    CHECK_EXC(__asm__ volatile("vmread %1, %0" : "=r"(val) : "r"(field)), UD_VECTOR, 0, "vmread_ud");
    CHECK_EXC(__asm__ volatile("vmwrite %1, %0" ::"r"(field), "r"(val)), UD_VECTOR, 0, "vmwrite_ud");
    CHECK_EXC(__asm__ volatile("vmlaunch"), UD_VECTOR, 0, "vmlaunch_ud");
    CHECK_EXC(__asm__ volatile("vmresume"), UD_VECTOR, 0, "vmresume_ud");
    CHECK_EXC(__asm__ volatile("vmxoff"), UD_VECTOR, 0, "vmxoff_ud");
    uint64_t desc[2] = { 0, 0 };
    CHECK_EXC(__asm__ volatile("invept %0, %1" ::"m"(desc), "r"(1ull)), UD_VECTOR, 0, "invept_ud");
    CHECK_EXC(__asm__ volatile("invvpid %0, %1" ::"m"(desc), "r"(1ull)), UD_VECTOR, 0, "invvpid_ud");
    /* the VMX MSRs are absent without VMX (SDM Vol. 4: IA32_FEATURE_CONTROL
     * needs CPUID.1:ECX.VMX or SMX, IA32_VMX_BASIC needs VMX) */
    if (running_on_qemu()) {
        SKIP("QEMU implements the VMX MSRs regardless of CPUID", "vmx_msrs_gp");
        return;
    }
    CHECK_EXC(rdmsr(0x3a), GP_VECTOR, 0, "feature_control_gp");
    CHECK_EXC(rdmsr(0x480), GP_VECTOR, 0, "vmx_basic_gp");
}
