/* General-purpose integer instructions: operand access, ALU, moves, stack,
 * near control flow, shifts/rotates, multiply/divide, and the opcode
 * dispatch tables (SDM Vol. 2 instruction reference; flags per Appendix A
 * of Vol. 1 "EFLAGS Cross-Reference"). */
#include <stdlib.h>

#include "cpu_internal.h"

/* ---- operand access ---- */

uint64_t insn_ea(struct cpu *cpu, const struct insn *in)
{
    uint64_t ea = (uint64_t)in->disp;
    if (in->base >= 0)
        ea += cpu->regs[in->base];
    if (in->index >= 0)
        ea += cpu->regs[in->index] << in->scale;
    if (in->riprel)
        ea += cpu->rs->next_rip;
    if (in->addrsize == 4)
        ea &= 0xffffffffull;
    else if (in->addrsize == 2)
        ea &= 0xffff;
    return ea;
}

uint64_t rm_read(struct cpu *cpu, const struct insn *in, int size)
{
    if (in->mod == 3)
        return get_reg(cpu, in->rm, size, in->rex);
    return seg_read(cpu, in->seg, insn_ea(cpu, in), size);
}

void rm_write(struct cpu *cpu, const struct insn *in, int size, uint64_t v)
{
    if (in->mod == 3)
        set_reg(cpu, in->rm, size, in->rex, v);
    else
        seg_write(cpu, in->seg, insn_ea(cpu, in), size, v);
}

uint64_t reg_read(struct cpu *cpu, const struct insn *in, int size)
{
    return get_reg(cpu, in->reg, size, in->rex);
}

void reg_write(struct cpu *cpu, const struct insn *in, int size, uint64_t v)
{
    set_reg(cpu, in->reg, size, in->rex, v);
}

int stack_size(const struct cpu *cpu)
{
    if (cpu_long64(cpu))
        return 8;
    return (cpu->seg[S_SS].ar & 0x4000) ? 4 : 2;
}

uint64_t get_sp(const struct cpu *cpu)
{
    return cpu->regs[R_RSP] & size_mask(stack_size(cpu));
}

void set_sp(struct cpu *cpu, uint64_t v)
{
    set_reg(cpu, R_RSP, stack_size(cpu), true, v);
    if (stack_size(cpu) == 4)
        cpu->regs[R_RSP] = v & 0xffffffffull; /* ESP writes zero-extend too */
}

void push(struct cpu *cpu, int size, uint64_t v)
{
    int ss = stack_size(cpu);
    uint64_t sp = (cpu->regs[R_RSP] - size) & size_mask(ss);
    seg_write(cpu, S_SS, sp, size, v);
    set_sp(cpu, sp);
}

uint64_t pop(struct cpu *cpu, int size)
{
    uint64_t sp = get_sp(cpu);
    uint64_t v = seg_read(cpu, S_SS, sp, size);
    set_sp(cpu, sp + size);
    return v;
}

/* Near branch target: truncated to the operand size outside 64-bit mode;
 * in 64-bit mode a non-canonical target faults on the branch (#GP). */
void branch_to(struct cpu *cpu, uint64_t target, int opsize)
{
    if (cpu_long64(cpu)) {
        if (opsize == 2)
            target &= 0xffff;
        if ((uint64_t)((int64_t)(target << 16) >> 16) != target)
            raise_gp0(cpu);
    } else {
        target &= size_mask(opsize);
        if (target > cpu->seg[S_CS].limit)
            raise_gp0(cpu);
    }
    cpu->rs->next_rip = target;
}

void op_ud(struct cpu *cpu, const struct insn *in)
{
    if (cpu->log_flags & CPU_LOG_UNIMP)
        fprintf(cpu->log, "cpu%d: #UD opcode map %d %02x (modrm %02x mand %02x) at %#llx\n",
                cpu->index, in->map, in->opcode, in->modrm, in->mand, (unsigned long long)cpu->rip);
    raise_ud(cpu);
}

/* ---- ALU ---- */

enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

static uint64_t alu(struct cpu *cpu, int op, int size, uint64_t dst, uint64_t src)
{
    uint64_t m = size_mask(size), r;
    dst &= m;
    src &= m;
    switch (op) {
    case ALU_ADD:
        r = (dst + src) & m;
        set_lazy(cpu, LF_ADD, size, dst, src, r);
        return r;
    case ALU_ADC: {
        uint64_t c = flag_cf(cpu);
        r = (dst + src + c) & m;
        set_lazy(cpu, LF_ADD, size, dst, src, r);
        return r;
    }
    case ALU_SBB: {
        uint64_t c = flag_cf(cpu);
        r = (dst - src - c) & m;
        set_lazy(cpu, LF_SBB, size, dst, src, r);
        return r;
    }
    case ALU_SUB:
    case ALU_CMP:
        r = (dst - src) & m;
        set_lazy(cpu, LF_SUB, size, dst, src, r);
        return r;
    case ALU_OR:
        r = dst | src;
        break;
    case ALU_AND:
        r = dst & src;
        break;
    default:
        r = dst ^ src;
        break;
    }
    set_lazy(cpu, LF_LOGIC, size, dst, src, r);
    return r;
}

static inline int opsz_b(const struct insn *in)
{
    return (in->opcode & 1) ? in->opsize : 1;
}

