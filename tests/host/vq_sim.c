/* A simulated virtio device for host tests: the device side of split and packed virtqueues. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <virtio/virtio_config.h>
#include <virtio/virtio_ring.h>
#include <virtio/virtqueue.h>

#include "vq_sim.h"

#define P_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define P_USED	(1u << VRING_PACKED_DESC_F_USED)

/* The driver produced something the spec forbids: fail the running test (or trap, for self-tests). */
#define BAD(s, fmt, ...) sim_bad((s), fmt, ##__VA_ARGS__)
static void sim_bad(struct vq_sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The test asked the sim for something impossible. */
#define TEST_BUG(fmt, ...) fail_msg("vq_sim: test bug: " fmt, ##__VA_ARGS__)

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		fail_msg("vq_sim: out of memory");
	return p;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		fail_msg("vq_sim: out of memory");
	return p;
}

static inline void fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* The device area (split used ring, packed device event structure) belongs to the device. */
static void *dev_area(struct vq_sim *s)
{
	return s->layout == VQ_SPLIT ? (void *)s->used : (void *)s->device_ev;
}

static void dev_shadow_update(struct vq_sim *s)
{
	memcpy(s->dev_shadow, dev_area(s), s->dev_size);
}

static void dev_shadow_check(struct vq_sim *s)
{
	const uint8_t *now = dev_area(s);

	for (size_t i = 0; i < s->dev_size; i++)
		if (now[i] != s->dev_shadow[i])
			BAD(s, "the driver wrote the device area (byte %zu of %zu: %#x -> %#x)", i,
			    s->dev_size, s->dev_shadow[i], now[i]);
}

/* Buffer records */

static struct vq_sim_buf *rec_get(struct vq_sim *s)
{
	struct vq_sim_buf *b;

	if (s->npool)
		b = s->pool[--s->npool];
	else
		b = xcalloc(1, sizeof(*b));
	b->nsegs = 0;
	b->nsnap = 0;
	b->ntab = 0;
	b->table = NULL;
	b->out_len = b->in_len = 0;
	b->written = 0;
	b->indirect = false;
	b->ndesc = 0;
	return b;
}

static void rec_free(struct vq_sim_buf *b)
{
	free(b->segs);
	free(b->snap);
	free(b->snap_idx);
	free(b->tsnap);
	free(b);
}

static void rec_put(struct vq_sim *s, struct vq_sim_buf *b)
{
	if (s->npool == s->pool_cap) {
		s->pool_cap = s->pool_cap ? 2 * s->pool_cap : 64;
		s->pool = xrealloc(s->pool, s->pool_cap * sizeof(*s->pool));
	}
	s->pool[s->npool++] = b;
}

static void sim_bad(struct vq_sim *s, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(s->error, sizeof(s->error),
			 "vq_sim (%s, num %u): invalid ring from the driver: ",
			 s->layout == VQ_PACKED ? "packed" : "split", s->num);

	va_start(ap, fmt);
	vsnprintf(s->error + n, sizeof(s->error) - (size_t)n, fmt, ap);
	va_end(ap);
	if (s->cur) {
		rec_put(s, s->cur);
		s->cur = NULL;
	}
	if (s->trap)
		longjmp(*s->trap, 1);
	fail_msg("%s", s->error);
	abort();
}

static void seg_add(struct vq_sim *s, struct vq_sim_buf *b, uint64_t addr, uint32_t len, bool write)
{
	if (len == 0)
		BAD(s, "zero-length descriptor (the API refuses zero-length entries)");
	if (addr == 0)
		BAD(s, "descriptor with address 0");
	if (!write && b->in_len)
		BAD(s, "device-readable descriptor after a device-writable one (2.7.4.2)");
	if (b->nsegs == b->segs_cap) {
		b->segs_cap = b->segs_cap ? 2 * b->segs_cap : 8;
		b->segs = xrealloc(b->segs, b->segs_cap * sizeof(*b->segs));
	}
	b->segs[b->nsegs].addr = (uint8_t *)(uintptr_t)addr;
	b->segs[b->nsegs].len = len;
	b->segs[b->nsegs].write = write;
	b->nsegs++;
	if (write)
		b->in_len += len;
	else
		b->out_len += len;
	if (b->in_len > UINT32_MAX || b->out_len + b->in_len > UINT32_MAX)
		BAD(s, "buffer longer than 2^32 bytes");
}

static void snap_add(struct vq_sim_buf *b, uint16_t idx, const struct vring_desc *d)
{
	if (b->nsnap == b->snap_cap) {
		b->snap_cap = b->snap_cap ? 2 * b->snap_cap : 8;
		b->snap = xrealloc(b->snap, b->snap_cap * sizeof(*b->snap));
		b->snap_idx = xrealloc(b->snap_idx, b->snap_cap * sizeof(*b->snap_idx));
	}
	b->snap[b->nsnap] = *d;
	b->snap_idx[b->nsnap] = idx;
	b->nsnap++;
}

