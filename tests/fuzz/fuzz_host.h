/*
 * Host services for the virtqueue fuzzers: the DMA hooks of
 * include/virtio/virtio_dma.h (identity addresses, zeroed aligned memory of
 * exactly the size asked, so ASan redzones border every block) and
 * allocation-failure injection for the ring sources, which are built with
 * -Dmalloc=fuzz_malloc -Dcalloc=fuzz_calloc -Drealloc=fuzz_realloc (see the
 * Makefile).
 */
#ifndef TESTS_FUZZ_FUZZ_HOST_H
#define TESTS_FUZZ_FUZZ_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The nth allocation from now (DMA or heap, counting from 1) fails; 0 disarms. */
void fuzz_fail_alloc(unsigned nth);
/* Whether an injected failure happened since the last call (and clear it). */
bool fuzz_alloc_failed(void);

/* DMA blocks currently allocated. */
size_t fuzz_dma_live(void);
/* Whether [p, p + len) lies inside one live DMA block. */
bool fuzz_dma_contains(const void *p, size_t len);
/* Kept for the callers: ASan checks every access to DMA blocks as it happens. */
void fuzz_dma_check(void);

void *fuzz_malloc(size_t size);
void *fuzz_calloc(size_t n, size_t size);
void *fuzz_realloc(void *p, size_t size);

#endif
