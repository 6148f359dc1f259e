/* nvmx-args: -smp 3
 *
 * SMP: application processors started with INIT-SIPI-SIPI (SDM 9.4.4 MP
 * initialization, real-mode start at vector * 4 KiB), IPIs between vCPUs
 * (fixed physical, logical flat, broadcast shorthands, NMI), each AP's own
 * APIC ID and timer, INIT of a running AP and its restart, and TSC values
 * that never go backwards from one vCPU to another. Event times are
 * printed (indented, ignored by the runner) so that the determinism test
 * compares them between runs. */
#include "guest.h"

#define APIC ((volatile uint32_t *)0xfee00000ull)
#define TRAMP 0x8000
#define NAP 2

static uint32_t ar(uint32_t off)
{
    return APIC[off / 4];
}
static void aw(uint32_t off, uint32_t v)
{
    APIC[off / 4] = v;
}

/* Real mode -> long mode with the BSP's page tables, then ap_entry. */
extern char ap_tramp_start[], ap_tramp_end[], ap_tramp_cr3[], ap_tramp_stack[], ap_tramp_entry[];
__asm__(".pushsection .rodata\n"
        ".code16\n"
        "ap_tramp_start:\n"
        "  cli\n"
        "  xorw %ax, %ax\n"
        "  movw %ax, %ds\n"
        "  lgdtl 0x8000 + (ap_tramp_gdtr - ap_tramp_start)\n"
        "  movl %cr4, %eax\n"
        "  orl $0x20, %eax\n" /* PAE */
        "  movl %eax, %cr4\n"
        "  movl 0x8000 + (ap_tramp_cr3 - ap_tramp_start), %eax\n"
        "  movl %eax, %cr3\n"
        "  movl $0xc0000080, %ecx\n"
        "  rdmsr\n"
        "  orl $0x100, %eax\n" /* EFER.LME */
        "  wrmsr\n"
        "  movl %cr0, %eax\n"
        "  orl $0x80000001, %eax\n"
        "  movl %eax, %cr0\n"
        "  ljmpl $0x08, $0x8000 + (ap_tramp_64 - ap_tramp_start)\n"
        ".code64\n"
        "ap_tramp_64:\n"
        "  movw $0x10, %ax\n"
        "  movw %ax, %ds\n"
        "  movw %ax, %es\n"
        "  movw %ax, %ss\n"
        "  movq 0x8000 + (ap_tramp_stack - ap_tramp_start), %rsp\n"
        "  movq 0x8000 + (ap_tramp_entry - ap_tramp_start), %rax\n"
        "  jmp *%rax\n"
        ".balign 8\n"
        "ap_tramp_gdt:\n"
        "  .quad 0, 0x00af9a000000ffff, 0x00cf92000000ffff\n"
        "ap_tramp_gdtr:\n"
        "  .word 23\n"
        "  .long 0x8000 + (ap_tramp_gdt - ap_tramp_start)\n"
        ".balign 8\n"
        "ap_tramp_cr3: .quad 0\n"
        "ap_tramp_stack: .quad 0\n"
        "ap_tramp_entry: .quad 0\n"
        "ap_tramp_end:\n"
        ".popsection\n");

struct dtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static struct dtr bsp_gdtr, bsp_idtr;
static uint8_t ap_stacks[NAP + 1][8192] ALIGNED(16);
static volatile int alive[NAP + 1], starts[NAP + 1];
static volatile uint32_t ap_id[NAP + 1], ap_cpuid_id[NAP + 1];
static volatile int ipi_count[NAP + 1], nmi_count[NAP + 1], timer_count[NAP + 1];
static volatile int bsp_ipis;
static volatile uint64_t bsp_tsc_mark, ap_tsc_seen;
static volatile int next_ap;

static int my_index(void)
{
    return (int)(ar(0x20) >> 24);
}

static void eoi(void)
{
    aw(0xb0, 0);
}

static void ap_ipi_handler(struct frame *f)
{
    (void)f;
    ipi_count[my_index()]++;
    eoi();
}

/* vector 0x52: the AP answers with an IPI to the BSP (vector 0x53) */
static void ap_ping_handler(struct frame *f)
{
    (void)f;
    ap_tsc_seen = rdtsc();
    eoi();
    aw(0x310, 0);
    aw(0x300, 0x53);
}

static void bsp_pong_handler(struct frame *f)
{
    (void)f;
    bsp_ipis++;
    eoi();
}

