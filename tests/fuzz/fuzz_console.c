/*
 * libFuzzer target for the virtio console core (drivers/virtio/console_ctrl.c
 * and console_port.c, unchanged, on the real split ring) against a
 * multiport device the input drives (VIRTIO 1.2 5.3.6.2): control messages
 * of any shape and order, ports that send, keep or flood buffers, hostile
 * used entries; the driver side opens, closes, writes, reads and flushes.
 *
 * Input: one byte of set-up (multiport, port count), then a script, one
 * selector byte per operation plus its arguments. The device also acts
 * from inside the driver's waits (the idle hook takes the next device
 * operation of the script), as a real one would while the driver halts.
 *
 * Always checked (abort, so libFuzzer reports a crash):
 *  - every wait passes a deadline, the clock never has to pass it for the
 *    driver to go on, and no call waits more than IDLE_LIMIT times
 *    (a livelock: the budgets and the flap limit must end it);
 *  - port state stays coherent: a flapping port is not present, a present
 *    one has its buffers, names are short, printable and without '/';
 *  - FIFOs and free lists never hold more buffers than the port has;
 *  - vcon_free gives back every DMA block.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <virtio/vcon.h>
#include <virtio/virtio_config.h>
#include <virtio/virtio_console.h>
#include <virtio/virtio_ring.h>
#include <virtio/virtqueue.h>

#include "fuzz_host.h"
#include "fuzz_script.h"

#define NPORTS	   4
#define NQUEUES	   (2 * NPORTS + 2)
#define PORT_QSIZE 64
#define CTRL_QSIZE 32
#define IDLE_LIMIT 100000u /* waits in one driver call: more is a hang */
#define MSG_MAX	   300

static struct {
	struct fz_script in;
	uint64_t clock;
	unsigned idles; /* in the current driver call */
	bool trace;
	struct fz_splitq q[NQUEUES];
	struct vcon_dev d;
	struct vcon_port ports[NPORTS];
} F;

static void bug(const char *what)
{
	fz_bug("fuzz_console", what);
}

static bool more(void)
{
	return fz_more(&F.in);
}

static uint8_t u8(void)
{
	return fz_u8(&F.in);
}

/* The device */

/* Write len bytes into the device-writable buffer head and use it with used_len. */
static void fq_fill(struct fz_splitq *q, int head, const void *src, uint32_t len, uint32_t used_len)
{
	struct vring_desc *dsc = &q->desc[head];
	uint32_t cap = le32_to_cpu(dsc->len);

	if (!(le16_to_cpu(dsc->flags) & VRING_DESC_F_WRITE))
		bug("a receive buffer is not device-writable");
	if (!fuzz_dma_contains((void *)(uintptr_t)le64_to_cpu(dsc->addr), cap))
		bug("a buffer outside the driver's DMA memory");
	if (len > cap)
		len = cap;
	memcpy((void *)(uintptr_t)le64_to_cpu(dsc->addr), src, len);
	fz_splitq_used(q, (uint32_t)head, used_len);
}

/* Use every buffer the driver made available on q (a transmit queue) as read. */
static void fq_take_all(struct fz_splitq *q)
{
	int head;

	while ((head = fz_splitq_pop(q)) >= 0) {
		struct vring_desc *dsc = &q->desc[head];

		if (le16_to_cpu(dsc->flags) & VRING_DESC_F_WRITE)
			bug("a transmit buffer is device-writable");
		if (!fuzz_dma_contains((void *)(uintptr_t)le64_to_cpu(dsc->addr),
				       le32_to_cpu(dsc->len)))
			bug("a buffer outside the driver's DMA memory");
		fz_splitq_used(q, (uint32_t)head, 0);
	}
}

static struct fz_splitq *port_q(unsigned port, bool tx)
{
	port %= NPORTS;
	return &F.q[tx ? virtio_console_txq(port) : virtio_console_rxq(port)];
}

