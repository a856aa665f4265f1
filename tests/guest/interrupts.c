/*
 * The interrupt path preserves the interrupted code's state: a handler
 * that scribbles over every SSE and general register must leave the
 * interrupted code's values intact (arch/x86_64/entry.S saves them all).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arch/x86_64/trap.h>
#include <kernel/registry.h>

#define TEST_VECTOR 0x40

static volatile unsigned handled;

static void scribble(struct trap_frame *f, void *arg)
{
	volatile double x = 1.0;

	(void)f;
	(void)arg;
	for (int i = 0; i < 10; i++)
		x = x * 3.5 + 0.25; /* SSE arithmetic in the handler */
	__asm__ volatile("pxor %%xmm0, %%xmm0\n\t"
			 "pcmpeqd %%xmm1, %%xmm1\n\t"
			 "movdqa %%xmm1, %%xmm7\n\t"
			 "movdqa %%xmm1, %%xmm8\n\t"
			 "movdqa %%xmm0, %%xmm15\n\t"
			 "movq $-1, %%rax\n\t"
			 "movq $-1, %%rcx\n\t"
			 "movq $-1, %%rdx\n\t"
			 "movq $-1, %%rsi\n\t"
			 "movq $-1, %%rdi\n\t"
			 "movq $-1, %%r8\n\t"
			 "movq $-1, %%r9\n\t"
			 "movq $-1, %%r10\n\t"
			 "movq $-1, %%r11\n\t" ::
				 : "xmm0", "xmm1", "xmm7", "xmm8", "xmm15", "rax", "rcx", "rdx",
				   "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
	handled++;
}

KTEST(irq_state, "an interrupt handler cannot clobber SSE or general registers")
{
	uint64_t xin[16][2], xout[16][2], gin[9], gout[9];
	int bad = 0;

	for (int i = 0; i < 16; i++) {
		xin[i][0] = 0x1111111111111111ull * (uint64_t)(i + 1);
		xin[i][1] = ~xin[i][0];
	}
	for (int i = 0; i < 9; i++)
		gin[i] = 0x0101010101010101ull * (uint64_t)(i + 3);
	trap_set_handler(TEST_VECTOR, scribble, NULL);

	/* Load registers, take the interrupt, store them, all in one block. */
	__asm__ volatile("movdqu 0x00(%0), %%xmm0\n\t"
			 "movdqu 0x10(%0), %%xmm1\n\t"
			 "movdqu 0x20(%0), %%xmm2\n\t"
			 "movdqu 0x30(%0), %%xmm3\n\t"
			 "movdqu 0x40(%0), %%xmm4\n\t"
			 "movdqu 0x50(%0), %%xmm5\n\t"
			 "movdqu 0x60(%0), %%xmm6\n\t"
			 "movdqu 0x70(%0), %%xmm7\n\t"
			 "movdqu 0x80(%0), %%xmm8\n\t"
			 "movdqu 0x90(%0), %%xmm9\n\t"
			 "movdqu 0xa0(%0), %%xmm10\n\t"
			 "movdqu 0xb0(%0), %%xmm11\n\t"
			 "movdqu 0xc0(%0), %%xmm12\n\t"
			 "movdqu 0xd0(%0), %%xmm13\n\t"
			 "movdqu 0xe0(%0), %%xmm14\n\t"
			 "movdqu 0xf0(%0), %%xmm15\n\t"
			 "pushq %2\n\t"
			 "pushq %3\n\t"
			 "movq 0x00(%2), %%rax\n\t"
			 "movq 0x08(%2), %%rcx\n\t"
			 "movq 0x10(%2), %%rdx\n\t"
			 "movq 0x18(%2), %%rsi\n\t"
			 "movq 0x20(%2), %%r8\n\t"
			 "movq 0x28(%2), %%r9\n\t"
			 "movq 0x30(%2), %%r10\n\t"
			 "movq 0x38(%2), %%r11\n\t"
			 "movq 0x40(%2), %%rdi\n\t"
			 "int %4\n\t"
			 "xchgq (%%rsp), %%rdi\n\t" /* rdi = gout, saved rdi on the stack */
			 "movq %%rax, 0x00(%%rdi)\n\t"
			 "movq %%rcx, 0x08(%%rdi)\n\t"
			 "movq %%rdx, 0x10(%%rdi)\n\t"
			 "movq %%rsi, 0x18(%%rdi)\n\t"
			 "movq %%r8, 0x20(%%rdi)\n\t"
			 "movq %%r9, 0x28(%%rdi)\n\t"
			 "movq %%r10, 0x30(%%rdi)\n\t"
			 "movq %%r11, 0x38(%%rdi)\n\t"
			 "popq %%rax\n\t"
			 "movq %%rax, 0x40(%%rdi)\n\t"
			 "addq $8, %%rsp\n\t"
			 "movdqu %%xmm0, 0x00(%1)\n\t"
			 "movdqu %%xmm1, 0x10(%1)\n\t"
			 "movdqu %%xmm2, 0x20(%1)\n\t"
			 "movdqu %%xmm3, 0x30(%1)\n\t"
			 "movdqu %%xmm4, 0x40(%1)\n\t"
			 "movdqu %%xmm5, 0x50(%1)\n\t"
			 "movdqu %%xmm6, 0x60(%1)\n\t"
			 "movdqu %%xmm7, 0x70(%1)\n\t"
			 "movdqu %%xmm8, 0x80(%1)\n\t"
			 "movdqu %%xmm9, 0x90(%1)\n\t"
			 "movdqu %%xmm10, 0xa0(%1)\n\t"
			 "movdqu %%xmm11, 0xb0(%1)\n\t"
			 "movdqu %%xmm12, 0xc0(%1)\n\t"
			 "movdqu %%xmm13, 0xd0(%1)\n\t"
			 "movdqu %%xmm14, 0xe0(%1)\n\t"
			 "movdqu %%xmm15, 0xf0(%1)\n\t"
			 :
			 : "r"(xin), "r"(xout), "b"(gin), "r"(gout), "i"(TEST_VECTOR)
			 : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm0",
			   "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
			   "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
	trap_set_handler(TEST_VECTOR, NULL, NULL);

	if (handled != 1) {
		printf("irq_state: handler ran %u times\n", handled);
		return 1;
	}
	for (int i = 0; i < 16; i++)
		if (memcmp(xin[i], xout[i], 16)) {
			printf("irq_state: xmm%d changed\n", i);
			bad++;
		}
	for (int i = 0; i < 9; i++)
		if (gin[i] != gout[i]) {
			printf("irq_state: general register %d changed\n", i);
			bad++;
		}
	if (!bad)
		printf("irq_state: 16 xmm and 9 general registers kept across the interrupt\n");
	return bad;
}
