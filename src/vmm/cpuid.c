/* The CPU model L0 presents to its guest: CPUID leaves (SDM Vol. 2A CPUID).
 * One table, in one place. Every feature bit set here names something the
 * CPU implements; see docs/VMX-COVERAGE.md and README for the gaps. */
#include "cpuid.h"

#include <string.h>

#include "cpu/cpu_internal.h"

/* CPUID.1:EDX */
#define F1D_FPU (1u << 0) /* FNINIT/FNSTSW/FNSTCW/FLDCW/FXSAVE only: no x87 arithmetic */
#define F1D_DE (1u << 2)
#define F1D_PSE (1u << 3)
#define F1D_TSC (1u << 4)
#define F1D_MSR (1u << 5)
#define F1D_PAE (1u << 6)
#define F1D_APIC (1u << 9) /* local APIC (vmm/irq.c, dev/lapic.c) */
#define F1D_CX8 (1u << 8)
#define F1D_SEP (1u << 11)
#define F1D_PGE (1u << 13)
#define F1D_CMOV (1u << 15)
#define F1D_PAT (1u << 16)
#define F1D_PSE36 (1u << 17)
#define F1D_CLFSH (1u << 19)
#define F1D_FXSR (1u << 24)
#define F1D_SSE (1u << 25)
#define F1D_SSE2 (1u << 26)
#define F1D_HTT (1u << 28)
/* CPUID.1:ECX */
#define F1C_VMX (1u << 5)
#define F1C_CX16 (1u << 13)
#define F1C_PCID (1u << 17)
#define F1C_X2APIC (1u << 21)
#define F1C_MOVBE (1u << 22)
#define F1C_TSC_DEADLINE (1u << 24)
#define F1C_POPCNT (1u << 23)
#define F1C_XSAVE (1u << 26)
#define F1C_OSXSAVE (1u << 27)
#define F1C_RDRAND (1u << 30)
/* CPUID.(7,0):EBX */
#define F7B_FSGSBASE (1u << 0)
#define F7B_BMI1 (1u << 3)
#define F7B_SMEP (1u << 7)
#define F7B_BMI2 (1u << 8)
#define F7B_ERMS (1u << 9)
#define F7B_INVPCID (1u << 10)
#define F7B_RDSEED (1u << 18)
#define F7B_SMAP (1u << 20)
#define F7B_CLFLUSHOPT (1u << 23)
#define F7C_UMIP (1u << 2)
/* CPUID.80000001 */
#define FXC_LAHF (1u << 0)
#define FXC_ABM (1u << 5)
#define FXC_PREFETCHW (1u << 8)
#define FXD_SYSCALL (1u << 11)
#define FXD_NX (1u << 20)
#define FXD_PG1G (1u << 26)
#define FXD_RDTSCP (1u << 27)
#define FXD_LM (1u << 29)

#define MAX_BASIC_LEAF 0xd
#define MAX_EXT_LEAF 0x80000008u

static void put_str(uint32_t *r, const char *s)
{
    char buf[16] = {0};
    memcpy(buf, s, strnlen(s, 16));
    memcpy(r, buf, 16);
}

void cpuid_model(const struct cpu *cpu, int nr_cpus, bool vmx, uint32_t leaf, uint32_t subleaf,
                 uint32_t out[4])
{
    uint32_t a = 0, b = 0, c = 0, d = 0;
    if (leaf > MAX_BASIC_LEAF && leaf < 0x80000000u)
        leaf = MAX_BASIC_LEAF; /* Intel: out-of-range basic leaves return the highest */
    if (leaf > MAX_EXT_LEAF)
        leaf = MAX_BASIC_LEAF;
    switch (leaf) {
    case 0:
        a = MAX_BASIC_LEAF;
        memcpy(&b, "Genu", 4);
        memcpy(&d, "ineI", 4);
        memcpy(&c, "ntel", 4);
        break;
    case 1:
        a = 0x00050654; /* family 6, model 0x55, stepping 4 */
        b = (8u << 8) | ((uint32_t)(nr_cpus > 1 ? nr_cpus : 1) << 16) |
            ((uint32_t)cpu->index << 24);
        c = F1C_CX16 | F1C_PCID | F1C_X2APIC | F1C_MOVBE | F1C_POPCNT | F1C_TSC_DEADLINE |
            F1C_XSAVE | F1C_RDRAND;
        if (cpu->cr4 & CR4_OSXSAVE)
            c |= F1C_OSXSAVE;
        if (vmx)
            c |= F1C_VMX; /* nested VMX (src/vmm/nested/) */
        d = F1D_FPU | F1D_DE | F1D_PSE | F1D_TSC | F1D_MSR | F1D_PAE | F1D_CX8 | F1D_APIC |
            F1D_SEP | F1D_PGE | F1D_CMOV | F1D_PAT | F1D_PSE36 | F1D_CLFSH | F1D_FXSR | F1D_SSE |
            F1D_SSE2;
        if (nr_cpus > 1)
            d |= F1D_HTT;
        break;
    case 7:
        if (subleaf == 0) {
            b = F7B_FSGSBASE | F7B_BMI1 | F7B_SMEP | F7B_BMI2 | F7B_ERMS | F7B_INVPCID |
                F7B_RDSEED | F7B_SMAP | F7B_CLFLUSHOPT;
            c = F7C_UMIP;
        }
        break;
    case 0xb: {
        /* x2APIC topology (SDM Vol. 2A CPUID leaf 0BH): one thread per
         * core, every vCPU a core of one package; EDX the x2APIC ID (the
         * vCPU index). Without it, CPUID.1's logical count with HTT reads
         * as SMT siblings. */
        uint32_t shift = 0;
        while ((1u << shift) < (uint32_t)(nr_cpus > 1 ? nr_cpus : 1))
            shift++;
        if (subleaf == 0) {
            a = 0, b = 1, c = (1u << 8) | 0; /* SMT level */
        } else if (subleaf == 1) {
            a = shift, b = (uint32_t)nr_cpus, c = (2u << 8) | 1; /* core level */
        } else {
            c = subleaf & 0xff; /* invalid level: ends the enumeration */
        }
        d = (uint32_t)cpu->index;
        break;
    }
    case 0xd:
        /* XSAVE: x87 and SSE state only (legacy area 512 + header 64) */
        if (subleaf == 0) {
            a = 3;
            b = 576;
            c = 576;
        }
        break;
    case 0x80000000u:
        a = MAX_EXT_LEAF;
        break;
    case 0x80000001u:
        c = FXC_LAHF | FXC_ABM | FXC_PREFETCHW;
        d = FXD_SYSCALL | FXD_NX | FXD_PG1G | FXD_RDTSCP | FXD_LM;
        break;
    case 0x80000002u: {
        uint32_t r[4];
        put_str(r, "nvmx virtual CPU");
        a = r[0], b = r[1], c = r[2], d = r[3];
        break;
    }
    case 0x80000003u:
    case 0x80000004u:
        break;
    case 0x80000008u:
        a = CPU_MAXPHYADDR | (48u << 8);
        break;
    default:
        break;
    }
    out[0] = a;
    out[1] = b;
    out[2] = c;
    out[3] = d;
}
