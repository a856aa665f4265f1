/*
 * The virtio-net driver as a network stack sees it (drivers/virtio/devices/net.c;
 * the wire format is in include/virtio/virtio_net.h). It knows frames,
 * not protocols' buffers: the stack (net/netif.c, lwIP) attaches with a
 * few callbacks and polls.
 *
 *	dev = vnet_get(0);
 *	vnet_attach(dev, &ops, stack);       receive buffers posted, link read
 *	for (;;) {
 *		vnet_poll(dev, 64);          ops->rx(frame) for each frame,
 *		                              ops->tx_done(token), link changes
 *		vnet_xmit(dev, &hdr, sg, tok); (any time; -ENOSPC when full)
 *		vnet_tx_flush(dev);           one notification for what was added
 *	}
 *
 * Receive is zero-copy: every buffer is one 4 KiB page whose first bytes
 * (struct vnet_rxbuf) describe it, and the device writes into the rest. A
 * frame reaches ops->rx as a chain of such pages; the stack keeps them as
 * long as it likes and gives each back with vnet_rxbuf_release(); the
 * driver re-posts them on its next poll. Transmit is zero-copy too: the
 * stack passes the frame as an sg_ring of its own memory and a token that
 * comes back through ops->tx_done once the device is done reading.
 *
 * Not thread-safe: one caller (the network poll loop) at a time. Interrupt
 * handlers only note that work or a configuration change is waiting.
 */
#ifndef VIRTIO_NET_H
#define VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <lib/sg_ring.h>
#include <virtio/virtio.h>
#include <virtio/virtio_net.h>

#define VNET_PAGE_SIZE	   4096u
#define VNET_RXBUF_OWNER   64u	/* bytes at the start of each page that belong to the stack */
#define VNET_RXBUF_DATA	   128u /* where the device's part of the page starts */
#define VNET_RXBUF_ROOM	   (VNET_PAGE_SIZE - VNET_RXBUF_DATA) /* 3968 bytes per page */
#define VNET_RX_POOL_PAGES 2048u			      /* receive pages at most: 8 MiB */
#define VNET_TX_MAX_SG	   63u /* entries of one transmitted frame; with the header 64 */
#define VNET_MAX_MULTICAST 32u /* multicast MAC filter entries */

/* A receive buffer: the head of its page. The device writes data[] only. */
struct vnet_rxbuf {
	uint8_t owner[VNET_RXBUF_OWNER]; /* the stack's (lwIP: a pbuf_custom) */
	struct vnet_dev *dev;
	struct vnet_rxbuf *next; /* next page of the frame; the free list */
	uint8_t *data;		 /* frame bytes in this page */
	uint32_t len;		 /* how many */
};
_Static_assert(sizeof(struct vnet_rxbuf) <= VNET_RXBUF_DATA, "rxbuf head fits before data");

/* What the device said about a received frame, checked. */
struct vnet_rx_info {
	uint32_t len;	   /* frame bytes from the Ethernet header on */
	uint16_t nbufs;	   /* pages in the chain */
	bool csum_ok;	   /* TCP/UDP checksum verified or not needed (DATA_VALID, NEEDS_CSUM) */
	bool csum_needed;  /* NEEDS_CSUM: the checksum field holds only the pseudo-header sum */
	uint8_t gso_type;  /* VIRTIO_NET_HDR_GSO_*: a large segment (GUEST_TSO) */
	uint16_t gso_size; /* its segment size */
};

struct vnet_dev;

struct vnet_stack_ops {
	/* A received frame; the stack owns the pages until vnet_rxbuf_release. */
	void (*rx)(struct vnet_dev *dev, struct vnet_rxbuf *frame, const struct vnet_rx_info *info);
	/* The device finished reading a frame given to vnet_xmit. */
	void (*tx_done)(struct vnet_dev *dev, void *token);
	/* Link status changed (VIRTIO_NET_F_STATUS). */
	void (*link_changed)(struct vnet_dev *dev, bool up);
	/* The device asks for gratuitous packets (GUEST_ANNOUNCE); acked afterwards, not waited for. */
	void (*announce)(struct vnet_dev *dev);
};

/* Counters: `ifconfig` prints them, tests check them. */
struct vnet_stats {
	uint64_t rx_packets, rx_bytes, rx_gso, rx_csum_ok, rx_buffers;
	uint64_t rx_runt;	   /* shorter than a header or an Ethernet header */
	uint64_t rx_too_long;	   /* beyond the MTU (no GSO), 64 KiB, or the buffers */
	uint64_t rx_bad_nbufs;	   /* num_buffers 0, too large, or more than was used */
	uint64_t rx_bad_csum_flag; /* checksum flag on a non-IP frame, or out of range */
	uint64_t rx_bad_gso;	   /* a GSO type that was not negotiated */
	uint64_t rx_ring_empty;	   /* polls that found no receive buffer posted (drops) */
	uint64_t rx_no_page;	   /* refills stopped: page pool exhausted */
	uint64_t tx_packets, tx_bytes, tx_gso, tx_csum;
	uint64_t tx_ring_full; /* vnet_xmit said -ENOSPC */
	uint64_t tx_kicks;
	uint64_t ctrl_cmds, ctrl_errors;
	uint64_t link_changes, announces, config_events;
	uint64_t rx_irqs, tx_irqs;
	uint64_t recoveries;	/* device resets that brought a broken device back */
	uint64_t rx_taken_back; /* posted receive buffers taken back by those resets */
	uint64_t tx_taken_back; /* frames the device had not sent when it was reset */
};

