/* The reflection table, reason by reason: each L2 probe executes one
 * instruction; with the vmcs12 control that intercepts it the exit reaches
 * L1 with the right reason (and qualification where it has one); without
 * it L2 goes on (or the event goes to L2's own IDT). Complements
 * nested_exits.c (HLT, RDTSC, I/O, MSR reads, CR0/CR3, MOV DR, INVLPG). */
#include "vmx.h"

static uint8_t l2_stack[8192] ALIGNED(16);
static uint64_t idt2[2 * 256] ALIGNED(16);
static uint8_t apic_access_page[4096] ALIGNED(4096);
static uint8_t vapic_page[4096] ALIGNED(4096);

#define DONE "mov $0x99, %eax; vmcall\n"
__asm__(".text\n"
        "p_pause: pause\n" DONE "p_wbinvd: wbinvd\n" DONE
        "p_sgdt: sub $16, %rsp; sgdt (%rsp); add $16, %rsp\n" DONE "p_str: str %ax\n" DONE
        "p_rdrand: rdrand %rax\n" DONE "p_rdseed: rdseed %rax\n" DONE "p_rdtscp: rdtscp\n" DONE
        "p_invpcid: sub $16, %rsp; movq $0, (%rsp); movq $0, 8(%rsp); mov $2, %eax; invpcid "
        "(%rsp), %rax; add $16, %rsp\n" DONE "p_xsetbv: xor %ecx, %ecx; xgetbv; xsetbv\n" DONE
        "p_invd: invd\n" DONE "p_rdpmc: xor %ecx, %ecx; rdpmc\n" DONE
        "p_cr8_load: mov $0, %eax; mov %rax, %cr8\n" DONE "p_cr8_store: mov %cr8, %rax\n" DONE
        "p_cr3_store: mov %cr3, %rax\n" DONE "p_clts: clts\n" DONE
        "p_lmsw: smsw %ax; or $2, %ax; lmsw %ax\n" DONE
        "p_wrmsr: mov $0xc0000102, %ecx; rdmsr; wrmsr\n" DONE "p_two: nop; nop\n" DONE
        "p_gp: mov %cr4, %rax; bts $30, %rax; mov %rax, %cr4\n" DONE
        "p_pf_read: mov 0x7fff0000, %rax\n" DONE "p_pf_write: movq $1, 0x7fff0000\n" DONE
        "p_tpr: mov $2, %eax; mov %rax, %cr8\n" DONE
        "p_apic_read: mov apic_access_page+0x80(%rip), %eax\n" DONE
        "p_triple: lidt idt_zero(%rip); ud2\n" DONE "p_pf_isr: mov $0xe, %eax; vmcall\n"
        ".data\nidt_zero: .word 0\n .quad 0\n.text\n");
void p_pause(void), p_wbinvd(void), p_sgdt(void), p_str(void), p_rdrand(void), p_rdseed(void),
    p_rdtscp(void), p_invpcid(void), p_xsetbv(void), p_invd(void), p_rdpmc(void), p_cr8_load(void),
    p_cr8_store(void), p_cr3_store(void), p_clts(void), p_lmsw(void), p_wrmsr(void), p_two(void),
    p_gp(void), p_pf_read(void), p_pf_write(void), p_tpr(void), p_apic_read(void), p_triple(void),
    p_pf_isr(void);

static uint32_t run_at(void (*f)(void))
{
    vmwrite(GUEST_RIP, (uint64_t)(uintptr_t)f);
    vmwrite(GUEST_RSP, (uint64_t)(uintptr_t)(l2_stack + sizeof(l2_stack)));
    vmwrite(GUEST_IDTR_BASE, (uint64_t)(uintptr_t)idt2);
    vmwrite(GUEST_IDTR_LIMIT, sizeof(idt2) - 1);
    vmwrite(GUEST_ACTIVITY, 0);
    vmx_l2_regs.rax = 0;
    return vmx_run_reason();
}

static bool allowed2(uint32_t bit)
{
    return (rdmsr(0x48b) >> 32) & bit;
}

