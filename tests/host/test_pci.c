/*
 * Host tests of drivers/pci/pci.c (enumeration) and drivers/pci/pci_resource.c
 * (resource assignment) over a simulated configuration space: BARs with
 * writable-bit masks, bridges with read-only window type bits, bus routing
 * through secondary bus numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pci/pci.h>

#define BUSES 4

struct fake_fn {
	int present;
	uint8_t cfg[256];
	uint32_t bar_mask[6]; /* writable bits of each BAR register */
	int use_wmask;	      /* bridges: wmask says which bits of other registers are writable */
	uint8_t wmask[256];
	int bar_writes; /* BAR registers written */
};

static struct fake_fn fn_space[BUSES][32][8];
static int writes_while_decoding; /* BAR writes with decoding on */

static struct fake_fn *lookup(uint8_t bus, uint8_t dev, uint8_t fn)
{
	if (bus >= BUSES || dev >= 32 || fn >= 8)
		return NULL;
	/* Bus n > 0 is reachable only through a bridge whose secondary bus is n. */
	if (bus > 0) {
		int routed = 0;

		for (int b = 0; b < BUSES && !routed; b++)
			for (int d = 0; d < 32 && !routed; d++)
				for (int f = 0; f < 8; f++) {
					struct fake_fn *br = &fn_space[b][d][f];

					if (br->present && (br->cfg[PCI_HEADER_TYPE] & 0x7f) == 1 &&
					    br->cfg[PCI_SECONDARY_BUS] == bus) {
						routed = 1;
						break;
					}
				}
		if (!routed)
			return NULL;
	}
	return fn_space[bus][dev][fn].present ? &fn_space[bus][dev][fn] : NULL;
}

static uint32_t fake_read(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off,
			  unsigned size)
{
	struct fake_fn *f = lookup(bus, dev, fn);
	uint32_t v = 0;

	(void)ctx;
	if (!f || off >= 256)
		return 0xffffffffu;
	memcpy(&v, &f->cfg[off], size);
	return v;
}

static void fake_write(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, unsigned size,
		       uint32_t val)
{
	struct fake_fn *f = lookup(bus, dev, fn);

	(void)ctx;
	if (!f || off >= 256)
		return;
	if (off >= PCI_BAR0 && off < PCI_BAR0 + 24 && size == 4) {
		int i = (off - PCI_BAR0) / 4;
		uint32_t cur, ro;

		memcpy(&cur, &f->cfg[off], 4);
		ro = cur & ~f->bar_mask[i];
		val = (val & f->bar_mask[i]) | ro;
		if (f->cfg[PCI_COMMAND] & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY))
			writes_while_decoding++;
		f->bar_writes++;
		memcpy(&f->cfg[off], &val, size);
		return;
	}
	if (f->use_wmask) {
		for (unsigned i = 0; i < size; i++) {
			uint8_t m = f->wmask[off + i], b = (uint8_t)(val >> (8 * i));

			f->cfg[off + i] = (uint8_t)((f->cfg[off + i] & ~m) | (b & m));
		}
		return;
	}
	memcpy(&f->cfg[off], &val, size);
}

static const struct pci_cfg_ops ops = {fake_read, fake_write, NULL, 256};

static struct fake_fn *add(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t vendor, uint16_t device,
			   uint32_t class_rev, uint8_t header)
{
	struct fake_fn *f = &fn_space[bus][dev][fn];

	memset(f, 0, sizeof(*f));
	f->present = 1;
	memcpy(&f->cfg[PCI_VENDOR_ID], &vendor, 2);
	memcpy(&f->cfg[PCI_DEVICE_ID], &device, 2);
	memcpy(&f->cfg[PCI_REVISION], &class_rev, 4);
	f->cfg[PCI_HEADER_TYPE] = header;
	return f;
}

static void set_bar(struct fake_fn *f, int i, uint32_t value, uint32_t mask)
{
	memcpy(&f->cfg[PCI_BAR0 + 4 * i], &value, 4);
	f->bar_mask[i] = mask;
}

static int reset(void **state)
{
	(void)state;
	memset(fn_space, 0, sizeof(fn_space));
	writes_while_decoding = 0;
	return 0;
}

static struct pci_dev *find(struct pci_dev *list, uint8_t bus, uint8_t dev, uint8_t fn)
{
	for (; list; list = list->next)
		if (list->bus == bus && list->dev == dev && list->fn == fn)
			return list;
	return NULL;
}

