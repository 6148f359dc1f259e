/* L2 as L1 sets it up: VM-entry event injection of every type from vmcs12
 * (SDM 27.6: external interrupt, NMI, hardware exception with error code,
 * software interrupt and software exception with their instruction length),
 * an L2 with page tables of its own while L1 does not use EPT (L2-physical
 * = L1-physical; EPT02 = EPT01), and L2 under a VPID with INVVPID. */
#include "vmx.h"

static uint8_t l2_stack[8192] ALIGNED(16);
static uint64_t idt2[2 * 256] ALIGNED(16);
static volatile uint64_t alias_data[512] ALIGNED(4096);

#define ALIAS_VA 0x00007f0000000000ull

__asm__(".text\n"
        "i_nop: nop; nop; mov $0x77, %eax; vmcall\n"
        "i_isr40: mov (%rsp), %rbx; mov $0x40, %eax; vmcall\n"
        "i_isr02: mov (%rsp), %rbx; mov $0x02, %eax; vmcall\n"
        "i_isr03: mov (%rsp), %rbx; mov $0x03, %eax; vmcall\n"
        "i_isr0d: pop %rcx; mov (%rsp), %rbx; mov $0x0d, %eax; vmcall\n"
        "i_alias: movabs $0x00007f0000000000, %rdx; mov (%rdx), %rbx; mov %cr3, %rcx; mov $0x55, "
        "%eax; vmcall\n");
void i_nop(void), i_isr40(void), i_isr02(void), i_isr03(void), i_isr0d(void), i_alias(void);

static void set_gate(int vec, void (*h)(void))
{
    uint64_t a = (uint64_t)(uintptr_t)h;
    idt2[2 * vec] =
        (a & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) | (0x8eull << 40) | ((a >> 16) & 0xffff) << 48;
    idt2[2 * vec + 1] = a >> 32;
}