/* One device operation from the script. Returns: false when the script has ended. */
static bool device_step(void)
{
	uint8_t msg[MSG_MAX];
	struct fz_splitq *q;
	int head;

	if (!more())
		return false;
	switch (u8() % 7) {
	case 0: { /* a control message, raw */
		uint32_t len = u8(), used = len;

		for (uint32_t i = 0; i < len; i++)
			msg[i] = u8();
		if ((head = fz_splitq_pop(&F.q[VIRTIO_CONSOLE_Q_CTRL_RX])) >= 0)
			fq_fill(&F.q[VIRTIO_CONSOLE_Q_CTRL_RX], head, msg, len, used);
		break;
	}
	case 1: { /* a control message made of id, event, value, and a short payload */
		struct virtio_console_control c;
		uint32_t extra;

		c.id = cpu_to_le32(u8() % (NPORTS + 2));
		c.event = cpu_to_le16(u8() % 10);
		c.value = cpu_to_le16(u8() % 3);
		extra = u8() % 16;
		memcpy(msg, &c, sizeof(c));
		for (uint32_t i = 0; i < extra; i++)
			msg[sizeof(c) + i] = u8();
		if ((head = fz_splitq_pop(&F.q[VIRTIO_CONSOLE_Q_CTRL_RX])) >= 0)
			fq_fill(&F.q[VIRTIO_CONSOLE_Q_CTRL_RX], head, msg,
				(uint32_t)sizeof(c) + extra, (uint32_t)sizeof(c) + extra);
		break;
	}
	case 2: fq_take_all(&F.q[VIRTIO_CONSOLE_Q_CTRL_TX]); break;
	case 3: { /* bytes for a port */
		uint32_t len;

		q = port_q(u8(), false);
		len = u8();
		for (uint32_t i = 0; i < len; i++)
			msg[i] = u8();
		if ((head = fz_splitq_pop(q)) >= 0)
			fq_fill(q, head, msg, len, len);
		break;
	}
	case 4: fq_take_all(port_q(u8(), true)); break;
	case 5: { /* a used entry the driver never made available, or a wild length */
		uint8_t sel = u8() % NQUEUES;
		uint16_t id = fz_u16(&F.in);
		uint32_t len = fz_u16(&F.in);

		q = &F.q[sel];
		if (q->vq)
			fz_splitq_used(q, id, len);
		break;
	}
	default: break; /* the device does nothing this time */
	}
	return true;
}

/* The driver's hooks */

static void f_idle(struct vcon_dev *d, struct virtqueue *const *vqs, unsigned n, uint64_t deadline)
{
	(void)d;
	(void)vqs;
	(void)n;
	if (deadline == 0 || deadline == UINT64_MAX)
		bug("the driver waits with no deadline");
	if (++F.idles > IDLE_LIMIT)
		bug("the driver waited IDLE_LIMIT times in one call: it would hang");
	/* 1 ms per wait while the device acts; once the script is over, the timer fires. */
	if (F.clock < deadline)
		F.clock += deadline - F.clock < 1000000 ? deadline - F.clock : 1000000;
	if (!device_step())
		F.clock = F.clock > deadline ? F.clock : deadline;
}

static uint64_t f_clock(void)
{
	return F.clock;
}

static void f_log(struct vcon_dev *d, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	(void)d;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (F.trace)
		fprintf(stderr, "vcon: %s\n", buf);
}

static const struct vcon_ops f_ops = {
	.idle = f_idle,
	.clock_ns = f_clock,
	.log = f_log,
};

/* Invariants */

static unsigned list_len(const struct vcon_buf *b, unsigned max)
{
	unsigned n = 0;

	for (; b; b = b->next)
		if (++n > max)
			bug("a buffer list longer than the port's buffers (a cycle?)");
	return n;
}

