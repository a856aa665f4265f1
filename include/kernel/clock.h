/*
 * Time: a monotonic nanosecond clock from the TSC, and wall-clock time
 * from the CMOS RTC read once at boot. newlib's time(), gettimeofday() and
 * our clock_gettime()/nanosleep() build on these.
 */
#ifndef KERNEL_CLOCK_H
#define KERNEL_CLOCK_H

#include <stdint.h>

struct clock_info {
	uint64_t tsc_hz;
	const char *source; /* how tsc_hz was found */
	int64_t boot_epoch; /* wall-clock seconds at boot (RTC), 0 if none */
};
extern struct clock_info clock_info;

/* clock_init - find the TSC frequency and read the RTC. */
void clock_init(void);

/* clock_ns - nanoseconds since the first kernel instruction. */
uint64_t clock_ns(void);

/* tsc_to_ns - convert a TSC delta to nanoseconds. */
uint64_t tsc_to_ns(uint64_t delta);

/* udelay / ndelay - busy-wait at least that long. */
/* rtc_read_epoch - wall-clock seconds from the CMOS RTC, 0 if none. */
int64_t rtc_read_epoch(void);

void ndelay(uint64_t ns);
void udelay(uint64_t us);

#endif
