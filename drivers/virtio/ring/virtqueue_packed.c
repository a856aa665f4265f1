/*
 * Packed virtqueue layout (VIRTIO 1.2 section 2.8): one descriptor ring
 * shared by driver and device, availability and use told apart by the
 * AVAIL/USED flag bits against each side's wrap counter (2.8.1), plus two
 * event suppression structures (2.8.10). A piecewise buffer's descriptors
 * are staged in vq->extra by ring slot and written on publish, so an
 * abandoned buffer leaves the ring untouched; a whole buffer (add_single,
 * add_chain: checked before, it cannot fail) is written straight into the
 * ring. Either way the first descriptor's flags are written last.
 *
 * Buffer ids: without IN_ORDER, a free-id list threaded through state[].link.
 * With IN_ORDER a buffer's id is the ring slot of its first descriptor: the
 * device uses buffers in the order they were made available, so the ids of
 * the outstanding buffers are the heads of the chains from last_used on, and
 * the buffers an in-order batch stands for are found by walking those chains
 * (no list of ids in publication order, no search for the named one).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtio/virtio_dma.h>

#include "virtqueue_internal.h"

#define F_AVAIL	 (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED	 (1u << VRING_PACKED_DESC_F_USED)
#define WRAP_BIT (1u << VRING_PACKED_EVENT_F_WRAP_CTR)

/* Flag bits that make a descriptor available in the lap with this wrap counter. */
static inline uint16_t avail_bits(uint16_t wrap)
{
	return wrap ? F_AVAIL : F_USED;
}

/* A descriptor is used when AVAIL == USED == the device's wrap counter for that lap. */
static inline bool desc_is_used(uint16_t flags, uint16_t wrap)
{
	return (flags & (F_AVAIL | F_USED)) == (wrap ? F_AVAIL | F_USED : 0);
}

/*
 * The wrap counters change here only, with their flag bits: the per-buffer
 * paths read the bits (a compare, an or) instead of deriving them each time.
 */
static inline void set_avail_wrap(struct vq_packed *p, uint16_t wrap)
{
	p->avail_wrap = wrap;
	p->avail_bits = avail_bits(wrap);
}

static inline void set_used_wrap(struct vq_packed *p, uint16_t wrap)
{
	p->used_wrap = wrap;
	p->used_bits = (uint16_t)(wrap ? F_AVAIL | F_USED : 0);
}

bool vq_packed_valid_num(uint32_t num)
{
	return num >= 1 && num <= VRING_PACKED_MAX;
}

static size_t event_offset(const struct virtqueue *vq)
{
	return (size_t)vq->num * sizeof(struct vring_packed_desc);
}

/*
 * The device's event structure on a line of its own: the device writes it
 * when it waits for a kick, the driver writes its own at every interrupt it
 * asks for; on one line, each write would take the line from the other side.
 */
static size_t device_event_offset(const struct virtqueue *vq)
{
	return VQ_LINE_UP(event_offset(vq) + sizeof(struct vring_packed_desc_event));
}

void vq_packed_reset(struct virtqueue *vq)
{
	struct vq_packed *p = &vq->packed;

	memset(vq->ring_mem, 0, vq->ring_mem_size);
	memset(vq->state, 0, vq->num * sizeof(*vq->state));
	memset(vq->extra, 0, vq->num * sizeof(*vq->extra));
	for (uint32_t i = 0; i < vq->num; i++)
		vq->state[i].link = (uint16_t)(i + 1); /* free buffer ids, in order */
	p->free_id = 0;
	p->next_avail = 0;
	set_avail_wrap(p, 1); /* 2.8.1: both wrap counters start at 1 */
	p->last_used = 0;
	set_used_wrap(p, 1);
	p->batch_head = 0;
	p->event_flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	vq->num_free = vq->num;
}

int vq_packed_init(struct virtqueue *vq)
{
	struct vq_packed *p = &vq->packed;
	uint8_t *mem;

	vq->ring_mem_size =
		VQ_LINE_UP(device_event_offset(vq) + sizeof(struct vring_packed_desc_event));
	mem = vq->ring_mem = virtio_dma_alloc(vq->ring_mem_size, VQ_CACHE_LINE);
	if (!mem)
		return -ENOMEM;
	p->desc = (struct vring_packed_desc *)mem;
	p->driver = (struct vring_packed_desc_event *)(mem + event_offset(vq));
	p->device = (struct vring_packed_desc_event *)(mem + device_event_offset(vq));
	vq_packed_reset(vq);
	return 0;
}

