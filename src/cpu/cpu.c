/* CPU life cycle and the execution loop: VM entry (event injection), the
 * fetch/decode/execute loop with the decoded-instruction cache, exceptions
 * and their delivery (SDM Vol. 3A chapter 6), and VM exits. */
#include <stdlib.h>

#include "cpu_internal.h"

/* Reason codes passed through longjmp. */
enum { JMP_FAULT = 1, JMP_EXIT = 2 };

struct cpu_run_state_ext {
    struct cpu_run_state rs;
    int fault_vec;
    uint32_t fault_err;
    bool fault_has_err;
};

#define FETCH_CACHE_SIZE 1024

/* A per-vCPU cache in front of the TLB and the decoded-instruction cache,
 * keyed by the linear address of the instruction and the decoding context.
 * An entry is valid while neither the TLB nor the decoded-instruction cache
 * changed since it was filled (gen = tlb_gen + code_gen, both monotonic). */
struct fetch_slot {
    uint64_t la;
    uint64_t gen;
    uint32_t key;
    const struct insn *in;
};

struct cpu *cpu_create(struct physmem *mem, int index)
{
    struct cpu *cpu = calloc(1, sizeof(*cpu));
    if (!cpu)
        return NULL;
    cpu->mem = mem;
    cpu->icache = mem->icache;
    cpu->index = index;
    cpu->tlb = tlb_create();
    cpu->optab = optab_create();
    cpu->fetch_cache = calloc(FETCH_CACHE_SIZE, sizeof(struct fetch_slot));
    cpu->tsc_per_insn = 1;
    cpu->log = stderr;
    if (!cpu->tlb || !cpu->optab || !cpu->fetch_cache) {
        cpu_destroy(cpu);
        return NULL;
    }
    cpu_reset(cpu);
    return cpu;
}

void cpu_destroy(struct cpu *cpu)
{
    if (!cpu)
        return;
    free(cpu->tlb);
    free(cpu->optab);
    free(cpu->fetch_cache);
    free(cpu);
}

void cpu_state_restored(struct cpu *cpu)
{
    cpu->tlb_gen++; /* the fetch cache is valid only within one generation */
    icache_flush(cpu->icache);
    cpu_update_mode(cpu);
    cpu_dr7_changed(cpu);
    cpu->rs = NULL;
    cpu->emul = NULL;
    cpu->emul_opaque = NULL;
}

/* Power-on state (SDM 9.1.1, Table 9-1). */
void cpu_reset(struct cpu *cpu)
{
    memset(cpu->regs, 0, sizeof(cpu->regs));
    cpu->regs[R_RDX] = 0x600; /* family 6 stepping 0 (CPUID model table agrees) */
    cpu->rip = 0xfff0;
    cpu->rflags = 2;
    cpu->lf.op = LF_NONE;
    for (int i = 0; i < NR_SEGS; i++) {
        cpu->seg[i] = (struct segment){.sel = 0, .base = 0, .limit = 0xffff, .ar = 0x93};
    }
    cpu->seg[S_CS] =
        (struct segment){.sel = 0xf000, .base = 0xffff0000ull, .limit = 0xffff, .ar = 0x9b};
    cpu->seg[S_LDTR].ar = 0x82;
    cpu->seg[S_TR].ar = 0x8b;
    cpu->gdtr = (struct dtable){0, 0xffff};
    cpu->idtr = (struct dtable){0, 0xffff};
    cpu->cr0 = 0x60000010;
    cpu->cr2 = cpu->cr3 = cpu->cr4 = cpu->cr8 = 0;
    cpu->xcr0 = 1;
    memset(cpu->dr, 0, sizeof(cpu->dr));
    cpu->dr[6] = 0xffff0ff0;
    cpu->dr[7] = 0x400;
    cpu_dr7_changed(cpu);
    cpu->efer = 0;
    cpu->star = cpu->lstar = cpu->cstar = cpu->fmask = cpu->kernel_gs_base = 0;
    cpu->sysenter_cs = cpu->sysenter_esp = cpu->sysenter_eip = 0;
    cpu->pat = 0x0007040600070406ull;
    /* the general-purpose counters' enable bits are set at reset (SDM
     * Vol. 3B 20.2.2, IA32_PERF_GLOBAL_CTRL) */
    cpu->perf_global_ctrl = 3;
    cpu->xss = cpu->pasid = 0;
    cpu->tsc_aux = 0;
    cpu->misc_enable = 1; /* fast strings */
    cpu->apic_base = 0xfee00000ull | (1u << 11) | (cpu->index == 0 ? (1u << 8) : 0);
    memset(&cpu->fpu, 0, sizeof(cpu->fpu));
    cpu->fpu.fcw = 0x37f;
    cpu->fpu.mxcsr = 0x1f80;
    cpu->a20_enabled = true;
    cpu->interruptibility = 0;
    cpu->activity = ACTIVITY_ACTIVE;
    cpu->cpl = 0;
    cpu->entry_event.info = 0;
    cpu->ple_first = UINT64_MAX;
    cpu->rng_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)cpu->index;
    if (cpu->tlb)
        tlb_flush_all(cpu, true);
    cpu_update_mode(cpu);
}

uint64_t cpu_read_tsc(const struct cpu *cpu)
{
    uint64_t tsc = cpu->icount * cpu->tsc_per_insn + cpu->tsc_base;
    /* TSC scaling then offsetting (SDM 26.3, formats: multiplier with 48
     * fractional bits) */
    if ((cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) &&
        (cpu->ctl.proc2 & PROC2_USE_TSC_SCALING))
        tsc = (uint64_t)(((unsigned __int128)tsc * cpu->ctl.tsc_multiplier) >> 48);
    if (cpu->ctl.proc & PROC_USE_TSC_OFFSETTING)
        tsc += cpu->ctl.tsc_offset;
    return tsc;
}

void cpu_set_rflags(struct cpu *cpu, uint64_t v)
{
    cpu->lf.op = LF_NONE;
    cpu->rflags = (v & 0x3f7fd7ull) | 2;
}

