/* The vCPU event queue (BRIEF decision 4): IDT-vectoring information comes
 * back as an injected event and is re-injected before anything pending. */
#include "vmm/events.h"
#include "unit.h"

UNIT_TEST(idt_vectoring_reinjected_first)
{
    struct event_queue q = { 0 };
    struct vmcs v;
    vmcs_clear(&v, 1);
    events_queue_exception(&q, 13, true, 0);
    /* an exit during delivery of a software interrupt INT 0x80 (length 2) */
    vmcs_set(&v, VI_IDT_VECTORING_INFO, INTR_INFO_VALID | (INTR_TYPE_SW_INTR << 8) | 0x80);
    vmcs_set(&v, VI_VM_EXIT_INSTRUCTION_LENGTH, 2);
    events_after_exit(&q, &v);
    CHECK(events_before_entry(&q, &v));
    CHECK_EQ(vmcs_get(&v, VI_VM_ENTRY_INTERRUPTION_INFO), INTR_INFO_VALID | (INTR_TYPE_SW_INTR << 8) | 0x80);
    CHECK_EQ(vmcs_get(&v, VI_VM_ENTRY_INSTRUCTION_LENGTH), 2);
    /* the entry consumed it; after the next exit the pending #GP follows */
    vmcs_set(&v, VI_VM_ENTRY_INTERRUPTION_INFO, 0);
    vmcs_set(&v, VI_IDT_VECTORING_INFO, 0);
    events_after_exit(&q, &v);
    CHECK(events_before_entry(&q, &v));
    CHECK_EQ(vmcs_get(&v, VI_VM_ENTRY_INTERRUPTION_INFO),
             INTR_INFO_VALID | INTR_INFO_ERRCODE | (INTR_TYPE_HW_EXCEPTION << 8) | 13);
    vmcs_set(&v, VI_VM_ENTRY_INTERRUPTION_INFO, 0);
    CHECK(!events_before_entry(&q, &v));
}

UNIT_TEST(nmi_and_interrupt_kinds)
{
    struct event_queue q = { 0 };
    struct vmcs v;
    vmcs_clear(&v, 1);
    vmcs_set(&v, VI_IDT_VECTORING_INFO, INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | 2);
    events_after_exit(&q, &v);
    CHECK(q.nmi.injected && !q.exception.injected);
    vmcs_set(&v, VI_IDT_VECTORING_INFO, INTR_INFO_VALID | (INTR_TYPE_EXT_INTR << 8) | 0x30);
    events_after_exit(&q, &v);
    CHECK(q.interrupt.injected && q.interrupt.vector == 0x30);
}

int main(void)
{
    UNIT_RUN(idt_vectoring_reinjected_first);
    UNIT_RUN(nmi_and_interrupt_kinds);
    UNIT_DONE();
}
