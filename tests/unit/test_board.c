/* Unit tests of the board: command-line parsing, the multiboot loader
 * (good and malformed images), and the devices (UART, fw_cfg, debug exit). */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/multiboot.h"
#include "board/options.h"
#include "cpu/cpu_internal.h"
#include "dev/debug_exit.h"
#include "dev/fwcfg.h"
#include "dev/uart16550.h"
#include "unit.h"

static int parse(const char *line, struct machine_options *o, char *err, size_t n)
{
    char buf[512];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof(buf), "nvmx %s", line);
    for (char *s = NULL, *t = strtok_r(buf, " ", &s); t && argc < 31; t = strtok_r(NULL, " ", &s))
        argv[argc++] = t;
    argv[argc] = NULL;
    return parse_options(argc, argv, o, err, n);
}

UNIT_TEST(cli_good_options)
{
    struct machine_options o;
    char err[256];
    CHECK_EQ(parse("-kernel k.elf -m 1G -smp cpus=4 -nographic -no-reboot -device "
                   "isa-debug-exit,iobase=0xf4,iosize=0x4 -d unimp,int -serial none -display none",
                   &o, err, sizeof(err)),
             0);
    CHECK(!strcmp(o.kernel, "k.elf"));
    CHECK_EQ(o.ram_size, 1ull << 30);
    CHECK_EQ(o.smp, 4);
    CHECK(o.no_reboot && o.debug_exit);
    CHECK_EQ(o.debug_exit_port, 0xf4);
    CHECK_EQ(o.debug_exit_size, 4);
    CHECK_EQ(o.log_flags, CPU_LOG_UNIMP | CPU_LOG_INT);
    CHECK(!strcmp(o.serial, "none"));
    CHECK_EQ(parse("-kernel k -m 512", &o, err, sizeof(err)), 0);
    CHECK_EQ(o.ram_size, 512ull << 20);
    CHECK_EQ(parse("-kernel k -m size=64M", &o, err, sizeof(err)), 0);
    CHECK_EQ(o.ram_size, 64ull << 20);
}

UNIT_TEST(cli_bad_options)
{
    struct machine_options o;
    char err[256];
    CHECK_EQ(parse("-kernel k -frobnicate", &o, err, sizeof(err)), -1);
    CHECK(strstr(err, "unknown option '-frobnicate'"));
    CHECK_EQ(parse("-kernel k -m lots", &o, err, sizeof(err)), -1);
    CHECK_EQ(parse("-kernel k -m 0", &o, err, sizeof(err)), -1);
    CHECK_EQ(parse("-kernel k -smp 0", &o, err, sizeof(err)), -1);
    CHECK_EQ(parse("-kernel k -smp 1000", &o, err, sizeof(err)), -1);
    CHECK_EQ(parse("-kernel k -device e1000", &o, err, sizeof(err)), -1);
    CHECK_EQ(parse("-kernel k -device isa-debug-exit,iosize=3", &o, err, sizeof(err)), -1);
    CHECK_EQ(parse("-kernel k -serial tcp:1234", &o, err, sizeof(err)), -1);
    CHECK_EQ(parse("-kernel k -enable-kvm", &o, err, sizeof(err)), -1);
    CHECK_EQ(parse("-kernel", &o, err, sizeof(err)), -1);
    CHECK_EQ(parse("-m 64M", &o, err, sizeof(err)), -1); /* no kernel */
    CHECK_EQ(parse("-kernel k -d bogus", &o, err, sizeof(err)), -1);
}

/* ---- the multiboot loader ---- */

static const char *tmpfile_with(const void *data, size_t len, char *path)
{
    strcpy(path, "/tmp/nvmx-test-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    if (write(fd, data, len) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    close(fd);
    return path;
}

/* A minimal ELF32 multiboot kernel: one PT_LOAD at 1 MiB with the header
 * first, followed by code bytes. */
static size_t make_elf32(uint8_t *buf, uint32_t paddr, uint32_t memsz_extra)
{
    memset(buf, 0, 4096);
    Elf32_Ehdr *eh = (Elf32_Ehdr *)buf;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS32;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_386;
    eh->e_entry = paddr + 12;
    eh->e_phoff = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf32_Phdr);
    eh->e_phnum = 1;
    Elf32_Phdr *ph = (Elf32_Phdr *)(buf + sizeof(*eh));
    ph->p_type = PT_LOAD;
    ph->p_offset = 0x100;
    ph->p_paddr = ph->p_vaddr = paddr;
    ph->p_filesz = 32;
    ph->p_memsz = 32 + memsz_extra;
    uint32_t hdr[3] = {0x1BADB002u, 0x2u, (uint32_t) - (0x1BADB002u + 0x2u)};
    memcpy(buf + 0x100, hdr, sizeof(hdr));
    buf[0x100 + 12] = 0xf4; /* hlt */
    return 0x100 + 32;
}

