/*
 * libFuzzer target for the virtqueue core, against a device the input drives.
 * Built twice: -DFUZZ_LAYOUT=VQ_SPLIT (fuzz_split) and -DFUZZ_LAYOUT=VQ_PACKED
 * (fuzz_packed).
 *
 * Input: a header (queue size, features, indirect pool, queue index), then a
 * script of operations, one selector byte each plus their arguments. The
 * driver side is the public API only (include/virtio/virtqueue.h): buffers of
 * random shapes, piecewise builds with deliberate mistakes, completions,
 * callbacks, kicks, detach, reset, resize. The device side works directly on
 * the ring memory: an honest device (consumes what the driver made
 * available, checks it against what was posted, completes in any order or
 * in in-order batches, signals per the driver's event suppression), and a
 * hostile one (arbitrary used entries, indices, wrap bits, descriptor bytes).
 *
 * Always checked (abort, so libFuzzer reports a crash):
 *  - every token get_buf/detach/recycle returns is outstanding, and comes
 *    back once; its length is within the writable bytes posted for it;
 *  - the driver writes nothing outside the ring memory it owns (guard bytes
 *    around every DMA block and around every entry of every buffer);
 *  - once broken, the queue stays broken until reset: get_buf NULL,
 *    more_used false, adds -EIO, kick_prepare false;
 *  - num_free <= num, and num_free == num when nothing is outstanding;
 *  - reset/resize/detach hand every outstanding token back exactly once;
 *  - a rejected buffer leaves no trace (free count, ring, statistics);
 *  - no lost notification (the device asked for one) in either direction.
 * While the device has been honest since the last reset, also: the queue
 * does not break, get_buf returns exactly the device's completions in order
 * with their lengths, the chains the device reads are the ones posted, and
 * descriptors/ids are never shared by two buffers in flight; and no
 * interrupt is lost after enable_cb/enable_cb_prepare/enable_cb_delayed.
 *
 * That includes an enable_cb_delayed followed by get_buf calls before the
 * event point: the ring keeps the event ahead. FUZZ_TRACE=1 in the
 * environment prints each operation. tests/fuzz/make_corpus.py writes the
 * seeds and documents the input format by example.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lib/sg_ring.h>
#include <virtio/virtio_config.h>
#include <virtio/virtio_ring.h>
#include <virtio/virtqueue.h>

#include "fuzz_host.h"

#ifndef FUZZ_LAYOUT
#error "build with -DFUZZ_LAYOUT=VQ_SPLIT or -DFUZZ_LAYOUT=VQ_PACKED"
#endif
#define PACKED (FUZZ_LAYOUT == VQ_PACKED)

#define MAX_ENTS   40 /* entries per buffer */
#define GUARD	   16 /* guard bytes around every entry */
#define FILL	   0xa5
#define DECOY_SIZE 32 /* entries offered beyond nents, which must not be posted */

#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED	(1u << VRING_PACKED_DESC_F_USED)

/* Invariant violations. */

static void fail(int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void fail(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_vq.c:%d: invariant violated: ", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
#define CHECK(cond, ...)                             \
	do {                                         \
		if (!(cond))                         \
			fail(__LINE__, __VA_ARGS__); \
	} while (0)

/* The input. */

static const uint8_t *in_p;
static size_t in_n, in_i;

static uint8_t u8(void)
{
	return in_i < in_n ? in_p[in_i++] : 0;
}
static uint16_t u16(void)
{
	uint16_t v = u8();

	return (uint16_t)(v | (uint16_t)u8() << 8);
}
static uint32_t u32(void)
{
	uint32_t v = u16();

	return v | (uint32_t)u16() << 16;
}

/* Buffers (tokens). Never freed before the end of a run, so addresses stay unique. */

enum tstate {
	T_POSTED,   /* made available, the device has not read it */
	T_CONSUMED, /* the device read it */
	T_WRITTEN,  /* split: its used entry is written, the used index not yet moved */
	T_PUBLISHED,
	T_GONE, /* handed back to the driver's caller */
};

struct tok {
	uint32_t serial;
	enum tstate st;
	bool out; /* added and not yet handed back */
	uint8_t *region;
	size_t rlen;
	unsigned nent;
	struct sg_entry ent[MAX_ENTS];
	bool in[MAX_ENTS];
	uint8_t *decoy; /* DECOY_SIZE bytes inside region */
	uint64_t wlen;	/* writable bytes posted */
	uint16_t id;	/* split: head descriptor; packed: buffer id */
	uint16_t ndesc; /* ring descriptors (packed: slots) */
	uint16_t descs[MAX_ENTS];
	unsigned nowned; /* split: the ring descriptors it holds, as the device saw */
	const void *table;
	uint32_t used_len;
	bool batch_skip; /* an earlier buffer of an in-order batch: length not told */
	uint32_t arm_epoch;
};

static struct tok **toks;
static size_t ntoks, captoks;

/* Lists of tokens in order (device side). */
struct list {
	struct tok **v;
	size_t n, cap;
};

static void list_push(struct list *l, struct tok *t)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		CHECK(l->v, "out of memory");
	}
	l->v[l->n++] = t;
}

static struct tok *list_take(struct list *l, size_t i)
{
	struct tok *t = l->v[i];

	memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
	l->n--;
	return t;
}

static void list_remove(struct list *l, const struct tok *t)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == t) {
			list_take(l, i);
			return;
		}
}

/* The device. */

struct dev {
	uint32_t num;
	/* split */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;
	uint16_t used_pub;  /* used->idx as published */
	uint16_t used_wr;   /* used entries written */
	struct tok **owner; /* by descriptor, buffers in flight */
	uint32_t next_head; /* IN_ORDER: where the next chain must start */
	/* packed */
	struct vring_packed_desc *pd;
	struct vring_packed_desc_event *drv_evt, *dev_evt;
	uint64_t avail_lin, used_lin; /* positions counted from the reset, laps included */
	/* both */
	struct list cons; /* read, not completed */
	struct list wr;	  /* split: written, not published */
	struct list fifo; /* published, not yet returned by get_buf: the expected order */
	bool stuck;	  /* (hostile) the ring makes no sense any more */
};

static struct dev dev;

/* The model of the driver and of what the run has seen. */

struct model {
	struct virtqueue *vq;
	struct vq_config cfg;
	uint32_t num;
	bool indirect, event_idx, in_order, notif_data, scribble;
	bool honest;  /* the device followed the spec since the last reset */
	bool broken;  /* the queue reported broken */
	bool batched; /* an in-order batch was used since the last reset */
	int armed;    /* 1: enable_cb said nothing pending; 2: enable_cb_delayed */
	uint32_t arm_epoch, armed_left;
	bool poll_valid;
	unsigned poll_last;
	uint16_t kick_old;		/* split: avail idx at the last kick_prepare */
	uint64_t drv_lin, kick_old_lin; /* packed: driver position, laps included */
	uint64_t notifies, callbacks;
	uint64_t added, used, interrupts; /* expected statistics */
	uint32_t serial;
	struct vq_ring_addrs addrs;
};

static struct model m;
static bool trace; /* FUZZ_TRACE=1 in the environment prints the operations */

static bool packed_wrap(uint64_t lin, uint32_t num)
{
	return !((lin / num) & 1); /* 2.8.1: the wrap counters start at 1 */
}

static size_t n_out(void)
{
	size_t n = 0;

	for (size_t i = 0; i < ntoks; i++)
		n += toks[i]->out;
	return n;
}

static struct tok *find_tok(const void *p)
{
	for (size_t i = 0; i < ntoks; i++)
		if ((const void *)toks[i] == p)
			return toks[i];
	return NULL;
}

/* Not instrumented for coverage: it only compares, and runs often. */
__attribute__((no_sanitize("coverage"))) static size_t first_not_fill(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != FILL)
			return i;
	return n;
}

static void check_tok_guards(const struct tok *t)
{
	/* Nobody writes data here (the device model does not): every byte is FILL. */
	size_t i = first_not_fill(t->region, t->rlen);

	CHECK(i == t->rlen, "buffer %u: byte %zu of its memory was written", t->serial, i);
}

/* The token left the driver: forget it on the device side too. */
static void retire(struct tok *t)
{
	check_tok_guards(t);
	t->out = false;
	t->st = T_GONE;
	list_remove(&dev.cons, t);
	list_remove(&dev.wr, t);
	list_remove(&dev.fifo, t);
	if (!PACKED)
		for (unsigned i = 0; i < t->nowned; i++)
			if (dev.owner[t->descs[i]] == t)
				dev.owner[t->descs[i]] = NULL;
}

