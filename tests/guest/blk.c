/*
 * Virtio-blk in the guest, against disk images the host test
 * (tests/qemu/test_blk.py) prepared with the pattern of
 * include/block/blk_pattern.h and checks byte for byte after QEMU exits.
 * Parameters come from the command line: blkt.seed= (the image's
 * pattern), blkt.seed2= (the pattern to write), and per test more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/cpu.h>
#include <block/blk_job.h>
#include <block/blk_pattern.h>
#include <block/blkdev.h>
#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/kernel.h>
#include <kernel/registry.h>

static uint64_t arg(const char *key, uint64_t dflt)
{
	const char *v = cmdline_get(&kernel_cmdline, key);

	return v ? strtoull(v, NULL, 0) : dflt;
}

static struct blkdev *test_disk(const char *test)
{
	const char *name = cmdline_get(&kernel_cmdline, "blkt.disk");
	struct blkdev *bd = name ? blkdev_find(name) : blkdev_list;

	if (!bd) {
		printf("%s: no disk\n", test);
		return NULL;
	}
	printf("%s: %s: %llu sectors, %u-byte blocks, %u queue(s) of %u, max %u segments of ", test,
	       bd->name, (unsigned long long)bd->nr_sectors, bd->block_size, bd->nr_queues,
	       bd->queue_size, bd->max_segments);
	if (bd->max_segment_size)
		printf("%u bytes, ", bd->max_segment_size);
	else
		printf("any size, ");
	printf("%s\n", bd->interrupts ? "interrupts" : "polled");
	return bd;
}

/* Run a job and print its line; complain about errors. Returns: 0 or 1. */
static int job(const char *test, const char *what, struct blkdev *bd, uint64_t start,
	       uint64_t count, const struct blk_job_opts *o)
{
	struct blk_job_result r;
	char line[96];
	int rc = blk_job_run(bd, start, count, o, &r);

	snprintf(line, sizeof(line), "%s: %s", test, what);
	blk_job_print(line, &r);
	if (rc == 0)
		return 0;
	printf("%s: %s failed: %d (%s)", test, what, rc, blkdev_strerror(rc));
	for (unsigned i = 0; i < r.nfailed; i++)
		printf("%s sector %llu+%u: %d", i ? "," : ";",
		       (unsigned long long)r.failed[i].sector, r.failed[i].sectors,
		       r.failed[i].error);
	printf("\n");
	return 1;
}

/*
 * Entry size so that a piece still holds a whole block within the segment
 * caps (device or driver): a piece may start inside an entry, so
 * max_segments - 1 whole entries must hold a block.
 */
static uint32_t frag_for(const struct blkdev *bd, uint32_t want)
{
	uint32_t f = want, segs = bd->max_segments;

	if (segs <= 1)
		return bd->block_size;
	while ((uint64_t)(segs - 1) * (bd->max_segment_size && bd->max_segment_size < f
					       ? bd->max_segment_size
					       : f) <
	       bd->block_size)
		f *= 2;
	return f;
}

static void irq_on_if_any(struct blkdev *bd)
{
	if (bd->interrupts)
		irq_enable(); /* completions by interrupt; the jobs then stop polling */
}

