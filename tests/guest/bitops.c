/* Bit instructions: BT BTS BTR BTC (register/immediate offsets, register and
 * memory operands, memory bit offsets beyond the operand incl. negative ones,
 * SDM Vol. 2A "BT": "bit string" addressing), BSF BSR (ZF; destination
 * undefined for a zero source, not compared), LZCNT TZCNT POPCNT. */
#include "guest.h"

static const uint64_t vals[] = {0,
                                1,
                                2,
                                0x80,
                                0x8000,
                                0x10000,
                                0x80000000,
                                0x100000000ull,
                                0x8000000000000000ull,
                                0xffffffffffffffffull,
                                0x123456789abcdef0ull,
                                0x0000f00000000000ull};

#define BT_REG(insn, d, off, cf)                                                                   \
    __asm__ volatile(insn " %[o], %[dv]; setc %[c]"                                                \
                     : [dv] "+r"(d), [c] "=q"(cf)                                                  \
                     : [o] "r"(off)                                                                \
                     : "cc")

static void test_bt_reg(void)
{
    unsigned bad = 0, n = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
        for (unsigned bit = 0; bit < 130; bit += 3) {
            uint64_t v = vals[i];
            /* 64-bit: offset mod 64; 32-bit: mod 32; 16-bit: mod 16. */
            uint64_t q = v, qs = v, qr = v, qc = v;
            uint8_t c1, c2, c3, c4;
            uint64_t off = bit;
            BT_REG("btq", q, off, c1);
            BT_REG("btsq", qs, off, c2);
            BT_REG("btrq", qr, off, c3);
            BT_REG("btcq", qc, off, c4);
            unsigned b = bit & 63;
            bool exp = (v >> b) & 1;
            bool ok = c1 == exp && c2 == exp && c3 == exp && c4 == exp && q == v &&
                      qs == (v | (1ull << b)) && qr == (v & ~(1ull << b)) &&
                      qc == (v ^ (1ull << b));
            uint32_t l = (uint32_t)v, ls = l;
            uint16_t w = (uint16_t)v, wc = w;
            uint32_t offl = bit;
            uint16_t offw = bit;
            BT_REG("btl", l, offl, c1);
            BT_REG("btsl", ls, offl, c2);
            BT_REG("btw", w, offw, c3);
            BT_REG("btcw", wc, offw, c4);
            ok &=
                c1 == (((uint32_t)v >> (bit & 31)) & 1) && ls == ((uint32_t)v | (1u << (bit & 31)));
            ok &= c3 == (((uint16_t)v >> (bit & 15)) & 1) &&
                  wc == (uint16_t)((uint16_t)v ^ (1u << (bit & 15)));
            n++;
            if (!ok && bad++ < 3)
                gprintf("  bt reg v=0x%lx bit=%u\n", v, bit);
        }
    }
    CHECK(bad == 0, "bt_btx_register (%u cases)", n);
}

