/*
 * The virtio-blk request engine (VIRTIO 1.2 5.2.6): block requests in,
 * descriptor chains out, completions back. It knows the virtqueue API and
 * the request format, not the transport, interrupts or locking: devices/blk.c
 * brings the device up and calls in here with interrupts off; the host
 * tests (tests/host/test_blk.c) drive it against a simulated device.
 *
 * One block request becomes one or more device requests ("pieces"), each
 * a chain  out = [header] (+ data for writes, + range for discard/write
 * zeroes), in = (data for reads and get id) + [status]  laid out over the
 * caller's buffers without copying, cut where the device's limits (segments
 * per request, bytes per segment, sectors per discard) demand. A piece
 * waits for descriptors in a per-queue FIFO when its ring is full; the
 * request completes when its last piece does, with the first error.
 */
#ifndef DRIVERS_VIRTIO_BLK_QUEUE_H
#define DRIVERS_VIRTIO_BLK_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include <block/blkdev.h>
#include <virtio/virtio_blk.h>
#include <virtio/virtqueue.h>

/* Data entries per piece at most: header + data + status fit a 64-entry indirect table. */
#define VBLK_MAX_SEGS 62u

/* Error messages printed per device, then only counted. */
#define VBLK_ERROR_LOG_MAX 16u

/* Device-visible part of a piece (DMA memory): header, discard range, status. */
struct vblk_wire {
	struct virtio_blk_outhdr hdr;
	struct virtio_blk_discard_write_zeroes range;
	uint8_t status;
	uint8_t pad[15];
};
_Static_assert(sizeof(struct vblk_wire) == 48, "one piece's header, range and status");

/* A piece on the ring: its token is the slot. */
struct vblk_slot {
	struct blk_request *req;
	uint64_t sector;     /* for messages */
	uint32_t in_len;     /* device-writable bytes: the used length a device must report */
	uint32_t next_free;  /* free list */
	struct vblk_wire *w; /* its wire memory */
};

struct vblk;

struct vblk_queue {
	struct vblk *vb;
	struct virtqueue *vq;
	unsigned int index;
	bool irq; /* completions raise interrupts: re-enable callbacks after a pass */
	struct vblk_slot *slots;
	struct vblk_wire *wire;
	uint32_t nslots;
	uint32_t free_head; /* UINT32_MAX: none */
	uint32_t inflight;  /* pieces on the ring */
	uint32_t added;	    /* pieces added since the last notification decision */
	struct blk_request *wait_head, *wait_tail;
	/* counters */
	uint64_t requests; /* block requests that went to this queue */
	uint64_t pieces;   /* device requests */
	uint64_t waited;   /* block requests that had to wait for descriptors */
	uint32_t max_inflight;
	uint64_t completed; /* pieces finished */
	/* the lost-notification watchdog (vblk_watchdog) */
	uint64_t wd_completed; /* completed when it last saw progress */
	uint64_t wd_pieces;    /* pieces (sent) then */
	uint64_t wd_since;     /* clock_ns of that, or of the last re-kick */
	uint64_t rekicks;      /* kicks sent again for pieces left unanswered */
	uint64_t found_used;   /* pieces the device used without an interrupt reaching us */
};

struct vblk {
	struct blkdev *bd;
	struct vblk_queue *q;
	unsigned int nq;
	unsigned int rr; /* next queue for a new request */
	/* Limits of one piece. */
	uint32_t max_segs;	    /* data entries, <= VBLK_MAX_SEGS */
	uint32_t size_max;	    /* bytes per data entry; 0: none */
	uint32_t max_bytes;	    /* data bytes, a multiple of the block size */
	uint32_t max_discard;	    /* sectors per discard piece */
	uint32_t max_zeroes;	    /* sectors per write zeroes piece */
	uint32_t discard_align;	    /* sectors; pieces end on it when they can */
	bool check_used_len;	    /* modern devices: the used length must cover the status */
	unsigned int plugged;	    /* blkdev_plug depth */
	unsigned int in_completion; /* completion pass depth: notify once at its end */
	bool dead;
	bool recovering; /* a ring broke: nothing is sent or completed until vblk_resend */
	/*
	 * The device broke its ring (a bad used entry, DEVICE_NEEDS_RESET): the
	 * driver sets recovering and brings the device back (vblk_take_back,
	 * new queues, vblk_resend), or stops it for good (vblk_fail_all).
	 */
	void (*broken)(struct vblk *vb, const char *why);
	uint64_t bad_completions; /* short used length or unknown status */
	uint64_t errors_logged;
};

