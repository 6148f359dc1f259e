/* The emulated x86-64 processor ("the hardware").
 *
 * The CPU executes guest code and returns to its caller (L0) only by a VM
 * exit: cpu_run() returns with cpu->exit filled in with the SDM's exit reason
 * and exit-information fields (SDM Vol. 3C, chapter 28 "VM Exits", and
 * Appendix C "VMX Basic Exit Reasons"). The end of a time slice is reported
 * as exit reason 52 (VMX-preemption timer expired), exactly as the hardware
 * would report it with the preemption timer armed.
 *
 * The CPU knows nothing about devices: port I/O, HLT, CPUID, unknown MSRs and
 * accesses to guest-physical addresses that are not RAM all exit to L0. */
#ifndef NVMX_CPU_H
#define NVMX_CPU_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "physmem.h"
#include "vmx_defs.h"

enum gpr {
    R_RAX,
    R_RCX,
    R_RDX,
    R_RBX,
    R_RSP,
    R_RBP,
    R_RSI,
    R_RDI,
    R_R8,
    R_R9,
    R_R10,
    R_R11,
    R_R12,
    R_R13,
    R_R14,
    R_R15,
};

enum seg_reg { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_LDTR, S_TR, NR_SEGS };

/* A segment register with its hidden (descriptor-cache) part. The access
 * rights use the VMCS layout (SDM 25.4.1, facts/formats.md section 8):
 * bits 3:0 type, 4 S, 6:5 DPL, 7 P, 12 AVL, 13 L, 14 D/B, 15 G, 16 unusable. */
struct segment {
    uint16_t sel;
    uint64_t base;
    uint32_t limit; /* byte-granular, already expanded by G */
    uint32_t ar;
};

struct dtable {
    uint64_t base;
    uint16_t limit;
};

/* Event pending or being injected at VM entry, in the VM-entry interruption
 * information format (facts/formats.md section 4). */
struct cpu_event {
    uint32_t info; /* bit 31 valid */
    uint32_t error_code;
    uint32_t instr_len; /* for software interrupts/exceptions */
};

/* VM-exit information, the SDM's exit-information fields (SDM 25.9). */
struct cpu_exit {
    uint32_t reason;        /* EXIT_REASON_*, bit 31 set for entry failure */
    uint64_t qualification; /* SDM 28.2.1 */
    uint64_t guest_linear;  /* guest-linear address (where defined) */
    uint64_t guest_physical;
    uint32_t intr_info; /* VM-exit interruption information */
    uint32_t intr_error;
    uint32_t idt_vectoring_info; /* event being delivered when the exit hit */
    uint32_t idt_vectoring_error;
    uint32_t instr_len;
    uint32_t instr_info;
};

/* The subset of VM-execution controls the hardware honours so far (SDM
 * 25.6). Bits use the SDM encodings from vmx_defs.h. */
struct cpu_controls {
    uint32_t pin;   /* PIN_* */
    uint32_t proc;  /* PROC_* */
    uint32_t proc2; /* PROC2_* */
    uint64_t tsc_offset;
    uint64_t tsc_multiplier; /* with "use TSC scaling" (48 fractional bits) */
    uint64_t eptp;       /* EPT pointer when secondary control "enable EPT" is set */
    uint64_t msr_bitmap; /* host-physical address, with "use MSR bitmaps" */
    uint32_t exit;   /* VM-exit controls */
    uint64_t virtual_apic;  /* host-physical virtual-APIC page (TPR shadow) */
    uint64_t apic_access;   /* host-physical APIC-access page */
    uint32_t tpr_threshold;
    uint64_t eoi_exit[4];         /* EOI-exit bitmap, vectors 0-255 (virtual-interrupt delivery) */
    uint64_t xss_exit_bitmap;     /* XSAVES/XRSTORS exit when EDX:EAX & IA32_XSS hits it */
    uint8_t pi_vector;            /* posted-interrupt notification vector */
    uint64_t pi_desc;             /* host-physical posted-interrupt descriptor (64 bytes, in RAM) */
    uint32_t ple_gap, ple_window; /* PAUSE-loop exiting (TSC ticks) */
    uint16_t vpid;
    uint32_t exception_bitmap;
    uint64_t io_bitmap_a, io_bitmap_b;                   /* host-physical, with "use I/O bitmaps" */
    uint64_t cr0_mask, cr0_shadow, cr4_mask, cr4_shadow; /* guest/host masks, read shadows */
    uint32_t cr3_target_count;
    uint64_t cr3_target[4];
    uint32_t pfec_mask, pfec_match;
    /* MSRs the CPU implements itself; reads/writes of any other MSR exit
     * (as with an MSR bitmap that intercepts exactly those). */
};

