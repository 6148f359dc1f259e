#include "iobus.h"

#include <stddef.h>

int iobus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
                   void *opaque, const char *name)
{
    if (bus->n >= IOBUS_MAX_RANGES || len == 0)
        return -1;
    for (int i = 0; i < bus->n; i++) {
        const struct io_range *o = &bus->r[i];
        if (base < o->base + o->len && o->base < base + len)
            return -1;
    }
    bus->r[bus->n++] = (struct io_range){base, len, ops, opaque, name};
    return 0;
}

static const struct io_range *iobus_find(const struct io_bus *bus, uint64_t addr)
{
    for (int i = 0; i < bus->n; i++)
        if (addr - bus->r[i].base < bus->r[i].len)
            return &bus->r[i];
    return NULL;
}

uint64_t iobus_read(struct io_bus *bus, uint64_t addr, int size)
{
    const struct io_range *r = iobus_find(bus, addr);
    if (!r || !r->ops->read)
        return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
    return r->ops->read(r->opaque, addr - r->base, size);
}

void iobus_write(struct io_bus *bus, uint64_t addr, int size, uint64_t val)
{
    const struct io_range *r = iobus_find(bus, addr);
    if (r && r->ops->write)
        r->ops->write(r->opaque, addr - r->base, size, val);
}
