/*
 * The virtio console driver (VIRTIO 1.2 section 5.3) in the kernel: binds
 * the portable core (console_ctrl.c, console_port.c) to a virtio device.
 * It waits for the device by interrupt on queues that have shown they
 * have one and by polling otherwise, makes the first console port the
 * kernel's stdin/stdout/stderr (lib/kernel/console.c), writes panics through
 * emerg_wr when VIRTIO_CONSOLE_F_EMERG_WRITE is negotiated, and adds the
 * shell's `vcon` command. Named ports are files (console_vport.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/console.h>
#include <kernel/kernel.h>
#include <kernel/registry.h>
#include <virtio/virtio.h>
#include <virtio/virtio_console.h>
#include <virtio/vport.h>

#include "console_kdev.h"

/* vcon.fault=ctrl-mute: how long QEMU's start-up notifications get to pass first. */
#define KVCON_MUTE_SETTLE_NS (200ull * 1000 * 1000)

#define KVCON_FEATURES                                                                \
	(VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE) | VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT) | \
	 VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE))

/* Port queues: the core uses VCON_RX_BUFS / VCON_TX_BUFS descriptors of each. */
#define VCON_QUEUE_SIZE 64

struct vcon_kdev *vcon_kdevs;
static struct vcon_kdev *emerg_dev;

static void kvcon_fault_check(struct vcon_kdev *k);

static void kvcon_config_sync(struct vcon_kdev *k)
{
	uint16_t cols, rows;

	k->config_changed = false;
	if (!virtio_has_feature(k->vd, VIRTIO_CONSOLE_F_SIZE))
		return;
	virtio_config_read(k->vd, offsetof(struct virtio_console_config, cols), &cols, 2);
	virtio_config_read(k->vd, offsetof(struct virtio_console_config, rows), &rows, 2);
	/* 5.3.6: the configuration's size applies to port 0 only. */
	if (k->ports[0].present)
		vcon_size_from_config(&k->ports[0], le16_to_cpu(cols), le16_to_cpu(rows));
}

uint64_t kvcon_enter(struct vcon_kdev *k)
{
	uint64_t flags = irq_save();

	k->depth++;
	if (k->config_changed && k->depth == 1)
		kvcon_config_sync(k);
	if (k->depth == 1)
		kvcon_fault_check(k);
	return flags;
}

void kvcon_leave(struct vcon_kdev *k, uint64_t flags)
{
	k->depth--;
	irq_restore(flags);
}

/*
 * A queue with no interrupt (virtio_vq_has_irq false) is polled: its
 * callbacks stay off (the device is asked not to notify it), and the
 * waiter reads the used ring's index (virtqueue_more_used, no buffer taken)
 * with interrupts off, one round after another, until one of the queues
 * has a used buffer, VCON_POLL_SLICE_NS has passed or the deadline. Each
 * round opens a one-instruction interrupt window for the rest of the
 * machine (the timer, other devices). k->polls counts the rounds,
 * k->poll_hits the waits a used buffer ended.
 */
#define VCON_POLL_SLICE_NS 1000000ull

static void kvcon_poll(struct vcon_kdev *k, struct virtqueue *const *vqs, unsigned n,
		       uint64_t deadline)
{
	uint64_t end = clock_ns() + VCON_POLL_SLICE_NS;

	if (end > deadline)
		end = deadline;
	for (unsigned i = 0; i < n; i++)
		if (!virtio_vq_has_irq(vqs[i]))
			virtqueue_disable_cb(vqs[i]);
	for (;;) {
		k->polls++;
		for (unsigned i = 0; i < n; i++) {
			if (virtqueue_more_used(vqs[i]) || virtqueue_is_broken(vqs[i])) {
				k->poll_hits++;
				return;
			}
		}
		if (clock_ns() >= end)
			return;
		__asm__ volatile("sti; nop; cli" ::: "memory");
		cpu_relax();
	}
}

/*
 * Halt only when every queue waited on has an interrupt (its own or a
 * shared MSI-X entry, or INTx: virtio_vq_has_irq); a wait on a polled
 * queue polls (kvcon_poll). The halt ends at the deadline at the latest
 * (cpu_idle_ns arms the local APIC timer): a device that never interrupts
 * cannot hold the caller past its timeout, and there is no periodic tick
 * to rely on. Called with interrupts off; `sti; hlt` takes an interrupt
 * that is already pending, so a wakeup between the check and the halt is
 * not lost.
 */
