/* System instructions and registers: CPUID (basic/extended leaves sane and
 * consistent), RDTSC/RDTSCP (monotonic, TSC_AUX, CR4.TSD), RDMSR/WRMSR of
 * architectural MSRs and #GP for bad ones, MOV CR/DR with their #GP/#UD
 * conditions (SDM Vol. 2B MOV-Control/Debug Registers), CLTS, LMSW/SMSW,
 * SGDT/SIDT/LGDT/LIDT/SLDT/STR/LLDT/LTR, SWAPGS, RDRAND/RDSEED, and UMIP. */
#include "guest.h"

/* QEMU 7.2 TCG omits many of the SDM's validity checks on MSR and control
 * register writes (unknown MSRs read as 0 and ignore writes, reserved EFER /
 * PAT / CR0 bits are accepted, clearing CR0.PG in 64-bit mode is accepted
 * and kills the guest). Checks it is known to fail are run only elsewhere. */
#define QEMU_NOCHECK "QEMU TCG does not implement this #GP check"
#define CHECK_EXC_NQ(stmt, vec, err, ...)                                                          \
    do {                                                                                           \
        if (running_on_qemu())                                                                     \
            SKIP(QEMU_NOCHECK, __VA_ARGS__);                                                       \
        else                                                                                       \
            CHECK_EXC(stmt, vec, err, __VA_ARGS__);                                                \
    } while (0)

static void test_cpuid(void)
{
    struct cpuid_regs r0 = cpuid(0, 0);
    char vendor[13];
    memcpy(vendor, &r0.b, 4);
    memcpy(vendor + 4, &r0.d, 4);
    memcpy(vendor + 8, &r0.c, 4);
    vendor[12] = 0;
    bool printable = true;
    for (int i = 0; i < 12; i++)
        printable &= vendor[i] >= 0x20 && vendor[i] < 0x7f;
    gprintf("  vendor %s, max basic leaf 0x%x\n", vendor, r0.a);
    CHECK(printable, "vendor_string_printable");
    CHECK(r0.a >= 1, "max_basic_leaf");
    struct cpuid_regs r1 = cpuid(1, 0);
    /* Features every x86-64 processor has (SDM Vol. 1 / table 3-11). */
    uint32_t need_edx = (1u << 0) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 13) |
                        (1u << 15) | (1u << 24) | (1u << 25) | (1u << 26);
    CHECK_EQ(r1.d & need_edx, need_edx,
             "leaf1_edx_x86_64_baseline (fpu tsc msr pae cx8 pge cmov fxsr sse sse2)");
    unsigned family = (r1.a >> 8) & 0xf;
    CHECK(family >= 6, "family (0x%x)", r1.a);
    struct cpuid_regs e0 = cpuid(0x80000000, 0);
    CHECK(e0.a >= 0x80000001, "max_extended_leaf (0x%x)", e0.a);
    struct cpuid_regs e1 = cpuid(0x80000001, 0);
    CHECK(e1.d & (1u << 29), "long_mode_bit");
    CHECK(e1.d & (1u << 11), "syscall_bit");
    if (e0.a >= 0x80000004) {
        char brand[49];
        for (int i = 0; i < 3; i++) {
            struct cpuid_regs b = cpuid(0x80000002 + i, 0);
            memcpy(brand + 16 * i, &b, 16);
        }
        brand[48] = 0;
        gprintf("  brand \"%s\"\n", brand);
        CHECK(strlen(brand) > 0, "brand_string");
    }
    if (e0.a >= 0x80000008) {
        struct cpuid_regs e8 = cpuid(0x80000008, 0);
        unsigned pa = e8.a & 0xff, la = (e8.a >> 8) & 0xff;
        CHECK(pa >= 36 && pa <= 52 && la >= 48, "address_sizes (phys %u, linear %u)", pa, la);
    }
    if (r0.a >= 7) {
        struct cpuid_regs r7 = cpuid(7, 0);
        gprintf("  leaf 7: ebx 0x%x ecx 0x%x edx 0x%x\n", r7.b, r7.c, r7.d);
        CHECK(true, "leaf7_readable");
    }
    /* OSXSAVE mirrors CR4.OSXSAVE (SDM Vol. 2A CPUID, ECX bit 27). */
    CHECK_EQ(!!(r1.c & (1u << 27)), !!(read_cr4() & CR4_OSXSAVE), "osxsave_mirrors_cr4");
    if (HAS_XSAVE()) {
        cr4_set(CR4_OSXSAVE);
        CHECK(cpuid(1, 0).c & (1u << 27), "osxsave_set_after_cr4");
        cr4_clear(CR4_OSXSAVE);
        struct cpuid_regs d0 = cpuid(0xd, 0);
        CHECK((d0.a & 3) == 3, "xsave_leaf_d_x87_sse");
    }
    /* CPUID leaf 1 EBX[31:24] = initial APIC ID (0 for the BSP here). */
    CHECK_EQ(r1.b >> 24, 0, "initial_apic_id_bsp");
}

