/* The VMX helper layer for L1 test hypervisors (guest code): VMX
 * instructions with their success/failure convention (SDM 31.2), VMXON,
 * a VMCS for a 64-bit L2 that shares the test's address space, and
 * vmx_run(), which enters L2 and returns at the next VM exit (like
 * kvm-unit-tests' vmx framework). */
#ifndef GUEST_VMX_H
#define GUEST_VMX_H

#include "guest.h"

/* VMCS field encodings used by the tests (SDM Appendix B) */
enum {
    VPID = 0x0000,
    GUEST_ES_SEL = 0x0800,
    GUEST_CS_SEL = 0x0802,
    GUEST_SS_SEL = 0x0804,
    GUEST_DS_SEL = 0x0806,
    GUEST_FS_SEL = 0x0808,
    GUEST_GS_SEL = 0x080a,
    GUEST_LDTR_SEL = 0x080c,
    GUEST_TR_SEL = 0x080e,
    HOST_ES_SEL = 0x0c00,
    HOST_CS_SEL = 0x0c02,
    HOST_SS_SEL = 0x0c04,
    HOST_DS_SEL = 0x0c06,
    HOST_FS_SEL = 0x0c08,
    HOST_GS_SEL = 0x0c0a,
    HOST_TR_SEL = 0x0c0c,
    IO_BITMAP_A = 0x2000,
    IO_BITMAP_B = 0x2002,
    MSR_BITMAP = 0x2004,
    EXIT_MSR_STORE_ADDR = 0x2006,
    EXIT_MSR_LOAD_ADDR = 0x2008,
    ENTRY_MSR_LOAD_ADDR = 0x200a,
    TSC_OFFSET = 0x2010,
    EPT_POINTER = 0x201a,
    GUEST_PHYS_ADDR = 0x2400,
    VMCS_LINK_PTR = 0x2800,
    GUEST_DEBUGCTL = 0x2802,
    GUEST_PAT = 0x2804,
    GUEST_EFER = 0x2806,
    HOST_PAT = 0x2c00,
    HOST_EFER = 0x2c02,
    PIN_CTLS = 0x4000,
    PROC_CTLS = 0x4002,
    EXC_BITMAP = 0x4004,
    PFEC_MASK = 0x4006,
    PFEC_MATCH = 0x4008,
    CR3_TARGET_COUNT = 0x400a,
    EXIT_CTLS = 0x400c,
    EXIT_MSR_STORE_COUNT = 0x400e,
    EXIT_MSR_LOAD_COUNT = 0x4010,
    ENTRY_CTLS = 0x4012,
    ENTRY_MSR_LOAD_COUNT = 0x4014,
    ENTRY_INTR_INFO = 0x4016,
    ENTRY_EXC_ERR = 0x4018,
    ENTRY_INSTR_LEN = 0x401a,
    PROC_CTLS2 = 0x401e,
    VM_INSTR_ERROR = 0x4400,
    EXIT_REASON = 0x4402,
    EXIT_INTR_INFO = 0x4404,
    EXIT_INTR_ERR = 0x4406,
    IDT_VECT_INFO = 0x4408,
    IDT_VECT_ERR = 0x440a,
    EXIT_INSTR_LEN = 0x440c,
    EXIT_INSTR_INFO = 0x440e,
    GUEST_ES_LIMIT = 0x4800,
    GUEST_CS_LIMIT = 0x4802,
    GUEST_SS_LIMIT = 0x4804,
    GUEST_DS_LIMIT = 0x4806,
    GUEST_FS_LIMIT = 0x4808,
    GUEST_GS_LIMIT = 0x480a,
    GUEST_LDTR_LIMIT = 0x480c,
    GUEST_TR_LIMIT = 0x480e,
    GUEST_GDTR_LIMIT = 0x4810,
    GUEST_IDTR_LIMIT = 0x4812,
    GUEST_ES_AR = 0x4814,
    GUEST_CS_AR = 0x4816,
    GUEST_SS_AR = 0x4818,
    GUEST_DS_AR = 0x481a,
    GUEST_FS_AR = 0x481c,
    GUEST_GS_AR = 0x481e,
    GUEST_LDTR_AR = 0x4820,
    GUEST_TR_AR = 0x4822,
    GUEST_INTR_STATE = 0x4824,
    GUEST_ACTIVITY = 0x4826,
    GUEST_SYSENTER_CS = 0x482a,
    PREEMPT_TIMER = 0x482e,
    HOST_SYSENTER_CS = 0x4c00,
    CR0_MASK = 0x6000,
    CR4_MASK = 0x6002,
    CR0_SHADOW = 0x6004,
    CR4_SHADOW = 0x6006,
    CR3_TARGET0 = 0x6008,
    EXIT_QUAL = 0x6400,
    GUEST_LINEAR = 0x640a,
    GUEST_CR0 = 0x6800,
    GUEST_CR3 = 0x6802,
    GUEST_CR4 = 0x6804,
    GUEST_ES_BASE = 0x6806,
    GUEST_CS_BASE = 0x6808,
    GUEST_SS_BASE = 0x680a,
    GUEST_DS_BASE = 0x680c,
    GUEST_FS_BASE = 0x680e,
    GUEST_GS_BASE = 0x6810,
    GUEST_LDTR_BASE = 0x6812,
    GUEST_TR_BASE = 0x6814,
    GUEST_GDTR_BASE = 0x6816,
    GUEST_IDTR_BASE = 0x6818,
    GUEST_DR7 = 0x681a,
    GUEST_RSP = 0x681c,
    GUEST_RIP = 0x681e,
    GUEST_RFLAGS = 0x6820,
    GUEST_SYSENTER_ESP = 0x6824,
    GUEST_SYSENTER_EIP = 0x6826,
    HOST_CR0 = 0x6c00,
    HOST_CR3 = 0x6c02,
    HOST_CR4 = 0x6c04,
    HOST_FS_BASE = 0x6c06,
    HOST_GS_BASE = 0x6c08,
    HOST_TR_BASE = 0x6c0a,
    HOST_GDTR_BASE = 0x6c0c,
    HOST_IDTR_BASE = 0x6c0e,
    HOST_SYSENTER_ESP = 0x6c10,
    HOST_SYSENTER_EIP = 0x6c12,
    HOST_RSP = 0x6c14,
    HOST_RIP = 0x6c16,
};

