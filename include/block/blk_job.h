/*
 * blk_job: drive a block device with many requests in flight over a
 * range of sectors, writing or checking the test pattern
 * (include/block/blk_pattern.h) or zeroes, in order or shuffled, with
 * buffers that are contiguous, cut into many sg entries (odd sizes, chains
 * of small rings) or scattered in memory. The shell's `blk` command, the
 * in-guest tests and the benchmark use it.
 */
#ifndef BLOCK_BLK_JOB_H
#define BLOCK_BLK_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include <block/blkdev.h>

enum blk_job_data {
	BLK_JOB_PATTERN, /* writes put the pattern of seed, reads check it */
	BLK_JOB_ZEROES,	 /* reads check zeroes (writes are not allowed) */
	BLK_JOB_NONE,	 /* reads are not checked, writes send whatever is in the buffers */
};

struct blk_job_opts {
	enum blk_op op; /* BLK_OP_READ or BLK_OP_WRITE */
	enum blk_job_data data;
	uint64_t seed;		       /* of the pattern */
	unsigned int depth;	       /* requests in flight, >= 1 */
	uint32_t min_bytes, max_bytes; /* request sizes, multiples of the block size */
	bool shuffle;		       /* requests in random order (else ascending) */
	uint32_t frag;		   /* 0: one entry per request; else entries of this many bytes */
	bool scatter;		   /* entries in reverse memory order, not adjacent */
	unsigned int ring_entries; /* entries per sg ring of the chain; 0: one ring */
	bool poll;		   /* poll even when interrupts would complete requests */
	uint64_t rng;		   /* sizes and order; 0: a fixed default */
	uint64_t max_ns;	   /* stop starting requests after this long; 0: cover the range */
};

#define BLK_JOB_FAILED_MAX 16

struct blk_job_result {
	uint64_t requests;		    /* completed */
	uint64_t bytes;			    /* of successful requests */
	uint64_t ns;			    /* first submission to last completion */
	uint64_t errors;		    /* requests that failed */
	uint64_t mismatches;		    /* read requests whose data was wrong */
	uint64_t bad_sector;		    /* first sector with wrong data (UINT64_MAX: none) */
	uint64_t notifications, interrupts; /* device counters over the run */
	unsigned int nfailed;		    /* entries in failed[] */
	struct {
		uint64_t sector;
		uint32_t sectors;
		int error;
	} failed[BLK_JOB_FAILED_MAX];
};

/*
 * blk_job_run - run o over [start, start + count) sectors of bd (with
 * max_ns, possibly less, wrapping around the range when it is covered).
 * Returns: 0 when every request succeeded and every check passed; -EIO
 * (some failed or mismatched: see r), -EINVAL (bad options), -ENOMEM, or
 * the error of a submission that was refused.
 */
int blk_job_run(struct blkdev *bd, uint64_t start, uint64_t count, const struct blk_job_opts *o,
		struct blk_job_result *r);

/* blk_job_print - one line: what ran, MB/s, IOPS, errors. */
void blk_job_print(const char *what, const struct blk_job_result *r);

/*
 * blk_bench - the benchmark table on bd (overwrites its data): sequential
 * read and write MB/s at 4K, 64K and 1M, random 4K read IOPS at queue depth
 * 1 and 32, notifications and interrupts per request. Each case runs for
 * about ms milliseconds. Returns: 0 or the first error.
 */
int blk_bench(struct blkdev *bd, unsigned int ms);

#endif