static void inflight_add(struct vq_sim *s, struct vq_sim_buf *b)
{
	/* 2.7.5.3.1, 2.8.17: no chain (indirect ones included) longer than the queue size */
	if (b->nsegs > s->num)
		BAD(s, "buffer of %u elements in a queue of %u", b->nsegs, s->num);
	if (s->ninflight >= s->num)
		BAD(s, "more than %u buffers in flight", s->num);
	b->seq = s->seq++;
	s->inflight[s->ninflight++] = b;
	s->cur = NULL;
	s->popped++;
}

static uint32_t inflight_find(struct vq_sim *s, struct vq_sim_buf *b)
{
	for (uint32_t i = 0; i < s->ninflight; i++)
		if (s->inflight[i] == b)
			return i;
	TEST_BUG("buffer %p is not in flight", (void *)b);
	return 0;
}

static void inflight_remove(struct vq_sim *s, uint32_t k)
{
	memmove(&s->inflight[k], &s->inflight[k + 1],
		(s->ninflight - k - 1) * sizeof(s->inflight[0]));
	s->ninflight--;
}

/* Set-up */

void vq_sim_init(struct vq_sim *s)
{
	memset(s, 0, sizeof(*s));
}

static void release_all(struct vq_sim *s)
{
	for (uint32_t i = 0; i < s->ninflight; i++)
		rec_put(s, s->inflight[i]);
	s->ninflight = 0;
	free(s->inflight);
	s->inflight = NULL;
	free(s->owned);
	s->owned = NULL;
	free(s->dev_shadow);
	s->dev_shadow = NULL;
}

static void check_align(struct vq_sim *s, const char *what, uint64_t addr, uint64_t align)
{
	if (addr == 0 || addr % align)
		BAD(s, "%s at %#llx is not %llu-byte aligned", what, (unsigned long long)addr,
		    (unsigned long long)align);
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

void vq_sim_attach(struct vq_sim *s, struct virtqueue *vq, uint64_t features)
{
	struct vq_ring_addrs a;

	release_all(s);
	s->vq = vq;
	s->layout = virtqueue_layout(vq);
	s->num = virtqueue_num(vq);
	s->features = features;
	s->event_idx = features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	s->in_order = features & VIRTIO_BIT(VIRTIO_F_IN_ORDER);
	s->indirect = features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	s->notification_data = features & VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA);
	if ((s->layout == VQ_PACKED) != !!(features & VIRTIO_BIT(VIRTIO_F_RING_PACKED)))
		fail_msg("vq_sim: layout %d does not match the features %#llx", s->layout,
			 (unsigned long long)features);
	if (s->num == 0 || s->num > 32768)
		fail_msg("vq_sim: queue size %u", s->num);
	s->inflight = xcalloc(s->num, sizeof(*s->inflight));
	s->last_avail = s->used_idx = s->next_head = 0;
	s->avail_ctr = s->used_ctr = 0;
	s->signalled = s->kick_old = 0;
	s->interrupts = s->kicks = 0;
	s->popped = s->completed = 0;
	s->hostile = false;
	s->check_notify_data = true;
	s->awake = s->drained = s->irq_pending = false;
	s->sleeps = s->rechecks = 0;

	virtqueue_ring_addrs(vq, &a);
	if (s->layout == VQ_SPLIT) {
		check_align(s, "descriptor table", a.desc, VRING_DESC_ALIGN);
		check_align(s, "available ring", a.driver, VRING_AVAIL_ALIGN);
		check_align(s, "used ring", a.device, VRING_USED_ALIGN);
		if (overlap(a.desc, vring_desc_size(s->num), a.driver, vring_avail_size(s->num)) ||
		    overlap(a.desc, vring_desc_size(s->num), a.device, vring_used_size(s->num)) ||
		    overlap(a.driver, vring_avail_size(s->num), a.device, vring_used_size(s->num)))
			BAD(s, "ring parts overlap");
		s->desc = (struct vring_desc *)(uintptr_t)a.desc;
		s->avail = (struct vring_avail *)(uintptr_t)a.driver;
		s->used = (struct vring_used *)(uintptr_t)a.device;
		s->owned = xcalloc(s->num, 1);
		/* A fresh (or reset) ring: nothing available, nothing used, notify flags 0 (2.7.10). */
		if (s->avail->idx != 0 || s->used->idx != 0 || s->used->flags != 0)
			BAD(s, "new ring not empty: avail idx %u, used idx %u, used flags %#x",
			    le16_to_cpu(s->avail->idx), le16_to_cpu(s->used->idx),
			    le16_to_cpu(s->used->flags));
	} else {
		check_align(s, "descriptor ring", a.desc, VRING_PACKED_DESC_ALIGN);
		check_align(s, "driver event suppression", a.driver, VRING_PACKED_EVENT_ALIGN);
		check_align(s, "device event suppression", a.device, VRING_PACKED_EVENT_ALIGN);
		if (overlap(a.desc, 16ull * s->num, a.driver, 4) ||
		    overlap(a.desc, 16ull * s->num, a.device, 4) ||
		    overlap(a.driver, 4, a.device, 4))
			BAD(s, "ring parts overlap");
		s->pdesc = (struct vring_packed_desc *)(uintptr_t)a.desc;
		s->driver_ev = (struct vring_packed_desc_event *)(uintptr_t)a.driver;
		s->device_ev = (struct vring_packed_desc_event *)(uintptr_t)a.device;
		/* 2.8.13: the descriptor ring is zero-initialised. */
		for (uint32_t i = 0; i < s->num; i++) {
			static const struct vring_packed_desc zero;

			if (memcmp(&s->pdesc[i], &zero, sizeof(zero)))
				BAD(s, "new ring: descriptor %u not zero (flags %#x)", i,
				    le16_to_cpu(s->pdesc[i].flags));
		}
		if (s->device_ev->flags || s->device_ev->off_wrap)
			BAD(s, "new ring: device event suppression area not zero");
	}
	s->dev_size = s->layout == VQ_SPLIT ? vring_used_size(s->num) : sizeof(*s->device_ev);
	s->dev_shadow = xcalloc(1, s->dev_size);
	dev_shadow_update(s);
}

