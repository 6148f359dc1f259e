/* The x87 FPU (SDM Vol. 1 chapter 8; Vol. 2 F* instruction pages).
 *
 * State: cpu->fpu (see the comment on struct fpu_state in cpu.h): physical
 * registers R0..R7 in st[], TOP in FSW bits 13:11, the abridged tag word.
 *
 * Execution. Every computational x87 instruction (everything except the
 * control instructions FNINIT, FNCLEX, FLDCW, FNSTCW, FNSTSW, FLDENV,
 * FNSTENV, FRSTOR, FNSAVE) runs on the host's own x87 unit, which has the
 * same 80-bit architecture: the guest's x87 state (control word, status word,
 * tags, the eight registers with TOP) is loaded into the host FPU with
 * FXRSTOR, the very same instruction (opcode and ModRM byte; a memory operand
 * is redirected to a host buffer holding the guest's operand bytes) runs
 * once, and FXSAVE captures the new state. The host's control word and MXCSR
 * are kept, so nothing depends on host state and no global state is used.
 * This makes every result bit-exact, including the precision and rounding
 * control, the exception flags and masked responses (QNaN indefinite, integer
 * indefinite, denormals), stack overflow/underflow (IE with SF and C1), the
 * condition codes of FCOM/FXAM/FPREM/FPTAN/FSIN/..., the C1 round-up
 * indication, and the unmasked responses (destination unchanged for #I/#D/#Z;
 * biased exponent results for unmasked #O/#U on register destinations; no
 * store to memory, and no #PF for it, when a store raises an unmasked
 * #I/#O/#U; PE unmasked: result delivered). FCMOVcc and FCOMI* see and set
 * the guest's arithmetic flags (loaded into the host RFLAGS around the
 * instruction).
 *
 * Exceptions (SDM 8.5-8.7). The state never enters the host FPU with an
 * unmasked exception pending: every waiting x87 instruction (all but
 * FNINIT/FNCLEX/FNSTSW/FNSTCW/FNSTENV/FNSAVE and the FENI/FDISI/FSETPM
 * no-ops) first checks for a pending unmasked exception (an FSW exception
 * flag whose FCW mask is clear; ES/B mirror that condition, as the hardware
 * recomputes them on FLDCW/FLDENV/FRSTOR) and raises #MF (vector 16). FWAIT
 * does the same (exec.c calls op_fwait_check). With CR0.NE = 0 the hardware
 * would signal FERR# to an external interrupt controller (IRQ 13) and stall;
 * nvmx models no FERR# line and raises #MF regardless of CR0.NE, i.e. it
 * behaves as with NE = 1. CR0.EM or CR0.TS: #NM for every x87 instruction
 * (FWAIT: only MP and TS, exec.c).
 *
 * Pointers: FIP/FCS/FOP are updated by every non-control instruction,
 * FDP/FDS by those with a memory operand (the classic behaviour; CPUID does
 * not report FDP_EXCPTN_ONLY nor the FCS/FDS deprecation). Register forms
 * the hardware rejects (e.g. D9 D1-D7, DD F0-FF) raise #UD; the undocumented
 * aliases real processors execute (FSTP1/8/9, FXCH4/7, FCOM2, FCOMP3/5,
 * FFREEP) are executed. */
#include "cpu_internal.h"

#define FSW_IE 0x0001
#define FSW_SF 0x0040
#define FSW_ES 0x0080
#define FSW_C0 0x0100
#define FSW_C1 0x0200
#define FSW_C2 0x0400
#define FSW_TOP 0x3800
#define FSW_C3 0x4000
#define FSW_B 0x8000
#define FSW_XFLAGS 0x003f /* IE DE ZE OE UE PE */

#define FCW_INIT 0x037f

/* ---- the host x87 ---- */

