/*
 * PVH entry (Xen PVH boot ABI, as QEMU -kernel uses it): the loader jumps to
 * pvh_entry32 in 32-bit protected mode, paging off, with %ebx holding the
 * physical address of struct hvm_start_info. We clear BSS, identity-map the
 * first 4 GiB with 2 MiB pages (the boot tables in arch/x86_64/cpu.S),
 * enter long mode, enable SSE and call pvh_start(start_info) in C. The C
 * side replaces these tables and the GDT.
 */
#include <arch/x86_64/asm.h>

#define XEN_ELFNOTE_PHYS32_ENTRY	18
#define HVM_START_MAGIC			0x336ec578

	.section .note.pvh, "a"
	.p2align 2
	.long	4				/* namesz: "Xen\0" */
	.long	8				/* descsz */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
	.asciz	"Xen"
	.p2align 2
	.quad	pvh_entry32
	.p2align 2

	.section .boot.text, "ax"
	.code32
	.globl	pvh_entry32
pvh_entry32:
	cli
	cld
	/* First instruction that counts: the boot-time line measures from here. */
	rdtsc
	movl	%eax, boot_tsc_start
	movl	%edx, boot_tsc_start + 4

	cmpl	$HVM_START_MAGIC, (%ebx)
	jne	.Lbad_magic
	movl	%ebx, %esi			/* cpuid below clobbers %ebx */

	/* BSS (includes the boot page tables and stack). */
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	shrl	$2, %ecx
	xorl	%eax, %eax
	rep stosl

	/* PML4[0] -> PDPT; PDPT[i] -> PD[i]; each PD maps 1 GiB in 2 MiB pages. */
	movl	$boot_pdpt, %eax
	orl	$(PTE_P | PTE_W), %eax
	movl	%eax, boot_pml4

	xorl	%ecx, %ecx
1:	movl	%ecx, %eax
	shll	$12, %eax
	addl	$boot_pd, %eax
	orl	$(PTE_P | PTE_W), %eax
	movl	%eax, boot_pdpt(, %ecx, 8)
	incl	%ecx
	cmpl	$BOOT_PD_COUNT, %ecx
	jne	1b

	xorl	%ecx, %ecx			/* entry index over all PDs */
2:	movl	%ecx, %eax
	shll	$21, %eax			/* low 32 bits of ecx * 2 MiB */
	orl	$(PTE_P | PTE_W | PTE_PS), %eax
	movl	%eax, boot_pd(, %ecx, 8)
	movl	%ecx, %eax
	shrl	$11, %eax			/* high bits of ecx * 2 MiB */
	movl	%eax, boot_pd + 4(, %ecx, 8)
	incl	%ecx
	cmpl	$(BOOT_PD_COUNT * 512), %ecx
	jne	2b

	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$boot_pml4, %eax
	movl	%eax, %cr3

	/* EFER.LME, and NXE when the CPU has NX (CPUID 0x80000001 EDX[20]). */
	movl	$0x80000000, %eax
	cpuid
	xorl	%edi, %edi
	cmpl	$0x80000001, %eax
	jb	3f
	movl	$0x80000001, %eax
	cpuid
	testl	$(1 << 20), %edx
	jz	3f
	movl	$EFER_NXE, %edi
3:	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	orl	%edi, %eax
	wrmsr

	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0

	lgdt	boot_gdt_desc
	ljmp	$0x08, $.Lentry64

.Lbad_magic:
	/* No hvm_start_info: say so on COM1 and leave with the failure code. */
	movl	$.Lbad_msg, %esi
	movw	$0x3f8, %dx
4:	lodsb
	testb	%al, %al
	jz	5f
	outb	%al, %dx
	jmp	4b
5:	movw	$0xf4, %dx
	movl	$0x11, %eax
	outl	%eax, %dx
6:	hlt
	jmp	6b

	.code64
.Lentry64:
	movl	$0x10, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	xorl	%eax, %eax
	movl	%eax, %fs
	movl	%eax, %gs
	leaq	boot_stack_top(%rip), %rsp
	xorl	%ebp, %ebp

	call	sse_enable			/* preserves %rsi */

	movl	%esi, %edi			/* struct hvm_start_info * */
	call	pvh_start
7:	cli
	hlt
	jmp	7b

	.section .rodata
.Lbad_msg:
	.asciz	"pvh: bad hvm_start_info magic, not booted through PVH\r\n"

	.p2align 3
boot_gdt:
	.quad	0
	.quad	0x00af9a000000ffff		/* 0x08: 64-bit code */
	.quad	0x00cf92000000ffff		/* 0x10: data */
boot_gdt_desc:
	.word	boot_gdt_desc - boot_gdt - 1
	.quad	boot_gdt

	.data
	.p2align 3
	.globl	boot_tsc_start
boot_tsc_start:
	.quad	0
