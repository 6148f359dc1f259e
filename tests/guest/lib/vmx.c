/* VMX helper layer for L1 test hypervisors (see vmx.h). */
#include "vmx.h"

struct vmx_regs vmx_l2_regs;
int vmx_launched;      /* the current VMCS has been launched (vmx_run) */
uint64_t vmx_host_rsp; /* referenced from the assembly below */

#define L2_STACK_SIZE 65536
static uint8_t l2_stack[L2_STACK_SIZE] ALIGNED(16);

bool vmx_offered(void)
{
    uint32_t a = 1, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    return c & (1u << 5);
}

uint64_t vmx_new_region(void)
{
    uint32_t *p = alloc_page();
    p[0] = (uint32_t)rdmsr(0x480) & 0x7fffffffu;
    return (uint64_t)(uintptr_t)p;
}

int vmx_on(void)
{
    write_cr4(read_cr4() | (1ull << 13));
    return vmxon(vmx_new_region());
}

uint32_t vmx_ctl(uint32_t msr, uint32_t want)
{
    uint64_t cap = rdmsr(msr);
    return (want | (uint32_t)cap) & (uint32_t)(cap >> 32);
}

void vmx_set_ctl(uint64_t field, uint32_t msr, uint32_t want)
{
    vmwrite(field, vmx_ctl(msr, want));
}

struct dtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

/* vmx_run: enter L2 with vmx_l2_regs; the exit stub (HOST_RIP) saves L2's
 * registers and returns from vmx_run with 0. A failed VMLAUNCH/VMRESUME
 * returns 1 (VMfailInvalid) or 2 (VMfailValid). */
__asm__(".text\n"
        ".global vmx_enter\n"
        "vmx_enter:\n"
        "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
        "  mov %rsp, vmx_host_rsp(%rip)\n"
        "  mov $0x6c14, %rax\n"
        "  vmwrite %rsp, %rax\n"
        "  mov %edi, %eax\n"
        "  mov %eax, vmx_enter_resume(%rip)\n"
        "  mov vmx_l2_regs+8(%rip), %rcx\n"
        "  mov vmx_l2_regs+16(%rip), %rdx\n"
        "  mov vmx_l2_regs+24(%rip), %rbx\n"
        "  mov vmx_l2_regs+32(%rip), %rbp\n"
        "  mov vmx_l2_regs+40(%rip), %rsi\n"
        "  mov vmx_l2_regs+56(%rip), %r8\n"
        "  mov vmx_l2_regs+64(%rip), %r9\n"
        "  mov vmx_l2_regs+72(%rip), %r10\n"
        "  mov vmx_l2_regs+80(%rip), %r11\n"
        "  mov vmx_l2_regs+88(%rip), %r12\n"
        "  mov vmx_l2_regs+96(%rip), %r13\n"
        "  mov vmx_l2_regs+104(%rip), %r14\n"
        "  mov vmx_l2_regs+112(%rip), %r15\n"
        "  mov vmx_l2_regs+48(%rip), %rdi\n"
        "  cmpl $0, vmx_enter_resume(%rip)\n"
        "  mov vmx_l2_regs+0(%rip), %rax\n"
        "  jne 1f\n"
        "  vmlaunch\n"
        "  jmp 2f\n"
        "1: vmresume\n"
        "2: mov $1, %eax\n"
        "  jc 3f\n"
        "  mov $2, %eax\n"
        "3: pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
        "  ret\n"
        ".global vmx_exit_stub\n"
        "vmx_exit_stub:\n"
        "  mov %rax, vmx_l2_regs+0(%rip)\n"
        "  mov %rcx, vmx_l2_regs+8(%rip)\n"
        "  mov %rdx, vmx_l2_regs+16(%rip)\n"
        "  mov %rbx, vmx_l2_regs+24(%rip)\n"
        "  mov %rbp, vmx_l2_regs+32(%rip)\n"
        "  mov %rsi, vmx_l2_regs+40(%rip)\n"
        "  mov %rdi, vmx_l2_regs+48(%rip)\n"
        "  mov %r8, vmx_l2_regs+56(%rip)\n"
        "  mov %r9, vmx_l2_regs+64(%rip)\n"
        "  mov %r10, vmx_l2_regs+72(%rip)\n"
        "  mov %r11, vmx_l2_regs+80(%rip)\n"
        "  mov %r12, vmx_l2_regs+88(%rip)\n"
        "  mov %r13, vmx_l2_regs+96(%rip)\n"
        "  mov %r14, vmx_l2_regs+104(%rip)\n"
        "  mov %r15, vmx_l2_regs+112(%rip)\n"
        "  xor %eax, %eax\n"
        "  jmp 3b\n"
        ".data\n"
        "vmx_enter_resume: .long 0\n"
        ".text\n");

