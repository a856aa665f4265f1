/*
 * Block devices independent of the driver: the list of disks, the checks
 * every request passes before a driver sees it, completion accounting and
 * the synchronous wrappers (see include/block/blkdev.h). Portable: the
 * host tests build it with a stub clock.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arch/x86_64/cpu.h>
#include <block/blkdev.h>
#include <kernel/clock.h>

struct blkdev *blkdev_list;

int blkdev_register(struct blkdev *bd, const char *prefix)
{
	struct blkdev **tail = &blkdev_list;
	char name[sizeof(bd->name)];

	for (char c = 'a'; c <= 'z'; c++) {
		snprintf(name, sizeof(name), "%.5s%c", prefix, c);
		if (blkdev_find(name))
			continue;
		memcpy(bd->name, name, sizeof(name));
		while (*tail)
			tail = &(*tail)->next;
		bd->next = NULL;
		*tail = bd;
		return 0;
	}
	return -ENOSPC;
}

void blkdev_unregister(struct blkdev *bd)
{
	for (struct blkdev **p = &blkdev_list; *p; p = &(*p)->next) {
		if (*p == bd) {
			*p = bd->next;
			bd->next = NULL;
			return;
		}
	}
}

struct blkdev *blkdev_find(const char *name)
{
	for (struct blkdev *bd = blkdev_list; bd; bd = bd->next)
		if (strcmp(bd->name, name) == 0)
			return bd;
	return NULL;
}

const char *blkdev_op_name(enum blk_op op)
{
	static const char *const names[BLK_OP_COUNT] = {
		[BLK_OP_READ] = "read",
		[BLK_OP_WRITE] = "write",
		[BLK_OP_FLUSH] = "flush",
		[BLK_OP_DISCARD] = "discard",
		[BLK_OP_WRITE_ZEROES] = "write-zeroes",
		[BLK_OP_GET_ID] = "get-id",
	};

	return (unsigned)op < BLK_OP_COUNT ? names[op] : "unknown";
}

const char *blkdev_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -EINVAL: return "invalid request (not aligned to the block size, or empty)";
	case -ERANGE: return "beyond the end of the disk";
	case -EROFS: return "the disk is read-only";
	case -EOPNOTSUPP: return "not supported by the device";
	case -EIO: return "I/O error";
	case -EAGAIN: return "queue full, try again";
	case -ENODEV: return "the device has failed";
	case -ENOMEM: return "out of memory";
	default: return "error";
	}
}

int blkdev_check(struct blkdev *bd, struct blk_request *req)
{
	uint64_t end, bs_sectors = bd->block_size / BLK_SECTOR_SIZE;

	if (bd->dead)
		return -ENODEV;
	if (!req->done || (unsigned)req->op >= BLK_OP_COUNT)
		return -EINVAL;
	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE: {
		uint64_t len;

		if (sg_count(req->data) <= 0)
			return -EINVAL;
		len = sg_total_len(req->data);
		if (len == 0 || len % bd->block_size || len >= (1ull << 40))
			return -EINVAL;
		req->nr_sectors = len / BLK_SECTOR_SIZE;
		break;
	}
	case BLK_OP_FLUSH: return 0;
	case BLK_OP_GET_ID:
		if (sg_count(req->data) <= 0 || sg_total_len(req->data) != 20)
			return -EINVAL;
		return 0;
	case BLK_OP_DISCARD:
		if (!bd->discard)
			return -EOPNOTSUPP;
		break;
	case BLK_OP_WRITE_ZEROES:
		if (!bd->write_zeroes)
			return -EOPNOTSUPP;
		break;
	default: return -EINVAL;
	}
	if (req->nr_sectors == 0 || req->sector % bs_sectors || req->nr_sectors % bs_sectors)
		return -EINVAL;
	end = req->sector + req->nr_sectors;
	if (end < req->sector || end > bd->nr_sectors)
		return -ERANGE;
	if (req->op != BLK_OP_READ && bd->read_only)
		return -EROFS;
	return 0;
}

int blkdev_submit(struct blkdev *bd, struct blk_request *req)
{
	int rc = blkdev_check(bd, req);

	if (rc) {
		bd->stats.rejected++;
		return rc;
	}
	req->error = 0;
	if (req->op == BLK_OP_FLUSH && !bd->flush) {
		/* 5.2.6.2: without FLUSH the device is taken to be writethrough. */
		blkdev_complete(bd, req, 0);
		return 0;
	}
	rc = bd->ops->submit(bd, req);
	if (rc)
		bd->stats.rejected++;
	return rc;
}