void cpu_skip_instruction(struct cpu *cpu)
{
    uint64_t rip = cpu->rip + cpu->exit.instr_len;
    if (!cpu_long64(cpu))
        rip &= cpu->seg[S_CS].ar & 0x4000 ? 0xffffffffull : 0xffffull;
    cpu->rip = rip;
    cpu->interruptibility &= ~(INTR_STATE_STI | INTR_STATE_MOV_SS);
}

/* ---- faults and exits ---- */

_Noreturn void raise_exception(struct cpu *cpu, int vector, uint32_t error_code)
{
    struct cpu_run_state_ext *x = (struct cpu_run_state_ext *)cpu->rs;
    x->fault_vec = vector;
    x->fault_err = error_code;
    x->fault_has_err = true;
    longjmp(x->rs.jb, JMP_FAULT);
}

_Noreturn void raise_exception_noerr(struct cpu *cpu, int vector)
{
    struct cpu_run_state_ext *x = (struct cpu_run_state_ext *)cpu->rs;
    x->fault_vec = vector;
    x->fault_err = 0;
    x->fault_has_err = false;
    longjmp(x->rs.jb, JMP_FAULT);
}

_Noreturn void vm_exit(struct cpu *cpu, uint32_t reason, uint64_t qual)
{
    struct cpu_run_state *rs = cpu->rs;
    cpu->exit.reason = reason;
    cpu->exit.qualification = qual;
    if (rs->in_delivery) {
        /* The exit interrupted event delivery (SDM 28.2.4): the event is
         * reported in the IDT-vectoring information for L0 to re-inject. */
        cpu->exit.idt_vectoring_info = rs->delivering_info;
        cpu->exit.idt_vectoring_error = rs->delivering_err;
    }
    longjmp(rs->jb, JMP_EXIT);
}

_Noreturn void exit_instruction(struct cpu *cpu, uint32_t reason, uint64_t qual, uint32_t info)
{
    cpu->exit.instr_len = cpu->rs->in ? cpu->rs->in->len : 0;
    cpu->exit.instr_info = info;
    vm_exit(cpu, reason, qual);
}

/* Exception classes for double-fault detection (SDM 6.15, Table 6-5). */
static int exc_class(int vec)
{
    switch (vec) {
    case EXC_DE:
    case EXC_TS:
    case EXC_NP:
    case EXC_SS:
    case EXC_GP:
        return 1; /* contributory */
    case EXC_PF:
        return 2;
    case EXC_DF:
        return 3;
    default:
        return 0; /* benign */
    }
}

static bool exc_has_error_code(int vec)
{
    return vec == EXC_DF || vec == EXC_TS || vec == EXC_NP || vec == EXC_SS || vec == EXC_GP ||
           vec == EXC_PF || vec == EXC_AC;
}

static _Noreturn void triple_fault(struct cpu *cpu)
{
    cpu->activity = ACTIVITY_SHUTDOWN;
    cpu->rs->in_delivery = false;
    cpu->exit.idt_vectoring_info = 0;
    vm_exit(cpu, EXIT_REASON_TRIPLE_FAULT, 0);
}

void deliver_event_internal(struct cpu *cpu, int vector, int type, bool has_error, uint32_t error,
                            uint64_t next_rip);

/* Delivers a fault raised while executing or while delivering another
 * event, applying the double-fault rules. Never returns normally: it
 * delivers and the loop continues, or it exits. */
static void handle_fault(struct cpu *cpu, int vec, bool has_err, uint32_t err)
{
    struct cpu_run_state *rs = cpu->rs;
    rs->prev_info = 0;
    rs->prev_err = 0;
    if (rs->in_delivery) {
        int first = rs->delivering_vec;
        int c1 = exc_class(first), c2 = exc_class(vec);
        bool first_is_exc = ((rs->delivering_info >> 8) & 7) == INTR_TYPE_HW_EXCEPTION;
        if (first_is_exc && c1 == 3) {
            triple_fault(cpu);
        }
        /* the interrupted event is reported if the new one exits (28.2.4) */
        rs->prev_info = rs->delivering_info;
        rs->prev_err = rs->delivering_err;
        if (first_is_exc && ((c1 == 1 && c2 == 1) || (c1 == 2 && (c2 == 1 || c2 == 2)))) {
            if (vec == EXC_PF)
                cpu->cr2 = rs->pf_addr; /* the #PF was detected before it became #DF */
            vec = EXC_DF;
            has_err = true;
            err = 0;
        }
        rs->in_delivery = false;
    }
    if (cpu->log_flags & CPU_LOG_INT)
        fprintf(cpu->log, "cpu%d: exception %d err=%#x rip=%#llx\n", cpu->index, vec,
                has_err ? err : 0, (unsigned long long)rs->insn_rip);
    (void)exc_has_error_code;
    deliver_event_internal(cpu, vec, INTR_TYPE_HW_EXCEPTION, has_err, err, cpu->rip);
}

/* The exception bitmap (SDM 25.6.3): bit v makes exception v exit; for #PF
 * the bit's meaning is inverted when (error code & mask) != match. */
static bool exception_intercepted(const struct cpu *cpu, int vec, uint32_t err)
{
    bool hit = (cpu->ctl.exception_bitmap >> vec) & 1;
    if (vec == EXC_PF && (err & cpu->ctl.pfec_mask) != cpu->ctl.pfec_match)
        hit = !hit;
    return hit;
}

/* VM exit for an exception or NMI (SDM 28.2.1, 28.2.2): the exception is
 * not delivered; CR2 and DR6 are not written; the qualification carries
 * the #PF linear address or the #DB conditions. */
static _Noreturn void exception_exit(struct cpu *cpu, int vec, int type, bool has_err, uint32_t err)
{
    struct cpu_run_state *rs = cpu->rs;
    uint64_t qual = 0;
    if (vec == EXC_PF && type == INTR_TYPE_HW_EXCEPTION)
        qual = rs->pf_addr;
    else if (vec == EXC_DB && type == INTR_TYPE_HW_EXCEPTION)
        qual = rs->pending_dr6;
    cpu->exit.intr_info =
        INTR_INFO_VALID | ((uint32_t)type << 8) | (uint32_t)vec | (has_err ? INTR_INFO_ERRCODE : 0);
    cpu->exit.intr_error = has_err ? err : 0;
    cpu->exit.idt_vectoring_info = rs->prev_info;
    cpu->exit.idt_vectoring_error = rs->prev_err;
    if (type == INTR_TYPE_SW_EXCEPTION || type == INTR_TYPE_PRIV_SW_EXCEPTION)
        cpu->exit.instr_len = rs->in ? rs->in->len : 0;
    rs->in_delivery = false;
    rs->pending_dr6 = 0;
    vm_exit(cpu, EXIT_REASON_EXCEPTION_OR_NMI, qual);
}