void vq_sim_fini(struct vq_sim *s)
{
	release_all(s);
	for (uint32_t i = 0; i < s->npool; i++)
		rec_free(s->pool[i]);
	free(s->pool);
	s->pool = NULL;
	s->npool = s->pool_cap = 0;
	s->vq = NULL;
}

/* Split ring, device side (2.7) */

static void split_indirect(struct vq_sim *s, struct vq_sim_buf *b, const struct vring_desc *d)
{
	uint32_t len = le32_to_cpu(d->len);
	const struct vring_desc *t = (const struct vring_desc *)(uintptr_t)le64_to_cpu(d->addr);
	uint32_t nt, j = 0, count = 0;
	uint8_t *seen;

	if (!s->indirect)
		BAD(s, "INDIRECT without VIRTIO_F_INDIRECT_DESC (2.7.5.3.1)");
	if (le16_to_cpu(d->flags) & VRING_DESC_F_NEXT)
		BAD(s, "both INDIRECT and NEXT set (2.7.5.3.1)");
	if (len == 0 || len % sizeof(struct vring_desc))
		BAD(s, "indirect table length %u is not a non-zero multiple of 16", len);
	if (!t)
		BAD(s, "indirect table at address 0");
	nt = len / sizeof(struct vring_desc);
	seen = xcalloc(nt, 1);
	b->table = t;
	b->ntab = nt;
	b->tsnap = xrealloc(b->tsnap, len);
	memcpy(b->tsnap, t, len);
	for (;;) {
		uint16_t f;

		if (j >= nt) {
			free(seen);
			BAD(s, "indirect next %u beyond the table of %u", j, nt);
		}
		if (seen[j]) {
			free(seen);
			BAD(s, "loop in an indirect table at entry %u", j);
		}
		seen[j] = 1;
		count++;
		f = le16_to_cpu(t[j].flags);
		if (f & VRING_DESC_F_INDIRECT) {
			free(seen);
			BAD(s, "INDIRECT inside an indirect table (2.7.5.3.1)");
		}
		if (f & ~(VRING_DESC_F_NEXT | VRING_DESC_F_WRITE)) {
			free(seen);
			BAD(s, "unknown flags %#x in an indirect descriptor", f);
		}
		seg_add(s, b, le64_to_cpu(t[j].addr), le32_to_cpu(t[j].len),
			f & VRING_DESC_F_WRITE);
		if (!(f & VRING_DESC_F_NEXT))
			break;
		if (s->in_order && le16_to_cpu(t[j].next) != j + 1) {
			free(seen);
			BAD(s, "IN_ORDER: indirect entry %u has next %u, not %u (2.7.5.3.1)", j,
			    le16_to_cpu(t[j].next), j + 1);
		}
		j = le16_to_cpu(t[j].next);
	}
	free(seen);
	b->indirect = true;
}

static struct vq_sim_buf *split_pop(struct vq_sim *s)
{
	uint16_t aidx = le16_to_cpu(__atomic_load_n(&s->avail->idx, __ATOMIC_ACQUIRE));
	uint16_t n = aidx - s->last_avail;
	uint16_t head, i, last = 0;
	struct vq_sim_buf *b;
	uint32_t count = 0;

