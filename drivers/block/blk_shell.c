/*
 * Block devices in the shell (`blk ...`) and the block benchmark app
 * (`app=blkbench`), on the API of include/block/blkdev.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/cpu.h>
#include <block/blk_job.h>
#include <block/blkdev.h>
#include <lib/cmdline.h>
#include <kernel/kernel.h>
#include <kernel/registry.h>

#define HEXDUMP_MAX_SECTORS 64

static void usage(void)
{
	printf("usage: blk [DISK] COMMAND ...   (DISK: vda, vdb, ...; default: the first)\n"
	       "  list                          the disks\n"
	       "  info                          geometry, features, limits, queues, counters\n"
	       "  read SECTOR [COUNT]           hexdump COUNT (1..%d) 512-byte sectors\n"
	       "  write SECTOR COUNT SEED       write the test pattern of SEED\n"
	       "  verify SECTOR COUNT SEED      read and check the test pattern of SEED\n"
	       "  zero SECTOR COUNT [unmap]     write zeroes (unmap: the device may deallocate)\n"
	       "  discard SECTOR COUNT          discard\n"
	       "  flush                         flush the device's write cache\n"
	       "  cache [writeback|writethrough] show or switch the cache mode\n"
	       "  id                            ask the device for its ID (serial)\n"
	       "  bench [MS] [poll]             benchmark table (overwrites the disk)\n",
	       HEXDUMP_MAX_SECTORS);
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	*v = strtoull(s, &end, 0);
	return *end ? -EINVAL : 0;
}

static int report(struct blkdev *bd, const char *what, uint64_t sector, uint64_t n, int rc)
{
	if (rc == 0)
		return 0;
	printf("blk: %s: %s of sectors %llu+%llu failed: %s (%d)\n", bd->name, what,
	       (unsigned long long)sector, (unsigned long long)n, blkdev_strerror(rc), rc);
	return 1;
}

static void list_disks(void)
{
	if (!blkdev_list) {
		printf("no disks\n");
		return;
	}
	for (struct blkdev *bd = blkdev_list; bd; bd = bd->next)
		printf("%-4s %10llu sectors %8llu MiB  %u-byte blocks  %s%s%s  serial \"%s\"\n",
		       bd->name, (unsigned long long)bd->nr_sectors,
		       (unsigned long long)(bd->nr_sectors * BLK_SECTOR_SIZE / MiB), bd->block_size,
		       bd->driver, bd->read_only ? ", read-only" : "", bd->dead ? ", DEAD" : "",
		       bd->serial);
}

static void info(struct blkdev *bd)
{
	const struct blkdev_stats *s = &bd->stats;

	printf("%s: %s\n", bd->name, bd->driver);
	printf("  capacity: %llu sectors (%llu MiB), %u-byte logical blocks, %u-byte physical "
	       "blocks, alignment offset %u\n",
	       (unsigned long long)bd->nr_sectors,
	       (unsigned long long)(bd->nr_sectors * BLK_SECTOR_SIZE / MiB), bd->block_size,
	       bd->phys_block_size, bd->alignment_offset);
	if (bd->min_io || bd->opt_io)
		printf("  I/O sizes: minimum %u bytes, optimal %u bytes\n", bd->min_io, bd->opt_io);
	if (bd->cylinders)
		printf("  geometry: %u cylinders, %u heads, %u sectors per track\n", bd->cylinders,
		       bd->heads, bd->sectors_per_track);
	printf("  %s, cache %s%s, flush %s, discard %s, write zeroes %s%s\n",
	       bd->read_only ? "read-only" : "read-write",
	       bd->writeback ? "writeback" : "writethrough", bd->wce ? " (switchable)" : "",
	       bd->flush ? "yes" : "no", bd->discard ? "yes" : "no",
	       bd->write_zeroes ? "yes" : "no",
	       bd->write_zeroes && bd->zeroes_unmap ? " (may unmap)" : "");
	printf("  serial \"%s\", %u queue%s of %u entries, %s%s, %llu capacity changes\n",
	       bd->serial, bd->nr_queues, bd->nr_queues == 1 ? "" : "s", bd->queue_size,
	       bd->interrupts ? "interrupts" : "polled", bd->dead ? ", DEAD" : "",
	       (unsigned long long)bd->resizes);
	printf("  requests:");
	for (int op = 0; op < BLK_OP_COUNT; op++)
		printf(" %s %llu (%llu failed)", blkdev_op_name(op), (unsigned long long)s->ops[op],
		       (unsigned long long)s->errors[op]);
	printf(", rejected %llu\n", (unsigned long long)s->rejected);
	if (bd->ops->info)
		bd->ops->info(bd);
}

static void hexdump(uint64_t base, const uint8_t *p, size_t len)
{
	bool starred = false;

	for (size_t off = 0; off < len; off += 16) {
		if (off && off + 16 <= len && memcmp(p + off, p + off - 16, 16) == 0) {
			if (!starred)
				printf("*\n");
			starred = true;
			continue;
		}
		starred = false;
		printf("%08llx ", (unsigned long long)(base + off));
		for (size_t i = 0; i < 16; i++)
			printf("%s%02x", i == 8 ? "  " : " ", p[off + i]);
		printf("  |");
		for (size_t i = 0; i < 16; i++)
			putchar(p[off + i] >= 0x20 && p[off + i] < 0x7f ? p[off + i] : '.');
		printf("|\n");
	}
	printf("%08llx\n", (unsigned long long)(base + len));
}

static int cmd_read(struct blkdev *bd, int argc, char **argv)
{
	uint64_t sector, n = 1;
	uint8_t *buf;
	int rc;

	if (argc < 2 || parse_u64(argv[1], &sector) || (argc > 2 && parse_u64(argv[2], &n)) ||
	    n == 0 || n > HEXDUMP_MAX_SECTORS) {
		printf("usage: blk read SECTOR [COUNT 1..%d]\n", HEXDUMP_MAX_SECTORS);
		return 1;
	}
	buf = malloc(n * BLK_SECTOR_SIZE);
	if (!buf)
		return report(bd, "read", sector, n, -ENOMEM);
	rc = blkdev_read(bd, sector, buf, (uint32_t)(n * BLK_SECTOR_SIZE));
	if (rc == 0)
		hexdump(sector * BLK_SECTOR_SIZE, buf, n * BLK_SECTOR_SIZE);
	free(buf);
	return report(bd, "read", sector, n, rc);
}

/* blk write / verify: the pattern over a range, 16 requests of up to 64 KiB in flight. */
static int cmd_pattern(struct blkdev *bd, int argc, char **argv, enum blk_op op)
{
	const char *what = op == BLK_OP_WRITE ? "write" : "verify";
	struct blk_job_opts o = {.op = op, .data = BLK_JOB_PATTERN, .depth = 16};
	struct blk_job_result r;
	uint64_t sector, n, seed, chunk;
	int rc;

	if (argc != 4 || parse_u64(argv[1], &sector) || parse_u64(argv[2], &n) ||
	    parse_u64(argv[3], &seed) || n == 0) {
		printf("usage: blk %s SECTOR COUNT SEED\n", what);
		return 1;
	}
	/* Checked here for a clear message; the job would refuse it too. */
	rc = 0;
	if (op == BLK_OP_WRITE && bd->read_only)
		rc = -EROFS;
	else if ((sector * BLK_SECTOR_SIZE) % bd->block_size ||
		 (n * BLK_SECTOR_SIZE) % bd->block_size)
		rc = -EINVAL;
	else if (sector + n < sector || sector + n > bd->nr_sectors)
		rc = -ERANGE;
	if (rc)
		return report(bd, what, sector, n, rc);
	chunk = 64 * 1024;
	if (chunk > n * BLK_SECTOR_SIZE)
		chunk = n * BLK_SECTOR_SIZE;
	chunk = ALIGN_DOWN(chunk, (uint64_t)bd->block_size);
	o.seed = seed;
	o.min_bytes = o.max_bytes = (uint32_t)chunk;
	rc = blk_job_run(bd, sector, n, &o, &r);
	if (rc && !r.requests)
		return report(bd, what, sector, n, rc);
	if (r.errors)
		printf("blk: %s: %s: %llu requests failed, first at sector %llu: %s (%d)\n",
		       bd->name, what, (unsigned long long)r.errors,
		       (unsigned long long)r.failed[0].sector, blkdev_strerror(r.failed[0].error),
		       r.failed[0].error);
	if (r.mismatches)
		printf("blk: %s: verify: %llu requests read wrong data, first wrong sector %llu\n",
		       bd->name, (unsigned long long)r.mismatches,
		       (unsigned long long)r.bad_sector);
	if (rc == 0)
		printf("blk: %s: %s sectors %llu+%llu (seed %llu): ok, %llu KiB in %llu ms\n",
		       bd->name, op == BLK_OP_WRITE ? "wrote" : "verified",
		       (unsigned long long)sector, (unsigned long long)n, (unsigned long long)seed,
		       (unsigned long long)(r.bytes / 1024), (unsigned long long)(r.ns / 1000000));
	return rc ? 1 : 0;
}

