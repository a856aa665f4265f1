/*
 * Virtio PCI transport (VIRTIO 1.2 section 4.1).
 *
 * Modern interface: the common, notify, ISR and device configuration
 * structures are found through the vendor capabilities (any BAR, any
 * offset); 64-bit feature negotiation with FEATURES_OK re-read; split or
 * packed queues; notification through the notify capability (with
 * NOTIFICATION_DATA when negotiated); configuration reads made consistent
 * with config_generation; per-queue reset (RING_RESET).
 *
 * Legacy interface (4.1.4.8, the 0.9.5 I/O BAR of transitional devices
 * started with disable-modern=on): 32 feature bits, split rings in the
 * page-aligned layout given by page frame number, fixed queue sizes.
 * When a device offers both, the modern interface is used.
 *
 * Interrupts, chosen per device at probe and named in the boot log:
 *   "MSI-X"         entry 0 for configuration changes, entry i+1 for queue i
 *   "MSI-X shared"  fewer entries than queues + 1: entry 0 configuration,
 *                   entry 1 every queue (one entry: everything on entry 0)
 *   "INTx"          the PCI interrupt pin through the IOAPIC, level
 *                   triggered, acknowledged by reading the ISR status
 *   "polling"       no interrupt at all: drivers poll their queues
 * Handlers do the minimum: virtqueue_interrupt() runs the driver's
 * callback, which notes work for the driver's poll path.
 *
 * One implementation of include/virtio/virtio_transport.h: configuration
 * and queue events go to the core (virtio_config_interrupt,
 * virtio_vqs_interrupt), which also checks DEVICE_NEEDS_RESET (2.1.2).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/barrier.h>
#include <arch/x86_64/cpu.h>
#include <kernel/clock.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <pci/pci.h>
#include <virtio/virtio.h>
#include <virtio/virtio_pci.h>
#include <virtio/virtio_ring.h>
#include <virtio/virtio_transport.h>

#include "pci_caps.h"

/* Legacy devices do not say how many queues they have: look at this many. */
#define VP_LEGACY_MAX_QUEUES 1024

enum vp_irq_mode { VP_IRQ_POLL, VP_IRQ_MSIX, VP_IRQ_MSIX_SHARED, VP_IRQ_INTX };

static const char *const irq_mode_names[] = {
	[VP_IRQ_POLL] = "polling",
	[VP_IRQ_MSIX] = "MSI-X",
	[VP_IRQ_MSIX_SHARED] = "MSI-X shared",
	[VP_IRQ_INTX] = "INTx",
};

struct vp_queue {
	struct virtio_vq_info info; /* first: the core's view (vd, vq, index) */
	int vector;		    /* CPU vector of its own MSI-X entry, or -1 */
	uint16_t msix_entry;	    /* as programmed, or VIRTIO_MSI_NO_VECTOR */
	volatile void *notify;	    /* modern: this queue's notification address */
};

struct vp_dev {
	struct virtio_device vd;
	struct pci_dev *pdev;
	bool legacy;
	/* Modern interface. */
	volatile struct virtio_pci_common_cfg *common;
	uint32_t common_len;
	volatile uint8_t *notify_base;
	uint32_t notify_len, notify_mult;
	volatile uint8_t *isr;
	volatile uint8_t *device_cfg;
	uint32_t device_cfg_len;
	/* Legacy interface: the I/O BAR. */
	uint16_t io;
	uint32_t io_len;
	/* Interrupts. */
	enum vp_irq_mode irq;
	int msix_entries;	 /* > 0 while MSI-X is enabled */
	int config_vector;	 /* CPU vector of entry 0, or -1 */
	int shared_vector;	 /* CPU vector of the shared queue entry, or -1 */
	uint16_t queue_entry;	 /* MSI-X shared: the entry every queue uses */
	struct vp_queue *queues; /* nr_queues entries, as the device has */
	unsigned nr_queues;
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
	struct virtio_pci_caps caps;

