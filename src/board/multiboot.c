/* Multiboot v1 loader (Multiboot Specification 0.6.96): the header in the
 * first 8 KiB, ELF32/ELF64 program headers or the a.out kludge, the
 * command line, modules and the memory map, and the machine state of
 * section 3.2 at entry. */
#include "multiboot.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "linuxboot.h"

#define MB_MAGIC 0x1BADB002u
#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_FLAG_PAGE_ALIGN 0x1u
#define MB_FLAG_MEMINFO 0x2u
#define MB_FLAG_VIDEO 0x4u
#define MB_FLAG_AOUT 0x10000u

/* Guest-physical layout of what the loader builds (below the kernel). */
#define MB_GDT_ADDR 0x500ull
#define MB_INFO_ADDR 0x9000ull
#define MB_MMAP_ADDR 0x9100ull
#define MB_MODS_ADDR 0x9400ull
#define MB_STRINGS_ADDR 0xa000ull
#define MB_STRINGS_END 0x9fc00ull

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return -1;
}

static int read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, "cannot open '%s': %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) || ftell(f) < 0) {
        fclose(f);
        return fail(err, errlen, "cannot read '%s'%s", path, "");
    }
    long n = ftell(f);
    rewind(f);
    uint8_t *buf = malloc(n ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return fail(err, errlen, "cannot read '%s'%s", path, "");
    }
    fclose(f);
    *data = buf;
    *len = (size_t)n;
    return 0;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Loads [paddr, paddr+memsz) from file bytes [off, off+filesz) after the
 * range checks every image must pass. */
static int load_segment(struct physmem *pm, const uint8_t *img, size_t imglen, uint64_t off,
                        uint64_t filesz, uint64_t paddr, uint64_t memsz, uint64_t *hi,
                        const char *path, char *err, size_t errlen)
{
    if (filesz > memsz || off > imglen || filesz > imglen - off)
        return fail(err, errlen, "%s: malformed image: segment outside the file%s", path, "");
    if (paddr < 0x100000 || paddr + memsz < paddr ||
        !physmem_guest_ptr(pm, paddr, memsz ? memsz : 1))
        return fail(err, errlen, "%s: segment does not fit in guest RAM above 1 MiB%s", path, "");
    uint8_t *dst = physmem_guest_ptr(pm, paddr, memsz ? memsz : 1);
    memcpy(dst, img + off, filesz);
    memset(dst + filesz, 0, memsz - filesz);
    if (paddr + memsz > *hi)
        *hi = paddr + memsz;
    return 0;
}

static int load_elf(struct physmem *pm, const uint8_t *img, size_t len, uint64_t *entry,
                    uint64_t *hi, const char *path, char *err, size_t errlen)
{
    if (len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG))
        return fail(err, errlen,
                    "%s: not an ELF image and no a.out kludge in the multiboot header%s", path, "");
    if (img[EI_DATA] != ELFDATA2LSB)
        return fail(err, errlen, "%s: ELF image is not little-endian%s", path, "");
    /* ELF32 and ELF64 headers, read into one common form */
    bool is64 = img[EI_CLASS] == ELFCLASS64;
    if (!is64 && img[EI_CLASS] != ELFCLASS32)
        return fail(err, errlen, "%s: unknown ELF class%s", path, "");
    uint64_t phoff, entry_point;
    unsigned phnum, phentsize;
    if (is64) {
        Elf64_Ehdr eh;
        if (len < sizeof(eh))
            return fail(err, errlen, "%s: truncated ELF header%s", path, "");
        memcpy(&eh, img, sizeof(eh));
        phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize,
        entry_point = eh.e_entry;
    } else {
        Elf32_Ehdr eh;
        if (len < sizeof(eh))
            return fail(err, errlen, "%s: truncated ELF header%s", path, "");
        memcpy(&eh, img, sizeof(eh));
        phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize,
        entry_point = eh.e_entry;
    }
    size_t want = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    if (phentsize != want || phoff > len || (uint64_t)phnum * want > len - phoff)
        return fail(err, errlen, "%s: malformed ELF program headers%s", path, "");
    int loaded = 0;
    for (unsigned i = 0; i < phnum; i++) {
        uint64_t type, off, filesz, paddr, memsz;
        if (is64) {
            Elf64_Phdr ph;
            memcpy(&ph, img + phoff + i * want, sizeof(ph));
            type = ph.p_type, off = ph.p_offset, filesz = ph.p_filesz, paddr = ph.p_paddr,
            memsz = ph.p_memsz;
        } else {
            Elf32_Phdr ph;
            memcpy(&ph, img + phoff + i * want, sizeof(ph));
            type = ph.p_type, off = ph.p_offset, filesz = ph.p_filesz, paddr = ph.p_paddr,
            memsz = ph.p_memsz;
        }
        if (type != PT_LOAD || memsz == 0)
            continue;
        if (load_segment(pm, img, len, off, filesz, paddr, memsz, hi, path, err, errlen))
            return -1;
        loaded++;
    }
    /* the entry runs in 32-bit protected mode (spec 3.2) */
    if (entry_point >> 32)
        return fail(err, errlen, "%s: ELF entry point above 4 GiB%s", path, "");
    *entry = entry_point;
    if (!loaded)
        return fail(err, errlen, "%s: ELF image has no loadable segment%s", path, "");
    return 0;
}

