/*
 * virtio-net driver (VIRTIO 1.2 section 5.1): feature negotiation, receive
 * buffers posted ahead and handed up without a copy, transmit from the
 * stack's own memory, link status and announcements from the configuration
 * interrupt, and receive filtering through the control queue.
 *
 * Receive buffers are 4 KiB pages (include/virtio/net.h): with MRG_RXBUF
 * one page per buffer and a frame spans num_buffers of them (5.1.6.3.2);
 * without it, a buffer chains enough pages for the largest frame the
 * device may send (5.1.6.3.1: 65562 bytes with GUEST_TSO, else MTU).
 * Everything the device wrote is checked before the stack sees it
 * (5.1.6.4): lengths, num_buffers, GSO type, checksum flags. A ring the
 * device breaks is brought back by a device reset from the poll loop
 * (vnet_recover).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/kernel.h>
#include <kernel/page_alloc.h>
#include <kernel/random.h>
#include <virtio/net.h>

#define VNET_MAX_DEVS	    4
#define VNET_RX_MAX_PAGES   17u /* 65562 bytes of header and frame in 3968-byte pages */
#define VNET_TX_KICK_BATCH  32u
#define VNET_CTRL_TIMEOUT   1000000000ull /* 1 s for the device to answer a command */
#define VNET_CONFIG_POLL_NS 10000000ull	  /* 10 ms: a polled device's ISR is read this often */
#define ETH_HLEN	    14u
#define VLAN_HLEN	    4u
#define ETHTYPE_IPV4	    0x0800
#define ETHTYPE_IPV6	    0x86dd
#define IPPROTO_TCP	    6
#define IPPROTO_UDP	    17

/* The features this driver can use; the rest of what the device offers is declined. */
#define VNET_FEATURES                                                                \
	(VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |            \
	 VIRTIO_BIT(VIRTIO_NET_F_MTU) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |         \
	 VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |       \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | \
	 VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) |   \
	 VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX) |       \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE) | VIRTIO_BIT(VIRTIO_F_ANY_LAYOUT))

struct vnet_txslot {
	struct virtio_net_hdr hdr; /* the device reads it: lives until the buffer is used */
	void *token;
	struct vnet_txslot *next;
};

/*
 * Control queue command buffers: the device reads out, writes ack. The
 * announcement's ack has its own, answered while the poll loop goes on.
 */
struct vnet_ctrl_buf {
	struct virtio_net_ctrl_hdr hdr;
	uint8_t ack;
	uint8_t data[2 * sizeof(struct virtio_net_ctrl_mac) + (1 + VNET_MAX_MULTICAST) * 6];
	struct virtio_net_ctrl_hdr ann_hdr;
	uint8_t ann_ack;
};

static struct vnet_dev *vnet_devs[VNET_MAX_DEVS];
static unsigned vnet_ndevs;

struct vnet_dev *vnet_get(unsigned n)
{
	return n < vnet_ndevs ? vnet_devs[n] : NULL;
}

/* Receive pages. */

static struct vnet_rxbuf *rx_page_get(struct vnet_dev *dev)
{
	struct vnet_rxbuf *b = dev->rx_free;

	if (b) {
		dev->rx_free = b->next;
		dev->rx_pages_free--;
	} else {
		if (dev->rx_pages >= VNET_RX_POOL_PAGES)
			return NULL;
		b = alloc_pages(1);
		if (!b)
			return NULL;
		dev->rx_pages++;
		b->dev = dev;
	}
	b->next = NULL;
	b->data = (uint8_t *)b + VNET_RXBUF_DATA;
	b->len = 0;
	return b;
}

void vnet_rxbuf_release(struct vnet_rxbuf *b)
{
	struct vnet_dev *dev = b->dev;

	b->next = dev->rx_free;
	dev->rx_free = b;
	dev->rx_pages_free++;
}

static void rx_release_chain(struct vnet_rxbuf *b)
{
	while (b) {
		struct vnet_rxbuf *next = b->next;

		vnet_rxbuf_release(b);
		b = next;
	}
}

/* Receive buffers posted per virtqueue_add_bufs call (single-page buffers). */
#define VNET_RX_BURST 32u

/*
 * Single-page buffers (mergeable, the header in the page): posted up to
 * VNET_RX_BURST at a time, published to the device once per burst.
 * Returns: whether any was posted.
 */
static bool rx_refill_pages(struct vnet_dev *dev)
{
	bool added = false;

	for (;;) {
		struct vq_single b[VNET_RX_BURST];
		unsigned want = virtqueue_num_free(dev->rxq), n = 0;
		int rc;

		if (want > VNET_RX_BURST)
			want = VNET_RX_BURST;
		for (; n < want; n++) {
			struct vnet_rxbuf *p = rx_page_get(dev);

			if (!p) {
				dev->stats.rx_no_page++;
				break;
			}
			p->next = NULL;
			b[n] = (struct vq_single){p->data, VNET_RXBUF_ROOM, VQ_IN, p};
		}
		rc = n ? virtqueue_add_bufs(dev->rxq, b, n) : 0;
		for (unsigned i = rc > 0 ? (unsigned)rc : 0; i < n; i++)
			vnet_rxbuf_release(b[i].token);
		if (rc > 0) {
			dev->rx_posted += (unsigned)rc;
			added = true;
		}
		if (!want || rc != (int)want)
			return added; /* the ring is full, the pool is empty, or the queue broke */
	}
}

