/*
 * sg_ring: scatter-gather lists as chains of small arrays.
 *
 * A chain is a list of sg_rings linked by ->next; each holds up to max
 * entries of which num are in use. A driver builds a request by linking
 * its own small rings around data that someone else described, without
 * copying either: e.g. a block read is
 *
 *	DECLARE_SG(hdr, 1);    sg_add(hdr, &req, sizeof(req));
 *	DECLARE_SG(status, 1); sg_add(status, &st, 1);
 *	sg_chain(data, status);            (data: the caller's ring(s))
 *	virtqueue_add_sgs(vq, hdr, data, token);
 *
 * Portable: the same source builds for the kernel and the host tests.
 */
#ifndef LIB_SG_RING_H
#define LIB_SG_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sg_entry {
	void *addr;
	uint32_t len;
};

struct sg_ring {
	struct sg_ring *next; /* next ring of the chain; NULL ends it */
	unsigned int num;     /* entries in use */
	unsigned int max;     /* capacity of sg[] */
	struct sg_entry *sg;
};

/* Longest chain a walk follows; a longer one (or a cycle) is refused. */
#define SG_CHAIN_MAX_ENTRIES 65536u

/*
 * DECLARE_SG - an empty ring with room for n entries, on the stack or
 * static; `name` is a struct sg_ring pointer (an array of one).
 */
#define DECLARE_SG(name, n)                   \
	struct sg_entry name##_sg_entries[n]; \
	struct sg_ring name[1] = {{.next = NULL, .num = 0, .max = (n), .sg = name##_sg_entries}}

static inline void sg_init(struct sg_ring *r, struct sg_entry *entries, unsigned int max)
{
	r->next = NULL;
	r->num = 0;
	r->max = max;
	r->sg = entries;
}

/* sg_add - append one entry. Returns: 0, or -ENOSPC when the ring is full. */
static inline int sg_add(struct sg_ring *r, void *addr, uint32_t len)
{
	if (r->num == r->max)
		return -ENOSPC;
	r->sg[r->num].addr = addr;
	r->sg[r->num].len = len;
	r->num++;
	return 0;
}

/* sg_chain - make b follow a. Returns: a, so chains nest: sg_chain(a, sg_chain(b, c)). */
static inline struct sg_ring *sg_chain(struct sg_ring *a, struct sg_ring *b)
{
	a->next = b;
	return a;
}

/*
 * sg_for_each - visit every entry of the chain starting at head:
 *
 *	const struct sg_ring *r; unsigned i;
 *	sg_for_each(r, i, head)
 *		use(r->sg[i].addr, r->sg[i].len);
 *
 * It trusts the chain; code that must not (the ring) bounds its own walk.
 */
#define sg_for_each(r, i, head)                  \
	for ((r) = (head); (r); (r) = (r)->next) \
		for ((i) = 0; (i) < (r)->num; (i)++)

/* What one walk of a chain found (sg_scan). */
struct sg_summary {
	unsigned int entries;
	uint64_t bytes; /* total length of the entries */
	bool zero_len;	/* an entry of length 0 */
};

/*
 * sg_scan - walk the whole chain starting at r once (NULL is empty).
 * Returns: 0 and *sum, or -EINVAL if the chain is longer than
 * SG_CHAIN_MAX_ENTRIES or a ring claims more entries than it holds.
 */
int sg_scan(const struct sg_ring *r, struct sg_summary *sum);

/*
 * sg_count - entries in the whole chain starting at r (NULL counts 0).
 * Returns: the count, or -EINVAL if the chain is longer than
 * SG_CHAIN_MAX_ENTRIES or a ring claims more entries than it holds.
 */
int sg_count(const struct sg_ring *r);

/* sg_total_len - bytes described by the whole chain; 0 if sg_count() refuses it. */
uint64_t sg_total_len(const struct sg_ring *r);

#endif
