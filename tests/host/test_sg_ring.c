/* Host tests of lib/sg_ring.c and the sg_ring helpers in include/lib/sg_ring.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <lib/sg_ring.h>

static char buf[64];

static void test_add_until_full(void **state)
{
	DECLARE_SG(r, 2);

	(void)state;
	assert_int_equal(r->max, 2);
	assert_int_equal(sg_add(r, buf, 1), 0);
	assert_int_equal(sg_add(r, buf + 1, 2), 0);
	assert_int_equal(sg_add(r, buf + 3, 3), -ENOSPC);
	assert_int_equal(r->num, 2);
	assert_int_equal(sg_count(r), 2);
	assert_int_equal(sg_total_len(r), 3);
}

static void test_chain_walk_order(void **state)
{
	DECLARE_SG(hdr, 1);
	DECLARE_SG(data, 3);
	DECLARE_SG(empty, 4);
	DECLARE_SG(status, 1);
	const struct sg_ring *r;
	unsigned i, n = 0;
	char *want[] = {buf, buf + 10, buf + 20, buf + 30, buf + 40};

	(void)state;
	sg_add(hdr, buf, 4);
	sg_add(data, buf + 10, 5);
	sg_add(data, buf + 20, 6);
	sg_add(data, buf + 30, 7);
	sg_add(status, buf + 40, 1);
	sg_chain(hdr, sg_chain(data, sg_chain(empty, status)));
	sg_for_each(r, i, hdr)
	{
		assert_true(n < 5);
		assert_ptr_equal(r->sg[i].addr, want[n]);
		n++;
	}
	assert_int_equal(n, 5);
	assert_int_equal(sg_count(hdr), 5);
	assert_int_equal(sg_total_len(hdr), 4 + 5 + 6 + 7 + 1);
	assert_int_equal(sg_count(NULL), 0);
	assert_int_equal(sg_total_len(NULL), 0);
	{
		struct sg_summary sum;

		assert_int_equal(sg_scan(hdr, &sum), 0);
		assert_int_equal(sum.entries, 5);
		assert_int_equal(sum.bytes, 4 + 5 + 6 + 7 + 1);
		assert_false(sum.zero_len);
		hdr->sg[0].len = 0; /* a zero-length entry is reported, not refused */
		assert_int_equal(sg_scan(hdr, &sum), 0);
		assert_true(sum.zero_len);
		assert_int_equal(sum.bytes, 5 + 6 + 7 + 1);
		hdr->sg[0].len = 4;
	}
}

static void test_cycles_refused(void **state)
{
	DECLARE_SG(a, 2);
	DECLARE_SG(b, 2);
	DECLARE_SG(e1, 1);
	DECLARE_SG(e2, 1);

	(void)state;
	sg_add(a, buf, 1);
	sg_add(b, buf, 1);
	sg_chain(a, sg_chain(b, a)); /* a -> b -> a */
	assert_int_equal(sg_count(a), -EINVAL);
	assert_int_equal(sg_total_len(a), 0);
	sg_chain(e1, sg_chain(e2, e1)); /* a cycle of empty rings */
	assert_int_equal(sg_count(e1), -EINVAL);
}

static void test_corrupt_ring_refused(void **state)
{
	DECLARE_SG(r, 2);

	(void)state;
	r->num = 3; /* more than it holds */
	assert_int_equal(sg_count(r), -EINVAL);
	assert_int_equal(sg_total_len(r), 0);
}

int main(void)
{
	const struct CMUnitTest sg_ring[] = {
		cmocka_unit_test(test_add_until_full),
		cmocka_unit_test(test_chain_walk_order),
		cmocka_unit_test(test_cycles_refused),
		cmocka_unit_test(test_corrupt_ring_refused),
	};

	return cmocka_run_group_tests_name("sg_ring", sg_ring, NULL, NULL);
}
