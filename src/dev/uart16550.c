/* 16550A UART (National Semiconductor PC16550D datasheet): the registers
 * Linux's 8250 driver and kvm-unit-tests probe, a 16-byte receive FIFO fed
 * from the backend, and an interrupt line (IRQ 4 on COM1). */
#include "uart16550.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10

struct uart16550 {
    int out_fd; /* -1: discard */
    bool close_out;
    int in_fd; /* -1: no input */
    uint8_t ier, iir_thri_pending, lcr, mcr, lsr, msr, scr, fcr;
    uint16_t divisor;
    uint8_t rx[16];
    int rx_head, rx_count;
};

struct uart16550 *uart_create(const char *backend, char *err, size_t errlen)
{
    struct uart16550 *u = calloc(1, sizeof(*u));
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    u->out_fd = -1;
    u->in_fd = -1;
    u->lsr = LSR_THRE | LSR_TEMT;
    u->divisor = 12; /* 9600 baud */
    u->msr = 0xb0;   /* DCD, DSR, CTS */
    if (!backend || !strcmp(backend, "none") || !strcmp(backend, "null")) {
        /* discard output */
    } else if (!strcmp(backend, "stdio") || !strcmp(backend, "mon:stdio")) {
        u->out_fd = STDOUT_FILENO;
        u->in_fd = STDIN_FILENO;
    } else if (!strncmp(backend, "file:", 5)) {
        u->out_fd = open(backend + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (u->out_fd < 0) {
            snprintf(err, errlen, "cannot open serial file '%s': %s", backend + 5, strerror(errno));
            free(u);
            return NULL;
        }
        u->close_out = true;
    } else {
        snprintf(err, errlen, "unsupported serial backend '%s' (use stdio, file:PATH or none)",
                 backend);
        free(u);
        return NULL;
    }
    return u;
}

void uart_destroy(struct uart16550 *u)
{
    if (!u)
        return;
    if (u->close_out)
        close(u->out_fd);
    free(u);
}

void uart_set_input(struct uart16550 *u, int fd)
{
    u->in_fd = fd;
}

static void uart_tx(struct uart16550 *u, uint8_t c)
{
    if (u->mcr & MCR_LOOP) {
        if (u->rx_count < 16) {
            u->rx[(u->rx_head + u->rx_count++) & 15] = c;
            u->lsr |= LSR_DR;
        }
        return;
    }
    if (u->out_fd >= 0) {
        ssize_t r;
        do
            r = write(u->out_fd, &c, 1);
        while (r < 0 && errno == EINTR);
    }
    /* transmission is instantaneous: THR empty again, THRE interrupt due */
    u->iir_thri_pending = 1;
}

void uart_receive(struct uart16550 *u, const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n && u->rx_count < 16; i++)
        u->rx[(u->rx_head + u->rx_count++) & 15] = buf[i];
    if (u->rx_count)
        u->lsr |= LSR_DR;
}

/* Polls the input backend (non-blocking) when the receiver is empty. Input
 * arrival is host-timed, so it is only polled when the guest reads LSR/RBR:
 * a guest that never reads stays deterministic. */
static void uart_poll_input(struct uart16550 *u)
{
    if (u->in_fd < 0 || u->rx_count)
        return;
    int fl = fcntl(u->in_fd, F_GETFL);
    if (fl < 0)
        return;
    uint8_t buf[16];
    if (!(fl & O_NONBLOCK))
        fcntl(u->in_fd, F_SETFL, fl | O_NONBLOCK);
    ssize_t r = read(u->in_fd, buf, sizeof(buf));
    if (!(fl & O_NONBLOCK))
        fcntl(u->in_fd, F_SETFL, fl);
    if (r > 0)
        uart_receive(u, buf, (size_t)r);
    else if (r == 0)
        u->in_fd = -1; /* EOF */
}

/* IIR: highest-priority pending interrupt (datasheet Table 4) */
static uint8_t uart_iir(const struct uart16550 *u)
{
    uint8_t fifo = (u->fcr & 1) ? 0xc0 : 0;
    if ((u->ier & IER_RDI) && u->rx_count)
        return fifo | 0x04;
    if ((u->ier & IER_THRI) && u->iir_thri_pending)
        return fifo | 0x02;
    if ((u->ier & IER_MSI) && (u->msr & 0x0f))
        return fifo | 0x00;
    return fifo | 0x01;
}

