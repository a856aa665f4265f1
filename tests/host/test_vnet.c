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

#include "vnet_fake_transport.h"
#include "vq_sim.h"

/* What the driver needs from the kernel and the transport, for the host. */
#include <kernel/clock.h>
#include <kernel/cmdline.h>
#include <kernel/kernel.h>
#include <kernel/page_alloc.h>
#include <virtio/virtio.h>
#include <virtio/virtio_net.h>

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

/* The command line: only net.fault, which the test sets. */
struct cmdline kernel_cmdline;
static const char *net_fault;

const char *cmdline_get(const struct cmdline *cl, const char *key)
{
	(void)cl;
	return strcmp(key, "net.fault") == 0 ? net_fault : NULL;
}

#define QSIZE 16

static struct vq_sim sims[3];
static struct virtqueue *vqs[3];
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
	if (vqs[index]) { /* set up again after a reset: the old queue goes */
		vq_sim_fini(&sims[index]);
		virtqueue_destroy(vqs[index]);
		vqs[index] = NULL;
	}
	vq_sim_init(&sims[index]);
	rc = virtqueue_create(&cfg, vqp);
	if (rc)
		return rc;
	vq_sim_attach(&sims[index], *vqp, vd->features);
	vqs[index] = *vqp;
	return 0;
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

static unsigned tx_done, link_downs, link_ups;

static void stack_tx_done(struct vnet_dev *dev, void *token)
{
	(void)dev;
	(void)token;
	tx_done++;
}

static void stack_link(struct vnet_dev *dev, bool up)
{
	(void)dev;
	if (up)
		link_ups++;
	else
		link_downs++;
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
	vnet_fake_offered = features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	vnet_ndevs = 0;
	frames_up = 0;
	pages_allocated = 0;
	alloc_fail = keep = false;
	nkept = 0;
	tx_done = link_downs = link_ups = 0;
	vnet_fake_reset_rc = 0;
	vnet_fake_del_vqs = vnet_fake_unsafe_del_vqs = 0;
	vnet_fake_vd.resets = 0;
	if (vnet_probe(&vnet_fake_vd))
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
	net_fault = NULL;
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

static int setup_announce(void **state)
{
	(void)state;
	return setup(VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
		     VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE));
}

