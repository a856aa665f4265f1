/*
 * The one place where driver memory becomes device addresses. The ring
 * core allocates ring memory and translates every buffer address through
 * these; today the kernel identity-maps RAM, a bounce buffer or IOMMU
 * mapping can come later without touching drivers. The kernel implements
 * them in drivers/virtio/ring/virtio_dma.c, the host tests in tests/host/.
 */
#ifndef VIRTIO_VIRTIO_DMA_H
#define VIRTIO_VIRTIO_DMA_H

#include <stddef.h>
#include <stdint.h>

/* virtio_dma_alloc - zeroed memory the device can reach. Returns: NULL on failure. */
void *virtio_dma_alloc(size_t size, size_t align);
void virtio_dma_free(void *p, size_t size);

/*
 * virtio_dma_addr - the device address of len bytes at p. Every environment
 * the ring runs in today (the kernel, the host tests, the fuzzers, the ring
 * benchmark) identity-maps the memory it hands to devices, so this is the
 * pointer itself, inline: as an out-of-line call it made the ring's per-buffer
 * add save and restore six registers (bench/ring/PROFILE.md, round 4). A
 * translating environment (bounce buffers, an IOMMU) would declare it here
 * instead and implement it beside virtio_dma_alloc.
 */
static inline uint64_t virtio_dma_addr(const void *p, size_t len)
{
	(void)len;
	return (uint64_t)(uintptr_t)p;
}

#endif
