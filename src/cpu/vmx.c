/* VMX non-root operation driven through a hardware VMCS: VM entry (SDM 27:
 * checks, guest-state loading, event injection), and VM exit (SDM 28:
 * exit information, guest-state saving). The execution engine itself is
 * cpu_run() (cpu.c); this file moves state between the VMCS and the
 * engine and caches the controls the engine consults. */
#include "vmx.h"

#include "cpu_internal.h"
#include "vmx_caps.h"

/* "virtual-interrupt delivery" in effect (it needs the secondary controls) */
static bool vmx_vid_on(const struct vmcs *v)
{
    return (vmcs_get(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL) &
            PROC_ACTIVATE_SECONDARY_CONTROLS) &&
           (vmcs_get(v, VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL) &
            PROC2_VIRTUAL_INTERRUPT_DELIVERY);
}

static const enum vmcs_index seg_sel[NR_SEGS] = {
    VI_GUEST_ES_SELECTOR, VI_GUEST_CS_SELECTOR, VI_GUEST_SS_SELECTOR,   VI_GUEST_DS_SELECTOR,
    VI_GUEST_FS_SELECTOR, VI_GUEST_GS_SELECTOR, VI_GUEST_LDTR_SELECTOR, VI_GUEST_TR_SELECTOR,
};
static const enum vmcs_index seg_base[NR_SEGS] = {
    VI_GUEST_ES_BASE, VI_GUEST_CS_BASE, VI_GUEST_SS_BASE,   VI_GUEST_DS_BASE,
    VI_GUEST_FS_BASE, VI_GUEST_GS_BASE, VI_GUEST_LDTR_BASE, VI_GUEST_TR_BASE,
};
static const enum vmcs_index seg_limit[NR_SEGS] = {
    VI_GUEST_ES_LIMIT, VI_GUEST_CS_LIMIT, VI_GUEST_SS_LIMIT,   VI_GUEST_DS_LIMIT,
    VI_GUEST_FS_LIMIT, VI_GUEST_GS_LIMIT, VI_GUEST_LDTR_LIMIT, VI_GUEST_TR_LIMIT,
};
static const enum vmcs_index seg_ar[NR_SEGS] = {
    VI_GUEST_ES_ACCESS_RIGHTS,   VI_GUEST_CS_ACCESS_RIGHTS, VI_GUEST_SS_ACCESS_RIGHTS,
    VI_GUEST_DS_ACCESS_RIGHTS,   VI_GUEST_FS_ACCESS_RIGHTS, VI_GUEST_GS_ACCESS_RIGHTS,
    VI_GUEST_LDTR_ACCESS_RIGHTS, VI_GUEST_TR_ACCESS_RIGHTS,
};

