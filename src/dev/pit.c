/* 8254 PIT (see pit.h). A channel's state is a function of the virtual
 * time elapsed since its count was loaded: counter value, OUT level and
 * the next OUT rising edge are computed, never ticked (82C54 datasheet,
 * "Mode definitions"). Modes 1 and 5 start on a rising gate edge; modes 2
 * and 3 restart on one; modes 0 and 4 count whatever the gate (the
 * channel-2 calibration sequences of Linux and BIOSes only raise the gate
 * before loading the count). */
#include "pit.h"

#include <string.h>

static uint64_t elapsed_ticks(const struct pit *p, const struct pit_channel *c)
{
    uint64_t now = p->clk->ns;
    if (now < c->load_ns)
        return 0;
    /* ticks from absolute times, so no rounding error accumulates */
    return vclock_ticks(now, PIT_HZ) - vclock_ticks(c->load_ns, PIT_HZ);
}

static bool channel_running(const struct pit_channel *c, int idx)
{
    if (!c->counting)
        return false;
    /* modes 1 and 5 wait for a gate trigger; modes 2/3 stop with gate low */
    if ((c->mode == 2 || c->mode == 3) && !c->gate)
        return false;
    return true;
}

uint16_t pit_get_count(const struct pit *p, int idx)
{
    const struct pit_channel *c = &p->ch[idx];
    if (!c->counting)
        return (uint16_t)c->count;
    uint64_t d = elapsed_ticks(p, c);
    switch (c->mode) {
    case 2:
        return (uint16_t)(c->count - d % c->count);
    case 3:
        /* square wave: decrements by two, reloading each half period */
        return (uint16_t)(c->count - (2 * d) % c->count);
    default:
        return (uint16_t)(c->count - d);
    }
}

bool pit_get_out(const struct pit *p, int idx)
{
    const struct pit_channel *c = &p->ch[idx];
    if (!c->counting)
        return c->mode != 0; /* mode 0: OUT low after the control word */
    uint64_t d = elapsed_ticks(p, c);
    switch (c->mode) {
    case 0: /* interrupt on terminal count: high once count reaches 0 */
        return d >= c->count;
    case 1: /* one-shot: low while counting */
        return d >= c->count;
    case 2: /* rate generator: low for one clock when the count reaches 1 */
        return (d % c->count) != c->count - 1;
    case 3: /* square wave: high for the first half (rounded up) */
        return (d % c->count) < (c->count + 1) / 2;
    default: /* 4, 5: strobe: low for one clock at terminal count */
        return d != c->count;
    }
}

/* Ticks after load_ns of the first OUT rising edge strictly after tick d,
 * or UINT64_MAX. */
static uint64_t next_edge_tick(const struct pit_channel *c, uint64_t d)
{
    switch (c->mode) {
    case 0:
    case 1:
        return d < c->count ? c->count : UINT64_MAX;
    case 2: /* OUT returns high at each reload */
        return (d / c->count + 1) * c->count;
    case 3: /* rising edge at the start of every period */
        return (d / c->count + 1) * c->count;
    default: /* 4, 5: the strobe ends one clock after terminal count */
        return d < c->count + 1 ? c->count + 1 : UINT64_MAX;
    }
}

static uint64_t edge_ns(const struct pit_channel *c, uint64_t tick)
{
    if (tick == UINT64_MAX)
        return UINT64_MAX;
    uint64_t base = vclock_ticks(c->load_ns, PIT_HZ);
    return vclock_ns(base + tick, PIT_HZ);
}

static void recompute_irq(struct pit *p)
{
    struct pit_channel *c = &p->ch[0];
    if (!channel_running(c, 0)) {
        c->next_irq_ns = UINT64_MAX;
        return;
    }
    c->next_irq_ns = edge_ns(c, next_edge_tick(c, elapsed_ticks(p, c)));
}

void pit_advance(struct pit *p)
{
    struct pit_channel *c = &p->ch[0];
    if (c->next_irq_ns > p->clk->ns)
        return;
    /* a pulse: the edge-triggered PIC/IO APIC input latches it */
    p->irq(p->irq_opaque, 1);
    p->irq(p->irq_opaque, 0);
    recompute_irq(p);
}

uint64_t pit_deadline(const struct pit *p)
{
    return p->ch[0].next_irq_ns;
}

void pit_init(struct pit *p, const struct vclock *clk, void (*irq)(void *, int), void *opaque)
{
    memset(p, 0, sizeof(*p));
    p->clk = clk;
    p->irq = irq;
    p->irq_opaque = opaque;
    for (int i = 0; i < 3; i++) {
        p->ch[i].count = 0x10000;
        p->ch[i].gate = i != 2; /* channels 0 and 1 are gated high on the PC */
        p->ch[i].next_irq_ns = UINT64_MAX;
    }
}

static void load_count(struct pit *p, int idx, uint32_t val)
{
    struct pit_channel *c = &p->ch[idx];
    if (val == 0)
        val = 0x10000;
    /* mode 2/3 with count 1 would divide by zero in the datasheet's
     * terms (count 1 is illegal there): treat as 2 */
    if ((c->mode == 2 || c->mode == 3) && val == 1)
        val = 2;
    c->count = val;
    c->load_ns = p->clk->ns;
    c->null_count = false;
    /* modes 1 and 5 arm and wait for a gate rising edge */
    c->counting = !(c->mode == 1 || c->mode == 5);
    if (idx == 0)
        recompute_irq(p);
}

