/* nvmx: command-line entry point. */
#include <stdio.h>
#include <stdlib.h>

#include "board/machine.h"
#include "board/options.h"
#include "migrate/snapshot.h"
#include "ui/monitor.h"
#include "vmm/run.h"

static void usage(FILE *out)
{
    fputs("usage: nvmx -kernel FILE [options]\n"
          "  -kernel FILE          multiboot kernel (ELF32/ELF64 with a multiboot header)\n"
          "                        or a Linux bzImage\n"
          "  -append STR           kernel command line\n"
          "  -initrd A[,B...]      multiboot modules (one initramfs for Linux)\n"
          "  -m SIZE               guest RAM (e.g. 512M, 1G; default 128M)\n"
          "  -smp N                number of vCPUs (APs wait for INIT-SIPI)\n"
          "  -cpu MODEL            CPU model (accepted: max, nvmx)\n"
          "  -rtc base=YYYY-MM-DD[THH:MM:SS]|utc[,clock=vm|host]  RTC start (default\n"
          "                        2026-01-01); clock=host paces idle time by the host\n"
          "  -no-acpi              no ACPI tables (the MP table stays)\n"
          "  -no-hpet              no HPET\n"
          "  -serial stdio|file:PATH|none\n"
          "  -nographic, -display none, -nodefaults, -no-reboot\n"
          "  -device isa-debug-exit,iobase=PORT,iosize=N\n"
          "  -d unimp,int,exec     logging;  -D FILE  log file\n"
          "  -stats                print VM-exit statistics at the end\n"
          "  -max-insns N          stop after N instructions\n"
          "  -vmx-test             L0 test mode (guest programs vmcs01 controls)\n"
          "  -loadvm FILE          start from a snapshot image\n"
          "  -savevm-at N,FILE     save a snapshot when N instructions have retired\n"
          "  -incoming URI         wait for a migration stream (unix:PATH, tcp:HOST:PORT, "
          "file:PATH)\n"
          "  -qmp unix:PATH,server=on,wait=off   QMP monitor on a unix socket\n"
          "  -S                    start paused (QMP cont starts the machine)\n"
          "exit status: (V<<1)|1 for isa-debug-exit writes of V; 2 usage error;\n"
          "4 triple fault; 6 all vCPUs halted; 8 internal error; 10 instruction limit\n",
          out);
}

int main(int argc, char **argv)
{
    struct machine_options opt;
    char err[512];
    if (parse_options(argc, argv, &opt, err, sizeof(err))) {
        fprintf(stderr, "nvmx: %s\n", err);
        return NVMX_EXIT_USAGE;
    }
    if (opt.help) {
        usage(stdout);
        return NVMX_EXIT_OK;
    }
    struct machine *m = calloc(1, sizeof(*m));
    if (!m) {
        fprintf(stderr, "nvmx: out of memory\n");
        return NVMX_EXIT_INTERNAL;
    }
    if (machine_create(m, &opt, err, sizeof(err))) {
        fprintf(stderr, "nvmx: %s\n", err);
        free(m);
        return NVMX_EXIT_USAGE;
    }
    if (opt.loadvm && snapshot_load_file(m, opt.loadvm, err, sizeof(err))) {
        fprintf(stderr, "nvmx: -loadvm %s\n", err);
        machine_destroy(m);
        free(m);
        return NVMX_EXIT_USAGE;
    }
    struct monitor *mon = monitor_create(m, err, sizeof(err));
    if (!mon) {
        fprintf(stderr, "nvmx: %s\n", err);
        machine_destroy(m);
        free(m);
        return NVMX_EXIT_USAGE;
    }
    /* -incoming: a bad or broken stream starts nothing */
    if (opt.incoming && monitor_incoming(mon, opt.incoming, err, sizeof(err))) {
        /* (QMP quit while waiting is not an error) */
        int st = m->state == MACHINE_RUNNING ? NVMX_EXIT_USAGE : m->exit_status;
        if (st)
            fprintf(stderr, "nvmx: %s\n", err);
        monitor_destroy(mon);
        machine_destroy(m);
        free(m);
        return st;
    }
    monitor_start(mon);
    int status = m->state == MACHINE_RUNNING ? vmm_run(m) : m->exit_status;
    fflush(stdout);
    if (opt.stats)
        vmm_print_stats(m, stderr);
    monitor_destroy(mon);
    machine_destroy(m);
    free(m);
    return status;
}
