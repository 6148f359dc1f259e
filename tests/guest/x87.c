/* The x87 FPU from the inside (SDM Vol. 1 chapter 8, Vol. 2 F* pages):
 * arithmetic results under each precision and rounding control, the status
 * word (C0-C3, exception flags, C1 round-up, stack faults), FCOM/FTST/FXAM
 * condition codes, FCOMI/FUCOMI flags, FCMOV, FIST/FISTP/FISTTP rounding and
 * the integer indefinite, FBLD/FBSTP, FPREM/FPREM1 quotient bits, FXTRACT,
 * FSCALE, transcendentals at exact points, pending unmasked exceptions and
 * #MF at the next waiting instruction, FNSAVE/FRSTOR and FNSTENV images
 * (tags, TOP, FIP/FDP/FOP), and compiled long double code.
 * Built with x87/SSE code generation allowed (GUEST_SSE_TESTS). Expected
 * values are bit patterns from the SDM's definitions (correct rounding of
 * the exact result). */
#include "guest.h"

/* Where QEMU 7.2 TCG deviates from the SDM the check is replaced by a SKIP
 * line under QEMU (tests/guest/README.md); build with -DX87_CHECK_ON_QEMU to
 * see the deviations. */
#ifdef X87_CHECK_ON_QEMU
#define on_qemu() false
#else
#define on_qemu() running_on_qemu()
#endif

/* CHECK(cond, name...) where QEMU 7.2 deviates: a SKIP line with the reason
 * there. */
#define CHECK_SDM(qemu_reason, cond, ...)                                                          \
    do {                                                                                           \
        if (on_qemu())                                                                             \
            SKIP(qemu_reason, __VA_ARGS__);                                                        \
        else                                                                                       \
            CHECK(cond, __VA_ARGS__);                                                              \
    } while (0)

struct f80 {
    uint64_t mant;
    uint16_t se;
} __attribute__((packed));

#define SW_IE 0x0001
#define SW_DE 0x0002
#define SW_ZE 0x0004
#define SW_OE 0x0008
#define SW_UE 0x0010
#define SW_PE 0x0020
#define SW_SF 0x0040
#define SW_ES 0x0080
#define SW_C0 0x0100
#define SW_C1 0x0200
#define SW_C2 0x0400
#define SW_C3 0x4000
#define SW_B 0x8000
#define SW_CC (SW_C0 | SW_C1 | SW_C2 | SW_C3)
#define TOP(sw) (((sw) >> 11) & 7)

static bool f80_is(struct f80 v, uint64_t mant, uint16_t se)
{
    return v.mant == mant && v.se == se;
}

static const struct f80 k_one = {1ull << 63, 0x3fff};
static const struct f80 k_three = {3ull << 62, 0x4000};
static const struct f80 k_minus_one = {1ull << 63, 0xbfff};

/* a / b under control word cw: result and status word */
static struct f80 divide(struct f80 a, struct f80 b, uint16_t cw, uint16_t *sw)
{
    struct f80 r;
    /* DE F9: FDIVP ST(1), ST(0) (GAS spells it "fdivrp") */
    __asm__ volatile("fninit; fldcw %4; fldt %2; fldt %3; .byte 0xde, 0xf9; fnstsw %1; fstpt %0"
                     : "=m"(r), "=m"(*sw)
                     : "m"(a), "m"(b), "m"(cw));
    return r;
}

static uint16_t read_ds(void)
{
    uint16_t v;
    __asm__ volatile("mov %%ds, %0" : "=r"(v));
    return v;
}

/* ------------------------------------------------------- arithmetic */

