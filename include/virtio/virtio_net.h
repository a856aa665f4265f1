/*
 * Virtio network device wire format (VIRTIO 1.2 section 5.1): feature
 * bits, the device configuration, the per-packet header and the control
 * queue's commands. Driver state lives in include/virtio/net.h.
 */
#ifndef VIRTIO_VIRTIO_NET_H
#define VIRTIO_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include <virtio/virtio_types.h>

/* 5.1.2 Virtqueues: receiveq1, transmitq1, ..., controlq last (2N with MQ). */
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

/* 5.1.3 Feature bits (bit numbers). */
#define VIRTIO_NET_F_CSUM		 0  /* device takes partially checksummed packets */
#define VIRTIO_NET_F_GUEST_CSUM		 1  /* driver takes partially checksummed packets */
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2  /* offloads reconfigurable by the control queue */
#define VIRTIO_NET_F_MTU		 3  /* config mtu is valid */
#define VIRTIO_NET_F_MAC		 5  /* config mac is valid */
#define VIRTIO_NET_F_GUEST_TSO4		 7  /* driver takes TSOv4 */
#define VIRTIO_NET_F_GUEST_TSO6		 8  /* driver takes TSOv6 */
#define VIRTIO_NET_F_GUEST_ECN		 9  /* driver takes TSO with ECN */
#define VIRTIO_NET_F_GUEST_UFO		 10 /* driver takes UFO */
#define VIRTIO_NET_F_HOST_TSO4		 11 /* device takes TSOv4 */
#define VIRTIO_NET_F_HOST_TSO6		 12 /* device takes TSOv6 */
#define VIRTIO_NET_F_HOST_ECN		 13 /* device takes TSO with ECN */
#define VIRTIO_NET_F_HOST_UFO		 14 /* device takes UFO */
#define VIRTIO_NET_F_MRG_RXBUF		 15 /* driver can merge receive buffers */
#define VIRTIO_NET_F_STATUS		 16 /* config status is valid */
#define VIRTIO_NET_F_CTRL_VQ		 17 /* control channel */
#define VIRTIO_NET_F_CTRL_RX		 18 /* receive mode control */
#define VIRTIO_NET_F_CTRL_VLAN		 19 /* VLAN filtering */
#define VIRTIO_NET_F_CTRL_RX_EXTRA	 20 /* extra receive modes */
#define VIRTIO_NET_F_GUEST_ANNOUNCE	 21 /* driver sends gratuitous packets */
#define VIRTIO_NET_F_MQ			 22 /* several queue pairs */
#define VIRTIO_NET_F_CTRL_MAC_ADDR	 23 /* MAC set through the control queue */
#define VIRTIO_NET_F_NOTF_COAL		 53 /* notification coalescing */
#define VIRTIO_NET_F_GUEST_USO4		 54 /* driver takes USOv4 */
#define VIRTIO_NET_F_GUEST_USO6		 55 /* driver takes USOv6 */
#define VIRTIO_NET_F_HOST_USO		 56 /* device takes USO */
#define VIRTIO_NET_F_HASH_REPORT	 57 /* device reports a hash of each packet */
#define VIRTIO_NET_F_GUEST_HDRLEN	 59 /* driver gives exact hdr_len */
#define VIRTIO_NET_F_RSS		 60 /* receive-side scaling */
#define VIRTIO_NET_F_RSC_EXT		 61 /* receive segment coalescing details */
#define VIRTIO_NET_F_STANDBY		 62 /* failover: standby for a primary device */
#define VIRTIO_NET_F_SPEED_DUPLEX	 63 /* config speed and duplex are valid */
#define VIRTIO_NET_F_GSO		 6  /* legacy: any GSO type (5.1.3.1) */

/* 5.1.4 Device configuration layout: status bits. */
#define VIRTIO_NET_S_LINK_UP  1
#define VIRTIO_NET_S_ANNOUNCE 2

