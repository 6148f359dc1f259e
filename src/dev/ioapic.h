/* The I/O APIC (Intel 82093AA datasheet; ICH/PIIX version 0x20 with the EOI
 * register): 24 redirection entries, edge and level inputs with remote IRR,
 * EOI by broadcast from the local APICs or by its EOI register. Messages go
 * to the APIC bus through the deliver callback (vmm/irq.c). */
#ifndef NVMX_DEV_IOAPIC_H
#define NVMX_DEV_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#include "iobus.h"

#define IOAPIC_BASE 0xfec00000ull
#define IOAPIC_PINS 24

struct ioapic {
    uint32_t id;
    uint32_t sel;
    uint32_t irr; /* input levels (level pins) / latched edges */
    uint64_t redir[IOAPIC_PINS];
    /* an APIC message: vector, delivery mode (bits 10:8), logical mode, level */
    void (*deliver)(void *opaque, uint32_t dest, bool logical, uint32_t dm, uint8_t vector,
                    bool level);
    void *opaque;
};

void ioapic_init(struct ioapic *s, uint32_t id,
                 void (*deliver)(void *, uint32_t, bool, uint32_t, uint8_t, bool), void *opaque);
void ioapic_set_irq(struct ioapic *s, int pin, int level);
/* EOI for `vector` from a local APIC: clears remote IRR (82093AA 3.4.2) */
void ioapic_eoi(struct ioapic *s, uint8_t vector);

extern const struct io_ops ioapic_ops; /* 0xfec00000, 0x100 bytes */

#endif
