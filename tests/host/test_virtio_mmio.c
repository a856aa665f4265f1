/*
 * Host tests of virtio-mmio discovery: the virtio_mmio.device= parser
 * (drivers/virtio/transport/mmio_parse.c) and the DSDT's LNRO0005 devices
 * through the AML scan (drivers/acpi/acpi_aml.c), on the bytes of QEMU 7.2
 * microvm's own DSDT entry for a transport.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <acpi/acpi.h>
#include <virtio/virtio_mmio.h>

static void test_parse_good(void **state)
{
	struct virtio_mmio_res r;
	const char *why;

	(void)state;
	/* What QEMU microvm appends with acpi=off. */
	assert_int_equal(virtio_mmio_parse("512@0xfeb00e00:12", &r, &why), 0);
	assert_null(why);
	assert_int_equal(r.size, 512);
	assert_int_equal(r.base, 0xfeb00e00);
	assert_int_equal(r.irq, 12);
	assert_int_equal(r.id, -1);
	/* Firecracker's form: size with a suffix, an explicit id. */
	assert_int_equal(virtio_mmio_parse("4K@0xd0000000:5:0", &r, &why), 0);
	assert_int_equal(r.size, 4096);
	assert_int_equal(r.base, 0xd0000000);
	assert_int_equal(r.irq, 5);
	assert_int_equal(r.id, 0);
	assert_int_equal(virtio_mmio_parse("1m@4294967296:40:7", &r, &why), 0);
	assert_int_equal(r.size, 1 << 20);
	assert_int_equal(r.base, 0x100000000ull);
	assert_int_equal(r.id, 7);
	assert_int_equal(virtio_mmio_parse("0x200@0XFEB00000:255", &r, &why), 0);
	assert_int_equal(r.size, 0x200);
	assert_int_equal(r.irq, 255);
}

static void test_parse_bad(void **state)
{
	static const char *const malformed[] = {
		"",
		"512",
		"512@",
		"512@0xfeb00e00",
		"512@0xfeb00e00:",
		"512@0xfeb00e00:12:",
		"512@0xfeb00e00:12:x",
		"512@0xfeb00e00:12junk",
		"512x@0xfeb00e00:12",
		"@0xfeb00e00:12",
		"0x@0xfeb00e00:12",
		"512@0xfeb00e00:12:99999999999",
		"99999999999999999999999@0x1000:5",
		"512 @0x1000:5",
	};
	struct virtio_mmio_res r = {.base = 0x1234};
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		why = NULL;
		if (virtio_mmio_parse(malformed[i], &r, &why) != -EINVAL)
			fail_msg("\"%s\" was taken", malformed[i]);
		assert_non_null(why);
	}
	assert_int_equal(virtio_mmio_parse(NULL, &r, &why), -EINVAL);
	assert_int_equal(r.base, 0x1234); /* nothing written on error */

	assert_int_equal(virtio_mmio_parse("0@0x1000:5", &r, &why), -ERANGE);
	assert_string_equal(why, "size 0");
	assert_int_equal(virtio_mmio_parse("0K@0x1000:5", &r, &why), -ERANGE);
	assert_int_equal(virtio_mmio_parse("255@0x1000:5", &r, &why), -ERANGE);
	assert_int_equal(virtio_mmio_parse("512@0x1000:256", &r, &why), -ERANGE);
	assert_string_equal(why, "irq out of range (0-255)");
	assert_int_equal(virtio_mmio_parse("4K@0xfffffffffffff800:5", &r, &why), -ERANGE);
	assert_string_equal(why, "base + size wraps");
	assert_int_equal(virtio_mmio_parse("17179869184G@0x0:5", &r, &why), -ERANGE);
	assert_int_equal(r.base, 0x1234);
}

