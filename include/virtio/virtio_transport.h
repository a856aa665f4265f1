/*
 * The one interface between the transport-neutral virtio core
 * (drivers/virtio/virtio.c) and a transport (drivers/virtio/transport/:
 * pci.c for VIRTIO 1.2 section 4.1, mmio.c for section 4.2). In the
 * spirit of Linux's virtio_config_ops: the core and the device drivers
 * call these operations and know nothing of PCI or MMIO registers; a
 * transport implements them and calls back only the public functions at
 * the end of this header.
 *
 * A transport's life of a device:
 *	probe: map registers, fill a struct virtio_device (id, name, ops,
 *	       legacy), then virtio_add_device(vd): the core resets it, sets
 *	       ACKNOWLEDGE | DRIVER, asks num_queues and setup_irq, binds a
 *	       driver
 *	queue: setup_vq builds the ring with virtio_create_vq() and tells the
 *	       device where it is; its per-queue data starts with a
 *	       struct virtio_vq_info (so the core finds the device of a queue)
 *	irq:   the handler acknowledges the device and calls
 *	       virtio_config_interrupt() and/or virtio_vqs_interrupt() (or
 *	       virtqueue_interrupt() for a queue with its own vector)
 */
#ifndef VIRTIO_VIRTIO_TRANSPORT_H
#define VIRTIO_VIRTIO_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <virtio/virtqueue.h>

struct virtio_device;

/* Interrupt causes, as poll() returns them (PCI ISR status, MMIO InterruptStatus). */
#define VIRTIO_INT_VRING  0x1 /* a queue has used buffers */
#define VIRTIO_INT_CONFIG 0x2 /* the device configuration changed */

struct virtio_transport_ops {
	const char *name; /* the interface, for logs: "modern" or "legacy" */

	/* 2.2 Feature bits: what the device offers (legacy: the low 32). */
	uint64_t (*device_features)(struct virtio_device *vd);
	/*
	 * Write the driver's features; modern: set FEATURES_OK and check the
	 * device kept it (3.1.1 step 6). Returns: 0, -ENODEV (refused),
	 * -EINVAL (features the interface cannot carry).
	 */
	int (*finalize_features)(struct virtio_device *vd, uint64_t features);

	/* 2.1 Device status. */
	uint8_t (*get_status)(struct virtio_device *vd);
	void (*set_status)(struct virtio_device *vd, uint8_t status);
	/*
	 * Reset the device and wait, bounded by a clock deadline, until it
	 * reads back 0 (4.1.4.3.2, 4.2.3.1). Returns: 0; -EIO if the device
	 * never confirmed: it may still write to its rings, whose memory the
	 * caller must then never free or reuse.
	 */
	int (*reset)(struct virtio_device *vd);

	/*
	 * 2.5 Device configuration space, raw: one pass over [off, off+len)
	 * at natural widths, zeros/ignored outside the space. The core
	 * makes reads consistent with generation().
	 */
	uint32_t (*generation)(struct virtio_device *vd); /* 0 when the interface has none */
	void (*read_config)(struct virtio_device *vd, unsigned off, void *buf, unsigned len);
	void (*write_config)(struct virtio_device *vd, unsigned off, const void *buf, unsigned len);

	/* Queues the device has (some may not exist: setup_vq says -ENOENT). */
	uint16_t (*num_queues)(struct virtio_device *vd);
	/*
	 * Create queue index (at most max_size entries, 0: the device's
	 * maximum) and enable it. Returns: 0; -ENOENT (no such queue or in
	 * use), -EBUSY, -EINVAL, -ENOMEM, -EIO (the device's answer is
	 * unusable).
	 */
	int (*setup_vq)(struct virtio_device *vd, unsigned index, uint32_t max_size,
			vq_callback_t callback, struct virtqueue **vqp);
	/* Disable and free a queue (after a successful reset of the device). */
	void (*del_vq)(struct virtio_device *vd, struct virtqueue *vq);
	/* 2.6.1 Queue reset (RING_RESET): -EOPNOTSUPP when not negotiated or legacy. */
	int (*reset_vq)(struct virtio_device *vd, struct virtqueue *vq, uint32_t num,
			vq_recycle_t recycle);

	/*
	 * Interrupts, chosen once at probe (before any queue exists).
	 * Returns: the mode for logs ("MSI-X", "INTx", "GSI 12 edge",
	 * "polling", ...).
	 */
	const char *(*setup_irq)(struct virtio_device *vd);
	/*
	 * For a device without interrupts: read and acknowledge the
	 * interrupt status. Returns: VIRTIO_INT_* bits; 0 when the device
	 * has an interrupt (its handler does the work).
	 */
	unsigned (*poll)(struct virtio_device *vd);
	/* Per-queue facts for the shell and tests. */
	bool (*vq_has_irq)(struct virtqueue *vq);  /* callbacks run from an interrupt */
	int (*vq_irq_entry)(struct virtqueue *vq); /* MSI-X entry, or -1 */
};

/* The start of every transport's per-queue data (virtqueue_priv()). */
struct virtio_vq_info {
	struct virtio_device *vd;
	struct virtqueue *vq; /* NULL while the queue is not set up */
	uint16_t index;
};

/*
 * virtio_create_vq - build the ring of queue index for vd with size
 * entries (the transport checked it against the device), its notify
 * function and info as virtqueue_priv(); fills info.
 * Returns: 0, or virtqueue_create's error.
 */
int virtio_create_vq(struct virtio_device *vd, struct virtio_vq_info *info, unsigned index,
		     uint32_t size, vq_callback_t callback, vq_notify_t notify,
		     struct virtqueue **vqp);

/*
 * virtio_vq_size - the queue size to use: the device's dev_max, lowered to
 * max_size (if not 0), rounded down to a power of two for a split ring.
 */
uint32_t virtio_vq_size(const struct virtio_device *vd, uint32_t dev_max, uint32_t max_size);

/*
 * virtio_vq_recycle - after the device reset queue vq (2.6.1): take every
 * buffer back through recycle and, if num is not 0 and differs, resize to
 * num (at most dev_max). Returns: 0; -EINVAL/-ENOMEM for a size it cannot
 * take (the queue is then reset at its old size, still usable).
 */
int virtio_vq_recycle(struct virtqueue *vq, uint32_t num, uint32_t dev_max, vq_recycle_t recycle);

/* virtio_config_interrupt - a configuration change (or DEVICE_NEEDS_RESET) interrupt. */
void virtio_config_interrupt(struct virtio_device *vd);

/* virtio_vqs_interrupt - a shared queue interrupt: every queue with used buffers. */
void virtio_vqs_interrupt(struct virtio_device *vd);

/* virtio_add_device - the transport found vd: list it, set it up, bind its driver. */
void virtio_add_device(struct virtio_device *vd);

/* How long a device or queue reset may take before it counts as failed. */
#define VIRTIO_RESET_TIMEOUT_NS 1000000000ull

/*
 * virtio_wait_zero - call read(ctx) until it returns 0 or now_ns() passes
 * now + timeout_ns (drivers/virtio/transport/wait.c, host-tested).
 * Returns: 0, or -EIO when the deadline passed with a non-zero value.
 */
int virtio_wait_zero(uint32_t (*read)(void *ctx), void *ctx, uint64_t (*now_ns)(void),
		     uint64_t timeout_ns);

/* Transports' entry points (lib/kernel/init.c). */
void virtio_pci_init(void);
void virtio_mmio_init(void);

#endif
