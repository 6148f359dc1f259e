/* The EPT page walker of the hardware (SDM Vol. 3C 29.3 "The Extended Page
 * Table Mechanism"): guest-physical -> host-physical with R/W/X
 * permissions, memory types, large pages, accessed/dirty flags, and the
 * EPT-violation / EPT-misconfiguration outcomes with their qualifications. */
#ifndef NVMX_CPU_EPT_H
#define NVMX_CPU_EPT_H

#include <stdbool.h>
#include <stdint.h>

#include "physmem.h"

#define EPT_READ 1u
#define EPT_WRITE 2u
#define EPT_EXEC 4u

/* EPTP (formats.md section 13) */
#define EPTP_MT_MASK 0x7ull
#define EPTP_PWL_MASK 0x38ull
#define EPTP_AD 0x40ull

enum ept_outcome { EPT_OK, EPT_VIOLATION, EPT_MISCONFIG };

struct ept_result {
    enum ept_outcome outcome;
    uint64_t hpa;       /* EPT_OK: host-physical address */
    uint64_t page_mask; /* EPT_OK: offset mask of the mapping (4K/2M/1G - 1) */
    uint32_t perms;     /* R/W/X allowed by every level (EPT_OK or violation) */
    uint32_t memtype;   /* EPT_OK: EPT memory type of the leaf */
    int level;          /* level at which the walk stopped (4..1) */
    /* EPT violation: exit qualification bits 0-5 (SDM 28.2.1 Table 28-7).
     * The caller adds bits 7/8 (linear-address information) and 12. */
    uint64_t qualification;
};

/* Whether an EPTP value is valid for VM entry / INVEPT (SDM 26.2.1.1):
 * memory type UC or WB, 4-level walk, A/D only if supported, reserved bits
 * clear. */
bool ept_eptp_valid(uint64_t eptp, bool ad_supported);

/* Walks the EPT rooted at eptp for an access of type acc (EPT_READ /
 * EPT_WRITE / EPT_EXEC) to gpa. Reads and writes the EPT tables in host
 * memory `pm` (the tables must be in RAM; a table that is not in RAM is a
 * misconfiguration: nvmx's documented choice). Sets accessed/dirty flags
 * when the EPTP enables them. */
void ept_translate(struct physmem *pm, uint64_t eptp, uint64_t gpa, uint32_t acc,
                   struct ept_result *r);

/* The same walk over tables that a guest built in its own RAM (L0 walking
 * an L1 hypervisor's EPT12): a table outside guest RAM, including L0's
 * private pages, is a misconfiguration, and accessed/dirty flags are never
 * written (nested VMX does not offer EPT A/D flags to L1). */
void ept_translate_guest(struct physmem *pm, uint64_t eptp, uint64_t gpa, uint32_t acc,
                         struct ept_result *r);

#endif
