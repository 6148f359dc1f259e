/* x87, SSE/SSE2 and the state-management instructions: FXSAVE/FXRSTOR
 * layout (SDM Vol. 1 10.5.1, table 10-2), XSAVE/XRSTOR/XGETBV/XSETBV
 * (SDM Vol. 1 chapter 13), LDMXCSR checks, MOVDQA alignment #GP, integer
 * SIMD (add/sub with wrap-around and saturation, multiplies, compares,
 * logic, shifts incl. counts beyond the element width, shuffles, unpacks,
 * packs, PMOVMSKB, PEXTRW/PINSRW) and floating point (packed/scalar
 * arithmetic, SQRTSD, conversions with rounding and the integer indefinite
 * value, COMISD/UCOMISD flags, MXCSR exception flags).
 * Built with SSE code generation allowed; expected values are constants or
 * computed by scalar integer code (auto-vectorization is disabled so the
 * reference never runs on the SIMD unit under test). */
#pragma GCC optimize("no-tree-vectorize")
#include "guest.h"

typedef union {
    uint8_t b[16];
    uint16_t w[8];
    uint32_t d[4];
    uint64_t q[2];
    int8_t sb[16];
    int16_t sw[8];
    int32_t sd[4];
    float f[4];
    double dbl[2];
} __attribute__((aligned(16))) v128;

static v128 A, B, R;

static void init(void)
{
    for (int i = 0; i < 16; i++) {
        A.b[i] = (uint8_t)(i * 17 + 0x70);
        B.b[i] = (uint8_t)(0xf0 - i * 13);
    }
}

#define OP2(insn)                                                                                  \
    __asm__ volatile("movdqa %1, %%xmm0; movdqa %2, %%xmm1; " insn " %%xmm1, %%xmm0; movdqa "      \
                     "%%xmm0, %0"                                                                  \
                     : "=m"(R)                                                                     \
                     : "m"(A), "m"(B)                                                              \
                     : "xmm0", "xmm1")

static uint8_t sat_u8(int v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}
static int8_t sat_s8(int v)
{
    return v < -128 ? -128 : v > 127 ? 127 : v;
}
static int16_t sat_s16(int v)
{
    return v < -32768 ? -32768 : v > 32767 ? 32767 : v;
}

