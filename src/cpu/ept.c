/* EPT translation (SDM Vol. 3C 29.3.2) and its failure modes (29.3.3). */
#include "ept.h"

#include <string.h>

#include "cpu_internal.h"

bool ept_eptp_valid(uint64_t eptp, bool ad_supported)
{
    uint64_t mt = eptp & EPTP_MT_MASK;
    if (mt != 0 && mt != 6)
        return false;
    if ((eptp & EPTP_PWL_MASK) != (3ull << 3))
        return false;
    if ((eptp & EPTP_AD) && !ad_supported)
        return false;
    if (eptp & 0xf80ull) /* bits 11:7 reserved (no supervisor shadow stacks) */
        return false;
    if (eptp & ~PHYS_MASK & ~0xfffull)
        return false;
    return true;
}

static inline bool ept_read_entry(struct physmem *pm, uint64_t pa, uint64_t *e, bool guest_only)
{
    uint8_t *p = guest_only ? physmem_guest_ptr(pm, pa, 8) : physmem_ptr(pm, pa, 8);
    if (!p)
        return false;
    memcpy(e, p, 8);
    return true;
}

static inline void ept_write_entry(struct physmem *pm, uint64_t pa, uint64_t e)
{
    uint8_t *p = physmem_ptr(pm, pa, 8);
    if (p) {
        memcpy(p, &e, 8);
        physmem_note_write(pm, (uint64_t)(p - pm->arena) >> 12);
    }
}

/* Reserved bits of an EPT paging-structure entry at `level` (4 = PML4E),
 * `leaf` when it maps a page (SDM 29.3.3.1 "EPT Misconfigurations"). */
static bool ept_entry_misconfigured(uint64_t e, int level, bool leaf)
{
    uint32_t rwx = e & 7;
    if ((rwx & EPT_WRITE) && !(rwx & EPT_READ))
        return true; /* write without read */
    /* execute-only is supported (IA32_VMX_EPT_VPID_CAP bit 0) */
    if (e & ((1ull << 52) - 1) & ~PHYS_MASK)
        return true; /* address bits beyond MAXPHYADDR */
    if (leaf) {
        uint32_t mt = (e >> 3) & 7;
        if (mt == 2 || mt == 3 || mt == 7)
            return true;
        if (level == 3 && (e & 0x3ffff000ull))
            return true; /* 1 GiB page: bits 29:12 reserved */
        if (level == 2 && (e & 0x1ff000ull))
            return true; /* 2 MiB page: bits 20:12 reserved */
    } else {
        if (e & 0xf8ull)
            return true; /* bits 7:3 reserved in non-leaf entries */
    }
    return false;
}

static void ept_walk(struct physmem *pm, uint64_t eptp, uint64_t gpa, uint32_t acc,
                     struct ept_result *r, bool guest_only)
{
    memset(r, 0, sizeof(*r));
    bool ad = eptp & EPTP_AD;
    uint64_t table = eptp & PHYS_MASK & ~0xfffull;
    uint32_t perms = EPT_READ | EPT_WRITE | EPT_EXEC;
    uint64_t entry_addr[4], entries[4];
    int n = 0;
    for (int level = 4; level >= 1; level--) {
        int shift = 12 + 9 * (level - 1);
        uint64_t ea = table + ((gpa >> shift) & 511) * 8;
        uint64_t e;
        r->level = level;
        if (!ept_read_entry(pm, ea, &e, guest_only)) {
            r->outcome = EPT_MISCONFIG;
            return;
        }
        if ((e & 7) == 0) {
            /* not present: violation with the permissions seen so far */
            r->outcome = EPT_VIOLATION;
            r->perms = 0;
            goto violation;
        }
        bool leaf = level == 1 || (((e >> 7) & 1) && (level == 2 || level == 3));
        if (level == 4 && ((e >> 7) & 1)) {
            r->outcome = EPT_MISCONFIG;
            return;
        }
        if (ept_entry_misconfigured(e, level, leaf)) {
            r->outcome = EPT_MISCONFIG;
            return;
        }
        perms &= e & 7;
        entry_addr[n] = ea;
        entries[n++] = e;
        if (leaf) {
            uint64_t mask = (1ull << shift) - 1;
            r->perms = perms;
            if ((acc & perms) != acc) {
                r->outcome = EPT_VIOLATION;
                goto violation;
            }
            if (ad && !guest_only) {
                for (int i = 0; i < n; i++) {
                    uint64_t ne = entries[i] | (1ull << 8);
                    if (i == n - 1 && (acc & EPT_WRITE))
                        ne |= 1ull << 9;
                    if (ne != entries[i])
                        ept_write_entry(pm, entry_addr[i], ne);
                }
            }
            r->outcome = EPT_OK;
            r->hpa = (e & PHYS_MASK & ~mask) | (gpa & mask);
            r->page_mask = mask;
            r->memtype = (e >> 3) & 7;
            return;
        }
        table = e & PHYS_MASK & ~0xfffull;
    }
    return;
violation:
    /* Table 28-7: bits 2:0 the access; bits 5:3 whether the guest-physical
     * address was readable/writable/executable */
    r->qualification = (acc & EPT_READ ? 1 : 0) | (acc & EPT_WRITE ? 2 : 0) |
                       (acc & EPT_EXEC ? 4 : 0) | ((uint64_t)r->perms << 3);
}

void ept_translate(struct physmem *pm, uint64_t eptp, uint64_t gpa, uint32_t acc,
                   struct ept_result *r)
{
    ept_walk(pm, eptp, gpa, acc, r, false);
}

void ept_translate_guest(struct physmem *pm, uint64_t eptp, uint64_t gpa, uint32_t acc,
                         struct ept_result *r)
{
    ept_walk(pm, eptp, gpa, acc, r, true);
}
