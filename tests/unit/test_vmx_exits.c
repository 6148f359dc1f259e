/* VMX controls in the CPU: the exception bitmap with #PF error-code
 * mask/match, IDT-vectoring information for exits during event delivery,
 * MSR bitmaps, event injection, and VM entry/exit through a VMCS. */
#include "cpu/vmx.h"
#include "cpu_testbench.h"
#include "unit.h"

/* IDT at 0x5000 with 64-bit interrupt gates for vectors 0-31 -> 0x200000
 * (a HLT), GDT with a 64-bit code segment at 0x08. */
static void setup_idt(struct testbench *tb)
{
    struct cpu *c = tb->cpu;
    uint64_t handler = 0x200000;
    for (int v = 0; v < 32; v++) {
        uint64_t lo = (handler & 0xffff) | (0x08ull << 16) | (0x8eull << 40) |
                      ((handler >> 16) & 0xffff) << 48;
        tb_write64(tb, 0x5000 + v * 16, lo);
        tb_write64(tb, 0x5000 + v * 16 + 8, handler >> 32);
    }
    c->idtr.base = 0x5000;
    c->idtr.limit = 32 * 16 - 1;
    c->gdtr.base = 0x6000;
    c->gdtr.limit = 0x1f;
    tb_write64(tb, 0x6008, 0x00209a0000000000ull);
    uint8_t hlt = 0xf4;
    physmem_write(&tb->pm, handler, &hlt, 1);
    c->ctl.proc = PROC_HLT_EXITING;
}

UNIT_TEST(exception_bitmap_ud)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    static const uint8_t code[] = {0x0f, 0x0b}; /* ud2 */
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->ctl.exception_bitmap = 1u << EXC_UD;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(tb.cpu->exit.intr_info, INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | EXC_UD);
    CHECK_EQ(tb.cpu->rip, TB_CODE); /* not delivered */
    /* without the bit the #UD goes through the IDT */
    tb.cpu->ctl.exception_bitmap = 0;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_HLT);
    CHECK_EQ(tb.cpu->rip, 0x200000);
    tb_destroy(&tb);
}

UNIT_TEST(exception_bitmap_pf_mask_match)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    tb_write64(&tb, TB_PD + 100 * 8, 0);                       /* 200 MiB not present */
    static const uint8_t code[] = {0xc7, 0x00, 0x01, 0, 0, 0}; /* mov dword [rax], 1 */
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->regs[R_RAX] = (100ull << 21) + 8;
    tb.cpu->cr2 = 0x1234;
    /* bit 14 set, mask/match select writes (PFEC.W): a write fault exits */
    tb.cpu->ctl.exception_bitmap = 1u << EXC_PF;
    tb.cpu->ctl.pfec_mask = PFEC_W;
    tb.cpu->ctl.pfec_match = PFEC_W;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(tb.cpu->exit.qualification, (100ull << 21) + 8);
    CHECK_EQ(tb.cpu->exit.intr_info,
             INTR_INFO_VALID | INTR_INFO_ERRCODE | (INTR_TYPE_HW_EXCEPTION << 8) | EXC_PF);
    CHECK_EQ(tb.cpu->exit.intr_error, PFEC_W);
    CHECK_EQ(tb.cpu->cr2, 0x1234); /* CR2 is not written by a #PF exit */
    /* match = 0 now: the write fault no longer matches, bit 14 inverts */
    tb.cpu->ctl.pfec_match = 0;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_HLT);
    CHECK_EQ(tb.cpu->cr2, (100ull << 21) + 8);
    tb_destroy(&tb);
}

UNIT_TEST(exception_bitmap_int3_instruction_length)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    static const uint8_t code[] = {0x90, 0xcc}; /* nop; int3 */
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->ctl.exception_bitmap = 1u << EXC_BP;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(tb.cpu->exit.intr_info, INTR_INFO_VALID | (INTR_TYPE_SW_EXCEPTION << 8) | EXC_BP);
    CHECK_EQ(tb.cpu->exit.instr_len, 1);
    CHECK_EQ(tb.cpu->rip, TB_CODE + 1);
    tb_destroy(&tb);
}

