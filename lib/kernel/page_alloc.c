/*
 * Bitmap physical page allocator. Simple and predictable: searches skip
 * fully used 64-page words, allocation is top-down, and every free is
 * checked against the bitmap so a double free is caught, not absorbed.
 */
#include <errno.h>
#include <stdbool.h>

#include <kernel/page_alloc.h>

#define PG_SHIFT 12
#define PG_SIZE	 (1ull << PG_SHIFT)

static inline bool pg_used(const struct page_alloc *pa, uint64_t i)
{
	return (pa->bitmap[i / 64] >> (i % 64)) & 1;
}

static inline void pg_set(struct page_alloc *pa, uint64_t i)
{
	pa->bitmap[i / 64] |= 1ull << (i % 64);
}

static inline void pg_clear(struct page_alloc *pa, uint64_t i)
{
	pa->bitmap[i / 64] &= ~(1ull << (i % 64));
}

size_t page_alloc_bitmap_size(uint64_t max_addr)
{
	uint64_t pages = (max_addr + PG_SIZE - 1) >> PG_SHIFT;

	return (size_t)((pages + 63) / 64) * sizeof(uint64_t);
}

void page_alloc_init(struct page_alloc *pa, uint64_t *bitmap, uint64_t max_addr)
{
	size_t words = page_alloc_bitmap_size(max_addr) / sizeof(uint64_t);

	pa->bitmap = bitmap;
	pa->npages = (max_addr + PG_SIZE - 1) >> PG_SHIFT;
	pa->nfree = 0;
	pa->ntotal = 0;
	for (size_t i = 0; i < words; i++)
		bitmap[i] = ~0ull;
}

uint64_t page_alloc_add(struct page_alloc *pa, uint64_t base, uint64_t len)
{
	uint64_t first, end, added = 0;

	if (base + len < base)
		len = UINT64_MAX - base;
	first = (base >> PG_SHIFT) + ((base & (PG_SIZE - 1)) != 0); /* no overflow near 2^64 */
	end = (base + len) >> PG_SHIFT;
	if (first == 0)
		first = 1;
	if (end > pa->npages)
		end = pa->npages;
	for (uint64_t i = first; i < end;) {
		if (i % 64 == 0 && end - i >= 64) { /* a whole word at once */
			for (uint64_t w = pa->bitmap[i / 64]; w; w &= w - 1)
				added++;
			pa->bitmap[i / 64] = 0;
			i += 64;
			continue;
		}
		if (pg_used(pa, i)) {
			pg_clear(pa, i);
			added++;
		}
		i++;
	}
	pa->nfree += added;
	pa->ntotal += added;
	return added;
}

uint64_t page_alloc_pages(struct page_alloc *pa, uint64_t npages, uint64_t align_pages,
			  uint64_t limit)
{
	uint64_t top = pa->npages, run = 0;

	if (npages == 0 || npages > pa->nfree)
		return 0;
	if (align_pages == 0)
		align_pages = 1;
	if (align_pages & (align_pages - 1))
		return 0;
	if (limit && (limit >> PG_SHIFT) < top)
		top = limit >> PG_SHIFT;

	/* run = length of the free run starting at page i, going upward. */
	for (uint64_t i = top; i-- > 0;) {
		if (i % 64 == 63 && pa->bitmap[i / 64] == ~0ull) {
			i -= 63;
			run = 0;
			continue;
		}
		if (pg_used(pa, i)) {
			run = 0;
			continue;
		}
		run++;
		if (run >= npages && (i & (align_pages - 1)) == 0) {
			for (uint64_t j = i; j < i + npages; j++)
				pg_set(pa, j);
			pa->nfree -= npages;
			return i << PG_SHIFT;
		}
	}
	return 0;
}

static bool range_ok(const struct page_alloc *pa, uint64_t phys, uint64_t npages)
{
	uint64_t first = phys >> PG_SHIFT;

	return (phys & (PG_SIZE - 1)) == 0 && npages != 0 && first != 0 && first < pa->npages &&
	       npages <= pa->npages - first;
}

int page_free_pages(struct page_alloc *pa, uint64_t phys, uint64_t npages)
{
	uint64_t first = phys >> PG_SHIFT;

	if (!range_ok(pa, phys, npages))
		return -EINVAL;
	for (uint64_t i = first; i < first + npages; i++)
		if (!pg_used(pa, i))
			return -EINVAL;
	for (uint64_t i = first; i < first + npages; i++)
		pg_clear(pa, i);
	pa->nfree += npages;
	return 0;
}

int page_claim_pages(struct page_alloc *pa, uint64_t phys, uint64_t npages)
{
	uint64_t first = phys >> PG_SHIFT;

	if (!range_ok(pa, phys, npages))
		return -ENOMEM;
	for (uint64_t i = first; i < first + npages; i++)
		if (pg_used(pa, i))
			return -ENOMEM;
	for (uint64_t i = first; i < first + npages; i++)
		pg_set(pa, i);
	pa->nfree -= npages;
	return 0;
}
