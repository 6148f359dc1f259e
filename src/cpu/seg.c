/* Segmentation: operating mode, descriptor tables, segment-register loads
 * with the protection checks of SDM Vol. 3A 5.4-5.8 and 3.4.5. */
#include "cpu_internal.h"

void cpu_update_mode(struct cpu *cpu)
{
    const struct segment *cs = &cpu->seg[S_CS];
    if (!(cpu->cr0 & CR0_PE))
        cpu->mode = CPU_MODE_REAL;
    else if (cpu->rflags & FL_VM)
        cpu->mode = CPU_MODE_VM86;
    else if (cpu->efer & EFER_LMA)
        cpu->mode = (cs->ar & 0x2000)   ? CPU_MODE_LONG64
                    : (cs->ar & 0x4000) ? CPU_MODE_COMPAT32
                                        : CPU_MODE_COMPAT16;
    else
        cpu->mode = (cs->ar & 0x4000) ? CPU_MODE_PROT32 : CPU_MODE_PROT16;
    if (cpu->mode == CPU_MODE_REAL)
        cpu->cpl = 0;
    else if (cpu->mode == CPU_MODE_VM86)
        cpu->cpl = 3;
}

/* Descriptor -> VMCS access-rights layout (formats.md section 8). */
uint32_t desc_to_ar(uint64_t d)
{
    return (uint32_t)((d >> 40) & 0xff) | (uint32_t)(((d >> 52) & 0xf) << 12);
}

uint64_t desc_base(uint64_t d)
{
    return ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000ull);
}

uint32_t desc_limit(uint64_t d)
{
    uint32_t l = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
    if (d & (1ull << 55))
        l = (l << 12) | 0xfff;
    return l;
}

/* Reads the descriptor for sel. exc_vec is the exception for a selector
 * outside the table (#GP or #TS, error code = selector). */
int read_descriptor(struct cpu *cpu, uint16_t sel, uint64_t *lo, int exc_vec)
{
    uint64_t base;
    uint32_t limit;
    if (sel & 4) {
        const struct segment *ldt = &cpu->seg[S_LDTR];
        if (ldt->ar & 0x10000)
            raise_exception(cpu, exc_vec, sel & 0xfffc);
        base = ldt->base;
        limit = ldt->limit;
    } else {
        base = cpu->gdtr.base;
        limit = cpu->gdtr.limit;
    }
    if ((uint32_t)(sel & ~7) + 7 > limit)
        raise_exception(cpu, exc_vec, sel & 0xfffc);
    *lo = lin_read(cpu, base + (sel & ~7), 8, true);
    return 0;
}

static uint64_t read_descriptor_hi(struct cpu *cpu, uint16_t sel, int exc_vec)
{
    uint64_t base = (sel & 4) ? cpu->seg[S_LDTR].base : cpu->gdtr.base;
    uint32_t limit = (sel & 4) ? cpu->seg[S_LDTR].limit : cpu->gdtr.limit;
    if ((uint32_t)(sel & ~7) + 15 > limit)
        raise_exception(cpu, exc_vec, sel & 0xfffc);
    return lin_read(cpu, base + (sel & ~7) + 8, 8, true);
}

/* Sets the accessed bit in the descriptor (SDM 3.4.5.1). */
void write_descriptor_accessed(struct cpu *cpu, uint16_t sel, uint64_t d)
{
    if (d & (1ull << 40))
        return;
    uint64_t base = (sel & 4) ? cpu->seg[S_LDTR].base : cpu->gdtr.base;
    lin_write(cpu, base + (sel & ~7) + 5, 1, ((d >> 40) & 0xff) | 1, true);
}

void load_seg_desc(struct cpu *cpu, int sreg, uint16_t sel, uint64_t d, uint64_t hi)
{
    struct segment *s = &cpu->seg[sreg];
    s->sel = sel;
    s->base = desc_base(d);
    if (hi && (sreg == S_LDTR || sreg == S_TR))
        s->base |= (hi & 0xffffffffull) << 32;
    s->limit = desc_limit(d);
    s->ar = desc_to_ar(d | (sreg < S_LDTR && (d & (1ull << 44)) ? (1ull << 40) : 0));
    if (sreg == S_CS)
        cpu_update_mode(cpu);
}

void load_seg_real(struct cpu *cpu, int sreg, uint16_t sel)
{
    struct segment *s = &cpu->seg[sreg];
    s->sel = sel;
    s->base = (uint64_t)sel << 4;
    if (cpu->mode == CPU_MODE_VM86) {
        s->limit = 0xffff;
        s->ar = sreg == S_CS ? 0xfb : 0xf3;
    } else if (sreg == S_CS) {
        /* real mode keeps the cached limit/attributes except that CS is
         * writable data-compatible code (SDM 20.1.1) */
        s->ar = (s->ar & ~0x6000u) | 0x9b;
    }
    if (sreg == S_CS)
        cpu_update_mode(cpu);
}

void set_seg_null(struct cpu *cpu, int sreg, uint16_t sel)
{
    struct segment *s = &cpu->seg[sreg];
    s->sel = sel;
    s->base = 0;
    s->limit = 0;
    /* unusable; SS keeps its DPL = CPL (SDM 25.4.1 note on SS.DPL) */
    s->ar = 0x10000 | (sreg == S_SS ? ((sel & 3u) << 5) : 0);
}

/* MOV/POP to a data segment register or SS (SDM 5.4.1, MOV instruction
 * reference "Protected Mode Exceptions"). */
