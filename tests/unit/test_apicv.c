/* APIC virtualization in the CPU (SDM Vol. 3C chapter 30), driven through
 * a VMCS: virtualized x2APIC MSRs, APIC-register virtualization,
 * virtual-interrupt delivery with EOI/TPR/self-IPI virtualization, and
 * posted-interrupt processing. */
#include "cpu/vmx.h"
#include "cpu_testbench.h"
#include "unit.h"

#define IDT 0x10000ull
#define GDT 0x6000ull
#define HANDLER 0x210000ull /* every vector: the handler below */
#define VAPIC 0x9000ull
#define MSRBM 0xa000ull
#define PIDESC 0xb000ull

/* A little assembler for the guest code. */
struct code {
    uint8_t b[256];
    size_t n;
};

static void emit(struct code *c, const uint8_t *bytes, size_t n)
{
    memcpy(c->b + c->n, bytes, n);
    c->n += n;
}

static void emit_imm32(struct code *c, uint8_t op, uint32_t imm)
{
    uint8_t b[5] = {op, (uint8_t)imm, (uint8_t)(imm >> 8), (uint8_t)(imm >> 16),
                    (uint8_t)(imm >> 24)};
    emit(c, b, 5);
}

#define MOV_ECX(c, v) emit_imm32(c, 0xb9, v)
#define MOV_EAX(c, v) emit_imm32(c, 0xb8, v)
#define MOV_EDX(c, v) emit_imm32(c, 0xba, v)
static const uint8_t RDMSR[] = {0x0f, 0x32}, WRMSR[] = {0x0f, 0x30}, HLT[] = {0xf4};
static const uint8_t MOV_CR8_RAX[] = {0x44, 0x0f, 0x22, 0xc0};

static uint32_t rd32(struct testbench *tb, uint64_t gpa)
{
    uint32_t v = 0;
    physmem_read(&tb->pm, gpa, &v, 4);
    return v;
}

static void wr32(struct testbench *tb, uint64_t gpa, uint32_t v)
{
    physmem_write(&tb->pm, gpa, &v, 4);
}

/* IDT with 256 interrupt gates to HANDLER: "mov ecx, 0x80b; xor eax, eax;
 * xor edx, edx; wrmsr (virtual EOI); hlt". */
