/*
 * Virtio PCI transport, modern interface (VIRTIO 1.2 section 4.1): finds
 * the common, notify, ISR and device configuration structures through the
 * vendor capabilities (any BAR, any offset), resets the device, negotiates
 * 64-bit features with FEATURES_OK re-read, sets up split or packed queues
 * and notifies through the notify capability (with NOTIFICATION_DATA when
 * negotiated). Interrupts are not wired yet: queues are polled.
 * Devices without the modern capabilities (legacy-only) are listed and left.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/barrier.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <pci/pci.h>
#include <virtio/virtio.h>
#include <virtio/virtio_pci.h>

#define VP_MAX_QUEUES 64

struct vp_queue {
	struct virtio_device *vd;
	struct virtqueue *vq;
	int vector;	       /* CPU vector of its MSI-X entry, or -1: polled */
	volatile void *notify; /* this queue's notification address */
	uint16_t index;
};

struct vp_dev {
	struct virtio_device vd;
	struct pci_dev *pdev;
	volatile struct virtio_pci_common_cfg *common;
	volatile uint8_t *notify_base;
	uint32_t notify_len, notify_mult;
	volatile uint8_t *isr;
	volatile uint8_t *device_cfg;
	uint32_t device_cfg_len;
	int msix_entries; /* > 0: MSI-X enabled; entry 0 config, entry i+1 queue i */
	int config_vector;
	struct vp_queue queues[VP_MAX_QUEUES];
};

static struct vp_dev *to_vp(struct virtio_device *vd)
{
	return container_of(vd, struct vp_dev, vd);
}

/* Map the part of a BAR a capability points at. Returns: NULL if unusable. */
static volatile void *map_cap(struct pci_dev *pdev, const struct virtio_pci_cap *cap)
{
	const struct pci_bar *bar;
	uint32_t off = le32_to_cpu(cap->offset), len = le32_to_cpu(cap->length);

	if (cap->bar >= 6 || len == 0)
		return NULL;
	bar = &pdev->bar[cap->bar];
	if ((bar->type != PCI_BAR_MEM32 && bar->type != PCI_BAR_MEM64) || !bar->addr ||
	    (uint64_t)off + len > bar->size)
		return NULL; /* not memory, not assigned, or past the BAR's end */
	return ioremap(bar->addr + off, len);
}

static int find_caps(struct vp_dev *vp)
{
	struct pci_dev *pdev = vp->pdev;

	for (uint8_t pos = pci_find_cap(pdev, PCI_CAP_ID_VNDR, 0); pos;
	     pos = pci_find_cap(pdev, PCI_CAP_ID_VNDR, pos)) {
		struct virtio_pci_notify_cap nc;
		uint8_t *raw = (uint8_t *)&nc;
		uint8_t caplen = pci_read8(pdev, (uint16_t)(pos + 2));

		if (caplen < sizeof(struct virtio_pci_cap))
			continue;
		for (unsigned i = 0; i < sizeof(nc) && pos + i < 256; i++)
			raw[i] = i < caplen ? pci_read8(pdev, (uint16_t)(pos + i)) : 0;
		/* 4.1.4: the driver uses the first capability of each type it understands. */
		switch (nc.cap.cfg_type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			if (!vp->common && le32_to_cpu(nc.cap.length) >= 60)
				vp->common = map_cap(pdev, &nc.cap);
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			if (!vp->notify_base && caplen >= sizeof(nc)) {
				vp->notify_base = map_cap(pdev, &nc.cap);
				vp->notify_len = le32_to_cpu(nc.cap.length);
				vp->notify_mult = le32_to_cpu(nc.notify_off_multiplier);
			}
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			if (!vp->isr)
				vp->isr = map_cap(pdev, &nc.cap);
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			if (!vp->device_cfg) {
				vp->device_cfg = map_cap(pdev, &nc.cap);
				vp->device_cfg_len = le32_to_cpu(nc.cap.length);
			}
			break;
		}
	}
	return vp->common && vp->notify_base && vp->isr ? 0 : -ENODEV;
}

static uint8_t vp_get_status(struct virtio_device *vd)
{
	return to_vp(vd)->common->device_status;
}