void load_seg(struct cpu *cpu, int sreg, uint16_t sel)
{
    if (cpu->mode == CPU_MODE_REAL || cpu->mode == CPU_MODE_VM86) {
        load_seg_real(cpu, sreg, sel);
        return;
    }
    int rpl = sel & 3;
    if ((sel & 0xfffc) == 0) {
        if (sreg == S_SS && (!cpu_long64(cpu) || rpl != cpu->cpl || cpu->cpl == 3))
            raise_exception(cpu, EXC_GP, 0);
        set_seg_null(cpu, sreg, sel);
        return;
    }
    uint64_t d;
    read_descriptor(cpu, sel, &d, EXC_GP);
    uint32_t ar = desc_to_ar(d);
    int dpl = (ar >> 5) & 3;
    uint32_t type = ar & 0xf;
    if (sreg == S_SS) {
        if (rpl != cpu->cpl || !(ar & 0x10) || (type & 8) || !(type & 2) || dpl != cpu->cpl)
            raise_exception(cpu, EXC_GP, sel & 0xfffc);
        if (!(ar & 0x80))
            raise_exception(cpu, EXC_SS, sel & 0xfffc);
    } else {
        /* data or readable code; nonconforming needs DPL >= max(CPL, RPL) */
        if (!(ar & 0x10) || ((type & 8) && !(type & 2)))
            raise_exception(cpu, EXC_GP, sel & 0xfffc);
        bool conforming_code = (type & 8) && (type & 4);
        if (!conforming_code && (dpl < cpu->cpl || dpl < rpl))
            raise_exception(cpu, EXC_GP, sel & 0xfffc);
        if (!(ar & 0x80))
            raise_exception(cpu, EXC_NP, sel & 0xfffc);
    }
    write_descriptor_accessed(cpu, sel, d);
    load_seg_desc(cpu, sreg, sel, d | (1ull << 40), 0);
}

/* LLDT / LTR (SDM Vol. 2 instruction reference). */
void load_ldt(struct cpu *cpu, uint16_t sel)
{
    if ((sel & 0xfffc) == 0) {
        set_seg_null(cpu, S_LDTR, sel);
        return;
    }
    if (sel & 4)
        raise_exception(cpu, EXC_GP, sel & 0xfffc);
    uint64_t d, hi = 0;
    read_descriptor(cpu, sel, &d, EXC_GP);
    uint32_t ar = desc_to_ar(d);
    if ((ar & 0x10) || (ar & 0xf) != 2)
        raise_exception(cpu, EXC_GP, sel & 0xfffc);
    if (cpu_in_lma(cpu)) {
        hi = read_descriptor_hi(cpu, sel, EXC_GP);
        if ((hi >> 40) & 0x1f)
            raise_exception(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!(ar & 0x80))
        raise_exception(cpu, EXC_NP, sel & 0xfffc);
    load_seg_desc(cpu, S_LDTR, sel, d, hi);
}

void load_tr(struct cpu *cpu, uint16_t sel)
{
    if ((sel & 0xfffc) == 0 || (sel & 4))
        raise_exception(cpu, EXC_GP, sel & 0xfffc);
    uint64_t d, hi = 0;
    read_descriptor(cpu, sel, &d, EXC_GP);
    uint32_t ar = desc_to_ar(d);
    uint32_t type = ar & 0xf;
    bool ok = !(ar & 0x10) && (cpu_in_lma(cpu) ? type == 9 : (type == 1 || type == 9));
    if (!ok)
        raise_exception(cpu, EXC_GP, sel & 0xfffc);
    if (cpu_in_lma(cpu)) {
        hi = read_descriptor_hi(cpu, sel, EXC_GP);
        if ((hi >> 40) & 0x1f)
            raise_exception(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!(ar & 0x80))
        raise_exception(cpu, EXC_NP, sel & 0xfffc);
    /* mark busy */
    uint64_t base = cpu->gdtr.base;
    lin_write(cpu, base + (sel & ~7) + 5, 1, ((d >> 40) & 0xff) | 2, true);
    load_seg_desc(cpu, S_TR, sel, d | (2ull << 40), hi);
}

/* Checks and loads CS for a far JMP/CALL/RET/IRET to code segment sel at
 * new_cpl (SDM 5.8). Returns the descriptor through d. For direct transfers
 * (JMP/CALL) the checks are those of the instruction reference; RET/IRET
 * pass is_return. */
uint64_t check_code_selector(struct cpu *cpu, uint16_t sel, bool is_return, int *new_cpl)
{
    if ((sel & 0xfffc) == 0)
        raise_exception(cpu, EXC_GP, 0);
    uint64_t d;
    read_descriptor(cpu, sel, &d, EXC_GP);
    uint32_t ar = desc_to_ar(d);
    int dpl = (ar >> 5) & 3, rpl = sel & 3;
    if (!(ar & 0x10) || !(ar & 8))
        raise_exception(cpu, EXC_GP, sel & 0xfffc);
    bool conforming = ar & 4;
    if (is_return) {
        if (rpl < cpu->cpl)
            raise_exception(cpu, EXC_GP, sel & 0xfffc);
        if (conforming ? dpl > rpl : dpl != rpl)
            raise_exception(cpu, EXC_GP, sel & 0xfffc);
        *new_cpl = rpl;
    } else {
        if (conforming ? dpl > cpu->cpl : (rpl > cpu->cpl || dpl != cpu->cpl))
            raise_exception(cpu, EXC_GP, sel & 0xfffc);
        *new_cpl = cpu->cpl;
    }
    if (!(ar & 0x80))
        raise_exception(cpu, EXC_NP, sel & 0xfffc);
    if (cpu_in_lma(cpu) && (ar & 0x2000) && (ar & 0x4000))
        raise_exception(cpu, EXC_GP, sel & 0xfffc);
    return d;
}
