/* VMCS field access (SDM 25.11.2 "VMREAD, VMWRITE, and Encodings of VMCS
 * Fields"; Appendix B). */
#include "vmcs.h"

#include <string.h>

uint64_t vmcs_field_mask(enum vmcs_index i)
{
    switch (vmcs_fields[i].width) {
    case 16:
        return 0xffffull;
    case 32:
        return 0xffffffffull;
    default:
        return ~0ull;
    }
}

/* Reserved encoding bits: 12 and 31:15 (formats.md section 1); in 64-bit
 * mode bits 63:32 of the register operand must be 0 as well. */
static int field_lookup(uint64_t encoding, int *index, bool *high)
{
    if (encoding & ~0x6fffull)
        return -1;
    uint32_t enc = (uint32_t)encoding;
    *high = enc & 1;
    int width = (enc >> 13) & 3;
    if (*high && width != 1) /* high access only for 64-bit fields */
        return -1;
    *index = vmcs_field_index(enc & ~1u);
    return *index < 0 ? -1 : 0;
}

int vmcs_read_encoded(const struct vmcs *v, uint64_t encoding, uint64_t *val)
{
    int i;
    bool high;
    if (field_lookup(encoding, &i, &high))
        return 12;
    uint64_t x = v->f[i];
    *val = high ? x >> 32 : x;
    return 0;
}

int vmcs_write_encoded(struct vmcs *v, uint64_t encoding, uint64_t val, bool exit_info_writable)
{
    int i;
    bool high;
    if (field_lookup(encoding, &i, &high))
        return 12;
    if (vmcs_fields[i].type == 1 && !exit_info_writable)
        return 13;
    if (high)
        v->f[i] = (v->f[i] & 0xffffffffull) | (val << 32);
    else
        v->f[i] = val & vmcs_field_mask(i);
    return 0;
}

void vmcs_clear(struct vmcs *v, uint32_t revision_id)
{
    memset(v, 0, sizeof(*v));
    v->revision_id = revision_id;
}
