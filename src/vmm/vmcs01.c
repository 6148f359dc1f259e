/* L0's vmcs01 for each vCPU. */
#include "vmcs01.h"

#include <string.h>

#include "cpu/cpu_internal.h"

/* MSRs the processor implements that the guest may access without an exit
 * (SDM 25.6.9: a clear bit in the MSR bitmap). Everything else exits to L0. */
static const uint32_t passthrough_msrs[] = {
    0x10,       0x3b,       0x48,       0x174,      0x175,      0x176,
    0x1a0,      0x1d9,      0x277,      0xc0000080, 0xc0000081, 0xc0000082,
    0xc0000083, 0xc0000084, 0xc0000100, 0xc0000101, 0xc0000102, 0xc0000103,
};

static void msr_bitmap_clear(uint8_t *bm, uint32_t msr)
{
    uint32_t bit = msr <= 0x1fff ? msr : 0x2000 + (msr - 0xc0000000u);
    for (int w = 0; w < 2; w++) {
        uint32_t b = bit + (w ? 0x4000 : 0);
        bm[b / 8] &= (uint8_t) ~(1u << (b % 8));
    }
}

int vmcs01_init(struct vmcs *v, struct cpu *cpu, struct physmem *pm, uint64_t eptp)
{
    vmcs_clear(v, 1);
    uint64_t bitmap = physmem_alloc_private(pm, 4096);
    if (bitmap == UINT64_MAX)
        return -1;
    uint8_t *bm = physmem_ptr(pm, bitmap, 4096);
    memset(bm, 0xff, 4096);
    for (size_t i = 0; i < sizeof(passthrough_msrs) / sizeof(passthrough_msrs[0]); i++)
        msr_bitmap_clear(bm, passthrough_msrs[i]);

    /* the TPR shadow: MOV to/from CR8 use the virtual-APIC page's VTPR,
     * which L0 keeps equal to the local APIC's TPR (vmm/irq.c) */
    uint64_t vapic = physmem_alloc_private(pm, 4096);
    if (vapic == UINT64_MAX)
        return -1;
    memset(physmem_ptr(pm, vapic, 4096), 0, 4096);

    vmcs_set(v, VI_PIN_BASED_VM_EXEC_CONTROL, PIN_ACTIVATE_VMX_PREEMPTION_TIMER);
    vmcs_set(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL,
             PROC_HLT_EXITING | PROC_UNCONDITIONAL_IO_EXITING | PROC_USE_MSR_BITMAPS |
                 PROC_USE_TPR_SHADOW | PROC_ACTIVATE_SECONDARY_CONTROLS);
    vmcs_set(v, VI_VIRTUAL_APIC_PAGE_ADDR, vapic);
    vmcs_set(v, VI_TPR_THRESHOLD, 0);
    /* unrestricted guest: real mode and paging-off protected mode run
     * directly (with EPT) */
    vmcs_set(v, VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL,
             PROC2_ENABLE_EPT | PROC2_ENABLE_RDTSCP | PROC2_ENABLE_INVPCID |
                 PROC2_UNRESTRICTED_GUEST);
    vmcs_set(v, VI_EPT_POINTER, eptp);
    vmcs_set(v, VI_MSR_BITMAP_ADDR, bitmap);
    vmcs_set(v, VI_PRIMARY_VM_EXIT_CONTROLS,
             EXIT_CTL_HOST_ADDRESS_SPACE_SIZE | EXIT_CTL_SAVE_IA32_EFER | EXIT_CTL_SAVE_IA32_PAT |
                 EXIT_CTL_SAVE_DEBUG_CONTROLS);
    vmcs_set(v, VI_VM_ENTRY_CONTROLS,
             ENTRY_CTL_LOAD_IA32_EFER | ENTRY_CTL_LOAD_IA32_PAT | ENTRY_CTL_LOAD_DEBUG_CONTROLS);
    vmcs_set(v, VI_VMCS_LINK_POINTER, ~0ull);
    /* CR4.VMXE must be 1 in VMX non-root operation (IA32_VMX_CR4_FIXED0):
     * L0 owns it through the guest/host mask; the guest reads its shadow
     * (0: VMX is not offered to guests), and setting it exits */
    vmcs_set(v, VI_CR4_GUEST_HOST_MASK, CR4_VMXE);
    vmcs_set(v, VI_CR4_READ_SHADOW, 0);
    /* The host-state area: L0 is 64-bit C code and never loaded from it,
     * but VM entry checks it like hardware (SDM 26.2.2) */
    vmcs_set(v, VI_HOST_CR0, CR0_PE | CR0_NE | CR0_PG | CR0_ET | CR0_WP);
    vmcs_set(v, VI_HOST_CR4, CR4_PAE | CR4_VMXE | CR4_OSFXSR);
    vmcs_set(v, VI_HOST_CS_SELECTOR, 0x08);
    vmcs_set(v, VI_HOST_SS_SELECTOR, 0x10);
    vmcs_set(v, VI_HOST_TR_SELECTOR, 0x18);
    vmx_save_guest_state(cpu, v);
    vmcs_set(v, VI_GUEST_CR4, vmcs_get(v, VI_GUEST_CR4) | CR4_VMXE);
    return 0;
}

void vmcs_skip_instruction(struct vmcs *v)
{
    uint64_t rip = vmcs_get(v, VI_GUEST_RIP) + vmcs_get(v, VI_VM_EXIT_INSTRUCTION_LENGTH);
    uint64_t cs_ar = vmcs_get(v, VI_GUEST_CS_ACCESS_RIGHTS);
    if (!(vmcs_get(v, VI_VM_ENTRY_CONTROLS) & ENTRY_CTL_IA32E_MODE_GUEST) || !(cs_ar & 0x2000))
        rip &= (cs_ar & 0x4000) ? 0xffffffffull : 0xffffull;
    vmcs_set(v, VI_GUEST_RIP, rip);
    vmcs_set(v, VI_GUEST_INTERRUPTIBILITY_STATE,
             vmcs_get(v, VI_GUEST_INTERRUPTIBILITY_STATE) &
                 ~(uint64_t)(INTR_STATE_STI | INTR_STATE_MOV_SS));
}

void vmcs_inject_exception(struct vmcs *v, int vector, bool has_error, uint32_t error)
{
    vmcs_set(v, VI_VM_ENTRY_INTERRUPTION_INFO,
             INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | (uint32_t)vector |
                 (has_error ? INTR_INFO_ERRCODE : 0));
    vmcs_set(v, VI_VM_ENTRY_EXCEPTION_ERROR_CODE, error);
}
