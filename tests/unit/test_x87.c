/* Unit tests of the x87 FPU (src/cpu/x87.c).
 *
 * diff_*: every x87 opcode/ModRM register form and every memory form runs
 * natively on the host (the same instruction bytes, in user mode, between an
 * FRSTOR and an FNSAVE of a random x87 state) and on nvmx's CPU with the same
 * state, flags and memory operand; the control word, status word, tags, all
 * eight physical registers, the memory operand afterwards, the arithmetic
 * flags and the exception (#UD <-> SIGILL, #MF <-> SIGFPE) are compared.
 * The remaining tests check what the host cannot show: environment image
 * formats (protected/real mode, 16/32-bit), FIP/FDP/FOP, #MF/#NM rules,
 * all-or-nothing stores, and values known from the SDM. */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

#include "cpu_testbench.h"
#include "unit.h"

#define DATA 0x200000ull /* guest address of memory operands ([rbx]) */

/* ---- native execution ---- */

/* test_x87_native(image, mem, flags, code): saves the host x87 state, loads
 * `image` (FSAVE format), loads the arithmetic flags, calls `code` with
 * RBX = mem, stores the state back into `image` and returns RFLAGS. */
__asm__(".text\n"
        ".p2align 4\n"
        "test_x87_native:\n"
        "  push %rbp\n"
        "  mov %rsp, %rbp\n"
        "  push %rbx\n"
        "  sub $120, %rsp\n"
        "  fnsave (%rsp)\n"
        "  mov %rsi, %rbx\n"
        "  frstor (%rdi)\n"
        "  pushfq\n"
        "  pop %rax\n"
        "  and $~0x8d5, %rax\n"
        "  and $0x8d5, %rdx\n"
        "  or %rdx, %rax\n"
        "  push %rax\n"
        "  popfq\n"
        "  call *%rcx\n"
        "  pushfq\n"
        "  pop %rax\n"
        "  fnsave (%rdi)\n"
        "  frstor (%rsp)\n"
        "  add $120, %rsp\n"
        "  pop %rbx\n"
        "  pop %rbp\n"
        "  ret\n");
uint64_t test_x87_native(uint8_t *image, void *mem, uint64_t flags, const void *code);

static uint8_t *native_page;
static sigjmp_buf native_jb;

static void on_signal(int sig)
{
    siglongjmp(native_jb, sig);
}

/* The x87 state compared between the two sides. */
struct xstate {
    uint16_t fcw, fsw;
    uint8_t tags; /* abridged: bit p = physical register p not empty */
    uint8_t st[8][10];
    uint64_t flags;   /* arithmetic flags */
    uint8_t mem[112]; /* the memory operand at DATA (up to an FSAVE image) */
};

static uint16_t full_tags(uint8_t abridged)
{
    uint16_t tw = 0;
    for (int p = 0; p < 8; p++)
        if (!((abridged >> p) & 1))
            tw |= (uint16_t)(3u << (2 * p));
    return tw; /* non-empty tags are re-derived by FRSTOR */
}

/* Returns 0, or the signal the instruction raised. */
static int run_native(const uint8_t *code, size_t len, struct xstate *s)
{
    uint8_t img[108] __attribute__((aligned(16)));
    memset(img, 0, sizeof(img));
    memcpy(img + 0, &s->fcw, 2);
    memcpy(img + 4, &s->fsw, 2);
    uint16_t tw = full_tags(s->tags);
    memcpy(img + 8, &tw, 2);
    int t = (s->fsw >> 11) & 7;
    for (int i = 0; i < 8; i++)
        memcpy(img + 28 + 10 * i, s->st[(t + i) & 7], 10);
    memcpy(native_page, code, len);
    native_page[len] = 0xc3;
    __builtin___clear_cache((char *)native_page, (char *)native_page + len + 1);
    int sig = sigsetjmp(native_jb, 1);
    if (sig) {
        __asm__ volatile("fninit");
        return sig;
    }
    uint64_t fl = test_x87_native(img, s->mem, s->flags, native_page);
    memcpy(&s->fcw, img + 0, 2);
    memcpy(&s->fsw, img + 4, 2);
    memcpy(&tw, img + 8, 2);
    s->tags = 0;
    for (int p = 0; p < 8; p++)
        if (((tw >> (2 * p)) & 3) != 3)
            s->tags |= (uint8_t)(1u << p);
    t = (s->fsw >> 11) & 7;
    for (int i = 0; i < 8; i++)
        memcpy(s->st[(t + i) & 7], img + 28 + 10 * i, 10);
    s->flags = fl & FL_ARITH;
    return 0;
}

/* Returns -1 when the instruction completed, else the exception vector. */
static int run_nvmx(struct testbench *tb, const uint8_t *code, size_t len, struct xstate *s)
{
    struct cpu *c = tb->cpu;
    physmem_write(&tb->pm, TB_CODE, code, len);
    physmem_write(&tb->pm, DATA, s->mem, sizeof(s->mem));
    c->rip = TB_CODE;
    c->regs[R_RBX] = DATA;
    c->fpu.fcw = s->fcw;
    c->fpu.fsw = s->fsw;
    c->fpu.ftw_abridged = s->tags;
    for (int p = 0; p < 8; p++) {
        memset(c->fpu.st[p], 0, 16);
        memcpy(c->fpu.st[p], s->st[p], 10);
    }
    cpu_set_rflags(c, 0x2 | s->flags);
    c->ctl.exception_bitmap = ~0u;
    uint32_t r = cpu_run(c, 1);
    if (r == EXIT_REASON_EXCEPTION_OR_NMI)
        return (int)(c->exit.intr_info & 0xff);
    if (r != EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED || c->rip != TB_CODE + len)
        return 255;
    s->fcw = c->fpu.fcw;
    s->fsw = c->fpu.fsw;
    s->tags = (uint8_t)c->fpu.ftw_abridged;
    for (int p = 0; p < 8; p++)
        memcpy(s->st[p], c->fpu.st[p], 10);
    s->flags = cpu_get_rflags(c) & FL_ARITH;
    physmem_read(&tb->pm, DATA, s->mem, sizeof(s->mem));
    return -1;
}

