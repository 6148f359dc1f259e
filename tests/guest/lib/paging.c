/* 4-level paging helpers (SDM 4.5) on top of the boot identity map. */
#include "guest.h"

#define POOL_PAGES 256
static uint8_t page_pool[POOL_PAGES][4096] ALIGNED(4096);
static unsigned pool_used;

extern char __user_start[], __user_end[];

void *alloc_page(void)
{
    if (pool_used >= POOL_PAGES) {
        test_fail_msg("lib/alloc_page pool exhausted");
        test_finish();
    }
    void *p = page_pool[pool_used++];
    memset(p, 0, 4096);
    return p;
}

static inline uint64_t *table_of(uint64_t e)
{
    return (uint64_t *)(uintptr_t)(e & PTE_ADDR);
}

uint64_t *walk_entry(uint64_t va, int level)
{
    uint64_t *t = (uint64_t *)(uintptr_t)(read_cr3() & PTE_ADDR);
    for (int l = 4; l > level; l--) {
        uint64_t e = t[(va >> (12 + 9 * (l - 1))) & 511];
        if (!(e & PTE_P) || (l < 4 && (e & PTE_PS)))
            return NULL;
        t = table_of(e);
    }
    return &t[(va >> (12 + 9 * (level - 1))) & 511];
}

/* Returns the level-(level) entry for va, creating missing tables and
 * splitting large pages above it. */
static uint64_t *make_entry(uint64_t va, int level)
{
    uint64_t *t = (uint64_t *)(uintptr_t)(read_cr3() & PTE_ADDR);
    for (int l = 4; l > level; l--) {
        uint64_t *e = &t[(va >> (12 + 9 * (l - 1))) & 511];
        if (!(*e & PTE_P)) {
            *e = (uint64_t)alloc_page() | PTE_P | PTE_W | PTE_U;
        } else if (l < 4 && (*e & PTE_PS)) {
            /* Split: the child entries inherit the large page's attributes
             * (PAT moves from bit 12 to bit 7 for 4K PTEs, SDM table 4-19);
             * the parent becomes fully permissive so the leaves decide. */
            uint64_t *nt = alloc_page();
            uint64_t flags = *e & (0xfffull | PTE_NX);
            uint64_t base = *e & PTE_ADDR & ~(((1ull << (12 + 9 * (l - 1))) - 1));
            uint64_t step = 1ull << (12 + 9 * (l - 2));
            uint64_t child = flags & ~(PTE_PS | (1ull << 12));
            if (l == 2) {
                if (*e & (1ull << 12))
                    child |= PTE_PS; /* PAT bit of a 4K PTE */
            } else {
                child |= PTE_PS | (flags & (1ull << 12));
            }
            for (int i = 0; i < 512; i++)
                nt[i] = (base + i * step) | child;
            *e = (uint64_t)nt | PTE_P | PTE_W | PTE_U;
            flush_tlb();
        }
        t = table_of(*e);
    }
    return &t[(va >> (12 + 9 * (level - 1))) & 511];
}

uint64_t *get_pte(uint64_t va)
{
    return make_entry(va, 1);
}

void map_page(uint64_t va, uint64_t pa, uint64_t flags)
{
    uint64_t *e = get_pte(va);
    *e = (pa & PTE_ADDR) | flags;
    invlpg((void *)va);
}

void unmap_page(uint64_t va)
{
    uint64_t *e = get_pte(va);
    *e = 0;
    invlpg((void *)va);
}

void map_large(uint64_t va, uint64_t pa, uint64_t flags, int level)
{
    uint64_t *e = make_entry(va, level);
    *e = (pa & PTE_ADDR) | flags | PTE_PS;
    flush_tlb();
}

void set_page_flags(uint64_t va, uint64_t len, uint64_t set, uint64_t clear)
{
    for (uint64_t a = va & ~0xfffull; a < va + len; a += 4096) {
        uint64_t *e = get_pte(a);
        *e = (*e & ~clear) | set;
        invlpg((void *)a);
    }
}

void flush_tlb(void)
{
    write_cr3(read_cr3() & ~(1ull << 63));
}

void cr4_set(uint64_t bits)
{
    write_cr4(read_cr4() | bits);
}

void cr4_clear(uint64_t bits)
{
    write_cr4(read_cr4() & ~bits);
}

void cr0_set(uint64_t bits)
{
    write_cr0(read_cr0() | bits);
}

void cr0_clear(uint64_t bits)
{
    write_cr0(read_cr0() & ~bits);
}

void efer_set(uint64_t bits)
{
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | bits);
}

void efer_clear(uint64_t bits)
{
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~bits);
}

void paging_init(void)
{
    /* Make the .user section reachable from CPL3 (and only it). */
    set_page_flags((uint64_t)__user_start, (uint64_t)(__user_end - __user_start), PTE_U, 0);
}
