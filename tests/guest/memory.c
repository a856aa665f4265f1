/* The page allocator and newlib's malloc on top of sbrk. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <kernel/page_alloc.h>
#include <kernel/registry.h>

static uint64_t rng(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

static void fill(unsigned char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(tag * 31 + i * 7);
}

static int check(const unsigned char *p, size_t n, unsigned tag)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(tag * 31 + i * 7))
			return 1;
	return 0;
}

#define NBLOCKS 512

KTEST(malloc, "malloc/realloc/calloc/free of many sizes, contents kept")
{
	static unsigned char *blk[NBLOCKS];
	static size_t len[NBLOCKS];
	uint64_t seed = 12345;
	int bad = 0;

	for (int round = 0; round < 4; round++) {
		for (unsigned i = 0; i < NBLOCKS; i++) {
			/* 1 B to 256 KiB, skewed to small sizes */
			len[i] = 1 + (rng(&seed) % (1u << (rng(&seed) % 18 + 1)));
			blk[i] = malloc(len[i]);
			if (!blk[i]) {
				printf("malloc: %zu bytes failed\n", len[i]);
				return 1;
			}
			fill(blk[i], len[i], i);
		}
		for (unsigned i = 0; i < NBLOCKS; i++) {
			unsigned j = (unsigned)(rng(&seed) % NBLOCKS);
			size_t grow = len[j] * 2 + 1;
			unsigned char *p;

			if (!blk[j])
				continue;
			p = realloc(blk[j], grow);
			if (!p || check(p, len[j], j)) {
				printf("realloc: block %u lost its contents\n", j);
				bad++;
			}
			if (p) {
				fill(p, grow, j);
				blk[j] = p;
				len[j] = grow;
			}
		}
		for (unsigned i = 0; i < NBLOCKS; i++) {
			bad += check(blk[i], len[i], i);
			free(blk[i]);
			blk[i] = NULL;
		}
	}

	unsigned char *z = calloc(1000, 33);
	for (size_t i = 0; z && i < 33000; i++)
		if (z[i]) {
			bad++;
			break;
		}
	free(z);

	void *aligned = memalign(4096, 10000);
	if (!aligned || ((uintptr_t)aligned & 4095))
		bad++;
	free(aligned);

	errno = 0;
	void *huge = malloc((size_t)1 << 46); /* 64 TiB: must fail cleanly */
	if (huge || errno != ENOMEM) {
		printf("malloc: 64 TiB gave %p, errno %d\n", huge, errno);
		bad++;
	}
	printf("malloc: %d problems\n", bad);
	return bad;
}

KTEST(heap_most, "malloc can take most of free RAM, and give it back")
{
	uint64_t free_before = kernel_pages.nfree * PAGE_SIZE;
	const size_t chunk = 1 << 20;
	void **list = NULL;
	size_t n = 0, cap = 0;
	int bad = 0;

	for (;;) {
		void *p = malloc(chunk - 64);

		if (!p)
			break;
		memset(p, 0xa5, 64); /* touch it */
		if (n == cap) {
			void **nl = realloc(list, (cap ? cap * 2 : 64) * sizeof(*list));
			if (!nl) {
				free(p);
				break;
			}
			list = nl;
			cap = cap ? cap * 2 : 64;
		}
		list[n++] = p;
	}
	printf("heap: allocated %zu MiB of %llu MiB free\n", n,
	       (unsigned long long)(free_before / MiB));
	if ((uint64_t)n * chunk < free_before / 10 * 9) {
		printf("heap: less than 90%% of free memory was allocatable\n");
		bad++;
	}
	while (n)
		free(list[--n]);
	free(list);
	malloc_trim(0);
	void *again = malloc(64 << 20);
	if (!again) {
		printf("heap: 64 MiB allocation failed after freeing everything\n");
		bad++;
	}
	free(again);
	return bad;
}

KTEST(pages, "page allocator: aligned runs, zeroed, returned")
{
	uint64_t before;
	unsigned char *a, *b, *c;
	int bad = 0;

	/* stdio's buffer comes from the heap: let it be allocated first. */
	printf("pages: start\n");
	before = kernel_pages.nfree;
	a = alloc_pages(1);
	b = alloc_pages(16);

	c = (unsigned char *)phys_to_virt(page_alloc_pages(&kernel_pages, 512, 512, 0));
	if (!a || !b || !c || (virt_to_phys(c) & (2 * MiB - 1))) {
		printf("pages: allocation failed or misaligned\n");
		return 1;
	}
	/* Top-down: on a guest with RAM above 4 GiB, pages come from there. */
	printf("pages: first page at 0x%llx, RAM ends at 0x%llx\n",
	       (unsigned long long)virt_to_phys(a), (unsigned long long)memmap_ram_end(&phys_map));
	if (memmap_ram_end(&phys_map) > 4 * GiB + 64 * MiB && virt_to_phys(a) < 4 * GiB) {
		printf("pages: RAM above 4 GiB was not used first\n");
		bad++;
	}
	for (size_t i = 0; i < 16 * PAGE_SIZE; i++)
		bad += b[i] != 0;
	memset(a, 1, PAGE_SIZE);
	for (size_t i = 0; i < PAGE_SIZE; i++)
		bad += a[i] != 1;
	memset(c, 2, 512 * PAGE_SIZE);
	free_pages(a, 1);
	free_pages(b, 16);
	free_pages(c, 512);
	if (kernel_pages.nfree != before) {
		printf("pages: %llu free before, %llu after\n", (unsigned long long)before,
		       (unsigned long long)kernel_pages.nfree);
		bad++;
	}
	if (page_free_pages(&kernel_pages, virt_to_phys(a), 1) != -EINVAL) {
		printf("pages: double free not caught\n");
		bad++;
	}
	void *mmio = ioremap(0xfed00000, 4096); /* HPET/IOAPIC area: not RAM */
	printf("pages: ioremap of a RAM page must be refused:\n");
	void *ram = ioremap(virt_to_phys(a), 4096);
	if (!mmio || ram) {
		printf("pages: ioremap mmio %p (want non-NULL), ram %p (want NULL)\n", mmio, ram);
		bad++;
	}
	return bad;
}
