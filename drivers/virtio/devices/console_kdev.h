/*
 * The kernel side of the virtio console, shared by console.c (the device:
 * probe, waiting, stdio, emergency write, shell command) and
 * console_vport.c (ports as files).
 */
#ifndef DRIVERS_VIRTIO_CONSOLE_KDEV_H
#define DRIVERS_VIRTIO_CONSOLE_KDEV_H

#include <stdint.h>

#include <arch/x86_64/cpu.h>
#include <kernel/console.h>
#include <virtio/vcon.h>
#include <virtio/virtio.h>

/* Queues: two per port and the two control queues. */
#define VCON_MAX_QUEUES (2 * VCON_MAX_PORTS + 2)

struct vcon_kdev {
	struct vcon_dev core;
	struct virtio_device *vd;
	struct vcon_port ports[VCON_MAX_PORTS];
	struct virtqueue *vqs[VCON_MAX_QUEUES]; /* by queue index */
	unsigned depth;				/* calls into the core in progress */
	volatile bool config_changed;		/* set by the interrupt, handled by kvcon_enter */
	struct console con;			/* the stdio console, when a port is one */
	struct vcon_port *stdio;		/* the port behind con */
	char con_name[48];
	int fault_queue;      /* vcon.fault=rx@N (0) / tx@N (1) / ctrl@N (2); -1: none */
	uint64_t fault_after; /* N: buffers completed before the fault */
	uint64_t polls;	      /* rounds of kvcon_idle on a polled queue (no interrupt) */
	uint64_t poll_hits;   /* of its waits, those a used buffer ended */
	struct vcon_kdev *next;
};

extern struct vcon_kdev *vcon_kdevs;

/*
 * kvcon_enter / kvcon_leave - bracket every call into the core: interrupts
 * off (queue callbacks run only inside kvcon_idle), and the depth that
 * keeps kprintf from re-entering the driver through a mirrored console.
 */
uint64_t kvcon_enter(struct vcon_kdev *k);
void kvcon_leave(struct vcon_kdev *k, uint64_t flags);

/*
 * kvcon_idle - struct vcon_ops.idle: halt until an interrupt or the
 * deadline (clock_ns; the local APIC timer is armed for it), or, on a
 * queue without an interrupt, poll its used ring (at most 1 ms a call).
 */
void kvcon_idle(struct vcon_dev *d, struct virtqueue *const *vqs, unsigned n, uint64_t deadline);

/* kvcon_vport_init - register /dev/vport/ (once). */
void kvcon_vport_init(void);

#endif