static void check_ports(void)
{
	for (uint32_t i = 0; i < F.d.nports; i++) {
		const struct vcon_port *p = &F.ports[i];
		size_t n = strnlen(p->name, sizeof(p->name));

		if (n > VCON_NAME_MAX)
			bug("a port name without its NUL");
		for (size_t k = 0; k < n; k++)
			if ((uint8_t)p->name[k] < 0x20 || p->name[k] == 0x7f || p->name[k] == '/')
				bug("a port name with a control character or '/'");
		if (p->flapping && p->present)
			bug("a flapping port is present");
		if (p->present && !p->bufs_ready)
			bug("a present port without its buffers");
		list_len(p->rx_head, p->nrx);
		list_len(p->tx_free, p->ntx);
	}
}

/* Set-up and the script */

static int make_queue(unsigned index, uint32_t num)
{
	return fz_splitq_create(&F.q[index], "fuzz-vcon", index, num,
				VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

static void teardown(void)
{
	vcon_free(&F.d);
	for (unsigned i = 0; i < NQUEUES; i++)
		if (F.q[i].vq)
			virtqueue_destroy(F.q[i].vq);
	if (fuzz_dma_live() != 0)
		bug("DMA blocks left after vcon_free and virtqueue_destroy");
}

static void driver_step(void)
{
	uint8_t buf[2 * VCON_BUF_SIZE + 16];
	struct vcon_port *p = &F.ports[u8() % F.d.nports];
	uint32_t n;

	F.idles = 0;
	switch (u8() % 8) {
	case 0: vcon_service(&F.d); break;
	case 1: vcon_open(p); break;
	case 2: vcon_close(p); break;
	case 3:
		n = fz_u16(&F.in) % sizeof(buf);
		memset(buf, 'w', n);
		vcon_write(p, buf, n);
		break;
	case 4: vcon_read(p, buf, fz_u16(&F.in) % sizeof(buf), false); break;
	case 5: vcon_flush(p); break;
	case 6: vcon_size_from_config(&F.ports[0], fz_u16(&F.in), fz_u16(&F.in)); break;
	default: {
		char name[8] = {0};

		for (unsigned i = 0; i < 7; i++)
			name[i] = (char)('a' + u8() % 4);
		vcon_find(&F.d, name);
		break;
	}
	}
	check_ports();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t setup;

	memset(&F, 0, sizeof(F));
	F.in = (struct fz_script){data, size, 0};
	F.trace = getenv("FUZZ_TRACE") != NULL;
	setup = u8();
	F.d.multiport = !(setup & 0x80);
	F.d.nports = F.d.multiport ? 1 + setup % NPORTS : 1;
	for (uint32_t i = 0; i < F.d.nports; i++) {
		if (make_queue(virtio_console_rxq(i), PORT_QSIZE) ||
		    make_queue(virtio_console_txq(i), PORT_QSIZE))
			goto out;
		F.ports[i].rxq = F.q[virtio_console_rxq(i)].vq;
		F.ports[i].txq = F.q[virtio_console_txq(i)].vq;
	}
	if (F.d.multiport) {
		if (make_queue(VIRTIO_CONSOLE_Q_CTRL_RX, CTRL_QSIZE) ||
		    make_queue(VIRTIO_CONSOLE_Q_CTRL_TX, CTRL_QSIZE))
			goto out;
		F.d.ctrl_rxq = F.q[VIRTIO_CONSOLE_Q_CTRL_RX].vq;
		F.d.ctrl_txq = F.q[VIRTIO_CONSOLE_Q_CTRL_TX].vq;
	}
	F.d.ops = &f_ops;
	F.d.ports = F.ports;
	if (vcon_init(&F.d) != 0)
		goto out;
	F.idles = 0;
	vcon_start(&F.d);
	check_ports();
	/* Alternate: what the driver does, then what the device does. */
	while (more()) {
		driver_step();
		device_step();
	}
out:
	teardown();
	return 0;
}
