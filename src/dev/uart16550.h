/* 16550A UART. Register offsets 0-7 relative to the base port. */
#ifndef NVMX_DEV_UART16550_H
#define NVMX_DEV_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "iobus.h"

struct uart16550;

/* backend: "stdio", "file:PATH" or "none". NULL + message on error. */
struct uart16550 *uart_create(const char *backend, char *err, size_t errlen);
void uart_destroy(struct uart16550 *u);
/* Feeds received bytes (tests; the stdio backend polls stdin itself). */
void uart_receive(struct uart16550 *u, const uint8_t *buf, size_t n);
void uart_set_input(struct uart16550 *u, int fd);
/* The interrupt output (IRQ 4 for COM1), for the interrupt controller. */
bool uart_irq_level(const struct uart16550 *u);

/* The guest-visible register state, for snapshots (src/migrate/). */
struct uart_regs {
    uint8_t ier, iir_thri_pending, lcr, mcr, lsr, msr, scr, fcr;
    uint16_t divisor;
    uint8_t rx[16];
    int rx_head, rx_count;
};
void uart_get_regs(const struct uart16550 *u, struct uart_regs *r);
/* Returns false (and changes nothing) when the values are impossible. */
bool uart_set_regs(struct uart16550 *u, const struct uart_regs *r);

extern const struct io_ops uart_ops;

#endif
