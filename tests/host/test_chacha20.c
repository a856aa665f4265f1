/* ChaCha20 (lib/chacha20.c) against the test vectors of RFC 8439 sections 2.3.2 and 2.4.2. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <lib/chacha20.h>

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void key_00_1f(uint8_t key[32])
{
	for (unsigned i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
}

/* 2.3.2: the block function. */
static void test_block(void **state)
{
	static const char want_hex[] =
		"10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
		"d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e";
	uint8_t key[32], nonce[12], out[64], want[64];

	(void)state;
	key_00_1f(key);
	unhex("000000090000004a00000000", nonce, 12);
	unhex(want_hex, want, 64);
	chacha20_block(key, 1, nonce, out);
	assert_memory_equal(out, want, 64);
}

/* 2.4.2: encryption of the sunscreen text, two blocks and a part. */
static void test_encrypt(void **state)
{
	static const char plain[] =
		"Ladies and Gentlemen of the class of '99: If I could offer you "
		"only one tip for the future, sunscreen would be it.";
	static const char want_hex[] =
		"6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
		"f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
		"07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
		"5af90bbf74a35be6b40b8eedf2785e42874d";
	uint8_t key[32], nonce[12], out[114], want[114];

	(void)state;
	assert_int_equal(strlen(plain), 114);
	key_00_1f(key);
	unhex("000000000000004a00000000", nonce, 12);
	unhex(want_hex, want, 114);
	chacha20_xor(key, 1, nonce, (const uint8_t *)plain, out, 114);
	assert_memory_equal(out, want, 114);
	chacha20_xor(key, 1, nonce, out, out, 114); /* in place, back again */
	assert_memory_equal(out, plain, 114);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block),
		cmocka_unit_test(test_encrypt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
