/*
 * lwIP's system layer for NO_SYS=1: a millisecond clock from the kernel's
 * TSC clock, random numbers, and assertions. There are no threads and no
 * timer interrupt: net_poll() runs lwIP's timeouts (sys_check_timeouts).
 */
#include <stdint.h>
#include <stdio.h>

#include <kernel/clock.h>
#include <kernel/kernel.h>
#include <lwip/sys.h>

u32_t sys_now(void)
{
	return (u32_t)(clock_ns() / 1000000);
}

/*
 * net_random - xorshift64* seeded from the TSC at first use: enough for
 * DHCP transaction ids, TCP initial sequence numbers and ephemeral ports
 * (not for cryptography).
 */
uint32_t net_random(void)
{
	static uint64_t state;

	if (!state) {
		uint32_t lo, hi;

		__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
		state = ((uint64_t)hi << 32 | lo) ^ 0x9e3779b97f4a7c15ull;
		if (!state)
			state = 1;
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return (uint32_t)((state * 0x2545f4914f6cdd1dull) >> 32);
}

void net_assert_fail(const char *msg, const char *file, int line)
{
	fflush(stdout);
	panic("lwIP assertion \"%s\" failed at %s:%d", msg, file, line);
}