void blkdev_complete(struct blkdev *bd, struct blk_request *req, int error)
{
	req->error = error;
	bd->stats.ops[req->op]++;
	if (error)
		bd->stats.errors[req->op]++;
	else
		bd->stats.sectors[req->op] += req->nr_sectors;
	req->done(req);
}

void blkdev_poll(struct blkdev *bd)
{
	bd->ops->poll(bd);
}

void blkdev_plug(struct blkdev *bd)
{
	bd->ops->plug(bd);
}

void blkdev_unplug(struct blkdev *bd)
{
	bd->ops->unplug(bd);
}

static void sync_done(struct blk_request *req)
{
	*(volatile bool *)req->priv = true;
}

int blkdev_run(struct blkdev *bd, struct blk_request *req)
{
	volatile bool finished = false;
	uint64_t deadline;
	int rc;

	req->done = sync_done;
	/* The flag outlives the request: done() runs before this function returns. */
	req->priv = (void *)&finished; /* cppcheck-suppress autoVariables */
	rc = blkdev_submit(bd, req);
	deadline = clock_ns() + BLKDEV_TIMEOUT_NS;
	while (rc == 0 && !finished) {
		blkdev_poll(bd);
		if (!finished && clock_ns() > deadline) {
			/* The device is reset, outstanding requests sent again once (then failed). */
			bd->ops->abort(bd, "a request got no answer within the timeout");
			deadline = clock_ns() + BLKDEV_TIMEOUT_NS;
		}
		cpu_relax();
	}
	req->priv = NULL;
	return rc ? rc : req->error;
}

static int run_data(struct blkdev *bd, enum blk_op op, uint64_t sector, const struct sg_ring *data)
{
	struct blk_request req = {.op = op, .sector = sector, .data = data};

	return blkdev_run(bd, &req);
}

int blkdev_read(struct blkdev *bd, uint64_t sector, void *buf, uint32_t len)
{
	DECLARE_SG(data, 1);

	sg_add(data, buf, len);
	return run_data(bd, BLK_OP_READ, sector, data);
}

int blkdev_write(struct blkdev *bd, uint64_t sector, const void *buf, uint32_t len)
{
	DECLARE_SG(data, 1);

	sg_add(data, (void *)buf, len);
	return run_data(bd, BLK_OP_WRITE, sector, data);
}

int blkdev_readv(struct blkdev *bd, uint64_t sector, const struct sg_ring *data)
{
	return run_data(bd, BLK_OP_READ, sector, data);
}

int blkdev_writev(struct blkdev *bd, uint64_t sector, const struct sg_ring *data)
{
	return run_data(bd, BLK_OP_WRITE, sector, data);
}

int blkdev_flush(struct blkdev *bd)
{
	struct blk_request req = {.op = BLK_OP_FLUSH};

	return blkdev_run(bd, &req);
}

int blkdev_discard(struct blkdev *bd, uint64_t sector, uint64_t nr_sectors)
{
	struct blk_request req = {.op = BLK_OP_DISCARD, .sector = sector, .nr_sectors = nr_sectors};

	return blkdev_run(bd, &req);
}

int blkdev_write_zeroes(struct blkdev *bd, uint64_t sector, uint64_t nr_sectors, bool unmap)
{
	struct blk_request req = {.op = BLK_OP_WRITE_ZEROES,
				  .flags = unmap ? BLK_REQ_UNMAP : 0,
				  .sector = sector,
				  .nr_sectors = nr_sectors};

	return blkdev_run(bd, &req);
}

/* The ID as the device wrote it (to its first NUL), escaped: it ends up in logs and shells. */
static void id_escape(const uint8_t *raw, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (unsigned i = 0; i < BLKDEV_ID_BYTES && raw[i]; i++) {
		uint8_t c = raw[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			out[n++] = (char)c;
			continue;
		}
		out[n++] = '\\';
		out[n++] = 'x';
		out[n++] = hex[c >> 4];
		out[n++] = hex[c & 0xf];
	}
	out[n] = '\0';
}

int blkdev_get_id(struct blkdev *bd, char id[BLKDEV_ID_STR])
{
	uint8_t raw[BLKDEV_ID_BYTES] = {0};
	DECLARE_SG(data, 1);
	int rc;

	sg_add(data, raw, sizeof(raw));
	rc = run_data(bd, BLK_OP_GET_ID, 0, data);
	if (rc)
		id[0] = '\0';
	else
		id_escape(raw, id);
	return rc;
}

int blkdev_set_write_cache(struct blkdev *bd, bool writeback)
{
	if (!bd->wce || !bd->ops->set_write_cache)
		return -EOPNOTSUPP;
	if (bd->dead)
		return -ENODEV;
	return bd->ops->set_write_cache(bd, writeback);
}
