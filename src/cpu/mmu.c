/* Linear-address translation (SDM Vol. 3A chapter 4 "Paging"): 32-bit,
 * PAE and 4-level paging with 4K/2M/4M/1G pages, NX, WP, SMEP, SMAP, PGE,
 * PCID, accessed/dirty bits, and a TLB with the invalidation semantics of
 * SDM 4.10. Also the memory-access paths used by instructions: segment and
 * linear reads/writes, alignment checks, and the exit to L0 for accesses to
 * guest-physical addresses that are not RAM. */
#include <stdlib.h>

#include "cpu_internal.h"
#include "ept.h"

#define TLB_BITS 8
#define TLB_SIZE (1u << TLB_BITS)

/* permission bits of a TLB entry */
#define TP_UR 0x01    /* CPL3 data read allowed */
#define TP_UW 0x02    /* CPL3 write allowed */
#define TP_UX 0x04    /* CPL3 fetch allowed */
#define TP_SR 0x08    /* supervisor read allowed (before SMAP) */
#define TP_SW 0x10    /* supervisor write allowed (WP applied, before SMAP) */
#define TP_SX 0x20    /* supervisor fetch allowed (SMEP applied) */
#define TP_USER 0x40  /* user-mode page (for SMAP) */
#define TP_DIRTY 0x80 /* leaf D flag already set */

struct tlb_entry {
    uint64_t vpage;   /* la >> 12; UINT64_MAX when empty */
    uint64_t ppage;   /* guest-physical page address */
    uint8_t *host;    /* host pointer to the page, NULL when not RAM */
    uint64_t lp_mask; /* mask of the linear-address bits above the page size */
    uint16_t pcid;
    uint8_t global;
    uint8_t perm;
    uint8_t apic; /* the APIC-access page, accesses virtualized (apicv.c) */
};

struct cpu_tlb {
    struct tlb_entry e[TLB_SIZE];
    struct tlb_entry mmio_scratch; /* MMIO under L0's emulation (never hits) */
};

struct cpu_tlb *tlb_create(void)
{
    struct cpu_tlb *t = calloc(1, sizeof(*t)); /* every field defined: snapshots save them */
    if (t)
        for (unsigned i = 0; i < TLB_SIZE; i++)
            t->e[i].vpage = UINT64_MAX;
    return t;
}

_Static_assert(TLB_SIZE == CPU_TLB_ENTRIES, "cpu.h names the TLB size for snapshots");

void cpu_tlb_get(const struct cpu *cpu, unsigned i, struct cpu_tlb_state *s)
{
    const struct tlb_entry *e = &cpu->tlb->e[i % TLB_SIZE];
    *s = (struct cpu_tlb_state){e->vpage, e->ppage, e->lp_mask, e->pcid, e->global, e->perm};
}

bool cpu_tlb_set(struct cpu *cpu, unsigned i, const struct cpu_tlb_state *s)
{
    if (i >= TLB_SIZE || s->global > 1 || s->pcid > 0xfff || (s->ppage & 0xfff) ||
        (s->vpage != UINT64_MAX && (s->vpage & (TLB_SIZE - 1)) != i))
        return false;
    struct tlb_entry *e = &cpu->tlb->e[i];
    e->vpage = s->vpage;
    e->ppage = s->ppage;
    e->host = s->vpage == UINT64_MAX ? NULL : physmem_ptr(cpu->mem, s->ppage, 4096);
    e->lp_mask = s->lp_mask;
    e->pcid = s->pcid;
    e->global = s->global;
    e->perm = s->perm;
    cpu->tlb_gen++;
    return true;
}

static inline uint16_t cur_pcid(const struct cpu *cpu)
{
    return (cpu->cr4 & CR4_PCIDE) ? (cpu->cr3 & 0xfff) : 0;
}

void tlb_flush_all(struct cpu *cpu, bool include_global)
{
    cpu->tlb_gen++;
    for (unsigned i = 0; i < TLB_SIZE; i++)
        if (include_global || !cpu->tlb->e[i].global)
            cpu->tlb->e[i].vpage = UINT64_MAX;
}

void tlb_flush_pcid(struct cpu *cpu, uint16_t pcid, bool include_global)
{
    cpu->tlb_gen++;
    for (unsigned i = 0; i < TLB_SIZE; i++) {
        struct tlb_entry *e = &cpu->tlb->e[i];
        if (e->pcid == pcid && (include_global || !e->global))
            e->vpage = UINT64_MAX;
    }
}

/* INVLPG semantics (SDM 4.10.4.1): every entry for the page, global or not,
 * for the current PCID; also entries derived from a large page that
 * contains the address. Global entries of all PCIDs go too. */
