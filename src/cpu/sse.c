/* SSE, SSE2 and MMX (SDM Vol. 1 chapters 9-11; Vol. 2 instruction pages),
 * FXSAVE/FXRSTOR, XSAVE/XRSTOR, LDMXCSR/STMXCSR and the rest of group 15.
 *
 * Floating-point results are computed by the host's own SSE unit with the
 * guest's MXCSR rounding mode and DAZ/FTZ bits and every exception masked,
 * then the exception flags the host raised are merged into the guest's
 * MXCSR: results and flags are bit-exact and independent of host state.
 * An unmasked exception raises #XM (or #UD when CR4.OSXMMEXCPT = 0) and
 * leaves the destination unchanged (SDM 11.5.2). */
#include <immintrin.h>
#include <math.h>

#include "cpu_internal.h"

#define MXCSR_MASK_BITS 0xffffu /* MXCSR_MASK reported by FXSAVE */
#define MXCSR_FLAGS 0x3fu

typedef union {
    uint8_t b[16];
    uint16_t w[8];
    uint32_t d[4];
    uint64_t q[2];
    int8_t sb[16];
    int16_t sw[8];
    int32_t sd[4];
    int64_t sq[2];
    float f[4];
    double g[2];
} vec;

/* ---- availability (SDM 13.1 / Table 22-x): #UD, #NM ---- */

static void sse_check(struct cpu *cpu)
{
    if ((cpu->cr0 & CR0_EM) || !(cpu->cr4 & CR4_OSFXSR))
        raise_ud(cpu);
    if (cpu->cr0 & CR0_TS)
        raise_exception_noerr(cpu, EXC_NM);
}

static void mmx_check(struct cpu *cpu)
{
    if (cpu->cr0 & CR0_EM)
        raise_ud(cpu);
    if (cpu->cr0 & CR0_TS)
        raise_exception_noerr(cpu, EXC_NM);
}

/* MMX instructions make the x87 stack all-valid with TOP = 0 (SDM 9.5.1);
 * EMMS empties it. MMi aliases physical register i's mantissa. */
static void mmx_enter(struct cpu *cpu)
{
    cpu->fpu.fsw &= ~0x3800;
    cpu->fpu.ftw_abridged = 0xff;
}

static uint64_t mm_get(const struct cpu *cpu, int i)
{
    uint64_t v;
    memcpy(&v, cpu->fpu.st[i & 7], 8);
    return v;
}

static void mm_set(struct cpu *cpu, int i, uint64_t v)
{
    memcpy(cpu->fpu.st[i & 7], &v, 8);
    cpu->fpu.st[i & 7][8] = 0xff; /* exponent all ones, as hardware writes */
    cpu->fpu.st[i & 7][9] = 0xff;
}

/* ---- operand access ---- */

static uint64_t mem_la(struct cpu *cpu, const struct insn *in, int size, enum acc acc)
{
    return seg_linear(cpu, in->seg, insn_ea(cpu, in), size, acc);
}

static void check_align16(struct cpu *cpu, const struct insn *in, enum acc acc)
{
    if (mem_la(cpu, in, 16, acc) & 15)
        raise_gp0(cpu);
}

static void read_mem(struct cpu *cpu, const struct insn *in, void *dst, int n)
{
    seg_read_bytes(cpu, in->seg, insn_ea(cpu, in), dst, n);
}

static void write_mem(struct cpu *cpu, const struct insn *in, const void *src, int n)
{
    seg_write_bytes(cpu, in->seg, insn_ea(cpu, in), src, n);
}

/* xmm/m128 source; `aligned` for the legacy-SSE forms that require it */
static vec src_xmm(struct cpu *cpu, const struct insn *in, bool aligned)
{
    vec v;
    if (in->mod == 3) {
        memcpy(&v, &cpu->fpu.xmm[in->rm], 16);
    } else {
        if (aligned)
            check_align16(cpu, in, ACC_READ);
        read_mem(cpu, in, &v, 16);
    }
    return v;
}

static vec get_xmm(const struct cpu *cpu, int r)
{
    vec v;
    memcpy(&v, &cpu->fpu.xmm[r], 16);
    return v;
}

static void set_xmm(struct cpu *cpu, int r, const vec *v)
{
    memcpy(&cpu->fpu.xmm[r], v, 16);
}

/* MMX operand: mm/m64 */
static uint64_t src_mm(struct cpu *cpu, const struct insn *in)
{
    if (in->mod == 3)
        return mm_get(cpu, in->rm);
    uint64_t v;
    read_mem(cpu, in, &v, 8);
    return v;
}

/* ---- host SSE with the guest's MXCSR ---- */

struct fpenv {
    uint32_t host;
    volatile int sink; /* keeps flag-raising comparisons from being elided */
};

static inline void fp_begin(struct cpu *cpu, struct fpenv *e)
{
    e->host = _mm_getcsr();
    /* guest rounding, DAZ, FTZ; all exceptions masked; flags clear */
    _mm_setcsr((cpu->fpu.mxcsr & 0xffc0u) | 0x1f80u);
}

/* The compiler must not move the host's FP instructions out of the window
 * between fp_begin and fp_end: inputs pass through an empty volatile asm
 * after fp_begin and results through another before fp_end (volatile asms
 * and MXCSR accesses keep their order). */
#define FP_IN(x) __asm__ volatile("" : "+x"(x))
#define FP_OUT(x) __asm__ volatile("" : "+x"(x))
#define FP_OUT_INT(x) __asm__ volatile("" : "+r"(x))

/* Returns the exception flags raised; restores the host MXCSR. */
static inline uint32_t fp_end(struct fpenv *e)
{
    uint32_t f = _mm_getcsr() & MXCSR_FLAGS;
    _mm_setcsr(e->host);
    return f;
}

/* Merges flags; raises #XM/#UD for unmasked ones (destination unchanged). */
static void fp_commit(struct cpu *cpu, uint32_t flags)
{
    uint32_t unmasked = flags & ~(cpu->fpu.mxcsr >> 7) & MXCSR_FLAGS;
    cpu->fpu.mxcsr |= flags;
    if (unmasked) {
        if (cpu->cr4 & CR4_OSXMMEXCPT)
            raise_exception_noerr(cpu, EXC_XM);
        raise_ud(cpu);
    }
}

/* ---- packed/scalar floating point arithmetic (0F 51-5F) ---- */

enum fpop { FP_SQRT, FP_ADD, FP_MUL, FP_SUB, FP_MIN, FP_DIV, FP_MAX, FP_RSQRT, FP_RCP };

static __m128 ps_op(enum fpop op, __m128 a, __m128 b)
{
    switch (op) {
    case FP_SQRT:
        return _mm_sqrt_ps(b);
    case FP_ADD:
        return _mm_add_ps(a, b);
    case FP_MUL:
        return _mm_mul_ps(a, b);
    case FP_SUB:
        return _mm_sub_ps(a, b);
    case FP_MIN:
        return _mm_min_ps(a, b);
    case FP_DIV:
        return _mm_div_ps(a, b);
    case FP_MAX:
        return _mm_max_ps(a, b);
    case FP_RSQRT:
        return _mm_rsqrt_ps(b);
    default:
        return _mm_rcp_ps(b);
    }
}

