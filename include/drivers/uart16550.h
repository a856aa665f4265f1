/* 16550 UART (COM1): early console, panic output, fallback console. */
#ifndef DRIVERS_UART16550_H
#define DRIVERS_UART16550_H

#include <stdbool.h>
#include <stddef.h>

/* uart_init - program COM1 for 115200 8N1. Returns: false if no UART answers. */
bool uart_init(void);
void uart_write(const char *buf, size_t len);
/* uart_read_byte - a received byte, or -1 when none is waiting. */
int uart_read_byte(void);

#endif
