/* sg_cursor: cutting sg_ring chains into limited pieces (see include/lib/sg_cursor.h). */
#include <lib/sg_cursor.h>

void sg_cursor_init(struct sg_cursor *c, const struct sg_ring *head)
{
	c->ring = head;
	c->idx = 0;
	c->off = 0;
}

/* Move to the next entry with bytes left, or to the end (ring NULL). */
static void settle(struct sg_cursor *c)
{
	while (c->ring) {
		if (c->idx < c->ring->num && c->off < c->ring->sg[c->idx].len)
			return;
		if (c->idx < c->ring->num) {
			c->idx++;
			c->off = 0;
			continue;
		}
		c->ring = c->ring->next;
		c->idx = 0;
		c->off = 0;
	}
}

uint64_t sg_cursor_skip(struct sg_cursor *c, uint64_t n)
{
	uint64_t done = 0;

	settle(c);
	while (c->ring && done < n) {
		uint32_t avail = c->ring->sg[c->idx].len - c->off;
		uint64_t step = n - done < avail ? n - done : avail;

		c->off += (uint32_t)step;
		done += step;
		settle(c);
	}
	return done;
}

uint64_t sg_cursor_take(struct sg_cursor *c, struct sg_ring *out, unsigned int max_ents,
			uint32_t max_seg, uint64_t max_bytes, uint32_t align)
{
	struct sg_cursor w = *c;
	unsigned int n = 0, lim = max_ents < out->max ? max_ents : out->max;
	uint64_t total = 0, keep, acc = 0;

	out->num = 0;
	if (align == 0 || (align & (align - 1)))
		return 0;
	settle(&w);
	while (w.ring && n < lim && total < max_bytes) {
		const struct sg_entry *e = &w.ring->sg[w.idx];
		uint64_t len = e->len - w.off;

		if (max_seg && len > max_seg)
			len = max_seg;
		if (len > max_bytes - total)
			len = max_bytes - total;
		out->sg[n].addr = (char *)e->addr + w.off;
		out->sg[n].len = (uint32_t)len;
		n++;
		total += len;
		w.off += (uint32_t)len;
		settle(&w);
	}
	/* Whole units only: trim the tail, which may end inside an entry. */
	keep = total & ~(uint64_t)(align - 1);
	if (keep == 0)
		return 0;
	for (unsigned int k = 0; k < n; k++) {
		if (acc + out->sg[k].len >= keep) {
			out->sg[k].len = (uint32_t)(keep - acc);
			out->num = k + 1;
			break;
		}
		acc += out->sg[k].len;
	}
	sg_cursor_skip(c, keep);
	return keep;
}
