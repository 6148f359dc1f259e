/* System instructions: segment loads and far transfers, INT/IRET, control
 * and debug registers, descriptor-table instructions, MSRs, SYSCALL/
 * SYSENTER, CPUID/RDTSC/HLT and the instructions that exit unconditionally
 * in VMX non-root operation (SDM Vol. 3C 26.1.2). */
#include "cpu_internal.h"

uint64_t check_code_selector(struct cpu *cpu, uint16_t sel, bool is_return, int *new_cpl);
void load_ldt(struct cpu *cpu, uint16_t sel);
void load_tr(struct cpu *cpu, uint16_t sel);

static void require_cpl0(struct cpu *cpu)
{
    if (cpu->cpl != 0)
        raise_gp0(cpu);
}

static inline bool secondary(const struct cpu *cpu, uint64_t bit)
{
    return (cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) && (cpu->ctl.proc2 & bit);
}

/* ---- HLT, CPUID, RDTSC, MSRs ---- */

static void op_hlt(struct cpu *cpu, const struct insn *in) /* F4 */
{
    require_cpl0(cpu);
    if (cpu->ctl.proc & PROC_HLT_EXITING)
        exit_instruction(cpu, EXIT_REASON_HLT, 0, 0);
    cpu->activity = ACTIVITY_HLT;
}

static void op_cpuid(struct cpu *cpu, const struct insn *in) /* 0F A2: always exits */
{
    exit_instruction(cpu, EXIT_REASON_CPUID, 0, 0);
}

static void op_rdtsc(struct cpu *cpu, const struct insn *in) /* 0F 31 */
{
    if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0)
        raise_gp0(cpu);
    if (cpu->ctl.proc & PROC_RDTSC_EXITING)
        exit_instruction(cpu, EXIT_REASON_RDTSC, 0, 0);
    uint64_t t = cpu_read_tsc(cpu);
    cpu->regs[R_RAX] = t & 0xffffffffull;
    cpu->regs[R_RDX] = t >> 32;
}

static void op_rdtscp(struct cpu *cpu)
{
    if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0)
        raise_gp0(cpu);
    if ((cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) &&
        !(cpu->ctl.proc2 & PROC2_ENABLE_RDTSCP))
        raise_ud(cpu);
    if (cpu->ctl.proc & PROC_RDTSC_EXITING)
        exit_instruction(cpu, EXIT_REASON_RDTSCP, 0, 0);
    uint64_t t = cpu_read_tsc(cpu);
    cpu->regs[R_RAX] = t & 0xffffffffull;
    cpu->regs[R_RDX] = t >> 32;
    cpu->regs[R_RCX] = cpu->tsc_aux & 0xffffffffull;
}

static void op_rdpmc(struct cpu *cpu, const struct insn *in) /* 0F 33 */
{
    if (!(cpu->cr4 & CR4_PCE) && cpu->cpl != 0)
        raise_gp0(cpu);
    if (cpu->ctl.proc & PROC_RDPMC_EXITING)
        exit_instruction(cpu, EXIT_REASON_RDPMC, 0, 0);
    raise_gp0(cpu); /* no performance counters are implemented */
}

static bool canonical(uint64_t v)
{
    return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

bool cpu_pat_valid(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        uint8_t t = (v >> (i * 8)) & 0xff;
        if (t != 0 && t != 1 && t != 4 && t != 5 && t != 6 && t != 7)
            return false;
    }
    return true;
}

bool cpu_msr_read(struct cpu *cpu, uint32_t idx, uint64_t *val)
{
    switch (idx) {
    case MSR_TSC:
        *val = cpu_read_tsc(cpu);
        return true;
    case MSR_TSC_ADJUST:
        *val = cpu->tsc_adjust;
        return true;
    case MSR_SYSENTER_CS:
        *val = cpu->sysenter_cs;
        return true;
    case MSR_SYSENTER_ESP:
        *val = cpu->sysenter_esp;
        return true;
    case MSR_SYSENTER_EIP:
        *val = cpu->sysenter_eip;
        return true;
    case MSR_PAT:
        *val = cpu->pat;
        return true;
    case MSR_PERF_GLOBAL_CTRL:
        *val = cpu->perf_global_ctrl;
        return true;
    case MSR_XSS:
        *val = cpu->xss;
        return true;
    case MSR_PASID:
        *val = cpu->pasid;
        return true;
    case MSR_EFER:
        *val = cpu->efer;
        return true;
    case MSR_STAR:
        *val = cpu->star;
        return true;
    case MSR_LSTAR:
        *val = cpu->lstar;
        return true;
    case MSR_CSTAR:
        *val = cpu->cstar;
        return true;
    case MSR_FMASK:
        *val = cpu->fmask;
        return true;
    case MSR_FS_BASE:
        *val = cpu->seg[S_FS].base;
        return true;
    case MSR_GS_BASE:
        *val = cpu->seg[S_GS].base;
        return true;
    case MSR_KERNEL_GS_BASE:
        *val = cpu->kernel_gs_base;
        return true;
    case MSR_TSC_AUX:
        *val = cpu->tsc_aux;
        return true;
    case MSR_MISC_ENABLE:
        *val = cpu->misc_enable;
        return true;
    case MSR_APIC_BASE:
        *val = cpu->apic_base;
        return true;
    default:
        return false;
    }
}

/* WRMSR semantics without raising: false if the MSR does not exist or the
 * value would #GP (used by VM-entry MSR loading). */
