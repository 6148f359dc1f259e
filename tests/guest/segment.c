/* Segmentation and protection checks (SDM Vol. 3A chapters 3 and 5):
 * selector loads with the exact #GP/#NP/#SS error codes (the selector with
 * RPL cleared, SDM 6.13), privilege checks (CPL/RPL/DPL), LDT selectors,
 * far transfers to bad code segments, LTR of a busy TSS, segment limits and
 * expand-down segments in compatibility mode (not checked in 64-bit mode,
 * SDM 3.2.4), LAR/LSL/VERR/VERW, and 64-bit call gates (SDM 5.8.3.1). */
#include "guest.h"

enum {
    G_DATA_NP = GDT_FIRST_FREE, /* 17 */
    G_CODE_XO,                  /* execute-only code */
    G_DATA_RO,                  /* read-only data */
    G_DATA_LIM,                 /* data, limit 0xfff */
    G_DATA_EXPDOWN,             /* expand-down data, limit 0xfff, B=1 */
    G_CODE32_R,                 /* readable 32-bit code */
    G_CODE_NP,                  /* not-present 64-bit code */
    G_GATE3,                    /* 64-bit call gate, DPL3 (2 entries) */
    G_LDT = G_GATE3 + 2,        /* LDT descriptor (2 entries) */
    G_CODE_CONF = G_LDT + 2,    /* conforming readable code, DPL0 */
    G_DATA3,                    /* data DPL3 */
    G_GATE0,                    /* 64-bit call gate, DPL0 (2 entries) */
    G_SS_LIM = G_GATE0 + 2,     /* data limit 0xfffff (1 MiB), below the stack */
    G_INTGATE,                  /* a 16-byte interrupt gate in the GDT (invalid for LAR) */
    G_END = G_INTGATE + 2,
};
#define SEL(i) ((uint16_t)((i) << 3))

static uint64_t ldt[4] ALIGNED(16);

static int load_ds(uint16_t sel)
{
    return EXPECT_EXC(__asm__ volatile("mov %0, %%ds; mov %1, %%ds" ::"r"(sel), "r"(SEL_KDATA)));
}
static int load_ss(uint16_t sel)
{
    return EXPECT_EXC(__asm__ volatile("mov %0, %%ss; mov %1, %%ss" ::"r"(sel), "r"(SEL_KDATA)));
}

#define CHECK_LOAD(fn, sel, vec, err, ...)                                                         \
    check_exc(fn(sel), vec, err, __FILE__, __LINE__, __VA_ARGS__)

static uint64_t USER_TEXT user_load_ds(uint64_t sel)
{
    __asm__ volatile("mov %0, %%ds" ::"r"((uint16_t)sel));
    return 0;
}

static void setup_gdt(void)
{
    gdt_set(G_DATA_NP, make_desc(0, 0xfffff, 0x3, 1, 0, 0, 0xc));
    gdt_set(G_CODE_XO, make_desc(0, 0xfffff, 0x8, 1, 0, 1, 0xc));
    gdt_set(G_DATA_RO, make_desc(0, 0xfffff, 0x1, 1, 0, 1, 0xc));
    gdt_set(G_DATA_LIM, make_desc(0, 0xfff, 0x3, 1, 0, 1, 0x4));
    gdt_set(G_DATA_EXPDOWN, make_desc(0, 0xfff, 0x7, 1, 0, 1, 0x4));
    gdt_set(G_CODE32_R, make_desc(0, 0xfffff, 0xb, 1, 0, 1, 0xc));
    gdt_set(G_CODE_NP, make_desc(0, 0xfffff, 0xb, 1, 0, 0, 0xa));
    gdt_set(G_CODE_CONF, make_desc(0, 0xfffff, 0xf, 1, 0, 1, 0xa));
    gdt_set(G_DATA3, make_desc(0, 0xfffff, 0x3, 1, 3, 1, 0xc));
    gdt_set(G_SS_LIM, make_desc(0, 0xfffff, 0x3, 1, 0, 1, 0x4));
    ldt[1] = make_desc(0, 0xfffff, 0x3, 1, 0, 1, 0xc);
    gdt_set_system64(G_LDT, (uint64_t)ldt, sizeof(ldt) - 1, 0x2, 0);
    /* A 16-byte interrupt gate image in the GDT: not valid for LAR/LSL. */
    gdt_set(G_INTGATE, make_desc(0, 0, 0xe, 0, 0, 1, 0) | ((uint64_t)SEL_KCODE64 << 16));
    gdt_set(G_INTGATE + 1, 0);
}

