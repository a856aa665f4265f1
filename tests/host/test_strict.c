/*
 * The ring against the strictest legal device (tests/host/vq_sim.h, strict
 * mode): a device that looks at the available ring only when kicked,
 * interrupts only when the driver's flags or event allow it, delays its
 * completions arbitrarily, and acts at every full barrier of the ring code
 * (virt_mb_hook), i.e. between the driver's stores and its loads.
 *
 * Property, in both layouts, with and without EVENT_IDX, IN_ORDER and
 * INDIRECT_DESC, for a driver that re-enables callbacks with enable_cb and
 * for one that uses enable_cb_delayed: whenever everything goes quiet (the
 * driver waits for an interrupt, the device sleeps waiting for a kick),
 * no buffer is available that the device was not told about (a lost kick)
 * and no used buffer waits for an interrupt that never came (a lost
 * interrupt). Random schedules, fixed seed (VQ_SEED overrides).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <virtio/virtio_config.h>
#include <virtio/virtqueue.h>

#include "vq_sim.h"

#define F(b)	      VIRTIO_BIT(VIRTIO_F_##b)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t rnd_below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

enum rearm { REARM_ENABLE_CB, REARM_DELAYED };

struct param {
	const char *name;
	uint64_t features;
	enum rearm rearm;
};

#define MAXQ 256

struct drv {
	struct vq_sim sim; /* first: cfg.priv */
	struct virtqueue *vq;
	const struct param *p;
	uint32_t num;
	uint8_t buf[MAXQ][64];
	int token[MAXQ];
	bool busy[MAXQ];
	uint32_t outstanding; /* added, not yet returned by get_buf */
	uint64_t added, got, irqs, quiet_checks;
	uint64_t burst_added, burst_got; /* through virtqueue_add_bufs / virtqueue_get_bufs */
	bool in_handler;
};

static struct drv *cur;

static void device_step(struct drv *d);

/* Between two of the driver's calls the device may act too. */
static void maybe_device(struct drv *d)
{
	if (rnd_below(4) == 0)
		device_step(d);
}

/* A buffer came back. */
static void got_back(struct drv *d, const int *t)
{
	unsigned i = (unsigned)(t - d->token);

	assert_true(i < d->num && d->busy[i]);
	d->busy[i] = false;
	d->outstanding--;
	d->got++;
}

/* The driver's interrupt handler: consume, re-arm, repeat while more came. */
static void handler(struct virtqueue *vq)
{
	struct drv *d = cur;
	void *toks[8];
	unsigned n;
	int *t;
	uint32_t len;

	assert_ptr_equal(vq, d->vq);
	assert_false(d->in_handler);
	d->in_handler = true;
	d->irqs++;
	do {
		virtqueue_disable_cb(vq);
		maybe_device(d);
		if (rnd_below(2)) {
			/* in bursts: the interrupt event moves once per get_bufs */
			while ((n = virtqueue_get_bufs(vq, toks, NULL, 1 + rnd_below(8))) != 0) {
				for (unsigned k = 0; k < n; k++)
					got_back(d, toks[k]);
				d->burst_got += n;
				maybe_device(d);
			}
		} else {
			while ((t = virtqueue_get_buf(vq, &len)) != NULL) {
				got_back(d, t);
				maybe_device(d);
			}
		}
		maybe_device(d);
	} while (d->p->rearm == REARM_DELAYED ? !virtqueue_enable_cb_delayed(vq)
					      : !virtqueue_enable_cb(vq));
	d->in_handler = false;
}

/* The device's part of a step: pop, complete some, decide interrupts. */
static void device_step(struct drv *d)
{
	struct vq_sim *s = &d->sim;

	switch (rnd_below(3)) {
	case 0: vq_sim_service(s, 1 + rnd_below(8)); break;
	case 1: {
		uint32_t n = rnd_below(s->ninflight + 1);

		if (s->in_order && n > 1 && rnd_below(2)) {
			vq_sim_complete_batch(s, n, 0);
		} else {
			for (uint32_t k = 0; k < n && s->ninflight; k++)
				vq_sim_complete(
					s,
					vq_sim_inflight(s,
							s->in_order ? 0 : rnd_below(s->ninflight)),
					0);
		}
		vq_sim_signal(s);
		break;
	}
	default: vq_sim_signal(s); break;
	}
}

