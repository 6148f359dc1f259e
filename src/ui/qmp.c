/* QMP server (see qmp.h). Protocol: QEMU docs/interop/qmp-spec.rst. */
#include "qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "json.h"

#define QMP_MAX_CLIENTS 4
#define QMP_BUF 16384
#define QMP_REPLY (256 * 1024)

struct qmp_client {
    int fd; /* -1: free slot */
    bool negotiated;
    size_t len;
    char buf[QMP_BUF];
};

struct qmp_server {
    int lfd;
    char path[108];
    qmp_exec_fn exec;
    void *opaque;
    char *reply, *out;
    struct qmp_client cl[QMP_MAX_CLIENTS];
};

void qmp_error(char *reply, size_t replylen, const char *cls, const char *desc)
{
    char q[600];
    json_quote(desc, q, sizeof(q));
    snprintf(reply, replylen, "{\"error\": {\"class\": \"%s\", \"desc\": %s}}", cls, q);
}

static void drop(struct qmp_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
    c->negotiated = false;
}

/* Sends a whole line; a client that does not read for a second is dropped. */
static void send_line(struct qmp_client *c, const char *text)
{
    size_t n = strlen(text);
    const char *p = text;
    char crlf[2] = {'\r', '\n'};
    for (int part = 0; part < 2 && c->fd >= 0; part++) {
        if (part == 1) {
            p = crlf;
            n = 2;
        }
        while (n) {
            ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
            if (r > 0) {
                p += r;
                n -= (size_t)r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                struct pollfd pf = {c->fd, POLLOUT, 0};
                if (poll(&pf, 1, 1000) > 0)
                    continue;
            }
            drop(c);
            return;
        }
    }
}

static void greet(struct qmp_client *c)
{
    send_line(c, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 0, \"major\": 9}, "
                 "\"package\": \"nvmx\"}, \"capabilities\": []}}");
}

static void handle_message(struct qmp_server *q, struct qmp_client *c, const char *msg, size_t len)
{
    char *reply = q->reply;
    size_t vs, ve, is = 0, ie = 0;
    char cmd[64];
    bool has_id = json_member(msg, 0, len, "id", &is, &ie);
    if (!json_member(msg, 0, len, "execute", &vs, &ve) ||
        !json_string(msg, vs, ve, cmd, sizeof(cmd))) {
        qmp_error(reply, QMP_REPLY, "GenericError",
                  "QMP input must be an object with an 'execute' string member");
    } else {
        size_t as = 0, ae = 0;
        if (json_member(msg, 0, len, "arguments", &as, &ae) && msg[as] != '{') {
            qmp_error(reply, QMP_REPLY, "GenericError",
                      "QMP input member 'arguments' must be an object");
        } else if (!strcmp(cmd, "qmp_capabilities")) {
            if (c->negotiated)
                qmp_error(reply, QMP_REPLY, "CommandNotFound",
                          "Capabilities negotiation is already complete, command ignored");
            else
                snprintf(reply, QMP_REPLY, "{\"return\": {}}");
            c->negotiated = true;
        } else if (!c->negotiated) {
            qmp_error(reply, QMP_REPLY, "CommandNotFound",
                      "Expecting capabilities negotiation with 'qmp_capabilities'");
        } else {
            q->exec(q->opaque, cmd, msg, as, ae, reply, QMP_REPLY);
        }
    }
    /* echo the id: {"return": ...} becomes {"return": ..., "id": ID} */
    size_t rl = strlen(reply);
    if (has_id && rl && reply[rl - 1] == '}' && ie - is < 1024) {
        snprintf(q->out, QMP_REPLY + 1100, "%.*s, \"id\": %.*s}", (int)(rl - 1), reply,
                 (int)(ie - is), msg + is);
        send_line(c, q->out);
    } else {
        send_line(c, reply);
    }
}

/* Splits the input into complete JSON values and handles each. Input
 * that does not start an object or array is an error up to the end of its
 * line, as QEMU's lexer would report it. */
static void process(struct qmp_server *q, struct qmp_client *c)
{
    size_t pos = 0;
    char e[700];
    while (c->fd >= 0) {
        pos = json_ws(c->buf, c->len, pos);
        if (pos >= c->len)
            break;
        size_t p = pos;
        if (c->buf[pos] != '{' && c->buf[pos] != '[') {
            char *nl = memchr(c->buf + pos, '\n', c->len - pos);
            if (!nl)
                break;
            qmp_error(e, sizeof(e), "GenericError", "JSON parse error");
            send_line(c, e);
            pos = (size_t)(nl - c->buf) + 1;
            continue;
        }
        /* find the end of the value by nesting, then validate it */
        int depth = 0;
        bool in_str = false, complete = false;
        for (; p < c->len; p++) {
            char ch = c->buf[p];
            if (in_str) {
                if (ch == '\\')
                    p++;
                else if (ch == '"')
                    in_str = false;
            } else if (ch == '"') {
                in_str = true;
            } else if (ch == '{' || ch == '[') {
                depth++;
            } else if ((ch == '}' || ch == ']') && --depth == 0) {
                p++;
                complete = true;
                break;
            }
        }
        if (!complete)
            break;
        long end = json_skip_value(c->buf, p, pos);
        if (end < 0 || c->buf[pos] != '{') {
            qmp_error(e, sizeof(e), "GenericError",
                      end < 0 ? "JSON parse error" : "QMP input must be a JSON object");
            send_line(c, e);
        } else {
            handle_message(q, c, c->buf + pos, (size_t)end - pos);
        }
        pos = p;
    }
    if (c->fd < 0)
        return;
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
    if (c->len == sizeof(c->buf)) { /* a message larger than the buffer */
        qmp_error(e, sizeof(e), "GenericError", "QMP message too long");
        send_line(c, e);
        drop(c);
    }
}

