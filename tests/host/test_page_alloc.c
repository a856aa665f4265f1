/* Host tests for lib/kernel/page_alloc.c: the bitmap physical page allocator. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kernel/page_alloc.h>

#define PAGE	      4096ull
#define KiB	      1024ull
#define MiB	      (1024 * KiB)
#define GiB	      (1024 * MiB)
#define MACHINE	      (64 * MiB)
#define MACHINE_PAGES (MACHINE / PAGE)

/*
 * Per-test state: the allocator, its heap bitmap (sized by
 * page_alloc_bitmap_size, so ASan sees any access past it) and a snapshot
 * buffer to prove that failed calls change nothing.
 */
struct fixture {
	struct page_alloc pa;
	uint64_t *bitmap;
	uint64_t *snap;
	size_t size;
	uint64_t snap_nfree, snap_ntotal;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->bitmap);
	free(f->snap);
	free(f);
	return 0;
}

/* A machine with max_addr bytes, nothing free yet. */
static struct page_alloc *machine(void **state, uint64_t max_addr)
{
	struct fixture *f = *state;

	free(f->bitmap);
	free(f->snap);
	f->size = page_alloc_bitmap_size(max_addr);
	f->bitmap = malloc(f->size);
	f->snap = malloc(f->size);
	assert_non_null(f->bitmap);
	assert_non_null(f->snap);
	memset(f->bitmap, 0, f->size);
	page_alloc_init(&f->pa, f->bitmap, max_addr);
	return &f->pa;
}

static void snapshot(void **state)
{
	struct fixture *f = *state;

	memcpy(f->snap, f->bitmap, f->size);
	f->snap_nfree = f->pa.nfree;
	f->snap_ntotal = f->pa.ntotal;
}

static void assert_unchanged(void **state)
{
	struct fixture *f = *state;

	assert_memory_equal(f->snap, f->bitmap, f->size);
	assert_int_equal(f->pa.nfree, f->snap_nfree);
	assert_int_equal(f->pa.ntotal, f->snap_ntotal);
}

static int page_used(const struct page_alloc *pa, uint64_t pg)
{
	return (pa->bitmap[pg / 64] >> (pg % 64)) & 1;
}

static void test_bitmap_size(void **state)
{
	(void)state;
	assert_int_equal(page_alloc_bitmap_size(0), 0);
	assert_int_equal(page_alloc_bitmap_size(1), 8);
	assert_int_equal(page_alloc_bitmap_size(PAGE), 8);
	assert_int_equal(page_alloc_bitmap_size(64 * PAGE), 8);
	assert_int_equal(page_alloc_bitmap_size(64 * PAGE + 1), 16);
	assert_int_equal(page_alloc_bitmap_size(65 * PAGE), 16);
	assert_int_equal(page_alloc_bitmap_size(128 * PAGE), 16);
	assert_int_equal(page_alloc_bitmap_size(MACHINE), MACHINE_PAGES / 8);
	assert_int_equal(page_alloc_bitmap_size(MACHINE + 1), MACHINE_PAGES / 8 + 8);
	assert_int_equal(page_alloc_bitmap_size(0xffdf000), 8192);
	assert_int_equal(page_alloc_bitmap_size(4 * GiB), 128 * KiB);
	assert_int_equal(page_alloc_bitmap_size(1ull << 52), (1ull << 40) / 8);
}

static void test_init(void **state)
{
	struct fixture *f = *state;
	struct page_alloc *pa = machine(state, MACHINE + 1);

	/* Partial last page counted, every bit (even past npages) set. */
	assert_ptr_equal(pa->bitmap, f->bitmap);
	assert_int_equal(pa->npages, MACHINE_PAGES + 1);
	assert_int_equal(pa->nfree, 0);
	assert_int_equal(pa->ntotal, 0);
	for (size_t i = 0; i < f->size / 8; i++)
		assert_int_equal(f->bitmap[i], UINT64_MAX);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 0), 0);

	pa = machine(state, 100 * PAGE);
	assert_int_equal(pa->npages, 100);
	assert_int_equal(f->size, 16);
	assert_int_equal(f->bitmap[1], UINT64_MAX);
}