/* A #PF while delivering #GP (the IDT gate's stack is not mapped) with #PF
 * intercepted: the exit reports the #PF and, in the IDT-vectoring
 * information, the #GP whose delivery it interrupted. */
UNIT_TEST(idt_vectoring_on_fault_during_delivery)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    tb_write64(&tb, TB_PD + 100 * 8, 0);
    tb.cpu->regs[R_RSP] = (100ull << 21) + 0x1000;    /* unmapped stack */
    static const uint8_t code[] = {0x0f, 0x01, 0xc8}; /* monitor: #UD, not intercepted */
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->ctl.exception_bitmap = 1u << EXC_PF;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(tb.cpu->exit.intr_info & 0xff, EXC_PF);
    CHECK_EQ(tb.cpu->exit.idt_vectoring_info,
             INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | EXC_UD);
    CHECK_EQ(tb.cpu->rip, TB_CODE);
    tb_destroy(&tb);
}

/* A VMCS that passes the VM-entry checks for the testbench's 64-bit state. */
static void valid_vmcs(struct testbench *tb, struct vmcs *v)
{
    tb->cpu->cr4 |= CR4_VMXE;
    vmcs_clear(v, 1);
    vmcs_set(v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL, PROC_HLT_EXITING);
    vmcs_set(v, VI_PRIMARY_VM_EXIT_CONTROLS,
             EXIT_CTL_SAVE_IA32_EFER | EXIT_CTL_HOST_ADDRESS_SPACE_SIZE |
                 EXIT_CTL_SAVE_DEBUG_CONTROLS);
    vmcs_set(v, VI_VM_ENTRY_CONTROLS,
             ENTRY_CTL_LOAD_IA32_EFER | ENTRY_CTL_IA32E_MODE_GUEST | ENTRY_CTL_LOAD_DEBUG_CONTROLS);
    vmcs_set(v, VI_VMCS_LINK_POINTER, ~0ull);
    vmcs_set(v, VI_HOST_CR0, 0x80000031);
    vmcs_set(v, VI_HOST_CR4, CR4_PAE | CR4_VMXE);
    vmcs_set(v, VI_HOST_CS_SELECTOR, 8);
    vmcs_set(v, VI_HOST_TR_SELECTOR, 0x18);
    vmx_save_guest_state(tb->cpu, v);
}

/* VM-entry checks (SDM 26.2, 26.3): controls -> VMfailValid 7, host state
 * -> VMfailValid 8, guest state -> VM-entry failure exit 33 | bit 31. */
UNIT_TEST(vmentry_checks)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    struct vmcs v;
    valid_vmcs(&tb, &v);
    struct vmcs good = v;
    vmcs_set(&v, VI_PIN_BASED_VM_EXEC_CONTROL, 1u << 9); /* reserved */
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 7);
    v = good;
    vmcs_set(&v, VI_PIN_BASED_VM_EXEC_CONTROL, PIN_VIRTUAL_NMIS); /* needs NMI exiting */
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 7);
    v = good;
    vmcs_set(&v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL, PROC_USE_IO_BITMAPS);
    vmcs_set(&v, VI_IO_BITMAP_A_ADDR, 0x1234); /* not page aligned */
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 7);
    v = good;
    vmcs_set(&v, VI_VM_ENTRY_INTERRUPTION_INFO,
             INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | EXC_GP);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 7); /* #GP needs its error code */
    v = good;
    vmcs_set(&v, VI_HOST_CS_SELECTOR, 0);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 8);
    v = good;
    vmcs_set(&v, VI_HOST_CR4, CR4_PAE); /* VMXE is fixed to 1 */
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 8);
    v = good;
    vmcs_set(&v, VI_GUEST_RFLAGS, 0); /* bit 1 must be 1 */
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), 0x80000000u | 33);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 0);
    v = good;
    vmcs_set(&v, VI_VMCS_LINK_POINTER, 0x1000);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), 0x80000000u | 33);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 4); /* invalid VMCS link pointer */
    v = good;
    vmcs_set(&v, VI_GUEST_CR4, vmcs_get(&v, VI_GUEST_CR4) & ~CR4_VMXE);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), 0x80000000u | 33);
    v = good;
    vmcs_set(&v, VI_VM_ENTRY_CONTROLS, ENTRY_CTL_LOAD_IA32_EFER); /* LMA set, not IA-32e */
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), 0x80000000u | 33);
    v = good;
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK(!(vmcs_get(&v, VI_EXIT_REASON) & 0x80000000u));
    tb_destroy(&tb);
}