/*
 * vblk_queue_init - set q up over an existing virtqueue: a slot and wire
 * memory per ring entry (the ring bounds what is in flight).
 * Returns: 0, -ENOMEM.
 */
int vblk_queue_init(struct vblk *vb, struct vblk_queue *q, unsigned int index, struct virtqueue *vq,
		    bool irq);

/* vblk_queue_fini - free what init allocated (nothing may be in flight). */
void vblk_queue_fini(struct vblk_queue *q);

/*
 * vblk_submit - send req (checked by blkdev_check) on the next queue.
 * Returns: 0 (blkdev_complete will run), -EAGAIN (BLK_REQ_NOWAIT and no
 * room: nothing sent), -EIO (device dead or ring broken, nothing sent),
 * -EINVAL (the buffers cannot be cut into pieces the device takes).
 */
int vblk_submit(struct vblk *vb, struct blk_request *req);

/*
 * vblk_process - a completion pass over q: finish used pieces, send
 * waiting ones, re-enable interrupts (irq queues), notify the device.
 */
void vblk_process(struct vblk_queue *q);

/* A queue whose pieces got no completion for this long is looked at and kicked again. */
#define VBLK_WATCHDOG_NS (100ull * 1000000ull)

/*
 * vblk_watchdog - the safety net for a lost notification, called from the
 * poll path with the time: a queue with pieces in flight that completed
 * nothing for VBLK_WATCHDOG_NS gets a completion pass (pieces the device
 * used but whose interrupt never came: counted in found_used) and, if
 * pieces are still out, a kick it did not ask for (always allowed; a
 * device that missed one finds its buffers; counted in rekicks). A correct
 * device and hypervisor never need it, but QEMU 7.2's TCG with one vCPU
 * emits no host fence for the guest's barriers, so against a device in
 * another thread or process (vhost-user) the store-then-load of the kick
 * and interrupt decisions is not ordered and a notification can be lost.
 */
void vblk_watchdog(struct vblk *vb, uint64_t now);

/* vblk_plug / vblk_unplug - hold notifications until the outermost unplug. */
void vblk_plug(struct vblk *vb);
void vblk_unplug(struct vblk *vb);

/*
 * vblk_fail_all - after the device was reset (it no longer touches the
 * rings): complete every outstanding and waiting request with err and
 * mark vb dead.
 */
void vblk_fail_all(struct vblk *vb, int err);

/*
 * vblk_take_back - after the device was reset (it no longer touches the
 * rings): take every request back from the rings and the waiting lists.
 * A request already sent again once, or already failed, completes (with
 * its error, else err; counted in *failed); the others are returned,
 * oldest first, linked by in.next, for vblk_resend.
 */
struct blk_request *vblk_take_back(struct vblk *vb, int err, unsigned int *failed);

/*
 * vblk_queue_reinit - q over a new virtqueue after a device reset (the old
 * one is gone): fresh slots, the counters kept. Returns: 0, -ENOMEM.
 */
int vblk_queue_reinit(struct vblk_queue *q, struct virtqueue *vq, bool irq);

/*
 * vblk_resend - send the requests vblk_take_back returned again, each from
 * its start, on the queue it had; clears recovering. Returns: how many.
 */
unsigned int vblk_resend(struct vblk *vb, struct blk_request *list);

/* vblk_status_errno - a status byte as an errno (unknown values: -EIO). */
int vblk_status_errno(uint8_t status);

#endif
