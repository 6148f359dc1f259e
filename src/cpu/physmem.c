/* Guest RAM arena (see physmem.h for the layout). */
#include "physmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu_internal.h"

int physmem_init(struct physmem *pm, uint64_t ram_size)
{
    memset(pm, 0, sizeof(*pm));
    ram_size &= ~0xfffull;
    if (ram_size < (1u << 20)) {
        errno = EINVAL;
        return -1;
    }
    uint64_t arena_size = ram_size + PHYSMEM_PRIV_SIZE;
    void *a = mmap(NULL, arena_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a == MAP_FAILED)
        return -1;
    pm->arena = a;
    pm->ram_size = ram_size;
    pm->low_size = ram_size < PHYSMEM_LOW_LIMIT ? ram_size : PHYSMEM_LOW_LIMIT;
    pm->high_size = ram_size - pm->low_size;
    pm->priv_base = PHYSMEM_HIGH_BASE + pm->high_size;
    pm->priv_size = PHYSMEM_PRIV_SIZE;
    pm->nr_pages = arena_size >> 12;
    pm->code_pages = calloc(pm->nr_pages, 1);
    pm->icache = pm->code_pages ? icache_create(pm) : NULL;
    if (!pm->icache) {
        physmem_destroy(pm);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void physmem_destroy(struct physmem *pm)
{
    if (pm->arena)
        munmap(pm->arena, pm->ram_size + pm->priv_size);
    free(pm->code_pages);
    free(pm->dirty);
    icache_destroy(pm->icache);
    memset(pm, 0, sizeof(*pm));
}

uint64_t physmem_alloc_private(struct physmem *pm, uint64_t bytes)
{
    bytes = (bytes + 0xfff) & ~0xfffull;
    if (bytes > pm->priv_size - pm->priv_used)
        return UINT64_MAX;
    uint64_t hpa = pm->priv_base + pm->priv_used;
    pm->priv_used += bytes;
    memset(physmem_ptr(pm, hpa, bytes), 0, bytes);
    return hpa;
}

int physmem_write(struct physmem *pm, uint64_t gpa, const void *src, uint64_t len)
{
    const uint8_t *s = src;
    while (len) {
        uint64_t chunk = 0x1000 - (gpa & 0xfff);
        if (chunk > len)
            chunk = len;
        uint8_t *p = physmem_guest_ptr(pm, gpa, chunk);
        if (!p)
            return -1;
        memcpy(p, s, chunk);
        physmem_note_write(pm, (uint64_t)(p - pm->arena) >> 12);
        gpa += chunk;
        s += chunk;
        len -= chunk;
    }
    return 0;
}

int physmem_read(const struct physmem *pm, uint64_t gpa, void *dst, uint64_t len)
{
    uint8_t *d = dst;
    while (len) {
        uint64_t chunk = 0x1000 - (gpa & 0xfff);
        if (chunk > len)
            chunk = len;
        const uint8_t *p = physmem_guest_ptr(pm, gpa, chunk);
        if (!p)
            return -1;
        memcpy(d, p, chunk);
        gpa += chunk;
        d += chunk;
        len -= chunk;
    }
    return 0;
}

void physmem_page_written(struct physmem *pm, uint64_t pg)
{
    uint8_t w = pm->code_pages[pg];
    if (w & PHYSMEM_WATCH_DIRTY) {
        pm->dirty[pg >> 6] |= 1ull << (pg & 63);
        pm->code_pages[pg] = (uint8_t)(w & ~PHYSMEM_WATCH_DIRTY);
    }
    if (w & PHYSMEM_WATCH_CODE)
        icache_invalidate_page(pm->icache, pg);
}

int physmem_dirty_start(struct physmem *pm)
{
    uint64_t words = (pm->nr_pages + 63) / 64;
    if (!pm->dirty) {
        pm->dirty = calloc(words, sizeof(uint64_t));
        if (!pm->dirty)
            return -1;
    }
    memset(pm->dirty, 0, words * sizeof(uint64_t));
    for (uint64_t pg = 0; pg < pm->nr_pages; pg++)
        pm->code_pages[pg] |= PHYSMEM_WATCH_DIRTY;
    pm->dirty_log = true;
    return 0;
}

uint64_t physmem_dirty_sync(struct physmem *pm, uint64_t *out)
{
    uint64_t n = 0;
    if (!pm->dirty_log)
        return 0;
    for (uint64_t w = 0; w < (pm->nr_pages + 63) / 64; w++) {
        uint64_t bits = pm->dirty[w];
        if (!bits)
            continue;
        out[w] |= bits;
        pm->dirty[w] = 0;
        n += (uint64_t)__builtin_popcountll(bits);
        while (bits) {
            uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            pm->code_pages[pg] |= PHYSMEM_WATCH_DIRTY;
        }
    }
    return n;
}

void physmem_dirty_stop(struct physmem *pm)
{
    for (uint64_t pg = 0; pg < pm->nr_pages; pg++)
        pm->code_pages[pg] &= (uint8_t)~PHYSMEM_WATCH_DIRTY;
    pm->dirty_log = false;
}

void physmem_invalidate_code(struct physmem *pm)
{
    icache_flush(pm->icache);
}
