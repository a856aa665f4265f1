/* Console multiplexer and kprintf (see include/kernel/console.h). */
#include <stdio.h>

#include <arch/x86_64/cpu.h>
#include <drivers/uart16550.h>
#include <kernel/console.h>
#include <kernel/kernel.h>

static struct console *consoles;

static void uart_console_write(struct console *c, const char *buf, size_t len)
{
	(void)c;
	uart_write(buf, len);
}

static int uart_console_read(struct console *c)
{
	(void)c;
	return uart_read_byte();
}

static struct console uart_console = {
	.name = "ttyS0",
	.write = uart_console_write,
	.read_byte = uart_console_read,
	.enabled = true,
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

void console_write(const char *buf, size_t len)
{
	for (struct console *c = consoles; c; c = c->next)
		if (c->enabled)
			c->write(c, buf, len);
}

void console_panic_write(const char *buf, size_t len)
{
	uart_write(buf, len);
}

int console_poll(void)
{
	for (struct console *c = consoles; c; c = c->next) {
		int b;

		if (c->enabled && c->read_byte && (b = c->read_byte(c)) >= 0)
			return b;
	}
	return -1;
}

int console_getc(void)
{
	int b;

	while ((b = console_poll()) < 0)
		cpu_relax();
	return b;
}

int vkprintf(const char *fmt, va_list ap)
{
	char buf[512];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0)
		return n;
	console_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
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
