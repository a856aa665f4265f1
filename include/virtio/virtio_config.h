/*
 * Device status bits (VIRTIO 1.2 section 2.1) and the reserved feature
 * bits that concern the ring and the transport (section 6).
 */
#ifndef VIRTIO_VIRTIO_CONFIG_H
#define VIRTIO_VIRTIO_CONFIG_H

/* 2.1 Device Status Field */
#define VIRTIO_STATUS_ACKNOWLEDGE	 1
#define VIRTIO_STATUS_DRIVER		 2
#define VIRTIO_STATUS_DRIVER_OK		 4
#define VIRTIO_STATUS_FEATURES_OK	 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED		 128

/* 6 Reserved Feature Bits (bit numbers) */
#define VIRTIO_F_NOTIFY_ON_EMPTY   24 /* legacy */
#define VIRTIO_F_ANY_LAYOUT	   27 /* legacy */
#define VIRTIO_F_INDIRECT_DESC	   28
#define VIRTIO_F_EVENT_IDX	   29
#define VIRTIO_F_VERSION_1	   32
#define VIRTIO_F_ACCESS_PLATFORM   33
#define VIRTIO_F_RING_PACKED	   34
#define VIRTIO_F_IN_ORDER	   35
#define VIRTIO_F_ORDER_PLATFORM	   36
#define VIRTIO_F_SR_IOV		   37
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_NOTIF_CONFIG_DATA 39
#define VIRTIO_F_RING_RESET	   40

#define VIRTIO_BIT(b) (1ull << (b))

/* Feature bits the virtqueue core implements (it ignores all others). */
#define VIRTIO_RING_FEATURES                                                   \
	(VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | \
	 VIRTIO_BIT(VIRTIO_F_RING_PACKED) | VIRTIO_BIT(VIRTIO_F_IN_ORDER) |    \
	 VIRTIO_BIT(VIRTIO_F_NOTIFICATION_DATA) | VIRTIO_BIT(VIRTIO_F_RING_RESET))

#endif
