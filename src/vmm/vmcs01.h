/* vmcs01: the VMCS with which L0 runs a vCPU's guest (L1). */
#ifndef NVMX_VMM_VMCS01_H
#define NVMX_VMM_VMCS01_H

#include "cpu/vmx.h"

/* Fills v with L0's controls (preemption-timer slices, HLT and I/O exits,
 * EPT01, MSR bitmap) and the current guest state of cpu. Returns 0, or -1
 * when L0's private memory is exhausted. */
int vmcs01_init(struct vmcs *v, struct cpu *cpu, struct physmem *pm, uint64_t eptp);

/* What L0 does after emulating an instruction that exited: RIP past it,
 * STI/MOV-SS blocking cleared (SDM 26.3.1.5 semantics, as KVM's
 * skip_emulated_instruction). */
void vmcs_skip_instruction(struct vmcs *v);
/* Injects a hardware exception at the next VM entry (SDM 27.6). */
void vmcs_inject_exception(struct vmcs *v, int vector, bool has_error, uint32_t error);

#endif
