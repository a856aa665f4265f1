/* A simulated virtio device for host tests: the device side of split and packed virtqueues. */
#ifndef TESTS_HOST_VQ_SIM_H
#define TESTS_HOST_VQ_SIM_H

/*
 * The sim works only on ring memory, as a device would (VIRTIO 1.2 2.7
 * split, 2.8 packed), finding the rings through virtqueue_ring_addrs()
 * (host pointers: tests/host/virtio_dma_host.c maps by identity). Every
 * pop validates what the driver wrote (chain shape and length, flags,
 * OUT before IN, indirect tables, avail idx, packed wrap counters, IN_ORDER
 * ring order, no reuse of descriptors the device owns), as do the
 * notification paths (event suppression fields, notification data, the
 * device area left alone), and fails the running cmocka test (fail_msg)
 * on an invalid ring.
 *
 * Usage: vq_sim_init(sim) before creating the queue with cfg.notify =
 * vq_sim_notify and cfg.priv = sim; vq_sim_attach(sim, vq, features) after
 * virtqueue_create, and again after virtqueue_reset/resize (the device
 * reset its queue state too); vq_sim_fini at the end.
 *
 * Positions are free-running counters: for split, avail/used ring
 * indices (16-bit wrap); for packed, descriptor slots since the start,
 * so ring offset = ctr % num and wrap counter = 1 ^ ((ctr / num) & 1).
 */

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>

#include <virtio/virtio_ring.h>
#include <virtio/virtqueue.h>

struct vq_sim_seg {
	uint8_t *addr;
	uint32_t len;
	bool write;
};

/* A buffer the device popped and has not used yet. */
struct vq_sim_buf {
	uint16_t id;	/* split: head descriptor index; packed: buffer id */
	uint16_t ndesc; /* ring descriptors it occupies */
	uint64_t pos;	/* packed: slot counter of its first descriptor; split: avail idx */
	bool indirect;
	uint32_t nsegs;
	struct vq_sim_seg *segs;
	uint32_t segs_cap;
	uint64_t out_len, in_len; /* device-readable / device-writable bytes */
	uint32_t written;	  /* bytes vq_sim_write put in so far */
	uint64_t seq;		  /* pop order */
	/* split: the descriptors as popped, to catch a driver changing them */
	struct vring_desc *snap;
	uint32_t snap_cap, nsnap;
	uint16_t *snap_idx;		/* ring index of each snapshot entry */
	const struct vring_desc *table; /* split: indirect table, and a copy of it */
	struct vring_desc *tsnap;
	uint32_t ntab;
};

struct vq_sim {
	struct virtqueue *vq;
	enum vq_layout layout;
	uint32_t num;
	uint64_t features;
	bool event_idx, in_order, indirect, notification_data;

	/* split ring */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail; /* next avail ring entry to pop */
	uint16_t used_idx;   /* next used ring entry to write */
	uint16_t next_head;  /* IN_ORDER: the head the driver must use next */
	uint8_t *owned;	     /* per descriptor: in flight (device owns it) */

	/* packed ring */
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *driver_ev; /* driver writes, device reads */
	struct vring_packed_desc_event *device_ev; /* device writes, driver reads */
	uint64_t avail_ctr;			   /* slots popped */

	uint64_t used_ctr; /* split: used entries written (== used idx); packed: slots used */

	/* notifications */
	uint64_t signalled;  /* used_ctr at the last interrupt decision */
	uint64_t interrupts; /* interrupts the device raised */
	uint64_t kicks;	     /* notifications the driver sent */
	uint64_t kick_old;   /* driver position at the last vq_sim_kick_expected */

	/* strict mode (vq_sim_set_strict) */
	bool strict;		/* kicks wake the device; interrupts wait for vq_sim_deliver */
	bool awake;		/* kicked, and has not yet gone back to sleep */
	bool drained;		/* awake, found nothing: the event and a second look next */
	bool irq_pending;	/* an interrupt raised and not yet delivered */
	uint64_t sleeps;	/* times the device published its event and slept */
	uint64_t rechecks;	/* buffers found by the look after publishing the event */
	uint32_t drop_kicks;	/* a lossy path: this many kicks never arrive */
	uint32_t drop_irqs;	/* and this many interrupts raised never arrive */
	bool check_notify_data; /* vq_sim_notify checks the notification data (default on) */

	/* buffers in flight, in pop order */
	struct vq_sim_buf **inflight;
	uint32_t ninflight;
	struct vq_sim_buf **pool; /* spare buffer records */
	uint32_t npool, pool_cap;
	uint64_t seq;
	uint64_t popped, completed;

	/* set by the hostile primitives: stop checking the driver against device state */
	bool hostile;

	/* the device area as the device last wrote it: the driver must not write there */
	uint8_t *dev_shadow;
	size_t dev_size;

	/*
	 * An invalid ring fails the running test; with trap set (self-tests of
	 * the sim) it longjmps there instead, the message in error.
	 */
	jmp_buf *trap;
	char error[256];
	struct vq_sim_buf *cur; /* being popped */
};

void vq_sim_init(struct vq_sim *s);
void vq_sim_attach(struct vq_sim *s, struct virtqueue *vq, uint64_t features);
void vq_sim_fini(struct vq_sim *s);

/* vq_config.notify: counts the kick (cfg.priv must be the sim). */
void vq_sim_notify(struct virtqueue *vq);

/* Take the next available buffer (validated). Returns NULL when none is available. */
struct vq_sim_buf *vq_sim_pop(struct vq_sim *s);
/* Buffers available that the device has not popped (split: avail entries; packed: scan). */
uint32_t vq_sim_pending(struct vq_sim *s);
static inline struct vq_sim_buf *vq_sim_inflight(struct vq_sim *s, uint32_t i)
{
	return i < s->ninflight ? s->inflight[i] : NULL;
}

