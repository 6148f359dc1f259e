/* Selector and memory layout shared by boot.S, the other assembly files and
 * the C library. Kept in one place because SYSCALL/SYSRET and
 * SYSENTER/SYSEXIT derive selectors arithmetically from one MSR value (SDM
 * Vol. 2B SYSRET/SYSEXIT), so the GDT order matters. */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define SEL_NULL 0x00
#define SEL_KCODE64 0x08 /* 64-bit ring-0 code (L=1) */
#define SEL_KDATA 0x10   /* flat 4 GiB data, ring 0, B=1 */
#define SEL_KCODE32 0x18 /* flat 32-bit ring-0 code (compatibility / protected mode) */
/* SYSRET: STAR[63:48]=SEL_UCODE32 -> CS=+16 (64-bit) or +0 (32-bit), SS=+8 */
#define SEL_UCODE32 0x20 /* flat 32-bit ring-3 code */
#define SEL_UDATA 0x28   /* flat ring-3 data */
#define SEL_UCODE64 0x30 /* 64-bit ring-3 code */
#define SEL_KCODE16 0x38 /* 16-bit code, base 0 limit 0xffff (back to real mode) */
#define SEL_KDATA16 0x40 /* 16-bit data, base 0 limit 0xffff */
/* SYSENTER_CS=SEL_SE_BASE: SS=+8; SYSEXIT 32-bit CS=+16 SS=+24, 64-bit CS=+32 SS=+40 */
#define SEL_SE_BASE 0x48
#define SEL_TSS 0x78      /* 16-byte 64-bit TSS descriptor (entries 15 and 16) */
#define GDT_FIRST_FREE 17 /* entries 17..GDT_ENTRIES-1 are free for tests */
#define GDT_ENTRIES 64

#define RING3_EXIT_VECTOR 0x81 /* DPL-3 interrupt gate used to leave ring3_call() */

#define KSTACK_SIZE 16384

#endif
