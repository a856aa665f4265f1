/*
 * test=ringcost: what our ring functions cost the guest per buffer against a
 * real device. With virtio=nobind and a virtio-blk disk: GET_ID requests (a
 * 16-byte header out, 20 id bytes and a status byte in: three entries, one
 * indirect descriptor when negotiated) through virtqueue_add_sgs, at queue
 * depth 1 and 32. Otherwise virtio-rng: 16-byte buffers through
 * virtqueue_add_buf_single at depth 1 and 8 (QEMU's rng queue has 8 entries).
 * Each request's virtqueue_add_*, each virtqueue_kick_prepare and each
 * virtqueue_get_buf that returns a buffer is timed by TSC; the figures are
 * medians per call (the vCPU thread may be preempted inside a call: a mean
 * would show the host). get_buf is timed once virtqueue_more_used() says a
 * buffer is there: the transport's notify and the looks while the device
 * works (empty_polls) are counted apart, not in the figures. Prints figures (bench/ring/ringcost.py
 * collects them); passes when every buffer came back exactly once and the
 * device said what it must (blk: status OK, the id QEMU was given).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/cpu.h>
#include <kernel/clock.h>
#include <kernel/registry.h>
#include <lib/sg_ring.h>
#include <virtio/virtio.h>
#include <virtio/virtio_blk.h>
#include <virtio/virtqueue.h>

#define RC_BUFS	     4096
#define RC_MAX_DEPTH 32
#define RC_RNG_LEN   16
#define RC_ID	     "ringcost" /* the disk's serial: tests/qemu/test_ringcost.py */

struct rc_slot {
	bool out;
	uint8_t data[VIRTIO_BLK_ID_BYTES]; /* blk: the id; rng: entropy */
	struct virtio_blk_outhdr hdr;
	uint8_t status;
};

static struct rc_slot slots[RC_MAX_DEPTH];
static uint32_t t_add[RC_BUFS], t_kick[RC_BUFS], t_get[RC_BUFS];

static int add_request(struct virtqueue *vq, bool blk, struct rc_slot *s)
{
	if (!blk)
		return virtqueue_add_buf_single(vq, s->data, RC_RNG_LEN, VQ_IN, s);

	DECLARE_SG(out, 1);
	DECLARE_SG(in, 2);

	s->hdr = (struct virtio_blk_outhdr){.type = cpu_to_le32(VIRTIO_BLK_T_GET_ID)};
	s->status = 0xff;
	sg_add(out, &s->hdr, sizeof(s->hdr));
	sg_add(in, s->data, sizeof(s->data));
	sg_add(in, &s->status, 1);
	return virtqueue_add_sgs(vq, out, in, s);
}