KTEST(blk_rw, "virtio-blk: read a pattern in many ways, write another, flush")
{
	struct blkdev *bd = test_disk("blk-rw");
	uint64_t seed = arg("blkt.seed", 1), seed2 = arg("blkt.seed2", 2), n;
	uint32_t bs, big;
	int bad = 0;

	if (!bd)
		return 1;
	n = bd->nr_sectors;
	bs = bd->block_size;
	big = bs > 4096 ? bs : 4096;
	irq_on_if_any(bd);
	{
		struct blk_job_opts o = {.op = BLK_OP_READ,
					 .seed = seed,
					 .depth = 1,
					 .min_bytes = big,
					 .max_bytes = big};
		bad += job("blk-rw", "sequential 4K reads, one at a time", bd, 0, n, &o);
	}
	{
		struct blk_job_opts o = {.op = BLK_OP_READ,
					 .seed = seed,
					 .depth = 32,
					 .min_bytes = 65536,
					 .max_bytes = 65536,
					 .frag = frag_for(bd, 4096),
					 .ring_entries = 5};
		bad += job("blk-rw",
			   "sequential 64K reads, 32 in flight, 4K entries in chained rings", bd, 0,
			   n, &o);
	}
	{
		struct blk_job_opts o = {.op = BLK_OP_READ,
					 .seed = seed,
					 .depth = 64,
					 .min_bytes = bs,
					 .max_bytes = 128 * 1024,
					 .shuffle = true,
					 .frag = frag_for(bd, 1536),
					 .ring_entries = 7,
					 .rng = seed * 3 + 1};
		bad += job("blk-rw",
			   "random-order reads of mixed sizes, 64 in flight, 1536-byte "
			   "entries",
			   bd, 0, n, &o);
	}
	{
		struct blk_job_opts o = {.op = BLK_OP_READ,
					 .seed = seed,
					 .depth = 8,
					 .min_bytes = 1 << 20,
					 .max_bytes = 1 << 20,
					 .frag = frag_for(bd, 4096),
					 .scatter = true};
		bad += job("blk-rw", "1M reads of 256 scattered 4K pieces, 8 in flight", bd, 0, n,
			   &o);
	}
	{
		struct blk_job_opts o = {.op = BLK_OP_READ,
					 .seed = seed,
					 .depth = 16,
					 .min_bytes = bs,
					 .max_bytes = 16 * 1024,
					 .shuffle = true,
					 .frag = frag_for(bd, 100),
					 .rng = seed + 7};
		bad += job("blk-rw", "random-order reads in 100-byte entries, 16 in flight", bd, 0,
			   n, &o);
	}
	{
		struct blk_job_opts o = {.op = BLK_OP_WRITE,
					 .seed = seed2,
					 .depth = 32,
					 .min_bytes = bs,
					 .max_bytes = 256 * 1024,
					 .shuffle = true,
					 .frag = frag_for(bd, 4096),
					 .scatter = true,
					 .rng = seed2 * 5 + 3};
		bad += job("blk-rw", "random-order writes of mixed sizes, 32 in flight", bd, 0, n,
			   &o);
	}
	{
		int rc = blkdev_flush(bd);

		printf("blk-rw: flush: %d (%s)\n", rc, blkdev_strerror(rc));
		bad += rc != 0;
	}
	{
		struct blk_job_opts o = {.op = BLK_OP_READ,
					 .seed = seed2,
					 .depth = 8,
					 .min_bytes = 128 * 1024,
					 .max_bytes = 128 * 1024};
		bad += job("blk-rw", "read back the written pattern", bd, 0, n, &o);
	}
	irq_disable();
	bd->ops->info(bd);
	return bad;
}

/*
 * Queue depth 32 for blkt.ms milliseconds (default 3000): the whole disk
 * written with the pattern of blkt.seed2, then random-order checked reads
 * and pattern writes of mixed sizes in turns, then a flush. Whatever the
 * order the device completes them in, the disk ends holding the pattern,
 * which the host checks byte for byte.
 */
KTEST(blk_stress, "virtio-blk: queue depth 32 for a while, every read checked")
{
	struct blkdev *bd = test_disk("blk-stress");
	uint64_t seed2 = arg("blkt.seed2", 2), ms = arg("blkt.ms", 3000), t0, rounds = 0;
	uint64_t requests = 0, bytes = 0;
	int bad = 0, rc;

	if (!bd)
		return 1;
	irq_on_if_any(bd);
	{
		struct blk_job_opts o = {.op = BLK_OP_WRITE,
					 .seed = seed2,
					 .depth = 32,
					 .min_bytes = bd->block_size,
					 .max_bytes = 128 * 1024,
					 .shuffle = true,
					 .frag = frag_for(bd, 4096),
					 .rng = seed2 + 11};
		bad += job("blk-stress", "the whole disk written, 32 in flight", bd, 0,
			   bd->nr_sectors, &o);
	}
	t0 = clock_ns();
	while (!bad && clock_ns() - t0 < ms * 1000000ull) {
		struct blk_job_opts o = {.op = rounds & 1 ? BLK_OP_WRITE : BLK_OP_READ,
					 .seed = seed2,
					 .depth = 32,
					 .min_bytes = bd->block_size,
					 .max_bytes = rounds & 2 ? 4096 : 64 * 1024,
					 .shuffle = true,
					 .frag = frag_for(bd, rounds & 2 ? 512 : 4096),
					 .rng = seed2 * 7 + rounds,
					 .max_ns = 250000000ull};
		struct blk_job_result r;

		rc = blk_job_run(bd, 0, bd->nr_sectors, &o, &r);
		requests += r.requests;
		bytes += r.bytes;
		if (rc) {
			blk_job_print(o.op == BLK_OP_READ ? "blk-stress: reads"
							  : "blk-stress: writes",
				      &r);
			printf("blk-stress: round %llu failed: %d (%s)\n",
			       (unsigned long long)rounds, rc, blkdev_strerror(rc));
			bad++;
		}
		rounds++;
	}
	rc = blkdev_flush(bd);
	printf("blk-stress: %llu rounds of 250 ms, %llu requests, %llu KiB checked or written; "
	       "flush: %d (%s)\n",
	       (unsigned long long)rounds, (unsigned long long)requests,
	       (unsigned long long)(bytes / 1024), rc, blkdev_strerror(rc));
	bad += rc != 0;
	irq_disable();
	bd->ops->info(bd);
	return bad;
}

