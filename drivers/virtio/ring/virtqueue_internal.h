/*
 * Virtqueue internals shared by the core (virtqueue.c) and the two layout
 * files (virtqueue_split.c, virtqueue_packed.c). Drivers never include this.
 *
 * Each layout provides its operations; the tables are defined here, static
 * const and fully initialised, so the core's VQ_CALL() switch on the layout
 * folds every call into a direct one (no indirect branch on the data path).
 */
#ifndef DRIVERS_VIRTIO_VIRTQUEUE_INTERNAL_H
#define DRIVERS_VIRTIO_VIRTQUEUE_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <arch/x86_64/barrier.h>
#include <virtio/virtio_config.h>
#include <virtio/virtio_ring.h>
#include <virtio/virtqueue.h>

#define VQ_NO_TABLE 0xffff

/*
 * A cache line. Areas one side writes and the other reads start on one, so
 * that no line is written by both sides (split used ring, packed device event
 * structure), and the ring block ends on one (no line shared with the
 * driver's private memory after it).
 */
#define VQ_CACHE_LINE 64
/* Packed descriptors per cache line (2.8.13; the struct's size is asserted there). */
#define VQ_DESCS_PER_LINE (VQ_CACHE_LINE / sizeof(struct vring_packed_desc))
/* get_bufs prefetches the used lines of at most this many buffers ahead. */
#define VQ_PREFETCH_USED 32u
#define VQ_LINE_UP(x)	 (((x) + VQ_CACHE_LINE - 1) & ~(size_t)(VQ_CACHE_LINE - 1))

#define VQ_COPY_MAX(l) (sizeof((l)->copy) / sizeof((l)->copy[0]))

/* A used entry as read from the ring: the driver's copy. */
struct vq_used_copy {
	uint32_t id;
	uint32_t len;
};

/*
 * The driver's record of one outstanding buffer, by head (split) or buffer id
 * (packed). Only token says whether it is outstanding: the other fields of a
 * free record are never read (packed leaves them stale, and reads link only
 * while the id is free). in_len, ndesc and table are one 8-byte word, so
 * that the per-buffer paths write a record in few stores.
 */
struct vq_desc_state {
	void *token;	 /* NULL: not outstanding */
	uint32_t in_len; /* device-writable bytes posted: a used length must not exceed it */
	uint16_t ndesc;	 /* ring descriptors the buffer holds */
	uint16_t table;	 /* indirect table index, or VQ_NO_TABLE */
	uint16_t link;	 /* split: last descriptor of the chain; packed: free-id list link */
	uint16_t seq;	 /* split: the avail index it was published at */
};

/* The driver's copy of a descriptor: staged here, copied to the ring on publish. */
struct vq_desc_extra {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next; /* split: chain and free-list link */
};

/* In-order completion of a batch: buffers to hand out before reading the ring again. */
struct vq_batch {
	/* split: buffers of the batch not yet returned; packed: 1 until the last is */
	uint16_t left;
	uint16_t last_id;  /* the buffer the device named */
	uint32_t last_len; /* and the length it wrote into it */
};

struct vq_split {
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t *avail_shadow; /* heads as we published them, by avail index */
	uint16_t free_head, free_tail;
	uint16_t avail_idx;   /* our avail->idx */
	uint16_t avail_flags; /* our avail->flags */
	uint16_t last_used;   /* next used index to consume */
	uint16_t used_seen;   /* used->idx as we last read it: entries up to it are ready */
	/* Used entries copied a line at a time: indexes copy_base .. +copy_n-1. */
	uint16_t copy_base, copy_n;
	struct vq_used_copy copy[VQ_CACHE_LINE / sizeof(struct vring_used_elem)];
};