/* ---- event delivery (SDM 6.12, 6.14) ---- */

static uint64_t read_tss_stack(struct cpu *cpu, int cpl_or_ist, bool ist, uint16_t *ss_out,
                               uint32_t ext)
{
    struct segment *tr = &cpu->seg[S_TR];
    uint32_t type = tr->ar & 0xf;
    if (cpu_in_lma(cpu)) {
        uint32_t off = ist ? 36 + (cpl_or_ist - 1) * 8 : 4 + cpl_or_ist * 8;
        if (off + 7 > tr->limit)
            raise_exception(cpu, EXC_TS, (tr->sel & 0xfffc) | ext);
        *ss_out = 0;
        return lin_read(cpu, tr->base + off, 8, true);
    }
    if (type == 9 || type == 11) { /* 32-bit TSS */
        uint32_t off = 4 + cpl_or_ist * 8;
        if (off + 5 > tr->limit)
            raise_exception(cpu, EXC_TS, (tr->sel & 0xfffc) | ext);
        *ss_out = (uint16_t)lin_read(cpu, tr->base + off + 4, 2, true);
        return lin_read(cpu, tr->base + off, 4, true);
    }
    uint32_t off = 2 + cpl_or_ist * 4; /* 16-bit TSS */
    if (off + 3 > tr->limit)
        raise_exception(cpu, EXC_TS, (tr->sel & 0xfffc) | ext);
    *ss_out = (uint16_t)lin_read(cpu, tr->base + off + 2, 2, true);
    return lin_read(cpu, tr->base + off, 2, true);
}

static void deliver_real(struct cpu *cpu, int vector, uint64_t ret_ip)
{
    /* SDM 20.1.4: IVT entries are 4 bytes; the IDTR limit applies. */
    if ((uint32_t)vector * 4 + 3 > cpu->idtr.limit)
        raise_exception(cpu, EXC_GP, vector * 8 + 2);
    uint64_t ent = lin_read(cpu, cpu->idtr.base + vector * 4, 4, true);
    uint64_t fl = flags_materialize(cpu);
    push(cpu, 2, fl);
    push(cpu, 2, cpu->seg[S_CS].sel);
    push(cpu, 2, ret_ip);
    load_seg_real(cpu, S_CS, (uint16_t)(ent >> 16));
    cpu->rip = ent & 0xffff;
    cpu->rflags &= ~(FL_IF | FL_TF | FL_AC | FL_RF);
}

