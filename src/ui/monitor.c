/* The monitor (see monitor.h): QMP commands, -savevm-at, -S, and the
 * source side of live migration. */
#include "monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "migrate/migration.h"
#include "migrate/snapshot.h"
#include "qmp.h"
#include "vmm/nested/nested.h"
#include "vmm/run.h"

struct monitor {
    struct machine *m;
    struct qmp_server *qmp;
    struct migration *mig;
    bool paused;           /* stop, -S, or after a completed migration */
    bool postmigrate;      /* paused because the machine migrated away */
    bool inmigrate;        /* -incoming: waiting for the stream */
    uint64_t next_service; /* instruction count of the next QMP/migration poll */
    bool savevm_pending;   /* -savevm-at not done yet */
    uint64_t exits, event_exits;
};

static bool queue_busy(const struct event_queue *q)
{
    return q->exception.pending || q->exception.injected || q->nmi.pending || q->nmi.injected ||
           q->interrupt.pending || q->interrupt.injected;
}

static void savevm_now(struct monitor *mon, uint64_t insns)
{
    struct machine *m = mon->m;
    char err[512];
    mon->savevm_pending = false;
    if (m->stop_at) {
        /* the exit that ended the slice early for this instant is L0's own
         * bookkeeping: it is not counted, so that -stats (exits per reason)
         * stay identical to an uninterrupted run */
        const struct cpu *c = m->cpus[m->sched_cpu];
        struct vmcs *cv = nested_current_vmcs(m, m->sched_cpu); /* vmcs02 while L2 runs */
        uint64_t r = vmcs_get(cv, VI_EXIT_REASON);
        if (r == EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED && c->icount < m->sched_end) {
            if (cv != m->vmcs01[m->sched_cpu])
                nested_uncount_l2_exit(m, m->sched_cpu, (uint32_t)r);
            else if (m->exit_counts[r])
                m->exit_counts[r]--;
        }
        m->stop_at = 0;
    }
    if (snapshot_save_file(m, m->opt.savevm_file, err, sizeof(err))) {
        fprintf(stderr, "nvmx: -savevm-at: %s\n", err);
        m->state = MACHINE_ERROR;
        m->exit_status = NVMX_EXIT_INTERNAL;
        return;
    }
    fprintf(stderr, "nvmx: snapshot at instruction %llu saved to %s\n", (unsigned long long)insns,
            m->opt.savevm_file);
}

/* ---- "info registers": the vCPU's registers as the guest sees them ----
 * Between VM exits the current guest state is vmcs01's guest-state area
 * (L0 may have advanced RIP there) plus the general registers that the
 * VMCS does not hold (struct cpu, as in KVM). A vCPU in guest mode runs L2
 * on vmcs02: its registers are L2's and are marked L2 (BRIEF decision 5). */
