/*
 * Host tests of the virtio console core (drivers/virtio/devices/console_ctrl.c and
 * console_port.c, unchanged) against a simulated virtio-serial device
 * built on tests/host/vq_sim.c: bring-up and the control protocol as QEMU
 * runs it, the data paths (receive buffers held until read, writes split
 * and waiting for the device), host open/close and end of input, and
 * crafted control messages no real device sends (VIRTIO 1.2 5.3.6.2);
 * and data both ways plus control traffic against vq_sim's strict device
 * (test_strict_device: no kick or interrupt lost at any quiet point).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <virtio/vcon.h>
#include <virtio/virtio_config.h>
#include <virtio/virtio_console.h>

#include "vq_sim.h"

#define F(b)	   VIRTIO_BIT(VIRTIO_F_##b)
#define NPORTS	   31
#define NQUEUES	   (2 * NPORTS + 2)
#define PORT_QSIZE 64
#define CTRL_QSIZE 32
#define IDLE_LIMIT 1000000u

struct param {
	const char *name;
	uint64_t features;
};
static const struct param split = {"split", F(VERSION_1) | F(EVENT_IDX) | F(INDIRECT_DESC)};
static const struct param packed = {"packed", F(VERSION_1) | F(EVENT_IDX) | F(INDIRECT_DESC) |
						      F(RING_PACKED)};

/* One queue: the sim first (the ring's priv points at it). */
struct simq {
	struct vq_sim sim;
	struct virtqueue *vq;
};

/* The device's side of a port, as QEMU's virtio-serial keeps it. */
struct sport {
	bool exists, is_console, host_connected, guest_connected;
	const char *name;
	uint8_t *in; /* host -> guest, not delivered yet */
	size_t in_len, in_off;
	uint32_t chunk; /* at most this many bytes per receive buffer (0: all that fit) */
	uint8_t *out;	/* guest -> host */
	size_t out_len, out_cap;
	uint32_t max_out_seg; /* largest transmit buffer seen */
	bool multi_desc;      /* a transmit buffer had more than one segment */
};

struct ev {
	uint32_t port;
	enum vcon_event ev;
};

struct ctl {
	uint32_t id;
	uint16_t event, value;
};

struct t {
	const struct param *p;
	bool multiport;
	uint32_t nports;
	struct simq q[NQUEUES];
	struct vcon_dev d;
	struct vcon_port ports[NPORTS];
	struct sport sp[NPORTS];
	uint64_t clock;
	unsigned idles, idle_limit;
	unsigned tx_every;  /* the device takes transmit buffers only every n-th step (0: always) */
	bool ctrl_stuck;    /* the device takes no control message */
	bool tx_stuck;	    /* the device keeps every transmit buffer */
	bool flap;	    /* the device answers PORT_READY for port 1 with REMOVE + ADD */
	bool nag;	    /* the device answers PORT_OPEN with CONSOLE_PORT for that port */
	unsigned ctrl_slow; /* the device takes a control message only every n-th wait */
	unsigned ctrl_dropped; /* control messages the device had no buffer for (QEMU drops them) */
	char log[64][256];
	unsigned nlog;
	struct ev ev[512];
	unsigned nev;
	struct ctl sent[512]; /* control messages the driver sent */
	unsigned nsent;
	/* strict mode (test_strict_device): the device of vq_sim's strict mode */
	bool strict;
	struct sctl {
		struct ctl m;
		uint32_t extra_len;
		uint8_t extra[64];
	} cq[256]; /* control messages for the driver, waiting for a receive buffer */
	unsigned cq_head, cq_tail;
	bool irq_seen[NQUEUES]; /* an interrupt reached the queue's callback in this halt */
	uint64_t halts, halt_wakes, quiet_checks, irqs;
};

static struct t *T; /* the running test's device, for the ops */

/* The device */

static struct simq *dq(struct t *t, unsigned index)
{
	return &t->q[index];
}

/* Device -> driver control message; dropped like QEMU when no buffer is posted. */
static void dev_ctrl(struct t *t, uint32_t id, uint16_t event, uint16_t value, const void *extra,
		     uint32_t extra_len)
{
	struct simq *q = dq(t, VIRTIO_CONSOLE_Q_CTRL_RX);
	struct virtio_console_control c = {cpu_to_le32(id), cpu_to_le16(event), cpu_to_le16(value)};
	uint8_t msg[8 + 256];
	struct vq_sim_buf *b;

	assert_true(extra_len <= 256);
	if (t->strict) {
		/* Held until the device pops a receive buffer (it looks only when kicked). */
		struct sctl *e = &t->cq[t->cq_tail++ % 256];

		assert_true(t->cq_tail - t->cq_head <= 256 && extra_len <= sizeof(e->extra));
		*e = (struct sctl){{id, event, value}, extra_len, {0}};
		if (extra_len)
			memcpy(e->extra, extra, extra_len);
		return;
	}
	memcpy(msg, &c, 8);
	if (extra_len)
		memcpy(msg + 8, extra, extra_len);
	if (!(b = vq_sim_pop(&q->sim))) {
		t->ctrl_dropped++;
		return;
	}
	assert_int_equal(vq_sim_write(&q->sim, b, msg, 8 + extra_len), 8 + extra_len);
	vq_sim_complete(&q->sim, b, 8 + extra_len);
}

/* Raw bytes as a control message, for what no real device sends. */
static void dev_ctrl_raw(struct t *t, const void *msg, uint32_t len)
{
	struct simq *q = dq(t, VIRTIO_CONSOLE_Q_CTRL_RX);
	struct vq_sim_buf *b = vq_sim_pop(&q->sim);

	assert_non_null(b);
	assert_int_equal(vq_sim_write(&q->sim, b, msg, len), len);
	vq_sim_complete(&q->sim, b, len);
}

static void dev_port_ready(struct t *t, uint32_t id)
{
	struct sport *sp = &t->sp[id];

	/* What QEMU's virtio-serial answers to PORT_READY. */
	if (sp->is_console)
		dev_ctrl(t, id, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL, 0);
	if (sp->name)
		dev_ctrl(t, id, VIRTIO_CONSOLE_PORT_NAME, 1, sp->name,
			 (uint32_t)strlen(sp->name) + 1);
	if (sp->host_connected)
		dev_ctrl(t, id, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL, 0);
}

/* What the device does with a control message from the driver. */
static void dev_ctrl_msg(struct t *t, struct ctl m)
{
	assert_true(t->nsent < 512);
	t->sent[t->nsent++] = m;
	switch (m.event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		for (uint32_t i = 0; i < t->nports; i++)
			if (t->sp[i].exists)
				dev_ctrl(t, i, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL, 0);
		break;
	case VIRTIO_CONSOLE_PORT_READY:
		if (t->flap && m.id == 1) {
			dev_ctrl(t, 1, VIRTIO_CONSOLE_DEVICE_REMOVE, 0, NULL, 0);
			dev_ctrl(t, 1, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL, 0);
		} else if (m.value) {
			dev_port_ready(t, m.id);
		}
		break;
	case VIRTIO_CONSOLE_PORT_OPEN:
		t->sp[m.id].guest_connected = m.value;
		if (t->nag)
			dev_ctrl(t, m.id, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL, 0);
		break;
	default: fail_msg("driver sent control event %u", m.event);
	}
}

static struct ctl ctrl_read(struct vq_sim *s, struct vq_sim_buf *b)
{
	struct virtio_console_control c;

	assert_int_equal(vq_sim_read(s, b, &c, sizeof(c)), 8);
	assert_int_equal(b->nsegs, 1);
	return (struct ctl){le32_to_cpu(c.id), le16_to_cpu(c.event), le16_to_cpu(c.value)};
}

static void dev_ctrl_tx(struct t *t)
{
	struct simq *q = dq(t, VIRTIO_CONSOLE_Q_CTRL_TX);
	struct vq_sim_buf *b;

	while (!t->ctrl_stuck && (!t->ctrl_slow || t->idles % t->ctrl_slow == 0) &&
	       (b = vq_sim_pop(&q->sim))) {
		dev_ctrl_msg(t, ctrl_read(&q->sim, b));
		vq_sim_complete(&q->sim, b, 0);
	}
}

