/* Segment-register loads, far transfers (JMP/CALL through code segments
 * and call gates, RET far, IRET) and software interrupts (SDM Vol. 3A 5.8,
 * 6.12; Vol. 2 CALL/JMP/RET/IRET/INT n reference pages). */
#include "cpu_internal.h"

/* ---- segment registers ---- */

/* The segment register of PUSH/POP ES/CS/SS/DS (06-1F: bits 4:3) and
 * PUSH/POP FS/GS (0F A0/A1, 0F A8/A9). */
static int stack_sreg(const struct insn *in)
{
    if (in->map == 1)
        return in->opcode < 0xa8 ? S_FS : S_GS;
    return (in->opcode >> 3) & 3; /* ES=0, CS=1, SS=2, DS=3 as S_* */
}

static void op_push_sreg(struct cpu *cpu, const struct insn *in)
{
    int sreg = stack_sreg(in);
    /* a segment push with 32-bit operand size writes only 16 bits on recent
     * Intel processors (SDM PUSH); the stack pointer moves by the full size */
    int sz = in->opsize;
    uint64_t sp = (get_sp(cpu) - sz) & size_mask(stack_size(cpu));
    seg_probe_write(cpu, S_SS, sp, sz);
    seg_write(cpu, S_SS, sp, 2, cpu->seg[sreg].sel);
    set_sp(cpu, sp);
}

static void op_pop_sreg(struct cpu *cpu, const struct insn *in)
{
    int sreg = stack_sreg(in);
    uint64_t sp = get_sp(cpu);
    uint16_t sel = (uint16_t)seg_read(cpu, S_SS, sp, 2);
    load_seg(cpu, sreg, sel);
    set_sp(cpu, sp + in->opsize);
    if (sreg == S_SS)
        cpu->interruptibility |= INTR_STATE_MOV_SS;
}

static void op_mov_rm_sreg(struct cpu *cpu, const struct insn *in) /* 8C */
{
    int sreg = (in->modrm >> 3) & 7;
    if (sreg > S_GS)
        op_ud(cpu, in);
    if (in->mod == 3)
        set_reg(cpu, in->rm, in->opsize == 2 ? 2 : 4, in->rex, cpu->seg[sreg].sel);
    else
        seg_write(cpu, in->seg, insn_ea(cpu, in), 2, cpu->seg[sreg].sel);
}

static void op_mov_sreg_rm(struct cpu *cpu, const struct insn *in) /* 8E */
{
    int sreg = (in->modrm >> 3) & 7;
    if (sreg > S_GS || sreg == S_CS)
        op_ud(cpu, in);
    uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
    load_seg(cpu, sreg, sel);
    if (sreg == S_SS)
        cpu->interruptibility |= INTR_STATE_MOV_SS;
}

static void op_load_far_ptr(struct cpu *cpu, const struct insn *in) /* C4 C5 0F B2 B4 B5 */
{
    if (in->mod == 3)
        op_ud(cpu, in);
    int sreg;
    if (in->map == 0)
        sreg = in->opcode == 0xc4 ? S_ES : S_DS;
    else
        sreg = in->opcode == 0xb2 ? S_SS : in->opcode == 0xb4 ? S_FS : S_GS;
    uint64_t ea = insn_ea(cpu, in);
    int osz = in->opsize;
    uint64_t off = seg_read(cpu, in->seg, ea, osz);
    uint16_t sel = (uint16_t)seg_read(cpu, in->seg, (ea + osz) & size_mask(in->addrsize), 2);
    load_seg(cpu, sreg, sel);
    reg_write(cpu, in, osz, off);
}

/* ---- far transfers (SDM 5.8, CALL/JMP/RET/IRET reference pages) ---- */