/* VM entry through a VMCS: injection of an exception, exit information in
 * the VMCS, the entry interruption-information valid bit cleared. */
UNIT_TEST(vmcs_entry_injection_and_exit_info)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    static const uint8_t code[] = {0x90};
    tb_load_code(&tb, code, sizeof(code));
    struct vmcs v;
    valid_vmcs(&tb, &v);
    vmcs_set(&v, VI_VM_ENTRY_INTERRUPTION_INFO,
             INTR_INFO_VALID | INTR_INFO_ERRCODE | (INTR_TYPE_HW_EXCEPTION << 8) | EXC_GP);
    vmcs_set(&v, VI_VM_ENTRY_EXCEPTION_ERROR_CODE, 0x18);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, true), VMXERR_5); /* VMRESUME before VMLAUNCH */
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), EXIT_REASON_HLT);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_RIP), 0x200000); /* the #GP was delivered */
    CHECK_EQ(vmcs_get(&v, VI_VM_ENTRY_INTERRUPTION_INFO) & INTR_INFO_VALID, 0);
    uint64_t err = 0;
    physmem_read(&tb.pm, vmcs_get(&v, VI_GUEST_RSP), &err, 8);
    CHECK_EQ(err, 0x18);
    CHECK_EQ(vmcs_get(&v, VI_VM_EXIT_INSTRUCTION_LENGTH), 1);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), VMXERR_4); /* VMLAUNCH of a launched VMCS */
    tb_destroy(&tb);
}

UNIT_TEST(msr_bitmap_passthrough_and_intercept)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    static const uint8_t code[] = {0x0f, 0x32, 0x0f, 0x32, 0xf4}; /* rdmsr; rdmsr; hlt */
    tb_load_code(&tb, code, sizeof(code));
    /* bitmap at 0x7000: all ones except LSTAR reads */
    uint8_t ones[4096];
    memset(ones, 0xff, sizeof(ones));
    physmem_write(&tb.pm, 0x7000, ones, sizeof(ones));
    uint32_t bit = 0x2000 + 0x82;
    uint8_t b = (uint8_t) ~(1u << (bit % 8));
    physmem_write(&tb.pm, 0x7000 + bit / 8, &b, 1);
    tb.cpu->ctl.proc |= PROC_USE_MSR_BITMAPS;
    tb.cpu->ctl.msr_bitmap = 0x7000;
    tb.cpu->lstar = 0xffffffff81000000ull;
    tb.cpu->regs[R_RCX] = 0xc0000082;
    CHECK_EQ(cpu_run(tb.cpu, 1), EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED);
    CHECK_EQ(tb.cpu->regs[R_RAX], 0x81000000);
    CHECK_EQ(tb.cpu->regs[R_RDX], 0xffffffff);
    tb.cpu->regs[R_RCX] = 0xc0000081; /* STAR: intercepted */
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_RDMSR);
    CHECK_EQ(tb.cpu->exit.instr_len, 2);
    tb_destroy(&tb);
}

/* CR0/CR4 guest/host masks and read shadows, CR3-load exiting with target
 * values, CLTS and LMSW (SDM 26.1.3; qualification per Table 28-3). */
