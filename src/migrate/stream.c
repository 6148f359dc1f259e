/* Image byte streams: see stream.h. */
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

uint64_t mig_fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void mbuf_put(struct mbuf *b, const void *p, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void mbuf_free(struct mbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void rbuf_get(struct rbuf *r, void *p, size_t n)
{
    if (n == 0)
        return;
    if (r->bad || n > r->len - r->pos) {
        r->bad = true;
        memset(p, 0, n);
        return;
    }
    memcpy(p, r->p + r->pos, n);
    r->pos += n;
}

static void x_le(struct xf *x, uint64_t *v, int n)
{
    uint8_t b[8];
    if (x->r) {
        rbuf_get(x->r, b, (size_t)n);
        uint64_t t = 0;
        for (int i = 0; i < n; i++)
            t |= (uint64_t)b[i] << (8 * i);
        *v = t;
    } else {
        for (int i = 0; i < n; i++)
            b[i] = (uint8_t)(*v >> (8 * i));
        mbuf_put(x->w, b, (size_t)n);
    }
}

void x_u8(struct xf *x, uint8_t *v)
{
    uint64_t t = *v;
    x_le(x, &t, 1);
    *v = (uint8_t)t;
}

void x_u16(struct xf *x, uint16_t *v)
{
    uint64_t t = *v;
    x_le(x, &t, 2);
    *v = (uint16_t)t;
}

void x_u32(struct xf *x, uint32_t *v)
{
    uint64_t t = *v;
    x_le(x, &t, 4);
    *v = (uint32_t)t;
}

void x_u64(struct xf *x, uint64_t *v)
{
    x_le(x, v, 8);
}

void x_int(struct xf *x, int *v)
{
    uint32_t t = (uint32_t)*v;
    x_u32(x, &t);
    *v = (int)t;
}

void x_bool(struct xf *x, bool *v)
{
    uint8_t t = 0;
    if (x->r) {
        /* *v may be uninitialised here: it is only written */
        x_u8(x, &t);
        if (t > 1)
            x->r->bad = true;
        *v = t == 1;
    } else {
        t = *v ? 1 : 0;
        x_u8(x, &t);
    }
}

void x_bytes(struct xf *x, void *p, size_t n)
{
    if (x->r)
        rbuf_get(x->r, p, n);
    else
        mbuf_put(x->w, p, n);
}

void mig_out_init(struct mig_out *o, int fd)
{
    memset(o, 0, sizeof(*o));
    o->fd = fd;
    o->sum = MIG_FNV_INIT;
}

void mig_out_write(struct mig_out *o, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (o->failed)
        return;
    o->sum = mig_fnv(o->sum, p, n);
    o->bytes += n;
    while (n) {
        /* MSG_NOSIGNAL: a vanished peer is an error, not SIGPIPE */
        ssize_t r = send(o->fd, b, n, MSG_NOSIGNAL);
        if (r < 0 && errno == ENOTSOCK)
            r = write(o->fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            o->failed = true;
            snprintf(o->err, sizeof(o->err), "write failed after %llu bytes: %s",
                     (unsigned long long)(o->bytes - n), r < 0 ? strerror(errno) : "no progress");
            return;
        }
        b += r;
        n -= (size_t)r;
    }
}

void mig_in_init(struct mig_in *in, int fd)
{
    memset(in, 0, sizeof(*in));
    in->fd = fd;
    in->sum = MIG_FNV_INIT;
}

bool mig_in_read(struct mig_in *in, void *p, size_t n)
{
    uint8_t *b = p;
    size_t want = n;
    if (in->failed)
        return false;
    while (n) {
        ssize_t r = read(in->fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            in->failed = true;
            if (r == 0)
                snprintf(in->err, sizeof(in->err), "image truncated after %llu bytes",
                         (unsigned long long)(in->bytes + (want - n)));
            else
                snprintf(in->err, sizeof(in->err), "read failed after %llu bytes: %s",
                         (unsigned long long)(in->bytes + (want - n)), strerror(errno));
            return false;
        }
        b += r;
        n -= (size_t)r;
    }
    in->sum = mig_fnv(in->sum, p, want);
    in->bytes += want;
    return true;
}
