/* Differential test: integer instructions run natively on the host CPU (in
 * user mode) and on nvmx's CPU with the same random operands; all GPRs and
 * the arithmetic flags the SDM defines for the instruction are compared.
 * Prints "PASS: diff/<form> (N cases)" or "FAIL: diff/<form> ..." lines. */
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../unit/cpu_testbench.h"

#define CASES 3000
#define F_ALL (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

struct regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, flags;
};

/* Native execution: the instruction bytes followed by RET in an executable
 * page, called with the registers loaded and the flags set. */
static uint8_t *native_page;

static void run_native(const uint8_t *code, size_t len, struct regs *r)
{
    memcpy(native_page, code, len);
    native_page[len] = 0xc3;
    __builtin___clear_cache((char *)native_page, (char *)native_page + len + 1);
    struct regs *p = r;
    __asm__ volatile("push %%rbp\n"
                     "push %%rbx\n"
                     "push %%r15\n"
                     "mov %0, %%r15\n"
                     "mov 0(%%r15), %%rax\n"
                     "mov 8(%%r15), %%rbx\n"
                     "mov 16(%%r15), %%rcx\n"
                     "mov 24(%%r15), %%rdx\n"
                     "mov 32(%%r15), %%rsi\n"
                     "mov 40(%%r15), %%rdi\n"
                     "push 48(%%r15)\n"
                     "popfq\n"
                     "call *%1\n"
                     "pushfq\n"
                     "pop 48(%%r15)\n"
                     "mov %%rax, 0(%%r15)\n"
                     "mov %%rbx, 8(%%r15)\n"
                     "mov %%rcx, 16(%%r15)\n"
                     "mov %%rdx, 24(%%r15)\n"
                     "mov %%rsi, 32(%%r15)\n"
                     "mov %%rdi, 40(%%r15)\n"
                     "pop %%r15\n"
                     "pop %%rbx\n"
                     "pop %%rbp\n"
                     :
                     : "r"(p), "r"(native_page)
                     : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
}

static int run_nvmx(struct testbench *tb, const uint8_t *code, size_t len, int ninsn,
                    struct regs *r)
{
    struct cpu *c = tb->cpu;
    physmem_write(&tb->pm, TB_CODE, code, len);
    c->rip = TB_CODE;
    c->regs[R_RAX] = r->rax;
    c->regs[R_RBX] = r->rbx;
    c->regs[R_RCX] = r->rcx;
    c->regs[R_RDX] = r->rdx;
    c->regs[R_RSI] = r->rsi;
    c->regs[R_RDI] = r->rdi;
    cpu_set_rflags(c, r->flags);
    uint32_t e = cpu_run(c, (uint64_t)ninsn);
    r->rax = c->regs[R_RAX];
    r->rbx = c->regs[R_RBX];
    r->rcx = c->regs[R_RCX];
    r->rdx = c->regs[R_RDX];
    r->rsi = c->regs[R_RSI];
    r->rdi = c->regs[R_RDI];
    r->flags = cpu_get_rflags(c);
    return e == EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED && c->rip == TB_CODE + len ? 0 : -1;
}

/* deterministic PRNG with edge values mixed in */
static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t operand(void)
{
    static const uint64_t edge[] = {0,
                                    1,
                                    2,
                                    0x7f,
                                    0x80,
                                    0xff,
                                    0x7fff,
                                    0x8000,
                                    0xffff,
                                    0x7fffffff,
                                    0x80000000,
                                    0xffffffff,
                                    0x7fffffffffffffffull,
                                    0x8000000000000000ull,
                                    ~0ull,
                                    0x100,
                                    0x10};
    uint64_t k = rnd() % 4;
    if (k == 0)
        return edge[rnd() % (sizeof(edge) / sizeof(edge[0]))];
    if (k == 1)
        return rnd() & 0xff;
    return rnd();
}

struct form {
    const char *name;
    uint8_t code[64];
    uint8_t len;
    uint8_t ninsn;
    uint64_t defined; /* flags the SDM defines for this form */
    int kind; /* 0 plain, 1 shift count in CL masked, 2 divide-safe, 3 needs BMI1, 4 BMI2, 5 LZCNT,
                 6 POPCNT */
};

#define SSE_PRO 0x66, 0x48, 0x0f, 0x6e, 0xc0, 0x66, 0x48, 0x0f, 0x6e, 0xd1, 0x66, 0x0f, 0x6c, 0xc2, 0x66, 0x48, 0x0f, 0x6e, 0xcb, 0x66, 0x48, 0x0f, 0x6e, 0xd2, 0x66, 0x0f, 0x6c, 0xca
#define SSE_EPI 0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x66, 0x0f, 0x73, 0xd8, 0x08, 0x66, 0x48, 0x0f, 0x7e, 0xc2
#define SSEFORM(n, ...)                                                                            \
    { n, { SSE_PRO, __VA_ARGS__, SSE_EPI }, 28 + sizeof((uint8_t[]){ __VA_ARGS__ }) + 15,        \
      (uint8_t)(6 + (sizeof((uint8_t[]){ __VA_ARGS__ }) > 5 ? 3 : 1) + 3), 0, 7 }
#define SSECMP(n, ...)                                                                             \
    { n, { SSE_PRO, __VA_ARGS__ }, 28 + sizeof((uint8_t[]){ __VA_ARGS__ }), 7, F_ALL, 7 }
#define FORM(n, fl, k, ...)                                                                        \
    {                                                                                              \
        n, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__}), 1, fl, k                               \
    }
