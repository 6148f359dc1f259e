/* Nested VMX: L0 emulates VMX for an L1 hypervisor the way KVM does
 * (BRIEF "Decisions taken" 1-5). The hardware (src/cpu/) has one level of
 * VMX; L1's VMX instructions exit to L0, which emulates them against
 * vmcs12 (in L1 memory, cached here), runs L2 on vmcs02 (built from vmcs12
 * plus L0's own needs), and decides for every L2 exit whether it is L1's
 * (reflect: a nested VM exit) or L0's own.
 *
 * Files: caps.c (what L1 is offered), vmcs12.c (the in-memory layout),
 * insn.c (VMXON ... INVVPID), entry.c (nested VM entry, prepare_vmcs02),
 * exit.c (the reflection table, prepare_vmcs12, L1's host state),
 * ept02.c (the shadow EPT). */
#ifndef NVMX_VMM_NESTED_H
#define NVMX_VMM_NESTED_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "cpu/vmcs.h"
#include "cpu/vmx_caps.h"

struct machine;

/* The vmcs12 revision identifier reported to L1 in IA32_VMX_BASIC[30:0].
 * It names the layout of vmcs12.c; a change of layout changes it. */
#define VMCS12_REVISION 0x4e560001u

/* Shadow EPT02 (ept02.c): a fixed pool of L0-private pages per vCPU. */
struct ept02 {
    uint64_t pool;   /* host-physical base of the pool */
    uint32_t pages;  /* pool size in 4 KiB pages */
    uint32_t used;   /* pages handed out (page 0 is the root) */
    uint64_t eptp12; /* the EPT12 pointer the tables shadow (0: none yet) */
    uint64_t resets; /* statistics: times the pool was emptied */
};

/* Per-vCPU nested state. Everything that must survive a migration is in
 * the first block (BRIEF decision 5). */
struct nested_vcpu {
    /* --- migratable nested state --- */
    bool vmxon;                /* in VMX operation (root or non-root) */
    uint64_t vmxon_ptr;        /* VMXON region (L1-physical) */
    uint64_t current_ptr;      /* current-VMCS pointer, ~0 when none */
    bool guest_mode;           /* L2 is running on vmcs02 */
    bool run_pending;          /* VMLAUNCH/VMRESUME emulated, L2 not entered yet */
    uint64_t preempt_deadline; /* icount at which vmcs12's preemption timer fires */
    bool preempt_armed;
    struct vmcs vmcs12;       /* cache of the current vmcs12 (valid if current_ptr != ~0) */
    uint64_t feature_control; /* IA32_FEATURE_CONTROL (0x3a) */

    /* --- L0-private, rebuilt on restore --- */
    struct vmcs vmcs02;    /* the hardware VMCS that runs L2 */
    uint64_t msr_bitmap02; /* host-physical merged MSR bitmap page */
    struct ept02 ept02;
    uint64_t l2_exits[NR_EXIT_REASONS];  /* every exit while L2 ran */
    uint64_t reflected[NR_EXIT_REASONS]; /* ... of which reflected to L1 */
    uint64_t nested_entries;
};

/* vmcs12's secondary controls as they take effect: 0 unless "activate
 * secondary controls" is set (SDM 25.6.2). */
static inline uint32_t vmcs12_proc2(const struct vmcs *v12)
{
    uint32_t proc = (uint32_t)vmcs_get(v12, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL);
    return (proc & PROC_ACTIVATE_SECONDARY_CONTROLS)
               ? (uint32_t)vmcs_get(v12, VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL)
               : 0;
}

/* Whether L1 is offered VMX (the -cpu ...,-vmx switch). */
bool nested_enabled(const struct machine *m);

/* The capabilities offered to L1: the hardware's, restricted to what this
 * nested implementation supports. */
void nested_caps_get(struct vmx_caps *caps);

int nested_vcpu_init(struct machine *m, int cpu_index);

/* RDMSR/WRMSR of the VMX MSRs and IA32_FEATURE_CONTROL for L1: returns
 * true if the MSR is one of them (then *ok tells success, false = #GP). */
bool nested_msr_read(struct machine *m, int cpu_index, uint32_t msr, uint64_t *val, bool *ok);
bool nested_msr_write(struct machine *m, int cpu_index, uint32_t msr, uint64_t val, bool *ok);

/* The VMCS the vCPU runs on next: vmcs02 in guest mode, else vmcs01. */
struct vmcs *nested_current_vmcs(struct machine *m, int cpu_index);

