/* QEMU fw_cfg, I/O-port interface: selector at 0x510 (16-bit), data at 0x511. */
#ifndef NVMX_DEV_FWCFG_H
#define NVMX_DEV_FWCFG_H

#include <stddef.h>
#include <stdint.h>

#include "iobus.h"

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_MAX_ITEMS 0x20

struct fw_cfg_item {
    uint8_t *data;
    uint32_t len;
};

struct fw_cfg {
    uint16_t selector;
    uint32_t offset;
    struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
};

struct fw_cfg *fwcfg_create(uint64_t ram_size, int nr_cpus, const char *cmdline);
void fwcfg_destroy(struct fw_cfg *f);
extern const struct io_ops fwcfg_ops;

#endif
