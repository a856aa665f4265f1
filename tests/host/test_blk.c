/*
 * Host tests of the block layer: the sg cursor (lib/sg_cursor.c), the test
 * pattern (drivers/block/blk_pattern.c), the request checks and synchronous wrappers
 * (drivers/block/blkdev.c), and the virtio-blk request engine
 * (drivers/virtio/devices/blk_queue.c) against a simulated block device built on
 * tests/host/vq_sim.c, which validates every ring access of the driver.
 * The simulated device checks the limits the driver must honour (segments
 * per request, bytes per segment, sectors per discard) and can misbehave:
 * I/O errors, unsupported, unknown status values, short used lengths, a
 * broken used ring.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <block/blk_pattern.h>
#include <block/blkdev.h>
#include <lib/sg_cursor.h>
#include <virtio/virtio_blk.h>
#include <virtio/virtio_config.h>

#include "../../drivers/virtio/devices/blk_queue.h"
#include "vq_sim.h"

#define F(b)	      VIRTIO_BIT(VIRTIO_F_##b)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Kernel services the sources use: a log we can search, a clock that moves. */

static char logbuf[16384];
static size_t loglen;

int vkprintf(const char *fmt, va_list ap)
{
	int n = vsnprintf(logbuf + loglen, sizeof(logbuf) - loglen, fmt, ap);

	if (n > 0)
		loglen += (size_t)n < sizeof(logbuf) - loglen ? (size_t)n
							      : sizeof(logbuf) - loglen - 1;
	return n;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vkprintf(fmt, ap);
	va_end(ap);
	return n;
}

static uint64_t fake_ns;

uint64_t clock_ns(void)
{
	return fake_ns += 1000;
}

static void log_clear(void)
{
	loglen = 0;
	logbuf[0] = '\0';
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd_below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

/* ---- sg_cursor ---- */

static uint8_t src[1 << 16];

static void test_cursor_basic(void **state)
{
	struct sg_entry e[4], o[8];
	struct sg_ring a, b, out = {.sg = o, .max = 8};
	struct sg_cursor c;

	(void)state;
	sg_init(&a, e, 2);
	sg_init(&b, e + 2, 2);
	sg_add(&a, src, 700);
	sg_add(&a, src + 1000, 0); /* skipped */
	sg_add(&b, src + 2000, 324);
	sg_add(&b, src + 3000, 1024);
	sg_chain(&a, &b);
	sg_cursor_init(&c, &a);
	/* 512-aligned pieces: 1 entry: 700 -> 512; then 2 (the empty one skipped): 188 + 324 */
	assert_int_equal(sg_cursor_take(&c, &out, 1, 0, 1 << 20, 512), 512);
	assert_int_equal(out.num, 1);
	assert_ptr_equal(o[0].addr, src);
	assert_int_equal(o[0].len, 512);
	assert_int_equal(sg_cursor_take(&c, &out, 2, 0, 1 << 20, 512), 512);
	assert_int_equal(out.num, 2);
	assert_ptr_equal(o[0].addr, src + 512);
	assert_int_equal(o[0].len, 188);
	assert_ptr_equal(o[1].addr, src + 2000);
	assert_int_equal(o[1].len, 324);
	/* max_seg cuts an entry: 1024 in 300-byte pieces, 3 entries: 900 -> 512 */
	assert_int_equal(sg_cursor_take(&c, &out, 3, 300, 1 << 20, 512), 512);
	assert_int_equal(out.num, 2);
	assert_int_equal(o[0].len, 300);
	assert_int_equal(o[1].len, 212);
	assert_ptr_equal(o[1].addr, src + 3300);
	/* 512 left; max_bytes 256 with align 512: nothing, cursor unmoved */
	assert_int_equal(sg_cursor_take(&c, &out, 3, 0, 256, 512), 0);
	assert_int_equal(sg_cursor_take(&c, &out, 3, 0, 1 << 20, 512), 512);
	assert_ptr_equal(o[0].addr, src + 3512);
	assert_int_equal(sg_cursor_take(&c, &out, 3, 0, 1 << 20, 512), 0); /* the end */
	assert_int_equal(sg_cursor_take(&c, &out, 3, 0, 1 << 20, 3), 0);   /* bad align */
}

/* Random chains cut under random limits: the pieces rebuild the data exactly. */
static void test_cursor_random(void **state)
{
	(void)state;
	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + (i >> 8));
	for (int iter = 0; iter < 3000; iter++) {
		struct sg_entry e[64], o[64];
		struct sg_ring r[64], out = {.sg = o, .max = 64};
		struct sg_cursor c;
		static uint8_t rebuilt[1 << 16];
		uint32_t align = 1u << rnd_below(10), total = 0, got = 0;
		unsigned n = 1 + rnd_below(64), per = 1 + rnd_below(8), nr = 0;
		unsigned max_ents = 1 + rnd_below(8);
		uint32_t max_seg = rnd_below(2) ? 0 : 1 + rnd_below(3000);
		uint64_t max_bytes = align * (1 + rnd_below(20));
		uint32_t pos = 0;

		for (unsigned k = 0; k < n; k++) {
			uint32_t len = rnd_below(8) ? 1 + rnd_below(900) : 0;

			if (pos + len > sizeof(src))
				len = 0;
			e[k].addr = src + pos;
			e[k].len = len;
			pos += len;
			total += len;
		}
		for (unsigned k = 0; k < n; k += per, nr++) {
			sg_init(&r[nr], &e[k], per);
			r[nr].num = n - k < per ? n - k : per;
			r[nr].next = NULL;
			if (nr)
				r[nr - 1].next = &r[nr];
		}
		total -= total % align;
		sg_cursor_init(&c, r);
		for (;;) {
			uint64_t t = sg_cursor_take(&c, &out, max_ents, max_seg, max_bytes, align);
			uint64_t sum = 0;

			if (t == 0)
				break;
			assert_true(t % align == 0 && t <= max_bytes);
			assert_true(out.num >= 1 && out.num <= max_ents);
			for (unsigned k = 0; k < out.num; k++) {
				assert_true(o[k].len > 0);
				assert_true(!max_seg || o[k].len <= max_seg);
				memcpy(rebuilt + got + sum, o[k].addr, o[k].len);
				sum += o[k].len;
			}
			assert_int_equal(sum, t);
			got += (uint32_t)t;
		}
		assert_memory_equal(rebuilt, src, got);
		assert_true(got <= total);
		if (!max_seg && max_ents >= 8 && max_bytes >= 2048)
			assert_int_equal(got, total); /* 8 entries always hold 1 KiB-aligned data */
	}
}

/* ---- the pattern: the same bytes as tests/qemu/blkpattern.py ---- */

static void test_pattern_vectors(void **state)
{
	uint8_t s[512], want16[16] = {0xd5, 0xe2, 0x7f, 0xd8, 0xa5, 0xad, 0xdf, 0x26,
				      0x10, 0x35, 0x2b, 0x31, 0x17, 0xe1, 0x06, 0xec};
	uint8_t tail8[8] = {0x60, 0x64, 0xab, 0x3b, 0x54, 0x24, 0x61, 0xb7};

	(void)state;
	assert_true(blk_pattern_mix(0) == 0xe220a8397b1dcdafull);
	assert_true(blk_pattern_mix(1) == 0x910a2dec89025cc1ull);
	blk_pattern_fill(s, 42, 7, 1);
	assert_memory_equal(s, want16, 16);
	blk_pattern_fill(s, 1, 0, 1);
	assert_memory_equal(s + 504, tail8, 8);
	assert_int_equal(blk_pattern_check(s, 1, 0, 1), -1);
	s[77] ^= 1;
	assert_int_equal(blk_pattern_check(s, 1, 0, 1), 77);
	assert_int_equal(blk_pattern_check(s, 1, 1, 1), 0); /* another sector's bytes */
	memset(s, 0, sizeof(s));
	assert_int_equal(blk_pattern_check_zero(s, 1), -1);
	s[511] = 1;
	assert_int_equal(blk_pattern_check_zero(s, 1), 511);
}

