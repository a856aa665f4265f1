/*
 * Block devices: the API a file system (later) and the shell use, whatever
 * the driver underneath (today drivers/virtio/devices/blk.c).
 *
 * Units: sector numbers are always 512-byte sectors (BLK_SECTOR_SIZE), as
 * on the wire; every request must also be aligned to the disk's logical
 * block size (block_size, a multiple of 512) in start and length.
 *
 * Asynchronous use: fill a struct blk_request, blkdev_submit() it, and
 * done() runs once when it finishes, with req->error 0 or a negative
 * errno. Many requests may be in flight; when the device's rings are full
 * requests wait in the driver, in order (or, with BLK_REQ_NOWAIT, submit
 * returns -EAGAIN). done() runs with interrupts off, from the device's
 * interrupt or from blkdev_poll(); it may submit more requests but must
 * not wait. It may even run before blkdev_submit() returns.
 *
 *	static void read_done(struct blk_request *r) { ...r->error, r->priv... }
 *
 *	DECLARE_SG(data, 1);
 *	sg_add(data, buf, 65536);
 *	struct blk_request r = {.op = BLK_OP_READ, .sector = 2048, .data = data,
 *				.done = read_done, .priv = ctx};
 *	err = blkdev_submit(bd, &r);       (0: done() will run; <0: rejected)
 *	while (!finished)
 *		blkdev_poll(bd);           (completions without interrupts)
 *
 * Synchronous use: blkdev_read(bd, sector, buf, len) and friends submit and
 * wait, polling. A request is rejected before it reaches the device when
 * it goes beyond the capacity (-ERANGE), is not aligned to the block size
 * (-EINVAL), writes to a read-only disk (-EROFS) or asks for what the
 * device cannot do (-EOPNOTSUPP); the device answers -EIO (I/O error) or
 * -EOPNOTSUPP (unsupported), for that request only. A request the driver
 * had to cut into several device requests (segment or discard limits) may
 * be partly done when it fails; the parts after the failing one are not
 * sent. A flush covers the writes that completed before it was submitted.
 */
#ifndef BLOCK_BLKDEV_H
#define BLOCK_BLKDEV_H

#include <stdbool.h>
#include <stdint.h>

#include <lib/sg_cursor.h>
#include <lib/sg_ring.h>

#define BLK_SECTOR_SIZE	 512u
#define BLK_SECTOR_SHIFT 9

/* Longest a synchronous request waits before the device is declared dead. */
#define BLKDEV_TIMEOUT_NS (30ull * 1000000000ull)
/* The device ID (VIRTIO_BLK_T_GET_ID: 20 bytes) escaped for printing: 4 characters a byte at most. */
#define BLKDEV_ID_BYTES 20
#define BLKDEV_ID_STR	(4 * BLKDEV_ID_BYTES + 1)

enum blk_op {
	BLK_OP_READ,	     /* data: device -> memory */
	BLK_OP_WRITE,	     /* data: memory -> device */
	BLK_OP_FLUSH,	     /* completed writes reach stable storage */
	BLK_OP_DISCARD,	     /* the device may forget [sector, +nr_sectors) */
	BLK_OP_WRITE_ZEROES, /* [sector, +nr_sectors) reads back as zeroes */
	BLK_OP_GET_ID,	     /* data: 20 bytes of device ID string */
	BLK_OP_COUNT
};

/* blk_request.flags */
#define BLK_REQ_NOWAIT (1u << 0) /* rings full: -EAGAIN instead of waiting in the driver */
#define BLK_REQ_UNMAP  (1u << 1) /* write zeroes: the device may deallocate the range */

struct blk_request;
typedef void (*blk_done_t)(struct blk_request *req);

