/*
 * Kernel random numbers (lib/kernel/random.c): a ChaCha20 generator with fast key
 * erasure, seeded at boot from RDSEED/RDRAND (when CPUID has them) and
 * virtio-rng (drivers/virtio/devices/rng.c), reseeded from them every minute of use.
 * Without any source the boot log says so and the numbers are predictable.
 *
 *	random_bytes(buf, n);          uint32_t x = random_u32();
 *	getentropy(buf, n);            newlib's arc4random() family draws on it
 */
#ifndef KERNEL_RANDOM_H
#define KERNEL_RANDOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum random_source { RANDOM_SRC_RDSEED, RANDOM_SRC_RDRAND, RANDOM_SRC_VIRTIO, RANDOM_SRC_CLOCK };

struct random_stats {
	bool has_rdseed, has_rdrand; /* CPUID */
	uint64_t bytes[4];	     /* taken in, by enum random_source */
	uint64_t reseeds, generated;
	bool seeded; /* from something better than the clock */
};

/* random_init - seed from every source there is and say which in the log (boot). */
void random_init(void);

/* random_add_entropy - mix len bytes from src into the generator's key. */
void random_add_entropy(const void *buf, size_t len, enum random_source src);

/* random_bytes - len random bytes (reseeds first when a minute of use has passed). */
void random_bytes(void *buf, size_t len);

/* random_u32 - 32 random bits. */
uint32_t random_u32(void);

/* random_stats - the counters the `rng` shell command prints. */
const struct random_stats *random_get_stats(void);

#endif
