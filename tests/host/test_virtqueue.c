/* Host tests for the virtqueue core (split and packed) against the simulated device in vq_sim.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lib/sg_ring.h>
#include <virtio/virtio_config.h>
#include <virtio/virtio_ring.h>
#include <virtio/virtqueue.h>

#include "vq_sim.h"

#define F(b)			      VIRTIO_BIT(VIRTIO_F_##b)
#define ARRAY_SIZE(a)		      (sizeof(a) / sizeof((a)[0]))
#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define MIN(a, b)		      ((a) < (b) ? (a) : (b))

/* Round trips of test_roundtrips over both layouts (env VQ_ROUNDTRIPS overrides). */
#define VQ_ROUNDTRIPS_DEFAULT 10000000ull

/* Parameters: the layout (tests run once per layout) */

struct param {
	const char *name;
	uint64_t features;
	int hcase; /* test_hostile: which misbehaviour */
};
static const struct param split = {"split", 0, 0};
static const struct param packed = {"packed", F(RING_PACKED), 0};
/* test_hostile collects what comes back with one virtqueue_get_bufs call (teardown clears it). */
static bool hostile_burst;

/* Randomness: xorshift64*, seeded from VQ_SEED (default fixed) */

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

/* A device and its queue */

struct dev {
	struct vq_sim sim; /* first: cfg.priv points here */
	struct virtqueue *vq;
	uint64_t features;
	uint64_t callbacks;
};

struct ctx {
	const struct param *p;
	struct dev d[2];
	void *mem[8]; /* freed by teardown */
};

static void callback(struct virtqueue *vq)
{
	struct dev *d = container_of(virtqueue_priv(vq), struct dev, sim);

	d->callbacks++;
}

static struct vq_config cfg_make(struct dev *d, uint32_t num, uint64_t features)
{
	struct vq_config cfg = {
		.name = "testq",
		.index = 3,
		.num = num,
		.features = features,
		.callback = callback,
		.notify = vq_sim_notify,
		.priv = &d->sim,
	};
	return cfg;
}

static void dev_stop(struct dev *d)
{
	if (d->vq)
		virtqueue_destroy(d->vq);
	d->vq = NULL;
}

static void dev_start_cfg(struct dev *d, const struct vq_config *cfg)
{
	int rc;

	dev_stop(d);
	d->callbacks = 0;
	rc = virtqueue_create(cfg, &d->vq);
	if (rc)
		fail_msg("virtqueue_create(num %u, features %#llx) = %d", cfg->num,
			 (unsigned long long)cfg->features, rc);
	d->features = cfg->features;
	vq_sim_attach(&d->sim, d->vq, cfg->features);
}

static void dev_start(struct dev *d, uint32_t num, uint64_t features)
{
	struct vq_config cfg = cfg_make(d, num, features);

	dev_start_cfg(d, &cfg);
}

static void *ctx_alloc(struct ctx *c, size_t size)
{
	for (unsigned i = 0; i < ARRAY_SIZE(c->mem); i++)
		if (!c->mem[i]) {
			c->mem[i] = calloc(1, size);
			assert_non_null(c->mem[i]);
			return c->mem[i];
		}
	fail_msg("ctx_alloc: no slot");
	return NULL;
}

static void ctx_free(struct ctx *c, void *p)
{
	for (unsigned i = 0; i < ARRAY_SIZE(c->mem); i++)
		if (c->mem[i] == p) {
			free(p);
			c->mem[i] = NULL;
			return;
		}
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->p = *state;
	vq_sim_init(&c->d[0].sim);
	vq_sim_init(&c->d[1].sim);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	hostile_burst = false;
	for (int i = 0; i < 2; i++) {
		dev_stop(&c->d[i]);
		vq_sim_fini(&c->d[i].sim);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(c->mem); i++)
		free(c->mem[i]);
	free(c);
	return 0;
}

static bool is_packed(struct ctx *c)
{
	return c->p->features & F(RING_PACKED);
}

/* Guarded data buffers, one slab per token */

#define MAX_SEGS 24
#define SEG_MAX	 64
#define GAP	 8
#define SLAB	 (GAP + MAX_SEGS * (SEG_MAX + GAP))
#define GUARD	 0x5a
#define IN_FILL	 0xee

static const uint8_t guard_bytes[SEG_MAX + GAP] = {
	[0 ... SEG_MAX + GAP - 1] = GUARD,
};

struct tok {
	uint32_t nout, nin;
	uint32_t len[MAX_SEGS];
	uint64_t out_len, in_len;
	uint64_t out_sum;
	uint32_t expect_len; /* what the device wrote (and will report) */
	uint8_t seed;
	bool outstanding; /* added, not yet returned by get_buf */
	bool completed;	  /* the device used it */
	bool popped;
	bool indirect;
};

static uint8_t *seg_addr(uint8_t *arena, uint32_t t, uint32_t k)
{
	return arena + (size_t)t * SLAB + GAP + (size_t)k * (SEG_MAX + GAP);
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint8_t pat(uint8_t seed, uint32_t k)
{
	return (uint8_t)(seed + k * 13 + (k >> 8) + 1);
}

/* Lay out token t's segments: guards everywhere, random OUT data, IN_FILL in IN segments. */
static void tok_fill(uint8_t *arena, struct tok *tk, uint32_t t)
{
	uint32_t n = tk->nout + tk->nin;
	uint8_t *base = arena + (size_t)t * SLAB;

	memset(base, GUARD, GAP + (size_t)n * (SEG_MAX + GAP));
	tk->out_len = tk->in_len = 0;
	tk->out_sum = 0xcbf29ce484222325ull;
	for (uint32_t k = 0; k < n; k++) {
		uint8_t *a = seg_addr(arena, t, k);

		if (k < tk->nout) {
			for (uint32_t i = 0; i < tk->len[k]; i++)
				a[i] = (uint8_t)rnd();
			tk->out_sum = fnv(tk->out_sum, a, tk->len[k]);
			tk->out_len += tk->len[k];
		} else {
			memset(a, IN_FILL, tk->len[k]);
			tk->in_len += tk->len[k];
		}
	}
}

/* Check token t's slab after the device is done: OUT intact, IN as written, guards intact. */
static void tok_check(uint8_t *arena, struct tok *tk, uint32_t t)
{
	uint32_t n = tk->nout + tk->nin, done = 0;
	uint64_t sum = 0xcbf29ce484222325ull;
	uint8_t *base = arena + (size_t)t * SLAB;

	if (memcmp(base, guard_bytes, GAP))
		fail_msg("token %u: guard before the first segment overwritten", t);
	for (uint32_t k = 0; k < n; k++) {
		uint8_t *a = seg_addr(arena, t, k);

		if (memcmp(a + tk->len[k], guard_bytes, SEG_MAX + GAP - tk->len[k]))
			fail_msg("token %u: guard after segment %u overwritten", t, k);
		if (k < tk->nout) {
			sum = fnv(sum, a, tk->len[k]);
			continue;
		}
		for (uint32_t i = 0; i < tk->len[k]; i++, done++) {
			uint8_t want = done < tk->expect_len ? pat(tk->seed, done) : IN_FILL;

			if (a[i] != want)
				fail_msg("token %u: IN byte %u is %#x, expected %#x (len %u)", t,
					 done, a[i], want, tk->expect_len);
		}
	}
	if (sum != tk->out_sum)
		fail_msg("token %u: device-readable data changed", t);
}

/*
 * Ring building: the sg_rings for one buffer. Out entries then in entries
 * are cut into rings of 1..3 entries (sometimes with an empty ring between).
 */
struct sgb {
	struct sg_ring ring[2 * MAX_SEGS + 8];
	struct sg_entry ent[2 * MAX_SEGS + 8][4];
	uint32_t nring;
	uint32_t first[2], count[2]; /* per direction: first ring, rings */
};

static void sgb_build(struct sgb *g, uint8_t *arena, struct tok *tk, uint32_t t, bool empties)
{
	uint32_t k = 0;

	g->nring = 0;
	for (int dir = 0; dir < 2; dir++) {
		uint32_t n = dir == 0 ? tk->nout : tk->nin, end = k + n;

		g->first[dir] = g->nring;
		while (k < end) {
			struct sg_ring *r = &g->ring[g->nring];
			uint32_t take = 1 + rnd_below(3);

			sg_init(r, g->ent[g->nring], 4);
			g->nring++;
			if (empties && rnd_below(8) == 0)
				continue; /* an empty ring in the chain */
			for (uint32_t i = 0; i < take && k < end; i++, k++)
				assert_int_equal(sg_add(r, seg_addr(arena, t, k), tk->len[k]), 0);
		}
		g->count[dir] = g->nring - g->first[dir];
		for (uint32_t i = 0; i + 1 < g->count[dir]; i++)
			sg_chain(&g->ring[g->first[dir] + i], &g->ring[g->first[dir] + i + 1]);
	}
}

static int add_with_sgs(struct virtqueue *vq, uint8_t *arena, struct tok *tk, uint32_t t)
{
	struct sgb g;

	sgb_build(&g, arena, tk, t, true);
	return virtqueue_add_sgs(vq, tk->nout ? &g.ring[g.first[0]] : NULL,
				 tk->nin ? &g.ring[g.first[1]] : NULL, tk);
}

/* start_buf, one add_sg per group of rings (random grouping and chaining), end_buf */
static int add_piecewise(struct virtqueue *vq, uint8_t *arena, struct tok *tk, uint32_t t)
{
	struct sgb g;
	struct {
		uint32_t ring, nrings, nents;
		enum vq_dir dir;
	} call[2 * MAX_SEGS + 8];
	uint32_t ncall = 0;
	struct vq_buf b;
	int rc;

	sgb_build(&g, arena, tk, t, false);
	/* Unlink everything, then group. */
	for (uint32_t i = 0; i < g.nring; i++)
		g.ring[i].next = NULL;
	for (int dir = 0; dir < 2; dir++) {
		uint32_t i = g.first[dir], end = g.first[dir] + g.count[dir];

		while (i < end) {
			uint32_t nr = 1 + rnd_below(3), ne = 0;

			nr = MIN(nr, end - i);

			for (uint32_t j = 0; j < nr; j++) {
				ne += g.ring[i + j].num;
				if (j + 1 < nr)
					sg_chain(&g.ring[i + j], &g.ring[i + j + 1]);
			}
			call[ncall].ring = i;
			call[ncall].nrings = nr;
			call[ncall].nents = ne;
			call[ncall].dir = dir ? VQ_IN : VQ_OUT;
			ncall++;
			i += nr;
		}
	}
	/* Sometimes let a call's chain run on into the next call's rings: nents must stop it. */
	for (uint32_t i = 0; i + 1 < ncall; i++)
		if (rnd_below(3) == 0)
			sg_chain(&g.ring[call[i].ring + call[i].nrings - 1],
				 &g.ring[call[i + 1].ring]);

	rc = virtqueue_start_buf(vq, &b, tk, tk->nout + tk->nin, ncall);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < ncall; i++) {
		bool open_end = g.ring[call[i].ring + call[i].nrings - 1].next == NULL;
		unsigned n = open_end && rnd_below(2) ? 0 : call[i].nents;

		rc = virtqueue_add_sg(&b, &g.ring[call[i].ring], n, call[i].dir);
		if (rc)
			fail_msg("add_sg call %u of %u (nents %u, dir %d, %u out %u in) = %d "
				 "(buf: ents %u of %u, calls %u of %u)",
				 i, ncall, n, call[i].dir, tk->nout, tk->nin, rc, b.ents, b.nents,
				 b.sgs, b.nsg);
	}
	return virtqueue_end_buf(&b);
}

/* The random round-trip engine */

struct engine {
	struct dev *d;
	uint32_t num;
	uint64_t features;
	bool indirect, in_order;
	uint16_t tables, imax;
	uint8_t *arena;
	struct tok *toks;
	uint32_t *free_list, nfree;
	uint32_t ind_out;     /* outstanding buffers holding an indirect table */
	uint32_t uncollected; /* used by the device, not yet returned by get_buf */
	uint64_t returned, posted;
	uint8_t wbuf[MAX_SEGS * SEG_MAX];
};

static void eng_init(struct ctx *c, struct engine *e, struct dev *d, uint32_t num,
		     uint64_t features, uint16_t tables, uint16_t imax)
{
	struct vq_config cfg = cfg_make(d, num, features);

	memset(e, 0, sizeof(*e));
	e->d = d;
	e->num = num;
	e->features = features;
	e->indirect = features & F(INDIRECT_DESC);
	e->in_order = features & F(IN_ORDER);
	cfg.indirect_tables = tables;
	cfg.indirect_max = imax;
	e->tables = tables ? tables : num / 2;
	e->imax = imax ? imax : MIN(num, 128);
	dev_start_cfg(d, &cfg);
	e->arena = ctx_alloc(c, (size_t)num * SLAB);
	e->toks = ctx_alloc(c, num * sizeof(*e->toks));
	e->free_list = ctx_alloc(c, num * sizeof(*e->free_list));
	for (uint32_t i = 0; i < num; i++)
		e->free_list[e->nfree++] = num - 1 - i;
}

static void eng_fini(struct ctx *c, struct engine *e)
{
	ctx_free(c, e->arena);
	ctx_free(c, e->toks);
	ctx_free(c, e->free_list);
	dev_stop(e->d);
}

/* Post one random buffer. Returns false when the ring had no room (checked to be right). */
static bool eng_post(struct engine *e)
{
	struct virtqueue *vq = e->d->vq;
	const struct vq_stats *st = virtqueue_stats(vq);
	uint32_t maxn = MIN(e->num, MAX_SEGS), n, t, need, free0 = virtqueue_num_free(vq);
	uint64_t added0 = st->added, ind0 = st->indirect, fb0 = st->indirect_fallback;
	bool want_ind, got_ind;
	struct tok *tk;
	int how, rc;

	if (!e->nfree)
		return false;
	t = e->free_list[e->nfree - 1];
	tk = &e->toks[t];
	switch (rnd_below(8)) {
	case 0 ... 3: n = 1; break;
	case 4 ... 5: n = MIN(2, maxn); break;
	default: n = 1 + rnd_below(maxn); break;
	}
	tk->nout = rnd_below(n + 1);
	tk->nin = n - tk->nout;
	for (uint32_t k = 0; k < n; k++)
		tk->len[k] = rnd_below(4) ? 1 + rnd_below(SEG_MAX) : 1;
	tok_fill(e->arena, tk, t);
	want_ind = e->indirect && n > 1 && n <= e->imax;
	need = want_ind && e->ind_out < e->tables ? 1 : n;

	how = n == 1 ? (int)rnd_below(3) : (int)rnd_below(2);
	if (how == 0)
		rc = add_with_sgs(vq, e->arena, tk, t);
	else if (how == 1)
		rc = add_piecewise(vq, e->arena, tk, t);
	else
		rc = virtqueue_add_buf_single(vq, seg_addr(e->arena, t, 0), tk->len[0],
					      tk->nout ? VQ_OUT : VQ_IN, tk);

	if (free0 < need) {
		if (rc != -ENOSPC)
			fail_msg("add (method %d, %u entries, %u free, need %u) = %d, expected "
				 "-ENOSPC",
				 how, n, free0, need, rc);
		assert_int_equal(virtqueue_num_free(vq), free0);
		assert_int_equal(st->added, added0);
		return false;
	}
	if (rc)
		fail_msg("add (method %d, %u entries: %u out %u in, %u free, need %u) = %d", how, n,
			 tk->nout, tk->nin, free0, need, rc);
	got_ind = st->indirect != ind0;
	if (got_ind != (want_ind && e->ind_out < e->tables))
		fail_msg("buffer of %u entries: indirect %d, expected %d (tables in use %u of %u)",
			 n, got_ind, want_ind && e->ind_out < e->tables, e->ind_out, e->tables);
	assert_int_equal(st->indirect_fallback - fb0, want_ind && e->ind_out >= e->tables);
	assert_int_equal(virtqueue_num_free(vq), free0 - need);
	assert_int_equal(st->added, added0 + 1);
	tk->indirect = got_ind;
	e->ind_out += got_ind;
	tk->outstanding = true;
	tk->completed = tk->popped = false;
	e->nfree--;
	e->posted++;
	return true;
}

static uint32_t tok_of(struct engine *e, struct vq_sim_buf *b)
{
	uintptr_t a;
	uint32_t t;
	struct tok *tk;

	assert_true(b->nsegs > 0);
	a = (uintptr_t)b->segs[0].addr;
	if (a < (uintptr_t)e->arena || a >= (uintptr_t)e->arena + (size_t)e->num * SLAB)
		fail_msg("device popped a buffer at %p that no token owns", (void *)a);
	t = (uint32_t)((a - (uintptr_t)e->arena) / SLAB);
	tk = &e->toks[t];
	if (!tk->outstanding || tk->popped)
		fail_msg("device popped token %u twice or never posted", t);
	if (b->nsegs != tk->nout + tk->nin)
		fail_msg("token %u: device sees %u segments, posted %u", t, b->nsegs,
			 tk->nout + tk->nin);
	for (uint32_t k = 0; k < b->nsegs; k++)
		if (b->segs[k].addr != seg_addr(e->arena, t, k) || b->segs[k].len != tk->len[k] ||
		    b->segs[k].write != (k >= tk->nout))
			fail_msg("token %u segment %u: device sees %p+%u w%d", t, k,
				 (void *)b->segs[k].addr, b->segs[k].len, b->segs[k].write);
	if (b->indirect != tk->indirect)
		fail_msg("token %u: ring says indirect %d, stats said %d", t, b->indirect,
			 tk->indirect);
	return t;
}

static uint32_t tok_index(struct engine *e, struct vq_sim_buf *b)
{
	return (uint32_t)(((uintptr_t)b->segs[0].addr - (uintptr_t)e->arena) / SLAB);
}

