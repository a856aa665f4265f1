/*
 * Physical memory map: the firmware's E820-style list made sorted,
 * non-overlapping and merged, with ranges the kernel claims carved out.
 * Portable: host-tested with the kernel's own source.
 */
#ifndef KERNEL_MEMMAP_H
#define KERNEL_MEMMAP_H

#include <stdint.h>
#include <boot/boot_info.h>

#define MEMMAP_MAX 256

struct mem_map {
	unsigned nr;
	unsigned dropped; /* input entries ignored (empty or wrapping) */
	struct boot_mem_range r[MEMMAP_MAX];
};

/*
 * memmap_normalize - build a clean map from firmware entries.
 * Overlaps are resolved range by range: RAM loses to any other type, and
 * among the others the higher type number wins (more restrictive), as E820
 * consumers do. Unknown types count as reserved. Adjacent ranges of the
 * same type are merged.
 * Returns: number of ranges, or -E2BIG if they do not fit in MEMMAP_MAX.
 */
int memmap_normalize(struct mem_map *m, const struct boot_mem_range *in, unsigned n);

/*
 * memmap_reserve - mark [base, base+len) reserved (e.g. the kernel image).
 * Returns: 0, or -E2BIG if the map has no room for the split.
 */
int memmap_reserve(struct mem_map *m, uint64_t base, uint64_t len);

/* memmap_total - bytes of the given type. */
uint64_t memmap_total(const struct mem_map *m, uint32_t type);

/* memmap_ram_end - end of the highest RAM range (0 if none). */
uint64_t memmap_ram_end(const struct mem_map *m);

/*
 * memmap_find_ram - lowest RAM address >= min where size bytes aligned to
 * align fit inside one RAM range.
 * Returns: the address, or 0 when nothing fits.
 */
uint64_t memmap_find_ram(const struct mem_map *m, uint64_t size, uint64_t align, uint64_t min);

const char *memmap_type_name(uint32_t type);

#endif
