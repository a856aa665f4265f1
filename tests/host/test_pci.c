/* Host tests of drivers/pci/pci.c over a simulated configuration space. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <pci/pci.h>

#define BUSES 4

struct fake_fn {
	int present;
	uint8_t cfg[256];
	uint32_t bar_mask[6]; /* writable bits of each BAR register */
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

int main(void)
{
	const struct CMUnitTest pci[] = {
		cmocka_unit_test_setup(test_bars_decoded, reset),
		cmocka_unit_test_setup(test_multifunction_and_gaps, reset),
		cmocka_unit_test_setup(test_bridge_numbering, reset),
		cmocka_unit_test_setup(test_bridge_loop, reset),
		cmocka_unit_test_setup(test_capability_walk, reset),
		cmocka_unit_test_setup(test_empty_bus, reset),
	};

	return cmocka_run_group_tests_name("pci", pci, NULL, NULL);
}
