/*
 * The network services: lwIP's lwiperf server (iperf 2) on TCP 5001, echo
 * (RFC 862) on TCP 7 and discard (RFC 863) on TCP 9, each closing
 * connection reported with its byte count and rate. `app=net` brings the
 * network up and serves until 'q' (or Ctrl-C) on the console;
 * `net.serve=on` starts them beside any application (the shell serves
 * while it waits for input: its idle hook polls the network).
 *
 * Echo holds what it has not written back yet: at most ECHO_PENDING_BYTES
 * in ECHO_PENDING_PBUFS pbufs (received pages count as pbufs however
 * little they carry); beyond that lwIP keeps the data refused and drops
 * what follows until echo catches up. A peer that stops reading the echo
 * for ECHO_STALL_S seconds loses its connection: it cannot pin memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <lwip/apps/lwiperf.h>
#include <lwip/tcp.h>

#include <kernel/clock.h>
#include <kernel/registry.h>
#include <net/net.h>

#include "net_apps.h"

#define ECHO_PORT    7
#define DISCARD_PORT 9

#define ECHO_PENDING_BYTES (64 * 1024)
#define ECHO_PENDING_PBUFS 64
#define ECHO_STALL_S	   5
#define ECHO_POLL_TICKS	   50 /* tcp_poll interval in slow ticks (20 ms, lwipopts.h): 1 s */

struct conn {
	struct tcp_pcb *pcb;
	struct pbuf *pending; /* echo: received, not yet written back */
	uint64_t bytes_in, bytes_out, start_ns;
	uint64_t progress_out; /* bytes_out at the last poll that saw progress */
	unsigned stalled_s;    /* polls (seconds) since, with data waiting */
	bool echo, closing;
};

static void conn_report(struct conn *c, const char *how)
{
	double s = (double)(clock_ns() - c->start_ns) / 1e9;
	char addr[IPADDR_STRLEN_MAX];

	ipaddr_ntoa_r(&c->pcb->remote_ip, addr, sizeof(addr));
	printf("%s: %s port %u: %llu bytes in, %llu out in %.2f s (%.1f Mbit/s in) %s\n",
	       c->echo ? "echo" : "discard", addr, c->pcb->remote_port,
	       (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out, s,
	       s > 0 ? (double)c->bytes_in * 8 / s / 1e6 : 0.0, how);
}

static void conn_free(struct conn *c)
{
	tcp_arg(c->pcb, NULL);
	tcp_recv(c->pcb, NULL);
	tcp_sent(c->pcb, NULL);
	tcp_err(c->pcb, NULL);
	tcp_poll(c->pcb, NULL, 0);
	if (c->pending)
		pbuf_free(c->pending);
	free(c);
}

static void conn_close(struct conn *c)
{
	struct tcp_pcb *pcb = c->pcb;

	conn_report(c, "closed");
	conn_free(c);
	if (tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
}

/* Echo: write back what was received, as fast as the send buffer takes it. */
static void echo_flush(struct conn *c)
{
	while (c->pending) {
		uint16_t n = c->pending->len;
		err_t err;

		if (n > tcp_sndbuf(c->pcb))
			n = tcp_sndbuf(c->pcb);
		if (n == 0)
			break;
		err = tcp_write(c->pcb, c->pending->payload, n, TCP_WRITE_FLAG_COPY);
		if (err != ERR_OK)
			break; /* ERR_MEM: the sent callback tries again */
		c->bytes_out += n;
		tcp_recved(c->pcb, n); /* the window opens as data is passed on */
		c->pending = pbuf_free_header(c->pending, n);
	}
	tcp_output(c->pcb);
	if (c->closing && !c->pending)
		conn_close(c);
}

static err_t conn_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct conn *c = arg;

	(void)pcb;
	(void)len;
	if (c && c->echo)
		echo_flush(c);
	return ERR_OK;
}

static err_t conn_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct conn *c = arg;

	(void)err;
	if (!p) {
		c->closing = true;
		if (!c->echo || !c->pending)
			conn_close(c);
		return ERR_OK;
	}
	if (c->echo && c->pending &&
	    (c->pending->tot_len + p->tot_len > ECHO_PENDING_BYTES ||
	     pbuf_clen(c->pending) + pbuf_clen(p) > ECHO_PENDING_PBUFS))
		return ERR_MEM; /* lwIP keeps p and offers it again later */
	c->bytes_in += p->tot_len;
	if (!c->echo) {
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
		return ERR_OK;
	}
	if (c->pending)
		pbuf_cat(c->pending, p);
	else
		c->pending = p;
	echo_flush(c);
	return ERR_OK;
}