/* ---- random states ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

struct f80 {
    uint64_t mant;
    uint16_t se;
};

static const struct f80 specials[] = {
    {0, 0},                               /* +0 */
    {0, 0x8000},                          /* -0 */
    {1ull << 63, 0x3fff},                 /* 1 */
    {1ull << 63, 0xbfff},                 /* -1 */
    {1ull << 63, 0x4000},                 /* 2 */
    {3ull << 62, 0x4000},                 /* 3 */
    {5ull << 61, 0x4000},                 /* 2.5 */
    {3ull << 62, 0xbfff},                 /* -1.5 */
    {1ull << 63, 0x3ffe},                 /* 0.5 */
    {0xc90fdaa22168c235ull, 0x4000},      /* pi */
    {0xc90fdaa22168c235ull, 0x4040},      /* pi * 2^64 */
    {~0ull, 0x7ffe},                      /* max */
    {1ull << 63, 0x0001},                 /* min normal */
    {1, 0},                               /* min denormal */
    {0x4000000000000000ull, 0x8000},      /* -denormal */
    {1ull << 63, 0},                      /* pseudo-denormal */
    {1ull << 63, 0x7fff},                 /* +inf */
    {1ull << 63, 0xffff},                 /* -inf */
    {3ull << 62, 0x7fff},                 /* QNaN */
    {3ull << 62, 0xffff},                 /* indefinite */
    {(1ull << 63) | 1, 0x7fff},           /* SNaN */
    {0x4000000000000000ull, 0x3fff},      /* unnormal */
    {0, 0x7fff},                          /* pseudo-infinity */
    {1ull << 63, 0x403e},                 /* 2^63 */
    {0xfffffffffffff800ull, 0x403d},      /* 2^63 - 2^10 */
    {1ull << 63, 0x401e},                 /* 2^31 */
    {1ull << 63, 0x400e},                 /* 2^15 */
    {0xde0b6b3a763fffffull << 0, 0x403a}, /* ~10^18 */
    {1ull << 63, 0x3c01},                 /* tiny (double denormal range) */
    {1ull << 63, 0x43fe},                 /* huge (beyond double) */
    {0x8000000000000001ull, 0x3fff},      /* 1 + ulp */
};

static void rand_f80(uint8_t *b)
{
    struct f80 v;
    switch (rnd() % 4) {
    case 0:
    case 1:
        v = specials[rnd() % (sizeof(specials) / sizeof(specials[0]))];
        break;
    case 2: /* a normal number of moderate magnitude */
        v.mant = rnd() | 1ull << 63;
        v.se = (uint16_t)((0x3fff - 70 + rnd() % 140) | (rnd() & 1) << 15);
        break;
    default:
        v.mant = rnd();
        v.se = (uint16_t)rnd();
        break;
    }
    memcpy(b, &v.mant, 8);
    memcpy(b + 8, &v.se, 2);
}

static void rand_mem(uint8_t *m, int kind)
{
    static const uint32_t f32[] = {0,          0x80000000, 0x3f800000, 0x7f800000,
                                   0xff800000, 0x7fc00000, 0x7fa00000, 0x00000001,
                                   0x7f7fffff, 0x40490fdb, 0x00800000, 0xc0200000};
    static const uint64_t f64[] = {0,
                                   0x8000000000000000ull,
                                   0x3ff0000000000000ull,
                                   0x7ff0000000000000ull,
                                   0x7ff8000000000000ull,
                                   0x7ff4000000000000ull,
                                   1,
                                   0x7fefffffffffffffull,
                                   0x400921fb54442d18ull,
                                   0x7fffffffffffffffull,
                                   0x8000000000000000ull,
                                   0xc004000000000000ull};
    memset(m, 0, sizeof(((struct xstate *)0)->mem));
    uint64_t r = rnd();
    switch (kind) {
    case 14: /* environment images, then the registers of an FSAVE image */
    case 28:
    case 94:
    case 108: {
        int env = kind == 14 || kind == 94 ? 14 : 28;
        for (int i = 0; i < env; i++)
            m[i] = (uint8_t)rnd();
        if (kind > 28)
            for (int i = 0; i < 8; i++)
                rand_f80(m + env + 10 * i);
        break;
    }
    case 2: {
        uint16_t v = (uint16_t)((r & 1) ? rnd() : (rnd() % 64) - 32);
        memcpy(m, &v, 2);
        break;
    }
    case 4: {
        uint32_t v = (r % 3 == 0)   ? (uint32_t)rnd()
                     : (r % 3 == 1) ? f32[rnd() % (sizeof(f32) / 4)]
                                    : (uint32_t)((int32_t)(rnd() % 2000) - 1000);
        memcpy(m, &v, 4);
        break;
    }
    case 8: {
        uint64_t v = (r % 3 == 0)   ? rnd()
                     : (r % 3 == 1) ? f64[rnd() % (sizeof(f64) / 8)]
                                    : (uint64_t)((int64_t)(rnd() % 200000) - 100000);
        memcpy(m, &v, 8);
        break;
    }
    default: /* 10: extended or packed BCD */
        if (r & 1) {
            rand_f80(m);
        } else {
            for (int i = 0; i < 9; i++)
                m[i] = (uint8_t)((rnd() % 10) | (rnd() % 10) << 4);
            if (rnd() % 8 == 0)
                m[rnd() % 9] |= 0xa0; /* an invalid digit */
            m[9] = (rnd() & 1) ? 0x80 : 0;
        }
        break;
    }
}

