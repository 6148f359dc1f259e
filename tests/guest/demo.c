/* The demo guest (`make demo`): greets, prints the multiboot command line
 * and memory map, and exits with code 0 (nvmx exit status 1). */
#include "guest.h"

void guest_main(struct multiboot_info *mbi)
{
    gprintf("Hello from the nvmx demo guest!\n");
    if (!mbi) {
        gprintf("no multiboot info\n");
        return;
    }
    if (mbi->flags & (1u << 9) && mbi->boot_loader_name)
        gprintf("boot loader: %s\n", (const char *)(uintptr_t)mbi->boot_loader_name);
    if (mbi->flags & (1u << 2) && mbi->cmdline) {
        const char *cmd = (const char *)(uintptr_t)mbi->cmdline;
        gprintf("command line: \"%s\"\n", cmd);
        /* "triple-fault": an empty IDT turns INT3 into #GP, #DF, then a
         * triple fault (the CLI test checks nvmx's shutdown status) */
        for (const char *p = cmd; *p; p++) {
            if (!strncmp(p, "triple-fault", 12)) {
                struct {
                    uint16_t limit;
                    uint64_t base;
                } __attribute__((packed)) empty = {0, 0};
                __asm__ volatile("lidt %0; int3" ::"m"(empty));
            }
            /* "cli-hlt": halts for good (nvmx's "nothing can wake it"
             * status); "sti-hlt" halts with interrupts enabled but no
             * timer armed: the same */
            if (!strncmp(p, "cli-hlt", 7))
                __asm__ volatile("cli; hlt");
            if (!strncmp(p, "sti-hlt", 7))
                __asm__ volatile("sti; hlt");
        }
    } else
        gprintf("command line: (none)\n");
    if (mbi->flags & (1u << 0))
        gprintf("memory: %u KiB lower, %u KiB upper\n", mbi->mem_lower, mbi->mem_upper);
    if (mbi->flags & (1u << 6)) {
        gprintf("memory map:\n");
        uint64_t p = mbi->mmap_addr, end = p + mbi->mmap_length;
        while (p < end) {
            const struct multiboot_mmap_entry *e = (const void *)(uintptr_t)p;
            gprintf("  [0x%016lx-0x%016lx] %s\n", e->addr, e->addr + e->len - 1,
                    e->type == 1 ? "available" : "reserved");
            p += e->size + 4;
        }
    }
    gprintf("Goodbye.\n");
}
