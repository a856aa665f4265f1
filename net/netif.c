/*
 * lwIP network interface on a virtio-net device: frames go both ways
 * without a copy. Received pages become pbuf_custom chains whose free
 * function gives the page back to the driver; transmitted pbuf chains are
 * referenced (pbuf_ref) and handed to the device as one sg entry per
 * pbuf, then freed when the device is done (tx_done).
 *
 * Offloads: with VIRTIO_NET_F_CSUM lwIP leaves TCP checksums to the
 * device (csum_start/csum_offset, the pseudo-header sum in the field);
 * with GUEST_CSUM it does not check TCP checksums and this file verifies
 * in software the frames the device did not vouch for. UDP, ICMP and IP
 * header checksums stay with lwIP (cheap, and correct across IP
 * fragmentation). With HOST_TSO4/6, consecutive full-sized segments of
 * one TCP connection queued in the same poll round leave as one large
 * segment (net/netif_tso.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <lwip/etharp.h>
#include <lwip/ethip6.h>
#include <lwip/igmp.h>
#include <lwip/inet_chksum.h>
#include <lwip/mld6.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/prot/ip.h>
#include <lwip/stats.h>
#include <netif/ethernet.h>

#include <kernel/kernel.h>
#include <net/net.h>
#include <virtio/net.h>

#include "netif_vnet.h"

struct net_glue_stats net_glue;
bool vnet_tx_blocked;

/* lwIP's per-netif checksum switches (LWIP_CHECKSUM_CTRL_PER_NETIF). */
#define NETIF_CSUM_ON(netif, flag) (((netif)->chksum_flags & (flag)) != 0)

_Static_assert(sizeof(struct pbuf_custom) <= VNET_RXBUF_OWNER, "pbuf_custom fits the page head");

/* Receive: pages to pbufs. */