static void rand_state(struct xstate *s, int memkind)
{
    memset(s, 0, sizeof(*s));
    uint16_t masks = (rnd() % 4) ? 0x3f : (uint16_t)(rnd() & 0x3f);
    s->fcw = (uint16_t)(masks | 0x40 | (rnd() & 0xf00) | (rnd() & 0x1000));
    uint16_t flags = (rnd() % 3) ? 0 : (uint16_t)(rnd() & 0x7f);
    if (rnd() % 8)
        flags &= masks; /* mostly nothing pending */
    s->fsw = (uint16_t)(flags | (rnd() & 0x4700) | (rnd() & 0x3800));
    s->tags = (uint8_t)((rnd() % 3) ? (rnd() | rnd()) : rnd());
    for (int p = 0; p < 8; p++)
        rand_f80(s->st[p]);
    s->flags = rnd() & FL_ARITH;
    rand_mem(s->mem, memkind);
}

/* Compares everything but the memory bytes [skip_lo, skip_hi) (the
 * instruction/operand pointers in stored images, which are host values on
 * the native side). */
static bool same_state(const struct xstate *a, const struct xstate *b, int skip_lo, int skip_hi)
{
    return a->fcw == b->fcw && a->fsw == b->fsw && a->tags == b->tags &&
           !memcmp(a->st, b->st, sizeof(a->st)) && a->flags == b->flags &&
           !memcmp(a->mem, b->mem, (size_t)skip_lo) &&
           !memcmp(a->mem + skip_hi, b->mem + skip_hi, sizeof(a->mem) - (size_t)skip_hi);
}

static void print_state(const char *who, const struct xstate *s)
{
    printf("  %s: fcw=%04x fsw=%04x tags=%02x flags=%03llx mem=", who, s->fcw, s->fsw, s->tags,
           (unsigned long long)s->flags);
    for (int i = 0; i < 28; i++)
        printf("%02x%s", s->mem[i], i % 4 == 3 ? " " : "");
    printf("\n    ");
    for (int p = 0; p < 8; p++) {
        uint16_t se;
        uint64_t m;
        memcpy(&m, s->st[p], 8);
        memcpy(&se, s->st[p] + 8, 2);
        printf("R%d=%04x:%016llx%s", p, se, (unsigned long long)m, p == 3 ? "\n    " : " ");
    }
    printf("\n");
}

/* One instruction form (with an optional operand-size prefix) against many
 * states. Returns the number of cases that differed (prints the first). */
static int diff_form_ex(struct testbench *tb, bool o16, uint8_t oc, uint8_t modrm, int memkind,
                        int cases, int skip_lo, int skip_hi)
{
    uint8_t code[3] = {0x66, oc, modrm};
    const uint8_t *c = o16 ? code : code + 1;
    size_t len = o16 ? 3 : 2;
    for (int i = 0; i < cases; i++) {
        struct xstate in, nat, emu;
        rand_state(&in, memkind);
        nat = emu = in;
        int sig = run_native(c, len, &nat);
        int vec = run_nvmx(tb, c, len, &emu);
        int want = sig == SIGILL ? EXC_UD : sig == SIGFPE ? EXC_MF : sig ? 254 : -1;
        bool ok = vec == want && (vec >= 0 || same_state(&nat, &emu, skip_lo, skip_hi));
        if (!ok) {
            printf("  %s%02x %02x case %d: native sig %d, nvmx vector %d\n", o16 ? "66 " : "", oc,
                   modrm, i, sig, vec);
            print_state("input ", &in);
            if (!sig)
                print_state("native", &nat);
            if (vec < 0)
                print_state("nvmx  ", &emu);
            return 1;
        }
    }
    return 0;
}

static int diff_form(struct testbench *tb, uint8_t oc, uint8_t modrm, int memkind, int cases)
{
    return diff_form_ex(tb, false, oc, modrm, memkind, cases, 0, 0);
}

static int setup_native(void)
{
    native_page =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (native_page == MAP_FAILED)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    return 0;
}

UNIT_TEST(diff_register_forms)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    int bad = 0;
    for (int oc = 0xd8; oc <= 0xdf; oc++)
        for (int m = 0xc0; m <= 0xff; m++) {
            if (oc == 0xdf && m == 0xe0)
                continue; /* FNSTSW AX: checked below */
            bad += diff_form(&tb, (uint8_t)oc, (uint8_t)m, 4, 150);
        }
    CHECK_EQ(bad, 0);
    tb_destroy(&tb);
}

UNIT_TEST(diff_memory_forms)
{
    /* operand size by opcode and ModRM.reg (0: control instruction, tested
     * separately; the #UD forms use 4 and must fault on both sides) */
    static const int8_t kinds[8][8] = {
        {4, 4, 4, 4, 4, 4, 4, 4},   {4, 4, 4, 4, 0, 0, 0, 0},   {4, 4, 4, 4, 4, 4, 4, 4},
        {4, 4, 4, 4, 4, 10, 4, 10}, {8, 8, 8, 8, 8, 8, 8, 8},   {8, 8, 8, 8, 0, 4, 0, 0},
        {2, 2, 2, 2, 2, 2, 2, 2},   {2, 2, 2, 2, 10, 8, 10, 8},
    };
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    int bad = 0;
    for (int oc = 0xd8; oc <= 0xdf; oc++)
        for (int op = 0; op < 8; op++) {
            int k = kinds[oc - 0xd8][op];
            if (k)
                bad += diff_form(&tb, (uint8_t)oc, (uint8_t)(op << 3 | 3), k, 600);
        }
    CHECK_EQ(bad, 0);
    tb_destroy(&tb);
}

