/* L0's run loop: runs the vCPUs round-robin in fixed instruction quanta on
 * one host thread (BRIEF decision 6) and handles every VM exit by its SDM
 * basic exit reason (SDM Appendix C). */
#include "run.h"

#include <stdio.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "cpu/vmx.h"
#include "cpuid.h"
#include "nested/nested.h"
#include "dev/debug_exit.h"
#include "irq.h"
#include "vmcs01.h"
#include "vmx_test.h"

static const char *const exit_names[NR_EXIT_REASONS] = {
    [EXIT_REASON_EXCEPTION_OR_NMI] = "EXCEPTION_OR_NMI",
    [EXIT_REASON_EXTERNAL_INTERRUPT] = "EXTERNAL_INTERRUPT",
    [EXIT_REASON_TRIPLE_FAULT] = "TRIPLE_FAULT",
    [EXIT_REASON_INIT_SIGNAL] = "INIT_SIGNAL",
    [EXIT_REASON_SIPI] = "SIPI",
    [EXIT_REASON_IO_SMI] = "IO_SMI",
    [EXIT_REASON_OTHER_SMI] = "OTHER_SMI",
    [EXIT_REASON_INTERRUPT_WINDOW] = "INTERRUPT_WINDOW",
    [EXIT_REASON_NMI_WINDOW] = "NMI_WINDOW",
    [EXIT_REASON_TASK_SWITCH] = "TASK_SWITCH",
    [EXIT_REASON_CPUID] = "CPUID",
    [EXIT_REASON_GETSEC] = "GETSEC",
    [EXIT_REASON_HLT] = "HLT",
    [EXIT_REASON_INVD] = "INVD",
    [EXIT_REASON_INVLPG] = "INVLPG",
    [EXIT_REASON_RDPMC] = "RDPMC",
    [EXIT_REASON_RDTSC] = "RDTSC",
    [EXIT_REASON_RSM] = "RSM",
    [EXIT_REASON_VMCALL] = "VMCALL",
    [EXIT_REASON_VMCLEAR] = "VMCLEAR",
    [EXIT_REASON_VMLAUNCH] = "VMLAUNCH",
    [EXIT_REASON_VMPTRLD] = "VMPTRLD",
    [EXIT_REASON_VMPTRST] = "VMPTRST",
    [EXIT_REASON_VMREAD] = "VMREAD",
    [EXIT_REASON_VMRESUME] = "VMRESUME",
    [EXIT_REASON_VMWRITE] = "VMWRITE",
    [EXIT_REASON_VMXOFF] = "VMXOFF",
    [EXIT_REASON_VMXON] = "VMXON",
    [EXIT_REASON_CR_ACCESS] = "CR_ACCESS",
    [EXIT_REASON_DR_ACCESS] = "DR_ACCESS",
    [EXIT_REASON_IO_INSTRUCTION] = "IO_INSTRUCTION",
    [EXIT_REASON_RDMSR] = "RDMSR",
    [EXIT_REASON_WRMSR] = "WRMSR",
    [EXIT_REASON_VM_ENTRY_FAILURE_INVALID_GUEST_STATE] = "VM_ENTRY_FAILURE_INVALID_GUEST_STATE",
    [EXIT_REASON_VM_ENTRY_FAILURE_MSR_LOADING] = "VM_ENTRY_FAILURE_MSR_LOADING",
    [EXIT_REASON_MWAIT] = "MWAIT",
    [EXIT_REASON_MONITOR_TRAP_FLAG] = "MONITOR_TRAP_FLAG",
    [EXIT_REASON_MONITOR] = "MONITOR",
    [EXIT_REASON_PAUSE] = "PAUSE",
    [EXIT_REASON_VM_ENTRY_FAILURE_MACHINE_CHECK] = "VM_ENTRY_FAILURE_MACHINE_CHECK",
    [EXIT_REASON_TPR_BELOW_THRESHOLD] = "TPR_BELOW_THRESHOLD",
    [EXIT_REASON_APIC_ACCESS] = "APIC_ACCESS",
    [EXIT_REASON_VIRTUALIZED_EOI] = "VIRTUALIZED_EOI",
    [EXIT_REASON_GDTR_IDTR_ACCESS] = "GDTR_IDTR_ACCESS",
    [EXIT_REASON_LDTR_TR_ACCESS] = "LDTR_TR_ACCESS",
    [EXIT_REASON_EPT_VIOLATION] = "EPT_VIOLATION",
    [EXIT_REASON_EPT_MISCONFIG] = "EPT_MISCONFIG",
    [EXIT_REASON_INVEPT] = "INVEPT",
    [EXIT_REASON_RDTSCP] = "RDTSCP",
    [EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED] = "PREEMPTION_TIMER",
    [EXIT_REASON_INVVPID] = "INVVPID",
    [EXIT_REASON_WBINVD] = "WBINVD",
    [EXIT_REASON_XSETBV] = "XSETBV",
    [EXIT_REASON_APIC_WRITE] = "APIC_WRITE",
    [EXIT_REASON_RDRAND] = "RDRAND",
    [EXIT_REASON_INVPCID] = "INVPCID",
    [EXIT_REASON_VMFUNC] = "VMFUNC",
    [EXIT_REASON_ENCLS] = "ENCLS",
    [EXIT_REASON_RDSEED] = "RDSEED",
    [EXIT_REASON_PML_FULL] = "PML_FULL",
    [EXIT_REASON_XSAVES] = "XSAVES",
    [EXIT_REASON_XRSTORS] = "XRSTORS",
    [EXIT_REASON_PCONFIG] = "PCONFIG",
    [EXIT_REASON_SPP_EVENT] = "SPP_EVENT",
    [EXIT_REASON_UMWAIT] = "UMWAIT",
    [EXIT_REASON_TPAUSE] = "TPAUSE",
    [EXIT_REASON_LOADIWKEY] = "LOADIWKEY",
    [EXIT_REASON_ENCLV] = "ENCLV",
    [EXIT_REASON_ENQCMD_PASID_TRANSLATION_FAILURE] = "ENQCMD_PASID_TRANSLATION_FAILURE",
    [EXIT_REASON_ENQCMDS_PASID_TRANSLATION_FAILURE] = "ENQCMDS_PASID_TRANSLATION_FAILURE",
    [EXIT_REASON_BUS_LOCK] = "BUS_LOCK",
    [EXIT_REASON_INSTRUCTION_TIMEOUT] = "INSTRUCTION_TIMEOUT",
    [EXIT_REASON_SEAMCALL] = "SEAMCALL",
    [EXIT_REASON_TDCALL] = "TDCALL",
    [EXIT_REASON_RDMSRLIST] = "RDMSRLIST",
    [EXIT_REASON_WRMSRLIST] = "WRMSRLIST",
    [EXIT_REASON_URDMSR] = "URDMSR",
    [EXIT_REASON_UWRMSR] = "UWRMSR",
    [EXIT_REASON_RDMSR_IMM] = "RDMSR_IMM",
    [EXIT_REASON_WRMSRNS_IMM] = "WRMSRNS_IMM",
};

