/* The x87 FPU (SDM Vol. 1 chapter 8; Vol. 2 F* instruction pages).
 *
 * Registers: cpu->fpu.st[i] holds physical register Ri (80-bit extended
 * format in bytes 0-9); TOP is FSW bits 13:11; ST(i) = R((TOP + i) & 7).
 * The tag word is kept in its abridged form (bit i: Ri non-empty), the full
 * form is derived from the values when stored (FSTENV/FSAVE).
 *
 * Arithmetic runs on the host's own x87 unit (the host is x86-64: C's long
 * double is the 80-bit format) with the guest's precision and rounding
 * control and all exceptions masked; the exception flags it raises are
 * merged into the guest's FSW. Results are bit-exact and do not depend on
 * host state. An unmasked exception sets ES and B, leaves the destination
 * unchanged (SDM 8.7), and raises #MF at the next waiting x87 instruction
 * (CR0.NE = 1; with NE = 0 nvmx behaves the same: no FERR# line is
 * modelled). */
#include <math.h>

#include "cpu_internal.h"

#define FSW_IE 0x01
#define FSW_DE 0x02
#define FSW_ZE 0x04
#define FSW_SF 0x40
#define FSW_ES 0x80
#define FSW_C0 0x100
#define FSW_C1 0x200
#define FSW_C2 0x400
#define FSW_C3 0x4000
#define FSW_B 0x8000

typedef long double f80;

static int top(const struct cpu *cpu)
{
    return (cpu->fpu.fsw >> 11) & 7;
}

static void set_top(struct cpu *cpu, int t)
{
    cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~0x3800) | ((t & 7) << 11));
}

static int phys(const struct cpu *cpu, int i)
{
    return (top(cpu) + i) & 7;
}

static bool st_valid(const struct cpu *cpu, int i)
{
    return (cpu->fpu.ftw_abridged >> phys(cpu, i)) & 1;
}

static f80 st_get(const struct cpu *cpu, int i)
{
    f80 v = 0;
    memcpy(&v, cpu->fpu.st[phys(cpu, i)], 10);
    return v;
}

static void st_set(struct cpu *cpu, int i, f80 v)
{
    int p = phys(cpu, i);
    memset(cpu->fpu.st[p], 0, 16);
    memcpy(cpu->fpu.st[p], &v, 10);
    cpu->fpu.ftw_abridged |= (uint16_t)(1u << p);
}

static f80 indefinite(void)
{
    uint8_t b[16] = {0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff}; /* QNaN indefinite */
    f80 v;
    memcpy(&v, b, sizeof(v) < 16 ? sizeof(v) : 16);
    return v;
}

/* Records exceptions; returns true if any is unmasked (then the caller
 * must not write the destination). */
static bool raise_flags(struct cpu *cpu, uint16_t flags)
{
    flags &= 0x7f;
    cpu->fpu.fsw |= flags;
    if (flags & ~cpu->fpu.fcw & 0x3f) {
        cpu->fpu.fsw |= FSW_ES | FSW_B;
        return true;
    }
    return false;
}

static bool stack_fault(struct cpu *cpu, bool overflow)
{
    cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~FSW_C1) | (overflow ? FSW_C1 : 0));
    return raise_flags(cpu, FSW_IE | FSW_SF);
}

static void fpush(struct cpu *cpu, f80 v)
{
    int t = (top(cpu) - 1) & 7;
    if ((cpu->fpu.ftw_abridged >> t) & 1) {
        if (stack_fault(cpu, true))
            return;
        v = indefinite();
    }
    set_top(cpu, t);
    st_set(cpu, 0, v);
}

static void fpop(struct cpu *cpu)
{
    cpu->fpu.ftw_abridged &= (uint16_t) ~(1u << top(cpu));
    set_top(cpu, top(cpu) + 1);
}

/* Reads ST(i); an empty register is a stack underflow. Returns false if
 * the unmasked exception must abort the instruction. */
static bool read_st(struct cpu *cpu, int i, f80 *v)
{
    if (!st_valid(cpu, i)) {
        if (stack_fault(cpu, false))
            return false;
        *v = indefinite();
        return true;
    }
    *v = st_get(cpu, i);
    return true;
}

/* ---- host x87 with the guest's control word ---- */

struct hostfp {
    uint16_t cw;
};

