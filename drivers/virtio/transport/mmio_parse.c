/*
 * virtio-mmio transports from the kernel command line, in the format of
 * Linux's virtio_mmio.device= (drivers/virtio/virtio_mmio.c documents it;
 * QEMU microvm with acpi=off and Firecracker append such words):
 *	virtio_mmio.device=<size>@<base>:<irq>[:<id>]
 * e.g. 512@0xfeb00e00:12, 4K@0xd0000000:5:0. Portable: built unchanged
 * into the kernel and tests/host/test_virtio_mmio.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <virtio/virtio_mmio.h>

/* A decimal or 0x-hex number; false when there is no digit or it overflows. */
static bool number(const char **pp, uint64_t *out)
{
	const char *p = *pp;
	unsigned base = 10, digits = 0;
	uint64_t v = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++, digits++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	if (digits == 0)
		return false;
	*out = v;
	*pp = p;
	return true;
}

int virtio_mmio_parse(const char *s, struct virtio_mmio_res *out, const char **why)
{
	const char *p = s;
	uint64_t size, base, irq, id = 0;
	unsigned shift = 0;
	bool has_id = false;

	*why = "expected <size>@<base>:<irq>[:<id>]";
	if (!s || !number(&p, &size))
		return -EINVAL;
	switch (*p) {
	case 'k':
	case 'K': shift = 10; break;
	case 'm':
	case 'M': shift = 20; break;
	case 'g':
	case 'G': shift = 30; break;
	}
	if (shift) {
		p++;
		if (size > UINT64_MAX >> shift) {
			*why = "size too large";
			return -ERANGE;
		}
		size <<= shift;
	}
	if (*p++ != '@' || !number(&p, &base) || *p++ != ':' || !number(&p, &irq))
		return -EINVAL;
	if (*p == ':') {
		p++;
		if (!number(&p, &id) || id > 0x7fffffff)
			return -EINVAL;
		has_id = true;
	}
	if (*p != '\0')
		return -EINVAL;
	if (size < VIRTIO_MMIO_CONFIG) {
		*why = size ? "size below the 0x100 bytes of registers" : "size 0";
		return -ERANGE;
	}
	if (base + size < base) {
		*why = "base + size wraps";
		return -ERANGE;
	}
	if (irq > 255) {
		*why = "irq out of range (0-255)";
		return -ERANGE;
	}
	out->base = base;
	out->size = size;
	out->irq = (uint32_t)irq;
	out->id = has_id ? (int)id : -1;
	*why = NULL;
	return 0;
}

int virtio_mmio_overlaps(const struct virtio_mmio_res *r, const struct virtio_mmio_res *have,
			 unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (r->base < have[i].base + have[i].size && have[i].base < r->base + r->size)
			return 1;
	return 0;
}