static void deliver_protected(struct cpu *cpu, int vector, int type, bool has_error, uint32_t error,
                              uint64_t ret_ip, uint64_t image_or)
{
    bool lma = cpu_in_lma(cpu);
    bool soft = type == INTR_TYPE_SW_INTR || type == INTR_TYPE_SW_EXCEPTION ||
                type == INTR_TYPE_PRIV_SW_EXCEPTION;
    uint32_t ext = (type == INTR_TYPE_SW_INTR || type == INTR_TYPE_SW_EXCEPTION) ? 0 : 1;
    uint32_t idt_err = vector * 8 + 2 + ext;
    int gsize = lma ? 16 : 8;
    if ((uint32_t)vector * gsize + gsize - 1 > cpu->idtr.limit)
        raise_exception(cpu, EXC_GP, idt_err);
    uint64_t g0 = lin_read(cpu, cpu->idtr.base + vector * gsize, 8, true);
    uint64_t g1 = lma ? lin_read(cpu, cpu->idtr.base + vector * gsize + 8, 8, true) : 0;
    int gtype = (g0 >> 40) & 0xf;
    int gdpl = (g0 >> 45) & 3;
    bool gp = (g0 >> 47) & 1;
    bool valid_type = lma ? (gtype == 14 || gtype == 15)
                          : (gtype == 5 || gtype == 6 || gtype == 7 || gtype == 14 || gtype == 15);
    if (!valid_type)
        raise_exception(cpu, EXC_GP, idt_err);
    /* software INT n / INT3 / INTO check the gate DPL (SDM 6.12.1.1) */
    if (soft && type != INTR_TYPE_PRIV_SW_EXCEPTION && gdpl < cpu->cpl)
        raise_exception(cpu, EXC_GP, idt_err);
    if (!gp)
        raise_exception(cpu, EXC_NP, idt_err);
    if (gtype == 5) {
        /* Task gate: task switches exit unconditionally in VMX non-root
         * operation (SDM 26.1.2). Qualification: source 3 = IDT task gate. */
        cpu->exit.instr_len = 0;
        vm_exit(cpu, EXIT_REASON_TASK_SWITCH, ((uint64_t)(g0 >> 16) & 0xffff) | (3ull << 30));
    }
    uint16_t sel = (g0 >> 16) & 0xffff;
    uint64_t target = (g0 & 0xffff) | ((g0 >> 32) & 0xffff0000ull);
    if (lma)
        target |= g1 << 32;
    bool gate32 = gtype >= 14;
    int ist = lma ? (int)((g0 >> 32) & 7) : 0;
    bool trap = gtype == 7 || gtype == 15;

    if ((sel & 0xfffc) == 0)
        raise_exception(cpu, EXC_GP, ext);
    uint64_t cd;
    read_descriptor(cpu, sel, &cd, EXC_GP);
    uint32_t car = desc_to_ar(cd);
    int cdpl = (car >> 5) & 3;
    if (!(car & 0x10) || !(car & 0x8) || cdpl > cpu->cpl)
        raise_exception(cpu, EXC_GP, (sel & 0xfffc) | ext);
    if (!(car & 0x80))
        raise_exception(cpu, EXC_NP, (sel & 0xfffc) | ext);
    if (lma && (!(car & 0x2000) || (car & 0x4000)))
        raise_exception(cpu, EXC_GP, (sel & 0xfffc) | ext);
    bool conforming = car & 0x4;
    int new_cpl = conforming ? cpu->cpl : cdpl;
    if (cpu->rflags & FL_VM)
        raise_exception(cpu, EXC_GP, (sel & 0xfffc) | ext); /* virtual-8086 not supported */

    uint64_t fl = flags_materialize(cpu) | image_or;
    uint16_t old_ss = cpu->seg[S_SS].sel;
    uint64_t old_sp = cpu->regs[R_RSP];
    uint16_t old_cs = cpu->seg[S_CS].sel;

    if (lma) {
        uint64_t rsp;
        uint16_t nss = 0;
        if (ist)
            rsp = read_tss_stack(cpu, ist, true, &nss, ext);
        else if (new_cpl < cpu->cpl)
            rsp = read_tss_stack(cpu, new_cpl, false, &nss, ext);
        else
            rsp = old_sp;
        rsp &= ~0xfull; /* 64-bit delivery aligns the stack (SDM 6.14.2) */
        uint64_t frame[6];
        int n = 0;
        if (has_error)
            frame[n++] = error;
        frame[n++] = ret_ip;
        frame[n++] = old_cs;
        frame[n++] = fl;
        frame[n++] = old_sp;
        frame[n++] = old_ss;
        /* check the whole frame is writable before writing (all-or-nothing) */
        uint64_t top = rsp - n * 8;
        if ((uint64_t)((int64_t)(top << 16) >> 16) != top)
            raise_exception(cpu, EXC_SS, ext);
        for (int i = 0; i < n; i++)
            mmu_translate(cpu, top + i * 8, ACC_WRITE, new_cpl == 3);
        for (int i = 0; i < n; i++)
            lin_write(cpu, top + i * 8, 8, frame[i], new_cpl < 3);
        if (new_cpl < cpu->cpl) {
            set_seg_null(cpu, S_SS, new_cpl);
        }
        load_seg_desc(cpu, S_CS, (sel & 0xfffc) | new_cpl, cd, 0);
        cpu->cpl = new_cpl;
        cpu->regs[R_RSP] = top;
        cpu->rip = target;
    } else {
        /* legacy protected mode: 16- or 32-bit gates */
        int psize = gate32 ? 4 : 2;
        uint64_t ss_base, ss_limit_chk_sp;
        uint16_t nss = old_ss;
        uint64_t nsp;
        uint64_t ssd = 0;
        bool pl_change = new_cpl < cpu->cpl;
        if (pl_change) {
            nsp = read_tss_stack(cpu, new_cpl, false, &nss, ext);
            if ((nss & 0xfffc) == 0)
                raise_exception(cpu, EXC_TS, ext);
            read_descriptor(cpu, nss, &ssd, EXC_TS);
            uint32_t sar = desc_to_ar(ssd);
            if ((nss & 3) != new_cpl || (int)((sar >> 5) & 3) != new_cpl || !(sar & 0x10) ||
                (sar & 0x8) || !(sar & 0x2))
                raise_exception(cpu, EXC_TS, (nss & 0xfffc) | ext);
            if (!(sar & 0x80))
                raise_exception(cpu, EXC_SS, (nss & 0xfffc) | ext);
            ss_base = desc_base(ssd);
            if (!(sar & 0x4000))
                nsp &= 0xffff;
        } else {
            nsp = old_sp & ((cpu->seg[S_SS].ar & 0x4000) ? 0xffffffffull : 0xffffull);
            ss_base = cpu->seg[S_SS].base;
        }
        uint64_t frame[6];
        int n = 0;
        if (has_error)
            frame[n++] = error;
        frame[n++] = ret_ip;
        frame[n++] = old_cs;
        frame[n++] = fl;
        if (pl_change) {
            frame[n++] = old_sp;
            frame[n++] = old_ss;
        }
        ss_limit_chk_sp = nsp - (uint64_t)n * psize;
        uint64_t ssmask = (pl_change ? (desc_to_ar(ssd) & 0x4000) : (cpu->seg[S_SS].ar & 0x4000))
                              ? 0xffffffffull
                              : 0xffffull;
        (void)ss_limit_chk_sp;
        for (int i = 0; i < n; i++) {
            uint64_t la = (ss_base + ((nsp - (uint64_t)(n - i) * psize) & ssmask)) & 0xffffffffull;
            mmu_translate(cpu, la, ACC_WRITE, new_cpl == 3);
        }
        for (int i = 0; i < n; i++) {
            uint64_t la = (ss_base + ((nsp - (uint64_t)(n - i) * psize) & ssmask)) & 0xffffffffull;
            lin_write(cpu, la, psize, frame[i], new_cpl < 3);
        }
        if (pl_change)
            load_seg_desc(cpu, S_SS, nss, ssd, 0);
        load_seg_desc(cpu, S_CS, (sel & 0xfffc) | new_cpl, cd, 0);
        cpu->cpl = new_cpl;
        uint64_t sp = (nsp - (uint64_t)n * psize) & ssmask;
        if (ssmask == 0xffff)
            cpu->regs[R_RSP] = (cpu->regs[R_RSP] & ~0xffffull) | sp;
        else
            cpu->regs[R_RSP] = sp;
        cpu->rip = gate32 ? (target & 0xffffffffull) : (target & 0xffff);
    }
    cpu->rflags &= ~(FL_TF | FL_NT | FL_VM | FL_RF);
    if (!trap)
        cpu->rflags &= ~FL_IF;
    cpu_update_mode(cpu);
}

