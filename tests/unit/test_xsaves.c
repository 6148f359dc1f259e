/* XSAVES/XRSTORS (SDM Vol. 1 13.11-13.12) in the compacted format with
 * IA32_XSS (PASID state, component 10), and the VMX control "enable
 * XSAVES/XRSTORS" with the XSS-exiting bitmap (SDM 25.6.2, 26.1.3). */
#include "cpu_testbench.h"
#include "unit.h"

#define AREA 0x40000ull

/* xsaves64 [rdi] ; hlt   and   xrstors64 [rdi] ; hlt */
static const uint8_t XSAVES_CODE[] = {0x48, 0x0f, 0xc7, 0x2f, 0xf4};
static const uint8_t XRSTORS_CODE[] = {0x48, 0x0f, 0xc7, 0x1f, 0xf4};

static void setup(struct testbench *tb, const uint8_t *code, size_t n)
{
    struct cpu *c = tb->cpu;
    tb_load_code(tb, code, n);
    c->cr4 |= CR4_OSXSAVE;
    c->xcr0 = 3;
    c->ctl.proc = PROC_HLT_EXITING | PROC_ACTIVATE_SECONDARY_CONTROLS;
    c->ctl.proc2 = PROC2_ENABLE_XSAVES_XRSTORS;
    c->ctl.exception_bitmap = (1u << EXC_UD) | (1u << EXC_GP);
    c->regs[R_RDI] = AREA;
    c->regs[R_RAX] = 0xffffffff;
    c->regs[R_RDX] = 0xffffffff;
    static const uint8_t zero[1024];
    physmem_write(&tb->pm, AREA, zero, sizeof(zero));
}

static uint64_t rd64(struct testbench *tb, uint64_t gpa)
{
    uint64_t v = 0;
    physmem_read(&tb->pm, gpa, &v, 8);
    return v;
}

static int exc_vector(struct cpu *c)
{
    return c->exit.reason == EXIT_REASON_EXCEPTION_OR_NMI ? (int)(c->exit.intr_info & 0xff) : -1;
}

UNIT_TEST(xsaves_compacted_image)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup(&tb, XSAVES_CODE, sizeof(XSAVES_CODE));
    struct cpu *c = tb.cpu;
    CHECK(cpu_msr_write_checked(c, MSR_XSS, XSS_PASID));
    CHECK(cpu_msr_write_checked(c, MSR_PASID, 0x80000123));
    c->fpu.xmm[3].q[0] = 0x1122334455667788ull;
    c->fpu.mxcsr = 0x1fa0;
    c->fpu.fcw = 0x27f;
    tb_write64(&tb, AREA + 512 + 16, 0x55); /* bytes 63:16 of the header are not written */
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    CHECK_EQ(rd64(&tb, AREA + 512), 0x403);                          /* XSTATE_BV */
    CHECK_EQ(rd64(&tb, AREA + 520), 0x8000000000000403ull);          /* XCOMP_BV */
    CHECK_EQ(rd64(&tb, AREA + 576), 0x80000123);                     /* PASID */
    CHECK_EQ(rd64(&tb, AREA + 160 + 3 * 16), 0x1122334455667788ull); /* XMM3 */
    CHECK_EQ(rd64(&tb, AREA + 24) & 0xffffffff, 0x1fa0);             /* MXCSR */
    CHECK_EQ(rd64(&tb, AREA) & 0xffff, 0x27f);                       /* FCW */
    CHECK_EQ(rd64(&tb, AREA + 512 + 16), 0x55);
    /* RFBM = x87 only: nothing else is written */
    setup(&tb, XSAVES_CODE, sizeof(XSAVES_CODE));
    c->regs[R_RAX] = 1;
    c->regs[R_RDX] = 0;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    CHECK_EQ(rd64(&tb, AREA + 520), 0x8000000000000001ull);
    CHECK_EQ(rd64(&tb, AREA + 160 + 3 * 16), 0);
    CHECK_EQ(rd64(&tb, AREA + 576), 0);
    tb_destroy(&tb);
}

UNIT_TEST(xrstors_loads_and_initializes)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup(&tb, XRSTORS_CODE, sizeof(XRSTORS_CODE));
    struct cpu *c = tb.cpu;
    c->xss = XSS_PASID;
    tb_write64(&tb, AREA + 512, 0x402); /* SSE and PASID given; x87 initialized */
    tb_write64(&tb, AREA + 520, 0x8000000000000403ull);
    tb_write64(&tb, AREA + 576, 0x80000456);
    tb_write64(&tb, AREA + 160, 0xabcdef);
    tb_write64(&tb, AREA + 24, 0x1f00);
    c->fpu.fcw = 0x27f;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    CHECK_EQ(c->pasid, 0x80000456);
    CHECK_EQ(c->fpu.xmm[0].q[0], 0xabcdef);
    CHECK_EQ(c->fpu.mxcsr, 0x1f00);
    CHECK_EQ(c->fpu.fcw, 0x37f); /* x87 in its initial state */
    /* SSE not in XSTATE_BV: XMM zero and MXCSR 1F80H */
    setup(&tb, XRSTORS_CODE, sizeof(XRSTORS_CODE));
    tb_write64(&tb, AREA + 512, 0);
    tb_write64(&tb, AREA + 520, 0x8000000000000002ull);
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    CHECK_EQ(c->fpu.xmm[0].q[0], 0);
    CHECK_EQ(c->fpu.mxcsr, 0x1f80);
    CHECK_EQ(c->pasid, 0); /* requested (RFBM) but not in XSTATE_BV: initialized */
    tb_destroy(&tb);
}