static void test_arith(void)
{
    struct f80 r;
    uint16_t sw;
    __asm__ volatile("fninit; fld1; fld1; faddp; fsqrt; fstpt %0; fnstsw %1" : "=m"(r), "=m"(sw));
    CHECK(f80_is(r, 0xb504f333f9de6484ull, 0x3fff), "fsqrt2_extended (%llx:%x)",
          (unsigned long long)r.mant, r.se);
    CHECK_EQ(sw & (SW_PE | SW_C1), SW_PE, "fsqrt2_pe_not_rounded_up");

    /* 1/3 = 1.0101...b x 2^-2 under each precision control (SDM 8.1.5.2):
     * 24 bits round up, 53 bits round down, 64 bits round up; C1 says
     * whether the significand was rounded up (SDM 8.1.3.1) */
    static const struct {
        uint16_t cw;
        uint64_t mant;
        bool up;
        const char *name;
    } pc[] = {
        {0x007f, 0xaaaaab0000000000ull, true, "pc24"},
        {0x027f, 0xaaaaaaaaaaaaa800ull, false, "pc53"},
        {0x037f, 0xaaaaaaaaaaaaaaabull, true, "pc64"},
        {0x077f, 0xaaaaaaaaaaaaaaaaull, false, "pc64_rc_down"},
        {0x0b7f, 0xaaaaaaaaaaaaaaabull, true, "pc64_rc_up"},
        {0x0f7f, 0xaaaaaaaaaaaaaaaaull, false, "pc64_rc_chop"},
        {0x0a7f, 0xaaaaaaaaaaaab000ull, true, "pc53_rc_up"},
        {0x0e7f, 0xaaaaaaaaaaaaa800ull, false, "pc53_rc_chop"},
        {0x047f, 0xaaaaaa0000000000ull, false, "pc24_rc_down"},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(pc); i++) {
        r = divide(k_one, k_three, pc[i].cw, &sw);
        CHECK(f80_is(r, pc[i].mant, 0x3ffd), "one_third_%s (%llx:%x)", pc[i].name,
              (unsigned long long)r.mant, r.se);
        if (on_qemu() && pc[i].up) {
            SKIP("QEMU 7.2 softfloat does not report C1 round-up", "one_third_%s_c1", pc[i].name);
            continue;
        }
        CHECK_EQ(sw & (SW_PE | SW_C1), SW_PE | (pc[i].up ? SW_C1 : 0), "one_third_%s_c1",
                 pc[i].name);
    }
    /* -1/3 rounded down is larger in magnitude */
    r = divide(k_minus_one, k_three, 0x077f, &sw);
    CHECK(f80_is(r, 0xaaaaaaaaaaaaaaabull, 0xbffd), "minus_one_third_rc_down");

    /* exact operations raise nothing; x - x = +0 except -0 in RC down */
    __asm__ volatile("fninit; fldt %2; fldt %2; fsubp; fstpt %0; fnstsw %1"
                     : "=m"(r), "=m"(sw)
                     : "m"(k_three));
    CHECK(f80_is(r, 0, 0) && !(sw & 0x3f), "x_minus_x_plus_zero");
    static const uint16_t cw_down = 0x077f;
    __asm__ volatile("fninit; fldcw %2; fldt %1; fldt %1; fsubp; fstpt %0"
                     : "=m"(r)
                     : "m"(k_three), "m"(cw_down));
    CHECK(f80_is(r, 0, 0x8000), "x_minus_x_rc_down_minus_zero");

    /* all operand forms: m32fp, m64fp, m16int, m32int, reversed and popping */
    static const float f2 = 2.0f;
    static const double d10 = 10.0;
    static const int16_t i3 = 3;
    static const int32_t i7 = 7;
    double out[8];
    __asm__ volatile("fninit\n"
                     "fldl %8; fadds %9; fstl %0\n"          /* 12 */
                     "fisubs %10; fstl %1\n"                 /* 9 */
                     "fidivrl %11; fstl %2\n"                /* 7/9 */
                     "fld1; .byte 0xd8, 0xe9; fstpl %3\n"    /* FSUBR ST(0),ST(1): 7/9 - 1 */
                     "fmuls %9; fstl %4\n"                   /* 14/9 */
                     "fldl %8; .byte 0xd8, 0xf9; fstpl %5\n" /* FDIVR ST(0),ST(1): 14/9 / 10 */
                     "fldl %8; .byte 0xde, 0xe1; fstpl %6\n" /* FSUBRP ST(1),ST(0): 10 - 14/9 */
                     "fnstsw %%ax; movw %%ax, %7\n"
                     : "=m"(out[0]), "=m"(out[1]), "=m"(out[2]), "=m"(out[3]), "=m"(out[4]),
                       "=m"(out[5]), "=m"(out[6]), "=m"(out[7])
                     : "m"(d10), "m"(f2), "m"(i3), "m"(i7)
                     : "ax");
    CHECK(out[0] == 12.0 && out[1] == 9.0 && out[2] == 7.0 / 9.0 && out[3] == 7.0 / 9.0 - 1.0,
          "operand_forms_1");
    CHECK(out[4] == 14.0 / 9.0 && out[5] == (14.0 / 9.0) / 10.0 && out[6] == 10.0 - 14.0 / 9.0,
          "operand_forms_2");
    uint16_t sw7;
    memcpy(&sw7, &out[7], 2);
    CHECK_EQ(TOP(sw7), 0, "operand_forms_stack_balanced");

    /* FCHS, FABS, FSCALE, FXTRACT, FRNDINT */
    struct f80 a, b;
    static const struct f80 m12 = {3ull << 62, 0xc002}; /* -12 */
    __asm__ volatile("fninit; fldt %2; fabs; fxtract; fstpt %0; fstpt %1"
                     : "=m"(a), "=m"(b)
                     : "m"(m12));
    CHECK(f80_is(a, 3ull << 62, 0x3fff) && f80_is(b, 3ull << 62, 0x4000), "fxtract_12");
    __asm__ volatile("fninit; fldt %1; fldt %2; fscale; fstpt %0; fstp %%st(0)"
                     : "=m"(a)
                     : "m"(k_three), "m"(m12));
    CHECK(f80_is(a, 3ull << 62, 0xc005), "fscale_minus12_by_3");
    static const double two_and_half = 2.5, minus_1_5 = -1.5;
    double rn[2];
    __asm__ volatile("fninit; fldl %2; frndint; fstpl %0; fldl %3; fchs; frndint; fstpl %1"
                     : "=m"(rn[0]), "=m"(rn[1])
                     : "m"(two_and_half), "m"(minus_1_5));
    CHECK(rn[0] == 2.0 && rn[1] == 2.0, "frndint_nearest_even");
}