/* At the ring code's full barriers: the device acts about one time in three. */
static void mb_hook(void *arg)
{
	if (rnd_below(3) == 0)
		device_step(arg);
}

/* Up to n buffers with one virtqueue_add_bufs. Returns: how many were added. */
static unsigned submit_burst(struct drv *d, unsigned n)
{
	struct vq_single b[MAXQ];
	unsigned idx[MAXQ], m = 0;
	int rc;

	for (unsigned i = 0; i < d->num && m < n; i++)
		if (!d->busy[i]) {
			b[m] = (struct vq_single){d->buf[i], 64, VQ_IN, &d->token[i]};
			idx[m++] = i;
		}
	rc = virtqueue_add_bufs(d->vq, b, m);
	if (rc == -ENOSPC)
		return 0;
	assert_true(rc >= 0 && (unsigned)rc <= m);
	for (int k = 0; k < rc; k++)
		d->busy[idx[k]] = true;
	d->outstanding += (unsigned)rc;
	d->added += (unsigned)rc;
	d->burst_added += (unsigned)rc;
	maybe_device(d);
	return (unsigned)rc;
}

static void submit(struct drv *d, unsigned n)
{
	if (rnd_below(3) == 0) {
		submit_burst(d, n);
		virtqueue_kick(d->vq);
		return;
	}
	for (unsigned k = 0; k < n; k++) {
		unsigned i;
		int rc;

		for (i = 0; i < d->num && d->busy[i]; i++)
			;
		if (i == d->num)
			break;
		if (rnd_below(4) == 0) {
			/* out + in, three pieces: indirect when offered */
			struct sg_entry e[3] = {
				{d->buf[i], 16}, {d->buf[i] + 16, 16}, {d->buf[i] + 32, 32}};
			struct sg_ring out = {.next = NULL, .num = 2, .max = 2, .sg = e};
			struct sg_ring in = {.next = NULL, .num = 1, .max = 1, .sg = e + 2};

			rc = virtqueue_add_sgs(d->vq, &out, &in, &d->token[i]);
		} else {
			rc = virtqueue_add_buf_single(d->vq, d->buf[i], 64, VQ_IN, &d->token[i]);
		}
		if (rc == -ENOSPC)
			break;
		assert_int_equal(rc, 0);
		d->busy[i] = true;
		d->outstanding++;
		d->added++;
		maybe_device(d);
	}
	virtqueue_kick(d->vq);
}

/*
 * Let everything settle: the device works while it is awake and finishes
 * what it holds; interrupts are delivered; nothing new is submitted.
 * Then the property: nothing lost on either side.
 */
static void quiesce(struct drv *d)
{
	struct vq_sim *s = &d->sim;

	for (unsigned guard = 0;; guard++) {
		bool busy = false;

		assert_true(guard < 100000);
		if (s->awake) {
			vq_sim_service(s, 1 + rnd_below(8));
			busy = true;
		}
		if (s->ninflight) {
			vq_sim_complete(s, vq_sim_inflight(s, 0), 0);
			busy = true;
		}
		vq_sim_signal(s);
		if (vq_sim_deliver(s))
			busy = true;
		if (!busy)
			break;
	}
	d->quiet_checks++;
	if (vq_sim_pending(s))
		fail_msg("%s: lost kick: %u buffers available, the device sleeps (no kick came)",
			 d->p->name, vq_sim_pending(s));
	if (d->outstanding)
		fail_msg("%s: lost interrupt: %u buffers used, the driver waits for an interrupt "
			 "that never came",
			 d->p->name, d->outstanding);
}

