/* QEMU fw_cfg (docs/specs/fw_cfg.rst in QEMU): items selected by a 16-bit
 * key, read byte by byte; reads past the end return 0. */
#include "fwcfg.h"

#include <stdlib.h>
#include <string.h>

static int fwcfg_set(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    f->items[key].data = copy;
    f->items[key].len = len;
    return 0;
}

static int fwcfg_set_u(struct fw_cfg *f, uint16_t key, uint64_t v, uint32_t len)
{
    uint8_t b[8];
    for (uint32_t i = 0; i < len; i++)
        b[i] = (uint8_t)(v >> (8 * i)); /* little-endian, as QEMU */
    return fwcfg_set(f, key, b, len);
}

struct fw_cfg *fwcfg_create(uint64_t ram_size, int nr_cpus, const char *cmdline)
{
    struct fw_cfg *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    const char *cl = cmdline ? cmdline : "";
    uint32_t zero = 0;
    int bad = fwcfg_set(f, FW_CFG_SIGNATURE, "QEMU", 4);
    bad |= fwcfg_set_u(f, FW_CFG_ID, 1, 4); /* traditional interface only, no DMA */
    bad |= fwcfg_set_u(f, FW_CFG_RAM_SIZE, ram_size, 8);
    bad |= fwcfg_set_u(f, FW_CFG_NB_CPUS, (uint64_t)nr_cpus, 2);
    bad |= fwcfg_set_u(f, FW_CFG_MAX_CPUS, (uint64_t)nr_cpus, 2);
    bad |= fwcfg_set_u(f, FW_CFG_CMDLINE_SIZE, strlen(cl) + 1, 4);
    bad |= fwcfg_set(f, FW_CFG_CMDLINE_DATA, cl, (uint32_t)strlen(cl) + 1);
    bad |= fwcfg_set(f, FW_CFG_FILE_DIR, &zero, 4); /* a directory with no files */
    if (bad) {
        fwcfg_destroy(f);
        return NULL;
    }
    return f;
}

void fwcfg_destroy(struct fw_cfg *f)
{
    if (!f)
        return;
    for (int i = 0; i < FW_CFG_MAX_ITEMS; i++)
        free(f->items[i].data);
    free(f);
}

static uint64_t fwcfg_read(void *opaque, uint64_t off, int size)
{
    struct fw_cfg *f = opaque;
    if (off != 1)
        return 0;
    uint16_t key = f->selector & 0x3fff;
    uint64_t v = 0;
    for (int i = 0; i < size; i++) {
        uint8_t b = 0;
        if (key < FW_CFG_MAX_ITEMS && f->offset < f->items[key].len)
            b = f->items[key].data[f->offset];
        f->offset++;
        v |= (uint64_t)b << (8 * i);
    }
    return v;
}

static void fwcfg_write(void *opaque, uint64_t off, int size, uint64_t val)
{
    struct fw_cfg *f = opaque;
    if (off == 0) {
        f->selector = (uint16_t)val;
        f->offset = 0;
    }
}

const struct io_ops fwcfg_ops = {fwcfg_read, fwcfg_write};