static __m128 ss_op(enum fpop op, __m128 a, __m128 b)
{
    switch (op) {
    case FP_SQRT:
        return _mm_sqrt_ss(b);
    case FP_ADD:
        return _mm_add_ss(a, b);
    case FP_MUL:
        return _mm_mul_ss(a, b);
    case FP_SUB:
        return _mm_sub_ss(a, b);
    case FP_MIN:
        return _mm_min_ss(a, b);
    case FP_DIV:
        return _mm_div_ss(a, b);
    case FP_MAX:
        return _mm_max_ss(a, b);
    case FP_RSQRT:
        return _mm_rsqrt_ss(b);
    default:
        return _mm_rcp_ss(b);
    }
}

static __m128d pd_op(enum fpop op, __m128d a, __m128d b)
{
    switch (op) {
    case FP_SQRT:
        return _mm_sqrt_pd(b);
    case FP_ADD:
        return _mm_add_pd(a, b);
    case FP_MUL:
        return _mm_mul_pd(a, b);
    case FP_SUB:
        return _mm_sub_pd(a, b);
    case FP_MIN:
        return _mm_min_pd(a, b);
    case FP_DIV:
        return _mm_div_pd(a, b);
    default:
        return _mm_max_pd(a, b);
    }
}

static __m128d sd_op(enum fpop op, __m128d a, __m128d b)
{
    switch (op) {
    case FP_SQRT:
        return _mm_sqrt_sd(a, b);
    case FP_ADD:
        return _mm_add_sd(a, b);
    case FP_MUL:
        return _mm_mul_sd(a, b);
    case FP_SUB:
        return _mm_sub_sd(a, b);
    case FP_MIN:
        return _mm_min_sd(a, b);
    case FP_DIV:
        return _mm_div_sd(a, b);
    default:
        return _mm_max_sd(a, b);
    }
}

/* The scalar forms read 4 or 8 bytes from memory; the packed forms 16. */
static vec src_fp(struct cpu *cpu, const struct insn *in)
{
    vec v;
    memset(&v, 0, sizeof(v));
    if (in->mand == 0xf3 || in->mand == 0xf2) {
        if (in->mod == 3)
            return get_xmm(cpu, in->rm);
        read_mem(cpu, in, &v, in->mand == 0xf3 ? 4 : 8);
        return v;
    }
    return src_xmm(cpu, in, true);
}

static void op_fp_arith(struct cpu *cpu, const struct insn *in) /* 0F 51-53, 58-5F */
{
    sse_check(cpu);
    static const int8_t ops[16] = {-1,     FP_SQRT, FP_RSQRT, FP_RCP, -1, -1,
                                   -1,     -1,      FP_ADD,   FP_MUL, -1, -1,
                                   FP_SUB, FP_MIN,  FP_DIV,   FP_MAX};
    enum fpop op = (enum fpop)ops[in->opcode & 15];
    bool dbl = in->mand == 0x66 || in->mand == 0xf2;
    if ((op == FP_RSQRT || op == FP_RCP) && dbl)
        raise_ud(cpu);
    vec a = get_xmm(cpu, in->reg), b = src_fp(cpu, in), r;
    struct fpenv e;
    fp_begin(cpu, &e);
    __m128 fa, fb;
    __m128d da, db;
    memcpy(&fa, &a, 16);
    memcpy(&fb, &b, 16);
    memcpy(&da, &a, 16);
    memcpy(&db, &b, 16);
    FP_IN(fa);
    FP_IN(fb);
    FP_IN(da);
    FP_IN(db);
    switch (in->mand) {
    case 0x00: {
        __m128 x = ps_op(op, fa, fb);
        FP_OUT(x);
        memcpy(&r, &x, 16);
        break;
    }
    case 0xf3: {
        __m128 x = ss_op(op, fa, fb);
        FP_OUT(x);
        memcpy(&r, &x, 16);
        break;
    }
    case 0x66: {
        __m128d x = pd_op(op, da, db);
        FP_OUT(x);
        memcpy(&r, &x, 16);
        break;
    }
    default: {
        __m128d x = sd_op(op, da, db);
        FP_OUT(x);
        memcpy(&r, &x, 16);
        break;
    }
    }
    fp_commit(cpu, fp_end(&e));
    set_xmm(cpu, in->reg, &r);
}

static void op_fp_logic(struct cpu *cpu, const struct insn *in) /* 0F 54-57 */
{
    sse_check(cpu);
    if (in->mand == 0xf3 || in->mand == 0xf2)
        raise_ud(cpu);
    vec a = get_xmm(cpu, in->reg), b = src_xmm(cpu, in, true);
    for (int i = 0; i < 2; i++) {
        switch (in->opcode) {
        case 0x54:
            a.q[i] &= b.q[i];
            break;
        case 0x55:
            a.q[i] = ~a.q[i] & b.q[i];
            break;
        case 0x56:
            a.q[i] |= b.q[i];
            break;
        default:
            a.q[i] ^= b.q[i];
            break;
        }
    }
    set_xmm(cpu, in->reg, &a);
}

/* CMPPS/CMPSS/CMPPD/CMPSD with predicates 0-7 (SDM Table 3-7). */
static bool cmp_pred(int p, double a, double b)
{
    bool un = isnan(a) || isnan(b);
    switch (p & 7) {
    case 0:
        return !un && a == b;
    case 1:
        return !un && a < b;
    case 2:
        return !un && a <= b;
    case 3:
        return un;
    case 4:
        return un || a != b;
    case 5:
        return un || !(a < b);
    case 6:
        return un || !(a <= b);
    default:
        return !un;
    }
}

static bool is_snan_f(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffff) && !(u & 0x400000);
}

static bool is_snan_d(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (u & 0xfffffffffffffull) &&
           !(u & 0x8000000000000ull);
}