void deliver_event_internal(struct cpu *cpu, int vector, int type, bool has_error, uint32_t error,
                            uint64_t next_rip)
{
    struct cpu_run_state *rs = cpu->rs;
    uint32_t info = INTR_INFO_VALID | ((uint32_t)type << 8) | (uint32_t)vector |
                    (has_error ? INTR_INFO_ERRCODE : 0);

    /* VMX (SDM 26.2): exceptions in the exception bitmap and NMIs with "NMI
     * exiting" cause VM exits instead of delivery, except for events
     * injected by VM entry (SDM 27.6.1) */
    bool exc = type == INTR_TYPE_HW_EXCEPTION || type == INTR_TYPE_SW_EXCEPTION ||
               type == INTR_TYPE_PRIV_SW_EXCEPTION;
    if (!rs->injecting) {
        if (exc && exception_intercepted(cpu, vector, error))
            exception_exit(cpu, vector, type, has_error, error);
        if (type == INTR_TYPE_NMI && (cpu->ctl.pin & PIN_NMI_EXITING))
            exception_exit(cpu, EXC_NMI, INTR_TYPE_NMI, false, 0);
    }
    rs->injecting = false;
    rs->prev_info = 0;
    if (type == INTR_TYPE_HW_EXCEPTION && vector == EXC_PF && rs->pf_addr_valid)
        cpu->cr2 = rs->pf_addr;
    rs->pf_addr_valid = false;
    if (type == INTR_TYPE_HW_EXCEPTION && vector == EXC_DB && rs->pending_dr6) {
        /* B0-B3 report this exception's breakpoints; BD/BS accumulate */
        uint64_t bn = rs->pending_dr6 & 0xf;
        cpu->dr[6] = (bn ? (cpu->dr[6] & ~0xfull) : cpu->dr[6]) | rs->pending_dr6;
        rs->pending_dr6 = 0;
    }
    rs->in_delivery = true;
    rs->delivering_vec = vector;
    rs->delivering_info = info;
    rs->delivering_err = error;
    if (vector == EXC_DB && type == INTR_TYPE_HW_EXCEPTION)
        cpu->dr[7] &= ~0x2000ull; /* GD cleared on #DB delivery (SDM 18.2.4) */
    /* Fault-class exceptions other than instruction-breakpoint #DB save
     * RFLAGS with RF = 1 so that the faulting instruction restarts without
     * re-triggering an instruction breakpoint (SDM 18.3.1.1). */
    uint64_t image_or = 0;
    if (type == INTR_TYPE_HW_EXCEPTION && vector != EXC_DB && vector != EXC_BP &&
        vector != EXC_OF && vector != EXC_MC && vector != EXC_DF)
        image_or = FL_RF;
    if (cpu_protected(cpu))
        deliver_protected(cpu, vector, type, has_error, error, next_rip, image_or);
    else
        deliver_real(cpu, vector, next_rip);
    rs->in_delivery = false;
    if (type == INTR_TYPE_NMI)
        cpu->interruptibility |= INTR_STATE_NMI;
    cpu->activity = ACTIVITY_ACTIVE;
}

void deliver_event(struct cpu *cpu, int vector, int type, bool has_error, uint32_t error,
                   uint64_t next_rip)
{
    deliver_event_internal(cpu, vector, type, has_error, error, next_rip);
}

/* ---- the execution loop ---- */

void exec_resolve_handler(struct cpu *cpu, struct insn *in);

/* Fetches and decodes the instruction at RIP (SDM 2.x), through the
 * decoded-instruction cache. */
static inline uint32_t modekey(const struct cpu *cpu)
{
    return (uint32_t)cpu->mode | ((cpu->seg[S_CS].ar & 0x4000) ? 8 : 0);
}

static const struct insn *fetch_decode_slow(struct cpu *cpu, struct insn *scratch);

static inline uint32_t fetch_key(const struct cpu *cpu)
{
    return modekey(cpu) | ((uint32_t)cpu->cpl << 8);
}

static inline const struct insn *fetch_decode(struct cpu *cpu, struct insn *scratch)
{
    uint64_t rip = cpu->rip;
    const struct segment *cs = &cpu->seg[S_CS];
    bool l64 = cpu_long64(cpu);
    uint64_t la = l64 ? rip : ((cs->base + rip) & 0xffffffffull);
    struct fetch_slot *f = &cpu->fetch_cache[(la ^ (la >> 10)) & (FETCH_CACHE_SIZE - 1)];
    if (__builtin_expect(f->la == la && f->gen == cpu->tlb_gen + cpu->mem->code_gen &&
                             f->key == fetch_key(cpu),
                         1)) {
        if (l64 || rip + f->in->len - 1 <= cs->limit)
            return f->in;
    }
    const struct insn *in = fetch_decode_slow(cpu, scratch);
    if (in != scratch) {
        f->la = la;
        f->gen = cpu->tlb_gen + cpu->mem->code_gen;
        f->key = fetch_key(cpu);
        f->in = in;
    }
    return in;
}

static const struct insn *fetch_decode_slow(struct cpu *cpu, struct insn *scratch)
{
    uint64_t rip = cpu->rip;
    struct segment *cs = &cpu->seg[S_CS];
    uint64_t la = cpu_long64(cpu) ? rip : ((cs->base + rip) & 0xffffffffull);
    if (!cpu_long64(cpu) && rip > cs->limit)
        raise_exception(cpu, EXC_GP, 0);
    if (cpu_long64(cpu) && (uint64_t)((int64_t)(la << 16) >> 16) != la)
        raise_exception(cpu, EXC_GP, 0);
    uint64_t pa;
    uint8_t *p = mmu_fetch_ptr(cpu, la, &pa);
    uint32_t mk = modekey(cpu);
    const struct insn *ci = icache_lookup(cpu->icache, pa, mk);
    if (ci) {
        if (!cpu_long64(cpu) && rip + ci->len - 1 > cs->limit)
            raise_exception(cpu, EXC_GP, 0);
        return ci;
    }
    uint8_t buf[16];
    size_t avail = 0x1000 - (la & 0xfff);
    if (avail > 15)
        avail = 15;
    memcpy(buf, p, avail);
    int r = decode_insn(buf, avail, cpu->mode, cs->ar & 0x4000, scratch);
    bool crossed = false;
    if (r == -1000) {
        /* the instruction continues on the next page */
        uint64_t pa2;
        uint8_t *p2 =
            mmu_fetch_ptr(cpu, (la + avail) & (cpu_long64(cpu) ? ~0ull : 0xffffffffull), &pa2);
        memcpy(buf + avail, p2, 15 - avail);
        r = decode_insn(buf, 15, cpu->mode, cs->ar & 0x4000, scratch);
        crossed = true;
    }
    if (r == -EXC_GP || r == -1000)
        raise_exception(cpu, EXC_GP, 0);
    if (r == -EXC_UD) {
        if (cpu->log_flags & CPU_LOG_UNIMP)
            fprintf(cpu->log, "cpu%d: invalid encoding at %#llx: %02x %02x %02x %02x\n", cpu->index,
                    (unsigned long long)rip, buf[0], buf[1], buf[2], buf[3]);
        raise_ud(cpu);
    }
    if (!cpu_long64(cpu) && rip + scratch->len - 1 > cs->limit)
        raise_exception(cpu, EXC_GP, 0);
    exec_resolve_handler(cpu, scratch);
    if (!crossed) {
        struct insn *slot = icache_insert(cpu->icache, pa, mk);
        if (slot) {
            *slot = *scratch;
            return slot;
        }
    }
    return scratch;
}

