/* EPT01: L0's EPT for a guest, mapping its guest-physical RAM to host
 * physical memory (BRIEF "Memory"). Everything not RAM stays unmapped, so
 * accesses to it are EPT violations that L0 handles as MMIO. */
#ifndef NVMX_VMM_EPT01_H
#define NVMX_VMM_EPT01_H

#include <stdint.h>

#include "cpu/physmem.h"

/* Builds the tables in L0-private memory; returns the EPTP (write-back,
 * 4-level, accessed/dirty flags off), or 0 if private memory ran out. */
uint64_t ept01_build(struct physmem *pm);

/* Maps [gpa, gpa + len) to [hpa, hpa + len) with permissions rwx (bits
 * 2:0), using 2 MiB pages where alignment allows. Returns 0 or -1. */
int ept_map_range(struct physmem *pm, uint64_t pml4, uint64_t gpa, uint64_t hpa, uint64_t len,
                  uint32_t rwx);

#endif
