/*
 * Console port data paths (VIRTIO 1.2 section 5.3.6): receive buffers
 * that go back to the device only once read, transmit buffers filled by
 * copy and queued one descriptor each, and the service loop that moves
 * used buffers to where they belong. Portable: host-tested.
 */
#include <errno.h>
#include <string.h>

#include <virtio/virtio_console.h>
#include <virtio/virtio_dma.h>

#include "console_internal.h"

int vcon_port_rx_post(struct vcon_port *p, struct vcon_buf *b)
{
	b->next = NULL;
	b->len = b->off = 0;
	/* 5.3.6.1: receive queues take device-writable buffers only. */
	return virtqueue_add_buf_single(p->rxq, b->data, VCON_BUF_SIZE, VQ_IN, b);
}

int vcon_port_setup(struct vcon_port *p, bool kick)
{
	if (p->mem)
		return -EIO; /* an earlier set-up failed half-way: its queue is broken */
	p->nrx = virtqueue_num(p->rxq) < VCON_RX_BUFS ? virtqueue_num(p->rxq) : VCON_RX_BUFS;
	p->ntx = virtqueue_num(p->txq) < VCON_TX_BUFS ? virtqueue_num(p->txq) : VCON_TX_BUFS;
	p->mem = virtio_dma_alloc((size_t)(p->nrx + p->ntx) * VCON_BUF_SIZE, 4096);
	if (!p->mem)
		return -ENOMEM;
	p->rx_head = p->rx_tail = NULL;
	p->tx_free = p->tx_head = p->tx_tail = NULL;
	for (unsigned i = 0; i < p->ntx; i++) {
		struct vcon_buf *b = &p->tx[i];

		b->data = p->mem + (size_t)(p->nrx + i) * VCON_BUF_SIZE;
		b->next = p->tx_free;
		p->tx_free = b;
	}
	for (unsigned i = 0; i < p->nrx; i++) {
		int rc;

		p->rx[i].data = p->mem + (size_t)i * VCON_BUF_SIZE;
		if ((rc = vcon_port_rx_post(p, &p->rx[i])) != 0)
			return rc;
	}
	if (kick)
		virtqueue_kick(p->rxq);
	p->bufs_ready = true;
	return 0;
}

void vcon_port_free(struct vcon_port *p)
{
	if (p->mem)
		virtio_dma_free(p->mem, (size_t)(p->nrx + p->ntx) * VCON_BUF_SIZE);
	p->mem = NULL;
	p->bufs_ready = false;
	p->rx_head = p->rx_tail = NULL;
	p->tx_free = p->tx_head = p->tx_tail = NULL;
}

void vcon_port_drop_rx(struct vcon_port *p)
{
	unsigned reposted = 0;

	while (p->rx_head) {
		struct vcon_buf *b = p->rx_head;

		p->rx_head = b->next;
		reposted += vcon_port_rx_post(p, b) == 0;
	}
	p->rx_tail = NULL;
	if (reposted)
		virtqueue_kick(p->rxq);
}

/* Whether bytes that arrive now have no reader: they are dropped. */
static const char *rx_unwanted(const struct vcon_port *p)
{
	if (!p->present)
		return "the port was removed";
	if (!p->guest_open)
		return "the port is not open in the guest";
	if (p->eof_seen && !p->host_open)
		return "the host closed the port and the reader saw the end";
	return NULL;
}

bool vcon_port_rx_take(struct vcon_port *p, struct vcon_buf *b, uint32_t len)
{
	const char *why = len ? rx_unwanted(p) : NULL;

	if (len == 0 || why) {
		p->st.rx_dropped += len;
		if (why && !p->drop_logged) {
			p->drop_logged = true;
			vcon_log(p->dev, "port %u: %u bytes arrived but %s: dropped", p->id, len,
				 why);
		}
		return false;
	}
	b->len = len;
	b->off = 0;
	b->next = NULL;
	if (p->rx_tail)
		p->rx_tail->next = b;
	else
		p->rx_head = b;
	p->rx_tail = b;
	p->st.rx_bytes += len;
	p->st.rx_bufs++;
	return true;
}