/* Monitor trap flag (SDM 26.5.2): a VM exit (reason 37) after every
 * instruction that completes, once blocking by STI/MOV SS has been
 * accounted for (the exit reports the state after the instruction). */
static _Noreturn void mtf_after_instruction(struct cpu *cpu)
{
    vm_exit(cpu, EXIT_REASON_MONITOR_TRAP_FLAG, 0);
}

/* Instruction breakpoints (SDM 18.2.4, 18.3.1.1): a fault before the
 * instruction executes, unless RFLAGS.RF is set. */
static void check_instruction_breakpoints(struct cpu *cpu)
{
    if (cpu->rflags & FL_RF)
        return;
    uint64_t la = cpu_long64(cpu) ? cpu->rip : ((cpu->seg[S_CS].base + cpu->rip) & 0xffffffffull);
    uint32_t hits = 0;
    uint64_t dr7 = cpu->dr[7];
    for (int i = 0; i < 4; i++) {
        bool enabled = (dr7 >> (i * 2)) & 3;
        uint32_t rw = (dr7 >> (16 + i * 4)) & 3;
        if (enabled && rw == 0 && cpu->dr[i] == la)
            hits |= 1u << i;
    }
    if (hits) {
        cpu->rs->pending_dr6 = hits;
        raise_exception_noerr(cpu, EXC_DB);
    }
}

/* Delivers a pending single-step trap etc. before the next instruction. */
static void inject_entry_event(struct cpu *cpu)
{
    struct cpu_event *ev = &cpu->entry_event;
    if (!(ev->info & INTR_INFO_VALID))
        return;
    uint32_t info = ev->info;
    ev->info = 0;
    int type = (info >> 8) & 7;
    int vec = info & 0xff;
    uint64_t next = cpu->rip;
    if (type == INTR_TYPE_SW_INTR || type == INTR_TYPE_SW_EXCEPTION ||
        type == INTR_TYPE_PRIV_SW_EXCEPTION)
        next = cpu->rip + ev->instr_len;
    cpu->exit.idt_vectoring_info = 0;
    cpu->rs->injecting = true;
    deliver_event_internal(cpu, vec, type, info & INTR_INFO_ERRCODE, ev->error_code, next);
}

static bool interrupt_window_open(const struct cpu *cpu)
{
    return (cpu->rflags & FL_IF) && !(cpu->interruptibility & (INTR_STATE_STI | INTR_STATE_MOV_SS));
}