UNIT_TEST(cr_access_exits)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    struct cpu *c = tb.cpu;
    /* mov rax, cr0 ; mov cr0, rbx ; hlt */
    static const uint8_t code[] = {0x0f, 0x20, 0xc0, 0x0f, 0x22, 0xc3, 0xf4};
    tb_load_code(&tb, code, sizeof(code));
    c->ctl.cr0_mask = CR0_TS | CR0_NE;
    c->ctl.cr0_shadow = CR0_TS;                     /* guest believes TS=1, NE=0 */
    c->regs[R_RBX] = (c->cr0 & ~(CR0_NE)) | CR0_TS; /* matches the shadow: no exit */
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    CHECK_EQ(c->regs[R_RAX] & (CR0_TS | CR0_NE), CR0_TS);
    CHECK(c->cr0 & CR0_NE); /* host-owned NE kept */
    CHECK(!(c->cr0 & CR0_TS));
    c->rip = TB_CODE + 3;
    c->regs[R_RBX] = c->cr0 | CR0_NE; /* NE differs from the shadow: exit */
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_CR_ACCESS);
    CHECK_EQ(c->exit.qualification, 0x300); /* CR0, MOV to CR, RBX */
    CHECK_EQ(c->exit.instr_len, 3);
    /* CLTS with TS host-owned and set in the shadow exits (type 2) */
    static const uint8_t clts[] = {0x0f, 0x06};
    tb_load_code(&tb, clts, sizeof(clts));
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_CR_ACCESS);
    CHECK_EQ(c->exit.qualification, 0x20);
    /* LMSW ax with ax=0x0001 (PE, TS=0): TS differs from the shadow -> exit
     * with the source data in bits 31:16 */
    static const uint8_t lmsw[] = {0x66, 0xb8, 0x01, 0x00, 0x0f, 0x01, 0xf0};
    tb_load_code(&tb, lmsw, sizeof(lmsw));
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_CR_ACCESS);
    CHECK_EQ(c->exit.qualification, (1ull << 16) | 0x30);
    /* CR3-load exiting: a target value does not exit, another does */
    static const uint8_t movcr3[] = {0x0f, 0x22, 0xd9, 0xf4}; /* mov cr3, rcx */
    tb_load_code(&tb, movcr3, sizeof(movcr3));
    c->ctl.cr0_mask = 0;
    c->ctl.proc |= PROC_CR3_LOAD_EXITING;
    c->ctl.cr3_target_count = 1;
    c->ctl.cr3_target[0] = TB_PML4;
    c->regs[R_RCX] = TB_PML4;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    tb_load_code(&tb, movcr3, sizeof(movcr3));
    c->regs[R_RCX] = TB_PML4 + 0x1000;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_CR_ACCESS);
    CHECK_EQ(c->exit.qualification, 0x103);
    CHECK_EQ(c->cr3, TB_PML4);
    tb_destroy(&tb);
}

/* NMIs and external interrupts at the instruction boundary: NMI exiting,
 * NMI delivery through the IDT, NMI-window exiting after the virtual-NMI
 * blocking ends (IRET), external-interrupt exiting with acknowledge. */
UNIT_TEST(nmi_and_external_interrupt_exits)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    struct cpu *c = tb.cpu;
    static const uint8_t code[] = {0x90, 0x90, 0x90};
    tb_load_code(&tb, code, sizeof(code));
    c->nmi_pending = true;
    c->ctl.pin = PIN_NMI_EXITING;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(c->exit.intr_info, INTR_INFO_VALID | (INTR_TYPE_NMI << 8) | 2);
    CHECK(!c->nmi_pending);
    /* without NMI exiting the NMI is delivered (vector 2 -> handler) and
     * blocks further NMIs */
    c->ctl.pin = 0;
    c->nmi_pending = true;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_HLT);
    CHECK_EQ(c->rip, 0x200000);
    CHECK(c->interruptibility & INTR_STATE_NMI);
    /* NMI-window exiting waits for the blocking to end */
    c->ctl.proc |= PROC_NMI_WINDOW_EXITING;
    tb_load_code(&tb, code, sizeof(code));
    CHECK_EQ(cpu_run(c, 2), EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED);
    c->interruptibility &= ~INTR_STATE_NMI;
    CHECK_EQ(cpu_run(c, 2), EXIT_REASON_NMI_WINDOW);
    c->ctl.proc &= ~PROC_NMI_WINDOW_EXITING;
    /* external interrupt with "acknowledge interrupt on exit" */
    c->ctl.pin = PIN_EXTERNAL_INTERRUPT_EXITING;
    c->ctl.exit = EXIT_CTL_ACKNOWLEDGE_INTERRUPT_ON_EXIT;
    c->ext_intr_pending = true;
    c->ext_intr_vector = 0x31;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_EXTERNAL_INTERRUPT);
    CHECK_EQ(c->exit.intr_info, INTR_INFO_VALID | 0x31);
    CHECK(!c->ext_intr_pending);
    tb_destroy(&tb);
}