void tlb_flush_page(struct cpu *cpu, uint64_t la)
{
    uint64_t vp = la >> 12;
    uint16_t pcid = cur_pcid(cpu);
    cpu->tlb_gen++;
    for (unsigned i = 0; i < TLB_SIZE; i++) {
        struct tlb_entry *e = &cpu->tlb->e[i];
        if (e->vpage == UINT64_MAX)
            continue;
        if ((e->vpage & e->lp_mask) == (vp & e->lp_mask) && (e->global || e->pcid == pcid))
            e->vpage = UINT64_MAX;
    }
}

uint64_t phys_read(struct cpu *cpu, uint64_t pa, int size)
{
    uint8_t *p = physmem_ptr(cpu->mem, pa, size);
    uint64_t v = 0;
    if (!p)
        return size_mask(size); /* nothing there: the bus floats to ones */
    memcpy(&v, p, size);
    return v;
}

static inline void note_code_write(struct cpu *cpu, uint64_t off, int size)
{
    struct physmem *pm = cpu->mem;
    uint64_t first = off >> 12, last = (off + size - 1) >> 12;
    for (uint64_t pg = first; pg <= last; pg++)
        physmem_note_write(pm, pg);
}

void phys_write(struct cpu *cpu, uint64_t pa, int size, uint64_t val)
{
    uint8_t *p = physmem_ptr(cpu->mem, pa, size);
    if (!p)
        return;
    memcpy(p, &val, size);
    note_code_write(cpu, (uint64_t)(p - cpu->mem->arena), size);
}

/* ---- guest-physical to host-physical (EPT, SDM 29.3) ---- */

static inline bool ept_on(const struct cpu *cpu)
{
    return (cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) &&
           (cpu->ctl.proc2 & PROC2_ENABLE_EPT);
}

/* Translates a guest-physical address for an access by the page walker
 * (final = false: bit 8 of the qualification clear) or for the final
 * access (final = true). Returns the host-physical address, or exits with
 * an EPT violation / misconfiguration (SDM 28.2.1 Table 28-7). When L0 is
 * emulating the instruction (cpu->emul) a final access to an unmapped
 * guest-physical address is MMIO: *mmio is set and the gpa returned. */
static uint64_t gpa_to_hpa(struct cpu *cpu, uint64_t gpa, enum acc acc, uint64_t la, bool la_valid,
                           bool final, bool *mmio, uint32_t *perms)
{
    if (mmio)
        *mmio = false;
    if (!ept_on(cpu)) {
        if (perms)
            *perms = EPT_READ | EPT_WRITE | EPT_EXEC;
        return gpa;
    }
    static const uint32_t eacc[3] = {EPT_READ, EPT_WRITE, EPT_EXEC};
    struct ept_result r;
    ept_translate(cpu->mem, cpu->ctl.eptp, gpa, eacc[acc], &r);
    if (r.outcome == EPT_OK) {
        if (perms)
            *perms = r.perms;
        return r.hpa;
    }
    if (r.outcome == EPT_VIOLATION && final && mmio && cpu->emul) {
        *mmio = true;
        return gpa;
    }
    cpu->exit.guest_physical = gpa;
    cpu->exit.guest_linear = la_valid ? la : 0;
    if (r.outcome == EPT_MISCONFIG)
        vm_exit(cpu, EXIT_REASON_EPT_MISCONFIG, 0);
    uint64_t q =
        r.qualification | (la_valid ? (1u << 7) : 0) | ((la_valid && final) ? (1u << 8) : 0);
    vm_exit(cpu, EXIT_REASON_EPT_VIOLATION, q);
}

/* Guest-physical accesses to the APIC-access page (SDM 30.4.6.1): with EPT,
 * a paging-structure access that EPT translates to the APIC-access page is
 * not virtualized: an APIC-access VM exit with access type 10 (during event
 * delivery) or 15 (instruction fetch or execution) and the guest-physical
 * address. */
static void check_gpa_apic_access(struct cpu *cpu, uint64_t gpa, uint64_t hpa)
{
    if (!(cpu->ctl.proc2 & PROC2_VIRTUALIZE_APIC_ACCESSES) ||
        !(cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) || !ept_on(cpu) ||
        (hpa & ~0xfffull) != (cpu->ctl.apic_access & ~0xfffull))
        return;
    cpu->exit.guest_physical = gpa;
    vm_exit(cpu, EXIT_REASON_APIC_ACCESS,
            (uint64_t)((cpu->rs && cpu->rs->in_delivery) ? 10 : 15) << 12);
}

/* Page-table reads/writes by the walker go through EPT too. */
static uint64_t walk_read(struct cpu *cpu, uint64_t gpa, int size, uint64_t la)
{
    uint64_t hpa = gpa_to_hpa(cpu, gpa, ACC_READ, la, true, false, NULL, NULL);
    check_gpa_apic_access(cpu, gpa, hpa);
    return phys_read(cpu, hpa, size);
}

