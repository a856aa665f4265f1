/*
 * Memory bring-up: the firmware map is normalised, the kernel image and
 * the legacy first megabyte are kept out, and the page allocator gets the
 * rest. newlib's malloc grows through sbrk() upward from the lowest RAM
 * range above the kernel, claiming pages one by one from the same
 * allocator, which hands out pages top-down; either side running out gives
 * NULL/ENOMEM. RAM is identity-mapped, so when a range is full sbrk moves
 * on to the next one up: newlib's malloc fences off the old top and
 * carries on (its "foreign sbrk" case), so the heap spans the PCI hole.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <arch/x86_64/cpu.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <kernel/page_alloc.h>

struct mem_map phys_map;
struct page_alloc kernel_pages;

static struct mem_map avail_map;
static uint64_t heap_start, heap_brk, heap_claimed_end, heap_claimed_bytes;
static unsigned heap_range; /* index in avail_map of the range the break is in */

void mem_init(const struct boot_mem_range *ranges, unsigned n)
{
	uint64_t kstart = (uint64_t)__kernel_start;
	uint64_t kend = ALIGN_UP((uint64_t)__kernel_end, PAGE_SIZE);
	uint64_t ram_end, bitmap, bitmap_size;

	if (memmap_normalize(&phys_map, ranges, n) < 0)
		panic("mem: firmware memory map has more than %d ranges", MEMMAP_MAX);
	avail_map = phys_map;
	/* Below 1 MiB: BIOS data, EBDA, option ROMs; kept for later trampolines. */
	if (memmap_reserve(&avail_map, 0, 1 * MiB) ||
	    memmap_reserve(&avail_map, kstart, kend - kstart))
		panic("mem: memory map too fragmented");

	ram_end = memmap_ram_end(&avail_map);
	if (ram_end == 0)
		panic("mem: the memory map has no usable RAM");
	bitmap_size = ALIGN_UP(page_alloc_bitmap_size(ram_end), PAGE_SIZE);
	/* The boot page tables map only the first 4 GiB. */
	bitmap = memmap_find_ram(&avail_map, bitmap_size, PAGE_SIZE, kend);
	if (bitmap == 0 || bitmap + bitmap_size > 4 * GiB)
		panic("mem: no room for the page bitmap (%llu KiB)",
		      (unsigned long long)(bitmap_size / KiB));
	if (memmap_reserve(&avail_map, bitmap, bitmap_size))
		panic("mem: memory map too fragmented");

	page_alloc_init(&kernel_pages, phys_to_virt(bitmap), ram_end);
	for (unsigned i = 0; i < avail_map.nr; i++)
		if (avail_map.r[i].type == BOOT_MEM_RAM)
			page_alloc_add(&kernel_pages, avail_map.r[i].base, avail_map.r[i].len);

	heap_range = 0;
	while (heap_range < avail_map.nr && (avail_map.r[heap_range].type != BOOT_MEM_RAM ||
					     avail_map.r[heap_range].base < kend))
		heap_range++;
	if (heap_range == avail_map.nr)
		panic("mem: no RAM above the kernel for the heap");
	heap_start = heap_brk = heap_claimed_end =
		ALIGN_UP(avail_map.r[heap_range].base, PAGE_SIZE);
}

void *alloc_pages_below(uint64_t npages, uint64_t limit)
{
	uint64_t flags = irq_save();
	uint64_t pa = page_alloc_pages(&kernel_pages, npages, 1, limit);

	irq_restore(flags);
	if (!pa)
		return NULL;
	memset(phys_to_virt(pa), 0, npages * PAGE_SIZE);
	return phys_to_virt(pa);
}

void *alloc_pages(uint64_t npages)
{
	return alloc_pages_below(npages, 0);
}

void free_pages(void *p, uint64_t npages)
{
	uint64_t flags = irq_save();
	int rc = page_free_pages(&kernel_pages, virt_to_phys(p), npages);

	irq_restore(flags);
	if (rc)
		panic("free_pages: bad free of %llu pages at %p", (unsigned long long)npages, p);
}

/* Take the pages of [from, to) for the heap. Returns: 0 or -ENOMEM. */
static int heap_claim(uint64_t from, uint64_t to)
{
	if (to > from && page_claim_pages(&kernel_pages, from, (to - from) / PAGE_SIZE))
		return -ENOMEM;
	heap_claimed_bytes += to - from;
	return 0;
}

/*
 * Grow within the current range, or move the break to the first higher RAM
 * range with room for incr. Returns: the old break (the start of the new
 * memory), or (void *)-1 with errno ENOMEM.
 */
static void *heap_grow(uint64_t incr)
{
	const struct boot_mem_range *r = &avail_map.r[heap_range];
	uint64_t old = heap_brk, new = old + incr;

	if (new >= heap_brk &&new <= r->base + r->len &&
	    heap_claim(heap_claimed_end, ALIGN_UP(new, PAGE_SIZE)) == 0) {
		heap_claimed_end = MAX(heap_claimed_end, ALIGN_UP(new, PAGE_SIZE));
		heap_brk = new;
		return phys_to_virt(old);
	}
	for (unsigned i = heap_range + 1; i < avail_map.nr; i++) {
		uint64_t base = ALIGN_UP(avail_map.r[i].base, PAGE_SIZE);
		uint64_t end = avail_map.r[i].base + avail_map.r[i].len;

		if (avail_map.r[i].type != BOOT_MEM_RAM || base >= end || end - base < incr)
			continue;
		if (heap_claim(base, ALIGN_UP(base + incr, PAGE_SIZE)))
			continue;
		heap_range = i;
		heap_brk = base + incr;
		heap_claimed_end = ALIGN_UP(heap_brk, PAGE_SIZE);
		return phys_to_virt(base);
	}
	errno = ENOMEM;
	return (void *)-1;
}

/* newlib's malloc grows and trims its arena through sbrk(). */
void *sbrk(ptrdiff_t incr)
{
	uint64_t flags, want_end;
	void *ret;

	if (heap_start == 0) {
		errno = ENOMEM;
		return (void *)-1;
	}
	flags = irq_save();
	if (incr >= 0) {
		ret = heap_grow((uint64_t)incr);
	} else if ((uint64_t)-incr > heap_brk - avail_map.r[heap_range].base) {
		errno = ENOMEM; /* trims never cross back into an older range */
		ret = (void *)-1;
	} else {
		ret = phys_to_virt(heap_brk);
		heap_brk -= (uint64_t)-incr;
		want_end = ALIGN_UP(heap_brk, PAGE_SIZE);
		if (want_end < heap_claimed_end) {
			if (page_free_pages(&kernel_pages, want_end,
					    (heap_claimed_end - want_end) / PAGE_SIZE))
				panic("sbrk: heap pages were not ours");
			heap_claimed_bytes -= heap_claimed_end - want_end;
			heap_claimed_end = want_end;
		}
	}
	irq_restore(flags);
	return ret;
}

void heap_get_stats(struct heap_stats *s)
{
	s->start = heap_start;
	s->brk = heap_brk;
	s->claimed = heap_claimed_bytes;
}