static void h_begin(struct cpu *cpu, struct hostfp *h)
{
    __asm__ volatile("fnstcw %0" : "=m"(h->cw));
    uint16_t cw = (uint16_t)((cpu->fpu.fcw & 0x0f00) | 0x3f); /* PC, RC; all masked */
    __asm__ volatile("fnclex\n\tfldcw %0" ::"m"(cw) : "memory");
}

static uint16_t h_end(struct hostfp *h)
{
    uint16_t sw;
    __asm__ volatile("fnstsw %0\n\tfnclex\n\tfldcw %1" : "=m"(sw) : "m"(h->cw) : "memory");
    return sw;
}

enum arith { A_ADD, A_MUL, A_COM, A_COMP, A_SUB, A_SUBR, A_DIV, A_DIVR };

/* dst = dst op src, computed on the host (volatile operands keep the
 * operation inside the control-word window). */
static f80 host_arith(struct cpu *cpu, enum arith op, f80 a, f80 b, uint16_t *flags)
{
    struct hostfp h;
    h_begin(cpu, &h);
    volatile f80 va = a, vb = b;
    f80 r;
    switch (op) {
    case A_ADD:
        r = va + vb;
        break;
    case A_MUL:
        r = va * vb;
        break;
    case A_SUB:
        r = va - vb;
        break;
    case A_SUBR:
        r = vb - va;
        break;
    case A_DIV:
        r = va / vb;
        break;
    default:
        r = vb / va;
        break;
    }
    volatile f80 vr = r;
    *flags = h_end(&h);
    return vr;
}

/* FCOM/FUCOM condition codes: C3 C2 C0 = 000 >, 001 <, 100 =, 111 unordered */
static void compare(struct cpu *cpu, f80 a, f80 b, bool quiet, bool to_eflags)
{
    struct hostfp h;
    h_begin(cpu, &h);
    volatile f80 va = a, vb = b;
    int un = isunordered(va, vb), lt = va < vb, eq = va == vb;
    uint16_t sw = h_end(&h);
    uint16_t flags = 0;
    /* ordered comparisons (FCOM) raise #IA for any NaN; FUCOM only for SNaN */
    if (un) {
        uint8_t b1[16] = {0}, b2[16] = {0};
        memcpy(b1, &a, 10);
        memcpy(b2, &b, 10);
        bool snan = (((b1[9] & 0x7f) == 0x7f && b1[8] == 0xff && !(b1[7] & 0x40)) ||
                     ((b2[9] & 0x7f) == 0x7f && b2[8] == 0xff && !(b2[7] & 0x40)));
        if (!quiet || snan)
            flags |= FSW_IE;
    }
    flags |= sw & FSW_DE;
    if (raise_flags(cpu, flags))
        return;
    if (to_eflags) {
        uint64_t f = un ? (FL_ZF | FL_PF | FL_CF) : eq ? FL_ZF : lt ? FL_CF : 0;
        set_flags_explicit(cpu, f, FL_ARITH);
        cpu->fpu.fsw &= ~FSW_C1;
        return;
    }
    uint16_t cc = un ? (FSW_C3 | FSW_C2 | FSW_C0) : eq ? FSW_C3 : lt ? FSW_C0 : 0;
    cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~(FSW_C3 | FSW_C2 | FSW_C1 | FSW_C0)) | cc);
}

/* ---- memory operands ---- */

static uint64_t ea(struct cpu *cpu, const struct insn *in)
{
    return insn_ea(cpu, in);
}

static f80 load_real(struct cpu *cpu, const struct insn *in, int size, uint16_t *flags)
{
    uint8_t b[10] = {0};
    seg_read_bytes(cpu, in->seg, ea(cpu, in), b, size);
    *flags = 0;
    if (size == 10) {
        f80 v = 0;
        memcpy(&v, b, 10);
        return v;
    }
    /* the conversion can raise #IA (SNaN) and #D on the host */
    struct hostfp h;
    h_begin(cpu, &h);
    f80 r;
    if (size == 4) {
        float f;
        memcpy(&f, b, 4);
        volatile float vf = f;
        r = vf;
    } else {
        double d;
        memcpy(&d, b, 8);
        volatile double vd = d;
        r = vd;
    }
    volatile f80 vr = r;
    *flags = h_end(&h) & (FSW_IE | FSW_DE);
    return vr;
}