/* ---- a simulated virtio-blk device ---- */

#define NQ_MAX 4

struct simdev {
	struct vq_sim sim[NQ_MAX]; /* cfg.priv of queue i points at sim[i] */
	struct virtqueue *vq[NQ_MAX];
	struct vblk_queue q[NQ_MAX];
	struct vblk vb;
	struct blkdev bd;
	unsigned nq;
	uint64_t features;
	uint8_t *disk;
	uint64_t nsect;
	/* what the device enforces */
	uint32_t seg_max, size_max, max_discard, max_zeroes;
	/* misbehaviour */
	uint64_t fail_sector; /* pieces covering it fail with fail_status */
	uint8_t fail_status;
	int short_len;	   /* report this many bytes fewer than written */
	bool no_status;	   /* write the data, not the status byte, and say 0 bytes */
	const uint8_t *id; /* GET_ID answer (20 bytes), NULL: "sim-serial-01234567" */
	/* what it saw */
	uint64_t pieces, max_segs_seen, discards, zeroes, unmaps, flushes, get_ids;
	unsigned broken_calls;
};

static struct simdev *sd_of(struct vblk *vb)
{
	return (struct simdev *)((char *)vb - offsetof(struct simdev, vb));
}

static void sd_broken(struct vblk *vb, const char *why)
{
	struct simdev *d = sd_of(vb);

	(void)why;
	d->broken_calls++;
	/* The kernel resets the device here; the sim simply stops looking at the rings. */
	vblk_fail_all(vb, -EIO);
}

/* Serve one popped buffer like a virtio-blk device (5.2.6). */
static void serve(struct simdev *d, unsigned qi, struct vq_sim_buf *b)
{
	struct vq_sim *s = &d->sim[qi];
	uint8_t *out = malloc(b->out_len ? b->out_len : 1);
	struct virtio_blk_outhdr h;
	uint32_t nout = 0, nin = 0, in_data = 0, written;
	uint8_t status = VIRTIO_BLK_S_OK;
	uint8_t *in = NULL;

	assert_non_null(out);
	assert_int_equal(vq_sim_read(s, b, out, b->out_len), b->out_len);
	assert_true(b->out_len >= sizeof(h));
	memcpy(&h, out, sizeof(h));
	for (uint32_t i = 0; i < b->nsegs; i++)
		b->segs[i].write ? nin++ : nout++;
	assert_true(nin >= 1 && b->segs[b->nsegs - 1].len == 1); /* status last, alone */
	assert_int_equal(b->segs[0].len, sizeof(h));		 /* header first, alone */
	d->pieces++;
	in_data = (uint32_t)b->in_len - 1;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool rd = h.type == VIRTIO_BLK_T_IN;
		uint32_t data_segs = rd ? nin - 1 : nout - 1;
		uint64_t bytes = rd ? in_data : b->out_len - sizeof(h);

		if (data_segs > d->max_segs_seen)
			d->max_segs_seen = data_segs;
		assert_true(data_segs >= 1 && data_segs <= d->seg_max);
		for (uint32_t i = 1; i + 1 < b->nsegs; i++)
			assert_true(!d->size_max || b->segs[i].len <= d->size_max);
		assert_true(bytes % 512 == 0 && bytes > 0);
		assert_true(h.sector + bytes / 512 <= d->nsect); /* 5.2.6.1 */
		if (d->fail_sector >= h.sector && d->fail_sector < h.sector + bytes / 512) {
			status = d->fail_status;
		} else if (rd) {
			in = malloc(bytes);
			memcpy(in, d->disk + h.sector * 512, bytes);
		} else {
			memcpy(d->disk + h.sector * 512, out + sizeof(h), bytes);
		}
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		assert_int_equal(h.sector, 0);
		assert_int_equal(b->out_len, sizeof(h));
		assert_int_equal(in_data, 0);
		d->flushes++;
		break;
	case VIRTIO_BLK_T_GET_ID:
		assert_int_equal(h.sector, 0);
		assert_int_equal(in_data, VIRTIO_BLK_ID_BYTES);
		assert_true(nin - 1 <= d->seg_max); /* seg_max is for every request (5.2.4) */
		in = calloc(1, 20);
		memcpy(in, d->id ? d->id : (const uint8_t *)"sim-serial-01234567", 20);
		d->get_ids++;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		struct virtio_blk_discard_write_zeroes r;
		bool dis = h.type == VIRTIO_BLK_T_DISCARD;

		assert_int_equal(h.sector, 0);
		assert_int_equal(b->out_len, sizeof(h) + sizeof(r));
		memcpy(&r, out + sizeof(h), sizeof(r));
		assert_true(r.num_sectors >= 1);
		assert_true(r.num_sectors <= (dis ? d->max_discard : d->max_zeroes));
		assert_true(r.sector + r.num_sectors <= d->nsect);
		if (dis)
			assert_int_equal(r.flags, 0); /* 5.2.6.1: no unmap on discard */
		else if (r.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			d->unmaps++;
		dis ? d->discards++ : d->zeroes++;
		if (d->fail_sector >= r.sector && d->fail_sector < r.sector + r.num_sectors)
			status = d->fail_status;
		else
			memset(d->disk + r.sector * 512, 0, (size_t)r.num_sectors * 512);
		break;
	}
	default: status = VIRTIO_BLK_S_UNSUPP;
	}
	/* the status byte sits right after the data */
	{
		uint8_t *all = malloc(in_data + 1);

		memset(all, 0, in_data + 1);
		if (in && status == VIRTIO_BLK_S_OK)
			memcpy(all, in, in_data);
		all[in_data] = status;
		written = vq_sim_write(s, b, all, in_data + (d->no_status ? 0 : 1));
		free(all);
	}
	free(in);
	free(out);
	vq_sim_complete(s, b, d->no_status ? 0 : written - (uint32_t)d->short_len);
}

/* The device takes up to max buffers from each queue and completes them. */
static unsigned dev_run(struct simdev *d, unsigned max)
{
	unsigned n = 0;

	for (unsigned qi = 0; qi < d->nq; qi++) {
		struct vq_sim_buf *b;

		for (unsigned k = 0; k < max && (b = vq_sim_pop(&d->sim[qi])) != NULL; k++, n++)
			serve(d, qi, b);
	}
	return n;
}

static void poll_all(struct simdev *d)
{
	for (unsigned qi = 0; qi < d->nq; qi++)
		vblk_process(&d->q[qi]);
}

/* blkdev ops over the engine; poll also lets the device work. */
static struct simdev *cur;

static int op_submit(struct blkdev *bd, struct blk_request *req)
{
	(void)bd;
	return vblk_submit(&cur->vb, req);
}

static void op_poll(struct blkdev *bd)
{
	(void)bd;
	dev_run(cur, 1000);
	poll_all(cur);
}

static void op_plug(struct blkdev *bd)
{
	(void)bd;
	vblk_plug(&cur->vb);
}

static void op_unplug(struct blkdev *bd)
{
	(void)bd;
	vblk_unplug(&cur->vb);
}

static void op_abort(struct blkdev *bd, const char *why)
{
	(void)bd;
	sd_broken(&cur->vb, why);
}

static const struct blkdev_ops sim_ops = {
	.submit = op_submit,
	.poll = op_poll,
	.plug = op_plug,
	.unplug = op_unplug,
	.abort = op_abort,
};

