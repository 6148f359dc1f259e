/* I/O APIC (see ioapic.h). */
#include "ioapic.h"

#include <string.h>

#define RE_MASKED (1ull << 16)
#define RE_LEVEL (1ull << 15)
#define RE_REMOTE_IRR (1ull << 14)
#define RE_LOGICAL (1ull << 11)
#define RE_DELIVS (1ull << 12)

void ioapic_init(struct ioapic *s, uint32_t id,
                 void (*deliver)(void *, uint32_t, bool, uint32_t, uint8_t, bool), void *opaque)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->deliver = deliver;
    s->opaque = opaque;
    for (int i = 0; i < IOAPIC_PINS; i++)
        s->redir[i] = RE_MASKED; /* all entries masked at reset */
}

/* Sends the message of pin i if its input asks for one. */
static void service(struct ioapic *s, int i)
{
    uint64_t re = s->redir[i];
    if (!(s->irr & (1u << i)) || (re & RE_MASKED))
        return;
    bool level = re & RE_LEVEL;
    if (level) {
        if (re & RE_REMOTE_IRR)
            return; /* accepted, not yet EOIed */
        s->redir[i] |= RE_REMOTE_IRR;
    } else {
        s->irr &= ~(1u << i); /* an edge is consumed by its message */
    }
    /* physical destination: APIC ID in 59:56; logical: 63:56 */
    uint32_t dest = (uint32_t)(re >> 56);
    s->deliver(s->opaque, dest, re & RE_LOGICAL, (uint32_t)(re >> 8) & 7, (uint8_t)re, level);
}

void ioapic_set_irq(struct ioapic *s, int pin, int level)
{
    if (pin < 0 || pin >= IOAPIC_PINS)
        return;
    uint32_t mask = 1u << pin;
    if (s->redir[pin] & RE_LEVEL) {
        if (level)
            s->irr |= mask;
        else
            s->irr &= ~mask;
        service(s, pin);
    } else if (level && !(s->redir[pin] & RE_MASKED)) {
        /* edge: a rising edge sends one message; on a masked pin it is
         * ignored, not held pending (82093AA 3.2.4, interrupt mask bit) */
        s->irr |= mask;
        service(s, pin);
    }
}

void ioapic_eoi(struct ioapic *s, uint8_t vector)
{
    for (int i = 0; i < IOAPIC_PINS; i++) {
        if ((uint8_t)s->redir[i] == vector && (s->redir[i] & RE_REMOTE_IRR)) {
            s->redir[i] &= ~RE_REMOTE_IRR;
            service(s, i); /* a line still asserted interrupts again */
        }
    }
}

static uint32_t reg_read(struct ioapic *s)
{
    uint32_t r = s->sel & 0xff;
    if (r == 0)
        return (s->id & 0xf) << 24;
    if (r == 1)
        return 0x20 | ((IOAPIC_PINS - 1) << 16); /* version 0x20, max entry 23 */
    if (r == 2)
        return (s->id & 0xf) << 24; /* arbitration ID */
    if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {
        uint64_t re = s->redir[(r - 0x10) / 2];
        return (r & 1) ? (uint32_t)(re >> 32) : (uint32_t)re;
    }
    return 0xffffffffu;
}

static void reg_write(struct ioapic *s, uint32_t val)
{
    uint32_t r = s->sel & 0xff;
    if (r == 0) {
        s->id = (val >> 24) & 0xf;
        return;
    }
    if (r < 0x10 || r >= 0x10 + 2 * IOAPIC_PINS)
        return; /* version and arbitration are read-only */
    int i = (int)(r - 0x10) / 2;
    uint64_t re = s->redir[i];
    if (r & 1) {
        re = (re & 0xffffffffull) | ((uint64_t)val << 32);
    } else {
        /* delivery status and remote IRR are read-only */
        uint64_t ro = RE_DELIVS | RE_REMOTE_IRR;
        re = (re & ~0xffffffffull) | (re & ro) | (val & ~ro);
        if (!(re & RE_LEVEL))
            re &= ~RE_REMOTE_IRR;
    }
    s->redir[i] = re;
    service(s, i); /* an unmasked entry with a pending input fires now */
}

static uint64_t ioapic_read(void *opaque, uint64_t addr, int size)
{
    struct ioapic *s = opaque;
    if (addr == 0)
        return s->sel;
    if (addr == 0x10)
        return reg_read(s);
    return 0;
}

static void ioapic_write(void *opaque, uint64_t addr, int size, uint64_t val)
{
    struct ioapic *s = opaque;
    if (addr == 0)
        s->sel = (uint32_t)val & 0xff;
    else if (addr == 0x10)
        reg_write(s, (uint32_t)val);
    else if (addr == 0x40)
        ioapic_eoi(s, (uint8_t)val); /* EOI register (version 0x20) */
}

const struct io_ops ioapic_ops = {ioapic_read, ioapic_write};
