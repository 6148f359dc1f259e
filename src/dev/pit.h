/* The 8254 programmable interval timer (ports 0x40-0x43) and port 0x61
 * (PC/AT system control port B: channel 2 gate, speaker data, OUT2 status,
 * refresh toggle), as used by OS timer calibration. Channel 0's OUT drives
 * ISA IRQ 0. Counting is derived from the virtual clock at 1.193182 MHz
 * (Intel 82C54 datasheet). */
#ifndef NVMX_DEV_PIT_H
#define NVMX_DEV_PIT_H

#include <stdbool.h>
#include <stdint.h>

#include "iobus.h"
#include "vclock.h"

#define PIT_HZ 1193182ull

struct pit_channel {
    uint32_t count;   /* reload value, 1..65536 */
    uint64_t load_ns; /* when counting started (count loaded / gate edge) */
    bool counting;    /* a count has been written (or not yet, after a mode set) */
    uint8_t mode, rw_mode, bcd;
    uint8_t read_state, write_state; /* lo/hi byte toggles */
    uint8_t write_lsb;
    uint16_t latched_count;
    uint8_t count_latched; /* 0, or the rw_mode of the pending latched read */
    uint8_t status, status_latched;
    bool gate;
    bool null_count;
    uint64_t next_irq_ns; /* channel 0: next rising edge of OUT, or UINT64_MAX */
};

struct pit {
    const struct vclock *clk;
    struct pit_channel ch[3];
    bool speaker;                         /* port 0x61 bit 1 */
    void (*irq)(void *opaque, int level); /* channel 0 OUT -> IRQ 0 */
    void *irq_opaque;
};

void pit_init(struct pit *p, const struct vclock *clk, void (*irq)(void *, int), void *opaque);
/* Raises IRQ 0 for every channel-0 edge due by now (coalesced, as the
 * edge-triggered input would). */
void pit_advance(struct pit *p);
/* Virtual time of the next channel-0 interrupt, UINT64_MAX if none. */
uint64_t pit_deadline(const struct pit *p);
/* The counter value and OUT pin of a channel now (for tests). */
uint16_t pit_get_count(const struct pit *p, int ch);
bool pit_get_out(const struct pit *p, int ch);

extern const struct io_ops pit_ops;    /* 0x40-0x43 */
extern const struct io_ops port61_ops; /* 0x61 */

#endif
