/* MUL, IMUL (one-, two- and three-operand forms, imm8 and imm32), DIV and
 * IDIV at 8/16/32/64 bits, including #DE for a zero divisor and for a
 * quotient that does not fit (SDM Vol. 2A "DIV"/"IDIV": #DE "if the quotient
 * is too large for the designated register"), and CF/OF of the multiplies
 * (SF ZF AF PF are undefined after MUL/IMUL and not compared). */
#include "guest.h"

static const uint64_t vals[] = {0,
                                1,
                                2,
                                3,
                                7,
                                0x7f,
                                0x80,
                                0xff,
                                0x7fff,
                                0x8000,
                                0xffff,
                                0x10001,
                                0x7fffffff,
                                0x80000000,
                                0xffffffff,
                                0x100000000ull,
                                0x7fffffffffffffffull,
                                0x8000000000000000ull,
                                0xffffffffffffffffull,
                                0x123456789abcdef0ull,
                                0xfffffffffffffff9ull};

static int64_t sext(uint64_t v, int bits)
{
    return bits == 64 ? (int64_t)v : (int64_t)(v << (64 - bits)) >> (64 - bits);
}

static uint64_t mask_of(int bits)
{
    return bits == 64 ? ~0ull : (1ull << bits) - 1;
}

/* One-operand MUL/IMUL: returns low, *hi = high half, *f = flags. */
static uint64_t mul1(int bits, bool sgn, uint64_t a, uint64_t b, uint64_t *hi, uint64_t *f)
{
    uint64_t lo = 0, h = 0, fl;
    switch (bits) {
    case 8: {
        uint64_t ax = a & 0xff;
        uint8_t s = b;
        if (sgn)
            __asm__("imulb %2; pushfq; pop %1" : "+a"(ax), "=r"(fl) : "q"(s) : "cc");
        else
            __asm__("mulb %2; pushfq; pop %1" : "+a"(ax), "=r"(fl) : "q"(s) : "cc");
        lo = ax & 0xff;
        h = (ax >> 8) & 0xff;
        break;
    }
    case 16: {
        uint16_t ax = a, dx = 0, s = b;
        if (sgn)
            __asm__("imulw %3; pushfq; pop %2" : "+a"(ax), "=d"(dx), "=r"(fl) : "r"(s) : "cc");
        else
            __asm__("mulw %3; pushfq; pop %2" : "+a"(ax), "=d"(dx), "=r"(fl) : "r"(s) : "cc");
        lo = ax;
        h = dx;
        break;
    }
    case 32: {
        uint32_t ax = a, dx = 0, s = b;
        if (sgn)
            __asm__("imull %3; pushfq; pop %2" : "+a"(ax), "=d"(dx), "=r"(fl) : "r"(s) : "cc");
        else
            __asm__("mull %3; pushfq; pop %2" : "+a"(ax), "=d"(dx), "=r"(fl) : "r"(s) : "cc");
        lo = ax;
        h = dx;
        break;
    }
    default: {
        uint64_t ax = a, dx = 0, s = b;
        if (sgn)
            __asm__("imulq %3; pushfq; pop %2" : "+a"(ax), "=d"(dx), "=r"(fl) : "r"(s) : "cc");
        else
            __asm__("mulq %3; pushfq; pop %2" : "+a"(ax), "=d"(dx), "=r"(fl) : "r"(s) : "cc");
        lo = ax;
        h = dx;
        break;
    }
    }
    *hi = h;
    *f = fl;
    return lo;
}

