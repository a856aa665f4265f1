/*
 * `ping addr [-c count] [-i secs] [-s size]`: ICMP echo (IPv4) through a
 * raw lwIP pcb, one line per reply with its round-trip time and a summary
 * like iputils' ping. (Answering pings is lwIP's own ICMP code.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/icmp.h>
#include <lwip/inet_chksum.h>
#include <lwip/ip.h>
#include <lwip/prot/ip4.h>
#include <lwip/raw.h>

#include <kernel/clock.h>
#include <kernel/registry.h>
#include <net/net.h>

#include "net_apps.h"

#define PING_MAX_PAYLOAD 1400
#define PING_ID		 0x7a5e

struct ping_state {
	uint16_t seq; /* next sequence number to send */
	unsigned sent, received, dups;
	uint64_t sent_ns[65536 / 64]; /* send time by seq (ring) */
	double min, max, sum, sum2;   /* ms */
	uint8_t *seen;		      /* per-seq reply bitmap for duplicates */
	unsigned size;
};

static u8_t ping_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
	struct ping_state *st = arg;
	struct icmp_echo_hdr echo;
	uint64_t now = clock_ns();
	uint16_t hlen, seq;
	uint8_t ttl;
	double ms;
	char a[IPADDR_STRLEN_MAX];

	(void)pcb;
	if (p->tot_len < IP_HLEN + sizeof(echo))
		return 0;
	hlen = (uint16_t)(IPH_HL((struct ip_hdr *)p->payload) * 4);
	ttl = IPH_TTL((struct ip_hdr *)p->payload);
	if (pbuf_copy_partial(p, &echo, sizeof(echo), hlen) != sizeof(echo) ||
	    echo.type != ICMP_ER || echo.id != lwip_htons(PING_ID))
		return 0; /* not ours: lwIP goes on with it */
	seq = lwip_ntohs(echo.seqno);
	if (seq >= st->sent) {
		pbuf_free(p);
		return 1;
	}
	ms = (double)(now - st->sent_ns[seq % (sizeof(st->sent_ns) / 8)]) / 1e6;
	ipaddr_ntoa_r(addr, a, sizeof(a));
	if (st->seen[seq / 8] & (1u << (seq % 8))) {
		st->dups++;
		printf("%u bytes from %s: icmp_seq=%u ttl=%u time=%.3f ms (DUP!)\n",
		       (unsigned)(p->tot_len - hlen), a, seq + 1, ttl, ms);
	} else {
		st->seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
		st->received++;
		if (st->received == 1 || ms < st->min)
			st->min = ms;
		if (ms > st->max)
			st->max = ms;
		st->sum += ms;
		st->sum2 += ms * ms;
		printf("%u bytes from %s: icmp_seq=%u ttl=%u time=%.3f ms\n",
		       (unsigned)(p->tot_len - hlen), a, seq + 1, ttl, ms);
	}
	pbuf_free(p);
	return 1;
}

static int ping_send(struct raw_pcb *pcb, struct ping_state *st, const ip_addr_t *to)
{
	struct pbuf *p =
		pbuf_alloc(PBUF_IP, (u16_t)(sizeof(struct icmp_echo_hdr) + st->size), PBUF_RAM);
	struct icmp_echo_hdr *e;
	err_t err;

	if (!p)
		return -1;
	e = p->payload;
	e->type = ICMP_ECHO;
	e->code = 0;
	e->chksum = 0;
	e->id = lwip_htons(PING_ID);
	e->seqno = lwip_htons(st->seq);
	for (unsigned i = 0; i < st->size; i++)
		((uint8_t *)(e + 1))[i] = (uint8_t)(0x10 + i);
	e->chksum = inet_chksum(e, p->len);
	st->sent_ns[st->seq % (sizeof(st->sent_ns) / 8)] = clock_ns();
	err = raw_sendto(pcb, p, to);
	pbuf_free(p);
	st->seq++;
	st->sent++;
	return err == ERR_OK ? 0 : -1;
}

KCMD(ping, "ICMP echo: ping addr [-c count] [-i secs] [-s size] [-W secs]")
{
	static uint8_t seen[65536 / 8];
	struct ping_state *st;
	struct raw_pcb *pcb;
	ip_addr_t to;
	const char *host = NULL;
	unsigned count = 4;
	double interval = 1.0;
	double linger = -1.0; /* -W: how long to wait for replies after the last send */
	uint64_t start, next, end = 0;
	bool bad = false;
	int rc;

	st = calloc(1, sizeof(*st));
	if (!st)
		return 1;
	st->size = 56;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			count = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc)
			interval = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			st->size = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-W") == 0 && i + 1 < argc)
			linger = strtod(argv[++i], NULL);
		else if (!host && argv[i][0] != '-')
			host = argv[i];
		else
			bad = true;
	}
	if (bad || !host || !ipaddr_aton(host, &to) || !IP_IS_V4(&to) || count == 0 ||
	    count > 65535 || interval < 0.001 || st->size > PING_MAX_PAYLOAD ||
	    (linger != -1.0 && !(linger >= 0.0 && linger <= 3600.0))) {
		printf("usage: ping A.B.C.D [-c count (1-65535)] [-i secs (>= 0.001)] [-s size "
		       "(<= %u)] [-W secs to wait for replies after the last (0-3600)]\n",
		       PING_MAX_PAYLOAD);
		free(st);
		return 1;
	}
	if (net_cmd_up()) {
		free(st);
		return 1;
	}
	memset(seen, 0, sizeof(seen));
	st->seen = seen;
	pcb = raw_new(IP_PROTO_ICMP);
	if (!pcb) {
		free(st);
		return 1;
	}
	raw_recv(pcb, ping_recv, st);
	printf("PING %s %u(%u) bytes of data.\n", host, st->size, st->size + 28);
	fflush(stdout);
	start = next = clock_ns();
	for (;;) {
		uint64_t now = clock_ns();

		if (st->sent < count && now >= next) {
			if (ping_send(pcb, st, &to))
				printf("ping: send failed (icmp_seq=%u)\n", st->seq);
			next += (uint64_t)(interval * 1e9);
			/* Then wait for replies: -W, else 1 s or 2 intervals. */
			if (st->sent == count)
				end = now +
				      (uint64_t)((linger >= 0 ? linger : fmax(1.0, 2 * interval)) *
						 1e9);
		}
		if (st->sent == count && (st->received + 0u == count || now >= end))
			break;
		net_poll();
		fflush(stdout);
	}
	raw_remove(pcb);
	printf("\n--- %s ping statistics ---\n", host);
	printf("%u packets transmitted, %u received, %u%% packet loss, time %llums\n", st->sent,
	       st->received, st->sent ? (st->sent - st->received) * 100 / st->sent : 0,
	       (unsigned long long)((clock_ns() - start) / 1000000));
	if (st->received) {
		double avg = st->sum / st->received;
		double var = st->sum2 / st->received - avg * avg;

		printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", st->min, avg, st->max,
		       sqrt(var > 0 ? var : 0));
	}
	rc = st->received == 0;
	free(st);
	return rc;
}