static int try_load(const uint8_t *img, size_t len, const char *append, char *err, size_t n,
                    struct physmem *pm, struct cpu **cpu_out)
{
    char path[64];
    if (!tmpfile_with(img, len, path))
        return -2;
    physmem_init(pm, 32 << 20);
    struct cpu *cpu = cpu_create(pm, 0);
    int r = multiboot_load(pm, cpu, path, append, NULL, err, n);
    unlink(path);
    *cpu_out = cpu;
    return r;
}

UNIT_TEST(loader_elf32_ok)
{
    uint8_t img[4096];
    size_t len = make_elf32(img, 0x100000, 64);
    char err[256];
    struct physmem pm;
    struct cpu *cpu;
    CHECK_EQ(try_load(img, len, "console=ttyS0", err, sizeof(err), &pm, &cpu), 0);
    CHECK_EQ(cpu->rip, 0x10000c);
    CHECK_EQ(cpu->regs[R_RAX], 0x2BADB002u);
    CHECK_EQ(cpu->mode, CPU_MODE_PROT32);
    CHECK_EQ(cpu->cr0 & 0x80000001u, 1);
    uint32_t info[22];
    physmem_read(&pm, cpu->regs[R_RBX], info, sizeof(info));
    CHECK(info[0] & 0x40); /* memory map present */
    char cmd[128];
    physmem_read(&pm, info[4], cmd, sizeof(cmd));
    CHECK(strstr(cmd, " console=ttyS0") != NULL);
    uint8_t b = 0xff;
    physmem_read(&pm, 0x100000 + 32 + 10, &b, 1);
    CHECK_EQ(b, 0); /* bss zeroed */
    cpu_destroy(cpu);
    physmem_destroy(&pm);
}

/* ELF64 image with two modules on -initrd. */
UNIT_TEST(loader_elf64_and_modules)
{
    uint8_t buf[4096];
    memset(buf, 0, sizeof(buf));
    Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_entry = 0x200010;
    eh->e_phoff = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 1;
    Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
    ph->p_type = PT_LOAD;
    ph->p_offset = 0x200;
    ph->p_paddr = ph->p_vaddr = 0x200000;
    ph->p_filesz = 64;
    ph->p_memsz = 0x3000;
    uint32_t hdr[3] = {0x1BADB002u, 0, (uint32_t)-0x1BADB002u};
    memcpy(buf + 0x200, hdr, sizeof(hdr));
    char kpath[64], m1[64], m2[64], list[160];
    CHECK(tmpfile_with(buf, 0x200 + 64, kpath));
    CHECK(tmpfile_with("module-one", 10, m1));
    CHECK(tmpfile_with("two", 3, m2));
    snprintf(list, sizeof(list), "%s,%s", m1, m2);
    struct physmem pm;
    physmem_init(&pm, 32 << 20);
    struct cpu *cpu = cpu_create(&pm, 0);
    char err[256];
    int r = multiboot_load(&pm, cpu, kpath, NULL, list, err, sizeof(err));
    unlink(kpath);
    unlink(m1);
    unlink(m2);
    CHECK_EQ(r, 0);
    CHECK_EQ(cpu->rip, 0x200010);
    uint32_t info[22];
    physmem_read(&pm, cpu->regs[R_RBX], info, sizeof(info));
    CHECK(info[0] & 0x8);
    CHECK_EQ(info[5], 2);
    uint32_t mods[8];
    physmem_read(&pm, info[6], mods, sizeof(mods));
    CHECK_EQ(mods[0] & 0xfff, 0); /* page aligned */
    CHECK(mods[0] >= 0x203000);   /* after the kernel's bss */
    CHECK_EQ(mods[1] - mods[0], 10);
    CHECK_EQ(mods[5] - mods[4], 3);
    char got[11] = {0};
    physmem_read(&pm, mods[0], got, 10);
    CHECK(!strcmp(got, "module-one"));
    cpu_destroy(cpu);
    physmem_destroy(&pm);
}

