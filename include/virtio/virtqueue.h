/*
 * The virtqueue API: the only view of a ring that device drivers get.
 *
 * Typical usage (a driver; the transport created the queue):
 *
 *	DECLARE_SG(out, 1);
 *	sg_add(out, &req_hdr, sizeof(req_hdr));
 *	err = virtqueue_add_sgs(vq, out, data_and_status, req);   (-ENOSPC: ring full)
 *	virtqueue_kick(vq);                                        (notifies if needed)
 *	...
 *	(interrupt or poll)
 *	while ((req = virtqueue_get_buf(vq, &len)) != NULL)
 *		complete(req, len);                                (len: bytes the device wrote)
 *	if (!virtqueue_enable_cb(vq))                              (more arrived meanwhile)
 *		goto again;
 *
 * Piecewise, when the pieces come from different places:
 *
 *	struct vq_buf b;
 *	virtqueue_start_buf(vq, &b, token, nents, nsg);   (reserves room, picks indirect/direct)
 *	virtqueue_add_sg(&b, hdr, 0, VQ_OUT);             (nsg calls in all, OUT before IN)
 *	virtqueue_add_sg(&b, data, 0, VQ_IN);
 *	virtqueue_end_buf(&b);                            (publishes the buffer)
 *
 * Two layouts (VIRTIO 1.2 split 2.7 and packed 2.8) sit behind this API,
 * chosen by VIRTIO_F_RING_PACKED; nothing here depends on which.
 *
 * The device is not trusted: a used entry naming a buffer that is not
 * outstanding, a length beyond what the buffer lets the device write, a
 * used index that jumps by more than the ring size, or an impossible
 * packed descriptor marks the queue broken. Every later call then fails
 * (-EIO, NULL, false) until virtqueue_reset(), and nothing outside the
 * posted buffers is written.
 *
 * Not thread-safe: callers serialise access to a queue (one lock, or one
 * CPU with interrupts off around it). While a piecewise buffer is open
 * (start_buf until end_buf/abort_buf) the queue takes no other buffer
 * (-EBUSY) and get_buf returns NULL; reset and detach abort it.
 */
#ifndef VIRTIO_VIRTQUEUE_H
#define VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lib/sg_ring.h>

struct virtqueue;

enum vq_layout { VQ_SPLIT, VQ_PACKED };

enum vq_dir {
	VQ_OUT, /* the device reads the buffer */
	VQ_IN,	/* the device writes the buffer */
};

typedef void (*vq_callback_t)(struct virtqueue *vq);
typedef void (*vq_notify_t)(struct virtqueue *vq);
typedef void (*vq_recycle_t)(struct virtqueue *vq, void *token);

struct vq_config {
	const char *name;
	uint16_t index;	   /* queue number (notification data, logs) */
	uint32_t num;	   /* queue size: split a power of two, packed any; <= 32768 */
	uint64_t features; /* negotiated feature bits; RING_PACKED picks the layout */
	uint32_t
		ring_align; /* split used-ring alignment, a power of two in 4..4096: 0 = 4 (modern), 4096 legacy */
	uint16_t indirect_tables; /* pool size with INDIRECT_DESC; 0 = min(num / 2, 64) */
	uint16_t indirect_max;	  /* entries per indirect table; 0 = min(num, 64) */
	vq_callback_t callback;	  /* run by virtqueue_interrupt() when buffers are used */
	vq_notify_t notify;	  /* transport: tell the device there is work */
	void *priv;		  /* the driver's, returned by virtqueue_priv() */
};

/* Counters for the shell's `virtio` command and for tests. */
struct vq_stats {
	uint64_t added; /* buffers made available */
	uint64_t used;	/* buffers returned by virtqueue_get_buf */
	uint64_t kicks; /* notifications sent to the device */
	uint64_t kicks_suppressed;
	uint64_t interrupts;	    /* virtqueue_interrupt calls */
	uint64_t indirect;	    /* buffers that used an indirect table */
	uint64_t indirect_fallback; /* wanted indirect, pool empty: went direct */
};

/*
 * virtqueue_create - allocate and initialise a queue and its ring memory.
 * Returns: 0 and *vqp, -EINVAL for a bad size or configuration, -ENOMEM.
 */
int virtqueue_create(const struct vq_config *cfg, struct virtqueue **vqp);

/* virtqueue_destroy - free the queue; outstanding tokens are forgotten. */
void virtqueue_destroy(struct virtqueue *vq);

/*
 * A buffer under construction (virtqueue_start_buf ... end_buf). Lives on
 * the caller's stack; all fields are the ring's, not the caller's.
 */
struct vq_buf {
	struct virtqueue *vq;
	void *token;
	uint32_t nents, nsg; /* announced at start */
	uint32_t ents, sgs;  /* added so far */
	uint32_t in_len;     /* device-writable bytes so far */
	uint64_t total_len;  /* all bytes so far: a chain stays below 4 GiB (2.7.5) */
	bool seen_in;	     /* an IN entry came: no OUT may follow */
	bool indirect;
	bool active;
	uint16_t id;	      /* split: head descriptor; packed: buffer id */
	uint16_t pos;	      /* next ring slot (direct) or table slot (indirect) */
	uint16_t prev;	      /* last descriptor written, to clear its NEXT flag */
	uint16_t ndesc;	      /* ring descriptors taken */
	uint16_t table;	      /* indirect table index */
	uint16_t first_flags; /* packed: flags of the first descriptor, written last */
};

