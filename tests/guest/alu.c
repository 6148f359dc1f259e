/* Integer ALU instructions with exact result and flags: ADD ADC SUB SBB AND
 * OR XOR CMP TEST INC DEC NEG NOT at 8/16/32/64 bits, register and memory
 * destinations. Expected values come from a reference model of the SDM
 * definitions (Vol. 2, each instruction's "Flags Affected"; Vol. 1 3.4.3.1).
 * Flags the SDM leaves undefined (AF after logical ops) are not compared. */
#include "guest.h"

enum op { ADD, ADC, SUB, SBB, AND, OR, XOR, CMP, TEST, INC, DEC, NEG, NOT, NR_OPS };
static const char *const op_names[] = {"add", "adc",  "sub", "sbb", "and", "or", "xor",
                                       "cmp", "test", "inc", "dec", "neg", "not"};

static const uint64_t vals[] = {
    0,
    1,
    2,
    0x0f,
    0x10,
    0x7f,
    0x80,
    0x81,
    0xfe,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x10000,
    0x7fffffff,
    0x80000000,
    0x80000001,
    0xffffffff,
    0x100000000ull,
    0x7fffffffffffffffull,
    0x8000000000000000ull,
    0x8000000000000001ull,
    0xfffffffffffffffeull,
    0xffffffffffffffffull,
    0x123456789abcdef0ull,
    0xfedcba9876543210ull,
    0x5555555555555555ull,
    0xaaaaaaaaaaaaaaaaull,
};

static uint64_t mask_of(int bits)
{
    return bits == 64 ? ~0ull : (1ull << bits) - 1;
}

static uint64_t szp(uint64_t r, int bits)
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

/* Reference model: returns result, *flags = expected flags, *defined = mask
 * of flags the SDM defines for this operation. fin = input RFLAGS. */
static uint64_t ref(enum op op, int bits, uint64_t a, uint64_t b, uint64_t fin, uint64_t *flags,
                    uint64_t *defined)
{
    uint64_t m = mask_of(bits), sign = 1ull << (bits - 1);
    uint64_t c = fin & RFLAGS_CF;
    uint64_t r = 0, f = 0;
    a &= m;
    b &= m;
    *defined = RFLAGS_ARITH;
    switch (op) {
    case ADD:
    case ADC: {
        uint64_t cin = op == ADC ? c : 0;
        unsigned __int128 wide = (unsigned __int128)a + b + cin;
        r = (uint64_t)wide & m;
        bool carry = bits == 64 ? (wide >> 64) != 0 : ((uint64_t)wide >> bits) != 0;
        f = (carry ? RFLAGS_CF : 0) | (((a ^ r) & (b ^ r) & sign) ? RFLAGS_OF : 0) |
            ((a ^ b ^ r) & 0x10 ? RFLAGS_AF : 0);
        break;
    }
    case SUB:
    case SBB:
    case CMP: {
        uint64_t cin = op == SBB ? c : 0;
        r = (a - b - cin) & m;
        bool borrow = (unsigned __int128)b + cin > a;
        f = (borrow ? RFLAGS_CF : 0) | (((a ^ b) & (a ^ r) & sign) ? RFLAGS_OF : 0) |
            ((a ^ b ^ r) & 0x10 ? RFLAGS_AF : 0);
        break;
    }
    case AND:
    case TEST:
        r = a & b;
        *defined &= ~RFLAGS_AF; /* AF undefined */
        break;
    case OR:
        r = a | b;
        *defined &= ~RFLAGS_AF;
        break;
    case XOR:
        r = a ^ b;
        *defined &= ~RFLAGS_AF;
        break;
    case INC:
        r = (a + 1) & m;
        f = (fin & RFLAGS_CF) | (r == sign ? RFLAGS_OF : 0) | ((a ^ r) & 0x10 ? RFLAGS_AF : 0);
        break;
    case DEC:
        r = (a - 1) & m;
        f = (fin & RFLAGS_CF) | (a == sign ? RFLAGS_OF : 0) | ((a ^ r) & 0x10 ? RFLAGS_AF : 0);
        break;
    case NEG:
        r = (0 - a) & m;
        f = (a ? RFLAGS_CF : 0) | (a == sign ? RFLAGS_OF : 0) | ((a ^ r) & 0x10 ? RFLAGS_AF : 0);
        break;
    case NOT:
        r = ~a & m;
        *flags = fin & RFLAGS_ARITH; /* no flags affected */
        return r;
    default:
        break;
    }
    *flags = f | szp(r, bits);
    if (op == CMP || op == TEST)
        r = a; /* destination unchanged */
    return r;
}

/* One asm body per instruction and size. FIN is loaded into RFLAGS first. */
#define RUN2(insn, T, d, s, fin, fout)                                                             \
    __asm__ volatile("push %[fi]; popfq; " insn " %[sv], %[dv]; pushfq; pop %[fo]"                 \
                     : [dv] "+r"(d), [fo] "=&r"(fout)                                              \
                     : [sv] "r"((T)(s)), [fi] "r"(fin)                                             \
                     : "cc")