/* Post receive buffers until the ring or the page pool is full (5.1.6.3). */
static void rx_refill(struct vnet_dev *dev)
{
	unsigned npages = dev->mergeable ? 1 : dev->rx_pages_per_buf;
	bool added = false;

	if (npages == 1 && !dev->hdr_separate) {
		if (rx_refill_pages(dev))
			virtqueue_kick(dev->rxq);
		return;
	}
	while (virtqueue_num_free(dev->rxq) > 0) {
		struct vnet_rxbuf *head = NULL, **tail = &head;
		DECLARE_SG(sg, VNET_RX_MAX_PAGES + 1);
		int rc;

		for (unsigned i = 0; i < npages; i++) {
			struct vnet_rxbuf *b = rx_page_get(dev);

			if (!b) {
				rx_release_chain(head);
				dev->stats.rx_no_page++;
				goto out;
			}
			*tail = b;
			tail = &b->next;
			if (i == 0 && dev->hdr_separate) {
				/* Legacy without ANY_LAYOUT: the header is a descriptor of its own. */
				sg_add(sg, b->data, dev->hdr_len);
				sg_add(sg, b->data + dev->hdr_len, VNET_RXBUF_ROOM - dev->hdr_len);
			} else {
				sg_add(sg, b->data, VNET_RXBUF_ROOM);
			}
		}
		rc = virtqueue_add_sgs(dev->rxq, NULL, sg, head);
		if (rc) {
			rx_release_chain(head);
			break;
		}
		dev->rx_posted++;
		added = true;
	}
out:
	if (added)
		virtqueue_kick(dev->rxq);
}

/*
 * A frame's checksum flag is believed only for TCP or UDP over IPv4/IPv6
 * with csum_start/csum_offset inside the frame and at that protocol's
 * checksum field (5.1.6.4.1). Returns: true if the flags are acceptable.
 */
static bool rx_csum_flags_ok(const struct virtio_net_hdr *h, const uint8_t *f, uint32_t flen,
			     uint32_t avail)
{
	uint32_t l3 = ETH_HLEN, l4;
	uint16_t type, start = le16_to_cpu(h->csum_start), off = le16_to_cpu(h->csum_offset);
	uint8_t proto;

	if (avail < ETH_HLEN + 40)
		return false;
	type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == ETHTYPE_IPV4) {
		if ((f[l3] >> 4) != 4 || (f[l3] & 15) < 5)
			return false;
		l4 = l3 + (f[l3] & 15u) * 4;
		proto = f[l3 + 9];
	} else if (type == ETHTYPE_IPV6) {
		if ((f[l3] >> 4) != 6)
			return false;
		l4 = l3 + 40;
		proto = f[l3 + 6];
	} else {
		return false;
	}
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return true; /* DATA_VALID on an IP frame */
	if (type == ETHTYPE_IPV4 && start != l4)
		return false;
	if (start < l4)
		return false; /* IPv6: extension headers may come first */
	if (type == ETHTYPE_IPV4 || start == l4) {
		if (!(proto == IPPROTO_TCP && off == 16) && !(proto == IPPROTO_UDP && off == 6))
			return false;
	} else if (off != 16 && off != 6) {
		return false;
	}
	return (uint32_t)start + off + 2 <= flen;
}

/*
 * Take one received frame off the ring. Returns: 1 if a frame went up,
 * 0 if one was dropped, -1 if the ring had nothing.
 */