	if (n > s->num)
		BAD(s, "avail idx %u is %u ahead of the device's %u", aidx, n, s->last_avail);
	if (!s->hostile && (uint16_t)(aidx - s->used_idx) > s->num)
		BAD(s, "avail idx %u: more than %u buffers outstanding (used idx %u)", aidx, s->num,
		    s->used_idx);
	if (n == 0)
		return NULL;
	head = le16_to_cpu(s->avail->ring[s->last_avail % s->num]);
	if (head >= s->num)
		BAD(s, "avail ring entry %u names descriptor %u", s->last_avail, head);
	if (s->in_order && head != s->next_head)
		BAD(s, "IN_ORDER: head %u, expected %u (descriptors in ring order, 2.7.5)", head,
		    s->next_head);

	b = s->cur = rec_get(s);
	b->id = head;
	b->pos = s->last_avail;
	i = head;
	for (;;) {
		struct vring_desc d;
		uint16_t f;

		if (i >= s->num)
			BAD(s, "next %u out of range", i);
		if (s->owned[i] == 1)
			BAD(s, "descriptor %u is in flight (the device owns it)", i);
		if (s->owned[i] == 2)
			BAD(s, "loop in the descriptor chain at %u", i);
		if (++count > s->num)
			BAD(s, "chain longer than the queue size");
		s->owned[i] = 2;
		d = s->desc[i];
		snap_add(b, i, &d);
		b->ndesc++;
		last = i;
		f = le16_to_cpu(d.flags);
		if (f & ~(VRING_DESC_F_NEXT | VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT))
			BAD(s, "unknown flags %#x in descriptor %u", f, i);
		if (f & VRING_DESC_F_INDIRECT) {
			split_indirect(s, b, &d);
			break;
		}
		seg_add(s, b, le64_to_cpu(d.addr), le32_to_cpu(d.len), f & VRING_DESC_F_WRITE);
		if (!(f & VRING_DESC_F_NEXT))
			break;
		if (s->in_order && le16_to_cpu(d.next) != (i + 1) % s->num)
			BAD(s, "IN_ORDER: descriptor %u has next %u, not %u (2.7.5.2)", i,
			    le16_to_cpu(d.next), (i + 1) % s->num);
		i = le16_to_cpu(d.next);
	}
	for (uint32_t k = 0; k < b->nsnap; k++)
		s->owned[b->snap_idx[k]] = 1;
	if (s->in_order)
		s->next_head = (last + 1) % s->num;
	s->last_avail++;
	inflight_add(s, b);
	return b;
}

/* The driver must not touch descriptors (or an indirect table) the device owns. */
static void split_check_snap(struct vq_sim *s, struct vq_sim_buf *b)
{
	for (uint32_t k = 0; k < b->nsnap; k++)
		if (memcmp(&s->desc[b->snap_idx[k]], &b->snap[k], sizeof(b->snap[k])))
			BAD(s, "descriptor %u changed while the device owned it", b->snap_idx[k]);
	if (b->table && memcmp(b->table, b->tsnap, b->ntab * sizeof(struct vring_desc)))
		BAD(s, "indirect table of buffer %u changed while the device owned it", b->id);
}

static void split_used_write(struct vq_sim *s, uint32_t id, uint32_t len, uint16_t advance)
{
	struct vring_used_elem *e = &s->used->ring[s->used_idx % s->num];
	size_t eoff = (size_t)((uint8_t *)e - (uint8_t *)s->used);

	e->id = cpu_to_le32(id);
	e->len = cpu_to_le32(len);
	s->used_idx += advance;
	s->used_ctr += advance;
	__atomic_store_n(&s->used->idx, cpu_to_le16(s->used_idx), __ATOMIC_RELEASE);
	/* just the bytes written: vq_sim_signal checks the whole area */
	memcpy(s->dev_shadow + eoff, e, sizeof(*e));
	memcpy(s->dev_shadow + offsetof(struct vring_used, idx), &s->used->idx,
	       sizeof(s->used->idx));
}

/* Packed ring, device side (2.8) */

static bool p_avail(struct vq_sim *s, uint64_t ctr)
{
	uint16_t f =
		le16_to_cpu(__atomic_load_n(&s->pdesc[vq_sim_off(s, ctr)].flags, __ATOMIC_ACQUIRE));
	unsigned w = vq_sim_wrap(s, ctr);

	return !!(f & P_AVAIL) == w && !!(f & P_USED) != w;
}

static void packed_indirect(struct vq_sim *s, struct vq_sim_buf *b,
			    const struct vring_packed_desc *d)
{
	uint32_t len = le32_to_cpu(d->len);
	const struct vring_packed_desc *t =
		(const struct vring_packed_desc *)(uintptr_t)le64_to_cpu(d->addr);

	if (!s->indirect)
		BAD(s, "INDIRECT without VIRTIO_F_INDIRECT_DESC");
	if (le16_to_cpu(d->flags) & VRING_DESC_F_NEXT)
		BAD(s, "both INDIRECT and NEXT set");
	if (len == 0 || len % sizeof(*t))
		BAD(s, "indirect table length %u is not a non-zero multiple of 16", len);
	if (!t)
		BAD(s, "indirect table at address 0");
	for (uint32_t j = 0; j < len / sizeof(*t); j++) {
		uint16_t f = le16_to_cpu(t[j].flags);

		if (f & ~VRING_DESC_F_WRITE)
			BAD(s, "indirect entry %u has flags %#x: only WRITE is allowed (2.8.19)", j,
			    f);
		seg_add(s, b, le64_to_cpu(t[j].addr), le32_to_cpu(t[j].len),
			f & VRING_DESC_F_WRITE);
	}
	b->indirect = true;
}