static bool store_real(struct cpu *cpu, const struct insn *in, int size, f80 v)
{
    uint8_t b[10];
    if (size == 10) {
        memcpy(b, &v, 10);
    } else {
        struct hostfp h;
        h_begin(cpu, &h);
        volatile f80 vv = v;
        if (size == 4) {
            volatile float f = (float)vv;
            float ff = f;
            memcpy(b, &ff, 4);
        } else {
            volatile double d = (double)vv;
            double dd = d;
            memcpy(b, &dd, 8);
        }
        uint16_t sw = h_end(&h);
        if (raise_flags(cpu, sw & 0x3f))
            return false;
    }
    seg_write_bytes(cpu, in->seg, ea(cpu, in), b, size);
    return true;
}

static int64_t load_int(struct cpu *cpu, const struct insn *in, int size)
{
    return (int64_t)sext(seg_read(cpu, in->seg, ea(cpu, in), size), size);
}

/* FIST/FISTP/FISTTP: rounding per FCW (or truncation); out of range or NaN
 * is #IA with the integer indefinite when masked. */
static bool store_int(struct cpu *cpu, const struct insn *in, int size, f80 v, bool truncate)
{
    f80 r;
    uint16_t flags = 0;
    if (isnan(v)) {
        flags = FSW_IE;
        r = 0;
    } else if (truncate) {
        r = truncl(v);
    } else {
        switch ((cpu->fpu.fcw >> 10) & 3) {
        case 0:
            r = v - remainderl(v, 1.0L);
            break; /* nearest even */
        case 1:
            r = floorl(v);
            break;
        case 2:
            r = ceill(v);
            break;
        default:
            r = truncl(v);
            break;
        }
    }
    f80 lim = size == 2 ? 32768.0L : size == 4 ? 2147483648.0L : 9223372036854775808.0L;
    int64_t out;
    if (!flags && (r >= lim || r < -lim))
        flags = FSW_IE;
    if (flags) {
        out = size == 2 ? INT16_MIN : size == 4 ? INT32_MIN : INT64_MIN;
    } else {
        out = (int64_t)r;
        if (r != v)
            flags |= 0x20; /* precision */
    }
    if (raise_flags(cpu, flags) && (flags & FSW_IE))
        return false;
    seg_write(cpu, in->seg, ea(cpu, in), size, (uint64_t)out);
    return true;
}

/* ---- environment (FSTENV/FLDENV, FSAVE/FRSTOR): 32-bit protected-mode
 * format (28 bytes) or 16-bit (14 bytes) with operand size 16 ---- */

static uint16_t full_tag(const struct cpu *cpu)
{
    uint16_t tw = 0;
    for (int p = 0; p < 8; p++) {
        unsigned t;
        if (!((cpu->fpu.ftw_abridged >> p) & 1)) {
            t = 3;
        } else {
            const uint8_t *b = cpu->fpu.st[p];
            uint16_t exp = (uint16_t)((b[9] & 0x7f) << 8 | b[8]);
            uint64_t mant;
            memcpy(&mant, b, 8);
            if (exp == 0x7fff)
                t = 2;
            else if (exp == 0 && mant == 0)
                t = 1;
            else if (exp == 0 || !(mant >> 63))
                t = 2;
            else
                t = 0;
        }
        tw |= (uint16_t)(t << (2 * p));
    }
    return tw;
}

static int env_store(struct cpu *cpu, const struct insn *in, uint64_t at)
{
    struct fpu_state *f = &cpu->fpu;
    if (in->opsize == 2) {
        uint16_t e[7] = {f->fcw, f->fsw, full_tag(cpu), (uint16_t)f->fip, 0, (uint16_t)f->fdp, 0};
        seg_write_bytes(cpu, in->seg, at, e, 14);
        return 14;
    }
    uint32_t e[7] = {f->fcw | 0xffff0000u, f->fsw | 0xffff0000u,   full_tag(cpu) | 0xffff0000u,
                     (uint32_t)f->fip,     (uint32_t)f->fop << 16, (uint32_t)f->fdp,
                     0xffff0000u};
    seg_write_bytes(cpu, in->seg, at, e, 28);
    return 28;
}