static int rx_one(struct vnet_dev *dev)
{
	struct virtio_net_hdr h = {0};
	struct vnet_rxbuf *head, *b;
	struct vnet_rx_info info = {0};
	uint32_t len, total, nbufs = 1;
	uint8_t gso;

	head = virtqueue_get_buf(dev->rxq, &len);
	if (!head)
		return -1;
	dev->rx_posted--;
	dev->stats.rx_buffers++;
	if (len < dev->hdr_len + ETH_HLEN) {
		dev->stats.rx_runt++;
		rx_release_chain(head);
		return 0;
	}
	/* The header is read once into our copy; the device's bytes are not read again. */
	memcpy(&h, head->data, dev->hdr_len);
	if (dev->mergeable) {
		nbufs = le16_to_cpu(h.num_buffers);
		if (nbufs == 0 || nbufs > virtqueue_num(dev->rxq) || nbufs > dev->rx_posted + 1) {
			dev->stats.rx_bad_nbufs++;
			rx_release_chain(head);
			return 0;
		}
		struct vnet_rxbuf **tail = &head->next;

		head->data += dev->hdr_len;
		head->len = len - dev->hdr_len;
		total = head->len;
		for (uint32_t i = 1; i < nbufs; i++) {
			b = virtqueue_get_buf(dev->rxq, &len);
			if (!b) {
				/* The device said more buffers than it returned. */
				dev->stats.rx_bad_nbufs++;
				rx_release_chain(head);
				return 0;
			}
			dev->rx_posted--;
			dev->stats.rx_buffers++;
			b->len = len;
			total += len;
			*tail = b;
			tail = &b->next;
		}
	} else {
		/* One buffer of chained pages: spread len over them, give back the rest. */
		struct vnet_rxbuf *keep_end = head;
		uint32_t room = len;

		total = len - dev->hdr_len;
		for (b = head; b; b = b->next) {
			b->len = room < VNET_RXBUF_ROOM ? room : VNET_RXBUF_ROOM;
			room -= b->len;
			if (b->len)
				keep_end = b;
		}
		rx_release_chain(keep_end->next);
		keep_end->next = NULL;
		head->data += dev->hdr_len;
		head->len -= dev->hdr_len;
		nbufs = 0;
		for (b = head; b; b = b->next)
			nbufs++;
	}

	gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
	if (gso != VIRTIO_NET_HDR_GSO_NONE) {
		if (!((gso == VIRTIO_NET_HDR_GSO_TCPV4 && vnet_has(dev, VIRTIO_NET_F_GUEST_TSO4)) ||
		      (gso == VIRTIO_NET_HDR_GSO_TCPV6 &&
		       vnet_has(dev, VIRTIO_NET_F_GUEST_TSO6))) ||
		    (h.gso_type & VIRTIO_NET_HDR_GSO_ECN)) {
			dev->stats.rx_bad_gso++;
			rx_release_chain(head);
			return 0;
		}
		if (total > 0xffff) { /* more than an IP datagram and its Ethernet header */
			dev->stats.rx_too_long++;
			rx_release_chain(head);
			return 0;
		}
	} else if (total > dev->max_frame) {
		dev->stats.rx_too_long++;
		rx_release_chain(head);
		return 0;
	}
	if (total < ETH_HLEN) {
		dev->stats.rx_runt++;
		rx_release_chain(head);
		return 0;
	}
	if (h.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) {
		if (!vnet_has(dev, VIRTIO_NET_F_GUEST_CSUM) ||
		    !rx_csum_flags_ok(&h, head->data, total, head->len)) {
			dev->stats.rx_bad_csum_flag++;
			rx_release_chain(head);
			return 0;
		}
		info.csum_ok = true;
		info.csum_needed = h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
		dev->stats.rx_csum_ok++;
	}
	info.len = total;
	info.nbufs = (uint16_t)nbufs;
	info.gso_type = gso;
	info.gso_size = le16_to_cpu(h.gso_size);
	dev->stats.rx_packets++;
	dev->stats.rx_bytes += total;
	if (gso != VIRTIO_NET_HDR_GSO_NONE)
		dev->stats.rx_gso++;
	dev->ops->rx(dev, head, &info);
	return 1;
}

/*
 * A ring broke (a bad used entry, DEVICE_NEEDS_RESET). Maybe in an
 * interrupt: only noted; vnet_poll resets the device and brings it back.
 */
static void vnet_broken(struct vnet_dev *dev, const char *why)
{
	if (dev->recover_pending || dev->dead)
		return;
	snprintf(dev->recover_why, sizeof(dev->recover_why), "the device broke a ring (%s)",
		 why ? why : "unknown");
	dev->recover_pending = true;
}

/* Any of our rings broken? */
static void vnet_check_broken(struct vnet_dev *dev)
{
	struct virtqueue *q[] = {dev->rxq, dev->txq, dev->ctrlq};

	for (size_t i = 0; i < ARRAY_SIZE(q); i++) {
		if (q[i] && virtqueue_is_broken(q[i])) {
			vnet_broken(dev, virtqueue_broken_reason(q[i]));
			return;
		}
	}
}

/* net.fault=rx@N / tx@N: the queue reads a bad used entry once N buffers completed. */
static void vnet_fault(struct vnet_dev *dev)
{
	if (dev->fault_rx_at && dev->stats.rx_buffers >= dev->fault_rx_at) {
		dev->fault_rx_at = 0;
		virtqueue_inject_fault(dev->rxq);
	}
	if (dev->fault_tx_at && dev->stats.tx_packets - dev->tx_inflight >= dev->fault_tx_at) {
		dev->fault_tx_at = 0;
		virtqueue_inject_fault(dev->txq);
	}
}

/* Transmit. */

/* Sent frames taken back per virtqueue_get_bufs call. */
#define VNET_TX_RECLAIM_BURST 32u

static void tx_reclaim(struct vnet_dev *dev)
{
	void *got[VNET_TX_RECLAIM_BURST];
	unsigned n;

	do {
		n = virtqueue_get_bufs(dev->txq, got, NULL, VNET_TX_RECLAIM_BURST);
		for (unsigned i = 0; i < n; i++) {
			struct vnet_txslot *s = got[i];
			void *token = s->token;

			s->token = NULL;
			s->next = dev->tx_free;
			dev->tx_free = s;
			dev->tx_inflight--;
			dev->ops->tx_done(dev, token);
		}
	} while (n == VNET_TX_RECLAIM_BURST);
}

void vnet_tx_flush(struct vnet_dev *dev)
{
	if (!dev->tx_unkicked)
		return;
	dev->tx_unkicked = 0;
	if (virtqueue_kick(dev->txq))
		dev->stats.tx_kicks++;
}