static void test_loads(void)
{
    CHECK_LOAD(load_ds, 0, -1, -1, "ds_null_ok");
    CHECK_LOAD(load_ds, SEL_KDATA, -1, -1, "ds_data_ok");
    CHECK_LOAD(load_ds, SEL(G_CODE32_R), -1, -1, "ds_readable_code_ok");
    CHECK_LOAD(load_ds, SEL(GDT_ENTRIES), GP_VECTOR, SEL(GDT_ENTRIES), "ds_beyond_gdt_limit_gp");
    CHECK_LOAD(load_ds, SEL(GDT_ENTRIES) | 3, GP_VECTOR, SEL(GDT_ENTRIES),
               "ds_error_code_drops_rpl");
    CHECK_LOAD(load_ds, SEL(G_CODE_XO), GP_VECTOR, SEL(G_CODE_XO), "ds_execute_only_gp");
    CHECK_LOAD(load_ds, SEL(G_DATA_NP), NP_VECTOR, SEL(G_DATA_NP), "ds_not_present_np");
    CHECK_LOAD(load_ds, SEL_TSS, GP_VECTOR, SEL_TSS, "ds_system_descriptor_gp");
    /* RPL 3 selector for a DPL0 segment at CPL0: max(CPL,RPL) > DPL. */
    CHECK_LOAD(load_ds, SEL_KDATA | 3, GP_VECTOR, SEL_KDATA, "ds_rpl_above_dpl_gp");
    CHECK_LOAD(load_ds, SEL(G_DATA3) | 3, -1, -1, "ds_dpl3_rpl3_ok");
    /* Conforming readable code may be loaded into DS regardless of DPL. */
    CHECK_LOAD(load_ds, SEL(G_CODE_CONF) | 3, -1, -1, "ds_conforming_code_ok");
    /* From CPL3: DPL0 data -> #GP(sel); DPL3 data fine. */
    CHECK_EXC(ring3_call(user_load_ds, SEL_KDATA | 3), GP_VECTOR, SEL_KDATA, "cpl3_ds_dpl0_gp");
    CHECK_NO_EXC(ring3_call(user_load_ds, SEL_UDATA | 3), "cpl3_ds_dpl3_ok");

    /* SS (SDM Vol. 2B MOV): writable data, RPL = DPL = CPL; not present is
     * #SS(sel). */
    CHECK_LOAD(load_ss, SEL_KDATA, -1, -1, "ss_data_ok");
    CHECK_LOAD(load_ss, SEL(G_DATA_RO), GP_VECTOR, SEL(G_DATA_RO), "ss_readonly_gp");
    CHECK_LOAD(load_ss, SEL(G_CODE32_R), GP_VECTOR, SEL(G_CODE32_R), "ss_code_gp");
    CHECK_LOAD(load_ss, SEL_KDATA | 1, GP_VECTOR, SEL_KDATA, "ss_rpl_ne_cpl_gp");
    CHECK_LOAD(load_ss, SEL(G_DATA3), GP_VECTOR, SEL(G_DATA3), "ss_dpl_ne_cpl_gp");
    CHECK_LOAD(load_ss, SEL(G_DATA_NP), SS_VECTOR, SEL(G_DATA_NP), "ss_not_present_ss");
    /* A null SS is allowed at CPL0 in 64-bit mode (SDM 3.4.4 / MOV). */
    CHECK_LOAD(load_ss, 0, -1, -1, "ss_null_64bit_cpl0_ok");

    /* LDT selectors (TI=1). */
    __asm__ volatile("lldt %w0" ::"r"(0));
    CHECK_LOAD(load_ds, 0x0c, GP_VECTOR, 0x0c, "ldt_selector_null_ldtr_gp");
    __asm__ volatile("lldt %w0" ::"r"(SEL(G_LDT)));
    uint16_t ldtr;
    __asm__ volatile("sldt %0" : "=r"(ldtr));
    CHECK_EQ(ldtr, SEL(G_LDT), "sldt");
    CHECK_LOAD(load_ds, 0x0c, -1, -1, "ldt_selector_ok");
    CHECK_LOAD(load_ds, 0x1c, GP_VECTOR, 0x1c, "ldt_selector_null_descriptor_gp");
    CHECK_LOAD(load_ds, 0x24, GP_VECTOR, 0x24, "ldt_selector_beyond_limit_gp");
    CHECK_EXC(__asm__ volatile("lldt %w0" ::"r"(SEL_KDATA)), GP_VECTOR, SEL_KDATA,
              "lldt_non_ldt_gp");
    __asm__ volatile("lldt %w0" ::"r"(0));

    /* LTR of the (busy) current TSS: #GP(sel) (SDM Vol. 2A LTR). */
    CHECK_EXC(__asm__ volatile("ltr %w0" ::"r"(SEL_TSS)), GP_VECTOR, SEL_TSS, "ltr_busy_gp");
    CHECK_EXC(__asm__ volatile("ltr %w0" ::"r"(SEL_KDATA)), GP_VECTOR, SEL_KDATA, "ltr_non_tss_gp");
    uint16_t tr;
    __asm__ volatile("str %0" : "=r"(tr));
    CHECK_EQ(tr, SEL_TSS, "str");

    /* Far JMP to a data segment: #GP(sel); to a not-present code: #NP(sel). */
    static struct __attribute__((packed)) {
        uint32_t off;
        uint16_t sel;
    } fp;
    fp.off = 0;
    fp.sel = SEL_KDATA;
    CHECK_EXC(__asm__ volatile("ljmp *%0" ::"m"(fp)), GP_VECTOR, SEL_KDATA, "ljmp_data_seg_gp");
    fp.sel = SEL(G_CODE_NP);
    CHECK_EXC(__asm__ volatile("ljmp *%0" ::"m"(fp)), NP_VECTOR, SEL(G_CODE_NP),
              "ljmp_not_present_np");
    fp.sel = 0;
    CHECK_EXC(__asm__ volatile("ljmp *%0" ::"m"(fp)), GP_VECTOR, 0, "ljmp_null_gp");
    /* Non-conforming DPL3 code from CPL0 by JMP: DPL != CPL -> #GP(sel). */
    fp.sel = SEL_UCODE64 | 3;
    CHECK_EXC(__asm__ volatile("ljmp *%0" ::"m"(fp)), GP_VECTOR, SEL_UCODE64,
              "ljmp_nonconforming_other_dpl_gp");
}

