/*
 * Virtio block driver (VIRTIO 1.2 section 5.2): device bring-up, feature
 * negotiation and configuration (capacity, block size, topology, limits,
 * cache mode), one request queue per virtqueue (MQ), capacity changes by
 * configuration interrupt, and the block device (include/block/blkdev.h)
 * it registers as vda, vdb, ... The requests themselves are blk_queue.c's.
 *
 * Locking: one CPU, so "interrupts off" is the lock. Queue callbacks run
 * in interrupt context; everything else that touches a queue runs with
 * interrupts saved and disabled around it.
 *
 * Command line knobs (tests, experiments): blk.seg_max=N and
 * blk.size_max=BYTES lower the device's segment limits, blk.queues=N
 * uses at most N request queues.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/cpu.h>
#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/kernel.h>
#include <virtio/virtio.h>
#include <virtio/virtio_blk.h>

#include "blk_queue.h"

#define VBLK_MAX_QUEUES 16
#define VBLK_MAX_BYTES	(1u << 30) /* data bytes per device request */
/* Without interrupts, the configuration (ISR) is looked at this often by polls. */
#define VBLK_CONFIG_POLL_NS 1000000ull

#define VBLK_FEATURES                                                              \
	(VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |    \
	 VIRTIO_BIT(VIRTIO_BLK_F_GEOMETRY) | VIRTIO_BIT(VIRTIO_BLK_F_RO) |         \
	 VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |      \
	 VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY) | VIRTIO_BIT(VIRTIO_BLK_F_CONFIG_WCE) | \
	 VIRTIO_BIT(VIRTIO_BLK_F_MQ) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |          \
	 VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES))

struct vblk_dev {
	struct vblk vb;
	struct blkdev bd;
	struct virtio_device *vd;
	struct vblk_queue q[VBLK_MAX_QUEUES];
	bool ready;		   /* queues initialised: callbacks may run */
	bool polled;		   /* the device has no interrupts: polls look at the ISR */
	uint64_t next_config_poll; /* clock_ns of the next look at the configuration */
	bool recover_pending;	   /* a ring broke: vblk_recover at the next poll or submit */
	char recover_why[96];
	uint64_t fault_used_at; /* blk.fault=used@N: a bad used entry at the Nth completion pass */
	uint64_t passes;
};

#define CFG(field) offsetof(struct virtio_blk_config, field)

static uint32_t cfg32(struct virtio_device *vd, unsigned off)
{
	le32 v;

	virtio_config_read(vd, off, &v, sizeof(v));
	return le32_to_cpu(v);
}

static uint16_t cfg16(struct virtio_device *vd, unsigned off)
{
	le16 v;

	virtio_config_read(vd, off, &v, sizeof(v));
	return le16_to_cpu(v);
}

static uint8_t cfg8(struct virtio_device *vd, unsigned off)
{
	uint8_t v;

	virtio_config_read(vd, off, &v, sizeof(v));
	return v;
}

static uint64_t cfg_capacity(struct virtio_device *vd)
{
	le64 v;

	virtio_config_read(vd, CFG(capacity), &v, sizeof(v));
	return le64_to_cpu(v);
}

static struct vblk_dev *to_dev(struct blkdev *bd)
{
	return container_of(bd, struct vblk_dev, bd);
}

/* blk.fault=used@N: queue 0 reads a bad used entry once N pieces completed. */
static void vblk_fault(struct vblk_dev *d)
{
	if (d->fault_used_at && d->q[0].completed >= d->fault_used_at) {
		d->fault_used_at = 0;
		virtqueue_inject_fault(d->q[0].vq);
	}
}

/* Queue callback, in interrupt context (or from virtio_poll with interrupts off). */
static void vblk_vq_done(struct virtqueue *vq)
{
	struct virtio_device *vd = virtio_vq_device(vq);
	struct vblk_dev *d = vd->priv;
	unsigned idx = virtqueue_index(vq);

	if (d && d->ready && idx < d->vb.nq) {
		vblk_fault(d);
		vblk_process(&d->q[idx]);
	}
}

