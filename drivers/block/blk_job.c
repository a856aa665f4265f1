/*
 * blk_job: many block requests in flight with checked data, and the
 * benchmark built on it (see include/block/blk_job.h).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/barrier.h>
#include <arch/x86_64/cpu.h>
#include <block/blk_job.h>
#include <block/blk_pattern.h>
#include <kernel/clock.h>
#include <kernel/kernel.h>

#define JOB_MAX_BYTES (64u * 1024 * 1024)

/* With interrupts, poll the device only when nothing completed for this long. */
#define BLK_JOB_IDLE_POLL_NS (20ull * 1000000ull)

struct extent {
	uint64_t sector;
	uint32_t bytes;
};

struct job_req {
	struct blk_request req;
	struct extent ext;
	uint8_t *buf;	       /* max_bytes */
	struct sg_ring *rings; /* the chain handed to the device */
	struct sg_entry *ents; /* entries of all rings */
	uint32_t *pos;	       /* logical offset of each entry */
	unsigned int nents;
	volatile bool finished; /* set by done() */
	bool busy;
};

struct job {
	struct blkdev *bd;
	const struct blk_job_opts *o;
	struct job_req *reqs;
	uint8_t *stage; /* the logical request data, when entries are not one buffer */
	unsigned int max_ents, max_rings;
	uint64_t rng;
};

static uint64_t rnd(struct job *j)
{
	j->rng ^= j->rng >> 12;
	j->rng ^= j->rng << 25;
	j->rng ^= j->rng >> 27;
	return j->rng * 0x2545f4914f6cdd1dull;
}

static bool irqs_enabled(void)
{
	uint64_t flags = irq_save();

	irq_restore(flags);
	return flags & (1u << 9);
}

static void job_done(struct blk_request *req)
{
	((struct job_req *)req->priv)->finished = true;
}

/* Lay the request's buffer out as entries (frag, scatter) in rings of ring_entries. */
static void layout(struct job *j, struct job_req *jr)
{
	const struct blk_job_opts *o = j->o;
	uint32_t bytes = jr->ext.bytes, frag = o->frag ? o->frag : bytes;
	unsigned int n = (bytes + frag - 1) / frag, per = o->ring_entries ? o->ring_entries : n;
	uint32_t off = 0;

	for (unsigned int k = 0; k < n; k++) {
		uint32_t len = bytes - off < frag ? bytes - off : frag;
		/* scatter: entry k lives at the mirrored place of the buffer */
		uint32_t at = o->scatter ? bytes - off - len : off;

		jr->ents[k].addr = jr->buf + at;
		jr->ents[k].len = len;
		jr->pos[k] = off;
		off += len;
	}
	jr->nents = n;
	for (unsigned int r = 0, k = 0; k < n; r++, k += per) {
		sg_init(&jr->rings[r], &jr->ents[k], per);
		jr->rings[r].num = n - k < per ? n - k : per;
		jr->rings[r].next = k + per < n ? &jr->rings[r + 1] : NULL;
	}
}

/* The logical data of the request: the buffer itself, or gathered into the stage. */
static uint8_t *gather(struct job *j, struct job_req *jr)
{
	if (jr->nents == 1 && jr->ents[0].addr == jr->buf)
		return jr->buf;
	for (unsigned int k = 0; k < jr->nents; k++)
		memcpy(j->stage + jr->pos[k], jr->ents[k].addr, jr->ents[k].len);
	return j->stage;
}

static void prepare_write(struct job *j, struct job_req *jr)
{
	uint32_t sectors = jr->ext.bytes / BLK_SECTOR_SIZE;

	if (j->o->data != BLK_JOB_PATTERN)
		return;
	if (jr->nents == 1 && jr->ents[0].addr == jr->buf) {
		blk_pattern_fill(jr->buf, j->o->seed, jr->ext.sector, sectors);
		return;
	}
	blk_pattern_fill(j->stage, j->o->seed, jr->ext.sector, sectors);
	for (unsigned int k = 0; k < jr->nents; k++)
		memcpy(jr->ents[k].addr, j->stage + jr->pos[k], jr->ents[k].len);
}

/* Returns: -1 if the read data is right, else the first wrong sector. */
static int64_t check_read(struct job *j, struct job_req *jr)
{
	uint32_t sectors = jr->ext.bytes / BLK_SECTOR_SIZE;
	const uint8_t *p;
	int64_t bad;

	if (j->o->data == BLK_JOB_NONE)
		return -1;
	p = gather(j, jr);
	bad = j->o->data == BLK_JOB_ZEROES
		      ? blk_pattern_check_zero(p, sectors)
		      : blk_pattern_check(p, j->o->seed, jr->ext.sector, sectors);
	return bad < 0 ? -1 : (int64_t)(jr->ext.sector + (uint64_t)bad / BLK_SECTOR_SIZE);
}