static int env_load(struct cpu *cpu, const struct insn *in, uint64_t at)
{
    struct fpu_state *f = &cpu->fpu;
    uint16_t tw;
    int n;
    if (in->opsize == 2) {
        uint16_t e[7];
        seg_read_bytes(cpu, in->seg, at, e, 14);
        f->fcw = e[0];
        f->fsw = e[1];
        tw = e[2];
        n = 14;
    } else {
        uint32_t e[7];
        seg_read_bytes(cpu, in->seg, at, e, 28);
        f->fcw = (uint16_t)e[0];
        f->fsw = (uint16_t)e[1];
        tw = (uint16_t)e[2];
        f->fip = e[3];
        f->fdp = e[5];
        n = 28;
    }
    f->ftw_abridged = 0;
    for (int p = 0; p < 8; p++)
        if (((tw >> (2 * p)) & 3) != 3)
            f->ftw_abridged |= (uint16_t)(1u << p);
    return n;
}

/* ---- the instruction groups ---- */

static void arith_mem_or_reg(struct cpu *cpu, enum arith op, f80 src, int dst_i, bool pop_after)
{
    f80 d;
    if (!read_st(cpu, dst_i, &d))
        return;
    if (op == A_COM || op == A_COMP) {
        compare(cpu, d, src, false, false);
        if (op == A_COMP)
            fpop(cpu);
        return;
    }
    uint16_t sw;
    f80 r = host_arith(cpu, op, d, src, &sw);
    if (raise_flags(cpu, sw & 0x3f))
        return;
    st_set(cpu, dst_i, r);
    if (pop_after)
        fpop(cpu);
}

/* Constants for FLD1..FLDZ (D9 E8-EE) with the host's rounding. */
static f80 load_constant(struct cpu *cpu, int k)
{
    struct hostfp h;
    h_begin(cpu, &h);
    f80 v = 0;
    switch (k) {
    case 0:
        __asm__ volatile("fld1" : "=t"(v));
        break;
    case 1:
        __asm__ volatile("fldl2t" : "=t"(v));
        break;
    case 2:
        __asm__ volatile("fldl2e" : "=t"(v));
        break;
    case 3:
        __asm__ volatile("fldpi" : "=t"(v));
        break;
    case 4:
        __asm__ volatile("fldlg2" : "=t"(v));
        break;
    case 5:
        __asm__ volatile("fldln2" : "=t"(v));
        break;
    default:
        __asm__ volatile("fldz" : "=t"(v));
        break;
    }
    h_end(&h);
    return v;
}

/* D9 F0-FF and E0-E5: one-operand and transcendental functions, executed by
 * the host instruction itself for bit-exact results and condition codes. */
