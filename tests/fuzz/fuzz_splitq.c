/*
 * The device side of a split virtqueue for the device-level fuzzers
 * (fuzz_script.h): available heads in, used elements out, on the ring
 * memory found through virtqueue_ring_addrs (VIRTIO 1.2 2.7.6, 2.7.8).
 */
#include <virtio/virtio_types.h>

#include "fuzz_script.h"

static void no_notify(struct virtqueue *vq)
{
	(void)vq;
}

int fz_splitq_create(struct fz_splitq *q, const char *name, unsigned index, uint32_t num,
		     uint64_t features)
{
	struct vq_config cfg = {
		.name = name,
		.index = (uint16_t)index,
		.num = num,
		.features = features,
		.notify = no_notify,
	};
	struct vq_ring_addrs a;
	int rc = virtqueue_create(&cfg, &q->vq);

	if (rc)
		return rc;
	virtqueue_ring_addrs(q->vq, &a);
	q->desc = (struct vring_desc *)(uintptr_t)a.desc;
	q->avail = (struct vring_avail *)(uintptr_t)a.driver;
	q->used = (struct vring_used *)(uintptr_t)a.device;
	q->num = virtqueue_num(q->vq);
	q->last_avail = q->used_idx = 0;
	return 0;
}

int fz_splitq_pop(struct fz_splitq *q)
{
	uint16_t head;

	if (!q->vq ||
	    le16_to_cpu(__atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE)) == q->last_avail)
		return -1;
	head = le16_to_cpu(q->avail->ring[q->last_avail % q->num]);
	q->last_avail++;
	if (head >= q->num)
		fz_bug("fuzz_splitq", "the driver made a head outside the ring available");
	return head;
}

void fz_splitq_used(struct fz_splitq *q, uint32_t id, uint32_t len)
{
	struct vring_used_elem *e = &q->used->ring[q->used_idx % q->num];

	e->id = cpu_to_le32(id);
	e->len = cpu_to_le32(len);
	q->used_idx++;
	__atomic_store_n(&q->used->idx, cpu_to_le16(q->used_idx), __ATOMIC_RELEASE);
}