static void ctls(uint32_t proc, uint32_t proc2)
{
    vmx_set_ctl(PROC_CTLS, 0x48e, proc | (proc2 ? CPU_SECONDARY : 0));
    vmx_set_ctl(PROC_CTLS2, 0x48b, proc2);
}

struct probe {
    const char *name;
    void (*fn)(void);
    uint32_t proc, proc2; /* the intercepting controls */
    uint32_t base2;       /* secondary controls needed either way */
    uint32_t reason;
    bool runs_without; /* without the control L2 reaches its VMCALL */
};

static const struct probe probes[] = {
    {"pause", p_pause, CPU_PAUSE, 0, 0, 40, true},
    {"wbinvd", p_wbinvd, 0, CPU2_WBINVD, 0, 54, true},
    {"sgdt", p_sgdt, 0, CPU2_DESC, 0, 46, true},
    {"str", p_str, 0, CPU2_DESC, 0, 47, true},
    {"rdrand", p_rdrand, 0, CPU2_RDRAND, 0, 57, true},
    {"rdseed", p_rdseed, 0, 1u << 16, 0, 61, true},
    {"rdtscp", p_rdtscp, CPU_RDTSC, 0, CPU2_RDTSCP, 51, true},
    {"invpcid", p_invpcid, CPU_INVLPG, 0, 1u << 12, 58, true},
    {"rdpmc", p_rdpmc, 1u << 11, 0, 0, 15, false},
    {"cr8_load", p_cr8_load, CPU_CR8_LOAD, 0, 0, 28, true},
    {"cr8_store", p_cr8_store, 1u << 20, 0, 0, 28, true},
    {"cr3_store", p_cr3_store, CPU_CR3_STORE, 0, 0, 28, true},
    {"mtf", p_two, CPU_MTF, 0, 0, 37, true},
};

