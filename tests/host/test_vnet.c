/*
 * Host tests of the virtio-net driver's receive path against a hostile
 * device: drivers/virtio/devices/net.c, unchanged, on the real virtqueue core with
 * the simulated device (vq_sim) writing whatever it likes into the posted
 * buffers. Every bad frame must be counted and dropped, its pages posted
 * again, and good frames must still come through. And both ways against
 * vq_sim's strict device (test_strict_device: no kick or interrupt lost at
 * any quiet point), split and packed, with and without EVENT_IDX.
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
#include <lib/cmdline.h>
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
static bool strict_on; /* test_strict_device: queues start in vq_sim's strict mode */
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
	vq_sim_set_strict(&sims[index], strict_on);
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
static uint32_t rx_seq_up; /* strict: the sequence number the next frame must carry */

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
	if (strict_on) { /* frames come up once each, in the order the device used them */
		uint32_t seq;

		memcpy(&seq, last_frame + 20, sizeof(seq));
		if (seq != rx_seq_up)
			fail_msg("frame %u came up, expected %u", seq, rx_seq_up);
		rx_seq_up++;
	}
}

static unsigned tx_done, link_downs, link_ups;

struct txf; /* test_strict_device's frames */
static void txf_done(struct txf *f);

static void stack_tx_done(struct vnet_dev *dev, void *token)
{
	(void)dev;
	tx_done++;
	if (strict_on)
		txf_done(token);
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
	vq_sim_set_mb_hook(NULL, NULL); /* a failed strict run may have left its hook */
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
 * The ring fills before the slots do (two descriptors a frame): vnet_xmit
 * reclaims and tries again, and the slots the reclaim freed stay free.
 */
static void test_tx_ring_full_keeps_slots(void **state)
{
	unsigned nfree = 0;

	(void)state;
	for (unsigned i = 0; i < QSIZE / 2; i++)
		stack_xmit(60, pkt + i);
	assert_int_equal(virtqueue_num_free(dev->txq), 0);
	assert_int_equal(device_tx(), QSIZE / 2);
	stack_xmit(60, pkt + QSIZE); /* ring full: reclaims, then goes */
	assert_int_equal(tx_done, QSIZE / 2);
	assert_int_equal(dev->tx_inflight, 1);
	for (struct vnet_txslot *t = dev->tx_free; t; t = t->next)
		nfree++;
	assert_int_equal(nfree, dev->tx_nslots - 1);
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

/*
 * The driver against the strict device (vq_sim strict mode), as net/net.c
 * drives it: net_poll (vnet_poll, then vnet_tx_flush) and net_idle (the
 * receive queue's callback enabled around a halt that only an interrupt
 * ends early). The device looks at a ring only after a kick, publishes its
 * event and looks again before it sleeps, receives frames from the wire
 * into the buffers it popped, sends what it popped, completes in any order
 * whenever it likes (also at the ring code's full barriers) and interrupts
 * only when the driver's flags or event allow it, reaching the driver only
 * between its calls. At every quiet point: no lost kick (nothing available
 * while the device sleeps), no lost interrupt (a halt with a frame used on
 * the receive ring ended by an interrupt), every frame of the wire up in
 * order, every frame sent completed.
 */
static uint64_t srng = 0x9e3779b97f4a7c15ull;

static uint32_t srnd(uint32_t n)
{
	srng ^= srng << 13;
	srng ^= srng >> 7;
	srng ^= srng << 17;
	return n ? (uint32_t)(srng % n) : 0;
}

#define NTXF 48

struct txf {
	bool busy;
	uint32_t len;
	uint8_t frame[1514];
};

static struct txf txfs[NTXF];
static unsigned tx_sent, tx_wait;	/* accepted by vnet_xmit; refused, to send again */
static uint32_t wire_seq, wire_backlog; /* frames the wire brought, not yet in a buffer */
static uint64_t s_halts, s_halt_irqs, s_quiet;

static void txf_done(struct txf *f)
{
	assert_true(f >= txfs && f < txfs + NTXF && f->busy);
	f->busy = false;
}

/* The stack sends one frame; false when the driver refused it (ring full). */
static bool s_xmit(void)
{
	struct virtio_net_hdr h = {0};
	struct txf *f = NULL;
	DECLARE_SG(sg, 1);
	int rc;

	for (unsigned i = 0; i < NTXF && !f; i++)
		if (!txfs[i].busy)
			f = &txfs[i];
	if (!f)
		return false;
	f->len = 60 + srnd(1455);
	memset(f->frame, 0x77, f->len);
	sg_add(sg, f->frame, f->len);
	f->busy = true;
	rc = vnet_xmit(dev, &h, sg, f);
	if (rc) {
		assert_int_equal(rc, -ENOSPC);
		f->busy = false;
		return false;
	}
	tx_sent++;
	return true;
}

/* net_poll: receive, reclaim, send what waited, notify. Returns: frames up. */
static unsigned s_poll(void)
{
	unsigned n = vnet_poll(dev, 1 + srnd(64));

	while (tx_wait && s_xmit())
		tx_wait--;
	vnet_tx_flush(dev);
	return n;
}

/* The device receives the next frame of the wire into a buffer it popped. */
static bool dev_rx_one(void)
{
	struct vq_sim *s = &sims[VIRTIO_NET_RXQ];
	struct virtio_net_hdr h = {.num_buffers = 1};
	struct vq_sim_buf *b;
	uint32_t n;

	if (!wire_backlog || !s->ninflight)
		return false;
	b = vq_sim_inflight(s, srnd(s->ninflight));
	n = build(pkt, &h, 0x0806, 60 + srnd(1455));
	memcpy(pkt + sizeof(h) + 20, &wire_seq, sizeof(wire_seq));
	assert_true(b->in_len >= n);
	vq_sim_complete(s, b, vq_sim_write(s, b, pkt, n));
	wire_seq++;
	wire_backlog--;
	return true;
}

static void dev_tx_one(uint32_t k)
{
	struct vq_sim *s = &sims[VIRTIO_NET_TXQ];
	struct vq_sim_buf *b = vq_sim_inflight(s, k);

	assert_true(b->out_len >= dev->hdr_len + 60 && b->in_len == 0);
	vq_sim_complete(s, b, 0);
}

static void dev_step(void)
{
	struct vq_sim *rx = &sims[VIRTIO_NET_RXQ], *tx = &sims[VIRTIO_NET_TXQ];

	switch (srnd(6)) {
	case 0: vq_sim_service(rx, 1 + srnd(8)); break;
	case 1: vq_sim_service(tx, 1 + srnd(8)); break;
	case 2:
		for (uint32_t n = srnd(5); n && dev_rx_one(); n--)
			;
		vq_sim_signal(rx);
		break;
	case 3:
		for (uint32_t n = srnd(tx->ninflight + 1); n && tx->ninflight; n--)
			dev_tx_one(srnd(tx->ninflight));
		vq_sim_signal(tx);
		break;
	case 4: wire_backlog += srnd(4); break;
	default:
		vq_sim_signal(rx);
		vq_sim_signal(tx);
		break;
	}
}

static void dev_hook(void *arg)
{
	(void)arg;
	if (srnd(3) == 0)
		dev_step();
}

/* Interrupts reach the driver here only, between its calls. */
static void s_deliver(void)
{
	vq_sim_deliver(&sims[VIRTIO_NET_RXQ]);
	vq_sim_deliver(&sims[VIRTIO_NET_TXQ]);
}

/* The device does all it can, then sleeps: nothing may wait on a ring for a kick. */
static void dev_quiesce(void)
{
	for (bool busy = true; busy;) {
		busy = false;
		for (unsigned qi = 0; qi < 2; qi++) {
			struct vq_sim *s = &sims[qi];

			if (s->awake)
				busy |= vq_sim_service(s, 8) > 0 || s->awake;
		}
		while (sims[VIRTIO_NET_TXQ].ninflight) {
			dev_tx_one(0);
			busy = true;
		}
		while (dev_rx_one())
			busy = true;
		for (unsigned qi = 0; qi < 2; qi++) {
			vq_sim_signal(&sims[qi]);
			busy |= vq_sim_deliver(&sims[qi]);
		}
	}
	for (unsigned qi = 0; qi < 2; qi++)
		if (vq_sim_pending(&sims[qi]))
			fail_msg("%s queue: lost kick: %u buffers available, the device sleeps",
				 qi == VIRTIO_NET_RXQ ? "receive" : "transmit",
				 vq_sim_pending(&sims[qi]));
}

/*
 * Halted with the receive queue's callback on: a frame used, the device's
 * interrupt decision made for it, and no interrupt delivered or on its way
 * is a lost interrupt (the kernel would sleep on a received frame).
 */
static void halt_check(uint64_t irqs)
{
	struct vq_sim *s = &sims[VIRTIO_NET_RXQ];

	if (dev->stats.rx_irqs == irqs && !s->irq_pending && s->signalled == s->used_ctr &&
	    virtqueue_more_used(dev->rxq))
		fail_msg("lost interrupt: a frame used, the callback on, no interrupt");
}

/*
 * net_idle: a poll, and when it found nothing, the receive queue's
 * callback on and a halt of up to steps device steps that an interrupt
 * ends; then the device does all it can, and an interrupt must have come
 * for any frame it used.
 */
static void s_idle(unsigned steps)
{
	uint64_t irqs;

	if (s_poll() || virtqueue_more_used(dev->rxq))
		return;
	if (srnd(2))
		dev_step(); /* the device goes on between the look and the enabling */
	irqs = dev->stats.rx_irqs;
	if (virtqueue_enable_cb(dev->rxq)) {
		s_halts++;
		for (unsigned i = 0; i < steps && dev->stats.rx_irqs == irqs; i++) {
			vq_sim_signal(&sims[VIRTIO_NET_RXQ]);
			halt_check(irqs);
			dev_step();
			s_deliver();
		}
		if (dev->stats.rx_irqs == irqs) {
			vq_sim_signal(&sims[VIRTIO_NET_RXQ]);
			halt_check(irqs);
			dev_quiesce();
			halt_check(irqs);
		}
		s_halt_irqs += dev->stats.rx_irqs != irqs;
	}
	virtqueue_disable_cb(dev->rxq);
}

/* A quiet point: device and driver work until the wire is empty and all is sent. */
static void s_quiet_point(void)
{
	unsigned round = 0, nfree;

	s_quiet++;
	for (;;) {
		dev_quiesce();
		s_poll();
		if (!wire_backlog && !tx_wait && !virtqueue_more_used(dev->rxq) &&
		    tx_done == tx_sent)
			break;
		if (++round > 1000)
			fail_msg("no progress: %u frames on the wire, %u of %u sent completed, "
				 "%u waiting",
				 wire_backlog, tx_done, tx_sent, tx_wait);
	}
	assert_int_equal(rx_seq_up, wire_seq);
	assert_int_equal(dev->rx_posted, QSIZE);
	assert_int_equal(dev->tx_inflight, 0);
	nfree = 0;
	for (struct vnet_txslot *t = dev->tx_free; t; t = t->next)
		nfree++;
	if (nfree != dev->tx_nslots)
		fail_msg("%u of %u transmit slots free with none in flight", nfree, dev->tx_nslots);
	assert_false(virtqueue_is_broken(dev->rxq) || virtqueue_is_broken(dev->txq));
	s_idle(0); /* and the halt after it: the callback on, the device quiet */
}

static void strict_run(const char *name, uint64_t ring)
{
	uint64_t kicks[2], irqs[2], sleeps[2];

	strict_on = true;
	rx_seq_up = wire_seq = wire_backlog = 0;
	tx_sent = tx_wait = 0;
	s_halts = s_halt_irqs = s_quiet = 0;
	memset(txfs, 0, sizeof(txfs));
	assert_int_equal(setup(VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			       VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | ring),
			 0);
	assert_int_equal(dev->vd->features & (VIRTIO_BIT(VIRTIO_F_RING_PACKED) |
					      VIRTIO_BIT(VIRTIO_F_EVENT_IDX)),
			 ring);
	vq_sim_set_mb_hook(dev_hook, NULL);
	for (unsigned step = 0; step < 8000; step++) {
		unsigned r = srnd(10);

		if (r < 2) {
			for (unsigned k = 1 + srnd(8); k; k--)
				if (!s_xmit())
					tx_wait++;
			vnet_tx_flush(dev);
		} else if (r == 2) {
			wire_backlog += 1 + srnd(6);
		} else if (r == 3) {
			s_poll();
		} else if (r == 4) {
			s_deliver();
		} else if (r == 5) {
			s_idle(srnd(20));
		} else if (r == 6 && srnd(32) == 0) {
			s_quiet_point();
		} else {
			dev_step();
		}
	}
	s_quiet_point();
	vq_sim_set_mb_hook(NULL, NULL);
	for (unsigned qi = 0; qi < 2; qi++) {
		kicks[qi] = sims[qi].kicks;
		irqs[qi] = sims[qi].interrupts;
		sleeps[qi] = sims[qi].sleeps;
	}
	assert_true(wire_seq > 1000 && tx_sent > 1000 && s_halt_irqs > 0);
	assert_true(sleeps[0] > 0 && sleeps[1] > 0);
	print_message("%s: %u frames received, %u sent; kicks rx %llu tx %llu; interrupts rx "
		      "%llu tx %llu; device sleeps rx %llu tx %llu; %llu halts, %llu ended by "
		      "interrupt; %llu quiet points\n",
		      name, wire_seq, tx_sent, (unsigned long long)kicks[0],
		      (unsigned long long)kicks[1], (unsigned long long)irqs[0],
		      (unsigned long long)irqs[1], (unsigned long long)sleeps[0],
		      (unsigned long long)sleeps[1], (unsigned long long)s_halts,
		      (unsigned long long)s_halt_irqs, (unsigned long long)s_quiet);
	strict_on = false;
	teardown(NULL);
}

static void test_strict_device(void **state)
{
	(void)state;
	strict_run("split", 0);
	strict_run("split, EVENT_IDX", VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	strict_run("packed", VIRTIO_BIT(VIRTIO_F_RING_PACKED));
	strict_run("packed, EVENT_IDX",
		   VIRTIO_BIT(VIRTIO_F_RING_PACKED) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
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
		cmocka_unit_test_setup_teardown(test_tx_ring_full_keeps_slots, setup_mrg, teardown),
		cmocka_unit_test(test_strict_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
