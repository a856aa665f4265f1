/* Host tests for lib/kernel/memmap.c: E820 normalisation, reservation and RAM lookup. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <kernel/memmap.h>

#define RAM	 BOOT_MEM_RAM
#define RES	 BOOT_MEM_RESERVED
#define ACPI	 BOOT_MEM_ACPI
#define NVS	 BOOT_MEM_NVS
#define UNUSABLE BOOT_MEM_UNUSABLE

#define KiB	      1024ull
#define MiB	      (1024 * KiB)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Maps are ~6 KiB: static, so a failed assertion (a longjmp) leaks nothing.
 * Each test gets them filled with garbage.
 */
static struct mem_map maps[2];
static unsigned nmaps;

static struct mem_map *new_map(void)
{
	struct mem_map *m;

	assert_true(nmaps < ARRAY_SIZE(maps));
	m = &maps[nmaps++];
	memset(m, 0xa5, sizeof(*m));
	return m;
}

static int setup(void **state)
{
	(void)state;
	nmaps = 0;
	return 0;
}

static void check_map(const struct mem_map *m, const struct boot_mem_range *want, unsigned n)
{
	assert_int_equal(m->nr, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(m->r[i].base, want[i].base);
		assert_int_equal(m->r[i].len, want[i].len);
		assert_int_equal(m->r[i].type, want[i].type);
	}
}

static void check_same(const struct mem_map *a, const struct mem_map *b)
{
	assert_int_equal(a->nr, b->nr);
	assert_int_equal(a->dropped, b->dropped);
	for (unsigned i = 0; i < a->nr; i++) {
		assert_int_equal(a->r[i].base, b->r[i].base);
		assert_int_equal(a->r[i].len, b->r[i].len);
		assert_int_equal(a->r[i].type, b->r[i].type);
	}
}

/* Normalise in[] and expect exactly want[]. */
#define NORMALIZE_EXPECT(m, in, want)                                                            \
	do {                                                                                     \
		assert_int_equal(memmap_normalize((m), (in), ARRAY_SIZE(in)), ARRAY_SIZE(want)); \
		check_map((m), (want), ARRAY_SIZE(want));                                        \
	} while (0)

static void test_empty(void **state)
{
	struct mem_map *m = new_map();
	struct boot_mem_range one = {0x1000, 0x1000, RAM};

	(void)state;
	assert_int_equal(memmap_normalize(m, NULL, 0), 0);
	assert_int_equal(m->nr, 0);
	assert_int_equal(m->dropped, 0);
	assert_int_equal(memmap_total(m, RAM), 0);
	assert_int_equal(memmap_total(m, RES), 0);
	assert_int_equal(memmap_ram_end(m), 0);
	assert_int_equal(memmap_find_ram(m, 1, 1, 0), 0);

	/* n == 0 ignores the pointer's contents. */
	assert_int_equal(memmap_normalize(m, &one, 0), 0);
	assert_int_equal(m->nr, 0);

	/* Reserving in an empty map creates one reserved range. */
	assert_int_equal(memmap_reserve(m, 0x2000, 0x3000), 0);
	assert_int_equal(m->nr, 1);
	assert_int_equal(m->r[0].base, 0x2000);
	assert_int_equal(m->r[0].len, 0x3000);
	assert_int_equal(m->r[0].type, RES);
}

static void test_unsorted(void **state)
{
	struct mem_map *m = new_map();
	/* clang-format off */
	const struct boot_mem_range in[] = {
		{0x300000, 0x1000, NVS},
		{0x200000, 0x10000, RAM},
		{0x0, 0x1000, RES},
		{0x100000, 0x2000, ACPI},
		{0x1000, 0x9e000, RAM},
	};
	const struct boot_mem_range want[] = {
		{0x0, 0x1000, RES},
		{0x1000, 0x9e000, RAM},
		{0x100000, 0x2000, ACPI},
		{0x200000, 0x10000, RAM},
		{0x300000, 0x1000, NVS},
	};
	/* clang-format on */

	(void)state;
	NORMALIZE_EXPECT(m, in, want);
	assert_int_equal(m->dropped, 0);
	for (unsigned i = 1; i < m->nr; i++)
		assert_true(m->r[i - 1].base + m->r[i - 1].len <= m->r[i].base);
}