static void rx_pbuf_free(struct pbuf *p)
{
	net_rx_page_put();
	vnet_rxbuf_release((struct vnet_rxbuf *)(void *)p);
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* What frame_l4 found. */
enum l4_parse {
	L4_NOT_IP,   /* not IPv4/IPv6: lwIP's own checks apply */
	L4_FOUND,    /* the transport header: where, which, how long */
	L4_UNPARSED, /* IP, but its headers cannot be walked in the first pbuf */
};

#define IP6_MAX_EXT_HEADERS 8 /* more than RFC 8200's recommended order ever needs */

/*
 * IPv6 (RFC 8200 section 4): follow Hop-by-Hop, Routing and Destination
 * Options headers and a Fragment header, in any order (as lwIP's ip6_input
 * does), to the real transport header; at most IP6_MAX_EXT_HEADERS of them.
 */
static enum l4_parse ip6_l4(const uint8_t *f, uint16_t flen, uint16_t *l4, uint8_t *proto,
			    uint16_t *l4len, bool *frag)
{
	unsigned off = SIZEOF_ETH_HDR + 40, end = SIZEOF_ETH_HDR + 40 + rd16(f + 18);
	uint8_t next = f[20];

	for (unsigned i = 0; i <= IP6_MAX_EXT_HEADERS; i++) {
		unsigned len;

		if (next == IP6_NEXTH_HOPBYHOP || next == IP6_NEXTH_ROUTING ||
		    next == IP6_NEXTH_DESTOPTS) {
			if (off + 8 > flen)
				return L4_UNPARSED;
			len = (f[off + 1] + 1u) * 8;
		} else if (next == IP6_NEXTH_FRAGMENT) {
			if (off + 8 > flen)
				return L4_UNPARSED;
			*frag = true;
			len = 8;
			if (rd16(f + off + 2) & 0xfff8) {
				/*
				 * Not the first fragment: what follows is data. The
				 * first fragment's chain decides the reassembled
				 * datagram's protocol (lwIP's ip6_reass).
				 */
				*l4 = (uint16_t)(off + len);
				*proto = f[off];
				*l4len = (uint16_t)(end - off - len);
				return *l4 <= end ? L4_FOUND : L4_UNPARSED;
			}
		} else {
			if (off > flen)
				return L4_UNPARSED;
			*l4 = (uint16_t)off;
			*proto = next;
			*l4len = (uint16_t)(end - off);
			return L4_FOUND;
		}
		next = f[off];
		off += len;
		if (off > end)
			return L4_UNPARSED;
	}
	return L4_UNPARSED;
}

/*
 * The IP datagram in frame p: where its transport header starts, which
 * protocol, how long, whether it is a fragment. Everything up to the
 * transport header must lie in the first pbuf.
 */
static enum l4_parse frame_l4(struct pbuf *p, uint16_t *l4, uint8_t *proto, uint16_t *l4len,
			      bool *frag)
{
	const uint8_t *f = p->payload;
	uint16_t type;

	*frag = false;
	if (p->len < SIZEOF_ETH_HDR)
		return L4_NOT_IP;
	type = rd16(f + 12);
	if (type != ETHTYPE_IP && type != ETHTYPE_IPV6)
		return L4_NOT_IP;
	if (p->len < SIZEOF_ETH_HDR + (type == ETHTYPE_IP ? 20 : 40))
		return L4_UNPARSED;
	if (type == ETHTYPE_IP) {
		unsigned ihl = (f[14] & 15u) * 4, tot = rd16(f + 16);

		if ((f[14] >> 4) != 4 || ihl < 20 || tot < ihl || SIZEOF_ETH_HDR + ihl > p->len ||
		    SIZEOF_ETH_HDR + tot > p->tot_len)
			return L4_UNPARSED;
		*frag = (rd16(f + 20) & 0x3fff) != 0; /* MF or an offset */
		*l4 = (uint16_t)(SIZEOF_ETH_HDR + ihl);
		*proto = f[23];
		*l4len = (uint16_t)(tot - ihl);
		return L4_FOUND;
	}
	if ((f[14] >> 4) != 6 || SIZEOF_ETH_HDR + 40u + rd16(f + 18) > p->tot_len)
		return L4_UNPARSED;
	return ip6_l4(f, p->len, l4, proto, l4len, frag);
}

/* Ones' complement checksum of the transport part with its pseudo header. Returns: 0 if right. */
static uint16_t l4_csum(struct pbuf *p, uint16_t l4, uint8_t proto, uint16_t l4len)
{
	const uint8_t *f = p->payload;
	uint16_t sum;

	pbuf_remove_header(p, l4);
	if (rd16(f + 12) == ETHTYPE_IP) {
		ip4_addr_t src, dst;

		memcpy(&src, f + 26, 4);
		memcpy(&dst, f + 30, 4);
		sum = inet_chksum_pseudo_partial(p, proto, l4len, l4len, &src, &dst);
	} else {
		ip6_addr_t src, dst;

		memcpy(src.addr, f + 22, 16);
		memcpy(dst.addr, f + 38, 16);
		ip6_addr_clear_zone(&src);
		ip6_addr_clear_zone(&dst);
		sum = ip6_chksum_pseudo_partial(p, proto, l4len, l4len, &src, &dst);
	}
	pbuf_header_force(p, (s16_t)l4); /* back where it was (a PBUF_REF refuses non-forced) */
	return sum;
}

/* Finish a partial checksum (NEEDS_CSUM) the way the device would have. */
static void csum_complete(struct pbuf *p, uint16_t start, uint16_t end, uint16_t off)
{
	uint16_t sum;
	uint8_t be[2];

	pbuf_remove_header(p, start);
	pbuf_realloc(p, (uint16_t)(end - start));
	sum = inet_chksum_pbuf(p);
	pbuf_header_force(p, (s16_t)start);
	if (sum == 0)
		sum = 0xffff; /* UDP: 0 means "no checksum" */
	be[0] = (uint8_t)(sum >> 8);
	be[1] = (uint8_t)sum;
	pbuf_take_at(p, be, 2, (uint16_t)(start + off));
}

/*
 * Checksum policy for one received frame. Returns: true to pass it to
 * lwIP, false to drop it (counted).
 */
static bool rx_csum(struct netif *netif, struct pbuf *p, const struct vnet_rx_info *info)
{
	uint16_t l4, l4len;
	uint8_t proto;
	bool frag;

	switch (frame_l4(p, &l4, &proto, &l4len, &frag)) {
	case L4_NOT_IP: return true; /* lwIP's own checks apply */
	case L4_UNPARSED:
		/* lwIP drops what is malformed, but would not check a TCP checksum. */
		if (NETIF_CSUM_ON(netif, NETIF_CHECKSUM_CHECK_TCP) || info->csum_ok)
			return true;
		net_glue.rx_l4_unparsed++;
		return false;
	case L4_FOUND: break;
	}
	pbuf_realloc(p, (uint16_t)(l4 + l4len)); /* drop Ethernet padding now */
	if (proto == IP_PROTO_UDP && info->csum_ok && info->csum_needed) {
		csum_complete(p, l4, (uint16_t)(l4 + l4len), 6);
		net_glue.rx_udp_completed++;
		return true;
	}
	if (proto == IP_PROTO_TCP && !info->csum_ok &&
	    NETIF_CSUM_ON(netif, NETIF_CHECKSUM_CHECK_TCP))
		net_glue.rx_csum_lwip++;
	if (proto != IP_PROTO_TCP || NETIF_CSUM_ON(netif, NETIF_CHECKSUM_CHECK_TCP) ||
	    info->csum_ok)
		return true;
	if (frag) {
		/* lwIP will not check the reassembled segment: we cannot either. */
		net_glue.rx_tcp_fragment++;
		return false;
	}
	net_glue.rx_csum_sw++;
	if (l4_csum(p, l4, proto, l4len) != 0) {
		net_glue.rx_csum_bad++;
		return false;
	}
	return true;
}

/*
 * A frame as a pbuf chain: a copy when it is small or the stack holds its
 * share of pages already (netif_rxmem.c), else its pages as pbuf_custom.
 * PBUF_REF, as lwIP's zero-copy receive example has it: lwIP cannot move a
 * REF payload back (pbuf_add_header fails; it copies instead), so it never
 * writes over the page's head (the pbuf itself, its free function, the
 * driver's fields); a forced move only returns to where the frame was.
 */
static struct pbuf *rx_pbufs(struct vnet_rxbuf *frame, const struct vnet_rx_info *info)
{
	struct pbuf *head = NULL;

	if (info->len <= NET_RX_COPYBREAK || !net_rx_pages_take(info->nbufs))
		return net_rx_copy(frame, info->len);
	while (frame) {
		struct vnet_rxbuf *next = frame->next;
		struct pbuf_custom *pc = (struct pbuf_custom *)(void *)frame->owner;
		struct pbuf *p;

		frame->next = NULL;
		pc->custom_free_function = rx_pbuf_free;
		p = pbuf_alloced_custom(PBUF_RAW, (u16_t)frame->len, PBUF_REF, pc, frame->data,
					(u16_t)frame->len);
		if (head)
			pbuf_cat(head, p);
		else
			head = p;
		frame = next;
	}
	return head;
}

static void vnet_rx(struct vnet_dev *dev, struct vnet_rxbuf *frame, const struct vnet_rx_info *info)
{
	struct netif *netif = dev->stack;
	struct pbuf *head = rx_pbufs(frame, info);

	LINK_STATS_INC(link.recv);
	if (!head) {
		LINK_STATS_INC(link.memerr);
		LINK_STATS_INC(link.drop);
		return;
	}
	if (!rx_csum(netif, head, info)) {
		LINK_STATS_INC(link.chkerr);
		LINK_STATS_INC(link.drop);
		pbuf_free(head);
		return;
	}
	if (netif->input(head, netif) != ERR_OK) {
		net_glue.rx_input_err++;
		pbuf_free(head);
	}
}

/* Transmit. */

static void vnet_tx_done(struct vnet_dev *dev, void *token)
{
	(void)dev;
	pbuf_free(token);
}

/*
 * VIRTIO_NET_F_CSUM for a TCP segment lwIP left without a checksum:
 * the device sums from csum_start to the end into csum_offset; the field
 * holds the pseudo-header sum meanwhile (5.1.6.2).
 */
void vnet_tx_csum(struct pbuf *p, struct virtio_net_hdr *h)
{
	uint16_t l4, l4len;
	uint8_t proto, be[2];
	bool frag;
	const uint8_t *f = p->payload;
	uint32_t sum;

	if (frame_l4(p, &l4, &proto, &l4len, &frag) != L4_FOUND || proto != IP_PROTO_TCP || frag ||
	    l4 + 18 > p->len)
		return;
	sum = (uint32_t)proto + l4len;
	if (rd16(f + 12) == ETHTYPE_IP) {
		for (unsigned i = 26; i < 34; i += 2)
			sum += rd16(f + i);
	} else {
		for (unsigned i = 22; i < 54; i += 2)
			sum += rd16(f + i);
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	be[0] = (uint8_t)(sum >> 8);
	be[1] = (uint8_t)sum;
	pbuf_take_at(p, be, 2, (uint16_t)(l4 + 16));
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->csum_start = cpu_to_le16(l4);
	h->csum_offset = cpu_to_le16(16);
}

int vnet_netif_send(struct netif *netif, struct pbuf *p, const struct virtio_net_hdr *h)
{
	struct vnet_dev *dev = netif->state;
	struct pbuf *tok = p;
	DECLARE_SG(sg, VNET_TX_MAX_SG);
	int rc;

	for (struct pbuf *q = p; q; q = q->next) {
		if (q->len && sg_add(sg, q->payload, q->len)) {
			/* More pieces than a frame may have: one copy, counted. */
			tok = pbuf_clone(PBUF_RAW, PBUF_RAM, p);
			if (!tok)
				return -ENOMEM;
			net_glue.tx_linearized++;
			sg->num = 0;
			sg_add(sg, tok->payload, tok->len);
			break;
		}
	}
	if (tok == p)
		pbuf_ref(p);
	rc = vnet_xmit(dev, h, sg, tok);
	if (rc)
		pbuf_free(tok);
	return rc;
}

static err_t vnet_linkoutput(struct netif *netif, struct pbuf *p)
{
	struct vnet_dev *dev = netif->state;
	struct virtio_net_hdr h = {0};
	int rc;

	if (!dev->link_up) {
		net_glue.tx_err++;
		LINK_STATS_INC(link.drop);
		return ERR_IF;
	}
	if (vnet_has(dev, VIRTIO_NET_F_CSUM) && !NETIF_CSUM_ON(netif, NETIF_CHECKSUM_GEN_TCP)) {
		if (vnet_tso_enabled(dev) && vnet_tso_queue(netif, p) == 0) {
			LINK_STATS_INC(link.xmit);
			return ERR_OK;
		}
		vnet_tx_csum(p, &h);
	} else {
		uint16_t l4, l4len;
		uint8_t proto;
		bool frag;

		if (frame_l4(p, &l4, &proto, &l4len, &frag) == L4_FOUND && proto == IP_PROTO_TCP)
			net_glue.tx_csum_lwip++;
	}
	rc = vnet_netif_send(netif, p, &h);
	if (rc == -ENOSPC) {
		net_glue.tx_busy++;
		vnet_tx_blocked = true;
		LINK_STATS_INC(link.drop);
		return ERR_MEM;
	}
	if (rc) {
		net_glue.tx_err++;
		LINK_STATS_INC(link.err);
		return rc == -ENOMEM ? ERR_MEM : ERR_IF;
	}
	LINK_STATS_INC(link.xmit);
	return ERR_OK;
}

/* Link and announcements. */

static void vnet_link_changed(struct vnet_dev *dev, bool up)
{
	struct netif *netif = dev->stack;

	printf("net: %s: link %s\n", dev->name, up ? "up" : "down");
	if (up)
		netif_set_link_up(netif);
	else
		netif_set_link_down(netif);
}

static void vnet_announce(struct vnet_dev *dev)
{
	struct netif *netif = dev->stack;

	printf("net: %s: announcing (gratuitous ARP)\n", dev->name);
	if (!ip4_addr_isany_val(*netif_ip4_addr(netif)))
		etharp_gratuitous(netif);
}

/* Multicast filter: lwIP's IGMP and MLD groups as MAC addresses (CTRL_RX). */

static uint8_t mc_table[VNET_MAX_MULTICAST][6];
static unsigned mc_count;

static err_t mc_update(struct netif *netif, const uint8_t mac[6], enum netif_mac_filter_action act)
{
	struct vnet_dev *dev = netif->state;
	unsigned i;

	for (i = 0; i < mc_count; i++)
		if (memcmp(mc_table[i], mac, 6) == 0)
			break;
	if (act == NETIF_ADD_MAC_FILTER) {
		if (i < mc_count)
			return ERR_OK;
		if (mc_count == VNET_MAX_MULTICAST)
			return ERR_MEM;
		memcpy(mc_table[mc_count++], mac, 6);
	} else {
		if (i == mc_count)
			return ERR_OK;
		memmove(mc_table[i], mc_table[i + 1], (mc_count - i - 1) * 6u);
		mc_count--;
	}
	if (vnet_has(dev, VIRTIO_NET_F_CTRL_RX) && vnet_set_multicast(dev, mc_table, mc_count))
		return ERR_IF;
	return ERR_OK;
}

static err_t igmp_filter(struct netif *netif, const ip4_addr_t *group,
			 enum netif_mac_filter_action act)
{
	uint32_t a = lwip_ntohl(ip4_addr_get_u32(group));
	uint8_t mac[6] = {0x01,	     0x00, 0x5e, (uint8_t)((a >> 16) & 0x7f), (uint8_t)(a >> 8),
			  (uint8_t)a};

	return mc_update(netif, mac, act);
}

static err_t mld_filter(struct netif *netif, const ip6_addr_t *group,
			enum netif_mac_filter_action act)
{
	uint32_t a = lwip_ntohl(group->addr[3]);
	uint8_t mac[6] = {
		0x33, 0x33, (uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a};

	return mc_update(netif, mac, act);
}

static const struct vnet_stack_ops vnet_lwip_ops = {
	.rx = vnet_rx,
	.tx_done = vnet_tx_done,
	.link_changed = vnet_link_changed,
	.announce = vnet_announce,
};

err_t vnet_netif_init(struct netif *netif)
{
	struct vnet_dev *dev = netif->state;
	uint16_t csum = NETIF_CHECKSUM_ENABLE_ALL;
	static const uint8_t all_nodes[6] = {0x33, 0x33, 0, 0, 0, 1};

	netif->name[0] = 'v';
	netif->name[1] = 'n';
	netif->output = etharp_output;
	netif->output_ip6 = ethip6_output;
	netif->linkoutput = vnet_linkoutput;
	netif->mtu = dev->mtu;
	netif->mtu6 = dev->mtu;
	netif->hwaddr_len = ETH_HWADDR_LEN;
	memcpy(netif->hwaddr, dev->mac, ETH_HWADDR_LEN);
	netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET |
		       NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
	netif->igmp_mac_filter = igmp_filter;
	netif->mld_mac_filter = mld_filter;
	netif_set_hostname(netif, "virtio-unikernel");
	if (vnet_has(dev, VIRTIO_NET_F_CSUM))
		csum &= (uint16_t)~NETIF_CHECKSUM_GEN_TCP;
	if (vnet_has(dev, VIRTIO_NET_F_GUEST_CSUM))
		csum &= (uint16_t)~NETIF_CHECKSUM_CHECK_TCP;
	NETIF_SET_CHECKSUM_CTRL(netif, csum);

	if (vnet_attach(dev, &vnet_lwip_ops, netif))
		return ERR_MEM;
	if (dev->link_up)
		netif->flags |= NETIF_FLAG_LINK_UP;
	/*
	 * Filter in the device: our address, broadcast, and the groups lwIP
	 * joins (IPv6 all-nodes is implicit in lwIP, so listed here).
	 */
	if (vnet_has(dev, VIRTIO_NET_F_CTRL_RX)) {
		mc_update(netif, all_nodes, NETIF_ADD_MAC_FILTER);
		if (vnet_set_promisc(dev, false))
			printf("net: %s: cannot leave promiscuous mode\n", dev->name);
	}
	return ERR_OK;
}