static void setup(struct testbench *tb, struct vmcs *v, const struct code *guest)
{
    struct cpu *c = tb->cpu;
    for (int i = 0; i < 256; i++) {
        uint64_t lo = (HANDLER & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
                      ((HANDLER >> 16) & 0xffff) << 48;
        tb_write64(tb, IDT + i * 16, lo);
        tb_write64(tb, IDT + i * 16 + 8, 0);
    }
    c->idtr.base = IDT;
    c->idtr.limit = 256 * 16 - 1;
    c->gdtr.base = GDT;
    c->gdtr.limit = 0x1f;
    tb_write64(tb, GDT + 8, 0x00209a0000000000ull);
    static const uint8_t h[] = {0xb9, 0x0b, 0x08, 0, 0, 0x31, 0xc0, 0x31, 0xd2, 0x0f, 0x30, 0xf4};
    physmem_write(&tb->pm, HANDLER, h, sizeof(h));
    static const uint8_t zero[4096];
    physmem_write(&tb->pm, VAPIC, zero, sizeof(zero));
    physmem_write(&tb->pm, MSRBM, zero, sizeof(zero));
    physmem_write(&tb->pm, PIDESC, zero, 64);
    tb_load_code(tb, guest->b, guest->n);
    c->rflags = 0x202;
    c->cr4 |= CR4_VMXE;
    vmcs_clear(v, 1);
    vmcs_set(v, VI_PIN_BASED_VM_EXEC_CONTROL, PIN_EXTERNAL_INTERRUPT_EXITING);
    vmcs_set(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL,
             PROC_HLT_EXITING | PROC_USE_TPR_SHADOW | PROC_USE_MSR_BITMAPS |
                 PROC_ACTIVATE_SECONDARY_CONTROLS);
    vmcs_set(v, VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL, PROC2_VIRTUALIZE_X2APIC_MODE);
    vmcs_set(v, VI_VIRTUAL_APIC_PAGE_ADDR, VAPIC);
    vmcs_set(v, VI_MSR_BITMAP_ADDR, MSRBM);
    vmcs_set(v, VI_PRIMARY_VM_EXIT_CONTROLS,
             EXIT_CTL_SAVE_IA32_EFER | EXIT_CTL_HOST_ADDRESS_SPACE_SIZE |
                 EXIT_CTL_ACKNOWLEDGE_INTERRUPT_ON_EXIT);
    vmcs_set(v, VI_VM_ENTRY_CONTROLS, ENTRY_CTL_LOAD_IA32_EFER | ENTRY_CTL_IA32E_MODE_GUEST);
    vmcs_set(v, VI_VMCS_LINK_POINTER, ~0ull);
    vmcs_set(v, VI_HOST_CR0, 0x80000031);
    vmcs_set(v, VI_HOST_CR4, CR4_PAE | CR4_VMXE);
    vmcs_set(v, VI_HOST_CS_SELECTOR, 8);
    vmcs_set(v, VI_HOST_TR_SELECTOR, 0x18);
    vmx_save_guest_state(c, v);
}

static void set_proc2(struct vmcs *v, uint64_t proc2)
{
    vmcs_set(v, VI_SECONDARY_PROC_BASED_VM_EXEC_CONTROL, proc2);
}

/* Runs the VMCS from its guest RIP (a fresh launch each time). */
static uint64_t enter(struct testbench *tb, struct vmcs *v)
{
    v->launched = false;
    int err = cpu_vmentry(tb->cpu, v, false);
    if (err)
        return 0x1000 + (uint64_t)err;
    return vmcs_get(v, VI_EXIT_REASON);
}

/* SDM 30.5 without APIC-register virtualization: only the TPR MSR (808H) is
 * virtualized (reads and writes of VTPR, TPR virtualization); the MSR
 * bitmap still comes first. */
UNIT_TEST(x2apic_tpr_msr)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    MOV_ECX(&g, 0x808);
    emit(&g, RDMSR, 2);                               /* VTPR */
    emit(&g, (const uint8_t[]){0x48, 0x89, 0xc3}, 3); /* mov rbx, rax */
    emit(&g, (const uint8_t[]){0x48, 0x89, 0xd6}, 3); /* mov rsi, rdx */
    MOV_EAX(&g, 0x10);
    MOV_EDX(&g, 0);
    emit(&g, WRMSR, 2); /* VTPR = 0x10: below the threshold 2 */
    emit(&g, HLT, 1);
    struct vmcs v;
    setup(&tb, &v, &g);
    wr32(&tb, VAPIC + 0x80, 0x45);
    wr32(&tb, VAPIC + 0x84, 0x77); /* reads return all 8 bytes at 080H */
    vmcs_set(&v, VI_TPR_THRESHOLD, 2);
    struct vmcs good = v;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_TPR_BELOW_THRESHOLD);
    CHECK_EQ(tb.cpu->regs[R_RBX], 0x45);
    CHECK_EQ(tb.cpu->regs[R_RSI], 0x77);
    CHECK_EQ(rd32(&tb, VAPIC + 0x80), 0x10);
    CHECK_EQ(rd32(&tb, VAPIC + 0x84), 0);                    /* the write stores 8 bytes */
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + g.n - 1); /* trap-like: after WRMSR */
    /* bits 63:8 of the TPR value are reserved: #GP */
    v = good;
    wr32(&tb, VAPIC + 0x80, 0x45);
    tb.pm.arena[TB_CODE + 14] = 0x00; /* mov eax, 0x1000 */
    tb.pm.arena[TB_CODE + 15] = 0x10;
    icache_flush(tb.pm.icache);
    vmcs_set(&v, VI_EXCEPTION_BITMAP, 1u << EXC_GP);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(vmcs_get(&v, VI_VM_EXIT_INTERRUPTION_INFO) & 0xff, EXC_GP);
    /* the MSR bitmap intercepts first */
    v = good;
    tb.pm.arena[MSRBM + 0x808 / 8] = 1u << (0x808 % 8);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_RDMSR);
    tb.pm.arena[MSRBM + 0x808 / 8] = 0;
    /* without "virtualize x2APIC mode" the CPU has no MSR 808H: #GP */
    v = good;
    set_proc2(&v, 0);
    vmcs_set(&v, VI_EXCEPTION_BITMAP, 1u << EXC_GP);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + 5);
    tb_destroy(&tb);
}

/* SDM 30.5 with APIC-register virtualization: RDMSR of the listed x2APIC
 * registers reads the virtual-APIC page at (ECX & FFH) << 4; others (here
 * the current count, 839H) are not virtualized. */