static void test_ram_reserved_overlap(void **state)
{
	struct mem_map *m = new_map();
	/* Reserved strictly inside RAM: RAM is split around it. */
	const struct boot_mem_range in1[] = {
		{0x0, 0x100000, RAM},
		{0x40000, 0x10000, RES},
	};
	const struct boot_mem_range in1_rev[] = {
		{0x40000, 0x10000, RES},
		{0x0, 0x100000, RAM},
	};
	const struct boot_mem_range want1[] = {
		{0x0, 0x40000, RAM},
		{0x40000, 0x10000, RES},
		{0x50000, 0xb0000, RAM},
	};
	/* Partial overlaps at both ends of a RAM range. */
	const struct boot_mem_range in2[] = {
		{0x100000, 0x100000, RAM},
		{0xf0000, 0x20000, RES},
		{0x1f0000, 0x20000, UNUSABLE},
	};
	const struct boot_mem_range want2[] = {
		{0xf0000, 0x20000, RES},
		{0x110000, 0xe0000, RAM},
		{0x1f0000, 0x20000, UNUSABLE},
	};
	/* RAM entirely covered by a reserved range disappears. */
	const struct boot_mem_range in3[] = {
		{0x2000, 0x1000, RAM},
		{0x1000, 0x4000, RES},
	};
	const struct boot_mem_range want3[] = {
		{0x1000, 0x4000, RES},
	};

	(void)state;
	NORMALIZE_EXPECT(m, in1, want1);
	assert_int_equal(memmap_total(m, RAM), 0xf0000);
	assert_int_equal(memmap_total(m, RES), 0x10000);
	NORMALIZE_EXPECT(m, in1_rev, want1);
	NORMALIZE_EXPECT(m, in2, want2);
	NORMALIZE_EXPECT(m, in3, want3);
	assert_int_equal(memmap_total(m, RAM), 0);
}

static void test_higher_type_wins(void **state)
{
	struct mem_map *m = new_map();
	const struct boot_mem_range acpi_nvs[] = {
		{0x1000, 0x2000, ACPI},
		{0x2000, 0x2000, NVS},
	};
	const struct boot_mem_range acpi_nvs_want[] = {
		{0x1000, 0x1000, ACPI},
		{0x2000, 0x2000, NVS},
	};
	/* Same overlap, listed the other way round: NVS still wins. */
	const struct boot_mem_range nvs_acpi[] = {
		{0x2000, 0x2000, NVS},
		{0x1000, 0x2000, ACPI},
	};
	/* NVS inside ACPI: ACPI split around it. */
	const struct boot_mem_range nested[] = {
		{0x10000, 0x10000, ACPI},
		{0x14000, 0x1000, NVS},
	};
	const struct boot_mem_range nested_want[] = {
		{0x10000, 0x4000, ACPI},
		{0x14000, 0x1000, NVS},
		{0x15000, 0xb000, ACPI},
	};
	/* ACPI (3) beats reserved (2); unusable (5) beats everything. */
	const struct boot_mem_range chain[] = {
		{0x0, 0x3000, RES},
		{0x1000, 0x3000, ACPI},
		{0x2000, 0x1000, UNUSABLE},
		{0x0, 0x10000, RAM},
	};
	/* clang-format off */
	const struct boot_mem_range chain_want[] = {
		{0x0, 0x1000, RES},
		{0x1000, 0x1000, ACPI},
		{0x2000, 0x1000, UNUSABLE},
		{0x3000, 0x1000, ACPI},
		{0x4000, 0xc000, RAM},
	};
	/* clang-format on */

	(void)state;
	NORMALIZE_EXPECT(m, acpi_nvs, acpi_nvs_want);
	assert_int_equal(memmap_total(m, ACPI), 0x1000);
	assert_int_equal(memmap_total(m, NVS), 0x2000);
	NORMALIZE_EXPECT(m, nvs_acpi, acpi_nvs_want);
	NORMALIZE_EXPECT(m, nested, nested_want);
	NORMALIZE_EXPECT(m, chain, chain_want);
}

