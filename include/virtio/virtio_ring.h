/*
 * Virtqueue wire formats, VIRTIO 1.2 section 2.7 (split) and 2.8 (packed).
 * Only what the device sees lives here; driver state is in
 * drivers/virtio/ring/virtqueue_internal.h.
 */
#ifndef VIRTIO_VIRTIO_RING_H
#define VIRTIO_VIRTIO_RING_H

#include <stddef.h>
#include <stdint.h>

#include <virtio/virtio_types.h>

/* 2.7.5 The Virtqueue Descriptor Table: descriptor flags (split and packed) */
#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4

/* 2.7.5 */
struct vring_desc {
	le64 addr;
	le32 len;
	le16 flags;
	le16 next;
};
_Static_assert(sizeof(struct vring_desc) == 16, "2.7.5: descriptor is 16 bytes");
_Static_assert(offsetof(struct vring_desc, len) == 8, "2.7.5");
_Static_assert(offsetof(struct vring_desc, flags) == 12, "2.7.5");
_Static_assert(offsetof(struct vring_desc, next) == 14, "2.7.5");

/* 2.7.6 The Virtqueue Available Ring */
#define VRING_AVAIL_F_NO_INTERRUPT 1
struct vring_avail {
	le16 flags;
	le16 idx;
	le16 ring[]; /* queue size entries, then le16 used_event (EVENT_IDX) */
};
_Static_assert(sizeof(struct vring_avail) == 4, "2.7.6: flags, idx, then ring");
_Static_assert(offsetof(struct vring_avail, ring) == 4, "2.7.6");

/* 2.7.8 The Virtqueue Used Ring */
#define VRING_USED_F_NO_NOTIFY 1
struct vring_used_elem {
	le32 id;  /* head of the used descriptor chain */
	le32 len; /* bytes written into the device-writable part */
};
_Static_assert(sizeof(struct vring_used_elem) == 8, "2.7.8: used element is 8 bytes");

struct vring_used {
	le16 flags;
	le16 idx;
	struct vring_used_elem ring[]; /* queue size entries, then le16 avail_event */
};
_Static_assert(sizeof(struct vring_used) == 4, "2.7.8");
_Static_assert(offsetof(struct vring_used, ring) == 4, "2.7.8");

/* 2.7 table "Virtqueue Part Alignment": descriptor 16, available 2, used 4. */
#define VRING_DESC_ALIGN  16
#define VRING_AVAIL_ALIGN 2
#define VRING_USED_ALIGN  4
/* 4.1.5.1.3 (legacy interfaces): the used ring starts on a 4096-byte boundary. */
#define VRING_LEGACY_ALIGN 4096

static inline size_t vring_desc_size(unsigned num)
{
	return (size_t)num * sizeof(struct vring_desc);
}
/* flags + idx + ring[num] + used_event */
static inline size_t vring_avail_size(unsigned num)
{
	return sizeof(struct vring_avail) + (size_t)num * sizeof(le16) + sizeof(le16);
}
/* flags + idx + ring[num] + avail_event */
static inline size_t vring_used_size(unsigned num)
{
	return sizeof(struct vring_used) + (size_t)num * sizeof(struct vring_used_elem) +
	       sizeof(le16);
}

/* 2.7.10 with EVENT_IDX: the event fields after the rings. */
static inline le16 *vring_used_event(struct vring_avail *avail, unsigned num)
{
	return &avail->ring[num];
}
static inline le16 *vring_avail_event(struct vring_used *used, unsigned num)
{
	return (le16 *)&used->ring[num];
}

/*
 * 2.7.10: the other side asked to be notified when index event_idx is
 * passed. new_idx and old_idx bound the entries added since the last
 * notification; all arithmetic wraps at 2^16.
 */
static inline int vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* 2.8.1 Driver and Device Ring Wrap Counters; 2.8.2 flags in packed descriptors */
#define VRING_PACKED_DESC_F_AVAIL 7 /* bit numbers */
#define VRING_PACKED_DESC_F_USED  15

/* 2.8.13 Packed Virtqueue Descriptor */
struct vring_packed_desc {
	le64 addr;
	le32 len;
	le16 id; /* buffer id */
	le16 flags;
};
_Static_assert(sizeof(struct vring_packed_desc) == 16, "2.8.13: descriptor is 16 bytes");
_Static_assert(offsetof(struct vring_packed_desc, len) == 8, "2.8.13");
_Static_assert(offsetof(struct vring_packed_desc, id) == 12, "2.8.13");
_Static_assert(offsetof(struct vring_packed_desc, flags) == 14, "2.8.13");

/* 2.8.14 Event Suppression Structure Format */
#define VRING_PACKED_EVENT_FLAG_ENABLE	0
#define VRING_PACKED_EVENT_FLAG_DISABLE 1
#define VRING_PACKED_EVENT_FLAG_DESC	2
#define VRING_PACKED_EVENT_F_WRAP_CTR	15 /* bit in off_wrap */
struct vring_packed_desc_event {
	le16 off_wrap; /* descriptor ring offset (bits 0-14), wrap counter (bit 15) */
	le16 flags;    /* VRING_PACKED_EVENT_FLAG_* in bits 0-1 */
};
_Static_assert(sizeof(struct vring_packed_desc_event) == 4, "2.8.14: 4 bytes");
_Static_assert(offsetof(struct vring_packed_desc_event, flags) == 2, "2.8.14");

/* 2.8.10.1 Structure Size and Alignment: ring 16, event structures 4. */
#define VRING_PACKED_DESC_ALIGN	 16
#define VRING_PACKED_EVENT_ALIGN 4
/* 2.8: the packed queue size is at most 2^15. */
#define VRING_PACKED_MAX 32768
/* 2.7: the split queue size is a power of two, at most 2^15. */
#define VRING_SPLIT_MAX 32768

/*
 * 2.9 / 4.1.5.2 Driver notification data (VIRTIO_F_NOTIFICATION_DATA):
 * le32 { vqn : 16; next_off : 15; next_wrap : 1; } for packed,
 * le32 { vqn : 16; next_idx : 16; } for split.
 */
static inline uint32_t vring_notification_data(uint16_t vqn, uint16_t next, int wrap)
{
	return (uint32_t)vqn | ((uint32_t)next << 16) | ((uint32_t)(wrap ? 1 : 0) << 31);
}

#endif
