/*
 * What the two halves of the portable console core share
 * (console_ctrl.c: control protocol; console_port.c: data paths).
 */
#ifndef DRIVERS_VIRTIO_CONSOLE_INTERNAL_H
#define DRIVERS_VIRTIO_CONSOLE_INTERNAL_H

#include <virtio/vcon.h>

#define vcon_log(d, ...) ((d)->ops->log((d), __VA_ARGS__))

/* vcon_port_setup - allocate p's buffers and post its receive buffers. Returns: 0, -ENOMEM, -EIO. */
int vcon_port_setup(struct vcon_port *p, bool kick);

/* vcon_port_drop_rx - give every unread receive buffer back to the device. */
void vcon_port_drop_rx(struct vcon_port *p);

/* vcon_port_collect - move used receive buffers into the FIFO and take back transmit buffers. */
void vcon_port_collect(struct vcon_port *p);

/* vcon_port_rx_post - give receive buffer b to the device (not notified). Returns: as add_buf. */
int vcon_port_rx_post(struct vcon_port *p, struct vcon_buf *b);

/*
 * vcon_port_rx_take - receive buffer b came back with len bytes: into the
 * FIFO. Returns: false when its bytes are dropped (no reader): repost it.
 */
bool vcon_port_rx_take(struct vcon_port *p, struct vcon_buf *b, uint32_t len);

/* vcon_port_tx_queue - queue b->len bytes of b (not notified), in flight. Returns: as add_buf. */
int vcon_port_tx_queue(struct vcon_port *p, struct vcon_buf *b);

/* vcon_port_tx_done - the device returned transmit buffer b: free again. */
void vcon_port_tx_done(struct vcon_port *p, struct vcon_buf *b);

/*
 * vcon_ctrl_restart - after a reset, on the new control queues: every
 * control receive buffer posted (not notified), no message in flight.
 * Returns: 0 or add_buf's error.
 */
int vcon_ctrl_restart(struct vcon_dev *d);

/* vcon_port_free - free p's buffers (the device was reset). */
void vcon_port_free(struct vcon_port *p);

/*
 * vcon_ctrl_send - send one control message and wait until the device
 * took it (VCON_CTRL_TIMEOUT_NS at most). Returns: 0, -ETIMEDOUT, -EIO.
 */
int vcon_ctrl_send(struct vcon_dev *d, uint32_t id, uint16_t event, uint16_t value);

/* vcon_ctrl_poll - handle every control message waiting, and send what they asked for. */
void vcon_ctrl_poll(struct vcon_dev *d);

static inline void vcon_notify_event(struct vcon_dev *d, struct vcon_port *p, enum vcon_event ev)
{
	if (d->ops->event)
		d->ops->event(d, p, ev);
}

#endif
