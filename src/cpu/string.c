/* String instructions (MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS) with REP
 * prefixes, and port I/O (IN/OUT). SDM Vol. 2 instruction pages; REP
 * iterations keep RCX/RSI/RDI exact so that a fault in the middle restarts
 * correctly (SDM Vol. 1 7.3.9.2). Port I/O checks the I/O permission bitmap
 * (SDM Vol. 1 19.5) and then exits to L0, unless L0 is emulating the
 * instruction (cpu->emul), in which case the access goes to its callbacks. */
#include "cpu_internal.h"

/* Iterations executed per dispatch before the instruction is re-executed,
 * so that exits and the slice end are taken between iterations as on
 * hardware. */
#define REP_CHUNK 4096

static inline uint64_t areg(const struct cpu *cpu, int r, int as)
{
    return get_reg(cpu, r, as, true);
}

static inline void set_areg(struct cpu *cpu, int r, int as, uint64_t v)
{
    set_reg(cpu, r, as, true, v);
}

static inline int str_size(const struct insn *in)
{
    return (in->opcode & 1) ? in->opsize : 1;
}

/* ---- I/O permission (SDM Vol. 1 19.5.1-19.5.2) ---- */

static void io_permission_check(struct cpu *cpu, uint16_t port, int size)
{
    if (!cpu_protected(cpu))
        return;
    int iopl = (int)((cpu->rflags >> 12) & 3);
    if (cpu->mode != CPU_MODE_VM86 && cpu->cpl <= iopl)
        return;
    const struct segment *tr = &cpu->seg[S_TR];
    uint32_t type = tr->ar & 0xf;
    if ((tr->ar & 0x10000) || (type != 9 && type != 11) || tr->limit < 103)
        raise_gp0(cpu);
    uint32_t base = (uint32_t)lin_read(cpu, tr->base + 102, 2, true);
    uint32_t byte = base + port / 8;
    if (byte + 1 > tr->limit)
        raise_gp0(cpu);
    uint32_t bits = (uint32_t)lin_read(cpu, tr->base + byte, 2, true);
    uint32_t mask = ((1u << size) - 1) << (port & 7);
    if (bits & mask)
        raise_gp0(cpu);
}

/* I/O-instruction exit (SDM 28.2.1 Table 28-5; 28.2.5 instruction info). */
static _Noreturn void io_exit(struct cpu *cpu, const struct insn *in, uint16_t port, int size,
                              bool is_in, bool string, bool imm, uint64_t la)
{
    uint64_t q = (uint64_t)(size - 1) | (is_in ? 8 : 0) | (string ? 16 : 0) |
                 ((string && in->rep) ? 32 : 0) | (imm ? 64 : 0) | ((uint64_t)port << 16);
    uint32_t info = 0;
    if (string) {
        info = (uint32_t)(in->addrsize == 2 ? 0 : in->addrsize == 4 ? 1 : 2) << 7;
        info |= (uint32_t)(is_in ? S_ES : in->seg) << 15;
        cpu->exit.guest_linear = la;
    }
    exit_instruction(cpu, EXIT_REASON_IO_INSTRUCTION, q, info);
}

/* Whether an I/O access exits (SDM 25.6.4, 26.1.3): with I/O bitmaps, if
 * the bit of any port accessed is set (bitmap A: 0000-7FFF, B: 8000-FFFF;
 * a wrap past FFFF exits); otherwise per "unconditional I/O exiting". */
static bool io_intercepted(struct cpu *cpu, uint16_t port, int size)
{
    if (cpu->ctl.proc & PROC_USE_IO_BITMAPS) {
        for (int i = 0; i < size; i++) {
            uint32_t p = (uint32_t)port + (uint32_t)i;
            if (p > 0xffff)
                return true;
            uint64_t bm = p < 0x8000 ? cpu->ctl.io_bitmap_a : cpu->ctl.io_bitmap_b;
            uint32_t bit = p & 0x7fff;
            if ((phys_read(cpu, bm + bit / 8, 1) >> (bit % 8)) & 1)
                return true;
        }
        return false;
    }
    return (cpu->ctl.proc & PROC_UNCONDITIONAL_IO_EXITING) != 0;
}

/* Port accesses that do not exit reach the processor's own I/O bus, on
 * which nothing is connected (all devices are L0's): reads float to all
 * ones, writes are dropped. Under L0's emulation they go to its callbacks. */
