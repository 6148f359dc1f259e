/* Freestanding library for guest test kernels. See tests/guest/README.md.
 *
 * A test is one multiboot kernel: it defines guest_main(), uses CHECK*() to
 * print one "PASS: <test>/<name>", "FAIL: ..." or "SKIP: ..." line per check
 * on the serial port, and returns; the library then exits through the
 * isa-debug-exit port with 0 (all passed) or 1. */
#ifndef GUEST_H
#define GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* ------------------------------------------------------------------ basics */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGNED(n) __attribute__((aligned(n)))
#define NORETURN __attribute__((noreturn))
#define NOINLINE __attribute__((noinline))
/* Code and data reachable from CPL3: placed in the pages the library marks
 * user-accessible. User code must not call library functions. */
#define USER_TEXT __attribute__((section(".user.text"), noinline))
#define USER_DATA __attribute__((section(".user.data")))

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* ---------------------------------------------------------- multiboot v1 */

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper;  /* flags bit 0, KiB */
    uint32_t boot_device;           /* bit 1 */
    uint32_t cmdline;               /* bit 2 */
    uint32_t mods_count, mods_addr; /* bit 3 */
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr; /* bit 6 */
    uint32_t drives_length, drives_addr;
    uint32_t config_table;
    uint32_t boot_loader_name; /* bit 9 */
} __attribute__((packed));

struct multiboot_mmap_entry {
    uint32_t size; /* of the rest of the entry, excluding this field */
    uint64_t addr, len;
    uint32_t type; /* 1 = available RAM */
} __attribute__((packed));

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002

extern uint32_t boot_magic, boot_mbi;
extern struct multiboot_info *guest_mbi;

/* True when the multiboot loader says it is QEMU (boot_loader_name "qemu").
 * Used only to SKIP checks where QEMU TCG is known to deviate from the SDM. */
bool running_on_qemu(void);

/* ------------------------------------------------------------- console */

void serial_putc(char c);
void puts(const char *s); /* no newline appended */
int gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int gvprintf(const char *fmt, va_list ap);
int gsnprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int gvsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* Writes code to the isa-debug-exit port (status becomes (code << 1) | 1),
 * then halts forever in case no such device exists. */
NORETURN void guest_exit(uint32_t code);

/* --------------------------------------------------------- test framework */

extern const char guest_test_name[];
#ifdef GUEST_TEST_NAME
const char guest_test_name[] = GUEST_TEST_NAME;
#endif

/* The test's entry point; return to finish (test_finish()). */
void guest_main(struct multiboot_info *mbi);

extern unsigned test_passed, test_failed, test_skipped;