/* Discard and write zeroes (split by the device's limits) read back as zeroes. */
KTEST(blk_zero, "virtio-blk: discard and write zeroes ranges read back as zeroes")
{
	struct blkdev *bd = test_disk("blk-zero");
	uint64_t seed = arg("blkt.seed", 1);
	static const struct {
		const char *what;
		enum blk_op op;
		bool unmap;
		uint64_t sector, n;
	} ranges[] = {
		{"discard", BLK_OP_DISCARD, false, 1024, 2048},
		{"write zeroes (unmap)", BLK_OP_WRITE_ZEROES, true, 4096, 1024},
		{"write zeroes", BLK_OP_WRITE_ZEROES, false, 6144, 520},
	};
	uint64_t prev = 0;
	int bad = 0, rc;

	if (!bd)
		return 1;
	printf("blk-zero: discard %s (max %u sectors, alignment %u), write zeroes %s (max %u "
	       "sectors, unmap %s)\n",
	       bd->discard ? "yes" : "no", bd->max_discard_sectors, bd->discard_alignment,
	       bd->write_zeroes ? "yes" : "no", bd->max_write_zeroes_sectors,
	       bd->zeroes_unmap ? "yes" : "no");
	if (!bd->discard || !bd->write_zeroes)
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++) {
		rc = ranges[i].op == BLK_OP_DISCARD
			     ? blkdev_discard(bd, ranges[i].sector, ranges[i].n)
			     : blkdev_write_zeroes(bd, ranges[i].sector, ranges[i].n,
						   ranges[i].unmap);
		printf("blk-zero: %s of sectors %llu+%llu: %d (%s)\n", ranges[i].what,
		       (unsigned long long)ranges[i].sector, (unsigned long long)ranges[i].n, rc,
		       blkdev_strerror(rc));
		bad += rc != 0;
	}
	rc = blkdev_flush(bd);
	bad += rc != 0;
	/* Zeroes where asked, the old pattern around. */
	for (size_t i = 0; i <= ARRAY_SIZE(ranges); i++) {
		uint64_t zs = i < ARRAY_SIZE(ranges) ? ranges[i].sector : bd->nr_sectors;
		struct blk_job_opts keep = {.op = BLK_OP_READ,
					    .seed = seed,
					    .depth = 8,
					    .min_bytes = 4096,
					    .max_bytes = 65536};

		if (zs > prev)
			bad += job("blk-zero", "untouched sectors keep the pattern", bd, prev,
				   zs - prev, &keep);
		if (i < ARRAY_SIZE(ranges)) {
			struct blk_job_opts z = {.op = BLK_OP_READ,
						 .data = BLK_JOB_ZEROES,
						 .depth = 8,
						 .min_bytes = 4096,
						 .max_bytes = 65536};

			bad += job("blk-zero", "zeroed sectors read as zeroes", bd, zs, ranges[i].n,
				   &z);
			prev = zs + ranges[i].n;
		}
	}
	/* An empty range is refused before the device. */
	rc = blkdev_discard(bd, 0, 0);
	printf("blk-zero: empty discard: %d (%s)\n", rc, blkdev_strerror(rc));
	bad += rc != -EINVAL;
	bd->ops->info(bd);
	return bad;
}

