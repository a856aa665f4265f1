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

#define DMA_MAX_SIZE  (64u << 20) /* the fuzzers never need more; refuse like ENOMEM */
#define DMA_MAX_ALIGN 4096	  /* as the kernel's virtio_dma_alloc */

/*
 * Every live block, exactly as large as asked (posix_memalign takes any
 * size): ASan's redzones sit right before and after it, so an access one
 * byte outside is reported where it happens, not found later in padding.
 */
struct dma_block {
	uint8_t *p;
	size_t size;
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

void *virtio_dma_alloc(size_t size, size_t align)
{
	struct dma_block b;
	void *p;

	if (align == 0 || (align & (align - 1)))
		die("virtio_dma_alloc: alignment not a power of two", NULL, align);
	if (inject() || size == 0 || size > DMA_MAX_SIZE || align > DMA_MAX_ALIGN)
		return NULL;
	if (align < sizeof(void *))
		align = sizeof(void *); /* posix_memalign's least */
	if (posix_memalign(&p, align, size) != 0)
		return NULL;
	b.p = p;
	b.size = size;
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
		free(blocks[i].p);
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
	/* Nothing left to compare: ASan reports an access outside a block as it happens. */
}