/* control bits (SDM 25.6, 25.7, 25.8) */
#define PIN_EXTINT (1u << 0)
#define PIN_NMI (1u << 3)
#define PIN_PREEMPT (1u << 6)
#define CPU_INTR_WINDOW (1u << 2)
#define CPU_TSC_OFFSET (1u << 3)
#define CPU_HLT (1u << 7)
#define CPU_INVLPG (1u << 9)
#define CPU_RDTSC (1u << 12)
#define CPU_CR3_LOAD (1u << 15)
#define CPU_CR3_STORE (1u << 16)
#define CPU_CR8_LOAD (1u << 19)
#define CPU_MOV_DR (1u << 23)
#define CPU_IO (1u << 24)
#define CPU_IO_BITMAP (1u << 25)
#define CPU_MTF (1u << 27)
#define CPU_MSR_BITMAP (1u << 28)
#define CPU_PAUSE (1u << 30)
#define CPU_SECONDARY (1u << 31)
#define CPU2_EPT (1u << 1)
#define CPU2_DESC (1u << 2)
#define CPU2_RDTSCP (1u << 3)
#define CPU2_VPID (1u << 5)
#define CPU2_WBINVD (1u << 6)
#define CPU2_UNRESTRICTED (1u << 7)
#define CPU2_RDRAND (1u << 11)
#define EXIT_HOST_64 (1u << 9)
#define EXIT_ACK_INTR (1u << 15)
#define EXIT_SAVE_PAT (1u << 18)
#define EXIT_LOAD_PAT (1u << 19)
#define EXIT_SAVE_EFER (1u << 20)
#define EXIT_LOAD_EFER (1u << 21)
#define EXIT_SAVE_PREEMPT (1u << 22)
#define ENTRY_GUEST_64 (1u << 9)
#define ENTRY_LOAD_PAT (1u << 14)
#define ENTRY_LOAD_EFER (1u << 15)

/* Result of a VMX instruction (SDM 31.2) */
enum vmx_result { VMX_OK = 0, VMX_FAIL_INVALID = 1, VMX_FAIL_VALID = 2 };

static inline int vmx_flags_result(uint64_t rflags)
{
    if (rflags & 1)
        return VMX_FAIL_INVALID;
    if (rflags & 0x40)
        return VMX_FAIL_VALID;
    return VMX_OK;
}