/* The control instructions with memory operands: FLDCW normalization,
 * FNSTCW/FNSTSW, FLDENV/FRSTOR of random images (ES/B recomputed, tags from
 * the contents), FNSTENV/FNSAVE images (full tag word derived from the
 * registers; the pointer fields are host values natively and not compared)
 * and their effect (exceptions masked, FPU initialized), with 32-bit and
 * 16-bit operand size. */
UNIT_TEST(diff_control_forms)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    int bad = 0;
    bad += diff_form(&tb, 0xd9, 0x2b, 2, 600);                   /* FLDCW */
    bad += diff_form(&tb, 0xd9, 0x3b, 2, 300);                   /* FNSTCW */
    bad += diff_form(&tb, 0xdd, 0x3b, 2, 300);                   /* FNSTSW m16 */
    bad += diff_form(&tb, 0xd9, 0x23, 28, 600);                  /* FLDENV */
    bad += diff_form(&tb, 0xdd, 0x23, 108, 600);                 /* FRSTOR */
    bad += diff_form_ex(&tb, false, 0xd9, 0x33, 4, 600, 12, 28); /* FNSTENV */
    bad += diff_form_ex(&tb, false, 0xdd, 0x33, 4, 600, 12, 28); /* FNSAVE */
    bad += diff_form_ex(&tb, true, 0xd9, 0x23, 14, 600, 0, 0);   /* FLDENV m14 */
    bad += diff_form_ex(&tb, true, 0xdd, 0x23, 94, 600, 0, 0);   /* FRSTOR m94 */
    bad += diff_form_ex(&tb, true, 0xd9, 0x33, 4, 600, 6, 14);   /* FNSTENV m14 */
    bad += diff_form_ex(&tb, true, 0xdd, 0x33, 4, 600, 6, 14);   /* FNSAVE m94 */
    CHECK_EQ(bad, 0);
    tb_destroy(&tb);
}

/* ---- directed tests ---- */

static uint32_t run_code(struct testbench *tb, const void *code, size_t len, uint64_t budget)
{
    tb_load_code(tb, code, len);
    tb->cpu->ctl.exception_bitmap = ~0u;
    tb->cpu->ctl.proc = PROC_HLT_EXITING;
    return cpu_run(tb->cpu, budget);
}

static int exc_vector(struct testbench *tb)
{
    return (int)(tb->cpu->exit.intr_info & 0xff);
}

static uint64_t rd64(struct testbench *tb, uint64_t a)
{
    uint64_t v = 0;
    physmem_read(&tb->pm, a, &v, 8);
    return v;
}

static uint32_t rd32(struct testbench *tb, uint64_t a)
{
    uint32_t v = 0;
    physmem_read(&tb->pm, a, &v, 4);
    return v;
}

static uint16_t rd16(struct testbench *tb, uint64_t a)
{
    uint16_t v = 0;
    physmem_read(&tb->pm, a, &v, 2);
    return v;
}

/* FNSTSW AX, FNINIT state, FLDPI bits under each rounding mode (SDM FLD
 * constants: rounded per RC from the internal 66-bit value). */
UNIT_TEST(constants_and_status)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {
        0xdb, 0xe3,       /* fninit */
        0xd9, 0xeb,       /* fldpi */
        0xdb, 0x3b,       /* fstp tbyte [rbx] */
        0xd9, 0x2e,       /* fldcw [rsi] (RC down) */
        0xd9, 0xeb,       /* fldpi */
        0xdb, 0x7b, 0x10, /* fstp tbyte [rbx+16] */
        0xd9, 0xe8,       /* fld1 */
        0xd9, 0xee,       /* fldz */
        0xdf, 0xe0,       /* fnstsw ax */
        0xf4,
    };
    struct cpu *c = tb.cpu;
    c->regs[R_RBX] = DATA;
    c->regs[R_RSI] = DATA + 0x100;
    uint16_t cw = 0x077f;
    physmem_write(&tb.pm, DATA + 0x100, &cw, 2);
    c->regs[R_RAX] = 0x1234567800000000ull;
    CHECK_EQ(run_code(&tb, code, sizeof(code), 100), EXIT_REASON_HLT);
    CHECK_EQ(rd64(&tb, DATA), 0xc90fdaa22168c235ull);
    CHECK_EQ(rd16(&tb, DATA + 8), 0x4000);
    CHECK_EQ(rd64(&tb, DATA + 16), 0xc90fdaa22168c234ull);
    /* two pushes: TOP = 6; RAX bits 63:16 untouched */
    CHECK_EQ(c->regs[R_RAX], 0x1234567800003000ull);
    CHECK_EQ(c->fpu.ftw_abridged, 0xc0);
    CHECK_EQ(c->fpu.fcw, 0x077f);
    tb_destroy(&tb);
}

/* FIP/FOP/FDP/FCS/FDS and the 32-bit protected-mode FNSTENV image
 * (SDM Vol. 1 figure 8-9); control instructions leave the pointers. */