static void test_unknown_type_is_reserved(void **state)
{
	struct mem_map *m = new_map();
	/* Unknown type over RAM: wins, and comes out as plain reserved. */
	const struct boot_mem_range in1[] = {
		{0x0, 0x10000, RAM},
		{0x4000, 0x1000, 0x1234},
	};
	const struct boot_mem_range want1[] = {
		{0x0, 0x4000, RAM},
		{0x4000, 0x1000, RES},
		{0x5000, 0xb000, RAM},
	};
	/* Adjacent to a real reserved range: merged with it (same type). */
	const struct boot_mem_range in2[] = {
		{0x1000, 0x1000, RES},
		{0x2000, 0x1000, 0x1234},
		{0x3000, 0x1000, 0},
	};
	const struct boot_mem_range want2[] = {
		{0x1000, 0x3000, RES},
	};
	/* Counts as 2, not 0x1234: ACPI (3) beats it. */
	const struct boot_mem_range in3[] = {
		{0x0, 0x2000, 0x1234},
		{0x1000, 0x2000, ACPI},
	};
	const struct boot_mem_range want3[] = {
		{0x0, 0x1000, RES},
		{0x1000, 0x2000, ACPI},
	};

	(void)state;
	NORMALIZE_EXPECT(m, in1, want1);
	NORMALIZE_EXPECT(m, in2, want2);
	NORMALIZE_EXPECT(m, in3, want3);
	assert_int_equal(memmap_total(m, 0x1234), 0);
}

static void test_dropped_entries(void **state)
{
	struct mem_map *m = new_map();
	/* clang-format off */
	const struct boot_mem_range in[] = {
		{0x1000, 0, RAM},			/* empty */
		{0x100000, 0x100000, RAM},
		{UINT64_MAX - 0xfff, 0x2000, RES},	/* wraps */
		{0xfffff000, UINT64_MAX, RAM},		/* wraps */
		{0x0, 0, RES},				/* empty */
		{1ull << 63, 1ull << 63, RES},		/* ends at 2^64: wraps to 0 */
		{UINT64_MAX - 0xfff, 0xfff, UNUSABLE},	/* ends at UINT64_MAX: kept */
	};
	/* clang-format on */
	const struct boot_mem_range want[] = {
		{0x100000, 0x100000, RAM},
		{UINT64_MAX - 0xfff, 0xfff, UNUSABLE},
	};

	(void)state;
	NORMALIZE_EXPECT(m, in, want);
	assert_int_equal(m->dropped, 5);
	assert_int_equal(memmap_ram_end(m), 0x200000);

	/* dropped is recounted on every normalize... */
	assert_int_equal(memmap_normalize(m, &in[1], 1), 1);
	assert_int_equal(m->dropped, 0);
	/* ...and left alone by memmap_reserve. */
	assert_int_equal(memmap_normalize(m, in, 2), 1);
	assert_int_equal(m->dropped, 1);
	assert_int_equal(memmap_reserve(m, 0x180000, 0x1000), 0);
	assert_int_equal(m->dropped, 1);
	assert_int_equal(m->nr, 3);
}

static void test_merge(void **state)
{
	struct mem_map *m = new_map();
	/* clang-format off */
	const struct boot_mem_range in[] = {
		/* touching and overlapping RAM: one range */
		{0x1000, 0x1000, RAM},
		{0x0, 0x1000, RAM},
		{0x1800, 0x1800, RAM},
		{0x3000, 0x1000, RAM},
		/* touching, different types: kept apart */
		{0x10000, 0x1000, RAM},
		{0x11000, 0x1000, RES},
		{0x12000, 0x1000, ACPI},
		{0x13000, 0x1000, RAM},
		/* same type with a one-byte gap: kept apart */
		{0x20000, 0x1000, NVS},
		{0x21001, 0x1000, NVS},
		/* the same range listed twice */
		{0x30000, 0x1000, UNUSABLE},
		{0x30000, 0x1000, UNUSABLE},
	};
	const struct boot_mem_range want[] = {
		{0x0, 0x4000, RAM},
		{0x10000, 0x1000, RAM},
		{0x11000, 0x1000, RES},
		{0x12000, 0x1000, ACPI},
		{0x13000, 0x1000, RAM},
		{0x20000, 0x1000, NVS},
		{0x21001, 0x1000, NVS},
		{0x30000, 0x1000, UNUSABLE},
	};
	/* clang-format on */
	/* A reserved split in the middle of RAM, then RAM around: three ranges. */
	const struct boot_mem_range in2[] = {
		{0x0, 0x2000, RAM},
		{0x2000, 0x1000, RES},
		{0x3000, 0x2000, RAM},
		{0x1000, 0x3000, RAM},
	};
	const struct boot_mem_range want2[] = {
		{0x0, 0x2000, RAM},
		{0x2000, 0x1000, RES},
		{0x3000, 0x2000, RAM},
	};

	(void)state;
	NORMALIZE_EXPECT(m, in, want);
	assert_int_equal(memmap_total(m, RAM), 0x6000);
	NORMALIZE_EXPECT(m, in2, want2);
}

