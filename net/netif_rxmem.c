/*
 * Receive memory: what the stack may hold of the driver's pages, so that
 * no remote peer can take the receive ring. Pages held by lwIP are counted
 * as pages however few bytes they carry: a frame of NET_RX_COPYBREAK bytes
 * or less is copied into a pbuf of its size and its page goes back to the
 * ring at once; beyond NET_RX_PAGE_BUDGET held pages, out-of-order TCP data
 * (of every connection) is dropped first, then frames are copied while
 * lwIP's heap lasts, else dropped. TCP's out-of-order queues share one
 * budget of pbufs (lwIP's TCP_OOSEQ_PBUFS_LIMIT hook, lwipopts.h).
 */
#include <lwip/pbuf.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/stats.h>
#include <lwip/tcp.h>

#include <net/net.h>
#include <virtio/net.h>

#include "netif_vnet.h"

static unsigned ooseq_pbufs(const struct tcp_pcb *pcb)
{
	unsigned n = 0;

	for (const struct tcp_seg *seg = pcb->ooseq; seg; seg = seg->next)
		n += pbuf_clen(seg->p);
	return n;
}

/*
 * Called by lwIP after it queued a segment out of order on pcb: each
 * connection with such data gets an equal share of the budget (at least
 * NET_OOSEQ_MIN); when the others hold more than the rest, those over
 * their share lose their out-of-order data (their peers resend it).
 */
u16_t net_tcp_ooseq_limit(const struct tcp_pcb *pcb)
{
	unsigned n = 1, others = 0, share;
	struct tcp_pcb *p;

	for (p = tcp_active_pcbs; p; p = p->next) {
		if (p != pcb && p->ooseq) {
			n++;
			others += ooseq_pbufs(p);
		}
	}
	share = NET_OOSEQ_BUDGET / n;
	if (share < NET_OOSEQ_MIN)
		share = NET_OOSEQ_MIN;
	if (others + share > NET_OOSEQ_BUDGET) {
		for (p = tcp_active_pcbs; p; p = p->next) {
			if (p != pcb && p->ooseq && ooseq_pbufs(p) > share) {
				tcp_free_ooseq(p);
				net_glue.rx_ooseq_purges++;
			}
		}
	}
	return (u16_t)share;
}

/* Drop every connection's out-of-order data (lwIP's own answer to a memory shortage). */
static void ooseq_purge(void)
{
	bool any = false;

	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
		if (pcb->ooseq) {
			tcp_free_ooseq(pcb);
			any = true;
		}
	}
	if (any)
		net_glue.rx_ooseq_purges++;
}

/* lwIP's heap is past three quarters full. */
static bool heap_low(void)
{
	return lwip_stats.mem.used > (mem_size_t)(MEM_SIZE / 4 * 3);
}

bool net_rx_pages_take(unsigned n)
{
	if (net_glue.rx_pages_held + n > NET_RX_PAGE_BUDGET || heap_low())
		ooseq_purge();
	if (net_glue.rx_pages_held + n > NET_RX_PAGE_BUDGET)
		return false;
	net_glue.rx_pages_held += n;
	if (net_glue.rx_pages_held > net_glue.rx_pages_held_max)
		net_glue.rx_pages_held_max = net_glue.rx_pages_held;
	return true;
}

void net_rx_page_put(void)
{
	net_glue.rx_pages_held--;
}

struct pbuf *net_rx_copy(struct vnet_rxbuf *frame, uint32_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
	uint16_t off = 0;

	if (!p && heap_low()) {
		ooseq_purge();
		p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
	}
	while (frame) {
		struct vnet_rxbuf *next = frame->next;

		if (p)
			pbuf_take_at(p, frame->data, (u16_t)frame->len, off);
		off = (uint16_t)(off + frame->len);
		vnet_rxbuf_release(frame);
		frame = next;
	}
	if (p)
		net_glue.rx_copied++;
	else
		net_glue.rx_nomem++;
	return p;
}