UNIT_TEST(fnstenv_protected_32)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {
        0xdb, 0xe3,       /* 0: fninit */
        0xdd, 0x43, 0x08, /* 2: fld qword [rbx+8] */
        0xd9, 0xee,       /* 5: fldz */
        0xd9, 0xfa,       /* 7: fsqrt */
        0xd9, 0x7e, 0x02, /* 9: fnstcw [rsi+2] (control: pointers kept) */
        0xd9, 0x36,       /* 12: fnstenv [rsi] */
        0xf4,
    };
    struct cpu *c = tb.cpu;
    c->regs[R_RBX] = DATA;
    c->regs[R_RSI] = DATA + 0x100;
    double two = 2.0;
    physmem_write(&tb.pm, DATA + 8, &two, 8);
    CHECK_EQ(run_code(&tb, code, sizeof(code), 100), EXIT_REASON_HLT);
    uint64_t e = DATA + 0x100;
    CHECK_EQ(rd32(&tb, e + 0), 0xffff037f);
    CHECK_EQ(rd32(&tb, e + 4), 0xffff3000);               /* TOP = 6 */
    CHECK_EQ(rd32(&tb, e + 8), 0xffff1fff);               /* R7 valid, R6 zero */
    CHECK_EQ(rd32(&tb, e + 12), (uint32_t)(TB_CODE + 7)); /* FIP: fsqrt */
    CHECK_EQ(rd32(&tb, e + 16), (0x1fau << 16) | 0x08);   /* FOP D9 FA, FCS */
    CHECK_EQ(rd32(&tb, e + 20), (uint32_t)(DATA + 8));    /* FDP: the fld operand */
    CHECK_EQ(rd32(&tb, e + 24), 0xffff0010);              /* FDS */
    CHECK_EQ(c->fpu.fcw, 0x037f);                         /* FNSTENV masks all: already */
    CHECK_EQ(c->fpu.fip, TB_CODE + 7);
    tb_destroy(&tb);
}

/* The 16-bit protected-mode image (operand-size prefix) and FLDENV of it. */
UNIT_TEST(fnstenv_fldenv_16)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {
        0xdb, 0xe3,       /* fninit */
        0xd9, 0xe8,       /* fld1 */
        0x66, 0xd9, 0x36, /* fnstenv [rsi] (14 bytes) */
        0xdb, 0xe3,       /* fninit */
        0x66, 0xd9, 0x26, /* fldenv [rsi] */
        0xf4,
    };
    struct cpu *c = tb.cpu;
    c->regs[R_RSI] = DATA + 0x100;
    physmem_write(&tb.pm, DATA + 0x100 + 14, "\xaa\xbb", 2);
    CHECK_EQ(run_code(&tb, code, sizeof(code), 100), EXIT_REASON_HLT);
    uint64_t e = DATA + 0x100;
    CHECK_EQ(rd16(&tb, e + 0), 0x037f);
    CHECK_EQ(rd16(&tb, e + 2), 0x3800);
    CHECK_EQ(rd16(&tb, e + 4), 0x3fff);
    CHECK_EQ(rd16(&tb, e + 6), (uint16_t)(TB_CODE + 2));
    CHECK_EQ(rd16(&tb, e + 8), 0x08);
    CHECK_EQ(rd16(&tb, e + 14), 0xbbaa); /* nothing beyond 14 bytes */
    CHECK_EQ(c->fpu.fsw, 0x3800);
    CHECK_EQ(c->fpu.ftw_abridged, 0x80);
    CHECK_EQ(c->fpu.fip, (uint16_t)(TB_CODE + 2));
    tb_destroy(&tb);
}

/* FNSAVE stores env + ST(0)..ST(7) and reinitializes; FRSTOR brings all
 * back; an FRSTOR image with unmasked flags makes the next waiting
 * instruction raise #MF. */
UNIT_TEST(fnsave_frstor)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t code[] = {
        0xdb, 0xe3, /* fninit */
        0xd9, 0xe8, /* fld1 */
        0xd9, 0xeb, /* fldpi */
        0xd9, 0xee, /* fldz */
        0xdd, 0x36, /* fnsave [rsi] */
        0xf4,       /* hlt */
        0xdd, 0x26, /* frstor [rsi] */
        0xf4,       /* hlt */
        0xd9, 0xd0, /* fnop: #MF */
    };
    struct cpu *c = tb.cpu;
    c->regs[R_RSI] = DATA;
    CHECK_EQ(run_code(&tb, code, sizeof(code), 100), EXIT_REASON_HLT);
    CHECK_EQ(rd32(&tb, DATA + 4), 0xffff2800); /* TOP 5 */
    CHECK_EQ(rd32(&tb, DATA + 8), 0xffff07ff); /* R5 zero, R6 R7 valid */
    CHECK_EQ(rd64(&tb, DATA + 28), 0);         /* ST(0) = 0 */
    CHECK_EQ(rd64(&tb, DATA + 38), 0xc90fdaa22168c235ull);
    CHECK_EQ(rd16(&tb, DATA + 46), 0x4000);
    CHECK_EQ(rd64(&tb, DATA + 48), 1ull << 63);
    CHECK_EQ(c->fpu.fcw, 0x37f);
    CHECK_EQ(c->fpu.fsw, 0);
    CHECK_EQ(c->fpu.ftw_abridged, 0);
    /* make the image say: ZE set and unmasked */
    uint32_t cw = 0xffff037b, sw = 0xffff2804;
    physmem_write(&tb.pm, DATA, &cw, 4);
    physmem_write(&tb.pm, DATA + 4, &sw, 4);
    cpu_skip_instruction(c);
    CHECK_EQ(cpu_run(c, 100), EXIT_REASON_HLT);
    CHECK_EQ(c->fpu.fsw, 0xa884); /* B and ES recomputed */
    CHECK_EQ(c->fpu.ftw_abridged, 0xe0);
    CHECK(!memcmp(c->fpu.st[6], "\x35\xc2\x68\x21\xa2\xda\x0f\xc9\x00\x40", 10));
    cpu_skip_instruction(c);
    CHECK_EQ(cpu_run(c, 100), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(&tb), EXC_MF);
    tb_destroy(&tb);
}

