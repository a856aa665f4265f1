/*
 * Memory bring-up: the firmware map is normalised, the kernel image and
 * the legacy first megabyte are kept out, the page allocator gets the
 * rest, and newlib's malloc grows through sbrk() upward from just past the
 * kernel, claiming pages one by one from the same allocator (which hands
 * out pages top-down). Either side running out gives NULL/ENOMEM.
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
static uint64_t heap_start, heap_brk, heap_claimed_end;

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

	heap_start = heap_brk = heap_claimed_end = bitmap + bitmap_size;
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
		panic("free_pages: bad free of %llu pages at %p",
		      (unsigned long long)npages, p);
}

/* newlib's malloc grows and trims its arena through sbrk(). */
void *sbrk(ptrdiff_t incr)
{
	uint64_t old = heap_brk, new = heap_brk + (uint64_t)incr;
	uint64_t want_end = ALIGN_UP(new, PAGE_SIZE);
	uint64_t flags;

	if (heap_start == 0 || (incr < 0 && new < heap_start) ||
	    (incr > 0 && new < old)) {
		errno = ENOMEM;
		return (void *)-1;
	}
	flags = irq_save();
	if (want_end > heap_claimed_end) {
		if (page_claim_pages(&kernel_pages, heap_claimed_end,
				     (want_end - heap_claimed_end) / PAGE_SIZE)) {
			irq_restore(flags);
			errno = ENOMEM;
			return (void *)-1;
		}
		heap_claimed_end = want_end;
	} else if (want_end < heap_claimed_end) {
		if (page_free_pages(&kernel_pages, want_end,
				    (heap_claimed_end - want_end) / PAGE_SIZE))
			panic("sbrk: heap pages were not ours");
		heap_claimed_end = want_end;
	}
	heap_brk = new;
	irq_restore(flags);
	return phys_to_virt(old);
}

void heap_get_stats(struct heap_stats *s)
{
	s->start = heap_start;
	s->brk = heap_brk;
	s->limit_hint = heap_claimed_end + kernel_pages.nfree * PAGE_SIZE;
}
