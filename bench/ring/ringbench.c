/*
 * Ring benchmark, after Linux tools/virtio/ringtest: a driver thread uses the
 * virtqueue core (the unchanged VQ_SRCS, public API only) while a device
 * thread, pinned to the other core, implements the device side of the split
 * or packed layout directly on the ring memory. Prints figures, never passes
 * or fails.
 *
 * Each buffer is one device-writable descriptor; the device writes no data.
 * The device works in sweeps, as Linux vhost does: it takes every buffer made
 * available, up to DEV_SWEEP, then returns them. Per buffer it does:
 *   split   reads the avail ring entry (the avail index only when it has
 *           consumed all the index it last read), checks the head is in range
 *           and reads the descriptor's length; writes a used entry {head, len}.
 *           The used index is published once per sweep (2.7.8).
 *   packed  reads the descriptor's flags (that is how it learns it is
 *           available), checks the id is in range, reads its length; writes
 *           id and length, then the flags that make it used (2.8.5-2.8.6).
 *           It writes a sweep's used descriptors once it has read the sweep,
 *           in ring order, the first one's flags last (after the others, a
 *           release store), as QEMU (virtqueue_packed_flush) and DPDK's vhost
 *           batches do: the driver, reading in ring order, finds the sweep
 *           whole. -U each: each used descriptor written whole in turn, right
 *           after its available one is read (the bench before this option).
 * With IN_ORDER (order "in") the split device also checks that the heads come
 * in ring order (0, 1, 2, ...: 2.7.5 asks it of the driver; packed ids may be
 * any, the slots are in order by construction), and uses the in-order
 * shortcut the spec allows the device (2.7.9, 2.8.9 "In-order use of descriptors"): one used
 * entry per sweep, naming the last buffer; split advances the used index by
 * the sweep, packed skips the sweep's slots. It reads every buffer's ring
 * entry or descriptor as in the other order: nothing the driver is not told.
 * Modes:
 *   poll    no notification negotiated; neither side notifies, both poll the ring.
 *           How each side waits when it has nothing to do (ring full and
 *           nothing used for the driver, nothing available for the device):
 *           it leaves the ring alone for -w F times P (pause instructions,
 *           default 4 P) before it looks again; re-reading at once the slot
 *           the other side is writing pulls the line back after each of its
 *           writes. The device, having caught up with the driver, waits (-L N
 *           looks of that length at most, default 4; 0: off) for the driver to
 *           fill the cache line it is in: packed, until the slot at the end of
 *           that line is available; split, until the avail index is a line of
 *           descriptors (4) ahead. Then, or when the looks run out, it takes
 *           whatever is available, so it never depends on the driver filling
 *           a line. The driver, whose get_buf returns a used buffer whenever
 *           there is one, waits by the same -w rule (it is the busier side:
 *           it rarely finds nothing to do). Both are waiting policies a real
 *           driver or device may use; the per-buffer work above is unchanged.
 *           -B: the driver adds up to `batch` buffers in a row, then takes up
 *           to `batch` used ones (default: one, then one, as ringtest does; the
 *           batch then only spaces kicks).
 *   calls   (column) "single": one call per buffer, as above; "burst": the
 *           driver adds up to `batch` buffers with one virtqueue_add_bufs,
 *           then takes up to `batch` used ones with one virtqueue_get_bufs
 *           (batch at most 256; in notify mode it kicks once per burst).
 *           -c single|burst|both; by default every batch runs single calls
 *           and every batch above 1 runs bursts too.
 *   notify  EVENT_IDX negotiated. The driver kicks with virtqueue_kick_prepare
 *           (every `batch` buffers, and before it waits) and waits for an
 *           interrupt after virtqueue_enable_cb() returned true; the device
 *           checks the driver's used event after every `batch` buffers (and
 *           before it waits) and waits for a kick after re-arming its avail event.
 *           Having caught up, it re-arms at once and takes whatever one more
 *           look finds, as vhost does by default; -P: it first waits as the
 *           poll-mode device does (-w, -L: for a line's worth), as vhost-net
 *           does with busy polling (busyloop_timeout), so notify and poll
 *           rows differ by the notifications, not by the device's policy.
 *
 * A notification (kick or interrupt) is an atomic increment of a doorbell
 * word on its own cache line; a side that must wait spins on the other's
 * doorbell (pause), it does not sleep. So ns/buffer is the cost of the ring
 * protocol and its cache-line traffic, not of an OS wake-up; kicks/buffer and
 * interrupts/buffer tell what a real transport would pay per buffer (a VM exit
 * or an interrupt, each of the order of a microsecond).
 *
 * The reference figure is one cache line bouncing between the two cores (the
 * line "cache line ping-pong (reference)", P = its one-way time). Each table
 * row also measures P right before each of its repetitions (column P, the
 * median) and gives ns/buf in units of it (column xP, the median over the
 * repetitions of ns/buf / P): the machine is shared, so only ratios taken at
 * the same moment compare. With -r N each row is the median of N repetitions.
 * The cores' speed moves too (another guest on the sibling hyperthreads, the
 * clock): at the same P the one-core floor below (-S) has measured 14 and 25
 * ns per buffer minutes apart, and the two-thread figures follow it. So each
 * repetition also measures, right before it, the floor of one fixed case
 * (packed, any order, single calls, ring 256, best of 3 x 20000 buffers):
 * column S, the median; with -q F a repetition waits for S within F times the
 * best S of the run too. Read xP with S: the same ring at a higher S is
 * slower cores, not a worse ring.
 * P says what a line transfer costs, not what the ring could cost with this
 * device at this moment; so each repetition also runs, right before it, a
 * minimal packed driver (min_driver(): only what the ring asks, no state of
 * its own) against the same device, ring size and waiting policy, in poll
 * mode: column M, its ns per buffer (best of 3 x 50000 buffers), and xM,
 * the row's ns/buf over M. M is the layout's floor with two threads; xM is
 * what our code costs on top of it, and moves much less than xP with the host.
 * Columns: layout mode batch ns/buf kicks/buf irqs/buf size order P S xP calls
 * bufs/sweep M xM (order: "any" = IN_ORDER not negotiated, "in" = negotiated;
 * bufs/sweep: buffers per device sweep that found any, the mean over the
 * repetitions: in poll mode the waiting policies below set it, and with it
 * how many buffers share each line the two sides hand over).
 *
 * Usage: ringbench [-n buffers] [-s size[,size...]] [-b batch[,batch...]]
 *                  [-l split|packed|both] [-m poll|notify|both]
 *                  [-o any|in|both] [-r repetitions] [-p pingpongs] [-q F]
 *                  [-w F] [-L N] [-B] [-c single|burst|both] [-U sweep|each] [-S]
 * -S (mode "solo"): no device thread; one thread adds a buffer, runs the
 * device's sweep and gets the buffer back, so no line ever leaves the core:
 * the driver's and device's instructions alone, the floor under poll mode.
 * Defaults: 2000000 buffers, sizes 64,256,1024, batches 1,32, every layout,
 * mode and order, 1 repetition, 1000000 ping-pongs for the reference line.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <virtio/virtio_config.h>
#include <virtio/virtio_ring.h>
#include <virtio/virtqueue.h>

#define CACHE_LINE 64
#define BUF_SIZE   64
#define STALL_NS   (10ull * 1000 * 1000 * 1000)

#define LOAD(p)	    __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static bool one_cpu;	    /* no second core: spin loops yield instead */
static double pause_ns = 1; /* one pause instruction, measured at start-up */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void relax(void)
{
	if (one_cpu)
		sched_yield();
	else
		__builtin_ia32_pause();
}

