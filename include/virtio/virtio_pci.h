/*
 * Virtio over PCI, modern interface (VIRTIO 1.2 section 4.1): vendor
 * capabilities locating the common configuration, notification, ISR and
 * device configuration structures in the device's BARs.
 */
#ifndef VIRTIO_VIRTIO_PCI_H
#define VIRTIO_VIRTIO_PCI_H

#include <stddef.h>
#include <stdint.h>

#include <virtio/virtio_types.h>

#define VIRTIO_PCI_VENDOR 0x1af4
/* 4.1.2.1: modern device IDs are 0x1040 + the virtio device ID. */
#define VIRTIO_PCI_MODERN_BASE 0x1040

/* 4.1.4 Virtio Structure PCI Capabilities: cfg_type */
#define VIRTIO_PCI_CAP_COMMON_CFG	 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG	 2
#define VIRTIO_PCI_CAP_ISR_CFG		 3
#define VIRTIO_PCI_CAP_DEVICE_CFG	 4
#define VIRTIO_PCI_CAP_PCI_CFG		 5
#define VIRTIO_PCI_CAP_SHARED_MEMORY_CFG 8
#define VIRTIO_PCI_CAP_VENDOR_CFG	 9

struct virtio_pci_cap {
	uint8_t cap_vndr; /* PCI_CAP_ID_VNDR */
	uint8_t cap_next;
	uint8_t cap_len;
	uint8_t cfg_type;
	uint8_t bar;
	uint8_t id;
	uint8_t padding[2];
	le32 offset; /* within the BAR */
	le32 length;
};
_Static_assert(sizeof(struct virtio_pci_cap) == 16, "4.1.4: capability is 16 bytes");
_Static_assert(offsetof(struct virtio_pci_cap, cfg_type) == 3, "4.1.4");
_Static_assert(offsetof(struct virtio_pci_cap, bar) == 4, "4.1.4");
_Static_assert(offsetof(struct virtio_pci_cap, offset) == 8, "4.1.4");
_Static_assert(offsetof(struct virtio_pci_cap, length) == 12, "4.1.4");

/* 4.1.4.4 Notification structure layout */
struct virtio_pci_notify_cap {
	struct virtio_pci_cap cap;
	le32 notify_off_multiplier;
};
_Static_assert(sizeof(struct virtio_pci_notify_cap) == 20, "4.1.4.4");

/* 4.1.4.3 Common configuration structure layout */
struct virtio_pci_common_cfg {
	le32 device_feature_select;
	le32 device_feature;
	le32 driver_feature_select;
	le32 driver_feature;
	le16 config_msix_vector;
	le16 num_queues;
	uint8_t device_status;
	uint8_t config_generation;
	le16 queue_select;
	le16 queue_size;
	le16 queue_msix_vector;
	le16 queue_enable;
	le16 queue_notify_off;
	le64 queue_desc;
	le64 queue_driver;
	le64 queue_device;
	le16 queue_notify_data;
	le16 queue_reset;
};
_Static_assert(offsetof(struct virtio_pci_common_cfg, config_msix_vector) == 16, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, device_status) == 20, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, config_generation) == 21, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, queue_select) == 22, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, queue_enable) == 28, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, queue_notify_off) == 30, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, queue_desc) == 32, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, queue_driver) == 40, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, queue_device) == 48, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, queue_notify_data) == 56, "4.1.4.3");
_Static_assert(offsetof(struct virtio_pci_common_cfg, queue_reset) == 58, "4.1.4.3");
_Static_assert(sizeof(struct virtio_pci_common_cfg) == 64, "4.1.4.3 (60 bytes, padded to 8)");

/* 4.1.4.3: no MSI-X vector */
#define VIRTIO_MSI_NO_VECTOR 0xffff

/* 4.1.4.5 ISR status: bit 0 queue interrupt, bit 1 configuration change */
#define VIRTIO_PCI_ISR_QUEUE  0x1
#define VIRTIO_PCI_ISR_CONFIG 0x2

