/* Unit tests of nested VMX host code: the vmcs12 layout in L1 memory
 * (BRIEF decision 1), the capabilities offered to L1 (a subset of the
 * hardware's), and the VMX MSRs / IA32_FEATURE_CONTROL. */
#include <string.h>

#include "board/machine.h"
#include "unit.h"
#include "vmm/nested/nested.h"

static struct machine *new_machine(bool no_vmx)
{
    struct machine *m = calloc(1, sizeof(*m));
    if (!m || physmem_init(&m->mem, 16ull << 20)) {
        free(m);
        return NULL;
    }
    m->opt.no_vmx = no_vmx;
    m->nr_cpus = 1;
    if (nested_vcpu_init(m, 0)) {
        physmem_destroy(&m->mem);
        free(m);
        return NULL;
    }
    return m;
}

static void free_machine(struct machine *m)
{
    free(m->nested[0]);
    physmem_destroy(&m->mem);
    free(m);
}

UNIT_TEST(vmcs12_layout_round_trip)
{
    struct machine *m = new_machine(false);
    CHECK(m);
    struct vmcs v, w;
    memset(&v, 0, sizeof(v));
    v.revision_id = VMCS12_REVISION;
    v.launched = true;
    for (int i = 0; i < NR_VMCS_FIELDS; i++)
        v.f[i] = (0x0101010101010101ull * (uint64_t)(i + 1)) & vmcs_field_mask((enum vmcs_index)i);
    CHECK_EQ(vmcs12_store(m, 0x3000, &v), 0);
    /* the documented layout: revision, abort, launch state, 8-byte slots */
    const uint8_t *p = physmem_guest_ptr(&m->mem, 0x3000, 4096);
    uint32_t rev, launch;
    uint64_t rip;
    memcpy(&rev, p, 4);
    memcpy(&launch, p + 8, 4);
    memcpy(&rip, p + 16 + 8 * VI_GUEST_RIP, 8);
    CHECK_EQ(rev, VMCS12_REVISION);
    CHECK_EQ(launch, 1);
    CHECK_EQ(rip, v.f[VI_GUEST_RIP]);
    memset(&w, 0xff, sizeof(w));
    CHECK_EQ(vmcs12_load(m, 0x3000, &w), 0);
    CHECK_EQ(w.revision_id, VMCS12_REVISION);
    CHECK(w.launched);
    CHECK(memcmp(w.f, v.f, sizeof(v.f)) == 0);
    CHECK_EQ(vmcs12_set_launch_state(m, 0x3000, false), 0);
    CHECK_EQ(vmcs12_load(m, 0x3000, &w), 0);
    CHECK(!w.launched);
    free_machine(m);
}

UNIT_TEST(vmcs12_only_in_guest_ram)
{
    struct machine *m = new_machine(false);
    CHECK(m);
    struct vmcs v;
    memset(&v, 0, sizeof(v));
    /* L0's private region follows RAM in host-physical space */
    CHECK_EQ(vmcs12_load(m, m->mem.priv_base, &v), -1);
    CHECK_EQ(vmcs12_store(m, m->mem.priv_base, &v), -1);
    CHECK_EQ(vmcs12_load(m, (16ull << 20) - 512, &v), -1); /* runs past RAM */
    CHECK_EQ(vmcs12_load(m, 0xfee00000, &v), -1);
    CHECK_EQ(vmcs12_write_abort(m, m->mem.priv_base, 1), -1);
    free_machine(m);
}

static bool subset(uint64_t nested, uint64_t hw)
{
    uint32_t n0 = (uint32_t)nested, n1 = (uint32_t)(nested >> 32);
    uint32_t h0 = (uint32_t)hw, h1 = (uint32_t)(hw >> 32);
    return n0 == h0 && (n1 & ~h1) == 0 && (n0 & ~n1) == 0;
}

UNIT_TEST(nested_caps_subset_of_hardware)
{
    struct vmx_caps c;
    const struct vmx_caps *hw = vmx_hw_caps();
    nested_caps_get(&c);
    CHECK_EQ(c.basic & 0x7fffffff, VMCS12_REVISION);
    CHECK_EQ((c.basic >> 32) & 0x1fff, 4096);
    CHECK(c.basic & (1ull << 55));
    CHECK(subset(c.pinbased, hw->pinbased));
    CHECK(subset(c.procbased, hw->procbased));
    CHECK(subset(c.procbased2, hw->procbased2));
    CHECK(subset(c.exit, hw->exit));
    CHECK(subset(c.entry, hw->entry));
    CHECK_EQ(c.ept_vpid_cap & ~hw->ept_vpid_cap, 0);
    CHECK_EQ(c.ept_vpid_cap & (1ull << 21), 0); /* no EPT A/D for L1 */
    /* not offered because the nested code does not implement them */
    CHECK_EQ((c.procbased2 >> 32) & PROC2_ENABLE_VM_FUNCTIONS, 0);
    CHECK_EQ((c.procbased2 >> 32) & PROC2_ENABLE_PML, 0);
    CHECK_EQ((c.procbased2 >> 32) & PROC2_VMCS_SHADOWING, 0);
    CHECK_EQ((c.pinbased >> 32) & PIN_PROCESS_POSTED_INTERRUPTS, 0);
}

UNIT_TEST(vmx_msrs)
{
    struct machine *m = new_machine(false);
    CHECK(m);
    uint64_t v = 0;
    bool ok = false;
    CHECK(nested_msr_read(m, 0, 0x480, &v, &ok));
    CHECK(ok);
    CHECK_EQ(v & 0x7fffffff, VMCS12_REVISION);
    /* the non-TRUE MSRs report the default1 bits as must-be-one */
    CHECK(nested_msr_read(m, 0, 0x481, &v, &ok));
    CHECK_EQ((uint32_t)v & 0x16, 0x16);
    CHECK(nested_msr_read(m, 0, 0x48d, &v, &ok));
    CHECK_EQ((uint32_t)v & 0x16, 0);
    CHECK(nested_msr_read(m, 0, 0x491, &v, &ok)); /* VMFUNC not offered */
    CHECK(!ok);
    CHECK(!nested_msr_read(m, 0, 0x10, &v, &ok)); /* not a VMX MSR */
    CHECK(nested_msr_read(m, 0, 0x3a, &v, &ok));
    CHECK(ok);
    CHECK_EQ(v, 5);
    CHECK(nested_msr_write(m, 0, 0x3a, 1, &ok));
    CHECK(!ok); /* locked */
    CHECK(nested_msr_write(m, 0, 0x480, 0, &ok));
    CHECK(!ok); /* read-only */
    free_machine(m);
    m = new_machine(true);
    CHECK(m);
    CHECK(nested_msr_read(m, 0, 0x480, &v, &ok));
    CHECK(!ok); /* -cpu ...,-vmx: the MSRs do not exist */
    free_machine(m);
}

int main(void)
{
    UNIT_RUN(vmcs12_layout_round_trip);
    UNIT_RUN(vmcs12_only_in_guest_ram);
    UNIT_RUN(nested_caps_subset_of_hardware);
    UNIT_RUN(vmx_msrs);
    UNIT_DONE();
}
