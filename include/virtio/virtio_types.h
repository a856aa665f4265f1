/*
 * Little-endian wire types (VIRTIO 1.2 section 1.4: all fields of modern
 * devices are little-endian). The typedefs document intent; the accessors
 * byte-swap only on a big-endian CPU, so on x86 they compile to nothing.
 */
#ifndef VIRTIO_VIRTIO_TYPES_H
#define VIRTIO_VIRTIO_TYPES_H

#include <stdint.h>

typedef uint16_t le16;
typedef uint32_t le32;
typedef uint64_t le64;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VIRTIO_SWAP16(x) __builtin_bswap16(x)
#define VIRTIO_SWAP32(x) __builtin_bswap32(x)
#define VIRTIO_SWAP64(x) __builtin_bswap64(x)
#else
#define VIRTIO_SWAP16(x) (x)
#define VIRTIO_SWAP32(x) (x)
#define VIRTIO_SWAP64(x) (x)
#endif

static inline le16 cpu_to_le16(uint16_t v)
{
	return VIRTIO_SWAP16(v);
}
static inline le32 cpu_to_le32(uint32_t v)
{
	return VIRTIO_SWAP32(v);
}
static inline le64 cpu_to_le64(uint64_t v)
{
	return VIRTIO_SWAP64(v);
}
static inline uint16_t le16_to_cpu(le16 v)
{
	return VIRTIO_SWAP16(v);
}
static inline uint32_t le32_to_cpu(le32 v)
{
	return VIRTIO_SWAP32(v);
}
static inline uint64_t le64_to_cpu(le64 v)
{
	return VIRTIO_SWAP64(v);
}

#endif