static void record_failure(struct blk_job_result *r, const struct extent *e, int err)
{
	r->errors++;
	if (r->nfailed < BLK_JOB_FAILED_MAX) {
		r->failed[r->nfailed].sector = e->sector;
		r->failed[r->nfailed].sectors = e->bytes / BLK_SECTOR_SIZE;
		r->failed[r->nfailed].error = err;
		r->nfailed++;
	}
}

static int check_opts(struct blkdev *bd, uint64_t start, uint64_t count,
		      const struct blk_job_opts *o)
{
	uint32_t bs = bd->block_size;

	if ((o->op != BLK_OP_READ && o->op != BLK_OP_WRITE) || o->depth == 0 || o->min_bytes == 0 ||
	    o->min_bytes > o->max_bytes || o->max_bytes > JOB_MAX_BYTES || o->min_bytes % bs ||
	    o->max_bytes % bs || (o->frag && o->frag > o->max_bytes) ||
	    (o->op == BLK_OP_WRITE && o->data == BLK_JOB_ZEROES) || count == 0 ||
	    (start * BLK_SECTOR_SIZE) % bs || (count * BLK_SECTOR_SIZE) % bs ||
	    count * BLK_SECTOR_SIZE < o->min_bytes)
		return -EINVAL;
	if (start + count < start || start + count > bd->nr_sectors)
		return -ERANGE;
	return 0;
}

/* The requests covering the range, sizes in [min, max], ascending or shuffled. */
static struct extent *make_extents(struct job *j, uint64_t start, uint64_t count, size_t *np)
{
	const struct blk_job_opts *o = j->o;
	uint32_t bs = j->bd->block_size, steps = (o->max_bytes - o->min_bytes) / bs + 1;
	size_t n = 0, cap = count * BLK_SECTOR_SIZE / o->min_bytes + 1;
	struct extent *e = malloc(cap * sizeof(*e));
	uint64_t s = start, end = start + count;

	if (!e)
		return NULL;
	while (s < end) {
		uint64_t bytes = o->min_bytes + (uint64_t)(rnd(j) % steps) * bs;

		if (bytes > (end - s) * BLK_SECTOR_SIZE)
			bytes = (end - s) * BLK_SECTOR_SIZE;
		e[n].sector = s;
		e[n].bytes = (uint32_t)bytes;
		s += bytes / BLK_SECTOR_SIZE;
		n++;
	}
	if (o->shuffle) {
		for (size_t i = n - 1; i > 0; i--) {
			size_t k = (size_t)(rnd(j) % (i + 1));
			struct extent t = e[i];

			e[i] = e[k];
			e[k] = t;
		}
	}
	*np = n;
	return e;
}

static void job_free(struct job *j, unsigned int depth)
{
	if (j->reqs) {
		for (unsigned int i = 0; i < depth; i++) {
			free(j->reqs[i].buf);
			free(j->reqs[i].rings);
			free(j->reqs[i].ents);
			free(j->reqs[i].pos);
		}
	}
	free(j->reqs);
	free(j->stage);
}

static int job_alloc(struct job *j)
{
	const struct blk_job_opts *o = j->o;
	uint32_t frag = o->frag ? o->frag : o->max_bytes;

	j->max_ents = (o->max_bytes + frag - 1) / frag;
	j->max_rings = o->ring_entries ? (j->max_ents + o->ring_entries - 1) / o->ring_entries : 1;
	j->reqs = calloc(o->depth, sizeof(*j->reqs));
	j->stage = memalign(4096, o->max_bytes);
	if (!j->reqs || !j->stage)
		return -ENOMEM;
	for (unsigned int i = 0; i < o->depth; i++) {
		struct job_req *jr = &j->reqs[i];

		jr->buf = memalign(4096, o->max_bytes);
		jr->rings = calloc(j->max_rings, sizeof(*jr->rings));
		jr->ents = calloc(j->max_ents, sizeof(*jr->ents));
		jr->pos = calloc(j->max_ents, sizeof(*jr->pos));
		if (!jr->buf || !jr->rings || !jr->ents || !jr->pos)
			return -ENOMEM;
	}
	return 0;
}

