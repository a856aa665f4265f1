/*
 * 16550 UART on COM1 (I/O port 0x3f8), polled. Used from the first line of
 * C to the last line of a panic, so it takes no locks and allocates nothing.
 */
#include <stdint.h>

#include <arch/x86_64/cpu.h>
#include <drivers/uart16550.h>

#define COM1 0x3f8

/* Register offsets (PC16550D data sheet, table 2). */
#define UART_RBR 0 /* receive buffer (read, DLAB=0) */
#define UART_THR 0 /* transmit holding (write, DLAB=0) */
#define UART_DLL 0 /* divisor latch low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1 /* divisor latch high (DLAB=1) */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7

#define LCR_8N1		 0x03
#define LCR_DLAB	 0x80
#define FCR_FIFO_OFF	 0x00
#define MCR_DTR_RTS_OUT2 0x0b
#define LSR_DR		 0x01 /* data ready */
#define LSR_THRE	 0x20 /* transmit holding register empty */

static bool uart_present;

bool uart_init(void)
{
	/* The scratch register holds what we write only if a UART is there. */
	outb(COM1 + UART_SCR, 0x5a);
	if (inb(COM1 + UART_SCR) != 0x5a)
		return false;
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, 1); /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, LCR_8N1);
	/*
	 * FIFOs off: with a one-byte receive buffer QEMU holds further input
	 * until each byte is read, so polling never loses typed bytes to an
	 * overrun (and toggling the FIFO on would drop what is waiting).
	 */
	outb(COM1 + UART_FCR, FCR_FIFO_OFF);
	outb(COM1 + UART_MCR, MCR_DTR_RTS_OUT2);
	uart_present = true;
	return true;
}

static void uart_putc(char c)
{
	/* Bounded wait: a wedged UART must not hang a panic. */
	for (unsigned spin = 0; spin < 1000000; spin++) {
		if (inb(COM1 + UART_LSR) & LSR_THRE)
			break;
		cpu_relax();
	}
	outb(COM1 + UART_THR, (uint8_t)c);
}

void uart_write(const char *buf, size_t len)
{
	if (!uart_present)
		return;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n')
			uart_putc('\r');
		uart_putc(buf[i]);
	}
}

int uart_read_byte(void)
{
	if (!uart_present || !(inb(COM1 + UART_LSR) & LSR_DR))
		return -1;
	return inb(COM1 + UART_RBR);
}
