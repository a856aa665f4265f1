/*
 * Configuration space accessors shared by the virtio transports: each
 * field at its natural width (VIRTIO 1.2 2.5), through memory or I/O ports.
 */
#include <string.h>

#include <arch/x86_64/cpu.h>

#include "cfg_access.h"

/*
 * Device configuration fields are accessed at their natural width (4.1.3.1:
 * the device may act on each write, e.g. the console's emerg_wr), so an
 * aligned 1-, 2- or 4-byte field is one access; anything else goes in
 * 32-bit pieces where aligned, bytes elsewhere. The same for the legacy
 * I/O window (guest-endian fields, 4.1.4.8), the modern virtio-pci one and
 * virtio-mmio's (4.2.2.2).
 */
static unsigned cfg_width(uintptr_t addr, unsigned left)
{
	if (left >= 4 && !(addr & 3))
		return 4;
	return left >= 2 && !(addr & 1) ? 2 : 1;
}

static uint32_t cfg_read(bool io, uintptr_t a, unsigned w)
{
	if (io)
		return w == 4 ? inl((uint16_t)a) : w == 2 ? inw((uint16_t)a) : inb((uint16_t)a);
	return w == 4	? *(volatile uint32_t *)a
	       : w == 2 ? *(volatile uint16_t *)a
			: *(volatile uint8_t *)a;
}

static void cfg_write(bool io, uintptr_t a, unsigned w, uint32_t v)
{
	if (io && w == 4)
		outl((uint16_t)a, v);
	else if (io && w == 2)
		outw((uint16_t)a, (uint16_t)v);
	else if (io)
		outb((uint16_t)a, (uint8_t)v);
	else if (w == 4)
		*(volatile uint32_t *)a = v;
	else if (w == 2)
		*(volatile uint16_t *)a = (uint16_t)v;
	else
		*(volatile uint8_t *)a = (uint8_t)v;
}

/* Copy len bytes from configuration address base (a port when io) to out. */
void virtio_cfg_copy_in(uint8_t *out, bool io, uintptr_t base, unsigned len)
{
	for (unsigned i = 0, w; i < len; i += w) {
		uint32_t v;

		w = cfg_width(base + i, len - i);
		v = cfg_read(io, base + i, w);
		memcpy(out + i, &v, w); /* x86 is little-endian: the low w bytes */
	}
}

void virtio_cfg_copy_out(bool io, uintptr_t base, const uint8_t *in, unsigned len)
{
	for (unsigned i = 0, w; i < len; i += w) {
		uint32_t v = 0;

		w = cfg_width(base + i, len - i);
		memcpy(&v, in + i, w);
		cfg_write(io, base + i, w, v);
	}
}