struct param {
	const char *name;
	uint64_t features;
};
static const struct param split = {"split", F(INDIRECT_DESC) | F(EVENT_IDX)};
static const struct param packed = {"packed", F(RING_PACKED) | F(INDIRECT_DESC) | F(EVENT_IDX)};
static const struct param split_direct = {"split-direct", 0};
static const struct param packed_direct = {"packed-direct", F(RING_PACKED)};

static void sd_start(struct simdev *d, const struct param *p, unsigned nq, uint32_t num,
		     uint32_t seg_max, uint32_t size_max, uint64_t nsect)
{
	memset(d, 0, sizeof(*d));
	cur = d;
	vq_sim_set_mb_hook(NULL, NULL); /* a failed test may have left its hook */
	d->nq = nq;
	d->features = p->features | F(VERSION_1);
	d->nsect = nsect;
	d->disk = calloc(nsect, 512);
	assert_non_null(d->disk);
	blk_pattern_fill(d->disk, 99, 0, nsect);
	d->seg_max = seg_max;
	d->size_max = size_max;
	d->max_discard = d->max_zeroes = UINT32_MAX;
	d->fail_sector = UINT64_MAX;
	d->bd = (struct blkdev){.nr_sectors = nsect,
				.block_size = 512,
				.flush = true,
				.discard = true,
				.write_zeroes = true,
				.ops = &sim_ops};
	strcpy(d->bd.name, "sim");
	d->vb = (struct vblk){.bd = &d->bd,
			      .q = d->q,
			      .nq = nq,
			      .max_segs = seg_max,
			      .size_max = size_max,
			      .max_bytes = 1u << 30,
			      .max_discard = UINT32_MAX,
			      .max_zeroes = UINT32_MAX,
			      .check_used_len = true,
			      .broken = sd_broken};
	for (unsigned i = 0; i < nq; i++) {
		struct vq_config cfg = {.name = "blk",
					.index = (uint16_t)i,
					.num = num,
					.features = d->features,
					.notify = vq_sim_notify,
					.priv = &d->sim[i]};

		vq_sim_init(&d->sim[i]);
		assert_int_equal(virtqueue_create(&cfg, &d->vq[i]), 0);
		vq_sim_attach(&d->sim[i], d->vq[i], d->features);
		assert_int_equal(vblk_queue_init(&d->vb, &d->q[i], i, d->vq[i], false), 0);
	}
	log_clear();
}

static void sd_stop(struct simdev *d)
{
	for (unsigned i = 0; i < d->nq; i++) {
		vblk_queue_fini(&d->q[i]);
		virtqueue_destroy(d->vq[i]);
		vq_sim_fini(&d->sim[i]);
	}
	free(d->disk);
	cur = NULL;
}

/* Requests with their own buffers laid out as random sg chains. */

#define NREQ 64

struct treq {
	struct blk_request r;
	struct sg_entry e[80];
	struct sg_ring ring[80];
	uint8_t *buf;
	uint32_t bytes;
	int done;
};

static struct treq treqs[NREQ];

static void treq_done(struct blk_request *r)
{
	((struct treq *)r->priv)->done++;
}

/* Buffers of bytes in random pieces (some tiny, some odd) in chained rings, scattered. */
static void treq_layout(struct treq *t, uint32_t bytes)
{
	unsigned n = 0, nr = 0, per = 1 + rnd_below(9);
	uint32_t off = 0;

	free(t->buf);
	t->buf = malloc(bytes + 80 * 64);
	t->bytes = bytes;
	while (off < bytes && n < 79) {
		uint32_t len = rnd_below(4) == 0 ? 1 + rnd_below(64) : 1 + rnd_below(4096);

		if (len > bytes - off || n == 78)
			len = bytes - off;
		t->e[n].addr = t->buf + off + n * 64; /* a gap after every piece */
		t->e[n].len = len;
		off += len;
		n++;
	}
	for (unsigned k = 0; k < n; k += per, nr++) {
		sg_init(&t->ring[nr], &t->e[k], per);
		t->ring[nr].num = n - k < per ? n - k : per;
		t->ring[nr].next = NULL;
		if (nr)
			t->ring[nr - 1].next = &t->ring[nr];
	}
}

static void treq_fill(struct treq *t, uint64_t seed, uint64_t sector)
{
	uint8_t *lin = malloc(t->bytes);
	uint32_t off = 0;
	const struct sg_ring *r;
	unsigned i;

	blk_pattern_fill(lin, seed, sector, t->bytes / 512);
	sg_for_each(r, i, t->ring)
	{
		memcpy(r->sg[i].addr, lin + off, r->sg[i].len);
		off += r->sg[i].len;
	}
	free(lin);
}

/* The request's buffers, gathered, hold what want holds. */
static void treq_expect(struct treq *t, const uint8_t *want)
{
	uint8_t *lin = malloc(t->bytes);
	uint32_t off = 0;
	const struct sg_ring *r;
	unsigned k;

	sg_for_each(r, k, t->ring)
	{
		memcpy(lin + off, r->sg[k].addr, r->sg[k].len);
		off += r->sg[k].len;
	}
	assert_memory_equal(lin, want, t->bytes);
	free(lin);
}

static void treqs_free(void)
{
	for (unsigned i = 0; i < NREQ; i++) {
		free(treqs[i].buf);
		treqs[i].buf = NULL;
	}
}

/* Writes then reads of random sizes and layouts, many in flight, under the device's limits. */
static void test_rw_random(void **state)
{
	const struct param *p = *state;
	static const struct {
		unsigned nq;
		uint32_t num, seg_max, size_max;
	} cfgs[] = {
		{1, 256, 62, 0}, {1, 16, 14, 0}, {2, 8, 6, 1000}, {4, 32, 3, 512}, {1, 4, 2, 0}};

	for (size_t c = 0; c < ARRAY_SIZE(cfgs); c++) {
		struct simdev d;
		uint64_t nsect = 4096;

		sd_start(&d, p, cfgs[c].nq, cfgs[c].num, cfgs[c].seg_max, cfgs[c].size_max, nsect);
		for (int round = 0; round < 6; round++) {
			bool wr = round % 2 == 0;
			unsigned n = 1 + rnd_below(NREQ);

			for (unsigned i = 0; i < n; i++) {
				struct treq *t = &treqs[i];
				uint32_t sectors = 1 + rnd_below(128);
				uint64_t sector = rnd_below((uint32_t)(nsect - sectors));

				/* 2 segments of any size hold a sector only if entries are whole */
				treq_layout(t, sectors * 512);
				if (cfgs[c].seg_max < 4 || cfgs[c].size_max) {
					t->e[0].len = t->bytes;
					t->ring[0].num = 1;
					t->ring[0].next = NULL;
				}
				if (wr)
					treq_fill(t, 1000 + round, sector);
				t->done = 0;
				t->r = (struct blk_request){.op = wr ? BLK_OP_WRITE : BLK_OP_READ,
							    .sector = sector,
							    .data = t->ring,
							    .done = treq_done,
							    .priv = t};
				assert_int_equal(blkdev_submit(&d.bd, &t->r), 0);
				if (rnd_below(4) == 0)
					dev_run(&d,
						1 + rnd_below(
							    4)); /* the device at work meanwhile */
				if (rnd_below(4) == 0)
					poll_all(&d);
			}
			for (int spin = 0; spin < 100000; spin++) {
				unsigned left = 0;

				for (unsigned i = 0; i < n; i++)
					left += treqs[i].done == 0;
				if (!left)
					break;
				dev_run(&d, 1 + rnd_below(8));
				poll_all(&d);
			}
			for (unsigned i = 0; i < n; i++) {
				assert_int_equal(treqs[i].done, 1);
				assert_int_equal(treqs[i].r.error, 0);
			}
			/* Every written request is on the disk; every read got the disk's bytes. */
			if (wr) {
				for (unsigned i = 0; i < n; i++) {
					struct treq *t = &treqs[i];
					bool later = false;

					for (unsigned k = i + 1; k < n; k++)
						later |= treqs[k].r.sector <
								 t->r.sector + t->bytes / 512 &&
							 t->r.sector < treqs[k].r.sector +
									       treqs[k].bytes / 512;
					if (!later) /* not overwritten by a later overlapping write */
						assert_int_equal(blk_pattern_check(
									 d.disk + t->r.sector * 512,
									 1000 + round, t->r.sector,
									 t->bytes / 512),
								 -1);
				}
			} else {
				for (unsigned i = 0; i < n; i++) {
					struct treq *t = &treqs[i];

					treq_expect(t, d.disk + t->r.sector * 512);
				}
			}
		}
		assert_true(d.max_segs_seen <= cfgs[c].seg_max);
		for (unsigned i = 0; i < d.nq; i++) {
			assert_int_equal(d.q[i].inflight, 0);
			assert_null(d.q[i].wait_head);
			if (d.nq > 1)
				assert_true(d.q[i].requests > 0); /* spread over the queues */
		}
		assert_int_equal(d.vb.bad_completions, 0);
		sd_stop(&d);
	}
	treqs_free();
}

