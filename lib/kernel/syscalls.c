/*
 * newlib's system-call layer for a single-address-space kernel: stdin,
 * stdout and stderr are the consoles; other descriptors are the device
 * files of lib/kernel/file.c (open("/dev/vport/NAME")); time comes from the TSC
 * clock and the RTC; exit leaves QEMU. (sbrk lives in lib/kernel/mem.c.)
 * clock_gettime, nanosleep, usleep and sleep are POSIX calls newlib
 * leaves to the system.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <kernel/file.h>
#include <kernel/kernel.h>

static int is_stdio(int fd)
{
	return fd >= 0 && fd <= 2;
}

/* A negative errno from a driver becomes -1 with errno set. */
static int sys_result(ssize_t rc)
{
	if (rc < 0) {
		errno = (int)-rc;
		return -1;
	}
	return (int)rc;
}

int write(int fd, const void *buf, size_t len)
{
	struct file *f;

	if (fd == 1 || fd == 2) {
		console_write(buf, len);
		return (int)len;
	}
	if (!(f = file_get(fd)) || (f->flags & O_ACCMODE) == O_RDONLY || !f->ops->write) {
		errno = EBADF;
		return -1;
	}
	return sys_result(f->ops->write(f, buf, len));
}

/*
 * read(0): raw bytes, no echo and no line discipline (the shell edits its
 * own lines). Blocks for the first byte, then takes what is waiting.
 */
int read(int fd, void *buf, size_t len)
{
	struct file *f;

	if (fd == 0)
		return (int)console_read(buf, len);
	if (!(f = file_get(fd)) || (f->flags & O_ACCMODE) == O_WRONLY || !f->ops->read) {
		errno = EBADF;
		return -1;
	}
	return sys_result(f->ops->read(f, buf, len));
}

int open(const char *path, int flags, ...)
{
	return sys_result(file_open(path, flags));
}

int close(int fd)
{
	if (is_stdio(fd))
		return 0;
	return sys_result(file_close(fd));
}

int fstat(int fd, struct stat *st)
{
	if (!is_stdio(fd) && !file_get(fd)) {
		errno = EBADF;
		return -1;
	}
	*st = (struct stat){.st_mode = S_IFCHR, .st_blksize = 0};
	return 0;
}

/* The consoles are terminals; device files are not (newlib buffers them fully). */
int isatty(int fd)
{
	if (is_stdio(fd))
		return 1;
	errno = file_get(fd) ? ENOTTY : EBADF;
	return 0;
}

off_t lseek(int fd, off_t off, int whence)
{
	(void)off;
	(void)whence;
	errno = is_stdio(fd) || file_get(fd) ? ESPIPE : EBADF;
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