/* Guest-state area -> processor (SDM 27.3.2). */
void vmx_load_guest_state(struct cpu *cpu, const struct vmcs *v)
{
    uint32_t entry = (uint32_t)vmcs_get(v, VI_VM_ENTRY_CONTROLS);
    uint64_t old_cr0 = cpu->cr0, old_cr3 = cpu->cr3, old_cr4 = cpu->cr4, old_efer = cpu->efer;
    cpu->cr0 = vmcs_get(v, VI_GUEST_CR0);
    cpu->cr3 = vmcs_get(v, VI_GUEST_CR3);
    cpu->cr4 = vmcs_get(v, VI_GUEST_CR4);
    if (entry & ENTRY_CTL_LOAD_DEBUG_CONTROLS) {
        cpu->dr[7] = vmcs_get(v, VI_GUEST_DR7);
        cpu->debugctl = vmcs_get(v, VI_GUEST_IA32_DEBUGCTL);
        cpu_dr7_changed(cpu);
    }
    cpu->regs[R_RSP] = vmcs_get(v, VI_GUEST_RSP);
    cpu->rip = vmcs_get(v, VI_GUEST_RIP);
    cpu->lf.op = LF_NONE;
    cpu->rflags = vmcs_get(v, VI_GUEST_RFLAGS) | 2;
    for (int s = 0; s < NR_SEGS; s++) {
        cpu->seg[s].sel = (uint16_t)vmcs_get(v, seg_sel[s]);
        cpu->seg[s].base = vmcs_get(v, seg_base[s]);
        cpu->seg[s].limit = (uint32_t)vmcs_get(v, seg_limit[s]);
        cpu->seg[s].ar = (uint32_t)vmcs_get(v, seg_ar[s]);
    }
    cpu->gdtr.base = vmcs_get(v, VI_GUEST_GDTR_BASE);
    cpu->gdtr.limit = (uint16_t)vmcs_get(v, VI_GUEST_GDTR_LIMIT);
    cpu->idtr.base = vmcs_get(v, VI_GUEST_IDTR_BASE);
    cpu->idtr.limit = (uint16_t)vmcs_get(v, VI_GUEST_IDTR_LIMIT);
    cpu->sysenter_cs = vmcs_get(v, VI_GUEST_IA32_SYSENTER_CS);
    cpu->sysenter_esp = vmcs_get(v, VI_GUEST_IA32_SYSENTER_ESP);
    cpu->sysenter_eip = vmcs_get(v, VI_GUEST_IA32_SYSENTER_EIP);
    if (entry & ENTRY_CTL_LOAD_IA32_PAT)
        cpu->pat = vmcs_get(v, VI_GUEST_IA32_PAT);
    if (entry & ENTRY_CTL_LOAD_IA32_PERF_GLOBAL_CTRL) /* SDM 27.3.2.1 */
        cpu->perf_global_ctrl = vmcs_get(v, VI_GUEST_IA32_PERF_GLOBAL_CTRL);
    if (entry & ENTRY_CTL_LOAD_IA32_EFER) {
        cpu->efer = vmcs_get(v, VI_GUEST_IA32_EFER);
    } else {
        /* LMA and LME follow the "IA-32e mode guest" control (27.3.2.1) */
        if (entry & ENTRY_CTL_IA32E_MODE_GUEST)
            cpu->efer |= EFER_LMA | EFER_LME;
        else
            cpu->efer &= ~(EFER_LMA | EFER_LME);
    }
    cpu->interruptibility = (uint32_t)vmcs_get(v, VI_GUEST_INTERRUPTIBILITY_STATE);
    cpu->activity = (uint32_t)vmcs_get(v, VI_GUEST_ACTIVITY_STATE);
    if (vmx_vid_on(v)) /* SDM 27.3.2.5: RVI and SVI */
        cpu->guest_intr_status = (uint16_t)vmcs_get(v, VI_GUEST_INTERRUPT_STATUS);
    if ((cpu->cr0 & CR0_PG) && (cpu->cr4 & CR4_PAE) && !(cpu->efer & EFER_LMA)) {
        cpu->pdpte[0] = vmcs_get(v, VI_GUEST_PDPTE0);
        cpu->pdpte[1] = vmcs_get(v, VI_GUEST_PDPTE1);
        cpu->pdpte[2] = vmcs_get(v, VI_GUEST_PDPTE2);
        cpu->pdpte[3] = vmcs_get(v, VI_GUEST_PDPTE3);
    }
    cpu->cpl = (cpu->seg[S_SS].ar >> 5) & 3; /* CPL is SS.DPL (SDM 27.3.2.2) */
    cpu_update_mode(cpu);
    /* Without VPIDs a VM entry may not keep stale translations across a
     * change of paging state made by L0 in the VMCS (SDM 28.3.3.3). */
    if (((old_cr0 ^ cpu->cr0) & (CR0_PG | CR0_WP | CR0_PE)) || old_cr3 != cpu->cr3 ||
        ((old_cr4 ^ cpu->cr4) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE)) ||
        ((old_efer ^ cpu->efer) & (EFER_NXE | EFER_LMA)))
        tlb_flush_all(cpu, true);
}