struct vq_packed {
	struct vring_packed_desc *desc;
	struct vring_packed_desc_event *driver; /* we write: when to interrupt us */
	struct vring_packed_desc_event *device; /* the device writes: when to notify it */
	uint16_t batch_head;			/* in-order: the next buffer of vq->batch */
	uint16_t next_avail;			/* next ring slot to fill */
	uint16_t avail_wrap;			/* driver ring wrap counter (2.8.1) */
	uint16_t last_used;			/* ring slot of the next used descriptor */
	uint16_t used_wrap;			/* device ring wrap counter as we track it */
	/* The wrap counters as flag bits, set with them (set_avail_wrap, set_used_wrap): */
	uint16_t avail_bits;  /* AVAIL/USED bits that make a descriptor available now */
	uint16_t used_bits;   /* AVAIL/USED bits of a used descriptor in this lap */
	uint16_t free_id;     /* without IN_ORDER: head of the free buffer-id list */
	uint16_t event_flags; /* our driver->flags */
};

struct virtqueue {
	enum vq_layout layout;
	uint16_t index;
	uint32_t num;
	uint32_t num_free;  /* free ring descriptors */
	uint32_t num_added; /* split: buffers, packed: descriptors, since the last kick */
	bool indirect, event_idx, in_order;
	/*
	 * What makes the per-buffer paths leave their fast path, one word that
	 * they test once (vq_get_buf_clear, vq_add_single_check): broken; a
	 * fault injected; a piecewise buffer open (busy mirrors building !=
	 * NULL: vq_set_building()). Derivable, and once dropped for it (round
	 * 5 saw no two-thread gain); kept because at batch 1 every instruction
	 * per buffer is time (bench/ring/PROFILE.md, round 7): 8 fewer here.
	 */
	union {
		struct {
			bool broken;
			bool inject_fault; /* virtqueue_inject_fault: the next used entry is bad */
			bool busy;
			bool held_zero; /* never set: held is the other three */
		};
		uint32_t held;
	};
	const char *broken_reason;
	const char *name;
	vq_callback_t callback;
	vq_notify_t notify;
	void *priv;
	struct vq_stats stats;

	struct vq_buf *building; /* the open piecewise buffer, if any */
	uint32_t event_delay;	 /* enable_cb_delayed: buffers (split) or descriptors
				 * (packed) to consume before the event moves again */

	struct vq_desc_state *state; /* num entries */
	struct vq_desc_extra *extra; /* num entries */
	struct vq_batch batch;

	/* Indirect tables: one DMA block, a stack of free table numbers. */
	uint8_t *indir_mem;
	size_t indir_mem_size;
	uint16_t indir_tables, indir_max, indir_nfree;
	uint16_t *indir_free;

	/* Ring memory: one DMA block. */
	void *ring_mem;
	size_t ring_mem_size;
	uint32_t ring_align;

	union {
		struct vq_split split;
		struct vq_packed packed;
	};
};
_Static_assert(sizeof(bool) == 1 && sizeof(((struct virtqueue *)0)->held) == 4,
	       "held covers broken, inject_fault, busy and held_zero exactly");

static inline uint32_t MIN_U32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}
static inline uint32_t MAX_U32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/*
 * The functions that run for every buffer, by part: each part is placed on a
 * page of its own (linker.ld, which checks that each still fits in one):
 * core; each layout's adding side (split, packed: adds, kick_prepare); each
 * layout's used side (split_used, packed_used: gets, callbacks on and off).
 * Under QEMU's TCG, code that straddles a 4 KiB page boundary is translated
 * into a block that is never chained to: every pass through it goes back to
 * QEMU's execution loop, and a get_buf that straddled a page measured 2-20 us
 * instead of 0.2 us (bench/ring/PROFILE.md, round 3). So where the linker
 * happens to put the ring must not decide what it costs. Elsewhere (host
 * builds) these are ordinary .text.* sections.
 */
#define VQ_HOT(part) __attribute__((section(".text.vq_hot." #part)))

/* Core services for the layouts (virtqueue.c). */
void vq_bad_device(struct virtqueue *vq, const char *reason);
void *vq_get_buf_refused(struct virtqueue *vq, uint32_t *len);
unsigned vq_get_bufs_refused(struct virtqueue *vq, void **tokens, uint32_t *lens);

