/* Snapshots and migration, in one process: a machine saved in the middle
 * of a REP string instruction (and with an event queued) and restored into
 * a second machine finishes exactly like the original; RAM dirty logging
 * records every write path; a loaded image is validated field by field
 * (the checksum recomputed, so that the field checks themselves are
 * exercised); the QMP JSON helpers. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/options.h"
#include "cpu/vmx.h"
#include "migrate/migration.h"
#include "migrate/snapshot.h"
#include "ui/json.h"
#include "image_surgery.h"
#include "unit.h"
#include "vmm/nested/nested.h"
#include "vmm/run.h"

#define CODE 0x1000ull

/* 16-bit real-mode code (unrestricted guest, CS base 0):
 *   mov cx, 60000; mov di, 0x2000; mov al, 0x5a; rep stosb
 *   mov si, 0x2000; mov di, 0x2001; mov cx, 50000; rep movsb   (overlapping)
 *   hlt
 * With 16-bit addressing each REP runs in chunks of iterations, each chunk
 * retiring as one instruction with RCX/RSI/RDI exact (string.c). */
static const uint8_t code16[] = {0xb9, 0x60, 0xea, 0xbf, 0x00, 0x20, 0xb0, 0x5a, 0xf3, 0xaa, 0xbe,
                                 0x00, 0x20, 0xbf, 0x01, 0x20, 0xb9, 0x50, 0xc3, 0xf3, 0xa4, 0xf4};

static int make_machine(struct machine *m)
{
    struct machine_options o;
    char err[256];
    options_defaults(&o);
    o.ram_size = 16ull << 20;
    o.serial = "none";
    o.quantum = 1000; /* many slices */
    if (machine_create(m, &o, err, sizeof(err)))
        return -1;
    physmem_write(&m->mem, CODE, code16, sizeof(code16));
    struct vmcs *v = m->vmcs01[0];
    vmcs_set(v, VI_GUEST_CS_SELECTOR, 0);
    vmcs_set(v, VI_GUEST_CS_BASE, 0);
    vmcs_set(v, VI_GUEST_RIP, CODE);
    return 0;
}

struct save_at {
    uint64_t n;
    char path[64];
    uint64_t rcx_at_save, rip_at_save;
    bool saved;
};

static void save_hook(struct machine *m, uint64_t insns)
{
    struct save_at *s = m->poll_opaque;
    if (s->saved || insns < s->n)
        return;
    char err[256];
    s->saved = !snapshot_save_file(m, s->path, err, sizeof(err));
    s->rcx_at_save = m->cpus[0]->regs[R_RCX];
    s->rip_at_save = vmcs_get(m->vmcs01[0], VI_GUEST_RIP);
    /* an event queued for the next entry travels with the image */
    m->stop_at = 0;
}

static bool same_end_state(struct machine *a, struct machine *b)
{
    return a->cpus[0]->icount == b->cpus[0]->icount &&
           !memcmp(a->cpus[0]->regs, b->cpus[0]->regs, sizeof(a->cpus[0]->regs)) &&
           vmcs_get(a->vmcs01[0], VI_GUEST_RIP) == vmcs_get(b->vmcs01[0], VI_GUEST_RIP) &&
           !memcmp(a->mem.arena, b->mem.arena, a->mem.ram_size) && a->exit_status == b->exit_status;
}

