/* Lazy arithmetic flags. The last flag-setting ALU operation records its
 * operands and result; CF/PF/AF/ZF/SF/OF are computed only when read (SDM
 * 3.4.3.1 defines each flag; Appendix B lists the condition codes). */
#include "cpu_internal.h"

bool parity8(uint8_t v)
{
    v ^= v >> 4;
    v ^= v >> 2;
    v ^= v >> 1;
    return !(v & 1);
}

static inline uint64_t msb(const struct lazy_flags *lf, uint64_t v)
{
    return (v >> (lf->size * 8 - 1)) & 1;
}

bool flag_cf(const struct cpu *cpu)
{
    const struct lazy_flags *lf = &cpu->lf;
    switch (lf->op) {
    case LF_ADD: /* carry out of the top bit, valid for ADD and ADC */
        return msb(lf, (lf->dst & lf->src) | ((lf->dst | lf->src) & ~lf->res));
    case LF_SUB: /* borrow, valid for SUB, SBB, CMP, NEG (dst = 0) */
    case LF_SBB:
        return msb(lf, (~lf->dst & lf->src) | ((~lf->dst | lf->src) & lf->res));
    case LF_LOGIC:
        return false;
    case LF_SHL:
        return lf->src <= lf->size * 8u ? (lf->dst >> (lf->size * 8 - lf->src)) & 1 : 0;
    case LF_SHR:
        return lf->src <= lf->size * 8u ? (lf->dst >> (lf->src - 1)) & 1 : 0;
    case LF_SAR: {
        uint64_t c = lf->src >= lf->size * 8u ? lf->size * 8u - 1 : lf->src - 1;
        return ((int64_t)sext(lf->dst, lf->size) >> c) & 1;
    }
    default: /* LF_NONE, LF_INC, LF_DEC keep CF in rflags */
        return cpu->rflags & FL_CF;
    }
}

bool flag_zf(const struct cpu *cpu)
{
    if (cpu->lf.op == LF_NONE)
        return cpu->rflags & FL_ZF;
    return cpu->lf.res == 0;
}

bool flag_sf(const struct cpu *cpu)
{
    if (cpu->lf.op == LF_NONE)
        return cpu->rflags & FL_SF;
    return msb(&cpu->lf, cpu->lf.res);
}

bool flag_pf(const struct cpu *cpu)
{
    if (cpu->lf.op == LF_NONE)
        return cpu->rflags & FL_PF;
    return parity8((uint8_t)cpu->lf.res);
}

bool flag_of(const struct cpu *cpu)
{
    const struct lazy_flags *lf = &cpu->lf;
    switch (lf->op) {
    case LF_ADD:
        return msb(lf, (lf->dst ^ lf->res) & (lf->src ^ lf->res));
    case LF_SUB:
    case LF_SBB:
        return msb(lf, (lf->dst ^ lf->src) & (lf->dst ^ lf->res));
    case LF_LOGIC:
        return false;
    case LF_INC: /* src is 1 */
        return lf->res == (1ull << (lf->size * 8 - 1));
    case LF_DEC:
        return lf->res == (size_mask(lf->size) >> 1);
    case LF_SHL: /* defined for 1-bit shifts; Intel computes it the same way for others */
        return msb(lf, lf->res) ^ flag_cf(cpu);
    case LF_SHR:
        return msb(lf, lf->dst);
    case LF_SAR:
        return false;
    default:
        return cpu->rflags & FL_OF;
    }
}

static bool flag_af(const struct cpu *cpu)
{
    const struct lazy_flags *lf = &cpu->lf;
    switch (lf->op) {
    case LF_ADD:
    case LF_SUB:
    case LF_SBB:
    case LF_INC:
    case LF_DEC:
        return ((lf->dst ^ lf->src ^ lf->res) >> 4) & 1;
    case LF_LOGIC:
    case LF_SHL:
    case LF_SHR:
    case LF_SAR:
        return false; /* undefined by the SDM; cleared like Intel hardware */
    default:
        return cpu->rflags & FL_AF;
    }
}

uint64_t flags_materialize(struct cpu *cpu)
{
    if (cpu->lf.op != LF_NONE) {
        uint64_t f = cpu->rflags & ~FL_ARITH;
        f |= flag_cf(cpu) ? FL_CF : 0;
        f |= flag_pf(cpu) ? FL_PF : 0;
        f |= flag_af(cpu) ? FL_AF : 0;
        f |= flag_zf(cpu) ? FL_ZF : 0;
        f |= flag_sf(cpu) ? FL_SF : 0;
        f |= flag_of(cpu) ? FL_OF : 0;
        cpu->rflags = f;
        cpu->lf.op = LF_NONE;
    }
    return cpu->rflags;
}

void set_flags_explicit(struct cpu *cpu, uint64_t flags, uint64_t mask)
{
    flags_materialize(cpu);
    cpu->rflags = (cpu->rflags & ~mask) | (flags & mask);
}

/* Condition codes tttn (SDM Vol. 2 Appendix B.1.4.7). */
bool cond_true(struct cpu *cpu, int cc)
{
    bool r;
    const struct lazy_flags *lf = &cpu->lf;
    switch (cc >> 1) {
    case 0:
        r = flag_of(cpu);
        break;
    case 1:
        r = flag_cf(cpu);
        break;
    case 2:
        r = flag_zf(cpu);
        break;
    case 3:
        if (lf->op == LF_SUB) { /* fast path for CMP: unsigned below-or-equal */
            r = (lf->dst & size_mask(lf->size)) <= (lf->src & size_mask(lf->size));
            break;
        }
        r = flag_cf(cpu) || flag_zf(cpu);
        break;
    case 4:
        r = flag_sf(cpu);
        break;
    case 5:
        r = flag_pf(cpu);
        break;
    case 6:
        if (lf->op == LF_SUB) {
            r = (int64_t)sext(lf->dst, lf->size) < (int64_t)sext(lf->src, lf->size);
            break;
        }
        r = flag_sf(cpu) != flag_of(cpu);
        break;
    default:
        if (lf->op == LF_SUB) {
            r = (int64_t)sext(lf->dst, lf->size) <= (int64_t)sext(lf->src, lf->size);
            break;
        }
        r = flag_zf(cpu) || (flag_sf(cpu) != flag_of(cpu));
        break;
    }
    return (cc & 1) ? !r : r;
}

uint64_t cpu_get_rflags(struct cpu *cpu)
{
    return flags_materialize(cpu);
}
