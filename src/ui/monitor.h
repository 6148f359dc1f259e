/* The monitor: everything that acts on a running machine from outside the
 * guest -- QMP commands, snapshots at exact instants (-savevm-at), live
 * migration. It runs inside the run loop's poll hook (struct machine
 * .poll), between VM exits, on the run loop's single thread (BRIEF
 * decision 6): it never races with guest execution, and a paused machine
 * is simply a hook that does not return until `cont`. */
#ifndef NVMX_UI_MONITOR_H
#define NVMX_UI_MONITOR_H

#include <stddef.h>

#include "board/machine.h"

struct monitor;

/* Sets up what the options ask for (-qmp, -savevm-at, -S) and installs the
 * hook. Returns NULL with a message on error. */
struct monitor *monitor_create(struct machine *m, char *err, size_t errlen);
/* -incoming: waits for the stream (answering QMP, status "inmigrate") and
 * loads it. Returns 0, or -1 with a message (nothing may run). */
int monitor_incoming(struct monitor *mon, const char *uri, char *err, size_t errlen);
/* Runs before the first instruction: a snapshot at instruction 0, -S. */
void monitor_start(struct monitor *mon);
void monitor_destroy(struct monitor *mon);

#endif