static size_t info_registers(struct machine *m, char *out, size_t len)
{
    static const char *const gpr[16] = {"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
                                        "R8",  "R9",  "R10", "R11", "R12", "R13", "R14", "R15"};
    static const char *const sn[6] = {"ES", "CS", "SS", "DS", "FS", "GS"};
    static const enum vmcs_index sel[6] = {VI_GUEST_ES_SELECTOR, VI_GUEST_CS_SELECTOR,
                                           VI_GUEST_SS_SELECTOR, VI_GUEST_DS_SELECTOR,
                                           VI_GUEST_FS_SELECTOR, VI_GUEST_GS_SELECTOR};
    static const enum vmcs_index base[6] = {VI_GUEST_ES_BASE, VI_GUEST_CS_BASE, VI_GUEST_SS_BASE,
                                            VI_GUEST_DS_BASE, VI_GUEST_FS_BASE, VI_GUEST_GS_BASE};
    static const enum vmcs_index lim[6] = {VI_GUEST_ES_LIMIT, VI_GUEST_CS_LIMIT, VI_GUEST_SS_LIMIT,
                                           VI_GUEST_DS_LIMIT, VI_GUEST_FS_LIMIT, VI_GUEST_GS_LIMIT};
    static const enum vmcs_index ar[6] = {VI_GUEST_ES_ACCESS_RIGHTS, VI_GUEST_CS_ACCESS_RIGHTS,
                                          VI_GUEST_SS_ACCESS_RIGHTS, VI_GUEST_DS_ACCESS_RIGHTS,
                                          VI_GUEST_FS_ACCESS_RIGHTS, VI_GUEST_GS_ACCESS_RIGHTS};
    size_t n = 0;
#define OUT(...)                                                                                   \
    do {                                                                                           \
        int k_ = snprintf(out + n, n < len ? len - n : 0, __VA_ARGS__);                            \
        if (k_ > 0)                                                                                \
            n += (size_t)k_;                                                                       \
    } while (0)
    for (int i = 0; i < m->nr_cpus; i++) {
        const struct cpu *c = m->cpus[i];
        const struct vmcs *v = nested_current_vmcs(m, i);
        if (v == m->vmcs01[i])
            OUT("CPU#%d L1 (vmcs01)\n", i);
        else
            OUT("CPU#%d L2 (vmcs02, guest mode)\n", i);
        for (int r = 0; r < 16; r++)
            OUT("%-3s=%016llx%s", gpr[r],
                (unsigned long long)(r == R_RSP ? vmcs_get(v, VI_GUEST_RSP) : c->regs[r]),
                (r % 4 == 3) ? "\n" : " ");
        OUT("RIP=%016llx RFL=%08llx activity=%llu icount=%llu\n",
            (unsigned long long)vmcs_get(v, VI_GUEST_RIP),
            (unsigned long long)vmcs_get(v, VI_GUEST_RFLAGS),
            (unsigned long long)vmcs_get(v, VI_GUEST_ACTIVITY_STATE),
            (unsigned long long)c->icount);
        for (int s = 0; s < 6; s++)
            OUT("%-3s=%04llx %016llx %08llx %05llx\n", sn[s],
                (unsigned long long)vmcs_get(v, sel[s]), (unsigned long long)vmcs_get(v, base[s]),
                (unsigned long long)vmcs_get(v, lim[s]), (unsigned long long)vmcs_get(v, ar[s]));
        OUT("GDT=     %016llx %08llx\nIDT=     %016llx %08llx\n",
            (unsigned long long)vmcs_get(v, VI_GUEST_GDTR_BASE),
            (unsigned long long)vmcs_get(v, VI_GUEST_GDTR_LIMIT),
            (unsigned long long)vmcs_get(v, VI_GUEST_IDTR_BASE),
            (unsigned long long)vmcs_get(v, VI_GUEST_IDTR_LIMIT));
        OUT("CR0=%08llx CR2=%016llx CR3=%016llx CR4=%08llx\nEFER=%016llx\n",
            (unsigned long long)vmcs_get(v, VI_GUEST_CR0), (unsigned long long)c->cr2,
            (unsigned long long)vmcs_get(v, VI_GUEST_CR3),
            (unsigned long long)vmcs_get(v, VI_GUEST_CR4), (unsigned long long)c->efer);
    }
#undef OUT
    return n;
}

/* ---- QMP commands ---- */

static void reply_ok(char *reply, size_t len)
{
    snprintf(reply, len, "{\"return\": {}}");
}

static bool arg_string(const char *msg, size_t as, size_t ae, const char *key, char *out,
                       size_t outlen)
{
    size_t vs, ve;
    return as != ae && json_member(msg, as, ae, key, &vs, &ve) &&
           json_string(msg, vs, ve, out, outlen);
}

static void set_paused(struct monitor *mon, bool paused)
{
    if (mon->paused == paused)
        return;
    mon->paused = paused;
    if (mon->qmp)
        qmp_event(mon->qmp, paused ? "STOP" : "RESUME");
}