/* The device takes a buffer: checks it, reads it, writes a random prefix of its IN part. */
static void eng_pop_one(struct engine *e)
{
	struct vq_sim *s = &e->d->sim;
	struct vq_sim_buf *b = vq_sim_pop(s);
	uint8_t rbuf[MAX_SEGS * SEG_MAX];
	struct tok *tk;
	uint32_t t, w;

	if (!b)
		fail_msg("the device found no buffer where one was pending");
	t = tok_of(e, b);
	tk = &e->toks[t];
	assert_int_equal(vq_sim_read(s, b, rbuf, sizeof(rbuf)), tk->out_len);
	if (fnv(0xcbf29ce484222325ull, rbuf, tk->out_len) != tk->out_sum)
		fail_msg("token %u: the device read other data than the driver posted", t);
	tk->popped = true;
	tk->seed = (uint8_t)rnd();
	w = tk->in_len ? rnd_below((uint32_t)tk->in_len + 1) : 0;
	if (tk->in_len && rnd_below(4) == 0)
		w = (uint32_t)tk->in_len;
	for (uint32_t i = 0; i < w; i++)
		e->wbuf[i] = pat(tk->seed, i);
	assert_int_equal(vq_sim_write(s, b, e->wbuf, w), w);
	tk->expect_len = w;
}

/* The device uses up to n in-flight buffers: any order, or (IN_ORDER) in order, in batches. */
static void eng_complete_some(struct engine *e, uint32_t n)
{
	struct vq_sim *s = &e->d->sim;

	while (n && s->ninflight) {
		uint32_t m;

		if (!e->in_order) {
			struct vq_sim_buf *b = s->inflight[rnd_below(s->ninflight)];
			struct tok *tk = &e->toks[tok_index(e, b)];

			vq_sim_complete(s, b, tk->expect_len);
			tk->completed = true;
			e->uncollected++;
			n--;
			continue;
		}
		m = rnd_below(2) ? 1 : 1 + rnd_below(MIN(n, s->ninflight));
		for (uint32_t i = 0; i < m; i++) {
			struct vq_sim_buf *b = s->inflight[i];
			struct tok *tk = &e->toks[tok_index(e, b)];

			/* 2.7.9 / 2.8.8: skipped buffers count as used completely. */
			if (i + 1 < m && tk->expect_len != tk->in_len) {
				for (uint32_t j = 0; j < tk->in_len; j++)
					e->wbuf[j] = pat(tk->seed, j);
				vq_sim_write(s, b, e->wbuf, (uint32_t)tk->in_len);
				tk->expect_len = (uint32_t)tk->in_len;
			}
			tk->completed = true;
		}
		if (m == 1)
			vq_sim_complete(s, s->inflight[0],
					e->toks[tok_index(e, s->inflight[0])].expect_len);
		else
			vq_sim_complete_batch(s, m,
					      e->toks[tok_index(e, s->inflight[m - 1])].expect_len);
		e->uncollected += m;
		n -= m;
	}
}

/* The driver takes back up to max used buffers, checking each. */
static void eng_collect(struct engine *e, uint32_t max)
{
	struct virtqueue *vq = e->d->vq;

	while (max--) {
		struct tok *tk;
		uint32_t len, t;

		if (virtqueue_more_used(vq) != (e->uncollected > 0))
			fail_msg("more_used %d with %u used buffers not collected",
				 virtqueue_more_used(vq), e->uncollected);
		tk = virtqueue_get_buf(vq, &len);
		if (!tk) {
			if (e->uncollected)
				fail_msg("get_buf: NULL with %u used buffers waiting",
					 e->uncollected);
			return;
		}
		if (tk < e->toks || tk >= e->toks + e->num)
			fail_msg("get_buf returned %p, not a token", (void *)tk);
		t = (uint32_t)(tk - e->toks);
		if (!tk->outstanding || !tk->completed)
			fail_msg("get_buf returned token %u: outstanding %d, used %d", t,
				 tk->outstanding, tk->completed);
		if (len != tk->expect_len)
			fail_msg("token %u: len %u, the device wrote %u (in_len %llu)", t, len,
				 tk->expect_len, (unsigned long long)tk->in_len);
		tok_check(e->arena, tk, t);
		tk->outstanding = tk->completed = tk->popped = false;
		e->ind_out -= tk->indirect;
		e->uncollected--;
		e->returned++;
		e->free_list[e->nfree++] = t;
	}
}

/* Randomise the device's notification suppression near the driver's position. */
static void sim_random_kick_suppression(struct vq_sim *s)
{
	uint64_t nw = vq_sim_driver_avail(s);

	if (s->layout == VQ_SPLIT) {
		if (s->event_idx) {
			uint16_t span = (uint16_t)(nw - s->kick_old);

			vq_sim_set_avail_event(s,
					       (uint16_t)(s->kick_old - 2 + rnd_below(span + 6u)));
		} else {
			vq_sim_set_no_notify(s, rnd_below(2));
		}
	} else {
		uint32_t r = rnd_below(s->event_idx ? 4 : 2);

		if (r < 2) {
			vq_sim_set_device_event(s,
						r ? VRING_PACKED_EVENT_FLAG_DISABLE
						  : VRING_PACKED_EVENT_FLAG_ENABLE,
						(uint16_t)rnd());
		} else {
			uint64_t lo = nw - MIN(nw, s->num - 1), c;

			if (s->kick_old > lo && rnd_below(2))
				lo = s->kick_old;
			c = lo + rnd_below((uint32_t)(nw - lo) + 3);
			vq_sim_set_device_event(
				s, VRING_PACKED_EVENT_FLAG_DESC,
				(uint16_t)(vq_sim_off(s, c) |
					   vq_sim_wrap(s, c) << VRING_PACKED_EVENT_F_WRAP_CTR));
		}
	}
}

/* kick_prepare/kick must say exactly what the spec says; returns the decision. */
static bool check_kick(struct dev *d, bool use_kick)
{
	struct vq_sim *s = &d->sim;
	uint64_t k0 = s->kicks, old = s->kick_old;
	int exp = vq_sim_kick_expected(s);
	bool got = use_kick ? virtqueue_kick(d->vq) : virtqueue_kick_prepare(d->vq);

	if (exp >= 0 && got != exp) {
		if (s->layout == VQ_SPLIT)
			fail_msg("kick%s = %d, the spec says %d: avail idx %u -> %u, used flags "
				 "%#x, "
				 "avail_event %u",
				 use_kick ? "" : "_prepare", got, exp, (uint16_t)old,
				 (uint16_t)s->kick_old, le16_to_cpu(s->used->flags),
				 le16_to_cpu(*vring_avail_event(s->used, s->num)));
		fail_msg("kick%s = %d, the spec says %d: slots %llu -> %llu (num %u), device "
			 "event flags %u off_wrap %#x",
			 use_kick ? "" : "_prepare", got, exp, (unsigned long long)old,
			 (unsigned long long)s->kick_old, s->num, le16_to_cpu(s->device_ev->flags),
			 le16_to_cpu(s->device_ev->off_wrap));
	}
	assert_int_equal(s->kicks - k0, use_kick ? got : 0);
	return got;
}

static void eng_step(struct engine *e)
{
	struct vq_sim *s = &e->d->sim;
	struct virtqueue *vq = e->d->vq;
	uint32_t burst = 1 + rnd_below(MIN(e->num, 32)), pend, n;

	for (uint32_t i = 0; i < burst; i++)
		if (!eng_post(e))
			break;
	if (rnd_below(2)) {
		sim_random_kick_suppression(s);
		check_kick(e->d, rnd_below(2));
	}
	pend = vq_sim_pending(s);
	n = rnd_below(4) ? pend : rnd_below(pend + 1);
	for (uint32_t i = 0; i < n; i++)
		eng_pop_one(e);
	eng_complete_some(e, rnd_below(4) ? s->ninflight : rnd_below(s->ninflight + 1));
	if (rnd_below(2))
		vq_sim_signal(s);
	eng_collect(e, rnd_below(4) ? UINT32_MAX : rnd_below(e->uncollected + 1));
	switch (rnd_below(6)) {
	case 0: virtqueue_disable_cb(vq); break;
	case 1:
		if (virtqueue_enable_cb(vq) != (e->uncollected == 0))
			fail_msg("enable_cb = %d with %u used buffers waiting", !e->uncollected,
				 e->uncollected);
		break;
	case 2:
		if (virtqueue_enable_cb_delayed(vq) != (e->uncollected == 0))
			fail_msg("enable_cb_delayed = %d with %u used buffers waiting",
				 !e->uncollected, e->uncollected);
		break;
	default: break;
	}
}

/* Everything back: the device uses all, the driver collects all. */
static void eng_drain(struct engine *e)
{
	struct vq_sim *s = &e->d->sim;
	const struct vq_stats *st = virtqueue_stats(e->d->vq);

	while (e->nfree < e->num) {
		uint32_t pend = vq_sim_pending(s);

		for (uint32_t i = 0; i < pend; i++)
			eng_pop_one(e);
		eng_complete_some(e, s->ninflight);
		vq_sim_signal(s);
		eng_collect(e, UINT32_MAX);
		if (!pend && !s->ninflight && e->nfree < e->num)
			fail_msg("%u buffers outstanding that the device cannot see",
				 e->num - e->nfree);
	}
	assert_int_equal(virtqueue_num_free(e->d->vq), e->num);
	assert_int_equal(e->ind_out, 0);
	assert_int_equal(st->added, e->posted);
	assert_int_equal(st->used, e->returned);
	assert_int_equal(st->kicks, s->kicks);
	assert_int_equal(st->interrupts, s->interrupts);
	/* the callback runs only when something is waiting: not for interrupts after a drain */
	assert_true(e->d->callbacks <= s->interrupts);
	assert_false(virtqueue_is_broken(e->d->vq));
}

/* Steps until target buffers came back; a driver that stops making progress fails, not hangs. */
static void eng_run(struct engine *e, uint64_t target)
{
	uint64_t last = e->returned, idle = 0;

	while (e->returned < target) {
		eng_step(e);
		if (e->returned != last) {
			last = e->returned;
			idle = 0;
		} else if (++idle > 10000) {
			fail_msg("no buffer came back in 10000 steps: %u outstanding, %u pending "
				 "for "
				 "the device, %u in flight, num_free %u",
				 e->num - e->nfree, vq_sim_pending(&e->d->sim), e->d->sim.ninflight,
				 virtqueue_num_free(e->d->vq));
		}
	}
}

static void run_roundtrips(struct ctx *c, uint32_t num, uint64_t features, uint16_t tables,
			   uint16_t imax, uint64_t rounds)
{
	struct engine *e = ctx_alloc(c, sizeof(*e));

	eng_init(c, e, &c->d[0], num, features, tables, imax);
	eng_run(e, rounds);
	eng_drain(e);
	eng_fini(c, e);
	ctx_free(c, e);
}

/* Tests */

/* vring_need_event (2.7.10): event in [old, new) modulo 2^16. */
static void test_need_event(void **state)
{
	static const struct {
		uint16_t ev, nw, old;
		int want;
	} cases[] = {
		{0, 1, 0, 1},	      {1, 1, 0, 0},	    {5, 10, 5, 1},
		{9, 10, 5, 1},	      {10, 10, 5, 0},	    {4, 10, 5, 0},
		{65535, 0, 65535, 1}, {65535, 1, 65534, 1}, {0, 1, 65535, 1},
		{1, 1, 65535, 0},     {65534, 1, 65535, 0}, {65533, 3, 65533, 1},
		{2, 3, 65533, 1},     {3, 3, 65533, 0},	    {7, 7, 7, 0},
		{6, 7, 7, 0},	      {0, 0, 0, 0},	    {32768, 32769, 32768, 1},
	};

	(void)state;
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++)
		if (!!vring_need_event(cases[i].ev, cases[i].nw, cases[i].old) != cases[i].want)
			fail_msg("vring_need_event(%u, %u, %u) != %d", cases[i].ev, cases[i].nw,
				 cases[i].old, cases[i].want);
	for (int i = 0; i < 200000; i++) {
		uint16_t old = (uint16_t)rnd(), nw = (uint16_t)(old + rnd_below(64)),
			 ev = (uint16_t)(old + rnd_below(96) - 16);
		int want = (uint16_t)(ev - old) < (uint16_t)(nw - old);

		if (!!vring_need_event(ev, nw, old) != want)
			fail_msg("vring_need_event(%u, %u, %u) != %d", ev, nw, old, want);
	}
}

static void test_create(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct virtqueue *vq = NULL;
	struct vq_config cfg;
	static const uint32_t bad_split[] = {0, 3, 6, 100, 32769, 65536, 1u << 20};
	static const uint32_t bad_packed[] = {0, 32769, 65536};
	bool pk = is_packed(c);
	struct vq_ring_addrs a;

	for (unsigned i = 0; i < (pk ? ARRAY_SIZE(bad_packed) : ARRAY_SIZE(bad_split)); i++) {
		cfg = cfg_make(d, pk ? bad_packed[i] : bad_split[i], c->p->features);
		vq = NULL;
		if (virtqueue_create(&cfg, &vq) != -EINVAL)
			fail_msg("create with num %u did not fail with -EINVAL", cfg.num);
		assert_null(vq);
	}
	/* The largest ring, and (packed) sizes that are not powers of two. */
	dev_start(d, 32768, c->p->features);
	assert_int_equal(virtqueue_num_free(d->vq), 32768);
	if (pk) {
		dev_start(d, 3, c->p->features);
		assert_int_equal(virtqueue_num(d->vq), 3);
	}
	dev_start(d, pk ? 5 : 4, c->p->features | F(EVENT_IDX));
	assert_int_equal(virtqueue_layout(d->vq), pk ? VQ_PACKED : VQ_SPLIT);
	assert_int_equal(virtqueue_num(d->vq), pk ? 5 : 4);
	assert_int_equal(virtqueue_num_free(d->vq), pk ? 5 : 4);
	assert_int_equal(virtqueue_index(d->vq), 3);
	assert_ptr_equal(virtqueue_priv(d->vq), &d->sim);
	assert_string_equal(virtqueue_name(d->vq), "testq");
	assert_false(virtqueue_is_broken(d->vq));
	assert_null(virtqueue_broken_reason(d->vq));
	assert_false(virtqueue_more_used(d->vq));
	{
		uint32_t len;

		assert_null(virtqueue_get_buf(d->vq, &len));
	}
	/* Legacy split alignment: the used ring on a 4096-byte boundary (4.1.5.1.3). */
	if (!pk) {
		cfg = cfg_make(d, 64, c->p->features);
		cfg.ring_align = 4096;
		dev_start_cfg(d, &cfg);
		virtqueue_ring_addrs(d->vq, &a);
		assert_int_equal(a.device % 4096, 0);
		run_roundtrips(c, 64, c->p->features, 0, 0, 2000);
	}
	/* The transport can break a queue. */
	dev_start(d, 8, c->p->features);
	virtqueue_mark_broken(d->vq, "transport says so");
	assert_true(virtqueue_is_broken(d->vq));
	assert_non_null(virtqueue_broken_reason(d->vq));
	assert_int_equal(virtqueue_add_buf_single(d->vq, &cfg, 4, VQ_OUT, &cfg), -EIO);
}

/*
 * The sim's own checks: rings forged the way a broken driver would write
 * them must be refused (the sim traps instead of failing the test here).
 */
