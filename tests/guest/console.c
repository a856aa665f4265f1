/*
 * The virtio console from inside the guest, driven by tests/qemu/test_console.py
 * and bench/console.py: bulk transfers through the console (stdio) or a
 * named port with SHA-256 on both sides, an echo, the multiport events,
 * the console size and a panic through the emergency write. Reports go
 * to the kernel log (kprintf: the UART), data to the virtio console.
 *
 * Command-line words they read: bytes=N (default 16 MiB), seed=N,
 * port=NAME (a named port instead of stdio), delay_ms=N (the sink sleeps
 * before reading), hash=0 (no SHA-256: under TCG hashing costs more than
 * the transfer; benchmarks), echo=NAME, watch=NAME, events=N.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/console.h>
#include <kernel/kernel.h>
#include <kernel/registry.h>
#include <lib/sha256.h>
#include <virtio/vport.h>

#define CHUNK (64 * 1024)

static uint64_t arg_u64(const char *key, uint64_t def)
{
	const char *v = cmdline_get(&kernel_cmdline, key);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

/*
 * The stream a test moves: stdio (the console, raw) or the named port.
 * Returns: the fd, or -1 after a report.
 */
static int open_stream(const char *test, int flags)
{
	const char *port = cmdline_get(&kernel_cmdline, "port");
	char path[96];
	int fd;

	if (!port) {
		if (strncmp(console_stdio_name(), "vport", 5) != 0) {
			kprintf("%s: stdio is on %s, not a virtio console\n", test,
				console_stdio_name());
			return -1;
		}
		console_set_raw(true);
		return (flags & O_ACCMODE) == O_WRONLY ? 1 : 0;
	}
	snprintf(path, sizeof(path), VPORT_DIR "%s", port);
	fd = open(path, flags);
	if (fd < 0)
		kprintf("%s: open %s: %s\n", test, path, strerror(errno));
	return fd;
}

/* A port's host end must be open before its bytes go anywhere (EPIPE otherwise). */
static int wait_host(int fd)
{
	struct vport_pollfd p = {fd, VPORT_OPENED, 0};
	struct vport_info info;

	if (fd <= 2)
		return 0;
	if (vport_info(fd, &info) == 0 && info.host_open)
		return 0;
	return vport_poll(&p, 1, -1) == 1 && !(p.revents & VPORT_NVAL) ? 0 : -1;
}

/* SHA-256 of the stream, unless hash=0. */
static bool hashing(void)
{
	return arg_u64("hash", 1) != 0;
}

static void hash(struct sha256 *s, const void *p, size_t n)
{
	static int on = -1;

	if (on < 0)
		on = hashing();
	if (on)
		sha256_update(s, p, n);
}

static void report(const char *test, uint64_t bytes, uint64_t ns, struct sha256 *s)
{
	uint8_t d[SHA256_DIGEST_LEN];
	char hex[2 * SHA256_DIGEST_LEN + 1] = "off";
	uint64_t us = ns / 1000 ? ns / 1000 : 1;

	if (hashing()) {
		sha256_final(s, d);
		sha256_hex(d, hex);
	}
	kprintf("%s: %llu bytes in %llu us, %llu.%02llu MB/s, sha256 %s\n", test,
		(unsigned long long)bytes, (unsigned long long)us, (unsigned long long)(bytes / us),
		(unsigned long long)(bytes * 100 / us % 100), hex);
}

KTEST(console_sink, "read bytes=N from the console (or port=NAME), print their SHA-256 and MB/s")
{
	uint64_t want = arg_u64("bytes", 16 * MiB), delay_ms = arg_u64("delay_ms", 0), got = 0,
		 t0 = 0;
	uint8_t *buf = malloc(CHUNK);
	struct sha256 s;
	int fd = open_stream("console-sink", O_RDONLY);

	/* Until the host opens a port, a read there is the end of input. */
	if (fd < 0 || !buf || wait_host(fd))
		return 1;
	sha256_init(&s);
	kprintf("console-sink: ready for %llu bytes\n", (unsigned long long)want);
	if (delay_ms) {
		/* The host sends meanwhile: the ring holds it back, nothing is lost. */
		usleep((useconds_t)(delay_ms * 1000));
		kprintf("console-sink: reading after %llu ms\n", (unsigned long long)delay_ms);
	}
	while (got < want) {
		size_t n = want - got < CHUNK ? (size_t)(want - got) : CHUNK;
		ssize_t r = read(fd, buf, n);

		if (r <= 0) {
			kprintf("console-sink: read: %s after %llu bytes\n",
				r ? strerror(errno) : "end of input", (unsigned long long)got);
			return 1;
		}
		if (got == 0)
			t0 = clock_ns();
		hash(&s, buf, (size_t)r);
		got += (uint64_t)r;
	}
	report("console-sink", got, clock_ns() - t0, &s);
	free(buf);
	if (fd > 2)
		close(fd);
	return 0;
}