/* #GP: the standard format (XCOMP_BV[63] = 0), XSTATE_BV outside
 * XCOMP_BV, a component outside XCR0 | IA32_XSS, a reserved header byte,
 * reserved PASID bits, CPL 3, a misaligned area; nothing is loaded. */
UNIT_TEST(xrstors_faults)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct cpu *c = tb.cpu;
    static const uint64_t bad[][4] = {
        /* xstate_bv, xcomp_bv, header byte 16, pasid */
        {0x2, 0x2, 0, 0},
        {0x3, 0x8000000000000002ull, 0, 0},
        {0x0, 0x8000000000000004ull, 0, 0},
        {0x2, 0x8000000000000002ull, 1, 0},
        {0x400, 0x8000000000000400ull, 0, 0x100000},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setup(&tb, XRSTORS_CODE, sizeof(XRSTORS_CODE));
        c->xss = XSS_PASID;
        c->pasid = 7;
        c->fpu.xmm[0].q[0] = 99;
        tb_write64(&tb, AREA + 512, bad[i][0]);
        tb_write64(&tb, AREA + 520, bad[i][1]);
        tb_write64(&tb, AREA + 528, bad[i][2]);
        tb_write64(&tb, AREA + 576, bad[i][3]);
        CHECK_EQ(cpu_run(c, 10), EXIT_REASON_EXCEPTION_OR_NMI);
        CHECK_EQ(exc_vector(c), EXC_GP);
        CHECK_EQ(c->pasid, 7);
        CHECK_EQ(c->fpu.xmm[0].q[0], 99);
    }
    setup(&tb, XSAVES_CODE, sizeof(XSAVES_CODE));
    c->regs[R_RDI] = AREA + 32;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(c), EXC_GP);
    CHECK_EQ(rd64(&tb, AREA + 32 + 520), 0);
    /* reserved IA32_XSS / IA32_PASID bits are refused */
    CHECK(!cpu_msr_write_checked(c, MSR_XSS, 1));
    CHECK(!cpu_msr_write_checked(c, MSR_XSS, 1ull << 8));
    CHECK(!cpu_msr_write_checked(c, MSR_PASID, 1ull << 20));
    tb_destroy(&tb);
}

/* "enable XSAVES/XRSTORS" = 0: #UD; the XSS-exiting bitmap exits only
 * when EDX:EAX, IA32_XSS and the bitmap share a bit (reason 63/64, the
 * displacement as qualification, the operand in the instruction
 * information). */
UNIT_TEST(xsaves_vmx_controls)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct cpu *c = tb.cpu;
    setup(&tb, XSAVES_CODE, sizeof(XSAVES_CODE));
    c->ctl.proc2 = 0;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(c), EXC_UD);
    setup(&tb, XRSTORS_CODE, sizeof(XRSTORS_CODE));
    c->ctl.proc &= ~PROC_ACTIVATE_SECONDARY_CONTROLS;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(c), EXC_UD);
    /* IA32_XSS = 0: an all-ones bitmap selects nothing */
    setup(&tb, XSAVES_CODE, sizeof(XSAVES_CODE));
    c->xss = 0;
    c->ctl.xss_exit_bitmap = ~0ull;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    /* PASID in IA32_XSS and the bitmap, but not requested in EDX:EAX */
    setup(&tb, XSAVES_CODE, sizeof(XSAVES_CODE));
    c->xss = XSS_PASID;
    c->ctl.xss_exit_bitmap = XSS_PASID;
    c->regs[R_RAX] = 3;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    /* requested: exits before touching memory */
    setup(&tb, XSAVES_CODE, sizeof(XSAVES_CODE));
    c->xss = XSS_PASID;
    c->ctl.xss_exit_bitmap = XSS_PASID;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_XSAVES);
    CHECK_EQ(c->exit.instr_len, 4);
    CHECK_EQ(c->exit.qualification, 0);
    /* 64-bit address size (2 << 7), DS (3 << 15), no index (bit 22),
     * base RDI (7 << 23) */
    CHECK_EQ(c->exit.instr_info, (2u << 7) | (3u << 15) | (1u << 22) | (7u << 23));
    CHECK_EQ(c->rip, TB_CODE);
    CHECK_EQ(rd64(&tb, AREA + 520), 0);
    setup(&tb, XRSTORS_CODE, sizeof(XRSTORS_CODE));
    c->xss = XSS_PASID;
    c->ctl.xss_exit_bitmap = XSS_PASID | 1;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_XRSTORS);
    /* CPL 3: #GP (before the exit) */
    setup(&tb, XSAVES_CODE, sizeof(XSAVES_CODE));
    c->cpl = 3;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(c), EXC_GP);
    tb_destroy(&tb);
}

int main(void)
{
    UNIT_RUN(xsaves_compacted_image);
    UNIT_RUN(xrstors_loads_and_initializes);
    UNIT_RUN(xrstors_faults);
    UNIT_RUN(xsaves_vmx_controls);
    UNIT_DONE();
}
