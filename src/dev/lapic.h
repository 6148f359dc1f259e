/* The local APIC of one vCPU (SDM Vol. 3A chapter 11 "Advanced Programmable
 * Interrupt Controller (APIC)", x2APIC: chapter 11.12). Register state, the
 * IRR/ISR/TMR priority logic, LVTs and the timer (one-shot, periodic,
 * TSC-deadline) live here; the APIC bus (destination matching of IPIs,
 * delivery to other vCPUs, EOI broadcast to the I/O APIC) is the
 * interrupt glue's (vmm/irq.c), reached through the callbacks. */
#ifndef NVMX_DEV_LAPIC_H
#define NVMX_DEV_LAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "vclock.h"

/* The timer's input clock: the nominal 100 MHz bus clock, divided by the
 * divide configuration register. */
#define LAPIC_TIMER_HZ 100000000ull
#define LAPIC_DEFAULT_BASE 0xfee00000ull

#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_EN (1ull << 11)

/* LVT indexes */
enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, NR_LVT };

#define APIC_LVT_MASKED (1u << 16)
#define APIC_DM_FIXED 0
#define APIC_DM_LOWEST 1
#define APIC_DM_SMI 2
#define APIC_DM_NMI 4
#define APIC_DM_INIT 5
#define APIC_DM_SIPI 6
#define APIC_DM_EXTINT 7

struct lapic;

struct lapic_bus_ops {
    /* an ICR write (or x2APIC self IPI): the glue finds the destinations */
    void (*send_ipi)(void *opaque, struct lapic *src, uint32_t icr_lo, uint32_t dest);
    /* EOI of a level-triggered vector: broadcast to the I/O APICs */
    void (*eoi)(void *opaque, uint8_t vector);
};

struct lapic {
    const struct vclock *clk;
    const struct lapic_bus_ops *ops;
    void *opaque;
    uint32_t id; /* the initial APIC ID (= vCPU index); xAPIC may change it */
    uint64_t apic_base;
    uint32_t tpr, ldr, dfr, svr;
    uint32_t esr, esr_pending; /* ESR: the read value latched by a write */
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[NR_LVT];
    uint32_t irr[8], isr[8], tmr[8];
    uint32_t initial_count, divide;
    uint64_t timer_start_ns; /* start of the current count (one-shot/periodic) */
    uint64_t tsc_deadline;   /* IA32_TSC_DEADLINE as written (0: disarmed) */
    uint64_t deadline_ns;    /* virtual time of that deadline (glue converts) */
    uint64_t timer_next_ns;  /* next expiry, UINT64_MAX if none */
};

void lapic_init(struct lapic *l, uint32_t id, bool bsp, const struct vclock *clk,
                const struct lapic_bus_ops *ops, void *opaque);
/* The INIT reset (SDM 11.4.7.3): everything but the ID and IA32_APIC_BASE. */
void lapic_init_reset(struct lapic *l);

bool lapic_hw_enabled(const struct lapic *l);
bool lapic_x2apic(const struct lapic *l);
bool lapic_sw_enabled(const struct lapic *l);

/* IA32_APIC_BASE write; false if the transition is illegal (#GP, SDM
 * 11.12.5 Figure 11-27) or reserved bits are set. */
bool lapic_set_base(struct lapic *l, uint64_t val, uint64_t phys_addr_mask);

/* xAPIC MMIO access at offset (0..0xfff) of the APIC page */
uint32_t lapic_mmio_read(struct lapic *l, uint32_t offset);
void lapic_mmio_write(struct lapic *l, uint32_t offset, uint32_t val);
/* x2APIC MSR access (0x800-0x8ff); false means #GP */
bool lapic_msr_read(struct lapic *l, uint32_t msr, uint64_t *val);
bool lapic_msr_write(struct lapic *l, uint32_t msr, uint64_t val);

/* A fixed/lowest-priority interrupt accepted from the APIC bus. */
void lapic_accept(struct lapic *l, uint8_t vector, bool level);
/* The highest-priority IRR vector above the processor priority, or -1. */
int lapic_pending(const struct lapic *l);
/* The processor takes it: IRR -> ISR (SDM 11.8.4). */
void lapic_ack(struct lapic *l, uint8_t vector);
uint32_t lapic_ppr(const struct lapic *l);

/* Destination matching for IPIs and I/O APIC messages (SDM 11.6.2). */
bool lapic_match_dest(const struct lapic *l, uint32_t dest, bool logical);

/* Timer: raises the LVT timer interrupt if it is due; next expiry. */
void lapic_advance(struct lapic *l);
uint64_t lapic_deadline(const struct lapic *l);
/* TSC-deadline mode: IA32_TSC_DEADLINE written, with its virtual time */
void lapic_set_tsc_deadline(struct lapic *l, uint64_t tsc, uint64_t ns);
bool lapic_tsc_deadline_mode(const struct lapic *l);

#endif