static void op_alu_rm(struct cpu *cpu, const struct insn *in)
{
    int op = (in->opcode >> 3) & 7, size = opsz_b(in);
    if (in->opcode & 2) { /* Gx, Ex */
        uint64_t r = alu(cpu, op, size, reg_read(cpu, in, size), rm_read(cpu, in, size));
        if (op != ALU_CMP)
            reg_write(cpu, in, size, r);
    } else if (in->mod == 3) {
        uint64_t r =
            alu(cpu, op, size, get_reg(cpu, in->rm, size, in->rex), reg_read(cpu, in, size));
        if (op != ALU_CMP)
            set_reg(cpu, in->rm, size, in->rex, r);
    } else {
        uint64_t ea = insn_ea(cpu, in);
        uint64_t d = seg_read(cpu, in->seg, ea, size);
        uint64_t r = alu(cpu, op, size, d, reg_read(cpu, in, size));
        if (op != ALU_CMP)
            seg_write(cpu, in->seg, ea, size, r);
    }
}

static void op_alu_acc(struct cpu *cpu, const struct insn *in)
{
    int op = (in->opcode >> 3) & 7, size = opsz_b(in);
    uint64_t r = alu(cpu, op, size, get_reg(cpu, R_RAX, size, true), in->imm);
    if (op != ALU_CMP)
        set_reg(cpu, R_RAX, size, true, r);
}

static void op_grp1(struct cpu *cpu, const struct insn *in)
{
    int op = (in->modrm >> 3) & 7;
    int size = in->opcode == 0x80 || in->opcode == 0x82 ? 1 : in->opsize;
    if (in->mod == 3) {
        uint64_t r = alu(cpu, op, size, get_reg(cpu, in->rm, size, in->rex), in->imm);
        if (op != ALU_CMP)
            set_reg(cpu, in->rm, size, in->rex, r);
    } else {
        uint64_t ea = insn_ea(cpu, in);
        uint64_t d = seg_read(cpu, in->seg, ea, size);
        uint64_t r = alu(cpu, op, size, d, in->imm);
        if (op != ALU_CMP)
            seg_write(cpu, in->seg, ea, size, r);
    }
}

static void op_test_rm(struct cpu *cpu, const struct insn *in)
{
    int size = opsz_b(in);
    alu(cpu, ALU_AND, size, rm_read(cpu, in, size), reg_read(cpu, in, size));
}

static void op_test_acc(struct cpu *cpu, const struct insn *in)
{
    int size = opsz_b(in);
    alu(cpu, ALU_AND, size, get_reg(cpu, R_RAX, size, true), in->imm);
}

static void incdec(struct cpu *cpu, int size, uint64_t *v, bool dec)
{
    /* INC/DEC preserve CF (SDM: "The CF flag is not affected") */
    bool cf = flag_cf(cpu);
    uint64_t d = *v & size_mask(size);
    uint64_t r = (dec ? d - 1 : d + 1) & size_mask(size);
    cpu->rflags = (cpu->rflags & ~FL_CF) | (cf ? FL_CF : 0);
    set_lazy(cpu, dec ? LF_DEC : LF_INC, size, d, 1, r);
    *v = r;
}

static void op_incdec_r(struct cpu *cpu, const struct insn *in)
{
    int reg = in->opcode & 7;
    uint64_t v = get_reg(cpu, reg, in->opsize, true);
    incdec(cpu, in->opsize, &v, in->opcode >= 0x48);
    set_reg(cpu, reg, in->opsize, true, v);
}

/* ---- moves ---- */

static void op_mov_rm_r(struct cpu *cpu, const struct insn *in) /* 88/89 */
{
    int size = opsz_b(in);
    rm_write(cpu, in, size, reg_read(cpu, in, size));
}

static void op_mov_r_rm(struct cpu *cpu, const struct insn *in) /* 8A/8B */
{
    int size = opsz_b(in);
    reg_write(cpu, in, size, rm_read(cpu, in, size));
}

static void op_mov_r_imm(struct cpu *cpu, const struct insn *in) /* B0-BF */
{
    int reg = (in->opcode & 7) | ((in->rex & 1) << 3);
    int size = in->opcode >= 0xb8 ? in->opsize : 1;
    set_reg(cpu, reg, size, in->rex, in->imm);
}

static void op_mov_rm_imm(struct cpu *cpu, const struct insn *in) /* C6/C7 */
{
    if (((in->modrm >> 3) & 7) != 0)
        op_ud(cpu, in); /* XABORT/XBEGIN: no TSX */
    int size = opsz_b(in);
    rm_write(cpu, in, size, in->imm);
}

static void op_mov_moffs(struct cpu *cpu, const struct insn *in) /* A0-A3 */
{
    int size = opsz_b(in);
    uint64_t off = in->imm & size_mask(in->addrsize);
    if (in->opcode & 2)
        seg_write(cpu, in->seg, off, size, get_reg(cpu, R_RAX, size, true));
    else
        set_reg(cpu, R_RAX, size, true, seg_read(cpu, in->seg, off, size));
}

static void op_lea(struct cpu *cpu, const struct insn *in)
{
    if (in->mod == 3)
        op_ud(cpu, in);
    reg_write(cpu, in, in->opsize, insn_ea(cpu, in));
}

static void op_xchg_rm(struct cpu *cpu, const struct insn *in) /* 86/87 */
{
    int size = opsz_b(in);
    if (in->mod == 3) {
        uint64_t a = get_reg(cpu, in->rm, size, in->rex), b = reg_read(cpu, in, size);
        set_reg(cpu, in->rm, size, in->rex, b);
        reg_write(cpu, in, size, a);
    } else {
        uint64_t ea = insn_ea(cpu, in);
        uint64_t a = seg_read(cpu, in->seg, ea, size);
        seg_write(cpu, in->seg, ea, size, reg_read(cpu, in, size));
        reg_write(cpu, in, size, a);
    }
}