static void dev_ports(struct t *t)
{
	for (uint32_t i = 0; i < t->nports; i++) {
		struct sport *sp = &t->sp[i];
		struct simq *tx = dq(t, virtio_console_txq(i)), *rx = dq(t, virtio_console_rxq(i));
		struct vq_sim_buf *b;

		if (!rx->vq)
			continue;
		while (!t->tx_stuck && (!t->tx_every || t->idles % t->tx_every == 0) &&
		       (b = vq_sim_pop(&tx->sim))) {
			uint64_t n = b->out_len;

			assert_int_equal(b->in_len, 0);
			if (b->nsegs != 1)
				sp->multi_desc = true;
			if (n > sp->max_out_seg)
				sp->max_out_seg = (uint32_t)n;
			if (sp->out_len + n > sp->out_cap) {
				sp->out_cap = (sp->out_len + n) * 2;
				sp->out = realloc(sp->out, sp->out_cap);
				assert_non_null(sp->out);
			}
			vq_sim_read(&tx->sim, b, sp->out + sp->out_len, n);
			sp->out_len += n;
			vq_sim_complete(&tx->sim, b, 0);
		}
		/* Like QEMU: only to a guest that listens (always without MULTIPORT). */
		while (sp->in_off < sp->in_len && (sp->guest_connected || !t->multiport) &&
		       (b = vq_sim_pop(&rx->sim))) {
			uint32_t n = (uint32_t)(sp->in_len - sp->in_off);

			assert_int_equal(b->out_len, 0);
			if (sp->chunk && n > sp->chunk)
				n = sp->chunk;
			n = vq_sim_write(&rx->sim, b, sp->in + sp->in_off, n);
			sp->in_off += n;
			vq_sim_complete(&rx->sim, b, n);
		}
	}
}

static void dev_step(struct t *t)
{
	if (t->multiport)
		dev_ctrl_tx(t);
	dev_ports(t);
	for (unsigned i = 0; i < NQUEUES; i++)
		if (t->q[i].vq)
			vq_sim_signal(&t->q[i].sim);
}

/* Host-side actions */

static void host_send(struct t *t, uint32_t id, const void *data, size_t len)
{
	struct sport *sp = &t->sp[id];

	sp->in = realloc(sp->in, sp->in_len + len);
	assert_non_null(sp->in);
	memcpy(sp->in + sp->in_len, data, len);
	sp->in_len += len;
}

static void host_connect(struct t *t, uint32_t id, bool on)
{
	t->sp[id].host_connected = on;
	dev_ctrl(t, id, VIRTIO_CONSOLE_PORT_OPEN, on, NULL, 0);
}

/* The driver's hooks */

static void strict_idle(struct t *t, struct virtqueue *const *vqs, unsigned n, uint64_t deadline);

/*
 * A wait: 1 ms passes, but never beyond the deadline the driver armed
 * (the kernel's timer fires then, nothing else wakes a halt on a silent
 * device). A driver that waits with no deadline, or again once it has
 * passed, sees the clock stand still and runs into idle_limit. The
 * strict device has its own (strict_idle).
 */
static void t_idle(struct vcon_dev *d, struct virtqueue *const *vqs, unsigned n, uint64_t deadline)
{
	struct t *t = d->priv;

	if (deadline == 0 || deadline == UINT64_MAX)
		fail_msg("the driver waits with no deadline: a silent device would hang it");
	if (++t->idles > t->idle_limit)
		fail_msg("the driver waited %u times: it would hang", t->idles);
	if (t->strict) {
		strict_idle(t, vqs, n, deadline);
		return;
	}
	if (t->clock < deadline)
		t->clock += deadline - t->clock < 1000000 ? deadline - t->clock : 1000000;
	dev_step(t);
}

static uint64_t t_clock(void)
{
	return T->clock;
}

static void t_log(struct vcon_dev *d, const char *fmt, ...)
{
	struct t *t = d->priv;
	va_list ap;

	va_start(ap, fmt);
	if (t->nlog < 64)
		vsnprintf(t->log[t->nlog++], sizeof(t->log[0]), fmt, ap);
	va_end(ap);
}

static void t_event(struct vcon_dev *d, struct vcon_port *p, enum vcon_event ev)
{
	struct t *t = d->priv;

	assert_true(t->nev < 512);
	t->ev[t->nev++] = (struct ev){p->id, ev};
}

static const struct vcon_ops t_ops = {
	.idle = t_idle,
	.clock_ns = t_clock,
	.log = t_log,
	.event = t_event,
};

/* Set-up */

/*
 * The kernel's interrupt handler (console.c kvcon_vq_irq): no more
 * interrupts until the waiter asks. Only the strict device delivers
 * interrupts the driver acts on; the others run with callbacks left on.
 */
static void t_vq_irq(struct virtqueue *vq)
{
	if (!T || !T->strict)
		return;
	virtqueue_disable_cb(vq);
	T->irq_seen[virtqueue_index(vq)] = true;
	T->irqs++;
}

static void make_queue(struct t *t, unsigned index, uint32_t num)
{
	struct simq *q = &t->q[index];
	struct vq_config cfg = {
		.name = "vcon",
		.index = (uint16_t)index,
		.num = num,
		.features = t->p->features,
		.callback = t_vq_irq,
		.notify = vq_sim_notify,
		.priv = &q->sim,
	};

	assert_int_equal(virtqueue_create(&cfg, &q->vq), 0);
	vq_sim_attach(&q->sim, q->vq, t->p->features);
}

/* A device with nports ports (MULTIPORT when multiport); ports configured before start. */
static struct t *t_new(const struct param *p, bool multiport, uint32_t nports)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	T = t;
	t->p = p;
	t->multiport = multiport;
	t->nports = nports;
	t->idle_limit = IDLE_LIMIT;
	for (unsigned i = 0; i < NQUEUES; i++)
		vq_sim_init(&t->q[i].sim);
	for (uint32_t i = 0; i < nports; i++) {
		make_queue(t, virtio_console_rxq(i), PORT_QSIZE);
		make_queue(t, virtio_console_txq(i), PORT_QSIZE);
		t->ports[i].rxq = t->q[virtio_console_rxq(i)].vq;
		t->ports[i].txq = t->q[virtio_console_txq(i)].vq;
	}
	if (multiport) {
		make_queue(t, VIRTIO_CONSOLE_Q_CTRL_RX, CTRL_QSIZE);
		make_queue(t, VIRTIO_CONSOLE_Q_CTRL_TX, CTRL_QSIZE);
		t->d.ctrl_rxq = t->q[VIRTIO_CONSOLE_Q_CTRL_RX].vq;
		t->d.ctrl_txq = t->q[VIRTIO_CONSOLE_Q_CTRL_TX].vq;
	}
	t->d.ops = &t_ops;
	t->d.priv = t;
	t->d.multiport = multiport;
	t->d.nports = nports;
	t->d.ports = t->ports;
	return t;
}

static void t_start(struct t *t)
{
	assert_int_equal(vcon_init(&t->d), 0);
	assert_int_equal(vcon_start(&t->d), 0);
}

static void t_free(struct t *t)
{
	vcon_free(&t->d);
	for (unsigned i = 0; i < NQUEUES; i++) {
		if (t->q[i].vq)
			virtqueue_destroy(t->q[i].vq);
		vq_sim_fini(&t->q[i].sim);
	}
	for (uint32_t i = 0; i < NPORTS; i++) {
		free(t->sp[i].in);
		free(t->sp[i].out);
	}
	free(t);
	T = NULL;
}

/* The usual three-port device: console port 0, a closed port 1, an open port 2. */
static struct t *t_three(void **state)
{
	struct t *t = t_new(*state, true, 3);

	t->sp[0] = (struct sport){
		.exists = true, .is_console = true, .host_connected = true, .name = "con0"};
	t->sp[1] = (struct sport){.exists = true, .name = "alpha"};
	t->sp[2] = (struct sport){.exists = true, .host_connected = true, .name = "beta"};
	t_start(t);
	return t;
}

static bool logged(struct t *t, const char *needle)
{
	for (unsigned i = 0; i < t->nlog; i++)
		if (strstr(t->log[i], needle))
			return true;
	return false;
}

static unsigned count_ev(struct t *t, uint32_t port, enum vcon_event ev)
{
	unsigned n = 0;

	for (unsigned i = 0; i < t->nev; i++)
		n += t->ev[i].port == port && t->ev[i].ev == ev;
	return n;
}

static unsigned count_sent(struct t *t, uint32_t id, uint16_t event, uint16_t value)
{
	unsigned n = 0;

	for (unsigned i = 0; i < t->nsent; i++)
		n += t->sent[i].id == id && t->sent[i].event == event && t->sent[i].value == value;
	return n;
}

static void fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

/* Bring-up */

