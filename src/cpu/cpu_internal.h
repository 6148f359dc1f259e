/* Internal interfaces of the CPU: decoded instructions, memory access,
 * exceptions, lazy flags. Nothing outside src/cpu/ includes this. */
#ifndef NVMX_CPU_INTERNAL_H
#define NVMX_CPU_INTERNAL_H

#include <setjmp.h>
#include <string.h>

#include "cpu.h"

/* ---- RFLAGS / control-register bits (SDM 3.4.3, 2.5) ---- */
#define FL_CF 0x1ull
#define FL_PF 0x4ull
#define FL_AF 0x10ull
#define FL_ZF 0x40ull
#define FL_SF 0x80ull
#define FL_TF 0x100ull
#define FL_IF 0x200ull
#define FL_DF 0x400ull
#define FL_OF 0x800ull
#define FL_IOPL 0x3000ull
#define FL_NT 0x4000ull
#define FL_RF 0x10000ull
#define FL_VM 0x20000ull
#define FL_AC 0x40000ull
#define FL_VIF 0x80000ull
#define FL_VIP 0x100000ull
#define FL_ID 0x200000ull
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

#define CR0_PE 0x1ull
#define CR0_MP 0x2ull
#define CR0_EM 0x4ull
#define CR0_TS 0x8ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_WP 0x10000ull
#define CR0_AM 0x40000ull
#define CR0_NW 0x20000000ull
#define CR0_CD 0x40000000ull
#define CR0_PG 0x80000000ull

#define CR4_VME 0x1ull
#define CR4_PVI 0x2ull
#define CR4_TSD 0x4ull
#define CR4_DE 0x8ull
#define CR4_PSE 0x10ull
#define CR4_PAE 0x20ull
#define CR4_MCE 0x40ull
#define CR4_PGE 0x80ull
#define CR4_PCE 0x100ull
#define CR4_OSFXSR 0x200ull
#define CR4_OSXMMEXCPT 0x400ull
#define CR4_UMIP 0x800ull
#define CR4_LA57 0x1000ull
#define CR4_VMXE 0x2000ull
#define CR4_SMXE 0x4000ull
#define CR4_FSGSBASE 0x10000ull
#define CR4_PCIDE 0x20000ull
#define CR4_OSXSAVE 0x40000ull
#define CR4_SMEP 0x100000ull
#define CR4_SMAP 0x200000ull
#define CR4_PKE 0x400000ull

#define EFER_SCE 0x1ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define EFER_NXE 0x800ull

/* ---- exception vectors (SDM 6.3.1) ---- */
enum {
    EXC_DE = 0,
    EXC_DB = 1,
    EXC_NMI = 2,
    EXC_BP = 3,
    EXC_OF = 4,
    EXC_BR = 5,
    EXC_UD = 6,
    EXC_NM = 7,
    EXC_DF = 8,
    EXC_TS = 10,
    EXC_NP = 11,
    EXC_SS = 12,
    EXC_GP = 13,
    EXC_PF = 14,
    EXC_MF = 16,
    EXC_AC = 17,
    EXC_MC = 18,
    EXC_XM = 19,
    EXC_VE = 20,
};

/* #PF error-code bits (SDM 4.7) */
#define PFEC_P 1u
#define PFEC_W 2u
#define PFEC_U 4u
#define PFEC_RSVD 8u
#define PFEC_I 16u

/* ---- the MSRs the CPU implements itself ---- */
#define MSR_TSC 0x10
#define MSR_APIC_BASE 0x1b
#define MSR_TSC_ADJUST 0x3b
#define MSR_SPEC_CTRL 0x48
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_MISC_ENABLE 0x1a0
#define MSR_PAT 0x277
#define MSR_PERF_GLOBAL_CTRL 0x38f
/* IA32_PERF_GLOBAL_CTRL (SDM Vol. 4 table 2-2, Vol. 3B 20.2.2): one enable
 * bit per counter; this processor has the enable bits of 2 general-purpose
 * (bits 1:0) and 3 fixed-function counters (bits 34:32), every other bit is
 * reserved. The counters themselves never count (no events are modelled). */
#define PERF_GLOBAL_CTRL_VALID 0x700000003ull
/* IA32_XSS (SDM Vol. 1 13.3): the supervisor state components XSAVES and
 * XRSTORS manage. The only one implemented is PASID state (component 10:
 * the IA32_PASID MSR, bits 19:0 PASID and bit 31 valid; ENQCMD itself is
 * not implemented). */