static void op_xchg_acc(struct cpu *cpu, const struct insn *in) /* 90-97 */
{
    int reg = (in->opcode & 7) | ((in->rex & 1) << 3);
    if (reg == 0) {
        /* NOP; F3 90 is PAUSE (exits with PAUSE exiting, SDM 26.1.3) */
        if (in->rep == 0xf3 && (cpu->ctl.proc & PROC_PAUSE_EXITING))
            exit_instruction(cpu, EXIT_REASON_PAUSE, 0, 0);
        if (in->rep == 0xf3 && (cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) &&
            (cpu->ctl.proc2 & PROC2_PAUSE_LOOP_EXITING) && cpu->cpl == 0) {
            /* PAUSE-loop exiting (SDM 26.1.3): a PAUSE more than PLE_Gap
             * TSC ticks after the previous one starts a new loop; one more
             * than PLE_Window ticks after a loop's first PAUSE exits. The
             * first PAUSE after VM entry starts a loop. */
            uint64_t now = cpu_read_tsc(cpu);
            if (cpu->ple_first == UINT64_MAX || now - cpu->ple_last > cpu->ctl.ple_gap)
                cpu->ple_first = now;
            cpu->ple_last = now;
            if (now - cpu->ple_first > cpu->ctl.ple_window) {
                cpu->ple_first = UINT64_MAX;
                exit_instruction(cpu, EXIT_REASON_PAUSE, 0, 0);
            }
        }
        return;
    }
    uint64_t a = get_reg(cpu, R_RAX, in->opsize, true), b = get_reg(cpu, reg, in->opsize, true);
    set_reg(cpu, R_RAX, in->opsize, true, b);
    set_reg(cpu, reg, in->opsize, true, a);
}

static void op_movzx(struct cpu *cpu, const struct insn *in) /* 0F B6/B7 */
{
    int ssz = (in->opcode & 1) ? 2 : 1;
    reg_write(cpu, in, in->opsize, rm_read(cpu, in, ssz));
}

static void op_movsx(struct cpu *cpu, const struct insn *in) /* 0F BE/BF */
{
    int ssz = (in->opcode & 1) ? 2 : 1;
    reg_write(cpu, in, in->opsize, sext(rm_read(cpu, in, ssz), ssz));
}

static void op_movsxd(struct cpu *cpu, const struct insn *in) /* 63 */
{
    if (!cpu_long64(cpu)) {
        extern void op_arpl(struct cpu * cpu, const struct insn *in);
        op_arpl(cpu, in);
        return;
    }
    int ssz = in->opsize == 2 ? 2 : 4;
    reg_write(cpu, in, in->opsize, sext(rm_read(cpu, in, ssz), ssz));
}

static void op_cbw(struct cpu *cpu, const struct insn *in) /* 98 */
{
    int h = in->opsize / 2;
    set_reg(cpu, R_RAX, in->opsize, true, sext(get_reg(cpu, R_RAX, h, true), h));
}

static void op_cwd(struct cpu *cpu, const struct insn *in) /* 99 */
{
    uint64_t a = get_reg(cpu, R_RAX, in->opsize, true);
    bool neg = (a >> (in->opsize * 8 - 1)) & 1;
    set_reg(cpu, R_RDX, in->opsize, true, neg ? ~0ull : 0);
}

static void op_cmov(struct cpu *cpu, const struct insn *in) /* 0F 40-4F */
{
    uint64_t v = rm_read(cpu, in, in->opsize); /* the source is always read */
    if (cond_true(cpu, in->opcode & 15))
        reg_write(cpu, in, in->opsize, v);
    else if (in->opsize == 4)
        reg_write(cpu, in, 4, get_reg(cpu, in->reg, 4, true)); /* zero-extends */
}

static void op_setcc(struct cpu *cpu, const struct insn *in) /* 0F 90-9F */
{
    rm_write(cpu, in, 1, cond_true(cpu, in->opcode & 15));
}

static void op_bswap(struct cpu *cpu, const struct insn *in) /* 0F C8-CF */
{
    int reg = (in->opcode & 7) | ((in->rex & 1) << 3);
    if (in->opsize == 8)
        cpu->regs[reg] = __builtin_bswap64(cpu->regs[reg]);
    else if (in->opsize == 4)
        cpu->regs[reg] = __builtin_bswap32((uint32_t)cpu->regs[reg]);
    else
        set_reg(cpu, reg, 2, true, 0); /* undefined by the SDM; zero like Intel */
}

/* ---- stack ---- */

static void op_push_r(struct cpu *cpu, const struct insn *in)
{
    int reg = (in->opcode & 7) | ((in->rex & 1) << 3);
    push(cpu, in->opsize, get_reg(cpu, reg, in->opsize, true));
}

static void op_pop_r(struct cpu *cpu, const struct insn *in)
{
    int reg = (in->opcode & 7) | ((in->rex & 1) << 3);
    uint64_t v = pop(cpu, in->opsize);
    set_reg(cpu, reg, in->opsize, true, v);
}

static void op_push_imm(struct cpu *cpu, const struct insn *in)
{
    push(cpu, in->opsize, in->imm);
}

static void op_pop_rm(struct cpu *cpu, const struct insn *in) /* 8F /0 */
{
    if (((in->modrm >> 3) & 7) != 0)
        op_ud(cpu, in);
    uint64_t old_sp = cpu->regs[R_RSP];
    uint64_t v = pop(cpu, in->opsize);
    if (in->mod == 3) {
        set_reg(cpu, in->rm, in->opsize, in->rex, v);
        return;
    }
    /* The address is computed after RSP is incremented (SDM POP); if the
     * store faults, RSP must be unchanged, so probe it with the old RSP. */
    uint64_t ea = insn_ea(cpu, in);
    uint64_t new_sp = cpu->regs[R_RSP];
    cpu->regs[R_RSP] = old_sp;
    seg_probe_write(cpu, in->seg, ea, in->opsize);
    cpu->regs[R_RSP] = new_sp;
    seg_write(cpu, in->seg, ea, in->opsize, v);
}

