/*
 * The network as the rest of the kernel sees it: lwIP (raw API, NO_SYS)
 * on the first virtio-net device, brought up on first use. There is no
 * timer interrupt and no thread: whoever waits for the network calls
 * net_poll() in its loop, which receives, transmits and runs lwIP's
 * timeouts. lwIP may be called only from that same (single) context.
 *
 * Command line: ip=A.B.C.D/N [gw=A.B.C.D] gives a static address;
 * otherwise DHCP (QEMU's user network hands out 10.0.2.15).
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <stdbool.h>
#include <stdint.h>

struct netif;
struct vnet_dev;

/* Checks and fallbacks of the glue between lwIP and the driver (net/netif.c). */
struct net_glue_stats {
	uint64_t rx_csum_sw;	   /* TCP checksums verified in software */
	uint64_t rx_csum_lwip;	   /* TCP frames lwIP checks itself (no GUEST_CSUM) */
	uint64_t tx_csum_lwip;	   /* TCP frames lwIP summed itself (no CSUM: no NEEDS_CSUM) */
	uint64_t rx_csum_bad;	   /* ... that were wrong: dropped */
	uint64_t rx_udp_completed; /* partial UDP checksums (NEEDS_CSUM) finished */
	uint64_t rx_tcp_fragment;  /* TCP in IP fragments with checksum offload: dropped */
	uint64_t rx_input_err;	   /* lwIP refused the frame */
	uint64_t rx_l4_unparsed;   /* IP headers not walkable, TCP checksum unchecked: dropped */
	uint64_t rx_copied;	   /* frames copied out of their pages (small, or over budget) */
	uint64_t rx_nomem;	   /* ... for which lwIP's heap had no room: dropped */
	uint64_t rx_ooseq_purges;  /* out-of-order data of all connections dropped (pressure) */
	unsigned rx_pages_held;	   /* driver pages lwIP holds now */
	unsigned rx_pages_held_max;
	uint64_t tx_linearized;	  /* pbuf chains longer than VNET_TX_MAX_SG: copied */
	uint64_t tx_busy;	  /* ring full: ERR_MEM to lwIP */
	uint64_t tx_err;	  /* other transmit errors, link down */
	uint64_t tx_gso_frames;	  /* TSO frames built from several TCP segments */
	uint64_t tx_gso_segments; /* segments they carried */
};

/*
 * net_up - bring the network up once: lwIP, the interface on virtio-net
 * device 0, then DHCP or the static address from the command line.
 * Returns: 0; -ENODEV (no virtio-net device); -EINVAL (bad ip=/gw=);
 * -ENOMEM.
 */
int net_up(void);

/*
 * net_autostart - before an application runs (not a test): bring the
 * network up when there is a virtio-net device, unless the command line
 * says net=off, so the shell answers ping and DHCP runs while it waits
 * for input (the console's idle hook polls the network). With
 * net.serve=on also the services (net_serve_start).
 */
void net_autostart(void);

/*
 * net_serve_start - (network up) start the services once: the iperf 2
 * server (lwiperf) on TCP 5001, echo on 7, discard on 9; they run while
 * anyone calls net_poll(). Returns: 0 (also when already serving), or
 * -ENOMEM (a port could not be bound).
 */
int net_serve_start(void);

/* net_serve_port - the iperf server net_serve_start() runs listens on port. */
bool net_serve_port(unsigned port);

/* net_poll - one round of network work: receive, lwIP timeouts, transmit. */
void net_poll(void);

/*
 * net_wait_addr - poll until the interface has an IPv4 address (DHCP
 * bound or static) or timeout_ms passes. Returns: 0 or -ETIMEDOUT.
 */
int net_wait_addr(uint32_t timeout_ms);

/* net_netif / net_vnet - the interface and its device, NULL before net_up. */
struct netif *net_netif(void);
struct vnet_dev *net_vnet(void);
const struct net_glue_stats *net_glue_stats(void);

/*
 * net_interrupted - the console asked to stop (Ctrl-C or 'q'); read
 * without blocking, and every other byte read is lost: only for loops
 * that have no other end (app=net, iperf -s), never for bounded ones,
 * whose typed-ahead shell input must survive. Returns: true once per request.
 */
bool net_interrupted(void);

#endif
