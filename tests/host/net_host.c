/*
 * Host services and a scripted virtio-net device for net_host.h: the
 * transport and virtqueue calls drivers/virtio/devices/net.c makes, the kernel
 * services net/ uses, and lwIP's system layer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lwip/etharp.h>
#include <lwip/init.h>
#include <lwip/ip_addr.h>
#include <lwip/tcp.h>
#include <lwip/timeouts.h>
#include <netif/ethernet.h>

#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/kernel.h>
#include <kernel/page_alloc.h>
#include <virtio/virtio.h>
#include <virtio/virtqueue.h>

#include "../../net/net_hooks.h"
#include "../../net/netif_vnet.h"
#include "net_host.h"
#include "vnet_fake_transport.h"

/* Kernel services. */

struct cmdline kernel_cmdline;

const char *cmdline_get(const struct cmdline *cl, const char *key)
{
	(void)cl;
	(void)key;
	return NULL;
}

void *alloc_pages(uint64_t n)
{
	void *p = aligned_alloc(4096, n * 4096);

	if (p)
		memset(p, 0, n * 4096);
	return p; /* the driver keeps its pages for good, as in the kernel */
}

/* lwIP's system layer (net/sys_arch.c in the kernel). */

u32_t sys_now(void)
{
	return (u32_t)(vnet_fake_now_ns / 1000000);
}

uint32_t net_random(void)
{
	static uint64_t x = 88172645463325252ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (uint32_t)x;
}

/* Fixed, so that a scripted peer (a fuzz seed) can complete the handshake: it acks 1001. */
u32_t net_tcp_isn(const ip_addr_t *local_ip, u16_t local_port, const ip_addr_t *remote_ip,
		  u16_t remote_port)
{
	(void)local_ip;
	(void)local_port;
	(void)remote_ip;
	(void)remote_port;
	return 1000;
}

void net_assert_fail(const char *msg, const char *file, int line)
{
	fprintf(stderr, "lwIP assertion \"%s\" failed at %s:%d\n", msg, file, line);
	abort();
}

/* The virtqueue: a FIFO of posted buffers per queue, used in posting order. */

struct fake_buf {
	void *token;
	struct sg_entry in[VNET_TX_MAX_SG + 2];
	unsigned nin;
	uint32_t used_len;
};

struct virtqueue {
	unsigned index;
	struct fake_buf bufs[NET_HOST_QSIZE];
	unsigned head, navail, nused; /* [head, +nused) used, then navail posted */
	const char *broken;	      /* net_host_break: why */
};

static struct virtqueue queues[3];
struct net_host_tx net_host_txs[16];
unsigned net_host_ntx;

int virtio_setup_vq(struct virtio_device *vd, unsigned index, uint32_t max_size,
		    vq_callback_t callback, struct virtqueue **vqp)
{
	(void)vd;
	(void)max_size;
	(void)callback;
	memset(&queues[index], 0, sizeof(queues[index])); /* again after a device reset: empty */
	queues[index].index = index;
	*vqp = &queues[index];
	return 0;
}

uint32_t virtqueue_num(const struct virtqueue *vq)
{
	(void)vq;
	return NET_HOST_QSIZE;
}

uint32_t virtqueue_num_free(const struct virtqueue *vq)
{
	return NET_HOST_QSIZE - vq->navail - vq->nused;
}

/* The transmitted frame (after the virtio header) into net_host_txs. */
static void capture_tx(const struct sg_ring *out)
{
	struct net_host_tx *t = &net_host_txs[net_host_ntx++ % 16];
	uint32_t skip = net_host_dev->hdr_len;

	t->len = 0;
	for (const struct sg_ring *r = out; r; r = r->next) {
		for (unsigned i = 0; i < r->num; i++) {
			const uint8_t *a = r->sg[i].addr;
			uint32_t n = r->sg[i].len;

			if (skip) {
				uint32_t k = skip < n ? skip : n;

				a += k;
				n -= k;
				skip -= k;
			}
			if (n > sizeof(t->frame) - t->len)
				n = (uint32_t)sizeof(t->frame) - t->len;
			memcpy(t->frame + t->len, a, n);
			t->len += n;
		}
	}
}

