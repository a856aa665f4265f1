/*
 * Host tests of the lwIP interface on virtio-net (net/netif.c,
 * net/netif_rxmem.c) with lwIP and the driver, unchanged, over the scripted
 * device of net_host.c: the checksum rules behind IPv6 extension headers,
 * received pages lwIP cannot write before, and the receive memory budget
 * against a peer that floods out-of-order segments.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <lwip/etharp.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/raw.h>
#include <lwip/stats.h>
#include <lwip/tcp.h>

#include "../../net/netif_vnet.h"
#include "net_host.h"
#include "vnet_fake_transport.h"

static const uint8_t guest_mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
static const uint8_t peer_mac[6] = {0x52, 0x54, 0, 0, 0, 1};
static const uint8_t peer6[16] = {0xfe, 0x80, [15] = 1}, guest6[16] = {0xfe, 0x80, [15] = 2};

static uint8_t frame[4096];

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t sum16(const uint8_t *p, uint32_t len, uint32_t sum)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t eth(uint8_t *f, uint16_t type)
{
	memcpy(f, guest_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, type);
	return 14;
}

/* A TCP header with flags and payload at t; the checksum left to the caller. */
static uint32_t tcp(uint8_t *t, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		    uint8_t flags, uint32_t payload)
{
	memset(t, 0, 20);
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	memset(t + 20, 'x', payload);
	return 20 + payload;
}

/* IPv4 10.0.0.1 -> 10.0.0.2 around an L4 payload already at f + 34. */
static uint32_t ip4(uint8_t *f, uint8_t proto, uint32_t l4len)
{
	uint8_t *ip = f + eth(f, 0x0800);
	uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};

	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4len));
	ip[6] = 0x40;
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, fold(sum16(ip, 20, 0)));
	if (proto == 6) {
		uint32_t s = sum16(ip + 12, 8, 6 + l4len);

		put16(ip + 20 + 16, fold(sum16(ip + 20, l4len, s)));
	}
	return 34 + l4len;
}

static void rx(const void *f, uint32_t len)
{
	struct virtio_net_hdr h = {.num_buffers = 1};

	assert_true(net_host_device_rx(&h, f, len, 1, 0));
	net_host_poll();
}

/* A TCP segment over IPv4 to the guest. */
static void rx_tcp4(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
		    uint32_t payload)
{
	uint32_t n = tcp(frame + 34, sport, dport, seq, ack, flags, payload);

	rx(frame, ip4(frame, 6, n));
}

static int group_setup(void **state)
{
	(void)state;
	if (net_host_init(VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			  VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM)))
		return -1;
	return net_host_listen_discard(9);
}

/* IPv6 fe80::1 -> fe80::2 with extension headers ext (next header chain given) and TCP. */
static uint32_t ip6_tcp(uint8_t *f, const uint8_t *ext, uint32_t extlen, uint8_t first,
			bool good_csum)
{
	uint8_t *ip = f + eth(f, 0x86dd), *t;
	uint32_t n, s;

	memset(ip, 0, 40);
	ip[0] = 0x60;
	ip[6] = first;
	ip[7] = 64;
	memcpy(ip + 8, peer6, 16);
	memcpy(ip + 24, guest6, 16);
	memcpy(ip + 40, ext, extlen);
	t = ip + 40 + extlen;
	n = tcp(t, 40000, 9, 1000, 0, 0x02, 0);
	put16(ip + 4, (uint16_t)(extlen + n));
	s = sum16(ip + 8, 32, 6 + n);
	put16(t + 16, (uint16_t)(fold(sum16(t, n, s)) ^ (good_csum ? 0 : 0x5555)));
	return 14 + 40 + extlen + n;
}

static void test_ipv6_extension_headers_checksum(void **state)
{
	/* Hop-by-Hop, Destination Options (PadN), Routing (type 0 left 0): each then TCP. */
	static const uint8_t types[] = {0, 60, 43};
	uint8_t ext[8] = {6, 0, 1, 4, 0, 0, 0, 0};

	(void)state;
	for (unsigned i = 0; i < sizeof(types); i++) {
		uint64_t bad = net_glue.rx_csum_bad, in = lwip_stats.tcp.recv;
		uint32_t n;

		if (types[i] == 43) {
			memset(ext + 2, 0, 6);
			ext[2] = 0; /* routing type 0, segments left 0: lwIP passes it */
		}
		n = ip6_tcp(frame, ext, 8, types[i], false);
		rx(frame, n);
		assert_int_equal(net_glue.rx_csum_bad, bad + 1); /* checked, and dropped */
		assert_int_equal(lwip_stats.tcp.recv, in);
		n = ip6_tcp(frame, ext, 8, types[i], true);
		rx(frame, n);
		assert_int_equal(net_glue.rx_csum_bad, bad + 1);
		if (types[i] != 43)
			assert_int_equal(lwip_stats.tcp.recv, in + 1); /* a good one goes up */
	}
}