/* The device asks for an announcement: the ack goes out and the poll does not wait for it. */
static void test_announce_ack_does_not_wait(void **state)
{
	struct virtio_net_ctrl_hdr hdr;
	struct vq_sim_buf *b;
	uint8_t ok = VIRTIO_NET_OK;
	uint64_t reads;

	(void)state;
	vnet_fake_config.status = VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE;
	dev->config_pending = true;
	reads = vnet_fake_clock_reads;
	vnet_poll(dev, 64);
	/* No busy wait: a handful of clock reads, not a second's worth. */
	assert_true(vnet_fake_clock_reads - reads < 10);
	assert_int_equal(dev->stats.announces, 1);
	assert_true(dev->announce_inflight);
	/* Another event before the device answered: no second ack. */
	dev->config_pending = true;
	vnet_poll(dev, 64);
	assert_int_equal(dev->stats.announces, 1);
	b = vq_sim_pop(&sims[2]);
	assert_non_null(b);
	assert_null(vq_sim_pop(&sims[2]));
	assert_int_equal(vq_sim_read(&sims[2], b, &hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(hdr.class, VIRTIO_NET_CTRL_ANNOUNCE);
	assert_int_equal(hdr.cmd, VIRTIO_NET_CTRL_ANNOUNCE_ACK);
	/* The device acks (and clears the bit); the next poll takes the answer. */
	vnet_fake_config.status = VIRTIO_NET_S_LINK_UP;
	vq_sim_complete(&sims[2], b, vq_sim_write(&sims[2], b, &ok, 1));
	vnet_poll(dev, 64);
	assert_false(dev->announce_inflight);
	assert_int_equal(dev->stats.ctrl_errors, 0);
	assert_non_null(dev->ctrlq);
	/* A device that never answers loses its control queue after 1 s, polls going on. */
	vnet_fake_config.status = VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE;
	dev->config_pending = true;
	vnet_poll(dev, 64);
	assert_true(dev->announce_inflight);
	vnet_fake_now_ns += 2000000000ull;
	vnet_poll(dev, 64);
	assert_null(dev->ctrlq);
	assert_int_equal(dev->stats.ctrl_errors, 1);
	vnet_fake_config.status = VIRTIO_NET_S_LINK_UP;
}

/* Device recovery (vnet_recover). */

static int setup_fault_rx(void **state)
{
	net_fault = "rx@3";
	return setup_mrg(state);
}

static int setup_fault_tx(void **state)
{
	net_fault = "tx@2";
	return setup_mrg(state);
}

/* One frame of len bytes from the stack; the device has it until it completes it. */
static void stack_xmit(uint32_t len, void *token)
{
	static uint8_t frame[1514];
	struct virtio_net_hdr h = {0};
	DECLARE_SG(sg, 1);

	memset(frame, 0x77, sizeof(frame));
	sg_add(sg, frame, len);
	assert_int_equal(vnet_xmit(dev, &h, sg, token), 0);
	vnet_tx_flush(dev);
}

/* The device sends what it was given: returns how many frames. */
static unsigned device_tx(void)
{
	struct vq_sim_buf *b;
	unsigned n = 0;

	while ((b = vq_sim_pop(&sims[VIRTIO_NET_TXQ])) != NULL) {
		vq_sim_complete(&sims[VIRTIO_NET_TXQ], b, 0);
		n++;
	}
	return n;
}

/* Every page is posted, free or held by the stack; the ring is full and working. */
static void check_pages_held(unsigned held)
{
	assert_int_equal(dev->rx_posted, QSIZE);
	assert_int_equal(dev->rx_pages, pages_allocated);
	assert_int_equal(dev->rx_pages_free + dev->rx_posted + held, dev->rx_pages);
	assert_false(virtqueue_is_broken(dev->rxq));
	assert_false(virtqueue_is_broken(dev->txq));
}

/* Traffic flows: a frame in, a frame out and back. */
static void check_traffic(void)
{
	struct virtio_net_hdr h = {.num_buffers = 1};
	uint32_t n = build(pkt, &h, 0x0806, 60);
	unsigned up = frames_up, done = tx_done;

	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 1);
	assert_int_equal(frames_up, up + 1);
	assert_memory_equal(last_frame, pkt + sizeof(h), 60);
	stack_xmit(60, pkt);
	assert_int_equal(device_tx(), 1);
	vnet_poll(dev, 64);
	assert_int_equal(tx_done, done + 1);
}

/*
 * A bad used entry on the receive ring (net.fault=rx@3): the device is
 * reset, the posted pages come back and are posted again, frames not sent
 * go back to the stack, the link goes down and up, traffic flows again.
 * Pages the stack holds stay its own and intact.
 */
static void test_recover_rx_fault(void **state)
{
	struct virtio_net_hdr h = {.num_buffers = 1};
	uint32_t n = build(pkt, &h, 0x0806, 60);
	struct vnet_rxbuf *held;
	uint8_t copy[60];

	(void)state;
	keep = true; /* the stack keeps the first frame's page */
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 1);
	keep = false;
	held = kept[0];
	memcpy(copy, held->data, 60);
	device_rx(pkt, n, 1);
	device_rx(pkt, n, 1);
	assert_int_equal(vnet_poll(dev, 64), 2);
	stack_xmit(100, pkt);
	stack_xmit(200, pkt + 1); /* the device never sends these two */
	assert_int_equal(vnet_fake_vd.resets, 0);

	device_rx(pkt, n, 1); /* read as a bad used entry */
	assert_int_equal(vnet_poll(dev, 64), 0);
	assert_int_equal(vnet_fake_vd.resets, 1);
	assert_int_equal(dev->stats.recoveries, 1);
	assert_int_equal(dev->stats.rx_taken_back, QSIZE);
	assert_int_equal(dev->stats.tx_taken_back, 2);
	assert_int_equal(tx_done, 2);
	assert_int_equal(link_downs, 1);
	assert_int_equal(link_ups, 1);
	assert_true(dev->link_up);
	assert_false(dev->dead);
	assert_int_equal(vnet_fake_del_vqs, 2);
	assert_int_equal(vnet_fake_unsafe_del_vqs, 0);
	assert_int_equal(dev->tx_inflight, 0);
	/* The held page was not on the ring: untouched, still the stack's. */
	assert_memory_equal(held->data, copy, 60);
	check_pages_held(1);

	check_traffic();
	check_traffic();
	assert_int_equal(vnet_fake_vd.resets, 1); /* the fault was injected once */
	rx_release_chain(held);
	vnet_poll(dev, 64);
	check_pages_held(0);
}