static void sync_broken(void)
{
	bool b = virtqueue_is_broken(m.vq);

	if (m.broken)
		CHECK(b, "the queue stopped being broken without a reset");
	if (b) {
		const char *why = virtqueue_broken_reason(m.vq);

		CHECK(why != NULL, "broken queue without a reason");
		CHECK(m.broken || !m.honest, "broken by an honest device: %s", why);
		m.broken = true;
	} else {
		CHECK(virtqueue_broken_reason(m.vq) == NULL, "reason given for a working queue");
	}
}

static const struct vq_stats *stats(void)
{
	return virtqueue_stats(m.vq);
}

/* Ring memory as the transport would program it. */
static void fetch_ring(void)
{
	struct vq_ring_addrs *a = &m.addrs;
	uint32_t num = virtqueue_num(m.vq);

	m.num = dev.num = num;
	virtqueue_ring_addrs(m.vq, a);
	if (PACKED) {
		CHECK(a->desc % VRING_PACKED_DESC_ALIGN == 0 && a->driver % 4 == 0 &&
			      a->device % 4 == 0,
		      "packed ring parts misaligned");
		CHECK(fuzz_dma_contains((void *)(uintptr_t)a->desc, (size_t)num * 16) &&
			      fuzz_dma_contains((void *)(uintptr_t)a->driver, 4) &&
			      fuzz_dma_contains((void *)(uintptr_t)a->device, 4),
		      "packed ring parts outside DMA memory");
		dev.pd = (void *)(uintptr_t)a->desc;
		dev.drv_evt = (void *)(uintptr_t)a->driver;
		dev.dev_evt = (void *)(uintptr_t)a->device;
	} else {
		/* 2.7: the used ring is 4-byte aligned whatever ring_align says. */
		uint32_t align =
			m.cfg.ring_align > VRING_USED_ALIGN ? m.cfg.ring_align : VRING_USED_ALIGN;

		CHECK(a->desc % VRING_DESC_ALIGN == 0 && a->driver % VRING_AVAIL_ALIGN == 0 &&
			      a->device % align == 0,
		      "split ring parts misaligned (ring_align %u): desc %#llx avail %#llx used "
		      "%#llx",
		      m.cfg.ring_align, (unsigned long long)a->desc, (unsigned long long)a->driver,
		      (unsigned long long)a->device);
		CHECK(fuzz_dma_contains((void *)(uintptr_t)a->desc, vring_desc_size(num)) &&
			      fuzz_dma_contains((void *)(uintptr_t)a->driver,
						vring_avail_size(num)) &&
			      fuzz_dma_contains((void *)(uintptr_t)a->device, vring_used_size(num)),
		      "split ring parts outside DMA memory");
		if (m.cfg.ring_align == VRING_LEGACY_ALIGN) {
			/* 2.7.2 legacy layout: contiguous, used ring on the next page. */
			uint64_t used = (a->driver + vring_avail_size(num) + 4095) & ~4095ull;

			CHECK(a->driver == a->desc + vring_desc_size(num) && a->device == used,
			      "legacy split layout not contiguous");
		}
		dev.desc = (void *)(uintptr_t)a->desc;
		dev.avail = (void *)(uintptr_t)a->driver;
		dev.used = (void *)(uintptr_t)a->device;
		free(dev.owner);
		dev.owner = calloc(num, sizeof(*dev.owner));
		CHECK(dev.owner, "out of memory");
	}
}

/* After create, reset or resize: nothing outstanding, both sides at the start. */
static void model_reset(void)
{
	dev.cons.n = dev.wr.n = dev.fifo.n = 0;
	dev.last_avail = dev.used_pub = dev.used_wr = 0;
	dev.next_head = 0;
	dev.avail_lin = dev.used_lin = 0;
	dev.stuck = false;
	if (dev.owner)
		memset(dev.owner, 0, dev.num * sizeof(*dev.owner));
	m.honest = true;
	m.batched = false;
	m.armed = 0;
	m.poll_valid = false;
	m.kick_old = 0;
	m.drv_lin = m.kick_old_lin = 0;
	m.broken = virtqueue_is_broken(m.vq);
}

/* The device (honest side). */

struct walked {
	unsigned n;
	struct sg_entry ent[MAX_ENTS];
	bool in[MAX_ENTS];
	uint16_t id, ndesc;
	uint16_t descs[MAX_ENTS];
	unsigned nowned;
	const void *table;
	const char *err;
};

static bool walk_add(struct walked *w, uint64_t addr, uint32_t len, bool in)
{
	if (w->n == MAX_ENTS) {
		w->err = "chain longer than any buffer posted";
		return false;
	}
	if (w->n && w->in[w->n - 1] && !in) {
		w->err = "device-readable descriptor after a device-writable one";
		return false;
	}
	w->ent[w->n] = (struct sg_entry){(void *)(uintptr_t)addr, len};
	w->in[w->n++] = in;
	return true;
}

/* The posted buffer the device just found, checked entry by entry. */
static struct tok *match(const struct walked *w, const char **err)
{
	struct tok *first = NULL;

	for (size_t i = 0; i < ntoks; i++)
		if (toks[i]->out && toks[i]->st == T_POSTED &&
		    (!first || toks[i]->serial < first->serial))
			first = toks[i];
	if (!first) {
		*err = "a buffer is available that nobody posted (or that was read already)";
		return NULL;
	}
	/* Both layouts make buffers available in the order they were added. */
	if (w->n != first->nent) {
		*err = "the next available buffer has a different number of entries";
		return NULL;
	}
	for (unsigned i = 0; i < w->n; i++)
		if (w->ent[i].addr != first->ent[i].addr || w->ent[i].len != first->ent[i].len ||
		    w->in[i] != first->in[i]) {
			*err = "the next available buffer differs from the one posted";
			return NULL;
		}
	return first;
}

static bool in_flight(const struct tok *t)
{
	return t->out && (t->st == T_CONSUMED || t->st == T_WRITTEN || t->st == T_PUBLISHED);
}

static bool split_walk(uint16_t head, struct walked *w)
{
	uint32_t num = dev.num;
	struct vring_desc d;

	if (head >= num) {
		w->err = "available ring names a descriptor beyond the table";
		return false;
	}
	d = dev.desc[head];
	w->descs[w->nowned++] = head;
	if (d.flags & VRING_DESC_F_INDIRECT) {
		const struct vring_desc *t = (const void *)(uintptr_t)d.addr;
		unsigned n = d.len / 16, i = 0;

		if (!m.indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 || d.len % 16 ||
		    n > num) {
			w->err = "bad indirect descriptor";
			return false;
		}
		if (d.addr % 16 || !fuzz_dma_contains(t, d.len)) {
			w->err = "indirect table misaligned or outside DMA memory";
			return false;
		}
		w->table = t;
		w->ndesc = 1;
		for (unsigned k = 0;; k++) {
			if (k >= n || i >= n || (t[i].flags & VRING_DESC_F_INDIRECT)) {
				w->err = "bad indirect table chain";
				return false;
			}
			if (!walk_add(w, t[i].addr, t[i].len, t[i].flags & VRING_DESC_F_WRITE))
				return false;
			if (!(t[i].flags & VRING_DESC_F_NEXT))
				break;
			i = t[i].next;
		}
		return true;
	}
	for (uint16_t i = head, k = 0;; k++) {
		d = dev.desc[i];
		if (k >= num || (d.flags & VRING_DESC_F_INDIRECT)) {
			w->err = "bad direct chain";
			return false;
		}
		if (k > 0) {
			if (w->nowned == MAX_ENTS) {
				w->err = "chain longer than any buffer posted";
				return false;
			}
			w->descs[w->nowned++] = i;
		}
		if (!walk_add(w, d.addr, d.len, d.flags & VRING_DESC_F_WRITE))
			return false;
		w->ndesc++;
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		if (d.next >= num) {
			w->err = "chain links beyond the table";
			return false;
		}
		i = d.next;
	}
	return true;
}

static bool packed_walk(struct walked *w)
{
	uint32_t num = dev.num, slot = (uint32_t)(dev.avail_lin % num);
	struct vring_packed_desc d = dev.pd[slot];

	if (d.flags & VRING_DESC_F_INDIRECT) {
		const struct vring_packed_desc *t = (const void *)(uintptr_t)d.addr;
		unsigned n = d.len / 16;

		if (!m.indirect || (d.flags & VRING_DESC_F_NEXT) || d.len == 0 || d.len % 16 ||
		    n > num) {
			w->err = "bad indirect descriptor";
			return false;
		}
		if (d.addr % 16 || !fuzz_dma_contains(t, d.len)) {
			w->err = "indirect table misaligned or outside DMA memory";
			return false;
		}
		w->table = t;
		w->id = d.id;
		w->ndesc = 1;
		for (unsigned i = 0; i < n; i++) {
			if (t[i].flags & VRING_DESC_F_INDIRECT) {
				w->err = "indirect descriptor inside an indirect table";
				return false;
			}
			if (!walk_add(w, t[i].addr, t[i].len, t[i].flags & VRING_DESC_F_WRITE))
				return false;
		}
		return true;
	}
	for (uint32_t k = 0;; k++) {
		if (k >= num) {
			w->err = "chain longer than the ring";
			return false;
		}
		d = dev.pd[(slot + k) % num];
		if (d.flags & VRING_DESC_F_INDIRECT) {
			w->err = "indirect descriptor inside a chain";
			return false;
		}
		if (!walk_add(w, d.addr, d.len, d.flags & VRING_DESC_F_WRITE))
			return false;
		w->ndesc++;
		if (!(d.flags & VRING_DESC_F_NEXT)) {
			w->id = d.id; /* 2.8.6: the buffer id is in the last descriptor */
			return true;
		}
	}
}

