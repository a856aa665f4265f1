/*
 * Virtio console ports for applications. A port the host named (QEMU:
 * -device virtserialport,name=NAME) is a file:
 *
 *	int fd = open("/dev/vport/NAME", O_RDWR);   (ENOENT: no such port; EBUSY: open)
 *	read(fd, buf, n);    blocks for the first byte (not with O_NONBLOCK: EAGAIN);
 *	                     0 when the host has closed its end and all it sent was read
 *	write(fd, buf, n);   all n bytes, waiting for the device as needed;
 *	                     EPIPE while the host has not opened its end
 *	close(fd);
 *
 * Opening tells the device the guest is listening (PORT_OPEN 1): until
 * then it holds the host's bytes back. vport_poll() waits for data and
 * for the host opening or closing its end; vport_info() describes a port.
 * The console port that carries stdio is not among them (EBUSY).
 */
#ifndef VIRTIO_VPORT_H
#define VIRTIO_VPORT_H

#include <stdbool.h>
#include <stdint.h>

#define VPORT_DIR "/dev/vport/"

/* vport_pollfd.events / revents */
#define VPORT_POLLIN  0x01 /* read() will not block: data, or end of input */
#define VPORT_OPENED  0x02 /* the host opened its end since the last report */
#define VPORT_CLOSED  0x04 /* the host closed its end since the last report */
#define VPORT_RESIZED 0x08 /* a new console size since the last report */
#define VPORT_HUP     0x10 /* revents only: the host's end is closed now */
#define VPORT_NVAL    0x20 /* revents only: fd is not an open port (or the port was removed) */

struct vport_pollfd {
	int fd;
	unsigned events;
	unsigned revents;
};

/*
 * vport_poll - wait until one of the n ports has an event it asks for.
 * timeout_ms: -1 waits for ever (sleeping on interrupts where the queues
 * have them), 0 only looks, > 0 polls until then. OPENED, CLOSED and
 * RESIZED are reported once per change (two changes between calls are
 * both reported). Returns: the number of entries with revents set, 0 on
 * timeout, -1 with errno EINVAL (n is 0 or above 16).
 */
int vport_poll(struct vport_pollfd *fds, unsigned n, int timeout_ms);

struct vport_info {
	uint32_t id; /* port number on its device */
	char name[64];
	bool host_open;
	bool console;  /* the device nominated it as a console */
	bool has_size; /* cols/rows known (RESIZE or VIRTIO_CONSOLE_F_SIZE) */
	uint16_t cols, rows;
	uint64_t host_opens, host_closes;
};

/* vport_info - describe the port open as fd. Returns: 0, or -1 with errno EBADF/ENODEV. */
int vport_info(int fd, struct vport_info *info);

/*
 * vport_console_size - the size of the console that carries stdio.
 * Returns: 0 with *cols and *rows, -1 with errno ENODEV (stdio is not a
 * virtio console) or ENOTSUP (its size is unknown: no F_SIZE, no RESIZE).
 */
int vport_console_size(uint16_t *cols, uint16_t *rows);

#endif