UNIT_TEST(restore_mid_rep_string_equals_uninterrupted)
{
    struct machine *ref = calloc(1, sizeof(*ref)), *a = calloc(1, sizeof(*a)),
                   *b = calloc(1, sizeof(*b));
    CHECK(ref && a && b);
    CHECK(make_machine(ref) == 0);
    CHECK_EQ(vmm_run(ref), NVMX_EXIT_HALTED);
    uint64_t total = ref->cpus[0]->icount;
    CHECK(total > 25);
    /* instants inside the REP STOSB (instructions 4-18) and inside the
     * REP MOVSB (22-34) */
    static const uint64_t instants[] = {4, 5, 11, 17, 22, 27, 33};
    for (unsigned k = 0; k < sizeof(instants) / sizeof(instants[0]); k++) {
        struct save_at s = {.n = instants[k]};
        snprintf(s.path, sizeof(s.path), "/tmp/nvmx-unit-snap-%d.img", (int)getpid());
        CHECK(make_machine(a) == 0);
        a->poll = save_hook;
        a->poll_opaque = &s;
        a->stop_at = s.n;
        CHECK_EQ(vmm_run(a), NVMX_EXIT_HALTED);
        CHECK(s.saved);
        /* the instant really is inside a REP instruction */
        CHECK(s.rcx_at_save != 0 && (s.rip_at_save == CODE + 8 || s.rip_at_save == CODE + 19));
        CHECK(same_end_state(ref, a)); /* saving perturbs nothing */
        CHECK(make_machine(b) == 0);
        char err[256];
        CHECK(snapshot_load_file(b, s.path, err, sizeof(err)) == 0);
        CHECK_EQ(b->cpus[0]->icount, s.n);
        CHECK_EQ(vmm_run(b), NVMX_EXIT_HALTED);
        CHECK(same_end_state(ref, b));
        unlink(s.path);
        machine_destroy(a);
        machine_destroy(b);
    }
    machine_destroy(ref);
    free(ref);
    free(a);
    free(b);
}

/* A guest that keeps writing 224 pages (ES = 0x1000..0xe000, REP STOSW of
 * 64 KiB each), 300 times:
 *   mov bx, 300
 *   outer: mov dx, 0x1000
 *   seg: mov es, dx; xor di, di; mov cx, 0x8000; rep stosw
 *        add dx, 0x1000; cmp dx, 0xf000; jne seg
 *   inc ax; dec bx; jnz outer; hlt */
static const uint8_t dirtier16[] = {0xbb, 0x2c, 0x01, 0xba, 0x00, 0x10, 0x8e, 0xc2, 0x31, 0xff,
                                    0xb9, 0x00, 0x80, 0xf3, 0xab, 0x81, 0xc2, 0x00, 0x10, 0x81,
                                    0xfa, 0x00, 0xf0, 0x75, 0xed, 0x40, 0x4b, 0x75, 0xe6, 0xf4};

static int make_dirtier(struct machine *m)
{
    if (make_machine(m))
        return -1;
    physmem_write(&m->mem, CODE, dirtier16, sizeof(dirtier16));
    return 0;
}

struct live {
    struct migration *mg;
    uint64_t done_at;
};

/* The migration's steps run in the run loop's hook, at deterministic
 * points: the whole live migration is reproducible. */
static void live_hook(struct machine *m, uint64_t insns)
{
    struct live *l = m->poll_opaque;
    if (migration_step(l->mg, false) == MIG_COMPLETED && !l->done_at) {
        l->done_at = insns;
        m->state = MACHINE_EXITED; /* the source stops: the machine moved */
    }
}

