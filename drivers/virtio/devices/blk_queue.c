/*
 * The virtio-blk request engine (VIRTIO 1.2 5.2.6; see blk_queue.h):
 * block requests cut into device requests over the caller's buffers,
 * waiting lists for full rings, completion with distrust of the device.
 * Portable: the kernel and the host tests build this file unchanged.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <kernel/kernel.h>
#include <virtio/virtio_dma.h>

#include "blk_queue.h"

#define NO_SLOT UINT32_MAX

/* Piece status before the device writes it: not a valid status, so an unwritten one is caught. */
#define STATUS_UNSET 0xff

static void vblk_log(struct vblk *vb, const char *fmt, ...) __printf(2, 3);

static void vblk_log(struct vblk *vb, const char *fmt, ...)
{
	va_list ap;

	if (vb->errors_logged > VBLK_ERROR_LOG_MAX)
		return;
	if (vb->errors_logged++ == VBLK_ERROR_LOG_MAX) {
		kprintf("blk: %s: further request errors are counted, not logged\n", vb->bd->name);
		return;
	}
	kprintf("blk: %s: ", vb->bd->name);
	va_start(ap, fmt);
	vkprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
}

int vblk_status_errno(uint8_t status)
{
	switch (status) {
	case VIRTIO_BLK_S_OK: return 0;
	case VIRTIO_BLK_S_UNSUPP: return -EOPNOTSUPP;
	default: return -EIO; /* IOERR, and anything the spec does not define */
	}
}

int vblk_queue_init(struct vblk *vb, struct vblk_queue *q, unsigned int index, struct virtqueue *vq,
		    bool irq)
{
	uint32_t n = virtqueue_num(vq);

	memset(q, 0, sizeof(*q));
	q->vb = vb;
	q->vq = vq;
	q->index = index;
	q->irq = irq;
	q->nslots = n;
	q->slots = calloc(n, sizeof(*q->slots));
	q->wire = virtio_dma_alloc((size_t)n * sizeof(*q->wire), 64);
	if (!q->slots || !q->wire) {
		vblk_queue_fini(q);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		q->slots[i].w = &q->wire[i];
		q->slots[i].next_free = i + 1 < n ? i + 1 : NO_SLOT;
	}
	q->free_head = 0;
	if (irq)
		virtqueue_enable_cb(vq);
	else
		virtqueue_disable_cb(vq); /* polled: spare the device the interrupt logic */
	return 0;
}

void vblk_queue_fini(struct vblk_queue *q)
{
	free(q->slots);
	if (q->wire)
		virtio_dma_free(q->wire, (size_t)q->nslots * sizeof(*q->wire));
	q->slots = NULL;
	q->wire = NULL;
}

static void notify_all(struct vblk *vb)
{
	for (unsigned int i = 0; i < vb->nq; i++) {
		struct vblk_queue *q = &vb->q[i];

		if (q->added) {
			q->added = 0;
			virtqueue_kick(q->vq);
		}
	}
}

static bool has_data(enum blk_op op)
{
	return op == BLK_OP_READ || op == BLK_OP_WRITE || op == BLK_OP_GET_ID;
}

/* Sectors of the next discard / write zeroes piece. */
static uint64_t range_piece(struct vblk *vb, const struct blk_request *req)
{
	uint64_t max = req->op == BLK_OP_DISCARD ? vb->max_discard : vb->max_zeroes;
	uint64_t n = req->in.left < max ? req->in.left : max;
	uint64_t bs = vb->bd->block_size / BLK_SECTOR_SIZE;

	/* 5.2.5: discard_sector_alignment guides where a split request is cut. */
	if (max < req->in.left && req->op == BLK_OP_DISCARD && vb->discard_align > 1) {
		uint64_t end = req->in.sector + n;
		uint64_t cut = end - end % vb->discard_align;

		if (cut > req->in.sector && (cut - req->in.sector) % bs == 0)
			n = cut - req->in.sector;
	}
	return n;
}

/*
 * Put the next piece of req on q's ring. Returns: 0 (sent), -ENOSPC (no
 * room now: nothing changed), -EINVAL (the data cannot be cut into a piece
 * the device takes), -EIO (the ring is broken).
 */