/* ------------------------------------------------- integers and BCD */

static void test_integers(void)
{
    /* FISTP under each rounding control (SDM FIST/FISTP; 4.8.4) */
    static const double vals[] = {2.5, -2.5, 3.5, 1.4, -1.6, -0.5};
    static const int32_t want[4][6] = {
        {2, -2, 4, 1, -2, 0},  /* nearest even */
        {2, -3, 3, 1, -2, -1}, /* down */
        {3, -2, 4, 2, -1, 0},  /* up */
        {2, -2, 3, 1, -1, 0},  /* toward zero */
    };
    for (int rc = 0; rc < 4; rc++)
        for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
            int32_t r;
            uint16_t cw = (uint16_t)(0x037f | rc << 10);
            __asm__ volatile("fninit; fldcw %2; fldl %1; fistpl %0"
                             : "=m"(r)
                             : "m"(vals[i]), "m"(cw));
            CHECK_EQ((uint32_t)r, (uint32_t)want[rc][i], "fistp_rc%d_%u", rc, i);
        }
    /* FISTTP truncates regardless of RC (SSE3) */
    int16_t t16;
    int64_t t64;
    static const double m27 = -2.7;
    __asm__ volatile("fninit; fldcw %3; fldl %2; fld %%st(0); fisttps %0; fisttpll %1"
                     : "=m"(t16), "=m"(t64)
                     : "m"(m27), "m"((uint16_t){0x0b7f}));
    CHECK(t16 == -2 && t64 == -2, "fisttp_truncates");

    /* out of range: #IA, masked response = integer indefinite */
    static const double big = 40000.0, huge = 1e19;
    int16_t s16;
    int32_t s32;
    int64_t s64;
    uint16_t sw;
    __asm__ volatile("fninit; fldl %4; fistps %0; fldl %5; fistl %1; fistpll %2; fnstsw %3"
                     : "=m"(s16), "=m"(s32), "=m"(s64), "=m"(sw)
                     : "m"(big), "m"(huge));
    CHECK((uint16_t)s16 == 0x8000 && (uint32_t)s32 == 0x80000000u &&
              (uint64_t)s64 == 0x8000000000000000ull,
          "fist_integer_indefinite");
    CHECK(sw & SW_IE, "fist_out_of_range_ie (sw=%x)", sw);

    /* FILD of each width */
    static const int16_t m16 = -32768;
    static const int32_t m32 = 2147483647;
    static const int64_t m64 = -9223372036854775807ll - 1;
    struct f80 a, b, c;
    __asm__ volatile("fninit; filds %3; fildl %4; fildll %5; fstpt %2; fstpt %1; fstpt %0"
                     : "=m"(a), "=m"(b), "=m"(c)
                     : "m"(m16), "m"(m32), "m"(m64));
    CHECK(f80_is(a, 1ull << 63, 0xc00e) && f80_is(b, 0xfffffffe00000000ull, 0x401d) &&
              f80_is(c, 1ull << 63, 0xc03e),
          "fild_widths");

    /* FBLD/FBSTP (SDM FBLD, FBSTP): 18 digits, sign in bit 79 */
    static const uint8_t packed[10] = {0x89, 0x67, 0x45, 0x23, 0x01, 0x89, 0x67, 0x45, 0x23, 0x80};
    uint8_t back[10];
    int64_t asint;
    __asm__ volatile("fninit; fbld %2; fld %%st(0); fbstp %0; fistpll %1"
                     : "=m"(back), "=m"(asint)
                     : "m"(packed));
    CHECK(!memcmp(back, packed, 10), "fbld_fbstp_round_trip");
    CHECK_EQ((uint64_t)asint, (uint64_t)-234567890123456789ll, "fbld_value");
    static const double tooBig = 1e18, half = 2.5;
    uint8_t ind[10], rounded[10];
    __asm__ volatile("fninit; fldl %3; fbstp %0; fldl %4; fbstp %1; fnstsw %2"
                     : "=m"(ind), "=m"(rounded), "=m"(sw)
                     : "m"(tooBig), "m"(half));
    static const uint8_t bcd_indef[10] = {0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff};
    static const uint8_t bcd_two[10] = {2};
    CHECK(!memcmp(ind, bcd_indef, 10) && (sw & SW_IE), "fbstp_overflow_indefinite");
    CHECK(!memcmp(rounded, bcd_two, 10), "fbstp_rounds_per_rc");
}

/* ----------------------------------------------------- comparisons */

static const struct f80 k_qnan = {3ull << 62, 0x7fff};

static uint16_t fcom_cc(struct f80 a, struct f80 b, bool unordered_form)
{
    uint16_t sw;
    if (unordered_form)
        __asm__ volatile("fninit; fldt %2; fldt %1; fucompp; fnstsw %0"
                         : "=m"(sw)
                         : "m"(a), "m"(b));
    else
        __asm__ volatile("fninit; fldt %2; fldt %1; fcompp; fnstsw %0" : "=m"(sw) : "m"(a), "m"(b));
    return sw;
}

