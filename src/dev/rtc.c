/* MC146818 RTC (see rtc.h). Register numbers and bits follow the
 * MC146818A datasheet: 0-9 time and alarm, A (UIP, divider, rate select),
 * B (SET, PIE, AIE, UIE, SQWE, DM, 24/12, DSE), C (IRQF, PF, AF, UF), D
 * (VRT). */
#include "rtc.h"

#include <string.h>

#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define A_UIP 0x80
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM 0x04 /* binary (1) or BCD (0) */
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10
#define CMOS_CENTURY 0x32

/* UIP is set this long before each update (datasheet: 244 us) */
#define UIP_NS 244000ull

int64_t rtc_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* H. Hinnant's days_from_civil */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

struct fields {
    int sec, min, hour, wday, mday, mon, year; /* year: full, e.g. 2026 */
};

static void civil_from_days(int64_t z, struct fields *f)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    f->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    f->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
    f->year = (int)(y + (f->mon <= 2));
}

static void to_fields(int64_t t, struct fields *f)
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t s = t - days * 86400;
    civil_from_days(days, f);
    f->hour = (int)(s / 3600);
    f->min = (int)(s / 60 % 60);
    f->sec = (int)(s % 60);
    f->wday = (int)(((days % 7) + 11) % 7) + 1; /* 1 = Sunday; 1970-01-01 was a Thursday */
}

static int64_t from_fields(const struct fields *f)
{
    return rtc_days_from_civil(f->year, (unsigned)f->mon, (unsigned)f->mday) * 86400 +
           f->hour * 3600 + f->min * 60 + f->sec;
}

static bool binary(const struct rtc *r)
{
    return r->cmos[REG_B] & B_DM;
}

