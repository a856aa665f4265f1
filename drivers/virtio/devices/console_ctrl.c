/*
 * Console device bring-up and the multiport control protocol (VIRTIO 1.2
 * sections 5.3.5 and 5.3.6.2). Messages from the device are checked
 * against the port table before they change it; the driver's replies
 * (PORT_READY, PORT_OPEN) go out one at a time, each waited for, and the
 * control receive queue is drained between two of them: QEMU drops a
 * control message when no receive buffer is posted, and one PORT_READY
 * makes it answer with up to three. Portable: host-tested.
 */
#include <errno.h>
#include <string.h>

#include <virtio/virtio_console.h>
#include <virtio/virtio_dma.h>

#include "console_internal.h"

#define CTRL_MSG_LEN ((uint32_t)sizeof(struct virtio_console_control))

/* A refused message: logged, counted, ignored. Evaluates to -EINVAL. */
#define refuse(d, ...) ((d)->st.ctrl_bad++, vcon_log((d), __VA_ARGS__), -EINVAL)

static const char *ctrl_name(uint16_t event)
{
	static const char *const names[] = {
		[VIRTIO_CONSOLE_DEVICE_READY] = "DEVICE_READY",
		[VIRTIO_CONSOLE_DEVICE_ADD] = "DEVICE_ADD",
		[VIRTIO_CONSOLE_DEVICE_REMOVE] = "DEVICE_REMOVE",
		[VIRTIO_CONSOLE_PORT_READY] = "PORT_READY",
		[VIRTIO_CONSOLE_CONSOLE_PORT] = "CONSOLE_PORT",
		[VIRTIO_CONSOLE_RESIZE] = "RESIZE",
		[VIRTIO_CONSOLE_PORT_OPEN] = "PORT_OPEN",
		[VIRTIO_CONSOLE_PORT_NAME] = "PORT_NAME",
	};

	return event < sizeof(names) / sizeof(names[0]) ? names[event] : "unknown";
}

const char *vcon_event_name(enum vcon_event ev)
{
	static const char *const names[] = {
		[VCON_EV_ADD] = "added",       [VCON_EV_REMOVE] = "removed",
		[VCON_EV_CONSOLE] = "console", [VCON_EV_NAME] = "named",
		[VCON_EV_OPEN] = "host open",  [VCON_EV_CLOSE] = "host closed",
		[VCON_EV_RESIZE] = "resized",
	};

	return (unsigned)ev < sizeof(names) / sizeof(names[0]) ? names[ev] : "?";
}

static int ctrl_post(struct vcon_dev *d, struct vcon_buf *b)
{
	return virtqueue_add_buf_single(d->ctrl_rxq, b->data, VCON_CTRL_BUF_SIZE, VQ_IN, b);
}

static void ctrl_tx_reclaim(struct vcon_dev *d)
{
	struct vcon_buf *b;
	uint32_t len;

	while ((b = virtqueue_get_buf(d->ctrl_txq, &len)) != NULL) {
		b->busy = false;
		if (d->ctrl_stalled) {
			d->ctrl_stalled = false;
			vcon_log(d, "control: the device takes messages again");
		}
	}
}

/*
 * A message the device did not take in time: counted, said, and the
 * control path marked stalled, so the next messages do not each wait
 * their second too (a silent device would cost a second per port).
 */
static int ctrl_timeout(struct vcon_dev *d)
{
	d->st.ctrl_timeouts++;
	d->ctrl_stalled = true;
	return -ETIMEDOUT;
}

static struct vcon_buf *ctrl_tx_free(struct vcon_dev *d)
{
	for (unsigned i = 0; i < d->nctrl_tx; i++)
		if (!d->ctrl_tx[i].busy)
			return &d->ctrl_tx[i];
	return NULL;
}