static void walk_write(struct cpu *cpu, uint64_t gpa, int size, uint64_t val, uint64_t la)
{
    uint64_t hpa = gpa_to_hpa(cpu, gpa, ACC_WRITE, la, true, false, NULL, NULL);
    check_gpa_apic_access(cpu, gpa, hpa);
    phys_write(cpu, hpa, size, val);
}

/* ---- the page walk ---- */

struct walk {
    uint64_t pa;    /* translation of la */
    uint64_t ppage; /* physical page address (4K granular) */
    uint64_t lp_mask;
    uint8_t perm;
    bool global;
    uint32_t fault; /* #PF error code when the walk failed */
    bool failed;
};

static inline uint64_t rsvd_mask_high(const struct cpu *cpu)
{
    /* bits 51:MAXPHYADDR, and XD when NXE = 0 (SDM 4.5.4 Table 4-xx) */
    uint64_t m = ((1ull << 52) - 1) & ~PHYS_MASK;
    if (!(cpu->efer & EFER_NXE))
        m |= 1ull << 63;
    return m;
}

static void perm_from(const struct cpu *cpu, struct walk *w, bool rw_all, bool us_all, bool nx)
{
    uint8_t p = TP_SR;
    if (us_all) {
        p |= TP_USER | TP_UR;
        if (rw_all)
            p |= TP_UW;
        if (!nx)
            p |= TP_UX;
    }
    if (rw_all || !(cpu->cr0 & CR0_WP))
        p |= TP_SW;
    if (!nx && !(us_all && (cpu->cr4 & CR4_SMEP)))
        p |= TP_SX;
    w->perm = p;
}

/* Performs the walk, setting accessed flags (and dirty for writes). */
static void page_walk(struct cpu *cpu, uint64_t la, enum acc acc, bool user, struct walk *w)
{
    memset(w, 0, sizeof(*w));
    uint32_t ec = (acc == ACC_WRITE ? PFEC_W : 0) | (user ? PFEC_U : 0);
    if (acc == ACC_EXEC && ((cpu->efer & EFER_NXE) || (cpu->cr4 & CR4_SMEP)))
        ec |= PFEC_I;

    if (!(cpu->cr0 & CR0_PG)) {
        w->pa = la & 0xffffffffull;
        if (cpu_in_lma(cpu))
            w->pa = la;
        w->ppage = w->pa & ~0xfffull;
        w->perm = TP_UR | TP_UW | TP_UX | TP_SR | TP_SW | TP_SX | TP_DIRTY;
        w->lp_mask = ~0ull;
        return;
    }

    uint64_t entries_addr[5];
    uint64_t entries[5];
    int n = 0;
    bool rw_all = true, us_all = true, nx = false;
    uint64_t rsvd = rsvd_mask_high(cpu);
    uint64_t leaf, pa;
    int page_shift;

    if (!(cpu->cr4 & CR4_PAE)) {
        /* 32-bit paging (SDM 4.3) */
        uint64_t pde_addr = (cpu->cr3 & 0xfffff000ull) | ((la >> 20) & 0xffc);
        uint64_t pde = walk_read(cpu, pde_addr, 4, la);
        entries_addr[n] = pde_addr;
        entries[n++] = pde;
        if (!(pde & 1))
            goto not_present;
        rw_all &= (pde >> 1) & 1;
        us_all &= (pde >> 2) & 1;
        if ((pde & 0x80) && (cpu->cr4 & CR4_PSE)) {
            /* 4 MiB page: PSE-36 bits 20:13 give PA bits 39:32 */
            if (pde & (0x3full << 13) & ~(((1ull << (CPU_MAXPHYADDR - 32)) - 1) << 13))
                goto reserved;
            pa = ((pde & 0xffc00000ull) | (((pde >> 13) & 0xff) << 32)) + (la & 0x3fffff);
            leaf = pde;
            page_shift = 22;
        } else {
            uint64_t pte_addr = (pde & 0xfffff000ull) | ((la >> 10) & 0xffc);
            uint64_t pte = walk_read(cpu, pte_addr, 4, la);
            entries_addr[n] = pte_addr;
            entries[n++] = pte;
            if (!(pte & 1))
                goto not_present;
            rw_all &= (pte >> 1) & 1;
            us_all &= (pte >> 2) & 1;
            pa = (pte & 0xfffff000ull) | (la & 0xfff);
            leaf = pte;
            page_shift = 12;
        }
        la &= 0xffffffffull;
    } else {
        uint64_t table;
        int level;
        if (cpu_in_lma(cpu)) {
            table = cpu->cr3 & PHYS_MASK & ~0xfffull;
            level = 4;
        } else {
            /* PAE paging: PDPTEs were loaded at CR3 write (SDM 4.4.1) */
            uint64_t pdpte = cpu->pdpte[(la >> 30) & 3];
            if (!(pdpte & 1))
                goto not_present;
            table = pdpte & PHYS_MASK & ~0xfffull;
            level = 2;
            la &= 0xffffffffull;
        }
        for (;;) {
            int shift = 12 + 9 * (level - 1);
            uint64_t ea = table + ((la >> shift) & 511) * 8;
            uint64_t e = walk_read(cpu, ea, 8, la);
            entries_addr[n] = ea;
            entries[n++] = e;
            if (!(e & 1))
                goto not_present;
            if (e & rsvd)
                goto reserved;
            rw_all &= (e >> 1) & 1;
            us_all &= (e >> 2) & 1;
            nx |= (e >> 63) & 1;
            bool ps = (e >> 7) & 1;
            if (level == 4 && ps)
                goto reserved;
            if (level == 1 || ((level == 2 || level == 3) && ps)) {
                if (level == 3 && ps && (e & 0x3fffe000ull))
                    goto reserved;
                if (level == 2 && ps && (e & 0x1fe000ull))
                    goto reserved;
                page_shift = shift;
                uint64_t pmask = (1ull << shift) - 1;
                pa = (e & PHYS_MASK & ~pmask) | (la & pmask);
                leaf = e;
                break;
            }
            table = e & PHYS_MASK & ~0xfffull;
            level--;
        }
    }

    perm_from(cpu, w, rw_all, us_all, nx && (cpu->efer & EFER_NXE));
    /* Permission check for this access (SDM 4.6). */
    {
        bool ok;
        if (user) {
            ok = acc == ACC_READ    ? (w->perm & TP_UR)
                 : acc == ACC_WRITE ? (w->perm & TP_UW)
                                    : (w->perm & TP_UX);
        } else {
            ok = acc == ACC_READ    ? (w->perm & TP_SR)
                 : acc == ACC_WRITE ? (w->perm & TP_SW)
                                    : (w->perm & TP_SX);
        }
        if (!ok) {
            w->failed = true;
            w->fault = ec | PFEC_P;
            return;
        }
    }
    /* Accessed flags on every level, dirty on the leaf for writes. */
    for (int i = 0; i < n; i++) {
        bool is_leaf = i == n - 1;
        uint64_t e = entries[i];
        uint64_t ne = e | 0x20;
        if (is_leaf && acc == ACC_WRITE)
            ne |= 0x40;
        if (ne != e)
            walk_write(cpu, entries_addr[i], (cpu->cr4 & CR4_PAE) ? 8 : 4, ne, la);
        if (is_leaf && (ne & 0x40))
            w->perm |= TP_DIRTY;
    }
    w->global = (leaf & 0x100) && (cpu->cr4 & CR4_PGE);
    w->pa = pa;
    w->ppage = pa & ~0xfffull;
    w->lp_mask = ~((1ull << (page_shift - 12)) - 1);
    return;

not_present:
    w->failed = true;
    w->fault = ec;
    return;
reserved:
    w->failed = true;
    w->fault = ec | PFEC_P | PFEC_RSVD;
}

