/*
 * SHA-256 (FIPS 180-4), for checking bulk transfers against the host's
 * hashlib. Portable: host-tested against the standard's test vectors.
 *
 *	struct sha256 s;
 *	sha256_init(&s);
 *	sha256_update(&s, data, len);      (any number of times)
 *	sha256_final(&s, digest);          (32 bytes)
 */
#ifndef LIB_SHA256_H
#define LIB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32

struct sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed so far */
	uint8_t block[64];
	unsigned fill; /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t digest[SHA256_DIGEST_LEN]);

/* sha256_hex - digest as 64 lowercase hex digits and a NUL. */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_LEN], char out[2 * SHA256_DIGEST_LEN + 1]);

#endif
