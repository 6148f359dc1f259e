/* The MC146818 real-time clock and CMOS RAM at ports 0x70/0x71 (Motorola
 * MC146818A datasheet; the PC's use of it: bit 7 of port 0x70 is the NMI
 * mask, century at CMOS 0x32, memory sizes where BIOSes leave them). The
 * time is a start date plus the virtual clock, so two runs read the same
 * time; periodic, alarm and update-ended interrupts go to ISA IRQ 8. */
#ifndef NVMX_DEV_RTC_H
#define NVMX_DEV_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "iobus.h"
#include "vclock.h"

struct rtc {
    const struct vclock *clk;
    uint8_t cmos[128];
    uint8_t index;
    bool nmi_masked;      /* port 0x70 bit 7 */
    int64_t base;         /* time (seconds since 1970) at virtual time 0 */
    int64_t frozen;       /* the time while register B's SET bit holds it */
    uint8_t reg_c;        /* interrupt flags, cleared by reading C */
    uint64_t last_c_ns;   /* when C was last read (PF without PIE) */
    uint64_t next_pf_ns;  /* next periodic tick, UINT64_MAX if off */
    uint64_t next_upd_ns; /* next update cycle end (1 s boundary) */
    void (*irq)(void *opaque, int level);
    void *irq_opaque;
};

/* start: seconds since 1970-01-01 00:00:00 UTC at power-on. Memory sizes
 * go to the CMOS bytes BIOSes and bootloaders read. */
void rtc_init(struct rtc *r, const struct vclock *clk, int64_t start, uint64_t ram_below_4g,
              uint64_t ram_above_4g, void (*irq)(void *, int), void *opaque);
void rtc_advance(struct rtc *r);
uint64_t rtc_deadline(const struct rtc *r);
/* days since 1970-01-01 of a civil date, for the option parser and tests */
int64_t rtc_days_from_civil(int64_t y, unsigned m, unsigned d);

extern const struct io_ops rtc_ops; /* 0x70-0x71 */

#endif