int vcon_ctrl_send(struct vcon_dev *d, uint32_t id, uint16_t event, uint16_t value)
{
	uint64_t deadline = d->ops->clock_ns() + VCON_CTRL_TIMEOUT_NS;
	struct virtio_console_control msg = {
		.id = cpu_to_le32(id),
		.event = cpu_to_le16(event),
		.value = cpu_to_le16(value),
	};
	struct vcon_buf *b;
	int rc;

	for (;;) {
		ctrl_tx_reclaim(d);
		if (d->ctrl_stalled) {
			d->st.ctrl_timeouts++;
			return -ETIMEDOUT; /* said already; dropped without a wait */
		}
		if ((b = ctrl_tx_free(d)) != NULL)
			break;
		if (virtqueue_is_broken(d->ctrl_txq))
			return -EIO;
		if (d->ops->clock_ns() >= deadline) {
			vcon_log(d,
				 "control: no free buffer to send %s for port %u: the device "
				 "holds them all",
				 ctrl_name(event), id);
			return ctrl_timeout(d);
		}
		d->ops->idle(d, &d->ctrl_txq, 1, deadline);
	}
	memcpy(b->data, &msg, sizeof(msg));
	rc = virtqueue_add_buf_single(d->ctrl_txq, b->data, CTRL_MSG_LEN, VQ_OUT, b);
	if (rc) {
		vcon_log(d, "control: cannot queue %s for port %u (%d)", ctrl_name(event), id, rc);
		return rc;
	}
	b->busy = true;
	d->st.ctrl_tx++;
	if (!d->fault_ctrl_mute)
		virtqueue_kick(d->ctrl_txq);
	/* Wait until the device took it: by then it has queued what it answers. */
	for (;;) {
		d->ops->idle(d, &d->ctrl_txq, 1, deadline);
		ctrl_tx_reclaim(d);
		if (!b->busy)
			return 0;
		if (virtqueue_is_broken(d->ctrl_txq))
			return -EIO;
		if (d->ops->clock_ns() >= deadline) {
			vcon_log(d,
				 "control: the device did not take %s for port %u within %llu ms: "
				 "control messages are dropped until it takes one",
				 ctrl_name(event), id,
				 (unsigned long long)(VCON_CTRL_TIMEOUT_NS / 1000000));
			return ctrl_timeout(d);
		}
	}
}

/*
 * A device that answers every PORT_READY with DEVICE_REMOVE and
 * DEVICE_ADD of the same port would keep the driver busy for ever: past
 * VCON_FLAP_LIMIT adds within VCON_FLAP_WINDOW_NS the port is ignored.
 * Returns: whether this add is one too many.
 */
static bool port_flapping(struct vcon_dev *d, struct vcon_port *p)
{
	uint64_t now = d->ops->clock_ns();

	if (p->flapping)
		return true;
	if (p->flap_adds == 0 || now - p->flap_start >= VCON_FLAP_WINDOW_NS) {
		p->flap_start = now;
		p->flap_adds = 0;
	}
	if (++p->flap_adds <= VCON_FLAP_LIMIT)
		return false;
	p->flapping = true;
	vcon_log(d,
		 "port %u: added %u times within %llu ms: the device keeps flapping it, "
		 "port ignored from now on",
		 p->id, p->flap_adds, (unsigned long long)(VCON_FLAP_WINDOW_NS / 1000000));
	return true;
}

/* DEVICE_ADD: a new port, or one that came back after DEVICE_REMOVE. */
static int port_add(struct vcon_dev *d, struct vcon_port *p)
{
	int rc = 0;

	if (p->present && p->readd) {
		/* Announced again after a reset: the port, its files and data stay as they are. */
		p->readd = false;
		p->ready_pending = true;
		p->ready_value = 1;
		p->open_pending = p->guest_open;
		p->open_value = 1;
		return 0;
	}
	if (p->present)
		return refuse(d, "control: DEVICE_ADD for port %u, which exists: ignored", p->id);
	if (port_flapping(d, p)) {
		d->st.ctrl_bad++;
		return -EINVAL;
	}
	p->gen++;
	p->console = p->host_open = p->guest_open = p->has_size = false;
	p->open_pending = p->drop_logged = p->eof_seen = false;
	p->name[0] = '\0';
	if (!p->bufs_ready)
		rc = vcon_port_setup(p, true);
	p->ready_pending = true;
	p->ready_value = rc == 0;
	if (rc) {
		vcon_log(d, "port %u: cannot set up its buffers (%d): telling the device", p->id,
			 rc);
		return rc;
	}
	p->present = true;
	vcon_notify_event(d, p, VCON_EV_ADD);
	return 0;
}

static int port_remove(struct vcon_dev *d, struct vcon_port *p)
{
	/* Its buffers stay posted for the next DEVICE_ADD of this id. */
	vcon_port_drop_rx(p);
	p->present = p->host_open = p->guest_open = p->console = false;
	p->ready_pending = p->open_pending = p->readd = false;
	vcon_notify_event(d, p, VCON_EV_REMOVE);
	return 0;
}

