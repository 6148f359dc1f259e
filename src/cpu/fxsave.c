/* Group 15 (0F AE): FXSAVE/FXRSTOR (SDM Vol. 1 Table 10-2), XSAVE/XRSTOR/
 * XSAVEOPT (Vol. 1 chapter 13), LDMXCSR/STMXCSR, fences, CLFLUSH(OPT) and
 * RD/WR FS/GS BASE. */
#include "cpu_internal.h"

#define MXCSR_MASK_BITS 0xffffu /* MXCSR_MASK reported by FXSAVE */

static void sse_check(struct cpu *cpu)
{
    if ((cpu->cr0 & CR0_EM) || !(cpu->cr4 & CR4_OSFXSR))
        raise_ud(cpu);
    if (cpu->cr0 & CR0_TS)
        raise_exception_noerr(cpu, EXC_NM);
}

static uint64_t mem_la(struct cpu *cpu, const struct insn *in, int size, enum acc acc)
{
    return seg_linear(cpu, in->seg, insn_ea(cpu, in), size, acc);
}

static void read_mem(struct cpu *cpu, const struct insn *in, void *dst, int n)
{
    seg_read_bytes(cpu, in->seg, insn_ea(cpu, in), dst, n);
}

static void write_mem(struct cpu *cpu, const struct insn *in, const void *src, int n)
{
    seg_write_bytes(cpu, in->seg, insn_ea(cpu, in), src, n);
}

/* ---- group 15 (0F AE): FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, XSAVE... ---- */

/* The FXSAVE image (SDM Vol. 1 Table 10-2): x87 state in stack order. */
static void fxsave_image(struct cpu *cpu, uint8_t img[512], bool rex_w)
{
    memset(img, 0, 512);
    struct fpu_state *f = &cpu->fpu;
    memcpy(img + 0, &f->fcw, 2);
    memcpy(img + 2, &f->fsw, 2);
    img[4] = (uint8_t)f->ftw_abridged;
    memcpy(img + 6, &f->fop, 2);
    if (rex_w) {
        memcpy(img + 8, &f->fip, 8);
        memcpy(img + 16, &f->fdp, 8);
    } else {
        memcpy(img + 8, &f->fip, 4);
        memcpy(img + 16, &f->fdp, 4);
    }
    memcpy(img + 24, &f->mxcsr, 4);
    uint32_t mm = MXCSR_MASK_BITS;
    memcpy(img + 28, &mm, 4);
    int top = (f->fsw >> 11) & 7;
    for (int i = 0; i < 8; i++)
        memcpy(img + 32 + i * 16, f->st[(top + i) & 7], 10);
    int nx = cpu_long64(cpu) ? 16 : 8;
    for (int i = 0; i < nx; i++)
        memcpy(img + 160 + i * 16, &f->xmm[i], 16);
}

static void fxrstor_image(struct cpu *cpu, const uint8_t img[512], bool rex_w, bool sse)
{
    struct fpu_state *f = &cpu->fpu;
    memcpy(&f->fcw, img + 0, 2);
    memcpy(&f->fsw, img + 2, 2);
    f->ftw_abridged = img[4];
    memcpy(&f->fop, img + 6, 2);
    f->fip = f->fdp = 0;
    memcpy(&f->fip, img + 8, rex_w ? 8 : 4);
    memcpy(&f->fdp, img + 16, rex_w ? 8 : 4);
    int top = (f->fsw >> 11) & 7;
    for (int i = 0; i < 8; i++) {
        memset(f->st[(top + i) & 7], 0, 16);
        memcpy(f->st[(top + i) & 7], img + 32 + i * 16, 10);
    }
    if (sse) {
        memcpy(&f->mxcsr, img + 24, 4);
        int nx = cpu_long64(cpu) ? 16 : 8;
        for (int i = 0; i < nx; i++)
            memcpy(&f->xmm[i], img + 160 + i * 16, 16);
    }
}

