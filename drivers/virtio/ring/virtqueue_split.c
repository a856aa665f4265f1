/*
 * Split virtqueue layout (VIRTIO 1.2 section 2.7): descriptor table,
 * available ring, used ring. A piecewise buffer's descriptors are staged in
 * the driver's shadow (vq->extra) and copied to the table when it is
 * published, so an abandoned buffer leaves the ring memory untouched; a
 * whole buffer (add_single, add_chain: checked before, it cannot fail) is
 * written straight into the table. With IN_ORDER the free
 * list is kept in ring order (freed chains go to its tail), as 2.7.5
 * requires of the driver.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtio/virtio_dma.h>

#include "virtqueue_internal.h"

static inline uint16_t mask(const struct virtqueue *vq, uint16_t idx)
{
	return idx & (uint16_t)(vq->num - 1);
}

bool vq_split_valid_num(uint32_t num)
{
	return num >= 1 && num <= VRING_SPLIT_MAX && !(num & (num - 1));
}

/*
 * Legacy (ring_align 4096, 2.7.2): the used ring on the next page. Modern:
 * anywhere 4-aligned (2.7), so on a line of its own, not on the one that
 * ends the avail ring: the device writes used->idx at every batch, the
 * driver writes used_event there at every interrupt it asks for.
 */
static size_t used_offset(const struct virtqueue *vq)
{
	size_t off = vring_desc_size(vq->num) + vring_avail_size(vq->num);
	size_t align = vq->ring_align < VQ_CACHE_LINE ? VQ_CACHE_LINE : vq->ring_align;

	return (off + align - 1) & ~(align - 1);
}

void vq_split_reset(struct virtqueue *vq)
{
	struct vq_split *s = &vq->split;

	memset(vq->ring_mem, 0, vq->ring_mem_size);
	memset(vq->state, 0, vq->num * sizeof(*vq->state));
	for (uint32_t i = 0; i < vq->num; i++)
		vq->extra[i] = (struct vq_desc_extra){.next = (uint16_t)((i + 1) % vq->num)};
	s->free_head = 0;
	s->free_tail = (uint16_t)(vq->num - 1);
	s->avail_idx = 0;
	s->avail_flags = 0;
	/* The shadow mirrors the avail ring as we wrote it: zeros, like the ring. */
	memset(s->avail_shadow, 0, vq->num * sizeof(*s->avail_shadow));
	s->last_used = 0;
	s->used_seen = 0;
	s->copy_n = 0;
	vq->num_free = vq->num;
}

int vq_split_init(struct virtqueue *vq)
{
	struct vq_split *s = &vq->split;
	size_t align = vq->ring_align > VQ_CACHE_LINE ? vq->ring_align : VQ_CACHE_LINE;
	uint8_t *mem;

	vq->ring_mem_size = VQ_LINE_UP(used_offset(vq) + vring_used_size(vq->num));
	mem = vq->ring_mem = virtio_dma_alloc(vq->ring_mem_size, align);
	s->avail_shadow = calloc(vq->num, sizeof(*s->avail_shadow));
	if (!mem || !s->avail_shadow)
		return -ENOMEM;
	s->desc = (struct vring_desc *)mem;
	s->avail = (struct vring_avail *)(mem + vring_desc_size(vq->num));
	s->used = (struct vring_used *)(mem + used_offset(vq));
	vq_split_reset(vq);
	return 0;
}

void vq_split_free(struct virtqueue *vq)
{
	if (vq->ring_mem)
		virtio_dma_free(vq->ring_mem, vq->ring_mem_size);
	free(vq->split.avail_shadow);
	vq->ring_mem = NULL;
	vq->split.avail_shadow = NULL;
}

VQ_HOT(split) int vq_split_start(struct vq_buf *b)
{
	struct virtqueue *vq = b->vq;

	if (vq->num_free < (b->indirect ? 1u : b->nents))
		return -ENOSPC;
	b->id = vq->split.free_head;
	b->pos = b->indirect ? 0 : b->id;
	b->ndesc = 0;
	return 0;
}