	if (virtio_pci_read_caps(vp->pdev, &caps))
		return -ENODEV;
	vp->common = map_cap(vp->pdev, &caps.common);
	vp->common_len = le32_to_cpu(caps.common.length);
	vp->notify_base = map_cap(vp->pdev, &caps.notify.cap);
	vp->notify_len = le32_to_cpu(caps.notify.cap.length);
	vp->notify_mult = le32_to_cpu(caps.notify.notify_off_multiplier);
	vp->isr = map_cap(vp->pdev, &caps.isr);
	if (caps.have_device) {
		vp->device_cfg = map_cap(vp->pdev, &caps.device);
		vp->device_cfg_len = le32_to_cpu(caps.device.length);
	}
	return vp->common && vp->notify_base && vp->isr ? 0 : -ENODEV;
}

/* The legacy I/O BAR (BAR 0, 4.1.4.8), if the device has one that is assigned. */
static int find_legacy(struct vp_dev *vp)
{
	const struct pci_bar *bar = &vp->pdev->bar[0];

	if (bar->type != PCI_BAR_IO || !bar->addr || bar->addr > 0xffff ||
	    bar->size < VIRTIO_PCI_LEGACY_CONFIG_MSIX)
		return -ENODEV;
	vp->io = (uint16_t)bar->addr;
	vp->io_len = (uint32_t)bar->size;
	vp->legacy = true;
	return 0;
}

static uint8_t read_isr(struct vp_dev *vp)
{
	/* Reading clears it and de-asserts INTx (4.1.4.5). */
	return vp->legacy ? inb(vp->io + VIRTIO_PCI_LEGACY_ISR) : *vp->isr;
}

/*
 * Write an MSI-X entry number to a vector register (legacy I/O port, or the
 * modern common configuration field) and read back what the device kept:
 * it answers NO_VECTOR when it cannot take the entry (4.1.5.1.2).
 */
static uint16_t set_entry(struct vp_dev *vp, uint16_t port, volatile le16 *field, uint16_t entry)
{
	if (vp->legacy) {
		outw(vp->io + port, entry);
		return inw(vp->io + port);
	}
	*field = cpu_to_le16(entry);
	return le16_to_cpu(*field);
}

/* The entry for configuration changes; VIRTIO_MSI_NO_VECTOR unassigns. */
static uint16_t set_config_entry(struct vp_dev *vp, uint16_t entry)
{
	return set_entry(vp, VIRTIO_PCI_LEGACY_CONFIG_VECTOR,
			 vp->legacy ? NULL : &vp->common->config_msix_vector, entry);
}

/* The entry for the selected queue. */
static uint16_t set_queue_entry(struct vp_dev *vp, uint16_t entry)
{
	return set_entry(vp, VIRTIO_PCI_LEGACY_QUEUE_VECTOR,
			 vp->legacy ? NULL : &vp->common->queue_msix_vector, entry);
}

static void select_queue(struct vp_dev *vp, unsigned index)
{
	if (vp->legacy)
		outw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_SEL, (uint16_t)index);
	else
		vp->common->queue_select = cpu_to_le16((uint16_t)index);
}

/*
 * Device configuration fields are accessed at their natural width (4.1.3.1:
 * the device may act on each write, e.g. the console's emerg_wr), so an
 * aligned 1-, 2- or 4-byte field is one access; anything else goes in
 * 32-bit pieces where aligned, bytes elsewhere. The same for the legacy
 * I/O window (guest-endian fields, 4.1.4.8) and the modern MMIO one.
 */
static unsigned cfg_width(uintptr_t addr, unsigned left)
{
	if (left >= 4 && !(addr & 3))
		return 4;
	return left >= 2 && !(addr & 1) ? 2 : 1;
}

static uint32_t cfg_read(bool io, uintptr_t a, unsigned w)
{
	if (io)
		return w == 4 ? inl((uint16_t)a) : w == 2 ? inw((uint16_t)a) : inb((uint16_t)a);
	return w == 4	? *(volatile uint32_t *)a
	       : w == 2 ? *(volatile uint16_t *)a
			: *(volatile uint8_t *)a;
}

static void cfg_write(bool io, uintptr_t a, unsigned w, uint32_t v)
{
	if (io && w == 4)
		outl((uint16_t)a, v);
	else if (io && w == 2)
		outw((uint16_t)a, (uint16_t)v);
	else if (io)
		outb((uint16_t)a, (uint8_t)v);
	else if (w == 4)
		*(volatile uint32_t *)a = v;
	else if (w == 2)
		*(volatile uint16_t *)a = (uint16_t)v;
	else
		*(volatile uint8_t *)a = (uint8_t)v;
}