static void op_pusha(struct cpu *cpu, const struct insn *in) /* 60 */
{
    int sz = in->opsize;
    uint64_t sp0 = get_sp(cpu);
    uint64_t sp = sp0;
    for (int i = 0; i < 8; i++) {
        sp = (sp - sz) & size_mask(stack_size(cpu));
        seg_probe_write(cpu, S_SS, sp, sz);
    }
    for (int i = 0; i < 8; i++)
        push(cpu, sz, i == R_RSP ? sp0 : get_reg(cpu, i, sz, true));
}

static void op_popa(struct cpu *cpu, const struct insn *in) /* 61 */
{
    int sz = in->opsize;
    uint64_t sp = get_sp(cpu);
    uint64_t v[8];
    for (int i = 7; i >= 0; i--) {
        v[i] = seg_read(cpu, S_SS, sp, sz);
        sp = (sp + sz) & size_mask(stack_size(cpu));
    }
    for (int i = 0; i < 8; i++)
        if (i != R_RSP)
            set_reg(cpu, i, sz, true, v[i]);
    set_sp(cpu, sp);
}

static void op_enter(struct cpu *cpu, const struct insn *in) /* C8 */
{
    int sz = in->opsize;
    int level = in->imm2 & 31;
    uint64_t alloc = in->imm & 0xffff;
    int ss = stack_size(cpu);
    uint64_t sp = get_sp(cpu);
    uint64_t bp = get_reg(cpu, R_RBP, ss, true);
    /* compute and check the whole frame first (restartable) */
    uint64_t nsp = (sp - sz) & size_mask(ss);
    uint64_t frame = nsp;
    seg_probe_write(cpu, S_SS, nsp, sz);
    uint64_t vals[32];
    for (int i = 1; i < level; i++) {
        bp = (bp - sz) & size_mask(ss);
        vals[i] = seg_read(cpu, S_SS, bp, sz);
    }
    seg_write(cpu, S_SS, nsp, sz, get_reg(cpu, R_RBP, sz, true));
    for (int i = 1; i < level; i++) {
        nsp = (nsp - sz) & size_mask(ss);
        seg_write(cpu, S_SS, nsp, sz, vals[i]);
    }
    if (level > 0) {
        nsp = (nsp - sz) & size_mask(ss);
        seg_write(cpu, S_SS, nsp, sz, frame);
    }
    uint64_t final_sp = (nsp - alloc) & size_mask(ss);
    if (!cpu_long64(cpu))
        seg_linear(cpu, S_SS, final_sp, 1, ACC_WRITE);
    set_reg(cpu, R_RBP, sz, true, frame);
    set_sp(cpu, final_sp);
}

static void op_leave(struct cpu *cpu, const struct insn *in) /* C9 */
{
    int ss = stack_size(cpu);
    uint64_t bp = get_reg(cpu, R_RBP, ss, true);
    uint64_t v = seg_read(cpu, S_SS, bp, in->opsize);
    set_sp(cpu, bp + in->opsize);
    set_reg(cpu, R_RBP, in->opsize, true, v);
}

static void op_pushf(struct cpu *cpu, const struct insn *in) /* 9C */
{
    if (cpu->mode == CPU_MODE_VM86 && ((cpu->rflags >> 12) & 3) < 3)
        raise_gp0(cpu);
    uint64_t f = flags_materialize(cpu) & ~(FL_VM | FL_RF);
    push(cpu, in->opsize, f);
}

/* POPF (SDM Vol. 2 POPF): which bits change depends on CPL and IOPL. */
static void op_popf(struct cpu *cpu, const struct insn *in) /* 9D */
{
    if (cpu->mode == CPU_MODE_VM86 && ((cpu->rflags >> 12) & 3) < 3)
        raise_gp0(cpu);
    uint64_t v = pop(cpu, in->opsize);
    uint64_t mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;
    int iopl = (cpu->rflags >> 12) & 3;
    if (cpu->cpl == 0)
        mask |= FL_IOPL | FL_IF;
    else if (cpu->cpl <= iopl)
        mask |= FL_IF;
    if (in->opsize == 2)
        mask &= 0xffff;
    flags_materialize(cpu);
    cpu->rflags = ((cpu->rflags & ~mask) | (v & mask)) | 2;
    cpu->rflags &= ~FL_RF;
}

static void op_sahf(struct cpu *cpu, const struct insn *in)
{
    uint64_t ah = (cpu->regs[R_RAX] >> 8) & 0xff;
    set_flags_explicit(cpu, ah, FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF);
}

static void op_lahf(struct cpu *cpu, const struct insn *in)
{
    uint64_t f = flags_materialize(cpu) & 0xff;
    f = (f & (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF)) | 2;
    cpu->regs[R_RAX] = (cpu->regs[R_RAX] & ~0xff00ull) | (f << 8);
}

/* ---- flags ---- */

static void op_flagop(struct cpu *cpu, const struct insn *in) /* F5, F8-FD */
{
    flags_materialize(cpu);
    switch (in->opcode) {
    case 0xf5:
        cpu->rflags ^= FL_CF;
        break;
    case 0xf8:
        cpu->rflags &= ~FL_CF;
        break;
    case 0xf9:
        cpu->rflags |= FL_CF;
        break;
    case 0xfc:
        cpu->rflags &= ~FL_DF;
        break;
    case 0xfd:
        cpu->rflags |= FL_DF;
        break;
    case 0xfa:   /* CLI */
    case 0xfb: { /* STI */
        int iopl = (cpu->rflags >> 12) & 3;
        if (cpu_protected(cpu) && iopl < cpu->cpl)
            raise_gp0(cpu); /* VME/PVI not implemented */
        if (in->opcode == 0xfa) {
            cpu->rflags &= ~FL_IF;
        } else {
            /* blocking by STI only when IF was 0 (SDM STI) */
            if (!(cpu->rflags & FL_IF))
                cpu->interruptibility |= INTR_STATE_STI;
            cpu->rflags |= FL_IF;
        }
        break;
    }
    }
}