static int send_piece(struct vblk_queue *q, struct blk_request *req)
{
	struct vblk *vb = q->vb;
	struct sg_entry ents[VBLK_MAX_SEGS];
	struct sg_ring data = {.next = NULL, .num = 0, .max = VBLK_MAX_SEGS, .sg = ents};
	struct sg_cursor saved = req->in.cur;
	struct vblk_slot *s;
	struct vblk_wire *w;
	struct vq_buf b;
	uint64_t sectors = 0, bytes = 0;
	uint32_t type, in_len = 1;
	unsigned int nents, nsg;
	bool range = false;
	int rc;

	DECLARE_SG(head, 2);
	DECLARE_SG(status, 1);

	if (q->free_head == NO_SLOT)
		return -ENOSPC;
	s = &q->slots[q->free_head];
	w = s->w;
	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE: {
		uint64_t max = req->in.left * BLK_SECTOR_SIZE;

		if (max > vb->max_bytes)
			max = vb->max_bytes;
		bytes = sg_cursor_take(&req->in.cur, &data, vb->max_segs, vb->size_max, max,
				       vb->bd->block_size);
		if (bytes == 0) {
			vblk_log(vb,
				 "%s at sector %llu: its buffers do not make a block of %u bytes "
				 "within %u segments (of at most %u bytes; 0: any size)",
				 blkdev_op_name(req->op), (unsigned long long)req->in.sector,
				 vb->bd->block_size, vb->max_segs, vb->size_max);
			return -EINVAL;
		}
		sectors = bytes / BLK_SECTOR_SIZE;
		type = req->op == BLK_OP_READ ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
		break;
	}
	case BLK_OP_GET_ID:
		/* seg_max and size_max bound every request's data, this one's too (5.2.4). */
		bytes = sg_cursor_take(&req->in.cur, &data, vb->max_segs, vb->size_max,
				       VIRTIO_BLK_ID_BYTES, 1);
		if (bytes != VIRTIO_BLK_ID_BYTES) {
			req->in.cur = saved;
			return -EINVAL;
		}
		type = VIRTIO_BLK_T_GET_ID;
		break;
	case BLK_OP_FLUSH: type = VIRTIO_BLK_T_FLUSH; break;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		sectors = range_piece(vb, req);
		range = true;
		type = req->op == BLK_OP_DISCARD ? VIRTIO_BLK_T_DISCARD : VIRTIO_BLK_T_WRITE_ZEROES;
		break;
	default: return -EINVAL;
	}

	/* 5.2.6.1: sector is 0 for everything but reads and writes. */
	w->hdr.type = cpu_to_le32(type);
	w->hdr.reserved = 0;
	w->hdr.sector = cpu_to_le64(type <= VIRTIO_BLK_T_OUT ? req->in.sector : 0);
	w->status = STATUS_UNSET;
	sg_add(head, &w->hdr, sizeof(w->hdr));
	if (range) {
		/* 5.2.6.1: the unmap flag only for write zeroes, never for discard. */
		w->range.sector = cpu_to_le64(req->in.sector);
		w->range.num_sectors = cpu_to_le32((uint32_t)sectors);
		w->range.flags =
			cpu_to_le32(req->op == BLK_OP_WRITE_ZEROES && (req->flags & BLK_REQ_UNMAP)
					    ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP
					    : 0);
		sg_add(head, &w->range, sizeof(w->range));
	}
	sg_add(status, &w->status, 1);
	nents = head->num + data.num + 1;
	nsg = 2 + (data.num > 0);

	rc = virtqueue_start_buf(q->vq, &b, s, nents, nsg);
	if (rc == 0)
		rc = virtqueue_add_sg(&b, head, 0, VQ_OUT);
	if (rc == 0 && data.num)
		rc = virtqueue_add_sg(&b, &data, 0, req->op == BLK_OP_WRITE ? VQ_OUT : VQ_IN);
	if (rc == 0)
		rc = virtqueue_add_sg(&b, status, 0, VQ_IN);
	if (rc == 0)
		rc = virtqueue_end_buf(&b);
	if (rc) {
		/* The ring rolled the buffer back; so do we. */
		req->in.cur = saved;
		return rc;
	}

	q->free_head = s->next_free;
	s->req = req;
	s->sector = req->in.sector;
	if (req->op != BLK_OP_WRITE)
		in_len += (uint32_t)bytes;
	s->in_len = in_len;
	req->in.sector += sectors;
	if (req->op == BLK_OP_FLUSH || req->op == BLK_OP_GET_ID)
		req->in.left = 0; /* one piece, no sectors */
	else
		req->in.left -= sectors;
	req->in.inflight++;
	if (req->in.left == 0)
		req->in.sent_all = true;
	q->inflight++;
	q->added++;
	q->pieces++;
	if (q->inflight > q->max_inflight)
		q->max_inflight = q->inflight;
	return 0;
}