static void unary(struct cpu *cpu, uint8_t modrm)
{
    f80 a, b;
    if (!read_st(cpu, 0, &a))
        return;
    struct hostfp h;
    uint16_t sw;
    switch (modrm) {
    case 0xe0:
        st_set(cpu, 0, -a);
        cpu->fpu.fsw &= ~FSW_C1;
        return; /* FCHS */
    case 0xe1:
        st_set(cpu, 0, fabsl(a));
        cpu->fpu.fsw &= ~FSW_C1;
        return; /* FABS */
    case 0xe4:
        compare(cpu, a, 0.0L, false, false);
        return;  /* FTST */
    case 0xe5: { /* FXAM */
        uint16_t cc;
        int c = fpclassify(a);
        if (!st_valid(cpu, 0))
            cc = FSW_C3 | FSW_C0;
        else if (c == FP_NAN)
            cc = FSW_C0;
        else if (c == FP_INFINITE)
            cc = FSW_C2 | FSW_C0;
        else if (c == FP_ZERO)
            cc = FSW_C3;
        else if (c == FP_SUBNORMAL)
            cc = FSW_C3 | FSW_C2;
        else
            cc = FSW_C2;
        if (signbit(a))
            cc |= FSW_C1;
        cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~(FSW_C3 | FSW_C2 | FSW_C1 | FSW_C0)) | cc);
        return;
    }
    default:
        break;
    }
    bool two_in = modrm == 0xf1 || modrm == 0xf3 || modrm == 0xf5 || modrm == 0xf8 ||
                  modrm == 0xf9 || modrm == 0xfd;
    b = 0;
    if (two_in && !read_st(cpu, 1, &b))
        return;
    f80 r1 = a, r2 = b;
    uint16_t hsw = 0;
    h_begin(cpu, &h);
    switch (modrm) {
    case 0xf0:
        __asm__ volatile("f2xm1" : "+t"(r1));
        break;
    case 0xf1:
        __asm__ volatile("fyl2x" : "+t"(r1), "+u"(r2));
        break;
    case 0xf2:
        __asm__ volatile("fptan\n\tfnstsw %2" : "+t"(r1), "=u"(r2), "=m"(hsw));
        break;
    case 0xf3:
        __asm__ volatile("fpatan" : "+t"(r1), "+u"(r2));
        break;
    case 0xf4:
        __asm__ volatile("fxtract" : "+t"(r1), "=u"(r2));
        break;
    case 0xf5:
        __asm__ volatile("fprem1\n\tfnstsw %2" : "+t"(r1), "+u"(r2), "=m"(hsw));
        break;
    case 0xf8:
        __asm__ volatile("fprem\n\tfnstsw %2" : "+t"(r1), "+u"(r2), "=m"(hsw));
        break;
    case 0xf9:
        __asm__ volatile("fyl2xp1" : "+t"(r1), "+u"(r2));
        break;
    case 0xfa:
        __asm__ volatile("fsqrt" : "+t"(r1));
        break;
    case 0xfb:
        __asm__ volatile("fsincos\n\tfnstsw %2" : "+t"(r1), "=u"(r2), "=m"(hsw));
        break;
    case 0xfc:
        __asm__ volatile("frndint" : "+t"(r1));
        break;
    case 0xfd:
        __asm__ volatile("fscale" : "+t"(r1), "+u"(r2));
        break;
    case 0xfe:
        __asm__ volatile("fsin\n\tfnstsw %1" : "+t"(r1), "=m"(hsw));
        break;
    default:
        __asm__ volatile("fcos\n\tfnstsw %1" : "+t"(r1), "=m"(hsw));
        break;
    }
    sw = h_end(&h);
    if (raise_flags(cpu, sw & 0x3f))
        return;
    uint16_t cc = hsw & (FSW_C3 | FSW_C2 | FSW_C1 | FSW_C0);
    switch (modrm) {
    case 0xf1:
    case 0xf3:
    case 0xf9: /* result in ST(1), pop */
        st_set(cpu, 1, r1);
        fpop(cpu);
        break;
    case 0xf2:
    case 0xf4:
    case 0xfb: /* ST(0) = r1, push r2 (FPTAN pushes 1.0) */
        if ((modrm == 0xf2 || modrm == 0xfb) && (hsw & FSW_C2)) {
            cpu->fpu.fsw |= FSW_C2; /* out of range: operand unchanged */
            break;
        }
        st_set(cpu, 0, modrm == 0xf4 ? r2 : r1);
        fpush(cpu, modrm == 0xf4 ? r1 : r2);
        if (modrm == 0xfb) { /* FSINCOS: ST(1) = sin, ST(0) = cos */
            f80 sn = r1, cs = r2;
            st_set(cpu, 1, sn);
            st_set(cpu, 0, cs);
        }
        break;
    case 0xf5:
    case 0xf8:
        st_set(cpu, 0, r1);
        cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~(FSW_C3 | FSW_C2 | FSW_C1 | FSW_C0)) | cc);
        break;
    case 0xfe:
    case 0xff:
        if (hsw & FSW_C2) {
            cpu->fpu.fsw |= FSW_C2;
            break;
        }
        cpu->fpu.fsw &= ~FSW_C2;
        st_set(cpu, 0, r1);
        break;
    default:
        st_set(cpu, 0, r1);
        break;
    }
}

static bool fcmov_cond(struct cpu *cpu, int op, int opcode)
{
    bool r;
    switch (op & 3) {
    case 0:
        r = flag_cf(cpu);
        break;
    case 1:
        r = flag_zf(cpu);
        break;
    case 2:
        r = flag_cf(cpu) || flag_zf(cpu);
        break;
    default:
        r = flag_pf(cpu);
        break;
    }
    return opcode == 0xda ? r : !r;
}

/* Waiting x87 instructions first report a pending unmasked exception
 * (SDM 8.6, 8.7). */
static void check_pending(struct cpu *cpu)
{
    if (cpu->fpu.fsw & FSW_ES)
        raise_exception_noerr(cpu, EXC_MF);
}

void op_fwait_check(struct cpu *cpu)
{
    check_pending(cpu);
}