static void test_add(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);

	/* Only whole pages: [0x1800, 0x4800) holds pages 2 and 3. */
	assert_int_equal(page_alloc_add(pa, 0x1800, 0x3000), 2);
	assert_false(page_used(pa, 2));
	assert_false(page_used(pa, 3));
	assert_true(page_used(pa, 1));
	assert_true(page_used(pa, 4));
	assert_int_equal(pa->nfree, 2);
	assert_int_equal(pa->ntotal, 2);
	/* Less than a page, or straddling two without holding one: nothing. */
	assert_int_equal(page_alloc_add(pa, 0x10000, 0xfff), 0);
	assert_int_equal(page_alloc_add(pa, 0x10800, 0x1000), 0);
	assert_int_equal(page_alloc_add(pa, 0x10000, 0), 0);
	/* Pages already free are not counted twice. */
	assert_int_equal(page_alloc_add(pa, 0x2000, 0x3000), 1);
	assert_int_equal(pa->nfree, 3);
	assert_int_equal(pa->ntotal, 3);
	/* Page 0 is never made free. */
	assert_int_equal(page_alloc_add(pa, 0, 0x2000), 1);
	assert_true(page_used(pa, 0));
	assert_int_equal(page_alloc_add(pa, 0, 0x1000), 0);
	/* Clipped to the covered memory, also when base + len wraps. */
	assert_int_equal(page_alloc_add(pa, MACHINE - 2 * PAGE, 16 * PAGE), 2);
	assert_int_equal(page_alloc_add(pa, MACHINE - 4 * PAGE, UINT64_MAX), 2);
	assert_int_equal(page_alloc_add(pa, MACHINE, PAGE), 0);
	assert_int_equal(pa->nfree, 8);
	assert_int_equal(pa->ntotal, 8);
}

static void test_add_far_beyond(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);

	/* Ranges at the top of the address space are outside a 64 MiB machine. */
	snapshot(state);
	assert_int_equal(page_alloc_add(pa, UINT64_MAX - 0x7ff, 0x100), 0);
	assert_unchanged(state);
	assert_int_equal(page_alloc_add(pa, UINT64_MAX - 0x7ff, 0x1000), 0);
	assert_unchanged(state);
	assert_int_equal(page_alloc_add(pa, UINT64_MAX - 0x7ff, UINT64_MAX), 0);
	assert_unchanged(state);
	assert_int_equal(page_alloc_add(pa, UINT64_MAX - 0x1fff, 0x1000), 0);
	assert_unchanged(state);
	assert_int_equal(page_alloc_add(pa, UINT64_MAX, 1), 0);
	assert_unchanged(state);
}

static void test_page0_never_handed_out(void **state)
{
	struct page_alloc *pa = machine(state, 256 * PAGE);
	static uint8_t seen[256];

	memset(seen, 0, sizeof(seen));
	assert_int_equal(page_alloc_add(pa, 0, 256 * PAGE), 255);
	assert_int_equal(pa->nfree, 255);
	for (unsigned i = 0; i < 255; i++) {
		uint64_t p = page_alloc_pages(pa, 1, 1, 0);

		assert_int_not_equal(p, 0);
		assert_int_equal(p % PAGE, 0);
		assert_in_range(p / PAGE, 1, 255);
		assert_int_equal(seen[p / PAGE], 0);
		seen[p / PAGE] = 1;
	}
	/* Exhausted. */
	assert_int_equal(pa->nfree, 0);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 0), 0);
	assert_int_equal(pa->nfree, 0);
	assert_true(page_used(pa, 0));
	/* Page 0 can neither be freed nor claimed. */
	assert_int_equal(page_free_pages(pa, 0, 1), -EINVAL);
	assert_int_equal(page_claim_pages(pa, 0, 1), -ENOMEM);
	assert_int_equal(pa->nfree, 0);
}