#define EXPECT_BAD(s, call, substr)                                                           \
	do {                                                                                  \
		jmp_buf jb_;                                                                  \
		(s)->trap = &jb_;                                                             \
		if (setjmp(jb_) == 0) {                                                       \
			call;                                                                 \
			(s)->trap = NULL;                                                     \
			fail_msg("the sim accepted an invalid ring: %s (%s)", substr, #call); \
		}                                                                             \
		(s)->trap = NULL;                                                             \
		if (!strstr((s)->error, substr))                                              \
			fail_msg("the sim said \"%s\", expected \"%s\"", (s)->error, substr); \
	} while (0)

static uint8_t forge_buf[256];

static void forge_desc(struct vq_sim *s, uint16_t i, uint32_t len, uint16_t flags, uint16_t next)
{
	s->desc[i].addr = cpu_to_le64((uintptr_t)forge_buf);
	s->desc[i].len = cpu_to_le32(len);
	s->desc[i].flags = cpu_to_le16(flags);
	s->desc[i].next = cpu_to_le16(next);
}

static void forge_avail(struct vq_sim *s, uint16_t head, uint16_t bump)
{
	s->avail->ring[le16_to_cpu(s->avail->idx) % s->num] = cpu_to_le16(head);
	s->avail->idx = cpu_to_le16((uint16_t)(le16_to_cpu(s->avail->idx) + bump));
}

/* packed: a descriptor made available in the first lap (wrap counter 1) */
static void forge_pdesc(struct vq_sim *s, uint16_t slot, uint32_t len, uint16_t id, uint16_t flags)
{
	s->pdesc[slot].addr = cpu_to_le64((uintptr_t)forge_buf);
	s->pdesc[slot].len = cpu_to_le32(len);
	s->pdesc[slot].id = cpu_to_le16(id);
	s->pdesc[slot].flags = cpu_to_le16(flags | (1u << VRING_PACKED_DESC_F_AVAIL));
}

static void test_sim_catches(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_sim *s = &d->sim;
	uint64_t f = c->p->features;
	struct vring_desc *tab = (struct vring_desc *)(forge_buf + 64);
	struct vring_packed_desc *ptab = (struct vring_packed_desc *)(forge_buf + 64);

	if (!is_packed(c)) {
		dev_start(d, 8, f);
		s->avail->idx = cpu_to_le16(9);
		EXPECT_BAD(s, vq_sim_pop(s), "ahead of the device");
		dev_start(d, 8, f);
		forge_avail(s, 8, 1);
		EXPECT_BAD(s, vq_sim_pop(s), "names descriptor 8");
		dev_start(d, 8, f);
		forge_desc(s, 0, 1, VRING_DESC_F_NEXT, 1);
		forge_desc(s, 1, 1, VRING_DESC_F_NEXT, 0);
		forge_avail(s, 0, 1);
		EXPECT_BAD(s, vq_sim_pop(s), "loop");
		dev_start(d, 8, f);
		forge_desc(s, 0, 16, VRING_DESC_F_INDIRECT, 0);
		forge_avail(s, 0, 1);
		EXPECT_BAD(s, vq_sim_pop(s), "without VIRTIO_F_INDIRECT_DESC");
		dev_start(d, 8, f | F(INDIRECT_DESC));
		forge_desc(s, 0, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
		s->desc[0].addr = cpu_to_le64((uintptr_t)tab);
		tab[0] = (struct vring_desc){cpu_to_le64((uintptr_t)forge_buf), 1, 0, 0};
		forge_avail(s, 0, 1);
		EXPECT_BAD(s, vq_sim_pop(s), "both INDIRECT and NEXT");
		dev_start(d, 8, f | F(INDIRECT_DESC));
		forge_desc(s, 0, 24, VRING_DESC_F_INDIRECT, 0);
		s->desc[0].addr = cpu_to_le64((uintptr_t)tab);
		forge_avail(s, 0, 1);
		EXPECT_BAD(s, vq_sim_pop(s), "multiple of 16");
		dev_start(d, 8, f);
		forge_desc(s, 0, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		forge_desc(s, 1, 1, 0, 0);
		forge_avail(s, 0, 1);
		EXPECT_BAD(s, vq_sim_pop(s), "device-readable descriptor after");
		dev_start(d, 8, f);
		forge_desc(s, 0, 0, 0, 0);
		forge_avail(s, 0, 1);
		EXPECT_BAD(s, vq_sim_pop(s), "zero-length");
		dev_start(d, 8, f | F(IN_ORDER));
		forge_desc(s, 3, 1, 0, 0);
		forge_avail(s, 3, 1);
		EXPECT_BAD(s, vq_sim_pop(s), "IN_ORDER: head 3");
		dev_start(d, 8, f);
		forge_desc(s, 0, 1, 0, 0);
		forge_avail(s, 0, 1);
		assert_non_null(vq_sim_pop(s));
		forge_avail(s, 0, 1);
		EXPECT_BAD(s, vq_sim_pop(s), "in flight");
		dev_start(d, 8, f);
		s->used->flags = cpu_to_le16(1);
		EXPECT_BAD(s, vq_sim_signal(s), "device area");
		dev_start(d, 8, f | F(EVENT_IDX));
		s->avail->flags = cpu_to_le16(VRING_AVAIL_F_NO_INTERRUPT);
		EXPECT_BAD(s, vq_sim_signal(s), "must be 0");
		return;
	}
	dev_start(d, 8, f);
	forge_pdesc(s, 1, 1, 0, 0);
	s->pdesc[1].flags = cpu_to_le16(1u << VRING_PACKED_DESC_F_USED); /* not available */
	forge_pdesc(s, 0, 1, 0, VRING_DESC_F_NEXT);
	EXPECT_BAD(s, vq_sim_pop(s), "not available");
	dev_start(d, 8, f | F(INDIRECT_DESC));
	forge_pdesc(s, 1, 16, 0, VRING_DESC_F_INDIRECT);
	forge_pdesc(s, 0, 1, 0, VRING_DESC_F_NEXT);
	EXPECT_BAD(s, vq_sim_pop(s), "INDIRECT descriptor inside a NEXT chain");
	dev_start(d, 8, f | F(INDIRECT_DESC));
	ptab[0] = (struct vring_packed_desc){cpu_to_le64((uintptr_t)forge_buf), 1, 0,
					     cpu_to_le16(VRING_DESC_F_NEXT)};
	forge_pdesc(s, 0, 16, 0, VRING_DESC_F_INDIRECT);
	s->pdesc[0].addr = cpu_to_le64((uintptr_t)ptab);
	EXPECT_BAD(s, vq_sim_pop(s), "only WRITE is allowed");
	dev_start(d, 8, f);
	forge_pdesc(s, 0, 1, 5, 0);
	assert_non_null(vq_sim_pop(s));
	forge_pdesc(s, 1, 1, 5, 0);
	EXPECT_BAD(s, vq_sim_pop(s), "already in flight");
	dev_start(d, 8, f);
	forge_pdesc(s, 0, 1, 8, 0);
	EXPECT_BAD(s, vq_sim_pop(s), "out of range");
	dev_start(d, 8, f);
	forge_pdesc(s, 1, 1, 0, 0);
	forge_pdesc(s, 0, 1, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT);
	EXPECT_BAD(s, vq_sim_pop(s), "device-readable descriptor after");
	dev_start(d, 8, f);
	s->driver_ev->flags = cpu_to_le16(3);
	EXPECT_BAD(s, vq_sim_signal(s), "reserved");
	dev_start(d, 8, f);
	s->driver_ev->flags = cpu_to_le16(VRING_PACKED_EVENT_FLAG_DESC);
	EXPECT_BAD(s, vq_sim_signal(s), "DESC without EVENT_IDX");
	dev_start(d, 8, f);
	s->device_ev->flags = cpu_to_le16(VRING_PACKED_EVENT_FLAG_DISABLE);
	EXPECT_BAD(s, vq_sim_signal(s), "device area");
}

/* Fill to -ENOSPC and drain, at every ring size. */
struct fd_state {
	uint8_t data[1025][8]; /* one more: the attempt that gets -ENOSPC */
	uint32_t expect[1025];
	uint8_t seen[1025];
};

static uint32_t fd_index(struct fd_state *f, const void *p)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)f->data;

	if (a < base || a >= base + sizeof(f->data))
		fail_msg("pointer %p is not one of ours", p);
	return (uint32_t)((a - base) / 8);
}

static void fill_drain_round(struct dev *d, struct fd_state *f, bool multi)
{
	struct virtqueue *vq = d->vq;
	struct vq_sim *s = &d->sim;
	uint32_t num = virtqueue_num(vq), n = 0, got = 0, len;
	bool in_order = d->features & F(IN_ORDER);
	struct vq_sim_buf *b;
	void *tok;
	int rc;

	for (;;) {
		assert_true(n <= num);
		if (multi && num >= 2 && n < num && rnd_below(2)) {
			DECLARE_SG(out, 1);
			DECLARE_SG(in, 2);

			sg_add(out, f->data[n], 2);
			sg_add(in, f->data[n] + 2, 2);
			if (num >= 3 && rnd_below(2))
				sg_add(in, f->data[n] + 4, 4);
			rc = virtqueue_add_sgs(vq, out, in, f->data[n]);
			f->expect[n] = in->num == 2 ? 6 : 2;
			if (rc == -ENOSPC)
				continue; /* then singles fill the rest */
		} else {
			rc = virtqueue_add_buf_single(vq, f->data[n], 8, n & 1 ? VQ_IN : VQ_OUT,
						      f->data[n]);
			f->expect[n] = n & 1 ? 1 + n % 8 : 0;
		}
		if (rc == -ENOSPC)
			break;
		if (rc)
			fail_msg("num %u: add %u = %d", num, n, rc);
		n++;
	}
	assert_int_equal(virtqueue_num_free(vq), 0);
	if (!multi)
		assert_int_equal(n, num);
	virtqueue_kick(vq);
	assert_int_equal(vq_sim_pending(s), n);
	for (uint32_t i = 0; i < n; i++) {
		b = vq_sim_pop(s);
		assert_non_null(b);
		fd_index(f, b->segs[0].addr);
	}
	assert_null(vq_sim_pop(s));
	while (s->ninflight) {
		uint32_t k = in_order ? 0 : rnd_below(s->ninflight);
		uint32_t i;

		b = s->inflight[k];
		i = fd_index(f, b->segs[0].addr);
		if (in_order && s->ninflight > 1 && rnd_below(2)) {
			/* batch of two: the first counts as fully written */
			f->expect[i] = (uint32_t)b->in_len;
			b = s->inflight[1];
			vq_sim_complete_batch(s, 2, f->expect[fd_index(f, b->segs[0].addr)]);
			continue;
		}
		vq_sim_complete(s, b, f->expect[i]);
	}
	vq_sim_signal(s);
	memset(f->seen, 0, sizeof(f->seen));
	while ((tok = virtqueue_get_buf(vq, &len)) != NULL) {
		uint32_t i = fd_index(f, tok);

		if (f->seen[i]++)
			fail_msg("num %u: token %u returned twice", num, i);
		if (len != f->expect[i])
			fail_msg("num %u: token %u len %u, expected %u", num, i, len, f->expect[i]);
		got++;
	}
	assert_int_equal(got, n);
	assert_int_equal(virtqueue_num_free(vq), num);
	assert_false(virtqueue_is_broken(vq));
}

static void test_fill_drain(void **state)
{
	struct ctx *c = *state;
	struct fd_state *f = ctx_alloc(c, sizeof(*f));
	struct dev *d = &c->d[0];
	bool pk = is_packed(c);

	for (uint32_t num = 1; num <= 1024; num = pk ? num + 1 : num * 2) {
		dev_start(d, num, c->p->features);
		fill_drain_round(d, f, false);
		fill_drain_round(d, f, false);
		dev_start(d, num, c->p->features | F(INDIRECT_DESC) | F(IN_ORDER) | F(EVENT_IDX));
		fill_drain_round(d, f, true);
		fill_drain_round(d, f, true);
	}
}

static uint64_t env_roundtrips(void)
{
	const char *v = getenv("VQ_ROUNDTRIPS");

	return v && *v ? strtoull(v, NULL, 0) : VQ_ROUNDTRIPS_DEFAULT;
}

/* Random shapes, methods, completion orders: every token back once, exact lengths and data. */
static void test_roundtrips(void **state)
{
	struct ctx *c = *state;
	bool pk = is_packed(c);
	static const uint32_t split_sizes[] = {1, 2, 16, 128}, packed_sizes[] = {1, 3, 17, 100};
	static const uint32_t weight[] = {1, 2, 3, 4}; /* of 10 */
	uint64_t per_layout = env_roundtrips() / 2, done = 0;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned combo = 0; combo < 8; combo++) {
		uint64_t f = c->p->features | (combo & 1 ? F(INDIRECT_DESC) : 0) |
			     (combo & 2 ? F(EVENT_IDX) : 0) | (combo & 4 ? F(IN_ORDER) : 0);

		for (unsigned i = 0; i < 4; i++) {
			uint32_t num = pk ? packed_sizes[i] : split_sizes[i];
			uint64_t rounds = per_layout / 8 * weight[i] / 10;

			if (!rounds)
				rounds = 1;
			run_roundtrips(c, num, f, i & 1 ? 2 : 0, i == 3 ? 4 : 0, rounds);
			done += rounds;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("%s: %llu round trips in %.1f s\n", c->p->name, (unsigned long long)done,
		      (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
}

/* Packed: wrap counters over thousands of wraps, chains straddling the ring end. */
static void test_packed_wraps(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	static const uint32_t sizes[] = {1, 2, 3, 5, 8};
	static uint8_t data[8][MAX_SEGS];

	for (unsigned si = 0; si < ARRAY_SIZE(sizes); si++) {
		for (int fv = 0; fv < 2; fv++) {
			uint32_t num = sizes[si];
			uint64_t ctr = 0, buffers = 0;
			struct vq_sim *s = &d->sim;

			dev_start(d, num, c->p->features | (fv ? F(IN_ORDER) : 0));
			while (ctr / num < 2000) {
				uint32_t n = 1 + rnd_below(num), len, nout = rnd_below(n + 1);
				DECLARE_SG(out, MAX_SEGS);
				DECLARE_SG(in, MAX_SEGS);
				void *tok = data[buffers % 8];
				struct vq_sim_buf *b;

				for (uint32_t k = 0; k < n; k++)
					sg_add(k < nout ? out : in, &data[buffers % 8][k], 1);
				assert_int_equal(virtqueue_add_sgs(d->vq, nout ? out : NULL,
								   nout < n ? in : NULL, tok),
						 0);
				/* The descriptors as written: AVAIL = wrap, USED = !wrap (2.8.1). */
				for (uint32_t k = 0; k < n; k++) {
					uint16_t fl = le16_to_cpu(s->pdesc[(ctr + k) % num].flags);
					unsigned w = vq_sim_wrap(s, ctr + k);

					if (!!(fl & (1u << VRING_PACKED_DESC_F_AVAIL)) != w ||
					    !!(fl & (1u << VRING_PACKED_DESC_F_USED)) == w ||
					    !!(fl & VRING_DESC_F_NEXT) != (k + 1 < n) ||
					    !!(fl & VRING_DESC_F_WRITE) != (k >= nout))
						fail_msg("num %u, slot counter %llu: flags %#x, "
							 "wrap %u, "
							 "entry %u of %u",
							 num, (unsigned long long)(ctr + k), fl, w,
							 k, n);
				}
				if (le16_to_cpu(s->pdesc[(ctr + n - 1) % num].id) >= num)
					fail_msg("buffer id %u out of range",
						 le16_to_cpu(s->pdesc[(ctr + n - 1) % num].id));
				ctr += n;
				b = vq_sim_pop(s);
				assert_non_null(b);
				assert_int_equal(b->ndesc, n);
				vq_sim_complete(s, b, (uint32_t)b->in_len);
				assert_ptr_equal(virtqueue_get_buf(d->vq, &len), tok);
				assert_int_equal(len, n - nout);
				assert_int_equal(virtqueue_num_free(d->vq), num);
				buffers++;
			}
			assert_int_equal(s->avail_ctr, ctr);
			assert_int_equal(s->used_ctr, ctr);
			/* And the random mix on the same small ring sizes. */
			run_roundtrips(c, num,
				       c->p->features | (fv ? F(IN_ORDER) : F(INDIRECT_DESC)), 0, 0,
				       3000 * num);
		}
	}
}

/* Rollback: the piecewise API failing at every step changes nothing. */

enum rb_op { RB_ADD, RB_END, RB_ABORT };
struct rb_step {
	enum rb_op op;
	enum vq_dir dir;
	uint32_t chain; /* entries in the chain passed */
	uint32_t arg;	/* nents argument (0: to the end of the chain) */
	int zero_at;	/* entry with length 0, or -1 */
	int expect;
};
struct rb_case {
	char name[64];
	uint32_t nents, nsg;
	uint32_t nsteps;
	struct rb_step step[8];
};

static uint8_t rb_data[4096];

static void rb_add_step(struct rb_case *k, enum rb_op op, enum vq_dir dir, uint32_t chain,
			uint32_t arg, int zero_at, int expect)
{
	struct rb_step *s = &k->step[k->nsteps++];

	assert_true(k->nsteps <= ARRAY_SIZE(k->step));
	s->op = op;
	s->dir = dir;
	s->chain = chain;
	s->arg = arg;
	s->zero_at = zero_at;
	s->expect = expect;
}

/* A deterministic history, identical on both queues: buffers in flight, ring offsets moved. */
static void rb_history(struct dev *d, int variant)
{
	struct virtqueue *vq = d->vq;
	struct vq_sim *s = &d->sim;
	uint32_t len, n = 3 + 2 * (uint32_t)variant;

	if (!variant)
		return;
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(virtqueue_add_buf_single(vq, rb_data + 16 * i, 4,
							  i % 2 ? VQ_IN : VQ_OUT,
							  rb_data + 2048 + i),
				 0);
	virtqueue_kick(vq);
	while (vq_sim_pop(s))
		;
	while (s->ninflight)
		vq_sim_complete(s, s->inflight[0], (uint32_t)s->inflight[0]->in_len);
	vq_sim_signal(s);
	for (uint32_t i = 0; i < n; i++)
		assert_non_null(virtqueue_get_buf(vq, &len));
	/* two left outstanding, one of them popped */
	assert_int_equal(virtqueue_add_buf_single(vq, rb_data + 512, 4, VQ_IN, rb_data + 3000), 0);
	{
		DECLARE_SG(o, 2);

		sg_add(o, rb_data + 520, 4);
		sg_add(o, rb_data + 530, 4);
		assert_int_equal(virtqueue_add_sgs(vq, o, NULL, rb_data + 3001), 0);
	}
	assert_non_null(vq_sim_pop(s));
}

struct rb_snap {
	uint8_t mem[16 * 64 + 512];
	size_t size;
	uint32_t num_free;
	struct vq_stats st;
};

static void rb_take(struct dev *d, struct rb_snap *sn)
{
	sn->size = vq_sim_driver_mem(&d->sim, sn->mem, sizeof(sn->mem));
	sn->num_free = virtqueue_num_free(d->vq);
	sn->st = *virtqueue_stats(d->vq);
}

static void rb_same(struct dev *d, const struct rb_snap *sn, const char *what)
{
	struct rb_snap now;

	rb_take(d, &now);
	if (now.num_free != sn->num_free)
		fail_msg("%s: num_free %u, was %u", what, now.num_free, sn->num_free);
	for (size_t i = 0; i < sn->size; i++)
		if (now.mem[i] != sn->mem[i])
			fail_msg("%s: ring byte %zu (of %zu: descriptors, then %s) changed %#x -> "
				 "%#x",
				 what, i, sn->size,
				 d->sim.layout == VQ_SPLIT ? "avail ring" : "driver event area",
				 sn->mem[i], now.mem[i]);
	if (now.st.added != sn->st.added || now.st.indirect != sn->st.indirect)
		fail_msg("%s: stats changed (added %llu -> %llu, indirect %llu -> %llu)", what,
			 (unsigned long long)sn->st.added, (unsigned long long)now.st.added,
			 (unsigned long long)sn->st.indirect, (unsigned long long)now.st.indirect);
}

/*
 * Twin queues have their own indirect tables: compare their driver-written
 * ring memory with each indirect descriptor's address replaced by the
 * table it points to. Returns the first differing byte, or -1.
 */
static long ring_diff(struct dev *A, struct dev *B)
{
	struct rb_snap sa, sb;
	bool pk = A->sim.layout == VQ_PACKED;
	size_t ndesc = A->sim.num;

	rb_take(A, &sa);
	rb_take(B, &sb);
	if (sa.size != sb.size)
		return 0;
	for (size_t i = 0; i < sa.size; i++) {
		if (sa.mem[i] == sb.mem[i])
			continue;
		if (i < ndesc * 16 && i % 16 < 8) {
			/* an address: equal if both are INDIRECT with the same table contents */
			size_t d = i / 16;
			uint16_t fa, fb;
			uint32_t la, lb;
			uint64_t aa, ab;

			memcpy(&fa, &sa.mem[d * 16 + (pk ? 14 : 12)], 2);
			memcpy(&fb, &sb.mem[d * 16 + (pk ? 14 : 12)], 2);
			memcpy(&la, &sa.mem[d * 16 + 8], 4);
			memcpy(&lb, &sb.mem[d * 16 + 8], 4);
			memcpy(&aa, &sa.mem[d * 16], 8);
			memcpy(&ab, &sb.mem[d * 16], 8);
			if ((fa & VRING_DESC_F_INDIRECT) && (fb & VRING_DESC_F_INDIRECT) &&
			    la == lb && !memcmp((void *)(uintptr_t)aa, (void *)(uintptr_t)ab, la)) {
				i = d * 16 + 7;
				continue;
			}
		}
		return (long)i;
	}
	return -1;
}

/* The same well-formed buffer on both queues: rings and results must stay identical. */
static void rb_twin_add(struct ctx *c, void *tok, const char *what)
{
	struct dev *A = &c->d[0], *B = &c->d[1];
	struct rb_snap sa, sb;
	struct vq_sim_buf *ba, *bb;
	uint32_t la, lb;
	bool ka, kb;
	long diff;

	for (int i = 0; i < 2; i++) {
		DECLARE_SG(o, 2);
		DECLARE_SG(in, 1);

		sg_add(o, rb_data + 1000, 5);
		sg_add(o, rb_data + 1010, 6);
		sg_add(in, rb_data + 1020, 7);
		assert_int_equal(virtqueue_add_sgs(c->d[i].vq, o, in, tok), 0);
	}
	rb_take(A, &sa);
	rb_take(B, &sb);
	assert_int_equal(sa.num_free, sb.num_free);
	diff = ring_diff(A, B);
	if (diff >= 0)
		fail_msg("%s: the next buffer lands differently in the ring than on a twin "
			 "queue that never saw the failed one: byte %ld of %zu (descriptor "
			 "%ld) is %#x, twin %#x",
			 what, diff, sa.size, diff / 16, sa.mem[diff], sb.mem[diff]);
	ka = virtqueue_kick_prepare(A->vq);
	kb = virtqueue_kick_prepare(B->vq);
	if (ka != kb)
		fail_msg("%s: kick_prepare differs after a rolled-back buffer (%d vs %d)", what, ka,
			 kb);
	while ((ba = vq_sim_pop(&A->sim)) != NULL) {
		bb = vq_sim_pop(&B->sim);
		assert_non_null(bb);
		assert_int_equal(ba->id, bb->id);
		assert_int_equal(ba->nsegs, bb->nsegs);
		assert_int_equal(ba->indirect, bb->indirect);
	}
	assert_null(vq_sim_pop(&B->sim));
	for (int i = 0; i < 2; i++) {
		struct vq_sim *s = &c->d[i].sim;

		while (s->ninflight)
			vq_sim_complete(s, s->inflight[0], (uint32_t)s->inflight[0]->in_len);
	}
	for (;;) {
		void *ta = virtqueue_get_buf(A->vq, &la), *tb = virtqueue_get_buf(B->vq, &lb);

		assert_ptr_equal(ta, tb);
		if (!ta)
			break;
		assert_int_equal(la, lb);
	}
	assert_int_equal(virtqueue_num_free(A->vq), virtqueue_num(A->vq));
	assert_int_equal(virtqueue_num_free(B->vq), virtqueue_num(B->vq));
}

static void run_rb_case(struct ctx *c, uint64_t features, int variant, const struct rb_case *k)
{
	struct dev *A = &c->d[0], *B = &c->d[1];
	uint32_t num = is_packed(c) ? 9 : 8;
	struct rb_snap sa;
	struct vq_config cfg;
	struct vq_buf b;
	char what[160];
	int rc;

	for (int i = 0; i < 2; i++) {
		cfg = cfg_make(&c->d[i], num, features);
		cfg.indirect_tables = 2;
		dev_start_cfg(&c->d[i], &cfg);
		rb_history(&c->d[i], variant);
	}
	rb_take(A, &sa);
	if (ring_diff(A, B) >= 0)
		fail_msg("twin queues differ before the test: the driver is not deterministic");

	snprintf(what, sizeof(what), "%s (features %#llx, history %d)", k->name,
		 (unsigned long long)features, variant);
	rc = virtqueue_start_buf(A->vq, &b, rb_data + 4000, k->nents, k->nsg);
	if (rc)
		fail_msg("%s: start_buf = %d", what, rc);
	for (uint32_t i = 0; i < k->nsteps; i++) {
		const struct rb_step *st = &k->step[i];
		struct sg_entry ent[MAX_SEGS];
		struct sg_ring r;

		switch (st->op) {
		case RB_ADD:
			sg_init(&r, ent, MAX_SEGS);
			for (uint32_t j = 0; j < st->chain; j++)
				sg_add(&r, rb_data + 64 * i + 8 * j,
				       (int)j == st->zero_at ? 0 : 3 + j);
			rc = virtqueue_add_sg(&b, &r, st->arg, st->dir);
			break;
		case RB_END: rc = virtqueue_end_buf(&b); break;
		case RB_ABORT:
			virtqueue_abort_buf(&b);
			rc = 0;
			break;
		}
		if (rc != st->expect)
			fail_msg("%s: step %u returned %d, expected %d", what, i, rc, st->expect);
		if (rc)
			break;
	}
	rb_same(A, &sa, what);
	rb_twin_add(c, rb_data + 4001, what);
	/* The indirect pool is whole again: both tables usable at once. */
	if (features & F(INDIRECT_DESC)) {
		uint64_t ind0 = virtqueue_stats(A->vq)->indirect;

		for (int i = 0; i < 2; i++) {
			DECLARE_SG(o, 2);

			sg_add(o, rb_data + 1100 + 16 * i, 4);
			sg_add(o, rb_data + 1108 + 16 * i, 4);
			assert_int_equal(virtqueue_add_sgs(A->vq, o, NULL, rb_data + 4010 + i), 0);
		}
		if (virtqueue_stats(A->vq)->indirect != ind0 + 2)
			fail_msg("%s: an indirect table leaked in the rollback", what);
	}
}

static void rb_cases(struct rb_case *cs, uint32_t *n)
{
	struct rb_case *k;

#define NEWCASE(nm, ne, ns)                                                                       \
	(k = &cs[(*n)++], memset(k, 0, sizeof(*k)), snprintf(k->name, sizeof(k->name), "%s", nm), \
	 k->nents = (ne), k->nsg = (ns))
	NEWCASE("too many entries", 3, 2);
	rb_add_step(k, RB_ADD, VQ_OUT, 2, 0, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 2, 0, -1, -EINVAL);
	NEWCASE("too many entries in the first call", 2, 1);
	rb_add_step(k, RB_ADD, VQ_OUT, 3, 0, -1, -EINVAL);
	NEWCASE("too many entries, nents given", 2, 2);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 1, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 2, 2, -1, -EINVAL);
	NEWCASE("OUT after IN", 3, 3);
	rb_add_step(k, RB_ADD, VQ_IN, 1, 0, -1, 0);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 0, -1, -EINVAL);
	NEWCASE("OUT after IN, late", 4, 4);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 0, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 1, 0, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 1, 0, -1, 0);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 0, -1, -EINVAL);
	NEWCASE("fewer entries at end_buf", 3, 2);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 0, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 1, 0, -1, 0);
	rb_add_step(k, RB_END, VQ_OUT, 0, 0, -1, -EINVAL);
	NEWCASE("fewer calls at end_buf", 3, 3);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 0, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 2, 0, -1, 0);
	rb_add_step(k, RB_END, VQ_OUT, 0, 0, -1, -EINVAL);
	NEWCASE("end_buf right after start_buf", 2, 1);
	rb_add_step(k, RB_END, VQ_OUT, 0, 0, -1, -EINVAL);
	NEWCASE("more add_sg calls than nsg", 3, 1);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 1, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 1, 0, -1, -EINVAL);
	NEWCASE("zero-length first entry", 2, 1);
	rb_add_step(k, RB_ADD, VQ_OUT, 2, 0, 0, -EINVAL);
	NEWCASE("zero-length later entry", 3, 2);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 0, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 2, 0, 1, -EINVAL);
	NEWCASE("zero-length single entry", 1, 1);
	rb_add_step(k, RB_ADD, VQ_IN, 1, 0, 0, -EINVAL);
	NEWCASE("chain shorter than nents", 3, 1);
	rb_add_step(k, RB_ADD, VQ_OUT, 2, 3, -1, -EINVAL);
	NEWCASE("chain shorter than nents, second call", 4, 2);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 1, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 2, 3, -1, -EINVAL);
	NEWCASE("abort after start_buf", 2, 2);
	rb_add_step(k, RB_ABORT, VQ_OUT, 0, 0, -1, 0);
	NEWCASE("abort after one add_sg", 2, 2);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 0, -1, 0);
	rb_add_step(k, RB_ABORT, VQ_OUT, 0, 0, -1, 0);
	NEWCASE("abort when complete", 2, 2);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 0, -1, 0);
	rb_add_step(k, RB_ADD, VQ_IN, 1, 0, -1, 0);
	rb_add_step(k, RB_ABORT, VQ_OUT, 0, 0, -1, 0);
	NEWCASE("abort single entry", 1, 1);
	rb_add_step(k, RB_ADD, VQ_OUT, 1, 0, -1, 0);
	rb_add_step(k, RB_ABORT, VQ_OUT, 0, 0, -1, 0);

	/* A 4-entry, 4-call buffer (OUT OUT IN IN) failing at call j, every kind of failure. */
	for (uint32_t j = 0; j < 4; j++) {
		static const enum vq_dir dirs[4] = {VQ_OUT, VQ_OUT, VQ_IN, VQ_IN};
		char nm[64];

		snprintf(nm, sizeof(nm), "zero length at call %u", j);
		NEWCASE(nm, 4, 4);
		for (uint32_t i = 0; i < j; i++)
			rb_add_step(k, RB_ADD, dirs[i], 1, 1, -1, 0);
		rb_add_step(k, RB_ADD, dirs[j], 1, 1, 0, -EINVAL);

		snprintf(nm, sizeof(nm), "too many entries at call %u", j);
		NEWCASE(nm, 4, 4);
		for (uint32_t i = 0; i < j; i++)
			rb_add_step(k, RB_ADD, dirs[i], 1, 1, -1, 0);
		rb_add_step(k, RB_ADD, dirs[j], 5 - j, 0, -1, -EINVAL);

		snprintf(nm, sizeof(nm), "short chain at call %u", j);
		NEWCASE(nm, 4, 4);
		for (uint32_t i = 0; i < j; i++)
			rb_add_step(k, RB_ADD, dirs[i], 1, 1, -1, 0);
		rb_add_step(k, RB_ADD, dirs[j], 1, 2, -1, -EINVAL);

		snprintf(nm, sizeof(nm), "one call too many after %u", j + 1);
		NEWCASE(nm, j + 2, j + 1);
		for (uint32_t i = 0; i <= j; i++)
			rb_add_step(k, RB_ADD, dirs[i], 1, 1, -1, 0);
		rb_add_step(k, RB_ADD, VQ_IN, 1, 1, -1, -EINVAL);

		snprintf(nm, sizeof(nm), "end_buf after %u of 4 calls", j);
		NEWCASE(nm, 4, 4);
		for (uint32_t i = 0; i < j; i++)
			rb_add_step(k, RB_ADD, dirs[i], 1, 1, -1, 0);
		rb_add_step(k, RB_END, VQ_OUT, 0, 0, -1, -EINVAL);

		snprintf(nm, sizeof(nm), "abort after %u of 4 calls", j);
		NEWCASE(nm, 4, 4);
		for (uint32_t i = 0; i < j; i++)
			rb_add_step(k, RB_ADD, dirs[i], 1, 1, -1, 0);
		rb_add_step(k, RB_ABORT, VQ_OUT, 0, 0, -1, 0);

		if (j > 0) {
			snprintf(nm, sizeof(nm), "OUT after IN at call %u", j);
			NEWCASE(nm, 4, 4);
			for (uint32_t i = 0; i < j; i++)
				rb_add_step(k, RB_ADD, VQ_IN, 1, 1, -1, 0);
			rb_add_step(k, RB_ADD, VQ_OUT, 1, 1, -1, -EINVAL);
		}
	}
