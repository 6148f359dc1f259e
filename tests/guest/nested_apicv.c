/* APIC virtualization offered to L1 (SDM chapter 30), run by the hardware
 * for L2 through vmcs02: "virtualize x2APIC mode" (RDMSR/WRMSR of the TPR
 * go to the virtual-APIC page), "APIC-register virtualization" (reads of
 * other registers from the page) and "virtual-interrupt delivery" (RVI
 * delivered through L2's IDT at VM entry, SVI/VISR updated, a virtualized
 * EOI with the EOI-exit bitmap exits with reason 45). */
#include "vmx.h"

static uint8_t l2_stack[8192] ALIGNED(16);
static uint64_t idt2[2 * 256] ALIGNED(16);
static uint8_t vapic[4096] ALIGNED(4096);

#define CPU2_X2APIC (1u << 4)
#define CPU2_APIC_REG (1u << 8)
#define CPU2_VID (1u << 9)
#define CPU_TPR_SHADOW (1u << 21)

__asm__(".text\n"
        "a_rd_tpr: mov $0x808, %ecx; rdmsr; mov %rax, %rbx; mov $1, %eax; vmcall\n"
        "a_wr_tpr: mov $0x808, %ecx; mov $0x40, %eax; xor %edx, %edx; wrmsr; mov $2, %eax; vmcall\n"
        "a_rd_ver: mov $0x803, %ecx; rdmsr; mov %rax, %rbx; mov $3, %eax; vmcall\n"
        "a_nop: nop; mov $4, %eax; vmcall\n"
        "a_isr31: mov $0x31, %eax; vmcall\n"
        "  mov $0x80b, %ecx; xor %eax, %eax; xor %edx, %edx; wrmsr\n"
        "  mov $0x32, %eax; vmcall; iretq\n");
void a_rd_tpr(void), a_wr_tpr(void), a_rd_ver(void), a_nop(void), a_isr31(void);

static uint32_t run_at(void (*f)(void), uint64_t rflags)
{
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)f);
    vmwrite(GUEST_RSP, (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack)));
    vmwrite(GUEST_RFLAGS, rflags);
    return vmx_run_reason();
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!vmx_offered()) {
        SKIP("VMX is not offered", "vmx_offered");
        return;
    }
    uint32_t want = CPU2_X2APIC | CPU2_APIC_REG | CPU2_VID;
    if (((rdmsr(0x48b) >> 32) & want) != want) {
        SKIP("APIC virtualization not offered", "apicv");
        return;
    }
    CHECK_EQ(vmx_on(), VMX_OK, "vmxon");
    vmx_setup_vmcs(a_nop);
    vmx_idt_gate(idt2, 0x31, a_isr31);
    vmwrite(GUEST_IDTR_BASE, (uint64_t)(uintptr_t)idt2);
    vmwrite(GUEST_IDTR_LIMIT, sizeof(idt2) - 1);
    uint8_t *msr_bitmap = alloc_page(); /* nothing intercepted */
    vmwrite(MSR_BITMAP, (uint64_t)(uintptr_t)msr_bitmap);
    vmwrite(0x2012, (uint64_t)(uintptr_t)vapic); /* virtual-APIC page */
    vmwrite(0x401c, 0);                          /* TPR threshold */
    vmx_set_ctl(PROC_CTLS, 0x48e, CPU_TPR_SHADOW | CPU_MSR_BITMAP | CPU_SECONDARY);

    /* virtualize x2APIC mode: the TPR MSR is the virtual-APIC page's VTPR */
    vmx_set_ctl(PROC_CTLS2, 0x48b, CPU2_X2APIC);
    vapic[0x80] = 0x30;
    CHECK_EQ(run_at(a_rd_tpr, 2), 18, "x2apic_tpr_read_no_exit");
    CHECK_EQ(vmx_l2_regs.rbx, 0x30, "x2apic_tpr_read_vtpr");
    CHECK_EQ(run_at(a_wr_tpr, 2), 18, "x2apic_tpr_write_no_exit");
    CHECK_EQ(vapic[0x80], 0x40, "x2apic_tpr_write_vtpr");

    /* APIC-register virtualization: the version register from the page */
    vmx_set_ctl(PROC_CTLS2, 0x48b, CPU2_X2APIC | CPU2_APIC_REG);
    *(volatile uint32_t *)(vapic + 0x30) = 0x00050014;
    CHECK_EQ(run_at(a_rd_ver, 2), 18, "apic_reg_read_no_exit");
    CHECK_EQ(vmx_l2_regs.rbx, 0x00050014, "apic_reg_read_from_page");

    /* virtual-interrupt delivery (needs external-interrupt exiting) */
    vmx_set_ctl(PIN_CTLS, 0x48d, PIN_EXTINT);
    vmx_set_ctl(PROC_CTLS2, 0x48b, CPU2_X2APIC | CPU2_APIC_REG | CPU2_VID);
    vapic[0x80] = 0;
    *(volatile uint32_t *)(vapic + 0x200 + (0x31 / 32) * 0x10) = 1u << (0x31 % 32); /* VIRR */
    vmwrite(0x0810, 0x31);         /* guest interrupt status: RVI = 0x31, SVI = 0 */
    vmwrite(0x201c, 1ull << 0x31); /* EOI-exit bitmap 0: vector 0x31 */
    CHECK_EQ(run_at(a_nop, 0x202), 18, "virtual_interrupt_delivered");
    CHECK_EQ(vmx_l2_regs.rax, 0x31, "virtual_interrupt_l2_handler");
    CHECK_EQ(vmread(0x0810) >> 8, 0x31, "svi_is_vector");
    CHECK(*(volatile uint32_t *)(vapic + 0x100 + (0x31 / 32) * 0x10) & (1u << (0x31 % 32)),
          "visr_bit_set");
    /* the handler's EOI: virtualized, and the EOI-exit bitmap asks for exit 45 */
    vmx_skip();
    CHECK_EQ(vmx_run(), VMX_OK, "resume_to_eoi");
    CHECK_EQ(vmread(EXIT_REASON), 45, "virtualized_eoi_exit");
    CHECK_EQ(vmread(EXIT_QUAL), 0x31, "virtualized_eoi_vector");
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