struct virtio_net_config {
	uint8_t mac[6];
	le16 status;
	le16 max_virtqueue_pairs;
	le16 mtu;
	le32 speed;
	uint8_t duplex;
	uint8_t rss_max_key_size;
	le16 rss_max_indirection_table_length;
	le32 supported_hash_types;
} __attribute__((packed));
_Static_assert(offsetof(struct virtio_net_config, status) == 6, "5.1.4: status");
_Static_assert(offsetof(struct virtio_net_config, max_virtqueue_pairs) == 8, "5.1.4");
_Static_assert(offsetof(struct virtio_net_config, mtu) == 10, "5.1.4: mtu");
_Static_assert(offsetof(struct virtio_net_config, speed) == 12, "5.1.4: speed");
_Static_assert(offsetof(struct virtio_net_config, duplex) == 16, "5.1.4: duplex");
_Static_assert(offsetof(struct virtio_net_config, supported_hash_types) == 20, "5.1.4");
_Static_assert(sizeof(struct virtio_net_config) == 24, "5.1.4: config is 24 bytes");

/*
 * 5.1.6 Device Operation: the header before every packet, both ways.
 * With VERSION_1 (or legacy MRG_RXBUF) it has num_buffers: 12 bytes;
 * a legacy device without MRG_RXBUF uses the first 10 bytes only.
 */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1 /* checksum from csum_start to the end is missing */
#define VIRTIO_NET_HDR_F_DATA_VALID 2 /* (receive) the device checked the checksum */
#define VIRTIO_NET_HDR_F_RSC_INFO   4

#define VIRTIO_NET_HDR_GSO_NONE	  0
#define VIRTIO_NET_HDR_GSO_TCPV4  1
#define VIRTIO_NET_HDR_GSO_UDP	  3
#define VIRTIO_NET_HDR_GSO_TCPV6  4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_HDR_GSO_ECN	  0x80

struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	le16 hdr_len;	  /* Ethernet + IP + TCP/UDP header bytes */
	le16 gso_size;	  /* payload bytes per segment */
	le16 csum_start;  /* where checksumming starts */
	le16 csum_offset; /* from csum_start: where the checksum goes */
	le16 num_buffers; /* receive, MRG_RXBUF: buffers this packet took */
};
_Static_assert(offsetof(struct virtio_net_hdr, hdr_len) == 2, "5.1.6: hdr_len");
_Static_assert(offsetof(struct virtio_net_hdr, gso_size) == 4, "5.1.6: gso_size");
_Static_assert(offsetof(struct virtio_net_hdr, csum_start) == 6, "5.1.6: csum_start");
_Static_assert(offsetof(struct virtio_net_hdr, csum_offset) == 8, "5.1.6: csum_offset");
_Static_assert(offsetof(struct virtio_net_hdr, num_buffers) == 10, "5.1.6: num_buffers");
_Static_assert(sizeof(struct virtio_net_hdr) == 12, "5.1.6: header is 12 bytes");
#define VIRTIO_NET_HDR_LEGACY_LEN 10 /* 5.1.6.1 legacy: no num_buffers without MRG_RXBUF */

/* 5.1.6.3.1: without MRG_RXBUF, buffers for TSO packets hold at least this. */
#define VIRTIO_NET_MAX_GSO_FRAME 65550u /* 65535 of IP + 14 Ethernet + 1 */

/* 5.1.6.5 Control Virtqueue: class, command, data..., then the device's ack. */
struct virtio_net_ctrl_hdr {
	uint8_t class;
	uint8_t cmd;
};
_Static_assert(sizeof(struct virtio_net_ctrl_hdr) == 2, "5.1.6.5: class, command");
#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1

/* 5.1.6.5.1 Packet Receive Filtering (CTRL_RX): data is one byte, 0 or 1. */
#define VIRTIO_NET_CTRL_RX	    0
#define VIRTIO_NET_CTRL_RX_PROMISC  0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1

/* 5.1.6.5.2 Setting MAC Address Filtering: two tables (unicast, multicast). */
#define VIRTIO_NET_CTRL_MAC	      1
#define VIRTIO_NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO_NET_CTRL_MAC_ADDR_SET  1
struct virtio_net_ctrl_mac {
	le32 entries;
	uint8_t macs[][6];
};
_Static_assert(sizeof(struct virtio_net_ctrl_mac) == 4, "5.1.6.5.2: entries, then MACs");

/* 5.1.6.5.3 Gratuitous Packet Sending: acknowledge the ANNOUNCE status bit. */
#define VIRTIO_NET_CTRL_ANNOUNCE     3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0

#endif
