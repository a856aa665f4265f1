/*
 * Trap dispatch and the fatal-exception report: vector, error code, RIP,
 * CR2, every register and a frame-pointer backtrace on the UART, then the
 * failure exit code. Nothing here allocates or takes locks.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/trap.h>
#include <kernel/console.h>
#include <kernel/kernel.h>

int stack_addr_ok(uint64_t a, uint64_t len);

static struct {
	trap_handler_t fn;
	void *arg;
} handlers[256];

static volatile int fatal_depth;

static const char *const exc_names[32] = {
	"#DE divide error",
	"#DB debug",
	"NMI",
	"#BP breakpoint",
	"#OF overflow",
	"#BR bound range",
	"#UD invalid opcode",
	"#NM device not available",
	"#DF double fault",
	"coprocessor segment overrun",
	"#TS invalid TSS",
	"#NP segment not present",
	"#SS stack fault",
	"#GP general protection",
	"#PF page fault",
	"reserved 15",
	"#MF x87 error",
	"#AC alignment check",
	"#MC machine check",
	"#XM SIMD exception",
	"#VE virtualization",
	"#CP control protection",
	"reserved 22",
	"reserved 23",
	"reserved 24",
	"reserved 25",
	"reserved 26",
	"reserved 27",
	"#HV hypervisor injection",
	"#VC VMM communication",
	"#SX security",
	"reserved 31",
};

int trap_set_handler(unsigned vector, trap_handler_t fn, void *arg)
{
	if (vector >= 256)
		return -EINVAL;
	handlers[vector].arg = arg;
	handlers[vector].fn = fn;
	return 0;
}

/* Fatal output goes to the UART only: other consoles may be what broke. */
static void fatal_printf(const char *fmt, ...) __printf(1, 2);
static void fatal_printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		console_panic_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void backtrace_from(uint64_t rip, uint64_t rbp)
{
	fatal_printf("backtrace:\n  #0  0x%016llx\n", (unsigned long long)rip);
	for (int depth = 1; depth < 32; depth++) {
		uint64_t *fp = (uint64_t *)rbp;

		if (rbp == 0 || (rbp & 7) || !stack_addr_ok(rbp, 16))
			break;
		if (fp[1] == 0)
			break;
		fatal_printf("  #%-2d 0x%016llx\n", depth, (unsigned long long)fp[1]);
		if (fp[0] <= rbp) /* frames must move up the stack */
			break;
		rbp = fp[0];
	}
}

void trap_dump(const struct trap_frame *f)
{
	const char *name = f->vector < 32 ? exc_names[f->vector] : "interrupt";

	fatal_printf("\nEXCEPTION: %s (vector %llu) error 0x%llx\n", name,
		     (unsigned long long)f->vector, (unsigned long long)f->error);
	fatal_printf("  RIP 0x%016llx  CS  0x%04llx  RFLAGS 0x%016llx\n",
		     (unsigned long long)f->rip, (unsigned long long)f->cs,
		     (unsigned long long)f->rflags);
	fatal_printf("  RSP 0x%016llx  SS  0x%04llx  CR2 0x%016llx\n", (unsigned long long)f->rsp,
		     (unsigned long long)f->ss, (unsigned long long)read_cr2());
	fatal_printf("  CR0 0x%016llx  CR3 0x%016llx  CR4 0x%016llx\n",
		     (unsigned long long)read_cr0(), (unsigned long long)read_cr3(),
		     (unsigned long long)read_cr4());
#define R(a, b, c)                                                               \
	fatal_printf("  %-3s 0x%016llx  %-3s 0x%016llx  %-3s 0x%016llx\n", #a,   \
		     (unsigned long long)f->a, #b, (unsigned long long)f->b, #c, \
		     (unsigned long long)f->c)
	R(rax, rbx, rcx);
	R(rdx, rsi, rdi);
	R(rbp, r8, r9);
	R(r10, r11, r12);
	R(r13, r14, r15);
#undef R
	if (f->vector == VEC_PF)
		fatal_printf("  page fault: %s %s%s%s\n",
			     f->error & 1 ? "protection violation" : "not present",
			     f->error & 16  ? "instruction fetch"
			     : f->error & 2 ? "write"
					    : "read",
			     f->error & 4 ? " user" : "", f->error & 8 ? " reserved-bit" : "");
	backtrace_from(f->rip, f->rbp);
}

void trap_dispatch(struct trap_frame *f)
{
	unsigned v = (unsigned)f->vector;

	if (handlers[v].fn) {
		handlers[v].fn(f, handlers[v].arg);
		return;
	}
	if (v >= VEC_FIRST_IRQ) {
		/*
		 * Unclaimed interrupt: note it and carry on. If the local APIC
		 * delivered it, acknowledge it: left in service, it would block
		 * every interrupt of its priority class and below.
		 */
		static unsigned spurious;
		int acked = lapic_ack_unclaimed(v);

		if (spurious++ < 8)
			fatal_printf("trap: unhandled interrupt vector %u%s\n", v,
				     acked ? " (acknowledged)" : "");
		return;
	}
	if (fatal_depth++ > 0) {
		fatal_printf("\nEXCEPTION %u while handling a fatal exception\n", v);
		arch_exit(EXIT_FAIL);
	}
	trap_dump(f);
	fatal_printf("FATAL: unexpected exception, exit code %d\n", EXIT_FAIL);
	arch_exit(EXIT_FAIL);
}