static void test_bringup_multiport(void **state)
{
	struct t *t = t_three(state);

	assert_int_equal(t->sent[0].event, VIRTIO_CONSOLE_DEVICE_READY);
	assert_int_equal(t->sent[0].value, 1);
	for (uint32_t i = 0; i < 3; i++) {
		assert_true(t->ports[i].present);
		assert_int_equal(count_sent(t, i, VIRTIO_CONSOLE_PORT_READY, 1), 1);
		assert_int_equal(count_ev(t, i, VCON_EV_ADD), 1);
		assert_int_equal(count_ev(t, i, VCON_EV_NAME), 1);
	}
	assert_string_equal(t->ports[0].name, "con0");
	assert_string_equal(t->ports[1].name, "alpha");
	assert_string_equal(t->ports[2].name, "beta");
	/* CONSOLE_PORT: the driver MUST answer PORT_OPEN 1 (5.3.6.2.2). */
	assert_true(t->ports[0].console && t->ports[0].guest_open);
	assert_int_equal(count_sent(t, 0, VIRTIO_CONSOLE_PORT_OPEN, 1), 1);
	assert_true(t->sp[0].guest_connected);
	assert_int_equal(count_ev(t, 0, VCON_EV_CONSOLE), 1);
	assert_true(t->ports[0].host_open && !t->ports[1].host_open && t->ports[2].host_open);
	assert_false(t->ports[1].guest_open || t->ports[2].guest_open);
	assert_false(t->ports[3 - 1].console);
	assert_int_equal(t->d.st.ctrl_bad, 0);
	assert_int_equal(t->ctrl_dropped, 0);
	assert_ptr_equal(vcon_find(&t->d, "beta"), &t->ports[2]);
	assert_null(vcon_find(&t->d, "gamma"));
	t_free(t);
}

/*
 * 31 named, connected ports: DEVICE_READY brings 31 DEVICE_ADD, each
 * PORT_READY three answers. Sent one at a time with the receive queue
 * drained in between, no answer finds the 32 control buffers used up.
 */
static void test_bringup_many_ports(void **state)
{
	static char names[NPORTS][16];
	struct t *t = t_new(*state, true, NPORTS);

	for (uint32_t i = 0; i < NPORTS; i++) {
		snprintf(names[i], sizeof(names[i]), "port.%u", i);
		t->sp[i] = (struct sport){.exists = true,
					  .is_console = i == 0,
					  .host_connected = true,
					  .name = names[i]};
	}
	t_start(t);
	assert_int_equal(t->ctrl_dropped, 0);
	for (uint32_t i = 0; i < NPORTS; i++) {
		assert_true(t->ports[i].present && t->ports[i].host_open);
		assert_string_equal(t->ports[i].name, names[i]);
	}
	assert_int_equal(t->d.st.ctrl_rx, NPORTS * 3 + 1);
	t_free(t);
}