/* A full ring: requests wait in order (or -EAGAIN with NOWAIT), none is lost. */
static void test_ring_full(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	static uint8_t bufs[NREQ][4096];
	static struct sg_entry e[NREQ];
	static struct sg_ring r[NREQ];
	unsigned accepted = 0, done = 0;

	sd_start(&d, p, 1, 8, 6, 0, 1024);
	for (unsigned i = 0; i < NREQ; i++) {
		sg_init(&r[i], &e[i], 1);
		sg_add(&r[i], bufs[i], 4096);
		treqs[i].done = 0;
		treqs[i].r = (struct blk_request){.op = BLK_OP_READ,
						  .flags = BLK_REQ_NOWAIT,
						  .sector = i * 8,
						  .data = &r[i],
						  .done = treq_done,
						  .priv = &treqs[i]};
	}
	for (unsigned i = 0; i < NREQ; i++) {
		int rc = blkdev_submit(&d.bd, &treqs[i].r);

		if (rc) {
			assert_int_equal(rc, -EAGAIN);
			break;
		}
		accepted++;
	}
	assert_true(accepted >= 2 && accepted <= 8);
	assert_int_equal(d.q[0].inflight, accepted);
	/* Without NOWAIT the rest waits; the device drains it bit by bit. */
	for (unsigned i = accepted; i < NREQ; i++) {
		treqs[i].r.flags = 0;
		assert_int_equal(blkdev_submit(&d.bd, &treqs[i].r), 0);
	}
	assert_non_null(d.q[0].wait_head);
	for (int spin = 0; spin < 10000 && done < NREQ; spin++) {
		dev_run(&d, 3);
		poll_all(&d);
		done = 0;
		for (unsigned i = 0; i < NREQ; i++)
			done += treqs[i].done;
	}
	assert_int_equal(done, NREQ);
	for (unsigned i = 0; i < NREQ; i++) {
		assert_int_equal(treqs[i].r.error, 0);
		assert_int_equal(blk_pattern_check(bufs[i], 99, i * 8, 8), -1);
	}
	assert_true(d.q[0].waited > 0);
	assert_true(d.q[0].max_inflight <= 8);
	sd_stop(&d);
}

/* Device errors reach the one request they belong to, whatever the status says. */
static void test_status_errors(void **state)
{
	const struct param *p = *state;
	static const struct {
		uint8_t status;
		int short_len; /* -1: the status byte is not written at all */
		bool legacy;
		int want;
		const char *log;
	} cases[] = {
		{VIRTIO_BLK_S_IOERR, 0, false, -EIO, "I/O error"},
		{VIRTIO_BLK_S_UNSUPP, 0, false, -EOPNOTSUPP, "not supported"},
		{7, 0, false, -EIO, "unknown status 0x07"},
		{0xff, 0, false, -EIO, "unknown status 0xff"},
		{VIRTIO_BLK_S_OK, 1, false, -EIO, "the device wrote"},
		{VIRTIO_BLK_S_OK, 1, true, 0, ""}, /* legacy: the used length is ignored */
		/* legacy, used length ignored, but a status never written is still caught */
		{VIRTIO_BLK_S_OK, -1, true, -EIO, "unknown status 0xff"},
	};
	static uint8_t bufs[8][4096];
	static struct sg_entry e[8];
	static struct sg_ring r[8];

	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct simdev d;

		sd_start(&d, p, 1, 16, 14, 0, 1024);
		d.vb.check_used_len = !cases[c].legacy;
		d.fail_sector = 20; /* request 2 covers sectors 16..23 */
		d.fail_status = cases[c].status;
		for (unsigned i = 0; i < 8; i++) {
			sg_init(&r[i], &e[i], 1);
			sg_add(&r[i], bufs[i], 4096);
			treqs[i].done = 0;
			treqs[i].r = (struct blk_request){.op = BLK_OP_READ,
							  .sector = i * 8,
							  .data = &r[i],
							  .done = treq_done,
							  .priv = &treqs[i]};
			assert_int_equal(blkdev_submit(&d.bd, &treqs[i].r), 0);
		}
		if (cases[c].short_len) {
			/* only request 5 gets a short used length */
			d.fail_sector = UINT64_MAX;
			for (int k = 0; k < 5; k++) {
				struct vq_sim_buf *b = vq_sim_pop(&d.sim[0]);

				serve(&d, 0, b);
			}
			d.short_len = cases[c].short_len > 0 ? cases[c].short_len : 0;
			d.no_status = cases[c].short_len < 0;
			serve(&d, 0, vq_sim_pop(&d.sim[0]));
			d.short_len = 0;
			d.no_status = false;
		}
		dev_run(&d, 100);
		poll_all(&d);
		for (unsigned i = 0; i < 8; i++) {
			unsigned bad = cases[c].short_len ? 5 : 2;

			assert_int_equal(treqs[i].done, 1);
			assert_int_equal(treqs[i].r.error, i == bad ? cases[c].want : 0);
		}
		assert_non_null(strstr(logbuf, cases[c].log));
		assert_int_equal(d.vb.bad_completions,
				 cases[c].status > 2 || cases[c].short_len < 0 ||
					 (cases[c].short_len && !cases[c].legacy));
		assert_int_equal(d.bd.stats.errors[BLK_OP_READ], cases[c].want != 0);
		assert_int_equal(d.bd.stats.ops[BLK_OP_READ], 8);
		/* The driver goes on: another round is clean. */
		d.fail_sector = UINT64_MAX;
		treqs[0].done = 0;
		assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), 0);
		dev_run(&d, 100);
		poll_all(&d);
		assert_int_equal(treqs[0].done, 1);
		assert_int_equal(treqs[0].r.error, 0);
		sd_stop(&d);
	}
}

