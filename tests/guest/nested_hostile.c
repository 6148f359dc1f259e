/* A hostile L1: VMCS regions, bitmaps, MSR lists, the virtual-APIC page and
 * EPT12 pointed at addresses that are not L1 RAM -- beyond RAM, in the MMIO
 * hole, and at 4 GiB where (with 128 MiB of RAM) L0 keeps its own EPT01
 * tables and bitmaps in host-physical memory. nvmx must never read or write
 * anything there on L1's behalf; the documented outcomes are checked:
 * VMXON VMfailInvalid, VMPTRLD error 9, a bitmap outside RAM counts as all
 * ones (every access exits to L1), EPT12 tables outside RAM are an EPT
 * misconfiguration, an MSR-load list outside RAM fails the entry (34), a
 * virtual-APIC page outside RAM is an invalid control (error 7). The ASan
 * build of `make check` runs this too. */
#include "vmx.h"

#define L0_PRIVATE 0x100000000ull /* host-physical L0 pages with -m 128 */
#define MMIO_APIC 0xfee00000ull

__asm__(".text\n"
        "h_nop: mov $1, %eax; vmcall\n"
        "h_rdmsr: mov $0x174, %ecx; rdmsr; mov $2, %eax; vmcall\n"
        "h_out: mov $0, %al; outb %al, $0x80; mov $3, %eax; vmcall\n"
        "h_probe: mov 0x40000000, %rbx; mov $4, %eax; vmcall\n");
void h_nop(void), h_rdmsr(void), h_out(void), h_probe(void);

static uint32_t run_at(void (*f)(void))
{
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)f);
    return vmx_run_reason();
}

void guest_main(struct multiboot_info *mbi)
{
    if (!vmx_offered()) {
        SKIP("VMX is not offered", "vmx_offered");
        return;
    }
    write_cr4(read_cr4() | (1ull << 13));
    CHECK_EQ(vmxon(L0_PRIVATE), VMX_FAIL_INVALID, "vmxon_l0_private");
    CHECK_EQ(vmxon(MMIO_APIC), VMX_FAIL_INVALID, "vmxon_mmio");
    CHECK_EQ(vmxon(vmx_new_region()), VMX_OK, "vmxon");
    vmx_setup_vmcs(h_nop);
    CHECK_EQ(vmptrld(L0_PRIVATE), VMX_FAIL_VALID, "vmptrld_l0_private");
    CHECK_EQ(vmread(VM_INSTR_ERROR), 9, "vmptrld_l0_private_error_9");
    CHECK_EQ(vmptrld(MMIO_APIC), VMX_FAIL_VALID, "vmptrld_mmio");
    CHECK_EQ(vmclear(L0_PRIVATE), VMX_OK, "vmclear_l0_private_no_effect");
    CHECK_EQ(run_at(h_nop), 18, "l2_runs");

    /* MSR bitmap in L0's memory: all ones for L1, so RDMSR exits */
    vmwrite(MSR_BITMAP, L0_PRIVATE);
    vmx_set_ctl(PROC_CTLS, 0x48e, CPU_MSR_BITMAP);
    CHECK_EQ(run_at(h_rdmsr), 31, "msr_bitmap_outside_ram_intercepts");
    /* I/O bitmaps there too */
    vmwrite(IO_BITMAP_A, L0_PRIVATE);
    vmwrite(IO_BITMAP_B, L0_PRIVATE + 4096);
    vmx_set_ctl(PROC_CTLS, 0x48e, CPU_IO_BITMAP);
    CHECK_EQ(run_at(h_out), 30, "io_bitmap_outside_ram_intercepts");
    vmx_set_ctl(PROC_CTLS, 0x48e, 0);

    /* an MSR-load list outside RAM: VM-entry failure 34, entry 1 */
    vmwrite(ENTRY_MSR_LOAD_ADDR, L0_PRIVATE);
    vmwrite(ENTRY_MSR_LOAD_COUNT, 1);
    CHECK_EQ(run_at(h_nop), 0x80000022, "msr_load_list_outside_ram");
    CHECK_EQ(vmread(EXIT_QUAL), 1, "msr_load_list_outside_ram_index");
    vmwrite(ENTRY_MSR_LOAD_COUNT, 0);

    /* the virtual-APIC page outside RAM: an invalid control */
    vmwrite(0x2012, L0_PRIVATE); /* VIRTUAL_APIC_PAGE_ADDR */
    vmwrite(0x401c, 0);          /* TPR threshold */
    vmx_set_ctl(PROC_CTLS, 0x48e, 1u << 21 /* use TPR shadow */);
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)h_nop);
    CHECK_EQ(vmx_run(), VMX_FAIL_VALID, "virtual_apic_outside_ram");
    CHECK_EQ(vmread(VM_INSTR_ERROR), 7, "virtual_apic_outside_ram_error_7");
    vmx_set_ctl(PROC_CTLS, 0x48e, 0);

    /* EPT12 whose root table is L0's memory: misconfiguration (49) */
    if ((rdmsr(0x48b) >> 32) & CPU2_EPT) {
        vmwrite(EPT_POINTER, L0_PRIVATE | (3u << 3) | 6);
        vmx_set_ctl(PROC_CTLS, 0x48e, CPU_SECONDARY);
        vmx_set_ctl(PROC_CTLS2, 0x48b, CPU2_EPT);
        CHECK_EQ(run_at(h_nop), 49, "ept12_root_outside_ram_misconfig");
        /* an EPT12 leaf that maps L2 memory onto L0's pages: L0 treats the
         * target as MMIO it does not have, never as RAM */
        uint64_t eptp = vmx_ept_identity();
        vmwrite(EPT_POINTER, eptp);
        CHECK_EQ(run_at(h_nop), 18, "ept12_identity_runs");
        uint64_t *pml4 = (uint64_t *)(uintptr_t)(eptp & ~0xfffull);
        uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[0] & ~0xfffull);
        pdpt[1] = L0_PRIVATE | (1u << 7) | (6u << 3) | 7; /* GPA 1 GiB -> "HPA" 4 GiB */
        invept(2, 0);
        map_page(0x40000000, 0x40000000, 3);
        vmx_l2_regs.rbx = 0x5a5a;
        CHECK_EQ(run_at(h_probe), 18, "ept12_leaf_outside_ram_is_mmio");
        /* no device there: the read returns all ones, not L0's data */
        CHECK_EQ(vmx_l2_regs.rbx, ~0ull, "ept12_leaf_outside_ram_reads_ones");
        vmx_set_ctl(PROC_CTLS2, 0x48b, 0);
        vmx_set_ctl(PROC_CTLS, 0x48e, 0);
    }
    /* -append vmx-abort (tests/cli-test.sh): a VM-exit MSR-store list
     * outside L1 RAM cannot be written at the next exit: VMX abort
     * (SDM 28.7), which ends the run with status 4 */
    bool want_abort = false;
    if (mbi && (mbi->flags & (1u << 2)) && mbi->cmdline)
        for (const char *c = (const char *)(uintptr_t)mbi->cmdline; *c; c++)
            want_abort |= !strncmp(c, "vmx-abort", 9);
    if (want_abort) {
        vmwrite(EXIT_MSR_STORE_ADDR, L0_PRIVATE);
        vmwrite(EXIT_MSR_STORE_COUNT, 1);
        run_at(h_nop);
        CHECK(false, "vmx_abort_ended_the_run");
    }
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