/* 5.2.6.2: the driver SHOULD re-read the capacity on a configuration change. */
static void vblk_config_changed(struct virtio_device *vd)
{
	struct vblk_dev *d = vd->priv;
	uint64_t cap;

	if (!d || !d->ready)
		return;
	cap = cfg_capacity(vd);
	if (cap != d->bd.nr_sectors) {
		kprintf("blk: %s: capacity changed from %llu to %llu sectors (%llu MiB)\n",
			d->bd.name, (unsigned long long)d->bd.nr_sectors, (unsigned long long)cap,
			(unsigned long long)(cap * BLK_SECTOR_SIZE / MiB));
		d->bd.nr_sectors = cap;
		d->bd.resizes++;
	}
	if (d->bd.wce)
		d->bd.writeback = cfg8(vd, CFG(writeback)) != 0;
	if (d->bd.write_zeroes)
		d->bd.zeroes_unmap = cfg8(vd, CFG(write_zeroes_may_unmap)) != 0;
}

static void vblk_recover_pending(struct vblk_dev *d);

static int vblk_submit_op(struct blkdev *bd, struct blk_request *req)
{
	uint64_t flags = irq_save();
	int rc;

	vblk_recover_pending(to_dev(bd));
	rc = vblk_submit(&to_dev(bd)->vb, req);
	irq_restore(flags);
	return rc;
}

static void vblk_poll_op(struct blkdev *bd)
{
	struct vblk_dev *d = to_dev(bd);
	uint64_t flags;

	if (clock_ns() >= d->next_config_poll) {
		d->next_config_poll = clock_ns() + VBLK_CONFIG_POLL_NS;
		flags = irq_save();
		if (d->polled)
			virtio_poll(d->vd); /* the ISR tells of configuration changes */
		else if (!(flags & (1u << 9)))
			vblk_config_changed(d->vd); /* its interrupt waits for the CPU */
		irq_restore(flags);
	}
	for (unsigned i = 0; i < d->vb.nq; i++) {
		flags = irq_save();
		vblk_fault(d);
		vblk_process(&d->q[i]);
		irq_restore(flags);
	}
	flags = irq_save();
	vblk_recover_pending(d);
	vblk_watchdog(&d->vb, clock_ns());
	irq_restore(flags);
}

static void vblk_plug_op(struct blkdev *bd)
{
	uint64_t flags = irq_save();

	vblk_plug(&to_dev(bd)->vb);
	irq_restore(flags);
}

static void vblk_unplug_op(struct blkdev *bd)
{
	uint64_t flags = irq_save();

	vblk_unplug(&to_dev(bd)->vb);
	irq_restore(flags);
}

/* Give the device up: what was outstanding fails, the disk is dead. */
static void vblk_kill(struct vblk_dev *d, const char *why)
{
	uint32_t n = 0;

	if (d->vb.dead)
		return;
	for (unsigned i = 0; i < d->vb.nq; i++)
		n += d->q[i].inflight;
	kprintf("blk: %s: %s; %u requests on the rings fail, the disk is dead\n", d->bd.name, why,
		n);
	d->ready = false;
	/* Rings, slots and wire memory stay allocated: the device may not have let go. */
	vblk_fail_all(&d->vb, -EIO);
}

static int vblk_setup_queues(struct vblk_dev *d, bool again);

/*
 * Bring the device back (process context, interrupts off): reset it, take
 * every request back, negotiate and set the queues up again, send the
 * requests again (each once at most: one already sent again fails).
 */
static void vblk_recover(struct vblk_dev *d, const char *why)
{
	struct virtio_device *vd = d->vd;
	struct blk_request *list;
	unsigned failed, resent;
	uint64_t had = vd->features;
	int rc;

	if (d->vb.dead)
		return;
	d->recover_pending = false;
	d->vb.recovering = true;
	d->ready = false;
	if (virtio_restart(vd)) {
		vblk_kill(d, "the device did not complete its reset");
		return;
	}
	list = vblk_take_back(&d->vb, -EIO, &failed);
	rc = virtio_negotiate(vd, VBLK_FEATURES);
	if (rc == 0 && vd->features != had)
		rc = -EPROTO; /* what the disk was set up for is gone */
	if (rc == 0)
		rc = vblk_setup_queues(d, true);
	if (rc) {
		char msg[80];

		snprintf(msg, sizeof(msg), "after a reset the device cannot be set up again (%d)",
			 rc);
		d->vb.recovering = false;
		vblk_resend(&d->vb, list); /* onto the waiting lists... */
		vblk_kill(d, msg);	   /* ...which fail them */
		return;
	}
	d->ready = true;
	virtio_device_ready(vd);
	resent = vblk_resend(&d->vb, list);
	kprintf("blk: %s: %s; device reset and brought back (reset %llu): %u requests sent "
		"again, %u failed\n",
		d->bd.name, why, (unsigned long long)vd->resets, resent, failed);
}