static void op_fxsave(struct cpu *cpu, const struct insn *in, bool restore)
{
    if (cpu->cr0 & (CR0_EM | CR0_TS))
        raise_exception_noerr(cpu, (cpu->cr0 & CR0_EM) ? EXC_NM : EXC_NM);
    if (mem_la(cpu, in, 512, restore ? ACC_READ : ACC_WRITE) & 15)
        raise_gp0(cpu);
    uint8_t img[512];
    bool w = in->opsize == 8;
    if (restore) {
        read_mem(cpu, in, img, 512);
        uint32_t mx;
        memcpy(&mx, img + 24, 4);
        if (mx & ~MXCSR_MASK_BITS)
            raise_gp0(cpu);
        fxrstor_image(cpu, img, w, cpu->cr4 & CR4_OSFXSR);
    } else {
        fxsave_image(cpu, img, w);
        if (!(cpu->cr4 & CR4_OSFXSR)) { /* no SSE state when OSFXSR = 0 */
            memset(img + 24, 0, 8);
            memset(img + 160, 0, 256);
        }
        write_mem(cpu, in, img, 512);
    }
}

/* XSAVE/XRSTOR/XSAVEOPT with XCR0 = x87 | SSE (SDM Vol. 1 13.7-13.8). */
static void op_xsave(struct cpu *cpu, const struct insn *in, int which)
{
    if (!(cpu->cr4 & CR4_OSXSAVE))
        raise_ud(cpu);
    if (cpu->cr0 & CR0_TS)
        raise_exception_noerr(cpu, EXC_NM);
    uint64_t la = mem_la(cpu, in, 576, which == 1 ? ACC_READ : ACC_WRITE);
    if (la & 63)
        raise_gp0(cpu);
    uint64_t rfbm = ((cpu->regs[R_RDX] << 32) | (cpu->regs[R_RAX] & 0xffffffffull)) & cpu->xcr0;
    bool w = in->opsize == 8;
    uint8_t img[576];
    read_mem(cpu, in, img, 576);
    if (which == 1) { /* XRSTOR */
        uint64_t xstate_bv, xcomp_bv;
        memcpy(&xstate_bv, img + 512, 8);
        memcpy(&xcomp_bv, img + 520, 8);
        uint8_t zero[48] = {0};
        if ((xstate_bv & ~cpu->xcr0) || xcomp_bv || memcmp(img + 528, zero, 48))
            raise_gp0(cpu);
        uint32_t mx;
        memcpy(&mx, img + 24, 4);
        if ((rfbm & 2) && (mx & ~MXCSR_MASK_BITS))
            raise_gp0(cpu);
        uint8_t cur[512];
        fxsave_image(cpu, cur, w);
        if (rfbm & 1) {
            if (xstate_bv & 1) {
                memcpy(cur, img, 24);
                memcpy(cur + 32, img + 32, 128);
            } else { /* initial x87 state */
                memset(cur, 0, 24);
                uint16_t fcw = 0x37f;
                memcpy(cur, &fcw, 2);
                memset(cur + 32, 0, 128);
            }
        }
        if (rfbm & 2) {
            memcpy(cur + 24, img + 24, 4); /* MXCSR is restored with SSE (13.8.1) */
            if (xstate_bv & 2)
                memcpy(cur + 160, img + 160, 256);
            else
                memset(cur + 160, 0, 256);
        }
        fxrstor_image(cpu, cur, w, true);
        return;
    }
    uint8_t cur[512];
    fxsave_image(cpu, cur, w);
    if (rfbm & 1) {
        memcpy(img, cur, 24);
        memcpy(img + 32, cur + 32, 128);
    }
    if (rfbm & 3)
        memcpy(img + 24, cur + 24, 8);
    if (rfbm & 2)
        memcpy(img + 160, cur + 160, (cpu_long64(cpu) ? 16 : 8) * 16);
    uint64_t bv;
    memcpy(&bv, img + 512, 8);
    bv = (bv & ~rfbm) | (rfbm & 3);
    memcpy(img + 512, &bv, 8);
    write_mem(cpu, in, img, 576);
}

