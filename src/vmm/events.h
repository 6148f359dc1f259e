/* The architecture-neutral event queue of a vCPU (BRIEF decision 4): an
 * exception, an NMI and an external interrupt, each either pending (not yet
 * delivered) or injected (its delivery was under way when a VM exit
 * happened and came back in the IDT-vectoring information). L0 queues its
 * own events here (e.g. #GP for an unknown MSR) and, before every VM entry,
 * the highest-priority one is written to the VM-entry interruption
 * information; after every exit the IDT-vectoring information is moved
 * back into the queue (SDM 28.2.4, 27.6; KVM's vmx_complete_interrupts). */
#ifndef NVMX_VMM_EVENTS_H
#define NVMX_VMM_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "cpu/vmcs.h"

struct queued_event {
    bool pending;  /* to be delivered */
    bool injected; /* delivery was interrupted by a VM exit: re-inject */
    uint8_t vector;
    uint8_t type; /* INTR_TYPE_* */
    bool has_error;
    uint32_t error;
    uint32_t instr_len; /* software interrupts/exceptions */
};

struct event_queue {
    struct queued_event exception, nmi, interrupt;
};

void events_queue_exception(struct event_queue *q, int vector, bool has_error, uint32_t error);
/* An external interrupt (already acknowledged at its controller) or an NMI
 * for L0 to inject; the interrupt controllers (vmm/irq.c) queue them only
 * when the guest can take them. */
void events_queue_interrupt(struct event_queue *q, uint8_t vector);
void events_queue_nmi(struct event_queue *q);
/* Whether anything is queued (pending or injected). */
bool events_busy(const struct event_queue *q);
/* After a VM exit: the event whose delivery the exit interrupted. */
void events_after_exit(struct event_queue *q, const struct vmcs *v);
/* Before a VM entry: writes the highest-priority queued event to the VM-entry
 * interruption-information fields (injected events first, then exceptions,
 * NMIs, interrupts). Returns true if one was written. */
bool events_before_entry(struct event_queue *q, struct vmcs *v);

/* A nested VM exit (BRIEF decision 4): the event whose delivery to L2 the
 * exit interrupted goes to vmcs12's IDT-vectoring fields instead of being
 * re-injected. Returns true and removes it if there is one. */
bool events_take_injected(struct event_queue *q, uint32_t *info, uint32_t *error);
/* Drops every queued event (the level they were meant for is gone). */
void events_clear(struct event_queue *q);

#endif