/* xorshift64*: the source's bytes, reproducible from the seed. */
static void fill_random(uint64_t *state, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = *state;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		*state = x;
		x *= 0x2545f4914f6cdd1dull;
		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}

KTEST(console_source, "write bytes=N pseudo-random bytes (seed=S) to the console or port=NAME")
{
	uint64_t want = arg_u64("bytes", 16 * MiB), state = arg_u64("seed", 1) | 1, done = 0, t0;
	uint8_t *buf = malloc(CHUNK);
	struct sha256 s;
	int fd = open_stream("console-source", O_WRONLY);

	if (fd < 0 || !buf || wait_host(fd))
		return 1;
	sha256_init(&s);
	kprintf("console-source: sending %llu bytes\n", (unsigned long long)want);
	t0 = clock_ns();
	while (done < want) {
		size_t n = want - done < CHUNK ? (size_t)(want - done) : CHUNK;
		ssize_t w;

		fill_random(&state, buf, n);
		hash(&s, buf, n);
		w = write(fd, buf, n);
		if (w != (ssize_t)n) {
			kprintf("console-source: write: %s after %llu bytes\n",
				w < 0 ? strerror(errno) : "short", (unsigned long long)done);
			return 1;
		}
		done += n;
	}
	if (fd > 2)
		close(fd); /* waits until the device has taken every byte */
	else
		console_flush();
	report("console-source", done, clock_ns() - t0, &s);
	free(buf);
	return 0;
}

KTEST(console_echo, "echo bytes=N from the console (or port=NAME) back, SHA-256 of them")
{
	uint64_t want = arg_u64("bytes", 16 * MiB), got = 0, t0 = 0;
	const char *port = cmdline_get(&kernel_cmdline, "port");
	uint8_t *buf = malloc(CHUNK);
	struct sha256 s;
	int in = open_stream("console-echo", O_RDWR), out = port ? in : 1;

	if (in < 0 || !buf || wait_host(in))
		return 1;
	sha256_init(&s);
	kprintf("console-echo: ready for %llu bytes\n", (unsigned long long)want);
	while (got < want) {
		size_t n = want - got < CHUNK ? (size_t)(want - got) : CHUNK;
		ssize_t r = read(in, buf, n);

		if (r <= 0 || write(out, buf, (size_t)r) != r) {
			kprintf("console-echo: %s after %llu bytes\n",
				r <= 0 ? "read failed" : "write failed", (unsigned long long)got);
			return 1;
		}
		if (got == 0)
			t0 = clock_ns();
		hash(&s, buf, (size_t)r);
		got += (uint64_t)r;
	}
	if (port)
		close(in);
	else
		console_flush();
	report("console-echo", got, clock_ns() - t0, &s);
	free(buf);
	return 0;
}

static int open_port(const char *key, int flags)
{
	const char *name = cmdline_get(&kernel_cmdline, key);
	char path[96];
	int fd;

	if (!name) {
		kprintf("console-ports: give %s=NAME\n", key);
		return -1;
	}
	snprintf(path, sizeof(path), VPORT_DIR "%s", name);
	fd = open(path, flags);
	if (fd < 0)
		kprintf("console-ports: open %s: %s\n", path, strerror(errno));
	return fd;
}

/* The file layer's answers for what cannot be opened or written. */
static int check_refusals(int watch)
{
	char b = 'x';
	int bad = 0, fd;

	fd = open(VPORT_DIR "no-such-port", O_RDWR);
	kprintf("console-ports: open of a missing port: %s\n", fd < 0 ? strerror(errno) : "opened");
	bad += fd >= 0 || errno != ENOENT;
	if (write(watch, &b, 1) < 0) {
		kprintf("console-ports: write before the host opened watch: %s\n", strerror(errno));
		bad += errno != EPIPE;
	} else {
		kprintf("console-ports: write before the host opened watch: accepted\n");
		bad++;
	}
	return bad;
}

/* What the host sent on watch before it closed: read without blocking up to the end. */
static uint64_t drain(int fd, uint8_t *buf, size_t size)
{
	uint64_t n = 0;
	ssize_t r;

	while ((r = read(fd, buf, size)) > 0)
		n += (uint64_t)r;
	return n;
}