/* APIC-access VM exit for a linear access (SDM 28.2.1, Table 28-3): the
 * page offset in bits 11:0, the access type in bits 15:12 (0 read, 1
 * write, 2 instruction fetch, 3 an access during event delivery). */
_Noreturn void apic_access_vmexit(struct cpu *cpu, uint32_t off, enum acc acc, uint64_t la)
{
    cpu->exit.guest_linear = la;
    uint64_t type = (cpu->rs && cpu->rs->in_delivery) ? 3
                    : acc == ACC_READ                 ? 0
                    : acc == ACC_WRITE                ? 1
                                                      : 2;
    vm_exit(cpu, EXIT_REASON_APIC_ACCESS, (off & 0xfff) | (type << 12));
}

static __attribute__((noinline)) struct tlb_entry *tlb_fill(struct cpu *cpu, uint64_t la,
                                                            enum acc acc, bool user)
{
    struct walk w;
    page_walk(cpu, la, acc, user, &w);
    if (w.failed) {
        cpu->rs->pf_addr = la;
        cpu->rs->pf_addr_valid = true;
        raise_exception(cpu, EXC_PF, w.fault);
    }
    /* the final guest-physical address through EPT; EPT permissions are
     * folded into the entry so that a later access they forbid refills */
    bool mmio;
    uint32_t eperm;
    uint64_t hpage = gpa_to_hpa(cpu, w.pa, acc, la, true, true, &mmio, &eperm) & ~0xfffull;
    /* "virtualize APIC accesses" (SDM 29.4): a linear access whose
     * translation is the APIC-access page exits (reason 44) with the page
     * offset in bits 11:0 and the access type in bits 15:12 (0 read, 1
     * write, 2 fetch) */
    bool apic = false;
    if ((cpu->ctl.proc & PROC_ACTIVATE_SECONDARY_CONTROLS) &&
        (cpu->ctl.proc2 & PROC2_VIRTUALIZE_APIC_ACCESSES) && !mmio &&
        hpage == (cpu->ctl.apic_access & ~0xfffull)) {
        /* with a TPR shadow, data accesses may be virtualized (SDM 30.4):
         * they go through apicv_mem_read/write, which decide per offset */
        /* ... but accesses during event delivery are never (30.4) */
        if (acc == ACC_EXEC || !(cpu->ctl.proc & PROC_USE_TPR_SHADOW) ||
            (cpu->rs && cpu->rs->in_delivery))
            apic_access_vmexit(cpu, la & 0xfff, acc, la);
        apic = true;
    }
    if (mmio || apic) {
        /* L0 is emulating an MMIO access, or an access to the APIC-access
         * page: a transient entry, not cached */
        struct tlb_entry *t = &cpu->tlb->mmio_scratch;
        t->vpage = UINT64_MAX;
        t->ppage = apic ? hpage : w.ppage;
        t->apic = apic;
        t->host = NULL;
        t->perm = w.perm | TP_DIRTY;
        t->global = false;
        t->pcid = cur_pcid(cpu);
        t->lp_mask = ~0ull;
        return t;
    }
    uint8_t perm = w.perm;
    if (!(eperm & EPT_READ))
        perm &= (uint8_t) ~(TP_UR | TP_SR);
    if (!(eperm & EPT_WRITE) || (ept_on(cpu) && (cpu->ctl.eptp & EPTP_AD) && acc != ACC_WRITE))
        perm &= (uint8_t) ~(TP_UW | TP_SW); /* EPT dirty flag not set yet */
    if (!(eperm & EPT_EXEC))
        perm &= (uint8_t) ~(TP_UX | TP_SX);
    struct tlb_entry *e = &cpu->tlb->e[(la >> 12) & (TLB_SIZE - 1)];
    e->vpage = la >> 12;
    e->ppage = hpage;
    e->host = physmem_ptr(cpu->mem, hpage, 4096);
    e->perm = perm;
    e->apic = 0;
    e->global = w.global;
    e->pcid = cur_pcid(cpu);
    e->lp_mask = w.lp_mask;
    return e;
}