static void op_cmp(struct cpu *cpu, const struct insn *in) /* 0F C2 ib */
{
    sse_check(cpu);
    int p = (int)(in->imm & 7);
    vec a = get_xmm(cpu, in->reg), b = src_fp(cpu, in), r = a;
    uint32_t flags = 0;
    /* predicates 0, 3, 4, 7 are quiet (#IA only for SNaN); 1, 2, 5, 6 signal
     * on any NaN */
    bool signaling = p == 1 || p == 2 || p == 5 || p == 6;
    if (in->mand == 0x00 || in->mand == 0xf3) {
        int n = in->mand ? 1 : 4;
        for (int i = 0; i < n; i++) {
            if ((signaling && (isnan(a.f[i]) || isnan(b.f[i]))) || is_snan_f(a.f[i]) ||
                is_snan_f(b.f[i]))
                flags |= 1;
            if (cpu->fpu.mxcsr & 0x40) { /* DAZ */
                if (fpclassify(a.f[i]) == FP_SUBNORMAL)
                    a.f[i] = copysignf(0, a.f[i]);
                if (fpclassify(b.f[i]) == FP_SUBNORMAL)
                    b.f[i] = copysignf(0, b.f[i]);
            } else if (fpclassify(a.f[i]) == FP_SUBNORMAL || fpclassify(b.f[i]) == FP_SUBNORMAL) {
                flags |= 2;
            }
            r.d[i] = cmp_pred(p, a.f[i], b.f[i]) ? 0xffffffffu : 0;
        }
    } else {
        int n = in->mand == 0x66 ? 2 : 1;
        for (int i = 0; i < n; i++) {
            if ((signaling && (isnan(a.g[i]) || isnan(b.g[i]))) || is_snan_d(a.g[i]) ||
                is_snan_d(b.g[i]))
                flags |= 1;
            if (cpu->fpu.mxcsr & 0x40) {
                if (fpclassify(a.g[i]) == FP_SUBNORMAL)
                    a.g[i] = copysign(0, a.g[i]);
                if (fpclassify(b.g[i]) == FP_SUBNORMAL)
                    b.g[i] = copysign(0, b.g[i]);
            } else if (fpclassify(a.g[i]) == FP_SUBNORMAL || fpclassify(b.g[i]) == FP_SUBNORMAL) {
                flags |= 2;
            }
            r.q[i] = cmp_pred(p, a.g[i], b.g[i]) ? ~0ull : 0;
        }
    }
    if (flags & 1)
        flags &= 1; /* #IA takes precedence over #D */
    fp_commit(cpu, flags);
    set_xmm(cpu, in->reg, &r);
}

/* COMISS/UCOMISS/COMISD/UCOMISD (0F 2E/2F): ZF PF CF, OF SF AF cleared. */
static void op_comis(struct cpu *cpu, const struct insn *in)
{
    sse_check(cpu);
    if (in->mand != 0 && in->mand != 0x66)
        raise_ud(cpu);
    vec a = get_xmm(cpu, in->reg), b;
    memset(&b, 0, sizeof(b));
    if (in->mod == 3)
        b = get_xmm(cpu, in->rm);
    else
        read_mem(cpu, in, &b, in->mand ? 8 : 4);
    /* the host instruction raises the exception flags (#IA for QNaN only
     * with COMIS*, #DE); the comparison itself is IEEE, with DAZ applied */
    struct fpenv e;
    fp_begin(cpu, &e);
    double x, y;
    if (in->mand == 0x66) {
        __m128d p, q;
        memcpy(&p, &a, 16);
        memcpy(&q, &b, 16);
        FP_IN(p);
        FP_IN(q);
        int t = in->opcode == 0x2f ? _mm_comilt_sd(p, q) : _mm_ucomilt_sd(p, q);
        FP_OUT_INT(t);
        e.sink = t;
        x = a.g[0];
        y = b.g[0];
    } else {
        __m128 p, q;
        memcpy(&p, &a, 16);
        memcpy(&q, &b, 16);
        FP_IN(p);
        FP_IN(q);
        int t = in->opcode == 0x2f ? _mm_comilt_ss(p, q) : _mm_ucomilt_ss(p, q);
        FP_OUT_INT(t);
        e.sink = t;
        x = a.f[0];
        y = b.f[0];
    }
    uint32_t flags = fp_end(&e);
    if (cpu->fpu.mxcsr & 0x40) {
        if (fpclassify(x) == FP_SUBNORMAL || (in->mand == 0 && fpclassify(a.f[0]) == FP_SUBNORMAL))
            x = 0;
        if (fpclassify(y) == FP_SUBNORMAL || (in->mand == 0 && fpclassify(b.f[0]) == FP_SUBNORMAL))
            y = 0;
    }
    bool un = isnan(x) || isnan(y), eq = !un && x == y, lt = !un && x < y;
    fp_commit(cpu, flags);
    uint64_t f = un ? (FL_ZF | FL_PF | FL_CF) : eq ? FL_ZF : lt ? FL_CF : 0;
    set_flags_explicit(cpu, f, FL_ARITH);
}

/* ---- conversions ---- */

static int64_t cvt_to_int(struct cpu *cpu, double x, bool truncate, int size, uint32_t *flags)
{
    double lim = size == 8 ? 9223372036854775808.0 : 2147483648.0;
    int64_t indefinite = size == 8 ? INT64_MIN : INT32_MIN;
    if (isnan(x)) {
        *flags |= 1;
        return indefinite;
    }
    double r;
    if (truncate) {
        r = trunc(x);
    } else {
        switch ((cpu->fpu.mxcsr >> 13) & 3) {
        case 0:
            r = nearbyint(x);
            break; /* host default rounding is nearest-even */
        case 1:
            r = floor(x);
            break;
        case 2:
            r = ceil(x);
            break;
        default:
            r = trunc(x);
            break;
        }
    }
    if (r >= lim || r < -lim) {
        *flags |= 1;
        return indefinite;
    }
    if (r != x)
        *flags |= 0x20; /* precision */
    return (int64_t)r;
}

static void op_cvt_2a_2c_2d(struct cpu *cpu, const struct insn *in) /* 0F 2A/2C/2D */
{
    bool to_int = in->opcode != 0x2a;
    if (in->mand == 0xf3 || in->mand == 0xf2) {
        sse_check(cpu);
        bool dbl = in->mand == 0xf2;
        if (!to_int) { /* CVTSI2SS/SD r/m32/64 */
            int sz = in->opsize == 8 ? 8 : 4;
            int64_t x = (int64_t)sext(in->mod == 3 ? get_reg(cpu, in->rm, sz, true)
                                                   : seg_read(cpu, in->seg, insn_ea(cpu, in), sz),
                                      sz);
            vec r = get_xmm(cpu, in->reg);
            struct fpenv e;
            fp_begin(cpu, &e);
            if (dbl) {
                __m128d v;
                memcpy(&v, &r, 16);
                FP_IN(v);
                FP_OUT_INT(x);
                v = sz == 8 ? _mm_cvtsi64_sd(v, x) : _mm_cvtsi32_sd(v, (int)x);
                FP_OUT(v);
                memcpy(&r, &v, 16);
            } else {
                __m128 v;
                memcpy(&v, &r, 16);
                FP_IN(v);
                FP_OUT_INT(x);
                v = sz == 8 ? _mm_cvtsi64_ss(v, x) : _mm_cvtsi32_ss(v, (int)x);
                FP_OUT(v);
                memcpy(&r, &v, 16);
            }
            fp_commit(cpu, fp_end(&e));
            set_xmm(cpu, in->reg, &r);
            return;
        }
        vec s;
        memset(&s, 0, sizeof(s));
        if (in->mod == 3)
            s = get_xmm(cpu, in->rm);
        else
            read_mem(cpu, in, &s, dbl ? 8 : 4);
        double x = dbl ? s.g[0] : (double)s.f[0];
        uint32_t flags = 0;
        if (!dbl && (cpu->fpu.mxcsr & 0x40) && fpclassify(s.f[0]) == FP_SUBNORMAL)
            x = 0;
        if (dbl && (cpu->fpu.mxcsr & 0x40) && fpclassify(s.g[0]) == FP_SUBNORMAL)
            x = 0;
        int size = in->opsize == 8 ? 8 : 4;
        int64_t v = cvt_to_int(cpu, x, in->opcode == 0x2c, size, &flags);
        fp_commit(cpu, flags);
        reg_write(cpu, in, size, (uint64_t)v);
        return;
    }
    /* MMX forms: CVTPI2PS/PD, CVTTPS2PI/PD2PI, CVTPS2PI/PD2PI */
    sse_check(cpu);
    if (!to_int) {
        uint64_t m =
            in->mod == 3 ? (mmx_check(cpu), mmx_enter(cpu), mm_get(cpu, in->rm)) : src_mm(cpu, in);
        int32_t lo = (int32_t)m, hi = (int32_t)(m >> 32);
        vec r = get_xmm(cpu, in->reg);
        struct fpenv e;
        fp_begin(cpu, &e);
        if (in->mand == 0x66) {
            r.g[0] = lo;
            r.g[1] = hi;
        } else {
            r.f[0] = (float)lo;
            r.f[1] = (float)hi;
        }
        fp_commit(cpu, fp_end(&e));
        set_xmm(cpu, in->reg, &r);
        return;
    }
    mmx_check(cpu);
    vec s = in->mand == 0x66 ? src_xmm(cpu, in, true) : (in->mod == 3 ? get_xmm(cpu, in->rm) : ({
        vec t;
        memset(&t, 0, 16);
        read_mem(cpu, in, &t, 8);
        t;
    }));
    uint32_t flags = 0;
    double x0 = in->mand == 0x66 ? s.g[0] : s.f[0], x1 = in->mand == 0x66 ? s.g[1] : s.f[1];
    int64_t a = cvt_to_int(cpu, x0, in->opcode == 0x2c, 4, &flags);
    int64_t b = cvt_to_int(cpu, x1, in->opcode == 0x2c, 4, &flags);
    fp_commit(cpu, flags);
    mmx_enter(cpu);
    mm_set(cpu, in->reg, ((uint64_t)(uint32_t)b << 32) | (uint32_t)a);
}