static struct vq_sim_buf *packed_pop(struct vq_sim *s)
{
	uint64_t ctr = s->avail_ctr;
	struct vq_sim_buf *b;
	uint16_t id = 0;
	uint32_t k;

	if (!p_avail(s, ctr))
		return NULL;
	b = s->cur = rec_get(s);
	b->pos = ctr;
	for (k = 0;; k++) {
		uint64_t c = ctr + k;
		struct vring_packed_desc d;
		uint16_t f;

		if (k >= s->num)
			BAD(s, "chain longer than the queue size");
		if (k > 0 && !p_avail(s, c))
			BAD(s,
			    "chain continues into slot %u (wrap %u) that is not available (flags "
			    "%#x): head published before its tail, or a wrong wrap counter",
			    vq_sim_off(s, c), vq_sim_wrap(s, c),
			    le16_to_cpu(s->pdesc[vq_sim_off(s, c)].flags));
		d = s->pdesc[vq_sim_off(s, c)];
		f = le16_to_cpu(d.flags) & ~(P_AVAIL | P_USED);
		if (f & ~(VRING_DESC_F_NEXT | VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT))
			BAD(s, "unknown flags %#x in slot %u", le16_to_cpu(d.flags),
			    vq_sim_off(s, c));
		if (f & VRING_DESC_F_INDIRECT) {
			if (k > 0)
				BAD(s, "INDIRECT descriptor inside a NEXT chain (2.8.19)");
			packed_indirect(s, b, &d);
		} else {
			seg_add(s, b, le64_to_cpu(d.addr), le32_to_cpu(d.len),
				f & VRING_DESC_F_WRITE);
		}
		id = le16_to_cpu(d.id); /* 2.8.6: the buffer id is in the last descriptor */
		if (!(f & VRING_DESC_F_NEXT))
			break;
	}
	b->ndesc = k + 1;
	b->id = id;
	if (!s->hostile && ctr + b->ndesc - s->used_ctr > s->num)
		BAD(s,
		    "more than %u descriptors outstanding: the driver overwrote descriptors the "
		    "device owns",
		    s->num);
	if (id >= s->num)
		BAD(s, "buffer id %u out of range", id);
	for (uint32_t i = 0; i < s->ninflight; i++)
		if (s->inflight[i]->id == id)
			BAD(s, "buffer id %u is already in flight", id);
	s->avail_ctr += b->ndesc;
	inflight_add(s, b);
	return b;
}

static void packed_used_write(struct vq_sim *s, uint16_t id, uint32_t len, uint16_t extra,
			      uint32_t skip)
{
	struct vring_packed_desc *d = &s->pdesc[vq_sim_off(s, s->used_ctr)];
	uint16_t f = (vq_sim_wrap(s, s->used_ctr) ? P_AVAIL | P_USED : 0) | extra;

	d->id = cpu_to_le16(id);
	d->len = cpu_to_le32(len);
	__atomic_store_n(&d->flags, cpu_to_le16(f), __ATOMIC_RELEASE);
	s->used_ctr += skip;
}

/* Common device operations */

struct vq_sim_buf *vq_sim_pop(struct vq_sim *s)
{
	return s->layout == VQ_SPLIT ? split_pop(s) : packed_pop(s);
}

uint32_t vq_sim_pending(struct vq_sim *s)
{
	uint32_t n = 0;

	if (s->layout == VQ_SPLIT)
		return (uint16_t)(le16_to_cpu(s->avail->idx) - s->last_avail);
	for (uint64_t c = s->avail_ctr; c < s->used_ctr + s->num && p_avail(s, c); c++)
		if (!(le16_to_cpu(s->pdesc[vq_sim_off(s, c)].flags) & VRING_DESC_F_NEXT))
			n++;
	return n;
}

uint64_t vq_sim_read(struct vq_sim *s, struct vq_sim_buf *b, void *dst, uint64_t max)
{
	uint64_t done = 0;

	(void)s;
	for (uint32_t i = 0; i < b->nsegs && !b->segs[i].write; i++) {
		uint64_t n = b->segs[i].len;

		if (done < max)
			memcpy((uint8_t *)dst + done, b->segs[i].addr,
			       n < max - done ? n : max - done);
		done += n;
	}
	return done;
}

