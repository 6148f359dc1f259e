/* The PC platform in machine images (docs/ARCHITECTURE.md "Snapshots,
 * migration and the monitor"): the PLAT section (virtual clock, 8259 pair
 * with ELCR, PIT and port 0x61, I/O APIC, RTC/CMOS, ACPI PM registers,
 * HPET, the run loop's cached timer deadline) and
 * one LAPC section per vCPU (its local APIC and the per-vCPU interrupt
 * state of vmm/irq.h). Visitors as in state.h: one function per structure
 * lists its saved fields once, for saving and loading. Host pointers and
 * callbacks are not saved: a loaded image goes into a copy of the loading
 * machine's platform, which keeps them.
 *
 * The checks refuse every value the device could never hold (the device
 * code's invariants, cited where they come from), so that a corrupt image
 * cannot divide by zero, overflow or send the timers into the past. Each
 * returns NULL or a message (possibly written into msg). */
#ifndef NVMX_MIGRATE_PLAT_STATE_H
#define NVMX_MIGRATE_PLAT_STATE_H

#include <stddef.h>

#include "stream.h"
#include "vmm/irq.h"

/* PLAT: the machine-wide part of struct platform. *hpet: whether the
 * machine has an HPET (-no-hpet), saved and loaded with it. */
void plat_state_fields(struct xf *x, struct platform *p, bool *hpet);
const char *plat_state_check(const struct platform *p, int nr_cpus, char *msg, size_t len);

/* LAPC: vCPU `index`'s struct vcpu_irq (the local APIC included). */
void lapc_state_fields(struct xf *x, struct vcpu_irq *v);
const char *lapc_state_check(const struct vcpu_irq *v, int index, char *msg, size_t len);

/* Checks between sections, once all are loaded: the timers of vCPU
 * `index` against the virtual clock, its clock bookkeeping against its
 * retired-instruction count. */
/* The run loop's cached earliest timer deadline against the timers. */
const char *plat_state_check_deadline(const struct platform *p, int nr_cpus, char *msg, size_t len);
const char *lapc_state_check_clock(const struct vcpu_irq *v, uint64_t clk_ns, uint64_t icount,
                                   char *msg, size_t len);

#endif