VQ_HOT(split) void vq_split_add(struct vq_buf *b, uint64_t addr, uint32_t len, bool write)
{
	struct virtqueue *vq = b->vq;
	uint16_t flags = write ? VRING_DESC_F_WRITE : 0;

	if (b->indirect) {
		struct vring_desc *t = vq_table(vq, b->table);

		t[b->pos] = (struct vring_desc){cpu_to_le64(addr), cpu_to_le32(len),
						cpu_to_le16(flags), cpu_to_le16(b->pos + 1)};
		if (b->pos > 0)
			t[b->pos - 1].flags |= cpu_to_le16(VRING_DESC_F_NEXT);
		b->pos++;
		return;
	}
	/* Free descriptors are chained by extra[].next: the chain follows the free list. */
	struct vq_desc_extra *e = &vq->extra[b->pos];

	e->addr = addr;
	e->len = len;
	e->flags = flags;
	if (b->ndesc > 0)
		vq->extra[b->prev].flags |= VRING_DESC_F_NEXT;
	b->prev = b->pos;
	b->pos = e->next;
	b->ndesc++;
}

void vq_split_rollback(struct vq_buf *b)
{
	/* Nothing left the free list and the ring was not written: nothing to undo. */
	(void)b;
}

/*
 * Head into avail ring slot, written only if the slot does not hold it from
 * the last lap (the shadow is what we wrote there; the device only reads the
 * ring). With IN_ORDER (and the same number of descriptors per buffer), or
 * a device that completes in order, every lap puts the same heads in the
 * same slots: the ring's lines are then never written again, so the device
 * reads them from its own cache instead of taking each line back from the
 * driver once per sweep. A device that wrote
 * into the ring reads its own writes back; what it returns is checked
 * against the driver's state, never the ring.
 */
static inline void put_avail(uint16_t *shadow, le16 *ring, uint16_t slot, uint16_t head)
{
	if (shadow[slot] != head) {
		shadow[slot] = head;
		ring[slot] = cpu_to_le16(head);
	}
}

/* Put the chain at head in the avail ring and publish the index. */
static inline __attribute__((always_inline)) void make_available(struct virtqueue *vq,
								 uint16_t head)
{
	struct vq_split *s = &vq->split;

	put_avail(s->avail_shadow, s->avail->ring, mask(vq, s->avail_idx), head);
	/* Descriptors and ring entry before the index that publishes them. */
	virt_wmb();
	s->avail_idx++;
	VQ_WRITE_ONCE(s->avail->idx, cpu_to_le16(s->avail_idx));
	vq->num_added++;
}

VQ_HOT(split) void vq_split_publish(struct vq_buf *b)
{
	struct virtqueue *vq = b->vq;
	struct vq_split *s = &vq->split;
	uint16_t head = b->id, last;

	if (b->indirect) {
		struct vq_desc_extra *e = &vq->extra[head];

		e->addr = virtio_dma_addr(vq_table(vq, b->table), (size_t)b->pos * 16);
		e->len = (uint32_t)b->pos * 16;
		e->flags = VRING_DESC_F_INDIRECT;
		b->ndesc = 1;
		b->prev = head;
		b->pos = e->next;
	}
	last = b->prev;
	for (uint16_t i = head, n = 0; n < b->ndesc; i = vq->extra[i].next, n++) {
		const struct vq_desc_extra *e = &vq->extra[i];

		s->desc[i] = (struct vring_desc){cpu_to_le64(e->addr), cpu_to_le32(e->len),
						 cpu_to_le16(e->flags), cpu_to_le16(e->next)};
	}
	s->free_head = b->pos;
	vq->num_free -= b->ndesc;
	vq->state[head] = (struct vq_desc_state){.token = b->token,
						 .in_len = b->in_len,
						 .ndesc = b->ndesc,
						 .link = last,
						 .table = b->table,
						 .seq = s->avail_idx};

	make_available(vq, head);
}

/* All of virtqueue_add_buf_single: one descriptor straight into the table. */
VQ_HOT(split)
int vq_split_add_single(struct virtqueue *vq, void *buf, uint32_t len, enum vq_dir dir, void *token)
{
	struct vq_split *s = &vq->split;
	uint16_t head = s->free_head, next = vq->extra[head].next;
	bool write = dir == VQ_IN;
	int rc = vq_add_single_check(vq, len, dir, token);

	if (rc)
		return rc;
	/* A descriptor is free: head is on the free list. */
	s->desc[head] =
		(struct vring_desc){cpu_to_le64(virtio_dma_addr(buf, len)), cpu_to_le32(len),
				    cpu_to_le16(write ? VRING_DESC_F_WRITE : 0), cpu_to_le16(next)};
	s->free_head = next;
	vq->num_free--;
	vq->state[head] = (struct vq_desc_state){.token = token,
						 .in_len = write ? len : 0,
						 .ndesc = 1,
						 .link = head,
						 .table = VQ_NO_TABLE,
						 .seq = s->avail_idx};
	make_available(vq, head);
	vq_added_n(vq, 1);
	return 0;
}