static void qmp_exec(void *opaque, const char *cmd, const char *msg, size_t as, size_t ae,
                     char *reply, size_t len)
{
    struct monitor *mon = opaque;
    struct machine *m = mon->m;
    if (mon->inmigrate && (!strcmp(cmd, "migrate") || !strcmp(cmd, "cont") ||
                           !strcmp(cmd, "stop") || !strcmp(cmd, "human-monitor-command"))) {
        qmp_error(reply, len, "GenericError", "Guest is waiting for an incoming migration");
    } else if (!strcmp(cmd, "query-status")) {
        const char *st = mon->inmigrate     ? "inmigrate"
                         : mon->postmigrate ? "postmigrate"
                         : mon->paused      ? "paused"
                                            : "running";
        snprintf(reply, len,
                 "{\"return\": {\"status\": \"%s\", \"singlestep\": false, \"running\": %s}}", st,
                 (mon->paused || mon->inmigrate) ? "false" : "true");
    } else if (!strcmp(cmd, "stop")) {
        set_paused(mon, true);
        reply_ok(reply, len);
    } else if (!strcmp(cmd, "cont")) {
        mon->postmigrate = false;
        set_paused(mon, false);
        reply_ok(reply, len);
    } else if (!strcmp(cmd, "quit")) {
        reply_ok(reply, len);
        if (m->state == MACHINE_RUNNING) {
            m->state = MACHINE_EXITED;
            m->exit_status = NVMX_EXIT_OK;
        }
    } else if (!strcmp(cmd, "migrate")) {
        char uri[512], err[512];
        if (!arg_string(msg, as, ae, "uri", uri, sizeof(uri))) {
            qmp_error(reply, len, "GenericError", "Parameter 'uri' is missing");
        } else if (migration_status(mon->mig) == MIG_ACTIVE) {
            qmp_error(reply, len, "GenericError", "There's a migration process in progress");
        } else {
            struct migration *mg = migration_start(m, uri, err, sizeof(err));
            if (!mg) {
                qmp_error(reply, len, "GenericError", err);
            } else {
                migration_free(mon->mig);
                mon->mig = mg;
                reply_ok(reply, len);
            }
        }
    } else if (!strcmp(cmd, "migrate_cancel")) {
        if (mon->mig)
            migration_cancel(mon->mig);
        reply_ok(reply, len);
    } else if (!strcmp(cmd, "query-migrate")) {
        if (!mon->mig) {
            reply_ok(reply, len);
            return;
        }
        struct mig_stats s;
        migration_get_stats(mon->mig, &s);
        enum mig_status st = migration_status(mon->mig);
        char e[700] = "";
        if (st == MIG_FAILED) {
            char q[600];
            json_quote(migration_error(mon->mig), q, sizeof(q));
            snprintf(e, sizeof(e), ", \"error-desc\": %s", q);
        }
        snprintf(reply, len,
                 "{\"return\": {\"status\": \"%s\"%s, \"ram\": {\"transferred\": %llu, "
                 "\"total\": %llu, \"remaining\": %llu, \"duplicate\": %llu, \"normal\": %llu, "
                 "\"dirty-sync-count\": %llu, \"dirty-pages-rate\": %llu, \"page-size\": 4096}}}",
                 migration_status_name(st), e, (unsigned long long)s.bytes,
                 (unsigned long long)(s.total_pages * 4096),
                 (unsigned long long)(s.remaining * 4096), (unsigned long long)s.zero_pages,
                 (unsigned long long)(s.pages - s.zero_pages), (unsigned long long)s.passes,
                 (unsigned long long)s.last_dirty);
    } else if (!strcmp(cmd, "human-monitor-command")) {
        char line[256];
        if (!arg_string(msg, as, ae, "command-line", line, sizeof(line))) {
            qmp_error(reply, len, "GenericError", "Parameter 'command-line' is missing");
            return;
        }
        char *text = malloc(len);
        if (!text) {
            qmp_error(reply, len, "GenericError", "out of memory");
            return;
        }
        text[0] = 0;
        if (!strcmp(line, "info registers"))
            info_registers(m, text, len / 2);
        else if (!strcmp(line, "info status"))
            snprintf(text, len / 2, "VM status: %s\n",
                     mon->postmigrate ? "paused (postmigrate)"
                     : mon->paused    ? "paused"
                                      : "running");
        else
            snprintf(text, len / 2,
                     "unknown command: '%s' (nvmx has: info registers, info status)\n", line);
        size_t n = snprintf(reply, len, "{\"return\": ");
        n += json_quote(text, reply + n, len - n - 2);
        if (n + 2 < len)
            strcpy(reply + n, "}");
        free(text);
    } else if (!strcmp(cmd, "query-version")) {
        snprintf(reply, len,
                 "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 9}, "
                 "\"package\": \"nvmx\"}}");
    } else {
        char d[128];
        snprintf(d, sizeof(d), "The command %s has not been found", cmd);
        qmp_error(reply, len, "CommandNotFound", d);
    }
}

/* QMP and migration work; waits up to timeout_ms for QMP input. */
static void service(struct monitor *mon, int timeout_ms)
{
    struct machine *m = mon->m;
    bool migrating = migration_status(mon->mig) == MIG_ACTIVE;
    if (mon->qmp)
        qmp_poll(mon->qmp, migrating ? 0 : timeout_ms);
    if (migration_status(mon->mig) == MIG_ACTIVE) {
        enum mig_status st = migration_step(mon->mig, mon->paused);
        if (st == MIG_COMPLETED) {
            /* the machine now lives at the destination: the source stays
             * paused (QEMU's "postmigrate") until quit, or cont */
            struct mig_stats s;
            migration_get_stats(mon->mig, &s);
            fprintf(stderr,
                    "nvmx: migration completed at instruction %llu (started at %llu; %llu "
                    "passes, %llu pages, %llu bytes)\n",
                    (unsigned long long)machine_insns(m), (unsigned long long)s.start_insns,
                    (unsigned long long)s.passes, (unsigned long long)s.pages,
                    (unsigned long long)s.bytes);
            mon->postmigrate = true;
            set_paused(mon, true);
        } else if (st == MIG_FAILED) {
            fprintf(stderr, "nvmx: migration failed: %s (the machine runs on)\n",
                    migration_error(mon->mig));
        }
    }
}

