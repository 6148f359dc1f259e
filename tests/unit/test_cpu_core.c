/* Host-side unit tests of the CPU core: decoder lengths, lazy flags, the
 * execution loop and its VM-exit boundary, paging faults. */
#include "cpu_testbench.h"
#include "unit.h"

UNIT_TEST(decode_lengths)
{
    static const struct {
        uint8_t b[15];
        int mode, len;
    } cases[] = {
        {{0x90}, CPU_MODE_LONG64, 1},
        {{0x48, 0x89, 0xd8}, CPU_MODE_LONG64, 3},                    /* mov rax, rbx */
        {{0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8}, CPU_MODE_LONG64, 10}, /* mov rax, imm64 */
        {{0x8b, 0x44, 0x24, 0x08}, CPU_MODE_LONG64, 4},              /* mov eax,[rsp+8] */
        {{0x8b, 0x05, 0, 0, 0, 0}, CPU_MODE_LONG64, 6},              /* rip-relative */
        {{0x66, 0x81, 0xc0, 0x34, 0x12}, CPU_MODE_LONG64, 5},        /* add ax, imm16 */
        {{0x81, 0xc0, 1, 0, 0, 0}, CPU_MODE_PROT32, 6},
        {{0x8b, 0x46, 0x02}, CPU_MODE_REAL, 3},               /* mov ax,[bp+2] */
        {{0x8b, 0x06, 0x34, 0x12}, CPU_MODE_REAL, 4},         /* mov ax,[1234] */
        {{0x0f, 0x84, 0, 0, 0, 0}, CPU_MODE_LONG64, 6},       /* jz rel32 */
        {{0xf6, 0xc1, 0x01}, CPU_MODE_LONG64, 3},             /* test cl, 1 */
        {{0xf6, 0xd1}, CPU_MODE_LONG64, 2},                   /* not cl */
        {{0xc4, 0xe2, 0x78, 0xf2, 0xc1}, CPU_MODE_LONG64, 5}, /* andn */
        {{0xc8, 0x10, 0x00, 0x01}, CPU_MODE_LONG64, 4},       /* enter */
        {{0xa1, 1, 2, 3, 4, 5, 6, 7, 8}, CPU_MODE_LONG64, 9}, /* mov eax, moffs64 */
        {{0x06}, CPU_MODE_LONG64, -1},                        /* push es: #UD */
        {{0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90},
         CPU_MODE_LONG64,
         15},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int l = cpu_decode_length(cases[i].b, 15, cases[i].mode);
        if (l != cases[i].len)
            printf("  case %zu: got %d want %d\n", i, l, cases[i].len);
        CHECK_EQ(l, cases[i].len);
    }
    /* 16 bytes of prefixes exceed the 15-byte limit */
    uint8_t p16[16];
    memset(p16, 0x66, 15);
    CHECK_EQ(cpu_decode_length(p16, 15, CPU_MODE_LONG64), -1);
}

/* A counted loop runs to completion and exits on HLT with HLT exiting. */
UNIT_TEST(loop_and_hlt_exit)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {
        0x48, 0x31, 0xc0,       /* xor rax, rax */
        0xb9, 0x10, 0x27, 0, 0, /* mov ecx, 10000 */
        0x48, 0x01, 0xc8,       /* add rax, rcx */
        0xff, 0xc9,             /* dec ecx */
        0x75, 0xf9,             /* jnz -7 */
        0xf4,                   /* hlt */
    };
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->ctl.proc = PROC_HLT_EXITING;
    uint32_t r = cpu_run(tb.cpu, 1000000);
    CHECK_EQ(r, EXIT_REASON_HLT);
    CHECK_EQ(tb.cpu->regs[R_RAX], 50005000);
    CHECK_EQ(tb.cpu->rip, TB_CODE + sizeof(code) - 1);
    CHECK_EQ(tb.cpu->exit.instr_len, 1);
    CHECK_EQ(tb.cpu->icount, 2 + 3 * 10000);
    cpu_skip_instruction(tb.cpu);
    CHECK_EQ(tb.cpu->rip, TB_CODE + sizeof(code));
    tb_destroy(&tb);
}

/* The budget ends the slice with the preemption-timer exit reason, and the
 * run resumes exactly where it stopped. */
UNIT_TEST(slice_end_and_resume)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {0xff, 0xc0, 0xeb, 0xfc}; /* inc eax; jmp -4 */
    tb_load_code(&tb, code, sizeof(code));
    CHECK_EQ(cpu_run(tb.cpu, 101), EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED);
    CHECK_EQ(tb.cpu->regs[R_RAX], 51);
    CHECK_EQ(cpu_run(tb.cpu, 99), EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED);
    CHECK_EQ(tb.cpu->regs[R_RAX], 100);
    tb_destroy(&tb);
}

UNIT_TEST(io_exit_qualification)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {0x66, 0xba, 0xf8, 0x03, 0xee}; /* mov dx, 0x3f8; out dx, al */
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->ctl.proc = PROC_UNCONDITIONAL_IO_EXITING;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_IO_INSTRUCTION);
    /* SDM Table 28-5: size-1 = 0, OUT, not string, DX encoding, port 0x3f8 */
    CHECK_EQ(tb.cpu->exit.qualification, 0x3f80000ull);
    CHECK_EQ(tb.cpu->exit.instr_len, 1);
    tb_destroy(&tb);
}

/* I/O bitmaps (SDM 25.6.4): only ports whose bit is set exit; a port
 * access that does not exit reaches nothing (reads all ones). */