static uint64_t USER_TEXT user_rdtsc(uint64_t x)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return lo;
}

static void test_tsc(void)
{
    uint64_t prev = rdtsc();
    bool mono = true;
    for (int i = 0; i < 1000; i++) {
        uint64_t t = rdtsc();
        mono &= t > prev;
        prev = t;
    }
    CHECK(mono, "rdtsc_strictly_increasing");
    if (HAS_RDTSCP()) {
        wrmsr(MSR_TSC_AUX, 0x1234);
        uint32_t lo, hi, aux;
        __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
        uint64_t t = lo | ((uint64_t)hi << 32);
        CHECK_EQ(aux, 0x1234, "rdtscp_tsc_aux");
        CHECK(t > prev, "rdtscp_monotonic");
    } else {
        SKIP("no RDTSCP", "rdtscp");
    }
    /* IA32_TSC is writable. */
    if (running_on_qemu()) {
        SKIP("QEMU TCG: WRMSR IA32_TSC does not affect RDTSC", "wrmsr_tsc");
    } else {
        uint64_t before = rdtsc();
        wrmsr(MSR_TSC, before + 1000000000ull);
        uint64_t after = rdtsc();
        CHECK(after >= before + 1000000000ull, "wrmsr_tsc");
    }
    /* CR4.TSD: RDTSC at CPL3 is #GP(0); at CPL0 still fine. */
    CHECK_NO_EXC(ring3_call(user_rdtsc, 0), "rdtsc_cpl3_tsd0");
    cr4_set(CR4_TSD);
    CHECK_EXC(ring3_call(user_rdtsc, 0), GP_VECTOR, 0, "rdtsc_cpl3_tsd1_gp");
    CHECK_NO_EXC(rdtsc(), "rdtsc_cpl0_tsd1");
    cr4_clear(CR4_TSD);
}

static uint64_t USER_TEXT user_rdmsr(uint64_t x)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_EFER));
    return lo;
}