bool uart_irq_level(const struct uart16550 *u)
{
    return !(uart_iir(u) & 1);
}

static uint64_t uart_read(void *opaque, uint64_t off, int size)
{
    struct uart16550 *u = opaque;
    switch (off) {
    case 0:
        if (u->lcr & LCR_DLAB)
            return u->divisor & 0xff;
        uart_poll_input(u);
        if (u->rx_count) {
            uint8_t c = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) & 15;
            if (--u->rx_count == 0)
                u->lsr &= ~LSR_DR;
            return c;
        }
        return 0;
    case 1:
        return (u->lcr & LCR_DLAB) ? (u->divisor >> 8) : u->ier;
    case 2: {
        uint8_t iir = uart_iir(u);
        if ((iir & 0x0f) == 0x02)
            u->iir_thri_pending = 0; /* reading IIR clears the THRE source */
        return iir;
    }
    case 3:
        return u->lcr;
    case 4:
        return u->mcr;
    case 5: {
        uart_poll_input(u);
        uint8_t v = u->lsr;
        u->lsr &= ~0x1e; /* OE, PE, FE, BI clear on read */
        return v;
    }
    case 6: {
        uint8_t v = u->msr;
        if (u->mcr & MCR_LOOP) /* loopback: outputs appear on inputs */
            v = (uint8_t)(((u->mcr & 0x0c) << 4) | ((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3));
        u->msr &= 0xf0; /* delta bits clear on read */
        return v;
    }
    default:
        return u->scr;
    }
}

static void uart_write(void *opaque, uint64_t off, int size, uint64_t val)
{
    struct uart16550 *u = opaque;
    uint8_t v = (uint8_t)val;
    switch (off) {
    case 0:
        if (u->lcr & LCR_DLAB)
            u->divisor = (u->divisor & 0xff00) | v;
        else
            uart_tx(u, v);
        break;
    case 1:
        if (u->lcr & LCR_DLAB) {
            u->divisor = (uint16_t)((u->divisor & 0xff) | (v << 8));
        } else {
            /* enabling THRI with an empty THR raises the interrupt at once */
            if ((v & IER_THRI) && !(u->ier & IER_THRI))
                u->iir_thri_pending = 1;
            u->ier = v & 0x0f;
        }
        break;
    case 2:
        u->fcr = v & 0xc9;
        if (v & 2) { /* clear receive FIFO */
            u->rx_count = 0;
            u->lsr &= ~LSR_DR;
        }
        break;
    case 3:
        u->lcr = v;
        break;
    case 4:
        u->mcr = v & 0x1f;
        break;
    case 7:
        u->scr = v;
        break;
    default:
        break; /* LSR/MSR are read-only */
    }
}

void uart_get_regs(const struct uart16550 *u, struct uart_regs *r)
{
    *r = (struct uart_regs){
        u->ier, u->iir_thri_pending, u->lcr, u->mcr,     u->lsr,     u->msr, u->scr,
        u->fcr, u->divisor,          {0},    u->rx_head, u->rx_count};
    memcpy(r->rx, u->rx, sizeof(r->rx));
}

bool uart_set_regs(struct uart16550 *u, const struct uart_regs *r)
{
    /* the values the register writes above can produce */
    if (r->ier > 0x0f || r->iir_thri_pending > 1 || r->mcr > 0x1f || (r->fcr & ~0xc9) ||
        r->rx_head < 0 || r->rx_head > 15 || r->rx_count < 0 || r->rx_count > 16)
        return false;
    u->ier = r->ier;
    u->iir_thri_pending = r->iir_thri_pending;
    u->lcr = r->lcr;
    u->mcr = r->mcr;
    u->lsr = r->lsr;
    u->msr = r->msr;
    u->scr = r->scr;
    u->fcr = r->fcr;
    u->divisor = r->divisor;
    memcpy(u->rx, r->rx, sizeof(u->rx));
    u->rx_head = r->rx_head;
    u->rx_count = r->rx_count;
    return true;
}

const struct io_ops uart_ops = {uart_read, uart_write};
