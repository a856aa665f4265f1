/*
 * libFuzzer target for the virtio-blk request engine (drivers/virtio/
 * blk_queue.c with drivers/block/blkdev.c and lib/sg_cursor.c, unchanged, on the real
 * split ring) against a device the input drives (VIRTIO 1.2 5.2.6): the
 * device's limits (seg_max, size_max, block size, discard and write zeroes
 * maxima, queue sizes, legacy used lengths) over their whole range, random
 * requests over random buffer layouts, completions in any order with any
 * status and used length, and used entries the driver never posted.
 *
 * Input: a set-up block (see fuzz_setup), then a script of operations, one
 * selector byte each plus their arguments.
 *
 * Always checked (abort, so libFuzzer reports a crash):
 *  - every piece the device sees is within the limits the driver was given
 *    (data segments, bytes per segment, data bytes, discard sectors), its
 *    header first and its status byte last, device-readable before
 *    device-writable, every segment inside a caller buffer or the driver's
 *    DMA memory;
 *  - every submitted request completes exactly once, with 0 or an error a
 *    device or the buffers' layout can cause (-EIO, -EOPNOTSUPP, -EINVAL),
 *    and a refused one never;
 *  - after vblk_fail_all and vblk_queue_fini nothing is left: no request
 *    outstanding, no DMA block allocated.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <block/blkdev.h>
#include <lib/sg_ring.h>
#include <virtio/virtio_blk.h>
#include <virtio/virtio_config.h>
#include <virtio/virtio_ring.h>
#include <virtio/virtqueue.h>

#include "../../drivers/virtio/devices/blk_queue.h"
#include "fuzz_host.h"
#include "fuzz_script.h"

#define MAXQ	 2
#define MAXREQ	 24
#define MAXENTS	 8
#define MAXHELD	 64
#define NSECT	 4096 /* disk size in sectors */
#define MAXSEGS	 (VBLK_MAX_SEGS + 4)
#define MAX_DATA (64u << 10)

struct seg {
	uint8_t *addr;
	uint32_t len;
	bool write;
};

/* A piece the device popped and has not used yet. */
struct held {
	uint16_t head;
	uint32_t in_len; /* device-writable bytes */
	struct seg status;
	bool ok; /* honest completion: status OK with the full length */
};

struct fq {
	struct fz_splitq r;
	struct held held[MAXHELD];
	unsigned nheld;
};

struct freq {
	struct blk_request r;
	struct sg_ring ring[MAXENTS];
	struct sg_entry e[MAXENTS];
	uint8_t *buf;
	uint32_t bytes;
	bool live;     /* submitted, not completed */
	unsigned done; /* completions seen */
};

static struct {
	struct fz_script in;
	struct fq q[MAXQ];
	struct vblk_queue vq[MAXQ];
	struct vblk vb;
	struct blkdev bd;
	struct freq req[MAXREQ];
	bool dead; /* the driver stopped the device */
	/*
	 * The device published a used entry for nothing it held: the driver
	 * may have taken back buffers the device still sees as available, so
	 * from then on it touches no buffer (it only sends more such entries).
	 */
	bool hostile;
	bool trace;
} F;

static void bug(const char *what)
{
	fz_bug("fuzz_blk", what);
}

static uint8_t u8(void)
{
	return fz_u8(&F.in);
}

static uint16_t u16(void)
{
	return fz_u16(&F.in);
}

/* What the kernel provides blkdev.c and blk_queue.c with: a log, a clock. */

int vkprintf(const char *fmt, va_list ap)
{
	return F.trace ? vfprintf(stderr, fmt, ap) : 0;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vkprintf(fmt, ap);
	va_end(ap);
	return 0;
}

uint64_t clock_ns(void)
{
	return 0;
}

/* The device's view of a split ring (VIRTIO 1.2 2.7) */