static uint8_t enc(const struct rtc *r, int v)
{
    return binary(r) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int dec(const struct rtc *r, uint8_t v)
{
    return binary(r) ? v : (v >> 4) * 10 + (v & 15);
}

static uint8_t enc_hour(const struct rtc *r, int h)
{
    if (r->cmos[REG_B] & B_24H)
        return enc(r, h);
    int h12 = h % 12 == 0 ? 12 : h % 12;
    return (uint8_t)(enc(r, h12) | (h >= 12 ? 0x80 : 0));
}

static int dec_hour(const struct rtc *r, uint8_t v)
{
    if (r->cmos[REG_B] & B_24H)
        return dec(r, v);
    int h = dec(r, v & 0x7f) % 12;
    return (v & 0x80) ? h + 12 : h;
}

static int64_t now_time(const struct rtc *r)
{
    if (r->cmos[REG_B] & B_SET)
        return r->frozen;
    return r->base + (int64_t)(r->clk->ns / VCLOCK_NS_PER_SEC);
}

/* Periodic rate (register A bits 3:0) with the 32.768 kHz time base:
 * rates 1 and 2 repeat rates 8 and 9 (datasheet Table 5). */
static uint64_t periodic_ns(const struct rtc *r)
{
    unsigned rate = r->cmos[REG_A] & 15;
    if (!rate || ((r->cmos[REG_A] >> 4) & 7) != 2)
        return 0;
    if (rate < 3)
        rate += 7;
    return VCLOCK_NS_PER_SEC * (1ull << (rate - 1)) / 32768;
}

static void update_irq(struct rtc *r)
{
    uint8_t en = r->cmos[REG_B] & (B_PIE | B_AIE | B_UIE);
    bool irqf = (r->reg_c & (C_PF | C_AF | C_UF)) & en; /* flag bits line up with enables */
    if (irqf && !(r->reg_c & C_IRQF)) {
        r->reg_c |= C_IRQF;
        r->irq(r->irq_opaque, 1); /* IRQ# asserted until C is read */
    }
}

static void schedule(struct rtc *r)
{
    uint64_t now = r->clk->ns, p = periodic_ns(r);
    r->next_pf_ns = (p && (r->cmos[REG_B] & B_PIE)) ? (now / p + 1) * p : UINT64_MAX;
    r->next_upd_ns = (!(r->cmos[REG_B] & B_SET) && (r->cmos[REG_B] & (B_UIE | B_AIE)))
                         ? (now / VCLOCK_NS_PER_SEC + 1) * VCLOCK_NS_PER_SEC
                         : UINT64_MAX;
}

static bool alarm_matches(const struct rtc *r, const struct fields *f)
{
    /* 0xc0-0xff in an alarm byte is "don't care" */
    uint8_t s = r->cmos[1], m = r->cmos[3], h = r->cmos[5];
    return ((s & 0xc0) == 0xc0 || dec(r, s) == f->sec) &&
           ((m & 0xc0) == 0xc0 || dec(r, m) == f->min) &&
           ((h & 0xc0) == 0xc0 || dec_hour(r, h) == f->hour);
}

void rtc_advance(struct rtc *r)
{
    uint64_t now = r->clk->ns;
    if (r->next_pf_ns <= now)
        r->reg_c |= C_PF;
    if (r->next_upd_ns <= now) {
        struct fields f;
        to_fields(now_time(r), &f);
        r->reg_c |= C_UF;
        if (alarm_matches(r, &f))
            r->reg_c |= C_AF;
    }
    if (r->next_pf_ns <= now || r->next_upd_ns <= now) {
        update_irq(r);
        schedule(r);
    }
}

uint64_t rtc_deadline(const struct rtc *r)
{
    return r->next_pf_ns < r->next_upd_ns ? r->next_pf_ns : r->next_upd_ns;
}

static uint8_t read_time_reg(struct rtc *r, int idx)
{
    struct fields f;
    to_fields(now_time(r), &f);
    switch (idx) {
    case 0:
        return enc(r, f.sec);
    case 2:
        return enc(r, f.min);
    case 4:
        return enc_hour(r, f.hour);
    case 6:
        return enc(r, f.wday);
    case 7:
        return enc(r, f.mday);
    case 8:
        return enc(r, f.mon);
    case 9:
        return enc(r, f.year % 100);
    default: /* CMOS_CENTURY */
        return enc(r, f.year / 100);
    }
}

static void write_time_reg(struct rtc *r, int idx, uint8_t v)
{
    struct fields f;
    to_fields(now_time(r), &f);
    switch (idx) {
    case 0:
        f.sec = dec(r, v) % 60;
        break;
    case 2:
        f.min = dec(r, v) % 60;
        break;
    case 4:
        f.hour = dec_hour(r, v) % 24;
        break;
    case 6:
        return; /* the day of week is derived from the date here */
    case 7:
        f.mday = dec(r, v) < 1 ? 1 : dec(r, v) > 31 ? 31 : dec(r, v);
        break;
    case 8:
        f.mon = dec(r, v) < 1 ? 1 : dec(r, v) > 12 ? 12 : dec(r, v);
        break;
    case 9:
        f.year = f.year / 100 * 100 + dec(r, v) % 100;
        break;
    default: /* century */
        f.year = dec(r, v) % 100 * 100 + f.year % 100;
        break;
    }
    int64_t t = from_fields(&f);
    if (r->cmos[REG_B] & B_SET)
        r->frozen = t;
    else
        r->base = t - (int64_t)(r->clk->ns / VCLOCK_NS_PER_SEC);
}

static bool is_time_reg(int idx)
{
    return idx == 0 || idx == 2 || (idx >= 4 && idx <= 9) || idx == CMOS_CENTURY;
}

static uint64_t rtc_read(void *opaque, uint64_t addr, int size)
{
    struct rtc *r = opaque;
    if (addr == 0)
        return 0xff; /* the index register is write-only */
    int idx = r->index;
    if (is_time_reg(idx))
        return read_time_reg(r, idx);
    switch (idx) {
    case REG_A: {
        /* UIP: the last 244 us before each second's update */
        uint64_t in_sec = r->clk->ns % VCLOCK_NS_PER_SEC;
        bool uip = !(r->cmos[REG_B] & B_SET) && in_sec >= VCLOCK_NS_PER_SEC - UIP_NS;
        return (r->cmos[REG_A] & 0x7f) | (uip ? A_UIP : 0);
    }
    case REG_C: {
        rtc_advance(r);
        /* PF is set at every periodic tick even with PIE clear */
        uint64_t p = periodic_ns(r);
        if (p && r->clk->ns / p > r->last_c_ns / p)
            r->reg_c |= C_PF;
        r->last_c_ns = r->clk->ns;
        uint8_t v = r->reg_c;
        r->reg_c = 0;
        if (v & C_IRQF)
            r->irq(r->irq_opaque, 0);
        return v;
    }
    case REG_D:
        return 0x80; /* valid RAM and time */
    default:
        return r->cmos[idx];
    }
}

static void rtc_write(void *opaque, uint64_t addr, int size, uint64_t val)
{
    struct rtc *r = opaque;
    uint8_t v = (uint8_t)val;
    if (addr == 0) {
        r->index = v & 0x7f;
        r->nmi_masked = v & 0x80;
        return;
    }
    int idx = r->index;
    if (is_time_reg(idx)) {
        write_time_reg(r, idx, v);
        return;
    }
    switch (idx) {
    case REG_A:
        r->cmos[REG_A] = v & 0x7f; /* UIP is read-only */
        break;
    case REG_B:
        if ((v & B_SET) && !(r->cmos[REG_B] & B_SET))
            r->frozen = now_time(r); /* updates stop; the time holds */
        else if (!(v & B_SET) && (r->cmos[REG_B] & B_SET))
            r->base = r->frozen - (int64_t)(r->clk->ns / VCLOCK_NS_PER_SEC);
        if (v & B_SET)
            v &= (uint8_t)~B_UIE; /* SET clears UIE (datasheet) */
        r->cmos[REG_B] = v;
        update_irq(r);
        break;
    case REG_C:
    case REG_D:
        break; /* read-only */
    default:
        r->cmos[idx] = v;
        break;
    }
    schedule(r);
}

void rtc_init(struct rtc *r, const struct vclock *clk, int64_t start, uint64_t ram_below_4g,
              uint64_t ram_above_4g, void (*irq)(void *, int), void *opaque)
{
    memset(r, 0, sizeof(*r));
    r->clk = clk;
    r->irq = irq;
    r->irq_opaque = opaque;
    r->base = start;
    r->cmos[REG_A] = 0x26; /* 32.768 kHz divider, 1024 Hz periodic rate */
    r->cmos[REG_B] = B_24H;
    r->cmos[1] = r->cmos[3] = r->cmos[5] = 0;
    /* memory sizes as a PC BIOS records them: base memory (KiB), extended
     * memory above 1 MiB (KiB, at most 0xffff), above 16 MiB in 64 KiB
     * units, above 4 GiB in 64 KiB units (24 bits) */
    r->cmos[0x15] = 0x80, r->cmos[0x16] = 0x02; /* 640 KiB */
    uint64_t ext = ram_below_4g > 0x100000 ? (ram_below_4g - 0x100000) / 1024 : 0;
    if (ext > 0xffff)
        ext = 0xffff;
    r->cmos[0x17] = r->cmos[0x30] = (uint8_t)ext;
    r->cmos[0x18] = r->cmos[0x31] = (uint8_t)(ext >> 8);
    uint64_t above16 = ram_below_4g > 0x1000000 ? (ram_below_4g - 0x1000000) >> 16 : 0;
    if (above16 > 0xffff)
        above16 = 0xffff;
    r->cmos[0x34] = (uint8_t)above16;
    r->cmos[0x35] = (uint8_t)(above16 >> 8);
    uint64_t high = ram_above_4g >> 16;
    r->cmos[0x5b] = (uint8_t)high;
    r->cmos[0x5c] = (uint8_t)(high >> 8);
    r->cmos[0x5d] = (uint8_t)(high >> 16);
    r->next_pf_ns = r->next_upd_ns = UINT64_MAX;
}

const struct io_ops rtc_ops = {rtc_read, rtc_write};
