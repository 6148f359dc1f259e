/* L0's run loop: runs the vCPUs round-robin in fixed instruction quanta on
 * one host thread (BRIEF decision 6) and handles every VM exit by its SDM
 * basic exit reason (SDM Appendix C). */
#include "run.h"

#include <stdio.h>
#include <string.h>

#include "cpu/cpu_internal.h"
#include "cpuid.h"
#include "dev/debug_exit.h"
#include "vmcs01.h"
#include "vmx_test.h"

static const char *const exit_names[NR_EXIT_REASONS] = {
    [EXIT_REASON_EXCEPTION_OR_NMI] = "EXCEPTION_OR_NMI",
    [EXIT_REASON_EXTERNAL_INTERRUPT] = "EXTERNAL_INTERRUPT",
    [EXIT_REASON_TRIPLE_FAULT] = "TRIPLE_FAULT",
    [EXIT_REASON_INTERRUPT_WINDOW] = "INTERRUPT_WINDOW",
    [EXIT_REASON_TASK_SWITCH] = "TASK_SWITCH",
    [EXIT_REASON_CPUID] = "CPUID",
    [EXIT_REASON_HLT] = "HLT",
    [EXIT_REASON_INVD] = "INVD",
    [EXIT_REASON_VMCALL] = "VMCALL",
    [EXIT_REASON_IO_INSTRUCTION] = "IO_INSTRUCTION",
    [EXIT_REASON_RDMSR] = "RDMSR",
    [EXIT_REASON_WRMSR] = "WRMSR",
    [EXIT_REASON_EPT_VIOLATION] = "EPT_VIOLATION",
    [EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED] = "PREEMPTION_TIMER (time slice)",
    [EXIT_REASON_XSETBV] = "XSETBV",
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

static uint64_t mmio_read_cb(void *opaque, uint64_t gpa, int size)
{
    struct machine *m = opaque;
    return iobus_read(&m->mmio, gpa, size);
}

static void mmio_write_cb(void *opaque, uint64_t gpa, int size, uint64_t val)
{
    struct machine *m = opaque;
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
    cpuid_model(cpu, m->nr_cpus, (uint32_t)cpu->regs[R_RAX], (uint32_t)cpu->regs[R_RCX], r);
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
    switch (idx) {
    case 0x8b: /* IA32_BIOS_SIGN_ID (microcode revision) */
        ok = true;
        break;
    case 0xfe: /* IA32_MTRRCAP: no MTRRs */
    case 0x17: /* IA32_PLATFORM_ID */
        ok = !write;
        break;
    default:
        break;
    }
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

static void handle_exit(struct machine *m, struct cpu *cpu, struct vmcs *v, uint32_t reason)
{
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
        /* Nothing can wake a halted CPU yet (no interrupt controller):
         * the guest has stopped for good. */
        vmcs_skip_instruction(v);
        fprintf(stderr, "nvmx: cpu%d halted with nothing to wake it (RIP %#llx)\n", cpu->index,
                (unsigned long long)vmcs_get(v, VI_GUEST_RIP));
        finish(m, MACHINE_SHUTDOWN, NVMX_EXIT_HALTED);
        break;
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
        /* fall through */
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
        /* VMX is not exposed to the guest yet: these are #UD */
        events_queue_exception(&m->events[cpu->index], EXC_UD, false, 0);
        break;
    case EXIT_REASON_INVD:
        /* caches are not modelled: INVD completes as a no-op */
        vmcs_skip_instruction(v);
        break;
    case EXIT_REASON_CR_ACCESS: {
        /* only CR4.VMXE is host-owned: setting it is #GP(0) because VMX is
         * not offered to the guest (CPUID.1:ECX.VMX = 0) */
        uint64_t q = vmcs_get(v, VI_EXIT_QUALIFICATION);
        int reg = (int)((q >> 8) & 15);
        uint64_t val = reg == R_RSP ? vmcs_get(v, VI_GUEST_RSP) : cpu->regs[reg];
        if ((q & 0x3f) == 4 && (val & CR4_VMXE)) {
            events_queue_exception(&m->events[cpu->index], EXC_GP, true, 0);
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
            struct vmcs *v = m->vmcs01[i];
            uint64_t act = vmcs_get(v, VI_GUEST_ACTIVITY_STATE);
            if (act == ACTIVITY_WAIT_SIPI || act == ACTIVITY_SHUTDOWN)
                continue;
            any = true;
            uint64_t end = m->sched_end ? m->sched_end : cpu->icount + m->opt.quantum;
            m->sched_cpu = i;
            m->sched_end = end;
            while (m->state == MACHINE_RUNNING && cpu->icount < end) {
                uint64_t before = cpu->icount;
                /* each slice is armed on the VMX-preemption timer */
                vmcs_set(v, VI_VMX_PREEMPTION_TIMER_VALUE, slice_left(m, cpu, end, total));
                events_before_entry(&m->events[i], v);
                int err = cpu_vmentry(cpu, v, v->launched);
                if (err) {
                    fprintf(stderr, "nvmx: VM entry to vmcs01 failed (VM-instruction error %d)\n",
                            err);
                    finish(m, MACHINE_ERROR, NVMX_EXIT_INTERNAL);
                    break;
                }
                uint32_t r = (uint32_t)vmcs_get(v, VI_EXIT_REASON);
                if (!(r & EXIT_REASON_ENTRY_FAILURE))
                    events_after_exit(&m->events[i], v);
                m->exit_counts[r & 0xffff]++;
                handle_exit(m, cpu, v, r);
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
        if (!any)
            finish(m, MACHINE_SHUTDOWN, NVMX_EXIT_HALTED);
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
}