UNIT_TEST(live_migration_with_a_busy_guest)
{
    struct machine *ref = calloc(1, sizeof(*ref)), *a = calloc(1, sizeof(*a)),
                   *b = calloc(1, sizeof(*b));
    CHECK(ref && a && b && make_dirtier(ref) == 0);
    CHECK_EQ(vmm_run(ref), NVMX_EXIT_HALTED);
    char path[64], uri[80], err[256];
    snprintf(path, sizeof(path), "/tmp/nvmx-unit-live-%d.img", (int)getpid());
    snprintf(uri, sizeof(uri), "file:%s", path);
    /* 1: the dirty set (224 pages) is below the threshold: it converges;
     * 2: a threshold of 16 pages is never reached: stopped after 6 passes */
    for (int round = 0; round < 2; round++) {
        CHECK(make_dirtier(a) == 0);
        struct live l = {migration_start(a, uri, err, sizeof(err)), 0};
        CHECK(l.mg);
        if (round == 1)
            migration_set_limits(l.mg, 16, 6);
        a->poll = live_hook;
        a->poll_opaque = &l;
        vmm_run(a);
        struct mig_stats st;
        migration_get_stats(l.mg, &st);
        CHECK_EQ(migration_status(l.mg), MIG_COMPLETED);
        /* pass 0 alone takes two steps of a quantum each: the guest ran */
        CHECK(l.done_at >= 2000 && l.done_at < ref->cpus[0]->icount);
        if (round == 0)
            CHECK(st.passes < 30 && st.last_dirty <= 256 && st.last_dirty >= 200);
        else
            CHECK(st.passes == 6 && st.last_dirty > 16);
        CHECK(st.pages > snap_nr_pages(a)); /* pages were sent again */
        migration_free(l.mg);
        CHECK(!a->mem.dirty_log);
        CHECK(make_dirtier(b) == 0);
        CHECK(snapshot_load_file(b, path, err, sizeof(err)) == 0);
        CHECK_EQ(machine_insns(b), l.done_at);
        CHECK_EQ(vmm_run(b), NVMX_EXIT_HALTED);
        CHECK(same_end_state(ref, b));
        machine_destroy(a);
        machine_destroy(b);
        unlink(path);
    }
    machine_destroy(ref);
    free(ref);
    free(a);
    free(b);
}

/* ---- image surgery: sections, with the checksum recomputed ---- */

/* Loads a mutated copy; the error must contain `want` and the machine's
 * vCPU must be untouched. */
static bool refused_with(struct machine *m, struct image *im, const char *want)
{
    char err[512] = "";
    uint64_t rip = m->cpus[0]->rip, icount = m->cpus[0]->icount;
    uint64_t vrip = vmcs_get(m->vmcs01[0], VI_GUEST_RIP);
    int rc = load_image(m, im, err, sizeof(err));
    if (rc != -1 || !strstr(err, want)) {
        printf("  (load returned %d: '%s', wanted '%s')\n", rc, err, want);
        return false;
    }
    return m->cpus[0]->rip == rip && m->cpus[0]->icount == icount &&
           vmcs_get(m->vmcs01[0], VI_GUEST_RIP) == vrip;
}