static uint64_t port_in(struct cpu *cpu, uint16_t port, int size)
{
    if (!cpu->emul)
        return size_mask(size);
    return cpu->emul->pio_read(cpu->emul_opaque, port, size) & size_mask(size);
}

static void port_out(struct cpu *cpu, uint16_t port, int size, uint64_t v)
{
    if (cpu->emul)
        cpu->emul->pio_write(cpu->emul_opaque, port, size, v & size_mask(size));
}

static void op_in_out(struct cpu *cpu, const struct insn *in) /* E4-E7, EC-EF */
{
    bool imm = in->opcode < 0xe8;
    uint16_t port = imm ? (uint16_t)(in->imm & 0xff) : (uint16_t)cpu->regs[R_RDX];
    int size = (in->opcode & 1) ? (in->opsize == 2 ? 2 : 4) : 1;
    bool is_in = !(in->opcode & 2);
    io_permission_check(cpu, port, size);
    if (!cpu->emul && io_intercepted(cpu, port, size))
        io_exit(cpu, in, port, size, is_in, false, imm, 0);
    if (is_in) {
        uint64_t v = port_in(cpu, port, size);
        if (size == 4)
            cpu->regs[R_RAX] = v; /* zero-extends */
        else
            set_reg(cpu, R_RAX, size, true, v);
    } else {
        port_out(cpu, port, size, cpu->regs[R_RAX]);
    }
}

/* Common REP driver: runs `step` until RCX hits 0, the termination condition
 * of REPE/REPNE holds, or the chunk ends (then the instruction restarts). */
typedef bool (*str_step)(struct cpu *cpu, const struct insn *in, int size, int as, int64_t delta);

static void rep_run(struct cpu *cpu, const struct insn *in, str_step step, bool cmp)
{
    int size = str_size(in), as = in->addrsize;
    int64_t delta = (cpu->rflags & FL_DF) ? -size : size;
    if (!in->rep) {
        step(cpu, in, size, as, delta);
        return;
    }
    for (int n = 0; n < REP_CHUNK; n++) {
        uint64_t c = areg(cpu, R_RCX, as);
        if (c == 0)
            return;
        step(cpu, in, size, as, delta);
        set_areg(cpu, R_RCX, as, c - 1);
        if (cmp) {
            bool zf = flag_zf(cpu);
            if ((in->rep == 0xf3 && !zf) || (in->rep == 0xf2 && zf))
                return;
        }
        if (c - 1 == 0)
            return;
    }
    /* more to do: re-execute the instruction (interruptible point) */
    cpu->rs->next_rip = cpu->rip;
}

static bool step_movs(struct cpu *cpu, const struct insn *in, int size, int as, int64_t d)
{
    uint64_t si = areg(cpu, R_RSI, as), di = areg(cpu, R_RDI, as);
    uint64_t v = seg_read(cpu, in->seg, si, size);
    seg_write(cpu, S_ES, di, size, v);
    set_areg(cpu, R_RSI, as, si + d);
    set_areg(cpu, R_RDI, as, di + d);
    return true;
}

static bool step_stos(struct cpu *cpu, const struct insn *in, int size, int as, int64_t d)
{
    uint64_t di = areg(cpu, R_RDI, as);
    seg_write(cpu, S_ES, di, size, get_reg(cpu, R_RAX, size, true));
    set_areg(cpu, R_RDI, as, di + d);
    return true;
}

static bool step_lods(struct cpu *cpu, const struct insn *in, int size, int as, int64_t d)
{
    uint64_t si = areg(cpu, R_RSI, as);
    uint64_t v = seg_read(cpu, in->seg, si, size);
    set_reg(cpu, R_RAX, size, true, v);
    set_areg(cpu, R_RSI, as, si + d);
    return true;
}

static void cmp_flags(struct cpu *cpu, int size, uint64_t a, uint64_t b)
{
    uint64_t m = size_mask(size);
    set_lazy(cpu, LF_SUB, size, a & m, b & m, (a - b) & m);
}