/* Copy len bytes from configuration address base (a port when io) to out. */
static void cfg_copy_in(uint8_t *out, bool io, uintptr_t base, unsigned len)
{
	for (unsigned i = 0, w; i < len; i += w) {
		uint32_t v;

		w = cfg_width(base + i, len - i);
		v = cfg_read(io, base + i, w);
		memcpy(out + i, &v, w); /* x86 is little-endian: the low w bytes */
	}
}

static void cfg_copy_out(bool io, uintptr_t base, const uint8_t *in, unsigned len)
{
	for (unsigned i = 0, w; i < len; i += w) {
		uint32_t v = 0;

		w = cfg_width(base + i, len - i);
		memcpy(&v, in + i, w);
		cfg_write(io, base + i, w, v);
	}
}

/* Modern interface operations. */

static uint8_t vp_get_status(struct virtio_device *vd)
{
	return to_vp(vd)->common->device_status;
}

static void vp_set_status(struct virtio_device *vd, uint8_t status)
{
	to_vp(vd)->common->device_status = status;
}

static uint32_t vp_read_status(void *vp)
{
	return ((struct vp_dev *)vp)->common->device_status;
}

static int vp_reset(struct virtio_device *vd)
{
	struct vp_dev *vp = to_vp(vd);

	vp->common->device_status = 0;
	/* 4.1.4.3.2: reset is complete when device_status reads back 0. */
	return virtio_wait_zero(vp_read_status, vp, clock_ns, VIRTIO_RESET_TIMEOUT_NS);
}

static uint32_t vp_generation(struct virtio_device *vd)
{
	return to_vp(vd)->common->config_generation;
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

static void vp_read_config(struct virtio_device *vd, unsigned off, void *buf, unsigned len)
{
	struct vp_dev *vp = to_vp(vd);

	if (!vp->device_cfg || off + len > vp->device_cfg_len) {
		memset(buf, 0, len);
		return;
	}
	cfg_copy_in(buf, false, (uintptr_t)(vp->device_cfg + off), len);
}

static void vp_write_config(struct virtio_device *vd, unsigned off, const void *buf, unsigned len)
{
	struct vp_dev *vp = to_vp(vd);

	if (!vp->device_cfg || off + len > vp->device_cfg_len)
		return;
	cfg_copy_out(false, (uintptr_t)(vp->device_cfg + off), buf, len);
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
	if (q->info.vd->features & VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA))
		*(volatile uint32_t *)q->notify = cpu_to_le32(virtqueue_notification_data(vq));
	else
		*(volatile uint16_t *)q->notify = cpu_to_le16(q->info.index);
}

/* Legacy interface operations (4.1.4.8). */

static uint8_t vpl_get_status(struct virtio_device *vd)
{
	return inb(to_vp(vd)->io + VIRTIO_PCI_LEGACY_STATUS);
}

static void vpl_set_status(struct virtio_device *vd, uint8_t status)
{
	outb(to_vp(vd)->io + VIRTIO_PCI_LEGACY_STATUS, status);
}

static uint32_t vpl_read_status(void *vp)
{
	return inb(((struct vp_dev *)vp)->io + VIRTIO_PCI_LEGACY_STATUS);
}

static int vpl_reset(struct virtio_device *vd)
{
	struct vp_dev *vp = to_vp(vd);

	/* Writing 0 resets; legacy devices read back 0 once it is done. */
	outb(vp->io + VIRTIO_PCI_LEGACY_STATUS, 0);
	return virtio_wait_zero(vpl_read_status, vp, clock_ns, VIRTIO_RESET_TIMEOUT_NS);
}

/* 0.9.5 has no generation counter. */
static uint32_t vpl_generation(struct virtio_device *vd)
{
	(void)vd;
	return 0;
}

static uint64_t vpl_device_features(struct virtio_device *vd)
{
	return inl(to_vp(vd)->io + VIRTIO_PCI_LEGACY_HOST_FEATURES);
}