static void test_reserve_middle(void **state)
{
	struct mem_map *m = new_map();
	const struct boot_mem_range in[] = {
		{0x0, 16 * MiB, RAM},
	};
	const struct boot_mem_range want[] = {
		{0x0, 2 * MiB, RAM},
		{2 * MiB, 1 * MiB, RES},
		{3 * MiB, 13 * MiB, RAM},
	};
	const struct boot_mem_range want2[] = {
		{0x0, 2 * MiB, RAM},
		{2 * MiB, 2 * MiB, RES},
		{4 * MiB, 12 * MiB, RAM},
	};

	(void)state;
	assert_int_equal(memmap_normalize(m, in, 1), 1);
	assert_int_equal(memmap_reserve(m, 2 * MiB, 1 * MiB), 0);
	check_map(m, want, ARRAY_SIZE(want));
	assert_int_equal(memmap_total(m, RAM), 15 * MiB);
	assert_int_equal(memmap_total(m, RES), 1 * MiB);
	assert_int_equal(memmap_ram_end(m), 16 * MiB);

	/* Empty reservation: nothing happens. */
	assert_int_equal(memmap_reserve(m, 8 * MiB, 0), 0);
	check_map(m, want, ARRAY_SIZE(want));

	/* Overlapping an existing reservation: extends it, no new range. */
	assert_int_equal(memmap_reserve(m, 2 * MiB + 4 * KiB, 2 * MiB - 4 * KiB), 0);
	check_map(m, want2, ARRAY_SIZE(want2));

	/* At the very start and end of the RAM: shrinks it. */
	assert_int_equal(memmap_reserve(m, 0, 4 * KiB), 0);
	assert_int_equal(memmap_reserve(m, 16 * MiB - 4 * KiB, 4 * KiB), 0);
	assert_int_equal(m->nr, 5);
	assert_int_equal(m->r[0].base, 0);
	assert_int_equal(m->r[0].type, RES);
	assert_int_equal(m->r[1].base, 4 * KiB);
	assert_int_equal(m->r[1].len, 2 * MiB - 4 * KiB);
	assert_int_equal(m->r[4].base, 16 * MiB - 4 * KiB);
	assert_int_equal(m->r[4].type, RES);
	assert_int_equal(memmap_ram_end(m), 16 * MiB - 4 * KiB);
}

static void test_reserve_everything(void **state)
{
	struct mem_map *m = new_map();
	/* clang-format off */
	const struct boot_mem_range in[] = {
		{0x0, 0x9fc00, RAM},
		{0x100000, 0x7f00000, RAM},
		{0x8000000, 0x10000, ACPI},
		{0x8010000, 0x1000, NVS},
		{0xf0000000, 0x1000000, RES},
	};
	/* clang-format on */
	/* RAM and the holes become reserved; ACPI and NVS rank above reserved. */
	const struct boot_mem_range want[] = {
		{0x0, 0x8000000, RES},
		{0x8000000, 0x10000, ACPI},
		{0x8010000, 0x1000, NVS},
		{0x8011000, 0x100000000 - 0x8011000, RES},
	};
	const struct boot_mem_range want_all[] = {
		{0x0, 0x8000000, RES},
		{0x8000000, 0x10000, ACPI},
		{0x8010000, 0x1000, NVS},
		{0x8011000, UINT64_MAX - 0x8011000, RES},
	};
	/* clang-format off */
	const struct boot_mem_range want_wrap[] = {
		{0x0, 0x1000, RAM},
		{0x1000, 0x8000000 - 0x1000, RES},
		{0x8000000, 0x10000, ACPI},
		{0x8010000, 0x1000, NVS},
		{0x8011000, UINT64_MAX - 0x8011000, RES},
	};
	/* clang-format on */

	(void)state;
	assert_int_equal(memmap_normalize(m, in, ARRAY_SIZE(in)), ARRAY_SIZE(in));
	assert_int_equal(memmap_reserve(m, 0, 0x100000000), 0);
	check_map(m, want, ARRAY_SIZE(want));
	assert_int_equal(memmap_total(m, RAM), 0);
	assert_int_equal(memmap_ram_end(m), 0);
	assert_int_equal(memmap_find_ram(m, 1, 1, 0), 0);

	/* The whole address space (as far as a range can reach). */
	assert_int_equal(memmap_normalize(m, in, ARRAY_SIZE(in)), ARRAY_SIZE(in));
	assert_int_equal(memmap_reserve(m, 0, UINT64_MAX), 0);
	check_map(m, want_all, ARRAY_SIZE(want_all));
	/* base + len wrapping: clipped to end at UINT64_MAX. */
	assert_int_equal(memmap_normalize(m, in, ARRAY_SIZE(in)), ARRAY_SIZE(in));
	assert_int_equal(memmap_reserve(m, 0x1000, UINT64_MAX), 0);
	check_map(m, want_wrap, ARRAY_SIZE(want_wrap));
}

