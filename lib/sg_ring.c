/* sg_ring chain walks (see include/lib/sg_ring.h). */
#include <lib/sg_ring.h>

int sg_scan(const struct sg_ring *r, struct sg_summary *sum)
{
	unsigned rings = 0;

	*sum = (struct sg_summary){0};
	for (; r; r = r->next) {
		if (r->num > r->max || ++rings > SG_CHAIN_MAX_ENTRIES)
			return -EINVAL; /* corrupt ring, or a cycle of empty rings */
		sum->entries += r->num;
		if (sum->entries > SG_CHAIN_MAX_ENTRIES)
			return -EINVAL;
		for (unsigned i = 0; i < r->num; i++) {
			sum->bytes += r->sg[i].len;
			sum->zero_len |= r->sg[i].len == 0;
		}
	}
	return 0;
}

int sg_count(const struct sg_ring *r)
{
	struct sg_summary sum;

	return sg_scan(r, &sum) ? -EINVAL : (int)sum.entries;
}

uint64_t sg_total_len(const struct sg_ring *r)
{
	struct sg_summary sum;

	return sg_scan(r, &sum) ? 0 : sum.bytes; /* a corrupt or cyclic chain describes nothing */
}