static uint64_t fcomi_flags(struct f80 a, struct f80 b, bool unordered_form, uint16_t *sw)
{
    uint64_t f;
    if (unordered_form)
        __asm__ volatile("fninit; fldt %3; fldt %2; fucomip %%st(1), %%st; fstp %%st(0); "
                         "pushfq; pop %0; fnstsw %1"
                         : "=r"(f), "=m"(*sw)
                         : "m"(a), "m"(b)
                         : "cc");
    else
        __asm__ volatile("fninit; fldt %3; fldt %2; fcomip %%st(1), %%st; fstp %%st(0); "
                         "pushfq; pop %0; fnstsw %1"
                         : "=r"(f), "=m"(*sw)
                         : "m"(a), "m"(b)
                         : "cc");
    return f;
}

static void test_compare(void)
{
    /* FCOM: C3 C2 C0 = 000 >, 001 <, 100 =, 111 unordered (SDM FCOM) */
    uint16_t sw = fcom_cc(k_three, k_one, false);
    CHECK_EQ(sw & (SW_C3 | SW_C2 | SW_C0 | SW_IE), 0, "fcom_greater");
    sw = fcom_cc(k_one, k_three, false);
    CHECK_EQ(sw & (SW_C3 | SW_C2 | SW_C0 | SW_IE), SW_C0, "fcom_less");
    sw = fcom_cc(k_one, k_one, false);
    CHECK_EQ(sw & (SW_C3 | SW_C2 | SW_C0 | SW_IE), SW_C3, "fcom_equal");
    CHECK_EQ(TOP(sw), 0, "fcompp_pops_twice");
    sw = fcom_cc(k_one, k_qnan, false);
    CHECK_EQ(sw & (SW_C3 | SW_C2 | SW_C0 | SW_IE), SW_C3 | SW_C2 | SW_C0 | SW_IE,
             "fcom_qnan_unordered_ie");
    sw = fcom_cc(k_one, k_qnan, true);
    CHECK_EQ(sw & (SW_C3 | SW_C2 | SW_C0 | SW_IE), SW_C3 | SW_C2 | SW_C0,
             "fucom_qnan_unordered_no_ie");
    /* +0 == -0 */
    static const struct f80 pz = {0, 0}, nz = {0, 0x8000};
    sw = fcom_cc(pz, nz, false);
    CHECK_EQ(sw & (SW_C3 | SW_C2 | SW_C0), SW_C3, "fcom_zero_signs_equal");

    /* FTST */
    __asm__ volatile("fninit; fldt %1; ftst; fnstsw %0; fstp %%st(0)"
                     : "=m"(sw)
                     : "m"(k_minus_one));
    CHECK_EQ(sw & (SW_C3 | SW_C2 | SW_C0), SW_C0, "ftst_negative");

    /* FICOM m16int */
    static const int16_t three16 = 3;
    __asm__ volatile("fninit; fldt %1; ficoms %2; fnstsw %0; fstp %%st(0)"
                     : "=m"(sw)
                     : "m"(k_three), "m"(three16));
    CHECK_EQ(sw & (SW_C3 | SW_C2 | SW_C0), SW_C3, "ficom_equal");

    /* FCOMI/FUCOMI: ZF PF CF as C3 C2 C0; OF SF AF cleared (SDM FCOMI) */
    uint64_t f = fcomi_flags(k_three, k_one, false, &sw);
    CHECK_EQ(f & RFLAGS_ARITH, 0, "fcomi_greater");
    f = fcomi_flags(k_one, k_three, false, &sw);
    CHECK_EQ(f & RFLAGS_ARITH, RFLAGS_CF, "fcomi_less");
    f = fcomi_flags(k_one, k_one, false, &sw);
    CHECK_EQ(f & RFLAGS_ARITH, RFLAGS_ZF, "fcomi_equal");
    CHECK_EQ(TOP(sw), 0, "fcomip_pops");
    f = fcomi_flags(k_one, k_qnan, false, &sw);
    CHECK_EQ(f & RFLAGS_ARITH, RFLAGS_ZF | RFLAGS_PF | RFLAGS_CF, "fcomi_unordered");
    CHECK(sw & SW_IE, "fcomi_qnan_ie");
    f = fcomi_flags(k_one, k_qnan, true, &sw);
    CHECK_EQ(f & RFLAGS_ARITH, RFLAGS_ZF | RFLAGS_PF | RFLAGS_CF, "fucomi_unordered");
    CHECK(!(sw & SW_IE), "fucomi_qnan_no_ie");

    /* FCMOVcc reads EFLAGS */
    double r1, r2;
    static const double d1 = 1.0, d2 = 2.0;
    __asm__ volatile("fninit; fldl %2; fldl %3; stc; fcmovb %%st(1), %%st; fstpl %0; fstp %%st(0);"
                     "fldl %2; fldl %3; stc; fcmovnb %%st(1), %%st; fstpl %1; fstp %%st(0)"
                     : "=m"(r1), "=m"(r2)
                     : "m"(d1), "m"(d2)
                     : "cc");
    CHECK(r1 == 1.0 && r2 == 2.0, "fcmovb_fcmovnb");
    __asm__ volatile("fninit; fldl %2; fldl %3; xor %%eax, %%eax; fcmove %%st(1), %%st; fstpl %0;"
                     "fstp %%st(0); fldl %2; fldl %3; cmp $1, %%eax; fcmovbe %%st(1), %%st; "
                     "fstpl %1; fstp %%st(0)"
                     : "=m"(r1), "=m"(r2)
                     : "m"(d1), "m"(d2)
                     : "cc", "eax");
    CHECK(r1 == 1.0 && r2 == 1.0, "fcmove_fcmovbe");

    /* FXAM classes (SDM FXAM): C3 C2 C0 and C1 = sign */
    static const struct {
        struct f80 v;
        uint16_t cc;
        const char *name;
    } xam[] = {
        {{0, 0}, SW_C3, "zero"},
        {{0, 0x8000}, SW_C3 | SW_C1, "minus_zero"},
        {{1ull << 63, 0x3fff}, SW_C2, "normal"},
        {{1ull << 63, 0xbfff}, SW_C2 | SW_C1, "minus_normal"},
        {{1, 0}, SW_C3 | SW_C2, "denormal"},
        {{1ull << 63, 0x7fff}, SW_C2 | SW_C0, "infinity"},
        {{3ull << 62, 0xffff}, SW_C0 | SW_C1, "nan"},
        {{1ull << 62, 0x3fff}, 0, "unnormal_unsupported"},
    };
    for (unsigned i = 0; i < ARRAY_SIZE(xam); i++) {
        __asm__ volatile("fninit; fldt %1; fxam; fnstsw %0; fstp %%st(0)"
                         : "=m"(sw)
                         : "m"(xam[i].v));
        CHECK_EQ(sw & SW_CC, xam[i].cc, "fxam_%s", xam[i].name);
    }
    __asm__ volatile("fninit; fxam; fnstsw %0" : "=m"(sw));
    CHECK_EQ(sw & (SW_C3 | SW_C2 | SW_C0), SW_C3 | SW_C0, "fxam_empty");
}