/* The device reads the next available buffer. Returns false when there is none. */
static bool dev_consume_one(void)
{
	struct walked w = {0};
	struct tok *t;
	const char *err = NULL;

	if (dev.stuck)
		return false;
	if (PACKED) {
		uint16_t f = dev.pd[dev.avail_lin % dev.num].flags;
		bool wrap = packed_wrap(dev.avail_lin, dev.num);

		if (!!(f & F_AVAIL) != wrap || !!(f & F_USED) == wrap)
			return false;
		if (packed_walk(&w))
			t = match(&w, &err);
		else
			t = NULL, err = w.err;
	} else {
		uint16_t aidx = dev.avail->idx, head;

		if (aidx == dev.last_avail)
			return false;
		if ((uint16_t)(aidx - dev.last_avail) > dev.num) {
			err = "available index moved by more than the ring size";
			t = NULL;
		} else {
			head = dev.avail->ring[dev.last_avail % dev.num];
			w.id = head;
			if (split_walk(head, &w))
				t = match(&w, &err);
			else
				t = NULL, err = w.err;
			if (t && m.in_order && m.honest && head != dev.next_head)
				t = NULL, err = "IN_ORDER: descriptors not used in ring order";
		}
	}
	if (t) {
		/* Nothing may be shared with a buffer still in flight. */
		for (unsigned i = 0; i < w.nowned && !err; i++)
			if (dev.owner[w.descs[i]])
				err = "descriptor reused while its buffer is in flight";
		for (size_t i = 0; i < ntoks && !err; i++) {
			const struct tok *o = toks[i];

			if (!in_flight(o))
				continue;
			if (w.table && o->table == w.table)
				err = "indirect table reused while its buffer is in flight";
			if (PACKED && o->id == w.id)
				err = "buffer id reused while its buffer is in flight";
		}
		if (err)
			t = NULL;
	}
	if (!t) {
		CHECK(!m.honest, "device: %s", err);
		dev.stuck = true; /* a hostile device scribbled over the ring: stop reading */
		return false;
	}
	t->st = T_CONSUMED;
	t->id = w.id;
	t->ndesc = w.ndesc;
	t->table = w.table;
	t->nowned = w.nowned;
	memcpy(t->descs, w.descs, sizeof(w.descs));
	if (!PACKED) {
		for (unsigned i = 0; i < w.nowned; i++)
			dev.owner[w.descs[i]] = t;
		dev.last_avail++;
		dev.next_head = (w.id + w.ndesc) % dev.num;
	} else {
		dev.avail_lin += w.ndesc;
	}
	list_push(&dev.cons, t);
	return true;
}

static uint32_t pick_len(const struct tok *t, uint8_t sel)
{
	uint64_t w = t->wlen > UINT32_MAX ? UINT32_MAX : t->wlen;

	switch (sel & 3) {
	case 0: return 0;
	case 1: return (uint32_t)w;
	default: return (uint32_t)(u32() % (w + 1));
	}
}

static void intr(void)
{
	virtqueue_interrupt(m.vq);
	m.interrupts++;
	CHECK(stats()->interrupts == m.interrupts, "interrupt not counted");
}

/* Does an event position fall in the slots [old, new) (packed, laps included)? */
static bool packed_event_in(uint16_t off_wrap, uint64_t old, uint64_t new)
{
	uint32_t off = off_wrap & 0x7fff;
	bool w = off_wrap >> 15;

	if (off >= dev.num)
		return false;
	for (uint64_t l = old; l < new; l++)
		if (l % dev.num == off && packed_wrap(l, dev.num) == w)
			return true;
	return false;
}

/*
 * The device made nbufs more buffers used (index old -> new): interrupt if the
 * driver asked for it, and check that no interrupt the driver waits for is lost.
 */
static void dev_signal(uint64_t old, uint64_t new, struct tok *const *bufs, size_t nbufs)
{
	bool need;

	if (PACKED) {
		uint16_t flags = dev.drv_evt->flags, off_wrap = dev.drv_evt->off_wrap;

		CHECK(flags <= VRING_PACKED_EVENT_FLAG_DESC, "driver event flags %u reserved",
		      flags);
		CHECK(flags != VRING_PACKED_EVENT_FLAG_DESC || m.event_idx,
		      "driver event flags DESC without EVENT_IDX");
		need = flags == VRING_PACKED_EVENT_FLAG_ENABLE ||
		       (flags == VRING_PACKED_EVENT_FLAG_DESC &&
			packed_event_in(off_wrap, old, new));
	} else if (m.event_idx) {
		need = vring_need_event(*vring_used_event(dev.avail, dev.num), (uint16_t) new,
					(uint16_t)old);
	} else {
		need = !(dev.avail->flags & VRING_AVAIL_F_NO_INTERRUPT);
	}
	if (trace)
		fprintf(stderr, "  device used %zu: %llu -> %llu, signal %d, armed %d left %u\n",
			nbufs, (unsigned long long)old, (unsigned long long)new, need, m.armed,
			m.armed_left);
	if (m.honest && !m.broken && m.armed) {
		if (m.armed == 1)
			CHECK(need, "lost interrupt: enable_cb said nothing was pending, "
				    "then the device used a buffer and was told not to signal");
		for (size_t i = 0; i < nbufs && m.armed == 2; i++)
			if (bufs[i]->arm_epoch == m.arm_epoch)
				m.armed_left--;
		if (m.armed == 2 && !need)
			CHECK(m.armed_left > 0, "lost interrupt: enable_cb_delayed returned true, "
						"every buffer outstanding then is used, no signal");
		if (need)
			m.armed = 0;
	}
	if (need)
		intr();
}

/* Complete one buffer the device read (in-order: the oldest). */
static void dev_complete(void)
{
	uint8_t sel = u8(), lsel = u8();
	struct tok *t;
	uint32_t len;

	if (dev.cons.n == 0)
		return;
	t = list_take(&dev.cons, m.in_order ? 0 : sel % dev.cons.n);
	len = pick_len(t, lsel);
	t->used_len = len;
	t->batch_skip = false;
	if (PACKED) {
		struct vring_packed_desc *d = &dev.pd[dev.used_lin % dev.num];
		uint64_t old = dev.used_lin;
		bool wrap = packed_wrap(dev.used_lin, dev.num);

		d->id = t->id;
		d->len = len;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		d->flags =
			(uint16_t)((wrap ? F_AVAIL | F_USED : 0) | (len ? VRING_DESC_F_WRITE : 0));
		dev.used_lin += t->ndesc;
		t->st = T_PUBLISHED;
		list_push(&dev.fifo, t);
		dev_signal(old, dev.used_lin, &t, 1);
	} else {
		struct vring_used_elem *e = &dev.used->ring[dev.used_wr % dev.num];

		e->id = t->id;
		e->len = len;
		dev.used_wr++;
		t->st = T_WRITTEN;
		list_push(&dev.wr, t);
	}
}

