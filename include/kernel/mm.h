/*
 * Address-space services: RAM is identity-mapped (virtual == physical),
 * so DMA addresses are the pointers themselves. Device and firmware memory
 * is mapped on demand.
 */
#ifndef KERNEL_MM_H
#define KERNEL_MM_H

#include <stddef.h>
#include <stdint.h>

#include <kernel/memmap.h>

static inline uint64_t virt_to_phys(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

static inline void *phys_to_virt(uint64_t pa)
{
	return (void *)(uintptr_t)pa;
}

/*
 * ioremap - map device registers uncached (UC, no execute).
 * Returns: the virtual address, or NULL if the range overlaps memory
 * already mapped with another caching type (RAM, say) or tables ran out.
 */
void *ioremap(uint64_t phys, size_t size);

/* memremap - map firmware memory (ACPI tables, ...) write-back, no execute. */
void *memremap(uint64_t phys, size_t size);

/*
 * memunmap - remove the pages of [phys, phys + size) from the map. Only for
 * something memremap mapped that the kernel does not map otherwise (page 0,
 * which stays unmapped to catch NULL): never for RAM or a range that shares
 * a page with it.
 */
void memunmap(uint64_t phys, size_t size);

/* paging_init - build the kernel's page tables from the firmware memory map. */
void paging_init(const struct mem_map *firmware_map);

/* The firmware's memory map (normalised) and the kernel's view of RAM. */
extern struct mem_map phys_map;

/* mem_init - page allocator and heap from the boot memory map. */
void mem_init(const struct boot_mem_range *ranges, unsigned n);

/* Heap statistics for the shell and tests. */
struct heap_stats {
	uint64_t start;	  /* where the heap began */
	uint64_t brk;	  /* the current break */
	uint64_t claimed; /* bytes of pages the heap holds */
};
void heap_get_stats(struct heap_stats *s);

#endif
