/*
 * Interrupt and exception entry. One stub per vector pushes a zero error
 * code where the CPU pushes none, then the vector, and joins trap_common,
 * which saves every general register and the x87/SSE state (FXSAVE), so C
 * handlers may use any register, then calls trap_dispatch(frame).
 */
#include <arch/x86_64/asm.h>

/* Vectors for which the CPU pushes an error code (SDM Vol. 3A, 6.13). */
#define HAS_ERRCODE(n) ((n) == 8 || ((n) >= 10 && (n) <= 14) || (n) == 17 || \
			(n) == 21 || (n) == 29 || (n) == 30)

	.text
	.code64

.macro TRAP_STUB n
	.p2align 4
trap_stub_\n:
	.ifeq HAS_ERRCODE(\n)
	pushq	$0
	.endif
	pushq	$\n
	jmp	trap_common
.endm

.altmacro
.set i, 0
.rept 256
	TRAP_STUB %i
	.set i, i + 1
.endr

trap_common:
	cld
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, %r12			/* struct trap_frame *, callee-saved */
	subq	$512, %rsp
	andq	$-16, %rsp
	fxsave64 (%rsp)
	movq	%r12, %rdi
	call	trap_dispatch
	fxrstor64 (%rsp)
	movq	%r12, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp			/* vector, error code */
	iretq

.macro STUB_ADDR n
	.quad	trap_stub_\n
.endm

	.section .rodata
	.p2align 3
	.globl	trap_stubs
trap_stubs:
.set i, 0
.rept 256
	STUB_ADDR %i
	.set i, i + 1
.endr
