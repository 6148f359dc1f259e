/* Byte streams of machine images (snapshot files, migration sockets).
 *
 * All integers are little-endian and written field by field, never as
 * host structures, so that an image does not depend on the host's
 * structure layout. A running FNV-1a checksum covers every byte written or
 * read, so that the END section can verify the whole stream. Section
 * payloads are built in memory (struct mbuf) and decoded from memory
 * (struct rbuf) with bounds checks: a short or over-long payload is an
 * error, never an out-of-bounds access. */
#ifndef NVMX_MIGRATE_STREAM_H
#define NVMX_MIGRATE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_FNV_INIT 0xcbf29ce484222325ull

uint64_t mig_fnv(uint64_t h, const void *p, size_t n);

/* A growable in-memory buffer (a section payload being built). */
struct mbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};
void mbuf_put(struct mbuf *b, const void *p, size_t n);
void mbuf_free(struct mbuf *b);

/* A payload being decoded. `bad` is set by the first short read. */
struct rbuf {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
};
void rbuf_get(struct rbuf *r, void *p, size_t n);

/* The field visitor: one function per structure describes its saved
 * fields once, and serves both for saving (w) and loading (r). Loading a
 * bool accepts only 0 and 1 (else `r->bad`). */
struct xf {
    struct mbuf *w; /* saving */
    struct rbuf *r; /* loading */
};
void x_u8(struct xf *x, uint8_t *v);
void x_u16(struct xf *x, uint16_t *v);
void x_u32(struct xf *x, uint32_t *v);
void x_u64(struct xf *x, uint64_t *v);
void x_int(struct xf *x, int *v); /* as a 32-bit value */
void x_bool(struct xf *x, bool *v);
void x_bytes(struct xf *x, void *p, size_t n);
static inline bool x_loading(const struct xf *x)
{
    return x->r != NULL;
}

/* The output side of an image: a file descriptor (file or socket). Every
 * write is complete or the stream fails with a message; a socket whose
 * peer went away fails with EPIPE, never a signal. */
struct mig_out {
    int fd;
    uint64_t sum;   /* FNV-1a of every byte written */
    uint64_t bytes; /* bytes written */
    bool failed;
    char err[256];
};
void mig_out_init(struct mig_out *o, int fd);
void mig_out_write(struct mig_out *o, const void *p, size_t n);

/* The input side: reads exactly n bytes or fails ("truncated"). */
struct mig_in {
    int fd;
    uint64_t sum;
    uint64_t bytes;
    bool failed;
    char err[256];
};
void mig_in_init(struct mig_in *in, int fd);
bool mig_in_read(struct mig_in *in, void *p, size_t n);

#endif