static void test_reserve_end_of_address_space(void **state)
{
	struct mem_map *m = new_map();
	const uint64_t top = UINT64_MAX - 0xffff; /* 0xffff_ffff_ffff_0000 */
	/* clang-format off */
	const struct boot_mem_range in[] = {
		{0x0, 0x100000, RAM},
		{top, 0xffff, RAM},	/* ends at UINT64_MAX */
	};
	/* clang-format on */
	const struct boot_mem_range want[] = {
		{0x0, 0x100000, RAM},
		{top, 0x8000, RAM},
		{top + 0x8000, UINT64_MAX - (top + 0x8000), RES},
	};
	struct mem_map *saved = new_map();

	(void)state;
	assert_int_equal(memmap_normalize(m, in, ARRAY_SIZE(in)), 2);
	assert_int_equal(memmap_ram_end(m), UINT64_MAX);

	/* base + len wraps past 2^64: reserved up to the top. */
	assert_int_equal(memmap_reserve(m, top + 0x8000, 0x10000), 0);
	check_map(m, want, ARRAY_SIZE(want));
	assert_int_equal(memmap_ram_end(m), top + 0x8000);
	assert_int_equal(memmap_total(m, RES), 0x7fff);

	/* Reservations that clip to nothing change nothing. */
	*saved = *m;
	assert_int_equal(memmap_reserve(m, UINT64_MAX, 1), 0);
	check_same(m, saved);
	assert_int_equal(memmap_reserve(m, UINT64_MAX, UINT64_MAX), 0);
	check_same(m, saved);

	/* The last page: wraps too, clipped to end at UINT64_MAX. */
	assert_int_equal(memmap_normalize(m, in, ARRAY_SIZE(in)), 2);
	assert_int_equal(memmap_reserve(m, UINT64_MAX - 0xfff, 0x1000), 0);
	assert_int_equal(m->nr, 3);
	assert_int_equal(m->r[1].base, top);
	assert_int_equal(m->r[1].len, 0xf000);
	assert_int_equal(m->r[2].base, UINT64_MAX - 0xfff);
	assert_int_equal(m->r[2].len, 0xfff);
	assert_int_equal(m->r[2].type, RES);
}

/*
 * One big RAM range with nres reserved pages punched into it:
 * 2 * nres + 1 ranges.
 */
static unsigned punched_ram(struct boot_mem_range *in, unsigned nres)
{
	in[0].base = 0;
	in[0].len = 256 * MiB;
	in[0].type = RAM;
	for (unsigned i = 0; i < nres; i++) {
		in[1 + i].base = 0x1000 + i * 0x2000ull;
		in[1 + i].len = 0x1000;
		in[1 + i].type = RES;
	}
	return nres + 1;
}

