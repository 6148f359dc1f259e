/* vmcs12: the VMCS of an L1 hypervisor, kept in L1's memory in a fixed
 * layout (BRIEF decision 1). The SDM leaves the format of a VMCS region
 * implementation-specific except for its first 8 bytes (SDM 25.2); nvmx's
 * layout, identified by VMCS12_REVISION in IA32_VMX_BASIC, is:
 *
 *   offset 0    revision identifier (bits 30:0), shadow-VMCS indicator (31)
 *   offset 4    VMX-abort indicator
 *   offset 8    launch state: 0 clear, 1 launched
 *   offset 12   reserved (0)
 *   offset 16   8 bytes per field, in the order of the generated field table
 *               src/cpu/vmcs_fields.c (index VI_* = the field's slot), each
 *               value zero-extended to 64 bits
 *
 * 16 + 8 * NR_VMCS_FIELDS bytes are used (well inside the 4 KiB region).
 * L0 caches the current vmcs12 (struct nested_vcpu.vmcs12) and writes it
 * back on VMCLEAR, on VMPTRLD of another VMCS and before a snapshot; an L1
 * that modifies the region with ordinary stores instead of VMWRITE gets
 * undefined results, as the SDM says (25.11.1). */
#include <string.h>

#include "board/machine.h"
#include "nested.h"

#define VMCS12_FIELDS_OFFSET 16
#define VMCS12_BYTES (VMCS12_FIELDS_OFFSET + 8 * NR_VMCS_FIELDS)

_Static_assert(VMCS12_BYTES <= 4096, "vmcs12 must fit in a 4 KiB VMCS region");

int vmcs12_load(struct machine *m, uint64_t gpa, struct vmcs *out)
{
    const uint8_t *p = physmem_guest_ptr(&m->mem, gpa, VMCS12_BYTES);
    if (!p)
        return -1;
    uint32_t launch;
    memcpy(&out->revision_id, p, 4);
    memcpy(&out->abort_indicator, p + 4, 4);
    memcpy(&launch, p + 8, 4);
    out->launched = launch == 1;
    for (int i = 0; i < NR_VMCS_FIELDS; i++) {
        uint64_t v;
        memcpy(&v, p + VMCS12_FIELDS_OFFSET + 8 * i, 8);
        /* a value stored by an older run or by L1 itself is masked to the
         * field's width, so that the cache always holds a valid value */
        out->f[i] = v & vmcs_field_mask((enum vmcs_index)i);
    }
    return 0;
}

int vmcs12_store(struct machine *m, uint64_t gpa, const struct vmcs *v)
{
    uint8_t buf[VMCS12_BYTES];
    uint32_t launch = v->launched ? 1 : 0, rsvd = 0;
    memcpy(buf, &v->revision_id, 4);
    memcpy(buf + 4, &v->abort_indicator, 4);
    memcpy(buf + 8, &launch, 4);
    memcpy(buf + 12, &rsvd, 4);
    memcpy(buf + VMCS12_FIELDS_OFFSET, v->f, 8 * NR_VMCS_FIELDS);
    if (!physmem_guest_ptr(&m->mem, gpa, VMCS12_BYTES))
        return -1;
    return physmem_write(&m->mem, gpa, buf, VMCS12_BYTES);
}

void nested_flush_vmcs12(struct machine *m, int cpu_index)
{
    struct nested_vcpu *n = m->nested[cpu_index];
    if (n && n->current_ptr != ~0ull)
        vmcs12_store(m, n->current_ptr, &n->vmcs12);
}

int vmcs12_set_launch_state(struct machine *m, uint64_t gpa, bool launched)
{
    uint32_t launch = launched ? 1 : 0;
    if (!physmem_guest_ptr(&m->mem, gpa + 8, 4))
        return -1;
    return physmem_write(&m->mem, gpa + 8, &launch, 4);
}

int vmcs12_write_abort(struct machine *m, uint64_t gpa, uint32_t indicator)
{
    if (!physmem_guest_ptr(&m->mem, gpa + 4, 4))
        return -1;
    return physmem_write(&m->mem, gpa + 4, &indicator, 4);
}