static void accept_client(struct qmp_server *q, int flags)
{
    int fd = accept4(q->lfd, NULL, NULL, SOCK_CLOEXEC | flags);
    if (fd < 0)
        return;
    for (int i = 0; i < QMP_MAX_CLIENTS; i++) {
        if (q->cl[i].fd < 0) {
            q->cl[i].fd = fd;
            q->cl[i].len = 0;
            q->cl[i].negotiated = false;
            if (!flags)
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            greet(&q->cl[i]);
            return;
        }
    }
    close(fd); /* too many monitors */
}

void qmp_poll(struct qmp_server *q, int timeout_ms)
{
    struct pollfd pf[QMP_MAX_CLIENTS + 1];
    int idx[QMP_MAX_CLIENTS + 1];
    int n = 0;
    pf[n] = (struct pollfd){q->lfd, POLLIN, 0};
    idx[n++] = -1;
    for (int i = 0; i < QMP_MAX_CLIENTS; i++)
        if (q->cl[i].fd >= 0) {
            pf[n] = (struct pollfd){q->cl[i].fd, POLLIN, 0};
            idx[n++] = i;
        }
    if (poll(pf, (nfds_t)n, timeout_ms) <= 0)
        return;
    for (int k = 0; k < n; k++) {
        if (!pf[k].revents)
            continue;
        if (idx[k] < 0) {
            accept_client(q, SOCK_NONBLOCK);
            continue;
        }
        struct qmp_client *c = &q->cl[idx[k]];
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            drop(c);
            continue;
        }
        if (r > 0) {
            c->len += (size_t)r;
            process(q, c);
        }
    }
}

void qmp_event(struct qmp_server *q, const char *name)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char line[256];
    snprintf(line, sizeof(line),
             "{\"event\": \"%s\", \"timestamp\": {\"seconds\": %lld, \"microseconds\": %ld}}", name,
             (long long)tv.tv_sec, (long)tv.tv_usec);
    for (int i = 0; i < QMP_MAX_CLIENTS; i++)
        if (q->cl[i].fd >= 0 && q->cl[i].negotiated)
            send_line(&q->cl[i], line);
}

struct qmp_server *qmp_create(const char *spec, qmp_exec_fn exec, void *opaque, char *err,
                              size_t errlen)
{
    if (strncmp(spec, "unix:", 5)) {
        snprintf(err, errlen, "-qmp '%s': only unix:PATH sockets are supported", spec);
        return NULL;
    }
    char path[256];
    const char *p = spec + 5, *comma = strchr(p, ',');
    size_t plen = comma ? (size_t)(comma - p) : strlen(p);
    bool wait = false;
    if (plen == 0 || plen >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(err, errlen, "-qmp '%s': bad socket path", spec);
        return NULL;
    }
    memcpy(path, p, plen);
    path[plen] = 0;
    for (const char *o = comma; o && *o;) {
        o++;
        const char *next = strchr(o, ',');
        size_t ol = next ? (size_t)(next - o) : strlen(o);
        if ((ol == 9 && !strncmp(o, "server=on", 9)) || (ol == 6 && !strncmp(o, "server", 6)))
            ;
        else if ((ol == 8 && !strncmp(o, "wait=off", 8)) || (ol == 6 && !strncmp(o, "nowait", 6)))
            wait = false;
        else if (ol == 7 && !strncmp(o, "wait=on", 7))
            wait = true;
        else {
            snprintf(err, errlen, "-qmp '%s': unsupported option '%.*s' (server=on, wait=off)",
                     spec, (int)ol, o);
            return NULL;
        }
        o = next;
    }
    struct qmp_server *q = calloc(1, sizeof(*q));
    if (q) {
        q->reply = malloc(QMP_REPLY);
        q->out = malloc(QMP_REPLY + 1100);
    }
    if (!q || !q->reply || !q->out) {
        if (q) {
            free(q->reply);
            free(q->out);
        }
        free(q);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < QMP_MAX_CLIENTS; i++)
        q->cl[i].fd = -1;
    q->exec = exec;
    q->opaque = opaque;
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    strcpy(q->path, path);
    q->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct stat sb;
    if (!lstat(path, &sb)) {
        if (!S_ISSOCK(sb.st_mode)) { /* never delete anything but a stale socket */
            snprintf(err, errlen, "-qmp: '%s' exists and is not a socket", path);
            if (q->lfd >= 0)
                close(q->lfd);
            free(q->reply);
            free(q->out);
            free(q);
            return NULL;
        }
        unlink(path);
    }
    if (q->lfd < 0 || bind(q->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(q->lfd, 4)) {
        snprintf(err, errlen, "-qmp: cannot listen on '%s': %s", path, strerror(errno));
        if (q->lfd >= 0)
            close(q->lfd);
        free(q->reply);
        free(q->out);
        free(q);
        return NULL;
    }
    if (wait) {
        /* QEMU's wait=on: the machine starts once a monitor is connected */
        struct pollfd pf = {q->lfd, POLLIN, 0};
        while (poll(&pf, 1, -1) < 0 && errno == EINTR)
            ;
        accept_client(q, 0);
    }
    return q;
}

void qmp_destroy(struct qmp_server *q)
{
    if (!q)
        return;
    for (int i = 0; i < QMP_MAX_CLIENTS; i++)
        drop(&q->cl[i]);
    close(q->lfd);
    unlink(q->path);
    free(q->reply);
    free(q->out);
    free(q);
}