static void test_top_down(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);

	assert_int_equal(page_alloc_add(pa, 1 * MiB, MACHINE - 1 * MiB), MACHINE_PAGES - 256);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 0), MACHINE - PAGE);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 0), MACHINE - 2 * PAGE);
	assert_int_equal(page_alloc_pages(pa, 4, 1, 0), MACHINE - 6 * PAGE);
	assert_int_equal(page_alloc_pages(pa, 100, 0, 0), MACHINE - 106 * PAGE);
	assert_int_equal(pa->nfree, MACHINE_PAGES - 256 - 106);
	assert_int_equal(pa->ntotal, MACHINE_PAGES - 256);
	/* The pages are marked used, their neighbours below are not. */
	for (uint64_t pg = MACHINE_PAGES - 106; pg < MACHINE_PAGES; pg++)
		assert_true(page_used(pa, pg));
	assert_false(page_used(pa, MACHINE_PAGES - 107));
	/* Zero pages, or more than are free: nothing. */
	snapshot(state);
	assert_int_equal(page_alloc_pages(pa, 0, 1, 0), 0);
	assert_int_equal(page_alloc_pages(pa, pa->nfree + 1, 1, 0), 0);
	assert_int_equal(page_alloc_pages(pa, UINT64_MAX, 1, 0), 0);
	assert_unchanged(state);
	/* All that is left, as one run. */
	assert_int_equal(page_alloc_pages(pa, pa->nfree, 1, 0), 1 * MiB);
	assert_int_equal(pa->nfree, 0);
}

static void test_runs_skip_holes(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);

	/* Three free pages low, two higher up, boundaries not 64-page aligned. */
	assert_int_equal(page_alloc_add(pa, 0x101000, 3 * PAGE), 3);
	assert_int_equal(page_alloc_add(pa, 0x2c3000, 2 * PAGE), 2);
	assert_int_equal(page_alloc_pages(pa, 4, 1, 0), 0);
	assert_int_equal(page_alloc_pages(pa, 3, 1, 0), 0x101000);
	assert_int_equal(page_alloc_pages(pa, 3, 1, 0), 0);
	assert_int_equal(page_alloc_pages(pa, 2, 1, 0), 0x2c3000);
	assert_int_equal(pa->nfree, 0);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 0), 0);

	/* A run that crosses a 64-page word boundary (pages 62..66). */
	pa = machine(state, MACHINE);
	assert_int_equal(page_alloc_add(pa, 62 * PAGE, 5 * PAGE), 5);
	assert_int_equal(page_alloc_pages(pa, 5, 1, 0), 62 * PAGE);

	/* Free pages right below a fully used word, and a gap of one page. */
	pa = machine(state, MACHINE);
	assert_int_equal(page_alloc_add(pa, 60 * PAGE, 4 * PAGE), 4);  /* 60..63 */
	assert_int_equal(page_alloc_add(pa, 129 * PAGE, 3 * PAGE), 3); /* 129..131 */
	assert_int_equal(page_alloc_add(pa, 133 * PAGE, 2 * PAGE), 2); /* 133..134 */
	assert_int_equal(page_alloc_pages(pa, 4, 1, 0), 60 * PAGE);
	assert_int_equal(page_alloc_pages(pa, 3, 1, 0), 129 * PAGE);
	assert_int_equal(page_alloc_pages(pa, 2, 1, 0), 133 * PAGE);
	assert_int_equal(pa->nfree, 0);

	/* Free runs on both sides of a fully used word do not join across it. */
	pa = machine(state, MACHINE);
	assert_int_equal(page_alloc_add(pa, 62 * PAGE, 2 * PAGE), 2);  /* 62..63 */
	assert_int_equal(page_alloc_add(pa, 128 * PAGE, 2 * PAGE), 2); /* 128..129 */
	snapshot(state);
	assert_int_equal(page_alloc_pages(pa, 3, 1, 0), 0);
	assert_int_equal(page_alloc_pages(pa, 4, 1, 0), 0);
	assert_unchanged(state);
	assert_int_equal(page_alloc_pages(pa, 2, 1, 0), 128 * PAGE);
	assert_int_equal(page_alloc_pages(pa, 2, 1, 0), 62 * PAGE);

	/* Where several runs fit, the highest one is taken. */
	pa = machine(state, MACHINE);
	assert_int_equal(page_alloc_add(pa, 0x200000, 8 * PAGE), 8);
	assert_int_equal(page_alloc_add(pa, 0x300000, 8 * PAGE), 8);
	assert_int_equal(page_alloc_add(pa, 0x3ff0000, 7 * PAGE), 7);
	assert_int_equal(page_alloc_pages(pa, 8, 1, 0), 0x300000);
	assert_int_equal(page_alloc_pages(pa, 8, 1, 0), 0x200000);
	assert_int_equal(page_alloc_pages(pa, 7, 1, 0), 0x3ff0000);
}