/* XSAVES / XRSTORS (SDM Vol. 1 13.11-13.12, Vol. 2 instruction pages):
 * the compacted format, user components of XCR0 (x87, SSE) plus the
 * supervisor components of IA32_XSS (PASID, component 10: 8 bytes, not
 * 64-byte aligned, at offset 576 when it is in XCOMP_BV, as no component
 * between 2 and 9 is supported). XINUSE is taken as all ones: every
 * requested component is saved and marked in XSTATE_BV. */
#define XSAVE_HDR 512
#define XSAVE_COMPACT_PASID 576

void op_xsaves(struct cpu *cpu, const struct insn *in, bool restore)
{
    /* SDM 25.6.2: with "enable XSAVES/XRSTORS" = 0 both are #UD in VMX
     * non-root operation (where this processor runs all guest code) */
    if (!(cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) ||
        !(cpu->ctl.proc2 & PROC2_ENABLE_XSAVES_XRSTORS) || !(cpu->cr4 & CR4_OSXSAVE) || in->lock)
        raise_ud(cpu);
    if (cpu->cpl != 0)
        raise_gp0(cpu);
    if (cpu->cr0 & CR0_TS)
        raise_exception_noerr(cpu, EXC_NM);
    uint64_t edxeax = (cpu->regs[R_RDX] << 32) | (cpu->regs[R_RAX] & 0xffffffffull);
    /* SDM 26.1.3: a VM exit when EDX:EAX, IA32_XSS and the XSS-exiting
     * bitmap share a bit; it has priority over the operand's faults */
    if (edxeax & cpu->xss & cpu->ctl.xss_exit_bitmap)
        exit_instruction(cpu, restore ? EXIT_REASON_XRSTORS : EXIT_REASON_XSAVES,
                         (uint64_t)in->disp, insn_info_operand(in));
    uint64_t rfbm = edxeax & (cpu->xcr0 | cpu->xss);
    bool w = in->opsize == 8;
    uint8_t img[XSAVE_COMPACT_PASID + 8];
    if (restore) {
        /* the header decides the layout: read it first */
        uint64_t la = mem_la(cpu, in, XSAVE_COMPACT_PASID, ACC_READ);
        if (la & 63)
            raise_gp0(cpu);
        read_mem(cpu, in, img, XSAVE_COMPACT_PASID);
        uint64_t xstate_bv, xcomp_bv;
        memcpy(&xstate_bv, img + XSAVE_HDR, 8);
        memcpy(&xcomp_bv, img + XSAVE_HDR + 8, 8);
        static const uint8_t zero[48];
        uint64_t comps = xcomp_bv & ~(1ull << 63);
        if (!(xcomp_bv >> 63) || (comps & ~(cpu->xcr0 | cpu->xss)) || (xstate_bv & ~comps) ||
            memcmp(img + XSAVE_HDR + 16, zero, 48))
            raise_gp0(cpu);
        uint64_t pasid = 0;
        if (comps & XSS_PASID) {
            seg_read_bytes(cpu, in->seg, insn_ea(cpu, in) + XSAVE_COMPACT_PASID,
                           img + XSAVE_COMPACT_PASID, 8);
            memcpy(&pasid, img + XSAVE_COMPACT_PASID, 8);
        }
        uint64_t load = rfbm & xstate_bv; /* the others are initialized */
        uint32_t mx;
        memcpy(&mx, img + 24, 4);
        if (((load & 2) && (mx & ~MXCSR_MASK_BITS)) ||
            ((load & XSS_PASID) && (pasid & ~PASID_VALID)))
            raise_gp0(cpu);
        /* no fault past this point: the state changes all at once */
        uint8_t cur[512];
        fxsave_image(cpu, cur, w);
        if (rfbm & 1) {
            if (load & 1) {
                memcpy(cur, img, 24);
                memcpy(cur + 32, img + 32, 128);
            } else { /* initial x87 state */
                memset(cur, 0, 24);
                uint16_t fcw = 0x37f;
                memcpy(cur, &fcw, 2);
                memset(cur + 32, 0, 128);
            }
        }
        if (rfbm & 2) {
            /* compacted form: MXCSR belongs to the SSE component */
            uint32_t init_mx = 0x1f80;
            memcpy(cur + 24, (load & 2) ? img + 24 : (const uint8_t *)&init_mx, 4);
            if (load & 2)
                memcpy(cur + 160, img + 160, 256);
            else
                memset(cur + 160, 0, 256);
        }
        fxrstor_image(cpu, cur, w, true);
        if (rfbm & XSS_PASID)
            cpu->pasid = (load & XSS_PASID) ? pasid : 0;
        return;
    }
    int size = XSAVE_COMPACT_PASID + ((rfbm & XSS_PASID) ? 8 : 0);
    uint64_t la = mem_la(cpu, in, size, ACC_WRITE);
    if (la & 63)
        raise_gp0(cpu);
    read_mem(cpu, in, img, size);
    uint8_t cur[512];
    fxsave_image(cpu, cur, w);
    if (rfbm & 1) {
        memcpy(img, cur, 24);
        memcpy(img + 32, cur + 32, 128);
    }
    if (rfbm & 2) {
        memcpy(img + 24, cur + 24, 8);
        memcpy(img + 160, cur + 160, (cpu_long64(cpu) ? 16 : 8) * 16);
    }
    if (rfbm & XSS_PASID)
        memcpy(img + XSAVE_COMPACT_PASID, &cpu->pasid, 8);
    uint64_t xcomp_bv = rfbm | (1ull << 63);
    memcpy(img + XSAVE_HDR, &rfbm, 8);
    memcpy(img + XSAVE_HDR + 8, &xcomp_bv, 8);
    write_mem(cpu, in, img, size);
}

