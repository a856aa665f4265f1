/* The TSC clock, newlib's time functions and sleeping. */
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <kernel/clock.h>
#include <kernel/registry.h>

KTEST(sleep, "sleep 200 ms between two lines (the host times them)")
{
	uint64_t t0, t1;

	printf("sleep: start\n");
	fflush(stdout);
	t0 = clock_ns();
	usleep(200 * 1000);
	t1 = clock_ns();
	printf("sleep: end after %llu us\n", (unsigned long long)((t1 - t0) / 1000));
	return (t1 - t0) < 200 * 1000 * 1000;
}

KTEST(clock, "monotonic clock, clock_gettime, gettimeofday, time")
{
	struct timespec m0, m1, rt;
	struct timeval tv;
	uint64_t prev = clock_ns();
	time_t now = time(NULL);
	int bad = 0;

	for (int i = 0; i < 100000; i++) {
		uint64_t t = clock_ns();
		if (t < prev)
			bad++;
		prev = t;
	}
	clock_gettime(CLOCK_MONOTONIC, &m0);
	nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	clock_gettime(CLOCK_MONOTONIC, &m1);
	clock_gettime(CLOCK_REALTIME, &rt);
	gettimeofday(&tv, NULL);
	int64_t d = (m1.tv_sec - m0.tv_sec) * 1000000000ll + (m1.tv_nsec - m0.tv_nsec);
	printf("clock: nanosleep(5 ms) took %lld us\n", (long long)(d / 1000));
	printf("clock: time() %lld, CLOCK_REALTIME %lld, gettimeofday %lld\n", (long long)now,
	       (long long)rt.tv_sec, (long long)tv.tv_sec);
	if (d < 5000000)
		bad++;
	if (now < 1600000000 || rt.tv_sec < now || tv.tv_sec < now || tv.tv_sec > now + 60)
		bad++;
	if (clock_gettime(99, &rt) == 0)
		bad++;
	return bad;
}
