/*
 * Virtio over MMIO (VIRTIO 1.2 section 4.2): the register layout of a
 * virtio-mmio transport, version 2 (4.2.2) and the legacy version 1
 * (4.2.4), and the Linux/QEMU/Firecracker command-line description of
 * one (`virtio_mmio.device=<size>@<base>:<irq>[:<id>]`).
 */
#ifndef VIRTIO_VIRTIO_MMIO_H
#define VIRTIO_VIRTIO_MMIO_H

#include <stddef.h>
#include <stdint.h>

#include <virtio/virtio_types.h>

#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" little-endian (4.2.2) */

/* 4.2.2 MMIO Device Register Layout (version 2); legacy-only fields marked. */
struct virtio_mmio_regs {
	le32 magic;		  /* 0x000 R  "virt" */
	le32 version;		  /* 0x004 R  2, or 1 for legacy */
	le32 device_id;		  /* 0x008 R  0: no device behind this transport */
	le32 vendor_id;		  /* 0x00c R */
	le32 device_features;	  /* 0x010 R  32 bits selected by device_features_sel */
	le32 device_features_sel; /* 0x014 W */
	le32 rsvd0[2];
	le32 driver_features;	  /* 0x020 W */
	le32 driver_features_sel; /* 0x024 W */
	le32 guest_page_size;	  /* 0x028 W  legacy (4.2.4) */
	le32 rsvd1;
	le32 queue_sel;	    /* 0x030 W */
	le32 queue_num_max; /* 0x034 R  0: no such queue */
	le32 queue_num;	    /* 0x038 W */
	le32 queue_align;   /* 0x03c W  legacy */
	le32 queue_pfn;	    /* 0x040 RW legacy: ring address / guest_page_size */
	le32 queue_ready;   /* 0x044 RW */
	le32 rsvd2[2];
	le32 queue_notify; /* 0x050 W  queue index, or notification data (2.9) */
	le32 rsvd3[3];
	le32 interrupt_status; /* 0x060 R  VIRTIO_MMIO_INT_* */
	le32 interrupt_ack;    /* 0x064 W */
	le32 rsvd4[2];
	le32 status; /* 0x070 RW device status (2.1); 0 resets */
	le32 rsvd5[3];
	le32 queue_desc_low; /* 0x080 W */
	le32 queue_desc_high;
	le32 rsvd6[2];
	le32 queue_driver_low; /* 0x090 W */
	le32 queue_driver_high;
	le32 rsvd7[2];
	le32 queue_device_low; /* 0x0a0 W */
	le32 queue_device_high;
	le32 rsvd8;
	le32 shm_sel;	   /* 0x0ac W */
	le32 shm_len_low;  /* 0x0b0 R */
	le32 shm_len_high; /* 0x0b4 R */
	le32 shm_base_low; /* 0x0b8 R */
	le32 shm_base_high;
	le32 queue_reset; /* 0x0c0 RW 1 resets the selected queue (RING_RESET) */
	le32 rsvd9[14];
	le32 config_generation; /* 0x0fc R */
				/* 0x100: device configuration space */
};
_Static_assert(offsetof(struct virtio_mmio_regs, version) == 0x004, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, device_id) == 0x008, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, device_features) == 0x010, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, device_features_sel) == 0x014, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, driver_features) == 0x020, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, driver_features_sel) == 0x024, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, guest_page_size) == 0x028, "4.2.4");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_sel) == 0x030, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_num_max) == 0x034, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_num) == 0x038, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_align) == 0x03c, "4.2.4");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_pfn) == 0x040, "4.2.4");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_ready) == 0x044, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_notify) == 0x050, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, interrupt_status) == 0x060, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, interrupt_ack) == 0x064, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, status) == 0x070, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_desc_low) == 0x080, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_driver_low) == 0x090, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_device_low) == 0x0a0, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, shm_sel) == 0x0ac, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, shm_base_high) == 0x0bc, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, queue_reset) == 0x0c0, "4.2.2");
_Static_assert(offsetof(struct virtio_mmio_regs, config_generation) == 0x0fc, "4.2.2");
_Static_assert(sizeof(struct virtio_mmio_regs) == 0x100, "4.2.2: configuration at 0x100");

#define VIRTIO_MMIO_CONFIG 0x100

/* 4.2.2 InterruptStatus / InterruptACK bits */
#define VIRTIO_MMIO_INT_VRING  0x1 /* used buffer notification */
#define VIRTIO_MMIO_INT_CONFIG 0x2 /* configuration change notification */

/* One transport as the firmware or the command line describes it. */
struct virtio_mmio_res {
	uint64_t base, size;
	uint32_t irq; /* GSI (ACPI) or IRQ number (command line) */
	int id;	      /* the optional :<id>, else -1 */
};

/*
 * virtio_mmio_parse - one `virtio_mmio.device=` value: "<size>@<base>:<irq>[:<id>]",
 * size with an optional K, M or G suffix, numbers decimal or 0x-hex.
 * Returns: 0; -EINVAL (malformed: *why says what), -ERANGE (size 0 or
 * below the 0x100 bytes of registers, base + size wrapping, irq above
 * 255). Portable, host-tested (drivers/virtio/transport/mmio_parse.c).
 */
int virtio_mmio_parse(const char *s, struct virtio_mmio_res *out, const char **why);

/* virtio_mmio_overlaps - [base, base + size) meets one of the n ranges in have. */
int virtio_mmio_overlaps(const struct virtio_mmio_res *r, const struct virtio_mmio_res *have,
			 unsigned n);

#endif
