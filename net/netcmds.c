/*
 * Shell commands for the network: `ifconfig` (addresses, link, features,
 * driver and per-queue counters, drops; `ifconfig promisc on|off`) and
 * `netstat` (lwIP's protocol counters, memory pools, TCP connections).
 */
#include <stdio.h>
#include <string.h>

#include <lwip/dhcp.h>
#include <lwip/ip_addr.h>
#include <lwip/memp.h>
#include <lwip/netif.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/stats.h>
#include <lwip/tcp.h>

#include <kernel/registry.h>
#include <net/net.h>
#include <virtio/net.h>

#include "net_apps.h"
#include "net_hooks.h"
#include "netif_vnet.h"

const char *net_err_str(int err)
{
	static const char *const names[] = {
		"ok",
		"out of memory",
		"buffer error",
		"timeout",
		"routing problem",
		"operation in progress",
		"illegal value",
		"would block",
		"address in use",
		"already connecting",
		"already connected",
		"not connected",
		"interface error",
		"connection aborted",
		"connection reset",
		"connection closed",
		"illegal argument",
	};

	return err <= 0 && -err < (int)(sizeof(names) / sizeof(names[0])) ? names[-err] : "error";
}

int net_cmd_up(void)
{
	if (net_up())
		return 1;
	if (net_wait_addr(20000)) {
		printf("net: no IPv4 address (DHCP did not answer within 20 s)\n");
		return 1;
	}
	return 0;
}

static void print_queue(const char *what, struct virtqueue *vq)
{
	const struct vq_stats *s;

	if (!vq)
		return;
	s = virtqueue_stats(vq);
	printf("    %-4s %u entries (%u free)%s: %llu added, %llu used, %llu kicks (%llu "
	       "suppressed), %llu interrupts, %llu indirect%s%s\n",
	       what, virtqueue_num(vq), virtqueue_num_free(vq),
	       virtqueue_layout(vq) == VQ_PACKED ? " packed" : "", (unsigned long long)s->added,
	       (unsigned long long)s->used, (unsigned long long)s->kicks,
	       (unsigned long long)s->kicks_suppressed, (unsigned long long)s->interrupts,
	       (unsigned long long)s->indirect, virtqueue_is_broken(vq) ? ", BROKEN: " : "",
	       virtqueue_broken_reason(vq) ?: "");
}

