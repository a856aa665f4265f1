/*
 * Console device wire format, VIRTIO 1.2 section 5.3: feature bits, the
 * device configuration and the multiport control messages. Only what the
 * device sees lives here; driver state is in include/virtio/vcon.h.
 */
#ifndef VIRTIO_VIRTIO_CONSOLE_H
#define VIRTIO_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include <virtio/virtio_types.h>

/* 5.3.2 Virtqueues: port 0 owns 0 and 1, the control queues are 2 and 3, port n >= 1 owns 2n+2, 2n+3. */
#define VIRTIO_CONSOLE_Q_RX0	 0
#define VIRTIO_CONSOLE_Q_TX0	 1
#define VIRTIO_CONSOLE_Q_CTRL_RX 2
#define VIRTIO_CONSOLE_Q_CTRL_TX 3

static inline unsigned virtio_console_rxq(uint32_t port)
{
	return port == 0 ? VIRTIO_CONSOLE_Q_RX0 : 2 * port + 2;
}

static inline unsigned virtio_console_txq(uint32_t port)
{
	return port == 0 ? VIRTIO_CONSOLE_Q_TX0 : 2 * port + 3;
}

/* 5.3.3 Feature bits */
#define VIRTIO_CONSOLE_F_SIZE	     0 /* cols and rows are valid */
#define VIRTIO_CONSOLE_F_MULTIPORT   1 /* max_nr_ports is valid, control queues exist */
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2 /* emerg_wr is valid */

/*
 * 5.3.4 Device configuration layout. VIRTIO 1.2 orders cols before rows;
 * a later revision of the spec swaps them to match what Linux and QEMU
 * do, so a device may disagree. QEMU offers no F_SIZE at all.
 */
struct virtio_console_config {
	le16 cols;
	le16 rows;
	le32 max_nr_ports;
	le32 emerg_wr; /* write-only: the low byte goes to port 0 at once */
};
_Static_assert(sizeof(struct virtio_console_config) == 12, "5.3.4: config is 12 bytes");
_Static_assert(offsetof(struct virtio_console_config, cols) == 0, "5.3.4");
_Static_assert(offsetof(struct virtio_console_config, rows) == 2, "5.3.4");
_Static_assert(offsetof(struct virtio_console_config, max_nr_ports) == 4, "5.3.4");
_Static_assert(offsetof(struct virtio_console_config, emerg_wr) == 8, "5.3.4");

/* 5.3.6.2 Multiport Device Operation: one control message per buffer. */
struct virtio_console_control {
	le32 id;    /* port number */
	le16 event; /* VIRTIO_CONSOLE_* below */
	le16 value;
};
_Static_assert(sizeof(struct virtio_console_control) == 8, "5.3.6.2: control message is 8 bytes");
_Static_assert(offsetof(struct virtio_console_control, id) == 0, "5.3.6.2");
_Static_assert(offsetof(struct virtio_console_control, event) == 4, "5.3.6.2");
_Static_assert(offsetof(struct virtio_console_control, value) == 6, "5.3.6.2");

/* 5.3.6.2 control events; D: sent by the device, d: by the driver */
#define VIRTIO_CONSOLE_DEVICE_READY  0 /* d: value 1 ready, 0 failed; id unused */
#define VIRTIO_CONSOLE_DEVICE_ADD    1 /* D: port id exists (Linux/QEMU: PORT_ADD) */
#define VIRTIO_CONSOLE_DEVICE_REMOVE 2 /* D: port id is gone (Linux/QEMU: PORT_REMOVE) */
#define VIRTIO_CONSOLE_PORT_READY    3 /* d: reply to DEVICE_ADD, value 1 ok, 0 failed */
#define VIRTIO_CONSOLE_CONSOLE_PORT  4 /* D: port id is a console; d answers PORT_OPEN 1 */
#define VIRTIO_CONSOLE_RESIZE	     5 /* D: followed by struct virtio_console_resize */
#define VIRTIO_CONSOLE_PORT_OPEN     6 /* D and d: value 1 open, 0 closed */
#define VIRTIO_CONSOLE_PORT_NAME     7 /* D: followed by the UTF-8 name, no NUL required */

/*
 * 5.3.6.2 RESIZE payload, in the same buffer after the control message.
 * Linux reads it as rows then cols; VIRTIO 1.2 says cols then rows.
 */
struct virtio_console_resize {
	le16 cols;
	le16 rows;
};
_Static_assert(sizeof(struct virtio_console_resize) == 4, "5.3.6.2: resize payload is 4 bytes");
_Static_assert(offsetof(struct virtio_console_resize, rows) == 2, "5.3.6.2");

#endif
