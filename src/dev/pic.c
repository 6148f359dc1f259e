/* 8259A PIC pair (see pic.h). The priority logic follows the 8259A
 * datasheet: fully nested mode with optional rotation, specific and
 * non-specific EOI, automatic EOI, special mask mode, poll mode, and the
 * slave cascaded on master IR2. */
#include "pic.h"

#include <string.h>

static void chip_reset(struct pic8259 *s)
{
    uint8_t elcr = s->elcr, mask = s->elcr_mask;
    memset(s, 0, sizeof(*s));
    s->elcr = elcr;
    s->elcr_mask = mask;
}

void pic_init(struct pic *p)
{
    memset(p, 0, sizeof(*p));
    /* IRQ0/1/2 and 8/13 are always edge on PIIX (ELCR bits read-only 0) */
    p->c[0].elcr_mask = 0xf8;
    p->c[1].elcr_mask = 0xde;
    /* no BIOS has programmed it: everything masked until the guest does */
    p->c[0].imr = p->c[1].imr = 0xff;
}

/* Priority (0 highest) of the highest-priority bit of mask, 8 if none. */
static int get_priority(const struct pic8259 *s, uint8_t mask)
{
    if (!mask)
        return 8;
    int pri = 0;
    while (!(mask & (1u << ((pri + s->priority_add) & 7))))
        pri++;
    return pri;
}

/* The IR the chip would present on INTA, or -1. */
static int chip_get_irq(const struct pic8259 *s, bool master)
{
    int pri = get_priority(s, s->irr & (uint8_t)~s->imr);
    if (pri == 8)
        return -1;
    uint8_t in_service = s->isr;
    if (s->special_mask)
        in_service &= (uint8_t)~s->imr; /* special mask mode: masked levels do not block */
    if (master && s->special_fully_nested)
        in_service &= (uint8_t) ~(1u << 2); /* the slave may interrupt its own service */
    int cur = get_priority(s, in_service);
    return pri < cur ? (pri + s->priority_add) & 7 : -1;
}

static void chip_set_input(struct pic8259 *s, int irq, int level)
{
    uint8_t mask = (uint8_t)(1u << irq);
    if (s->elcr & mask) {
        /* level-triggered: IRR follows the line */
        if (level) {
            s->irr |= mask;
            s->last_level |= mask;
        } else {
            s->irr &= (uint8_t)~mask;
            s->last_level &= (uint8_t)~mask;
        }
    } else {
        if (level) {
            if (!(s->last_level & mask))
                s->irr |= mask;
            s->last_level |= mask;
        } else {
            s->last_level &= (uint8_t)~mask;
        }
    }
}

/* The slave's INTR drives master IR2 */
static void update_cascade(struct pic *p)
{
    chip_set_input(&p->c[0], 2, chip_get_irq(&p->c[1], false) >= 0);
}

void pic_set_irq(struct pic *p, int irq, int level)
{
    if (irq < 0 || irq > 15)
        return;
    chip_set_input(&p->c[irq >> 3], irq & 7, level);
    update_cascade(p);
}

bool pic_intr(const struct pic *p)
{
    return chip_get_irq(&p->c[0], true) >= 0;
}

static void chip_intack(struct pic8259 *s, int irq)
{
    uint8_t mask = (uint8_t)(1u << irq);
    if (s->auto_eoi) {
        if (s->rotate_on_aeoi)
            s->priority_add = (uint8_t)((irq + 1) & 7);
    } else {
        s->isr |= mask;
    }
    /* an edge is consumed by the acknowledge; a level stays requested */
    if (!(s->elcr & mask))
        s->irr &= (uint8_t)~mask;
}

uint8_t pic_ack(struct pic *p)
{
    uint8_t vec;
    int irq = chip_get_irq(&p->c[0], true);
    if (irq < 0) {
        vec = (uint8_t)(p->c[0].base + 7); /* spurious: no ISR bit set */
    } else if (irq == 2 && !p->c[0].single) {
        int irq2 = chip_get_irq(&p->c[1], false);
        chip_intack(&p->c[0], 2);
        if (irq2 >= 0) {
            chip_intack(&p->c[1], irq2);
            vec = (uint8_t)(p->c[1].base + irq2);
        } else {
            vec = (uint8_t)(p->c[1].base + 7); /* spurious on the slave */
        }
    } else {
        chip_intack(&p->c[0], irq);
        vec = (uint8_t)(p->c[0].base + irq);
    }
    update_cascade(p);
    return vec;
}