static void test_ipv6_fragment_in_second_position(void **state)
{
	/* Hop-by-Hop, then a first Fragment (offset 0, more), then TCP. */
	uint8_t ext[16] = {44, 0, 1, 4, 0, 0, 0, 0, 6, 0, 0, 1, 0, 0, 0, 7};
	uint64_t frag = net_glue.rx_tcp_fragment, reass = lwip_stats.ip6_frag.recv;

	(void)state;
	rx(frame, ip6_tcp(frame, ext, 16, 0, true));
	assert_int_equal(net_glue.rx_tcp_fragment, frag + 1);
	assert_int_equal(lwip_stats.ip6_frag.recv, reass); /* never reached reassembly */
	/* A later fragment of it (offset 8): dropped too, whatever its bytes say. */
	ext[10] = 0;
	ext[11] = 8;
	rx(frame, ip6_tcp(frame, ext, 16, 0, true));
	assert_int_equal(net_glue.rx_tcp_fragment, frag + 2);
	/* A chain longer than the first buffer: cannot be walked, dropped. */
	{
		uint8_t ext9[9 * 8];

		for (unsigned i = 0; i < 9; i++) {
			memset(ext9 + i * 8, 0, 8);
			ext9[i * 8] = i == 8 ? 6 : 60;
			ext9[i * 8 + 2] = 1;
			ext9[i * 8 + 3] = 4;
		}
		uint64_t unparsed = net_glue.rx_l4_unparsed;

		rx(frame, ip6_tcp(frame, ext9, sizeof(ext9), 60, true));
		assert_int_equal(net_glue.rx_l4_unparsed, unparsed + 1);
	}
}

/* Raw IPv4 protocol 253: what lwIP may do with a received pbuf before the IP header. */
static int raw_add_ok = -1, raw_custom = -1;
static struct vnet_dev *raw_page_dev;

static u8_t raw_recv_cb(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
	(void)arg;
	(void)pcb;
	(void)addr;
	raw_custom = (p->flags & PBUF_FLAG_IS_CUSTOM) != 0;
	/* The Ethernet header is 14 bytes before; one more is outside the frame. */
	raw_add_ok = pbuf_add_header(p, 14 + 1) == 0;
	if (raw_add_ok)
		pbuf_remove_header(p, 14 + 1);
	if (raw_custom)
		raw_page_dev = ((struct vnet_rxbuf *)(void *)p)->dev;
	return 0;
}

static void test_received_pages_unreachable_before_frame(void **state)
{
	struct raw_pcb *r = raw_new(253);

	(void)state;
	assert_non_null(r);
	raw_recv(r, raw_recv_cb, NULL);
	memset(frame + 34, 0xab, 1000);
	rx(frame, ip4(frame, 253, 1000));
	assert_int_equal(raw_custom, 1); /* a page, not a copy */
	assert_int_equal(raw_add_ok, 0); /* lwIP cannot write before the frame */
	assert_ptr_equal(raw_page_dev, net_host_dev);
	/* A small frame is a copy of its own. */
	rx(frame, ip4(frame, 253, 20));
	assert_int_equal(raw_custom, 0);
	raw_remove(r);
}

/* Open a connection from port sport to the discard server; returns the next seq and ack. */
static void connect9(uint16_t sport, uint32_t *seq, uint32_t *ack)
{
	unsigned ntx = net_host_ntx;
	const struct net_host_tx *t;

	rx_tcp4(sport, 9, 5000, 0, 0x02, 0);
	assert_int_equal(net_host_ntx, ntx + 1);
	t = &net_host_txs[ntx % 16];
	assert_int_equal(t->frame[14 + 20 + 13], 0x12); /* SYN-ACK */
	*ack = rd32(t->frame + 14 + 20 + 4) + 1;
	*seq = 5001;
	rx_tcp4(sport, 9, *seq, *ack, 0x10, 0);
}

static unsigned ooseq_pbufs(void)
{
	unsigned n = 0;

	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next)
		for (struct tcp_seg *s = pcb->ooseq; s; s = s->next)
			n += pbuf_clen(s->p);
	return n;
}

