/* Fast system calls (SDM Vol. 2B SYSCALL/SYSRET/SYSENTER/SYSEXIT, Vol. 3A
 * 5.8.7-5.8.8): MSR-defined targets, the selectors derived from STAR /
 * IA32_SYSENTER_CS, RCX/R11 for SYSCALL, RFLAGS masking, 64- and 32-bit
 * returns, and the #UD/#GP conditions. */
#include "guest.h"

volatile uint64_t sc_rcx, sc_r11, sc_rflags, sc_cs, sc_ss, sc_rsp;
uint8_t se_stack[4096] ALIGNED(16);

__asm__(".pushsection .text\n"
        "syscall_entry:\n" /* CPL0, RSP still the user stack */
        "  mov %rcx, sc_rcx(%rip)\n"
        "  mov %r11, sc_r11(%rip)\n"
        "  pushfq\n"
        "  popq sc_rflags(%rip)\n"
        "  mov %cs, %ecx\n"
        "  mov %rcx, sc_cs(%rip)\n"
        "  mov %ss, %ecx\n"
        "  mov %rcx, sc_ss(%rip)\n"
        "  mov sc_rcx(%rip), %rcx\n"
        "  add $1, %rax\n"
        "  sysretq\n"
        "sysenter_entry:\n"
        "  mov %cs, %eax\n"
        "  mov %rax, sc_cs(%rip)\n"
        "  mov %ss, %eax\n"
        "  mov %rax, sc_ss(%rip)\n"
        "  mov %rsp, sc_rsp(%rip)\n"
        "  pushfq\n"
        "  popq sc_rflags(%rip)\n"
        "  mov $0x5e5e, %eax\n"
        "  rex.W sysexit\n" /* RIP = RDX, RSP = RCX (left by the caller) */
        /* sysretl / sysexitl into 32-bit user code, then back by INT 0x81 */
        ".globl do_sysret32, do_sysexit32\n"
        "do_sysret32:\n" /* RDI = ctx */
        "  push %rdi\n"
        "  call ctx_save\n"
        "  pop %rdi\n"
        "  test %eax, %eax\n"
        "  jnz 1f\n"
        "  mov $user32_report, %ecx\n"
        "  mov $0x202, %r11d\n"
        "  mov $user_stack + 16384, %esp\n"
        "  sysretl\n"
        "1: mov 72(%rdi), %rax\n"
        "  ret\n"
        "do_sysexit32:\n"
        "  push %rdi\n"
        "  call ctx_save\n"
        "  pop %rdi\n"
        "  test %eax, %eax\n"
        "  jnz 1f\n"
        "  mov $user32_report, %edx\n"
        "  mov $user_stack + 16384, %ecx\n"
        "  sysexitl\n"
        "1: mov 72(%rdi), %rax\n"
        "  ret\n"
        ".popsection\n"
        ".pushsection .user.text, \"ax\"\n"
        ".globl user_syscall, user_syscall_ret, user_sysenter, user_sysenter_ret\n"
        "user_syscall:\n" /* RDI = number; returns RAX | CS << 32 */
        "  mov %rdi, %rax\n"
        "  pushfq\n"
        "  orq $0x400, (%rsp)\n" /* DF=1 to see it masked and restored */
        "  popfq\n"
        "  syscall\n"
        "user_syscall_ret:\n"
        "  pushfq\n"
        "  pop %rdx\n"
        "  cld\n"
        "  mov %rdx, user_flags_after(%rip)\n"
        "  mov %cs, %edx\n"
        "  shl $32, %rdx\n"
        "  or %rdx, %rax\n"
        "  ret\n"
        "user_sysenter:\n"
        "  mov %rsp, %rcx\n"
        "  lea user_sysenter_ret(%rip), %rdx\n"
        "  sysenter\n"
        "user_sysenter_ret:\n"
        "  mov %cs, %edx\n"
        "  shl $32, %rdx\n"
        "  or %rdx, %rax\n"
        "  ret\n"
        "user_syscall_plain:\n"
        "  syscall\n"
        "  ret\n"
        "user_sysret:\n"
        "  sysretq\n"
        "user_sysexit:\n"
        "  sysexitl\n"
        ".code32\n"
        "user32_report:\n"
        "  mov %cs, %edi\n"
        "  mov %ss, %eax\n"
        "  shl $16, %eax\n"
        "  or %eax, %edi\n"
        "  int $0x81\n"
        ".code64\n"
        ".popsection\n");
extern char syscall_entry[], sysenter_entry[], user_syscall_ret[], user_sysenter_ret[];
uint64_t user_syscall(uint64_t);
uint64_t user_sysenter(uint64_t);
uint64_t user_syscall_plain(uint64_t);
uint64_t user_sysret(uint64_t);
uint64_t user_sysexit(uint64_t);
uint64_t do_sysret32(struct ctx *c);
uint64_t do_sysexit32(struct ctx *c);
volatile uint64_t user_flags_after USER_DATA;
extern struct ctx *ring3_cur;

