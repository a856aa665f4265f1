/* panic() and the orderly exit path. */
#include <stdarg.h>
#include <stdio.h>

#include <arch/x86_64/cpu.h>
#include <arch/x86_64/trap.h>
#include <kernel/console.h>
#include <kernel/kernel.h>

void panic(const char *fmt, ...)
{
	static int panicking;
	char buf[256];
	va_list ap;
	int n;

	irq_disable();
	if (panicking++) {
		console_panic_write("\nPANIC while panicking\n", 23);
		arch_exit(EXIT_FAIL);
	}
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	console_panic_write("\nPANIC: ", 8);
	if (n > 0)
		console_panic_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	console_panic_write("\n", 1);
	backtrace_from((uint64_t)__builtin_return_address(0), (uint64_t)__builtin_frame_address(0));
	arch_exit(EXIT_FAIL);
}

void kernel_exit(int code)
{
	fflush(stdout);
	fflush(stderr);
	console_flush(); /* a virtio console's last bytes reach the host before QEMU ends */
	arch_exit(code);
}
