/*
 * Virtio devices as drivers see them: feature negotiation, status,
 * device configuration and virtqueues, independent of the transport
 * (VIRTIO 1.2 sections 2 and 3). The transports (virtio-pci, virtio-mmio)
 * implement include/virtio/virtio_transport.h; nothing here is PCI or MMIO.
 *
 * A device driver registers itself for a device type with
 * VIRTIO_DRIVER(); the transport binds it to every such device it finds
 * (unless the command line says `virtio=nobind`). Its probe does the
 * bring-up (3.1.1), the device being in ACKNOWLEDGE | DRIVER already:
 *	virtio_negotiate(vd, wanted)        features; FEATURES_OK checked
 *	virtio_setup_vq(vd, 0, 256, cb, &vq)
 *	virtio_device_ready(vd)             DRIVER_OK
 * and returns 0, or a negative errno after which the device is reset and
 * left unbound.
 */
#ifndef VIRTIO_VIRTIO_H
#define VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include <virtio/virtio_config.h>
#include <virtio/virtio_transport.h>
#include <virtio/virtqueue.h>

/* 5 Device Types (device IDs) */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4

struct virtio_device;

/*
 * A feature bit's name: the spec's, without its VIRTIO_F_ or
 * VIRTIO_<DEVICE>_F_ prefix ("SEG_MAX" for VIRTIO_BLK_F_SEG_MAX). Each
 * device type has one table, in its driver, given to VIRTIO_DRIVER();
 * the transport and ring bits (6) are virtio_transport_features. A
 * table ends with {0, NULL}.
 */
struct virtio_feature_name {
	uint8_t bit;
	const char *name;
};

extern const struct virtio_feature_name virtio_transport_features[];

struct virtio_driver {
	const char *name;
	uint16_t device_id; /* VIRTIO_ID_* */
	int (*probe)(struct virtio_device *vd);
	const struct virtio_feature_name *feature_names; /* the device type's bits, or NULL */
};

#define VIRTIO_DRIVER(id, devid, probefn, names)                                                  \
	static const struct virtio_driver virtio_drv_##id                                         \
		__attribute__((used, section(".virtio_drv"), aligned(8))) = {#id, devid, probefn, \
									     names}

extern const struct virtio_driver __virtio_drv_start[], __virtio_drv_end[];

struct virtio_device {
	struct virtio_device *next;
	uint16_t id;	   /* VIRTIO_ID_* */
	uint64_t features; /* negotiated */
	bool legacy;	   /* 0.9.5 interface: 32 feature bits, no VERSION_1, split only */
	char name[40];	   /* "virtio-rng 00:03.0", "virtio-blk mmio@0xfeb00e00" */
	const struct virtio_transport_ops *ops;
	void *transport;
	const struct virtio_driver *driver; /* bound driver, NULL if none */
	void *priv;			    /* the driver's */
	const char *irq_mode;		    /* for the log: "MSI-X", "polling", ... */
	/* Configuration change interrupt (4.1.4.5): the driver's hook, and a count. */
	void (*config_changed)(struct virtio_device *vd);
	uint64_t config_irqs;
	/* The core's: the queues set up (index -> vq), DEVICE_NEEDS_RESET handled. */
	struct virtqueue **vqs;
	unsigned nr_queues;
	bool needs_reset_seen;
	uint64_t resets; /* times its driver reset it to bring it back (virtio_restart) */
};

extern struct virtio_device *virtio_devices;

const char *virtio_id_name(uint16_t id);

/*
 * virtio_negotiate - accept the device's features that are in wanted (the
 * ring's features are added). Modern devices must offer VERSION_1;
 * FEATURES_OK is set and re-read. Legacy devices (vd->legacy) negotiate
 * the low 32 bits, without VERSION_1 or the packed ring. Returns: 0,
 * -ENODEV (no VERSION_1 or FEATURES_OK refused; the device is marked FAILED).
 */
int virtio_negotiate(struct virtio_device *vd, uint64_t wanted);

/* virtio_find - the n-th (from 0) device of a type, bound or not; NULL if none. */
struct virtio_device *virtio_find(uint16_t device_id, unsigned n);

/* virtio_config_read/write - device configuration bytes (off, len within it). */
void virtio_config_read(struct virtio_device *vd, unsigned off, void *buf, unsigned len);
void virtio_config_write(struct virtio_device *vd, unsigned off, const void *buf, unsigned len);