uint32_t cpu_run(struct cpu *cpu, uint64_t budget)
{
    struct cpu_run_state_ext x;
    memset(&x, 0, sizeof(x));
    struct cpu_run_state *rs = &x.rs;
    cpu->rs = rs;
    memset(&cpu->exit, 0, sizeof(cpu->exit));
    if ((cpu->ctl.proc & PROC_MONITOR_TRAP_FLAG) && budget >= 1) {
        budget = 1;
        rs->mtf_slice = true;
    }
    cpu->slice_end = rs->slice_end = cpu->icount + budget;
    if (cpu->vintr_pending) /* recognized at VM entry (SDM 27.3.2.5) */
        cpu_kick(cpu);
    struct insn scratch;

    int j = setjmp(rs->jb);
    if (j == JMP_EXIT) {
        cpu->rs = NULL;
        return cpu->exit.reason;
    }
    if (j == JMP_FAULT) {
        /* the faulting instruction did not complete: RIP is still its own */
        rs->db_hits = 0;
        rs->trap_exit_reason = 0;
        handle_fault(cpu, x.fault_vec, x.fault_has_err, x.fault_err);
    } else {
        /* VM entry: inject the event L0 asked for (SDM 27.6); with the
         * monitor trap flag an MTF exit follows the injection at once,
         * before any instruction (SDM 26.7.2; except for software
         * interrupts and exceptions, which count as the instruction) */
        bool injected = cpu->entry_event.info & INTR_INFO_VALID;
        uint32_t itype = (cpu->entry_event.info >> 8) & 7;
        inject_entry_event(cpu);
        if (cpu->tpr_exit_at_entry) {
            cpu->tpr_exit_at_entry = false;
            vm_exit(cpu, EXIT_REASON_TPR_BELOW_THRESHOLD, 0);
        }
        if (injected && rs->mtf_slice && itype != INTR_TYPE_SW_INTR &&
            itype != INTR_TYPE_SW_EXCEPTION && itype != INTR_TYPE_PRIV_SW_EXCEPTION)
            mtf_after_instruction(cpu);
    }

    /* Controls and events that need a check at every instruction boundary;
     * they do not change while the slice runs except through the guest
     * (IF, blocking), which the checks below read each time. */
    bool boundary_checks =
        (cpu->ctl.proc & (PROC_INTERRUPT_WINDOW_EXITING | PROC_NMI_WINDOW_EXITING)) ||
        cpu->nmi_pending || cpu->init_pending || cpu->sipi_pending ||
        (cpu->ext_intr_pending && (cpu->ctl.pin & PIN_EXTERNAL_INTERRUPT_EXITING));
    for (;;) {
        /* Event and exit checks at the instruction boundary, in the priority
         * order of SDM 26.7 / Table 6-2: the preemption timer, NMI-window
         * exiting, NMIs, external interrupts, interrupt-window exiting,
         * virtual interrupts. cpu_kick() lowers cpu->slice_end to get here
         * at the next boundary; the real end of the slice is rs->slice_end. */
        if (__builtin_expect(cpu->icount >= cpu->slice_end || boundary_checks ||
                                 cpu->activity != ACTIVITY_ACTIVE,
                             0)) {
            cpu->slice_end = rs->slice_end;
            /* trap-like VM exits of APIC virtualization (TPR below
             * threshold, EOI-induced, APIC-write; SDM 30.1.2-30.1.4,
             * 30.4.3.2) follow the completed instruction */
            if (rs->trap_exit_reason) {
                uint32_t r = rs->trap_exit_reason;
                rs->trap_exit_reason = 0;
                vm_exit(cpu, r, rs->trap_exit_qual);
            }
            if (cpu->icount >= cpu->slice_end) {
                /* with the monitor trap flag the slice is one instruction
                 * (SDM 26.5.2: an MTF VM exit after each instruction) */
                if (rs->mtf_slice)
                    mtf_after_instruction(cpu);
                vm_exit(cpu, EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED, 0);
            }
            /* INIT in VMX non-root operation always exits (SDM 26.2); a
             * SIPI exits only in the wait-for-SIPI state, with its vector
             * as the qualification */
            if (cpu->init_pending) {
                cpu->init_pending = false;
                vm_exit(cpu, EXIT_REASON_INIT_SIGNAL, 0);
            }
            if (cpu->sipi_pending && cpu->activity == ACTIVITY_WAIT_SIPI) {
                cpu->sipi_pending = false;
                vm_exit(cpu, EXIT_REASON_SIPI, cpu->sipi_vector);
            }
            if ((cpu->ctl.proc & PROC_NMI_WINDOW_EXITING) &&
                !(cpu->interruptibility & (INTR_STATE_NMI | INTR_STATE_MOV_SS)))
                vm_exit(cpu, EXIT_REASON_NMI_WINDOW, 0);
            if (cpu->nmi_pending) {
                if (cpu->ctl.pin & PIN_NMI_EXITING) {
                    cpu->nmi_pending = false;
                    cpu->exit.intr_info = INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | EXC_NMI;
                    vm_exit(cpu, EXIT_REASON_EXCEPTION_OR_NMI, 0);
                }
                if (!(cpu->interruptibility & (INTR_STATE_NMI | INTR_STATE_MOV_SS))) {
                    cpu->nmi_pending = false;
                    deliver_event_internal(cpu, EXC_NMI, INTR_TYPE_NMI, false, 0, cpu->rip);
                    continue;
                }
            }
            if (cpu->ext_intr_pending && (cpu->ctl.pin & PIN_EXTERNAL_INTERRUPT_EXITING) &&
                (cpu->ctl.pin & PIN_PROCESS_POSTED_INTERRUPTS) &&
                cpu->ext_intr_vector == cpu->ctl.pi_vector) {
                /* the notification vector with "process posted
                 * interrupts" (SDM 30.6): acknowledged and processed, no
                 * VM exit (VM entry checked that "acknowledge interrupt on
                 * exit" is 1) */
                cpu->ext_intr_pending = false;
                apicv_process_posted(cpu);
            }
            if (cpu->ext_intr_pending && (cpu->ctl.pin & PIN_EXTERNAL_INTERRUPT_EXITING)) {
                /* "acknowledge interrupt on exit": the vector is taken and
                 * reported in the exit interruption information (28.2.2) */
                if (cpu->ctl.exit & EXIT_CTL_ACKNOWLEDGE_INTERRUPT_ON_EXIT) {
                    cpu->ext_intr_pending = false;
                    cpu->exit.intr_info = INTR_INFO_VALID | cpu->ext_intr_vector;
                }
                vm_exit(cpu, EXIT_REASON_EXTERNAL_INTERRUPT, 0);
            }
            if ((cpu->ctl.proc & PROC_INTERRUPT_WINDOW_EXITING) && interrupt_window_open(cpu))
                vm_exit(cpu, EXIT_REASON_INTERRUPT_WINDOW, 0);
            /* a recognized virtual interrupt is delivered when interrupts
             * are allowed and "interrupt-window exiting" is 0 (SDM 30.2.2);
             * it also ends HLT */
            if (cpu->vintr_pending && !(cpu->ctl.proc & PROC_INTERRUPT_WINDOW_EXITING) &&
                interrupt_window_open(cpu) &&
                (cpu->activity == ACTIVITY_ACTIVE || cpu->activity == ACTIVITY_HLT)) {
                apicv_deliver(cpu);
                continue;
            }
            if (cpu->vintr_pending) /* not deliverable yet: look again */
                cpu_kick(cpu);
            if (cpu->activity != ACTIVITY_ACTIVE) {
                /* halted: virtual time passes until the slice ends */
                cpu->icount = rs->slice_end;
                continue;
            }
        }

        rs->insn_rip = cpu->rip;
        rs->in = NULL;
        if (__builtin_expect(cpu->dbg_bp_enabled, 0))
            check_instruction_breakpoints(cpu);
        const struct insn *in = fetch_decode(cpu, &scratch);
        rs->in = in;
        uint64_t nrip = cpu->rip + in->len;
        if (!cpu_long64(cpu))
            nrip &= (cpu->seg[S_CS].ar & 0x4000) ? 0xffffffffull : 0xffffull;
        rs->next_rip = nrip;
        uint32_t shadow = cpu->interruptibility & (INTR_STATE_STI | INTR_STATE_MOV_SS);
        bool tf = cpu->rflags & FL_TF;
        if (__builtin_expect(cpu->log_flags & CPU_LOG_EXEC, 0))
            fprintf(cpu->log, "cpu%d: %#llx len %d op %x/%02x\n", cpu->index,
                    (unsigned long long)cpu->rip, in->len, in->map, in->opcode);
        in->fn(cpu, in);
        cpu->rip = rs->next_rip;
        cpu->icount++;
        if (__builtin_expect(shadow | tf | rs->db_hits | (cpu->rflags & FL_RF), 0)) {
            /* RF is cleared after every instruction that completes, except
             * IRET, which loads it (SDM 18.3.1.1) */
            if (!(in->map == 0 && in->opcode == 0xcf))
                cpu->rflags &= ~FL_RF;
            /* blocking by STI / MOV SS lasts for one instruction (SDM 6.8.3) */
            cpu->interruptibility &= ~shadow;
            /* a trap-like VM exit comes before the instruction's debug
             * traps */
            if (rs->trap_exit_reason) {
                uint32_t r = rs->trap_exit_reason;
                rs->trap_exit_reason = 0;
                rs->db_hits = 0;
                vm_exit(cpu, r, rs->trap_exit_qual);
            }
            uint32_t dr6_bits = rs->db_hits | ((tf && !(shadow & INTR_STATE_MOV_SS)) ? 0x4000 : 0);
            rs->db_hits = 0;
            if (dr6_bits && !(shadow & INTR_STATE_MOV_SS)) {
                /* single-step and data-breakpoint traps after the
                 * instruction (SDM 18.3.1.2, 18.3.1.4) */
                rs->pending_dr6 = dr6_bits;
                deliver_event_internal(cpu, EXC_DB, INTR_TYPE_HW_EXCEPTION, false, 0, cpu->rip);
            }
        }
    }
}