static int cmd_range(struct blkdev *bd, int argc, char **argv, enum blk_op op)
{
	uint64_t sector, n;
	bool unmap = argc == 4 && strcmp(argv[3], "unmap") == 0;

	if (argc < 3 || argc > 3 + (op == BLK_OP_WRITE_ZEROES) || parse_u64(argv[1], &sector) ||
	    parse_u64(argv[2], &n) || (argc == 4 && !unmap)) {
		printf("usage: blk %s SECTOR COUNT%s\n", argv[0],
		       op == BLK_OP_WRITE_ZEROES ? " [unmap]" : "");
		return 1;
	}
	if (op == BLK_OP_DISCARD)
		return report(bd, "discard", sector, n, blkdev_discard(bd, sector, n));
	return report(bd, "write zeroes", sector, n, blkdev_write_zeroes(bd, sector, n, unmap));
}

static int cmd_cache(struct blkdev *bd, int argc, char **argv)
{
	if (argc == 2) {
		bool wb = strcmp(argv[1], "writeback") == 0;
		int rc;

		if (!wb && strcmp(argv[1], "writethrough") != 0) {
			printf("usage: blk cache [writeback|writethrough]\n");
			return 1;
		}
		rc = blkdev_set_write_cache(bd, wb);
		if (rc) {
			printf("blk: %s: cannot switch the cache: %s (%d)\n", bd->name,
			       blkdev_strerror(rc), rc);
			return 1;
		}
	}
	printf("%s: cache %s%s\n", bd->name, bd->writeback ? "writeback" : "writethrough",
	       bd->wce ? " (switchable)" : "");
	return 0;
}

