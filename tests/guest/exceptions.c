/*
 * Deliberate faults: each must end in the exception report (vector, error
 * code, RIP, CR2, registers, backtrace) and the failure exit code. The
 * host tier checks the report; a test that returns has failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <kernel/registry.h>

#define UNMAPPED_ADDR 0x00000dead0000000ull

KTEST(ud, "execute ud2: #UD report")
{
	__asm__ volatile("ud2");
	return 1;
}

KTEST(pf, "read an unmapped address: #PF report with CR2")
{
	volatile uint64_t *p = (volatile uint64_t *)UNMAPPED_ADDR;

	printf("read %llx\n", (unsigned long long)*p);
	return 1;
}

KTEST(null, "read through a NULL pointer: #PF at 0")
{
	volatile int *p = NULL;

	__asm__ volatile("" : "+r"(p)); /* hide the NULL from the optimiser */
	printf("read %d\n", *p);
	return 1;
}

KTEST(nx, "jump into heap memory: #PF on instruction fetch (NX)")
{
	unsigned char *code = malloc(16);
	void (*fn)(void);

	if (!code)
		return 1;
	code[0] = 0xc3; /* ret */
	fn = (void (*)(void))(uintptr_t)code;
	fn();
	return 1;
}

KTEST(wp, "write to kernel text: #PF on a read-only page")
{
	volatile unsigned char *text = (volatile unsigned char *)(uintptr_t)&ktest_fn_wp;

	text[0] = 0x90;
	return 1;
}

/* The bound is never reached: the 64 KiB stack ends long before. */
static int recurse(int depth, int limit)
{
	volatile char pad[512];

	pad[0] = (char)depth;
	if (depth == limit)
		return pad[0];
	return recurse(depth + 1, limit) + pad[0];
}

KTEST(stack_overflow, "recurse into the stack guard page: #DF report")
{
	return recurse(0, 1 << 20);
}