#define FORM2(n, fl, k, ...)                                                                       \
    {                                                                                              \
        n, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__}), 2, fl, k                               \
    }

static const struct form forms[] = {
    FORM("add_r64", F_ALL, 0, 0x48, 0x01, 0xd8),
    FORM("add_r32", F_ALL, 0, 0x01, 0xd8),
    FORM("add_r16", F_ALL, 0, 0x66, 0x01, 0xd8),
    FORM("add_r8", F_ALL, 0, 0x00, 0xd8),
    FORM("add_r8_high", F_ALL, 0, 0x00, 0xfc),
    FORM("or_r64", F_ALL & ~FL_AF, 0, 0x48, 0x09, 0xd8),
    FORM("adc_r64", F_ALL, 0, 0x48, 0x11, 0xd8),
    FORM("adc_r8", F_ALL, 0, 0x10, 0xd8),
    FORM("sbb_r64", F_ALL, 0, 0x48, 0x19, 0xd8),
    FORM("sbb_r16", F_ALL, 0, 0x66, 0x19, 0xd8),
    FORM("and_r32", F_ALL & ~FL_AF, 0, 0x21, 0xd8),
    FORM("sub_r64", F_ALL, 0, 0x48, 0x29, 0xd8),
    FORM("sub_r8", F_ALL, 0, 0x28, 0xd8),
    FORM("xor_r16", F_ALL & ~FL_AF, 0, 0x66, 0x31, 0xd8),
    FORM("cmp_r64", F_ALL, 0, 0x48, 0x39, 0xd8),
    FORM("cmp_r32", F_ALL, 0, 0x39, 0xd8),
    FORM("cmp_imm8_r64", F_ALL, 0, 0x48, 0x83, 0xf8, 0x80),
    FORM("add_imm32_r64", F_ALL, 0, 0x48, 0x05, 0x01, 0x00, 0x00, 0x80),
    FORM("test_r64", F_ALL & ~FL_AF, 0, 0x48, 0x85, 0xd8),
    FORM("inc_r64", F_ALL, 0, 0x48, 0xff, 0xc0),
    FORM("dec_r32", F_ALL, 0, 0xff, 0xc8),
    FORM("inc_r8", F_ALL, 0, 0xfe, 0xc0),
    FORM("neg_r64", F_ALL, 0, 0x48, 0xf7, 0xd8),
    FORM("neg_r16", F_ALL, 0, 0x66, 0xf7, 0xd8),
    FORM("not_r64", F_ALL, 0, 0x48, 0xf7, 0xd0),
    FORM("shl_cl_r64", F_ALL & ~FL_AF, 1, 0x48, 0xd3, 0xe0),
    FORM("shr_cl_r32", F_ALL & ~FL_AF, 1, 0xd3, 0xe8),
    FORM("sar_cl_r16", F_ALL & ~FL_AF, 1, 0x66, 0xd3, 0xf8),
    FORM("shl_cl_r8", F_ALL & ~FL_AF, 1, 0xd2, 0xe0),
    FORM("shl_1_r64", F_ALL & ~FL_AF, 0, 0x48, 0xd1, 0xe0),
    FORM("shr_1_r64", F_ALL & ~FL_AF, 0, 0x48, 0xd1, 0xe8),
    FORM("sar_1_r8", F_ALL & ~FL_AF, 0, 0xd0, 0xf8),
    FORM("shl_imm_r32", F_ALL & ~FL_AF, 1, 0xc1, 0xe0, 0x07),
    FORM("rol_cl_r64", FL_CF | FL_OF, 1, 0x48, 0xd3, 0xc0),
    FORM("ror_cl_r32", FL_CF | FL_OF, 1, 0xd3, 0xc8),
    FORM("rcl_cl_r64", FL_CF | FL_OF, 1, 0x48, 0xd3, 0xd0),
    FORM("rcr_cl_r16", FL_CF | FL_OF, 1, 0x66, 0xd3, 0xd8),
    FORM("rcl_1_r8", FL_CF | FL_OF, 0, 0xd0, 0xd0),
    FORM("shld_cl_r64", F_ALL & ~FL_AF, 1, 0x48, 0x0f, 0xa5, 0xd8),
    FORM("shrd_cl_r32", F_ALL & ~FL_AF, 1, 0x0f, 0xad, 0xd8),
    FORM("imul_r64_r64", FL_CF | FL_OF, 0, 0x48, 0x0f, 0xaf, 0xc3),
    FORM("imul_r16_imm", FL_CF | FL_OF, 0, 0x66, 0x69, 0xc3, 0x34, 0x92),
    FORM("mul_r64", FL_CF | FL_OF, 0, 0x48, 0xf7, 0xe3),
    FORM("mul_r8", FL_CF | FL_OF, 0, 0xf6, 0xe3),
    FORM("imul_r32", FL_CF | FL_OF, 0, 0xf7, 0xeb),
    FORM("div_r64", 0, 2, 0x48, 0xf7, 0xf3),
    FORM("div_r32", 0, 2, 0xf7, 0xf3),
    FORM("idiv_r64", 0, 2, 0x48, 0xf7, 0xfb),
    FORM("bt_r64", FL_CF, 0, 0x48, 0x0f, 0xa3, 0xd8),
    FORM("bts_r32", FL_CF, 0, 0x0f, 0xab, 0xd8),
    FORM("btr_r16", FL_CF, 0, 0x66, 0x0f, 0xb3, 0xd8),
    FORM("btc_imm_r64", FL_CF, 0, 0x48, 0x0f, 0xba, 0xf8, 0x2d),
    FORM("bsf_r64", FL_ZF, 0, 0x48, 0x0f, 0xbc, 0xc3),
    FORM("bsr_r32", FL_ZF, 0, 0x0f, 0xbd, 0xc3),
    FORM("lzcnt_r64", FL_CF | FL_ZF, 5, 0xf3, 0x48, 0x0f, 0xbd, 0xc3),
    FORM("tzcnt_r32", FL_CF | FL_ZF, 3, 0xf3, 0x0f, 0xbc, 0xc3),
    FORM("popcnt_r64", F_ALL, 6, 0xf3, 0x48, 0x0f, 0xb8, 0xc3),
    FORM("cmpxchg_r64", F_ALL, 0, 0x48, 0x0f, 0xb1, 0xd9),
    FORM("xadd_r32", F_ALL, 0, 0x0f, 0xc1, 0xd8),
    FORM("bswap_r64", 0, 0, 0x48, 0x0f, 0xc8),
    FORM("movsx_r64_r8", 0, 0, 0x48, 0x0f, 0xbe, 0xc3),
    FORM("movzx_r32_r16", 0, 0, 0x0f, 0xb7, 0xc3),
    FORM("movsxd", 0, 0, 0x48, 0x63, 0xc3),
    FORM("cqo", 0, 0, 0x48, 0x99),
    FORM("cwde", 0, 0, 0x98),
    FORM("lea_sib", 0, 0, 0x48, 0x8d, 0x44, 0x8b, 0x7f),
    FORM("xchg_r64", 0, 0, 0x48, 0x87, 0xd8),
    FORM2("cmp_setb", F_ALL, 0, 0x48, 0x39, 0xd8, 0x0f, 0x92, 0xc1),
    FORM2("cmp_setl", F_ALL, 0, 0x48, 0x39, 0xd8, 0x0f, 0x9c, 0xc1),
    FORM2("cmp_setle", F_ALL, 0, 0x39, 0xd8, 0x0f, 0x9e, 0xc1),
    FORM2("cmp_seta", F_ALL, 0, 0x38, 0xd8, 0x0f, 0x97, 0xc1),
    FORM2("sub_setp", F_ALL, 0, 0x28, 0xd8, 0x0f, 0x9a, 0xc1),
    FORM2("add_seto", F_ALL, 0, 0x48, 0x01, 0xd8, 0x0f, 0x90, 0xc1),
    FORM2("test_cmovs", F_ALL & ~FL_AF, 0, 0x48, 0x85, 0xd8, 0x48, 0x0f, 0x48, 0xcb),
    FORM2("cmp_cmovg", F_ALL, 0, 0x48, 0x39, 0xd8, 0x48, 0x0f, 0x4f, 0xcb),
    FORM2("cmp_cmovbe32", F_ALL, 0, 0x39, 0xd8, 0x0f, 0x46, 0xcb),
    FORM2("inc_cmovnc", F_ALL, 0, 0x48, 0xff, 0xc0, 0x48, 0x0f, 0x43, 0xcb),
    FORM("andn", FL_ZF | FL_SF | FL_CF | FL_OF, 3, 0xc4, 0xe2, 0xf0, 0xf2, 0xc3),
    FORM("bextr", FL_ZF | FL_CF | FL_OF, 3, 0xc4, 0xe2, 0xf0, 0xf7, 0xc3),
    FORM("blsi", FL_ZF | FL_SF | FL_CF | FL_OF, 3, 0xc4, 0xe2, 0xf0, 0xf3, 0xdb),
    FORM("blsmsk", FL_ZF | FL_SF | FL_CF | FL_OF, 3, 0xc4, 0xe2, 0xf0, 0xf3, 0xd3),
    FORM("blsr", FL_ZF | FL_SF | FL_CF | FL_OF, 3, 0xc4, 0xe2, 0xf0, 0xf3, 0xcb),
    FORM("bzhi", FL_ZF | FL_SF | FL_CF | FL_OF, 4, 0xc4, 0xe2, 0xf0, 0xf5, 0xc3),
    FORM("pdep", 0, 4, 0xc4, 0xe2, 0xf3, 0xf5, 0xc3),
    FORM("pext", 0, 4, 0xc4, 0xe2, 0xf2, 0xf5, 0xc3),
    FORM("mulx", 0, 4, 0xc4, 0xe2, 0xf3, 0xf6, 0xc3),
    FORM("rorx", 0, 4, 0xc4, 0xe3, 0xfb, 0xf0, 0xc3, 0x0d),
    FORM("sarx", 0, 4, 0xc4, 0xe2, 0xf2, 0xf7, 0xc3),
    FORM("shlx", 0, 4, 0xc4, 0xe2, 0xf1, 0xf7, 0xc3),
    FORM("shrx32", 0, 4, 0xc4, 0xe2, 0x73, 0xf7, 0xc3),
    FORM("movbe_load", 0, 0, 0x48, 0x0f, 0x38, 0xf0, 0x46, 0x00),
    /* SSE2: xmm0 = {rax, rcx}, xmm1 = {rbx, rdx}; op; rax:rdx = xmm0 */
    SSEFORM("sse_paddb", 0x66,0x0f,0xfc,0xc1),
    SSEFORM("sse_paddw", 0x66,0x0f,0xfd,0xc1),
    SSEFORM("sse_paddd", 0x66,0x0f,0xfe,0xc1),
    SSEFORM("sse_paddq", 0x66,0x0f,0xd4,0xc1),
    SSEFORM("sse_psubusb", 0x66,0x0f,0xd8,0xc1),
    SSEFORM("sse_paddsw", 0x66,0x0f,0xed,0xc1),
    SSEFORM("sse_psubsb", 0x66,0x0f,0xe8,0xc1),
    SSEFORM("sse_pmullw", 0x66,0x0f,0xd5,0xc1),
    SSEFORM("sse_pmulhw", 0x66,0x0f,0xe5,0xc1),
    SSEFORM("sse_pmulhuw", 0x66,0x0f,0xe4,0xc1),
    SSEFORM("sse_pmuludq", 0x66,0x0f,0xf4,0xc1),
    SSEFORM("sse_pmaddwd", 0x66,0x0f,0xf5,0xc1),
    SSEFORM("sse_psadbw", 0x66,0x0f,0xf6,0xc1),
    SSEFORM("sse_pavgb", 0x66,0x0f,0xe0,0xc1),
    SSEFORM("sse_pminub", 0x66,0x0f,0xda,0xc1),
    SSEFORM("sse_pmaxsw", 0x66,0x0f,0xee,0xc1),
    SSEFORM("sse_pcmpeqb", 0x66,0x0f,0x74,0xc1),
    SSEFORM("sse_pcmpgtd", 0x66,0x0f,0x66,0xc1),
    SSEFORM("sse_packsswb", 0x66,0x0f,0x63,0xc1),
    SSEFORM("sse_packuswb", 0x66,0x0f,0x67,0xc1),
    SSEFORM("sse_packssdw", 0x66,0x0f,0x6b,0xc1),
    SSEFORM("sse_punpcklbw", 0x66,0x0f,0x60,0xc1),
    SSEFORM("sse_punpckhwd", 0x66,0x0f,0x69,0xc1),
    SSEFORM("sse_punpckhqdq", 0x66,0x0f,0x6d,0xc1),
    SSEFORM("sse_psllw", 0x66,0x0f,0xf1,0xc1),
    SSEFORM("sse_psrad", 0x66,0x0f,0xe2,0xc1),
    SSEFORM("sse_psrlq", 0x66,0x0f,0xd3,0xc1),
    SSEFORM("sse_psrldq_imm", 0x66,0x0f,0x73,0xd8,0x05),
    SSEFORM("sse_pslld_imm", 0x66,0x0f,0x72,0xf0,0x07),
    SSEFORM("sse_pshufd", 0x66,0x0f,0x70,0xc1,0x1b),
    SSEFORM("sse_pshufhw", 0xf3,0x0f,0x70,0xc1,0x9c),
    SSEFORM("sse_shufps", 0x0f,0xc6,0xc1,0x4e),
    SSEFORM("sse_pand_pandn_por", 0x66,0x0f,0xdb,0xc1,0x66,0x0f,0xdf,0xc1,0x66,0x0f,0xeb,0xc1),
    SSEFORM("sse_addps", 0x0f,0x58,0xc1),
    SSEFORM("sse_mulpd", 0x66,0x0f,0x59,0xc1),
    SSEFORM("sse_divps", 0x0f,0x5e,0xc1),
    SSEFORM("sse_subsd", 0xf2,0x0f,0x5c,0xc1),
    SSEFORM("sse_sqrtpd", 0x66,0x0f,0x51,0xc1),
    SSEFORM("sse_minps", 0x0f,0x5d,0xc1),
    SSEFORM("sse_maxsd", 0xf2,0x0f,0x5f,0xc1),
    SSEFORM("sse_cmpltpd", 0x66,0x0f,0xc2,0xc1,0x01),
    SSEFORM("sse_cmpunordps", 0x0f,0xc2,0xc1,0x03),
    SSEFORM("sse_cvtps2pd", 0x0f,0x5a,0xc1),
    SSEFORM("sse_cvtpd2ps", 0x66,0x0f,0x5a,0xc1),
    SSEFORM("sse_cvtdq2ps", 0x0f,0x5b,0xc1),
    SSEFORM("sse_cvttps2dq", 0xf3,0x0f,0x5b,0xc1),
    SSEFORM("sse_cvtps2dq", 0x66,0x0f,0x5b,0xc1),
    SSEFORM("sse_cvttpd2dq", 0x66,0x0f,0xe6,0xc1),
    SSEFORM("sse_cvtdq2pd", 0xf3,0x0f,0xe6,0xc1),
    SSEFORM("sse_unpcklps", 0x0f,0x14,0xc1),
    SSEFORM("sse_xorpd", 0x66,0x0f,0x57,0xc1),
    SSECMP("sse_comisd", 0x66, 0x0f, 0x2f, 0xc1),
    SSECMP("sse_ucomiss", 0x0f, 0x2e, 0xc1),
    { "sse_cvtsd2si", { SSE_PRO, 0xf2, 0x48, 0x0f, 0x2d, 0xc1 }, 33, 7, 0, 0 },
    { "sse_cvttss2si", { SSE_PRO, 0xf3, 0x0f, 0x2c, 0xc1 }, 32, 7, 0, 0 },
};