static void test_mul(void)
{
    static const int sizes[] = {8, 16, 32, 64};
    for (unsigned si = 0; si < 4; si++) {
        int bits = sizes[si];
        uint64_t m = mask_of(bits);
        for (int sgn = 0; sgn < 2; sgn++) {
            unsigned bad = 0, n = 0;
            for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
                for (unsigned j = 0; j < ARRAY_SIZE(vals); j++) {
                    uint64_t a = vals[i] & m, b = vals[j] & m, hi, f;
                    uint64_t lo = mul1(bits, sgn, a, b, &hi, &f);
                    uint64_t elo, ehi;
                    bool ovf;
                    if (sgn) {
                        __int128 p = (__int128)sext(a, bits) * sext(b, bits);
                        elo = (uint64_t)p & m;
                        ehi = (uint64_t)(p >> bits) & m;
                        ovf = p != sext(elo, bits);
                    } else {
                        unsigned __int128 p = (unsigned __int128)a * b;
                        elo = (uint64_t)p & m;
                        ehi = (uint64_t)(p >> bits) & m;
                        ovf = ehi != 0;
                    }
                    n++;
                    bool ok = lo == elo && hi == ehi && !!(f & RFLAGS_CF) == ovf &&
                              !!(f & RFLAGS_OF) == ovf;
                    if (!ok && bad++ < 3)
                        gprintf("  %smul%d 0x%lx*0x%lx: got %lx:%lx f=%lx want %lx:%lx ovf=%d\n",
                                sgn ? "i" : "", bits, a, b, hi, lo, f, ehi, elo, ovf);
                }
            }
            CHECK(bad == 0, "%s%d_one_operand (%u cases)", sgn ? "imul" : "mul", bits, n);
        }
    }

    /* Two- and three-operand IMUL: truncated product, CF=OF=1 iff the
     * truncation lost significant bits. */
    unsigned bad = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
        for (unsigned j = 0; j < ARRAY_SIZE(vals); j++) {
            uint64_t a = vals[i], b = vals[j], f;
            uint64_t r64 = a;
            __asm__("imulq %2, %0; pushfq; pop %1" : "+r"(r64), "=r"(f) : "r"(b) : "cc");
            __int128 p = (__int128)(int64_t)a * (int64_t)b;
            bool ovf = p != (int64_t)(uint64_t)p;
            bool ok = r64 == (uint64_t)p && !!(f & RFLAGS_CF) == ovf && !!(f & RFLAGS_OF) == ovf;
            uint32_t r32 = a;
            __asm__("imull %2, %0; pushfq; pop %1" : "+r"(r32), "=r"(f) : "r"((uint32_t)b) : "cc");
            int64_t p32 = (int64_t)(int32_t)a * (int32_t)b;
            ovf = p32 != (int32_t)p32;
            ok &= r32 == (uint32_t)p32 && !!(f & RFLAGS_CF) == ovf && !!(f & RFLAGS_OF) == ovf;
            uint16_t r16 = a;
            __asm__("imulw %2, %0; pushfq; pop %1" : "+r"(r16), "=r"(f) : "r"((uint16_t)b) : "cc");
            int32_t p16 = (int32_t)(int16_t)a * (int16_t)b;
            ovf = p16 != (int16_t)p16;
            ok &= r16 == (uint16_t)p16 && !!(f & RFLAGS_CF) == ovf && !!(f & RFLAGS_OF) == ovf;
            if (!ok && bad++ < 3)
                gprintf("  imul2 a=0x%lx b=0x%lx\n", a, b);
        }
    }
    CHECK(bad == 0, "imul_two_operand");

    bad = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
        uint64_t a = vals[i], r, f;
        __asm__("imulq $-3, %2, %0; pushfq; pop %1" : "=r"(r), "=r"(f) : "r"(a) : "cc");
        __int128 p = (__int128)(int64_t)a * -3;
        bool ovf = p != (int64_t)(uint64_t)p;
        bool ok = r == (uint64_t)p && !!(f & RFLAGS_CF) == ovf && !!(f & RFLAGS_OF) == ovf;
        __asm__("imulq $0x12345678, %2, %0; pushfq; pop %1" : "=r"(r), "=r"(f) : "r"(a) : "cc");
        p = (__int128)(int64_t)a * 0x12345678;
        ovf = p != (int64_t)(uint64_t)p;
        ok &= r == (uint64_t)p && !!(f & RFLAGS_CF) == ovf && !!(f & RFLAGS_OF) == ovf;
        uint16_t r16;
        __asm__("imulw $300, %2, %0; pushfq; pop %1"
                : "=r"(r16), "=r"(f)
                : "r"((uint16_t)a)
                : "cc");
        int32_t p16 = (int32_t)(int16_t)a * 300;
        ovf = p16 != (int16_t)p16;
        ok &= r16 == (uint16_t)p16 && !!(f & RFLAGS_CF) == ovf;
        static volatile uint32_t mem32;
        mem32 = (uint32_t)a;
        uint32_t r32;
        __asm__("imull $-7, %2, %0; pushfq; pop %1" : "=r"(r32), "=r"(f) : "m"(mem32) : "cc");
        int64_t p32 = (int64_t)(int32_t)a * -7;
        ovf = p32 != (int32_t)p32;
        ok &= r32 == (uint32_t)p32 && !!(f & RFLAGS_OF) == ovf;
        if (!ok && bad++ < 3)
            gprintf("  imul3 a=0x%lx\n", a);
    }
    CHECK(bad == 0, "imul_three_operand_imm8_imm32_mem");
}

