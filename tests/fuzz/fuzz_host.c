/*
 * Host services for the virtqueue fuzzers (see fuzz_host.h). Built without
 * the -Dmalloc=... redirections: this is where the real allocator is called.
 */
#undef malloc
#undef calloc
#undef realloc

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <virtio/virtio_dma.h>

#include "fuzz_host.h"

#define DMA_GUARD      64
#define DMA_GUARD_BYTE 0xdb
#define DMA_MAX_SIZE   (64u << 20) /* the fuzzers never need more; refuse like ENOMEM */
#define DMA_MAX_ALIGN  4096	   /* as the kernel's virtio_dma_alloc */

struct dma_block {
	uint8_t *base; /* what aligned_alloc returned */
	uint8_t *p;    /* what the ring core got */
	size_t size, lead;
};

static struct dma_block *blocks;
static size_t nblocks, cap;
static unsigned fail_countdown;
static bool failed;

static void die(const char *what, const void *p, size_t size)
{
	fprintf(stderr, "fuzz_host: %s (%p, %zu bytes)\n", what, p, size);
	abort();
}

void fuzz_fail_alloc(unsigned nth)
{
	fail_countdown = nth;
}

bool fuzz_alloc_failed(void)
{
	bool f = failed;

	failed = false;
	return f;
}

static bool inject(void)
{
	if (fail_countdown && --fail_countdown == 0) {
		failed = true;
		return true;
	}
	return false;
}

void *fuzz_malloc(size_t size)
{
	return inject() ? NULL : malloc(size);
}

void *fuzz_calloc(size_t n, size_t size)
{
	return inject() ? NULL : calloc(n, size);
}

void *fuzz_realloc(void *p, size_t size)
{
	return inject() ? NULL : realloc(p, size);
}

/* Not instrumented for coverage: it runs after every operation and only compares. */
__attribute__((no_sanitize("coverage"))) static bool all_guard(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != DMA_GUARD_BYTE)
			return false;
	return true;
}

/* The DMA_GUARD bytes on either side of the block (the rest of the lead is never checked). */
static void check_block(const struct dma_block *b)
{
	if (!all_guard(b->p - DMA_GUARD, DMA_GUARD))
		die("DMA block: guard before the block written", b->p, b->size);
	if (!all_guard(b->p + b->size, DMA_GUARD))
		die("DMA block: guard after the block written", b->p, b->size);
}

void *virtio_dma_alloc(size_t size, size_t align)
{
	struct dma_block b;
	size_t total;

	if (align == 0 || (align & (align - 1)))
		die("virtio_dma_alloc: alignment not a power of two", NULL, align);
	if (inject() || size == 0 || size > DMA_MAX_SIZE || align > DMA_MAX_ALIGN)
		return NULL;
	if (align < 16)
		align = 16;
	b.lead = (DMA_GUARD + align - 1) & ~(align - 1);
	b.size = size;
	total = (b.lead + size + DMA_GUARD + align - 1) & ~(align - 1);
	b.base = aligned_alloc(align, total);
	if (!b.base)
		return NULL;
	memset(b.base, DMA_GUARD_BYTE, total);
	b.p = b.base + b.lead;
	memset(b.p, 0, size);
	if (nblocks == cap) {
		struct dma_block *nb;

		cap = cap ? 2 * cap : 16;
		nb = realloc(blocks, cap * sizeof(*blocks));
		if (!nb)
			die("out of memory", NULL, cap);
		blocks = nb;
	}
	blocks[nblocks++] = b;
	return b.p;
}

void virtio_dma_free(void *p, size_t size)
{
	if (!p)
		return;
	for (size_t i = 0; i < nblocks; i++) {
		if (blocks[i].p != p)
			continue;
		if (blocks[i].size != size)
			die("virtio_dma_free: size differs from the allocation", p, size);
		check_block(&blocks[i]);
		free(blocks[i].base);
		blocks[i] = blocks[--nblocks];
		if (nblocks == 0) {
			free(blocks);
			blocks = NULL;
			cap = 0;
		}
		return;
	}
	die("virtio_dma_free: not a live DMA block", p, size);
}

uint64_t virtio_dma_addr(const void *p, size_t len)
{
	(void)len;
	return (uint64_t)(uintptr_t)p;
}

size_t fuzz_dma_live(void)
{
	return nblocks;
}

bool fuzz_dma_contains(const void *p, size_t len)
{
	const uint8_t *q = p;

	for (size_t i = 0; i < nblocks; i++)
		if (q >= blocks[i].p && len <= blocks[i].size &&
		    (size_t)(q - blocks[i].p) <= blocks[i].size - len)
			return true;
	return false;
}

void fuzz_dma_check(void)
{
	for (size_t i = 0; i < nblocks; i++)
		check_block(&blocks[i]);
}
