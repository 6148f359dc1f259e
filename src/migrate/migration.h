/* Live migration over a stream (unix socket, TCP, or a file), pre-copy
 * with dirty-page tracking as in QEMU/KVM:
 *
 *   1. connect, write the image header and CONF, arm dirty logging
 *      (physmem_dirty_start);
 *   2. pass 0 sends every page while the guest keeps running: each call of
 *      migration_step() (from the monitor, between time slices) sends at
 *      most a budget of pages;
 *   3. at the end of each pass the pages written meanwhile (the dirty
 *      bitmap) become the next pass;
 *   4. when a pass is small enough (converged) or after a maximum number of
 *      passes, stop-and-copy: within one call, with the guest not running,
 *      the last dirty pages and the whole CPU/device state are sent, then
 *      END with the checksum.
 *
 * The image format is the snapshot format (snapshot.h): RAM sections may
 * repeat and later pages override earlier ones. A write error (the
 * destination went away) fails the migration and disarms dirty logging;
 * the source machine was never stopped and runs on with nothing lost. */
#ifndef NVMX_MIGRATE_MIGRATION_H
#define NVMX_MIGRATE_MIGRATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/machine.h"

enum mig_status { MIG_NONE, MIG_ACTIVE, MIG_COMPLETED, MIG_FAILED, MIG_CANCELLED };

struct mig_stats {
    uint64_t bytes;       /* bytes written */
    uint64_t pages;       /* page records sent (all passes) */
    uint64_t zero_pages;  /* of which all-zero */
    uint64_t total_pages; /* pages of the machine */
    uint64_t remaining;   /* pages still to send in this pass */
    uint64_t passes;      /* completed passes (dirty-bitmap syncs) */
    uint64_t last_dirty;  /* pages dirtied during the last completed pass */
    uint64_t start_insns; /* the machine's instruction count at the start */
};

struct migration;

/* Connects to URI (unix:PATH, tcp:HOST:PORT, file:PATH) and starts. NULL
 * with a message on error (nothing changed in the machine). */
struct migration *migration_start(struct machine *m, const char *uri, char *err, size_t errlen);
/* Does a bounded amount of work; returns the status. When the machine is
 * paused the migration does not need to wait for convergence. */
enum mig_status migration_step(struct migration *mg, bool paused);
/* Convergence: a pass of at most converged_pages pages is the last one, and
 * so is pass max_passes (defaults 256 and 30). */
void migration_set_limits(struct migration *mg, uint64_t converged_pages, uint64_t max_passes);
void migration_cancel(struct migration *mg);
enum mig_status migration_status(const struct migration *mg);
const char *migration_error(const struct migration *mg);
void migration_get_stats(const struct migration *mg, struct mig_stats *s);
void migration_free(struct migration *mg);
const char *migration_status_name(enum mig_status s);

/* The destination: waits for one stream on URI (listens on unix:PATH or
 * tcp:HOST:PORT; reads file:PATH) and loads it into the machine (not
 * started). While no connection has arrived, idle(opaque) is called every
 * 50 ms (the monitor answers QMP there); when it returns false the wait is
 * abandoned. Returns 0, or -1 with a message. */
int migration_incoming(struct machine *m, const char *uri, bool (*idle)(void *), void *opaque,
                       char *err, size_t errlen);

#endif