/* ---- control flow ---- */

static void op_jcc(struct cpu *cpu, const struct insn *in) /* 70-7F, 0F 80-8F */
{
    if (cond_true(cpu, in->opcode & 15))
        branch_to(cpu, cpu->rs->next_rip + in->imm, in->opsize);
}

static void op_jmp_rel(struct cpu *cpu, const struct insn *in) /* E9, EB */
{
    branch_to(cpu, cpu->rs->next_rip + in->imm, in->opsize);
}

static void op_call_rel(struct cpu *cpu, const struct insn *in) /* E8 */
{
    uint64_t target = cpu->rs->next_rip + in->imm;
    uint64_t save = cpu->rs->next_rip;
    branch_to(cpu, target, in->opsize); /* checks before the push */
    push(cpu, in->opsize, save);
}

static void op_ret(struct cpu *cpu, const struct insn *in) /* C2, C3 */
{
    uint64_t sp = get_sp(cpu);
    uint64_t target = seg_read(cpu, S_SS, sp, in->opsize);
    branch_to(cpu, target, in->opsize);
    uint64_t add = in->opcode == 0xc2 ? (in->imm & 0xffff) : 0;
    set_sp(cpu, sp + in->opsize + add);
}

static void op_loop(struct cpu *cpu, const struct insn *in) /* E0-E3 */
{
    int as = in->addrsize;
    uint64_t c = get_reg(cpu, R_RCX, as, true);
    bool take;
    if (in->opcode == 0xe3) {
        take = c == 0;
    } else {
        c = (c - 1) & size_mask(as);
        set_reg(cpu, R_RCX, as, true, c);
        take = c != 0;
        if (in->opcode == 0xe0)
            take = take && !flag_zf(cpu);
        else if (in->opcode == 0xe1)
            take = take && flag_zf(cpu);
    }
    if (take)
        branch_to(cpu, cpu->rs->next_rip + in->imm, in->opsize);
}

/* ---- group 2: shifts and rotates (SDM SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR) ---- */

static uint64_t shift_op(struct cpu *cpu, int op, int size, uint64_t v, unsigned count)
{
    int bits = size * 8;
    uint64_t m = size_mask(size);
    count &= size == 8 ? 63 : 31;
    v &= m;
    if (count == 0)
        return v; /* no flags change */
    uint64_t f = op < 4 ? flags_materialize(cpu) : 0;
    uint64_t r = v;
    bool cf = f & FL_CF, of = f & FL_OF;
    uint64_t msb = 1ull << (bits - 1);
    switch (op) {
    case 0: { /* ROL */
        unsigned c = count % bits;
        r = c ? ((v << c) | (v >> (bits - c))) & m : v;
        cf = r & 1;
        of = ((r & msb) != 0) ^ cf;
        set_flags_explicit(cpu, (cf ? FL_CF : 0) | (of ? FL_OF : 0), FL_CF | FL_OF);
        return r;
    }
    case 1: { /* ROR */
        unsigned c = count % bits;
        r = c ? ((v >> c) | (v << (bits - c))) & m : v;
        cf = (r & msb) != 0;
        of = ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1;
        set_flags_explicit(cpu, (cf ? FL_CF : 0) | (of ? FL_OF : 0), FL_CF | FL_OF);
        return r;
    }
    case 2: { /* RCL: rotate through CF, (bits+1)-bit rotation */
        unsigned c = count % (bits + 1);
        if (c == 0)
            return v;
        for (unsigned i = 0; i < c; i++) {
            bool nc = (r & msb) != 0;
            r = ((r << 1) | (cf ? 1 : 0)) & m;
            cf = nc;
        }
        of = ((r & msb) != 0) ^ cf;
        set_flags_explicit(cpu, (cf ? FL_CF : 0) | (of ? FL_OF : 0), FL_CF | FL_OF);
        return r;
    }
    case 3: { /* RCR */
        unsigned c = count % (bits + 1);
        if (c == 0)
            return v;
        for (unsigned i = 0; i < c; i++) {
            bool nc = r & 1;
            r = (r >> 1) | (cf ? msb : 0);
            cf = nc;
        }
        of = ((r >> (bits - 1)) ^ (r >> (bits - 2))) & 1;
        set_flags_explicit(cpu, (cf ? FL_CF : 0) | (of ? FL_OF : 0), FL_CF | FL_OF);
        return r;
    }
    case 4:
    case 6: /* SHL/SAL */
        r = count < 64 ? (v << count) & m : 0;
        set_lazy(cpu, LF_SHL, size, v, count, r);
        return r;
    case 5: /* SHR */
        r = count < 64 ? v >> count : 0;
        set_lazy(cpu, LF_SHR, size, v, count, r);
        return r;
    default: { /* SAR */
        int64_t sv = (int64_t)sext(v, size);
        unsigned c = count >= (unsigned)bits ? (unsigned)bits - 1 : count;
        r = (uint64_t)(sv >> c) & m;
        set_lazy(cpu, LF_SAR, size, v, count, r);
        return r;
    }
    }
}

