/* Micro-benchmark guest for tests/bench.sh (also run, with tiny iteration
 * counts, as an ordinary guest test). Command line (multiboot):
 *   [workload=NAME|all] [iters=N]
 * Each workload prints "BENCH: <name> iters=<n> insns=<retired estimate>
 * tsc=<delta>" so the host can turn wall time into MIPS. */
#include "guest.h"
#include "vmx.h"

static uint64_t parse_u64(const char *s)
{
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

/* 10 ALU instructions + DEC + JNZ per iteration. */
static void w_alu(uint64_t n)
{
    uint64_t a = 1, b = 2, c = 3;
    __asm__ volatile("1: add %1, %2; xor %2, %3; sub %3, %1; and $0x7fff, %1; or %2, %3;"
                     "shl $1, %2; shr $1, %3; inc %1; lea 1(%2,%3), %2; imul %3, %1;"
                     "dec %0; jnz 1b"
                     : "+r"(n), "+r"(a), "+r"(b), "+r"(c)::"cc");
}

static uint64_t mem_buf[512];
/* 4 loads + 4 stores + 2 pointer updates + DEC + JNZ per iteration. */
static void w_mem(uint64_t n)
{
    uint64_t *p = mem_buf, t0, t1;
    __asm__ volatile("1: mov (%1), %2; mov 8(%1), %3; mov %3, 16(%1); mov %2, 24(%1);"
                     "mov 32(%1), %2; mov 40(%1), %3; mov %3, 48(%1); mov %2, 56(%1);"
                     "add $64, %1; and $0xfff, %w1;"
                     "dec %0; jnz 1b"
                     : "+r"(n), "+r"(p), "=&r"(t0), "=&r"(t1)::"cc", "memory");
}

static uint8_t str_src[4096], str_dst[4096];
static void w_string(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t s = (uint64_t)str_src, d = (uint64_t)str_dst, c = sizeof(str_src);
        __asm__ volatile("rep movsb" : "+S"(s), "+D"(d), "+c"(c)::"memory");
    }
}

static void __attribute__((noinline)) leaf(void)
{
    __asm__ volatile("");
}
static void w_call(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        leaf();
}

static void w_exception(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        (void)EXPECT_EXC(__asm__ volatile("ud2"));
}

static uint64_t USER_TEXT user_nop(uint64_t x)
{
    return x + 1;
}
static void w_ring3(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        ring3_call(user_nop, i);
}

static void w_pagewalk(uint64_t n)
{
    /* TLB refills: touch 64 pages, flush, repeat. */
    static uint8_t pages[64][4096] ALIGNED(4096);
    for (uint64_t i = 0; i < n; i++) {
        for (int p = 0; p < 64; p++)
            ((volatile uint8_t *)pages[p])[0]++;
        flush_tlb();
    }
}

/* CPU-bound kernels for the MIPS figure: sieve of Eratosthenes, CRC-32,
 * insertion sort of a pseudo-random array, and a fixed-point loop. Each
 * returns a checksum so the work cannot be optimised away. */
static uint8_t sieve_buf[65536];
static uint64_t w_sieve_once(void)
{
    uint64_t count = 0;
    for (unsigned i = 0; i < sizeof(sieve_buf); i++)
        sieve_buf[i] = 1;
    for (unsigned i = 2; i < sizeof(sieve_buf); i++) {
        if (!sieve_buf[i])
            continue;
        count++;
        for (unsigned j = i * 2; j < sizeof(sieve_buf); j += i)
            sieve_buf[j] = 0;
    }
    return count;
}
static volatile uint64_t bench_sink;
static void w_sieve(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        bench_sink += w_sieve_once();
}

static void w_crc(uint64_t n)
{
    uint32_t crc = 0xffffffffu;
    for (uint64_t i = 0; i < n; i++) {
        for (unsigned b = 0; b < sizeof(sieve_buf); b++) {
            crc ^= (uint8_t)(sieve_buf[b] + b);
            for (int k = 0; k < 8; k++)
                crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
        }
    }
    bench_sink += crc;
}

static uint32_t sort_buf[2048];
static void w_sort(uint64_t n)
{
    uint32_t x = 12345;
    for (uint64_t it = 0; it < n; it++) {
        for (unsigned i = 0; i < ARRAY_SIZE(sort_buf); i++) {
            x = x * 1103515245u + 12345u;
            sort_buf[i] = x >> 8;
        }
        for (unsigned i = 1; i < ARRAY_SIZE(sort_buf); i++) {
            uint32_t v = sort_buf[i];
            unsigned j = i;
            while (j > 0 && sort_buf[j - 1] > v) {
                sort_buf[j] = sort_buf[j - 1];
                j--;
            }
            sort_buf[j] = v;
        }
        bench_sink += sort_buf[ARRAY_SIZE(sort_buf) / 2];
    }
}

