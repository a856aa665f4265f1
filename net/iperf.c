/*
 * `iperf`: TCP throughput against iperf 2 on the host.
 *   iperf -s [-p port] [-n tests]   lwIP's lwiperf server (the host runs iperf -c)
 *   iperf -c addr [-p port] [-t secs] [-i secs]
 *                                   a client for the host's `iperf -s`
 * The client is ours, not lwiperf's (lwIP 2.1.3's lwiperf client always
 * runs 10 s): it sends lwiperf's 24-byte test header (flags 0, the
 * duration), then iperf's digit pattern straight from a static buffer
 * (tcp_write without copy: the driver transmits from it, zero-copy).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/apps/lwiperf.h>
#include <lwip/ip_addr.h>
#include <lwip/tcp.h>

#include <kernel/clock.h>
#include <kernel/registry.h>
#include <net/net.h>

#include "net_apps.h"

#define IPERF_PATTERN  60000 /* bytes of pattern one write may take (tcp_write: u16_t) */
#define IPERF_SETTINGS 24    /* lwiperf_settings_t / iperf 2 client header v1 */

static unsigned iperf_reports;

const char *net_fmt_bytes(char *buf, unsigned size, double v)
{
	static const char *const units[] = {"Bytes", "KBytes", "MBytes", "GBytes", "TBytes"};
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

const char *net_fmt_rate(char *buf, unsigned size, double v)
{
	static const char *const units[] = {"bits/sec", "Kbits/sec", "Mbits/sec", "Gbits/sec"};
	unsigned u = 0;

	while (v >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000;
		u++;
	}
	snprintf(buf, size, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

static void print_interval(unsigned id, double from, double to, uint64_t bytes)
{
	char b[32], r[32];
	double secs = to - from;

	printf("[%3u] %.2f-%.2f sec  %s  %s\n", id, from, to, net_fmt_bytes(b, sizeof(b), bytes),
	       net_fmt_rate(r, sizeof(r), secs > 0 ? (double)bytes * 8 / secs : 0));
}

void net_iperf_report(void *arg, enum lwiperf_report_type type, const ip_addr_t *local_addr,
		      u16_t local_port, const ip_addr_t *remote_addr, u16_t remote_port,
		      u32_t bytes, u32_t ms, u32_t kbitps)
{
	static const char *const why[] = {
		[LWIPERF_TCP_DONE_SERVER] = "done",
		[LWIPERF_TCP_DONE_CLIENT] = "done",
		[LWIPERF_TCP_ABORTED_LOCAL] = "aborted here",
		[LWIPERF_TCP_ABORTED_LOCAL_DATAERROR] = "aborted: data error",
		[LWIPERF_TCP_ABORTED_LOCAL_TXERROR] = "aborted: transmit error",
		[LWIPERF_TCP_ABORTED_REMOTE] = "aborted by the peer",
	};
	char la[IPADDR_STRLEN_MAX], ra[IPADDR_STRLEN_MAX];

	(void)arg;
	(void)kbitps;
	iperf_reports++;
	ipaddr_ntoa_r(local_addr, la, sizeof(la));
	ipaddr_ntoa_r(remote_addr, ra, sizeof(ra));
	printf("[%3u] local %s port %u connected with %s port %u (%s)\n", iperf_reports, la,
	       local_port, ra, remote_port,
	       (unsigned)type < sizeof(why) / sizeof(why[0]) ? why[type] : "?");
	printf("[ ID] Interval       Transfer     Bandwidth\n");
	print_interval(iperf_reports, 0, ms / 1000.0, bytes);
	fflush(stdout);
}

static int iperf_server(u16_t port, unsigned tests)
{
	unsigned start = iperf_reports;
	bool shared = net_serve_port(port); /* net.serve=on's server: it reports here too */
	void *srv = NULL;

	if (!shared)
		srv = lwiperf_start_tcp_server(IP_ANY_TYPE, port, net_iperf_report, NULL);
	if (!shared && !srv) {
		printf("iperf: cannot listen on TCP port %u\n", port);
		return 1;
	}
	printf("------------------------------------------------------------\n"
	       "Server listening on TCP port %u (lwIP lwiperf%s)\n"
	       "TCP window size: %u KByte\n"
	       "------------------------------------------------------------\n",
	       port, shared ? ", net.serve=on" : "", (unsigned)(TCP_WND / 1024));
	fflush(stdout);
	while (iperf_reports - start < tests && !net_interrupted())
		net_poll();
	if (srv)
		lwiperf_abort(srv);
	return iperf_reports - start < tests;
}

/* The client. */

enum client_state { C_CONNECTING, C_SENDING, C_DRAINING, C_DONE, C_FAILED };

struct iperf_client {
	struct tcp_pcb *pcb;
	enum client_state state;
	uint64_t written, acked; /* bytes of pattern */
	uint64_t start_ns, end_ns;
	err_t err;
};

static uint8_t iperf_pattern[IPERF_PATTERN + 10];

static void client_send(struct iperf_client *c)
{
	while (c->state == C_SENDING && clock_ns() < c->end_ns) {
		uint32_t n = tcp_sndbuf(c->pcb);

		if (n > IPERF_PATTERN)
			n = IPERF_PATTERN;
		if (n < TCP_MSS)
			break; /* wait for acknowledgements: whole segments only */
		if (tcp_write(c->pcb, iperf_pattern + c->written % 10, (u16_t)n,
			      TCP_WRITE_FLAG_MORE) != ERR_OK)
			break;
		c->written += n;
	}
	tcp_output(c->pcb);
}

static err_t client_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct iperf_client *c = arg;

	(void)pcb;
	c->acked += len;
	client_send(c);
	return ERR_OK;
}

static err_t client_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)err;
	if (p) { /* the server has nothing to say: discard */
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
	}
	return ERR_OK;
}