static void run(const struct param *p, uint32_t num, unsigned steps)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct vq_config cfg = {
		.name = "strict",
		.index = 0,
		.num = num,
		.features = p->features | F(VERSION_1),
		.callback = handler,
		.notify = vq_sim_notify,
		.priv = d,
	};

	assert_non_null(d);
	cur = d;
	d->p = p;
	d->num = num;
	vq_sim_init(&d->sim);
	assert_int_equal(virtqueue_create(&cfg, &d->vq), 0);
	vq_sim_attach(&d->sim, d->vq, cfg.features);
	vq_sim_set_strict(&d->sim, true);
	virtqueue_enable_cb(d->vq);
	vq_sim_set_mb_hook(mb_hook, d);

	for (unsigned step = 0; step < steps; step++) {
		switch (rnd_below(8)) {
		case 0:
		case 1: submit(d, 1 + rnd_below(num)); break;
		case 2: vq_sim_deliver(&d->sim); break;
		case 3:
			if (rnd_below(16) == 0)
				quiesce(d);
			break;
		default: device_step(d); break;
		}
	}
	quiesce(d);
	vq_sim_set_mb_hook(NULL, NULL);
	/* The schedule exercised what it claims: sleeps, second looks, interrupts. */
	assert_true(d->got == d->added && d->added > steps / 8);
	assert_true(d->sim.sleeps > 0 && d->irqs > 0);
	assert_true(d->burst_added > 0 && d->burst_got > 0);
	print_message("%s, %u entries: %llu buffers, %llu kicks, %llu interrupts, %llu device "
		      "sleeps, %llu found by its second look, %llu quiet points checked\n",
		      p->name, num, (unsigned long long)d->added, (unsigned long long)d->sim.kicks,
		      (unsigned long long)d->irqs, (unsigned long long)d->sim.sleeps,
		      (unsigned long long)d->sim.rechecks, (unsigned long long)d->quiet_checks);
	virtqueue_destroy(d->vq);
	vq_sim_fini(&d->sim);
	free(d);
	cur = NULL;
}

static void test_strict(void **state)
{
	const struct param *p = *state;

	run(p, 8, 20000);
	run(p, 16, 20000);
	run(p, 256, 20000);
}

#define P(n, f, r)      \
	{               \
		n, f, r \
	}
static const struct param params[] = {
	P("split", 0, REARM_ENABLE_CB),
	P("split-event_idx", F(EVENT_IDX), REARM_ENABLE_CB),
	P("split-event_idx-in_order", F(EVENT_IDX) | F(IN_ORDER), REARM_ENABLE_CB),
	P("split-indirect-event_idx", F(INDIRECT_DESC) | F(EVENT_IDX), REARM_ENABLE_CB),
	P("split-indirect-in_order", F(INDIRECT_DESC) | F(IN_ORDER), REARM_ENABLE_CB),
	P("split-all", F(INDIRECT_DESC) | F(EVENT_IDX) | F(IN_ORDER), REARM_ENABLE_CB),
	P("split-event_idx-delayed", F(EVENT_IDX), REARM_DELAYED),
	P("split-all-delayed", F(INDIRECT_DESC) | F(EVENT_IDX) | F(IN_ORDER), REARM_DELAYED),
	P("split-delayed", 0, REARM_DELAYED),
	P("packed", F(RING_PACKED), REARM_ENABLE_CB),
	P("packed-event_idx", F(RING_PACKED) | F(EVENT_IDX), REARM_ENABLE_CB),
	P("packed-event_idx-in_order", F(RING_PACKED) | F(EVENT_IDX) | F(IN_ORDER),
	  REARM_ENABLE_CB),
	P("packed-indirect-event_idx", F(RING_PACKED) | F(INDIRECT_DESC) | F(EVENT_IDX),
	  REARM_ENABLE_CB),
	P("packed-indirect-in_order", F(RING_PACKED) | F(INDIRECT_DESC) | F(IN_ORDER),
	  REARM_ENABLE_CB),
	P("packed-all", F(RING_PACKED) | F(INDIRECT_DESC) | F(EVENT_IDX) | F(IN_ORDER),
	  REARM_ENABLE_CB),
	P("packed-event_idx-delayed", F(RING_PACKED) | F(EVENT_IDX), REARM_DELAYED),
	P("packed-all-delayed", F(RING_PACKED) | F(INDIRECT_DESC) | F(EVENT_IDX) | F(IN_ORDER),
	  REARM_DELAYED),
	P("packed-delayed", F(RING_PACKED), REARM_DELAYED),
};

int main(void)
{
	const char *seed = getenv("VQ_SEED");
	struct CMUnitTest tests[ARRAY_SIZE(params)];

	if (seed && *seed)
		rng_state = strtoull(seed, NULL, 0) | 1;
	for (size_t i = 0; i < ARRAY_SIZE(params); i++)
		tests[i] = (struct CMUnitTest){params[i].name, test_strict, NULL, NULL,
					       (void *)&params[i]};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
