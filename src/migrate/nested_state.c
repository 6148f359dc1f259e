/* The NEST section (see nested_state.h). */
#include "nested_state.h"

#include <stdio.h>
#include <string.h>

#include "cpu/vmx_caps.h"
#include "state.h"

void nested_image_of(const struct machine *m, int i, struct nested_image *img)
{
    const struct nested_vcpu *n = m->nested[i];
    memset(img, 0, sizeof(*img));
    img->vmx_offered = nested_enabled(m);
    img->vmxon = n->vmxon;
    img->guest_mode = n->guest_mode;
    img->run_pending = n->run_pending;
    img->preempt_armed = n->preempt_armed;
    img->vmxon_ptr = n->vmxon_ptr;
    img->current_ptr = n->current_ptr;
    img->preempt_deadline = n->preempt_deadline;
    img->feature_control = n->feature_control;
    img->vmcs12 = n->vmcs12;
    img->l2 = n->vmcs02; /* L2's state as the last exit left it */
    img->ept02 = n->ept02;
    memcpy(img->l2_exits, n->l2_exits, sizeof(img->l2_exits));
    memcpy(img->reflected, n->reflected, sizeof(img->reflected));
    img->nested_entries = n->nested_entries;
}

const char *nested_image_fields(struct xf *x, struct nested_image *img, char *msg, size_t len)
{
    x_bool(x, &img->vmx_offered);
    x_bool(x, &img->vmxon);
    x_bool(x, &img->guest_mode);
    x_bool(x, &img->run_pending);
    x_bool(x, &img->preempt_armed);
    x_u64(x, &img->vmxon_ptr);
    x_u64(x, &img->current_ptr);
    x_u64(x, &img->preempt_deadline);
    x_u64(x, &img->feature_control);
    x_u64(x, &img->ept02.pool);
    x_u32(x, &img->ept02.pages);
    x_u32(x, &img->ept02.used);
    x_u64(x, &img->ept02.eptp12);
    x_u64(x, &img->ept02.resets);
    x_u64(x, &img->nested_entries);
    uint32_t nr = NR_EXIT_REASONS;
    x_u32(x, &nr);
    if (x_loading(x) && (x->r->bad || nr != NR_EXIT_REASONS))
        return "wrong number of exit reasons";
    for (int r = 0; r < NR_EXIT_REASONS; r++) {
        x_u64(x, &img->l2_exits[r]);
        x_u64(x, &img->reflected[r]);
    }
    if (!x_loading(x)) {
        vmcs_state_fields(x, &img->vmcs12);
        vmcs_state_fields(x, &img->l2);
        return NULL;
    }
    if (x->r->bad)
        return "wrong length";
    const char *e = vmcs_state_load(x, &img->vmcs12, msg, len);
    if (e)
        return e;
    return vmcs_state_load(x, &img->l2, msg, len);
}

static bool region_ok(const struct machine *m, uint64_t a)
{
    return !(a & 0xfff) && physmem_guest_ptr(&m->mem, a, 4096);
}

const char *nested_image_check(const struct machine *m, const struct nested_image *img, char *msg,
                               size_t len)
{
    if (img->vmx_offered != nested_enabled(m))
        return img->vmx_offered ? "the image offers VMX to the guest, this machine does not (-cpu)"
                                : "this machine offers VMX, the image's does not (-cpu)";
    if (img->feature_control & ~7ull)
        return "reserved IA32_FEATURE_CONTROL bits";
    if (!img->vmx_offered && (img->vmxon || img->feature_control))
        return "VMX state without VMX";
    if (img->vmxon && !region_ok(m, img->vmxon_ptr))
        return "the VMXON region is not in guest RAM";
    if (img->current_ptr != ~0ull) {
        if (!img->vmxon)
            return "a current VMCS outside VMX operation";
        if (!region_ok(m, img->current_ptr) || img->current_ptr == img->vmxon_ptr)
            return "the current-VMCS pointer is not a VMCS region in guest RAM";
        if (img->vmcs12.revision_id != VMCS12_REVISION)
            return "the cached vmcs12 has a wrong revision identifier";
    }
    if (img->run_pending && !img->guest_mode)
        return "nested run pending outside guest mode";
    if (img->preempt_armed && !img->guest_mode)
        return "an armed vmcs12 preemption timer outside guest mode";
    if (img->guest_mode) {
        if (img->current_ptr == ~0ull || !img->vmcs12.launched)
            return "guest mode without a launched current vmcs12";
        /* vmcs12 passed these checks when L1 entered L2 (SDM 27.2) */
        struct vmx_caps caps;
        nested_caps_get(&caps);
        if (vmx_check_controls(&img->vmcs12, &caps, &m->mem) ||
            (vmx_check_host_state_mode(&img->vmcs12, &caps, true) &&
             vmx_check_host_state_mode(&img->vmcs12, &caps, false)))
            return "the vmcs12 of a running L2 has invalid controls or host state";
    }
    const struct ept02 *e = &img->ept02;
    if (e->pool) {
        /* L0's private pages are laid out identically (CONF checks it) */
        if ((e->pool & 0xfff) || e->pool < m->mem.priv_base ||
            e->pool + (uint64_t)e->pages * 4096 > m->mem.priv_base + m->mem.priv_used ||
            !e->pages || e->used > e->pages || !e->used)
            return "EPT02 pool outside L0's private memory";
    } else if (e->used || e->pages) {
        return "EPT02 bookkeeping without a pool";
    }
    for (int r = 0; r < NR_EXIT_REASONS; r++)
        if (img->reflected[r] > img->l2_exits[r])
            return "more reflected than L2 exits";
    (void)msg;
    (void)len;
    return NULL;
}

void nested_image_commit(struct machine *m, int i, const struct nested_image *img)
{
    struct nested_vcpu *n = m->nested[i];
    n->vmxon = img->vmxon;
    n->guest_mode = img->guest_mode;
    n->run_pending = img->run_pending;
    n->preempt_armed = img->preempt_armed;
    n->vmxon_ptr = img->vmxon_ptr;
    n->current_ptr = img->current_ptr;
    n->preempt_deadline = img->preempt_deadline;
    n->feature_control = img->feature_control;
    n->vmcs12 = img->vmcs12;
    n->ept02 = img->ept02;
    memcpy(n->l2_exits, img->l2_exits, sizeof(n->l2_exits));
    memcpy(n->reflected, img->reflected, sizeof(n->reflected));
    n->nested_entries = img->nested_entries;
    if (n->guest_mode)
        nested_rebuild_vmcs02(m, i, &img->l2);
}