static int vpl_finalize_features(struct virtio_device *vd, uint64_t features)
{
	/* No FEATURES_OK in 0.9.5: the device takes what it offered. */
	if (features >> 32)
		return -EINVAL;
	outl(to_vp(vd)->io + VIRTIO_PCI_LEGACY_GUEST_FEATURES, (uint32_t)features);
	return 0;
}

/* Device configuration follows the MSI-X vector registers while MSI-X is on. */
static uint16_t vpl_config_off(const struct vp_dev *vp)
{
	return vp->msix_entries > 0 ? VIRTIO_PCI_LEGACY_CONFIG_MSIX : VIRTIO_PCI_LEGACY_CONFIG;
}

static void vpl_read_config(struct virtio_device *vd, unsigned off, void *buf, unsigned len)
{
	struct vp_dev *vp = to_vp(vd);
	unsigned base = vpl_config_off(vp);

	if (base + off + len > vp->io_len) {
		memset(buf, 0, len);
		return;
	}
	cfg_copy_in(buf, true, vp->io + base + off, len);
}

static void vpl_write_config(struct virtio_device *vd, unsigned off, const void *buf, unsigned len)
{
	struct vp_dev *vp = to_vp(vd);
	unsigned base = vpl_config_off(vp);

	if (base + off + len > vp->io_len)
		return;
	cfg_copy_out(true, vp->io + base + off, buf, len);
}

/* Legacy has no queue count: queues exist while their size reads non-zero. */
static uint16_t vpl_num_queues(struct virtio_device *vd)
{
	struct vp_dev *vp = to_vp(vd);
	uint16_t n = 0;

	while (n < VP_LEGACY_MAX_QUEUES) {
		select_queue(vp, n);
		if (inw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_NUM) == 0)
			break;
		n++;
	}
	return n;
}

static void vpl_notify(struct virtqueue *vq)
{
	struct vp_queue *q = virtqueue_priv(vq);

	wmb();
	outw(to_vp(q->info.vd)->io + VIRTIO_PCI_LEGACY_QUEUE_NOTIFY, q->info.index);
}

/* Interrupt handlers: the minimum, the driver's callback does the work. */

static void vp_vq_irq(void *arg)
{
	struct vp_queue *q = arg;

	if (q->info.vq)
		virtqueue_interrupt(q->info.vq);
}

static void vp_config_irq(void *arg)
{
	virtio_config_interrupt(&((struct vp_dev *)arg)->vd);
}

/* MSI-X shared entry: every queue; with a single entry the ISR says if the config changed. */
static void vp_shared_irq(void *arg)
{
	struct vp_dev *vp = arg;

	if (vp->config_vector < 0 && (read_isr(vp) & VIRTIO_PCI_ISR_CONFIG))
		virtio_config_interrupt(&vp->vd);
	virtio_vqs_interrupt(&vp->vd);
}

/* INTx: a shared, level-triggered line; the ISR read is the acknowledgement. */
static void vp_intx_irq(void *arg)
{
	struct vp_dev *vp = arg;
	uint8_t isr = read_isr(vp);

	if (isr & VIRTIO_PCI_ISR_CONFIG)
		virtio_config_interrupt(&vp->vd);
	if (isr & VIRTIO_PCI_ISR_QUEUE)
		virtio_vqs_interrupt(&vp->vd);
}

/* Give queue q its MSI-X entry (before queue_enable, 4.1.5.1.3); on refusal it is polled. */
static void vp_queue_irq(struct vp_dev *vp, struct vp_queue *q)
{
	uint16_t entry;
	int vec = -1;

	q->vector = -1;
	q->msix_entry = VIRTIO_MSI_NO_VECTOR;
	switch (vp->irq) {
	case VP_IRQ_MSIX:
		entry = (uint16_t)(q->info.index + 1u);
		vec = irq_alloc_vector(vp_vq_irq, q);
		if (vec < 0) {
			kprintf("virtio: %s: no CPU vector for queue %u (%d): polled\n",
				vp->vd.name, q->info.index, vec);
			break;
		}
		pci_msix_route(vp->pdev, entry, vec);
		if (set_queue_entry(vp, entry) != entry) {
			kprintf("virtio: %s: queue %u refused MSI-X entry %u: polled\n",
				vp->vd.name, q->info.index, entry);
			irq_free_vector(vec);
			break;
		}
		q->vector = vec;
		q->msix_entry = entry;
		return;
	case VP_IRQ_MSIX_SHARED:
		if (set_queue_entry(vp, vp->queue_entry) == vp->queue_entry) {
			q->msix_entry = vp->queue_entry;
			return;
		}
		kprintf("virtio: %s: queue %u refused the shared MSI-X entry: polled\n",
			vp->vd.name, q->info.index);
		break;
	default: break;
	}
	if (vp->msix_entries > 0)
		set_queue_entry(vp, VIRTIO_MSI_NO_VECTOR);
}