static void vp_set_status(struct virtio_device *vd, uint8_t status)
{
	to_vp(vd)->common->device_status = status;
}

static void vp_reset(struct virtio_device *vd)
{
	volatile struct virtio_pci_common_cfg *c = to_vp(vd)->common;

	c->device_status = 0;
	/* 4.1.4.3.2: reset is complete when device_status reads back 0. */
	for (unsigned spin = 0; c->device_status != 0 && spin < 10000000; spin++)
		__asm__ volatile("pause");
}

static uint64_t vp_device_features(struct virtio_device *vd)
{
	volatile struct virtio_pci_common_cfg *c = to_vp(vd)->common;
	uint64_t f;

	c->device_feature_select = cpu_to_le32(0);
	f = le32_to_cpu(c->device_feature);
	c->device_feature_select = cpu_to_le32(1);
	f |= (uint64_t)le32_to_cpu(c->device_feature) << 32;
	return f;
}

static int vp_finalize_features(struct virtio_device *vd, uint64_t features)
{
	volatile struct virtio_pci_common_cfg *c = to_vp(vd)->common;

	c->driver_feature_select = cpu_to_le32(0);
	c->driver_feature = cpu_to_le32((uint32_t)features);
	c->driver_feature_select = cpu_to_le32(1);
	c->driver_feature = cpu_to_le32((uint32_t)(features >> 32));
	c->device_status |= VIRTIO_STATUS_FEATURES_OK;
	/* 3.1.1 step 6: the device may refuse; it then clears FEATURES_OK. */
	return (c->device_status & VIRTIO_STATUS_FEATURES_OK) ? 0 : -ENODEV;
}

/*
 * Device configuration fields are accessed at their natural width (4.1.3.1:
 * the device may act on each write, e.g. the console's emerg_wr), so an
 * aligned 1-, 2- or 4-byte field is one access; anything else goes in
 * 32-bit pieces where aligned, bytes elsewhere.
 */
static void cfg_copy_in(uint8_t *out, volatile uint8_t *cfg, unsigned len)
{
	for (unsigned i = 0; i < len;) {
		uintptr_t a = (uintptr_t)(cfg + i);

		if (len - i >= 4 && !(a & 3)) {
			uint32_t v = *(volatile uint32_t *)(cfg + i);

			memcpy(out + i, &v, 4);
			i += 4;
		} else if (len - i >= 2 && !(a & 1)) {
			uint16_t v = *(volatile uint16_t *)(cfg + i);

			memcpy(out + i, &v, 2);
			i += 2;
		} else {
			out[i] = cfg[i];
			i++;
		}
	}
}

static void cfg_copy_out(volatile uint8_t *cfg, const uint8_t *in, unsigned len)
{
	for (unsigned i = 0; i < len;) {
		uintptr_t a = (uintptr_t)(cfg + i);

		if (len - i >= 4 && !(a & 3)) {
			uint32_t v;

			memcpy(&v, in + i, 4);
			*(volatile uint32_t *)(cfg + i) = v;
			i += 4;
		} else if (len - i >= 2 && !(a & 1)) {
			uint16_t v;

			memcpy(&v, in + i, 2);
			*(volatile uint16_t *)(cfg + i) = v;
			i += 2;
		} else {
			cfg[i] = in[i];
			i++;
		}
	}
}

static void vp_read_config(struct virtio_device *vd, unsigned off, void *buf, unsigned len)
{
	struct vp_dev *vp = to_vp(vd);
	uint8_t *out = buf, gen;
	unsigned tries = 0;

	if (!vp->device_cfg || off + len > vp->device_cfg_len) {
		memset(buf, 0, len);
		return;
	}
	/* 4.1.4.3.1: read until config_generation is the same before and after. */
	do {
		gen = vp->common->config_generation;
		cfg_copy_in(out, vp->device_cfg + off, len);
	} while (gen != vp->common->config_generation && ++tries < 100);
}

static void vp_write_config(struct virtio_device *vd, unsigned off, const void *buf, unsigned len)
{
	struct vp_dev *vp = to_vp(vd);
	const uint8_t *in = buf;

	if (!vp->device_cfg || off + len > vp->device_cfg_len)
		return;
	cfg_copy_out(vp->device_cfg + off, in, len);
}