/* CONSOLE_PORT: the driver MUST answer PORT_OPEN 1 (5.3.6.2.2). */
static int port_console(struct vcon_dev *d, struct vcon_port *p)
{
	bool was = p->console;

	p->console = true;
	p->guest_open = true;
	p->open_pending = true;
	p->open_value = 1;
	if (!was)
		vcon_notify_event(d, p, VCON_EV_CONSOLE);
	return 0;
}

static int port_resize(struct vcon_dev *d, struct vcon_port *p, const uint8_t *payload,
		       uint32_t plen)
{
	struct virtio_console_resize r;

	if (plen < sizeof(r))
		return refuse(d,
			      "control: RESIZE for port %u without its 4-byte size (%u bytes): "
			      "ignored",
			      p->id, plen);
	memcpy(&r, payload, sizeof(r));
	p->cols = le16_to_cpu(r.cols);
	p->rows = le16_to_cpu(r.rows);
	p->has_size = true;
	p->st.resizes++;
	vcon_notify_event(d, p, VCON_EV_RESIZE);
	return 0;
}

static int port_host_open(struct vcon_dev *d, struct vcon_port *p, uint16_t value)
{
	if (value > 1)
		return refuse(d, "control: PORT_OPEN for port %u with value %u (0 or 1): ignored",
			      p->id, value);
	if (value == p->host_open)
		return 0;
	p->host_open = value;
	if (value) {
		p->eof_seen = false;
		p->st.host_opens++;
	} else {
		p->st.host_closes++;
	}
	vcon_notify_event(d, p, value ? VCON_EV_OPEN : VCON_EV_CLOSE);
	return 0;
}

/* PORT_NAME: the name runs to the end of the buffer or a NUL (QEMU sends one). */
static int port_name(struct vcon_dev *d, struct vcon_port *p, const uint8_t *name, uint32_t plen)
{
	uint32_t n = 0;

	while (n < plen && name[n])
		n++;
	if (n == 0)
		return refuse(d, "control: PORT_NAME for port %u is empty: ignored", p->id);
	if (n > VCON_NAME_MAX)
		return refuse(d,
			      "control: PORT_NAME for port %u is %u bytes, longer than %u: "
			      "ignored, the port stays unnamed",
			      p->id, n, VCON_NAME_MAX);
	for (uint32_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] == 0x7f || name[i] == '/')
			return refuse(d,
				      "control: PORT_NAME for port %u has a '/' or a control "
				      "character: ignored",
				      p->id);
	for (uint32_t i = 0; i < d->nports; i++) {
		const struct vcon_port *q = &d->ports[i];

		if (q != p && q->present && strlen(q->name) == n && memcmp(q->name, name, n) == 0)
			return refuse(d,
				      "control: PORT_NAME for port %u repeats the name of port "
				      "%u: ignored",
				      p->id, q->id);
	}
	if (strlen(p->name) == n && memcmp(p->name, name, n) == 0)
		return 0; /* said again (after a reset) */
	memcpy(p->name, name, n);
	p->name[n] = '\0';
	vcon_notify_event(d, p, VCON_EV_NAME);
	return 0;
}