static void test_too_many_ranges(void **state)
{
	static struct boot_mem_range in[MEMMAP_MAX + 1];
	struct mem_map *m = new_map();
	struct mem_map *saved = new_map();
	unsigned n;

	(void)state;

	/* MEMMAP_MAX + 1 disjoint input ranges. */
	for (unsigned i = 0; i < MEMMAP_MAX + 1; i++) {
		in[i].base = i * 0x2000ull;
		in[i].len = 0x1000;
		in[i].type = i % 2 ? RAM : RES;
	}
	assert_int_equal(memmap_normalize(m, in, MEMMAP_MAX + 1), -E2BIG);
	assert_int_equal(m->nr, 0);
	assert_int_equal(memmap_normalize(m, in, MEMMAP_MAX), MEMMAP_MAX);
	assert_int_equal(m->r[MEMMAP_MAX - 1].base, (MEMMAP_MAX - 1) * 0x2000ull);

	/* Few inputs, but the splits they cause make too many ranges. */
	n = punched_ram(in, MEMMAP_MAX / 2);
	assert_int_equal(memmap_normalize(m, in, n), -E2BIG);
	assert_int_equal(m->nr, 0);

	n = punched_ram(in, MEMMAP_MAX / 2 - 1);
	assert_int_equal(memmap_normalize(m, in, n), MEMMAP_MAX - 1);
	/* Trimming the last RAM range at its end: one more range, fits. */
	assert_int_equal(memmap_reserve(m, 256 * MiB - 0x1000, 0x1000), 0);
	assert_int_equal(m->nr, MEMMAP_MAX);
	assert_int_equal(m->r[MEMMAP_MAX - 1].base, 256 * MiB - 0x1000);
	assert_int_equal(m->r[MEMMAP_MAX - 1].type, RES);

	/* Splitting a RAM range would need two more: fails, map unchanged. */
	*saved = *m;
	assert_int_equal(memmap_reserve(m, 128 * MiB, 0x1000), -E2BIG);
	check_same(m, saved);
	/* Even one more is too many now. */
	assert_int_equal(memmap_reserve(m, 512 * MiB, 0x1000), -E2BIG);
	check_same(m, saved);
	/* A reservation that creates no range still works when full. */
	assert_int_equal(memmap_reserve(m, 256 * MiB - 0x2000, 0x2000), 0);
	assert_int_equal(m->nr, MEMMAP_MAX);
	assert_int_equal(m->r[MEMMAP_MAX - 2].len, saved->r[MEMMAP_MAX - 2].len - 0x1000);
	/* One that removes a range (covers a RAM range whole) too. */
	assert_int_equal(memmap_reserve(m, 0x0, 0x1000), 0);
	assert_int_equal(m->nr, MEMMAP_MAX - 1);
	assert_int_equal(m->r[0].base, 0);
	assert_int_equal(m->r[0].len, 0x2000);
	assert_int_equal(m->r[0].type, RES);
}

static void test_find_ram(void **state)
{
	struct mem_map *m = new_map();
	/* clang-format off */
	const struct boot_mem_range in[] = {
		{0x1000, 0x9e000, RAM},		/* [0x1000, 0x9f000) */
		{0x9f000, 0x61000, RES},
		{0x100000, 0x7f00000, RAM},	/* [1 MiB, 128 MiB) */
		{0x8000000, 0x1000, ACPI},
		{0x10000000, 0x800000, RAM},	/* [256 MiB, 264 MiB) */
	};
	/* clang-format on */

	(void)state;
	assert_int_equal(memmap_normalize(m, in, ARRAY_SIZE(in)), ARRAY_SIZE(in));

	/* Lowest fit first. */
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0), 0x1000);
	assert_int_equal(memmap_find_ram(m, 1, 1, 0), 0x1000);
	/* min is respected and rounded up to the alignment. */
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0x2000), 0x2000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0x2001), 0x3000);
	assert_int_equal(memmap_find_ram(m, 0x10, 1, 0x2001), 0x2001);
	/* min in a reserved range or a hole: the next RAM range. */
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0x9f000), 0x100000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0x8000000), 0x10000000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0x9000000), 0x10000000);
	/* Exact fit at the end of a range; one byte more does not fit there. */
	assert_int_equal(memmap_find_ram(m, 0x9e000, 1, 0), 0x1000);
	assert_int_equal(memmap_find_ram(m, 0x9e001, 1, 0), 0x100000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0x9e000), 0x9e000);
	assert_int_equal(memmap_find_ram(m, 0x1001, 1, 0x9e000), 0x100000);
	assert_int_equal(memmap_find_ram(m, 0x7f00000, 1, 0), 0x100000);
	assert_int_equal(memmap_find_ram(m, 0x7f00001, 1, 0), 0);
	assert_int_equal(memmap_find_ram(m, 0x2000, 1, 0x7fff000), 0x10000000);
	/* Alignment. */
	assert_int_equal(memmap_find_ram(m, 0x1000, 2 * MiB, 0), 2 * MiB);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x100000, 0), 0x100000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 256 * MiB, 0), 256 * MiB);
	assert_int_equal(memmap_find_ram(m, 0x1000, 512 * MiB, 0), 0);
	/* Alignment pushing the start past the end of a range. */
	assert_int_equal(memmap_find_ram(m, 0x1000, 64 * MiB, 65 * MiB), 256 * MiB);
	/* Nothing fits. */
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 264 * MiB), 0);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 264 * MiB - 0xfff), 0);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 264 * MiB - 0x1000),
			 264 * MiB - 0x1000);
	assert_int_equal(memmap_find_ram(m, 256 * MiB, 1, 0), 0);
	assert_int_equal(memmap_find_ram(m, UINT64_MAX, 1, 0), 0);
	/* Not a power of two. */
	assert_int_equal(memmap_find_ram(m, 0x1000, 0, 0), 0);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x3000, 0), 0);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1001, 0), 0);
	assert_int_equal(memmap_find_ram(m, 0x1000, UINT64_MAX, 0), 0);
}