/*
 * The two per-buffer entry points, virtqueue_add_buf_single and
 * virtqueue_get_buf, jump straight to the layout's add_single and get_buf
 * (a tail call: no frame of the core's own on the path), and the layout
 * runs the core's part inline from these helpers: one frame per operation.
 */

/*
 * add_buf_single's checks, in its documented order: 0, or the error it
 * returns. The ring is not touched.
 */
static inline int vq_add_single_check(const struct virtqueue *vq, uint32_t len, enum vq_dir dir,
				      const void *token)
{
	if (__builtin_expect(vq->held != 0, 0)) { /* an injected fault alone: add as usual */
		if (vq->broken)
			return -EIO;
		if (vq->building)
			return -EBUSY;
	}
	if (!token)
		return -EINVAL;
	if (vq->num_free == 0)
		return -ENOSPC;
	if ((dir != VQ_IN && dir != VQ_OUT) || len == 0)
		return -EINVAL;
	return 0;
}

/*
 * add_bufs's checks: broken, busy, then every entry (before any is added),
 * then room: how many of the n to add (the free descriptors bound it; each
 * takes one), or the error it returns. The ring is not touched.
 */
static inline int vq_add_bufs_check(const struct virtqueue *vq, const struct vq_single *bufs,
				    unsigned n)
{
	if (vq->broken)
		return -EIO;
	if (vq->building)
		return -EBUSY;
	for (unsigned k = 0; k < n; k++)
		if (!bufs[k].token || (bufs[k].dir != VQ_IN && bufs[k].dir != VQ_OUT) ||
		    bufs[k].len == 0)
			return -EINVAL;
	if (n == 0)
		return 0;
	if (vq->num_free == 0)
		return -ENOSPC;
	return (int)MIN_U32(n, vq->num_free);
}

/*
 * n buffers were made available: count them, and kick before the unkicked
 * span can wrap: the avail index is 16 bits (before them the span was below
 * 0xffff - num, and n <= num).
 */
static inline void vq_added_n(struct virtqueue *vq, uint32_t n)
{
	vq->stats.added += n;
	if (__builtin_expect(vq->num_added >= 0xffff - vq->num, 0))
		virtqueue_kick(vq);
}

/*
 * get_buf may read the ring: not broken, no open piecewise buffer (detaching
 * now would reshuffle its descriptors), no injected fault pending. Otherwise
 * the layout returns vq_get_buf_refused(), which sorts those cases out.
 */
static inline bool vq_get_buf_clear(const struct virtqueue *vq)
{
	return vq->held == 0;
}

/*
 * enable_cb_delayed's delay, after consuming `consumed` buffers (split) or
 * descriptors (packed): true while it lasts (the interrupt event stays
 * where it was placed). The delay is stored only while there is one.
 */
static inline bool vq_event_delayed(struct virtqueue *vq, uint32_t consumed)
{
	if (!vq->event_delay)
		return false;
	if (vq->event_delay > consumed) {
		vq->event_delay -= consumed;
		return true;
	}
	vq->event_delay = 0;
	return false;
}

/* Open (b) or close (NULL) the piecewise buffer: building and its mirror busy together. */
static inline void vq_set_building(struct virtqueue *vq, struct vq_buf *b)
{
	vq->building = b;
	vq->busy = b != NULL;
}

/* get_buf's end: count the buffer taken, if any, and tell its length if asked. */
static inline void *vq_got(struct virtqueue *vq, void *token, uint32_t l, uint32_t *len)
{
	if (token) {
		vq->stats.used++;
		if (len)
			*len = l;
	}
	return token;
}
/* The ring part only (the layout's get op): get_one, then the event moved. */
static inline __attribute__((always_inline)) void *
vq_get_ring(struct virtqueue *vq, uint32_t *len,
	    void *(*get_one)(struct virtqueue *vq, uint32_t *len, uint32_t *consumed),
	    void (*update_used_event)(struct virtqueue *vq, uint32_t consumed))
{
	uint32_t consumed = 0;
	void *token = get_one(vq, len, &consumed);

	if (consumed)
		update_used_event(vq, consumed);
	return token;
}