static void report_watch(const char *what, uint64_t seen, uint64_t bytes)
{
	kprintf("console-ports: watch: host %s (event %llu), %llu bytes received\n", what,
		(unsigned long long)seen, (unsigned long long)bytes);
}

KTEST(console_ports, "echo port echo=NAME, report host opens/closes of watch=NAME (events=N)")
{
	uint64_t events = arg_u64("events", 4), seen = 0, echoed = 0, watch_bytes = 0;
	int echo = open_port("echo", O_RDWR), watch = open_port("watch", O_RDWR | O_NONBLOCK);
	bool echo_open = false, echo_done = false;
	static uint8_t buf[CHUNK];

	if (echo < 0 || watch < 0 || check_refusals(watch))
		return 1;
	kprintf("console-ports: ready\n");
	while (seen < events || !echo_done) {
		/* Until the host opens echo, a read there would return end of input at once. */
		struct vport_pollfd p[2] = {{echo,
					     echo_done	 ? 0
					     : echo_open ? VPORT_POLLIN
							 : VPORT_OPENED,
					     0},
					    {watch, VPORT_OPENED | VPORT_CLOSED, 0}};
		struct vport_info info;

		if (vport_poll(p, 2, -1) < 0 || ((p[0].revents | p[1].revents) & VPORT_NVAL)) {
			kprintf("console-ports: poll failed\n");
			return 1;
		}
		echo_open |= (p[0].revents & VPORT_OPENED) != 0;
		if (p[0].revents & VPORT_POLLIN) {
			ssize_t r = read(echo, buf, sizeof(buf));

			if (r > 0 && write(echo, buf, (size_t)r) != r) {
				kprintf("console-ports: echo write failed: %s\n", strerror(errno));
				return 1;
			}
			if (r == 0) {
				echo_done = true;
				kprintf("console-ports: echo: host closed after %llu bytes\n",
					(unsigned long long)echoed);
			}
			echoed += r > 0 ? (uint64_t)r : 0;
		}
		if (!(p[1].revents & (VPORT_OPENED | VPORT_CLOSED)))
			continue;
		watch_bytes += drain(watch, buf, sizeof(buf));
		if (vport_info(watch, &info))
			return 1;
		/* Both since the last poll: the state now tells their order. */
		if ((p[1].revents & VPORT_OPENED) && (p[1].revents & VPORT_CLOSED) &&
		    info.host_open) {
			report_watch("closed", ++seen, watch_bytes);
			report_watch("opened", ++seen, watch_bytes);
		} else {
			if (p[1].revents & VPORT_OPENED)
				report_watch("opened", ++seen, watch_bytes);
			if (p[1].revents & VPORT_CLOSED)
				report_watch("closed", ++seen, watch_bytes);
		}
	}
	close(echo);
	close(watch);
	return 0;
}

/*
 * size=unknown (the default) or size=COLSxROWS: what the console's size
 * must be. Fails when stdio is not a virtio console, when a size is known
 * but unknown was expected (or the reverse), or when it differs.
 */
KTEST(console_size, "check the size of the stdio console against size= (default: unknown)")
{
	const char *want = cmdline_get(&kernel_cmdline, "size");
	unsigned want_cols = 0, want_rows = 0;
	uint16_t cols = 0, rows = 0;
	int rc;

	if (want && *want && strcmp(want, "unknown") != 0 &&
	    (sscanf(want, "%ux%u", &want_cols, &want_rows) != 2 || !want_cols || !want_rows)) {
		kprintf("console-size: bad size=%s (COLSxROWS or unknown)\n", want);
		return 1;
	}
	rc = vport_console_size(&cols, &rows);
	if (rc != 0 && errno != ENOTSUP) {
		kprintf("console-size: stdio is not a virtio console\n");
		return 1;
	}
	if (rc == 0)
		kprintf("console-size: %ux%u\n", cols, rows);
	else
		kprintf("console-size: unknown (the device offers no VIRTIO_CONSOLE_F_SIZE "
			"and sent no RESIZE)\n");
	if (want_cols && (rc != 0 || cols != want_cols || rows != want_rows)) {
		kprintf("console-size: expected %ux%u\n", want_cols, want_rows);
		return 1;
	}
	if (!want_cols && rc == 0) {
		kprintf("console-size: expected unknown\n");
		return 1;
	}
	printf("console-size: this line is on the console\n");
	return 0;
}

KTEST(console_panic, "panic with a virtio console up: the message goes out by emergency write")
{
	printf("console-panic: about to panic\n");
	fflush(stdout);
	console_flush();
	panic("console-panic: deliberate");
}