static void test_overlaps(void **state)
{
	const struct virtio_mmio_res have[] = {{0xfeb00000, 0x200, 5, -1},
					       {0xfeb00400, 0x200, 7, -1}};
	struct virtio_mmio_res r = {0xfeb00200, 0x200, 6, -1};

	(void)state;
	assert_false(virtio_mmio_overlaps(&r, have, 2)); /* exactly between */
	r.base = 0xfeb001ff;
	assert_true(virtio_mmio_overlaps(&r, have, 2));
	r.base = 0xfeb00201;
	assert_true(virtio_mmio_overlaps(&r, have, 2));
	r.base = 0xfeb00400;
	assert_true(virtio_mmio_overlaps(&r, have, 2));
	assert_false(virtio_mmio_overlaps(&r, have, 1));
	r.base = 0xfeaffe00;
	assert_false(virtio_mmio_overlaps(&r, have, 2));
}

/* Scope (\_SB) { Device (VR23) { ... } } as QEMU 7.2 microvm writes it (a virtio-rng-device). */
static const uint8_t microvm_vr23[] = {
	0x10, 0x4a, 0x04, 0x5f, 0x53, 0x42, 0x5f, 0x5b, 0x82, 0x42, 0x04, 0x56, 0x52, 0x32, 0x33,
	0x08, 0x5f, 0x48, 0x49, 0x44, 0x0d, 0x4c, 0x4e, 0x52, 0x4f, 0x30, 0x30, 0x30, 0x35, 0x00,
	0x08, 0x5f, 0x55, 0x49, 0x44, 0x0a, 0x17, 0x08, 0x5f, 0x43, 0x43, 0x41, 0x01, 0x08, 0x5f,
	0x43, 0x52, 0x53, 0x11, 0x1a, 0x0a, 0x17, 0x86, 0x09, 0x00, 0x01, 0x00, 0x2e, 0xb0, 0xfe,
	0x00, 0x02, 0x00, 0x00, 0x89, 0x06, 0x00, 0x01, 0x01, 0x2f, 0x00, 0x00, 0x00, 0x79, 0x00,
};

static void test_acpi_microvm_transport(void **state)
{
	static struct acpi_info a;
	const struct acpi_virtio_mmio *m = &a.virtio_mmio[0];

	(void)state;
	memset(&a, 0, sizeof(a));
	acpi_aml_scan(&a, microvm_vr23, sizeof(microvm_vr23));
	assert_int_equal(a.nr_virtio_mmio, 1);
	assert_int_equal(a.nr_pci_hosts, 0);
	assert_int_equal(m->base, 0xfeb02e00);
	assert_int_equal(m->size, 0x200);
	assert_true(m->have_irq);
	assert_int_equal(m->gsi, 47);
	/* Extended Interrupt flags 0x01: consumer, level-triggered, active high. */
	assert_int_equal(ACPI_TRIGGER(m->irq_flags), ACPI_TRIGGER_LEVEL);
	assert_int_equal(ACPI_POLARITY(m->irq_flags), ACPI_POLARITY_HIGH);
	assert_int_equal(a.nr_problems, 0);
}

static void test_acpi_mmio_crs(void **state)
{
	/* IRQNoFlags {5} (edge, high) then Memory32Fixed; and a truncated one. */
	static const uint8_t isa[] = {0x22, 0x20, 0x00, 0x86, 0x09, 0x00, 0x01, 0x00, 0x10,
				      0x00, 0xd0, 0x00, 0x10, 0x00, 0x00, 0x79, 0x00};
	static const uint8_t cut[] = {0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00};
	struct acpi_virtio_mmio m = {0};

	(void)state;
	assert_int_equal(acpi_parse_mmio_crs(&m, isa, sizeof(isa)), 0);
	assert_int_equal(m.base, 0xd0001000);
	assert_int_equal(m.size, 0x1000);
	assert_int_equal(m.gsi, 5);
	assert_int_equal(ACPI_TRIGGER(m.irq_flags), ACPI_TRIGGER_EDGE);
	memset(&m, 0, sizeof(m));
	assert_int_equal(acpi_parse_mmio_crs(&m, cut, sizeof(cut)), -ENOENT);
	assert_false(m.have_irq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),    cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_overlaps),      cmocka_unit_test(test_acpi_microvm_transport),
		cmocka_unit_test(test_acpi_mmio_crs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
