/* The x86-64 instruction decoder (SDM Vol. 2, chapter 2 "Instruction
 * Format" and Appendix A "Opcode Map"). It computes prefixes, operand and
 * address sizes, ModR/M + SIB + displacement and immediates; the handler for
 * the opcode is chosen by exec.c. This is the only decoder in nvmx: L0's
 * instruction emulation uses it too (BRIEF decision 7). */
#include "cpu_internal.h"

enum imm_kind { I_NONE, I_B, I_W, I_Z, I_V, I_AP, I_MOFFS, I_WB, I_BU };

#define NM 0x80  /* flag: has ModR/M */
#define O64 0x40 /* flag: invalid in 64-bit mode */
#define D64 0x20 /* flag: operand size defaults to 64 in 64-bit mode */
#define F64 0x10 /* flag: operand size forced to 64 in 64-bit mode */

/* One-byte opcode map: bits 3:0 = imm_kind, plus flags. */
static const uint8_t map0[256] = {
    /* 00 */ NM,
    NM,
    NM,
    NM,
    I_B,
    I_Z,
    O64,
    O64,
    NM,
    NM,
    NM,
    NM,
    I_B,
    I_Z,
    O64,
    0,
    /* 10 */ NM,
    NM,
    NM,
    NM,
    I_B,
    I_Z,
    O64,
    O64,
    NM,
    NM,
    NM,
    NM,
    I_B,
    I_Z,
    O64,
    O64,
    /* 20 */ NM,
    NM,
    NM,
    NM,
    I_B,
    I_Z,
    0,
    O64,
    NM,
    NM,
    NM,
    NM,
    I_B,
    I_Z,
    0,
    O64,
    /* 30 */ NM,
    NM,
    NM,
    NM,
    I_B,
    I_Z,
    0,
    O64,
    NM,
    NM,
    NM,
    NM,
    I_B,
    I_Z,
    0,
    O64,
    /* 40 */ 0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    /* 50 */ D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    D64,
    /* 60 */ O64,
    O64,
    NM | O64,
    NM,
    0,
    0,
    0,
    0,
    I_Z | D64,
    NM | I_Z,
    I_B | D64,
    NM | I_B,
    0,
    0,
    0,
    0,
    /* 70 */ I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    /* 78 */ I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    /* 80 */ NM | I_B,
    NM | I_Z,
    NM | I_B | O64,
    NM | I_B,
    NM,
    NM,
    NM,
    NM,
    NM,
    NM,
    NM,
    NM,
    NM,
    NM,
    NM,
    /* 8F */ NM | D64,
    /* 90 */ 0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    I_AP | O64,
    0,
    D64,
    D64,
    0,
    0,
    /* A0 */ I_MOFFS,
    I_MOFFS,
    I_MOFFS,
    I_MOFFS,
    0,
    0,
    0,
    0,
    I_B,
    I_Z,
    0,
    0,
    0,
    0,
    0,
    0,
    /* B0 */ I_B,
    I_B,
    I_B,
    I_B,
    I_B,
    I_B,
    I_B,
    I_B,
    I_V,
    I_V,
    I_V,
    I_V,
    I_V,
    I_V,
    I_V,
    I_V,
    /* C0 */ NM | I_BU,
    NM | I_BU,
    I_W | F64,
    F64,
    NM | O64,
    NM | O64,
    NM | I_B,
    NM | I_Z,
    /* C8 */ I_WB | D64,
    D64,
    I_W,
    0,
    0,
    I_BU,
    O64,
    0,
    /* D0 */ NM,
    NM,
    NM,
    NM,
    I_BU | O64,
    I_BU | O64,
    O64,
    0,
    NM,
    NM,
    NM,
    NM,
    NM,
    NM,
    NM,
    NM,
    /* E0 */ I_B | F64,
    I_B | F64,
    I_B | F64,
    I_B | F64,
    I_BU,
    I_BU,
    I_BU,
    I_BU,
    /* E8 */ I_Z | F64,
    I_Z | F64,
    I_AP | O64,
    I_B | F64,
    0,
    0,
    0,
    0,
    /* F0 */ 0,
    0,
    0,
    0,
    0,
    0,
    NM,
    NM,
    0,
    0,
    0,
    0,
    0,
    0,
    NM,
    NM,
};

