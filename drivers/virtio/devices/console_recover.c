/*
 * Bringing a console device back after one of its queues broke (a bad
 * used entry, DEVICE_NEEDS_RESET: VIRTIO 1.2 2.1.2): reset, every buffer
 * taken back, new queues, the ports announced again with the multiport
 * control protocol (5.3.6.2), output in flight sent again once.
 * Portable: host-tested.
 */
#include <stdio.h>
#include <string.h>

#include <virtio/virtio_console.h>

#include "console_internal.h"

static bool rx_unread(const struct vcon_port *p, const struct vcon_buf *b)
{
	for (const struct vcon_buf *q = p->rx_head; q; q = q->next)
		if (q == b)
			return true;
	return false;
}

/*
 * The device is reset and writes no ring: what it had used is taken as
 * usual, so data it delivered is read and output it took is not sent
 * twice. Control messages from before the reset are stale: the device
 * announces its ports again.
 */
static void take_back_used(struct vcon_dev *d)
{
	struct vcon_buf *b;
	uint32_t len;

	for (uint32_t i = 0; i < d->nports; i++) {
		struct vcon_port *p = &d->ports[i];

		if (!p->bufs_ready)
			continue;
		while ((b = virtqueue_get_buf_after_reset(p->rxq, &len)) != NULL)
			vcon_port_rx_take(p, b, len); /* or dropped: posted again below */
		while ((b = virtqueue_get_buf_after_reset(p->txq, &len)) != NULL)
			vcon_port_tx_done(p, b);
	}
	if (!d->multiport)
		return;
	while (virtqueue_get_buf_after_reset(d->ctrl_rxq, &len) != NULL)
		d->st.ctrl_rx++;
	while (virtqueue_get_buf_after_reset(d->ctrl_txq, &len) != NULL)
		;
}

/*
 * On the new queues: every receive buffer not holding unread data, and
 * the transmit buffers still in flight, in their order, each once.
 */
static int repost(struct vcon_dev *d)
{
	int rc;

	for (uint32_t i = 0; i < d->nports; i++) {
		struct vcon_port *p = &d->ports[i];
		struct vcon_buf *list = p->tx_head;

		if (!p->bufs_ready)
			continue;
		for (unsigned j = 0; j < p->nrx; j++)
			if (!rx_unread(p, &p->rx[j]) && (rc = vcon_port_rx_post(p, &p->rx[j])) != 0)
				return rc;
		p->tx_head = p->tx_tail = NULL;
		while (list) {
			struct vcon_buf *b = list;

			list = b->next;
			if (!b->resent) {
				b->resent = true;
				if ((rc = vcon_port_tx_queue(p, b)) != 0)
					return rc;
				p->st.tx_resent++;
				continue;
			}
			p->st.tx_lost += b->len; /* in flight at two resets: given up */
			b->next = p->tx_free;
			p->tx_free = b;
		}
		p->tx_stalled = false;
	}
	return d->multiport ? vcon_ctrl_restart(d) : 0;
}

int vcon_recover(struct vcon_dev *d, const char *why)
{
	char reason[96];
	int rc;

	snprintf(reason, sizeof(reason), "%s", why ? why : "unknown");
	d->st.resets++;
	rc = d->ops->reset(d);
	if (rc == 0) {
		take_back_used(d);
		rc = d->ops->setup(d);
	}
	if (rc == 0)
		rc = repost(d);
	if (rc) {
		d->dead = true;
		vcon_log(d,
			 "the device broke a ring (%s); it cannot be brought back (%d): given up",
			 reason, rc);
		return rc;
	}
	d->ops->ready(d);
	for (uint32_t i = 0; i < d->nports; i++) {
		struct vcon_port *p = &d->ports[i];

		p->readd = p->present;
		if (p->bufs_ready)
			virtqueue_kick(p->rxq);
	}
	if (d->multiport) {
		/* 5.3.6.2.2 again: DEVICE_READY; its DEVICE_ADDs bring PORT_READY and PORT_OPEN. */
		virtqueue_kick(d->ctrl_rxq);
		rc = vcon_ctrl_send(d, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
		if (rc)
			vcon_log(d, "after the reset the device did not take DEVICE_READY (%d)",
				 rc);
		vcon_ctrl_poll(d);
	}
	/* Output in flight at the reset, now that the ports are open again. */
	for (uint32_t i = 0; i < d->nports; i++)
		if (d->ports[i].tx_head)
			virtqueue_kick(d->ports[i].txq);
	vcon_log(d, "the device broke a ring (%s); device reset and brought back (reset %llu)",
		 reason, (unsigned long long)d->st.resets);
	return 0;
}
