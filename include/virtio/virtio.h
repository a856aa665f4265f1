/*
 * Virtio devices as drivers see them: feature negotiation, status,
 * device configuration and virtqueues, independent of the transport
 * (VIRTIO 1.2 sections 2 and 3). Today's transport: modern virtio-pci.
 *
 * A driver's bring-up (3.1.1):
 *	virtio_negotiate(vd, wanted)        features; FEATURES_OK checked
 *	virtio_setup_vq(vd, 0, 256, cb, &vq)
 *	virtio_device_ready(vd)             DRIVER_OK
 */
#ifndef VIRTIO_VIRTIO_H
#define VIRTIO_VIRTIO_H

#include <stdint.h>

#include <virtio/virtio_config.h>
#include <virtio/virtqueue.h>

/* 5 Device Types (device IDs) */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4

struct virtio_device;

struct virtio_transport_ops {
	uint64_t (*device_features)(struct virtio_device *vd);
	/* Write the driver features, set FEATURES_OK, check the device kept it. */
	int (*finalize_features)(struct virtio_device *vd, uint64_t features);
	uint8_t (*get_status)(struct virtio_device *vd);
	void (*set_status)(struct virtio_device *vd, uint8_t status);
	void (*reset)(struct virtio_device *vd);
	/* Device configuration, consistent across a config_generation change. */
	void (*read_config)(struct virtio_device *vd, unsigned off, void *buf, unsigned len);
	uint16_t (*num_queues)(struct virtio_device *vd);
	int (*setup_vq)(struct virtio_device *vd, unsigned index, uint32_t max_size,
			vq_callback_t callback, struct virtqueue **vqp);
	void (*del_vq)(struct virtio_device *vd, struct virtqueue *vq);
};

struct virtio_device {
	struct virtio_device *next;
	uint16_t id;	   /* VIRTIO_ID_* */
	uint64_t features; /* negotiated */
	char name[40];	   /* "virtio-rng 00:03.0" */
	const struct virtio_transport_ops *ops;
	void *transport;
	void *priv;	      /* the driver's */
	const char *irq_mode; /* for the log: "MSI-X" or "polling" */
	/* Configuration change interrupt (4.1.4.5): the driver's hook, and a count. */
	void (*config_changed)(struct virtio_device *vd);
	uint64_t config_irqs;
};

extern struct virtio_device *virtio_devices;

const char *virtio_id_name(uint16_t id);

/*
 * virtio_negotiate - accept the device's features that are in wanted (the
 * ring's features are added), VERSION_1 required; FEATURES_OK is set and
 * re-read. Returns: 0, -ENODEV (no VERSION_1 or FEATURES_OK refused; the
 * device is marked FAILED).
 */
int virtio_negotiate(struct virtio_device *vd, uint64_t wanted);

/* virtio_setup_vq - queue index, at most max_size entries; transport does the rest. */
int virtio_setup_vq(struct virtio_device *vd, unsigned index, uint32_t max_size,
		    vq_callback_t callback, struct virtqueue **vqp);

/* virtio_device_ready - DRIVER_OK: the device may use the queues now. */
void virtio_device_ready(struct virtio_device *vd);

/* virtio_vq_device - the device a queue belongs to. */
struct virtio_device *virtio_vq_device(struct virtqueue *vq);

void virtio_pci_init(void);

#endif