/* SMAP (SDM 4.6.1): supervisor data accesses to user pages fault when
 * CR4.SMAP = 1 and either the access is implicit or RFLAGS.AC = 0. */
static __attribute__((noinline)) void smap_check(struct cpu *cpu, uint64_t la, enum acc acc,
                                                 bool implicit)
{
    if (implicit || !(cpu->rflags & FL_AC) || cpu->cpl == 3) {
        cpu->rs->pf_addr = la;
        cpu->rs->pf_addr_valid = true;
        raise_exception(cpu, EXC_PF, PFEC_P | (acc == ACC_WRITE ? PFEC_W : 0));
    }
}

/* The TLB fast path. Permission bits are laid out so that the bit needed
 * for an access is (user ? TP_UR : TP_SR) << acc. */
static inline struct tlb_entry *translate_entry(struct cpu *cpu, uint64_t la, enum acc acc,
                                                bool user, bool implicit)
{
    struct tlb_entry *e = &cpu->tlb->e[(la >> 12) & (TLB_SIZE - 1)];
    uint8_t need = (uint8_t)((user ? TP_UR : TP_SR) << acc);
    if (acc == ACC_WRITE)
        need |= TP_DIRTY;
    if (__builtin_expect(e->vpage != la >> 12 || (e->perm & need) != need ||
                             (!e->global && e->pcid != cur_pcid(cpu)),
                         0))
        e = tlb_fill(cpu, la, acc, user);
    if (__builtin_expect((e->perm & TP_USER) && !user && acc != ACC_EXEC && (cpu->cr4 & CR4_SMAP),
                         0))
        smap_check(cpu, la, acc, implicit);
    return e;
}

uint64_t mmu_translate(struct cpu *cpu, uint64_t la, enum acc acc, bool user)
{
    struct tlb_entry *e = translate_entry(cpu, la, acc, user, !user && cpu->cpl == 3);
    return e->ppage | (la & 0xfff);
}

/* ---- accesses to guest-physical addresses that are not RAM ---- */

/* EPT-violation qualification (SDM 28.2.1 Table 28-7): bit 0 read, 1 write,
 * 2 fetch, bits 5:3 the (absent) permissions, bit 7 linear address valid,
 * bit 8 access to the final translation. */
static _Noreturn void mmio_exit(struct cpu *cpu, uint64_t pa, uint64_t la, enum acc acc)
{
    uint64_t q = (acc == ACC_READ ? 1 : acc == ACC_WRITE ? 2 : 4) | (1u << 7) | (1u << 8);
    cpu->exit.guest_physical = pa;
    cpu->exit.guest_linear = la;
    vm_exit(cpu, EXIT_REASON_EPT_VIOLATION, q);
}

