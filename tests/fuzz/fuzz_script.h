/*
 * What the device-level fuzzers (fuzz_console, fuzz_blk, fuzz_acpi) share:
 * the input read as a script of bytes (zeros past its end), and the device
 * side of a split virtqueue (VIRTIO 1.2 2.7) working on the ring memory
 * the driver's queue exposes (identity DMA addresses, see fuzz_host.c).
 */
#ifndef TESTS_FUZZ_FUZZ_SCRIPT_H
#define TESTS_FUZZ_FUZZ_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <virtio/virtio_ring.h>
#include <virtio/virtqueue.h>

struct fz_script {
	const uint8_t *in;
	size_t len, pos;
};

static inline bool fz_more(const struct fz_script *s)
{
	return s->pos < s->len;
}

static inline uint8_t fz_u8(struct fz_script *s)
{
	return s->pos < s->len ? s->in[s->pos++] : 0;
}

static inline uint16_t fz_u16(struct fz_script *s)
{
	uint16_t v = fz_u8(s);

	return (uint16_t)(v | fz_u8(s) << 8);
}

static inline uint32_t fz_u32(struct fz_script *s)
{
	uint32_t v = fz_u16(s);

	return v | (uint32_t)fz_u16(s) << 16;
}

/* An invariant of the code under test does not hold: libFuzzer reports a crash. */
static inline __attribute__((noreturn)) void fz_bug(const char *who, const char *what)
{
	fprintf(stderr, "%s: %s\n", who, what);
	abort();
}

/* The device's side of one split queue. */
struct fz_splitq {
	struct virtqueue *vq;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint32_t num;
	uint16_t last_avail, used_idx;
};

/* fz_splitq_create - a split queue with no notification and the device's view of it. */
int fz_splitq_create(struct fz_splitq *q, const char *name, unsigned index, uint32_t num,
		     uint64_t features);

/* fz_splitq_pop - the head of the next available buffer, or -1 (none; or no queue). */
int fz_splitq_pop(struct fz_splitq *q);

/* fz_splitq_used - publish a used element {id, len}, whatever it names. */
void fz_splitq_used(struct fz_splitq *q, uint32_t id, uint32_t len);

#endif