static uint32_t inject_and_run(uint32_t info, uint32_t err, uint32_t len)
{
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)i_nop);
    vmwrite(GUEST_RSP, (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack)));
    vmwrite(GUEST_RFLAGS, 2);
    vmwrite(ENTRY_INTR_INFO, info);
    vmwrite(ENTRY_EXC_ERR, err);
    vmwrite(ENTRY_INSTR_LEN, len);
    vmx_l2_regs.rax = vmx_l2_regs.rbx = vmx_l2_regs.rcx = 0;
    return vmx_run_reason();
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!vmx_start())
        return;
    vmx_setup_vmcs(i_nop);
    set_gate(0x40, i_isr40);
    set_gate(2, i_isr02);
    set_gate(3, i_isr03);
    set_gate(13, i_isr0d);
    vmwrite(GUEST_IDTR_BASE, (uint64_t)(uintptr_t)idt2);
    vmwrite(GUEST_IDTR_LIMIT, sizeof(idt2) - 1);
    uint64_t rip = (uint64_t)(uintptr_t)i_nop;

    /* software interrupt (type 4): the return address skips the length */
    CHECK_EQ(inject_and_run(0x80000440, 0, 2), 18, "inject_soft_int");
    CHECK_EQ(vmx_l2_regs.rax, 0x40, "soft_int_handler");
    CHECK_EQ(vmx_l2_regs.rbx, rip + 2, "soft_int_return_rip");
    /* NMI (type 2) */
    CHECK_EQ(inject_and_run(0x80000202, 0, 0), 18, "inject_nmi");
    CHECK_EQ(vmx_l2_regs.rax, 2, "nmi_handler");
    CHECK_EQ(vmx_l2_regs.rbx, rip, "nmi_return_rip");
    /* hardware exception with an error code (type 3, bit 11) */
    CHECK_EQ(inject_and_run(0x80000b0d, 0x1234, 0), 18, "inject_gp");
    CHECK_EQ(vmx_l2_regs.rax, 13, "gp_handler");
    CHECK_EQ(vmx_l2_regs.rcx, 0x1234, "gp_error_code_pushed");
    CHECK_EQ(vmx_l2_regs.rbx, rip, "gp_return_rip");
    /* software exception (type 6, #BP) */
    CHECK_EQ(inject_and_run(0x80000603, 0, 1), 18, "inject_bp");
    CHECK_EQ(vmx_l2_regs.rax, 3, "bp_handler");
    CHECK_EQ(vmx_l2_regs.rbx, rip + 1, "bp_return_rip");
    /* an injected exception is not subject to the exception bitmap */
    vmwrite(EXC_BITMAP, 1u << 13);
    CHECK_EQ(inject_and_run(0x80000b0d, 7, 0), 18, "injected_gp_not_intercepted");
    vmwrite(EXC_BITMAP, 0);
    vmwrite(ENTRY_INTR_INFO, 0);

    /* L2 with its own page tables (L1 without EPT): a copy of L1's PML4
     * plus an alias that exists only for L2 */
    uint64_t *pml4 = alloc_page(), *pdpt = alloc_page(), *pd = alloc_page(), *pt = alloc_page();
    memcpy(pml4, (void *)(uintptr_t)(read_cr3() & ~0xfffull), 4096);
    pml4[(ALIAS_VA >> 39) & 511] = (uint64_t)(uintptr_t)pdpt | 3;
    pdpt[0] = (uint64_t)(uintptr_t)pd | 3;
    pd[0] = (uint64_t)(uintptr_t)pt | 3;
    pt[0] = (uint64_t)(uintptr_t)alias_data | 3;
    alias_data[0] = 0xa11a5;
    vmwrite(GUEST_CR3, (uint64_t)(uintptr_t)pml4);
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)i_alias);
    CHECK_EQ(vmx_run(), VMX_OK, "l2_own_cr3_runs");
    CHECK_EQ(vmread(EXIT_REASON), 18, "l2_own_cr3_vmcall");
    CHECK_EQ(vmx_l2_regs.rbx, 0xa11a5, "l2_reads_through_its_alias");
    CHECK_EQ(vmx_l2_regs.rcx, (uint64_t)(uintptr_t)pml4, "l2_cr3");
    CHECK_EQ(read_cr3() & ~0xfffull, vmread(HOST_CR3) & ~0xfffull, "l1_cr3_restored");
    /* L1 changes L2's mapping: L2 sees the new page (no stale translation
     * survives the switch of address space) */
    static volatile uint64_t other[512] ALIGNED(4096);
    other[0] = 0xbeef;
    pt[0] = (uint64_t)(uintptr_t)other | 3;
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)i_alias);
    CHECK_EQ(vmx_run(), VMX_OK, "l2_remapped_runs");
    CHECK_EQ(vmx_l2_regs.rbx, 0xbeef, "l2_sees_new_mapping");

    /* VPID: L2 tagged with VPID 5; INVVPID of that VPID succeeds */
    if ((rdmsr(0x48b) >> 32) & CPU2_VPID) {
        vmwrite(VPID, 5);
        vmx_set_ctl(PROC_CTLS, 0x48e, CPU_SECONDARY);
        vmx_set_ctl(PROC_CTLS2, 0x48b, CPU2_VPID);
        pt[0] = (uint64_t)(uintptr_t)alias_data | 3;
        vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)i_alias);
        CHECK_EQ(vmx_run(), VMX_OK, "l2_with_vpid_runs");
        CHECK_EQ(vmx_l2_regs.rbx, 0xa11a5, "l2_with_vpid_reads");
        CHECK_EQ(invvpid(1, 5, 0), VMX_OK, "invvpid_single_context");
        pt[0] = (uint64_t)(uintptr_t)other | 3;
        CHECK_EQ(invvpid(0, 5, ALIAS_VA), VMX_OK, "invvpid_individual_address");
        vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)i_alias);
        CHECK_EQ(vmx_run(), VMX_OK, "l2_after_invvpid_runs");
        CHECK_EQ(vmx_l2_regs.rbx, 0xbeef, "l2_after_invvpid_new_mapping");
    }
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
