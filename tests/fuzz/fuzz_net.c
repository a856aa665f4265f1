/*
 * libFuzzer target: the network receive path from the device on, with
 * everything a device and a remote host control. drivers/virtio/devices/net.c,
 * net/netif.c, net/netif_rxmem.c and lwIP, unchanged, over the scripted
 * device of tests/host/net_host.c (the stack lives on between inputs, as
 * in a guest). Features: MRG_RXBUF, checksum offload both ways, TSO both
 * ways, the control queue; a TCP discard server listens on port 9. The input is a sequence of records:
 *
 *	u8 nbufs (1-4)  u8 extra  virtio_net_hdr (12)  u16 len  frame[len]
 *
 * each delivered into the oldest posted buffers (nbufs of them; extra is
 * added to the last used length, bounded by the buffer as the ring core
 * bounds it), then one network poll; a record with nbufs 0 moves the
 * clock on by extra * 10 ms instead (lwIP's timers: retransmissions,
 * reassembly timeouts).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../net/netif_vnet.h"
#include "net_host.h"
#include "vnet_fake_transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool up;

	if (!up) {
		if (net_host_init(
			    VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			    VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_CSUM) |
			    VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
			    VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
			    VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |
			    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
			    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) |
			    VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX)) ||
		    net_host_listen_discard(9))
			abort();
		up = true;
	}
	while (size >= 2) {
		unsigned nbufs = data[0] % 5;
		uint8_t extra = data[1];
		struct virtio_net_hdr h;
		uint16_t len;

		data += 2;
		size -= 2;
		if (nbufs == 0) {
			vnet_fake_now_ns += extra * 10000000ull;
			net_host_poll();
			continue;
		}
		if (size < sizeof(h) + 2)
			break;
		memcpy(&h, data, sizeof(h));
		len = (uint16_t)(data[sizeof(h)] | data[sizeof(h) + 1] << 8);
		data += sizeof(h) + 2;
		size -= sizeof(h) + 2;
		if (len > size)
			len = (uint16_t)size;
		net_host_device_rx(&h, data, len, nbufs, extra);
		data += len;
		size -= len;
		net_host_poll();
		/* Every page is posted, free, or held by the stack within its budget. */
		if (net_glue.rx_pages_held > NET_RX_PAGE_BUDGET)
			abort();
	}
	return 0;
}