UNIT_TEST(load_validates_every_section)
{
    struct machine *src = calloc(1, sizeof(*src)), *dst = calloc(1, sizeof(*dst));
    CHECK(src && dst && make_machine(src) == 0 && make_machine(dst) == 0);
    src->opt.max_insns = 2000;
    vmm_run(src);
    events_queue_exception(&src->events[0], 13, true, 0); /* a pending #GP travels too */
    struct image good = good_image(src), im;
    CHECK(good.len > 1000);
    im.p = malloc(good.len + 8192);
    CHECK(im.p);
    char err[512];
#define FRESH() (memcpy(im.p, good.p, good.len), im.len = good.len)

    FRESH();
    CHECK(load_image(dst, &im, err, sizeof(err)) == 0);
    CHECK_EQ(dst->cpus[0]->icount, src->cpus[0]->icount);
    CHECK(dst->events[0].exception.pending && dst->events[0].exception.vector == 13);

    size_t cpu = find_section(&good, "CPU ", 0), vmcs = find_section(&good, "VMCS", 0);
    size_t uart = find_section(&good, "UART", 0), conf = find_section(&good, "CONF", 0);
    size_t mach = find_section(&good, "MACH", 0), evtq = find_section(&good, "EVTQ", 0);
    CHECK(cpu && vmcs && uart && conf && mach && evtq);

    /* a checksum mismatch */
    FRESH();
    im.p[cpu + 12] ^= 1;
    CHECK(refused_with(dst, &im, "checksum mismatch"));
    /* RFLAGS (after 16 GPRs and RIP) with reserved bit 15 */
    FRESH();
    im.p[cpu + 12 + 136 + 1] |= 0x80;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "reserved RFLAGS bits"));
    /* the VMCS revision identifier */
    FRESH();
    im.p[vmcs + 12] ^= 0x40;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "wrong VMCS revision"));
    /* an unknown VMCS field encoding (the first {encoding, value} pair) */
    FRESH();
    memcpy(im.p + vmcs + 12 + 13, "\xad\xde\x00\x00", 4);
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "unknown VMCS field encoding 0xdead"));
    /* a guest state that the next VM entry would refuse: CR0.PG without PE
     * in GUEST_CR0 (find its pair by encoding 0x6800) */
    FRESH();
    for (size_t o = vmcs + 12 + 13; o + 12 <= vmcs + 12 + le(good.p + vmcs + 8, 4); o += 12)
        if (le(im.p + o, 4) == 0x6800) {
            im.p[o + 4 + 3] |= 0x80;    /* PG */
            im.p[o + 4] &= (uint8_t)~1; /* PE */
        }
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "VM-entry checks of the guest state fail"));
    /* an event both pending and injected */
    FRESH();
    im.p[evtq + 12 + 1] = 1;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "both pending and injected"));
    /* a boolean that is not 0 or 1 (the first field of EVTQ) */
    FRESH();
    im.p[evtq + 12] = 7;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "wrong length"));
    /* a missing section: UART cut out */
    FRESH();
    uint32_t ulen = (uint32_t)le(good.p + uart + 8, 4);
    memmove(im.p + uart, im.p + uart + 12 + ulen, good.len - uart - 12 - ulen);
    im.len -= 12 + ulen;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "lacks section 'UART'"));
    /* a duplicated section: MACH twice */
    FRESH();
    uint32_t mlen = (uint32_t)le(good.p + mach + 8, 4);
    memmove(im.p + mach + 12 + mlen, im.p + mach, good.len - mach);
    im.len += 12 + mlen;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "section 'MACH': duplicate section"));
    /* a short section: CONF one byte shorter */
    FRESH();
    uint32_t clen = (uint32_t)le(good.p + conf + 8, 4);
    im.p[conf + 8] = (uint8_t)(clen - 1);
    memmove(im.p + conf + 12 + clen - 1, im.p + conf + 12 + clen, good.len - conf - 12 - clen);
    im.len -= 1;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "section 'CONF': wrong length"));
    /* a per-vCPU section for a vCPU that does not exist */
    FRESH();
    im.p[evtq + 4] = 5;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "vCPU 5 does not exist"));
    /* a RAM page beyond the machine */
    FRESH();
    size_t ram = find_section(&good, "RAM ", 0);
    CHECK(ram);
    im.p[ram + 12 + 5] = 0x7f;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "out of range"));
#undef FRESH
    free(im.p);
    free(good.p);
    machine_destroy(src);
    machine_destroy(dst);
    free(src);
    free(dst);
}

UNIT_TEST(dirty_logging_sees_every_write)
{
    struct machine *m = calloc(1, sizeof(*m));
    CHECK(m && make_machine(m) == 0);
    uint64_t words = (m->mem.nr_pages + 63) / 64;
    uint64_t *bm = calloc(words, sizeof(uint64_t));
    CHECK(bm);
    CHECK(physmem_dirty_start(&m->mem) == 0);
    CHECK_EQ(vmm_run(m), NVMX_EXIT_HALTED);
    CHECK(physmem_dirty_sync(&m->mem, bm) >= 15);
    /* REP STOSB wrote 0x2000-0xffff and, DI wrapping at 64 KiB, 0-0xa5f;
     * REP MOVSB 0x2001-0xe351 */
    CHECK(bm[0] & 1);
    for (int pg = 2; pg <= 0xf; pg++)
        CHECK(bm[0] & (1ull << pg));
    CHECK(!(bm[0] & (1ull << 1))); /* the code page was only read */
    CHECK(!(bm[0] & (1ull << 0x10)));
    memset(bm, 0, words * 8);
    CHECK_EQ(physmem_dirty_sync(&m->mem, bm), 0); /* nothing since */
    uint8_t x = 1;
    physmem_write(&m->mem, 0x50123, &x, 1); /* a device's DMA */
    CHECK_EQ(physmem_dirty_sync(&m->mem, bm), 1);
    CHECK(bm[0x50 / 64] & (1ull << (0x50 % 64)));
    physmem_dirty_stop(&m->mem);
    physmem_write(&m->mem, 0x60000, &x, 1);
    memset(bm, 0, words * 8);
    CHECK_EQ(physmem_dirty_sync(&m->mem, bm), 0);
    free(bm);
    machine_destroy(m);
    free(m);
}