#define MSR_PASID 0xd93
#define MSR_XSS 0xda0
#define XSS_PASID (1ull << 10)
#define XSS_SUPPORTED XSS_PASID
#define PASID_VALID 0x800fffffull
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_FMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103

/* Physical-address width reported by CPUID.80000008 (L0's model uses the
 * same value): addresses at or above 1 << CPU_MAXPHYADDR are reserved. */
#define CPU_MAXPHYADDR 39
#define PHYS_MASK ((1ull << CPU_MAXPHYADDR) - 1)

/* ---- decoded instruction ---- */
enum seg_override { SEG_NONE = -1 };

struct insn;
typedef void (*insn_fn)(struct cpu *cpu, const struct insn *in);

struct insn {
    insn_fn fn;       /* handler */
    uint8_t len;      /* total length in bytes */
    uint8_t opsize;   /* operand size in bytes: 2, 4, 8 */
    uint8_t addrsize; /* address size: 2, 4, 8 */
    uint8_t map;      /* 0: one-byte, 1: 0F, 2: 0F38, 3: 0F3A */
    uint8_t opcode;
    uint8_t rep; /* 0, 0xF2, 0xF3 (last of F2/F3 seen) */
    uint8_t lock;
    uint8_t pfx66; /* operand-size prefix present */
    uint8_t mand;  /* SSE mandatory prefix: 0, 0x66, 0xF2, 0xF3 */
    uint8_t rex;   /* REX byte or 0 */
    int8_t seg;    /* segment for the memory operand (S_*) */
    uint8_t has_modrm;
    uint8_t modrm;
    uint8_t mod; /* modrm.mod */
    uint8_t reg; /* modrm.reg with REX.R */
    uint8_t rm;  /* modrm.rm with REX.B (register form) */
    /* memory operand: ea = base + index*scale + disp (+ rip when riprel) */
    int8_t base;   /* -1 none */
    int8_t index;  /* -1 none */
    uint8_t scale; /* shift 0-3 */
    uint8_t riprel;
    int64_t disp;
    uint64_t imm;  /* first immediate (sign-extended where the SDM says) */
    uint64_t imm2; /* second immediate (ENTER, far pointers) */
    uint8_t vex;   /* VEX-encoded (BMI): 1 */
    uint8_t vvvv;  /* VEX.vvvv register (inverted back) */
    uint8_t vex_l, vex_w;
};

/* Decodes the instruction at `bytes` (avail bytes readable). mode is a
 * CPU_MODE_*. Returns 0 and fills `in`, or -EXC_UD for an invalid encoding,
 * or -1000 when more bytes are needed than `avail` (or > 15: -EXC_GP). */
int decode_insn(const uint8_t *bytes, size_t avail, int mode, bool cs_d, struct insn *in);

/* ---- exceptions ---- */
/* Raises a fault: unwinds the current instruction (longjmp) and delivers the
 * exception through the guest IDT (or exits, per the VMX controls). */
_Noreturn void raise_exception(struct cpu *cpu, int vector, uint32_t error_code);
_Noreturn void raise_exception_noerr(struct cpu *cpu, int vector);
/* Ends the current instruction with a VM exit (reason etc. already in
 * cpu->exit). */
_Noreturn void vm_exit(struct cpu *cpu, uint32_t reason, uint64_t qual);
#define raise_gp0(cpu) raise_exception(cpu, EXC_GP, 0)
#define raise_ud(cpu) raise_exception_noerr(cpu, EXC_UD)

/* Delivers an event (SDM 6.12 / 6.14) to the guest now. type is an
 * INTR_TYPE_*; for software interrupts next_rip is the return address. */
void deliver_event(struct cpu *cpu, int vector, int type, bool has_error, uint32_t error,
                   uint64_t next_rip);

/* ---- mode / segments (seg.c) ---- */
void cpu_update_mode(struct cpu *cpu);
static inline bool cpu_long64(const struct cpu *c)
{
    return c->mode == CPU_MODE_LONG64;
}
static inline bool cpu_in_lma(const struct cpu *c)
{
    return (c->efer & EFER_LMA) != 0;
}
static inline bool cpu_protected(const struct cpu *c)
{
    return (c->cr0 & CR0_PE) != 0;
}
/* Loads a segment register as MOV/POP do (SDM 5.4 checks). */
void load_seg(struct cpu *cpu, int sreg, uint16_t sel);
/* Loads a segment register without checks from a descriptor (used by far
 * transfers after they did their own checks). */