/* Pending unmasked exceptions (SDM 8.6/8.7): the faulting instruction
 * completes with ES/B set; #MF comes at the next waiting instruction;
 * FNSTSW/FNSTCW/FNCLEX/FNINIT do not wait; FLDCW unmasking a set flag makes
 * it pending. */
UNIT_TEST(pending_mf_rules)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct cpu *c = tb.cpu;
    static const uint8_t code[] = {
        0xdb, 0xe3,       /* 0: fninit */
        0xd9, 0x2e,       /* 2: fldcw [rsi]: ZM clear */
        0xd9, 0xe8,       /* 4: fld1 */
        0xd9, 0xee,       /* 6: fldz */
        0xde, 0xf9,       /* 8: fdivp: ZE unmasked, ST(1) unchanged, no pop */
        0xdf, 0xe0,       /* 10: fnstsw ax */
        0xd9, 0x7e, 0x04, /* 12: fnstcw [rsi+4] */
        0xd9, 0xc9,       /* 15: fxch: #MF */
    };
    c->regs[R_RSI] = DATA;
    uint16_t cw = 0x037b;
    physmem_write(&tb.pm, DATA, &cw, 2);
    CHECK_EQ(run_code(&tb, code, sizeof(code), 100), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(&tb), EXC_MF);
    CHECK_EQ(c->rip, TB_CODE + 15);
    CHECK_EQ(c->regs[R_RAX] & 0xffff, 0xb084); /* B, TOP 6, ES, ZE */
    CHECK_EQ(c->fpu.ftw_abridged, 0xc0);       /* not popped */
    CHECK_EQ(c->fpu.fip, TB_CODE + 8);
    CHECK_EQ(c->fpu.fop, 0x6f9);
    /* FNCLEX clears; the FXCH then runs */
    static const uint8_t code2[] = {0xdb, 0xe2, 0xd9, 0xc9, 0xf4};
    CHECK_EQ(run_code(&tb, code2, sizeof(code2), 100), EXIT_REASON_HLT);
    CHECK_EQ(c->fpu.fsw, 0x3000);
    /* FLDCW unmasking a flag that is already set */
    static const uint8_t code3[] = {
        0xdb, 0xe3, /* fninit */
        0xd9, 0xe8, /* fld1 */
        0xd9, 0xee, /* fldz */
        0xde, 0xf9, /* fdivp: masked ZE -> +inf */
        0xd9, 0x2e, /* fldcw [rsi]: ZM clear */
        0xdf, 0xe0, /* fnstsw ax */
        0x9b,       /* fwait: #MF */
    };
    CHECK_EQ(run_code(&tb, code3, sizeof(code3), 100), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(&tb), EXC_MF);
    CHECK_EQ(c->rip, TB_CODE + 12);
    CHECK_EQ(c->regs[R_RAX] & 0xffff, 0xb884);
    /* FNINIT does not wait and clears it */
    static const uint8_t code4[] = {0xdb, 0xe3, 0x9b, 0xf4};
    CHECK_EQ(run_code(&tb, code4, sizeof(code4), 100), EXIT_REASON_HLT);
    /* a raw state with ES clear but an unmasked flag set (as FXRSTOR may
     * leave it) is pending too */
    c->fpu.fcw = 0x37e;
    c->fpu.fsw = 0x0001;
    static const uint8_t code5[] = {0xd9, 0xd0}; /* fnop */
    CHECK_EQ(run_code(&tb, code5, sizeof(code5), 100), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(&tb), EXC_MF);
    tb_destroy(&tb);
}

/* #NM: CR0.EM or CR0.TS for every x87 instruction, including FNINIT;
 * FWAIT only with MP and TS. */
