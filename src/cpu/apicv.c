/* APIC virtualization and virtual interrupts (SDM Vol. 3C chapter 30;
 * chapter 29 in the SDM before 2023, which older comments cite): the
 * virtual-APIC page and the guest interrupt status (RVI/SVI) driven by
 * the controls "use TPR shadow", "virtualize x2APIC mode", "APIC-register
 * virtualization", "virtual-interrupt delivery" and "process posted
 * interrupts".
 *
 * Every address used here is a physical address from the VMCS (the
 * virtual-APIC page, the posted-interrupt descriptor) accessed through
 * phys_read/phys_write, which never reach host memory outside the arena;
 * VM entry has checked that both are RAM (vmx_checks.c).
 *
 * The processor has no local APIC of its own (L0 emulates it), so the
 * accesses that the SDM says "operate normally" are the ones the MSR
 * bitmap or the APIC-access page hand to L0 by VM exits. */
#include "cpu_internal.h"

/* Virtual-APIC page offsets (SDM 30.1, the xAPIC register layout) */
#define VAPIC_TPR 0x80
#define VAPIC_PPR 0xa0
#define VAPIC_EOI 0xb0
#define VAPIC_ISR 0x100
#define VAPIC_IRR 0x200
#define VAPIC_ICR_LO 0x300
#define VAPIC_SELF_IPI 0x3f0

static uint32_t vapic_read(struct cpu *cpu, uint32_t off)
{
    return (uint32_t)phys_read(cpu, cpu->ctl.virtual_apic + off, 4);
}

static void vapic_write(struct cpu *cpu, uint32_t off, uint32_t v)
{
    phys_write(cpu, cpu->ctl.virtual_apic + off, 4, v);
}

/* VIRR / VISR: 256 bits, 32 per 16-byte register (SDM 30.1.1) */
static void vec_set(struct cpu *cpu, uint32_t base, uint8_t vec, bool on)
{
    uint32_t off = base + (vec / 32u) * 16u;
    uint32_t v = vapic_read(cpu, off);
    v = on ? v | (1u << (vec % 32)) : v & ~(1u << (vec % 32));
    vapic_write(cpu, off, v);
}

/* The highest vector set in VIRR or VISR, or 0 when none is. */
static uint8_t vec_highest(struct cpu *cpu, uint32_t base)
{
    for (int i = 7; i >= 0; i--) {
        uint32_t v = vapic_read(cpu, base + (uint32_t)i * 16u);
        if (v)
            return (uint8_t)(i * 32 + 31 - __builtin_clz(v));
    }
    return 0;
}

static uint8_t rvi(const struct cpu *cpu)
{
    return (uint8_t)cpu->guest_intr_status;
}

static uint8_t svi(const struct cpu *cpu)
{
    return (uint8_t)(cpu->guest_intr_status >> 8);
}

static void set_rvi(struct cpu *cpu, uint8_t v)
{
    cpu->guest_intr_status = (uint16_t)((cpu->guest_intr_status & 0xff00) | v);
}

static void set_svi(struct cpu *cpu, uint8_t v)
{
    cpu->guest_intr_status = (uint16_t)((cpu->guest_intr_status & 0x00ff) | (v << 8));
}

static bool vid_on(const struct cpu *cpu)
{
    return cpu->ctl.proc2 & PROC2_VIRTUAL_INTERRUPT_DELIVERY;
}

/* A trap-like VM exit (TPR below threshold, EOI-induced, APIC-write): the
 * instruction completes and the exit follows it (cpu_run performs it). */
static void trap_exit(struct cpu *cpu, uint32_t reason, uint64_t qual)
{
    if (cpu->rs && !cpu->rs->trap_exit_reason) {
        cpu->rs->trap_exit_reason = reason;
        cpu->rs->trap_exit_qual = qual;
        cpu_kick(cpu);
    }
}

/* PPR virtualization (SDM 30.1.3) */
static void ppr_virtualize(struct cpu *cpu)
{
    uint32_t vtpr = vapic_read(cpu, VAPIC_TPR);
    uint32_t ppr = ((vtpr >> 4) & 0xf) >= (uint32_t)(svi(cpu) >> 4) ? vtpr & 0xff : svi(cpu) & 0xf0;
    vapic_write(cpu, VAPIC_PPR, ppr);
}

