/* Bit instructions (BT*, BSF/BSR, LZCNT/TZCNT/POPCNT, SHLD/SHRD), atomics
 * (CMPXCHG*, XADD), group 9 (RDRAND/RDSEED/RDPID), MOVBE, BMI1/BMI2, ARPL and
 * the BCD instructions. Flags per the SDM instruction pages; where the SDM
 * leaves a flag undefined the value chosen is documented at the site. */
#include "cpu_internal.h"

static void set_szp(struct cpu *cpu, int size, uint64_t r, uint64_t cf_of, uint64_t mask)
{
    uint64_t m = size_mask(size);
    r &= m;
    uint64_t f = cf_of | (r == 0 ? FL_ZF : 0) | ((r >> (size * 8 - 1)) & 1 ? FL_SF : 0) |
                 (parity8((uint8_t)r) ? FL_PF : 0);
    set_flags_explicit(cpu, f, mask);
}

/* ---- BT/BTS/BTR/BTC (SDM "BT": bit base + bit offset) ---- */

static void bt_common(struct cpu *cpu, const struct insn *in, int op, uint64_t offset, bool imm)
{
    int size = in->opsize, bits = size * 8;
    uint64_t v, r;
    if (in->mod == 3) {
        unsigned b = (unsigned)(offset & (bits - 1));
        v = get_reg(cpu, in->rm, size, in->rex);
        bool cf = (v >> b) & 1;
        switch (op) {
        case 1:
            r = v | (1ull << b);
            break;
        case 2:
            r = v & ~(1ull << b);
            break;
        case 3:
            r = v ^ (1ull << b);
            break;
        default:
            r = v;
            break;
        }
        if (op)
            set_reg(cpu, in->rm, size, in->rex, r);
        set_flags_explicit(cpu, cf ? FL_CF : 0, FL_CF);
        return;
    }
    /* memory: a register offset is signed and may address beyond the
     * operand; an immediate offset is taken modulo the operand size */
    uint64_t ea = insn_ea(cpu, in);
    int64_t off = imm ? (int64_t)(offset & (bits - 1)) : (int64_t)sext(offset, size);
    int64_t word = off >> (size == 2 ? 4 : size == 4 ? 5 : 6);
    unsigned b = (unsigned)(off & (bits - 1));
    ea = (ea + (uint64_t)(word * size)) & size_mask(in->addrsize);
    v = seg_read(cpu, in->seg, ea, size);
    bool cf = (v >> b) & 1;
    if (op) {
        switch (op) {
        case 1:
            r = v | (1ull << b);
            break;
        case 2:
            r = v & ~(1ull << b);
            break;
        default:
            r = v ^ (1ull << b);
            break;
        }
        seg_write(cpu, in->seg, ea, size, r);
    }
    set_flags_explicit(cpu, cf ? FL_CF : 0, FL_CF);
}

static void op_bt_reg(struct cpu *cpu, const struct insn *in) /* 0F A3/AB/B3/BB */
{
    int op = in->opcode == 0xa3 ? 0 : in->opcode == 0xab ? 1 : in->opcode == 0xb3 ? 2 : 3;
    bt_common(cpu, in, op, reg_read(cpu, in, in->opsize), false);
}

static void op_grp8(struct cpu *cpu, const struct insn *in) /* 0F BA /4-/7 ib */
{
    int r = (in->modrm >> 3) & 7;
    if (r < 4)
        op_ud(cpu, in);
    bt_common(cpu, in, r - 4, in->imm, true);
}

/* ---- BSF/BSR, TZCNT/LZCNT, POPCNT ---- */

