/*
 * Network bring-up and the poll loop: lwIP on the first virtio-net device,
 * addressed by DHCP or from the command line (ip=A.B.C.D/N gw=A.B.C.D),
 * with IPv6 link-local and SLAAC addresses besides.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/dhcp.h>
#include <lwip/init.h>
#include <lwip/ip_addr.h>
#include <lwip/netif.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/timeouts.h>
#include <netif/ethernet.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/console.h>
#include <kernel/kernel.h>
#include <net/net.h>
#include <virtio/net.h>

#include "netif_vnet.h"

#define NET_CONSOLE_POLL_NS 20000000ull /* look for Ctrl-C / 'q' every 20 ms */
#define NET_IDLE_MAX_NS	    10000000ull /* an idle halt: at most 10 ms */

static struct netif vn_netif;
static struct vnet_dev *vn_dev;
static bool net_is_up;
static uint64_t net_up_ns;

struct netif *net_netif(void)
{
	return net_is_up ? &vn_netif : NULL;
}

struct vnet_dev *net_vnet(void)
{
	return vn_dev;
}

const struct net_glue_stats *net_glue_stats(void)
{
	return &net_glue;
}

static unsigned prefix_len(uint32_t mask_be)
{
	unsigned n = 0;

	for (uint32_t m = lwip_ntohl(mask_be); m & 0x80000000u; m <<= 1)
		n++;
	return n;
}

/* Called for every address change (IPv6 ones too): reports the IPv4 one. */
static void net_status_changed(struct netif *netif)
{
	static ip4_addr_t shown;
	char a[IP4ADDR_STRLEN_MAX], m[IP4ADDR_STRLEN_MAX], g[IP4ADDR_STRLEN_MAX];

	if (ip4_addr_isany_val(*netif_ip4_addr(netif)) ||
	    ip4_addr_cmp(&shown, netif_ip4_addr(netif)))
		return;
	ip4_addr_copy(shown, *netif_ip4_addr(netif));
	ip4addr_ntoa_r(netif_ip4_addr(netif), a, sizeof(a));
	ip4addr_ntoa_r(netif_ip4_netmask(netif), m, sizeof(m));
	ip4addr_ntoa_r(netif_ip4_gw(netif), g, sizeof(g));
	printf("net: %c%c%u: %s %s/%u gw %s (%llu ms after bring-up)\n", netif->name[0],
	       netif->name[1], netif->num, dhcp_supplied_address(netif) ? "DHCP lease" : "address",
	       a, prefix_len(ip4_addr_get_u32(netif_ip4_netmask(netif))), g,
	       (unsigned long long)((clock_ns() - net_up_ns) / 1000000));
}

/* Parse "A.B.C.D/N" into address and mask. Returns: 0 or -EINVAL. */
static int parse_cidr(const char *s, ip4_addr_t *addr, ip4_addr_t *mask)
{
	char buf[32];
	char *slash, *end;
	long bits = 24;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		bits = strtol(slash + 1, &end, 10);
		if (*end || bits < 1 || bits > 32)
			return -EINVAL;
	}
	if (!ip4addr_aton(buf, addr))
		return -EINVAL;
	ip4_addr_set_u32(mask, lwip_htonl(bits == 32 ? 0xffffffffu : ~(0xffffffffu >> bits)));
	return 0;
}

static void net_idle(void);