/* Processor -> guest-state area (SDM 28.3). */
void vmx_save_guest_state(struct cpu *cpu, struct vmcs *v)
{
    uint32_t exit = (uint32_t)vmcs_get(v, VI_PRIMARY_VM_EXIT_CONTROLS);
    vmcs_set(v, VI_GUEST_CR0, cpu->cr0);
    vmcs_set(v, VI_GUEST_CR3, cpu->cr3);
    vmcs_set(v, VI_GUEST_CR4, cpu->cr4);
    if (exit & EXIT_CTL_SAVE_DEBUG_CONTROLS) {
        vmcs_set(v, VI_GUEST_DR7, cpu->dr[7]);
        vmcs_set(v, VI_GUEST_IA32_DEBUGCTL, cpu->debugctl);
    }
    vmcs_set(v, VI_GUEST_RSP, cpu->regs[R_RSP]);
    vmcs_set(v, VI_GUEST_RIP, cpu->rip);
    vmcs_set(v, VI_GUEST_RFLAGS, flags_materialize(cpu));
    for (int s = 0; s < NR_SEGS; s++) {
        vmcs_set(v, seg_sel[s], cpu->seg[s].sel);
        vmcs_set(v, seg_base[s], cpu->seg[s].base);
        vmcs_set(v, seg_limit[s], cpu->seg[s].limit);
        vmcs_set(v, seg_ar[s], cpu->seg[s].ar);
    }
    vmcs_set(v, VI_GUEST_GDTR_BASE, cpu->gdtr.base);
    vmcs_set(v, VI_GUEST_GDTR_LIMIT, cpu->gdtr.limit);
    vmcs_set(v, VI_GUEST_IDTR_BASE, cpu->idtr.base);
    vmcs_set(v, VI_GUEST_IDTR_LIMIT, cpu->idtr.limit);
    vmcs_set(v, VI_GUEST_IA32_SYSENTER_CS, cpu->sysenter_cs);
    vmcs_set(v, VI_GUEST_IA32_SYSENTER_ESP, cpu->sysenter_esp);
    vmcs_set(v, VI_GUEST_IA32_SYSENTER_EIP, cpu->sysenter_eip);
    if (exit & EXIT_CTL_SAVE_IA32_PAT)
        vmcs_set(v, VI_GUEST_IA32_PAT, cpu->pat);
    if (exit & EXIT_CTL_SAVE_IA32_EFER)
        vmcs_set(v, VI_GUEST_IA32_EFER, cpu->efer);
    if (exit & EXIT_CTL_SAVE_IA32_PERF_GLOBAL_CTRL) /* before the host value is loaded */
        vmcs_set(v, VI_GUEST_IA32_PERF_GLOBAL_CTRL, cpu->perf_global_ctrl);
    vmcs_set(v, VI_GUEST_INTERRUPTIBILITY_STATE, cpu->interruptibility);
    vmcs_set(v, VI_GUEST_ACTIVITY_STATE, cpu->activity);
    if (vmx_vid_on(v)) /* SDM 28.3.3: RVI and SVI */
        vmcs_set(v, VI_GUEST_INTERRUPT_STATUS, cpu->guest_intr_status);
    if ((cpu->cr0 & CR0_PG) && (cpu->cr4 & CR4_PAE) && !(cpu->efer & EFER_LMA)) {
        vmcs_set(v, VI_GUEST_PDPTE0, cpu->pdpte[0]);
        vmcs_set(v, VI_GUEST_PDPTE1, cpu->pdpte[1]);
        vmcs_set(v, VI_GUEST_PDPTE2, cpu->pdpte[2]);
        vmcs_set(v, VI_GUEST_PDPTE3, cpu->pdpte[3]);
    }
    /* "IA-32e mode guest" reflects EFER.LMA at exit (28.2) */
    uint64_t entry = vmcs_get(v, VI_VM_ENTRY_CONTROLS);
    if (cpu->efer & EFER_LMA)
        entry |= ENTRY_CTL_IA32E_MODE_GUEST;
    else
        entry &= ~ENTRY_CTL_IA32E_MODE_GUEST;
    vmcs_set(v, VI_VM_ENTRY_CONTROLS, entry);
}