#undef NEWCASE
}

static void test_rollback(void **state)
{
	struct ctx *c = *state;
	static struct rb_case cs[64];
	uint32_t n = 0;
	static const uint64_t fsets[] = {0, F(INDIRECT_DESC), F(IN_ORDER),
					 F(INDIRECT_DESC) | F(IN_ORDER) | F(EVENT_IDX)};

	rb_cases(cs, &n);
	assert_true(n <= ARRAY_SIZE(cs));
	for (unsigned f = 0; f < ARRAY_SIZE(fsets); f++)
		for (int variant = 0; variant < 3; variant++)
			for (uint32_t i = 0; i < n; i++)
				run_rb_case(c, c->p->features | fsets[f], variant, &cs[i]);
}

/*
 * virtqueue_add_sgs writes a buffer in one pass; start_buf + add_sg + end_buf
 * stage it. Twin queues, one per path, fed the same random buffers (chains of
 * several rings, empty rings, out-only, in-only, direct and indirect, a full
 * ring, zero-length entries) and completed the same way: every return code,
 * the driver area, every buffer as the device reads it (entries, direction,
 * id, slots, indirect or not), the counters and every completion must agree.
 */
static int piecewise_add(struct virtqueue *vq, const struct sg_ring *out, const struct sg_ring *in,
			 void *token, uint64_t pick)
{
	int nout = sg_count(out), nin = sg_count(in), rc;
	unsigned nsg = (nout > 0) + (nin > 0);
	struct vq_buf b;

	if (nsg == 0)
		return -EINVAL;
	rc = virtqueue_start_buf(vq, &b, token, (unsigned)(nout + nin), nsg);
	if (rc)
		return rc;
	/* nents 0 (to the chain's end) or the exact count: both mean the whole chain */
	if (nout > 0 && (rc = virtqueue_add_sg(&b, out, (pick & 1) ? (unsigned)nout : 0, VQ_OUT)))
		return rc;
	if (nin > 0 && (rc = virtqueue_add_sg(&b, in, (pick & 2) ? (unsigned)nin : 0, VQ_IN)))
		return rc;
	return virtqueue_end_buf(&b);
}

/* A random chain of up to 3 rings (some empty) holding n entries into rb_data. */
static struct sg_ring *random_chain(struct sg_ring *rings, struct sg_entry (*ents)[4], unsigned n,
				    bool zero_len)
{
	unsigned nr = 1 + rnd_below(3), used = 0;

	if (n == 0)
		return NULL;
	for (unsigned r = 0; r < nr; r++) {
		sg_init(&rings[r], ents[r], 4);
		rings[r].next = r + 1 < nr ? &rings[r + 1] : NULL;
	}
	for (unsigned k = 0; k < n; k++) {
		/* the last ring takes what the others left */
		unsigned r = used + 1 < nr && rnd_below(2) ? used + 1 : used;
		uint32_t len = zero_len && k == n - 1 ? 0 : 1 + rnd_below(300);

		if (rings[r].num == 4)
			r = r + 1 < nr ? r + 1 : r;
		if (rings[r].num == 4)
			return NULL; /* no room left: skip this one */
		used = r;
		sg_add(&rings[r], rb_data + rnd_below(3000), len);
	}
	return rings;
}