const char *vmm_exit_name(uint32_t reason)
{
    reason &= 0xffff;
    if (reason < NR_EXIT_REASONS && exit_names[reason])
        return exit_names[reason];
    return "other";
}

static void finish(struct machine *m, enum machine_state st, int status)
{
    if (m->state == MACHINE_RUNNING) {
        m->state = st;
        m->exit_status = status;
    }
}

/* ---- port I/O ---- */

static uint64_t pio_read_cb(void *opaque, uint16_t port, int size)
{
    struct machine *m = opaque;
    return iobus_read(&m->pio, port, size);
}

static void pio_write_cb(void *opaque, uint16_t port, int size, uint64_t val)
{
    struct machine *m = opaque;
    iobus_write(&m->pio, port, size, val);
}

/* MMIO of L2 under an L1 that uses EPT: L2-physical addresses go through
 * EPT12 to L1-physical ones, which L0's devices decode. */
static uint64_t mmio_gpa(struct machine *m, uint64_t gpa)
{
    struct nested_vcpu *n = m->nested[m->emul_cpu];
    if (n && n->guest_mode && (vmcs12_proc2(&n->vmcs12) & PROC2_ENABLE_EPT))
        return ept02_l2_to_l1(m, m->emul_cpu, gpa);
    return gpa;
}