bool cpu_msr_write_checked(struct cpu *cpu, uint32_t idx, uint64_t v)
{
    uint64_t tmp;
    if (!cpu_msr_read(cpu, idx, &tmp))
        return false;
    if (idx == MSR_EFER && ((v & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE)) ||
                            ((cpu->cr0 & CR0_PG) && ((v ^ cpu->efer) & EFER_LME))))
        return false;
    if (idx == MSR_PAT && !cpu_pat_valid(v))
        return false;
    if (idx == MSR_PERF_GLOBAL_CTRL && (v & ~PERF_GLOBAL_CTRL_VALID))
        return false;
    if ((idx == MSR_XSS && (v & ~XSS_SUPPORTED)) || (idx == MSR_PASID && (v & ~PASID_VALID)))
        return false;
    if ((idx == MSR_LSTAR || idx == MSR_CSTAR || idx == MSR_KERNEL_GS_BASE ||
         idx == MSR_SYSENTER_ESP || idx == MSR_SYSENTER_EIP) &&
        !canonical(v))
        return false;
    if (idx == MSR_TSC_AUX && (v >> 32))
        return false;
    if (idx == MSR_APIC_BASE && (v & (0x6ffull | ~PHYS_MASK)))
        return false;
    if (idx == 0x1d9 && v)
        return false;
    return cpu_msr_write(cpu, idx, v);
}

bool cpu_msr_write(struct cpu *cpu, uint32_t idx, uint64_t v)
{
    switch (idx) {
    case MSR_TSC:
        /* writing the TSC moves its base so that it reads v now */
        cpu->tsc_base += v - cpu_read_tsc(cpu);
        return true;
    case MSR_TSC_ADJUST:
        cpu->tsc_base += v - cpu->tsc_adjust;
        cpu->tsc_adjust = v;
        return true;
    case MSR_SYSENTER_CS:
        cpu->sysenter_cs = v & 0xffffffffull;
        return true;
    case MSR_SYSENTER_ESP:
    case MSR_SYSENTER_EIP:
        if (!canonical(v))
            raise_gp0(cpu);
        if (idx == MSR_SYSENTER_ESP)
            cpu->sysenter_esp = v;
        else
            cpu->sysenter_eip = v;
        return true;
    case MSR_PAT:
        if (!cpu_pat_valid(v))
            raise_gp0(cpu);
        cpu->pat = v;
        return true;
    case MSR_PERF_GLOBAL_CTRL:
        if (v & ~PERF_GLOBAL_CTRL_VALID)
            raise_gp0(cpu);
        cpu->perf_global_ctrl = v;
        return true;
    case MSR_XSS: /* only the supervisor state components implemented */
        if (v & ~XSS_SUPPORTED)
            raise_gp0(cpu);
        cpu->xss = v;
        return true;
    case MSR_PASID:
        if (v & ~PASID_VALID)
            raise_gp0(cpu);
        cpu->pasid = v;
        return true;
    case MSR_EFER: {
        /* SCE, LME, NXE writable; LMA is read-only; LME may not change
         * while paging is on (SDM 9.8.5) */
        uint64_t allowed = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
        if (v & ~allowed)
            raise_gp0(cpu);
        if ((cpu->cr0 & CR0_PG) && ((v ^ cpu->efer) & EFER_LME))
            raise_gp0(cpu);
        uint64_t nv = (v & ~EFER_LMA) | (cpu->efer & EFER_LMA);
        if ((nv ^ cpu->efer) & EFER_NXE)
            tlb_flush_all(cpu, true);
        cpu->efer = nv;
        return true;
    }
    case MSR_STAR:
        cpu->star = v;
        return true;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE:
        if (!canonical(v))
            raise_gp0(cpu);
        if (idx == MSR_LSTAR)
            cpu->lstar = v;
        else if (idx == MSR_CSTAR)
            cpu->cstar = v;
        else if (idx == MSR_FS_BASE)
            cpu->seg[S_FS].base = v;
        else if (idx == MSR_GS_BASE)
            cpu->seg[S_GS].base = v;
        else
            cpu->kernel_gs_base = v;
        return true;
    case MSR_FMASK:
        cpu->fmask = v & 0xffffffffull;
        return true;
    case MSR_TSC_AUX:
        if (v >> 32)
            raise_gp0(cpu);
        cpu->tsc_aux = v;
        return true;
    case MSR_MISC_ENABLE:
        cpu->misc_enable = v;
        return true;
    case MSR_APIC_BASE:
        /* bits 7:0, 9, 10 (x2APIC: not supported yet) and those above
         * MAXPHYADDR are reserved; BSP (bit 8) is read-only */
        if (v & (0x6ffull | ~PHYS_MASK))
            raise_gp0(cpu);
        cpu->apic_base = (v & ~0x100ull) | (cpu->apic_base & 0x100);
        return true;
    default:
        return false;
    }
}

/* MSR bitmaps (SDM 25.6.9): without them every RDMSR/WRMSR exits; with
 * them, the bit for the MSR in the read-low/read-high/write-low/write-high
 * kilobyte decides, and MSRs outside both ranges always exit. */
static bool msr_intercepted(struct cpu *cpu, uint32_t idx, bool write)
{
    if (!(cpu->ctl.proc & PROC_USE_MSR_BITMAPS))
        return true;
    uint32_t bit;
    if (idx <= 0x1fff)
        bit = idx;
    else if (idx >= 0xc0000000u && idx <= 0xc0001fffu)
        bit = 0x2000 + (idx - 0xc0000000u);
    else
        return true;
    if (write)
        bit += 0x4000;
    return (phys_read(cpu, cpu->ctl.msr_bitmap + bit / 8, 1) >> (bit % 8)) & 1;
}

static void op_rdmsr(struct cpu *cpu, const struct insn *in) /* 0F 32 */
{
    require_cpl0(cpu);
    uint32_t idx = (uint32_t)cpu->regs[R_RCX];
    uint64_t v;
    if (msr_intercepted(cpu, idx, false))
        exit_instruction(cpu, EXIT_REASON_RDMSR, 0, 0);
    if (!apicv_rdmsr(cpu, idx, &v) && !cpu_msr_read(cpu, idx, &v))
        raise_gp0(cpu); /* no such MSR on this processor */
    cpu->regs[R_RAX] = v & 0xffffffffull;
    cpu->regs[R_RDX] = v >> 32;
}