int virtqueue_add_sgs(struct virtqueue *vq, const struct sg_ring *out, const struct sg_ring *in,
		      void *token)
{
	struct fake_buf *b;

	if (vq->broken)
		return -EIO;
	if (virtqueue_num_free(vq) == 0)
		return -ENOSPC;
	b = &vq->bufs[(vq->head + vq->nused + vq->navail) % NET_HOST_QSIZE];
	memset(b, 0, sizeof(*b));
	b->token = token;
	for (const struct sg_ring *r = in; r; r = r->next)
		for (unsigned i = 0; i < r->num && b->nin < VNET_TX_MAX_SG + 2; i++)
			b->in[b->nin++] = r->sg[i];
	if (vq->index == VIRTIO_NET_TXQ) {
		capture_tx(out);
		vq->nused++; /* read at once */
	} else if (vq->index == 2) {
		/* Control commands: acknowledged at once (the ack is the last in entry). */
		if (b->nin)
			*(uint8_t *)b->in[b->nin - 1].addr = VIRTIO_NET_OK;
		b->used_len = 1;
		vq->nused++;
	} else {
		vq->navail++;
	}
	return 0;
}

bool virtqueue_kick(struct virtqueue *vq)
{
	(void)vq;
	return true;
}

void *virtqueue_get_buf(struct virtqueue *vq, uint32_t *len)
{
	struct fake_buf *b;

	if (!vq->nused || vq->broken)
		return NULL;
	b = &vq->bufs[vq->head];
	vq->head = (vq->head + 1) % NET_HOST_QSIZE;
	vq->nused--;
	*len = b->used_len;
	return b->token;
}

/* The burst calls, with the real ones' results, as the single calls above, one by one. */
int virtqueue_add_bufs(struct virtqueue *vq, const struct vq_single *bufs, unsigned n)
{
	unsigned k;

	if (vq->broken)
		return -EIO;
	for (k = 0; k < n; k++)
		if (!bufs[k].token || !bufs[k].len ||
		    (bufs[k].dir != VQ_IN && bufs[k].dir != VQ_OUT))
			return -EINVAL;
	if (n && virtqueue_num_free(vq) == 0)
		return -ENOSPC;
	for (k = 0; k < n && virtqueue_num_free(vq) > 0; k++) {
		DECLARE_SG(one, 1);

		sg_add(one, bufs[k].addr, bufs[k].len);
		if (virtqueue_add_sgs(vq, bufs[k].dir == VQ_OUT ? one : NULL,
				      bufs[k].dir == VQ_IN ? one : NULL, bufs[k].token))
			break;
	}
	return (int)k;
}

unsigned virtqueue_get_bufs(struct virtqueue *vq, void **tokens, uint32_t *lens, unsigned max)
{
	unsigned k;

	for (k = 0; k < max; k++) {
		uint32_t len;

		if (!(tokens[k] = virtqueue_get_buf(vq, &len)))
			break;
		if (lens)
			lens[k] = len;
	}
	return k;
}

void virtqueue_disable_cb(struct virtqueue *vq)
{
	(void)vq;
}

bool virtqueue_is_broken(const struct virtqueue *vq)
{
	return vq->broken != NULL;
}

const char *virtqueue_broken_reason(const struct virtqueue *vq)
{
	return vq->broken;
}

/* After the device reset: used buffers not yet taken, then the posted ones. */
void *virtqueue_detach_unused_buf(struct virtqueue *vq)
{
	struct fake_buf *b;

	if (!vq->nused && !vq->navail)
		return NULL;
	b = &vq->bufs[vq->head];
	vq->head = (vq->head + 1) % NET_HOST_QSIZE;
	if (vq->nused)
		vq->nused--;
	else
		vq->navail--;
	return b->token;
}

void net_host_break(unsigned index, const char *why)
{
	queues[index].broken = why;
}

void virtqueue_inject_fault(struct virtqueue *vq)
{
	(void)vq;
}

/* The device side. */

unsigned net_host_posted(void)
{
	return queues[VIRTIO_NET_RXQ].navail;
}