static uint16_t vp_num_queues(struct virtio_device *vd)
{
	return le16_to_cpu(to_vp(vd)->common->num_queues);
}

static void vp_notify(struct virtqueue *vq)
{
	struct vp_queue *q = virtqueue_priv(vq);

	/* Ring writes before the notification the device acts on. */
	wmb();
	if (q->vd->features & VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA))
		*(volatile uint32_t *)q->notify = cpu_to_le32(virtqueue_notification_data(vq));
	else
		*(volatile uint16_t *)q->notify = cpu_to_le16(q->index);
}

/* MSI-X handlers: the minimum, the driver's callback does the work. */
static void vp_vq_irq(void *arg)
{
	struct vp_queue *q = arg;

	if (q->vq)
		virtqueue_interrupt(q->vq);
}

static void vp_config_irq(void *arg)
{
	struct virtio_device *vd = arg;

	vd->config_irqs++;
	if (vd->config_changed)
		vd->config_changed(vd);
}

/* Give queue q its own MSI-X entry; on any refusal it stays polled. */
static void vp_queue_vector(struct vp_dev *vp, struct vp_queue *q)
{
	volatile struct virtio_pci_common_cfg *c = vp->common;
	unsigned entry = q->index + 1u;
	int vec;

	q->vector = -1;
	if (vp->msix_entries <= 0 || entry >= (unsigned)vp->msix_entries)
		return;
	vec = irq_alloc_vector(vp_vq_irq, q);
	if (vec < 0)
		return;
	pci_msix_route(vp->pdev, entry, vec);
	c->queue_msix_vector = cpu_to_le16((uint16_t)entry);
	/* 4.1.5.1.2: the device reports NO_VECTOR when it cannot take it. */
	if (le16_to_cpu(c->queue_msix_vector) != entry) {
		irq_free_vector(vec);
		c->queue_msix_vector = cpu_to_le16(VIRTIO_MSI_NO_VECTOR);
		return;
	}
	q->vector = vec;
}

static int vp_setup_vq(struct virtio_device *vd, unsigned index, uint32_t max_size,
		       vq_callback_t callback, struct virtqueue **vqp)
{
	struct vp_dev *vp = to_vp(vd);
	volatile struct virtio_pci_common_cfg *c = vp->common;
	struct vp_queue *q;
	struct vq_ring_addrs a;
	struct vq_config cfg = {0};
	uint32_t size, off;
	int rc;

	if (index >= VP_MAX_QUEUES || index >= vp_num_queues(vd))
		return -EINVAL;
	q = &vp->queues[index];
	c->queue_select = cpu_to_le16((uint16_t)index);
	size = le16_to_cpu(c->queue_size);
	if (size == 0 || le16_to_cpu(c->queue_enable))
		return -ENOENT; /* no such queue, or already in use */
	if (max_size && size > max_size)
		size = max_size;
	if (!(vd->features & VIRTIO_BIT(VIRTIO_F_RING_PACKED)))
		while (size & (size - 1))
			size &= size - 1; /* split rings are a power of two */
	off = le16_to_cpu(c->queue_notify_off) * vp->notify_mult;
	/* 4.1.4.4: the queue's notify address must lie inside the capability. */
	if ((uint64_t)off + ((vd->features & VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA)) ? 4 : 2) >
	    vp->notify_len)
		return -EIO;

	cfg.name = vd->name;
	cfg.index = (uint16_t)index;
	cfg.num = size;
	cfg.features = vd->features;
	cfg.callback = callback;
	cfg.notify = vp_notify;
	cfg.priv = q;
	rc = virtqueue_create(&cfg, vqp);
	if (rc)
		return rc;
	q->vd = vd;
	q->index = (uint16_t)index;
	q->notify = vp->notify_base + off;

	virtqueue_ring_addrs(*vqp, &a);
	c->queue_size = cpu_to_le16((uint16_t)size);
	c->queue_desc = cpu_to_le64(a.desc);
	c->queue_driver = cpu_to_le64(a.driver);
	c->queue_device = cpu_to_le64(a.device);
	q->vq = *vqp;
	q->vector = -1;
	if (callback)
		vp_queue_vector(vp, q); /* before queue_enable (4.1.5.1.3) */
	else
		c->queue_msix_vector = cpu_to_le16(VIRTIO_MSI_NO_VECTOR);
	c->queue_enable = cpu_to_le16(1);
	return 0;
}

