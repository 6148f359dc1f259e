/* The machine image: the versioned, section-based format of snapshots and
 * migration streams (docs/ARCHITECTURE.md "Snapshots and migration").
 *
 *   header   "NVMXSNAP", u32 version, u32 flags (0)
 *   section  u32 tag, u32 instance, u32 length, payload   (repeated)
 *   END      tag "END ", length 8: u64 FNV-1a checksum of every byte before
 *            this payload
 *
 * Sections: CONF (the machine's shape, first), RAM (page records, any
 * number, later records override earlier ones: pre-copy), MACH (run-loop
 * position, exit counts), per vCPU CPU (registers, hidden segment state,
 * FPU/SSE, MSRs, pending events, icount, RNG, TLB), VMCS (vmcs01), EVTQ (the
 * event queue), VMXT (-vmx-test state), and the devices UART, FWCF, DBGX.
 * Loading validates every section and field, and commits nothing to the
 * machine's CPUs and devices before the checksum is verified: a truncated,
 * corrupt or mismatched image is refused with a message. RAM is written
 * into the (not yet started) machine as it arrives. */
#ifndef NVMX_MIGRATE_SNAPSHOT_H
#define NVMX_MIGRATE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "board/machine.h"
#include "stream.h"

#define SNAP_VERSION 2u
#define SNAP_RAM_CHUNK 256 /* pages per RAM section */

/* Arena pages an image carries: guest RAM plus L0's used private pages. */
uint64_t snap_nr_pages(const struct machine *m);

/* Writing, in order: header + CONF; RAM pages (all, or those set in
 * `bitmap`, from *cursor, at most max_pages; returns the number written and
 * advances *cursor; all-zero pages are counted in *zero_pages); the state sections + END. Errors
 * are in o->failed. */
void snap_write_begin(struct mig_out *o, struct machine *m);
uint64_t snap_write_ram(struct mig_out *o, struct machine *m, const uint64_t *bitmap,
                        uint64_t *cursor, uint64_t max_pages, uint64_t *zero_pages);
void snap_write_end(struct mig_out *o, struct machine *m);

/* Whole images to/from a descriptor or a file. Return 0, or -1 with a
 * message in err. A load that fails leaves the CPUs and devices untouched
 * (RAM may have been overwritten: the machine must not be started). */
int snapshot_save(struct machine *m, int fd, char *err, size_t errlen);
int snapshot_load(struct machine *m, int fd, char *err, size_t errlen);
int snapshot_save_file(struct machine *m, const char *path, char *err, size_t errlen);
int snapshot_load_file(struct machine *m, const char *path, char *err, size_t errlen);

#endif
