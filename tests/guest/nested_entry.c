/* The VM-entry checks of SDM 27.2 and 27.3 as an L1 sees them: each case
 * starts from a valid VMCS, breaks one rule, and expects VMfailValid with
 * error 7 (controls), 8 (host state), or a VM-entry failure exit with
 * reason 33 (guest state) after which L1 continues at its HOST_RIP. */
#include "vmx.h"

__asm__(".text\nn_nop: mov $1, %eax; vmcall\n");
void n_nop(void);

enum expect { E7, E8, E33 };

struct w {
    uint64_t field, value;
    int op; /* 0 set, 1 or, 2 and-not */
};

struct entry_case {
    const char *name;
    enum expect expect;
    struct w w[4];
};

#define SET(f, v)                                                                                  \
    {                                                                                              \
        f, v, 0                                                                                    \
    }
#define OR(f, v)                                                                                   \
    {                                                                                              \
        f, v, 1                                                                                    \
    }
#define CLR(f, v)                                                                                  \
    {                                                                                              \
        f, v, 2                                                                                    \
    }

static const struct entry_case cases[] = {
    /* SDM 27.2.1: VM-execution, VM-exit and VM-entry control fields */
    {"pin_reserved_bit", E7, {OR(PIN_CTLS, 1u << 31)}},
    {"proc2_not_offered", E7, {OR(PROC_CTLS, CPU_SECONDARY), SET(PROC_CTLS2, 1u << 13)}},
    {"cr3_target_count_5", E7, {SET(CR3_TARGET_COUNT, 5)}},
    {"io_bitmap_unaligned",
     E7,
     {OR(PROC_CTLS, CPU_IO_BITMAP), SET(IO_BITMAP_A, 0x10010), SET(IO_BITMAP_B, 0x11000)}},
    {"msr_bitmap_too_wide", E7, {OR(PROC_CTLS, CPU_MSR_BITMAP), SET(MSR_BITMAP, 1ull << 50)}},
    {"virtual_apic_unaligned", E7, {OR(PROC_CTLS, 1u << 21), SET(0x2012, 0x10080)}},
    {"nmi_window_without_virtual_nmis", E7, {OR(PROC_CTLS, 1u << 22)}},
    {"virtual_nmis_without_nmi_exiting", E7, {OR(PIN_CTLS, 1u << 5)}},
    {"eptp_bad_memory_type",
     E7,
     {OR(PROC_CTLS, CPU_SECONDARY), SET(PROC_CTLS2, CPU2_EPT),
      SET(EPT_POINTER, 0x20000 | (3 << 3) | 3)}},
    {"unrestricted_without_ept",
     E7,
     {OR(PROC_CTLS, CPU_SECONDARY), SET(PROC_CTLS2, CPU2_UNRESTRICTED)}},
    {"vpid_zero", E7, {OR(PROC_CTLS, CPU_SECONDARY), SET(PROC_CTLS2, CPU2_VPID), SET(VPID, 0)}},
    {"save_timer_without_timer", E7, {OR(EXIT_CTLS, EXIT_SAVE_PREEMPT)}},
    {"inject_reserved_type", E7, {SET(ENTRY_INTR_INFO, 0x80000120)}},
    {"inject_ud_with_error_code", E7, {SET(ENTRY_INTR_INFO, 0x80000b06)}},
    {"inject_nmi_wrong_vector", E7, {SET(ENTRY_INTR_INFO, 0x80000203)}},
    {"msr_load_list_unaligned",
     E7,
     {SET(ENTRY_MSR_LOAD_COUNT, 1), SET(ENTRY_MSR_LOAD_ADDR, 0x10008)}},
    /* SDM 27.2.2-27.2.4: host-state area */
    {"host_cr0_no_pg", E8, {CLR(HOST_CR0, 1ull << 31)}},
    {"host_cr4_no_vmxe", E8, {CLR(HOST_CR4, 1ull << 13)}},
    {"host_cs_null", E8, {SET(HOST_CS_SEL, 0)}},
    {"host_tr_null", E8, {SET(HOST_TR_SEL, 0)}},
    {"host_ss_rpl", E8, {SET(HOST_SS_SEL, 0x13)}},
    {"host_rip_noncanonical", E8, {SET(HOST_RIP, 0x0000800000000000ull)}},
    {"host_not_64bit_in_ia32e", E8, {CLR(EXIT_CTLS, EXIT_HOST_64)}},
    {"host_efer_reserved", E8, {OR(HOST_EFER, 1ull << 2)}},
    /* SDM 27.3.1: guest-state area (exit reason 33) */
    {"guest_rflags_bit1", E33, {SET(GUEST_RFLAGS, 0)}},
    {"guest_cr0_pg_without_pe", E33, {CLR(GUEST_CR0, 1)}},
    {"guest_cs_l_and_d", E33, {OR(GUEST_CS_AR, 1u << 14)}},
    {"guest_tr_unusable", E33, {SET(GUEST_TR_AR, 0x1008b)}},
    {"guest_activity_invalid", E33, {SET(GUEST_ACTIVITY, 4)}},
    {"guest_sti_and_mov_ss", E33, {SET(GUEST_INTR_STATE, 3)}},
    {"guest_link_pointer", E33, {SET(VMCS_LINK_PTR, 0x5000)}},
    {"guest_rip_noncanonical", E33, {SET(GUEST_RIP, 0x0000800000000000ull)}},
    {"guest_efer_lma_mismatch", E33, {CLR(GUEST_EFER, 1ull << 10)}},
    {"guest_pat_bad_type",
     E33,
     {OR(ENTRY_CTLS, ENTRY_LOAD_PAT), SET(GUEST_PAT, 0x0000000000000002ull)}},
    {"guest_ss_dpl_not_cpl", E33, {OR(GUEST_SS_AR, 3u << 5)}},
    {"guest_cr4_vmxe_clear", E33, {CLR(GUEST_CR4, 1ull << 13)}},
};

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!vmx_start())
        return;
    vmx_setup_vmcs(n_nop);
    CHECK_EQ(vmx_run(), VMX_OK, "valid_vmcs_enters");
    CHECK_EQ(vmread(EXIT_REASON), 18, "valid_vmcs_runs");
    for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct entry_case *c = &cases[i];
        vmx_setup_vmcs(n_nop);
        for (int k = 0; k < 4 && (c->w[k].field || c->w[k].value || c->w[k].op); k++) {
            uint64_t v = c->w[k].value;
            if (c->w[k].op == 1)
                v |= vmread(c->w[k].field);
            else if (c->w[k].op == 2)
                v = vmread(c->w[k].field) & ~v;
            vmwrite(c->w[k].field, v);
        }
        int r = vmx_run();
        if (c->expect == E33) {
            CHECK(r == VMX_OK && vmread(EXIT_REASON) == 0x80000021, "%s (reason %lx, qual %lu)",
                  c->name, r == VMX_OK ? vmread(EXIT_REASON) : 0xdead, vmread(EXIT_QUAL));
        } else {
            uint64_t want = c->expect == E7 ? 7 : 8;
            CHECK(r == VMX_FAIL_VALID && vmread(VM_INSTR_ERROR) == want,
                  "%s (result %d, error %lu)", c->name, r, vmread(VM_INSTR_ERROR));
        }
    }
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