void vq_packed_free(struct virtqueue *vq)
{
	if (vq->ring_mem)
		virtio_dma_free(vq->ring_mem, vq->ring_mem_size);
	vq->ring_mem = NULL;
}

int vq_packed_start(struct vq_buf *b)
{
	struct virtqueue *vq = b->vq;

	if (vq->num_free < (b->indirect ? 1u : b->nents))
		return -ENOSPC;
	/* Outstanding buffers < num whenever a descriptor is free: an id is free too. */
	b->id = vq->in_order ? vq->packed.next_avail : vq->packed.free_id;
	b->pos = b->indirect ? 0 : vq->packed.next_avail;
	b->ndesc = 0;
	return 0;
}

void vq_packed_add(struct vq_buf *b, uint64_t addr, uint32_t len, bool write)
{
	struct virtqueue *vq = b->vq;
	uint16_t flags = write ? VRING_DESC_F_WRITE : 0;

	if (b->indirect) {
		/* 2.8.7: table entries are sequential; only the WRITE flag is used. */
		struct vring_packed_desc *t = vq_table(vq, b->table);

		t[b->pos++] = (struct vring_packed_desc){cpu_to_le64(addr), cpu_to_le32(len), 0,
							 cpu_to_le16(flags)};
		return;
	}
	vq->extra[b->pos] = (struct vq_desc_extra){.addr = addr, .len = len, .flags = flags};
	b->pos = (uint16_t)(b->pos + 1u == vq->num ? 0 : b->pos + 1u);
	b->ndesc++;
}

void vq_packed_rollback(struct vq_buf *b)
{
	/* The id was not taken and the ring was not written: nothing to undo. */
	(void)b;
}

/* Where the next descriptor of a chain goes: its slot and that lap's wrap counter. */
struct chain_at {
	uint16_t slot, wrap;
	uint16_t head_flags; /* the first descriptor's, written last */
};

/*
 * Write the k-th descriptor of a chain of n at `at` and step past it. The
 * first one's flags are kept in at->head_flags, not written: they hand the
 * whole chain over, last (make_available).
 */
static void put_desc(struct virtqueue *vq, struct chain_at *at, uint32_t k, uint32_t n,
		     uint64_t addr, uint32_t len, uint16_t flags, uint16_t id)
{
	struct vring_packed_desc *d = &vq->packed.desc[at->slot];

	flags |= avail_bits(at->wrap);
	if (k + 1 < n)
		flags |= VRING_DESC_F_NEXT;
	d->addr = cpu_to_le64(addr);
	d->len = cpu_to_le32(len);
	d->id = cpu_to_le16(id); /* 2.8.6: the id goes with the chain */
	if (k == 0)
		at->head_flags = flags;
	else
		VQ_WRITE_ONCE(d->flags, cpu_to_le16(flags));
	if (++at->slot == vq->num) {
		at->slot = 0;
		at->wrap ^= 1;
	}
}

/* Record the buffer, then its first descriptor's flags: the device may take it from there. */
VQ_HOT(packed)
static void make_available(struct virtqueue *vq, uint16_t id, const struct chain_at *at,
			   struct vq_desc_state st)
{
	struct vq_packed *p = &vq->packed;
	uint16_t head = p->next_avail;

	vq->state[id] = st;
	p->next_avail = at->slot;
	set_avail_wrap(p, at->wrap);
	vq->num_free -= st.ndesc;
	vq->num_added += st.ndesc;
	/* Everything else about the chain before the flags that hand it over. */
	virt_wmb();
	VQ_WRITE_ONCE(p->desc[head].flags, cpu_to_le16(at->head_flags));
}

