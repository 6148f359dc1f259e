/* Operating modes and the transitions between them (SDM Vol. 3A 9.8-9.9,
 * 10.8.5): 64-bit -> compatibility mode -> legacy 32-bit protected mode
 * (paging off, IA-32e deactivated) with a 32-bit IDT -> 16-bit protected
 * mode -> real mode (IVT interrupts, #DE through the IVT, segment
 * arithmetic, operand-size prefix) -> protected mode -> IA-32e mode again.
 * Also far CALL/JMP/RET between 64-bit, 32-bit and 16-bit code segments
 * under IA-32e mode and the encodings that differ between the modes. */
#include "guest.h"

#define RM_BASE 0x7000 /* real-mode blob is copied here (below 1 MiB) */
#define RM_SEG (RM_BASE >> 4)

/* Results written by the legacy-mode code. */
volatile uint32_t pm_efer, pm_cr0, pm_int30_seen, pm_ud_seen, pm_after_ud, pm_far_seen;
volatile uint64_t legacy_rsp;
uint64_t pm_idt[256] ALIGNED(16);
struct __attribute__((packed)) pseudo32 {
    uint16_t limit;
    uint32_t base;
};
struct pseudo32 pm_idtr ALIGNED(4), rm_idtr ALIGNED(4);

__asm__(
    /* ---- the real-mode blob: position independent, runs at RM_BASE ---- */
    ".pushsection .text\n"
    ".globl rm_blob, rm_blob_end, rm_pm16_entry, rm_compat16_fn\n"
    ".globl rm_res_int, rm_res_de, rm_res_de_done, rm_res_cs, rm_res_flags, rm_res_eax, "
    "rm_gdtr\n"
    ".code16\n"
    "rm_blob:\n"
    "rm_pm16_entry:\n"   /* 16-bit protected mode, CS=SEL_KCODE16 (base 0) */
    "  mov $0x40, %ax\n" /* SEL_KDATA16: real-mode-like 64 KiB limits */
    "  mov %ax, %ds\n"
    "  mov %ax, %es\n"
    "  mov %ax, %ss\n"
    "  mov %ax, %fs\n"
    "  mov %ax, %gs\n"
    "  mov %cr0, %eax\n"
    "  and $0xfffffffe, %eax\n" /* clear PE */
    "  mov %eax, %cr0\n"
    "  ljmp $0x0700, $(rm_real - rm_blob)\n"
    "rm_real:\n"
    "  xor %ax, %ax\n"
    "  mov %ax, %ss\n"
    "  mov $0x7000, %sp\n"
    "  mov $0x0700, %ax\n"
    "  mov %ax, %ds\n"
    "  xor %ax, %ax\n"
    "  mov %ax, %es\n"
    "  movw $(rm_int80 - rm_blob), %es:(0x80 * 4)\n"
    "  movw $0x0700, %es:(0x80 * 4 + 2)\n"
    "  movw $(rm_de - rm_blob), %es:(0)\n"
    "  movw $0x0700, %es:(2)\n"
    "  xor %ax, %ax\n"
    "  int $0x80\n"
    "  mov %ax, (rm_res_int - rm_blob)\n"
    "  mov $5, %ax\n"
    "  xor %bl, %bl\n"
    "  div %bl\n" /* #DE through IVT vector 0; the handler skips the 2 bytes */
    "  movw $1, (rm_res_de_done - rm_blob)\n"
    "  mov $0x1000, %ax\n"
    "  mov %ax, %es\n"
    "  movw $0xbeef, %es:(0x10)\n" /* physical 0x10010 */
    "  mov $0x12345678, %eax\n"    /* operand-size prefix in 16-bit code */
    "  mov %eax, (rm_res_eax - rm_blob)\n"
    "  mov $0xffff, %ax\n"
    "  add $1, %ax\n"
    "  pushf\n"
    "  pop %ax\n"
    "  mov %ax, (rm_res_flags - rm_blob)\n"
    "  mov %cs, %ax\n"
    "  mov %ax, (rm_res_cs - rm_blob)\n"
    "  lgdtl (rm_gdtr - rm_blob)\n"
    "  mov %cr0, %eax\n"
    "  or $1, %eax\n"
    "  mov %eax, %cr0\n"
    "  ljmpl $0x18, $pm32_back\n"
    "rm_int80:\n"
    "  mov $0x8080, %ax\n"
    "  iret\n"
    "rm_de:\n"
    "  push %bp\n"
    "  mov %sp, %bp\n"
    "  addw $2, 2(%bp)\n" /* IP of the faulting DIV + 2 */
    "  incw %ds:(rm_res_de - rm_blob)\n"
    "  pop %bp\n"
    "  iret\n"
    "rm_compat16_fn:\n" /* 16-bit code segment under IA-32e mode */
    "  mov $0x1616, %ax\n"
    "  add %bx, %ax\n"
    "  mov %cs, %dx\n"
    "  lretl\n"
    ".balign 4\n"
    "rm_res_int: .word 0\n"
    "rm_res_de: .word 0\n"
    "rm_res_de_done: .word 0\n"
    "rm_res_cs: .word 0\n"
    "rm_res_flags: .word 0\n"
    ".balign 4\n"
    "rm_res_eax: .long 0\n"
    "rm_gdtr: .word 0\n"
    "  .long 0\n"
    "rm_blob_end:\n"

    /* ---- 64-bit -> legacy protected mode -> real mode and back ---- */
    ".code64\n"
    ".globl run_legacy\n"
    "run_legacy:\n"
    "  push %rbx\n"
    "  push %rbp\n"
    "  push %r12\n"
    "  push %r13\n"
    "  push %r14\n"
    "  push %r15\n"
    "  mov %rsp, legacy_rsp(%rip)\n"
    "  push $0x18\n"
    "  lea pm32_entry(%rip), %rax\n"
    "  push %rax\n"
    "  lretq\n" /* far return into compatibility mode */
    ".code32\n"
    "pm32_entry:\n"
    "  mov %cr0, %eax\n"
    "  and $0x7fffffff, %eax\n" /* CR0.PG=0: leaves IA-32e mode (SDM 10.8.5.4) */
    "  mov %eax, %cr0\n"
    "  mov $0xc0000080, %ecx\n"
    "  rdmsr\n"
    "  and $0xfffffeff, %eax\n" /* EFER.LME=0 */
    "  wrmsr\n"
    "  rdmsr\n"
    "  mov %eax, pm_efer\n"
    "  mov %cr0, %eax\n"
    "  mov %eax, pm_cr0\n"
    "  lidt pm_idtr\n"
    "  int $0x30\n"
    "  ud2\n"
    "  movl $1, pm_after_ud\n"
    "  lcall $0x18, $pm_farfn\n"
    "  lidt rm_idtr\n"
    "  ljmp $0x38, $(0x7000 + rm_pm16_entry - rm_blob)\n"
    "pm32_back:\n" /* from real mode, CS=0x18 */
    "  mov $0x10, %eax\n"
    "  mov %eax, %ds\n"
    "  mov %eax, %es\n"
    "  mov %eax, %ss\n"
    "  mov %eax, %fs\n"
    "  mov %eax, %gs\n"
    "  mov legacy_rsp, %esp\n"
    "  mov $0xc0000080, %ecx\n"
    "  rdmsr\n"
    "  or $0x100, %eax\n" /* EFER.LME=1 */
    "  wrmsr\n"
    "  mov %cr0, %eax\n"
    "  or $0x80000000, %eax\n" /* CR0.PG=1: IA-32e mode, compatibility submode */
    "  mov %eax, %cr0\n"
    "  ljmp $0x08, $lm64_back\n"
    "pm_int30:\n"
    "  movl $0x3030, pm_int30_seen\n"
    "  iret\n"
    "pm_ud:\n"
    "  addl $2, (%esp)\n" /* skip UD2 */
    "  movl $1, pm_ud_seen\n"
    "  iret\n"
    "pm_farfn:\n"
    "  movl $0x4242, pm_far_seen\n"
    "  lret\n"
    ".code64\n"
    "lm64_back:\n"
    "  mov $0x10, %eax\n"
    "  mov %eax, %ds\n"
    "  mov %eax, %es\n"
    "  mov %eax, %ss\n"
    "  mov legacy_rsp(%rip), %rsp\n"
    "  pop %r15\n"
    "  pop %r14\n"
    "  pop %r13\n"
    "  pop %r12\n"
    "  pop %rbp\n"
    "  pop %rbx\n"
    "  ret\n"
    ".popsection\n");