static void op_wrmsr(struct cpu *cpu, const struct insn *in) /* 0F 30 */
{
    require_cpl0(cpu);
    uint32_t idx = (uint32_t)cpu->regs[R_RCX];
    uint64_t v = (cpu->regs[R_RAX] & 0xffffffffull) | (cpu->regs[R_RDX] << 32);
    if (msr_intercepted(cpu, idx, true))
        exit_instruction(cpu, EXIT_REASON_WRMSR, 0, 0);
    if (apicv_wrmsr(cpu, idx, v))
        return;
    if (!cpu_msr_write(cpu, idx, v))
        raise_gp0(cpu);
}

/* ---- control registers (SDM 2.5, MOV CR reference) ---- */

#define CR4_SUPPORTED                                                                              \
    (CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE | CR4_OSFXSR |             \
     CR4_OSXMMEXCPT | CR4_UMIP | CR4_VMXE | CR4_FSGSBASE | CR4_PCIDE | CR4_OSXSAVE | CR4_SMEP |    \
     CR4_SMAP)

void write_cr0(struct cpu *cpu, uint64_t v)
{
    if (v >> 32)
        raise_gp0(cpu);
    v |= CR0_ET;
    if ((v & CR0_PG) && !(v & CR0_PE))
        raise_gp0(cpu);
    if ((v & CR0_NW) && !(v & CR0_CD))
        raise_gp0(cpu);
    uint64_t old = cpu->cr0;
    bool pg_on = (v & CR0_PG) && !(old & CR0_PG);
    bool pg_off = !(v & CR0_PG) && (old & CR0_PG);
    if (pg_on && (cpu->efer & EFER_LME)) {
        if (!(cpu->cr4 & CR4_PAE) || (cpu->seg[S_CS].ar & 0x2000))
            raise_gp0(cpu);
        cpu->efer |= EFER_LMA;
    } else if (pg_on && (cpu->cr4 & CR4_PAE)) {
        if (!mmu_load_pdptes(cpu, cpu->cr3))
            raise_gp0(cpu);
    }
    if (pg_off && cpu_in_lma(cpu)) {
        if (cpu_long64(cpu))
            raise_gp0(cpu);
        cpu->efer &= ~EFER_LMA;
    }
    cpu->cr0 = v;
    if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE))
        tlb_flush_all(cpu, true);
    cpu_update_mode(cpu);
}

void write_cr3(struct cpu *cpu, uint64_t v)
{
    bool noflush = false;
    if (cpu->cr4 & CR4_PCIDE) {
        noflush = v >> 63;
        v &= ~(1ull << 63);
    }
    if (cpu_in_lma(cpu) && (v & ~PHYS_MASK))
        raise_gp0(cpu);
    if (!cpu_in_lma(cpu) && (cpu->cr0 & CR0_PG) && (cpu->cr4 & CR4_PAE) && !mmu_load_pdptes(cpu, v))
        raise_gp0(cpu);
    cpu->cr3 = cpu_in_lma(cpu) ? v : (v & 0xffffffffull);
    if (cpu->cr4 & CR4_PCIDE) {
        if (!noflush)
            tlb_flush_pcid(cpu, v & 0xfff, false);
    } else {
        tlb_flush_all(cpu, false);
    }
}

void write_cr4(struct cpu *cpu, uint64_t v)
{
    if (v & ~CR4_SUPPORTED)
        raise_gp0(cpu);
    uint64_t old = cpu->cr4;
    if (cpu_in_lma(cpu) && !(v & CR4_PAE))
        raise_gp0(cpu);
    if ((v & CR4_PCIDE) && !(old & CR4_PCIDE) && (!cpu_in_lma(cpu) || (cpu->cr3 & 0xfff)))
        raise_gp0(cpu);
    if (!cpu_in_lma(cpu) && (cpu->cr0 & CR0_PG) && (v & CR4_PAE) &&
        ((v ^ old) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP)) && !mmu_load_pdptes(cpu, cpu->cr3))
        raise_gp0(cpu);
    cpu->cr4 = v;
    if ((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE))
        tlb_flush_all(cpu, true);
}

/* ---- VMX control-register virtualization (SDM 25.6.6, 26.1.3) ---- */

/* What the guest reads from CR0/CR4: host-owned bits (set in the
 * guest/host mask) come from the read shadow. */
static uint64_t cr0_read(const struct cpu *cpu)
{
    return (cpu->cr0 & ~cpu->ctl.cr0_mask) | (cpu->ctl.cr0_shadow & cpu->ctl.cr0_mask);
}

static uint64_t cr4_read(const struct cpu *cpu)
{
    return (cpu->cr4 & ~cpu->ctl.cr4_mask) | (cpu->ctl.cr4_shadow & cpu->ctl.cr4_mask);
}

/* Control-register-access exit; qualification per SDM Table 28-3. */
static _Noreturn void cr_exit(struct cpu *cpu, int cr, int type, int reg, uint16_t lmsw_src,
                              bool lmsw_mem, uint64_t lmsw_la)
{
    uint64_t q = (uint64_t)cr | ((uint64_t)type << 4) | (lmsw_mem ? 0x40 : 0) |
                 ((uint64_t)reg << 8) | ((uint64_t)lmsw_src << 16);
    if (lmsw_mem)
        cpu->exit.guest_linear = lmsw_la;
    exit_instruction(cpu, EXIT_REASON_CR_ACCESS, q, 0);
}

static bool cr3_is_target(const struct cpu *cpu, uint64_t v)
{
    for (uint32_t i = 0; i < cpu->ctl.cr3_target_count && i < 4; i++)
        if (cpu->ctl.cr3_target[i] == v)
            return true;
    return false;
}

/* LMSW exits when it would change a host-owned bit of CR0[3:0] from its
 * shadow value (PE only from 0 to 1) (SDM 26.1.3). */
static bool lmsw_exits(const struct cpu *cpu, uint16_t src)
{
    uint64_t m = cpu->ctl.cr0_mask, sh = cpu->ctl.cr0_shadow;
    if ((m & CR0_PE) && !(sh & CR0_PE) && (src & CR0_PE))
        return true;
    return ((m & 0xe) & (sh ^ src)) != 0;
}