/* Evaluation of pending virtual interrupts (SDM 30.2.1): a virtual
 * interrupt is recognized when RVI[7:4] > VPPR[7:4]. */
static void evaluate(struct cpu *cpu)
{
    cpu->vintr_pending = (rvi(cpu) >> 4) > ((vapic_read(cpu, VAPIC_PPR) >> 4) & 0xf);
    if (cpu->vintr_pending && cpu->rs)
        cpu_kick(cpu); /* delivery is checked at the next boundary */
}

void apicv_vmentry(struct cpu *cpu)
{
    /* SDM 27.3.2.5: with virtual-interrupt delivery, RVI/SVI come from
     * the guest interrupt status; PPR virtualization and an evaluation of
     * pending virtual interrupts follow */
    cpu->vintr_pending = false;
    cpu->tpr_exit_at_entry = false;
    if (vid_on(cpu)) {
        ppr_virtualize(cpu);
        evaluate(cpu);
    } else if ((cpu->ctl.proc & PROC_USE_TPR_SHADOW) &&
               ((vapic_read(cpu, VAPIC_TPR) >> 4) & 0xf) < (cpu->ctl.tpr_threshold & 0xf)) {
        /* SDM 27.7.7: a TPR-below-threshold VM exit right after VM entry
         * (possible only with "virtualize APIC accesses": otherwise the
         * entry checks refuse such a threshold); cpu_run takes it after
         * the injected event, before any instruction */
        cpu->tpr_exit_at_entry = true;
    }
}

/* TPR virtualization (SDM 30.1.2), after VTPR was written. */
void apicv_tpr_written(struct cpu *cpu)
{
    if (vid_on(cpu)) {
        ppr_virtualize(cpu);
        evaluate(cpu);
    } else if (((vapic_read(cpu, VAPIC_TPR) >> 4) & 0xf) < (cpu->ctl.tpr_threshold & 0xf)) {
        trap_exit(cpu, EXIT_REASON_TPR_BELOW_THRESHOLD, 0);
    }
}

/* EOI virtualization (SDM 30.1.4) */
static void eoi_virtualize(struct cpu *cpu)
{
    uint8_t vec = svi(cpu);
    vec_set(cpu, VAPIC_ISR, vec, false);
    set_svi(cpu, vec_highest(cpu, VAPIC_ISR));
    ppr_virtualize(cpu);
    if ((cpu->ctl.eoi_exit[vec / 64] >> (vec % 64)) & 1)
        trap_exit(cpu, EXIT_REASON_VIRTUALIZED_EOI, vec);
    else
        evaluate(cpu);
}

/* Self-IPI virtualization (SDM 30.1.5) */
static void self_ipi_virtualize(struct cpu *cpu, uint8_t vec)
{
    vec_set(cpu, VAPIC_IRR, vec, true);
    if (vec > rvi(cpu))
        set_rvi(cpu, vec);
    evaluate(cpu);
}

/* Virtual-interrupt delivery (SDM 30.2.2): called at an instruction
 * boundary when a virtual interrupt is recognized, RFLAGS.IF = 1, there is
 * no blocking by STI or MOV SS and "interrupt-window exiting" is 0. */
void apicv_deliver(struct cpu *cpu)
{
    uint8_t vec = rvi(cpu);
    vec_set(cpu, VAPIC_ISR, vec, true);
    set_svi(cpu, vec);
    vapic_write(cpu, VAPIC_PPR, vec & 0xf0);
    vec_set(cpu, VAPIC_IRR, vec, false);
    set_rvi(cpu, vec_highest(cpu, VAPIC_IRR));
    cpu->vintr_pending = false;      /* recognition ceases until the next evaluation */
    cpu->activity = ACTIVITY_ACTIVE; /* a virtual interrupt ends HLT */
    deliver_event(cpu, vec, INTR_TYPE_EXT_INTR, false, 0, cpu->rip);
}

/* Posted-interrupt processing (SDM 30.6), for an external interrupt with
 * the notification vector: ON (descriptor bit 256) is cleared, the PIR
 * (bits 255:0) is moved into VIRR, RVI is raised to the highest posted
 * vector, and pending virtual interrupts are evaluated. */