/*
 * What a side does when it found nothing to do, in poll mode: leave the ring
 * alone for `pauses` pause instructions before it looks again. A side that
 * re-reads the very slot the other side is writing at once pulls the line back
 * after each write of it; waiting about one line transfer lets the other side
 * fill the line (or more) first. Both sides wait by the same rule.
 */
static void idle(unsigned pauses)
{
	if (one_cpu) {
		sched_yield();
		return;
	}
	for (unsigned i = 0; i < pauses; i++)
		__builtin_ia32_pause();
}

static void measure_pause(void)
{
	uint64_t t0 = now_ns(), t1;

	for (unsigned i = 0; i < 100000; i++)
		__builtin_ia32_pause();
	t1 = now_ns();
	pause_ns = (double)(t1 - t0) / 100000;
	if (pause_ns <= 0)
		pause_ns = 1;
}

/* A doorbell: the other side spins on it. One cache line each. */
struct bell {
	_Alignas(CACHE_LINE) uint64_t count;
};

/* Spin until *word differs from seen; a stuck protocol ends the program. */
static void wait_change(const uint64_t *word, uint64_t seen, const char *who)
{
	uint64_t start = 0;

	for (unsigned i = 0; LOAD(word) == seen; i++) {
		relax();
		if ((i & 0xfffff) == 0xfffff) {
			uint64_t t = now_ns();

			if (!start) {
				start = t;
			} else if (t - start > STALL_NS) {
				fprintf(stderr, "ringbench: %s stalled: notification lost?\n", who);
				exit(1);
			}
		}
	}
}

#define DEV_SWEEP 64 /* most buffers the device takes before returning them */

struct run {
	enum vq_layout layout;
	bool notify;
	bool in_order;
	bool solo;    /* -S: no device thread (see solo()) */
	bool minimal; /* column M: min_driver() instead of the virtqueue */
	unsigned batch;
	uint32_t num;
	uint64_t n;
	unsigned add_run; /* buffers the driver adds in a row (1, or batch with -B or in bursts) */
	bool burst;	  /* calls "burst": virtqueue_add_bufs / virtqueue_get_bufs */
	unsigned line_wait;
	bool used_each; /* -U each: packed device writes used descriptors one by one */
	bool busy_poll; /* -P: notify mode, the device waits as in poll mode before it re-arms */
	unsigned idle_pauses; /* poll mode: pauses a side waits when it has nothing to do */
	struct virtqueue *vq;
	struct vq_ring_addrs addrs;
	int dev_cpu;

	struct bell kick_bell; /* driver -> device */
	struct bell irq_bell;  /* device -> driver */
	_Alignas(CACHE_LINE) uint64_t kicks;
	_Alignas(CACHE_LINE) uint64_t interrupts;
	uint64_t sweeps; /* the device's sweeps that found buffers (stored once, at its end) */
	_Alignas(CACHE_LINE) int go;
	_Alignas(CACHE_LINE) int ready;
};

static void device_fail(const char *what)
{
	fprintf(stderr, "ringbench: device: %s\n", what);
	exit(1);
}

/* The device, split layout (VIRTIO 1.2 2.7). */

struct split_dev {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint32_t num;
	bool in_order;
	uint16_t last_avail, avail_seen, used_idx, signalled;
	uint16_t expect; /* in order: the head the next buffer must have */
};

/* One sweep. Returns: buffers used. */
static unsigned split_use_bufs(struct split_dev *d)
{
	uint16_t head = 0, n;
	uint32_t len = 0;

	if (d->last_avail == d->avail_seen) {
		d->avail_seen = LOAD(&d->avail->idx);
		if (d->avail_seen == d->last_avail)
			return 0;
		if ((uint16_t)(d->avail_seen - d->last_avail) > d->num)
			device_fail("avail index ahead of the ring");
	}
	/* The acquire load of the index orders the ring entry and descriptor reads after it. */
	n = (uint16_t)(d->avail_seen - d->last_avail);
	if (n > DEV_SWEEP)
		n = DEV_SWEEP;
	for (uint16_t i = 0; i < n; i++) {
		head = d->avail->ring[d->last_avail & (d->num - 1)];
		if (head >= d->num)
			device_fail("head out of range");
		if (d->in_order) {
			if (head != d->expect)
				device_fail("in-order: head out of order");
			d->expect = (uint16_t)((head + 1) & (d->num - 1));
		}
		len = d->desc[head].len;
		d->last_avail++;
		if (!d->in_order)
			d->used->ring[(d->used_idx + i) & (d->num - 1)] =
				(struct vring_used_elem){head, len};
	}
	if (d->in_order) /* 2.7.9: one entry for the batch, naming its last buffer */
		d->used->ring[d->used_idx & (d->num - 1)] = (struct vring_used_elem){head, len};
	d->used_idx = (uint16_t)(d->used_idx + n);
	STORE(&d->used->idx, d->used_idx);
	return n;
}

