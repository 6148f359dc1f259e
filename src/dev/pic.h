/* The 8259A programmable interrupt controller pair of the PC (master at
 * 0x20, slave at 0xa0 cascaded on IRQ2) and the ELCR edge/level registers
 * at 0x4d0/0x4d1 (Intel 8259A datasheet; PIIX4 datasheet 3.1.6.1). The
 * interrupt glue (vmm/irq.c) raises lines with pic_set_irq, polls the INTR
 * output with pic_intr and runs the INTA cycle with pic_ack. */
#ifndef NVMX_DEV_PIC_H
#define NVMX_DEV_PIC_H

#include <stdbool.h>
#include <stdint.h>

#include "iobus.h"

struct pic8259 {
    uint8_t irr, isr, imr;
    uint8_t last_level; /* input levels seen (edge detection) */
    uint8_t elcr, elcr_mask;
    uint8_t base;         /* ICW2: vector of IR0 */
    uint8_t priority_add; /* IR with the lowest priority + 1 (rotation) */
    uint8_t init_state;   /* 0 ready, 1 expects ICW2, 2 ICW3, 3 ICW4 */
    bool icw4, single, auto_eoi, rotate_on_aeoi, special_fully_nested;
    bool read_isr, poll, special_mask;
};

struct pic {
    struct pic8259 c[2]; /* master, slave */
};

void pic_init(struct pic *p);
/* ISA IRQ 0-15 input level. Edge-triggered inputs latch a rising edge. */
void pic_set_irq(struct pic *p, int irq, int level);
/* The master's INTR output. */
bool pic_intr(const struct pic *p);
/* Interrupt acknowledge: the vector the pair puts on the bus (IR7 of the
 * master or slave when nothing is pending any more: a spurious interrupt,
 * 8259A datasheet "INTA sequence"). */
uint8_t pic_ack(struct pic *p);

/* 0x20/0x21, 0xa0/0xa1 and 0x4d0/0x4d1; the opaque is the pair */
extern const struct io_ops pic_master_ops, pic_slave_ops, pic_elcr_ops;

#endif
