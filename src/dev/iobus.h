/* Port-I/O and MMIO dispatch for devices. L0 routes I/O-instruction and
 * EPT-violation exits here; the CPU never calls devices. */
#ifndef NVMX_DEV_IOBUS_H
#define NVMX_DEV_IOBUS_H

#include <stdint.h>

struct io_ops {
    /* size is 1, 2 or 4 (8 for MMIO). Unclaimed reads return all ones. */
    uint64_t (*read)(void *opaque, uint64_t addr, int size);
    void (*write)(void *opaque, uint64_t addr, int size, uint64_t val);
};

struct io_range {
    uint64_t base, len;
    const struct io_ops *ops;
    void *opaque;
    const char *name;
};

#define IOBUS_MAX_RANGES 64

struct io_bus {
    struct io_range r[IOBUS_MAX_RANGES];
    int n;
};

/* Returns 0, or -1 if the range overlaps another or the bus is full. */
int iobus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
                   void *opaque, const char *name);
/* The address passed to ops is relative to the range base. */
uint64_t iobus_read(struct io_bus *bus, uint64_t addr, int size);
void iobus_write(struct io_bus *bus, uint64_t addr, int size, uint64_t val);

#endif