/* A descriptor line's worth of buffers available, or tries waits done. */
static void split_wait_line(const struct split_dev *d, unsigned pauses, unsigned tries)
{
	for (unsigned t = 0; t < tries; t++) {
		idle(pauses);
		if ((uint16_t)(LOAD(&d->avail->idx) - d->last_avail) >=
		    CACHE_LINE / sizeof(*d->desc))
			return;
	}
}

/* Interrupt the driver if it asked for one (2.7.10). */
static void split_call(struct run *r, struct split_dev *d)
{
	bool need;

	/* Our used->idx store before the driver's event read (it does the mirror image). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	need = vring_need_event(LOAD(vring_used_event(d->avail, d->num)), d->used_idx,
				d->signalled);
	d->signalled = d->used_idx;
	if (need) {
		r->interrupts++;
		__atomic_fetch_add(&r->irq_bell.count, 1, __ATOMIC_RELEASE);
	}
}

/* Ask for a kick at the next buffer. Returns: true if there is still nothing to do. */
static bool split_enable_kick(struct split_dev *d)
{
	STORE(vring_avail_event(d->used, d->num), d->last_avail);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return LOAD(&d->avail->idx) == d->last_avail;
}

/* The device, packed layout (VIRTIO 1.2 2.8). */

#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED	(1u << VRING_PACKED_DESC_F_USED)

struct packed_dev {
	struct vring_packed_desc *desc;
	struct vring_packed_desc_event *driver, *device;
	uint32_t num;
	bool in_order;
	uint16_t next; /* next slot to read */
	uint16_t wrap; /* its wrap counter */
	uint16_t used; /* next slot to write used */
	uint16_t used_wrap;
	uint16_t signalled; /* used slot at the last interrupt check */
	uint16_t signalled_wrap;
	bool each; /* -U each: each used descriptor written whole in turn */
};

/* Slot (in the lap of next) available? */
static bool packed_slot_avail(const struct packed_dev *d, uint16_t slot)
{
	uint16_t f = LOAD(&d->desc[slot].flags);

	return !!(f & F_AVAIL) == d->wrap && !!(f & F_USED) != d->wrap;
}

static bool packed_avail(const struct packed_dev *d)
{
	return packed_slot_avail(d, d->next);
}

/* The slot at the end of next's cache line available, or tries waits done. */
static void packed_wait_line(const struct packed_dev *d, unsigned pauses, unsigned tries)
{
	uint16_t last = d->next | (CACHE_LINE / sizeof(*d->desc) - 1);

	if (last >= d->num)
		last = (uint16_t)(d->num - 1);
	for (unsigned t = 0; t < tries; t++) {
		idle(pauses);
		if (packed_slot_avail(d, last))
			return;
	}
}

/* The flags that make a descriptor used in the lap with this wrap counter (2.8.1). */
static uint16_t packed_used_flags(uint16_t wrap)
{
	return (uint16_t)(wrap ? F_AVAIL | F_USED | VRING_DESC_F_WRITE : VRING_DESC_F_WRITE);
}

/* Step the used slot past skip slots. */
static void packed_used_step(struct packed_dev *d, uint16_t skip)
{
	d->used = (uint16_t)(d->used + skip);
	if (d->used >= d->num) {
		d->used = (uint16_t)(d->used - d->num);
		d->used_wrap ^= 1;
	}
}

static void packed_put_used(struct packed_dev *d, uint16_t id, uint32_t len, uint16_t skip)
{
	struct vring_packed_desc *u = &d->desc[d->used];

	u->id = id;
	u->len = len;
	STORE(&u->flags, packed_used_flags(d->used_wrap));
	packed_used_step(d, skip);
}

/*
 * -U sweep (default): the sweep's used descriptors in ring order, the first
 * one's flags last (a release store after all the others), as QEMU's
 * virtqueue_packed_flush and DPDK's vhost batches write them: the driver,
 * which reads used descriptors in ring order, finds the sweep whole.
 */
static void packed_put_sweep(struct packed_dev *d, const uint16_t *ids, const uint32_t *lens,
			     uint16_t n)
{
	struct vring_packed_desc *first = &d->desc[d->used];
	uint16_t first_flags = packed_used_flags(d->used_wrap);

	for (uint16_t k = 0; k < n; k++) {
		struct vring_packed_desc *u = &d->desc[d->used];

		u->id = ids[k];
		u->len = lens[k];
		if (k)
			STORE(&u->flags, packed_used_flags(d->used_wrap));
		packed_used_step(d, 1);
	}
	STORE(&first->flags, first_flags);
}

/* One sweep. Returns: buffers used. */
static unsigned packed_use_bufs(struct packed_dev *d)
{
	uint16_t id = 0, n, ids[DEV_SWEEP];
	uint32_t len = 0, lens[DEV_SWEEP];

	for (n = 0; n < DEV_SWEEP && packed_avail(d); n++) {
		/* The acquire load of the flags orders the id and length reads after it. */
		const struct vring_packed_desc *a = &d->desc[d->next];

		id = a->id; /* one descriptor per buffer: its id is here */
		len = a->len;
		if (id >= d->num)
			device_fail("id out of range");
		if (++d->next == d->num) {
			d->next = 0;
			d->wrap ^= 1;
		}
		if (d->in_order)
			continue;
		if (d->each) {
			packed_put_used(d, id, len, 1);
			continue;
		}
		ids[n] = id;
		lens[n] = len;
	}
	if (d->in_order && n) /* 2.8.9: one used descriptor for the batch, the last id */
		packed_put_used(d, id, len, n);
	else if (!d->each && n)
		packed_put_sweep(d, ids, lens, n);
	return n;
}

/* 2.8.10: the driver's event suppression, as Linux vhost reads it. */
static void packed_call(struct run *r, struct packed_dev *d)
{
	uint16_t flags, off_wrap, event, old = d->signalled, new = d->used;
	bool need;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = LOAD(&d->driver->flags);
	if (flags == VRING_PACKED_EVENT_FLAG_DESC) {
		off_wrap = LOAD(&d->driver->off_wrap);
		event = off_wrap & 0x7fff;
		if ((off_wrap >> 15) != d->used_wrap)
			event = (uint16_t)(event - d->num);
		if (d->signalled_wrap != d->used_wrap)
			old = (uint16_t)(old - d->num);
		need = vring_need_event(event, new, old);
	} else {
		need = flags == VRING_PACKED_EVENT_FLAG_ENABLE;
	}
	d->signalled = d->used;
	d->signalled_wrap = d->used_wrap;
	if (need) {
		r->interrupts++;
		__atomic_fetch_add(&r->irq_bell.count, 1, __ATOMIC_RELEASE);
	}
}

static bool packed_enable_kick(struct packed_dev *d)
{
	STORE(&d->device->off_wrap, (uint16_t)(d->next | (d->wrap ? 0x8000 : 0)));
	STORE(&d->device->flags, (uint16_t)VRING_PACKED_EVENT_FLAG_DESC);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !packed_avail(d);
}

static void dev_init(const struct run *r, struct split_dev *s, struct packed_dev *p)
{
	*s = (struct split_dev){
		.desc = (void *)(uintptr_t)r->addrs.desc,
		.avail = (void *)(uintptr_t)r->addrs.driver,
		.used = (void *)(uintptr_t)r->addrs.device,
		.num = r->num,
		.in_order = r->in_order,
	};
	*p = (struct packed_dev){
		.desc = (void *)(uintptr_t)r->addrs.desc,
		.driver = (void *)(uintptr_t)r->addrs.driver,
		.device = (void *)(uintptr_t)r->addrs.device,
		.num = r->num,
		.in_order = r->in_order,
		.each = r->used_each,
		.wrap = 1,
		.used_wrap = 1,
		.signalled_wrap = 1,
	};
}

/* The device thread: the shape of ringtest's run_host(). */
static void *device_thread(void *arg)
{
	struct run *r = arg;
	struct split_dev s;
	struct packed_dev p;
	bool packed = r->layout == VQ_PACKED;
	uint64_t done = 0, sweeps = 0;
	unsigned uncalled = 0; /* buffers used since the last interrupt check */

	dev_init(r, &s, &p);

	if (r->dev_cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(r->dev_cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	STORE(&r->ready, 1); /* pinned and running: the driver starts the clock */
	while (!LOAD(&r->go))
		relax();
	for (;;) {
		unsigned got;

		/* With EVENT_IDX a kick request is one position: nothing to disable. */
		do {
			got = packed ? packed_use_bufs(&p) : split_use_bufs(&s);
			done += got;
			sweeps += got != 0;
			uncalled += got;
			if (r->notify && uncalled >= r->batch) {
				uncalled = 0;
				packed ? packed_call(r, &p) : split_call(r, &s);
			}
		} while (got);
		if (r->notify && uncalled) {
			uncalled = 0;
			packed ? packed_call(r, &p) : split_call(r, &s);
		}
		if (done == r->n)
			break;
		if (r->notify && r->busy_poll && r->line_wait) {
			/* -P: look a while for a line's worth before re-arming (vhost's busy poll). */
			if (packed)
				packed_wait_line(&p, r->idle_pauses, r->line_wait);
			else
				split_wait_line(&s, r->idle_pauses, r->line_wait);
			if (packed ? packed_avail(&p) : LOAD(&s.avail->idx) != s.last_avail)
				continue;
		}
		if (r->notify) {
			uint64_t seen = LOAD(&r->kick_bell.count);

			if (packed ? packed_enable_kick(&p) : split_enable_kick(&s))
				wait_change(&r->kick_bell.count, seen,
					    "device (waiting for a kick)");
		} else {
			if (packed && r->line_wait)
				packed_wait_line(&p, r->idle_pauses, r->line_wait);
			else if (r->line_wait)
				split_wait_line(&s, r->idle_pauses, r->line_wait);
			else
				idle(r->idle_pauses);
		}
	}
	r->sweeps = sweeps; /* read after the join */
	return NULL;
}

/* The driver: the shape of ringtest's run_guest(). */

static void kick(struct run *r)
{
	if (virtqueue_kick_prepare(r->vq)) {
		r->kicks++;
		__atomic_fetch_add(&r->kick_bell.count, 1, __ATOMIC_RELEASE);
	}
}

/*
 * The i-th buffer's memory. The ring size is a power of two: a mask, not a
 * division (a 64-bit divide per buffer cost the driver thread several ns,
 * as much as a third of the ring's own work at batch 32).
 */
static uint8_t *buf_at(const struct run *r, uint8_t *bufs, uint64_t i)
{
	return bufs + (i & (r->num - 1)) * BUF_SIZE;
}

#define MAX_BURST 256 /* the most buffers one burst call adds or takes */

/* calls "burst": up to add_run buffers in, then up to add_run used ones out. */
static bool driver_bursts(struct run *r, uint8_t *bufs, uint64_t *started, uint64_t *completed,
			  unsigned *tokick)
{
	struct vq_single sb[MAX_BURST];
	void *toks[MAX_BURST];
	uint32_t lens[MAX_BURST];
	uint64_t left = r->n - *started;
	unsigned want = left < r->add_run ? (unsigned)left : r->add_run, got;
	bool progress = false;
	int rc;

	for (unsigned k = 0; k < want; k++) {
		uint8_t *b = buf_at(r, bufs, *started + k);

		sb[k] = (struct vq_single){b, BUF_SIZE, VQ_IN, b};
	}
	rc = want ? virtqueue_add_bufs(r->vq, sb, want) : 0;
	if (rc > 0) {
		*started += (unsigned)rc;
		progress = true;
		if (*tokick > (unsigned)rc) {
			*tokick -= (unsigned)rc;
		} else {
			*tokick = r->batch;
			if (r->notify)
				kick(r);
		}
	}
	got = virtqueue_get_bufs(r->vq, toks, lens, r->add_run);
	*completed += got;
	return progress || got;
}

static void driver(struct run *r, uint8_t *bufs)
{
	uint64_t started = 0, completed = 0;
	unsigned tokick = r->batch;

	for (;;) {
		bool progress;

		if (r->notify)
			virtqueue_disable_cb(r->vq);
		do {
			uint32_t len;
			int rc = -1;

			progress = false;
			if (r->burst) {
				progress = driver_bursts(r, bufs, &started, &completed, &tokick);
				continue;
			}
			/* Up to a batch of buffers in a row (-B), then as many used ones back. */
			for (unsigned k = 0; k < r->add_run && started < r->n; k++) {
				uint8_t *b = buf_at(r, bufs, started);

				rc = virtqueue_add_buf_single(r->vq, b, BUF_SIZE, VQ_IN, b);
				if (rc)
					break;
				started++;
				progress = true;
				if (--tokick == 0) {
					tokick = r->batch;
					if (r->notify)
						kick(r);
				}
			}
			for (unsigned k = 0; k < r->add_run && virtqueue_get_buf(r->vq, &len);
			     k++) {
				completed++;
				progress = true;
			}
		} while (progress);
		if (completed == r->n)
			break;
		if (r->notify) {
			uint64_t seen;

			if (tokick !=
			    r->batch) { /* never wait on buffers the device was not told of */
				tokick = r->batch;
				kick(r);
			}
			seen = LOAD(&r->irq_bell.count);
			if (virtqueue_enable_cb(r->vq))
				wait_change(&r->irq_bell.count, seen,
					    "driver (waiting for an interrupt)");
		} else {
			idle(r->idle_pauses);
		}
	}
}

/*
 * -S: the driver's own cost, with no line ever crossing cores: one thread adds
 * a buffer, runs the device's sweep (the same code as the device thread) and
 * gets the buffer back.
 */
static void solo(struct run *r, uint8_t *bufs)
{
	struct split_dev s;
	struct packed_dev p;

	dev_init(r, &s, &p);
	if (r->burst) {
		/* bursts: a burst in, the device's sweep, the burst back */
		uint64_t started = 0, completed = 0;
		unsigned tokick = r->batch;

		while (completed < r->n) {
			uint64_t before = completed;

			if (driver_bursts(r, bufs, &started, &completed, &tokick) &&
			    completed != before)
				continue;
			if (started == completed ||
			    (r->layout == VQ_PACKED ? packed_use_bufs(&p) : split_use_bufs(&s)) ==
				    0) {
				fprintf(stderr, "ringbench: solo: buffers lost\n");
				exit(1);
			}
			r->sweeps++;
		}
		return;
	}
	for (uint64_t i = 0; i < r->n; i++) {
		uint8_t *b = buf_at(r, bufs, i);
		uint32_t len;

		if (virtqueue_add_buf_single(r->vq, b, BUF_SIZE, VQ_IN, b) ||
		    (r->layout == VQ_PACKED ? packed_use_bufs(&p) : split_use_bufs(&s)) != 1 ||
		    !virtqueue_get_buf(r->vq, &len)) {
			fprintf(stderr, "ringbench: solo: buffer %llu lost\n",
				(unsigned long long)i);
			exit(1);
		}
		r->sweeps++;
	}
}

/*
 * Column M: the packed layout's floor with this device, at this moment. A
 * driver that does only what the ring itself asks (2.8.1, 2.8.5-2.8.6, 2.8.21)
 * in the loop of driver() (poll mode, any order, single calls): per buffer it
 * writes the address, length and id (the slot: the bench device, in any
 * order, still returns buffers in ring order), then the flags (a release
 * store); it reads the next used descriptor's flags (an acquire load), then
 * its id and length, and checks both (the id is the slot it expects, the
 * length fits the buffer). It keeps no free-id list, no per-buffer state, no
 * token, no statistics, no broken/building/event state, and trusts nothing
 * else to be checked. What our ring costs above it is the cost of our code;
 * what it costs is the protocol's and the machine's.
 */
static void min_driver(struct run *r, uint8_t *bufs)
{
	struct vring_packed_desc *desc = (void *)(uintptr_t)r->addrs.desc;
	uint64_t started = 0, completed = 0;
	uint16_t avail = 0, used = 0, avail_wrap = 1, used_wrap = 1;

	while (completed < r->n) {
		bool progress = false;

		if (started - completed < r->num && started < r->n) {
			struct vring_packed_desc *d = &desc[avail];

			d->addr = (uint64_t)(uintptr_t)buf_at(r, bufs, started);
			d->len = BUF_SIZE;
			d->id = avail;
			STORE(&d->flags,
			      (uint16_t)((avail_wrap ? F_AVAIL : F_USED) | VRING_DESC_F_WRITE));
			if (++avail == r->num) {
				avail = 0;
				avail_wrap ^= 1;
			}
			started++;
			progress = true;
		}
		{
			const struct vring_packed_desc *d = &desc[used];
			uint16_t f = LOAD(&d->flags);

			if (!!(f & F_AVAIL) == used_wrap && !!(f & F_USED) == used_wrap) {
				if (d->id != used || d->len > BUF_SIZE) {
					fprintf(stderr, "ringbench: minimal driver: bad used "
							"descriptor\n");
					exit(1);
				}
				if (++used == r->num) {
					used = 0;
					used_wrap ^= 1;
				}
				completed++;
				progress = true;
			}
		}
		if (!progress)
			idle(r->idle_pauses);
	}
}

static double run_one(struct run *r, int drv_cpu)
{
	struct vq_config cfg = {
		.name = "bench",
		.num = r->num,
		.features = (r->layout == VQ_PACKED ? VIRTIO_BIT(VIRTIO_F_RING_PACKED) : 0) |
			    (r->notify ? VIRTIO_BIT(VIRTIO_F_EVENT_IDX) : 0) |
			    (r->in_order ? VIRTIO_BIT(VIRTIO_F_IN_ORDER) : 0) |
			    VIRTIO_BIT(VIRTIO_F_VERSION_1),
	};
	uint8_t *bufs = aligned_alloc(CACHE_LINE, (size_t)r->num * BUF_SIZE);
	pthread_t dev;
	uint64_t t0, t1;
	int rc;

	if (!bufs) {
		fprintf(stderr, "ringbench: out of memory\n");
		exit(1);
	}
	rc = virtqueue_create(&cfg, &r->vq);
	if (rc) {
		fprintf(stderr, "ringbench: virtqueue_create: %d\n", rc);
		exit(1);
	}
	virtqueue_ring_addrs(r->vq, &r->addrs);
	if (!r->notify)
		virtqueue_disable_cb(r->vq);
	if (drv_cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(drv_cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	if (r->solo) {
		t0 = now_ns();
		solo(r, bufs);
		t1 = now_ns();
		virtqueue_destroy(r->vq);
		free(bufs);
		return (double)(t1 - t0) / (double)r->n;
	}
	if (pthread_create(&dev, NULL, device_thread, r)) {
		fprintf(stderr, "ringbench: pthread_create failed\n");
		exit(1);
	}
	while (!LOAD(&r->ready))
		relax();
	t0 = now_ns();
	STORE(&r->go, 1);
	if (r->minimal)
		min_driver(r, bufs);
	else
		driver(r, bufs);
	t1 = now_ns();
	pthread_join(dev, NULL);
	virtqueue_destroy(r->vq);
	free(bufs);
	return (double)(t1 - t0) / (double)r->n;
}

/* The reference: one cache line bouncing between the two cores. */
struct pingpong {
	_Alignas(CACHE_LINE) uint64_t line;
	uint64_t iters;
	int cpu;
};

static void *pong_thread(void *arg)
{
	struct pingpong *pp = arg;

	if (pp->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(pp->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	for (uint64_t i = 0; i < pp->iters; i++) {
		while (LOAD(&pp->line) != 2 * i + 1)
			relax();
		STORE(&pp->line, 2 * i + 2);
	}
	return NULL;
}

static double pingpong(uint64_t iters, int cpu0, int cpu1)
{
	static struct pingpong pp;
	pthread_t t;
	uint64_t t0, t1;

	pp.line = 0;
	pp.iters = iters;
	pp.cpu = cpu1;
	if (cpu0 >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu0, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	pthread_create(&t, NULL, pong_thread, &pp);
	/* The first round trip waits for the other thread to start: not timed. */
	STORE(&pp.line, 1);
	while (LOAD(&pp.line) != 2)
		relax();
	t0 = now_ns();
	for (uint64_t i = 1; i < iters; i++) {
		STORE(&pp.line, 2 * i + 1);
		while (LOAD(&pp.line) != 2 * i + 2)
			relax();
	}
	t1 = now_ns();
	pthread_join(t, NULL);
	return (double)(t1 - t0) / (double)(iters - 1); /* one round trip: two transfers */
}

static void usage(void)
{
	fprintf(stderr, "usage: ringbench [-n buffers] [-s size[,size...]] [-b batch[,batch...]]\n"
			"                 [-l split|packed|both] [-m poll|notify|both]\n"
			"                 [-o any|in|both] [-r repetitions] [-p pingpongs] [-q F] "
			"[-w F] [-L N] [-B]\n"
			"                 [-c single|burst|both] [-U sweep|each] [-S] [-P]\n");
	exit(2);
}

/* A comma-separated list of positive numbers. Returns: how many, at most max. */
static unsigned parse_list(char *arg, unsigned *out, unsigned max)
{
	unsigned n = 0;

	for (char *tok = strtok(arg, ","); tok && n < max; tok = strtok(NULL, ","))
		out[n++] = (unsigned)strtoul(tok, NULL, 0);
	for (unsigned i = 0; i < n; i++)
		if (out[i] == 0)
			usage();
	return n;
}

/* Poll mode: the pauses of a wait of F times P (at least one). */
static unsigned idle_pauses(double f, double p)
{
	double n = f * p / pause_ns;

	return n < 1 ? 1 : (unsigned)n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_REPS  15
#define MAX_TRIES 200 /* -q: busy moments a row waits out before it takes what it gets */

/*
 * With quiet (-q F) > 0, wait (10 ms at a time, at most MAX_TRIES times)
 * for a moment where measure() (P, or the floor S) is within F times the
 * best seen in this run: the machine is shared, and a core taken away or
 * slowed in the middle of a run measures the host, not the ring. Returns
 * the last measurement; *best keeps the smallest.
 */
static double quiet_wait(double (*measure)(int cpu0, int cpu1, uint64_t pings), int cpu0, int cpu1,
			 uint64_t pings, double quiet, double *best)
{
	double m = 0;

	for (unsigned t = 0; t <= MAX_TRIES; t++) {
		m = measure(cpu0, cpu1, pings);
		if (m < *best || *best == 0)
			*best = m;
		if (quiet <= 0 || m <= quiet * *best)
			break;
		usleep(10000);
	}
	return m;
}

/* One-way P now (0 without two CPUs or pings to measure it with). */
static double oneway_now(int cpu0, int cpu1, uint64_t pings)
{
	return pings && !one_cpu ? pingpong(pings, cpu0, cpu1) / 2 : 0;
}

#define FLOOR_BUFS 20000 /* buffers of one floor measurement (about half a millisecond) */

/*
 * The cores' speed now (S): the one-core floor (-S, see solo()) of one
 * fixed case, packed, any order, single calls, ring 256, on the driver's
 * CPU (cpu0); the best of 3 short runs (an interrupt in one does not count).
 */
static double floor_now(int cpu0, int cpu1, uint64_t pings)
{
	static struct run r;
	double best = 0;

	(void)cpu1;
	(void)pings;
	for (int k = 0; k < 3; k++) {
		double ns;

		r = (struct run){.layout = VQ_PACKED,
				 .batch = 1,
				 .num = 256,
				 .n = FLOOR_BUFS,
				 .add_run = 1,
				 .solo = true,
				 .dev_cpu = -1};
		ns = run_one(&r, cpu0);
		if (best == 0 || ns < best)
			best = ns;
	}
	return best;
}

#define MIN_BUFS 50000 /* buffers of one column-M measurement (about a millisecond) */

/*
 * Column M now: min_driver() against the bench device on the two CPUs, ring
 * num, poll mode with the row's waiting policy; the best of 3 short runs.
 */
static double min_now(const int cpus[2], uint32_t num, unsigned pauses, unsigned line_wait)
{
	static struct run r;
	double best = 0;

	if (cpus[1] < 0)
		return 0;
	for (int k = 0; k < 3; k++) {
		double ns;

		r = (struct run){.layout = VQ_PACKED,
				 .batch = 1,
				 .num = num,
				 .n = MIN_BUFS,
				 .add_run = 1,
				 .minimal = true,
				 .line_wait = line_wait,
				 .idle_pauses = pauses,
				 .dev_cpu = cpus[1]};
		ns = run_one(&r, cpus[0]);
		if (best == 0 || ns < best)
			best = ns;
	}
	return best;
}

/* How every row is measured: the command line's settings. */
struct row_setup {
	unsigned reps;
	double quiet, wait;
	uint64_t row_pings;
	int cpus[2];
	double best_p;	   /* the quietest P seen so far */
	double best_floor; /* the fastest S seen so far */
};

/* One table row: rs->reps runs of proto (median), each with P measured right before it. */
static void row(const struct run *proto, struct row_setup *rs)
{
	static struct run r;
	double ns[MAX_REPS], oneway[MAX_REPS], ratio[MAX_REPS], floor[MAX_REPS];
	double mins[MAX_REPS], xmin[MAX_REPS];
	double kicks = 0, irqs = 0, sweep = 0;
	unsigned tries = 0;

	for (unsigned k = 0; k < rs->reps; k++) {
		/* The cores' speed and P at this moment, right before the run. */
		floor[k] = quiet_wait(floor_now, rs->cpus[0], rs->cpus[1], 0, rs->quiet,
				      &rs->best_floor);
		oneway[k] = quiet_wait(oneway_now, rs->cpus[0], rs->cpus[1], rs->row_pings,
				       rs->quiet, &rs->best_p);
		mins[k] = proto->solo ? 0
				      : min_now(rs->cpus, proto->num,
						idle_pauses(rs->wait, oneway[k]), proto->line_wait);
		r = *proto;
		r.idle_pauses = idle_pauses(rs->wait, oneway[k]);
		ns[k] = run_one(&r, rs->cpus[0]);
		/* A busy moment during the run: take it again. */
		if (rs->quiet && tries < MAX_TRIES &&
		    (oneway_now(rs->cpus[0], rs->cpus[1], rs->row_pings) > rs->quiet * rs->best_p ||
		     floor_now(rs->cpus[0], rs->cpus[1], 0) > rs->quiet * rs->best_floor)) {
			tries++;
			k--;
			continue;
		}
		ratio[k] = oneway[k] > 0 ? ns[k] / oneway[k] : 0;
		xmin[k] = mins[k] > 0 ? ns[k] / mins[k] : 0;
		kicks += (double)r.kicks / (double)r.n;
		irqs += (double)r.interrupts / (double)r.n;
		sweep += r.sweeps ? (double)r.n / (double)r.sweeps : 0;
	}
	printf("%-7s %-7s %5u %9.1f %10.4f %10.4f %5u %5s %6.1f %5.1f %6.2f %6s %10.2f %5.1f "
	       "%5.2f\n",
	       proto->layout == VQ_PACKED ? "packed" : "split",
	       proto->solo     ? "solo"
	       : proto->notify ? "notify"
			       : "poll",
	       proto->batch, median(ns, rs->reps), kicks / rs->reps, irqs / rs->reps, proto->num,
	       proto->in_order ? "in" : "any", median(oneway, rs->reps), median(floor, rs->reps),
	       median(ratio, rs->reps), proto->burst ? "burst" : "single", sweep / rs->reps,
	       median(mins, rs->reps), median(xmin, rs->reps));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	uint64_t n = 2000000, pings = 1000000, row_pings;
	double quiet = 0, best_p = 0, best_floor, wait = 4;
	unsigned sizes[8] = {64, 256, 1024}, nsizes = 3, reps = 1;
	unsigned batches[8] = {1, 32}, nbatches = 2;
	bool layouts[2] = {true, true}, modes[2] = {true, true}, orders[2] = {true, true};
	bool n_given = false, batch_adds = false, solo_mode = false, used_each = false;
	bool busy_poll = false;
	bool calls[2] = {true, true}, calls_given = false; /* [0] single, [1] burst */
	struct row_setup rs;
	unsigned line_wait = 4;
	int cpus[2] = {-1, -1}, ncpu = 0, opt;
	cpu_set_t set;

	while ((opt = getopt(argc, argv, "n:s:b:l:m:o:r:p:q:w:BL:Sc:U:Ph")) != -1) {
		switch (opt) {
		case 'n':
			n = strtoull(optarg, NULL, 0);
			n_given = true;
			break;
		case 's': nsizes = parse_list(optarg, sizes, 8); break;
		case 'p': pings = strtoull(optarg, NULL, 0); break;
		case 'r': reps = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'q': quiet = strtod(optarg, NULL); break;
		case 'w': wait = strtod(optarg, NULL); break;
		case 'B': batch_adds = true; break;
		case 'c':
			calls[0] = !strcmp(optarg, "single") || !strcmp(optarg, "both");
			calls[1] = !strcmp(optarg, "burst") || !strcmp(optarg, "both");
			calls_given = true;
			if (!calls[0] && !calls[1])
				usage();
			break;
		case 'S': solo_mode = true; break;
		case 'P': busy_poll = true; break;
		case 'U':
			if (strcmp(optarg, "each") && strcmp(optarg, "sweep"))
				usage();
			used_each = !strcmp(optarg, "each");
			break;
		case 'L': line_wait = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'b': nbatches = parse_list(optarg, batches, 8); break;
		case 'l':
			layouts[VQ_SPLIT] = !strcmp(optarg, "split") || !strcmp(optarg, "both");
			layouts[VQ_PACKED] = !strcmp(optarg, "packed") || !strcmp(optarg, "both");
			break;
		case 'm':
			modes[0] = !strcmp(optarg, "poll") || !strcmp(optarg, "both");
			modes[1] = !strcmp(optarg, "notify") || !strcmp(optarg, "both");
			break;
		case 'o':
			orders[0] = !strcmp(optarg, "any") || !strcmp(optarg, "both");
			orders[1] = !strcmp(optarg, "in") || !strcmp(optarg, "both");
			break;
		default: usage();
		}
	}
	if (n == 0 || pings == 1 || nsizes == 0 || nbatches == 0 || reps == 0 || reps > MAX_REPS)
		usage();
	for (unsigned i = 0; i < nbatches; i++)
		if (batches[i] == 0 || (calls[1] && batches[i] > MAX_BURST))
			usage();
	for (unsigned i = 0; i < nsizes; i++) /* a power of two: both layouts take it */
		if (sizes[i] > 32768 || (sizes[i] & (sizes[i] - 1)))
			usage();

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE && ncpu < 2; c++)
			if (CPU_ISSET(c, &set))
				cpus[ncpu++] = c;
	if (ncpu < 2) {
		one_cpu = true;
		cpus[0] = cpus[1] = -1;
		if (!n_given)
			n = 200000;
		pings /= 100;
	}
	row_pings = pings / 10 > 1 ? pings / 10 : 0;
	measure_pause();

	printf("ring benchmark: %llu buffers per run, ring sizes", (unsigned long long)n);
	for (unsigned i = 0; i < nsizes; i++)
		printf("%s%u", i ? "," : " ", sizes[i]);
	printf(", %u repetition(s) per row (median), ", reps);
	if (one_cpu)
		printf("one CPU: threads not pinned, spinning yields (figures are not "
		       "meaningful)\n");
	else
		printf("driver on CPU %d, device on CPU %d\n", cpus[0], cpus[1]);
	printf("poll mode: a side with nothing to do waits %.2f P before it looks again "
	       "(pause = %.1f ns), the device up to %u looks for a whole line%s\n",
	       wait, pause_ns, line_wait,
	       batch_adds ? ", single calls: driver adds a batch in a row" : "");
	if (pings) {
		double rt = pingpong(pings, cpus[0], cpus[1]);

		printf("cache line ping-pong (reference): %.1f ns round trip, %.1f ns one way\n",
		       rt, rt / 2);
		best_p = rt / 2;
	}
	best_floor = floor_now(cpus[0], cpus[1], 0);
	printf("one-core floor (reference, column S): %.1f ns per buffer (packed, any order, "
	       "single calls, ring 256, driver and device on CPU %d)\n",
	       best_floor, cpus[0]);
	rs = (struct row_setup){.reps = reps,
				.quiet = quiet,
				.wait = wait,
				.row_pings = row_pings,
				.cpus = {cpus[0], cpus[1]},
				.best_p = best_p,
				.best_floor = best_floor};
	printf("\n%-7s %-7s %5s %9s %10s %10s %5s %5s %6s %5s %6s %6s %10s %5s %5s\n", "layout",
	       "mode", "batch", "ns/buf", "kicks/buf", "irqs/buf", "size", "order", "P", "S", "xP",
	       "calls", "bufs/sweep", "M", "xM");
	for (unsigned si = 0; si < nsizes; si++)
		for (int l = VQ_SPLIT; l <= VQ_PACKED; l++)
			for (int mode = 0; mode < 2; mode++)
				for (int order = 0; order < 2; order++)
					for (unsigned b = 0; b < nbatches; b++)
						for (int burst = 0; burst < 2; burst++) {
							struct run proto = {
								.layout = (enum vq_layout)l,
								.notify = mode == 1,
								.in_order = order == 1,
								.burst = burst,
								.batch = batches[b],
								.num = sizes[si],
								.n = n,
								.add_run = burst || batch_adds
										   ? batches[b]
										   : 1,
								.line_wait = line_wait,
								.used_each = used_each,
								.busy_poll = busy_poll,
								.solo = solo_mode,
								.dev_cpu = cpus[1],
							};

							/* by default, bursts only where there is a batch */
							if (layouts[l] && modes[mode] &&
							    orders[order] && calls[burst] &&
							    (calls_given || !burst ||
							     batches[b] > 1))
								row(&proto, &rs);
						}
	return 0;
}