static int vp_setup_vq(struct virtio_device *vd, unsigned index, uint32_t max_size,
		       vq_callback_t callback, struct virtqueue **vqp)
{
	struct vp_dev *vp = to_vp(vd);
	volatile struct virtio_pci_common_cfg *c = vp->common;
	struct vp_queue *q;
	struct vq_ring_addrs a;
	uint32_t size, off = 0;
	int rc;

	if (index >= vp->nr_queues)
		return -EINVAL; /* the core checked the index against vd->nr_queues */
	q = &vp->queues[index];
	select_queue(vp, index);
	if (vp->legacy) {
		size = inw(vp->io + VIRTIO_PCI_LEGACY_QUEUE_NUM);
		if (size == 0 || inl(vp->io + VIRTIO_PCI_LEGACY_QUEUE_PFN))
			return -ENOENT;
		/* 4.1.4.8: the legacy queue size is the device's; it cannot be lowered. */
		if (size & (size - 1))
			return -EIO;
	} else {
		size = le16_to_cpu(c->queue_size);
		if (size == 0 || le16_to_cpu(c->queue_enable))
			return -ENOENT; /* no such queue, or already in use */
		size = virtio_vq_size(vd, size, max_size);
		/* 4.1.4.4: the queue's notify address must lie inside the capability. */
		if (virtio_pci_notify_offset(
			    le16_to_cpu(c->queue_notify_off), vp->notify_mult, vp->notify_len,
			    (vd->features & VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA)) ? 4 : 2, &off))
			return -EIO;
	}

	rc = virtio_create_vq(vd, &q->info, index, size, callback,
			      vp->legacy ? vpl_notify : vp_notify, vqp);
	if (rc)
		return rc;
	q->notify = vp->legacy ? NULL : vp->notify_base + off;

	virtqueue_ring_addrs(*vqp, &a);
	if (vp->legacy) {
		if ((a.desc & (VRING_LEGACY_ALIGN - 1)) || (a.desc >> 12) > 0xffffffffull) {
			q->info.vq = NULL;
			virtqueue_destroy(*vqp);
			return -ENOMEM; /* the PFN register holds 32 bits of page number */
		}
		vp_queue_irq(vp, q);
		outl(vp->io + VIRTIO_PCI_LEGACY_QUEUE_PFN, (uint32_t)(a.desc >> 12));
		return 0;
	}
	c->queue_size = cpu_to_le16((uint16_t)size);
	c->queue_desc = cpu_to_le64(a.desc);
	c->queue_driver = cpu_to_le64(a.driver);
	c->queue_device = cpu_to_le64(a.device);
	vp_queue_irq(vp, q);
	c->queue_enable = cpu_to_le16(1);
	return 0;
}

static void vp_del_vq(struct virtio_device *vd, struct virtqueue *vq)
{
	struct vp_dev *vp = to_vp(vd);
	struct vp_queue *q = virtqueue_priv(vq);

	select_queue(vp, q->info.index);
	if (vp->msix_entries > 0)
		set_queue_entry(vp, VIRTIO_MSI_NO_VECTOR);
	if (vp->legacy)
		outl(vp->io + VIRTIO_PCI_LEGACY_QUEUE_PFN, 0);
	if (q->vector >= 0)
		irq_free_vector(q->vector);
	q->vector = -1;
	q->info.vq = NULL;
	virtqueue_destroy(vq);
}