static void test_add_sgs_matches_piecewise(void **state)
{
	struct ctx *c = *state;
	struct dev *A = &c->d[0], *B = &c->d[1];
	static const uint64_t fsets[] = {0, F(INDIRECT_DESC), F(IN_ORDER),
					 F(INDIRECT_DESC) | F(IN_ORDER) | F(EVENT_IDX)};
	uint64_t compared = 0, indirect = 0, full = 0;

	for (unsigned f = 0; f < ARRAY_SIZE(fsets); f++) {
		uint32_t num = is_packed(c) ? 13 : 16;
		bool in_order = fsets[f] & F(IN_ORDER);

		for (int i = 0; i < 2; i++) {
			struct vq_config cfg = cfg_make(&c->d[i], num, c->p->features | fsets[f]);

			cfg.indirect_tables = 3;
			cfg.indirect_max = 6;
			dev_start_cfg(&c->d[i], &cfg);
		}
		for (unsigned step = 0; step < 3000; step++) {
			struct sg_ring ro[3], ri[3];
			struct sg_entry eo[3][4], ei[3][4];
			unsigned nout = rnd_below(5), nin = rnd_below(5);
			bool zero = rnd_below(40) == 0;
			struct sg_ring *out = random_chain(ro, eo, nout, zero && nout);
			struct sg_ring *in = random_chain(ri, ei, nin, zero && !nout);
			void *tok = rb_data + 3000 + step % 1000;
			struct vq_sim_buf *ba, *bb;
			struct rb_snap sa, sb;
			int ra, rb;

			if ((nout && !out) || (nin && !in))
				continue;
			ra = virtqueue_add_sgs(A->vq, out, in, tok);
			rb = piecewise_add(B->vq, out, in, tok, rnd());
			if (ra != rb)
				fail_msg("features %#llx step %u: add_sgs %d, piecewise %d",
					 (unsigned long long)fsets[f], step, ra, rb);
			full += ra == -ENOSPC;
			/* the driver area (split: the avail ring) byte for byte */
			rb_take(A, &sa);
			rb_take(B, &sb);
			assert_int_equal(sa.size, sb.size);
			for (size_t i = (size_t)num * 16; i < sa.size; i++)
				if (sa.mem[i] != sb.mem[i])
					fail_msg("features %#llx step %u: driver area byte %zu "
						 "differs",
						 (unsigned long long)fsets[f], step, i);
			assert_int_equal(virtqueue_num_free(A->vq), virtqueue_num_free(B->vq));
			assert_memory_equal(virtqueue_stats(A->vq), virtqueue_stats(B->vq),
					    sizeof(struct vq_stats));
			/* the device takes what is there: the same buffer, entry by entry */
			while ((ba = vq_sim_pop(&A->sim)) != NULL) {
				bb = vq_sim_pop(&B->sim);
				assert_non_null(bb);
				assert_int_equal(ba->id, bb->id);
				assert_int_equal(ba->ndesc, bb->ndesc);
				assert_int_equal(ba->pos, bb->pos);
				assert_int_equal(ba->indirect, bb->indirect);
				assert_int_equal(ba->out_len, bb->out_len);
				assert_int_equal(ba->in_len, bb->in_len);
				assert_int_equal(ba->nsegs, bb->nsegs);
				for (uint32_t k = 0; k < ba->nsegs; k++) {
					assert_ptr_equal(ba->segs[k].addr, bb->segs[k].addr);
					assert_int_equal(ba->segs[k].len, bb->segs[k].len);
					assert_int_equal(ba->segs[k].write, bb->segs[k].write);
				}
				compared++;
			}
			assert_null(vq_sim_pop(&B->sim));
			for (unsigned u = rnd_below(4); u > 0 && A->sim.ninflight; u--) {
				uint32_t k = in_order ? 0 : rnd_below(A->sim.ninflight);
				uint32_t len = (uint32_t)A->sim.inflight[k]->in_len;

				len = len ? rnd_below(len + 1) : 0;
				indirect += A->sim.inflight[k]->indirect;
				vq_sim_complete(&A->sim, A->sim.inflight[k], len);
				vq_sim_complete(&B->sim, B->sim.inflight[k], len);
			}
			for (;;) {
				uint32_t la, lb;
				void *ta = virtqueue_get_buf(A->vq, &la);
				void *tb = virtqueue_get_buf(B->vq, &lb);

				assert_ptr_equal(ta, tb);
				if (!ta)
					break;
				assert_int_equal(la, lb);
			}
		}
		assert_false(virtqueue_is_broken(A->vq));
	}
	/* the paths the comparison must have taken */
	assert_true(compared > 5000);
	assert_true(indirect > 100);
	assert_true(full > 50);
}

/*
 * virtqueue_add_bufs and virtqueue_get_bufs are add_buf_single and get_buf
 * for many buffers at once. Twin queues, A fed in bursts, B one buffer at a
 * time, the same random buffers (either direction, bursts of 0 to 12, some
 * larger than the free room, some with a bad entry) and completions (in
 * order, out of order, in-order batches): every return code, the whole
 * driver area (descriptors and avail ring or event areas) byte for byte,
 * every buffer as the device reads it, the counters, the tokens and lengths
 * taken back, in order, and the interrupt event must agree.
 */
/* The twins' driver areas byte for byte, their counters and free descriptors. */
static void twins_same(struct dev *A, struct dev *B, uint64_t fset, unsigned step,
		       const char *after)
{
	static struct rb_snap sa, sb;

	rb_take(A, &sa);
	rb_take(B, &sb);
	assert_int_equal(sa.size, sb.size);
	for (size_t i = 0; i < sa.size; i++)
		if (sa.mem[i] != sb.mem[i])
			fail_msg("features %#llx step %u: driver area byte %zu differs after %s",
				 (unsigned long long)fset, step, i, after);
	assert_memory_equal(&sa.st, &sb.st, sizeof(sa.st));
	assert_int_equal(sa.num_free, sb.num_free);
}

static void test_bursts_match_singles(void **state)
{
	struct ctx *c = *state;
	struct dev *A = &c->d[0], *B = &c->d[1];
	static const uint64_t fsets[] = {0, F(IN_ORDER), F(EVENT_IDX),
					 F(INDIRECT_DESC) | F(IN_ORDER) | F(EVENT_IDX)};
	uint64_t partial = 0, refused = 0, got_many = 0, batches = 0, compared = 0;

	for (unsigned f = 0; f < ARRAY_SIZE(fsets); f++) {
		uint32_t num = is_packed(c) ? 13 : 16;
		bool in_order = fsets[f] & F(IN_ORDER);

		dev_start(A, num, c->p->features | fsets[f]);
		dev_start(B, num, c->p->features | fsets[f]);
		for (unsigned step = 0; step < 3000; step++) {
			struct vq_single bufs[12];
			unsigned n = rnd_below(13), nb = 0;
			void *ta[16], *tb[16];
			uint32_t la[16], lb[16];
			struct vq_sim_buf *ba, *bb;
			int ra, rb = 0;

			for (unsigned k = 0; k < n; k++) {
				bufs[k] = (struct vq_single){
					.addr = rb_data + rnd_below(3000),
					.len = 1 + rnd_below(300),
					.dir = rnd_below(2) ? VQ_IN : VQ_OUT,
					.token = rb_data + 3000 + (step * 12 + k) % 1000,
				};
			}
			if (n && rnd_below(30) == 0) {
				unsigned k = rnd_below(n), how = rnd_below(3);

				if (how == 0)
					bufs[k].token = NULL;
				else if (how == 1)
					bufs[k].len = 0;
				else
					bufs[k].dir = (enum vq_dir)7;
			}
			ra = virtqueue_add_bufs(A->vq, bufs, n);
			if (ra == -EINVAL) {
				refused++;
			} else {
				for (; nb < n; nb++) {
					rb = virtqueue_add_buf_single(B->vq, bufs[nb].addr,
								      bufs[nb].len, bufs[nb].dir,
								      bufs[nb].token);
					if (rb)
						break;
				}
				if (nb == 0 && n > 0)
					assert_int_equal(ra, rb); /* -ENOSPC */
				else
					assert_int_equal(ra, (int)nb);
				partial += ra > 0 && (unsigned)ra < n;
			}
			assert_int_equal(virtqueue_kick(A->vq), virtqueue_kick(B->vq));
			twins_same(A, B, fsets[f], step, "adding");
			while ((ba = vq_sim_pop(&A->sim)) != NULL) {
				bb = vq_sim_pop(&B->sim);
				assert_non_null(bb);
				assert_int_equal(ba->id, bb->id);
				assert_int_equal(ba->pos, bb->pos);
				assert_int_equal(ba->nsegs, 1);
				assert_int_equal(bb->nsegs, 1);
				assert_ptr_equal(ba->segs[0].addr, bb->segs[0].addr);
				assert_int_equal(ba->segs[0].len, bb->segs[0].len);
				assert_int_equal(ba->segs[0].write, bb->segs[0].write);
				compared++;
			}
			assert_null(vq_sim_pop(&B->sim));
			/* the device uses some: one by one, out of order, or in-order batches */
			if (in_order && A->sim.ninflight > 1 && rnd_below(3) == 0) {
				uint32_t k = 1 + rnd_below(A->sim.ninflight);
				uint32_t len = (uint32_t)A->sim.inflight[k - 1]->in_len;

				len = len ? rnd_below(len + 1) : 0;
				vq_sim_complete_batch(&A->sim, k, len);
				vq_sim_complete_batch(&B->sim, k, len);
				batches++;
			} else {
				for (unsigned u = rnd_below(6); u > 0 && A->sim.ninflight; u--) {
					uint32_t k = in_order ? 0 : rnd_below(A->sim.ninflight);
					uint32_t len = (uint32_t)A->sim.inflight[k]->in_len;

					len = len ? rnd_below(len + 1) : 0;
					vq_sim_complete(&A->sim, A->sim.inflight[k], len);
					vq_sim_complete(&B->sim, B->sim.inflight[k], len);
				}
			}
			/* callbacks on now and then: the interrupt event is then written */
			if (rnd_below(4) == 0) {
				virtqueue_enable_cb(A->vq);
				virtqueue_enable_cb(B->vq);
			} else if (rnd_below(4) == 0) {
				virtqueue_disable_cb(A->vq);
				virtqueue_disable_cb(B->vq);
			}
			for (;;) {
				unsigned max = rnd_below(6), na, k;
				uint32_t *lp = rnd_below(4) ? la : NULL;

				na = virtqueue_get_bufs(A->vq, ta, lp, max);
				assert_true(na <= max);
				for (k = 0; k < max; k++) {
					tb[k] = virtqueue_get_buf(B->vq, &lb[k]);
					if (!tb[k])
						break;
				}
				assert_int_equal(na, k);
				for (k = 0; k < na; k++) {
					assert_ptr_equal(ta[k], tb[k]);
					if (lp)
						assert_int_equal(lp[k], lb[k]);
				}
				got_many += na > 1;
				if (max && na < max)
					break;
			}
			twins_same(A, B, fsets[f], step, "taking");
		}
		assert_false(virtqueue_is_broken(A->vq));
	}
	/* the paths the comparison must have taken */
	assert_true(compared > 5000);
	assert_true(partial > 50);
	assert_true(refused > 50);
	assert_true(got_many > 500);
	assert_true(batches > 50);
}

/* The bursts' own refusals: nothing changes. */
static void test_burst_errors(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	uint32_t num = is_packed(c) ? 5 : 4;
	struct vq_single bufs[8];
	void *tok[8];
	uint32_t lens[8];
	struct rb_snap sn;
	struct vq_buf b;

	dev_start(d, num, c->p->features);
	for (unsigned k = 0; k < 8; k++)
		bufs[k] = (struct vq_single){rb_data + 64 * k, 64, k % 2 ? VQ_IN : VQ_OUT,
					     rb_data + 1024 + k};
	rb_take(d, &sn);
	assert_int_equal(virtqueue_add_bufs(d->vq, bufs, 0), 0);
	assert_int_equal(virtqueue_get_bufs(d->vq, tok, lens, 8), 0);
	assert_int_equal(virtqueue_get_bufs(d->vq, tok, lens, 0), 0);
	bufs[3].token = NULL; /* a bad entry after the room runs out: still refused */
	assert_int_equal(virtqueue_add_bufs(d->vq, bufs, 8), -EINVAL);
	rb_same(d, &sn, "add_bufs with a NULL token");
	bufs[3].token = rb_data + 1027;
	/* an open piecewise buffer: -EBUSY, and get_bufs takes nothing */
	assert_int_equal(virtqueue_start_buf(d->vq, &b, tok, 1, 1), 0);
	assert_int_equal(virtqueue_add_bufs(d->vq, bufs, 2), -EBUSY);
	virtqueue_abort_buf(&b);
	rb_same(d, &sn, "add_bufs while building");
	/* more than the room: the first num, the rest untouched */
	assert_int_equal(virtqueue_add_bufs(d->vq, bufs, 8), (int)num);
	assert_int_equal(virtqueue_num_free(d->vq), 0);
	assert_int_equal(virtqueue_stats(d->vq)->added, num);
	rb_take(d, &sn);
	assert_int_equal(virtqueue_add_bufs(d->vq, bufs + num, 1), -ENOSPC);
	rb_same(d, &sn, "add_bufs on a full ring");
	virtqueue_kick(d->vq);
	while (vq_sim_pop(&d->sim))
		;
	while (d->sim.ninflight)
		vq_sim_complete(&d->sim, d->sim.inflight[0], (uint32_t)d->sim.inflight[0]->in_len);
	vq_sim_signal(&d->sim);
	assert_int_equal(virtqueue_get_bufs(d->vq, tok, lens, 2), 2);
	assert_ptr_equal(tok[0], bufs[0].token);
	assert_int_equal(lens[0], 0); /* nothing writable */
	assert_ptr_equal(tok[1], bufs[1].token);
	assert_int_equal(lens[1], 64);
	/* an open piecewise buffer: get_bufs takes nothing, as get_buf */
	assert_int_equal(virtqueue_start_buf(d->vq, &b, tok, 1, 1), 0);
	assert_int_equal(virtqueue_get_bufs(d->vq, tok, lens, 8), 0);
	virtqueue_abort_buf(&b);
	assert_int_equal(virtqueue_get_bufs(d->vq, tok, NULL, 8), num - 2);
	assert_int_equal(virtqueue_stats(d->vq)->used, num);
	assert_int_equal(virtqueue_num_free(d->vq), num);
	/* a broken queue refuses both */
	virtqueue_mark_broken(d->vq, "test");
	assert_int_equal(virtqueue_add_bufs(d->vq, bufs, 2), -EIO);
	assert_int_equal(virtqueue_get_bufs(d->vq, tok, lens, 2), 0);
	dev_stop(d);
}

/* -ENOSPC and -EINVAL from add: nothing changes. */
static void test_add_errors(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	uint32_t num = is_packed(c) ? 7 : 8;

	for (int ind = 0; ind < 2; ind++) {
		struct vq_config cfg =
			cfg_make(d, num, c->p->features | (ind ? F(INDIRECT_DESC) : 0));
		struct rb_snap sn;
		struct vq_buf b;

		cfg.indirect_tables = 2; /* the history holds one */
		dev_start_cfg(d, &cfg);
		rb_history(d, 1);
		/* fill to 3 free descriptors (2 outstanding from the history) */
		while (virtqueue_num_free(d->vq) > 3)
			assert_int_equal(
				virtqueue_add_buf_single(d->vq, rb_data, 1, VQ_OUT, rb_data + 1),
				0);
		if (ind) {
			/* the one table: a 4-entry buffer takes 1 descriptor */
			DECLARE_SG(o, 4);

			for (int i = 0; i < 4; i++)
				sg_add(o, rb_data + 8 * i, 4);
			assert_int_equal(virtqueue_add_sgs(d->vq, o, NULL, rb_data + 2), 0);
			assert_int_equal(virtqueue_num_free(d->vq), 2);
		}
		rb_take(d, &sn);
		{
			uint32_t fr = virtqueue_num_free(d->vq);
			DECLARE_SG(o, 8);

			for (uint32_t i = 0; i <= fr; i++)
				sg_add(o, rb_data + 8 * i, 4);
			assert_int_equal(virtqueue_add_sgs(d->vq, o, NULL, rb_data + 3), -ENOSPC);
			rb_same(d, &sn, "add_sgs with more entries than free descriptors");
			assert_int_equal(virtqueue_start_buf(d->vq, &b, rb_data + 3, fr + 1, 1),
					 -ENOSPC);
			rb_same(d, &sn, "start_buf with more entries than free descriptors");
			/* -EINVAL: NULL token, no entries, too many ever, both chains NULL */
			assert_int_equal(virtqueue_start_buf(d->vq, &b, NULL, 1, 1), -EINVAL);
			assert_int_equal(virtqueue_start_buf(d->vq, &b, rb_data, 0, 1), -EINVAL);
			if (!ind)
				assert_int_equal(
					virtqueue_start_buf(d->vq, &b, rb_data, num + 1, 1),
					-EINVAL);
			assert_int_equal(virtqueue_add_sgs(d->vq, NULL, NULL, rb_data), -EINVAL);
			assert_int_equal(virtqueue_add_sgs(d->vq, o, NULL, NULL), -EINVAL);
			assert_int_equal(virtqueue_add_buf_single(d->vq, rb_data, 4, VQ_OUT, NULL),
					 -EINVAL);
			assert_int_equal(
				virtqueue_add_buf_single(d->vq, rb_data, 0, VQ_OUT, rb_data),
				-EINVAL);
			rb_same(d, &sn, "invalid arguments");
			/* exactly what is free fits */
			o->num = fr;
			assert_int_equal(virtqueue_add_sgs(d->vq, o, NULL, rb_data + 3), 0);
			assert_int_equal(virtqueue_num_free(d->vq), 0);
			assert_int_equal(
				virtqueue_add_buf_single(d->vq, rb_data, 1, VQ_IN, rb_data),
				-ENOSPC);
		}
	}
}

