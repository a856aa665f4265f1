/*
 * Consoles: where kprintf and newlib's stdout/stderr go, and where stdin
 * comes from. The UART registers first; a virtio console registers later
 * and may take over (the UART then stays for panics unless mirrored).
 */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct console {
	const char *name;
	void (*write)(struct console *c, const char *buf, size_t len);
	int (*read_byte)(struct console *c); /* -1 when no byte is waiting */
	bool enabled;
	struct console *next;
};

void console_register(struct console *c);
/* console_write - to every enabled console. */
void console_write(const char *buf, size_t len);
/* console_panic_write - to the UART only: used when nothing else can be trusted. */
void console_panic_write(const char *buf, size_t len);
/* console_getc - next input byte from any enabled console; blocks. */
int console_getc(void);
/* console_poll - next input byte, or -1 when none is waiting. */
int console_poll(void);
void console_init_early(void);

#endif
