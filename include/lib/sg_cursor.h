/*
 * sg_cursor: a position inside an sg_ring chain, for cutting the chain into
 * pieces that honour a device's limits (entries per request, bytes per
 * entry, bytes per request, alignment) without copying the data: a piece
 * is a list of (address, length) pairs pointing into the caller's buffers.
 * Portable: the same source builds for the kernel and the host tests.
 */
#ifndef LIB_SG_CURSOR_H
#define LIB_SG_CURSOR_H

#include <stdint.h>

#include <lib/sg_ring.h>

struct sg_cursor {
	const struct sg_ring *ring; /* ring of the next byte; NULL at the end */
	unsigned int idx;	    /* its entry in ring */
	uint32_t off;		    /* bytes of that entry already taken */
};

/* sg_cursor_init - place c at the first byte of the chain head (may be NULL). */
void sg_cursor_init(struct sg_cursor *c, const struct sg_ring *head);

/*
 * sg_cursor_take - describe the bytes that follow c in out (which is
 * emptied first): at most max_ents entries (and out->max), none longer
 * than max_seg (0: no limit), at most max_bytes in all, the total rounded
 * down to a multiple of align (a power of two); then move c past them.
 * Zero-length entries of the chain are skipped. The chain must be valid
 * (sg_count() >= 0): the walk trusts it.
 * Returns: the bytes described; 0 at the end of the chain, or when fewer
 * than align bytes fit in the entries allowed (c and out are then as if
 * nothing was taken).
 */
uint64_t sg_cursor_take(struct sg_cursor *c, struct sg_ring *out, unsigned int max_ents,
			uint32_t max_seg, uint64_t max_bytes, uint32_t align);

/* sg_cursor_skip - move c forward by n bytes (to the end at most). Returns: bytes skipped. */
uint64_t sg_cursor_skip(struct sg_cursor *c, uint64_t n);

#endif