struct blk_request {
	/* Set by the caller. */
	enum blk_op op;
	unsigned int flags;	    /* BLK_REQ_* */
	uint64_t sector;	    /* first 512-byte sector (not for flush / get id) */
	uint64_t nr_sectors;	    /* discard, write zeroes; read/write: set from data */
	const struct sg_ring *data; /* read, write, get id: the buffers, not copied */
	blk_done_t done;	    /* required; runs once, interrupts off */
	void *priv;		    /* the caller's */
	/* Set before done() runs. */
	int error; /* 0 or a negative errno */
	/* The block layer's and the driver's while the request is in flight. */
	struct {
		struct blk_request *next; /* driver's waiting list */
		struct sg_cursor cur;	  /* data not yet sent */
		uint64_t sector;	  /* next sector to send */
		uint64_t left;		  /* sectors not yet sent */
		uint32_t inflight;	  /* device requests outstanding */
		uint16_t queue;		  /* the driver's queue it went to */
		bool sent_all;		  /* nothing more will be sent (finished or failed) */
		bool waiting;		  /* on the waiting list */
		bool retried;		  /* sent again after a device reset (only once) */
		bool taken;		  /* being taken back from a device that was reset */
	} in;
};

struct blkdev;

/* What a driver provides. submit() gets only requests blkdev_submit() checked. */
struct blkdev_ops {
	/* Returns: 0 (done() will run) or a negative errno (done() will not run). */
	int (*submit)(struct blkdev *bd, struct blk_request *req);
	/* Completions (and configuration changes) without interrupts. */
	void (*poll)(struct blkdev *bd);
	/* Hold notifications back until unplug (batching). */
	void (*plug)(struct blkdev *bd);
	void (*unplug)(struct blkdev *bd);
	/* Switch the device's cache mode. Returns: 0, -EOPNOTSUPP. */
	int (*set_write_cache)(struct blkdev *bd, bool writeback);
	/*
	 * A request got no answer in time: reset the device and bring it back.
	 * What was outstanding is sent again once (a request already sent
	 * again fails with -EIO); a device that does not come back is dead.
	 */
	void (*abort)(struct blkdev *bd, const char *why);
	/* Driver-specific lines for `blk info` (queues, counters). */
	void (*info)(struct blkdev *bd);
	/* Device notifications sent and completion interrupts taken so far, all queues. */
	void (*counters)(struct blkdev *bd, uint64_t *notifications, uint64_t *interrupts);
};

struct blkdev_stats {
	uint64_t ops[BLK_OP_COUNT];	/* requests completed, by operation */
	uint64_t errors[BLK_OP_COUNT];	/* of which failed */
	uint64_t sectors[BLK_OP_COUNT]; /* sectors moved or covered, successful requests */
	uint64_t rejected;		/* refused by blkdev_submit before the driver */
};

struct blkdev {
	struct blkdev *next;
	char name[8];	     /* "vda" */
	char driver[40];     /* "virtio-blk 00:03.0" */
	uint64_t nr_sectors; /* capacity in 512-byte sectors; may change (resize) */
	uint32_t block_size; /* logical block: unit of every request, >= 512 */
	uint32_t phys_block_size;
	uint32_t alignment_offset; /* bytes */
	uint32_t min_io, opt_io;   /* bytes; 0 when unknown */
	uint16_t cylinders;	   /* legacy CHS geometry; 0 when unknown */
	uint8_t heads, sectors_per_track;
	bool read_only;
	bool flush;	   /* the device takes flushes (it may have a volatile cache) */
	bool writeback;	   /* the cache is in writeback mode (flush needed for durability) */
	bool wce;	   /* the cache mode can be switched */
	bool discard;	   /* BLK_OP_DISCARD */
	bool write_zeroes; /* BLK_OP_WRITE_ZEROES */
	bool zeroes_unmap; /* write zeroes may deallocate */
	bool dead;	   /* the device failed: every request fails */
	bool interrupts;   /* completions raise interrupts (polling works as well) */
	uint32_t max_discard_sectors;	   /* per device request (split above) */
	uint32_t discard_alignment;	   /* sectors; 0 or 1: none */
	uint32_t max_write_zeroes_sectors; /* per device request (split above) */
	uint32_t max_segments;		   /* data entries per device request */
	uint32_t max_segment_size;	   /* bytes per entry; 0: no limit */
	unsigned int nr_queues;
	unsigned int queue_size;    /* descriptors per queue */
	char serial[BLKDEV_ID_STR]; /* device ID string, escaped (blkdev_get_id) */
	uint64_t resizes;	    /* capacity changes seen */
	struct blkdev_stats stats;
	const struct blkdev_ops *ops;
	void *priv; /* the driver's */
};

