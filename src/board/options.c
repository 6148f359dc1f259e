/* The command line: the QEMU options test runners use (see README "CLI"). */
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev/rtc.h"

static int err_out(char *err, size_t errlen, const char *fmt, const char *a)
{
    snprintf(err, errlen, fmt, a);
    return -1;
}

/* QEMU size syntax: "512", "512M", "1G", "size=512M"; a bare number is MiB. */
int parse_size(const char *s, uint64_t *out)
{
    if (!strncmp(s, "size=", 5))
        s += 5;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return -1;
    uint64_t mul = 1ull << 20;
    if (*end) {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1ull << 10;
            break;
        case 'm':
        case 'M':
            mul = 1ull << 20;
            break;
        case 'g':
        case 'G':
            mul = 1ull << 30;
            break;
        case 't':
        case 'T':
            mul = 1ull << 40;
            break;
        default:
            return -1;
        }
        end++;
        if (*end == 'B' || *end == 'b' || *end == 'i')
            end++;
        if (*end && *end != ',')
            return -1;
    }
    if (v == 0 || v > (1ull << 40) / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static int parse_device(struct machine_options *o, const char *v, char *err, size_t errlen)
{
    if (strncmp(v, "isa-debug-exit", 14) || (v[14] && v[14] != ','))
        return err_out(err, errlen, "unsupported device '%s' (nvmx has: isa-debug-exit)", v);
    o->debug_exit = true;
    o->debug_exit_port = 0x501;
    o->debug_exit_size = 2;
    const char *p = v + 14;
    while (*p == ',') {
        p++;
        char *end;
        if (!strncmp(p, "iobase=", 7)) {
            unsigned long x = strtoul(p + 7, &end, 0);
            if (end == p + 7 || x > 0xffff)
                return err_out(err, errlen, "bad iobase in '%s'", v);
            o->debug_exit_port = (uint16_t)x;
        } else if (!strncmp(p, "iosize=", 7)) {
            unsigned long x = strtoul(p + 7, &end, 0);
            if (end == p + 7 || (x != 1 && x != 2 && x != 4))
                return err_out(err, errlen, "bad iosize in '%s' (1, 2 or 4)", v);
            o->debug_exit_size = (uint16_t)x;
        } else {
            return err_out(err, errlen, "unknown isa-debug-exit property in '%s'", v);
        }
        p = end;
    }
    if (*p)
        return err_out(err, errlen, "malformed device option '%s'", v);
    return 0;
}

static int parse_log(struct machine_options *o, const char *v, char *err, size_t errlen)
{
    char *list = strdup(v);
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "unimp"))
            o->log_flags |= CPU_LOG_UNIMP;
        else if (!strcmp(t, "int"))
            o->log_flags |= CPU_LOG_INT;
        else if (!strcmp(t, "exec") || !strcmp(t, "in_asm"))
            o->log_flags |= CPU_LOG_EXEC;
        else if (!strcmp(t, "guest_errors") || !strcmp(t, "cpu_reset"))
            ; /* accepted: nvmx reports these on stderr anyway */
        else {
            rc = err_out(err, errlen, "unknown log item '%s' for -d (unimp, int, exec)", t);
            break;
        }
    }
    free(list);
    return rc;
}

/* -rtc base=utc|localtime|YYYY-MM-DD[THH:MM:SS][,clock=vm|host][,driftfix=...]:
 * the RTC's time at power-on. By default it never comes from the host clock
 * (BRIEF decision 6): utc and localtime mean the default start date.
 * clock=host is the real-time option: the RTC starts at the host's time
 * (unless a date is given) and idle time passes at host speed. */