static void test_int_simd(void)
{
    bool ok;
    init();
    OP2("paddb");
    ok = true;
    for (int i = 0; i < 16; i++)
        ok &= R.b[i] == (uint8_t)(A.b[i] + B.b[i]);
    CHECK(ok, "paddb_wraps");
    OP2("paddusb");
    ok = true;
    for (int i = 0; i < 16; i++)
        ok &= R.b[i] == sat_u8(A.b[i] + B.b[i]);
    CHECK(ok, "paddusb_saturates");
    OP2("psubsb");
    ok = true;
    for (int i = 0; i < 16; i++)
        ok &= R.sb[i] == sat_s8(A.sb[i] - B.sb[i]);
    CHECK(ok, "psubsb_saturates");
    OP2("paddsw");
    ok = true;
    for (int i = 0; i < 8; i++)
        ok &= R.sw[i] == sat_s16(A.sw[i] + B.sw[i]);
    CHECK(ok, "paddsw_saturates");
    OP2("psubd");
    ok = true;
    for (int i = 0; i < 4; i++)
        ok &= R.d[i] == A.d[i] - B.d[i];
    CHECK(ok, "psubd");
    OP2("paddq");
    CHECK(R.q[0] == A.q[0] + B.q[0] && R.q[1] == A.q[1] + B.q[1], "paddq");
    OP2("pmullw");
    ok = true;
    for (int i = 0; i < 8; i++)
        ok &= R.w[i] == (uint16_t)(A.sw[i] * B.sw[i]);
    CHECK(ok, "pmullw");
    OP2("pmulhw");
    ok = true;
    for (int i = 0; i < 8; i++)
        ok &= R.sw[i] == (int16_t)((A.sw[i] * B.sw[i]) >> 16);
    CHECK(ok, "pmulhw");
    OP2("pmuludq");
    CHECK(R.q[0] == (uint64_t)A.d[0] * B.d[0] && R.q[1] == (uint64_t)A.d[2] * B.d[2], "pmuludq");
    OP2("pmaddwd");
    ok = true;
    for (int i = 0; i < 4; i++)
        ok &= R.sd[i] == A.sw[2 * i] * B.sw[2 * i] + A.sw[2 * i + 1] * B.sw[2 * i + 1];
    CHECK(ok, "pmaddwd");
    OP2("psadbw");
    uint64_t s0 = 0, s1 = 0;
    for (int i = 0; i < 8; i++) {
        s0 += A.b[i] > B.b[i] ? A.b[i] - B.b[i] : B.b[i] - A.b[i];
        s1 += A.b[i + 8] > B.b[i + 8] ? A.b[i + 8] - B.b[i + 8] : B.b[i + 8] - A.b[i + 8];
    }
    CHECK(R.q[0] == s0 && R.q[1] == s1, "psadbw");
    B.b[3] = A.b[3];
    OP2("pcmpeqb");
    ok = true;
    for (int i = 0; i < 16; i++)
        ok &= R.b[i] == (A.b[i] == B.b[i] ? 0xff : 0);
    CHECK(ok, "pcmpeqb");
    OP2("pcmpgtd");
    ok = true;
    for (int i = 0; i < 4; i++)
        ok &= R.d[i] == (A.sd[i] > B.sd[i] ? 0xffffffffu : 0);
    CHECK(ok, "pcmpgtd_signed");
    OP2("pandn");
    CHECK(R.q[0] == (~A.q[0] & B.q[0]) && R.q[1] == (~A.q[1] & B.q[1]), "pandn");
    OP2("pxor");
    CHECK(R.q[0] == (A.q[0] ^ B.q[0]) && R.q[1] == (A.q[1] ^ B.q[1]), "pxor");
    OP2("por");
    CHECK(R.q[0] == (A.q[0] | B.q[0]) && R.q[1] == (A.q[1] | B.q[1]), "por");
    OP2("punpcklbw");
    ok = true;
    for (int i = 0; i < 8; i++)
        ok &= R.b[2 * i] == A.b[i] && R.b[2 * i + 1] == B.b[i];
    CHECK(ok, "punpcklbw");
    OP2("punpckhdq");
    CHECK(R.d[0] == A.d[2] && R.d[1] == B.d[2] && R.d[2] == A.d[3] && R.d[3] == B.d[3],
          "punpckhdq");
    OP2("punpcklqdq");
    CHECK(R.q[0] == A.q[0] && R.q[1] == B.q[0], "punpcklqdq");
    OP2("packsswb");
    ok = true;
    for (int i = 0; i < 8; i++)
        ok &= R.sb[i] == sat_s8(A.sw[i]) && R.sb[i + 8] == sat_s8(B.sw[i]);
    CHECK(ok, "packsswb");
    OP2("packuswb");
    ok = true;
    for (int i = 0; i < 8; i++)
        ok &= R.b[i] == sat_u8(A.sw[i]) && R.b[i + 8] == sat_u8(B.sw[i]);
    CHECK(ok, "packuswb");

    __asm__ volatile("movdqa %1, %%xmm0; pshufd $0x1b, %%xmm0, %%xmm0; movdqa %%xmm0, %0"
                     : "=m"(R)
                     : "m"(A)
                     : "xmm0");
    CHECK(R.d[0] == A.d[3] && R.d[1] == A.d[2] && R.d[2] == A.d[1] && R.d[3] == A.d[0],
          "pshufd_reverse");
    __asm__ volatile("movdqa %1, %%xmm0; psllw $3, %%xmm0; movdqa %%xmm0, %0"
                     : "=m"(R)
                     : "m"(A)
                     : "xmm0");
    ok = true;
    for (int i = 0; i < 8; i++)
        ok &= R.w[i] == (uint16_t)(A.w[i] << 3);
    CHECK(ok, "psllw_imm");
    __asm__ volatile("movdqa %1, %%xmm0; psrlq $64, %%xmm0; movdqa %%xmm0, %0"
                     : "=m"(R)
                     : "m"(A)
                     : "xmm0");
    CHECK(R.q[0] == 0 && R.q[1] == 0, "psrlq_count_ge_64_zero");
    __asm__ volatile("movdqa %1, %%xmm0; psraw $20, %%xmm0; movdqa %%xmm0, %0"
                     : "=m"(R)
                     : "m"(A)
                     : "xmm0");
    ok = true;
    for (int i = 0; i < 8; i++)
        ok &= R.sw[i] == (A.sw[i] < 0 ? -1 : 0);
    CHECK(ok, "psraw_count_ge_16_sign_fill");
    static v128 cnt = {.q = {5, 0}};
    __asm__ volatile("movdqa %1, %%xmm0; pslld %2, %%xmm0; movdqa %%xmm0, %0"
                     : "=m"(R)
                     : "m"(A), "m"(cnt)
                     : "xmm0");
    ok = true;
    for (int i = 0; i < 4; i++)
        ok &= R.d[i] == A.d[i] << 5;
    CHECK(ok, "pslld_xmm_count");
    __asm__ volatile("movdqa %1, %%xmm0; psrldq $3, %%xmm0; movdqa %%xmm0, %0"
                     : "=m"(R)
                     : "m"(A)
                     : "xmm0");
    ok = true;
    for (int i = 0; i < 16; i++)
        ok &= R.b[i] == (i + 3 < 16 ? A.b[i + 3] : 0);
    CHECK(ok, "psrldq_bytes");

    uint32_t mask;
    __asm__ volatile("movdqa %1, %%xmm0; pmovmskb %%xmm0, %0" : "=r"(mask) : "m"(A) : "xmm0");
    uint32_t em = 0;
    for (int i = 0; i < 16; i++)
        em |= (uint32_t)(A.b[i] >> 7) << i;
    CHECK_EQ(mask, em, "pmovmskb");
    uint32_t w;
    __asm__ volatile("movdqa %1, %%xmm0; pextrw $5, %%xmm0, %0" : "=r"(w) : "m"(A) : "xmm0");
    CHECK_EQ(w, A.w[5], "pextrw");
    __asm__ volatile("movdqa %1, %%xmm0; pinsrw $2, %2, %%xmm0; movdqa %%xmm0, %0"
                     : "=m"(R)
                     : "m"(A), "r"(0xbeefu)
                     : "xmm0");
    CHECK(R.w[2] == 0xbeef && R.w[1] == A.w[1] && R.w[3] == A.w[3], "pinsrw");
    /* MOVD/MOVQ to XMM zero the upper bits. */
    __asm__ volatile("movdqa %1, %%xmm0; movd %2, %%xmm0; movdqa %%xmm0, %0"
                     : "=m"(R)
                     : "m"(A), "r"(0x12345678u)
                     : "xmm0");
    CHECK(R.d[0] == 0x12345678 && R.d[1] == 0 && R.q[1] == 0, "movd_zero_extends");
    uint64_t q;
    __asm__ volatile("movq %1, %%xmm0; movq %%xmm0, %0"
                     : "=r"(q)
                     : "r"(0x1122334455667788ull)
                     : "xmm0");
    CHECK_EQ(q, 0x1122334455667788ull, "movq_gpr_roundtrip");
    /* MOVDQA needs 16-byte alignment (#GP(0)); MOVDQU does not. */
    static uint8_t buf[64] ALIGNED(16);
    CHECK_EXC(__asm__ volatile("movdqa (%0), %%xmm0" ::"r"(buf + 4)
                               : "xmm0"),
              GP_VECTOR, 0, "movdqa_misaligned_gp");
    CHECK_NO_EXC(__asm__ volatile("movdqu (%0), %%xmm0" ::"r"(buf + 4)
                                  : "xmm0"),
                 "movdqu_misaligned_ok");
    CHECK_EXC(__asm__ volatile("paddb (%0), %%xmm0" ::"r"(buf + 4)
                               : "xmm0"),
              GP_VECTOR, 0, "legacy_sse_mem_operand_misaligned_gp");
}

