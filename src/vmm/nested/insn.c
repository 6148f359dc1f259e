/* L1's VMX instructions, emulated by L0 (SDM Vol. 3C chapter 31 "VMX
 * Instruction Reference", the Operation sections). In VMX non-root
 * operation the hardware exits on all of them unconditionally (SDM 26.1.2)
 * after its own #UD checks; L0 performs the remaining checks in the order
 * of the SDM pseudocode against L1's view of the processor (vmcs01's guest
 * state and read shadows), reads memory operands with the CPU's own
 * segmentation and paging (cpu_access_guest_memory, BRIEF decision 7), and
 * reports success or failure in RFLAGS and the VM-instruction error field
 * of the current vmcs12 (SDM 31.2). */
#include <string.h>

#include "board/machine.h"
#include "cpu/cpu_internal.h"
#include "cpu/ept.h"
#include "cpu/vmx.h"
#include "nested.h"
#include "vmm/vmcs01.h"

struct l1 {
    struct machine *m;
    int index;
    struct cpu *cpu;
    struct vmcs *v01;
    struct nested_vcpu *n;
};

static int l1_cpl(const struct l1 *c)
{
    return (int)((vmcs_get(c->v01, VI_GUEST_SS_ACCESS_RIGHTS) >> 5) & 3);
}

static bool l1_long64(const struct l1 *c)
{
    return (vmcs_get(c->v01, VI_VM_ENTRY_CONTROLS) & ENTRY_CTL_IA32E_MODE_GUEST) &&
           (vmcs_get(c->v01, VI_GUEST_CS_ACCESS_RIGHTS) & 0x2000);
}

/* The #UD conditions common to the VMX instructions (CR0.PE = 0,
 * RFLAGS.VM = 1, compatibility mode) */
static bool l1_ud_mode(const struct l1 *c)
{
    bool lma = vmcs_get(c->v01, VI_VM_ENTRY_CONTROLS) & ENTRY_CTL_IA32E_MODE_GUEST;
    return !(vmcs_get(c->v01, VI_GUEST_CR0) & CR0_PE) ||
           (vmcs_get(c->v01, VI_GUEST_RFLAGS) & (1ull << 17)) || (lma && !l1_long64(c));
}

static uint64_t l1_reg(const struct l1 *c, int r)
{
    return r == R_RSP ? vmcs_get(c->v01, VI_GUEST_RSP) : c->cpu->regs[r];
}

static void l1_set_reg(struct l1 *c, int r, uint64_t v)
{
    if (r == R_RSP)
        vmcs_set(c->v01, VI_GUEST_RSP, v);
    else
        c->cpu->regs[r] = v;
}

static void inject(struct l1 *c, int vector, bool has_err, uint32_t err)
{
    events_queue_exception(&c->m->events[c->index], vector, has_err, err);
}

/* SDM 31.2 conventions */
static void set_flags(struct l1 *c, uint64_t set)
{
    uint64_t f = vmcs_get(c->v01, VI_GUEST_RFLAGS) & ~FL_ARITH;
    vmcs_set(c->v01, VI_GUEST_RFLAGS, f | set);
    vmcs_skip_instruction(c->v01);
}

static void vm_succeed(struct l1 *c)
{
    set_flags(c, 0);
}

static void vm_fail_invalid(struct l1 *c)
{
    set_flags(c, FL_CF);
}

static void vm_fail_valid(struct l1 *c, int err)
{
    vmcs_set(&c->n->vmcs12, VI_VM_INSTRUCTION_ERROR, (uint64_t)err);
    set_flags(c, FL_ZF);
}

static void vm_fail(struct l1 *c, int err)
{
    if (c->n->current_ptr != ~0ull)
        vm_fail_valid(c, err);
    else
        vm_fail_invalid(c);
}

/* The memory operand described by the exit's instruction information and
 * qualification (SDM 28.2.1 Table 28-1, 28.2.5 Tables 28-9/-13/-14):
 * segment and offset. */
static void operand_address(const struct l1 *c, int *seg, uint64_t *off)
{
    uint32_t info = (uint32_t)vmcs_get(c->v01, VI_VM_EXIT_INSTRUCTION_INFO);
    uint64_t a = vmcs_get(c->v01, VI_EXIT_QUALIFICATION);
    if (!(info & (1u << 27)))
        a += l1_reg(c, (int)((info >> 23) & 15));
    if (!(info & (1u << 22)))
        a += l1_reg(c, (int)((info >> 18) & 15)) << (info & 3);
    switch ((info >> 7) & 7) {
    case 0:
        a &= 0xffff;
        break;
    case 1:
        a &= 0xffffffffull;
        break;
    default:
        break;
    }
    *seg = (int)((info >> 15) & 7);
    *off = a;
}