void op_x87(struct cpu *cpu, const struct insn *in) /* D8-DF */
{
    if (cpu->cr0 & (CR0_EM | CR0_TS))
        raise_exception_noerr(cpu, EXC_NM);
    int op = (in->modrm >> 3) & 7;
    uint8_t oc = in->opcode, m = in->modrm;
    /* non-waiting control instructions (FN*) skip the pending check */
    bool nowait = (oc == 0xdb && (m == 0xe2 || m == 0xe3)) || (oc == 0xdf && m == 0xe0) ||
                  (in->mod != 3 &&
                   ((oc == 0xd9 && (op == 6 || op == 7)) || (oc == 0xdd && (op == 6 || op == 7))));
    if (!nowait)
        check_pending(cpu);
    struct fpu_state *f = &cpu->fpu;
    f->fip = cpu->rip;
    f->fop = (uint16_t)(((oc & 7) << 8) | m);

    if (in->mod != 3) {
        uint64_t a = ea(cpu, in);
        f->fdp = a;
        static const enum arith ar[8] = {A_ADD, A_MUL, A_COM, A_COMP, A_SUB, A_SUBR, A_DIV, A_DIVR};
        uint16_t lf = 0;
        switch (oc) {
        case 0xd8:
        case 0xdc: { /* m32fp / m64fp arithmetic */
            f80 s = load_real(cpu, in, oc == 0xd8 ? 4 : 8, &lf);
            if (raise_flags(cpu, lf))
                return;
            arith_mem_or_reg(cpu, ar[op], s, 0, false);
            return;
        }
        case 0xda:
        case 0xde: { /* m32int / m16int arithmetic */
            f80 s = (f80)load_int(cpu, in, oc == 0xda ? 4 : 2);
            arith_mem_or_reg(cpu, ar[op], s, 0, false);
            return;
        }
        case 0xd9:
            switch (op) {
            case 0: {
                f80 v = load_real(cpu, in, 4, &lf);
                if (!raise_flags(cpu, lf))
                    fpush(cpu, v);
                return;
            }
            case 2:
            case 3: {
                f80 v;
                if (!read_st(cpu, 0, &v))
                    return;
                if (store_real(cpu, in, 4, v) && op == 3)
                    fpop(cpu);
                return;
            }
            case 4:
                env_load(cpu, in, a);
                return; /* FLDENV */
            case 5:
                f->fcw = (uint16_t)seg_read(cpu, in->seg, a, 2);
                return; /* FLDCW */
            case 6:
                env_store(cpu, in, a);
                f->fcw |= 0x3f;
                return; /* FNSTENV masks all */
            case 7:
                seg_write(cpu, in->seg, a, 2, f->fcw);
                return; /* FNSTCW */
            default:
                raise_ud(cpu);
            }
        case 0xdb:
            switch (op) {
            case 0:
                fpush(cpu, (f80)load_int(cpu, in, 4));
                return;
            case 1:
            case 2:
            case 3: {
                f80 v;
                if (!read_st(cpu, 0, &v))
                    return;
                if (store_int(cpu, in, 4, v, op == 1) && op != 2)
                    fpop(cpu);
                return;
            }
            case 5: {
                f80 v = load_real(cpu, in, 10, &lf);
                fpush(cpu, v);
                return;
            }
            case 7: {
                f80 v;
                if (!read_st(cpu, 0, &v))
                    return;
                if (store_real(cpu, in, 10, v))
                    fpop(cpu);
                return;
            }
            default:
                raise_ud(cpu);
            }
        case 0xdd:
            switch (op) {
            case 0: {
                f80 v = load_real(cpu, in, 8, &lf);
                if (!raise_flags(cpu, lf))
                    fpush(cpu, v);
                return;
            }
            case 1: {
                f80 v;
                if (!read_st(cpu, 0, &v))
                    return;
                if (store_int(cpu, in, 8, v, true))
                    fpop(cpu);
                return;
            }
            case 2:
            case 3: {
                f80 v;
                if (!read_st(cpu, 0, &v))
                    return;
                if (store_real(cpu, in, 8, v) && op == 3)
                    fpop(cpu);
                return;
            }
            case 4: { /* FRSTOR */
                int n = env_load(cpu, in, a);
                int t = top(cpu);
                for (int i = 0; i < 8; i++) {
                    uint8_t b[10];
                    seg_read_bytes(cpu, in->seg, (a + n + i * 10) & size_mask(in->addrsize), b, 10);
                    memset(f->st[(t + i) & 7], 0, 16);
                    memcpy(f->st[(t + i) & 7], b, 10);
                }
                return;
            }
            case 6: { /* FNSAVE, then FNINIT */
                int n = env_store(cpu, in, a);
                int t = top(cpu);
                for (int i = 0; i < 8; i++)
                    seg_write_bytes(cpu, in->seg, (a + n + i * 10) & size_mask(in->addrsize),
                                    f->st[(t + i) & 7], 10);
                f->fcw = 0x37f;
                f->fsw = 0;
                f->ftw_abridged = 0;
                f->fip = f->fdp = 0;
                f->fop = 0;
                return;
            }
            case 7:
                seg_write(cpu, in->seg, a, 2, f->fsw);
                return; /* FNSTSW m16 */
            default:
                raise_ud(cpu);
            }
        default: /* 0xdf */
            switch (op) {
            case 0:
                fpush(cpu, (f80)load_int(cpu, in, 2));
                return;
            case 1:
            case 2:
            case 3: {
                f80 v;
                if (!read_st(cpu, 0, &v))
                    return;
                if (store_int(cpu, in, 2, v, op == 1) && op != 2)
                    fpop(cpu);
                return;
            }
            case 4: { /* FBLD: 18 BCD digits and a sign byte */
                uint8_t b[10];
                seg_read_bytes(cpu, in->seg, a, b, 10);
                f80 v = 0;
                for (int i = 8; i >= 0; i--)
                    v = v * 100 + (b[i] >> 4) * 10 + (b[i] & 15);
                fpush(cpu, (b[9] & 0x80) ? -v : v);
                return;
            }
            case 5:
                fpush(cpu, (f80)load_int(cpu, in, 8));
                return;
            case 6: { /* FBSTP */
                f80 v;
                if (!read_st(cpu, 0, &v))
                    return;
                f80 r = v - remainderl(v, 1.0L);
                uint8_t b[10] = {0};
                if (isnan(r) || fabsl(r) >= 1e18L) {
                    if (raise_flags(cpu, FSW_IE))
                        return;
                    b[7] = 0xc0, b[8] = 0xff, b[9] = 0xff;
                } else {
                    unsigned long long u = (unsigned long long)fabsl(r);
                    for (int i = 0; i < 9; i++) {
                        b[i] = (uint8_t)((u % 10) | (((u / 10) % 10) << 4));
                        u /= 100;
                    }
                    if (signbit(r))
                        b[9] = 0x80;
                }
                seg_write_bytes(cpu, in->seg, a, b, 10);
                fpop(cpu);
                return;
            }
            default: { /* FISTP m64 */
                f80 v;
                if (!read_st(cpu, 0, &v))
                    return;
                if (store_int(cpu, in, 8, v, false))
                    fpop(cpu);
                return;
            }
            }
        }
    }

    int i = m & 7;
    switch (oc) {
    case 0xd8: { /* ST(0) = ST(0) op ST(i) */
        static const enum arith ar[8] = {A_ADD, A_MUL, A_COM, A_COMP, A_SUB, A_SUBR, A_DIV, A_DIVR};
        f80 s;
        if (!read_st(cpu, i, &s))
            return;
        arith_mem_or_reg(cpu, ar[op], s, 0, false);
        return;
    }
    case 0xdc:
    case 0xde: { /* ST(i) = ST(i) op ST(0): reversed sub/div encodings */
        static const enum arith ar[8] = {A_ADD, A_MUL, A_COM, A_COMP, A_SUBR, A_SUB, A_DIVR, A_DIV};
        if (oc == 0xde && m == 0xd9) { /* FCOMPP */
            f80 a0, a1;
            if (!read_st(cpu, 0, &a0) || !read_st(cpu, 1, &a1))
                return;
            compare(cpu, a0, a1, false, false);
            fpop(cpu);
            fpop(cpu);
            return;
        }
        if (op == 2 || op == 3) {
            if (oc == 0xde)
                raise_ud(cpu);
            f80 s;
            if (!read_st(cpu, i, &s))
                return;
            arith_mem_or_reg(cpu, ar[op], s, 0, false); /* FCOM2/FCOMP3 aliases */
            return;
        }
        f80 s;
        if (!read_st(cpu, 0, &s))
            return;
        arith_mem_or_reg(cpu, ar[op], s, i, oc == 0xde);
        return;
    }
    case 0xd9:
        if (m < 0xc8) {
            f80 v;
            if (read_st(cpu, i, &v))
                fpush(cpu, v);
            return;
        }               /* FLD ST(i) */
        if (m < 0xd0) { /* FXCH */
            f80 a0, ai;
            if (!read_st(cpu, 0, &a0) || !read_st(cpu, i, &ai))
                return;
            st_set(cpu, 0, ai);
            st_set(cpu, i, a0);
            f->fsw &= ~FSW_C1;
            return;
        }
        if (m == 0xd0)
            return; /* FNOP */
        if (m >= 0xe8 && m <= 0xee) {
            fpush(cpu, load_constant(cpu, m - 0xe8));
            return;
        }
        if (m == 0xf6) {
            set_top(cpu, top(cpu) - 1);
            f->fsw &= ~FSW_C1;
            return;
        } /* FDECSTP */
        if (m == 0xf7) {
            set_top(cpu, top(cpu) + 1);
            f->fsw &= ~FSW_C1;
            return;
        } /* FINCSTP */
        if (m == 0xe0 || m == 0xe1 || m == 0xe4 || m == 0xe5 || m >= 0xf0) {
            unary(cpu, m);
            return;
        }
        raise_ud(cpu);
    case 0xda:
        if (m == 0xe9) { /* FUCOMPP */
            f80 a0, a1;
            if (!read_st(cpu, 0, &a0) || !read_st(cpu, 1, &a1))
                return;
            compare(cpu, a0, a1, true, false);
            fpop(cpu);
            fpop(cpu);
            return;
        }
        if (op < 4) { /* FCMOVcc */
            f80 v;
            if (!read_st(cpu, i, &v))
                return;
            if (fcmov_cond(cpu, op, oc))
                st_set(cpu, 0, v);
            return;
        }
        raise_ud(cpu);
    case 0xdb:
        if (op < 4) {
            f80 v;
            if (!read_st(cpu, i, &v))
                return;
            if (fcmov_cond(cpu, op, oc))
                st_set(cpu, 0, v);
            return;
        }
        if (m == 0xe2) {
            f->fsw &= 0x7f00;
            return;
        }                /* FNCLEX */
        if (m == 0xe3) { /* FNINIT */
            f->fcw = 0x37f;
            f->fsw = 0;
            f->ftw_abridged = 0;
            f->fip = f->fdp = 0;
            f->fop = 0;
            return;
        }
        if (m == 0xe0 || m == 0xe1 || m == 0xe4)
            return;               /* FENI/FDISI/FSETPM: no-ops */
        if (op == 5 || op == 6) { /* FUCOMI / FCOMI */
            f80 a0, ai;
            if (!read_st(cpu, 0, &a0) || !read_st(cpu, i, &ai))
                return;
            compare(cpu, a0, ai, op == 5, true);
            return;
        }
        raise_ud(cpu);
    case 0xdd:
        if (op == 0) {
            f->ftw_abridged &= (uint16_t) ~(1u << phys(cpu, i));
            return;
        }                         /* FFREE */
        if (op == 2 || op == 3) { /* FST/FSTP ST(i) */
            f80 v;
            if (!read_st(cpu, 0, &v))
                return;
            st_set(cpu, i, v);
            if (op == 3)
                fpop(cpu);
            return;
        }
        if (op == 4 || op == 5) { /* FUCOM / FUCOMP */
            f80 a0, ai;
            if (!read_st(cpu, 0, &a0) || !read_st(cpu, i, &ai))
                return;
            compare(cpu, a0, ai, true, false);
            if (op == 5)
                fpop(cpu);
            return;
        }
        raise_ud(cpu);
    default: /* 0xdf */
        if (m == 0xe0) {
            set_reg(cpu, R_RAX, 2, true, f->fsw);
            return;
        }                         /* FNSTSW AX */
        if (op == 5 || op == 6) { /* FUCOMIP / FCOMIP */
            f80 a0, ai;
            if (!read_st(cpu, 0, &a0) || !read_st(cpu, i, &ai))
                return;
            compare(cpu, a0, ai, op == 5, true);
            fpop(cpu);
            return;
        }
        if (op == 0) {
            f->ftw_abridged &= (uint16_t) ~(1u << phys(cpu, i));
            fpop(cpu);
            return;
        } /* FFREEP */
        raise_ud(cpu);
    }
}