static bool step_cmps(struct cpu *cpu, const struct insn *in, int size, int as, int64_t d)
{
    uint64_t si = areg(cpu, R_RSI, as), di = areg(cpu, R_RDI, as);
    uint64_t a = seg_read(cpu, in->seg, si, size);
    uint64_t b = seg_read(cpu, S_ES, di, size);
    cmp_flags(cpu, size, a, b);
    set_areg(cpu, R_RSI, as, si + d);
    set_areg(cpu, R_RDI, as, di + d);
    return true;
}

static bool step_scas(struct cpu *cpu, const struct insn *in, int size, int as, int64_t d)
{
    uint64_t di = areg(cpu, R_RDI, as);
    uint64_t b = seg_read(cpu, S_ES, di, size);
    cmp_flags(cpu, size, get_reg(cpu, R_RAX, size, true), b);
    set_areg(cpu, R_RDI, as, di + d);
    return true;
}

/* Fast path for REP MOVSB/STOSB/MOVSQ... over RAM inside one page on both
 * sides: whole runs per page instead of element by element. */
static bool rep_fast_stos(struct cpu *cpu, const struct insn *in)
{
    int size = str_size(in), as = in->addrsize;
    if ((cpu->rflags & FL_DF) || cpu->dbg_bp_enabled || as == 2)
        return false;
    uint64_t c = areg(cpu, R_RCX, as);
    if (c == 0)
        return true;
    uint64_t di = areg(cpu, R_RDI, as);
    uint64_t la = seg_linear(cpu, S_ES, di, size, ACC_WRITE);
    uint64_t room = (0x1000 - (la & 0xfff)) / (uint64_t)size;
    if (room == 0 || (la & (size - 1)))
        return false;
    uint64_t n = c < room ? c : room;
    if (!cpu_long64(cpu)) {
        /* segment limit for the whole run */
        seg_linear(cpu, S_ES, di, (int)(n * size > 0x1000 ? 0x1000 : n * size), ACC_WRITE);
    }
    uint64_t pa = mmu_translate(cpu, la, ACC_WRITE, cpu->cpl == 3);
    uint8_t *p = physmem_ptr(cpu->mem, pa, n * size);
    if (!p)
        return false;
    lin_write(cpu, la, size, get_reg(cpu, R_RAX, size, true), false); /* A/D, code pages */
    uint64_t v = get_reg(cpu, R_RAX, size, true);
    for (uint64_t i = 1; i < n; i++)
        memcpy(p + i * size, &v, size);
    set_areg(cpu, R_RDI, as, di + n * size);
    set_areg(cpu, R_RCX, as, c - n);
    if (c - n)
        cpu->rs->next_rip = cpu->rip;
    physmem_note_write(cpu->mem, (uint64_t)(p - cpu->mem->arena) >> 12);
    return true;
}

/* REP MOVS fast path: a run that stays within one page on both sides and
 * in RAM is copied at once. Overlap where the destination starts inside the
 * source run must replicate element by element, so it takes the slow path. */
static bool rep_fast_movs(struct cpu *cpu, const struct insn *in)
{
    int size = str_size(in), as = in->addrsize;
    if ((cpu->rflags & FL_DF) || cpu->dbg_bp_enabled || as == 2)
        return false;
    uint64_t c = areg(cpu, R_RCX, as);
    if (c == 0)
        return true;
    uint64_t si = areg(cpu, R_RSI, as), di = areg(cpu, R_RDI, as);
    uint64_t sla = seg_linear(cpu, in->seg, si, size, ACC_READ);
    uint64_t dla = seg_linear(cpu, S_ES, di, size, ACC_WRITE);
    if ((sla | dla) & (size - 1))
        return false;
    uint64_t room_s = (0x1000 - (sla & 0xfff)) / (uint64_t)size;
    uint64_t room_d = (0x1000 - (dla & 0xfff)) / (uint64_t)size;
    uint64_t n = c < room_s ? c : room_s;
    if (room_d < n)
        n = room_d;
    if (!cpu_long64(cpu)) {
        seg_linear(cpu, in->seg, si, (int)(n * size), ACC_READ);
        seg_linear(cpu, S_ES, di, (int)(n * size), ACC_WRITE);
    }
    bool user = cpu->cpl == 3;
    uint64_t spa = mmu_translate(cpu, sla, ACC_READ, user);
    uint64_t dpa = mmu_translate(cpu, dla, ACC_WRITE, user);
    uint8_t *sp = physmem_ptr(cpu->mem, spa, n * size);
    uint8_t *dp = physmem_ptr(cpu->mem, dpa, n * size);
    if (!sp || !dp || (dp > sp && dp < sp + n * size))
        return false;
    /* the first element through the normal path: A/D bits, code pages */
    lin_write(cpu, dla, size, lin_read(cpu, sla, size, false), false);
    memmove(dp + size, sp + size, (n - 1) * size);
    physmem_note_write(cpu->mem, (uint64_t)(dp - cpu->mem->arena) >> 12);
    set_areg(cpu, R_RSI, as, si + n * size);
    set_areg(cpu, R_RDI, as, di + n * size);
    set_areg(cpu, R_RCX, as, c - n);
    if (c - n)
        cpu->rs->next_rip = cpu->rip;
    return true;
}

