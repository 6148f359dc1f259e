/* String instructions (SDM Vol. 1 7.3.9, Vol. 2 MOVS/STOS/LODS/SCAS/CMPS,
 * REP/REPE/REPNE): all element sizes, DF=0 and DF=1, RCX=0, the final
 * RCX/RSI/RDI, flags of the last comparison, 32-bit address size, and a
 * REP MOVS that page-faults midway: the fault reports the registers of the
 * faulting iteration, and the instruction resumes and completes after the
 * handler maps the page (SDM 7.3.9.3 / Vol. 2B REP). */
#include "guest.h"

static uint8_t src[512] ALIGNED(64), dst[512] ALIGNED(64);

static void fill(void)
{
    for (unsigned i = 0; i < sizeof(src); i++) {
        src[i] = (uint8_t)(i * 7 + 3);
        dst[i] = 0xee;
    }
}

static void test_movs(void)
{
    static const int sizes[] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++) {
        int sz = sizes[k];
        for (int df = 0; df < 2; df++) {
            fill();
            uint64_t n = 40, rsi, rdi, rcx = n;
            /* DF=1: start at the last element and walk down. */
            uint8_t *s = df ? src + 64 + (n - 1) * sz : src + 64;
            uint8_t *d = df ? dst + 64 + (n - 1) * sz : dst + 64;
            rsi = (uint64_t)s;
            rdi = (uint64_t)d;
            switch (sz) {
            case 1:
                __asm__ volatile("cmp $0, %4; je 1f; std; 1: rep movsb; cld"
                                 : "+S"(rsi), "+D"(rdi), "+c"(rcx)
                                 : "m"(src), "r"(df)
                                 : "memory", "cc");
                break;
            case 2:
                __asm__ volatile("cmp $0, %4; je 1f; std; 1: rep movsw; cld"
                                 : "+S"(rsi), "+D"(rdi), "+c"(rcx)
                                 : "m"(src), "r"(df)
                                 : "memory", "cc");
                break;
            case 4:
                __asm__ volatile("cmp $0, %4; je 1f; std; 1: rep movsl; cld"
                                 : "+S"(rsi), "+D"(rdi), "+c"(rcx)
                                 : "m"(src), "r"(df)
                                 : "memory", "cc");
                break;
            default:
                __asm__ volatile("cmp $0, %4; je 1f; std; 1: rep movsq; cld"
                                 : "+S"(rsi), "+D"(rdi), "+c"(rcx)
                                 : "m"(src), "r"(df)
                                 : "memory", "cc");
                break;
            }
            int64_t step = df ? -(int64_t)(n * sz) : (int64_t)(n * sz);
            bool ok = rcx == 0 && rsi == (uint64_t)s + step && rdi == (uint64_t)d + step &&
                      memcmp(dst + 64, src + 64, n * sz) == 0 && dst[63] == 0xee &&
                      dst[64 + n * sz] == 0xee;
            CHECK(ok, "rep_movs%d_df%d", sz * 8, df);
        }
    }
    /* RCX = 0: nothing happens, registers unchanged. */
    fill();
    uint64_t rsi = (uint64_t)src, rdi = (uint64_t)dst, rcx = 0;
    __asm__ volatile("rep movsb" : "+S"(rsi), "+D"(rdi), "+c"(rcx)::"memory");
    CHECK(rcx == 0 && rsi == (uint64_t)src && rdi == (uint64_t)dst && dst[0] == 0xee,
          "rep_movs_rcx0_noop");
    /* Without REP: one element. */
    rsi = (uint64_t)src;
    rdi = (uint64_t)dst;
    __asm__ volatile("movsq" : "+S"(rsi), "+D"(rdi)::"memory");
    CHECK(rsi == (uint64_t)src + 8 && rdi == (uint64_t)dst + 8 && memcmp(dst, src, 8) == 0 &&
              dst[8] == 0xee,
          "movsq_single");
    /* 32-bit address size (67h): ECX/ESI/EDI are used. */
    fill();
    rsi = (uint64_t)src;
    rdi = (uint64_t)dst;
    rcx = 0xffffffff00000010ull;
    __asm__ volatile("addr32 rep movsb" : "+S"(rsi), "+D"(rdi), "+c"(rcx)::"memory");
    CHECK((uint32_t)rcx == 0 && memcmp(dst, src, 16) == 0 && dst[16] == 0xee,
          "rep_movs_addr32_uses_ecx");
    CHECK(rsi == (uint64_t)src + 16 && rdi == (uint64_t)dst + 16, "rep_movs_addr32_esi_edi");
}

