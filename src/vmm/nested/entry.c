/* Nested VM entry: VMLAUNCH/VMRESUME executed by L1 (SDM 27 "VM Entries").
 * The checks of SDM 27.2 (controls, host state: VMfailValid 7/8) and 27.3
 * (guest state: a VM-entry failure exit, reason 33) run on vmcs12 against
 * the capabilities offered to L1; then the VM-entry MSR-load list (27.4,
 * failure: reason 34), and prepare_vmcs02 builds the VMCS the hardware runs
 * L2 on: vmcs12's guest state and controls merged with L0's own needs
 * (BRIEF decision 2). */
#include <string.h>

#include "board/machine.h"
#include "cpu/cpu_internal.h"
#include "cpu/vmx.h"
#include "nested.h"
#include "vmm/vmcs01.h"

/* The VPID vmcs02 uses when L1 enables VPIDs: vmcs01 runs without one
 * (VPID 0), so L2's translations are always tagged apart from L1's. */
#define VPID02 1

static void set_rflags_result(struct vmcs *v01, uint64_t set)
{
    uint64_t f = vmcs_get(v01, VI_GUEST_RFLAGS) & ~FL_ARITH;
    vmcs_set(v01, VI_GUEST_RFLAGS, f | set);
    vmcs_skip_instruction(v01);
}

/* Merged MSR bitmap (SDM 25.6.9): an access exits when L1's bitmap or
 * L0's asks for it. L1's bitmap outside its RAM counts as all ones. */
static void merge_msr_bitmap(struct machine *m, struct nested_vcpu *n, const struct vmcs *v01)
{
    uint8_t *out = physmem_ptr(&m->mem, n->msr_bitmap02, 4096);
    const uint8_t *l0 = physmem_ptr(&m->mem, vmcs_get(v01, VI_MSR_BITMAP_ADDR), 4096);
    const uint8_t *l1 = physmem_guest_ptr(&m->mem, vmcs_get(&n->vmcs12, VI_MSR_BITMAP_ADDR), 4096);
    for (int i = 0; i < 4096; i++)
        out[i] = (uint8_t)((l1 ? l1[i] : 0xff) | (l0 ? l0[i] : 0xff));
    /* With "virtualize x2APIC mode" the x2APIC MSRs L1 lets through are
     * virtualized by the hardware for L2 (SDM 30.5): L0's own intercepts of
     * its x2APIC do not apply to them (as in KVM). Read-low and write-low
     * bitmaps, MSRs 800H-8FFH: bytes 0x100-0x11f of each. */
    if (vmcs12_proc2(&n->vmcs12) & PROC2_VIRTUALIZE_X2APIC_MODE)
        for (int i = 0x100; i < 0x120; i++) {
            out[i] = l1 ? l1[i] : 0xff;
            out[0x800 + i] = l1 ? l1[0x800 + i] : 0xff;
        }
}

