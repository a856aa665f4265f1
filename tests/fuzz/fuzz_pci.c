/*
 * libFuzzer target for what a PCI device writes into configuration space
 * and the code that reads it, unchanged: enumeration behind bridges and BAR
 * sizing (drivers/pci/pci.c), BAR and bridge window assignment
 * (drivers/pci/pci_resource.c) and the virtio-pci capability walk and
 * notify address check (drivers/virtio/transport/pci_caps.c).
 *
 * The input is up to MAX_FNS configuration spaces of 256 bytes, then a
 * tail. A function's space is found at bus B, device D (D < SLOTS_PER_BUS,
 * function 0) when B * SLOTS_PER_BUS + D is below their count, so bridges
 * the enumeration numbers bring more of them into view. The spaces behave
 * as hardware does, with hostile values: a BAR keeps the bits its image
 * marks as an address mask (so sizing reads back what the image says), the
 * command register, bus numbers, bridge windows and the interrupt line are
 * plain registers, everything else is read-only. When the tail is not
 * empty, each read above the standard header is XORed with its next byte:
 * a device whose capability list changes under the walk.
 *
 * Checked besides memory safety: the reads a run takes are bounded (no
 * endless walk), every new assignment lies in a host window and is aligned
 * to its size, and no two BARs of devices left decoding overlap.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pci/pci.h>

#include "../../drivers/virtio/transport/pci_caps.h"
#include "fuzz_script.h"

#define MAX_FNS	      8
#define SLOTS_PER_BUS 4
#define MAX_READS     2000000u
#define VIRTIO_VENDOR 0x1af4
#define LOW_BASE      0x80000000ull
#define LOW_LIMIT     0xbfffffffull
#define HIGH_BASE     0x8000000000ull
#define HIGH_LIMIT    0xffffffffffull
#define IO_BASE	      0x1000ull
#define IO_LIMIT      0xffffull

static struct {
	uint8_t image[MAX_FNS][256]; /* what the device says */
	uint8_t regs[MAX_FNS][256];  /* what the driver wrote to its registers */
	unsigned nfns;
	const uint8_t *tail;
	size_t tail_len, tail_pos;
	unsigned reads;
} F;

static int fn_index(uint8_t bus, uint8_t dev, uint8_t fn)
{
	unsigned i = (unsigned)bus * SLOTS_PER_BUS + dev;

	if (fn != 0 || dev >= SLOTS_PER_BUS || i >= F.nfns)
		return -1;
	return (int)i;
}

/* A byte the driver may write: registers (not the BARs: they have their own rule). */
static bool plain_register(const uint8_t *img, unsigned off)
{
	bool bridge = (img[PCI_HEADER_TYPE] & 0x7f) == 1;

	if (off == 0x04 || off == 0x05 || off == 0x3c)
		return true; /* command, interrupt line */
	if (bridge)
		return (off >= 0x18 && off <= 0x1a) || (off >= 0x1c && off <= 0x1d) ||
		       (off >= 0x20 && off <= 0x2f) || (off >= 0x30 && off <= 0x33);
	return false;
}

static bool bar_byte(const uint8_t *img, unsigned off)
{
	bool bridge = (img[PCI_HEADER_TYPE] & 0x7f) == 1;

	return off >= PCI_BAR0 && off < (bridge ? 0x18u : 0x28u);
}

static uint8_t read_byte(int i, unsigned off)
{
	const uint8_t *img = F.image[i];
	uint8_t v;

	if (bar_byte(img, off)) {
		/* The image's bits above the type bits are the address mask. */
		uint8_t mask = off % 4 == 0 ? (uint8_t)(img[off] & 0xf0) : img[off];
		uint8_t fixed = off % 4 == 0 ? (uint8_t)(img[off] & 0x0f) : 0;

		v = (uint8_t)((F.regs[i][off] & mask) | fixed);
	} else if (plain_register(img, off)) {
		v = F.regs[i][off];
	} else {
		v = img[off];
	}
	if (off >= 0x40 && F.tail_len)
		v ^= F.tail[F.tail_pos++ % F.tail_len];
	return v;
}

static uint32_t cfg_read(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off,
			 unsigned size)
{
	int i = fn_index(bus, dev, fn);
	uint32_t v = 0;

	(void)ctx;
	if (++F.reads > MAX_READS)
		fz_bug("fuzz_pci", "more than 2,000,000 configuration reads in one run");
	if (size != 1 && size != 2 && size != 4)
		fz_bug("fuzz_pci", "a read of a size other than 1, 2 or 4");
	if (off % size || off + size > 256)
		fz_bug("fuzz_pci", "an unaligned read, or one past configuration space");
	if (i < 0)
		return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	for (unsigned b = 0; b < size; b++)
		v |= (uint32_t)read_byte(i, off + b) << (8 * b);
	return v;
}

