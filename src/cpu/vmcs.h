/* The hardware VMCS: the structure through which L0 programs the CPU for
 * VMX non-root operation (SDM Vol. 3C chapter 25). L0 owns the memory of
 * each VMCS (like KVM's vmcs01/vmcs02 pages); the CPU reads controls and
 * guest state from it on VM entry and writes guest state and exit
 * information into it on VM exit. Field access by encoding follows the
 * VMREAD/VMWRITE rules (formats.md section 1). */
#ifndef NVMX_CPU_VMCS_H
#define NVMX_CPU_VMCS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmcs_fields.h"
#include "vmx_defs.h"

struct vmcs {
    uint32_t revision_id;
    uint32_t abort_indicator;
    bool launched; /* launch state: clear / launched (SDM 25.1) */
    uint64_t f[NR_VMCS_FIELDS];
};

/* Direct field access by dense index (VI_*), for C code that knows the
 * field; the value is stored zero-extended to 64 bits. */
static inline uint64_t vmcs_get(const struct vmcs *v, enum vmcs_index i)
{
    return v->f[i];
}

static inline void vmcs_set(struct vmcs *v, enum vmcs_index i, uint64_t val)
{
    v->f[i] = val;
}

/* Masks a value to the width of the field (natural width = 64 bits). */
uint64_t vmcs_field_mask(enum vmcs_index i);

/* VMREAD/VMWRITE semantics by encoding: returns 0, or the VM-instruction
 * error number (12 unsupported component, 13 read-only component).
 * Encodings with access type "high" address bits 63:32 of 64-bit fields. */
int vmcs_read_encoded(const struct vmcs *v, uint64_t encoding, uint64_t *val);
int vmcs_write_encoded(struct vmcs *v, uint64_t encoding, uint64_t val, bool exit_info_writable);

void vmcs_clear(struct vmcs *v, uint32_t revision_id);

#endif