bool net_host_device_rx(const struct virtio_net_hdr *h, const void *frame, uint32_t len,
			unsigned nbufs, int32_t extra_len)
{
	struct virtqueue *vq = &queues[VIRTIO_NET_RXQ];
	const uint8_t *src = frame;
	uint32_t hdr_left = net_host_dev->hdr_len;

	if (nbufs == 0 || vq->navail < nbufs)
		return false;
	for (unsigned k = 0; k < nbufs; k++) {
		struct fake_buf *b = &vq->bufs[(vq->head + vq->nused) % NET_HOST_QSIZE];
		uint32_t written = 0;

		for (unsigned i = 0; i < b->nin; i++) {
			uint8_t *dst = b->in[i].addr;
			uint32_t room = b->in[i].len;

			if (hdr_left) {
				uint32_t n = hdr_left < room ? hdr_left : room;

				memcpy(dst, (const uint8_t *)h + (net_host_dev->hdr_len - hdr_left),
				       n);
				hdr_left -= n;
				dst += n;
				room -= n;
				written += n;
			}
			if (k + 1 < nbufs || len) {
				uint32_t n = len < room ? len : room;

				memcpy(dst, src, n);
				src += n;
				len -= n;
				written += n;
			}
		}
		uint32_t cap = 0;

		for (unsigned i = 0; i < b->nin; i++)
			cap += b->in[i].len;
		b->used_len = written + (k + 1 == nbufs ? (uint32_t)extra_len : 0);
		/* The ring core refuses a used length beyond the buffer (the queue breaks). */
		if (b->used_len > cap)
			b->used_len = cap;
		vq->navail--;
		vq->nused++;
	}
	return true;
}

/* The stack. */

struct netif net_host_netif;
struct vnet_dev *net_host_dev;

void net_host_poll(void)
{
	vnet_poll(net_host_dev, 64);
	vnet_tso_flush(&net_host_netif);
	vnet_tx_flush(net_host_dev);
	sys_check_timeouts();
}

/* Discard: data is freed as it comes. */
static err_t discard_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)err;
	if (p) {
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
	}
	return ERR_OK;
}

static err_t discard_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)err;
	tcp_recv(pcb, discard_recv);
	return ERR_OK;
}

int net_host_listen_discard(uint16_t port)
{
	struct tcp_pcb *l = tcp_new_ip_type(IPADDR_TYPE_ANY);

	if (!l || tcp_bind(l, IP_ANY_TYPE, port) != ERR_OK)
		return -1;
	l = tcp_listen_with_backlog(l, 16);
	if (!l)
		return -1;
	tcp_accept(l, discard_accept);
	return 0;
}

/* drivers/virtio/devices/net.c's probe: the driver is #included by net_host_driver.c. */
int net_host_probe(struct virtio_device *vd);

int net_host_init(uint64_t features)
{
	static struct eth_addr peer_mac = {{0x52, 0x54, 0, 0, 0, 1}};
	ip4_addr_t ip, mask, gw;
	ip6_addr_t ll;

	vnet_fake_offered = features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (net_host_probe(&vnet_fake_vd))
		return -1;
	net_host_dev = vnet_get(0);
	lwip_init();
	IP4_ADDR(&ip, 10, 0, 0, 2);
	IP4_ADDR(&mask, 255, 255, 255, 0);
	IP4_ADDR(&gw, 10, 0, 0, 1);
	if (!netif_add(&net_host_netif, &ip, &mask, &gw, net_host_dev, vnet_netif_init,
		       ethernet_input))
		return -1;
	netif_set_default(&net_host_netif);
	netif_set_up(&net_host_netif);
	netif_set_link_up(&net_host_netif);
	IP6_ADDR(&ll, PP_HTONL(0xfe800000ul), 0, 0, PP_HTONL(2));
	netif_ip6_addr_set(&net_host_netif, 0, &ll);
	netif_ip6_addr_set_state(&net_host_netif, 0, IP6_ADDR_PREFERRED);
	/* The peer's MAC is known: replies leave at once, without an ARP round trip. */
	IP4_ADDR(&gw, 10, 0, 0, 1);
	return etharp_add_static_entry(&gw, &peer_mac) == ERR_OK ? 0 : -1;
}