static void op_bsf_bsr(struct cpu *cpu, const struct insn *in) /* 0F BC/BD, F3: TZCNT/LZCNT */
{
    int size = in->opsize, bits = size * 8;
    uint64_t v = rm_read(cpu, in, size);
    bool fwd = in->opcode == 0xbc;
    if (in->rep == 0xf3) {
        uint64_t n;
        if (v == 0)
            n = (uint64_t)bits;
        else if (fwd)
            n = (uint64_t)__builtin_ctzll(v);
        else
            n = (uint64_t)(__builtin_clzll(v) - (64 - bits));
        reg_write(cpu, in, size, n);
        /* CF: source zero (TZCNT/LZCNT); ZF: result zero; others undefined */
        set_flags_explicit(cpu, (v == 0 ? FL_CF : 0) | (n == 0 ? FL_ZF : 0), FL_CF | FL_ZF);
        return;
    }
    if (v == 0) {
        /* destination unchanged (Intel), ZF = 1; CF/OF/SF/AF/PF undefined:
         * Intel leaves them... we clear them with ZF set */
        set_flags_explicit(cpu, FL_ZF, FL_ARITH);
        if (size == 4)
            reg_write(cpu, in, 4, get_reg(cpu, in->reg, 4, true)); /* zero-extends (Intel) */
        return;
    }
    uint64_t n = fwd ? (uint64_t)__builtin_ctzll(v) : (uint64_t)(63 - __builtin_clzll(v));
    reg_write(cpu, in, size, n);
    set_flags_explicit(cpu, 0, FL_ARITH);
}

static void op_popcnt(struct cpu *cpu, const struct insn *in) /* F3 0F B8 */
{
    if (in->rep != 0xf3)
        op_ud(cpu, in); /* JMPE */
    int size = in->opsize;
    uint64_t v = rm_read(cpu, in, size);
    uint64_t n = (uint64_t)__builtin_popcountll(v);
    reg_write(cpu, in, size, n);
    set_flags_explicit(cpu, v == 0 ? FL_ZF : 0, FL_ARITH);
}

/* ---- SHLD/SHRD ---- */

static void op_shld_shrd(struct cpu *cpu, const struct insn *in) /* 0F A4/A5/AC/AD */
{
    int size = in->opsize, bits = size * 8;
    bool left = in->opcode < 0xa8;
    unsigned count = (in->opcode & 1) ? (unsigned)(cpu->regs[R_RCX] & 0xff) : (unsigned)in->imm;
    count &= size == 8 ? 63 : 31;
    uint64_t ea = 0;
    uint64_t d;
    if (in->mod == 3) {
        d = get_reg(cpu, in->rm, size, in->rex);
    } else {
        ea = insn_ea(cpu, in);
        d = seg_read(cpu, in->seg, ea, size);
    }
    if (count == 0) {
        /* no flags change, but a 32-bit destination is still written
         * (zero-extended in 64-bit mode), as on Intel processors */
        if (in->mod == 3)
            set_reg(cpu, in->rm, size, in->rex, d);
        return;
    }
    uint64_t s = reg_read(cpu, in, size);
    uint64_t m = size_mask(size), r;
    bool cf;
    if (size == 2 && count > 16) {
        /* undefined result: Intel shifts through a 48-bit src:dst:src */
        unsigned __int128 x = left ? (((unsigned __int128)d << 32) | (s << 16) | d)
                                   : (((unsigned __int128)d << 32) | (s << 16) | d);
        if (left) {
            unsigned __int128 y = ((unsigned __int128)((d << 32) | (s << 16) | d)) << count;
            r = (uint64_t)(y >> 32) & m;
            cf = (uint64_t)(y >> 48) & 1;
        } else {
            uint64_t z = (s << 32) | (d << 16) | s; /* bits: s:d:s? low = d */
            z = (d) | (s << 16) | (d << 32);
            r = (z >> count) & m;
            cf = (z >> (count - 1)) & 1;
        }
        (void)x;
    } else if (left) {
        unsigned __int128 y = (((unsigned __int128)d << bits) | s) << count;
        r = (uint64_t)(y >> bits) & m;
        cf = (d >> (bits - count)) & 1;
    } else {
        unsigned __int128 y = (((unsigned __int128)s << bits) | d) >> count;
        r = (uint64_t)y & m;
        cf = (d >> (count - 1)) & 1;
    }
    /* OF defined for 1-bit shifts: sign change; computed the same otherwise */
    bool of = ((r ^ d) >> (bits - 1)) & 1;
    set_szp(cpu, size, r, (cf ? FL_CF : 0) | (of ? FL_OF : 0), FL_ARITH);
    if (in->mod == 3)
        set_reg(cpu, in->rm, size, in->rex, r);
    else
        seg_write(cpu, in->seg, ea, size, r);
}

/* ---- CMPXCHG, XADD, CMPXCHG8B/16B ---- */