static void test_bt_mem(void)
{
    static uint8_t buf[64] ALIGNED(16);
    uint8_t *mid = buf + 32;
    unsigned bad = 0, n = 0;
    /* Register offset with a memory operand: the offset is a signed bit index
     * relative to the operand's address, any distance away. */
    for (int64_t off = -200; off < 200; off += 7) {
        for (int sz = 0; sz < 3; sz++) {
            memset(buf, 0x5a, sizeof(buf));
            uint8_t cf, cfs, cfr, cfc;
            int64_t byte = off >> 3;
            int bit = off & 7;
            if (byte + 32 < 0 || byte + 32 >= 64 || byte + 32 - 8 < 0 || byte + 32 + 8 > 64)
                continue;
            bool exp = (mid[byte] >> bit) & 1;
            if (sz == 0) {
                __asm__ volatile("btq %1, (%2); setc %0"
                                 : "=q"(cf)
                                 : "r"(off), "r"(mid)
                                 : "cc", "memory");
                __asm__ volatile("btsq %1, (%2); setc %0"
                                 : "=q"(cfs)
                                 : "r"(off), "r"(mid)
                                 : "cc", "memory");
            } else if (sz == 1) {
                int32_t o32 = (int32_t)off;
                __asm__ volatile("btl %1, (%2); setc %0"
                                 : "=q"(cf)
                                 : "r"(o32), "r"(mid)
                                 : "cc", "memory");
                __asm__ volatile("btsl %1, (%2); setc %0"
                                 : "=q"(cfs)
                                 : "r"(o32), "r"(mid)
                                 : "cc", "memory");
            } else {
                int16_t o16 = (int16_t)off;
                __asm__ volatile("btw %1, (%2); setc %0"
                                 : "=q"(cf)
                                 : "r"(o16), "r"(mid)
                                 : "cc", "memory");
                __asm__ volatile("btsw %1, (%2); setc %0"
                                 : "=q"(cfs)
                                 : "r"(o16), "r"(mid)
                                 : "cc", "memory");
            }
            bool ok = cf == exp && cfs == exp && ((mid[byte] >> bit) & 1);
            __asm__ volatile("btrq %1, (%2); setc %0"
                             : "=q"(cfr)
                             : "r"(off), "r"(mid)
                             : "cc", "memory");
            ok &= cfr == 1 && !((mid[byte] >> bit) & 1);
            __asm__ volatile("btcq %1, (%2); setc %0"
                             : "=q"(cfc)
                             : "r"(off), "r"(mid)
                             : "cc", "memory");
            ok &= cfc == 0 && ((mid[byte] >> bit) & 1);
            /* Nothing else changed. */
            for (int i = 0; i < 64; i++)
                if (buf + i != mid + byte && buf[i] != 0x5a)
                    ok = false;
            n++;
            if (!ok && bad++ < 3)
                gprintf("  bt mem off=%ld size=%d\n", off, sz);
        }
    }
    CHECK(bad == 0, "bt_btx_memory_bitstring (%u cases)", n);

    /* Immediate offsets are taken modulo the operand size (no bit string). */
    static volatile uint32_t m32 = 0;
    uint8_t cf;
    __asm__ volatile("btsl $35, %1; setc %0" : "=q"(cf), "+m"(m32)::"cc");
    CHECK(m32 == 8 && cf == 0, "bts_imm_mod32");
    static volatile uint64_t m64 = 0;
    __asm__ volatile("btsq $67, %1; setc %0" : "=q"(cf), "+m"(m64)::"cc");
    CHECK(m64 == 8 && cf == 0, "bts_imm_mod64");
}