/* nvmx_x87_host_exec(image, mem, rflags, stub): loads `image` (FXSAVE format,
 * 512 bytes, 16-byte aligned; the host's MXCSR is stored into it first so
 * that FXRSTOR keeps it) into the host FPU, loads the arithmetic flags of
 * `rflags` into the host RFLAGS, calls `stub` (one x87 instruction and RET;
 * a memory operand is [rsi] = mem), stores the new state into `image` with
 * FXSAVE and returns the host RFLAGS after the instruction. Host state: at a
 * call the SysV ABI has the x87 stack empty, the XMM registers and the
 * status flags caller-saved and only the x87 control word and MXCSR control
 * bits callee-saved, so FNINIT and restoring the host FCW afterwards
 * suffice. None of the instructions after the stub waits for a pending
 * exception (FXSAVE, FNINIT do not; FLDCW runs after FNINIT), so an
 * unmasked exception of the guest instruction is only recorded in the
 * image's status word.
 *
 * nvmx_x87_stubs: for every (opcode D8..DF, ModRM 00..FF) the 4 bytes
 * "opcode modrm RET INT3" at offset 4 * ((opcode - 0xd8) * 256 + modrm). Only
 * register forms (ModRM >= C0) and memory forms with mod 00 rm 110 ([rsi])
 * are ever called. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl nvmx_x87_host_exec\n"
        ".hidden nvmx_x87_host_exec\n"
        ".type nvmx_x87_host_exec, @function\n"
        "nvmx_x87_host_exec:\n"
        "  push %rbp\n"
        "  mov %rsp, %rbp\n"
        "  sub $16, %rsp\n"
        "  fnstcw (%rsp)\n"
        "  stmxcsr 24(%rdi)\n"
        "  fxrstor (%rdi)\n"
        "  pushfq\n"
        "  pop %rax\n"
        "  and $~0x8d5, %rax\n"
        "  and $0x8d5, %rdx\n"
        "  or %rdx, %rax\n"
        "  push %rax\n"
        "  popfq\n"
        "  call *%rcx\n"
        "  pushfq\n"
        "  pop %rax\n"
        "  fxsave (%rdi)\n"
        "  fninit\n"
        "  fldcw (%rsp)\n"
        "  leave\n"
        "  ret\n"
        ".size nvmx_x87_host_exec, .-nvmx_x87_host_exec\n"
        ".p2align 4\n"
        ".globl nvmx_x87_stubs\n"
        ".hidden nvmx_x87_stubs\n"
        "nvmx_x87_stubs:\n"
        ".set .Lx87_oc, 0xd8\n"
        ".rept 8\n"
        ".set .Lx87_m, 0\n"
        ".rept 256\n"
        ".byte .Lx87_oc, .Lx87_m, 0xc3, 0xcc\n"
        ".set .Lx87_m, .Lx87_m + 1\n"
        ".endr\n"
        ".set .Lx87_oc, .Lx87_oc + 1\n"
        ".endr\n"
        ".size nvmx_x87_stubs, .-nvmx_x87_stubs\n");

uint64_t nvmx_x87_host_exec(uint8_t *image, void *mem, uint64_t rflags, const void *stub);
extern const uint8_t nvmx_x87_stubs[];

#define IMG_SIZE 512 /* FXSAVE image */
#define IMG_USED 160 /* through ST(7); the XMM area is don't-care */
#define IMG_REGS 32

static uint16_t get16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static int top(const struct cpu *cpu)
{
    return (cpu->fpu.fsw >> 11) & 7;
}

/* The full tag word (SDM 8.1.7): 00 valid, 01 zero, 10 special (NaN,
 * infinity, denormal, unsupported), 11 empty. */
static uint16_t full_tag(const struct cpu *cpu)
{
    uint16_t tw = 0;
    for (int p = 0; p < 8; p++) {
        unsigned t;
        if (!((cpu->fpu.ftw_abridged >> p) & 1)) {
            t = 3;
        } else {
            const uint8_t *b = cpu->fpu.st[p];
            uint16_t exp = (uint16_t)(get16(b + 8) & 0x7fff);
            uint64_t mant;
            memcpy(&mant, b, 8);
            if (exp == 0x7fff)
                t = 2;
            else if (exp == 0)
                t = mant == 0 ? 1 : 2;
            else
                t = (mant >> 63) ? 0 : 2; /* unnormal: special */
        }
        tw |= (uint16_t)(t << (2 * p));
    }
    return tw;
}