static void op_cvt_5a_5b(struct cpu *cpu, const struct insn *in) /* 0F 5A / 5B */
{
    sse_check(cpu);
    vec s, r = get_xmm(cpu, in->reg);
    memset(&s, 0, sizeof(s));
    bool scalar = in->mand == 0xf3 || in->mand == 0xf2;
    if (in->mod == 3)
        s = get_xmm(cpu, in->rm);
    else if (in->opcode == 0x5a && (scalar || in->mand == 0))
        read_mem(cpu, in, &s, in->mand == 0xf3 ? 4 : 8);
    else
        s = src_xmm(cpu, in, true);
    struct fpenv e;
    fp_begin(cpu, &e);
    __m128 fs;
    __m128d ds;
    __m128i is;
    memcpy(&fs, &s, 16);
    memcpy(&ds, &s, 16);
    memcpy(&is, &s, 16);
    FP_IN(fs);
    FP_IN(ds);
    FP_IN(is);
    if (in->opcode == 0x5a) {
        switch (in->mand) {
        case 0x00: {
            __m128d x = _mm_cvtps_pd(fs);
            FP_OUT(x);
            memcpy(&r, &x, 16);
            break;
        }
        case 0x66: {
            __m128 x = _mm_cvtpd_ps(ds);
            FP_OUT(x);
            memcpy(&r, &x, 16);
            break;
        }
        case 0xf3: {
            __m128d x;
            memcpy(&x, &r, 16);
            FP_IN(x);
            x = _mm_cvtss_sd(x, fs);
            FP_OUT(x);
            memcpy(&r, &x, 16);
            break;
        }
        default: {
            __m128 x;
            memcpy(&x, &r, 16);
            FP_IN(x);
            x = _mm_cvtsd_ss(x, ds);
            FP_OUT(x);
            memcpy(&r, &x, 16);
            break;
        }
        }
    } else {
        switch (in->mand) {
        case 0x00: {
            __m128 x = _mm_cvtepi32_ps(is);
            FP_OUT(x);
            memcpy(&r, &x, 16);
            break;
        }
        case 0x66: {
            __m128i x = _mm_cvtps_epi32(fs);
            FP_OUT(x);
            memcpy(&r, &x, 16);
            break;
        }
        case 0xf3: {
            __m128i x = _mm_cvttps_epi32(fs);
            FP_OUT(x);
            memcpy(&r, &x, 16);
            break;
        }
        default:
            fp_end(&e);
            raise_ud(cpu);
        }
    }
    fp_commit(cpu, fp_end(&e));
    set_xmm(cpu, in->reg, &r);
}

static void op_cvt_e6(struct cpu *cpu, const struct insn *in) /* 0F E6 */
{
    sse_check(cpu);
    if (in->mand == 0)
        raise_ud(cpu);
    vec s, r;
    memset(&s, 0, sizeof(s));
    if (in->mand == 0xf3 && in->mod != 3)
        read_mem(cpu, in, &s, 8); /* CVTDQ2PD m64 */
    else
        s = src_xmm(cpu, in, in->mand != 0xf3);
    struct fpenv e;
    fp_begin(cpu, &e);
    __m128d ds;
    __m128i is;
    memcpy(&ds, &s, 16);
    memcpy(&is, &s, 16);
    FP_IN(ds);
    FP_IN(is);
    if (in->mand == 0x66) {
        __m128i x = _mm_cvttpd_epi32(ds);
        FP_OUT(x);
        memcpy(&r, &x, 16);
    } else if (in->mand == 0xf3) {
        __m128d x = _mm_cvtepi32_pd(is);
        FP_OUT(x);
        memcpy(&r, &x, 16);
    } else {
        __m128i x = _mm_cvtpd_epi32(ds);
        FP_OUT(x);
        memcpy(&r, &x, 16);
    }
    fp_commit(cpu, fp_end(&e));
    set_xmm(cpu, in->reg, &r);
}

/* ---- moves ---- */

static void op_mov_10_11(struct cpu *cpu, const struct insn *in) /* MOVUPS/UPD/SS/SD */
{
    sse_check(cpu);
    bool store = in->opcode == 0x11;
    int n = in->mand == 0xf3 ? 4 : in->mand == 0xf2 ? 8 : 16;
    if (in->mod == 3) {
        vec s = get_xmm(cpu, store ? in->reg : in->rm), d = get_xmm(cpu, store ? in->rm : in->reg);
        memcpy(&d, &s, n);
        set_xmm(cpu, store ? in->rm : in->reg, &d);
        return;
    }
    if (store) {
        vec s = get_xmm(cpu, in->reg);
        write_mem(cpu, in, &s, n);
    } else {
        vec d;
        memset(&d, 0, sizeof(d)); /* scalar loads from memory zero the rest */
        read_mem(cpu, in, &d, n);
        set_xmm(cpu, in->reg, &d);
    }
}