static bool host_has(int kind)
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    switch (kind) {
    case 3:
    case 4:
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
            return false;
        return kind == 3 ? (b >> 3) & 1 : (b >> 8) & 1;
    case 5:
        __get_cpuid(0x80000001, &a, &b, &c, &d);
        return (c >> 5) & 1;
    case 6:
        __get_cpuid(1, &a, &b, &c, &d);
        return (c >> 23) & 1;
    default:
        return true;
    }
}

int main(void)
{
    native_page =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (native_page == MAP_FAILED) {
        printf("SKIP: diff/alu (cannot map an executable page)\n");
        return 0;
    }
    /* movbe loads from [rsi]: point it at a buffer valid on both sides */
    static uint64_t native_buf[2];
    struct testbench tb;
    if (tb_init_long(&tb)) {
        printf("FAIL: diff/alu (testbench)\n");
        return 1;
    }
    tb.cpu->cpl = 3; /* user mode, like the native side */
    tb.cpu->seg[S_CS].ar |= 3 << 5;
    tb.cpu->seg[S_SS].ar |= 3 << 5;
    int failures = 0;
    for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
        const struct form *fm = &forms[f];
        if (!host_has(fm->kind)) {
            printf("SKIP: diff/%s (the host CPU lacks the extension)\n", fm->name);
            continue;
        }
        bool movbe = !strcmp(fm->name, "movbe_load");
        if (movbe) {
            unsigned a = 0, b = 0, c = 0, d = 0;
            __get_cpuid(1, &a, &b, &c, &d);
            if (!((c >> 22) & 1)) {
                printf("SKIP: diff/%s (the host CPU lacks MOVBE)\n", fm->name);
                continue;
            }
        }
        int bad = 0;
        for (int i = 0; i < CASES && !bad; i++) {
            struct regs in = {
                operand(), operand(), operand(), operand(), 0, 0, 0x202 | (rnd() & (F_ALL))};
            if (fm->kind == 1 && (rnd() & 1))
                in.rcx = rnd() % 70; /* mostly meaningful counts */
            if (fm->kind == 2) {
                /* keep the quotient in range: |rdx| small, rbx large */
                in.rbx |= 1ull << 40;
                in.rdx = rnd() % 1024;
                if (strstr(fm->name, "r32"))
                    in.rbx |= 0x80000000u, in.rdx %= 64;
                if (strstr(fm->name, "idiv"))
                    in.rdx = (in.rax >> 63) ? ~0ull : 0, in.rbx &= 0x7fffffffffffffffull;
            }
            struct regs nat = in, emu = in;
            if (movbe) {
                native_buf[0] = in.rax;
                nat.rsi = (uint64_t)native_buf;
                physmem_write(&tb.pm, 0x90000, &in.rax, 8);
                emu.rsi = 0x90000;
            }
            run_native(fm->code, fm->len, &nat);
            if (run_nvmx(&tb, fm->code, fm->len, fm->ninsn, &emu)) {
                printf("FAIL: diff/%s case %d: nvmx did not complete the instruction\n", fm->name,
                       i);
                bad = 1;
                break;
            }
            if (movbe)
                emu.rsi = nat.rsi;
            uint64_t mask = fm->defined;
            /* shifts/rotates by 0 change no flags; by more than 1, OF is
             * undefined (SDM SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR) */
            if (fm->kind == 1) {
                unsigned cnt = (unsigned)(in.rcx & (strstr(fm->name, "r64") ? 63 : 31));
                if (cnt != 1)
                    mask &= ~FL_OF;
                if (strstr(fm->name, "shld") || strstr(fm->name, "shrd")) {
                    if (cnt > (strstr(fm->name, "r64") ? 64u : 32u))
                        mask = 0;
                }
            }
            if (strstr(fm->name, "_imm") && (fm->code[0] == 0xc1))
                mask &= ~FL_OF;
            if (!strncmp(fm->name, "rc", 2) || !strncmp(fm->name, "ro", 2))
                mask &= (strstr(fm->name, "_1_") ? (FL_CF | FL_OF) : FL_CF);
            /* BSF/BSR with a zero source: the destination is undefined */
            if ((strstr(fm->name, "bsf") || strstr(fm->name, "bsr")) &&
                (strstr(fm->name, "r32") ? (in.rbx & 0xffffffff) == 0 : in.rbx == 0))
                emu.rax = nat.rax;
            bool regs_equal = nat.rax == emu.rax && nat.rbx == emu.rbx && nat.rcx == emu.rcx &&
                              nat.rdx == emu.rdx && nat.rsi == emu.rsi && nat.rdi == emu.rdi;
            if (!regs_equal || ((nat.flags ^ emu.flags) & mask)) {
                printf(
                    "FAIL: diff/%s case %d: in rax=%#llx rbx=%#llx rcx=%#llx rdx=%#llx fl=%#llx\n"
                    "      native rax=%#llx rbx=%#llx rcx=%#llx rdx=%#llx fl=%#llx\n"
                    "      nvmx   rax=%#llx rbx=%#llx rcx=%#llx rdx=%#llx fl=%#llx (mask %#llx)\n",
                    fm->name, i, (unsigned long long)in.rax, (unsigned long long)in.rbx,
                    (unsigned long long)in.rcx, (unsigned long long)in.rdx,
                    (unsigned long long)in.flags, (unsigned long long)nat.rax,
                    (unsigned long long)nat.rbx, (unsigned long long)nat.rcx,
                    (unsigned long long)nat.rdx, (unsigned long long)nat.flags,
                    (unsigned long long)emu.rax, (unsigned long long)emu.rbx,
                    (unsigned long long)emu.rcx, (unsigned long long)emu.rdx,
                    (unsigned long long)emu.flags, (unsigned long long)mask);
                bad = 1;
            }
        }
        if (bad)
            failures++;
        else
            printf("PASS: diff/%s (%d cases)\n", fm->name, CASES);
    }
    tb_destroy(&tb);
    return failures ? 1 : 0;
}