void kvcon_idle(struct vcon_dev *d, struct virtqueue *const *vqs, unsigned n, uint64_t deadline)
{
	uint64_t now = clock_ns();

	if (now >= deadline)
		return;
	if (d->dead) {
		cpu_relax(); /* given up: its queues may be gone, nothing to wait for */
		return;
	}
	if (n == 0) {
		__asm__ volatile("sti; nop; cli" ::: "memory");
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!virtio_vq_has_irq(vqs[i])) {
			kvcon_poll(d->priv, vqs, n, deadline);
			return;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (!virtqueue_enable_cb(vqs[i]) || virtqueue_is_broken(vqs[i])) {
			/* used buffers already waiting */
			__asm__ volatile("sti; nop; cli" ::: "memory");
			return;
		}
	}
	cpu_idle_ns(deadline - now);
}

/* Interrupt context: the waiter does the work; no more interrupts until it asks. */
static void kvcon_vq_irq(struct virtqueue *vq)
{
	virtqueue_disable_cb(vq);
}

static void kvcon_config_irq(struct virtio_device *vd)
{
	struct vcon_kdev *k = vd->priv;

	if (k)
		k->config_changed = true;
}

static uint64_t kvcon_clock(void)
{
	return clock_ns();
}

static void kvcon_log(struct vcon_dev *d, const char *fmt, ...)
{
	struct vcon_kdev *k = d->priv;
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	kprintf("vcon: %s: %s\n", k->vd->name, buf);
}

/* stdio console: "\n" becomes "\r\n" for a terminal unless output is raw. */
static void kvcon_con_write(struct console *c, const char *buf, size_t len)
{
	struct vcon_kdev *k = container_of(c, struct vcon_kdev, con);
	static bool error_logged;
	uint64_t flags;
	ssize_t rc = 0;

	if (k->depth || !k->stdio)
		return; /* a log line from inside the driver (console=mirror): the UART has it */
	flags = kvcon_enter(k);
	if (console_raw()) {
		rc = vcon_write(k->stdio, buf, len);
	} else {
		char out[512];
		size_t i = 0;

		while (i < len && rc >= 0) {
			size_t n = 0;

			while (i < len && n + 2 <= sizeof(out)) {
				if (buf[i] == '\n')
					out[n++] = '\r';
				out[n++] = buf[i++];
			}
			rc = vcon_write(k->stdio, out, n);
		}
	}
	kvcon_leave(k, flags);
	if (rc < 0 && !error_logged) {
		error_logged = true;
		kprintf("vcon: %s: console write failed (%d): output lost\n", k->vd->name, (int)rc);
	}
}

static size_t kvcon_con_read(struct console *c, char *buf, size_t len)
{
	struct vcon_kdev *k = container_of(c, struct vcon_kdev, con);
	uint64_t flags;
	ssize_t n;

	if (!k->stdio)
		return 0;
	flags = kvcon_enter(k);
	n = vcon_read(k->stdio, buf, len, false);
	kvcon_leave(k, flags);
	return n > 0 ? (size_t)n : 0;
}

static void kvcon_con_wait(struct console *c)
{
	struct vcon_kdev *k = container_of(c, struct vcon_kdev, con);
	uint64_t flags;

	if (!k->stdio)
		return;
	flags = kvcon_enter(k);
	kvcon_idle(&k->core, &k->stdio->rxq, 1, clock_ns() + VCON_WAIT_SLICE_NS);
	kvcon_leave(k, flags);
}

static void kvcon_con_flush(struct console *c)
{
	struct vcon_kdev *k = container_of(c, struct vcon_kdev, con);
	uint64_t flags;

	if (k->depth || !k->stdio)
		return;
	flags = kvcon_enter(k);
	vcon_flush(k->stdio);
	kvcon_leave(k, flags);
}

/* emerg_wr (5.3.4): one byte per 32-bit write, usable in any state of the device. */
static void kvcon_emerg_write(const char *buf, size_t len)
{
	struct vcon_kdev *k = emerg_dev;

	for (size_t i = 0; k && i < len; i++) {
		uint32_t v;

		if (buf[i] == '\n') {
			v = cpu_to_le32('\r');
			virtio_config_write(k->vd, offsetof(struct virtio_console_config, emerg_wr),
					    &v, 4);
		}
		v = cpu_to_le32((uint8_t)buf[i]);
		virtio_config_write(k->vd, offsetof(struct virtio_console_config, emerg_wr), &v, 4);
	}
}