/* Reads or writes the instruction's memory operand. Returns false when an
 * exception was queued for L1 (the instruction then does nothing else).
 * An operand in guest-physical space that is not RAM reads as all ones and
 * ignores writes (nvmx's choice: open bus). */
static bool operand_rw(struct l1 *c, void *buf, int len, bool write)
{
    int seg;
    uint64_t off;
    operand_address(c, &seg, &off);
    struct cpu_event fault;
    uint64_t cr2 = 0;
    int r = cpu_access_guest_memory(c->cpu, seg, off, buf, len, write, &fault, &cr2);
    if (r == -1) {
        int vec = (int)(fault.info & 0xff);
        if (vec == EXC_PF)
            c->cpu->cr2 = cr2;
        inject(c, vec, (fault.info & INTR_INFO_ERRCODE) != 0, fault.error_code);
        return false;
    }
    if (r == -2 && !write)
        memset(buf, 0xff, (size_t)len);
    return true;
}

static bool read_u64(struct l1 *c, uint64_t *v)
{
    return operand_rw(c, v, 8, false);
}

/* A VMCS/VMXON region address: 4 KiB aligned, within the physical-address
 * width (SDM 31.3, VMCLEAR/VMPTRLD/VMXON) */
static bool region_addr_ok(uint64_t a)
{
    return !(a & 0xfff) && !(a & ~PHYS_MASK);
}

/* Writes the cached vmcs12 back to L1 memory (BRIEF decision 1). */
static void flush_current(struct l1 *c)
{
    if (c->n->current_ptr != ~0ull)
        vmcs12_store(c->m, c->n->current_ptr, &c->n->vmcs12);
}

static void do_vmxon(struct l1 *c)
{
    struct nested_vcpu *n = c->n;
    uint64_t cr4_view =
        (vmcs_get(c->v01, VI_GUEST_CR4) & ~vmcs_get(c->v01, VI_CR4_GUEST_HOST_MASK)) |
        (vmcs_get(c->v01, VI_CR4_READ_SHADOW) & vmcs_get(c->v01, VI_CR4_GUEST_HOST_MASK));
    if (l1_ud_mode(c) || !(cr4_view & CR4_VMXE)) {
        inject(c, EXC_UD, false, 0);
        return;
    }
    if (n->vmxon) {
        if (l1_cpl(c) > 0)
            inject(c, EXC_GP, true, 0);
        else
            vm_fail(c, VMXERR_15); /* VMXON executed in VMX root operation */
        return;
    }
    struct vmx_caps caps;
    nested_caps_get(&caps);
    uint64_t cr0 = vmcs_get(c->v01, VI_GUEST_CR0);
    /* SDM 31.3 VMXON: CPL, the fixed CR0/CR4 bits (SDM A.7, A.8) as L1
     * sees them, and IA32_FEATURE_CONTROL's lock and enable bits */
    if (l1_cpl(c) > 0 || (cr0 & caps.cr0_fixed0) != caps.cr0_fixed0 ||
        (cr0 & ~caps.cr0_fixed1 & 0xffffffffull) ||
        (cr4_view & caps.cr4_fixed0) != caps.cr4_fixed0 || (cr4_view & ~caps.cr4_fixed1) ||
        (n->feature_control & 5) != 5) {
        inject(c, EXC_GP, true, 0);
        return;
    }
    uint64_t ptr;
    if (!read_u64(c, &ptr))
        return;
    uint32_t rev = 0xffffffffu;
    if (region_addr_ok(ptr)) {
        const uint8_t *p = physmem_guest_ptr(&c->m->mem, ptr, 4);
        if (p)
            memcpy(&rev, p, 4);
    }
    if (!region_addr_ok(ptr) || rev != VMCS12_REVISION) {
        vm_fail_invalid(c);
        return;
    }
    n->vmxon = true;
    n->vmxon_ptr = ptr;
    n->current_ptr = ~0ull;
    vm_succeed(c);
}

/* The checks shared by the instructions other than VMXON: #UD outside VMX
 * operation and in the wrong modes, #GP(0) at CPL > 0. */
static bool root_checks(struct l1 *c)
{
    if (!c->n->vmxon || l1_ud_mode(c)) {
        inject(c, EXC_UD, false, 0);
        return false;
    }
    if (l1_cpl(c) > 0) {
        inject(c, EXC_GP, true, 0);
        return false;
    }
    return true;
}

