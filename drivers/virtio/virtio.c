/*
 * Virtio devices independent of the transport (VIRTIO 1.2 sections 2 and
 * 3): the list of devices, the driver table and binding, feature
 * negotiation, configuration access made consistent by the generation
 * counter, the table of queues, interrupt events (configuration changes,
 * DEVICE_NEEDS_RESET, shared queue interrupts), all through the transport
 * interface (include/virtio/virtio_transport.h), and the shell's `virtio`
 * command.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lib/cmdline.h>
#include <kernel/kernel.h>
#include <kernel/registry.h>
#include <virtio/virtio.h>
#include <virtio/virtio_ring.h>

struct virtio_device *virtio_devices;
static struct virtio_device **virtio_tail = &virtio_devices;

const char *virtio_id_name(uint16_t id)
{
	static const char *const names[] = {
		[1] = "net",	 [2] = "blk",	 [3] = "console", [4] = "rng",
		[5] = "balloon", [8] = "scsi",	 [9] = "9p",	  [16] = "gpu",
		[18] = "input",	 [19] = "vsock", [26] = "fs",	  [41] = "sound",
	};

	return id < ARRAY_SIZE(names) && names[id] ? names[id] : "unknown";
}

static void virtio_bind(struct virtio_device *vd)
{
	const char *mode = cmdline_get(&kernel_cmdline, "virtio");
	int rc;

	if (mode && strcmp(mode, "nobind") == 0)
		return;
	for (const struct virtio_driver *drv = __virtio_drv_start; drv < __virtio_drv_end; drv++) {
		if (drv->device_id != vd->id)
			continue;
		vd->driver = drv;
		rc = drv->probe(vd);
		if (rc == 0)
			return;
		kprintf("virtio: %s: driver %s failed (%d), device reset and left unbound\n",
			vd->name, drv->name, rc);
		vd->driver = NULL;
		vd->priv = NULL;
		vd->config_changed = NULL;
		if (virtio_reset(vd) == 0)
			vd->ops->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
		return;
	}
}

void virtio_add_device(struct virtio_device *vd)
{
	/* 3.1.1: reset, ACKNOWLEDGE, DRIVER; then the queue count and interrupts. */
	if (virtio_reset(vd)) {
		kprintf("virtio: %s: the device does not complete a reset, left alone\n", vd->name);
		return;
	}
	vd->ops->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	vd->ops->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vd->nr_queues = vd->ops->num_queues(vd);
	vd->vqs = calloc(vd->nr_queues ? vd->nr_queues : 1, sizeof(*vd->vqs));
	if (!vd->vqs) {
		kprintf("virtio: %s: out of memory\n", vd->name);
		return;
	}
	vd->irq_mode = vd->ops->setup_irq(vd);
	kprintf("virtio: %s: %s interface, %u queues, interrupts %s\n", vd->name, vd->ops->name,
		vd->nr_queues, vd->irq_mode);
	vd->next = NULL;
	*virtio_tail = vd;
	virtio_tail = &vd->next;
	virtio_bind(vd);
}

struct virtio_device *virtio_find(uint16_t device_id, unsigned n)
{
	for (struct virtio_device *vd = virtio_devices; vd; vd = vd->next)
		if (vd->id == device_id && n-- == 0)
			return vd;
	return NULL;
}

void virtio_config_read(struct virtio_device *vd, unsigned off, void *buf, unsigned len)
{
	uint32_t gen;
	unsigned tries = 0;

	/* 2.5.1: read until the generation is the same before and after. */
	do {
		gen = vd->ops->generation(vd);
		vd->ops->read_config(vd, off, buf, len);
	} while (gen != vd->ops->generation(vd) && ++tries < 100);
}

void virtio_config_write(struct virtio_device *vd, unsigned off, const void *buf, unsigned len)
{
	vd->ops->write_config(vd, off, buf, len);
}

int virtio_negotiate(struct virtio_device *vd, uint64_t wanted)
{
	uint64_t dev = vd->ops->device_features(vd);
	uint64_t want = wanted | VIRTIO_RING_FEATURES | VIRTIO_BIT(VIRTIO_F_VERSION_1);

	if (vd->legacy) {
		/* 0.9.5: 32 bits; the packed ring and VERSION_1 do not exist there. */
		vd->features = dev & want & 0xffffffffull;
		return vd->ops->finalize_features(vd, vd->features);
	}
	vd->features = dev & want;
	if (!(vd->features & VIRTIO_BIT(VIRTIO_F_VERSION_1)) ||
	    vd->ops->finalize_features(vd, vd->features)) {
		vd->ops->set_status(vd, vd->ops->get_status(vd) | VIRTIO_STATUS_FAILED);
		return -ENODEV;
	}
	return 0;
}