static void latch_count(struct pit *p, int idx)
{
    struct pit_channel *c = &p->ch[idx];
    if (c->count_latched)
        return; /* a latched value is held until read */
    c->latched_count = pit_get_count(p, idx);
    c->count_latched = c->rw_mode;
}

static void pit_write(void *opaque, uint64_t addr, int size, uint64_t v)
{
    struct pit *p = opaque;
    uint8_t val = (uint8_t)v;
    if (addr == 3) {
        int idx = val >> 6;
        if (idx == 3) {
            /* read-back command: bit 5 clear latches counts, bit 4 clear
             * latches status, bits 3:1 select channels */
            for (int i = 0; i < 3; i++) {
                if (!(val & (2 << i)))
                    continue;
                struct pit_channel *c = &p->ch[i];
                if (!(val & 0x20))
                    latch_count(p, i);
                if (!(val & 0x10) && !c->status_latched) {
                    c->status =
                        (uint8_t)((pit_get_out(p, i) ? 0x80 : 0) | (c->null_count ? 0x40 : 0) |
                                  (c->rw_mode << 4) | (c->mode << 1) | c->bcd);
                    c->status_latched = 1;
                }
            }
            return;
        }
        struct pit_channel *c = &p->ch[idx];
        int access = (val >> 4) & 3;
        if (access == 0) {
            latch_count(p, idx); /* counter latch command */
            return;
        }
        c->rw_mode = (uint8_t)access;
        c->read_state = c->write_state = (uint8_t)access;
        c->mode = (val >> 1) & 7;
        if (c->mode > 5)
            c->mode -= 4; /* 6 and 7 alias 2 and 3 */
        c->bcd = val & 1;
        /* a control word stops the channel until a count is written */
        c->counting = false;
        c->null_count = true;
        if (idx == 0)
            recompute_irq(p);
        return;
    }
    if (addr > 2)
        return;
    int idx = (int)addr;
    struct pit_channel *c = &p->ch[idx];
    switch (c->write_state) {
    case 1: /* LSB only */
        load_count(p, idx, val);
        break;
    case 2: /* MSB only */
        load_count(p, idx, (uint32_t)val << 8);
        break;
    case 3: /* LSB then MSB: the count loads after the MSB */
        c->write_lsb = val;
        c->write_state = 4;
        break;
    case 4:
        load_count(p, idx, c->write_lsb | ((uint32_t)val << 8));
        c->write_state = 3;
        break;
    default: /* no control word written yet */
        break;
    }
}

static uint64_t pit_read(void *opaque, uint64_t addr, int size)
{
    struct pit *p = opaque;
    if (addr > 2)
        return 0xff; /* the control word register is write-only */
    int idx = (int)addr;
    struct pit_channel *c = &p->ch[idx];
    if (c->status_latched) {
        c->status_latched = 0;
        return c->status;
    }
    if (c->count_latched) {
        uint8_t r;
        switch (c->count_latched) {
        case 1:
            r = (uint8_t)c->latched_count;
            c->count_latched = 0;
            break;
        case 2:
            r = (uint8_t)(c->latched_count >> 8);
            c->count_latched = 0;
            break;
        case 3: /* LSB, then MSB */
            r = (uint8_t)c->latched_count;
            c->count_latched = 4;
            break;
        default:
            r = (uint8_t)(c->latched_count >> 8);
            c->count_latched = 0;
            break;
        }
        return r;
    }
    uint16_t cnt = pit_get_count(p, idx);
    switch (c->read_state) {
    case 1:
        return cnt & 0xff;
    case 2:
        return cnt >> 8;
    case 3:
        c->read_state = 4;
        return cnt & 0xff;
    case 4:
        c->read_state = 3;
        return cnt >> 8;
    default:
        return 0xff;
    }
}

/* Port 0x61 (PC/AT port B): bit 0 timer-2 gate, bit 1 speaker data, bit 4
 * refresh request (toggles every 15.085 us), bit 5 OUT2. */
static uint64_t port61_read(void *opaque, uint64_t addr, int size)
{
    struct pit *p = opaque;
    uint64_t refresh = (p->clk->ns / 15085) & 1;
    return (p->ch[2].gate ? 1 : 0) | (p->speaker ? 2 : 0) | (refresh << 4) |
           (pit_get_out(p, 2) ? 0x20 : 0);
}

static void port61_write(void *opaque, uint64_t addr, int size, uint64_t v)
{
    struct pit *p = opaque;
    struct pit_channel *c = &p->ch[2];
    bool gate = v & 1;
    p->speaker = (v >> 1) & 1;
    if (gate && !c->gate && c->count && !c->null_count &&
        (c->mode == 1 || c->mode == 5 || c->mode == 2 || c->mode == 3)) {
        /* rising gate edge: (re)trigger */
        c->load_ns = p->clk->ns;
        c->counting = true;
    }
    c->gate = gate;
}

const struct io_ops pit_ops = {pit_read, pit_write};
const struct io_ops port61_ops = {port61_read, port61_write};