int blk_job_run(struct blkdev *bd, uint64_t start, uint64_t count, const struct blk_job_opts *o,
		struct blk_job_result *r)
{
	struct job j = {.bd = bd, .o = o, .rng = o->rng ? o->rng : 0x9e3779b97f4a7c15ull};
	struct extent *ext = NULL;
	size_t n = 0, next = 0;
	unsigned int inflight = 0;
	uint64_t t0, last, deadline, n0 = 0, i0 = 0;
	bool irq = bd->interrupts && !o->poll && irqs_enabled(), stop = false;
	int rc;

	memset(r, 0, sizeof(*r));
	r->bad_sector = UINT64_MAX;
	rc = check_opts(bd, start, count, o);
	if (rc)
		return rc;
	ext = make_extents(&j, start, count, &n);
	rc = ext ? job_alloc(&j) : -ENOMEM;
	if (rc)
		goto out;
	if (bd->ops->counters)
		bd->ops->counters(bd, &n0, &i0);
	t0 = last = clock_ns();
	deadline = t0 + BLKDEV_TIMEOUT_NS;
	for (;;) {
		bool progress = false;

		for (unsigned int i = 0; i < o->depth; i++) {
			struct job_req *jr = &j.reqs[i];

			if (!jr->busy || !jr->finished)
				continue;
			barrier(); /* done() ran: the data is in, read it only now */
			jr->busy = false;
			inflight--;
			progress = true;
			r->requests++;
			if (jr->req.error) {
				record_failure(r, &jr->ext, jr->req.error);
				continue;
			}
			r->bytes += jr->ext.bytes;
			if (o->op == BLK_OP_READ) {
				int64_t bad = check_read(&j, jr);

				if (bad >= 0) {
					r->mismatches++;
					if ((uint64_t)bad < r->bad_sector)
						r->bad_sector = (uint64_t)bad;
				}
			}
		}
		if (progress) {
			last = clock_ns();
			deadline = last + BLKDEV_TIMEOUT_NS;
		}
		if (o->max_ns && clock_ns() - t0 >= o->max_ns)
			stop = true;
		if (!stop && (next < n || o->max_ns) && inflight < o->depth) {
			blkdev_plug(bd);
			for (unsigned int i = 0; i < o->depth && inflight < o->depth; i++) {
				struct job_req *jr = &j.reqs[i];

				if (jr->busy)
					continue;
				if (next == n) {
					if (!o->max_ns)
						break;
					next = 0; /* timed run: around again */
				}
				jr->ext = ext[next++];
				layout(&j, jr);
				if (o->op == BLK_OP_WRITE)
					prepare_write(&j, jr);
				jr->req = (struct blk_request){
					.op = o->op,
					.sector = jr->ext.sector,
					.data = jr->rings,
					.done = job_done,
					.priv = jr,
				};
				jr->finished = false;
				rc = blkdev_submit(bd, &jr->req);
				if (rc) {
					r->requests++;
					record_failure(r, &jr->ext, rc);
					if (rc == -ENODEV)
						stop = true;
					continue;
				}
				jr->busy = true;
				inflight++;
			}
			blkdev_unplug(bd);
		}
		if (inflight == 0 && (stop || next == n))
			break;
		if (!irq || clock_ns() - last > BLK_JOB_IDLE_POLL_NS)
			blkdev_poll(bd); /* with interrupts: a look when nothing came for a while */
		else
			cpu_relax();
		if (clock_ns() > deadline && inflight) {
			/* The device is reset and the requests sent again, once. */
			bd->ops->abort(bd, "requests got no answer within the timeout");
			deadline = clock_ns() + BLKDEV_TIMEOUT_NS;
		}
	}
	r->ns = last - t0;
	if (bd->ops->counters) {
		bd->ops->counters(bd, &r->notifications, &r->interrupts);
		r->notifications -= n0;
		r->interrupts -= i0;
	}
	rc = r->errors || r->mismatches ? -EIO : 0;
out:
	job_free(&j, o->depth);
	free(ext);
	return rc;
}

void blk_job_print(const char *what, const struct blk_job_result *r)
{
	uint64_t ns = r->ns ? r->ns : 1;

	printf("%s: %llu requests, %llu KiB in %llu ms, %llu.%llu MB/s, %llu IOPS", what,
	       (unsigned long long)r->requests, (unsigned long long)(r->bytes / 1024),
	       (unsigned long long)(r->ns / 1000000), (unsigned long long)(r->bytes * 1000 / ns),
	       (unsigned long long)(r->bytes * 10000 / ns % 10),
	       (unsigned long long)(r->requests * 1000000000ull / ns));
	if (r->errors)
		printf(", %llu failed", (unsigned long long)r->errors);
	if (r->mismatches)
		printf(", %llu read wrong data (first wrong sector %llu)",
		       (unsigned long long)r->mismatches, (unsigned long long)r->bad_sector);
	printf("\n");
}