int vcon_ctrl_handle(struct vcon_dev *d, const void *buf, uint32_t len)
{
	struct virtio_console_control c;
	const uint8_t *payload = (const uint8_t *)buf + CTRL_MSG_LEN;
	struct vcon_port *p;
	uint32_t id;
	uint16_t event, value;

	d->st.ctrl_rx++;
	if (len < CTRL_MSG_LEN)
		return refuse(d,
			      "control: message of %u bytes, shorter than its 8-byte header: "
			      "ignored",
			      len);
	memcpy(&c, buf, sizeof(c));
	id = le32_to_cpu(c.id);
	event = le16_to_cpu(c.event);
	value = le16_to_cpu(c.value);
	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
	case VIRTIO_CONSOLE_PORT_READY:
		return refuse(d,
			      "control: %s (port %u) came from the device; only the driver "
			      "sends it: ignored",
			      ctrl_name(event), id);
	case VIRTIO_CONSOLE_DEVICE_ADD:
	case VIRTIO_CONSOLE_DEVICE_REMOVE:
	case VIRTIO_CONSOLE_CONSOLE_PORT:
	case VIRTIO_CONSOLE_RESIZE:
	case VIRTIO_CONSOLE_PORT_OPEN:
	case VIRTIO_CONSOLE_PORT_NAME: break;
	default: return refuse(d, "control: unknown event %u for port %u: ignored", event, id);
	}
	/* 5.3.6.2.1: the device MUST NOT name a port at or above max_nr_ports. */
	if (id >= d->nports)
		return refuse(d,
			      "control: %s for port %u, which does not exist (%u ports): ignored",
			      ctrl_name(event), id, d->nports);
	p = &d->ports[id];
	if (event == VIRTIO_CONSOLE_DEVICE_ADD)
		return port_add(d, p);
	if (!p->present)
		return refuse(d, "control: %s for port %u, which the device has not added: ignored",
			      ctrl_name(event), id);
	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_REMOVE: return port_remove(d, p);
	case VIRTIO_CONSOLE_CONSOLE_PORT: return port_console(d, p);
	case VIRTIO_CONSOLE_RESIZE: return port_resize(d, p, payload, len - CTRL_MSG_LEN);
	case VIRTIO_CONSOLE_PORT_OPEN: return port_host_open(d, p, value);
	default: return port_name(d, p, payload, len - CTRL_MSG_LEN);
	}
}

/*
 * Handle the messages the device has used, *budget at most (a device that
 * refills as fast as we repost would keep this loop going), and give the
 * buffers back.
 */
static void ctrl_drain(struct vcon_dev *d, unsigned *budget)
{
	struct vcon_buf *b;
	unsigned reposted = 0;
	uint32_t len;

	while (*budget && (b = virtqueue_get_buf(d->ctrl_rxq, &len)) != NULL) {
		--*budget;
		vcon_ctrl_handle(d, b->data, len);
		if (ctrl_post(d, b) == 0)
			reposted++;
	}
	if (reposted)
		virtqueue_kick(d->ctrl_rxq);
	if (virtqueue_is_broken(d->ctrl_rxq) && !d->ctrl_broken_logged && !d->ops->reset) {
		d->ctrl_broken_logged = true;
		vcon_log(d, "control: receive queue broken (%s): no more port events",
			 virtqueue_broken_reason(d->ctrl_rxq));
	}
}

static bool ctrl_send_pending_peek(const struct vcon_dev *d)
{
	for (uint32_t i = 0; i < d->nports; i++)
		if (d->ports[i].ready_pending || d->ports[i].open_pending)
			return true;
	return false;
}

/* Send one pending reply. Returns: whether there was one. */
static bool ctrl_send_pending(struct vcon_dev *d)
{
	for (uint32_t i = 0; i < d->nports; i++) {
		struct vcon_port *p = &d->ports[i];

		if (p->ready_pending) {
			p->ready_pending = false;
			vcon_ctrl_send(d, p->id, VIRTIO_CONSOLE_PORT_READY, p->ready_value);
			return true;
		}
	}
	for (uint32_t i = 0; i < d->nports; i++) {
		struct vcon_port *p = &d->ports[i];

		if (p->open_pending) {
			p->open_pending = false;
			vcon_ctrl_send(d, p->id, VIRTIO_CONSOLE_PORT_OPEN, p->open_value);
			return true;
		}
	}
	return false;
}

/*
 * Within budgets: what is left (messages still used, replies still
 * pending) waits for the next call, so a device that keeps answering
 * cannot hold the caller (every printf comes through here).
 */
void vcon_ctrl_poll(struct vcon_dev *d)
{
	unsigned msgs = VCON_CTRL_MSG_BUDGET, replies = VCON_CTRL_REPLY_BUDGET;
	/* And in time: a device that takes each reply just before its timeout. */
	uint64_t end = d->ops->clock_ns() + VCON_CTRL_TIMEOUT_NS;

	for (;;) {
		ctrl_drain(d, &msgs);
		if (!msgs || !replies || d->ops->clock_ns() >= end)
			break;
		if (!ctrl_send_pending(d))
			return;
		replies--;
	}
	if (msgs && !virtqueue_more_used(d->ctrl_rxq) && !ctrl_send_pending_peek(d))
		return; /* the last reply's answers were the end of it */
	d->st.ctrl_budget++;
	if (!d->ctrl_budget_logged) {
		d->ctrl_budget_logged = true;
		vcon_log(d,
			 "control: the device keeps the control queue busy (%u messages, %u "
			 "replies in one pass): the rest waits for the next",
			 VCON_CTRL_MSG_BUDGET - msgs, VCON_CTRL_REPLY_BUDGET - replies);
	}
}

