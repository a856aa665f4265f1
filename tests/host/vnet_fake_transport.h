/*
 * The virtio transport and kernel services drivers/virtio/devices/net.c calls,
 * faked for host tests (tests/host/test_vnet.c, net_host.c): one device
 * whose offered features and configuration space the test sets (the queues
 * are the test's own: virtio_setup_vq is not here), kprintf to stdout, and
 * a clock that moves 1 us each time it is read, so that a busy wait ends
 * and shows in vnet_fake_clock_reads.
 */
#ifndef TESTS_HOST_VNET_FAKE_TRANSPORT_H
#define TESTS_HOST_VNET_FAKE_TRANSPORT_H

#include <stdint.h>

#include <virtio/virtio.h>
#include <virtio/virtio_net.h>

extern uint64_t vnet_fake_offered;		  /* what the device offers */
extern struct virtio_net_config vnet_fake_config; /* its configuration space */
extern struct virtio_device vnet_fake_vd;

/* virtio_reset/virtio_restart return this (0: the reset completes). */
extern int vnet_fake_reset_rc;
/* virtio_del_vq calls; those made while the device was live (DRIVER_OK, no reset since). */
extern unsigned vnet_fake_del_vqs, vnet_fake_unsafe_del_vqs;

extern uint64_t vnet_fake_now_ns;      /* clock_ns() */
extern uint64_t vnet_fake_clock_reads; /* times clock_ns() was called */

#endif