/* IN_ORDER: one used entry for the oldest k buffers, naming the last (2.7.9 / 2.8.9). */
static void dev_complete_batch(void)
{
	unsigned k = 2 + u8() % 6;
	uint8_t lsel = u8();
	struct tok *last;
	uint64_t skip = 0;

	if (!m.in_order || dev.cons.n < 2)
		return;
	if (k > dev.cons.n)
		k = (unsigned)dev.cons.n;
	last = dev.cons.v[k - 1];
	for (unsigned i = 0; i < k; i++) {
		struct tok *t = dev.cons.v[i];

		t->batch_skip = i + 1 < k;
		skip += t->ndesc;
	}
	last->used_len = pick_len(last, lsel);
	m.batched = true;
	if (PACKED) {
		struct vring_packed_desc *d = &dev.pd[dev.used_lin % dev.num];
		uint64_t old = dev.used_lin;
		bool wrap = packed_wrap(dev.used_lin, dev.num);

		d->id = last->id;
		d->len = last->used_len;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		/* 2.8.4: the length counts only with WRITE set. */
		d->flags = (uint16_t)((wrap ? F_AVAIL | F_USED : 0) |
				      (last->used_len ? VRING_DESC_F_WRITE : 0));
		dev.used_lin += skip;
		for (unsigned i = 0; i < k; i++) {
			struct tok *t = list_take(&dev.cons, 0);

			t->st = T_PUBLISHED;
			list_push(&dev.fifo, t);
		}
		dev_signal(old, dev.used_lin, &dev.fifo.v[dev.fifo.n - k], k);
	} else {
		struct vring_used_elem *e = &dev.used->ring[dev.used_wr % dev.num];

		/* One entry at the batch's first slot; the index moves by the batch size. */
		e->id = last->id;
		e->len = last->used_len;
		dev.used_wr = (uint16_t)(dev.used_wr + k);
		for (unsigned i = 0; i < k; i++) {
			struct tok *t = list_take(&dev.cons, 0);

			t->st = T_WRITTEN;
			list_push(&dev.wr, t);
		}
	}
}

/* Split: move used->idx over the entries written. */
static void dev_publish(void)
{
	uint16_t old = dev.used_pub;
	size_t n = dev.wr.n, first = dev.fifo.n;

	if (PACKED || dev.used_wr == dev.used_pub)
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	dev.used->idx = dev.used_wr;
	dev.used_pub = dev.used_wr;
	while (dev.wr.n) {
		struct tok *t = list_take(&dev.wr, 0);

		t->st = T_PUBLISHED;
		list_push(&dev.fifo, t);
	}
	dev_signal(old, dev.used_pub, n ? &dev.fifo.v[first] : NULL, n);
}

/* The device (hostile side). */

static uint16_t some_id(void)
{
	uint8_t s = u8();

	if (s & 1) {
		for (size_t i = 0; i < ntoks; i++)
			if (toks[(i + s) % ntoks]->out)
				return toks[(i + s) % ntoks]->id;
	}
	return (s & 2) ? u16() : (uint16_t)(u8() % (dev.num + 2));
}

static void hostile_used_entry(void)
{
	uint8_t s = u8();

	m.honest = false;
	if (PACKED) {
		uint32_t slot = (uint32_t)((s & 1 ? dev.used_lin + u8() : u16()) % dev.num);
		struct vring_packed_desc *d = &dev.pd[slot];
		bool wrap = (s & 2) ? packed_wrap(dev.used_lin, dev.num) : (s & 4);

		d->id = some_id();
		d->len = (s & 8) ? u32() : u8();
		if (s & 16)
			d->addr = ((uint64_t)u32() << 32) | u32();
		d->flags =
			(s & 32) ? u16() : (uint16_t)((wrap ? F_AVAIL | F_USED : 0) | (u8() & 7));
	} else {
		struct vring_used_elem *e =
			&dev.used->ring[(s & 1 ? dev.used_wr + u8() : u16()) % dev.num];

		e->id = (s & 2) ? u32() : some_id();
		e->len = (s & 4) ? u32() : u8();
		if (s & 8) {
			dev.used_wr++;
			dev.used->idx = dev.used_wr;
		}
	}
}

static void hostile_index(void)
{
	uint8_t s = u8();

	m.honest = false;
	if (PACKED) {
		/* Flip the wrap bits of some descriptor near the driver's used position. */
		struct vring_packed_desc *d = &dev.pd[(dev.used_lin + u8()) % dev.num];

		d->flags ^= (uint16_t)((s & 1 ? F_AVAIL : 0) | (s & 2 ? F_USED : 0) |
				       (s & 4 ? VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT : 0));
	} else {
		dev.used->idx = (s & 1) ? u16() : (uint16_t)(dev.used_pub + (int8_t)u8());
		if (s & 2)
			dev.used_wr = dev.used->idx;
	}
}

/* Split: the device writes the driver's descriptor table (only with header bit 6). */
static void hostile_scribble(void)
{
	uint8_t s = u8();
	uint8_t *p;
	size_t size;

	if (!m.scribble)
		return;
	m.honest = false;
	if (PACKED) {
		p = (uint8_t *)dev.pd;
		size = (size_t)dev.num * 16;
	} else {
		p = (uint8_t *)dev.desc;
		size = vring_desc_size(dev.num);
	}
	for (unsigned i = 0; i < 1u + (s & 7); i++)
		p[u16() % size] = u8();
}

/* The device's event fields (legitimate at any value). */
static void dev_events(void)
{
	uint8_t s = u8();

	if (PACKED) {
		uint64_t lin = dev.avail_lin + (s & 2 ? (int8_t)u8() : 0);
		uint16_t flags = (s >> 2) & 3;

		if (flags == 3 && !(s & 0x10))
			flags = VRING_PACKED_EVENT_FLAG_DESC;
		if (s & 1)
			dev.dev_evt->off_wrap = u16();
		else
			dev.dev_evt->off_wrap =
				(uint16_t)((lin % dev.num) |
					   (packed_wrap(lin, dev.num) ? 0x8000 : 0));
		dev.dev_evt->flags = flags;
	} else {
		uint16_t *avail_event = vring_avail_event(dev.used, dev.num);

		*avail_event = (s & 1) ? u16() : (uint16_t)(dev.last_avail + (int8_t)u8());
		if (s & 2)
			dev.used->flags = (s & 4) ? u16() : VRING_USED_F_NO_NOTIFY;
		else
			dev.used->flags = 0;
	}
}

/* The driver side: buffers. */

static uint32_t gen_len(bool *fake, bool zero_ok)
{
	uint8_t b = u8();

	*fake = false;
	if (b == 0 && zero_ok)
		return 0;
	if (b >= 0xf8) {
		*fake = true; /* the length is a lie: the device never touches data */
		return (b & 3) == 3 ? UINT32_MAX : 0x40000000u * (1u + (b & 3)) - ((b & 4) ? 1 : 0);
	}
	return 1 + b % 48;
}

/* A new token with nout device-readable then nin device-writable entries. */
static struct tok *new_tok(unsigned nout, unsigned nin, bool zero_ok)
{
	struct tok *t = calloc(1, sizeof(*t));
	size_t off = GUARD, real[MAX_ENTS];
	bool fake;

	CHECK(t, "out of memory");
	t->serial = ++m.serial;
	t->nent = nout + nin;
	for (unsigned i = 0; i < t->nent; i++) {
		t->ent[i].len = gen_len(&fake, zero_ok);
		t->in[i] = i >= nout;
		real[i] = fake ? 8 : (t->ent[i].len ? t->ent[i].len : 1);
		off += real[i] + GUARD;
		if (t->in[i])
			t->wlen += t->ent[i].len;
	}
	t->rlen = off + DECOY_SIZE + GUARD;
	t->region = malloc(t->rlen);
	CHECK(t->region, "out of memory");
	memset(t->region, FILL, t->rlen);
	off = GUARD;
	for (unsigned i = 0; i < t->nent; i++) {
		t->ent[i].addr = t->region + off;
		off += real[i] + GUARD;
	}
	t->decoy = t->region + off;
	if (ntoks == captoks) {
		captoks = captoks ? 2 * captoks : 64;
		toks = realloc(toks, captoks * sizeof(*toks));
		CHECK(toks, "out of memory");
	}
	toks[ntoks++] = t;
	return t;
}

/* sg_ring chains over a token's entries: scratch space for one add. */
struct scratch {
	struct sg_ring rings[80];
	struct sg_entry ents[8 * MAX_ENTS];
	unsigned nr, ne;
};

static struct sg_ring *ring_of(struct scratch *s, const struct sg_entry *e, unsigned n,
			       unsigned spare)
{
	struct sg_ring *r;

	CHECK(s->nr < 80 && s->ne + n + spare <= 8 * MAX_ENTS, "scratch too small");
	r = &s->rings[s->nr++];
	sg_init(r, &s->ents[s->ne], n + spare);
	s->ne += n + spare;
	for (unsigned i = 0; i < n; i++)
		CHECK(sg_add(r, e[i].addr, e[i].len) == 0, "sg_add");
	return r;
}

/*
 * A chain holding e[0..n) in 1-3 rings (maybe with empty rings and spare room),
 * then `extra` entries that must not be taken. *corrupt: a ring claims more than it holds.
 */