static void do_lmsw(struct cpu *cpu, uint16_t src)
{
    /* LMSW cannot clear PE; only PE, MP, EM, TS change; host-owned bits keep
     * their value */
    uint64_t keep = cpu->ctl.cr0_mask & 0xf;
    uint64_t nv = (cpu->cr0 & ~0xeull) | (src & 0xf) | (cpu->cr0 & 1);
    nv = (nv & ~keep) | (cpu->cr0 & keep);
    write_cr0(cpu, nv);
}

static void op_mov_cr(struct cpu *cpu, const struct insn *in) /* 0F 20 / 0F 22 */
{
    int cr = in->reg;
    if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8)
        op_ud(cpu, in);
    if (cr == 8 && !cpu_long64(cpu))
        op_ud(cpu, in);
    require_cpl0(cpu);
    int size = cpu_long64(cpu) ? 8 : 4;
    if (in->opcode == 0x20) {
        if (cr == 3 && (cpu->ctl.proc & PROC_CR3_STORE_EXITING))
            cr_exit(cpu, 3, 1, in->rm, 0, false, 0);
        if (cr == 8 && (cpu->ctl.proc & PROC_CR8_STORE_EXITING))
            cr_exit(cpu, 8, 1, in->rm, 0, false, 0);
        uint64_t v = cr == 0   ? cr0_read(cpu)
                     : cr == 2 ? cpu->cr2
                     : cr == 3 ? cpu->cr3
                     : cr == 4 ? cr4_read(cpu)
                     : (cpu->ctl.proc & PROC_USE_TPR_SHADOW)
                         ? (phys_read(cpu, cpu->ctl.virtual_apic + 0x80, 1) >> 4) & 0xf
                         : cpu->cr8;
        set_reg(cpu, in->rm, size, true, v);
        return;
    }
    uint64_t v = get_reg(cpu, in->rm, size, true);
    switch (cr) {
    case 0:
        if ((v ^ cpu->ctl.cr0_shadow) & cpu->ctl.cr0_mask)
            cr_exit(cpu, 0, 0, in->rm, 0, false, 0);
        write_cr0(cpu, (v & ~cpu->ctl.cr0_mask) | (cpu->cr0 & cpu->ctl.cr0_mask));
        break;
    case 2:
        cpu->cr2 = v;
        break;
    case 3:
        if ((cpu->ctl.proc & PROC_CR3_LOAD_EXITING) && !cr3_is_target(cpu, v))
            cr_exit(cpu, 3, 0, in->rm, 0, false, 0);
        write_cr3(cpu, v);
        break;
    case 4:
        if ((v ^ cpu->ctl.cr4_shadow) & cpu->ctl.cr4_mask)
            cr_exit(cpu, 4, 0, in->rm, 0, false, 0);
        write_cr4(cpu, (v & ~cpu->ctl.cr4_mask) | (cpu->cr4 & cpu->ctl.cr4_mask));
        break;
    default:
        if (cpu->ctl.proc & PROC_CR8_LOAD_EXITING)
            cr_exit(cpu, 8, 0, in->rm, 0, false, 0);
        if (v & ~0xfull)
            raise_gp0(cpu);
        if (cpu->ctl.proc & PROC_USE_TPR_SHADOW) {
            /* MOV to CR8 with a TPR shadow (SDM 30.3): VTPR = src << 4,
             * then TPR virtualization (30.1.2: a trap-like exit below the
             * TPR threshold, or with virtual-interrupt delivery PPR
             * virtualization and an evaluation of virtual interrupts) */
            phys_write(cpu, cpu->ctl.virtual_apic + 0x80, 4, v << 4);
            apicv_tpr_written(cpu);
            break;
        }
        cpu->cr8 = v;
        break;
    }
}

static void op_mov_dr(struct cpu *cpu, const struct insn *in) /* 0F 21 / 0F 23 */
{
    int dr = in->reg;
    if (dr > 7)
        op_ud(cpu, in);
    if ((dr == 4 || dr == 5) && (cpu->cr4 & CR4_DE))
        op_ud(cpu, in);
    if (dr == 4 || dr == 5)
        dr += 2;
    require_cpl0(cpu);
    if (cpu->dr[7] & 0x2000) {         /* DR7.GD: general detect (SDM 17.2.4) */
        cpu->rs->pending_dr6 = 0x2000; /* BD */
        raise_exception_noerr(cpu, EXC_DB);
    }
    if (cpu->ctl.proc & PROC_MOV_DR_EXITING)
        exit_instruction(
            cpu, EXIT_REASON_DR_ACCESS,
            (uint64_t)in->reg | ((in->opcode == 0x21) ? 0x10 : 0) | ((uint64_t)in->rm << 8), 0);
    int size = cpu_long64(cpu) ? 8 : 4;
    if (in->opcode == 0x21) {
        set_reg(cpu, in->rm, size, true, cpu->dr[dr]);
        return;
    }
    uint64_t v = get_reg(cpu, in->rm, size, true);
    if ((dr == 6 || dr == 7) && (v >> 32))
        raise_gp0(cpu);
    if (dr == 6)
        v = (v & 0x1e00full) | 0xfffe0ff0ull;
    else if (dr == 7)
        v = (v & 0xffff2bffull) | 0x400;
    cpu->dr[dr] = v;
    if (dr == 7)
        cpu_dr7_changed(cpu);
}

static void op_clts(struct cpu *cpu, const struct insn *in) /* 0F 06 */
{
    require_cpl0(cpu);
    if (cpu->ctl.cr0_mask & CR0_TS) {
        /* host-owned TS: exits if the shadow has TS set, else no effect */
        if (cpu->ctl.cr0_shadow & CR0_TS)
            cr_exit(cpu, 0, 2, 0, 0, false, 0);
        return;
    }
    cpu->cr0 &= ~CR0_TS;
}

/* ---- descriptor-table instructions (0F 00, 0F 01) ---- */

static bool umip_blocks(const struct cpu *cpu)
{
    return (cpu->cr4 & CR4_UMIP) && cpu->cpl > 0;
}

/* VM-exit instruction information for a memory or register operand
 * (SDM 28.2.5, facts/formats.md section 11.1). */
