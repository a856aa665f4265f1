/*
 * Feature bits by name (VIRTIO 1.2 section 6, Reserved Feature Bits, and
 * each device type's "Feature bits" section): the transport and ring
 * table here, the device types' tables in their drivers, one formatter
 * for the shell's `virtio`, `ifconfig` and the drivers' bring-up lines.
 * Portable: built unchanged into the host tests of the net driver.
 */
#include <stdio.h>

#include <virtio/virtio.h>

/* 6 Reserved Feature Bits, legacy ones (6.3) included. */
const struct virtio_feature_name virtio_transport_features[] = {
	{VIRTIO_F_NOTIFY_ON_EMPTY, "NOTIFY_ON_EMPTY"},
	{VIRTIO_F_ANY_LAYOUT, "ANY_LAYOUT"},
	{VIRTIO_F_INDIRECT_DESC, "INDIRECT_DESC"},
	{VIRTIO_F_EVENT_IDX, "EVENT_IDX"},
	{VIRTIO_F_VERSION_1, "VERSION_1"},
	{VIRTIO_F_ACCESS_PLATFORM, "ACCESS_PLATFORM"},
	{VIRTIO_F_RING_PACKED, "RING_PACKED"},
	{VIRTIO_F_IN_ORDER, "IN_ORDER"},
	{VIRTIO_F_ORDER_PLATFORM, "ORDER_PLATFORM"},
	{VIRTIO_F_SR_IOV, "SR_IOV"},
	{VIRTIO_F_NOTIFICATION_DATA, "NOTIFICATION_DATA"},
	{VIRTIO_F_NOTIF_CONFIG_DATA, "NOTIF_CONFIG_DATA"},
	{VIRTIO_F_RING_RESET, "RING_RESET"},
	{0, NULL},
};

/* Append one word; false once buf is full (nothing partial is left). */
static bool put_word(char *buf, unsigned size, unsigned *used, const char *word, unsigned bit)
{
	int n;

	n = word ? snprintf(buf + *used, size - *used, "%s%s", *used ? " " : "", word)
		 : snprintf(buf + *used, size - *used, "%sbit%u", *used ? " " : "", bit);
	if (n < 0 || (unsigned)n >= size - *used) {
		buf[*used] = '\0'; /* snprintf left part of the word */
		return false;
	}
	*used += (unsigned)n;
	return true;
}

/* The names table gives for the bits in *rest, which it clears. */
static bool put_table(const struct virtio_feature_name *t, uint64_t *rest, char *buf, unsigned size,
		      unsigned *used)
{
	for (; t && t->name; t++) {
		if (!(*rest & VIRTIO_BIT(t->bit)))
			continue;
		*rest &= ~VIRTIO_BIT(t->bit);
		if (!put_word(buf, size, used, t->name, 0))
			return false;
	}
	return true;
}

unsigned virtio_format_features(uint64_t features, const struct virtio_feature_name *device_names,
				char *buf, unsigned size)
{
	uint64_t rest = features;
	unsigned used = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	if (!put_table(device_names, &rest, buf, size, &used) ||
	    !put_table(virtio_transport_features, &rest, buf, size, &used))
		return used;
	for (unsigned b = 0; b < 64; b++)
		if ((rest & VIRTIO_BIT(b)) && !put_word(buf, size, &used, NULL, b))
			break;
	return used;
}