static uint64_t mmio_read_cb(void *opaque, uint64_t gpa, int size)
{
    struct machine *m = opaque;
    uint64_t v;
    gpa = mmio_gpa(m, gpa);
    if (irq_mmio_read(m, gpa, size, &v)) /* the local APIC page */
        return v;
    return iobus_read(&m->mmio, gpa, size);
}

static void mmio_write_cb(void *opaque, uint64_t gpa, int size, uint64_t val)
{
    struct machine *m = opaque;
    gpa = mmio_gpa(m, gpa);
    if (!irq_mmio_write(m, gpa, size, val)) /* the local APIC page */
        iobus_write(&m->mmio, gpa, size, val);
}

static const struct cpu_emul_ops emul_ops = {pio_read_cb, pio_write_cb, mmio_read_cb,
                                             mmio_write_cb};

/* I/O instruction exit: qualification per SDM Table 28-5. */
static void handle_io(struct machine *m, struct cpu *cpu, struct vmcs *v)
{
    uint64_t q = vmcs_get(v, VI_EXIT_QUALIFICATION);
    int size = (int)(q & 7) + 1;
    bool in = q & 8, string = q & 16;
    uint16_t port = (uint16_t)(q >> 16);
    if (string) {
        /* INS/OUTS: the CPU's own emulation with I/O routed to the bus */
        uint32_t r = cpu_vmcs_emulate(cpu, v, &emul_ops, m);
        if (r) {
            fprintf(stderr, "nvmx: exit %u during string I/O emulation\n", r);
            finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
        }
        return;
    }
    if (in) {
        uint64_t v = iobus_read(&m->pio, port, size);
        if (size == 4)
            cpu->regs[R_RAX] = v & 0xffffffffull; /* 32-bit results zero-extend */
        else
            set_reg(cpu, R_RAX, size, true, v);
    } else {
        iobus_write(&m->pio, port, size, cpu->regs[R_RAX] & size_mask(size));
    }
    vmcs_skip_instruction(v);
}

static void handle_cpuid(struct machine *m, struct cpu *cpu, struct vmcs *v)
{
    uint32_t r[4];
    cpuid_model(cpu, m->nr_cpus, nested_enabled(m), (uint32_t)cpu->regs[R_RAX],
                (uint32_t)cpu->regs[R_RCX], r);
    cpu->regs[R_RAX] = r[0];
    cpu->regs[R_RBX] = r[1];
    cpu->regs[R_RCX] = r[2];
    cpu->regs[R_RDX] = r[3];
    vmcs_skip_instruction(v);
}

/* MSRs the CPU does not implement itself exit here. L0 implements a few
 * informational ones; everything else is #GP(0), as on hardware for an
 * MSR that does not exist. */
static void handle_msr(struct machine *m, struct cpu *cpu, struct vmcs *v, bool write)
{
    uint32_t idx = (uint32_t)cpu->regs[R_RCX];
    uint64_t val = 0;
    bool ok = false;
    if (write) {
        uint64_t wv = (cpu->regs[R_RAX] & 0xffffffffull) | (cpu->regs[R_RDX] << 32);
        if (nested_msr_write(m, cpu->index, idx, wv, &ok))
            goto done;
    } else if (nested_msr_read(m, cpu->index, idx, &val, &ok)) {
        goto done;
    }
    switch (idx) {
    case 0x8b: /* IA32_BIOS_SIGN_ID (microcode revision) */
        /* a revision recent enough for the CPUID model (0x55 stepping 4):
         * Linux disables the TSC-deadline timer on older ones (errata) */
        val = 0x02006e05ull << 32;
        ok = true;
        break;
    case 0xfe: /* IA32_MTRRCAP: no MTRRs */
    case 0x17: /* IA32_PLATFORM_ID */
        ok = !write;
        break;
    default:
        if (write)
            val = (cpu->regs[R_RAX] & 0xffffffffull) | (cpu->regs[R_RDX] << 32);
        ok = irq_msr(m, cpu->index, idx, write, &val); /* APIC MSRs */
        break;
    }
done:
    if (!ok) {
        events_queue_exception(&m->events[cpu->index], EXC_GP, true, 0);
        return;
    }
    if (!write) {
        cpu->regs[R_RAX] = val & 0xffffffffull;
        cpu->regs[R_RDX] = val >> 32;
    }
    vmcs_skip_instruction(v);
}