static void far_jump_or_call(struct cpu *cpu, uint16_t sel, uint64_t off, int osz, bool call)
{
    uint16_t old_cs = cpu->seg[S_CS].sel;
    uint64_t ret = cpu->rs->next_rip;
    if (!cpu_protected(cpu) || cpu->mode == CPU_MODE_VM86) {
        if (call) {
            uint64_t sp = (get_sp(cpu) - 2 * osz) & size_mask(stack_size(cpu));
            seg_probe_write(cpu, S_SS, sp, 2 * osz);
            push(cpu, osz, old_cs);
            push(cpu, osz, ret);
        }
        load_seg_real(cpu, S_CS, sel);
        cpu->rs->next_rip = off & size_mask(osz);
        return;
    }
    if ((sel & 0xfffc) == 0)
        raise_gp0(cpu);
    uint64_t d;
    read_descriptor(cpu, sel, &d, EXC_GP);
    uint32_t ar = desc_to_ar(d);
    if (!(ar & 0x10)) {
        int type = ar & 0xf;
        if (type == 1 || type == 9 || type == 5) {
            /* task switch through a TSS or task gate: unconditional exit */
            cpu->exit.instr_len = cpu->rs->in->len;
            vm_exit(cpu, EXIT_REASON_TASK_SWITCH, sel | ((call ? 0ull : 2ull) << 30));
        }
        extern void far_via_call_gate(struct cpu * cpu, uint16_t sel, uint64_t gate, bool call,
                                      int osz);
        far_via_call_gate(cpu, sel, d, call, osz);
        return;
    }
    int new_cpl;
    d = check_code_selector(cpu, sel, false, &new_cpl);
    if (cpu_in_lma(cpu) && (desc_to_ar(d) & 0x2000))
        ; /* 64-bit target: offset may be 64-bit (REX.W FF /3 /5) */
    else
        off &= size_mask(osz == 8 ? 4 : osz);
    uint32_t limit = desc_limit(d);
    if (!(cpu_in_lma(cpu) && (desc_to_ar(d) & 0x2000)) && off > limit)
        raise_gp0(cpu);
    if (call) {
        uint64_t sp = (get_sp(cpu) - 2 * osz) & size_mask(stack_size(cpu));
        seg_probe_write(cpu, S_SS, sp, 2 * osz);
        push(cpu, osz, old_cs);
        push(cpu, osz, ret);
    }
    write_descriptor_accessed(cpu, sel, d);
    load_seg_desc(cpu, S_CS, (sel & 0xfffc) | cpu->cpl, d | (1ull << 40), 0);
    cpu->rs->next_rip = off;
}

/* Call gates (SDM 5.8.3-5.8.6): same-privilege and inter-privilege CALL,
 * JMP to same privilege. Parameter copying for 32-bit gates is done. */