/* A request cut in pieces completes once, after its last piece, with the first error. */
static void test_split_error(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	static uint8_t buf[64 * 1024];
	DECLARE_SG(data, 1);

	sd_start(&d, p, 1, 64, 4, 1024, 1024); /* pieces of 4 KiB */
	sg_add(data, buf, sizeof(buf));
	d.fail_sector = 40; /* in the 6th piece of 16 */
	d.fail_status = VIRTIO_BLK_S_IOERR;
	treqs[0].done = 0;
	treqs[0].r = (struct blk_request){
		.op = BLK_OP_READ, .sector = 0, .data = data, .done = treq_done, .priv = &treqs[0]};
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), 0);
	assert_true(d.q[0].inflight >= 1); /* as many as the ring holds */
	for (int k = 0; k < 40; k++) {
		dev_run(&d, 1);
		poll_all(&d);
		if (treqs[0].done)
			break;
	}
	assert_int_equal(treqs[0].done, 1);
	assert_int_equal(treqs[0].r.error, -EIO);
	assert_true(d.pieces <= 16); /* pieces not sent when one failed are dropped */
	assert_int_equal(d.q[0].inflight, 0);
	/* A later piece failing stops the ones not yet sent: ring of 4 slots, 16 pieces. */
	sd_stop(&d);
	sd_start(&d, p, 1, 4, 2, 2048, 1024);
	d.fail_sector = 0;
	d.fail_status = VIRTIO_BLK_S_IOERR;
	treqs[0].done = 0;
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), 0);
	for (int k = 0; k < 40 && !treqs[0].done; k++) {
		dev_run(&d, 1);
		poll_all(&d);
	}
	assert_int_equal(treqs[0].done, 1);
	assert_int_equal(treqs[0].r.error, -EIO);
	assert_true(d.pieces < 16);
	assert_null(d.q[0].wait_head);
	sd_stop(&d);
}

/* Buffers that cannot make a block within the segment limit are refused, not sent. */
static void test_unfit_buffers(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	static uint8_t buf[8192];
	struct sg_entry e[40];
	struct sg_ring r;

	sd_start(&d, p, 1, 16, 2, 0, 1024);
	sg_init(&r, e, 40);
	for (int i = 0; i < 40; i++)
		sg_add(&r, buf + i * 200, i < 8 ? 100 : 200);
	/* 2 entries of 100 bytes: no sector in the first piece */
	treqs[0].r = (struct blk_request){
		.op = BLK_OP_WRITE, .sector = 0, .data = &r, .done = treq_done, .priv = &treqs[0]};
	r.num = 16; /* 8 x 100 + 8 x 200 = 2400: not a multiple of 512 */
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), -EINVAL);
	r.num = 40; /* 800 + 6400 = 7200: not either */
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), -EINVAL);
	e[39].len = 200 + 480; /* 7680 = 15 sectors */
	log_clear();
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), -EINVAL);
	assert_non_null(strstr(logbuf, "do not make a block of 512 bytes within 2 segments"));
	assert_int_equal(d.q[0].inflight, 0);
	assert_int_equal(vq_sim_pending(&d.sim[0]), 0);
	sd_stop(&d);
}

/* Discard and write zeroes cut by the device's maximum, on the alignment; flags right. */
static void test_discard_zeroes(void **state)
{
	const struct param *p = *state;
	struct simdev d;

	sd_start(&d, p, 1, 16, 14, 0, 4096);
	d.max_discard = d.vb.max_discard = 24;
	d.max_zeroes = d.vb.max_zeroes = 40;
	d.vb.discard_align = 16;
	d.bd.max_discard_sectors = 24;
	assert_int_equal(blkdev_discard(&d.bd, 1000, 300), 0);
	/* cuts at multiples of 16 where 24 allows it: 1000-1008, 1008-1024, ... */
	assert_true(d.discards >= 300 / 24 + 1);
	for (uint64_t s = 1000; s < 1300; s++)
		assert_int_equal(blk_pattern_check_zero(d.disk + s * 512, 1), -1);
	assert_int_equal(blk_pattern_check(d.disk + 1300 * 512, 99, 1300, 1), -1);
	assert_int_equal(blk_pattern_check(d.disk + 999 * 512, 99, 999, 1), -1);
	assert_int_equal(blkdev_write_zeroes(&d.bd, 2000, 100, true), 0);
	assert_int_equal(d.zeroes, 3);
	assert_int_equal(d.unmaps, 3);
	assert_int_equal(blkdev_write_zeroes(&d.bd, 3000, 40, false), 0);
	assert_int_equal(d.zeroes, 4);
	assert_int_equal(d.unmaps, 3);
	assert_int_equal(blkdev_flush(&d.bd), 0);
	assert_int_equal(d.flushes, 1);
	/* a failing piece fails the request */
	d.fail_sector = 3500;
	d.fail_status = VIRTIO_BLK_S_UNSUPP;
	assert_int_equal(blkdev_write_zeroes(&d.bd, 3400, 200, false), -EOPNOTSUPP);
	sd_stop(&d);
}

/* GET_ID's 20 bytes obey seg_max too: a layout that needs more segments is refused. */
static void test_get_id_seg_max(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	static uint8_t id[20];
	static struct sg_entry e[4];
	static struct sg_ring r;

	sd_start(&d, p, 1, 16, 2, 0, 256);
	sg_init(&r, e, 4);
	for (unsigned i = 0; i < 4; i++)
		sg_add(&r, id + 5 * i, 5);
	treqs[0].done = 0;
	treqs[0].r = (struct blk_request){
		.op = BLK_OP_GET_ID, .data = &r, .done = treq_done, .priv = &treqs[0]};
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), -EINVAL);
	assert_int_equal(d.get_ids, 0);
	/* Two segments fit. */
	sg_init(&r, e, 4);
	sg_add(&r, id, 10);
	sg_add(&r, id + 10, 10);
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), 0);
	dev_run(&d, 10);
	poll_all(&d);
	assert_int_equal(treqs[0].done, 1);
	assert_int_equal(treqs[0].r.error, 0);
	assert_memory_equal(id, "sim-serial-01234567", 20);
	sd_stop(&d);
}

static void test_get_id_and_sync(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	char id[BLKDEV_ID_STR];
	static uint8_t buf[8192];
	static const uint8_t hostile[20] = "\x1b[2J\"q\\\x07\xff\x80serial-012";
	static const uint8_t all_bad[20] = {0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b,
					    0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1b,
					    0x1b, 0x1b, 0x1b, 0x1b, 0x1b, 0xff};

	sd_start(&d, p, 2, 16, 14, 0, 256);
	assert_int_equal(blkdev_get_id(&d.bd, id), 0);
	assert_string_equal(id, "sim-serial-01234567");
	/* Escape sequences and other bytes never reach a log as they are. */
	d.id = hostile;
	assert_int_equal(blkdev_get_id(&d.bd, id), 0);
	assert_string_equal(id, "\\x1b[2J\\x22q\\x5c\\x07\\xff\\x80serial-012");
	d.id = all_bad;
	assert_int_equal(blkdev_get_id(&d.bd, id), 0);
	assert_int_equal(strlen(id), BLKDEV_ID_STR - 1);
	d.id = NULL;
	assert_int_equal(blkdev_read(&d.bd, 8, buf, sizeof(buf)), 0);
	assert_int_equal(blk_pattern_check(buf, 99, 8, 16), -1);
	blk_pattern_fill(buf, 5, 100, 16);
	assert_int_equal(blkdev_write(&d.bd, 100, buf, sizeof(buf)), 0);
	assert_int_equal(blk_pattern_check(d.disk + 100 * 512, 5, 100, 16), -1);
	sd_stop(&d);
}