static void test_scan(void)
{
    unsigned bad = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
        uint64_t v = vals[i], r, f;
        /* BSF/BSR: ZF=1 iff source is 0; otherwise index of lowest/highest 1. */
        r = 0x77;
        __asm__ volatile("bsfq %2, %0; pushfq; pop %1" : "+r"(r), "=r"(f) : "r"(v) : "cc");
        bool ok = v ? (r == (uint64_t)__builtin_ctzll(v) && !(f & RFLAGS_ZF)) : (f & RFLAGS_ZF);
        r = 0x77;
        __asm__ volatile("bsrq %2, %0; pushfq; pop %1" : "+r"(r), "=r"(f) : "r"(v) : "cc");
        ok &=
            v ? (r == (uint64_t)(63 - __builtin_clzll(v)) && !(f & RFLAGS_ZF)) : !!(f & RFLAGS_ZF);
        uint32_t v32 = (uint32_t)v, r32 = 0;
        __asm__ volatile("bsfl %2, %0; pushfq; pop %1" : "+r"(r32), "=r"(f) : "r"(v32) : "cc");
        ok &= v32 ? (r32 == (uint32_t)__builtin_ctz(v32) && !(f & RFLAGS_ZF)) : !!(f & RFLAGS_ZF);
        uint16_t v16 = (uint16_t)v, r16 = 0;
        __asm__ volatile("bsrw %2, %0; pushfq; pop %1" : "+r"(r16), "=r"(f) : "r"(v16) : "cc");
        ok &= v16 ? (r16 == 31 - __builtin_clz(v16) && !(f & RFLAGS_ZF)) : !!(f & RFLAGS_ZF);
        if (!ok && bad++ < 3)
            gprintf("  bsf/bsr v=0x%lx\n", v);
    }
    CHECK(bad == 0, "bsf_bsr");

    if (HAS_LZCNT()) {
        bad = 0;
        for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
            uint64_t v = vals[i], r, f;
            __asm__ volatile("lzcntq %2, %0; pushfq; pop %1" : "=r"(r), "=r"(f) : "r"(v) : "cc");
            uint64_t e = v ? (uint64_t)__builtin_clzll(v) : 64;
            bool ok = r == e && !!(f & RFLAGS_CF) == (v == 0) && !!(f & RFLAGS_ZF) == (e == 0);
            uint16_t v16 = (uint16_t)v, r16;
            __asm__ volatile("lzcntw %2, %0; pushfq; pop %1"
                             : "=r"(r16), "=r"(f)
                             : "r"(v16)
                             : "cc");
            uint16_t e16 = v16 ? __builtin_clz(v16) - 16 : 16;
            ok &= r16 == e16 && !!(f & RFLAGS_CF) == (v16 == 0) && !!(f & RFLAGS_ZF) == (e16 == 0);
            if (!ok && bad++ < 3)
                gprintf("  lzcnt v=0x%lx r=%lu\n", v, r);
        }
        CHECK(bad == 0, "lzcnt");
    } else {
        SKIP("CPUID.80000001H:ECX.ABM[bit 5] = 0", "lzcnt");
    }
    if (HAS_BMI1()) {
        bad = 0;
        for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
            uint64_t v = vals[i], r, f;
            __asm__ volatile("tzcntq %2, %0; pushfq; pop %1" : "=r"(r), "=r"(f) : "r"(v) : "cc");
            uint64_t e = v ? (uint64_t)__builtin_ctzll(v) : 64;
            bool ok = r == e && !!(f & RFLAGS_CF) == (v == 0) && !!(f & RFLAGS_ZF) == (e == 0);
            uint32_t v32 = (uint32_t)v, r32;
            __asm__ volatile("tzcntl %2, %0; pushfq; pop %1"
                             : "=r"(r32), "=r"(f)
                             : "r"(v32)
                             : "cc");
            uint32_t e32 = v32 ? __builtin_ctz(v32) : 32;
            ok &= r32 == e32 && !!(f & RFLAGS_CF) == (v32 == 0);
            if (!ok && bad++ < 3)
                gprintf("  tzcnt v=0x%lx r=%lu\n", v, r);
        }
        CHECK(bad == 0, "tzcnt");
    } else {
        SKIP("CPUID.7:EBX.BMI1 = 0", "tzcnt");
    }
    if (HAS_POPCNT()) {
        bad = 0;
        for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
            uint64_t v = vals[i], r, f;
            /* POPCNT clears OF SF AF CF PF; ZF = (source == 0). */
            __asm__ volatile("stc; popcntq %2, %0; pushfq; pop %1"
                             : "=r"(r), "=r"(f)
                             : "r"(v)
                             : "cc");
            bool ok =
                r == (uint64_t)__builtin_popcountll(v) && (f & RFLAGS_ARITH) == (v ? 0 : RFLAGS_ZF);
            uint16_t v16 = (uint16_t)v, r16;
            __asm__ volatile("popcntw %1, %0" : "=r"(r16) : "r"(v16) : "cc");
            ok &= r16 == __builtin_popcount(v16);
            if (!ok && bad++ < 3)
                gprintf("  popcnt v=0x%lx r=%lu f=0x%lx\n", v, r, f);
        }
        CHECK(bad == 0, "popcnt");
    } else {
        SKIP("CPUID.1:ECX.POPCNT = 0", "popcnt");
    }
}

void guest_main(struct multiboot_info *mbi)
{
    test_bt_reg();
    test_bt_mem();
    test_scan();
}