uint32_t insn_info_operand(const struct insn *in)
{
    uint32_t info = (uint32_t)(in->addrsize == 2 ? 0 : in->addrsize == 4 ? 1 : 2) << 7;
    if (in->mod == 3)
        return info | (1u << 10) | ((uint32_t)in->rm << 3);
    info |= (uint32_t)in->scale | ((uint32_t)in->seg << 15);
    info |= in->index >= 0 ? ((uint32_t)in->index << 18) : (1u << 22);
    info |= in->base >= 0 ? ((uint32_t)in->base << 23) : (1u << 27);
    return info;
}

/* Exit qualification of an instruction with a memory operand (SDM 28.2.1,
 * Table 28-1): the displacement, sign-extended; 0 for a register operand;
 * for RIP-relative addressing the sum of the displacement and the RIP of
 * the next instruction (base and index are then reported invalid). */
uint64_t insn_exit_displacement(const struct cpu *cpu, const struct insn *in)
{
    if (in->mod == 3)
        return 0;
    if (in->riprel)
        return (uint64_t)in->disp + cpu->rs->next_rip;
    return (uint64_t)in->disp;
}

/* Descriptor-table exiting (secondary control bit 2): GDTR/IDTR accesses
 * exit with reason 46, LDTR/TR accesses with 47; bits 29:28 name the
 * instruction, bit 11 the operand size of LGDT/SGDT... (SDM 28.2.5). */
static void descriptor_table_exit(struct cpu *cpu, const struct insn *in, bool gdt_idt, int ident)
{
    if (!secondary(cpu, PROC2_DESCRIPTOR_TABLE_EXITING))
        return;
    uint32_t info = insn_info_operand(in) | ((uint32_t)ident << 28);
    if (gdt_idt && in->opsize != 2)
        info |= 1u << 11;
    exit_instruction(cpu, gdt_idt ? EXIT_REASON_GDTR_IDTR_ACCESS : EXIT_REASON_LDTR_TR_ACCESS,
                     insn_exit_displacement(cpu, in), info);
}

static void op_grp6(struct cpu *cpu, const struct insn *in) /* 0F 00 */
{
    int op = (in->modrm >> 3) & 7;
    if (!cpu_protected(cpu) || cpu->mode == CPU_MODE_VM86)
        op_ud(cpu, in);
    if (op <= 3) {
        /* identity: 0 SLDT, 1 STR, 2 LLDT, 3 LTR; the CPL/UMIP checks
         * have priority over the exit */
        if ((op >= 2 && cpu->cpl == 0) || (op < 2 && !umip_blocks(cpu)))
            descriptor_table_exit(cpu, in, false, op);
    }
    switch (op) {
    case 0: /* SLDT */
    case 1: /* STR */
        if (umip_blocks(cpu))
            raise_gp0(cpu);
        {
            uint16_t v = cpu->seg[op == 0 ? S_LDTR : S_TR].sel;
            if (in->mod == 3)
                set_reg(cpu, in->rm, in->opsize, in->rex, v);
            else
                seg_write(cpu, in->seg, insn_ea(cpu, in), 2, v);
        }
        return;
    case 2: /* LLDT */
    case 3: /* LTR */
        require_cpl0(cpu);
        {
            uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
            if (op == 2)
                load_ldt(cpu, sel);
            else
                load_tr(cpu, sel);
        }
        return;
    case 4:   /* VERR */
    case 5: { /* VERW */
        uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
        bool ok = false;
        if ((sel & 0xfffc) != 0) {
            uint64_t base = (sel & 4) ? cpu->seg[S_LDTR].base : cpu->gdtr.base;
            uint32_t limit = (sel & 4) ? cpu->seg[S_LDTR].limit : cpu->gdtr.limit;
            bool ldt_ok = !(sel & 4) || !(cpu->seg[S_LDTR].ar & 0x10000);
            if (ldt_ok && (uint32_t)(sel & ~7) + 7 <= limit) {
                uint64_t d = lin_read(cpu, base + (sel & ~7), 8, true);
                uint32_t ar = desc_to_ar(d);
                int dpl = (ar >> 5) & 3;
                bool code = ar & 8, conforming = code && (ar & 4);
                if ((ar & 0x10) && (conforming || (dpl >= cpu->cpl && dpl >= (sel & 3)))) {
                    if (op == 4)
                        ok = !code || (ar & 2);
                    else
                        ok = !code && (ar & 2);
                }
            }
        }
        set_flags_explicit(cpu, ok ? FL_ZF : 0, FL_ZF);
        return;
    }
    default:
        op_ud(cpu, in);
    }
}

static void op_lar_lsl(struct cpu *cpu, const struct insn *in) /* 0F 02 / 0F 03 */
{
    if (!cpu_protected(cpu) || cpu->mode == CPU_MODE_VM86)
        op_ud(cpu, in);
    uint16_t sel = (uint16_t)rm_read(cpu, in, 2);
    bool ok = false;
    uint64_t d = 0;
    if ((sel & 0xfffc) != 0) {
        uint64_t base = (sel & 4) ? cpu->seg[S_LDTR].base : cpu->gdtr.base;
        uint32_t limit = (sel & 4) ? cpu->seg[S_LDTR].limit : cpu->gdtr.limit;
        bool ldt_ok = !(sel & 4) || !(cpu->seg[S_LDTR].ar & 0x10000);
        if (ldt_ok && (uint32_t)(sel & ~7) + 7 <= limit) {
            d = lin_read(cpu, base + (sel & ~7), 8, true);
            uint32_t ar = desc_to_ar(d);
            int dpl = (ar >> 5) & 3, type = ar & 0xf;
            bool conforming = (ar & 0x10) && (ar & 8) && (ar & 4);
            bool type_ok;
            if (ar & 0x10)
                type_ok = true;
            else if (cpu_in_lma(cpu))
                type_ok = in->opcode == 0x02 ? (type == 2 || type == 9 || type == 11 || type == 12)
                                             : (type == 2 || type == 9 || type == 11);
            else
                type_ok = in->opcode == 0x02
                              ? (type == 1 || type == 2 || type == 3 || type == 4 || type == 5 ||
                                 type == 9 || type == 11 || type == 12)
                              : (type == 1 || type == 2 || type == 3 || type == 9 || type == 11);
            ok = type_ok && (conforming || (dpl >= cpu->cpl && dpl >= (sel & 3)));
        }
    }
    set_flags_explicit(cpu, ok ? FL_ZF : 0, FL_ZF);
    if (!ok)
        return;
    if (in->opcode == 0x02)
        reg_write(cpu, in, in->opsize, (d >> 32) & 0x00f0ff00ull);
    else
        reg_write(cpu, in, in->opsize, desc_limit(d));
}

