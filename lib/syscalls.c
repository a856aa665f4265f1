/*
 * newlib's system-call layer for a single-address-space kernel: stdin,
 * stdout and stderr are the consoles; time comes from the TSC clock and
 * the RTC; exit leaves QEMU. (sbrk lives in lib/mem.c.) clock_gettime,
 * nanosleep, usleep and sleep are POSIX calls newlib leaves to the system.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include <arch/x86_64/cpu.h>
#include <kernel/clock.h>
#include <kernel/console.h>
#include <kernel/kernel.h>

static int is_stdio(int fd)
{
	return fd >= 0 && fd <= 2;
}

int write(int fd, const void *buf, size_t len)
{
	if (fd != 1 && fd != 2) {
		errno = EBADF;
		return -1;
	}
	console_write(buf, len);
	return (int)len;
}

/*
 * read(0): raw bytes, no echo and no line discipline (the shell edits its
 * own lines). Blocks for the first byte, then takes what is waiting.
 */
int read(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t n = 0;
	int b;

	if (fd != 0) {
		errno = EBADF;
		return -1;
	}
	if (len == 0)
		return 0;
	p[n++] = (char)console_getc();
	while (n < len && (b = console_poll()) >= 0)
		p[n++] = (char)b;
	return (int)n;
}

int open(const char *path, int flags, ...)
{
	(void)path;
	(void)flags;
	errno = ENOENT;
	return -1;
}

int close(int fd)
{
	if (is_stdio(fd))
		return 0;
	errno = EBADF;
	return -1;
}

int fstat(int fd, struct stat *st)
{
	if (!is_stdio(fd)) {
		errno = EBADF;
		return -1;
	}
	*st = (struct stat){.st_mode = S_IFCHR, .st_blksize = 0};
	return 0;
}

int isatty(int fd)
{
	if (is_stdio(fd))
		return 1;
	errno = EBADF;
	return 0;
}

off_t lseek(int fd, off_t off, int whence)
{
	(void)off;
	(void)whence;
	errno = is_stdio(fd) ? ESPIPE : EBADF;
	return -1;
}

int getpid(void)
{
	return 1;
}

/* abort() and raise() end here: there is one process, so a signal ends it. */
int kill(int pid, int sig)
{
	if (pid != 1) {
		errno = ESRCH;
		return -1;
	}
	kprintf("killed by signal %d\n", sig);
	kernel_exit(EXIT_FAIL);
}

void _exit(int status)
{
	kernel_exit(status == 0 ? EXIT_PASS : EXIT_FAIL);
}

int gettimeofday(struct timeval *tv, void *tz)
{
	uint64_t ns = clock_ns();

	(void)tz;
	if (tv) {
		tv->tv_sec = clock_info.boot_epoch + (time_t)(ns / 1000000000);
		tv->tv_usec = (suseconds_t)(ns % 1000000000 / 1000);
	}
	return 0;
}

clock_t times(struct tms *t)
{
	clock_t ticks = (clock_t)(clock_ns() / (1000000000 / CLOCKS_PER_SEC));

	if (t)
		*t = (struct tms){.tms_utime = ticks};
	return ticks;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	uint64_t ns = clock_ns();

	switch (id) {
	case CLOCK_MONOTONIC: ts->tv_sec = (time_t)(ns / 1000000000); break;
	case CLOCK_REALTIME: ts->tv_sec = clock_info.boot_epoch + (time_t)(ns / 1000000000); break;
	default: errno = EINVAL; return -1;
	}
	ts->tv_nsec = (long)(ns % 1000000000);
	return 0;
}

int clock_getres(clockid_t id, struct timespec *res)
{
	if (id != CLOCK_MONOTONIC && id != CLOCK_REALTIME) {
		errno = EINVAL;
		return -1;
	}
	if (res)
		*res = (struct timespec){.tv_sec = 0, .tv_nsec = 1};
	return 0;
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000 || req->tv_sec < 0) {
		errno = EINVAL;
		return -1;
	}
	ndelay((uint64_t)req->tv_sec * 1000000000 + (uint64_t)req->tv_nsec);
	if (rem)
		*rem = (struct timespec){0, 0};
	return 0;
}

int usleep(useconds_t us)
{
	udelay(us);
	return 0;
}

unsigned sleep(unsigned seconds)
{
	ndelay((uint64_t)seconds * 1000000000);
	return 0;
}
