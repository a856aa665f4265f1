/* Internal to net/: what the applications share. */
#ifndef NET_NET_APPS_H
#define NET_NET_APPS_H

#include <lwip/apps/lwiperf.h>

/* net_iperf_report - lwiperf's report callback: one iperf-style line. */
void net_iperf_report(void *arg, enum lwiperf_report_type type, const ip_addr_t *local_addr,
		      u16_t local_port, const ip_addr_t *remote_addr, u16_t remote_port,
		      u32_t bytes, u32_t ms, u32_t kbitps);

/* net_print_stats - the interface, driver and queue counters (ifconfig -a). */
void net_print_stats(void);

/*
 * net_cmd_up - what every network command does first: net_up() and an
 * IPv4 address within 20 s. Returns: 0, or 1 after printing why not.
 */
int net_cmd_up(void);

/* net_err_str - an lwIP err_t by name (lwip_strerr exists only with LWIP_DEBUG). */
const char *net_err_str(int err);

/* net_fmt_bytes / net_fmt_rate - iperf's units ("1.10 GBytes", "941 Mbits/sec"). */
const char *net_fmt_bytes(char *buf, unsigned size, double bytes);
const char *net_fmt_rate(char *buf, unsigned size, double bits_per_s);

#endif
