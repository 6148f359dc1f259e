/* Minimal unit-test harness. Each check prints one line "PASS: name" or
 * "FAIL: name (file:line: expr)"; tests/run-tests.sh tallies the lines of
 * every test program. A unit test program exits 0 when nothing failed. */
#ifndef NVMX_TESTS_UNIT_H
#define NVMX_TESTS_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static int unit_failures;
static const char *unit_current = "?";

#define UNIT_TEST(name) static void name(void)
#define UNIT_RUN(name)                                                                             \
    do {                                                                                           \
        int before_ = unit_failures;                                                               \
        unit_current = #name;                                                                      \
        name();                                                                                    \
        if (unit_failures == before_)                                                              \
            printf("PASS: %s\n", #name);                                                           \
    } while (0)

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            printf("FAIL: %s (%s:%d: %s)\n", unit_current, __FILE__, __LINE__, #expr);             \
            unit_failures++;                                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                           \
        if (a_ != b_) {                                                                            \
            printf("FAIL: %s (%s:%d: %s == %s: 0x%" PRIx64 " != 0x%" PRIx64 ")\n", unit_current,   \
                   __FILE__, __LINE__, #a, #b, a_, b_);                                            \
            unit_failures++;                                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define UNIT_DONE() return unit_failures ? 1 : 0

#endif