static void op_grp2(struct cpu *cpu, const struct insn *in) /* C0 C1 D0-D3 */
{
    int size = (in->opcode & 1) ? in->opsize : 1;
    unsigned count = (in->opcode <= 0xc1)   ? (unsigned)in->imm
                     : (in->opcode <= 0xd1) ? 1u
                                            : (unsigned)(cpu->regs[R_RCX] & 0xff);
    int op = (in->modrm >> 3) & 7;
    if (in->mod == 3) {
        uint64_t v = get_reg(cpu, in->rm, size, in->rex);
        set_reg(cpu, in->rm, size, in->rex, shift_op(cpu, op, size, v, count));
    } else {
        uint64_t ea = insn_ea(cpu, in);
        uint64_t v = seg_read(cpu, in->seg, ea, size);
        seg_probe_write(cpu, in->seg, ea, size);
        seg_write(cpu, in->seg, ea, size, shift_op(cpu, op, size, v, count));
    }
}

/* ---- group 3: TEST/NOT/NEG/MUL/IMUL/DIV/IDIV ---- */

static void op_grp3(struct cpu *cpu, const struct insn *in) /* F6/F7 */
{
    int size = (in->opcode & 1) ? in->opsize : 1;
    int op = (in->modrm >> 3) & 7;
    uint64_t m = size_mask(size);
    int bits = size * 8;
    switch (op) {
    case 0:
    case 1:
        alu(cpu, ALU_AND, size, rm_read(cpu, in, size), in->imm);
        return;
    case 2: { /* NOT: no flags */
        if (in->mod == 3) {
            set_reg(cpu, in->rm, size, in->rex, ~get_reg(cpu, in->rm, size, in->rex));
        } else {
            uint64_t ea = insn_ea(cpu, in);
            uint64_t v = seg_read(cpu, in->seg, ea, size);
            seg_write(cpu, in->seg, ea, size, ~v & m);
        }
        return;
    }
    case 3: { /* NEG = 0 - x */
        if (in->mod == 3) {
            uint64_t v = get_reg(cpu, in->rm, size, in->rex);
            set_reg(cpu, in->rm, size, in->rex, alu(cpu, ALU_SUB, size, 0, v));
        } else {
            uint64_t ea = insn_ea(cpu, in);
            uint64_t v = seg_read(cpu, in->seg, ea, size);
            seg_probe_write(cpu, in->seg, ea, size);
            seg_write(cpu, in->seg, ea, size, alu(cpu, ALU_SUB, size, 0, v));
        }
        return;
    }
    }
    uint64_t src = rm_read(cpu, in, size);
    /* byte forms use AX (AH:AL) where the others use rDX:rAX */
    uint64_t a = get_reg(cpu, R_RAX, size == 1 ? 2 : size, true);
    uint64_t d = size == 1 ? (a >> 8) & 0xff : get_reg(cpu, R_RDX, size, true);
    if (size == 1)
        a &= 0xff;
    uint64_t lo, hi;
    bool cfof;
    switch (op) {
    case 4: { /* MUL */
        unsigned __int128 p = (unsigned __int128)a * src;
        lo = (uint64_t)p & m;
        hi = (uint64_t)(p >> bits) & m;
        if (size == 8)
            hi = (uint64_t)(p >> 64);
        cfof = hi != 0;
        break;
    }
    case 5: { /* IMUL one-operand */
        __int128 p = (__int128)(int64_t)sext(a, size) * (int64_t)sext(src, size);
        lo = (uint64_t)p & m;
        hi = (uint64_t)(p >> bits) & m;
        if (size == 8)
            hi = (uint64_t)((unsigned __int128)p >> 64);
        cfof = p != (__int128)(int64_t)sext(lo, size);
        break;
    }
    case 6: { /* DIV */
        if (src == 0)
            raise_exception_noerr(cpu, EXC_DE);
        unsigned __int128 n =
            size == 8 ? (((unsigned __int128)d << 64) | a) : (((unsigned __int128)d << bits) | a);
        unsigned __int128 q = n / src;
        if (q > m)
            raise_exception_noerr(cpu, EXC_DE);
        lo = (uint64_t)q;
        hi = (uint64_t)(n % src);
        goto store_div;
    }
    default: { /* IDIV */
        if (src == 0)
            raise_exception_noerr(cpu, EXC_DE);
        __int128 n;
        if (size == 8)
            n = (__int128)(((unsigned __int128)d << 64) | a);
        else
            n = (__int128)(int64_t)sext((d << bits) | a, size * 2);
        __int128 s = (int64_t)sext(src, size);
        __int128 maxq = (__int128)(m >> 1);
        /* INT128_MIN / -1 overflows in C as well as in the CPU */
        if (s == -1 && (unsigned __int128)n == ((unsigned __int128)1 << 127))
            raise_exception_noerr(cpu, EXC_DE);
        __int128 q = n / s, r = n % s;
        if (q > maxq || q < -maxq - 1)
            raise_exception_noerr(cpu, EXC_DE);
        lo = (uint64_t)q & m;
        hi = (uint64_t)r & m;
        goto store_div;
    }
    }
    /* MUL/IMUL: CF=OF=overflow; SF/ZF/AF/PF undefined: computed from the
     * low half like Intel processors do for SF/ZF/PF, AF cleared. */
    {
        uint64_t nf = (cfof ? (FL_CF | FL_OF) : 0) | ((lo >> (bits - 1)) & 1 ? FL_SF : 0) |
                      (lo == 0 ? FL_ZF : 0) | (parity8((uint8_t)lo) ? FL_PF : 0);
        set_flags_explicit(cpu, nf, FL_ARITH);
    }
    if (size == 1) {
        set_reg(cpu, R_RAX, 2, true, (hi << 8) | lo);
    } else {
        set_reg(cpu, R_RAX, size, true, lo);
        set_reg(cpu, R_RDX, size, true, hi);
    }
    return;
store_div:
    if (size == 1) {
        set_reg(cpu, R_RAX, 2, true, (hi << 8) | lo);
    } else {
        set_reg(cpu, R_RAX, size, true, lo);
        set_reg(cpu, R_RDX, size, true, hi);
    }
}