static struct sg_ring *chain_of(struct scratch *s, const struct sg_entry *e, unsigned n,
				const struct sg_entry *extra, unsigned nextra, bool *corrupt)
{
	uint8_t shape = u8();
	unsigned nrings = 1 + shape % 3, left = n, spare = (shape & 8) ? 2 : 0;
	struct sg_ring *head = NULL, **link = &head;

	for (unsigned k = 0; k < nrings; k++) {
		unsigned take = k + 1 == nrings ? left : (left ? u8() % (left + 1) : 0);
		struct sg_ring *r = ring_of(s, e + (n - left), take, spare);

		left -= take;
		*link = r;
		link = &r->next;
		if ((shape & 4) && k == 0) { /* an empty ring in the middle */
			r = ring_of(s, NULL, 0, 1);
			*link = r;
			link = &r->next;
		}
	}
	if (nextra) {
		struct sg_ring *r = ring_of(s, extra, nextra, 0);

		*link = r;
	}
	if ((shape & 0xf0) == 0xf0 && corrupt) {
		head->num = head->max + 1;
		*corrupt = true;
	}
	return head;
}

struct add_snap {
	uint32_t num_free;
	uint16_t avail_idx;
	uint64_t kicks;
	uint64_t added;
};

static void snap(struct add_snap *s)
{
	s->num_free = virtqueue_num_free(m.vq);
	s->avail_idx = PACKED ? 0 : dev.avail->idx;
	s->kicks = stats()->kicks + stats()->kicks_suppressed;
	s->added = stats()->added;
}

/* The driver's next slot does not look available (packed). */
static bool packed_next_hidden(void)
{
	uint16_t f = dev.pd[m.drv_lin % m.num].flags;
	bool wrap = packed_wrap(m.drv_lin, m.num);

	return !(!!(f & F_AVAIL) == wrap && !!(f & F_USED) != wrap);
}

/* Bytes in the whole buffer: 4 GiB or more is refused (-EINVAL). */
static uint64_t tok_total(const struct tok *t)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < t->nent; i++)
		total += t->ent[i].len;
	return total;
}

/*
 * After an add attempt. valid: the request keeps the contract (so only
 * -ENOSPC or -EINVAL for resources/size may refuse it); rc: the result.
 */
static void after_add_as(struct tok *t, bool valid, int rc, const struct add_snap *s, uint32_t nf,
			 uint16_t avail_idx);

/* add_bufs: buffers of the burst added after the one being checked (counted already). */
static unsigned burst_left;

static void after_add(struct tok *t, bool valid, int rc, const struct add_snap *s)
{
	after_add_as(t, valid, rc, s, virtqueue_num_free(m.vq), PACKED ? 0 : dev.avail->idx);
}

/* after_add, with num_free and avail->idx as they stood right after this buffer. */
static void after_add_as(struct tok *t, bool valid, int rc, const struct add_snap *s, uint32_t nf,
			 uint16_t avail_idx)
{
	bool was_broken = m.broken;

	valid = valid && tok_total(t) <= UINT32_MAX;

	if (trace) {
		fprintf(stderr, "  add: %u entries (%llu writable), valid %d: %d; lens", t->nent,
			(unsigned long long)t->wlen, valid, rc);
		for (unsigned i = 0; i < t->nent; i++)
			fprintf(stderr, " %s%u", t->in[i] ? "in:" : "", t->ent[i].len);
		fputc('\n', stderr);
	}

	sync_broken();
	if (was_broken) {
		CHECK(rc != 0, "add succeeded on a broken queue");
		if (valid)
			CHECK(rc == -EIO, "add on a broken queue: %d, not -EIO", rc);
	} else if (!valid) {
		CHECK(rc != 0, "add accepted a buffer that breaks the contract");
	} else if (m.honest && t->nent <= m.num && s->num_free >= t->nent) {
		CHECK(rc == 0, "add refused (%d) a valid buffer with room for it", rc);
	}
	if (valid && t->nent > m.num)
		CHECK(rc == -EINVAL || rc == -EIO, "add of a buffer larger than the queue: %d", rc);
	CHECK(rc == 0 || rc == -EINVAL || rc == -ENOSPC || rc == -EIO, "add: odd result %d", rc);
	if (stats()->kicks + stats()->kicks_suppressed != s->kicks) {
		/* The core kicked by itself (16-bit index span): the window starts anew. */
		m.kick_old = PACKED ? 0 : dev.avail->idx;
		m.kick_old_lin = m.drv_lin;
	}
	if (rc) {
		CHECK(nf == s->num_free, "failed add changed num_free %u -> %u", s->num_free, nf);
		CHECK(stats()->added == s->added, "failed add counted");
		if (!PACKED)
			CHECK(avail_idx == s->avail_idx, "failed add moved avail->idx");
		else if (m.honest)
			CHECK(packed_next_hidden(), "failed add left a descriptor available");
		check_tok_guards(t);
		t->out = false;
		t->st = T_GONE;
		return;
	}
	t->out = true;
	t->st = T_POSTED;
	m.added++;
	CHECK(stats()->added == m.added + burst_left, "stats.added %llu, expected %llu",
	      (unsigned long long)stats()->added, (unsigned long long)(m.added + burst_left));
	CHECK(nf < s->num_free && (s->num_free - nf == 1 || s->num_free - nf == t->nent),
	      "add took %u descriptors for %u entries", s->num_free - nf, t->nent);
	if (PACKED) {
		CHECK(!packed_next_hidden(), "added buffer not available to the device");
		m.drv_lin += s->num_free - nf;
	} else {
		CHECK(avail_idx == (uint16_t)(s->avail_idx + 1),
		      "added buffer not published in avail->idx");
	}
}

/* One of two kinds of mistake picked by the input, or none. */
enum mistake {
	M_NONE,
	M_NENTS_MORE, /* announce more entries than come */
	M_NENTS_LESS,
	M_NSG_MORE,
	M_NSG_LESS,
	M_SHORT_CHAIN, /* nents of a call larger than its chain */
	M_OUT_AFTER_IN,
	M_ZERO_LEN,
	M_NULL_TOKEN,
};

static void op_add_sgs(void)
{
	uint8_t s = u8();
	unsigned nout = u8() % 8, nin = u8() % 8;
	enum mistake mk = (s & 0xe0) == 0xe0 ? (enum mistake)(1 + (s & 7)) : M_NONE;
	struct scratch sc = {0};
	struct sg_ring *out = NULL, *in = NULL;
	bool corrupt = false, valid;
	struct add_snap sn;
	struct tok *t;
	int rc;

	if (s & 0x10) { /* large: up to MAX_ENTS */
		nout = u8() % (MAX_ENTS / 2);
		nin = u8() % (MAX_ENTS / 2);
	}
	if (mk == M_ZERO_LEN && nout + nin == 0)
		mk = M_NONE;
	t = new_tok(nout, nin, mk == M_ZERO_LEN);
	if (mk == M_ZERO_LEN)
		t->ent[u8() % t->nent].len = 0;
	if (nout || (s & 1))
		out = chain_of(&sc, t->ent, nout, NULL, 0, &corrupt);
	if (nin || (s & 2))
		in = chain_of(&sc, t->ent + nout, nin, NULL, 0, &corrupt);
	valid = t->nent > 0 && !corrupt && mk != M_NULL_TOKEN;
	for (unsigned i = 0; i < t->nent; i++)
		valid = valid && t->ent[i].len > 0;
	snap(&sn);
	rc = virtqueue_add_sgs(m.vq, out, in, mk == M_NULL_TOKEN ? NULL : t);
	if (mk == M_NULL_TOKEN)
		CHECK(rc != 0, "add_sgs accepted a NULL token");
	after_add(t, valid, rc, &sn);
}

static void op_add_single(void)
{
	uint8_t s = u8();
	struct tok *t = new_tok(s & 1 ? 0 : 1, s & 1 ? 1 : 0, (s & 0xf0) == 0xf0);
	bool null_tok = (s & 0x0e) == 0x0e;
	struct add_snap sn;
	int rc;

	snap(&sn);
	rc = virtqueue_add_buf_single(m.vq, t->ent[0].addr, t->ent[0].len, s & 1 ? VQ_IN : VQ_OUT,
				      null_tok ? NULL : t);
	after_add(t, !null_tok && t->ent[0].len > 0, rc, &sn);
}

/*
 * virtqueue_add_bufs: up to 8 single-descriptor buffers, now and then one
 * that breaks the contract (NULL token, zero length), which refuses them all.
 * Each buffer added is checked as if added alone, in order; the rest as
 * refused.
 */