UNIT_TEST(x2apic_register_virtualization)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    MOV_ECX(&g, 0x802);
    emit(&g, RDMSR, 2);
    emit(&g, (const uint8_t[]){0x48, 0x89, 0xc3}, 3); /* mov rbx, rax */
    MOV_ECX(&g, 0x828);                               /* ESR */
    emit(&g, RDMSR, 2);
    emit(&g, (const uint8_t[]){0x48, 0x89, 0xc6}, 3); /* mov rsi, rax */
    MOV_ECX(&g, 0x839);
    emit(&g, RDMSR, 2);
    emit(&g, HLT, 1);
    struct vmcs v;
    setup(&tb, &v, &g);
    set_proc2(&v, PROC2_VIRTUALIZE_X2APIC_MODE | PROC2_APIC_REGISTER_VIRTUALIZATION);
    vmcs_set(&v, VI_EXCEPTION_BITMAP, 1u << EXC_GP);
    wr32(&tb, VAPIC + 0x20, 0x05000000);
    wr32(&tb, VAPIC + 0x280, 0x40);
    wr32(&tb, VAPIC + 0x390, 0x1234);
    struct vmcs good = v;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(tb.cpu->regs[R_RBX], 0x05000000);
    CHECK_EQ(tb.cpu->regs[R_RSI], 0x40);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + g.n - 3); /* the RDMSR of 839H */
    /* without APIC-register virtualization 802H is not virtualized */
    v = good;
    set_proc2(&v, PROC2_VIRTUALIZE_X2APIC_MODE);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + 5);
    tb_destroy(&tb);
}

/* SDM 27.2.1.1 checks on the APIC-virtualization controls. */
UNIT_TEST(apicv_entry_checks)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    emit(&g, HLT, 1);
    struct vmcs v;
    setup(&tb, &v, &g);
    struct vmcs good = v;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    /* x2APIC mode, register virtualization, VID need "use TPR shadow" */
    uint64_t p2s[] = {PROC2_VIRTUALIZE_X2APIC_MODE, PROC2_APIC_REGISTER_VIRTUALIZATION,
                      PROC2_VIRTUAL_INTERRUPT_DELIVERY};
    for (int i = 0; i < 3; i++) {
        v = good;
        vmcs_set(&v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL,
                 PROC_HLT_EXITING | PROC_ACTIVATE_SECONDARY_CONTROLS);
        set_proc2(&v, p2s[i]);
        CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    }
    /* x2APIC mode excludes "virtualize APIC accesses" */
    v = good;
    vmcs_set(&v, VI_APIC_ACCESS_ADDR, 0x800000);
    set_proc2(&v, PROC2_VIRTUALIZE_X2APIC_MODE | PROC2_VIRTUALIZE_APIC_ACCESSES);
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    set_proc2(&v, PROC2_VIRTUALIZE_APIC_ACCESSES);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    /* VID needs external-interrupt exiting */
    v = good;
    set_proc2(&v, PROC2_VIRTUAL_INTERRUPT_DELIVERY);
    vmcs_set(&v, VI_PIN_BASED_VM_EXEC_CONTROL, 0);
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    /* the TPR threshold: bits 31:4 must be 0 without VID, not with it;
     * above VTPR[7:4] only without VID and APIC-access virtualization */
    v = good;
    vmcs_set(&v, VI_TPR_THRESHOLD, 0x10);
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    set_proc2(&v, PROC2_VIRTUAL_INTERRUPT_DELIVERY);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    v = good;
    vmcs_set(&v, VI_TPR_THRESHOLD, 3);
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7); /* VTPR = 0 */
    set_proc2(&v, PROC2_VIRTUAL_INTERRUPT_DELIVERY);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    /* a virtual-APIC page outside RAM */
    v = good;
    vmcs_set(&v, VI_VIRTUAL_APIC_PAGE_ADDR, 0xd0000000ull);
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    /* posted interrupts: VID, acknowledge on exit, vector < 256, aligned
     * descriptor in RAM */
    v = good;
    set_proc2(&v, PROC2_VIRTUAL_INTERRUPT_DELIVERY);
    vmcs_set(&v, VI_PIN_BASED_VM_EXEC_CONTROL,
             PIN_EXTERNAL_INTERRUPT_EXITING | PIN_PROCESS_POSTED_INTERRUPTS);
    vmcs_set(&v, VI_POSTED_INTR_DESC_ADDR, PIDESC);
    vmcs_set(&v, VI_POSTED_INTR_NOTIFICATION_VECTOR, 0xf2);
    struct vmcs pi = v;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    v = pi;
    set_proc2(&v, 0);
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    v = pi;
    vmcs_set(&v, VI_PRIMARY_VM_EXIT_CONTROLS,
             vmcs_get(&v, VI_PRIMARY_VM_EXIT_CONTROLS) & ~EXIT_CTL_ACKNOWLEDGE_INTERRUPT_ON_EXIT);
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    v = pi;
    vmcs_set(&v, VI_POSTED_INTR_NOTIFICATION_VECTOR, 0x100);
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    v = pi;
    vmcs_set(&v, VI_POSTED_INTR_DESC_ADDR, PIDESC + 0x20);
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    v = pi;
    vmcs_set(&v, VI_POSTED_INTR_DESC_ADDR, 0xd0000000ull); /* not RAM */
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    v = pi;
    vmcs_set(&v, VI_POSTED_INTR_DESC_ADDR, 1ull << 45); /* beyond MAXPHYADDR */
    CHECK_EQ(enter(&tb, &v), 0x1000 + 7);
    tb_destroy(&tb);
}