/* Copies a string into the low-memory string area; returns its address. */
static int put_string(struct physmem *pm, uint64_t *cursor, const char *s, uint32_t *addr)
{
    size_t n = strlen(s) + 1;
    if (*cursor + n > MB_STRINGS_END)
        return -1;
    physmem_write(pm, *cursor, s, n);
    *addr = (uint32_t)*cursor;
    *cursor += n;
    return 0;
}

/* Flat GDT used at entry: 0x08 unused, 0x10 code, 0x18 data (QEMU's choice,
 * and Linux's __BOOT_CS/__BOOT_DS). */
static void write_boot_gdt(struct physmem *pm)
{
    uint64_t gdt[4] = {0, 0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    physmem_write(pm, MB_GDT_ADDR, gdt, sizeof(gdt));
}

void multiboot_enter(struct cpu *cpu, uint32_t entry, uint32_t info)
{
    write_boot_gdt(cpu->mem);
    cpu_reset(cpu);
    cpu->cr0 = CR0_PE | CR0_ET;
    cpu->gdtr = (struct dtable){MB_GDT_ADDR, 0x1f};
    cpu->idtr = (struct dtable){0, 0x3ff};
    cpu->seg[S_CS] = (struct segment){0x10, 0, 0xffffffff, 0xc09b};
    for (int s = 0; s < NR_SEGS; s++)
        if (s != S_CS && s < S_LDTR)
            cpu->seg[s] = (struct segment){0x18, 0, 0xffffffff, 0xc093};
    cpu->seg[S_LDTR] = (struct segment){0, 0, 0, 0x10000};
    cpu->seg[S_TR] = (struct segment){0, 0, 0xffff, 0x8b};
    cpu->rflags = 2;
    cpu->rip = entry;
    cpu->regs[R_RAX] = MB_BOOT_MAGIC;
    cpu->regs[R_RBX] = info;
    cpu->cpl = 0;
    cpu_update_mode(cpu);
    tlb_flush_all(cpu, true);
}

int multiboot_load(struct physmem *pm, struct cpu *bsp, const char *kernel, const char *append,
                   const char *initrd, char *err, size_t errlen)
{
    uint8_t *img;
    size_t len;
    if (read_file(kernel, &img, &len, err, errlen))
        return -1;
    int rc = -1;
    /* The header: 4-byte aligned within the first 8192 bytes (spec 3.1.1). */
    size_t hdr = SIZE_MAX;
    for (size_t off = 0; off + 12 <= len && off < 8192; off += 4) {
        if (rd32(img + off) == MB_MAGIC &&
            (uint32_t)(rd32(img + off) + rd32(img + off + 4) + rd32(img + off + 8)) == 0) {
            hdr = off;
            break;
        }
    }
    if (hdr == SIZE_MAX) {
        if (linux_is_bzimage(img, len)) {
            /* a Linux bzImage: the Linux boot protocol instead */
            rc = linux_load(pm, bsp, img, len, kernel, append, initrd, err, errlen);
            goto out;
        }
        fail(err, errlen,
             "%s: no multiboot header (magic 0x1BADB002 with a valid checksum) in the first 8 "
             "KiB%s",
             kernel, "");
        goto out;
    }
    uint32_t flags = rd32(img + hdr + 4);
    /* Bits 15:0 the loader must understand (spec 3.1.2): 0, 1 supported;
     * 2 (video mode) cannot be honoured without a display. */
    if (flags & 0xfffcu) {
        fail(err, errlen, "%s: multiboot header requires unsupported features (flags %s)", kernel,
             (flags & MB_FLAG_VIDEO) ? "include video mode" : "bits 15:2");
        goto out;
    }
    uint64_t entry = 0, hi = 0;
    if (flags & MB_FLAG_AOUT) {
        if (hdr + 32 > len) {
            fail(err, errlen, "%s: truncated multiboot header%s", kernel, "");
            goto out;
        }
        uint32_t header_addr = rd32(img + hdr + 12), load_addr = rd32(img + hdr + 16);
        uint32_t load_end = rd32(img + hdr + 20), bss_end = rd32(img + hdr + 24);
        entry = rd32(img + hdr + 28);
        if (load_addr > header_addr || header_addr - load_addr > hdr) {
            fail(err, errlen, "%s: inconsistent a.out kludge addresses%s", kernel, "");
            goto out;
        }
        uint64_t off = hdr - (header_addr - load_addr);
        uint64_t filesz = load_end ? (uint64_t)load_end - load_addr : len - off;
        uint64_t memsz = bss_end ? (uint64_t)bss_end - load_addr : filesz;
        if (load_end && load_end < load_addr) {
            fail(err, errlen, "%s: inconsistent a.out kludge addresses%s", kernel, "");
            goto out;
        }
        if (memsz < filesz)
            memsz = filesz;
        if (load_segment(pm, img, len, off, filesz, load_addr, memsz, &hi, kernel, err, errlen))
            goto out;
    } else if (load_elf(pm, img, len, &entry, &hi, kernel, err, errlen)) {
        goto out;
    }

    /* The information structure (spec 3.3). */
    uint32_t info[22] = {0};
    uint64_t strings = MB_STRINGS_ADDR;
    write_boot_gdt(pm);
    info[0] = 0x1 | 0x4 | 0x40 | 0x200; /* mem, cmdline, mmap, boot loader name */
    info[1] = 639;
    uint64_t low = pm->low_size;
    info[2] = (uint32_t)((low - 0x100000) >> 10);
    char *cmd = malloc(strlen(kernel) + (append ? strlen(append) : 0) + 2);
    if (!cmd) {
        fail(err, errlen, "out of memory%s%s", "", "");
        goto out;
    }
    strcpy(cmd, kernel);
    if (append && *append) {
        strcat(cmd, " ");
        strcat(cmd, append);
    }
    int bad = put_string(pm, &strings, cmd, &info[4]);
    free(cmd);
    bad |= put_string(pm, &strings, "nvmx", &info[16]);
    if (bad) {
        fail(err, errlen, "kernel command line too long%s%s", "", "");
        goto out;
    }
    /* Memory map entries: size, base, length, type (1 RAM, 2 reserved). */
    struct __attribute__((packed)) mmap_entry {
        uint32_t size;
        uint64_t base, len;
        uint32_t type;
    } mm[5];
    int nmm = 0;
    mm[nmm++] = (struct mmap_entry){20, 0, 0x9fc00, 1};
    mm[nmm++] = (struct mmap_entry){20, 0x9fc00, 0x400, 2};
    mm[nmm++] = (struct mmap_entry){20, 0xf0000, 0x10000, 2};
    mm[nmm++] = (struct mmap_entry){20, 0x100000, low - 0x100000, 1};
    if (pm->high_size)
        mm[nmm++] = (struct mmap_entry){20, PHYSMEM_HIGH_BASE, pm->high_size, 1};
    physmem_write(pm, MB_MMAP_ADDR, mm, sizeof(mm[0]) * nmm);
    info[11] = (uint32_t)(sizeof(mm[0]) * nmm);
    info[12] = MB_MMAP_ADDR;

    /* Modules: -initrd "a,b" -> each page-aligned after the kernel. */
    if (initrd && *initrd) {
        char *list = strdup(initrd);
        uint32_t mods[4 * 64];
        int nmods = 0;
        uint64_t at = (hi + 0xfff) & ~0xfffull;
        for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            if (nmods == 64) {
                fail(err, errlen, "too many modules%s%s", "", "");
                free(list);
                goto out;
            }
            char *args = strchr(tok, ' ');
            if (args)
                *args = 0;
            uint8_t *m;
            size_t mlen;
            if (read_file(tok, &m, &mlen, err, errlen)) {
                free(list);
                goto out;
            }
            if (!physmem_guest_ptr(pm, at, mlen ? mlen : 1) || at + mlen > low) {
                free(m);
                fail(err, errlen, "module '%s' does not fit in guest RAM%s", tok, "");
                free(list);
                goto out;
            }
            physmem_write(pm, at, m, mlen);
            free(m);
            if (args)
                *args = ' ';
            uint32_t saddr;
            if (put_string(pm, &strings, tok, &saddr)) {
                fail(err, errlen, "module command lines too long%s%s", "", "");
                free(list);
                goto out;
            }
            mods[nmods * 4] = (uint32_t)at;
            mods[nmods * 4 + 1] = (uint32_t)(at + mlen);
            mods[nmods * 4 + 2] = saddr;
            mods[nmods * 4 + 3] = 0;
            nmods++;
            at = (at + mlen + 0xfff) & ~0xfffull;
        }
        free(list);
        physmem_write(pm, MB_MODS_ADDR, mods, nmods * 16);
        info[0] |= 0x8;
        info[5] = (uint32_t)nmods;
        info[6] = MB_MODS_ADDR;
    }
    physmem_write(pm, MB_INFO_ADDR, info, sizeof(info));
    multiboot_enter(bsp, (uint32_t)entry, MB_INFO_ADDR);
    rc = 0;
out:
    free(img);
    return rc;
}
