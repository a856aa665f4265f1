/* ChaCha20 block function and stream (RFC 8439 sections 2.1-2.4). */
#include <string.h>

#include <lib/chacha20.h>

static uint32_t rd32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t rotl(uint32_t v, unsigned n)
{
	return v << n | v >> (32 - n);
}

/* 2.1: the quarter round on four words of the state. */
#define QR(a, b, c, d)               \
	do {                         \
		a += b;              \
		d = rotl(d ^ a, 16); \
		c += d;              \
		b = rotl(b ^ c, 12); \
		a += b;              \
		d = rotl(d ^ a, 8);  \
		c += d;              \
		b = rotl(b ^ c, 7);  \
	} while (0)

void chacha20_block(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
		    const uint8_t nonce[CHACHA20_NONCE_LEN], uint8_t out[CHACHA20_BLOCK_LEN])
{
	/* 2.3: "expand 32-byte k", the key, the block counter, the nonce. */
	uint32_t in[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574}, x[16];

	for (unsigned i = 0; i < 8; i++)
		in[4 + i] = rd32le(key + 4 * i);
	in[12] = counter;
	for (unsigned i = 0; i < 3; i++)
		in[13 + i] = rd32le(nonce + 4 * i);
	memcpy(x, in, sizeof(x));
	for (unsigned i = 0; i < 10; i++) { /* 20 rounds: column then diagonal */
		QR(x[0], x[4], x[8], x[12]);
		QR(x[1], x[5], x[9], x[13]);
		QR(x[2], x[6], x[10], x[14]);
		QR(x[3], x[7], x[11], x[15]);
		QR(x[0], x[5], x[10], x[15]);
		QR(x[1], x[6], x[11], x[12]);
		QR(x[2], x[7], x[8], x[13]);
		QR(x[3], x[4], x[9], x[14]);
	}
	for (unsigned i = 0; i < 16; i++) {
		uint32_t v = x[i] + in[i];

		out[4 * i] = (uint8_t)v;
		out[4 * i + 1] = (uint8_t)(v >> 8);
		out[4 * i + 2] = (uint8_t)(v >> 16);
		out[4 * i + 3] = (uint8_t)(v >> 24);
	}
}

void chacha20_xor(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
		  const uint8_t nonce[CHACHA20_NONCE_LEN], const uint8_t *in, uint8_t *out,
		  size_t len)
{
	uint8_t ks[CHACHA20_BLOCK_LEN];

	while (len) {
		size_t n = len < sizeof(ks) ? len : sizeof(ks);

		chacha20_block(key, counter++, nonce, ks);
		for (size_t i = 0; i < n; i++)
			out[i] = in[i] ^ ks[i];
		in += n;
		out += n;
		len -= n;
	}
	memset(ks, 0, sizeof(ks));
}