KTEST(blk_ro, "virtio-blk: a read-only disk refuses writes, reads fine")
{
	struct blkdev *bd = test_disk("blk-ro");
	uint64_t seed = arg("blkt.seed", 1);
	static uint8_t buf[4096];
	struct blk_job_opts o = {.op = BLK_OP_READ,
				 .seed = seed,
				 .depth = 16,
				 .min_bytes = 4096,
				 .max_bytes = 65536};
	int bad = 0, rc;

	if (!bd)
		return 1;
	printf("blk-ro: read-only %s\n", bd->read_only ? "yes" : "no");
	bad += !bd->read_only;
	rc = blkdev_write(bd, 0, buf, sizeof(buf));
	printf("blk-ro: write: %d (%s)\n", rc, blkdev_strerror(rc));
	bad += rc != -EROFS;
	rc = blkdev_write_zeroes(bd, 0, 8, false);
	printf("blk-ro: write zeroes: %d (%s)\n", rc, blkdev_strerror(rc));
	bad += rc != -EROFS && rc != -EOPNOTSUPP;
	rc = blkdev_discard(bd, 0, 8);
	printf("blk-ro: discard: %d (%s)\n", rc, blkdev_strerror(rc));
	bad += rc != -EROFS && rc != -EOPNOTSUPP;
	bad += job("blk-ro", "reads", bd, 0, bd->nr_sectors, &o);
	rc = blkdev_flush(bd);
	printf("blk-ro: flush: %d (%s)\n", rc, blkdev_strerror(rc));
	bd->ops->info(bd);
	return bad;
}

/* Sectors blkdebug fails (blkt.bad_read, blkt.bad_write): those requests only. */
KTEST(blk_errors, "virtio-blk: injected I/O errors fail their requests only")
{
	struct blkdev *bd = test_disk("blk-errors");
	uint64_t seed = arg("blkt.seed", 1), seed2 = arg("blkt.seed2", 2);
	uint64_t br = arg("blkt.bad_read", 100), bw = arg("blkt.bad_write", 300);
	uint64_t n, bwc;
	struct blk_job_result r;
	static uint8_t buf[4096];
	int bad = 0, rc;

	if (!bd)
		return 1;
	n = bd->nr_sectors;
	bwc = bw & ~7ull; /* the 4K request holding the bad write sector */
	{
		struct blk_job_opts o = {.op = BLK_OP_READ,
					 .seed = seed,
					 .depth = 32,
					 .min_bytes = 4096,
					 .max_bytes = 4096,
					 .shuffle = true};

		blk_job_run(bd, 0, n, &o, &r); /* -EIO: judged from r below */
		blk_job_print("blk-errors: 4K reads of the disk, 32 in flight", &r);
		printf("blk-errors: %llu failed:", (unsigned long long)r.errors);
		for (unsigned i = 0; i < r.nfailed; i++)
			printf(" sector %llu+%u (%d)", (unsigned long long)r.failed[i].sector,
			       r.failed[i].sectors, r.failed[i].error);
		printf("\n");
		bad += !(r.errors == 1 && r.failed[0].sector == (br & ~7ull) &&
			 r.failed[0].error == -EIO && r.mismatches == 0);
	}
	{
		struct blk_job_opts o = {.op = BLK_OP_WRITE,
					 .seed = seed2,
					 .depth = 32,
					 .min_bytes = 4096,
					 .max_bytes = 4096,
					 .shuffle = true};

		blk_job_run(bd, 0, n, &o, &r);
		blk_job_print("blk-errors: 4K writes of the disk, 32 in flight", &r);
		printf("blk-errors: %llu failed:", (unsigned long long)r.errors);
		for (unsigned i = 0; i < r.nfailed; i++)
			printf(" sector %llu+%u (%d)", (unsigned long long)r.failed[i].sector,
			       r.failed[i].sectors, r.failed[i].error);
		printf("\n");
		bad += !(r.errors == 1 && r.failed[0].sector == bwc && r.failed[0].error == -EIO);
	}
	rc = blkdev_flush(bd);
	bad += rc != 0;
	/*
	 * The driver still works: everything reads back the new pattern but the
	 * bad read sector's request (fails again) and the bad write's (old data).
	 */
	{
		struct blk_job_opts o = {.op = BLK_OP_READ,
					 .seed = seed2,
					 .depth = 16,
					 .min_bytes = 4096,
					 .max_bytes = 4096};
		uint64_t brc = br & ~7ull;

		blk_job_run(bd, 0, n, &o, &r);
		blk_job_print("blk-errors: read back", &r);
		bad += !(r.errors == 1 && r.failed[0].sector == brc &&
			 (brc == bwc ? r.mismatches == 0
				     : r.mismatches == 1 && r.bad_sector >= bwc &&
					       r.bad_sector < bwc + 8));
	}
	rc = blkdev_read(bd, br, buf, 512);
	printf("blk-errors: read of sector %llu alone: %d (%s)\n", (unsigned long long)br, rc,
	       blkdev_strerror(rc));
	bad += rc != -EIO;
	rc = blkdev_read(bd, br + 1, buf, 512);
	printf("blk-errors: read of sector %llu: %d (%s)\n", (unsigned long long)br + 1, rc,
	       blkdev_strerror(rc));
	bad += rc != 0;
	bd->ops->info(bd);
	return bad;
}