static uint32_t vp_read_queue_reset(void *vp)
{
	return le16_to_cpu(((struct vp_dev *)vp)->common->queue_reset);
}

/*
 * 4.1.4.3.2 / 2.6.1: queue reset. The device lets go of the queue, the
 * driver takes every buffer back (recycle) and may give the queue a new
 * size, then enables it again with the same interrupt entry.
 */
static int vp_reset_vq(struct virtio_device *vd, struct virtqueue *vq, uint32_t num,
		       vq_recycle_t recycle)
{
	struct vp_dev *vp = to_vp(vd);
	volatile struct virtio_pci_common_cfg *c = vp->common;
	struct vp_queue *q = virtqueue_priv(vq);
	struct vq_ring_addrs a;
	int rc;

	if (vp->legacy || !(vd->features & VIRTIO_BIT(VIRTIO_F_RING_RESET)) || vp->common_len < 60)
		return -EOPNOTSUPP;
	c->queue_select = cpu_to_le16(q->info.index);
	c->queue_reset = cpu_to_le16(1);
	/* 4.1.4.3.2: 1 while the reset is ongoing; 0 in queue_reset and queue_enable when done. */
	if (virtio_wait_zero(vp_read_queue_reset, vp, clock_ns, VIRTIO_RESET_TIMEOUT_NS) ||
	    le16_to_cpu(c->queue_enable))
		return -EIO;
	rc = virtio_vq_recycle(vq, num, le16_to_cpu(c->queue_size), recycle);
	virtqueue_ring_addrs(vq, &a);
	c->queue_size = cpu_to_le16((uint16_t)virtqueue_num(vq));
	c->queue_desc = cpu_to_le64(a.desc);
	c->queue_driver = cpu_to_le64(a.driver);
	c->queue_device = cpu_to_le64(a.device);
	if (q->msix_entry != VIRTIO_MSI_NO_VECTOR)
		c->queue_msix_vector = cpu_to_le16(q->msix_entry);
	c->queue_enable = cpu_to_le16(1);
	return rc;
}

static uint16_t device_id(const struct pci_dev *pdev)
{
	if (pdev->device >= VIRTIO_PCI_MODERN_BASE)
		return (uint16_t)(pdev->device - VIRTIO_PCI_MODERN_BASE);
	/* 4.1.2.1: transitional devices name their type in the subsystem ID. */
	return pdev->subsys_id;
}

/*
 * MSI-X: per-queue entries when the table has one per queue plus the
 * configuration entry, else shared. Returns: 0, or -ENODEV (MSI-X is off
 * again and the caller tries INTx).
 */
static int vp_setup_msix(struct vp_dev *vp)
{
	unsigned nq = vp->nr_queues;
	int n = pci_msix_enable(vp->pdev);

	vp->config_vector = vp->shared_vector = -1;
	if (n <= 0)
		return -ENODEV;
	vp->msix_entries = n;
	vp->irq = (unsigned)n >= nq + 1 ? VP_IRQ_MSIX : VP_IRQ_MSIX_SHARED;
	if (vp->irq == VP_IRQ_MSIX_SHARED) {
		vp->queue_entry = n >= 2 ? 1 : 0;
		vp->shared_vector = irq_alloc_vector(vp_shared_irq, vp);
		if (vp->shared_vector < 0)
			goto off;
		pci_msix_route(vp->pdev, vp->queue_entry, vp->shared_vector);
		if (n == 1) {
			/* One entry for all: the config change comes in on it too. */
			if (set_config_entry(vp, 0) != 0)
				goto off;
			return 0;
		}
	}
	vp->config_vector = irq_alloc_vector(vp_config_irq, vp);
	if (vp->config_vector < 0)
		goto off;
	pci_msix_route(vp->pdev, 0, vp->config_vector);
	if (set_config_entry(vp, 0) != 0)
		goto off;
	return 0;
off:
	if (vp->config_vector >= 0)
		irq_free_vector(vp->config_vector);
	if (vp->shared_vector >= 0)
		irq_free_vector(vp->shared_vector);
	vp->config_vector = vp->shared_vector = -1;
	set_config_entry(vp, VIRTIO_MSI_NO_VECTOR);
	pci_msix_disable(vp->pdev);
	vp->msix_entries = 0;
	vp->irq = VP_IRQ_POLL;
	return -ENODEV;
}