/* ----------------------------------------- stack, tags, pointers, images */

static uint8_t save_a[108], save_b[108];

static void test_stack(void)
{
    uint16_t sw;
    struct f80 r;
    if (on_qemu()) {
        SKIP("QEMU TCG does not detect x87 stack faults", "stack_overflow");
        SKIP("QEMU TCG does not detect x87 stack faults", "stack_underflow");
    } else {
        /* overflow: IE, SF, C1 = 1; masked response: QNaN indefinite pushed
         * over the old register (SDM 8.5.1.1) */
        __asm__ volatile("fninit; fld1; fld1; fld1; fld1; fld1; fld1; fld1; fld1; fldz; fnstsw "
                         "%0; fstpt %1; fninit"
                         : "=m"(sw), "=m"(r));
        CHECK((sw & (SW_IE | SW_SF | SW_C1)) == (SW_IE | SW_SF | SW_C1) &&
                  f80_is(r, 3ull << 62, 0xffff) && TOP(sw) == 7,
              "stack_overflow (sw=%x)", sw);
        /* underflow: IE, SF, C1 = 0 */
        __asm__ volatile("fninit; fld1; fadd %%st(1), %%st; fnstsw %0; fstpt %1; fninit"
                         : "=m"(sw), "=m"(r));
        CHECK((sw & (SW_IE | SW_SF | SW_C1)) == (SW_IE | SW_SF) && f80_is(r, 3ull << 62, 0xffff),
              "stack_underflow (sw=%x)", sw);
    }
    /* FFREE, FINCSTP, FDECSTP move TOP/tags only */
    uint32_t env[7];
    __asm__ volatile("fninit; fld1; fldz; ffree %%st(1); fincstp; fnstenv %0; fninit" : "=m"(env));
    CHECK(TOP(env[1]) == 7 && (env[2] & 0xffff) == 0xdfff, "ffree_fincstp (sw=%x tw=%x)", env[1],
          env[2]);
    __asm__ volatile("fninit; fld1; fdecstp; fnstenv %0; fninit" : "=m"(env));
    CHECK(TOP(env[1]) == 6 && (env[2] & 0xffff) == 0x3fff, "fdecstp (sw=%x tw=%x)", env[1], env[2]);

    /* FNSAVE: 108-byte image, ST(0) first; then the FPU is initialized.
     * FRSTOR brings everything back: a second FNSAVE gives the same image. */
    static const struct f80 pi_m = {0xc90fdaa22168c235ull, 0x4000};
    uint16_t cw_after, sw_after;
    __asm__ volatile("fninit; fldcw %4; fldt %2; fldz; fldt %3; fnsave %0; fnstcw %1"
                     : "=m"(save_a), "=m"(cw_after)
                     : "m"(k_three), "m"(pi_m), "m"((uint16_t){0x0a7e}));
    __asm__ volatile("fnstsw %0" : "=m"(sw_after));
    uint32_t w[7];
    memcpy(w, save_a, 28);
    CHECK_EQ(w[0] & 0xffff, 0x0a7e, "fnsave_fcw");
    CHECK_EQ(w[1] & 0xffff, 0x2800, "fnsave_fsw_top5");
    CHECK_EQ(w[2] & 0xffff, 0x13ff, "fnsave_tags"); /* R7 valid, R6 zero, R5 valid */
    struct f80 st0, st1, st2;
    memcpy(&st0, save_a + 28, 10);
    memcpy(&st1, save_a + 38, 10);
    memcpy(&st2, save_a + 48, 10);
    CHECK(f80_is(st0, pi_m.mant, pi_m.se) && f80_is(st1, 0, 0) && f80_is(st2, 3ull << 62, 0x4000),
          "fnsave_registers_stack_order");
    CHECK(cw_after == 0x037f && sw_after == 0, "fnsave_then_finit");
    __asm__ volatile("frstor %1; fnsave %0" : "=m"(save_b) : "m"(save_a));
    CHECK(!memcmp(save_a, save_b, 12) && !memcmp(save_a + 28, save_b + 28, 80),
          "frstor_fnsave_round_trip");
    if (on_qemu())
        SKIP("QEMU 7.2 does not keep FIP/FDP through FRSTOR", "frstor_pointers_round_trip");
    else
        CHECK(!memcmp(save_a + 12, save_b + 12, 16), "frstor_pointers_round_trip");
    /* FRSTOR with a value: arithmetic continues on the restored stack */
    double r3;
    __asm__ volatile("frstor %1; fstp %%st(0); fstp %%st(0); fstpl %0" : "=m"(r3) : "m"(save_a));
    CHECK(r3 == 3.0, "frstor_then_compute");
}

