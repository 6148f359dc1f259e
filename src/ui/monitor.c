/* The monitor (see monitor.h). */
#include "monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate/snapshot.h"
#include "vmm/run.h"

struct monitor {
    struct machine *m;
    bool savevm_pending; /* -savevm-at not done yet */
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
        uint64_t r = vmcs_get(m->vmcs01[m->sched_cpu], VI_EXIT_REASON);
        if (r == EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED && c->icount < m->sched_end &&
            m->exit_counts[r])
            m->exit_counts[r]--;
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
}

struct monitor *monitor_create(struct machine *m, char *err, size_t errlen)
{
    struct monitor *mon = calloc(1, sizeof(*mon));
    if (!mon) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    mon->m = m;
    m->poll = monitor_poll;
    m->poll_opaque = mon;
    return mon;
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
}

void monitor_destroy(struct monitor *mon)
{
    if (!mon)
        return;
    if (mon->m->poll_opaque == mon) {
        mon->m->poll = NULL;
        mon->m->poll_opaque = NULL;
    }
    free(mon);
}
