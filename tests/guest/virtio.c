/*
 * Virtio over PCI in the guest: negotiate with every device QEMU offers,
 * and move real data through a virtqueue (virtio-rng) in whichever ring
 * layout the device was started with (packed=on/off).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <kernel/clock.h>
#include <kernel/mm.h>
#include <kernel/registry.h>
#include <virtio/virtio.h>

KTEST(virtio_probe, "negotiate with every virtio device and list it")
{
	int n = 0, bad = 0;

	for (struct virtio_device *vd = virtio_devices; vd; vd = vd->next, n++) {
		unsigned nq = virtio_num_queues(vd);

		if (vd->driver) { /* in use: look, do not touch */
			printf("virtio: %s: bound to %s, features ", vd->name, vd->driver->name);
			virtio_print_features(vd);
			printf("virtio: %s: %u queues, in use:", vd->name, nq);
			for (unsigned i = 0; i < nq && i < 8; i++) {
				struct virtqueue *vq = virtio_get_vq(vd, i);

				if (vq)
					printf(" %u%s", virtqueue_num(vq),
					       virtqueue_layout(vq) == VQ_PACKED ? "p" : "");
				else
					printf(" -");
			}
			printf(", interrupts %s\n", vd->irq_mode);
			continue;
		}
		if (virtio_negotiate(vd, 0)) {
			printf("virtio: %s: negotiation failed\n", vd->name);
			bad++;
			continue;
		}
		printf("virtio: %s: features ", vd->name);
		virtio_print_features(vd);
		printf("virtio: %s: %u queues, sizes", vd->name, nq);
		for (unsigned i = 0; i < nq && i < 8; i++) {
			struct virtqueue *vq;

			if (virtio_setup_vq(vd, i, 0, NULL, &vq)) {
				printf(" (queue %u failed)", i);
				bad++;
				continue;
			}
			printf(" %u%s", virtqueue_num(vq),
			       virtqueue_layout(vq) == VQ_PACKED ? "p" : "");
			virtio_reset(vd); /* the device lets go of the ring first */
			virtio_del_vq(vd, vq);
			vd->ops->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
			if (virtio_negotiate(vd, 0))
				bad++;
		}
		printf(", interrupts %s\n", vd->irq_mode);
		virtio_reset(vd);
	}
	printf("virtio: %d devices\n", n);
	return bad;
}

#define RNG_BUFS 8
#define RNG_LEN	 256

KTEST(virtio_rng, "entropy through a virtio-rng queue, 8 buffers in flight")
{
	static uint8_t buf[RNG_BUFS][RNG_LEN];
	struct virtio_device *vd = virtio_devices;
	struct virtqueue *vq;
	uint64_t total = 0, nonzero = 0;
	int rc, rounds = 16, got = 0;

	while (vd && vd->id != VIRTIO_ID_RNG)
		vd = vd->next;
	if (!vd) {
		printf("virtio-rng: no device\n");
		return 1;
	}
	if ((rc = virtio_negotiate(vd, 0)) || (rc = virtio_setup_vq(vd, 0, 64, NULL, &vq))) {
		printf("virtio-rng: set-up failed (%d)\n", rc);
		return 1;
	}
	virtio_device_ready(vd);
	virtqueue_disable_cb(vq);
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < RNG_BUFS; i++) {
			memset(buf[i], 0, RNG_LEN);
			if (virtqueue_add_buf_single(vq, buf[i], RNG_LEN, VQ_IN, buf[i])) {
				printf("virtio-rng: add failed\n");
				return 1;
			}
		}
		virtqueue_kick(vq);
		for (int left = RNG_BUFS; left > 0;) {
			uint64_t deadline = clock_ns() + 2000000000ull;
			uint32_t len;
			uint8_t *p;

			while (!(p = virtqueue_get_buf(vq, &len))) {
				if (virtqueue_is_broken(vq) || clock_ns() > deadline) {
					printf("virtio-rng: no answer (%s)\n",
					       virtqueue_broken_reason(vq) ?: "timeout");
					return 1;
				}
			}
			if (p < buf[0] || p > buf[RNG_BUFS - 1] || len == 0 || len > RNG_LEN) {
				printf("virtio-rng: bad completion %p len %u\n", (void *)p, len);
				return 1;
			}
			for (uint32_t k = 0; k < len; k++)
				nonzero += p[k] != 0;
			total += len;
			got++;
			left--;
		}
	}
	printf("virtio-rng: %llu bytes in %d buffers, %s ring, features ",
	       (unsigned long long)total, got,
	       virtqueue_layout(vq) == VQ_PACKED ? "packed" : "split");
	virtio_print_features(vd);
	virtio_reset(vd);
	virtio_del_vq(vd, vq);
	/* Random bytes are zero about 1 time in 256. */
	return !(total >= (uint64_t)rounds * RNG_BUFS && nonzero > total / 2);
}