void load_seg_desc(struct cpu *cpu, int sreg, uint16_t sel, uint64_t desc_lo, uint64_t desc_hi);
void load_seg_real(struct cpu *cpu, int sreg, uint16_t sel);
void set_seg_null(struct cpu *cpu, int sreg, uint16_t sel);
/* Reads the 8-byte descriptor for sel from GDT/LDT; returns 0 or raises
 * #GP(sel) when outside the table limit (if exc_vec >= 0: that vector). */
int read_descriptor(struct cpu *cpu, uint16_t sel, uint64_t *lo, int exc_vec);
uint32_t desc_to_ar(uint64_t d);
uint64_t desc_base(uint64_t d);
uint32_t desc_limit(uint64_t d);
void write_descriptor_accessed(struct cpu *cpu, uint16_t sel, uint64_t d);

/* ---- memory (mmu.c) ---- */
enum acc { ACC_READ = 0, ACC_WRITE = 1, ACC_EXEC = 2 };
/* Translates a linear address; raises #PF on failure (or exits). user:
 * the access is made with CPL 3 privilege (implicit supervisor accesses
 * like descriptor-table reads pass false). Returns guest-physical. */
uint64_t mmu_translate(struct cpu *cpu, uint64_t la, enum acc acc, bool user);
void tlb_flush_all(struct cpu *cpu, bool include_global);
void tlb_flush_page(struct cpu *cpu, uint64_t la);
void tlb_flush_pcid(struct cpu *cpu, uint16_t pcid, bool include_global);
/* Loads PDPTEs for PAE paging (SDM 4.4.1); false if reserved bits set. */
bool mmu_load_pdptes(struct cpu *cpu, uint64_t cr3);
struct cpu_tlb *tlb_create(void);
uint8_t *mmu_fetch_ptr(struct cpu *cpu, uint64_t la, uint64_t *pa_out);

/* Linear accesses (after segmentation). sup: implicit supervisor access. */
uint64_t lin_read(struct cpu *cpu, uint64_t la, int size, bool sup);
void lin_write(struct cpu *cpu, uint64_t la, int size, uint64_t val, bool sup);
/* Segment-relative accesses with segmentation checks (SDM 5.3 / 3.4.5). */
uint64_t seg_read(struct cpu *cpu, int sreg, uint64_t off, int size);
void seg_write(struct cpu *cpu, int sreg, uint64_t off, int size, uint64_t val);
uint64_t seg_linear(struct cpu *cpu, int sreg, uint64_t off, int size, enum acc acc);
/* Checks a write is possible (translation + permissions) without writing,
 * so multi-part stores can be made all-or-nothing. */
void seg_probe_write(struct cpu *cpu, int sreg, uint64_t off, int size);
void seg_read_bytes(struct cpu *cpu, int sreg, uint64_t off, void *dst, int n);
void seg_write_bytes(struct cpu *cpu, int sreg, uint64_t off, const void *src, int n);
/* Physical accesses used by page walks and descriptor accesses. */
uint64_t phys_read(struct cpu *cpu, uint64_t pa, int size);
void phys_write(struct cpu *cpu, uint64_t pa, int size, uint64_t val);

/* Data breakpoints (SDM 18.2.4): records hits of enabled DR0-DR3 data
 * breakpoints for an access; the trap is delivered after the instruction. */
void check_data_breakpoints(struct cpu *cpu, uint64_t la, int size, bool write);
void cpu_dr7_changed(struct cpu *cpu);

/* ---- decoded-instruction cache (icache.c) ---- */
void icache_invalidate_page(struct icache *ic, uint64_t arena_page);
struct icache *icache_create(struct physmem *pm);
void icache_destroy(struct icache *ic);
/* Looks up / inserts decoded instructions by physical address and mode. */
const struct insn *icache_lookup(struct icache *ic, uint64_t pa, uint32_t modekey);
struct insn *icache_insert(struct icache *ic, uint64_t pa, uint32_t modekey);
void icache_flush(struct icache *ic);

/* ---- lazy flags (flags.c) ---- */
enum lazy_op {
    LF_NONE,
    LF_ADD,
    LF_SUB,
    LF_SBB,
    LF_LOGIC,
    LF_INC,
    LF_DEC,
    LF_SHL,
    LF_SHR,
    LF_SAR, /* src = count (1..width-1 or more, already masked) */
};
uint64_t flags_materialize(struct cpu *cpu);
bool flag_cf(const struct cpu *cpu);
bool flag_zf(const struct cpu *cpu);
bool flag_sf(const struct cpu *cpu);
bool flag_of(const struct cpu *cpu);
bool flag_pf(const struct cpu *cpu);
bool cond_true(struct cpu *cpu, int cc);
static inline uint64_t size_mask(int size)
{
    return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}