/* The controls the engine consults during execution (SDM 25.6). */
static void cache_controls(struct cpu *cpu, const struct vmcs *v)
{
    struct cpu_controls *c = &cpu->ctl;
    uint64_t old_eptp = c->eptp;
    bool old_ept = (c->proc & PROC_ACTIVATE_SECONDARY_CONTROLS) && (c->proc2 & PROC2_ENABLE_EPT);
    uint32_t old_proc2 = c->proc2;
    c->pin = (uint32_t)vmcs_get(v, VI_PIN_BASED_VM_EXEC_CONTROL);
    c->proc = (uint32_t)vmcs_get(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    c->proc2 = (c->proc & PROC_ACTIVATE_SECONDARY_CONTROLS)
                   ? (uint32_t)vmcs_get(v, VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL)
                   : 0;
    c->tsc_offset = vmcs_get(v, VI_TSC_OFFSET);
    c->tsc_multiplier = vmcs_get(v, VI_TSC_MULTIPLIER);
    c->exit = (uint32_t)vmcs_get(v, VI_PRIMARY_VM_EXIT_CONTROLS);
    c->virtual_apic = vmcs_get(v, VI_VIRTUAL_APIC_PAGE_ADDR);
    /* translations of the APIC-access page are never cached while APIC
     * accesses are virtualized: a new page or a change of the control
     * flushes the TLB */
    uint64_t old_apic = c->apic_access;
    bool old_vaa = old_proc2 & PROC2_VIRTUALIZE_APIC_ACCESSES;
    c->apic_access = vmcs_get(v, VI_APIC_ACCESS_ADDR);
    bool vaa = c->proc2 & PROC2_VIRTUALIZE_APIC_ACCESSES;
    if (vaa != old_vaa || (vaa && c->apic_access != old_apic))
        tlb_flush_all(cpu, true);
    c->tpr_threshold = (uint32_t)vmcs_get(v, VI_TPR_THRESHOLD);
    c->eoi_exit[0] = vmcs_get(v, VI_EOI_EXIT_BITMAP0);
    c->eoi_exit[1] = vmcs_get(v, VI_EOI_EXIT_BITMAP1);
    c->eoi_exit[2] = vmcs_get(v, VI_EOI_EXIT_BITMAP2);
    c->eoi_exit[3] = vmcs_get(v, VI_EOI_EXIT_BITMAP3);
    c->xss_exit_bitmap = vmcs_get(v, VI_XSS_EXITING_BITMAP);
    c->pi_vector = (uint8_t)vmcs_get(v, VI_POSTED_INTR_NOTIFICATION_VECTOR);
    c->pi_desc = vmcs_get(v, VI_POSTED_INTR_DESC_ADDR);
    c->ple_gap = (uint32_t)vmcs_get(v, VI_PLE_GAP);
    c->ple_window = (uint32_t)vmcs_get(v, VI_PLE_WINDOW);
    c->eptp = vmcs_get(v, VI_EPT_POINTER);
    c->msr_bitmap = vmcs_get(v, VI_MSR_BITMAP_ADDR);
    c->exception_bitmap = (uint32_t)vmcs_get(v, VI_EXCEPTION_BITMAP);
    c->io_bitmap_a = vmcs_get(v, VI_IO_BITMAP_A_ADDR);
    c->io_bitmap_b = vmcs_get(v, VI_IO_BITMAP_B_ADDR);
    c->pfec_mask = (uint32_t)vmcs_get(v, VI_PAGE_FAULT_ERROR_CODE_MASK);
    c->pfec_match = (uint32_t)vmcs_get(v, VI_PAGE_FAULT_ERROR_CODE_MATCH);
    c->cr0_mask = vmcs_get(v, VI_CR0_GUEST_HOST_MASK);
    c->cr0_shadow = vmcs_get(v, VI_CR0_READ_SHADOW);
    c->cr4_mask = vmcs_get(v, VI_CR4_GUEST_HOST_MASK);
    c->cr4_shadow = vmcs_get(v, VI_CR4_READ_SHADOW);
    c->cr3_target_count = (uint32_t)vmcs_get(v, VI_CR3_TARGET_COUNT);
    c->cr3_target[0] = vmcs_get(v, VI_CR3_TARGET_VALUE0);
    c->cr3_target[1] = vmcs_get(v, VI_CR3_TARGET_VALUE1);
    c->cr3_target[2] = vmcs_get(v, VI_CR3_TARGET_VALUE2);
    c->cr3_target[3] = vmcs_get(v, VI_CR3_TARGET_VALUE3);
    bool ept = (c->proc & PROC_ACTIVATE_SECONDARY_CONTROLS) && (c->proc2 & PROC2_ENABLE_EPT);
    uint16_t old_vpid = c->vpid;
    c->vpid = (c->proc2 & PROC2_ENABLE_VPID) ? (uint16_t)vmcs_get(v, VI_VIRTUAL_PROCESSOR_ID) : 0;
    /* The TLB is not tagged: a change of EPTP or VPID flushes it, which is
     * always allowed (a TLB is a cache; SDM 29.4) */
    if (ept != old_ept || (ept && c->eptp != old_eptp) || c->vpid != old_vpid)
        tlb_flush_all(cpu, true);
}

/* Exit information (SDM 28.2) from the engine's record into the VMCS. */
static void store_exit_info(struct cpu *cpu, struct vmcs *v)
{
    const struct cpu_exit *e = &cpu->exit;
    vmcs_set(v, VI_EXIT_REASON, e->reason);
    vmcs_set(v, VI_EXIT_QUALIFICATION, e->qualification);
    vmcs_set(v, VI_GUEST_LINEAR_ADDRESS, e->guest_linear);
    vmcs_set(v, VI_GUEST_PHYSICAL_ADDRESS, e->guest_physical);
    vmcs_set(v, VI_VM_EXIT_INTERRUPTION_INFO, e->intr_info);
    vmcs_set(v, VI_VM_EXIT_INTERRUPTION_ERROR_CODE, e->intr_error);
    vmcs_set(v, VI_IDT_VECTORING_INFO, e->idt_vectoring_info);
    vmcs_set(v, VI_IDT_VECTORING_ERROR_CODE, e->idt_vectoring_error);
    vmcs_set(v, VI_VM_EXIT_INSTRUCTION_LENGTH, e->instr_len);
    vmcs_set(v, VI_VM_EXIT_INSTRUCTION_INFO, e->instr_info);
    /* the valid bit of the entry interruption information is cleared on
     * every VM exit (SDM 28.2.1, formats.md section 4) */
    vmcs_set(v, VI_VM_ENTRY_INTERRUPTION_INFO,
             vmcs_get(v, VI_VM_ENTRY_INTERRUPTION_INFO) & ~(uint64_t)INTR_INFO_VALID);
}

/* VM-entry MSR-load list (SDM 26.4): 16-byte entries {index, reserved,
 * value} at a host-physical address. Returns 0, or the 1-based index of the
 * failing entry (exit qualification of the entry failure, reason 34). */
static uint32_t load_msr_list(struct cpu *cpu, const struct vmcs *v)
{
    uint64_t n = vmcs_get(v, VI_VM_ENTRY_MSR_LOAD_COUNT);
    uint64_t at = vmcs_get(v, VI_VM_ENTRY_MSR_LOAD_ADDR);
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *e = physmem_ptr(cpu->mem, at + i * 16, 16);
        if (!e)
            return (uint32_t)i + 1;
        uint32_t idx, rsvd;
        uint64_t val;
        memcpy(&idx, e, 4);
        memcpy(&rsvd, e + 4, 4);
        memcpy(&val, e + 8, 8);
        /* FS/GS base and x2APIC MSRs may not be loaded this way (26.4) */
        if (rsvd || idx == 0xc0000100 || idx == 0xc0000101 || (idx >> 8) == 0x8 ||
            !cpu_msr_write_checked(cpu, idx, val))
            return (uint32_t)i + 1;
    }
    return 0;
}

