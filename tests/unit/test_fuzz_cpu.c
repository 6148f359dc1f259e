/* Robustness: random instruction streams (fixed seed, so deterministic)
 * executed in 64-bit, 32-bit and real mode with random register values.
 * Whatever a guest executes, the CPU must only deliver exceptions or exit:
 * no crash, no undefined behaviour (run under ASan/UBSan by make check),
 * no access outside guest RAM. The test passes if every run ends cleanly. */
#include "cpu_testbench.h"
#include "unit.h"

static uint64_t rng = 0x1234567887654321ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* IDT whose every gate points to a HLT; exits are handled by skipping. */
static void setup(struct testbench *tb)
{
    struct cpu *c = tb->cpu;
    uint64_t handler = 0x200000;
    for (int v = 0; v < 256; v++) {
        uint64_t lo = (handler & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
                      ((handler >> 16) & 0xffff) << 48;
        tb_write64(tb, 0x5000 + v * 16, lo);
        tb_write64(tb, 0x5000 + v * 16 + 8, handler >> 32);
    }
    c->idtr.base = 0x5000;
    c->idtr.limit = 0xfff;
    c->gdtr.base = 0x6000;
    c->gdtr.limit = 0x1f;
    tb_write64(tb, 0x6008, 0x00209a0000000000ull);
    tb_write64(tb, 0x6010, 0x00cf92000000ffffull);
    tb_write64(tb, 0x6018, 0x00cf9a000000ffffull);
    uint8_t hlt = 0xf4;
    physmem_write(&tb->pm, handler, &hlt, 1);
}

static int run_random(struct testbench *tb, int mode)
{
    struct cpu *c = tb->cpu;
    uint8_t code[4096];
    for (size_t i = 0; i < sizeof(code); i++)
        code[i] = (uint8_t)rnd();
    /* bias towards prefixes and two-byte opcodes */
    for (int i = 0; i < 200; i++)
        code[rnd() % sizeof(code)] = (rnd() & 1) ? 0x0f : (uint8_t)(0x40 | (rnd() & 15));
    physmem_write(&tb->pm, TB_CODE, code, sizeof(code));
    for (int r = 0; r < 16; r++)
        c->regs[r] = (rnd() & 1) ? rnd() : (rnd() & 0xffff);
    c->regs[R_RSP] = TB_STACK;
    c->rip = TB_CODE;
    cpu_set_rflags(c, 2 | (rnd() & 0x8d5));
    if (mode == 1) { /* 32-bit protected mode, paging off */
        c->efer = 0;
        c->cr0 = 0x11;
        c->cr4 = 0x600;
        c->seg[S_CS] = (struct segment){ 0x18, 0, 0xffffffff, 0xc09b };
        c->seg[S_SS] = c->seg[S_DS] = c->seg[S_ES] = (struct segment){ 0x10, 0, 0xffffffff, 0xc093 };
    } else if (mode == 2) { /* real mode */
        c->efer = 0;
        c->cr0 = 0x10;
        c->cr4 = 0;
        c->seg[S_CS] = (struct segment){ 0x1000, 0x10000, 0xffff, 0x9b };
        c->seg[S_SS] = c->seg[S_DS] = c->seg[S_ES] = (struct segment){ 0, 0, 0xffff, 0x93 };
        c->rip = TB_CODE - 0x10000;
        c->idtr = (struct dtable){ 0, 0x3ff };
    }
    cpu_update_mode(c);
    tlb_flush_all(c, true);
    c->ctl.proc = PROC_HLT_EXITING | PROC_UNCONDITIONAL_IO_EXITING;
    for (int steps = 0; steps < 400; steps++) {
        uint32_t e = cpu_run(c, 300);
        if (e == EXIT_REASON_TRIPLE_FAULT)
            return 0;
        if (e == EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED)
            continue;
        if (e == EXIT_REASON_HLT || e == EXIT_REASON_EPT_VIOLATION || e == EXIT_REASON_TASK_SWITCH ||
            c->exit.instr_len == 0 || c->exit.instr_len > 15) {
            /* resume somewhere else in the random code, with a sane stack */
            c->rip = (mode == 2 ? TB_CODE - 0x10000 : TB_CODE) + rnd() % 4000;
            c->regs[R_RSP] = TB_STACK;
            c->activity = ACTIVITY_ACTIVE;
            continue;
        }
        cpu_skip_instruction(c); /* I/O, CPUID, MSRs, VMX instructions... */
    }
    return 0;
}

UNIT_TEST(random_instruction_streams)
{
    for (int mode = 0; mode < 3; mode++) {
        uint64_t insns = 0;
        for (int prog = 0; prog < 100; prog++) {
            struct testbench tb;
            CHECK(tb_init_long(&tb) == 0);
            setup(&tb);
            CHECK_EQ(run_random(&tb, mode), 0);
            insns += tb.cpu->icount;
            tb_destroy(&tb);
        }
        printf("  mode %d: %llu random instructions retired\n", mode, (unsigned long long)insns);
        CHECK(insns > 10000); /* the streams really executed */
    }
}

int main(void)
{
    UNIT_RUN(random_instruction_streams);
    UNIT_DONE();
}