/* vmcs02 = vmcs12's guest state and controls + L0's needs. */
static void prepare_vmcs02(struct machine *m, int idx)
{
    struct nested_vcpu *n = m->nested[idx];
    const struct vmcs *v12 = &n->vmcs12, *v01 = m->vmcs01[idx];
    struct vmcs *v02 = &n->vmcs02;
    bool launched = v02->launched;
    *v02 = *v12;
    v02->revision_id = v01->revision_id;
    v02->launched = launched;
    /* the host-state area is L0's (the hardware checks it; L0 is C code) */
    for (int i = 0; i < NR_VMCS_FIELDS; i++)
        if (vmcs_fields[i].type == 3)
            v02->f[i] = v01->f[i];

    uint32_t pin12 = (uint32_t)vmcs_get(v12, VI_PIN_BASED_VM_EXEC_CONTROL);
    uint32_t proc12 = (uint32_t)vmcs_get(v12, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    uint32_t proc2_12 = vmcs12_proc2(v12);
    uint32_t proc01 = (uint32_t)vmcs_get(v01, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);

    /* L0 always needs: its time slices (preemption timer), HLT (idle),
     * every port I/O (its devices), its MSR intercepts, EPT */
    vmcs_set(v02, VI_PIN_BASED_VM_EXEC_CONTROL, pin12 | PIN_ACTIVATE_VMX_PREEMPTION_TIMER);
    uint32_t proc02 = proc12 | PROC_HLT_EXITING | PROC_UNCONDITIONAL_IO_EXITING |
                      PROC_ACTIVATE_SECONDARY_CONTROLS;
    proc02 &= ~(uint32_t)(PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS);
    if (proc12 & PROC_USE_MSR_BITMAPS) {
        merge_msr_bitmap(m, n, v01);
        proc02 |= PROC_USE_MSR_BITMAPS;
        vmcs_set(v02, VI_MSR_BITMAP_ADDR, n->msr_bitmap02);
    }
    /* TSC offsetting: L0's offset plus L1's. With L1's TSC scaling, L2's
     * TSC is ((TSC + offset01) * multiplier12 >> 48) + offset12 (SDM
     * 26.6.5): vmcs02 scales L0's offset too. */
    uint64_t off = 0, off01 = 0;
    if (proc01 & PROC_USE_TSC_OFFSETTING)
        off01 = vmcs_get(v01, VI_TSC_OFFSET);
    if ((proc12 & PROC_USE_TSC_OFFSETTING) && (proc2_12 & PROC2_USE_TSC_SCALING))
        off01 = (uint64_t)(((unsigned __int128)off01 * vmcs_get(v12, VI_TSC_MULTIPLIER)) >> 48);
    off += off01;
    if (proc12 & PROC_USE_TSC_OFFSETTING)
        off += vmcs_get(v12, VI_TSC_OFFSET);
    if (off || (proc01 & PROC_USE_TSC_OFFSETTING))
        proc02 |= PROC_USE_TSC_OFFSETTING;
    vmcs_set(v02, VI_TSC_OFFSET, off);
    vmcs_set(v02, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL, proc02);

    uint32_t proc2_02 = proc2_12 | PROC2_ENABLE_EPT;
    if (proc2_12 & PROC2_ENABLE_EPT) {
        if (n->ept02.eptp12 != vmcs_get(v12, VI_EPT_POINTER))
            ept02_reset(m, idx);
        n->ept02.eptp12 = vmcs_get(v12, VI_EPT_POINTER);
        vmcs_set(v02, VI_EPT_POINTER, n->ept02.pool | 6 | (3 << 3));
    } else {
        /* without EPT12, L2-physical is L1-physical: EPT02 = EPT01 */
        vmcs_set(v02, VI_EPT_POINTER, vmcs_get(v01, VI_EPT_POINTER));
    }
    if (proc2_12 & PROC2_ENABLE_VPID)
        vmcs_set(v02, VI_VIRTUAL_PROCESSOR_ID, VPID02);
    vmcs_set(v02, VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL, proc2_02);

    /* CR4.VMXE is L0's (IA32_VMX_CR4_FIXED0): L2 reads the value of
     * vmcs12's guest CR4 for it unless L1 owns the bit */
    uint64_t m12 = vmcs_get(v12, VI_CR4_GUEST_HOST_MASK);
    vmcs_set(v02, VI_CR4_GUEST_HOST_MASK, m12 | CR4_VMXE);
    vmcs_set(v02, VI_CR4_READ_SHADOW,
             (vmcs_get(v12, VI_CR4_READ_SHADOW) & m12) | (vmcs_get(v12, VI_GUEST_CR4) & ~m12));

    /* exits: L0 builds L1's exit itself; it wants the guest state saved */
    uint32_t exit12 = (uint32_t)vmcs_get(v12, VI_PRIMARY_VM_EXIT_CONTROLS);
    vmcs_set(v02, VI_PRIMARY_VM_EXIT_CONTROLS,
             EXIT_CTL_HOST_ADDRESS_SPACE_SIZE | EXIT_CTL_SAVE_IA32_EFER | EXIT_CTL_SAVE_IA32_PAT |
                 EXIT_CTL_SAVE_DEBUG_CONTROLS | (exit12 & EXIT_CTL_ACKNOWLEDGE_INTERRUPT_ON_EXIT));
    /* the MSR lists are L0's work (in L1 memory, L1-physical addresses) */
    vmcs_set(v02, VI_VM_ENTRY_MSR_LOAD_COUNT, 0);
    vmcs_set(v02, VI_VM_EXIT_MSR_STORE_COUNT, 0);
    vmcs_set(v02, VI_VM_EXIT_MSR_LOAD_COUNT, 0);
    vmcs_set(v02, VI_VMCS_LINK_POINTER, ~0ull);
    vmcs_set(v02, VI_VM_INSTRUCTION_ERROR, 0);
}

/* An MSR-load list of vmcs12 (SDM 27.4 at VM entry, 28.6 at VM exit):
 * 16-byte entries {index, reserved, value} in L1 RAM, loaded into the
 * processor in order. Returns 0, or the 1-based index of the first entry
 * that cannot be loaded. */
uint32_t nested_load_msr_list(struct machine *m, struct cpu *cpu, uint64_t at, uint64_t cnt)
{
    for (uint64_t i = 0; i < cnt; i++) {
        const uint8_t *e = physmem_guest_ptr(&m->mem, at + i * 16, 16);
        if (!e)
            return (uint32_t)i + 1;
        uint32_t msr, rsvd;
        uint64_t val;
        memcpy(&msr, e, 4);
        memcpy(&rsvd, e + 4, 4);
        memcpy(&val, e + 8, 8);
        /* FS/GS base, x2APIC MSRs, SMM monitor control are not loadable
         * this way; the VMX MSRs and FEATURE_CONTROL are L0's (read-only) */
        if (rsvd || msr == 0xc0000100 || msr == 0xc0000101 || (msr >> 8) == 0x8 || msr == 0x9b ||
            (msr >= 0x480 && msr <= 0x491) || msr == 0x3a || !cpu_msr_write_checked(cpu, msr, val))
            return (uint32_t)i + 1;
    }
    return 0;
}

/* A VM-entry failure after the checks of 27.2 (SDM 27.8): L1 continues at
 * its host state with an exit reason that has bit 31 set. */
static void entry_failure(struct machine *m, int idx, uint32_t basic, uint64_t qual)
{
    struct nested_vcpu *n = m->nested[idx];
    struct vmcs *v12 = &n->vmcs12;
    vmcs_set(v12, VI_EXIT_REASON, EXIT_REASON_ENTRY_FAILURE | basic);
    vmcs_set(v12, VI_EXIT_QUALIFICATION, qual);
    vmcs_set(v12, VI_VM_ENTRY_INTERRUPTION_INFO,
             vmcs_get(v12, VI_VM_ENTRY_INTERRUPTION_INFO) & ~(uint64_t)INTR_INFO_VALID);
    nested_load_l1_host_state(m, idx);
}

void nested_vm_entry(struct machine *m, int idx)
{
    struct nested_vcpu *n = m->nested[idx];
    struct vmcs *v12 = &n->vmcs12, *v01 = m->vmcs01[idx];
    struct cpu *cpu = m->cpus[idx];
    struct vmx_caps caps;
    nested_caps_get(&caps);
    int err = vmx_check_controls(v12, &caps, &m->mem);
    /* pages the hardware will use directly must be L1 RAM (nvmx's rule: a
     * page outside guest RAM is an invalid control) */
    uint32_t proc12 = (uint32_t)vmcs_get(v12, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    uint32_t proc2_12 = vmcs12_proc2(v12);
    if (!err && (proc12 & PROC_USE_TPR_SHADOW) &&
        !physmem_guest_ptr(&m->mem, vmcs_get(v12, VI_VIRTUAL_APIC_PAGE_ADDR), 4096))
        err = VMXERR_7;
    if (!err && (proc2_12 & PROC2_VIRTUALIZE_APIC_ACCESSES) &&
        !physmem_guest_ptr(&m->mem, vmcs_get(v12, VI_APIC_ACCESS_ADDR), 4096))
        err = VMXERR_7;
    if (!err) /* L1 is the "processor": its IA-32e mode decides (27.2.3) */
        err = vmx_check_host_state_mode(v12, &caps, vmcs_get(v01, VI_GUEST_IA32_EFER) & EFER_LMA);
    if (err) {
        vmcs_set(v12, VI_VM_INSTRUCTION_ERROR, (uint64_t)err);
        set_rflags_result(v01, FL_ZF);
        return;
    }
    int g = vmx_check_guest_state(v12, &caps);
    if (g) {
        entry_failure(m, idx, EXIT_REASON_VM_ENTRY_FAILURE_INVALID_GUEST_STATE, (uint64_t)(g - 1));
        return;
    }
    uint32_t bad = nested_load_msr_list(m, cpu, vmcs_get(v12, VI_VM_ENTRY_MSR_LOAD_ADDR),
                                        vmcs_get(v12, VI_VM_ENTRY_MSR_LOAD_COUNT));
    if (bad) {
        entry_failure(m, idx, EXIT_REASON_VM_ENTRY_FAILURE_MSR_LOADING, bad);
        return;
    }
    prepare_vmcs02(m, idx);
    v12->launched = true;
    n->guest_mode = true;
    n->run_pending = true;
    n->nested_entries++;
    /* vmcs12's VMX-preemption timer counts L2's retired instructions
     * (IA32_VMX_MISC[4:0] = 0, one tick per instruction) */
    n->preempt_armed =
        vmcs_get(v12, VI_PIN_BASED_VM_EXEC_CONTROL) & PIN_ACTIVATE_VMX_PREEMPTION_TIMER;
    n->preempt_deadline = cpu->icount + vmcs_get(v12, VI_VMX_PREEMPTION_TIMER_VALUE);
}

void nested_rebuild_vmcs02(struct machine *m, int idx, const struct vmcs *l2_state)
{
    struct nested_vcpu *n = m->nested[idx];
    prepare_vmcs02(m, idx);
    for (int i = 0; i < NR_VMCS_FIELDS; i++)
        if (vmcs_fields[i].type == 2)
            n->vmcs02.f[i] = l2_state->f[i];
    /* vmcs12's event injection was delivered unless the entry is pending */
    if (!n->run_pending)
        vmcs_set(&n->vmcs02, VI_VM_ENTRY_INTERRUPTION_INFO, 0);
    n->vmcs02.launched = l2_state->launched;
}

void nested_before_l2_entry(struct machine *m, int idx, uint64_t slice)
{
    struct nested_vcpu *n = m->nested[idx];
    uint64_t now = m->cpus[idx]->icount, t = slice;
    if (n->preempt_armed) {
        uint64_t left = n->preempt_deadline > now ? n->preempt_deadline - now : 0;
        if (left < t)
            t = left;
    }
    vmcs_set(&n->vmcs02, VI_VMX_PREEMPTION_TIMER_VALUE, t);
    /* L0's interrupt-window requests (vmm/irq.c) come on top of L1's */
    uint64_t w = PROC_INTERRUPT_WINDOW_EXITING | PROC_NMI_WINDOW_EXITING;
    uint64_t proc02 = vmcs_get(&n->vmcs02, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    proc02 |= vmcs_get(&n->vmcs12, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL) & w;
    vmcs_set(&n->vmcs02, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL, proc02);
}
