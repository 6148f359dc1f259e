/* Image surgery for the snapshot unit tests (test_snapshot.c,
 * test_platsnap.c): a machine image in memory, its sections found by tag
 * and instance, the END checksum recomputed after a mutation, and the
 * round trip through a file that snapshot_save_file/snapshot_load_file
 * need (format: src/migrate/snapshot.h). */
#ifndef NVMX_TESTS_IMAGE_SURGERY_H
#define NVMX_TESTS_IMAGE_SURGERY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate/snapshot.h"
#include "migrate/stream.h"

struct image {
    uint8_t *p;
    size_t len;
};

static inline uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Offset of the section header with this tag (and instance), or 0. */
static inline size_t find_section(const struct image *im, const char *tag, uint32_t inst)
{
    size_t off = 16;
    while (off + 12 <= im->len) {
        uint32_t len = (uint32_t)le(im->p + off + 8, 4);
        if (!memcmp(im->p + off, tag, 4) && le(im->p + off + 4, 4) == inst)
            return off;
        off += 12 + len;
    }
    return 0;
}

static inline void fix_checksum(struct image *im)
{
    size_t end = find_section(im, "END ", 0);
    uint64_t h = mig_fnv(MIG_FNV_INIT, im->p, end + 12);
    for (int i = 0; i < 8; i++)
        im->p[end + 12 + i] = (uint8_t)(h >> (8 * i));
}

static inline int load_image(struct machine *m, const struct image *im, char *err, size_t n)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/nvmx-unit-img-%d.img", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return -2;
    fwrite(im->p, 1, im->len, f);
    fclose(f);
    int rc = snapshot_load_file(m, path, err, n);
    unlink(path);
    return rc;
}

static inline struct image good_image(struct machine *m)
{
    struct image im = {0};
    char path[64], err[256];
    snprintf(path, sizeof(path), "/tmp/nvmx-unit-good-%d.img", (int)getpid());
    if (snapshot_save_file(m, path, err, sizeof(err)))
        return im;
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    im.len = (size_t)ftell(f);
    rewind(f);
    im.p = malloc(im.len + 4096);
    if (fread(im.p, 1, im.len, f) != im.len)
        im.len = 0;
    fclose(f);
    unlink(path);
    return im;
}

#endif