static uint16_t abridge(uint16_t tw)
{
    uint16_t a = 0;
    for (int p = 0; p < 8; p++)
        if (((tw >> (2 * p)) & 3) != 3)
            a |= (uint16_t)(1u << p);
    return a;
}

/* ES and B follow the unmasked exception flags (hardware recomputes them
 * whenever FCW or FSW is loaded). */
static void fsw_sync(struct cpu *cpu)
{
    struct fpu_state *f = &cpu->fpu;
    if (f->fsw & ~f->fcw & FSW_XFLAGS)
        f->fsw |= FSW_ES | FSW_B;
    else
        f->fsw &= (uint16_t) ~(FSW_ES | FSW_B);
}

/* Waiting instructions report a pending unmasked exception first (SDM 8.6,
 * 8.7: #MF at the next waiting x87 instruction). */
static void check_pending(struct cpu *cpu)
{
    fsw_sync(cpu);
    if (cpu->fpu.fsw & FSW_ES)
        raise_exception_noerr(cpu, EXC_MF);
}

void op_fwait_check(struct cpu *cpu)
{
    check_pending(cpu);
}

static void image_from_cpu(const struct cpu *cpu, uint8_t *img)
{
    const struct fpu_state *f = &cpu->fpu;
    memset(img, 0, IMG_USED);
    put16(img + 0, f->fcw);
    put16(img + 2, f->fsw);
    img[4] = (uint8_t)f->ftw_abridged;
    int t = top(cpu);
    for (int i = 0; i < 8; i++)
        memcpy(img + IMG_REGS + 16 * i, f->st[(t + i) & 7], 10);
}

static void image_to_cpu(struct cpu *cpu, const uint8_t *img)
{
    struct fpu_state *f = &cpu->fpu;
    f->fsw = get16(img + 2);
    f->ftw_abridged = img[4];
    int t = top(cpu);
    for (int i = 0; i < 8; i++) {
        memset(f->st[(t + i) & 7], 0, 16);
        memcpy(f->st[(t + i) & 7], img + IMG_REGS + 16 * i, 10);
    }
}

/* ---- memory operands ---- */

static void read_operand(struct cpu *cpu, const struct insn *in, uint64_t ea, uint8_t *buf,
                         int size)
{
    if (size <= 8) {
        uint64_t v = seg_read(cpu, in->seg, ea, size);
        memcpy(buf, &v, (size_t)size);
    } else {
        seg_read_bytes(cpu, in->seg, ea, buf, size);
    }
}

static void write_operand(struct cpu *cpu, const struct insn *in, uint64_t ea, const uint8_t *buf,
                          int size)
{
    if (size <= 8) {
        uint64_t v = 0;
        memcpy(&v, buf, (size_t)size);
        seg_write(cpu, in->seg, ea, size, v);
    } else {
        seg_write_bytes(cpu, in->seg, ea, buf, size);
    }
}

static bool all_bytes(const uint8_t *b, int n, uint8_t v)
{
    for (int i = 0; i < n; i++)
        if (b[i] != v)
            return false;
    return true;
}

/* Records the last non-control instruction (SDM 8.1.8, 8.1.9). */
static void set_pointers(struct cpu *cpu, const struct insn *in, bool mem, uint64_t ea)
{
    struct fpu_state *f = &cpu->fpu;
    f->fip = cpu->rip;
    f->fcs = cpu->seg[S_CS].sel;
    f->fop = (uint16_t)(((in->opcode & 7) << 8) | in->modrm);
    if (mem) {
        f->fdp = ea;
        f->fds = cpu->seg[in->seg].sel;
    }
}