VQ_HOT(packed) void vq_packed_publish(struct vq_buf *b)
{
	struct virtqueue *vq = b->vq;
	struct vq_packed *p = &vq->packed;
	struct chain_at at = {.slot = p->next_avail, .wrap = p->avail_wrap};
	uint16_t id = b->id;

	if (!vq->in_order)
		p->free_id = vq->state[id].link;
	if (b->indirect) {
		vq->extra[at.slot] = (struct vq_desc_extra){
			.addr = virtio_dma_addr(vq_table(vq, b->table), (size_t)b->pos * 16),
			.len = (uint32_t)b->pos * 16,
			.flags = VRING_DESC_F_INDIRECT,
		};
		b->ndesc = 1;
	}
	for (uint16_t n = 0; n < b->ndesc; n++) {
		const struct vq_desc_extra *e = &vq->extra[at.slot];

		put_desc(vq, &at, n, b->ndesc, e->addr, e->len, e->flags, id);
	}
	make_available(vq, id, &at,
		       (struct vq_desc_state){.token = b->token,
					      .in_len = b->in_len,
					      .ndesc = b->ndesc,
					      .table = b->table});
}

/* All of virtqueue_add_buf_single: one descriptor straight into the ring. */
VQ_HOT(packed)
int vq_packed_add_single(struct virtqueue *vq, void *buf, uint32_t len, enum vq_dir dir,
			 void *token)
{
	struct vq_packed *p = &vq->packed;
	int rc = vq_add_single_check(vq, len, dir, token);
	uint16_t head, id, flags;
	struct vring_packed_desc *d;

	if (rc)
		return rc;
	head = id = p->next_avail;
	d = &p->desc[head];
	/* A descriptor is free: so is an id. */
	if (!vq->in_order) {
		id = p->free_id;
		p->free_id = vq->state[id].link;
	}
	flags = p->avail_bits | (dir == VQ_IN ? VRING_DESC_F_WRITE : 0);
	d->addr = cpu_to_le64(virtio_dma_addr(buf, len));
	d->len = cpu_to_le32(len);
	d->id = cpu_to_le16(id);
	/* Field by field: link is the free list's (this id is off it), seq split's. */
	vq->state[id].token = token;
	vq->state[id].in_len = dir == VQ_IN ? len : 0;
	vq->state[id].ndesc = 1;
	vq->state[id].table = VQ_NO_TABLE;
	if (++head == vq->num) {
		head = 0;
		set_avail_wrap(p, p->avail_wrap ^ 1);
	}
	p->next_avail = head;
	vq->num_free--;
	/* Address, length and id before the flags that hand the descriptor over. */
	virt_wmb();
	VQ_WRITE_ONCE(d->flags, cpu_to_le16(flags));
	vq->num_added++;
	vq_added_n(vq, 1);
	return 0;
}

/*
 * All of virtqueue_add_bufs: each buffer one descriptor straight into the
 * ring, as add_single writes it, but the first one's flags last, after the
 * others' (as within a chain): the device, which takes descriptors in ring
 * order, finds the whole burst there at once and reads its lines once. It
 * cannot look at a later slot before the first one is available, so the
 * one barrier before that write orders all of them.
 */
VQ_HOT(packed)
int vq_packed_add_bufs(struct virtqueue *vq, const struct vq_single *bufs, unsigned n)
{
	struct vq_packed *p = &vq->packed;
	uint16_t first = p->next_avail, slot = first, wrap = p->avail_wrap, head_flags = 0;
	int cnt = vq_add_bufs_check(vq, bufs, n);

	if (cnt <= 0)
		return cnt;
	/*
	 * The ring and the driver's state through locals: a store through one
	 * of them could otherwise be the vq field the next entry reads.
	 */
	struct vring_packed_desc *desc = p->desc;
	struct vq_desc_state *state = vq->state;
	uint16_t num = (uint16_t)vq->num, free_id = p->free_id, avail = avail_bits(wrap);
	bool in_order = vq->in_order;

	for (int k = 0; k < cnt; k++) {
		const struct vq_single *b = &bufs[k];
		uint16_t id = in_order ? slot : free_id;
		bool write = b->dir == VQ_IN;
		uint16_t flags = (write ? VRING_DESC_F_WRITE : 0) | avail;
		struct vring_packed_desc *d = &desc[slot];

		/* cnt <= free descriptors: an id is free for each. */
		if (!in_order)
			free_id = state[id].link;
		d->addr = cpu_to_le64(virtio_dma_addr(b->addr, b->len));
		d->len = cpu_to_le32(b->len);
		d->id = cpu_to_le16(id);
		state[id].token = b->token; /* as add_single writes it */
		state[id].in_len = write ? b->len : 0;
		state[id].ndesc = 1;
		state[id].table = VQ_NO_TABLE;
		if (k == 0)
			head_flags = flags;
		else
			VQ_WRITE_ONCE(d->flags, cpu_to_le16(flags));
		if (++slot == num) {
			slot = 0;
			wrap ^= 1;
			avail = avail_bits(wrap);
		}
	}
	p->free_id = free_id;
	p->next_avail = slot;
	set_avail_wrap(p, wrap);
	vq->num_free -= (uint32_t)cnt;
	vq->num_added += (uint32_t)cnt;
	/* Every descriptor of the burst before the flags that hand it over. */
	virt_wmb();
	VQ_WRITE_ONCE(p->desc[first].flags, cpu_to_le16(head_flags));
	vq_added_n(vq, (uint32_t)cnt);
	return cnt;
}

