/* BCD/ASCII adjust instructions DAA DAS AAA AAS AAM AAD in compatibility
 * mode, checked against the SDM pseudocode (Vol. 2A), and #UD for each of
 * them in 64-bit mode; AAM 0 raises #DE. Flags the SDM leaves undefined are
 * not compared (OF for DAA/DAS; OF SF ZF PF for AAA/AAS; OF AF CF for
 * AAM/AAD). AAA/AAS inputs whose result differs between the "AX +/- 106H"
 * and older "AL +/- 6, AH +/- 1" descriptions are avoided. */
#include "guest.h"

__asm__(".pushsection .text\n"
        ".code32\n"
        "c32_daa: daa\n lret\n"
        "c32_das: das\n lret\n"
        "c32_aaa: aaa\n lret\n"
        "c32_aas: aas\n lret\n"
        "c32_aam10: aam\n lret\n"
        "c32_aam16: aam $16\n lret\n"
        "c32_aam0: aam $0\n lret\n"
        "c32_aad10: aad\n lret\n"
        "c32_aad7: aad $7\n lret\n"
        ".code64\n"
        ".popsection\n");
extern char c32_daa[], c32_das[], c32_aaa[], c32_aas[], c32_aam10[], c32_aam16[], c32_aam0[],
    c32_aad10[], c32_aad7[];

static uint32_t szp8(uint8_t r)
{
    return (r == 0 ? RFLAGS_ZF : 0) | (r & 0x80 ? RFLAGS_SF : 0) |
           (__builtin_popcount(r) & 1 ? 0 : RFLAGS_PF);
}

static void run(void *fn, uint32_t eax, uint32_t fin, uint32_t *eax_out, uint32_t *f_out)
{
    struct regs32 r = {.eax = eax, .eflags = fin};
    call32(fn, &r);
    *eax_out = r.eax;
    *f_out = r.eflags;
}

static void test_daa_das(void)
{
    unsigned bad_daa = 0, bad_das = 0;
    for (unsigned al = 0; al < 256; al++) {
        for (unsigned fl = 0; fl < 4; fl++) {
            uint32_t fin = 0x2 | (fl & 1 ? RFLAGS_CF : 0) | (fl & 2 ? RFLAGS_AF : 0);
            bool cf = fl & 1, af = fl & 2;
            uint32_t eax, f;
            /* DAA */
            uint8_t a = al;
            bool ncf = false, naf = false;
            if ((al & 0xf) > 9 || af) {
                ncf = cf || (al + 6 > 0xff);
                a = (uint8_t)(al + 6);
                naf = true;
            }
            if (al > 0x99 || cf) {
                a = (uint8_t)(a + 0x60);
                ncf = true;
            } else {
                ncf = false;
            }
            uint32_t ef = szp8(a) | (ncf ? RFLAGS_CF : 0) | (naf ? RFLAGS_AF : 0);
            uint32_t mask = RFLAGS_ARITH & ~RFLAGS_OF;
            run(c32_daa, 0x1200 | al, fin, &eax, &f);
            if ((eax & 0xffff) != (0x1200u | a) || (f & mask) != ef) {
                if (bad_daa++ < 3)
                    gprintf("  daa al=0x%x cf=%d af=%d: got 0x%x f=0x%x want 0x%x f=0x%x\n", al, cf,
                            af, eax, f, a, ef);
            }
            /* DAS */
            a = al;
            ncf = false;
            naf = false;
            if ((al & 0xf) > 9 || af) {
                ncf = cf || (al < 6);
                a = (uint8_t)(al - 6);
                naf = true;
            }
            if (al > 0x99 || cf) {
                a = (uint8_t)(a - 0x60);
                ncf = true;
            }
            ef = szp8(a) | (ncf ? RFLAGS_CF : 0) | (naf ? RFLAGS_AF : 0);
            run(c32_das, 0x3400 | al, fin, &eax, &f);
            if ((eax & 0xffff) != (0x3400u | a) || (f & mask) != ef) {
                if (bad_das++ < 3)
                    gprintf("  das al=0x%x cf=%d af=%d: got 0x%x f=0x%x want 0x%x f=0x%x\n", al, cf,
                            af, eax, f, a, ef);
            }
        }
    }
    CHECK(bad_daa == 0, "daa_all_inputs");
    CHECK(bad_das == 0, "das_all_inputs");
}