static void kvcon_stdio_take(struct vcon_kdev *k, struct vcon_port *p)
{
	unsigned index = 0;

	for (struct vcon_kdev *o = vcon_kdevs; o; o = o->next)
		if (o->stdio)
			return; /* the first console port keeps stdio */
	for (struct vcon_kdev *o = vcon_kdevs; o && o != k; o = o->next)
		index++;
	snprintf(k->con_name, sizeof(k->con_name), "vport%up%u", index, p->id);
	k->con.name = k->con_name;
	k->con.write = kvcon_con_write;
	k->con.read = kvcon_con_read;
	k->con.wait = kvcon_con_wait;
	k->con.flush = kvcon_con_flush;
	k->con.flags = 0;
	k->stdio = p;
	console_register(&k->con);
	if (console_takeover(&k->con))
		kprintf("vcon: %s: port %u is the console: stdin, stdout and stderr are on it%s\n",
			k->vd->name, p->id,
			k->con.flags & CONSOLE_LOG ? ", mirrored with the UART" : "");
	else
		kprintf("vcon: %s: port %u is a console; console=uart keeps stdio on the UART\n",
			k->vd->name, p->id);
}

static void kvcon_event(struct vcon_dev *d, struct vcon_port *p, enum vcon_event ev)
{
	struct vcon_kdev *k = d->priv;

	switch (ev) {
	case VCON_EV_CONSOLE: kvcon_stdio_take(k, p); break;
	case VCON_EV_REMOVE:
		if (p == k->stdio) {
			console_release(&k->con);
			k->stdio = NULL;
			kprintf("vcon: %s: console port %u removed: stdio back on %s\n",
				k->vd->name, p->id, console_stdio_name());
			return;
		}
		break;
	default: break;
	}
	if (ev == VCON_EV_RESIZE)
		kprintf("vcon: %s: port %u: size %ux%u\n", k->vd->name, p->id, p->cols, p->rows);
	else if (ev != VCON_EV_CONSOLE)
		kprintf("vcon: %s: port %u%s%s%s: %s\n", k->vd->name, p->id, p->name[0] ? " '" : "",
			p->name, p->name[0] ? "'" : "", vcon_event_name(ev));
}

static void kvcon_del_vqs(struct vcon_kdev *k)
{
	for (unsigned i = 0; i < VCON_MAX_QUEUES; i++)
		if (k->vqs[i])
			virtio_del_vq(k->vd, k->vqs[i]);
	memset(k->vqs, 0, sizeof(k->vqs));
}

static int kvcon_setup_vqs(struct vcon_kdev *k);

/* struct vcon_ops.reset: the device must come back with the features the ports were set up for. */
static int kvcon_reset(struct vcon_dev *d)
{
	struct vcon_kdev *k = d->priv;
	uint64_t had = k->vd->features;
	int rc;

	if (virtio_restart(k->vd))
		return -EIO; /* it may still use the rings: they and the buffers stay */
	rc = virtio_negotiate(k->vd, KVCON_FEATURES);
	if (rc == 0 && k->vd->features != had)
		rc = -EPROTO;
	return rc;
}

/* struct vcon_ops.setup: the device was reset; the old queues can go. */
static int kvcon_setup(struct vcon_dev *d)
{
	struct vcon_kdev *k = d->priv;
	uint32_t nports = d->nports;
	int rc;

	kvcon_del_vqs(k);
	rc = kvcon_setup_vqs(k);
	if (rc == 0 && d->nports != nports)
		rc = -ENOSPC; /* fewer ports than the files and buffers were made for */
	return rc;
}

static void kvcon_ready(struct vcon_dev *d)
{
	struct vcon_kdev *k = d->priv;

	virtio_device_ready(k->vd);
}

static const struct vcon_ops kvcon_ops = {
	.idle = kvcon_idle,
	.clock_ns = kvcon_clock,
	.log = kvcon_log,
	.event = kvcon_event,
	.reset = kvcon_reset,
	.setup = kvcon_setup,
	.ready = kvcon_ready,
};

static int kvcon_port_vqs(struct vcon_kdev *k, uint32_t port)
{
	unsigned rx = virtio_console_rxq(port), tx = virtio_console_txq(port);
	int rc;

	if ((rc = virtio_setup_vq(k->vd, rx, VCON_QUEUE_SIZE, kvcon_vq_irq, &k->vqs[rx])) ||
	    (rc = virtio_setup_vq(k->vd, tx, VCON_QUEUE_SIZE, kvcon_vq_irq, &k->vqs[tx])))
		return rc;
	k->ports[port].rxq = k->vqs[rx];
	k->ports[port].txq = k->vqs[tx];
	return 0;
}