static int run_bench(struct blkdev *bd, unsigned ms, bool poll)
{
	uint64_t flags = irq_save();
	int rc;

	if (!poll)
		irq_enable(); /* completions by interrupt where the device has them */
	rc = blk_bench(bd, ms);
	irq_disable();
	irq_restore(flags);
	return rc;
}

KCMD(blk, "block devices: list, info, read, write, verify, zero, discard, flush, bench")
{
	struct blkdev *bd = blkdev_list;
	const char *cmd;
	uint64_t v;

	if (argc > 1 && blkdev_find(argv[1])) {
		bd = blkdev_find(argv[1]);
		argc--;
		argv++;
	}
	cmd = argc > 1 ? argv[1] : "list";
	if (strcmp(cmd, "list") == 0) {
		list_disks();
		return 0;
	}
	if (strcmp(cmd, "help") == 0) {
		usage();
		return 0;
	}
	if (!bd) {
		printf("blk: no disks\n");
		return 1;
	}
	argc--;
	argv++;
	if (strcmp(cmd, "info") == 0) {
		info(bd);
		return 0;
	}
	if (strcmp(cmd, "read") == 0)
		return cmd_read(bd, argc, argv);
	if (strcmp(cmd, "write") == 0)
		return cmd_pattern(bd, argc, argv, BLK_OP_WRITE);
	if (strcmp(cmd, "verify") == 0)
		return cmd_pattern(bd, argc, argv, BLK_OP_READ);
	if (strcmp(cmd, "zero") == 0)
		return cmd_range(bd, argc, argv, BLK_OP_WRITE_ZEROES);
	if (strcmp(cmd, "discard") == 0)
		return cmd_range(bd, argc, argv, BLK_OP_DISCARD);
	if (strcmp(cmd, "flush") == 0)
		return report(bd, "flush", 0, 0, blkdev_flush(bd));
	if (strcmp(cmd, "cache") == 0)
		return cmd_cache(bd, argc, argv);
	if (strcmp(cmd, "id") == 0) {
		char id[BLKDEV_ID_STR];
		int rc = blkdev_get_id(bd, id);

		if (rc)
			return report(bd, "get id", 0, 0, rc);
		printf("%s: id \"%s\"\n", bd->name, id);
		return 0;
	}
	if (strcmp(cmd, "bench") == 0) {
		if (argc > 1 && parse_u64(argv[1], &v) == 0 && v > 0 && v < 600000)
			return run_bench(bd, (unsigned)v,
					 argc > 2 && strcmp(argv[2], "poll") == 0) != 0;
		return run_bench(bd, 1000, argc > 1 && strcmp(argv[1], "poll") == 0) != 0;
	}
	printf("blk: unknown command '%s'\n", cmd);
	usage();
	return 1;
}

/*
 * app=blkbench: the benchmark table on the first disk (or blkbench.disk=),
 * blkbench.ms= per case (default 1000), blkbench.poll to poll instead of
 * taking completion interrupts.
 */
KAPP(blkbench, "block device benchmark table (make bench-blk)")
{
	const char *name = cmdline_get(&kernel_cmdline, "blkbench.disk");
	const char *ms = cmdline_get(&kernel_cmdline, "blkbench.ms");
	struct blkdev *bd = name ? blkdev_find(name) : blkdev_list;
	uint64_t v = 1000;

	if (!bd) {
		printf("blkbench: no disk%s%s\n", name ? " " : "", name ? name : "");
		return 1;
	}
	if (ms && (parse_u64(ms, &v) || v == 0 || v > 600000)) {
		printf("blkbench: bad blkbench.ms=%s\n", ms);
		return 1;
	}
	info(bd);
	return run_bench(bd, (unsigned)v, cmdline_has(&kernel_cmdline, "blkbench.poll"));
}
