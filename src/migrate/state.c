/* The per-vCPU and device sections of machine images (state.h). */
#include "state.h"

#include <stdio.h>
#include <string.h>

#include "cpu/vmx_caps.h"

static void seg_fields(struct xf *x, struct segment *s)
{
    x_u16(x, &s->sel);
    x_u64(x, &s->base);
    x_u32(x, &s->limit);
    x_u32(x, &s->ar);
}

static void dt_fields(struct xf *x, struct dtable *d)
{
    x_u64(x, &d->base);
    x_u16(x, &d->limit);
}

static void event_fields(struct xf *x, struct cpu_event *e)
{
    x_u32(x, &e->info);
    x_u32(x, &e->error_code);
    x_u32(x, &e->instr_len);
}

static void exit_fields(struct xf *x, struct cpu_exit *e)
{
    x_u32(x, &e->reason);
    x_u64(x, &e->qualification);
    x_u64(x, &e->guest_linear);
    x_u64(x, &e->guest_physical);
    x_u32(x, &e->intr_info);
    x_u32(x, &e->intr_error);
    x_u32(x, &e->idt_vectoring_info);
    x_u32(x, &e->idt_vectoring_error);
    x_u32(x, &e->instr_len);
    x_u32(x, &e->instr_info);
}

/* The VM-execution controls the CPU cached at the last VM entry: the next
 * entry re-caches them, but compares the EPTP to decide on a TLB flush. */
static void ctl_fields(struct xf *x, struct cpu_controls *c)
{
    x_u32(x, &c->pin);
    x_u32(x, &c->proc);
    x_u32(x, &c->proc2);
    x_u64(x, &c->tsc_offset);
    x_u64(x, &c->tsc_multiplier);
    x_u64(x, &c->eptp);
    x_u64(x, &c->msr_bitmap);
    x_u32(x, &c->exit);
    x_u64(x, &c->virtual_apic);
    x_u64(x, &c->apic_access);
    x_u32(x, &c->tpr_threshold);
    x_u32(x, &c->ple_gap);
    x_u32(x, &c->ple_window);
    x_u16(x, &c->vpid);
    x_u32(x, &c->exception_bitmap);
    x_u64(x, &c->io_bitmap_a);
    x_u64(x, &c->io_bitmap_b);
    x_u64(x, &c->cr0_mask);
    x_u64(x, &c->cr0_shadow);
    x_u64(x, &c->cr4_mask);
    x_u64(x, &c->cr4_shadow);
    x_u32(x, &c->cr3_target_count);
    for (int i = 0; i < 4; i++)
        x_u64(x, &c->cr3_target[i]);
    x_u32(x, &c->pfec_mask);
    x_u32(x, &c->pfec_match);
}

static void fpu_fields(struct xf *x, struct fpu_state *f)
{
    x_u16(x, &f->fcw);
    x_u16(x, &f->fsw);
    x_u16(x, &f->ftw_abridged);
    x_u16(x, &f->fop);
    x_u64(x, &f->fip);
    x_u64(x, &f->fdp);
    x_bytes(x, f->st, sizeof(f->st));
    x_u32(x, &f->mxcsr);
    for (int i = 0; i < 16; i++) {
        x_u64(x, &f->xmm[i].q[0]);
        x_u64(x, &f->xmm[i].q[1]);
    }
    x_u16(x, &f->fcs);
    x_u16(x, &f->fds);
}