static void test_bars_decoded(void **state)
{
	struct fake_fn *f;
	struct pci_dev *list, *d;
	unsigned n;
	uint32_t bar0;

	(void)state;
	add(0, 0, 0, 0x8086, 0x29c0, 0x06000000, 0);
	f = add(0, 2, 0, 0x1af4, 0x1000, 0x02000000, 0);
	f->cfg[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
	set_bar(f, 0, 0xc041, 0xffffffe0);     /* I/O, 32 bytes at 0xc040 */
	set_bar(f, 1, 0xfebd1000, 0xfffff000); /* mem32, 4 KiB */
	set_bar(f, 2, 0xfe00000c, 0xffffc000); /* mem64 prefetchable, 16 KiB, low */
	set_bar(f, 3, 0x00000001, 0xffffffff); /* high half: 0x1_fe000000 */
	set_bar(f, 4, 0, 0);		       /* not implemented */
	set_bar(f, 5, 0x0000c081, 0x0000ffe0); /* 16-bit I/O decoder: top bits 0 */

	list = pci_enumerate(&ops, &n);
	assert_int_equal(n, 2);
	d = find(list, 0, 2, 0);
	assert_non_null(d);
	assert_int_equal(d->bar[0].type, PCI_BAR_IO);
	assert_int_equal(d->bar[0].addr, 0xc040);
	assert_int_equal(d->bar[0].size, 32);
	assert_int_equal(d->bar[1].type, PCI_BAR_MEM32);
	assert_int_equal(d->bar[1].addr, 0xfebd1000);
	assert_int_equal(d->bar[1].size, 4096);
	assert_false(d->bar[1].prefetch);
	assert_int_equal(d->bar[2].type, PCI_BAR_MEM64);
	assert_true(d->bar[2].prefetch);
	assert_int_equal(d->bar[2].addr, 0x1fe000000ull);
	assert_int_equal(d->bar[2].size, 16384);
	assert_int_equal(d->bar[3].type, PCI_BAR_NONE); /* the upper half of BAR2 */
	assert_int_equal(d->bar[4].type, PCI_BAR_NONE);
	assert_int_equal(d->bar[5].type, PCI_BAR_IO);
	assert_int_equal(d->bar[5].size, 32);
	/* Sizing restored the BARs and the command register, and decoding was off. */
	memcpy(&bar0, &f->cfg[PCI_BAR0], 4);
	assert_int_equal(bar0, 0xc041);
	assert_int_equal(f->cfg[PCI_COMMAND], PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	assert_int_equal(writes_while_decoding, 0);
	assert_int_equal(d->class_code, 0x02);
	pci_free_list(list);
}

/*
 * A device whose writable BAR bits are not one run up to the top (found by
 * tests/fuzz/fuzz_pci.c): the size is its lowest writable bit, a power of
 * two, never ~mask + 1 (0xf1000 or 0xffff1000 here), so assignment keeps
 * it naturally aligned.
 */
static void test_bar_mask_with_holes(void **state)
{
	struct fake_fn *f;
	struct pci_dev *list, *d;
	unsigned n;

	(void)state;
	add(0, 0, 0, 0x8086, 0x29c0, 0x06000000, 0);
	f = add(0, 3, 0, 0x1af4, 0x1041, 0x02000000, 0);
	set_bar(f, 0, 0, 0xfff0f000); /* a hole in the writable bits */
	set_bar(f, 1, 0, 0x0000f000); /* the top bits read-only */
	set_bar(f, 2, 0x1, 0xffff7f20); /* I/O with a hole: 32 bytes */
	list = pci_enumerate(&ops, &n);
	d = find(list, 0, 3, 0);
	assert_non_null(d);
	assert_int_equal(d->bar[0].type, PCI_BAR_MEM32);
	assert_int_equal(d->bar[0].size, 0x1000);
	assert_int_equal(d->bar[1].size, 0x1000);
	assert_int_equal(d->bar[2].type, PCI_BAR_IO);
	assert_int_equal(d->bar[2].size, 0x20);
	pci_free_list(list);
}

static void test_multifunction_and_gaps(void **state)
{
	struct pci_dev *list;
	unsigned n;

	(void)state;
	add(0, 0, 0, 0x8086, 0x29c0, 0x06000000, 0);
	add(0, 0x1f, 0, 0x8086, 0x2918, 0x06010000, 0x80); /* multi-function */
	add(0, 0x1f, 2, 0x8086, 0x2922, 0x01060100, 0);
	add(0, 0x1f, 3, 0x8086, 0x2930, 0x0c050000, 0);
	/* Function 1 of a single-function device must not be looked at. */
	add(0, 5, 0, 0x1234, 0x1111, 0x03000000, 0);
	add(0, 5, 1, 0xdead, 0xbeef, 0x03000000, 0);

	list = pci_enumerate(&ops, &n);
	assert_int_equal(n, 5);
	assert_non_null(find(list, 0, 0x1f, 2));
	assert_non_null(find(list, 0, 0x1f, 3));
	assert_null(find(list, 0, 0x1f, 1));
	assert_null(find(list, 0, 5, 1));
	pci_free_list(list);
}

static void test_bridge_numbering(void **state)
{
	struct pci_dev *list, *br, *dev;
	unsigned n;

	(void)state;
	add(0, 0, 0, 0x8086, 0x29c0, 0x06000000, 0);
	add(0, 3, 0, 0x1b36, 0x0001, 0x06040000, 1); /* bridge, unnumbered */
	add(1, 0, 0, 0x1af4, 0x1005, 0x00ff0000, 0); /* behind it */
	add(1, 1, 0, 0x1b36, 0x0001, 0x06040000, 1); /* a second level */
	add(2, 4, 0, 0x1af4, 0x1001, 0x01000000, 0);

	list = pci_enumerate(&ops, &n);
	assert_int_equal(n, 5);
	br = find(list, 0, 3, 0);
	assert_non_null(br);
	assert_int_equal(br->secondary, 1);
	assert_int_equal(br->subordinate, 2);
	assert_int_equal(fn_space[0][3][0].cfg[PCI_SUBORDINATE_BUS], 2);
	dev = find(list, 2, 4, 0);
	assert_non_null(dev);
	assert_ptr_equal(dev->upstream, find(list, 1, 1, 0));
	assert_ptr_equal(find(list, 1, 0, 0)->upstream, br);
	pci_free_list(list);
}

static void test_bridge_loop(void **state)
{
	struct pci_dev *list;
	unsigned n;

	(void)state;
	/* Firmware numbered a bridge on bus 1 back to bus 1 (a loop): scanned once. */
	add(0, 0, 0, 0x8086, 0x29c0, 0x06000000, 0);
	add(0, 3, 0, 0x1b36, 0x0001, 0x06040000, 1)->cfg[PCI_SECONDARY_BUS] = 1;
	add(1, 2, 0, 0x1b36, 0x0001, 0x06040000, 1)->cfg[PCI_SECONDARY_BUS] = 1;
	list = pci_enumerate(&ops, &n);
	assert_true(n >= 3 && n <= 4);
	pci_free_list(list);
}

static void test_capability_walk(void **state)
{
	struct fake_fn *f;
	struct pci_dev *list, *d;
	uint8_t caps[48];

	(void)state;
	f = add(0, 1, 0, 0x1af4, 0x1041, 0x02000000, 0);
	f->cfg[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	f->cfg[PCI_CAP_PTR] = 0x40;
	f->cfg[0x40] = PCI_CAP_ID_MSIX;
	f->cfg[0x41] = 0x51; /* low bits are reserved: means 0x50 */
	f->cfg[0x50] = PCI_CAP_ID_VNDR;
	f->cfg[0x51] = 0x60;
	f->cfg[0x60] = PCI_CAP_ID_VNDR;
	f->cfg[0x61] = 0x40; /* loop back to the start */
	list = pci_enumerate(&ops, NULL);
	d = find(list, 0, 1, 0);
	assert_int_equal(pci_cap_list(d, caps, 48), 3);
	assert_int_equal(pci_find_cap(d, PCI_CAP_ID_MSIX, 0), 0x40);
	assert_int_equal(pci_find_cap(d, PCI_CAP_ID_VNDR, 0), 0x50);
	assert_int_equal(pci_find_cap(d, PCI_CAP_ID_VNDR, 0x50), 0x60);
	assert_int_equal(pci_find_cap(d, PCI_CAP_ID_VNDR, 0x60), 0);
	assert_int_equal(pci_find_cap(d, PCI_CAP_ID_EXP, 0), 0); /* absent: the loop ends */

	f->cfg[0x61] = 0x20; /* a pointer into the header ends the list */
	assert_int_equal(pci_cap_list(d, caps, 48), 3);
	f->cfg[PCI_STATUS] = 0; /* no capability list at all */
	assert_int_equal(pci_find_cap(d, PCI_CAP_ID_MSIX, 0), 0);

	/* A list that visits every dword: bounded at 48 entries. */
	f->cfg[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	for (int pos = 0x40; pos < 0x100; pos += 4) {
		f->cfg[pos] = 0x77;
		f->cfg[pos + 1] = (uint8_t)(pos + 4 < 0x100 ? pos + 4 : 0x40);
	}
	assert_int_equal(pci_cap_list(d, caps, 48), 48);
	assert_int_equal(pci_find_cap(d, PCI_CAP_ID_MSIX, 0), 0);
	pci_free_list(list);
}

static void test_empty_bus(void **state)
{
	unsigned n = 99;

	(void)state;
	assert_null(pci_enumerate(&ops, &n));
	assert_int_equal(n, 0);
}

/* --- Resource assignment ------------------------------------------------ */

#define LOW_BASE   0xc0000000ull
#define LOW_LIMIT  0xdfffffffull
#define HIGH_BASE  0xc000000000ull
#define HIGH_LIMIT 0xffffffffffull

/* BARs firmware placed, which a test may put in a reserved range on purpose. */
static struct {
	const struct pci_dev *d;
	int bar;
} fw_bars[8];
static unsigned nr_fw_bars;

static bool fw_bar(const struct pci_dev *d, int i)
{
	for (unsigned k = 0; k < nr_fw_bars; k++)
		if (fw_bars[k].d == d && fw_bars[k].bar == i)
			return true;
	return false;
}

static char logbuf[16384];
static size_t loglen;

static void log_capture(void *ctx, const char *fmt, ...)
{
	va_list ap;
	int n;

	(void)ctx;
	va_start(ap, fmt);
	n = vsnprintf(logbuf + loglen, sizeof(logbuf) - loglen, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(logbuf) - loglen)
		loglen += (size_t)n;
}

static void assert_logged(const char *needle)
{
	if (!strstr(logbuf, needle))
		fail_msg("log has no \"%s\":\n%s", needle, logbuf);
}

static int reset_assign(void **state)
{
	reset(state);
	nr_fw_bars = 0;
	loglen = 0;
	logbuf[0] = '\0';
	return 0;
}

/* microvm's windows (no I/O), and optionally q35's I/O. */
static void windows(struct pci_resources *r, bool io, bool high)
{
	memset(r, 0, sizeof(*r));
	r->window[r->nr_windows++] = (struct pci_window){LOW_BASE, LOW_LIMIT, false};
	if (high)
		r->window[r->nr_windows++] = (struct pci_window){HIGH_BASE, HIGH_LIMIT, false};
	if (io)
		r->window[r->nr_windows++] = (struct pci_window){0, 0xffff, true};
	r->io_floor = 0x1000;
	r->mem_floor = 0x100000;
}

/* A bridge as QEMU models one: read-only type bits, optional I/O and prefetchable windows. */
static struct fake_fn *add_bridge(uint8_t bus, uint8_t dev, bool io, bool pref, bool pref64)
{
	struct fake_fn *f = add(bus, dev, 0, 0x1b36, 0x0001, 0x06040000, 1);

	f->use_wmask = 1;
	memset(f->wmask, 0xff, sizeof(f->wmask));
	memset(f->wmask, 0, 0x10); /* IDs, status, class, header type: read-only enough */
	f->wmask[PCI_COMMAND] = 0xff;
	f->wmask[PCI_COMMAND + 1] = 0x07;
	f->wmask[PCI_IO_BASE] = f->wmask[PCI_IO_LIMIT] = io ? 0xf0 : 0;
	f->wmask[PCI_IO_BASE_UPPER] = f->wmask[PCI_IO_BASE_UPPER + 1] = 0;
	f->wmask[PCI_IO_LIMIT_UPPER] = f->wmask[PCI_IO_LIMIT_UPPER + 1] = 0;
	f->wmask[PCI_MEM_BASE] = f->wmask[PCI_MEM_LIMIT] = 0xf0;
	f->wmask[PCI_PREF_MEM_BASE] = f->wmask[PCI_PREF_MEM_LIMIT] = pref ? 0xf0 : 0;
	f->wmask[PCI_PREF_MEM_BASE + 1] = f->wmask[PCI_PREF_MEM_LIMIT + 1] = pref ? 0xff : 0;
	if (pref && pref64)
		f->cfg[PCI_PREF_MEM_BASE] = f->cfg[PCI_PREF_MEM_LIMIT] = PCI_PREF_RANGE_TYPE_64;
	memset(f->wmask + PCI_PREF_BASE_UPPER, pref && pref64 ? 0xff : 0, 8);
	return f;
}

static uint32_t cfg32(const struct fake_fn *f, int off)
{
	uint32_t v;

	memcpy(&v, &f->cfg[off], 4);
	return v;
}

static uint16_t cfg16(const struct fake_fn *f, int off)
{
	uint16_t v;

	memcpy(&v, &f->cfg[off], 2);
	return v;
}

/* A bridge's windows from its registers (the hardware's view). */
static struct pci_range reg_window(const struct fake_fn *f, enum pci_win k)
{
	uint64_t b, l;

	switch (k) {
	case PCI_WIN_IO:
		b = (uint64_t)(f->cfg[PCI_IO_BASE] & 0xf0) << 8;
		l = (uint64_t)(f->cfg[PCI_IO_LIMIT] & 0xf0) << 8 | 0xfff;
		if (!(cfg16(f, PCI_COMMAND) & PCI_COMMAND_IO))
			return (struct pci_range){1, 0};
		break;
	case PCI_WIN_MEM:
		b = (uint64_t)(cfg16(f, PCI_MEM_BASE) & 0xfff0) << 16;
		l = (uint64_t)(cfg16(f, PCI_MEM_LIMIT) & 0xfff0) << 16 | 0xfffff;
		if (!(cfg16(f, PCI_COMMAND) & PCI_COMMAND_MEMORY))
			return (struct pci_range){1, 0};
		break;
	default:
		b = (uint64_t)(cfg16(f, PCI_PREF_MEM_BASE) & 0xfff0) << 16 |
		    (uint64_t)cfg32(f, PCI_PREF_BASE_UPPER) << 32;
		l = (uint64_t)(cfg16(f, PCI_PREF_MEM_LIMIT) & 0xfff0) << 16 | 0xfffff |
		    (uint64_t)cfg32(f, PCI_PREF_LIMIT_UPPER) << 32;
		if (!(cfg16(f, PCI_COMMAND) & PCI_COMMAND_MEMORY))
			return (struct pci_range){1, 0};
		break;
	}
	return (struct pci_range){b, l};
}

static bool range_in(struct pci_range r, uint64_t base, uint64_t size)
{
	return r.base <= r.limit && base >= r.base && base + size - 1 <= r.limit;
}

/* The BAR's address as the device's registers hold it. */
static uint64_t reg_bar(const struct pci_dev *d, int i)
{
	const struct fake_fn *f = &fn_space[d->bus][d->dev][d->fn];
	uint64_t v = cfg32(f, PCI_BAR0 + 4 * i);

	if (d->bar[i].type == PCI_BAR_MEM64)
		return (v & ~0xfull) | (uint64_t)cfg32(f, PCI_BAR0 + 4 * i + 4) << 32;
	return v & (d->bar[i].type == PCI_BAR_IO ? ~0x3ull : ~0xfull);
}

/*
 * What must hold after any assignment: every assigned BAR of an enabled
 * device is naturally aligned, in a window of its kind (a bridge's, all the
 * way up, for devices behind bridges), matches its registers, overlaps no
 * other BAR nor a reserved range; decoding is on exactly for what it has.
 */
static void check_invariants(struct pci_dev *list, const struct pci_resources *r)
{
	for (struct pci_dev *d = list; d; d = d->next) {
		const struct fake_fn *f = &fn_space[d->bus][d->dev][d->fn];
		uint16_t cmd = cfg16(f, PCI_COMMAND);
		bool has_io = false, has_mem = false;

		if (d->disabled) {
			assert_false(cmd &
				     (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER));
			continue;
		}
		for (int i = 0; i < 6; i++) {
			const struct pci_bar *b = &d->bar[i];
			bool in_window = false;

			if (b->type == PCI_BAR_NONE || !b->addr)
				continue;
			has_io |= b->type == PCI_BAR_IO;
			has_mem |= b->type != PCI_BAR_IO;
			assert_int_equal(b->addr % b->size, 0);
			assert_int_equal(reg_bar(d, i), b->addr);
			for (unsigned w = 0; w < r->nr_windows; w++)
				if (r->window[w].io == (b->type == PCI_BAR_IO) &&
				    range_in((struct pci_range){r->window[w].base,
								r->window[w].limit},
					     b->addr, b->size))
					in_window = true;
			assert_true(in_window);
			for (unsigned k = 0; k < r->nr_reserved && !fw_bar(d, i); k++)
				assert_false(b->addr <= r->reserved[k].limit &&
					     r->reserved[k].base <= b->addr + b->size - 1);
			/* Every bridge above forwards it. */
			for (struct pci_dev *up = d->upstream; up; up = up->upstream) {
				const struct fake_fn *uf = &fn_space[up->bus][up->dev][up->fn];

				if (b->type == PCI_BAR_IO)
					assert_true(range_in(reg_window(uf, PCI_WIN_IO), b->addr,
							     b->size));
				else
					assert_true(range_in(reg_window(uf, PCI_WIN_MEM), b->addr,
							     b->size) ||
						    range_in(reg_window(uf, PCI_WIN_PREF), b->addr,
							     b->size));
			}
			for (struct pci_dev *e = list; e; e = e->next)
				for (int j = 0; j < 6; j++) {
					const struct pci_bar *c = &e->bar[j];

					if ((e == d && j == i) || c->type == PCI_BAR_NONE ||
					    !c->addr || e->disabled ||
					    (c->type == PCI_BAR_IO) != (b->type == PCI_BAR_IO))
						continue;
					assert_false(c->addr <= b->addr + b->size - 1 &&
						     b->addr <= c->addr + c->size - 1);
				}
		}
		if (has_mem)
			assert_true(cmd & PCI_COMMAND_MEMORY);
		if (has_io)
			assert_true(cmd & PCI_COMMAND_IO);
	}
}

static int assign(struct pci_dev *list, const struct pci_resources *r)
{
	int rc;

	writes_while_decoding = 0;
	rc = pci_assign_resources(list, r, log_capture, NULL);
	assert_int_equal(writes_while_decoding, 0);

	if (getenv("PCI_TEST_LOG"))
		printf("%s", logbuf);
	check_invariants(list, r);
	return rc;
}

/* The devices of microvm: transitional virtio with an I/O BAR, MSI-X in BAR1, caps in BAR4. */
static struct fake_fn *add_virtio(uint8_t bus, uint8_t dev)
{
	struct fake_fn *f = add(bus, dev, 0, 0x1af4, 0x1005, 0x00ff0000, 0);

	set_bar(f, 0, 0x1, 0xffffffe0); /* I/O, 32 bytes */
	set_bar(f, 1, 0x0, 0xfffff000); /* mem32, 4 KiB */
	set_bar(f, 4, 0xc, 0xffffc000); /* mem64 pref, 16 KiB */
	set_bar(f, 5, 0x0, 0xffffffff); /* its high half */
	return f;
}

static void test_assign_all_unassigned(void **state)
{
	struct pci_resources r;
	struct pci_dev *list, *d;
	struct fake_fn *big;

	(void)state;
	add(0, 0, 0, 0x1b36, 0x0008, 0x06000000, 0); /* host bridge, no BARs */
	add_virtio(0, 1);
	add_virtio(0, 2);
	big = add(0, 3, 0, 0x1234, 0x1111, 0x03000000, 0);
	set_bar(big, 0, 0x8, 0xff000000); /* mem32 pref, 16 MiB */
	set_bar(big, 2, 0x0, 0xfffff000); /* mem32, 4 KiB */

	/* microvm: no I/O window, memory above and below 4 GiB. */
	windows(&r, false, true);
	list = pci_enumerate(&ops, NULL);
	assert_int_equal(assign(list, &r), 0);
	for (int dev = 1; dev <= 2; dev++) {
		d = find(list, 0, (uint8_t)dev, 0);
		assert_int_equal(d->bar[0].addr, 0); /* no I/O space: left unassigned */
		assert_true(d->bar[1].addr >= LOW_BASE && d->bar[1].addr <= LOW_LIMIT);
		assert_true(d->bar[4].addr >= HIGH_BASE); /* 64-bit prefetchable: above 4 GiB */
		assert_false(cfg16(&fn_space[0][dev][0], PCI_COMMAND) & PCI_COMMAND_IO);
		assert_true(cfg16(&fn_space[0][dev][0], PCI_COMMAND) & PCI_COMMAND_MASTER);
	}
	d = find(list, 0, 3, 0);
	assert_int_equal(d->bar[0].addr, LOW_BASE); /* the largest alignment goes first */
	assert_logged("pci: 00:01.0 BAR0 I/O 32 bytes left unassigned: no I/O window");
	assert_logged("pci: 00:03.0 BAR0 mem32 pref 16 MiB at 0xc0000000");
	assert_logged("pci: resources: 6 BARs assigned, 0 bridges programmed, 0 kept from "
		      "firmware, 2 I/O BARs left unassigned, 0 devices disabled");
	pci_free_list(list);

	/* With an I/O window (q35 under qboot): I/O from the floor up. */
	memset(fn_space, 0, sizeof(fn_space));
	add_virtio(0, 1);
	add_virtio(0, 2);
	windows(&r, true, false);
	list = pci_enumerate(&ops, NULL);
	assert_int_equal(assign(list, &r), 0);
	d = find(list, 0, 1, 0);
	assert_true(d->bar[0].addr >= 0x1000 && d->bar[0].addr <= 0xffff);
	assert_true(d->bar[4].addr >= LOW_BASE && d->bar[4].addr <= LOW_LIMIT); /* no high window */
	assert_true(cfg16(&fn_space[0][1][0], PCI_COMMAND) & PCI_COMMAND_IO);
	assert_int_equal(writes_while_decoding, 0);
	pci_free_list(list);
}

static void test_assign_keeps_firmware(void **state)
{
	struct pci_resources r;
	struct pci_dev *list, *d;
	struct fake_fn *fw, *out, *dup, *f;

	(void)state;
	windows(&r, true, true);
	r.reserved[r.nr_reserved++] = (struct pci_range){LOW_BASE + 0x100000, LOW_BASE + 0x1fffff};
	fw = add_virtio(0, 1); /* firmware put BAR1 and BAR4 in the window */
	fw->cfg[PCI_COMMAND] = PCI_COMMAND_MEMORY;
	set_bar(fw, 1, (uint32_t)LOW_BASE + 0x3000, 0xfffff000);
	set_bar(fw, 4, 0x0000000c, 0xffffc000);
	set_bar(fw, 5, 0xc0, 0xffffffff); /* 0xc0_0000_0000 */
	out = add_virtio(0, 2);		  /* BAR1 outside every window: reassigned */
	set_bar(out, 1, 0x80000000, 0xfffff000);
	dup = add_virtio(0, 3); /* BAR1 on top of 00:01.0's: reassigned */
	set_bar(dup, 1, (uint32_t)LOW_BASE + 0x3000, 0xfffff000);
	for (int i = 4; i <= 7; i++) {
		struct fake_fn *f = add(0, (uint8_t)i, 0, 0x1af4, 0x1041, 0x02000000, 0);

		set_bar(f, 0, 0, 0xffe00000); /* 2 MiB: must step over the reserved range */
	}
	/* Firmware's BAR in a reserved range (a memory map listing MMIO) stays. */
	f = add(0, 8, 0, 0x1af4, 0x1041, 0x02000000, 0);
	f->cfg[PCI_COMMAND] = PCI_COMMAND_MEMORY;
	set_bar(f, 0, (uint32_t)LOW_BASE + 0x180000, 0xfffff000);

	list = pci_enumerate(&ops, NULL);
	fw_bars[nr_fw_bars++].d = find(list, 0, 8, 0);
	fw->bar_writes = 0;
	assert_int_equal(assign(list, &r), 0);
	assert_int_equal(find(list, 0, 8, 0)->bar[0].addr, LOW_BASE + 0x180000);
	d = find(list, 0, 1, 0);
	assert_int_equal(d->bar[1].addr, LOW_BASE + 0x3000); /* kept, never written */
	assert_int_equal(d->bar[4].addr, HIGH_BASE);
	assert_int_equal(find(list, 0, 2, 0)->bar[1].addr >> 31, 1);
	assert_true(find(list, 0, 2, 0)->bar[1].addr >= LOW_BASE);
	assert_true(find(list, 0, 3, 0)->bar[1].addr != LOW_BASE + 0x3000);
	assert_logged("3 kept from firmware");
	/* Only the I/O BAR of 00:01.0 was new. */
	assert_int_equal(fw->bar_writes, 1);
	pci_free_list(list);
}

/*
 * bus 0: bridge 00:03.0 (unnumbered, all windows)
 *          bus 1: virtio 01:00.0, bridge 01:01.0 (no prefetchable window)
 *                   bus 2: device 02:00.0 (mem32 64 KiB, mem64 pref 2 MiB)
 */
static void test_assign_bridges(void **state)
{
	struct pci_resources r;
	struct pci_dev *list, *br, *inner;
	struct fake_fn *f;
	struct pci_range mem, pref, io, imem;

	(void)state;
	windows(&r, true, true);
	add(0, 0, 0, 0x8086, 0x29c0, 0x06000000, 0);
	f = add_bridge(0, 3, true, true, true);
	set_bar(f, 0, 0x4, 0xffffff00); /* the bridge's own mem64 256-byte BAR */
	set_bar(f, 1, 0x0, 0xffffffff);
	add_virtio(1, 0);
	add_bridge(1, 1, true, false, false);
	f = add(2, 0, 0, 0x1af4, 0x1042, 0x01000000, 0);
	set_bar(f, 0, 0x0, 0xffff0000);
	set_bar(f, 2, 0xc, 0xffe00000);
	set_bar(f, 3, 0x0, 0xffffffff);
	add_virtio(0, 4); /* a device beside the bridge */

	list = pci_enumerate(&ops, NULL);
	assert_int_equal(assign(list, &r), 0);
	br = find(list, 0, 3, 0);
	inner = find(list, 1, 1, 0);
	mem = reg_window(&fn_space[0][3][0], PCI_WIN_MEM);
	pref = reg_window(&fn_space[0][3][0], PCI_WIN_PREF);
	io = reg_window(&fn_space[0][3][0], PCI_WIN_IO);
	imem = reg_window(&fn_space[1][1][0], PCI_WIN_MEM);
	/* Windows: 1 MiB / 4 KiB granularity, aligned; the pref one above 4 GiB. */
	assert_int_equal(mem.base % 0x100000, 0);
	assert_int_equal((mem.limit + 1) % 0x100000, 0);
	assert_int_equal(io.base % 0x1000, 0);
	assert_true(pref.base >= HIGH_BASE);
	assert_true(range_in(mem, imem.base, imem.limit - imem.base + 1));
	/* The inner bridge has no prefetchable window: 02:00.0's pref BAR is in its mem window. */
	assert_true(range_in(imem, find(list, 2, 0, 0)->bar[2].addr, 0x200000));
	assert_true(imem.base < 0x100000000ull);
	/* The I/O of 01:00.0 behind the outer bridge's I/O window. */
	assert_true(range_in(io, find(list, 1, 0, 0)->bar[0].addr, 32));
	/* What the core recorded matches the registers. */
	assert_int_equal(br->window[PCI_WIN_MEM].base, mem.base);
	assert_int_equal(inner->window[PCI_WIN_MEM].limit, imem.limit);
	assert_true(cfg16(&fn_space[0][3][0], PCI_COMMAND) & PCI_COMMAND_MASTER);
	assert_true(cfg16(&fn_space[1][1][0], PCI_COMMAND) & PCI_COMMAND_MASTER);
	assert_logged("2 bridges programmed");
	assert_logged("pci: 00:03.0 bridge window mem pref 1 MiB at 0xc000000000-0xc0000fffff");
	pci_free_list(list);
}

/* Firmware (SeaBIOS) programmed the bridge and everything behind it: left alone. */
static void test_firmware_bridge_kept(void **state)
{
	struct pci_resources r;
	struct pci_dev *list;
	struct fake_fn *br, *dev, *fresh;
	uint8_t before[256];

	(void)state;
	windows(&r, true, true);
	br = add_bridge(0, 5, true, true, true);
	br->cfg[PCI_SECONDARY_BUS] = 1;
	br->cfg[PCI_SUBORDINATE_BUS] = 1;
	br->cfg[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	br->cfg[PCI_IO_BASE] = 0x10; /* 0x1000-0x1fff */
	br->cfg[PCI_IO_LIMIT] = 0x10;
	memcpy(&br->cfg[PCI_MEM_BASE], "\x00\xc0\x00\xc0", 4);	    /* 0xc0000000-0xc00fffff */
	memcpy(&br->cfg[PCI_PREF_MEM_BASE], "\x11\xc0\x11\xc0", 4); /* 0xc0100000-0xc01fffff */
	dev = add_virtio(1, 1);
	dev->cfg[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
	set_bar(dev, 0, 0x1001, 0xffffffe0);
	set_bar(dev, 1, 0xc0000000, 0xfffff000);
	set_bar(dev, 4, 0xc010000c, 0xffffc000);
	fresh = add_virtio(0, 6);

	list = pci_enumerate(&ops, NULL);
	memcpy(before, dev->cfg, sizeof(before));
	dev->bar_writes = 0;
	assert_int_equal(assign(list, &r), 0);
	assert_memory_equal(before, dev->cfg, sizeof(before));
	assert_int_equal(dev->bar_writes, 0);
	assert_logged("0 bridges programmed, 3 kept from firmware");
	/* The new device stays clear of the bridge's windows. */
	assert_true(find(list, 0, 6, 0)->bar[0].addr >= 0x2000);
	assert_false(find(list, 0, 6, 0)->bar[1].addr <= 0xc01fffff);
	(void)fresh;
	pci_free_list(list);

	/* The same, with a BAR behind it that is not in its windows: the subtree is redone. */
	reset_assign(state);
	windows(&r, true, true);
	br = add_bridge(0, 5, true, true, true);
	br->cfg[PCI_SECONDARY_BUS] = 1;
	br->cfg[PCI_SUBORDINATE_BUS] = 1;
	br->cfg[PCI_COMMAND] = PCI_COMMAND_MEMORY;
	memcpy(&br->cfg[PCI_MEM_BASE], "\x00\xc0\x00\xc0", 4);
	dev = add_virtio(1, 1);
	set_bar(dev, 1, 0xd0000000, 0xfffff000);
	list = pci_enumerate(&ops, NULL);
	assert_int_equal(assign(list, &r), 0);
	assert_logged("1 bridge programmed");
	pci_free_list(list);
}

static void test_assign_too_large(void **state)
{
	struct pci_resources r;
	struct pci_dev *list, *d;
	struct fake_fn *f, *br;

	(void)state;
	windows(&r, false, false); /* 512 MiB below 4 GiB only */
	f = add(0, 1, 0, 0x1234, 0x5678, 0x03000000, 0);
	set_bar(f, 0, 0x0, 0xfffff000); /* 4 KiB: fits */
	set_bar(f, 1, 0x0, 0xc0000000); /* 1 GiB mem32: does not */
	add_virtio(0, 2);		/* an innocent neighbour */
	f = add(0, 3, 0, 0x1234, 0x5679, 0x03000000, 0);
	set_bar(f, 0, 0xc, 0x00000000); /* mem64 pref 64 GiB */
	set_bar(f, 1, 0x0, 0xfffffff0);
	br = add_bridge(0, 4, true, true, true);
	f = add(1, 0, 0, 0x1234, 0x567a, 0x03000000, 0);
	set_bar(f, 0, 0x0, 0xc0000000); /* 1 GiB behind a bridge: the window does not fit */

	list = pci_enumerate(&ops, NULL);
	fn_space[0][1][0].bar_writes = 0;
	assert_int_equal(assign(list, &r), 4);
	d = find(list, 0, 1, 0);
	assert_true(d->disabled);
	assert_int_equal(d->bar[0].addr, 0);		   /* not half-configured */
	assert_int_equal(fn_space[0][1][0].bar_writes, 0); /* nothing written */
	assert_false(find(list, 0, 2, 0)->disabled);
	assert_true(find(list, 0, 3, 0)->disabled);
	assert_true(find(list, 1, 0, 0)->disabled);
	assert_true(find(list, 0, 4, 0)->disabled);
	assert_logged("pci: 00:01.0 BAR1 mem32 1 GiB does not fit in any window: device left "
		      "disabled");
	assert_logged("pci: 00:03.0 BAR0 mem64 pref 64 GiB does not fit in any window");
	assert_logged("pci: 00:04.0 bridge window mem 1 GiB does not fit in any window: the "
		      "bridge and what is behind it left disabled");
	assert_logged("pci: 01:00.0 is behind a disabled bridge: device left disabled");
	assert_logged("4 devices disabled");
	/* The innocent neighbour got its space. */
	assert_true(find(list, 0, 2, 0)->bar[1].addr >= LOW_BASE);
	(void)br;
	pci_free_list(list);

	/* A bridge whose own BAR does not fit: it and everything behind it stay off. */
	reset_assign(state);
	windows(&r, false, false);
	br = add_bridge(0, 1, true, true, true);
	set_bar(br, 0, 0x0, 0xc0000000); /* 1 GiB */
	add_virtio(1, 0);
	list = pci_enumerate(&ops, NULL);
	assert_int_equal(assign(list, &r), 2);
	assert_true(find(list, 0, 1, 0)->disabled);
	assert_true(find(list, 1, 0, 0)->disabled);
	assert_false(br->cfg[PCI_COMMAND] & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER));
	assert_logged("pci: 01:00.0 is behind a disabled bridge: device left disabled");
	pci_free_list(list);
}

/*
 * One device would take the whole window and still not fit: it is the one
 * disabled, not the small devices that came after it in placement order.
 */
static void test_assign_hog_released(void **state)
{
	struct pci_resources r;
	struct pci_dev *list;
	struct fake_fn *f;

	(void)state;
	windows(&r, false, false); /* 512 MiB */
	/* Reserved ranges after the window, as the kernel gives them (ECAM, MSI). */
	r.reserved[r.nr_reserved++] = (struct pci_range){0xe0000000, 0xefffffff};
	r.reserved[r.nr_reserved++] = (struct pci_range){0xfee00000, 0xfeefffff};
	f = add(0, 1, 0, 0x1234, 0x1111, 0x03000000, 0);
	set_bar(f, 0, 0x8, 0xe0000000); /* 512 MiB: the whole window */
	set_bar(f, 2, 0x0, 0xfffff000); /* and 4 KiB more: cannot fit */
	f = add(0, 2, 0, 0x1af4, 0x1041, 0x02000000, 0);
	set_bar(f, 1, 0x0, 0xfffff000);
	add_bridge(0, 3, false, true, true); /* its 1 MiB window is tried before the 4 KiB BARs */
	add_virtio(1, 0);
	list = pci_enumerate(&ops, NULL);
	fn_space[0][1][0].bar_writes = 0;
	assert_int_equal(assign(list, &r), 1);
	assert_true(find(list, 0, 1, 0)->disabled);
	assert_int_equal(find(list, 0, 1, 0)->bar[0].addr, 0);
	assert_int_equal(fn_space[0][1][0].bar_writes, 0);
	assert_false(find(list, 0, 2, 0)->disabled);
	assert_false(find(list, 0, 3, 0)->disabled);
	assert_false(find(list, 1, 0, 0)->disabled);
	assert_int_equal(find(list, 1, 0, 0)->bar[1].addr, LOW_BASE);
	assert_logged("pci: 00:01.0 BAR2 mem32 4 KiB does not fit in any window (the device "
		      "needs 524292 KiB in all): device left disabled");
	assert_logged("1 device disabled");
	pci_free_list(list);
}

static void test_assign_64bit(void **state)
{
	struct pci_resources r;
	struct pci_dev *list;
	struct fake_fn *f;

	(void)state;
	windows(&r, false, true);
	f = add(0, 1, 0, 0x1234, 0x1, 0x03000000, 0);
	set_bar(f, 0, 0x4, 0xffff0000); /* mem64, not prefetchable: below 4 GiB */
	set_bar(f, 1, 0x0, 0xffffffff);
	set_bar(f, 2, 0xc, 0x00000000); /* mem64 pref 8 GiB: only the high window holds it */
	set_bar(f, 3, 0x0, 0xfffffffe);
	f = add(0, 2, 0, 0x1234, 0x2, 0x03000000, 0);
	set_bar(f, 0, 0x4, 0xc0000000); /* mem64 1 GiB: not below 4 GiB (512 MiB): goes high */
	set_bar(f, 1, 0x0, 0xffffffff);

	list = pci_enumerate(&ops, NULL);
	assert_int_equal(find(list, 0, 1, 0)->bar[2].size, 8ull << 30);
	assert_int_equal(assign(list, &r), 0);
	assert_true(find(list, 0, 1, 0)->bar[0].addr < 0x100000000ull);
	assert_int_equal(find(list, 0, 1, 0)->bar[2].addr, HIGH_BASE);
	assert_int_equal(cfg32(&fn_space[0][1][0], PCI_BAR0 + 12), HIGH_BASE >> 32);
	assert_true(find(list, 0, 2, 0)->bar[0].addr >= HIGH_BASE);
	pci_free_list(list);
}

static void test_assign_no_windows(void **state)
{
	struct pci_resources r = {0};
	struct pci_dev *list;

	(void)state;
	add_virtio(0, 1);
	list = pci_enumerate(&ops, NULL);
	assert_int_equal(pci_assign_resources(list, &r, log_capture, NULL), 0);
	assert_int_equal(find(list, 0, 1, 0)->bar[1].addr, 0);
	assert_int_equal(fn_space[0][1][0].cfg[PCI_COMMAND], 0);
	assert_logged("no host bridge windows");
	assert_int_equal(pci_assign_resources(NULL, &r, NULL, NULL), 0);
	pci_free_list(list);
}

/* A bridge without an I/O window: I/O BARs behind it are left unassigned, the device works. */
static void test_bridge_without_io(void **state)
{
	struct pci_resources r;
	struct pci_dev *list, *d;

	(void)state;
	windows(&r, true, true);
	add_bridge(0, 1, false, true, true);
	add_virtio(1, 0);
	list = pci_enumerate(&ops, NULL);
	assert_false(find(list, 0, 1, 0)->has_io_window);
	assert_true(find(list, 0, 1, 0)->has_pref_window);
	assert_true(find(list, 0, 1, 0)->pref64);
	assert_int_equal(assign(list, &r), 0);
	d = find(list, 1, 0, 0);
	assert_false(d->disabled);
	assert_int_equal(d->bar[0].addr, 0);
	assert_true(d->bar[1].addr != 0);
	assert_logged("pci: 01:00.0 BAR0 I/O 32 bytes left unassigned: no I/O window");
	pci_free_list(list);
}

int main(void)
{
	const struct CMUnitTest pci[] = {
		cmocka_unit_test_setup(test_bars_decoded, reset),
		cmocka_unit_test_setup(test_bar_mask_with_holes, reset),
		cmocka_unit_test_setup(test_multifunction_and_gaps, reset),
		cmocka_unit_test_setup(test_bridge_numbering, reset),
		cmocka_unit_test_setup(test_bridge_loop, reset),
		cmocka_unit_test_setup(test_capability_walk, reset),
		cmocka_unit_test_setup(test_empty_bus, reset),
		cmocka_unit_test_setup(test_assign_all_unassigned, reset_assign),
		cmocka_unit_test_setup(test_assign_keeps_firmware, reset_assign),
		cmocka_unit_test_setup(test_assign_bridges, reset_assign),
		cmocka_unit_test_setup(test_firmware_bridge_kept, reset_assign),
		cmocka_unit_test_setup(test_assign_too_large, reset_assign),
		cmocka_unit_test_setup(test_assign_hog_released, reset_assign),
		cmocka_unit_test_setup(test_assign_64bit, reset_assign),
		cmocka_unit_test_setup(test_assign_no_windows, reset_assign),
		cmocka_unit_test_setup(test_bridge_without_io, reset_assign),
	};

	return cmocka_run_group_tests_name("pci", pci, NULL, NULL);
}