/* VM-exit MSR-store list (SDM 28.4): returns false on a failure (the
 * processor would then VMX-abort with indicator 1). */
static bool store_msr_list(struct cpu *cpu, const struct vmcs *v)
{
    uint64_t n = vmcs_get(v, VI_VM_EXIT_MSR_STORE_COUNT);
    uint64_t at = vmcs_get(v, VI_VM_EXIT_MSR_STORE_ADDR);
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *e = physmem_ptr(cpu->mem, at + i * 16, 16);
        uint32_t idx;
        uint64_t val;
        if (!e)
            return false;
        memcpy(&idx, e, 4);
        if ((idx >> 8) == 0x8 || !cpu_msr_read(cpu, idx, &val))
            return false;
        memcpy(e + 8, &val, 8);
        physmem_note_write(cpu->mem, (uint64_t)(e + 8 - cpu->mem->arena) >> 12);
    }
    return true;
}

int cpu_vmentry(struct cpu *cpu, struct vmcs *v, bool resume)
{
    if (resume != v->launched)
        return resume ? VMXERR_5 : VMXERR_4;
    /* SDM 26.2: controls (VMfailValid 7), host state (VMfailValid 8) */
    int err = vmx_check_controls(v, vmx_hw_caps(), cpu->mem);
    if (!err)
        err = vmx_check_host_state(v, vmx_hw_caps());
    if (err)
        return err;
    /* SDM 26.3.1: guest state; a failure is a VM exit with reason 33 and
     * bit 31 set; the guest state is not loaded or saved (SDM 26.8) */
    int g = vmx_check_guest_state(v, vmx_hw_caps());
    if (g) {
        vmcs_set(v, VI_EXIT_REASON,
                 EXIT_REASON_ENTRY_FAILURE | EXIT_REASON_VM_ENTRY_FAILURE_INVALID_GUEST_STATE);
        vmcs_set(v, VI_EXIT_QUALIFICATION, (uint64_t)(g - 1));
        vmcs_set(v, VI_VM_ENTRY_INTERRUPTION_INFO,
                 vmcs_get(v, VI_VM_ENTRY_INTERRUPTION_INFO) & ~(uint64_t)INTR_INFO_VALID);
        return 0;
    }
    cache_controls(cpu, v);
    cpu->ple_first = UINT64_MAX; /* the first PAUSE after VM entry starts a loop */
    vmx_load_guest_state(cpu, v);
    uint32_t bad = load_msr_list(cpu, v);
    if (bad) {
        vmcs_set(v, VI_EXIT_REASON,
                 EXIT_REASON_ENTRY_FAILURE | EXIT_REASON_VM_ENTRY_FAILURE_MSR_LOADING);
        vmcs_set(v, VI_EXIT_QUALIFICATION, bad);
        vmcs_set(v, VI_VM_ENTRY_INTERRUPTION_INFO,
                 vmcs_get(v, VI_VM_ENTRY_INTERRUPTION_INFO) & ~(uint64_t)INTR_INFO_VALID);
        return 0;
    }
    apicv_vmentry(cpu);
    cpu->entry_event.info = (uint32_t)vmcs_get(v, VI_VM_ENTRY_INTERRUPTION_INFO);
    cpu->entry_event.error_code = (uint32_t)vmcs_get(v, VI_VM_ENTRY_EXCEPTION_ERROR_CODE);
    cpu->entry_event.instr_len = (uint32_t)vmcs_get(v, VI_VM_ENTRY_INSTRUCTION_LENGTH);
    v->launched = true;
    /* The VMX-preemption timer counts down once per retired instruction
     * (IA32_VMX_MISC[4:0] = 0 with one TSC tick per instruction). Without
     * it the slice is unbounded, as on hardware. */
    bool timer = vmcs_get(v, VI_PIN_BASED_VM_EXEC_CONTROL) & PIN_ACTIVATE_VMX_PREEMPTION_TIMER;
    uint64_t budget = timer ? vmcs_get(v, VI_VMX_PREEMPTION_TIMER_VALUE) : UINT64_MAX / 4;
    uint64_t start = cpu->icount;
    cpu_run(cpu, budget);
    vmx_save_guest_state(cpu, v);
    store_exit_info(cpu, v);
    if (!store_msr_list(cpu, v))
        v->abort_indicator = 1; /* VMX abort: failure saving guest MSRs */
    /* Host-state loading (SDM 28.5.1): the host is L0's C code, so only
     * the MSRs that stay in the processor are loaded. IA32_PERF_GLOBAL_CTRL
     * is one: after the exit the register holds the host value, and the
     * guest's value is lost unless L0 stored it (VM-exit MSR-store list),
     * exactly as on hardware. */
    if (vmcs_get(v, VI_PRIMARY_VM_EXIT_CONTROLS) & EXIT_CTL_LOAD_IA32_PERF_GLOBAL_CTRL)
        cpu->perf_global_ctrl = vmcs_get(v, VI_HOST_IA32_PERF_GLOBAL_CTRL);
    if (timer &&
        (vmcs_get(v, VI_PRIMARY_VM_EXIT_CONTROLS) & EXIT_CTL_SAVE_VMX_PREEMPTION_TIMER_VALUE)) {
        uint64_t used = cpu->icount - start;
        vmcs_set(v, VI_VMX_PREEMPTION_TIMER_VALUE, used >= budget ? 0 : budget - used);
    }
    return 0;
}

uint32_t cpu_vmcs_emulate(struct cpu *cpu, struct vmcs *v, const struct cpu_emul_ops *ops,
                          void *opaque)
{
    /* L0 may have changed controls (e.g. a read shadow) since the exit */
    cache_controls(cpu, v);
    vmx_load_guest_state(cpu, v);
    uint32_t r = cpu_emulate_insn(cpu, ops, opaque);
    vmx_save_guest_state(cpu, v);
    if (r) {
        store_exit_info(cpu, v);
        return r;
    }
    /* an exception raised by the emulated instruction was delivered */
    return 0;
}

/* INVEPT / INVVPID executed by L0 (SDM 30.3): the TLB is not tagged, so
 * every supported type invalidates everything. Returns 0 or the
 * VM-instruction error 28 (invalid operand) for an unsupported type. */
int cpu_invept(struct cpu *cpu, int type)
{
    if (type != 1 && type != 2)
        return VMXERR_28;
    tlb_flush_all(cpu, true);
    return 0;
}

int cpu_invvpid(struct cpu *cpu, int type)
{
    if (type < 0 || type > 3)
        return VMXERR_28;
    tlb_flush_all(cpu, true);
    return 0;
}