void far_via_call_gate(struct cpu *cpu, uint16_t gsel, uint64_t g, bool call, int osz)
{
    uint32_t gar = desc_to_ar(g);
    int type = gar & 0xf;
    bool lma = cpu_in_lma(cpu);
    if (!((type == 12) || (!lma && type == 4)))
        raise_exception(cpu, EXC_GP, gsel & 0xfffc);
    int gdpl = (gar >> 5) & 3;
    if (gdpl < cpu->cpl || gdpl < (gsel & 3))
        raise_exception(cpu, EXC_GP, gsel & 0xfffc);
    if (!(gar & 0x80))
        raise_exception(cpu, EXC_NP, gsel & 0xfffc);
    uint64_t ghi = 0;
    if (lma) {
        uint64_t base = (gsel & 4) ? cpu->seg[S_LDTR].base : cpu->gdtr.base;
        ghi = lin_read(cpu, base + (gsel & ~7) + 8, 8, true);
        if ((ghi >> 40) & 0x1f)
            raise_exception(cpu, EXC_GP, gsel & 0xfffc);
    }
    uint16_t sel = (g >> 16) & 0xffff;
    uint64_t off = (g & 0xffff) | ((g >> 32) & 0xffff0000ull);
    if (lma)
        off |= (ghi & 0xffffffffull) << 32;
    bool gate32 = type == 12;
    int gosz = lma ? 8 : gate32 ? 4 : 2;
    if (type == 4)
        off &= 0xffff;
    if ((sel & 0xfffc) == 0)
        raise_gp0(cpu);
    uint64_t d;
    read_descriptor(cpu, sel, &d, EXC_GP);
    uint32_t ar = desc_to_ar(d);
    int dpl = (ar >> 5) & 3;
    if (!(ar & 0x10) || !(ar & 8) || dpl > cpu->cpl)
        raise_exception(cpu, EXC_GP, sel & 0xfffc);
    if (lma && (!(ar & 0x2000) || (ar & 0x4000)))
        raise_exception(cpu, EXC_GP, sel & 0xfffc);
    if (!(ar & 0x80))
        raise_exception(cpu, EXC_NP, sel & 0xfffc);
    bool conforming = ar & 4;
    uint16_t old_cs = cpu->seg[S_CS].sel;
    uint64_t ret = cpu->rs->next_rip;
    (void)osz;
    if (!call) {
        if (!conforming && dpl != cpu->cpl)
            raise_exception(cpu, EXC_GP, sel & 0xfffc);
        load_seg_desc(cpu, S_CS, (sel & 0xfffc) | cpu->cpl, d | (1ull << 40), 0);
        cpu->rs->next_rip = off;
        return;
    }
    if (!conforming && dpl < cpu->cpl) {
        /* inter-privilege call: new stack from the TSS */
        int ncpl = dpl;
        struct segment *tr = &cpu->seg[S_TR];
        uint64_t nsp;
        uint16_t nss = 0;
        uint64_t ssd = 0;
        if (lma) {
            nsp = lin_read(cpu, tr->base + 4 + ncpl * 8, 8, true);
            nss = ncpl;
        } else {
            bool t32 = (tr->ar & 0xf) == 9 || (tr->ar & 0xf) == 11;
            uint32_t o = t32 ? 4 + ncpl * 8 : 2 + ncpl * 4;
            if (o + (t32 ? 5 : 3) > tr->limit)
                raise_exception(cpu, EXC_TS, tr->sel & 0xfffc);
            nsp = lin_read(cpu, tr->base + o, t32 ? 4 : 2, true);
            nss = (uint16_t)lin_read(cpu, tr->base + o + (t32 ? 4 : 2), 2, true);
            if ((nss & 0xfffc) == 0)
                raise_exception(cpu, EXC_TS, 0);
            read_descriptor(cpu, nss, &ssd, EXC_TS);
            uint32_t sar = desc_to_ar(ssd);
            if ((nss & 3) != ncpl || (int)((sar >> 5) & 3) != ncpl || !(sar & 0x10) || (sar & 8) ||
                !(sar & 2))
                raise_exception(cpu, EXC_TS, nss & 0xfffc);
            if (!(sar & 0x80))
                raise_exception(cpu, EXC_SS, nss & 0xfffc);
        }
        uint16_t old_ss = cpu->seg[S_SS].sel;
        uint64_t old_sp = cpu->regs[R_RSP];
        int pcount = lma ? 0 : (int)((g >> 32) & 0x1f);
        uint64_t params[32];
        for (int i = 0; i < pcount; i++)
            params[i] =
                seg_read(cpu, S_SS, (get_sp(cpu) + i * gosz) & size_mask(stack_size(cpu)), gosz);
        /* switch stacks, then push old SS:SP, params, CS:IP */
        if (lma) {
            set_seg_null(cpu, S_SS, ncpl);
            nsp &= ~0xfull;
            uint64_t frame[4] = {old_ss, old_sp, old_cs, ret};
            for (int i = 0; i < 4; i++)
                mmu_translate(cpu, nsp - (i + 1) * 8, ACC_WRITE, false);
            for (int i = 0; i < 4; i++)
                lin_write(cpu, nsp - (i + 1) * 8, 8, frame[i], true);
            cpu->regs[R_RSP] = nsp - 32;
        } else {
            load_seg_desc(cpu, S_SS, nss, ssd | (1ull << 40), 0);
            cpu->cpl = ncpl;
            cpu->regs[R_RSP] = nsp;
            push(cpu, gosz, old_ss);
            push(cpu, gosz, old_sp);
            for (int i = pcount - 1; i >= 0; i--)
                push(cpu, gosz, params[i]);
            push(cpu, gosz, old_cs);
            push(cpu, gosz, ret);
        }
        cpu->cpl = ncpl;
        load_seg_desc(cpu, S_CS, (sel & 0xfffc) | ncpl, d | (1ull << 40), 0);
        cpu->rs->next_rip = off;
        return;
    }
    push(cpu, gosz, old_cs);
    push(cpu, gosz, ret);
    load_seg_desc(cpu, S_CS, (sel & 0xfffc) | cpu->cpl, d | (1ull << 40), 0);
    cpu->rs->next_rip = off;
}

