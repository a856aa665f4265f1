/*
 * Host tests of the virtio-net driver's receive path against a hostile
 * device: drivers/virtio/devices/net.c, unchanged, on the real virtqueue core with
 * the simulated device (vq_sim) writing whatever it likes into the posted
 * buffers. Every bad frame must be counted and dropped, its pages posted
 * again, and good frames must still come through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vq_sim.h"

/* What the driver needs from the kernel and the transport, for the host. */
#include <kernel/clock.h>
#include <kernel/kernel.h>
#include <kernel/page_alloc.h>
#include <virtio/virtio.h>
#include <virtio/virtio_net.h>

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned pages_allocated;
static bool alloc_fail;	  /* the page allocator is out of memory */
static void *pages[4096]; /* every page handed out, freed by teardown */

void *alloc_pages(uint64_t n)
{
	void *p = alloc_fail || pages_allocated == 4096 ? NULL : aligned_alloc(4096, n * 4096);

	if (p) {
		memset(p, 0, n * 4096);
		pages[pages_allocated] = p;
		pages_allocated += (unsigned)n;
	}
	return p;
}

#define QSIZE 16

static struct vq_sim sims[3];
static struct virtqueue *vqs[3];
static uint64_t offered;
static struct virtio_net_config config = {
	.mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56},
	.status = VIRTIO_NET_S_LINK_UP,
};

static uint64_t fake_device_features(struct virtio_device *vd)
{
	(void)vd;
	return offered;
}

static const struct virtio_transport_ops fake_ops = {
	.device_features = fake_device_features,
};

int virtio_reset(struct virtio_device *vd)
{
	(void)vd;
	return 0;
}

void virtio_del_vq(struct virtio_device *vd, struct virtqueue *vq)
{
	(void)vd;
	virtqueue_destroy(vq);
}

static struct virtio_device fake_vd = {.id = VIRTIO_ID_NET, .name = "fake-net", .ops = &fake_ops};

int virtio_negotiate(struct virtio_device *vd, uint64_t wanted)
{
	vd->features = offered & (wanted | VIRTIO_BIT(VIRTIO_F_VERSION_1));
	return 0;
}

int virtio_setup_vq(struct virtio_device *vd, unsigned index, uint32_t max_size,
		    vq_callback_t callback, struct virtqueue **vqp)
{
	struct vq_config cfg = {.name = "fake",
				.index = (uint16_t)index,
				.num = QSIZE,
				.features = vd->features,
				.callback = callback,
				.notify = vq_sim_notify,
				.priv = &sims[index]};
	int rc;

	(void)max_size;
	vq_sim_init(&sims[index]);
	rc = virtqueue_create(&cfg, vqp);
	if (rc)
		return rc;
	vq_sim_attach(&sims[index], *vqp, vd->features);
	vqs[index] = *vqp;
	return 0;
}

void virtio_config_read(struct virtio_device *vd, unsigned off, void *buf, unsigned len)
{
	(void)vd;
	memcpy(buf, (uint8_t *)&config + off, len);
}

void virtio_device_ready(struct virtio_device *vd)
{
	(void)vd;
}

struct virtio_device *virtio_vq_device(struct virtqueue *vq)
{
	(void)vq;
	return &fake_vd;
}

void virtio_poll(struct virtio_device *vd)
{
	(void)vd;
}

/* The driver itself, statics included. */
#include "../../drivers/virtio/devices/net.c"

/* The stack: counts frames, keeps the last one, gives the pages back. */
static unsigned frames_up;
static bool keep;		    /* the stack holds on to the frames */
static struct vnet_rxbuf *kept[64]; /* ... here */
static unsigned nkept;
static struct vnet_rx_info last_info;
static uint8_t last_frame[70000];

static void stack_rx(struct vnet_dev *dev, struct vnet_rxbuf *b, const struct vnet_rx_info *info)
{
	uint32_t off = 0;

	(void)dev;
	frames_up++;
	last_info = *info;
	if (keep) {
		assert_true(nkept < 64);
		kept[nkept++] = b;
		return;
	}
	while (b) {
		struct vnet_rxbuf *next = b->next;

		assert_true(off + b->len <= sizeof(last_frame));
		memcpy(last_frame + off, b->data, b->len);
		off += b->len;
		vnet_rxbuf_release(b);
		b = next;
	}
	assert_int_equal(off, info->len);
}

static void stack_tx_done(struct vnet_dev *dev, void *token)
{
	(void)dev;
	(void)token;
}

static void stack_link(struct vnet_dev *dev, bool up)
{
	(void)dev;
	(void)up;
}

static void stack_announce(struct vnet_dev *dev)
{
	(void)dev;
}

static const struct vnet_stack_ops stack_ops = {stack_rx, stack_tx_done, stack_link,
						stack_announce};

static struct vnet_dev *dev;