void guest_main(struct multiboot_info *mbi)
{
    (void)mbi;
    if (!vmx_offered()) {
        SKIP("VMX is not offered", "vmx_offered");
        return;
    }
    write_cr4(read_cr4() | (1ull << 18)); /* OSXSAVE: L2 inherits it (XGETBV/XSETBV) */
    CHECK_EQ(vmx_on(), VMX_OK, "vmxon");
    vmx_setup_vmcs(p_two);
    for (unsigned i = 0; i < ARRAY_SIZE(probes); i++) {
        const struct probe *p = &probes[i];
        if ((p->proc2 | p->base2) && !allowed2(p->proc2 | p->base2)) {
            SKIP("control not offered", "%s", p->name);
            continue;
        }
        ctls(p->proc, p->proc2 | p->base2);
        CHECK_EQ(run_at(p->fn), p->reason, "%s_reflected", p->name);
        if (p->runs_without) {
            ctls(0, p->base2);
            CHECK_EQ(run_at(p->fn), 18, "%s_not_reflected", p->name);
            CHECK_EQ(vmx_l2_regs.rax, 0x99, "%s_l2_continues", p->name);
        }
    }
    ctls(0, 0);
    /* qualifications of the CR accesses (SDM Table 28-3) */
    ctls(CPU_CR8_LOAD, 0);
    run_at(p_cr8_load);
    CHECK_EQ(vmread(EXIT_QUAL), 0x08, "cr8_load_qual");
    ctls(1u << 20, 0);
    run_at(p_cr8_store);
    CHECK_EQ(vmread(EXIT_QUAL), 0x18, "cr8_store_qual");
    ctls(CPU_MTF, 0);
    run_at(p_two);
    CHECK_EQ(vmread(GUEST_RIP), (uint64_t)(uintptr_t)p_two + 1, "mtf_after_one_instruction");
    ctls(0, 0);

    /* always reflected: XSETBV, INVD */
    CHECK_EQ(run_at(p_xsetbv), 55, "xsetbv_reflected");
    CHECK_EQ(run_at(p_invd), 13, "invd_reflected");

    /* CLTS and LMSW against the CR0 mask and shadow */
    vmwrite(CR0_MASK, 8);
    vmwrite(CR0_SHADOW, 8);
    CHECK_EQ(run_at(p_clts), 28, "clts_reflected");
    CHECK_EQ(vmread(EXIT_QUAL) & 0x30, 0x20, "clts_qual_type");
    vmwrite(CR0_SHADOW, 0);
    CHECK_EQ(run_at(p_clts), 18, "clts_shadow_clear_not_reflected");
    vmwrite(CR0_MASK, 2);
    CHECK_EQ(run_at(p_lmsw), 28, "lmsw_reflected");
    CHECK_EQ(vmread(EXIT_QUAL) & 0x30, 0x30, "lmsw_qual_type");
    vmwrite(CR0_MASK, 0);
    vmwrite(GUEST_CR0, read_cr0());

    /* WRMSR through the write half of the MSR bitmap */
    uint8_t *bm = alloc_page();
    vmwrite(MSR_BITMAP, (uint64_t)(uintptr_t)bm);
    ctls(CPU_MSR_BITMAP, 0);
    CHECK_EQ(run_at(p_wrmsr), 18, "wrmsr_bitmap_clear_not_reflected");
    bm[0xc00 + 0x102 / 8] |= 1 << (0x102 % 8); /* write-high bitmap, MSR C0000102H */
    CHECK_EQ(run_at(p_wrmsr), 32, "wrmsr_bitmap_set_reflected");
    CHECK_EQ(vmx_l2_regs.rcx, 0xc0000102, "wrmsr_l2_ecx");
    ctls(0, 0);

    /* a fault with an error code: #GP(0) from an invalid CR4 bit */
    vmwrite(EXC_BITMAP, 1u << 13);
    CHECK_EQ(run_at(p_gp), 0, "gp_reflected");
    CHECK_EQ(vmread(EXIT_INTR_INFO), 0x80000b0d, "gp_intr_info_with_error_code");
    CHECK_EQ(vmread(EXIT_INTR_ERR), 0, "gp_error_code");
    /* #PF with the error-code mask/match: only writes (P=0, W/R=1) exit */
    vmx_idt_gate(idt2, 14, p_pf_isr);
    map_page(0x7fff0000, 0, 0);
    unmap_page(0x7fff0000);
    vmwrite(EXC_BITMAP, 1u << 14);
    vmwrite(PFEC_MASK, 2);
    vmwrite(PFEC_MATCH, 2);
    CHECK_EQ(run_at(p_pf_write), 0, "pf_write_matches_reflected");
    CHECK_EQ(vmread(EXIT_INTR_ERR) & 2, 2, "pf_error_code_write");
    CHECK_EQ(vmread(EXIT_QUAL), 0x7fff0000, "pf_qual_is_linear_address");
    CHECK_EQ(run_at(p_pf_read), 18, "pf_read_goes_to_l2_idt");
    CHECK_EQ(vmx_l2_regs.rax, 0xe, "pf_l2_handler_ran");
    vmwrite(EXC_BITMAP, 0);
    vmwrite(PFEC_MASK, 0);
    vmwrite(PFEC_MATCH, 0);

    /* TPR shadow: a CR8 write below the threshold (trap-like, exit 43) */
    vapic_page[0x80] = 0x50;
    vmwrite(0x2012, (uint64_t)(uintptr_t)vapic_page); /* virtual-APIC page */
    vmwrite(0x401c, 5);                               /* TPR threshold */
    ctls(1u << 21, 0);
    CHECK_EQ(run_at(p_tpr), 43, "tpr_below_threshold_reflected");
    CHECK_EQ(vapic_page[0x80], 0x20, "vtpr_written");
    ctls(0, 0);

    /* virtualize APIC accesses: the APIC-access page exits (44) */
    if (allowed2(1u << 0)) {
        vmwrite(0x2014, (uint64_t)(uintptr_t)apic_access_page);
        ctls(0, 1u << 0);
        CHECK_EQ(run_at(p_apic_read), 44, "apic_access_reflected");
        CHECK_EQ(vmread(EXIT_QUAL), 0x080, "apic_access_qual_linear_read_offset");
        ctls(0, 0);
    }

    /* a triple fault in L2 is L1's */
    CHECK_EQ(run_at(p_triple), 2, "triple_fault_reflected");
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