/*
 * What a layout's get_fast found. get_fast is the common case of its
 * get_step, inline and without a call: the next used buffer unless it
 * starts an in-order batch, every check made. That, and every check that
 * fails, is VQ_GET_SLOW with nothing changed that get_step would not find
 * the same (at most caches of what the device wrote are filled): the
 * layout's get_general (get_step's other instance, out of line) then starts
 * over from the same used entry, starts the batch or reports the bad
 * device. So the fast path needs no frame, and every hostile case still
 * meets the same checks and messages.
 */
enum vq_get_fast {
	VQ_GET_TAKEN, /* *token, *len: a buffer taken */
	VQ_GET_NONE,  /* nothing used */
	VQ_GET_SLOW,  /* ask get_general */
};

typedef enum vq_get_fast (*vq_get_fast_fn)(struct virtqueue *vq, void **token, uint32_t *len,
					   uint32_t *consumed);
typedef void *(*vq_get_one_fn)(struct virtqueue *vq, uint32_t *len, uint32_t *consumed);
typedef void (*vq_used_event_fn)(struct virtqueue *vq, uint32_t consumed);

/*
 * get_buf for the layouts: get_fast, then the event moved and the buffer
 * counted; anything get_fast leaves goes to get_buf_slow (the same with
 * get_general), a tail call.
 */
static inline __attribute__((always_inline)) void *
vq_get_buf_one(struct virtqueue *vq, uint32_t *len, vq_get_fast_fn get_fast,
	       void *(*get_buf_slow)(struct virtqueue *vq, uint32_t *len),
	       vq_used_event_fn update_used_event)
{
	uint32_t l = 0, consumed = 0;
	void *token;

	if (!vq_get_buf_clear(vq))
		return vq_get_buf_refused(vq, len);
	switch (get_fast(vq, &token, &l, &consumed)) {
	case VQ_GET_NONE: return NULL;
	case VQ_GET_SLOW: return get_buf_slow(vq, len);
	case VQ_GET_TAKEN: break;
	}
	update_used_event(vq, consumed);
	return vq_got(vq, token, l, len);
}

/* get_buf_slow for the layouts: get_general's buffer, the event moved, counted. */
static inline __attribute__((always_inline)) void *
vq_get_buf_general(struct virtqueue *vq, uint32_t *len, vq_get_one_fn get_general,
		   vq_used_event_fn update_used_event)
{
	uint32_t l = 0;
	void *token = vq_get_ring(vq, &l, get_general, update_used_event);

	return vq_got(vq, token, l, len);
}

/*
 * get_bufs for the layouts: get_fast (get_general when it asks) until max
 * buffers or none is ready, then the interrupt event moved once, by the
 * layout's update_used_event. All are constants where this is inlined.
 */
static inline __attribute__((always_inline)) unsigned
vq_get_bufs_loop(struct virtqueue *vq, void **tokens, uint32_t *lens, unsigned max,
		 vq_get_fast_fn get_fast, vq_get_one_fn get_general,
		 vq_used_event_fn update_used_event)
{
	uint32_t consumed = 0;
	unsigned n = 0;

	if (!max)
		return 0;
	if (!vq_get_buf_clear(vq))
		return vq_get_bufs_refused(vq, tokens, lens);
	for (; n < max; n++) {
		enum vq_get_fast r;
		uint32_t l;
		void *token;

		r = get_fast(vq, &token, &l, &consumed);
		if (r == VQ_GET_NONE)
			break;
		if (r == VQ_GET_SLOW) {
			token = get_general(vq, &l, &consumed);
			if (!token)
				break;
		}
		tokens[n] = token;
		if (lens)
			lens[n] = l;
	}
	if (consumed)
		update_used_event(vq, consumed);
	vq->stats.used += n;
	return n;
}