extern char rm_blob[], rm_blob_end[], rm_pm16_entry[], rm_compat16_fn[];
extern uint16_t rm_res_int, rm_res_de, rm_res_de_done, rm_res_cs, rm_res_flags;
extern uint32_t rm_res_eax;
extern struct pseudo32 rm_gdtr;
extern char pm_int30[], pm_ud[];
void run_legacy(void);

#define RM_VAR(sym) (*(volatile __typeof__(sym) *)(RM_BASE + ((char *)&(sym)-rm_blob)))

static uint64_t gate32(void *handler)
{
    uint32_t off = (uint32_t)(uintptr_t)handler;
    return (off & 0xffff) | ((uint64_t)SEL_KCODE32 << 16) | (0x8eull << 40) |
           ((uint64_t)(off >> 16) << 48);
}

static void test_legacy_and_real(void)
{
    /* Copy the blob below 1 MiB and prepare the descriptor-table pointers. */
    memcpy((void *)RM_BASE, rm_blob, rm_blob_end - rm_blob);
    RM_VAR(rm_gdtr).limit = GDT_ENTRIES * 8 - 1;
    RM_VAR(rm_gdtr).base = (uint32_t)(uintptr_t)gdt;
    pm_idt[0x30] = gate32(pm_int30);
    pm_idt[UD_VECTOR] = gate32(pm_ud);
    pm_idtr.limit = sizeof(pm_idt) - 1;
    pm_idtr.base = (uint32_t)(uintptr_t)pm_idt;
    rm_idtr.limit = 0x3ff;
    rm_idtr.base = 0;
    *(volatile uint16_t *)0x10010 = 0;

    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr64;
    __asm__ volatile("sidt %0" : "=m"(idtr64));
    run_legacy();
    __asm__ volatile("lidt %0" ::"m"(idtr64));

    CHECK_EQ(read_cs(), SEL_KCODE64, "back_in_64bit_mode");
    CHECK(rdmsr(MSR_EFER) & EFER_LMA, "back_in_ia32e");
    CHECK(!(pm_efer & EFER_LMA) && !(pm_efer & EFER_LME), "legacy_efer_lma_clear");
    CHECK((pm_cr0 & (CR0_PE | CR0_PG)) == CR0_PE, "legacy_cr0_pe_no_pg");
    CHECK_EQ(pm_int30_seen, 0x3030, "legacy_32bit_idt_int");
    CHECK(pm_ud_seen && pm_after_ud, "legacy_32bit_ud_and_resume");
    CHECK_EQ(pm_far_seen, 0x4242, "legacy_far_call_ret");
    CHECK_EQ(RM_VAR(rm_res_int), 0x8080, "real_mode_ivt_int");
    CHECK_EQ(RM_VAR(rm_res_de), 1, "real_mode_de_via_ivt");
    CHECK_EQ(RM_VAR(rm_res_de_done), 1, "real_mode_resume_after_de");
    CHECK_EQ(RM_VAR(rm_res_cs), RM_SEG, "real_mode_cs");
    CHECK_EQ(RM_VAR(rm_res_eax), 0x12345678, "real_mode_operand_size_prefix");
    CHECK_EQ(RM_VAR(rm_res_flags) & (RFLAGS_CF | RFLAGS_ZF | RFLAGS_AF | RFLAGS_SF | RFLAGS_OF),
             RFLAGS_CF | RFLAGS_ZF | RFLAGS_AF, "real_mode_16bit_flags");
    CHECK_EQ(*(volatile uint16_t *)0x10010, 0xbeef, "real_mode_segment_arithmetic");

    /* Everything still works after the round trip: exceptions, paging. */
    CHECK_EXC(__asm__ volatile("ud2"), UD_VECTOR, 0, "exceptions_after_round_trip");
}