/* Re-executes the instruction at RIP with port I/O and MMIO routed to ops:
 * L0's instruction emulator (BRIEF decision 7). */
uint32_t cpu_emulate_insn(struct cpu *cpu, const struct cpu_emul_ops *ops, void *opaque)
{
    struct cpu_run_state_ext x;
    memset(&x, 0, sizeof(x));
    struct cpu_run_state *rs = &x.rs;
    cpu->rs = rs;
    cpu->emul = ops;
    cpu->emul_opaque = opaque;
    struct insn scratch;
    memset(&cpu->exit, 0, sizeof(cpu->exit));
    uint32_t result = 0;
    int j = setjmp(rs->jb);
    if (j == JMP_EXIT) {
        result = cpu->exit.reason;
        goto out;
    }
    if (j == JMP_FAULT) {
        handle_fault(cpu, x.fault_vec, x.fault_has_err, x.fault_err);
        goto out;
    }
    rs->insn_rip = cpu->rip;
    const struct insn *in = fetch_decode(cpu, &scratch);
    rs->in = in;
    uint64_t nrip = cpu->rip + in->len;
    if (!cpu_long64(cpu))
        nrip &= (cpu->seg[S_CS].ar & 0x4000) ? 0xffffffffull : 0xffffull;
    rs->next_rip = nrip;
    in->fn(cpu, in);
    cpu->rip = rs->next_rip;
    cpu->icount++;
    cpu->interruptibility &= ~(INTR_STATE_STI | INTR_STATE_MOV_SS);
out:
    cpu->emul = NULL;
    cpu->emul_opaque = NULL;
    cpu->rs = NULL;
    return result;
}

/* L0's access to a guest memory operand (the memory operand of a VMX
 * instruction it emulates): segmentation and paging checks exactly as the
 * instruction would perform them, with the current processor state. */
int cpu_access_guest_memory(struct cpu *cpu, int sreg, uint64_t offset, void *buf, int len,
                            bool write, struct cpu_event *fault, uint64_t *fault_cr2)
{
    struct cpu_run_state_ext x;
    memset(&x, 0, sizeof(x));
    struct cpu_run_state *rs = &x.rs;
    struct cpu_run_state *saved = cpu->rs;
    cpu->rs = rs;
    int result = 0;
    int j = setjmp(rs->jb);
    if (j == JMP_EXIT) {
        result = -2; /* not RAM (an EPT violation): the caller decides */
        goto out;
    }
    if (j == JMP_FAULT) {
        fault->info = INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | (uint32_t)x.fault_vec |
                      (x.fault_has_err ? INTR_INFO_ERRCODE : 0);
        fault->error_code = x.fault_err;
        fault->instr_len = 0;
        *fault_cr2 = rs->pf_addr;
        result = -1;
        goto out;
    }
    if (write)
        seg_write_bytes(cpu, sreg, offset, buf, len);
    else
        seg_read_bytes(cpu, sreg, offset, buf, len);
out:
    cpu->rs = saved;
    return result;
}

int cpu_decode_length(const uint8_t *bytes, size_t len, int mode)
{
    struct insn in;
    bool csd = mode == CPU_MODE_PROT32 || mode == CPU_MODE_COMPAT32;
    int r = decode_insn(bytes, len, mode, csd, &in);
    if (r < 0)
        return -1;
    return in.len;
}

void cpu_dump_state(struct cpu *cpu, FILE *out)
{
    static const char *names[16] = {"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
                                    "R8",  "R9",  "R10", "R11", "R12", "R13", "R14", "R15"};
    static const char *snames[NR_SEGS] = {"ES", "CS", "SS", "DS", "FS", "GS", "LDT", "TR"};
    uint64_t fl = flags_materialize(cpu);
    fprintf(out, "CPU#%d\n", cpu->index);
    for (int i = 0; i < 16; i++)
        fprintf(out, "%-3s=%016llx%s", names[i], (unsigned long long)cpu->regs[i],
                (i % 4 == 3) ? "\n" : " ");
    fprintf(out, "RIP=%016llx RFL=%08llx CPL=%d mode=%d activity=%u\n",
            (unsigned long long)cpu->rip, (unsigned long long)fl, cpu->cpl, cpu->mode,
            cpu->activity);
    for (int i = 0; i < NR_SEGS; i++)
        fprintf(out, "%-3s=%04x %016llx %08x %05x\n", snames[i], cpu->seg[i].sel,
                (unsigned long long)cpu->seg[i].base, cpu->seg[i].limit, cpu->seg[i].ar);
    fprintf(out, "GDT=     %016llx %08x\nIDT=     %016llx %08x\n",
            (unsigned long long)cpu->gdtr.base, cpu->gdtr.limit, (unsigned long long)cpu->idtr.base,
            cpu->idtr.limit);
    fprintf(out, "CR0=%08llx CR2=%016llx CR3=%016llx CR4=%08llx\n", (unsigned long long)cpu->cr0,
            (unsigned long long)cpu->cr2, (unsigned long long)cpu->cr3,
            (unsigned long long)cpu->cr4);
    fprintf(out, "EFER=%016llx icount=%llu\n", (unsigned long long)cpu->efer,
            (unsigned long long)cpu->icount);
}