/* An indirect table back on the free stack (inline: get_buf's fast path calls nothing). */
static inline void vq_table_put(struct virtqueue *vq, uint16_t table)
{
	vq->indir_free[vq->indir_nfree++] = table;
}

static inline void *vq_table(struct virtqueue *vq, uint16_t table)
{
	return vq->indir_mem + (size_t)table * vq->indir_max * 16;
}

/* Volatile access to memory the device writes concurrently. */
#define VQ_READ_ONCE(x)	    (*(const volatile __typeof__(x) *)&(x))
#define VQ_WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/*
 * A whole buffer for add_sgs, its chains already walked and checked by the
 * core: the layout writes it straight into the ring (or an indirect table)
 * in one pass, no staging, since nothing can fail half-way any more.
 */
struct vq_chain {
	const struct sg_ring *out, *in;
	uint32_t nout, nin; /* entries of each chain, counted by the core */
	uint32_t in_len;    /* device-writable bytes */
	uint16_t table;	    /* indirect table, or VQ_NO_TABLE: direct descriptors */
	void *token;
};

/* Where a walk of a vq_chain is: every out entry, then every in entry. */
struct vq_chain_pos {
	const struct sg_ring *r, *in;
	uint32_t i, left, in_left;
	bool write;
};

static inline void vq_chain_begin(struct vq_chain_pos *p, const struct vq_chain *c)
{
	*p = (struct vq_chain_pos){.r = c->out, .in = c->in, .left = c->nout, .in_left = c->nin};
}

/*
 * The next entry; p->write tells its direction. Called exactly nout + nin
 * times: the counts came from walking these very chains, so the walk ends.
 */
static inline const struct sg_entry *vq_chain_next(struct vq_chain_pos *p)
{
	if (p->left == 0) {
		p->r = p->in;
		p->i = 0;
		p->left = p->in_left;
		p->in_left = 0;
		p->write = true;
	}
	while (p->i == p->r->num) {
		p->r = p->r->next;
		p->i = 0;
	}
	p->left--;
	return &p->r->sg[p->i++];
}

struct virtqueue_ops {
	bool (*valid_num)(uint32_t num);
	int (*init)(struct virtqueue *vq); /* ring memory and layout state for vq->num */
	void (*free)(struct virtqueue *vq);
	void (*reset)(struct virtqueue *vq); /* empty ring, nothing outstanding */
	int (*start)(struct vq_buf *b);
	void (*add)(struct vq_buf *b, uint64_t addr, uint32_t len, bool write);
	void (*publish)(struct vq_buf *b);
	int (*add_single)(struct virtqueue *vq, void *buf, uint32_t len, enum vq_dir dir,
			  void *token); /* all of virtqueue_add_buf_single */
	int (*add_bufs)(struct virtqueue *vq, const struct vq_single *bufs,
			unsigned n); /* all of virtqueue_add_bufs */
	void (*add_chain)(struct virtqueue *vq, const struct vq_chain *c);
	void (*rollback)(struct vq_buf *b);
	void *(*get)(struct virtqueue *vq, uint32_t *len);     /* the ring part only */
	void *(*get_buf)(struct virtqueue *vq, uint32_t *len); /* all of virtqueue_get_buf */
	unsigned (*get_bufs)(struct virtqueue *vq, void **tokens, uint32_t *lens,
			     unsigned max); /* all of virtqueue_get_bufs */
	bool (*more_used)(struct virtqueue *vq);
	bool (*kick_prepare)(struct virtqueue *vq);
	void (*disable_cb)(struct virtqueue *vq);
	unsigned (*enable_cb_prepare)(struct virtqueue *vq);
	bool (*enable_cb_delayed)(struct virtqueue *vq);
	bool (*poll)(struct virtqueue *vq, unsigned last);
	void *(*detach_unused)(struct virtqueue *vq);
	uint32_t (*notification_data)(const struct virtqueue *vq);
	void (*ring_addrs)(const struct virtqueue *vq, struct vq_ring_addrs *a);
};

