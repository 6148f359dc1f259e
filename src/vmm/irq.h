/* The PC's interrupt and timer platform, as L0 runs it: the virtual clock,
 * the interrupt controllers (8259 pair, I/O APIC, one local APIC per vCPU),
 * the timers (8254 PIT, local APIC timers) and the glue between them and the
 * vCPUs: ISA IRQ routing, the APIC bus (IPIs, INIT/SIPI, EOI broadcast),
 * and event injection through the vCPU event queue (vmm/events.h) with
 * interrupt-window exiting, as KVM does it.
 *
 * Virtual time (BRIEF decision 6): the machine clock advances by the
 * instructions every vCPU retires (tsc_per_insn nanoseconds each; the
 * nominal frequency is 1 GHz), and jumps to the next timer deadline when
 * every vCPU is halted. Each vCPU's TSC is kept equal to the machine clock
 * (plus what the guest wrote to it), so TSC, APIC timers and the PIT agree. */
#ifndef NVMX_VMM_IRQ_H
#define NVMX_VMM_IRQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/machine.h"
#include "dev/acpi_pm.h"
#include "dev/hpet.h"
#include "dev/ioapic.h"
#include "dev/lapic.h"
#include "dev/pic.h"
#include "dev/pit.h"
#include "dev/rtc.h"
#include "dev/vclock.h"

struct vcpu_irq {
    struct lapic lapic;
    bool halted;          /* executed HLT; waits for an interrupt */
    bool nmi, init, sipi; /* signals received from the APIC bus */
    uint8_t sipi_vector;
    uint64_t last_icount; /* icount when the clock last caught up */
    int64_t tsc_delta;    /* guest TSC - machine clock */
    uint64_t vapic_gpa;   /* the virtual-APIC page vtpr points into */
    uint8_t *vtpr;
};

struct platform {
    struct machine *m;
    struct vclock clk;
    struct pic pic;
    struct pit pit;
    struct ioapic ioapic;
    struct rtc rtc;
    struct acpi_pm pm;
    struct hpet hpet;
    struct vcpu_irq v[MACHINE_MAX_CPUS];
    int cur; /* the vCPU whose exit is being handled (APIC MMIO) */
    /* the earliest timer deadline, recomputed when timers ran or an exit
     * may have reprogrammed a device (deadline_stale) */
    uint64_t deadline;
    bool deadline_stale;
    uint64_t host_start_ns; /* -rtc clock=host: host monotonic time at creation */
};

/* Creates the platform devices and registers their ports. */
int irq_create(struct machine *m, char *err, size_t errlen);
void irq_destroy(struct machine *m);

/* ISA IRQ line level, routed to the 8259 pair and the I/O APIC (IRQ 0 is
 * I/O APIC input 2, as the MP/ACPI tables say). */
void irq_set_isa(struct platform *p, int irq, int level);

/* --- the hooks L0's run loop calls --- */

/* Whether vCPU i can run now: applies pending INIT/SIPI, wakes a halted vCPU
 * with an interrupt it can take. */
bool irq_vcpu_runnable(struct machine *m, int i);
/* Before a VM entry of vCPU i: catches the clock up, runs the timers, queues
 * an interrupt or NMI the guest can take (or arms interrupt-window exiting),
 * and returns the slice to run (at most `slice`, ending at the next timer
 * deadline); 0 if the vCPU must not run now (it halted). */
uint64_t irq_before_entry(struct machine *m, int i, uint64_t slice);
/* After a VM exit of vCPU i: the clock catches up, so devices see the time
 * of the exiting instruction. */
void irq_after_exit(struct machine *m, int i);
/* Acknowledges the highest-priority pending interrupt of vCPU i (INTA):
 * the vector; used for "acknowledge interrupt on exit" of nested exits. */
uint8_t irq_intr_ack(struct machine *m, int i);
/* HLT exit (the instruction was skipped): vCPU i waits for an interrupt. */
void irq_hlt(struct machine *m, int i);
/* Every vCPU waits: virtual time jumps to the next timer deadline. Returns
 * false if nothing can ever wake any of them. */
bool irq_idle(struct machine *m);
/* RDMSR/WRMSR of the APIC MSRs (IA32_APIC_BASE, x2APIC, TSC deadline);
 * false if not one of them or the access is #GP. */
bool irq_msr(struct machine *m, int i, uint32_t msr, bool write, uint64_t *val);
/* The xAPIC page of the current vCPU; false if gpa is not in it. */
bool irq_mmio_read(struct machine *m, uint64_t gpa, int size, uint64_t *val);
bool irq_mmio_write(struct machine *m, uint64_t gpa, int size, uint64_t val);

#endif
