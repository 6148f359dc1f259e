/* Atomic and exchange instructions (SDM Vol. 2A/2B CMPXCHG, CMPXCHG8B/16B,
 * XADD, XCHG, LOCK): results, flags, the accumulator/RDX:RAX update on
 * failure, #GP for a misaligned CMPXCHG16B operand and #UD for LOCK on a
 * register destination or a non-lockable instruction (SDM Vol. 2A LOCK). */
#include "guest.h"

static void test_cmpxchg(void)
{
    static volatile uint64_t m;
    uint64_t rax, f;
    /* Success: ZF=1, destination = source; flags as CMP RAX, dest. */
    m = 100;
    rax = 100;
    __asm__ volatile("lock cmpxchgq %3, %1; pushfq; pop %2"
                     : "+a"(rax), "+m"(m), "=r"(f)
                     : "r"(200ull)
                     : "cc");
    CHECK(m == 200 && rax == 100 && (f & RFLAGS_ZF) && !(f & RFLAGS_CF), "cmpxchg64_success");
    /* Failure: ZF=0, RAX = destination, destination unchanged. */
    rax = 5;
    __asm__ volatile("lock cmpxchgq %3, %1; pushfq; pop %2"
                     : "+a"(rax), "+m"(m), "=r"(f)
                     : "r"(300ull)
                     : "cc");
    CHECK(m == 200 && rax == 200 && !(f & RFLAGS_ZF) && (f & RFLAGS_CF), "cmpxchg64_failure");
    /* 8-bit and 16-bit forms only touch AL/AX. */
    static volatile uint8_t m8 = 0x11;
    rax = 0xffffffffffffff22ull;
    __asm__ volatile("cmpxchgb %b3, %1; pushfq; pop %2"
                     : "+a"(rax), "+m"(m8), "=r"(f)
                     : "q"(0x33)
                     : "cc");
    CHECK(m8 == 0x11 && rax == 0xffffffffffffff11ull && !(f & RFLAGS_ZF), "cmpxchg8_failure_al");
    static volatile uint16_t m16 = 0x4444;
    rax = 0x4444;
    __asm__ volatile("cmpxchgw %w3, %1; pushfq; pop %2"
                     : "+a"(rax), "+m"(m16), "=r"(f)
                     : "r"(0x5555)
                     : "cc");
    CHECK(m16 == 0x5555 && (f & RFLAGS_ZF), "cmpxchg16_success");
    /* 32-bit failure writes EAX and zero-extends RAX. */
    static volatile uint32_t m32 = 7;
    rax = 0xffffffff00000008ull;
    __asm__ volatile("cmpxchgl %2, %1" : "+a"(rax), "+m"(m32) : "r"(9) : "cc");
    CHECK_EQ(rax, 7, "cmpxchg32_failure_zero_extends_rax");
    /* Register destination. */
    uint64_t d = 1;
    rax = 1;
    __asm__ volatile("cmpxchgq %2, %1" : "+a"(rax), "+r"(d) : "r"(2ull) : "cc");
    CHECK_EQ(d, 2, "cmpxchg_register_dest");

    /* CMPXCHG8B: EDX:EAX vs m64; success stores ECX:EBX. */
    static volatile uint64_t q = 0x1111111122222222ull;
    uint32_t eax = 0x22222222, edx = 0x11111111;
    __asm__ volatile("lock cmpxchg8b %2; pushfq; pop %3"
                     : "+a"(eax), "+d"(edx), "+m"(q), "=r"(f)
                     : "b"(0x44444444), "c"(0x33333333)
                     : "cc");
    CHECK(q == 0x3333333344444444ull && (f & RFLAGS_ZF), "cmpxchg8b_success");
    eax = 0;
    edx = 0;
    __asm__ volatile("lock cmpxchg8b %2; pushfq; pop %3"
                     : "+a"(eax), "+d"(edx), "+m"(q), "=r"(f)
                     : "b"(1), "c"(2)
                     : "cc");
    CHECK(q == 0x3333333344444444ull && !(f & RFLAGS_ZF) && eax == 0x44444444 && edx == 0x33333333,
          "cmpxchg8b_failure");

    /* CMPXCHG16B (CPUID.1:ECX.CX16[13]): 16-byte aligned operand. */
    if (!cpu_has(1, 0, 2, 13)) {
        SKIP("no CMPXCHG16B", "cmpxchg16b");
        return;
    }
    static volatile uint64_t o[4] ALIGNED(16) = {1, 2, 0, 0};
    uint64_t lo = 1, hi = 2;
    __asm__ volatile("lock cmpxchg16b %2; pushfq; pop %3"
                     : "+a"(lo), "+d"(hi), "+m"(o[0]), "=r"(f)
                     : "b"(10ull), "c"(20ull)
                     : "cc", "memory");
    CHECK(o[0] == 10 && o[1] == 20 && (f & RFLAGS_ZF), "cmpxchg16b_success");
    lo = 0;
    hi = 0;
    __asm__ volatile("lock cmpxchg16b %2; pushfq; pop %3"
                     : "+a"(lo), "+d"(hi), "+m"(o[0]), "=r"(f)
                     : "b"(30ull), "c"(40ull)
                     : "cc", "memory");
    CHECK(o[0] == 10 && o[1] == 20 && !(f & RFLAGS_ZF) && lo == 10 && hi == 20,
          "cmpxchg16b_failure");
    /* Misaligned operand: #GP(0). */
    CHECK_EXC(__asm__ volatile("lock cmpxchg16b (%0)" ::"r"((uintptr_t)o + 8), "a"(0), "d"(0),
                               "b"(0), "c"(0)
                               : "memory", "cc"),
              GP_VECTOR, 0, "cmpxchg16b_misaligned_gp");
}

