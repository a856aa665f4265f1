/*
 * Kernel page tables (4-level, SDM Vol. 3A, 4.5). RAM and ACPI memory are
 * identity-mapped write-back and no-execute in 2 MiB pages where alignment
 * allows; the kernel image gets 4 KiB pages with text RX, rodata R and
 * data RW; page 0 and the stack guard page stay unmapped so NULL
 * dereferences and stack overflows fault. Device memory is mapped
 * uncached by ioremap() when a driver asks for it.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <arch/x86_64/cpu.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <kernel/page_alloc.h>

#define PTE_NX	  (1ull << 63)
#define PTE_ADDR  0x000ffffffffff000ull
#define PTE_CACHE (PTE_PWT | PTE_PCD)
#define LARGE	  0x200000ull

static uint64_t *pml4;
static uint64_t nx_bit;
static bool tables_live; /* our tables are in CR3: invalidate on change */
extern char boot_stack_guard[];

static uint64_t *new_table(void)
{
	/* Until our tables are live only the boot map's first 4 GiB is reachable. */
	uint64_t *t = tables_live ? alloc_pages(1) : alloc_pages_below(1, 4 * GiB);

	return t; /* alloc_pages zeroes */
}

static unsigned idx(uint64_t va, int level)
{
	return (va >> (12 + 9 * level)) & 511;
}

/* Replace a 2 MiB mapping by a table of 512 4 KiB ones with the same attributes. */
static uint64_t *split_large(uint64_t *pde)
{
	uint64_t *pt = new_table();
	uint64_t base = *pde & PTE_ADDR & ~(LARGE - 1);
	uint64_t attr = *pde & ~PTE_ADDR & ~(uint64_t)PTE_PS & ~(1ull << 12);

	if (!pt)
		return NULL;
	for (unsigned i = 0; i < 512; i++)
		pt[i] = (base + i * PAGE_SIZE) | attr;
	*pde = virt_to_phys(pt) | PTE_P | PTE_W;
	return pt;
}

static uint64_t *next_level(uint64_t *table, unsigned i)
{
	if (!(table[i] & PTE_P)) {
		uint64_t *t = new_table();

		if (!t)
			return NULL;
		table[i] = virt_to_phys(t) | PTE_P | PTE_W;
	}
	return phys_to_virt(table[i] & PTE_ADDR);
}

/*
 * Map [va, va+len) to pa with attributes attr (PTE_W, PTE_CACHE, PTE_NX).
 * check_cache: refuse (-EBUSY) when a page is already mapped with another
 * caching type; used by ioremap/memremap, not by the initial build.
 */
static int map_range(uint64_t va, uint64_t pa, uint64_t len, uint64_t attr, bool allow_large,
		     bool check_cache)
{
	uint64_t end = va + len;

	attr = (attr & ~PTE_NX) | (attr & PTE_NX ? nx_bit : 0) | PTE_P;
	while (va < end) {
		uint64_t *pdpt, *pd, *pt;

		if (!(pdpt = next_level(pml4, idx(va, 3))) || !(pd = next_level(pdpt, idx(va, 2))))
			return -ENOMEM;
		uint64_t *pde = &pd[idx(va, 1)];

		if (allow_large && IS_ALIGNED(va, LARGE) && IS_ALIGNED(pa, LARGE) &&
		    end - va >= LARGE && (!(*pde & PTE_P) || (*pde & PTE_PS))) {
			if (check_cache && (*pde & PTE_P) &&
			    (*pde & PTE_CACHE) != (attr & PTE_CACHE))
				return -EBUSY;
			*pde = pa | attr | PTE_PS;
			if (tables_live)
				invlpg(va);
			va += LARGE;
			pa += LARGE;
			continue;
		}
		if ((*pde & PTE_P) && (*pde & PTE_PS)) {
			if (check_cache && (*pde & PTE_CACHE) != (attr & PTE_CACHE))
				return -EBUSY;
			if (!split_large(pde))
				return -ENOMEM;
			if (tables_live)
				invlpg(va & ~(LARGE - 1));
		}
		if (!(pt = next_level(pd, idx(va, 1))))
			return -ENOMEM;
		uint64_t *pte = &pt[idx(va, 0)];
		if (check_cache && (*pte & PTE_P) && (*pte & PTE_CACHE) != (attr & PTE_CACHE))
			return -EBUSY;
		*pte = pa | attr;
		if (tables_live)
			invlpg(va);
		va += PAGE_SIZE;
		pa += PAGE_SIZE;
	}
	return 0;
}