UNIT_TEST(json_helpers)
{
    const char *ok[] = {"{}", "[]", "{\"a\": [1, -2.5e3, true, false, null, \"x\\u0041\\n\"]}",
                        " {\"execute\":\"x\",\"arguments\":{\"k\":{}}} "};
    for (unsigned i = 0; i < 4; i++)
        CHECK(json_skip_value(ok[i], strlen(ok[i]), 0) > 0);
    const char *bad[] = {"{",   "{\"a\"}", "{\"a\": }",    "[1,]",
                         "tru", "\"abc",   "{\"a\": 01x}", "\"\\q\"",
                         "-",   "1.",      "{\"a\":1,}"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long e = json_skip_value(bad[i], strlen(bad[i]), 0);
        CHECK(e < 0 || (size_t)e < strlen(bad[i]));
    }
    const char *msg =
        "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:/t\\/s\"}, \"id\": 3}";
    size_t vs, ve, as, ae;
    char s[64];
    CHECK(json_member(msg, 0, strlen(msg), "execute", &vs, &ve));
    CHECK(json_string(msg, vs, ve, s, sizeof(s)) && !strcmp(s, "migrate"));
    CHECK(json_member(msg, 0, strlen(msg), "arguments", &as, &ae));
    CHECK(json_member(msg, as, ae, "uri", &vs, &ve));
    CHECK(json_string(msg, vs, ve, s, sizeof(s)) && !strcmp(s, "unix:/t/s"));
    CHECK(!json_member(msg, 0, strlen(msg), "uri", &vs, &ve)); /* not at top level */
    CHECK(!json_string(msg, vs, ve, s, 4));                    /* too long for the buffer */
    char q[64];
    CHECK_EQ(json_quote("a\"b\\c\nd\x01", q, sizeof(q)), strlen("\"a\\\"b\\\\c\\nd\\u0001\""));
    CHECK(!strcmp(q, "\"a\\\"b\\\\c\\nd\\u0001\""));
}

/* An event whose delivery was under way (injected, from IDT-vectoring
 * information) is part of the image: a machine saved with one resumes
 * exactly as the original. The guest's handler for INT 0x20 (IVT entry
 * 0x80 -> 0:0x1800) counts in BP. */
UNIT_TEST(injected_event_survives_a_snapshot)
{
    struct machine *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    CHECK(a && b && make_machine(a) == 0 && make_machine(b) == 0);
    static const uint8_t handler[] = {0x45, 0xcf}; /* inc bp; iret */
    uint32_t ivt = 0x1800;
    physmem_write(&a->mem, 0x1800, handler, sizeof(handler));
    physmem_write(&a->mem, 0x20 * 4, &ivt, 4);
    a->events[0].interrupt =
        (struct queued_event){.injected = true, .vector = 0x20, .type = INTR_TYPE_EXT_INTR};
    char path[64], err[256];
    snprintf(path, sizeof(path), "/tmp/nvmx-unit-inj-%d.img", (int)getpid());
    CHECK(snapshot_save_file(a, path, err, sizeof(err)) == 0);
    CHECK_EQ(vmm_run(a), NVMX_EXIT_HALTED);
    CHECK_EQ(a->cpus[0]->regs[R_RBP], 1); /* the handler ran once */
    CHECK(snapshot_load_file(b, path, err, sizeof(err)) == 0);
    CHECK(b->events[0].interrupt.injected && b->events[0].interrupt.vector == 0x20);
    CHECK_EQ(vmm_run(b), NVMX_EXIT_HALTED);
    CHECK(same_end_state(a, b));
    unlink(path);
    machine_destroy(a);
    machine_destroy(b);
    free(a);
    free(b);
}