/* Runs a computational instruction on the host x87. load: bytes of the
 * memory source operand; store: bytes of the memory destination. */
static void native(struct cpu *cpu, const struct insn *in, int load, int store)
{
    uint8_t oc = in->opcode;
    bool mem = in->mod != 3;
    uint64_t ea = 0;
    uint8_t buf[16] __attribute__((aligned(16))) = {0};
    if (mem) {
        ea = insn_ea(cpu, in);
        if (load)
            read_operand(cpu, in, ea, buf, load);
        /* a store is made after the computation: an unmasked exception
         * suppresses it together with its #GP/#PF (as the hardware does) */
    }
    uint8_t modrm = mem ? (uint8_t)((in->modrm & 0x38) | 0x06) : in->modrm;
    const uint8_t *stub = nvmx_x87_stubs + 4 * (((oc - 0xd8) << 8) | modrm);
    /* FCMOVcc (DA/DB C0-DF) reads the flags, FCOMI/FUCOMI(P) (DB/DF E8-F7)
     * writes them (and leaves them alone on an unmasked #IA) */
    bool fcmov = !mem && (oc == 0xda || oc == 0xdb) && modrm < 0xe0;
    bool fcomi = !mem && (oc == 0xdb || oc == 0xdf) && modrm >= 0xe8 && modrm < 0xf8;
    uint64_t fl = (fcmov || fcomi) ? cpu_get_rflags(cpu) : 0;

    uint8_t img[IMG_SIZE] __attribute__((aligned(64)));
    uint8_t before[IMG_SIZE] __attribute__((aligned(64)));
    image_from_cpu(cpu, img);
    if (store)
        memcpy(before, img, IMG_USED);
    uint64_t outfl = nvmx_x87_host_exec(img, buf, fl, stub);
    if (store) {
        bool written = true;
        uint16_t nsw = get16(img + 2);
        if (nsw & ~cpu->fpu.fcw & FSW_XFLAGS) {
            /* an unmasked exception may have suppressed the store (SDM
             * 8.5): tell by running again over a different fill */
            uint8_t buf2[16] __attribute__((aligned(16)));
            memset(buf2, 0xff, sizeof(buf2));
            nvmx_x87_host_exec(before, buf2, fl, stub);
            written = !(all_bytes(buf, store, 0) && all_bytes(buf2, store, 0xff));
        }
        if (written)
            write_operand(cpu, in, ea, buf, store); /* may fault: state not yet changed */
    }
    image_to_cpu(cpu, img);
    if (fcomi)
        set_flags_explicit(cpu, outfl & FL_ARITH, FL_ARITH);
    set_pointers(cpu, in, mem, ea);
}

/* ---- control instructions: environment and state images ---- */

static bool real_format(const struct cpu *cpu)
{
    return cpu->mode == CPU_MODE_REAL || cpu->mode == CPU_MODE_VM86;
}

/* The FSTENV image (SDM Vol. 1 figures 8-9 to 8-12): 28 bytes with a 32-bit
 * operand size (also in 64-bit mode, where FIP/FDP are truncated), 14 bytes
 * with 16; protected-mode layout (offsets and selectors) or real-mode
 * layout (20/32-bit linear addresses, FOP). Reserved fields read as 1s in
 * the upper halves of the dwords, as the hardware stores them. */