static void nmi_handler(struct frame *f)
{
    (void)f;
    nmi_count[my_index()]++;
}

static void ap_timer_handler(struct frame *f)
{
    (void)f;
    timer_count[my_index()]++;
    eoi();
}

static volatile uint32_t ap_x2apic_id[NAP + 1];

static void ap_entry(void)
{
    __asm__ volatile("lgdt %0; lidt %1" ::"m"(bsp_gdtr), "m"(bsp_idtr));
    int me = next_ap;
    aw(0xf0, 0x1ff);
    ap_id[me] = ar(0x20) >> 24;
    ap_cpuid_id[me] = cpuid(1, 0).b >> 24;
    ap_x2apic_id[me] = cpuid(0xb, 0).d;
    aw(0x80, 0);
    starts[me]++;
    alive[me] = 1;
    for (;;)
        __asm__ volatile("sti; hlt; cli");
}

static void send_ipi(uint32_t dest, uint32_t lo)
{
    aw(0x310, dest << 24);
    aw(0x300, lo);
}

static bool wait_for(volatile int *v, int want)
{
    uint64_t t0 = rdtsc();
    while (*v < want) {
        if (rdtsc() - t0 > 50000000) /* 50 ms of virtual time */
            return false;
        __asm__ volatile("pause");
    }
    return true;
}

static void delay(uint64_t ns)
{
    uint64_t t0 = rdtsc();
    while (rdtsc() - t0 < ns)
        __asm__ volatile("pause");
}

