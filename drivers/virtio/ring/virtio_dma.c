/*
 * The kernel's DMA hooks for the virtqueue core (include/virtio/virtio_dma.h):
 * RAM is identity-mapped, so a device address is the physical address.
 */
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <kernel/page_alloc.h>
#include <virtio/virtio_dma.h>

void *virtio_dma_alloc(size_t size, size_t align)
{
	if (size == 0 || align > PAGE_SIZE)
		return NULL;
	return alloc_pages(ALIGN_UP((uint64_t)size, PAGE_SIZE) / PAGE_SIZE); /* zeroed */
}

void virtio_dma_free(void *p, size_t size)
{
	if (p)
		free_pages(p, ALIGN_UP((uint64_t)size, PAGE_SIZE) / PAGE_SIZE);
}