static int env_build(const struct cpu *cpu, const struct insn *in, uint8_t *e)
{
    const struct fpu_state *f = &cpu->fpu;
    uint16_t tw = full_tag(cpu);
    uint16_t fop = f->fop & 0x7ff;
    if (real_format(cpu)) {
        uint32_t ip = (uint32_t)((uint64_t)f->fcs * 16 + (uint32_t)f->fip);
        uint32_t dp = (uint32_t)((uint64_t)f->fds * 16 + (uint32_t)f->fdp);
        if (in->opsize == 2) {
            uint16_t w[7] = {f->fcw,
                             f->fsw,
                             tw,
                             (uint16_t)ip,
                             (uint16_t)(((ip >> 16) & 0xf) << 12 | fop),
                             (uint16_t)dp,
                             (uint16_t)(((dp >> 16) & 0xf) << 12)};
            memcpy(e, w, 14);
            return 14;
        }
        uint32_t d[7] = {0xffff0000u | f->fcw,
                         0xffff0000u | f->fsw,
                         0xffff0000u | tw,
                         0xffff0000u | (ip & 0xffff),
                         ((ip >> 16) & 0xffff) << 12 | fop,
                         0xffff0000u | (dp & 0xffff),
                         ((dp >> 16) & 0xffff) << 12};
        memcpy(e, d, 28);
        return 28;
    }
    if (in->opsize == 2) {
        uint16_t w[7] = {f->fcw, f->fsw, tw, (uint16_t)f->fip, f->fcs, (uint16_t)f->fdp, f->fds};
        memcpy(e, w, 14);
        return 14;
    }
    uint32_t d[7] = {0xffff0000u | f->fcw, 0xffff0000u | f->fsw,         0xffff0000u | tw,
                     (uint32_t)f->fip,     (uint32_t)fop << 16 | f->fcs, (uint32_t)f->fdp,
                     0xffff0000u | f->fds};
    memcpy(e, d, 28);
    return 28;
}

/* Loads an environment image; returns its size. FCW as FLDCW stores it,
 * tags: only "empty" matters (the others are derived from the contents),
 * ES/B recomputed. */
static int env_apply(struct cpu *cpu, const struct insn *in, const uint8_t *e)
{
    struct fpu_state *f = &cpu->fpu;
    int n = in->opsize == 2 ? 14 : 28;
    int w = n / 7; /* field width: 2 or 4 bytes */
    uint32_t v[7];
    for (int i = 0; i < 7; i++) {
        v[i] = 0;
        memcpy(&v[i], e + i * w, (size_t)w);
    }
    f->fcw = (uint16_t)((v[0] & 0x1f3f) | 0x40);
    f->fsw = (uint16_t)v[1];
    f->ftw_abridged = abridge((uint16_t)v[2]);
    if (real_format(cpu)) {
        if (w == 2) {
            f->fip = (v[3] & 0xffff) | ((v[4] >> 12) & 0xf) << 16;
            f->fop = (uint16_t)(v[4] & 0x7ff);
            f->fdp = (v[5] & 0xffff) | ((v[6] >> 12) & 0xf) << 16;
        } else {
            f->fip = (v[3] & 0xffff) | ((v[4] >> 12) & 0xffff) << 16;
            f->fop = (uint16_t)(v[4] & 0x7ff);
            f->fdp = (v[5] & 0xffff) | ((v[6] >> 12) & 0xffff) << 16;
        }
        f->fcs = f->fds = 0; /* linear addresses */
    } else if (w == 2) {
        f->fip = v[3] & 0xffff;
        f->fcs = (uint16_t)v[4];
        f->fdp = v[5] & 0xffff;
        f->fds = (uint16_t)v[6];
    } else {
        f->fip = v[3];
        f->fcs = (uint16_t)v[4];
        f->fop = (uint16_t)((v[4] >> 16) & 0x7ff);
        f->fdp = v[5];
        f->fds = (uint16_t)v[6];
    }
    fsw_sync(cpu);
    return n;
}

static uint64_t addr_add(const struct insn *in, uint64_t a, int off)
{
    return (a + (uint64_t)off) & size_mask(in->addrsize);
}

/* Memory accesses of FSTENV/FSAVE images: every page is probed first so the
 * store is all-or-nothing; fields are accessed at their own width (alignment
 * checks as for 2/4-byte operands). */
