/*
 * Virtqueue core: queue life cycle, the indirect-table pool, piecewise
 * buffer construction with rollback, and dispatch to the split or packed
 * layout (VIRTIO 1.2 sections 2.7, 2.8). Only the layout files touch
 * descriptors; only this file knows there are two layouts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <virtio/virtio_dma.h>

#include "virtqueue_internal.h"

void vq_bad_device(struct virtqueue *vq, const char *reason)
{
	if (!vq->broken) {
		vq->broken = true;
		vq->broken_reason = reason;
	}
}

void virtqueue_mark_broken(struct virtqueue *vq, const char *reason)
{
	vq_bad_device(vq, reason ? reason : "marked broken by the transport");
}

void virtqueue_inject_fault(struct virtqueue *vq)
{
	vq->inject_fault = true;
}

bool virtqueue_is_broken(const struct virtqueue *vq)
{
	return vq->broken;
}

const char *virtqueue_broken_reason(const struct virtqueue *vq)
{
	return vq->broken ? vq->broken_reason : NULL;
}

/* Indirect tables. */

static int table_get(struct virtqueue *vq)
{
	return vq->indir_nfree ? vq->indir_free[--vq->indir_nfree] : -1;
}

static int pool_init(struct virtqueue *vq, const struct vq_config *cfg)
{
	if (!vq->indirect)
		return 0;
	/*
	 * A table never holds more than the queue size (2.7.5.3.1). Defaults:
	 * up to 64 tables of 64 entries (64 KiB); drivers with long chains
	 * (block seg_max) ask for more.
	 */
	vq->indir_max = (uint16_t)MIN_U32(cfg->indirect_max ? cfg->indirect_max : 64, vq->num);
	vq->indir_tables = cfg->indirect_tables ? cfg->indirect_tables
						: (uint16_t)MAX_U32(MIN_U32(vq->num / 2, 64), 1);
	if (vq->indir_max < 2) {
		vq->indirect = false; /* a one-entry table is never worth it */
		return 0;
	}
	vq->indir_mem_size = (size_t)vq->indir_tables * vq->indir_max * 16;
	vq->indir_mem = virtio_dma_alloc(vq->indir_mem_size, 16);
	vq->indir_free = malloc(vq->indir_tables * sizeof(*vq->indir_free));
	if (!vq->indir_mem || !vq->indir_free)
		return -ENOMEM;
	for (uint16_t t = 0; t < vq->indir_tables; t++)
		vq->indir_free[t] = (uint16_t)(vq->indir_tables - 1 - t);
	vq->indir_nfree = vq->indir_tables;
	return 0;
}

/* Per-buffer state (by id) and the descriptor shadow (by slot), then the layout. */
static int ring_alloc(struct virtqueue *vq)
{
	vq->state = calloc(vq->num, sizeof(*vq->state));
	vq->extra = calloc(vq->num, sizeof(*vq->extra));
	if (!vq->state || !vq->extra)
		return -ENOMEM;
	return VQ_CALL(vq, init, vq);
}

static void ring_free(struct virtqueue *vq)
{
	VQ_CALL(vq, free, vq);
	free(vq->state);
	free(vq->extra);
	vq->state = NULL;
	vq->extra = NULL;
}