void vcon_size_from_config(struct vcon_port *p, uint16_t cols, uint16_t rows)
{
	if (p->has_size && p->cols == cols && p->rows == rows)
		return;
	p->cols = cols;
	p->rows = rows;
	p->has_size = true;
	p->st.resizes++;
	vcon_notify_event(p->dev, p, VCON_EV_RESIZE);
}

int vcon_init(struct vcon_dev *d)
{
	size_t size;

	if (!d->ops || !d->ports || d->nports == 0 || d->nports > VCON_MAX_PORTS ||
	    (d->multiport && (!d->ctrl_rxq || !d->ctrl_txq)) || (!d->multiport && d->nports != 1))
		return -EINVAL;
	for (uint32_t i = 0; i < d->nports; i++) {
		struct vcon_port *p = &d->ports[i];

		if (!p->rxq || !p->txq)
			return -EINVAL;
		p->dev = d;
		p->id = i;
	}
	if (!d->multiport) {
		/* 5.3.2: without MULTIPORT there is port 0, and it is the console. */
		struct vcon_port *p = &d->ports[0];

		p->present = p->console = p->host_open = p->guest_open = true;
		p->gen = 1;
		return vcon_port_setup(p, false);
	}
	d->nctrl_rx = virtqueue_num(d->ctrl_rxq);
	d->nctrl_tx = virtqueue_num(d->ctrl_txq);
	if (d->nctrl_rx > VCON_CTRL_RX_BUFS)
		d->nctrl_rx = VCON_CTRL_RX_BUFS;
	if (d->nctrl_tx > VCON_CTRL_TX_BUFS)
		d->nctrl_tx = VCON_CTRL_TX_BUFS;
	size = (size_t)d->nctrl_rx * VCON_CTRL_BUF_SIZE + (size_t)d->nctrl_tx * CTRL_MSG_LEN;
	d->ctrl_mem = virtio_dma_alloc(size, 4096);
	if (!d->ctrl_mem)
		return -ENOMEM;
	d->ctrl_size = size;
	for (unsigned i = 0; i < d->nctrl_tx; i++) {
		d->ctrl_tx[i].data = d->ctrl_mem + (size_t)d->nctrl_rx * VCON_CTRL_BUF_SIZE +
				     (size_t)i * CTRL_MSG_LEN;
		d->ctrl_tx[i].busy = false;
	}
	for (unsigned i = 0; i < d->nctrl_rx; i++) {
		int rc;

		d->ctrl_rx[i].data = d->ctrl_mem + (size_t)i * VCON_CTRL_BUF_SIZE;
		if ((rc = ctrl_post(d, &d->ctrl_rx[i])) != 0)
			return rc;
	}
	return 0;
}

int vcon_ctrl_restart(struct vcon_dev *d)
{
	int rc;

	d->ctrl_stalled = d->ctrl_broken_logged = false;
	for (unsigned i = 0; i < d->nctrl_tx; i++)
		d->ctrl_tx[i].busy = false;
	for (unsigned i = 0; i < d->nctrl_rx; i++)
		if ((rc = ctrl_post(d, &d->ctrl_rx[i])) != 0)
			return rc;
	return 0;
}

int vcon_start(struct vcon_dev *d)
{
	int rc;

	if (!d->multiport) {
		struct vcon_port *p = &d->ports[0];

		virtqueue_kick(p->rxq);
		vcon_notify_event(d, p, VCON_EV_ADD);
		vcon_notify_event(d, p, VCON_EV_CONSOLE);
		return 0;
	}
	virtqueue_kick(d->ctrl_rxq);
	/* 5.3.6.2.2: the driver MUST send DEVICE_READY. */
	rc = vcon_ctrl_send(d, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	if (rc)
		return rc;
	vcon_service(d);
	return 0;
}

void vcon_free(struct vcon_dev *d)
{
	for (uint32_t i = 0; i < d->nports; i++)
		vcon_port_free(&d->ports[i]);
	if (d->ctrl_mem)
		virtio_dma_free(d->ctrl_mem, d->ctrl_size);
	d->ctrl_mem = NULL;
}
