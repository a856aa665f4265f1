/* sg_ring chain walks (see include/lib/sg_ring.h). */
#include <lib/sg_ring.h>

int sg_count(const struct sg_ring *r)
{
	unsigned long n = 0;
	unsigned rings = 0;

	for (; r; r = r->next) {
		if (r->num > r->max || ++rings > SG_CHAIN_MAX_ENTRIES)
			return -EINVAL; /* corrupt ring, or a cycle of empty rings */
		n += r->num;
		if (n > SG_CHAIN_MAX_ENTRIES)
			return -EINVAL;
	}
	return (int)n;
}

uint64_t sg_total_len(const struct sg_ring *r)
{
	uint64_t total = 0;
	const struct sg_ring *cur;
	unsigned i;

	if (sg_count(r) < 0)
		return 0; /* a corrupt or cyclic chain describes nothing */
	sg_for_each(cur, i, r) total += cur->sg[i].len;
	return total;
}
