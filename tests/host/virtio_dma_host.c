/*
 * Host implementation of the virtio DMA hooks (include/virtio/virtio_dma.h):
 * identity mapping; used by the host tests and the ring benchmark.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <virtio/virtio_dma.h>

/* Tests set this to n >= 0 to make the (n+1)-th allocation from now fail; -1: never. */
int virtio_dma_host_fail_after = -1;

void *virtio_dma_alloc(size_t size, size_t align)
{
	void *p;

	if (virtio_dma_host_fail_after >= 0 && virtio_dma_host_fail_after-- == 0)
		return NULL;
	if (align < 64)
		align = 64; /* whole cache lines: the ring benchmark sees no false sharing */
	if (align & (align - 1))
		return NULL;
	if (size == 0)
		size = 1;
	/* aligned_alloc wants a size that is a multiple of the alignment. */
	size = (size + align - 1) & ~(align - 1);
	p = aligned_alloc(align, size);
	if (p)
		memset(p, 0, size);
	return p;
}

void virtio_dma_free(void *p, size_t size)
{
	(void)size;
	free(p);
}

uint64_t virtio_dma_addr(const void *p, size_t len)
{
	(void)len;
	return (uint64_t)(uintptr_t)p;
}