/* A whole checked buffer (add_sgs): straight into the ring or its indirect table. */
VQ_HOT(packed) void vq_packed_add_chain(struct virtqueue *vq, const struct vq_chain *c)
{
	struct vq_packed *p = &vq->packed;
	struct chain_at at = {.slot = p->next_avail, .wrap = p->avail_wrap};
	uint16_t id = vq->in_order ? p->next_avail : p->free_id;
	uint32_t n = c->nout + c->nin;
	struct vq_chain_pos pos;

	vq_chain_begin(&pos, c);
	/* The core checked the descriptors are free: so is an id. */
	if (!vq->in_order)
		p->free_id = vq->state[id].link;
	if (c->table != VQ_NO_TABLE) {
		/* 2.8.7: table entries are sequential; only the WRITE flag is used. */
		struct vring_packed_desc *t = vq_table(vq, c->table);

		for (uint32_t k = 0; k < n; k++) {
			const struct sg_entry *e = vq_chain_next(&pos);

			t[k] = (struct vring_packed_desc){
				cpu_to_le64(virtio_dma_addr(e->addr, e->len)), cpu_to_le32(e->len),
				0, cpu_to_le16(pos.write ? VRING_DESC_F_WRITE : 0)};
		}
		put_desc(vq, &at, 0, 1, virtio_dma_addr(t, (size_t)n * 16), n * 16,
			 VRING_DESC_F_INDIRECT, id);
		n = 1;
	} else {
		for (uint32_t k = 0; k < n; k++) {
			const struct sg_entry *e = vq_chain_next(&pos);

			put_desc(vq, &at, k, n, virtio_dma_addr(e->addr, e->len), e->len,
				 pos.write ? VRING_DESC_F_WRITE : 0, id);
		}
	}
	make_available(vq, id, &at,
		       (struct vq_desc_state){.token = c->token,
					      .in_len = c->in_len,
					      .ndesc = (uint16_t)n,
					      .table = c->table});
}

/*
 * Forget buffer id: its descriptors are free, its indirect table (if any)
 * too. in_order is vq->in_order (a constant where the caller's instance is
 * one order's).
 */
static inline __attribute__((always_inline)) void *detach(struct virtqueue *vq, uint16_t id,
							  const bool in_order)
{
	struct vq_packed *p = &vq->packed;
	struct vq_desc_state *st = &vq->state[id];
	void *token = st->token;

	vq->num_free += st->ndesc;
	if (st->table != VQ_NO_TABLE)
		vq_table_put(vq, st->table);
	/* Free: no token (the rest is not read again until an add rewrites it). */
	st->token = NULL;
	if (!in_order) {
		st->link = p->free_id;
		p->free_id = id;
	}
	return token;
}

static void advance_used(struct virtqueue *vq, uint32_t ndesc)
{
	struct vq_packed *p = &vq->packed;
	uint32_t next = p->last_used + ndesc;

	if (next >= vq->num) {
		next -= vq->num;
		set_used_wrap(p, p->used_wrap ^ 1);
	}
	p->last_used = (uint16_t)next;
}

/*
 * After consuming `consumed` descriptors, move the interrupt event (flags
 * DESC: EVENT_IDX, callbacks on) to where we are, unless enable_cb_delayed
 * placed it further ahead and we have not reached it yet: pulling it back
 * behind the device would lose the interrupt the driver is waiting for.
 * Only enable_cb_delayed sets a delay, with the flags at DESC, and
 * disable_cb clears it: with other flags there is nothing to do.
 */