static void test_stos_lods_scas_cmps(void)
{
    fill();
    uint64_t rdi = (uint64_t)dst, rcx = 10;
    __asm__ volatile("rep stosq" : "+D"(rdi), "+c"(rcx) : "a"(0x0102030405060708ull) : "memory");
    bool ok = rcx == 0 && rdi == (uint64_t)dst + 80 && dst[80] == 0xee;
    for (int i = 0; i < 10; i++)
        ok &= ((uint64_t *)dst)[i] == 0x0102030405060708ull;
    CHECK(ok, "rep_stosq");
    rdi = (uint64_t)dst + 99;
    rcx = 20;
    __asm__ volatile("std; rep stosb; cld" : "+D"(rdi), "+c"(rcx) : "a"(0x5a) : "memory");
    ok = rcx == 0 && rdi == (uint64_t)dst + 79 && dst[80] == 0x5a && dst[99] == 0x5a &&
         dst[79] != 0x5a;
    CHECK(ok, "rep_stosb_df1");

    uint64_t rsi = (uint64_t)src, rax = 0xffffffffffffffffull;
    __asm__ volatile("lodsw" : "+S"(rsi), "+a"(rax)::"memory");
    CHECK(rax == (0xffffffffffff0000ull | *(uint16_t *)src) && rsi == (uint64_t)src + 2,
          "lodsw_merges_low16");
    rsi = (uint64_t)src;
    __asm__ volatile("lodsl" : "+S"(rsi), "=a"(rax)::"memory");
    CHECK(rax == *(uint32_t *)src, "lodsl_zero_extends");

    /* REPNE SCASB: find a byte; RCX counts down including the match. */
    static char text[] = "hello, string world";
    rdi = (uint64_t)text;
    rcx = sizeof(text);
    uint64_t f;
    __asm__ volatile("repne scasb; pushfq; pop %2"
                     : "+D"(rdi), "+c"(rcx), "=r"(f)
                     : "a"(',')
                     : "cc");
    CHECK(rdi == (uint64_t)text + 6 && rcx == sizeof(text) - 6 && (f & RFLAGS_ZF),
          "repne_scasb_found");
    rdi = (uint64_t)text;
    rcx = 5;
    __asm__ volatile("repne scasb; pushfq; pop %2"
                     : "+D"(rdi), "+c"(rcx), "=r"(f)
                     : "a"('#')
                     : "cc");
    CHECK(rcx == 0 && rdi == (uint64_t)text + 5 && !(f & RFLAGS_ZF), "repne_scasb_not_found");

    /* REPE CMPSB: stops after the first mismatch, flags of that compare. */
    static char a[] = "abcdefgh", b[] = "abcdXfgh";
    rsi = (uint64_t)a;
    rdi = (uint64_t)b;
    rcx = 8;
    __asm__ volatile("repe cmpsb; pushfq; pop %3" : "+S"(rsi), "+D"(rdi), "+c"(rcx), "=r"(f)::"cc");
    /* 'e' - 'X' = 0x65 - 0x58 > 0: no borrow, not zero. */
    CHECK(rcx == 3 && rsi == (uint64_t)a + 5 && rdi == (uint64_t)b + 5 && !(f & RFLAGS_ZF) &&
              !(f & RFLAGS_CF),
          "repe_cmpsb_mismatch");
    /* All equal: runs until RCX = 0 with ZF=1. */
    rsi = (uint64_t)src;
    rdi = (uint64_t)src;
    rcx = 8;
    __asm__ volatile("repe cmpsq; pushfq; pop %3" : "+S"(rsi), "+D"(rdi), "+c"(rcx), "=r"(f)::"cc");
    CHECK(rcx == 0 && (f & RFLAGS_ZF) && rsi == (uint64_t)src + 64, "repe_cmpsq_all_equal");
}

/* ------------------------------------------- REP MOVS across a #PF */

static volatile uint64_t pf_rcx, pf_rsi, pf_rdi, pf_cr2, pf_count;
static uint64_t pf_map_va, pf_map_pa;
static void pf_handler(struct frame *f)
{
    pf_count++;
    pf_rcx = f->rcx;
    pf_rsi = f->rsi;
    pf_rdi = f->rdi;
    pf_cr2 = read_cr2();
    if (pf_count > 4) {
        exc_recover(f);
        return;
    }
    map_page(pf_map_va, pf_map_pa, PTE_P | PTE_W);
}