/*
 * 4.1.4.8 Legacy Interfaces: the virtio header in BAR 0 (I/O space) of a
 * transitional device. Fields are guest-endian; the device configuration
 * follows at 20, or at 24 while MSI-X is enabled (the two vector registers
 * are only present then).
 */
#define VIRTIO_PCI_LEGACY_HOST_FEATURES	 0  /* 32, RO */
#define VIRTIO_PCI_LEGACY_GUEST_FEATURES 4  /* 32 */
#define VIRTIO_PCI_LEGACY_QUEUE_PFN	 8  /* 32: ring address >> 12 */
#define VIRTIO_PCI_LEGACY_QUEUE_NUM	 12 /* 16, RO */
#define VIRTIO_PCI_LEGACY_QUEUE_SEL	 14 /* 16 */
#define VIRTIO_PCI_LEGACY_QUEUE_NOTIFY	 16 /* 16 */
#define VIRTIO_PCI_LEGACY_STATUS	 18 /* 8 */
#define VIRTIO_PCI_LEGACY_ISR		 19 /* 8, read clears */
#define VIRTIO_PCI_LEGACY_CONFIG_VECTOR	 20 /* 16, MSI-X only */
#define VIRTIO_PCI_LEGACY_QUEUE_VECTOR	 22 /* 16, MSI-X only */
#define VIRTIO_PCI_LEGACY_CONFIG	 20
#define VIRTIO_PCI_LEGACY_CONFIG_MSIX	 24

/* The same header as a structure, to pin the offsets above against 4.1.4.8. */
struct virtio_pci_legacy_hdr {
	uint32_t host_features;
	uint32_t guest_features;
	uint32_t queue_pfn;
	uint16_t queue_num;
	uint16_t queue_sel;
	uint16_t queue_notify;
	uint8_t status;
	uint8_t isr;
	uint16_t config_vector; /* MSI-X only */
	uint16_t queue_vector;	/* MSI-X only */
};
_Static_assert(offsetof(struct virtio_pci_legacy_hdr, guest_features) ==
		       VIRTIO_PCI_LEGACY_GUEST_FEATURES,
	       "4.1.4.8");
_Static_assert(offsetof(struct virtio_pci_legacy_hdr, queue_pfn) == VIRTIO_PCI_LEGACY_QUEUE_PFN,
	       "4.1.4.8");
_Static_assert(offsetof(struct virtio_pci_legacy_hdr, queue_num) == VIRTIO_PCI_LEGACY_QUEUE_NUM,
	       "4.1.4.8");
_Static_assert(offsetof(struct virtio_pci_legacy_hdr, queue_sel) == VIRTIO_PCI_LEGACY_QUEUE_SEL,
	       "4.1.4.8");
_Static_assert(offsetof(struct virtio_pci_legacy_hdr, queue_notify) ==
		       VIRTIO_PCI_LEGACY_QUEUE_NOTIFY,
	       "4.1.4.8");
_Static_assert(offsetof(struct virtio_pci_legacy_hdr, status) == VIRTIO_PCI_LEGACY_STATUS,
	       "4.1.4.8");
_Static_assert(offsetof(struct virtio_pci_legacy_hdr, isr) == VIRTIO_PCI_LEGACY_ISR, "4.1.4.8");
_Static_assert(offsetof(struct virtio_pci_legacy_hdr, config_vector) ==
		       VIRTIO_PCI_LEGACY_CONFIG_VECTOR,
	       "4.1.4.8");
_Static_assert(offsetof(struct virtio_pci_legacy_hdr, queue_vector) ==
		       VIRTIO_PCI_LEGACY_QUEUE_VECTOR,
	       "4.1.4.8");
_Static_assert(sizeof(struct virtio_pci_legacy_hdr) == VIRTIO_PCI_LEGACY_CONFIG_MSIX,
	       "4.1.4.8: device configuration follows at 24 with MSI-X");

#endif
