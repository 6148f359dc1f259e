/* Decoded-instruction cache, shared by all vCPUs of a machine. Entries are
 * keyed by the guest-physical address of the instruction and the decoding
 * mode. Each RAM page has a generation number; a store to a page that holds
 * cached instructions bumps it, which invalidates every entry of that page
 * at once (self- and cross-modifying code, SDM 11.6). Instructions that
 * cross a page boundary are never cached. */
#include <stdlib.h>

#include "cpu_internal.h"

#define ICACHE_BITS 15
#define ICACHE_SIZE (1u << ICACHE_BITS)

struct icache_entry {
    uint64_t pa; /* UINT64_MAX: empty */
    uint32_t modekey;
    uint32_t gen;
    struct insn in;
};

struct icache {
    struct physmem *pm;
    uint32_t *page_gen;
    struct icache_entry *e;
};

struct icache *icache_create(struct physmem *pm)
{
    struct icache *ic = calloc(1, sizeof(*ic));
    if (!ic)
        return NULL;
    ic->pm = pm;
    ic->page_gen = calloc(pm->nr_pages ? pm->nr_pages : 1, sizeof(uint32_t));
    ic->e = malloc(sizeof(struct icache_entry) * ICACHE_SIZE);
    if (!ic->page_gen || !ic->e) {
        icache_destroy(ic);
        return NULL;
    }
    for (uint32_t i = 0; i < ICACHE_SIZE; i++)
        ic->e[i].pa = UINT64_MAX;
    return ic;
}

void icache_destroy(struct icache *ic)
{
    if (!ic)
        return;
    free(ic->page_gen);
    free(ic->e);
    free(ic);
}

static inline uint32_t icache_index(uint64_t pa)
{
    return (uint32_t)((pa ^ (pa >> ICACHE_BITS) ^ (pa >> 27)) & (ICACHE_SIZE - 1));
}

const struct insn *icache_lookup(struct icache *ic, uint64_t pa, uint32_t modekey)
{
    struct icache_entry *e = &ic->e[icache_index(pa)];
    if (e->pa != pa || e->modekey != modekey)
        return NULL;
    uint64_t off = physmem_offset(ic->pm, pa);
    if (off == UINT64_MAX || e->gen != ic->page_gen[off >> 12])
        return NULL;
    return &e->in;
}

struct insn *icache_insert(struct icache *ic, uint64_t pa, uint32_t modekey)
{
    uint64_t off = physmem_offset(ic->pm, pa);
    if (off == UINT64_MAX)
        return NULL;
    struct icache_entry *e = &ic->e[icache_index(pa)];
    e->pa = pa;
    e->modekey = modekey;
    e->gen = ic->page_gen[off >> 12];
    ic->pm->code_pages[off >> 12] |= PHYSMEM_WATCH_CODE;
    ic->pm->code_gen++;
    return &e->in;
}

void icache_invalidate_page(struct icache *ic, uint64_t arena_page)
{
    if (arena_page < ic->pm->nr_pages) {
        ic->page_gen[arena_page]++;
        ic->pm->code_gen++;
        ic->pm->code_pages[arena_page] &= (uint8_t)~PHYSMEM_WATCH_CODE;
    }
}

void icache_flush(struct icache *ic)
{
    for (uint32_t i = 0; i < ICACHE_SIZE; i++)
        ic->e[i].pa = UINT64_MAX;
    ic->pm->code_gen++;
}