/* Random corruption of the state sections with the checksum made right
 * again: every load either fails with a message or gives a machine that
 * runs without harming the host (run under ASan/UBSan by make check). */
UNIT_TEST(mutated_images_never_crash)
{
    struct machine *src = calloc(1, sizeof(*src)), *dst = calloc(1, sizeof(*dst));
    CHECK(src && dst && make_machine(src) == 0);
    src->opt.max_insns = 3000;
    vmm_run(src);
    struct image good = good_image(src), im;
    CHECK(good.len > 1000);
    im.p = malloc(good.len);
    CHECK(im.p);
    size_t first = find_section(&good, "MACH", 0), end = find_section(&good, "END ", 0);
    CHECK(first && end > first);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int loaded = 0, refused = 0;
    for (int iter = 0; iter < 150; iter++) {
        memcpy(im.p, good.p, good.len);
        im.len = good.len;
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            size_t at = first + (size_t)(seed % (end - first));
            im.p[at] ^= (uint8_t)(1u << ((seed >> 32) & 7));
        }
        fix_checksum(&im);
        CHECK(make_machine(dst) == 0);
        char err[512];
        if (load_image(dst, &im, err, sizeof(err)) == 0) {
            loaded++;
            dst->opt.max_insns = machine_insns(dst) + 2000;
            vmm_run(dst);
        } else {
            CHECK(err[0] != 0);
            refused++;
        }
        machine_destroy(dst);
    }
    CHECK(loaded > 0 && refused > 0);
    free(im.p);
    free(good.p);
    machine_destroy(src);
    free(src);
    free(dst);
}

/* The NEST section (nested VMX state): each inconsistent combination is
 * refused, and a machine whose -cpu differs from the image's too. */
UNIT_TEST(load_validates_nested_state)
{
    struct machine *src = calloc(1, sizeof(*src)), *dst = calloc(1, sizeof(*dst));
    CHECK(src && dst && make_machine(src) == 0 && make_machine(dst) == 0);
    src->opt.max_insns = 500;
    vmm_run(src);
    struct image good = good_image(src), im;
    im.p = malloc(good.len + 64);
    CHECK(im.p);
    char err[512];
#define FRESH() (memcpy(im.p, good.p, good.len), im.len = good.len)
    size_t nest = find_section(&good, "NEST", 0);
    CHECK(nest);
    size_t p = nest + 12; /* payload: vmx_offered, vmxon, guest_mode, run_pending, armed, ... */
    FRESH();
    CHECK(load_image(dst, &im, err, sizeof(err)) == 0);
    FRESH();
    im.p[p + 0] = 0;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "this machine offers VMX, the image's does not"));
    FRESH();
    im.p[p + 2] = 1;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "guest mode without a launched current vmcs12"));
    FRESH();
    im.p[p + 3] = 1;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "nested run pending outside guest mode"));
    FRESH();
    im.p[p + 1] = 1;                                             /* vmxon ... */
    memcpy(im.p + p + 5, "\x00\x00\x00\x00\x01\x00\x00\x00", 8); /* ... region at 4 GiB */
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "the VMXON region is not in guest RAM"));
    FRESH();
    im.p[p + 5 + 24] |= 0x10; /* IA32_FEATURE_CONTROL bit 4 */
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "reserved IA32_FEATURE_CONTROL bits"));
    FRESH();
    uint32_t nlen = (uint32_t)le(good.p + nest + 8, 4);
    memmove(im.p + nest, im.p + nest + 12 + nlen, good.len - nest - 12 - nlen);
    im.len -= 12 + nlen;
    fix_checksum(&im);
    CHECK(refused_with(dst, &im, "lacks section 'NEST'"));
    /* a machine without VMX refuses an image with it */
    FRESH();
    dst->opt.no_vmx = true;
    CHECK(refused_with(dst, &im, "the image offers VMX to the guest, this machine does not"));
