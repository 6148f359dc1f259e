/* Nested VM exits as an L1 hypervisor sees them: the reflection of L2's
 * exits by vmcs12's controls and bitmaps (and L0 handling the rest without
 * L1 noticing), the VM-entry checks on vmcs12 (VMfailValid 7/8, entry
 * failures 33/34), the VMX-preemption timer, event injection into L2, EPT12
 * (shadowed by L0's EPT02) with an EPT violation during event delivery
 * reported in the IDT-vectoring information, and two L2 guests. */
#include "vmx.h"

static uint8_t l2_stack[8192] ALIGNED(4096);
static uint8_t l2_special_stack[4096] ALIGNED(4096); /* unmapped in EPT12 for one test */

/* L2 code: each probe does one thing, then VMCALL with rax = a marker */
__asm__(".text\n"
        "l2_hlt: hlt; mov $1, %eax; vmcall\n"
        "l2_rdtsc: rdtsc; mov $2, %eax; vmcall\n"
        "l2_out80: mov $0, %al; outb %al, $0x80; mov $3, %eax; vmcall\n"
        "l2_out81: mov $0, %al; outb %al, $0x81; mov $4, %eax; vmcall\n"
        "l2_rdmsr174: mov $0x174, %ecx; rdmsr; mov %rax, %rbx; mov $5, %eax; vmcall\n"
        "l2_ud2: ud2; mov $6, %eax; vmcall\n"
        "l2_set_ts: mov %cr0, %rax; or $8, %rax; mov %rax, %cr0; mov $7, %eax; vmcall\n"
        "l2_write_cr3: mov %cr3, %rax; mov %rax, %cr3; mov $8, %eax; vmcall\n"
        "l2_mov_dr: mov %dr7, %rax; mov $9, %eax; vmcall\n"
        "l2_invlpg: invlpg 0x123000; mov $10, %eax; vmcall\n"
        "l2_loop: jmp l2_loop\n"
        "l2_touch: mov 0x48000000, %rax; mov $12, %eax; vmcall\n"
        "l2_nop: mov $13, %eax; vmcall\n"
        "l2_count: incq %rbx; vmcall; jmp l2_count\n"
        "l2_isr50: mov $0x50, %eax; vmcall; iretq\n");
void l2_hlt(void), l2_rdtsc(void), l2_out80(void), l2_out81(void), l2_rdmsr174(void), l2_ud2(void),
    l2_set_ts(void), l2_write_cr3(void), l2_mov_dr(void), l2_invlpg(void), l2_loop(void),
    l2_touch(void), l2_nop(void), l2_count(void), l2_isr50(void);

static uint64_t rip_of(void (*f)(void))
{
    return (uint64_t)(uintptr_t)f;
}

static uint32_t run_at(void (*f)(void))
{
    vmwrite(GUEST_RIP, rip_of(f));
    vmwrite(GUEST_RSP, (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack)));
    return vmx_run_reason();
}

static void set_proc(uint32_t want)
{
    vmx_set_ctl(PROC_CTLS, 0x48e, want);
}

static uint64_t idt2[2 * 256] ALIGNED(16);