static void test_msr(void)
{
    uint64_t efer = rdmsr(MSR_EFER);
    CHECK((efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA), "efer_read");
    /* Reserved EFER bits: #GP(0). */
    CHECK_EXC_NQ(wrmsr(MSR_EFER, efer | (1ull << 20)), GP_VECTOR, 0, "efer_reserved_gp");
    /* Changing LME while paging is on: #GP(0). */
    CHECK_EXC_NQ(wrmsr(MSR_EFER, efer & ~EFER_LME), GP_VECTOR, 0, "efer_lme_change_with_pg_gp");
    /* Round trips. */
    wrmsr(MSR_STAR, 0x0023001000000000ull);
    CHECK_EQ(rdmsr(MSR_STAR), 0x0023001000000000ull, "star_roundtrip");
    wrmsr(MSR_KERNEL_GS_BASE, 0xffff800012345000ull);
    CHECK_EQ(rdmsr(MSR_KERNEL_GS_BASE), 0xffff800012345000ull, "kernel_gs_base_roundtrip");
    uint64_t pat = rdmsr(MSR_PAT);
    wrmsr(MSR_PAT, 0x0007040600070406ull);
    CHECK_EQ(rdmsr(MSR_PAT), 0x0007040600070406ull, "pat_roundtrip");
    /* PAT entries may only hold valid memory types (2 and 3 are reserved). */
    CHECK_EXC_NQ(wrmsr(MSR_PAT, 0x0007040600070402ull), GP_VECTOR, 0, "pat_reserved_type_gp");
    wrmsr(MSR_PAT, pat);
    /* FS/GS base MSRs: non-canonical values #GP(0). */
    CHECK_EXC_NQ(wrmsr(MSR_FS_BASE, 0x0000800000000000ull), GP_VECTOR, 0,
                 "fs_base_noncanonical_gp");
    wrmsr(MSR_FS_BASE, (uint64_t)&efer - 8);
    uint64_t via_fs;
    __asm__ volatile("mov %%fs:8, %0" : "=r"(via_fs));
    CHECK_EQ(via_fs, efer, "fs_base_used_by_fs_override");
    wrmsr(MSR_FS_BASE, 0);
    /* SWAPGS exchanges GS.base and IA32_KERNEL_GS_BASE. */
    wrmsr(MSR_GS_BASE, 0x1111000);
    wrmsr(MSR_KERNEL_GS_BASE, 0x2222000);
    __asm__ volatile("swapgs");
    CHECK(rdmsr(MSR_GS_BASE) == 0x2222000 && rdmsr(MSR_KERNEL_GS_BASE) == 0x1111000, "swapgs");
    __asm__ volatile("swapgs");
    wrmsr(MSR_GS_BASE, 0);
    /* Unimplemented MSR: #GP(0). */
    CHECK_EXC_NQ(rdmsr(0x4b564dff), GP_VECTOR, 0, "rdmsr_unknown_gp");
    CHECK_EXC_NQ(wrmsr(0x4b564dff, 0), GP_VECTOR, 0, "wrmsr_unknown_gp");
    /* RDMSR at CPL3: #GP(0). */
    CHECK_EXC(ring3_call(user_rdmsr, 0), GP_VECTOR, 0, "rdmsr_cpl3_gp");
    /* IA32_APIC_BASE reads with the BSP flag (bit 8) set. */
    CHECK(rdmsr(MSR_APIC_BASE) & (1u << 8), "apic_base_bsp");
}

static inline uint64_t read_cr8(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr8, %0" : "=r"(v));
    return v;
}

static void test_cr(void)
{
    uint64_t cr0 = read_cr0(), cr4 = read_cr4(), cr3 = read_cr3();
    /* CR0[63:32] reserved: #GP(0). */
    CHECK_EXC_NQ(write_cr0(cr0 | (1ull << 32)), GP_VECTOR, 0, "cr0_high_reserved_gp");
    /* PG=1 with PE=0: #GP(0). */
    CHECK_EXC_NQ(write_cr0(cr0 & ~CR0_PE), GP_VECTOR, 0, "cr0_pg_without_pe_gp");
    /* NW=1 with CD=0: #GP(0). */
    CHECK_EXC_NQ(write_cr0(cr0 | CR0_NW), GP_VECTOR, 0, "cr0_nw_without_cd_gp");
    /* Clearing PG in 64-bit mode: #GP(0) (SDM 10.8.5.4: leave from compat). */
    CHECK_EXC_NQ(write_cr0(cr0 & ~CR0_PG), GP_VECTOR, 0, "cr0_clear_pg_in_64bit_gp");
    /* ET is hard-wired to 1 on modern processors. */
    write_cr0(cr0 & ~CR0_ET);
    CHECK(read_cr0() & CR0_ET, "cr0_et_reads_1");
    write_cr0(cr0);
    /* CR4: clearing PAE in IA-32e mode, reserved bits: #GP(0). */
    CHECK_EXC_NQ(write_cr4(cr4 & ~CR4_PAE), GP_VECTOR, 0, "cr4_clear_pae_ia32e_gp");
    CHECK_EXC_NQ(write_cr4(cr4 | (1ull << 31)), GP_VECTOR, 0, "cr4_reserved_gp");
    /* CR3 bits above MAXPHYADDR: #GP(0). */
    unsigned pa = cpuid(0x80000000, 0).a >= 0x80000008 ? (cpuid(0x80000008, 0).a & 0xff) : 36;
    if (pa < 52)
        CHECK_EXC_NQ(write_cr3(cr3 | (1ull << pa)), GP_VECTOR, 0, "cr3_above_maxphyaddr_gp");
    /* CR2 is a plain register. */
    write_cr2(0x123456789ull);
    CHECK_EQ(read_cr2(), 0x123456789ull, "cr2_writable");
    /* CR8 is the TPR (4 bits); bits 63:4 reserved. */
    __asm__ volatile("mov %0, %%cr8" ::"r"(9ull));
    CHECK_EQ(read_cr8(), 9, "cr8_roundtrip");
    CHECK_EXC_NQ(__asm__ volatile("mov %0, %%cr8" ::"r"(0x10ull)), GP_VECTOR, 0, "cr8_reserved_gp");
    __asm__ volatile("mov %0, %%cr8" ::"r"(0ull));
    /* CR1, CR5-7, CR9-15 do not exist: #UD. */
    CHECK_EXC(__asm__ volatile(".byte 0x0f, 0x20, 0xc8" ::
                                   : "rax"),
              UD_VECTOR, 0, "mov_from_cr1_ud");
    CHECK_EXC(__asm__ volatile(".byte 0x0f, 0x20, 0xe8" ::
                                   : "rax"),
              UD_VECTOR, 0, "mov_from_cr5_ud");

    /* LMSW: loads CR0[3:0] but cannot clear PE; SMSW stores CR0[15:0]. */
    uint16_t msw;
    __asm__ volatile("smsw %0" : "=r"(msw));
    CHECK_EQ(msw, cr0 & 0xffff, "smsw");
    uint64_t smsw64;
    __asm__ volatile("smsw %0" : "=r"(smsw64));
    CHECK_EQ(smsw64, cr0, "smsw_r64_full_cr0");
    __asm__ volatile("lmsw %w0" ::"r"((uint16_t)((cr0 & 0xfff0) | CR0_TS | CR0_MP)));
    CHECK(read_cr0() & CR0_TS, "lmsw_sets_ts");
    __asm__ volatile("lmsw %w0" ::"r"((uint16_t)(cr0 & 0xfff0 & ~CR0_PE)));
    CHECK(read_cr0() & CR0_PE, "lmsw_cannot_clear_pe");
    write_cr0(cr0);
    cr0_set(CR0_TS);
    __asm__ volatile("clts");
    CHECK(!(read_cr0() & CR0_TS), "clts");
}