/* Descriptor-table exiting: LGDT exits with reason 46, identity 2 and the
 * addressing form in the instruction information (SDM 28.2.5). */
UNIT_TEST(descriptor_table_exiting)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    static const uint8_t code[] = {0x0f, 0x01, 0x54, 0x8b, 0x10}; /* lgdt [rbx+rcx*4+0x10] */
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->ctl.proc |= PROC_ACTIVATE_SECONDARY_CONTROLS;
    tb.cpu->ctl.proc2 = PROC2_DESCRIPTOR_TABLE_EXITING;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_GDTR_IDTR_ACCESS);
    CHECK_EQ(tb.cpu->exit.qualification, 0x10);
    uint32_t info = tb.cpu->exit.instr_info;
    CHECK_EQ((info >> 28) & 3, 2);      /* LGDT */
    CHECK_EQ(info & 3, 2);              /* scale x4 */
    CHECK_EQ((info >> 7) & 7, 2);       /* 64-bit addressing */
    CHECK_EQ((info >> 18) & 15, R_RCX); /* index */
    CHECK_EQ((info >> 23) & 15, R_RBX); /* base */
    CHECK_EQ(info & ((1u << 22) | (1u << 27) | (1u << 10)), 0);
    CHECK_EQ(tb.cpu->exit.instr_len, 5);
    tb_destroy(&tb);
}

/* VM-entry MSR-load list and VM-exit MSR-store list (SDM 26.4, 28.4). */
UNIT_TEST(msr_lists)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    static const uint8_t code[] = {0xf4};
    tb_load_code(&tb, code, sizeof(code));
    struct vmcs v;
    valid_vmcs(&tb, &v);
    struct vmcs good = v;
    /* load LSTAR and STAR at entry; store LSTAR at exit */
    uint64_t list[4] = {0xc0000082, 0xffffffff81234560ull, 0xc0000081, 0x0023001000000000ull};
    physmem_write(&tb.pm, 0x7000, list, sizeof(list));
    uint64_t store[2] = {0xc0000082, 0};
    physmem_write(&tb.pm, 0x7100, store, sizeof(store));
    vmcs_set(&v, VI_VM_ENTRY_MSR_LOAD_ADDR, 0x7000);
    vmcs_set(&v, VI_VM_ENTRY_MSR_LOAD_COUNT, 2);
    vmcs_set(&v, VI_VM_EXIT_MSR_STORE_ADDR, 0x7100);
    vmcs_set(&v, VI_VM_EXIT_MSR_STORE_COUNT, 1);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), EXIT_REASON_HLT);
    CHECK_EQ(tb.cpu->lstar, 0xffffffff81234560ull);
    CHECK_EQ(tb.cpu->star, 0x0023001000000000ull);
    physmem_read(&tb.pm, 0x7108, &store[1], 8);
    CHECK_EQ(store[1], 0xffffffff81234560ull);
    /* a non-canonical LSTAR in entry 2 fails the entry: reason 34, qual 2 */
    v = good;
    list[3] = 0x8000000000000000ull;
    list[2] = 0xc0000082;
    physmem_write(&tb.pm, 0x7000, list, sizeof(list));
    vmcs_set(&v, VI_VM_ENTRY_MSR_LOAD_ADDR, 0x7000);
    vmcs_set(&v, VI_VM_ENTRY_MSR_LOAD_COUNT, 2);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), 0x80000000u | 34);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_QUALIFICATION), 2);
    /* a misaligned list address is a control-check failure */
    v = good;
    vmcs_set(&v, VI_VM_ENTRY_MSR_LOAD_ADDR, 0x7008);
    vmcs_set(&v, VI_VM_ENTRY_MSR_LOAD_COUNT, 1);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 7);
    tb_destroy(&tb);
}

/* "load IA32_PERF_GLOBAL_CTRL" (SDM 27.3.2.1, 28.5.1): the entry control
 * loads the guest field, the exit control the host field; reserved bits in
 * either field fail the entry checks (27.2.2 host: error 8; 27.3.1.1 guest:
 * exit 33). WRMSR of reserved bits is #GP. */
