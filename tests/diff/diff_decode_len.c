/* Differential test of instruction lengths: nvmx's decoder against Zydis
 * for random byte sequences in 64-, 32- and 16-bit modes, limited to the
 * instruction sets nvmx decodes (legacy general-purpose and system, x87,
 * MMX, SSE/SSE2 and the other legacy-map extensions, VEX-encoded BMI1/2).
 * Without libzydis-dev it prints SKIP. */
#include <stdio.h>
#include <string.h>

#include "cpu/cpu.h"

#ifndef HAVE_ZYDIS
int main(void)
{
    printf("SKIP: diff/decode-len (libzydis-dev not installed)\n");
    return 0;
}
#else
#include <Zydis/Zydis.h>

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Zydis categories nvmx's decoder is meant to cover. */
static bool comparable(const ZydisDecodedInstruction *in)
{
    switch (in->encoding) {
    case ZYDIS_INSTRUCTION_ENCODING_LEGACY:
        /* AMD-only extensions have other encodings on Intel processors
         * (66/F2 0F 78 is EXTRQ/INSERTQ on AMD, VMREAD + #UD on Intel) */
        if (in->meta.isa_ext == ZYDIS_ISA_EXT_SSE4A)
            return false;
        break;
    case ZYDIS_INSTRUCTION_ENCODING_VEX:
        return in->meta.isa_ext == ZYDIS_ISA_EXT_BMI1 || in->meta.isa_ext == ZYDIS_ISA_EXT_BMI2;
    default:
        return false; /* 3DNow!, XOP, EVEX, MVEX */
    }
    return true;
}

int main(void)
{
    static const struct {
        ZydisMachineMode zm;
        ZydisStackWidth sw;
        int mode;
        const char *name;
    } modes[] = {
        {ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64, CPU_MODE_LONG64, "64"},
        {ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32, CPU_MODE_PROT32, "32"},
        {ZYDIS_MACHINE_MODE_LEGACY_16, ZYDIS_STACK_WIDTH_16, CPU_MODE_REAL, "16"},
    };
    static const uint8_t prefixes[] = {0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x64, 0x48, 0x41, 0x4c};
    int failures = 0;
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        ZydisDecoder dec;
        ZydisDecoderInit(&dec, modes[m].zm, modes[m].sw);
        int compared = 0, mismatches = 0;
        for (int i = 0; i < 300000 && mismatches < 10; i++) {
            uint8_t b[15];
            for (int k = 0; k < 15; k++)
                b[k] = (uint8_t)rnd();
            int p = 0;
            int npfx = (int)(rnd() % 3);
            for (int k = 0; k < npfx; k++) {
                uint8_t pf = prefixes[rnd() % sizeof(prefixes)];
                if (modes[m].mode != CPU_MODE_LONG64 && (pf & 0xf0) == 0x40)
                    continue;
                b[p++] = pf;
            }
            uint64_t sel = rnd() % 4;
            if (sel == 1)
                b[p] = 0x0f;
            else if (sel == 2) {
                b[p] = 0x0f;
                b[p + 1] = (rnd() & 1) ? 0x38 : 0x3a;
            }
            ZydisDecodedInstruction zi;
            ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
            if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, b, 15, &zi, ops)))
                continue;
            if (!comparable(&zi))
                continue;
            int ours = cpu_decode_length(b, 15, modes[m].mode);
            if (ours == -1)
                continue; /* rejected by design (#UD in nvmx): not a length question */
            compared++;
            if (ours != zi.length) {
                mismatches++;
                printf("FAIL: diff/decode-len-%s: bytes", modes[m].name);
                for (int k = 0; k < zi.length || k < ours; k++)
                    printf(" %02x", b[k]);
                printf(": zydis %d, nvmx %d (%s)\n", zi.length, ours,
                       ZydisMnemonicGetString(zi.mnemonic));
            }
        }
        if (mismatches)
            failures++;
        else
            printf("PASS: diff/decode-len-%s (%d instructions compared)\n", modes[m].name,
                   compared);
    }
    return failures ? 1 : 0;
}
#endif
