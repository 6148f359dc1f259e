/* Guest-physical memory as the CPU sees it: RAM regions backed by one host
 * arena. Anything that is not RAM is not accessed by the CPU directly: such an
 * access ends execution with an EPT-violation VM exit (SDM 28.3.3.2 style
 * qualification) so that L0 can emulate it (MMIO). */
#ifndef NVMX_CPU_PHYSMEM_H
#define NVMX_CPU_PHYSMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The PC layout: RAM from 0 up to min(size, 3 GiB); the rest of RAM is
 * placed at 4 GiB. The 3-4 GiB hole is for MMIO (APIC, I/O APIC, ...). */
#define PHYSMEM_LOW_LIMIT 0xC0000000ull
#define PHYSMEM_HIGH_BASE 0x100000000ull

/* Host-physical layout: guest RAM is placed at the same addresses as the
 * guest sees it (EPT01 is an identity map of RAM), and L0's private pages
 * (EPT tables and other structures the CPU reads) follow the high RAM, at
 * host-physical addresses no guest mapping reaches. */
struct physmem {
    uint8_t *arena;     /* host memory holding all guest RAM and L0's pages */
    uint64_t ram_size;  /* total bytes of guest RAM */
    uint64_t low_size;  /* bytes mapped at [0, low_size) */
    uint64_t high_size; /* bytes mapped at [4 GiB, 4 GiB + high_size) */
    uint64_t priv_base; /* host-physical address of L0's private region */
    uint64_t priv_size;
    uint64_t priv_used; /* bump allocator */
    /* One "watch" byte per 4 KiB arena page; every write path of the CPU
     * (and physmem_write) tests it and calls physmem_page_written() when it
     * is nonzero. Bit 0 (PHYSMEM_WATCH_CODE): the decoded-instruction cache
     * holds instructions from the page, so that a write invalidates them
     * (self-modifying code, SDM 11.6). Bit 1 (PHYSMEM_WATCH_DIRTY): dirty
     * logging is armed for the page (live migration, src/migrate/): the
     * first write sets its bit in `dirty` and disarms it, so that logging
     * costs one test per write, like KVM's write-protection. */
    uint8_t *code_pages;
    uint64_t *dirty;       /* bitmap of arena pages written since dirty logging (re)armed */
    bool dirty_log;        /* dirty logging is on */
    uint64_t nr_pages;     /* arena size / 4096 */
    struct icache *icache; /* shared by all vCPUs of the machine */
    uint64_t code_gen;     /* bumped whenever decoded instructions change */
};

/* Allocates the arena (RAM plus PHYSMEM_PRIV_SIZE of L0-private pages).
 * Returns 0, or -1 with errno set. */
#define PHYSMEM_PRIV_SIZE (64ull << 20)
int physmem_init(struct physmem *pm, uint64_t ram_size);
/* Allocates zeroed, page-aligned L0-private host-physical memory; returns
 * its host-physical address, or UINT64_MAX when the region is full. */
uint64_t physmem_alloc_private(struct physmem *pm, uint64_t bytes);
void physmem_destroy(struct physmem *pm);

/* Translates a guest-physical address to an offset in the arena, or returns
 * UINT64_MAX when the address is not RAM. */
static inline uint64_t physmem_offset(const struct physmem *pm, uint64_t gpa)
{
    if (gpa < pm->low_size)
        return gpa;
    if (gpa >= PHYSMEM_HIGH_BASE && gpa - PHYSMEM_HIGH_BASE < pm->high_size)
        return gpa - PHYSMEM_HIGH_BASE + pm->low_size;
    if (gpa >= pm->priv_base && gpa - pm->priv_base < pm->priv_size)
        return gpa - pm->priv_base + pm->ram_size;
    return UINT64_MAX;
}

/* Host pointer for [gpa, gpa+len) if the whole range is RAM, else NULL. */
static inline uint8_t *physmem_ptr(const struct physmem *pm, uint64_t gpa, uint64_t len)
{
    uint64_t off = physmem_offset(pm, gpa);
    if (off == UINT64_MAX || len == 0)
        return off == UINT64_MAX ? NULL : pm->arena + off;
    uint64_t last = physmem_offset(pm, gpa + len - 1);
    if (last == UINT64_MAX || last - off != len - 1)
        return NULL;
    return pm->arena + off;
}

/* Host pointer for [gpa, gpa+len) if the whole range is guest RAM (never
 * L0's private region), else NULL: for loaders and devices. */
static inline uint8_t *physmem_guest_ptr(const struct physmem *pm, uint64_t gpa, uint64_t len)
{
    if (gpa >= pm->priv_base && gpa < pm->priv_base + pm->priv_size)
        return NULL;
    if (len && gpa + len - 1 >= pm->priv_base && gpa < pm->priv_base + pm->priv_size)
        return NULL;
    return physmem_ptr(pm, gpa, len);
}

#define PHYSMEM_WATCH_CODE 1u
#define PHYSMEM_WATCH_DIRTY 2u

/* A write hit a page whose watch byte is nonzero: invalidates its decoded
 * instructions and records it as dirty (see code_pages above). */
void physmem_page_written(struct physmem *pm, uint64_t arena_page);
static inline void physmem_note_write(struct physmem *pm, uint64_t arena_page)
{
    if (pm->code_pages[arena_page])
        physmem_page_written(pm, arena_page);
}

/* Dirty logging (pre-copy migration): start arms every page and clears the
 * bitmap; sync moves the dirty bits into `out` (nr_pages bits, OR-ed in),
 * clears them and re-arms those pages; stop disarms everything. Returns 0,
 * or -1 when the bitmap cannot be allocated. */
int physmem_dirty_start(struct physmem *pm);
uint64_t physmem_dirty_sync(struct physmem *pm, uint64_t *out);
void physmem_dirty_stop(struct physmem *pm);

/* RAM was replaced wholesale (snapshot restore): forgets every decoded
 * instruction. */
void physmem_invalidate_code(struct physmem *pm);

/* Copies to/from guest RAM; returns 0 or -1 if any byte is not RAM. Used by
 * loaders and devices (DMA-like), never by the CPU's instruction path.
 * Writes invalidate decoded instructions of the pages they touch. */
int physmem_write(struct physmem *pm, uint64_t gpa, const void *src, uint64_t len);
int physmem_read(const struct physmem *pm, uint64_t gpa, void *dst, uint64_t len);

#endif