static void op_far_direct(struct cpu *cpu, const struct insn *in) /* 9A, EA */
{
    far_jump_or_call(cpu, (uint16_t)in->imm2, in->imm, in->opsize, in->opcode == 0x9a);
}

void op_far_call_jmp_mem(struct cpu *cpu, const struct insn *in, bool call)
{
    uint64_t ea = insn_ea(cpu, in);
    int osz = in->opsize;
    uint64_t off = seg_read(cpu, in->seg, ea, osz);
    uint16_t sel = (uint16_t)seg_read(cpu, in->seg, (ea + osz) & size_mask(in->addrsize), 2);
    far_jump_or_call(cpu, sel, off, osz, call);
}

/* After a return to an outer privilege level, data segment registers that
 * the new CPL may not use are nulled (SDM RET/IRET "RETURN-TO-OUTER"). */
static void null_inaccessible_segments(struct cpu *cpu)
{
    static const int segs[4] = {S_ES, S_DS, S_FS, S_GS};
    for (int i = 0; i < 4; i++) {
        struct segment *s = &cpu->seg[segs[i]];
        if (s->ar & 0x10000)
            continue;
        int dpl = (s->ar >> 5) & 3;
        bool conforming_code = (s->ar & 0x8) && (s->ar & 0x4);
        if (dpl < cpu->cpl && !conforming_code)
            set_seg_null(cpu, segs[i], 0);
    }
}

static void op_retf(struct cpu *cpu, const struct insn *in) /* CA, CB */
{
    int osz = in->opsize;
    uint64_t add = in->opcode == 0xca ? (in->imm & 0xffff) : 0;
    uint64_t sp = get_sp(cpu);
    uint64_t smask = size_mask(stack_size(cpu));
    uint64_t off = seg_read(cpu, S_SS, sp, osz);
    uint16_t sel = (uint16_t)seg_read(cpu, S_SS, (sp + osz) & smask, 2);
    if (!cpu_protected(cpu) || cpu->mode == CPU_MODE_VM86) {
        load_seg_real(cpu, S_CS, sel);
        cpu->rs->next_rip = off & size_mask(osz);
        set_sp(cpu, sp + 2 * osz + add);
        return;
    }
    int new_cpl;
    uint64_t d = check_code_selector(cpu, sel, true, &new_cpl);
    bool to64 = cpu_in_lma(cpu) && (desc_to_ar(d) & 0x2000);
    if (!to64)
        off &= size_mask(osz == 8 ? 4 : osz);
    if (new_cpl > cpu->cpl) {
        uint64_t nsp = seg_read(cpu, S_SS, (sp + 2 * osz + add) & smask, osz);
        uint16_t nss = (uint16_t)seg_read(cpu, S_SS, (sp + 3 * osz + add) & smask, 2);
        uint64_t ssd = 0;
        bool null_ss_ok = cpu_in_lma(cpu) && to64 && new_cpl != 3;
        if ((nss & 0xfffc) == 0) {
            if (!null_ss_ok)
                raise_gp0(cpu);
        } else {
            read_descriptor(cpu, nss, &ssd, EXC_GP);
            uint32_t sar = desc_to_ar(ssd);
            if ((nss & 3) != new_cpl || (int)((sar >> 5) & 3) != new_cpl || !(sar & 0x10) ||
                (sar & 8) || !(sar & 2))
                raise_exception(cpu, EXC_GP, nss & 0xfffc);
            if (!(sar & 0x80))
                raise_exception(cpu, EXC_SS, nss & 0xfffc);
        }
        if (!to64 && off > desc_limit(d))
            raise_gp0(cpu);
        write_descriptor_accessed(cpu, sel, d);
        load_seg_desc(cpu, S_CS, sel, d | (1ull << 40), 0);
        cpu->cpl = new_cpl;
        if ((nss & 0xfffc) == 0)
            set_seg_null(cpu, S_SS, nss);
        else
            load_seg_desc(cpu, S_SS, nss, ssd | (1ull << 40), 0);
        uint64_t v = nsp + add;
        if (cpu_long64(cpu) || (cpu->seg[S_SS].ar & 0x4000))
            cpu->regs[R_RSP] = cpu_long64(cpu) ? v : (v & 0xffffffffull);
        else
            cpu->regs[R_RSP] = (cpu->regs[R_RSP] & ~0xffffull) | (v & 0xffff);
        null_inaccessible_segments(cpu);
    } else {
        if (!to64 && off > desc_limit(d))
            raise_gp0(cpu);
        write_descriptor_accessed(cpu, sel, d);
        load_seg_desc(cpu, S_CS, sel, d | (1ull << 40), 0);
        set_sp(cpu, sp + 2 * osz + add);
    }
    cpu->rs->next_rip = off;
}