static void op_mov_aligned(struct cpu *cpu,
                           const struct insn *in) /* 28/29, 6F/7F (66/F3), 2B, E7 */
{
    sse_check(cpu);
    bool store =
        in->opcode == 0x29 || in->opcode == 0x7f || in->opcode == 0x2b || in->opcode == 0xe7;
    bool aligned = !(in->mand == 0xf3); /* MOVDQU */
    if (in->opcode == 0x28 || in->opcode == 0x29 || in->opcode == 0x2b) {
        if (in->mand == 0xf3 || in->mand == 0xf2)
            raise_ud(cpu);
        aligned = true;
    }
    if ((in->opcode == 0x2b || in->opcode == 0xe7) && in->mod == 3)
        raise_ud(cpu);
    if (store) {
        vec s = get_xmm(cpu, in->reg);
        if (in->mod == 3) {
            set_xmm(cpu, in->rm, &s);
        } else {
            if (aligned)
                check_align16(cpu, in, ACC_WRITE);
            write_mem(cpu, in, &s, 16);
        }
    } else {
        vec s = src_xmm(cpu, in, aligned);
        set_xmm(cpu, in->reg, &s);
    }
}

static void op_mov_12_17(struct cpu *cpu,
                         const struct insn *in) /* MOVLPS/HPS/LPD/HPD, MOVHLPS/LHPS */
{
    sse_check(cpu);
    if (in->mand == 0xf3 || in->mand == 0xf2)
        raise_ud(cpu); /* MOVSLDUP/MOVDDUP etc. are SSE3 */
    bool high = in->opcode >= 0x16;
    bool store = in->opcode & 1;
    vec d = get_xmm(cpu, in->reg);
    if (store) {
        if (in->mod == 3)
            raise_ud(cpu);
        write_mem(cpu, in, &d.q[high], 8);
        return;
    }
    if (in->mod == 3) {
        if (in->mand == 0x66)
            raise_ud(cpu);
        vec s = get_xmm(cpu, in->rm);
        if (high)
            d.q[1] = s.q[0]; /* MOVLHPS */
        else
            d.q[0] = s.q[1]; /* MOVHLPS */
    } else {
        read_mem(cpu, in, &d.q[high], 8);
    }
    set_xmm(cpu, in->reg, &d);
}

static void op_unpck_ps_pd(struct cpu *cpu, const struct insn *in) /* 0F 14/15 */
{
    sse_check(cpu);
    if (in->mand == 0xf3 || in->mand == 0xf2)
        raise_ud(cpu);
    vec a = get_xmm(cpu, in->reg), b = src_xmm(cpu, in, true), r;
    bool hi = in->opcode == 0x15;
    if (in->mand == 0x66) {
        r.q[0] = a.q[hi];
        r.q[1] = b.q[hi];
    } else {
        r.d[0] = a.d[hi * 2];
        r.d[1] = b.d[hi * 2];
        r.d[2] = a.d[hi * 2 + 1];
        r.d[3] = b.d[hi * 2 + 1];
    }
    set_xmm(cpu, in->reg, &r);
}

static void op_shuf(struct cpu *cpu, const struct insn *in) /* 0F C6 ib */
{
    sse_check(cpu);
    if (in->mand == 0xf3 || in->mand == 0xf2)
        raise_ud(cpu);
    vec a = get_xmm(cpu, in->reg), b = src_xmm(cpu, in, true), r;
    unsigned i8 = (unsigned)in->imm;
    if (in->mand == 0x66) {
        r.q[0] = a.q[i8 & 1];
        r.q[1] = b.q[(i8 >> 1) & 1];
    } else {
        r.d[0] = a.d[i8 & 3];
        r.d[1] = a.d[(i8 >> 2) & 3];
        r.d[2] = b.d[(i8 >> 4) & 3];
        r.d[3] = b.d[(i8 >> 6) & 3];
    }
    set_xmm(cpu, in->reg, &r);
}

static void op_movmsk(struct cpu *cpu, const struct insn *in) /* 0F 50 */
{
    sse_check(cpu);
    if (in->mod != 3 || in->mand == 0xf3 || in->mand == 0xf2)
        raise_ud(cpu);
    vec s = get_xmm(cpu, in->rm);
    uint64_t m = in->mand == 0x66 ? ((s.q[0] >> 63) | ((s.q[1] >> 63) << 1))
                                  : ((s.d[0] >> 31) | ((s.d[1] >> 31) << 1) |
                                     ((s.d[2] >> 31) << 2) | ((s.d[3] >> 31) << 3));
    reg_write(cpu, in, cpu_long64(cpu) ? 8 : 4, m);
}

static void op_movd_6e(struct cpu *cpu, const struct insn *in) /* MOVD/MOVQ mm/xmm, r/m */
{
    int sz = in->opsize == 8 ? 8 : 4;
    uint64_t v = in->mod == 3 ? get_reg(cpu, in->rm, sz, true)
                              : seg_read(cpu, in->seg, insn_ea(cpu, in), sz);
    if (in->mand == 0x66) {
        sse_check(cpu);
        vec r;
        memset(&r, 0, sizeof(r));
        r.q[0] = v;
        set_xmm(cpu, in->reg, &r);
    } else if (in->mand == 0) {
        mmx_check(cpu);
        mmx_enter(cpu);
        mm_set(cpu, in->reg, v);
    } else {
        raise_ud(cpu);
    }
}

static void op_movd_7e(struct cpu *cpu,
                       const struct insn *in) /* MOVD r/m, mm/xmm; F3: MOVQ xmm, xmm/m64 */
{
    if (in->mand == 0xf3) {
        sse_check(cpu);
        vec r;
        memset(&r, 0, sizeof(r));
        if (in->mod == 3)
            r.q[0] = get_xmm(cpu, in->rm).q[0];
        else
            read_mem(cpu, in, &r.q[0], 8);
        set_xmm(cpu, in->reg, &r);
        return;
    }
    int sz = in->opsize == 8 ? 8 : 4;
    uint64_t v;
    if (in->mand == 0x66) {
        sse_check(cpu);
        v = get_xmm(cpu, in->reg).q[0];
    } else if (in->mand == 0) {
        mmx_check(cpu);
        mmx_enter(cpu);
        v = mm_get(cpu, in->reg);
    } else {
        raise_ud(cpu);
    }
    if (in->mod == 3)
        set_reg(cpu, in->rm, sz, true, v & size_mask(sz));
    else
        seg_write(cpu, in->seg, insn_ea(cpu, in), sz, v);
}

static void op_movq_d6(struct cpu *cpu, const struct insn *in) /* 66 0F D6: MOVQ xmm/m64, xmm */
{
    sse_check(cpu);
    if (in->mand != 0x66)
        raise_ud(cpu); /* MOVQ2DQ/MOVDQ2Q not implemented */
    vec s = get_xmm(cpu, in->reg);
    if (in->mod == 3) {
        vec r;
        memset(&r, 0, sizeof(r));
        r.q[0] = s.q[0];
        set_xmm(cpu, in->rm, &r);
    } else {
        write_mem(cpu, in, &s.q[0], 8);
    }
}

