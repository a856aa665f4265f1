/*
 * The DMA hooks (include/virtio/virtio_dma.h) for the ring benchmark, on the
 * host: zeroed, aligned heap memory; a device address is the pointer.
 */
#include <stdlib.h>
#include <string.h>

#include <virtio/virtio_dma.h>

void *virtio_dma_alloc(size_t size, size_t align)
{
	void *p;

	if (size == 0 || align == 0 || (align & (align - 1)))
		return NULL;
	if (align < 64)
		align = 64; /* whole cache lines: no false sharing with the heap */
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