/* 32-bit code: EBX = selector for DS, EAX = offset; reads 4 bytes. */
__asm__(".pushsection .text\n"
        ".code32\n"
        "c32_read_ds:\n"
        "  push %ds\n"
        "  mov %ebx, %ds\n"
        "  mov (%eax), %ecx\n"
        "  pop %ds\n"
        "  lret\n"
        "c32_push_ss:\n" /* EBX = selector for SS; one push + pop */
        "  mov %ss, %edx\n"
        "  mov %ebx, %ss\n"
        "  push %eax\n"
        "  pop %eax\n"
        "  mov %edx, %ss\n"
        "  lret\n"
        ".code64\n"
        ".popsection\n");
extern char c32_read_ds[], c32_push_ss[];

static int read32(uint16_t sel, uint32_t off)
{
    struct regs32 r = {.eax = off, .ebx = sel};
    return EXPECT_EXC(call32(c32_read_ds, &r));
}

static void test_limits(void)
{
    /* Compatibility mode checks limits (SDM 5.3): the last byte of the
     * access must be within the limit, else #GP(0) for data segments. */
    bool qemu = running_on_qemu();
    CHECK_EQ(read32(SEL(G_DATA_LIM), 0xffc), -1, "limit_last_dword_ok");
    if (qemu) {
        /* QEMU TCG does not check data segment limits at all. */
        SKIP("QEMU TCG does not check data-segment limits", "limit_beyond_gp");
        SKIP("QEMU TCG does not check data-segment limits", "limit_straddle_gp");
        SKIP("QEMU TCG does not check data-segment limits", "expand_down_below_gp");
        SKIP("QEMU TCG does not check data-segment limits", "stack_limit_ss");
    } else {
        int v = read32(SEL(G_DATA_LIM), 0x1000);
        CHECK(v == GP_VECTOR && exc_last.error_code == 0, "limit_beyond_gp");
        v = read32(SEL(G_DATA_LIM), 0xffd);
        CHECK(v == GP_VECTOR && exc_last.error_code == 0, "limit_straddle_gp");
        /* Expand-down: valid offsets are limit+1 .. 0xffffffff (B=1). */
        v = read32(SEL(G_DATA_EXPDOWN), 0x800);
        CHECK(v == GP_VECTOR && exc_last.error_code == 0, "expand_down_below_gp");
        /* SS with a limit below ESP: the push is a stack fault #SS(0). */
        struct regs32 r = {.ebx = SEL(G_SS_LIM)};
        v = EXPECT_EXC(call32(c32_push_ss, &r));
        CHECK(v == SS_VECTOR && exc_last.error_code == 0, "stack_limit_ss");
    }
    CHECK_EQ(read32(SEL(G_DATA_EXPDOWN), 0x2000), -1, "expand_down_above_ok");
    /* Stack segment whose limit covers ESP works. */
    struct regs32 r = {.ebx = SEL_KDATA};
    CHECK_NO_EXC(call32(c32_push_ss, &r), "stack_flat_ok");

    /* 64-bit mode ignores DS limits (SDM 3.2.4). */
    static volatile uint32_t far_cell ALIGNED(4096) = 0x1234;
    uint32_t val = 0;
    int v = EXPECT_EXC(__asm__ volatile("mov %2, %%ds; mov (%1), %0; mov %3, %%ds"
                                        : "=r"(val)
                                        : "r"(&far_cell), "r"(SEL(G_DATA_LIM)), "r"(SEL_KDATA)));
    CHECK(v == -1 && val == 0x1234, "limit_ignored_in_64bit");
}