static volatile unsigned rng_irqs;

static void rng_callback(struct virtqueue *vq)
{
	(void)vq;
	rng_irqs++;
}

KTEST(virtio_irq, "a virtio-rng completion arrives by MSI-X interrupt")
{
	static uint8_t b[64];
	struct virtio_device *vd = virtio_devices;
	struct virtqueue *vq;
	uint64_t t0, deadline;
	uint32_t len;
	int rc;

	while (vd && vd->id != VIRTIO_ID_RNG)
		vd = vd->next;
	if (!vd)
		return 1;
	if ((rc = virtio_negotiate(vd, 0)) ||
	    (rc = virtio_setup_vq(vd, 0, 64, rng_callback, &vq))) {
		printf("virtio-irq: set-up failed (%d)\n", rc);
		return 1;
	}
	virtio_device_ready(vd);
	virtqueue_enable_cb(vq);
	__asm__ volatile("sti");
	for (int round = 0; round < 4; round++) {
		unsigned before = rng_irqs;

		if (virtqueue_add_buf_single(vq, b, sizeof(b), VQ_IN, b))
			return 1;
		t0 = clock_ns();
		virtqueue_kick(vq);
		deadline = t0 + 2000000000ull;
		while (rng_irqs == before && clock_ns() < deadline)
			__asm__ volatile("pause");
		if (rng_irqs == before) {
			__asm__ volatile("cli");
			printf("virtio-irq: no interrupt within 2 s (mode %s)\n", vd->irq_mode);
			return 1;
		}
		if (virtqueue_get_buf(vq, &len) != b || len == 0) {
			__asm__ volatile("cli");
			printf("virtio-irq: interrupt but no buffer\n");
			return 1;
		}
		printf("virtio-irq: round %d: interrupt after %llu us, %u bytes\n", round,
		       (unsigned long long)((clock_ns() - t0) / 1000), len);
		virtqueue_enable_cb(vq);
	}
	__asm__ volatile("cli");
	printf("virtio-irq: %u interrupts via %s, %llu queue interrupts counted by the ring\n",
	       rng_irqs, vd->irq_mode, (unsigned long long)virtqueue_stats(vq)->interrupts);
	virtio_reset(vd);
	virtio_del_vq(vd, vq);
	return 0;
}

/* Fill n buffers from a started rng queue and wait for all by polling. Returns: 0 or 1. */
static int rng_roundtrip(struct virtqueue *vq, uint8_t (*b)[64], int n)
{
	uint64_t deadline = clock_ns() + 2000000000ull;
	uint32_t len;
	int got = 0;

	for (int i = 0; i < n; i++)
		if (virtqueue_add_buf_single(vq, b[i], 64, VQ_IN, b[i]))
			return 1;
	virtqueue_kick(vq);
	while (got < n && clock_ns() < deadline && !virtqueue_is_broken(vq))
		if (virtqueue_get_buf(vq, &len))
			got++;
	return got == n ? 0 : 1;
}

static unsigned recycled;

static void count_recycled(struct virtqueue *vq, void *token)
{
	(void)vq;
	(void)token;
	recycled++;
}

KTEST(virtio_queue_reset, "RING_RESET: reset a queue with buffers in it, shrink it, reuse")
{
	static uint8_t b[16][64];
	struct virtio_device *vd = virtio_find(VIRTIO_ID_RNG, 0);
	struct virtqueue *vq;
	int rc;

	if (!vd || virtio_negotiate(vd, 0) || virtio_setup_vq(vd, 0, 64, NULL, &vq))
		return 1;
	virtio_device_ready(vd);
	virtqueue_disable_cb(vq);
	if (rng_roundtrip(vq, b, 8))
		return 1;
	/* Four buffers the device has not seen (no kick): reset takes them back. */
	for (int i = 0; i < 4; i++)
		if (virtqueue_add_buf_single(vq, b[i], 64, VQ_IN, b[i]))
			return 1;
	rc = virtio_reset_vq(vq, 4, count_recycled);
	printf("virtio-reset: reset_vq -> %d, %u buffers recycled, queue now %u entries (%u "
	       "free)\n",
	       rc, recycled, virtqueue_num(vq), virtqueue_num_free(vq));
	if (rc == -EOPNOTSUPP) {
		virtio_reset(vd);
		virtio_del_vq(vd, vq);
		return !(vd->legacy || !virtio_has_feature(vd, VIRTIO_F_RING_RESET));
	}
	if (rc || recycled != 4 || virtqueue_num(vq) != 4 || virtqueue_num_free(vq) != 4)
		return 1;
	rc = rng_roundtrip(vq, b, 4) || rng_roundtrip(vq, b, 4);
	printf("virtio-reset: 2 x 4 buffers of entropy after the reset: %s\n", rc ? "no" : "yes");
	virtio_reset(vd);
	virtio_del_vq(vd, vq);
	return rc;
}