static const char *vp_setup_irq(struct virtio_device *vd)
{
	struct vp_dev *vp = to_vp(vd);

	vp->nr_queues = vd->nr_queues;
	vp->queues = calloc(vp->nr_queues ? vp->nr_queues : 1, sizeof(*vp->queues));
	vp->irq = VP_IRQ_POLL;
	if (!vp->queues)
		vp->nr_queues = 0; /* every setup_vq fails with -EINVAL */
	else if (vp_setup_msix(vp) == 0)
		;
	else if (pci_intx_request(vp->pdev, vp_intx_irq, vp) == 0)
		vp->irq = VP_IRQ_INTX;
	return irq_mode_names[vp->irq];
}

static unsigned vp_poll(struct virtio_device *vd)
{
	struct vp_dev *vp = to_vp(vd);
	uint8_t isr;

	if (vp->irq != VP_IRQ_POLL)
		return 0;
	isr = read_isr(vp);
	return (isr & VIRTIO_PCI_ISR_CONFIG ? VIRTIO_INT_CONFIG : 0) |
	       (isr & VIRTIO_PCI_ISR_QUEUE ? VIRTIO_INT_VRING : 0);
}

static bool vp_vq_has_irq(struct virtqueue *vq)
{
	struct vp_queue *q = virtqueue_priv(vq);

	return q->msix_entry != VIRTIO_MSI_NO_VECTOR || to_vp(q->info.vd)->irq == VP_IRQ_INTX;
}

static int vp_vq_irq_entry(struct virtqueue *vq)
{
	struct vp_queue *q = virtqueue_priv(vq);

	return q->msix_entry == VIRTIO_MSI_NO_VECTOR ? -1 : q->msix_entry;
}

static const struct virtio_transport_ops vp_ops = {
	.name = "modern",
	.device_features = vp_device_features,
	.finalize_features = vp_finalize_features,
	.get_status = vp_get_status,
	.set_status = vp_set_status,
	.reset = vp_reset,
	.generation = vp_generation,
	.read_config = vp_read_config,
	.write_config = vp_write_config,
	.num_queues = vp_num_queues,
	.setup_vq = vp_setup_vq,
	.del_vq = vp_del_vq,
	.reset_vq = vp_reset_vq,
	.setup_irq = vp_setup_irq,
	.poll = vp_poll,
	.vq_has_irq = vp_vq_has_irq,
	.vq_irq_entry = vp_vq_irq_entry,
};

static const struct virtio_transport_ops vpl_ops = {
	.name = "legacy",
	.device_features = vpl_device_features,
	.finalize_features = vpl_finalize_features,
	.get_status = vpl_get_status,
	.set_status = vpl_set_status,
	.reset = vpl_reset,
	.generation = vpl_generation,
	.read_config = vpl_read_config,
	.write_config = vpl_write_config,
	.num_queues = vpl_num_queues,
	.setup_vq = vp_setup_vq,
	.del_vq = vp_del_vq,
	.reset_vq = vp_reset_vq,
	.setup_irq = vp_setup_irq,
	.poll = vp_poll,
	.vq_has_irq = vp_vq_has_irq,
	.vq_irq_entry = vp_vq_irq_entry,
};

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
	vp->vd.transport = vp;
	snprintf(vp->vd.name, sizeof(vp->vd.name), "virtio-%s %02x:%02x.%u",
		 virtio_id_name(vp->vd.id), pdev->bus, pdev->dev, pdev->fn);
	pci_enable(pdev);
	if (find_caps(vp) == 0) {
		vp->vd.ops = &vp_ops;
	} else if (pdev->device < VIRTIO_PCI_MODERN_BASE && find_legacy(vp) == 0) {
		vp->vd.ops = &vpl_ops;
		vp->vd.legacy = true;
	} else {
		kprintf("virtio: %s: neither a modern interface nor a legacy I/O BAR, left alone\n",
			vp->vd.name);
		free(vp);
		return -ENODEV;
	}
	pdev->drvdata = vp;
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