/* Indirect or direct: which one the core picks, and the pool running dry. */
static void test_indirect_selection(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_config cfg = cfg_make(d, 16, c->p->features | F(INDIRECT_DESC));
	const struct vq_stats *st;
	struct vq_sim *s = &d->sim;
	struct vq_sim_buf *b;
	uint32_t len;

	cfg.indirect_tables = 2;
	cfg.indirect_max = 4;
	dev_start_cfg(d, &cfg);
	st = virtqueue_stats(d->vq);

#define ADD_N(n, tok)                                                           \
	do {                                                                    \
		DECLARE_SG(o_, 8);                                              \
		for (uint32_t i_ = 0; i_ < (n); i_++)                           \
			sg_add(o_, rb_data + 8 * i_, 4);                        \
		assert_int_equal(virtqueue_add_sgs(d->vq, o_, NULL, (tok)), 0); \
	} while (0)

	ADD_N(3, rb_data + 1); /* indirect: 1 descriptor */
	assert_int_equal(virtqueue_num_free(d->vq), 15);
	assert_int_equal(st->indirect, 1);
	ADD_N(1, rb_data + 2); /* single entry: direct */
	assert_int_equal(virtqueue_num_free(d->vq), 14);
	assert_int_equal(st->indirect, 1);
	ADD_N(4, rb_data + 3); /* = indirect_max: indirect, the last table */
	assert_int_equal(virtqueue_num_free(d->vq), 13);
	assert_int_equal(st->indirect, 2);
	assert_int_equal(st->indirect_fallback, 0);
	ADD_N(3, rb_data + 4); /* pool empty: direct */
	assert_int_equal(virtqueue_num_free(d->vq), 10);
	assert_int_equal(st->indirect, 2);
	assert_int_equal(st->indirect_fallback, 1);

	/* The device sees the same. */
	b = vq_sim_pop(s);
	assert_true(b->indirect && b->nsegs == 3 && b->ndesc == 1);
	b = vq_sim_pop(s);
	assert_true(!b->indirect && b->nsegs == 1 && b->ndesc == 1);
	b = vq_sim_pop(s);
	assert_true(b->indirect && b->nsegs == 4 && b->ndesc == 1);
	b = vq_sim_pop(s);
	assert_true(!b->indirect && b->nsegs == 3 && b->ndesc == 3);

	/* Using the first buffer gives its table back. */
	vq_sim_complete(s, s->inflight[0], 0);
	assert_ptr_equal(virtqueue_get_buf(d->vq, &len), rb_data + 1);
	assert_int_equal(virtqueue_num_free(d->vq), 11);
	ADD_N(5, rb_data + 5); /* > indirect_max: direct, not a fallback */
	assert_int_equal(virtqueue_num_free(d->vq), 6);
	assert_int_equal(st->indirect, 2);
	assert_int_equal(st->indirect_fallback, 1);
	ADD_N(2, rb_data + 6); /* the freed table */
	assert_int_equal(virtqueue_num_free(d->vq), 5);
	assert_int_equal(st->indirect, 3);
	b = vq_sim_pop(s);
	assert_true(!b->indirect && b->nsegs == 5 && b->ndesc == 5);
	b = vq_sim_pop(s);
	assert_true(b->indirect && b->nsegs == 2);

	/* Defaults: num / 2 tables of min(num, 128) entries. */
	dev_start(d, 16, c->p->features | F(INDIRECT_DESC));
	st = virtqueue_stats(d->vq);
	for (int i = 0; i < 8; i++)
		ADD_N(2, rb_data + 10 + i);
	assert_int_equal(st->indirect, 8);
	assert_int_equal(virtqueue_num_free(d->vq), 8);
	ADD_N(2, rb_data + 20);
	assert_int_equal(st->indirect, 8);
	assert_int_equal(st->indirect_fallback, 1);
	assert_int_equal(virtqueue_num_free(d->vq), 6);

	/* Without the feature: always direct. */
	dev_start(d, 16, c->p->features);
	st = virtqueue_stats(d->vq);
	ADD_N(3, rb_data + 30);
	assert_int_equal(virtqueue_num_free(d->vq), 13);
	assert_int_equal(st->indirect + st->indirect_fallback, 0);
	b = vq_sim_pop(s);
	assert_true(!b->indirect && b->ndesc == 3);
#undef ADD_N
}

/* Post k single-entry buffers (tokens from base) and have the device pop them all. */
static void post_pop(struct dev *d, uint32_t k, uint8_t *base, bool pop)
{
	for (uint32_t i = 0; i < k; i++)
		assert_int_equal(virtqueue_add_buf_single(d->vq, base + i, 1, VQ_IN, base + i), 0);
	if (pop)
		for (uint32_t i = 0; i < k; i++)
			assert_non_null(vq_sim_pop(&d->sim));
}

static void collect_all(struct dev *d, uint32_t expect)
{
	uint32_t len, n = 0;

	while (virtqueue_get_buf(d->vq, &len))
		if (++n > expect)
			fail_msg("get_buf returned more than the %u buffers used", expect);
	assert_int_equal(n, expect);
}

/* Available buffer notifications: kick_prepare exactly per spec, across index wraps. */
static void test_kick_suppression(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	static uint8_t buf[64];

	for (int ev = 0; ev < 2; ev++) {
		uint32_t num = is_packed(c) ? 7 : 8;
		uint64_t buffers = 0, yes = 0, no = 0;
		struct vq_sim *s = &d->sim;

		dev_start(d, num, c->p->features | (ev ? F(EVENT_IDX) : 0));
		vq_sim_kick_sync(s);
		while (buffers < 70000) {
			uint32_t k = 1 + rnd_below(3);

			post_pop(d, k, buf, false);
			buffers += k;
			if (rnd_below(3) == 0) {
				post_pop(d, 1, buf + 8, false); /* a second batch before the kick */
				k++;
				buffers++;
			}
			sim_random_kick_suppression(s);
			if (check_kick(d, rnd_below(2)))
				yes++;
			else
				no++;
			for (uint32_t i = 0; i < k; i++)
				assert_non_null(vq_sim_pop(s));
			while (s->ninflight)
				vq_sim_complete(s, s->inflight[0], 1);
			collect_all(d, k);
		}
		/* Both answers happened, and the split avail idx wrapped. */
		assert_true(yes > 1000 && no > 1000);
		if (!is_packed(c))
			assert_true(buffers > 65536);
		assert_int_equal(virtqueue_stats(d->vq)->kicks, s->kicks);
		assert_false(virtqueue_is_broken(d->vq));
	}
}

/*
 * Used buffer notifications as the device sees them: after enable_cb the
 * next use interrupts; after disable_cb nothing does; enable_cb_delayed
 * waits for about 3/4 of the outstanding buffers. Across index wraps.
 */
static void test_interrupt_suppression(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	static uint8_t buf[64];
	bool pk = is_packed(c);

	for (int ev = 0; ev < 2; ev++) {
		uint32_t num = pk ? 7 : 8;
		uint64_t buffers = 0;
		struct vq_sim *s = &d->sim;

		dev_start(d, num, c->p->features | (ev ? F(EVENT_IDX) : 0));
		while (buffers < 70000) {
			uint32_t m = 1 + rnd_below(num), mode = rnd_below(3), first = 0, total = 0;
			bool r;

			post_pop(d, m, buf, true);
			buffers += m;
			switch (mode) {
			case 0: r = virtqueue_enable_cb(d->vq); break;
			case 1:
				virtqueue_disable_cb(d->vq);
				r = true;
				break;
			default: r = virtqueue_enable_cb_delayed(d->vq); break;
			}
			if (!r)
				fail_msg("enable_cb%s = false with nothing used",
					 mode == 2 ? "_delayed" : "");
			s->signalled = s->used_ctr;
			for (uint32_t i = 1; i <= m; i++) {
				vq_sim_complete(s, s->inflight[0], 0);
				if (vq_sim_signal(s)) {
					total++;
					if (!first)
						first = i;
				}
			}
			switch (mode) {
			case 0:
				if (first != 1)
					fail_msg("after enable_cb, first interrupt at use %u of %u",
						 first, m);
				/* split EVENT_IDX: used_event names exactly the next entry */
				if (ev && !pk && total != 1)
					fail_msg("EVENT_IDX: %u interrupts for %u uses after one "
						 "enable_cb",
						 total, m);
				if (!ev && total != m)
					fail_msg("no EVENT_IDX: %u interrupts for %u uses", total,
						 m);
				break;
			case 1:
				if (total)
					fail_msg("after disable_cb: %u interrupts for %u uses "
						 "(buffers so far %llu)",
						 total, m, (unsigned long long)buffers);
				break;
			default:
				if (!ev && first != 1)
					fail_msg("enable_cb_delayed without EVENT_IDX: first "
						 "interrupt "
						 "at use %u",
						 first);
				if (ev && (first < (m + 1) / 2 || first > m || !first))
					fail_msg("enable_cb_delayed: first interrupt at use %u of "
						 "%u",
						 first, m);
				break;
			}
			assert_int_equal(d->callbacks, s->interrupts);
			collect_all(d, m);
		}
		assert_int_equal(virtqueue_stats(d->vq)->interrupts, s->interrupts);
	}
}

/* enable_cb returns false while used buffers wait; enable_cb_prepare + poll. */
static void test_enable_cb_and_poll(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	static uint8_t buf[64];
	uint32_t len;

	for (int ev = 0; ev < 2; ev++) {
		struct vq_sim *s = &d->sim;
		uint32_t num = is_packed(c) ? 5 : 4;

		dev_start(d, num, c->p->features | (ev ? F(EVENT_IDX) : 0));
		for (int iter = 0; iter < 40000; iter++) {
			unsigned pos;

			/* two posted, one used: enable_cb must report it */
			post_pop(d, 2, buf, true);
			vq_sim_complete(s, s->inflight[0], 1);
			assert_true(virtqueue_more_used(d->vq));
			assert_false(virtqueue_enable_cb(d->vq));
			assert_ptr_equal(virtqueue_get_buf(d->vq, &len), buf);
			assert_int_equal(len, 1);
			assert_true(virtqueue_enable_cb(d->vq));
			/* all used: enable_cb_delayed must report them too */
			vq_sim_complete(s, s->inflight[0], 0);
			assert_false(virtqueue_enable_cb_delayed(d->vq));
			assert_ptr_equal(virtqueue_get_buf(d->vq, &len), buf + 1);
			assert_true(virtqueue_enable_cb_delayed(d->vq));

			/* prepare/poll */
			post_pop(d, 1, buf + 2, true);
			virtqueue_disable_cb(d->vq);
			s->signalled = s->used_ctr;
			pos = virtqueue_enable_cb_prepare(d->vq);
			assert_false(virtqueue_poll(d->vq, pos));
			vq_sim_complete(s, s->inflight[0], 0);
			assert_true(virtqueue_poll(d->vq, pos));
			assert_true(vq_sim_signal(s)); /* prepare enabled interrupts */
			assert_ptr_equal(virtqueue_get_buf(d->vq, &len), buf + 2);
			pos = virtqueue_enable_cb_prepare(d->vq);
			assert_false(virtqueue_poll(d->vq, pos));
			assert_false(virtqueue_more_used(d->vq));
		}
		assert_false(virtqueue_is_broken(d->vq));
	}
}

/*
 * virtqueue.h: enable_cb_delayed "Returns: as virtqueue_enable_cb", i.e.
 * false if buffers are already waiting, with or without EVENT_IDX.
 */
static void test_enable_cb_delayed_pending(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	static uint8_t buf[64];
	uint32_t len;

	for (int ev = 0; ev < 2; ev++) {
		dev_start(d, 8, c->p->features | (ev ? F(EVENT_IDX) : 0));
		post_pop(d, 8, buf, true);
		vq_sim_complete(&d->sim, d->sim.inflight[0], 0);
		if (virtqueue_enable_cb_delayed(d->vq))
			fail_msg("%s: enable_cb_delayed = true with 1 of 8 used buffers waiting "
				 "(virtqueue.h: \"Returns: as virtqueue_enable_cb\", false if "
				 "buffers are already waiting)",
				 ev ? "EVENT_IDX" : "no EVENT_IDX");
		assert_ptr_equal(virtqueue_get_buf(d->vq, &len), buf);
		assert_true(virtqueue_enable_cb_delayed(d->vq));
	}
}

/*
 * 2.7.5.2: "Drivers MUST NOT add a descriptor chain longer than 2^32 bytes
 * in total"; virtqueue.h: -EINVAL for "4 GiB or more in the whole buffer".
 */
static void test_huge_buffer(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	static const struct {
		uint32_t out[2], in[2];
	} cases[] = {
		{{0}, {0xc0000000u, 0xc0000000u}},
		{{0xc0000000u, 0xc0000000u}, {0}},
		{{0xc0000000u, 0}, {0x80000000u, 0}},
		{{0x80000000u, 0x7fffffffu}, {1, 0}}, /* exactly 4 GiB */
		{{0}, {0xffffffffu, 1}},
	};

	for (int ind = 0; ind < 2; ind++) {
		dev_start(d, 8, c->p->features | (ind ? F(INDIRECT_DESC) : 0));
		rb_history(d, 1);
		for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
			struct rb_snap sn;
			DECLARE_SG(o, 2);
			DECLARE_SG(in, 2);
			int rc;

			for (int k = 0; k < 2; k++) {
				if (cases[i].out[k])
					sg_add(o, rb_data, cases[i].out[k]);
				if (cases[i].in[k])
					sg_add(in, rb_data, cases[i].in[k]);
			}
			rb_take(d, &sn);
			rc = virtqueue_add_sgs(d->vq, o->num ? o : NULL, in->num ? in : NULL,
					       rb_data + 5);
			if (rc != -EINVAL)
				fail_msg("a buffer of %#llx bytes (out %#x+%#x, in %#x+%#x): add = "
					 "%d, "
					 "expected -EINVAL",
					 (unsigned long long)sg_total_len(o) + sg_total_len(in),
					 cases[i].out[0], cases[i].out[1], cases[i].in[0],
					 cases[i].in[1], rc);
			rb_same(d, &sn, "a buffer over 4 GiB");
		}
		/* one byte less is a valid buffer */
		{
			DECLARE_SG(o, 2);

			sg_add(o, rb_data, 0x80000000u);
			sg_add(o, rb_data, 0x7fffffffu);
			assert_int_equal(virtqueue_add_sgs(d->vq, o, NULL, rb_data + 6), 0);
		}
	}
}

/* VIRTIO_F_NOTIFICATION_DATA (2.9): vqn | next_idx << 16, or vqn | next_off << 16 | wrap << 31. */
static void test_notification_data(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_sim *s = &d->sim;
	bool pk = is_packed(c);
	uint32_t num = pk ? 5 : 4;
	struct vq_config cfg = cfg_make(d, num, c->p->features | F(NOTIFICATION_DATA));
	uint64_t slots = 0, bufs = 0;

	cfg.index = 0x1234;
	dev_start_cfg(d, &cfg);
	while (bufs < 70000) {
		uint32_t n = 1 + rnd_below(num), want, got;
		DECLARE_SG(o, 8);

		for (uint32_t i = 0; i < n; i++)
			sg_add(o, rb_data + i, 1);
		assert_int_equal(virtqueue_add_sgs(d->vq, o, NULL, rb_data), 0);
		slots += n;
		bufs++;
		if (pk)
			want = 0x1234u | (uint32_t)(slots % num) << 16 |
			       (uint32_t)(1 ^ ((slots / num) & 1)) << 31;
		else
			want = 0x1234u | (uint32_t)(uint16_t)bufs << 16;
		got = virtqueue_notification_data(d->vq);
		if (got != want)
			fail_msg("notification data %#x, expected %#x (buffers %llu)", got, want,
				 (unsigned long long)bufs);
		virtqueue_kick(d->vq); /* vq_sim_notify checks it against the ring too */
		assert_non_null(vq_sim_pop(s));
		vq_sim_complete(s, s->inflight[0], 0);
		collect_all(d, 1);
	}
	assert_true(s->kicks > 0);
}

/* Reset, resize, detach: outstanding tokens come back exactly once. */
static uint8_t rc_seen[64];
static uint32_t rc_calls;

static void recycle(struct virtqueue *vq, void *token)
{
	uintptr_t i = (uintptr_t)token - (uintptr_t)rb_data;

	(void)vq;
	if ((uintptr_t)token < (uintptr_t)rb_data || i >= ARRAY_SIZE(rc_seen))
		fail_msg("recycle: unknown token %p", token);
	rc_seen[i]++;
	rc_calls++;
}

/* 10 buffers: 6 popped, 3 of those used, 1 collected: 9 outstanding (tokens rb_data+1..10). */
static void make_outstanding(struct dev *d)
{
	struct vq_sim *s = &d->sim;
	uint32_t len;

	for (int i = 1; i <= 10; i++) {
		if (i % 3 == 0) {
			DECLARE_SG(o, 2);
			DECLARE_SG(in, 1);

			sg_add(o, rb_data + 100 + i, 1);
			sg_add(o, rb_data + 200 + i, 1);
			sg_add(in, rb_data + 300 + i, 1);
			assert_int_equal(virtqueue_add_sgs(d->vq, o, in, rb_data + i), 0);
		} else {
			assert_int_equal(virtqueue_add_buf_single(d->vq, rb_data + 100 + i, 1,
								  VQ_IN, rb_data + i),
					 0);
		}
	}
	virtqueue_kick(d->vq);
	for (int i = 0; i < 6; i++)
		assert_non_null(vq_sim_pop(s));
	for (int i = 0; i < 3; i++)
		vq_sim_complete(s, s->inflight[0], 1);
	vq_sim_signal(s);
	assert_ptr_equal(virtqueue_get_buf(d->vq, &len), rb_data + 1);
	memset(rc_seen, 0, sizeof(rc_seen));
	rc_calls = 0;
}

static void check_recycled(void)
{
	for (int i = 0; i < (int)ARRAY_SIZE(rc_seen); i++)
		if (rc_seen[i] != (i >= 2 && i <= 10))
			fail_msg("token %d recycled %u times", i, rc_seen[i]);
	assert_int_equal(rc_calls, 9);
}

