/* The processor's VMX capabilities and the VM-entry checks of SDM 26.2
 * ("Checks on VMX Controls and Host-State Area") and 26.3.1 ("Checks on
 * the Guest State Area"). Those section numbers are the SDM's before 2023;
 * the current SDM numbers them 27.2 and 27.3.1, as the newer comments here
 * do. */
#include "vmx_caps.h"

#include "cpu_internal.h"
#include "ept.h"

#define CR4_HW_SUPPORTED                                                                           \
    (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE | CR4_OSFXSR |             \
     CR4_OSXMMEXCPT | CR4_UMIP | CR4_VMXE | CR4_FSGSBASE | CR4_PCIDE | CR4_OSXSAVE | CR4_SMEP |    \
     CR4_SMAP)

static const struct vmx_caps hw_caps = {
    /* revision 1, 4 KiB regions, WB, INS/OUTS information, TRUE controls */
    .basic = VMX_REVISION_ID | (4096ull << 32) | (6ull << 50) | (1ull << 54) | (1ull << 55),
    /* allowed-0 (bits that must be 1) in 31:0; allowed-1 in 63:32. These
     * are the TRUE controls (BASIC bit 55): every default1 bit may be 0, as
     * they mean nothing to this processor (the non-TRUE MSRs will report
     * them as 1). */
    .pinbased = ((uint64_t)(PIN_DEFAULT1 | PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING |
                            PIN_VIRTUAL_NMIS | PIN_ACTIVATE_VMX_PREEMPTION_TIMER |
                            PIN_PROCESS_POSTED_INTERRUPTS)
                 << 32),
    .procbased =
        ((uint64_t)(PROC_DEFAULT1 | PROC_INTERRUPT_WINDOW_EXITING | PROC_USE_TSC_OFFSETTING |
                    PROC_HLT_EXITING | PROC_INVLPG_EXITING | PROC_MWAIT_EXITING |
                    PROC_RDPMC_EXITING | PROC_RDTSC_EXITING | PROC_CR3_LOAD_EXITING |
                    PROC_CR3_STORE_EXITING | PROC_CR8_LOAD_EXITING | PROC_CR8_STORE_EXITING |
                    PROC_MOV_DR_EXITING | PROC_NMI_WINDOW_EXITING | PROC_MONITOR_TRAP_FLAG |
                    PROC_USE_TPR_SHADOW | PROC_UNCONDITIONAL_IO_EXITING | PROC_USE_IO_BITMAPS |
                    PROC_USE_MSR_BITMAPS | PROC_MONITOR_EXITING | PROC_PAUSE_EXITING |
                    PROC_ACTIVATE_SECONDARY_CONTROLS)
         << 32),
    .procbased2 =
        (uint64_t)(PROC2_ENABLE_EPT | PROC2_ENABLE_RDTSCP | PROC2_DESCRIPTOR_TABLE_EXITING |
                   PROC2_WBINVD_EXITING | PROC2_UNRESTRICTED_GUEST | PROC2_RDRAND_EXITING |
                   PROC2_ENABLE_VPID | PROC2_USE_TSC_SCALING | PROC2_VIRTUALIZE_APIC_ACCESSES |
                   PROC2_ENABLE_INVPCID | PROC2_RDSEED_EXITING | PROC2_VIRTUALIZE_X2APIC_MODE |
                   PROC2_APIC_REGISTER_VIRTUALIZATION | PROC2_VIRTUAL_INTERRUPT_DELIVERY |
                   PROC2_ENABLE_XSAVES_XRSTORS | PROC2_PAUSE_LOOP_EXITING)
        << 32,
    .exit = ((uint64_t)(EXIT_DEFAULT1 | EXIT_CTL_SAVE_DEBUG_CONTROLS |
                        EXIT_CTL_HOST_ADDRESS_SPACE_SIZE | EXIT_CTL_SAVE_IA32_PAT |
                        EXIT_CTL_ACKNOWLEDGE_INTERRUPT_ON_EXIT | EXIT_CTL_LOAD_IA32_PAT |
                        EXIT_CTL_SAVE_IA32_EFER | EXIT_CTL_LOAD_IA32_EFER |
                        EXIT_CTL_SAVE_VMX_PREEMPTION_TIMER_VALUE |
                        EXIT_CTL_LOAD_IA32_PERF_GLOBAL_CTRL | EXIT_CTL_SAVE_IA32_PERF_GLOBAL_CTRL)
             << 32),
    .entry = ((uint64_t)(ENTRY_DEFAULT1 | ENTRY_CTL_LOAD_DEBUG_CONTROLS |
                         ENTRY_CTL_IA32E_MODE_GUEST | ENTRY_CTL_LOAD_IA32_PAT |
                         ENTRY_CTL_LOAD_IA32_EFER | ENTRY_CTL_LOAD_IA32_PERF_GLOBAL_CTRL)
              << 32),
    /* preemption timer rate 0 (one tick per instruction), activity states
     * HLT, shutdown, wait-for-SIPI, 4 CR3 targets, 512 MSR-list entries */
    .misc = (1u << 6) | (1u << 7) | (1u << 8) | (4u << 16),
    /* PE and PG (relaxed by "unrestricted guest"); unlike most Intel
     * processors this one does not require CR0.NE = 1 (x87 errors are
     * always reported as #MF) */
    .cr0_fixed0 = CR0_PE | CR0_PG,
    .cr0_fixed1 = 0xffffffffull,
    .cr4_fixed0 = CR4_VMXE,
    .cr4_fixed1 = CR4_HW_SUPPORTED,
    /* execute-only, 4-level walks, UC and WB, 2M and 1G pages, A/D flags */
    /* INVEPT single/all-context (20, 25, 26); INVVPID (32) all four types
     * (40-43) */
    .ept_vpid_cap = (1u << 0) | (1u << 6) | (1u << 8) | (1u << 14) | (1u << 16) | (1u << 17) |
                    (1u << 20) | (1u << 21) | (1u << 25) | (1u << 26) | (1ull << 32) |
                    (1ull << 40) | (1ull << 41) | (1ull << 42) | (1ull << 43),
};

