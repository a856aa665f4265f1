/* Internal to net/: the lwIP interface on virtio-net (netif.c) and its TSO batching (netif_tso.c). */
#ifndef NET_NETIF_VNET_H
#define NET_NETIF_VNET_H

#include <stdbool.h>

#include <lwip/err.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/tcp.h>

#include <net/net.h>
#include <virtio/net.h>

extern struct net_glue_stats net_glue;

/* lwIP was told ERR_MEM (ring full): its TCP output is retried once the ring drains. */
extern bool vnet_tx_blocked;

/* vnet_netif_init - lwIP's netif init callback; netif->state is the struct vnet_dev. */
err_t vnet_netif_init(struct netif *netif);

/*
 * vnet_netif_send - hand frame p (referenced until the device is done)
 * behind header h to the device. Returns: 0 or vnet_xmit's error.
 */
int vnet_netif_send(struct netif *netif, struct pbuf *p, const struct virtio_net_hdr *h);

/* vnet_tso_enabled - HOST_TSO4/6 negotiated and not turned off (tso=off). */
bool vnet_tso_enabled(const struct vnet_dev *dev);

/*
 * vnet_tso_queue - keep TCP segment p to leave with its successors as one
 * large segment. Any frame that cannot join flushes what is kept first.
 * Returns: 0 if kept (referenced), -1 if the caller sends p itself.
 */
int vnet_tso_queue(struct netif *netif, struct pbuf *p);

/* vnet_tso_flush - send what vnet_tso_queue kept (end of every poll round). */
void vnet_tso_flush(struct netif *netif);

/* vnet_tx_csum - set up VIRTIO_NET_F_CSUM for a TCP frame (header and pseudo sum). */
void vnet_tx_csum(struct pbuf *p, struct virtio_net_hdr *h);

/*
 * Receive memory (netif_rxmem.c). Frames up to NET_RX_COPYBREAK bytes are
 * copied; the stack holds NET_RX_PAGE_BUDGET driver pages at most (half
 * the pool: the ring always has pages to post); out-of-order TCP data of
 * all connections shares NET_OOSEQ_BUDGET pbufs, each connection at least
 * NET_OOSEQ_MIN.
 */
#define NET_RX_COPYBREAK   256u
#define NET_RX_PAGE_BUDGET (VNET_RX_POOL_PAGES / 2)
#define NET_OOSEQ_BUDGET   512u
#define NET_OOSEQ_MIN	   16u

/*
 * net_rx_pages_take - the stack is about to hold n more pages. Over the
 * budget, out-of-order data is dropped first. Returns: true if it may
 * (counted until net_rx_page_put), false if the frame must be copied.
 */
bool net_rx_pages_take(unsigned n);

/* net_rx_page_put - the stack gave one page back. */
void net_rx_page_put(void);

/*
 * net_rx_copy - the frame (len bytes in the chain) copied into a pbuf from
 * lwIP's heap; its pages go back to the driver. Returns: the pbuf, or NULL
 * when the heap is out (the frame is dropped, counted).
 */
struct pbuf *net_rx_copy(struct vnet_rxbuf *frame, uint32_t len);

/* net_tcp_ooseq_limit - TCP_OOSEQ_PBUFS_LIMIT: pcb's share of the out-of-order budget. */
u16_t net_tcp_ooseq_limit(const struct tcp_pcb *pcb);

#endif
