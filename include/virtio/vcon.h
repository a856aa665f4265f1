/*
 * The virtio console driver (VIRTIO 1.2 section 5.3): ports, their data
 * paths and the multiport control protocol.
 *
 * Two layers. The core (drivers/virtio/devices/console_ctrl.c, console_port.c,
 * console_recover.c) is portable: it sees only the virtqueue API and the hooks in struct
 * vcon_ops, so the host tests run it unchanged against a simulated device
 * (tests/host/test_console.c). The kernel glue (drivers/virtio/devices/console.c)
 * binds it to a virtio device, waits by interrupt or poll, makes the
 * console port the kernel's stdio, and offers the other ports to
 * applications as files (include/virtio/vport.h).
 *
 * Typical use of the core (the glue does this):
 *
 *	d->ops = &ops; d->multiport = ...; d->nports = n;
 *	d->ports[i].rxq / .txq, d->ctrl_rxq / ctrl_txq = queues the transport made
 *	vcon_init(d)            buffers allocated, receive buffers posted
 *	(DRIVER_OK)
 *	vcon_start(d)           DEVICE_READY; ports announced and made ready
 *	vcon_read(p, ...), vcon_write(p, ...), vcon_service(d) from then on
 *
 * Receive buffers stay posted: a buffer goes back to the device only when
 * its bytes were read, so a host that sends faster than the guest reads
 * is held back by the ring, and nothing is dropped. A write copies into
 * transmit buffers (one descriptor each, the single-buffer fast path),
 * splits what does not fit one, and waits for the device to return
 * buffers when all are in flight.
 *
 * Not thread-safe: one caller at a time (the kernel runs one thread and
 * takes no interrupt inside the core).
 */
#ifndef VIRTIO_VCON_H
#define VIRTIO_VCON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <virtio/virtqueue.h>

#define VCON_MAX_PORTS	     32	  /* ports handled per device (QEMU's default max_ports is 31) */
#define VCON_NAME_MAX	     63	  /* longest port name accepted, in bytes */
#define VCON_RX_BUFS	     32	  /* receive buffers per port */
#define VCON_TX_BUFS	     32	  /* transmit buffers per port */
#define VCON_BUF_SIZE	     4096 /* bytes per data buffer */
#define VCON_CTRL_RX_BUFS    32	  /* control receive buffers (QEMU's control queue has 32) */
#define VCON_CTRL_BUF_SIZE   4096 /* a control message and its name */
#define VCON_CTRL_TX_BUFS    4
#define VCON_CTRL_TIMEOUT_NS 1000000000ull /* how long a control message may stay unused */
/*
 * A transmit wait with no buffer back for this long: the port is stalled.
 * Consoles carry stdout (every printf waits); a named port is a file whose
 * host end may read slowly (QEMU holds its buffers meanwhile), so longer.
 */
#define VCON_TX_TIMEOUT_NS	2000000000ull
#define VCON_PORT_TX_TIMEOUT_NS 30000000000ull
#define VCON_WAIT_SLICE_NS	10000000ull /* longest halt of a wait for input (vcon_read) */
/*
 * Budgets against a device that keeps the driver busy (issue #13): per
 * vcon_service call, control messages handled and replies sent (a
 * bring-up of 32 ports takes about 4 messages and 1 reply per port), and
 * no new reply once VCON_CTRL_TIMEOUT_NS has passed in the call;
 * used receive buffers taken per port and call is its buffer count.
 */
#define VCON_CTRL_MSG_BUDGET   (4 * VCON_MAX_PORTS + VCON_CTRL_RX_BUFS)
#define VCON_CTRL_REPLY_BUDGET (2 * VCON_MAX_PORTS + 2)
/* A port the device adds this often within VCON_FLAP_WINDOW_NS is ignored from then on. */
#define VCON_FLAP_LIMIT	    8
#define VCON_FLAP_WINDOW_NS 1000000000ull

struct vcon_dev;