static void image_write(struct cpu *cpu, const struct insn *in, uint64_t a, const uint8_t *b, int n,
                        int env)
{
    for (int i = 0; i < n; i += 8)
        seg_probe_write(cpu, in->seg, addr_add(in, a, i), n - i >= 8 ? 8 : n - i);
    int w = env == 28 ? 4 : 2;
    for (int i = 0; i < n; i += i < env ? w : 2) {
        int sz = i < env ? w : 2;
        uint32_t v = 0;
        memcpy(&v, b + i, (size_t)sz);
        seg_write(cpu, in->seg, addr_add(in, a, i), sz, v);
    }
}

static void image_read(struct cpu *cpu, const struct insn *in, uint64_t a, uint8_t *b, int n,
                       int env)
{
    int w = env == 28 ? 4 : 2;
    for (int i = 0; i < n; i += i < env ? w : 2) {
        int sz = i < env ? w : 2;
        uint32_t v = (uint32_t)seg_read(cpu, in->seg, addr_add(in, a, i), sz);
        memcpy(b + i, &v, (size_t)sz);
    }
}

static void finit(struct cpu *cpu)
{
    struct fpu_state *f = &cpu->fpu;
    f->fcw = FCW_INIT;
    f->fsw = 0;
    f->ftw_abridged = 0;
    f->fip = f->fdp = 0;
    f->fcs = f->fds = 0;
    f->fop = 0;
}

static void op_fnstenv(struct cpu *cpu, const struct insn *in, uint64_t a)
{
    uint8_t e[28];
    int n = env_build(cpu, in, e);
    image_write(cpu, in, a, e, n, n);
    cpu->fpu.fcw |= FSW_XFLAGS; /* FNSTENV masks all exceptions */
    fsw_sync(cpu);
}

static void op_fldenv(struct cpu *cpu, const struct insn *in, uint64_t a)
{
    uint8_t e[28];
    int n = in->opsize == 2 ? 14 : 28;
    image_read(cpu, in, a, e, n, n);
    env_apply(cpu, in, e);
}

static void op_fnsave(struct cpu *cpu, const struct insn *in, uint64_t a)
{
    uint8_t b[108];
    int n = env_build(cpu, in, b);
    int t = top(cpu);
    for (int i = 0; i < 8; i++)
        memcpy(b + n + 10 * i, cpu->fpu.st[(t + i) & 7], 10);
    image_write(cpu, in, a, b, n + 80, n);
    finit(cpu);
}

static void op_frstor(struct cpu *cpu, const struct insn *in, uint64_t a)
{
    uint8_t b[108];
    int n = in->opsize == 2 ? 14 : 28;
    image_read(cpu, in, a, b, n + 80, n); /* every fault before any change */
    env_apply(cpu, in, b);
    int t = top(cpu);
    for (int i = 0; i < 8; i++) {
        memset(cpu->fpu.st[(t + i) & 7], 0, 16);
        memcpy(cpu->fpu.st[(t + i) & 7], b + n + 10 * i, 10);
    }
}

/* ---- decoding ---- */

/* Register forms (ModRM C0-FF) the processor executes, bit (modrm - 0xc0),
 * per opcode D8..DF; the others raise #UD. */
static const uint64_t reg_forms[8] = {
    ~0ull,                                                                        /* D8 */
    0x1ffffull | 0xff000000ull | 0x33ull << 32 | 0x7full << 40 | 0xffffull << 48, /* D9 */
    0xffffffffull | 1ull << 41,                      /* DA: FCMOV, FUCOMPP */
    0xffffffffull | 0x1full << 32 | 0xffffull << 40, /* DB */
    ~0ull,                                           /* DC */
    0xffffffffffffull,                               /* DD */
    0xffffffull | 1ull << 25 | 0xffffffffull << 32,  /* DE */
    0xffffffffull | 1ull << 32 | 0xffffull << 40,    /* DF */
};

/* Memory forms by opcode and ModRM.reg: operand size loaded (positive) or
 * stored (negative); 0 for the control instructions and #UD. */
