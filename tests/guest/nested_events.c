/* Events across levels (BRIEF decision 4, SDM 26.x/28.x): an interrupt for
 * L1 that arrives while L2 runs is a nested VM exit when L1 sets
 * "external-interrupt exiting" (with "acknowledge interrupt on exit" the
 * vector is in the exit interruption information and the interrupt is in
 * service; without it L1 takes the interrupt itself once it enables
 * interrupts); without external-interrupt exiting the interrupt goes
 * through L2's IDT. NMIs likewise with "NMI exiting", and
 * interrupt-window exiting for L2. The interrupt source is this vCPU's
 * local APIC (self IPIs), which L1 lets L2 program directly. */
#include "vmx.h"

#define APIC_PHYS 0xfee00000ull
static volatile uint32_t *apic = (volatile uint32_t *)APIC_PHYS;

static uint8_t l2_stack[8192] ALIGNED(16);
static uint64_t idt2[2 * 256] ALIGNED(16);
static volatile int l1_got_0x61;

/* L2: a self IPI with vector 0x60/0x61 (fixed, edge), or a self NMI, then
 * VMCALL 0x77; L2's handler for 0x60 does VMCALL 0x60. */
__asm__(
    ".text\n"
    "ev_ipi60: mov $0xfee00300, %edx; movl $0x40060, (%rdx); nop; nop; mov $0x77, %eax; vmcall\n"
    "ev_ipi61: mov $0xfee00300, %edx; movl $0x40061, (%rdx); nop; nop; mov $0x77, %eax; vmcall\n"
    "ev_nmi: mov $0xfee00300, %edx; movl $0x40400, (%rdx); nop; nop; mov $0x77, %eax; vmcall\n"
    "ev_nop: nop; mov $0x78, %eax; vmcall\n"
    "ev_isr60: mov $0x60, %eax; vmcall; iretq\n");
void ev_ipi60(void), ev_ipi61(void), ev_nmi(void), ev_nop(void), ev_isr60(void);

static void l1_handler(struct frame *f)
{
    if (f->vector == 0x61)
        l1_got_0x61++;
    apic[0xb0 / 4] = 0; /* EOI */
}

static uint32_t run_at(void (*f)(void), uint64_t rflags)
{
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)f);
    vmwrite(GUEST_RSP, (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack)));
    vmwrite(GUEST_RFLAGS, rflags);
    return vmx_run_reason();
}

static bool isr_bit(int vec)
{
    return (apic[(0x100 + (vec / 32) * 0x10) / 4] >> (vec % 32)) & 1;
}

static void set_gate(int vec, void (*h)(void))
{
    uint64_t a = (uint64_t)(uintptr_t)h;
    idt2[2 * vec] =
        (a & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) | (0x8eull << 40) | ((a >> 16) & 0xffff) << 48;
    idt2[2 * vec + 1] = a >> 32;
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!vmx_offered()) {
        SKIP("VMX is not offered", "vmx_offered");
        return;
    }
    apic[0xf0 / 4] = 0x1ff; /* software-enable the local APIC */
    set_handler(0x61, l1_handler);
    CHECK_EQ(vmx_on(), VMX_OK, "vmxon");
    vmx_setup_vmcs(ev_nop);
    set_gate(0x60, ev_isr60);
    vmwrite(GUEST_IDTR_BASE, (uint64_t)(uintptr_t)idt2);
    vmwrite(GUEST_IDTR_LIMIT, sizeof(idt2) - 1);
    CHECK_EQ(run_at(ev_nop, 2), 18, "l2_runs");

    /* external-interrupt exiting with acknowledge-on-exit */
    vmx_set_ctl(PIN_CTLS, 0x48d, PIN_EXTINT);
    vmx_set_ctl(EXIT_CTLS, 0x48f, EXIT_HOST_64 | EXIT_LOAD_EFER | EXIT_SAVE_EFER | EXIT_ACK_INTR);
    CHECK_EQ(run_at(ev_ipi60, 2), 1, "interrupt_for_l1_is_nested_exit");
    CHECK_EQ(vmread(EXIT_INTR_INFO), 0x80000060, "ack_on_exit_vector");
    CHECK(isr_bit(0x60), "acked_interrupt_in_service");
    apic[0xb0 / 4] = 0;
    CHECK(!isr_bit(0x60), "eoi_by_l1");
    /* (even with L2's RFLAGS.IF = 0: "interrupt allowed" for L1's exit) */
    CHECK_EQ(run_at(ev_ipi60, 2), 1, "l2_if0_still_exits");
    apic[0xb0 / 4] = 0;

    /* without acknowledge-on-exit: no vector; L1 takes it after STI */
    vmx_set_ctl(EXIT_CTLS, 0x48f, EXIT_HOST_64 | EXIT_LOAD_EFER | EXIT_SAVE_EFER);
    l1_got_0x61 = 0;
    CHECK_EQ(run_at(ev_ipi61, 2), 1, "interrupt_exit_without_ack");
    CHECK_EQ(vmread(EXIT_INTR_INFO) >> 31, 0, "no_ack_info_invalid");
    CHECK_EQ(l1_got_0x61, 0, "not_taken_before_sti");
    __asm__ volatile("sti; nop; nop; cli");
    CHECK_EQ(l1_got_0x61, 1, "l1_takes_interrupt_after_sti");

    /* not intercepted: the interrupt goes through L2's IDT */
    vmx_set_ctl(PIN_CTLS, 0x48d, 0);
    CHECK_EQ(run_at(ev_ipi60, 0x202), 18, "interrupt_to_l2_idt");
    CHECK_EQ(vmx_l2_regs.rax, 0x60, "l2_handler_ran");
    apic[0xb0 / 4] = 0;

    /* NMI exiting */
    vmx_set_ctl(PIN_CTLS, 0x48d, PIN_NMI);
    CHECK_EQ(run_at(ev_nmi, 2), 0, "nmi_for_l1_is_nested_exit");
    CHECK_EQ(vmread(EXIT_INTR_INFO), 0x80000202, "nmi_exit_info");
    vmx_set_ctl(PIN_CTLS, 0x48d, 0);

    /* interrupt-window exiting: L2 with IF = 1 exits before any instruction */
    vmx_set_ctl(PROC_CTLS, 0x48e, CPU_INTR_WINDOW);
    CHECK_EQ(run_at(ev_nop, 0x202), 7, "interrupt_window_exit");
    CHECK_EQ(vmread(GUEST_RIP), (uint64_t)(uintptr_t)ev_nop, "interrupt_window_before_insn");
    vmx_set_ctl(PROC_CTLS, 0x48e, 0);
    CHECK_EQ(run_at(ev_nop, 0x202), 18, "no_window_no_exit");
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
