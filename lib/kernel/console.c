/* Console multiplexer and kprintf (see include/kernel/console.h). */
#include <stdio.h>
#include <string.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <drivers/uart16550.h>
#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/console.h>
#include <kernel/kernel.h>

static struct console *consoles;
static void (*emergency)(const char *buf, size_t len);
static bool raw_output;

static void uart_console_write(struct console *c, const char *buf, size_t len)
{
	(void)c;
	uart_write(buf, len);
}

static size_t uart_console_read(struct console *c, char *buf, size_t len)
{
	size_t n = 0;
	int b;

	(void)c;
	while (n < len && (b = uart_read_byte()) >= 0)
		buf[n++] = (char)b;
	return n;
}

static struct console uart_console = {
	.name = "ttyS0",
	.write = uart_console_write,
	.read = uart_console_read,
	.flags = CONSOLE_LOG | CONSOLE_STDIO,
};

void console_init_early(void)
{
	if (uart_init())
		console_register(&uart_console);
}

void console_register(struct console *c)
{
	struct console **pp = &consoles;

	while (*pp)
		pp = &(*pp)->next;
	c->next = NULL;
	*pp = c;
}

bool console_takeover(struct console *c)
{
	const char *mode = cmdline_get(&kernel_cmdline, "console");

	fflush(stdout);
	fflush(stderr);
	if (mode && strcmp(mode, "uart") == 0)
		return false;
	if (mode && strcmp(mode, "mirror") == 0) {
		c->flags |= CONSOLE_LOG | CONSOLE_STDIO;
		return true;
	}
	if (mode && strcmp(mode, "virtio") != 0)
		kprintf("console: unknown console=%s (virtio, mirror or uart): using virtio\n",
			mode);
	for (struct console *o = consoles; o; o = o->next)
		o->flags &= ~CONSOLE_STDIO;
	c->flags |= CONSOLE_STDIO;
	return true;
}

void console_release(struct console *c)
{
	bool stdio_left = false;

	/* Unlinked first: what stdout still holds goes to the console that takes over. */
	for (struct console **pp = &consoles; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->flags = 0;
	for (struct console *o = consoles; o; o = o->next)
		stdio_left |= (o->flags & CONSOLE_STDIO) != 0;
	if (!stdio_left && consoles)
		consoles->flags |= CONSOLE_STDIO;
	fflush(stdout);
	fflush(stderr);
}

static void write_to(unsigned role, const char *buf, size_t len)
{
	for (struct console *c = consoles; c; c = c->next)
		if (c->flags & role)
			c->write(c, buf, len);
}

void console_write(const char *buf, size_t len)
{
	write_to(CONSOLE_STDIO, buf, len);
}

void console_flush(void)
{
	for (struct console *c = consoles; c; c = c->next)
		if (c->flush)
			c->flush(c);
}

void console_log_write(const char *buf, size_t len)
{
	write_to(CONSOLE_LOG, buf, len);
}

/*
 * Polled input (the UART has no interrupt here): while bytes came in the
 * last CONSOLE_BUSY_NS (typing, a paste) look again at once; after that
 * halt CONSOLE_POLL_NS between looks.
 */
#define CONSOLE_POLL_NS 10000000ull
#define CONSOLE_BUSY_NS 200000000ull

static uint64_t last_input_ns;

bool console_input_recent(void)
{
	return clock_ns() - last_input_ns < CONSOLE_BUSY_NS;
}

static void (*idle_hook)(void);

void console_set_idle(void (*fn)(void))
{
	idle_hook = fn;
}

int console_poll(void)
{
	char b;

	for (struct console *c = consoles; c; c = c->next)
		if ((c->flags & CONSOLE_STDIO) && c->read && c->read(c, &b, 1) == 1)
			return (unsigned char)b;
	return -1;
}

size_t console_read(char *buf, size_t len)
{
	if (len == 0)
		return 0;
	for (;;) {
		struct console *only = NULL;
		unsigned inputs = 0;

		for (struct console *c = consoles; c; c = c->next) {
			size_t n;

			if (!(c->flags & CONSOLE_STDIO) || !c->read)
				continue;
			if ((n = c->read(c, buf, len)) > 0) {
				last_input_ns = clock_ns();
				return n;
			}
			only = c;
			inputs++;
		}
		/*
		 * Work waiting for input (the network) runs here, and then the
		 * console must not sleep: nothing else would wake it for that work.
		 * One input that can sleep: let it. Several (mirror): poll them all.
		 */
		if (idle_hook) {
			idle_hook();
		} else if (inputs == 1 && only->wait) {
			only->wait(only);
		} else if (console_input_recent()) {
			cpu_relax();
		} else {
			uint64_t flags = irq_save();

			cpu_idle_ns(CONSOLE_POLL_NS);
			irq_restore(flags);
		}
	}
}

void console_panic_write(const char *buf, size_t len)
{
	uart_write(buf, len);
	if (emergency)
		emergency(buf, len);
}

void console_set_emergency(void (*fn)(const char *buf, size_t len))
{
	emergency = fn;
}

void console_set_raw(bool raw)
{
	fflush(stdout);
	fflush(stderr);
	raw_output = raw;
}

bool console_raw(void)
{
	return raw_output;
}

const char *console_stdio_name(void)
{
	for (struct console *c = consoles; c; c = c->next)
		if (c->flags & CONSOLE_STDIO)
			return c->name;
	return "none";
}

int vkprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0)
		return n;
	console_log_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return n;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vkprintf(fmt, ap);
	va_end(ap);
	return n;
}
