/* Traps and interrupts: the saved frame, handler registration, the IDT. */
#ifndef ARCH_X86_64_TRAP_H
#define ARCH_X86_64_TRAP_H

#include <stdint.h>

/* Layout pushed by arch/x86_64/entry.S, lowest address first. */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "trap frame layout");

#define VEC_DE	      0
#define VEC_NMI	      2
#define VEC_UD	      6
#define VEC_DF	      8
#define VEC_GP	      13
#define VEC_PF	      14
#define VEC_MC	      18
#define VEC_FIRST_IRQ 32

typedef void (*trap_handler_t)(struct trap_frame *f, void *arg);

/*
 * trap_set_handler - route a vector to fn(frame, arg); fn NULL removes it.
 * Hardware interrupts (vector >= 32) run on their own stack with
 * interrupts off. An exception without a handler is fatal.
 * Returns: 0, or -EINVAL for a bad vector.
 */
int trap_set_handler(unsigned vector, trap_handler_t fn, void *arg);

void gdt_init(void);
void idt_init(void);

/* trap_dump - print the frame, control registers and a backtrace. */
void trap_dump(const struct trap_frame *f);

/* backtrace_from - print return addresses walking the rbp chain. */
void backtrace_from(uint64_t rip, uint64_t rbp);

#endif
