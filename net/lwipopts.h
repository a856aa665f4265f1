/*
 * lwIP 2.1.3 configuration: NO_SYS (one thread, raw API, timeouts run from
 * the network poll loop), IPv4 with ARP, ICMP, UDP, TCP, DHCP, IGMP, and
 * IPv6 with SLAAC. Every size that costs memory is here, with its cost.
 *
 * Memory (x86-64, MEM_ALIGNMENT 8; sizes measured in build/kernel.elf):
 *   MEM_SIZE heap (PBUF_RAM: copied TX data, headers)   1536 KiB
 *   TCP segments  MEMP_NUM_TCP_SEG 2048 x 32 B             64 KiB
 *   PBUF_POOL 32 x 1560 B (lwIP-internal use only)         49 KiB
 *   ROM/REF pbufs MEMP_NUM_PBUF 1024 x 24 B                24 KiB
 *   TCP PCBs 32 x 320 B, listen, UDP, raw, timeouts,
 *   ARP queue, reassembly, IGMP/MLD/ND6                    16 KiB
 *   total static                                         1689 KiB
 * Beside lwIP: net/netif_tso.c's 64 large-frame records (35 KiB).
 * Received frames are not in lwIP's pools: they stay in the virtio-net
 * driver's pages (VNET_RX_POOL_PAGES in include/virtio/net.h: at most
 * 8 MiB), wrapped as pbuf_custom; net/netif_rxmem.c says how many it may
 * hold (small frames are copied into this heap instead).
 */
#ifndef NET_LWIPOPTS_H
#define NET_LWIPOPTS_H

#include <stdint.h>

struct tcp_pcb;
uint16_t net_tcp_ooseq_limit(const struct tcp_pcb *pcb);

/* System: no threads, no OS; protection unnecessary (no lwIP call from IRQs). */
#define NO_SYS			 1
#define SYS_LIGHTWEIGHT_PROT	 0
#define LWIP_NETCONN		 0
#define LWIP_SOCKET		 0
#define LWIP_TIMERS		 1
#define LWIP_SUPPORT_CUSTOM_PBUF 1

/* Memory. */
#define MEM_ALIGNMENT		8
#define MEM_SIZE		(1536 * 1024)
#define MEMP_NUM_PBUF		1024
#define MEMP_NUM_TCP_PCB	32
#define MEMP_NUM_TCP_PCB_LISTEN 8
#define MEMP_NUM_UDP_PCB	8
#define MEMP_NUM_RAW_PCB	4
#define MEMP_NUM_TCP_SEG	2048
#define MEMP_NUM_REASSDATA	8
#define MEMP_NUM_FRAG_PBUF	32
#define MEMP_NUM_ARP_QUEUE	32
#define MEMP_NUM_SYS_TIMEOUT	(LWIP_NUM_SYS_TIMEOUT_INTERNAL + 8)
#define PBUF_POOL_SIZE		32
#define IP_REASS_MAX_PBUFS	64

/* Link. */
#define LWIP_ARP		      1
#define ARP_TABLE_SIZE		      32
#define ARP_QUEUEING		      1
#define ETHARP_SUPPORT_STATIC_ENTRIES 1
#define LWIP_ETHERNET		      1
#define ETH_PAD_SIZE		      0
#define LWIP_NETIF_LINK_CALLBACK      1
#define LWIP_NETIF_STATUS_CALLBACK    1
#define LWIP_NETIF_HOSTNAME	      1
#define LWIP_SINGLE_NETIF	      0

/* IPv4 and its helpers. */
#define LWIP_IPV4		 1
#define IP_FORWARD		 0
#define IP_REASSEMBLY		 1
#define IP_FRAG			 1
#define LWIP_ICMP		 1
#define LWIP_RAW		 1
#define LWIP_BROADCAST_PING	 1
#define LWIP_DHCP		 1
#define LWIP_DHCP_DOES_ARP_CHECK 0 /* QEMU's DHCP server owns its pool; no 2 s wait */
#define LWIP_AUTOIP		 0
#define LWIP_IGMP		 1
#define LWIP_DNS		 0
#define LWIP_UDP		 1

/* IPv6 (bonus): link-local and SLAAC addresses, MLD for its multicast. */
#define LWIP_IPV6		  1
#define LWIP_IPV6_AUTOCONFIG	  1
#define LWIP_IPV6_DHCP6		  0
#define LWIP_IPV6_NUM_ADDRESSES	  3
#define LWIP_ND6_ALLOW_RA_UPDATES 1
#define LWIP_IPV6_FRAG		  1
#define LWIP_IPV6_REASS		  1
#define IPV6_FRAG_COPYHEADER	  1 /* 64-bit pointers do not fit the fragment header */

