/* Host tests of lib/sha256.c: FIPS 180-4 examples and split updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <lib/sha256.h>

static void hash_hex(const void *data, size_t len, char out[65])
{
	uint8_t d[SHA256_DIGEST_LEN];
	struct sha256 s;

	sha256_init(&s);
	sha256_update(&s, data, len);
	sha256_final(&s, d);
	sha256_hex(d, out);
}

static void test_known_vectors(void **state)
{
	static const struct {
		const char *msg, *hex;
	} v[] = {
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		/* 56 bytes: the padding needs a second block */
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	};
	char out[65];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		hash_hex(v[i].msg, strlen(v[i].msg), out);
		assert_string_equal(out, v[i].hex);
	}
}

/* A million 'a': the long-message example of the standard. */
static void test_million_a(void **state)
{
	char *m = malloc(1000000), out[65];

	(void)state;
	assert_non_null(m);
	memset(m, 'a', 1000000);
	hash_hex(m, 1000000, out);
	assert_string_equal(out,
			    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(m);
}

/* The same bytes in pieces of every size from 1 to 130 give the same digest. */
static void test_split_updates(void **state)
{
	uint8_t data[1000], d1[32], d2[32];
	struct sha256 s;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	sha256_init(&s);
	sha256_update(&s, data, sizeof(data));
	sha256_final(&s, d1);
	for (size_t piece = 1; piece <= 130; piece++) {
		sha256_init(&s);
		for (size_t off = 0; off < sizeof(data); off += piece)
			sha256_update(&s, data + off,
				      off + piece <= sizeof(data) ? piece : sizeof(data) - off);
		sha256_final(&s, d2);
		assert_memory_equal(d1, d2, 32);
	}
}

int main(void)
{
	const struct CMUnitTest sha256[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_split_updates),
	};

	return cmocka_run_group_tests_name("sha256", sha256, NULL, NULL);
}