static void op_mmx_mov(struct cpu *cpu, const struct insn *in) /* 0F 6F / 7F without prefix */
{
    mmx_check(cpu);
    mmx_enter(cpu);
    if (in->opcode == 0x6f) {
        mm_set(cpu, in->reg, src_mm(cpu, in));
    } else if (in->mod == 3) {
        mm_set(cpu, in->rm, mm_get(cpu, in->reg));
    } else {
        uint64_t v = mm_get(cpu, in->reg);
        write_mem(cpu, in, &v, 8);
    }
}

static void op_6f_7f(struct cpu *cpu, const struct insn *in)
{
    if (in->mand == 0)
        op_mmx_mov(cpu, in);
    else if (in->mand == 0xf2)
        raise_ud(cpu);
    else
        op_mov_aligned(cpu, in);
}

static void op_movnti(struct cpu *cpu, const struct insn *in) /* 0F C3 */
{
    if (in->mod == 3 || in->mand)
        raise_ud(cpu);
    int sz = in->opsize == 8 ? 8 : 4;
    seg_write(cpu, in->seg, insn_ea(cpu, in), sz, get_reg(cpu, in->reg, sz, true));
}

static void op_movntq_dq(struct cpu *cpu, const struct insn *in) /* 0F E7 */
{
    if (in->mand == 0x66) {
        op_mov_aligned(cpu, in);
        return;
    }
    if (in->mand || in->mod == 3)
        raise_ud(cpu);
    mmx_check(cpu);
    mmx_enter(cpu);
    uint64_t v = mm_get(cpu, in->reg);
    write_mem(cpu, in, &v, 8);
}

static void op_emms(struct cpu *cpu, const struct insn *in) /* 0F 77 */
{
    if (in->vex)
        raise_ud(cpu);
    mmx_check(cpu);
    cpu->fpu.ftw_abridged = 0;
}

/* ---- integer SIMD (MMX and SSE2 forms share one implementation) ---- */

static int8_t sat8(int v)
{
    return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
}
static uint8_t satu8(int v)
{
    return (uint8_t)(v > 255 ? 255 : v < 0 ? 0 : v);
}
static int16_t sat16(int v)
{
    return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
}
static uint16_t satu16(int v)
{
    return (uint16_t)(v > 65535 ? 65535 : v < 0 ? 0 : v);
}

/* Computes a op b for vectors of `n` bytes (8 MMX, 16 XMM). */
static bool int_op(uint8_t map1_op, vec *a, const vec *b, int n)
{
    vec r = *a;
    int nb = n, nw = n / 2, nd = n / 4, nq = n / 8;
    switch (map1_op) {
    case 0x60:
    case 0x61:
    case 0x62:
    case 0x6c:
    case 0x68:
    case 0x69:
    case 0x6a:
    case 0x6d: {
        /* unpack low / high */
        bool hi = (map1_op >= 0x68 && map1_op <= 0x6a) || map1_op == 0x6d;
        int unit = (map1_op == 0x60 || map1_op == 0x68)   ? 1
                   : (map1_op == 0x61 || map1_op == 0x69) ? 2
                   : (map1_op == 0x62 || map1_op == 0x6a) ? 4
                                                          : 8;
        int half = n / 2, base = hi ? half : 0;
        for (int i = 0; i < half / unit; i++) {
            memcpy(&r.b[2 * i * unit], &a->b[base + i * unit], unit);
            memcpy(&r.b[(2 * i + 1) * unit], &b->b[base + i * unit], unit);
        }
        break;
    }
    case 0x63: /* PACKSSWB */
        for (int i = 0; i < nw; i++) {
            r.sb[i] = sat8(a->sw[i]);
            r.sb[nw + i] = sat8(b->sw[i]);
        }
        break;
    case 0x67: /* PACKUSWB */
        for (int i = 0; i < nw; i++) {
            r.b[i] = satu8(a->sw[i]);
            r.b[nw + i] = satu8(b->sw[i]);
        }
        break;
    case 0x6b: /* PACKSSDW */
        for (int i = 0; i < nd; i++) {
            r.sw[i] = sat16(a->sd[i]);
            r.sw[nd + i] = sat16(b->sd[i]);
        }
        break;
    case 0x64:
        for (int i = 0; i < nb; i++)
            r.b[i] = a->sb[i] > b->sb[i] ? 0xff : 0;
        break;
    case 0x65:
        for (int i = 0; i < nw; i++)
            r.w[i] = a->sw[i] > b->sw[i] ? 0xffff : 0;
        break;
    case 0x66:
        for (int i = 0; i < nd; i++)
            r.d[i] = a->sd[i] > b->sd[i] ? ~0u : 0;
        break;
    case 0x74:
        for (int i = 0; i < nb; i++)
            r.b[i] = a->b[i] == b->b[i] ? 0xff : 0;
        break;
    case 0x75:
        for (int i = 0; i < nw; i++)
            r.w[i] = a->w[i] == b->w[i] ? 0xffff : 0;
        break;
    case 0x76:
        for (int i = 0; i < nd; i++)
            r.d[i] = a->d[i] == b->d[i] ? ~0u : 0;
        break;
    case 0xd1:
    case 0xd2:
    case 0xd3:
    case 0xe1:
    case 0xe2:
    case 0xf1:
    case 0xf2:
    case 0xf3: {
        /* shifts by the low 64 bits of the source */
        uint64_t c = b->q[0];
        int unit = (map1_op & 0xf) == 1 ? 2 : (map1_op & 0xf) == 2 ? 4 : 8;
        bool left = (map1_op & 0xf0) == 0xf0, arith = (map1_op & 0xf0) == 0xe0;
        for (int i = 0; i < n / unit; i++) {
            if (unit == 2) {
                if (arith)
                    r.sw[i] = (int16_t)(a->sw[i] >> (c > 15 ? 15 : c));
                else
                    r.w[i] = c > 15 ? 0 : (uint16_t)(left ? a->w[i] << c : a->w[i] >> c);
            } else if (unit == 4) {
                if (arith)
                    r.sd[i] = a->sd[i] >> (c > 31 ? 31 : c);
                else
                    r.d[i] = c > 31 ? 0 : (left ? a->d[i] << c : a->d[i] >> c);
            } else {
                r.q[i] = c > 63 ? 0 : (left ? a->q[i] << c : a->q[i] >> c);
            }
        }
        break;
    }
    case 0xd4:
        for (int i = 0; i < nq; i++)
            r.q[i] = a->q[i] + b->q[i];
        break;
    case 0xd5:
        for (int i = 0; i < nw; i++)
            r.w[i] = (uint16_t)(a->sw[i] * b->sw[i]);
        break;
    case 0xd8:
        for (int i = 0; i < nb; i++)
            r.b[i] = satu8(a->b[i] - b->b[i]);
        break;
    case 0xd9:
        for (int i = 0; i < nw; i++)
            r.w[i] = satu16(a->w[i] - b->w[i]);
        break;
    case 0xda:
        for (int i = 0; i < nb; i++)
            r.b[i] = a->b[i] < b->b[i] ? a->b[i] : b->b[i];
        break;
    case 0xdb:
        for (int i = 0; i < nq; i++)
            r.q[i] = a->q[i] & b->q[i];
        break;
    case 0xdc:
        for (int i = 0; i < nb; i++)
            r.b[i] = satu8(a->b[i] + b->b[i]);
        break;
    case 0xdd:
        for (int i = 0; i < nw; i++)
            r.w[i] = satu16(a->w[i] + b->w[i]);
        break;
    case 0xde:
        for (int i = 0; i < nb; i++)
            r.b[i] = a->b[i] > b->b[i] ? a->b[i] : b->b[i];
        break;
    case 0xdf:
        for (int i = 0; i < nq; i++)
            r.q[i] = ~a->q[i] & b->q[i];
        break;
    case 0xe0:
        for (int i = 0; i < nb; i++)
            r.b[i] = (uint8_t)((a->b[i] + b->b[i] + 1) >> 1);
        break;
    case 0xe3:
        for (int i = 0; i < nw; i++)
            r.w[i] = (uint16_t)((a->w[i] + b->w[i] + 1) >> 1);
        break;
    case 0xe4:
        for (int i = 0; i < nw; i++)
            r.w[i] = (uint16_t)(((uint32_t)a->w[i] * b->w[i]) >> 16);
        break;
    case 0xe5:
        for (int i = 0; i < nw; i++)
            r.w[i] = (uint16_t)((a->sw[i] * b->sw[i]) >> 16);
        break;
    case 0xe8:
        for (int i = 0; i < nb; i++)
            r.sb[i] = sat8(a->sb[i] - b->sb[i]);
        break;
    case 0xe9:
        for (int i = 0; i < nw; i++)
            r.sw[i] = sat16(a->sw[i] - b->sw[i]);
        break;
    case 0xea:
        for (int i = 0; i < nw; i++)
            r.sw[i] = a->sw[i] < b->sw[i] ? a->sw[i] : b->sw[i];
        break;
    case 0xeb:
        for (int i = 0; i < nq; i++)
            r.q[i] = a->q[i] | b->q[i];
        break;
    case 0xec:
        for (int i = 0; i < nb; i++)
            r.sb[i] = sat8(a->sb[i] + b->sb[i]);
        break;
    case 0xed:
        for (int i = 0; i < nw; i++)
            r.sw[i] = sat16(a->sw[i] + b->sw[i]);
        break;
    case 0xee:
        for (int i = 0; i < nw; i++)
            r.sw[i] = a->sw[i] > b->sw[i] ? a->sw[i] : b->sw[i];
        break;
    case 0xef:
        for (int i = 0; i < nq; i++)
            r.q[i] = a->q[i] ^ b->q[i];
        break;
    case 0xf4:
        for (int i = 0; i < nq; i++)
            r.q[i] = (uint64_t)a->d[2 * i] * b->d[2 * i];
        break;
    case 0xf5:
        for (int i = 0; i < nd; i++)
            r.sd[i] = (int32_t)((uint32_t)(a->sw[2 * i] * b->sw[2 * i]) +
                                (uint32_t)(a->sw[2 * i + 1] * b->sw[2 * i + 1]));
        break;
    case 0xf6: /* PSADBW */
        for (int q = 0; q < nq; q++) {
            unsigned s = 0;
            for (int i = 0; i < 8; i++) {
                int d = a->b[q * 8 + i] - b->b[q * 8 + i];
                s += (unsigned)(d < 0 ? -d : d);
            }
            r.q[q] = s;
        }
        break;
    case 0xf8:
        for (int i = 0; i < nb; i++)
            r.b[i] = (uint8_t)(a->b[i] - b->b[i]);
        break;
    case 0xf9:
        for (int i = 0; i < nw; i++)
            r.w[i] = (uint16_t)(a->w[i] - b->w[i]);
        break;
    case 0xfa:
        for (int i = 0; i < nd; i++)
            r.d[i] = a->d[i] - b->d[i];
        break;
    case 0xfb:
        for (int i = 0; i < nq; i++)
            r.q[i] = a->q[i] - b->q[i];
        break;
    case 0xfc:
        for (int i = 0; i < nb; i++)
            r.b[i] = (uint8_t)(a->b[i] + b->b[i]);
        break;
    case 0xfd:
        for (int i = 0; i < nw; i++)
            r.w[i] = (uint16_t)(a->w[i] + b->w[i]);
        break;
    case 0xfe:
        for (int i = 0; i < nd; i++)
            r.d[i] = a->d[i] + b->d[i];
        break;
    default:
        return false;
    }
    *a = r;
    return true;
}