static inline int vmxon(uint64_t pa)
{
    uint64_t f;
    __asm__ volatile("vmxon %1; pushfq; popq %0" : "=r"(f) : "m"(pa) : "cc", "memory");
    return vmx_flags_result(f);
}
static inline int vmxoff(void)
{
    uint64_t f;
    __asm__ volatile("vmxoff; pushfq; popq %0" : "=r"(f)::"cc", "memory");
    return vmx_flags_result(f);
}
static inline int vmclear(uint64_t pa)
{
    uint64_t f;
    __asm__ volatile("vmclear %1; pushfq; popq %0" : "=r"(f) : "m"(pa) : "cc", "memory");
    return vmx_flags_result(f);
}
static inline int vmptrld(uint64_t pa)
{
    uint64_t f;
    __asm__ volatile("vmptrld %1; pushfq; popq %0" : "=r"(f) : "m"(pa) : "cc", "memory");
    return vmx_flags_result(f);
}
static inline int vmptrst(uint64_t *pa)
{
    uint64_t f;
    __asm__ volatile("vmptrst %1; pushfq; popq %0" : "=r"(f), "=m"(*pa)::"cc", "memory");
    return vmx_flags_result(f);
}
static inline int vmwrite(uint64_t field, uint64_t val)
{
    uint64_t f;
    __asm__ volatile("vmwrite %2, %1; pushfq; popq %0"
                     : "=r"(f)
                     : "r"(field), "rm"(val)
                     : "cc", "memory");
    return vmx_flags_result(f);
}
static inline int vmread_checked(uint64_t field, uint64_t *val)
{
    uint64_t f, v = 0;
    __asm__ volatile("vmread %2, %1; pushfq; popq %0"
                     : "=r"(f), "=rm"(v)
                     : "r"(field)
                     : "cc", "memory");
    *val = v;
    return vmx_flags_result(f);
}
static inline uint64_t vmread(uint64_t field)
{
    uint64_t v;
    vmread_checked(field, &v);
    return v;
}
static inline int invept(uint64_t type, uint64_t eptp)
{
    uint64_t desc[2] = {eptp, 0}, f;
    __asm__ volatile("invept %1, %2; pushfq; popq %0"
                     : "=r"(f)
                     : "m"(desc), "r"(type)
                     : "cc", "memory");
    return vmx_flags_result(f);
}
static inline int invvpid(uint64_t type, uint16_t vpid, uint64_t la)
{
    uint64_t desc[2] = {vpid, la}, f;
    __asm__ volatile("invvpid %1, %2; pushfq; popq %0"
                     : "=r"(f)
                     : "m"(desc), "r"(type)
                     : "cc", "memory");
    return vmx_flags_result(f);
}

/* True if CPUID says VMX is offered. */
bool vmx_offered(void);
/* Sets CR4.VMXE and executes VMXON on a fresh region: returns the result. */
int vmx_on(void);
/* A zeroed 4 KiB page with the VMCS revision identifier in its first word. */
uint64_t vmx_new_region(void);

/* L2's general-purpose registers (shared with L1 as on hardware): loaded
 * before each VM entry by vmx_run() and saved at each VM exit. RSP and RIP
 * live in the VMCS. */
struct vmx_regs {
    uint64_t rax, rcx, rdx, rbx, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15;
};
extern struct vmx_regs vmx_l2_regs;

/* Builds and loads (VMCLEAR + VMPTRLD) a new VMCS that runs `entry` as a
 * 64-bit L2 on its own stack, with L1's paging, segments and IDT, and the
 * least controls allowed by the TRUE capability MSRs; host state = the
 * current L1 state, returning into vmx_run(). Returns the VMCS address. */
uint64_t vmx_setup_vmcs(void (*entry)(void));
/* Allowed-0/allowed-1 adjustment of a control value (SDM A.3). */
uint32_t vmx_ctl(uint32_t msr, uint32_t want);
/* Sets a control field to want | the must-be-1 bits. */
void vmx_set_ctl(uint64_t field, uint32_t msr, uint32_t want);

/* VMLAUNCH (first time) or VMRESUME: returns VMX_OK after a VM exit (read
 * EXIT_REASON), or the VMfail result when the instruction failed. */
extern int vmx_launched;
int vmx_run(void);
/* After an exit caused by an instruction: advance L2's RIP past it. */
void vmx_skip(void);

/* The prologue of a nested test: SKIPs and returns false when VMX is not
 * offered, else executes VMXON (a checked "vmxon") and returns its success. */
bool vmx_start(void);
/* vmx_run() returning the basic exit reason, or 0xffffffff on VMfail. */
uint32_t vmx_run_reason(void);
/* A 64-bit interrupt gate (ring 0, SEL_KCODE64) in an IDT of 16-byte
 * entries that L1 builds for L2. */
void vmx_idt_gate(uint64_t *idt, int vec, void (*handler)(void));

/* Builds an identity EPT (2 MiB pages, RWX, WB) for the low 1 GiB and
 * returns the EPTP (4-level, WB). */
uint64_t vmx_ept_identity(void);

#endif
