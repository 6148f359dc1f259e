/* Live migration (see migration.h). */
#include "migration.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "snapshot.h"
#include "stream.h"
#include "vmm/nested/nested.h"

/* A peer that neither takes nor sends data for this long has gone. */
#define MIG_STALL_SECONDS 10

/* Pages sent per step: bounds the time the guest waits for the monitor. */
#define MIG_STEP_PAGES 2048
/* A pass this small is sent with the guest stopped. */
#define MIG_CONVERGED_PAGES 256
/* After this many passes the migration stops the guest whatever the
 * dirty rate (a guest that writes faster than the link never converges). */
#define MIG_MAX_PASSES 30

struct migration {
    struct machine *m;
    enum mig_status status;
    struct mig_out out;
    uint64_t *to_send; /* the current pass */
    uint64_t words;
    uint64_t cursor;
    uint64_t converged_pages, max_passes;
    struct mig_stats st;
    char err[300];
};

const char *migration_status_name(enum mig_status s)
{
    static const char *const names[] = {"none", "active", "completed", "failed", "cancelled"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* Splits "HOST:PORT" (the last colon; [v6] brackets allowed). */
static int split_host_port(const char *hp, char *host, size_t hostlen, const char **port)
{
    const char *c = strrchr(hp, ':');
    if (!c || c == hp || !c[1])
        return -1;
    size_t n = (size_t)(c - hp);
    if (hp[0] == '[' && n >= 2 && hp[n - 1] == ']') {
        hp++;
        n -= 2;
    }
    if (n >= hostlen)
        return -1;
    memcpy(host, hp, n);
    host[n] = 0;
    *port = c + 1;
    return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sa, char *err, size_t errlen)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (!*path || strlen(path) >= sizeof(sa->sun_path)) {
        snprintf(err, errlen, "bad unix socket path '%s'", path);
        return -1;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

/* Opens the stream of a migration URI: connect (source) or listen+accept
 * (destination) for sockets, open for files. Returns a descriptor or -1. */
static int open_uri(const char *uri, bool dest, bool (*idle)(void *), void *opaque, char *err,
                    size_t errlen)
{
    if (!strncmp(uri, "file:", 5)) {
        int fd = dest ? open(uri + 5, O_RDONLY | O_CLOEXEC)
                      : open(uri + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            snprintf(err, errlen, "cannot open '%s': %s", uri + 5, strerror(errno));
        return fd;
    }
    int fd = -1;
    if (!strncmp(uri, "unix:", 5)) {
        struct sockaddr_un sa;
        if (unix_addr(uri + 5, &sa, err, errlen))
            return -1;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            goto sysfail;
        if (dest) {
            struct stat sb;
            if (!lstat(sa.sun_path, &sb) && !S_ISSOCK(sb.st_mode)) {
                snprintf(err, errlen, "'%s' exists and is not a socket", sa.sun_path);
                close(fd);
                return -1;
            }
            unlink(sa.sun_path); /* a stale socket */
            if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 1))
                goto sysfail;
        } else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
            goto sysfail;
        }
    } else if (!strncmp(uri, "tcp:", 4)) {
        char host[256];
        const char *port;
        if (split_host_port(uri + 4, host, sizeof(host), &port)) {
            snprintf(err, errlen, "bad tcp address '%s' (tcp:HOST:PORT)", uri);
            return -1;
        }
        struct addrinfo hints = {0}, *res = NULL;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = dest ? AI_PASSIVE : 0;
        int g = getaddrinfo(*host ? host : NULL, port, &hints, &res);
        if (g) {
            snprintf(err, errlen, "cannot resolve '%s': %s", uri + 4, gai_strerror(g));
            return -1;
        }
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        bool bad = fd < 0;
        if (!bad && dest)
            bad = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
                  bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1);
        else if (!bad)
            bad = connect(fd, res->ai_addr, res->ai_addrlen) != 0;
        freeaddrinfo(res);
        if (bad)
            goto sysfail;
    } else {
        snprintf(err, errlen,
                 "unsupported migration URI '%s' (unix:PATH, tcp:HOST:PORT, file:PATH)", uri);
        return -1;
    }
    if (!dest) {
        /* a destination that stops reading (a network partition looks like
         * that, not like a closed connection) fails the migration instead
         * of blocking the run loop for ever */
        struct timeval tv = {MIG_STALL_SECONDS, 0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    if (dest) {
        /* tells whoever starts the source that it may connect now */
        fprintf(stderr, "nvmx: waiting for an incoming migration on %s\n", uri);
        for (;;) { /* the monitor stays responsive while nothing arrives */
            struct pollfd pf = {fd, POLLIN, 0};
            int r = poll(&pf, 1, idle ? 50 : -1);
            if (r > 0)
                break;
            if (r < 0 && errno != EINTR)
                goto sysfail;
            if (idle && !idle(opaque)) {
                snprintf(err, errlen, "incoming migration on '%s' cancelled", uri);
                close(fd);
                if (!strncmp(uri, "unix:", 5))
                    unlink(uri + 5);
                return -1;
            }
        }
        int c;
        do
            c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        while (c < 0 && errno == EINTR);
        if (c < 0)
            goto sysfail;
        close(fd);
        if (!strncmp(uri, "unix:", 5))
            unlink(uri + 5);
        fd = c;
        struct timeval tv = {MIG_STALL_SECONDS, 0}; /* a stalled source: give up */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    return fd;
sysfail:
    snprintf(err, errlen, "%s '%s': %s", dest ? "cannot listen on" : "cannot connect to", uri,
             strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

struct migration *migration_start(struct machine *m, const char *uri, char *err, size_t errlen)
{
    struct migration *mg = calloc(1, sizeof(*mg));
    if (!mg) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    mg->m = m;
    mg->st.total_pages = snap_nr_pages(m);
    mg->st.start_insns = machine_insns(m);
    mg->converged_pages = MIG_CONVERGED_PAGES;
    mg->max_passes = MIG_MAX_PASSES;
    mg->words = (m->mem.nr_pages + 63) / 64;
    mg->to_send = calloc(mg->words, sizeof(uint64_t));
    if (!mg->to_send || physmem_dirty_start(&m->mem)) {
        snprintf(err, errlen, "out of memory");
        free(mg->to_send);
        free(mg);
        return NULL;
    }
    int fd = open_uri(uri, false, NULL, NULL, err, errlen);
    if (fd < 0) {
        physmem_dirty_stop(&m->mem);
        free(mg->to_send);
        free(mg);
        return NULL;
    }
    /* pass 0: every page of the image */
    for (uint64_t pg = 0; pg < mg->st.total_pages; pg++)
        mg->to_send[pg >> 6] |= 1ull << (pg & 63);
    mg->st.remaining = mg->st.total_pages;
    mig_out_init(&mg->out, fd);
    snap_write_begin(&mg->out, m);
    mg->status = MIG_ACTIVE;
    return mg;
}

static void finish(struct migration *mg, enum mig_status st)
{
    physmem_dirty_stop(&mg->m->mem);
    if (mg->out.fd >= 0) {
        if (close(mg->out.fd) && st == MIG_COMPLETED) {
            st = MIG_FAILED;
            snprintf(mg->err, sizeof(mg->err), "closing the stream: %s", strerror(errno));
        }
        mg->out.fd = -1;
    }
    mg->status = st;
}

/* Sends pages of the current pass; returns true when the pass is done. */
static bool send_some(struct migration *mg, uint64_t budget)
{
    uint64_t sent =
        snap_write_ram(&mg->out, mg->m, mg->to_send, &mg->cursor, budget, &mg->st.zero_pages);
    mg->st.pages += sent;
    mg->st.remaining -= sent < mg->st.remaining ? sent : mg->st.remaining;
    return mg->cursor >= mg->st.total_pages;
}

/* Starts the next pass from the pages dirtied during the last one. */
static uint64_t next_pass(struct migration *mg)
{
    memset(mg->to_send, 0, mg->words * sizeof(uint64_t));
    physmem_dirty_sync(&mg->m->mem, mg->to_send);
    /* only pages the image carries (L0's unused private pages never are) */
    uint64_t dirty = 0;
    for (uint64_t w = 0; w < mg->words; w++) {
        uint64_t first = w * 64;
        if (first >= mg->st.total_pages)
            mg->to_send[w] = 0;
        else if (mg->st.total_pages - first < 64)
            mg->to_send[w] &= (1ull << (mg->st.total_pages - first)) - 1;
        dirty += (uint64_t)__builtin_popcountll(mg->to_send[w]);
    }
    mg->cursor = 0;
    mg->st.passes++;
    mg->st.last_dirty = dirty;
    mg->st.remaining = dirty;
    return dirty;
}

enum mig_status migration_step(struct migration *mg, bool paused)
{
    if (mg->status != MIG_ACTIVE)
        return mg->status;
    bool stop_and_copy = false;
    if (send_some(mg, MIG_STEP_PAGES)) {
        uint64_t dirty = next_pass(mg);
        if (paused || dirty <= mg->converged_pages || mg->st.passes >= mg->max_passes) {
            /* stop-and-copy: the guest does not run until this returns,
             * so the last dirty pages and the state form one instant. L0's
             * private pages (EPT01/EPT02 tables, MSR bitmaps, virtual-APIC
             * pages) are also written by L0's C code through plain
             * pointers, which dirty logging does not see: all of them go
             * again (a few pages to a few MiB). */
            for (uint64_t pg = mg->m->mem.ram_size >> 12; pg < mg->st.total_pages; pg++)
                mg->to_send[pg >> 6] |= 1ull << (pg & 63);
            /* the cached vmcs12s go back to L1 memory (BRIEF decision 1):
             * the pages they dirty join this last pass */
            for (int i = 0; i < mg->m->nr_cpus; i++)
                nested_flush_vmcs12(mg->m, i);
            physmem_dirty_sync(&mg->m->mem, mg->to_send);
            send_some(mg, UINT64_MAX);
            snap_write_end(&mg->out, mg->m);
            stop_and_copy = true;
        }
    }
    mg->st.bytes = mg->out.bytes;
    if (mg->out.failed) {
        snprintf(mg->err, sizeof(mg->err), "%s", mg->out.err);
        finish(mg, MIG_FAILED);
    } else if (stop_and_copy) {
        finish(mg, MIG_COMPLETED);
    }
    return mg->status;
}

void migration_set_limits(struct migration *mg, uint64_t converged_pages, uint64_t max_passes)
{
    mg->converged_pages = converged_pages;
    mg->max_passes = max_passes ? max_passes : 1;
}

void migration_cancel(struct migration *mg)
{
    if (mg->status == MIG_ACTIVE)
        finish(mg, MIG_CANCELLED);
}

enum mig_status migration_status(const struct migration *mg)
{
    return mg ? mg->status : MIG_NONE;
}

const char *migration_error(const struct migration *mg)
{
    return mg ? mg->err : "";
}

void migration_get_stats(const struct migration *mg, struct mig_stats *s)
{
    *s = mg->st;
}

void migration_free(struct migration *mg)
{
    if (!mg)
        return;
    if (mg->status == MIG_ACTIVE)
        finish(mg, MIG_CANCELLED);
    free(mg->to_send);
    free(mg);
}

int migration_incoming(struct machine *m, const char *uri, bool (*idle)(void *), void *opaque,
                       char *err, size_t errlen)
{
    char e[400];
    int fd = open_uri(uri, true, idle, opaque, e, sizeof(e));
    if (fd < 0) {
        snprintf(err, errlen, "%s", e);
        return -1;
    }
    int rc = snapshot_load(m, fd, e, sizeof(e));
    if (rc)
        snprintf(err, errlen, "incoming migration from %s: %s", uri, e);
    close(fd);
    return rc;
}