KTEST(virtio_needs_reset, "a device that flags DEVICE_NEEDS_RESET is noticed and recovered")
{
	static uint8_t b[8][64];
	struct virtio_device *vd = virtio_find(VIRTIO_ID_RNG, 0);
	struct virtqueue *vq;
	struct vq_ring_addrs a;
	volatile uint16_t *avail_idx;
	uint64_t deadline;

	if (!vd || virtio_negotiate(vd, 0) || virtio_setup_vq(vd, 0, 64, NULL, &vq))
		return 1;
	if (virtqueue_layout(vq) != VQ_SPLIT || vd->legacy) {
		printf("virtio-needs-reset: needs a modern device with a split ring\n");
		return 1;
	}
	virtio_device_ready(vd);
	virtqueue_disable_cb(vq);
	__asm__ volatile("sti");
	if (rng_roundtrip(vq, b, 4))
		return 1;
	/*
	 * Break the device on purpose: an available index that moved by more
	 * than the ring size is a driver error QEMU answers with NEEDS_RESET.
	 */
	if (virtqueue_add_buf_single(vq, b[0], 64, VQ_IN, b[0]))
		return 1;
	virtqueue_ring_addrs(vq, &a);
	avail_idx = (volatile uint16_t *)phys_to_virt(a.driver) + 1;
	*avail_idx = (uint16_t)(*avail_idx + 1000);
	virtqueue_kick(vq);
	deadline = clock_ns() + 2000000000ull;
	while (!virtio_needs_reset(vd) && clock_ns() < deadline)
		__asm__ volatile("pause");
	__asm__ volatile("cli");
	printf("virtio-needs-reset: needs reset %s, config interrupts %llu, queue %s\n",
	       virtio_needs_reset(vd) ? "yes" : "no", (unsigned long long)vd->config_irqs,
	       virtqueue_broken_reason(vq) ?: "fine");
	if (!virtio_needs_reset(vd) || !virtqueue_is_broken(vq) || virtqueue_get_buf(vq, NULL))
		return 1;
	/* Recovery is a device reset and a new bring-up (3.1.1). */
	virtio_reset(vd);
	virtio_del_vq(vd, vq);
	vd->ops->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	if (virtio_negotiate(vd, 0) || virtio_setup_vq(vd, 0, 64, NULL, &vq))
		return 1;
	virtio_device_ready(vd);
	virtqueue_disable_cb(vq);
	if (rng_roundtrip(vq, b, 8) || virtio_needs_reset(vd))
		return 1;
	printf("virtio-needs-reset: after a device reset 8 buffers of entropy again\n");
	virtio_reset(vd);
	virtio_del_vq(vd, vq);
	return 0;
}

static volatile unsigned config_events;

static void net_config_changed(struct virtio_device *vd)
{
	(void)vd;
	config_events++;
}

/* The host flips the link with the monitor's set_link; virtio-net says so by a config change. */
KTEST(virtio_config_irq, "a configuration change (virtio-net link) reaches the driver's hook")
{
	struct virtio_device *vd = virtio_find(VIRTIO_ID_NET, 0);
	uint64_t deadline;
	uint16_t status;

	if (!vd || virtio_negotiate(vd, VIRTIO_BIT(16) /* VIRTIO_NET_F_STATUS */))
		return 1;
	vd->config_changed = net_config_changed;
	virtio_device_ready(vd);
	virtio_config_read(vd, 6, &status, 2);
	printf("virtio-config: link %s, waiting for a configuration change\n",
	       status & 1 ? "up" : "down");
	__asm__ volatile("sti");
	deadline = clock_ns() + 30000000000ull;
	while (!config_events && clock_ns() < deadline) {
		virtio_poll(vd);	   /* in case it has no interrupts */
		__asm__ volatile("pause"); /* no timer interrupt yet: hlt could sleep forever */
	}
	__asm__ volatile("cli");
	virtio_config_read(vd, 6, &status, 2);
	printf("virtio-config: %u configuration interrupts via %s, link %s\n", config_events,
	       vd->irq_mode, status & 1 ? "up" : "down");
	virtio_reset(vd);
	return !(config_events && !(status & 1));
}