UNIT_TEST(perf_global_ctrl_load)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    /* rdmsr (ecx = 0x38f) ; hlt */
    static const uint8_t code[] = {0x0f, 0x32, 0xf4};
    tb_load_code(&tb, code, sizeof(code));
    struct vmcs v;
    valid_vmcs(&tb, &v);
    vmcs_set(&v, VI_GUEST_RIP, TB_CODE);
    uint8_t bitmap[4096] = {0};
    physmem_write(&tb.pm, 0xa000, bitmap, sizeof(bitmap));
    vmcs_set(&v, VI_PRIMARY_PROC_BASED_VM_EXEC_CONTROL, PROC_HLT_EXITING | PROC_USE_MSR_BITMAPS);
    vmcs_set(&v, VI_MSR_BITMAP_ADDR, 0xa000);
    vmcs_set(&v, VI_VM_ENTRY_CONTROLS,
             vmcs_get(&v, VI_VM_ENTRY_CONTROLS) | ENTRY_CTL_LOAD_IA32_PERF_GLOBAL_CTRL);
    vmcs_set(&v, VI_PRIMARY_VM_EXIT_CONTROLS,
             vmcs_get(&v, VI_PRIMARY_VM_EXIT_CONTROLS) | EXIT_CTL_LOAD_IA32_PERF_GLOBAL_CTRL);
    vmcs_set(&v, VI_GUEST_IA32_PERF_GLOBAL_CTRL, 0x500000002ull);
    vmcs_set(&v, VI_HOST_IA32_PERF_GLOBAL_CTRL, 0x1);
    struct vmcs good = v;
    tb.cpu->regs[R_RCX] = 0x38f;
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), EXIT_REASON_HLT);
    /* the guest saw its value; after the exit the register is the host's */
    CHECK_EQ(tb.cpu->regs[R_RAX], 2);
    CHECK_EQ(tb.cpu->regs[R_RDX], 5);
    CHECK_EQ(tb.cpu->perf_global_ctrl, 1);
    /* reserved bit 2 in the host field: VMfailValid(8) */
    v = good;
    vmcs_set(&v, VI_HOST_IA32_PERF_GLOBAL_CTRL, 0x4);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 8);
    /* reserved bit 35 in the guest field: entry failure, reason 33 */
    v = good;
    vmcs_set(&v, VI_GUEST_IA32_PERF_GLOBAL_CTRL, 1ull << 35);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), 0x80000000u | 33);
    CHECK_EQ(tb.cpu->perf_global_ctrl, 1); /* not loaded */
    /* without the entry control the register keeps its value */
    v = good;
    vmcs_set(&v, VI_VM_ENTRY_CONTROLS,
             vmcs_get(&v, VI_VM_ENTRY_CONTROLS) & ~ENTRY_CTL_LOAD_IA32_PERF_GLOBAL_CTRL);
    vmcs_set(&v, VI_HOST_IA32_PERF_GLOBAL_CTRL, 0x700000000ull);
    tb.cpu->regs[R_RCX] = 0x38f;
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_EXIT_REASON), EXIT_REASON_HLT);
    CHECK_EQ(tb.cpu->regs[R_RAX], 1);
    CHECK_EQ(tb.cpu->perf_global_ctrl, 0x700000000ull);
    /* "save IA32_PERF_GLOBAL_CTRL" stores the guest's value at the exit,
     * before the host value is loaded */
    v = good;
    vmcs_set(&v, VI_PRIMARY_VM_EXIT_CONTROLS,
             vmcs_get(&v, VI_PRIMARY_VM_EXIT_CONTROLS) | EXIT_CTL_SAVE_IA32_PERF_GLOBAL_CTRL);
    vmcs_set(&v, VI_GUEST_IA32_PERF_GLOBAL_CTRL, 0x100000001ull);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_IA32_PERF_GLOBAL_CTRL), 0x100000001ull);
    CHECK_EQ(tb.cpu->perf_global_ctrl, 1);
    v.launched = false;
    vmcs_set(&v, VI_GUEST_IA32_PERF_GLOBAL_CTRL, 0);
    tb.cpu->perf_global_ctrl = 0x2;
    vmcs_set(&v, VI_VM_ENTRY_CONTROLS,
             vmcs_get(&v, VI_VM_ENTRY_CONTROLS) & ~ENTRY_CTL_LOAD_IA32_PERF_GLOBAL_CTRL);
    vmcs_set(&v, VI_GUEST_RIP, TB_CODE);
    CHECK_EQ(cpu_vmentry(tb.cpu, &v, false), 0);
    CHECK_EQ(vmcs_get(&v, VI_GUEST_IA32_PERF_GLOBAL_CTRL), 0x2);
    CHECK_EQ(tb.cpu->perf_global_ctrl, 1);
    /* WRMSR of a reserved bit raises #GP (vector 13 intercepted here) */
    static const uint8_t wr[] = {0x0f, 0x30};
    tb_load_code(&tb, wr, sizeof(wr));
    tb.cpu->ctl.exception_bitmap = 1u << EXC_GP;
    tb.cpu->regs[R_RCX] = 0x38f;
    tb.cpu->regs[R_RAX] = 4;
    tb.cpu->regs[R_RDX] = 0;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(tb.cpu->exit.intr_info & 0xff, EXC_GP);
    tb_destroy(&tb);
}

