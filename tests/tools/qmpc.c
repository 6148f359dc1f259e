/* A minimal QMP client and a dropping migration sink, for
 * tests/migrate-test.sh (the tests need nothing beyond gcc and bash):
 *
 *   qmpc SOCKET CMD...   connects (retrying for 10 s), negotiates
 *                        capabilities, sends each CMD (a JSON object) and
 *                        prints each reply on one line (events skipped).
 *                        CMD "wait-migrate" polls query-migrate until the
 *                        status is no longer "active" and prints the last
 *                        reply; "sleep:MS" waits; "batch:A\nB..." sends
 *                        several commands in one write.
 *   qmpc -sink SOCKET N  listens on SOCKET, accepts one connection, reads
 *                        N bytes and closes it: a destination that drops
 *                        the stream mid-way.
 *   qmpc -stall SOCKET N like -sink, but then keeps the connection open
 *                        without reading for 20 s: a destination that
 *                        stalls (a partitioned network). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char inbuf[1 << 20];
static size_t inlen;

/* Reads one line (a QMP message) into out; skips events. */
static int read_reply(int fd, char *out, size_t outlen)
{
    for (;;) {
        char *nl = memchr(inbuf, '\n', inlen);
        if (nl) {
            size_t n = (size_t)(nl - inbuf) + 1;
            size_t c = n < outlen ? n : outlen - 1;
            memcpy(out, inbuf, c);
            out[c] = 0;
            memmove(inbuf, inbuf + n, inlen - n);
            inlen -= n;
            if (strncmp(out, "{\"event\"", 8))
                return 0;
            continue;
        }
        if (inlen == sizeof(inbuf))
            return -1;
        ssize_t r = read(fd, inbuf + inlen, sizeof(inbuf) - inlen);
        if (r <= 0)
            return -1;
        inlen += (size_t)r;
    }
}

static int send_cmd(int fd, const char *cmd, char *reply, size_t len)
{
    size_t n = strlen(cmd);
    if (write(fd, cmd, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
        return -1;
    return read_reply(fd, reply, len);
}

static int sink(const char *path, long want, bool stall)
{
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(path);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1)) {
        perror("qmpc -sink");
        return 1;
    }
    int c = accept(l, NULL, NULL);
    static char buf[65536];
    long got = 0;
    while (c >= 0 && got < want) {
        long chunk = want - got < (long)sizeof(buf) ? want - got : (long)sizeof(buf);
        ssize_t r = read(c, buf, (size_t)chunk);
        if (r <= 0)
            break;
        got += r;
    }
    if (stall) /* stop reading but keep the connection open */
        msleep(20000);
    close(c);
    close(l);
    unlink(path);
    printf("sink: read %ld bytes, then %s\n", got, stall ? "stalled" : "dropped the connection");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep what was said if killed */
    if (argc == 4 && !strcmp(argv[1], "-sink"))
        return sink(argv[2], atol(argv[3]), false);
    if (argc == 4 && !strcmp(argv[1], "-stall"))
        return sink(argv[2], atol(argv[3]), true);
    if (argc < 2) {
        fprintf(stderr, "usage: qmpc SOCKET CMD... | qmpc -sink SOCKET BYTES\n");
        return 2;
    }
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
    int fd = -1;
    for (int i = 0; i < 1000; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
            break;
        close(fd);
        fd = -1;
        msleep(10);
    }
    if (fd < 0) {
        fprintf(stderr, "qmpc: cannot connect to %s\n", argv[1]);
        return 1;
    }
    static char reply[1 << 20];
    if (read_reply(fd, reply, sizeof(reply)) || !strstr(reply, "\"QMP\"") ||
        send_cmd(fd, "{\"execute\": \"qmp_capabilities\"}", reply, sizeof(reply)) ||
        !strstr(reply, "\"return\"")) {
        fprintf(stderr, "qmpc: no QMP greeting or negotiation failed\n");
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        if (!strncmp(argv[i], "sleep:", 6)) {
            msleep(atol(argv[i] + 6));
            continue;
        }
        if (!strcmp(argv[i], "wait-migrate")) {
            for (int t = 0; t < 12000; t++) {
                if (send_cmd(fd, "{\"execute\": \"query-migrate\"}", reply, sizeof(reply)))
                    return 1;
                if (!strstr(reply, "\"active\""))
                    break;
                msleep(10);
            }
            fputs(reply, stdout);
            continue;
        }
        if (!strncmp(argv[i], "batch:", 6)) {
            /* several commands in one write, so that the server handles
             * them together (e.g. migrate and cont before the guest runs) */
            const char *b = argv[i] + 6;
            size_t n = strlen(b);
            int cmds = 1;
            for (size_t k = 0; k < n; k++)
                cmds += b[k] == '\n';
            if (write(fd, b, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
                return 1;
            for (int k = 0; k < cmds; k++) {
                if (read_reply(fd, reply, sizeof(reply)))
                    return 1;
                fputs(reply, stdout);
            }
            continue;
        }
        if (send_cmd(fd, argv[i], reply, sizeof(reply))) {
            fprintf(stderr, "qmpc: connection closed\n");
            return 1;
        }
        fputs(reply, stdout);
    }
    close(fd);
    return 0;
}
