/* nvmx-args: -vmx-test
 *
 * The CPU's VM-execution controls checked from inside a guest: in L0's test
 * mode (-vmx-test) the guest sets a control of its own vmcs01 through a
 * hypercall, executes the instruction, and reads back how many exits of
 * that reason L0 saw and the last exit's qualification and information.
 * L0 completes each intercepted instruction by stepping it without the
 * control (MTF), so the instruction's architectural effect is checked too.
 * Without the test mode (or under another hypervisor) VMCALL is #UD and the
 * test is skipped. */
#include "guest.h"

#define SET 0x4e560001u
#define GET 0x4e560002u
#define COUNT 0x4e560003u
#define LAST 0x4e560004u
#define RESET 0x4e560005u

struct last {
    uint64_t reason, qual, len, info, intr;
};

static uint64_t hc(uint64_t op, uint64_t b, uint64_t c)
{
    uint64_t a = op;
    __asm__ volatile("vmcall" : "+a"(a), "+b"(b), "+c"(c)::"rdx", "rsi", "memory");
    return a;
}

static struct last last_exit(void)
{
    struct last l;
    uint64_t a = LAST, b = 0, c = 0, d = 0, s = 0;
    __asm__ volatile("vmcall" : "+a"(a), "+b"(b), "+c"(c), "+d"(d), "+S"(s)::"memory");
    l.reason = a, l.qual = b, l.len = c, l.info = d, l.intr = s;
    return l;
}

static uint64_t count(int reason)
{
    return hc(COUNT, (uint64_t)reason, 0);
}

static uint64_t get(uint32_t field)
{
    return hc(GET, field, 0);
}

static void set(uint32_t field, uint64_t v)
{
    hc(SET, field, v);
}

#define PROC 0x4002
#define PROC2 0x401e
#define PIN 0x4000
#define EXC_BITMAP 0x4004
#define CR0_MASK 0x6000
#define CR0_SHADOW 0x6004
#define TSC_OFFSET 0x2010

static volatile int bp_hits;
static void bp_handler(struct frame *f)
{
    (void)f;
    bp_hits++;
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    int v = EXPECT_EXC(hc(COUNT, 0, 0));
    if (v != -1) {
        SKIP("no L0 VMX test mode (run nvmx with -vmx-test)", "vmx_test_mode");
        return;
    }
    uint64_t proc = get(PROC);

    /* RDTSC exiting (exit 16): the instruction still returns the TSC */
    uint64_t n = count(16);
    set(PROC, proc | (1u << 12));
    uint64_t t0 = rdtsc();
    CHECK_EQ(count(16), n + 1, "rdtsc_exiting_exits");
    CHECK(t0 != 0, "rdtsc_still_completes");
    set(PROC, proc);

    /* TSC offsetting: RDTSC adds the offset */
    set(TSC_OFFSET, 1ull << 40);
    set(PROC, proc | (1u << 3));
    uint64_t t1 = rdtsc();
    set(PROC, proc);
    uint64_t t2 = rdtsc();
    CHECK(t1 >= (1ull << 40) && t2 < (1ull << 40), "tsc_offsetting");

    /* INVLPG exiting (exit 14): the qualification is the linear address */
    set(PROC, proc | (1u << 9));
    invlpg((void *)0x123000);
    struct last l = last_exit();
    CHECK(l.reason == 14 && l.qual == 0x123000 && l.len == 3, "invlpg_exiting_qualification");
    set(PROC, proc);

    /* MOV-DR exiting (exit 29): DR number, direction, register */
    set(PROC, proc | (1u << 23));
    uint64_t dr;
    __asm__ volatile("mov %%dr7, %%rax" : "=a"(dr));
    l = last_exit();
    CHECK(l.reason == 29 && l.qual == (7u | 0x10 | (0u << 8)), "mov_dr_exiting_qualification");
    set(PROC, proc);

    /* CR3-load exiting (exit 28) unless the value is a CR3-target value */
    set(PROC, proc | (1u << 15));
    uint64_t cr3 = read_cr3();
    n = count(28);
    write_cr3(cr3);
    l = last_exit();
    CHECK(count(28) == n + 1 && l.reason == 28 && (l.qual & 0x3f) == 3, "cr3_load_exiting");
    set(0x400a, 1);        /* CR3-target count */
    set(0x6008, cr3);      /* CR3-target value 0 */
    n = count(28);
    write_cr3(cr3);
    CHECK_EQ(count(28), n, "cr3_target_value_no_exit");
    set(0x400a, 0);
    set(PROC, proc);

    /* CR0 guest/host mask and read shadow: the guest reads the shadow */
    set(CR0_MASK, 1u << 3);  /* TS */
    set(CR0_SHADOW, 1u << 3);
    CHECK(read_cr0() & (1u << 3), "cr0_read_shadow");
    n = count(28);
    __asm__ volatile("clts");  /* TS host-owned and set in the shadow: exit */
    CHECK_EQ(count(28), n + 1, "clts_exits");
    set(CR0_MASK, 0);

    /* exception bitmap: #BP (INT3) exits and is reflected to the guest */
    set_handler(3, bp_handler);
    bp_hits = 0;
    set(EXC_BITMAP, 1u << 3);
    n = count(0);
    __asm__ volatile("int3");
    l = last_exit();
    CHECK(count(0) == n + 1 && (l.intr & 0x7ff) == ((6u << 8) | 3) && l.len == 1,
          "exception_bitmap_int3");
    CHECK_EQ(bp_hits, 1, "intercepted_int3_reflected");
    set(EXC_BITMAP, 0);

    /* PAUSE exiting (exit 40) */
    set(PROC, proc | (1u << 30));
    n = count(40);
    __asm__ volatile("pause");
    CHECK_EQ(count(40), n + 1, "pause_exiting");
    set(PROC, proc);

    /* WBINVD exiting (exit 54), RDRAND exiting (exit 57, destination and
     * size in the instruction information), descriptor-table exiting (46) */
    uint64_t p2 = get(PROC2);
    set(PROC2, p2 | (1u << 6) | (1u << 11) | (1u << 2));
    n = count(54);
    __asm__ volatile("wbinvd");
    CHECK_EQ(count(54), n + 1, "wbinvd_exiting");
    uint64_t rnd;
    __asm__ volatile("rdrand %%rcx" : "=c"(rnd)::"cc");
    l = last_exit();
    CHECK(l.reason == 57 && ((l.info >> 3) & 15) == 1 && ((l.info >> 11) & 3) == 2,
          "rdrand_exiting_information");
    struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) gdtr;
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    l = last_exit();
    CHECK(l.reason == 46 && ((l.info >> 28) & 3) == 0, "descriptor_table_exiting_sgdt");
    CHECK(gdtr.limit != 0, "sgdt_still_completes");
    set(PROC2, p2);

    hc(RESET, 0, 0);
    CHECK_EQ(get(PROC), proc, "reset_restores_l0_controls");
}