/*
 * All of virtqueue_add_bufs: each buffer one descriptor, as add_single
 * writes it, and the avail index stored once for the burst, after every
 * descriptor and ring entry of it.
 */
VQ_HOT(split) int vq_split_add_bufs(struct virtqueue *vq, const struct vq_single *bufs, unsigned n)
{
	struct vq_split *s = &vq->split;
	uint16_t head = s->free_head, idx = s->avail_idx;
	int cnt = vq_add_bufs_check(vq, bufs, n);

	if (cnt <= 0)
		return cnt;
	/*
	 * The ring and the driver's arrays through locals: a store through
	 * one of them could otherwise be the vq field the next entry reads.
	 * cnt <= free descriptors: the free list holds them.
	 */
	struct vring_desc *desc = s->desc;
	struct vq_desc_state *state = vq->state;
	const struct vq_desc_extra *extra = vq->extra;
	uint16_t *shadow = s->avail_shadow, *ring = s->avail->ring, m = (uint16_t)(vq->num - 1);

	for (int k = 0; k < cnt; k++, idx++) {
		const struct vq_single *b = &bufs[k];
		uint16_t next = extra[head].next, slot = idx & m;
		bool write = b->dir == VQ_IN;

		desc[head] = (struct vring_desc){
			cpu_to_le64(virtio_dma_addr(b->addr, b->len)), cpu_to_le32(b->len),
			cpu_to_le16(write ? VRING_DESC_F_WRITE : 0), cpu_to_le16(next)};
		state[head] = (struct vq_desc_state){.token = b->token,
						     .in_len = write ? b->len : 0,
						     .ndesc = 1,
						     .link = head,
						     .table = VQ_NO_TABLE,
						     .seq = idx};
		put_avail(shadow, ring, slot, head);
		head = next;
	}
	s->free_head = head;
	vq->num_free -= (uint32_t)cnt;
	vq->num_added += (uint32_t)cnt;
	s->avail_idx = idx;
	/* Descriptors and ring entries before the index that publishes them. */
	virt_wmb();
	VQ_WRITE_ONCE(s->avail->idx, cpu_to_le16(idx));
	vq_added_n(vq, (uint32_t)cnt);
	return cnt;
}

/* A whole checked buffer (add_sgs): straight into the table, chained along the free list. */
VQ_HOT(split) void vq_split_add_chain(struct virtqueue *vq, const struct vq_chain *c)
{
	struct vq_split *s = &vq->split;
	uint16_t head = s->free_head, i = head, last = head, ndesc;
	uint32_t n = c->nout + c->nin;
	struct vq_chain_pos pos;

	vq_chain_begin(&pos, c);
	if (c->table != VQ_NO_TABLE) {
		struct vring_desc *t = vq_table(vq, c->table);

		for (uint32_t k = 0; k < n; k++) {
			const struct sg_entry *e = vq_chain_next(&pos);
			uint16_t flags = pos.write ? VRING_DESC_F_WRITE : 0;

			if (k + 1 < n)
				flags |= VRING_DESC_F_NEXT;
			t[k] = (struct vring_desc){cpu_to_le64(virtio_dma_addr(e->addr, e->len)),
						   cpu_to_le32(e->len), cpu_to_le16(flags),
						   cpu_to_le16((uint16_t)(k + 1))};
		}
		i = vq->extra[head].next;
		s->desc[head] = (struct vring_desc){
			cpu_to_le64(virtio_dma_addr(t, (size_t)n * 16)), cpu_to_le32(n * 16),
			cpu_to_le16(VRING_DESC_F_INDIRECT), cpu_to_le16(i)};
		ndesc = 1;
	} else {
		/* The core checked n descriptors are free: the free list holds them. */
		for (uint32_t k = 0; k < n; k++) {
			const struct sg_entry *e = vq_chain_next(&pos);
			uint16_t next = vq->extra[i].next;
			uint16_t flags = pos.write ? VRING_DESC_F_WRITE : 0;

			if (k + 1 < n)
				flags |= VRING_DESC_F_NEXT;
			s->desc[i] = (struct vring_desc){
				cpu_to_le64(virtio_dma_addr(e->addr, e->len)), cpu_to_le32(e->len),
				cpu_to_le16(flags), cpu_to_le16(next)};
			last = i;
			i = next;
		}
		ndesc = (uint16_t)n;
	}
	s->free_head = i;
	vq->num_free -= ndesc;
	vq->state[head] = (struct vq_desc_state){.token = c->token,
						 .in_len = c->in_len,
						 .ndesc = ndesc,
						 .link = last,
						 .table = c->table,
						 .seq = s->avail_idx};
	make_available(vq, head);
}