static void op_grp15(struct cpu *cpu, const struct insn *in) /* 0F AE */
{
    int r = (in->modrm >> 3) & 7;
    if (in->mod == 3) {
        if (in->mand == 0xf3 && r <= 3) { /* RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE */
            if (!cpu_long64(cpu) || !(cpu->cr4 & CR4_FSGSBASE))
                raise_ud(cpu);
            int sz = in->opsize == 8 ? 8 : 4;
            int sreg = (r & 1) ? S_GS : S_FS;
            if (r < 2) {
                set_reg(cpu, in->rm, sz, true, cpu->seg[sreg].base);
            } else {
                uint64_t v = get_reg(cpu, in->rm, sz, true);
                if ((uint64_t)((int64_t)(v << 16) >> 16) != v)
                    raise_gp0(cpu);
                cpu->seg[sreg].base = v;
            }
            return;
        }
        if (in->mand == 0 && r >= 5) /* LFENCE, MFENCE, SFENCE */
            return;
        raise_ud(cpu);
    }
    if (in->mand == 0x66 && r == 7) { /* CLFLUSHOPT */
        mem_la(cpu, in, 1, ACC_READ);
        mmu_translate(cpu, mem_la(cpu, in, 1, ACC_READ), ACC_READ, cpu->cpl == 3);
        return;
    }
    if (in->mand)
        raise_ud(cpu);
    switch (r) {
    case 0:
        op_fxsave(cpu, in, false);
        return;
    case 1:
        op_fxsave(cpu, in, true);
        return;
    case 2: { /* LDMXCSR */
        sse_check(cpu);
        uint32_t v = (uint32_t)seg_read(cpu, in->seg, insn_ea(cpu, in), 4);
        if (v & ~MXCSR_MASK_BITS)
            raise_gp0(cpu);
        cpu->fpu.mxcsr = v;
        return;
    }
    case 3: /* STMXCSR */
        sse_check(cpu);
        seg_write(cpu, in->seg, insn_ea(cpu, in), 4, cpu->fpu.mxcsr);
        return;
    case 4:
        op_xsave(cpu, in, 0);
        return;
    case 5:
        op_xsave(cpu, in, 1);
        return;
    case 6:
        op_xsave(cpu, in, 2);
        return; /* XSAVEOPT: no modified-state tracking */
    default: {  /* CLFLUSH: the address must translate (it can #PF) */
        uint64_t la = mem_la(cpu, in, 1, ACC_READ);
        mmu_translate(cpu, la, ACC_READ, cpu->cpl == 3);
        return;
    }
    }
}

void register_ops_fxsave(insn_fn *t1)
{
    t1[0xae] = op_grp15;
}