static void op_xgetbv(struct cpu *cpu)
{
    if (!(cpu->cr4 & CR4_OSXSAVE))
        raise_ud(cpu);
    uint32_t idx = (uint32_t)cpu->regs[R_RCX];
    if (idx != 0)
        raise_gp0(cpu);
    cpu->regs[R_RAX] = cpu->xcr0 & 0xffffffffull;
    cpu->regs[R_RDX] = cpu->xcr0 >> 32;
}

static void op_swapgs(struct cpu *cpu)
{
    if (!cpu_long64(cpu))
        raise_ud(cpu);
    require_cpl0(cpu);
    uint64_t t = cpu->seg[S_GS].base;
    cpu->seg[S_GS].base = cpu->kernel_gs_base;
    cpu->kernel_gs_base = t;
}

/* VMX instructions executed by the guest: in VMX non-root operation they
 * cause VM exits unconditionally (SDM 26.1.2), after the #UD checks that
 * have priority (CR4.VMXE = 0 -> #UD; VMCALL always exits). */
static void vmx_insn_exit(struct cpu *cpu, const struct insn *in, uint32_t reason)
{
    if (reason != EXIT_REASON_VMCALL && !(cpu->cr4 & CR4_VMXE))
        raise_ud(cpu);
    exit_instruction(cpu, reason, 0, 0);
}

static void op_grp7(struct cpu *cpu, const struct insn *in) /* 0F 01 */
{
    int op = (in->modrm >> 3) & 7;
    if (in->mod == 3) {
        switch (in->modrm) {
        case 0xc1:
            vmx_insn_exit(cpu, in, EXIT_REASON_VMCALL);
            return;
        case 0xc2:
            vmx_insn_exit(cpu, in, EXIT_REASON_VMLAUNCH);
            return;
        case 0xc3:
            vmx_insn_exit(cpu, in, EXIT_REASON_VMRESUME);
            return;
        case 0xc4:
            vmx_insn_exit(cpu, in, EXIT_REASON_VMXOFF);
            return;
        case 0xc8: /* MONITOR */
        case 0xc9: /* MWAIT: not advertised by CPUID */
            op_ud(cpu, in);
            return;
        case 0xca: /* CLAC */
        case 0xcb: /* STAC */
            if (cpu->cpl != 0 || cpu->mode == CPU_MODE_VM86)
                op_ud(cpu, in);
            flags_materialize(cpu);
            if (in->modrm == 0xca)
                cpu->rflags &= ~FL_AC;
            else
                cpu->rflags |= FL_AC;
            return;
        case 0xd0:
            op_xgetbv(cpu);
            return;
        case 0xd1: /* XSETBV: unconditional exit in non-root operation */
            if (!(cpu->cr4 & CR4_OSXSAVE))
                raise_ud(cpu);
            exit_instruction(cpu, EXIT_REASON_XSETBV, 0, 0);
            return;
        case 0xf8:
            op_swapgs(cpu);
            return;
        case 0xf9:
            op_rdtscp(cpu);
            return;
        default:
            break;
        }
        if (op == 4) { /* SMSW r */
            if (umip_blocks(cpu))
                raise_gp0(cpu);
            set_reg(cpu, in->rm, in->opsize, in->rex, cr0_read(cpu) & size_mask(in->opsize));
            return;
        }
        if (op == 6) { /* LMSW r */
            require_cpl0(cpu);
            uint16_t v = (uint16_t)get_reg(cpu, in->rm, 2, true);
            if (lmsw_exits(cpu, v))
                cr_exit(cpu, 0, 3, 0, v, false, 0);
            do_lmsw(cpu, v);
            return;
        }
        op_ud(cpu, in);
    }
    uint64_t ea = insn_ea(cpu, in);
    if (op <= 3 && ((op >= 2 && cpu->cpl == 0) || (op < 2 && !umip_blocks(cpu))))
        descriptor_table_exit(cpu, in, true, op); /* 0 SGDT, 1 SIDT, 2 LGDT, 3 LIDT */
    switch (op) {
    case 0:   /* SGDT */
    case 1: { /* SIDT */
        if (umip_blocks(cpu))
            raise_gp0(cpu);
        const struct dtable *t = op == 0 ? &cpu->gdtr : &cpu->idtr;
        int bsz = cpu_long64(cpu) ? 8 : 4;
        seg_probe_write(cpu, in->seg, ea, 2 + bsz);
        seg_write(cpu, in->seg, ea, 2, t->limit);
        seg_write(cpu, in->seg, (ea + 2) & size_mask(in->addrsize), bsz, t->base);
        return;
    }
    case 2:   /* LGDT */
    case 3: { /* LIDT */
        require_cpl0(cpu);
        int bsz = cpu_long64(cpu) ? 8 : 4;
        uint16_t limit = (uint16_t)seg_read(cpu, in->seg, ea, 2);
        uint64_t base = seg_read(cpu, in->seg, (ea + 2) & size_mask(in->addrsize), bsz);
        if (!cpu_long64(cpu) && in->opsize == 2)
            base &= 0xffffff;
        if (cpu_long64(cpu) && !canonical(base))
            raise_gp0(cpu);
        struct dtable *t = op == 2 ? &cpu->gdtr : &cpu->idtr;
        t->limit = limit;
        t->base = base;
        return;
    }
    case 4: /* SMSW m16 */
        if (umip_blocks(cpu))
            raise_gp0(cpu);
        seg_write(cpu, in->seg, ea, 2, cr0_read(cpu) & 0xffff);
        return;
    case 6: { /* LMSW m16 */
        require_cpl0(cpu);
        uint16_t v = (uint16_t)seg_read(cpu, in->seg, ea, 2);
        if (lmsw_exits(cpu, v))
            cr_exit(cpu, 0, 3, 0, v, true, seg_linear(cpu, in->seg, ea, 2, ACC_READ));
        do_lmsw(cpu, v);
        return;
    }
    case 7: { /* INVLPG */
        require_cpl0(cpu);
        uint64_t la = cpu_long64(cpu)
                          ? ea + ((in->seg == S_FS || in->seg == S_GS) ? cpu->seg[in->seg].base : 0)
                          : (cpu->seg[in->seg].base + ea) & 0xffffffffull;
        if (cpu->ctl.proc & PROC_INVLPG_EXITING)
            exit_instruction(cpu, EXIT_REASON_INVLPG, la, 0);
        tlb_flush_page(cpu, la);
        return;
    }
    default:
        op_ud(cpu, in);
    }
}

