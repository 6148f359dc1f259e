/* The PC board: guest RAM, the vCPUs, the I/O buses and the devices, plus the
 * options they were created with. Everything mutable lives here (no globals),
 * so several machines can exist in one process. */
#ifndef NVMX_BOARD_MACHINE_H
#define NVMX_BOARD_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cpu/cpu.h"
#include "dev/iobus.h"
#include "vmm/events.h"

#define MACHINE_MAX_CPUS 64

struct uart16550;
struct fw_cfg;
struct debug_exit;
struct vmcs;
struct nested_vcpu;
struct platform;

struct machine_options {
    const char *kernel;
    const char *append;
    const char *initrd; /* comma-separated module list */
    uint64_t ram_size;
    int smp;
    const char *serial; /* "stdio", "file:PATH", "none" */
    bool no_reboot;
    bool debug_exit; /* -device isa-debug-exit present */
    uint16_t debug_exit_port, debug_exit_size;
    uint32_t log_flags;   /* CPU_LOG_* from -d */
    const char *log_file; /* -D */
    bool stats;
    bool vmx_test;        /* L0 test mode: guests may program vmcs01 (see vmm/vmx_test.c) */
    const char *loadvm;   /* -loadvm FILE: start from a snapshot image */
    const char *incoming; /* -incoming URI: wait for a migration stream and resume it */
    const char *qmp;      /* -qmp unix:PATH,server=on,wait=off */
    /* -savevm-at: a snapshot when N instructions have retired (exactly), at
     * the K-th VM exit, or after the K-th exit that leaves an event queued */
    enum { SAVEVM_AT_INSN, SAVEVM_AT_EXIT, SAVEVM_AT_EVENT } savevm_kind;
    uint64_t savevm_at;
    const char *savevm_file;
    bool savevm_at_set;
    bool start_stopped;    /* -S */
    uint64_t max_insns;    /* 0 = unlimited */
    uint64_t quantum;      /* instructions per vCPU time slice */
    const char *cpu_model; /* -cpu */
    bool no_vmx;           /* -cpu ...,-vmx: VMX is not offered to the guest */
    int64_t rtc_start;     /* -rtc base: RTC time at power-on (seconds since 1970) */
    bool no_acpi;          /* -no-acpi: no ACPI tables (the MP table stays) */
    bool no_hpet;          /* -no-hpet: no HPET device or ACPI table */
    bool rtc_base_host;    /* -rtc base=utc|localtime */
    bool realtime;         /* -rtc clock=host: idle time paced by the host clock */
    bool help;
};

enum machine_state { MACHINE_RUNNING, MACHINE_EXITED, MACHINE_SHUTDOWN, MACHINE_ERROR };

/* L0's VMX test mode: controls a guest enabled are stepped over with MTF */
struct vmx_test_state {
    bool stepping;
    uint64_t base[8]; /* L0's own controls */
    uint64_t held[8]; /* the test's controls while an instruction is stepped */
    uint64_t last[5]; /* reason, qualification, instruction length, info, interruption info */
};

struct machine {
    struct machine_options opt;
    struct physmem mem;
    struct io_bus pio;  /* port I/O space */
    struct io_bus mmio; /* guest-physical MMIO space */
    struct cpu *cpus[MACHINE_MAX_CPUS];
    struct vmcs *vmcs01[MACHINE_MAX_CPUS]; /* L0's VMCS for each vCPU */
    int nr_cpus;
    struct uart16550 *uart;
    struct fw_cfg *fwcfg;
    struct debug_exit *dbgexit;
    struct platform *plat; /* interrupt controllers, timers, virtual clock (vmm/irq.h) */
    enum machine_state state;
    int exit_status; /* process exit status once state != RUNNING */
    FILE *log;
    uint64_t exit_counts[NR_EXIT_REASONS];
    struct vmx_test_state vmx_test[MACHINE_MAX_CPUS];
    struct event_queue events[MACHINE_MAX_CPUS]; /* per-vCPU event queue (vmm/events.h) */
    struct nested_vcpu *nested[MACHINE_MAX_CPUS]; /* nested VMX state (vmm/nested/) */
    int emul_cpu; /* vCPU whose instruction L0 is emulating (MMIO callbacks) */
    /* The run loop's position, saved in snapshots so that a restored run
     * resumes in the middle of the same time slice (BRIEF decision 6). */
    int sched_cpu;      /* the vCPU whose slice runs */
    uint64_t sched_end; /* icount at which its slice ends; 0 between slices */
    /* The monitor's hook (QMP, snapshots, migration: src/ui, src/migrate),
     * called by the run loop after every VM exit with the machine's total
     * retired instructions; it may stop the machine or block while it is
     * paused. stop_at (0: none) makes the run loop end a slice when the
     * total reaches it, so that the hook runs at that exact instant. */
    void (*poll)(struct machine *m, uint64_t insns);
    void *poll_opaque;
    uint64_t stop_at;
};

/* Instructions retired by all vCPUs since power-on (also across restores). */
static inline uint64_t machine_insns(const struct machine *m)
{
    uint64_t n = 0;
    for (int i = 0; i < m->nr_cpus; i++)
        n += m->cpus[i]->icount;
    return n;
}

/* Creates the board from the options and loads the kernel. Returns 0, or
 * -1 with a message in err. */
int machine_create(struct machine *m, const struct machine_options *opt, char *err, size_t errlen);
void machine_destroy(struct machine *m);

#endif
