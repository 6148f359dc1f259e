/* isa-debug-exit: the machine polls `requested` after each I/O exit. */
#ifndef NVMX_DEV_DEBUG_EXIT_H
#define NVMX_DEV_DEBUG_EXIT_H

#include <stdbool.h>

#include "iobus.h"

struct debug_exit {
    bool requested;
    int status; /* (value << 1) | 1, as QEMU (the process status keeps 8 bits) */
};

extern const struct io_ops debug_exit_ops;

#endif