/* The VID configuration: x2APIC mode with virtual-interrupt delivery. */
static void vid_setup(struct testbench *tb, struct vmcs *v, const struct code *g)
{
    setup(tb, v, g);
    set_proc2(v, PROC2_VIRTUALIZE_X2APIC_MODE | PROC2_VIRTUAL_INTERRUPT_DELIVERY);
}

static void set_virr(struct testbench *tb, int vec)
{
    uint64_t a = VAPIC + 0x200 + (vec / 32) * 16;
    wr32(tb, a, rd32(tb, a) | (1u << (vec % 32)));
}

static bool visr(struct testbench *tb, int vec)
{
    return (rd32(tb, VAPIC + 0x100 + (vec / 32) * 16) >> (vec % 32)) & 1;
}

static bool virr(struct testbench *tb, int vec)
{
    return (rd32(tb, VAPIC + 0x200 + (vec / 32) * 16) >> (vec % 32)) & 1;
}

/* SDM 30.2: a pending virtual interrupt (RVI above VPPR) is delivered at VM
 * entry through the IDT; the handler's virtual EOI (30.1.4) clears VISR
 * and SVI, and the guest interrupt status is saved at the exit. */
UNIT_TEST(virtual_interrupt_delivery_and_eoi)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    emit(&g, (const uint8_t[]){0x90}, 1);
    emit(&g, HLT, 1);
    struct vmcs v;
    vid_setup(&tb, &v, &g);
    set_virr(&tb, 0x31);
    set_virr(&tb, 0x22);
    vmcs_set(&v, VI_GUEST_INTERRUPT_STATUS, 0x31);
    struct vmcs good = v;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    /* 0x31 was delivered before the first instruction and EOIed by the
     * handler; 0x22 (the new RVI) is recognized after the EOI but the
     * handler runs with IF = 0 (interrupt gate) and halts */
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), HANDLER + 11);
    CHECK(!virr(&tb, 0x31) && virr(&tb, 0x22));
    CHECK(!visr(&tb, 0x31) && !visr(&tb, 0x22));
    CHECK_EQ(vmcs_get(&v, VI_GUEST_INTERRUPT_STATUS), 0x22); /* RVI 0x22, SVI 0 */
    CHECK_EQ(rd32(&tb, VAPIC + 0xa0), 0);
    uint64_t rsp = vmcs_get(&v, VI_GUEST_RSP);
    uint64_t first_rip = 0;
    physmem_read(&tb.pm, rsp, &first_rip, 8);
    CHECK_EQ(first_rip, TB_CODE);
    wr32(&tb, VAPIC + 0x200 + 16, 0); /* drop 0x22 for the checks below */

    /* the EOI-exit bitmap: an EOI of 0x31 is an EOI-induced exit
     * (reason 45, vector in the qualification), trap-like */
    v = good;
    set_virr(&tb, 0x31);
    vmcs_set(&v, VI_EOI_EXIT_BITMAP0, 1ull << 0x31);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_VIRTUALIZED_EOI);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x31);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), HANDLER + 11);
    CHECK(!visr(&tb, 0x31));
    CHECK_EQ(vmcs_get(&v, VI_GUEST_INTERRUPT_STATUS), 0); /* RVI 0, SVI 0 */

    /* RFLAGS.IF = 0: nothing is delivered, RVI/VIRR stay */
    v = good;
    set_virr(&tb, 0x31);
    vmcs_set(&v, VI_GUEST_RFLAGS, 2);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + 1);
    CHECK(virr(&tb, 0x31));
    CHECK_EQ(vmcs_get(&v, VI_GUEST_INTERRUPT_STATUS), 0x31);
    /* interrupt-window exiting takes precedence over delivery */
    v = good;
    vmcs_set(&v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL,
             vmcs_get(&v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL) | PROC_INTERRUPT_WINDOW_EXITING);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_INTERRUPT_WINDOW);
    tb_destroy(&tb);
}

/* A virtual interrupt recognized while RFLAGS.IF = 0 waits; STI opens the
 * window after its one-instruction shadow (SDM 6.8.3) and the interrupt is
 * delivered there (SDM 30.2.2). */