/* Everything blkdev_check refuses never reaches the driver. */
static void test_checks(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	static uint8_t buf[8192];
	DECLARE_SG(twenty, 1);

	sd_start(&d, p, 1, 16, 14, 0, 1000);
	assert_int_equal(blkdev_read(&d.bd, 1000, buf, 512), -ERANGE);
	assert_int_equal(blkdev_read(&d.bd, 999, buf, 1024), -ERANGE);
	assert_int_equal(blkdev_read(&d.bd, UINT64_MAX, buf, 512), -ERANGE);
	assert_int_equal(blkdev_read(&d.bd, 0, buf, 0), -EINVAL);
	assert_int_equal(blkdev_read(&d.bd, 0, buf, 100), -EINVAL);
	assert_int_equal(blkdev_discard(&d.bd, 999, 2), -ERANGE);
	assert_int_equal(blkdev_discard(&d.bd, 0, 0), -EINVAL);
	d.bd.block_size = 4096;
	assert_int_equal(blkdev_read(&d.bd, 1, buf, 4096), -EINVAL);
	assert_int_equal(blkdev_read(&d.bd, 0, buf, 2048), -EINVAL);
	assert_int_equal(blkdev_write_zeroes(&d.bd, 8, 4, false), -EINVAL);
	d.bd.block_size = 512;
	d.bd.read_only = true;
	assert_int_equal(blkdev_write(&d.bd, 0, buf, 512), -EROFS);
	assert_int_equal(blkdev_discard(&d.bd, 0, 8), -EROFS);
	assert_int_equal(blkdev_read(&d.bd, 0, buf, 512), 0);
	d.bd.read_only = false;
	d.bd.discard = false;
	assert_int_equal(blkdev_discard(&d.bd, 0, 8), -EOPNOTSUPP);
	d.bd.flush = false;
	assert_int_equal(blkdev_flush(&d.bd), 0); /* writethrough: done at once */
	assert_int_equal(d.flushes, 0);
	sg_add(twenty, buf, 19);
	treqs[0].r = (struct blk_request){.op = BLK_OP_GET_ID, .data = twenty, .done = treq_done};
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), -EINVAL);
	treqs[0].r.done = NULL;
	treqs[0].r.op = BLK_OP_READ;
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), -EINVAL); /* no done() */
	assert_int_equal(d.pieces, 1);				      /* only the good read */
	assert_true(d.bd.stats.rejected >= 12);
	sd_stop(&d);
}

/* Plugged submissions notify once; completions re-submitted from done() notify once a pass. */
static void test_notify_batching(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	static uint8_t bufs[32][512];
	static struct sg_entry e[32];
	static struct sg_ring r[32];

	sd_start(&d, p, 1, 64, 14, 0, 1024);
	blkdev_plug(&d.bd);
	for (unsigned i = 0; i < 32; i++) {
		sg_init(&r[i], &e[i], 1);
		sg_add(&r[i], bufs[i], 512);
		treqs[i].done = 0;
		treqs[i].r = (struct blk_request){.op = BLK_OP_READ,
						  .sector = i,
						  .data = &r[i],
						  .done = treq_done,
						  .priv = &treqs[i]};
		assert_int_equal(blkdev_submit(&d.bd, &treqs[i].r), 0);
	}
	assert_int_equal(d.sim[0].kicks, 0);
	blkdev_unplug(&d.bd);
	assert_int_equal(d.sim[0].kicks, 1);
	assert_int_equal(vq_sim_kick_expected(&d.sim[0]), 1);
	dev_run(&d, 100);
	poll_all(&d);
	for (unsigned i = 0; i < 32; i++)
		assert_int_equal(treqs[i].done, 1);
	sd_stop(&d);
}

/* Interrupt-driven completion: the queue callback runs the completion pass. */
static void irq_cb(struct virtqueue *vq)
{
	unsigned i = virtqueue_index(vq);

	vblk_process(&cur->q[i]);
}

static void test_interrupts(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	static uint8_t bufs[16][512];
	static struct sg_entry e[16];
	static struct sg_ring r[16];

	memset(&d, 0, sizeof(d));
	sd_start(&d, p, 1, 16, 14, 0, 1024);
	/* a queue with interrupts: re-create it with the callback */
	vblk_queue_fini(&d.q[0]);
	virtqueue_destroy(d.vq[0]);
	{
		struct vq_config cfg = {.name = "blk",
					.num = 16,
					.features = d.features,
					.callback = irq_cb,
					.notify = vq_sim_notify,
					.priv = &d.sim[0]};

		assert_int_equal(virtqueue_create(&cfg, &d.vq[0]), 0);
		vq_sim_attach(&d.sim[0], d.vq[0], d.features);
		assert_int_equal(vblk_queue_init(&d.vb, &d.q[0], 0, d.vq[0], true), 0);
	}
	for (unsigned i = 0; i < 16; i++) {
		sg_init(&r[i], &e[i], 1);
		sg_add(&r[i], bufs[i], 512);
		treqs[i].done = 0;
		treqs[i].r = (struct blk_request){.op = BLK_OP_READ,
						  .sector = i,
						  .data = &r[i],
						  .done = treq_done,
						  .priv = &treqs[i]};
		assert_int_equal(blkdev_submit(&d.bd, &treqs[i].r), 0);
	}
	for (int k = 0; k < 16; k++) {
		struct vq_sim_buf *b = vq_sim_pop(&d.sim[0]);

		if (b)
			serve(&d, 0, b);
		vq_sim_signal(&d.sim[0]); /* interrupts as the device decides */
	}
	for (unsigned i = 0; i < 16; i++) {
		assert_int_equal(treqs[i].done, 1);
		assert_int_equal(blk_pattern_check(bufs[i], 99, i, 1), -1);
	}
	assert_true(d.sim[0].interrupts >= 1);
	sd_stop(&d);
}

/*
 * The engine against the strict device (vq_sim strict mode): kicks wake
 * it, it serves what it popped in any order whenever it likes (also at the
 * ring code's full barriers), interrupts only when allowed and reach the
 * engine only between its calls. Completions come only by interrupt, so a
 * lost kick or a lost interrupt leaves a request unfinished at a quiet
 * point. Reads check the pattern; the disk ends as the writes left it.
 */
static void strict_step(struct simdev *d)
{
	unsigned qi = rnd_below(d->nq);
	struct vq_sim *s = &d->sim[qi];

	switch (rnd_below(3)) {
	case 0: vq_sim_service(s, 1 + rnd_below(8)); break;
	case 1:
		for (uint32_t n = rnd_below(s->ninflight + 1); n && s->ninflight; n--)
			serve(d, qi, vq_sim_inflight(s, rnd_below(s->ninflight)));
		vq_sim_signal(s);
		break;
	default: vq_sim_signal(s); break;
	}
}

static void strict_hook(void *arg)
{
	if (rnd_below(3) == 0)
		strict_step(arg);
}

static void strict_quiesce(struct simdev *d)
{
	for (bool busy = true; busy;) {
		busy = false;
		for (unsigned qi = 0; qi < d->nq; qi++) {
			struct vq_sim *s = &d->sim[qi];

			if (s->awake)
				busy |= vq_sim_service(s, 8) > 0 || s->awake;
			while (s->ninflight) {
				serve(d, qi, vq_sim_inflight(s, 0));
				busy = true;
			}
			vq_sim_signal(s);
			busy |= vq_sim_deliver(s);
		}
	}
	for (unsigned qi = 0; qi < d->nq; qi++)
		if (vq_sim_pending(&d->sim[qi]))
			fail_msg("queue %u: lost kick: %u requests available, the device sleeps",
				 qi, vq_sim_pending(&d->sim[qi]));
}