void apicv_process_posted(struct cpu *cpu)
{
    uint64_t d = cpu->ctl.pi_desc;
    phys_write(cpu, d + 32, 1, phys_read(cpu, d + 32, 1) & ~1ull);
    int hi = -1;
    for (uint32_t i = 0; i < 8; i++) {
        uint32_t pir = (uint32_t)phys_read(cpu, d + i * 4, 4);
        if (!pir)
            continue;
        phys_write(cpu, d + i * 4, 4, 0);
        vapic_write(cpu, VAPIC_IRR + i * 16, vapic_read(cpu, VAPIC_IRR + i * 16) | pir);
        hi = (int)(i * 32 + 31 - (uint32_t)__builtin_clz(pir));
    }
    if (hi > rvi(cpu))
        set_rvi(cpu, (uint8_t)hi);
    evaluate(cpu);
}

/* ---- x2APIC MSRs (SDM 30.5) ---- */

/* The x2APIC MSRs that RDMSR reads from the virtual-APIC page with
 * "APIC-register virtualization" (SDM 30.5): ID, version, TPR, PPR, LDR,
 * SVR, ISR, TMR, IRR, ESR, LVT CMCI, ICR, the other LVTs, the timer's
 * initial count and divide configuration. */
static bool x2apic_read_virtualized(uint32_t idx)
{
    uint32_t r = idx & 0xff;
    return r == 0x02 || r == 0x03 || r == 0x08 || r == 0x0a || r == 0x0d || r == 0x0f ||
           (r >= 0x10 && r <= 0x28) || r == 0x2f || r == 0x30 || (r >= 0x32 && r <= 0x38) ||
           r == 0x3e;
}

bool apicv_rdmsr(struct cpu *cpu, uint32_t idx, uint64_t *val)
{
    if (!(cpu->ctl.proc2 & PROC2_VIRTUALIZE_X2APIC_MODE) || (idx >> 8) != 0x8)
        return false;
    bool arv = cpu->ctl.proc2 & PROC2_APIC_REGISTER_VIRTUALIZATION;
    if (arv ? !x2apic_read_virtualized(idx) : idx != 0x808)
        return false;
    /* the 8 bytes at offset (ECX & FFH) << 4 */
    *val = phys_read(cpu, cpu->ctl.virtual_apic + ((idx & 0xff) << 4), 8);
    return true;
}

bool apicv_wrmsr(struct cpu *cpu, uint32_t idx, uint64_t v)
{
    if (!(cpu->ctl.proc2 & PROC2_VIRTUALIZE_X2APIC_MODE) || (idx >> 8) != 0x8)
        return false;
    switch (idx) {
    case 0x808: /* TPR: bits 63:8 reserved */
        if (v >> 8)
            raise_gp0(cpu);
        phys_write(cpu, cpu->ctl.virtual_apic + VAPIC_TPR, 8, v);
        apicv_tpr_written(cpu);
        return true;
    case 0x80b: /* EOI: the value must be 0 */
        if (!vid_on(cpu))
            return false;
        if (v)
            raise_gp0(cpu);
        eoi_virtualize(cpu);
        return true;
    case 0x83f: /* SELF IPI: bits 63:8 reserved */
        if (!vid_on(cpu))
            return false;
        if (v >> 8)
            raise_gp0(cpu);
        phys_write(cpu, cpu->ctl.virtual_apic + VAPIC_SELF_IPI, 8, v);
        /* vectors 0-15 are illegal for a fixed IPI: L0 emulates the
         * write (APIC-write VM exit) */
        if (v >= 16)
            self_ipi_virtualize(cpu, (uint8_t)v);
        else
            trap_exit(cpu, EXIT_REASON_APIC_WRITE, VAPIC_SELF_IPI);
        return true;
    default:
        return false;
    }
}

/* ---- the APIC-access page (SDM 30.4) ---- */

/* xAPIC registers whose reads are virtualized with "APIC-register
 * virtualization" (SDM 30.4.1): ID, version, TPR, PPR, EOI, LDR, DFR, SVR,
 * ISR, TMR, IRR, ESR, LVT CMCI, ICR, the other LVTs, the timer's initial
 * count and divide configuration. */