static void flood(unsigned nconn, unsigned nseg, uint32_t payload, uint16_t port0)
{
	uint32_t seq[8], ack[8];

	for (unsigned c = 0; c < nconn; c++)
		connect9((uint16_t)(port0 + c), &seq[c], &ack[c]);
	for (unsigned i = 0; i < nseg; i++) {
		for (unsigned c = 0; c < nconn; c++) {
			/* One byte hole at seq[c], then segments a byte apart. */
			rx_tcp4((uint16_t)(port0 + c), 9, seq[c] + 1 + i * (payload + 1), ack[c],
				0x18, payload);
			assert_int_equal(net_host_posted(), NET_HOST_QSIZE);
			assert_true(net_glue.rx_pages_held <= NET_RX_PAGE_BUDGET);
		}
	}
	/* Out-of-order data of every connection shares one budget. */
	assert_true(ooseq_pbufs() <= NET_OOSEQ_BUDGET);
}

static void test_small_segments_are_copied(void **state)
{
	uint64_t copied = net_glue.rx_copied;

	(void)state;
	flood(2, 1024, 1, 41000);
	assert_int_equal(net_glue.rx_pages_held, 0);
	assert_true(net_glue.rx_copied >= copied + 2048);
}

static void test_page_budget_against_large_segments(void **state)
{
	unsigned ntx;

	(void)state;
	flood(4, 600, 1000, 42000); /* 2400 pages' worth past holes: more than the pool */
	assert_true(net_glue.rx_pages_held_max <= NET_RX_PAGE_BUDGET);
	/* And the guest still answers: a 42-byte ICMP echo request (no padding) gets its reply. */
	ntx = net_host_ntx;
	memset(frame + 34, 0, 8);
	frame[34] = 8;
	put16(frame + 34 + 2, fold(sum16(frame + 34, 8, 0)));
	rx(frame, ip4(frame, 1, 8));
	assert_int_equal(net_host_ntx, ntx + 1);
	assert_int_equal(net_host_txs[ntx % 16].frame[34], 0); /* echo reply */
}

/* Bytes of a TCP segment's data that are not 'x' (what tcp() fills in). */
static unsigned seg_damage(const struct tcp_seg *s)
{
	unsigned bad = 0;

	for (uint16_t i = (uint16_t)(s->p->tot_len - s->len); i < s->p->tot_len; i++)
		bad += pbuf_get_at(s->p, i) != 'x';
	return bad;
}

/*
 * The device breaks the receive ring while lwIP holds received pages (out
 * of order TCP data): the driver resets the device and posts again only
 * the pages that were on the ring. lwIP's pages stay valid and are not
 * written by what the device receives next; the hole filled, the data goes
 * up and every page comes back to the pool.
 */
static void test_held_pages_survive_a_device_reset(void **state)
{
	struct vnet_dev *d = net_host_dev;
	uint32_t seq, ack;
	unsigned held, segs = 0, changes = (unsigned)d->stats.link_changes;

	(void)state;
	connect9(43000, &seq, &ack);
	for (unsigned i = 0; i < 8; i++) /* a one-byte hole at seq, then 8 pages */
		rx_tcp4(43000, 9, seq + 1 + i * 1000, ack, 0x18, 1000);
	held = net_glue.rx_pages_held;
	assert_true(held >= 8);

	net_host_break(VIRTIO_NET_RXQ, "test: bad used entry");
	net_host_poll();
	assert_int_equal(d->stats.recoveries, 1);
	assert_int_equal(vnet_fake_vd.resets, 1);
	assert_int_equal(vnet_fake_unsafe_del_vqs, 0);
	assert_int_equal(d->stats.link_changes, changes + 2); /* down, then up */
	assert_true(netif_is_link_up(&net_host_netif));
	assert_int_equal(net_host_posted(), NET_HOST_QSIZE);
	assert_int_equal(net_glue.rx_pages_held, held);
	assert_int_equal(d->rx_pages_free + d->rx_posted + held, d->rx_pages);

	/* The device fills every posted page; lwIP's pages are not among them. */
	for (unsigned i = 0; i < NET_HOST_QSIZE; i++) {
		memset(frame + 34, 'y', 1000);
		rx(frame, ip4(frame, 253, 1000));
	}
	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
		if (pcb->remote_port != 43000)
			continue;
		for (struct tcp_seg *s = pcb->ooseq; s; s = s->next, segs++)
			assert_int_equal(seg_damage(s), 0);
	}
	assert_int_equal(segs, 8);

	/* The hole filled: everything goes up in order, the pages come back. */
	rx_tcp4(43000, 9, seq, ack, 0x18, 1);
	assert_int_equal(net_glue.rx_pages_held, held - 8);
	assert_int_equal(d->rx_pages_free + d->rx_posted + held - 8, d->rx_pages);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv6_extension_headers_checksum),
		cmocka_unit_test(test_ipv6_fragment_in_second_position),
		cmocka_unit_test(test_received_pages_unreachable_before_frame),
		cmocka_unit_test(test_small_segments_are_copied),
		cmocka_unit_test(test_page_budget_against_large_segments),
		cmocka_unit_test(test_held_pages_survive_a_device_reset),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