static void strict_run(const struct param *p, unsigned nq, uint32_t num)
{
	struct simdev d;
	uint64_t nsect = 2048, done = 0, sent = 0, irqs = 0;
	uint8_t *model = malloc(nsect * 512);
	unsigned busy[NREQ] = {0};

	memset(&d, 0, sizeof(d));
	sd_start(&d, p, nq, num, 14, 0, nsect);
	memcpy(model, d.disk, nsect * 512);
	for (unsigned i = 0; i < nq; i++) {
		struct vq_config cfg = {.name = "blk",
					.index = (uint16_t)i,
					.num = num,
					.features = d.features,
					.callback = irq_cb,
					.notify = vq_sim_notify,
					.priv = &d.sim[i]};

		vblk_queue_fini(&d.q[i]);
		virtqueue_destroy(d.vq[i]);
		assert_int_equal(virtqueue_create(&cfg, &d.vq[i]), 0);
		vq_sim_attach(&d.sim[i], d.vq[i], d.features);
		vq_sim_set_strict(&d.sim[i], true);
		assert_int_equal(vblk_queue_init(&d.vb, &d.q[i], i, d.vq[i], true), 0);
	}
	vq_sim_set_mb_hook(strict_hook, &d);
	for (unsigned step = 0; step < 6000; step++) {
		unsigned r = rnd_below(8);

		if (r < 2) {
			/* submit a few under one plug, as blk_job does */
			blkdev_plug(&d.bd);
			for (unsigned k = 0, n = 1 + rnd_below(8); k < n; k++) {
				unsigned i = rnd_below(32);
				struct treq *t = &treqs[i];
				uint32_t sectors = 1 + rnd_below(16);
				uint64_t sector = rnd_below((uint32_t)(nsect - sectors));
				bool wr = rnd_below(2);

				bool clash = busy[i] != 0;

				/* one request per sector range in flight: a read sees the last write */
				for (unsigned j = 0; j < 32; j++)
					if (busy[j] && treqs[j].r.sector < sector + sectors &&
					    sector < treqs[j].r.sector + treqs[j].r.nr_sectors)
						clash = true;
				if (clash)
					continue;
				treq_layout(t, sectors * 512);
				if (wr) {
					treq_fill(t, 5000 + step, sector);
					blk_pattern_fill(model + sector * 512, 5000 + step, sector,
							 sectors);
				}
				t->done = 0;
				t->r = (struct blk_request){.op = wr ? BLK_OP_WRITE : BLK_OP_READ,
							    .sector = sector,
							    .nr_sectors = sectors,
							    .data = t->ring,
							    .done = treq_done,
							    .priv = t};
				assert_int_equal(blkdev_submit(&d.bd, &t->r), 0);
				busy[i] = 1 + wr;
				sent++;
			}
			blkdev_unplug(&d.bd);
		} else if (r == 2) {
			for (unsigned qi = 0; qi < nq; qi++)
				irqs += vq_sim_deliver(&d.sim[qi]);
		} else if (r == 3 && rnd_below(32) == 0) {
			strict_quiesce(&d);
			for (unsigned j = 0; j < 32; j++)
				if (busy[j] && !treqs[j].done)
					fail_msg("lost interrupt: request %u unfinished at a quiet "
						 "point",
						 j);
		} else {
			strict_step(&d);
		}
		for (unsigned j = 0; j < 32; j++) {
			struct treq *t = &treqs[j];

			if (!busy[j] || !t->done)
				continue;
			assert_int_equal(t->done, 1);
			assert_int_equal(t->r.error, 0);
			if (busy[j] == 1)
				treq_expect(t, model + t->r.sector * 512);
			busy[j] = 0;
			done++;
		}
	}
	strict_quiesce(&d);
	vq_sim_set_mb_hook(NULL, NULL);
	for (unsigned j = 0; j < 32; j++)
		if (busy[j] && !treqs[j].done)
			fail_msg("lost interrupt: request %u unfinished at the end", j);
	assert_memory_equal(d.disk, model, nsect * 512);
	assert_true(sent > 1000 && d.sim[0].sleeps > 0 && d.sim[0].interrupts > 0);
	print_message("%s, %u queue(s) of %u: %llu requests, %llu kicks, %llu interrupts, %llu "
		      "device sleeps\n",
		      p->name, nq, num, (unsigned long long)sent,
		      (unsigned long long)d.sim[0].kicks, (unsigned long long)d.sim[0].interrupts,
		      (unsigned long long)d.sim[0].sleeps);
	(void)done;
	(void)irqs;
	free(model);
	treqs_free();
	sd_stop(&d);
}

static void test_strict_device(void **state)
{
	const struct param *p = *state;

	strict_run(p, 1, 16);
	strict_run(p, 2, 128);
}

/*
 * The lost-notification watchdog: a kick that never reaches the strict
 * device, then an interrupt that never reaches the driver. Without the
 * watchdog each request would wait for ever; with it, it completes once
 * VBLK_WATCHDOG_NS have passed without progress, and the counters say how.
 */
static void watchdog_read(struct simdev *d, struct treq *t, uint64_t sector)
{
	treq_layout(t, 4096);
	t->done = 0;
	t->r = (struct blk_request){.op = BLK_OP_READ,
				    .sector = sector,
				    .nr_sectors = 8,
				    .data = t->ring,
				    .done = treq_done,
				    .priv = t};
	assert_int_equal(blkdev_submit(&d->bd, &t->r), 0);
}

static void watchdog_settle(struct simdev *d)
{
	struct vq_sim *s = &d->sim[0];

	while (vq_sim_service(s, 8) || s->awake)
		;
	while (s->ninflight)
		serve(d, 0, vq_sim_inflight(s, 0));
	vq_sim_signal(s);
	vq_sim_deliver(s);
}

static void test_watchdog(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	struct vq_sim *s = &d.sim[0];
	struct vblk_queue *q = &d.q[0];
	struct vq_config cfg;
	uint64_t t0 = 1000000000ull;

	memset(&d, 0, sizeof(d));
	sd_start(&d, p, 1, 16, 14, 0, 1024);
	vblk_queue_fini(q);
	virtqueue_destroy(d.vq[0]);
	cfg = (struct vq_config){.name = "blk",
				 .num = 16,
				 .features = d.features,
				 .callback = irq_cb,
				 .notify = vq_sim_notify,
				 .priv = s};
	assert_int_equal(virtqueue_create(&cfg, &d.vq[0]), 0);
	vq_sim_attach(s, d.vq[0], d.features);
	vq_sim_set_strict(s, true);
	assert_int_equal(vblk_queue_init(&d.vb, q, 0, d.vq[0], true), 0);

	/* A lost kick: the device sleeps with the request available. */
	s->drop_kicks = 1;
	watchdog_read(&d, &treqs[0], 8);
	watchdog_settle(&d);
	assert_int_equal(treqs[0].done, 0);
	assert_int_equal(vq_sim_pending(s), 1);
	vblk_watchdog(&d.vb, t0);
	vblk_watchdog(&d.vb, t0 + VBLK_WATCHDOG_NS - 1); /* not yet */
	assert_int_equal(q->rekicks, 0);
	vblk_watchdog(&d.vb, t0 + VBLK_WATCHDOG_NS);
	assert_int_equal(q->rekicks, 1);
	watchdog_settle(&d);
	assert_int_equal(treqs[0].done, 1);
	assert_int_equal(treqs[0].r.error, 0);
	treq_expect(&treqs[0], d.disk + 8 * 512);

	/* A lost interrupt: used, and nobody told the driver. */
	s->drop_irqs = 1;
	watchdog_read(&d, &treqs[1], 64);
	watchdog_settle(&d);
	assert_int_equal(treqs[1].done, 0);
	t0 += 10 * VBLK_WATCHDOG_NS;
	vblk_watchdog(&d.vb, t0);
	vblk_watchdog(&d.vb, t0 + VBLK_WATCHDOG_NS);
	assert_int_equal(treqs[1].done, 1);
	treq_expect(&treqs[1], d.disk + 64 * 512);
	assert_int_equal(q->found_used, 1);
	assert_int_equal(q->rekicks, 1); /* nothing left out: no kick needed */

	/* Progress keeps it quiet: no spurious kicks on a working queue. */
	watchdog_read(&d, &treqs[2], 128);
	vblk_watchdog(&d.vb, t0 + 3 * VBLK_WATCHDOG_NS);
	watchdog_settle(&d);
	vblk_watchdog(&d.vb, t0 + 4 * VBLK_WATCHDOG_NS);
	assert_int_equal(treqs[2].done, 1);
	assert_int_equal(q->rekicks, 1);
	treqs_free();
	sd_stop(&d);
}

