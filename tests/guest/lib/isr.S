/* Interrupt entry stubs, the exception-recovery context switch, ring-3 entry
 * and the far call into 32-bit (compatibility-mode) code. */
#include "layout.h"

    .text
    .code64

/* 256 stubs, 16 bytes apart: isr_stubs + 16 * vector. Vectors whose
 * exceptions push an error code (SDM 6.13, table 6-1: 8, 10-14, 17, 21, 29,
 * 30) don't push the dummy 0. Software INT n to those vectors pushes none, so
 * tests must not use INT n on them with the default stubs. */
    .balign 16
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp isr_common
    .set vec, vec + 1
    .endr

/* Frame layout = struct frame in guest.h. */
isr_common:
    push %r15
    push %r14
    push %r13
    push %r12
    push %r11
    push %r10
    push %r9
    push %r8
    push %rbp
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %rbx
    push %rax
    cld
    mov %rsp, %rdi
    mov %rsp, %rbx
    and $-16, %rsp
    call isr_dispatch
    mov %rbx, %rsp
    pop %rax
    pop %rbx
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    pop %rbp
    pop %r8
    pop %r9
    pop %r10
    pop %r11
    pop %r12
    pop %r13
    pop %r14
    pop %r15
    add $16, %rsp
    iretq

/* int ctx_save(struct ctx *c): setjmp-like; returns 0, and later 1 when an
 * interrupt handler resumes the context with ctx_resume_frame(). */
    .globl ctx_save
ctx_save:
    mov (%rsp), %rax
    mov %rax, 0(%rdi)   /* rip */
    lea 8(%rsp), %rax
    mov %rax, 8(%rdi)   /* rsp */
    mov %rbx, 16(%rdi)
    mov %rbp, 24(%rdi)
    mov %r12, 32(%rdi)
    mov %r13, 40(%rdi)
    mov %r14, 48(%rdi)
    mov %r15, 56(%rdi)
    pushfq
    pop %rax
    mov %rax, 64(%rdi)  /* rflags */
    xor %eax, %eax
    ret

/* Target of the IRETQ built by ctx_resume_frame(): RDI = ctx; ctx_save
 * "returns" 1 (and RDI still holds the ctx, which ring3_enter relies on). */
    .globl ctx_restore_stub
ctx_restore_stub:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov 16(%rdi), %rbx
    mov 24(%rdi), %rbp
    mov 32(%rdi), %r12
    mov 40(%rdi), %r13
    mov 48(%rdi), %r14
    mov 56(%rdi), %r15
    mov 8(%rdi), %rsp
    mov $1, %eax
    jmp *0(%rdi)

/* uint64_t ring3_enter(fn, arg, user_rsp, cs, ss, struct ctx *c):
 * IRETQ to fn(arg) at CPL3; the user trampoline leaves with INT
 * RING3_EXIT_VECTOR and the handler resumes c with the return value. */
    .globl ring3_enter
ring3_enter:
    push %r9
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %r8
    mov %r9, %rdi
    call ctx_save
    test %eax, %eax
    jnz 1f
    pop %r8
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    pop %r9
    push %r8            /* SS */
    push %rdx           /* RSP */
    pushq $0x2          /* RFLAGS: IF=0 */
    push %rcx           /* CS */
    lea ring3_tramp(%rip), %rax
    push %rax           /* RIP */
    iretq
1:  /* resumed through ctx_restore_stub, which leaves RDI = ctx; the return
       value is ctx->value (72). RSP is where ctx_save saw it. */
    mov 72(%rdi), %rax
    add $48, %rsp
    ret

    .section .user.text, "ax"
ring3_tramp:
    mov %rdi, %rax
    mov %rsi, %rdi
    call *%rax
    mov %rax, %rdi
    int $RING3_EXIT_VECTOR
    ud2

    .text
/* void call32(void *fn, struct regs32 *r): far call to SEL_KCODE32:fn with
 * EAX..EBP and EFLAGS from *r; fn returns with a 32-bit LRET. The final
 * register values and EFLAGS are stored back into *r.
 * void call_far32(void *fn, struct regs32 *r, uint16_t cs): same with any
 * code segment (e.g. 16-bit code, which must return with LRETL). */
    .globl call32, call_far32
call32:
    mov $SEL_KCODE32, %edx
call_far32:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    push %rsi
    sub $16, %rsp
    mov %edi, (%rsp)
    mov %dx, 4(%rsp)
    mov 28(%rsi), %eax
    push %rax
    popfq
    mov 0(%rsi), %eax
    mov 4(%rsi), %ebx
    mov 8(%rsi), %ecx
    mov 12(%rsi), %edx
    mov 20(%rsi), %edi
    mov 24(%rsi), %ebp
    mov 16(%rsi), %esi
    lcall *(%rsp)
    pushfq
    push %rsi
    mov 32(%rsp), %rsi
    mov %eax, 0(%rsi)
    mov %ebx, 4(%rsi)
    mov %ecx, 8(%rsi)
    mov %edx, 12(%rsi)
    pop %rax
    mov %eax, 16(%rsi)
    mov %edi, 20(%rsi)
    mov %ebp, 24(%rsi)
    pop %rax
    mov %eax, 28(%rsi)
    cld
    add $16, %rsp
    pop %rsi
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
