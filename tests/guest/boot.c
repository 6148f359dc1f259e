/* The boot path and the library itself: multiboot hand-off, the long-mode
 * state boot.S establishes (SDM 10.8.5), identity map, SSE enabled, and the
 * library's recovery, ring-3 and compatibility-mode helpers that every other
 * test relies on. */
#include "guest.h"

extern char __bss_start[], __bss_end[];
static volatile uint64_t bss_probe[64];
static volatile uint64_t data_probe = 0x1122334455667788ull;

static uint64_t USER_TEXT user_add(uint64_t x)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return (x + 1) | ((uint64_t)cs << 32);
}

/* 32-bit code: EAX = EBX + ECX, EDX = CS. */
__asm__(".pushsection .text\n"
        ".code32\n"
        "c32_add:\n"
        "  mov %ebx, %eax\n"
        "  add %ecx, %eax\n"
        "  mov %cs, %edx\n"
        "  lret\n"
        ".code64\n"
        ".popsection\n");
extern char c32_add[];

void guest_main(struct multiboot_info *mbi)
{
    CHECK_EQ(boot_magic, MULTIBOOT_BOOTLOADER_MAGIC, "multiboot_magic");
    CHECK(mbi != NULL && (mbi->flags & 1), "multiboot_meminfo");
    if (mbi && (mbi->flags & 1))
        CHECK(mbi->mem_upper >= 16 * 1024, "memory_at_least_17MiB (%u KiB upper)", mbi->mem_upper);
    if (mbi && (mbi->flags & (1u << 2)) && mbi->cmdline)
        gprintf("cmdline: %s\n", (const char *)(uintptr_t)mbi->cmdline);

    uint64_t cr0 = read_cr0(), cr4 = read_cr4(), efer = rdmsr(MSR_EFER);
    CHECK((cr0 & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG), "cr0_pe_pg");
    CHECK(!(cr0 & (CR0_EM | CR0_TS)) && (cr0 & CR0_MP), "cr0_sse_ready");
    CHECK(cr4 & CR4_PAE, "cr4_pae");
    CHECK((cr4 & (CR4_OSFXSR | CR4_OSXMMEXCPT)) == (CR4_OSFXSR | CR4_OSXMMEXCPT), "cr4_osfxsr");
    CHECK((efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA), "efer_lma");
    CHECK_EQ(read_cs(), SEL_KCODE64, "cs_selector");
    CHECK_EQ(read_ss(), SEL_KDATA, "ss_selector");

    /* BSS zeroed, data initialised. */
    bool zero = true;
    for (unsigned i = 0; i < ARRAY_SIZE(bss_probe); i++)
        zero &= bss_probe[i] == 0;
    CHECK(zero, "bss_zero");
    CHECK_EQ(data_probe, 0x1122334455667788ull, "data_loaded");

    /* Identity map: the same physical page through a second mapping. */
    static volatile uint64_t cell[512] ALIGNED(4096);
    map_page(TEST_VA_BASE, (uint64_t)cell, PTE_P | PTE_W);
    cell[0] = 0xdeadbeef;
    CHECK_EQ(*(volatile uint64_t *)TEST_VA_BASE, 0xdeadbeef, "alias_mapping");
    *(volatile uint64_t *)(TEST_VA_BASE + 8) = 5;
    CHECK_EQ(cell[1], 5, "alias_write");
    /* A high identity-mapped address (near 4 GiB) is mapped (2 MiB pages). */
    uint64_t *pde = walk_entry(0xffe00000ull, 2);
    CHECK(pde && (*pde & (PTE_P | PTE_PS)) == (PTE_P | PTE_PS), "identity_4g_pde");

    /* SSE works (CR4.OSFXSR set, CR0.EM clear): a PXOR executes. */
    uint64_t x = 0;
    /* (no clobber list: this file is built with -mgeneral-regs-only, so the
     * compiler keeps nothing in XMM registers) */
    x = 1;
    __asm__ volatile("pxor %%xmm0, %%xmm0; movq %%xmm0, %0" : "+r"(x));
    CHECK_EQ(x, 0, "sse_executes");

    /* Recovery: UD2 is caught and execution resumes. */
    CHECK_EXC(__asm__ volatile("ud2"), UD_VECTOR, 0, "lib_catch_ud2");
    CHECK_NO_EXC(__asm__ volatile("nop"), "lib_no_exception");
    CHECK_EXC(__asm__ volatile("int3"), BP_VECTOR, 0, "lib_catch_int3");

    /* Ring 3 round trip. */
    uint64_t r = ring3_call(user_add, 41);
    CHECK_EQ(r & 0xffffffff, 42, "ring3_call_result");
    CHECK_EQ(r >> 32, SEL_UCODE64 | 3, "ring3_cs_rpl3");
    CHECK_EQ(read_cs(), SEL_KCODE64, "ring3_back_cpl0");

    /* Compatibility-mode far call. */
    struct regs32 rr = {.ebx = 40, .ecx = 2};
    call32(c32_add, &rr);
    CHECK_EQ(rr.eax, 42, "call32_result");
    CHECK_EQ(rr.edx & 0xffff, SEL_KCODE32, "call32_cs");
}