static void vp_del_vq(struct virtio_device *vd, struct virtqueue *vq)
{
	struct vp_queue *q = virtqueue_priv(vq);

	(void)vd;
	if (q->vector >= 0)
		irq_free_vector(q->vector);
	q->vector = -1;
	q->vq = NULL;
	virtqueue_destroy(vq);
}

static const struct virtio_transport_ops vp_ops = {
	.device_features = vp_device_features,
	.finalize_features = vp_finalize_features,
	.get_status = vp_get_status,
	.set_status = vp_set_status,
	.reset = vp_reset,
	.read_config = vp_read_config,
	.write_config = vp_write_config,
	.num_queues = vp_num_queues,
	.setup_vq = vp_setup_vq,
	.del_vq = vp_del_vq,
};

static uint16_t device_id(const struct pci_dev *pdev)
{
	if (pdev->device >= VIRTIO_PCI_MODERN_BASE)
		return (uint16_t)(pdev->device - VIRTIO_PCI_MODERN_BASE);
	/* 4.1.2.1: transitional devices name their type in the subsystem ID. */
	return pdev->subsys_id;
}

/* MSI-X with entry 0 for configuration changes; else the device is polled. */
static void vp_setup_msix(struct vp_dev *vp)
{
	volatile struct virtio_pci_common_cfg *c = vp->common;

	vp->config_vector = -1;
	vp->vd.irq_mode = "polling";
	vp->msix_entries = pci_msix_enable(vp->pdev);
	if (vp->msix_entries <= 0)
		return;
	vp->config_vector = irq_alloc_vector(vp_config_irq, &vp->vd);
	if (vp->config_vector < 0)
		return;
	pci_msix_route(vp->pdev, 0, vp->config_vector);
	c->config_msix_vector = cpu_to_le16(0);
	if (le16_to_cpu(c->config_msix_vector) != 0) {
		irq_free_vector(vp->config_vector);
		vp->config_vector = -1;
		c->config_msix_vector = cpu_to_le16(VIRTIO_MSI_NO_VECTOR);
	}
	vp->vd.irq_mode = "MSI-X";
}

static int vp_probe(struct pci_dev *pdev, const struct pci_id *id)
{
	struct vp_dev *vp;

	(void)id;
	if (pdev->device < 0x1000 || pdev->device > 0x107f)
		return -ENODEV;
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	vp->pdev = pdev;
	vp->vd.id = device_id(pdev);
	vp->vd.ops = &vp_ops;
	vp->vd.transport = vp;
	snprintf(vp->vd.name, sizeof(vp->vd.name), "virtio-%s %02x:%02x.%u",
		 virtio_id_name(vp->vd.id), pdev->bus, pdev->dev, pdev->fn);
	pci_enable(pdev);
	if (find_caps(vp)) {
		kprintf("virtio: %s: no modern interface (legacy-only device), left alone\n",
			vp->vd.name);
		free(vp);
		return -ENODEV;
	}
	/* 3.1.1: reset, ACKNOWLEDGE, DRIVER. */
	vp_reset(&vp->vd);
	vp_set_status(&vp->vd, VIRTIO_STATUS_ACKNOWLEDGE);
	vp_set_status(&vp->vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vp_setup_msix(vp);
	pdev->drvdata = vp;
	kprintf("virtio: %s: modern interface, %u queues, interrupts %s%s\n", vp->vd.name,
		vp_num_queues(&vp->vd), vp->vd.irq_mode, vp->msix_entries > 0 ? "" : " (no MSI-X)");
	virtio_add_device(&vp->vd);
	return 0;
}

static const struct pci_id vp_ids[] = {
	{VIRTIO_PCI_VENDOR, PCI_ANY, 0, 0},
	{0},
};

static const struct pci_driver vp_driver = {"virtio-pci", vp_ids, vp_probe};

void virtio_pci_init(void)
{
	pci_register_driver(&vp_driver);
}

struct virtio_device *virtio_vq_device(struct virtqueue *vq)
{
	return ((struct vp_queue *)virtqueue_priv(vq))->vd;
}