/*
 * Port 0, the control queues, then the other ports. A port whose queues
 * the transport cannot make (it has a fixed table) ends the list: the
 * ports before it are driven, and the device's messages about the
 * others are refused as for ports that do not exist.
 */
static int kvcon_setup_vqs(struct vcon_kdev *k)
{
	struct vcon_dev *d = &k->core;
	int rc;

	if ((rc = kvcon_port_vqs(k, 0)) != 0)
		return rc;
	if (!d->multiport)
		return 0;
	if ((rc = virtio_setup_vq(k->vd, VIRTIO_CONSOLE_Q_CTRL_RX, 0, kvcon_vq_irq,
				  &k->vqs[VIRTIO_CONSOLE_Q_CTRL_RX])) ||
	    (rc = virtio_setup_vq(k->vd, VIRTIO_CONSOLE_Q_CTRL_TX, 0, kvcon_vq_irq,
				  &k->vqs[VIRTIO_CONSOLE_Q_CTRL_TX])))
		return rc;
	d->ctrl_rxq = k->vqs[VIRTIO_CONSOLE_Q_CTRL_RX];
	d->ctrl_txq = k->vqs[VIRTIO_CONSOLE_Q_CTRL_TX];
	for (uint32_t i = 1; i < d->nports; i++) {
		if ((rc = kvcon_port_vqs(k, i)) != 0) {
			kprintf("vcon: %s: no queues for port %u (%d): driving ports 0-%u\n",
				k->vd->name, i, rc, i - 1);
			d->nports = i;
			break;
		}
	}
	return 0;
}

/* The number of ports to drive: what the device offers, within what we and the queues allow. */
static uint32_t kvcon_nports(struct vcon_kdev *k)
{
	uint16_t nq = k->vd->ops->num_queues(k->vd);
	uint32_t max;
	le32 raw;

	if (!k->core.multiport)
		return 1;
	virtio_config_read(k->vd, offsetof(struct virtio_console_config, max_nr_ports), &raw, 4);
	max = le32_to_cpu(raw);
	if (max > VCON_MAX_PORTS) {
		kprintf("vcon: %s: device has %u ports, driving the first %u\n", k->vd->name, max,
			VCON_MAX_PORTS);
		max = VCON_MAX_PORTS;
	}
	if (nq < 4)
		return 0;
	if (max > nq / 2u - 1u) {
		kprintf("vcon: %s: %u ports but %u queues: driving %u\n", k->vd->name, max, nq,
			nq / 2u - 1u);
		max = nq / 2u - 1u;
	}
	return max;
}

/*
 * Fault injection for tests: vcon.fault=ctrl-mute queues control messages
 * without notifying the device, which then never answers (a silent device).
 */
static bool kvcon_fault(const char *name)
{
	const char *v = cmdline_get(&kernel_cmdline, "vcon.fault");

	return v && strcmp(v, name) == 0;
}

/*
 * vcon.fault=rx@N / tx@N / ctrl@N: once N buffers of port 0's receive or
 * transmit queue or of the control receive queue completed, the next used
 * entry is taken as bad (virtqueue_inject_fault): the queue breaks as on
 * a real device and the driver recovers (vcon_recover).
 */
static void kvcon_fault_parse(struct vcon_kdev *k)
{
	static const char *const names[] = {"rx@", "tx@", "ctrl@"};
	const char *v = cmdline_get(&kernel_cmdline, "vcon.fault");

	for (unsigned i = 0; v && i < 3; i++) {
		size_t n = strlen(names[i]);

		if (strncmp(v, names[i], n) == 0 && v[n] >= '0' && v[n] <= '9') {
			k->fault_queue = (int)i;
			k->fault_after = strtoull(v + n, NULL, 10);
			return;
		}
	}
	k->fault_queue = -1;
}

static void kvcon_fault_check(struct vcon_kdev *k)
{
	struct virtqueue *vq;

	if (k->fault_queue < 0 || k->core.dead)
		return;
	vq = k->fault_queue == 0   ? k->ports[0].rxq
	     : k->fault_queue == 1 ? k->ports[0].txq
				   : k->core.ctrl_rxq;
	if (vq && virtqueue_stats(vq)->used >= k->fault_after) {
		kprintf("vcon: %s: fault injected on queue %u after %llu buffers\n", k->vd->name,
			virtqueue_index(vq), (unsigned long long)k->fault_after);
		virtqueue_inject_fault(vq);
		k->fault_queue = -1; /* once */
	}
}