static v128 FA, FB;

static void test_fp(void)
{
    uint32_t mxcsr_def = 0x1f80, mxcsr;
    __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr_def));
    FA.dbl[0] = 1.5;
    FA.dbl[1] = -2.0;
    FB.dbl[0] = 4.0;
    FB.dbl[1] = 0.5;
    __asm__ volatile("movapd %1, %%xmm0; mulpd %2, %%xmm0; movapd %%xmm0, %0"
                     : "=m"(R)
                     : "m"(FA), "m"(FB)
                     : "xmm0");
    CHECK(R.dbl[0] == 6.0 && R.dbl[1] == -1.0, "mulpd");
    FA.f[0] = 1.5f;
    FA.f[1] = 2.25f;
    FA.f[2] = -8.0f;
    FA.f[3] = 1e-3f;
    FB.f[0] = 2.25f;
    FB.f[1] = -2.25f;
    FB.f[2] = 0.5f;
    FB.f[3] = 0.0f;
    __asm__ volatile("movaps %1, %%xmm0; addps %2, %%xmm0; movaps %%xmm0, %0"
                     : "=m"(R)
                     : "m"(FA), "m"(FB)
                     : "xmm0");
    CHECK(R.f[0] == 3.75f && R.f[1] == 0.0f && R.f[2] == -7.5f && R.f[3] == 1e-3f, "addps");
    double two = 2.0, r;
    __asm__ volatile("sqrtsd %1, %%xmm0; movsd %%xmm0, %0" : "=m"(r) : "m"(two) : "xmm0");
    uint64_t bits;
    memcpy(&bits, &r, 8);
    CHECK_EQ(bits, 0x3ff6a09e667f3bcdull, "sqrtsd_correctly_rounded");
    double one = 1.0, three = 3.0;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    mxcsr &= ~0x3fu;
    __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
    __asm__ volatile("movsd %1, %%xmm0; divsd %2, %%xmm0; movsd %%xmm0, %0"
                     : "=m"(r)
                     : "m"(one), "m"(three)
                     : "xmm0");
    memcpy(&bits, &r, 8);
    CHECK_EQ(bits, 0x3fd5555555555555ull, "divsd_one_third");
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    CHECK_EQ(mxcsr & 0x3f, 0x20, "mxcsr_precision_flag");
    double zero = 0.0;
    __asm__ volatile("movsd %1, %%xmm0; divsd %2, %%xmm0; movsd %%xmm0, %0"
                     : "=m"(r)
                     : "m"(one), "m"(zero)
                     : "xmm0");
    memcpy(&bits, &r, 8);
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    CHECK(bits == 0x7ff0000000000000ull && (mxcsr & 0x4), "divsd_by_zero_inf_ze_flag");
    __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr_def));

    /* Conversions: CVTSI2SD, CVTTSD2SI (truncate), CVTSD2SI (MXCSR.RC,
     * round to nearest even), out of range -> integer indefinite. */
    int64_t i64 = -123456789012345ll;
    __asm__ volatile("cvtsi2sdq %1, %%xmm0; movsd %%xmm0, %0" : "=m"(r) : "r"(i64) : "xmm0");
    CHECK(r == -123456789012345.0, "cvtsi2sd");
    double vals[] = {-2.7, 2.5, 3.5, -2.5, 1e30, 0.0 / 0.0};
    int64_t t[6], n[6];
    for (int i = 0; i < 6; i++) {
        __asm__ volatile("cvttsd2si %1, %0" : "=r"(t[i]) : "m"(vals[i]));
        __asm__ volatile("cvtsd2si %1, %0" : "=r"(n[i]) : "m"(vals[i]));
    }
    CHECK(t[0] == -2 && t[1] == 2 && t[2] == 3 && t[3] == -2, "cvttsd2si_truncates");
    CHECK(n[0] == -3 && n[1] == 2 && n[2] == 4 && n[3] == -2, "cvtsd2si_round_nearest_even");
    CHECK(t[4] == INT64_MIN && t[5] == INT64_MIN && n[4] == INT64_MIN, "cvt_integer_indefinite");
    uint32_t rc_down = 0x1f80 | (1u << 13);
    __asm__ volatile("ldmxcsr %0" ::"m"(rc_down));
    __asm__ volatile("cvtsd2si %1, %0" : "=r"(n[0]) : "m"(vals[1]));
    __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr_def));
    CHECK_EQ(n[0], 2, "cvtsd2si_round_down");
    float fr;
    __asm__ volatile("cvtsd2ss %1, %%xmm0; movss %%xmm0, %0" : "=m"(fr) : "m"(vals[1]) : "xmm0");
    CHECK(fr == 2.5f, "cvtsd2ss");

    /* COMISD/UCOMISD: ZF,PF,CF = 000 greater, 001 less, 100 equal, 111
     * unordered; OF SF AF cleared. */
    double nan = 0.0 / 0.0;
    struct {
        double a, b;
        uint64_t f;
    } cmp[] = {{2.0, 1.0, 0},
               {1.0, 2.0, RFLAGS_CF},
               {1.0, 1.0, RFLAGS_ZF},
               {nan, 1.0, RFLAGS_ZF | RFLAGS_PF | RFLAGS_CF}};
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        uint64_t f;
        __asm__ volatile("push %3; popfq; movsd %1, %%xmm0; ucomisd %2, %%xmm0; pushfq; pop %0"
                         : "=r"(f)
                         : "m"(cmp[i].a), "m"(cmp[i].b),
                           "r"(0x2ull | RFLAGS_OF | RFLAGS_SF | RFLAGS_AF)
                         : "xmm0", "cc");
        ok &= (f & RFLAGS_ARITH) == cmp[i].f;
        __asm__ volatile("movsd %1, %%xmm0; comisd %2, %%xmm0; pushfq; pop %0"
                         : "=r"(f)
                         : "m"(cmp[i].a), "m"(cmp[i].b)
                         : "xmm0", "cc");
        ok &= (f & RFLAGS_ARITH) == cmp[i].f;
    }
    CHECK(ok, "comisd_ucomisd_flags");
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    CHECK(mxcsr & 1, "comisd_qnan_sets_ie");
    __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr_def));
    double mn, mx;
    __asm__ volatile("movsd %2, %%xmm0; minsd %3, %%xmm0; movsd %%xmm0, %0; movsd %2, %%xmm1; "
                     "maxsd %3, %%xmm1; movsd %%xmm1, %1"
                     : "=m"(mn), "=m"(mx)
                     : "m"(vals[0]), "m"(vals[2])
                     : "xmm0", "xmm1");
    CHECK(mn == -2.7 && mx == 3.5, "minsd_maxsd");
    /* LDMXCSR with reserved bits set: #GP(0). */
    uint32_t bad = 0x1f80 | (1u << 20);
    if (running_on_qemu())
        SKIP("QEMU TCG does not check reserved MXCSR bits", "ldmxcsr_reserved_gp");
    else
        CHECK_EXC(__asm__ volatile("ldmxcsr %0" ::"m"(bad)), GP_VECTOR, 0, "ldmxcsr_reserved_gp");
}