static const int8_t mem_forms[8][8] = {
    {4, 4, 4, 4, 4, 4, 4, 4},       /* D8 m32fp arithmetic */
    {4, 0, -4, -4, 0, 0, 0, 0},     /* D9 FLD, -, FST, FSTP, FLDENV, FLDCW, FNSTENV, FNSTCW */
    {4, 4, 4, 4, 4, 4, 4, 4},       /* DA m32int arithmetic */
    {4, -4, -4, -4, 0, 10, 0, -10}, /* DB FILD, FISTTP, FIST, FISTP, -, FLD m80, -, FSTP m80 */
    {8, 8, 8, 8, 8, 8, 8, 8},       /* DC m64fp arithmetic */
    {8, -8, -8, -8, 0, 0, 0, 0},    /* DD FLD, FISTTP, FST, FSTP, FRSTOR, -, FNSAVE, FNSTSW */
    {2, 2, 2, 2, 2, 2, 2, 2},       /* DE m16int arithmetic */
    {2, -2, -2, -2, 10, 8, -10,
     -8}, /* DF FILD, FISTTP, FIST, FISTP, FBLD, FILD m64, FBSTP, FISTP */
};

void op_x87(struct cpu *cpu, const struct insn *in) /* D8-DF */
{
    if (cpu->cr0 & (CR0_EM | CR0_TS))
        raise_exception_noerr(cpu, EXC_NM);
    uint8_t oc = in->opcode, m = in->modrm;
    int op = (m >> 3) & 7;
    struct fpu_state *f = &cpu->fpu;
    fsw_sync(cpu);

    if (in->mod == 3) {
        if (!((reg_forms[oc - 0xd8] >> (m - 0xc0)) & 1))
            raise_ud(cpu);
        if (oc == 0xdb && m >= 0xe0 && m <= 0xe4) {
            switch (m) {
            case 0xe2: /* FNCLEX */
                f->fsw &= 0x7f00;
                return;
            case 0xe3: /* FNINIT */
                finit(cpu);
                return;
            default: /* FNENI, FNDISI, FNSETPM: no-ops since the 387 */
                return;
            }
        }
        if (oc == 0xdf && m == 0xe0) { /* FNSTSW AX */
            set_reg(cpu, R_RAX, 2, true, f->fsw);
            return;
        }
        check_pending(cpu);
        native(cpu, in, 0, 0);
        return;
    }

    int8_t k = mem_forms[oc - 0xd8][op];
    if (k > 0) {
        check_pending(cpu);
        native(cpu, in, k, 0);
        return;
    }
    if (k < 0) {
        check_pending(cpu);
        native(cpu, in, 0, -k);
        return;
    }
    uint64_t a;
    if (oc == 0xd9) {
        switch (op) {
        case 4: /* FLDENV */
            check_pending(cpu);
            op_fldenv(cpu, in, insn_ea(cpu, in));
            return;
        case 5: /* FLDCW: may unmask a pending exception (reported later) */
            check_pending(cpu);
            a = insn_ea(cpu, in);
            f->fcw = (uint16_t)((seg_read(cpu, in->seg, a, 2) & 0x1f3f) | 0x40);
            fsw_sync(cpu);
            return;
        case 6: /* FNSTENV */
            op_fnstenv(cpu, in, insn_ea(cpu, in));
            return;
        case 7: /* FNSTCW */
            seg_write(cpu, in->seg, insn_ea(cpu, in), 2, f->fcw);
            return;
        default:
            raise_ud(cpu);
        }
    }
    if (oc == 0xdd) {
        switch (op) {
        case 4: /* FRSTOR */
            check_pending(cpu);
            op_frstor(cpu, in, insn_ea(cpu, in));
            return;
        case 6: /* FNSAVE */
            op_fnsave(cpu, in, insn_ea(cpu, in));
            return;
        case 7: /* FNSTSW m16 */
            seg_write(cpu, in->seg, insn_ea(cpu, in), 2, f->fsw);
            return;
        default:
            raise_ud(cpu);
        }
    }
    raise_ud(cpu); /* DB /4, DB /6 */
}