static int parse_rtc(struct machine_options *o, const char *v, char *err, size_t errlen)
{
    char *list = strdup(v), *save = NULL;
    int rc = 0;
    if (!list)
        return err_out(err, errlen, "out of memory%s", "");
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strncmp(t, "base=", 5)) {
            const char *b = t + 5;
            int y, mo, d, h = 0, mi = 0, s = 0, n = 0;
            if (!strcmp(b, "utc") || !strcmp(b, "localtime")) {
                o->rtc_base_host = true;
                continue;
            }
            if ((sscanf(b, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) == 6 ||
                 sscanf(b, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3) &&
                !b[n] && y >= 1970 && y <= 2099 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 &&
                h < 24 && mi < 60 && s < 60 && h >= 0 && mi >= 0 && s >= 0) {
                o->rtc_start = rtc_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                               h * 3600 + mi * 60 + s;
                o->rtc_base_host = false;
                continue;
            }
            rc = err_out(err, errlen, "bad -rtc base '%s' (YYYY-MM-DD[THH:MM:SS], 1970-2099)", b);
            break;
        } else if (!strcmp(t, "clock=vm") || !strncmp(t, "driftfix=", 9)) {
            continue;
        } else if (!strcmp(t, "clock=host") || !strcmp(t, "clock=rt")) {
            o->realtime = true;
            continue;
        } else {
            rc = err_out(err, errlen, "unknown -rtc item '%s' (base=, clock=vm|host)", t);
            break;
        }
    }
    free(list);
    return rc;
}

void options_defaults(struct machine_options *o)
{
    memset(o, 0, sizeof(*o));
    o->ram_size = 128ull << 20;
    o->smp = 1;
    o->quantum = 100000;
    o->rtc_start = rtc_days_from_civil(2026, 1, 1) * 86400; /* 2026-01-01 00:00:00 UTC */
}

/* Options that take an argument, and options accepted and ignored because
 * they are harmless for nvmx (QEMU compatibility). */
