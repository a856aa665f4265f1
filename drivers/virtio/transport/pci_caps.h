/*
 * virtio-pci: reading the vendor capabilities (VIRTIO 1.2 section 4.1.4)
 * and checking a queue's notification address (4.1.4.4). Portable: built
 * unchanged into the kernel and tests/host/test_pci.c.
 */
#ifndef VIRTIO_TRANSPORT_PCI_CAPS_H
#define VIRTIO_TRANSPORT_PCI_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include <pci/pci.h>
#include <virtio/virtio_pci.h>

/* The first capability of each structure type the driver uses (4.1.4). */
struct virtio_pci_caps {
	bool have_common, have_notify, have_isr, have_device;
	struct virtio_pci_cap common, isr, device;
	struct virtio_pci_notify_cap notify;
};

/*
 * virtio_pci_read_caps - read the capability list once (bounded by
 * pci_cap_list: at most 48 entries, pointers >= 0x40, no revisits) and
 * keep the first common, notify, ISR and device configuration capability.
 * A capability shorter than its structure is skipped; so is a common
 * configuration capability shorter than 56 bytes (1.0's fields).
 * Returns: 0 when common, notify and ISR were found, else -ENODEV.
 */
int virtio_pci_read_caps(const struct pci_dev *pdev, struct virtio_pci_caps *out);

/*
 * virtio_pci_notify_offset - where queue notify_off's notifications go in
 * the notify capability: notify_off * multiplier, computed in 64 bits, and
 * width bytes from there must lie inside cap_len (4.1.4.4).
 * Returns: 0 with *off set, or -EIO.
 */
int virtio_pci_notify_offset(uint16_t notify_off, uint32_t multiplier, uint32_t cap_len,
			     unsigned width, uint32_t *off);

#endif