/* Copy up to max device-readable bytes; returns how many there were (all of them). */
uint64_t vq_sim_read(struct vq_sim *s, struct vq_sim_buf *b, void *dst, uint64_t max);
/* Write len bytes (clamped to the writable size) at the start of the writable part. */
uint32_t vq_sim_write(struct vq_sim *s, struct vq_sim_buf *b, const void *src, uint32_t len);

/* Mark b used with len bytes written; b is released. IN_ORDER: b must be the oldest. */
void vq_sim_complete(struct vq_sim *s, struct vq_sim_buf *b, uint32_t len);
/*
 * IN_ORDER batch: use the n oldest buffers with one used entry (split) or
 * one used descriptor (packed) naming the last, whose length is len.
 */
void vq_sim_complete_batch(struct vq_sim *s, uint32_t n, uint32_t len);

/*
 * The device's used buffer notification decision for the buffers used
 * since the last call (2.7.7 / 2.8.10, reading what the driver wrote);
 * when it interrupts, counts it and runs virtqueue_interrupt().
 * Returns: whether it interrupted.
 */
bool vq_sim_signal(struct vq_sim *s);

/*
 * Strict mode: the strictest device the spec allows (2.7.7, 2.7.10, 2.8.10),
 * like a vhost-user backend and unlike QEMU's built-in devices, which poll.
 * - It looks at the available ring only after a kick (vq_sim_notify wakes
 *   it) and keeps looking while it finds buffers (vq_sim_service).
 * - While awake it asks for no kicks (split: NO_NOTIFY, or an EVENT_IDX
 *   event it leaves behind; packed: DISABLE). Before it sleeps it asks for
 *   a kick at the next buffer and looks once more, as a device must, or a
 *   buffer made available in between would wait for ever.
 * - It raises an interrupt only when the driver's flags or event allow it,
 *   and the interrupt reaches the driver only at vq_sim_deliver, never
 *   inside a driver call; completions may wait as long as the test likes.
 */
void vq_sim_set_strict(struct vq_sim *s, bool on);
/* A woken device pops up to max buffers. Returns: how many it popped. */
unsigned vq_sim_service(struct vq_sim *s, unsigned max);
/* Deliver a raised interrupt (virtqueue_interrupt). Returns: whether there was one. */
bool vq_sim_deliver(struct vq_sim *s);

/*
 * virt_mb_hook (include/arch/x86_64/barrier.h, VIRT_MB_HOOK): fn(arg) runs
 * at every full barrier of the ring code (not nested), so a test's device
 * acts between the driver's stores and loads. NULL: nothing runs.
 */
void vq_sim_set_mb_hook(void (*fn)(void *), void *arg);

/* Device side of available buffer notification suppression. */
void vq_sim_set_no_notify(struct vq_sim *s, bool no_notify); /* split used->flags */
void vq_sim_set_avail_event(struct vq_sim *s, uint16_t idx); /* split, EVENT_IDX */
void vq_sim_set_device_event(struct vq_sim *s, uint16_t flags, uint16_t off_wrap); /* packed */

/* The driver's next available position as the ring shows it (split: avail->idx). */
uint64_t vq_sim_driver_avail(struct vq_sim *s);
/*
 * Whether the spec requires the driver to notify for what it made
 * available since the previous call (which sets the starting point).
 * Returns 1 (must notify), 0 (should not), -1 (either: nothing added, or
 * packed with more than a ring's worth of descriptors added, when the
 * event's offset and wrap counter name two slots in the range).
 */
int vq_sim_kick_expected(struct vq_sim *s);
/* Re-synchronise the kick starting point with the ring (no decision). */
void vq_sim_kick_sync(struct vq_sim *s);

/* What the driver wrote for used buffer notifications. */
uint16_t vq_sim_avail_flags(struct vq_sim *s);					 /* split */
uint16_t vq_sim_used_event(struct vq_sim *s);					 /* split */
void vq_sim_driver_event(struct vq_sim *s, uint16_t *flags, uint16_t *off_wrap); /* packed */

/* Packed helpers: ring offset and wrap counter of a slot counter. */
static inline uint16_t vq_sim_off(const struct vq_sim *s, uint64_t ctr)
{
	return (uint16_t)(ctr % s->num);
}
static inline unsigned vq_sim_wrap(const struct vq_sim *s, uint64_t ctr)
{
	return 1u ^ (unsigned)((ctr / s->num) & 1);
}

/*
 * Ring memory the driver writes (descriptor area and driver area), for
 * byte-exact snapshots. Returns the bytes copied into dst (size cap), or
 * the size needed when dst is NULL.
 */
size_t vq_sim_driver_mem(struct vq_sim *s, void *dst, size_t cap);

/* Hostile device primitives (they set s->hostile). */
/* split: write used->ring[used idx] = {id, len} and advance used idx by one */
void vq_sim_put_used_raw(struct vq_sim *s, uint32_t id, uint32_t len);
/* split: publish an arbitrary used idx */
void vq_sim_set_used_idx(struct vq_sim *s, uint16_t idx);
/*
 * packed: write a used descriptor at the device's used position with the
 * current device wrap counter (AVAIL and USED both set to it, plus
 * extra_flags), then advance the used position by skip slots.
 */
void vq_sim_put_used_desc_raw(struct vq_sim *s, uint16_t id, uint32_t len, uint16_t extra_flags,
			      uint32_t skip);

#endif