static void test_pointers(void)
{
    /* FIP/FOP: last non-control instruction; FDP/FDS: its memory operand;
     * control instructions (FNSTCW here) do not change them (SDM 8.1.8) */
    static double two = 2.0;
    uint32_t env[7];
    uint64_t ip;
    uint16_t cw;
    __asm__ volatile("fninit; lea 1f(%%rip), %1\n"
                     "1: fldl %3\n"
                     "fnstcw %2; fnstenv %0; fninit"
                     : "=m"(env), "=r"(ip), "=m"(cw)
                     : "m"(two));
    CHECK_EQ(env[3], (uint32_t)ip, "fnstenv_fip");
    CHECK_EQ(env[4] & 0xffff, read_cs(), "fnstenv_fcs");
    CHECK_SDM("QEMU 7.2 does not record FOP", ((env[4] >> 16) & 0x7ff) == 0x505, "fnstenv_fop (%x)",
              env[4] >> 16); /* DD 05: fld m64 [rip+disp] */
    CHECK_EQ(env[5], (uint32_t)(uint64_t)&two, "fnstenv_fdp");
    CHECK_EQ(env[6] & 0xffff, read_ds(), "fnstenv_fds");
}

/* ------------------------------------------- exceptions and #MF */

static void test_exceptions(void)
{
    uint16_t sw;
    /* masked zero divide: +inf, ZE */
    double r;
    static const double one = 1.0, zero = 0.0;
    __asm__ volatile("fninit; fldl %2; fdivl %3; fstpl %0; fnstsw %1"
                     : "=m"(r), "=m"(sw)
                     : "m"(one), "m"(zero));
    CHECK(r == __builtin_inf() && (sw & 0x3f) == SW_ZE, "masked_zero_divide_inf");
    /* masked invalid: 0/0 = QNaN indefinite */
    struct f80 q;
    __asm__ volatile("fninit; fldz; fldz; fdivrp; fstpt %0; fnstsw %1" : "=m"(q), "=m"(sw));
    CHECK(f80_is(q, 3ull << 62, 0xffff) && (sw & SW_IE), "masked_invalid_indefinite");
    /* overflow and underflow to double: OE|PE, UE|PE */
    static const struct f80 huge = {1ull << 63, 0x43ff}, tiny = {1ull << 63, 0x3bc7}; /* 2^-1080 */
    double o, u;
    uint16_t swo, swu;
    __asm__ volatile("fninit; fldt %4; fstpl %0; fnstsw %2; fninit; fldt %5; fstpl %1; fnstsw %3"
                     : "=m"(o), "=m"(u), "=m"(swo), "=m"(swu)
                     : "m"(huge), "m"(tiny));
    CHECK(o == __builtin_inf() && (swo & 0x3f) == (SW_OE | SW_PE), "store_overflow (sw=%x)", swo);
    CHECK(u == 0.0 && (swu & 0x3f) == (SW_UE | SW_PE), "store_underflow (sw=%x)", swu);
    /* a denormal operand: DE */
    static const double den = 4.9e-324;
    __asm__ volatile("fninit; fldl %1; fnstsw %0; fstp %%st(0)" : "=m"(sw) : "m"(den));
    if (on_qemu())
        SKIP("QEMU 7.2 softfloat does not report x87 denormal operands", "denormal_operand_de");
    else
        CHECK_EQ(sw & 0x3f, SW_DE, "denormal_operand_de");

    /* unmasked zero divide (SDM 8.7): the FDIV completes with ES and B set
     * and the destination unchanged; #MF (vector 16, no error code) at the
     * next waiting instruction, here FWAIT, whose address is reported;
     * FNSTSW before it does not trap. */
    static volatile uint64_t fwait_ip;
    static uint16_t sw_before;
    static struct f80 dst;
    static const uint16_t cw_zm = 0x037b;
    CHECK_EXC(__asm__ volatile(
                  "fninit; fldcw %3; fldl %2; fldz; .byte 0xdc, 0xf9; " /* FDIV ST(1),ST(0) */
                  "fnstsw %1; lea 1f(%%rip), %%rax; mov %%rax, %0\n"
                  "1: fwait"
                  : "=m"(fwait_ip), "=m"(sw_before)
                  : "m"(one), "m"(cw_zm)
                  : "rax", "memory"),
              MF_VECTOR, 0, "mf_unmasked_zero_divide");
    CHECK_EQ(exc_last.rip, fwait_ip, "mf_reported_at_fwait");
    CHECK_EQ(sw_before & (SW_B | SW_ES | 0x3f), SW_B | SW_ES | SW_ZE, "mf_pending_es_b");
    __asm__ volatile("fnstsw %0; fnclex; fstp %%st(0); fstpt %1; fninit" : "=m"(sw), "=m"(dst));
    CHECK_SDM("QEMU 7.2 writes the masked response also for unmasked exceptions",
              f80_is(dst, 1ull << 63, 0x3fff), "mf_destination_unchanged");
    CHECK_EQ(TOP(sw), 6, "mf_no_pop");

    /* the next x87 instruction (not only FWAIT) reports it; FNCLEX clears */
    if (on_qemu())
        SKIP("QEMU 7.2 reports pending x87 exceptions only at FWAIT", "mf_at_next_x87_instruction");
    else
        CHECK_EXC(
            __asm__ volatile("fninit; fldcw %0; fld1; fldz; .byte 0xde, 0xf9; fxch" ::"m"(cw_zm)),
            MF_VECTOR, 0, "mf_at_next_x87_instruction");
    CHECK_NO_EXC(__asm__ volatile("fnclex; fxch; fwait; fninit"), "fnclex_clears_pending");

    /* FLDCW unmasking an already set flag makes it pending */
    static const uint16_t cw_im = 0x037e;
    if (on_qemu())
        SKIP("QEMU 7.2 FLDCW does not make a set flag pending", "mf_after_fldcw_unmask");
    else
        CHECK_EXC(__asm__ volatile("fninit; fldz; fldz; .byte 0xde, 0xf9; fldcw %0; fnstsw %%ax; "
                                   "fwait" ::"m"(cw_im)
                                   : "ax"),
                  MF_VECTOR, 0, "mf_after_fldcw_unmask");
    __asm__ volatile("fninit");

    /* FNSTENV masks all exceptions afterwards */
    uint32_t env[7];
    uint16_t cw;
    __asm__ volatile("fninit; fldcw %2; fnstenv %0; fnstcw %1; fninit"
                     : "=m"(env), "=m"(cw)
                     : "m"(cw_zm));
    CHECK_EQ(env[0] & 0xffff, 0x037b, "fnstenv_stores_fcw");
    CHECK_SDM("QEMU 7.2 FNSTENV does not mask the exceptions", cw == 0x037f,
              "fnstenv_masks_all (after %x)", cw);

    /* unmasked overflow with a register destination: the result is
     * delivered with the exponent biased by -24576 (SDM 8.5.4) */
    {
        static const struct f80 big = {1ull << 63, 0x7000};
        static const uint16_t cw_om = 0x0377;
        static struct f80 res;
        static uint16_t sw_ovf;
        CHECK_NO_EXC(__asm__ volatile("fninit; fldcw %2; fldt %3; fmul %%st(0), %%st; fnstsw %1; "
                                      "fnclex; fstpt %0"
                                      : "=m"(res), "=m"(sw_ovf)
                                      : "m"(cw_om), "m"(big)),
                     "unmasked_overflow_no_fault_after_fnclex");
        CHECK_SDM("QEMU 7.2 delivers the masked response (PE, infinity)",
                  (sw_ovf & (SW_ES | 0x3f)) == (SW_ES | SW_OE), "unmasked_overflow_flags (sw=%x)",
                  sw_ovf);
        /* 2^12289 squared = 2^24578, delivered as 2^(24578 - 24576) */
        CHECK_SDM("QEMU 7.2 delivers the masked response (PE, infinity)",
                  f80_is(res, 1ull << 63, 0x4001), "unmasked_overflow_biased (%llx:%x)",
                  (unsigned long long)res.mant, res.se);
        __asm__ volatile("fninit");
    }
}