struct xmm {
    uint64_t q[2];
};

/* x87 and SSE register state (x87: SDM Vol. 1 chapter 8, src/cpu/x87.c).
 *
 * st[p] holds the PHYSICAL x87 data register Rp (p = 0..7) in the 80-bit
 * extended format in bytes 0-9 (bytes 10-15 zero). TOP is fsw bits 13:11 and
 * ST(i) is R((TOP + i) & 7): FXSAVE/FSAVE store ST(0)..ST(7), i.e.
 * st[(TOP + i) & 7] for i = 0..7, and FXRSTOR/FRSTOR load them back that way.
 * MMX register MMi aliases bytes 0-7 of st[i] (physical, TOP forced to 0).
 * ftw_abridged is the tag word in FXSAVE's abridged form: bit p set means Rp
 * is not empty; the full two-bit tags (FSTENV/FSAVE) are derived from the
 * register contents. fsw's ES and B bits are kept equal to "an exception
 * flag is set whose mask in fcw is clear" by the x87 code (hardware
 * recomputes them on FLDCW/FLDENV/FRSTOR; x87.c re-derives them before every
 * x87 instruction, so a raw FXRSTOR image is also handled). fip/fdp are the
 * offsets (64-bit in 64-bit mode) of the last non-control x87 instruction and
 * of its memory operand, fcs/fds their selectors, fop its 11-bit opcode. */
struct fpu_state {
    uint16_t fcw, fsw, ftw_abridged; /* x87 control/status/tag (abridged) */
    uint16_t fop;
    uint64_t fip, fdp;
    uint8_t st[8][16]; /* physical registers R0..R7 (see above) */
    uint32_t mxcsr;
    struct xmm xmm[16];
    uint16_t fcs, fds; /* x87 last instruction / operand selectors */
};

#define CPU_MAX_MSR_SLOTS 32

struct icache;
struct cpu_tlb;
struct cpu_run_state;
struct fetch_slot;

/* Flags kept lazily: the last flag-setting operation is recorded and
 * CF/PF/AF/ZF/SF/OF are computed on demand (see flags.c). */
struct lazy_flags {
    uint64_t res, src, dst; /* result and operands */
    uint32_t op;            /* LF_* operation kind */
    uint32_t size;          /* operand size in bytes */
    uint64_t known;         /* RFLAGS bits materialised in cpu->rflags */
};

struct cpu {
    /* --- architectural state --- */
    uint64_t regs[16];
    uint64_t rip;
    uint64_t rflags; /* arithmetic flags are stale while lf.op != LF_NONE */
    struct lazy_flags lf;
    struct segment seg[NR_SEGS];
    struct dtable gdtr, idtr;
    uint64_t cr0, cr2, cr3, cr4, cr8, xcr0;
    uint64_t pdpte[4]; /* PAE PDPTE registers, loaded on CR3 writes (SDM 4.4.1) */
    uint64_t dr[8];
    bool dbg_bp_enabled; /* some DR7 breakpoint is enabled (derived from DR7) */
    uint64_t debugctl;   /* IA32_DEBUGCTL: no LBR/BTF features, always 0 */
    uint64_t efer;
    uint64_t star, lstar, cstar, fmask, kernel_gs_base;
    uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
    uint64_t pat, tsc_aux, tsc_adjust, misc_enable, apic_base;
    uint64_t spec_ctrl;
    uint64_t xss, pasid;       /* IA32_XSS, IA32_PASID (XSAVES component 10) */
    uint64_t perf_global_ctrl; /* IA32_PERF_GLOBAL_CTRL: enable bits only (no counting) */
    struct fpu_state fpu;
    uint8_t xsave_hi[256 * 16]; /* AVX upper halves etc.: kept, not computed */
    bool a20_enabled;