/* The host grows the disk (monitor block_resize) once it sees the waiting line. */
KTEST(blk_resize, "virtio-blk: a capacity change arrives by configuration interrupt")
{
	struct blkdev *bd = test_disk("blk-resize");
	uint64_t old, deadline, seed = arg("blkt.seed2", 2);
	static uint8_t buf[4096];
	int bad = 0, rc;

	if (!bd)
		return 1;
	old = bd->nr_sectors;
	irq_on_if_any(bd);
	printf("blk-resize: capacity %llu sectors, waiting for a change\n",
	       (unsigned long long)old);
	deadline = clock_ns() + 30000000000ull;
	while (bd->nr_sectors == old && clock_ns() < deadline) {
		if (!bd->interrupts)
			blkdev_poll(bd); /* no interrupts: the poll looks at the ISR */
		cpu_relax();
	}
	irq_disable();
	printf("blk-resize: capacity now %llu sectors, %llu change(s) seen\n",
	       (unsigned long long)bd->nr_sectors, (unsigned long long)bd->resizes);
	if (bd->nr_sectors <= old)
		return 1;
	/* The new end is usable, one past it is not. */
	blk_pattern_fill(buf, seed, bd->nr_sectors - 8, 8);
	rc = blkdev_write(bd, bd->nr_sectors - 8, buf, sizeof(buf));
	printf("blk-resize: write of the last 4K: %d\n", rc);
	bad += rc != 0;
	memset(buf, 0, sizeof(buf));
	rc = blkdev_read(bd, bd->nr_sectors - 8, buf, sizeof(buf));
	bad += rc != 0 || blk_pattern_check(buf, seed, bd->nr_sectors - 8, 8) >= 0;
	rc = blkdev_read(bd, bd->nr_sectors - 7, buf, sizeof(buf));
	printf("blk-resize: read across the end: %d (%s)\n", rc, blkdev_strerror(rc));
	bad += rc != -ERANGE;
	bad += blkdev_flush(bd) != 0;
	return bad;
}

static volatile unsigned nowait_done;

static void count_done(struct blk_request *req)
{
	(void)req;
	nowait_done++;
}

/*
 * Requests refused before the device (range, alignment), the ring full
 * (-EAGAIN with BLK_REQ_NOWAIT, waiting otherwise), GET_ID, cache mode.
 */