/* Send what is left of req. Returns: as send_piece, 0 once everything is on the ring. */
static int send(struct vblk_queue *q, struct blk_request *req)
{
	while (!req->in.sent_all) {
		int rc = send_piece(q, req);

		if (rc)
			return rc;
	}
	return 0;
}

static void wait_add(struct vblk_queue *q, struct blk_request *req)
{
	req->in.next = NULL;
	req->in.waiting = true;
	if (q->wait_tail)
		q->wait_tail->in.next = req;
	else
		q->wait_head = req;
	q->wait_tail = req;
	q->waited++;
}

static void wait_remove(struct vblk_queue *q, struct blk_request *req)
{
	struct blk_request *prev = NULL;

	for (struct blk_request *r = q->wait_head; r; prev = r, r = r->in.next) {
		if (r != req)
			continue;
		if (prev)
			prev->in.next = r->in.next;
		else
			q->wait_head = r->in.next;
		if (q->wait_tail == r)
			q->wait_tail = prev;
		break;
	}
	req->in.next = NULL;
	req->in.waiting = false;
}

/* Nothing more of req will be sent; complete it once its pieces are back. */
static void stop_request(struct vblk *vb, struct blk_request *req, int err)
{
	if (err && !req->error)
		req->error = err;
	if (req->in.waiting)
		wait_remove(&vb->q[req->in.queue], req);
	req->in.sent_all = true;
	if (req->in.inflight == 0)
		blkdev_complete(vb->bd, req, req->error);
}

/* The request from its start, for queue q (in.retried is kept). */
static void request_start(struct vblk_queue *q, struct blk_request *req)
{
	bool retried = req->in.retried;

	memset(&req->in, 0, sizeof(req->in));
	req->in.retried = retried;
	req->in.queue = (uint16_t)q->index;
	req->in.sector = req->sector;
	req->in.left = req->op == BLK_OP_FLUSH || req->op == BLK_OP_GET_ID ? 1 : req->nr_sectors;
	if (has_data(req->op))
		sg_cursor_init(&req->in.cur, req->data);
}

int vblk_submit(struct vblk *vb, struct blk_request *req)
{
	struct vblk_queue *q;
	int rc;

	if (vb->dead)
		return -EIO;
	q = &vb->q[vb->rr++ % vb->nq];
	request_start(q, req);
	req->in.retried = false;

	if (q->wait_head || vb->recovering) {
		/* Others wait already: keep the order. */
		if (req->flags & BLK_REQ_NOWAIT)
			return -EAGAIN;
		q->requests++;
		wait_add(q, req);
		return 0;
	}
	rc = send(q, req);
	if (rc == -ENOSPC && req->in.inflight == 0 && (req->flags & BLK_REQ_NOWAIT))
		return -EAGAIN;
	if (rc && rc != -ENOSPC && req->in.inflight == 0) {
		if (virtqueue_is_broken(q->vq) && vb->broken)
			vb->broken(vb, virtqueue_broken_reason(q->vq));
		if (!vb->recovering || vb->dead)
			return rc; /* nothing reached the device */
		/* The device comes back: the request waits for it. */
		rc = -ENOSPC;
	}
	q->requests++;
	if (rc == -ENOSPC)
		wait_add(q, req);
	else if (rc)
		stop_request(vb, req, rc); /* part of it is out: it completes with rc */
	if (!vb->plugged && !vb->in_completion)
		notify_all(vb);
	return 0;
}