int vnet_xmit(struct vnet_dev *dev, const struct virtio_net_hdr *hdr, const struct sg_ring *frame,
	      void *token)
{
	struct vnet_txslot *s;
	DECLARE_SG(h, 1);
	int n = sg_count(frame), rc;

	if (n <= 0 || n > (int)VNET_TX_MAX_SG || !token)
		return -EINVAL;
	if (dev->dead || dev->recover_pending)
		return -EIO;
	if (!dev->tx_free)
		tx_reclaim(dev);
	s = dev->tx_free;
	if (!s) {
		dev->stats.tx_ring_full++;
		vnet_tx_flush(dev);
		return -ENOSPC;
	}
	/* Off the list now: the reclaim below puts freed slots at its head. */
	dev->tx_free = s->next;
	s->hdr = *hdr;
	s->hdr.num_buffers = 0; /* 5.1.6.2.1: the driver sets it to 0 */
	s->token = token;
	sg_add(h, &s->hdr, dev->hdr_len);
	h->next = (struct sg_ring *)frame; /* read only: the ring does not write sg lists */
	rc = virtqueue_add_sgs(dev->txq, h, NULL, s);
	if (rc == -ENOSPC) {
		vnet_tx_flush(dev);
		tx_reclaim(dev);
		rc = virtqueue_add_sgs(dev->txq, h, NULL, s);
	}
	if (rc) {
		s->token = NULL;
		s->next = dev->tx_free;
		dev->tx_free = s;
		if (rc == -ENOSPC)
			dev->stats.tx_ring_full++;
		if (rc == -EIO)
			vnet_broken(dev, virtqueue_broken_reason(dev->txq));
		return rc;
	}
	dev->tx_inflight++;
	dev->stats.tx_packets++;
	dev->stats.tx_bytes += sg_total_len(frame);
	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		dev->stats.tx_csum++;
	if (hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		dev->stats.tx_gso++;
	if (++dev->tx_unkicked >= VNET_TX_KICK_BATCH)
		vnet_tx_flush(dev);
	return 0;
}

/*
 * Control queue (5.1.6.5): one command at a time answered synchronously,
 * beside at most one announcement ack answered asynchronously.
 */

/* The device stopped answering: its buffers stay its own, the queue is not used again. */
static void ctrl_dead(struct vnet_dev *dev, const char *what)
{
	kprintf("virtio-net: %s: %s not answered (%s)\n", dev->name, what,
		virtqueue_broken_reason(dev->ctrlq) ?: "timeout");
	dev->ctrlq_lost = dev->ctrlq;
	dev->ctrlq = NULL;
	dev->announce_inflight = false;
	dev->stats.ctrl_errors++;
}

/* A used control buffer other than the synchronous command's: the announcement ack. */
static void ctrl_async_done(struct vnet_dev *dev, void *tok, uint32_t got)
{
	struct vnet_ctrl_buf *c = dev->ctrl;

	if (tok != &c->ann_hdr || !dev->announce_inflight) {
		dev->stats.ctrl_errors++; /* not ours to have back: the device is confused */
		return;
	}
	dev->announce_inflight = false;
	if (got < 1 || c->ann_ack != VIRTIO_NET_OK) {
		dev->stats.ctrl_errors++;
		kprintf("virtio-net: %s: announcement not acknowledged\n", dev->name);
	}
}

/* Poll: take the announcement's ack if it came, give up on the device after 1 s. */
static void ctrl_reap(struct vnet_dev *dev)
{
	uint32_t got;
	void *tok;

	if (!dev->ctrlq || !dev->announce_inflight)
		return;
	while (dev->ctrlq && (tok = virtqueue_get_buf(dev->ctrlq, &got)))
		ctrl_async_done(dev, tok, got);
	if (dev->announce_inflight &&
	    (virtqueue_is_broken(dev->ctrlq) || clock_ns() > dev->announce_deadline))
		ctrl_dead(dev, "announcement ack");
}

/* 5.1.6.5.3: the ack clears VIRTIO_NET_S_ANNOUNCE; sent, not waited for. */
static void ctrl_announce_ack(struct vnet_dev *dev)
{
	struct vnet_ctrl_buf *c = dev->ctrl;
	DECLARE_SG(out, 1);
	DECLARE_SG(in, 1);

	if (!dev->ctrlq || dev->announce_inflight)
		return;
	c->ann_hdr.class = VIRTIO_NET_CTRL_ANNOUNCE;
	c->ann_hdr.cmd = VIRTIO_NET_CTRL_ANNOUNCE_ACK;
	c->ann_ack = 0xff;
	sg_add(out, &c->ann_hdr, sizeof(c->ann_hdr));
	sg_add(in, &c->ann_ack, 1);
	dev->stats.ctrl_cmds++;
	if (virtqueue_add_sgs(dev->ctrlq, out, in, &c->ann_hdr)) {
		dev->stats.ctrl_errors++;
		return;
	}
	dev->announce_inflight = true;
	dev->announce_deadline = clock_ns() + VNET_CTRL_TIMEOUT;
	virtqueue_kick(dev->ctrlq);
}

static int vnet_ctrl(struct vnet_dev *dev, uint8_t class, uint8_t cmd, uint32_t len)
{
	struct vnet_ctrl_buf *c = dev->ctrl;
	DECLARE_SG(out, 2);
	DECLARE_SG(in, 1);
	uint64_t deadline;
	uint32_t got;
	void *tok;
	int rc;

	if (!dev->ctrlq)
		return -EOPNOTSUPP;
	c->hdr.class = class;
	c->hdr.cmd = cmd;
	c->ack = 0xff;
	sg_add(out, &c->hdr, sizeof(c->hdr));
	if (len)
		sg_add(out, c->data, len);
	sg_add(in, &c->ack, 1);
	dev->stats.ctrl_cmds++;
	rc = virtqueue_add_sgs(dev->ctrlq, out, in, c);
	if (rc) {
		dev->stats.ctrl_errors++;
		return rc == -ENOSPC ? -EIO : rc;
	}
	virtqueue_kick(dev->ctrlq);
	deadline = clock_ns() + VNET_CTRL_TIMEOUT;
	for (;;) {
		tok = virtqueue_get_buf(dev->ctrlq, &got);
		if (tok == c)
			break;
		if (tok) {
			ctrl_async_done(dev, tok, got);
			continue;
		}
		if (virtqueue_is_broken(dev->ctrlq) || clock_ns() > deadline) {
			char what[32];

			snprintf(what, sizeof(what), "control command %u.%u", class, cmd);
			ctrl_dead(dev, what);
			return -EIO;
		}
		__asm__ volatile("pause");
	}
	if (got < 1 || c->ack != VIRTIO_NET_OK) {
		dev->stats.ctrl_errors++;
		return -EIO;
	}
	return 0;
}

int vnet_set_promisc(struct vnet_dev *dev, bool on)
{
	int rc;

	if (!vnet_has(dev, VIRTIO_NET_F_CTRL_RX) || !dev->ctrlq)
		return -EOPNOTSUPP;
	dev->ctrl->data[0] = on;
	rc = vnet_ctrl(dev, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, 1);
	if (!rc)
		dev->promisc = on;
	return rc;
}

int vnet_set_multicast(struct vnet_dev *dev, const uint8_t (*mc)[6], unsigned n)
{
	uint8_t *p = dev->ctrl ? dev->ctrl->data : NULL;
	le32 entries;

	if (!vnet_has(dev, VIRTIO_NET_F_CTRL_RX) || !dev->ctrlq)
		return -EOPNOTSUPP;
	if (n > VNET_MAX_MULTICAST)
		return -E2BIG;
	if (mc != dev->mc && n)
		memcpy(dev->mc, mc, n * 6u);
	dev->nmc = n;
	dev->mc_set = true;
	/* 5.1.6.5.2: the unicast table, then the multicast table. */
	entries = cpu_to_le32(1);
	memcpy(p, &entries, 4);
	memcpy(p + 4, dev->mac, 6);
	p += 10;
	entries = cpu_to_le32(n);
	memcpy(p, &entries, 4);
	p += 4;
	if (n)
		memcpy(p, mc, n * 6u);
	p += n * 6u;
	return vnet_ctrl(dev, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET,
			 (uint32_t)(p - dev->ctrl->data));
}

/* Configuration changes: link status and announcements (5.1.4, 5.1.6.5.3). */

static void vnet_config_changed(struct virtio_device *vd)
{
	struct vnet_dev *dev = vd->priv;

	dev->config_pending = true; /* interrupt context: the poll loop does the work */
	vnet_check_broken(dev);	    /* DEVICE_NEEDS_RESET marked the queues broken */
}

static uint16_t vnet_read_status(struct vnet_dev *dev)
{
	le16 st;

	if (!vnet_has(dev, VIRTIO_NET_F_STATUS))
		return VIRTIO_NET_S_LINK_UP;
	virtio_config_read(dev->vd, offsetof(struct virtio_net_config, status), &st, 2);
	return le16_to_cpu(st);
}

static void vnet_config_update(struct vnet_dev *dev)
{
	uint16_t st = vnet_read_status(dev);
	bool up = st & VIRTIO_NET_S_LINK_UP;

	dev->stats.config_events++;
	if (up != dev->link_up) {
		dev->link_up = up;
		dev->stats.link_changes++;
		if (dev->ops)
			dev->ops->link_changed(dev, up);
	}
	/* An event while the last ack is out: that ack clears the bit, nothing new. */
	if ((st & VIRTIO_NET_S_ANNOUNCE) && vnet_has(dev, VIRTIO_NET_F_GUEST_ANNOUNCE) &&
	    !dev->announce_inflight) {
		dev->stats.announces++;
		if (dev->ops)
			dev->ops->announce(dev);
		ctrl_announce_ack(dev);
	}
}

static void vnet_rx_cb(struct virtqueue *vq);
static void vnet_tx_cb(struct virtqueue *vq);
static uint64_t vnet_wanted(uint64_t offered);

/*
 * The queues (5.1.2): receive, transmit, control with CTRL_VQ; one
 * transmit slot per transmit ring entry. At probe, or after a device reset
 * with the old queues gone.
 */
static int vnet_setup_queues(struct vnet_dev *dev)
{
	struct virtio_device *vd = dev->vd;
	unsigned ntx;
	int rc;

	rc = virtio_setup_vq(vd, VIRTIO_NET_RXQ, 1024, vnet_rx_cb, &dev->rxq);
	if (!rc)
		rc = virtio_setup_vq(vd, VIRTIO_NET_TXQ, 1024, vnet_tx_cb, &dev->txq);
	if (!rc && vnet_has(dev, VIRTIO_NET_F_CTRL_VQ))
		rc = virtio_setup_vq(vd, 2, 64, NULL, &dev->ctrlq);
	if (rc)
		return rc;
	/* The network loop polls the rings: no interrupt per packet. */
	virtqueue_disable_cb(dev->rxq);
	virtqueue_disable_cb(dev->txq);
	if (dev->ctrlq)
		virtqueue_disable_cb(dev->ctrlq);

	/* Every slot is free here (nothing sent yet, or all taken back). */
	ntx = virtqueue_num(dev->txq);
	if (ntx != dev->tx_nslots) {
		free(dev->tx_slots);
		dev->tx_nslots = 0;
		dev->tx_slots = calloc(ntx, sizeof(*dev->tx_slots));
		if (!dev->tx_slots)
			return -ENOMEM;
		dev->tx_nslots = ntx;
	}
	dev->tx_free = NULL;
	for (unsigned i = 0; i < ntx; i++) {
		dev->tx_slots[i].token = NULL;
		dev->tx_slots[i].next = dev->tx_free;
		dev->tx_free = &dev->tx_slots[i];
	}
	dev->tx_inflight = dev->tx_unkicked = 0;
	return 0;
}

/*
 * After a successful reset the device holds nothing: every buffer still on
 * a ring comes back. Receive pages go to the free list (pages the stack
 * holds were never on the ring), frames not sent go back to the stack as
 * done (lost, as on a wire: TCP sends them again).
 */
static void vnet_take_back(struct vnet_dev *dev, unsigned *rx, unsigned *tx)
{
	struct virtqueue *ctrl = dev->ctrlq ? dev->ctrlq : dev->ctrlq_lost;
	struct vnet_rxbuf *head;
	struct vnet_txslot *s;

	*rx = *tx = 0;
	while ((head = virtqueue_detach_unused_buf(dev->rxq)) != NULL) {
		rx_release_chain(head);
		dev->rx_posted--;
		(*rx)++;
	}
	while ((s = virtqueue_detach_unused_buf(dev->txq)) != NULL) {
		void *token = s->token;

		s->token = NULL;
		dev->tx_inflight--;
		(*tx)++;
		dev->ops->tx_done(dev, token);
	}
	/* Control buffers are the driver's own memory: nothing to hand back. */
	if (ctrl)
		while (virtqueue_detach_unused_buf(ctrl))
			;
	dev->announce_inflight = false;
	dev->tx_unkicked = 0;
	dev->stats.rx_taken_back += *rx;
	dev->stats.tx_taken_back += *tx;
}

/* Give the device up: what it holds stays its own (it may still write it). */
static void vnet_kill(struct vnet_dev *dev, const char *why)
{
	dev->dead = true;
	dev->recover_pending = false;
	kprintf("net: %s: %s; the device is given up\n", dev->name, why);
}

static void vnet_link_set(struct vnet_dev *dev, bool up)
{
	if (dev->link_up == up)
		return;
	dev->link_up = up;
	dev->stats.link_changes++;
	dev->ops->link_changed(dev, up);
}

/*
 * Bring the device back (the poll loop, process context): link down,
 * reset (3.1.1 from the start), every buffer taken back, the same features
 * negotiated, new queues, receive buffers posted, DRIVER_OK, the receive
 * filter set again, link as the device reports it.
 */
static void vnet_recover(struct vnet_dev *dev)
{
	struct virtio_device *vd = dev->vd;
	uint64_t had = vd->features;
	unsigned rx, tx;
	int rc;

	dev->recover_pending = false;
	vnet_link_set(dev, false);
	if (virtio_restart(vd)) {
		vnet_kill(dev, "the device did not complete its reset");
		return;
	}
	vnet_take_back(dev, &rx, &tx);
	rc = virtio_negotiate(vd, vnet_wanted(vd->ops->device_features(vd)));
	if (rc == 0 && vd->features != had)
		rc = -EPROTO; /* what the driver was set up for is gone */
	if (rc == 0) {
		/* The device was reset: the old rings can go. */
		virtio_del_vq(vd, dev->rxq);
		virtio_del_vq(vd, dev->txq);
		if (dev->ctrlq)
			virtio_del_vq(vd, dev->ctrlq);
		if (dev->ctrlq_lost)
			virtio_del_vq(vd, dev->ctrlq_lost);
		dev->rxq = dev->txq = dev->ctrlq = dev->ctrlq_lost = NULL;
		rc = vnet_setup_queues(dev);
	}
	if (rc) {
		char msg[80];

		snprintf(msg, sizeof(msg), "after a reset the device cannot be set up again (%d)",
			 rc);
		vnet_kill(dev, msg);
		return;
	}
	rx_refill(dev);
	virtio_device_ready(vd);
	dev->stats.recoveries++;
	kprintf("net: %s: %s; device reset and brought back (reset %llu): receive buffers "
		"posted again %u, frames not sent %u\n",
		dev->name, dev->recover_why, (unsigned long long)vd->resets, rx, tx);
	/* 5.1.6.5: a reset forgot the receive filter. */
	if (dev->promisc)
		vnet_set_promisc(dev, true);
	if (dev->mc_set)
		vnet_set_multicast(dev, dev->mc, dev->nmc);
	dev->config_pending = true; /* link status and announcements read afresh */
	vnet_link_set(dev, vnet_read_status(dev) & VIRTIO_NET_S_LINK_UP);
}

unsigned vnet_poll(struct vnet_dev *dev, unsigned budget)
{
	unsigned done = 0;
	uint64_t now;
	int r;

	if (!dev->ops || dev->dead)
		return 0;
	if (dev->recover_pending)
		vnet_recover(dev);
	if (dev->dead)
		return 0;
	vnet_fault(dev);
	if (dev->rx_posted == 0)
		dev->stats.rx_ring_empty++;
	while (done < budget && (r = rx_one(dev)) >= 0)
		done += (unsigned)r;
	rx_refill(dev);
	tx_reclaim(dev);
	now = clock_ns();
	if (now >= dev->next_config_poll) {
		dev->next_config_poll = now + VNET_CONFIG_POLL_NS;
		virtio_poll(dev->vd); /* only does something for a device without interrupts */
	}
	if (dev->config_pending) {
		dev->config_pending = false;
		vnet_config_update(dev);
	}
	ctrl_reap(dev);
	vnet_check_broken(dev);
	if (dev->recover_pending)
		vnet_recover(dev);
	return done;
}

int vnet_attach(struct vnet_dev *dev, const struct vnet_stack_ops *ops, void *stack)
{
	if (dev->ops)
		return -EBUSY;
	dev->ops = ops;
	dev->stack = stack;
	rx_refill(dev);
	if (dev->rx_posted == 0) {
		dev->ops = NULL;
		return -ENOMEM;
	}
	dev->link_up = vnet_read_status(dev) & VIRTIO_NET_S_LINK_UP;
	return 0;
}

/* 5.1.3 Feature bits, the legacy GSO (5.1.3.1) included: `virtio` and `ifconfig` name them. */
static const struct virtio_feature_name vnet_feature_table[] = {
	{VIRTIO_NET_F_CSUM, "CSUM"},
	{VIRTIO_NET_F_GUEST_CSUM, "GUEST_CSUM"},
	{VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, "CTRL_GUEST_OFFLOADS"},
	{VIRTIO_NET_F_MTU, "MTU"},
	{VIRTIO_NET_F_MAC, "MAC"},
	{VIRTIO_NET_F_GSO, "GSO"},
	{VIRTIO_NET_F_GUEST_TSO4, "GUEST_TSO4"},
	{VIRTIO_NET_F_GUEST_TSO6, "GUEST_TSO6"},
	{VIRTIO_NET_F_GUEST_ECN, "GUEST_ECN"},
	{VIRTIO_NET_F_GUEST_UFO, "GUEST_UFO"},
	{VIRTIO_NET_F_HOST_TSO4, "HOST_TSO4"},
	{VIRTIO_NET_F_HOST_TSO6, "HOST_TSO6"},
	{VIRTIO_NET_F_HOST_ECN, "HOST_ECN"},
	{VIRTIO_NET_F_HOST_UFO, "HOST_UFO"},
	{VIRTIO_NET_F_MRG_RXBUF, "MRG_RXBUF"},
	{VIRTIO_NET_F_STATUS, "STATUS"},
	{VIRTIO_NET_F_CTRL_VQ, "CTRL_VQ"},
	{VIRTIO_NET_F_CTRL_RX, "CTRL_RX"},
	{VIRTIO_NET_F_CTRL_VLAN, "CTRL_VLAN"},
	{VIRTIO_NET_F_CTRL_RX_EXTRA, "CTRL_RX_EXTRA"},
	{VIRTIO_NET_F_GUEST_ANNOUNCE, "GUEST_ANNOUNCE"},
	{VIRTIO_NET_F_MQ, "MQ"},
	{VIRTIO_NET_F_CTRL_MAC_ADDR, "CTRL_MAC_ADDR"},
	{VIRTIO_NET_F_NOTF_COAL, "NOTF_COAL"},
	{VIRTIO_NET_F_GUEST_USO4, "GUEST_USO4"},
	{VIRTIO_NET_F_GUEST_USO6, "GUEST_USO6"},
	{VIRTIO_NET_F_HOST_USO, "HOST_USO"},
	{VIRTIO_NET_F_HASH_REPORT, "HASH_REPORT"},
	{VIRTIO_NET_F_GUEST_HDRLEN, "GUEST_HDRLEN"},
	{VIRTIO_NET_F_RSS, "RSS"},
	{VIRTIO_NET_F_RSC_EXT, "RSC_EXT"},
	{VIRTIO_NET_F_STANDBY, "STANDBY"},
	{VIRTIO_NET_F_SPEED_DUPLEX, "SPEED_DUPLEX"},
	{0, NULL},
};

void vnet_feature_names(const struct vnet_dev *dev, char *buf, unsigned size)
{
	virtio_format_features(dev->vd->features, vnet_feature_table, buf, size);
}

/* Bring-up (5.1.5). */

static void vnet_rx_cb(struct virtqueue *vq)
{
	struct vnet_dev *dev = virtio_vq_device(vq)->priv;

	dev->stats.rx_irqs++;
}

static void vnet_tx_cb(struct virtqueue *vq)
{
	struct vnet_dev *dev = virtio_vq_device(vq)->priv;

	dev->stats.tx_irqs++;
}

/* The features to ask for: ours, minus those whose dependency is missing (5.1.3.1). */
static uint64_t vnet_wanted(uint64_t offered)
{
	uint64_t want = VNET_FEATURES;

	if (!(offered & VIRTIO_BIT(VIRTIO_NET_F_CSUM)))
		want &= ~(VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6));
	if (!(offered & VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)))
		want &= ~(VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
			  VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6));
	if (!(offered & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ)))
		want &= ~(VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX) |
			  VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE));
	return want;
}