int parse_options(int argc, char **argv, struct machine_options *o, char *err, size_t errlen)
{
    options_defaults(o);
    bool serial_set = false, nographic = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-' && a[2])
            a++; /* QEMU accepts --opt for -opt */
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG()                                                                                 \
    do {                                                                                           \
        if (!v)                                                                                    \
            return err_out(err, errlen, "option '%s' needs an argument", a);                       \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "-kernel")) {
            NEED_ARG();
            o->kernel = v;
        } else if (!strcmp(a, "-append")) {
            NEED_ARG();
            o->append = v;
        } else if (!strcmp(a, "-initrd")) {
            NEED_ARG();
            o->initrd = v;
        } else if (!strcmp(a, "-m")) {
            NEED_ARG();
            if (parse_size(v, &o->ram_size) || o->ram_size < (2ull << 20) ||
                o->ram_size > (64ull << 30))
                return err_out(err, errlen, "bad memory size '%s' (2M to 64G)", v);
        } else if (!strcmp(a, "-smp")) {
            NEED_ARG();
            const char *s = !strncmp(v, "cpus=", 5) ? v + 5 : v;
            char *end;
            long n = strtol(s, &end, 10);
            if (end == s || (*end && *end != ',') || n < 1 || n > MACHINE_MAX_CPUS)
                return err_out(err, errlen, "bad -smp value '%s' (1 to 64 CPUs)", v);
            o->smp = (int)n;
        } else if (!strcmp(a, "-serial")) {
            NEED_ARG();
            if (strcmp(v, "stdio") && strcmp(v, "mon:stdio") && strcmp(v, "none") &&
                strcmp(v, "null") && strncmp(v, "file:", 5))
                return err_out(err, errlen, "unsupported -serial '%s' (stdio, file:PATH, none)", v);
            o->serial = v;
            serial_set = true;
        } else if (!strcmp(a, "-nographic")) {
            nographic = true;
        } else if (!strcmp(a, "-display") || !strcmp(a, "-vga") || !strcmp(a, "-monitor")) {
            NEED_ARG();
            if (strcmp(v, "none"))
                return err_out(err, errlen, "only 'none' is supported for %s", a);
        } else if (!strcmp(a, "-rtc")) {
            NEED_ARG();
            if (parse_rtc(o, v, err, errlen))
                return -1;
        } else if (!strcmp(a, "-no-acpi")) {
            o->no_acpi = true;
        } else if (!strcmp(a, "-no-hpet")) {
            o->no_hpet = true;
        } else if (!strcmp(a, "-nodefaults")) {
            /* nothing to remove: nvmx has no default devices beyond COM1 */
        } else if (!strcmp(a, "-no-reboot")) {
            o->no_reboot = true;
        } else if (!strcmp(a, "-device")) {
            NEED_ARG();
            if (parse_device(o, v, err, errlen))
                return -1;
        } else if (!strcmp(a, "-d")) {
            NEED_ARG();
            if (parse_log(o, v, err, errlen))
                return -1;
        } else if (!strcmp(a, "-D")) {
            NEED_ARG();
            o->log_file = v;
        } else if (!strcmp(a, "-cpu")) {
            NEED_ARG();
            o->cpu_model = v;
            /* MODEL[,+feat|-feat|feat=on|off...]: nvmx has one model;
             * the only feature switch it honours is vmx (nested VMX) */
            for (const char *f = strchr(v, ','); f; f = strchr(f + 1, ',')) {
                if (!strncmp(f, ",-vmx", 5) && (f[5] == ',' || !f[5]))
                    o->no_vmx = true;
                else if (!strncmp(f, ",vmx=off", 8) && (f[8] == ',' || !f[8]))
                    o->no_vmx = true;
                else if ((!strncmp(f, ",+vmx", 5) && (f[5] == ',' || !f[5])) ||
                         (!strncmp(f, ",vmx=on", 7) && (f[7] == ',' || !f[7])))
                    o->no_vmx = false;
            }
        } else if (!strcmp(a, "-machine") || !strcmp(a, "-M")) {
            NEED_ARG();
            if (strncmp(v, "pc", 2) && strncmp(v, "q35", 3))
                return err_out(err, errlen, "unsupported machine '%s' (pc)", v);
        } else if (!strcmp(a, "-enable-kvm") || !strcmp(a, "-accel")) {
            return err_out(err, errlen, "'%s' is not supported: nvmx is a software CPU", a);
        } else if (!strcmp(a, "-stats")) {
            o->stats = true;
        } else if (!strcmp(a, "-vmx-test")) {
            o->vmx_test = true;
        } else if (!strcmp(a, "-max-insns")) {
            NEED_ARG();
            char *end;
            o->max_insns = strtoull(v, &end, 0);
            if (end == v || *end)
                return err_out(err, errlen, "bad -max-insns value '%s'", v);
        } else if (!strcmp(a, "-loadvm")) {
            NEED_ARG();
            o->loadvm = v;
        } else if (!strcmp(a, "-incoming")) {
            NEED_ARG();
            if (strncmp(v, "unix:", 5) && strncmp(v, "tcp:", 4) && strncmp(v, "file:", 5))
                return err_out(err, errlen,
                               "unsupported -incoming '%s' (unix:PATH, tcp:HOST:PORT, file:PATH)",
                               v);
            o->incoming = v;
        } else if (!strcmp(a, "-qmp")) {
            NEED_ARG();
            if (strncmp(v, "unix:", 5) || v[5] == 0 || v[5] == ',')
                return err_out(err, errlen, "unsupported -qmp '%s' (unix:PATH,server=on,wait=off)",
                               v);
            o->qmp = v;
        } else if (!strcmp(a, "-S")) {
            o->start_stopped = true;
        } else if (!strcmp(a, "-savevm-at")) {
            NEED_ARG();
            const char *n = v;
            o->savevm_kind = SAVEVM_AT_INSN;
            if (!strncmp(v, "exit:", 5)) {
                o->savevm_kind = SAVEVM_AT_EXIT;
                n = v + 5;
            } else if (!strncmp(v, "event:", 6)) {
                o->savevm_kind = SAVEVM_AT_EVENT;
                n = v + 6;
            }
            char *end;
            o->savevm_at = strtoull(n, &end, 0);
            if (end == n || *end != ',' || !end[1] || (o->savevm_kind && !o->savevm_at))
                return err_out(err, errlen,
                               "bad -savevm-at '%s' (N,FILE, exit:K,FILE or event:K,FILE)", v);
            o->savevm_file = end + 1;
            o->savevm_at_set = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "-help")) {
            o->help = true;
        } else {
            return err_out(err, errlen, "unknown option '%s' (see nvmx -h)", argv[i]);
        }
#undef NEED_ARG
    }
    if (o->realtime && o->rtc_base_host) {
        /* the real-time option with base=utc: the host's date */
        o->rtc_start = (int64_t)time(NULL);
    }
    if (!serial_set)
        o->serial = nographic ? "stdio" : "stdio";
    if (o->loadvm && o->incoming)
        return err_out(err, errlen, "-loadvm and -incoming exclude each other%s", "");
    if (!o->kernel && !o->help && !o->loadvm && !o->incoming)
        return err_out(err, errlen, "no kernel given (use -kernel FILE, or -loadvm/-incoming)%s",
                       "");
    return 0;
}
