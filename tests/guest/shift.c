/* Shifts and rotates: SHL SHR SAR ROL ROR RCL RCR (count in CL, imm8 and the
 * 1-bit form) and SHLD SHRD, at 8/16/32/64 bits, counts 0, 1, in range, equal
 * to and above the width (masked to 5 bits, 6 for 64-bit). Flags are
 * compared only where the SDM defines them (Vol. 2B "SAL/SAR/SHL/SHR",
 * "RCL/RCR/ROL/ROR", "SHLD", "SHRD": OF only for 1-bit counts, AF never, CF
 * of SHL/SHR undefined for counts >= width; a masked count of 0 changes no
 * flags; SHLD/SHRD with count > width is undefined entirely). */
#include "guest.h"

enum op { SHL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD, NR_OPS };
static const char *const op_names[] = {"shl", "shr", "sar",  "rol", "ror",
                                       "rcl", "rcr", "shld", "shrd"};

static const uint64_t vals[] = {0,
                                1,
                                0x80,
                                0x81,
                                0xff,
                                0x8000,
                                0x7fff,
                                0x80000000,
                                0x80000001,
                                0xffffffff,
                                0x8000000000000000ull,
                                0xffffffffffffffffull,
                                0x123456789abcdef0ull,
                                0x5a5a5a5a5a5a5a5aull,
                                0x4000000000000000ull};
static const uint8_t counts[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65, 255};

static uint64_t mask_of(unsigned bits)
{
    return bits == 64 ? ~0ull : (1ull << bits) - 1;
}

static uint64_t szp(uint64_t r, unsigned bits)
{
    uint64_t f = 0;
    if (!(r & mask_of(bits)))
        f |= RFLAGS_ZF;
    if ((r >> (bits - 1)) & 1)
        f |= RFLAGS_SF;
    if (!(__builtin_popcountll(r & 0xff) & 1))
        f |= RFLAGS_PF;
    return f;
}

/* Returns the result; *f = expected flags; *def = defined flag mask;
 * *res_def = whether the result is defined. */