uint32_t vq_sim_write(struct vq_sim *s, struct vq_sim_buf *b, const void *src, uint32_t len)
{
	uint32_t done = 0;

	(void)s;
	if (len > b->in_len)
		len = (uint32_t)b->in_len;
	for (uint32_t i = 0; i < b->nsegs && done < len; i++) {
		uint32_t n;

		if (!b->segs[i].write)
			continue;
		n = b->segs[i].len < len - done ? b->segs[i].len : len - done;
		memcpy(b->segs[i].addr, (const uint8_t *)src + done, n);
		done += n;
	}
	if (done > b->written)
		b->written = done;
	return done;
}

static void finish(struct vq_sim *s, uint32_t k)
{
	struct vq_sim_buf *b = s->inflight[k];

	if (s->layout == VQ_SPLIT) {
		if (!s->hostile)
			split_check_snap(s, b);
		for (uint32_t i = 0; i < b->nsnap; i++)
			s->owned[b->snap_idx[i]] = 0;
	}
	inflight_remove(s, k);
	rec_put(s, b);
	s->completed++;
}

void vq_sim_complete(struct vq_sim *s, struct vq_sim_buf *b, uint32_t len)
{
	uint32_t k = inflight_find(s, b);

	if (len > b->in_len)
		TEST_BUG("used length %u beyond the %llu writable bytes (use the hostile "
			 "primitives)",
			 len, (unsigned long long)b->in_len);
	if (s->in_order && k != 0)
		TEST_BUG("IN_ORDER: the device must use the oldest buffer first");
	if (s->layout == VQ_SPLIT) {
		split_check_snap(s, b);
		split_used_write(s, b->id, len, 1);
	} else {
		packed_used_write(s, b->id, len, len ? VRING_DESC_F_WRITE : 0, b->ndesc);
	}
	finish(s, k);
}

void vq_sim_complete_batch(struct vq_sim *s, uint32_t n, uint32_t len)
{
	struct vq_sim_buf *last;
	uint32_t skip = 0;

	if (!s->in_order)
		TEST_BUG("batches need VIRTIO_F_IN_ORDER");
	if (n == 0 || n > s->ninflight)
		TEST_BUG("batch of %u with %u in flight", n, s->ninflight);
	last = s->inflight[n - 1];
	if (len > last->in_len)
		TEST_BUG("used length %u beyond the %llu writable bytes", len,
			 (unsigned long long)last->in_len);
	for (uint32_t i = 0; i < n; i++)
		skip += s->inflight[i]->ndesc;
	if (s->layout == VQ_SPLIT) {
		for (uint32_t i = 0; i < n; i++)
			split_check_snap(s, s->inflight[i]);
		/* 2.7.9: one entry, at the batch's first offset, naming the last; idx += n */
		split_used_write(s, last->id, len, (uint16_t)n);
	} else {
		/* 2.8.8: one used descriptor naming the last; skip the whole batch */
		packed_used_write(s, last->id, len, len ? VRING_DESC_F_WRITE : 0, skip);
	}
	for (uint32_t i = 0; i < n; i++)
		finish(s, 0);
}

/* Notifications */

/* Whether packed event position off_wrap lies in the slot counters [old, new). */
static bool packed_event_in(struct vq_sim *s, uint16_t off_wrap, uint64_t old, uint64_t new)
{
	uint16_t off = off_wrap & 0x7fff;
	unsigned w = off_wrap >> VRING_PACKED_EVENT_F_WRAP_CTR;

	if (off >= s->num)
		BAD(s, "event offset %u beyond the ring", off);
	if (new <= old)
		return false;
	for (uint64_t lap = old / s->num; lap <= (new - 1) / s->num; lap++) {
		uint64_t c = lap * s->num + off;

		if (c >= old && c < new &&vq_sim_wrap(s, c) == w)
			return true;
	}
	return false;
}

bool vq_sim_signal(struct vq_sim *s)
{
	bool need;

	dev_shadow_check(s);
	if (s->layout == VQ_SPLIT) {
		uint16_t flags = le16_to_cpu(s->avail->flags);

		if (s->event_idx) {
			if (flags != 0 && !s->hostile)
				BAD(s, "avail flags %#x with EVENT_IDX: must be 0 (2.7.7.1)",
				    flags);
			need = s->used_ctr - s->signalled > 0xffff ||
			       vring_need_event(vq_sim_used_event(s), (uint16_t)s->used_ctr,
						(uint16_t)s->signalled);
		} else {
			if (flags > 1)
				BAD(s, "avail flags %#x: must be 0 or 1 (2.7.7.1)", flags);
			need = s->used_ctr != s->signalled && !(flags & VRING_AVAIL_F_NO_INTERRUPT);
		}
	} else {
		uint16_t flags, off_wrap;

		vq_sim_driver_event(s, &flags, &off_wrap);
		if (flags > VRING_PACKED_EVENT_FLAG_DESC)
			BAD(s, "driver event flags %#x: reserved value", flags);
		if (flags == VRING_PACKED_EVENT_FLAG_DESC && !s->event_idx)
			BAD(s, "driver event flags DESC without EVENT_IDX");
		if (flags == VRING_PACKED_EVENT_FLAG_ENABLE)
			need = s->used_ctr != s->signalled;
		else if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
			need = false;
		else
			need = packed_event_in(s, off_wrap, s->signalled, s->used_ctr);
	}
	s->signalled = s->used_ctr;
	if (need) {
		s->interrupts++;
		if (s->strict && s->drop_irqs)
			s->drop_irqs--; /* raised, lost on the way */
		else if (s->strict)
			s->irq_pending = true;
		else
			virtqueue_interrupt(s->vq);
	}
	return need;
}