/* Every second: an echo whose peer stopped reading for ECHO_STALL_S is aborted. */
static err_t conn_poll(void *arg, struct tcp_pcb *pcb)
{
	struct conn *c = arg;

	if (!c || !c->echo)
		return ERR_OK;
	if (!c->pending && !pcb->refused_data) {
		c->stalled_s = 0;
		return ERR_OK;
	}
	if (c->bytes_out != c->progress_out) {
		c->progress_out = c->bytes_out;
		c->stalled_s = 0;
		return ERR_OK;
	}
	if (++c->stalled_s < ECHO_STALL_S)
		return ERR_OK;
	printf("echo: peer stopped reading with %u bytes pending\n",
	       c->pending ? c->pending->tot_len : 0u);
	conn_report(c, "aborted (stalled)");
	conn_free(c);
	tcp_abort(pcb);
	return ERR_ABRT;
}

static void conn_err(void *arg, err_t err)
{
	struct conn *c = arg;

	if (!c)
		return;
	printf("%s: connection lost (%s)\n", c->echo ? "echo" : "discard", net_err_str(err));
	if (c->pending)
		pbuf_free(c->pending);
	free(c); /* the pcb is already gone */
}

static err_t conn_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct conn *c;

	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return ERR_MEM;
	c->pcb = pcb;
	c->echo = arg != NULL;
	c->start_ns = clock_ns();
	tcp_arg(pcb, c);
	tcp_recv(pcb, conn_recv);
	tcp_sent(pcb, conn_sent);
	tcp_err(pcb, conn_err);
	tcp_poll(pcb, conn_poll, ECHO_POLL_TICKS);
	return ERR_OK;
}

static int listen_on(u16_t port, bool echo)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_ANY), *l;

	if (!pcb || tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		printf("net: cannot listen on TCP port %u\n", port);
		return -1;
	}
	l = tcp_listen(pcb);
	if (!l)
		return -1;
	tcp_arg(l, echo ? (void *)1 : NULL);
	tcp_accept(l, conn_accept);
	return 0;
}

static bool serving;

int net_serve_start(void)
{
	if (serving)
		return 0;
	if (!lwiperf_start_tcp_server(IP_ANY_TYPE, LWIPERF_TCP_PORT_DEFAULT, net_iperf_report,
				      NULL) ||
	    listen_on(ECHO_PORT, true) || listen_on(DISCARD_PORT, false))
		return -ENOMEM;
	serving = true;
	return 0;
}

bool net_serve_port(unsigned port)
{
	return serving && port == LWIPERF_TCP_PORT_DEFAULT;
}

KAPP(net, "network up (DHCP or ip=), serve iperf 5001, echo 7, discard 9 until 'q'")
{
	if (net_up())
		return 1;
	if (net_wait_addr(20000)) {
		printf("net: no IPv4 address after 20 s\n");
		return 1;
	}
	if (net_serve_start())
		return 1;
	printf("net: serving iperf on 5001, echo on 7, discard on 9; 'q' stops\n");
	fflush(stdout);
	while (!net_interrupted())
		net_poll();
	printf("net: stopped\n");
	net_print_stats();
	return 0;
}