static void finish_piece(struct vblk_queue *q, struct vblk_slot *s, uint32_t len)
{
	struct vblk *vb = q->vb;
	struct blk_request *req = s->req;
	uint8_t status = *(volatile uint8_t *)&s->w->status;
	int err;

	if (vb->check_used_len && len != s->in_len) {
		/* 2.7.8.2: bytes past len (the status byte) cannot be trusted. */
		vb->bad_completions++;
		vblk_log(vb, "%s at sector %llu: the device wrote %u bytes of %u: failed",
			 blkdev_op_name(req->op), (unsigned long long)s->sector, len, s->in_len);
		err = -EIO;
	} else {
		err = vblk_status_errno(status);
		if (status > VIRTIO_BLK_S_UNSUPP) {
			vb->bad_completions++;
			vblk_log(vb, "%s at sector %llu: unknown status 0x%02x: failed",
				 blkdev_op_name(req->op), (unsigned long long)s->sector, status);
		} else if (err) {
			vblk_log(vb, "%s at sector %llu: %s", blkdev_op_name(req->op),
				 (unsigned long long)s->sector,
				 status == VIRTIO_BLK_S_IOERR ? "I/O error" : "not supported");
		}
	}
	s->req = NULL;
	s->next_free = q->free_head;
	q->free_head = (uint32_t)(s - q->slots);
	q->inflight--;
	q->completed++;
	req->in.inflight--;
	if (err)
		stop_request(vb, req, err);
	else if (req->in.sent_all && req->in.inflight == 0)
		blkdev_complete(vb->bd, req, req->error);
}

static void run_waiting(struct vblk_queue *q)
{
	struct blk_request *req;

	while ((req = q->wait_head) != NULL) {
		int rc = send(q, req);

		/* A broken ring: the request waits for the device to be brought back. */
		if (rc == -ENOSPC || (rc == -EIO && virtqueue_is_broken(q->vq)))
			return;
		q->wait_head = req->in.next;
		if (!q->wait_head)
			q->wait_tail = NULL;
		req->in.next = NULL;
		req->in.waiting = false;
		if (rc)
			stop_request(q->vb, req, rc);
	}
}

void vblk_process(struct vblk_queue *q)
{
	struct vblk *vb = q->vb;
	uint32_t len;

	if (vb->dead || vb->recovering)
		return;
	vb->in_completion++;
	do {
		struct vblk_slot *s;

		if (q->irq)
			virtqueue_disable_cb(q->vq);
		while (!vb->dead && (s = virtqueue_get_buf(q->vq, &len)) != NULL)
			finish_piece(q, s, len);
		if (!vb->dead)
			run_waiting(q);
		/* enable_cb: false when more arrived meanwhile (true when broken). */
	} while (q->irq && !vb->dead && !virtqueue_enable_cb(q->vq));
	if (!vb->dead && virtqueue_is_broken(q->vq) && vb->broken)
		vb->broken(vb, virtqueue_broken_reason(q->vq));
	if (--vb->in_completion == 0 && !vb->plugged && !vb->dead && !vb->recovering)
		notify_all(vb);
}

void vblk_watchdog(struct vblk *vb, uint64_t now)
{
	if (vb->dead || vb->recovering)
		return;
	for (unsigned int i = 0; i < vb->nq; i++) {
		struct vblk_queue *q = &vb->q[i];
		uint64_t before = q->completed;

		/* Anything new since the last look (sent or completed) restarts the clock. */
		if (!q->inflight || q->completed != q->wd_completed || q->pieces != q->wd_pieces) {
			q->wd_completed = q->completed;
			q->wd_pieces = q->pieces;
			q->wd_since = now;
			continue;
		}
		if (now - q->wd_since < VBLK_WATCHDOG_NS)
			continue;
		q->wd_since = now;
		vblk_process(q);
		if (vb->dead)
			return;
		if (q->irq && q->completed != before)
			q->found_used += q->completed - before;
		q->wd_completed = q->completed;
		if (q->inflight && !virtqueue_is_broken(q->vq)) {
			q->rekicks++;
			virtqueue_notify(q->vq);
		}
	}
}

void vblk_plug(struct vblk *vb)
{
	vb->plugged++;
}

