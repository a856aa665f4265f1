/*
 * Host tests for drivers/acpi/acpi_aml.c: PCI host bridges (bus range, windows,
 * ECAM base) from QEMU's real DSDTs and from hand-built AML, and the
 * malformed cases: truncated packages, bad lengths, descriptors running
 * past the end, deep nesting, every truncation and many byte flips of a
 * real DSDT. The AML under test always sits in a heap block of exactly its
 * size, so ASan catches any read past it.
 *
 * QEMU's DSDTs come from dsdt_qemu.h, which scripts/dump_dsdt.py writes
 * into build/host/gen/ at build time: the kernel prints its firmware's
 * DSDT under QEMU (test=acpi_dump_dsdt), so no table is kept in the tree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <acpi/acpi.h>

#include "dsdt_qemu.h"

#define HDR 36

static struct acpi_info info;

static int setup(void **state)
{
	(void)state;
	memset(&info, 0, sizeof(info));
	alarm(60); /* a scan stuck in a loop fails instead of hanging */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}

static void print_problems(void)
{
	for (unsigned i = 0; i < info.nr_problems; i++)
		printf("# problem: %s\n", info.problems[i]);
}

static void assert_no_problems(void)
{
	print_problems();
	assert_int_equal(info.nr_problems, 0);
}

static void assert_problem(const char *needle)
{
	for (unsigned i = 0; i < info.nr_problems; i++)
		if (strstr(info.problems[i], needle))
			return;
	print_problems();
	fail_msg("no problem recorded containing \"%s\"", needle);
}

/* Scan a copy of exactly len bytes. */
static void scan(const uint8_t *aml, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, aml, len);
	acpi_aml_scan(&info, copy, len);
	free(copy);
}

static void crs(const uint8_t *res, size_t len, struct acpi_pci_host *h)
{
	uint8_t *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	memcpy(copy, res, len);
	memset(h, 0, sizeof(*h));
	strcpy(h->path, "\\T");
	h->bus_end = 255;
	acpi_parse_crs(&info, h, copy, len);
	free(copy);
}

static void assert_window(const struct acpi_pci_host *h, unsigned i, enum acpi_window_kind kind,
			  uint64_t min, uint64_t max)
{
	assert_true(i < h->nr_windows);
	assert_int_equal(h->window[i].kind, kind);
	assert_int_equal(h->window[i].min, min);
	assert_int_equal(h->window[i].max, max);
}

static void test_qemu_microvm(void **state)
{
	const struct acpi_pci_host *h = &info.pci_host[0];

	(void)state;
	scan(dsdt_microvm + HDR, sizeof(dsdt_microvm) - HDR);
	assert_no_problems();
	assert_int_equal(info.nr_pci_hosts, 1);
	assert_string_equal(h->path, "\\_SB.PCI0");
	assert_true(h->have_crs);
	assert_true(h->have_ecam);
	assert_int_equal(h->ecam, 0xe0000000);
	assert_int_equal(h->segment, 0);
	assert_true(h->have_bus);
	assert_int_equal(h->bus_start, 0);
	assert_int_equal(h->bus_end, 255);
	/* No I/O window: microvm's GPEX has no port space. */
	assert_int_equal(h->nr_windows, 2);
	assert_window(h, 0, ACPI_WINDOW_MEM, 0xc0000000, 0xdfffffff);
	assert_window(h, 1, ACPI_WINDOW_MEM, 0xc000000000ull, 0xffffffffffull);
	assert_false(h->window[1].prefetch);
}

static void test_qemu_q35(void **state)
{
	const struct acpi_pci_host *h = &info.pci_host[0];

	(void)state;
	/* Device (PCI0) in one Scope (_SB), its _CRS in a later Scope (\_SB.PCI0). */
	scan(dsdt_q35 + HDR, sizeof(dsdt_q35) - HDR);
	assert_no_problems();
	assert_int_equal(info.nr_pci_hosts, 1);
	assert_string_equal(h->path, "\\_SB.PCI0");
	assert_true(h->have_crs);
	assert_false(h->have_ecam); /* q35 has an MCFG instead */
	assert_int_equal(h->bus_start, 0);
	assert_int_equal(h->bus_end, 255);
	assert_int_equal(h->nr_windows, 6);
	assert_window(h, 0, ACPI_WINDOW_IO, 0, 0xcf7);
	assert_window(h, 1, ACPI_WINDOW_IO, 0xd00, 0xffff);
	assert_window(h, 2, ACPI_WINDOW_MEM, 0xa0000, 0xbffff);
	assert_window(h, 3, ACPI_WINDOW_MEM, 0x08000000, 0xafffffff);
	assert_window(h, 4, ACPI_WINDOW_MEM, 0xc0000000, 0xfebfffff);
	assert_window(h, 5, ACPI_WINDOW_MEM, 0x100000000ull, 0x8ffffffffull);
}