static int setup(uint64_t features)
{
	offered = features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	vnet_ndevs = 0;
	frames_up = 0;
	pages_allocated = 0;
	alloc_fail = keep = false;
	nkept = 0;
	if (vnet_probe(&fake_vd))
		return -1;
	dev = vnet_get(0);
	return vnet_attach(dev, &stack_ops, NULL);
}

static int setup_mrg(void **state)
{
	(void)state;
	return setup(VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
		     VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
		     VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4));
}

static int setup_small(void **state)
{
	(void)state;
	return setup(VIRTIO_BIT(VIRTIO_NET_F_MAC));
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++) {
		if (vqs[i]) {
			vq_sim_fini(&sims[i]);
			virtqueue_destroy(vqs[i]);
			vqs[i] = NULL;
		}
	}
	/* The driver never gives its pool back to the kernel; the test does. */
	for (unsigned i = 0; i < pages_allocated; i++)
		free(pages[i]);
	free(dev->tx_slots);
	free(dev->ctrl);
	free(dev);
	return 0;
}

/* The device fills the next n posted buffers: data spread over them, used lengths given. */
static void device_rx(const void *data, uint32_t len, unsigned nbufs)
{
	const uint8_t *p = data;

	for (unsigned i = 0; i < nbufs; i++) {
		struct vq_sim_buf *b = vq_sim_pop(&sims[VIRTIO_NET_RXQ]);
		uint32_t n;

		assert_non_null(b);
		n = i + 1 == nbufs ? len : (uint32_t)(b->in_len < len ? b->in_len : len);
		n = vq_sim_write(&sims[VIRTIO_NET_RXQ], b, p, n);
		vq_sim_complete(&sims[VIRTIO_NET_RXQ], b, n);
		p += n;
		len -= n;
	}
}

/* A frame after its header: Ethernet type, then IPv4/TCP if type is 0x0800. */
static uint32_t build(uint8_t *buf, struct virtio_net_hdr *h, uint16_t type, uint32_t frame_len)
{
	uint8_t *f = buf + sizeof(*h);

	memcpy(buf, h, sizeof(*h));
	memset(f, 0, frame_len);
	memset(f, 0xff, 6);
	f[12] = (uint8_t)(type >> 8);
	f[13] = (uint8_t)type;
	if (type == 0x0800 && frame_len >= 54) {
		f[14] = 0x45;
		f[16] = (uint8_t)((frame_len - 14) >> 8);
		f[17] = (uint8_t)(frame_len - 14);
		f[23] = 6; /* TCP */
		f[14 + 20 + 12] = 0x50;
	}
	for (uint32_t i = 54; i < frame_len; i++)
		f[i] = (uint8_t)i;
	return (uint32_t)sizeof(*h) + frame_len;
}

/* After a poll the ring is full again and every page is posted or free: none leaked or lost. */
static void check_pages(void)
{
	unsigned ppb = dev->mergeable ? 1 : dev->rx_pages_per_buf;

	assert_int_equal(dev->rx_posted, QSIZE);
	assert_int_equal(dev->rx_pages, pages_allocated);
	assert_int_equal(dev->rx_pages_free + dev->rx_posted * ppb, dev->rx_pages);
	assert_false(virtqueue_is_broken(dev->rxq));
}

static uint8_t pkt[70000];

static void test_good_frames(void **state)
{
	struct virtio_net_hdr h = {.num_buffers = 1};
	uint32_t n;

	(void)state;
	n = build(pkt, &h, 0x0806, 60);
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 1);
	assert_int_equal(frames_up, 1);
	assert_int_equal(last_info.len, 60);
	assert_memory_equal(last_frame, pkt + sizeof(h), 60);
	assert_false(last_info.csum_ok);

	/* 7000 bytes of frame over two merged buffers (GUEST_TSO4 frame). */
	h.num_buffers = 2;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1448;
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 34;
	h.csum_offset = 16;
	n = build(pkt, &h, 0x0800, 7000);
	device_rx(pkt, n, 2);
	assert_int_equal(vnet_poll(dev, 64), 1);
	assert_int_equal(last_info.len, 7000);
	assert_int_equal(last_info.nbufs, 2);
	assert_true(last_info.csum_ok && last_info.csum_needed);
	assert_int_equal(last_info.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_memory_equal(last_frame, pkt + sizeof(h), 7000);
	check_pages();
}

static void test_runt(void **state)
{
	struct virtio_net_hdr h = {.num_buffers = 1};

	(void)state;
	build(pkt, &h, 0x0806, 60);
	device_rx(pkt, sizeof(h) + 13, 1); /* one byte short of an Ethernet header */
	device_rx(pkt, 4, 1);		   /* not even a virtio header */
	assert_int_equal(vnet_poll(dev, 64), 0);
	assert_int_equal(frames_up, 0);
	assert_int_equal(dev->stats.rx_runt, 2);
	check_pages();
}

