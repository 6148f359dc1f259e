/* The nested-VMX section of a machine image (`NEST`, one per vCPU), BRIEF
 * decision 5: the VMXON flag and region, the current-VMCS pointer, guest
 * mode and nested-run-pending, the cached vmcs12, the preemption-timer
 * deadline, IA32_FEATURE_CONTROL; while L2 runs, L2's guest state as the
 * hardware last saved it in vmcs02 (vmcs02 itself is rebuilt on restore
 * from vmcs12 plus that state); L0's EPT02 pool bookkeeping (its tables are
 * L0-private pages saved with RAM) and the per-level exit counts. Saving
 * never causes a VM exit: L1 cannot tell. */
#ifndef NVMX_MIGRATE_NESTED_STATE_H
#define NVMX_MIGRATE_NESTED_STATE_H

#include "board/machine.h"
#include "stream.h"
#include "vmm/nested/nested.h"

struct nested_image {
    bool vmx_offered; /* must match the loading machine's -cpu */
    bool vmxon, guest_mode, run_pending, preempt_armed;
    uint64_t vmxon_ptr, current_ptr, preempt_deadline, feature_control;
    struct vmcs vmcs12; /* the cached vmcs12 */
    struct vmcs l2;     /* vmcs02 (only its guest-state fields are used) */
    struct ept02 ept02;
    uint64_t l2_exits[NR_EXIT_REASONS], reflected[NR_EXIT_REASONS], nested_entries;
};

void nested_image_of(const struct machine *m, int cpu_index, struct nested_image *img);
/* Saving (x->w) writes img; loading (x->r) fills it and returns NULL or an
 * error message. */
const char *nested_image_fields(struct xf *x, struct nested_image *img, char *msg, size_t len);
/* Every field against the loading machine (NULL: acceptable). */
const char *nested_image_check(const struct machine *m, const struct nested_image *img, char *msg,
                               size_t len);
void nested_image_commit(struct machine *m, int cpu_index, const struct nested_image *img);

#endif