static void test_alignment(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);
	uint64_t p;

	/* Free [1 MiB + 12 KiB, 64 MiB - 4 KiB): the top 2 MiB block is incomplete. */
	assert_int_equal(page_alloc_add(pa, 1 * MiB + 3 * PAGE, MACHINE - 1 * MiB - 4 * PAGE),
			 MACHINE_PAGES - 256 - 4);
	p = page_alloc_pages(pa, 512, 512, 0);
	assert_int_equal(p, 60 * MiB);
	assert_int_equal(p % (2 * MiB), 0);
	/* One page, 2 MiB aligned: the 62 MiB page is still free. */
	assert_int_equal(page_alloc_pages(pa, 1, 512, 0), 62 * MiB);
	/* 2 MiB aligned with a 2 MiB run below it now. */
	assert_int_equal(page_alloc_pages(pa, 2, 512, 0), 58 * MiB);
	/* Smaller alignments. */
	assert_int_equal(page_alloc_pages(pa, 1, 2, 0), MACHINE - 2 * PAGE);
	assert_int_equal(page_alloc_pages(pa, 3, 4, 0), MACHINE - 8 * PAGE);
	assert_int_equal(page_alloc_pages(pa, 1, 16, 0), MACHINE - 16 * PAGE);
	/* Not a power of two: nothing, nothing changed. */
	snapshot(state);
	assert_int_equal(page_alloc_pages(pa, 1, 3, 0), 0);
	assert_int_equal(page_alloc_pages(pa, 1, 513, 0), 0);
	assert_int_equal(page_alloc_pages(pa, 1, UINT64_MAX, 0), 0);
	assert_unchanged(state);
	/* An alignment no free page meets. */
	assert_int_equal(page_alloc_pages(pa, 1, 1ull << 20, 0), 0);
	assert_unchanged(state);
	/* 1 GiB aligned on a machine with free pages above 1 GiB. */
	pa = machine(state, 2 * GiB + 8 * PAGE);
	assert_int_equal(page_alloc_add(pa, 1 * MiB, 2 * GiB), 2 * GiB / PAGE - 256 + 8);
	assert_int_equal(page_alloc_pages(pa, 1, 1ull << 18, 0), 2 * GiB);
	assert_int_equal(page_alloc_pages(pa, 1, 1ull << 18, 0), 1 * GiB);
	assert_int_equal(page_alloc_pages(pa, 1, 1ull << 18, 0), 0);
}

static void test_limit(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);
	uint64_t p;

	assert_int_equal(page_alloc_add(pa, 1 * MiB, MACHINE - 1 * MiB), MACHINE_PAGES - 256);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 16 * MiB), 16 * MiB - PAGE);
	p = page_alloc_pages(pa, 8, 1, 16 * MiB);
	assert_int_equal(p, 16 * MiB - 9 * PAGE);
	assert_true(p + 8 * PAGE <= 16 * MiB);
	/* A limit inside a page: that page is out. */
	assert_int_equal(page_alloc_pages(pa, 1, 1, 8 * MiB + 0x800), 8 * MiB - PAGE);
	/* Only page 8 MiB is free right below the limit: the run goes lower. */
	assert_int_equal(page_alloc_pages(pa, 2, 1, 8 * MiB + 2 * PAGE - 1), 8 * MiB - 3 * PAGE);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 8 * MiB + 2 * PAGE - 1), 8 * MiB);
	/* A run ending exactly at the limit. */
	assert_int_equal(page_alloc_pages(pa, 4, 4, 4 * MiB), 4 * MiB - 4 * PAGE);
	/* Limit and alignment together. */
	assert_int_equal(page_alloc_pages(pa, 1, 512, 5 * MiB), 4 * MiB);
	assert_int_equal(page_alloc_pages(pa, 1, 512, 4 * MiB + 0x800), 2 * MiB);
	/* Nothing free below the limit. */
	snapshot(state);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 1 * MiB), 0);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 1 * MiB + PAGE - 1), 0);
	assert_int_equal(page_alloc_pages(pa, 2, 1, 1 * MiB + PAGE), 0);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 1), 0);
	assert_unchanged(state);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 1 * MiB + PAGE), 1 * MiB);
	/* A limit above the machine, or 0, means no limit. */
	assert_int_equal(page_alloc_pages(pa, 1, 1, 1ull << 40), MACHINE - PAGE);
	assert_int_equal(page_alloc_pages(pa, 1, 1, UINT64_MAX), MACHINE - 2 * PAGE);
	assert_int_equal(page_alloc_pages(pa, 1, 1, 0), MACHINE - 3 * PAGE);
}