static int kvcon_probe(struct virtio_device *vd)
{
	struct vcon_kdev *k;
	uint64_t flags;
	int rc;

	if ((rc = virtio_negotiate(vd, KVCON_FEATURES)) != 0)
		return rc;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->vd = vd;
	k->core.ops = &kvcon_ops;
	k->core.priv = k;
	k->core.ports = k->ports;
	k->core.multiport = virtio_has_feature(vd, VIRTIO_CONSOLE_F_MULTIPORT);
	k->core.fault_ctrl_mute = kvcon_fault("ctrl-mute");
	kvcon_fault_parse(k);
	k->core.nports = kvcon_nports(k);
	if (k->core.nports == 0) {
		kprintf("vcon: %s: MULTIPORT with no port or no control queues: not used\n",
			vd->name);
		free(k);
		return -ENODEV;
	}
	if ((rc = kvcon_setup_vqs(k)) != 0 || (rc = vcon_init(&k->core)) != 0) {
		kprintf("vcon: %s: queue set-up failed (%d)\n", vd->name, rc);
		goto fail;
	}
	vd->priv = k;
	vd->config_changed = kvcon_config_irq;
	k->next = NULL;
	for (struct vcon_kdev **pp = &vcon_kdevs;; pp = &(*pp)->next) {
		if (!*pp) {
			*pp = k;
			break;
		}
	}
	virtio_device_ready(vd);
	/*
	 * vcon.fault=ctrl-mute tests a device that never takes a control
	 * message. QEMU (virtio-pci with ioeventfd, its default) notifies
	 * every queue once when DRIVER_OK is set, from its main loop, a little
	 * later: a DEVICE_READY queued before that ran would be taken without
	 * a kick, and the fault would test nothing (seen under load in CI).
	 */
	if (k->core.fault_ctrl_mute)
		ndelay(KVCON_MUTE_SETTLE_NS);
	flags = kvcon_enter(k);
	rc = vcon_start(&k->core);
	kvcon_config_sync(k);
	kvcon_leave(k, flags);
	if (rc) {
		kprintf("vcon: %s: the device did not take DEVICE_READY (%d)\n", vd->name, rc);
		for (struct vcon_kdev **pp = &vcon_kdevs; *pp; pp = &(*pp)->next) {
			if (*pp == k) {
				*pp = k->next;
				break;
			}
		}
		vd->config_changed = NULL;
		goto fail;
	}
	if (virtio_has_feature(vd, VIRTIO_CONSOLE_F_EMERG_WRITE) && !emerg_dev) {
		emerg_dev = k;
		console_set_emergency(kvcon_emerg_write);
	}
	kvcon_vport_init();
	kprintf("vcon: %s: %u port%s%s, %s ring, emergency write %s, size %s\n", vd->name,
		k->core.nports, k->core.nports == 1 ? "" : "s",
		k->core.multiport ? " (multiport)" : "",
		virtqueue_layout(k->ports[0].rxq) == VQ_PACKED ? "packed" : "split",
		virtio_has_feature(vd, VIRTIO_CONSOLE_F_EMERG_WRITE) ? "on" : "off",
		virtio_has_feature(vd, VIRTIO_CONSOLE_F_SIZE) ? "from the device"
							      : "unknown (no F_SIZE)");
	return 0;
fail:
	/* The device lets go of the rings before they are freed; if it does not, they stay. */
	if (virtio_reset(vd)) {
		vd->priv = NULL;
		return rc;
	}
	kvcon_del_vqs(k);
	vcon_free(&k->core);
	vd->priv = NULL;
	free(k);
	return rc;
}

/* 5.3.3 Feature bits: the `virtio` command's names. */
static const struct virtio_feature_name kvcon_feature_names[] = {
	{VIRTIO_CONSOLE_F_SIZE, "SIZE"},
	{VIRTIO_CONSOLE_F_MULTIPORT, "MULTIPORT"},
	{VIRTIO_CONSOLE_F_EMERG_WRITE, "EMERG_WRITE"},
	{0, NULL},
};