int virtio_setup_vq(struct virtio_device *vd, unsigned index, uint32_t max_size,
		    vq_callback_t callback, struct virtqueue **vqp)
{
	int rc;

	if (index >= vd->nr_queues)
		return -EINVAL;
	if (vd->vqs[index])
		return -EBUSY;
	rc = vd->ops->setup_vq(vd, index, max_size, callback, vqp);
	if (rc == 0)
		vd->vqs[index] = *vqp;
	return rc;
}

void virtio_del_vq(struct virtio_device *vd, struct virtqueue *vq)
{
	uint16_t index = virtqueue_index(vq);

	if (index < vd->nr_queues && vd->vqs[index] == vq)
		vd->vqs[index] = NULL;
	vd->ops->del_vq(vd, vq);
}

int virtio_create_vq(struct virtio_device *vd, struct virtio_vq_info *info, unsigned index,
		     uint32_t size, vq_callback_t callback, vq_notify_t notify,
		     struct virtqueue **vqp)
{
	struct vq_config cfg = {0};
	int rc;

	cfg.name = vd->name;
	cfg.index = (uint16_t)index;
	cfg.num = size;
	cfg.features = vd->features;
	cfg.callback = callback;
	cfg.notify = notify;
	cfg.priv = info;
	/* Legacy interfaces (4.1.4.8, 4.2.4) take one address: the page-aligned layout. */
	if (vd->legacy)
		cfg.ring_align = VRING_LEGACY_ALIGN;
	rc = virtqueue_create(&cfg, vqp);
	if (rc)
		return rc;
	info->vd = vd;
	info->index = (uint16_t)index;
	info->vq = *vqp;
	return 0;
}

uint32_t virtio_vq_size(const struct virtio_device *vd, uint32_t dev_max, uint32_t max_size)
{
	uint32_t size = dev_max;

	if (max_size && size > max_size)
		size = max_size;
	if (!(vd->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED)))
		while (size & (size - 1))
			size &= size - 1; /* split rings are a power of two */
	return size;
}

int virtio_vq_recycle(struct virtqueue *vq, uint32_t num, uint32_t dev_max, vq_recycle_t recycle)
{
	int rc = 0;

	if (num && num != virtqueue_num(vq)) {
		rc = num > dev_max ? -EINVAL : virtqueue_resize(vq, num, recycle);
		if (rc)
			virtqueue_reset(vq, recycle); /* old size, still usable */
	} else {
		virtqueue_reset(vq, recycle);
	}
	return rc;
}

int virtio_reset(struct virtio_device *vd)
{
	return vd->ops->reset(vd);
}

int virtio_restart(struct virtio_device *vd)
{
	vd->resets++;
	if (virtio_reset(vd)) {
		kprintf("virtio: %s: the device did not complete its reset: disabled, its memory "
			"kept\n",
			vd->name);
		return -EIO;
	}
	/* 3.1.1 again; a reset also cleared DEVICE_NEEDS_RESET (2.1.2). */
	virtio_needs_reset(vd);
	vd->ops->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	vd->ops->set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	return 0;
}

struct virtio_device *virtio_vq_device(struct virtqueue *vq)
{
	return ((struct virtio_vq_info *)virtqueue_priv(vq))->vd;
}

unsigned virtio_num_queues(struct virtio_device *vd)
{
	return vd->nr_queues;
}

struct virtqueue *virtio_get_vq(struct virtio_device *vd, unsigned index)
{
	return index < vd->nr_queues ? vd->vqs[index] : NULL;
}

bool virtio_vq_has_irq(struct virtqueue *vq)
{
	return virtio_vq_device(vq)->ops->vq_has_irq(vq);
}

int virtio_vq_irq_entry(struct virtqueue *vq)
{
	return virtio_vq_device(vq)->ops->vq_irq_entry(vq);
}

bool virtio_needs_reset(struct virtio_device *vd)
{
	if (!(vd->ops->get_status(vd) & VIRTIO_STATUS_DEVICE_NEEDS_RESET)) {
		vd->needs_reset_seen = false; /* a reset cleared it */
		return false;
	}
	if (vd->needs_reset_seen)
		return true;
	vd->needs_reset_seen = true;
	kprintf("virtio: %s: device reports DEVICE_NEEDS_RESET; its queues are stopped\n",
		vd->name);
	for (unsigned i = 0; i < vd->nr_queues; i++)
		if (vd->vqs[i])
			virtqueue_mark_broken(vd->vqs[i], "device needs reset");
	return true;
}

