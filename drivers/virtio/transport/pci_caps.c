/*
 * virtio-pci capabilities (VIRTIO 1.2 section 4.1.4): the vendor-specific
 * capabilities that locate the common, notify, ISR and device
 * configuration structures, read in one bounded walk, and the notify
 * address check of 4.1.4.4.
 */
#include <errno.h>
#include <string.h>

#include "pci_caps.h"

/* 4.1.4: a capability list holds at most (256 - 64) / 4 entries. */
#define VP_MAX_CAPS 48

/* Copy the capability at pos (caplen bytes of it, the rest zero) into raw. */
static void read_cap(const struct pci_dev *pdev, uint8_t pos, uint8_t caplen, uint8_t *raw,
		     unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		raw[i] = i < caplen && pos + i < 256 ? pci_read8(pdev, (uint16_t)(pos + i)) : 0;
}

int virtio_pci_read_caps(const struct pci_dev *pdev, struct virtio_pci_caps *out)
{
	uint8_t list[VP_MAX_CAPS];
	int n = pci_cap_list(pdev, list, VP_MAX_CAPS);

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < n; i++) {
		struct virtio_pci_notify_cap nc;
		uint8_t pos = list[i], caplen;

		if (pci_read8(pdev, pos) != PCI_CAP_ID_VNDR)
			continue;
		caplen = pci_read8(pdev, (uint16_t)(pos + 2));
		if (caplen < sizeof(struct virtio_pci_cap))
			continue;
		read_cap(pdev, pos, caplen, (uint8_t *)&nc, sizeof(nc));
		/* 4.1.4: the driver uses the first capability of each type it understands. */
		switch (nc.cap.cfg_type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			/* 56 bytes up to queue_device (1.0); queue_reset needs 60. */
			if (!out->have_common && le32_to_cpu(nc.cap.length) >= 56) {
				out->common = nc.cap;
				out->have_common = true;
			}
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			if (!out->have_notify && caplen >= sizeof(nc)) {
				out->notify = nc;
				out->have_notify = true;
			}
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			if (!out->have_isr) {
				out->isr = nc.cap;
				out->have_isr = true;
			}
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			if (!out->have_device) {
				out->device = nc.cap;
				out->have_device = true;
			}
			break;
		}
	}
	return out->have_common && out->have_notify && out->have_isr ? 0 : -ENODEV;
}

int virtio_pci_notify_offset(uint16_t notify_off, uint32_t multiplier, uint32_t cap_len,
			     unsigned width, uint32_t *off)
{
	uint64_t o = (uint64_t)notify_off * multiplier;

	if (o + width > cap_len)
		return -EIO;
	*off = (uint32_t)o;
	return 0;
}