UNIT_TEST(loader_rejects_malformed)
{
    uint8_t img[4096];
    char err[256];
    struct physmem pm;
    struct cpu *cpu;
    /* no multiboot header */
    memset(img, 0, sizeof(img));
    CHECK_EQ(try_load(img, sizeof(img), NULL, err, sizeof(err), &pm, &cpu), -1);
    CHECK(strstr(err, "no multiboot header"));
    cpu_destroy(cpu);
    physmem_destroy(&pm);
    /* bad checksum */
    size_t len = make_elf32(img, 0x100000, 0);
    img[0x108] ^= 1;
    CHECK_EQ(try_load(img, len, NULL, err, sizeof(err), &pm, &cpu), -1);
    cpu_destroy(cpu);
    physmem_destroy(&pm);
    /* segment outside RAM */
    len = make_elf32(img, 0x7ff00000, 0);
    CHECK_EQ(try_load(img, len, NULL, err, sizeof(err), &pm, &cpu), -1);
    CHECK(strstr(err, "does not fit"));
    cpu_destroy(cpu);
    physmem_destroy(&pm);
    /* segment below 1 MiB (would overwrite the loader's structures) */
    len = make_elf32(img, 0x8000, 0);
    CHECK_EQ(try_load(img, len, NULL, err, sizeof(err), &pm, &cpu), -1);
    cpu_destroy(cpu);
    physmem_destroy(&pm);
    /* truncated: program headers beyond the file */
    len = make_elf32(img, 0x100000, 0);
    ((Elf32_Ehdr *)img)->e_phnum = 200;
    CHECK_EQ(try_load(img, len, NULL, err, sizeof(err), &pm, &cpu), -1);
    CHECK(strstr(err, "malformed"));
    cpu_destroy(cpu);
    physmem_destroy(&pm);
    /* file size smaller than p_filesz */
    len = make_elf32(img, 0x100000, 0);
    ((Elf32_Phdr *)(img + sizeof(Elf32_Ehdr)))->p_filesz = 100000;
    CHECK_EQ(try_load(img, len, NULL, err, sizeof(err), &pm, &cpu), -1);
    cpu_destroy(cpu);
    physmem_destroy(&pm);
    /* missing file */
    physmem_init(&pm, 32 << 20);
    cpu = cpu_create(&pm, 0);
    CHECK_EQ(multiboot_load(&pm, cpu, "/nonexistent/kernel", NULL, NULL, err, sizeof(err)), -1);
    CHECK(strstr(err, "cannot open"));
    cpu_destroy(cpu);
    physmem_destroy(&pm);
}

/* Mutated images (fixed seed): the loader must accept or refuse each one
 * with a message, never crash or write outside guest RAM (ASan build). */
UNIT_TEST(loader_survives_mutations)
{
    uint8_t base[4096], img[4096];
    size_t len = make_elf32(base, 0x100000, 64);
    uint64_t rng = 0x5eed;
    int accepted = 0, refused = 0;
    for (int i = 0; i < 400; i++) {
        memcpy(img, base, len);
        int flips = 1 + (int)(rng % 8);
        for (int k = 0; k < flips; k++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            size_t at = (size_t)(rng % len);
            img[at] = (uint8_t)(rng >> 32);
        }
        size_t cut = (rng >> 40) % 3 == 0 ? (size_t)((rng >> 20) % len) : len;
        char err[256] = "";
        struct physmem pm;
        struct cpu *cpu;
        int r = try_load(img, cut, NULL, err, sizeof(err), &pm, &cpu);
        CHECK(r == 0 || (r == -1 && err[0]));
        if (r == 0)
            accepted++;
        else
            refused++;
        cpu_destroy(cpu);
        physmem_destroy(&pm);
    }
    printf("  mutated images: %d accepted, %d refused\n", accepted, refused);
    CHECK(refused > 0);
}

/* ---- devices ---- */