/* With EPT, unmapped guest-physical addresses exit at translation time;
 * an access that reaches here with EPT on and no emulation in progress is
 * to host-physical memory that does not exist (an EPT entry pointing
 * outside the arena): reads return all ones and writes are dropped, as on
 * a bus with nothing behind it. */
static uint64_t mmio_read(struct cpu *cpu, uint64_t pa, uint64_t la, int size)
{
    if (cpu->emul && cpu->emul->mmio_read)
        return cpu->emul->mmio_read(cpu->emul_opaque, pa, size) & size_mask(size);
    if (ept_on(cpu))
        return size_mask(size);
    mmio_exit(cpu, pa, la, ACC_READ);
}

static void mmio_write(struct cpu *cpu, uint64_t pa, uint64_t la, int size, uint64_t v)
{
    if (cpu->emul && cpu->emul->mmio_write) {
        cpu->emul->mmio_write(cpu->emul_opaque, pa, size, v & size_mask(size));
        return;
    }
    if (ept_on(cpu))
        return;
    mmio_exit(cpu, pa, la, ACC_WRITE);
}

/* ---- linear accesses ---- */

/* Fixed-size host loads/stores: a memcpy with a variable size compiles to
 * a slow string copy. */
static inline uint64_t host_load(const uint8_t *p, int size)
{
    switch (size) {
    case 1:
        return *p;
    case 2: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    }
}

static inline void host_store(uint8_t *p, int size, uint64_t v)
{
    switch (size) {
    case 1:
        *p = (uint8_t)v;
        break;
    case 2: {
        uint16_t x = (uint16_t)v;
        memcpy(p, &x, 2);
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        memcpy(p, &x, 4);
        break;
    }
    default:
        memcpy(p, &v, 8);
        break;
    }
}

static inline void check_alignment(struct cpu *cpu, uint64_t la, int size, bool sup)
{
    /* #AC (SDM 6.15 vector 17): CR0.AM, RFLAGS.AC, CPL 3, data access */
    if (!sup && (la & (size - 1)) && cpu->cpl == 3 && (cpu->cr0 & CR0_AM) &&
        (cpu->rflags & FL_AC) && size <= 8)
        raise_exception(cpu, EXC_AC, 0);
}

void cpu_dr7_changed(struct cpu *cpu)
{
    cpu->dbg_bp_enabled = (cpu->dr[7] & 0xff) != 0;
}

void check_data_breakpoints(struct cpu *cpu, uint64_t la, int size, bool write)
{
    uint64_t dr7 = cpu->dr[7];
    static const uint64_t lenmask[4] = {0, 1, 7, 3}; /* LEN 00=1, 01=2, 10=8, 11=4 bytes */
    for (int i = 0; i < 4; i++) {
        if (!((dr7 >> (i * 2)) & 3))
            continue;
        uint32_t rw = (dr7 >> (16 + i * 4)) & 3;
        if (rw == 0 || rw == 2 || (rw == 1 && !write))
            continue;
        uint64_t m = lenmask[(dr7 >> (18 + i * 4)) & 3];
        uint64_t lo = cpu->dr[i] & ~m, hi = lo + m;
        if (la <= hi && la + size - 1 >= lo && cpu->rs)
            cpu->rs->db_hits |= 1u << i;
    }
}

uint64_t lin_read(struct cpu *cpu, uint64_t la, int size, bool sup)
{
    bool user = !sup && cpu->cpl == 3;
    if (__builtin_expect(cpu->dbg_bp_enabled, 0) && !sup)
        check_data_breakpoints(cpu, la, size, false);
    check_alignment(cpu, la, size, sup);
    if (((la & 0xfff) + size) <= 0x1000) {
        struct tlb_entry *e = translate_entry(cpu, la, ACC_READ, user, sup);
        if (e->host)
            return host_load(e->host + (la & 0xfff), size);
        if (e->apic)
            return apicv_mem_read(cpu, (uint32_t)(la & 0xfff), size, la);
        return mmio_read(cpu, e->ppage | (la & 0xfff), la, size);
    }
    /* page-crossing: both translations first, then bytes */
    int n1 = 0x1000 - (la & 0xfff);
    struct tlb_entry *e1 = translate_entry(cpu, la, ACC_READ, user, sup);
    uint64_t pa1 = e1->ppage | (la & 0xfff);
    uint8_t *h1 = e1->host;
    bool apic1 = e1->apic;
    struct tlb_entry *e2 = translate_entry(cpu, la + n1, ACC_READ, user, sup);
    uint64_t pa2 = e2->ppage;
    uint8_t *h2 = e2->host;
    if (!h1 || !h2) {
        /* an access crossing into or out of the APIC-access page is never
         * virtualized (SDM 30.4.2) */
        if (apic1)
            apic_access_vmexit(cpu, (uint32_t)(la & 0xfff), ACC_READ, la);
        if (!h1)
            return mmio_read(cpu, pa1, la, size);
        if (e2->apic)
            apic_access_vmexit(cpu, 0, ACC_READ, la + n1);
        return mmio_read(cpu, pa2, la + n1, size);
    }
    uint8_t buf[8] = {0};
    memcpy(buf, h1 + (la & 0xfff), n1);
    memcpy(buf + n1, h2, size - n1);
    uint64_t v;
    memcpy(&v, buf, 8);
    return v & size_mask(size);
}