static int vnet_probe(struct virtio_device *vd)
{
	struct vnet_dev *dev;
	char feats[512];
	int rc;

	if (vnet_ndevs == VNET_MAX_DEVS)
		return -ENOSPC;
	rc = virtio_negotiate(vd, vnet_wanted(vd->ops->device_features(vd)));
	if (rc)
		return rc;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->vd = vd;
	vd->priv = dev;
	snprintf(dev->name, sizeof(dev->name), "vn%u", vnet_ndevs);

	if (vnet_has(dev, VIRTIO_NET_F_MAC)) {
		virtio_config_read(vd, offsetof(struct virtio_net_config, mac), dev->mac, 6);
	} else {
		/* A random locally administered unicast address (5.1.5). */
		random_bytes(dev->mac, 6);
		dev->mac[0] = (uint8_t)((dev->mac[0] & 0xfe) | 0x02);
	}
	dev->mtu = 1500;
	if (vnet_has(dev, VIRTIO_NET_F_MTU)) {
		le16 mtu;

		virtio_config_read(vd, offsetof(struct virtio_net_config, mtu), &mtu, 2);
		/* 5.1.4.2: at least 68; our buffers hold a frame of 64 KiB at most. */
		if (le16_to_cpu(mtu) >= 68 && le16_to_cpu(mtu) <= 65535 - ETH_HLEN - VLAN_HLEN)
			dev->mtu = le16_to_cpu(mtu);
	}
	dev->max_frame = dev->mtu + ETH_HLEN + VLAN_HLEN;
	dev->mergeable = vnet_has(dev, VIRTIO_NET_F_MRG_RXBUF);
	dev->hdr_len = (vd->legacy && !dev->mergeable) ? VIRTIO_NET_HDR_LEGACY_LEN
						       : sizeof(struct virtio_net_hdr);
	dev->hdr_separate = vd->legacy && !virtio_has_feature(vd, VIRTIO_F_ANY_LAYOUT);
	{
		uint32_t need = dev->hdr_len + dev->max_frame;

		if (vnet_has(dev, VIRTIO_NET_F_GUEST_TSO4) ||
		    vnet_has(dev, VIRTIO_NET_F_GUEST_TSO6))
			need = dev->hdr_len + VIRTIO_NET_MAX_GSO_FRAME;
		dev->rx_pages_per_buf = (need + VNET_RXBUF_ROOM - 1) / VNET_RXBUF_ROOM;
	}
	dev->ctrl = calloc(1, sizeof(*dev->ctrl));
	if (!dev->ctrl) {
		rc = -ENOMEM;
		goto fail;
	}

	rc = vnet_setup_queues(dev);
	if (rc)
		goto fail;
	{
		const char *f = cmdline_get(&kernel_cmdline, "net.fault");

		if (f && strncmp(f, "rx@", 3) == 0)
			dev->fault_rx_at = strtoull(f + 3, NULL, 0);
		else if (f && strncmp(f, "tx@", 3) == 0)
			dev->fault_tx_at = strtoull(f + 3, NULL, 0);
	}
	vd->config_changed = vnet_config_changed;
	virtio_device_ready(vd);
	dev->link_up = vnet_read_status(dev) & VIRTIO_NET_S_LINK_UP;

	vnet_feature_names(dev, feats, sizeof(feats));
	kprintf("virtio-net: %s: %02x:%02x:%02x:%02x:%02x:%02x mtu %u link %s, rx %s (%u x %u), "
		"tx %u\n",
		dev->name, dev->mac[0], dev->mac[1], dev->mac[2], dev->mac[3], dev->mac[4],
		dev->mac[5], dev->mtu, dev->link_up ? "up" : "down",
		dev->mergeable ? "mergeable" : "big", virtqueue_num(dev->rxq),
		dev->mergeable ? 1 : dev->rx_pages_per_buf, dev->tx_nslots);
	kprintf("virtio-net: %s: features %s\n", dev->name, feats);
	vnet_devs[vnet_ndevs++] = dev;
	return 0;

fail:
	/* The device lets go of the rings first; if it does not, they stay allocated. */
	if (virtio_reset(vd)) {
		vd->priv = NULL;
		return rc;
	}
	if (dev->rxq)
		virtio_del_vq(vd, dev->rxq);
	if (dev->txq)
		virtio_del_vq(vd, dev->txq);
	if (dev->ctrlq)
		virtio_del_vq(vd, dev->ctrlq);
	free(dev->tx_slots);
	free(dev->ctrl);
	free(dev);
	vd->priv = NULL;
	return rc;
}

VIRTIO_DRIVER(virtio_net, VIRTIO_ID_NET, vnet_probe, vnet_feature_table);