#define RUN2M(insn, T, d, s, fin, fout)                                                            \
    __asm__ volatile("push %[fi]; popfq; " insn " %[sv], %[dv]; pushfq; pop %[fo]"                 \
                     : [dv] "+m"(d), [fo] "=&r"(fout)                                              \
                     : [sv] "r"((T)(s)), [fi] "r"(fin)                                             \
                     : "cc")
#define RUN1(insn, d, fin, fout)                                                                   \
    __asm__ volatile("push %[fi]; popfq; " insn " %[dv]; pushfq; pop %[fo]"                        \
                     : [dv] "+r"(d), [fo] "=&r"(fout)                                              \
                     : [fi] "r"(fin)                                                               \
                     : "cc")
#define RUN1M(insn, d, fin, fout)                                                                  \
    __asm__ volatile("push %[fi]; popfq; " insn " %[dv]; pushfq; pop %[fo]"                        \
                     : [dv] "+m"(d), [fo] "=&r"(fout)                                              \
                     : [fi] "r"(fin)                                                               \
                     : "cc")

#define DEFINE_RUN(T, sfx)                                                                         \
    static uint64_t run_##sfx(enum op op, bool mem, uint64_t a, uint64_t b, uint64_t fin,          \
                              uint64_t *fout)                                                      \
    {                                                                                              \
        T d = (T)a;                                                                                \
        uint64_t fo = 0;                                                                           \
        if (!mem) {                                                                                \
            switch (op) {                                                                          \
            case ADD:                                                                              \
                RUN2("add" #sfx, T, d, b, fin, fo);                                                \
                break;                                                                             \
            case ADC:                                                                              \
                RUN2("adc" #sfx, T, d, b, fin, fo);                                                \
                break;                                                                             \
            case SUB:                                                                              \
                RUN2("sub" #sfx, T, d, b, fin, fo);                                                \
                break;                                                                             \
            case SBB:                                                                              \
                RUN2("sbb" #sfx, T, d, b, fin, fo);                                                \
                break;                                                                             \
            case AND:                                                                              \
                RUN2("and" #sfx, T, d, b, fin, fo);                                                \
                break;                                                                             \
            case OR:                                                                               \
                RUN2("or" #sfx, T, d, b, fin, fo);                                                 \
                break;                                                                             \
            case XOR:                                                                              \
                RUN2("xor" #sfx, T, d, b, fin, fo);                                                \
                break;                                                                             \
            case CMP:                                                                              \
                RUN2("cmp" #sfx, T, d, b, fin, fo);                                                \
                break;                                                                             \
            case TEST:                                                                             \
                RUN2("test" #sfx, T, d, b, fin, fo);                                               \
                break;                                                                             \
            case INC:                                                                              \
                RUN1("inc" #sfx, d, fin, fo);                                                      \
                break;                                                                             \
            case DEC:                                                                              \
                RUN1("dec" #sfx, d, fin, fo);                                                      \
                break;                                                                             \
            case NEG:                                                                              \
                RUN1("neg" #sfx, d, fin, fo);                                                      \
                break;                                                                             \
            case NOT:                                                                              \
                RUN1("not" #sfx, d, fin, fo);                                                      \
                break;                                                                             \
            default:                                                                               \
                break;                                                                             \
            }                                                                                      \
        } else {                                                                                   \
            switch (op) {                                                                          \
            case ADD:                                                                              \
                RUN2M("add" #sfx, T, d, b, fin, fo);                                               \
                break;                                                                             \
            case ADC:                                                                              \
                RUN2M("adc" #sfx, T, d, b, fin, fo);                                               \
                break;                                                                             \
            case SUB:                                                                              \
                RUN2M("sub" #sfx, T, d, b, fin, fo);                                               \
                break;                                                                             \
            case SBB:                                                                              \
                RUN2M("sbb" #sfx, T, d, b, fin, fo);                                               \
                break;                                                                             \
            case AND:                                                                              \
                RUN2M("and" #sfx, T, d, b, fin, fo);                                               \
                break;                                                                             \
            case OR:                                                                               \
                RUN2M("or" #sfx, T, d, b, fin, fo);                                                \
                break;                                                                             \
            case XOR:                                                                              \
                RUN2M("xor" #sfx, T, d, b, fin, fo);                                               \
                break;                                                                             \
            case CMP:                                                                              \
                RUN2M("cmp" #sfx, T, d, b, fin, fo);                                               \
                break;                                                                             \
            case TEST:                                                                             \
                RUN2M("test" #sfx, T, d, b, fin, fo);                                              \
                break;                                                                             \
            case INC:                                                                              \
                RUN1M("inc" #sfx, d, fin, fo);                                                     \
                break;                                                                             \
            case DEC:                                                                              \
                RUN1M("dec" #sfx, d, fin, fo);                                                     \
                break;                                                                             \
            case NEG:                                                                              \
                RUN1M("neg" #sfx, d, fin, fo);                                                     \
                break;                                                                             \
            case NOT:                                                                              \
                RUN1M("not" #sfx, d, fin, fo);                                                     \
                break;                                                                             \
            default:                                                                               \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
        *fout = fo;                                                                                \
        return (uint64_t)d;                                                                        \
    }

DEFINE_RUN(uint8_t, b)
DEFINE_RUN(uint16_t, w)
DEFINE_RUN(uint32_t, l)
DEFINE_RUN(uint64_t, q)

static uint64_t run(int bits, enum op op, bool mem, uint64_t a, uint64_t b, uint64_t fin,
                    uint64_t *fout)
{
    switch (bits) {
    case 8:
        return run_b(op, mem, a, b, fin, fout);
    case 16:
        return run_w(op, mem, a, b, fin, fout);
    case 32:
        return run_l(op, mem, a, b, fin, fout);
    default:
        return run_q(op, mem, a, b, fin, fout);
    }
}

static void test_op(enum op op, int bits, bool mem)
{
    /* Input flag patterns: all arithmetic flags clear / all set, so stale or
     * preserved flags show up; CF matters as input to ADC/SBB/INC/DEC. */
    static const uint64_t fins[] = {0x2, 0x2 | RFLAGS_ARITH, 0x2 | RFLAGS_CF,
                                    0x2 | (RFLAGS_ARITH & ~RFLAGS_CF)};
    unsigned n = 0, bad = 0;
    uint64_t m = mask_of(bits);
    for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
        for (unsigned j = 0; j < ARRAY_SIZE(vals); j++) {
            if (op >= INC && j > 0)
                break;
            for (unsigned k = 0; k < ARRAY_SIZE(fins); k++) {
                uint64_t a = vals[i], b = vals[j], fin = fins[k], fout, fexp, def;
                uint64_t rexp = ref(op, bits, a, b, fin, &fexp, &def);
                uint64_t r = run(bits, op, mem, a, b, fin, &fout) & m;
                n++;
                /* Non-arithmetic flags must be untouched (bit 1 reads as 1). */
                bool ok = r == rexp && (fout & def) == (fexp & def) &&
                          (fout & ~RFLAGS_ARITH) == (fin & ~RFLAGS_ARITH);
                if (!ok && bad++ < 3)
                    gprintf("  %s%d%s a=0x%lx b=0x%lx fin=0x%lx: got r=0x%lx f=0x%lx, want "
                            "r=0x%lx f=0x%lx (defined 0x%lx)\n",
                            op_names[op], bits, mem ? "m" : "r", a & m, b & m, fin, r, fout, rexp,
                            fexp, def);
            }
        }
    }
    CHECK(bad == 0, "%s%d_%s (%u cases, %u bad)", op_names[op], bits, mem ? "mem" : "reg", n, bad);
}

void guest_main(struct multiboot_info *mbi)
{
    static const int sizes[] = {8, 16, 32, 64};
    for (int op = 0; op < NR_OPS; op++)
        for (unsigned s = 0; s < 4; s++)
            for (int mem = 0; mem < 2; mem++)
                test_op(op, sizes[s], mem);

    /* 32-bit destination writes zero-extend into the full 64-bit register
     * (SDM Vol. 1 3.4.1.1); 8/16-bit writes leave the upper bits alone. */
    uint64_t x = 0xffffffffffffffffull;
    __asm__ volatile("addl $1, %k0" : "+r"(x)::"cc");
    CHECK_EQ(x, 0, "add32_zero_extends");
    x = 0xffffffffffffffffull;
    __asm__ volatile("addw $1, %w0" : "+r"(x)::"cc");
    CHECK_EQ(x, 0xffffffffffff0000ull, "add16_preserves_upper");
    x = 0xffffffffffffffffull;
    __asm__ volatile("addb $1, %b0" : "+r"(x)::"cc");
    CHECK_EQ(x, 0xffffffffffffff00ull, "add8_preserves_upper");
    /* AH-class registers (no REX): ADD AH, imm changes bits 15:8 only. */
    x = 0x1234;
    __asm__ volatile("addb $0x10, %%ah" : "+a"(x)::"cc");
    CHECK_EQ(x, 0x2234, "add_ah");
    /* Sign-extended imm8/imm32 forms. */
    x = 5;
    __asm__ volatile("addq $-1, %0" : "+r"(x)::"cc");
    CHECK_EQ(x, 4, "add_imm8_sext");
    x = 0;
    __asm__ volatile("addq $-0x80000000, %0" : "+r"(x)::"cc");
    CHECK_EQ(x, 0xffffffff80000000ull, "add_imm32_sext");
    /* XOR r32,r32 zero idiom also clears the upper half. */
    x = ~0ull;
    __asm__ volatile("xorl %k0, %k0" : "+r"(x)::"cc");
    CHECK_EQ(x, 0, "xor32_zero_idiom");
}