static void op_cmpxchg(struct cpu *cpu, const struct insn *in) /* 0F B0/B1 */
{
    int size = (in->opcode & 1) ? in->opsize : 1;
    uint64_t m = size_mask(size);
    uint64_t acc = get_reg(cpu, R_RAX, size, true);
    uint64_t ea = 0, d;
    if (in->mod == 3) {
        d = get_reg(cpu, in->rm, size, in->rex);
    } else {
        ea = insn_ea(cpu, in);
        d = seg_read(cpu, in->seg, ea, size);
        seg_probe_write(cpu, in->seg, ea, size);
    }
    set_lazy(cpu, LF_SUB, size, acc, d, (acc - d) & m);
    if (acc == d) {
        uint64_t s = reg_read(cpu, in, size);
        if (in->mod == 3)
            set_reg(cpu, in->rm, size, in->rex, s);
        else
            seg_write(cpu, in->seg, ea, size, s);
    } else {
        /* the destination is written back with its own value (SDM) */
        if (in->mod != 3)
            seg_write(cpu, in->seg, ea, size, d);
        set_reg(cpu, R_RAX, size, true, d);
    }
}

static void op_xadd(struct cpu *cpu, const struct insn *in) /* 0F C0/C1 */
{
    int size = (in->opcode & 1) ? in->opsize : 1;
    uint64_t m = size_mask(size);
    uint64_t s = reg_read(cpu, in, size);
    if (in->mod == 3) {
        uint64_t d = get_reg(cpu, in->rm, size, in->rex);
        uint64_t r = (d + s) & m;
        set_lazy(cpu, LF_ADD, size, d, s, r);
        reg_write(cpu, in, size, d);
        set_reg(cpu, in->rm, size, in->rex, r);
        return;
    }
    uint64_t ea = insn_ea(cpu, in);
    uint64_t d = seg_read(cpu, in->seg, ea, size);
    uint64_t r = (d + s) & m;
    seg_write(cpu, in->seg, ea, size, r);
    set_lazy(cpu, LF_ADD, size, d, s, r);
    reg_write(cpu, in, size, d);
}

