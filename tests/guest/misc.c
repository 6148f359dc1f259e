/* Miscellaneous general-purpose instructions: CMOVcc/SETcc for all 16
 * conditions (SDM Vol. 1 appendix B, table B-1), LAHF/SAHF, ENTER/LEAVE,
 * PUSH/POP forms, MOVZX/MOVSX/MOVSXD, CBW..CQO, BSWAP, XLAT, LEA address
 * arithmetic, multi-byte NOP, PAUSE, fences, CLFLUSH/PREFETCH. */
#include "guest.h"

/* Condition codes 0..15 evaluated per the SDM from RFLAGS. */
static bool cond(int cc, uint64_t f)
{
    bool cf = f & RFLAGS_CF, zf = f & RFLAGS_ZF, sf = f & RFLAGS_SF, of = f & RFLAGS_OF,
         pf = f & RFLAGS_PF;
    bool r;
    switch (cc >> 1) {
    case 0:
        r = of;
        break; /* O */
    case 1:
        r = cf;
        break; /* B */
    case 2:
        r = zf;
        break; /* E */
    case 3:
        r = cf || zf;
        break; /* BE */
    case 4:
        r = sf;
        break; /* S */
    case 5:
        r = pf;
        break; /* P */
    case 6:
        r = sf != of;
        break; /* L */
    default:
        r = zf || (sf != of);
        break; /* LE */
    }
    return (cc & 1) ? !r : r;
}

#define CC_CASE(n, s)                                                                              \
    case n:                                                                                        \
        __asm__ volatile("push %[f]; popfq; cmov" s " %[b], %[a]; set" s " %[c]"                   \
                         : [a] "+r"(a), [c] "=q"(c)                                                \
                         : [b] "r"(b), [f] "r"(f)                                                  \
                         : "cc");                                                                  \
        break;

static void run_cc(int cc, uint64_t f, uint64_t *out, uint8_t *set)
{
    uint64_t a = 1, b = 2;
    uint8_t c = 0x55;
    switch (cc) {
        CC_CASE(0, "o")
        CC_CASE(1, "no")
        CC_CASE(2, "b")
        CC_CASE(3, "ae")
        CC_CASE(4, "e")
        CC_CASE(5, "ne")
        CC_CASE(6, "be")
        CC_CASE(7, "a")
        CC_CASE(8, "s")
        CC_CASE(9, "ns")
        CC_CASE(10, "p")
        CC_CASE(11, "np")
        CC_CASE(12, "l")
        CC_CASE(13, "ge")
        CC_CASE(14, "le")
        CC_CASE(15, "g")
    }
    *out = a;
    *set = c;
}

static void test_cc(void)
{
    static const uint64_t bits[] = {RFLAGS_CF, RFLAGS_PF, RFLAGS_ZF, RFLAGS_SF, RFLAGS_OF};
    unsigned bad = 0;
    for (int cc = 0; cc < 16; cc++) {
        for (unsigned m = 0; m < 32; m++) {
            uint64_t f = 0x2;
            for (int i = 0; i < 5; i++)
                if (m & (1u << i))
                    f |= bits[i];
            uint64_t out;
            uint8_t set;
            run_cc(cc, f, &out, &set);
            bool t = cond(cc, f);
            if (out != (t ? 2u : 1u) || set != t) {
                if (bad++ < 3)
                    gprintf("  cc %d flags 0x%lx: cmov %lu set %u\n", cc, f, out, set);
            }
        }
    }
    CHECK(bad == 0, "cmovcc_setcc_all_conditions");
    /* CMOV with 32-bit operands zero-extends even when the condition is
     * false (SDM Vol. 2A CMOVcc, 64-bit mode). */
    uint64_t x = 0xffffffff00000001ull;
    __asm__ volatile("xor %%eax, %%eax; cmovnel %k1, %k0" : "+r"(x) : "r"(5ull) : "rax", "cc");
    CHECK_EQ(x, 1, "cmov32_false_zero_extends");
    /* Jcc agrees with SETcc: spot check JL/JG. */
    int l = 0;
    __asm__ volatile("mov $-1, %%eax; cmp $1, %%eax; jl 1f; movl $2, %0; jmp 2f; 1: movl $1, %0; 2:"
                     : "=m"(l)::"rax", "cc");
    CHECK_EQ(l, 1, "jl_signed");
    /* JRCXZ / LOOP. */
    uint64_t n = 0;
    __asm__ volatile("mov $5, %%ecx; 1: inc %0; loop 1b" : "+r"(n)::"rcx", "cc");
    CHECK_EQ(n, 5, "loop");
    n = 0;
    __asm__ volatile("xor %%ecx, %%ecx; jrcxz 1f; movq $7, %0; 1:" : "+r"(n)::"rcx");
    CHECK_EQ(n, 0, "jrcxz_taken");
}