int net_up(void)
{
	const char *ip = cmdline_get(&kernel_cmdline, "ip");
	const char *gw = cmdline_get(&kernel_cmdline, "gw");
	ip4_addr_t addr, mask, gwaddr;

	if (net_is_up)
		return 0;
	vn_dev = vnet_get(0);
	if (!vn_dev) {
		printf("net: no virtio-net device (add -device virtio-net-pci,netdev=...)\n");
		return -ENODEV;
	}
	ip4_addr_set_zero(&addr);
	ip4_addr_set_zero(&mask);
	ip4_addr_set_zero(&gwaddr);
	if (ip && parse_cidr(ip, &addr, &mask)) {
		printf("net: ip=%s: expected A.B.C.D/N\n", ip);
		return -EINVAL;
	}
	if (gw && !ip4addr_aton(gw, &gwaddr)) {
		printf("net: gw=%s: expected A.B.C.D\n", gw);
		return -EINVAL;
	}
	net_up_ns = clock_ns();
	lwip_init();
	if (!netif_add(&vn_netif, &addr, &mask, &gwaddr, vn_dev, vnet_netif_init, ethernet_input)) {
		printf("net: %s: interface set-up failed (no receive buffers)\n", vn_dev->name);
		return -ENOMEM;
	}
	netif_set_status_callback(&vn_netif, net_status_changed);
	netif_set_default(&vn_netif);
	netif_create_ip6_linklocal_address(&vn_netif, 1);
	vn_netif.ip6_autoconfig_enabled =
		1; /* netif_set_ip6_autoconfig_enabled() without its NULL test */
	netif_set_up(&vn_netif);
	net_is_up = true;
	console_set_idle(net_idle); /* the shell waiting for input keeps the network going */
	printf("net: %s up, link %s, %s\n", vn_dev->name, vn_dev->link_up ? "up" : "down",
	       ip ? "static address" : "DHCP");
	if (!ip && dhcp_start(&vn_netif) != ERR_OK) {
		printf("net: DHCP could not start\n");
		return -ENOMEM;
	}
	return 0;
}

/*
 * The console's idle hook: one round of network work and, when it found
 * none and nobody is typing, a halt until the next lwIP timeout, at most
 * NET_IDLE_MAX_NS. The receive queue's interrupt is on while halted, so a
 * frame ends the halt at once, as does a virtio console's input; polled
 * UART input waits at most that long.
 */
static void net_idle(void)
{
	uint64_t before = vn_dev->stats.rx_packets + vn_dev->stats.tx_packets, flags;
	uint32_t ms;

	net_poll();
	if (vn_dev->stats.rx_packets + vn_dev->stats.tx_packets != before || !vn_dev->rxq ||
	    virtqueue_more_used(vn_dev->rxq) || console_input_recent())
		return; /* no receive queue: a device given up after a failed reset */
	ms = sys_timeouts_sleeptime();
	flags = irq_save();
	if (virtqueue_enable_cb(vn_dev->rxq)) /* false: a frame came meanwhile */
		cpu_idle_ns(ms == 0 ? 1000 : MIN((uint64_t)ms * 1000000ull, NET_IDLE_MAX_NS));
	virtqueue_disable_cb(vn_dev->rxq);
	irq_restore(flags);
}

void net_autostart(void)
{
	const char *opt = cmdline_get(&kernel_cmdline, "net");
	const char *serve = cmdline_get(&kernel_cmdline, "net.serve");

	if ((opt && strcmp(opt, "off") == 0) || !vnet_get(0))
		return;
	if (net_up() || !serve || strcmp(serve, "on") != 0)
		return;
	if (net_serve_start())
		printf("net: net.serve=on: the services could not start\n");
	else
		printf("net: serving iperf on 5001, echo on 7, discard on 9 (net.serve=on)\n");
}

void net_poll(void)
{
	uint64_t flags;

	if (!net_is_up)
		return;
	/*
	 * The network loop runs with interrupts off; this window lets the
	 * pending ones in (a configuration change: link status).
	 */
	flags = irq_save();
	irq_enable();
	__asm__ volatile("nop");
	irq_disable();
	vnet_poll(vn_dev, 256);
	if (vnet_tx_blocked && vn_dev->txq &&
	    virtqueue_num_free(vn_dev->txq) >= virtqueue_num(vn_dev->txq) / 4) {
		/* Segments lwIP could not send (ERR_MEM) go now, not at its next 250 ms timer. */
		vnet_tx_blocked = false;
		tcp_txnow();
	}
	sys_check_timeouts();
	if (vnet_tso_enabled(vn_dev))
		vnet_tso_flush(&vn_netif);
	vnet_tx_flush(vn_dev);
	irq_restore(flags);
}

int net_wait_addr(uint32_t timeout_ms)
{
	uint64_t deadline = clock_ns() + (uint64_t)timeout_ms * 1000000;

	while (ip4_addr_isany_val(*netif_ip4_addr(&vn_netif))) {
		if (clock_ns() > deadline)
			return -ETIMEDOUT;
		net_poll();
	}
	return 0;
}

bool net_interrupted(void)
{
	static uint64_t next;
	uint64_t now = clock_ns();
	int c;

	if (now < next)
		return false;
	next = now + NET_CONSOLE_POLL_NS;
	c = console_poll();
	return c == 0x03 || c == 'q';
}