UNIT_TEST(nm_rules)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct cpu *c = tb.cpu;
    static const uint8_t fninit[] = {0xdb, 0xe3};
    static const uint8_t fwait[] = {0x9b, 0xf4};
    c->cr0 |= CR0_TS;
    CHECK_EQ(run_code(&tb, fninit, 2, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(&tb), EXC_NM);
    CHECK_EQ(run_code(&tb, fwait, 2, 10), EXIT_REASON_HLT); /* MP clear */
    c->cr0 |= CR0_MP;
    CHECK_EQ(run_code(&tb, fwait, 2, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(&tb), EXC_NM);
    c->cr0 &= ~CR0_TS;
    c->cr0 |= CR0_EM;
    CHECK_EQ(run_code(&tb, fninit, 2, 10), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(&tb), EXC_NM);
    CHECK_EQ(run_code(&tb, fwait, 2, 10), EXIT_REASON_HLT); /* EM does not affect WAIT */
    tb_destroy(&tb);
}

/* A store that faults leaves the x87 state as it was (the instruction is
 * restartable): FSTP to a not-present page. */
UNIT_TEST(faulting_store_keeps_state)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct cpu *c = tb.cpu;
    tb_write64(&tb, TB_PD + 20 * 8, 0); /* 40 MiB not present */
    static const uint8_t code[] = {
        0xdb, 0xe3, /* fninit */
        0xd9, 0xe8, /* fld1 */
        0xd9, 0xeb, /* fldpi */
        0xdd, 0x1b, /* fstp qword [rbx] */
    };
    c->regs[R_RBX] = (20ull << 21) + 0xff8;
    CHECK_EQ(run_code(&tb, code, sizeof(code), 100), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(&tb), EXC_PF);
    CHECK_EQ(c->fpu.fsw, 0x3000);
    CHECK_EQ(c->fpu.ftw_abridged, 0xc0);
    CHECK_EQ(c->fpu.fip, TB_CODE + 4); /* still the FLDPI */
    /* a store that raises an unmasked exception (here #IS) is suppressed
     * with its page fault: no #PF, the exception pending (as measured on
     * Intel hardware: FSTP to a PROT_NONE page does not fault then) */
    static const uint8_t code1[] = {
        0xdb, 0xe3, /* fninit */
        0xd9, 0x2e, /* fldcw [rsi]: IM clear */
        0xdd, 0x1b, /* fstp qword [rbx]: empty ST(0) */
        0xf4,
    };
    uint16_t cw = 0x037e;
    physmem_write(&tb.pm, DATA, &cw, 2);
    c->regs[R_RSI] = DATA;
    CHECK_EQ(run_code(&tb, code1, sizeof(code1), 100), EXIT_REASON_HLT);
    CHECK_EQ(c->fpu.fsw, 0x80c1); /* B ES SF IE, no pop */
    /* an FNSAVE image crossing into the absent page: nothing written, no
     * reinitialization */
    static const uint8_t code0[] = {0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0xeb}; /* fninit fld1 fldpi */
    CHECK_EQ(run_code(&tb, code0, sizeof(code0), 3), EXIT_REASON_VMX_PREEMPTION_TIMER_EXPIRED);
    static const uint8_t code2[] = {0xdd, 0x33}; /* fnsave [rbx] */
    c->regs[R_RBX] = (20ull << 21) - 50;
    uint8_t pat[50];
    memset(pat, 0x5a, sizeof(pat));
    physmem_write(&tb.pm, (20ull << 21) - 50, pat, 50);
    CHECK_EQ(run_code(&tb, code2, sizeof(code2), 100), EXIT_REASON_EXCEPTION_OR_NMI);
    CHECK_EQ(exc_vector(&tb), EXC_PF);
    CHECK_EQ(rd64(&tb, (20ull << 21) - 50), 0x5a5a5a5a5a5a5a5aull);
    CHECK_EQ(c->fpu.ftw_abridged, 0xc0);
    tb_destroy(&tb);
}

/* #UD forms (LOCK, reserved ModRM.reg values in memory forms). */
UNIT_TEST(ud_forms)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    static const uint8_t forms[][3] = {
        {0xd9, 0x0b, 0x90}, /* D9 /1 */
        {0xdb, 0x23, 0x90}, /* DB /4 */
        {0xdb, 0x33, 0x90}, /* DB /6 */
        {0xdd, 0x2b, 0x90}, /* DD /5 */
        {0xf0, 0xd8, 0x03}, /* LOCK FADD */
    };
    tb.cpu->regs[R_RBX] = DATA;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        CHECK_EQ(run_code(&tb, forms[i], 3, 10), EXIT_REASON_EXCEPTION_OR_NMI);
        CHECK_EQ(exc_vector(&tb), EXC_UD);
    }
    tb_destroy(&tb);
}

/* Real-address mode: the real-mode FNSTENV images hold 20/32-bit linear
 * instruction and operand addresses and FOP (SDM Vol. 1 figures 8-10/8-12),
 * and FLDENV reads them back. */
UNIT_TEST(fnstenv_real_mode)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct cpu *c = tb.cpu;
    c->cr0 = CR0_ET | CR0_NE;
    c->cr4 = 0;
    c->efer = 0;
    c->seg[S_CS] = (struct segment){0x1000, 0x10000, 0xffff, 0x9b};
    for (int s = 0; s < S_LDTR; s++)
        if (s != S_CS)
            c->seg[s] = (struct segment){0x2000, 0x20000, 0xffff, 0x93};
    cpu_update_mode(c);
    tlb_flush_all(c, true);
    CHECK_EQ(c->mode, CPU_MODE_REAL);
    static const uint8_t code[] = {
        0xdb, 0xe3,                   /* 0: fninit */
        0xd9, 0x06, 0x00, 0x01,       /* 2: fld dword [0x100] */
        0xd9, 0x36, 0x00, 0x02,       /* 6: fnstenv [0x200] (16-bit: 14 bytes) */
        0x66, 0xd9, 0x36, 0x00, 0x03, /* 10: fnstenv [0x300] (32-bit: 28 bytes) */
        0xdb, 0xe3,                   /* 15: fninit */
        0xd9, 0x26, 0x00, 0x02,       /* 17: fldenv [0x200] */
        0xf4,
    };
    physmem_write(&tb.pm, 0x10000 + 0x40, code, sizeof(code));
    float one = 1.0f;
    physmem_write(&tb.pm, 0x20000 + 0x100, &one, 4);
    c->rip = 0x40;
    c->ctl.exception_bitmap = ~0u;
    c->ctl.proc = PROC_HLT_EXITING;
    CHECK_EQ(cpu_run(c, 100), EXIT_REASON_HLT);
    uint64_t e = 0x20000 + 0x200;
    CHECK_EQ(rd16(&tb, e + 0), 0x037f);
    CHECK_EQ(rd16(&tb, e + 2), 0x3800);
    CHECK_EQ(rd16(&tb, e + 4), 0x3fff);
    CHECK_EQ(rd16(&tb, e + 6), 0x0042);         /* linear FIP 0x10042, bits 15:0 */
    CHECK_EQ(rd16(&tb, e + 8), 0x1000 | 0x106); /* FIP 19:16, FOP D9 06 */
    CHECK_EQ(rd16(&tb, e + 10), 0x0100);        /* linear FDP 0x20100 */
    CHECK_EQ(rd16(&tb, e + 12), 0x2000);
    e = 0x20000 + 0x300;
    CHECK_EQ(rd32(&tb, e + 12), 0xffff0042);
    CHECK_EQ(rd32(&tb, e + 16), (0x0001u << 12) | 0x106);
    CHECK_EQ(rd32(&tb, e + 20), 0xffff0100);
    CHECK_EQ(rd32(&tb, e + 24), 0x0002u << 12);
    /* FLDENV of the 16-bit real-mode image */
    CHECK_EQ(c->fpu.fsw, 0x3800);
    CHECK_EQ(c->fpu.ftw_abridged, 0x80);
    CHECK_EQ(c->fpu.fop, 0x106);
    CHECK_EQ(c->fpu.fip, 0x10042);
    CHECK_EQ(c->fpu.fdp, 0x20100);
    tb_destroy(&tb);
}

