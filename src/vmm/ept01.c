/* Building EPT paging structures (SDM 29.3.2: EPT PML4E/PDPTE/PDE/PTE
 * formats) in L0-private host memory. */
#include "ept01.h"

#include <string.h>

#define EPT_MT_WB (6ull << 3)

static uint64_t *table_at(struct physmem *pm, uint64_t hpa)
{
    return (uint64_t *)physmem_ptr(pm, hpa, 4096);
}

/* Returns the host-physical address of the next-level table of entry i in
 * the table at hpa, allocating it if absent; UINT64_MAX when out of memory. */
static uint64_t next_table(struct physmem *pm, uint64_t table, unsigned i)
{
    uint64_t *t = table_at(pm, table);
    if (t[i] & 7)
        return t[i] & ~0xfffull & ((1ull << 52) - 1);
    uint64_t n = physmem_alloc_private(pm, 4096);
    if (n == UINT64_MAX)
        return n;
    t = table_at(pm, table); /* (the arena does not move; re-read for clarity) */
    t[i] = n | 7;            /* non-leaf: R/W/X allowed, restricted by leaves */
    return n;
}

int ept_map_range(struct physmem *pm, uint64_t pml4, uint64_t gpa, uint64_t hpa, uint64_t len,
                  uint32_t rwx)
{
    while (len) {
        uint64_t pdpt = next_table(pm, pml4, (gpa >> 39) & 511);
        if (pdpt == UINT64_MAX)
            return -1;
        uint64_t pd = next_table(pm, pdpt, (gpa >> 30) & 511);
        if (pd == UINT64_MAX)
            return -1;
        if (!(gpa & 0x1fffff) && !(hpa & 0x1fffff) && len >= (2ull << 20)) {
            table_at(pm, pd)[(gpa >> 21) & 511] = hpa | EPT_MT_WB | (1u << 7) | rwx;
            gpa += 2ull << 20;
            hpa += 2ull << 20;
            len -= 2ull << 20;
            continue;
        }
        uint64_t pt = next_table(pm, pd, (gpa >> 21) & 511);
        if (pt == UINT64_MAX)
            return -1;
        table_at(pm, pt)[(gpa >> 12) & 511] = hpa | EPT_MT_WB | rwx;
        gpa += 4096;
        hpa += 4096;
        len = len > 4096 ? len - 4096 : 0;
    }
    return 0;
}

uint64_t ept01_build(struct physmem *pm)
{
    uint64_t pml4 = physmem_alloc_private(pm, 4096);
    if (pml4 == UINT64_MAX)
        return 0;
    /* guest RAM is identity-mapped to host-physical (physmem.h layout) */
    if (ept_map_range(pm, pml4, 0, 0, pm->low_size, 7))
        return 0;
    if (pm->high_size &&
        ept_map_range(pm, pml4, PHYSMEM_HIGH_BASE, PHYSMEM_HIGH_BASE, pm->high_size, 7))
        return 0;
    return pml4 | (3ull << 3) | 6; /* 4-level walk, write-back structures */
}
