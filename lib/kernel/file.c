/* The open-file table and device directories (see include/kernel/file.h). */
#include <errno.h>
#include <string.h>

#include <kernel/file.h>

static struct file files[FILE_MAX];
static struct devdir *devdirs;

void devdir_register(struct devdir *d)
{
	d->next = devdirs;
	devdirs = d;
}

int file_open(const char *path, int flags)
{
	struct file *f = NULL;
	int fd;

	for (fd = 0; fd < FILE_MAX; fd++) {
		if (!files[fd].ops) {
			f = &files[fd];
			break;
		}
	}
	for (struct devdir *d = devdirs; d; d = d->next) {
		size_t n = strlen(d->prefix);
		int rc;

		if (strncmp(path, d->prefix, n) != 0 || path[n] == '\0')
			continue;
		if (!f)
			return -EMFILE;
		f->flags = flags;
		rc = d->open(path + n, flags, f);
		if (rc) {
			*f = (struct file){0};
			return rc;
		}
		return fd + FILE_FIRST_FD;
	}
	return -ENOENT;
}

struct file *file_get(int fd)
{
	if (fd < FILE_FIRST_FD || fd >= FILE_FIRST_FD + FILE_MAX || !files[fd - FILE_FIRST_FD].ops)
		return NULL;
	return &files[fd - FILE_FIRST_FD];
}

int file_close(int fd)
{
	struct file *f = file_get(fd);

	if (!f)
		return -EBADF;
	if (f->ops->close)
		f->ops->close(f);
	*f = (struct file){0};
	return 0;
}