static void test_aaa_aas(void)
{
    unsigned bad = 0, n = 0;
    for (unsigned al = 0; al < 256; al++) {
        for (unsigned af = 0; af < 2; af++) {
            bool adj = (al & 0xf) > 9 || af;
            uint32_t fin = 0x2 | (af ? RFLAGS_AF : 0);
            uint32_t eax, f, mask = RFLAGS_AF | RFLAGS_CF;
            if (!(adj && al > 0xf9)) { /* AL + 6 would carry into AH */
                uint32_t ax = 0x0500 | al;
                uint32_t e = adj ? (((ax + 0x106) & 0xff00) | ((al + 6) & 0xf)) : (ax & 0xff0f);
                run(c32_aaa, ax, fin, &eax, &f);
                n++;
                if ((eax & 0xffff) != e || (f & mask) != (adj ? mask : 0))
                    if (bad++ < 3)
                        gprintf("  aaa ax=0x%x af=%u: got 0x%x f=0x%x want 0x%x\n", ax, af, eax, f,
                                e);
            }
            if (!(adj && al < 6)) { /* AL - 6 would borrow from AH */
                uint32_t ax = 0x0500 | al;
                uint32_t e = adj ? (((ax - 0x100) & 0xff00) | ((al - 6) & 0xf)) : (ax & 0xff0f);
                run(c32_aas, ax, fin, &eax, &f);
                n++;
                if ((eax & 0xffff) != e || (f & mask) != (adj ? mask : 0))
                    if (bad++ < 3)
                        gprintf("  aas ax=0x%x af=%u: got 0x%x f=0x%x want 0x%x\n", ax, af, eax, f,
                                e);
            }
        }
    }
    CHECK(bad == 0, "aaa_aas (%u cases)", n);
}

static void test_aam_aad(void)
{
    unsigned bad = 0;
    uint32_t mask = RFLAGS_SF | RFLAGS_ZF | RFLAGS_PF;
    for (unsigned al = 0; al < 256; al++) {
        uint32_t eax, f;
        run(c32_aam10, 0xee00 | al, 0x2, &eax, &f);
        uint8_t l = al % 10, h = al / 10;
        if ((eax & 0xffff) != ((uint32_t)h << 8 | l) || (f & mask) != szp8(l))
            bad++;
        run(c32_aam16, al, 0x2, &eax, &f);
        if ((eax & 0xffff) != ((al >> 4) << 8 | (al & 0xf)))
            bad++;
        unsigned ah = (al * 7) & 0xff;
        run(c32_aad10, ah << 8 | al, 0x2, &eax, &f);
        uint8_t r = (uint8_t)(al + ah * 10);
        if ((eax & 0xffff) != r || (f & mask) != szp8(r))
            bad++;
        run(c32_aad7, ah << 8 | al, 0x2, &eax, &f);
        if ((eax & 0xffff) != (uint8_t)(al + ah * 7))
            bad++;
    }
    CHECK(bad == 0, "aam_aad (%u bad)", bad);
    struct regs32 r = {.eax = 5, .eflags = 2};
    CHECK_EXC(call32(c32_aam0, &r), DE_VECTOR, 0, "aam0_de");
}

void guest_main(struct multiboot_info *mbi)
{
    test_daa_das();
    test_aaa_aas();
    test_aam_aad();
    /* All six are invalid in 64-bit mode. */
    CHECK_EXC(__asm__ volatile(".byte 0x27"), UD_VECTOR, 0, "daa_64bit_ud");
    CHECK_EXC(__asm__ volatile(".byte 0x2f"), UD_VECTOR, 0, "das_64bit_ud");
    CHECK_EXC(__asm__ volatile(".byte 0x37"), UD_VECTOR, 0, "aaa_64bit_ud");
    CHECK_EXC(__asm__ volatile(".byte 0x3f"), UD_VECTOR, 0, "aas_64bit_ud");
    CHECK_EXC(__asm__ volatile(".byte 0xd4, 0x0a"), UD_VECTOR, 0, "aam_64bit_ud");
    CHECK_EXC(__asm__ volatile(".byte 0xd5, 0x0a"), UD_VECTOR, 0, "aad_64bit_ud");
}