static void op_int_simd(struct cpu *cpu, const struct insn *in)
{
    if (in->mand == 0x66) {
        sse_check(cpu);
        vec a = get_xmm(cpu, in->reg), b = src_xmm(cpu, in, true);
        if (!int_op(in->opcode, &a, &b, 16))
            raise_ud(cpu);
        set_xmm(cpu, in->reg, &a);
        return;
    }
    if (in->mand)
        raise_ud(cpu);
    /* MMX; PUNPCKLQDQ/HQDQ have no MMX form */
    if (in->opcode == 0x6c || in->opcode == 0x6d)
        raise_ud(cpu);
    mmx_check(cpu);
    vec a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    b.q[0] = src_mm(cpu, in);
    mmx_enter(cpu);
    a.q[0] = mm_get(cpu, in->reg);
    if (!int_op(in->opcode, &a, &b, 8))
        raise_ud(cpu);
    mm_set(cpu, in->reg, a.q[0]);
}

/* 0F 71-73: shifts by an immediate; 66 0F 73 /3 /7 PSRLDQ/PSLLDQ. */
static void op_shift_imm(struct cpu *cpu, const struct insn *in)
{
    if (in->mod != 3)
        raise_ud(cpu);
    int r = (in->modrm >> 3) & 7;
    uint8_t op;
    static const uint8_t ops71[8] = {0, 0, 0xd1, 0, 0xe1, 0, 0xf1, 0};
    static const uint8_t ops72[8] = {0, 0, 0xd2, 0, 0xe2, 0, 0xf2, 0};
    static const uint8_t ops73[8] = {0, 0, 0xd3, 1, 0, 0, 0xf3, 2};
    op = in->opcode == 0x71 ? ops71[r] : in->opcode == 0x72 ? ops72[r] : ops73[r];
    if (!op)
        raise_ud(cpu);
    vec b;
    memset(&b, 0, sizeof(b));
    b.q[0] = in->imm & 0xff;
    if (in->mand == 0x66) {
        sse_check(cpu);
        vec a = get_xmm(cpu, in->rm);
        if (op == 1 || op == 2) { /* byte shifts of the whole register */
            unsigned c = (unsigned)(in->imm & 0xff);
            vec t;
            memset(&t, 0, sizeof(t));
            if (c < 16) {
                if (op == 1)
                    memcpy(&t.b[0], &a.b[c], 16 - c);
                else
                    memcpy(&t.b[c], &a.b[0], 16 - c);
            }
            set_xmm(cpu, in->rm, &t);
            return;
        }
        int_op(op, &a, &b, 16);
        set_xmm(cpu, in->rm, &a);
        return;
    }
    if (in->mand || op == 1 || op == 2)
        raise_ud(cpu);
    mmx_check(cpu);
    mmx_enter(cpu);
    vec a;
    memset(&a, 0, sizeof(a));
    a.q[0] = mm_get(cpu, in->rm);
    int_op(op, &a, &b, 8);
    mm_set(cpu, in->rm, a.q[0]);
}