/* ------------------------------------------------ transcendentals */

static void test_transcendental(void)
{
    struct f80 a, b;
    uint16_t sw;
    __asm__ volatile("fninit; fldz; fptan; fnstsw %2; fstpt %0; fstpt %1"
                     : "=m"(a), "=m"(b), "=m"(sw));
    CHECK(f80_is(a, 1ull << 63, 0x3fff) && f80_is(b, 0, 0) && !(sw & SW_C2), "fptan_zero_pushes_1");
    __asm__ volatile("fninit; fld1; fld1; fpatan; fstpt %0" : "=m"(a));
    CHECK(f80_is(a, 0xc90fdaa22168c235ull, 0x3ffe), "fpatan_1_1_pi_over_4 (%llx:%x)",
          (unsigned long long)a.mant, a.se);
    __asm__ volatile("fninit; fldz; fsincos; fstpt %0; fstpt %1" : "=m"(a), "=m"(b));
    CHECK(f80_is(a, 1ull << 63, 0x3fff) && f80_is(b, 0, 0), "fsincos_zero");
    static const struct f80 eight = {1ull << 63, 0x4002};
    __asm__ volatile("fninit; fld1; fldt %1; fyl2x; fstpt %0" : "=m"(a) : "m"(eight));
    CHECK(f80_is(a, 3ull << 62, 0x4000), "fyl2x_log2_8");
    __asm__ volatile("fninit; fld1; f2xm1; fstpt %0" : "=m"(a));
    CHECK(f80_is(a, 1ull << 63, 0x3fff), "f2xm1_one");
    __asm__ volatile("fninit; fld1; fldz; fyl2xp1; fstpt %0" : "=m"(a));
    CHECK(f80_is(a, 0, 0), "fyl2xp1_zero");
    /* |x| >= 2^63: C2 = 1, operand unchanged (SDM FSIN) */
    static const struct f80 big = {1ull << 63, 0x403f};
    __asm__ volatile("fninit; fldt %2; fsin; fnstsw %1; fstpt %0" : "=m"(a), "=m"(sw) : "m"(big));
    CHECK((sw & SW_C2) && f80_is(a, big.mant, big.se), "fsin_out_of_range_c2");
    __asm__ volatile("fninit; fldt %1; fsin; fnstsw %0; fstp %%st(0)" : "=m"(sw) : "m"(k_one));
    CHECK(!(sw & SW_C2), "fsin_in_range (sw=%x)", sw);
    CHECK_SDM("QEMU 7.2 FSIN does not report precision", sw & SW_PE, "fsin_inexact_pe (sw=%x)", sw);

    /* FPREM/FPREM1: remainder and the low quotient bits in C0 C3 C1
     * (Q2 Q1 Q0, SDM FPREM) */
    static const double ten = 10.0, three = 3.0, eleven = 11.0;
    double rem;
    __asm__ volatile("fninit; fldl %3; fldl %2; fprem; fnstsw %1; fstpl %0; fstp %%st(0)"
                     : "=m"(rem), "=m"(sw)
                     : "m"(ten), "m"(three));
    CHECK(rem == 1.0 && (sw & (SW_C0 | SW_C3 | SW_C1 | SW_C2)) == (SW_C3 | SW_C1),
          "fprem_10_3 (sw=%x)", sw);
    __asm__ volatile("fninit; fldl %3; fldl %2; fprem1; fnstsw %1; fstpl %0; fstp %%st(0)"
                     : "=m"(rem), "=m"(sw)
                     : "m"(eleven), "m"(three));
    CHECK(rem == -1.0, "fprem1_11_3 (rem=%d)", (int)rem);
    CHECK_SDM("QEMU 7.2 FPREM1 reports wrong quotient bits",
              (sw & (SW_C0 | SW_C3 | SW_C1 | SW_C2)) == SW_C0, "fprem1_11_3_quotient_bits (sw=%x)",
              sw);
    /* a partial remainder: exponents 2^100 apart need more rounds: C2 = 1 */
    static const struct f80 e100 = {1ull << 63, 0x3fff + 100};
    __asm__ volatile("fninit; fldt %1; fldt %2; fprem; fnstsw %0; fninit"
                     : "=m"(sw)
                     : "m"(k_three), "m"(e100));
    CHECK(sw & SW_C2, "fprem_partial_c2");
}