/* A data or control buffer: driver memory the device reads or writes. */
struct vcon_buf {
	struct vcon_buf *next; /* receive FIFO or free list */
	uint8_t *data;
	uint32_t len; /* receive: bytes the device wrote; transmit: bytes queued */
	uint32_t off; /* receive: bytes already read */
	bool busy;    /* control transmit: the device has it */
	bool resent;  /* transmit: queued again after a reset (once at most) */
};

/* What the core tells the glue about a port (struct vcon_ops.event). */
enum vcon_event {
	VCON_EV_ADD,	 /* announced by the device, ready */
	VCON_EV_REMOVE,	 /* gone */
	VCON_EV_CONSOLE, /* nominated as a console */
	VCON_EV_NAME,	 /* named */
	VCON_EV_OPEN,	 /* opened by the host */
	VCON_EV_CLOSE,	 /* closed by the host */
	VCON_EV_RESIZE,	 /* new size in cols/rows */
};

struct vcon_port_stats {
	uint64_t rx_bytes, rx_bufs; /* delivered to the reader */
	uint64_t tx_bytes, tx_bufs;
	uint64_t rx_dropped; /* bytes that came while no one in the guest had the port open */
	uint64_t tx_waits;   /* times a write waited for the device to free a buffer */
	uint64_t tx_dropped; /* bytes not sent: the device kept every buffer (stalled) */
	uint64_t tx_stalls;  /* times the port was found stalled */
	uint64_t host_opens, host_closes, resizes;
	uint64_t tx_resent; /* buffers in flight at a reset, sent again */
	uint64_t tx_lost;   /* bytes in flight at a second reset of the same buffer: not sent */
};

struct vcon_port {
	struct vcon_dev *dev;
	uint32_t id;
	struct virtqueue *rxq, *txq;
	bool present;	 /* announced (DEVICE_ADD, or port 0 without MULTIPORT) */
	bool bufs_ready; /* buffers allocated and receive buffers posted (kept across remove) */
	bool console;	 /* CONSOLE_PORT */
	bool host_open;	 /* the device said PORT_OPEN 1 (always, without MULTIPORT) */
	bool guest_open; /* we said PORT_OPEN 1 */
	bool has_size;
	bool ready_pending; /* PORT_READY still to send, with ready_value */
	bool open_pending;  /* PORT_OPEN still to send, with open_value */
	bool drop_logged;   /* rx_dropped was logged since the guest last opened it */
	bool eof_seen;	    /* a read returned end of input; later bytes are dropped */
	bool tx_stalled;    /* the device kept every transmit buffer past the transmit timeout */
	bool flapping;	    /* added VCON_FLAP_LIMIT times in a window: DEVICE_ADD ignored */
	bool readd;	    /* present before a reset: the device's DEVICE_ADD re-announces it */
	unsigned flap_adds; /* DEVICE_ADDs since flap_start */
	uint64_t flap_start;
	uint16_t ready_value, open_value;
	uint16_t cols, rows;
	uint32_t gen; /* bumped by every DEVICE_ADD: files of an older port fail */
	char name[VCON_NAME_MAX + 1];
	struct vcon_buf *rx_head, *rx_tail; /* filled by the device, not read yet */
	struct vcon_buf *tx_free;
	struct vcon_buf *tx_head, *tx_tail; /* in flight, in the order queued */
	unsigned nrx, ntx;
	struct vcon_buf rx[VCON_RX_BUFS], tx[VCON_TX_BUFS];
	uint8_t *mem; /* data of rx[] then tx[] */
	struct vcon_port_stats st;
};

