/*
 * virtio-rng (VIRTIO 1.2 section 5.4) as the kernel's entropy source
 * (drivers/virtio/devices/rng.c). The device is borrowed for each read and handed
 * back as it was found (reset, ACKNOWLEDGE|DRIVER), not bound: the ring
 * tests drive virtio-rng devices raw (tests/guest/virtio.c).
 */
#ifndef VIRTIO_RNG_H
#define VIRTIO_RNG_H

#include <stddef.h>

/*
 * virtio_rng_read - up to len bytes of entropy from the first virtio-rng
 * device (polled, 100 ms at most). Returns: bytes read; -ENODEV (none);
 * -EIO (it did not answer, or the set-up failed).
 */
int virtio_rng_read(void *buf, size_t len);

/* virtio_rng_name - the device used ("virtio-rng 00:04.0"), or NULL if none. */
const char *virtio_rng_name(void);

#endif
