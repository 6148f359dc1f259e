/* A hostile L1, randomized: hundreds of VM entries, each from a valid VMCS
 * with one to three fields (controls, addresses, event injection, guest
 * state) overwritten with random values, random bit flips, or addresses of
 * interest (L0's private pages at 4 GiB, the APIC page, the end of RAM).
 * Whatever the outcome -- VMfailValid, VMfailInvalid, a VM-entry failure,
 * an exit from a misbehaving L2 -- nvmx must carry on (the ASan build of
 * `make check` watches every host access). L2 is confined by EPT12 to a
 * 2 MiB sandbox and I/O exits are forced, so a wild L2 cannot disturb L1.
 * The generator is seeded: every run is the same. */
#include "vmx.h"

#define SANDBOX 0x4000000ull /* 64 MiB, 2 MiB aligned, unused by the test */

static const uint32_t fields[] = {
    PIN_CTLS,
    PROC_CTLS,
    PROC_CTLS2,
    EXIT_CTLS,
    ENTRY_CTLS,
    EXC_BITMAP,
    PFEC_MASK,
    PFEC_MATCH,
    CR3_TARGET_COUNT,
    IO_BITMAP_A,
    IO_BITMAP_B,
    MSR_BITMAP,
    0x2012 /* virtual APIC */,
    0x2014 /* APIC access */,
    0x401c /* TPR threshold */,
    EPT_POINTER,
    VPID,
    ENTRY_INTR_INFO,
    ENTRY_EXC_ERR,
    ENTRY_INSTR_LEN,
    ENTRY_MSR_LOAD_COUNT,
    ENTRY_MSR_LOAD_ADDR,
    CR0_MASK,
    CR4_MASK,
    CR0_SHADOW,
    CR4_SHADOW,
    TSC_OFFSET,
    0x2032 /* TSC multiplier */,
    0x4020,
    0x4022,
    0x0810,
    0x201c,
    GUEST_CR0,
    GUEST_CR3,
    GUEST_CR4,
    GUEST_ES_SEL,
    GUEST_CS_SEL,
    GUEST_SS_SEL,
    GUEST_DS_SEL,
    GUEST_TR_SEL,
    GUEST_LDTR_SEL,
    GUEST_CS_BASE,
    GUEST_SS_BASE,
    GUEST_TR_BASE,
    GUEST_CS_LIMIT,
    GUEST_SS_LIMIT,
    GUEST_TR_LIMIT,
    GUEST_CS_AR,
    GUEST_SS_AR,
    GUEST_DS_AR,
    GUEST_TR_AR,
    GUEST_LDTR_AR,
    GUEST_GDTR_BASE,
    GUEST_GDTR_LIMIT,
    GUEST_IDTR_BASE,
    GUEST_IDTR_LIMIT,
    GUEST_RIP,
    GUEST_RSP,
    GUEST_RFLAGS,
    GUEST_INTR_STATE,
    GUEST_ACTIVITY,
    VMCS_LINK_PTR,
    GUEST_EFER,
    GUEST_PAT,
    GUEST_DR7,
    0x280a /* PDPTE0 */,
    PREEMPT_TIMER,
};
static uint64_t baseline[sizeof(fields) / sizeof(fields[0])];

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t interesting(void)
{
    static const uint64_t v[] = {0,          ~0ull,
                                 1,          0x100000000ull,
                                 0xfee00000, 0x7fff000,
                                 0x8000000,  0x1000,
                                 0xfffff000, 1ull << 38,
                                 SANDBOX,    0x80000000ull,
                                 0xffffffff, 0x8000000000000000ull,
                                 0xc0000000};
    return v[next() % (sizeof(v) / sizeof(v[0]))];
}

__asm__(".text\nf_l2: vmcall; jmp f_l2\n");
void f_l2(void);

static void build_sandbox(void)
{
    /* L2's page tables and code inside the sandbox: identity for it */
    uint64_t *pml4 = (uint64_t *)(uintptr_t)SANDBOX, *pdpt = pml4 + 512, *pd = pml4 + 1024;
    memset(pml4, 0, 3 * 4096);
    pml4[0] = (SANDBOX + 0x1000) | 3;
    pdpt[(SANDBOX >> 30) & 511] = (SANDBOX + 0x2000) | 3;
    pd[(SANDBOX >> 21) & 511] = SANDBOX | 0x83;
    memcpy((void *)(uintptr_t)(SANDBOX + 0x3000), (const void *)(uintptr_t)f_l2, 8);
}