struct vnet_txslot;
struct vnet_ctrl_buf;

struct vnet_dev {
	struct virtio_device *vd;
	struct virtqueue *rxq, *txq, *ctrlq;
	struct virtqueue *ctrlq_lost; /* a control queue given up: kept until a device reset */
	struct vnet_ctrl_buf *ctrl;   /* control command buffers (the device reads and writes) */
	char name[8];		      /* "vn0" */
	uint8_t mac[6];
	uint16_t mtu;	   /* IP MTU: config mtu (MTU feature) or 1500 */
	uint32_t hdr_len;  /* bytes of virtio_net_hdr on the wire: 12 (10 legacy) */
	bool link_up;	   /* always true without VIRTIO_NET_F_STATUS */
	bool mergeable;	   /* MRG_RXBUF: one page per buffer, frames span several */
	bool hdr_separate; /* legacy without ANY_LAYOUT: header in its own descriptor */
	bool promisc;
	unsigned rx_pages_per_buf; /* without MRG_RXBUF: pages chained per buffer */
	uint32_t max_frame;	   /* longest frame accepted without GSO */
	/* Receive pages: posted to the device, held by the stack, or free. */
	struct vnet_rxbuf *rx_free;
	unsigned rx_pages, rx_pages_free, rx_posted;
	/* Transmit slots (header + token), one per ring entry. */
	struct vnet_txslot *tx_slots, *tx_free;
	unsigned tx_nslots, tx_inflight, tx_unkicked;
	/* The receive filter, replayed after a device reset. */
	uint8_t mc[VNET_MAX_MULTICAST][6];
	unsigned nmc;
	bool mc_set;
	/*
	 * A broken ring (a bad used entry, DEVICE_NEEDS_RESET): noted where it
	 * is seen, maybe in an interrupt; the next vnet_poll resets the device
	 * and brings it back. dead: that failed, the device is given up.
	 */
	volatile bool recover_pending;
	bool dead;
	char recover_why[96];
	uint64_t fault_rx_at, fault_tx_at; /* net.fault=rx@N / tx@N: a bad used entry after N */
	/* Attached stack. */
	const struct vnet_stack_ops *ops;
	void *stack;
	volatile bool config_pending; /* set by the configuration interrupt */
	bool announce_inflight;	      /* the ANNOUNCE ack is with the device */
	uint64_t announce_deadline;   /* ... until then (clock_ns) */
	uint64_t next_config_poll;    /* polled devices: when to look at the ISR again */
	struct vnet_stats stats;
};

/* vnet_get - the n-th (from 0) virtio-net device the driver bound, or NULL. */
struct vnet_dev *vnet_get(unsigned n);

/*
 * vnet_attach - a stack starts using dev: receive buffers are posted,
 * the device is made ready (DRIVER_OK was set at probe) and the link read.
 * Returns: 0; -EBUSY (already attached); -ENOMEM (no receive pages).
 */
int vnet_attach(struct vnet_dev *dev, const struct vnet_stack_ops *ops, void *stack);

/*
 * vnet_poll - receive up to budget frames (ops->rx), reclaim transmitted
 * ones (ops->tx_done), refill the receive ring, handle a link change. A
 * ring the device broke is brought back here: the device is reset, the
 * buffers it held are taken back (receive pages re-posted, frames not sent
 * handed to ops->tx_done), the link goes down and up again around it.
 * Pages the stack holds are not touched. Returns: frames delivered.
 */
unsigned vnet_poll(struct vnet_dev *dev, unsigned budget);

/*
 * vnet_xmit - queue frame (device-readable sg entries, at most
 * VNET_TX_MAX_SG) behind a copy of hdr; token comes back via tx_done.
 * The device is notified by vnet_tx_flush (or once 32 frames wait).
 * Returns: 0; -ENOSPC (ring full: try after a poll); -EINVAL (too many
 * entries, empty); -EIO (queue broken).
 */
int vnet_xmit(struct vnet_dev *dev, const struct virtio_net_hdr *hdr, const struct sg_ring *frame,
	      void *token);

/* vnet_tx_flush - notify the device of frames queued since the last flush. */
void vnet_tx_flush(struct vnet_dev *dev);

/* vnet_rxbuf_release - the stack is done with one receive page. */
void vnet_rxbuf_release(struct vnet_rxbuf *b);

/*
 * vnet_set_promisc - receive every frame (CTRL_RX). Returns: 0; -EOPNOTSUPP
 * without VIRTIO_NET_F_CTRL_RX; -EIO (the device refused or did not answer).
 */
int vnet_set_promisc(struct vnet_dev *dev, bool on);

/*
 * vnet_set_multicast - the MAC filter (CTRL_RX + CTRL_VQ): our own unicast
 * address plus these multicast addresses (broadcast always passes).
 * Returns: as vnet_set_promisc; -E2BIG beyond VNET_MAX_MULTICAST.
 */
int vnet_set_multicast(struct vnet_dev *dev, const uint8_t (*mc)[6], unsigned n);

/* vnet_has - a negotiated VIRTIO_NET_F_* feature. */
static inline bool vnet_has(const struct vnet_dev *dev, unsigned bit)
{
	return virtio_has_feature(dev->vd, bit);
}

/*
 * vnet_feature_names - the negotiated features as words into buf: the
 * network bits (the one table, also the `virtio` command's), then ring and
 * transport bits (virtio_format_features).
 */
void vnet_feature_names(const struct vnet_dev *dev, char *buf, unsigned size);

#endif