static void test_syscall(void)
{
    CHECK_EXC(ring3_call(user_syscall_plain, 0), UD_VECTOR, 0, "syscall_sce0_ud");
    efer_set(EFER_SCE);
    wrmsr(MSR_STAR, ((uint64_t)SEL_UCODE32 << 48) | ((uint64_t)SEL_KCODE64 << 32));
    wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
    wrmsr(MSR_FMASK, RFLAGS_DF | RFLAGS_IF | RFLAGS_TF | RFLAGS_AC);
    CHECK_EQ(rdmsr(MSR_LSTAR), (uint64_t)syscall_entry, "lstar_readback");

    uint64_t r = ring3_call(user_syscall, 41);
    CHECK_EQ(r & 0xffffffff, 42, "syscall_sysret_roundtrip");
    CHECK_EQ(sc_cs, SEL_KCODE64, "syscall_cs_from_star");
    CHECK_EQ(sc_ss, SEL_KDATA, "syscall_ss_from_star_plus8");
    CHECK_EQ(sc_rcx, (uint64_t)user_syscall_ret, "syscall_rcx_is_return_rip");
    CHECK(sc_r11 & RFLAGS_DF, "syscall_r11_is_user_rflags");
    CHECK(!(sc_rflags & RFLAGS_DF), "syscall_fmask_clears_df");
    CHECK_EQ(r >> 32, SEL_UCODE64 | 3, "sysret64_cs_star_plus16_rpl3");
    CHECK(user_flags_after & RFLAGS_DF, "sysret_restores_rflags_from_r11");

    /* SYSRET to 32-bit code: CS = STAR[63:48], SS = STAR[63:48] + 8. */
    struct ctx c;
    struct ctx *prev = ring3_cur;
    ring3_cur = &c;
    r = do_sysret32(&c);
    ring3_cur = prev;
    CHECK_EQ(r & 0xffff, SEL_UCODE32 | 3, "sysret32_cs");
    CHECK_EQ((r >> 16) & 0xffff, SEL_UDATA | 3, "sysret32_ss");

    /* SYSRET at CPL3: #GP(0). */
    CHECK_EXC(ring3_call(user_sysret, 0), GP_VECTOR, 0, "sysret_cpl3_gp");
    /* SYSRET (64-bit) with a non-canonical RCX: #GP(0) at CPL0 (Intel). */
    CHECK_EXC(__asm__ volatile("mov %0, %%rcx; mov $2, %%r11d; sysretq" ::"r"(0x0000800000000000ull)
                               : "rcx", "r11"),
              GP_VECTOR, 0, "sysret_noncanonical_gp");
    efer_clear(EFER_SCE);
    CHECK_EXC(ring3_call(user_syscall_plain, 0), UD_VECTOR, 0, "syscall_after_sce_clear_ud");
}

static void test_sysenter(void)
{
    /* SYSENTER with IA32_SYSENTER_CS = 0: #GP(0). */
    wrmsr(MSR_SYSENTER_CS, 0);
    CHECK_EXC(ring3_call(user_sysenter, 0), GP_VECTOR, 0, "sysenter_cs0_gp");
    wrmsr(MSR_SYSENTER_CS, SEL_SE_BASE);
    wrmsr(MSR_SYSENTER_ESP, (uint64_t)(se_stack + sizeof(se_stack)));
    wrmsr(MSR_SYSENTER_EIP, (uint64_t)sysenter_entry);
    CHECK_EQ(rdmsr(MSR_SYSENTER_CS), SEL_SE_BASE, "sysenter_cs_readback");

    uint64_t r = ring3_call(user_sysenter, 0);
    CHECK_EQ(r & 0xffffffff, 0x5e5e, "sysenter_sysexit64_roundtrip");
    CHECK_EQ(sc_cs, SEL_SE_BASE, "sysenter_cs");
    CHECK_EQ(sc_ss, SEL_SE_BASE + 8, "sysenter_ss_cs_plus8");
    CHECK_EQ(sc_rsp, (uint64_t)(se_stack + sizeof(se_stack)), "sysenter_rsp_from_msr");
    CHECK(!(sc_rflags & RFLAGS_IF), "sysenter_clears_if");
    CHECK_EQ(r >> 32, (SEL_SE_BASE + 32) | 3, "sysexit64_cs_plus32_rpl3");

    struct ctx c;
    struct ctx *prev = ring3_cur;
    ring3_cur = &c;
    r = do_sysexit32(&c);
    ring3_cur = prev;
    CHECK_EQ(r & 0xffff, (SEL_SE_BASE + 16) | 3, "sysexit32_cs_plus16");
    CHECK_EQ((r >> 16) & 0xffff, (SEL_SE_BASE + 24) | 3, "sysexit32_ss_plus24");

    CHECK_EXC(ring3_call(user_sysexit, 0), GP_VECTOR, 0, "sysexit_cpl3_gp");
}

void guest_main(struct multiboot_info *mbi)
{
    struct cpuid_regs v = cpuid(0, 0);
    char vendor[13];
    memcpy(vendor, &v.b, 4);
    memcpy(vendor + 4, &v.d, 4);
    memcpy(vendor + 8, &v.c, 4);
    vendor[12] = 0;
    gprintf("CPU vendor: %s\n", vendor);
    test_syscall();
    /* SYSENTER/SYSEXIT in IA-32e mode are Intel-only (AMD: #UD). */
    if (strcmp(vendor, "GenuineIntel") == 0)
        test_sysenter();
    else
        SKIP("not an Intel CPU: SYSENTER is #UD in long mode on AMD", "sysenter");
}
