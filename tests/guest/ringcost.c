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
 * works (empty_polls) are counted apart, not in the figures. A third pass at
 * the deeper depth uses the burst calls (calls=burst): virtqueue_add_bufs for
 * rng, virtqueue_get_bufs for both; each call's time is shared by the buffers
 * it moved. Prints figures (bench/ring/ringcost.py
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
#define RC_SETTLE_NS 300000ull	/* bursts: the device's time to use one, untimed */
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

static void slots_free(void)
{
	for (unsigned i = 0; i < RC_MAX_DEPTH; i++)
		slots[i].out = false;
}

/* Kick if the device wants it (timed), then wait, untimed, for a used buffer. */
static int kick_and_wait(struct virtqueue *vq, struct rc_counts *c)
{
	uint64_t deadline, t = rdtsc();
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
	return 0;
}

/* A completion taken back: checked, counted, its slot free again. */
static int took(bool blk, struct rc_slot *s, uint32_t len, struct rc_counts *c)
{
	if (check(blk, s, len)) {
		printf("ringcost: bad completion %p len %u\n", (void *)s, len);
		return -1;
	}
	s->out = false;
	c->bytes += len;
	return 0;
}

/*
 * The burst calls: every free slot in one virtqueue_add_bufs (rng; blk's
 * three-entry requests go one add_sgs each), every used buffer in one
 * virtqueue_get_bufs; each call's time is shared by the buffers it moved.
 */
static int stream_bursts(struct virtqueue *vq, bool blk, unsigned depth, struct rc_counts *c)
{
	unsigned started = 0, added = 0;

	slots_free();
	while (c->got < RC_BUFS) {
		struct vq_single b[RC_MAX_DEPTH];
		void *tok[RC_MAX_DEPTH];
		uint32_t lens[RC_MAX_DEPTH];
		unsigned n = 0, got;
		uint64_t t;
		int rc = 0;

		for (unsigned i = 0; i < depth && started + n < RC_BUFS; i++)
			if (!slots[i].out)
				b[n++] = (struct vq_single){slots[i].data, RC_RNG_LEN, VQ_IN,
							    &slots[i]};
		t = rdtsc();
		if (!blk && n) {
			rc = virtqueue_add_bufs(vq, b, n);
		} else {
			for (unsigned i = 0; i < n && rc >= 0; i++)
				rc = add_request(vq, blk, b[i].token) ? -1 : rc + 1;
		}
		t = rdtsc() - t;
		if (rc != (int)n) {
			printf("ringcost: add of %u gave %d\n", n, rc);
			return -1;
		}
		for (unsigned i = 0; i < n; i++) {
			((struct rc_slot *)b[i].token)->out = true;
			t_add[added++] = (uint32_t)(t / n);
		}
		started += n;
		if (kick_and_wait(vq, c))
			return -1;
		/*
		 * QEMU uses a burst one buffer per pass of its main loop (tens of
		 * microseconds for 8 under TCG), and a get_bufs started at the
		 * first would carry that wait: give the device, untimed, the time
		 * to use them all. get_bufs then takes what is there.
		 */
		for (uint64_t settle = clock_ns() + RC_SETTLE_NS; clock_ns() < settle;)
			cpu_relax();
		t = rdtsc();
		got = virtqueue_get_bufs(vq, tok, lens, depth);
		t = rdtsc() - t;
		if (!got) {
			printf("ringcost: a used buffer was announced, get_bufs found none (%s)\n",
			       virtqueue_broken_reason(vq) ?: "not broken");
			return -1;
		}
		for (unsigned i = 0; i < got; i++) {
			if (took(blk, tok[i], lens[i], c))
				return -1;
			t_get[c->got++] = (uint32_t)(t / got);
		}
	}
	return 0;
}

static int stream(struct virtqueue *vq, bool blk, unsigned depth, struct rc_counts *c)
{
	unsigned started = 0, next = 0;

	slots_free();
	while (c->got < RC_BUFS) {
		struct rc_slot *s;
		uint32_t len;
		uint64_t t;

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
		if (kick_and_wait(vq, c))
			return -1;
		t = rdtsc();
		s = virtqueue_get_buf(vq, &len);
		t = rdtsc() - t;
		if (!s) {
			printf("ringcost: a used buffer was announced, get_buf found none (%s)\n",
			       virtqueue_broken_reason(vq) ?: "not broken");
			return -1;
		}
		if (took(blk, s, len, c))
			return -1;
		t_get[c->got++] = (uint32_t)t;
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
	/* depth 1 and the deepest one call per buffer, then the deepest in bursts */
	for (unsigned i = 0; i < 3 && !fail; i++) {
		struct rc_counts c = {0};
		unsigned depth = depths[i < 2 ? i : 1];
		uint64_t add, kick, get;

		if (i < 2 ? stream(vq, blk, depth, &c) : stream_bursts(vq, blk, depth, &c)) {
			fail = 1;
			break;
		}
		add = median_x10(t_add, c.got);
		kick = median_x10(t_kick, c.kick_calls) * c.kick_calls / c.got;
		get = median_x10(t_get, c.got);
		printf("ringcost: device=%s layout=%s qsize=%u depth=%u calls=%s buffers=%u "
		       "bytes=%llu kicks=%u",
		       blk ? "blk" : "rng", virtqueue_layout(vq) == VQ_PACKED ? "packed" : "split",
		       virtqueue_num(vq), depth, i < 2 ? "single" : "burst", c.got,
		       (unsigned long long)c.bytes, c.kicks);
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
