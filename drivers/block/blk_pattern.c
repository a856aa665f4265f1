/* The block device test pattern (see include/block/blk_pattern.h). */
#include <string.h>

#include <block/blk_pattern.h>

#define WORDS (BLK_PATTERN_SECTOR / 8)

static uint64_t sector_key(uint64_t seed, uint64_t sector)
{
	return blk_pattern_mix(seed ^ blk_pattern_mix(sector));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void blk_pattern_fill(void *buf, uint64_t seed, uint64_t sector, uint64_t n)
{
	uint8_t *p = buf;

	for (uint64_t s = 0; s < n; s++) {
		uint64_t key = sector_key(seed, sector + s);

		for (unsigned i = 0; i < WORDS; i++, p += 8)
			put_le64(p, blk_pattern_mix(key + i));
	}
}

int64_t blk_pattern_check(const void *buf, uint64_t seed, uint64_t sector, uint64_t n)
{
	const uint8_t *p = buf;
	uint8_t want[8];

	for (uint64_t s = 0; s < n; s++) {
		uint64_t key = sector_key(seed, sector + s);

		for (unsigned i = 0; i < WORDS; i++, p += 8) {
			put_le64(want, blk_pattern_mix(key + i));
			if (memcmp(p, want, 8) == 0)
				continue;
			for (int b = 0; b < 8; b++)
				if (p[b] != want[b])
					return (int64_t)(p - (const uint8_t *)buf) + b;
		}
	}
	return -1;
}

int64_t blk_pattern_check_zero(const void *buf, uint64_t n)
{
	const uint8_t *p = buf;

	for (uint64_t i = 0; i < n * BLK_PATTERN_SECTOR; i++)
		if (p[i])
			return (int64_t)i;
	return -1;
}