/* virtio_has_feature - negotiated. */
static inline int virtio_has_feature(const struct virtio_device *vd, unsigned bit)
{
	return (vd->features >> bit) & 1;
}

/*
 * virtio_setup_vq - queue index, at most max_size entries; transport does
 * the rest. The queue is listed for the `virtio` command.
 * Returns: 0, -ENOMEM, or the transport's error.
 */
int virtio_setup_vq(struct virtio_device *vd, unsigned index, uint32_t max_size,
		    vq_callback_t callback, struct virtqueue **vqp);

/* virtio_del_vq - free a queue virtio_setup_vq made (after a device reset). */
void virtio_del_vq(struct virtio_device *vd, struct virtqueue *vq);

/* virtio_device_ready - DRIVER_OK: the device may use the queues now. */
void virtio_device_ready(struct virtio_device *vd);

/* virtio_vq_device - the device a queue belongs to. */
struct virtio_device *virtio_vq_device(struct virtqueue *vq);

/*
 * virtio_format_features - the bits set in features as words into buf
 * (always terminated; cut at a word when short): the names in
 * device_names (NULL: none) in table order, then the transport and ring
 * bits' names, then "bitN" for each bit neither table names.
 * Returns: the length written.
 */
unsigned virtio_format_features(uint64_t features, const struct virtio_feature_name *device_names,
				char *buf, unsigned size);

/*
 * virtio_device_feature_names - the feature-name table of device type id
 * (from the driver registered for it), or NULL.
 */
const struct virtio_feature_name *virtio_device_feature_names(uint16_t id);

/*
 * virtio_print_features - "0xBITS NAME NAME ..." and a newline: the negotiated
 * features, named where known (the device type's own, then ring and transport).
 */
void virtio_print_features(const struct virtio_device *vd);

/* virtio_num_queues - how many queues the device has (set up or not). */
unsigned virtio_num_queues(struct virtio_device *vd);

/* virtio_get_vq - the device's queue index if it is set up, else NULL. */
struct virtqueue *virtio_get_vq(struct virtio_device *vd, unsigned index);

/* virtio_vq_irq_entry - the queue's MSI-X entry, or -1 (INTx or polled). */
int virtio_vq_irq_entry(struct virtqueue *vq);

/* virtio_vq_has_irq - the queue's callback runs from an interrupt (MSI-X or INTx). */
bool virtio_vq_has_irq(struct virtqueue *vq);

/*
 * virtio_reset_vq - reset one queue (VIRTIO_F_RING_RESET, 2.6.1): the device
 * stops using it, every outstanding buffer goes to recycle (may be NULL),
 * and the queue is enabled again, with num entries if num is not 0 and
 * differs. Returns: 0; -EOPNOTSUPP (not negotiated, legacy); -EIO (the
 * device did not reset it); -EINVAL/-ENOMEM for a size it cannot take
 * (the queue is then reset at its old size).
 */
int virtio_reset_vq(struct virtqueue *vq, uint32_t num, vq_recycle_t recycle);

/*
 * virtio_poll - for a device without interrupts ("polling"): what an
 * interrupt handler would do, from the driver's poll loop (the ISR status
 * says whether a queue or the configuration changed; queue callbacks and
 * config_changed run). Does nothing when the device has interrupts.
 */
void virtio_poll(struct virtio_device *vd);

/*
 * virtio_needs_reset - the device set DEVICE_NEEDS_RESET (2.1.2); its queues
 * are then marked broken and only a device reset brings it back. Checked
 * on every configuration interrupt too, so drivers learn of it by a broken
 * queue (-EIO) or their config_changed hook.
 */
bool virtio_needs_reset(struct virtio_device *vd);

/*
 * virtio_restart - for a driver bringing its device back after a failure
 * (a broken queue, DEVICE_NEEDS_RESET, requests unanswered): reset it
 * (bounded wait), then ACKNOWLEDGE | DRIVER, so that the driver can
 * negotiate, set its queues up again (after virtio_del_vq of the old ones)
 * and call virtio_device_ready. Counted in vd->resets.
 * Returns: 0, or -EIO: the device did not confirm the reset and may still
 * use its rings; the driver must give it up without freeing them.
 */
int virtio_restart(struct virtio_device *vd);

/*
 * virtio_reset - reset the device (2.4), bounded wait for it to confirm.
 * Returns: 0, or -EIO: the device may still use its rings; do not free them.
 */
int virtio_reset(struct virtio_device *vd);

#endif