static void test_reflection(void)
{
    set_proc(CPU_HLT);
    CHECK_EQ(run_at(l2_hlt), 12, "hlt_exiting");
    set_proc(CPU_RDTSC);
    CHECK_EQ(run_at(l2_rdtsc), 16, "rdtsc_exiting");
    set_proc(0);
    CHECK_EQ(run_at(l2_rdtsc), 18, "rdtsc_not_intercepted");
    CHECK_EQ(vmx_l2_regs.rax, 2, "rdtsc_not_intercepted_l2_continued");

    /* I/O: unconditional, then bitmaps */
    set_proc(CPU_IO);
    CHECK_EQ(run_at(l2_out80), 30, "io_unconditional");
    CHECK_EQ(vmread(EXIT_QUAL), (0x80u << 16) | (1u << 6) | 0, "io_qualification");
    uint8_t *bma = alloc_page(), *bmb = alloc_page();
    bma[0x81 / 8] |= 1 << (0x81 % 8);
    vmwrite(IO_BITMAP_A, (uint64_t)(uintptr_t)bma);
    vmwrite(IO_BITMAP_B, (uint64_t)(uintptr_t)bmb);
    set_proc(CPU_IO_BITMAP);
    CHECK_EQ(run_at(l2_out80), 18, "io_bitmap_clear_port_not_reflected");
    CHECK_EQ(run_at(l2_out81), 30, "io_bitmap_set_port_reflected");

    /* MSR bitmap */
    set_proc(0);
    CHECK_EQ(run_at(l2_rdmsr174), 31, "rdmsr_without_bitmap_reflected");
    uint8_t *msrbm = alloc_page();
    vmwrite(MSR_BITMAP, (uint64_t)(uintptr_t)msrbm);
    vmwrite(GUEST_SYSENTER_CS, 0x4242);
    set_proc(CPU_MSR_BITMAP);
    CHECK_EQ(run_at(l2_rdmsr174), 18, "rdmsr_bitmap_clear_not_reflected");
    CHECK_EQ(vmx_l2_regs.rbx, 0x4242, "rdmsr_reads_l2_value");
    msrbm[0x174 / 8] |= 1 << (0x174 % 8);
    CHECK_EQ(run_at(l2_rdmsr174), 31, "rdmsr_bitmap_set_reflected");
    set_proc(0);

    /* exception bitmap */
    vmwrite(EXC_BITMAP, 1u << 6);
    CHECK_EQ(run_at(l2_ud2), 0, "exception_bitmap_ud");
    CHECK_EQ(vmread(EXIT_INTR_INFO), 0x80000306, "exception_intr_info");
    vmwrite(EXC_BITMAP, 0);

    /* CR0 guest/host mask (SDM 26.1.3) */
    vmwrite(CR0_MASK, 8);
    vmwrite(CR0_SHADOW, 0);
    CHECK_EQ(run_at(l2_set_ts), 28, "cr0_masked_bit_change_reflected");
    CHECK_EQ(vmread(EXIT_QUAL) & 0x3f, 0, "cr0_qualification");
    vmwrite(CR0_SHADOW, 8);
    CHECK_EQ(run_at(l2_set_ts), 18, "cr0_write_matching_shadow_not_reflected");
    vmwrite(CR0_MASK, 0);
    vmwrite(GUEST_CR0, read_cr0());

    /* CR3-load exiting and the CR3-target values */
    set_proc(CPU_CR3_LOAD);
    CHECK_EQ(run_at(l2_write_cr3), 28, "cr3_load_exiting");
    CHECK_EQ(vmread(EXIT_QUAL) & 0x3f, 3, "cr3_qualification");
    vmwrite(CR3_TARGET0, read_cr3());
    vmwrite(CR3_TARGET_COUNT, 1);
    CHECK_EQ(run_at(l2_write_cr3), 18, "cr3_target_not_reflected");
    vmwrite(CR3_TARGET_COUNT, 0);
    set_proc(CPU_MOV_DR);
    CHECK_EQ(run_at(l2_mov_dr), 29, "mov_dr_exiting");
    set_proc(CPU_INVLPG);
    CHECK_EQ(run_at(l2_invlpg), 14, "invlpg_exiting");
    CHECK_EQ(vmread(EXIT_QUAL), 0x123000, "invlpg_qualification");
    set_proc(0);
}

static void test_preemption_timer(void)
{
    if (!((rdmsr(0x48d) >> 32) & PIN_PREEMPT)) {
        SKIP("no VMX-preemption timer", "preemption_timer");
        return;
    }
    vmx_set_ctl(PIN_CTLS, 0x48d, PIN_PREEMPT);
    vmx_set_ctl(EXIT_CTLS, 0x48f,
                EXIT_HOST_64 | EXIT_LOAD_EFER | EXIT_SAVE_EFER | EXIT_SAVE_PREEMPT);
    vmwrite(PREEMPT_TIMER, 5000);
    CHECK_EQ(run_at(l2_loop), 52, "preemption_timer_exit");
    CHECK_EQ(vmread(PREEMPT_TIMER), 0, "preemption_timer_saved_zero");
    vmx_set_ctl(PIN_CTLS, 0x48d, 0);
    vmx_set_ctl(EXIT_CTLS, 0x48f, EXIT_HOST_64 | EXIT_LOAD_EFER | EXIT_SAVE_EFER);
}

