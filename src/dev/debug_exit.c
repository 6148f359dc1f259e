/* QEMU's isa-debug-exit device: a write of V ends the run with exit status
 * (V << 1) | 1, so that a guest can report success or failure. */
#include "debug_exit.h"

#include <stddef.h>

static void debug_exit_write(void *opaque, uint64_t off, int size, uint64_t val)
{
    struct debug_exit *d = opaque;
    d->requested = true;
    d->status = (int)(((val & 0x7f) << 1) | 1);
}

const struct io_ops debug_exit_ops = {NULL, debug_exit_write};
