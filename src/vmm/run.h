/* L0's run loop and its exit statuses. */
#ifndef NVMX_VMM_RUN_H
#define NVMX_VMM_RUN_H

#include <stdio.h>

#include "board/machine.h"

/* Process exit statuses of nvmx itself. They are even, so they never
 * collide with isa-debug-exit statuses, which are odd ((V << 1) | 1). */
#define NVMX_EXIT_OK 0
#define NVMX_EXIT_USAGE 2        /* bad option, unreadable or malformed kernel image */
#define NVMX_EXIT_TRIPLE_FAULT 4 /* shutdown (triple fault) */
#define NVMX_EXIT_HALTED 6       /* every vCPU halted with nothing to wake it */
#define NVMX_EXIT_INTERNAL 8     /* an exit L0 cannot handle (e.g. a task switch) */
#define NVMX_EXIT_INSN_LIMIT 10  /* -max-insns reached */

/* Runs the machine until it exits; returns the process exit status. */
int vmm_run(struct machine *m);
void vmm_print_stats(const struct machine *m, FILE *out);
const char *vmm_exit_name(uint32_t reason);

#endif