static void set_gate(int vec, void (*h)(void))
{
    uint64_t a = (uint64_t)(uintptr_t)h;
    idt2[2 * vec] =
        (a & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) | (0x8eull << 40) | ((a >> 16) & 0xffff) << 48;
    idt2[2 * vec + 1] = a >> 32;
}

static void test_injection_and_ept(void)
{
    set_gate(0x50, l2_isr50);
    vmwrite(GUEST_IDTR_BASE, (uint64_t)(uintptr_t)idt2);
    vmwrite(GUEST_IDTR_LIMIT, sizeof(idt2) - 1);
    /* an external interrupt injected by L1 reaches L2's IDT */
    vmwrite(ENTRY_INTR_INFO, 0x80000050);
    CHECK_EQ(run_at(l2_nop), 18, "injected_interrupt_delivered");
    CHECK_EQ(vmx_l2_regs.rax, 0x50, "injected_interrupt_handler_ran");
    CHECK_EQ(vmread(ENTRY_INTR_INFO) >> 31, 0, "entry_intr_info_valid_cleared");

    if (!((rdmsr(0x48b) >> 32) & CPU2_EPT)) {
        SKIP("no EPT", "ept");
        return;
    }
    /* EPT12: identity for 1 GiB, the special stack page not present */
    uint64_t eptp = vmx_ept_identity();
    uint64_t *pml4 = (uint64_t *)(uintptr_t)(eptp & ~0xfffull);
    uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[0] & ~0xfffull);
    uint64_t *pd = (uint64_t *)(uintptr_t)(pdpt[0] & ~0xfffull);
    uint64_t sp = (uint64_t)(uintptr_t)l2_special_stack;
    uint64_t *pt = alloc_page();
    for (int i = 0; i < 512; i++)
        pt[i] = ((sp & ~0x1fffffull) + ((uint64_t)i << 12)) | (6u << 3) | 7;
    pt[(sp >> 12) & 511] = 0;
    pd[(sp >> 21) & 511] = (uint64_t)(uintptr_t)pt | 7;
    vmwrite(EPT_POINTER, eptp);
    vmx_set_ctl(PROC_CTLS, 0x48e, CPU_SECONDARY);
    vmx_set_ctl(PROC_CTLS2, 0x48b, CPU2_EPT);
    CHECK_EQ(run_at(l2_nop), 18, "l2_runs_with_ept");
    CHECK_EQ(vmx_l2_regs.rax, 13, "l2_runs_with_ept_marker");
    /* an access outside EPT12: EPT violation for L1 */
    CHECK_EQ(run_at(l2_touch), 48, "ept_violation_reflected");
    CHECK_EQ(vmread(GUEST_PHYS_ADDR), 0x48000000, "ept_violation_gpa");
    CHECK_EQ(vmread(EXIT_QUAL) & 0x3f, 1, "ept_violation_read_not_present");
    CHECK_EQ(vmread(GUEST_LINEAR), 0x48000000, "ept_violation_linear");
    /* injection with L2's stack in a page EPT12 does not map: the exit
     * happens during event delivery (SDM 28.2.4) */
    vmwrite(ENTRY_INTR_INFO, 0x80000050);
    vmwrite(GUEST_RIP, rip_of(l2_nop));
    vmwrite(GUEST_RSP, sp + 4096);
    CHECK_EQ(vmx_run(), VMX_OK, "vmresume_delivery");
    CHECK_EQ(vmread(EXIT_REASON), 48, "ept_violation_during_delivery");
    CHECK_EQ(vmread(IDT_VECT_INFO), 0x80000050, "idt_vectoring_info");
    CHECK_EQ(vmread(GUEST_PHYS_ADDR) & ~0xfffull, sp, "delivery_violation_gpa");
    CHECK_EQ(vmread(EXIT_QUAL) & 2, 2, "delivery_violation_is_write");
    /* L1 maps the page, invalidates, and re-injects the event */
    pt[(sp >> 12) & 511] = sp | (6u << 3) | 7;
    CHECK_EQ(invept(2, 0), VMX_OK, "invept_after_fix");
    vmwrite(ENTRY_INTR_INFO, vmread(IDT_VECT_INFO));
    CHECK_EQ(vmx_run(), VMX_OK, "vmresume_reinject");
    CHECK_EQ(vmread(EXIT_REASON), 18, "reinjected_event_delivered");
    CHECK_EQ(vmx_l2_regs.rax, 0x50, "reinjected_handler_ran");
    vmx_set_ctl(PROC_CTLS2, 0x48b, 0);
    set_proc(0);
}