bool check_true(bool ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
bool check_eq(uint64_t a, uint64_t b, const char *file, int line, const char *ea, const char *eb,
              const char *fmt, ...) __attribute__((format(printf, 7, 8)));
void test_skip(const char *reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints a FAIL line without a check (e.g. from an exception handler). */
void test_fail_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
NORETURN void test_finish(void);

/* CHECK(cond, "name fmt", args...) / CHECK_EQ(a, b, "name fmt", args...):
 * print "PASS: <test>/<name>" or "FAIL: <test>/<name> (file:line: details)";
 * both evaluate to the outcome (bool). */
#define CHECK(cond, ...) check_true(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)
#define CHECK_EQ(a, b, ...)                                                                        \
    check_eq((uint64_t)(a), (uint64_t)(b), __FILE__, __LINE__, #a, #b, __VA_ARGS__)
#define SKIP(reason, ...) test_skip(reason, __VA_ARGS__)

/* ------------------------------------------------------ CPU state access */

static inline uint64_t read_cr0(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}
static inline uint64_t read_cr2(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}
static inline uint64_t read_cr3(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}
static inline uint64_t read_cr4(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}
static inline void write_cr0(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr0" ::"r"(v) : "memory");
}
static inline void write_cr2(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr2" ::"r"(v) : "memory");
}
static inline void write_cr3(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory");
}
static inline void write_cr4(uint64_t v)
{
    __asm__ volatile("mov %0, %%cr4" ::"r"(v) : "memory");
}
static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return lo | ((uint64_t)hi << 32);
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
static inline uint64_t read_rflags(void)
{
    uint64_t f;
    __asm__ volatile("pushfq; popq %0" : "=r"(f));
    return f;
}
static inline void write_rflags(uint64_t f)
{
    __asm__ volatile("pushq %0; popfq" ::"r"(f) : "memory", "cc");
}
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return lo | ((uint64_t)hi << 32);
}
static inline uint16_t read_cs(void)
{
    uint16_t v;
    __asm__ volatile("mov %%cs, %0" : "=r"(v));
    return v;
}
static inline uint16_t read_ss(void)
{
    uint16_t v;
    __asm__ volatile("mov %%ss, %0" : "=r"(v));
    return v;
}

struct cpuid_regs {
    uint32_t a, b, c, d;
};
static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t sub)
{
    struct cpuid_regs r;
    __asm__ volatile("cpuid" : "=a"(r.a), "=b"(r.b), "=c"(r.c), "=d"(r.d) : "a"(leaf), "c"(sub));
    return r;
}
/* CPUID feature test: leaf, register index (0=EAX..3=EDX), bit. */
bool cpu_has(uint32_t leaf, uint32_t sub, int reg, int bit);
#define HAS_SSE3() cpu_has(1, 0, 2, 0)
#define HAS_PCID() cpu_has(1, 0, 2, 17)
#define HAS_XSAVE() cpu_has(1, 0, 2, 26)
#define HAS_MOVBE() cpu_has(1, 0, 2, 22)
#define HAS_POPCNT() cpu_has(1, 0, 2, 23)
#define HAS_RDRAND() cpu_has(1, 0, 2, 30)
#define HAS_BMI1() cpu_has(7, 0, 1, 3)
#define HAS_SMEP() cpu_has(7, 0, 1, 7)
#define HAS_BMI2() cpu_has(7, 0, 1, 8)
#define HAS_INVPCID() cpu_has(7, 0, 1, 10)
#define HAS_RDSEED() cpu_has(7, 0, 1, 18)
#define HAS_SMAP() cpu_has(7, 0, 1, 20)
#define HAS_NX() cpu_has(0x80000001, 0, 3, 20)
#define HAS_1G_PAGES() cpu_has(0x80000001, 0, 3, 26)
#define HAS_RDTSCP() cpu_has(0x80000001, 0, 3, 27)
#define HAS_LZCNT() cpu_has(0x80000001, 0, 2, 5)

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_AM (1ull << 18)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR0_PG (1ull << 31)
#define CR4_VME (1ull << 0)
#define CR4_PVI (1ull << 1)
#define CR4_TSD (1ull << 2)
#define CR4_DE (1ull << 3)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_MCE (1ull << 6)
#define CR4_PGE (1ull << 7)
#define CR4_PCE (1ull << 8)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_UMIP (1ull << 11)
#define CR4_VMXE (1ull << 13)
#define CR4_FSGSBASE (1ull << 16)
#define CR4_PCIDE (1ull << 17)
#define CR4_OSXSAVE (1ull << 18)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)

#define RFLAGS_CF (1ull << 0)
#define RFLAGS_PF (1ull << 2)
#define RFLAGS_AF (1ull << 4)
#define RFLAGS_ZF (1ull << 6)
#define RFLAGS_SF (1ull << 7)
#define RFLAGS_TF (1ull << 8)
#define RFLAGS_IF (1ull << 9)
#define RFLAGS_DF (1ull << 10)
#define RFLAGS_OF (1ull << 11)
#define RFLAGS_IOPL (3ull << 12)
#define RFLAGS_NT (1ull << 14)
#define RFLAGS_RF (1ull << 16)
#define RFLAGS_VM (1ull << 17)
#define RFLAGS_AC (1ull << 18)
#define RFLAGS_ID (1ull << 21)
#define RFLAGS_ARITH (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

#define MSR_TSC 0x10
#define MSR_APIC_BASE 0x1b
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176
#define MSR_PAT 0x277
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_FMASK 0xc0000084
#define MSR_FS_BASE 0xc0000100
#define MSR_GS_BASE 0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX 0xc0000103
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

/* Exception vectors (SDM 6.3.1, table 6-1). */
enum {
    DE_VECTOR = 0,
    DB_VECTOR = 1,
    NMI_VECTOR = 2,
    BP_VECTOR = 3,
    OF_VECTOR = 4,
    BR_VECTOR = 5,
    UD_VECTOR = 6,
    NM_VECTOR = 7,
    DF_VECTOR = 8,
    TS_VECTOR = 10,
    NP_VECTOR = 11,
    SS_VECTOR = 12,
    GP_VECTOR = 13,
    PF_VECTOR = 14,
    MF_VECTOR = 16,
    AC_VECTOR = 17,
    MC_VECTOR = 18,
    XM_VECTOR = 19,
};

/* ------------------------------------------------------ interrupts (IDT) */

/* Saved by the stubs in isr.S; handlers may modify it (it is restored and
 * IRETQ'd). vector/error_code: error_code is 0 for vectors without one. */
struct frame {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*handler_t)(struct frame *f);

/* Per-vector C handler (NULL restores the default). The default handler
 * recovers an armed exc_try(), otherwise it reports a FAIL and exits. */
void set_handler(int vec, handler_t h);
/* Gate attributes: type 0xE (interrupt gate, clears IF) or 0xF (trap gate),
 * DPL, IST index 0..7. Selector is SEL_KCODE64, target the vector's stub. */
void idt_set_gate(int vec, int type, int dpl, int ist);
/* Raw 16-byte gate (SDM 6.14.1, figure 6-8) for tests of odd gates. */
void idt_set_raw(int vec, uint64_t lo, uint64_t hi);
void idt_get_raw(int vec, uint64_t *lo, uint64_t *hi);
uint64_t isr_stub_addr(int vec);
extern uint64_t idt[512];

/* ------------------------------------------------- exception expectation */

/* setjmp-like saved context (isr.S: ctx_save / ctx_restore_stub). */
struct ctx {
    uint64_t rip, rsp, rbx, rbp, r12, r13, r14, r15, rflags;
    uint64_t value; /* passed by ctx_resume_frame() */
};
int ctx_save(struct ctx *c) __attribute__((returns_twice));
/* Makes the interrupted frame IRETQ to the context saved in c (at CPL0,
 * 64-bit, with c's RFLAGS), where ctx_save returns 1, with c->value = value. */
void ctx_resume_frame(struct frame *f, struct ctx *c, uint64_t value);

struct exc_info {
    int vector; /* -1: none */
    uint64_t error_code, rip, cs, rflags, rsp, cr2;
    unsigned count; /* exceptions caught since the last exc_try() */
};
extern volatile struct exc_info exc_last;
extern struct ctx exc_ctx;
extern volatile int exc_armed;

/* if (exc_try() == 0) { faulting code; exc_end(); } else { caught: exc_last }
 * The first exception taken while armed (from any CPL or mode) is recorded
 * in exc_last and execution resumes at exc_try() returning 1, at CPL0 with
 * the callee-saved registers and RFLAGS of the exc_try() call. Locals
 * modified between exc_try() and the exception must be volatile. */
void exc_arm(void);
#define exc_try() (exc_arm(), ctx_save(&exc_ctx))
static inline void exc_end(void)
{
    exc_armed = 0;
}
/* For handlers that want to resume into an armed exc_try(): records and
 * redirects. Returns false if nothing was armed. */
bool exc_recover(struct frame *f);

/* Runs stmt expecting an exception; evaluates to the vector (or -1 for none),
 * with details in exc_last. */
#define EXPECT_EXC(...)                                                                            \
    ({                                                                                             \
        volatile int v_ = -1;                                                                      \
        if (exc_try() == 0) {                                                                      \
            __VA_ARGS__;                                                                           \
            exc_end();                                                                             \
        } else {                                                                                   \
            v_ = exc_last.vector;                                                                  \
        }                                                                                          \
        v_;                                                                                        \
    })
/* Checks that stmt raises vector vec with error code err (err < 0: error
 * code not checked). One PASS/FAIL line. */
#define CHECK_EXC(stmt, vec, err, ...)                                                             \
    check_exc(EXPECT_EXC(stmt), (vec), (err), __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_NO_EXC(stmt, ...) check_exc(EXPECT_EXC(stmt), -1, -1, __FILE__, __LINE__, __VA_ARGS__)
bool check_exc(int got, int vec, int64_t err, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ----------------------------------------------------- descriptors, TSS */

extern uint64_t gdt[GDT_ENTRIES];
struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t ist[8]; /* ist[1..7] at 0x24..0x5b; ist[0] is the reserved qword at 0x1c */
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
} __attribute__((packed));
extern struct tss64 tss;

/* Builds a legacy 8-byte code/data/system descriptor (SDM 3.4.5). type is
 * the 4-bit type; s=1 code/data; flags: bit 0 AVL, 1 L, 2 D/B, 3 G. */
uint64_t make_desc(uint32_t base, uint32_t limit, int type, int s, int dpl, int p, int flags);
void gdt_set(int index, uint64_t desc);
/* 16-byte system descriptor (TSS/LDT/call gate in long mode) at index, index+1. */
void gdt_set_system64(int index, uint64_t base, uint32_t limit, int type, int dpl);
void lgdt_reload(void); /* LGDT of the library GDT (after edits to cached size) */
void tss_set_ist(int n, void *stack_top);
void tss_set_rsp0(void *stack_top);
extern uint8_t kstack0[KSTACK_SIZE]; /* TSS.RSP0 stack (ring 3 -> ring 0) */
/* Reloads TR with SEL_TSS (clears the busy bit first). */
void tss_reload(void);

/* Runs fn(arg) at CPL3 (64-bit user code segment) on the user stack and
 * returns its result; fn must be USER_TEXT. Exceptions in fn go to the
 * handlers as usual (an armed exc_try() recovers at CPL0). */
uint64_t ring3_call(uint64_t (*fn)(uint64_t), uint64_t arg);
/* Same with an explicit CPL3 CS and SS selector (e.g. a test descriptor). */
uint64_t ring3_call_sel(uint64_t (*fn)(uint64_t), uint64_t arg, uint16_t cs, uint16_t ss);
extern uint8_t user_stack[16384];

/* Far call to 32-bit code at SEL_KCODE32:fn (compatibility mode); fn must
 * end with a 32-bit LRET. Registers in and out through r. */
struct regs32 {
    uint32_t eax, ebx, ecx, edx, esi, edi, ebp, eflags;
};
void call32(void *fn, struct regs32 *r);
/* Far call to cs:fn (any code segment, e.g. SEL_KCODE16 for 16-bit code,
 * which must return with LRETL since the call pushed 32-bit CS:EIP). */
void call_far32(void *fn, struct regs32 *r, uint16_t cs);

/* --------------------------------------------------------------- paging */

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7) /* in PDE/PDPTE; in a 4K PTE this is PAT */
#define PTE_G (1ull << 8)
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

/* #PF error code bits (SDM 4.7). */
#define PFEC_P (1u << 0)
#define PFEC_W (1u << 1)
#define PFEC_U (1u << 2)
#define PFEC_RSVD (1u << 3)
#define PFEC_I (1u << 4)
#define PFEC_PK (1u << 5)

/* Zeroed 4 KiB page from a static pool (identity-mapped, so VA == PA). */
void *alloc_page(void);
/* Returns a pointer to the 4 KiB PTE for va, creating page tables and
 * splitting a 2 MiB identity page as needed. Never returns NULL. */
uint64_t *get_pte(uint64_t va);
/* Returns the entry at `level` (4=PML4E, 3=PDPTE, 2=PDE, 1=PTE) that maps va
 * without creating anything, or NULL if an upper level is not present / is
 * a large page above that level. */
uint64_t *walk_entry(uint64_t va, int level);
void map_page(uint64_t va, uint64_t pa, uint64_t flags);
void unmap_page(uint64_t va); /* clears the PTE and INVLPGs */
/* 2 MiB (level 2) or 1 GiB (level 3) page; flags get PS added. */
void map_large(uint64_t va, uint64_t pa, uint64_t flags, int level);
/* Sets/clears PTE bits of the 4K pages covering [va, va+len) + INVLPG. */
void set_page_flags(uint64_t va, uint64_t len, uint64_t set, uint64_t clear);
static inline void invlpg(const volatile void *p)
{
    __asm__ volatile("invlpg (%0)" ::"r"(p) : "memory");
}
void flush_tlb(void); /* CR3 reload (not global pages) */
void cr4_set(uint64_t bits);
void cr4_clear(uint64_t bits);
void cr0_set(uint64_t bits);
void cr0_clear(uint64_t bits);
void efer_set(uint64_t bits);
void efer_clear(uint64_t bits);
extern uint64_t boot_pml4[512], boot_pdpt[512], boot_pd[4 * 512];
/* Free virtual range for test mappings (above the 4 GiB identity map). */
#define TEST_VA_BASE 0x100000000ull

static inline void stac(void)
{
    __asm__ volatile(".byte 0x0f,0x01,0xcb" ::: "memory");
}
static inline void clac(void)
{
    __asm__ volatile(".byte 0x0f,0x01,0xca" ::: "memory");
}

#endif