static void test_qemu_pc(void **state)
{
	const struct acpi_pci_host *h = &info.pci_host[0];

	(void)state;
	/* _HID EisaId ("PNP0A03"), the compressed form. */
	scan(dsdt_pc + HDR, sizeof(dsdt_pc) - HDR);
	assert_no_problems();
	assert_int_equal(info.nr_pci_hosts, 1);
	assert_string_equal(h->path, "\\_SB.PCI0");
	assert_int_equal(h->nr_windows, 5);
	assert_window(h, 0, ACPI_WINDOW_IO, 0, 0xcf7);
	assert_window(h, 3, ACPI_WINDOW_MEM, 0x08000000, 0xfebfffff);
	assert_window(h, 4, ACPI_WINDOW_MEM, 0x100000000ull, 0x17fffffffull);
}

/* Every prefix of a real DSDT: no read past it, no crash, a bounded scan. */
static void test_every_truncation(void **state)
{
	const size_t len = sizeof(dsdt_q35) - HDR;

	(void)state;
	for (size_t n = 0; n <= len; n++) {
		memset(&info, 0, sizeof(info));
		scan(dsdt_q35 + HDR, n);
		assert_true(info.nr_pci_hosts <= 1);
	}
	/* The whole of the microvm one too: its bridge is near the end. */
	for (size_t n = 0; n <= sizeof(dsdt_microvm) - HDR; n++) {
		memset(&info, 0, sizeof(info));
		scan(dsdt_microvm + HDR, n);
		if (info.nr_pci_hosts)
			assert_true(info.pci_host[0].nr_windows <= 2);
	}
}

/* Each byte of a real DSDT replaced by a few nasty values, one at a time. */
static void test_byte_flips(void **state)
{
	static const uint8_t nasty[] = {0x00, 0xff, 0x3f, 0x7f, 0xc0, 0x5b, 0x10, 0x2f};
	const size_t len = sizeof(dsdt_microvm) - HDR;
	uint8_t *copy = malloc(len);

	(void)state;
	assert_non_null(copy);
	for (size_t off = 0; off < len; off++) {
		for (size_t k = 0; k < sizeof(nasty); k++) {
			memcpy(copy, dsdt_microvm + HDR, len);
			copy[off] = nasty[k];
			memset(&info, 0, sizeof(info));
			acpi_aml_scan(&info, copy, len);
			assert_true(info.nr_pci_hosts <= ACPI_MAX_PCI_HOSTS);
			for (unsigned i = 0; i < info.nr_pci_hosts; i++)
				assert_true(info.pci_host[i].nr_windows <= ACPI_MAX_WINDOWS);
		}
	}
	free(copy);
}

/* A small AML assembler: packages get a 4-byte PkgLength patched at the end. */
struct aml {
	uint8_t b[4096];
	size_t n;
	size_t open[32];
	int depth;
};

static void emit(struct aml *a, const void *bytes, size_t len)
{
	assert_true(a->n + len <= sizeof(a->b));
	memcpy(a->b + a->n, bytes, len);
	a->n += len;
}

static void byte(struct aml *a, uint8_t v)
{
	emit(a, &v, 1);
}

static void pkg_begin(struct aml *a)
{
	a->open[a->depth++] = a->n;
	emit(a, "\0\0\0\0", 4);
}

static void pkg_end(struct aml *a)
{
	size_t at = a->open[--a->depth];
	uint32_t len = (uint32_t)(a->n - at);

	a->b[at] = (uint8_t)(0xc0 | (len & 0xf));
	a->b[at + 1] = (uint8_t)(len >> 4);
	a->b[at + 2] = (uint8_t)(len >> 12);
	a->b[at + 3] = (uint8_t)(len >> 20);
}

