/* The VMX capabilities of the processor (SDM Appendix A): what the
 * hardware implements, as the IA32_VMX_* MSRs would report it. VM entry
 * checks controls against these (SDM 26.2.1); nested VMX (issue 5) will
 * offer L1 the intersection of these with what L0 supports. */
#ifndef NVMX_CPU_VMX_CAPS_H
#define NVMX_CPU_VMX_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "physmem.h"
#include "vmcs.h"

#define VMX_REVISION_ID 1u

/* Default1 bits (SDM A.2-A.5): reserved bits that the non-TRUE MSRs force
 * to 1; with the TRUE MSRs some of them may be 0. */
#define PIN_DEFAULT1 0x16u
#define PROC_DEFAULT1 0x0401e172u
#define EXIT_DEFAULT1 0x00036dffu
#define ENTRY_DEFAULT1 0x000011ffu

struct vmx_caps {
    uint64_t basic;      /* IA32_VMX_BASIC (0x480) */
    uint64_t pinbased;   /* IA32_VMX_TRUE_PINBASED_CTLS: allowed-0 in 31:0, allowed-1 in 63:32 */
    uint64_t procbased;  /* IA32_VMX_TRUE_PROCBASED_CTLS */
    uint64_t procbased2; /* IA32_VMX_PROCBASED_CTLS2 */
    uint64_t exit;       /* IA32_VMX_TRUE_EXIT_CTLS */
    uint64_t entry;      /* IA32_VMX_TRUE_ENTRY_CTLS */
    uint64_t misc;       /* IA32_VMX_MISC */
    uint64_t cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
    uint64_t ept_vpid_cap; /* IA32_VMX_EPT_VPID_CAP */
};

/* The processor's capabilities (constant). */
const struct vmx_caps *vmx_hw_caps(void);

/* VM-entry checks (SDM 26.2, 26.3). Return 0 when they pass. */
int vmx_check_controls(const struct vmcs *v, const struct vmx_caps *caps,
                       const struct physmem *pm);                            /* else 7 */
int vmx_check_host_state(const struct vmcs *v, const struct vmx_caps *caps); /* else 8 */
/* The same for a processor in (in_ia32e) or outside IA-32e mode: the
 * host address-space size must match (SDM 27.2.3). */
int vmx_check_host_state_mode(const struct vmcs *v, const struct vmx_caps *caps, bool in_ia32e);
/* Returns 0, or 1 + the exit qualification of the failure exit 33 */
int vmx_check_guest_state(const struct vmcs *v, const struct vmx_caps *caps);

#endif
