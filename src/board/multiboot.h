/* Multiboot v1 loader. */
#ifndef NVMX_BOARD_MULTIBOOT_H
#define NVMX_BOARD_MULTIBOOT_H

#include <stddef.h>

#include "cpu/cpu.h"

/* Loads kernel (ELF32, ELF64 or a.out-kludge multiboot image), the command
 * line "kernel append" and the comma-separated modules of initrd, builds
 * the multiboot information structure and puts bsp in the entry state of
 * Multiboot spec section 3.2. Returns 0, or -1 with a message in err. */
int multiboot_load(struct physmem *pm, struct cpu *bsp, const char *kernel, const char *append,
                   const char *initrd, char *err, size_t errlen);

/* The entry state alone (used by the loader and by tests). */
void multiboot_enter(struct cpu *cpu, uint32_t entry, uint32_t info);

#endif