static void test_lahf_sahf(void)
{
    if (!cpu_has(0x80000001, 0, 2, 0)) {
        SKIP("CPUID.80000001H:ECX.LAHF-SAHF = 0", "lahf_sahf");
        return;
    }
    uint64_t f = 0x2 | RFLAGS_CF | RFLAGS_ZF | RFLAGS_OF | RFLAGS_AF, ax;
    __asm__ volatile("push %1; popfq; mov $0, %%eax; lahf" : "=a"(ax) : "r"(f) : "cc");
    /* AH = SF:ZF:0:AF:0:PF:1:CF (MOV does not change flags). */
    CHECK_EQ((ax >> 8) & 0xff, 0x02 | 0x01 | 0x40 | 0x10, "lahf");
    uint64_t out;
    __asm__ volatile("push %2; popfq; sahf; pushfq; pop %0"
                     : "=r"(out)
                     : "a"(0xd5ull << 8), "r"(0x2ull | RFLAGS_OF)
                     : "cc");
    /* AH=0xd5: SF ZF AF PF CF all set; OF untouched (stays 1). */
    CHECK_EQ(out & (RFLAGS_ARITH), RFLAGS_ARITH, "sahf_loads_low_flags_keeps_of");
}

static void test_stack(void)
{
    uint64_t rsp0, rsp1, rbp1, top0, top1;
    /* ENTER $32, $0 = PUSH RBP; MOV RBP, RSP; SUB RSP, 32. */
    __asm__ volatile("mov %%rsp, %0\n"
                     "push %%rbp\n"
                     "mov %%rsp, %%rbp\n" /* a recognisable RBP */
                     "enter $32, $0\n"
                     "mov %%rsp, %1\n"
                     "mov %%rbp, %2\n"
                     "leave\n"
                     "pop %%rbp\n"
                     : "=r"(rsp0), "=r"(rsp1), "=r"(rbp1)::"memory");
    CHECK(rbp1 == rsp0 - 16 && rsp1 == rsp0 - 48, "enter_leave_level0");
    /* ENTER $16, $1: also pushes the new frame pointer. */
    __asm__ volatile("mov %%rsp, %0\n"
                     "push %%rbp\n"
                     "mov %%rsp, %%rbp\n"
                     "enter $16, $1\n"
                     "mov %%rsp, %1\n"
                     "mov %%rbp, %2\n"
                     "mov (%%rbp), %3\n"   /* saved RBP */
                     "mov -8(%%rbp), %4\n" /* frame temp = new RBP */
                     "leave\n"
                     "pop %%rbp\n"
                     : "=&r"(rsp0), "=&r"(rsp1), "=&r"(rbp1), "=&r"(top0), "=&r"(top1)::"memory");
    CHECK(rbp1 == rsp0 - 16 && rsp1 == rsp0 - 40 && top0 == rsp0 - 8 && top1 == rbp1,
          "enter_level1");

    /* PUSH imm8/imm32 sign-extend to 64 bits; 16-bit push/pop move RSP by 2. */
    uint64_t v, d;
    __asm__ volatile("pushq $-2; pop %0" : "=r"(v));
    CHECK_EQ(v, 0xfffffffffffffffeull, "push_imm8_sign_extends");
    __asm__ volatile("pushq $-0x10000; pop %0" : "=r"(v));
    CHECK_EQ(v, 0xffffffffffff0000ull, "push_imm32_sign_extends");
    __asm__ volatile("mov %%rsp, %%rcx; pushw $0x1234; mov %%rsp, %1; popw %w0; sub %%rsp, %%rcx"
                     : "=r"(v), "=r"(d)::"rcx");
    CHECK_EQ(v & 0xffff, 0x1234, "pushw_popw");
    /* POP to an RSP-based memory operand uses RSP after the increment
     * (SDM Vol. 2B POP). */
    static volatile uint64_t slots[2];
    __asm__ volatile("mov %%rsp, %%rcx\n"
                     "lea 16+%1, %%rsp\n"
                     "pushq $0x77\n"
                     "popq -8(%%rsp)\n"
                     "mov %%rcx, %%rsp\n"
                     : "=m"(slots[0])
                     : "m"(slots[0])
                     : "rcx", "memory");
    CHECK_EQ(slots[1], 0x77, "pop_rsp_relative_after_increment");
    /* PUSH RSP pushes the value before the push. */
    __asm__ volatile("push %%rsp; pop %0; mov %%rsp, %1" : "=r"(v), "=r"(d));
    CHECK_EQ(v, d, "push_rsp_old_value");
}