void virtio_config_interrupt(struct virtio_device *vd)
{
	vd->config_irqs++;
	virtio_needs_reset(vd);
	if (vd->config_changed)
		vd->config_changed(vd);
}

void virtio_vqs_interrupt(struct virtio_device *vd)
{
	/* A shared interrupt: only the queues it was for count it. */
	for (unsigned i = 0; i < vd->nr_queues; i++)
		if (vd->vqs[i] && virtqueue_more_used(vd->vqs[i]))
			virtqueue_interrupt(vd->vqs[i]);
}

void virtio_poll(struct virtio_device *vd)
{
	unsigned why = vd->ops->poll(vd);

	if (why & VIRTIO_INT_CONFIG)
		virtio_config_interrupt(vd);
	if (why & VIRTIO_INT_VRING)
		virtio_vqs_interrupt(vd);
}

void virtio_device_ready(struct virtio_device *vd)
{
	vd->ops->set_status(vd, vd->ops->get_status(vd) | VIRTIO_STATUS_DRIVER_OK);
}

int virtio_reset_vq(struct virtqueue *vq, uint32_t num, vq_recycle_t recycle)
{
	struct virtio_device *vd = virtio_vq_device(vq);

	return vd->ops->reset_vq(vd, vq, num, recycle);
}

const struct virtio_feature_name *virtio_device_feature_names(uint16_t id)
{
	for (const struct virtio_driver *drv = __virtio_drv_start; drv < __virtio_drv_end; drv++)
		if (drv->device_id == id)
			return drv->feature_names;
	return NULL;
}

void virtio_print_features(const struct virtio_device *vd)
{
	char names[640]; /* all 64 bits named: about 600 bytes */

	virtio_format_features(vd->features,
			       vd->driver ? vd->driver->feature_names
					  : virtio_device_feature_names(vd->id),
			       names, sizeof(names));
	printf("0x%llx%s%s\n", (unsigned long long)vd->features, names[0] ? " " : "", names);
}

KCMD(virtio, "virtio devices, negotiated features and per-queue counters")
{
	unsigned n = 0;

	for (struct virtio_device *vd = virtio_devices; vd; vd = vd->next, n++) {
		/* virtio-rng binds no driver: lib/kernel/random.c drives it on demand (rng.c). */
		printf("%s: %s, interrupts %s, %llu config changes, %llu resets\n", vd->name,
		       vd->driver ? vd->driver->name
		       : vd->id == VIRTIO_ID_RNG
			       ? "no driver bound (read on demand for random numbers: rng)"
			       : "no driver",
		       vd->irq_mode, (unsigned long long)vd->config_irqs,
		       (unsigned long long)vd->resets);
		printf("  features ");
		virtio_print_features(vd);
		for (unsigned i = 0, nq = virtio_num_queues(vd); i < nq; i++) {
			struct virtqueue *vq = virtio_get_vq(vd, i);
			const struct vq_stats *s;
			unsigned last = i;

			if (!vq)
				continue;
			s = virtqueue_stats(vq);
			if (s->added == 0 && s->interrupts == 0) {
				/* A run of queues never used: one line. */
				while (last + 1 < nq && virtio_get_vq(vd, last + 1) &&
				       virtqueue_stats(virtio_get_vq(vd, last + 1))->added == 0 &&
				       virtqueue_stats(virtio_get_vq(vd, last + 1))->interrupts ==
					       0)
					last++;
				if (last != i) {
					printf("  queues %u-%u: never used\n", i, last);
					i = last;
					continue;
				}
			}
			printf("  queue %-2u %4u %-6s added %llu used %llu kicks %llu (+%llu "
			       "suppressed) interrupts %llu free %u%s%s%s\n",
			       i, virtqueue_num(vq),
			       virtqueue_layout(vq) == VQ_PACKED ? "packed" : "split",
			       (unsigned long long)s->added, (unsigned long long)s->used,
			       (unsigned long long)s->kicks,
			       (unsigned long long)s->kicks_suppressed,
			       (unsigned long long)s->interrupts, virtqueue_num_free(vq),
			       virtio_vq_has_irq(vq) ? "" : " (polled)",
			       virtqueue_is_broken(vq) ? " BROKEN: " : "",
			       virtqueue_broken_reason(vq) ?: "");
		}
	}
	if (n == 0)
		printf("no virtio devices\n");
	return 0;
}
