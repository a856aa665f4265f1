/* A fake virtio transport and kernel for the virtio-net driver's host tests (vnet_fake_transport.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <kernel/clock.h>
#include <kernel/kernel.h>
#include <kernel/random.h>

#include "vnet_fake_transport.h"

uint64_t vnet_fake_now_ns = 1000000000ull;
uint64_t vnet_fake_clock_reads;

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

/* Not random: the host tests want repeatable runs. */
void random_bytes(void *buf, size_t len)
{
	memset(buf, 0x5a, len);
}

uint64_t clock_ns(void)
{
	vnet_fake_clock_reads++;
	return vnet_fake_now_ns += 1000;
}

uint64_t vnet_fake_offered;
struct virtio_net_config vnet_fake_config = {
	.mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56},
	.status = VIRTIO_NET_S_LINK_UP,
};

static uint64_t fake_device_features(struct virtio_device *vd)
{
	(void)vd;
	return vnet_fake_offered;
}

static const struct virtio_transport_ops fake_ops = {
	.device_features = fake_device_features,
};

/*
 * The core's device reset and queue removal (drivers/virtio/virtio.c). A
 * queue removed while the device may still use it (no reset completed since
 * DRIVER_OK) is counted in vnet_fake_unsafe_del_vqs.
 */
int vnet_fake_reset_rc;
unsigned vnet_fake_del_vqs, vnet_fake_unsafe_del_vqs;
static bool device_live;

int virtio_reset(struct virtio_device *vd)
{
	(void)vd;
	if (vnet_fake_reset_rc)
		return vnet_fake_reset_rc;
	device_live = false;
	return 0;
}

int virtio_restart(struct virtio_device *vd)
{
	vd->resets++;
	return virtio_reset(vd);
}

void virtio_del_vq(struct virtio_device *vd, struct virtqueue *vq)
{
	(void)vd;
	(void)vq; /* the test's queues are the test's to free */
	vnet_fake_del_vqs++;
	if (device_live)
		vnet_fake_unsafe_del_vqs++;
}

struct virtio_device vnet_fake_vd = {.id = VIRTIO_ID_NET, .name = "fake-net", .ops = &fake_ops};

/* As the core: the ring features are the transport's to ask for, the driver's are added. */
int virtio_negotiate(struct virtio_device *vd, uint64_t wanted)
{
	vd->features = vnet_fake_offered &
		       (wanted | VIRTIO_RING_FEATURES | VIRTIO_BIT(VIRTIO_F_VERSION_1));
	return 0;
}

void virtio_config_read(struct virtio_device *vd, unsigned off, void *buf, unsigned len)
{
	(void)vd;
	memcpy(buf, (uint8_t *)&vnet_fake_config + off, len);
}

void virtio_device_ready(struct virtio_device *vd)
{
	(void)vd;
	device_live = true;
}

struct virtio_device *virtio_vq_device(struct virtqueue *vq)
{
	(void)vq;
	return &vnet_fake_vd;
}

void virtio_poll(struct virtio_device *vd)
{
	(void)vd;
}
