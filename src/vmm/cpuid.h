/* L0's CPU model: the CPUID leaves the guest sees. */
#ifndef NVMX_VMM_CPUID_H
#define NVMX_VMM_CPUID_H

#include <stdint.h>

#include "cpu/cpu.h"

/* out = { EAX, EBX, ECX, EDX } for CPUID(leaf, subleaf) on this vCPU. */
void cpuid_model(const struct cpu *cpu, int nr_cpus, bool vmx, uint32_t leaf, uint32_t subleaf,
                 uint32_t out[4]);

#endif