/* The chain at head as segments: ring descriptors, or one indirect table (2.7.5.3). */
static unsigned chain(struct fq *q, uint16_t head, struct seg *segs)
{
	const struct vring_desc *table = q->r.desc;
	uint32_t tsize = q->r.num, i = head, n = 0;

	if (le16_to_cpu(q->r.desc[head].flags) & VRING_DESC_F_INDIRECT) {
		uint32_t len = le32_to_cpu(q->r.desc[head].len);

		table = (const struct vring_desc *)(uintptr_t)le64_to_cpu(q->r.desc[head].addr);
		if (len % sizeof(*table) || !fuzz_dma_contains(table, len))
			bug("an indirect table outside the driver's DMA memory");
		tsize = len / sizeof(*table);
		i = 0;
	}
	for (;;) {
		const struct vring_desc *d = &table[i];
		uint16_t fl = le16_to_cpu(d->flags);

		if (n == MAXSEGS || n == tsize)
			bug("a chain longer than any piece may be (a loop?)");
		if (fl & VRING_DESC_F_INDIRECT)
			bug("an indirect descriptor inside a chain");
		segs[n].addr = (uint8_t *)(uintptr_t)le64_to_cpu(d->addr);
		segs[n].len = le32_to_cpu(d->len);
		segs[n].write = fl & VRING_DESC_F_WRITE;
		if (n && segs[n - 1].write && !segs[n].write)
			bug("device-readable after device-writable (2.7.4.2)");
		n++;
		if (!(fl & VRING_DESC_F_NEXT))
			return n;
		i = le16_to_cpu(d->next);
		if (i >= tsize)
			bug("next outside the table");
	}
}

/* Whether seg lies in one caller buffer or in the driver's DMA memory. */
static bool seg_known(const struct seg *s)
{
	if (fuzz_dma_contains(s->addr, s->len))
		return true;
	for (unsigned i = 0; i < MAXREQ; i++) {
		const struct freq *r = &F.req[i];

		if (r->live && s->addr >= r->buf && s->len <= r->bytes &&
		    (size_t)(s->addr - r->buf) <= r->bytes - s->len)
			return true;
	}
	return false;
}

/* Pop one piece and check it against the limits; it is held until used. */
static bool pop(struct fq *q)
{
	struct seg segs[MAXSEGS];
	struct virtio_blk_outhdr h;
	uint32_t data_segs = 0, in_len = 0;
	uint64_t data = 0;
	struct held *hd;
	int head;
	unsigned n;

	if (F.dead || F.hostile || q->nheld == MAXHELD || (head = fz_splitq_pop(&q->r)) < 0)
		return false;
	n = chain(q, (uint16_t)head, segs);
	for (unsigned i = 0; i < n; i++)
		if (!seg_known(&segs[i]))
			bug("a segment outside every buffer the driver has");
	if (n < 2 || segs[0].write || segs[0].len != sizeof(h))
		bug("a piece without its 16-byte header first");
	if (!segs[n - 1].write || segs[n - 1].len != 1)
		bug("a piece without its status byte last");
	memcpy(&h, segs[0].addr, sizeof(h));
	for (unsigned i = 1; i + 1 < n; i++) {
		bool range = i == 1 && (le32_to_cpu(h.type) == VIRTIO_BLK_T_DISCARD ||
					le32_to_cpu(h.type) == VIRTIO_BLK_T_WRITE_ZEROES);

		if (range) {
			struct virtio_blk_discard_write_zeroes r;
			uint32_t max = le32_to_cpu(h.type) == VIRTIO_BLK_T_DISCARD
					       ? F.vb.max_discard
					       : F.vb.max_zeroes;

			if (segs[i].len != sizeof(r))
				bug("a discard / write zeroes range of the wrong size");
			memcpy(&r, segs[i].addr, sizeof(r));
			if (le32_to_cpu(r.num_sectors) == 0 || le32_to_cpu(r.num_sectors) > max)
				bug("a range beyond the device's maximum");
			if (le64_to_cpu(r.sector) + le32_to_cpu(r.num_sectors) > NSECT)
				bug("a range beyond the capacity");
			continue;
		}
		data_segs++;
		data += segs[i].len;
		if (F.vb.size_max && segs[i].len > F.vb.size_max)
			bug("a data segment larger than size_max");
	}
	if (data_segs > F.vb.max_segs)
		bug("more data segments than seg_max");
	if (data > F.vb.max_bytes)
		bug("more data bytes than the driver's limit");
	if (le32_to_cpu(h.type) <= VIRTIO_BLK_T_OUT &&
	    le64_to_cpu(h.sector) + data / BLK_SECTOR_SIZE > NSECT)
		bug("a read or write beyond the capacity");
	for (unsigned i = 0; i < n; i++)
		if (segs[i].write)
			in_len += segs[i].len;
	hd = &q->held[q->nheld++];
	hd->head = (uint16_t)head;
	hd->in_len = in_len;
	hd->status = segs[n - 1];
	return true;
}

