/* L0's VMX test mode: see vmx_test.h. */
#include "vmx_test.h"

#include "cpu/cpu_internal.h"
#include "vmcs01.h"

/* The controls a test may change and L0 restores while stepping. */
static const enum vmcs_index test_fields[8] = {
    VI_PIN_BASED_VM_EXEC_CONTROL, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL,
    VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL, VI_EXCEPTION_BITMAP,
    VI_CR0_GUEST_HOST_MASK, VI_CR4_GUEST_HOST_MASK,
    VI_CR3_TARGET_COUNT, VI_PRIMARY_VM_EXIT_CONTROLS,
};

void vmx_test_init(struct machine *m, int vcpu, const struct vmcs *v)
{
    for (int i = 0; i < 8; i++)
        m->vmx_test[vcpu].base[i] = vmcs_get(v, test_fields[i]);
}

static void set_controls(struct vmcs *v, const uint64_t *vals)
{
    for (int i = 0; i < 8; i++)
        vmcs_set(v, test_fields[i], vals[i]);
}

bool vmx_test_hypercall(struct machine *m, int vcpu, struct vmcs *v)
{
    struct cpu *cpu = m->cpus[vcpu];
    struct vmx_test_state *t = &m->vmx_test[vcpu];
    uint64_t *r = cpu->regs;
    switch ((uint32_t)r[R_RAX]) {
    case VMX_TEST_SET:
        /* never the guest-state, host-state or L0's EPT/bitmap pointers */
        if (((r[R_RBX] >> 10) & 3) != 0 || r[R_RBX] == VMCS_EPT_POINTER ||
            r[R_RBX] == VMCS_MSR_BITMAP_ADDR || r[R_RBX] == VMCS_IO_BITMAP_A_ADDR ||
            r[R_RBX] == VMCS_IO_BITMAP_B_ADDR || r[R_RBX] == VMCS_VIRTUAL_APIC_PAGE_ADDR ||
            r[R_RBX] == VMCS_APIC_ACCESS_ADDR || r[R_RBX] == VMCS_VM_ENTRY_MSR_LOAD_ADDR ||
            r[R_RBX] == VMCS_VM_EXIT_MSR_STORE_ADDR) {
            r[R_RAX] = 13;
            break;
        }
        r[R_RAX] = (uint64_t)vmcs_write_encoded(v, r[R_RBX], r[R_RCX], false);
        break;
    case VMX_TEST_GET: {
        uint64_t val = 0;
        r[R_RBX] = (uint64_t)vmcs_read_encoded(v, r[R_RBX], &val);
        r[R_RAX] = val;
        break;
    }
    case VMX_TEST_COUNT:
        r[R_RAX] = r[R_RBX] < NR_EXIT_REASONS ? m->exit_counts[r[R_RBX]] : 0;
        break;
    case VMX_TEST_LAST:
        r[R_RAX] = t->last[0];
        r[R_RBX] = t->last[1];
        r[R_RCX] = t->last[2];
        r[R_RDX] = t->last[3];
        r[R_RSI] = t->last[4];
        break;
    case VMX_TEST_RESET:
        set_controls(v, t->base);
        break;
    default:
        return false;
    }
    vmcs_skip_instruction(v);
    return true;
}

bool vmx_test_exit(struct machine *m, int vcpu, struct vmcs *v, uint32_t reason)
{
    struct vmx_test_state *t = &m->vmx_test[vcpu];
    t->last[0] = reason;
    t->last[1] = vmcs_get(v, VI_EXIT_QUALIFICATION);
    t->last[2] = vmcs_get(v, VI_VM_EXIT_INSTRUCTION_LENGTH);
    t->last[3] = vmcs_get(v, VI_VM_EXIT_INSTRUCTION_INFO);
    t->last[4] = vmcs_get(v, VI_VM_EXIT_INTERRUPTION_INFO);
    if (reason == EXIT_REASON_EXCEPTION_OR_NMI) {
        /* reflect the intercepted exception to the guest (SDM 27.6) */
        uint32_t info = (uint32_t)vmcs_get(v, VI_VM_EXIT_INTERRUPTION_INFO);
        vmcs_set(v, VI_VM_ENTRY_INTERRUPTION_INFO, info & ~0x1000u);
        vmcs_set(v, VI_VM_ENTRY_EXCEPTION_ERROR_CODE, vmcs_get(v, VI_VM_EXIT_INTERRUPTION_ERROR_CODE));
        vmcs_set(v, VI_VM_ENTRY_INSTRUCTION_LENGTH, vmcs_get(v, VI_VM_EXIT_INSTRUCTION_LENGTH));
        return true;
    }
    if (t->stepping)
        return false;
    /* complete the instruction by stepping it with L0's own controls and
     * the monitor trap flag (SDM 26.5.2), then restore the test's */
    for (int i = 0; i < 8; i++)
        t->held[i] = vmcs_get(v, test_fields[i]);
    set_controls(v, t->base);
    vmcs_set(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL,
             t->base[1] | PROC_MONITOR_TRAP_FLAG);
    t->stepping = true;
    return true;
}

bool vmx_test_step_done(struct machine *m, int vcpu, struct vmcs *v)
{
    struct vmx_test_state *t = &m->vmx_test[vcpu];
    if (!t->stepping)
        return false;
    set_controls(v, t->held);
    t->stepping = false;
    return true;
}