/* A bad used entry on the transmit ring (net.fault=tx@2). */
static void test_recover_tx_fault(void **state)
{
	(void)state;
	stack_xmit(60, pkt);
	stack_xmit(60, pkt + 1);
	assert_int_equal(device_tx(), 2);
	vnet_poll(dev, 64);
	assert_int_equal(tx_done, 2);
	stack_xmit(60, pkt + 2);
	assert_int_equal(device_tx(), 1); /* completed, but read as a bad entry */
	vnet_poll(dev, 64);
	assert_int_equal(vnet_fake_vd.resets, 1);
	assert_int_equal(tx_done, 3); /* the stack has its frame back */
	assert_int_equal(link_downs, 1);
	assert_int_equal(link_ups, 1);
	check_pages_held(0);
	check_traffic();
}

/*
 * DEVICE_NEEDS_RESET: the core marks the queues broken and calls the
 * configuration callback in interrupt context, which only takes note; the
 * next poll brings the device back.
 */
static void test_recover_needs_reset_from_interrupt(void **state)
{
	(void)state;
	virtqueue_mark_broken(dev->rxq, "device needs reset");
	virtqueue_mark_broken(dev->txq, "device needs reset");
	vnet_config_changed(&vnet_fake_vd);
	assert_true(dev->recover_pending);
	assert_int_equal(vnet_fake_vd.resets, 0);
	assert_int_equal(vnet_fake_del_vqs, 0);
	/* The stack sends meanwhile: refused, not queued on a broken ring. */
	{
		struct virtio_net_hdr h = {0};
		DECLARE_SG(sg, 1);

		sg_add(sg, pkt, 60);
		assert_int_equal(vnet_xmit(dev, &h, sg, pkt), -EIO);
	}
	vnet_poll(dev, 64);
	assert_int_equal(vnet_fake_vd.resets, 1);
	assert_false(dev->recover_pending);
	assert_int_equal(vnet_fake_unsafe_del_vqs, 0);
	check_pages_held(0);
	check_traffic();
}

/*
 * The reset does not complete: the device is given up and whatever it held
 * stays posted (never freed, never re-used), the old rings are not removed.
 */
static void test_recover_reset_fails(void **state)
{
	unsigned free_before = dev->rx_pages_free;

	(void)state;
	stack_xmit(60, pkt);
	vnet_fake_reset_rc = -EIO;
	virtqueue_mark_broken(dev->rxq, "test");
	vnet_poll(dev, 64);
	assert_true(dev->dead);
	assert_int_equal(vnet_fake_vd.resets, 1);
	assert_int_equal(vnet_fake_del_vqs, 0);
	assert_int_equal(dev->rx_posted, QSIZE); /* still the device's */
	assert_int_equal(dev->rx_pages_free, free_before);
	assert_int_equal(dev->tx_inflight, 1);
	assert_int_equal(tx_done, 0); /* the device may still read that frame */
	assert_int_equal(link_downs, 1);
	assert_int_equal(link_ups, 0);
	assert_int_equal(vnet_poll(dev, 64), 0);
	assert_int_equal(vnet_fake_vd.resets, 1); /* no second try */
	{
		struct virtio_net_hdr h = {0};
		DECLARE_SG(sg, 1);

		sg_add(sg, pkt, 60);
		assert_int_equal(vnet_xmit(dev, &h, sg, pkt), -EIO);
	}
}

/* After the reset the device offers other features: given up. */
static void test_recover_features_changed(void **state)
{
	(void)state;
	vnet_fake_offered &= ~VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4);
	virtqueue_mark_broken(dev->txq, "test");
	vnet_poll(dev, 64);
	assert_true(dev->dead);
	assert_int_equal(vnet_fake_vd.resets, 1);
	assert_int_equal(vnet_fake_del_vqs, 0);
	assert_int_equal(dev->rx_posted, 0); /* the reset completed: pages taken back */
	assert_int_equal(dev->rx_pages_free, dev->rx_pages);
	assert_int_equal(link_ups, 0);
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
		cmocka_unit_test_setup_teardown(test_announce_ack_does_not_wait, setup_announce,
						teardown),
		cmocka_unit_test_setup_teardown(test_recover_rx_fault, setup_fault_rx, teardown),
		cmocka_unit_test_setup_teardown(test_recover_tx_fault, setup_fault_tx, teardown),
		cmocka_unit_test_setup_teardown(test_recover_needs_reset_from_interrupt, setup_mrg,
						teardown),
		cmocka_unit_test_setup_teardown(test_recover_reset_fails, setup_mrg, teardown),
		cmocka_unit_test_setup_teardown(test_recover_features_changed, setup_mrg, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