const struct vmx_caps *vmx_hw_caps(void)
{
    return &hw_caps;
}

static bool ctls_ok(uint32_t v, uint64_t cap)
{
    uint32_t must1 = (uint32_t)cap, may1 = (uint32_t)(cap >> 32);
    return (v & must1) == must1 && (v & ~may1) == 0;
}

static bool phys_ok(uint64_t a, uint64_t align)
{
    return !(a & (align - 1)) && !(a & ~PHYS_MASK);
}

static bool canon(uint64_t a)
{
    return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

int vmx_check_controls(const struct vmcs *v, const struct vmx_caps *caps, const struct physmem *pm)
{
    uint32_t pin = (uint32_t)vmcs_get(v, VI_PIN_BASED_VM_EXEC_CONTROL);
    uint32_t proc = (uint32_t)vmcs_get(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    uint32_t proc2 = (proc & PROC_ACTIVATE_SECONDARY_CONTROLS)
                         ? (uint32_t)vmcs_get(v, VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL)
                         : 0;
    uint32_t exit = (uint32_t)vmcs_get(v, VI_PRIMARY_VM_EXIT_CONTROLS);
    uint32_t entry = (uint32_t)vmcs_get(v, VI_VM_ENTRY_CONTROLS);
    /* 26.2.1.1: reserved bits and capabilities */
    if (!ctls_ok(pin, caps->pinbased) || !ctls_ok(proc, caps->procbased) ||
        !ctls_ok(proc2, caps->procbased2) || !ctls_ok(exit, caps->exit) ||
        !ctls_ok(entry, caps->entry))
        return VMXERR_7;
    if (vmcs_get(v, VI_CR3_TARGET_COUNT) > ((caps->misc >> 16) & 0x1ff))
        return VMXERR_7;
    if ((proc & PROC_USE_IO_BITMAPS) && (!phys_ok(vmcs_get(v, VI_IO_BITMAP_A_ADDR), 4096) ||
                                         !phys_ok(vmcs_get(v, VI_IO_BITMAP_B_ADDR), 4096)))
        return VMXERR_7;
    if ((proc & PROC_USE_MSR_BITMAPS) && !phys_ok(vmcs_get(v, VI_MSR_BITMAP_ADDR), 4096))
        return VMXERR_7;
    /* SDM 27.2.1.1: TPR shadow: a valid virtual-APIC page (this processor
     * also requires it to be RAM: it never accesses other host memory);
     * without virtual-interrupt delivery, TPR threshold bits 31:4 zero, and
     * when APIC accesses are not virtualized either, the threshold not
     * above VTPR[7:4] */
    if (proc & PROC_USE_TPR_SHADOW) {
        uint64_t va = vmcs_get(v, VI_VIRTUAL_APIC_PAGE_ADDR);
        uint64_t thr = vmcs_get(v, VI_TPR_THRESHOLD);
        const uint8_t *page = physmem_ptr(pm, va, 4096);
        if (!phys_ok(va, 4096) || !page)
            return VMXERR_7;
        bool vid = proc2 & PROC2_VIRTUAL_INTERRUPT_DELIVERY;
        if (!vid && (thr >> 4))
            return VMXERR_7;
        if (!vid && !(proc2 & PROC2_VIRTUALIZE_APIC_ACCESSES) &&
            (thr & 0xf) > (uint64_t)(page[0x80] >> 4))
            return VMXERR_7;
    } else if (proc2 & (PROC2_VIRTUALIZE_X2APIC_MODE | PROC2_APIC_REGISTER_VIRTUALIZATION |
                        PROC2_VIRTUAL_INTERRUPT_DELIVERY)) {
        /* these three need "use TPR shadow" */
        return VMXERR_7;
    }
    /* x2APIC mode and APIC accesses are not virtualized together */
    if ((proc2 & PROC2_VIRTUALIZE_X2APIC_MODE) && (proc2 & PROC2_VIRTUALIZE_APIC_ACCESSES))
        return VMXERR_7;
    /* virtual-interrupt delivery needs external-interrupt exiting */
    if ((proc2 & PROC2_VIRTUAL_INTERRUPT_DELIVERY) && !(pin & PIN_EXTERNAL_INTERRUPT_EXITING))
        return VMXERR_7;
    /* process posted interrupts: virtual-interrupt delivery, "acknowledge
     * interrupt on exit", a notification vector in bits 7:0, and a
     * 64-byte-aligned descriptor; this processor also requires the
     * descriptor to be RAM */
    if (pin & PIN_PROCESS_POSTED_INTERRUPTS) {
        uint64_t pid = vmcs_get(v, VI_POSTED_INTR_DESC_ADDR);
        if (!(proc2 & PROC2_VIRTUAL_INTERRUPT_DELIVERY) ||
            !(exit & EXIT_CTL_ACKNOWLEDGE_INTERRUPT_ON_EXIT) ||
            (vmcs_get(v, VI_POSTED_INTR_NOTIFICATION_VECTOR) >> 8) || !phys_ok(pid, 64) ||
            !physmem_ptr(pm, pid, 64))
            return VMXERR_7;
    }
    if (!(pin & PIN_NMI_EXITING) && (pin & PIN_VIRTUAL_NMIS))
        return VMXERR_7;
    if (!(pin & PIN_VIRTUAL_NMIS) && (proc & PROC_NMI_WINDOW_EXITING))
        return VMXERR_7;
    if ((proc2 & PROC2_ENABLE_EPT) &&
        !ept_eptp_valid(vmcs_get(v, VI_EPT_POINTER), (caps->ept_vpid_cap >> 21) & 1))
        return VMXERR_7;
    if ((proc2 & PROC2_UNRESTRICTED_GUEST) && !(proc2 & PROC2_ENABLE_EPT))
        return VMXERR_7;
    if ((proc2 & PROC2_VIRTUALIZE_APIC_ACCESSES) &&
        !phys_ok(vmcs_get(v, VI_APIC_ACCESS_ADDR), 4096))
        return VMXERR_7;
    if ((proc2 & PROC2_ENABLE_VPID) && vmcs_get(v, VI_VIRTUAL_PROCESSOR_ID) == 0)
        return VMXERR_7;
    if ((proc2 & PROC2_USE_TSC_SCALING) && vmcs_get(v, VI_TSC_MULTIPLIER) == 0)
        return VMXERR_7;
    /* 26.2.1.2: "save VMX-preemption-timer value" needs the timer */
    if ((exit & EXIT_CTL_SAVE_VMX_PREEMPTION_TIMER_VALUE) &&
        !(pin & PIN_ACTIVATE_VMX_PREEMPTION_TIMER))
        return VMXERR_7;
    /* MSR lists: 16-byte aligned, within the physical-address width; the
     * VM-exit MSR-load list would load host MSRs, and the host is L0's C
     * code: this processor supports no entries there (count must be 0) */
    uint64_t maxn = 512 * (((caps->misc >> 25) & 7) + 1);
    if (vmcs_get(v, VI_VM_EXIT_MSR_LOAD_COUNT) || vmcs_get(v, VI_VM_EXIT_MSR_STORE_COUNT) > maxn ||
        vmcs_get(v, VI_VM_ENTRY_MSR_LOAD_COUNT) > maxn)
        return VMXERR_7;
    if ((vmcs_get(v, VI_VM_EXIT_MSR_STORE_COUNT) &&
         !phys_ok(vmcs_get(v, VI_VM_EXIT_MSR_STORE_ADDR), 16)) ||
        (vmcs_get(v, VI_VM_ENTRY_MSR_LOAD_COUNT) &&
         !phys_ok(vmcs_get(v, VI_VM_ENTRY_MSR_LOAD_ADDR), 16)))
        return VMXERR_7;
    /* 26.2.1.3: VM-entry event injection */
    uint32_t ii = (uint32_t)vmcs_get(v, VI_VM_ENTRY_INTERRUPTION_INFO);
    if (ii & INTR_INFO_VALID) {
        uint32_t type = (ii >> 8) & 7, vec = ii & 0xff;
        if (ii & 0x7ffff000u)
            return VMXERR_7;
        if (type == 1 || (type == INTR_TYPE_NMI && vec != 2) ||
            (type == INTR_TYPE_HW_EXCEPTION && vec > 31) || (type == INTR_TYPE_OTHER && vec != 0))
            return VMXERR_7;
        if (type == INTR_TYPE_OTHER)
            return VMXERR_7; /* MTF is not supported */
        bool pe = vmcs_get(v, VI_GUEST_CR0) & CR0_PE;
        bool errcode_vec =
            vec == 8 || vec == 10 || vec == 11 || vec == 12 || vec == 13 || vec == 14 || vec == 17;
        bool should = type == INTR_TYPE_HW_EXCEPTION && errcode_vec &&
                      (pe || !(proc2 & PROC2_UNRESTRICTED_GUEST));
        if (!!(ii & INTR_INFO_ERRCODE) != should)
            return VMXERR_7;
        if ((ii & INTR_INFO_ERRCODE) && (vmcs_get(v, VI_VM_ENTRY_EXCEPTION_ERROR_CODE) >> 16))
            return VMXERR_7;
        if ((type == INTR_TYPE_SW_INTR || type == INTR_TYPE_PRIV_SW_EXCEPTION ||
             type == INTR_TYPE_SW_EXCEPTION) &&
            (vmcs_get(v, VI_VM_ENTRY_INSTRUCTION_LENGTH) == 0 ||
             vmcs_get(v, VI_VM_ENTRY_INSTRUCTION_LENGTH) > 15))
            return VMXERR_7;
    }
    return 0;
}

int vmx_check_host_state(const struct vmcs *v, const struct vmx_caps *caps)
{
    return vmx_check_host_state_mode(v, caps, true);
}

int vmx_check_host_state_mode(const struct vmcs *v, const struct vmx_caps *caps, bool in_ia32e)
{
    uint64_t cr0 = vmcs_get(v, VI_HOST_CR0), cr4 = vmcs_get(v, VI_HOST_CR4);
    uint32_t exit = (uint32_t)vmcs_get(v, VI_PRIMARY_VM_EXIT_CONTROLS);
    /* 26.2.2: control registers and MSRs */
    if ((cr0 & caps->cr0_fixed0) != caps->cr0_fixed0 || (cr0 & ~caps->cr0_fixed1))
        return VMXERR_8;
    if ((cr4 & caps->cr4_fixed0) != caps->cr4_fixed0 || (cr4 & ~caps->cr4_fixed1))
        return VMXERR_8;
    if (vmcs_get(v, VI_HOST_CR3) & ~PHYS_MASK)
        return VMXERR_8;
    if (!canon(vmcs_get(v, VI_HOST_IA32_SYSENTER_ESP)) ||
        !canon(vmcs_get(v, VI_HOST_IA32_SYSENTER_EIP)))
        return VMXERR_8;
    if ((exit & EXIT_CTL_LOAD_IA32_PAT) && !cpu_pat_valid(vmcs_get(v, VI_HOST_IA32_PAT)))
        return VMXERR_8;
    /* 27.2.2: with "load IA32_PERF_GLOBAL_CTRL", the MSR's reserved bits
     * must be 0 in the host field */
    if ((exit & EXIT_CTL_LOAD_IA32_PERF_GLOBAL_CTRL) &&
        (vmcs_get(v, VI_HOST_IA32_PERF_GLOBAL_CTRL) & ~PERF_GLOBAL_CTRL_VALID))
        return VMXERR_8;
    /* 27.2.2: with "load IA32_EFER", reserved bits 0 and LMA = LME = the
     * host address-space size */
    bool host64 = exit & EXIT_CTL_HOST_ADDRESS_SPACE_SIZE;
    if (exit & EXIT_CTL_LOAD_IA32_EFER) {
        uint64_t efer = vmcs_get(v, VI_HOST_IA32_EFER);
        if ((efer & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) ||
            !!(efer & EFER_LMA) != host64 || !!(efer & EFER_LME) != host64)
            return VMXERR_8;
    }
    /* 27.2.3: a processor in IA-32e mode needs a 64-bit host (L0 always
     * is); outside it the host is 32-bit (a nested L1 may be either) */
    if (host64 != in_ia32e)
        return VMXERR_8;
    if (host64 ? (!(cr4 & CR4_PAE) || !canon(vmcs_get(v, VI_HOST_RIP)))
               : (vmcs_get(v, VI_HOST_RIP) >> 32) != 0 || !vmcs_get(v, VI_HOST_SS_SELECTOR))
        return VMXERR_8;
    /* selectors: RPL and TI zero; CS and TR non-null; SS non-null unless
     * the host is 64-bit (26.2.2) */
    static const enum vmcs_index sels[] = {
        VI_HOST_ES_SELECTOR, VI_HOST_CS_SELECTOR, VI_HOST_SS_SELECTOR, VI_HOST_DS_SELECTOR,
        VI_HOST_FS_SELECTOR, VI_HOST_GS_SELECTOR, VI_HOST_TR_SELECTOR};
    for (size_t i = 0; i < sizeof(sels) / sizeof(sels[0]); i++)
        if (vmcs_get(v, sels[i]) & 7)
            return VMXERR_8;
    if (!vmcs_get(v, VI_HOST_CS_SELECTOR) || !vmcs_get(v, VI_HOST_TR_SELECTOR))
        return VMXERR_8;
    if (!canon(vmcs_get(v, VI_HOST_FS_BASE)) || !canon(vmcs_get(v, VI_HOST_GS_BASE)) ||
        !canon(vmcs_get(v, VI_HOST_TR_BASE)) || !canon(vmcs_get(v, VI_HOST_GDTR_BASE)) ||
        !canon(vmcs_get(v, VI_HOST_IDTR_BASE)))
        return VMXERR_8;
    return 0;
}

/* 26.3.1.2: segment registers (protected-mode and IA-32e rules; with
 * "unrestricted guest" and CR0.PE = 0 the real-mode rules are relaxed). */
static bool guest_segments_ok(const struct vmcs *v, bool ia32e, bool unrestricted_real)
{
    uint32_t cs_ar = (uint32_t)vmcs_get(v, VI_GUEST_CS_ACCESS_RIGHTS);
    uint32_t ss_ar = (uint32_t)vmcs_get(v, VI_GUEST_SS_ACCESS_RIGHTS);
    uint32_t tr_ar = (uint32_t)vmcs_get(v, VI_GUEST_TR_ACCESS_RIGHTS);
    uint32_t ldtr_ar = (uint32_t)vmcs_get(v, VI_GUEST_LDTR_ACCESS_RIGHTS);
    static const enum vmcs_index ars[] = {VI_GUEST_ES_ACCESS_RIGHTS,   VI_GUEST_CS_ACCESS_RIGHTS,
                                          VI_GUEST_SS_ACCESS_RIGHTS,   VI_GUEST_DS_ACCESS_RIGHTS,
                                          VI_GUEST_FS_ACCESS_RIGHTS,   VI_GUEST_GS_ACCESS_RIGHTS,
                                          VI_GUEST_LDTR_ACCESS_RIGHTS, VI_GUEST_TR_ACCESS_RIGHTS};
    for (size_t i = 0; i < sizeof(ars) / sizeof(ars[0]); i++) {
        uint32_t ar = (uint32_t)vmcs_get(v, ars[i]);
        if (ar & 0x10000)
            continue;
        if (ar & 0xfffe0f00u) /* reserved bits 11:8, 31:17 */
            return false;
    }
    /* TR: usable, busy TSS (type 11, or 3 outside IA-32e), S = 0, present */
    if (tr_ar & 0x10000)
        return false;
    if (!((tr_ar & 0xf) == 11 || (!ia32e && (tr_ar & 0xf) == 3)) || (tr_ar & 0x10) ||
        !(tr_ar & 0x80))
        return false;
    if (vmcs_get(v, VI_GUEST_TR_SELECTOR) & 4)
        return false;
    /* LDTR if usable: type 2, S = 0, present, TI = 0 */
    if (!(ldtr_ar & 0x10000) && ((ldtr_ar & 0xf) != 2 || (ldtr_ar & 0x10) || !(ldtr_ar & 0x80) ||
                                 (vmcs_get(v, VI_GUEST_LDTR_SELECTOR) & 4)))
        return false;
    if (unrestricted_real)
        return true;
    /* CS: accessed code (9/11/13/15), S = 1, present; in IA-32e mode L and
     * D/B not both set */
    uint32_t ct = cs_ar & 0xf;
    if (!(ct == 9 || ct == 11 || ct == 13 || ct == 15) || !(cs_ar & 0x10) || !(cs_ar & 0x80))
        return false;
    if (ia32e && (cs_ar & 0x2000) && (cs_ar & 0x4000))
        return false;
    /* SS: if usable, writable data (3 or 7), and SS.DPL = CS.RPL... the
     * DPL rule as for a nonconforming CS: SS.DPL = CS.DPL */
    if (!(ss_ar & 0x10000)) {
        if ((ss_ar & 0xf) != 3 && (ss_ar & 0xf) != 7)
            return false;
        if (!(cs_ar & 4) && ((ss_ar >> 5) & 3) != ((cs_ar >> 5) & 3))
            return false;
    }
    return true;
}

int vmx_check_guest_state(const struct vmcs *v, const struct vmx_caps *caps)
{
    uint32_t proc = (uint32_t)vmcs_get(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    uint32_t proc2 = (proc & PROC_ACTIVATE_SECONDARY_CONTROLS)
                         ? (uint32_t)vmcs_get(v, VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL)
                         : 0;
    uint32_t entry = (uint32_t)vmcs_get(v, VI_VM_ENTRY_CONTROLS);
    bool ia32e = entry & ENTRY_CTL_IA32E_MODE_GUEST;
    bool unrestricted = proc2 & PROC2_UNRESTRICTED_GUEST;
    uint64_t cr0 = vmcs_get(v, VI_GUEST_CR0), cr4 = vmcs_get(v, VI_GUEST_CR4);
    /* 26.3.1.1: control registers (PE/PG may be 0 with unrestricted guest) */
    uint64_t f0 = caps->cr0_fixed0;
    if (unrestricted)
        f0 &= ~(CR0_PE | CR0_PG);
    if ((cr0 & f0) != f0 || (cr0 & ~caps->cr0_fixed1) || ((cr0 & CR0_PG) && !(cr0 & CR0_PE)))
        return 1;
    if ((cr4 & caps->cr4_fixed0) != caps->cr4_fixed0 || (cr4 & ~caps->cr4_fixed1))
        return 1;
    if (ia32e && (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE)))
        return 1;
    if (!ia32e && (cr4 & CR4_PCIDE))
        return 1;
    if (vmcs_get(v, VI_GUEST_CR3) & ~PHYS_MASK)
        return 1;
    if ((entry & ENTRY_CTL_LOAD_DEBUG_CONTROLS) &&
        ((vmcs_get(v, VI_GUEST_DR7) >> 32) || vmcs_get(v, VI_GUEST_IA32_DEBUGCTL)))
        return 1; /* DR7[63:32] zero; DEBUGCTL: no supported bits */
    if (!canon(vmcs_get(v, VI_GUEST_IA32_SYSENTER_ESP)) ||
        !canon(vmcs_get(v, VI_GUEST_IA32_SYSENTER_EIP)))
        return 1;
    if ((entry & ENTRY_CTL_LOAD_IA32_PAT) && !cpu_pat_valid(vmcs_get(v, VI_GUEST_IA32_PAT)))
        return 1;
    /* 27.3.1.1: likewise for the guest field with the VM-entry control */
    if ((entry & ENTRY_CTL_LOAD_IA32_PERF_GLOBAL_CTRL) &&
        (vmcs_get(v, VI_GUEST_IA32_PERF_GLOBAL_CTRL) & ~PERF_GLOBAL_CTRL_VALID))
        return 1;
    if (entry & ENTRY_CTL_LOAD_IA32_EFER) {
        uint64_t efer = vmcs_get(v, VI_GUEST_IA32_EFER);
        if (efer & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
            return 1;
        if (!!(efer & EFER_LMA) != ia32e || ((cr0 & CR0_PG) && !!(efer & EFER_LME) != ia32e))
            return 1;
    }
    /* 26.3.1.2-3: segments, descriptor tables, RIP, RFLAGS */
    bool real = unrestricted && !(cr0 & CR0_PE);
    if (!guest_segments_ok(v, ia32e, real))
        return 1;
    if (!canon(vmcs_get(v, VI_GUEST_GDTR_BASE)) || !canon(vmcs_get(v, VI_GUEST_IDTR_BASE)) ||
        (vmcs_get(v, VI_GUEST_GDTR_LIMIT) >> 16) || (vmcs_get(v, VI_GUEST_IDTR_LIMIT) >> 16))
        return 1;
    uint32_t cs_ar = (uint32_t)vmcs_get(v, VI_GUEST_CS_ACCESS_RIGHTS);
    uint64_t rip = vmcs_get(v, VI_GUEST_RIP);
    if (!(ia32e && (cs_ar & 0x2000)) ? (rip >> 32) != 0 : !canon(rip))
        return 1;
    uint64_t rfl = vmcs_get(v, VI_GUEST_RFLAGS);
    if ((rfl & ~0x3f7fd7ull) || !(rfl & 2))
        return 1;
    if ((ia32e || !(cr0 & CR0_PE)) && (rfl & FL_VM))
        return 1;
    /* 26.3.1.5: activity and interruptibility state */
    uint64_t act = vmcs_get(v, VI_GUEST_ACTIVITY_STATE);
    uint64_t intr = vmcs_get(v, VI_GUEST_INTERRUPTIBILITY_STATE);
    if (act > ACTIVITY_WAIT_SIPI || (intr & ~0x1full))
        return 1;
    if ((intr & INTR_STATE_STI) && (intr & INTR_STATE_MOV_SS))
        return 1;
    if ((intr & INTR_STATE_STI) && !(rfl & FL_IF))
        return 1;
    if (act == ACTIVITY_HLT && ((vmcs_get(v, VI_GUEST_SS_ACCESS_RIGHTS) >> 5) & 3) != 0)
        return 1;
    if (act != ACTIVITY_ACTIVE && (intr & (INTR_STATE_STI | INTR_STATE_MOV_SS)))
        return 1;
    /* 26.3.1.5: VMCS link pointer (no VMCS shadowing): all ones */
    if (vmcs_get(v, VI_VMCS_LINK_POINTER) != ~0ull)
        return 1 + 4;
    return 0;
}