static void op_add_bufs(void)
{
	uint8_t s = u8();
	unsigned n = u8() % 9, bad = (s & 0xe0) == 0xe0 ? u8() % 9 : ~0u;
	struct vq_single b[8];
	struct tok *t[8];
	struct add_snap sn, at;
	bool valid = true, was_broken = m.broken;
	int rc;

	for (unsigned k = 0; k < n; k++) {
		uint8_t d = u8();

		t[k] = new_tok(d & 1 ? 0 : 1, d & 1 ? 1 : 0, k == bad);
		b[k] = (struct vq_single){t[k]->ent[0].addr, t[k]->ent[0].len,
					  d & 1 ? VQ_IN : VQ_OUT, t[k]};
		if (k == bad && (s & 1))
			b[k].token = NULL;
		valid = valid && b[k].token && b[k].len > 0;
	}
	snap(&sn);
	rc = virtqueue_add_bufs(m.vq, b, n);
	sync_broken();
	CHECK(rc <= (int)n, "add_bufs added %d of %u", rc, n);
	if (was_broken)
		CHECK(n == 0 ? rc == -EIO || rc == 0 : rc == -EIO, "add_bufs on a broken queue: %d",
		      rc);
	else if (!valid)
		CHECK(rc == -EINVAL, "add_bufs with a bad entry: %d, not -EINVAL", rc);
	else if (m.honest && n > 0)
		CHECK(rc == (int)(n < sn.num_free ? n : sn.num_free) ||
			      (sn.num_free == 0 && rc == -ENOSPC),
		      "add_bufs of %u with %u free: %d", n, sn.num_free, rc);
	/* the ones added, each as if added alone after the one before */
	at = sn;
	for (int k = 0; k < rc; k++) {
		burst_left = (unsigned)(rc - k - 1);
		after_add_as(t[k], true, 0, &at, sn.num_free - (uint32_t)k - 1,
			     (uint16_t)(sn.avail_idx + k + 1));
		burst_left = 0;
		at.num_free--;
		at.avail_idx++;
		at.added++;
	}
	/* the others: refused (all of them for one bad entry), nothing of them in the ring */
	snap(&at);
	for (unsigned k = rc > 0 ? (unsigned)rc : 0; k < n; k++)
		after_add(t[k], rc != -EINVAL && b[k].token && b[k].len > 0, rc < 0 ? rc : -ENOSPC,
			  &at);
}

/* Piecewise: start_buf, add_sg per group, end_buf, with a deliberate mistake or an abort. */
static void op_add_piecewise(void)
{
	uint8_t s = u8(), how = u8();
	unsigned nout = u8() % 6, nin = u8() % 6, gout, gin, ngroups;
	enum mistake mk = (s & 0xc0) == 0xc0 ? (enum mistake)(1 + (s & 7)) : M_NONE;
	struct {
		unsigned first, n;
		bool in;
	} g[12];
	struct scratch sc = {0};
	struct add_snap sn;
	struct vq_buf b;
	struct tok *t;
	unsigned ann_nents, ann_nsg, abort_at = (s & 0x30) == 0x30 ? (how & 7) : ~0u;
	unsigned short_call = u8();
	bool valid, aborted = false, failed = false, corrupt = false;
	int rc;

	if (nout + nin == 0)
		nin = 1;
	if (mk == M_OUT_AFTER_IN && (!nout || !nin))
		mk = M_NONE;
	t = new_tok(nout, nin, mk == M_ZERO_LEN);
	if (mk == M_ZERO_LEN)
		t->ent[u8() % t->nent].len = 0;
	/* Groups: OUT entries in gout calls, then IN entries in gin calls. */
	gout = nout ? 1 + u8() % nout : 0;
	gin = nin ? 1 + u8() % nin : 0;
	if (gout > 6)
		gout = 6;
	if (gin > 6)
		gin = 6;
	ngroups = 0;
	for (unsigned k = 0, first = 0; k < gout; k++) {
		unsigned n = k + 1 == gout ? nout - first : 1;

		g[ngroups++] = (typeof(g[0])){first, n, false};
		first += n;
	}
	for (unsigned k = 0, first = nout; k < gin; k++) {
		unsigned n = k + 1 == gin ? nout + nin - first : 1;

		g[ngroups++] = (typeof(g[0])){first, n, true};
		first += n;
	}
	if (mk == M_OUT_AFTER_IN) { /* the first OUT group goes last */
		typeof(g[0]) o = g[0];

		memmove(&g[0], &g[1], (ngroups - 1) * sizeof(g[0]));
		g[ngroups - 1] = o;
	}
	ann_nents = t->nent + (mk == M_NENTS_MORE) - (mk == M_NENTS_LESS);
	ann_nsg = ngroups + (mk == M_NSG_MORE) - (mk == M_NSG_LESS);
	valid = mk == M_NONE;

	snap(&sn);
	rc = virtqueue_start_buf(m.vq, &b, mk == M_NULL_TOKEN ? NULL : t, ann_nents, ann_nsg);
	if (rc) {
		failed = true;
		if (mk == M_NULL_TOKEN || ann_nents == 0 || ann_nsg == 0)
			CHECK(rc == -EINVAL || (m.broken && rc == -EIO),
			      "start_buf with a NULL token or nothing: %d", rc);
	}
	for (unsigned k = 0; k < ngroups && !failed; k++) {
		struct sg_entry decoys[2] = {{t->decoy, 8}, {t->decoy + 16, 8}};
		unsigned param = 0, nextra = 0;
		struct sg_ring *chain;

		if (k == 1 && (how & 0x40)) { /* the transport gives up mid-buffer */
			virtqueue_mark_broken(m.vq, "fuzz: mid-buffer");
			m.broken = true;
		}
		if (k == 0 && (how & 0x21) == 0x21) {
			/* Other calls while the buffer is open: refused, nothing moves. */
			uint32_t l, nf = virtqueue_num_free(m.vq);
			int other = virtqueue_add_buf_single(m.vq, t->decoy, 8, VQ_OUT, t);

			CHECK(other == -EBUSY || (m.broken && other == -EIO),
			      "add while a piecewise buffer is open: %d", other);
			CHECK(virtqueue_get_buf(m.vq, &l) == NULL,
			      "get_buf while a buffer is open");
			CHECK(virtqueue_num_free(m.vq) == nf,
			      "num_free moved while a buffer is open");
		}
		if (k == abort_at) {
			virtqueue_abort_buf(&b);
			aborted = true;
			break;
		}
		if (how & (8 << (k & 3))) { /* exact nents, with entries beyond it */
			param = g[k].n;
			nextra = 1 + (how & 1);
		}
		if (mk == M_SHORT_CHAIN && k == short_call % ngroups) {
			param = g[k].n + 1;
			nextra = 0;
		}
		chain = chain_of(&sc, t->ent + g[k].first, g[k].n, decoys, nextra, &corrupt);
		if (corrupt)
			valid = false;
		rc = virtqueue_add_sg(&b, chain, param, g[k].in ? VQ_IN : VQ_OUT);
		if (rc)
			failed = true;
	}
	if (!failed && !aborted) {
		rc = virtqueue_end_buf(&b);
		failed = rc != 0;
	}
	if (how & 0x80) {
		/* The buffer is finished: more calls on it must do nothing. */
		struct sg_ring *chain = chain_of(&sc, t->ent, 1, NULL, 0, NULL);

		CHECK(virtqueue_add_sg(&b, chain, 0, VQ_IN) != 0, "add_sg on a finished buffer");
		CHECK(virtqueue_end_buf(&b) != 0, "end_buf on a finished buffer");
		virtqueue_abort_buf(&b);
	}
	if (aborted) {
		CHECK(virtqueue_num_free(m.vq) == sn.num_free, "abort_buf changed num_free");
		rc = -EINVAL; /* for after_add: nothing was added */
		valid = false;
	}
	after_add(t, valid, failed || aborted ? (rc ? rc : -EINVAL) : 0, &sn);
}

/* The driver side: completions and callbacks. */

static void op_get(void)
{
	uint8_t s = u8();
	unsigned count = 1 + s % 8, got = 0;
	bool burst = s & 0x80;
	void *ptoks[8];
	uint32_t plens[8];

	/* get_bufs for all of them at once, checked as get_buf calls one by one */
	if (burst) {
		bool was_broken = m.broken;

		for (unsigned i = 0; i < 8; i++)
			plens[i] = 0xdeadbeef;
		got = virtqueue_get_bufs(m.vq, ptoks, plens, count);
		CHECK(got <= count, "get_bufs returned %u of at most %u", got, count);
		if (was_broken)
			CHECK(got == 0, "get_bufs returned buffers from a broken queue");
		/* the model's broken flag follows after the last one returned */
	}
	for (unsigned i = 0; i < count; i++) {
		struct tok *exp = dev.fifo.n ? dev.fifo.v[0] : NULL, *t;
		bool was_broken = m.broken;
		uint32_t len = 0xdeadbeef;
		void *p;

		if (burst) {
			p = i < got ? ptoks[i] : NULL;
			len = i < got ? plens[i] : len;
			if (i >= got)
				sync_broken();
		} else {
			p = virtqueue_get_buf(m.vq, &len);
			sync_broken();
		}
		if (was_broken)
			CHECK(!p, "get_buf returned a buffer from a broken queue");
		if (m.honest && !m.broken) {
			CHECK(p == exp, "get_buf returned %p, the device completed %p next", p,
			      (void *)exp);
			if (exp && !exp->batch_skip)
				CHECK(len == exp->used_len, "get_buf length %u, device wrote %u",
				      len, exp->used_len);
		}
		if (!p)
			return;
		t = find_tok(p);
		CHECK(t && t->out, "get_buf returned a token that is not outstanding (%p)", p);
		CHECK(len <= t->wlen, "get_buf length %u beyond the %llu writable bytes", len,
		      (unsigned long long)t->wlen);
		retire(t);
		m.used++;
		CHECK(stats()->used == m.used + (burst ? got - i - 1 : 0), "stats.used wrong");
		m.poll_valid = false;
	}
}