static uint64_t USER_TEXT user_movdr(uint64_t x)
{
    uint64_t v;
    __asm__ volatile("mov %%dr7, %0" : "=r"(v));
    return v;
}

static volatile uint64_t gd_dr6;
static void gd_handler(struct frame *f)
{
    uint64_t v;
    __asm__ volatile("mov %%dr6, %0" : "=r"(v));
    gd_dr6 = v;
    /* The processor clears GD when delivering this #DB (SDM 18.2.4). */
    exc_recover(f);
}

static void test_dr(void)
{
    uint64_t v;
    __asm__ volatile("mov %0, %%dr0" ::"r"(0x12345678ull));
    __asm__ volatile("mov %%dr0, %0" : "=r"(v));
    CHECK_EQ(v, 0x12345678, "dr0_roundtrip");
    __asm__ volatile("mov %0, %%dr7" ::"r"(0x400ull));
    __asm__ volatile("mov %%dr7, %0" : "=r"(v));
    CHECK_EQ(v, 0x400, "dr7_reset_value");
    /* DR4/DR5 alias DR6/DR7 when CR4.DE=0, #UD when CR4.DE=1. */
    cr4_clear(CR4_DE);
    uint64_t d5, d7;
    __asm__ volatile("mov %%dr5, %0; mov %%dr7, %1" : "=r"(d5), "=r"(d7));
    CHECK_EQ(d5, d7, "dr5_aliases_dr7");
    cr4_set(CR4_DE);
    CHECK_EXC(__asm__ volatile("mov %%dr5, %0" : "=r"(v)), UD_VECTOR, 0, "dr5_with_cr4_de_ud");
    cr4_clear(CR4_DE);
    /* DR7[63:32] must be 0: #GP(0). */
    CHECK_EXC(__asm__ volatile("mov %0, %%dr7" ::"r"(1ull << 32)), GP_VECTOR, 0,
              "dr7_high_bits_gp");
    CHECK_EXC(ring3_call(user_movdr, 0), GP_VECTOR, 0, "mov_dr_cpl3_gp");
    /* DR7.GD: the next MOV DR raises #DB (fault) with DR6.BD. */
    if (running_on_qemu()) {
        SKIP("QEMU TCG does not implement DR7.GD", "dr7_gd_db_bd");
        return;
    }
    set_handler(DB_VECTOR, gd_handler);
    __asm__ volatile("mov %0, %%dr6" ::"r"(0xffff0ff0ull));
    __asm__ volatile("mov %0, %%dr7" ::"r"(0x400ull | (1u << 13)));
    int vec = EXPECT_EXC(__asm__ volatile("mov %%dr0, %0" : "=r"(v)));
    set_handler(DB_VECTOR, NULL);
    CHECK(vec == DB_VECTOR && (gd_dr6 & (1u << 13)), "dr7_gd_db_bd (dr6=0x%lx)", gd_dr6);
    __asm__ volatile("mov %%dr7, %0" : "=r"(v));
    CHECK(!(v & (1u << 13)), "gd_cleared_on_db");
    __asm__ volatile("mov %0, %%dr7" ::"r"(0x400ull));
}