/* Strict mode */

void vq_sim_set_strict(struct vq_sim *s, bool on)
{
	s->strict = on;
	s->awake = s->drained = false;
	s->irq_pending = false;
}

/* Awake: no kicks, please (with split EVENT_IDX the old event stays behind us). */
static void strict_quiet(struct vq_sim *s)
{
	if (s->layout == VQ_PACKED)
		vq_sim_set_device_event(s, VRING_PACKED_EVENT_FLAG_DISABLE, 0);
	else if (!s->event_idx)
		vq_sim_set_no_notify(s, true);
}

/* Going to sleep: a kick at the next buffer made available. */
static void strict_arm(struct vq_sim *s)
{
	if (s->layout == VQ_SPLIT) {
		if (s->event_idx)
			vq_sim_set_avail_event(s, s->last_avail);
		else
			vq_sim_set_no_notify(s, false);
	} else if (s->event_idx) {
		vq_sim_set_device_event(
			s, VRING_PACKED_EVENT_FLAG_DESC,
			(uint16_t)(vq_sim_off(s, s->avail_ctr) |
				   vq_sim_wrap(s, s->avail_ctr) << VRING_PACKED_EVENT_F_WRAP_CTR));
	} else {
		vq_sim_set_device_event(s, VRING_PACKED_EVENT_FLAG_ENABLE, 0);
	}
}

/*
 * One step of an awake device. The look that finds the ring empty and the
 * publishing of the event that follows are separate steps, so the driver
 * can add (and decide not to kick) in between, as it can on real hardware:
 * the second look must then find its buffers.
 */
unsigned vq_sim_service(struct vq_sim *s, unsigned max)
{
	unsigned n = 0;

	if (!s->awake)
		return 0; /* asleep: the ring is not looked at without a kick */
	if (s->drained) {
		s->drained = false;
		strict_arm(s);
		fence(); /* the event before the second look (the device's side of 2.7.10) */
		if (!vq_sim_pending(s)) {
			s->awake = false;
			s->sleeps++;
			return 0;
		}
		s->rechecks++;
		strict_quiet(s);
	}
	while (n < max && vq_sim_pop(s))
		n++;
	if (n < max)
		s->drained = true; /* found it empty: next, the event and the second look */
	return n;
}

bool vq_sim_deliver(struct vq_sim *s)
{
	if (!s->irq_pending)
		return false;
	s->irq_pending = false;
	virtqueue_interrupt(s->vq);
	return true;
}

static void (*mb_hook_fn)(void *);
static void *mb_hook_arg;
static bool mb_hook_busy;

void vq_sim_set_mb_hook(void (*fn)(void *), void *arg)
{
	mb_hook_fn = fn;
	mb_hook_arg = arg;
}

void virt_mb_hook(void)
{
	if (!mb_hook_fn || mb_hook_busy)
		return;
	mb_hook_busy = true;
	mb_hook_fn(mb_hook_arg);
	mb_hook_busy = false;
}

void vq_sim_set_no_notify(struct vq_sim *s, bool no_notify)
{
	dev_shadow_check(s);
	s->used->flags = cpu_to_le16(no_notify ? VRING_USED_F_NO_NOTIFY : 0);
	dev_shadow_update(s);
	fence();
}

void vq_sim_set_avail_event(struct vq_sim *s, uint16_t idx)
{
	dev_shadow_check(s);
	*vring_avail_event(s->used, s->num) = cpu_to_le16(idx);
	dev_shadow_update(s);
	fence();
}

void vq_sim_set_device_event(struct vq_sim *s, uint16_t flags, uint16_t off_wrap)
{
	dev_shadow_check(s);
	s->device_ev->off_wrap = cpu_to_le16(off_wrap);
	s->device_ev->flags = cpu_to_le16(flags);
	dev_shadow_update(s);
	fence();
}

uint64_t vq_sim_driver_avail(struct vq_sim *s)
{
	uint64_t c;

	if (s->layout == VQ_SPLIT)
		return le16_to_cpu(s->avail->idx);
	for (c = s->avail_ctr; c < s->used_ctr + s->num && p_avail(s, c); c++)
		;
	return c;
}

