/* Shadow EPT02 (BRIEF "Memory"): when L1 runs L2 with EPT (EPT12), the
 * hardware walks EPT02, which maps L2-physical addresses straight to
 * host-physical ones: EPT12 composed with EPT01. EPT01 maps L1's RAM
 * identically (L1-physical = host-physical for RAM), so the composition
 * is EPT12 restricted to L1 RAM. EPT02 is built lazily: it starts empty,
 * and each EPT violation of L2 walks EPT12 (in L1 memory, never L0's
 * private pages) and either maps the 4 KiB page with EPT12's permissions,
 * or reflects an EPT violation / misconfiguration to L1 with the
 * qualification EPT12 gives (SDM 29.3.3), or finds L1 MMIO that L0
 * emulates. INVEPT and a change of EPT12 pointer drop all of EPT02. */
#include <string.h>

#include "board/machine.h"
#include "cpu/ept.h"
#include "cpu/vmx.h"
#include "nested.h"

#define EPT02_POOL_PAGES 128 /* 512 KiB per vCPU; refilled from empty when full */
#define EPT_MT_WB (6ull << 3)

static uint64_t *table(struct machine *m, uint64_t hpa)
{
    return (uint64_t *)physmem_ptr(&m->mem, hpa, 4096);
}

int ept02_init(struct machine *m, int idx)
{
    /* allocated when the vCPU is created, so that L0's private memory has
     * the same layout in every run (snapshots compare it) */
    struct ept02 *e = &m->nested[idx]->ept02;
    e->pool = physmem_alloc_private(&m->mem, EPT02_POOL_PAGES * 4096ull);
    if (e->pool == UINT64_MAX) {
        e->pool = 0;
        return -1;
    }
    e->pages = EPT02_POOL_PAGES;
    e->used = 1; /* the root (zeroed) */
    return 0;
}

void ept02_reset(struct machine *m, int idx)
{
    struct ept02 *e = &m->nested[idx]->ept02;
    if (!e->pool)
        return;
    memset(table(m, e->pool), 0, (size_t)e->used * 4096);
    e->resets++;
    e->used = 1; /* the root */
    /* the hardware may hold translations through the old tables */
    cpu_invept(m->cpus[idx], 2);
}

static uint64_t alloc_table(struct machine *m, struct ept02 *e)
{
    if (e->used >= e->pages)
        return 0;
    return e->pool + 4096ull * e->used++;
}

/* Maps one 4 KiB page; returns 1 if an existing entry changed, 0 if it
 * was new, -1 when the pool is full. */
static int map_page(struct machine *m, struct ept02 *e, uint64_t gpa2, uint64_t hpa, uint32_t perms)
{
    uint64_t t = e->pool;
    for (int level = 4; level > 1; level--) {
        uint64_t *tab = table(m, t);
        unsigned i = (unsigned)(gpa2 >> (12 + 9 * (level - 1))) & 511;
        if (!(tab[i] & 7)) {
            uint64_t n = alloc_table(m, e);
            if (!n)
                return -1;
            tab = table(m, t);
            tab[i] = n | 7;
        }
        t = tab[i] & ~0xfffull & ((1ull << 52) - 1);
    }
    uint64_t *pt = table(m, t);
    unsigned i = (unsigned)(gpa2 >> 12) & 511;
    int changed = (pt[i] & 7) != 0;
    pt[i] = (hpa & ~0xfffull) | EPT_MT_WB | perms;
    return changed;
}

bool ept02_handle_violation(struct machine *m, int idx, uint32_t reason)
{
    struct nested_vcpu *n = m->nested[idx];
    struct ept02 *e = &n->ept02;
    const struct vmcs *v02 = &n->vmcs02;
    if (!e->pool) {
        fprintf(stderr, "nvmx: cpu%d: no memory for EPT02\n", idx);
        if (m->state == MACHINE_RUNNING) {
            m->state = MACHINE_ERROR;
            m->exit_status = 8;
        }
        return true;
    }
    if (reason == EXIT_REASON_EPT_MISCONFIG) {
        /* EPT02 is L0's own and never misconfigured; rebuild it anyway */
        ept02_reset(m, idx);
        return true;
    }
    uint64_t q02 = vmcs_get(v02, VI_EXIT_QUALIFICATION);
    uint64_t gpa2 = vmcs_get(v02, VI_GUEST_PHYSICAL_ADDRESS);
    uint32_t acc = (uint32_t)(q02 & 7); /* bit 0 read, 1 write, 2 fetch = EPT_R/W/X */
    struct ept_result r;
    ept_translate_guest(&m->mem, vmcs_get(&n->vmcs12, VI_EPT_POINTER), gpa2, acc, &r);
    if (r.outcome == EPT_MISCONFIG) {
        nested_vm_exit(m, idx, EXIT_REASON_EPT_MISCONFIG, 0);
        return true;
    }
    if (r.outcome == EPT_VIOLATION) {
        /* EPT12's permissions (bits 5:3) with the hardware's account of
         * the access: bits 2:0, linear-address bits 7-8, NMI unblocking 12 */
        uint64_t q = (q02 & (7ull | (3ull << 7) | (1ull << 12))) | (r.qualification & 0x38);
        nested_vm_exit(m, idx, EXIT_REASON_EPT_VIOLATION, q);
        return true;
    }
    uint64_t page = r.hpa & ~0xfffull;
    if (!physmem_guest_ptr(&m->mem, page, 4096)) {
        return false; /* L1-physical MMIO: L0's devices (run.c translates again) */
    }
    int ch = map_page(m, e, gpa2, page, r.perms);
    if (ch < 0) {
        ept02_reset(m, idx);
        ch = map_page(m, e, gpa2, page, r.perms);
    }
    if (ch > 0)
        cpu_invept(m->cpus[idx], 2); /* permissions grew: drop the old ones */
    return true;
}

uint64_t ept02_l2_to_l1(struct machine *m, int idx, uint64_t gpa2)
{
    struct nested_vcpu *n = m->nested[idx];
    struct ept_result r;
    ept_translate_guest(&m->mem, vmcs_get(&n->vmcs12, VI_EPT_POINTER), gpa2, 0, &r);
    return r.outcome == EPT_OK ? r.hpa : ~0ull;
}