static void test_rep_fault(void)
{
    /* Destination: VA page 0 present, VA page 1 not present. */
    uint8_t *p0 = alloc_page(), *p1 = alloc_page();
    uint64_t va = TEST_VA_BASE + 0x10000;
    map_page(va, (uint64_t)p0, PTE_P | PTE_W);
    unmap_page(va + 4096);
    pf_map_va = va + 4096;
    pf_map_pa = (uint64_t)p1;
    static uint8_t big[8192] ALIGNED(4096);
    for (unsigned i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i ^ (i >> 8));

    set_handler(PF_VECTOR, pf_handler);
    pf_count = 0;
    uint64_t start = va + 4096 - 100; /* 100 bytes before the missing page */
    uint64_t rsi = (uint64_t)big, rdi = start, rcx = 300;
    __asm__ volatile("rep movsb" : "+S"(rsi), "+D"(rdi), "+c"(rcx)::"memory");
    set_handler(PF_VECTOR, NULL);
    CHECK_EQ(pf_count, 1, "rep_movsb_fault_once");
    CHECK_EQ(pf_cr2, va + 4096, "rep_movsb_fault_cr2");
    CHECK_EQ(pf_rcx, 200, "rep_movsb_fault_rcx_remaining");
    CHECK_EQ(pf_rdi, va + 4096, "rep_movsb_fault_rdi");
    CHECK_EQ(pf_rsi, (uint64_t)big + 100, "rep_movsb_fault_rsi");
    CHECK(rcx == 0 && rsi == (uint64_t)big + 300 && rdi == start + 300, "rep_movsb_resumed_regs");
    CHECK(memcmp(p0 + 4096 - 100, big, 100) == 0 && memcmp(p1, big + 100, 200) == 0,
          "rep_movsb_resumed_data");

    /* Same with quadwords and DF=1, faulting on the source side. */
    unmap_page(va + 4096);
    map_page(va, (uint64_t)p0, PTE_P | PTE_W);
    memset(p1, 0, 4096);
    for (int i = 0; i < 64; i++)
        ((uint64_t *)p1)[i] = 0x1000 + i;
    for (int i = 0; i < 64; i++)
        ((uint64_t *)p0)[512 - 64 + i] = 0x2000 + i;
    static uint64_t out[128];
    memset(out, 0, sizeof(out));
    set_handler(PF_VECTOR, pf_handler);
    pf_count = 0;
    /* Copy 128 qwords downwards from va+4096+63*8 (page 1, missing). */
    rsi = va + 4096 + 63 * 8;
    rdi = (uint64_t)&out[127];
    rcx = 128;
    __asm__ volatile("std; rep movsq; cld" : "+S"(rsi), "+D"(rdi), "+c"(rcx)::"memory");
    set_handler(PF_VECTOR, NULL);
    CHECK(pf_count == 1 && pf_rcx == 128 && pf_rsi == va + 4096 + 63 * 8 &&
              pf_cr2 == va + 4096 + 63 * 8,
          "rep_movsq_df1_fault_first_element");
    bool ok = rcx == 0 && rsi == va + 4096 - 65 * 8;
    for (int i = 0; i < 64; i++)
        ok &= out[64 + i] == 0x1000u + i && out[i] == 0x2000u + i;
    CHECK(ok, "rep_movsq_df1_resumed");

    /* Fault in the middle of a REP STOSQ on the destination page. */
    unmap_page(va + 4096);
    set_handler(PF_VECTOR, pf_handler);
    pf_count = 0;
    rdi = va + 4096 - 16;
    rcx = 6;
    __asm__ volatile("rep stosq" : "+D"(rdi), "+c"(rcx) : "a"(0x7777ull) : "memory");
    set_handler(PF_VECTOR, NULL);
    CHECK(pf_count == 1 && pf_rcx == 4 && pf_rdi == va + 4096 && rcx == 0 &&
              ((uint64_t *)p1)[3] == 0x7777 && ((uint64_t *)p0)[511] == 0x7777,
          "rep_stosq_fault_resume");
}

void guest_main(struct multiboot_info *mbi)
{
    test_movs();
    test_stos_lods_scas_cmps();
    test_rep_fault();
}