static void test_lar_lsl(void)
{
    uint64_t ar, lim, f;
#define LAR(sel)                                                                                   \
    ({                                                                                             \
        ar = 0xdead;                                                                               \
        __asm__ volatile("larq %2, %0; pushfq; pop %1"                                             \
                         : "+r"(ar), "=r"(f)                                                       \
                         : "r"((uint64_t)(sel))                                                    \
                         : "cc");                                                                  \
        (f & RFLAGS_ZF) != 0;                                                                      \
    })
#define LSL(sel)                                                                                   \
    ({                                                                                             \
        lim = 0xdead;                                                                              \
        __asm__ volatile("lslq %2, %0; pushfq; pop %1"                                             \
                         : "+r"(lim), "=r"(f)                                                      \
                         : "r"((uint64_t)(sel))                                                    \
                         : "cc");                                                                  \
        (f & RFLAGS_ZF) != 0;                                                                      \
    })
    /* LAR returns the second descriptor dword masked with 00FxFF00H. */
    CHECK(LAR(SEL_KCODE64) && (ar & 0x00f0ff00) == (gdt[SEL_KCODE64 >> 3] >> 32 & 0x00f0ff00),
          "lar_code64");
    CHECK(LAR(SEL_UDATA | 3) && (ar & 0x00f0ff00) == (gdt[SEL_UDATA >> 3] >> 32 & 0x00f0ff00),
          "lar_udata");
    CHECK(LAR(SEL_TSS) && ((ar >> 8) & 0xf) == 0xb, "lar_busy_tss64");
    CHECK(LAR(SEL(G_LDT)) && ((ar >> 8) & 0xf) == 0x2, "lar_ldt");
    CHECK(!LAR(0) && ar == 0xdead, "lar_null_zf0_unchanged");
    CHECK(!LAR(SEL(GDT_ENTRIES)), "lar_beyond_limit_zf0");
    CHECK(!LAR(SEL(G_INTGATE)), "lar_interrupt_gate_invalid_in_64bit");
    CHECK(LSL(SEL_KDATA) && lim == 0xffffffff, "lsl_granular_4g");
    CHECK(LSL(SEL_KDATA16) && lim == 0xffff, "lsl_byte_granular");
    CHECK(LSL(SEL(G_DATA_LIM)) && lim == 0xfff, "lsl_small");
    CHECK(LSL(SEL_TSS) && lim == sizeof(struct tss64) - 1, "lsl_tss");
    CHECK(!LSL(SEL(G_GATE3)), "lsl_call_gate_zf0");

#define VER(insn, sel)                                                                             \
    ({                                                                                             \
        __asm__ volatile(insn " %w1; pushfq; pop %0" : "=r"(f) : "r"((uint16_t)(sel)) : "cc");     \
        (f & RFLAGS_ZF) != 0;                                                                      \
    })
    CHECK(VER("verr", SEL_KCODE64), "verr_readable_code");
    CHECK(!VER("verr", SEL(G_CODE_XO)), "verr_execute_only_zf0");
    CHECK(VER("verr", SEL_KDATA), "verr_data");
    CHECK(VER("verw", SEL_KDATA), "verw_data");
    CHECK(!VER("verw", SEL(G_DATA_RO)), "verw_readonly_zf0");
    CHECK(!VER("verw", SEL_KCODE64), "verw_code_zf0");
    CHECK(!VER("verr", 0), "verr_null_zf0");
    CHECK(!VER("verr", SEL_KDATA | 3), "verr_rpl_above_dpl_zf0");
    CHECK(VER("verr", SEL(G_CODE_CONF) | 3), "verr_conforming_ignores_privilege");
    CHECK(!VER("verr", SEL_TSS), "verr_system_zf0");
}