#undef FRESH
    free(im.p);
    free(good.p);
    machine_destroy(src);
    machine_destroy(dst);
    free(src);
    free(dst);
}

/* QMP input is untrusted: random JSON-like text never makes the parser
 * read outside its buffer (ASan/UBSan in make check) and the spans it
 * returns stay inside the text. */
UNIT_TEST(json_survives_garbage)
{
    static const char alphabet[] = "{}[]\",:\\ \nu0123456789abcdeftrunlsExq-+.";
    uint64_t seed = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 1 + iter % 40;
        char *t = malloc(len); /* exactly len bytes: no terminator to lean on */
        CHECK(t);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            t[i] = alphabet[(seed >> 33) % (sizeof(alphabet) - 1)];
        }
        if (iter % 3 == 0)
            t[0] = '{';
        long e = json_skip_value(t, len, 0);
        CHECK(e <= (long)len);
        size_t vs = 0, ve = 0;
        char out[16];
        if (json_member(t, 0, len, "execute", &vs, &ve)) {
            CHECK(vs <= ve && ve <= len);
            json_string(t, vs, ve, out, sizeof(out));
        }
        free(t);
    }
}

/* BRIEF decision 1: before a save the cached vmcs12 is written back to L1
 * memory, so the image's RAM holds the current vmcs12 as L1 left it (and
 * the NEST section its cache). */
UNIT_TEST(save_writes_vmcs12_back)
{
    struct machine *src = calloc(1, sizeof(*src)), *dst = calloc(1, sizeof(*dst));
    CHECK(src && dst && make_machine(src) == 0 && make_machine(dst) == 0);
    struct nested_vcpu *n = src->nested[0];
    n->vmxon = true;
    n->vmxon_ptr = 0x6000;
    n->current_ptr = 0x5000;
    n->vmcs12.revision_id = VMCS12_REVISION;
    vmcs_set(&n->vmcs12, VI_GUEST_RIP, 0x123456789abcull);
    src->mem.arena[0x6000] = 0; /* (region contents are L1's business) */
    struct image good = good_image(src);
    CHECK(good.len > 1000);
    char err[512];
    CHECK(load_image(dst, &good, err, sizeof(err)) == 0);
    uint64_t rip = 0;
    memcpy(&rip, dst->mem.arena + 0x5000 + 16 + 8 * VI_GUEST_RIP, 8);
    CHECK_EQ(rip, 0x123456789abcull);
    CHECK_EQ(dst->nested[0]->current_ptr, 0x5000);
    CHECK_EQ(vmcs_get(&dst->nested[0]->vmcs12, VI_GUEST_RIP), 0x123456789abcull);
    free(good.p);
    machine_destroy(src);
    machine_destroy(dst);
    free(src);
    free(dst);
}

int main(void)
{
    UNIT_RUN(restore_mid_rep_string_equals_uninterrupted);
    UNIT_RUN(live_migration_with_a_busy_guest);
    UNIT_RUN(injected_event_survives_a_snapshot);
    UNIT_RUN(load_validates_every_section);
    UNIT_RUN(mutated_images_never_crash);
    UNIT_RUN(load_validates_nested_state);
    UNIT_RUN(save_writes_vmcs12_back);
    UNIT_RUN(dirty_logging_sees_every_write);
    UNIT_RUN(json_helpers);
    UNIT_RUN(json_survives_garbage);
    return unit_failures ? 1 : 0;
}