static void test_find_ram_edges(void **state)
{
	struct mem_map *m = new_map();
	const struct boot_mem_range low[] = {
		{0x0, 0x9fc00, RAM},
	};
	/* clang-format off */
	const struct boot_mem_range high[] = {
		{0x1000, 0x1000, RAM},
		{UINT64_MAX - 0x1fff, 0x1fff, RAM},	/* [.._e000, UINT64_MAX) */
	};
	/* clang-format on */

	(void)state;
	/*
	 * RAM at address 0: 0 means "nothing fits", so the lowest usable
	 * answer is the next aligned address in the same range.
	 */
	assert_int_equal(memmap_normalize(m, low, 1), 1);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0), 0x1000);
	assert_int_equal(memmap_find_ram(m, 0x10, 1, 0), 1);
	assert_int_equal(memmap_find_ram(m, 0x9e000, 0x1000, 0), 0x1000);
	assert_int_equal(memmap_find_ram(m, 0x9f000, 0x1000, 0), 0);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 1), 0x1000);

	/* Aligning up near the top of the address space must not wrap to 0. */
	assert_int_equal(memmap_normalize(m, high, 2), 2);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0x2000), UINT64_MAX - 0x1fff);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, UINT64_MAX - 0x1fff),
			 UINT64_MAX - 0x1fff);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, UINT64_MAX - 0x1ffe), 0);
	assert_int_equal(memmap_find_ram(m, 0x10, 0x1000, UINT64_MAX - 0x800), 0);
	assert_int_equal(memmap_find_ram(m, 1, 1, UINT64_MAX - 1), UINT64_MAX - 1);
	assert_int_equal(memmap_find_ram(m, 1, 1, UINT64_MAX), 0);
}

static void test_total_and_ram_end(void **state)
{
	struct mem_map *m = new_map();
	/* clang-format off */
	const struct boot_mem_range in[] = {
		{0x0, 0x1000, RES},
		{0x1000, 0x3000, RAM},
		{0x10000, 0x5000, RAM},
		{0x20000, 0x2000, ACPI},
		{0x30000, 0x7000, RES},
	};
	/* clang-format on */

	(void)state;
	assert_int_equal(memmap_normalize(m, in, ARRAY_SIZE(in)), ARRAY_SIZE(in));
	assert_int_equal(memmap_total(m, RAM), 0x8000);
	assert_int_equal(memmap_total(m, RES), 0x8000);
	assert_int_equal(memmap_total(m, ACPI), 0x2000);
	assert_int_equal(memmap_total(m, NVS), 0);
	/* Highest RAM end, not the end of the map. */
	assert_int_equal(memmap_ram_end(m), 0x15000);
	/* Only the first RAM range left. */
	assert_int_equal(memmap_reserve(m, 0x10000, 0x5000), 0);
	assert_int_equal(memmap_ram_end(m), 0x4000);
	assert_int_equal(memmap_total(m, RAM), 0x3000);
	assert_int_equal(memmap_total(m, RES), 0xd000);
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(memmap_type_name(RAM), "usable");
	assert_string_equal(memmap_type_name(RES), "reserved");
	assert_string_equal(memmap_type_name(ACPI), "ACPI data");
	assert_string_equal(memmap_type_name(NVS), "ACPI NVS");
	assert_string_equal(memmap_type_name(UNUSABLE), "unusable");
	assert_string_equal(memmap_type_name(0), "unknown");
	assert_string_equal(memmap_type_name(0x1234), "unknown");
}

