/*
 * The test pattern of block devices: bytes that depend on a seed, the
 * 512-byte sector and the offset in it, so a misplaced, stale or torn
 * sector is caught, and that the guest (C) and the host (Python,
 * tests/qemu/blkpattern.py) compute identically:
 *
 *	mix(z)  = splitmix64 finaliser of z + 0x9e3779b97f4a7c15
 *	key     = mix(seed ^ mix(sector))
 *	word i  = mix(key + i)                 (i = 0..63, 64-bit arithmetic)
 *	sector  = words 0..63, each little-endian
 *
 * Portable: the same source builds for the kernel and the host tests.
 */
#ifndef BLOCK_BLK_PATTERN_H
#define BLOCK_BLK_PATTERN_H

#include <stdint.h>

#define BLK_PATTERN_SECTOR 512u

/* blk_pattern_mix - splitmix64 of z. */
static inline uint64_t blk_pattern_mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* blk_pattern_fill - the pattern of sectors [sector, sector + n) into buf (n * 512 bytes). */
void blk_pattern_fill(void *buf, uint64_t seed, uint64_t sector, uint64_t n);

/*
 * blk_pattern_check - compare buf (n * 512 bytes) with the pattern.
 * Returns: -1 if it matches, else the byte offset in buf of the first
 * difference.
 */
int64_t blk_pattern_check(const void *buf, uint64_t seed, uint64_t sector, uint64_t n);

/* blk_pattern_check_zero - all n * 512 bytes are zero. Returns: -1, or the first non-zero offset. */
int64_t blk_pattern_check_zero(const void *buf, uint64_t n);

#endif
