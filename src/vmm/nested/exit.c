/* Nested VM exits (BRIEF decision 3): every exit of L2 comes to L0 first;
 * one table keyed by the basic exit reason decides from vmcs12's controls
 * and bitmaps whether L1 asked for it. A reflected exit writes L2's state
 * and the exit information into vmcs12 (prepare_vmcs12, SDM 28.2-28.4) and
 * loads L1's host state from vmcs12 into vmcs01 (SDM 28.5), and L1 resumes
 * at its HOST_RIP. */
#include <stdlib.h>
#include <string.h>

#include "board/machine.h"
#include "cpu/cpu_internal.h"
#include "cpu/vmx.h"
#include "nested.h"
#include "vmm/irq.h"
#include "vmm/run.h"
#include "vmm/vmcs01.h"

/* SDM 25.6.4: the I/O bitmaps (a port above 0xffff wraps: exits). A bitmap
 * outside L1 RAM counts as all ones. */
static bool io_intercepted(struct machine *m, const struct vmcs *v12, uint64_t qual)
{
    uint32_t proc = (uint32_t)vmcs_get(v12, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    if (!(proc & PROC_USE_IO_BITMAPS))
        return proc & PROC_UNCONDITIONAL_IO_EXITING;
    uint32_t port = (uint32_t)(qual >> 16) & 0xffff, size = (uint32_t)(qual & 7) + 1;
    for (uint32_t p = port; p < port + size; p++) {
        if (p > 0xffff)
            return true;
        uint64_t base = vmcs_get(v12, p < 0x8000 ? VI_IO_BITMAP_A_ADDR : VI_IO_BITMAP_B_ADDR);
        const uint8_t *b = physmem_guest_ptr(&m->mem, base + (p & 0x7fff) / 8, 1);
        if (!b || (*b >> (p & 7)) & 1)
            return true;
    }
    return false;
}

/* SDM 25.6.9: the MSR bitmap */
static bool msr_intercepted(struct machine *m, const struct vmcs *v12, uint32_t msr, bool write)
{
    uint32_t proc = (uint32_t)vmcs_get(v12, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    if (!(proc & PROC_USE_MSR_BITMAPS))
        return true;
    uint32_t off;
    if (msr <= 0x1fff)
        off = 0;
    else if (msr >= 0xc0000000u && msr <= 0xc0001fffu)
        off = 0x400, msr -= 0xc0000000u;
    else
        return true;
    if (write)
        off += 0x800;
    const uint8_t *b =
        physmem_guest_ptr(&m->mem, vmcs_get(v12, VI_MSR_BITMAP_ADDR) + off + msr / 8, 1);
    return !b || ((*b >> (msr & 7)) & 1);
}

/* SDM 26.1.3 "Instructions That Cause VM Exits Conditionally": MOV to/from
 * CR, CLTS, LMSW against vmcs12's masks, shadows and CR3 targets. */
static bool cr_intercepted(struct cpu *cpu, const struct vmcs *v12, const struct vmcs *v02,
                           uint64_t qual)
{
    int cr = (int)(qual & 15), type = (int)((qual >> 4) & 3), reg = (int)((qual >> 8) & 15);
    uint32_t proc = (uint32_t)vmcs_get(v12, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    uint64_t val = reg == R_RSP ? vmcs_get(v02, VI_GUEST_RSP) : cpu->regs[reg];
    uint64_t m0 = vmcs_get(v12, VI_CR0_GUEST_HOST_MASK), s0 = vmcs_get(v12, VI_CR0_READ_SHADOW);
    switch (type) {
    case 0: /* MOV to CR */
        if (cr == 0)
            return (val ^ s0) & m0;
        if (cr == 4)
            return (val ^ vmcs_get(v12, VI_CR4_READ_SHADOW)) &
                   vmcs_get(v12, VI_CR4_GUEST_HOST_MASK);
        if (cr == 8)
            return proc & PROC_CR8_LOAD_EXITING;
        if (cr == 3) {
            if (!(proc & PROC_CR3_LOAD_EXITING))
                return false;
            uint64_t n = vmcs_get(v12, VI_CR3_TARGET_COUNT);
            for (uint64_t i = 0; i < n && i < 4; i++)
                if (vmcs_get(v12, (enum vmcs_index)(VI_CR3_TARGET_VALUE0 + i)) == val)
                    return false;
            return true;
        }
        return true;
    case 1: /* MOV from CR */
        if (cr == 3)
            return proc & PROC_CR3_STORE_EXITING;
        if (cr == 8)
            return proc & PROC_CR8_STORE_EXITING;
        return true;
    case 2: /* CLTS */
        return (m0 & CR0_TS) && (s0 & CR0_TS);
    default: { /* LMSW */
        uint64_t src = (qual >> 16) & 0xffff;
        if (m0 & 0xe & (src ^ s0))
            return true;
        return (m0 & CR0_PE) && !(s0 & CR0_PE) && (src & CR0_PE);
    }
    }
}

/* The reflection table: does L1 want this exit of L2? */
static bool exit_reflected(struct machine *m, int idx, uint32_t reason)
{
    struct nested_vcpu *n = m->nested[idx];
    const struct vmcs *v12 = &n->vmcs12, *v02 = &n->vmcs02;
    struct cpu *cpu = m->cpus[idx];
    uint32_t pin = (uint32_t)vmcs_get(v12, VI_PIN_BASED_VM_EXEC_CONTROL);
    uint32_t proc = (uint32_t)vmcs_get(v12, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    uint32_t proc2 = vmcs12_proc2(v12);
    uint64_t qual = vmcs_get(v02, VI_EXIT_QUALIFICATION);
    switch (reason) {
    case EXIT_REASON_EXCEPTION_OR_NMI: {
        uint32_t info = (uint32_t)vmcs_get(v02, VI_VM_EXIT_INTERRUPTION_INFO);
        int vec = (int)(info & 0xff);
        if (((info >> 8) & 7) == INTR_TYPE_NMI)
            return pin & PIN_NMI_EXITING;
        bool bit = (vmcs_get(v12, VI_EXCEPTION_BITMAP) >> vec) & 1;
        if (vec == EXC_PF) {
            /* SDM 25.6.3: the page-fault error-code mask and match */
            uint32_t err = (uint32_t)vmcs_get(v02, VI_VM_EXIT_INTERRUPTION_ERROR_CODE);
            bool match = (err & vmcs_get(v12, VI_PAGE_FAULT_ERROR_CODE_MASK)) ==
                         vmcs_get(v12, VI_PAGE_FAULT_ERROR_CODE_MATCH);
            return bit == match;
        }
        return bit;
    }
    case EXIT_REASON_EXTERNAL_INTERRUPT:
        return pin & PIN_EXTERNAL_INTERRUPT_EXITING;
    case EXIT_REASON_INTERRUPT_WINDOW:
        return proc & PROC_INTERRUPT_WINDOW_EXITING;
    case EXIT_REASON_NMI_WINDOW:
        return proc & PROC_NMI_WINDOW_EXITING;
    case EXIT_REASON_HLT:
        return proc & PROC_HLT_EXITING;
    case EXIT_REASON_INVLPG:
        return proc & PROC_INVLPG_EXITING;
    case EXIT_REASON_RDPMC:
        return proc & PROC_RDPMC_EXITING;
    case EXIT_REASON_RDTSC:
        return proc & PROC_RDTSC_EXITING;
    case EXIT_REASON_RDTSCP:
        return proc & PROC_RDTSC_EXITING;
    case EXIT_REASON_CR_ACCESS:
        return cr_intercepted(cpu, v12, v02, qual);
    case EXIT_REASON_DR_ACCESS:
        return proc & PROC_MOV_DR_EXITING;
    case EXIT_REASON_IO_INSTRUCTION:
        return io_intercepted(m, v12, qual);
    case EXIT_REASON_RDMSR:
    case EXIT_REASON_WRMSR:
        return msr_intercepted(m, v12, (uint32_t)cpu->regs[R_RCX], reason == EXIT_REASON_WRMSR);
    case EXIT_REASON_MWAIT:
        return proc & PROC_MWAIT_EXITING;
    case EXIT_REASON_MONITOR_TRAP_FLAG:
        return proc & PROC_MONITOR_TRAP_FLAG;
    case EXIT_REASON_MONITOR:
        return proc & PROC_MONITOR_EXITING;
    case EXIT_REASON_PAUSE:
        return (proc & PROC_PAUSE_EXITING) || (proc2 & PROC2_PAUSE_LOOP_EXITING);
    case EXIT_REASON_TPR_BELOW_THRESHOLD:
        return proc & PROC_USE_TPR_SHADOW;
    case EXIT_REASON_APIC_ACCESS:
        return proc2 & PROC2_VIRTUALIZE_APIC_ACCESSES;
    case EXIT_REASON_GDTR_IDTR_ACCESS:
    case EXIT_REASON_LDTR_TR_ACCESS:
        return proc2 & PROC2_DESCRIPTOR_TABLE_EXITING;
    case EXIT_REASON_WBINVD:
        return proc2 & PROC2_WBINVD_EXITING;
    case EXIT_REASON_RDRAND:
        return proc2 & PROC2_RDRAND_EXITING;
    case EXIT_REASON_RDSEED:
        return proc2 & PROC2_RDSEED_EXITING;
    case EXIT_REASON_INVPCID:
        return proc & PROC_INVLPG_EXITING;
    case EXIT_REASON_EPT_VIOLATION:
    case EXIT_REASON_EPT_MISCONFIG:
    case EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED:
        return false; /* decided by the caller */
    default:
        /* unconditional exits (SDM 26.1.2: CPUID, GETSEC, INVD, XSETBV,
         * the VMX instructions, triple fault, INIT, SIPI, task switch, ...)
         * and everything caused by controls L0 only takes from vmcs12 */
        return true;
    }
}

/* VMX abort (SDM 28.7): the indicator is written to the VMCS region and
 * the logical processor stops; nvmx ends the run like a shutdown. */
static void vmx_abort(struct machine *m, int idx, uint32_t indicator)
{
    struct nested_vcpu *n = m->nested[idx];
    vmcs12_write_abort(m, n->current_ptr, indicator);
    fprintf(stderr, "nvmx: cpu%d: VMX abort, indicator %u (L1's VM-exit could not complete)\n", idx,
            indicator);
    if (m->state == MACHINE_RUNNING) {
        m->state = MACHINE_SHUTDOWN;
        m->exit_status = 4; /* NVMX_EXIT_TRIPLE_FAULT: the processor is shut down */
    }
}

/* SDM 28.5: L1's host state from vmcs12 becomes vmcs01's guest state. */
void nested_load_l1_host_state(struct machine *m, int idx)
{
    struct nested_vcpu *n = m->nested[idx];
    const struct vmcs *v12 = &n->vmcs12;
    struct vmcs *v01 = m->vmcs01[idx];
    struct cpu *cpu = m->cpus[idx];
    uint32_t exit12 = (uint32_t)vmcs_get(v12, VI_PRIMARY_VM_EXIT_CONTROLS);
    bool l64 = exit12 & EXIT_CTL_HOST_ADDRESS_SPACE_SIZE;

    vmcs_set(v01, VI_GUEST_CR0, vmcs_get(v12, VI_HOST_CR0));
    vmcs_set(v01, VI_GUEST_CR3, vmcs_get(v12, VI_HOST_CR3));
    vmcs_set(v01, VI_GUEST_CR4, vmcs_get(v12, VI_HOST_CR4) | CR4_VMXE);
    /* L1 is in VMX operation: it reads CR4.VMXE = 1 */
    vmcs_set(v01, VI_CR4_READ_SHADOW, vmcs_get(v12, VI_HOST_CR4) & CR4_VMXE);
    vmcs_set(v01, VI_GUEST_DR7, 0x400);
    vmcs_set(v01, VI_GUEST_IA32_DEBUGCTL, 0);
    vmcs_set(v01, VI_GUEST_IA32_SYSENTER_CS, vmcs_get(v12, VI_HOST_IA32_SYSENTER_CS));
    vmcs_set(v01, VI_GUEST_IA32_SYSENTER_ESP, vmcs_get(v12, VI_HOST_IA32_SYSENTER_ESP));
    vmcs_set(v01, VI_GUEST_IA32_SYSENTER_EIP, vmcs_get(v12, VI_HOST_IA32_SYSENTER_EIP));
    if (exit12 & EXIT_CTL_LOAD_IA32_PAT)
        vmcs_set(v01, VI_GUEST_IA32_PAT, vmcs_get(v12, VI_HOST_IA32_PAT));
    uint64_t efer = vmcs_get(v01, VI_GUEST_IA32_EFER);
    if (exit12 & EXIT_CTL_LOAD_IA32_EFER)
        efer = vmcs_get(v12, VI_HOST_IA32_EFER);
    else
        efer = l64 ? efer | EFER_LMA | EFER_LME : efer & ~(EFER_LMA | EFER_LME);
    vmcs_set(v01, VI_GUEST_IA32_EFER, efer);
    uint64_t entry01 = vmcs_get(v01, VI_VM_ENTRY_CONTROLS);
    vmcs_set(v01, VI_VM_ENTRY_CONTROLS,
             l64 ? entry01 | ENTRY_CTL_IA32E_MODE_GUEST : entry01 & ~ENTRY_CTL_IA32E_MODE_GUEST);

    /* SDM 28.5.2: segment registers */
    static const struct {
        enum vmcs_index host_sel, sel, base, limit, ar;
    } segs[] = {
        {VI_HOST_ES_SELECTOR, VI_GUEST_ES_SELECTOR, VI_GUEST_ES_BASE, VI_GUEST_ES_LIMIT,
         VI_GUEST_ES_ACCESS_RIGHTS},
        {VI_HOST_CS_SELECTOR, VI_GUEST_CS_SELECTOR, VI_GUEST_CS_BASE, VI_GUEST_CS_LIMIT,
         VI_GUEST_CS_ACCESS_RIGHTS},
        {VI_HOST_SS_SELECTOR, VI_GUEST_SS_SELECTOR, VI_GUEST_SS_BASE, VI_GUEST_SS_LIMIT,
         VI_GUEST_SS_ACCESS_RIGHTS},
        {VI_HOST_DS_SELECTOR, VI_GUEST_DS_SELECTOR, VI_GUEST_DS_BASE, VI_GUEST_DS_LIMIT,
         VI_GUEST_DS_ACCESS_RIGHTS},
        {VI_HOST_FS_SELECTOR, VI_GUEST_FS_SELECTOR, VI_GUEST_FS_BASE, VI_GUEST_FS_LIMIT,
         VI_GUEST_FS_ACCESS_RIGHTS},
        {VI_HOST_GS_SELECTOR, VI_GUEST_GS_SELECTOR, VI_GUEST_GS_BASE, VI_GUEST_GS_LIMIT,
         VI_GUEST_GS_ACCESS_RIGHTS},
    };
    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
        uint16_t sel = (uint16_t)vmcs_get(v12, segs[i].host_sel);
        vmcs_set(v01, segs[i].sel, sel);
        vmcs_set(v01, segs[i].limit, 0xffffffffu);
        uint64_t base = 0;
        if (segs[i].sel == VI_GUEST_FS_SELECTOR)
            base = vmcs_get(v12, VI_HOST_FS_BASE);
        if (segs[i].sel == VI_GUEST_GS_SELECTOR)
            base = vmcs_get(v12, VI_HOST_GS_BASE);
        vmcs_set(v01, segs[i].base, base);
        uint32_t ar;
        if (segs[i].sel == VI_GUEST_CS_SELECTOR)
            ar = 0xb | 0x10 | 0x80 | 0x8000 | (l64 ? 0x2000 : 0x4000);
        else if (sel == 0)
            ar = 0x10000; /* unusable (SS: DPL 0, so CPL 0) */
        else
            ar = 0x3 | 0x10 | 0x80 | 0x4000 | 0x8000;
        vmcs_set(v01, segs[i].ar, ar);
    }
    vmcs_set(v01, VI_GUEST_TR_SELECTOR, vmcs_get(v12, VI_HOST_TR_SELECTOR));
    vmcs_set(v01, VI_GUEST_TR_BASE, vmcs_get(v12, VI_HOST_TR_BASE));
    vmcs_set(v01, VI_GUEST_TR_LIMIT, 0x67);
    vmcs_set(v01, VI_GUEST_TR_ACCESS_RIGHTS, 0x8b);
    vmcs_set(v01, VI_GUEST_LDTR_SELECTOR, 0);
    vmcs_set(v01, VI_GUEST_LDTR_BASE, 0);
    vmcs_set(v01, VI_GUEST_LDTR_LIMIT, 0);
    vmcs_set(v01, VI_GUEST_LDTR_ACCESS_RIGHTS, 0x10000);
    vmcs_set(v01, VI_GUEST_GDTR_BASE, vmcs_get(v12, VI_HOST_GDTR_BASE));
    vmcs_set(v01, VI_GUEST_GDTR_LIMIT, 0xffff);
    vmcs_set(v01, VI_GUEST_IDTR_BASE, vmcs_get(v12, VI_HOST_IDTR_BASE));
    vmcs_set(v01, VI_GUEST_IDTR_LIMIT, 0xffff);
    vmcs_set(v01, VI_GUEST_RSP, vmcs_get(v12, VI_HOST_RSP));
    vmcs_set(v01, VI_GUEST_RIP, vmcs_get(v12, VI_HOST_RIP));
    vmcs_set(v01, VI_GUEST_RFLAGS, 2);
    /* blocking by NMI survives an exit caused by an NMI (SDM 28.5.5 with
     * 27.x: "virtual NMIs" only affects L2) */
    uint32_t intr = 0;
    uint32_t reason = (uint32_t)vmcs_get(v12, VI_EXIT_REASON);
    uint32_t xinfo = (uint32_t)vmcs_get(v12, VI_VM_EXIT_INTERRUPTION_INFO);
    if (reason == EXIT_REASON_EXCEPTION_OR_NMI && ((xinfo >> 8) & 7) == INTR_TYPE_NMI)
        intr |= INTR_STATE_NMI;
    vmcs_set(v01, VI_GUEST_INTERRUPTIBILITY_STATE, intr);
    vmcs_set(v01, VI_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    vmcs_set(v01, VI_VM_ENTRY_INTERRUPTION_INFO, 0);
    /* PAE paging without IA-32e mode: the PDPTEs come from CR3 */
    uint64_t cr3 = vmcs_get(v12, VI_HOST_CR3);
    if (!l64 && (vmcs_get(v12, VI_HOST_CR4) & CR4_PAE)) {
        for (int i = 0; i < 4; i++) {
            uint64_t e = 0;
            physmem_read(&m->mem, (cr3 & 0xffffffe0ull) + 8 * (uint64_t)i, &e, 8);
            vmcs_set(v01, (enum vmcs_index)(VI_GUEST_PDPTE0 + i), e);
        }
    }
    n->guest_mode = false;
    n->run_pending = false;
    n->preempt_armed = false;
    /* The host state passed the checks of SDM 27.2 at entry; should the
     * state it produces still be one the processor cannot run (a corner
     * the entry checks do not cover), L1 is stopped with a VMX abort, as
     * for a failed PDPTE load (indicator 3), rather than L0 failing. */
    if (vmx_check_guest_state(v01, vmx_hw_caps())) {
        vmx_abort(m, idx, 3);
        return;
    }

    /* SDM 28.6: the VM-exit MSR-load list (failure: VMX abort 4) */
    if (nested_load_msr_list(m, cpu, vmcs_get(v12, VI_VM_EXIT_MSR_LOAD_ADDR),
                             vmcs_get(v12, VI_VM_EXIT_MSR_LOAD_COUNT)))
        vmx_abort(m, idx, 4);
}

/* SDM 28.3: L2's state from vmcs02 into vmcs12, as far as vmcs12's exit
 * controls ask for it. */
static void save_l2_state(struct machine *m, int idx)
{
    struct nested_vcpu *n = m->nested[idx];
    struct vmcs *v12 = &n->vmcs12;
    const struct vmcs *v02 = &n->vmcs02;
    uint32_t exit12 = (uint32_t)vmcs_get(v12, VI_PRIMARY_VM_EXIT_CONTROLS);
    bool pae_pdptes =
        (vmcs12_proc2(v12) & PROC2_ENABLE_EPT) && (vmcs_get(v02, VI_GUEST_CR0) & CR0_PG) &&
        (vmcs_get(v02, VI_GUEST_CR4) & CR4_PAE) && !(vmcs_get(v02, VI_GUEST_IA32_EFER) & EFER_LMA);
    for (int i = 0; i < NR_VMCS_FIELDS; i++) {
        if (vmcs_fields[i].type != 2)
            continue;
        switch (i) {
        case VI_VMCS_LINK_POINTER:
        case VI_VMX_PREEMPTION_TIMER_VALUE:
            continue;
        case VI_GUEST_DR7:
        case VI_GUEST_IA32_DEBUGCTL:
            if (!(exit12 & EXIT_CTL_SAVE_DEBUG_CONTROLS))
                continue;
            break;
        case VI_GUEST_IA32_PAT:
            if (!(exit12 & EXIT_CTL_SAVE_IA32_PAT))
                continue;
            break;
        case VI_GUEST_IA32_EFER:
            if (!(exit12 & EXIT_CTL_SAVE_IA32_EFER))
                continue;
            break;
        case VI_GUEST_PDPTE0:
        case VI_GUEST_PDPTE1:
        case VI_GUEST_PDPTE2:
        case VI_GUEST_PDPTE3:
            if (!pae_pdptes)
                continue;
            break;
        default:
            break;
        }
        v12->f[i] = v02->f[i];
    }
    /* "IA-32e mode guest" reflects L2's EFER.LMA (SDM 28.2) */
    uint64_t e12 = vmcs_get(v12, VI_VM_ENTRY_CONTROLS) & ~ENTRY_CTL_IA32E_MODE_GUEST;
    e12 |= vmcs_get(v02, VI_VM_ENTRY_CONTROLS) & ENTRY_CTL_IA32E_MODE_GUEST;
    vmcs_set(v12, VI_VM_ENTRY_CONTROLS, e12);
    if (n->preempt_armed && (exit12 & EXIT_CTL_SAVE_VMX_PREEMPTION_TIMER_VALUE)) {
        uint64_t now = m->cpus[idx]->icount;
        vmcs_set(v12, VI_VMX_PREEMPTION_TIMER_VALUE,
                 n->preempt_deadline > now ? n->preempt_deadline - now : 0);
    }
}

void nested_vm_exit(struct machine *m, int idx, uint32_t reason, uint64_t qualification)
{
    struct nested_vcpu *n = m->nested[idx];
    struct vmcs *v12 = &n->vmcs12;
    const struct vmcs *v02 = &n->vmcs02;
    struct cpu *cpu = m->cpus[idx];
    n->reflected[reason & 0xffff]++;
    save_l2_state(m, idx);
    /* SDM 28.2: exit information */
    vmcs_set(v12, VI_EXIT_REASON, reason);
    vmcs_set(v12, VI_EXIT_QUALIFICATION, qualification);
    vmcs_set(v12, VI_GUEST_LINEAR_ADDRESS, vmcs_get(v02, VI_GUEST_LINEAR_ADDRESS));
    vmcs_set(v12, VI_GUEST_PHYSICAL_ADDRESS, vmcs_get(v02, VI_GUEST_PHYSICAL_ADDRESS));
    vmcs_set(v12, VI_VM_EXIT_INTERRUPTION_INFO, vmcs_get(v02, VI_VM_EXIT_INTERRUPTION_INFO));
    vmcs_set(v12, VI_VM_EXIT_INTERRUPTION_ERROR_CODE,
             vmcs_get(v02, VI_VM_EXIT_INTERRUPTION_ERROR_CODE));
    vmcs_set(v12, VI_VM_EXIT_INSTRUCTION_LENGTH, vmcs_get(v02, VI_VM_EXIT_INSTRUCTION_LENGTH));
    vmcs_set(v12, VI_VM_EXIT_INSTRUCTION_INFO, vmcs_get(v02, VI_VM_EXIT_INSTRUCTION_INFO));
    /* BRIEF decision 4: an event whose delivery to L2 was interrupted is
     * L1's to re-inject; L0 forgets it */
    uint32_t vinfo = 0, verr = 0;
    events_take_injected(&m->events[idx], &vinfo, &verr);
    vmcs_set(v12, VI_IDT_VECTORING_INFO, vinfo);
    vmcs_set(v12, VI_IDT_VECTORING_ERROR_CODE, verr);
    events_clear(&m->events[idx]);
    vmcs_set(v12, VI_VM_ENTRY_INTERRUPTION_INFO,
             vmcs_get(v12, VI_VM_ENTRY_INTERRUPTION_INFO) & ~(uint64_t)INTR_INFO_VALID);
    /* SDM 28.4: the VM-exit MSR-store list (failure: VMX abort 1) */
    uint64_t cnt = vmcs_get(v12, VI_VM_EXIT_MSR_STORE_COUNT);
    uint64_t at = vmcs_get(v12, VI_VM_EXIT_MSR_STORE_ADDR);
    for (uint64_t i = 0; i < cnt; i++) {
        uint8_t *e = physmem_guest_ptr(&m->mem, at + i * 16, 16);
        uint32_t msr = 0;
        uint64_t val = 0;
        if (e)
            memcpy(&msr, e, 4);
        if (!e || (msr >> 8) == 0x8 || !cpu_msr_read(cpu, msr, &val)) {
            vmx_abort(m, idx, 1);
            return;
        }
        physmem_write(&m->mem, at + i * 16 + 8, &val, 8);
    }
    nested_load_l1_host_state(m, idx);
}

bool nested_l2_exit(struct machine *m, int idx, uint32_t reason)
{
    struct nested_vcpu *n = m->nested[idx];
    struct vmcs *v02 = &n->vmcs02;
    uint32_t basic = reason & 0xffff;
    n->l2_exits[basic]++;
    n->run_pending = false;
    if (reason & EXIT_REASON_ENTRY_FAILURE) {
        /* the hardware refused vmcs02: report what L1's VMCS caused as
         * L1's own VM-entry failure (the nested checks mirror the
         * hardware's, so this means an inconsistency nvmx must not hide) */
        fprintf(stderr, "nvmx: cpu%d: VM entry to vmcs02 failed (reason %#x, qualification %llu)\n",
                idx, reason, (unsigned long long)vmcs_get(v02, VI_EXIT_QUALIFICATION));
        struct vmcs *v12 = &n->vmcs12;
        vmcs_set(v12, VI_EXIT_REASON, reason);
        vmcs_set(v12, VI_EXIT_QUALIFICATION, vmcs_get(v02, VI_EXIT_QUALIFICATION));
        nested_load_l1_host_state(m, idx);
        return true;
    }
    if (basic == EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED) {
        if (n->preempt_armed && m->cpus[idx]->icount >= n->preempt_deadline) {
            nested_vm_exit(m, idx, basic, 0);
            return true;
        }
        return true; /* L0's time slice ended: L2 continues next slice */
    }
    if ((basic == EXIT_REASON_EPT_VIOLATION || basic == EXIT_REASON_EPT_MISCONFIG) &&
        (vmcs12_proc2(&n->vmcs12) & PROC2_ENABLE_EPT)) {
        return ept02_handle_violation(m, idx, basic);
    }
    if (exit_reflected(m, idx, basic)) {
        nested_vm_exit(m, idx, reason, vmcs_get(v02, VI_EXIT_QUALIFICATION));
        return true;
    }
    if (basic == EXIT_REASON_CR_ACCESS) {
        /* only CR4.VMXE is L0's in vmcs02, and L1 does not own it: L2
         * clearing a bit fixed to 1 in VMX non-root operation is #GP(0) */
        events_queue_exception(&m->events[idx], EXC_GP, true, 0);
        return true;
    }
    return false;
}

bool nested_l1_intercepts_interrupts(struct machine *m, int idx)
{
    struct nested_vcpu *n = m->nested[idx];
    return n && n->guest_mode &&
           (vmcs_get(&n->vmcs12, VI_PIN_BASED_VM_EXEC_CONTROL) & PIN_EXTERNAL_INTERRUPT_EXITING);
}

/* A nested VM exit that no L2 instruction caused (an event for L1): the
 * exit-information fields of vmcs02 are filled as the hardware would for
 * such an exit (SDM 28.2.2: no instruction length or information). */
static void synthesized_exit(struct machine *m, int idx, uint32_t reason, uint32_t intr_info)
{
    struct nested_vcpu *n = m->nested[idx];
    struct vmcs *v02 = &n->vmcs02;
    vmcs_set(v02, VI_VM_EXIT_INTERRUPTION_INFO, intr_info);
    vmcs_set(v02, VI_VM_EXIT_INTERRUPTION_ERROR_CODE, 0);
    vmcs_set(v02, VI_VM_EXIT_INSTRUCTION_LENGTH, 0);
    vmcs_set(v02, VI_VM_EXIT_INSTRUCTION_INFO, 0);
    vmcs_set(v02, VI_GUEST_LINEAR_ADDRESS, 0);
    vmcs_set(v02, VI_GUEST_PHYSICAL_ADDRESS, 0);
    /* an L2 in HLT leaves it: the exit happens in the active state for L1
     * to resume L2 (SDM 28.3.4 saves the activity state; KVM does the same) */
    if (vmcs_get(v02, VI_GUEST_ACTIVITY_STATE) == ACTIVITY_HLT)
        vmcs_set(v02, VI_GUEST_ACTIVITY_STATE, ACTIVITY_ACTIVE);
    n->l2_exits[reason]++;
    nested_vm_exit(m, idx, reason, 0);
}

int nested_l1_event(struct machine *m, int idx, bool nmi, bool intr)
{
    struct nested_vcpu *n = m->nested[idx];
    if (!n || !n->guest_mode || n->run_pending)
        return 0; /* a VMLAUNCH/VMRESUME completes its entry first (KVM too) */
    uint32_t pin = (uint32_t)vmcs_get(&n->vmcs12, VI_PIN_BASED_VM_EXEC_CONTROL);
    uint32_t exit12 = (uint32_t)vmcs_get(&n->vmcs12, VI_PRIMARY_VM_EXIT_CONTROLS);
    if (nmi && (pin & PIN_NMI_EXITING)) {
        synthesized_exit(m, idx, EXIT_REASON_EXCEPTION_OR_NMI,
                         INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | 2);
        return NESTED_EVENT_NMI;
    }
    if (intr && (pin & PIN_EXTERNAL_INTERRUPT_EXITING)) {
        uint32_t info = 0;
        if (exit12 & EXIT_CTL_ACKNOWLEDGE_INTERRUPT_ON_EXIT)
            info = INTR_INFO_VALID | (INTR_TYPE_EXT_INTR << 8) | irq_intr_ack(m, idx);
        synthesized_exit(m, idx, EXIT_REASON_EXTERNAL_INTERRUPT, info);
        return NESTED_EVENT_INTR;
    }
    return 0;
}

struct vmcs *nested_current_vmcs(struct machine *m, int idx)
{
    struct nested_vcpu *n = m->nested[idx];
    return n && n->guest_mode ? &n->vmcs02 : m->vmcs01[idx];
}

int nested_vcpu_init(struct machine *m, int idx)
{
    struct nested_vcpu *n = calloc(1, sizeof(*n));
    if (!n)
        return -1;
    n->current_ptr = ~0ull;
    /* the "BIOS" locked IA32_FEATURE_CONTROL with VMX enabled outside SMX */
    n->feature_control = nested_enabled(m) ? 5 : 0;
    n->msr_bitmap02 = physmem_alloc_private(&m->mem, 4096);
    if (n->msr_bitmap02 == UINT64_MAX) {
        free(n);
        return -1;
    }
    m->nested[idx] = n;
    if (nested_enabled(m) && ept02_init(m, idx)) {
        m->nested[idx] = NULL;
        free(n);
        return -1;
    }
    return 0;
}

void nested_uncount_l2_exit(struct machine *m, int idx, uint32_t reason)
{
    struct nested_vcpu *n = m->nested[idx];
    if (n && reason < NR_EXIT_REASONS && n->l2_exits[reason])
        n->l2_exits[reason]--;
}

void nested_print_stats(const struct machine *m, FILE *out)
{
    uint64_t entries = 0;
    for (int i = 0; i < m->nr_cpus; i++)
        entries += m->nested[i] ? m->nested[i]->nested_entries : 0;
    if (!entries)
        return;
    fprintf(out, "nvmx stats: %llu nested VM entries (VMLAUNCH/VMRESUME by L1)\n",
            (unsigned long long)entries);
    fprintf(out, "nvmx stats: L2 exits by reason (level 2): total / reflected to L1\n");
    for (int r = 0; r < NR_EXIT_REASONS; r++) {
        uint64_t t = 0, f = 0;
        for (int i = 0; i < m->nr_cpus; i++) {
            if (!m->nested[i])
                continue;
            t += m->nested[i]->l2_exits[r];
            f += m->nested[i]->reflected[r];
        }
        if (t || f)
            fprintf(out, "  %3d %-32s %llu / %llu\n", r, vmm_exit_name((uint32_t)r),
                    (unsigned long long)t, (unsigned long long)f);
    }
}