static void test_x87(void)
{
    double r;
    __asm__ volatile("fninit; fld1; fld1; faddp; fsqrt; fstpl %0" : "=m"(r));
    uint64_t bits;
    memcpy(&bits, &r, 8);
    CHECK_EQ(bits, 0x3ff6a09e667f3bcdull, "x87_fsqrt_2");
    uint16_t cw, sw;
    __asm__ volatile("fninit; fnstcw %0; fnstsw %1" : "=m"(cw), "=m"(sw));
    CHECK(cw == 0x37f && sw == 0, "fninit_state");
    int32_t iv;
    double v = 2.5;
    __asm__ volatile("fldl %1; fistpl %0" : "=m"(iv) : "m"(v));
    CHECK_EQ(iv, 2, "fistp_round_nearest_even");
    uint64_t f;
    double a = 1.0, b = 2.0;
    __asm__ volatile("fldl %2; fldl %1; fcomip %%st(1), %%st; fstp %%st(0); pushfq; pop %0"
                     : "=r"(f)
                     : "m"(a), "m"(b)
                     : "cc");
    CHECK((f & (RFLAGS_ZF | RFLAGS_PF | RFLAGS_CF)) == RFLAGS_CF, "fcomip_less");
    /* Stack overflow: 9 pushes set C1 and IE|SF in the status word (SDM
     * Vol. 1 8.5.1.1). QEMU TCG does not detect x87 stack faults. */
    if (running_on_qemu()) {
        SKIP("QEMU TCG does not detect x87 stack overflow", "x87_stack_overflow_flags");
        return;
    }
    __asm__ volatile(
        "fninit; fld1; fld1; fld1; fld1; fld1; fld1; fld1; fld1; fld1; fnstsw %0; fninit"
        : "=m"(sw));
    CHECK((sw & 0x41) == 0x41 && (sw & 0x200), "x87_stack_overflow_flags (sw=0x%x)", sw);
}