int vmx_enter(int resume);
void vmx_exit_stub(void);

int vmx_run(void)
{
    (void)vmx_host_rsp;
    int r = vmx_enter(vmx_launched);
    if (r == VMX_OK)
        vmx_launched = 1;
    return r;
}

void vmx_skip(void)
{
    vmwrite(GUEST_RIP, vmread(GUEST_RIP) + vmread(EXIT_INSTR_LEN));
}

static uint64_t seg_base_of(uint16_t sel, uint64_t gdt_base)
{
    if (!sel)
        return 0;
    const uint64_t *g = (const uint64_t *)(uintptr_t)gdt_base;
    uint64_t d = g[sel >> 3];
    uint64_t base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
    if (!((d >> 44) & 1)) /* system descriptor: 16 bytes in 64-bit mode */
        base |= (g[(sel >> 3) + 1] & 0xffffffffull) << 32;
    return base;
}

uint64_t vmx_setup_vmcs(void (*entry)(void))
{
    uint64_t vmcs = vmx_new_region();
    vmclear(vmcs);
    vmptrld(vmcs);
    vmx_launched = 0;
    struct dtr gdtr, idtr;
    __asm__ volatile("sgdt %0; sidt %1" : "=m"(gdtr), "=m"(idtr));
    uint16_t cs, ss, ds, es, fs, gs, tr;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    __asm__ volatile("mov %%ss, %0" : "=r"(ss));
    __asm__ volatile("mov %%ds, %0" : "=r"(ds));
    __asm__ volatile("mov %%es, %0" : "=r"(es));
    __asm__ volatile("mov %%fs, %0" : "=r"(fs));
    __asm__ volatile("mov %%gs, %0" : "=r"(gs));
    __asm__ volatile("str %0" : "=r"(tr));
    if (!tr) {
        tss_reload();
        tr = SEL_TSS;
    }
    uint64_t efer = rdmsr(0xc0000080), pat = rdmsr(0x277);
    /* controls: the least the TRUE MSRs allow (BASIC bit 55) */
    vmx_set_ctl(PIN_CTLS, 0x48d, 0);
    vmx_set_ctl(PROC_CTLS, 0x48e, 0);
    vmx_set_ctl(EXIT_CTLS, 0x48f, EXIT_HOST_64 | EXIT_LOAD_EFER | EXIT_SAVE_EFER);
    vmx_set_ctl(ENTRY_CTLS, 0x490, ENTRY_GUEST_64 | ENTRY_LOAD_EFER);
    vmwrite(EXC_BITMAP, 0);
    vmwrite(CR3_TARGET_COUNT, 0);
    vmwrite(VMCS_LINK_PTR, ~0ull);
    /* host state: this L1, continuing in vmx_exit_stub */
    vmwrite(HOST_CR0, read_cr0());
    vmwrite(HOST_CR3, read_cr3());
    vmwrite(HOST_CR4, read_cr4());
    vmwrite(HOST_CS_SEL, cs);
    vmwrite(HOST_SS_SEL, ss);
    vmwrite(HOST_DS_SEL, ds);
    vmwrite(HOST_ES_SEL, es);
    vmwrite(HOST_FS_SEL, fs);
    vmwrite(HOST_GS_SEL, gs);
    vmwrite(HOST_TR_SEL, tr);
    vmwrite(HOST_FS_BASE, rdmsr(0xc0000100));
    vmwrite(HOST_GS_BASE, rdmsr(0xc0000101));
    vmwrite(HOST_TR_BASE, seg_base_of(tr, gdtr.base));
    vmwrite(HOST_GDTR_BASE, gdtr.base);
    vmwrite(HOST_IDTR_BASE, idtr.base);
    vmwrite(HOST_EFER, efer);
    vmwrite(HOST_PAT, pat);
    vmwrite(HOST_SYSENTER_CS, 0);
    vmwrite(HOST_SYSENTER_ESP, 0);
    vmwrite(HOST_SYSENTER_EIP, 0);
    vmwrite(HOST_RIP, (uint64_t)(uintptr_t)vmx_exit_stub);
    /* guest state: a 64-bit ring-0 L2 in this address space */
    vmwrite(GUEST_CR0, read_cr0());
    vmwrite(GUEST_CR3, read_cr3());
    vmwrite(GUEST_CR4, read_cr4());
    vmwrite(CR4_MASK, 1ull << 13); /* L2 does not see VMXE */
    vmwrite(CR4_SHADOW, read_cr4() & ~(1ull << 13));
    vmwrite(GUEST_EFER, efer);
    vmwrite(GUEST_PAT, pat);
    vmwrite(GUEST_DR7, 0x400);
    vmwrite(GUEST_DEBUGCTL, 0);
    static const uint64_t sels[] = {GUEST_ES_SEL, GUEST_SS_SEL, GUEST_DS_SEL, GUEST_FS_SEL,
                                    GUEST_GS_SEL};
    static const uint64_t lims[] = {GUEST_ES_LIMIT, GUEST_SS_LIMIT, GUEST_DS_LIMIT, GUEST_FS_LIMIT,
                                    GUEST_GS_LIMIT};
    static const uint64_t ars[] = {GUEST_ES_AR, GUEST_SS_AR, GUEST_DS_AR, GUEST_FS_AR, GUEST_GS_AR};
    static const uint64_t bases[] = {GUEST_ES_BASE, GUEST_SS_BASE, GUEST_DS_BASE, GUEST_FS_BASE,
                                     GUEST_GS_BASE};
    for (int i = 0; i < 5; i++) {
        vmwrite(sels[i], SEL_KDATA);
        vmwrite(lims[i], 0xffffffff);
        vmwrite(ars[i], 0xc093);
        vmwrite(bases[i], 0);
    }
    vmwrite(GUEST_CS_SEL, SEL_KCODE64);
    vmwrite(GUEST_CS_LIMIT, 0xffffffff);
    vmwrite(GUEST_CS_AR, 0xa09b);
    vmwrite(GUEST_CS_BASE, 0);
    vmwrite(GUEST_TR_SEL, tr);
    vmwrite(GUEST_TR_BASE, seg_base_of(tr, gdtr.base));
    vmwrite(GUEST_TR_LIMIT, 0x67);
    vmwrite(GUEST_TR_AR, 0x8b);
    vmwrite(GUEST_LDTR_SEL, 0);
    vmwrite(GUEST_LDTR_AR, 0x10000);
    vmwrite(GUEST_GDTR_BASE, gdtr.base);
    vmwrite(GUEST_GDTR_LIMIT, gdtr.limit);
    vmwrite(GUEST_IDTR_BASE, idtr.base);
    vmwrite(GUEST_IDTR_LIMIT, idtr.limit);
    vmwrite(GUEST_RFLAGS, 2);
    vmwrite(GUEST_RSP, (uint64_t)(uintptr_t)(l2_stack + L2_STACK_SIZE - 8));
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)entry);
    vmwrite(GUEST_INTR_STATE, 0);
    vmwrite(GUEST_ACTIVITY, 0);
    vmwrite(GUEST_SYSENTER_CS, 0);
    vmwrite(GUEST_SYSENTER_ESP, 0);
    vmwrite(GUEST_SYSENTER_EIP, 0);
    return vmcs;
}

