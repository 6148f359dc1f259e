/* Serial console (16550 at 0x3f8), printf and the debug-exit port. */
#include "guest.h"

#define COM1 0x3f8
#define UART_LSR 5
#define LSR_THRE 0x20 /* transmit holding register empty */

void serial_putc(char c)
{
    /* Poll THRE before transmitting like a real driver; bounded so a UART
     * model without LSR cannot hang the test forever. */
    for (int i = 0; i < 100000 && !(inb(COM1 + UART_LSR) & LSR_THRE); i++)
        __asm__ volatile("pause");
    outb(COM1, (uint8_t)c);
}

void puts(const char *s)
{
    while (*s)
        serial_putc(*s++);
}

NORETURN void guest_exit(uint32_t code)
{
    /* isa-debug-exit: the emulator exits with status (code << 1) | 1. */
    outl(0xf4, code);
    for (;;)
        __asm__ volatile("cli; hlt");
}

struct out {
    char *buf;
    size_t size, len;
};

static void out_c(struct out *o, char c)
{
    if (o->buf) {
        if (o->len + 1 < o->size)
            o->buf[o->len] = c;
    } else {
        serial_putc(c);
    }
    o->len++;
}

static void out_num(struct out *o, uint64_t v, int base, bool neg, int width, bool zero, bool left,
                    bool upper)
{
    char tmp[24];
    int n = 0;
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    int len = n + (neg ? 1 : 0);
    if (!left && !zero)
        for (; width > len; width--)
            out_c(o, ' ');
    if (neg)
        out_c(o, '-');
    if (!left && zero)
        for (; width > len; width--)
            out_c(o, '0');
    while (n)
        out_c(o, tmp[--n]);
    if (left)
        for (; width > len; width--)
            out_c(o, ' ');
}

static int format(struct out *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            out_c(o, *fmt);
            continue;
        }
        fmt++;
        bool zero = false, left = false;
        for (;; fmt++) {
            if (*fmt == '0')
                zero = true;
            else if (*fmt == '-')
                left = true;
            else
                break;
        }
        int width = 0;
        if (*fmt == '*') {
            width = va_arg(ap, int);
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        int lng = 0;
        while (*fmt == 'l' || *fmt == 'z' || *fmt == 'h') {
            if (*fmt != 'h')
                lng++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            out_num(o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, zero, left, false);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            out_num(o, v, *fmt == 'u' ? 10 : 16, false, width, zero, left, *fmt == 'X');
            break;
        }
        case 'p':
            out_c(o, '0');
            out_c(o, 'x');
            out_num(o, (uint64_t)va_arg(ap, void *), 16, false, width, zero, left, false);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            int len = (int)strlen(s);
            if (!left)
                for (; width > len; width--)
                    out_c(o, ' ');
            while (*s)
                out_c(o, *s++);
            if (left)
                for (; width > len; width--)
                    out_c(o, ' ');
            break;
        }
        case 'c':
            out_c(o, (char)va_arg(ap, int));
            break;
        case '%':
            out_c(o, '%');
            break;
        case 0:
            fmt--;
            break;
        default:
            out_c(o, '%');
            out_c(o, *fmt);
        }
    }
    if (o->buf && o->size)
        o->buf[o->len < o->size ? o->len : o->size - 1] = 0;
    return (int)o->len;
}

int gvprintf(const char *fmt, va_list ap)
{
    struct out o = {0};
    return format(&o, fmt, ap);
}

int gprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = gvprintf(fmt, ap);
    va_end(ap);
    return n;
}

int gvsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct out o = {buf, n, 0};
    return format(&o, fmt, ap);
}

int gsnprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = gvsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
