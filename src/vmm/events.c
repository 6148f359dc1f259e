/* The vCPU event queue (see events.h). */
#include "events.h"

void events_queue_exception(struct event_queue *q, int vector, bool has_error, uint32_t error)
{
    q->exception = (struct queued_event){.pending = true,
                                         .vector = (uint8_t)vector,
                                         .type = INTR_TYPE_HW_EXCEPTION,
                                         .has_error = has_error,
                                         .error = error};
}

void events_queue_interrupt(struct event_queue *q, uint8_t vector)
{
    q->interrupt = (struct queued_event){ .pending = true, .vector = vector,
                                          .type = INTR_TYPE_EXT_INTR };
}

void events_queue_nmi(struct event_queue *q)
{
    q->nmi = (struct queued_event){ .pending = true, .vector = 2 /* NMI */,
                                    .type = INTR_TYPE_NMI };
}

bool events_busy(const struct event_queue *q)
{
    const struct queued_event *e[3] = { &q->exception, &q->nmi, &q->interrupt };
    for (int i = 0; i < 3; i++)
        if (e[i]->pending || e[i]->injected)
            return true;
    return false;
}

void events_after_exit(struct event_queue *q, const struct vmcs *v)
{
    uint32_t info = (uint32_t)vmcs_get(v, VI_IDT_VECTORING_INFO);
    if (!(info & INTR_INFO_VALID))
        return;
    struct queued_event e = {
        .injected = true,
        .vector = (uint8_t)(info & 0xff),
        .type = (uint8_t)((info >> 8) & 7),
        .has_error = (info & INTR_INFO_ERRCODE) != 0,
        .error = (uint32_t)vmcs_get(v, VI_IDT_VECTORING_ERROR_CODE),
        .instr_len = (uint32_t)vmcs_get(v, VI_VM_EXIT_INSTRUCTION_LENGTH),
    };
    switch (e.type) {
    case INTR_TYPE_NMI:
        q->nmi = e;
        break;
    case INTR_TYPE_EXT_INTR:
    case INTR_TYPE_SW_INTR:
        q->interrupt = e;
        break; /* INT n as in KVM: the interrupt slot */
    default:
        q->exception = e;
        break; /* hardware and software exceptions */
    }
}

static bool write_entry(struct queued_event *e, struct vmcs *v)
{
    if (!e->pending && !e->injected)
        return false;
    uint32_t info = INTR_INFO_VALID | ((uint32_t)e->type << 8) | e->vector |
                    (e->has_error ? INTR_INFO_ERRCODE : 0);
    vmcs_set(v, VI_VM_ENTRY_INTERRUPTION_INFO, info);
    vmcs_set(v, VI_VM_ENTRY_EXCEPTION_ERROR_CODE, e->error);
    vmcs_set(v, VI_VM_ENTRY_INSTRUCTION_LENGTH, e->instr_len);
    *e = (struct queued_event){0};
    return true;
}

bool events_before_entry(struct event_queue *q, struct vmcs *v)
{
    if (vmcs_get(v, VI_VM_ENTRY_INTERRUPTION_INFO) & INTR_INFO_VALID)
        return true; /* already programmed (e.g. by L0's test mode) */
    /* an event whose delivery was interrupted completes first (SDM 27.6) */
    struct queued_event *order[3] = {&q->exception, &q->nmi, &q->interrupt};
    for (int i = 0; i < 3; i++)
        if (order[i]->injected)
            return write_entry(order[i], v);
    for (int i = 0; i < 3; i++)
        if (order[i]->pending)
            return write_entry(order[i], v);
    return false;
}

bool events_take_injected(struct event_queue *q, uint32_t *info, uint32_t *error)
{
    struct queued_event *order[3] = {&q->exception, &q->nmi, &q->interrupt};
    for (int i = 0; i < 3; i++) {
        struct queued_event *e = order[i];
        if (!e->injected)
            continue;
        *info = INTR_INFO_VALID | ((uint32_t)e->type << 8) | e->vector |
                (e->has_error ? INTR_INFO_ERRCODE : 0);
        *error = e->error;
        *e = (struct queued_event){0};
        return true;
    }
    return false;
}

void events_clear(struct event_queue *q)
{
    *q = (struct event_queue){0};
}