static void update_used_event(struct virtqueue *vq, uint32_t consumed)
{
	struct vq_packed *p = &vq->packed;

	if (p->event_flags != VRING_PACKED_EVENT_FLAG_DESC)
		return;
	if (vq_event_delayed(vq, consumed))
		return;
	VQ_WRITE_ONCE(p->driver->off_wrap,
		      cpu_to_le16(p->last_used | (p->used_wrap ? WRAP_BIT : 0)));
	virt_mb();
}

/* The next buffer of an in-order batch: all but the last count as wholly written. */
static inline __attribute__((always_inline)) void *batch_next(struct virtqueue *vq, uint32_t *len)
{
	struct vq_packed *p = &vq->packed;
	uint16_t id = p->batch_head;
	uint32_t next = id + vq->state[id].ndesc;

	p->batch_head = (uint16_t)(next >= vq->num ? next - vq->num : next);
	if (id == vq->batch.last_id) {
		vq->batch.left = 0;
		*len = vq->batch.last_len;
	} else {
		*len = vq->state[id].in_len;
	}
	return detach(vq, id, true);
}

/*
 * The ring part of get_buf: the next used buffer, every id and length
 * checked. Adds the descriptors it consumed to *consumed: the caller moves
 * the interrupt event (update_used_event) once, after its last one.
 * Instances of one text: get_fast (fast: no call anywhere; a bad device,
 * or an in-order batch to start, is VQ_GET_SLOW before anything is
 * changed), one per order (in_order a constant: an any-order queue has no
 * batch to look for), and get_general (reports the bad device, starts the
 * batch; in_order read from the queue). All run every check.
 */
static inline __attribute__((always_inline)) enum vq_get_fast
get_step(struct virtqueue *vq, void **token, uint32_t *len, uint32_t *consumed, const bool fast,
	 const bool in_order)
{
	struct vq_packed *p = &vq->packed;
	const struct vring_packed_desc *d;
	uint16_t flags, id, last = p->last_used;
	uint32_t l;

	if (in_order && vq->batch.left > 0) {
		*token = batch_next(vq, len);
		return VQ_GET_TAKEN;
	}

	d = &p->desc[last];
	flags = le16_to_cpu(VQ_READ_ONCE(d->flags));
	if ((flags & (F_AVAIL | F_USED)) != p->used_bits) /* desc_is_used() */
		return VQ_GET_NONE;
	/* Read id and length only after seeing the flags that cover them. */
	virt_rmb();
	id = le16_to_cpu(VQ_READ_ONCE(d->id));
	l = le32_to_cpu(VQ_READ_ONCE(d->len));
	if (id >= vq->num || !vq->state[id].token) {
		if (fast)
			return VQ_GET_SLOW;
		vq_bad_device(vq, vq->num_free == vq->num
					  ? "used descriptor while no buffer is outstanding"
					  : "used buffer id is not outstanding");
		return VQ_GET_NONE;
	}
	/*
	 * 2.8 "Element Address and Length": without WRITE the length is
	 * reserved. QEMU (7.2) never sets WRITE in used descriptors and Linux
	 * reads the length anyway, so: ignore it only for a buffer the device
	 * could not write into; otherwise use it, bounded as always.
	 */
	if (!(flags & VRING_DESC_F_WRITE) && vq->state[id].in_len == 0)
		l = 0;
	if (l > vq->state[id].in_len) {
		if (fast)
			return VQ_GET_SLOW;
		vq_bad_device(vq, "used length larger than the buffer's writable part");
		return VQ_GET_NONE;
	}
	if (in_order && id != last) {
		if (fast)
			return VQ_GET_SLOW; /* a batch starts: rare enough to leave */
		/*
		 * 2.8.9: one used descriptor may stand for every buffer from
		 * last_used up to the named one, which the device skips. The
		 * named buffer is outstanding, so its id, a head slot, lies
		 * among the outstanding chains from last_used on: the batch is
		 * those chains up to and including it, in ring order. (Named
		 * at last_used, it is a batch of one: taken as in any order.)
		 */
		uint32_t ndesc = (uint32_t)id + vq->state[id].ndesc - last;

		if (id < last)
			ndesc += vq->num; /* the batch wraps past the ring's end */

		p->batch_head = last;
		advance_used(vq, ndesc);
		*consumed += ndesc;
		vq->batch = (struct vq_batch){.left = 1, .last_id = id, .last_len = l};
		*token = batch_next(vq, len);
		return VQ_GET_TAKEN;
	}
	advance_used(vq, vq->state[id].ndesc);
	*consumed += vq->state[id].ndesc;
	*len = l;
	*token = detach(vq, id, in_order);
	return VQ_GET_TAKEN;
}

