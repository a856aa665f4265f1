/*
 * Device configuration space access at natural widths (VIRTIO 1.2 2.5,
 * 4.1.3.1, 4.2.2.2), for the transports: a memory-mapped window (modern
 * virtio-pci, virtio-mmio) or an I/O port window (legacy virtio-pci).
 */
#ifndef VIRTIO_TRANSPORT_CFG_ACCESS_H
#define VIRTIO_TRANSPORT_CFG_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

/* virtio_cfg_copy_in - len bytes from configuration address base (a port when io) to out. */
void virtio_cfg_copy_in(uint8_t *out, bool io, uintptr_t base, unsigned len);

/* virtio_cfg_copy_out - len bytes from in to configuration address base. */
void virtio_cfg_copy_out(bool io, uintptr_t base, const uint8_t *in, unsigned len);

#endif
