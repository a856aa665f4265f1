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
		align = 64; /* cache-line starts: the ring benchmark sees no false sharing */
	if (align & (align - 1))
		return NULL;
	if (size == 0)
		size = 1;
	/*
	 * Exactly size bytes (posix_memalign, unlike aligned_alloc, takes any
	 * size): under ASan the redzone starts at the first byte past the
	 * block, so an overflow of one byte is caught, not hidden in padding.
	 */
	if (posix_memalign(&p, align, size) != 0)
		return NULL;
	memset(p, 0, size);
	return p;
}

void virtio_dma_free(void *p, size_t size)
{
	(void)size;
	free(p);
}