static void op_iret(struct cpu *cpu, const struct insn *in) /* CF */
{
    int osz = in->opsize;
    uint64_t smask = size_mask(stack_size(cpu));
    uint64_t sp = get_sp(cpu);
    uint64_t fl0 = flags_materialize(cpu);
    /* IRET unblocks NMIs (SDM 6.7.1) */
    if (!cpu_protected(cpu) || cpu->mode == CPU_MODE_VM86) {
        if (cpu->mode == CPU_MODE_VM86 && ((fl0 >> 12) & 3) < 3)
            raise_gp0(cpu);
        uint64_t ip = seg_read(cpu, S_SS, sp, osz);
        uint16_t cs = (uint16_t)seg_read(cpu, S_SS, (sp + osz) & smask, 2);
        uint64_t fl = seg_read(cpu, S_SS, (sp + 2 * osz) & smask, osz);
        if (ip > cpu->seg[S_CS].limit && cpu->mode == CPU_MODE_REAL && osz == 4 && ip > 0xffff)
            raise_gp0(cpu);
        uint64_t mask = osz == 4 ? (0x257fd5ull) : 0x7fd5ull; /* VM, VIF, VIP unchanged */
        if (cpu->mode == CPU_MODE_VM86)
            mask &= ~FL_IOPL;
        load_seg_real(cpu, S_CS, cs);
        cpu->rflags = ((fl0 & ~mask) | (fl & mask)) | 2;
        cpu->rs->next_rip = ip & size_mask(osz);
        set_sp(cpu, sp + 3 * osz);
        cpu->interruptibility &= ~INTR_STATE_NMI;
        return;
    }
    if (fl0 & FL_NT) {
        if (cpu_in_lma(cpu))
            raise_gp0(cpu);
        /* nested task return: task switch, unconditional exit (source 1) */
        uint16_t link = (uint16_t)lin_read(cpu, cpu->seg[S_TR].base, 2, true);
        cpu->exit.instr_len = in->len;
        vm_exit(cpu, EXIT_REASON_TASK_SWITCH, link | (1ull << 30));
    }
    uint64_t ip = seg_read(cpu, S_SS, sp, osz);
    uint16_t sel = (uint16_t)seg_read(cpu, S_SS, (sp + osz) & smask, 2);
    uint64_t fl = seg_read(cpu, S_SS, (sp + 2 * osz) & smask, osz);
    if ((fl & FL_VM) && osz == 4 && cpu->cpl == 0 && !cpu_in_lma(cpu))
        raise_gp0(cpu); /* return to virtual-8086 mode: not implemented */
    int new_cpl;
    uint64_t d = check_code_selector(cpu, sel, true, &new_cpl);
    bool to64 = cpu_in_lma(cpu) && (desc_to_ar(d) & 0x2000);
    bool pop_ss = new_cpl > cpu->cpl || cpu_long64(cpu);
    uint64_t nsp = 0;
    uint16_t nss = 0;
    uint64_t ssd = 0;
    if (pop_ss) {
        nsp = seg_read(cpu, S_SS, (sp + 3 * osz) & smask, osz);
        nss = (uint16_t)seg_read(cpu, S_SS, (sp + 4 * osz) & smask, 2);
        if ((nss & 0xfffc) == 0) {
            /* null SS is allowed for a 64-bit return to CPL < 3 */
            if (!(cpu_in_lma(cpu) && to64 && new_cpl != 3))
                raise_gp0(cpu);
        } else {
            read_descriptor(cpu, nss, &ssd, EXC_GP);
            uint32_t sar = desc_to_ar(ssd);
            if ((nss & 3) != new_cpl || (int)((sar >> 5) & 3) != new_cpl || !(sar & 0x10) ||
                (sar & 8) || !(sar & 2))
                raise_exception(cpu, EXC_GP, nss & 0xfffc);
            if (!(sar & 0x80))
                raise_exception(cpu, EXC_SS, nss & 0xfffc);
        }
    }
    if (!to64) {
        ip &= size_mask(osz == 8 ? 4 : osz);
        if (ip > desc_limit(d))
            raise_gp0(cpu);
    } else if ((uint64_t)((int64_t)(ip << 16) >> 16) != ip) {
        raise_gp0(cpu);
    }
    /* RFLAGS update rules (SDM IRET: IF only if CPL <= IOPL, IOPL only at
     * CPL 0; VIF/VIP only at CPL 0) */
    int old_cpl = cpu->cpl;
    int iopl = (fl0 >> 12) & 3;
    uint64_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_RF | FL_AC | FL_ID;
    if (old_cpl <= iopl)
        mask |= FL_IF;
    if (old_cpl == 0)
        mask |= FL_IOPL | FL_VIF | FL_VIP;
    if (osz == 2)
        mask &= 0xffff;
    write_descriptor_accessed(cpu, sel, d);
    load_seg_desc(cpu, S_CS, sel, d | (1ull << 40), 0);
    cpu->cpl = new_cpl;
    cpu->rflags = ((fl0 & ~mask) | (fl & mask)) | 2;
    cpu_update_mode(cpu);
    if (pop_ss) {
        if ((nss & 0xfffc) == 0)
            set_seg_null(cpu, S_SS, nss);
        else
            load_seg_desc(cpu, S_SS, nss, ssd | (1ull << 40), 0);
        if (cpu_long64(cpu))
            cpu->regs[R_RSP] = nsp;
        else if (cpu->seg[S_SS].ar & 0x4000)
            cpu->regs[R_RSP] = nsp & 0xffffffffull;
        else
            cpu->regs[R_RSP] = (cpu->regs[R_RSP] & ~0xffffull) | (nsp & 0xffff);
        if (new_cpl > old_cpl)
            null_inaccessible_segments(cpu);
    } else {
        set_sp(cpu, sp + 3 * osz);
    }
    cpu->rs->next_rip = ip;
    cpu->interruptibility &= ~INTR_STATE_NMI;
}