UNIT_TEST(virtual_interrupt_after_sti)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    emit(&g, (const uint8_t[]){0x90, 0x90, 0xfb, 0x90, 0x90}, 5); /* nop; nop; sti; nop; nop */
    emit(&g, HLT, 1);
    struct vmcs v;
    vid_setup(&tb, &v, &g);
    set_virr(&tb, 0x66);
    vmcs_set(&v, VI_GUEST_INTERRUPT_STATUS, 0x66);
    vmcs_set(&v, VI_GUEST_RFLAGS, 2);
    vmcs_set(&v, VI_EOI_EXIT_BITMAP1, 1ull << (0x66 - 64));
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_VIRTUALIZED_EOI);
    uint64_t rip = 0;
    physmem_read(&tb.pm, vmcs_get(&v, VI_GUEST_RSP), &rip, 8);
    CHECK_EQ(rip, TB_CODE + 4);
    tb_destroy(&tb);
}

/* TPR virtualization with VID (SDM 30.1.2-30.1.3): VTPR masks RVI until a
 * MOV to CR8 lowers it; the interrupt is delivered right after that
 * instruction. Self-IPI virtualization (30.1.5) through MSR 83FH. */
UNIT_TEST(virtual_tpr_and_self_ipi)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    emit(&g, (const uint8_t[]){0x31, 0xc0}, 2); /* xor eax, eax */
    emit(&g, MOV_CR8_RAX, 4);                   /* TPR = 0 */
    emit(&g, HLT, 1);
    struct vmcs v;
    vid_setup(&tb, &v, &g);
    set_virr(&tb, 0x31);
    wr32(&tb, VAPIC + 0x80, 0x40); /* VTPR 0x40 masks 0x31 */
    vmcs_set(&v, VI_GUEST_INTERRUPT_STATUS, 0x31);
    vmcs_set(&v, VI_EOI_EXIT_BITMAP0, 1ull << 0x31); /* stop at the EOI */
    struct vmcs good = v;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_VIRTUALIZED_EOI);
    uint64_t rsp = vmcs_get(&v, VI_GUEST_RSP), rip = 0;
    physmem_read(&tb.pm, rsp, &rip, 8);
    CHECK_EQ(rip, TB_CODE + 6); /* delivered after MOV CR8, before HLT */
    /* with the TPR staying high, the guest halts without delivery */
    v = good;
    tb.pm.arena[TB_CODE + 2] = 0x90; /* nop out the MOV CR8 */
    tb.pm.arena[TB_CODE + 3] = 0x90;
    tb.pm.arena[TB_CODE + 4] = 0x90;
    tb.pm.arena[TB_CODE + 5] = 0x90;
    icache_flush(tb.pm.icache);
    set_virr(&tb, 0x31);
    wr32(&tb, VAPIC + 0x80, 0x40);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    CHECK_EQ(rd32(&tb, VAPIC + 0xa0), 0x40); /* VPPR = VTPR */
    CHECK(virr(&tb, 0x31));

    /* self-IPI: WRMSR 83FH with vector 0x51 is delivered at once */
    struct code s = {.n = 0};
    MOV_ECX(&s, 0x83f);
    MOV_EAX(&s, 0x51);
    MOV_EDX(&s, 0);
    emit(&s, WRMSR, 2);
    emit(&s, HLT, 1);
    vid_setup(&tb, &v, &s);
    vmcs_set(&v, VI_EOI_EXIT_BITMAP1, 1ull << (0x51 - 64));
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_VIRTUALIZED_EOI);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x51);
    CHECK_EQ(rd32(&tb, VAPIC + 0x3f0), 0x51);
    rsp = vmcs_get(&v, VI_GUEST_RSP);
    physmem_read(&tb.pm, rsp, &rip, 8);
    CHECK_EQ(rip, TB_CODE + s.n - 1);
    /* a self-IPI with vector < 16 is an APIC-write exit (offset 3F0H) */
    vid_setup(&tb, &v, &s);
    tb.pm.arena[TB_CODE + 6] = 0x05;
    icache_flush(tb.pm.icache);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_WRITE);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x3f0);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + s.n - 1);
    /* EOI with a nonzero value is #GP */
    struct code e = {.n = 0};
    MOV_ECX(&e, 0x80b);
    MOV_EAX(&e, 1);
    MOV_EDX(&e, 0);
    emit(&e, WRMSR, 2);
    vid_setup(&tb, &v, &e);
    vmcs_set(&v, VI_EXCEPTION_BITMAP, 1u << EXC_GP);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(vmcs_get(&v, VI_VM_EXIT_INTERRUPTION_INFO) & 0xff, EXC_GP);
    tb_destroy(&tb);
}

/* A virtual interrupt wakes a halted guest: HLT inside the guest (HLT
 * exiting off) with a posted interrupt arriving (SDM 30.6): the
 * notification vector is processed without a VM exit, PIR moves into VIRR,
 * ON is cleared and the interrupt is delivered; another vector exits. */