/* Return the chain at head to the free list and forget the buffer. */
static inline __attribute__((always_inline)) void *detach(struct virtqueue *vq, uint16_t head)
{
	struct vq_split *s = &vq->split;
	struct vq_desc_state *st = &vq->state[head];
	void *token = st->token;
	uint16_t last = st->link;

	if (vq->in_order) {
		/* Keep the free list in ring order: freed chains join at the tail. */
		if (vq->num_free == 0)
			s->free_head = head;
		else
			vq->extra[s->free_tail].next = head;
		s->free_tail = last;
	} else {
		vq->extra[last].next = s->free_head;
		s->free_head = head;
	}
	vq->num_free += st->ndesc;
	if (st->table != VQ_NO_TABLE)
		vq_table_put(vq, st->table);
	st->token = NULL; /* free (the rest is not read again until an add rewrites it) */
	return token;
}

/* The used entry at index idx, each field read once: the device may change it. */
static inline void read_used(struct virtqueue *vq, uint16_t idx, struct vq_used_copy *out)
{
	const struct vring_used_elem *e = &vq->split.used->ring[mask(vq, idx)];

	out->id = le32_to_cpu(VQ_READ_ONCE(e->id));
	out->len = le32_to_cpu(VQ_READ_ONCE(e->len));
}

static uint16_t used_idx(struct virtqueue *vq)
{
	return le16_to_cpu(VQ_READ_ONCE(vq->split.used->idx));
}

/*
 * After consuming `consumed` buffers, move the interrupt event (EVENT_IDX,
 * callbacks on) to where we are, unless enable_cb_delayed placed it further
 * ahead and we have not reached it yet: pulling it back behind the device
 * would lose the interrupt the driver is waiting for. Only
 * enable_cb_delayed sets a delay, with EVENT_IDX and callbacks on, and
 * disable_cb clears it: with callbacks off there is nothing to do.
 */
static void update_used_event(struct virtqueue *vq, uint32_t consumed)
{
	struct vq_split *s = &vq->split;

	if (!vq->event_idx || (s->avail_flags & VRING_AVAIL_F_NO_INTERRUPT))
		return;
	if (vq_event_delayed(vq, consumed))
		return;
	VQ_WRITE_ONCE(*vring_used_event(s->avail, vq->num), cpu_to_le16(s->last_used));
	virt_mb();
}

/* The next buffer of an in-order batch: all but the last count as wholly written. */
static inline __attribute__((always_inline)) void *batch_next(struct virtqueue *vq, uint32_t *len)
{
	struct vq_split *s = &vq->split;
	uint16_t id = s->avail_shadow[mask(vq, (uint16_t)(s->last_used - vq->batch.left))];

	vq->batch.left--;
	*len = vq->batch.left ? vq->state[id].in_len : vq->batch.last_len;
	return detach(vq, id);
}

/*
 * The ring part of get_buf: the next used buffer, every id and length
 * checked. Adds the used entries it consumed to *consumed: the caller moves
 * the interrupt event (update_used_event) once, after its last one.
 * Two instances of one text: get_fast (fast: no call anywhere; a bad
 * device, or an in-order batch to start, is VQ_GET_SLOW before the buffer
 * is taken: used_seen and the copied entries it may have filled are what
 * get_general would fill the same) and get_general (reports the bad
 * device, starts the batch). Both run every check.
 */