static uint64_t ref(enum op op, unsigned bits, uint64_t a, uint64_t b, unsigned cnt, uint64_t fin,
                    uint64_t *f, uint64_t *def, bool *res_def)
{
    uint64_t m = mask_of(bits), sign = 1ull << (bits - 1);
    unsigned c = cnt & (bits == 64 ? 63 : 31);
    uint64_t cf = fin & RFLAGS_CF;
    a &= m;
    b &= m;
    *f = fin & RFLAGS_ARITH;
    *def = RFLAGS_ARITH;
    *res_def = true;
    if (c == 0)
        return a; /* no flags affected */
    uint64_t r = a;
    uint64_t fl = 0;
    switch (op) {
    case SHL:
        r = c >= bits ? 0 : (a << c) & m;
        cf = c > bits ? 0 : (a >> (bits - c)) & 1;
        fl = szp(r, bits) | (cf ? RFLAGS_CF : 0);
        if (c == 1 && (((r & sign) != 0) ^ (cf != 0)))
            fl |= RFLAGS_OF;
        *def &= ~RFLAGS_AF;
        if (c != 1)
            *def &= ~RFLAGS_OF;
        if (c >= bits)
            *def &= ~RFLAGS_CF;
        break;
    case SHR:
        r = c >= bits ? 0 : a >> c;
        cf = c > bits ? 0 : (a >> (c - 1)) & 1;
        fl = szp(r, bits) | (cf ? RFLAGS_CF : 0);
        if (c == 1 && (a & sign))
            fl |= RFLAGS_OF;
        *def &= ~RFLAGS_AF;
        if (c != 1)
            *def &= ~RFLAGS_OF;
        if (c >= bits)
            *def &= ~RFLAGS_CF;
        break;
    case SAR: {
        int64_t sa = (int64_t)(a << (64 - bits)) >> (64 - bits);
        unsigned cc = c >= bits ? bits - 1 : c;
        r = (uint64_t)(sa >> cc) & m;
        cf = (uint64_t)(sa >> (c >= bits ? bits - 1 : c - 1)) & 1;
        fl = szp(r, bits) | (cf ? RFLAGS_CF : 0); /* OF=0 for 1-bit SAR */
        *def &= ~RFLAGS_AF;
        if (c != 1)
            *def &= ~RFLAGS_OF;
        break;
    }
    case ROL:
    case ROR: {
        unsigned t = c % bits;
        if (op == ROL) {
            r = t ? ((a << t) | (a >> (bits - t))) & m : a;
            cf = r & 1;
            fl = (fin & (RFLAGS_ARITH & ~(RFLAGS_CF | RFLAGS_OF))) | (cf ? RFLAGS_CF : 0);
            if (((r & sign) != 0) ^ (cf != 0))
                fl |= RFLAGS_OF;
        } else {
            r = t ? ((a >> t) | (a << (bits - t))) & m : a;
            cf = (r >> (bits - 1)) & 1;
            fl = (fin & (RFLAGS_ARITH & ~(RFLAGS_CF | RFLAGS_OF))) | (cf ? RFLAGS_CF : 0);
            if (((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1)
                fl |= RFLAGS_OF;
        }
        if (c != 1)
            *def &= ~RFLAGS_OF;
        break;
    }
    case RCL:
    case RCR: {
        unsigned t = bits == 8 ? c % 9 : bits == 16 ? c % 17 : c;
        if (op == RCR && c == 1 && (((a & sign) != 0) ^ (cf != 0)))
            fl |= RFLAGS_OF; /* computed before the rotate */
        for (unsigned i = 0; i < t; i++) {
            if (op == RCL) {
                uint64_t out = (r >> (bits - 1)) & 1;
                r = ((r << 1) | cf) & m;
                cf = out;
            } else {
                uint64_t out = r & 1;
                r = (r >> 1) | (cf << (bits - 1));
                cf = out;
            }
        }
        if (op == RCL && c == 1 && (((r & sign) != 0) ^ (cf != 0)))
            fl |= RFLAGS_OF;
        fl |= (fin & (RFLAGS_ARITH & ~(RFLAGS_CF | RFLAGS_OF))) | (cf ? RFLAGS_CF : 0);
        if (c != 1)
            *def &= ~RFLAGS_OF;
        break;
    }
    case SHLD:
    case SHRD:
        if (c > bits) {
            *res_def = false;
            *def = 0;
            return 0;
        }
        if (op == SHLD) {
            r = c == bits ? b : ((a << c) | (b >> (bits - c))) & m;
            cf = (a >> (bits - c)) & 1;
        } else {
            r = c == bits ? b : ((a >> c) | (b << (bits - c))) & m;
            cf = (a >> (c - 1)) & 1;
        }
        fl = szp(r, bits) | (cf ? RFLAGS_CF : 0);
        if (c == 1 && ((r ^ a) & sign))
            fl |= RFLAGS_OF;
        *def &= ~RFLAGS_AF;
        if (c != 1)
            *def &= ~RFLAGS_OF;
        break;
    default:
        break;
    }
    *f = fl;
    return r;
}

#define SH_CL(insn, d, cnt, fin, fo)                                                               \
    __asm__ volatile("push %[fi]; popfq; " insn " %%cl, %[dv]; pushfq; pop %[fo]"                  \
                     : [dv] "+r"(d), [fo] "=&r"(fo)                                                \
                     : "c"(cnt), [fi] "r"(fin)                                                     \
                     : "cc")
#define SHD_CL(insn, d, s, cnt, fin, fo)                                                           \
    __asm__ volatile("push %[fi]; popfq; " insn " %%cl, %[sv], %[dv]; pushfq; pop %[fo]"           \
                     : [dv] "+r"(d), [fo] "=&r"(fo)                                                \
                     : [sv] "r"(s), "c"(cnt), [fi] "r"(fin)                                        \
                     : "cc")

#define DEFINE_RUN(T, sfx, SHD)                                                                    \
    static uint64_t run_##sfx(enum op op, uint64_t a, uint64_t b, uint8_t cnt, uint64_t fin,       \
                              uint64_t *fout)                                                      \
    {                                                                                              \
        T d = (T)a, s = (T)b;                                                                      \
        uint64_t fo = 0;                                                                           \
        switch (op) {                                                                              \
        case SHL:                                                                                  \
            SH_CL("shl" #sfx, d, cnt, fin, fo);                                                    \
            break;                                                                                 \
        case SHR:                                                                                  \
            SH_CL("shr" #sfx, d, cnt, fin, fo);                                                    \
            break;                                                                                 \
        case SAR:                                                                                  \
            SH_CL("sar" #sfx, d, cnt, fin, fo);                                                    \
            break;                                                                                 \
        case ROL:                                                                                  \
            SH_CL("rol" #sfx, d, cnt, fin, fo);                                                    \
            break;                                                                                 \
        case ROR:                                                                                  \
            SH_CL("ror" #sfx, d, cnt, fin, fo);                                                    \
            break;                                                                                 \
        case RCL:                                                                                  \
            SH_CL("rcl" #sfx, d, cnt, fin, fo);                                                    \
            break;                                                                                 \
        case RCR:                                                                                  \
            SH_CL("rcr" #sfx, d, cnt, fin, fo);                                                    \
            break;                                                                                 \
        case SHLD:                                                                                 \
            SHD("shld" #sfx, d, s, cnt, fin, fo);                                                  \
            break;                                                                                 \
        case SHRD:                                                                                 \
            SHD("shrd" #sfx, d, s, cnt, fin, fo);                                                  \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
        *fout = fo;                                                                                \
        return (uint64_t)d;                                                                        \
    }

#define NO_SHD(insn, d, s, cnt, fin, fo) (void)s
DEFINE_RUN(uint8_t, b, NO_SHD)
DEFINE_RUN(uint16_t, w, SHD_CL)
DEFINE_RUN(uint32_t, l, SHD_CL)
DEFINE_RUN(uint64_t, q, SHD_CL)

static void test_op(enum op op, int bits)
{
    static const uint64_t fins[] = {0x2, 0x2 | RFLAGS_ARITH, 0x2 | RFLAGS_CF,
                                    0x2 | (RFLAGS_ARITH & ~RFLAGS_CF)};
    unsigned n = 0, bad = 0;
    uint64_t m = mask_of(bits);
    if (bits == 8 && (op == SHLD || op == SHRD))
        return; /* no 8-bit form */
    for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
        for (unsigned ci = 0; ci < ARRAY_SIZE(counts); ci++) {
            for (unsigned k = 0; k < ARRAY_SIZE(fins); k++) {
                uint64_t a = vals[i], b = vals[(i + 5) % ARRAY_SIZE(vals)], fin = fins[k];
                uint64_t fexp, def, fout, r;
                bool rdef;
                uint64_t rexp = ref(op, bits, a, b, counts[ci], fin, &fexp, &def, &rdef);
                switch (bits) {
                case 8:
                    r = run_b(op, a, b, counts[ci], fin, &fout);
                    break;
                case 16:
                    r = run_w(op, a, b, counts[ci], fin, &fout);
                    break;
                case 32:
                    r = run_l(op, a, b, counts[ci], fin, &fout);
                    break;
                default:
                    r = run_q(op, a, b, counts[ci], fin, &fout);
                    break;
                }
                r &= m;
                n++;
                bool ok = (!rdef || r == rexp) && (fout & def) == (fexp & def) &&
                          (fout & ~RFLAGS_ARITH) == (fin & ~RFLAGS_ARITH);
                if (!ok && bad++ < 3)
                    gprintf("  %s%d a=0x%lx b=0x%lx cnt=%u fin=0x%lx: got r=0x%lx f=0x%lx, want "
                            "r=0x%lx f=0x%lx (defined 0x%lx)\n",
                            op_names[op], bits, a & m, b & m, counts[ci], fin, r, fout, rexp, fexp,
                            def);
            }
        }
    }
    CHECK(bad == 0, "%s%d (%u cases, %u bad)", op_names[op], bits, n, bad);
}

void guest_main(struct multiboot_info *mbi)
{
    static const int sizes[] = {8, 16, 32, 64};
    for (int op = 0; op < NR_OPS; op++)
        for (unsigned s = 0; s < 4; s++)
            test_op(op, sizes[s]);

    /* The dedicated 1-bit encodings (D0/D1 /n) and imm8 forms. */
    uint64_t x = 0x80000000, f;
    __asm__ volatile("shll %k0; pushfq; pop %1" : "+r"(x), "=r"(f)::"cc");
    CHECK(x == 0 &&
              (f & (RFLAGS_CF | RFLAGS_OF | RFLAGS_ZF)) == (RFLAGS_CF | RFLAGS_OF | RFLAGS_ZF),
          "shl1_form");
    x = 0x81;
    __asm__ volatile("rorb $1, %b0; pushfq; pop %1" : "+r"(x), "=r"(f)::"cc");
    CHECK(x == 0xc0 && (f & RFLAGS_CF) && !(f & RFLAGS_OF), "ror1_form");
    x = 0x1234;
    __asm__ volatile("shlq $36, %0" : "+r"(x)::"cc");
    CHECK_EQ(x, 0x1234ull << 36, "shl_imm8_64");
    x = 0x1234;
    __asm__ volatile("shlq $100, %0" : "+r"(x)::"cc"); /* masked to 36 */
    CHECK_EQ(x, 0x1234ull << 36, "shl_imm8_masked");
    /* 32-bit shift by 0 still zero-extends the destination (it is written). */
    x = 0xffffffff00000001ull;
    __asm__ volatile("xor %%ecx, %%ecx; shll %%cl, %k0" : "+r"(x)::"rcx", "cc");
    CHECK_EQ(x, 1, "shl32_count0_zero_extends");
    /* Memory-destination shifts. */
    static volatile uint16_t mw = 0x8001;
    __asm__ volatile("rolw $4, %0" : "+m"(mw)::"cc");
    CHECK_EQ(mw, 0x0018, "rol16_mem");
}