static inline __attribute__((always_inline)) enum vq_get_fast
get_fast(struct virtqueue *vq, void **token, uint32_t *len, uint32_t *consumed)
{
	/* The order decided once per buffer, not at each of its uses. */
	if (vq->in_order)
		return get_step(vq, token, len, consumed, true, true);
	return get_step(vq, token, len, consumed, true, false);
}

/* get_step's general instance: the buffer, or NULL (none used, or a bad device). */
VQ_HOT(packed_used)
static __attribute__((noinline)) void *get_general(struct virtqueue *vq, uint32_t *len,
						   uint32_t *consumed)
{
	void *token;

	return get_step(vq, &token, len, consumed, false, vq->in_order) == VQ_GET_TAKEN ? token
											: NULL;
}

void *vq_packed_get(struct virtqueue *vq, uint32_t *len)
{
	return vq_get_ring(vq, len, get_general, update_used_event);
}

/* get_buf past the fast path: an in-order batch starting, a bad device. */
VQ_HOT(packed_used)
static __attribute__((noinline)) void *get_buf_slow(struct virtqueue *vq, uint32_t *len)
{
	return vq_get_buf_general(vq, len, get_general, update_used_event);
}

/* All of virtqueue_get_buf. */
VQ_HOT(packed_used) void *vq_packed_get_buf(struct virtqueue *vq, uint32_t *len)
{
	return vq_get_buf_one(vq, len, get_fast, get_buf_slow, update_used_event);
}

/*
 * get_bufs is about to read up to max used descriptors in ring order, four
 * to a line, each line written by the device: ask for the lines after the
 * first at once (VQ_PREFETCH_USED slots at most, none the device was not
 * given), so their transfers overlap instead of each waiting for the one
 * before (ring 256, bursts of 8/32: 0.87/0.76 of the time; PROFILE.md in
 * bench/ring, round 6). Not with IN_ORDER: a device may then write one used
 * descriptor per batch, and the lines between are the driver's own. Only
 * ring memory is touched, and only read. Always inline: GCC counts a
 * function whose only effect is a prefetch as one without effects, and
 * may delete calls to it.
 */
static inline __attribute__((always_inline)) void prefetch_used(const struct virtqueue *vq,
								unsigned max)
{
	const struct vq_packed *p = &vq->packed;
	uint32_t out = vq->num - vq->num_free, ahead = MIN_U32(MIN_U32(max, out), VQ_PREFETCH_USED);
	uint32_t slot = (p->last_used | (VQ_DESCS_PER_LINE - 1u)) + 1u;

	if (vq->in_order)
		return;
	for (uint32_t end = p->last_used + ahead; slot < end; slot += VQ_DESCS_PER_LINE)
		__builtin_prefetch(&p->desc[slot < vq->num ? slot : slot - vq->num]);
}

/* All of virtqueue_get_bufs: get_buf's loop, the event moved once at the end. */
VQ_HOT(packed_used)
unsigned vq_packed_get_bufs(struct virtqueue *vq, void **tokens, uint32_t *lens, unsigned max)
{
	prefetch_used(vq, max);
	return vq_get_bufs_loop(vq, tokens, lens, max, get_fast, get_general, update_used_event);
}

VQ_HOT(packed_used) bool vq_packed_more_used(struct virtqueue *vq)
{
	struct vq_packed *p = &vq->packed;

	return vq->batch.left > 0 ||
	       desc_is_used(le16_to_cpu(VQ_READ_ONCE(p->desc[p->last_used].flags)), p->used_wrap);
}