static uint64_t USER_TEXT user_sgdt(uint64_t p)
{
    __asm__ volatile("sgdt (%0)" ::"r"(p) : "memory");
    return 0;
}
static uint8_t user_gdtr[16] USER_DATA;

static void test_tables(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } g, i, t;
    __asm__ volatile("sgdt %0; sidt %1" : "=m"(g), "=m"(i));
    CHECK(g.base == (uint64_t)gdt && g.limit == GDT_ENTRIES * 8 - 1, "sgdt");
    CHECK(i.base == (uint64_t)idt && i.limit == sizeof(idt) - 1, "sidt");
    /* LIDT/LGDT with other values, then restore. */
    t.limit = 0x123;
    t.base = 0xffff800000001000ull;
    __asm__ volatile("lidt %1; sidt %0; lidt %2" : "=m"(t) : "m"(t), "m"(i));
    CHECK(t.limit == 0x123 && t.base == 0xffff800000001000ull, "lidt_sidt_roundtrip");
    /* A non-canonical base: #GP(0). */
    t.base = 0x0000800000000000ull;
    CHECK_EXC_NQ(__asm__ volatile("lidt %0" ::"m"(t)), GP_VECTOR, 0, "lidt_noncanonical_gp");
    CHECK_EXC_NQ(__asm__ volatile("lgdt %0" ::"m"(t)), GP_VECTOR, 0, "lgdt_noncanonical_gp");
    uint16_t tr, ldtr;
    __asm__ volatile("str %0; sldt %1" : "=r"(tr), "=r"(ldtr));
    CHECK(tr == SEL_TSS && ldtr == 0, "str_sldt");
    /* SGDT works at CPL3 unless CR4.UMIP=1 (then #GP(0)). */
    CHECK_NO_EXC(ring3_call(user_sgdt, (uint64_t)user_gdtr), "sgdt_cpl3_umip0");
    if (cpu_has(7, 0, 2, 2)) {
        cr4_set(CR4_UMIP);
        CHECK_EXC(ring3_call(user_sgdt, (uint64_t)user_gdtr), GP_VECTOR, 0, "sgdt_cpl3_umip1_gp");
        cr4_clear(CR4_UMIP);
    } else {
        SKIP("no UMIP", "sgdt_cpl3_umip1_gp");
    }
    /* LGDT/LIDT/LLDT/LTR at CPL3 are privileged. */
}

static void test_random(void)
{
    if (HAS_RDRAND()) {
        uint64_t a = 0, b = 0;
        uint8_t ca, cb;
        __asm__ volatile("rdrand %0; setc %1" : "=r"(a), "=q"(ca)::"cc");
        __asm__ volatile("rdrand %0; setc %1" : "=r"(b), "=q"(cb)::"cc");
        CHECK(ca && cb, "rdrand_cf1");
        CHECK(a != b, "rdrand_values_differ");
        uint16_t w;
        __asm__ volatile("rdrand %0; setc %1" : "=r"(w), "=q"(ca)::"cc");
        CHECK(ca, "rdrand16");
    } else {
        SKIP("no RDRAND", "rdrand");
    }
    if (HAS_RDSEED()) {
        uint64_t a;
        uint8_t c = 0;
        for (int i = 0; i < 100 && !c; i++) /* may transiently fail (CF=0) */
            __asm__ volatile("rdseed %0; setc %1" : "=r"(a), "=q"(c)::"cc");
        CHECK(c, "rdseed_cf1");
    } else {
        SKIP("no RDSEED", "rdseed");
    }
}

void guest_main(struct multiboot_info *mbi)
{
    test_cpuid();
    test_tsc();
    test_msr();
    test_cr();
    test_dr();
    test_tables();
    test_random();
}
