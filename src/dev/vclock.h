/* The virtual clock devices read their time from. L0 derives it from
 * retired instructions (BRIEF decision 6): nanoseconds of virtual time at the
 * nominal 1 GHz of the TSC, so devices never see the host clock. Helpers
 * convert between nanoseconds and the ticks of a device's own oscillator
 * without accumulating rounding error (always from absolute values). */
#ifndef NVMX_DEV_VCLOCK_H
#define NVMX_DEV_VCLOCK_H

#include <stdint.h>

#define VCLOCK_NS_PER_SEC 1000000000ull

struct vclock {
    uint64_t ns; /* virtual nanoseconds since power-on */
};

/* Whole ticks of an oscillator of `hz` elapsed in `ns` nanoseconds. */
static inline uint64_t vclock_ticks(uint64_t ns, uint64_t hz)
{
    return (uint64_t)(((unsigned __int128)ns * hz) / VCLOCK_NS_PER_SEC);
}

/* The first nanosecond at which `ticks` ticks of an `hz` oscillator have
 * elapsed (the inverse of vclock_ticks, rounded up). */
static inline uint64_t vclock_ns(uint64_t ticks, uint64_t hz)
{
    unsigned __int128 n = (unsigned __int128)ticks * VCLOCK_NS_PER_SEC + hz - 1;
    n /= hz;
    return n > UINT64_MAX ? UINT64_MAX : (uint64_t)n;
}

#endif
