/* QMP server: the QEMU Machine Protocol (JSON objects over a unix socket)
 * on a non-blocking socket, polled by the monitor between time slices; the
 * run loop stays single-threaded (BRIEF decision 6). This layer does the
 * protocol: greeting, capabilities negotiation, framing of JSON objects,
 * syntax errors, and the "id" of each command, which is echoed in its
 * reply. The commands themselves are the monitor's (monitor.c). */
#ifndef NVMX_UI_QMP_H
#define NVMX_UI_QMP_H

#include <stddef.h>

/* Executes command `cmd`; its "arguments" object is at [as, ae) of msg
 * (as == ae when absent). Writes the reply object -- {"return": ...} or
 * {"error": {...}} -- into reply (NUL-terminated). */
typedef void (*qmp_exec_fn)(void *opaque, const char *cmd, const char *msg, size_t as, size_t ae,
                            char *reply, size_t replylen);

struct qmp_server;

/* spec: "unix:PATH[,server=on|,server][,wait=off|,nowait]" (QEMU's
 * syntax; wait=on blocks until a client connects). NULL + message. */
struct qmp_server *qmp_create(const char *spec, qmp_exec_fn exec, void *opaque, char *err,
                              size_t errlen);
/* Accepts clients and runs their complete commands; waits up to
 * timeout_ms (0: never blocks) for something to do. */
void qmp_poll(struct qmp_server *q, int timeout_ms);
/* Sends an asynchronous event to every negotiated client. */
void qmp_event(struct qmp_server *q, const char *name);
void qmp_destroy(struct qmp_server *q);

/* Reply helper: {"error": {"class": CLASS, "desc": DESC}} */
void qmp_error(char *reply, size_t replylen, const char *cls, const char *desc);

#endif