/* x/y with two decimals, as "a.bc". */
static void print_ratio(uint64_t x, uint64_t y)
{
	uint64_t v = y ? x * 100 / y : 0;

	printf(" %7llu.%02llu", (unsigned long long)(v / 100), (unsigned long long)(v % 100));
}

int blk_bench(struct blkdev *bd, unsigned int ms)
{
	static const struct {
		const char *name;
		enum blk_op op;
		bool shuffle;
		uint32_t bytes;
		unsigned int depth;
	} cases[] = {
		{"seq read", BLK_OP_READ, false, 4096, 1},
		{"seq read", BLK_OP_READ, false, 4096, 32},
		{"seq read", BLK_OP_READ, false, 65536, 1},
		{"seq read", BLK_OP_READ, false, 65536, 32},
		{"seq read", BLK_OP_READ, false, 1048576, 1},
		{"seq read", BLK_OP_READ, false, 1048576, 32},
		{"seq write", BLK_OP_WRITE, false, 4096, 1},
		{"seq write", BLK_OP_WRITE, false, 4096, 32},
		{"seq write", BLK_OP_WRITE, false, 65536, 1},
		{"seq write", BLK_OP_WRITE, false, 65536, 32},
		{"seq write", BLK_OP_WRITE, false, 1048576, 1},
		{"seq write", BLK_OP_WRITE, false, 1048576, 32},
		{"rand read", BLK_OP_READ, true, 4096, 1},
		{"rand read", BLK_OP_READ, true, 4096, 32},
	};
	uint64_t count = bd->nr_sectors;
	bool irq = bd->interrupts && irqs_enabled();
	int first = 0;

	if (count > 2 * GiB / BLK_SECTOR_SIZE)
		count = 2 * GiB / BLK_SECTOR_SIZE;
	count = ALIGN_DOWN(count, 2 * MiB / BLK_SECTOR_SIZE);
	if (count == 0 || bd->read_only || bd->block_size > 4096) {
		printf("blk bench: needs a writable disk of 2 MiB or more with blocks of 4 KiB or "
		       "less\n");
		return -EINVAL;
	}
	printf("blk bench: %s, %llu MiB used, %u queue%s of %u, completions by %s, %u ms per "
	       "case\n",
	       bd->name, (unsigned long long)(count * BLK_SECTOR_SIZE / MiB), bd->nr_queues,
	       bd->nr_queues == 1 ? "" : "s", bd->queue_size, irq ? "interrupt" : "polling", ms);
	printf("%-10s %6s %3s %10s %10s %10s %10s\n", "case", "size", "QD", "MB/s", "IOPS",
	       "notif/req", "irq/req");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct blk_job_opts o = {
			.op = cases[i].op,
			.data = BLK_JOB_NONE,
			.depth = cases[i].depth,
			.min_bytes = cases[i].bytes,
			.max_bytes = cases[i].bytes,
			.shuffle = cases[i].shuffle,
			.max_ns = (uint64_t)ms * 1000000ull,
		};
		struct blk_job_result r;
		uint64_t ns;
		int rc = blk_job_run(bd, 0, count, &o, &r);
		char size[8];

		if (cases[i].bytes >= 1048576)
			snprintf(size, sizeof(size), "%uM", (unsigned)(cases[i].bytes >> 20));
		else
			snprintf(size, sizeof(size), "%uK", (unsigned)(cases[i].bytes >> 10));
		printf("%-10s %6s %3u", cases[i].name, size, cases[i].depth);
		if (rc || r.ns == 0) {
			/* No figures from a case that failed: they would be made of nothing. */
			printf("  error %d (%s): %llu of %llu requests failed\n", rc,
			       blkdev_strerror(rc), (unsigned long long)r.errors,
			       (unsigned long long)r.requests);
			if (!first)
				first = rc ? rc : -EIO;
			continue;
		}
		ns = r.ns;
		printf(" %8llu.%llu %10llu", (unsigned long long)(r.bytes * 1000 / ns),
		       (unsigned long long)(r.bytes * 10000 / ns % 10),
		       (unsigned long long)(r.requests * 1000000000ull / ns));
		print_ratio(r.notifications, r.requests);
		print_ratio(r.interrupts, r.requests);
		printf("\n");
	}
	return first;
}