static void imul_flags(struct cpu *cpu, int size, uint64_t lo, bool ovf)
{
    uint64_t nf = (ovf ? (FL_CF | FL_OF) : 0) | ((lo >> (size * 8 - 1)) & 1 ? FL_SF : 0) |
                  ((lo & size_mask(size)) == 0 ? FL_ZF : 0) | (parity8((uint8_t)lo) ? FL_PF : 0);
    set_flags_explicit(cpu, nf, FL_ARITH);
}

static void op_imul_rm(struct cpu *cpu, const struct insn *in) /* 0F AF, 69, 6B */
{
    int size = in->opsize;
    int64_t a = (int64_t)sext(rm_read(cpu, in, size), size);
    int64_t b = in->map == 1 ? (int64_t)sext(reg_read(cpu, in, size), size) : (int64_t)in->imm;
    __int128 p = (__int128)a * b;
    uint64_t lo = (uint64_t)p & size_mask(size);
    imul_flags(cpu, size, lo, p != (__int128)(int64_t)sext(lo, size));
    reg_write(cpu, in, size, lo);
}

/* ---- groups 4 and 5 ---- */

static void op_grp4(struct cpu *cpu, const struct insn *in) /* FE */
{
    int op = (in->modrm >> 3) & 7;
    if (op > 1)
        op_ud(cpu, in);
    if (in->mod == 3) {
        uint64_t v = get_reg(cpu, in->rm, 1, in->rex);
        incdec(cpu, 1, &v, op);
        set_reg(cpu, in->rm, 1, in->rex, v);
    } else {
        uint64_t ea = insn_ea(cpu, in);
        uint64_t v = seg_read(cpu, in->seg, ea, 1);
        seg_probe_write(cpu, in->seg, ea, 1);
        incdec(cpu, 1, &v, op);
        seg_write(cpu, in->seg, ea, 1, v);
    }
}

void op_far_call_jmp_mem(struct cpu *cpu, const struct insn *in, bool call);

static void op_grp5(struct cpu *cpu, const struct insn *in) /* FF */
{
    int op = (in->modrm >> 3) & 7;
    int size = in->opsize;
    switch (op) {
    case 0:
    case 1:
        if (in->mod == 3) {
            uint64_t v = get_reg(cpu, in->rm, size, in->rex);
            incdec(cpu, size, &v, op);
            set_reg(cpu, in->rm, size, in->rex, v);
        } else {
            uint64_t ea = insn_ea(cpu, in);
            uint64_t v = seg_read(cpu, in->seg, ea, size);
            seg_probe_write(cpu, in->seg, ea, size);
            incdec(cpu, size, &v, op);
            seg_write(cpu, in->seg, ea, size, v);
        }
        return;
    case 2:   /* CALL near indirect: 64-bit operand in 64-bit mode */
    case 4: { /* JMP near indirect */
        if (cpu_long64(cpu))
            size = 8;
        uint64_t target = rm_read(cpu, in, size);
        uint64_t ret = cpu->rs->next_rip;
        branch_to(cpu, target, size);
        if (op == 2)
            push(cpu, size, ret);
        return;
    }
    case 3:
    case 5:
        if (in->mod == 3)
            op_ud(cpu, in);
        op_far_call_jmp_mem(cpu, in, op == 3);
        return;
    case 6: {
        if (cpu_long64(cpu))
            size = in->pfx66 ? 2 : 8;
        push(cpu, size, rm_read(cpu, in, size));
        return;
    }
    default:
        op_ud(cpu, in);
    }
}

static void op_nop(struct cpu *cpu, const struct insn *in)
{
}

/* BOUND (62, not in 64-bit mode): #BR when the index is outside the signed
 * bounds in memory (SDM Vol. 2A BOUND). */
static void op_bound(struct cpu *cpu, const struct insn *in)
{
    if (in->mod == 3)
        op_ud(cpu, in);
    int size = in->opsize;
    uint64_t ea = insn_ea(cpu, in);
    int64_t lo = (int64_t)sext(seg_read(cpu, in->seg, ea, size), size);
    int64_t hi =
        (int64_t)sext(seg_read(cpu, in->seg, (ea + size) & size_mask(in->addrsize), size), size);
    int64_t idx = (int64_t)sext(reg_read(cpu, in, size), size);
    if (idx < lo || idx > hi)
        raise_exception_noerr(cpu, EXC_BR);
}

static void op_nop_modrm(struct cpu *cpu, const struct insn *in) /* 0F 18-1F, 0F 0D */
{
}

static void op_xlat(struct cpu *cpu, const struct insn *in) /* D7 */
{
    uint64_t off = (get_reg(cpu, R_RBX, in->addrsize, true) + (cpu->regs[R_RAX] & 0xff)) &
                   size_mask(in->addrsize);
    set_reg(cpu, R_RAX, 1, true, seg_read(cpu, in->seg, off, 1));
}