/* Two-byte (0F) map, same encoding as map0. */
static const uint8_t map1[256] = {
    /* 00 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00, 0x00,
    0x00,          0x00, 0x80, 0x00, 0x80, 0x80, 0x00, 0x80,
    /* 10 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* 20 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* 30 */ 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* 40 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* 50 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* 60 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* 70 */ 0x88, 0x88, 0x88, 0x88, 0x80, 0x80, 0x80, 0x00,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* 80 */ 0x13, 0x13, 0x13, 0x13, 0x13, 0x13, 0x13, 0x13,
    0x13,          0x13, 0x13, 0x13, 0x13, 0x13, 0x13, 0x13,
    /* 90 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* A0 */ 0x20, 0x20, 0x00, 0x80, 0x88, 0x80, 0x80, 0x80,
    0x20,          0x20, 0x00, 0x80, 0x88, 0x80, 0x80, 0x80,
    /* B0 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x88, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* C0 */ 0x80, 0x80, 0x88, 0x80, 0x88, 0x88, 0x88, 0x80,
    0x00,          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    /* D0 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* E0 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    /* F0 */ 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80,          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
};

static inline int mode_is64(int mode)
{
    return mode == CPU_MODE_LONG64;
}

/* Returns 0 on success; -1000 when bytes run out; -EXC_UD / -EXC_GP. */
int decode_insn(const uint8_t *b, size_t avail, int mode, bool cs_d, struct insn *in)
{
    memset(in, 0, sizeof(*in));
    in->seg = SEG_NONE;
    in->base = -1;
    in->index = -1;
    size_t p = 0;
    bool is64 = mode_is64(mode);
    bool def32 = is64 || cs_d;
    bool pfx67 = false;
    size_t limit = avail < 15 ? avail : 15;

#define NEED(n)                                                                                    \
    do {                                                                                           \
        if (p + (n) > limit)                                                                       \
            return (p + (n) > 15) ? -EXC_GP : -1000;                                               \
    } while (0)

    /* Legacy prefixes (SDM 2.1.1), any order; REX must come last. */
    for (;;) {
        NEED(1);
        uint8_t c = b[p];
        switch (c) {
        case 0x66:
            in->pfx66 = 1;
            if (!in->mand || in->mand == 0x66)
                in->mand = 0x66;
            break;
        case 0x67:
            pfx67 = true;
            break;
        case 0xf0:
            in->lock = 1;
            break;
        case 0xf2:
        case 0xf3:
            in->rep = c;
            in->mand = c;
            break;
        case 0x26:
            in->seg = is64 ? in->seg : S_ES;
            break;
        case 0x2e:
            in->seg = is64 ? in->seg : S_CS;
            break;
        case 0x36:
            in->seg = is64 ? in->seg : S_SS;
            break;
        case 0x3e:
            in->seg = is64 ? in->seg : S_DS;
            break;
        case 0x64:
            in->seg = S_FS;
            break;
        case 0x65:
            in->seg = S_GS;
            break;
        default:
            if (is64 && (c & 0xf0) == 0x40) {
                /* REX counts only immediately before the opcode: a legacy
                 * prefix after it cancels it (SDM 2.2.1) */
                in->rex = c;
                p++;
                continue;
            }
            goto prefixes_done;
        }
        in->rex = 0;
        p++;
    }
prefixes_done:
    in->addrsize = is64 ? (pfx67 ? 4 : 8) : ((def32 ^ pfx67) ? 4 : 2);
    in->opsize = (def32 ^ in->pfx66) ? 4 : 2;
    if (in->rex & 8)
        in->opsize = 8;

    uint8_t op = b[p++];
    uint8_t flags;
    int map = 0;
    if (op == 0x0f) {
        NEED(1);
        op = b[p++];
        map = 1;
        if (op == 0x38 || op == 0x3a) {
            map = op == 0x38 ? 2 : 3;
            NEED(1);
            op = b[p++];
            flags = NM | (map == 3 ? I_BU : 0);
        } else {
            flags = map1[op];
        }
    } else if ((op == 0xc4 || op == 0xc5) && (is64 || (p < limit && (b[p] & 0xc0) == 0xc0))) {
        /* VEX (SDM 2.3). Only VEX.L0 GPR instructions (BMI1/BMI2) are
         * implemented; the handler tables decide validity. */
        if (in->rex || in->pfx66 || in->rep || in->lock)
            return -EXC_UD;
        in->vex = 1;
        uint8_t r, x = 1, bb = 1, w = 0, mmmmm = 1, vvvv, l, pp;
        if (op == 0xc5) {
            NEED(1);
            uint8_t v = b[p++];
            r = v >> 7;
            vvvv = (~v >> 3) & 15;
            l = (v >> 2) & 1;
            pp = v & 3;
        } else {
            NEED(2);
            uint8_t v1 = b[p++], v2 = b[p++];
            r = v1 >> 7;
            x = (v1 >> 6) & 1;
            bb = (v1 >> 5) & 1;
            mmmmm = v1 & 31;
            w = v2 >> 7;
            vvvv = (~v2 >> 3) & 15;
            l = (v2 >> 2) & 1;
            pp = v2 & 3;
        }
        if (!is64) {
            vvvv &= 7;
            r = x = bb = 1;
        }
        in->rex = 0x40 | (w << 3) | ((!r) << 2) | ((!x) << 1) | (!bb);
        in->vvvv = vvvv;
        in->vex_l = l;
        in->vex_w = w;
        static const uint8_t ppmap[4] = {0, 0x66, 0xf3, 0xf2};
        in->mand = ppmap[pp];
        if (mmmmm < 1 || mmmmm > 3)
            return -EXC_UD;
        map = mmmmm;
        NEED(1);
        op = b[p++];
        flags = NM | (map == 3 ? I_BU : 0);
        in->opsize = (is64 && w) ? 8 : 4;
    } else {
        flags = map0[op];
        /* 0x8F /0 is POP; with other reg fields it is XOP (AMD): #UD. */
    }
    in->map = map;
    in->opcode = op;

    if (map == 0 && (op & 0xf0) == 0x40 && is64)
        return -EXC_UD; /* unreachable: REX consumed above unless after other REX */
    if ((flags & O64) && is64)
        return -EXC_UD;
    if (is64 && (flags & F64))
        in->opsize = 8;
    else if (is64 && (flags & D64))
        in->opsize = in->pfx66 && !(in->rex & 8) ? 2 : 8;

    if (flags & NM) {
        NEED(1);
        uint8_t m = b[p++];
        in->has_modrm = 1;
        in->modrm = m;
        in->mod = m >> 6;
        in->reg = ((m >> 3) & 7) | ((in->rex & 4) << 1);
        in->rm = (m & 7) | ((in->rex & 1) << 3);
        /* MOV to/from CR/DR ignore the mod field: always registers (SDM
         * Vol. 2B MOV-Move to/from Control Registers) */
        if (map == 1 && op >= 0x20 && op <= 0x23)
            in->mod = 3;
        if (in->mod != 3) {
            int rm = m & 7;
            if (in->addrsize == 2) {
                static const int8_t b16[8] = {R_RBX, R_RBX, R_RBP, R_RBP,
                                              R_RSI, R_RDI, R_RBP, R_RBX};
                static const int8_t i16[8] = {R_RSI, R_RDI, R_RSI, R_RDI, -1, -1, -1, -1};
                in->base = b16[rm];
                in->index = i16[rm];
                if (in->mod == 0 && rm == 6) {
                    in->base = -1;
                    NEED(2);
                    in->disp = (int16_t)(b[p] | (b[p + 1] << 8));
                    p += 2;
                } else if (in->mod == 1) {
                    NEED(1);
                    in->disp = (int8_t)b[p++];
                } else if (in->mod == 2) {
                    NEED(2);
                    in->disp = (int16_t)(b[p] | (b[p + 1] << 8));
                    p += 2;
                }
                if (in->seg == SEG_NONE && in->base == R_RBP)
                    in->seg = S_SS;
            } else {
                int base;
                if (rm == 4) {
                    NEED(1);
                    uint8_t sib = b[p++];
                    in->scale = sib >> 6;
                    int idx = ((sib >> 3) & 7) | ((in->rex & 2) << 2);
                    in->index = idx == 4 ? -1 : idx;
                    base = sib & 7;
                    if (base == 5 && in->mod == 0) {
                        in->base = -1;
                        NEED(4);
                        in->disp = (int32_t)(b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) |
                                             ((uint32_t)b[p + 3] << 24));
                        p += 4;
                        goto disp_done;
                    }
                    in->base = base | ((in->rex & 1) << 3);
                } else if (rm == 5 && in->mod == 0) {
                    NEED(4);
                    in->disp = (int32_t)(b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) |
                                         ((uint32_t)b[p + 3] << 24));
                    p += 4;
                    in->riprel = is64;
                    goto disp_done;
                } else {
                    in->base = rm | ((in->rex & 1) << 3);
                }
                if (in->mod == 1) {
                    NEED(1);
                    in->disp = (int8_t)b[p++];
                } else if (in->mod == 2) {
                    NEED(4);
                    in->disp = (int32_t)(b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) |
                                         ((uint32_t)b[p + 3] << 24));
                    p += 4;
                }
            disp_done:
                if (in->seg == SEG_NONE && (in->base == R_RSP || in->base == R_RBP))
                    in->seg = S_SS;
            }
        }
    }
    if (in->seg == SEG_NONE)
        in->seg = S_DS;

    /* Immediates. F6/F7 have one only for /0 and /1 (TEST). */
    int ik = flags & 0x0f;
    if (map == 0 && (op == 0xf6 || op == 0xf7))
        ik = ((in->modrm >> 3) & 6) == 0 ? (op == 0xf6 ? I_B : I_Z) : I_NONE;
    switch (ik) {
    case I_B:
        NEED(1);
        in->imm = (uint64_t)(int64_t)(int8_t)b[p++];
        break;
    case I_BU:
        NEED(1);
        in->imm = b[p++];
        break;
    case I_W:
        NEED(2);
        in->imm = b[p] | (b[p + 1] << 8);
        p += 2;
        break;
    case I_WB:
        NEED(3);
        in->imm = b[p] | (b[p + 1] << 8);
        in->imm2 = b[p + 2];
        p += 3;
        break;
    case I_Z:
        if (in->opsize == 2) {
            NEED(2);
            in->imm = (uint64_t)(int64_t)(int16_t)(b[p] | (b[p + 1] << 8));
            p += 2;
        } else {
            NEED(4);
            in->imm = (uint64_t)(int64_t)(int32_t)(b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) |
                                                   ((uint32_t)b[p + 3] << 24));
            p += 4;
        }
        break;
    case I_V: {
        int n = in->opsize;
        NEED(n);
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
            v |= (uint64_t)b[p + i] << (8 * i);
        in->imm = v;
        p += n;
        break;
    }
    case I_AP: {
        int n = in->opsize == 2 ? 2 : 4;
        NEED(n + 2);
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
            v |= (uint64_t)b[p + i] << (8 * i);
        in->imm = v;
        in->imm2 = b[p + n] | (b[p + n + 1] << 8);
        p += n + 2;
        break;
    }
    case I_MOFFS: {
        int n = in->addrsize;
        NEED(n);
        uint64_t v = 0;
        for (int i = 0; i < n; i++)
            v |= (uint64_t)b[p + i] << (8 * i);
        in->imm = v;
        p += n;
        break;
    }
    default:
        break;
    }
    in->len = (uint8_t)p;
#undef NEED
    return 0;
}