    /* --- non-architectural but architecturally visible --- */
    uint32_t interruptibility; /* GUEST_INTR_STATE bits (STI/MOV SS/NMI) */
    uint32_t activity;         /* ACTIVITY_* */
    uint64_t icount;           /* retired instructions (virtual time base) */
    uint64_t tsc_base;         /* TSC = icount * tsc_per_insn + tsc_base */
    uint32_t tsc_per_insn;     /* nominal TSC ticks per retired instruction */
    uint64_t rng_state;        /* RDRAND/RDSEED: deterministic generator */
    int cpl;                   /* cached from CS.DPL / mode */
    int mode;                  /* CPU_MODE_* cached, recomputed on change */

    /* --- the VMX boundary --- */
    struct cpu_controls ctl;
    struct cpu_event entry_event; /* injected at the next cpu_run() */
    struct cpu_exit exit;
    bool ext_intr_pending;   /* the INTR line is asserted (set by L0) */
    uint8_t ext_intr_vector; /* the vector an acknowledge would return */
    bool nmi_pending;        /* an NMI arrived (set by L0) */
    bool init_pending;       /* an INIT signal arrived (set by L0) */
    uint64_t ple_first, ple_last; /* PAUSE-loop tracking (TSC values) */
    bool sipi_pending;       /* a start-up IPI arrived (set by L0) */
    uint8_t sipi_vector;
    /* guest interrupt status (SDM 25.4.2): RVI in bits 7:0, SVI in 15:8;
     * loaded and saved with "virtual-interrupt delivery" */
    uint16_t guest_intr_status;
    bool vintr_pending;     /* a virtual interrupt is recognized (SDM 30.2.1) */
    bool tpr_exit_at_entry; /* TPR below threshold at VM entry (SDM 27.7.7) */

    /* --- implementation --- */
    struct physmem *mem;
    struct icache *icache;
    struct cpu_tlb *tlb;
    uint64_t tlb_gen;               /* bumped by every TLB invalidation */
    struct fetch_slot *fetch_cache; /* linear RIP -> decoded instruction */
    int index;                      /* vCPU number */
    uint32_t log_flags;             /* CPU_LOG_* */
    FILE *log;
    uint64_t slice_end;       /* icount at which the current slice ends */
    struct cpu_run_state *rs; /* internal: state of the running instruction */
    uint64_t emul_token;
    const struct cpu_emul_ops *emul; /* set only inside cpu_emulate_insn */
    void *optab; /* the opcode dispatch tables (exec.c), read-only after creation */
    void *emul_opaque;
};

enum cpu_mode {
    CPU_MODE_REAL,
    CPU_MODE_VM86,
    CPU_MODE_PROT16,
    CPU_MODE_PROT32,
    CPU_MODE_COMPAT16,
    CPU_MODE_COMPAT32,
    CPU_MODE_LONG64,
};

#define CPU_LOG_UNIMP 1u /* -d unimp: log unimplemented opcodes */
#define CPU_LOG_INT 2u   /* -d int: log exceptions and interrupts */
#define CPU_LOG_EXEC 4u  /* -d exec: log every instruction (slow) */

struct cpu *cpu_create(struct physmem *mem, int index);
void cpu_destroy(struct cpu *cpu);

/* Resets to the power-on state (SDM 9.1.1): real mode at F000:FFF0. */
void cpu_reset(struct cpu *cpu);