/* --------------------------------------------- compiled long double */

static volatile long double lv_a = 1.0L, lv_b = 3.0L, lv_c = -7.75L;
static volatile int64_t lv_big = 9007199254740993ll; /* 2^53 + 1: exact in 80-bit only */

static void test_long_double(void)
{
    long double q = lv_a / lv_b;
    struct f80 r;
    memcpy(&r, (const void *)&q, 10);
    CHECK(f80_is(r, 0xaaaaaaaaaaaaaaabull, 0x3ffd), "long_double_divide");
    long double x = (long double)lv_big;
    CHECK((int64_t)x == lv_big, "long_double_int64_exact");
    CHECK((int64_t)(double)x != lv_big, "double_rounds_int64");
    /* C's conversion truncates whatever the rounding control */
    CHECK_EQ((uint64_t)(int64_t)lv_c, (uint64_t)-7ll, "long_double_to_int_truncates");
    long double s = 0;
    for (int i = 1; i <= 10; i++)
        s += lv_a / (long double)i;
    CHECK(s > 2.928968L && s < 2.928969L, "long_double_harmonic_10");
    CHECK(lv_c < lv_a && !(lv_a < lv_c) && lv_a != lv_b, "long_double_compare");
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    test_arith();
    test_integers();
    test_compare();
    test_stack();
    test_pointers();
    test_exceptions();
    test_transcendental();
    test_long_double();
    __asm__ volatile("fninit");
}
