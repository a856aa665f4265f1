/*
 * TCP segmentation offload for lwIP, which only makes MSS-sized segments:
 * consecutive segments of one connection that lwIP sends in the same poll
 * round are kept, then leave as one large segment (VIRTIO 1.2 5.1.6.2,
 * gso_type TCPV4/TCPV6 with HOST_TSO4/6). Nothing is copied but the
 * first segment's headers (into the frame's own header buffer, patched
 * for the whole length); the payload of every segment is one or more sg
 * entries of lwIP's own pbufs, referenced until the device is done.
 *
 * The device (or the host's stack behind it) cuts the frame again into
 * gso_size pieces, copying the header, numbering sequence and IP ids, and
 * putting PSH on the last piece only.
 */
#include <string.h>

#include <lwip/prot/ip.h>
#include <lwip/prot/tcp.h>
#include <netif/ethernet.h>

#include <lib/cmdline.h>
#include <kernel/kernel.h>

#include "netif_vnet.h"

#define TSO_MAX_SEGS 48
#define TSO_FRAMES   64		    /* large frames in flight at once */
#define TSO_HDR_MAX  (14 + 40 + 60) /* Ethernet, IPv4 (no options) or IPv6, TCP */
#define TSO_MAX_IP   65535u	    /* an IP datagram's length field */
#define TSO_CTL	     (TCP_SYN | TCP_FIN | TCP_RST | TCP_URG)

/* A large frame in flight: its token is pc, whose free gives back the segments. */
struct tso_frame {
	struct pbuf_custom pc;
	uint8_t hdr[TSO_HDR_MAX];
	struct pbuf *segs[TSO_MAX_SEGS];
	unsigned nsegs;
	struct tso_frame *next;
};

/* Segments waiting to leave together. */
struct tso_batch {
	struct pbuf *segs[TSO_MAX_SEGS];
	unsigned n;
	uint16_t hlen, l4; /* header bytes; where TCP starts */
	bool v6;
	bool psh;		  /* some segment had PSH */
	bool closed;		  /* a short segment ended it */
	uint16_t mss;		  /* payload of the first segment: gso_size */
	uint32_t next_seq;	  /* sequence number the next segment must have */
	uint32_t bytes;		  /* payload so far */
	unsigned sg;		  /* payload sg entries so far */
	uint8_t key[TSO_HDR_MAX]; /* first header with per-segment fields cleared */
};

static struct tso_frame tso_pool[TSO_FRAMES];
static struct tso_frame *tso_free;
static struct tso_batch batch;
static int tso_mode = -1; /* -1 unknown, 0 off (tso=off), 1 on */

