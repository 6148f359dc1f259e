/* Saving and loading machine images (format: snapshot.h). */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu/vmx_caps.h"
#include "dev/debug_exit.h"
#include "dev/fwcfg.h"
#include "dev/uart16550.h"
#include "nested_state.h"
#include "plat_state.h"
#include "state.h"

static const char snap_magic[8] = {'N', 'V', 'M', 'X', 'S', 'N', 'A', 'P'};

#define TAG(a, b, c, d)                                                                            \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define T_CONF TAG('C', 'O', 'N', 'F')
#define T_RAM TAG('R', 'A', 'M', ' ')
#define T_MACH TAG('M', 'A', 'C', 'H')
#define T_CPU TAG('C', 'P', 'U', ' ')
#define T_VMCS TAG('V', 'M', 'C', 'S')
#define T_EVTQ TAG('E', 'V', 'T', 'Q')
#define T_VMXT TAG('V', 'M', 'X', 'T')
#define T_NEST TAG('N', 'E', 'S', 'T')
#define T_UART TAG('U', 'A', 'R', 'T')
#define T_FWCF TAG('F', 'W', 'C', 'F')
#define T_DBGX TAG('D', 'B', 'G', 'X')
#define T_PLAT TAG('P', 'L', 'A', 'T')
#define T_LAPC TAG('L', 'A', 'P', 'C')
#define T_END TAG('E', 'N', 'D', ' ')

/* Largest payload a section may announce: a full RAM chunk. */
#define SNAP_MAX_SECTION ((uint32_t)SNAP_RAM_CHUNK * 4105u + 64u)