static void w_fixed(uint64_t n)
{
    /* Q16.16 Mandelbrot-style iteration over a small grid */
    int64_t acc = 0;
    for (uint64_t it = 0; it < n; it++) {
        for (int py = 0; py < 64; py++) {
            for (int px = 0; px < 64; px++) {
                int64_t cx = ((int64_t)px - 40) * 3072, cy = ((int64_t)py - 32) * 2048;
                int64_t zx = 0, zy = 0;
                int k = 0;
                for (; k < 32; k++) {
                    int64_t zx2 = (zx * zx) >> 16, zy2 = (zy * zy) >> 16;
                    if (zx2 + zy2 > (4 << 16))
                        break;
                    zy = ((zx * zy) >> 15) + cy;
                    zx = zx2 - zy2 + cx;
                }
                acc += k;
            }
        }
    }
    bench_sink += (uint64_t)acc;
}

/* CPUID always exits to L0: the cost of a VM-exit round trip. */
static void w_cpuid(uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        uint32_t a = 0, b, c = 0, d;
        __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    }
}

struct workload {
    const char *name;
    void (*fn)(uint64_t);
    uint64_t insns_per_iter; /* rough, for MIPS figures */
    uint64_t default_iters;
};

static const struct workload workloads[] = {
    {"alu", w_alu, 12, 1000},           {"mem", w_mem, 12, 1000},
    {"string", w_string, 4100, 10},     {"call", w_call, 5, 1000},
    {"exception", w_exception, 60, 10}, {"ring3", w_ring3, 60, 10},
    {"pagewalk", w_pagewalk, 250, 2},   {"sieve", w_sieve, 700000, 1},
    {"crc", w_crc, 3000000, 1},         {"sort", w_sort, 8000000, 1},
    {"fixed", w_fixed, 700000, 1},      {"cpuid", w_cpuid, 5, 1000},
};

/* l2=1: the workload runs in an L2 guest under this kernel acting as a
 * minimal L1 hypervisor (tests/guest/lib/vmx.c) that emulates CPUID for
 * L2 by executing CPUID itself: every L2 CPUID is a reflected exit (L2 ->
 * L0 -> L1 -> L0 -> L2, plus L1's own exits for VMREAD/VMWRITE/CPUID/
 * VMRESUME). */
static const struct workload *l2_work;
static uint64_t l2_iters;

static void l2_bench_entry(void)
{
    l2_work->fn(l2_iters);
    __asm__ volatile("vmcall" ::"a"(0));
    for (;;)
        ;
}

static bool run_in_l2(const struct workload *w, uint64_t n)
{
    if (!vmx_offered() || vmx_on() != VMX_OK)
        return false;
    l2_work = w;
    l2_iters = n;
    vmx_setup_vmcs(l2_bench_entry);
    for (;;) {
        if (vmx_run() != VMX_OK)
            return false;
        uint64_t r = vmread(EXIT_REASON);
        if (r == 18)
            break;
        if (r != 10) {
            gprintf("  unexpected L2 exit %lu\n", r);
            return false;
        }
        uint32_t a = (uint32_t)vmx_l2_regs.rax, b, c = (uint32_t)vmx_l2_regs.rcx, d;
        __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
        vmx_l2_regs.rax = a, vmx_l2_regs.rbx = b, vmx_l2_regs.rcx = c, vmx_l2_regs.rdx = d;
        vmx_skip();
    }
    vmxoff();
    return true;
}

void guest_main(struct multiboot_info *mbi)
{
    const char *want = "all";
    uint64_t iters = 0;
    bool in_l2 = false;
    char name[32] = "all";
    if (mbi && (mbi->flags & (1u << 2)) && mbi->cmdline) {
        const char *c = (const char *)(uintptr_t)mbi->cmdline;
        for (const char *p = c; *p; p++) {
            if (!strncmp(p, "iters=", 6))
                iters = parse_u64(p + 6);
            if (!strncmp(p, "l2=1", 4))
                in_l2 = true;
            if (!strncmp(p, "workload=", 9)) {
                size_t i = 0;
                for (const char *q = p + 9; *q && *q != ' ' && i < sizeof(name) - 1; q++)
                    name[i++] = *q;
                name[i] = 0;
                want = name;
            }
        }
    }
    for (unsigned i = 0; i < ARRAY_SIZE(workloads); i++) {
        const struct workload *w = &workloads[i];
        if (strcmp(want, "all") && strcmp(want, w->name))
            continue;
        uint64_t n = iters ? iters : w->default_iters;
        uint64_t t0 = rdtsc();
        if (in_l2) {
            if (!CHECK(run_in_l2(w, n), "%s_in_l2", w->name))
                continue;
        } else {
            w->fn(n);
        }
        uint64_t t1 = rdtsc();
        gprintf("BENCH: %s iters=%lu insns=%lu tsc=%lu\n", w->name, n, n * w->insns_per_iter,
                t1 - t0);
        CHECK(true, "%s_ran", w->name);
    }
}