UNIT_TEST(io_bitmaps)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    /* in al, 0x80 ; in ax, dx (dx = 0x3f8, bit set) */
    static const uint8_t code[] = {0xe4, 0x80, 0x66, 0xed};
    tb_load_code(&tb, code, sizeof(code));
    uint8_t zero[4096] = {0};
    physmem_write(&tb.pm, 0x7000, zero, sizeof(zero));
    physmem_write(&tb.pm, 0x8000, zero, sizeof(zero));
    uint8_t b = 1u << (0x3f9 % 8); /* only the second byte of the 16-bit access */
    physmem_write(&tb.pm, 0x7000 + 0x3f9 / 8, &b, 1);
    tb.cpu->ctl.proc = PROC_USE_IO_BITMAPS | PROC_UNCONDITIONAL_IO_EXITING; /* bitmaps win */
    tb.cpu->ctl.io_bitmap_a = 0x7000;
    tb.cpu->ctl.io_bitmap_b = 0x8000;
    tb.cpu->regs[R_RAX] = 0;
    tb.cpu->regs[R_RDX] = 0x3f8;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_IO_INSTRUCTION);
    CHECK_EQ(tb.cpu->regs[R_RAX], 0xff); /* port 0x80 was not intercepted */
    CHECK_EQ(tb.cpu->exit.qualification, (0x3f8ull << 16) | 8 | 1);
    tb_destroy(&tb);
}

UNIT_TEST(lazy_flags_cmp_jcc)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    /* cmp eax, ebx with eax=1, ebx=2: CF=1 SF=1 ZF=0 OF=0 */
    static const uint8_t code[] = {0x39, 0xd8, 0xf4};
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->regs[R_RAX] = 1;
    tb.cpu->regs[R_RBX] = 2;
    tb.cpu->ctl.proc = PROC_HLT_EXITING;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_HLT);
    uint64_t f = cpu_get_rflags(tb.cpu);
    CHECK_EQ(f & (FL_CF | FL_ZF | FL_SF | FL_OF | FL_AF | FL_PF), FL_CF | FL_SF | FL_AF | FL_PF);
    tb_destroy(&tb);
}

/* An access to an unmapped page delivers #PF with CR2 and the error code
 * through the 64-bit IDT. */
UNIT_TEST(page_fault_delivery)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct cpu *c = tb.cpu;
    /* IDT at 0x5000 with vector 14 -> handler 0x200000 (hlt) */
    uint64_t handler = 0x200000;
    uint64_t lo =
        (handler & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((handler >> 16) & 0xffff) << 48;
    tb_write64(&tb, 0x5000 + 14 * 16, lo);
    tb_write64(&tb, 0x5000 + 14 * 16 + 8, handler >> 32);
    c->idtr.base = 0x5000;
    c->idtr.limit = 0xfff;
    /* GDT with a 64-bit code descriptor at 0x08 */
    c->gdtr.base = 0x6000;
    c->gdtr.limit = 0x1f;
    tb_write64(&tb, 0x6008, 0x00209a0000000000ull);
    uint8_t hlt = 0xf4;
    physmem_write(&tb.pm, handler, &hlt, 1);
    /* mark PD entry 100 (200 MiB) not present, then write there */
    tb_write64(&tb, TB_PD + 100 * 8, 0);
    static const uint8_t code[] = {0xc7, 0x00, 0x01, 0, 0, 0}; /* mov dword [rax], 1 */
    tb_load_code(&tb, code, sizeof(code));
    c->regs[R_RAX] = 100ull << 21 | 0x123;
    c->ctl.proc = PROC_HLT_EXITING;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    CHECK_EQ(c->rip, handler);
    CHECK_EQ(c->cr2, (100ull << 21) | 0x123);
    uint64_t err = 0, rip = 0;
    physmem_read(&tb.pm, c->regs[R_RSP], &err, 8);
    physmem_read(&tb.pm, c->regs[R_RSP] + 8, &rip, 8);
    CHECK_EQ(err, PFEC_W); /* not present, write, supervisor */
    CHECK_EQ(rip, TB_CODE);
    tb_destroy(&tb);
}

/* A store into the page of code being executed is seen by the next fetch
 * (the decoded-instruction cache is invalidated). */
UNIT_TEST(self_modifying_code)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {
        0xb8, 0x01, 0,    0,    0,                /* 0: mov eax, 1 */
        0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x05, /* 5: mov byte [rip+1], 5 -> imm of next */
        0xb8, 0x02, 0,    0,    0,                /* 12: mov eax, 2 (becomes 5) */
        0xf4,
    };
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->ctl.proc = PROC_HLT_EXITING;
    /* warm the decoded-instruction cache first */
    CHECK_EQ(cpu_run(tb.cpu, 100), EXIT_REASON_HLT);
    CHECK_EQ(tb.cpu->regs[R_RAX], 5);
    tb_load_code(&tb, code, sizeof(code));
    CHECK_EQ(cpu_run(tb.cpu, 100), EXIT_REASON_HLT);
    CHECK_EQ(tb.cpu->regs[R_RAX], 5);
    tb_destroy(&tb);
}

int main(void)
{
    UNIT_RUN(decode_lengths);
    UNIT_RUN(loop_and_hlt_exit);
    UNIT_RUN(slice_end_and_resume);
    UNIT_RUN(io_exit_qualification);
    UNIT_RUN(io_bitmaps);
    UNIT_RUN(lazy_flags_cmp_jcc);
    UNIT_RUN(page_fault_delivery);
    UNIT_RUN(self_modifying_code);
    UNIT_DONE();
}