/*
 * Checksums: generated and checked by lwIP unless the netif says the
 * device does it (VIRTIO_NET_F_CSUM / GUEST_CSUM): flags per netif.
 */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
#define CHECKSUM_GEN_IP		     1
#define CHECKSUM_GEN_UDP	     1
#define CHECKSUM_GEN_TCP	     1
#define CHECKSUM_GEN_ICMP	     1
#define CHECKSUM_GEN_ICMP6	     1
#define CHECKSUM_CHECK_IP	     1
#define CHECKSUM_CHECK_UDP	     1
#define CHECKSUM_CHECK_TCP	     1
#define CHECKSUM_CHECK_ICMP	     1
#define CHECKSUM_CHECK_ICMP6	     1

/*
 * TCP for throughput: window scaling (shift 4: windows up to 1 MiB), a
 * 512 KiB receive window and a 256 KiB send buffer per connection; the
 * segments and pbufs to fill them.
 */
#define LWIP_TCP		 1
#define TCP_MSS			 1460
#define LWIP_WND_SCALE		 1
#define TCP_RCV_SCALE		 4
#define TCP_WND			 (512 * 1024)
#define TCP_SND_BUF		 (256 * 1024)
#define TCP_SND_QUEUELEN	 (2 * TCP_SND_BUF / TCP_MSS + 16) /* 375 pbufs */
#define TCP_SNDLOWAT		 (32 * 1024) /* a u16_t in lwIP: at most 0xffff - 4 * MSS */
#define TCP_SNDQUEUELOWAT	 (TCP_SND_QUEUELEN / 4)
#define TCP_WND_UPDATE_THRESHOLD (TCP_WND / 8)
#define TCP_QUEUE_OOSEQ		 1
/*
 * Out-of-order data: at most a window per connection, and all connections
 * together NET_OOSEQ_BUDGET pbufs (net/netif_rxmem.c: a page, or a small
 * frame's copy, is one pbuf however few bytes it holds).
 */
#define TCP_OOSEQ_MAX_BYTES	   TCP_WND
#define TCP_OOSEQ_PBUFS_LIMIT(pcb) net_tcp_ooseq_limit(pcb)
#define LWIP_TCP_SACK_OUT	   1
#define LWIP_TCP_MAX_SACK_NUM	   4
#define TCP_LISTEN_BACKLOG	   1
#define LWIP_TCP_TIMESTAMPS	   0
#define TCP_OVERSIZE		   TCP_MSS
/*
 * lwIP checks TCP_WND against PBUF_POOL: received data does not come from
 * that pool here (driver pages as pbuf_custom), so the check does not apply.
 */
#define LWIP_DISABLE_TCP_SANITY_CHECKS 1
#define LWIP_TCP_KEEPALIVE	       1
/*
 * TCP timers every 10 ms (lwIP: 250): delayed ACKs leave sooner and the
 * retransmission timeout, counted in 20 ms slow ticks instead of 500 ms,
 * follows the sub-millisecond round trips of a local link. lwIP 2.1 has
 * Reno recovery only (one segment per fast retransmit): with several
 * losses in a window, the timeout is what recovers.
 */
#define TCP_TMR_INTERVAL 10

/* Hooks (net/net_hooks.h): RFC 6528 initial sequence numbers, keyed by a boot secret. */
#define LWIP_HOOK_FILENAME "net_hooks.h"
#define LWIP_HOOK_TCP_ISN  net_tcp_isn

/* Applications. */
#define LWIP_CALLBACK_API 1
/* lwiperf counts its idle time in polls of 2 slow ticks (40 ms here): 10 s. */
#define LWIPERF_TCP_MAX_IDLE_SEC 250

/* Statistics for netstat (printed by our own code). */
#define LWIP_STATS	   1
#define LWIP_STATS_DISPLAY 0
#define MIB2_STATS	   0
#define LINK_STATS	   1
#define ETHARP_STATS	   1
#define IP_STATS	   1
#define ICMP_STATS	   1
#define UDP_STATS	   1
#define TCP_STATS	   1
#define MEM_STATS	   1
#define MEMP_STATS	   1
#define IP6_STATS	   1
#define ICMP6_STATS	   1
#define ND6_STATS	   1

#endif