/* MOV to CR4 changing VMXE as the guest sees it (SDM 24.7 / 31.3): setting
 * it needs VMX to be offered (else #GP(0)); clearing it in VMX operation is
 * #GP(0). Otherwise the read shadow takes the new value and the CPU
 * performs the rest of the write itself (all its other checks). */
static void handle_cr4_vmxe(struct machine *m, struct cpu *cpu, struct vmcs *v, uint64_t val)
{
    struct nested_vcpu *n = m->nested[cpu->index];
    bool set = val & CR4_VMXE;
    if ((set && !nested_enabled(m)) || (!set && n && n->vmxon)) {
        events_queue_exception(&m->events[cpu->index], EXC_GP, true, 0);
        return;
    }
    uint64_t old = vmcs_get(v, VI_CR4_READ_SHADOW);
    vmcs_set(v, VI_CR4_READ_SHADOW, (old & ~CR4_VMXE) | (val & CR4_VMXE));
    uint64_t before = cpu->icount;
    m->emul_cpu = cpu->index;
    uint32_t r = cpu_vmcs_emulate(cpu, v, &emul_ops, m);
    if (r || cpu->icount == before)
        vmcs_set(v, VI_CR4_READ_SHADOW, old); /* the write faulted: nothing changed */
    if (r) {
        fprintf(stderr, "nvmx: exit %u during MOV to CR4 emulation\n", r);
        finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
    }
}