/* Monitor trap flag: one instruction, then exit 37 with RIP after it; TSC
 * scaling and offsetting apply to RDTSC. */
UNIT_TEST(mtf_and_tsc_scaling)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    static const uint8_t code[] = {0x0f, 0x31, 0x90}; /* rdtsc; nop */
    tb_load_code(&tb, code, sizeof(code));
    struct cpu *c = tb.cpu;
    c->ctl.proc |=
        PROC_MONITOR_TRAP_FLAG | PROC_USE_TSC_OFFSETTING | PROC_ACTIVATE_SECONDARY_CONTROLS;
    c->ctl.proc2 = PROC2_USE_TSC_SCALING;
    c->ctl.tsc_multiplier = 3ull << 47; /* x1.5 */
    c->ctl.tsc_offset = 1000;
    c->icount = 1000;
    c->tsc_base = 0;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_MONITOR_TRAP_FLAG);
    CHECK_EQ(c->rip, TB_CODE + 2);
    CHECK_EQ((c->regs[R_RDX] << 32) | c->regs[R_RAX], 1000 * 3 / 2 + 1000);
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_MONITOR_TRAP_FLAG);
    CHECK_EQ(c->rip, TB_CODE + 3);
    /* an injected hardware exception: the MTF exit follows its delivery
     * before the handler's first instruction */
    c->entry_event.info = INTR_INFO_VALID | (INTR_TYPE_HW_EXCEPTION << 8) | EXC_UD;
    uint64_t before = c->icount;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_MONITOR_TRAP_FLAG);
    CHECK_EQ(c->rip, 0x200000);
    CHECK_EQ(c->icount, before);
    tb_destroy(&tb);
}

/* TPR shadow (SDM 29.3): CR8 reads and writes go to VTPR in the
 * virtual-APIC page; a write below the TPR threshold is a trap-like exit. */
UNIT_TEST(tpr_shadow)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    /* mov cr8, rax ; mov rbx, cr8 ; mov cr8, rcx */
    static const uint8_t code[] = {0x44, 0x0f, 0x22, 0xc0, 0x44, 0x0f,
                                   0x20, 0xc3, 0x44, 0x0f, 0x22, 0xc1};
    tb_load_code(&tb, code, sizeof(code));
    struct cpu *c = tb.cpu;
    uint8_t zero[4096] = {0};
    physmem_write(&tb.pm, 0x9000, zero, sizeof(zero));
    c->ctl.proc |= PROC_USE_TPR_SHADOW;
    c->ctl.virtual_apic = 0x9000;
    c->ctl.tpr_threshold = 5;
    c->regs[R_RAX] = 9;
    c->regs[R_RCX] = 3;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_TPR_BELOW_THRESHOLD);
    uint32_t vtpr = 0;
    physmem_read(&tb.pm, 0x9080, &vtpr, 4);
    CHECK_EQ(vtpr, 0x30);
    CHECK_EQ(c->regs[R_RBX], 9);
    CHECK_EQ(c->rip, TB_CODE + sizeof(code)); /* trap-like: after the instruction */
    CHECK_EQ(c->cr8, 0);                      /* the real TPR is untouched */
    tb_destroy(&tb);
}