/* ---- SYSCALL/SYSRET, SYSENTER/SYSEXIT ---- */

static void set_flat_seg(struct cpu *cpu, int sreg, uint16_t sel, uint32_t ar)
{
    cpu->seg[sreg] = (struct segment){.sel = sel, .base = 0, .limit = 0xffffffff, .ar = ar};
}

static void op_syscall(struct cpu *cpu, const struct insn *in) /* 0F 05 */
{
    if (!cpu_in_lma(cpu) || !(cpu->efer & EFER_SCE))
        op_ud(cpu, in);
    uint16_t sel = (cpu->star >> 32) & 0xfffc;
    cpu->regs[R_RCX] = cpu->rs->next_rip;
    uint64_t fl = flags_materialize(cpu);
    cpu->regs[R_R11] = fl & ~FL_RF;
    cpu->rflags = (fl & ~cpu->fmask & ~FL_RF) | 2;
    set_flat_seg(cpu, S_CS, sel, 0xa09b);
    set_flat_seg(cpu, S_SS, sel + 8, 0xc093);
    cpu->cpl = 0;
    cpu_update_mode(cpu);
    cpu->rs->next_rip = cpu->lstar;
}

static void op_sysret(struct cpu *cpu, const struct insn *in) /* 0F 07 */
{
    if (!(cpu->efer & EFER_SCE))
        op_ud(cpu, in);
    if (!cpu_long64(cpu))
        op_ud(cpu, in);
    require_cpl0(cpu);
    uint16_t base = (cpu->star >> 48) & 0xffff;
    bool to64 = in->opsize == 8;
    uint64_t rip = to64 ? cpu->regs[R_RCX] : (cpu->regs[R_RCX] & 0xffffffffull);
    if (to64 && !canonical(rip))
        raise_gp0(cpu); /* Intel raises #GP(0) in ring 0 */
    cpu->rflags = (cpu->regs[R_R11] & 0x3c7fd7ull) | 2;
    cpu->lf.op = LF_NONE;
    if (to64)
        set_flat_seg(cpu, S_CS, (base + 16) | 3, 0xa0fb);
    else
        set_flat_seg(cpu, S_CS, base | 3, 0xc0fb);
    /* SS selector is loaded, its cached attributes are fixed (SDM SYSRET) */
    cpu->seg[S_SS].sel = (base + 8) | 3;
    cpu->seg[S_SS].ar = 0xc0f3;
    cpu->seg[S_SS].base = 0;
    cpu->seg[S_SS].limit = 0xffffffff;
    cpu->cpl = 3;
    cpu_update_mode(cpu);
    cpu->rs->next_rip = rip;
}

static void op_sysenter(struct cpu *cpu, const struct insn *in) /* 0F 34 */
{
    if (!cpu_protected(cpu))
        raise_gp0(cpu);
    if ((cpu->sysenter_cs & 0xfffc) == 0)
        raise_gp0(cpu);
    uint16_t sel = cpu->sysenter_cs & 0xfffc;
    flags_materialize(cpu);
    cpu->rflags &= ~(FL_VM | FL_IF | FL_RF);
    if (cpu_in_lma(cpu))
        set_flat_seg(cpu, S_CS, sel, 0xa09b);
    else
        set_flat_seg(cpu, S_CS, sel, 0xc09b);
    set_flat_seg(cpu, S_SS, sel + 8, 0xc093);
    cpu->cpl = 0;
    cpu_update_mode(cpu);
    if (cpu_in_lma(cpu)) {
        cpu->regs[R_RSP] = cpu->sysenter_esp;
        cpu->rs->next_rip = cpu->sysenter_eip;
    } else {
        cpu->regs[R_RSP] = cpu->sysenter_esp & 0xffffffffull;
        cpu->rs->next_rip = cpu->sysenter_eip & 0xffffffffull;
    }
}

static void op_sysexit(struct cpu *cpu, const struct insn *in) /* 0F 35 */
{
    if (!cpu_protected(cpu) || cpu->mode == CPU_MODE_VM86)
        raise_gp0(cpu);
    if ((cpu->sysenter_cs & 0xfffc) == 0 || cpu->cpl != 0)
        raise_gp0(cpu);
    uint16_t base = cpu->sysenter_cs & 0xfffc;
    bool to64 = in->opsize == 8;
    if (to64) {
        if (!canonical(cpu->regs[R_RDX]) || !canonical(cpu->regs[R_RCX]))
            raise_gp0(cpu);
        set_flat_seg(cpu, S_CS, (base + 32) | 3, 0xa0fb);
        set_flat_seg(cpu, S_SS, (base + 40) | 3, 0xc0f3);
        cpu->regs[R_RSP] = cpu->regs[R_RCX];
        cpu->rs->next_rip = cpu->regs[R_RDX];
    } else {
        set_flat_seg(cpu, S_CS, (base + 16) | 3, 0xc0fb);
        set_flat_seg(cpu, S_SS, (base + 24) | 3, 0xc0f3);
        cpu->regs[R_RSP] = cpu->regs[R_RCX] & 0xffffffffull;
        cpu->rs->next_rip = cpu->regs[R_RDX] & 0xffffffffull;
    }
    cpu->cpl = 3;
    cpu_update_mode(cpu);
}