void lin_write(struct cpu *cpu, uint64_t la, int size, uint64_t val, bool sup)
{
    bool user = !sup && cpu->cpl == 3;
    if (__builtin_expect(cpu->dbg_bp_enabled, 0) && !sup)
        check_data_breakpoints(cpu, la, size, true);
    check_alignment(cpu, la, size, sup);
    if (((la & 0xfff) + size) <= 0x1000) {
        struct tlb_entry *e = translate_entry(cpu, la, ACC_WRITE, user, sup);
        if (e->host) {
            host_store(e->host + (la & 0xfff), size, val);
            physmem_note_write(cpu->mem, (uint64_t)(e->host - cpu->mem->arena) >> 12);
            return;
        }
        if (e->apic) {
            apicv_mem_write(cpu, (uint32_t)(la & 0xfff), size, val, la);
            return;
        }
        mmio_write(cpu, e->ppage | (la & 0xfff), la, size, val);
        return;
    }
    int n1 = 0x1000 - (la & 0xfff);
    struct tlb_entry *e1 = translate_entry(cpu, la, ACC_WRITE, user, sup);
    uint64_t pa1 = e1->ppage | (la & 0xfff);
    uint8_t *h1 = e1->host;
    bool apic1 = e1->apic;
    struct tlb_entry *e2 = translate_entry(cpu, la + n1, ACC_WRITE, user, sup);
    uint64_t pa2 = e2->ppage;
    uint8_t *h2 = e2->host;
    if (!h1 || !h2) {
        if (apic1)
            apic_access_vmexit(cpu, (uint32_t)(la & 0xfff), ACC_WRITE, la);
        if (h1 && e2->apic)
            apic_access_vmexit(cpu, 0, ACC_WRITE, la + n1);
        if (!h1)
            mmio_write(cpu, pa1, la, size, val);
        else
            mmio_write(cpu, pa2, la + n1, size, val);
        return;
    }
    uint8_t buf[8];
    memcpy(buf, &val, 8);
    memcpy(h1 + (la & 0xfff), buf, n1);
    memcpy(h2, buf + n1, size - n1);
    note_code_write(cpu, (uint64_t)(h1 - cpu->mem->arena) + (la & 0xfff), n1);
    note_code_write(cpu, (uint64_t)(h2 - cpu->mem->arena), size - n1);
}

/* Host pointer for an instruction fetch of [la, la+n) within one page, or
 * NULL when it is not RAM. Raises #PF as a fetch would. */
uint8_t *mmu_fetch_ptr(struct cpu *cpu, uint64_t la, uint64_t *pa_out)
{
    struct tlb_entry *e = translate_entry(cpu, la, ACC_EXEC, cpu->cpl == 3, false);
    *pa_out = e->ppage | (la & 0xfff);
    if (!e->host)
        mmio_exit(cpu, *pa_out, la, ACC_EXEC);
    return e->host + (la & 0xfff);
}

/* ---- segmentation (SDM 5.3 limit checks, 5.4 type checks) ---- */

static _Noreturn void seg_fault(struct cpu *cpu, int sreg)
{
    raise_exception(cpu, sreg == S_SS ? EXC_SS : EXC_GP, 0);
}

static inline bool canonical(uint64_t la)
{
    return (uint64_t)((int64_t)(la << 16) >> 16) == la;
}