static void test_entry_checks(void)
{
    /* SDM 27.2.1: a reserved control bit: VMfailValid(7) */
    vmwrite(PIN_CTLS, vmx_ctl(0x48d, 0) | (1u << 31));
    vmwrite(GUEST_RIP, rip_of(l2_nop));
    CHECK_EQ(vmx_run(), VMX_FAIL_VALID, "entry_bad_control");
    CHECK_EQ(vmread(VM_INSTR_ERROR), 7, "entry_bad_control_error_7");
    vmx_set_ctl(PIN_CTLS, 0x48d, 0);
    /* SDM 27.2.2: host CR0 without PG: VMfailValid(8) */
    uint64_t hcr0 = vmread(HOST_CR0);
    vmwrite(HOST_CR0, hcr0 & ~(1ull << 31));
    CHECK_EQ(vmx_run(), VMX_FAIL_VALID, "entry_bad_host_state");
    CHECK_EQ(vmread(VM_INSTR_ERROR), 8, "entry_bad_host_state_error_8");
    vmwrite(HOST_CR0, hcr0);
    /* SDM 27.3.1: RFLAGS bit 1 clear: VM-entry failure, reason 33 */
    vmwrite(GUEST_RFLAGS, 0);
    CHECK_EQ(vmx_run(), VMX_OK, "entry_failure_returns_to_host_rip");
    CHECK_EQ(vmread(EXIT_REASON), 0x80000021, "entry_failure_invalid_guest_state");
    vmwrite(GUEST_RFLAGS, 2);
    /* SDM 27.4: MSR loading, the 2nd entry is bad: reason 34, qual 2 */
    static uint64_t list[4] ALIGNED(16);
    list[0] = 0xc0000102; /* IA32_KERNEL_GS_BASE: not part of the host state */
    list[1] = 0x10;
    list[2] = 0xffffffff;
    list[3] = 0;
    vmwrite(ENTRY_MSR_LOAD_ADDR, (uint64_t)(uintptr_t)list);
    vmwrite(ENTRY_MSR_LOAD_COUNT, 2);
    CHECK_EQ(vmx_run(), VMX_OK, "msr_load_failure_returns");
    CHECK_EQ(vmread(EXIT_REASON), 0x80000022, "entry_failure_msr_loading");
    CHECK_EQ(vmread(EXIT_QUAL), 2, "entry_failure_msr_index");
    CHECK_EQ(rdmsr(0xc0000102), 0x10, "first_msr_entry_loaded");
    vmwrite(ENTRY_MSR_LOAD_COUNT, 0);
}

static void test_two_guests(void)
{
    uint64_t a = vmx_setup_vmcs(l2_count);
    int la = 0;
    uint64_t b = vmx_setup_vmcs(l2_count);
    int lb = 0;
    uint64_t rbx_a = 100, rbx_b = 200;
    bool ok = true;
    for (int i = 0; i < 3; i++) {
        vmptrld(a);
        vmx_launched = la;
        vmx_l2_regs.rbx = rbx_a;
        ok &= vmx_run() == VMX_OK && vmread(EXIT_REASON) == 18;
        la = 1;
        rbx_a = vmx_l2_regs.rbx;
        vmx_skip();
        vmptrld(b);
        vmx_launched = lb;
        vmx_l2_regs.rbx = rbx_b;
        ok &= vmx_run() == VMX_OK && vmread(EXIT_REASON) == 18;
        lb = 1;
        rbx_b = vmx_l2_regs.rbx;
        vmx_skip();
    }
    CHECK(ok, "two_guests_run");
    CHECK_EQ(rbx_a, 103, "guest_a_state");
    CHECK_EQ(rbx_b, 203, "guest_b_state");
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!vmx_start())
        return;
    vmx_setup_vmcs(l2_nop);
    CHECK_EQ(run_at(l2_nop), 18, "first_entry");
    test_reflection();
    test_preemption_timer();
    test_entry_checks();
    test_injection_and_ept();
    test_two_guests();
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