int virtqueue_create(const struct vq_config *cfg, struct virtqueue **vqp)
{
	struct virtqueue *vq;
	int rc;

	*vqp = NULL;
	if (!cfg || cfg->num == 0)
		return -EINVAL;
	/* The used ring needs 4-byte alignment (2.7); legacy asks for 4096. */
	if (cfg->ring_align &&
	    ((cfg->ring_align & (cfg->ring_align - 1)) || cfg->ring_align < VRING_USED_ALIGN ||
	     cfg->ring_align > VRING_LEGACY_ALIGN))
		return -EINVAL;
	vq = calloc(1, sizeof(*vq));
	if (!vq)
		return -ENOMEM;
	vq->layout = (cfg->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED)) ? VQ_PACKED : VQ_SPLIT;
	if (!VQ_CALL(vq, valid_num, cfg->num)) {
		free(vq);
		return -EINVAL;
	}
	vq->index = cfg->index;
	vq->num = cfg->num;
	vq->name = cfg->name ? cfg->name : "vq";
	vq->callback = cfg->callback;
	vq->notify = cfg->notify;
	vq->priv = cfg->priv;
	vq->ring_align = cfg->ring_align ? cfg->ring_align : VRING_USED_ALIGN;
	vq->indirect = !!(cfg->features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	vq->event_idx = !!(cfg->features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	vq->in_order = !!(cfg->features & VIRTIO_BIT(VIRTIO_F_IN_ORDER));

	rc = pool_init(vq, cfg);
	if (rc == 0)
		rc = ring_alloc(vq);
	if (rc) {
		virtqueue_destroy(vq);
		return rc;
	}
	*vqp = vq;
	return 0;
}

void virtqueue_destroy(struct virtqueue *vq)
{
	if (!vq)
		return;
	ring_free(vq);
	if (vq->indir_mem)
		virtio_dma_free(vq->indir_mem, vq->indir_mem_size);
	free(vq->indir_free);
	free(vq);
}

/* Piecewise addition. */

VQ_HOT(core)
int virtqueue_start_buf(struct virtqueue *vq, struct vq_buf *b, void *token, unsigned nents,
			unsigned nsg)
{
	bool indirect;
	int rc, table = -1;

	b->active = false;
	if (vq->broken)
		return -EIO;
	if (vq->building)
		return -EBUSY; /* one open buffer per queue */
	if (!token || nents == 0 || nsg == 0 || nsg > nents)
		return -EINVAL;
	/* 2.7.5.3.1, 2.8.7: no chain, indirect or not, is longer than the queue size. */
	if (nents > vq->num)
		return -EINVAL;
	indirect = vq->indirect && nents > 1 && nents <= vq->indir_max;
	if (indirect) {
		table = table_get(vq);
		if (table < 0) {
			indirect = false;
			vq->stats.indirect_fallback++;
		}
	}

	*b = (struct vq_buf){
		.vq = vq,
		.token = token,
		.nents = nents,
		.nsg = nsg,
		.indirect = indirect,
		.table = indirect ? (uint16_t)table : VQ_NO_TABLE,
	};
	rc = VQ_CALL(vq, start, b);
	if (rc) {
		if (indirect)
			vq_table_put(vq, (uint16_t)table);
		return rc;
	}
	b->active = true;
	vq_set_building(vq, b);
	return 0;
}

VQ_HOT(core) void virtqueue_abort_buf(struct vq_buf *b)
{
	struct virtqueue *vq = b->vq;

	if (!b->active)
		return;
	VQ_CALL(vq, rollback, b);
	if (b->indirect)
		vq_table_put(vq, b->table);
	b->active = false;
	vq_set_building(vq, NULL);
}

static int add_sg_fail(struct vq_buf *b, int err)
{
	virtqueue_abort_buf(b);
	return err;
}

VQ_HOT(core)
int virtqueue_add_sg(struct vq_buf *b, const struct sg_ring *sg, unsigned nents, enum vq_dir dir)
{
	struct virtqueue *vq = b->vq;
	bool write = dir == VQ_IN;
	unsigned taken = 0, rings = 0;

	if (!b->active)
		return -EINVAL;
	if (vq->broken)
		return add_sg_fail(b, -EIO);
	if (b->sgs == b->nsg || (dir != VQ_IN && dir != VQ_OUT) || (!write && b->seen_in))
		return add_sg_fail(b, -EINVAL);

	for (const struct sg_ring *r = sg; r && (nents == 0 || taken < nents); r = r->next) {
		if (r->num > r->max || ++rings > SG_CHAIN_MAX_ENTRIES)
			return add_sg_fail(b, -EINVAL);
		for (unsigned i = 0; i < r->num && (nents == 0 || taken < nents); i++) {
			const struct sg_entry *e = &r->sg[i];

			if (e->len == 0 || b->ents == b->nents)
				return add_sg_fail(b, -EINVAL);
			/* 2.7.5: a chain is less than 2^32 bytes in total. */
			b->total_len += e->len;
			if (b->total_len > UINT32_MAX)
				return add_sg_fail(b, -EINVAL);
			if (write)
				b->in_len += e->len;
			VQ_CALL(vq, add, b, virtio_dma_addr(e->addr, e->len), e->len, write);
			b->ents++;
			taken++;
		}
	}
	if (nents && taken < nents)
		return add_sg_fail(b, -EINVAL); /* the chain ended early */
	if (write && taken)
		b->seen_in = true;
	b->sgs++;
	return 0;
}

VQ_HOT(core) int virtqueue_end_buf(struct vq_buf *b)
{
	struct virtqueue *vq = b->vq;

	if (!b->active)
		return -EINVAL;
	if (vq->broken)
		return add_sg_fail(b, -EIO);
	if (b->ents != b->nents || b->sgs != b->nsg)
		return add_sg_fail(b, -EINVAL);
	VQ_CALL(vq, publish, b);
	b->active = false;
	vq_set_building(vq, NULL);
	vq->stats.added++;
	if (b->indirect)
		vq->stats.indirect++;
	/* The avail index is 16 bits: never let the unkicked span reach it. */
	if (vq->num_added >= 0xffff - vq->num)
		virtqueue_kick(vq);
	return 0;
}

/*
 * A whole buffer in one pass: both chains are walked and checked first, then
 * the layout writes the descriptors straight into the ring or an indirect
 * table (no staging: nothing can fail once it starts). The same checks, in
 * the same order, with the same results, as start_buf + add_sg + end_buf.
 */
VQ_HOT(core)
int virtqueue_add_sgs(struct virtqueue *vq, const struct sg_ring *out, const struct sg_ring *in,
		      void *token)
{
	struct sg_summary o, i;
	uint32_t n;
	int table = -1, rc = 0;

	if (sg_scan(out, &o) || sg_scan(in, &i))
		return -EINVAL;
	n = o.entries + i.entries;
	if (n == 0)
		return -EINVAL;
	if (vq->broken)
		return -EIO;
	if (vq->building)
		return -EBUSY; /* one open buffer per queue */
	/* 2.7.5.3.1, 2.8.7: no chain, indirect or not, is longer than the queue size. */
	if (!token || n > vq->num)
		return -EINVAL;
	if (vq->indirect && n > 1 && n <= vq->indir_max) {
		table = table_get(vq);
		if (table < 0)
			vq->stats.indirect_fallback++;
	}
	if (vq->num_free < (table >= 0 ? 1u : n))
		rc = -ENOSPC;
	else if (o.zero_len || i.zero_len || o.bytes + i.bytes > UINT32_MAX)
		rc = -EINVAL; /* 2.7.5: a chain is less than 2^32 bytes in total */
	if (rc) {
		if (table >= 0)
			vq_table_put(vq, (uint16_t)table);
		return rc;
	}
	VQ_CALL(vq, add_chain, vq,
		&(struct vq_chain){.out = out,
				   .in = in,
				   .nout = o.entries,
				   .nin = i.entries,
				   .in_len = (uint32_t)i.bytes,
				   .table = table >= 0 ? (uint16_t)table : VQ_NO_TABLE,
				   .token = token});
	vq->stats.added++;
	if (table >= 0)
		vq->stats.indirect++;
	/* The avail index is 16 bits: never let the unkicked span reach it. */
	if (vq->num_added >= 0xffff - vq->num)
		virtqueue_kick(vq);
	return 0;
}

/*
 * One descriptor: the layout writes it straight into the ring, without the
 * piecewise staging (nothing can be abandoned half-way). The same checks, in
 * the same order, and the same results as start_buf + add_sg + end_buf
 * (vq_add_single_check). A jump to the layout, which does all of it.
 */
VQ_HOT(core)
int virtqueue_add_buf_single(struct virtqueue *vq, void *addr, uint32_t len, enum vq_dir dir,
			     void *token)
{
	return VQ_CALL(vq, add_single, vq, addr, len, dir, token);
}

VQ_HOT(core) int virtqueue_add_bufs(struct virtqueue *vq, const struct vq_single *bufs, unsigned n)
{
	return VQ_CALL(vq, add_bufs, vq, bufs, n);
}

/* Notifications. */

VQ_HOT(core) bool virtqueue_kick_prepare(struct virtqueue *vq)
{
	bool kick;

	if (vq->broken)
		return false;
	kick = VQ_CALL(vq, kick_prepare, vq);
	vq->num_added = 0;
	if (!kick)
		vq->stats.kicks_suppressed++;
	return kick;
}

VQ_HOT(core) void virtqueue_notify(struct virtqueue *vq)
{
	if (vq->broken)
		return;
	vq->stats.kicks++;
	if (vq->notify)
		vq->notify(vq);
}

VQ_HOT(core) bool virtqueue_kick(struct virtqueue *vq)
{
	if (!virtqueue_kick_prepare(vq))
		return false;
	virtqueue_notify(vq);
	return true;
}

uint32_t virtqueue_notification_data(const struct virtqueue *vq)
{
	return VQ_CALL(vq, notification_data, vq);
}

/* Completions and callbacks. */

/* A jump to the layout, which does all of it (vq_get_buf_clear, or the next function). */
VQ_HOT(core) void *virtqueue_get_buf(struct virtqueue *vq, uint32_t *len)
{
	return VQ_CALL(vq, get_buf, vq, len);
}

VQ_HOT(core)
unsigned virtqueue_get_bufs(struct virtqueue *vq, void **tokens, uint32_t *lens, unsigned max)
{
	return VQ_CALL(vq, get_bufs, vq, tokens, lens, max);
}

/*
 * get_buf when vq_get_buf_clear() said no: broken, a piecewise buffer open
 * (detaching now would reshuffle its descriptors), or a fault injected, which
 * is taken at the next used entry the device returns.
 */
void *vq_get_buf_refused(struct virtqueue *vq, uint32_t *len)
{
	uint32_t dummy;
	void *token;

	if (vq->broken || vq->building)
		return NULL;
	if (vq->inject_fault && VQ_CALL(vq, more_used, vq)) {
		vq->inject_fault = false;
		vq_bad_device(vq, "used id is not an outstanding buffer (injected fault)");
		return NULL;
	}
	token = VQ_CALL(vq, get, vq, len ? len : &dummy);
	if (token)
		vq->stats.used++;
	return token;
}

/* get_bufs when get_buf would be refused: what get_buf would do, once. */
unsigned vq_get_bufs_refused(struct virtqueue *vq, void **tokens, uint32_t *lens)
{
	uint32_t len;
	void *token = vq_get_buf_refused(vq, &len);

	if (!token)
		return 0;
	tokens[0] = token;
	if (lens)
		lens[0] = len;
	return 1;
}

void *virtqueue_get_buf_after_reset(struct virtqueue *vq, uint32_t *len)
{
	const char *reason = vq->broken_reason;
	bool was = vq->broken;
	uint32_t dummy;
	void *token;

	if (vq->building)
		return NULL;
	/* The device writes no more: what it used before is read with get_buf's checks. */
	vq->broken = false;
	token = VQ_CALL(vq, get, vq, len ? len : &dummy);
	if (token)
		vq->stats.used++;
	if (was && !vq->broken) {
		vq->broken = true;
		vq->broken_reason = reason;
	}
	return token;
}

VQ_HOT(core) bool virtqueue_more_used(struct virtqueue *vq)
{
	return !vq->broken && VQ_CALL(vq, more_used, vq);
}

VQ_HOT(core) void virtqueue_disable_cb(struct virtqueue *vq)
{
	VQ_CALL(vq, disable_cb, vq);
}

VQ_HOT(core) unsigned virtqueue_enable_cb_prepare(struct virtqueue *vq)
{
	return VQ_CALL(vq, enable_cb_prepare, vq);
}

VQ_HOT(core) bool virtqueue_poll(struct virtqueue *vq, unsigned last)
{
	if (vq->broken)
		return false;
	return vq->batch.left > 0 || VQ_CALL(vq, poll, vq, last);
}

VQ_HOT(core) bool virtqueue_enable_cb(struct virtqueue *vq)
{
	unsigned last = virtqueue_enable_cb_prepare(vq);

	return !virtqueue_poll(vq, last);
}

VQ_HOT(core) bool virtqueue_enable_cb_delayed(struct virtqueue *vq)
{
	if (vq->broken)
		return true;
	if (vq->batch.left > 0) {
		VQ_CALL(vq, enable_cb_delayed, vq);
		return false;
	}
	return VQ_CALL(vq, enable_cb_delayed, vq);
}

VQ_HOT(core) void virtqueue_interrupt(struct virtqueue *vq)
{
	vq->stats.interrupts++;
	if (vq->callback && virtqueue_more_used(vq))
		vq->callback(vq);
}

/* Reset, resize, detach. */

void *virtqueue_detach_unused_buf(struct virtqueue *vq)
{
	if (vq->building)
		virtqueue_abort_buf(vq->building);
	vq->batch.left = 0;
	return VQ_CALL(vq, detach_unused, vq);
}

static void recycle_all(struct virtqueue *vq, vq_recycle_t recycle)
{
	void *token;

	if (vq->building)
		virtqueue_abort_buf(vq->building);
	vq->batch.left = 0;
	while ((token = VQ_CALL(vq, detach_unused, vq)) != NULL)
		if (recycle)
			recycle(vq, token);
}

int virtqueue_reset(struct virtqueue *vq, vq_recycle_t recycle)
{
	recycle_all(vq, recycle);
	VQ_CALL(vq, reset, vq);
	vq->num_added = 0;
	vq->batch = (struct vq_batch){0};
	vq->event_delay = 0;
	vq->broken = false;
	vq->broken_reason = NULL;
	return 0;
}

int virtqueue_resize(struct virtqueue *vq, uint32_t num, vq_recycle_t recycle)
{
	struct virtqueue old;
	int rc;

	virtqueue_reset(vq, recycle);
	if (num == vq->num)
		return 0;
	if (num == 0 || !VQ_CALL(vq, valid_num, num))
		return -EINVAL;
	old = *vq;
	/* Start the new ring from nothing: on failure only its own parts are freed. */
	vq->num = num;
	vq->num_free = 0;
	vq->state = NULL;
	vq->extra = NULL;
	vq->ring_mem = NULL;
	memset(&vq->split, 0, sizeof(vq->split));
	memset(&vq->packed, 0, sizeof(vq->packed));
	rc = ring_alloc(vq);
	if (rc) {
		ring_free(vq); /* the partial new ring */
		*vq = old;
		return rc;
	}
	ring_free(&old);
	return 0;
}

/* Accessors. */

void virtqueue_ring_addrs(const struct virtqueue *vq, struct vq_ring_addrs *a)
{
	VQ_CALL(vq, ring_addrs, vq, a);
}

enum vq_layout virtqueue_layout(const struct virtqueue *vq)
{
	return vq->layout;
}

uint32_t virtqueue_num(const struct virtqueue *vq)
{
	return vq->num;
}

uint32_t virtqueue_num_free(const struct virtqueue *vq)
{
	return vq->num_free;
}

uint16_t virtqueue_index(const struct virtqueue *vq)
{
	return vq->index;
}

void *virtqueue_priv(const struct virtqueue *vq)
{
	return vq->priv;
}

const char *virtqueue_name(const struct virtqueue *vq)
{
	return vq->name;
}

const struct vq_stats *virtqueue_stats(const struct virtqueue *vq)
{
	return &vq->stats;
}