UNIT_TEST(posted_interrupt_processing)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    emit(&g, HLT, 1);
    emit(&g, HLT, 1);
    struct vmcs v;
    vid_setup(&tb, &v, &g);
    vmcs_set(&v, VI_PIN_BASED_VM_EXEC_CONTROL,
             PIN_EXTERNAL_INTERRUPT_EXITING | PIN_PROCESS_POSTED_INTERRUPTS);
    vmcs_set(&v, VI_POSTED_INTR_DESC_ADDR, PIDESC);
    vmcs_set(&v, VI_POSTED_INTR_NOTIFICATION_VECTOR, 0xf2);
    vmcs_set(&v, VI_EOI_EXIT_BITMAP1, 1ull << (0x55 - 64));
    /* the guest halts (no HLT exiting), then the notification arrives */
    vmcs_set(&v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL,
             PROC_USE_TPR_SHADOW | PROC_USE_MSR_BITMAPS | PROC_ACTIVATE_SECONDARY_CONTROLS);
    vmcs_set(&v, VI_GUEST_ACTIVITY_STATE, ACTIVITY_HLT);
    vmcs_set(&v, VI_GUEST_RIP, TB_CODE + 1);
    wr32(&tb, PIDESC + 8, 1u << (0x55 - 64)); /* PIR bit 0x55 */
    wr32(&tb, PIDESC + 4, 1u << (0x23 - 32)); /* PIR bit 0x23 */
    wr32(&tb, PIDESC + 32, 1);                /* ON */
    vmcs_set(&v, VI_GUEST_INTERRUPT_STATUS, 0x30);
    set_virr(&tb, 0x30);
    struct vmcs good = v;
    tb.cpu->ext_intr_pending = true;
    tb.cpu->ext_intr_vector = 0xf2;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_VIRTUALIZED_EOI);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x55);
    CHECK(!tb.cpu->ext_intr_pending);    /* acknowledged */
    CHECK_EQ(rd32(&tb, PIDESC + 32), 0); /* ON cleared */
    CHECK_EQ(rd32(&tb, PIDESC + 8), 0);  /* PIR cleared */
    CHECK_EQ(rd32(&tb, PIDESC + 4), 0);
    CHECK(virr(&tb, 0x23) && virr(&tb, 0x30) && !virr(&tb, 0x55));
    CHECK_EQ(vmcs_get(&v, VI_GUEST_INTERRUPT_STATUS), 0x30); /* RVI = next highest */
    CHECK_EQ(vmcs_get(&v, VI_GUEST_ACTIVITY_STATE), ACTIVITY_ACTIVE);
    /* another vector is an ordinary external-interrupt exit */
    v = good;
    tb.cpu->ext_intr_pending = true;
    tb.cpu->ext_intr_vector = 0xf3;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_EXTERNAL_INTERRUPT);
    CHECK_EQ(vmcs_get(&v, VI_VM_EXIT_INTERRUPTION_INFO), INTR_INFO_VALID | 0xf3);
    /* without "process posted interrupts" the notification vector exits */
    v = good;
    vmcs_set(&v, VI_PIN_BASED_VM_EXEC_CONTROL, PIN_EXTERNAL_INTERRUPT_EXITING);
    tb.cpu->ext_intr_pending = true;
    tb.cpu->ext_intr_vector = 0xf2;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_EXTERNAL_INTERRUPT);
    tb_destroy(&tb);
}

#define APIC_PAGE 0x800000u

/* mov eax, [APIC_PAGE + off] / mov [APIC_PAGE + off], eax */
static void emit_apic_load(struct code *c, uint32_t off)
{
    uint32_t a = APIC_PAGE + off;
    uint8_t b[7] = {
        0x8b, 0x04, 0x25, (uint8_t)a, (uint8_t)(a >> 8), (uint8_t)(a >> 16), (uint8_t)(a >> 24)};
    emit(c, b, 7);
}

static void emit_apic_store(struct code *c, uint32_t off)
{
    uint32_t a = APIC_PAGE + off;
    uint8_t b[7] = {
        0x89, 0x04, 0x25, (uint8_t)a, (uint8_t)(a >> 8), (uint8_t)(a >> 16), (uint8_t)(a >> 24)};
    emit(c, b, 7);
}

static void apic_page_setup(struct testbench *tb, struct vmcs *v, const struct code *g,
                            uint64_t proc2)
{
    setup(tb, v, g);
    vmcs_set(v, VI_APIC_ACCESS_ADDR, APIC_PAGE);
    set_proc2(v, PROC2_VIRTUALIZE_APIC_ACCESSES | proc2);
    vmcs_set(v, VI_GUEST_RFLAGS, 2); /* IF = 0: virtual interrupts stay pending */
}

/* SDM 30.4.2: reads of the APIC-access page with a TPR shadow return the
 * virtual-APIC page for VTPR, and with APIC-register virtualization for
 * every virtualized register; other offsets, wider accesses and fetches
 * are APIC-access exits (reason 44). */