static void wait_while_paused(struct monitor *mon)
{
    while (mon->paused && mon->m->state == MACHINE_RUNNING)
        service(mon, 100);
}

static void monitor_poll(struct machine *m, uint64_t insns)
{
    struct monitor *mon = m->poll_opaque;
    mon->exits++;
    if (mon->savevm_pending) {
        bool now = false;
        switch (m->opt.savevm_kind) {
        case SAVEVM_AT_INSN:
            now = insns >= m->opt.savevm_at;
            break;
        case SAVEVM_AT_EXIT:
            now = mon->exits == m->opt.savevm_at;
            break;
        case SAVEVM_AT_EVENT:
            now = queue_busy(&m->events[m->sched_cpu]) && ++mon->event_exits == m->opt.savevm_at;
            break;
        }
        if (now)
            savevm_now(mon, insns);
    }
    /* QMP and migration between time slices: once per quantum of guest
     * instructions, so that the cost of a poll() stays negligible */
    if ((mon->qmp || mon->mig) && insns >= mon->next_service) {
        mon->next_service = insns + m->opt.quantum;
        service(mon, 0);
        wait_while_paused(mon);
    }
}

struct monitor *monitor_create(struct machine *m, char *err, size_t errlen)
{
    struct monitor *mon = calloc(1, sizeof(*mon));
    if (!mon) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    mon->m = m;
    if (m->opt.qmp) {
        mon->qmp = qmp_create(m->opt.qmp, qmp_exec, mon, err, errlen);
        if (!mon->qmp) {
            free(mon);
            return NULL;
        }
    }
    /* without QMP or -savevm-at nothing needs the hook: the run loop's
     * exits stay as cheap as without a monitor */
    if (m->opt.qmp || m->opt.savevm_at_set) {
        m->poll = monitor_poll;
        m->poll_opaque = mon;
    }
    return mon;
}

static bool incoming_idle(void *opaque)
{
    struct monitor *mon = opaque;
    if (mon->qmp)
        qmp_poll(mon->qmp, 0);
    return mon->m->state == MACHINE_RUNNING; /* quit abandons the wait */
}

int monitor_incoming(struct monitor *mon, const char *uri, char *err, size_t errlen)
{
    mon->inmigrate = true;
    int rc = migration_incoming(mon->m, uri, incoming_idle, mon, err, errlen);
    mon->inmigrate = false;
    return rc;
}

void monitor_start(struct monitor *mon)
{
    struct machine *m = mon->m;
    if (m->opt.savevm_at_set && m->opt.savevm_kind != SAVEVM_AT_INSN) {
        mon->savevm_pending = true;
    } else if (m->opt.savevm_at_set) {
        uint64_t now = machine_insns(m);
        if (m->opt.savevm_at < now) {
            fprintf(stderr, "nvmx: -savevm-at %llu: the machine is already at instruction %llu\n",
                    (unsigned long long)m->opt.savevm_at, (unsigned long long)now);
        } else if (m->opt.savevm_at == now) {
            mon->savevm_pending = true;
            savevm_now(mon, now);
        } else {
            mon->savevm_pending = true;
            m->stop_at = m->opt.savevm_at; /* the run loop ends a slice there */
        }
    }
    if (m->opt.start_stopped) {
        if (!mon->qmp)
            fprintf(stderr, "nvmx: -S without -qmp: nothing can start the machine\n");
        mon->paused = true;
        wait_while_paused(mon);
    }
}

void monitor_destroy(struct monitor *mon)
{
    if (!mon)
        return;
    if (mon->savevm_pending)
        fprintf(stderr,
                "nvmx: -savevm-at: the run ended (at instruction %llu) before the instant\n",
                (unsigned long long)machine_insns(mon->m));
    if (mon->m->poll_opaque == mon) {
        mon->m->poll = NULL;
        mon->m->poll_opaque = NULL;
    }
    migration_free(mon->mig);
    qmp_destroy(mon->qmp);
    free(mon);
}