/* A NameString as written: "\\_SB_PCI0" style is spelled by the caller. */
static void name(struct aml *a, const char *s)
{
	emit(a, s, strlen(s));
}

static void scope_begin(struct aml *a, const char *n)
{
	byte(a, 0x10);
	pkg_begin(a);
	name(a, n);
}

static void device_begin(struct aml *a, const char *n)
{
	byte(a, 0x5b);
	byte(a, 0x82);
	pkg_begin(a);
	name(a, n);
}

static void name_string_obj(struct aml *a, const char *n, const char *str)
{
	byte(a, 0x08);
	name(a, n);
	byte(a, 0x0d);
	emit(a, str, strlen(str) + 1);
}

static void name_dword(struct aml *a, const char *n, uint32_t v)
{
	byte(a, 0x08);
	name(a, n);
	byte(a, 0x0c);
	for (int i = 0; i < 4; i++)
		byte(a, (uint8_t)(v >> (8 * i)));
}

static void name_qword(struct aml *a, const char *n, uint64_t v)
{
	byte(a, 0x08);
	name(a, n);
	byte(a, 0x0e);
	for (int i = 0; i < 8; i++)
		byte(a, (uint8_t)(v >> (8 * i)));
}

static void le(uint8_t *p, uint64_t v, int width)
{
	for (int i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A Word/DWord/QWord address descriptor: width 2, 4 or 8. */
static size_t addr_desc(uint8_t *p, int width, uint8_t type, uint8_t gflags, uint8_t tflags,
			uint64_t min, uint64_t max, uint64_t translation, uint64_t len)
{
	size_t total = 6 + 5 * (size_t)width;

	p[0] = width == 2 ? 0x88 : width == 4 ? 0x87 : 0x8a;
	le(p + 1, total - 3, 2);
	p[3] = type;
	p[4] = gflags;
	p[5] = tflags;
	le(p + 6, 0, width);
	le(p + 6 + width, min, width);
	le(p + 6 + 2 * width, max, width);
	le(p + 6 + 3 * width, translation, width);
	le(p + 6 + 4 * width, len, width);
	return total;
}

#define FIXED 0x0c /* _MIF | _MAF */

/* Name (_CRS, Buffer () {res}) */
static void name_buffer(struct aml *a, const char *n, const uint8_t *res, size_t len)
{
	byte(a, 0x08);
	name(a, n);
	byte(a, 0x11);
	pkg_begin(a);
	byte(a, 0x0b); /* WordConst BufferSize */
	byte(a, (uint8_t)len);
	byte(a, (uint8_t)(len >> 8));
	emit(a, res, len);
	pkg_end(a);
}

/* The typical template: bus 0-0x7f, I/O, mem32, prefetchable mem64, end tag. */
static size_t typical_crs(uint8_t *r)
{
	size_t n = 0;

	n += addr_desc(r + n, 2, 2, FIXED, 0, 0, 0x7f, 0, 0x80);
	r[n++] = 0x47; /* IO (Decode16, 0xcf8, 0xcf8, 1, 8): a consumer, not a window */
	r[n++] = 1;
	le(r + n, 0xcf8, 2);
	le(r + n + 2, 0xcf8, 2);
	r[n + 4] = 1;
	r[n + 5] = 8;
	n += 6;
	n += addr_desc(r + n, 2, 1, FIXED, 3, 0x1000, 0xffff, 0, 0xf000);
	n += addr_desc(r + n, 4, 0, FIXED, 0x02, 0x80000000, 0xbfffffff, 0, 0x40000000);
	n += addr_desc(r + n, 8, 0, FIXED, 0x06, 0x800000000ull, 0xfffffffffull, 0, 0x800000000ull);
	r[n++] = 0x79; /* End Tag */
	r[n++] = 0;
	return n;
}

static void test_synthetic_bridge(void **state)
{
	struct aml a = {0};
	uint8_t r[256];
	size_t rn = typical_crs(r);
	const struct acpi_pci_host *h = &info.pci_host[0];

	(void)state;
	scope_begin(&a, "\\_SB_");
	device_begin(&a, "PCI1");
	name_dword(&a, "_HID", 0x0c0cd041); /* PNP0C0C: not a bridge */
	pkg_end(&a);
	device_begin(&a, "PCI0");
	name_string_obj(&a, "_HID", "PNP0A08");
	name_dword(&a, "_SEG", 0);
	name_qword(&a, "_CBA", 0xb0000000);
	name_buffer(&a, "_CRS", r, rn);
	device_begin(&a, "CHLD"); /* a child with its own _CRS is not the bridge */
	name_buffer(&a, "_CRS", r, rn);
	pkg_end(&a);
	pkg_end(&a);
	pkg_end(&a);
	scan(a.b, a.n);
	assert_no_problems();
	assert_int_equal(info.nr_pci_hosts, 1);
	assert_string_equal(h->path, "\\_SB.PCI0");
	assert_true(h->have_ecam);
	assert_int_equal(h->ecam, 0xb0000000);
	assert_int_equal(h->bus_start, 0);
	assert_int_equal(h->bus_end, 0x7f);
	assert_int_equal(h->nr_windows, 3);
	assert_window(h, 0, ACPI_WINDOW_IO, 0x1000, 0xffff);
	assert_window(h, 1, ACPI_WINDOW_MEM, 0x80000000, 0xbfffffff);
	assert_false(h->window[1].prefetch);
	assert_window(h, 2, ACPI_WINDOW_MEM, 0x800000000ull, 0xfffffffffull);
	assert_true(h->window[2].prefetch);
}

/* _CID as a package; _CRS and a Method _CBA in later scopes, reached by ^ and by a dual name. */
static void test_cid_package_and_later_scopes(void **state)
{
	struct aml a = {0};
	uint8_t r[256];
	size_t rn = typical_crs(r);
	const struct acpi_pci_host *h = &info.pci_host[0];

	(void)state;
	scope_begin(&a, "\\_SB_");
	device_begin(&a, "PCI0");
	byte(&a, 0x08);
	name(&a, "_CID");
	byte(&a, 0x12); /* Package (2) { "ABCD0001", EisaId ("PNP0A03") } */
	pkg_begin(&a);
	byte(&a, 2);
	byte(&a, 0x0d);
	emit(&a, "ABCD0001", 9);
	byte(&a, 0x0c);
	emit(&a, "\x41\xd0\x0a\x03", 4);
	pkg_end(&a);
	name_dword(&a, "_BBN", 0);
	scope_begin(&a, "CHLD");
	/* Scope (^^PCI0) from inside \_SB.PCI0.CHLD is \_SB.PCI0 */
	scope_begin(&a, "^^PCI0");
	name_buffer(&a, "_CRS", r, rn);
	pkg_end(&a);
	pkg_end(&a);
	pkg_end(&a);
	pkg_end(&a);
	/* Scope (\) { Method (\_SB.PCI0._CBA) { Return (0xe0000000) } }, as a multi-name */
	scope_begin(&a, "\\");
	byte(&a, 0);
	byte(&a, 0x14);
	pkg_begin(&a);
	name(&a, "\\/\x03_SB_PCI0_CBA");
	byte(&a, 0);	/* MethodFlags */
	byte(&a, 0xa4); /* Return */
	byte(&a, 0x0c);
	emit(&a, "\x00\x00\x00\xe0", 4);
	pkg_end(&a);
	pkg_end(&a);
	scan(a.b, a.n);
	assert_no_problems();
	assert_int_equal(info.nr_pci_hosts, 1);
	assert_string_equal(h->path, "\\_SB.PCI0");
	assert_true(h->have_crs);
	assert_int_equal(h->nr_windows, 3);
	assert_true(h->have_ecam);
	assert_int_equal(h->ecam, 0xe0000000);
}

static void test_methods_not_evaluated(void **state)
{
	struct aml a = {0};

	(void)state;
	device_begin(&a, "PCI0");
	name_string_obj(&a, "_HID", "PNP0A03");
	byte(&a, 0x14); /* Method (_CRS) { Return (BUF0) } */
	pkg_begin(&a);
	name(&a, "_CRS");
	byte(&a, 0);
	byte(&a, 0xa4);
	name(&a, "BUF0");
	pkg_end(&a);
	byte(&a, 0x14); /* Method (_CBA) { Return (Local0) } */
	pkg_begin(&a);
	name(&a, "_CBA");
	byte(&a, 0);
	byte(&a, 0xa4);
	byte(&a, 0x60);
	pkg_end(&a);
	/* If (One) { Name (_CRS, ...) }: conditionals are not evaluated */
	byte(&a, 0xa0);
	pkg_begin(&a);
	byte(&a, 0x01);
	name_buffer(&a, "_CRS", (const uint8_t *)"\x79\x00", 2);
	pkg_end(&a);
	pkg_end(&a);
	scan(a.b, a.n);
	assert_int_equal(info.nr_pci_hosts, 1);
	assert_false(info.pci_host[0].have_crs);
	assert_false(info.pci_host[0].have_ecam);
	assert_problem("PCI0._CRS is a method");
	assert_problem("PCI0._CBA does not return a constant");
}

/* A package whose length runs past its parent ends that scope, not the scan. */
static void test_bad_lengths(void **state)
{
	struct aml a = {0};
	uint8_t saved[4];
	size_t dev;

	(void)state;
	scope_begin(&a, "\\_SB_");
	dev = a.n;
	device_begin(&a, "BAD0");
	name_string_obj(&a, "_HID", "PNP0A08");
	pkg_end(&a);
	pkg_end(&a);
	device_begin(&a, "PCI0");
	name_string_obj(&a, "_HID", "PNP0A08");
	pkg_end(&a);
	memcpy(saved, a.b + dev + 2, 4); /* BAD0's PkgLength */
	a.b[dev + 3] = 0xff;		 /* now says ~1 MiB */
	scan(a.b, a.n);
	assert_problem("opcode 0x5b at 0xa in \\_SB not understood");
	assert_int_equal(info.nr_pci_hosts, 1);
	assert_string_equal(info.pci_host[0].path, "\\PCI0");

	/* Reserved bits 5:4 set in a multi-byte PkgLength. */
	memset(&info, 0, sizeof(info));
	memcpy(a.b + dev + 2, saved, 4);
	a.b[dev + 2] |= 0x30;
	scan(a.b, a.n);
	assert_problem("opcode 0x5b at 0xa");
	assert_int_equal(info.nr_pci_hosts, 1);

	/* A PkgLength shorter than its own bytes. */
	memset(&info, 0, sizeof(info));
	memcpy(a.b + dev + 2, "\xc1\0\0\0", 4);
	scan(a.b, a.n);
	assert_problem("opcode 0x5b at 0xa");
	assert_int_equal(info.nr_pci_hosts, 1);

	/* Intact again: both bridges. */
	memset(&info, 0, sizeof(info));
	memcpy(a.b + dev + 2, saved, 4);
	scan(a.b, a.n);
	assert_no_problems();
	assert_int_equal(info.nr_pci_hosts, 2);
}

static void test_unknown_opcode_skips_scope(void **state)
{
	struct aml a = {0};

	(void)state;
	scope_begin(&a, "\\_SB_");
	byte(&a, 0x70); /* Store (One, Local0): not a declaration */
	byte(&a, 0x01);
	byte(&a, 0x60);
	device_begin(&a, "LOST");
	name_string_obj(&a, "_HID", "PNP0A08");
	pkg_end(&a);
	pkg_end(&a);
	device_begin(&a, "PCI0"); /* the next scope is still scanned */
	name_string_obj(&a, "_HID", "PNP0A08");
	pkg_end(&a);
	scan(a.b, a.n);
	assert_problem("opcode 0x70 at 0xa in \\_SB not understood");
	assert_int_equal(info.nr_pci_hosts, 1);
	assert_string_equal(info.pci_host[0].path, "\\PCI0");
}

static void test_deep_nesting_bounded(void **state)
{
	struct aml a = {0};
	char n[16];

	(void)state;
	/* Scope (S000) { Scope (^S001) { Scope (^S002) ...: shallow names, deep nesting */
	for (int i = 0; i < 20; i++) {
		snprintf(n, sizeof(n), "S%03d", i);
		if (i) {
			byte(&a, 0x10);
			pkg_begin(&a);
			byte(&a, '^');
			name(&a, n);
		} else {
			scope_begin(&a, n);
		}
	}
	device_begin(&a, "PCI0");
	name_string_obj(&a, "_HID", "PNP0A08");
	pkg_end(&a);
	for (int i = 0; i < 20; i++)
		pkg_end(&a);
	scan(a.b, a.n);
	assert_problem("nested too deep");
	assert_int_equal(info.nr_pci_hosts, 0);

	/* A name string of 255 segments is refused, not followed. */
	memset(&info, 0, sizeof(info));
	a.n = 0;
	byte(&a, 0x08);
	byte(&a, 0x2f);
	byte(&a, 0xff);
	for (int i = 0; i < 255; i++)
		name(&a, "ABCD");
	byte(&a, 0);
	scan(a.b, a.n);
	assert_problem("opcode 0x08 at 0x0");
}

static void test_host_bridges_bounded(void **state)
{
	struct aml a = {0};
	char n[16];

	(void)state;
	for (int i = 0; i < ACPI_MAX_PCI_HOSTS + 2; i++) {
		snprintf(n, sizeof(n), "PC%02d", i);
		device_begin(&a, n);
		name_string_obj(&a, "_HID", "PNP0A08");
		name_string_obj(&a, "_CID", "PNP0A03"); /* the same bridge twice: counted once */
		pkg_end(&a);
	}
	scan(a.b, a.n);
	assert_int_equal(info.nr_pci_hosts, ACPI_MAX_PCI_HOSTS);
	assert_int_equal(info.pci_hosts_dropped, 2);
	assert_problem("6 PCI host bridges, only 4 kept");
}

static void test_crs_malformed(void **state)
{
	struct acpi_pci_host h;
	uint8_t r[512];
	size_t n;

	(void)state;
	/* A DWord descriptor whose length says 10: too short, skipped; the next one is read. */
	n = addr_desc(r, 4, 0, FIXED, 0, 0x80000000, 0x8fffffff, 0, 0x10000000);
	le(r + 1, 10, 2);
	n = 13;
	n += addr_desc(r + n, 4, 0, FIXED, 0, 0x90000000, 0x9fffffff, 0, 0x10000000);
	crs(r, n, &h);
	assert_problem("too short");
	assert_int_equal(h.nr_windows, 1);
	assert_window(&h, 0, ACPI_WINDOW_MEM, 0x90000000, 0x9fffffff);

	/* A descriptor running past the end stops the walk. */
	memset(&info, 0, sizeof(info));
	n = addr_desc(r, 8, 0, FIXED, 0, 0x100000000ull, 0x1ffffffffull, 0, 0x100000000ull);
	crs(r, n - 1, &h);
	assert_problem("runs past the end");
	assert_int_equal(h.nr_windows, 0);

	/*
	 * Address descriptors whose length says 0, last in the template: no
	 * byte past their 3-byte header is read (ASan: crs() copies exactly).
	 */
	for (uint8_t tag = 0x87; tag <= 0x8b; tag++) {
		uint8_t d[3] = {tag, 0, 0};

		memset(&info, 0, sizeof(info));
		crs(d, sizeof(d), &h);
		assert_int_equal(h.nr_windows, 0);
		if (tag != 0x89) /* extended interrupt descriptor, not an address space */
			assert_problem("too short (3 bytes)");
	}

	/* A large header cut short, a small descriptor cut short. */
	memset(&info, 0, sizeof(info));
	crs((const uint8_t *)"\x87\x17", 2, &h);
	assert_problem("truncated descriptor");
	memset(&info, 0, sizeof(info));
	crs((const uint8_t *)"\x47\x01\xf8\x0c", 4, &h);
	assert_problem("runs past the end");

	/* min > max, zero length, a translation offset, a consumer: no windows. */
	memset(&info, 0, sizeof(info));
	n = addr_desc(r, 4, 0, FIXED, 0, 0x90000000, 0x8fffffff, 0, 0x1000);
	n += addr_desc(r + n, 4, 0, FIXED, 0, 0x90000000, 0x9fffffff, 0, 0);
	n += addr_desc(r + n, 4, 0, FIXED, 0, 0x90000000, 0x9fffffff, 0x1000, 0x10000000);
	n += addr_desc(r + n, 4, 0, FIXED | 1, 0, 0x90000000, 0x9fffffff, 0, 0x10000000);
	crs(r, n, &h);
	assert_int_equal(h.nr_windows, 0);
	assert_problem("0x90000000-0x8fffffff");
	assert_problem("length 0x0 ignored");
	assert_problem("translation 0x1000");

	/* Fixed min and max with a shorter length: the shorter range. */
	memset(&info, 0, sizeof(info));
	n = addr_desc(r, 4, 0, FIXED, 0, 0x90000000, 0x9fffffff, 0, 0x1000000);
	crs(r, n, &h);
	assert_window(&h, 0, ACPI_WINDOW_MEM, 0x90000000, 0x90ffffff);

	/* An Extended Address Space descriptor (6.4.3.5.4) is a window too. */
	memset(&info, 0, sizeof(info));
	memset(r, 0, 56);
	r[0] = 0x8b;
	le(r + 1, 53, 2);
	r[3] = 0;
	r[4] = FIXED;
	r[5] = 0x06;
	le(r + 16, 0x4000000000ull, 8);
	le(r + 24, 0x40ffffffffull, 8);
	le(r + 40, 0x100000000ull, 8);
	crs(r, 56, &h);
	assert_int_equal(h.nr_windows, 1);
	assert_window(&h, 0, ACPI_WINDOW_MEM, 0x4000000000ull, 0x40ffffffffull);
	assert_true(h.window[0].prefetch);

	/* More windows than fit: the first ACPI_MAX_WINDOWS kept, the rest counted. */
	memset(&info, 0, sizeof(info));
	n = 0;
	for (int i = 0; i < ACPI_MAX_WINDOWS + 3; i++)
		n += addr_desc(r + n, 2, 1, FIXED, 0, 0x1000u * (i + 1), 0x1000u * (i + 1) + 0xfff,
			       0, 0x1000);
	crs(r, n, &h);
	assert_int_equal(h.nr_windows, ACPI_MAX_WINDOWS);
	assert_int_equal(h.windows_dropped, 3);
	assert_problem("only 12 kept");
}

/* acpi_parse_dsdt: the table header is checked before the AML is read. */
static uint8_t fake_dsdt[sizeof(dsdt_microvm)];
#define FAKE_DSDT_ADDR 0x7000

static const void *fake_map(uint64_t phys, size_t len, void *ctx)
{
	static uint8_t *last;

	(void)ctx;
	if (phys < FAKE_DSDT_ADDR || len > sizeof(fake_dsdt) - (phys - FAKE_DSDT_ADDR))
		return NULL;
	free(last);
	last = malloc(len);
	assert_non_null(last);
	memcpy(last, fake_dsdt + (phys - FAKE_DSDT_ADDR), len);
	return last;
}

static void test_parse_dsdt(void **state)
{
	(void)state;
	memcpy(fake_dsdt, dsdt_microvm, sizeof(fake_dsdt));
	assert_int_equal(acpi_parse_dsdt(&info, fake_map, NULL), -ENOENT); /* no FADT */
	info.have_fadt = true;
	info.fadt.dsdt = FAKE_DSDT_ADDR;
	assert_int_equal(acpi_parse_dsdt(&info, fake_map, NULL), 0);
	assert_true(info.have_dsdt);
	assert_int_equal(info.nr_pci_hosts, 1);
	assert_int_equal(info.pci_host[0].ecam, 0xe0000000);
	assert_no_problems();

	/* A bad checksum: the AML is not looked at. */
	fake_dsdt[100] ^= 1;
	assert_int_equal(acpi_parse_dsdt(&info, fake_map, NULL), -EINVAL);
	assert_false(info.have_dsdt);
	assert_int_equal(info.nr_pci_hosts, 0);
	assert_problem("DSDT at 0x7000: bad checksum");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_qemu_microvm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_q35, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_pc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_synthetic_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cid_package_and_later_scopes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_methods_not_evaluated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_opcode_skips_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_nesting_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_bridges_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crs_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_dsdt, setup, teardown),
	};

	return cmocka_run_group_tests_name("acpi_aml", tests, NULL, NULL);
}