void net_print_stats(void)
{
	struct netif *n = net_netif();
	struct vnet_dev *d = net_vnet();
	const struct vnet_stats *s;
	const struct net_glue_stats *g = net_glue_stats();
	char feats[512], a[IPADDR_STRLEN_MAX];

	if (!n || !d) {
		printf("net: not up\n");
		return;
	}
	s = &d->stats;
	printf("%s: flags=<%s%s%s%s> mtu %u\n", d->name, netif_is_up(n) ? "UP" : "DOWN",
	       netif_is_link_up(n) ? ",LINK_UP" : ",NO-CARRIER", d->promisc ? ",PROMISC" : "",
	       dhcp_supplied_address(n) ? ",DHCP" : "", n->mtu);
	printf("    inet %s", ip4addr_ntoa_r(netif_ip4_addr(n), a, sizeof(a)));
	printf("  netmask %s", ip4addr_ntoa_r(netif_ip4_netmask(n), a, sizeof(a)));
	printf("  gateway %s\n", ip4addr_ntoa_r(netif_ip4_gw(n), a, sizeof(a)));
	for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++)
		if (!ip6_addr_isinvalid(netif_ip6_addr_state(n, i)))
			printf("    inet6 %s%s\n",
			       ip6addr_ntoa_r(netif_ip6_addr(n, i), a, sizeof(a)),
			       ip6_addr_istentative(netif_ip6_addr_state(n, i)) ? " (tentative)"
										: "");
	printf("    ether %02x:%02x:%02x:%02x:%02x:%02x  (%s, interrupts %s)\n", d->mac[0],
	       d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5], d->vd->name, d->vd->irq_mode);
	vnet_feature_names(d, feats, sizeof(feats));
	printf("    features %s\n", feats);
	printf("    rx: %s buffers, %u pages (%u free, %u posted)\n",
	       d->mergeable ? "mergeable" : "big", d->rx_pages, d->rx_pages_free, d->rx_posted);
	printf("    RX packets %llu  bytes %llu  gso %llu  csum-ok %llu  buffers %llu\n",
	       (unsigned long long)s->rx_packets, (unsigned long long)s->rx_bytes,
	       (unsigned long long)s->rx_gso, (unsigned long long)s->rx_csum_ok,
	       (unsigned long long)s->rx_buffers);
	printf("    RX drops: runt %llu  too-long %llu  bad-num-buffers %llu  bad-csum-flag %llu  "
	       "bad-gso %llu  ring-empty %llu  no-page %llu  csum %llu/%llu sw-checked  "
	       "tcp-fragment %llu  lwip %llu\n",
	       (unsigned long long)s->rx_runt, (unsigned long long)s->rx_too_long,
	       (unsigned long long)s->rx_bad_nbufs, (unsigned long long)s->rx_bad_csum_flag,
	       (unsigned long long)s->rx_bad_gso, (unsigned long long)s->rx_ring_empty,
	       (unsigned long long)s->rx_no_page, (unsigned long long)g->rx_csum_bad,
	       (unsigned long long)g->rx_csum_sw, (unsigned long long)g->rx_tcp_fragment,
	       (unsigned long long)g->rx_input_err);
	printf("    RX memory: pages held %u (most %u, budget %u), copied %llu, no-mem %llu, "
	       "out-of-order purges %llu, unparsed-ip %llu\n",
	       g->rx_pages_held, g->rx_pages_held_max, NET_RX_PAGE_BUDGET,
	       (unsigned long long)g->rx_copied, (unsigned long long)g->rx_nomem,
	       (unsigned long long)g->rx_ooseq_purges, (unsigned long long)g->rx_l4_unparsed);
	printf("    TX packets %llu  bytes %llu  gso %llu (%llu segments)  csum %llu  kicks %llu\n",
	       (unsigned long long)s->tx_packets, (unsigned long long)s->tx_bytes,
	       (unsigned long long)s->tx_gso, (unsigned long long)g->tx_gso_segments,
	       (unsigned long long)s->tx_csum, (unsigned long long)s->tx_kicks);
	printf("    checksums in software: RX TCP %llu (lwIP) %llu (driver), TX TCP %llu (lwIP)\n",
	       (unsigned long long)g->rx_csum_lwip, (unsigned long long)g->rx_csum_sw,
	       (unsigned long long)g->tx_csum_lwip);
	printf("    TX errors: ring-full %llu  busy %llu  linearized %llu  other %llu\n",
	       (unsigned long long)s->tx_ring_full, (unsigned long long)g->tx_busy,
	       (unsigned long long)g->tx_linearized, (unsigned long long)g->tx_err);
	printf("    control %llu commands (%llu failed), link changes %llu, announcements %llu, "
	       "config events %llu\n",
	       (unsigned long long)s->ctrl_cmds, (unsigned long long)s->ctrl_errors,
	       (unsigned long long)s->link_changes, (unsigned long long)s->announces,
	       (unsigned long long)s->config_events);
	printf("    device resets that brought it back %llu (receive buffers taken back %llu, "
	       "frames not sent %llu)%s\n",
	       (unsigned long long)s->recoveries, (unsigned long long)s->rx_taken_back,
	       (unsigned long long)s->tx_taken_back, d->dead ? ", DEAD: given up" : "");
	print_queue("rx0", d->rxq);
	print_queue("tx0", d->txq);
	print_queue("ctrl", d->ctrlq);
	fflush(stdout);
}

/* What a remote host would have to guess: shown so that tests can compare two boots. */
KCMD(netrand, "the DHCP transaction id and the keyed part of a TCP initial sequence number")
{
	struct netif *n;
	struct dhcp *d;
	ip_addr_t a, b;

	(void)argv;
	if (argc != 1 || net_up())
		return 1;
	n = net_netif();
	d = netif_dhcp_data(n);
	IP_ADDR4(&a, 10, 0, 2, 15);
	IP_ADDR4(&b, 10, 0, 2, 2);
	printf("netrand: dhcp xid 0x%08x, isn 10.0.2.15:49152->10.0.2.2:80 keyed part 0x%08x\n",
	       d ? (unsigned)d->xid : 0u, (unsigned)net_tcp_isn_f(&a, 49152, &b, 80));
	return 0;
}