int vcon_port_tx_queue(struct vcon_port *p, struct vcon_buf *b)
{
	/* 5.3.6.1: transmit queues take device-readable buffers only. */
	int rc = virtqueue_add_buf_single(p->txq, b->data, b->len, VQ_OUT, b);

	if (rc)
		return rc;
	b->next = NULL;
	if (p->tx_tail)
		p->tx_tail->next = b;
	else
		p->tx_head = b;
	p->tx_tail = b;
	return 0;
}

void vcon_port_tx_done(struct vcon_port *p, struct vcon_buf *b)
{
	struct vcon_buf **pp = &p->tx_head, *prev = NULL;

	/* Out of the in-flight list (the device may return them in any order). */
	while (*pp && *pp != b) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp) {
		*pp = b->next;
		if (p->tx_tail == b)
			p->tx_tail = prev;
	}
	b->next = p->tx_free;
	p->tx_free = b;
	if (p->tx_stalled) {
		p->tx_stalled = false;
		vcon_log(p->dev, "port %u: the device returned a transmit buffer: output resumes",
			 p->id);
	}
}

void vcon_port_collect(struct vcon_port *p)
{
	struct vcon_buf *b;
	unsigned reposted = 0;
	uint32_t len;

	if (!p->bufs_ready)
		return;
	/*
	 * nrx at most per call: the buffers dropped here are reposted at
	 * once, and a device as fast as we are would keep the loop going.
	 */
	for (unsigned budget = p->nrx; budget && (b = virtqueue_get_buf(p->rxq, &len)) != NULL;
	     budget--)
		if (!vcon_port_rx_take(p, b, len))
			reposted += vcon_port_rx_post(p, b) == 0;
	if (reposted)
		virtqueue_kick(p->rxq);
	/* Bounded by ntx: a transmit buffer comes back only once per add. */
	while ((b = virtqueue_get_buf(p->txq, &len)) != NULL)
		vcon_port_tx_done(p, b);
}

/* A queue that broke, or NULL. */
static struct virtqueue *vcon_broken_queue(const struct vcon_dev *d)
{
	if (d->multiport && virtqueue_is_broken(d->ctrl_rxq))
		return d->ctrl_rxq;
	if (d->multiport && virtqueue_is_broken(d->ctrl_txq))
		return d->ctrl_txq;
	for (uint32_t i = 0; i < d->nports; i++) {
		const struct vcon_port *p = &d->ports[i];

		if (virtqueue_is_broken(p->rxq))
			return p->rxq;
		if (virtqueue_is_broken(p->txq))
			return p->txq;
	}
	return NULL;
}

void vcon_service(struct vcon_dev *d)
{
	struct virtqueue *vq;

	if (d->in_service || d->dead)
		return;
	d->in_service = true;
	/*
	 * Process context: a ring found broken here (or by an interrupt) is
	 * recovered at once, and the new queues served; twice at most.
	 */
	for (unsigned n = 0;; n++) {
		if (d->multiport)
			vcon_ctrl_poll(d);
		for (uint32_t i = 0; i < d->nports; i++)
			vcon_port_collect(&d->ports[i]);
		vq = d->ops->reset && n < 2 ? vcon_broken_queue(d) : NULL;
		if (!vq || vcon_recover(d, virtqueue_broken_reason(vq)) != 0)
			break;
	}
	d->in_service = false;
}

struct vcon_port *vcon_find(struct vcon_dev *d, const char *name)
{
	for (uint32_t i = 0; i < d->nports; i++)
		if (d->ports[i].present && d->ports[i].name[0] &&
		    strcmp(d->ports[i].name, name) == 0)
			return &d->ports[i];
	return NULL;
}

/* A port the host must have open for the device to pass data on. */
static bool tx_needs_host(const struct vcon_port *p)
{
	return p->dev->multiport && !p->console;
}