/*
 * Recovery after a broken ring: the engine takes every request back (from
 * the rings and the waiting lists), the device is "reset" (new rings), the
 * requests are sent again from their start and complete with the right
 * data; a request that meets a second break fails instead of looping.
 */
static bool rec_broken;

/* Queue 0's device pops a buffer and writes a used entry naming one not outstanding. */
static void bad_used_entry(struct simdev *d, const struct param *p)
{
	vq_sim_pop(&d->sim[0]);
	if (p->features & F(RING_PACKED))
		vq_sim_put_used_desc_raw(&d->sim[0], 7777, 0, 0, 1);
	else
		vq_sim_put_used_raw(&d->sim[0], 7777, 0);
	poll_all(d);
}

/* One buffer, one entry. */
static void treq_linear(struct treq *t, uint32_t bytes)
{
	free(t->buf);
	t->buf = malloc(bytes);
	t->bytes = bytes;
	sg_init(&t->ring[0], t->e, 1);
	sg_add(&t->ring[0], t->buf, bytes);
}

static void rec_broken_cb(struct vblk *vb, const char *why)
{
	(void)why;
	rec_broken = true;
	vb->recovering = true;
}

static void rec_reset(struct simdev *d)
{
	struct blk_request *list;
	unsigned failed;

	list = vblk_take_back(&d->vb, -EIO, &failed);
	for (unsigned i = 0; i < d->nq; i++) {
		struct vq_config cfg = {.name = "blk",
					.index = (uint16_t)i,
					.num = virtqueue_num(d->vq[i]),
					.features = d->features,
					.notify = vq_sim_notify,
					.priv = &d->sim[i]};

		virtqueue_destroy(d->vq[i]);
		assert_int_equal(virtqueue_create(&cfg, &d->vq[i]), 0);
		vq_sim_attach(&d->sim[i], d->vq[i], d->features);
		assert_int_equal(vblk_queue_reinit(&d->q[i], d->vq[i], false), 0);
	}
	vblk_resend(&d->vb, list);
	rec_broken = false;
}

static void test_recover(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	uint64_t requests;

	memset(&d, 0, sizeof(d));
	sd_start(&d, p, 2, 8, 14, 0, 2048);
	d.vb.broken = rec_broken_cb;
	/* 24 reads of 8 KiB: rings of 8 hold some, the rest wait. */
	for (unsigned i = 0; i < 24; i++) {
		treq_linear(&treqs[i], 8192);
		treqs[i].done = 0;
		treqs[i].r = (struct blk_request){.op = BLK_OP_READ,
						  .sector = i * 16,
						  .data = treqs[i].ring,
						  .done = treq_done,
						  .priv = &treqs[i]};
		assert_int_equal(blkdev_submit(&d.bd, &treqs[i].r), 0);
	}
	assert_true(d.q[0].wait_head && d.q[1].wait_head);
	/* Two complete, then queue 0's device writes a bad used entry. */
	serve(&d, 0, vq_sim_pop(&d.sim[0]));
	serve(&d, 1, vq_sim_pop(&d.sim[1]));
	bad_used_entry(&d, p);
	assert_true(rec_broken && d.vb.recovering);
	/* A request submitted meanwhile waits for the device to come back. */
	treq_linear(&treqs[24], 4096);
	treqs[24].done = 0;
	treqs[24].r = (struct blk_request){.op = BLK_OP_READ,
					   .sector = 1000,
					   .data = treqs[24].ring,
					   .done = treq_done,
					   .priv = &treqs[24]};
	assert_int_equal(blkdev_submit(&d.bd, &treqs[24].r), 0);
	requests = d.q[0].requests + d.q[1].requests;
	rec_reset(&d);
	assert_false(d.vb.recovering);
	for (int k = 0; k < 200; k++)
		op_poll(&d.bd);
	for (unsigned i = 0; i < 25; i++) {
		assert_int_equal(treqs[i].done, 1);
		assert_int_equal(treqs[i].r.error, 0);
		treq_expect(&treqs[i], d.disk + treqs[i].r.sector * 512);
		/* the first one completed before the break; queue 1's was not read yet */
		assert_true(treqs[i].r.in.retried == (i >= 1));
	}
	assert_int_equal(d.q[0].requests + d.q[1].requests, requests); /* not counted twice */

	/* Sent again and broken again: it fails, once, with -EIO. */
	treqs[0].done = 0;
	treqs[0].r.in.retried = false;
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), 0);
	rec_reset(&d); /* as if the ring broke: taken back, sent again */
	assert_int_equal(treqs[0].done, 0);
	rec_reset(&d); /* and again: no third time */
	assert_int_equal(treqs[0].done, 1);
	assert_int_equal(treqs[0].r.error, -EIO);
	treqs_free();
	sd_stop(&d);
}

/* A device that corrupts its used ring: every request fails once, the disk is dead. */
static void test_broken_ring(void **state)
{
	const struct param *p = *state;
	struct simdev d;
	static uint8_t bufs[12][512];
	static struct sg_entry e[12];
	static struct sg_ring r[12];

	sd_start(&d, p, 1, 8, 6, 0, 1024);
	for (unsigned i = 0; i < 12; i++) {
		sg_init(&r[i], &e[i], 1);
		sg_add(&r[i], bufs[i], 512);
		treqs[i].done = 0;
		treqs[i].r = (struct blk_request){.op = BLK_OP_READ,
						  .sector = i,
						  .data = &r[i],
						  .done = treq_done,
						  .priv = &treqs[i]};
		assert_int_equal(blkdev_submit(&d.bd, &treqs[i].r), 0);
	}
	serve(&d, 0, vq_sim_pop(&d.sim[0])); /* one good completion */
	bad_used_entry(&d, p);
	assert_int_equal(d.broken_calls, 1);
	assert_true(d.vb.dead && d.bd.dead);
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(treqs[i].done, 1);
	assert_int_equal(treqs[0].r.error, 0);
	for (unsigned i = 1; i < 12; i++)
		assert_int_equal(treqs[i].r.error, -EIO);
	assert_int_equal(blkdev_submit(&d.bd, &treqs[0].r), -ENODEV);
	poll_all(&d);
	assert_int_equal(d.broken_calls, 1);
	sd_stop(&d);
}

#define T(fn, p) cmocka_unit_test_prestate(fn, (void *)&(p))

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cursor_basic),
		cmocka_unit_test(test_cursor_random),
		cmocka_unit_test(test_pattern_vectors),
		T(test_rw_random, split),
		T(test_rw_random, packed),
		T(test_rw_random, split_direct),
		T(test_rw_random, packed_direct),
		T(test_ring_full, split),
		T(test_ring_full, packed),
		T(test_ring_full, split_direct),
		T(test_status_errors, split),
		T(test_status_errors, packed),
		T(test_split_error, split),
		T(test_split_error, packed_direct),
		T(test_unfit_buffers, split),
		T(test_discard_zeroes, split),
		T(test_discard_zeroes, packed),
		T(test_get_id_seg_max, split),
		T(test_get_id_seg_max, packed),
		T(test_get_id_and_sync, split),
		T(test_get_id_and_sync, packed),
		T(test_checks, split),
		T(test_notify_batching, split),
		T(test_notify_batching, packed),
		T(test_interrupts, split),
		T(test_interrupts, packed),
		T(test_recover, split),
		T(test_recover, packed),
		T(test_watchdog, split),
		T(test_watchdog, packed),
		T(test_strict_device, split),
		T(test_strict_device, packed),
		T(test_strict_device, split_direct),
		T(test_strict_device, packed_direct),
		T(test_broken_ring, split),
		T(test_broken_ring, packed),
	};

	return cmocka_run_group_tests_name("blk", tests, NULL, NULL);
}
