/*
 * UEFI entry, kernel side. The loader (boot/efi/, BOOTX64.EFI) loads
 * kernel.elf, exits boot services and calls efi_kernel_entry(struct
 * boot_info *bi) in 64-bit mode with the SysV ABI, interrupts off, on the
 * firmware's stack, GDT and identity-mapped page tables. It finds this
 * entry through the "VUK" note below (include/boot/efi.h).
 *
 * Everything the firmware left in place lives in memory the kernel counts
 * as free RAM (boot services and loader memory), so nothing of it may be
 * used once allocations start: we move to the kernel's boot stack at once,
 * efi_start copies *bi, and efi_boot_map replaces the firmware's page
 * tables by the boot tables the PVH path uses. gdt_init and idt_init in
 * kernel_main replace the rest.
 */
#include <arch/x86_64/asm.h>
#include <boot/efi.h>

	.section .note.vuk, "a"
	.p2align 2
	.long	VUK_NOTE_NAMESZ			/* namesz: "VUK\0" */
	.long	8				/* descsz */
	.long	VUK_NOTE_EFI_ENTRY
	.asciz	VUK_NOTE_NAME
	.p2align 2
	.quad	efi_kernel_entry
	.p2align 2

	.text
	.code64
	.globl	efi_kernel_entry
efi_kernel_entry:
	cli
	cld
	/* First instruction that counts: the boot-time line measures from here. */
	rdtsc
	movl	%eax, boot_tsc_start(%rip)	/* .data, not BSS */
	movl	%edx, boot_tsc_start + 4(%rip)
	movq	%rdi, %rbx			/* struct boot_info *, in loader memory */

	/* BSS before any of it is used (the loader allocated it, left it as is). */
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	shrq	$3, %rcx
	xorl	%eax, %eax
	rep stosq

	leaq	boot_stack_top(%rip), %rsp
	xorl	%ebp, %ebp
	call	sse_enable

	movq	%rbx, %rdi
	call	efi_start			/* copies *bi, efi_boot_map, kernel_main */
1:	cli
	hlt
	jmp	1b

/*
 * efi_boot_map: load the boot page tables (first 4 GiB identity-mapped in
 * 2 MiB pages, as boot/pvh.S builds them) in place of the firmware's,
 * which sit in boot services memory; enable NX when the CPU has it, as the
 * PVH path does. paging_init then builds the kernel's tables from below
 * 4 GiB. Called from C: preserves %rbx (cpuid).
 */
	.globl	efi_boot_map
efi_boot_map:
	pushq	%rbx

	leaq	boot_pdpt(%rip), %rax		/* PML4[0] -> PDPT */
	orq	$(PTE_P | PTE_W), %rax
	movq	%rax, boot_pml4(%rip)

	leaq	boot_pd(%rip), %rax		/* PDPT[i] -> PD[i] */
	orq	$(PTE_P | PTE_W), %rax
	leaq	boot_pdpt(%rip), %rdx
	xorl	%ecx, %ecx
2:	movq	%rax, (%rdx, %rcx, 8)
	addq	$4096, %rax
	incl	%ecx
	cmpl	$BOOT_PD_COUNT, %ecx
	jne	2b

	movq	$(PTE_P | PTE_W | PTE_PS), %rax	/* each PD maps 1 GiB in 2 MiB pages */
	leaq	boot_pd(%rip), %rdx
	xorl	%ecx, %ecx
3:	movq	%rax, (%rdx, %rcx, 8)
	addq	$0x200000, %rax
	incl	%ecx
	cmpl	$(BOOT_PD_COUNT * 512), %ecx
	jne	3b

	/* CR4.PGE off (as on the PVH path): no global TLB entry of the firmware survives. */
	movq	%cr4, %rax
	andq	$~CR4_PGE, %rax
	movq	%rax, %cr4
	leaq	boot_pml4(%rip), %rax
	movq	%rax, %cr3

	/* EFER.NXE when the CPU has NX (CPUID 0x80000001 EDX[20]). */
	movl	$0x80000000, %eax
	cpuid
	cmpl	$0x80000001, %eax
	jb	4f
	movl	$0x80000001, %eax
	cpuid
	testl	$(1 << 20), %edx
	jz	4f
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_NXE, %eax
	wrmsr
4:	popq	%rbx
	ret
