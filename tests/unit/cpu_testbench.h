/* A bare CPU on a small RAM for host-side unit tests: long mode (or 32-bit
 * protected mode) set up by hand, identity-mapped with 2 MiB pages. */
#ifndef NVMX_TESTS_CPU_TESTBENCH_H
#define NVMX_TESTS_CPU_TESTBENCH_H

#include <string.h>

#include "cpu/cpu.h"
#include "cpu/cpu_internal.h"

#define TB_RAM (64ull << 20)
#define TB_PML4 0x1000ull
#define TB_PDPT 0x2000ull
#define TB_PD 0x3000ull
#define TB_CODE 0x100000ull
#define TB_STACK 0x80000ull

struct testbench {
    struct physmem pm;
    struct cpu *cpu;
};

static inline void tb_write64(struct testbench *tb, uint64_t gpa, uint64_t v)
{
    physmem_write(&tb->pm, gpa, &v, 8);
}

/* 64-bit mode, CPL 0, flat segments, identity map of the first 1 GiB. */
static inline int tb_init_long(struct testbench *tb)
{
    if (physmem_init(&tb->pm, TB_RAM))
        return -1;
    tb->cpu = cpu_create(&tb->pm, 0);
    if (!tb->cpu)
        return -1;
    struct cpu *c = tb->cpu;
    tb_write64(tb, TB_PML4, TB_PDPT | 7);
    tb_write64(tb, TB_PDPT, TB_PD | 7);
    for (int i = 0; i < 512; i++)
        tb_write64(tb, TB_PD + i * 8, ((uint64_t)i << 21) | 0x87);
    c->cr0 = 0x80000011 | 0x20;
    c->cr3 = TB_PML4;
    c->cr4 = 0x20 | 0x200 | 0x400; /* PAE, OSFXSR, OSXMMEXCPT */
    c->efer = 0x500 | 0x800 | 1;   /* LME, LMA, NXE, SCE */
    c->seg[S_CS] = (struct segment){0x08, 0, 0xffffffff, 0xa09b};
    for (int s = 0; s < NR_SEGS; s++)
        if (s != S_CS && s < S_LDTR)
            c->seg[s] = (struct segment){0x10, 0, 0xffffffff, 0xc093};
    c->seg[S_LDTR] = (struct segment){0, 0, 0, 0x10000};
    c->seg[S_TR] = (struct segment){0x18, 0, 0x67, 0x8b};
    c->rip = TB_CODE;
    c->regs[R_RSP] = TB_STACK;
    c->cpl = 0;
    cpu_update_mode(c);
    tlb_flush_all(c, true);
    return 0;
}

static inline void tb_load_code(struct testbench *tb, const void *code, size_t len)
{
    physmem_write(&tb->pm, TB_CODE, code, len);
    tb->cpu->rip = TB_CODE;
}

static inline void tb_destroy(struct testbench *tb)
{
    cpu_destroy(tb->cpu);
    physmem_destroy(&tb->pm);
}

#endif