/* FISTP under each rounding mode and FISTTP (SDM FIST/FISTTP), FBSTP/FBLD
 * round trip, FCOMI flags, FXAM classes of an empty register and a
 * denormal. */
UNIT_TEST(known_values)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    struct cpu *c = tb.cpu;
    static const uint8_t code[] = {
        0xdb, 0xe3,       /* fninit */
        0xd9, 0x2e,       /* fldcw [rsi] */
        0xdd, 0x03,       /* fld qword [rbx] (-2.5) */
        0xdb, 0x5b, 0x10, /* fistp dword [rbx+16] */
        0xdd, 0x03,       /* fld qword [rbx] */
        0xdb, 0x4b, 0x14, /* fisttp dword [rbx+20] */
        0xf4,
    };
    static const uint32_t want[4] = {(uint32_t)-2, (uint32_t)-3, (uint32_t)-2, (uint32_t)-2};
    double v = -2.5;
    physmem_write(&tb.pm, DATA, &v, 8);
    c->regs[R_RBX] = DATA;
    c->regs[R_RSI] = DATA + 0x100;
    for (int rc = 0; rc < 4; rc++) {
        uint16_t cw = (uint16_t)(0x037f | rc << 10);
        physmem_write(&tb.pm, DATA + 0x100, &cw, 2);
        CHECK_EQ(run_code(&tb, code, sizeof(code), 100), EXIT_REASON_HLT);
        CHECK_EQ(rd32(&tb, DATA + 16), want[rc]);
        CHECK_EQ(rd32(&tb, DATA + 20), (uint32_t)-2);
        CHECK_EQ(c->fpu.fsw & 0x20, 0x20); /* PE */
    }
    static const uint8_t bcd[] = {
        0xdb, 0xe3,       /* fninit */
        0xdf, 0x23,       /* fbld [rbx] */
        0xd9, 0xc0,       /* fld st(0) */
        0xdf, 0x73, 0x10, /* fbstp [rbx+16] */
        0xdf, 0x7b, 0x20, /* fistp qword [rbx+32] */
        0xd9, 0xe5,       /* fxam (empty) */
        0xdf, 0xe0,       /* fnstsw ax */
        0x89, 0xc2,       /* mov edx, eax */
        0xdb, 0x6b, 0x30, /* fld tbyte [rbx+48] (denormal) */
        0xd9, 0xe5,       /* fxam */
        0xdf, 0xe0,       /* fnstsw ax */
        0xd9, 0xee,       /* fldz */
        0xdf, 0xf1,       /* fcomip st(0), st(1) */
        0xf4,
    };
    static const uint8_t packed[10] = {0x89, 0x67, 0x45, 0x23, 0x01, 0x89, 0x67, 0x45, 0x23, 0x80};
    physmem_write(&tb.pm, DATA, packed, 10);
    uint8_t den[10] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    physmem_write(&tb.pm, DATA + 48, den, 10);
    CHECK_EQ(run_code(&tb, bcd, sizeof(bcd), 100), EXIT_REASON_HLT);
    uint8_t back[10];
    physmem_read(&tb.pm, DATA + 16, back, 10);
    CHECK(!memcmp(back, packed, 10));
    CHECK_EQ(rd64(&tb, DATA + 32), (uint64_t)-234567890123456789ll);
    CHECK_EQ(c->regs[R_RDX] & 0x4500, 0x4100);                    /* empty: C3 C0 */
    CHECK_EQ(c->regs[R_RAX] & 0x4700, 0x4400);                    /* positive denormal: C3 C2 */
    CHECK_EQ(cpu_get_rflags(c) & (FL_ZF | FL_PF | FL_CF), FL_CF); /* 0 < denormal */
    tb_destroy(&tb);
}

int main(void)
{
    if (setup_native()) {
        printf("SKIP: x87 differential tests (no executable page)\n");
    } else {
        UNIT_RUN(diff_register_forms);
        UNIT_RUN(diff_memory_forms);
        UNIT_RUN(diff_control_forms);
    }
    UNIT_RUN(constants_and_status);
    UNIT_RUN(fnstenv_protected_32);
    UNIT_RUN(fnstenv_fldenv_16);
    UNIT_RUN(fnsave_frstor);
    UNIT_RUN(pending_mf_rules);
    UNIT_RUN(nm_rules);
    UNIT_RUN(faulting_store_keeps_state);
    UNIT_RUN(ud_forms);
    UNIT_RUN(fnstenv_real_mode);
    UNIT_RUN(known_values);
    UNIT_DONE();
}