static void test_free_and_realloc(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);
	uint64_t a, b, nfree;

	assert_int_equal(page_alloc_add(pa, 1 * MiB, MACHINE - 1 * MiB), MACHINE_PAGES - 256);
	nfree = pa->nfree;
	a = page_alloc_pages(pa, 3, 1, 0);
	b = page_alloc_pages(pa, 1, 1, 0);
	assert_int_equal(a, MACHINE - 3 * PAGE);
	assert_int_equal(b, MACHINE - 4 * PAGE);
	assert_int_equal(pa->nfree, nfree - 4);
	assert_int_equal(page_free_pages(pa, a, 3), 0);
	assert_int_equal(pa->nfree, nfree - 1);
	assert_false(page_used(pa, a / PAGE));
	assert_false(page_used(pa, a / PAGE + 2));
	assert_true(page_used(pa, b / PAGE));
	/* The same run comes back. */
	assert_int_equal(page_alloc_pages(pa, 3, 1, 0), a);
	/* Freed in pieces, then joined again: b and a together. */
	assert_int_equal(page_free_pages(pa, a + PAGE, 2), 0);
	assert_int_equal(page_free_pages(pa, b, 1), 0);
	assert_int_equal(page_free_pages(pa, a, 1), 0);
	assert_int_equal(pa->nfree, nfree);
	assert_int_equal(page_alloc_pages(pa, 4, 1, 0), b);
	/* ntotal counts what was added, not what is free. */
	assert_int_equal(pa->ntotal, MACHINE_PAGES - 256);
}

static void test_double_free(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);
	uint64_t a;

	assert_int_equal(page_alloc_add(pa, 1 * MiB, MACHINE - 1 * MiB), MACHINE_PAGES - 256);
	a = page_alloc_pages(pa, 2, 1, 0);
	assert_int_equal(page_free_pages(pa, a, 2), 0);
	snapshot(state);
	assert_int_equal(page_free_pages(pa, a, 2), -EINVAL);
	assert_unchanged(state);
	assert_int_equal(page_free_pages(pa, a + PAGE, 1), -EINVAL);
	assert_unchanged(state);

	/* Partly free: the used page stays used. */
	a = page_alloc_pages(pa, 2, 1, 0);
	assert_int_equal(page_free_pages(pa, a + PAGE, 1), 0);
	snapshot(state);
	assert_int_equal(page_free_pages(pa, a, 2), -EINVAL);
	assert_unchanged(state);
	assert_true(page_used(pa, a / PAGE));
	/* A free page followed by a used one is caught too. */
	assert_int_equal(page_free_pages(pa, a - PAGE, 2), -EINVAL);
	assert_unchanged(state);
	assert_int_equal(page_free_pages(pa, a, 1), 0);

	/* Never-allocated free memory. */
	snapshot(state);
	assert_int_equal(page_free_pages(pa, 2 * MiB, 1), -EINVAL);
	assert_unchanged(state);
}