VIRTIO_DRIVER(virtio_console, VIRTIO_ID_CONSOLE, kvcon_probe, kvcon_feature_names);

int vport_console_size(uint16_t *cols, uint16_t *rows)
{
	for (struct vcon_kdev *k = vcon_kdevs; k; k = k->next) {
		uint64_t flags;
		bool known;

		if (!k->stdio || !(k->con.flags & CONSOLE_STDIO))
			continue;
		k->config_changed = true; /* re-read: without MSI-X no change is signalled */
		flags = kvcon_enter(k);
		vcon_service(&k->core);
		known = k->stdio->has_size;
		*cols = k->stdio->cols;
		*rows = k->stdio->rows;
		kvcon_leave(k, flags);
		if (!known) {
			errno = ENOTSUP;
			return -1;
		}
		return 0;
	}
	errno = ENODEV;
	return -1;
}

static void print_port(const struct vcon_kdev *k, const struct vcon_port *p)
{
	const struct vcon_port_stats *s = &p->st;

	printf("  port %-2u %-20s %s%s, host %s, guest %s", p->id, p->name[0] ? p->name : "-",
	       p->console ? "console" : "port",
	       p == k->stdio && (k->con.flags & CONSOLE_STDIO) ? " (stdio)" : "",
	       p->host_open ? "open" : "closed", p->guest_open ? "open" : "closed");
	if (p->has_size)
		printf(", size %ux%u\n", p->cols, p->rows);
	else
		printf(", size unknown\n");
	printf("          rx %llu bytes in %llu buffers (%zu unread, %llu dropped), tx %llu bytes "
	       "in "
	       "%llu buffers (%llu waits, %llu dropped%s), host opened %llu closed %llu\n",
	       (unsigned long long)s->rx_bytes, (unsigned long long)s->rx_bufs, vcon_readable(p),
	       (unsigned long long)s->rx_dropped, (unsigned long long)s->tx_bytes,
	       (unsigned long long)s->tx_bufs, (unsigned long long)s->tx_waits,
	       (unsigned long long)s->tx_dropped, p->tx_stalled ? ", stalled" : "",
	       (unsigned long long)s->host_opens, (unsigned long long)s->host_closes);
	if (s->tx_resent || s->tx_lost)
		printf("          after resets: %llu transmit buffers sent again, %llu bytes "
		       "lost\n",
		       (unsigned long long)s->tx_resent, (unsigned long long)s->tx_lost);
}

/*
 * Printing goes to stdio, which may be this driver: the state is brought
 * up to date inside the driver, and printed outside it.
 */
KCMD(vcon, "virtio console devices and their ports")
{
	unsigned n = 0;

	for (struct vcon_kdev *k = vcon_kdevs; k; k = k->next, n++) {
		const struct vcon_dev_stats *s = &k->core.st;
		uint64_t flags = kvcon_enter(k);

		vcon_service(&k->core);
		kvcon_leave(k, flags);
		printf("%s: %u port%s, %s, emergency write %s, size %s\n", k->vd->name,
		       k->core.nports, k->core.nports == 1 ? "" : "s",
		       k->core.multiport ? "multiport" : "single port",
		       virtio_has_feature(k->vd, VIRTIO_CONSOLE_F_EMERG_WRITE) ? "on" : "off",
		       virtio_has_feature(k->vd, VIRTIO_CONSOLE_F_SIZE)
			       ? "from the device (F_SIZE)"
			       : "unknown unless the device sends RESIZE (no F_SIZE)");
		if (k->polls)
			printf("  polled: %llu rounds, %llu waits ended by a used buffer\n",
			       (unsigned long long)k->polls, (unsigned long long)k->poll_hits);
		if (s->resets || k->core.dead)
			printf("  reset and brought back %llu times%s\n",
			       (unsigned long long)s->resets,
			       k->core.dead ? ", then given up" : "");
		if (k->core.multiport)
			printf("  control: %llu received (%llu refused), %llu sent (%llu not taken "
			       "in time), %llu passes cut short\n",
			       (unsigned long long)s->ctrl_rx, (unsigned long long)s->ctrl_bad,
			       (unsigned long long)s->ctrl_tx, (unsigned long long)s->ctrl_timeouts,
			       (unsigned long long)s->ctrl_budget);
		for (uint32_t i = 0; i < k->core.nports; i++)
			if (k->ports[i].present)
				print_port(k, &k->ports[i]);
	}
	if (n == 0)
		printf("no virtio console\n");
	return 0;
}