static void test_xadd_xchg(void)
{
    static volatile uint64_t m = 10;
    uint64_t r = 5, f;
    __asm__ volatile("lock xaddq %0, %1; pushfq; pop %2" : "+r"(r), "+m"(m), "=r"(f)::"cc");
    CHECK(m == 15 && r == 10 && !(f & (RFLAGS_ZF | RFLAGS_CF)), "xadd64");
    static volatile uint8_t m8 = 0xff;
    uint8_t r8 = 1;
    __asm__ volatile("xaddb %0, %1; pushfq; pop %2" : "+q"(r8), "+m"(m8), "=r"(f)::"cc");
    CHECK(m8 == 0 && r8 == 0xff && (f & RFLAGS_ZF) && (f & RFLAGS_CF) && (f & RFLAGS_AF),
          "xadd8_flags_as_add");
    uint64_t a = 1, b = 2;
    __asm__ volatile("xchgq %0, %1" : "+r"(a), "+r"(b));
    CHECK(a == 2 && b == 1, "xchg_reg");
    r = 77;
    __asm__ volatile("xchgq %0, %1" : "+r"(r), "+m"(m));
    CHECK(r == 15 && m == 77, "xchg_mem");
    /* 90 with REX.B is XCHG R8, RAX, not NOP. */
    uint64_t x = 0x11, y = 0x22;
    __asm__ volatile("mov %1, %%r8; .byte 0x49, 0x90; mov %%r8, %1" : "+a"(x), "+r"(y)::"r8");
    CHECK(x == 0x22 && y == 0x11, "xchg_r8_rax_0x90_rex");
    /* 32-bit XCHG EAX, EAX (87 C0) zero-extends; 90 without REX does not. */
    x = 0xffffffff00000001ull;
    __asm__ volatile(".byte 0x87, 0xc0" : "+a"(x));
    CHECK_EQ(x, 1, "xchg_eax_eax_zero_extends");
    x = 0xffffffff00000001ull;
    __asm__ volatile(".byte 0x90" : "+a"(x));
    CHECK_EQ(x, 0xffffffff00000001ull, "nop_0x90_keeps_rax");
}

static void test_lock_ud(void)
{
    /* LOCK with a register destination or a non-lockable instruction: #UD. */
    CHECK_EXC(__asm__ volatile(".byte 0xf0, 0x48, 0x01, 0xc0"), UD_VECTOR, 0,
              "lock_add_reg_reg_ud"); /* lock add %rax,%rax */
    static volatile uint64_t m;
    if (running_on_qemu())
        SKIP("QEMU TCG accepts LOCK MOV", "lock_mov_ud");
    else
        CHECK_EXC(__asm__ volatile(".byte 0xf0; movq %%rax, %0"
                                   : "=m"(m)::"rax"),
                  UD_VECTOR, 0, "lock_mov_ud");
    CHECK_NO_EXC(__asm__ volatile("lock incq %0" : "+m"(m)::"cc"), "lock_inc_mem_ok");
    CHECK_NO_EXC(__asm__ volatile("lock btsq $3, %0" : "+m"(m)::"cc"), "lock_bts_mem_ok");
    CHECK_NO_EXC(__asm__ volatile("lock notq %0" : "+m"(m)), "lock_not_mem_ok");
}

void guest_main(struct multiboot_info *mbi)
{
    test_cmpxchg();
    test_xadd_xchg();
    test_lock_ud();
}
