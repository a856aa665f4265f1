/*
 * lwIP hooks (LWIP_HOOK_FILENAME in lwipopts.h): included by lwIP's sources
 * that call them. The implementations are in net/sys_arch.c.
 */
#ifndef NET_NET_HOOKS_H
#define NET_NET_HOOKS_H

#include <lwip/ip_addr.h>

/* net_tcp_isn - LWIP_HOOK_TCP_ISN: RFC 6528 initial sequence number for a connection. */
u32_t net_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		  u16_t remote_port);

/* net_tcp_isn_f - its keyed part F (RFC 6528 section 3), without the clock. */
u32_t net_tcp_isn_f(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		    u16_t remote_port);

#endif