static void client_err(void *arg, err_t err)
{
	struct iperf_client *c = arg;

	c->pcb = NULL;
	c->err = err;
	c->state = C_FAILED;
}

static err_t client_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct iperf_client *c = arg;
	uint8_t hdr[IPERF_SETTINGS] = {0};
	int32_t amount = -(int32_t)((c->end_ns - c->start_ns) / 10000000); /* 10 ms units */
	char la[IPADDR_STRLEN_MAX], ra[IPADDR_STRLEN_MAX];
	uint64_t dur = c->end_ns - c->start_ns;

	if (err != ERR_OK)
		return err;
	/* flags 0 (no reverse test), 1 thread, port, buffer length, window, amount. */
	hdr[7] = 1;
	hdr[10] = (uint8_t)(pcb->remote_port >> 8);
	hdr[11] = (uint8_t)pcb->remote_port;
	for (int i = 0; i < 4; i++)
		hdr[20 + i] = (uint8_t)((uint32_t)amount >> (24 - 8 * i));
	if (tcp_write(pcb, hdr, sizeof(hdr), TCP_WRITE_FLAG_COPY | TCP_WRITE_FLAG_MORE) != ERR_OK)
		return ERR_MEM;
	ipaddr_ntoa_r(&pcb->local_ip, la, sizeof(la));
	ipaddr_ntoa_r(&pcb->remote_ip, ra, sizeof(ra));
	printf("[  1] local %s port %u connected with %s port %u\n", la, pcb->local_port, ra,
	       pcb->remote_port);
	printf("[ ID] Interval       Transfer     Bandwidth\n");
	fflush(stdout);
	c->start_ns = clock_ns();
	c->end_ns = c->start_ns + dur;
	c->state = C_SENDING;
	client_send(c);
	return ERR_OK;
}