/* ---- software interrupts ---- */

static void software_interrupt(struct cpu *cpu, int vec, int type)
{
    if (cpu->mode == CPU_MODE_VM86 && type == INTR_TYPE_SW_INTR && ((cpu->rflags >> 12) & 3) < 3)
        raise_gp0(cpu);
    deliver_event(cpu, vec, type, false, 0, cpu->rs->next_rip);
    cpu->rs->next_rip = cpu->rip;
}

static void op_int(struct cpu *cpu, const struct insn *in) /* CC CD CE F1 */
{
    switch (in->opcode) {
    case 0xcc:
        software_interrupt(cpu, EXC_BP, INTR_TYPE_SW_EXCEPTION);
        break;
    case 0xcd:
        software_interrupt(cpu, (int)(in->imm & 0xff), INTR_TYPE_SW_INTR);
        break;
    case 0xce:
        if (flag_of(cpu))
            software_interrupt(cpu, EXC_OF, INTR_TYPE_SW_EXCEPTION);
        break;
    default:
        software_interrupt(cpu, EXC_DB, INTR_TYPE_PRIV_SW_EXCEPTION);
        break;
    }
}

void register_ops_transfer(insn_fn *t0, insn_fn *t1)
{
    t0[0x06] = t0[0x0e] = t0[0x16] = t0[0x1e] = op_push_sreg;
    t0[0x07] = t0[0x17] = t0[0x1f] = op_pop_sreg;
    t1[0xa0] = t1[0xa8] = op_push_sreg;
    t1[0xa1] = t1[0xa9] = op_pop_sreg;
    t0[0x8c] = op_mov_rm_sreg;
    t0[0x8e] = op_mov_sreg_rm;
    t0[0xc4] = t0[0xc5] = op_load_far_ptr;
    t1[0xb2] = t1[0xb4] = t1[0xb5] = op_load_far_ptr;
    t0[0x9a] = t0[0xea] = op_far_direct;
    t0[0xca] = t0[0xcb] = op_retf;
    t0[0xcf] = op_iret;
    t0[0xcc] = t0[0xcd] = t0[0xce] = t0[0xf1] = op_int;
}