static uint64_t next_random(struct cpu *cpu)
{
    /* splitmix64: deterministic, seeded per vCPU at reset */
    uint64_t z = (cpu->rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void op_grp9(struct cpu *cpu, const struct insn *in) /* 0F C7 */
{
    int r = (in->modrm >> 3) & 7;
    if (in->mod != 3) {
        if (r == 1) { /* CMPXCHG8B / CMPXCHG16B */
            bool q = in->opsize == 8;
            int half = q ? 8 : 4;
            uint64_t ea = insn_ea(cpu, in);
            if (q) {
                uint64_t la = seg_linear(cpu, in->seg, ea, 16, ACC_WRITE);
                if (la & 15)
                    raise_gp0(cpu);
            }
            uint64_t lo = seg_read(cpu, in->seg, ea, half);
            uint64_t hi = seg_read(cpu, in->seg, (ea + half) & size_mask(in->addrsize), half);
            seg_probe_write(cpu, in->seg, ea, half);
            seg_probe_write(cpu, in->seg, (ea + half) & size_mask(in->addrsize), half);
            uint64_t a = get_reg(cpu, R_RAX, half, true), d = get_reg(cpu, R_RDX, half, true);
            bool eq = lo == a && hi == d;
            if (eq) {
                seg_write(cpu, in->seg, ea, half, get_reg(cpu, R_RBX, half, true));
                seg_write(cpu, in->seg, (ea + half) & size_mask(in->addrsize), half,
                          get_reg(cpu, R_RCX, half, true));
            } else {
                seg_write(cpu, in->seg, ea, half, lo);
                seg_write(cpu, in->seg, (ea + half) & size_mask(in->addrsize), half, hi);
                set_reg(cpu, R_RAX, half, true, lo);
                set_reg(cpu, R_RDX, half, true, hi);
            }
            set_flags_explicit(cpu, eq ? FL_ZF : 0, FL_ZF);
            return;
        }
        /* VMPTRLD/VMCLEAR/VMXON (/6), VMPTRST (/7): in VMX non-root
         * operation they exit unconditionally once CR4.VMXE = 1 */
        if ((r == 6 || r == 7) && (cpu->cr4 & CR4_VMXE)) {
            uint32_t reason = r == 7             ? EXIT_REASON_VMPTRST
                              : in->mand == 0x66 ? EXIT_REASON_VMCLEAR
                              : in->mand == 0xf3 ? EXIT_REASON_VMXON
                                                 : EXIT_REASON_VMPTRLD;
            exit_instruction(cpu, reason, insn_exit_displacement(cpu, in), insn_info_operand(in));
        }
        if ((r == 3 || r == 5) && !in->mand) { /* XRSTORS, XSAVES (fxsave.c) */
            op_xsaves(cpu, in, r == 3);
            return;
        }
        op_ud(cpu, in);
    }
    if (r == 7 && in->rep == 0xf3) { /* RDPID */
        set_reg(cpu, in->rm, cpu_long64(cpu) ? 8 : 4, true, cpu->tsc_aux);
        return;
    }
    if ((r == 6 || r == 7) && !in->rep) { /* RDRAND / RDSEED */
        uint64_t bit = r == 6 ? PROC2_RDRAND_EXITING : PROC2_RDSEED_EXITING;
        if ((cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) && (cpu->ctl.proc2 & bit)) {
            uint32_t info = ((uint32_t)in->rm << 3) | ((uint32_t)(in->opsize == 2   ? 0
                                                                  : in->opsize == 4 ? 1
                                                                                    : 2)
                                                       << 11);
            exit_instruction(cpu, r == 6 ? EXIT_REASON_RDRAND : EXIT_REASON_RDSEED, 0, info);
        }
        set_reg(cpu, in->rm, in->opsize, in->rex, next_random(cpu));
        set_flags_explicit(cpu, FL_CF, FL_ARITH);
        return;
    }
    op_ud(cpu, in);
}

/* ---- MOVBE (0F38 F0/F1) and BMI (VEX 0F38 F2-F7, 0F3A F0) ---- */

static void op_0f38_f0f1(struct cpu *cpu, const struct insn *in)
{
    if (in->vex || in->rep == 0xf2 || in->mod == 3)
        op_ud(cpu, in); /* CRC32 is not implemented (SSE4.2 not advertised) */
    int size = in->opsize;
    if (in->opcode == 0xf0) {
        uint64_t v = seg_read(cpu, in->seg, insn_ea(cpu, in), size);
        v = size == 2   ? __builtin_bswap16((uint16_t)v)
            : size == 4 ? __builtin_bswap32((uint32_t)v)
                        : __builtin_bswap64(v);
        reg_write(cpu, in, size, v);
    } else {
        uint64_t v = reg_read(cpu, in, size);
        v = size == 2   ? __builtin_bswap16((uint16_t)v)
            : size == 4 ? __builtin_bswap32((uint32_t)v)
                        : __builtin_bswap64(v);
        seg_write(cpu, in->seg, insn_ea(cpu, in), size, v);
    }
}

static inline int vex_size(const struct cpu *cpu, const struct insn *in)
{
    return (cpu_long64(cpu) && in->vex_w) ? 8 : 4;
}

static void bmi_logic_flags(struct cpu *cpu, int size, uint64_t r, bool cf)
{
    /* ZF, SF from the result; CF as given; OF cleared; AF/PF undefined
     * (cleared) */
    uint64_t f = (cf ? FL_CF : 0) | ((r & size_mask(size)) == 0 ? FL_ZF : 0) |
                 ((r >> (size * 8 - 1)) & 1 ? FL_SF : 0);
    set_flags_explicit(cpu, f, FL_ARITH);
}

static void op_bmi(struct cpu *cpu, const struct insn *in)
{
    if (!in->vex || in->vex_l || cpu->mode == CPU_MODE_REAL || cpu->mode == CPU_MODE_VM86)
        op_ud(cpu, in);
    int size = vex_size(cpu, in);
    uint64_t m = size_mask(size);
    int bits = size * 8;
    uint64_t src = rm_read(cpu, in, size);
    uint64_t v = get_reg(cpu, in->vvvv, size, true);
    uint64_t r;
    if (in->map == 3) { /* RORX F2 0F3A F0 */
        if (in->mand != 0xf2)
            op_ud(cpu, in);
        unsigned c = (unsigned)(in->imm & (bits - 1));
        r = c ? ((src >> c) | (src << (bits - c))) & m : src;
        reg_write(cpu, in, size, r);
        return;
    }
    switch (in->opcode) {
    case 0xf2: /* ANDN */
        if (in->mand)
            op_ud(cpu, in);
        r = ~v & src & m;
        reg_write(cpu, in, size, r);
        bmi_logic_flags(cpu, size, r, false);
        return;
    case 0xf3: { /* group 17: BLSR /1, BLSMSK /2, BLSI /3 */
        if (in->mand)
            op_ud(cpu, in);
        int op = (in->modrm >> 3) & 7;
        bool cf = false;
        r = 0;
        if (op == 1) {
            r = src & (src - 1);
            cf = src == 0;
        } else if (op == 2) {
            r = src ^ (src - 1);
            cf = src == 0;
        } else if (op == 3) {
            r = src & (0 - src);
            cf = src != 0;
        } else {
            op_ud(cpu, in);
        }
        r &= m;
        set_reg(cpu, in->vvvv, size, true, r);
        bmi_logic_flags(cpu, size, r, cf);
        if (op == 2)
            set_flags_explicit(cpu, 0, FL_ZF); /* BLSMSK: ZF cleared */
        return;
    }
    case 0xf5:
        if (in->mand == 0) { /* BZHI */
            unsigned n = (unsigned)(v & 0xff);
            r = n < (unsigned)bits ? src & ((1ull << n) - 1) : src;
            reg_write(cpu, in, size, r & m);
            bmi_logic_flags(cpu, size, r, n > (unsigned)bits - 1);
        } else if (in->mand == 0xf3) { /* PEXT: src2 is the mask */
            uint64_t mask = src, k = 0;
            r = 0;
            for (int i = 0; i < bits; i++)
                if ((mask >> i) & 1)
                    r |= ((v >> i) & 1) << k++;
            reg_write(cpu, in, size, r);
        } else if (in->mand == 0xf2) { /* PDEP */
            uint64_t mask = src, k = 0;
            r = 0;
            for (int i = 0; i < bits; i++)
                if ((mask >> i) & 1)
                    r |= ((v >> k++) & 1) << i;
            reg_write(cpu, in, size, r);
        } else {
            op_ud(cpu, in);
        }
        return;
    case 0xf6: { /* MULX (F2): rdx * src -> hi:reg, lo:vvvv; no flags */
        if (in->mand != 0xf2)
            op_ud(cpu, in);
        uint64_t d = get_reg(cpu, R_RDX, size, true);
        unsigned __int128 p = (unsigned __int128)d * src;
        uint64_t lo = (uint64_t)p & m,
                 hi = size == 8 ? (uint64_t)(p >> 64) : (uint64_t)(p >> 32) & m;
        set_reg(cpu, in->vvvv, size, true, lo);
        reg_write(cpu, in, size, hi); /* hi written last: wins when regs equal */
        return;
    }
    case 0xf7: {
        unsigned c = (unsigned)(v & (bits - 1));
        if (in->mand == 0) { /* BEXTR: start v[7:0], length v[15:8] */
            unsigned start = (unsigned)(v & 0xff), len = (unsigned)((v >> 8) & 0xff);
            r = start < (unsigned)bits ? src >> start : 0;
            if (len < 64)
                r &= (1ull << len) - 1;
            r &= m;
            reg_write(cpu, in, size, r);
            bmi_logic_flags(cpu, size, r, false);
        } else if (in->mand == 0x66) { /* SHLX */
            reg_write(cpu, in, size, (src << c) & m);
        } else if (in->mand == 0xf3) { /* SARX */
            reg_write(cpu, in, size, (uint64_t)((int64_t)sext(src, size) >> c) & m);
        } else { /* SHRX */
            reg_write(cpu, in, size, (src >> c) & m);
        }
        return;
    }
    default:
        op_ud(cpu, in);
    }
}

/* ---- ARPL (63 outside 64-bit mode) ---- */

void op_arpl(struct cpu *cpu, const struct insn *in)
{
    if (!cpu_protected(cpu) || cpu->mode == CPU_MODE_VM86)
        op_ud(cpu, in);
    uint64_t d = rm_read(cpu, in, 2);
    uint64_t s = reg_read(cpu, in, 2);
    if ((d & 3) < (s & 3)) {
        rm_write(cpu, in, 2, (d & ~3ull) | (s & 3));
        set_flags_explicit(cpu, FL_ZF, FL_ZF);
    } else {
        set_flags_explicit(cpu, 0, FL_ZF);
    }
}

/* ---- BCD (SDM DAA/DAS/AAA/AAS/AAM/AAD pseudo-code) ---- */

static void op_daa_das(struct cpu *cpu, const struct insn *in) /* 27, 2F */
{
    uint64_t f = flags_materialize(cpu);
    uint8_t al = (uint8_t)cpu->regs[R_RAX], old_al = al;
    bool old_cf = f & FL_CF, cf = false, af = false;
    bool sub = in->opcode == 0x2f;
    if ((al & 0xf) > 9 || (f & FL_AF)) {
        cf = old_cf || (sub ? al < 6 : al > 0xf9);
        al = sub ? (uint8_t)(al - 6) : (uint8_t)(al + 6);
        af = true;
    }
    if (old_al > 0x99 || old_cf) {
        al = sub ? (uint8_t)(al - 0x60) : (uint8_t)(al + 0x60);
        cf = true;
    }
    set_reg(cpu, R_RAX, 1, true, al);
    /* OF undefined: cleared */
    set_szp(cpu, 1, al, (cf ? FL_CF : 0) | (af ? FL_AF : 0), FL_ARITH);
}

static void op_aaa_aas(struct cpu *cpu, const struct insn *in) /* 37, 3F */
{
    uint64_t f = flags_materialize(cpu);
    uint16_t ax = (uint16_t)cpu->regs[R_RAX];
    bool adj = ((ax & 0xf) > 9) || (f & FL_AF);
    if (adj) {
        if (in->opcode == 0x37)
            ax = (uint16_t)(ax + 0x106);
        else
            ax = (uint16_t)(((ax - 6) & 0xff) | ((ax - 0x100) & 0xff00));
    }
    ax = (uint16_t)((ax & 0xff0f));
    set_reg(cpu, R_RAX, 2, true, ax);
    /* OF, SF, ZF, PF undefined: computed from AL like Intel */
    uint64_t af_cf = adj ? (FL_AF | FL_CF) : 0;
    set_szp(cpu, 1, ax & 0xff, af_cf, FL_ARITH);
}

static void op_aam(struct cpu *cpu, const struct insn *in) /* D4 ib */
{
    uint8_t base = (uint8_t)in->imm;
    if (base == 0)
        raise_exception_noerr(cpu, EXC_DE);
    uint8_t al = (uint8_t)cpu->regs[R_RAX];
    uint8_t ah = al / base;
    al = al % base;
    set_reg(cpu, R_RAX, 2, true, ((uint16_t)ah << 8) | al);
    set_szp(cpu, 1, al, 0, FL_ARITH); /* OF, AF, CF undefined: cleared */
}

static void op_aad(struct cpu *cpu, const struct insn *in) /* D5 ib */
{
    uint8_t base = (uint8_t)in->imm;
    uint16_t ax = (uint16_t)cpu->regs[R_RAX];
    uint8_t al = (uint8_t)((ax & 0xff) + ((ax >> 8) * base));
    set_reg(cpu, R_RAX, 2, true, al);
    set_szp(cpu, 1, al, 0, FL_ARITH);
}

static void op_salc(struct cpu *cpu, const struct insn *in) /* D6 */
{
    set_reg(cpu, R_RAX, 1, true, flag_cf(cpu) ? 0xff : 0);
}

void register_ops_bits(insn_fn *t0, insn_fn *t1, insn_fn *t38, insn_fn *t3a)
{
    t1[0xa3] = t1[0xab] = t1[0xb3] = t1[0xbb] = op_bt_reg;
    t1[0xba] = op_grp8;
    t1[0xbc] = t1[0xbd] = op_bsf_bsr;
    t1[0xb8] = op_popcnt;
    t1[0xa4] = t1[0xa5] = t1[0xac] = t1[0xad] = op_shld_shrd;
    t1[0xb0] = t1[0xb1] = op_cmpxchg;
    t1[0xc0] = t1[0xc1] = op_xadd;
    t1[0xc7] = op_grp9;
    t38[0xf0] = t38[0xf1] = op_0f38_f0f1;
    t38[0xf2] = t38[0xf3] = t38[0xf5] = t38[0xf6] = t38[0xf7] = op_bmi;
    t3a[0xf0] = op_bmi;
    t0[0x27] = t0[0x2f] = op_daa_das;
    t0[0x37] = t0[0x3f] = op_aaa_aas;
    t0[0xd4] = op_aam;
    t0[0xd5] = op_aad;
    t0[0xd6] = op_salc;
}