VQ_HOT(packed) bool vq_packed_kick_prepare(struct virtqueue *vq)
{
	struct vq_packed *p = &vq->packed;
	uint16_t new_idx = p->next_avail, old_idx = (uint16_t)(new_idx - vq->num_added);
	uint16_t off_wrap, flags, event;

	/* Our descriptor writes must be visible before we read the device's wishes. */
	virt_mb();
	off_wrap = le16_to_cpu(VQ_READ_ONCE(p->device->off_wrap));
	flags = le16_to_cpu(VQ_READ_ONCE(p->device->flags)) & 3;
	if (flags != VRING_PACKED_EVENT_FLAG_DESC)
		return flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	/* 2.8.10: an event in the previous lap counts from there. */
	event = off_wrap & (uint16_t)~WRAP_BIT;
	if (!!(off_wrap & WRAP_BIT) != !!p->avail_wrap)
		event = (uint16_t)(event - vq->num);
	return vring_need_event(event, new_idx, old_idx);
}

VQ_HOT(packed_used) void vq_packed_disable_cb(struct virtqueue *vq)
{
	struct vq_packed *p = &vq->packed;

	vq->event_delay = 0;
	if (p->event_flags != VRING_PACKED_EVENT_FLAG_DISABLE) {
		p->event_flags = VRING_PACKED_EVENT_FLAG_DISABLE;
		VQ_WRITE_ONCE(p->driver->flags, cpu_to_le16(p->event_flags));
	}
}

static void enable_flags(struct virtqueue *vq)
{
	struct vq_packed *p = &vq->packed;
	uint16_t want =
		vq->event_idx ? VRING_PACKED_EVENT_FLAG_DESC : VRING_PACKED_EVENT_FLAG_ENABLE;

	if (p->event_flags != want) {
		p->event_flags = want;
		VQ_WRITE_ONCE(p->driver->flags, cpu_to_le16(want));
	}
}

VQ_HOT(packed_used) unsigned vq_packed_enable_cb_prepare(struct virtqueue *vq)
{
	struct vq_packed *p = &vq->packed;
	uint16_t off_wrap = p->last_used | (p->used_wrap ? WRAP_BIT : 0);

	vq->event_delay = 0;
	if (vq->event_idx) {
		VQ_WRITE_ONCE(p->driver->off_wrap, cpu_to_le16(off_wrap));
		virt_wmb(); /* the event before the flags that make it count */
	}
	enable_flags(vq);
	return off_wrap;
}

VQ_HOT(packed_used) bool vq_packed_poll(struct virtqueue *vq, unsigned last)
{
	struct vq_packed *p = &vq->packed;
	uint16_t off = (uint16_t)(last & ~WRAP_BIT), wrap = !!(last & WRAP_BIT);

	virt_mb();
	if (off >= vq->num)
		return false;
	return desc_is_used(le16_to_cpu(VQ_READ_ONCE(p->desc[off].flags)), wrap);
}

bool vq_packed_enable_cb_delayed(struct virtqueue *vq)
{
	struct vq_packed *p = &vq->packed;

	if (vq->event_idx) {
		uint32_t bufs = (vq->num - vq->num_free) * 3 / 4, idx = p->last_used + bufs;
		uint16_t wrap = p->used_wrap;

		if (idx >= vq->num) {
			idx -= vq->num;
			wrap ^= 1;
		}
		VQ_WRITE_ONCE(p->driver->off_wrap,
			      cpu_to_le16((uint16_t)idx | (wrap ? WRAP_BIT : 0)));
		vq->event_delay = bufs;
		virt_wmb();
	}
	enable_flags(vq);
	virt_mb();
	/*
	 * Ring slots are not buffer boundaries, so "fewer than bufs used" cannot
	 * be read off the ring: report any pending used descriptor.
	 */
	return !vq_packed_more_used(vq);
}

void *vq_packed_detach_unused(struct virtqueue *vq)
{
	for (uint32_t i = 0; i < vq->num; i++)
		if (vq->state[i].token)
			return detach(vq, (uint16_t)i, vq->in_order);
	return NULL;
}

uint32_t vq_packed_notification_data(const struct virtqueue *vq)
{
	return vring_notification_data(vq->index, vq->packed.next_avail, vq->packed.avail_wrap);
}

void vq_packed_ring_addrs(const struct virtqueue *vq, struct vq_ring_addrs *a)
{
	a->desc = virtio_dma_addr(vq->packed.desc, event_offset(vq));
	a->driver = virtio_dma_addr(vq->packed.driver, sizeof(*vq->packed.driver));
	a->device = virtio_dma_addr(vq->packed.device, sizeof(*vq->packed.device));
}