KCMD(ifconfig, "network interface: addresses, link, counters; ifconfig promisc on|off")
{
	struct vnet_dev *d;

	if (net_up())
		return 1;
	d = net_vnet();
	if (argc == 3 && strcmp(argv[1], "promisc") == 0) {
		int rc = vnet_set_promisc(d, strcmp(argv[2], "on") == 0);
		if (rc) {
			printf("ifconfig: promisc: %s\n",
			       rc == -EOPNOTSUPP ? "no CTRL_RX" : "the device refused");
			return 1;
		}
	} else if (argc != 1) {
		printf("usage: ifconfig [promisc on|off]\n");
		return 1;
	}
	net_poll();
	net_print_stats();
	return 0;
}

static const char *const tcp_states[] = {"CLOSED",	"LISTEN",     "SYN_SENT",   "SYN_RCVD",
					 "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
					 "CLOSING",	"LAST_ACK",   "TIME_WAIT"};

static void print_pcbs(struct tcp_pcb *list)
{
	char la[IPADDR_STRLEN_MAX], ra[IPADDR_STRLEN_MAX];

	for (struct tcp_pcb *p = list; p; p = p->next)
		printf("  tcp  %s:%u  %s:%u  %s  snd_wnd %lu  rcv_wnd %lu  cwnd %lu\n",
		       ipaddr_ntoa_r(&p->local_ip, la, sizeof(la)), p->local_port,
		       ipaddr_ntoa_r(&p->remote_ip, ra, sizeof(ra)), p->remote_port,
		       tcp_states[p->state], (unsigned long)p->snd_wnd, (unsigned long)p->rcv_wnd,
		       (unsigned long)p->cwnd);
}

static void print_proto(const char *name, const struct stats_proto *p)
{
	printf("  %-6s xmit %u recv %u fw %u drop %u chkerr %u lenerr %u memerr %u rterr %u "
	       "proterr %u opterr %u err %u\n",
	       name, p->xmit, p->recv, p->fw, p->drop, p->chkerr, p->lenerr, p->memerr, p->rterr,
	       p->proterr, p->opterr, p->err);
}

/* lwIP's pool names (their descriptions), in MEMP_* order. */
static const char *const pool_names[] = {
#define LWIP_MEMPOOL(name, num, size, desc) desc,
#include <lwip/priv/memp_std.h>
};

KCMD(netstat, "lwIP counters, memory pools and TCP connections")
{
	if (net_up())
		return 1;
	net_poll();
	print_proto("link", &lwip_stats.link);
	print_proto("etharp", &lwip_stats.etharp);
	print_proto("ip", &lwip_stats.ip);
	print_proto("icmp", &lwip_stats.icmp);
	print_proto("udp", &lwip_stats.udp);
	print_proto("tcp", &lwip_stats.tcp);
	print_proto("ip6", &lwip_stats.ip6);
	print_proto("nd6", &lwip_stats.nd6);
	printf("  heap: %lu of %lu bytes used (max %lu), %u errors\n",
	       (unsigned long)lwip_stats.mem.used, (unsigned long)lwip_stats.mem.avail,
	       (unsigned long)lwip_stats.mem.max, (unsigned)lwip_stats.mem.err);
	for (int i = 0; i < MEMP_MAX; i++) {
		const struct stats_mem *m = lwip_stats.memp[i];

		if (m && (m->used || m->max || m->err))
			printf("  pool %-16s used %u max %u of %u, %u errors\n", pool_names[i],
			       (unsigned)m->used, (unsigned)m->max, (unsigned)m->avail,
			       (unsigned)m->err);
	}
	print_pcbs(tcp_active_pcbs);
	for (struct tcp_pcb_listen *l = tcp_listen_pcbs.listen_pcbs; l; l = l->next)
		printf("  tcp  *:%u  LISTEN\n", l->local_port);
	print_pcbs(tcp_tw_pcbs);
	return 0;
}