static void test_free_invalid(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);
	uint64_t a;

	assert_int_equal(page_alloc_add(pa, 1 * MiB, MACHINE - 1 * MiB), MACHINE_PAGES - 256);
	a = page_alloc_pages(pa, 4, 1, 0);
	assert_int_equal(a, MACHINE - 4 * PAGE);
	snapshot(state);
	assert_int_equal(page_free_pages(pa, a + 1, 1), -EINVAL);
	assert_int_equal(page_free_pages(pa, a + 0x800, 1), -EINVAL);
	assert_int_equal(page_free_pages(pa, a, 0), -EINVAL);
	assert_int_equal(page_free_pages(pa, 0, 1), -EINVAL);
	assert_int_equal(page_free_pages(pa, MACHINE, 1), -EINVAL);
	assert_int_equal(page_free_pages(pa, 1ull << 40, 1), -EINVAL);
	assert_int_equal(page_free_pages(pa, UINT64_MAX & ~(PAGE - 1), 1), -EINVAL);
	/* Running past the end, also with a count that would wrap. */
	assert_int_equal(page_free_pages(pa, a, 5), -EINVAL);
	assert_int_equal(page_free_pages(pa, MACHINE - PAGE, 2), -EINVAL);
	assert_int_equal(page_free_pages(pa, a, UINT64_MAX), -EINVAL);
	assert_int_equal(page_free_pages(pa, a, UINT64_MAX - a / PAGE + 1), -EINVAL);
	assert_unchanged(state);
	/* The valid free still works afterwards. */
	assert_int_equal(page_free_pages(pa, a, 4), 0);
	assert_int_equal(pa->nfree, MACHINE_PAGES - 256);
}

static void test_claim(void **state)
{
	struct page_alloc *pa = machine(state, MACHINE);
	uint64_t a;

	assert_int_equal(page_alloc_add(pa, 1 * MiB, MACHINE - 1 * MiB), MACHINE_PAGES - 256);
	/* Claim the two top pages: allocation goes below them. */
	assert_int_equal(page_claim_pages(pa, MACHINE - 2 * PAGE, 2), 0);
	assert_int_equal(pa->nfree, MACHINE_PAGES - 258);
	assert_true(page_used(pa, MACHINE_PAGES - 1));
	assert_true(page_used(pa, MACHINE_PAGES - 2));
	a = page_alloc_pages(pa, 1, 1, 0);
	assert_int_equal(a, MACHINE - 3 * PAGE);
	/* Claim a run in the middle (a heap growing upward). */
	assert_int_equal(page_claim_pages(pa, 1 * MiB, 16), 0);
	assert_int_equal(page_claim_pages(pa, 1 * MiB + 16 * PAGE, 1), 0);
	assert_int_equal(pa->nfree, MACHINE_PAGES - 259 - 17);

	snapshot(state);
	/* Overlapping used pages at either end, or entirely used. */
	assert_int_equal(page_claim_pages(pa, 1 * MiB + 10 * PAGE, 10), -ENOMEM);
	assert_int_equal(page_claim_pages(pa, a - 4 * PAGE, 5), -ENOMEM);
	assert_int_equal(page_claim_pages(pa, a, 1), -ENOMEM);
	/* Never added (below 1 MiB), page 0, out of range, misaligned, empty. */
	assert_int_equal(page_claim_pages(pa, 1 * MiB - PAGE, 2), -ENOMEM);
	assert_int_equal(page_claim_pages(pa, 0, 1), -ENOMEM);
	assert_int_equal(page_claim_pages(pa, MACHINE, 1), -ENOMEM);
	assert_int_equal(page_claim_pages(pa, a - 4 * PAGE, UINT64_MAX), -ENOMEM);
	assert_int_equal(page_claim_pages(pa, 2 * MiB + 1, 1), -ENOMEM);
	assert_int_equal(page_claim_pages(pa, 2 * MiB, 0), -ENOMEM);
	assert_unchanged(state);
	assert_false(page_used(pa, a / PAGE - 4));
	assert_false(page_used(pa, (1 * MiB) / PAGE + 17));

	/* Claimed pages free like allocated ones. */
	assert_int_equal(page_free_pages(pa, 1 * MiB, 17), 0);
	assert_int_equal(page_free_pages(pa, MACHINE - 2 * PAGE, 2), 0);
	assert_int_equal(page_free_pages(pa, a, 1), 0);
	assert_int_equal(pa->nfree, MACHINE_PAGES - 256);
}

