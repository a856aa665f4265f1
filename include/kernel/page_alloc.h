/*
 * Physical page allocator: one bit per 4 KiB page (1 = in use), fed with the
 * RAM ranges of the memory map. Allocation takes the highest fitting run, so
 * the heap, which grows upward from the kernel image, meets it only when
 * memory is really exhausted. Portable: host-tested with the kernel's source.
 */
#ifndef KERNEL_PAGE_ALLOC_H
#define KERNEL_PAGE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

struct page_alloc {
	uint64_t *bitmap;
	uint64_t npages; /* pages covered, from physical 0 */
	uint64_t nfree;
	uint64_t ntotal; /* pages ever handed to page_alloc_add */
};

/* Bytes of bitmap needed to cover physical memory up to max_addr. */
size_t page_alloc_bitmap_size(uint64_t max_addr);

/* page_alloc_init - cover [0, max_addr) with every page marked in use. */
void page_alloc_init(struct page_alloc *pa, uint64_t *bitmap, uint64_t max_addr);

/*
 * page_alloc_add - make the whole pages inside [base, base+len) free.
 * Page 0 is never made free, so 0 can mean "no page".
 * Returns: number of pages added.
 */
uint64_t page_alloc_add(struct page_alloc *pa, uint64_t base, uint64_t len);

/*
 * page_alloc_pages - allocate npages contiguous pages whose first page is a
 * multiple of align_pages (a power of two) and whose end is <= limit
 * (0 = no limit).
 * Returns: the physical address, or 0 when nothing fits.
 */
uint64_t page_alloc_pages(struct page_alloc *pa, uint64_t npages, uint64_t align_pages,
			  uint64_t limit);

/*
 * page_free_pages - give back npages pages at phys.
 * Returns: 0, or -EINVAL (nothing changed) if the range is misaligned, out
 * of range, or any page in it is already free (double free).
 */
int page_free_pages(struct page_alloc *pa, uint64_t phys, uint64_t npages);

/*
 * page_claim_pages - take the given pages if every one of them is free.
 * Returns: 0, or -ENOMEM (nothing changed) if any is in use or out of range.
 */
int page_claim_pages(struct page_alloc *pa, uint64_t phys, uint64_t npages);

/* The kernel's allocator (lib/kernel/mem.c) and its convenience wrappers. */
extern struct page_alloc kernel_pages;
void *alloc_pages(uint64_t npages); /* zeroed; NULL when out of memory */
void *alloc_pages_below(uint64_t npages, uint64_t limit);
void free_pages(void *p, uint64_t npages); /* panics on a bad free */

#endif
