/*
 * Bounded waits on a device register (VIRTIO 1.2 2.4 device reset, 2.6.1
 * queue reset): poll until it reads 0, against a clock deadline rather
 * than a spin count, so the bound holds whatever the CPU's speed.
 * Portable: built unchanged into the kernel and tests/host/test_pci.c.
 */
#include <errno.h>

#include <virtio/virtio_transport.h>

int virtio_wait_zero(uint32_t (*read)(void *ctx), void *ctx, uint64_t (*now_ns)(void),
		     uint64_t timeout_ns)
{
	uint64_t deadline = now_ns() + timeout_ns;

	for (;;) {
		if (read(ctx) == 0)
			return 0;
		if (now_ns() > deadline)
			return read(ctx) == 0 ? 0 : -EIO;
		__asm__ volatile("pause");
	}
}