static void cfg_write(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, unsigned size,
		      uint32_t val)
{
	int i = fn_index(bus, dev, fn);

	(void)ctx;
	if (off % size || off + size > 256)
		fz_bug("fuzz_pci", "an unaligned write, or one past configuration space");
	if (i < 0)
		return;
	for (unsigned b = 0; b < size; b++)
		F.regs[i][off + b] = (uint8_t)(val >> (8 * b));
}

static void log_nothing(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

static const struct pci_cfg_ops ops = {
	.read = cfg_read, .write = cfg_write, .ctx = NULL, .cfg_size = 256};

static bool in_windows(const struct pci_resources *r, const struct pci_bar *b)
{
	for (unsigned w = 0; w < r->nr_windows; w++) {
		const struct pci_window *win = &r->window[w];

		if (win->io == (b->type == PCI_BAR_IO) && b->addr >= win->base &&
		    b->addr + b->size - 1 <= win->limit && b->addr + b->size - 1 >= b->addr)
			return true;
	}
	return false;
}

static bool decoding(const struct pci_dev *d, const struct pci_bar *b)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);

	return !d->disabled &&
	       (cmd & (b->type == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY));
}

static void check(struct pci_dev *list, const struct pci_resources *r)
{
	for (struct pci_dev *d = list; d; d = d->next) {
		for (int i = 0; i < 6; i++) {
			const struct pci_bar *b = &d->bar[i];

			if (b->type == PCI_BAR_NONE || !b->size || !b->addr || !decoding(d, b))
				continue;
			if (!in_windows(r, b))
				fz_bug("fuzz_pci", "a decoding BAR outside every host window");
			if ((b->size & (b->size - 1)) || (b->addr & (b->size - 1)))
				fz_bug("fuzz_pci",
				       "a BAR not a power of two or not aligned to its size");
			for (struct pci_dev *e = d; e; e = e->next) {
				for (int j = e == d ? i + 1 : 0; j < 6; j++) {
					const struct pci_bar *c = &e->bar[j];

					if (c->type == PCI_BAR_NONE || !c->size || !c->addr ||
					    (c->type == PCI_BAR_IO) != (b->type == PCI_BAR_IO) ||
					    !decoding(e, c))
						continue;
					if (b->addr <= c->addr + c->size - 1 &&
					    c->addr <= b->addr + b->size - 1)
						fz_bug("fuzz_pci", "two decoding BARs overlap");
				}
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pci_resources r = {0};
	struct pci_dev *list;
	unsigned count = 0;

	memset(&F, 0, sizeof(F));
	F.nfns = (unsigned)(size / 256);
	if (F.nfns > MAX_FNS)
		F.nfns = MAX_FNS;
	if (F.nfns == 0)
		return 0;
	memcpy(F.image, data, F.nfns * 256);
	for (unsigned i = 0; i < F.nfns; i++)
		memcpy(F.regs[i], F.image[i], 256); /* registers start as the device says */
	F.tail = data + F.nfns * 256;
	F.tail_len = size - F.nfns * 256;

	list = pci_enumerate(&ops, &count);
	r.window[r.nr_windows++] = (struct pci_window){LOW_BASE, LOW_LIMIT, false};
	r.window[r.nr_windows++] = (struct pci_window){HIGH_BASE, HIGH_LIMIT, false};
	r.window[r.nr_windows++] = (struct pci_window){IO_BASE, IO_LIMIT, true};
	r.mem_floor = LOW_BASE;
	r.io_floor = IO_BASE;
	if (pci_assign_resources(list, &r, log_nothing, NULL) >= 0)
		check(list, &r);

	for (struct pci_dev *d = list; d; d = d->next) {
		struct virtio_pci_caps caps;
		uint32_t off;

		(void)pci_find_cap(d, PCI_CAP_ID_MSIX, 0);
		if (d->vendor != VIRTIO_VENDOR || virtio_pci_read_caps(d, &caps) < 0)
			continue;
		if (caps.have_notify)
			(void)virtio_pci_notify_offset(
				(uint16_t)F.reads, le32_to_cpu(caps.notify.notify_off_multiplier),
				le32_to_cpu(caps.notify.cap.length), 2, &off);
	}
	pci_free_list(list);
	return 0;
}
