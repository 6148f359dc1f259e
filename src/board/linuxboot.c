/* Linux/x86 boot protocol loader (Documentation/arch/x86/boot.rst, "32-bit
 * boot protocol"): the protected-mode kernel at 1 MiB (code32_start), the
 * zero page (struct boot_params) with a copy of the setup header, the E820
 * map, the command line and the initrd, and the entry state: flat 32-bit
 * protected mode, paging off, CS = __BOOT_CS (0x10), data = __BOOT_DS
 * (0x18), ESI = boot_params, EBX = EBP = EDI = 0, interrupts off. */
#include "linuxboot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multiboot.h"

#define LX_BOOT_PARAMS 0x10000ull
#define LX_CMDLINE 0x20000ull
#define LX_CMDLINE_MAX 0x7fffull /* up to 0x28000 */
#define LX_KERNEL 0x100000ull

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static void wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

int linux_is_bzimage(const uint8_t *img, size_t len)
{
    return len > 0x264 && !memcmp(img + 0x202, "HdrS", 4);
}

int linux_load(struct physmem *pm, struct cpu *bsp, const uint8_t *img, size_t len,
               const char *kernel, const char *append, const char *initrd, char *err, size_t errlen)
{
    uint16_t version = rd16(img + 0x206);
    if (version < 0x020a) {
        snprintf(err, errlen, "%s: boot protocol %u.%02u is too old (2.10 needed)", kernel,
                 version >> 8, version & 0xff);
        return -1;
    }
    unsigned setup_sects = img[0x1f1] ? img[0x1f1] : 4;
    size_t pm_off = ((size_t)setup_sects + 1) * 512;
    if (pm_off >= len || !(img[0x211] & 1)) {
        snprintf(err, errlen, "%s: not a bzImage (setup too long or not loaded high)", kernel);
        return -1;
    }
    size_t pm_len = len - pm_off;
    uint64_t init_size = rd32(img + 0x260);
    uint64_t low = pm->low_size;
    if (LX_KERNEL + (init_size > pm_len ? init_size : pm_len) > low) {
        snprintf(err, errlen, "%s: needs %llu bytes at 1 MiB; give more memory with -m", kernel,
                 (unsigned long long)init_size);
        return -1;
    }
    physmem_write(pm, LX_KERNEL, img + pm_off, pm_len);

    uint8_t zp[4096] = {0};
    /* the setup header: from 0x1f1 to the end given by the jump at 0x200 */
    size_t hdr_end = 0x202 + img[0x201];
    if (hdr_end > len || hdr_end > sizeof(zp))
        hdr_end = 0x268;
    memcpy(zp + 0x1f1, img + 0x1f1, hdr_end - 0x1f1);
    zp[0x210] = 0xff;            /* type_of_loader: undefined boot loader */
    zp[0x211] &= (uint8_t)~0x20; /* not quiet */
    uint32_t cmdline_max = rd32(img + 0x238);
    const char *cmd = append ? append : "";
    size_t clen = strlen(cmd);
    if (clen > LX_CMDLINE_MAX || (cmdline_max && clen > cmdline_max)) {
        snprintf(err, errlen, "%s: kernel command line too long", kernel);
        return -1;
    }
    physmem_write(pm, LX_CMDLINE, cmd, clen + 1);
    wr32(zp + 0x228, (uint32_t)LX_CMDLINE);

    if (initrd && *initrd) {
        if (strchr(initrd, ',')) {
            snprintf(err, errlen, "-initrd: one file for a Linux kernel");
            return -1;
        }
        FILE *f = fopen(initrd, "rb");
        if (!f) {
            snprintf(err, errlen, "cannot open '%s': %s", initrd, strerror(errno));
            return -1;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        rewind(f);
        uint64_t max = rd32(img + 0x22c); /* initrd_addr_max */
        if (max >= low)
            max = low - 1;
        uint64_t at = n > 0 ? ((max + 1 - (uint64_t)n) & ~0xfffull) : 0;
        uint8_t *dst = n > 0 ? physmem_guest_ptr(pm, at, (uint64_t)n) : NULL;
        if (n <= 0 || (uint64_t)n > max || at < LX_KERNEL + init_size || !dst ||
            fread(dst, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            snprintf(err, errlen, "initrd '%s' is empty, unreadable or does not fit", initrd);
            return -1;
        }
        fclose(f);
        wr32(zp + 0x218, (uint32_t)at);
        wr32(zp + 0x21c, (uint32_t)n);
    }

    /* E820 map (boot_params.e820_table at 0x2d0, count at 0x1e8) */
    struct __attribute__((packed)) e820 {
        uint64_t addr, size;
        uint32_t type;
    } map[5] = {
        {0, 0x9fc00, 1},
        {0x9fc00, 0x400, 2},
        {0xf0000, 0x10000, 2},
        {0x100000, low - 0x100000, 1},
        {PHYSMEM_HIGH_BASE, pm->high_size, 1},
    };
    int n = pm->high_size ? 5 : 4;
    memcpy(zp + 0x2d0, map, sizeof(map[0]) * (size_t)n);
    zp[0x1e8] = (uint8_t)n;
    physmem_write(pm, LX_BOOT_PARAMS, zp, sizeof(zp));

    multiboot_enter(bsp, (uint32_t)LX_KERNEL, 0);
    bsp->regs[R_RAX] = 0;
    bsp->regs[R_RBX] = 0;
    bsp->regs[R_RSI] = LX_BOOT_PARAMS;
    return 0;
}