void guest_main(struct multiboot_info *mbi)
{
    /* -append seed=N explores other sequences (the default is fixed) */
    if (mbi && (mbi->flags & (1u << 2)) && mbi->cmdline) {
        const char *c = (const char *)(uintptr_t)mbi->cmdline;
        for (; *c; c++)
            if (!strncmp(c, "seed=", 5)) {
                uint64_t v = 0;
                for (c += 5; *c >= '0' && *c <= '9'; c++)
                    v = v * 10 + (uint64_t)(*c - '0');
                rng ^= v * 0x2545f4914f6cdd1dull;
                break;
            }
    }
    if (!vmx_start())
        return;
    if (!((rdmsr(0x48b) >> 32) & CPU2_EPT)) {
        SKIP("no EPT", "fuzz");
        return;
    }
    build_sandbox();
    /* EPT12: only the sandbox */
    uint64_t *e4 = alloc_page(), *e3 = alloc_page(), *e2 = alloc_page();
    e4[0] = (uint64_t)(uintptr_t)e3 | 7;
    e3[(SANDBOX >> 30) & 511] = (uint64_t)(uintptr_t)e2 | 7;
    e2[(SANDBOX >> 21) & 511] = SANDBOX | (1u << 7) | (6u << 3) | 7;
    uint64_t eptp = (uint64_t)(uintptr_t)e4 | (3u << 3) | 6;

    uint64_t vmcs = vmx_setup_vmcs(f_l2);
    vmx_set_ctl(PIN_CTLS, 0x48d, PIN_PREEMPT);
    vmx_set_ctl(PROC_CTLS, 0x48e, CPU_IO | CPU_SECONDARY);
    vmx_set_ctl(PROC_CTLS2, 0x48b, CPU2_EPT);
    vmwrite(EPT_POINTER, eptp);
    vmwrite(GUEST_CR3, SANDBOX);
    vmwrite(GUEST_RIP, SANDBOX + 0x3000);
    vmwrite(GUEST_RSP, SANDBOX + 0x100000);
    vmwrite(PREEMPT_TIMER, 3000);
    CHECK_EQ(vmx_run_reason(), 18, "sandboxed_l2_runs");
    for (unsigned i = 0; i < ARRAY_SIZE(fields); i++)
        baseline[i] = vmread(fields[i]);

    unsigned fail_valid = 0, fail_invalid = 0, entry_fail = 0, exits = 0, errors12 = 0;
    for (int it = 0; it < 1500; it++) {
        vmclear(vmcs);
        vmptrld(vmcs);
        vmx_launched = 0;
        for (unsigned i = 0; i < ARRAY_SIZE(fields); i++)
            vmwrite(fields[i], baseline[i]);
        int nmut = 1 + (int)(next() % 3);
        for (int k = 0; k < nmut; k++) {
            uint32_t f = fields[next() % ARRAY_SIZE(fields)];
            uint64_t v;
            switch (next() % 3) {
            case 0:
                v = next();
                break;
            case 1:
                v = vmread(f) ^ (1ull << (next() % 64));
                break;
            default:
                v = interesting();
                break;
            }
            if (vmwrite(f, v) != VMX_OK)
                errors12++;
        }
        /* keep L2 confined and bounded whatever was mutated */
        vmwrite(PIN_CTLS, vmread(PIN_CTLS) | PIN_PREEMPT);
        vmwrite(PROC_CTLS, (vmread(PROC_CTLS) | CPU_IO | CPU_SECONDARY) & ~CPU_IO_BITMAP);
        vmwrite(PROC_CTLS2, vmread(PROC_CTLS2) | CPU2_EPT);
        vmwrite(EPT_POINTER, eptp);
        vmwrite(PREEMPT_TIMER, 3000);
        int r = vmx_run();
        if (r == VMX_FAIL_VALID)
            fail_valid++;
        else if (r == VMX_FAIL_INVALID)
            fail_invalid++;
        else if (vmread(EXIT_REASON) & 0x80000000u)
            entry_fail++;
        else
            exits++;
    }
    gprintf("  fuzz: %u VMfailValid, %u VMfailInvalid, %u entry failures, %u exits, %u refused "
            "VMWRITEs\n",
            fail_valid, fail_invalid, entry_fail, exits, errors12);
    CHECK(fail_valid > 50, "fuzz_control_and_host_checks_fail (%u)", fail_valid);
    CHECK(entry_fail > 20, "fuzz_guest_state_checks_fail (%u)", entry_fail);
    CHECK(exits > 50, "fuzz_l2_ran (%u)", exits);
    CHECK_EQ(fail_invalid, 0, "fuzz_current_vmcs_kept");
    /* the machine still works: a clean VMCS runs L2 */
    vmclear(vmcs);
    vmptrld(vmcs);
    vmx_launched = 0;
    for (unsigned i = 0; i < ARRAY_SIZE(fields); i++)
        vmwrite(fields[i], baseline[i]);
    CHECK_EQ(vmx_run_reason(), 18, "clean_vmcs_after_fuzz");
    CHECK_EQ(vmxoff(), VMX_OK, "vmxoff");
}