static void test_reset_resize(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	bool pk = is_packed(c);
	static const uint64_t fsets[] = {0, F(INDIRECT_DESC) | F(EVENT_IDX), F(IN_ORDER)};

	for (unsigned f = 0; f < ARRAY_SIZE(fsets); f++) {
		uint64_t feat = c->p->features | fsets[f];
		uint32_t num = pk ? 17 : 16, num2 = pk ? 50 : 64, n;
		struct engine *e;

		/* reset */
		dev_start(d, num, feat);
		make_outstanding(d);
		assert_int_equal(virtqueue_reset(d->vq, recycle), 0);
		check_recycled();
		assert_int_equal(virtqueue_num_free(d->vq), num);
		assert_int_equal(virtqueue_num(d->vq), num);
		vq_sim_attach(&d->sim, d->vq, feat); /* checks the ring is empty again */
		assert_null(virtqueue_get_buf(d->vq, &n));
		assert_null(virtqueue_detach_unused_buf(d->vq));
		{
			struct fd_state *fs = ctx_alloc(c, sizeof(*fs));

			fill_drain_round(d, fs, false);
			ctx_free(c, fs);
		}

		/* resize, bigger then smaller */
		for (int step = 0; step < 2; step++) {
			uint32_t to = step ? num : num2;

			make_outstanding(d);
			assert_int_equal(virtqueue_resize(d->vq, to, recycle), 0);
			check_recycled();
			assert_int_equal(virtqueue_num(d->vq), to);
			assert_int_equal(virtqueue_num_free(d->vq), to);
			vq_sim_attach(&d->sim, d->vq, feat);
			{
				struct fd_state *fs = ctx_alloc(c, sizeof(*fs));

				fill_drain_round(d, fs, false);
				fill_drain_round(d, fs, true);
				ctx_free(c, fs);
			}
		}
		/* resize to an invalid size: -EINVAL, old size, still reset */
		make_outstanding(d);
		assert_int_equal(virtqueue_resize(d->vq, pk ? 0 : 24, recycle), -EINVAL);
		check_recycled();
		assert_int_equal(virtqueue_num(d->vq), num);
		assert_int_equal(virtqueue_num_free(d->vq), num);
		vq_sim_attach(&d->sim, d->vq, feat);

		/* detach_unused_buf: each outstanding token once, then NULL */
		make_outstanding(d);
		for (;;) {
			void *t = virtqueue_detach_unused_buf(d->vq);

			if (!t)
				break;
			recycle(d->vq, t);
		}
		check_recycled();
		assert_null(virtqueue_detach_unused_buf(d->vq));
		assert_int_equal(virtqueue_num_free(d->vq), num);
		assert_int_equal(virtqueue_reset(d->vq, NULL), 0);
		vq_sim_attach(&d->sim, d->vq, feat);

		/* and the queue works at full tilt afterwards */
		e = ctx_alloc(c, sizeof(*e));
		memset(e, 0, sizeof(*e));
		e->d = d;
		e->num = num;
		e->features = feat;
		e->indirect = feat & F(INDIRECT_DESC);
		e->in_order = feat & F(IN_ORDER);
		e->tables = num / 2;
		e->imax = MIN(num, 128);
		e->arena = ctx_alloc(c, (size_t)num * SLAB);
		e->toks = ctx_alloc(c, num * sizeof(*e->toks));
		e->free_list = ctx_alloc(c, num * sizeof(*e->free_list));
		for (uint32_t i = 0; i < num; i++)
			e->free_list[e->nfree++] = i;
		/* the stats counted the earlier buffers too */
		e->posted = virtqueue_stats(d->vq)->added;
		e->returned = virtqueue_stats(d->vq)->used;
		{
			uint64_t target = e->returned + 5000;

			d->sim.kicks = virtqueue_stats(d->vq)->kicks;
			d->sim.interrupts = virtqueue_stats(d->vq)->interrupts;
			d->callbacks = d->sim.interrupts;
			eng_run(e, target);
		}
		eng_drain(e);
		eng_fini(c, e);
		ctx_free(c, e);
	}
}

/* Hostile devices: each misbehaviour breaks the queue, and nothing is written out of bounds. */

enum hcase {
	H_ID_RANGE = 1,	       /* used id == num */
	H_ID_HUGE,	       /* used id 0xffffffff / 0xffff */
	H_ID_NOT_HEAD,	       /* split: id of a descriptor inside a chain */
	H_ID_FREE,	       /* id of nothing outstanding (free descriptor / buffer id) */
	H_NOTHING_OUTSTANDING, /* a used entry / used-flagged descriptor with nothing posted */
	H_SECOND_COMPLETION,   /* used again after the driver took it back */
	H_DOUBLE_BEFORE_GET,   /* used twice before the driver looked */
	H_LEN_TOO_BIG,	       /* len = writable + 1 */
	H_LEN_OUT_ONLY,	       /* len 1 for a buffer with nothing writable */
	H_LEN_EDGE_OK,	       /* control: len = writable is fine */
	H_IDX_JUMP,	       /* split: used idx + num + 1 */
	H_IDX_BACK,	       /* split: used idx goes back by one */
	H_IDX_AHEAD,	       /* split: used idx ahead of what was really used */
	H_IN_ORDER_REPEAT,     /* IN_ORDER: a batch, then an id inside it again */
	H_IN_ORDER_NOT_HEAD,   /* IN_ORDER: a batch named by a descriptor inside a chain */
};

static void check_broken(struct dev *d, uint8_t *arena, struct tok *tk)
{
	struct virtqueue *vq = d->vq;
	struct vq_buf b;
	void *got[1];
	uint64_t k0 = d->sim.kicks;
	uint32_t len;
	DECLARE_SG(o, 1);

	if (!virtqueue_is_broken(vq))
		fail_msg("the queue is not broken");
	assert_non_null(virtqueue_broken_reason(vq));
	assert_null(virtqueue_get_buf(vq, &len));
	assert_int_equal(virtqueue_get_bufs(vq, got, &len, 1), 0);
	assert_false(virtqueue_more_used(vq));
	sg_add(o, arena + GAP, 1);
	{
		struct vq_single one = {arena + GAP, 1, VQ_IN, tk};

		assert_int_equal(virtqueue_add_bufs(vq, &one, 1), -EIO);
	}
	assert_int_equal(virtqueue_add_sgs(vq, o, NULL, tk), -EIO);
	assert_int_equal(virtqueue_add_buf_single(vq, arena + GAP, 1, VQ_IN, tk), -EIO);
	assert_int_equal(virtqueue_start_buf(vq, &b, tk, 1, 1), -EIO);
	assert_false(virtqueue_kick(vq));
	assert_int_equal(d->sim.kicks, k0);
	/* the device wrote no data: every byte of every buffer and guard as the driver left it */
	for (uint32_t i = 0; i < 3; i++) {
		tk[i].expect_len = 0;
		tok_check(arena, &tk[i], i);
	}
	assert_null(virtqueue_get_buf(vq, &len));
}

static void test_hostile(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_sim *s = &d->sim;
	int h = c->p->hcase;
	bool pk = is_packed(c);
	uint32_t num = 8, len, ngot = 0, lens[8];
	uint8_t *arena = ctx_alloc(c, 3 * SLAB);
	struct tok *tk = ctx_alloc(c, 3 * sizeof(*tk));
	struct vq_sim_buf *bA = NULL, *bB = NULL, *bC = NULL;
	uint16_t idA = 0, idC = 0, ndA = 0;
	void *got[8];

	dev_start(d, num,
		  c->p->features |
			  (h == H_IN_ORDER_REPEAT || h == H_IN_ORDER_NOT_HEAD ? F(IN_ORDER) : 0));
	tk[0].nout = 1;
	tk[0].nin = 1;
	tk[0].len[0] = 16;
	tk[0].len[1] = 32;
	tk[1].nin = 1;
	tk[1].len[0] = 64;
	tk[2].nout = 1;
	tk[2].len[0] = 8;
	for (uint32_t i = 0; i < 3; i++)
		tok_fill(arena, &tk[i], i);
	if (h != H_NOTHING_OUTSTANDING) {
		DECLARE_SG(o, 1);
		DECLARE_SG(in, 1);

		sg_add(o, seg_addr(arena, 0, 0), 16);
		sg_add(in, seg_addr(arena, 0, 1), 32);
		assert_int_equal(virtqueue_add_sgs(d->vq, o, in, &tk[0]), 0);
		assert_int_equal(
			virtqueue_add_buf_single(d->vq, seg_addr(arena, 1, 0), 64, VQ_IN, &tk[1]),
			0);
		assert_int_equal(
			virtqueue_add_buf_single(d->vq, seg_addr(arena, 2, 0), 8, VQ_OUT, &tk[2]),
			0);
		virtqueue_kick(d->vq);
		bA = vq_sim_pop(s);
		bB = vq_sim_pop(s);
		bC = vq_sim_pop(s);
		assert_true(bA && bB && bC);
		assert_ptr_equal(bA->segs[0].addr, seg_addr(arena, 0, 0));
		idA = bA->id;
		idC = bC->id;
		ndA = bA->ndesc;
		assert_int_equal(ndA, 2);
	}

#define USED(id, len, skip)                                                                      \
	(pk ? vq_sim_put_used_desc_raw(s, (uint16_t)(id), (len), (len) ? VRING_DESC_F_WRITE : 0, \
				       (skip))                                                   \
	    : vq_sim_put_used_raw(s, (id), (len)))
	switch (h) {
	case H_ID_RANGE: USED(num, 0, 1); break;
	case H_ID_HUGE:
		if (pk)
			vq_sim_put_used_desc_raw(s, 0xffff, 0, 0, 1);
		else
			vq_sim_put_used_raw(s, 0xffffffffu, 0);
		break;
	case H_ID_NOT_HEAD:
		assert_int_equal(bA->nsnap, 2);
		USED(bA->snap_idx[1], 0, 1);
		break;
	case H_ID_FREE: {
		uint32_t id = 0;

		while (pk ? (id == bA->id || id == bB->id || id == bC->id) : s->owned[id] != 0)
			id++;
		assert_true(id < num);
		USED(id, 0, 1);
		break;
	}
	case H_NOTHING_OUTSTANDING: USED(0, 0, 1); break;
	case H_SECOND_COMPLETION:
		vq_sim_complete(s, bA, 32);
		assert_ptr_equal(virtqueue_get_buf(d->vq, &len), &tk[0]);
		assert_int_equal(len, 32);
		USED(idA, 0, ndA);
		break;
	case H_DOUBLE_BEFORE_GET:
		vq_sim_complete(s, bA, 0);
		USED(idA, 0, ndA);
		break;
	case H_LEN_TOO_BIG: USED(idA, 33, ndA); break;
	case H_LEN_OUT_ONLY: USED(idC, 1, 1); break;
	case H_LEN_EDGE_OK: USED(idA, 32, ndA); break;
	case H_IDX_JUMP: vq_sim_set_used_idx(s, (uint16_t)(num + 1)); break;
	case H_IDX_BACK:
		vq_sim_complete(s, bA, 0);
		assert_ptr_equal(virtqueue_get_buf(d->vq, &len), &tk[0]);
		vq_sim_set_used_idx(s, 0);
		break;
	case H_IDX_AHEAD:
		vq_sim_complete(s, bA, 0);
		vq_sim_set_used_idx(s, 3); /* entries 1 and 2: never written (id 0, len 0) */
		break;
	case H_IN_ORDER_NOT_HEAD:
		/*
		 * A's second descriptor directly follows its head (in-order: ring
		 * order). Packed in-order buffer ids are head slots, so this one
		 * names a slot that is no buffer's id; split, no chain's head.
		 */
		if (pk)
			assert_int_equal(idA, 0); /* A fills slots 0 and 1 */
		else
			assert_int_equal(bA->snap_idx[1], idA + 1u);
		USED(idA + 1u, 0, ndA + 1u);
		break;
	case H_IN_ORDER_REPEAT:
		vq_sim_complete_batch(s, 2, 64);
		assert_ptr_equal(virtqueue_get_buf(d->vq, &len), &tk[0]);
		assert_int_equal(len, 32);
		assert_ptr_equal(virtqueue_get_buf(d->vq, &len), &tk[1]);
		assert_int_equal(len, 64);
		USED(idA, 0, ndA);
		break;
	default: fail_msg("no such case %d", h);
	}
#undef USED
	vq_sim_signal(s);
	if (hostile_burst) {
		/* one get_bufs for all: it returns what came before the bad entry */
		ngot = virtqueue_get_bufs(d->vq, got, lens, 8);
	} else {
		for (int i = 0; i < 8; i++) {
			void *t = virtqueue_get_buf(d->vq, &lens[ngot]);

			if (!t)
				break;
			got[ngot++] = t;
		}
	}
	if (h == H_LEN_EDGE_OK) {
		assert_false(virtqueue_is_broken(d->vq));
		assert_int_equal(ngot, 1);
		assert_ptr_equal(got[0], &tk[0]);
		assert_int_equal(lens[0], 32);
		return;
	}
	/* What may legitimately come back before the bad entry. */
	for (uint32_t i = 0; i < ngot; i++) {
		bool ok = (h == H_DOUBLE_BEFORE_GET || h == H_IDX_AHEAD) && got[i] == &tk[0];

		if (h == H_IDX_AHEAD && got[i] != &tk[0] && (got[i] == &tk[1] || got[i] == &tk[2]))
			ok = lens[i] == 0; /* the stale entry named another head: fine once */
		for (uint32_t j = 0; j < i; j++)
			if (got[j] == got[i])
				ok = false;
		if (!ok)
			fail_msg("case %d: get_buf returned %p (len %u) from a hostile device", h,
				 got[i], lens[i]);
	}
	check_broken(d, arena, tk);
}

static void test_hostile_burst(void **state)
{
	hostile_burst = true;
	test_hostile(state);
}

extern int virtio_dma_host_fail_after; /* virtio_dma_host.c */

/* Out of DMA memory: create fails cleanly (ASan: no leak), resize keeps the old ring. */
static void test_enomem(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	bool pk = is_packed(c);
	int rc = -ENOMEM;

	for (int k = 0; k < 8 && rc == -ENOMEM; k++) {
		struct vq_config cfg = cfg_make(d, 16, c->p->features | F(INDIRECT_DESC));
		struct virtqueue *vq = (void *)1;

		virtio_dma_host_fail_after = k;
		rc = virtqueue_create(&cfg, &vq);
		virtio_dma_host_fail_after = -1;
		if (rc == -ENOMEM) {
			assert_null(vq);
		} else {
			assert_int_equal(rc, 0);
			assert_true(k > 0); /* something was allocated */
			virtqueue_destroy(vq);
		}
	}
	assert_int_equal(rc, 0);

	dev_start(d, 16, c->p->features);
	make_outstanding(d);
	virtio_dma_host_fail_after = 0;
	rc = virtqueue_resize(d->vq, pk ? 40 : 64, recycle);
	virtio_dma_host_fail_after = -1;
	assert_int_equal(rc, -ENOMEM);
	check_recycled();
	assert_int_equal(virtqueue_num(d->vq), 16);
	assert_int_equal(virtqueue_num_free(d->vq), 16);
	vq_sim_attach(&d->sim, d->vq, c->p->features);
	{
		struct fd_state *fs = ctx_alloc(c, sizeof(*fs));

		fill_drain_round(d, fs, false);
		ctx_free(c, fs);
	}
}

/*
 * A broken queue: the calls virtqueue.h pins down ("every later call then
 * fails (-EIO, NULL, false)"; virtqueue_poll "false when broken"), then
 * virtqueue_reset recycles what is outstanding exactly once and "a broken
 * queue becomes usable again".
 */
/* Three receive buffers of 4 bytes (tokens rb_data + 1..3), npop of them popped. Returns: the first's id. */
static uint16_t three_in_flight(struct ctx *c, struct dev *d, unsigned npop)
{
	uint16_t id1;

	dev_start(d, 8, c->p->features);
	for (int i = 1; i <= 3; i++)
		assert_int_equal(
			virtqueue_add_buf_single(d->vq, rb_data + 100 + i, 4, VQ_IN, rb_data + i),
			0);
	id1 = vq_sim_pop(&d->sim)->id;
	while (--npop)
		assert_non_null(vq_sim_pop(&d->sim));
	return id1;
}

static void test_broken_queue(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_sim *s = &d->sim;
	uint32_t len;
	unsigned pos;

	uint16_t id1;
	bool polled;

	id1 = three_in_flight(c, d, 2);
	vq_sim_complete(s, s->inflight[0], 4);
	assert_ptr_equal(virtqueue_get_buf(d->vq, &len), rb_data + 1);
	pos = virtqueue_enable_cb_prepare(d->vq);
	assert_false(virtqueue_poll(d->vq, pos));
	/* a used entry naming the buffer just taken back */
	if (is_packed(c))
		vq_sim_put_used_desc_raw(s, id1, 0, 0, 1);
	else
		vq_sim_put_used_raw(s, id1, 0);
	assert_null(virtqueue_get_buf(d->vq, &len));
	assert_true(virtqueue_is_broken(d->vq));
	assert_false(virtqueue_more_used(d->vq));
	assert_false(virtqueue_kick_prepare(d->vq));
	memset(rc_seen, 0, sizeof(rc_seen));
	rc_calls = 0;
	polled = virtqueue_poll(d->vq, pos);
	/* recovery: the device reset its queue */
	assert_int_equal(virtqueue_reset(d->vq, recycle), 0);
	assert_int_equal(rc_calls, 2);
	assert_int_equal(rc_seen[2] + rc_seen[3], 2);
	assert_false(virtqueue_is_broken(d->vq));
	vq_sim_attach(s, d->vq, c->p->features);
	{
		struct fd_state *fs = ctx_alloc(c, sizeof(*fs));

		fill_drain_round(d, fs, false);
		ctx_free(c, fs);
	}
	if (polled)
		fail_msg("virtqueue_poll on a broken queue returned true; virtqueue.h says "
			 "\"false when broken\"");
}

/*
 * virtqueue_get_buf_after_reset: the entries a device used before its
 * ring broke (here by injected fault) come back with get_buf's checks; a
 * bad one ends it; the queue stays broken.
 */