UNIT_TEST(apic_page_reads)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    emit_apic_load(&g, 0x80);
    emit(&g, (const uint8_t[]){0x89, 0xc3}, 2); /* mov ebx, eax */
    emit_apic_load(&g, 0x20);
    emit(&g, (const uint8_t[]){0x89, 0xc6}, 2); /* mov esi, eax */
    emit_apic_load(&g, 0x390);                  /* timer current count */
    emit(&g, HLT, 1);
    struct vmcs v;
    apic_page_setup(&tb, &v, &g, 0);
    wr32(&tb, VAPIC + 0x80, 0x20);
    wr32(&tb, VAPIC + 0x20, 0x07000000);
    struct vmcs good = v;
    /* TPR shadow only: VTPR is read, the ID read exits */
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_ACCESS);
    CHECK_EQ(tb.cpu->regs[R_RBX], 0x20);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x020);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + 9); /* fault-like */
    /* with APIC-register virtualization the ID is read too */
    v = good;
    set_proc2(&v, PROC2_VIRTUALIZE_APIC_ACCESSES | PROC2_APIC_REGISTER_VIRTUALIZATION);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_ACCESS);
    CHECK_EQ(tb.cpu->regs[R_RSI], 0x07000000);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x390);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + 18);
    /* a read of bytes 2-5 of the TPR register is not within its low 32
     * bits: an exit */
    v = good;
    tb.pm.arena[TB_CODE + 3] = 0x82;
    icache_flush(tb.pm.icache);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_ACCESS);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x082);
    /* SDM 27.7.7: with APIC accesses virtualized the entry accepts a
     * threshold above VTPR[7:4] and exits at once, before any instruction */
    v = good;
    vmcs_set(&v, VI_TPR_THRESHOLD, 3);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_TPR_BELOW_THRESHOLD);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE);
    vmcs_set(&v, VI_TPR_THRESHOLD, 2); /* VTPR 0x20: not below */
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_ACCESS);
    /* an access during event delivery (the IDT gate of vector 8 lies on
     * the APIC-access page) exits with type 3, the event in the
     * IDT-vectoring information */
    v = good;
    vmcs_set(&v, VI_GUEST_IDTR_BASE, APIC_PAGE);
    uint32_t ev = INTR_INFO_VALID | (INTR_TYPE_EXT_INTR << 8) | 0x8;
    vmcs_set(&v, VI_VM_ENTRY_INTERRUPTION_INFO, ev);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_ACCESS);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x3080);
    CHECK_EQ(vmcs_get(&v, VI_IDT_VECTORING_INFO), ev);
    /* without a TPR shadow every access exits */
    v = good;
    tb.pm.arena[TB_CODE + 3] = 0x80;
    icache_flush(tb.pm.icache);
    vmcs_set(&v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL,
             PROC_HLT_EXITING | PROC_ACTIVATE_SECONDARY_CONTROLS);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_ACCESS);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x080);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE);
    tb_destroy(&tb);
}

/* SDM 30.4.3: writes. TPR writes clear bytes 81H-83H and do TPR
 * virtualization; with APIC-register virtualization other registers are
 * written and an APIC-write exit (reason 56, trap-like, offset in the
 * qualification) follows; with virtual-interrupt delivery EOI writes do
 * EOI virtualization and ICR writes of a self-IPI do self-IPI
 * virtualization, other ICR values exit. */