/* ---- cache control and unconditional exits ---- */

static void op_invd(struct cpu *cpu, const struct insn *in) /* 0F 08 */
{
    require_cpl0(cpu);
    exit_instruction(cpu, EXIT_REASON_INVD, 0, 0); /* unconditional (SDM 26.1.2) */
}

static void op_wbinvd(struct cpu *cpu, const struct insn *in) /* 0F 09 */
{
    require_cpl0(cpu);
    if (secondary(cpu, PROC2_WBINVD_EXITING))
        exit_instruction(cpu, EXIT_REASON_WBINVD, 0, 0);
}

static void op_getsec(struct cpu *cpu, const struct insn *in) /* 0F 37 */
{
    if (!(cpu->cr4 & CR4_SMXE))
        op_ud(cpu, in);
    exit_instruction(cpu, EXIT_REASON_GETSEC, 0, 0);
}

/* INVPCID (66 0F 38 82, SDM Vol. 2): types 0-3. */
void op_invpcid(struct cpu *cpu, const struct insn *in)
{
    if (in->mand != 0x66 || in->mod == 3 || !cpu_protected(cpu) || cpu->mode == CPU_MODE_VM86)
        op_ud(cpu, in);
    if ((cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) &&
        !(cpu->ctl.proc2 & PROC2_ENABLE_INVPCID))
        op_ud(cpu, in);
    require_cpl0(cpu);
    /* SDM 26.1.3: INVPCID exits with "INVLPG exiting" and "enable INVPCID"
     * (checked above); the information names the type register (31:28) */
    if ((cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) && (cpu->ctl.proc & PROC_INVLPG_EXITING))
        exit_instruction(cpu, EXIT_REASON_INVPCID, insn_exit_displacement(cpu, in),
                         insn_info_operand(in) | ((uint32_t)(in->reg & 15) << 28));
    uint64_t type = get_reg(cpu, in->reg, cpu_long64(cpu) ? 8 : 4, true);
    uint64_t ea = insn_ea(cpu, in);
    uint64_t d0 = seg_read(cpu, in->seg, ea, 8);
    uint64_t la = seg_read(cpu, in->seg, (ea + 8) & size_mask(in->addrsize), 8);
    uint16_t pcid = d0 & 0xfff;
    if (type > 3 || (d0 >> 12))
        raise_gp0(cpu);
    switch (type) {
    case 0:
        if (!canonical(la))
            raise_gp0(cpu);
        if (!(cpu->cr4 & CR4_PCIDE) && pcid)
            raise_gp0(cpu);
        tlb_flush_page(cpu, la); /* conservatively also drops other PCIDs' copies */
        break;
    case 1:
        if (!(cpu->cr4 & CR4_PCIDE) && pcid)
            raise_gp0(cpu);
        tlb_flush_pcid(cpu, pcid, false);
        break;
    case 2:
        tlb_flush_all(cpu, true);
        break;
    default:
        tlb_flush_all(cpu, false);
        break;
    }
}

static void op_ud_explicit(struct cpu *cpu, const struct insn *in) /* UD0/UD1/UD2 */
{
    raise_ud(cpu);
}

/* VMREAD/VMWRITE (0F 78/79) and INVEPT/INVVPID (66 0F 38 80/81) in VMX
 * non-root operation exit unconditionally (no VMCS shadowing); the
 * qualification is the memory operand's displacement (SDM 28.2.1). */
static void op_vmx_rw(struct cpu *cpu, const struct insn *in)
{
    if (in->mand || !(cpu->cr4 & CR4_VMXE))
        op_ud(cpu, in);
    /* bits 31:28: the register holding the field encoding (ModRM.reg) */
    exit_instruction(cpu, in->opcode == 0x78 ? EXIT_REASON_VMREAD : EXIT_REASON_VMWRITE,
                     insn_exit_displacement(cpu, in),
                     insn_info_operand(in) | ((uint32_t)(in->reg & 15) << 28));
}

void op_invept_invvpid(struct cpu *cpu, const struct insn *in)
{
    if (in->mand != 0x66 || in->mod == 3 || !(cpu->cr4 & CR4_VMXE))
        op_ud(cpu, in);
    /* bits 31:28: the register holding the type (ModRM.reg) */
    exit_instruction(cpu, in->opcode == 0x80 ? EXIT_REASON_INVEPT : EXIT_REASON_INVVPID,
                     insn_exit_displacement(cpu, in),
                     insn_info_operand(in) | ((uint32_t)(in->reg & 15) << 28));
}

void register_ops_system(insn_fn *t0, insn_fn *t1)
{
    t1[0x78] = t1[0x79] = op_vmx_rw;
    register_ops_transfer(t0, t1);
    t0[0xf4] = op_hlt;
    t1[0x00] = op_grp6;
    t1[0x01] = op_grp7;
    t1[0x02] = t1[0x03] = op_lar_lsl;
    t1[0x05] = op_syscall;
    t1[0x06] = op_clts;
    t1[0x07] = op_sysret;
    t1[0x08] = op_invd;
    t1[0x09] = op_wbinvd;
    t1[0x0b] = t1[0xb9] = t1[0xff] = op_ud_explicit;
    t1[0x20] = t1[0x22] = op_mov_cr;
    t1[0x21] = t1[0x23] = op_mov_dr;
    t1[0x30] = op_wrmsr;
    t1[0x31] = op_rdtsc;
    t1[0x32] = op_rdmsr;
    t1[0x33] = op_rdpmc;
    t1[0x34] = op_sysenter;
    t1[0x35] = op_sysexit;
    t1[0x37] = op_getsec;
    t1[0xa2] = op_cpuid;
}