static inline void set_lazy(struct cpu *cpu, int op, int size, uint64_t dst, uint64_t src,
                            uint64_t res)
{
    cpu->lf.op = op;
    cpu->lf.size = size;
    cpu->lf.dst = dst;
    cpu->lf.src = src;
    cpu->lf.res = res & size_mask(size);
}
/* Sets the six arithmetic flags to explicit values (clears lazy state). */
void set_flags_explicit(struct cpu *cpu, uint64_t flags, uint64_t mask);
bool parity8(uint8_t v);

/* ---- register and operand access (exec.c) ---- */
static inline uint64_t sext(uint64_t v, int size)
{
    switch (size) {
    case 1:
        return (uint64_t)(int64_t)(int8_t)v;
    case 2:
        return (uint64_t)(int64_t)(int16_t)v;
    case 4:
        return (uint64_t)(int64_t)(int32_t)v;
    default:
        return v;
    }
}
static inline uint64_t get_reg(const struct cpu *cpu, int reg, int size, bool rex)
{
    switch (size) {
    case 1:
        if (!rex && reg >= 4 && reg < 8)
            return (cpu->regs[reg - 4] >> 8) & 0xff; /* AH, CH, DH, BH */
        return cpu->regs[reg] & 0xff;
    case 2:
        return cpu->regs[reg] & 0xffff;
    case 4:
        return cpu->regs[reg] & 0xffffffff;
    default:
        return cpu->regs[reg];
    }
}

static inline void set_reg(struct cpu *cpu, int reg, int size, bool rex, uint64_t v)
{
    switch (size) {
    case 1:
        if (!rex && reg >= 4 && reg < 8)
            cpu->regs[reg - 4] = (cpu->regs[reg - 4] & ~0xff00ull) | ((v & 0xff) << 8);
        else
            cpu->regs[reg] = (cpu->regs[reg] & ~0xffull) | (v & 0xff);
        break;
    case 2:
        cpu->regs[reg] = (cpu->regs[reg] & ~0xffffull) | (v & 0xffff);
        break;
    case 4:
        cpu->regs[reg] = v & 0xffffffff;
        break; /* 32-bit writes zero-extend */
    default:
        cpu->regs[reg] = v;
        break;
    }
}

uint64_t insn_ea(struct cpu *cpu, const struct insn *in);
uint64_t rm_read(struct cpu *cpu, const struct insn *in, int size);
void rm_write(struct cpu *cpu, const struct insn *in, int size, uint64_t v);
uint64_t reg_read(struct cpu *cpu, const struct insn *in, int size);
void reg_write(struct cpu *cpu, const struct insn *in, int size, uint64_t v);
void push(struct cpu *cpu, int size, uint64_t v);
uint64_t pop(struct cpu *cpu, int size);
int stack_size(const struct cpu *cpu); /* 2, 4 or 8 bytes of SP in use */
uint64_t get_sp(const struct cpu *cpu);
void set_sp(struct cpu *cpu, uint64_t v);
void branch_to(struct cpu *cpu, uint64_t target, int opsize);

/* Per-instruction scratch for the running instruction. */
struct cpu_run_state {
    uint64_t next_rip; /* RIP after the current instruction */
    uint64_t insn_rip; /* RIP of the current instruction */
    const struct insn *in;
    jmp_buf jb;
    bool in_delivery; /* delivering an event: nested faults -> #DF */
    int delivering_vec;
    uint32_t delivering_info; /* IDT-vectoring info for exits */
    uint32_t delivering_err;
    bool emul_done;       /* cpu_emulate_insn: the instruction completed */
    uint32_t db_hits;     /* data breakpoints hit by this instruction (DR6 B0-B3) */
    uint64_t pending_dr6; /* DR6 bits of the #DB being raised (written on delivery) */
    uint64_t pf_addr;     /* linear address of the #PF being raised (CR2 on delivery) */
    bool pf_addr_valid;
    bool injecting;            /* delivering the VM-entry event: no exception-bitmap exit */
    bool mtf_slice;            /* monitor trap flag: the slice is one instruction */
    uint64_t slice_end;        /* icount at which the slice ends (cpu->slice_end may be lower) */
    uint32_t trap_exit_reason; /* trap-like VM exit after this instruction (0: none) */
    uint64_t trap_exit_qual;
    uint32_t prev_info; /* event whose delivery the current fault interrupted */
    uint32_t prev_err;
};
#define cpu_rs(cpu) ((cpu)->rs)
/* Makes cpu_run check events at the next instruction boundary (a virtual
 * interrupt became pending, a trap-like exit is due) at no cost to the
 * instructions that do not need it: the boundary test already compares
 * icount with cpu->slice_end. */