uint64_t seg_linear(struct cpu *cpu, int sreg, uint64_t off, int size, enum acc acc)
{
    const struct segment *s = &cpu->seg[sreg];
    if (cpu_long64(cpu)) {
        uint64_t la = off;
        if (sreg == S_FS || sreg == S_GS)
            la += s->base;
        if (!canonical(la) || !canonical(la + size - 1))
            seg_fault(cpu, sreg);
        return la;
    }
    if (cpu->mode == CPU_MODE_REAL || cpu->mode == CPU_MODE_VM86) {
        /* real mode: limit checks still apply with the cached limit */
        if (off + size - 1 > s->limit)
            seg_fault(cpu, sreg);
        return (s->base + off) & 0xffffffffull;
    }
    if (s->ar & 0x10000) /* unusable (null) segment */
        seg_fault(cpu, sreg);
    uint32_t type = s->ar & 0xf;
    if (acc == ACC_WRITE) {
        if ((type & 8) || !(type & 2)) /* code, or read-only data */
            seg_fault(cpu, sreg);
    } else if (acc == ACC_READ) {
        if ((type & 8) && !(type & 2)) /* execute-only code */
            seg_fault(cpu, sreg);
    }
    uint64_t last = off + size - 1;
    if (!(type & 8) && (type & 4)) {
        /* expand-down: valid offsets are (limit, 0xffff or 0xffffffff] */
        uint64_t upper = (s->ar & 0x4000) ? 0xffffffffull : 0xffffull;
        if (off <= s->limit || last > upper)
            seg_fault(cpu, sreg);
    } else if (last > s->limit || last < off) {
        seg_fault(cpu, sreg);
    }
    return (s->base + off) & 0xffffffffull;
}

uint64_t seg_read(struct cpu *cpu, int sreg, uint64_t off, int size)
{
    return lin_read(cpu, seg_linear(cpu, sreg, off, size, ACC_READ), size, false);
}

void seg_write(struct cpu *cpu, int sreg, uint64_t off, int size, uint64_t val)
{
    lin_write(cpu, seg_linear(cpu, sreg, off, size, ACC_WRITE), size, val, false);
}

void seg_probe_write(struct cpu *cpu, int sreg, uint64_t off, int size)
{
    uint64_t la = seg_linear(cpu, sreg, off, size, ACC_WRITE);
    bool user = cpu->cpl == 3;
    translate_entry(cpu, la, ACC_WRITE, user, false);
    if (((la & 0xfff) + size) > 0x1000)
        translate_entry(cpu, (la | 0xfff) + 1, ACC_WRITE, user, false);
}

void seg_read_bytes(struct cpu *cpu, int sreg, uint64_t off, void *dst, int n)
{
    uint8_t *d = dst;
    uint64_t amask = cpu_long64(cpu) ? ~0ull : 0xffffffffull;
    seg_linear(cpu, sreg, off, n, ACC_READ);
    for (int i = 0; i < n;) {
        int chunk = n - i >= 8 ? 8 : n - i;
        uint64_t v = seg_read(cpu, sreg, (off + i) & amask, chunk);
        memcpy(d + i, &v, chunk);
        i += chunk;
    }
}

void seg_write_bytes(struct cpu *cpu, int sreg, uint64_t off, const void *src, int n)
{
    const uint8_t *s = src;
    uint64_t amask = cpu_long64(cpu) ? ~0ull : 0xffffffffull;
    seg_linear(cpu, sreg, off, n, ACC_WRITE);
    /* probe every page first so that the store is all-or-nothing */
    for (int i = 0; i < n; i += 8)
        seg_probe_write(cpu, sreg, (off + i) & amask, n - i >= 8 ? 8 : n - i);
    for (int i = 0; i < n;) {
        int chunk = n - i >= 8 ? 8 : n - i;
        uint64_t v = 0;
        memcpy(&v, s + i, chunk);
        seg_write(cpu, sreg, (off + i) & amask, chunk, v);
        i += chunk;
    }
}

int cpu_read_linear_debug(struct cpu *cpu, uint64_t la, void *buf, size_t len)
{
    uint8_t *d = buf;
    for (size_t i = 0; i < len; i++) {
        struct walk w;
        bool saved_tlb_ok = true;
        (void)saved_tlb_ok;
        /* a side-effect-free walk: never sets A/D (we pass a read and
         * discard the accessed-bit writes by walking a copy) */
        uint64_t l = la + i;
        page_walk(cpu, l, ACC_READ, false, &w);
        if (w.failed)
            return -1;
        uint8_t *p = physmem_ptr(cpu->mem, w.pa, 1);
        if (!p)
            return -1;
        d[i] = *p;
    }
    return 0;
}

/* PAE PDPTE loading (SDM 4.4.1): the four entries are read from CR3 and
 * checked for reserved bits when CR3 is written in PAE mode. */
bool mmu_load_pdptes(struct cpu *cpu, uint64_t cr3)
{
    uint64_t base = cr3 & 0xffffffe0ull;
    uint64_t p[4];
    for (int i = 0; i < 4; i++) {
        p[i] =
            phys_read(cpu, gpa_to_hpa(cpu, base + i * 8, ACC_READ, 0, false, false, NULL, NULL), 8);
        /* reserved: bits 2:1, 8:5, 63:MAXPHYADDR */
        if ((p[i] & 1) && (p[i] & (0x1e6ull | ~PHYS_MASK)))
            return false;
    }
    memcpy(cpu->pdpte, p, sizeof(p));
    return true;
}