uint64_t vmx_ept_identity(void)
{
    uint64_t *pml4 = alloc_page(), *pdpt = alloc_page();
    pml4[0] = (uint64_t)(uintptr_t)pdpt | 7;
    for (int g = 0; g < 1; g++) {
        uint64_t *pd = alloc_page();
        pdpt[g] = (uint64_t)(uintptr_t)pd | 7;
        for (int i = 0; i < 512; i++)
            pd[i] = ((uint64_t)g << 30) | ((uint64_t)i << 21) | (1u << 7) | (6u << 3) | 7;
    }
    return (uint64_t)(uintptr_t)pml4 | (3u << 3) | 6;
}

bool vmx_start(void)
{
    if (!vmx_offered()) {
        SKIP("VMX is not offered", "vmx_offered");
        return false;
    }
    return CHECK_EQ(vmx_on(), VMX_OK, "vmxon");
}

uint32_t vmx_run_reason(void)
{
    if (vmx_run() != VMX_OK)
        return 0xffffffffu;
    return (uint32_t)vmread(EXIT_REASON);
}

void vmx_idt_gate(uint64_t *idt, int vec, void (*handler)(void))
{
    uint64_t a = (uint64_t)(uintptr_t)handler;
    idt[2 * vec] =
        (a & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) | (0x8eull << 40) | ((a >> 16) & 0xffff) << 48;
    idt[2 * vec + 1] = a >> 32;
}