static int iperf_client(const char *host, u16_t port, unsigned secs, unsigned interval)
{
	struct iperf_client c = {0};
	ip_addr_t addr;
	uint64_t next_report, last_bytes = 0, deadline;
	double last_t = 0;

	if (!ipaddr_aton(host, &addr)) {
		printf("iperf: %s: not an IP address\n", host);
		return 1;
	}
	if (!iperf_pattern[0])
		for (unsigned i = 0; i < sizeof(iperf_pattern); i++)
			iperf_pattern[i] = (uint8_t)('0' + i % 10);
	c.pcb = tcp_new_ip_type(IP_GET_TYPE(&addr));
	if (!c.pcb)
		return 1;
	c.start_ns = clock_ns();
	c.end_ns = c.start_ns + (uint64_t)secs * 1000000000;
	tcp_arg(c.pcb, &c);
	tcp_sent(c.pcb, client_sent);
	tcp_recv(c.pcb, client_recv);
	tcp_err(c.pcb, client_err);
	printf("------------------------------------------------------------\n"
	       "Client connecting to %s, TCP port %u\n"
	       "TCP window size: %u KByte (send buffer)\n"
	       "------------------------------------------------------------\n",
	       host, port, (unsigned)(TCP_SND_BUF / 1024));
	fflush(stdout);
	if (tcp_connect(c.pcb, &addr, port, client_connected) != ERR_OK) {
		printf("iperf: connect failed\n");
		tcp_abort(c.pcb);
		return 1;
	}
	deadline = clock_ns() + 10000000000ull;
	while (c.state == C_CONNECTING && clock_ns() < deadline)
		net_poll();
	if (c.state != C_SENDING) {
		printf("iperf: connect to %s port %u failed: %s\n", host, port,
		       c.state == C_FAILED ? net_err_str(c.err) : "timed out");
		if (c.pcb) {
			tcp_arg(c.pcb, NULL);
			tcp_abort(c.pcb);
		}
		return 1;
	}
	next_report = c.start_ns + (uint64_t)interval * 1000000000;
	while (c.state == C_SENDING && clock_ns() < c.end_ns) {
		net_poll();
		client_send(&c);
		if (interval && clock_ns() >= next_report) {
			double t = (double)(next_report - c.start_ns) / 1e9;

			print_interval(1, last_t, t, c.written - last_bytes);
			fflush(stdout);
			last_t = t;
			last_bytes = c.written;
			next_report += (uint64_t)interval * 1000000000;
		}
	}
	if (c.state == C_SENDING) {
		/* Everything written must be acknowledged before the close. */
		c.state = C_DRAINING;
		deadline = clock_ns() + 10000000000ull;
		while (c.state != C_FAILED && c.acked < c.written && clock_ns() < deadline)
			net_poll();
	}
	if (c.state == C_FAILED) {
		printf("iperf: connection lost: %s\n", net_err_str(c.err));
		return 1;
	}
	tcp_arg(c.pcb, NULL);
	tcp_sent(c.pcb, NULL);
	tcp_err(c.pcb, NULL);
	if (tcp_close(c.pcb) != ERR_OK)
		tcp_abort(c.pcb);
	for (deadline = clock_ns() + 100000000ull; clock_ns() < deadline;)
		net_poll(); /* let the FIN leave */
	print_interval(1, 0, (double)(c.end_ns - c.start_ns) / 1e9, c.written);
	if (c.acked < c.written)
		printf("iperf: %llu bytes not acknowledged\n",
		       (unsigned long long)(c.written - c.acked));
	return c.acked < c.written;
}

KCMD(iperf, "iperf 2: -s [-p port] [-n tests] | -c addr [-p port] [-t secs] [-i secs]")
{
	const char *host = NULL;
	unsigned port = LWIPERF_TCP_PORT_DEFAULT, secs = 10, interval = 0, tests = 1;
	bool server = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-s") == 0) {
			server = true;
		} else if (strcmp(a, "-c") == 0 && v) {
			host = v;
			i++;
		} else if ((strcmp(a, "-p") == 0 || strcmp(a, "-t") == 0 || strcmp(a, "-i") == 0 ||
			    strcmp(a, "-n") == 0) &&
			   v) {
			unsigned long n = strtoul(v, NULL, 10);

			if (a[1] == 'p')
				port = (unsigned)n;
			else if (a[1] == 't')
				secs = (unsigned)n;
			else if (a[1] == 'i')
				interval = (unsigned)n;
			else
				tests = (unsigned)n;
			i++;
		} else {
			printf("usage: iperf -s [-p port] [-n tests] | iperf -c addr [-p port] "
			       "[-t secs] [-i secs]\n");
			return 1;
		}
	}
	if (server == (host != NULL) || port == 0 || port > 65535 || secs == 0) {
		printf("iperf: give -s or -c addr (see help)\n");
		return 1;
	}
	if (net_cmd_up())
		return 1;
	return server ? iperf_server((u16_t)port, tests)
		      : iperf_client(host, (u16_t)port, secs, interval);
}