void cpu_state_fields(struct xf *x, struct cpu *c, struct cpu_tlb_state *tlb)
{
    if (!x_loading(x))
        cpu_get_rflags(c); /* the image holds architectural RFLAGS only */
    for (int i = 0; i < 16; i++)
        x_u64(x, &c->regs[i]);
    x_u64(x, &c->rip);
    x_u64(x, &c->rflags);
    for (int i = 0; i < NR_SEGS; i++)
        seg_fields(x, &c->seg[i]);
    dt_fields(x, &c->gdtr);
    dt_fields(x, &c->idtr);
    x_u64(x, &c->cr0);
    x_u64(x, &c->cr2);
    x_u64(x, &c->cr3);
    x_u64(x, &c->cr4);
    x_u64(x, &c->cr8);
    x_u64(x, &c->xcr0);
    for (int i = 0; i < 4; i++)
        x_u64(x, &c->pdpte[i]);
    for (int i = 0; i < 8; i++)
        x_u64(x, &c->dr[i]);
    x_u64(x, &c->debugctl);
    x_u64(x, &c->efer);
    x_u64(x, &c->star);
    x_u64(x, &c->lstar);
    x_u64(x, &c->cstar);
    x_u64(x, &c->fmask);
    x_u64(x, &c->kernel_gs_base);
    x_u64(x, &c->sysenter_cs);
    x_u64(x, &c->sysenter_esp);
    x_u64(x, &c->sysenter_eip);
    x_u64(x, &c->pat);
    x_u64(x, &c->tsc_aux);
    x_u64(x, &c->tsc_adjust);
    x_u64(x, &c->misc_enable);
    x_u64(x, &c->apic_base);
    x_u64(x, &c->spec_ctrl);
    fpu_fields(x, &c->fpu);
    x_bytes(x, c->xsave_hi, sizeof(c->xsave_hi));
    x_bool(x, &c->a20_enabled);
    x_u32(x, &c->interruptibility);
    x_u32(x, &c->activity);
    x_u64(x, &c->icount);
    x_u64(x, &c->tsc_base);
    x_u32(x, &c->tsc_per_insn);
    x_u64(x, &c->rng_state);
    x_int(x, &c->cpl);
    x_int(x, &c->mode);
    ctl_fields(x, &c->ctl);
    event_fields(x, &c->entry_event);
    exit_fields(x, &c->exit);
    x_bool(x, &c->ext_intr_pending);
    x_u8(x, &c->ext_intr_vector);
    x_bool(x, &c->nmi_pending);
    x_bool(x, &c->init_pending);
    x_u64(x, &c->ple_first);
    x_u64(x, &c->ple_last);
    x_bool(x, &c->sipi_pending);
    x_u8(x, &c->sipi_vector);
    if (x_loading(x))
        c->lf.op = 0; /* LF_NONE: RFLAGS is complete */
    for (unsigned i = 0; i < CPU_TLB_ENTRIES; i++) {
        struct cpu_tlb_state t, *e = tlb ? &tlb[i] : &t;
        if (!tlb)
            cpu_tlb_get(c, i, &t);
        x_u64(x, &e->vpage);
        x_u64(x, &e->ppage);
        x_u64(x, &e->lp_mask);
        x_u16(x, &e->pcid);
        x_u8(x, &e->global);
        x_u8(x, &e->perm);
    }
}

const char *cpu_state_check(const struct cpu *c, const struct cpu_tlb_state *tlb, char *msg,
                            size_t len)
{
    /* reserved RFLAGS bits: 1 must be set; 3, 5, 15, 63:22 clear (SDM 3.4.3) */
    if (!(c->rflags & 2) || (c->rflags & (0x8028ull | ~0x3fffffull)))
        return "reserved RFLAGS bits";
    for (int i = 0; i < NR_SEGS; i++)
        if (c->seg[i].ar & ~0x1f0ffu) {
            snprintf(msg, len, "reserved access-rights bits in segment %d", i);
            return msg;
        }
    if (c->cpl < 0 || c->cpl > 3)
        return "bad CPL";
    if (c->mode < CPU_MODE_REAL || c->mode > CPU_MODE_LONG64)
        return "bad mode";
    if (c->activity > ACTIVITY_WAIT_SIPI)
        return "bad activity state";
    if (c->interruptibility & ~0x1fu)
        return "reserved interruptibility bits";
    /* the x87/SSE state is loaded into the host FPU (x87.c): reserved MXCSR
     * bits would fault on the host */
    if (c->fpu.mxcsr & ~0xffffu)
        return "reserved MXCSR bits";
    if (c->fpu.ftw_abridged > 0xff || c->fpu.fop > 0x7ff)
        return "bad x87 tag word or opcode";
    for (int p = 0; p < 8; p++)
        for (int b = 10; b < 16; b++)
            if (c->fpu.st[p][b])
                return "x87 register with bytes beyond the 80-bit format";
    if ((c->dr[6] | c->dr[7]) >> 32)
        return "reserved DR6/DR7 bits"; /* SDM 18.2.4: bits 63:32 are reserved */
    if (!(c->xcr0 & 1) || (c->xcr0 & ~3ull))
        return "bad XCR0";
    if (c->efer & ~0xd01ull) /* SCE, LME, LMA, NXE */
        return "reserved EFER bits";
    if (c->tsc_per_insn == 0)
        return "zero TSC rate";
    for (unsigned i = 0; i < CPU_TLB_ENTRIES; i++) {
        const struct cpu_tlb_state *e = &tlb[i];
        if (e->global > 1 || e->pcid > 0xfff || (e->ppage & 0xfff) ||
            (e->vpage != UINT64_MAX && (e->vpage & (CPU_TLB_ENTRIES - 1)) != i)) {
            snprintf(msg, len, "malformed TLB entry %u", i);
            return msg;
        }
    }
    return NULL;
}