static void tag_name(uint32_t tag, char out[5])
{
    for (int i = 0; i < 4; i++) {
        char c = (char)(tag >> (8 * i));
        out[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    out[4] = 0;
}

uint64_t snap_nr_pages(const struct machine *m)
{
    return (m->mem.ram_size + m->mem.priv_used) >> 12;
}

static void put_le(uint8_t *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void write_section(struct mig_out *o, uint32_t tag, uint32_t inst, struct mbuf *b)
{
    if (b->oom) {
        if (!o->failed)
            snprintf(o->err, sizeof(o->err), "out of memory building a section");
        o->failed = true;
        return;
    }
    uint8_t h[12];
    put_le(h, tag, 4);
    put_le(h + 4, inst, 4);
    put_le(h + 8, b->len, 4);
    mig_out_write(o, h, sizeof(h));
    mig_out_write(o, b->p, b->len);
}

/* ---- CONF: the shape of the machine (must match the destination's) ---- */

struct conf {
    uint64_t ram_size, priv_used, quantum;
    uint32_t nr_cpus;
    bool debug_exit, vmx_test;
    uint16_t debug_exit_port, debug_exit_size;
};

static void conf_fields(struct xf *x, struct conf *c)
{
    x_u64(x, &c->ram_size);
    x_u64(x, &c->priv_used);
    x_u64(x, &c->quantum);
    x_u32(x, &c->nr_cpus);
    x_bool(x, &c->debug_exit);
    x_u16(x, &c->debug_exit_port);
    x_u16(x, &c->debug_exit_size);
    x_bool(x, &c->vmx_test);
}

static void conf_of(const struct machine *m, struct conf *c)
{
    *c = (struct conf){m->mem.ram_size,
                       m->mem.priv_used,
                       m->opt.quantum,
                       (uint32_t)m->nr_cpus,
                       m->opt.debug_exit,
                       m->opt.vmx_test,
                       m->opt.debug_exit ? m->opt.debug_exit_port : 0,
                       m->opt.debug_exit ? m->opt.debug_exit_size : 0};
}

void snap_write_begin(struct mig_out *o, struct machine *m)
{
    uint8_t h[16];
    memcpy(h, snap_magic, 8);
    put_le(h + 8, SNAP_VERSION, 4);
    put_le(h + 12, 0, 4);
    mig_out_write(o, h, sizeof(h));
    struct mbuf b = {0};
    struct xf x = {&b, NULL};
    struct conf c;
    conf_of(m, &c);
    conf_fields(&x, &c);
    write_section(o, T_CONF, 0, &b);
    mbuf_free(&b);
}

/* ---- RAM: records {u64 arena page, u8 kind (0 zero, 1 data), data} ---- */

static bool page_is_zero(const uint8_t *p)
{
    static const uint8_t zero[4096];
    return !memcmp(p, zero, 4096);
}

uint64_t snap_write_ram(struct mig_out *o, struct machine *m, const uint64_t *bitmap,
                        uint64_t *cursor, uint64_t max_pages, uint64_t *zero_pages)
{
    uint64_t n = snap_nr_pages(m), sent = 0;
    struct mbuf b = {0};
    uint32_t in_chunk = 0;
    for (; *cursor < n && sent < max_pages && !o->failed; (*cursor)++) {
        uint64_t pg = *cursor;
        if (bitmap && !(bitmap[pg >> 6] & (1ull << (pg & 63))))
            continue;
        const uint8_t *p = m->mem.arena + (pg << 12);
        uint8_t rec[9];
        put_le(rec, pg, 8);
        rec[8] = page_is_zero(p) ? 0 : 1;
        mbuf_put(&b, rec, sizeof(rec));
        if (rec[8])
            mbuf_put(&b, p, 4096);
        else
            (*zero_pages)++;
        sent++;
        if (++in_chunk == SNAP_RAM_CHUNK) {
            write_section(o, T_RAM, 0, &b);
            b.len = 0;
            in_chunk = 0;
        }
    }
    if (in_chunk)
        write_section(o, T_RAM, 0, &b);
    mbuf_free(&b);
    return sent;
}

static const char *load_ram(struct machine *m, struct rbuf *r, char *msg, size_t len)
{
    uint64_t n = snap_nr_pages(m);
    while (r->pos < r->len) {
        uint8_t rec[9];
        rbuf_get(r, rec, sizeof(rec));
        uint64_t pg = get_le(rec, 8);
        if (r->bad)
            return "RAM record truncated";
        if (pg >= n) {
            snprintf(msg, len, "RAM page %llu out of range (the machine has %llu)",
                     (unsigned long long)pg, (unsigned long long)n);
            return msg;
        }
        uint8_t *p = m->mem.arena + (pg << 12);
        if (rec[8] == 0) {
            if (!page_is_zero(p)) /* reading a fresh page allocates nothing */
                memset(p, 0, 4096);
        } else if (rec[8] == 1)
            rbuf_get(r, p, 4096);
        else
            return "bad RAM record kind";
        if (r->bad)
            return "RAM record truncated";
    }
    return NULL;
}

/* ---- the machine's state sections ---- */

static void mach_fields(struct xf *x, struct machine *m, int *sched_cpu, uint64_t *sched_end,
                        uint64_t *counts)
{
    x_int(x, sched_cpu);
    x_u64(x, sched_end);
    uint32_t nr = NR_EXIT_REASONS;
    x_u32(x, &nr);
    if (nr != NR_EXIT_REASONS && x->r)
        x->r->bad = true;
    for (int i = 0; i < NR_EXIT_REASONS; i++)
        x_u64(x, &counts[i]);
}

static void fwcfg_fields(struct xf *x, struct fw_cfg *f)
{
    x_u16(x, &f->selector);
    x_u32(x, &f->offset);
    for (int i = 0; i < FW_CFG_MAX_ITEMS; i++) {
        x_u32(x, &f->items[i].len);
        if (x_loading(x)) {
            struct rbuf *r = x->r;
            if (r->bad || f->items[i].len > r->len - r->pos) {
                r->bad = true;
                f->items[i].len = 0;
                f->items[i].data = NULL;
                continue;
            }
            f->items[i].data = malloc(f->items[i].len ? f->items[i].len : 1);
            if (!f->items[i].data) {
                r->bad = true;
                continue;
            }
        }
        x_bytes(x, f->items[i].data, f->items[i].len);
    }
}

static void dbgx_fields(struct xf *x, struct debug_exit *d)
{
    x_bool(x, &d->requested);
    x_int(x, &d->status);
}

/* Builds one section with a visitor and writes it. */
#define SAVE_SECTION(o, tag, inst, call)                                                           \
    do {                                                                                           \
        struct mbuf b_ = {0};                                                                      \
        struct xf x_ = {&b_, NULL};                                                                \
        struct xf *x = &x_;                                                                        \
        call;                                                                                      \
        write_section(o, tag, inst, &b_);                                                          \
        mbuf_free(&b_);                                                                            \
    } while (0)

/* The PC platform: PLAT, then LAPC for each vCPU (plat_state.h). */
static void save_platform(struct mig_out *o, struct machine *m)
{
    bool hpet = !m->opt.no_hpet;
    SAVE_SECTION(o, T_PLAT, 0, plat_state_fields(x, m->plat, &hpet));
    for (int i = 0; i < m->nr_cpus; i++)
        SAVE_SECTION(o, T_LAPC, (uint32_t)i, lapc_state_fields(x, &m->plat->v[i]));
}

void snap_write_end(struct mig_out *o, struct machine *m)
{
    int sc = m->sched_cpu;
    uint64_t se = m->sched_end;
    SAVE_SECTION(o, T_MACH, 0, mach_fields(x, m, &sc, &se, m->exit_counts));
    for (int i = 0; i < m->nr_cpus; i++) {
        SAVE_SECTION(o, T_CPU, (uint32_t)i, cpu_state_fields(x, m->cpus[i], NULL));
        SAVE_SECTION(o, T_VMCS, (uint32_t)i, vmcs_state_fields(x, m->vmcs01[i]));
        SAVE_SECTION(o, T_EVTQ, (uint32_t)i, events_state_fields(x, &m->events[i]));
        SAVE_SECTION(o, T_VMXT, (uint32_t)i, vmx_test_state_fields(x, &m->vmx_test[i]));
        struct nested_image *ni = malloc(sizeof(*ni));
        if (!ni) {
            o->failed = true;
            snprintf(o->err, sizeof(o->err), "out of memory");
            continue;
        }
        nested_image_of(m, i, ni);
        SAVE_SECTION(o, T_NEST, (uint32_t)i, nested_image_fields(x, ni, NULL, 0));
        free(ni);
    }
    save_platform(o, m);
    struct uart_regs ur;
    uart_get_regs(m->uart, &ur);
    SAVE_SECTION(o, T_UART, 0, uart_state_fields(x, &ur));
    SAVE_SECTION(o, T_FWCF, 0, fwcfg_fields(x, m->fwcfg));
    if (m->dbgexit)
        SAVE_SECTION(o, T_DBGX, 0, dbgx_fields(x, m->dbgexit));
    uint8_t h[12];
    put_le(h, T_END, 4);
    put_le(h + 4, 0, 4);
    put_le(h + 8, 8, 4);
    mig_out_write(o, h, sizeof(h));
    uint8_t sum[8];
    put_le(sum, o->sum, 8);
    mig_out_write(o, sum, 8);
}

int snapshot_save(struct machine *m, int fd, char *err, size_t errlen)
{
    struct mig_out o;
    mig_out_init(&o, fd);
    snap_write_begin(&o, m);
    for (int i = 0; i < m->nr_cpus; i++)
        nested_flush_vmcs12(m, i); /* BRIEF decision 1 */
    uint64_t cursor = 0, zeros = 0;
    snap_write_ram(&o, m, NULL, &cursor, UINT64_MAX, &zeros);
    snap_write_end(&o, m);
    if (o.failed) {
        snprintf(err, errlen, "saving the machine: %s", o.err);
        return -1;
    }
    return 0;
}

/* ---- loading ---- */

struct staged {
    struct machine *m;
    bool conf, mach, uart, fwcfg, dbgx;
    uint64_t ram_sections;
    int sched_cpu;
    uint64_t sched_end;
    uint64_t counts[NR_EXIT_REASONS];
    struct cpu *cpu[MACHINE_MAX_CPUS];
    struct cpu_tlb_state *tlb[MACHINE_MAX_CPUS];
    struct vmcs *vmcs[MACHINE_MAX_CPUS];
    struct event_queue ev[MACHINE_MAX_CPUS];
    struct vmx_test_state vt[MACHINE_MAX_CPUS];
    bool have_ev[MACHINE_MAX_CPUS], have_vt[MACHINE_MAX_CPUS];
    struct nested_image *nest[MACHINE_MAX_CPUS];
    struct uart_regs ur;
    struct fw_cfg fw;
    struct debug_exit dx;
    /* the platform: a copy of the machine's (host pointers kept) */
    struct platform *plat;
    bool have_plat, have_lapc[MACHINE_MAX_CPUS];
};

static void staged_free(struct staged *s)
{
    for (int i = 0; i < MACHINE_MAX_CPUS; i++) {
        free(s->cpu[i]);
        free(s->tlb[i]);
        free(s->vmcs[i]);
        free(s->nest[i]);
    }
    for (int i = 0; i < FW_CFG_MAX_ITEMS; i++)
        free(s->fw.items[i].data);
    free(s->plat);
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool per_cpu_tag(uint32_t tag);

/* PLAT and LAPC go into the staged copy of the platform. */
static const char *load_platform(struct staged *s, uint32_t tag, uint32_t inst, struct xf *x,
                                 char *msg, size_t len)
{
    struct machine *m = s->m;
    struct rbuf *r = x->r;
    if (!s->plat) {
        s->plat = malloc(sizeof(*s->plat));
        if (!s->plat)
            return "out of memory";
        *s->plat = *m->plat; /* keeps the host pointers */
    }
    if (tag == T_PLAT) {
        if (s->have_plat)
            return "duplicate section";
        s->have_plat = true;
        bool hpet = false;
        plat_state_fields(x, s->plat, &hpet);
        if (r->bad || r->pos != r->len)
            return "wrong length";
        if (hpet != !m->opt.no_hpet)
            return hpet ? "the image has an HPET, this machine has none (use the same -no-hpet)"
                        : "the image has no HPET, this machine has one (use the same -no-hpet)";
        return plat_state_check(s->plat, m->nr_cpus, msg, len);
    }
    if (s->have_lapc[inst])
        return "duplicate section";
    s->have_lapc[inst] = true;
    lapc_state_fields(x, &s->plat->v[inst]);
    if (r->bad || r->pos != r->len)
        return "wrong length";
    return lapc_state_check(&s->plat->v[inst], (int)inst, msg, len);
}

/* After every section: the local APICs' timers against the clock, the
 * clock bookkeeping against the vCPUs' instruction counts. */
static int check_platform(struct staged *s, char *err, size_t errlen)
{
    struct machine *m = s->m;
    char msg[200];
    if (!s->have_plat)
        return fail(err, errlen, "the image lacks section 'PLAT'");
    for (int i = 0; i < m->nr_cpus; i++) {
        if (!s->have_lapc[i])
            return fail(err, errlen, "the image lacks section 'LAPC' of vCPU %d", i);
        const char *e = lapc_state_check_clock(&s->plat->v[i], s->plat->clk.ns, s->cpu[i]->icount,
                                               msg, sizeof(msg));
        if (e)
            return fail(err, errlen, "section 'LAPC' of vCPU %d: %s", i, e);
    }
    const char *e = plat_state_check_deadline(s->plat, m->nr_cpus, msg, sizeof(msg));
    if (e)
        return fail(err, errlen, "section 'PLAT': %s", e);
    return 0;
}

static void commit_platform(struct staged *s)
{
    struct machine *m = s->m;
    uint64_t host_start = m->plat->host_start_ns;
    *m->plat = *s->plat;
    /* the virtual-APIC page pointers are a cache of the host's: refilled */
    for (int i = 0; i < m->nr_cpus; i++) {
        m->plat->v[i].vtpr = NULL;
        m->plat->v[i].vapic_gpa = 0;
    }
    /* -rtc clock=host: the host clock's origin moves so that virtual time
     * still does not run ahead of it from the restored instant */
    if (m->opt.realtime) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * VCLOCK_NS_PER_SEC + (uint64_t)ts.tv_nsec;
        host_start = now - m->plat->clk.ns;
    }
    m->plat->host_start_ns = host_start;
}

/* Decodes one section into the staging area. Returns NULL or a message. */
static const char *load_section(struct staged *s, uint32_t tag, uint32_t inst, struct rbuf *r,
                                char *msg, size_t len)
{
    struct machine *m = s->m;
    struct xf x = {NULL, r};
    bool per_cpu = per_cpu_tag(tag);
    if (tag != T_CONF && !s->conf)
        return "the first section is not CONF";
    if (per_cpu && inst >= (uint32_t)m->nr_cpus) {
        snprintf(msg, len, "vCPU %u does not exist (the machine has %d)", inst, m->nr_cpus);
        return msg;
    }
    if (!per_cpu && inst != 0)
        return "non-zero instance for a machine-wide section";
    switch (tag) {
    case T_CONF: {
        if (s->conf)
            return "duplicate section";
        struct conf c, mine;
        conf_fields(&x, &c);
        if (r->bad || r->pos != r->len)
            return "wrong length";
        conf_of(m, &mine);
        s->conf = true;
        if (c.ram_size != mine.ram_size) {
            snprintf(
                msg, len, "the image has %llu MiB of RAM, this machine %llu MiB (use the same -m)",
                (unsigned long long)(c.ram_size >> 20), (unsigned long long)(mine.ram_size >> 20));
            return msg;
        }
        if (c.nr_cpus != mine.nr_cpus) {
            snprintf(msg, len, "the image has %u vCPUs, this machine %u (use the same -smp)",
                     c.nr_cpus, mine.nr_cpus);
            return msg;
        }
        if (c.debug_exit != mine.debug_exit || c.debug_exit_port != mine.debug_exit_port ||
            c.debug_exit_size != mine.debug_exit_size)
            return "the isa-debug-exit device differs (use the same -device options)";
        if (c.vmx_test != mine.vmx_test)
            return "-vmx-test differs between the image and this machine";
        if (c.quantum != mine.quantum)
            return "the time-slice quantum differs";
        if (c.priv_used != mine.priv_used)
            return "L0's private memory layout differs (image from another nvmx version?)";
        return NULL;
    }
    case T_RAM:
        s->ram_sections++;
        return load_ram(m, r, msg, len);
    case T_MACH:
        if (s->mach)
            return "duplicate section";
        mach_fields(&x, m, &s->sched_cpu, &s->sched_end, s->counts);
        s->mach = true;
        if (r->bad || r->pos != r->len)
            return "wrong length";
        if (s->sched_cpu < 0 || s->sched_cpu >= m->nr_cpus)
            return "bad run-loop vCPU";
        return NULL;
    case T_CPU: {
        if (s->cpu[inst])
            return "duplicate section";
        s->cpu[inst] = malloc(sizeof(struct cpu));
        s->tlb[inst] = calloc(CPU_TLB_ENTRIES, sizeof(struct cpu_tlb_state));
        if (!s->cpu[inst] || !s->tlb[inst])
            return "out of memory";
        *s->cpu[inst] = *m->cpus[inst]; /* keeps the host pointers */
        cpu_state_fields(&x, s->cpu[inst], s->tlb[inst]);
        if (r->bad || r->pos != r->len)
            return "wrong length";
        return cpu_state_check(s->cpu[inst], s->tlb[inst], msg, len);
    }
    case T_VMCS: {
        if (s->vmcs[inst])
            return "duplicate section";
        s->vmcs[inst] = calloc(1, sizeof(struct vmcs));
        if (!s->vmcs[inst])
            return "out of memory";
        const char *e = vmcs_state_load(&x, s->vmcs[inst], msg, len);
        if (e)
            return e;
        if (r->bad || r->pos != r->len)
            return "wrong length";
        return vmcs_state_check(s->vmcs[inst], &m->mem, msg, len);
    }
    case T_EVTQ:
        if (s->have_ev[inst])
            return "duplicate section";
        s->have_ev[inst] = true;
        events_state_fields(&x, &s->ev[inst]);
        if (r->bad || r->pos != r->len)
            return "wrong length";
        return events_state_check(&s->ev[inst]);
    case T_VMXT:
        if (s->have_vt[inst])
            return "duplicate section";
        s->have_vt[inst] = true;
        vmx_test_state_fields(&x, &s->vt[inst]);
        if (r->bad || r->pos != r->len)
            return "wrong length";
        return NULL;
    case T_NEST: {
        if (s->nest[inst])
            return "duplicate section";
        s->nest[inst] = calloc(1, sizeof(struct nested_image));
        if (!s->nest[inst])
            return "out of memory";
        const char *e = nested_image_fields(&x, s->nest[inst], msg, len);
        if (e)
            return e;
        if (r->bad || r->pos != r->len)
            return "wrong length";
        return nested_image_check(m, s->nest[inst], msg, len);
    }
    case T_UART: {
        if (s->uart)
            return "duplicate section";
        s->uart = true;
        uart_state_fields(&x, &s->ur);
        if (r->bad || r->pos != r->len)
            return "wrong length";
        struct uart_regs cur;
        uart_get_regs(m->uart, &cur);
        if (!uart_set_regs(m->uart, &s->ur)) /* validates; restored below */
            return "impossible UART register values";
        uart_set_regs(m->uart, &cur);
        return NULL;
    }
    case T_FWCF:
        if (s->fwcfg)
            return "duplicate section";
        s->fwcfg = true;
        fwcfg_fields(&x, &s->fw);
        if (r->bad || r->pos != r->len)
            return "wrong length";
        return NULL;
    case T_DBGX:
        if (s->dbgx)
            return "duplicate section";
        if (!m->dbgexit)
            return "the image has an isa-debug-exit device, this machine has none";
        s->dbgx = true;
        dbgx_fields(&x, &s->dx);
        if (r->bad || r->pos != r->len)
            return "wrong length";
        if (s->dx.status < 0 || s->dx.status > 0xff)
            return "bad isa-debug-exit status";
        return NULL;
    case T_PLAT:
    case T_LAPC:
        return load_platform(s, tag, inst, &x, msg, len);
    default:
        return "unknown section";
    }
}

static void commit(struct staged *s)
{
    struct machine *m = s->m;
    m->sched_cpu = s->sched_cpu;
    m->sched_end = s->sched_end;
    memcpy(m->exit_counts, s->counts, sizeof(m->exit_counts));
    for (int i = 0; i < m->nr_cpus; i++) {
        *m->cpus[i] = *s->cpu[i];
        for (unsigned t = 0; t < CPU_TLB_ENTRIES; t++)
            cpu_tlb_set(m->cpus[i], t, &s->tlb[i][t]);
        cpu_state_restored(m->cpus[i]);
        *m->vmcs01[i] = *s->vmcs[i];
        m->events[i] = s->ev[i];
        m->vmx_test[i] = s->vt[i];
        nested_image_commit(m, i, s->nest[i]);
    }
    uart_set_regs(m->uart, &s->ur);
    for (int i = 0; i < FW_CFG_MAX_ITEMS; i++) {
        free(m->fwcfg->items[i].data);
        m->fwcfg->items[i] = s->fw.items[i];
        s->fw.items[i].data = NULL;
    }
    m->fwcfg->selector = s->fw.selector;
    m->fwcfg->offset = s->fw.offset;
    if (m->dbgexit)
        *m->dbgexit = s->dx;
    commit_platform(s);
}

static bool per_cpu_tag(uint32_t tag)
{
    return tag == T_CPU || tag == T_VMCS || tag == T_EVTQ || tag == T_VMXT || tag == T_NEST ||
           tag == T_LAPC;
}

static int load_stream(struct staged *s, struct mig_in *in, char *err, size_t errlen)
{
    struct machine *m = s->m;
    uint8_t h[16];
    if (!mig_in_read(in, h, sizeof(h)))
        return fail(err, errlen, "%s", in->err);
    if (memcmp(h, snap_magic, 8))
        return fail(err, errlen, "not an nvmx machine image (bad magic)");
    uint32_t ver = (uint32_t)get_le(h + 8, 4);
    if (ver != SNAP_VERSION)
        return fail(err, errlen, "image format version %u, this nvmx reads version %u", ver,
                    SNAP_VERSION);
    if (get_le(h + 12, 4))
        return fail(err, errlen, "unknown image flags %#x", (unsigned)get_le(h + 12, 4));
    uint8_t *buf = malloc(SNAP_MAX_SECTION);
    if (!buf)
        return fail(err, errlen, "out of memory");
    char msg[200];
    int rc = -1;
    for (;;) {
        uint8_t sh[12];
        if (!mig_in_read(in, sh, sizeof(sh))) {
            fail(err, errlen, "%s (no END section)", in->err);
            break;
        }
        uint32_t tag = (uint32_t)get_le(sh, 4), inst = (uint32_t)get_le(sh + 4, 4);
        uint32_t len = (uint32_t)get_le(sh + 8, 4);
        char name[5];
        tag_name(tag, name);
        if (tag == T_END) {
            uint64_t want = in->sum;
            uint8_t sum[8];
            if (len != 8 || inst != 0) {
                fail(err, errlen, "malformed END section");
                break;
            }
            if (!mig_in_read(in, sum, 8)) {
                fail(err, errlen, "%s", in->err);
                break;
            }
            if (get_le(sum, 8) != want) {
                fail(err, errlen, "checksum mismatch: the image is corrupt");
                break;
            }
            rc = 0;
            break;
        }
        if (len > SNAP_MAX_SECTION) {
            fail(err, errlen, "section '%s' claims %u bytes (at most %u)", name, len,
                 SNAP_MAX_SECTION);
            break;
        }
        if (!mig_in_read(in, buf, len)) {
            fail(err, errlen, "%s (in section '%s')", in->err, name);
            break;
        }
        struct rbuf r = {buf, len, 0, false};
        const char *e = load_section(s, tag, inst, &r, msg, sizeof(msg));
        if (e) {
            if (per_cpu_tag(tag))
                fail(err, errlen, "section '%s' of vCPU %u: %s", name, inst, e);
            else
                fail(err, errlen, "section '%s': %s", name, e);
            break;
        }
    }
    free(buf);
    if (rc)
        return rc;
    /* every section the machine needs must be present */
    const char *missing = !s->mach                   ? "MACH"
                          : !s->uart                 ? "UART"
                          : !s->fwcfg                ? "FWCF"
                          : (m->dbgexit && !s->dbgx) ? "DBGX"
                          : !s->ram_sections         ? "RAM "
                                                     : NULL;
    if (missing)
        return fail(err, errlen, "the image lacks section '%s'", missing);
    for (int i = 0; i < m->nr_cpus; i++) {
        missing = !s->cpu[i]       ? "CPU "
                  : !s->vmcs[i]    ? "VMCS"
                  : !s->have_ev[i] ? "EVTQ"
                  : !s->have_vt[i] ? "VMXT"
                  : !s->nest[i]    ? "NEST"
                                   : NULL;
        if (missing)
            return fail(err, errlen, "the image lacks section '%s' of vCPU %d", missing, i);
    }
    /* the run loop's position: inside the current slice of that vCPU */
    uint64_t ic = s->cpu[s->sched_cpu]->icount;
    if (s->sched_end && (s->sched_end < ic || s->sched_end - ic > m->opt.quantum))
        return fail(err, errlen, "section 'MACH': the time slice does not fit vCPU %d's count",
                    s->sched_cpu);
    return check_platform(s, err, errlen);
}

int snapshot_load(struct machine *m, int fd, char *err, size_t errlen)
{
    struct staged *s = calloc(1, sizeof(*s));
    if (!s)
        return fail(err, errlen, "out of memory");
    s->m = m;
    struct mig_in in;
    mig_in_init(&in, fd);
    int rc = load_stream(s, &in, err, errlen);
    if (!rc) {
        commit(s);
        physmem_invalidate_code(&m->mem);
    }
    staged_free(s);
    free(s);
    return rc;
}

int snapshot_save_file(struct machine *m, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(err, errlen, "cannot create '%s': %s", path, strerror(errno));
    int rc = snapshot_save(m, fd, err, errlen);
    if (close(fd) && !rc)
        rc = fail(err, errlen, "writing '%s': %s", path, strerror(errno));
    return rc;
}

int snapshot_load_file(struct machine *m, const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errlen, "cannot open '%s': %s", path, strerror(errno));
    char e[400];
    int rc = snapshot_load(m, fd, e, sizeof(e));
    if (rc)
        fail(err, errlen, "%s: %s", path, e);
    close(fd);
    return rc;
}