/* An exit from L1 (on vmcs01) by one of the VMX instructions: emulates it. */
void nested_vmx_instruction(struct machine *m, int cpu_index, uint32_t reason);

/* Before entering vmcs02: arms the preemption timer with the smaller of
 * L0's slice and vmcs12's timer. */
void nested_before_l2_entry(struct machine *m, int cpu_index, uint64_t slice);

/* An exit from L2 (on vmcs02). Returns true when the exit was reflected to
 * L1 or fully handled here; false when L0's ordinary handlers must handle
 * it on vmcs02 (I/O to L0's devices, MSRs L0 emulates, HLT, ...). */
bool nested_l2_exit(struct machine *m, int cpu_index, uint32_t reason);

/* Events for L1 while L2 runs (BRIEF decision 4): an NMI (with vmcs12's
 * "NMI exiting") or an external interrupt (with "external-interrupt
 * exiting"; acknowledged with "acknowledge interrupt on exit") becomes a
 * nested VM exit. Returns NESTED_EVENT_NMI / NESTED_EVENT_INTR when it did,
 * 0 when the event is L2's to take (or nothing was pending). */
#define NESTED_EVENT_NMI 1
#define NESTED_EVENT_INTR 2
int nested_l1_event(struct machine *m, int cpu_index, bool nmi, bool intr);
/* L2 runs and L1 intercepts external interrupts ("interrupt allowed" is
 * then true in L2 whatever L2's RFLAGS.IF). */
bool nested_l1_intercepts_interrupts(struct machine *m, int cpu_index);

/* Allocates the vCPU's EPT02 pool (L0-private pages). */
int ept02_init(struct machine *m, int cpu_index);
/* INVEPT from L1 / any change making EPT02 stale. */
void ept02_reset(struct machine *m, int cpu_index);
/* An EPT violation or misconfiguration while L2 ran with EPT12. Returns
 * true if handled (mapped, or reflected to L1); false if the address is
 * L1 MMIO, which L0 emulates (ept02_l2_to_l1 translates its address). */
bool ept02_handle_violation(struct machine *m, int cpu_index, uint32_t reason);
/* Translates an L2-physical address through EPT12 for MMIO emulation:
 * returns the L1-physical address or ~0. */
uint64_t ept02_l2_to_l1(struct machine *m, int cpu_index, uint64_t gpa2);

/* vmcs12 in L1 memory (vmcs12.c). */
int vmcs12_load(struct machine *m, uint64_t gpa, struct vmcs *out);
int vmcs12_store(struct machine *m, uint64_t gpa, const struct vmcs *v);
int vmcs12_set_launch_state(struct machine *m, uint64_t gpa, bool launched);
int vmcs12_write_abort(struct machine *m, uint64_t gpa, uint32_t indicator);

/* Loads an MSR-load list of vmcs12 (entry or exit): 0, or the 1-based
 * index of the failing entry. */
uint32_t nested_load_msr_list(struct machine *m, struct cpu *cpu, uint64_t at, uint64_t cnt);

/* nested VM entry (entry.c) and exit (exit.c) */
void nested_vm_entry(struct machine *m, int cpu_index);
void nested_vm_exit(struct machine *m, int cpu_index, uint32_t reason, uint64_t qualification);
/* Loads L1's host state from vmcs12 into vmcs01 (SDM 28.5): used by
 * nested VM exits and by VM-entry failures after the checks of SDM 27.3. */
void nested_load_l1_host_state(struct machine *m, int cpu_index);

/* Before a snapshot or the last pass of a migration (BRIEF decision 1):
 * the cached current vmcs12 is written back to L1 memory, so the image's
 * RAM holds it too (the NEST section carries the cache itself). */
void nested_flush_vmcs12(struct machine *m, int cpu_index);

/* Restoring a snapshot taken while L2 ran (BRIEF decision 5): vmcs02 is
 * rebuilt from vmcs12 and L0's state, then given L2's saved guest state. */
void nested_rebuild_vmcs02(struct machine *m, int cpu_index, const struct vmcs *l2_state);

/* The monitor's own exit (a slice ended early to snapshot at an exact
 * instant) is not counted, so that -stats match an uninterrupted run. */
void nested_uncount_l2_exit(struct machine *m, int cpu_index, uint32_t reason);

void nested_print_stats(const struct machine *m, FILE *out);

#endif