/* ------------------------------------------------- far transfers, IA-32e */

__asm__(".pushsection .text\n"
        ".code32\n"
        "c32_jmp_target:\n" /* reached by a far JMP from 64-bit code */
        "  mov $0x3232, %eax\n"
        "  ljmp $0x08, $c64_jmp_back\n" /* direct far JMP (EA) is valid here */
        "c32_rex_is_inc:\n"
        "  mov $5, %eax\n"
        "  .byte 0x40\n" /* INC EAX in 32-bit code, REX in 64-bit code */
        "  lret\n"
        "c32_push_size:\n"
        "  mov %esp, %ecx\n"
        "  push %eax\n"
        "  mov %esp, %edx\n"
        "  pop %eax\n"
        "  sub %edx, %ecx\n" /* ECX = bytes pushed */
        "  lret\n"
        ".code64\n"
        "c64_far_target:\n"
        "  mov $0x6464, %eax\n"
        "  lretq\n"
        ".popsection\n");
extern char c32_jmp_target[], c32_rex_is_inc[], c32_push_size[], c64_far_target[];

static void test_far_transfers(void)
{
    /* Far JMP m16:32 from 64-bit to compatibility mode and a direct far JMP
     * back. */
    static struct __attribute__((packed)) {
        uint32_t off;
        uint16_t sel;
    } fp32;
    fp32.off = (uint32_t)(uintptr_t)c32_jmp_target;
    fp32.sel = SEL_KCODE32;
    uint64_t rax;
    __asm__ volatile("ljmp *%1\n"
                     "c64_jmp_back:\n"
                     : "=a"(rax)
                     : "m"(fp32)
                     : "memory");
    CHECK_EQ(rax & 0xffffffff, 0x3232, "far_jmp_64_to_compat_and_back");

    /* Far CALL m16:64 (REX.W) to a 64-bit code segment, LRETQ back. */
    static struct __attribute__((packed)) {
        uint64_t off;
        uint16_t sel;
    } fp64;
    fp64.off = (uint64_t)c64_far_target;
    fp64.sel = SEL_KCODE64;
    __asm__ volatile("rex.W lcall *%1" : "=a"(rax) : "m"(fp64) : "memory");
    CHECK_EQ(rax & 0xffffffff, 0x6464, "far_call_m16_64_lretq");

    /* 0x40 is INC EAX in compatibility mode. */
    struct regs32 r = {0};
    call32(c32_rex_is_inc, &r);
    CHECK_EQ(r.eax, 6, "compat_0x40_is_inc");
    /* ... and a REX prefix in 64-bit mode: 48 89 c8 = mov %rcx,%rax. */
    uint64_t v;
    __asm__ volatile("mov %1, %%rcx; .byte 0x48, 0x89, 0xc8"
                     : "=a"(v)
                     : "r"(0x1122334455667788ull)
                     : "rcx");
    CHECK_EQ(v, 0x1122334455667788ull, "64bit_0x48_is_rex_w");
    /* PUSH is 4 bytes in 32-bit code, 8 in 64-bit code. */
    memset(&r, 0, sizeof(r));
    call32(c32_push_size, &r);
    CHECK_EQ(r.ecx, 4, "compat_push_is_4_bytes");

    /* 16-bit code segment under IA-32e mode (compatibility mode, D=0). */
    memcpy((void *)RM_BASE, rm_blob, rm_blob_end - rm_blob);
    r = (struct regs32){.ebx = 0x0101};
    call_far32((void *)(uintptr_t)(RM_BASE + (rm_compat16_fn - rm_blob)), &r, SEL_KCODE16);
    CHECK_EQ(r.eax & 0xffff, 0x1717, "compat16_code_segment");
    CHECK_EQ(r.edx & 0xffff, SEL_KCODE16, "compat16_cs");

    /* Direct far JMP/CALL (EA/9A) are invalid in 64-bit mode. */
    CHECK_EXC(__asm__ volatile(".byte 0xea, 0, 0, 0, 0, 0x08, 0"), UD_VECTOR, 0,
              "far_jmp_direct_64bit_ud");
    CHECK_EXC(__asm__ volatile(".byte 0x9a, 0, 0, 0, 0, 0x08, 0"), UD_VECTOR, 0,
              "far_call_direct_64bit_ud");
    /* Far transfer to a 64-bit segment with a non-canonical target: #GP(0). */
    fp64.off = 0x0000800000000000ull;
    CHECK_EXC(__asm__ volatile("rex.W ljmp *%0" ::"m"(fp64)
                               : "memory"),
              GP_VECTOR, 0, "far_jmp_noncanonical_gp");
}

void guest_main(struct multiboot_info *mbi)
{
    test_far_transfers();
    test_legacy_and_real();
}
