/*
 * The network receive path on the host: drivers/virtio/devices/net.c, net/netif.c,
 * net/netif_rxmem.c and lwIP itself, unchanged, over a scripted device
 * (net_host.c). The device keeps the driver's receive buffers in posting
 * order and fills the oldest with whatever a test or a fuzzer gives it;
 * frames the stack transmits are kept for inspection and completed at once.
 * No cmocka here: the fuzzer uses it too.
 */
#ifndef TESTS_HOST_NET_HOST_H
#define TESTS_HOST_NET_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include <lwip/netif.h>
#include <virtio/net.h>

#define NET_HOST_QSIZE 256u /* receive and transmit ring entries */

/* The guest's address: 10.0.0.2/24 and fe80::2; the peer is 10.0.0.1 / fe80::1 (52:54:00:00:00:01, a static ARP entry). */
extern struct netif net_host_netif;
extern struct vnet_dev *net_host_dev;

/* Up to 16 transmitted frames, oldest first (a ring: the last 16). */
struct net_host_tx {
	uint8_t frame[2048];
	uint32_t len;
};
extern struct net_host_tx net_host_txs[16];
extern unsigned net_host_ntx; /* frames transmitted in all */

/*
 * net_host_init - lwIP up on a virtio-net device offering features
 * (VIRTIO_NET_F_* bits; VERSION_1 is added). Once per process.
 * Returns: 0, or -1 if the driver or lwIP refused.
 */
int net_host_init(uint64_t features);

/*
 * net_host_device_rx - the device fills the oldest posted buffers: header
 * and frame, split over nbufs buffers (each written up to its size), used
 * lengths as written; extra_len is added to the last used length (a lying
 * device; at most the buffer's size, which the ring core enforces). Returns: false if fewer than nbufs buffers were posted.
 */
bool net_host_device_rx(const struct virtio_net_hdr *h, const void *frame, uint32_t len,
			unsigned nbufs, int32_t extra_len);

/* net_host_listen_discard - a TCP server on port that frees what it receives. Returns: 0 or -1. */
int net_host_listen_discard(uint16_t port);

/* net_host_poll - one round of the network loop: driver poll, lwIP timeouts. */
void net_host_poll(void);

/* net_host_posted - receive buffers the device holds now. */
unsigned net_host_posted(void);

/* The device breaks queue index (as a bad used entry would): why is the reason. */
void net_host_break(unsigned index, const char *why);

#endif