static bool start_ap(int i)
{
    next_ap = i;
    alive[i] = 0;
    *(uint64_t *)(TRAMP + (ap_tramp_stack - ap_tramp_start)) =
        (uint64_t)&ap_stacks[i][sizeof(ap_stacks[i])];
    send_ipi((uint32_t)i, 0x4500); /* INIT, level assert */
    send_ipi((uint32_t)i, 0x8500); /* INIT level de-assert */
    delay(10000);
    send_ipi((uint32_t)i, 0x4600 | (TRAMP >> 12)); /* SIPI */
    delay(200);
    if (!alive[i])
        send_ipi((uint32_t)i, 0x4600 | (TRAMP >> 12)); /* second SIPI */
    return wait_for(&alive[i], 1);
}

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    __asm__ volatile("sgdt %0; sidt %1" : "=m"(bsp_gdtr), "=m"(bsp_idtr));
    memcpy((void *)TRAMP, ap_tramp_start, (size_t)(ap_tramp_end - ap_tramp_start));
    *(uint64_t *)(TRAMP + (ap_tramp_cr3 - ap_tramp_start)) = read_cr3();
    *(uint64_t *)(TRAMP + (ap_tramp_entry - ap_tramp_start)) = (uint64_t)ap_entry;
    set_handler(0x50, ap_ipi_handler);
    set_handler(0x52, ap_ping_handler);
    set_handler(0x53, bsp_pong_handler);
    set_handler(0x60, ap_timer_handler);
    set_handler(2, nmi_handler);
    aw(0xf0, 0x1ff);

    CHECK_EQ(rdmsr(MSR_APIC_BASE) & 0x100, 0x100, "bsp_flag");
    /* topology: one thread per core, NAP + 1 cores (CPUID leaf 0BH) */
    CHECK(cpuid(0xb, 0).b == 1 && ((cpuid(0xb, 0).c >> 8) & 0xff) == 1, "cpuid_0b_smt_level");
    CHECK(cpuid(0xb, 1).b == NAP + 1 && ((cpuid(0xb, 1).c >> 8) & 0xff) == 2 &&
              cpuid(0xb, 1).a == 2,
          "cpuid_0b_core_level");
    CHECK_EQ((cpuid(0xb, 2).c >> 8) & 0xff, 0, "cpuid_0b_end");
    for (int i = 1; i <= NAP; i++) {
        CHECK(start_ap(i), "ap%d_started_by_init_sipi_sipi", i);
        CHECK_EQ(ap_id[i], i, "ap%d_apic_id", i);
        CHECK_EQ(ap_cpuid_id[i], i, "ap%d_cpuid_initial_apic_id", i);
        CHECK_EQ(ap_x2apic_id[i], i, "ap%d_cpuid_0b_x2apic_id", i);
        gprintf("  ap%d up at tsc %lu\n", i, rdtsc());
    }

    /* fixed IPI, physical destination */
    send_ipi(1, 0x4050);
    CHECK(wait_for(&ipi_count[1], 1), "fixed_ipi_to_ap1");
    CHECK_EQ(ipi_count[2], 0, "ap2_not_targeted");

    /* logical flat destination (SDM 11.6.2.2): the BSP's LDR is bit 0;
     * the APs' LDRs are 0, so only the broadcast 0xff reaches them */
    aw(0xd0, 1u << 24);
    for (int i = 0; i <= NAP; i++)
        ipi_count[i] = 0;
    send_ipi(0x01, 0x4850); /* logical, mask 0x01: the BSP */
    __asm__ volatile("sti; nop; cli");
    CHECK_EQ(ipi_count[0], 1, "logical_flat_to_self");
    send_ipi(0xff, 0x4850); /* logical broadcast */
    __asm__ volatile("sti; nop; cli");
    CHECK(wait_for(&ipi_count[1], 1) && wait_for(&ipi_count[2], 1) && ipi_count[0] == 2,
          "logical_broadcast_all");

    /* shorthand all-excluding-self */
    ipi_count[0] = ipi_count[1] = ipi_count[2] = 0;
    aw(0x300, (3u << 18) | 0x4050);
    CHECK(wait_for(&ipi_count[1], 1) && wait_for(&ipi_count[2], 1), "all_excluding_self");
    __asm__ volatile("sti; nop; cli");
    CHECK_EQ(ipi_count[0], 0, "excluding_self_not_self");
    /* all-including-self */
    aw(0x300, (2u << 18) | 0x4050);
    __asm__ volatile("sti; nop; cli");
    CHECK(ipi_count[0] == 1 && wait_for(&ipi_count[2], 2), "all_including_self");

    /* lowest priority (SDM 11.6.2.4): of all destinations, the APs have
     * the lowest TPR (0) and AP1 the lowest ID; the BSP (TPR 0x20) is
     * skipped */
    ipi_count[0] = ipi_count[1] = ipi_count[2] = 0;
    aw(0x80, 0x20);
    send_ipi(0xff, 0x4950); /* lowest priority, logical, broadcast mask */
    CHECK(wait_for(&ipi_count[1], 1), "lowest_priority_to_ap1");
    delay(100000);
    __asm__ volatile("sti; nop; cli");
    CHECK(ipi_count[0] == 0 && ipi_count[2] == 0, "lowest_priority_one_target");
    aw(0x80, 0);

    /* ping-pong: AP1 answers with an IPI; the BSP sleeps in HLT */
    bsp_tsc_mark = rdtsc();
    send_ipi(1, 0x4052);
    __asm__ volatile("sti");
    while (!bsp_ipis)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
    CHECK_EQ(bsp_ipis, 1, "ap_to_bsp_ipi_wakes_hlt");
    CHECK(ap_tsc_seen > bsp_tsc_mark, "tsc_monotonic_across_vcpus");
    gprintf("  ping at %lu, seen by ap1 at %lu\n", bsp_tsc_mark, ap_tsc_seen);

    /* NMI IPI */
    send_ipi(2, 0x4400);
    CHECK(wait_for(&nmi_count[2], 1), "nmi_ipi_to_ap2");

    /* the timer, LVT and count are per APIC: the BSP's periodic timer
     * does not interrupt the APs (same vector, shared handler) */
    aw(0x3e0, 0xb);
    aw(0x320, 0x60 | (1u << 17));
    aw(0x380, 50000); /* 0.5 ms periodic on the BSP */
    __asm__ volatile("sti");
    while (timer_count[0] < 4)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
    aw(0x380, 0);
    CHECK(timer_count[1] == 0 && timer_count[2] == 0, "timer_is_per_cpu");
    gprintf("  bsp timer x4 done at %lu\n", rdtsc());

    /* INIT to a running AP puts it back to wait-for-SIPI; SIPI restarts */
    CHECK(start_ap(2), "ap2_restarted_after_init");
    CHECK_EQ(starts[2], 2, "ap2_ran_trampoline_twice");
    /* a SIPI to a running processor is ignored */
    send_ipi(1, 0x4600 | (TRAMP >> 12));
    delay(100000);
    CHECK_EQ(starts[1], 1, "sipi_to_running_ap_ignored");
    gprintf("  end at %lu\n", rdtsc());
}
