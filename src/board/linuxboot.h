/* The Linux/x86 boot protocol (Documentation/arch/x86/boot.rst): a bzImage
 * entered through its 32-bit entry point. */
#ifndef NVMX_BOARD_LINUXBOOT_H
#define NVMX_BOARD_LINUXBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/cpu.h"

/* Whether img is a bzImage ("HdrS" setup header). */
int linux_is_bzimage(const uint8_t *img, size_t len);
/* Loads the protected-mode kernel at 1 MiB, the command line and the
 * initrd, builds boot_params (setup header, E820 map) and puts bsp in the
 * 32-bit boot protocol state. Returns 0 or -1 with a message. */
int linux_load(struct physmem *pm, struct cpu *bsp, const uint8_t *img, size_t len,
               const char *kernel, const char *append, const char *initrd, char *err,
               size_t errlen);

#endif