void vmcs_state_fields(struct xf *x, struct vmcs *v)
{
    x_u32(x, &v->revision_id);
    x_u32(x, &v->abort_indicator);
    x_bool(x, &v->launched);
    uint32_t n = NR_VMCS_FIELDS;
    x_u32(x, &n);
    for (int i = 0; i < NR_VMCS_FIELDS; i++) {
        uint32_t enc = vmcs_fields[i].encoding;
        x_u32(x, &enc);
        x_u64(x, &v->f[i]);
    }
}

const char *vmcs_state_load(struct xf *x, struct vmcs *v, char *msg, size_t len)
{
    bool seen[NR_VMCS_FIELDS] = {false};
    uint32_t n = 0;
    x_u32(x, &v->revision_id);
    x_u32(x, &v->abort_indicator);
    x_bool(x, &v->launched);
    x_u32(x, &n);
    if (x->r->bad)
        return "wrong length";
    if (n != NR_VMCS_FIELDS) {
        snprintf(msg, len, "%u VMCS fields, this nvmx has %d", n, NR_VMCS_FIELDS);
        return msg;
    }
    for (uint32_t k = 0; k < n; k++) {
        uint32_t enc = 0;
        uint64_t val = 0;
        x_u32(x, &enc);
        x_u64(x, &val);
        if (x->r->bad)
            return "wrong length";
        int i = vmcs_field_index(enc);
        if (i < 0 || seen[i]) {
            snprintf(msg, len, "%s VMCS field encoding %#x", i < 0 ? "unknown" : "duplicate", enc);
            return msg;
        }
        if (val & ~vmcs_field_mask((enum vmcs_index)i)) {
            snprintf(msg, len, "VMCS field %#x: value %#llx wider than the field", enc,
                     (unsigned long long)val);
            return msg;
        }
        seen[i] = true;
        v->f[i] = val;
    }
    return NULL;
}

const char *vmcs_state_check(const struct vmcs *v, const struct physmem *pm, char *msg, size_t len)
{
    if (v->revision_id != VMX_REVISION_ID)
        return "wrong VMCS revision identifier";
    if (v->abort_indicator)
        return "the VMCS is in the VMX-abort state";
    int e = vmx_check_controls(v, vmx_hw_caps(), pm);
    if (!e)
        e = vmx_check_host_state(v, vmx_hw_caps());
    if (e) {
        snprintf(msg, len,
                 "VM-entry checks of the controls/host state fail (VM-instruction error %d)", e);
        return msg;
    }
    int g = vmx_check_guest_state(v, vmx_hw_caps());
    if (g) {
        snprintf(msg, len, "VM-entry checks of the guest state fail (qualification %d)", g - 1);
        return msg;
    }
    return NULL;
}

static void qevent_fields(struct xf *x, struct queued_event *e)
{
    x_bool(x, &e->pending);
    x_bool(x, &e->injected);
    x_u8(x, &e->vector);
    x_u8(x, &e->type);
    x_bool(x, &e->has_error);
    x_u32(x, &e->error);
    x_u32(x, &e->instr_len);
}

void events_state_fields(struct xf *x, struct event_queue *q)
{
    qevent_fields(x, &q->exception);
    qevent_fields(x, &q->nmi);
    qevent_fields(x, &q->interrupt);
}

const char *events_state_check(const struct event_queue *q)
{
    const struct queued_event *e[3] = {&q->exception, &q->nmi, &q->interrupt};
    for (int i = 0; i < 3; i++) {
        if (e[i]->type > 7 || e[i]->instr_len > 15)
            return "bad event type or instruction length";
        if (e[i]->pending && e[i]->injected)
            return "an event both pending and injected";
    }
    return NULL;
}

void vmx_test_state_fields(struct xf *x, struct vmx_test_state *t)
{
    x_bool(x, &t->stepping);
    for (int i = 0; i < 8; i++)
        x_u64(x, &t->base[i]);
    for (int i = 0; i < 8; i++)
        x_u64(x, &t->held[i]);
    for (int i = 0; i < 5; i++)
        x_u64(x, &t->last[i]);
}

void uart_state_fields(struct xf *x, struct uart_regs *u)
{
    x_u8(x, &u->ier);
    x_u8(x, &u->iir_thri_pending);
    x_u8(x, &u->lcr);
    x_u8(x, &u->mcr);
    x_u8(x, &u->lsr);
    x_u8(x, &u->msr);
    x_u8(x, &u->scr);
    x_u8(x, &u->fcr);
    x_u16(x, &u->divisor);
    x_bytes(x, u->rx, sizeof(u->rx));
    x_int(x, &u->rx_head);
    x_int(x, &u->rx_count);
}