static void do_vmxoff(struct l1 *c)
{
    if (!root_checks(c))
        return;
    /* the cached vmcs12 is written back, as by KVM (software should have
     * executed VMCLEAR; SDM 25.11.3) */
    flush_current(c);
    c->n->vmxon = false;
    c->n->current_ptr = ~0ull;
    vm_succeed(c);
}

static void do_vmclear(struct l1 *c)
{
    if (!root_checks(c))
        return;
    uint64_t ptr;
    if (!read_u64(c, &ptr))
        return;
    if (!region_addr_ok(ptr)) {
        vm_fail(c, VMXERR_2);
        return;
    }
    if (ptr == c->n->vmxon_ptr) {
        vm_fail(c, VMXERR_3);
        return;
    }
    if (ptr == c->n->current_ptr) {
        c->n->vmcs12.launched = false;
        flush_current(c);
        c->n->current_ptr = ~0ull;
    } else {
        vmcs12_set_launch_state(c->m, ptr, false); /* not RAM: nothing to clear */
    }
    vm_succeed(c);
}

static void do_vmptrld(struct l1 *c)
{
    if (!root_checks(c))
        return;
    uint64_t ptr;
    if (!read_u64(c, &ptr))
        return;
    /* a region outside L1's RAM is an invalid physical address (nvmx) */
    if (!region_addr_ok(ptr) || !physmem_guest_ptr(&c->m->mem, ptr, 4096)) {
        vm_fail(c, VMXERR_9);
        return;
    }
    if (ptr == c->n->vmxon_ptr) {
        vm_fail(c, VMXERR_10);
        return;
    }
    uint32_t rev;
    memcpy(&rev, physmem_guest_ptr(&c->m->mem, ptr, 4), 4);
    /* bit 31 set: a shadow VMCS, which needs VMCS shadowing (not offered) */
    if (rev != VMCS12_REVISION) {
        vm_fail(c, VMXERR_11);
        return;
    }
    if (ptr != c->n->current_ptr) {
        flush_current(c);
        vmcs12_load(c->m, ptr, &c->n->vmcs12);
        c->n->current_ptr = ptr;
    }
    vm_succeed(c);
}

static void do_vmptrst(struct l1 *c)
{
    if (!root_checks(c))
        return;
    uint64_t ptr = c->n->current_ptr;
    if (!operand_rw(c, &ptr, 8, true))
        return;
    vm_succeed(c);
}

static void do_vmread_vmwrite(struct l1 *c, bool write)
{
    if (!root_checks(c))
        return;
    if (c->n->current_ptr == ~0ull) {
        vm_fail_invalid(c);
        return;
    }
    uint32_t info = (uint32_t)vmcs_get(c->v01, VI_VM_EXIT_INSTRUCTION_INFO);
    bool long64 = l1_long64(c);
    int size = long64 ? 8 : 4;
    uint64_t enc = l1_reg(c, (int)((info >> 28) & 15));
    if (!long64)
        enc &= 0xffffffffull;
    bool reg_operand = info & (1u << 10);
    int reg1 = (int)((info >> 3) & 15);
    if (write) {
        uint64_t val = 0;
        if (reg_operand)
            val = l1_reg(c, reg1);
        else if (!operand_rw(c, &val, size, false))
            return;
        if (!long64)
            val &= 0xffffffffull;
        int err = vmcs_write_encoded(&c->n->vmcs12, enc, val, false);
        if (err) {
            vm_fail_valid(c, err);
            return;
        }
    } else {
        uint64_t val;
        int err = vmcs_read_encoded(&c->n->vmcs12, enc, &val);
        if (err) {
            vm_fail_valid(c, err);
            return;
        }
        if (!long64)
            val &= 0xffffffffull;
        if (reg_operand)
            l1_set_reg(c, reg1, val);
        else if (!operand_rw(c, &val, size, true))
            return;
    }
    vm_succeed(c);
}

static void do_vmlaunch(struct l1 *c, bool launch)
{
    if (!root_checks(c))
        return;
    if (c->n->current_ptr == ~0ull) {
        vm_fail_invalid(c);
        return;
    }
    /* SDM 31.3 VMLAUNCH/VMRESUME: blocking by MOV SS, then the launch state */
    if (vmcs_get(c->v01, VI_GUEST_INTERRUPTIBILITY_STATE) & INTR_STATE_MOV_SS) {
        vm_fail_valid(c, VMXERR_26);
        return;
    }
    if (launch && c->n->vmcs12.launched) {
        vm_fail_valid(c, VMXERR_4);
        return;
    }
    if (!launch && !c->n->vmcs12.launched) {
        vm_fail_valid(c, VMXERR_5);
        return;
    }
    nested_vm_entry(c->m, c->index);
}