static bool xapic_read_virtualized(uint32_t reg)
{
    return reg == 0x20 || reg == 0x30 || reg == 0x80 || reg == 0xa0 || reg == 0xb0 || reg == 0xd0 ||
           reg == 0xe0 || reg == 0xf0 || (reg >= 0x100 && reg <= 0x280) || reg == 0x2f0 ||
           reg == 0x300 || reg == 0x310 || (reg >= 0x320 && reg <= 0x380) || reg == 0x3e0;
}

/* ... and whose writes are (SDM 30.4.3.1): ID, TPR, EOI, LDR, DFR, SVR,
 * ESR, LVT CMCI, ICR, the other LVTs, initial count, divide configuration */
static bool xapic_write_virtualized(uint32_t reg)
{
    return reg == 0x20 || reg == 0x80 || reg == 0xb0 || reg == 0xd0 || reg == 0xe0 || reg == 0xf0 ||
           reg == 0x280 || reg == 0x2f0 || reg == 0x300 || reg == 0x310 ||
           (reg >= 0x320 && reg <= 0x380) || reg == 0x3e0;
}

/* Only accesses within the low 32 bits of a 16-byte register are
 * virtualized; wider or misplaced ones exit (SDM 30.4.2, 30.4.3.1). */
static bool fits_register(uint32_t off, int size)
{
    return (off & 0xf) + (uint32_t)size <= 4;
}

uint64_t apicv_mem_read(struct cpu *cpu, uint32_t off, int size, uint64_t la)
{
    uint32_t reg = off & 0xff0;
    bool arv = cpu->ctl.proc2 & PROC2_APIC_REGISTER_VIRTUALIZATION;
    /* without APIC-register virtualization only VTPR is read (30.4.2) */
    if (!fits_register(off, size) || !(arv ? xapic_read_virtualized(reg) : reg == VAPIC_TPR))
        apic_access_vmexit(cpu, off, ACC_READ, la);
    return phys_read(cpu, cpu->ctl.virtual_apic + off, size);
}

/* Is VICR_LO a self-IPI that the processor virtualizes (SDM 30.4.3.2):
 * reserved bits 31:20, 17:16 and 13 clear, destination shorthand "self"
 * (bits 19:18 = 01), delivery mode fixed (bits 10:8 = 0), vector >= 16? */
static bool icr_self_ipi(uint32_t icr)
{
    return !(icr & 0xfff32000u) && ((icr >> 18) & 3) == 1 && !(icr & 0x700) && (icr & 0xf0);
}

void apicv_mem_write(struct cpu *cpu, uint32_t off, int size, uint64_t val, uint64_t la)
{
    uint32_t reg = off & 0xff0;
    bool arv = cpu->ctl.proc2 & PROC2_APIC_REGISTER_VIRTUALIZATION;
    bool vid = vid_on(cpu);
    bool ok = reg == VAPIC_TPR || (vid && (reg == VAPIC_EOI || reg == VAPIC_ICR_LO)) ||
              (arv && xapic_write_virtualized(reg));
    if (!fits_register(off, size) || !ok)
        apic_access_vmexit(cpu, off, ACC_WRITE, la);
    phys_write(cpu, cpu->ctl.virtual_apic + off, size, val);
    /* APIC-write emulation (SDM 30.4.3.2) */
    if (reg == VAPIC_TPR) {
        /* bytes 081H-083H are cleared, then TPR virtualization */
        vapic_write(cpu, VAPIC_TPR, vapic_read(cpu, VAPIC_TPR) & 0xff);
        apicv_tpr_written(cpu);
    } else if (vid && reg == VAPIC_EOI) {
        eoi_virtualize(cpu);
    } else if (vid && reg == VAPIC_ICR_LO && icr_self_ipi(vapic_read(cpu, VAPIC_ICR_LO))) {
        self_ipi_virtualize(cpu, (uint8_t)vapic_read(cpu, VAPIC_ICR_LO));
    } else {
        /* everything else is emulated by L0: a trap-like APIC-write VM
         * exit with the page offset of the write */
        trap_exit(cpu, EXIT_REASON_APIC_WRITE, off & 0xfff);
    }
}