/* Use held piece k with a status and a used length the input picks. */
static void complete(struct fq *q, unsigned k)
{
	struct held hd = q->held[k % q->nheld];
	uint8_t status = u8(), mode = u8();
	uint32_t len = hd.in_len;

	q->held[k % q->nheld] = q->held[--q->nheld];
	/* Mostly OK; sometimes IOERR, UNSUPP, or no valid status at all. */
	if (status < 0xc0)
		status = VIRTIO_BLK_S_OK;
	else
		status &= 3;
	switch (mode % 8) {
	case 0: len = hd.in_len - 1; break; /* the status byte not covered */
	case 1: len = u16(); break;	    /* any length */
	case 2:
		status = 0xff;
		len = 0;
		break; /* nothing written */
	default: break;
	}
	if (status != 0xff)
		*hd.status.addr = status;
	fz_splitq_used(&q->r, hd.head, len);
}

/* The requests */

static void req_done(struct blk_request *r)
{
	struct freq *f = r->priv;

	if (!f->live || f->done++)
		bug("a request completed twice or without being submitted");
	/* -EINVAL: buffers that cannot be cut within the limits, found after a first piece. */
	if (r->error && r->error != -EIO && r->error != -EOPNOTSUPP && r->error != -EINVAL)
		bug("a request completed with an error neither the device nor its buffers cause");
	f->live = false;
}

static void submit(void)
{
	struct freq *f = NULL;
	uint8_t op = u8() % 7;
	uint32_t bs = F.bd.block_size, nsect = 1 + u8() % 64, nents = 1 + u8() % MAXENTS;
	uint64_t sector = u16() % (NSECT + 64);
	int rc;

	for (unsigned i = 0; i < MAXREQ && !f; i++)
		if (!F.req[i].live)
			f = &F.req[i];
	if (!f)
		return;
	free(f->buf);
	memset(f, 0, sizeof(*f));
	f->r.op = op == 6 ? BLK_OP_GET_ID : (enum blk_op)(op % 5);
	f->r.flags = (u8() & 1 ? BLK_REQ_NOWAIT : 0) | (u8() & 1 ? BLK_REQ_UNMAP : 0);
	f->r.sector = sector & ~(uint64_t)(bs / BLK_SECTOR_SIZE - 1);
	f->r.nr_sectors = nsect * (bs / BLK_SECTOR_SIZE);
	f->r.done = req_done;
	f->r.priv = f;
	f->bytes = f->r.op == BLK_OP_GET_ID ? VIRTIO_BLK_ID_BYTES : nsect * bs;
	if (f->bytes > MAX_DATA)
		f->bytes = MAX_DATA;
	f->buf = malloc(f->bytes);
	if (!f->buf)
		return;
	memset(f->buf, 0x5a, f->bytes);
	/* The buffer cut into nents entries at points the input picks. */
	{
		uint32_t off = 0;

		sg_init(&f->ring[0], f->e, MAXENTS);
		for (uint32_t i = 0; i < nents && off < f->bytes; i++) {
			uint32_t n = i + 1 == nents ? f->bytes - off : 1 + u16() % (f->bytes - off);

			sg_add(&f->ring[0], f->buf + off, n);
			off += n;
		}
	}
	if (f->r.op == BLK_OP_READ || f->r.op == BLK_OP_WRITE || f->r.op == BLK_OP_GET_ID)
		f->r.data = &f->ring[0];
	f->live = true;
	rc = blkdev_submit(&F.bd, &f->r);
	if (rc) {
		if (f->done)
			bug("a refused request also completed");
		f->live = false;
	}
}

/* The block device the engine serves */

static int op_submit(struct blkdev *bd, struct blk_request *req)
{
	(void)bd;
	return vblk_submit(&F.vb, req);
}

static void op_poll(struct blkdev *bd)
{
	(void)bd;
	for (unsigned i = 0; i < F.vb.nq; i++)
		vblk_process(&F.vq[i]);
}

static void op_plug(struct blkdev *bd)
{
	(void)bd;
	vblk_plug(&F.vb);
}

static void op_unplug(struct blkdev *bd)
{
	(void)bd;
	vblk_unplug(&F.vb);
}

static void vb_broken(struct vblk *vb, const char *why)
{
	(void)why;
	/* The kernel resets the device: it no longer touches the rings. */
	F.dead = true;
	vblk_fail_all(vb, -EIO);
}

static void op_abort(struct blkdev *bd, const char *why)
{
	(void)bd;
	vb_broken(&F.vb, why);
}

static const struct blkdev_ops f_ops = {
	.submit = op_submit,
	.poll = op_poll,
	.plug = op_plug,
	.unplug = op_unplug,
	.abort = op_abort,
};