struct vcon_ops {
	/*
	 * idle - wait until the device may have used a buffer of one of
	 * the n queues (by interrupt), or return at once to be polled
	 * again; return by deadline (clock_ns) at the latest, whatever the
	 * device does: the glue arms a timer for it. Every wait of the core
	 * passes a deadline. Spurious returns are fine; a lost wakeup is not.
	 */
	void (*idle)(struct vcon_dev *d, struct virtqueue *const *vqs, unsigned n,
		     uint64_t deadline);
	uint64_t (*clock_ns)(void);
	void (*log)(struct vcon_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* event - something happened to port p (called from vcon_service). NULL: ignored. */
	void (*event)(struct vcon_dev *d, struct vcon_port *p, enum vcon_event ev);
	/*
	 * reset - a queue broke: reset the device (it uses the old rings no
	 * more once this returns 0) and negotiate again, the same features.
	 * Returns: 0; -EIO: the device did not confirm its reset and may
	 * still use the rings (nothing may be freed); another error: it
	 * cannot be driven as before. On an error the device is given up
	 * (vcon_dev.dead). NULL: a broken queue stays broken.
	 */
	int (*reset)(struct vcon_dev *d);
	/*
	 * setup - after reset: new, empty queues in place of the old ones
	 * (ports[].rxq/txq, ctrl_rxq/ctrl_txq), the device not DRIVER_OK
	 * yet. Returns: 0, or an error (given up; the queues are left alone).
	 */
	int (*setup)(struct vcon_dev *d);
	/* ready - DRIVER_OK, after setup and the receive buffers posted again. */
	void (*ready)(struct vcon_dev *d);
};

struct vcon_dev_stats {
	uint64_t ctrl_rx, ctrl_tx; /* control messages received and sent */
	uint64_t ctrl_bad;	   /* received messages refused (logged) */
	uint64_t ctrl_timeouts;	   /* sent messages the device did not take in time */
	uint64_t ctrl_budget;	   /* vcon_service calls that stopped at a budget */
	uint64_t resets;	   /* times a broken queue was recovered from by a device reset */
};

struct vcon_dev {
	const struct vcon_ops *ops;
	void *priv; /* the glue's */
	bool multiport;
	uint32_t nports;	 /* ports[] entries, <= VCON_MAX_PORTS */
	struct vcon_port *ports; /* the caller's array, rxq/txq filled in */
	struct virtqueue *ctrl_rxq, *ctrl_txq;
	struct vcon_buf ctrl_rx[VCON_CTRL_RX_BUFS];
	struct vcon_buf ctrl_tx[VCON_CTRL_TX_BUFS];
	unsigned nctrl_rx, nctrl_tx;
	uint8_t *ctrl_mem;
	size_t ctrl_size;
	bool in_service;
	bool ctrl_broken_logged;
	bool ctrl_budget_logged;
	bool ctrl_stalled;    /* a message timed out: later ones are not waited for */
	bool fault_ctrl_mute; /* fault injection: control messages are queued, never notified */
	bool dead;	      /* a reset failed: the device is given up, its queues untouched */
	struct vcon_dev_stats st;
};

/*
 * vcon_init - allocate the control buffers (MULTIPORT) or port 0's
 * buffers (no MULTIPORT) and post the receive buffers, without notifying
 * the device (it is not DRIVER_OK yet). Returns: 0, -EINVAL (no queues,
 * nports 0 or above VCON_MAX_PORTS), -ENOMEM, -EIO (a broken queue).
 */
int vcon_init(struct vcon_dev *d);

/*
 * vcon_start - after DRIVER_OK: notify the receive queues; with MULTIPORT
 * send DEVICE_READY and handle what the device answers (DEVICE_ADD,
 * CONSOLE_PORT, PORT_NAME, PORT_OPEN) until it has taken every message we
 * sent. Returns: 0, or -ETIMEDOUT / -EIO when DEVICE_READY was not taken.
 */
int vcon_start(struct vcon_dev *d);

/* vcon_free - after the device was reset: free every buffer vcon_init and ports took. */
void vcon_free(struct vcon_dev *d);

/*
 * vcon_service - handle control messages, collect received data into the
 * ports' FIFOs, take back transmitted buffers. Every call below does it
 * first; call it when nothing else runs for a while.
 */
void vcon_service(struct vcon_dev *d);

/*
 * vcon_ctrl_handle - one control message from the device (len bytes at
 * buf). Malformed or impossible messages are logged, counted in
 * ctrl_bad and ignored. Returns: 0, or -EINVAL for a refused message.
 */
int vcon_ctrl_handle(struct vcon_dev *d, const void *buf, uint32_t len);

/*
 * vcon_recover - a queue broke (a bad used entry, DEVICE_NEEDS_RESET):
 * reset the device (ops->reset), take back every buffer (what the device
 * had used before the reset is taken as usual: data received is kept,
 * buffers sent are done), make new queues (ops->setup), post the receive
 * buffers again, DRIVER_OK (ops->ready), and with MULTIPORT re-announce the
 * ports (DEVICE_READY, PORT_READY, PORT_OPEN for those open in the
 * guest). Data received and not read yet stays readable; an entry the
 * checks refuse ends the taking back, and data in it and after it is
 * lost. Transmit buffers the device had not used are sent again, once,
 * in their order (a device that passed bytes on without marking the
 * buffer used sends them twice); one still in flight at the next reset
 * is dropped and counted (tx_lost). vcon_service calls it when it finds
 * a broken queue. Returns: 0; or the error of ops->reset/setup (the
 * device is given up: dead).
 */
int vcon_recover(struct vcon_dev *d, const char *why);

/* vcon_find - the present port named name, or NULL. */
struct vcon_port *vcon_find(struct vcon_dev *d, const char *name);

/*
 * vcon_open - the guest opens port p: it may receive from now on; with
 * MULTIPORT the device hears PORT_OPEN 1. Returns: 0, -ENODEV (not
 * present), -EBUSY (already open in the guest), -ETIMEDOUT/-EIO (the
 * device did not take the message; the port stays closed).
 */
int vcon_open(struct vcon_port *p);

/* vcon_close - the guest closes p: unread data is dropped, the device hears PORT_OPEN 0. */
void vcon_close(struct vcon_port *p);

/*
 * vcon_read - up to len received bytes. With block, waits for the first
 * one. Returns: the count; 0 at end of input (MULTIPORT, not a console,
 * the host closed the port and everything it sent was read); -EAGAIN
 * (nothing yet, !block); -ENODEV (port removed).
 */
ssize_t vcon_read(struct vcon_port *p, void *buf, size_t len, bool block);

/* vcon_readable - bytes received and not read yet. */
size_t vcon_readable(const struct vcon_port *p);

/* vcon_eof - vcon_read would return 0: closed by the host and drained. */
bool vcon_eof(const struct vcon_port *p);

/*
 * vcon_write - send len bytes; waits while every transmit buffer is in
 * flight, VCON_TX_TIMEOUT_NS (consoles) or VCON_PORT_TX_TIMEOUT_NS (named
 * ports) at most without the device returning one:
 * then the port is stalled (logged once), the rest is dropped and counted
 * in tx_dropped, and later writes wait for nothing until the device
 * returns a buffer. Returns: len; fewer when the port went away or the
 * queue broke after some bytes were queued; -EPIPE (MULTIPORT, not a
 * console, the host has not opened the port: the device would drop the
 * bytes); -ENODEV (not present); -EIO (queue broken before any byte);
 * -ETIMEDOUT (stalled before any byte).
 */
ssize_t vcon_write(struct vcon_port *p, const void *buf, size_t len);

/*
 * vcon_size_from_config - port 0's size from the configuration space
 * (VIRTIO_CONSOLE_F_SIZE): recorded, with a RESIZE event if it changed.
 */
void vcon_size_from_config(struct vcon_port *p, uint16_t cols, uint16_t rows);

/*
 * vcon_flush - wait until the device has taken every byte written to p
 * (all transmit buffers back), the transmit timeout at most without
 * progress. Returns: 0; -EPIPE, -ENODEV, -EIO when the host closed the
 * port, it went away or the queue broke first; -ETIMEDOUT (stalled).
 */
int vcon_flush(struct vcon_port *p);

/* vcon_event_name - "open", "close", ... for logs. */
const char *vcon_event_name(enum vcon_event ev);

#endif