/* APIC-access page (SDM 29.4): an access translating to it exits with the
 * offset and access type in the qualification. */
UNIT_TEST(apic_access_exit)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    setup_idt(&tb);
    static const uint8_t code[] = {0x89, 0x04, 0x25, 0xb0,
                                   0x00, 0x80, 0x00}; /* mov [0x8000b0], eax */
    tb_load_code(&tb, code, sizeof(code));
    tb.cpu->ctl.proc |= PROC_ACTIVATE_SECONDARY_CONTROLS;
    tb.cpu->ctl.proc2 = PROC2_VIRTUALIZE_APIC_ACCESSES;
    tb.cpu->ctl.apic_access = 0x800000;
    CHECK_EQ(cpu_run(tb.cpu, 10), EXIT_REASON_APIC_ACCESS);
    CHECK_EQ(tb.cpu->exit.qualification, 0x10b0); /* write (1) at offset 0xb0: EOI */
    CHECK_EQ(tb.cpu->rip, TB_CODE);
    tb_destroy(&tb);
}

/* INIT and SIPI in VMX non-root operation (SDM 26.2): INIT always exits;
 * a SIPI exits in the wait-for-SIPI state with its vector. */
UNIT_TEST(init_and_sipi_exits)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {0x90, 0x90};
    tb_load_code(&tb, code, sizeof(code));
    struct cpu *c = tb.cpu;
    c->init_pending = true;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_INIT_SIGNAL);
    CHECK(!c->init_pending);
    c->activity = ACTIVITY_WAIT_SIPI;
    c->sipi_pending = true;
    c->sipi_vector = 0x9a;
    CHECK_EQ(cpu_run(c, 10), EXIT_REASON_SIPI);
    CHECK_EQ(c->exit.qualification, 0x9a);
    tb_destroy(&tb);
}

/* PAUSE-loop exiting: PAUSEs closer than PLE_Gap form a loop; the one
 * more than PLE_Window after the loop's first exits (TSC = instructions). */
UNIT_TEST(pause_loop_exiting)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {0xf3, 0x90, 0xeb, 0xfc}; /* 1: pause; jmp 1b */
    tb_load_code(&tb, code, sizeof(code));
    struct cpu *c = tb.cpu;
    c->ctl.proc |= PROC_ACTIVATE_SECONDARY_CONTROLS;
    c->ctl.proc2 = PROC2_PAUSE_LOOP_EXITING;
    c->ctl.ple_gap = 4;
    c->ctl.ple_window = 100;
    c->ple_first = UINT64_MAX;
    uint64_t start = c->icount;
    CHECK_EQ(cpu_run(c, 1000), EXIT_REASON_PAUSE);
    uint64_t ran = c->icount - start;
    CHECK(ran > 100 && ran < 110); /* the window, then the exiting PAUSE */
    /* with a gap smaller than the loop period every PAUSE starts a new loop */
    c->ctl.ple_gap = 1;
    c->ple_first = UINT64_MAX;
    CHECK_EQ(cpu_run(c, 1000), EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED);
    tb_destroy(&tb);
}

int main(void)
{
    UNIT_RUN(exception_bitmap_ud);
    UNIT_RUN(exception_bitmap_pf_mask_match);
    UNIT_RUN(exception_bitmap_int3_instruction_length);
    UNIT_RUN(idt_vectoring_on_fault_during_delivery);
    UNIT_RUN(vmcs_entry_injection_and_exit_info);
    UNIT_RUN(msr_bitmap_passthrough_and_intercept);
    UNIT_RUN(cr_access_exits);
    UNIT_RUN(vmentry_checks);
    UNIT_RUN(nmi_and_external_interrupt_exits);
    UNIT_RUN(descriptor_table_exiting);
    UNIT_RUN(msr_lists);
    UNIT_RUN(perf_global_ctrl_load);
    UNIT_RUN(mtf_and_tsc_scaling);
    UNIT_RUN(tpr_shadow);
    UNIT_RUN(apic_access_exit);
    UNIT_RUN(init_and_sipi_exits);
    UNIT_RUN(pause_loop_exiting);
    UNIT_DONE();
}