/* Randomised cross-check against a shadow array of page states. */

enum { HOLE, FREE, USED }; /* never added, free, allocated or claimed */

#define RAND_OPS 4000
#define MAX_LIVE 1024

struct alloc_rec {
	uint64_t page, n;
};

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: same sequence everywhere, unlike rand(). */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd(uint64_t n)
{
	return rng() % n;
}

/* Highest aligned run of n free shadow pages ending at or below top; 0 if none. */
static uint64_t shadow_find(const uint8_t *sh, uint64_t npages, uint64_t n, uint64_t align,
			    uint64_t limit)
{
	uint64_t top = npages;

	if (limit && limit / PAGE < top)
		top = limit / PAGE;
	for (uint64_t first = top >= n ? top - n + 1 : 0; first-- > 0;) {
		uint64_t k;

		if (first % align)
			continue;
		for (k = 0; k < n && sh[first + k] == FREE; k++)
			;
		if (k == n)
			return first;
	}
	return 0;
}

static uint64_t shadow_count(const uint8_t *sh, uint64_t npages, int st)
{
	uint64_t c = 0;

	for (uint64_t i = 0; i < npages; i++)
		c += sh[i] == st;
	return c;
}

static void check_shadow(const struct page_alloc *pa, const uint8_t *sh)
{
	for (uint64_t i = 0; i < pa->npages; i++)
		if (page_used(pa, i) != (sh[i] != FREE))
			fail_msg("page %llu: bitmap %d, shadow %d", (unsigned long long)i,
				 page_used(pa, i), sh[i]);
}

