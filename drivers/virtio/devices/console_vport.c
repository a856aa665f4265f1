/*
 * Virtio console ports as files (include/virtio/vport.h): open by name
 * under /dev/vport/, read, write, close through newlib, and vport_poll()
 * for data and for the host opening and closing its end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <kernel/clock.h>
#include <kernel/file.h>
#include <kernel/kernel.h>
#include <virtio/vport.h>

#include "console_kdev.h"

#define VPORT_POLL_MAX 16

struct vport_file {
	struct vcon_kdev *k;
	struct vcon_port *p;
	uint32_t gen; /* the port's generation at open: a removed port fails */
	uint64_t seen_opens, seen_closes, seen_resizes;
};

static const struct file_ops vport_ops;

/* The port behind an open file, if it is still the one that was opened. */
static struct vport_file *vport_file(struct file *f)
{
	struct vport_file *vf;

	if (!f || f->ops != &vport_ops)
		return NULL;
	vf = f->priv;
	return vf->p->present && vf->p->gen == vf->gen ? vf : NULL;
}

static ssize_t vport_read(struct file *f, void *buf, size_t len)
{
	struct vport_file *vf = vport_file(f);
	uint64_t flags;
	ssize_t n;

	if (!vf)
		return -ENODEV;
	flags = kvcon_enter(vf->k);
	n = vcon_read(vf->p, buf, len, !(f->flags & O_NONBLOCK));
	kvcon_leave(vf->k, flags);
	return n;
}

static ssize_t vport_write(struct file *f, const void *buf, size_t len)
{
	struct vport_file *vf = vport_file(f);
	uint64_t flags;
	ssize_t n;

	if (!vf)
		return -ENODEV;
	flags = kvcon_enter(vf->k);
	n = vcon_write(vf->p, buf, len);
	kvcon_leave(vf->k, flags);
	return n;
}

static void vport_close(struct file *f)
{
	struct vport_file *vf = vport_file(f);

	if (vf) {
		uint64_t flags = kvcon_enter(vf->k);

		vcon_close(vf->p);
		kvcon_leave(vf->k, flags);
	}
	free(f->priv);
}

static const struct file_ops vport_ops = {
	.read = vport_read,
	.write = vport_write,
	.close = vport_close,
};

static int vport_open(const char *name, int flags, struct file *f)
{
	struct vport_file *vf;

	(void)flags;
	for (struct vcon_kdev *k = vcon_kdevs; k; k = k->next) {
		uint64_t irq;
		struct vcon_port *p;
		int rc;

		irq = kvcon_enter(k);
		vcon_service(&k->core);
		p = vcon_find(&k->core, name);
		if (!p) {
			kvcon_leave(k, irq);
			continue;
		}
		if (p == k->stdio && (k->con.flags & CONSOLE_STDIO)) {
			kvcon_leave(k, irq);
			return -EBUSY;
		}
		vf = calloc(1, sizeof(*vf));
		if (!vf) {
			kvcon_leave(k, irq);
			return -ENOMEM;
		}
		rc = vcon_open(p);
		*vf = (struct vport_file){
			k, p, p->gen, p->st.host_opens, p->st.host_closes, p->st.resizes};
		kvcon_leave(k, irq);
		if (rc) {
			free(vf);
			return rc;
		}
		f->ops = &vport_ops;
		f->priv = vf;
		return 0;
	}
	return -ENOENT;
}

static struct devdir vport_dir = {.prefix = VPORT_DIR, .open = vport_open};

void kvcon_vport_init(void)
{
	static bool done;

	if (!done)
		devdir_register(&vport_dir);
	done = true;
}

/* What fd has to report now; updates the counters of what it reported. */
static unsigned vport_revents(struct vport_pollfd *pfd)
{
	struct vport_file *vf = vport_file(file_get(pfd->fd));
	struct vcon_port *p;
	unsigned ev = 0;

	if (!vf)
		return VPORT_NVAL;
	p = vf->p;
	if ((pfd->events & VPORT_POLLIN) && (p->rx_head || vcon_eof(p)))
		ev |= VPORT_POLLIN;
	if ((pfd->events & VPORT_OPENED) && p->st.host_opens != vf->seen_opens) {
		ev |= VPORT_OPENED;
		vf->seen_opens = p->st.host_opens;
	}
	if ((pfd->events & VPORT_CLOSED) && p->st.host_closes != vf->seen_closes) {
		ev |= VPORT_CLOSED;
		vf->seen_closes = p->st.host_closes;
	}
	if ((pfd->events & VPORT_RESIZED) && p->st.resizes != vf->seen_resizes) {
		ev |= VPORT_RESIZED;
		vf->seen_resizes = p->st.resizes;
	}
	if (!p->host_open)
		ev |= VPORT_HUP;
	return ev;
}

int vport_poll(struct vport_pollfd *fds, unsigned n, int timeout_ms)
{
	uint64_t deadline = clock_ns() + (timeout_ms > 0 ? (uint64_t)timeout_ms * 1000000 : 0);

	if (n == 0 || n > VPORT_POLL_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		struct virtqueue *vqs[2 * VPORT_POLL_MAX + 1];
		struct vcon_kdev *one = NULL;
		bool same = true;
		unsigned nvq = 0;
		int ready = 0;

		for (unsigned i = 0; i < n; i++) {
			struct vport_file *vf = vport_file(file_get(fds[i].fd));

			if (vf) {
				uint64_t flags = kvcon_enter(vf->k);

				vcon_service(&vf->k->core);
				fds[i].revents = vport_revents(&fds[i]);
				kvcon_leave(vf->k, flags);
				same &= !one || one == vf->k;
				one = vf->k;
				if (fds[i].events & VPORT_POLLIN)
					vqs[nvq++] = vf->p->rxq;
			} else {
				fds[i].revents = VPORT_NVAL;
			}
			/* HUP is a state, not an event: it alone does not end the wait. */
			ready += (fds[i].revents & ~(unsigned)VPORT_HUP) != 0;
		}
		if (ready || timeout_ms == 0)
			return ready;
		if (timeout_ms > 0 && clock_ns() >= deadline)
			return 0;
		if (one && same) {
			/*
			 * Sleep on one device: its control queue brings opens and
			 * closes; the timer ends the halt at the deadline.
			 */
			uint64_t flags = kvcon_enter(one);

			if (one->core.ctrl_rxq)
				vqs[nvq++] = one->core.ctrl_rxq;
			kvcon_idle(&one->core, vqs, nvq,
				   timeout_ms > 0 ? deadline : clock_ns() + VCON_WAIT_SLICE_NS);
			kvcon_leave(one, flags);
		} else {
			cpu_relax(); /* ports of several devices: poll */
		}
	}
}

int vport_info(int fd, struct vport_info *info)
{
	struct file *f = file_get(fd);
	struct vport_file *vf;
	struct vcon_port *p;

	if (!f || f->ops != &vport_ops) {
		errno = EBADF;
		return -1;
	}
	if (!(vf = vport_file(f))) {
		errno = ENODEV;
		return -1;
	}
	p = vf->p;
	*info = (struct vport_info){
		.id = p->id,
		.host_open = p->host_open,
		.console = p->console,
		.has_size = p->has_size,
		.cols = p->cols,
		.rows = p->rows,
		.host_opens = p->st.host_opens,
		.host_closes = p->st.host_closes,
	};
	_Static_assert(sizeof(info->name) >= sizeof(p->name), "vport_info holds every port name");
	memcpy(info->name, p->name, sizeof(p->name));
	return 0;
}