/* ---------------------------------------------------------- call gates */

static volatile uint64_t gate_rsp, gate_cs;
__asm__(".pushsection .text\n"
        "gate_target:\n" /* 64-bit, CPL0 */
        "  mov %cs, %eax\n"
        "  mov %rax, gate_cs(%rip)\n"
        "  mov %rsp, gate_rsp(%rip)\n"
        "  mov $0x600d, %eax\n"
        "  lretq\n"
        ".popsection\n");
extern char gate_target[];

struct __attribute__((packed)) farptr32 {
    uint32_t off;
    uint16_t sel;
};
static struct farptr32 USER_DATA gate_fp3, gate_fp_bad;

static uint64_t USER_TEXT user_callgate(uint64_t fp)
{
    uint64_t r;
    __asm__ volatile("lcall *(%1)" : "=a"(r) : "r"(fp) : "memory", "rcx", "rdx");
    return r;
}

static void set_gate(int idx, int dpl, bool present)
{
    uint64_t off = (uint64_t)gate_target;
    uint64_t lo = (off & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) | (0xcull << 40) |
                  ((uint64_t)dpl << 45) | ((uint64_t)present << 47) | ((off >> 16) & 0xffff) << 48;
    gdt_set(idx, lo);
    gdt_set(idx + 1, off >> 32);
}

static void test_call_gates(void)
{
    set_gate(G_GATE3, 3, true);
    set_gate(G_GATE0, 0, true);
    gate_fp3.sel = SEL(G_GATE3) | 3;
    gate_fp3.off = 0x12345678; /* ignored for gates */
    /* From CPL3 through a DPL3 gate to CPL0: stack switch to TSS.RSP0. */
    uint64_t r = ring3_call(user_callgate, (uint64_t)&gate_fp3);
    CHECK_EQ(r, 0x600d, "call_gate_cpl3_to_cpl0");
    CHECK_EQ(gate_cs, SEL_KCODE64, "call_gate_target_cs");
    uint64_t top = tss.rsp[0];
    /* The CPL0 stack holds SS, RSP, CS, RIP (4 qwords). */
    CHECK_EQ(gate_rsp, top - 32, "call_gate_stack_switch_rsp0");
    /* DPL0 gate from CPL3: #GP(gate selector). */
    gate_fp_bad.sel = SEL(G_GATE0) | 3;
    CHECK_EXC(ring3_call(user_callgate, (uint64_t)&gate_fp_bad), GP_VECTOR, SEL(G_GATE0),
              "call_gate_dpl_below_cpl_gp");
    /* Not-present gate: #NP(gate selector). */
    set_gate(G_GATE3, 3, false);
    CHECK_EXC(ring3_call(user_callgate, (uint64_t)&gate_fp3), NP_VECTOR, SEL(G_GATE3),
              "call_gate_not_present_np");
    set_gate(G_GATE3, 3, true);
    /* Same-privilege call through a gate from CPL0. */
    gate_fp_bad.sel = SEL(G_GATE0);
    r = user_callgate((uint64_t)&gate_fp_bad);
    CHECK_EQ(r, 0x600d, "call_gate_cpl0_same_privilege");
}

void guest_main(struct multiboot_info *mbi)
{
    setup_gdt();
    test_loads();
    test_limits();
    test_lar_lsl();
    test_call_gates();
}