/* A recovery the interrupt path asked for, now that we are in process context. */
static void vblk_recover_pending(struct vblk_dev *d)
{
	if (d->recover_pending)
		vblk_recover(d, d->recover_why);
}

static void vblk_broken(struct vblk *vb, const char *why)
{
	struct vblk_dev *d = container_of(vb, struct vblk_dev, vb);

	/* Maybe in an interrupt: the reset and the new queues wait for a poll or a submit. */
	if (d->recover_pending || vb->dead)
		return;
	snprintf(d->recover_why, sizeof(d->recover_why), "the device broke a ring (%s)",
		 why ? why : "unknown");
	d->recover_pending = true;
	vb->recovering = true;
}

static void vblk_abort_op(struct blkdev *bd, const char *why)
{
	uint64_t flags = irq_save();

	vblk_recover(to_dev(bd), why);
	irq_restore(flags);
}

static int vblk_set_write_cache_op(struct blkdev *bd, bool writeback)
{
	struct vblk_dev *d = to_dev(bd);
	uint8_t v = writeback, got;
	int rc;

	/* 5.2.6.2: after switching to writethrough nothing volatile is committed: flush first. */
	if (!writeback && bd->writeback && (rc = blkdev_flush(bd)))
		return rc;
	virtio_config_write(d->vd, CFG(writeback), &v, 1);
	got = cfg8(d->vd, CFG(writeback));
	bd->writeback = got != 0;
	return got == v ? 0 : -EIO;
}

static void vblk_info_op(struct blkdev *bd)
{
	struct vblk_dev *d = to_dev(bd);

	printf("  transport: %s, interrupts %s, %s interface, %llu resets\n", d->vd->name,
	       d->vd->irq_mode, d->vd->legacy ? "legacy" : "modern",
	       (unsigned long long)d->vd->resets);
	printf("  negotiated features ");
	virtio_print_features(d->vd);
	printf("  limits per device request: %u segments", d->vb.max_segs);
	if (d->vb.size_max)
		printf(" of %u bytes", d->vb.size_max);
	printf(", %u KiB, discard %u sectors, write zeroes %u sectors\n", d->vb.max_bytes / 1024,
	       d->vb.max_discard, d->vb.max_zeroes);
	for (unsigned i = 0; i < d->vb.nq; i++) {
		const struct vblk_queue *q = &d->q[i];
		const struct vq_stats *st = virtqueue_stats(q->vq);

		printf("  queue %u: %u entries %s%s, %u in flight (max %u), %llu requests, "
		       "%llu device requests, %llu waited; kicks %llu (suppressed %llu), "
		       "interrupts %llu, indirect %llu\n",
		       i, virtqueue_num(q->vq),
		       virtqueue_layout(q->vq) == VQ_PACKED ? "packed" : "split",
		       q->irq ? "" : " polled", q->inflight, q->max_inflight,
		       (unsigned long long)q->requests, (unsigned long long)q->pieces,
		       (unsigned long long)q->waited, (unsigned long long)st->kicks,
		       (unsigned long long)st->kicks_suppressed, (unsigned long long)st->interrupts,
		       (unsigned long long)st->indirect);
	}
	{
		uint64_t rekicks = 0, found = 0;

		for (unsigned i = 0; i < d->vb.nq; i++) {
			rekicks += d->q[i].rekicks;
			found += d->q[i].found_used;
		}
		printf("  lost-notification watchdog: %llu kicks sent again, %llu completions "
		       "found without an interrupt\n",
		       (unsigned long long)rekicks, (unsigned long long)found);
	}
	if (d->vb.bad_completions)
		printf("  bad completions from the device: %llu\n",
		       (unsigned long long)d->vb.bad_completions);
}

static void vblk_counters_op(struct blkdev *bd, uint64_t *notifications, uint64_t *interrupts)
{
	struct vblk_dev *d = to_dev(bd);

	*notifications = *interrupts = 0;
	for (unsigned i = 0; i < d->vb.nq; i++) {
		const struct vq_stats *st = virtqueue_stats(d->q[i].vq);

		*notifications += st->kicks;
		*interrupts += st->interrupts;
	}
}