/*
 * virtqueue_start_buf - begin a buffer of nents entries given in nsg
 * virtqueue_add_sg calls (1 <= nsg <= nents). Picks an indirect table when INDIRECT_DESC is
 * negotiated, nents > 1 and a table is free, else direct descriptors.
 * Returns: 0; -EINVAL (NULL token, nents 0 or larger than the queue size,
 * nsg 0 or larger than nents); -ENOSPC (not enough free descriptors now);
 * -EBUSY (another piecewise buffer is open on this queue); -EIO (broken).
 */
int virtqueue_start_buf(struct virtqueue *vq, struct vq_buf *buf, void *token, unsigned nents,
			unsigned nsg);

/*
 * virtqueue_add_sg - add entries from the chain sg (following ->next links):
 * nents of them, or all up to the end of the chain when nents is 0.
 * On any error the whole buffer is rolled back (ring, free count and free
 * list exactly as before start_buf) and buf is finished.
 * Returns: 0; -EINVAL (more entries or calls than announced, a chain
 * shorter than nents, an OUT entry after an IN entry, a zero-length
 * entry, 4 GiB or more in the whole buffer); -EIO (broken).
 */
int virtqueue_add_sg(struct vq_buf *buf, const struct sg_ring *sg, unsigned nents, enum vq_dir dir);

/*
 * virtqueue_end_buf - publish the buffer to the device. It does not notify
 * (see virtqueue_kick), except once per ~65000 unkicked buffers, when the
 * 16-bit ring index would otherwise overtake the device. Returns: 0; -EINVAL (rolled back) if fewer entries
 * or calls came than announced; -EIO (broken).
 */
int virtqueue_end_buf(struct vq_buf *buf);

/* virtqueue_abort_buf - roll back a buffer under construction. */
void virtqueue_abort_buf(struct vq_buf *buf);

/*
 * virtqueue_add_sgs - add one buffer: every entry of the out chain
 * (device-readable), then every entry of the in chain (device-writable);
 * either may be NULL, not both. Returns: as start_buf/add_sg/end_buf; on
 * error nothing was added.
 */
int virtqueue_add_sgs(struct virtqueue *vq, const struct sg_ring *out, const struct sg_ring *in,
		      void *token);

/* virtqueue_add_buf_single - the one-entry fast path. Returns: as add_sgs. */
int virtqueue_add_buf_single(struct virtqueue *vq, void *addr, uint32_t len, enum vq_dir dir,
			     void *token);

/* One single-descriptor buffer of a burst (virtqueue_add_bufs). */
struct vq_single {
	void *addr;
	uint32_t len;
	enum vq_dir dir;
	void *token;
};

/*
 * virtqueue_add_bufs - add_buf_single for bufs[0..n-1] at once, in order:
 * the ring state is read and written once for the burst, and the device is
 * handed the whole burst at one moment (split: one avail index store;
 * packed: the first buffer's flags are written last), so it reads full
 * lines of new descriptors. Every entry is checked before any is added.
 * Returns: how many were added, bufs[0] onwards (fewer than n when fewer
 * descriptors are free: the rest are untouched; 0 for n == 0); -EINVAL (an
 * entry with a NULL token, a zero length or a bad direction: nothing was
 * added); -ENOSPC (no descriptor free); -EBUSY; -EIO (broken).
 */
int virtqueue_add_bufs(struct virtqueue *vq, const struct vq_single *bufs, unsigned n);

/*
 * virtqueue_kick_prepare - whether the device wants a notification for
 * the buffers added since the last kick (event index / flags). Resets the
 * count of added buffers. Returns: true to notify.
 */
bool virtqueue_kick_prepare(struct virtqueue *vq);

/* virtqueue_notify - notify the device through the transport. */
void virtqueue_notify(struct virtqueue *vq);

/* virtqueue_kick - kick_prepare, then notify if needed. Returns: true if notified. */
bool virtqueue_kick(struct virtqueue *vq);

/*
 * virtqueue_notification_data - the 32-bit value a transport writes when
 * VIRTIO_F_NOTIFICATION_DATA is negotiated (VIRTIO 1.2 2.9).
 */
uint32_t virtqueue_notification_data(const struct virtqueue *vq);

/*
 * virtqueue_get_buf - the next used buffer.
 * Returns: its token with *len = bytes the device wrote (<= the buffer's
 * writable size; buffers an IN_ORDER batch skipped count as wholly
 * written); NULL when none is ready or the queue is broken.
 */
void *virtqueue_get_buf(struct virtqueue *vq, uint32_t *len);