/* Runs guest code for at most `budget` instructions. Returns the basic exit
 * reason (also in cpu->exit.reason). Before returning, the instruction that
 * caused a fault-like exit has not been executed; for instruction exits
 * (I/O, CPUID, HLT, RDMSR, WRMSR, ...) cpu->exit.instr_len tells L0 how far
 * to advance RIP when it emulates the instruction (cpu_skip_instruction). */
uint32_t cpu_run(struct cpu *cpu, uint64_t budget);

/* Advances RIP past the instruction that exited, as L0 does after emulating
 * it, and clears STI/MOV-SS blocking (SDM 26.3.1.5 / 27.x). */
void cpu_skip_instruction(struct cpu *cpu);

/* Services for L0's instruction emulation (BRIEF decision 7): the CPU
 * re-executes the instruction at RIP and routes the accesses that exited
 * (port I/O, non-RAM physical memory) through these callbacks. */
struct cpu_emul_ops {
    uint64_t (*pio_read)(void *opaque, uint16_t port, int size);
    void (*pio_write)(void *opaque, uint16_t port, int size, uint64_t val);
    uint64_t (*mmio_read)(void *opaque, uint64_t gpa, int size);
    void (*mmio_write)(void *opaque, uint64_t gpa, int size, uint64_t val);
};

/* Returns 0 when the instruction completed (RIP advanced, or a guest
 * exception was delivered), or the exit reason if a different exit occurred. */
uint32_t cpu_emulate_insn(struct cpu *cpu, const struct cpu_emul_ops *ops, void *opaque);

/* Reads (or writes) len bytes at sreg:offset with the segmentation and
 * paging checks of an instruction executed in the current processor state
 * (L0 uses it for the memory operands of the VMX instructions it emulates,
 * after loading the guest state). Returns 0; -1 with *fault (VM-entry
 * interruption format) and *fault_cr2 set when the access faults; -2 when
 * it reaches a guest-physical address that is not RAM. A write is
 * all-or-nothing. */
int cpu_access_guest_memory(struct cpu *cpu, int sreg, uint64_t offset, void *buf, int len,
                            bool write, struct cpu_event *fault, uint64_t *fault_cr2);

/* Guest-visible register access helpers used by L0 and the monitor. */
uint64_t cpu_get_rflags(struct cpu *cpu); /* materialises lazy flags */
void cpu_set_rflags(struct cpu *cpu, uint64_t v);
uint64_t cpu_read_tsc(const struct cpu *cpu);

/* Reads guest-linear memory (for debugging / monitor): 0 or -1. */
int cpu_read_linear_debug(struct cpu *cpu, uint64_t la, void *buf, size_t len);

/* Prints the register state like QEMU's "info registers". */
void cpu_dump_state(struct cpu *cpu, FILE *out);

/* ---- snapshots and migration (src/migrate/) ----
 * The TLB is part of the saved state: a guest that changes a paging entry
 * without invalidating it must see the same (stale or refilled)
 * translation after a restore as in an uninterrupted run. */
#define CPU_TLB_ENTRIES 256
struct cpu_tlb_state {
    uint64_t vpage; /* UINT64_MAX: empty */
    uint64_t ppage; /* host-physical page address */
    uint64_t lp_mask;
    uint16_t pcid;
    uint8_t global, perm;
};
void cpu_tlb_get(const struct cpu *cpu, unsigned i, struct cpu_tlb_state *e);
/* Returns false (and changes nothing) for a malformed entry. */
bool cpu_tlb_set(struct cpu *cpu, unsigned i, const struct cpu_tlb_state *e);
/* After the state of a vCPU (and RAM) was replaced by a restore: drops the
 * fetch and decoded-instruction caches and recomputes derived state
 * (mode, DR7 breakpoint flag). */
void cpu_state_restored(struct cpu *cpu);

/* Decodes one instruction from a byte buffer in the given mode (for tests
 * and the differential length check). Returns its length, or -1 if the bytes
 * do not form a valid instruction (#UD) or exceed 15 bytes. */
int cpu_decode_length(const uint8_t *bytes, size_t len, int mode);

#endif