static void test_get_buf_after_reset(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_sim *s = &d->sim;
	uint32_t len = 0;
	uint16_t id1;

	id1 = three_in_flight(c, d, 3);
	vq_sim_complete(s, s->inflight[0], 3);
	vq_sim_complete(s, s->inflight[0], 4);
	virtqueue_inject_fault(d->vq);
	assert_null(virtqueue_get_buf(d->vq, &len));
	assert_true(virtqueue_is_broken(d->vq));
	assert_ptr_equal(virtqueue_get_buf_after_reset(d->vq, &len), rb_data + 1);
	assert_int_equal(len, 3);
	assert_ptr_equal(virtqueue_get_buf_after_reset(d->vq, &len), rb_data + 2);
	assert_int_equal(len, 4);
	assert_null(virtqueue_get_buf_after_reset(d->vq, &len)); /* the third was not used */
	assert_true(virtqueue_is_broken(d->vq));
	assert_null(virtqueue_get_buf(d->vq, &len));
	/* a bad entry: the buffer taken back first, named again */
	if (is_packed(c))
		vq_sim_put_used_desc_raw(s, id1, 0, 0, 1);
	else
		vq_sim_put_used_raw(s, id1, 0);
	assert_null(virtqueue_get_buf_after_reset(d->vq, &len));
	assert_true(virtqueue_is_broken(d->vq));
	assert_int_equal(virtqueue_reset(d->vq, recycle), 0);
}

#define HP(lay, feat, hc) static const struct param hp_##lay##_##hc = {#lay, feat, hc};
HP(split, 0, H_ID_RANGE)
HP(split, 0, H_ID_HUGE)
HP(split, 0, H_ID_NOT_HEAD)
HP(split, 0, H_ID_FREE)
HP(split, 0, H_NOTHING_OUTSTANDING)
HP(split, 0, H_SECOND_COMPLETION)
HP(split, 0, H_DOUBLE_BEFORE_GET)
HP(split, 0, H_LEN_TOO_BIG)
HP(split, 0, H_LEN_OUT_ONLY)
HP(split, 0, H_LEN_EDGE_OK)
HP(split, 0, H_IDX_JUMP)
HP(split, 0, H_IDX_BACK)
HP(split, 0, H_IDX_AHEAD)
HP(split, 0, H_IN_ORDER_REPEAT)
HP(split, 0, H_IN_ORDER_NOT_HEAD)
HP(packed, F(RING_PACKED), H_ID_RANGE)
HP(packed, F(RING_PACKED), H_ID_HUGE)
HP(packed, F(RING_PACKED), H_ID_FREE)
HP(packed, F(RING_PACKED), H_NOTHING_OUTSTANDING)
HP(packed, F(RING_PACKED), H_SECOND_COMPLETION)
HP(packed, F(RING_PACKED), H_DOUBLE_BEFORE_GET)
HP(packed, F(RING_PACKED), H_LEN_TOO_BIG)
HP(packed, F(RING_PACKED), H_LEN_OUT_ONLY)
HP(packed, F(RING_PACKED), H_LEN_EDGE_OK)
HP(packed, F(RING_PACKED), H_IN_ORDER_REPEAT)
HP(packed, F(RING_PACKED), H_IN_ORDER_NOT_HEAD)
#undef HP

#define T(fn, p)                                            \
	{                                                   \
#fn "/" #p, fn, setup, teardown, (void *)&p \
	}
#define TH(lay, hc)                                                                              \
	{"test_hostile/" #lay "/" #hc, test_hostile, setup, teardown, (void *)&hp_##lay##_##hc}, \
	{                                                                                        \
		"test_hostile_burst/" #lay "/" #hc, test_hostile_burst, setup, teardown,         \
			(void *)&hp_##lay##_##hc                                                 \
	}

/*
 * Split copies several ready used entries a line at a time, and reads a lone
 * one straight, emptying its copy. One copy of two entries, then more than
 * 65536 buffers used one at a time (the used index wraps): a copy left
 * standing would be read again when last_used came round to its base, and
 * hand out a stale id. Every token and length must come back exact, in
 * order. (Packed runs the same round trips.)
 */
static void test_used_copy_wraps(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_sim *s = &d->sim;
	uint8_t *buf = ctx_alloc(c, 8 * 64);
	uint64_t added = 0, got = 0;
	struct vq_sim_buf *b;
	uint32_t len;

	dev_start(d, 8, c->p->features);
	for (; added < 3; added++)
		assert_int_equal(virtqueue_add_buf_single(d->vq, buf + added * 64, 64, VQ_IN,
							  (void *)(uintptr_t)(added + 1)),
				 0);
	for (unsigned i = 0; i < 3; i++)
		assert_non_null(vq_sim_pop(s));
	/* Two ready at once: the copy path. */
	for (unsigned i = 0; i < 2; i++)
		vq_sim_complete(s, vq_sim_inflight(s, 0), 10 + i);
	for (; got < 2; got++) {
		assert_ptr_equal(virtqueue_get_buf(d->vq, &len), (void *)(uintptr_t)(got + 1));
		assert_int_equal(len, 10 + got);
	}
	/* Then one at a time, past the 16-bit wrap of the used index. */
	while (got < 70000) {
		assert_int_equal(virtqueue_add_buf_single(d->vq, buf + (added % 8) * 64, 64, VQ_IN,
							  (void *)(uintptr_t)(added + 1)),
				 0);
		added++;
		assert_non_null(vq_sim_pop(s));
		b = vq_sim_inflight(s, 0);
		vq_sim_complete(s, b, (uint32_t)(got % 64));
		assert_ptr_equal(virtqueue_get_buf(d->vq, &len), (void *)(uintptr_t)(got + 1));
		assert_int_equal(len, got % 64);
		assert_null(virtqueue_get_buf(d->vq, &len));
		got++;
	}
	assert_false(virtqueue_is_broken(d->vq));
	assert_int_equal(virtqueue_stats(d->vq)->used, got);
}

/*
 * What sends the per-buffer calls off their fast path is one word (broken,
 * an injected fault, an open piecewise buffer): each sets it and clears it,
 * and each is told apart where it matters. add_buf_single: an open buffer
 * -EBUSY, an injected fault alone adds as usual, broken -EIO; get_buf:
 * nothing while a buffer is open, the buffer once it is aborted or published.
 */
static void test_held(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_sim *s = &d->sim;
	uint8_t *buf = ctx_alloc(c, 8 * 64);
	struct vq_sim_buf *b;
	struct sg_entry ent[1];
	struct sg_ring r;
	struct vq_buf pb;
	uint32_t len;
	int tok[8];

	dev_start(d, 8, c->p->features);
	assert_int_equal(virtqueue_add_buf_single(d->vq, buf, 64, VQ_IN, &tok[0]), 0);
	virtqueue_kick(d->vq);
	assert_non_null(b = vq_sim_pop(s));
	vq_sim_complete(s, b, 7);
	/* open: add -EBUSY and get nothing; aborted: both work again */
	assert_int_equal(virtqueue_start_buf(d->vq, &pb, &tok[1], 1, 1), 0);
	assert_int_equal(virtqueue_add_buf_single(d->vq, buf + 64, 64, VQ_IN, &tok[2]), -EBUSY);
	assert_null(virtqueue_get_buf(d->vq, &len));
	virtqueue_abort_buf(&pb);
	assert_ptr_equal(virtqueue_get_buf(d->vq, &len), &tok[0]);
	assert_int_equal(len, 7);
	/* published: closed as well */
	assert_int_equal(virtqueue_start_buf(d->vq, &pb, &tok[1], 1, 1), 0);
	sg_init(&r, ent, 1);
	sg_add(&r, buf + 64, 64);
	assert_int_equal(virtqueue_add_sg(&pb, &r, 1, VQ_IN), 0);
	assert_int_equal(virtqueue_end_buf(&pb), 0);
	assert_int_equal(virtqueue_add_buf_single(d->vq, buf + 128, 64, VQ_IN, &tok[2]), 0);
	virtqueue_kick(d->vq);
	for (unsigned k = 1; k <= 2; k++) {
		assert_non_null(b = vq_sim_pop(s));
		vq_sim_complete(s, b, k);
	}
	assert_ptr_equal(virtqueue_get_buf(d->vq, &len), &tok[1]);
	assert_int_equal(len, 1);
	assert_ptr_equal(virtqueue_get_buf(d->vq, &len), &tok[2]);
	assert_int_equal(len, 2);
	/* an injected fault alone: the add goes through; the next used entry breaks */
	virtqueue_inject_fault(d->vq);
	assert_int_equal(virtqueue_add_buf_single(d->vq, buf + 192, 64, VQ_IN, &tok[3]), 0);
	virtqueue_kick(d->vq);
	assert_non_null(b = vq_sim_pop(s));
	vq_sim_complete(s, b, 3);
	assert_false(virtqueue_is_broken(d->vq));
	assert_null(virtqueue_get_buf(d->vq, &len));
	assert_true(virtqueue_is_broken(d->vq));
	/* broken: -EIO, and nothing is taken */
	assert_int_equal(virtqueue_add_buf_single(d->vq, buf + 256, 64, VQ_IN, &tok[4]), -EIO);
	assert_null(virtqueue_get_buf(d->vq, &len));
	dev_stop(d);
}

/*
 * Split: an avail ring entry is written only when it changes. With IN_ORDER
 * every lap of single-descriptor buffers puts head k in slot k again, so
 * after the first lap the driver leaves the ring's entries alone (they stay
 * in the device's cache). Marks written over the entries after lap one
 * survive lap two; a head that differs from the last lap's is written. A
 * reset zeroes the ring and the driver's copy of it alike.
 */
static unsigned int kept_recycled;

static void kept_recycle(struct virtqueue *vq, void *token)
{
	(void)vq;
	(void)token;
	kept_recycled++;
}

static void test_avail_entry_kept(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_sim *s = &d->sim;
	uint64_t feat = c->p->features | F(IN_ORDER);
	uint8_t *buf = ctx_alloc(c, 8 * 64);
	struct vq_sim_buf *b;
	uint32_t len;
	int tok[8];

	dev_start(d, 8, feat);
	for (unsigned lap = 0; lap < 2; lap++) {
		for (unsigned k = 0; k < 8; k++)
			assert_int_equal(
				virtqueue_add_buf_single(d->vq, buf + k * 64, 64, VQ_IN, &tok[k]),
				0);
		for (unsigned k = 0; k < 8; k++)
			assert_int_equal(le16_to_cpu(s->avail->ring[k]), lap ? 0x7770 + k : k);
		if (lap) /* the device must read the heads the driver meant */
			for (unsigned k = 0; k < 8; k++)
				s->avail->ring[k] = cpu_to_le16((uint16_t)k);
		for (unsigned k = 0; k < 8; k++) {
			assert_non_null(b = vq_sim_pop(s));
			assert_int_equal(b->id, k);
			vq_sim_complete(s, b, 1);
		}
		for (unsigned k = 0; k < 8; k++)
			assert_ptr_equal(virtqueue_get_buf(d->vq, &len), &tok[k]);
		for (unsigned k = 0; k < 8; k++) /* marks: still there after the next lap? */
			s->avail->ring[k] = cpu_to_le16((uint16_t)(0x7770 + k));
	}
	/* Two chains of two: heads 0 (as last lap: kept) and 2 (was 1: written). */
	for (unsigned k = 0; k < 2; k++) {
		DECLARE_SG(in, 2);

		sg_add(in, buf + k * 128, 64);
		sg_add(in, buf + k * 128 + 64, 64);
		assert_int_equal(virtqueue_add_sgs(d->vq, NULL, in, &tok[k]), 0);
	}
	assert_int_equal(le16_to_cpu(s->avail->ring[0]), 0x7770);
	assert_int_equal(le16_to_cpu(s->avail->ring[1]), 2);
	assert_int_equal(le16_to_cpu(s->avail->ring[2]), 0x7772);
	/* Reset: the ring is zeroed, and so is what the driver thinks it holds. */
	kept_recycled = 0;
	assert_int_equal(virtqueue_reset(d->vq, kept_recycle), 0);
	assert_int_equal(kept_recycled, 2);
	vq_sim_attach(s, d->vq, feat);
	for (unsigned k = 0; k < 8; k++)
		assert_int_equal(virtqueue_add_buf_single(d->vq, buf + k * 64, 64, VQ_IN, &tok[k]),
				 0);
	for (unsigned k = 0; k < 8; k++) {
		assert_int_equal(le16_to_cpu(s->avail->ring[k]), k);
		assert_non_null(b = vq_sim_pop(s));
		assert_int_equal(b->id, k);
	}
	assert_false(virtqueue_is_broken(d->vq));
	dev_stop(d);
}

/*
 * Packed (2.8 "Element Address and Length"): a used descriptor without
 * VRING_DESC_F_WRITE has a reserved length, which the driver ignores; it is
 * not a device error even when it exceeds the buffer's writable part.
 */
static void test_packed_len_without_write(void **state)
{
	struct ctx *c = *state;
	struct dev *d = &c->d[0];
	struct vq_sim *s = &d->sim;
	uint8_t *buf = ctx_alloc(c, 128);
	struct vq_sim_buf *ba, *bb;
	uint32_t len = 12345;
	int tok[2];

	dev_start(d, 8, c->p->features);
	assert_int_equal(virtqueue_add_buf_single(d->vq, buf, 64, VQ_OUT, &tok[0]), 0);
	assert_int_equal(virtqueue_add_buf_single(d->vq, buf + 64, 64, VQ_OUT, &tok[1]), 0);
	virtqueue_kick(d->vq);
	ba = vq_sim_pop(s);
	bb = vq_sim_pop(s);
	assert_true(ba && bb);
	vq_sim_put_used_desc_raw(s, ba->id, 0xdeadbeef, 0, ba->ndesc);
	assert_ptr_equal(virtqueue_get_buf(d->vq, &len), &tok[0]);
	assert_int_equal(len, 0);
	assert_false(virtqueue_is_broken(d->vq));
	/* The same length with WRITE set is a device error: 0 writable bytes posted. */
	vq_sim_put_used_desc_raw(s, bb->id, 0xdeadbeef, VRING_DESC_F_WRITE, bb->ndesc);
	assert_null(virtqueue_get_buf(d->vq, &len));
	assert_true(virtqueue_is_broken(d->vq));
	dev_stop(d);
}

int main(void)
{
	const char *seed = getenv("VQ_SEED");
	const struct CMUnitTest virtqueue[] = {
		T(test_need_event, split),
		T(test_sim_catches, split),
		T(test_sim_catches, packed),
		T(test_create, split),
		T(test_create, packed),
		T(test_fill_drain, split),
		T(test_fill_drain, packed),
		T(test_packed_wraps, packed),
		T(test_rollback, split),
		T(test_rollback, packed),
		T(test_add_errors, split),
		T(test_add_errors, packed),
		T(test_bursts_match_singles, split),
		T(test_bursts_match_singles, packed),
		T(test_burst_errors, split),
		T(test_burst_errors, packed),
		T(test_add_sgs_matches_piecewise, split),
		T(test_add_sgs_matches_piecewise, packed),
		T(test_indirect_selection, split),
		T(test_indirect_selection, packed),
		T(test_kick_suppression, split),
		T(test_kick_suppression, packed),
		T(test_interrupt_suppression, split),
		T(test_interrupt_suppression, packed),
		T(test_enable_cb_and_poll, split),
		T(test_enable_cb_and_poll, packed),
		T(test_enable_cb_delayed_pending, split),
		T(test_enable_cb_delayed_pending, packed),
		T(test_huge_buffer, split),
		T(test_huge_buffer, packed),
		T(test_notification_data, split),
		T(test_notification_data, packed),
		T(test_reset_resize, split),
		T(test_reset_resize, packed),
		T(test_enomem, split),
		T(test_enomem, packed),
		T(test_broken_queue, split),
		T(test_broken_queue, packed),
		T(test_get_buf_after_reset, split),
		T(test_get_buf_after_reset, packed),
		T(test_packed_len_without_write, packed),
		T(test_used_copy_wraps, split),
		T(test_avail_entry_kept, split),
		T(test_held, split),
		T(test_held, packed),
		T(test_used_copy_wraps, packed),
		TH(split, H_ID_RANGE),
		TH(split, H_ID_HUGE),
		TH(split, H_ID_NOT_HEAD),
		TH(split, H_ID_FREE),
		TH(split, H_NOTHING_OUTSTANDING),
		TH(split, H_SECOND_COMPLETION),
		TH(split, H_DOUBLE_BEFORE_GET),
		TH(split, H_LEN_TOO_BIG),
		TH(split, H_LEN_OUT_ONLY),
		TH(split, H_LEN_EDGE_OK),
		TH(split, H_IDX_JUMP),
		TH(split, H_IDX_BACK),
		TH(split, H_IDX_AHEAD),
		TH(split, H_IN_ORDER_REPEAT),
		TH(split, H_IN_ORDER_NOT_HEAD),
		TH(packed, H_ID_RANGE),
		TH(packed, H_ID_HUGE),
		TH(packed, H_ID_FREE),
		TH(packed, H_NOTHING_OUTSTANDING),
		TH(packed, H_SECOND_COMPLETION),
		TH(packed, H_DOUBLE_BEFORE_GET),
		TH(packed, H_LEN_TOO_BIG),
		TH(packed, H_LEN_OUT_ONLY),
		TH(packed, H_LEN_EDGE_OK),
		TH(packed, H_IN_ORDER_REPEAT),
		TH(packed, H_IN_ORDER_NOT_HEAD),
		T(test_roundtrips, split),
		T(test_roundtrips, packed),
	};

	const char *filter = getenv("VQ_FILTER");

	if (seed && *seed)
		rng_state = strtoull(seed, NULL, 0) | 1;
	if (filter && *filter)
		cmocka_set_test_filter(filter); /* e.g. VQ_FILTER='test_rollback*' */
	return cmocka_run_group_tests(virtqueue, NULL, NULL);
}
