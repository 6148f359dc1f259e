/* Invalid and unimplemented opcodes raise #UD (SDM Vol. 2, appendix A
 * opcode maps: "i64" = invalid in 64-bit mode; UD0/UD1/UD2), and the
 * 15-byte instruction length limit raises #GP(0) (SDM Vol. 2A 2.3.11). */
#include "guest.h"

#define UD(name, ...)                                                                              \
    CHECK_EXC(__asm__ volatile(".byte " #__VA_ARGS__ ::: "memory"), UD_VECTOR, 0, name)

void guest_main(struct multiboot_info *mbi)
{
    UD("ud2", 0x0f, 0x0b);
    UD("ud1", 0x0f, 0xb9, 0xc0);
    UD("ud0", 0x0f, 0xff, 0xc0);
    /* Opcodes invalid in 64-bit mode. */
    UD("push_es_i64", 0x06);
    UD("pop_es_i64", 0x07);
    UD("push_cs_i64", 0x0e);
    UD("push_ss_i64", 0x16);
    UD("pop_ss_i64", 0x17);
    UD("push_ds_i64", 0x1e);
    UD("pop_ds_i64", 0x1f);
    UD("pusha_i64", 0x60);
    UD("popa_i64", 0x61);
    UD("grp1_82_i64", 0x82, 0xc0, 0x01);
    UD("into_i64", 0xce);
    UD("salc_d6_i64", 0xd6);
    UD("callf_direct_i64", 0x9a, 0, 0, 0, 0, 0x08, 0);
    UD("jmpf_direct_i64", 0xea, 0, 0, 0, 0, 0x08, 0);
    /* Register forms of memory-only instructions. */
    UD("lea_register_operand", 0x48, 0x8d, 0xc0);
    UD("cmpxchg8b_register_operand", 0x0f, 0xc7, 0xc8);
    UD("jmp_far_register_operand", 0xff, 0xe8);
    UD("call_far_register_operand", 0xff, 0xd8);
    UD("0f01_c7_unassigned", 0x0f, 0x01, 0xc7);
    /* MOV to CS is invalid; reserved segment register encodings too. */
    UD("mov_to_cs", 0x8e, 0xc8);
    UD("mov_sreg_6", 0x8e, 0xf0);
    /* Unassigned two-byte opcodes. */
    UD("0f_04", 0x0f, 0x04);
    UD("0f_0a", 0x0f, 0x0a);
    UD("0f_36", 0x0f, 0x36);
    UD("0f_a6", 0x0f, 0xa6, 0xc0);
    /* GETSEC with CR4.SMXE=0. */
    UD("getsec_smxe0", 0x0f, 0x37);
    /* VEX-encoded AVX with XCR0/CR4.OSXSAVE not enabling it. */
    UD("vex_vpxor_without_osxsave", 0xc5, 0xf9, 0xef, 0xc0);
    /* LOCK on a non-memory destination. */
    UD("lock_reg_dest", 0xf0, 0x01, 0xc0);
    /* Prefix 0x66 before SYSCALL etc. is fine, but a REX followed by a legacy
     * prefix cancels the REX (SDM 2.2.1): 48 66 90 is a 16-bit NOP. */
    CHECK_NO_EXC(__asm__ volatile(".byte 0x48, 0x66, 0x90"), "rex_then_prefix_ok");

    /* 15 bytes are fine, 16 are #GP(0): 14 x 0x66 + NOP, then 15 x 0x66 + NOP. */
    CHECK_NO_EXC(__asm__ volatile(".fill 14, 1, 0x66; nop"), "insn_15_bytes_ok");
    CHECK_EXC(__asm__ volatile(".fill 15, 1, 0x66; nop"), GP_VECTOR, 0, "insn_16_bytes_gp");
    /* #UD is a fault: RIP of the invalid instruction. */
    static volatile uint64_t where;
    int v = EXPECT_EXC(__asm__ volatile("lea 1f(%%rip), %%rax; mov %%rax, %0; 1: .byte 0x0f, 0x0b"
                                        : "=m"(where)::"rax"));
    CHECK(v == UD_VECTOR && exc_last.rip == where, "ud_fault_rip");
}
