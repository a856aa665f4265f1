/*
 * Kernel random numbers (include/kernel/random.h). The generator is
 * ChaCha20 (lib/chacha20.c) under a 256-bit key: each request takes key
 * stream blocks, then one more block replaces the key (fast key erasure:
 * what was handed out cannot be recomputed from a later state). Entropy is
 * mixed in by hashing: key = SHA-256(key || source || bytes). Sources: the
 * CPU's RDSEED and RDRAND (CPUID 7.EBX[18], 1.ECX[30]), virtio-rng, and
 * always the TSC and the RTC (which alone are predictable).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arch/x86_64/cpu.h>
#include <lib/chacha20.h>
#include <kernel/clock.h>
#include <kernel/kernel.h>
#include <kernel/random.h>
#include <kernel/registry.h>
#include <lib/sha256.h>
#include <virtio/rng.h>

#define RANDOM_RESEED_NS 60000000000ull /* a minute of use between reseeds */
#define RANDOM_SEED_LEN	 32u		/* bytes asked of each source per (re)seed */

static uint8_t key[CHACHA20_KEY_LEN];
static uint64_t last_reseed;
static bool started;
static struct random_stats stats;

void random_add_entropy(const void *buf, size_t len, enum random_source src)
{
	struct sha256 h;
	uint8_t tag = (uint8_t)src;

	sha256_init(&h);
	sha256_update(&h, key, sizeof(key));
	sha256_update(&h, &tag, 1);
	sha256_update(&h, buf, len);
	sha256_final(&h, key);
	memset(&h, 0, sizeof(h));
	stats.bytes[src] += len;
	if (src != RANDOM_SRC_CLOCK && len)
		stats.seeded = true;
}

/* RDSEED or RDRAND, 8 bytes, retried a little (they may run dry): false if none came. */
static bool cpu_random64(bool seed, uint64_t *v)
{
	for (int i = 0; i < 32; i++) {
		uint8_t ok;

		if (seed)
			__asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok));
		else
			__asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok));
		if (ok)
			return true;
		__asm__ volatile("pause");
	}
	return false;
}

static void cpu_source(bool seed)
{
	uint64_t buf[RANDOM_SEED_LEN / 8];
	unsigned n = 0;

	while (n < ARRAY_SIZE(buf) && cpu_random64(seed, &buf[n]))
		n++;
	if (n)
		random_add_entropy(buf, n * 8, seed ? RANDOM_SRC_RDSEED : RANDOM_SRC_RDRAND);
	memset(buf, 0, sizeof(buf));
}

/* Every source there is, into the key. */
static void reseed(void)
{
	uint8_t buf[RANDOM_SEED_LEN];
	uint64_t t[2] = {rdtsc(), clock_info.boot_epoch};
	int n;

	random_add_entropy(t, sizeof(t), RANDOM_SRC_CLOCK);
	if (stats.has_rdseed)
		cpu_source(true);
	if (stats.has_rdrand)
		cpu_source(false);
	n = virtio_rng_read(buf, sizeof(buf));
	if (n > 0)
		random_add_entropy(buf, (size_t)n, RANDOM_SRC_VIRTIO);
	memset(buf, 0, sizeof(buf));
	last_reseed = clock_ns();
	stats.reseeds++;
}

static void start(void)
{
	uint32_t r[4];

	started = true;
	cpuid(0, 0, r);
	if (r[0] >= 7) {
		uint32_t l7[4];

		cpuid(7, 0, l7);
		stats.has_rdseed = (l7[1] >> 18) & 1;
	}
	cpuid(1, 0, r);
	stats.has_rdrand = (r[2] >> 30) & 1;
	reseed();
}

void random_init(void)
{
	const char *vname = virtio_rng_name();

	if (!started)
		start();
	if (!stats.seeded) {
		kprintf("random: no entropy source (no RDSEED/RDRAND, no virtio-rng): random "
			"numbers are predictable\n");
		return;
	}
	kprintf("random: seeded from%s%s%s%s\n", stats.bytes[RANDOM_SRC_RDSEED] ? " RDSEED" : "",
		stats.bytes[RANDOM_SRC_RDRAND] ? " RDRAND" : "",
		stats.bytes[RANDOM_SRC_VIRTIO] ? " " : "",
		stats.bytes[RANDOM_SRC_VIRTIO] && vname ? vname : "");
}

void random_bytes(void *buf, size_t len)
{
	static const uint8_t nonce[CHACHA20_NONCE_LEN];
	uint8_t *out = buf, block[CHACHA20_BLOCK_LEN];
	uint32_t ctr = 0;

	if (!started)
		start();
	else if (clock_ns() - last_reseed > RANDOM_RESEED_NS)
		reseed();
	stats.generated += len;
	while (len) {
		size_t n = len < sizeof(block) ? len : sizeof(block);

		chacha20_block(key, ctr++, nonce, block);
		memcpy(out, block, n);
		out += n;
		len -= n;
	}
	chacha20_block(key, ctr, nonce, block);
	memcpy(key, block, sizeof(key)); /* fast key erasure */
	memset(block, 0, sizeof(block));
}

uint32_t random_u32(void)
{
	uint32_t v;

	random_bytes(&v, sizeof(v));
	return v;
}

const struct random_stats *random_get_stats(void)
{
	return &stats;
}

/* For newlib's arc4random() family (and anyone else): at most 256 bytes, as in POSIX. */
int getentropy(void *buf, size_t len)
{
	if (len > 256) {
		errno = EIO;
		return -1;
	}
	random_bytes(buf, len);
	return 0;
}

KCMD(rng, "random numbers: sources, bytes taken from each, reseeds; rng reseed")
{
	if (argc == 2 && strcmp(argv[1], "reseed") == 0) {
		if (!started)
			start();
		else
			reseed();
	} else if (argc != 1) {
		printf("usage: rng [reseed]\n");
		return 1;
	}
	if (!started)
		start();
	printf("rng: RDSEED %s, RDRAND %s, virtio-rng %s\n", stats.has_rdseed ? "yes" : "no",
	       stats.has_rdrand ? "yes" : "no", virtio_rng_name() ?: "none");
	printf("rng: bytes in: rdseed %llu rdrand %llu virtio-rng %llu clock %llu; %llu reseeds, "
	       "%llu bytes out%s\n",
	       (unsigned long long)stats.bytes[RANDOM_SRC_RDSEED],
	       (unsigned long long)stats.bytes[RANDOM_SRC_RDRAND],
	       (unsigned long long)stats.bytes[RANDOM_SRC_VIRTIO],
	       (unsigned long long)stats.bytes[RANDOM_SRC_CLOCK], (unsigned long long)stats.reseeds,
	       (unsigned long long)stats.generated, stats.seeded ? "" : " (UNSEEDED: predictable)");
	return 0;
}