/*
 * Wait for the device on p's queue q; the control queue too where a host
 * close ends the wait (not for consoles, which the host cannot close).
 */
static void port_idle(struct vcon_port *p, struct virtqueue *q, uint64_t deadline)
{
	struct vcon_dev *d = p->dev;
	struct virtqueue *vqs[2] = {q, d->ctrl_rxq};

	d->ops->idle(d, vqs, d->multiport && !p->console ? 2 : 1, deadline);
}

static unsigned tx_free_count(const struct vcon_port *p)
{
	unsigned n = 0;

	for (const struct vcon_buf *b = p->tx_free; b; b = b->next)
		n++;
	return n;
}

static uint64_t tx_timeout(const struct vcon_port *p)
{
	return p->console ? VCON_TX_TIMEOUT_NS : VCON_PORT_TX_TIMEOUT_NS;
}

/*
 * The device kept every transmit buffer for tx_timeout(): the port is
 * stalled; said once, until a buffer comes back (vcon_port_collect).
 */
static void tx_stall(struct vcon_port *p)
{
	p->st.tx_stalls++;
	if (p->tx_stalled)
		return;
	p->tx_stalled = true;
	vcon_log(p->dev,
		 "port %u: the device returned no transmit buffer for %llu ms (%u of %u held): "
		 "port stalled, output dropped until it returns one",
		 p->id, (unsigned long long)(tx_timeout(p) / 1000000), p->ntx - tx_free_count(p),
		 p->ntx);
}

int vcon_open(struct vcon_port *p)
{
	struct vcon_dev *d = p->dev;
	int rc;

	vcon_service(d);
	if (d->dead)
		return -EIO;
	if (!p->present)
		return -ENODEV;
	if (p->guest_open)
		return p->console ? 0 : -EBUSY;
	p->guest_open = true;
	p->drop_logged = false;
	if (d->multiport && (rc = vcon_ctrl_send(d, p->id, VIRTIO_CONSOLE_PORT_OPEN, 1)) != 0) {
		p->guest_open = false;
		return rc;
	}
	return 0;
}

/* Why the device will not take more of p's bytes, or 0. */
static int tx_stopped(const struct vcon_port *p)
{
	if (p->dev->dead || virtqueue_is_broken(p->txq))
		return -EIO;
	if (!p->present)
		return -ENODEV;
	if (tx_needs_host(p) && !p->host_open)
		return -EPIPE;
	return 0;
}

int vcon_flush(struct vcon_port *p)
{
	struct vcon_dev *d = p->dev;

	unsigned free_before = 0;
	uint64_t deadline = 0;

	vcon_service(d);
	if (d->dead)
		return -EIO;
	if (!p->bufs_ready)
		return p->present ? 0 : -ENODEV;
	for (unsigned n; (n = tx_free_count(p)) < p->ntx;) {
		int rc = tx_stopped(p);

		if (rc)
			return rc;
		if (p->tx_stalled)
			return -ETIMEDOUT; /* said already; a stalled port is not waited for */
		if (deadline == 0 || n > free_before) /* progress: a new deadline */
			deadline = d->ops->clock_ns() + tx_timeout(p);
		free_before = n;
		if (d->ops->clock_ns() >= deadline) {
			tx_stall(p);
			return -ETIMEDOUT;
		}
		port_idle(p, p->txq, deadline);
		vcon_service(d);
	}
	return 0;
}

void vcon_close(struct vcon_port *p)
{
	struct vcon_dev *d = p->dev;

	vcon_service(d);
	if (d->dead || !p->present || !p->guest_open)
		return;
	vcon_flush(p); /* what was written reaches the host before it hears the close */
	vcon_port_drop_rx(p);
	if (p->console)
		return; /* a console stays open (5.3.6.2.2) */
	p->guest_open = false;
	if (d->multiport)
		vcon_ctrl_send(d, p->id, VIRTIO_CONSOLE_PORT_OPEN, 0);
}

size_t vcon_readable(const struct vcon_port *p)
{
	size_t n = 0;

	for (const struct vcon_buf *b = p->rx_head; b; b = b->next)
		n += b->len - b->off;
	return n;
}