static inline void cpu_kick(struct cpu *cpu)
{
    cpu->slice_end = 0;
}

/* VM-exit instruction information / qualification of an instruction's
 * operand (SDM 28.2.1, 28.2.5). */
uint32_t insn_info_operand(const struct insn *in);
uint64_t insn_exit_displacement(const struct cpu *cpu, const struct insn *in);

/* handler registration (each exec_*.c module) */
void register_ops_base(insn_fn *t0, insn_fn *t1);
void register_ops_system(insn_fn *t0, insn_fn *t1);
void register_ops_transfer(insn_fn *t0, insn_fn *t1);
void register_ops_fxsave(insn_fn *t1);
void register_ops_string(insn_fn *t0, insn_fn *t1);
void register_ops_sse(insn_fn *t1, insn_fn *t38, insn_fn *t3a);
void register_ops_bits(insn_fn *t0, insn_fn *t1, insn_fn *t38, insn_fn *t3a);
void op_ud(struct cpu *cpu, const struct insn *in);
void op_invpcid(struct cpu *cpu, const struct insn *in);
void op_invept_invvpid(struct cpu *cpu, const struct insn *in);
void op_x87(struct cpu *cpu, const struct insn *in);                  /* x87.c: D8-DF */
void op_xsaves(struct cpu *cpu, const struct insn *in, bool restore); /* fxsave.c: 0F C7 /5, /3 */
/* VM-exit instruction information for a memory/register operand (sys.c) */
uint32_t insn_info_operand(const struct insn *in);
void op_fwait_check(struct cpu *cpu);
bool cpu_pat_valid(uint64_t pat); /* IA32_PAT memory types (SDM 11.12.2) */
void op_far_call_jmp_mem(struct cpu *cpu, const struct insn *in, bool call);
void op_arpl(struct cpu *cpu, const struct insn *in);
uint64_t check_code_selector(struct cpu *cpu, uint16_t sel, bool is_return, int *new_cpl);
void load_ldt(struct cpu *cpu, uint16_t sel);
void load_tr(struct cpu *cpu, uint16_t sel);
void far_via_call_gate(struct cpu *cpu, uint16_t sel, uint64_t gate, bool call, int osz);
insn_fn *optab_create(void);
void exec_resolve_handler(struct cpu *cpu, struct insn *in);

/* VMX-boundary helpers used by instruction handlers (vmx_exit.c). */
_Noreturn void exit_instruction(struct cpu *cpu, uint32_t reason, uint64_t qual, uint32_t info);

/* MSRs the CPU implements (sys.c): false if it must exit to L0. */
bool cpu_msr_read(struct cpu *cpu, uint32_t idx, uint64_t *val);
bool cpu_msr_write(struct cpu *cpu, uint32_t idx, uint64_t val);         /* may raise #GP */
bool cpu_msr_write_checked(struct cpu *cpu, uint32_t idx, uint64_t val); /* never raises */

/* APIC virtualization (apicv.c, SDM chapter 30). */
void apicv_vmentry(struct cpu *cpu);
void apicv_tpr_written(struct cpu *cpu);
void apicv_deliver(struct cpu *cpu);
void apicv_process_posted(struct cpu *cpu);
bool apicv_rdmsr(struct cpu *cpu, uint32_t idx, uint64_t *val); /* true: virtualized */
bool apicv_wrmsr(struct cpu *cpu, uint32_t idx, uint64_t val);  /* true: virtualized */
/* Data accesses to the APIC-access page with a TPR shadow (SDM 30.4):
 * virtualized on the virtual-APIC page, or an APIC-access VM exit. */
uint64_t apicv_mem_read(struct cpu *cpu, uint32_t off, int size, uint64_t la);
void apicv_mem_write(struct cpu *cpu, uint32_t off, int size, uint64_t val, uint64_t la);
_Noreturn void apic_access_vmexit(struct cpu *cpu, uint32_t off, enum acc acc, uint64_t la);
/* Control-register writes with their checks and side effects (sys.c). */
void write_cr0(struct cpu *cpu, uint64_t v);
void write_cr3(struct cpu *cpu, uint64_t v);
void write_cr4(struct cpu *cpu, uint64_t v);

#endif