UNIT_TEST(apic_page_writes)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    MOV_EAX(&g, 0x1234);
    emit_apic_store(&g, 0x80);
    emit(&g, HLT, 1);
    struct vmcs v;
    apic_page_setup(&tb, &v, &g, 0);
    vmcs_set(&v, VI_TPR_THRESHOLD, 4);
    wr32(&tb, VAPIC + 0x80, 0x50);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_TPR_BELOW_THRESHOLD);
    CHECK_EQ(rd32(&tb, VAPIC + 0x80), 0x34);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + 12);
    /* LVT timer with APIC-register virtualization: APIC-write exit */
    struct code w = {.n = 0};
    MOV_EAX(&w, 0x20030);
    emit_apic_store(&w, 0x320);
    emit(&w, HLT, 1);
    apic_page_setup(&tb, &v, &w, PROC2_APIC_REGISTER_VIRTUALIZATION);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_WRITE);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x320);
    CHECK_EQ(rd32(&tb, VAPIC + 0x320), 0x20030);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + 12);
    /* ... but an access exit without it */
    apic_page_setup(&tb, &v, &w, 0);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_ACCESS);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x1320);
    CHECK_EQ(rd32(&tb, VAPIC + 0x320), 0);
    /* ICR self-IPI (shorthand self, fixed, vector 0x51) with VID: VIRR
     * and RVI, no exit (IF = 0 keeps it pending) */
    struct code icr = {.n = 0};
    MOV_EAX(&icr, 0x40051);
    emit_apic_store(&icr, 0x300);
    emit(&icr, HLT, 1);
    apic_page_setup(&tb, &v, &icr, PROC2_VIRTUAL_INTERRUPT_DELIVERY);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    CHECK(virr(&tb, 0x51));
    CHECK_EQ(vmcs_get(&v, VI_GUEST_INTERRUPT_STATUS), 0x51);
    /* an ICR value that is not a self-IPI (all excluding self): exit */
    apic_page_setup(&tb, &v, &icr, PROC2_VIRTUAL_INTERRUPT_DELIVERY);
    tb.pm.arena[TB_CODE + 3] = 0x0c;
    icache_flush(tb.pm.icache);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_WRITE);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x300);
    CHECK_EQ(rd32(&tb, VAPIC + 0x300), 0xc0051);
    CHECK(!virr(&tb, 0x51));
    /* EOI through the page: VISR 0x40 in service, EOI-exit bitmap bit */
    struct code eoi = {.n = 0};
    MOV_EAX(&eoi, 0);
    emit_apic_store(&eoi, 0xb0);
    emit(&eoi, HLT, 1);
    apic_page_setup(&tb, &v, &eoi, PROC2_VIRTUAL_INTERRUPT_DELIVERY);
    wr32(&tb, VAPIC + 0x100 + 2 * 16, 1u << 0);
    vmcs_set(&v, VI_GUEST_INTERRUPT_STATUS, 0x4000);
    vmcs_set(&v, VI_EOI_EXIT_BITMAP1, 1ull << 0);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_VIRTUALIZED_EOI);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0x40);
    CHECK(!visr(&tb, 0x40));
    CHECK_EQ(vmcs_get(&v, VI_GUEST_INTERRUPT_STATUS), 0);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), TB_CODE + 12);
    tb_destroy(&tb);
}

/* SDM 30.4.6.1: with EPT, a page-walk access that EPT maps to the
 * APIC-access page is a guest-physical access: APIC-access exit, type 15
 * (instruction fetch/execution) or 10 (during event delivery), with the
 * guest-physical address. Here the APIC-access page is the guest's page
 * directory, under an identity EPT. */
UNIT_TEST(apic_page_guest_physical_access)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct code g = {.n = 0};
    emit(&g, HLT, 1);
    struct vmcs v;
    setup(&tb, &v, &g);
    tb_write64(&tb, 0x20000, 0x21000 | 7);                   /* EPT PML4 */
    tb_write64(&tb, 0x21000, (6ull << 3) | (1ull << 7) | 7); /* 1 GiB, WB */
    vmcs_set(&v, VI_EPT_POINTER, 0x20000 | (3ull << 3) | 6);
    vmcs_set(&v, VI_APIC_ACCESS_ADDR, TB_PD);
    set_proc2(&v, PROC2_VIRTUALIZE_APIC_ACCESSES | PROC2_ENABLE_EPT);
    struct vmcs good = v;
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_ACCESS);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION) >> 12, 15);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_PHYSICAL_ADDRESS), TB_PD);
    CHECK_EQ(vmcs_get(&v, VI_IDT_VECTORING_INFO), 0);
    /* an injected interrupt: the walk for the IDT is during delivery */
    v = good;
    uint32_t ev = INTR_INFO_VALID | (INTR_TYPE_EXT_INTR << 8) | 0x40;
    vmcs_set(&v, VI_VM_ENTRY_INTERRUPTION_INFO, ev);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_APIC_ACCESS);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION) >> 12, 10);
    CHECK_EQ(vmcs_get(&v, VI_IDT_VECTORING_INFO), ev);
    /* without EPT such accesses are not special */
    v = good;
    set_proc2(&v, PROC2_VIRTUALIZE_APIC_ACCESSES);
    CHECK_EQ(enter(&tb, &v), EXIT_REASON_HLT);
    tb_destroy(&tb);
}

int main(void)
{
    UNIT_RUN(x2apic_tpr_msr);
    UNIT_RUN(x2apic_register_virtualization);
    UNIT_RUN(apicv_entry_checks);
    UNIT_RUN(virtual_interrupt_delivery_and_eoi);
    UNIT_RUN(virtual_interrupt_after_sti);
    UNIT_RUN(virtual_tpr_and_self_ipi);
    UNIT_RUN(posted_interrupt_processing);
    UNIT_RUN(apic_page_reads);
    UNIT_RUN(apic_page_writes);
    UNIT_RUN(apic_page_guest_physical_access);
    UNIT_DONE();
}
