/*
 * virtio-rng (VIRTIO 1.2 section 5.4): one request queue; the driver posts
 * device-writable buffers and the device fills them with entropy (5.4.6).
 * Read on demand by lib/kernel/random.c; the device is set up for the read and
 * reset afterwards, so that it stays free for whoever else drives it.
 */
#include <errno.h>
#include <string.h>

#include <arch/x86_64/cpu.h>
#include <kernel/clock.h>
#include <virtio/rng.h>
#include <virtio/virtio.h>
#include <virtio/virtqueue.h>

#define RNG_TIMEOUT_NS	100000000ull /* 100 ms for the device to answer */
#define RNG_IRQ_WAIT_NS 10000000ull  /* 10 ms for its interrupt to arrive */
#define RNG_MAX_READ	256u

static volatile unsigned rng_irqs;

static void rng_irq(struct virtqueue *vq)
{
	(void)vq;
	rng_irqs++;
}

/*
 * The completion's interrupt may still be on its way when the used ring
 * shows the buffer: take it (interrupts on for a moment) while its vector
 * is still ours, before del_vq gives the vector up.
 */
static void rng_drain_irq(struct virtqueue *vq, unsigned before)
{
	uint64_t flags, end;

	if (!virtio_vq_has_irq(vq))
		return;
	flags = irq_save();
	end = clock_ns() + RNG_IRQ_WAIT_NS;
	irq_enable();
	while (rng_irqs == before && clock_ns() < end)
		__asm__ volatile("pause");
	irq_disable();
	irq_restore(flags);
}

static bool rng_given_up; /* a reset it never finished */

static struct virtio_device *rng_device(void)
{
	if (rng_given_up)
		return NULL;
	for (struct virtio_device *vd = virtio_devices; vd; vd = vd->next)
		if (vd->id == VIRTIO_ID_RNG && !vd->driver)
			return vd;
	return NULL;
}

const char *virtio_rng_name(void)
{
	struct virtio_device *vd = rng_device();

	return vd ? vd->name : NULL;
}

int virtio_rng_read(void *buf, size_t len)
{
	static uint8_t dma[RNG_MAX_READ]; /* device-written; copied out once, after completion */
	struct virtio_device *vd = rng_device();
	struct virtqueue *vq;
	uint64_t deadline;
	uint32_t got = 0;
	unsigned irqs = rng_irqs;
	void *tok;
	int rc;

	if (!vd)
		return -ENODEV;
	if (len > sizeof(dma))
		len = sizeof(dma);
	if (virtio_negotiate(vd, 0) || virtio_setup_vq(vd, 0, 8, rng_irq, &vq))
		return -EIO;
	virtio_device_ready(vd);
	rc = virtqueue_add_buf_single(vq, dma, (uint32_t)len, VQ_IN, dma);
	if (!rc) {
		virtqueue_kick(vq);
		deadline = clock_ns() + RNG_TIMEOUT_NS;
		while (!(tok = virtqueue_get_buf(vq, &got))) {
			if (virtqueue_is_broken(vq) || clock_ns() > deadline)
				break;
			virtio_poll(vd);
			__asm__ volatile("pause");
		}
		/* 5.4.6.2 the device may write less than asked; never more than the buffer. */
		rc = tok == dma && got <= len ? (int)got : -EIO;
		if (tok)
			rng_drain_irq(vq, irqs);
	} else {
		rc = -EIO;
	}
	/* The device lets go of the ring before it is freed; then as it was found. */
	if (virtio_reset(vd)) {
		/* It may still write its ring and the buffer: both stay, the device is given up. */
		rng_given_up = true;
		return -EIO;
	}
	virtio_del_vq(vd, vq);
	vd->ops->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	if (rc > 0)
		memcpy(buf, dma, (size_t)rc);
	memset(dma, 0, sizeof(dma));
	return rc;
}