static const struct blkdev_ops vblk_ops = {
	.submit = vblk_submit_op,
	.poll = vblk_poll_op,
	.plug = vblk_plug_op,
	.unplug = vblk_unplug_op,
	.set_write_cache = vblk_set_write_cache_op,
	.abort = vblk_abort_op,
	.info = vblk_info_op,
	.counters = vblk_counters_op,
};

static uint32_t cmdline_u32(const char *key, uint32_t dflt)
{
	const char *v = cmdline_get(&kernel_cmdline, key);
	char *end;
	unsigned long n;

	if (!v)
		return dflt;
	n = strtoul(v, &end, 0);
	if (*v == '\0' || *end != '\0' || n == 0 || n > UINT32_MAX) {
		kprintf("blk: ignoring %s=%s (want a positive number)\n", key, v);
		return dflt;
	}
	return (uint32_t)n;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* Read the configuration (5.2.4) into the block device and the request limits. */
static int vblk_read_config(struct vblk_dev *d, uint32_t ring_min)
{
	struct virtio_device *vd = d->vd;
	struct blkdev *bd = &d->bd;
	struct vblk *vb = &d->vb;
	uint32_t bs = BLK_SECTOR_SIZE, v, bss;

	bd->nr_sectors = cfg_capacity(vd);
	if (virtio_has_feature(vd, VIRTIO_BLK_F_BLK_SIZE)) {
		v = cfg32(vd, CFG(blk_size));
		if (is_pow2(v) && v >= BLK_SECTOR_SIZE && v <= 64 * KiB)
			bs = v;
		else
			kprintf("blk: %s: block size %u unusable, using 512\n", vd->name, v);
	}
	bd->block_size = bs;
	bss = bs / BLK_SECTOR_SIZE;
	bd->phys_block_size = bs;
	if (virtio_has_feature(vd, VIRTIO_BLK_F_TOPOLOGY)) {
		uint8_t exp = cfg8(vd, CFG(topology.physical_block_exp));

		if (exp <= 12)
			bd->phys_block_size = bs << exp;
		bd->alignment_offset = cfg8(vd, CFG(topology.alignment_offset)) * bs;
		bd->min_io = cfg16(vd, CFG(topology.min_io_size)) * bs;
		bd->opt_io = cfg32(vd, CFG(topology.opt_io_size)) * bs;
	}
	if (virtio_has_feature(vd, VIRTIO_BLK_F_GEOMETRY)) {
		bd->cylinders = cfg16(vd, CFG(geometry.cylinders));
		bd->heads = cfg8(vd, CFG(geometry.heads));
		bd->sectors_per_track = cfg8(vd, CFG(geometry.sectors));
	}
	bd->read_only = virtio_has_feature(vd, VIRTIO_BLK_F_RO);
	bd->flush = virtio_has_feature(vd, VIRTIO_BLK_F_FLUSH);
	bd->wce = virtio_has_feature(vd, VIRTIO_BLK_F_CONFIG_WCE);
	/* 5.2.5.1: FLUSH without CONFIG_WCE means a writeback cache. */
	bd->writeback = bd->wce ? cfg8(vd, CFG(writeback)) != 0 : bd->flush;

	/* Segments: the device's seg_max, a table of 64 entries, the ring (+ header, status). */
	vb->max_segs = MIN(VBLK_MAX_SEGS, ring_min - 2);
	if (virtio_has_feature(vd, VIRTIO_BLK_F_SEG_MAX)) {
		v = cfg32(vd, CFG(seg_max));
		vb->max_segs = MIN(vb->max_segs, v ? v : 1);
	}
	vb->max_segs = MIN(vb->max_segs, cmdline_u32("blk.seg_max", UINT32_MAX));
	vb->size_max = 0;
	if (virtio_has_feature(vd, VIRTIO_BLK_F_SIZE_MAX) && (v = cfg32(vd, CFG(size_max))))
		vb->size_max = v;
	v = cmdline_u32("blk.size_max", 0);
	if (v && (!vb->size_max || v < vb->size_max))
		vb->size_max = v;
	{
		uint64_t max = VBLK_MAX_BYTES;

		if (vb->size_max && (uint64_t)vb->size_max * vb->max_segs < max)
			max = (uint64_t)vb->size_max * vb->max_segs;
		vb->max_bytes = (uint32_t)ALIGN_DOWN(max, (uint64_t)bs);
	}
	if (vb->max_bytes == 0) {
		kprintf("blk: %s: %u segments of %u bytes cannot carry one %u-byte block\n",
			vd->name, vb->max_segs, vb->size_max, bs);
		return -EINVAL;
	}
	bd->max_segments = vb->max_segs;
	bd->max_segment_size = vb->size_max;

	if (virtio_has_feature(vd, VIRTIO_BLK_F_DISCARD)) {
		v = cfg32(vd, CFG(max_discard_sectors));
		vb->max_discard = ALIGN_DOWN(v ? v : UINT32_MAX, bss);
		vb->discard_align = cfg32(vd, CFG(discard_sector_alignment));
		bd->discard = vb->max_discard > 0 && cfg32(vd, CFG(max_discard_seg)) > 0;
		bd->max_discard_sectors = vb->max_discard;
		bd->discard_alignment = vb->discard_align;
	}
	if (virtio_has_feature(vd, VIRTIO_BLK_F_WRITE_ZEROES)) {
		v = cfg32(vd, CFG(max_write_zeroes_sectors));
		vb->max_zeroes = ALIGN_DOWN(v ? v : UINT32_MAX, bss);
		bd->write_zeroes = vb->max_zeroes > 0 && cfg32(vd, CFG(max_write_zeroes_seg)) > 0;
		bd->zeroes_unmap = cfg8(vd, CFG(write_zeroes_may_unmap)) != 0;
		bd->max_write_zeroes_sectors = vb->max_zeroes;
	}
	/* 5.2.6.3 (legacy): used lengths of old devices are not to be trusted either way. */
	vb->check_used_len = !vd->legacy;
	return 0;
}

static void vblk_teardown(struct vblk_dev *d)
{
	struct virtio_device *vd = d->vd;

	d->ready = false;
	/* The device lets go of the rings first; if it does not, they stay allocated. */
	if (virtio_reset(vd)) {
		vd->priv = NULL;
		vd->config_changed = NULL;
		return;
	}
	for (unsigned i = 0; i < VBLK_MAX_QUEUES; i++) {
		if (!d->q[i].vq)
			continue;
		virtio_del_vq(vd, d->q[i].vq);
		vblk_queue_fini(&d->q[i]);
		d->q[i].vq = NULL;
	}
	vd->priv = NULL;
	vd->config_changed = NULL;
	free(d);
}

/* 5.2.3 Feature bits, legacy ones (5.2.3.1) included: the `virtio` command's names too. */
static const struct virtio_feature_name vblk_feature_names[] = {
	{VIRTIO_BLK_F_BARRIER, "BARRIER"},
	{VIRTIO_BLK_F_SIZE_MAX, "SIZE_MAX"},
	{VIRTIO_BLK_F_SEG_MAX, "SEG_MAX"},
	{VIRTIO_BLK_F_GEOMETRY, "GEOMETRY"},
	{VIRTIO_BLK_F_RO, "RO"},
	{VIRTIO_BLK_F_BLK_SIZE, "BLK_SIZE"},
	{VIRTIO_BLK_F_SCSI, "SCSI"},
	{VIRTIO_BLK_F_FLUSH, "FLUSH"},
	{VIRTIO_BLK_F_TOPOLOGY, "TOPOLOGY"},
	{VIRTIO_BLK_F_CONFIG_WCE, "CONFIG_WCE"},
	{VIRTIO_BLK_F_MQ, "MQ"},
	{VIRTIO_BLK_F_DISCARD, "DISCARD"},
	{VIRTIO_BLK_F_WRITE_ZEROES, "WRITE_ZEROES"},
	{VIRTIO_BLK_F_LIFETIME, "LIFETIME"},
	{VIRTIO_BLK_F_SECURE_ERASE, "SECURE_ERASE"},
	{VIRTIO_BLK_F_ZONED, "ZONED"},
	{0, NULL},
};

static void log_features(const struct vblk_dev *d)
{
	char names[640];

	virtio_format_features(d->vd->features, vblk_feature_names, names, sizeof(names));
	kprintf("blk: %s: features %s\n", d->bd.name, names);
}

/*
 * The request queues (vb.nq of them) and the limits that depend on their
 * size; again: after virtio_restart, in place of the old ones (the device
 * was reset: they can go).
 */
static int vblk_setup_queues(struct vblk_dev *d, bool again)
{
	struct virtio_device *vd = d->vd;
	uint32_t ring_min = UINT32_MAX;
	int rc;

	for (unsigned i = 0; i < d->vb.nq; i++) {
		struct virtqueue *vq;

		if (again && d->q[i].vq) {
			virtio_del_vq(vd, d->q[i].vq);
			d->q[i].vq = NULL;
		}
		rc = virtio_setup_vq(vd, i, 0, vblk_vq_done, &vq);
		if (rc) {
			kprintf("blk: %s: queue %u set-up failed (%d)\n", vd->name, i, rc);
			return rc;
		}
		d->q[i].vq = vq;
		ring_min = MIN(ring_min, virtqueue_num(vq));
		rc = again ? vblk_queue_reinit(&d->q[i], vq, virtio_vq_has_irq(vq))
			   : vblk_queue_init(&d->vb, &d->q[i], i, vq, virtio_vq_has_irq(vq));
		if (rc)
			return rc;
		if (!d->q[i].irq)
			d->polled = true;
	}
	if (ring_min < 4) {
		kprintf("blk: %s: a ring of %u entries is too small for a request\n", vd->name,
			ring_min);
		return -EINVAL;
	}
	return vblk_read_config(d, ring_min);
}

static int vblk_probe(struct virtio_device *vd)
{
	struct vblk_dev *d;
	uint32_t nq = 1;
	uint16_t tq = vd->ops->num_queues(vd);
	int rc;

	rc = virtio_negotiate(vd, VBLK_FEATURES);
	if (rc) {
		kprintf("blk: %s: feature negotiation failed (%d)\n", vd->name, rc);
		return rc;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vd = vd;
	d->vb.bd = &d->bd;
	d->vb.q = d->q;
	d->vb.broken = vblk_broken;
	d->bd.ops = &vblk_ops;
	d->bd.priv = d;
	snprintf(d->bd.driver, sizeof(d->bd.driver), "%s", vd->name);
	vd->priv = d;

	/* 5.2.2: one request queue, or num_queues with MQ. */
	if (virtio_has_feature(vd, VIRTIO_BLK_F_MQ)) {
		nq = cfg16(vd, CFG(num_queues));
		if (nq == 0)
			nq = 1;
	}
	nq = MIN(nq, MIN((uint32_t)VBLK_MAX_QUEUES, (uint32_t)tq));
	nq = MIN(nq, cmdline_u32("blk.queues", UINT32_MAX));
	if (nq == 0) {
		kprintf("blk: %s: the transport offers no queue\n", vd->name);
		rc = -ENODEV;
		goto fail;
	}
	{
		const char *f = cmdline_get(&kernel_cmdline, "blk.fault");

		if (f && strncmp(f, "used@", 5) == 0)
			d->fault_used_at = strtoull(f + 5, NULL, 0);
	}
	d->vb.nq = nq;
	rc = vblk_setup_queues(d, false);
	if (rc)
		goto fail;
	d->bd.interrupts = !d->polled;
	d->bd.nr_queues = nq;
	d->bd.queue_size = virtqueue_num(d->q[0].vq);
	d->ready = true;
	vd->config_changed = vblk_config_changed;
	virtio_device_ready(vd);
	rc = blkdev_register(&d->bd, "vd");
	if (rc) {
		kprintf("blk: %s: no free disk name\n", vd->name);
		goto fail;
	}
	/* The serial: GET_ID (5.2.6), answered by every device that knows it. */
	rc = blkdev_get_id(&d->bd, d->bd.serial);
	if (rc == -ENODEV || d->bd.dead) {
		kprintf("blk: %s: the device does not answer requests\n", d->bd.name);
		blkdev_unregister(&d->bd);
		goto fail;
	}
	kprintf("blk: %s: %s, %llu sectors (%llu MiB), %u-byte blocks, %u queue%s of %u, "
		"interrupts %s%s, serial \"%s\"\n",
		d->bd.name, vd->name, (unsigned long long)d->bd.nr_sectors,
		(unsigned long long)(d->bd.nr_sectors * BLK_SECTOR_SIZE / MiB), d->bd.block_size,
		nq, nq == 1 ? "" : "s", d->bd.queue_size, vd->irq_mode,
		d->bd.read_only ? ", read-only" : "", rc ? "" : d->bd.serial);
	log_features(d);
	return 0;
fail:
	vblk_teardown(d);
	return rc ? rc : -EIO;
}

VIRTIO_DRIVER(virtio_blk, VIRTIO_ID_BLOCK, vblk_probe, vblk_feature_names);
