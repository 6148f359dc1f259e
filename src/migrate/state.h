/* Field lists of the per-vCPU and device sections of a machine image, as
 * visitors (stream.h: one function both saves and loads), and the
 * validation of loaded values. Each check returns NULL or a message (which
 * may be written into msg). */
#ifndef NVMX_MIGRATE_STATE_H
#define NVMX_MIGRATE_STATE_H

#include "board/machine.h"
#include "cpu/vmcs.h"
#include "dev/uart16550.h"
#include "stream.h"
#include "vmm/events.h"

/* struct cpu without host pointers; the lazy flags are materialised
 * first. tlb: NULL when saving (read from the CPU), else the entries to
 * load. */
void cpu_state_fields(struct xf *x, struct cpu *c, struct cpu_tlb_state *tlb);
const char *cpu_state_check(const struct cpu *c, const struct cpu_tlb_state *tlb, char *msg,
                            size_t len);

/* The VMCS as {encoding, value} pairs: independent of the field order. */
void vmcs_state_fields(struct xf *x, struct vmcs *v);
const char *vmcs_state_load(struct xf *x, struct vmcs *v, char *msg, size_t len);
/* The VM-entry checks of SDM 26.2-26.3, as the next VM entry will do them. */
const char *vmcs_state_check(const struct vmcs *v, const struct physmem *pm, char *msg, size_t len);

void events_state_fields(struct xf *x, struct event_queue *q);
const char *events_state_check(const struct event_queue *q);
void vmx_test_state_fields(struct xf *x, struct vmx_test_state *t);
void uart_state_fields(struct xf *x, struct uart_regs *u);

#endif