static void op_fwait(struct cpu *cpu, const struct insn *in) /* 9B */
{
    if ((cpu->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
        raise_exception_noerr(cpu, EXC_NM);
    op_fwait_check(cpu); /* a pending unmasked x87 exception: #MF */
}

/* ---- dispatch tables ---- */

struct optab {
    insn_fn t[4][256];
};

insn_fn *optab_create(void);
insn_fn *optab_create(void)
{
    struct optab *o = malloc(sizeof(*o));
    if (!o)
        return NULL;
    for (int m = 0; m < 4; m++)
        for (int i = 0; i < 256; i++)
            o->t[m][i] = op_ud;
    insn_fn *t0 = o->t[0], *t1 = o->t[1];
    for (int i = 0; i < 0x40; i += 8) {
        for (int j = 0; j < 4; j++)
            t0[i + j] = op_alu_rm;
        t0[i + 4] = t0[i + 5] = op_alu_acc;
    }
    for (int i = 0x40; i < 0x50; i++)
        t0[i] = op_incdec_r;
    for (int i = 0x50; i < 0x58; i++)
        t0[i] = op_push_r;
    for (int i = 0x58; i < 0x60; i++)
        t0[i] = op_pop_r;
    t0[0x60] = op_pusha;
    t0[0x61] = op_popa;
    t0[0x62] = op_bound;
    t0[0x63] = op_movsxd;
    t0[0x68] = t0[0x6a] = op_push_imm;
    t0[0x69] = t0[0x6b] = op_imul_rm;
    for (int i = 0x70; i < 0x80; i++)
        t0[i] = op_jcc;
    t0[0x80] = t0[0x81] = t0[0x82] = t0[0x83] = op_grp1;
    t0[0x84] = t0[0x85] = op_test_rm;
    t0[0x86] = t0[0x87] = op_xchg_rm;
    t0[0x88] = t0[0x89] = op_mov_rm_r;
    t0[0x8a] = t0[0x8b] = op_mov_r_rm;
    t0[0x8d] = op_lea;
    t0[0x8f] = op_pop_rm;
    for (int i = 0x90; i < 0x98; i++)
        t0[i] = op_xchg_acc;
    t0[0x98] = op_cbw;
    t0[0x99] = op_cwd;
    t0[0x9b] = op_fwait;
    t0[0x9c] = op_pushf;
    t0[0x9d] = op_popf;
    t0[0x9e] = op_sahf;
    t0[0x9f] = op_lahf;
    for (int i = 0xa0; i < 0xa4; i++)
        t0[i] = op_mov_moffs;
    t0[0xa8] = t0[0xa9] = op_test_acc;
    for (int i = 0xb0; i < 0xc0; i++)
        t0[i] = op_mov_r_imm;
    t0[0xc0] = t0[0xc1] = t0[0xd0] = t0[0xd1] = t0[0xd2] = t0[0xd3] = op_grp2;
    t0[0xc2] = t0[0xc3] = op_ret;
    t0[0xc6] = t0[0xc7] = op_mov_rm_imm;
    t0[0xc8] = op_enter;
    t0[0xc9] = op_leave;
    t0[0xd7] = op_xlat;
    for (int i = 0xd8; i < 0xe0; i++)
        t0[i] = op_x87;
    for (int i = 0xe0; i < 0xe4; i++)
        t0[i] = op_loop;
    t0[0xe8] = op_call_rel;
    t0[0xe9] = t0[0xeb] = op_jmp_rel;
    t0[0xf5] = op_flagop;
    for (int i = 0xf8; i < 0xfe; i++)
        t0[i] = op_flagop;
    t0[0xf6] = t0[0xf7] = op_grp3;
    t0[0xfe] = op_grp4;
    t0[0xff] = op_grp5;

    t1[0x0d] = op_nop_modrm;
    for (int i = 0x18; i < 0x20; i++)
        t1[i] = op_nop_modrm;
    for (int i = 0x40; i < 0x50; i++)
        t1[i] = op_cmov;
    for (int i = 0x80; i < 0x90; i++)
        t1[i] = op_jcc;
    for (int i = 0x90; i < 0xa0; i++)
        t1[i] = op_setcc;
    t1[0xaf] = op_imul_rm;
    t1[0xb6] = t1[0xb7] = op_movzx;
    t1[0xbe] = t1[0xbf] = op_movsx;
    for (int i = 0xc8; i < 0xd0; i++)
        t1[i] = op_bswap;
    (void)op_nop;

    register_ops_system(t0, t1);
    o->t[2][0x82] = op_invpcid;
    o->t[2][0x80] = o->t[2][0x81] = op_invept_invvpid;
    register_ops_string(t0, t1);
    register_ops_bits(t0, t1, o->t[2], o->t[3]);
    register_ops_sse(t1, o->t[2], o->t[3]);
    return &o->t[0][0];
}

/* Instructions that accept LOCK with a memory destination (SDM LOCK). */
static bool lockable(const struct insn *in)
{
    if (in->mod == 3 || !in->has_modrm)
        return false;
    if (in->map == 0) {
        uint8_t op = in->opcode;
        if (op < 0x40 && (op & 7) < 2 && (op & 0x38) != 0x38)
            return true; /* ALU r/m, r except CMP */
        if (op >= 0x80 && op <= 0x83)
            return ((in->modrm >> 3) & 7) != 7;
        if (op == 0x86 || op == 0x87)
            return true;
        if (op == 0xf6 || op == 0xf7)
            return ((in->modrm >> 3) & 7) == 2 || ((in->modrm >> 3) & 7) == 3;
        if (op == 0xfe || op == 0xff)
            return ((in->modrm >> 3) & 7) < 2;
        return false;
    }
    if (in->map == 1) {
        uint8_t op = in->opcode;
        return op == 0xab || op == 0xb3 || op == 0xbb || op == 0xb0 || op == 0xb1 || op == 0xc0 ||
               op == 0xc1 || (op == 0xba && ((in->modrm >> 3) & 7) >= 5) ||
               (op == 0xc7 && ((in->modrm >> 3) & 7) == 1);
    }
    return false;
}

void exec_resolve_handler(struct cpu *cpu, struct insn *in)
{
    struct optab *o = (struct optab *)cpu->optab;
    in->fn = o->t[in->map][in->opcode];
    if (in->vex && !(in->map == 2 && in->opcode >= 0xf2 && in->opcode <= 0xf7) &&
        !(in->map == 3 && in->opcode == 0xf0))
        in->fn = op_ud; /* AVX is not implemented */
    if (in->lock && !lockable(in))
        in->fn = op_ud;
}