static void op_more_used(void)
{
	bool r = virtqueue_more_used(m.vq);

	if (m.broken)
		CHECK(!r, "more_used true on a broken queue");
	else if (m.honest)
		CHECK(r == (dev.fifo.n > 0), "more_used %d with %zu used buffers waiting", r,
		      dev.fifo.n);
}

static void arm_delayed(void)
{
	m.armed = 2;
	m.arm_epoch++;
	m.armed_left = 0;
	for (size_t i = 0; i < ntoks; i++) {
		struct tok *t = toks[i];

		if (t->out && (t->st == T_POSTED || t->st == T_CONSUMED || t->st == T_WRITTEN)) {
			t->arm_epoch = m.arm_epoch;
			m.armed_left++;
		}
	}
	if (m.armed_left == 0)
		m.armed = 1;
}

static void op_callbacks(void)
{
	uint8_t s = u8();
	bool check = m.honest && !m.broken, r;

	switch (s % 5) {
	case 0:
		virtqueue_disable_cb(m.vq);
		m.armed = 0;
		break;
	case 1:
		r = virtqueue_enable_cb(m.vq);
		m.armed = 0; /* a new request replaces any earlier one */
		if (check) {
			CHECK(r == (dev.fifo.n == 0), "enable_cb %d with %zu used buffers waiting",
			      r, dev.fifo.n);
			if (r)
				m.armed = 1;
		}
		break;
	case 2:
		m.poll_last = virtqueue_enable_cb_prepare(m.vq);
		m.poll_valid = true;
		m.armed = check && dev.fifo.n == 0;
		break;
	case 3:
		if (!m.poll_valid) {
			(void)virtqueue_poll(m.vq, u16() | (unsigned)u16() << 16);
			break;
		}
		r = virtqueue_poll(m.vq, m.poll_last);
		if (check)
			CHECK(r == (dev.fifo.n > 0), "poll %d with %zu used buffers waiting", r,
			      dev.fifo.n);
		break;
	case 4:
		r = virtqueue_enable_cb_delayed(m.vq);
		if (trace)
			fprintf(stderr, "  enable_cb_delayed: %d, used_event %u\n", r,
				PACKED ? dev.drv_evt->off_wrap
				       : *vring_used_event(dev.avail, dev.num));
		m.armed = 0;
		if (check) {
			if (dev.fifo.n == 0)
				CHECK(r, "enable_cb_delayed false with nothing waiting");
			if (dev.fifo.n)
				CHECK(!r, "enable_cb_delayed true with buffers waiting");
			if (r)
				arm_delayed();
		}
		break;
	}
	sync_broken();
}

static void op_kick(void)
{
	uint8_t s = u8();
	bool must = false, r;
	uint64_t n0 = m.notifies;

	if (!m.broken) {
		if (PACKED) {
			uint64_t new = m.drv_lin, old = m.kick_old_lin;
			uint16_t flags = dev.dev_evt->flags & 3;

			if (new != old &&new - old < m.num) {
				if (flags == VRING_PACKED_EVENT_FLAG_ENABLE)
					must = true;
				else if (flags == VRING_PACKED_EVENT_FLAG_DESC && m.event_idx)
					must = packed_event_in(dev.dev_evt->off_wrap, old, new);
			}
		} else {
			uint16_t new = dev.avail->idx, old = m.kick_old;

			if (new != old) {
				if (m.event_idx)
					must = vring_need_event(
						*vring_avail_event(dev.used, dev.num), new, old);
				else
					must = !(dev.used->flags & VRING_USED_F_NO_NOTIFY);
			}
		}
	}
	if (s & 1) {
		r = virtqueue_kick(m.vq);
		if (!m.broken)
			CHECK(m.notifies == n0 + r, "kick returned %d, notified %llu times", r,
			      (unsigned long long)(m.notifies - n0));
	} else {
		r = virtqueue_kick_prepare(m.vq);
		if (r && (s & 2))
			virtqueue_notify(m.vq);
	}
	if (m.broken)
		CHECK(!r, "kick_prepare true on a broken queue");
	CHECK(!must || r, "lost notification: the device asked for one, kick_prepare said no");
	if (PACKED)
		m.kick_old_lin = m.drv_lin;
	else
		m.kick_old = dev.avail->idx;
}

static void op_notification_data(void)
{
	uint32_t d = virtqueue_notification_data(m.vq);

	if (!m.notif_data || m.broken)
		return;
	CHECK((d & 0xffff) == m.cfg.index, "notification data: wrong queue index");
	if (PACKED)
		CHECK((d >> 16 & 0x7fff) == m.drv_lin % m.num &&
			      (d >> 31) == packed_wrap(m.drv_lin, m.num),
		      "notification data: next_off/next_wrap %#x, expected %llu/%d", d >> 16,
		      (unsigned long long)(m.drv_lin % m.num), packed_wrap(m.drv_lin, m.num));
	else
		CHECK(d >> 16 == dev.avail->idx, "notification data: next_idx %u, avail idx %u",
		      d >> 16, dev.avail->idx);
}

static void op_getters(void)
{
	struct vq_ring_addrs a;

	CHECK(virtqueue_layout(m.vq) == FUZZ_LAYOUT, "layout");
	CHECK(virtqueue_num(m.vq) == m.num, "num");
	CHECK(virtqueue_index(m.vq) == m.cfg.index, "index");
	CHECK(virtqueue_priv(m.vq) == m.cfg.priv, "priv");
	CHECK(virtqueue_name(m.vq) != NULL, "name");
	virtqueue_ring_addrs(m.vq, &a);
	CHECK(!memcmp(&a, &m.addrs, sizeof(a)), "ring addresses moved without a resize");
	for (size_t i = 0; i < ntoks; i++)
		if (toks[i]->out)
			check_tok_guards(toks[i]);
}

/* Reset, resize, detach. */

static unsigned recycled;

static void recycle_cb(struct virtqueue *vq, void *token)
{
	struct tok *t = find_tok(token);

	CHECK(vq == m.vq, "recycle called with another queue");
	CHECK(t && t->out, "recycle got a token that is not outstanding (%p)", token);
	retire(t);
	recycled++;
}

static void after_reset(bool with_cb)
{
	uint32_t len;

	if (with_cb)
		CHECK(n_out() == 0, "reset did not hand back %zu outstanding tokens", n_out());
	for (size_t i = 0; i < ntoks; i++)
		if (toks[i]->out)
			retire(toks[i]); /* recycle NULL: forgotten */
	CHECK(virtqueue_num_free(m.vq) == virtqueue_num(m.vq), "reset: num_free %u of %u",
	      virtqueue_num_free(m.vq), virtqueue_num(m.vq));
	fetch_ring();
	model_reset();
	if (!m.broken) {
		CHECK(!virtqueue_more_used(m.vq), "used buffers right after a reset");
		CHECK(virtqueue_get_buf(m.vq, &len) == NULL, "get_buf right after a reset");
		if (PACKED)
			CHECK(packed_next_hidden(), "descriptor available right after a reset");
		else
			CHECK(dev.avail->idx == 0 && dev.used->idx == 0,
			      "ring indices not zero after a reset");
	}
}

static void op_reset(void)
{
	uint8_t s = u8();
	bool with_cb = !(s & 1) || (s & 2);
	int rc;

	if (s & 4) {
		/* Detach some first (the device stopped), then reset the rest. */
		unsigned k = u8();

		for (unsigned i = 0; i < k; i++) {
			void *p = virtqueue_detach_unused_buf(m.vq);
			struct tok *t;

			if (!p)
				break;
			t = find_tok(p);
			CHECK(t && t->out, "detach returned a token that is not outstanding (%p)",
			      p);
			retire(t);
		}
		with_cb = true;
	}
	rc = virtqueue_reset(m.vq, with_cb ? recycle_cb : NULL);
	CHECK(rc == 0, "reset: %d", rc);
	after_reset(with_cb);
}

static bool valid_num(uint32_t num)
{
	if (num == 0 || num > 32768)
		return false;
	return PACKED || !(num & (num - 1));
}

