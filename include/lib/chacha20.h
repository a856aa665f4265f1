/*
 * ChaCha20 (RFC 8439 section 2.3): the block function, for the kernel's
 * random number generator (lib/kernel/random.c). Portable: the host tests check it
 * against the RFC's test vectors.
 */
#ifndef LIB_CHACHA20_H
#define LIB_CHACHA20_H

#include <stddef.h>
#include <stdint.h>

#define CHACHA20_KEY_LEN   32
#define CHACHA20_NONCE_LEN 12
#define CHACHA20_BLOCK_LEN 64

/*
 * chacha20_block - the 64-byte key stream block number counter for key and
 * nonce (RFC 8439 2.3: both read as little-endian words), into out.
 */
void chacha20_block(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
		    const uint8_t nonce[CHACHA20_NONCE_LEN], uint8_t out[CHACHA20_BLOCK_LEN]);

/*
 * chacha20_xor - RFC 8439 2.4: len bytes of in XORed with the key stream
 * from block counter on, into out (in and out may be the same).
 */
void chacha20_xor(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
		  const uint8_t nonce[CHACHA20_NONCE_LEN], const uint8_t *in, uint8_t *out,
		  size_t len);

#endif
