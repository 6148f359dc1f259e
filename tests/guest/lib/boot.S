/* Multiboot v1 entry: 32-bit protected mode -> long mode -> guest_start().
 *
 * State on entry (Multiboot spec 0.6.96 section 3.2): EAX=0x2BADB002,
 * EBX=physical address of the multiboot info, CS/DS/ES/SS flat 32-bit,
 * CR0.PE=1, CR0.PG=0, interrupts disabled; GDTR/IDTR undefined, no stack. */
#include "layout.h"

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* bit 0: page-align modules, bit 1: memory info.
                               No bit 16: address fields unused, ELF is loaded
                               from its program headers. */

#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_TS (1 << 3)
#define CR0_NE (1 << 5)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    mov %eax, %esi
    mov %ebx, %ebp

    /* Zero .bss ourselves (the loader should, but this makes no assumption;
     * the multiboot info lives outside the image). */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    mov %esi, boot_magic
    mov %ebp, boot_mbi

    lgdt gdt_ptr32
    ljmp $SEL_KCODE32, $1f
1:  mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %fs
    mov %eax, %gs
    mov %eax, %ss
    mov $boot_stack_top, %esp

    /* Identity-map 0..4 GiB with 2 MiB pages (SDM 4.5). The upper levels
     * allow everything (P|RW|US) so that the leaf entries alone decide. */
    mov $boot_pdpt, %eax
    or $7, %eax
    mov %eax, boot_pml4
    mov $boot_pd, %eax
    or $7, %eax
    mov $boot_pdpt, %edi
    mov $4, %ecx
2:  mov %eax, (%edi)
    add $4096, %eax
    add $8, %edi
    loop 2b
    mov $boot_pd, %edi
    mov $0x83, %eax /* P | RW | PS; supervisor */
    mov $2048, %ecx
3:  mov %eax, (%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 3b

    /* SDM 10.8.5 "Initializing IA-32e Mode": PAE, CR3, EFER.LME, then PG. */
    mov $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    /* SSE needs CR0.EM=0, and MP=1/NE=1 give native FPU error reporting
     * (SDM 13.1.3, table 9-3). */
    mov %cr0, %eax
    and $~(CR0_EM | CR0_TS), %eax
    or $(CR0_PG | CR0_PE | CR0_MP | CR0_NE), %eax
    mov %eax, %cr0
    ljmp $SEL_KCODE64, $long_entry

    .code64
long_entry:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    mov $boot_stack_top, %rsp
    xor %ebp, %ebp
    fninit
    mov boot_magic(%rip), %edi
    mov boot_mbi(%rip), %esi
    call guest_start
4:  cli
    hlt
    jmp 4b

    .data
    .balign 16
    .globl gdt
gdt:
    .quad 0                      /* 0x00 null */
    .quad 0x00af9a000000ffff     /* 0x08 KCODE64 */
    .quad 0x00cf92000000ffff     /* 0x10 KDATA */
    .quad 0x00cf9a000000ffff     /* 0x18 KCODE32 */
    .quad 0x00cffa000000ffff     /* 0x20 UCODE32 */
    .quad 0x00cff2000000ffff     /* 0x28 UDATA */
    .quad 0x00affa000000ffff     /* 0x30 UCODE64 */
    .quad 0x00009a000000ffff     /* 0x38 KCODE16 */
    .quad 0x000092000000ffff     /* 0x40 KDATA16 */
    .quad 0x00af9a000000ffff     /* 0x48 SYSENTER CS: KCODE64 */
    .quad 0x00cf92000000ffff     /* 0x50 SYSENTER SS: KDATA */
    .quad 0x00cffa000000ffff     /* 0x58 SYSEXIT32 CS: UCODE32 */
    .quad 0x00cff2000000ffff     /* 0x60 SYSEXIT32 SS: UDATA */
    .quad 0x00affa000000ffff     /* 0x68 SYSEXIT64 CS: UCODE64 */
    .quad 0x00cff2000000ffff     /* 0x70 SYSEXIT64 SS: UDATA */
    .quad 0, 0                   /* 0x78 TSS, filled in by desc.c */
    .fill GDT_ENTRIES - GDT_FIRST_FREE, 8, 0
gdt_end:
    .balign 4
    .word 0
gdt_ptr32:
    .word gdt_end - gdt - 1
    .long gdt

    .globl boot_magic, boot_mbi
boot_magic: .long 0
boot_mbi: .long 0

    .bss
    .balign 4096
    .globl boot_pml4, boot_pdpt, boot_pd
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd: .skip 4 * 4096
    .balign 16
boot_stack: .skip 65536
    .globl boot_stack_top
boot_stack_top:
