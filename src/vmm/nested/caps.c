/* What L1 is offered (BRIEF "What L1 sees"): CPUID.1:ECX.VMX, the
 * IA32_FEATURE_CONTROL MSR and the IA32_VMX_* capability MSRs (SDM
 * Appendix A), describing exactly the hardware's capabilities restricted to
 * what this nested implementation supports. */
#include <string.h>

#include "board/machine.h"
#include "cpu/vmcs_fields.h"
#include "nested.h"

/* Controls the nested code implements (it reflects the exits they cause,
 * merges them into vmcs02, or emulates them). A hardware capability outside
 * these lists is not offered to L1. */
#define NESTED_PIN                                                                                 \
    (PIN_EXTERNAL_INTERRUPT_EXITING | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS |                         \
     PIN_ACTIVATE_VMX_PREEMPTION_TIMER)
#define NESTED_PROC2                                                                               \
    (PROC2_VIRTUALIZE_APIC_ACCESSES | PROC2_ENABLE_EPT | PROC2_DESCRIPTOR_TABLE_EXITING |          \
     PROC2_ENABLE_RDTSCP | PROC2_ENABLE_VPID | PROC2_WBINVD_EXITING | PROC2_UNRESTRICTED_GUEST |   \
     PROC2_PAUSE_LOOP_EXITING | PROC2_RDRAND_EXITING | PROC2_ENABLE_INVPCID |                      \
     PROC2_RDSEED_EXITING | PROC2_VIRTUALIZE_X2APIC_MODE | PROC2_APIC_REGISTER_VIRTUALIZATION |    \
     PROC2_VIRTUAL_INTERRUPT_DELIVERY | PROC2_USE_TSC_SCALING)
#define NESTED_EXIT                                                                                \
    (EXIT_DEFAULT1 | EXIT_CTL_SAVE_DEBUG_CONTROLS | EXIT_CTL_HOST_ADDRESS_SPACE_SIZE |             \
     EXIT_CTL_ACKNOWLEDGE_INTERRUPT_ON_EXIT | EXIT_CTL_SAVE_IA32_PAT | EXIT_CTL_LOAD_IA32_PAT |    \
     EXIT_CTL_SAVE_IA32_EFER | EXIT_CTL_LOAD_IA32_EFER | EXIT_CTL_SAVE_VMX_PREEMPTION_TIMER_VALUE)
#define NESTED_ENTRY                                                                               \
    (ENTRY_DEFAULT1 | ENTRY_CTL_LOAD_DEBUG_CONTROLS | ENTRY_CTL_IA32E_MODE_GUEST |                 \
     ENTRY_CTL_LOAD_IA32_PAT | ENTRY_CTL_LOAD_IA32_EFER)
/* EPT/VPID: everything the hardware has except EPT accessed/dirty flags
 * (bit 21), which the EPT12 walk of ept02.c does not maintain */
#define NESTED_EPT_VPID_CAP_MASK (~(1ull << 21))

static uint64_t restrict_ctls(uint64_t hw, uint64_t allowed1)
{
    uint32_t must1 = (uint32_t)hw;
    uint32_t may1 = (uint32_t)(hw >> 32) & (uint32_t)allowed1;
    return must1 | ((uint64_t)(may1 | must1) << 32);
}

void nested_caps_get(struct vmx_caps *c)
{
    const struct vmx_caps *hw = vmx_hw_caps();
    *c = *hw;
    /* revision, 4 KiB regions, write-back, INS/OUTS information, TRUE MSRs */
    c->basic = VMCS12_REVISION | (4096ull << 32) | (6ull << 50) | (1ull << 54) | (1ull << 55);
    c->pinbased = restrict_ctls(hw->pinbased, NESTED_PIN | PIN_DEFAULT1);
    c->procbased = hw->procbased; /* every primary control is supported */
    c->procbased2 = restrict_ctls(hw->procbased2, NESTED_PROC2);
    c->exit = restrict_ctls(hw->exit, NESTED_EXIT);
    c->entry = restrict_ctls(hw->entry, NESTED_ENTRY);
    c->ept_vpid_cap = hw->ept_vpid_cap & NESTED_EPT_VPID_CAP_MASK;
}

bool nested_enabled(const struct machine *m)
{
    return !m->opt.no_vmx;
}

/* IA32_VMX_VMCS_ENUM (SDM A.9): bits 9:1 = the highest index value of any
 * supported field encoding */
static uint64_t vmcs_enum(void)
{
    uint32_t hi = 0;
    for (int i = 0; i < NR_VMCS_FIELDS; i++) {
        uint32_t idx = (vmcs_fields[i].encoding >> 1) & 0x1ff;
        if (idx > hi)
            hi = idx;
    }
    return (uint64_t)hi << 1;
}

bool nested_msr_read(struct machine *m, int cpu_index, uint32_t msr, uint64_t *val, bool *ok)
{
    if (msr != 0x3a && (msr < 0x480 || msr > 0x491))
        return false;
    *ok = false;
    if (!nested_enabled(m))
        return true; /* the MSRs do not exist: #GP */
    struct vmx_caps c;
    nested_caps_get(&c);
    *ok = true;
    switch (msr) {
    case 0x3a:
        *val = m->nested[cpu_index]->feature_control;
        break;
    case 0x480:
        *val = c.basic;
        break;
    case 0x481: /* the non-TRUE MSRs: default1 bits must be 1 */
        *val = c.pinbased | PIN_DEFAULT1;
        break;
    case 0x482:
        *val = c.procbased | PROC_DEFAULT1;
        break;
    case 0x483:
        *val = c.exit | EXIT_DEFAULT1;
        break;
    case 0x484:
        *val = c.entry | ENTRY_DEFAULT1;
        break;
    case 0x485:
        *val = c.misc;
        break;
    case 0x486:
        *val = c.cr0_fixed0;
        break;
    case 0x487:
        *val = c.cr0_fixed1;
        break;
    case 0x488:
        *val = c.cr4_fixed0;
        break;
    case 0x489:
        *val = c.cr4_fixed1;
        break;
    case 0x48a:
        *val = vmcs_enum();
        break;
    case 0x48b:
        *val = c.procbased2;
        break;
    case 0x48c:
        *val = c.ept_vpid_cap;
        break;
    case 0x48d:
        *val = c.pinbased;
        break;
    case 0x48e:
        *val = c.procbased;
        break;
    case 0x48f:
        *val = c.exit;
        break;
    case 0x490:
        *val = c.entry;
        break;
    default: /* 0x491 IA32_VMX_VMFUNC: VM functions are not offered */
        *ok = false;
        break;
    }
    return true;
}

bool nested_msr_write(struct machine *m, int cpu_index, uint32_t msr, uint64_t val, bool *ok)
{
    if (msr != 0x3a && (msr < 0x480 || msr > 0x491))
        return false;
    *ok = false;
    if (!nested_enabled(m) || msr != 0x3a)
        return true; /* the capability MSRs are read-only */
    struct nested_vcpu *n = m->nested[cpu_index];
    /* IA32_FEATURE_CONTROL (SDM Vol. 4, 23.7): writable until bit 0 (lock)
     * is set; only lock, VMXON in/outside SMX are implemented */
    if ((n->feature_control & 1) || (val & ~7ull))
        return true;
    n->feature_control = val;
    *ok = true;
    return true;
}
