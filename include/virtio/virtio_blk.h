/*
 * Virtio block device wire format (VIRTIO 1.2 section 5.2): feature bits,
 * the device configuration layout, the request header, discard/write
 * zeroes segments and status values. Driver state lives elsewhere
 * (drivers/virtio/devices/blk_queue.h).
 */
#ifndef VIRTIO_VIRTIO_BLK_H
#define VIRTIO_VIRTIO_BLK_H

#include <stddef.h>
#include <stdint.h>

#include <virtio/virtio_types.h>

/* 5.2.3 Feature bits (bit numbers) */
#define VIRTIO_BLK_F_SIZE_MAX	  1  /* size_max: largest single segment */
#define VIRTIO_BLK_F_SEG_MAX	  2  /* seg_max: most segments in a request */
#define VIRTIO_BLK_F_GEOMETRY	  4  /* geometry: cylinders, heads, sectors */
#define VIRTIO_BLK_F_RO		  5  /* read-only device */
#define VIRTIO_BLK_F_BLK_SIZE	  6  /* blk_size: the disk's (logical) block size */
#define VIRTIO_BLK_F_FLUSH	  9  /* VIRTIO_BLK_T_FLUSH (legacy name: WCE) */
#define VIRTIO_BLK_F_TOPOLOGY	  10 /* topology: physical block, I/O sizes */
#define VIRTIO_BLK_F_CONFIG_WCE	  11 /* writeback can be toggled in the configuration */
#define VIRTIO_BLK_F_MQ		  12 /* num_queues request queues */
#define VIRTIO_BLK_F_DISCARD	  13 /* VIRTIO_BLK_T_DISCARD, max_discard_* */
#define VIRTIO_BLK_F_WRITE_ZEROES 14 /* VIRTIO_BLK_T_WRITE_ZEROES, max_write_zeroes_* */
#define VIRTIO_BLK_F_LIFETIME	  15
#define VIRTIO_BLK_F_SECURE_ERASE 16
#define VIRTIO_BLK_F_ZONED	  17

/* 5.2.3.1 Legacy interface: feature bits */
#define VIRTIO_BLK_F_BARRIER 0
#define VIRTIO_BLK_F_SCSI    7

/* 5.2.4 Device configuration layout */
struct virtio_blk_geometry {
	le16 cylinders;
	uint8_t heads;
	uint8_t sectors;
};

struct virtio_blk_topology {
	uint8_t physical_block_exp; /* log2 of logical blocks per physical block */
	uint8_t alignment_offset;   /* offset of the first aligned logical block */
	le16 min_io_size;	    /* suggested minimum I/O size, in blocks */
	le32 opt_io_size;	    /* optimal (suggested maximum) I/O size, in blocks */
};

struct virtio_blk_zoned_characteristics {
	le32 zone_sectors;
	le32 max_open_zones;
	le32 max_active_zones;
	le32 max_append_sectors;
	le32 write_granularity;
	uint8_t model;
	uint8_t unused2[3];
};

struct virtio_blk_config {
	le64 capacity; /* in 512-byte sectors, always present */
	le32 size_max;
	le32 seg_max;
	struct virtio_blk_geometry geometry;
	le32 blk_size;
	struct virtio_blk_topology topology;
	uint8_t writeback; /* CONFIG_WCE: 0 writethrough, 1 writeback */
	uint8_t unused0;
	le16 num_queues;
	le32 max_discard_sectors;
	le32 max_discard_seg;
	le32 discard_sector_alignment;
	le32 max_write_zeroes_sectors;
	le32 max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
	le32 max_secure_erase_sectors;
	le32 max_secure_erase_seg;
	le32 secure_erase_sector_alignment;
	struct virtio_blk_zoned_characteristics zoned;
};

_Static_assert(sizeof(struct virtio_blk_geometry) == 4, "VIRTIO 1.2 5.2.4: geometry");
_Static_assert(sizeof(struct virtio_blk_topology) == 8, "VIRTIO 1.2 5.2.4: topology");
_Static_assert(sizeof(struct virtio_blk_zoned_characteristics) == 24, "VIRTIO 1.2 5.2.4: zoned");
_Static_assert(offsetof(struct virtio_blk_config, capacity) == 0, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, size_max) == 8, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, seg_max) == 12, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, geometry) == 16, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, blk_size) == 20, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, topology) == 24, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, writeback) == 32, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, num_queues) == 34, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_sectors) == 36, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, max_discard_seg) == 40, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, discard_sector_alignment) == 44,
	       "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, max_write_zeroes_sectors) == 48,
	       "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, max_write_zeroes_seg) == 52, "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56,
	       "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, max_secure_erase_sectors) == 60,
	       "VIRTIO 1.2 5.2.4");
_Static_assert(offsetof(struct virtio_blk_config, zoned) == 72, "VIRTIO 1.2 5.2.4");
_Static_assert(sizeof(struct virtio_blk_config) == 96, "VIRTIO 1.2 5.2.4");

/* 5.2.6 Device Operation: request types */
#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_GET_LIFETIME 10
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_SECURE_ERASE 14

/* 5.2.6: the final status byte */
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

/* 5.2.6: GET_ID answers a NUL-padded string of up to 20 bytes (no NUL at 20). */
#define VIRTIO_BLK_ID_BYTES 20

/*
 * 5.2.6: the device-readable head of every request (struct virtio_blk_req
 * up to data[]); the data and the device-writable status byte follow in
 * descriptors of their own.
 */
struct virtio_blk_outhdr {
	le32 type;
	le32 reserved; /* legacy: ioprio */
	le64 sector;   /* in 512-byte units, whatever the block size */
};
_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "VIRTIO 1.2 5.2.6: request header");
_Static_assert(offsetof(struct virtio_blk_outhdr, sector) == 8, "VIRTIO 1.2 5.2.6");

/* 5.2.6: one range of a discard or write zeroes request */
struct virtio_blk_discard_write_zeroes {
	le64 sector;
	le32 num_sectors;
	le32 flags; /* bit 0: unmap (write zeroes only; must be 0 for discard) */
};
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16,
	       "VIRTIO 1.2 5.2.6: discard/write zeroes segment");
_Static_assert(offsetof(struct virtio_blk_discard_write_zeroes, num_sectors) == 8,
	       "VIRTIO 1.2 5.2.6");
_Static_assert(offsetof(struct virtio_blk_discard_write_zeroes, flags) == 12, "VIRTIO 1.2 5.2.6");

#endif
