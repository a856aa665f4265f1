/* Constants shared by assembly and C: control registers, MSRs, PTE bits. */
#ifndef ARCH_X86_64_ASM_H
#define ARCH_X86_64_ASM_H

#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_EM (1 << 2)
#define CR0_TS (1 << 3)
#define CR0_NE (1 << 5)
#define CR0_WP (1 << 16)
#define CR0_PG (1 << 31)

#define CR4_PAE	       (1 << 5)
#define CR4_PGE	       (1 << 7)
#define CR4_OSFXSR     (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)

#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)

/* Page table entry bits (Intel SDM Vol. 3A, 4.5). */
#define PTE_P	(1 << 0)
#define PTE_W	(1 << 1)
#define PTE_U	(1 << 2)
#define PTE_PWT (1 << 3)
#define PTE_PCD (1 << 4)
#define PTE_A	(1 << 5)
#define PTE_D	(1 << 6)
#define PTE_PS	(1 << 7)
#define PTE_G	(1 << 8)

#define KERNEL_CS  0x08
#define KERNEL_DS  0x10
#define KERNEL_TSS 0x18

#define BOOT_STACK_SIZE (64 * 1024)
#define BOOT_PD_COUNT	4 /* boot page tables: 4 x 1 GiB identity-mapped */

#endif