int vq_sim_kick_expected(struct vq_sim *s)
{
	uint64_t new = vq_sim_driver_avail(s), old = s->kick_old;

	s->kick_old = new;
	if (s->layout == VQ_SPLIT) {
		uint16_t n16 = (uint16_t) new, o16 = (uint16_t)old;

		if (n16 == o16)
			return -1;
		if (s->event_idx)
			return vring_need_event(le16_to_cpu(*vring_avail_event(s->used, s->num)),
						n16, o16);
		return !(le16_to_cpu(s->used->flags) & VRING_USED_F_NO_NOTIFY);
	}
	if (new == old)
		return -1;
	switch (le16_to_cpu(s->device_ev->flags)) {
	case VRING_PACKED_EVENT_FLAG_ENABLE: return 1;
	case VRING_PACKED_EVENT_FLAG_DISABLE: return 0;
	default:
		/* More than a lap since the last check: (offset, wrap) names two slots. */
		if (new - old > s->num)
			return -1;
		break;
	}
	switch (le16_to_cpu(s->device_ev->flags)) {
	case VRING_PACKED_EVENT_FLAG_ENABLE: return 1;
	case VRING_PACKED_EVENT_FLAG_DISABLE: return 0;
	default: return packed_event_in(s, le16_to_cpu(s->device_ev->off_wrap), old, new);
	}
}

void vq_sim_kick_sync(struct vq_sim *s)
{
	s->kick_old = vq_sim_driver_avail(s);
}

void vq_sim_notify(struct virtqueue *vq)
{
	struct vq_sim *s = virtqueue_priv(vq);

	if (!s || s->vq != vq)
		fail_msg("vq_sim_notify: the queue's priv is not its sim");
	s->kicks++;
	if (s->strict && s->drop_kicks) {
		s->drop_kicks--; /* lost on the way: the device never hears it */
		return;
	}
	if (s->strict && !s->awake) {
		s->awake = true;
		s->drained = false;
		strict_quiet(s);
	}
	if (s->notification_data && s->check_notify_data) {
		uint32_t got = virtqueue_notification_data(vq), want;

		if (s->layout == VQ_SPLIT) {
			want = vring_notification_data(virtqueue_index(vq),
						       le16_to_cpu(s->avail->idx), 0);
		} else {
			uint64_t c = vq_sim_driver_avail(s);

			want = vring_notification_data(virtqueue_index(vq), vq_sim_off(s, c),
						       vq_sim_wrap(s, c));
		}
		if (got != want)
			BAD(s, "notification data %#x, expected %#x (2.9)", got, want);
	}
}

uint16_t vq_sim_avail_flags(struct vq_sim *s)
{
	return le16_to_cpu(s->avail->flags);
}

uint16_t vq_sim_used_event(struct vq_sim *s)
{
	return le16_to_cpu(*vring_used_event(s->avail, s->num));
}

void vq_sim_driver_event(struct vq_sim *s, uint16_t *flags, uint16_t *off_wrap)
{
	*off_wrap = le16_to_cpu(s->driver_ev->off_wrap);
	*flags = le16_to_cpu(s->driver_ev->flags);
}

size_t vq_sim_driver_mem(struct vq_sim *s, void *dst, size_t cap)
{
	size_t a, b;
	const void *pa, *pb;

	if (s->layout == VQ_SPLIT) {
		a = vring_desc_size(s->num);
		b = vring_avail_size(s->num);
		pa = s->desc;
		pb = s->avail;
	} else {
		a = 16ull * s->num;
		b = sizeof(*s->driver_ev);
		pa = s->pdesc;
		pb = s->driver_ev;
	}
	if (!dst)
		return a + b;
	if (cap < a + b)
		TEST_BUG("snapshot buffer of %zu bytes, need %zu", cap, a + b);
	memcpy(dst, pa, a);
	memcpy((uint8_t *)dst + a, pb, b);
	return a + b;
}

/* Hostile device */

void vq_sim_put_used_raw(struct vq_sim *s, uint32_t id, uint32_t len)
{
	s->hostile = true;
	split_used_write(s, id, len, 1);
}

void vq_sim_set_used_idx(struct vq_sim *s, uint16_t idx)
{
	s->hostile = true;
	s->used_ctr += (uint16_t)(idx - s->used_idx);
	s->used_idx = idx;
	__atomic_store_n(&s->used->idx, cpu_to_le16(idx), __ATOMIC_RELEASE);
	dev_shadow_update(s);
}

void vq_sim_put_used_desc_raw(struct vq_sim *s, uint16_t id, uint32_t len, uint16_t extra_flags,
			      uint32_t skip)
{
	s->hostile = true;
	packed_used_write(s, id, len, extra_flags, skip);
}
