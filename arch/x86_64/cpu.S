/*
 * Early CPU state shared by every boot path: the boot stack (with an
 * unmapped guard page below it once paging_init runs), the boot page
 * tables (the first 4 GiB identity-mapped in 2 MiB pages until
 * paging_init replaces them; filled by boot/pvh.S or boot/efi_entry.S)
 * and SSE enabling.
 */
#include <arch/x86_64/asm.h>

	.text
	.code64
/*
 * sse_enable: x87 and SSE on, exceptions masked (newlib's printf %f and libm
 * use SSE). Clobbers only %rax, so boot code can keep arguments in %rsi.
 */
	.globl	sse_enable
sse_enable:
	movq	%cr0, %rax
	andq	$~(CR0_EM | CR0_TS), %rax
	orq	$(CR0_MP | CR0_NE), %rax
	movq	%rax, %cr0
	movq	%cr4, %rax
	orq	$(CR4_OSFXSR | CR4_OSXMMEXCPT), %rax
	movq	%rax, %cr4
	fninit
	ldmxcsr	mxcsr_default(%rip)
	ret

	.section .rodata
	.p2align 2
mxcsr_default:
	.long	0x1f80				/* all exceptions masked, round to nearest */

	.section .bss.pagealigned, "aw", @nobits
	.p2align 12
	.globl	boot_stack_guard, boot_stack_top
boot_stack_guard:
	.skip	4096
	.skip	BOOT_STACK_SIZE
boot_stack_top:

	.globl	boot_pml4, boot_pdpt, boot_pd
boot_pml4:	.skip	4096
boot_pdpt:	.skip	4096
boot_pd:	.skip	4096 * BOOT_PD_COUNT