static uint8_t fx[512] ALIGNED(16);
static uint8_t fx2[512] ALIGNED(16);
static uint8_t xs[4096] ALIGNED(64);

static void test_state(void)
{
    static v128 pat = {.q = {0x0123456789abcdefull, 0xfedcba9876543210ull}};
    static v128 other = {.q = {1, 2}};
    __asm__ volatile("fninit; movdqa %0, %%xmm0; movdqa %0, %%xmm15" ::"m"(pat) : "xmm0", "xmm15");
    __asm__ volatile("fxsave %0" : "=m"(fx));
    uint32_t mxcsr;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    CHECK_EQ(*(uint16_t *)fx, 0x37f, "fxsave_fcw");
    CHECK_EQ(*(uint32_t *)(fx + 24), mxcsr, "fxsave_mxcsr");
    CHECK(*(uint32_t *)(fx + 28) != 0, "fxsave_mxcsr_mask (0x%x)", *(uint32_t *)(fx + 28));
    CHECK(memcmp(fx + 160, &pat, 16) == 0, "fxsave_xmm0_at_160");
    CHECK(memcmp(fx + 160 + 15 * 16, &pat, 16) == 0, "fxsave_xmm15_at_400");
    __asm__ volatile("movdqa %0, %%xmm0" ::"m"(other) : "xmm0");
    __asm__ volatile("fxrstor %0" ::"m"(fx));
    v128 out;
    __asm__ volatile("movdqa %%xmm0, %0" : "=m"(out));
    CHECK(out.q[0] == pat.q[0] && out.q[1] == pat.q[1], "fxrstor_xmm0");
    CHECK_EXC(__asm__ volatile("fxsave (%0)" ::"r"(fx2 + 8)
                               : "memory"),
              GP_VECTOR, 0, "fxsave_misaligned_gp");
    memcpy(fx2, fx, 512);
    *(uint32_t *)(fx2 + 24) = 0xffffffff;
    if (running_on_qemu())
        SKIP("QEMU TCG does not check reserved MXCSR bits", "fxrstor_bad_mxcsr_gp");
    else
        CHECK_EXC(__asm__ volatile("fxrstor %0" ::"m"(fx2)), GP_VECTOR, 0, "fxrstor_bad_mxcsr_gp");

    if (!HAS_XSAVE()) {
        SKIP("no XSAVE", "xsave");
        return;
    }
    CHECK_EXC(__asm__ volatile("xgetbv" ::"c"(0)
                               : "rax", "rdx"),
              UD_VECTOR, 0, "xgetbv_without_osxsave_ud");
    cr4_set(CR4_OSXSAVE);
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    CHECK(lo & 1, "xcr0_x87_always_set (0x%x)", lo);
    struct cpuid_regs d0 = cpuid(0xd, 0);
    CHECK(d0.c <= sizeof(xs) && d0.c >= 576, "xsave_area_size (%u)", d0.c);
    __asm__ volatile("xsetbv" ::"a"(3u), "d"(0u), "c"(0u));
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    CHECK_EQ(lo, 3, "xsetbv_x87_sse");
    CHECK_EXC(__asm__ volatile("xsetbv" ::"a"(2u), "d"(0u), "c"(0u)), GP_VECTOR, 0,
              "xsetbv_without_x87_gp");
    if (d0.a & 4)
        CHECK_EXC(__asm__ volatile("xsetbv" ::"a"(5u), "d"(0u), "c"(0u)), GP_VECTOR, 0,
                  "xsetbv_avx_without_sse_gp");
    CHECK_EXC(__asm__ volatile("xsetbv" ::"a"(3u), "d"(0u), "c"(1u)), GP_VECTOR, 0,
              "xsetbv_bad_xcr_gp");
    memset(xs, 0, sizeof(xs));
    __asm__ volatile("movdqa %0, %%xmm0" ::"m"(pat) : "xmm0");
    __asm__ volatile("xsave %0" : "=m"(xs) : "a"(3u), "d"(0u) : "memory");
    uint64_t xstate_bv = *(uint64_t *)(xs + 512);
    CHECK(xstate_bv & 2, "xsave_xstate_bv_sse (0x%lx)", xstate_bv);
    CHECK(memcmp(xs + 160, &pat, 16) == 0, "xsave_xmm0_legacy_area");
    __asm__ volatile("movdqa %0, %%xmm0" ::"m"(other) : "xmm0");
    __asm__ volatile("xrstor %0" ::"m"(xs), "a"(3u), "d"(0u));
    __asm__ volatile("movdqa %%xmm0, %0" : "=m"(out));
    CHECK(out.q[0] == pat.q[0] && out.q[1] == pat.q[1], "xrstor_xmm0");
    /* XRSTOR of SSE with XSTATE_BV[1]=0 initialises XMM to zero. */
    *(uint64_t *)(xs + 512) &= ~2ull;
    __asm__ volatile("xrstor %0" ::"m"(xs), "a"(3u), "d"(0u));
    __asm__ volatile("movdqa %%xmm0, %0" : "=m"(out));
    CHECK(out.q[0] == 0 && out.q[1] == 0, "xrstor_init_state_zeroes_xmm");
    CHECK_EXC(__asm__ volatile("xsave (%0)" ::"r"(xs + 16), "a"(3u), "d"(0u)
                               : "memory"),
              GP_VECTOR, 0, "xsave_misaligned_gp");
    __asm__ volatile("xsetbv" ::"a"(1u), "d"(0u), "c"(0u));
    cr4_clear(CR4_OSXSAVE);
}

void guest_main(struct multiboot_info *mbi)
{
    test_int_simd();
    test_fp();
    test_x87();
    test_state();
}