/* A QEMU q35 E820 map (256 MiB guest), then the reservations mem_init() makes. */
static void test_qemu_q35(void **state)
{
	struct mem_map *m = new_map();
	/* clang-format off */
	const struct boot_mem_range q35[] = {
		{0x0, 0x9fc00, RAM},
		{0x9fc00, 0x400, RES},
		{0xf0000, 0x10000, RES},
		{0x100000, 0xffdf000 - 0x100000, RAM},
		{0xffdf000, 0x10000000 - 0xffdf000, RES},
		{0xb0000000, 0x10000000, RES},
		{0xfffc0000, 0x40000, RES},
	};
	/* clang-format on */
	/* Same entries, shuffled, one duplicated and one empty entry added. */
	/* clang-format off */
	const struct boot_mem_range shuffled[] = {
		{0xfffc0000, 0x40000, RES},
		{0x100000, 0xffdf000 - 0x100000, RAM},
		{0x9fc00, 0x400, RES},
		{0xb0000000, 0x10000000, RES},
		{0x0, 0x9fc00, RAM},
		{0x500000, 0, RES},
		{0xffdf000, 0x10000000 - 0xffdf000, RES},
		{0xf0000, 0x10000, RES},
		{0x9fc00, 0x400, RES},
	};
	/* clang-format on */
	/* After reserving the first MiB and a 2 MiB kernel at 1 MiB. */
	/* clang-format off */
	const struct boot_mem_range avail[] = {
		{0x0, 0x300000, RES},
		{0x300000, 0xffdf000 - 0x300000, RAM},
		{0xffdf000, 0x21000, RES},
		{0xb0000000, 0x10000000, RES},
		{0xfffc0000, 0x40000, RES},
	};
	/* clang-format on */

	(void)state;
	NORMALIZE_EXPECT(m, q35, q35);
	assert_int_equal(m->dropped, 0);
	assert_int_equal(memmap_total(m, RAM), 0x9fc00 + 0xfedf000);
	assert_int_equal(memmap_total(m, RES), 0x400 + 0x10000 + 0x21000 + 0x10000000 + 0x40000);
	assert_int_equal(memmap_ram_end(m), 0xffdf000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0x100000), 0x100000);
	assert_int_equal(memmap_find_ram(m, 0x9fc00, 1, 1), 0x100000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0x9f000), 0x100000);

	assert_int_equal(memmap_normalize(m, shuffled, ARRAY_SIZE(shuffled)), ARRAY_SIZE(q35));
	check_map(m, q35, ARRAY_SIZE(q35));
	assert_int_equal(m->dropped, 1);

	assert_int_equal(memmap_reserve(m, 0, 1 * MiB), 0);
	assert_int_equal(m->nr, 5);
	assert_int_equal(m->r[0].base, 0);
	assert_int_equal(m->r[0].len, 1 * MiB);
	assert_int_equal(m->r[0].type, RES);
	assert_int_equal(memmap_reserve(m, 1 * MiB, 2 * MiB), 0);
	check_map(m, avail, ARRAY_SIZE(avail));
	assert_int_equal(memmap_total(m, RAM), 0xffdf000 - 0x300000);
	assert_int_equal(memmap_ram_end(m), 0xffdf000);
	/* The page bitmap for 256 MiB (8 KiB) goes right after the kernel. */
	assert_int_equal(memmap_find_ram(m, 0x2000, 0x1000, 0x300000), 0x300000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0), 0x300000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 2 * MiB, 0), 0x400000);
	assert_int_equal(memmap_find_ram(m, 0x1000, 0x1000, 0xffdf000), 0);
}

int main(void)
{
	const struct CMUnitTest memmap[] = {
		cmocka_unit_test_setup(test_empty, setup),
		cmocka_unit_test_setup(test_unsorted, setup),
		cmocka_unit_test_setup(test_ram_reserved_overlap, setup),
		cmocka_unit_test_setup(test_higher_type_wins, setup),
		cmocka_unit_test_setup(test_unknown_type_is_reserved, setup),
		cmocka_unit_test_setup(test_dropped_entries, setup),
		cmocka_unit_test_setup(test_merge, setup),
		cmocka_unit_test_setup(test_reserve_middle, setup),
		cmocka_unit_test_setup(test_reserve_everything, setup),
		cmocka_unit_test_setup(test_reserve_end_of_address_space, setup),
		cmocka_unit_test_setup(test_too_many_ranges, setup),
		cmocka_unit_test_setup(test_find_ram, setup),
		cmocka_unit_test_setup(test_find_ram_edges, setup),
		cmocka_unit_test_setup(test_total_and_ram_end, setup),
		cmocka_unit_test_setup(test_type_names, setup),
		cmocka_unit_test_setup(test_qemu_q35, setup),
	};

	return cmocka_run_group_tests(memmap, NULL, NULL);
}