static void unmap_page(uint64_t va)
{
	uint64_t *pdpt = next_level(pml4, idx(va, 3));
	uint64_t *pd = pdpt ? next_level(pdpt, idx(va, 2)) : NULL;
	uint64_t *pde = pd ? &pd[idx(va, 1)] : NULL;

	if (!pde || !(*pde & PTE_P))
		return;
	if ((*pde & PTE_PS) && !split_large(pde))
		panic("paging: no memory to split a page");
	((uint64_t *)phys_to_virt(*pde & PTE_ADDR))[idx(va, 0)] = 0;
	if (tables_live)
		invlpg(va);
}

static void map_or_panic(uint64_t va, uint64_t len, uint64_t attr, bool large)
{
	if (len && map_range(va, va, len, attr, large, false))
		panic("paging: out of memory for page tables");
}

void paging_init(const struct mem_map *fw)
{
	uint64_t text = (uint64_t)__text_start, rodata = (uint64_t)__rodata_start;
	uint64_t data = (uint64_t)__data_start, end = ALIGN_UP((uint64_t)__kernel_end, PAGE_SIZE);

	nx_bit = (rdmsr(MSR_EFER) & EFER_NXE) ? PTE_NX : 0;
	pml4 = new_table();
	if (!pml4)
		panic("paging: no memory for the PML4");

	for (unsigned i = 0; i < fw->nr; i++) {
		const struct boot_mem_range *r = &fw->r[i];
		uint64_t lo = r->base, hi = r->base + r->len;

		if (r->type != BOOT_MEM_RAM && r->type != BOOT_MEM_ACPI && r->type != BOOT_MEM_NVS)
			continue;
		lo = ALIGN_UP(MAX(lo, PAGE_SIZE), PAGE_SIZE); /* page 0 stays unmapped */
		hi = ALIGN_DOWN(hi, PAGE_SIZE);
		if (lo < hi)
			map_or_panic(lo, hi - lo, PTE_W | PTE_NX, true);
	}

	/* The kernel image, whatever the firmware said about its memory. */
	map_or_panic((uint64_t)__kernel_start, text - (uint64_t)__kernel_start, PTE_NX, false);
	map_or_panic(text, rodata - text, 0, false);
	map_or_panic(rodata, data - rodata, PTE_NX, false);
	map_or_panic(data, end - data, PTE_W | PTE_NX, false);
	unmap_page((uint64_t)boot_stack_guard);

	write_cr3(virt_to_phys(pml4));
	write_cr0(read_cr0() | CR0_WP); /* read-only pages bind the kernel too */
	tables_live = true;
}

static void *remap(uint64_t phys, size_t size, uint64_t attr)
{
	uint64_t lo = ALIGN_DOWN(phys, PAGE_SIZE), hi;

	if (size == 0 || phys + size < phys)
		return NULL;
	hi = ALIGN_UP(phys + size, PAGE_SIZE);
	if (map_range(lo, lo, hi - lo, attr, true, true)) {
		kprintf("paging: cannot map 0x%llx+0x%zx (attribute conflict or no memory)\n",
			(unsigned long long)phys, size);
		return NULL;
	}
	return phys_to_virt(phys);
}

void *ioremap(uint64_t phys, size_t size)
{
	return remap(phys, size, PTE_W | PTE_NX | PTE_CACHE);
}

void *memremap(uint64_t phys, size_t size)
{
	return remap(phys, size, PTE_W | PTE_NX);
}

void memunmap(uint64_t phys, size_t size)
{
	uint64_t va = ALIGN_DOWN(phys, PAGE_SIZE);

	if (size == 0 || phys + size < phys)
		return;
	for (; va < phys + size; va += PAGE_SIZE)
		unmap_page(va);
}
