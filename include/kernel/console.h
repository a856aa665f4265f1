/*
 * Consoles: where kprintf (the kernel log) and newlib's stdin, stdout and
 * stderr go. The UART registers first and carries both. A virtio console
 * that comes up takes stdio over (console_takeover) and the UART keeps the
 * kernel log, early boot and panics. The command line chooses:
 *
 *	console=virtio   (default) stdio on the virtio console, log on the UART
 *	console=mirror   both consoles carry both; input is read from both
 *	console=uart     stdio and log stay on the UART; the virtio console is
 *	                 left to applications as a port
 *
 * Without a virtio console nothing changes: the UART carries everything.
 */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#define CONSOLE_LOG   1u /* kprintf */
#define CONSOLE_STDIO 2u /* newlib's fds 0, 1 and 2 */

struct console {
	const char *name;
	void (*write)(struct console *c, const char *buf, size_t len);
	/* read - up to len waiting input bytes, without blocking. Returns: the count, 0 if none. */
	size_t (*read)(struct console *c, char *buf, size_t len);
	/* wait - block until input may be waiting (may return early). NULL: the console is polled. */
	void (*wait)(struct console *c);
	/* flush - return once what was written has left the machine. NULL: at once. */
	void (*flush)(struct console *c);
	unsigned flags; /* CONSOLE_LOG | CONSOLE_STDIO */
	struct console *next;
};

/* console_register - add c with the roles in c->flags. */
void console_register(struct console *c);

/*
 * console_takeover - registered console c becomes the stdio console as
 * the console= switch says (stdout is flushed to the old one first).
 * Returns: true if c now carries stdio.
 */
bool console_takeover(struct console *c);

/* console_release - c goes away: unregistered, and stdio returns to the UART if c had it. */
void console_release(struct console *c);

/* console_write - to every stdio console (newlib's stdout and stderr). */
void console_write(const char *buf, size_t len);

/* console_flush - wait until every console's output has left (before an exit). */
void console_flush(void);

/* console_log_write - to every log console (kprintf). */
void console_log_write(const char *buf, size_t len);

/*
 * console_read - stdin: at least one byte, at most len; blocks for the
 * first. Returns: the count.
 */
size_t console_read(char *buf, size_t len);

/*
 * console_poll - one waiting stdin byte, without blocking (it is consumed).
 * Returns: the byte, or -1 if none.
 */
int console_poll(void);

/*
 * console_input_recent - stdin had bytes lately (typing, a paste): idle
 * code should keep polling rather than halt.
 */
bool console_input_recent(void);

/*
 * console_set_idle - fn runs over and over while console_read waits for
 * input (the network's poll loop); NULL: none. With a hook the waiting
 * console polls instead of sleeping.
 */
void console_set_idle(void (*fn)(void));

/*
 * console_panic_write - when nothing else can be trusted: the UART, and
 * the emergency writer a driver registered (virtio emerg_wr).
 */
void console_panic_write(const char *buf, size_t len);
void console_set_emergency(void (*fn)(const char *buf, size_t len));

/*
 * console_set_raw - raw output: consoles that turn "\n" into "\r\n" for
 * a terminal (the virtio console) stop doing so, for binary data.
 * The UART always translates.
 */
void console_set_raw(bool raw);
bool console_raw(void);

/* console_stdio_name - the name of the (first) stdio console, for logs. */
const char *console_stdio_name(void);

void console_init_early(void);

#endif