static void test_single_port(void **state)
{
	struct t *t = t_new(*state, false, 1);
	uint8_t buf[16];

	t->sp[0].exists = true;
	t_start(t);
	assert_true(t->ports[0].present && t->ports[0].console && t->ports[0].host_open);
	assert_int_equal(count_ev(t, 0, VCON_EV_CONSOLE), 1);
	assert_int_equal(t->nsent, 0); /* no control queue */
	host_send(t, 0, "ping", 4);
	assert_int_equal(vcon_read(&t->ports[0], buf, sizeof(buf), true), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(vcon_write(&t->ports[0], "pong", 4), 4);
	assert_int_equal(vcon_flush(&t->ports[0]), 0);
	assert_int_equal(t->sp[0].out_len, 4);
	assert_memory_equal(t->sp[0].out, "pong", 4);
	assert_false(vcon_eof(&t->ports[0]));
	t_free(t);
}

static void test_init_refuses_bad_setup(void **state)
{
	struct t *t = t_new(*state, true, 2);

	t->d.nports = 0;
	assert_int_equal(vcon_init(&t->d), -EINVAL);
	t->d.nports = VCON_MAX_PORTS + 1;
	assert_int_equal(vcon_init(&t->d), -EINVAL);
	t->d.nports = 2;
	t->d.ctrl_rxq = NULL;
	assert_int_equal(vcon_init(&t->d), -EINVAL);
	t->d.ctrl_rxq = t->q[VIRTIO_CONSOLE_Q_CTRL_RX].vq;
	t->d.multiport = false; /* without MULTIPORT there is exactly one port */
	assert_int_equal(vcon_init(&t->d), -EINVAL);
	t_free(t);
}

/* Receive */

/*
 * The host sends more than all receive buffers hold: the device fills
 * them and waits. A buffer goes back only when read to its end.
 */
static void test_rx_buffers_return_only_when_read(void **state)
{
	struct t *t = t_three(state);
	struct vcon_port *p = &t->ports[2];
	struct sport *sp = &t->sp[2];
	size_t total = (VCON_RX_BUFS + 8) * VCON_BUF_SIZE, got = 0;
	uint8_t *data = malloc(total), *back = malloc(total);

	assert_non_null(data);
	assert_non_null(back);
	fill_random(data, total, 7);
	assert_int_equal(vcon_open(p), 0);
	host_send(t, 2, data, total);
	dev_step(t);
	vcon_service(&t->d);
	assert_int_equal(sp->in_off, VCON_RX_BUFS * VCON_BUF_SIZE); /* every buffer full */
	assert_int_equal(vcon_readable(p), VCON_RX_BUFS * VCON_BUF_SIZE);
	/* One byte read: that buffer is still the guest's. */
	assert_int_equal(vcon_read(p, back, 1, false), 1);
	dev_step(t);
	assert_int_equal(sp->in_off, VCON_RX_BUFS * VCON_BUF_SIZE);
	/* The rest of it: now the device may fill it again. */
	assert_int_equal(vcon_read(p, back + 1, VCON_BUF_SIZE - 1, false), VCON_BUF_SIZE - 1);
	dev_step(t);
	assert_int_equal(sp->in_off, (VCON_RX_BUFS + 1) * VCON_BUF_SIZE);
	got = VCON_BUF_SIZE;
	while (got < total) {
		ssize_t n = vcon_read(p, back + got, total - got, true);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(back, data, total);
	assert_int_equal(p->st.rx_bytes, total);
	assert_int_equal(p->st.rx_dropped, 0);
	free(data);
	free(back);
	t_free(t);
}

/* 1 MiB in random pieces from the device, read in random sizes: every byte, in order. */
static void test_rx_random_sizes(void **state)
{
	struct t *t = t_three(state);
	struct vcon_port *p = &t->ports[2];
	size_t total = 1 << 20, got = 0;
	uint8_t *data = malloc(total), *back = malloc(total);
	uint32_t seed = 99;

	assert_non_null(data);
	assert_non_null(back);
	fill_random(data, total, 3);
	assert_int_equal(vcon_open(p), 0);
	host_send(t, 2, data, total);
	while (got < total) {
		size_t want;
		ssize_t n;

		seed = seed * 1103515245u + 12345u;
		t->sp[2].chunk = 1 + (seed >> 8) % VCON_BUF_SIZE;
		want = 1 + (seed >> 4) % 9000;
		if (want > total - got)
			want = total - got;
		n = vcon_read(p, back + got, want, true);
		assert_true(n > 0 && (size_t)n <= want);
		got += (size_t)n;
	}
	assert_memory_equal(back, data, total);
	free(data);
	free(back);
	t_free(t);
}

/* Bytes for a port nobody in the guest opened: logged, dropped, buffer reposted. */
static void test_rx_unopened_port_dropped(void **state)
{
	struct t *t = t_three(state);
	uint8_t b;

	t->sp[2].guest_connected = true; /* a device that sends anyway */
	host_send(t, 2, "unwanted", 8);
	dev_step(t);
	vcon_service(&t->d);
	assert_int_equal(t->ports[2].st.rx_dropped, 8);
	assert_true(logged(
		t, "port 2: 8 bytes arrived but the port is not open in the guest: dropped"));
	assert_int_equal(vcon_readable(&t->ports[2]), 0);
	assert_int_equal(virtqueue_num_free(t->ports[2].rxq), PORT_QSIZE - VCON_RX_BUFS);
	/* Opened now: what comes next is delivered. */
	assert_int_equal(vcon_open(&t->ports[2]), 0);
	host_send(t, 2, "x", 1);
	assert_int_equal(vcon_read(&t->ports[2], &b, 1, true), 1);
	assert_int_equal(b, 'x');
	t_free(t);
}

/* Transmit */

/* One write of 1 MiB: split into buffers of one descriptor, waiting while the device is slow. */
static void test_tx_split_and_wait(void **state)
{
	struct t *t = t_three(state);
	struct vcon_port *p = &t->ports[2];
	size_t total = 1 << 20;
	uint8_t *data = malloc(total);

	assert_non_null(data);
	fill_random(data, total, 11);
	t->tx_every = 3;
	assert_int_equal(vcon_open(p), 0);
	assert_int_equal(vcon_write(p, data, total), (ssize_t)total);
	assert_int_equal(vcon_flush(p), 0);
	assert_int_equal(t->sp[2].out_len, total);
	assert_memory_equal(t->sp[2].out, data, total);
	assert_int_equal(t->sp[2].max_out_seg, VCON_BUF_SIZE);
	assert_false(t->sp[2].multi_desc);
	assert_true(p->st.tx_waits > 0);
	assert_int_equal(p->st.tx_bufs, total / VCON_BUF_SIZE);
	free(data);
	t_free(t);
}

static void test_tx_needs_host(void **state)
{
	struct t *t = t_three(state);

	assert_int_equal(vcon_open(&t->ports[1]), 0);
	/* Port 1's host end is closed: the device would drop the bytes. */
	assert_int_equal(vcon_write(&t->ports[1], "x", 1), -EPIPE);
	host_connect(t, 1, true);
	assert_int_equal(vcon_write(&t->ports[1], "x", 1), 1);
	/* A console takes bytes whatever the host does. */
	host_connect(t, 0, false);
	assert_int_equal(vcon_write(&t->ports[0], "y", 1), 1);
	t_free(t);
}

/* Open, close, end of input */

static void test_open_close_and_eof(void **state)
{
	struct t *t = t_three(state);
	struct vcon_port *p = &t->ports[1];
	uint8_t buf[16];

	assert_int_equal(vcon_open(p), 0);
	assert_int_equal(count_sent(t, 1, VIRTIO_CONSOLE_PORT_OPEN, 1), 1);
	assert_int_equal(vcon_open(p), -EBUSY);
	host_connect(t, 1, true);
	host_send(t, 1, "hello", 5);
	dev_step(t);
	host_connect(t, 1, false);
	/* The bytes sent before the close, then the end. */
	assert_int_equal(vcon_read(p, buf, sizeof(buf), true), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(vcon_read(p, buf, sizeof(buf), true), 0);
	assert_int_equal(count_ev(t, 1, VCON_EV_OPEN), 1);
	assert_int_equal(count_ev(t, 1, VCON_EV_CLOSE), 1);
	assert_int_equal(p->st.host_opens, 1);
	assert_int_equal(p->st.host_closes, 1);
	/* A device that sends after the close, once the reader saw the end: dropped. */
	host_send(t, 1, "late", 4);
	dev_step(t);
	assert_int_equal(vcon_read(p, buf, sizeof(buf), true), 0);
	assert_true(logged(t, "the host closed the port and the reader saw the end: dropped"));
	assert_int_equal(p->st.rx_dropped, 4);
	/* The host comes back: data flows again. */
	host_connect(t, 1, true);
	host_send(t, 1, "again", 5);
	assert_int_equal(vcon_read(p, buf, sizeof(buf), true), 5);
	assert_memory_equal(buf, "again", 5);
	vcon_close(p);
	assert_int_equal(count_sent(t, 1, VIRTIO_CONSOLE_PORT_OPEN, 0), 1);
	assert_false(t->sp[1].guest_connected);
	t_free(t);
}

static void test_remove_and_add_again(void **state)
{
	struct t *t = t_three(state);
	struct vcon_port *p = &t->ports[2];
	uint32_t gen = p->gen;
	uint8_t b;

	assert_int_equal(vcon_open(p), 0);
	dev_ctrl(t, 2, VIRTIO_CONSOLE_DEVICE_REMOVE, 0, NULL, 0);
	vcon_service(&t->d);
	assert_false(p->present);
	assert_int_equal(count_ev(t, 2, VCON_EV_REMOVE), 1);
	assert_int_equal(vcon_read(p, &b, 1, true), -ENODEV);
	assert_int_equal(vcon_write(p, "x", 1), -ENODEV);
	assert_null(vcon_find(&t->d, "beta"));
	/* Back: a new port on the same queues, its receive buffers still posted (not twice). */
	dev_ctrl(t, 2, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL, 0);
	vcon_service(&t->d);
	assert_true(p->present);
	assert_int_equal(p->gen, gen + 1);
	assert_false(p->guest_open);
	assert_string_equal(p->name, "beta");
	assert_int_equal(count_sent(t, 2, VIRTIO_CONSOLE_PORT_READY, 1), 2);
	assert_int_equal(virtqueue_num_free(p->rxq), PORT_QSIZE - VCON_RX_BUFS);
	assert_int_equal(t->d.st.ctrl_bad, 0);
	t_free(t);
}

/* The device never takes a control message: the driver gives up after a second. */
static void test_ctrl_timeout(void **state)
{
	struct t *t = t_three(state);

	uint64_t clock;

	t->ctrl_stuck = true;
	clock = t->clock;
	assert_int_equal(vcon_open(&t->ports[1]), -ETIMEDOUT);
	assert_false(t->ports[1].guest_open);
	assert_int_equal(t->d.st.ctrl_timeouts, 1);
	assert_true(logged(t, "the device did not take PORT_OPEN for port 1 within 1000 ms"));
	assert_true(t->clock - clock >= VCON_CTRL_TIMEOUT_NS);
	/* Stalled: the next message fails at once instead of waiting its second too. */
	clock = t->clock;
	assert_int_equal(vcon_open(&t->ports[2]), -ETIMEDOUT);
	assert_int_equal(t->clock, clock);
	assert_int_equal(t->d.st.ctrl_timeouts, 2);
	/* The device takes messages again: so does the driver. */
	t->ctrl_stuck = false;
	dev_step(t);
	assert_int_equal(vcon_open(&t->ports[2]), 0);
	assert_true(logged(t, "control: the device takes messages again"));
	t_free(t);
}

/* The device keeps every transmit buffer: a write gives up, the port is stalled, never a hang. */
static void test_tx_stall(void **state)
{
	struct t *t = t_three(state);
	struct vcon_port *p = &t->ports[0];
	size_t total = (VCON_TX_BUFS + 8) * VCON_BUF_SIZE;
	uint8_t *data = malloc(total);
	uint64_t start;

	assert_non_null(data);
	fill_random(data, total, 5);
	t->idle_limit = 20000;
	t->tx_stuck = true;
	start = t->clock;
	assert_int_equal(vcon_write(p, data, total), VCON_TX_BUFS * VCON_BUF_SIZE);
	assert_true(p->tx_stalled);
	assert_true(t->clock - start >= VCON_TX_TIMEOUT_NS);
	assert_int_equal(p->st.tx_dropped, 8 * VCON_BUF_SIZE);
	assert_true(logged(t, "port 0: the device returned no transmit buffer for 2000 ms (32 of "
			      "32 held): port stalled"));
	/* Stalled: later writes and flushes wait for nothing, and say nothing more. */
	start = t->clock;
	t->nlog = 0;
	assert_int_equal(vcon_write(p, "more", 4), -ETIMEDOUT);
	assert_int_equal(vcon_flush(p), -ETIMEDOUT);
	assert_int_equal(t->clock, start);
	assert_int_equal(p->st.tx_dropped, 8 * VCON_BUF_SIZE + 4);
	assert_int_equal(t->nlog, 0);
	/* The device comes back: output resumes. */
	t->tx_stuck = false;
	dev_step(t);
	assert_int_equal(vcon_write(p, "back", 4), 4);
	assert_false(p->tx_stalled);
	assert_true(logged(t, "port 0: the device returned a transmit buffer: output resumes"));
	assert_int_equal(vcon_flush(p), 0);
	assert_memory_equal(t->sp[0].out, data, VCON_TX_BUFS * VCON_BUF_SIZE);
	assert_memory_equal(t->sp[0].out + VCON_TX_BUFS * VCON_BUF_SIZE, "back", 4);
	free(data);
	t_free(t);
}

/* A flush on a device that keeps a buffer ends at the deadline too; a named port's is longer. */
static void test_flush_stall(void **state)
{
	struct t *t = t_three(state);
	struct vcon_port *p = &t->ports[0], *named = &t->ports[2];
	uint64_t start;

	t->idle_limit = 40000;
	t->tx_stuck = true;
	assert_int_equal(vcon_write(p, "x", 1), 1);
	assert_int_equal(vcon_flush(p), -ETIMEDOUT);
	assert_true(p->tx_stalled);
	assert_int_equal(p->st.tx_stalls, 1);
	assert_int_equal(vcon_open(named), 0);
	assert_int_equal(vcon_write(named, "y", 1), 1);
	start = t->clock;
	assert_int_equal(vcon_flush(named), -ETIMEDOUT);
	assert_true(t->clock - start >= VCON_PORT_TX_TIMEOUT_NS);
	assert_true(logged(t,
			   "port 2: the device returned no transmit buffer for 30000 ms (1 of 32 "
			   "held)"));
	t_free(t);
}

/* A device that answers every PORT_READY with REMOVE + ADD of the port: it is ignored. */
static void test_ctrl_flapping_port(void **state)
{
	struct t *t = t_new(*state, true, 3);
	unsigned idles;

	t->sp[0] = (struct sport){.exists = true, .is_console = true, .host_connected = true};
	t->sp[1] = (struct sport){.exists = true, .name = "flappy"};
	t->sp[2] = (struct sport){.exists = true, .name = "steady"};
	t->flap = true;
	t->idle_limit = 20000;
	t_start(t);
	assert_true(t->ports[1].flapping);
	assert_false(t->ports[1].present);
	assert_true(
		logged(t, "port 1: added 9 times within 1000 ms: the device keeps flapping it"));
	assert_int_equal(count_sent(t, 1, VIRTIO_CONSOLE_PORT_READY, 1), VCON_FLAP_LIMIT);
	assert_true(t->ports[2].present);
	assert_string_equal(t->ports[2].name, "steady");
	/* From then on the device's adds of port 1 cost nothing. */
	idles = t->idles;
	dev_ctrl(t, 1, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL, 0);
	vcon_service(&t->d);
	assert_int_equal(t->idles, idles);
	assert_false(t->ports[1].present);
	t_free(t);
}

/* A device that answers each reply with a message asking for another: budgets per call. */
static void test_ctrl_busy_device(void **state)
{
	struct t *t = t_three(state);
	uint64_t sent, clock;

	t->idle_limit = 20000;
	t->nag = true;
	dev_ctrl(t, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL, 0);
	sent = t->d.st.ctrl_tx;
	vcon_service(&t->d);
	assert_int_equal(t->d.st.ctrl_tx - sent, VCON_CTRL_REPLY_BUDGET);
	assert_int_equal(t->d.st.ctrl_budget, 1);
	assert_true(logged(t, "control: the device keeps the control queue busy"));
	/* A device slow to take each reply: the pass ends after a second, not 66. */
	t->ctrl_slow = 900;
	sent = t->d.st.ctrl_tx;
	clock = t->clock;
	vcon_service(&t->d);
	assert_true(t->clock - clock < 2 * VCON_CTRL_TIMEOUT_NS);
	assert_true(t->d.st.ctrl_tx - sent < 4);
	assert_int_equal(t->d.st.ctrl_timeouts, 0);
	assert_int_equal(t->d.st.ctrl_budget, 2);
	t->ctrl_slow = 0;
	/* Each call is bounded; the device calming down ends it. */
	vcon_service(&t->d);
	assert_int_equal(t->d.st.ctrl_budget, 3);
	t->nag = false;
	vcon_service(&t->d);
	vcon_service(&t->d);
	assert_int_equal(t->d.st.ctrl_budget, 3);
	assert_false(t->ports[0].open_pending);
	t_free(t);
}

/* Size */

static void test_resize(void **state)
{
	struct t *t = t_three(state);
	struct virtio_console_resize r = {cpu_to_le16(132), cpu_to_le16(43)};

	assert_false(t->ports[0].has_size);
	dev_ctrl(t, 0, VIRTIO_CONSOLE_RESIZE, 0, &r, sizeof(r));
	vcon_service(&t->d);
	assert_true(t->ports[0].has_size);
	assert_int_equal(t->ports[0].cols, 132);
	assert_int_equal(t->ports[0].rows, 43);
	assert_int_equal(count_ev(t, 0, VCON_EV_RESIZE), 1);
	/* From the configuration space (F_SIZE): an event only when it changes. */
	vcon_size_from_config(&t->ports[0], 80, 25);
	vcon_size_from_config(&t->ports[0], 80, 25);
	assert_int_equal(t->ports[0].cols, 80);
	assert_int_equal(t->ports[0].rows, 25);
	assert_int_equal(count_ev(t, 0, VCON_EV_RESIZE), 2);
	assert_int_equal(t->ports[0].st.resizes, 2);
	t_free(t);
}

/* Crafted control messages: each logged, counted and ignored, nothing else changes. */

struct bad {
	const char *what;
	uint32_t id;
	uint16_t event, value;
	const char *payload;
	uint32_t payload_len;
	const char *log;
};

static void test_bad_control_messages(void **state)
{
	static char longname[101];
	static const char slash[] = "a/b";
	struct t *t = t_three(state);
	uint8_t short_msg[4] = {1, 0, 0, 0}, b[8];
	const struct bad bad[] = {
		{"unknown event", 1, 99, 0, NULL, 0, "unknown event 99 for port 1"},
		{"DEVICE_READY from the device", 0, VIRTIO_CONSOLE_DEVICE_READY, 1, NULL, 0,
		 "DEVICE_READY (port 0) came from the device"},
		{"PORT_READY from the device", 1, VIRTIO_CONSOLE_PORT_READY, 1, NULL, 0,
		 "PORT_READY (port 1) came from the device"},
		{"port beyond max", 40, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL, 0,
		 "PORT_OPEN for port 40, which does not exist (3 ports)"},
		{"huge port id", 0xffffffffu, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL, 0,
		 "DEVICE_ADD for port 4294967295, which does not exist"},
		{"ADD of a port that exists", 1, VIRTIO_CONSOLE_DEVICE_ADD, 1, NULL, 0,
		 "DEVICE_ADD for port 1, which exists"},
		{"oversized name", 1, VIRTIO_CONSOLE_PORT_NAME, 1, longname, 100,
		 "PORT_NAME for port 1 is 100 bytes, longer than 63: ignored"},
		{"name with a slash", 1, VIRTIO_CONSOLE_PORT_NAME, 1, slash, 3,
		 "PORT_NAME for port 1 has a '/' or a control character"},
		{"empty name", 1, VIRTIO_CONSOLE_PORT_NAME, 1, "\0", 1,
		 "PORT_NAME for port 1 is empty"},
		{"name of another port", 1, VIRTIO_CONSOLE_PORT_NAME, 1, "beta", 4,
		 "PORT_NAME for port 1 repeats the name of port 2"},
		{"RESIZE without its size", 0, VIRTIO_CONSOLE_RESIZE, 0, "ab", 2,
		 "RESIZE for port 0 without its 4-byte size (2 bytes)"},
		{"PORT_OPEN with value 7", 2, VIRTIO_CONSOLE_PORT_OPEN, 7, NULL, 0,
		 "PORT_OPEN for port 2 with value 7"},
	};
	uint64_t bad_before;

	memset(longname, 'n', 100);
	/* Shorter than the 8-byte header. */
	dev_ctrl_raw(t, short_msg, sizeof(short_msg));
	vcon_service(&t->d);
	assert_int_equal(t->d.st.ctrl_bad, 1);
	assert_true(logged(t, "message of 4 bytes, shorter than its 8-byte header"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad_before = t->d.st.ctrl_bad;
		dev_ctrl(t, bad[i].id, bad[i].event, bad[i].value, bad[i].payload,
			 bad[i].payload_len);
		vcon_service(&t->d);
		if (t->d.st.ctrl_bad != bad_before + 1)
			fail_msg("%s: not refused", bad[i].what);
		if (!logged(t, bad[i].log))
			fail_msg("%s: no log line with \"%s\"", bad[i].what, bad[i].log);
	}
	/* A port that was never added: remove and open are refused. */
	{
		struct t *u = t_new(*state, true, 3);

		u->sp[0] =
			(struct sport){.exists = true, .is_console = true, .host_connected = true};
		t_start(u);
		dev_ctrl(u, 2, VIRTIO_CONSOLE_DEVICE_REMOVE, 0, NULL, 0);
		dev_ctrl(u, 2, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL, 0);
		vcon_service(&u->d);
		assert_int_equal(u->d.st.ctrl_bad, 2);
		assert_true(logged(u, "DEVICE_REMOVE for port 2, which the device has not added"));
		assert_false(u->ports[2].present || u->ports[2].host_open);
		t_free(u);
		T = t;
	}
	/* Nothing changed, and the ports still work. */
	assert_string_equal(t->ports[1].name, "alpha");
	assert_string_equal(t->ports[2].name, "beta");
	assert_false(t->ports[0].has_size);
	assert_true(t->ports[2].host_open);
	assert_true(t->ports[0].present && t->ports[1].present && t->ports[2].present);
	assert_int_equal(vcon_open(&t->ports[2]), 0);
	host_send(t, 2, "still ok", 8);
	assert_int_equal(vcon_read(&t->ports[2], b, sizeof(b), true), 8);
	assert_memory_equal(b, "still ok", 8);
	assert_int_equal(vcon_write(&t->ports[2], "fine", 4), 4);
	assert_int_equal(vcon_flush(&t->ports[2]), 0);
	assert_memory_equal(t->sp[2].out, "fine", 4);
	assert_int_equal(t->ctrl_dropped, 0);
	t_free(t);
}

/* A name without the NUL QEMU adds (the spec sends none) and one of exactly 63 bytes. */
static void test_port_name_forms(void **state)
{
	static char name63[64];
	struct t *t = t_three(state);

	dev_ctrl(t, 1, VIRTIO_CONSOLE_PORT_NAME, 1, "no-nul", 6);
	vcon_service(&t->d);
	assert_string_equal(t->ports[1].name, "no-nul");
	memset(name63, 'x', 63);
	dev_ctrl(t, 1, VIRTIO_CONSOLE_PORT_NAME, 1, name63, 63);
	vcon_service(&t->d);
	assert_string_equal(t->ports[1].name, name63);
	assert_int_equal(t->d.st.ctrl_bad, 0);
	t_free(t);
}

/*
 * The console against the strict device (vq_sim strict mode): it looks at
 * a ring only when kicked, serves what it popped whenever it likes (also
 * at the ring code's full barriers), interrupts only when the driver
 * allows it, and its interrupts reach the driver only while it waits or
 * between its calls, never inside one. A wait is the kernel's
 * (console.c kvcon_idle): callbacks enabled on the queues waited on, a
 * poll round if something is already used, else a halt that only an
 * interrupt or the deadline ends. At every quiet point nothing is
 * available that the device was not told about (a lost kick), and no
 * queue waited on holds a used buffer whose interrupt never came (a lost
 * interrupt: the driver would sleep to its deadline).
 */
static uint64_t strict_rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd_below(uint32_t n)
{
	strict_rng ^= strict_rng >> 12;
	strict_rng ^= strict_rng << 25;
	strict_rng ^= strict_rng >> 27;
	return n ? (uint32_t)((strict_rng * 0x2545f4914f6cdd1dull) >> 32) % n : 0;
}

static int queue_port(struct t *t, unsigned qi, bool *tx)
{
	for (uint32_t i = 0; i < t->nports; i++) {
		if (qi == virtio_console_rxq(i) || qi == virtio_console_txq(i)) {
			*tx = qi == virtio_console_txq(i);
			return (int)i;
		}
	}
	return -1;
}

/* The device uses buffer b of queue qi if it has something for it. Returns: whether it did. */
static bool sdev_use(struct t *t, unsigned qi, struct vq_sim_buf *b)
{
	struct vq_sim *s = &t->q[qi].sim;
	struct sport *sp;
	bool tx;
	int port;

	if (qi == VIRTIO_CONSOLE_Q_CTRL_TX) {
		struct ctl m = ctrl_read(s, b);

		vq_sim_complete(s, b, 0); /* taken: its answers are queued */
		dev_ctrl_msg(t, m);
		return true;
	}
	if (qi == VIRTIO_CONSOLE_Q_CTRL_RX) {
		struct sctl *e = &t->cq[t->cq_head % 256];
		struct virtio_console_control c;
		uint8_t msg[8 + sizeof(e->extra)];

		if (t->cq_head == t->cq_tail)
			return false;
		t->cq_head++;
		c = (struct virtio_console_control){cpu_to_le32(e->m.id), cpu_to_le16(e->m.event),
						    cpu_to_le16(e->m.value)};
		memcpy(msg, &c, 8);
		memcpy(msg + 8, e->extra, e->extra_len);
		assert_int_equal(vq_sim_write(s, b, msg, 8 + e->extra_len), 8 + e->extra_len);
		vq_sim_complete(s, b, 8 + e->extra_len);
		return true;
	}
	port = queue_port(t, qi, &tx);
	assert_true(port >= 0);
	sp = &t->sp[port];
	if (tx) {
		uint64_t n = b->out_len;

		assert_int_equal(b->in_len, 0);
		if (sp->out_len + n > sp->out_cap) {
			sp->out_cap = (sp->out_len + n) * 2;
			sp->out = realloc(sp->out, sp->out_cap);
			assert_non_null(sp->out);
		}
		vq_sim_read(s, b, sp->out + sp->out_len, n);
		sp->out_len += n;
		vq_sim_complete(s, b, 0);
		return true;
	}
	if (sp->in_off < sp->in_len && sp->guest_connected) {
		uint32_t n = (uint32_t)(sp->in_len - sp->in_off);

		n = 1 + rnd_below(n < VCON_BUF_SIZE ? n : VCON_BUF_SIZE);
		n = vq_sim_write(s, b, sp->in + sp->in_off, n);
		sp->in_off += n;
		vq_sim_complete(s, b, n);
		return true;
	}
	return false;
}

/* One step of queue qi: pop (if awake), use some (all: every one it can), signal. */
static bool sdev_queue(struct t *t, unsigned qi, bool all)
{
	struct vq_sim *s = &t->q[qi].sim;
	unsigned budget = all ? UINT32_MAX : rnd_below(s->ninflight + 2);
	bool tx, any_order;
	bool progress;

	if (!t->q[qi].vq)
		return false;
	/* Receive buffers in any order (no IN_ORDER); transmitted bytes in the order sent. */
	any_order = !all && queue_port(t, qi, &tx) >= 0 && !tx;
	progress = vq_sim_service(s, all ? 64 : 1 + rnd_below(8)) > 0;
	for (uint32_t i = 0; i < s->ninflight && budget; budget--) {
		uint32_t k = any_order ? i + rnd_below(s->ninflight - i) : i;

		if (sdev_use(t, qi, vq_sim_inflight(s, k)))
			progress = true;
		else if (k == i)
			i++;
	}
	vq_sim_signal(s);
	return progress;
}

static void strict_hook(void *arg)
{
	struct t *t = arg;

	if (rnd_below(32) == 0)
		sdev_queue(t, rnd_below(2 * t->nports + 2), false);
}

static bool sdev_deliver_all(struct t *t)
{
	bool any = false;

	for (unsigned qi = 0; qi < NQUEUES; qi++)
		if (t->q[qi].vq)
			any |= vq_sim_deliver(&t->q[qi].sim);
	return any;
}

/* The device does all it can, interrupts delivered; then nothing may wait unannounced. */
static void strict_quiesce(struct t *t)
{
	for (bool busy = true; busy;) {
		busy = false;
		for (unsigned qi = 0; qi < NQUEUES; qi++) {
			if (!t->q[qi].vq)
				continue;
			busy |= sdev_queue(t, qi, true) || t->q[qi].sim.awake;
		}
		busy |= sdev_deliver_all(t);
	}
	t->quiet_checks++;
	for (unsigned qi = 0; qi < NQUEUES; qi++)
		if (t->q[qi].vq && vq_sim_pending(&t->q[qi].sim))
			fail_msg("queue %u: lost kick: %u buffers available, the device sleeps", qi,
				 vq_sim_pending(&t->q[qi].sim));
}

static void strict_idle(struct t *t, struct virtqueue *const *vqs, unsigned n, uint64_t deadline)
{
	bool poll = false, woke = false;

	for (unsigned i = 0; i < n; i++)
		if (!virtqueue_enable_cb(vqs[i]) || virtqueue_is_broken(vqs[i]))
			poll = true; /* used buffers already waiting */
	if (poll) {
		/* sti; nop; cli: the device may act and interrupt meanwhile */
		sdev_queue(t, rnd_below(2 * t->nports + 2), false);
		if (rnd_below(2))
			sdev_deliver_all(t);
		t->clock += t->clock < deadline ? 1000 : 0;
		return;
	}
	t->halts++;
	memset(t->irq_seen, 0, sizeof(t->irq_seen));
	for (unsigned k = 0; k < 32 && !woke; k++) {
		sdev_queue(t, rnd_below(2 * t->nports + 2), false);
		sdev_deliver_all(t);
		for (unsigned qi = 0; qi < NQUEUES; qi++)
			woke |= t->irq_seen[qi];
	}
	if (!woke) {
		strict_quiesce(t);
		for (unsigned i = 0; i < n; i++)
			if (!t->irq_seen[virtqueue_index(vqs[i])] && virtqueue_more_used(vqs[i]))
				fail_msg("queue %u: lost interrupt: a used buffer and no interrupt "
					 "for a driver that sleeps until it comes",
					 virtqueue_index(vqs[i]));
		for (unsigned qi = 0; qi < NQUEUES; qi++)
			woke |= t->irq_seen[qi];
	}
	if (woke) {
		t->halt_wakes++;
		t->clock += t->clock < deadline ? 1000 : 0;
	} else {
		t->clock = deadline; /* only the timer ends this halt */
	}
}

/* Read what arrived on p into got (want bytes in all); block for at least one byte. */
static void strict_read(struct t *t, struct vcon_port *p, uint8_t *got, size_t *have, size_t want,
			bool block)
{
	ssize_t n;

	if (*have == want)
		return;
	n = vcon_read(p, got + *have, 1 + rnd_below((uint32_t)(want - *have)), block);
	if (n == -EAGAIN && !block)
		return;
	assert_true(n > 0);
	*have += (size_t)n;
	(void)t;
}

static void strict_write(struct t *t, struct vcon_port *p, const uint8_t *data, size_t *done,
			 size_t total)
{
	size_t n = total - *done;
	ssize_t rc;

	if (n == 0)
		return;
	n = 1 + rnd_below(n < VCON_BUF_SIZE ? (uint32_t)n : VCON_BUF_SIZE);
	rc = vcon_write(p, data + *done, n);
	assert_int_equal(rc, (ssize_t)n);
	*done += n;
	(void)t;
}

static void test_strict_device(void **state)
{
	enum { LEN = 1024 * 1024 };
	struct t *t = t_new(*state, true, 3);
	uint8_t *in[2], *out[2], *got[2];
	size_t have[2] = {0}, done[2] = {0};
	struct vcon_port *ports[2];
	unsigned toggles = 0, steps = 0;

	t->sp[0] = (struct sport){
		.exists = true, .is_console = true, .host_connected = true, .name = "con0"};
	t->sp[1] = (struct sport){.exists = true, .host_connected = true, .name = "alpha"};
	t->sp[2] = (struct sport){.exists = true, .name = "beta"};
	t->strict = true;
	for (unsigned qi = 0; qi < NQUEUES; qi++)
		if (t->q[qi].vq)
			vq_sim_set_strict(&t->q[qi].sim, true);
	vq_sim_set_mb_hook(strict_hook, t);
	assert_int_equal(vcon_init(&t->d), 0);
	assert_int_equal(vcon_start(&t->d), 0);
	/* The device's answers come when it gets round to them. */
	for (unsigned k = 0; !(t->ports[0].console && t->ports[1].name[0] && t->ports[2].name[0] &&
			       t->ports[1].host_open);
	     k++) {
		assert_true(k < 1000);
		vcon_service(&t->d);
		t_idle(&t->d, &t->d.ctrl_rxq, 1, t->clock + VCON_WAIT_SLICE_NS);
	}
	ports[0] = &t->ports[0];
	ports[1] = vcon_find(&t->d, "alpha");
	assert_ptr_equal(ports[1], &t->ports[1]);
	assert_int_equal(vcon_open(ports[1]), 0);
	for (unsigned i = 0; i < 2; i++) {
		in[i] = malloc(LEN);
		out[i] = malloc(LEN);
		got[i] = malloc(LEN);
		assert_true(in[i] && out[i] && got[i]);
		fill_random(in[i], LEN, 100 + i);
		fill_random(out[i], LEN, 200 + i);
		host_send(t, i, in[i], LEN);
	}
	while (done[0] < LEN || done[1] < LEN || have[0] < LEN || have[1] < LEN) {
		unsigned i = rnd_below(2);

		steps++;
		switch (rnd_below(16)) {
		case 0: strict_write(t, ports[i], out[i], &done[i], LEN); break;
		case 1: strict_read(t, ports[i], got[i], &have[i], LEN, false); break;
		case 2: sdev_deliver_all(t); break; /* between two calls of the driver */
		case 3:
			/* control traffic: the host and the guest open and close port 2 */
			if (rnd_below(24) == 0) {
				if (++toggles % 2)
					host_connect(t, 2, !t->sp[2].host_connected);
				else if (t->ports[2].guest_open)
					vcon_close(&t->ports[2]);
				else
					assert_int_equal(vcon_open(&t->ports[2]), 0);
			} else if (rnd_below(8) == 0) {
				strict_quiesce(t);
			} else {
				vcon_service(&t->d);
			}
			break;
		case 4:
			if (done[0] == LEN && done[1] == LEN)
				strict_read(t, ports[i], got[i], &have[i], LEN, true);
			break;
		case 5:
			if (rnd_below(4) == 0)
				sdev_queue(t, rnd_below(2 * t->nports + 2), false);
			break;
		default: /* a slow device: the driver fills its rings and waits */
			if (rnd_below(4) == 0)
				strict_write(t, ports[i], out[i], &done[i], LEN);
			break;
		}
	}
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(vcon_flush(ports[i]), 0);
	vcon_service(&t->d);
	strict_quiesce(t);
	vcon_service(&t->d);
	strict_quiesce(t);
	vq_sim_set_mb_hook(NULL, NULL);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(t->sp[i].out_len, LEN);
		assert_memory_equal(t->sp[i].out, out[i], LEN);
		assert_memory_equal(got[i], in[i], LEN);
		free(in[i]);
		free(out[i]);
		free(got[i]);
	}
	/* the control traffic came through both ways */
	assert_true(toggles > 4);
	assert_int_equal(t->cq_head, t->cq_tail);
	assert_int_equal(t->ports[2].host_open, t->sp[2].host_connected);
	assert_int_equal(t->sp[2].guest_connected, t->ports[2].guest_open);
	assert_int_equal(t->d.st.ctrl_bad, 0);
	assert_int_equal(t->d.st.ctrl_timeouts, 0);
	assert_true(t->halts > 0 && t->halt_wakes > 0 && t->irqs > 0);
	print_message("%s: %u steps, %u waits, %llu halts (%llu woken by an interrupt), %llu "
		      "interrupts, %llu quiet checks, port 0 %llu kicks %llu device sleeps\n",
		      t->p->name, steps, t->idles, (unsigned long long)t->halts,
		      (unsigned long long)t->halt_wakes, (unsigned long long)t->irqs,
		      (unsigned long long)t->quiet_checks, (unsigned long long)t->q[1].sim.kicks,
		      (unsigned long long)t->q[1].sim.sleeps);
	t_free(t);
}

/* Recovery: a queue breaks, the device is reset and brought back (vcon_recover) */

static unsigned t_resets, t_readies;

/* What QEMU's virtio-serial forgets at a reset: the guest's opens; the rings it had popped. */
static int t_reset(struct vcon_dev *d)
{
	struct t *t = d->priv;

	t_resets++;
	for (uint32_t i = 0; i < t->nports; i++)
		t->sp[i].guest_connected = false;
	return 0;
}

/* New queues in place of the old (the glue's virtio_del_vq + virtio_setup_vq). */
static int t_setup(struct vcon_dev *d)
{
	struct t *t = d->priv;

	for (unsigned i = 0; i < NQUEUES; i++) {
		struct simq *q = &t->q[i];
		uint32_t num;

		if (!q->vq)
			continue;
		num = virtqueue_num(q->vq);
		virtqueue_destroy(q->vq);
		vq_sim_fini(&q->sim);
		vq_sim_init(&q->sim);
		q->vq = NULL;
		make_queue(t, i, num);
	}
	for (uint32_t i = 0; i < t->nports; i++) {
		t->ports[i].rxq = t->q[virtio_console_rxq(i)].vq;
		t->ports[i].txq = t->q[virtio_console_txq(i)].vq;
	}
	if (t->multiport) {
		t->d.ctrl_rxq = t->q[VIRTIO_CONSOLE_Q_CTRL_RX].vq;
		t->d.ctrl_txq = t->q[VIRTIO_CONSOLE_Q_CTRL_TX].vq;
	}
	return 0;
}

static void t_ready(struct vcon_dev *d)
{
	(void)d;
	t_readies++;
}

static const struct vcon_ops t_ops_recover = {
	.idle = t_idle,
	.clock_ns = t_clock,
	.log = t_log,
	.event = t_event,
	.reset = t_reset,
	.setup = t_setup,
	.ready = t_ready,
};

/* The device takes the oldest transmit buffer of a port and uses it. */
static void dev_tx_one(struct t *t, uint32_t id)
{
	struct simq *q = dq(t, virtio_console_txq(id));
	struct sport *sp = &t->sp[id];
	struct vq_sim_buf *b = vq_sim_pop(&q->sim);

	assert_non_null(b);
	sp->out = realloc(sp->out, sp->out_len + b->out_len);
	assert_non_null(sp->out);
	vq_sim_read(&q->sim, b, sp->out + sp->out_len, b->out_len);
	sp->out_len += b->out_len;
	vq_sim_complete(&q->sim, b, 0);
}

static size_t read_all(struct t *t, struct vcon_port *p, uint8_t *buf, size_t want)
{
	size_t have = 0;

	while (have < want) {
		ssize_t n = vcon_read(p, buf + have, want - have, true);

		assert_true(n > 0);
		have += (size_t)n;
	}
	(void)t;
	return have;
}

enum fault_at { FAULT_TX, FAULT_RX, FAULT_CTRL };

/*
 * Port 0 (console) and port 2 (opened in the guest) carry data both ways
 * while a queue breaks: the device is reset once, the ports are announced
 * again (DEVICE_READY, PORT_READY each, PORT_OPEN for the open ones), the
 * data arrives whole and once, and every buffer is back where it belongs.
 */
static void recover_run(void **state, enum fault_at at)
{
	enum { LEN = 96 * 1024 };
	struct t *t = t_three(state);
	struct vcon_port *p0 = &t->ports[0], *p2 = &t->ports[2];
	uint8_t *out = malloc(LEN), *in = malloc(LEN), *got = malloc(LEN);
	size_t half = LEN / 2;

	assert_true(out && in && got);
	fill_random(out, LEN, 7);
	fill_random(in, LEN, 8);
	t_resets = t_readies = 0;
	t->d.ops = &t_ops_recover;
	assert_int_equal(vcon_open(p2), 0);
	if (at == FAULT_TX) {
		/* Three buffers in flight, the device uses one, then the ring breaks. */
		t->tx_stuck = true;
		assert_int_equal(vcon_write(p0, out, 3 * VCON_BUF_SIZE), 3 * VCON_BUF_SIZE);
		dev_tx_one(t, 0);
		vq_sim_signal(&dq(t, 1)->sim);
		virtqueue_inject_fault(p0->txq);
		t->tx_stuck = false;
		half = 3 * VCON_BUF_SIZE;
	} else if (at == FAULT_RX) {
		/* The device fills receive buffers; the first used entry read is bad. */
		host_send(t, 0, in, LEN);
		dev_step(t);
		virtqueue_inject_fault(p0->rxq);
		half = 0;
	} else {
		/* The host opens port 1: the control message's used entry is bad. */
		virtqueue_inject_fault(t->d.ctrl_rxq);
		host_connect(t, 1, true);
		half = 0;
	}
	vcon_service(&t->d);
	assert_int_equal(t_resets, 1);
	assert_int_equal(t_readies, 1);
	assert_int_equal(t->d.st.resets, 1);
	assert_false(t->d.dead);
	assert_true(logged(t, "device reset and brought back (reset 1)"));
	/* re-announced */
	assert_int_equal(count_sent(t, 0, VIRTIO_CONSOLE_DEVICE_READY, 1), 2);
	for (uint32_t i = 0; i < 3; i++) {
		assert_true(t->ports[i].present);
		assert_int_equal(count_sent(t, i, VIRTIO_CONSOLE_PORT_READY, 1), 2);
		assert_int_equal(count_ev(t, i, VCON_EV_ADD), 1); /* the same port, not a new one */
	}
	assert_true(count_sent(t, 0, VIRTIO_CONSOLE_PORT_OPEN, 1) >= 2);
	assert_int_equal(count_sent(t, 2, VIRTIO_CONSOLE_PORT_OPEN, 1), 2);
	assert_int_equal(count_sent(t, 1, VIRTIO_CONSOLE_PORT_OPEN, 1), 0);
	assert_true(t->sp[0].guest_connected && t->sp[2].guest_connected);
	assert_false(t->sp[1].guest_connected);
	assert_int_equal(t->ports[1].host_open, at == FAULT_CTRL);
	assert_int_equal(t->d.st.ctrl_bad, 0);
	/* data flows again, whole and once, both ways, on both ports */
	assert_int_equal(vcon_write(p0, out + half, LEN - half), LEN - half);
	assert_int_equal(vcon_write(p2, out, LEN), LEN);
	assert_int_equal(vcon_flush(p0), 0);
	assert_int_equal(vcon_flush(p2), 0);
	assert_int_equal(t->sp[0].out_len, LEN);
	assert_memory_equal(t->sp[0].out, out, LEN);
	assert_int_equal(t->sp[2].out_len, LEN);
	assert_memory_equal(t->sp[2].out, out, LEN);
	if (at != FAULT_RX)
		host_send(t, 0, in, LEN);
	host_send(t, 2, in, LEN);
	read_all(t, p0, got, LEN);
	assert_memory_equal(got, in, LEN);
	read_all(t, p2, got, LEN);
	assert_memory_equal(got, in, LEN);
	assert_int_equal(p0->st.tx_resent, at == FAULT_TX ? 2 : 0);
	assert_int_equal(p0->st.tx_lost, 0);
	/* no buffer leaked: every receive buffer posted, every transmit buffer free */
	for (uint32_t i = 0; i < 3; i++) {
		struct vcon_port *p = &t->ports[i];

		vcon_service(&t->d);
		assert_int_equal(vcon_readable(p), 0);
		assert_int_equal(virtqueue_num(p->rxq) - virtqueue_num_free(p->rxq), p->nrx);
		assert_int_equal(virtqueue_num(p->txq), virtqueue_num_free(p->txq));
		assert_null(p->tx_head);
	}
	assert_int_equal(virtqueue_num(t->d.ctrl_rxq) - virtqueue_num_free(t->d.ctrl_rxq),
			 t->d.nctrl_rx);
	free(out);
	free(in);
	free(got);
	t_free(t);
}

static void test_recover_tx(void **state)
{
	recover_run(state, FAULT_TX);
}

static void test_recover_rx(void **state)
{
	recover_run(state, FAULT_RX);
}

static void test_recover_ctrl(void **state)
{
	recover_run(state, FAULT_CTRL);
}

/* Without MULTIPORT: port 0 alone, nothing to announce; data whole and once. */
static void test_recover_single_port(void **state)
{
	enum { LEN = 64 * 1024 };
	struct t *t = t_new(*state, false, 1);
	struct vcon_port *p = &t->ports[0];
	uint8_t *out = malloc(LEN), *in = malloc(LEN), *got = malloc(LEN);

	assert_true(out && in && got);
	fill_random(out, LEN, 9);
	fill_random(in, LEN, 10);
	t_start(t);
	t_resets = t_readies = 0;
	t->d.ops = &t_ops_recover;
	t->tx_stuck = true;
	assert_int_equal(vcon_write(p, out, 2 * VCON_BUF_SIZE), 2 * VCON_BUF_SIZE);
	dev_tx_one(t, 0);
	host_send(t, 0, in, LEN);
	dev_step(t); /* receive buffers filled, transmit buffers held */
	virtqueue_inject_fault(p->rxq);
	t->tx_stuck = false;
	vcon_service(&t->d);
	assert_int_equal(t_resets, 1);
	assert_int_equal(t->d.st.resets, 1);
	assert_true(logged(t, "device reset and brought back (reset 1)"));
	assert_int_equal(t->nsent, 0); /* no control queue */
	assert_int_equal(vcon_write(p, out + 2 * VCON_BUF_SIZE, LEN - 2 * VCON_BUF_SIZE),
			 LEN - 2 * VCON_BUF_SIZE);
	assert_int_equal(vcon_flush(p), 0);
	assert_int_equal(t->sp[0].out_len, LEN);
	assert_memory_equal(t->sp[0].out, out, LEN);
	read_all(t, p, got, LEN);
	assert_memory_equal(got, in, LEN);
	assert_int_equal(p->st.tx_resent, 1);
	vcon_service(&t->d);
	assert_int_equal(virtqueue_num(p->rxq) - virtqueue_num_free(p->rxq), p->nrx);
	free(out);
	free(in);
	free(got);
	t_free(t);
}

/* A device that does not confirm its reset is given up, its memory left alone. */
static int t_reset_fails(struct vcon_dev *d)
{
	(void)d;
	t_resets++;
	return -EIO;
}

static void test_recover_reset_fails(void **state)
{
	static const struct vcon_ops ops = {
		.idle = t_idle,
		.clock_ns = t_clock,
		.log = t_log,
		.event = t_event,
		.reset = t_reset_fails,
		.setup = t_setup,
		.ready = t_ready,
	};
	struct t *t = t_three(state);
	struct virtqueue *old = t->ports[0].txq;

	t_resets = 0;
	t->d.ops = &ops;
	t->tx_stuck = true;
	assert_int_equal(vcon_write(&t->ports[0], "abc", 3), 3);
	dev_tx_one(t, 0);
	virtqueue_inject_fault(old);
	vcon_service(&t->d);
	assert_int_equal(t_resets, 1);
	assert_true(t->d.dead);
	assert_ptr_equal(t->ports[0].txq, old); /* not replaced, not freed */
	assert_true(logged(t, "it cannot be brought back (-5): given up"));
	assert_int_equal(vcon_write(&t->ports[0], "abc", 3), -EIO);
	assert_int_equal(vcon_read(&t->ports[0], (char[4]){0}, 4, false), -EIO);
	vcon_service(&t->d);
	assert_int_equal(t_resets, 1);
	t_free(t);
}

static int setup(void **state)
{
	(void)state;
	return 0;
}

#define BOTH(fn)                                                                   \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, NULL, (void *)&split), \
		cmocka_unit_test_prestate_setup_teardown(fn, setup, NULL, (void *)&packed)

int main(void)
{
	const struct CMUnitTest console[] = {
		BOTH(test_bringup_multiport),
		BOTH(test_bringup_many_ports),
		BOTH(test_single_port),
		BOTH(test_init_refuses_bad_setup),
		BOTH(test_rx_buffers_return_only_when_read),
		BOTH(test_rx_random_sizes),
		BOTH(test_rx_unopened_port_dropped),
		BOTH(test_tx_split_and_wait),
		BOTH(test_tx_needs_host),
		BOTH(test_open_close_and_eof),
		BOTH(test_remove_and_add_again),
		BOTH(test_ctrl_timeout),
		BOTH(test_tx_stall),
		BOTH(test_flush_stall),
		BOTH(test_ctrl_flapping_port),
		BOTH(test_ctrl_busy_device),
		BOTH(test_resize),
		BOTH(test_bad_control_messages),
		BOTH(test_port_name_forms),
		BOTH(test_strict_device),
		BOTH(test_recover_tx),
		BOTH(test_recover_rx),
		BOTH(test_recover_ctrl),
		BOTH(test_recover_single_port),
		BOTH(test_recover_reset_fails),
	};

	return cmocka_run_group_tests_name("console", console, NULL, NULL);
}