static inline __attribute__((always_inline)) enum vq_get_fast
get_step(struct virtqueue *vq, void **token, uint32_t *len, uint32_t *consumed, const bool fast)
{
	struct vq_split *s = &vq->split;
	uint16_t id;
	uint32_t l;

	if (vq->batch.left > 0) {
		*token = batch_next(vq, len);
		return VQ_GET_TAKEN;
	}

	/*
	 * Read used->idx (the line the device writes at every batch) only when
	 * the entries it covered last time are consumed.
	 */
	if (s->used_seen == s->last_used) {
		uint16_t seen = used_idx(vq);

		if (seen == s->last_used)
			return VQ_GET_NONE;
		if ((uint16_t)(seen - s->last_used) > (uint16_t)(s->avail_idx - s->last_used)) {
			if (fast)
				return VQ_GET_SLOW;
			vq_bad_device(vq, "used index ahead of the buffers made available");
			return VQ_GET_NONE;
		}
		/* Read the entries only after seeing the index that covers them. */
		virt_rmb();
		s->used_seen = seen;
	}
	uint16_t ahead = (uint16_t)(s->used_seen - s->last_used);

	/*
	 * Copy the ready entries from here, a line's worth, in one go: the device
	 * may be writing the next ones on the same line, and each re-read of it
	 * would take the line back from the device. A lone ready entry is read
	 * straight (the copy emptied): nothing to gain from copying it.
	 */
	struct vq_used_copy one;
	const struct vq_used_copy *u;
	uint16_t at = (uint16_t)(s->last_used - s->copy_base);

	if (at < s->copy_n) {
		u = &s->copy[at];
	} else {
		uint16_t n = ahead < VQ_COPY_MAX(s) ? ahead : (uint16_t)VQ_COPY_MAX(s);

		if (n == 1) {
			read_used(vq, s->last_used, &one);
			s->copy_n = 0;
			u = &one;
		} else {
			for (uint16_t k = 0; k < n; k++)
				read_used(vq, (uint16_t)(s->last_used + k), &s->copy[k]);
			s->copy_base = s->last_used;
			s->copy_n = n;
			u = &s->copy[0];
		}
	}
	uint32_t raw_id = u->id;

	l = u->len;
	id = (uint16_t)raw_id;
	if (raw_id >= vq->num || !vq->state[id].token) {
		if (fast)
			return VQ_GET_SLOW;
		vq_bad_device(vq, "used id is not an outstanding buffer");
		return VQ_GET_NONE;
	}
	if (l > vq->state[id].in_len) {
		if (fast)
			return VQ_GET_SLOW;
		vq_bad_device(vq, "used length larger than the buffer's writable part");
		return VQ_GET_NONE;
	}
	/*
	 * IN_ORDER: the device may write one used entry for a batch, naming the
	 * last buffer, and advance the used index by the batch size (2.7 "In-order
	 * use of descriptors"; skipped buffers count as wholly written). The
	 * named buffer is outstanding, published at avail index seq: the batch
	 * is every buffer from last_used to it, and the index must cover them.
	 */
	uint16_t n = vq->in_order ? (uint16_t)(vq->state[id].seq - s->last_used + 1u) : 1;

	if (n != 1) {
		if (n == 0 || n > ahead) {
			if (fast)
				return VQ_GET_SLOW;
			vq_bad_device(vq, "in-order batch names a buffer out of order");
			return VQ_GET_NONE;
		}
		if (fast)
			return VQ_GET_SLOW; /* a batch starts: rare enough to leave */
		/* Hand out the batch front to back; the named buffer comes last. */
		vq->batch = (struct vq_batch){.left = n, .last_id = id, .last_len = l};
		s->last_used += n;
		*consumed += n;
		*token = batch_next(vq, len);
		return VQ_GET_TAKEN;
	}
	s->last_used++;
	*consumed += 1;
	*len = l;
	*token = detach(vq, id);
	return VQ_GET_TAKEN;
}

static inline __attribute__((always_inline)) enum vq_get_fast
get_fast(struct virtqueue *vq, void **token, uint32_t *len, uint32_t *consumed)
{
	return get_step(vq, token, len, consumed, true);
}

/* get_step's general instance: the buffer, or NULL (none used, or a bad device). */
VQ_HOT(split_used)
static __attribute__((noinline)) void *get_general(struct virtqueue *vq, uint32_t *len,
						   uint32_t *consumed)
{
	void *token;

	return get_step(vq, &token, len, consumed, false) == VQ_GET_TAKEN ? token : NULL;
}

void *vq_split_get(struct virtqueue *vq, uint32_t *len)
{
	return vq_get_ring(vq, len, get_general, update_used_event);
}

/* get_buf past the fast path: an in-order batch starting, a bad device. */
VQ_HOT(split_used)
static __attribute__((noinline)) void *get_buf_slow(struct virtqueue *vq, uint32_t *len)
{
	return vq_get_buf_general(vq, len, get_general, update_used_event);
}

/* All of virtqueue_get_buf. */
VQ_HOT(split_used) void *vq_split_get_buf(struct virtqueue *vq, uint32_t *len)
{
	return vq_get_buf_one(vq, len, get_fast, get_buf_slow, update_used_event);
}