static void test_bad_num_buffers(void **state)
{
	struct virtio_net_hdr h = {0};
	uint32_t n;

	(void)state;
	h.num_buffers = 0;
	n = build(pkt, &h, 0x0806, 60);
	device_rx(pkt, n, 1);
	h.num_buffers = 1000; /* more than the ring */
	n = build(pkt, &h, 0x0806, 60);
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 0);
	assert_int_equal(dev->stats.rx_bad_nbufs, 2);
	/* Three announced, one used: nothing more comes. */
	h.num_buffers = 3;
	n = build(pkt, &h, 0x0806, 60);
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 0);
	assert_int_equal(dev->stats.rx_bad_nbufs, 3);
	assert_int_equal(frames_up, 0);
	check_pages();
	/* And the next good frame still comes through. */
	h.num_buffers = 1;
	n = build(pkt, &h, 0x0806, 60);
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 1);
	check_pages();
}

static void test_csum_flags(void **state)
{
	struct virtio_net_hdr h = {.num_buffers = 1,
				   .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				   .csum_start = 34,
				   .csum_offset = 16};
	uint32_t n;

	(void)state;
	n = build(pkt, &h, 0x0806, 60); /* ARP with a checksum to finish */
	device_rx(pkt, n, 1);
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID; /* "verified" ARP */
	n = build(pkt, &h, 0x0806, 60);
	device_rx(pkt, n, 1);
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_offset = 6; /* UDP's offset on a TCP segment */
	n = build(pkt, &h, 0x0800, 100);
	device_rx(pkt, n, 1);
	h.csum_offset = 16;
	h.csum_start = 90; /* checksum field past the end */
	n = build(pkt, &h, 0x0800, 100);
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 0);
	assert_int_equal(dev->stats.rx_bad_csum_flag, 4);
	h.csum_start = 34;
	n = build(pkt, &h, 0x0800, 100);
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 1);
	assert_true(last_info.csum_ok);
	check_pages();
}

static void test_too_long_and_gso(void **state)
{
	struct virtio_net_hdr h = {.num_buffers = 2};
	uint32_t n;

	(void)state;
	n = build(pkt, &h, 0x0800, 6000); /* beyond MTU + headers, and not GSO */
	device_rx(pkt, n, 2);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; /* not negotiated */
	n = build(pkt, &h, 0x0800, 6000);
	device_rx(pkt, n, 2);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN; /* ECN not negotiated */
	n = build(pkt, &h, 0x0800, 6000);
	device_rx(pkt, n, 2);
	assert_int_equal(vnet_poll(dev, 64), 0);
	assert_int_equal(dev->stats.rx_too_long, 1);
	assert_int_equal(dev->stats.rx_bad_gso, 2);
	check_pages();
}

static void test_ring_empty_is_a_drop_not_a_hang(void **state)
{
	struct virtio_net_hdr h = {.num_buffers = 1};
	uint32_t n = build(pkt, &h, 0x0806, 60);

	(void)state;
	/* The stack keeps every frame and no page is left: the ring runs dry. */
	keep = true;
	alloc_fail = true;
	for (unsigned i = 0; i < QSIZE; i++)
		device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), QSIZE);
	assert_int_equal(dev->rx_posted, 0);
	assert_true(dev->stats.rx_no_page > 0);
	assert_null(vq_sim_pop(&sims[VIRTIO_NET_RXQ])); /* the device finds nothing: it drops */
	assert_int_equal(vnet_poll(dev, 64), 0);	/* returns, counts */
	assert_true(dev->stats.rx_ring_empty >= 1);
	/* The stack lets go: the next poll posts the pages again and frames flow. */
	keep = false;
	for (unsigned i = 0; i < nkept; i++)
		rx_release_chain(kept[i]);
	vnet_poll(dev, 64);
	check_pages();
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 1);
	check_pages();
}

static void test_small_buffers(void **state)
{
	struct virtio_net_hdr h = {0};
	uint32_t n;

	(void)state;
	assert_false(dev->mergeable);
	assert_int_equal(dev->rx_pages_per_buf, 1);
	n = build(pkt, &h, 0x0806, 1514);
	device_rx(pkt, n, 1);
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID; /* no GUEST_CSUM: never believed */
	n = build(pkt, &h, 0x0800, 100);
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 1);
	assert_int_equal(last_info.len, 1514);
	assert_int_equal(dev->stats.rx_bad_csum_flag, 1);
	check_pages();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_frames, setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_runt, setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_bad_num_buffers, setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_csum_flags, setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_too_long_and_gso, setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_ring_empty_is_a_drop_not_a_hang, setup_mrg,
						teardown),
		cmocka_unit_test_setup_teardown(test_small_buffers, setup_small, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