static void op_pshuf(struct cpu *cpu, const struct insn *in) /* 0F 70 */
{
    unsigned i8 = (unsigned)in->imm;
    if (in->mand == 0) {
        mmx_check(cpu);
        uint64_t s = src_mm(cpu, in), r = 0;
        mmx_enter(cpu);
        for (int i = 0; i < 4; i++)
            r |= ((s >> (16 * ((i8 >> (2 * i)) & 3))) & 0xffff) << (16 * i);
        mm_set(cpu, in->reg, r);
        return;
    }
    sse_check(cpu);
    vec s = src_xmm(cpu, in, true), r = s;
    if (in->mand == 0x66) {
        for (int i = 0; i < 4; i++)
            r.d[i] = s.d[(i8 >> (2 * i)) & 3];
    } else {
        int base = in->mand == 0xf3 ? 4 : 0; /* PSHUFHW : PSHUFLW */
        for (int i = 0; i < 4; i++)
            r.w[base + i] = s.w[base + ((i8 >> (2 * i)) & 3)];
    }
    set_xmm(cpu, in->reg, &r);
}

static void op_pinsrw(struct cpu *cpu, const struct insn *in) /* 0F C4 */
{
    uint16_t v = (uint16_t)(in->mod == 3 ? get_reg(cpu, in->rm, 4, true)
                                         : seg_read(cpu, in->seg, insn_ea(cpu, in), 2));
    if (in->mand == 0x66) {
        sse_check(cpu);
        vec a = get_xmm(cpu, in->reg);
        a.w[in->imm & 7] = v;
        set_xmm(cpu, in->reg, &a);
    } else if (in->mand == 0) {
        mmx_check(cpu);
        mmx_enter(cpu);
        uint64_t m = mm_get(cpu, in->reg);
        int s = (int)(in->imm & 3) * 16;
        m = (m & ~(0xffffull << s)) | ((uint64_t)v << s);
        mm_set(cpu, in->reg, m);
    } else {
        raise_ud(cpu);
    }
}

static void op_pextrw(struct cpu *cpu, const struct insn *in) /* 0F C5 */
{
    if (in->mod != 3)
        raise_ud(cpu);
    uint64_t v;
    if (in->mand == 0x66) {
        sse_check(cpu);
        v = get_xmm(cpu, in->rm).w[in->imm & 7];
    } else if (in->mand == 0) {
        mmx_check(cpu);
        mmx_enter(cpu);
        v = (mm_get(cpu, in->rm) >> ((in->imm & 3) * 16)) & 0xffff;
    } else {
        raise_ud(cpu);
    }
    reg_write(cpu, in, cpu_long64(cpu) ? 8 : 4, v);
}

static void op_pmovmskb(struct cpu *cpu, const struct insn *in) /* 0F D7 */
{
    if (in->mod != 3)
        raise_ud(cpu);
    uint64_t m = 0;
    if (in->mand == 0x66) {
        sse_check(cpu);
        vec s = get_xmm(cpu, in->rm);
        for (int i = 0; i < 16; i++)
            m |= (uint64_t)(s.b[i] >> 7) << i;
    } else if (in->mand == 0) {
        mmx_check(cpu);
        mmx_enter(cpu);
        uint64_t s = mm_get(cpu, in->rm);
        for (int i = 0; i < 8; i++)
            m |= ((s >> (8 * i + 7)) & 1) << i;
    } else {
        raise_ud(cpu);
    }
    reg_write(cpu, in, cpu_long64(cpu) ? 8 : 4, m);
}

static void op_maskmov(struct cpu *cpu, const struct insn *in) /* 0F F7: MASKMOVQ/MASKMOVDQU */
{
    if (in->mod != 3 || (in->mand && in->mand != 0x66))
        raise_ud(cpu);
    int n = in->mand ? 16 : 8;
    vec d, m;
    memset(&d, 0, sizeof(d));
    memset(&m, 0, sizeof(m));
    if (n == 16) {
        sse_check(cpu);
        d = get_xmm(cpu, in->reg);
        m = get_xmm(cpu, in->rm);
    } else {
        mmx_check(cpu);
        mmx_enter(cpu);
        d.q[0] = mm_get(cpu, in->reg);
        m.q[0] = mm_get(cpu, in->rm);
    }
    uint64_t di = get_reg(cpu, R_RDI, in->addrsize, true);
    int seg = in->seg;
    for (int i = 0; i < n; i++)
        if (m.b[i] & 0x80)
            seg_write(cpu, seg, (di + i) & size_mask(in->addrsize), 1, d.b[i]);
}

void register_ops_sse(insn_fn *t1, insn_fn *t38, insn_fn *t3a)
{
    t1[0x10] = t1[0x11] = op_mov_10_11;
    t1[0x12] = t1[0x13] = t1[0x16] = t1[0x17] = op_mov_12_17;
    t1[0x14] = t1[0x15] = op_unpck_ps_pd;
    t1[0x28] = t1[0x29] = t1[0x2b] = op_mov_aligned;
    t1[0x2a] = t1[0x2c] = t1[0x2d] = op_cvt_2a_2c_2d;
    t1[0x2e] = t1[0x2f] = op_comis;
    t1[0x50] = op_movmsk;
    t1[0x51] = t1[0x52] = t1[0x53] = op_fp_arith;
    for (int i = 0x58; i <= 0x5f; i++)
        t1[i] = op_fp_arith;
    t1[0x5a] = t1[0x5b] = op_cvt_5a_5b;
    t1[0x54] = t1[0x55] = t1[0x56] = t1[0x57] = op_fp_logic;
    for (int i = 0x60; i <= 0x6d; i++)
        t1[i] = op_int_simd;
    t1[0x6e] = op_movd_6e;
    t1[0x6f] = t1[0x7f] = op_6f_7f;
    t1[0x70] = op_pshuf;
    t1[0x71] = t1[0x72] = t1[0x73] = op_shift_imm;
    t1[0x74] = t1[0x75] = t1[0x76] = op_int_simd;
    t1[0x77] = op_emms;
    t1[0x7e] = op_movd_7e;
    register_ops_fxsave(t1);
    t1[0xc2] = op_cmp;
    t1[0xc3] = op_movnti;
    t1[0xc4] = op_pinsrw;
    t1[0xc5] = op_pextrw;
    t1[0xc6] = op_shuf;
    for (int i = 0xd1; i <= 0xfe; i++)
        t1[i] = op_int_simd;
    t1[0xd6] = op_movq_d6;
    t1[0xd7] = op_pmovmskb;
    t1[0xe6] = op_cvt_e6;
    t1[0xe7] = op_movntq_dq;
    t1[0xf0] = op_ud; /* LDDQU is SSE3 */
    t1[0xf7] = op_maskmov;
    (void)t38;
    (void)t3a;
}