#define VQ_DECLARE_LAYOUT(p)                                                                      \
	bool p##_valid_num(uint32_t num);                                                         \
	int p##_init(struct virtqueue *vq);                                                       \
	void p##_free(struct virtqueue *vq);                                                      \
	void p##_reset(struct virtqueue *vq);                                                     \
	int p##_start(struct vq_buf *b);                                                          \
	void p##_add(struct vq_buf *b, uint64_t addr, uint32_t len, bool write);                  \
	void p##_publish(struct vq_buf *b);                                                       \
	int p##_add_single(struct virtqueue *vq, void *buf, uint32_t len, enum vq_dir dir,        \
			   void *token);                                                          \
	int p##_add_bufs(struct virtqueue *vq, const struct vq_single *bufs, unsigned n);         \
	void p##_add_chain(struct virtqueue *vq, const struct vq_chain *c);                       \
	void p##_rollback(struct vq_buf *b);                                                      \
	void *p##_get(struct virtqueue *vq, uint32_t *len);                                       \
	void *p##_get_buf(struct virtqueue *vq, uint32_t *len);                                   \
	unsigned p##_get_bufs(struct virtqueue *vq, void **tokens, uint32_t *lens, unsigned max); \
	bool p##_more_used(struct virtqueue *vq);                                                 \
	bool p##_kick_prepare(struct virtqueue *vq);                                              \
	void p##_disable_cb(struct virtqueue *vq);                                                \
	unsigned p##_enable_cb_prepare(struct virtqueue *vq);                                     \
	bool p##_enable_cb_delayed(struct virtqueue *vq);                                         \
	bool p##_poll(struct virtqueue *vq, unsigned last);                                       \
	void *p##_detach_unused(struct virtqueue *vq);                                            \
	uint32_t p##_notification_data(const struct virtqueue *vq);                               \
	void p##_ring_addrs(const struct virtqueue *vq, struct vq_ring_addrs *a)

#define VQ_LAYOUT_OPS(p)                                                                        \
	{                                                                                       \
		.valid_num = p##_valid_num, .init = p##_init, .free = p##_free,                 \
		.reset = p##_reset, .start = p##_start, .add = p##_add, .publish = p##_publish, \
		.add_single = p##_add_single, .add_bufs = p##_add_bufs,                         \
		.add_chain = p##_add_chain, .rollback = p##_rollback, .get = p##_get,           \
		.get_buf = p##_get_buf, .get_bufs = p##_get_bufs, .more_used = p##_more_used,   \
		.kick_prepare = p##_kick_prepare, .disable_cb = p##_disable_cb,                 \
		.enable_cb_prepare = p##_enable_cb_prepare,                                     \
		.enable_cb_delayed = p##_enable_cb_delayed, .poll = p##_poll,                   \
		.detach_unused = p##_detach_unused, .notification_data = p##_notification_data, \
		.ring_addrs = p##_ring_addrs,                                                   \
	}

VQ_DECLARE_LAYOUT(vq_split);
VQ_DECLARE_LAYOUT(vq_packed);

static const struct virtqueue_ops vq_ops[2] = {
	[VQ_SPLIT] = VQ_LAYOUT_OPS(vq_split),
	[VQ_PACKED] = VQ_LAYOUT_OPS(vq_packed),
};

/*
 * VQ_CALL - call the layout's op. A switch over constant table entries:
 * each case compiles to a direct call.
 */
#define VQ_CALL(vq, op, ...)                                           \
	((vq)->layout == VQ_PACKED ? vq_ops[VQ_PACKED].op(__VA_ARGS__) \
				   : vq_ops[VQ_SPLIT].op(__VA_ARGS__))

#endif
