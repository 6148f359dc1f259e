/* A guest trying to reach memory that is not its RAM: physical addresses
 * above its RAM (where nvmx keeps its own pages), in the MMIO hole with no
 * device, and far beyond. Every access must behave like a bus with nothing
 * behind it (reads all ones, writes dropped) and the guest keeps running;
 * its own RAM is unchanged. Under QEMU the same accesses hit nothing too. */
#include "guest.h"

static uint64_t probe(uint64_t pa, int k)
{
    uint64_t va = TEST_VA_BASE + (uint64_t)k * 0x1000;
    map_page(va, pa & ~0xfffull, PTE_P | PTE_W);
    volatile uint64_t *p = (volatile uint64_t *)(va + (pa & 0xfff));
    *p = 0x5a5a5a5a5a5a5a5aull; /* must go nowhere */
    uint64_t v = *p;
    unmap_page(va);
    return v;
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint64_t ram_top = 0x100000 + (uint64_t)mbi->mem_upper * 1024;
    static const struct {
        uint64_t pa;
        const char *name;
    } targets[] = {
        { 0x100000000ull, "above_4g_first_page" },       /* nvmx: L0-private region */
        { 0x100001000ull, "above_4g_second_page" },
        { 0x100ff0000ull, "above_4g_16m" },
        /* 0xfec00000 and 0xfee00000 hold the I/O APIC and local APIC
         * (tests/guest/ioapic.c, lapic.c) */
        { 0xfe000000ull, "below_ioapic_hole" },
        { 0xd0000000ull, "mmio_hole" },
        { 0x7ffffff000ull, "top_of_physical_space" },
    };
    for (unsigned i = 0; i < ARRAY_SIZE(targets); i++) {
        if (targets[i].pa < ram_top)
            continue; /* with more RAM this is the guest's own */
        uint64_t v = probe(targets[i].pa, (int)i);
        /* The value read from nothing is the platform's choice: nvmx
         * documents all ones (an empty bus); QEMU returns 0. */
        if (running_on_qemu()) {
            SKIP("QEMU: unassigned memory reads 0", "%s", targets[i].name);
            continue;
        }
        CHECK_EQ(v, ~0ull, "%s_reads_all_ones", targets[i].name);
    }
    /* the guest's own RAM still works */
    volatile uint64_t *mine = alloc_page();
    *mine = 42;
    CHECK_EQ(*mine, 42, "own_ram_intact");
}