static bool canonical(uint64_t a)
{
    return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

static void do_invept_invvpid(struct l1 *c, bool ept)
{
    if (!root_checks(c))
        return;
    uint32_t info = (uint32_t)vmcs_get(c->v01, VI_VM_EXIT_INSTRUCTION_INFO);
    uint64_t type = l1_reg(c, (int)((info >> 28) & 15));
    if (!l1_long64(c))
        type &= 0xffffffffull;
    struct vmx_caps caps;
    nested_caps_get(&caps);
    /* supported types: INVEPT bits 25 (single) and 26 (all) of
     * IA32_VMX_EPT_VPID_CAP; INVVPID bits 40-43 (SDM A.10) */
    bool supported = ept ? (type == 1 && (caps.ept_vpid_cap & (1ull << 25))) ||
                               (type == 2 && (caps.ept_vpid_cap & (1ull << 26)))
                         : type <= 3 && (caps.ept_vpid_cap & (1ull << (40 + type)));
    if (!supported) {
        vm_fail(c, VMXERR_28);
        return;
    }
    uint64_t desc[2];
    if (!operand_rw(c, desc, 16, false))
        return;
    if (ept) {
        if (type == 1 && !ept_eptp_valid(desc[0], false)) {
            vm_fail(c, VMXERR_28);
            return;
        }
        /* EPT02 shadows L1's EPT12: any invalidation drops it */
        ept02_reset(c->m, c->index);
    } else {
        uint16_t vpid = (uint16_t)desc[0];
        if ((desc[0] >> 16) || (type != 2 && vpid == 0) || (type == 0 && !canonical(desc[1]))) {
            vm_fail(c, VMXERR_28);
            return;
        }
    }
    /* vmcs02's translations are tagged apart from L1's and flushed on
     * every switch (the hardware TLB is not tagged): nothing to keep */
    cpu_invvpid(c->cpu, 2);
    vm_succeed(c);
}

static void do_vmcall(struct l1 *c)
{
    if (!c->n->vmxon || (vmcs_get(c->v01, VI_GUEST_RFLAGS) & (1ull << 17)) ||
        ((vmcs_get(c->v01, VI_VM_ENTRY_CONTROLS) & ENTRY_CTL_IA32E_MODE_GUEST) && !l1_long64(c))) {
        inject(c, EXC_UD, false, 0);
        return;
    }
    if (l1_cpl(c) > 0) {
        inject(c, EXC_GP, true, 0);
        return;
    }
    /* no SMM dual-monitor treatment: VMCALL in VMX root operation fails */
    vm_fail(c, VMXERR_1);
}

void nested_vmx_instruction(struct machine *m, int cpu_index, uint32_t reason)
{
    struct l1 c = {m, cpu_index, m->cpus[cpu_index], m->vmcs01[cpu_index], m->nested[cpu_index]};
    if (!nested_enabled(m) && reason != EXIT_REASON_GETSEC) {
        inject(&c, EXC_UD, false, 0); /* VMX is not offered */
        return;
    }
    switch (reason) {
    case EXIT_REASON_VMXON:
        do_vmxon(&c);
        break;
    case EXIT_REASON_VMXOFF:
        do_vmxoff(&c);
        break;
    case EXIT_REASON_VMCLEAR:
        do_vmclear(&c);
        break;
    case EXIT_REASON_VMPTRLD:
        do_vmptrld(&c);
        break;
    case EXIT_REASON_VMPTRST:
        do_vmptrst(&c);
        break;
    case EXIT_REASON_VMREAD:
        do_vmread_vmwrite(&c, false);
        break;
    case EXIT_REASON_VMWRITE:
        do_vmread_vmwrite(&c, true);
        break;
    case EXIT_REASON_VMLAUNCH:
        do_vmlaunch(&c, true);
        break;
    case EXIT_REASON_VMRESUME:
        do_vmlaunch(&c, false);
        break;
    case EXIT_REASON_INVEPT:
        do_invept_invvpid(&c, true);
        break;
    case EXIT_REASON_INVVPID:
        do_invept_invvpid(&c, false);
        break;
    case EXIT_REASON_VMCALL:
        do_vmcall(&c);
        break;
    default: /* GETSEC: SMX is not supported (CR4.SMXE cannot be set) */
        inject(&c, EXC_UD, false, 0);
        break;
    }
}
