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

/* virtio_dma_addr - the device address of len bytes at p. */
uint64_t virtio_dma_addr(const void *p, size_t len);

#endif
