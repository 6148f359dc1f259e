/* VMX non-root operation through a hardware VMCS (SDM 27, 28). */
#ifndef NVMX_CPU_VMX_H
#define NVMX_CPU_VMX_H

#include "cpu.h"
#include "vmcs.h"

/* VMLAUNCH (resume = false) or VMRESUME of `v` as the current VMCS: loads
 * the guest state and controls, injects the VM-entry event, runs the guest
 * until a VM exit, then stores guest state and exit information in `v`.
 * Returns 0 after a VM exit (reason in EXIT_REASON), or a VM-instruction
 * error number when VM entry fails its checks (VMfailValid). */
int cpu_vmentry(struct cpu *cpu, struct vmcs *v, bool resume);

/* L0's instruction emulation at the VMCS's guest state (MMIO, string I/O):
 * like cpu_emulate_insn, with the state loaded from and stored to `v`. */
uint32_t cpu_vmcs_emulate(struct cpu *cpu, struct vmcs *v, const struct cpu_emul_ops *ops,
                          void *opaque);

/* INVEPT (types 1 single-context, 2 all-context) and INVVPID (0-3) as L0
 * executes them in root operation; returns 0 or VM-instruction error 28. */
int cpu_invept(struct cpu *cpu, int type);
int cpu_invvpid(struct cpu *cpu, int type);

void vmx_load_guest_state(struct cpu *cpu, const struct vmcs *v);
void vmx_save_guest_state(struct cpu *cpu, struct vmcs *v);

#endif