static uint32_t pick_num(uint8_t sel)
{
	switch (sel) {
	case 0xff: return 32768;
	case 0xfe: return 0;
	case 0xfd: return 65536;
	case 0xfc: return 3;
	case 0xfb: return 32769;
	case 0xfa: return 1024;
	}
	if (!PACKED)
		return 1u << (sel % 9);
	return sel < 0x80 ? 1 + sel % 16 : 1 + (sel & 0x7f) * 2;
}

static void op_resize(void)
{
	uint32_t num = pick_num(u8()), old = virtqueue_num(m.vq);
	uint8_t s = u8();
	bool injected;
	int rc;

	if (valid_num(num) && num > 1024 && !(s & 0x40))
		num = 1024; /* big queues only now and then: they are slow */
	if (s & 0x80)
		fuzz_fail_alloc(1 + (s & 7));
	rc = virtqueue_resize(m.vq, num, recycle_cb);
	fuzz_fail_alloc(0);
	injected = fuzz_alloc_failed();
	if (rc == 0) {
		CHECK(valid_num(num) || num == old, "resize to a bad size %u accepted", num);
		CHECK(virtqueue_num(m.vq) == num, "resize: num %u, asked %u", virtqueue_num(m.vq),
		      num);
	} else {
		CHECK(rc == -EINVAL || rc == -ENOMEM, "resize: odd result %d", rc);
		if (rc == -EINVAL)
			CHECK(!valid_num(num), "resize to %u refused with -EINVAL", num);
		else
			CHECK(injected, "resize: -ENOMEM without an allocation failing");
		CHECK(virtqueue_num(m.vq) == old, "failed resize changed num");
	}
	after_reset(true);
}

static void op_mark_broken(void)
{
	uint8_t s = u8();

	virtqueue_mark_broken(m.vq, s & 1 ? "fuzz" : NULL);
	CHECK(virtqueue_is_broken(m.vq), "mark_broken did not break the queue");
	m.broken = true;
}

static void notify_cb(struct virtqueue *vq)
{
	CHECK(vq == m.vq, "notify with another queue");
	m.notifies++;
}

static void callback_cb(struct virtqueue *vq)
{
	CHECK(vq == m.vq, "callback with another queue");
	m.callbacks++;
}

/* One run. */

static void run(void)
{
	uint8_t sel = u8(), f = u8(), tables = u8(), max = u8(), idx = u8();
	struct vq_config cfg = {
		.name = "fuzz",
		.index = idx,
		.num = pick_num(sel),
		.features = PACKED ? VIRTIO_BIT(VIRTIO_F_RING_PACKED) : 0,
		.indirect_tables = tables ? tables & 15 : 0,
		.indirect_max = max ? max : 0,
		.callback = callback_cb,
		.notify = notify_cb,
		.priv = &m,
	};
	int rc;

	if (f & 1)
		cfg.features |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	if (f & 2)
		cfg.features |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (f & 4)
		cfg.features |= VIRTIO_BIT(VIRTIO_F_IN_ORDER);
	if (f & 8)
		cfg.ring_align = VRING_LEGACY_ALIGN;
	if ((tables & 0xc0) == 0xc0) /* any alignment: too large fails, non-powers of 2 too */
		cfg.ring_align = tables & 0x20 ? (uint32_t)max * 3 : 1u << (max & 31);
	if (f & 16)
		cfg.features |= VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA) |
				VIRTIO_BIT(VIRTIO_F_RING_RESET) | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (f & 0x80)
		fuzz_fail_alloc(1 + u8() % 8);
	if (cfg.num > 1024 && !cfg.indirect_tables)
		cfg.indirect_tables = 16; /* the default pool would be num KiB: slow */
	m.cfg = cfg;
	m.indirect = f & 1;
	m.event_idx = f & 2;
	m.in_order = f & 4;
	m.notif_data = f & 16;
	m.scribble = f & 64;
	rc = virtqueue_create(&cfg, &m.vq);
	fuzz_fail_alloc(0);
	if (!valid_num(cfg.num)) {
		CHECK((rc == -EINVAL || (rc == -ENOMEM && fuzz_alloc_failed())) && !m.vq,
		      "create with num %u: %d", cfg.num, rc);
		return;
	}
	if (cfg.ring_align && (cfg.ring_align & (cfg.ring_align - 1) || cfg.ring_align < 4 ||
			       cfg.ring_align > 4096)) {
		/*
		 * Not a power of 2, below what 2.7 requires or beyond a page (which
		 * the DMA hooks cannot give): refused, or (packed, or < 4 raised) taken.
		 */
		CHECK(rc == -EINVAL || rc == -ENOMEM || ((PACKED || cfg.ring_align < 4) && !rc),
		      "create with ring_align %u: %d", cfg.ring_align, rc);
		if (rc) {
			CHECK(!m.vq, "failed create returned a queue");
			return;
		}
	}
	if (rc) {
		CHECK(rc == -ENOMEM && fuzz_alloc_failed() && !m.vq, "create: %d", rc);
		return;
	}
	fuzz_alloc_failed();
	CHECK(m.vq && virtqueue_num_free(m.vq) == cfg.num, "create: bad queue");
	fetch_ring();
	model_reset();
	CHECK(!m.broken, "a new queue is broken");

	while (in_i < in_n) {
		uint8_t op = u8() % 20;

		if (trace)
			fprintf(stderr, "op %2u at %4zu: out %zu free %u fifo %zu%s%s\n", op,
				in_i - 1, n_out(), virtqueue_num_free(m.vq), dev.fifo.n,
				m.honest ? "" : " hostile", m.broken ? " broken" : "");
		switch (op) {
		case 0:
		case 1: op_add_sgs(); break;
		case 2:
			if (u8() & 1)
				op_add_single();
			else
				op_add_bufs();
			break;
		case 3: op_add_piecewise(); break;
		case 4:
		case 5: op_get(); break;
		case 6: op_more_used(); break;
		case 7: op_callbacks(); break;
		case 8: op_kick(); break;
		case 9:
			for (unsigned k = 1 + u8() % 8; k && dev_consume_one(); k--)
				;
			break;
		case 10:
		case 11: dev_complete(); break;
		case 12: dev_publish(); break;
		case 13: dev_complete_batch(); break;
		case 14: dev_events(); break;
		case 15:
			switch (u8() % 4) {
			case 0:
			case 1: hostile_used_entry(); break;
			case 2: hostile_index(); break;
			case 3: hostile_scribble(); break;
			}
			break;
		case 16: intr(); break;
		case 17: op_reset(); break;
		case 18:
			switch (u8() % 4) {
			case 0: op_resize(); break;
			case 1: op_mark_broken(); break;
			case 2: op_notification_data(); break;
			case 3: op_getters(); break;
			}
			break;
		case 19: op_more_used(); break;
		}
		sync_broken();
		fuzz_dma_check();
		CHECK(virtqueue_num_free(m.vq) <= m.num, "num_free %u > num %u",
		      virtqueue_num_free(m.vq), m.num);
		if (n_out() == 0)
			CHECK(virtqueue_num_free(m.vq) == m.num,
			      "nothing outstanding, num_free %u of %u", virtqueue_num_free(m.vq),
			      m.num);
		if (m.broken) {
			uint32_t len;

			CHECK(!virtqueue_get_buf(m.vq, &len), "get_buf on a broken queue");
			CHECK(!virtqueue_more_used(m.vq), "more_used on a broken queue");
		}
	}
	if (trace)
		fprintf(stderr,
			"end: num %u added %llu used %llu interrupts %llu notifies %llu%s\n", m.num,
			(unsigned long long)m.added, (unsigned long long)m.used,
			(unsigned long long)m.interrupts, (unsigned long long)m.notifies,
			m.broken ? " broken" : "");
	/* The end: every token back exactly once, then nothing left behind. */
	CHECK(virtqueue_reset(m.vq, recycle_cb) == 0, "final reset");
	CHECK(n_out() == 0, "final reset left %zu tokens outstanding", n_out());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in_p = data;
	in_n = size;
	in_i = 0;
	trace = getenv("FUZZ_TRACE") != NULL;
	memset(&m, 0, sizeof(m));
	run();
	if (m.vq)
		virtqueue_destroy(m.vq);
	CHECK(fuzz_dma_live() == 0, "%zu DMA blocks not freed by destroy", fuzz_dma_live());
	for (size_t i = 0; i < ntoks; i++) {
		free(toks[i]->region);
		free(toks[i]);
	}
	free(toks);
	toks = NULL;
	ntoks = captoks = 0;
	free(dev.owner);
	free(dev.cons.v);
	free(dev.wr.v);
	free(dev.fifo.v);
	memset(&dev, 0, sizeof(dev));
	fuzz_fail_alloc(0);
	fuzz_alloc_failed();
	return 0;
}