/* Every registered disk, in registration order. */
extern struct blkdev *blkdev_list;

/*
 * blkdev_register - add bd under the first free name prefix + 'a'..'z'
 * ("vd" -> "vda", "vdb"...). Returns: 0, -ENOSPC (26 disks of that prefix).
 */
int blkdev_register(struct blkdev *bd, const char *prefix);

/* blkdev_unregister - remove bd from the list (no request may be in flight). */
void blkdev_unregister(struct blkdev *bd);

/* blkdev_find - the disk called name, or NULL. */
struct blkdev *blkdev_find(const char *name);

/*
 * blkdev_check - what blkdev_submit checks before the driver sees req:
 * a known operation the device supports, done set, data of the right
 * length (read/write: a non-zero multiple of the block size, get id: 20
 * bytes), start and length aligned to the block size, within the capacity,
 * not a write to a read-only disk. Sets nr_sectors for reads and writes.
 * Returns: 0, -EINVAL, -ERANGE, -EROFS, -EOPNOTSUPP or -ENODEV (dead).
 */
int blkdev_check(struct blkdev *bd, struct blk_request *req);

/*
 * blkdev_submit - check req (above) and hand it to the driver.
 * Returns: 0 (done() will run once, perhaps already has) or a negative
 * errno, done() not called: a blkdev_check error, -EAGAIN (BLK_REQ_NOWAIT
 * and the rings are full: nothing was sent), -ENOMEM, -EIO.
 * A flush on a device without a volatile cache completes at once.
 */
int blkdev_submit(struct blkdev *bd, struct blk_request *req);

/* blkdev_complete - for drivers: record req's outcome and run its done(). */
void blkdev_complete(struct blkdev *bd, struct blk_request *req, int error);

/* blkdev_poll - collect completions without interrupts (harmless with them). */
void blkdev_poll(struct blkdev *bd);

/* blkdev_plug / unplug - batch submissions: the device is told at unplug. Nest. */
void blkdev_plug(struct blkdev *bd);
void blkdev_unplug(struct blkdev *bd);

/*
 * blkdev_run - submit req and poll until it completes (req->done and
 * req->priv are overwritten). After BLKDEV_TIMEOUT_NS the device is
 * aborted (declared dead) and every request fails.
 * Returns: req->error, or the submission error.
 */
int blkdev_run(struct blkdev *bd, struct blk_request *req);

/* Synchronous wrappers over blkdev_run. Returns: 0 or a negative errno (as above). */
int blkdev_read(struct blkdev *bd, uint64_t sector, void *buf, uint32_t len);
int blkdev_write(struct blkdev *bd, uint64_t sector, const void *buf, uint32_t len);
int blkdev_readv(struct blkdev *bd, uint64_t sector, const struct sg_ring *data);
int blkdev_writev(struct blkdev *bd, uint64_t sector, const struct sg_ring *data);
int blkdev_flush(struct blkdev *bd);
int blkdev_discard(struct blkdev *bd, uint64_t sector, uint64_t nr_sectors);
int blkdev_write_zeroes(struct blkdev *bd, uint64_t sector, uint64_t nr_sectors, bool unmap);
/*
 * blkdev_get_id - ask the device for its ID string (serial, 20 bytes at
 * most) into id, NUL-terminated and safe to print: printable ASCII stays,
 * any other byte (and '"', '\\') becomes \xNN, so a device cannot put
 * escape sequences into the log. Returns: 0 or a request error (id "").
 */
int blkdev_get_id(struct blkdev *bd, char id[BLKDEV_ID_STR]);
/* blkdev_set_write_cache - writeback (true) or writethrough; -EOPNOTSUPP unless bd->wce. */
int blkdev_set_write_cache(struct blkdev *bd, bool writeback);

/* blkdev_op_name - "read", "write", ... */
const char *blkdev_op_name(enum blk_op op);

/* blkdev_strerror - what a block request error means, for messages. */
const char *blkdev_strerror(int err);

#endif