/* Returns: 0 if the completion is one we posted and says what it must. */
static int check(bool blk, struct rc_slot *s, uint32_t len)
{
	if (s < slots || s >= slots + RC_MAX_DEPTH || !s->out)
		return -1;
	if (!blk)
		return len <= RC_RNG_LEN ? 0 : -1;
	return s->status == VIRTIO_BLK_S_OK && len <= sizeof(s->data) + 1 &&
			       memcmp(s->data, RC_ID, sizeof(RC_ID)) == 0
		       ? 0
		       : -1;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of n TSC deltas, in tenths of a ns. */
static uint64_t median_x10(uint32_t *v, unsigned n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	return tsc_to_ns((uint64_t)v[n / 2] * 10);
}

static void print_x10(const char *key, uint64_t v)
{
	printf(" %s=%llu.%llu", key, (unsigned long long)(v / 10), (unsigned long long)(v % 10));
}

/*
 * The same fixed work, timed the same way: how fast the emulator runs the
 * guest right now. Under TCG the host's load moves every figure together;
 * ring_ns / ref_ns compares across boots.
 */
static uint64_t reference_x10(void)
{
	static uint32_t t[1024];
	volatile uint32_t sink = 0;

	for (unsigned i = 0; i < 1024; i++) {
		uint64_t t0 = rdtsc();

		for (unsigned k = 0; k < 64; k++)
			sink = sink + k;
		t[i] = (uint32_t)(rdtsc() - t0);
	}
	return median_x10(t, 1024);
}

struct rc_counts {
	unsigned got, kicks, kick_calls;
	uint64_t empties, bytes;
};

static int stream(struct virtqueue *vq, bool blk, unsigned depth, struct rc_counts *c)
{
	unsigned started = 0, next = 0;

	for (unsigned i = 0; i < RC_MAX_DEPTH; i++)
		slots[i].out = false;
	while (c->got < RC_BUFS) {
		uint64_t deadline, t;
		struct rc_slot *s;
		uint32_t len;

		while (started < RC_BUFS && started - c->got < depth) {
			while (slots[next].out)
				next = (next + 1) % depth;
			t = rdtsc();
			if (add_request(vq, blk, &slots[next])) {
				printf("ringcost: add failed\n");
				return -1;
			}
			t_add[started++] = (uint32_t)(rdtsc() - t);
			slots[next].out = true;
		}
		t = rdtsc();
		bool kick = virtqueue_kick_prepare(vq);

		t_kick[c->kick_calls++] = (uint32_t)(rdtsc() - t);
		if (kick) {
			virtqueue_notify(vq);
			c->kicks++;
		}
		deadline = clock_ns() + 2000000000ull;
		/*
		 * Wait, untimed, until a used buffer is there, then time the get
		 * that takes it: under TCG the device completes in QEMU's main
		 * loop, and whichever guest instruction runs while the vCPU waits
		 * for it would carry that wait (tens of microseconds) into the
		 * figure. The waiting looks are counted apart.
		 */
		while (!virtqueue_more_used(vq)) {
			c->empties++;
			if (virtqueue_is_broken(vq) || clock_ns() > deadline) {
				printf("ringcost: no answer (%s)\n",
				       virtqueue_broken_reason(vq) ?: "timeout");
				return -1;
			}
		}
		t = rdtsc();
		s = virtqueue_get_buf(vq, &len);
		t = rdtsc() - t;
		if (!s) {
			printf("ringcost: a used buffer was announced, get_buf found none (%s)\n",
			       virtqueue_broken_reason(vq) ?: "not broken");
			return -1;
		}
		if (check(blk, s, len)) {
			printf("ringcost: bad completion %p len %u\n", (void *)s, len);
			return -1;
		}
		t_get[c->got++] = (uint32_t)t;
		s->out = false;
		c->bytes += len;
	}
	return 0;
}

KTEST(ringcost, "guest ns per buffer in the ring functions against virtio-blk or virtio-rng")
{
	struct virtio_device *vd = virtio_find(VIRTIO_ID_BLOCK, 0);
	bool blk = vd && !vd->driver;
	unsigned depths[2] = {1, RC_MAX_DEPTH};
	struct virtqueue *vq;
	int rc, fail = 0;

	if (!blk)
		vd = virtio_find(VIRTIO_ID_RNG, 0);
	if (!vd || vd->driver) {
		printf("ringcost: no free virtio-blk (virtio=nobind) or virtio-rng device\n");
		return 1;
	}
	if ((rc = virtio_negotiate(vd, 0)) || (rc = virtio_setup_vq(vd, 0, 256, NULL, &vq))) {
		printf("ringcost: set-up failed (%d)\n", rc);
		return 1;
	}
	virtio_device_ready(vd);
	virtqueue_disable_cb(vq);
	if (depths[1] > virtqueue_num(vq))
		depths[1] = virtqueue_num(vq);
	for (unsigned i = 0; i < 2 && !fail; i++) {
		struct rc_counts c = {0};
		uint64_t add, kick, get;

		if (stream(vq, blk, depths[i], &c)) {
			fail = 1;
			break;
		}
		add = median_x10(t_add, c.got);
		kick = median_x10(t_kick, c.kick_calls) * c.kick_calls / c.got;
		get = median_x10(t_get, c.got);
		printf("ringcost: device=%s layout=%s qsize=%u depth=%u buffers=%u bytes=%llu "
		       "kicks=%u",
		       blk ? "blk" : "rng", virtqueue_layout(vq) == VQ_PACKED ? "packed" : "split",
		       virtqueue_num(vq), depths[i], c.got, (unsigned long long)c.bytes, c.kicks);
		print_x10("add_ns", add);
		print_x10("kick_prepare_ns", kick);
		print_x10("get_ns", get);
		print_x10("ring_ns", add + kick + get);
		printf(" empty_polls=%llu", (unsigned long long)c.empties);
		print_x10("ref_ns", reference_x10());
		printf("\n");
		fail |= c.got != RC_BUFS || virtqueue_num_free(vq) != virtqueue_num(vq);
	}
	virtio_reset(vd);
	virtio_del_vq(vd, vq);
	return fail;
}