bool vnet_tso_enabled(const struct vnet_dev *dev)
{
	if (tso_mode < 0) {
		const char *v = cmdline_get(&kernel_cmdline, "tso");

		tso_mode = !(v && strcmp(v, "off") == 0);
		for (unsigned i = 0; i < TSO_FRAMES; i++) {
			tso_pool[i].next = tso_free;
			tso_free = &tso_pool[i];
		}
	}
	return tso_mode &&
	       (vnet_has(dev, VIRTIO_NET_F_HOST_TSO4) || vnet_has(dev, VIRTIO_NET_F_HOST_TSO6));
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

static void wr16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* What one segment is. */
struct tso_seg {
	uint16_t hlen, l4, payload;
	bool v6;
	uint8_t flags;
	uint32_t seq;
};

/* Returns: true if p is a TCP data segment that may join a large frame. */
static bool tso_parse(const struct vnet_dev *dev, struct pbuf *p, struct tso_seg *s)
{
	const uint8_t *f = p->payload;
	unsigned thl, iplen;

	if (p->len < SIZEOF_ETH_HDR + 40)
		return false;
	switch (rd16(f + 12)) {
	case ETHTYPE_IP:
		if (f[14] != 0x45 || f[23] != IP_PROTO_TCP || (rd16(f + 20) & 0x3fff) ||
		    !vnet_has(dev, VIRTIO_NET_F_HOST_TSO4))
			return false; /* options, not TCP, a fragment, or not offered */
		s->v6 = false;
		s->l4 = SIZEOF_ETH_HDR + 20;
		iplen = rd16(f + 16);
		break;
	case ETHTYPE_IPV6:
		if ((f[14] >> 4) != 6 || f[20] != IP_PROTO_TCP ||
		    !vnet_has(dev, VIRTIO_NET_F_HOST_TSO6))
			return false;
		s->v6 = true;
		s->l4 = SIZEOF_ETH_HDR + 40;
		iplen = 40u + rd16(f + 18);
		break;
	default: return false;
	}
	if (p->len < s->l4 + 20)
		return false;
	thl = (f[s->l4 + 12] >> 4) * 4u;
	s->hlen = (uint16_t)(s->l4 + thl);
	if (thl < 20 || s->hlen > TSO_HDR_MAX || s->hlen > p->len ||
	    SIZEOF_ETH_HDR + iplen != p->tot_len || iplen < (unsigned)s->hlen - SIZEOF_ETH_HDR)
		return false;
	s->payload = (uint16_t)(SIZEOF_ETH_HDR + iplen - s->hlen);
	s->flags = f[s->l4 + 13];
	s->seq = rd32(f + s->l4 + 4);
	return s->payload > 0 && !(s->flags & TSO_CTL) && (s->flags & TCP_ACK);
}

/* The header with what differs between segments of one flow cleared. */
static void tso_key(const struct pbuf *p, const struct tso_seg *s, uint8_t *key)
{
	memcpy(key, p->payload, s->hlen);
	if (s->v6) {
		wr16(key + 18, 0); /* payload length */
	} else {
		wr16(key + 16, 0); /* total length */
		wr16(key + 18, 0); /* identification */
		wr16(key + 24, 0); /* header checksum */
	}
	memset(key + s->l4 + 4, 0, 4); /* sequence number */
	key[s->l4 + 13] &= (uint8_t)~TCP_PSH;
	wr16(key + s->l4 + 16, 0); /* checksum */
}

/* Payload sg entries of segment p (past its hlen bytes of header). */
static unsigned tso_payload_entries(struct pbuf *p, uint16_t hlen)
{
	unsigned n = 0, skip = hlen;

	for (struct pbuf *q = p; q; q = q->next) {
		if (skip >= q->len) {
			skip -= q->len;
			continue;
		}
		n++;
		skip = 0;
	}
	return n;
}

static void tso_frame_free(struct pbuf *p)
{
	struct tso_frame *fr = (struct tso_frame *)(void *)p;

	for (unsigned i = 0; i < fr->nsegs; i++)
		pbuf_free(fr->segs[i]);
	fr->nsegs = 0;
	fr->next = tso_free;
	tso_free = fr;
}

static void tso_send_one(struct netif *netif, struct pbuf *p)
{
	struct virtio_net_hdr h = {0};

	vnet_tx_csum(p, &h);
	if (vnet_netif_send(netif, p, &h))
		net_glue.tx_busy++; /* lwIP was told it left: TCP will retransmit */
	pbuf_free(p);
}

/* Build and queue the large frame for the batch. Returns: 0, or -1 to send segment by segment. */
static int tso_send_batch(struct netif *netif)
{
	struct vnet_dev *dev = netif->state;
	struct tso_frame *fr = tso_free;
	struct virtio_net_hdr h = {0};
	DECLARE_SG(sg, VNET_TX_MAX_SG);
	uint8_t *hd;
	uint32_t sum, l4len = batch.hlen - batch.l4 + batch.bytes;
	struct pbuf *tok;

	if (!fr)
		return -1;
	tso_free = fr->next;
	hd = fr->hdr;
	memcpy(hd, batch.segs[0]->payload, batch.hlen);
	if (batch.v6) {
		wr16(hd + 18, l4len);
	} else {
		wr16(hd + 16, 20 + l4len);
		wr16(hd + 24, 0);
		sum = 0;
		for (unsigned i = 14; i < 34; i += 2)
			sum += rd16(hd + i);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		wr16(hd + 24, ~sum & 0xffff);
	}
	if (batch.psh)
		hd[batch.l4 + 13] |= TCP_PSH;
	/* The pseudo-header sum for the whole length (5.1.6.2: NEEDS_CSUM). */
	sum = IP_PROTO_TCP + l4len;
	for (unsigned i = batch.v6 ? 22 : 26; i < (batch.v6 ? 54u : 34u); i += 2)
		sum += rd16(hd + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	wr16(hd + batch.l4 + 16, sum);

	sg_add(sg, hd, batch.hlen);
	for (unsigned i = 0; i < batch.n; i++) {
		unsigned skip = batch.hlen;

		for (struct pbuf *q = batch.segs[i]; q; q = q->next) {
			if (skip >= q->len) {
				skip -= q->len;
				continue;
			}
			sg_add(sg, (uint8_t *)q->payload + skip, (uint32_t)(q->len - skip));
			skip = 0;
		}
		fr->segs[i] = batch.segs[i]; /* our reference moves into the frame */
	}
	fr->nsegs = batch.n;
	fr->pc.custom_free_function = tso_frame_free;
	tok = pbuf_alloced_custom(PBUF_RAW, 0, PBUF_REF, &fr->pc, NULL, 0);

	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = batch.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	h.hdr_len = cpu_to_le16(batch.hlen);
	h.gso_size = cpu_to_le16(batch.mss);
	h.csum_start = cpu_to_le16(batch.l4);
	h.csum_offset = cpu_to_le16(16);
	if (vnet_xmit(dev, &h, sg, tok)) {
		net_glue.tx_busy++; /* dropped: TCP retransmits */
		pbuf_free(tok);
		return 0;
	}
	net_glue.tx_gso_frames++;
	net_glue.tx_gso_segments += batch.n;
	return 0;
}

void vnet_tso_flush(struct netif *netif)
{
	unsigned n = batch.n;

	if (!n)
		return;
	if (n == 1 || tso_send_batch(netif) != 0)
		for (unsigned i = 0; i < n; i++)
			tso_send_one(netif, batch.segs[i]);
	batch.n = 0;
}

int vnet_tso_queue(struct netif *netif, struct pbuf *p)
{
	struct vnet_dev *dev = netif->state;
	uint8_t key[TSO_HDR_MAX];
	struct tso_seg s;
	unsigned ents;

	if (!tso_parse(dev, p, &s)) {
		vnet_tso_flush(netif); /* keep the order of frames */
		return -1;
	}
	ents = tso_payload_entries(p, s.hlen);
	tso_key(p, &s, key);
	if (batch.n &&
	    (batch.closed || s.hlen != batch.hlen || s.seq != batch.next_seq ||
	     s.payload > batch.mss || batch.n == TSO_MAX_SEGS ||
	     batch.sg + ents > VNET_TX_MAX_SG - 1 ||
	     (uint32_t)batch.hlen - SIZEOF_ETH_HDR + batch.bytes + s.payload > TSO_MAX_IP ||
	     memcmp(key, batch.key, s.hlen) != 0))
		vnet_tso_flush(netif);
	if (!batch.n) {
		batch.hlen = s.hlen;
		batch.l4 = s.l4;
		batch.v6 = s.v6;
		batch.mss = s.payload;
		batch.bytes = 0;
		batch.sg = 0;
		batch.psh = false;
		batch.closed = false;
		memcpy(batch.key, key, s.hlen);
	}
	pbuf_ref(p);
	batch.segs[batch.n++] = p;
	batch.bytes += s.payload;
	batch.sg += ents;
	batch.next_seq = s.seq + s.payload;
	batch.psh |= (s.flags & TCP_PSH) != 0;
	if (s.payload < batch.mss)
		batch.closed = true; /* only the last segment may be short */
	return 0;
}