/* All of virtqueue_get_bufs: get_buf's loop, the event moved once at the end. */
VQ_HOT(split_used)
unsigned vq_split_get_bufs(struct virtqueue *vq, void **tokens, uint32_t *lens, unsigned max)
{
	return vq_get_bufs_loop(vq, tokens, lens, max, get_fast, get_general, update_used_event);
}

VQ_HOT(split_used) bool vq_split_more_used(struct virtqueue *vq)
{
	return vq->batch.left > 0 || vq->split.used_seen != vq->split.last_used ||
	       used_idx(vq) != vq->split.last_used;
}

VQ_HOT(split) bool vq_split_kick_prepare(struct virtqueue *vq)
{
	struct vq_split *s = &vq->split;
	uint16_t new_idx = s->avail_idx, old_idx = (uint16_t)(new_idx - vq->num_added);

	/* Our index write must be visible before we read the device's wishes. */
	virt_mb();
	if (vq->event_idx)
		return vring_need_event(
			le16_to_cpu(VQ_READ_ONCE(*vring_avail_event(s->used, vq->num))), new_idx,
			old_idx);
	return !(le16_to_cpu(VQ_READ_ONCE(s->used->flags)) & VRING_USED_F_NO_NOTIFY);
}

VQ_HOT(split_used) void vq_split_disable_cb(struct virtqueue *vq)
{
	struct vq_split *s = &vq->split;

	vq->event_delay = 0;
	if (s->avail_flags & VRING_AVAIL_F_NO_INTERRUPT)
		return;
	s->avail_flags |= VRING_AVAIL_F_NO_INTERRUPT;
	if (vq->event_idx)
		/* An index the device cannot reach before we move it again. */
		VQ_WRITE_ONCE(*vring_used_event(s->avail, vq->num),
			      cpu_to_le16((uint16_t)(s->last_used - 1)));
	else
		VQ_WRITE_ONCE(s->avail->flags, cpu_to_le16(s->avail_flags));
}

static void enable_flags(struct virtqueue *vq)
{
	struct vq_split *s = &vq->split;

	if (s->avail_flags & VRING_AVAIL_F_NO_INTERRUPT) {
		s->avail_flags &= (uint16_t)~VRING_AVAIL_F_NO_INTERRUPT;
		if (!vq->event_idx)
			VQ_WRITE_ONCE(s->avail->flags, cpu_to_le16(s->avail_flags));
	}
}

VQ_HOT(split_used) unsigned vq_split_enable_cb_prepare(struct virtqueue *vq)
{
	struct vq_split *s = &vq->split;

	enable_flags(vq);
	vq->event_delay = 0;
	if (vq->event_idx)
		VQ_WRITE_ONCE(*vring_used_event(s->avail, vq->num), cpu_to_le16(s->last_used));
	return s->last_used;
}

VQ_HOT(split_used) bool vq_split_poll(struct virtqueue *vq, unsigned last)
{
	/* The event write above must be visible before we look at the index. */
	virt_mb();
	return (uint16_t)last != used_idx(vq);
}

VQ_HOT(split_used) bool vq_split_enable_cb_delayed(struct virtqueue *vq)
{
	struct vq_split *s = &vq->split;

	enable_flags(vq);
	if (vq->event_idx) {
		/* Interrupt once about 3/4 of what is outstanding has been used. */
		uint16_t bufs = (uint16_t)((uint16_t)(s->avail_idx - s->last_used) * 3 / 4);

		VQ_WRITE_ONCE(*vring_used_event(s->avail, vq->num),
			      cpu_to_le16((uint16_t)(s->last_used + bufs)));
		vq->event_delay = bufs;
	}
	virt_mb();
	return used_idx(vq) == s->last_used;
}

void *vq_split_detach_unused(struct virtqueue *vq)
{
	for (uint32_t i = 0; i < vq->num; i++)
		if (vq->state[i].token)
			return detach(vq, (uint16_t)i);
	return NULL;
}

uint32_t vq_split_notification_data(const struct virtqueue *vq)
{
	return vring_notification_data(vq->index, vq->split.avail_idx, 0);
}

void vq_split_ring_addrs(const struct virtqueue *vq, struct vq_ring_addrs *a)
{
	a->desc = virtio_dma_addr(vq->split.desc, vring_desc_size(vq->num));
	a->driver = virtio_dma_addr(vq->split.avail, vring_avail_size(vq->num));
	a->device = virtio_dma_addr(vq->split.used, vring_used_size(vq->num));
}