static void handle_exit(struct machine *m, struct cpu *cpu, struct vmcs *v, uint32_t reason)
{
    m->emul_cpu = cpu->index;
    switch (reason & 0xffff) {
    case EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED:
        break;
    case EXIT_REASON_IO_INSTRUCTION:
        handle_io(m, cpu, v);
        break;
    case EXIT_REASON_CPUID:
        handle_cpuid(m, cpu, v);
        break;
    case EXIT_REASON_RDMSR:
    case EXIT_REASON_WRMSR:
        handle_msr(m, cpu, v, (reason & 0xffff) == EXIT_REASON_WRMSR);
        break;
    case EXIT_REASON_HLT:
        vmcs_skip_instruction(v);
        if (v != m->vmcs01[cpu->index]) {
            /* L2's HLT that L1 does not intercept: L2 halts in the
             * hardware (activity state HLT, SDM 25.4.2), so that vmcs12's
             * preemption timer and events for L2 or L1 still end it */
            vmcs_set(v, VI_GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
            break;
        }
        /* the vCPU waits for an interrupt (vmm/irq.c) */
        irq_hlt(m, cpu->index);
        break;
    case EXIT_REASON_INTERRUPT_WINDOW:
    case EXIT_REASON_TPR_BELOW_THRESHOLD:
        break; /* the interrupt is injected before the next entry */
    case EXIT_REASON_XSETBV: {
        /* XCR0: x87 must be set, SSE required with... only bits 0,1 */
        uint64_t x = (cpu->regs[R_RAX] & 0xffffffffull) | (cpu->regs[R_RDX] << 32);
        int cpl = (int)((vmcs_get(v, VI_GUEST_SS_ACCESS_RIGHTS) >> 5) & 3);
        if (cpl != 0 || (uint32_t)cpu->regs[R_RCX] != 0 || !(x & 1) || (x & ~3ull))
            events_queue_exception(&m->events[cpu->index], EXC_GP, true, 0);
        else {
            cpu->xcr0 = x;
            vmcs_skip_instruction(v);
        }
        break;
    }
    case EXIT_REASON_EPT_VIOLATION: {
        /* MMIO: emulate the instruction with the access routed to the bus */
        if (vmcs_get(v, VI_IDT_VECTORING_INFO) & INTR_INFO_VALID) {
            /* event delivery touched non-RAM (an IDT, GDT or stack in MMIO
             * space): nothing can be emulated there, as in KVM */
            fprintf(stderr, "nvmx: cpu%d: event delivery accessed non-RAM address %#llx\n",
                    cpu->index, (unsigned long long)vmcs_get(v, VI_GUEST_PHYSICAL_ADDRESS));
            cpu_dump_state(cpu, stderr);
            finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
            break;
        }
        if (vmcs_get(v, VI_EXIT_QUALIFICATION) & 4) {
            fprintf(stderr, "nvmx: cpu%d fetches instructions from non-RAM address %#llx\n",
                    cpu->index, (unsigned long long)vmcs_get(v, VI_GUEST_PHYSICAL_ADDRESS));
            cpu_dump_state(cpu, stderr);
            finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
            break;
        }
        uint32_t r = cpu_vmcs_emulate(cpu, v, &emul_ops, m);
        if (r) {
            fprintf(stderr, "nvmx: exit %u during MMIO emulation\n", r);
            finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
        }
        break;
    }
    case EXIT_REASON_VMCALL:
        if (m->opt.vmx_test && vmx_test_hypercall(m, cpu->index, v))
            break;
        nested_vmx_instruction(m, cpu->index, reason & 0xffff);
        break;
    case EXIT_REASON_VMCLEAR:
    case EXIT_REASON_VMLAUNCH:
    case EXIT_REASON_VMPTRLD:
    case EXIT_REASON_VMPTRST:
    case EXIT_REASON_VMREAD:
    case EXIT_REASON_VMRESUME:
    case EXIT_REASON_VMWRITE:
    case EXIT_REASON_VMXOFF:
    case EXIT_REASON_VMXON:
    case EXIT_REASON_INVEPT:
    case EXIT_REASON_INVVPID:
    case EXIT_REASON_GETSEC:
        nested_vmx_instruction(m, cpu->index, reason & 0xffff);
        break;
    case EXIT_REASON_INVD:
        /* caches are not modelled: INVD completes as a no-op */
        vmcs_skip_instruction(v);
        break;
    case EXIT_REASON_CR_ACCESS: {
        /* only CR4.VMXE is host-owned (IA32_VMX_CR4_FIXED0): the guest
         * sees it through the read shadow */
        uint64_t q = vmcs_get(v, VI_EXIT_QUALIFICATION);
        int reg = (int)((q >> 8) & 15);
        uint64_t val = reg == R_RSP ? vmcs_get(v, VI_GUEST_RSP) : cpu->regs[reg];
        uint64_t shadow = vmcs_get(v, VI_CR4_READ_SHADOW);
        if ((q & 0x3f) == 4 && ((val ^ shadow) & CR4_VMXE)) {
            handle_cr4_vmxe(m, cpu, v, val);
            break;
        }
        if (m->opt.vmx_test && vmx_test_exit(m, cpu->index, v, reason & 0xffff))
            break;
        fprintf(stderr, "nvmx: cpu%d: unexpected control-register exit %#llx\n", cpu->index,
                (unsigned long long)q);
        finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
        break;
    }
    case EXIT_REASON_TRIPLE_FAULT:
        fprintf(stderr, "nvmx: triple fault on cpu%d; shutting down\n", cpu->index);
        cpu_dump_state(cpu, stderr);
        finish(m, MACHINE_SHUTDOWN, NVMX_EXIT_TRIPLE_FAULT);
        break;
    case EXIT_REASON_VM_ENTRY_FAILURE_INVALID_GUEST_STATE:
        fprintf(stderr, "nvmx: cpu%d: VM entry failed: invalid guest state (qualification %llu)\n",
                cpu->index, (unsigned long long)vmcs_get(v, VI_EXIT_QUALIFICATION));
        cpu_dump_state(cpu, stderr);
        finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
        break;
    case EXIT_REASON_MONITOR_TRAP_FLAG:
        if (m->opt.vmx_test && vmx_test_step_done(m, cpu->index, v))
            break;
        /* fall through */
    default:
        if (m->opt.vmx_test && vmx_test_exit(m, cpu->index, v, reason & 0xffff))
            break;
        fprintf(stderr, "nvmx: cpu%d: unhandled VM exit %u (%s), qualification %#llx\n", cpu->index,
                reason, vmm_exit_name(reason),
                (unsigned long long)vmcs_get(v, VI_EXIT_QUALIFICATION));
        cpu_dump_state(cpu, stderr);
        finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
        break;
    }
}

/* The VMX-preemption timer for the rest of the slice, shortened when the
 * monitor asked to run at an exact instruction count (m->stop_at). */
static uint64_t slice_left(const struct machine *m, const struct cpu *cpu, uint64_t end,
                           uint64_t total)
{
    uint64_t left = end - cpu->icount;
    if (m->stop_at > total && m->stop_at - total < left)
        left = m->stop_at - total;
    return left;
}

int vmm_run(struct machine *m)
{
    uint64_t total = machine_insns(m); /* -max-insns counts from power-on */
    while (m->state == MACHINE_RUNNING) {
        /* a restored run resumes inside the slice it was saved in */
        bool any = m->sched_end != 0;
        for (int i = m->sched_cpu; i < m->nr_cpus && m->state == MACHINE_RUNNING; i++) {
            struct cpu *cpu = m->cpus[i];
            bool resumed = m->sched_end != 0;
            if (!resumed && !irq_vcpu_runnable(m, i)) /* halted, waiting for SIPI, shut down */
                continue;
            any = true;
            uint64_t end = resumed ? m->sched_end : cpu->icount + m->opt.quantum;
            m->sched_cpu = i;
            m->sched_end = end;
            while (m->state == MACHINE_RUNNING && cpu->icount < end) {
                uint64_t before = cpu->icount;
                /* each slice is armed on the VMX-preemption timer; it ends
                 * at the next timer deadline at the latest (an event for L1
                 * may end guest mode here: a nested VM exit) */
                uint64_t slice = irq_before_entry(m, i, slice_left(m, cpu, end, total));
                if (!slice)
                    break; /* halted */
                struct vmcs *v = nested_current_vmcs(m, i);
                bool l2 = v != m->vmcs01[i];
                if (l2)
                    nested_before_l2_entry(m, i, slice);
                else
                    vmcs_set(v, VI_VMX_PREEMPTION_TIMER_VALUE, slice);
                events_before_entry(&m->events[i], v);
                int err = cpu_vmentry(cpu, v, v->launched);
                if (err) {
                    fprintf(stderr, "nvmx: VM entry to %s failed (VM-instruction error %d)\n",
                            l2 ? "vmcs02" : "vmcs01", err);
                    finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
                    break;
                }
                uint32_t r = (uint32_t)vmcs_get(v, VI_EXIT_REASON);
                if (!(r & EXIT_REASON_ENTRY_FAILURE))
                    events_after_exit(&m->events[i], v);
                irq_after_exit(m, i);
                if (l2) {
                    /* BRIEF decision 3: L0 sees every L2 exit first */
                    if (!nested_l2_exit(m, i, r))
                        handle_exit(m, cpu, v, r);
                } else {
                    m->exit_counts[r & 0xffff]++;
                    handle_exit(m, cpu, v, r);
                }
                total += cpu->icount - before; /* also what L0 emulated */
                if (m->dbgexit && m->dbgexit->requested)
                    finish(m, MACHINE_EXITED, m->dbgexit->status);
                if (m->poll && m->state == MACHINE_RUNNING)
                    m->poll(m, total); /* monitor: QMP, snapshots, migration */
                if (m->opt.max_insns && total >= m->opt.max_insns) {
                    fprintf(stderr, "nvmx: instruction limit %llu reached\n",
                            (unsigned long long)m->opt.max_insns);
                    finish(m, MACHINE_EXITED, NVMX_EXIT_INSN_LIMIT);
                }
            }
            m->sched_end = 0;
        }
        m->sched_cpu = 0;
        if (!any && !irq_idle(m)) {
            fprintf(stderr, "nvmx: every vCPU halted with nothing to wake it\n");
            finish(m, MACHINE_SHUTDOWN, NVMX_EXIT_HALTED);
        }
    }
    return m->exit_status;
}

void vmm_print_stats(const struct machine *m, FILE *out)
{
    uint64_t insns = 0;
    for (int i = 0; i < m->nr_cpus; i++)
        insns += m->cpus[i]->icount;
    fprintf(out, "nvmx stats: %llu instructions retired\n", (unsigned long long)insns);
    fprintf(out, "nvmx stats: VM exits by reason (level 1):\n");
    for (int r = 0; r < NR_EXIT_REASONS; r++)
        if (m->exit_counts[r])
            fprintf(out, "  %3d %-32s %llu\n", r, vmm_exit_name((uint32_t)r),
                    (unsigned long long)m->exit_counts[r]);
    nested_print_stats(m, out);
}
