/* The HPET (IA-PC HPET Specification 1.0a): a 64-bit main counter at
 * 100 MHz of virtual time and 3 timers (comparators) with one-shot and
 * periodic modes, 32-bit mode, edge or level interrupts routed to an I/O
 * APIC input or, in legacy replacement mode, timer 0 to IRQ 0 and timer 1
 * to IRQ 8. MMIO at 0xfed00000. */
#ifndef NVMX_DEV_HPET_H
#define NVMX_DEV_HPET_H

#include <stdbool.h>
#include <stdint.h>

#include "iobus.h"
#include "vclock.h"

#define HPET_BASE 0xfed00000ull
#define HPET_TIMERS 3
#define HPET_HZ 100000000ull
/* I/O APIC inputs timers may be routed to (Tn_INT_ROUTE_CAP) */
#define HPET_ROUTE_CAP 0x00f00000u

struct hpet_timer {
    uint64_t config, cmp, period;
    bool level_active; /* a level interrupt is asserted (status bit set) */
    uint64_t next_ns;  /* next comparator match, UINT64_MAX if none */
};

struct hpet {
    const struct vclock *clk;
    uint64_t config, isr;
    uint64_t counter_base; /* main counter when enabled at enable_ns */
    uint64_t enable_ns;
    struct hpet_timer t[HPET_TIMERS];
    /* an interrupt line: gsi is the I/O APIC input, legacy_irq the ISA
     * IRQ (-1 when not in legacy replacement mode) */
    void (*irq)(void *opaque, int gsi, int legacy_irq, int level);
    void *irq_opaque;
};

void hpet_init(struct hpet *h, const struct vclock *clk, void (*irq)(void *, int, int, int),
               void *opaque);
void hpet_advance(struct hpet *h);
uint64_t hpet_deadline(const struct hpet *h);
/* Legacy replacement mode owns IRQ 0 and IRQ 8 (the PIT and RTC lose them) */
bool hpet_legacy(const struct hpet *h);

extern const struct io_ops hpet_ops; /* 0x400 bytes */

#endif