static void test_moves(void)
{
    uint64_t r;
    int8_t b = -5;
    __asm__("movsbq %1, %0" : "=r"(r) : "m"(b));
    CHECK_EQ(r, (uint64_t)-5, "movsx_byte_to_64");
    __asm__("movzbl %1, %k0" : "=r"(r) : "m"(b));
    CHECK_EQ(r, 0xfb, "movzx_byte_to_32_zero_extends");
    int32_t d = -7;
    __asm__("movslq %1, %0" : "=r"(r) : "m"(d));
    CHECK_EQ(r, (uint64_t)-7, "movsxd");
    r = 0x80;
    __asm__("cbw" : "+a"(r));
    CHECK_EQ(r & 0xffff, 0xff80, "cbw");
    r = 0x8000;
    __asm__("cwde" : "+a"(r));
    CHECK_EQ(r, 0xffff8000, "cwde_zero_extends");
    r = 0x80000000;
    __asm__("cdqe" : "+a"(r));
    CHECK_EQ(r, 0xffffffff80000000ull, "cdqe");
    uint64_t dx = 0;
    r = 0x8000000000000000ull;
    __asm__("cqo" : "+a"(r), "=d"(dx));
    CHECK_EQ(dx, ~0ull, "cqo");
    r = 0x0102030405060708ull;
    __asm__("bswapq %0" : "+r"(r));
    CHECK_EQ(r, 0x0807060504030201ull, "bswap64");
    r = 0xffffffff11223344ull;
    __asm__("bswapl %k0" : "+r"(r));
    CHECK_EQ(r, 0x44332211, "bswap32_zero_extends");
    static const uint8_t table[256] = {[0x42] = 0x99};
    r = 0x42;
    __asm__("xlat" : "+a"(r) : "b"(table), "m"(table));
    CHECK_EQ(r & 0xff, 0x99, "xlat");
    /* LEA: scaled index, displacement, RIP-relative, 32-bit address size. */
    uint64_t base = 0x1000, idx = 3;
    __asm__("lea 0x10(%1,%2,8), %0" : "=r"(r) : "r"(base), "r"(idx));
    CHECK_EQ(r, 0x1028, "lea_sib");
    base = 0xffffffff;
    idx = 2;
    __asm__("addr32 lea (%k1,%k2), %0" : "=r"(r) : "r"(base), "r"(idx));
    CHECK_EQ(r, 1, "lea_addr32_wraps");
    __asm__("lea (%1,%2), %w0" : "=r"(r) : "r"(0x12345ull), "r"(0x1ull));
    CHECK_EQ(r & 0xffff, 0x2346, "lea_16bit_dest");
    uint64_t here, lbl;
    __asm__("lea 0(%%rip), %0; 1: lea 1b(%%rip), %1" : "=r"(here), "=r"(lbl));
    CHECK_EQ(here, lbl, "lea_rip_relative");
    /* MOV to a 32-bit register zero-extends, to 8/16-bit does not. */
    r = ~0ull;
    __asm__("movl $1, %k0" : "+r"(r));
    CHECK_EQ(r, 1, "mov32_zero_extends");
    r = ~0ull;
    __asm__("movw $1, %w0" : "+r"(r));
    CHECK_EQ(r, 0xffffffffffff0001ull, "mov16_merges");
    /* MOV r64, imm64 and moffs forms. */
    __asm__("movabsq $0x123456789abcdef0, %0" : "=r"(r));
    CHECK_EQ(r, 0x123456789abcdef0ull, "mov_imm64");
    static volatile uint64_t mo = 0xabcdef;
    __asm__ volatile("movabsq %P1, %%rax" : "=a"(r) : "i"(&mo), "m"(mo)); /* A1 moffs64 */
    CHECK_EQ(r, 0xabcdef, "mov_moffs64");
}

static void test_hints(void)
{
    static volatile uint64_t line[8] ALIGNED(64);
    CHECK_NO_EXC(__asm__ volatile("pause"), "pause");
    CHECK_NO_EXC(__asm__ volatile("lfence; sfence; mfence" ::: "memory"), "fences");
    CHECK_NO_EXC(__asm__ volatile("clflush %0" ::"m"(line[0]) : "memory"), "clflush");
    CHECK_NO_EXC(__asm__ volatile("prefetcht0 %0; prefetchnta %0" ::"m"(line[0])), "prefetch");
    /* Multi-byte NOPs (0F 1F /0) incl. a 9-byte form. */
    CHECK_NO_EXC(__asm__ volatile(".byte 0x0f,0x1f,0x00; .byte 0x66,0x0f,0x1f,0x84,0,0,0,0,0"),
                 "multibyte_nop");
    line[0] = 42;
    __asm__ volatile("clflush %0" ::"m"(line[0]) : "memory");
    CHECK_EQ(line[0], 42, "clflush_keeps_data");
    /* CLFLUSH of a non-canonical address: #GP(0). */
    if (running_on_qemu())
        SKIP("QEMU TCG does not check the CLFLUSH address", "clflush_noncanonical_gp");
    else
        CHECK_EXC(__asm__ volatile("clflush (%0)" ::"r"(0x8000000000000000ull)
                                   : "memory"),
                  GP_VECTOR, 0, "clflush_noncanonical_gp");
}

void guest_main(struct multiboot_info *mbi)
{
    test_cc();
    test_lahf_sahf();
    test_stack();
    test_moves();
    test_hints();
}
