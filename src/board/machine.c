/* Creating and destroying the PC board. */
#include "machine.h"
#include "vmm/nested/nested.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev/debug_exit.h"
#include "dev/fwcfg.h"
#include "dev/uart16550.h"
#include "firmware.h"
#include "multiboot.h"
#include "vmm/ept01.h"
#include "vmm/irq.h"
#include "vmm/vmcs01.h"
#include "vmm/vmx_test.h"

int machine_create(struct machine *m, const struct machine_options *opt, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->opt = *opt;
    if (m->opt.quantum == 0)
        m->opt.quantum = 100000;
    if (physmem_init(&m->mem, opt->ram_size)) {
        snprintf(err, errlen, "cannot allocate %llu bytes of guest RAM: %s",
                 (unsigned long long)opt->ram_size, strerror(errno));
        return -1;
    }
    m->log = stderr;
    if (opt->log_file) {
        m->log = fopen(opt->log_file, "w");
        if (!m->log) {
            snprintf(err, errlen, "cannot open log file '%s': %s", opt->log_file, strerror(errno));
            m->log = NULL;
            machine_destroy(m);
            return -1;
        }
    }
    /* EPT01: every guest runs with EPT, so that it can reach nothing but
     * its RAM and MMIO exits at the guest-physical address */
    uint64_t eptp = ept01_build(&m->mem);
    if (!eptp) {
        snprintf(err, errlen, "out of L0-private memory building EPT01");
        machine_destroy(m);
        return -1;
    }
    m->nr_cpus = opt->smp;
    for (int i = 0; i < m->nr_cpus; i++) {
        m->cpus[i] = cpu_create(&m->mem, i);
        if (!m->cpus[i]) {
            snprintf(err, errlen, "out of memory creating vCPU %d", i);
            machine_destroy(m);
            return -1;
        }
        struct cpu *c = m->cpus[i];
        c->log_flags = opt->log_flags;
        c->log = m->log;
        if (i > 0)
            c->activity = ACTIVITY_WAIT_SIPI; /* APs wait for INIT-SIPI-SIPI */
    }
    if (irq_create(m, err, errlen)) {
        machine_destroy(m);
        return -1;
    }
    m->uart = uart_create(opt->serial, err, errlen);
    if (!m->uart) {
        machine_destroy(m);
        return -1;
    }
    m->fwcfg = fwcfg_create(m->mem.ram_size, m->nr_cpus, opt->append);
    if (!m->fwcfg) {
        snprintf(err, errlen, "out of memory");
        machine_destroy(m);
        return -1;
    }
    int bad = iobus_register(&m->pio, 0x3f8, 8, &uart_ops, m->uart, "com1");
    bad |= iobus_register(&m->pio, 0x510, 2, &fwcfg_ops, m->fwcfg, "fw_cfg");
    if (opt->debug_exit) {
        m->dbgexit = calloc(1, sizeof(*m->dbgexit));
        if (!m->dbgexit)
            bad = -1;
        else
            bad |= iobus_register(&m->pio, opt->debug_exit_port, opt->debug_exit_size,
                                  &debug_exit_ops, m->dbgexit, "isa-debug-exit");
    }
    if (bad) {
        snprintf(err, errlen, "device configuration conflict (overlapping I/O ports)");
        machine_destroy(m);
        return -1;
    }
    /* without a kernel (-loadvm, -incoming) the image provides RAM and state */
    if (opt->kernel &&
        multiboot_load(&m->mem, m->cpus[0], opt->kernel, opt->append, opt->initrd, err, errlen)) {
        machine_destroy(m);
        return -1;
    }
    /* the MP and ACPI tables describe the CPUs and interrupt controllers */
    if (mptable_build(&m->mem, m->nr_cpus) ||
        (!opt->no_acpi && acpi_build(&m->mem, m->nr_cpus, !opt->no_hpet))) {
        snprintf(err, errlen, "firmware tables do not fit the BIOS area (%d vCPUs)", m->nr_cpus);
        machine_destroy(m);
        return -1;
    }
    /* vmcs01 of every vCPU starts from the state the loader left */
    for (int i = 0; i < m->nr_cpus; i++) {
        m->vmcs01[i] = calloc(1, sizeof(struct vmcs));
        if (!m->vmcs01[i] || vmcs01_init(m->vmcs01[i], m->cpus[i], &m->mem, eptp)) {
            snprintf(err, errlen, "out of memory creating vmcs01");
            machine_destroy(m);
            return -1;
        }
        vmx_test_init(m, i, m->vmcs01[i]);
        if (nested_vcpu_init(m, i)) {
            snprintf(err, errlen, "out of memory creating the nested VMX state");
            machine_destroy(m);
            return -1;
        }
    }
    m->state = MACHINE_RUNNING;
    return 0;
}

void machine_destroy(struct machine *m)
{
    for (int i = 0; i < m->nr_cpus; i++) {
        cpu_destroy(m->cpus[i]);
        free(m->vmcs01[i]);
        free(m->nested[i]);
    }
    irq_destroy(m);
    uart_destroy(m->uart);
    fwcfg_destroy(m->fwcfg);
    free(m->dbgexit);
    if (m->log && m->log != stderr)
        fclose(m->log);
    physmem_destroy(&m->mem);
    memset(m, 0, sizeof(*m));
}
