/*
 * lwIP's system layer for NO_SYS=1: a millisecond clock from the kernel's
 * TSC clock, random numbers (the kernel's generator, include/kernel/random.h)
 * and TCP initial sequence numbers, and assertions. There are no threads and no
 * timer interrupt: net_poll() runs lwIP's timeouts (sys_check_timeouts).
 */
#include <stdint.h>
#include <stdio.h>

#include <kernel/clock.h>
#include <kernel/kernel.h>
#include <kernel/random.h>
#include <lib/sha256.h>
#include <lwip/sys.h>

#include "net_hooks.h"

u32_t sys_now(void)
{
	return (u32_t)(clock_ns() / 1000000);
}

/* net_random - lwIP's LWIP_RAND: DHCP transaction ids, ports, IPv6 identifiers. */
uint32_t net_random(void)
{
	return random_u32();
}

/*
 * RFC 6528 initial sequence numbers: ISN = M + F(4-tuple, secret), M the
 * 4-microsecond clock, F the first 32 bits of SHA-256 over a boot-time
 * secret and the connection's addresses and ports.
 */
u32_t net_tcp_isn_f(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		    u16_t remote_port)
{
	static uint8_t secret[32];
	static bool have_secret;
	uint8_t d[SHA256_DIGEST_LEN];
	struct sha256 h;
	u16_t ports[2] = {local_port, remote_port};

	if (!have_secret) {
		random_bytes(secret, sizeof(secret));
		have_secret = true;
	}
	sha256_init(&h);
	sha256_update(&h, secret, sizeof(secret));
	sha256_update(&h, local_ip, sizeof(*local_ip));
	sha256_update(&h, remote_ip, sizeof(*remote_ip));
	sha256_update(&h, ports, sizeof(ports));
	sha256_final(&h, d);
	return (u32_t)d[0] << 24 | (u32_t)d[1] << 16 | (u32_t)d[2] << 8 | d[3];
}

u32_t net_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		  u16_t remote_port)
{
	return (u32_t)(clock_ns() / 4000) +
	       net_tcp_isn_f(local_ip, local_port, remote_ip, remote_port);
}

void net_assert_fail(const char *msg, const char *file, int line)
{
	fflush(stdout);
	panic("lwIP assertion \"%s\" failed at %s:%d", msg, file, line);
}