UNIT_TEST(uart_registers)
{
    char err[128];
    struct uart16550 *u = uart_create("none", err, sizeof(err));
    CHECK(u != NULL);
    /* scratch register round trip (Linux's 8250 probe) */
    uart_ops.write(u, 7, 1, 0xa5);
    CHECK_EQ(uart_ops.read(u, 7, 1), 0xa5);
    /* LSR: transmitter empty, no data */
    CHECK_EQ(uart_ops.read(u, 5, 1) & 0x61, 0x60);
    /* IIR without FIFO: no interrupt pending */
    CHECK_EQ(uart_ops.read(u, 2, 1), 0x01);
    /* FIFO enabled: IIR bits 7:6 set */
    uart_ops.write(u, 2, 1, 0x07);
    CHECK_EQ(uart_ops.read(u, 2, 1), 0xc1);
    /* divisor latch */
    uart_ops.write(u, 3, 1, 0x80);
    uart_ops.write(u, 0, 1, 0x01);
    uart_ops.write(u, 1, 1, 0x00);
    CHECK_EQ(uart_ops.read(u, 0, 1), 0x01);
    uart_ops.write(u, 3, 1, 0x03);
    /* THRE interrupt when enabled, cleared by reading IIR */
    uart_ops.write(u, 1, 1, 0x02);
    CHECK(uart_irq_level(u));
    CHECK_EQ(uart_ops.read(u, 2, 1) & 0x0f, 0x02);
    CHECK(!uart_irq_level(u));
    /* receive: data ready, RDI interrupt */
    uart_ops.write(u, 1, 1, 0x01);
    uint8_t in[2] = {'h', 'i'};
    uart_receive(u, in, 2);
    CHECK_EQ(uart_ops.read(u, 5, 1) & 1, 1);
    CHECK(uart_irq_level(u));
    CHECK_EQ(uart_ops.read(u, 0, 1), 'h');
    CHECK_EQ(uart_ops.read(u, 0, 1), 'i');
    CHECK_EQ(uart_ops.read(u, 5, 1) & 1, 0);
    /* loopback: transmitted bytes come back */
    uart_ops.write(u, 4, 1, 0x10);
    uart_ops.write(u, 0, 1, 'x');
    CHECK_EQ(uart_ops.read(u, 0, 1), 'x');
    uart_destroy(u);
    CHECK(uart_create("tcp:1", err, sizeof(err)) == NULL);
}

UNIT_TEST(fwcfg_items)
{
    struct fw_cfg *f = fwcfg_create(256ull << 20, 4, "hello");
    CHECK(f != NULL);
    fwcfg_ops.write(f, 0, 2, FW_CFG_SIGNATURE);
    char sig[5] = {0};
    for (int i = 0; i < 4; i++)
        sig[i] = (char)fwcfg_ops.read(f, 1, 1);
    CHECK(!strcmp(sig, "QEMU"));
    fwcfg_ops.write(f, 0, 2, FW_CFG_RAM_SIZE);
    uint64_t ram = 0;
    for (int i = 0; i < 8; i++)
        ram |= fwcfg_ops.read(f, 1, 1) << (8 * i);
    CHECK_EQ(ram, 256ull << 20);
    fwcfg_ops.write(f, 0, 2, FW_CFG_NB_CPUS);
    CHECK_EQ(fwcfg_ops.read(f, 1, 1), 4);
    CHECK_EQ(fwcfg_ops.read(f, 1, 1), 0);
    CHECK_EQ(fwcfg_ops.read(f, 1, 1), 0); /* past the end */
    fwcfg_ops.write(f, 0, 2, 0x1234);     /* unknown key reads 0 */
    CHECK_EQ(fwcfg_ops.read(f, 1, 1), 0);
    fwcfg_destroy(f);
}

UNIT_TEST(debug_exit_status)
{
    struct debug_exit d = {0};
    debug_exit_ops.write(&d, 0, 4, 0);
    CHECK(d.requested);
    CHECK_EQ(d.status, 1);
    debug_exit_ops.write(&d, 0, 1, 0x21);
    CHECK_EQ(d.status, 0x43);
}

UNIT_TEST(iobus_dispatch)
{
    struct io_bus bus = {0};
    struct debug_exit d = {0};
    CHECK_EQ(iobus_register(&bus, 0xf4, 4, &debug_exit_ops, &d, "dbg"), 0);
    CHECK_EQ(iobus_register(&bus, 0xf6, 2, &debug_exit_ops, &d, "overlap"), -1);
    CHECK_EQ(iobus_read(&bus, 0x80, 1), 0xff);   /* unclaimed reads float high */
    CHECK_EQ(iobus_read(&bus, 0xf4, 2), 0xffff); /* no read handler */
    iobus_write(&bus, 0xf5, 1, 3);
    CHECK(d.requested);
    CHECK_EQ(d.status, 7);
}

int main(void)
{
    UNIT_RUN(cli_good_options);
    UNIT_RUN(cli_bad_options);
    UNIT_RUN(loader_elf32_ok);
    UNIT_RUN(loader_elf64_and_modules);
    UNIT_RUN(loader_rejects_malformed);
    UNIT_RUN(loader_survives_mutations);
    UNIT_RUN(uart_registers);
    UNIT_RUN(fwcfg_items);
    UNIT_RUN(debug_exit_status);
    UNIT_RUN(iobus_dispatch);
    UNIT_DONE();
}