static void chip_write(struct pic *p, struct pic8259 *s, int port, uint8_t val)
{
    if (port == 0) {
        if (val & 0x10) {
            /* ICW1: starts the initialization sequence; IMR and ISR clear,
             * IR7 gets the lowest priority, special mask mode off */
            chip_reset(s);
            s->init_state = 1;
            s->icw4 = val & 1;
            s->single = val & 2;
            /* bit 3 (LTIM, level mode for all inputs) is ignored by the
             * PIIX, which uses ELCR instead */
        } else if (val & 0x08) {
            /* OCW3 */
            if (val & 0x04)
                s->poll = true;
            if (val & 0x02)
                s->read_isr = val & 1;
            if (val & 0x40)
                s->special_mask = (val >> 5) & 1;
        } else {
            /* OCW2 */
            int cmd = val >> 5, pri, irq;
            switch (cmd) {
            case 0: /* rotate in automatic EOI mode: clear */
            case 4: /* set */
                s->rotate_on_aeoi = cmd == 4;
                break;
            case 1: /* non-specific EOI */
            case 5: /* rotate on non-specific EOI */
                pri = get_priority(s, s->isr);
                if (pri != 8) {
                    irq = (pri + s->priority_add) & 7;
                    s->isr &= (uint8_t) ~(1u << irq);
                    if (cmd == 5)
                        s->priority_add = (uint8_t)((irq + 1) & 7);
                }
                break;
            case 3: /* specific EOI */
                s->isr &= (uint8_t) ~(1u << (val & 7));
                break;
            case 6: /* set priority: IRn becomes the lowest */
                s->priority_add = (uint8_t)((val + 1) & 7);
                break;
            case 7: /* rotate on specific EOI */
                irq = val & 7;
                s->isr &= (uint8_t) ~(1u << irq);
                s->priority_add = (uint8_t)((irq + 1) & 7);
                break;
            default: /* 2: no operation */
                break;
            }
        }
    } else {
        switch (s->init_state) {
        case 0: /* OCW1 */
            s->imr = val;
            break;
        case 1: /* ICW2: the vector base (T7-T3) */
            s->base = val & 0xf8;
            s->init_state = s->single ? (s->icw4 ? 3 : 0) : 2;
            break;
        case 2: /* ICW3: cascade wiring is fixed on the PC */
            s->init_state = s->icw4 ? 3 : 0;
            break;
        default: /* ICW4: AEOI, SFNM (8086 mode assumed) */
            s->special_fully_nested = (val >> 4) & 1;
            s->auto_eoi = (val >> 1) & 1;
            s->init_state = 0;
            break;
        }
    }
    update_cascade(p);
}

static uint8_t chip_read(struct pic *p, struct pic8259 *s, int port)
{
    if (s->poll) {
        /* poll command: the next read acknowledges the highest request */
        s->poll = false;
        int irq = chip_get_irq(s, s == &p->c[0]);
        if (irq < 0)
            return 0;
        chip_intack(s, irq);
        update_cascade(p);
        return (uint8_t)(0x80 | irq);
    }
    if (port == 0)
        return s->read_isr ? s->isr : s->irr;
    return s->imr;
}

/* the opaque of the master/slave ranges is the pair; the chip is chosen
 * by the ops table */
static uint64_t master_read(void *o, uint64_t a, int size)
{
    struct pic *p = o;
    return chip_read(p, &p->c[0], (int)(a & 1));
}
static void master_write(void *o, uint64_t a, int size, uint64_t v)
{
    struct pic *p = o;
    chip_write(p, &p->c[0], (int)(a & 1), (uint8_t)v);
}
static uint64_t slave_read(void *o, uint64_t a, int size)
{
    struct pic *p = o;
    return chip_read(p, &p->c[1], (int)(a & 1));
}
static void slave_write(void *o, uint64_t a, int size, uint64_t v)
{
    struct pic *p = o;
    chip_write(p, &p->c[1], (int)(a & 1), (uint8_t)v);
}
static uint64_t elcr_read(void *o, uint64_t a, int size)
{
    struct pic *p = o;
    uint64_t v = p->c[a & 1].elcr;
    if (size >= 2 && !(a & 1))
        v |= (uint64_t)p->c[1].elcr << 8;
    return v;
}
static void elcr_write(void *o, uint64_t a, int size, uint64_t v)
{
    struct pic *p = o;
    for (int i = 0; i < size && (a & 1) + i < 2; i++) {
        struct pic8259 *s = &p->c[(a & 1) + i];
        s->elcr = (uint8_t)(v >> (8 * i)) & s->elcr_mask;
    }
}

const struct io_ops pic_master_ops = {master_read, master_write};
const struct io_ops pic_slave_ops = {slave_read, slave_write};
const struct io_ops pic_elcr_ops = {elcr_read, elcr_write};
