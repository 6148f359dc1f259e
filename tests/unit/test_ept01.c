/* EPT in the CPU's address translation with L0's EPT01: RAM is reachable,
 * everything else (MMIO holes, L0's private pages) exits with an EPT
 * violation carrying the SDM qualification, and L0's emulation path sees
 * the guest-physical address. */
#include "cpu_testbench.h"
#include "unit.h"
#include "vmm/ept01.h"

static void enable_ept(struct testbench *tb)
{
    uint64_t eptp = ept01_build(&tb->pm);
    tb->cpu->ctl.proc = PROC_HLT_EXITING | PROC_ACTIVATE_SECONDARY_CONTROLS;
    tb->cpu->ctl.proc2 = PROC2_ENABLE_EPT;
    tb->cpu->ctl.eptp = eptp;
    tlb_flush_all(tb->cpu, true);
}

UNIT_TEST(ept01_ram_reachable)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    enable_ept(&tb);
    /* mov rax, [0x300000]; hlt */
    static const uint8_t code[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00, 0xf4};
    tb_load_code(&tb, code, sizeof(code));
    uint64_t v = 0x1122334455667788ull;
    physmem_write(&tb.pm, 0x300000, &v, 8);
    CHECK_EQ(cpu_run(tb.cpu, 100), EXIT_REASON_HLT);
    CHECK_EQ(tb.cpu->regs[R_RAX], v);
    tb_destroy(&tb);
}

/* A read from guest-physical 0xfee00000 (not RAM): EPT violation, data
 * read (bit 0), nothing permitted (bits 5:3 = 0), linear address valid and
 * the access is the final translation (bits 7, 8). */
UNIT_TEST(ept01_mmio_exit_and_emulation)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    /* map linear 0x40000000 (PD index covering 1 GiB..) to physical 0xfee00000 */
    tb_write64(&tb, TB_PDPT + 8, 0x4000 | 7);
    tb_write64(&tb, 0x4000, 0xfee00000ull | 0x87);
    enable_ept(&tb);
    static const uint8_t code[] = {0x8b, 0x04, 0x25, 0x20,
                                   0x00, 0x00, 0x40, 0xf4}; /* mov eax,[0x40000020] */
    tb_load_code(&tb, code, sizeof(code));
    CHECK_EQ(cpu_run(tb.cpu, 100), EXIT_REASON_EPT_VIOLATION);
    CHECK_EQ(tb.cpu->exit.qualification, 0x181);
    CHECK_EQ(tb.cpu->exit.guest_physical, 0xfee00020);
    CHECK_EQ(tb.cpu->exit.guest_linear, 0x40000020);
    CHECK_EQ(tb.cpu->rip, TB_CODE); /* fault-like: the instruction did not run */
    tb_destroy(&tb);
}

struct mmio_log {
    uint64_t gpa;
    int size;
};

static uint64_t log_read(void *opaque, uint64_t gpa, int size)
{
    struct mmio_log *l = opaque;
    l->gpa = gpa;
    l->size = size;
    return 0xabcd1234;
}

UNIT_TEST(ept01_emulated_mmio_read)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    tb_write64(&tb, TB_PDPT + 8, 0x4000 | 7);
    tb_write64(&tb, 0x4000, 0xfee00000ull | 0x87);
    enable_ept(&tb);
    static const uint8_t code[] = {0x8b, 0x04, 0x25, 0x20, 0x00, 0x00, 0x40, 0xf4};
    tb_load_code(&tb, code, sizeof(code));
    CHECK_EQ(cpu_run(tb.cpu, 100), EXIT_REASON_EPT_VIOLATION);
    struct mmio_log l = {0, 0};
    struct cpu_emul_ops ops = {NULL, NULL, log_read, NULL};
    CHECK_EQ(cpu_emulate_insn(tb.cpu, &ops, &l), 0);
    CHECK_EQ(l.gpa, 0xfee00020);
    CHECK_EQ(l.size, 4);
    CHECK_EQ(tb.cpu->regs[R_RAX], 0xabcd1234);
    CHECK_EQ(tb.cpu->rip, TB_CODE + 7);
    tb_destroy(&tb);
}

/* L0's private pages (here: EPT01 itself) are not reachable by the guest:
 * guest-physical priv_base is not mapped. */
UNIT_TEST(ept01_private_memory_unreachable)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    enable_ept(&tb);
    uint64_t priv = tb.pm.priv_base; /* 4 GiB: map it at linear 1 GiB with a 2M page */
    tb_write64(&tb, TB_PDPT + 8, 0x4000 | 7);
    tb_write64(&tb, 0x4000, priv | 0x87);
    tlb_flush_all(tb.cpu, true);
    static const uint8_t code[] = {0xc7, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0x99, 0, 0, 0, 0xf4};
    tb_load_code(&tb, code, sizeof(code)); /* mov dword [0x40000000], 0x99 */
    CHECK_EQ(cpu_run(tb.cpu, 100), EXIT_REASON_EPT_VIOLATION);
    CHECK_EQ(tb.cpu->exit.qualification & 7, 2); /* a write */
    CHECK_EQ(tb.cpu->exit.guest_physical, priv);
    uint64_t first = 0;
    memcpy(&first, physmem_ptr(&tb.pm, priv, 8), 8);
    CHECK(first != 0x99);
    tb_destroy(&tb);
}

/* A guest page table in an unmapped guest-physical page: the violation is
 * reported for the paging-structure access (bit 8 clear). */
UNIT_TEST(ept01_violation_on_page_walk)
{
    struct testbench tb;
    CHECK(tb_init_long(&tb) == 0);
    tb_write64(&tb, TB_PDPT + 8, 0xfee00000ull | 7); /* PD for 1 GiB.. lives in MMIO space */
    enable_ept(&tb);
    static const uint8_t code[] = {0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40, 0xf4};
    tb_load_code(&tb, code, sizeof(code));
    CHECK_EQ(cpu_run(tb.cpu, 100), EXIT_REASON_EPT_VIOLATION);
    CHECK_EQ(tb.cpu->exit.qualification & 0x187, 0x81);
    CHECK_EQ(tb.cpu->exit.guest_physical, 0xfee00000);
    tb_destroy(&tb);
}

int main(void)
{
    UNIT_RUN(ept01_ram_reachable);
    UNIT_RUN(ept01_mmio_exit_and_emulation);
    UNIT_RUN(ept01_emulated_mmio_read);
    UNIT_RUN(ept01_private_memory_unreachable);
    UNIT_RUN(ept01_violation_on_page_walk);
    UNIT_DONE();
}