static void op_movs(struct cpu *cpu, const struct insn *in)
{
    if (in->rep && rep_fast_movs(cpu, in))
        return;
    rep_run(cpu, in, step_movs, false);
}

static void op_stos(struct cpu *cpu, const struct insn *in)
{
    if (in->rep && rep_fast_stos(cpu, in))
        return;
    rep_run(cpu, in, step_stos, false);
}

static void op_lods(struct cpu *cpu, const struct insn *in)
{
    rep_run(cpu, in, step_lods, false);
}

static void op_cmps(struct cpu *cpu, const struct insn *in)
{
    rep_run(cpu, in, step_cmps, true);
}

static void op_scas(struct cpu *cpu, const struct insn *in)
{
    rep_run(cpu, in, step_scas, true);
}

/* INS/OUTS: permission check, then exit to L0, which emulates the
 * instruction through cpu_emulate_insn (cpu->emul set). */
static bool step_ins(struct cpu *cpu, const struct insn *in, int size, int as, int64_t d)
{
    uint64_t di = areg(cpu, R_RDI, as);
    seg_probe_write(cpu, S_ES, di, size);
    uint64_t v = port_in(cpu, (uint16_t)cpu->regs[R_RDX], size);
    seg_write(cpu, S_ES, di, size, v);
    set_areg(cpu, R_RDI, as, di + d);
    return true;
}

static bool step_outs(struct cpu *cpu, const struct insn *in, int size, int as, int64_t d)
{
    uint64_t si = areg(cpu, R_RSI, as);
    uint64_t v = seg_read(cpu, in->seg, si, size);
    port_out(cpu, (uint16_t)cpu->regs[R_RDX], size, v);
    set_areg(cpu, R_RSI, as, si + d);
    return true;
}

static void op_ins_outs(struct cpu *cpu, const struct insn *in) /* 6C-6F */
{
    bool is_in = in->opcode < 0x6e;
    int size = (in->opcode & 1) ? (in->opsize == 2 ? 2 : 4) : 1;
    uint16_t port = (uint16_t)cpu->regs[R_RDX];
    io_permission_check(cpu, port, size);
    if (!cpu->emul && io_intercepted(cpu, port, size)) {
        if (in->rep && areg(cpu, R_RCX, in->addrsize) == 0)
            return;
        uint64_t off = areg(cpu, is_in ? R_RDI : R_RSI, in->addrsize);
        uint64_t la =
            seg_linear(cpu, is_in ? S_ES : in->seg, off, size, is_in ? ACC_WRITE : ACC_READ);
        io_exit(cpu, in, port, size, is_in, true, false, la);
    }
    struct insn tmp = *in;
    tmp.opsize = (uint8_t)size;
    tmp.opcode |= 1; /* str_size() uses opsize for odd opcodes */
    rep_run(cpu, &tmp, is_in ? step_ins : step_outs, false);
}

void register_ops_string(insn_fn *t0, insn_fn *t1)
{
    t0[0xa4] = t0[0xa5] = op_movs;
    t0[0xa6] = t0[0xa7] = op_cmps;
    t0[0xaa] = t0[0xab] = op_stos;
    t0[0xac] = t0[0xad] = op_lods;
    t0[0xae] = t0[0xaf] = op_scas;
    t0[0x6c] = t0[0x6d] = t0[0x6e] = t0[0x6f] = op_ins_outs;
    t0[0xe4] = t0[0xe5] = t0[0xe6] = t0[0xe7] = op_in_out;
    t0[0xec] = t0[0xed] = t0[0xee] = t0[0xef] = op_in_out;
}