bool vcon_eof(const struct vcon_port *p)
{
	return p->dev->multiport && !p->console && !p->host_open && !p->rx_head;
}

ssize_t vcon_read(struct vcon_port *p, void *buf, size_t len, bool block)
{
	struct vcon_dev *d = p->dev;
	uint8_t *out = buf;
	unsigned reposted = 0;
	size_t n = 0;

	for (;;) {
		vcon_service(d);
		if (d->dead)
			return -EIO;
		if (!p->present)
			return -ENODEV;
		if (len == 0)
			return 0;
		if (p->rx_head)
			break;
		if (vcon_eof(p)) {
			p->eof_seen = true;
			return 0;
		}
		if (!block)
			return -EAGAIN;
		/* Input may take any time; each halt is bounded all the same. */
		port_idle(p, p->rxq, d->ops->clock_ns() + VCON_WAIT_SLICE_NS);
	}
	while (n < len && p->rx_head) {
		struct vcon_buf *b = p->rx_head;
		size_t take = b->len - b->off;

		if (take > len - n)
			take = len - n;
		memcpy(out + n, b->data + b->off, take);
		b->off += (uint32_t)take;
		n += take;
		if (b->off == b->len) {
			/* Read to the end: only now does the device get it back. */
			p->rx_head = b->next;
			if (!p->rx_head)
				p->rx_tail = NULL;
			reposted += vcon_port_rx_post(p, b) == 0;
		}
	}
	if (reposted)
		virtqueue_kick(p->rxq);
	return (ssize_t)n;
}

/*
 * Wait until the device returns a transmit buffer, tx_timeout() at most; a stalled port is not waited for. Returns: 0 (one is free), an
 * error of tx_stopped(), -ETIMEDOUT (stalled).
 */
static int tx_wait(struct vcon_port *p)
{
	struct vcon_dev *d = p->dev;
	uint64_t deadline = d->ops->clock_ns() + tx_timeout(p);
	int rc;

	while (!p->tx_free) {
		if (p->tx_stalled)
			return -ETIMEDOUT;
		if (d->ops->clock_ns() >= deadline) {
			tx_stall(p);
			return -ETIMEDOUT;
		}
		port_idle(p, p->txq, deadline);
		vcon_service(d);
		if ((rc = tx_stopped(p)) != 0)
			return rc;
	}
	return 0;
}

ssize_t vcon_write(struct vcon_port *p, const void *buf, size_t len)
{
	struct vcon_dev *d = p->dev;
	const uint8_t *in = buf;
	unsigned queued = 0;
	size_t done = 0;
	int rc = 0;

	vcon_service(d);
	if ((rc = tx_stopped(p)) != 0)
		return rc; /* EPIPE: the device would drop the bytes (QEMU does) */
	while (done < len) {
		struct vcon_buf *b;
		uint32_t n;

		if (!p->tx_free && !p->tx_stalled)
			p->st.tx_waits++;
		/* Every buffer is in flight: let the device see them, then wait. */
		if (!p->tx_free && queued) {
			virtqueue_kick(p->txq);
			queued = 0;
		}
		if (!p->tx_free && (rc = tx_wait(p)) != 0) {
			if (rc == -ETIMEDOUT)
				p->st.tx_dropped += len - done;
			break;
		}
		b = p->tx_free;
		n = len - done > VCON_BUF_SIZE ? VCON_BUF_SIZE : (uint32_t)(len - done);
		memcpy(b->data, in + done, n);
		b->len = n;
		b->resent = false;
		p->tx_free = b->next;
		rc = vcon_port_tx_queue(p, b);
		if (rc) {
			b->next = p->tx_free;
			p->tx_free = b;
			break;
		}
		done += n;
		queued++;
		p->st.tx_bytes += n;
		p->st.tx_bufs++;
	}
	if (queued)
		virtqueue_kick(p->txq);
	if (rc && !done)
		return rc;
	return (ssize_t)done;
}