/*
 * Set-up: queues (1-2) and their size, block size, then the limits as
 * drivers/virtio/blk.c derives them from the configuration: seg_max within
 * the ring and VBLK_MAX_SEGS, any size_max, data bytes per piece from
 * both, discard and write zeroes maxima aligned to the block size.
 */
static bool fuzz_setup(void)
{
	uint8_t b = u8();
	uint32_t num = 4u << (b % 5), bs = b & 0x20 ? 4096 : 512, bss = bs / BLK_SECTOR_SIZE;
	uint64_t max;

	F.vb.nq = 1 + ((b >> 6) & 1);
	F.vb.max_segs = 1 + u8() % (num - 2 < VBLK_MAX_SEGS ? num - 2 : VBLK_MAX_SEGS);
	F.vb.size_max = u8() & 1 ? u16() : 0;
	max = 1u << 30;
	if (F.vb.size_max && (uint64_t)F.vb.size_max * F.vb.max_segs < max)
		max = (uint64_t)F.vb.size_max * F.vb.max_segs;
	F.vb.max_bytes = (uint32_t)(max / bs * bs);
	F.vb.max_discard = fz_u32(&F.in) / bss * bss;
	F.vb.max_zeroes = fz_u32(&F.in) / bss * bss;
	F.vb.discard_align = u8() % 17;
	F.vb.check_used_len = !(u8() & 1);
	if (F.vb.max_bytes == 0)
		return false; /* blk.c refuses such a device */
	F.bd = (struct blkdev){.nr_sectors = NSECT,
			       .block_size = bs,
			       .flush = true,
			       .discard = F.vb.max_discard > 0,
			       .write_zeroes = F.vb.max_zeroes > 0,
			       .ops = &f_ops};
	strcpy(F.bd.name, "fuzz");
	F.vb.bd = &F.bd;
	F.vb.q = F.vq;
	F.vb.broken = vb_broken;
	for (unsigned i = 0; i < F.vb.nq; i++) {
		struct fz_splitq *q = &F.q[i].r;

		if (fz_splitq_create(q, "fuzz-blk", i, num,
				     VIRTIO_BIT(VIRTIO_F_VERSION_1) |
					     VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)) ||
		    vblk_queue_init(&F.vb, &F.vq[i], i, q->vq, false))
			return false;
	}
	return true;
}

static void teardown(void)
{
	if (F.vb.bd)
		vblk_fail_all(&F.vb, -EIO);
	for (unsigned i = 0; i < MAXREQ; i++) {
		if (F.req[i].live)
			bug("a request never completed after vblk_fail_all");
		free(F.req[i].buf);
	}
	for (unsigned i = 0; i < MAXQ; i++) {
		if (F.vq[i].slots)
			vblk_queue_fini(&F.vq[i]);
		if (F.q[i].r.vq)
			virtqueue_destroy(F.q[i].r.vq);
	}
	if (fuzz_dma_live() != 0)
		bug("DMA blocks left after vblk_queue_fini and virtqueue_destroy");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(&F, 0, sizeof(F));
	F.in = (struct fz_script){data, size, 0};
	F.trace = getenv("FUZZ_TRACE") != NULL;
	if (!fuzz_setup()) {
		teardown();
		return 0;
	}
	while (fz_more(&F.in)) {
		struct fq *q = &F.q[u8() % F.vb.nq];

		switch (u8() % 8) {
		case 0:
		case 1: submit(); break;
		case 2:
			for (unsigned n = 1 + u8() % 8; n && pop(q); n--)
				;
			break;
		case 3:
			if (q->nheld && !F.dead && !F.hostile)
				complete(q, u8());
			break;
		case 4: op_poll(&F.bd); break;
		case 5: /* a used entry for nothing the device holds */
			if (!F.dead) {
				fz_splitq_used(&q->r, u16(), u16());
				F.hostile = true;
			}
			break;
		case 6: u8() & 1 ? vblk_plug(&F.vb) : vblk_unplug(&F.vb); break;
		default:
			/* An honest pass: everything popped, completed OK, collected. */
			while (pop(q))
				;
			while (q->nheld && !F.dead && !F.hostile) {
				struct held *hd = &q->held[--q->nheld];

				*hd->status.addr = VIRTIO_BLK_S_OK;
				fz_splitq_used(&q->r, hd->head, hd->in_len);
			}
			op_poll(&F.bd);
			break;
		}
	}
	teardown();
	return 0;
}
