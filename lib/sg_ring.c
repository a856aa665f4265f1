/* sg_ring chain walks (see include/kernel/sg_ring.h). */
#include <kernel/sg_ring.h>

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
	unsigned rings = 0;

	for (; r && rings < SG_CHAIN_MAX_ENTRIES; r = r->next, rings++)
		for (unsigned i = 0; i < r->num && i < r->max; i++)
			total += r->sg[i].len;
	return total;
}