void vblk_unplug(struct vblk *vb)
{
	if (vb->plugged && --vb->plugged == 0 && !vb->in_completion && !vb->dead)
		notify_all(vb);
}

static void take(struct blk_request ***tail, struct blk_request *req)
{
	req->in.taken = true;
	req->in.next = NULL;
	**tail = req;
	*tail = &req->in.next;
}

struct blk_request *vblk_take_back(struct vblk *vb, int err, unsigned int *failed)
{
	struct blk_request *all = NULL, **tail = &all, *keep = NULL, **ktail = &keep, *req;

	*failed = 0;
	/* The rings first (the oldest requests); one on a waiting list joins from there. */
	for (unsigned int i = 0; i < vb->nq; i++) {
		struct vblk_queue *q = &vb->q[i];
		struct vblk_slot *s;

		while ((s = virtqueue_detach_unused_buf(q->vq)) != NULL) {
			req = s->req;
			s->req = NULL;
			s->next_free = q->free_head;
			q->free_head = (uint32_t)(s - q->slots);
			q->inflight--;
			req->in.inflight--;
			if (!req->in.taken && !req->in.waiting)
				take(&tail, req);
			req->in.taken = true;
		}
		q->added = 0;
	}
	for (unsigned int i = 0; i < vb->nq; i++) {
		struct vblk_queue *q = &vb->q[i];

		while ((req = q->wait_head) != NULL) {
			q->wait_head = req->in.next;
			req->in.waiting = false;
			take(&tail, req);
		}
		q->wait_tail = NULL;
	}
	while ((req = all) != NULL) {
		all = req->in.next;
		req->in.taken = false;
		if (req->error || req->in.retried) {
			(*failed)++;
			req->in.sent_all = true;
			blkdev_complete(vb->bd, req, req->error ? req->error : err);
			continue;
		}
		req->in.retried = true;
		req->in.next = NULL;
		*ktail = req;
		ktail = &req->in.next;
	}
	return keep;
}

int vblk_queue_reinit(struct vblk_queue *q, struct virtqueue *vq, bool irq)
{
	struct vblk_queue old = *q;
	int rc;

	vblk_queue_fini(q);
	rc = vblk_queue_init(old.vb, q, old.index, vq, irq);
	q->requests = old.requests;
	q->pieces = q->wd_pieces = old.pieces;
	q->waited = old.waited;
	q->max_inflight = old.max_inflight;
	q->completed = q->wd_completed = old.completed;
	q->rekicks = old.rekicks;
	q->found_used = old.found_used;
	return rc;
}

unsigned int vblk_resend(struct vblk *vb, struct blk_request *list)
{
	unsigned int n = 0;
	struct blk_request *req;

	vb->recovering = false;
	while ((req = list) != NULL) {
		struct vblk_queue *q = &vb->q[req->in.queue < vb->nq ? req->in.queue : 0];
		int rc = -ENOSPC;

		list = req->in.next;
		request_start(q, req);
		if (!q->wait_head)
			rc = send(q, req);
		if (rc == -ENOSPC)
			wait_add(q, req);
		else if (rc)
			stop_request(vb, req, rc);
		n++;
	}
	if (!vb->plugged && !vb->in_completion)
		notify_all(vb);
	return n;
}

void vblk_fail_all(struct vblk *vb, int err)
{
	vb->dead = true;
	vb->bd->dead = true;
	/* Waiting requests first, so that each completes with its last piece. */
	for (unsigned int i = 0; i < vb->nq; i++) {
		struct vblk_queue *q = &vb->q[i];
		struct blk_request *req;

		while ((req = q->wait_head) != NULL)
			stop_request(vb, req, err);
	}
	for (unsigned int i = 0; i < vb->nq; i++) {
		struct vblk_queue *q = &vb->q[i];
		struct vblk_slot *s;

		while ((s = virtqueue_detach_unused_buf(q->vq)) != NULL) {
			struct blk_request *req = s->req;

			s->req = NULL;
			s->next_free = q->free_head;
			q->free_head = (uint32_t)(s - q->slots);
			q->inflight--;
			req->in.inflight--;
			stop_request(vb, req, err);
		}
		q->added = 0;
	}
}