static void test_random(void **state)
{
	/* Machine and RAM ranges deliberately off 64-page and page boundaries. */
	const uint64_t max_addr = MACHINE - 5 * PAGE + 0x123;
	const struct {
		uint64_t base, len;
	} ram[] = {
		{0x0, 0x9fc00},
		{0x100000 + 3 * PAGE + 0x10, 0x1234567},
		{0x1400000 - 0x800, 0x8c3456},
		{0x1d00000 + 7 * PAGE, 0x100000 - 11 * PAGE},
		{0x2000000 + 0x321, UINT64_MAX},
	};
	struct page_alloc *pa = machine(state, max_addr);
	uint64_t npages = pa->npages, nfree = 0;
	static struct alloc_rec live[MAX_LIVE];
	unsigned nlive = 0, nalloc = 0, nfail = 0, nfreed = 0, nclaim = 0, nbad = 0;
	static uint8_t sh[MACHINE_PAGES];

	memset(sh, HOLE, sizeof(sh));
	assert_int_equal(npages, MACHINE_PAGES - 4);

	/* The shadow's idea of which pages the ranges cover, worked out apart. */
	for (size_t r = 0; r < sizeof(ram) / sizeof(ram[0]); r++) {
		uint64_t end = ram[r].base + ram[r].len < ram[r].base ? UINT64_MAX
								      : ram[r].base + ram[r].len;
		uint64_t added = 0;

		for (uint64_t pg = 1; pg < npages; pg++) {
			if (pg * PAGE >= ram[r].base && (pg + 1) * PAGE <= end && sh[pg] == HOLE) {
				sh[pg] = FREE;
				added++;
			}
		}
		assert_int_equal(page_alloc_add(pa, ram[r].base, ram[r].len), added);
		nfree += added;
	}
	assert_int_equal(pa->nfree, nfree);
	assert_int_equal(pa->ntotal, nfree);
	check_shadow(pa, sh);

	rng_state = 0x9e3779b97f4a7c15ull;
	for (unsigned op = 0; op < RAND_OPS; op++) {
		uint64_t r = rnd(100);

		if (r < 45 && nlive < MAX_LIVE) {
			/* Allocate: mostly small, sometimes aligned or limited. */
			uint64_t n = rnd(4) ? 1 + rnd(8) : 1 + rnd(300);
			uint64_t align = rnd(3) ? 1 : 1ull << rnd(10);
			uint64_t limit = rnd(3) ? 0 : rnd(max_addr + 2 * MiB);
			uint64_t want = shadow_find(sh, npages, n, align, limit);
			uint64_t got = page_alloc_pages(pa, n, align, limit);

			assert_int_equal(got, want * PAGE);
			if (got == 0) {
				nfail++;
			} else {
				assert_int_equal(got % (align * PAGE), 0);
				if (limit)
					assert_true(got + n * PAGE <= limit);
				for (uint64_t k = 0; k < n; k++) {
					assert_int_equal(sh[want + k], FREE);
					sh[want + k] = USED;
				}
				live[nlive++] = (struct alloc_rec){want, n};
				nfree -= n;
				nalloc++;
			}
		} else if (r < 80 && nlive > 0) {
			/* Free a live allocation, whole or its first part. */
			unsigned i = rnd(nlive);
			uint64_t n = rnd(4) ? live[i].n : 1 + rnd(live[i].n);

			assert_int_equal(page_free_pages(pa, live[i].page * PAGE, n), 0);
			for (uint64_t k = 0; k < n; k++)
				sh[live[i].page + k] = FREE;
			nfree += n;
			nfreed++;
			if (n == live[i].n) {
				live[i] = live[--nlive];
			} else {
				live[i].page += n;
				live[i].n -= n;
			}
		} else if (r < 90) {
			/* Claim a random range; it works iff every page is free. */
			uint64_t pg = rnd(npages + 4), n = 1 + rnd(16);
			int ok = pg != 0 && pg + n <= npages;
			int rc;

			if (nlive == MAX_LIVE)
				continue;
			for (uint64_t k = 0; ok && k < n; k++)
				ok = sh[pg + k] == FREE;
			rc = page_claim_pages(pa, pg * PAGE, n);
			assert_int_equal(rc, ok ? 0 : -ENOMEM);
			if (ok) {
				for (uint64_t k = 0; k < n; k++)
					sh[pg + k] = USED;
				live[nlive++] = (struct alloc_rec){pg, n};
				nfree -= n;
				nclaim++;
			}
		} else {
			/* A bad free: double, partly free, misaligned or out of range. */
			uint64_t pg = rnd(npages + 4), n = 1 + rnd(16);
			uint64_t off = rnd(4) ? 0 : 1 + rnd(PAGE - 1);
			int has_free = 0;

			for (uint64_t k = 0; k < n && pg + k < npages; k++)
				has_free |= sh[pg + k] == FREE;
			if (!has_free && !off && pg != 0 && pg + n <= npages)
				continue; /* would be a valid free of used pages */
			snapshot(state);
			assert_int_equal(page_free_pages(pa, pg * PAGE + off, n), -EINVAL);
			assert_unchanged(state);
			nbad++;
		}
		assert_int_equal(pa->nfree, nfree);
		if (op % 16 == 0)
			assert_int_equal(shadow_count(sh, npages, FREE), nfree);
		if (op % 64 == 0)
			check_shadow(pa, sh);
	}
	check_shadow(pa, sh);
	assert_int_equal(shadow_count(sh, npages, FREE), pa->nfree);
	assert_int_equal(pa->ntotal,
			 shadow_count(sh, npages, FREE) + shadow_count(sh, npages, USED));
	/* Every kind of operation actually happened. */
	assert_true(nalloc > 500);
	assert_true(nfail > 0);
	assert_true(nfreed > 500);
	assert_true(nclaim > 10);
	assert_true(nbad > 100);

	/* Give everything back: all added memory is free again, in one piece. */
	while (nlive > 0) {
		nlive--;
		assert_int_equal(page_free_pages(pa, live[nlive].page * PAGE, live[nlive].n), 0);
	}
	assert_int_equal(pa->nfree, pa->ntotal);
}

int main(void)
{
	const struct CMUnitTest page_alloc[] = {
		cmocka_unit_test_setup_teardown(test_bitmap_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_far_beyond, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page0_never_handed_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_skip_holes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_and_realloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random, setup, teardown),
	};

	return cmocka_run_group_tests(page_alloc, NULL, NULL);
}
