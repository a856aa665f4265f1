/*
 * Files behind newlib's open/read/write/close: a table of open files
 * (descriptors 3 and up; 0, 1 and 2 are the consoles) and directories of
 * device files that drivers register, e.g. "/dev/vport/" for the virtio
 * console's named ports.
 */
#ifndef KERNEL_FILE_H
#define KERNEL_FILE_H

#include <stddef.h>
#include <sys/types.h>

#define FILE_MAX      16 /* open files at once */
#define FILE_FIRST_FD 3

struct file;

struct file_ops {
	/* read - Returns: bytes read, 0 at end of input, or -errno. */
	ssize_t (*read)(struct file *f, void *buf, size_t len);
	/* write - Returns: bytes written, or -errno. */
	ssize_t (*write)(struct file *f, const void *buf, size_t len);
	void (*close)(struct file *f);
};

struct file {
	const struct file_ops *ops;
	void *priv;
	int flags; /* as given to open(): O_RDONLY/O_WRONLY/O_RDWR, O_NONBLOCK */
};

struct devdir {
	const char *prefix; /* "/dev/vport/" */
	/* open - set f->ops and f->priv for the name after the prefix. Returns: 0 or -errno. */
	int (*open)(const char *name, int flags, struct file *f);
	struct devdir *next;
};

/* devdir_register - files under d->prefix open through d->open from now on. */
void devdir_register(struct devdir *d);

/* file_open - open path. Returns: a descriptor, or -ENOENT/-EMFILE/-errno of the driver. */
int file_open(const char *path, int flags);

/* file_get - the open file behind fd, or NULL. */
struct file *file_get(int fd);

/* file_close - close fd. Returns: 0 or -EBADF. */
int file_close(int fd);

#endif