/* DIV/IDIV: returns the vector (-1 none); quotient/remainder out. */
static volatile uint64_t dq, dr;
static int div_run(int bits, bool sgn, uint64_t hi, uint64_t lo, uint64_t d)
{
    return EXPECT_EXC({
        uint64_t a = lo, dd = hi;
        switch (bits) {
        case 8: {
            a = ((hi & 0xff) << 8) | (lo & 0xff);
            uint8_t s = d;
            if (sgn)
                __asm__ volatile("idivb %1" : "+a"(a) : "q"(s) : "cc");
            else
                __asm__ volatile("divb %1" : "+a"(a) : "q"(s) : "cc");
            dq = a & 0xff;
            dr = (a >> 8) & 0xff;
            break;
        }
        case 16: {
            uint16_t s = d, ax = lo, dx = hi;
            if (sgn)
                __asm__ volatile("idivw %2" : "+a"(ax), "+d"(dx) : "r"(s) : "cc");
            else
                __asm__ volatile("divw %2" : "+a"(ax), "+d"(dx) : "r"(s) : "cc");
            dq = ax;
            dr = dx;
            break;
        }
        case 32: {
            uint32_t s = d, ax = lo, dx = hi;
            if (sgn)
                __asm__ volatile("idivl %2" : "+a"(ax), "+d"(dx) : "r"(s) : "cc");
            else
                __asm__ volatile("divl %2" : "+a"(ax), "+d"(dx) : "r"(s) : "cc");
            dq = ax;
            dr = dx;
            break;
        }
        default:
            if (sgn)
                __asm__ volatile("idivq %2" : "+a"(a), "+d"(dd) : "r"(d) : "cc");
            else
                __asm__ volatile("divq %2" : "+a"(a), "+d"(dd) : "r"(d) : "cc");
            dq = a;
            dr = dd;
            break;
        }
    });
}

static void test_div(void)
{
    static const int sizes[] = {8, 16, 32, 64};
    for (unsigned si = 0; si < 4; si++) {
        int bits = sizes[si];
        uint64_t m = mask_of(bits);
        for (int sgn = 0; sgn < 2; sgn++) {
            unsigned bad = 0, n = 0, de = 0;
            for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
                for (unsigned j = 0; j < ARRAY_SIZE(vals); j++) {
                    for (int hsel = 0; hsel < 3; hsel++) {
                        uint64_t lo = vals[i] & m, d = vals[j] & m;
                        /* High half: zero, sign extension of lo, or small. */
                        uint64_t hi = hsel == 0   ? 0
                                      : hsel == 1 ? ((sext(lo, bits) < 0) ? m : 0)
                                                  : 1;
                        bool exp_de;
                        uint64_t eq = 0, er = 0;
                        if (d == 0) {
                            exp_de = true;
                        } else if (!sgn) {
                            unsigned __int128 nn = ((unsigned __int128)hi << bits) | lo;
                            unsigned __int128 q = nn / d;
                            exp_de = q > m;
                            eq = (uint64_t)q;
                            er = (uint64_t)(nn % d);
                        } else {
                            __int128 nn;
                            if (bits == 64)
                                nn = (__int128)(((unsigned __int128)hi << 64) | lo);
                            else
                                nn = sext(((hi & m) << bits) | lo, 2 * bits);
                            __int128 dd = sext(d, bits);
                            __int128 q = nn / dd, r = nn % dd;
                            __int128 qmax = ((__int128)1 << (bits - 1)) - 1;
                            exp_de = q > qmax || q < -qmax - 1;
                            eq = (uint64_t)q & m;
                            er = (uint64_t)r & m;
                        }
                        int v = div_run(bits, sgn, hi, lo, d);
                        n++;
                        de += v == DE_VECTOR;
                        bool ok =
                            exp_de ? v == DE_VECTOR : (v == -1 && (dq & m) == eq && (dr & m) == er);
                        if (!ok && bad++ < 3)
                            gprintf("  %sdiv%d %lx:%lx / %lx: vec %d q=%lx r=%lx want de=%d q=%lx "
                                    "r=%lx\n",
                                    sgn ? "i" : "", bits, hi, lo, d, v, dq & m, dr & m, exp_de, eq,
                                    er);
                    }
                }
            }
            CHECK(bad == 0, "%s%d (%u cases, %u #DE)", sgn ? "idiv" : "div", bits, n, de);
        }
    }
    /* The classic overflow: INT_MIN / -1. */
    CHECK_EQ(div_run(64, true, ~0ull, 0x8000000000000000ull, ~0ull), DE_VECTOR,
             "idiv64_intmin_by_minus1_de");
    CHECK_EQ(div_run(8, true, 0xff, 0x80, 0xff), DE_VECTOR, "idiv8_minus128_by_minus1_de");
    CHECK_EQ(div_run(32, false, 5, 0, 0), DE_VECTOR, "div32_by_zero_de");
    /* #DE is a fault: RIP points at the DIV, so the handler sees its address
     * (SDM 6.15 "Interrupt 0"). */
    static volatile uint64_t fault_rip;
    int v = EXPECT_EXC({
        __asm__ volatile("lea 1f(%%rip), %%rax; mov %%rax, %0; xor %%ecx, %%ecx; 1: divl %%ecx"
                         : "=m"(fault_rip)::"rax", "rcx", "rdx", "cc");
    });
    CHECK(v == DE_VECTOR && exc_last.rip == fault_rip, "de_is_fault_rip_at_div");
}

void guest_main(struct multiboot_info *mbi)
{
    test_mul();
    test_div();
}
