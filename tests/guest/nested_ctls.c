/* VM-entry/VM-exit controls and guest-state features as L1 uses them, run
 * by the hardware through vmcs02: load/save IA32_PAT, IA32_EFER and the
 * debug controls, the host state L1 gets back, virtual NMIs with
 * NMI-window exiting, an L2 in real mode under "unrestricted guest" (with
 * EPT12), PAUSE-loop exiting and TSC scaling. */
#include "vmx.h"

static uint8_t l2_stack[8192] ALIGNED(16);

__asm__(
    ".text\n"
    "c_pat: mov $0x277, %ecx; rdmsr; shl $32, %rdx; or %rax, %rdx; mov %rdx, %rbx\n"
    "  mov $0x0006060606060606, %rax; mov %rax, %rdx; shr $32, %rdx; wrmsr; mov $1, %eax; vmcall\n"
    "c_efer: mov $0xc0000080, %ecx; rdmsr; mov %rax, %rbx; or $1, %eax; wrmsr; mov $2, %eax; "
    "vmcall\n"
    "c_dr7: mov %dr7, %rbx; mov $0x500, %rax; mov %rax, %dr7; mov $3, %eax; vmcall\n"
    "c_nop: nop; mov $4, %eax; vmcall\n"
    "c_pause: pause; jmp c_pause\n"
    "c_tsc: rdtsc; shl $32, %rdx; or %rax, %rdx; mov %rdx, %rbx; mov $5, %eax; vmcall\n");
void c_pat(void), c_efer(void), c_dr7(void), c_nop(void), c_pause(void), c_tsc(void);

static uint32_t run_at(void (*f)(void))
{
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)f);
    vmwrite(GUEST_RSP, (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack)));
    return vmx_run_reason();
}

static void exit_ctls(uint32_t extra)
{
    vmx_set_ctl(EXIT_CTLS, 0x48f, EXIT_HOST_64 | EXIT_LOAD_EFER | EXIT_SAVE_EFER | extra);
}

static uint64_t read_dr7(void)
{
    uint64_t v;
    __asm__ volatile("mov %%dr7, %0" : "=r"(v));
    return v;
}

static void test_msrs_and_debug(void)
{
    uint64_t pat1 = rdmsr(0x277);
    /* PAT: loaded at entry, saved at exit, L1's loaded back */
    vmx_set_ctl(PROC_CTLS, 0x48e, CPU_MSR_BITMAP);
    vmx_set_ctl(ENTRY_CTLS, 0x490, ENTRY_GUEST_64 | ENTRY_LOAD_EFER | ENTRY_LOAD_PAT);
    exit_ctls(EXIT_SAVE_PAT | EXIT_LOAD_PAT);
    vmwrite(GUEST_PAT, 0x0007040600070406ull ^ 0x0000000100000001ull);
    vmwrite(HOST_PAT, pat1);
    CHECK_EQ(run_at(c_pat), 18, "pat_run");
    CHECK_EQ(vmx_l2_regs.rbx, 0x0007040600070406ull ^ 0x0000000100000001ull, "pat_loaded_on_entry");
    CHECK_EQ(vmread(GUEST_PAT), 0x0006060606060606ull, "pat_saved_on_exit");
    CHECK_EQ(rdmsr(0x277), pat1, "pat_host_loaded");
    /* EFER: SCE clear in L2, set by L2, saved; L1's EFER back */
    uint64_t efer1 = rdmsr(0xc0000080);
    vmwrite(GUEST_EFER, efer1 & ~1ull);
    vmwrite(HOST_EFER, efer1 | 1);
    CHECK_EQ(run_at(c_efer), 18, "efer_run");
    CHECK_EQ(vmx_l2_regs.rbx & 1, 0, "efer_loaded_on_entry");
    CHECK_EQ(vmread(GUEST_EFER) & 1, 1, "efer_saved_on_exit");
    CHECK_EQ(rdmsr(0xc0000080) & 1, 1, "efer_host_loaded");
    /* debug controls: DR7 loaded at entry, saved at exit; 400H for L1 */
    vmx_set_ctl(ENTRY_CTLS, 0x490, ENTRY_GUEST_64 | ENTRY_LOAD_EFER | (1u << 2));
    exit_ctls(1u << 2);
    vmwrite(GUEST_DR7, 0x700);
    CHECK_EQ(run_at(c_dr7), 18, "dr7_run");
    CHECK_EQ(vmx_l2_regs.rbx, 0x700, "dr7_loaded_on_entry");
    CHECK_EQ(vmread(GUEST_DR7), 0x500, "dr7_saved_on_exit");
    CHECK_EQ(read_dr7(), 0x400, "dr7_is_400h_after_exit");
    vmx_set_ctl(ENTRY_CTLS, 0x490, ENTRY_GUEST_64 | ENTRY_LOAD_EFER);
    exit_ctls(0);
    /* host state (SDM 28.5): L1 resumes with RFLAGS = 2, its selectors */
    CHECK_EQ(run_at(c_nop), 18, "host_state_run");
    CHECK_EQ(read_rflags() & ~0x8d5ull, 2, "host_rflags");
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    CHECK_EQ(cs, vmread(HOST_CS_SEL), "host_cs");
}