/*
 * virtqueue_get_bufs - up to max used buffers at once, in the order
 * virtqueue_get_buf would return them, with its checks: tokens[i], and
 * lens[i] if lens is not NULL. The interrupt event (EVENT_IDX) is moved
 * once, after the last. Returns: how many were taken (0 when none is
 * ready, or the queue is or became broken: virtqueue_is_broken tells; the
 * buffers taken before a bad entry are returned, the bad one is not).
 */
unsigned virtqueue_get_bufs(struct virtqueue *vq, void **tokens, uint32_t *lens, unsigned max);

/* virtqueue_more_used - a used buffer is waiting (false when broken). */
bool virtqueue_more_used(struct virtqueue *vq);

/*
 * virtqueue_get_buf_after_reset - for a driver's recovery, once the device
 * was reset (it writes the ring no more): the next buffer the device had
 * used, broken queue or not, with get_buf's checks (an entry that fails
 * them ends it). So buffers the device finished before a ring broke are
 * neither lost nor sent twice. Returns: as virtqueue_get_buf; a broken
 * queue stays broken.
 */
void *virtqueue_get_buf_after_reset(struct virtqueue *vq, uint32_t *len);

/* virtqueue_disable_cb - ask the device not to interrupt (a hint it may ignore). */
void virtqueue_disable_cb(struct virtqueue *vq);

/*
 * virtqueue_enable_cb_prepare - re-enable interrupts; returns an opaque
 * position for virtqueue_poll(): used buffers after it arrived since.
 */
unsigned virtqueue_enable_cb_prepare(struct virtqueue *vq);

/* virtqueue_poll - true if buffers were used after position last (false when broken). */
bool virtqueue_poll(struct virtqueue *vq, unsigned last);

/*
 * virtqueue_enable_cb - re-enable interrupts. Returns: false if buffers
 * are already waiting (process them, then try again), true otherwise,
 * and true on a broken queue (nothing will come: do not spin).
 */
bool virtqueue_enable_cb(struct virtqueue *vq);

/*
 * virtqueue_enable_cb_delayed - re-enable interrupts, but with EVENT_IDX
 * ask for one only after about 3/4 of the outstanding buffers are used
 * (TX cleanup). get_buf calls before that point leave the event in place. Returns: false if a used buffer is already waiting
 * (process it, then try again), true otherwise; as virtqueue_enable_cb.
 */
bool virtqueue_enable_cb_delayed(struct virtqueue *vq);

/*
 * virtqueue_interrupt - the transport's interrupt path: counts the
 * interrupt and runs the callback if a used buffer is waiting.
 */
void virtqueue_interrupt(struct virtqueue *vq);

/*
 * virtqueue_detach_unused_buf - after the device stopped using the queue
 * (reset), take back one buffer that get_buf has not returned (used or
 * not). The queue must then be reset before reuse. Returns: its token or NULL.
 */
void *virtqueue_detach_unused_buf(struct virtqueue *vq);

/*
 * virtqueue_reset - after the device reset the queue (RING_RESET or a
 * device reset): hand every outstanding token to recycle (may be NULL),
 * clear the ring and start over; a broken queue becomes usable again.
 * Returns: 0.
 */
int virtqueue_reset(struct virtqueue *vq, vq_recycle_t recycle);

/*
 * virtqueue_resize - reset (as above) and move to a ring of num entries.
 * On -ENOMEM/-EINVAL the queue keeps its old size, still reset.
 * The transport then programs the new ring addresses.
 */
int virtqueue_resize(struct virtqueue *vq, uint32_t num, vq_recycle_t recycle);

/* Device addresses of the three ring parts, for the transport. */
struct vq_ring_addrs {
	uint64_t desc;	 /* descriptor table / packed ring */
	uint64_t driver; /* split: available ring; packed: driver event suppression */
	uint64_t device; /* split: used ring; packed: device event suppression */
};
void virtqueue_ring_addrs(const struct virtqueue *vq, struct vq_ring_addrs *a);

enum vq_layout virtqueue_layout(const struct virtqueue *vq);
uint32_t virtqueue_num(const struct virtqueue *vq);
uint32_t virtqueue_num_free(const struct virtqueue *vq);
uint16_t virtqueue_index(const struct virtqueue *vq);
void *virtqueue_priv(const struct virtqueue *vq);
const char *virtqueue_name(const struct virtqueue *vq);
const struct vq_stats *virtqueue_stats(const struct virtqueue *vq);

/* Broken state: set by the core on a device error, or by the transport. */
bool virtqueue_is_broken(const struct virtqueue *vq);
const char *virtqueue_broken_reason(const struct virtqueue *vq); /* NULL if fine */
void virtqueue_mark_broken(struct virtqueue *vq, const char *reason);

/*
 * virtqueue_inject_fault - fault injection for tests of a driver's
 * recovery: the next used entry get_buf reads is taken as one naming a
 * buffer that is not outstanding (what a broken device writes): the queue
 * breaks there, as it would on a real one, while the device itself runs on.
 */
void virtqueue_inject_fault(struct virtqueue *vq);

#endif