KTEST(blk_limits, "virtio-blk: refused requests, full rings, serial, cache mode")
{
	struct blkdev *bd = test_disk("blk-limits");
	uint64_t seed = arg("blkt.seed", 1), n;
	const char *serial = cmdline_get(&kernel_cmdline, "blkt.serial");
	enum { MANY = 600 };
	static struct blk_request reqs[MANY];
	static struct sg_entry ents[MANY];
	static struct sg_ring rings[MANY];
	uint64_t deadline;
	uint8_t *mem;
	char id[BLKDEV_ID_STR];
	uint32_t bs;
	unsigned accepted = 0;
	int bad = 0, rc;

	if (!bd)
		return 1;
	n = bd->nr_sectors;
	bs = bd->block_size;
	mem = malloc((size_t)MANY * bs);
	if (!mem)
		return 1;
	rc = blkdev_read(bd, n, mem, bs);
	printf("blk-limits: read at the capacity: %d (%s)\n", rc, blkdev_strerror(rc));
	bad += rc != -ERANGE;
	rc = blkdev_read(bd, n - bs / 512, mem, 2 * bs);
	printf("blk-limits: read across the end: %d (%s)\n", rc, blkdev_strerror(rc));
	bad += rc != -ERANGE;
	rc = blkdev_read(bd, UINT64_MAX - 7, mem, bs);
	printf("blk-limits: read at sector 2^64-8: %d (%s)\n", rc, blkdev_strerror(rc));
	bad += rc != -ERANGE && rc != -EINVAL;
	if (bs > 512) {
		rc = blkdev_read(bd, 1, mem, bs);
		printf("blk-limits: read at sector 1 of %u-byte blocks: %d (%s)\n", bs, rc,
		       blkdev_strerror(rc));
		bad += rc != -EINVAL;
		rc = blkdev_read(bd, 0, mem, 512);
		printf("blk-limits: 512-byte read of %u-byte blocks: %d (%s)\n", bs, rc,
		       blkdev_strerror(rc));
		bad += rc != -EINVAL;
	}
	rc = blkdev_read(bd, 0, mem, 0);
	printf("blk-limits: empty read: %d (%s)\n", rc, blkdev_strerror(rc));
	bad += rc != -EINVAL;

	/* BLK_REQ_NOWAIT without polling: the rings fill up, then -EAGAIN. */
	nowait_done = 0;
	for (unsigned i = 0; i < MANY; i++) {
		sg_init(&rings[i], &ents[i], 1);
		sg_add(&rings[i], mem + (size_t)i * bs, bs);
		reqs[i] = (struct blk_request){.op = BLK_OP_READ,
					       .flags = BLK_REQ_NOWAIT,
					       .sector = (uint64_t)i * (bs / 512) % n,
					       .data = &rings[i],
					       .done = count_done};
	}
	for (unsigned i = 0; i < MANY; i++) {
		rc = blkdev_submit(bd, &reqs[i]);
		if (rc)
			break;
		accepted++;
	}
	printf("blk-limits: %u requests taken with NOWAIT before %d (%s)\n", accepted, rc,
	       blkdev_strerror(rc));
	if ((uint64_t)bd->nr_queues * bd->queue_size >= MANY)
		bad += accepted == 0; /* rings larger than the test: it may all fit */
	else
		bad += rc != -EAGAIN || accepted == 0 || accepted > bd->nr_queues * bd->queue_size;
	deadline = clock_ns() + 20000000000ull;
	while (nowait_done < accepted && clock_ns() < deadline)
		blkdev_poll(bd);

	/* Without NOWAIT everything is taken and waits for descriptors. */
	nowait_done = 0;
	memset(mem, 0, (size_t)MANY * bs);
	for (unsigned i = 0; i < MANY; i++) {
		reqs[i].flags = 0;
		rc = blkdev_submit(bd, &reqs[i]);
		if (rc) {
			printf("blk-limits: request %u refused: %d\n", i, rc);
			bad++;
			break;
		}
	}
	deadline = clock_ns() + 20000000000ull;
	while (nowait_done < MANY && clock_ns() < deadline)
		blkdev_poll(bd);
	{
		unsigned wrong = 0, failed = 0;

		for (unsigned i = 0; i < MANY; i++) {
			failed += reqs[i].error != 0;
			wrong += blk_pattern_check(mem + (size_t)i * bs, seed, reqs[i].sector,
						   bs / 512) >= 0;
		}
		printf("blk-limits: %u requests queued past the ring: %u completed, %u failed, %u "
		       "wrong\n",
		       (unsigned)MANY, nowait_done, failed, wrong);
		bad += failed + wrong + (nowait_done != MANY);
	}
	free(mem);

	rc = blkdev_get_id(bd, id);
	printf("blk-limits: GET_ID: %d, \"%s\"\n", rc, id);
	bad += rc != 0 || (serial && strcmp(serial, id) != 0);
	if (bd->wce) {
		bool was = bd->writeback;

		rc = blkdev_set_write_cache(bd, !was);
		printf("blk-limits: cache %s -> %s: %d\n", was ? "writeback" : "writethrough",
		       bd->writeback ? "writeback" : "writethrough", rc);
		bad += rc != 0 || bd->writeback == was;
		rc = blkdev_set_write_cache(bd, was);
		bad += rc != 0 || bd->writeback != was;
	}
	bd->ops->info(bd);
	return bad;
}