static void test_virtual_nmis(void)
{
    vmx_set_ctl(PIN_CTLS, 0x48d, PIN_NMI | (1u << 5));
    vmx_set_ctl(PROC_CTLS, 0x48e, 1u << 22); /* NMI-window exiting */
    vmwrite(GUEST_INTR_STATE, 0);
    CHECK_EQ(run_at(c_nop), 8, "nmi_window_exit_without_blocking");
    vmwrite(GUEST_INTR_STATE, 8); /* virtual-NMI blocking */
    CHECK_EQ(run_at(c_nop), 18, "nmi_window_blocked");
    CHECK_EQ(vmread(GUEST_INTR_STATE) & 8, 8, "virtual_nmi_blocking_saved");
    vmwrite(GUEST_INTR_STATE, 0);
    vmx_set_ctl(PROC_CTLS, 0x48e, 0);
    vmx_set_ctl(PIN_CTLS, 0x48d, 0);
}

static void test_real_mode_l2(void)
{
    if (!((rdmsr(0x48b) >> 32) & CPU2_UNRESTRICTED)) {
        SKIP("no unrestricted guest", "real_mode_l2");
        return;
    }
    /* 16-bit code at 0x7000: mov $0x1234, %ax; mov %cr0, %ebx; vmcall */
    static const uint8_t code[] = {0xb8, 0x34, 0x12, 0x0f, 0x20, 0xc3, 0x0f, 0x01, 0xc1};
    memcpy((void *)0x7000, code, sizeof(code));
    uint64_t efer = rdmsr(0xc0000080);
    vmwrite(EPT_POINTER, vmx_ept_identity());
    vmx_set_ctl(PROC_CTLS, 0x48e, CPU_SECONDARY);
    vmx_set_ctl(PROC_CTLS2, 0x48b, CPU2_EPT | CPU2_UNRESTRICTED);
    vmx_set_ctl(ENTRY_CTLS, 0x490, ENTRY_LOAD_EFER);
    vmwrite(GUEST_EFER, efer & ~((1ull << 8) | (1ull << 10)));
    vmwrite(GUEST_CR0, read_cr0() & ~((1ull << 31) | 1ull));
    vmwrite(GUEST_CR4, read_cr4() & ~(1ull << 17)); /* no PCIDE outside IA-32e mode */
    static const uint64_t sel[] = {GUEST_ES_SEL, GUEST_SS_SEL, GUEST_DS_SEL, GUEST_FS_SEL,
                                   GUEST_GS_SEL};
    static const uint64_t lim[] = {GUEST_ES_LIMIT, GUEST_SS_LIMIT, GUEST_DS_LIMIT, GUEST_FS_LIMIT,
                                   GUEST_GS_LIMIT};
    static const uint64_t ar[] = {GUEST_ES_AR, GUEST_SS_AR, GUEST_DS_AR, GUEST_FS_AR, GUEST_GS_AR};
    static const uint64_t base[] = {GUEST_ES_BASE, GUEST_SS_BASE, GUEST_DS_BASE, GUEST_FS_BASE,
                                    GUEST_GS_BASE};
    for (int i = 0; i < 5; i++) {
        vmwrite(sel[i], 0);
        vmwrite(lim[i], 0xffff);
        vmwrite(ar[i], 0x93);
        vmwrite(base[i], 0);
    }
    vmwrite(GUEST_CS_SEL, 0x700);
    vmwrite(GUEST_CS_BASE, 0x7000);
    vmwrite(GUEST_CS_LIMIT, 0xffff);
    vmwrite(GUEST_CS_AR, 0x9b);
    vmwrite(GUEST_TR_AR, 0x8b);
    vmwrite(GUEST_GDTR_LIMIT, 0xffff);
    vmwrite(GUEST_IDTR_LIMIT, 0x3ff);
    vmwrite(GUEST_IDTR_BASE, 0);
    vmwrite(GUEST_RIP, 0);
    vmwrite(GUEST_RSP, 0x6ff0);
    vmwrite(GUEST_RFLAGS, 2);
    int r = vmx_run();
    CHECK_EQ(r, VMX_OK, "real_mode_entry");
    if (r != VMX_OK) {
        gprintf("  error %lu\n", vmread(VM_INSTR_ERROR));
        return;
    }
    CHECK_EQ(vmread(EXIT_REASON), 18, "real_mode_vmcall");
    CHECK_EQ(vmx_l2_regs.rax & 0xffff, 0x1234, "real_mode_code_ran");
    CHECK_EQ(vmx_l2_regs.rbx & 1, 0, "real_mode_cr0_pe_clear");
    CHECK_EQ(vmread(GUEST_RIP), 6, "real_mode_rip");
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!vmx_start())
        return;
    vmx_setup_vmcs(c_nop);
    vmwrite(MSR_BITMAP, (uint64_t)(uintptr_t)alloc_page()); /* L2 owns every MSR */
    test_msrs_and_debug();
    test_virtual_nmis();

    /* PAUSE-loop exiting (SDM 26.1.3): a PAUSE loop longer than the window */
    if ((rdmsr(0x48b) >> 32) & (1u << 10)) {
        vmx_set_ctl(PROC_CTLS, 0x48e, CPU_SECONDARY);
        vmx_set_ctl(PROC_CTLS2, 0x48b, 1u << 10);
        vmwrite(0x4020, 64);   /* PLE_Gap */
        vmwrite(0x4022, 2000); /* PLE_Window */
        CHECK_EQ(run_at(c_pause), 40, "pause_loop_exit");
        vmx_set_ctl(PROC_CTLS2, 0x48b, 0);
        vmx_set_ctl(PROC_CTLS, 0x48e, 0);
    } else {
        SKIP("no PAUSE-loop exiting", "pause_loop_exit");
    }
    /* TSC scaling: multiplier 3.0 and an offset */
    if ((rdmsr(0x48b) >> 32) & (1u << 25)) {
        vmx_set_ctl(PROC_CTLS, 0x48e, CPU_SECONDARY | CPU_TSC_OFFSET);
        vmx_set_ctl(PROC_CTLS2, 0x48b, 1u << 25);
        vmwrite(0x2032, 3ull << 48);
        vmwrite(TSC_OFFSET, 1000);
        uint64_t t0 = rdtsc();
        CHECK_EQ(run_at(c_tsc), 18, "tsc_scaling_run");
        uint64_t t1 = rdtsc(), g = vmx_l2_regs.rbx;
        CHECK(g >= 3 * t0 + 1000 && g <= 3 * t1 + 1000, "tsc_scaled_by_3_plus_offset");
        vmx_set_ctl(PROC_CTLS2, 0x48b, 0);
        vmx_set_ctl(PROC_CTLS, 0x48e, 0);
    } else {
        SKIP("no TSC scaling", "tsc_scaling");
    }
    test_real_mode_l2();
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
