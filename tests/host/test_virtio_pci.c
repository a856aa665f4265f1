/*
 * Host tests of the virtio-pci transport's portable parts: the capability
 * walk (drivers/virtio/transport/pci_caps.c, over drivers/pci/pci.c), the
 * notify address check (4.1.4.4) and the bounded reset wait
 * (drivers/virtio/transport/wait.c). Each test is a hardening finding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <pci/pci.h>
#include <virtio/virtio_transport.h>

#include "../../drivers/virtio/transport/pci_caps.h"

static uint8_t cfg[256];
static unsigned walks; /* reads of the capability pointer: one per walk */
static bool reorder;   /* the device reorders its list at every walk */
static const uint8_t caps_at[] = {0x40, 0x50, 0x68, 0x78};

/* Chain the capabilities in caps_at order, or reversed. */
static void chain(bool reversed)
{
	unsigned n = sizeof(caps_at);

	for (unsigned i = 0; i < n; i++) {
		unsigned k = reversed ? n - 1 - i : i;
		uint8_t next = 0;

		if (i + 1 < n)
			next = caps_at[reversed ? n - 2 - i : i + 1];
		cfg[caps_at[k] + 1] = next;
	}
	cfg[PCI_CAP_PTR] = caps_at[reversed ? n - 1 : 0];
}

static uint32_t fake_read(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off,
			  unsigned size)
{
	uint32_t v = 0;

	(void)ctx, (void)bus, (void)dev, (void)fn;
	if (off == PCI_CAP_PTR) {
		/* The old walk restarted from here for every capability, forever. */
		if (++walks > 16)
			fail_msg("the capability list was walked %u times", walks);
		if (reorder)
			chain(walks % 2 == 0);
	}
	memcpy(&v, &cfg[off], size);
	return v;
}

static void fake_write(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, unsigned size,
		       uint32_t val)
{
	(void)ctx, (void)bus, (void)dev, (void)fn;
	memcpy(&cfg[off], &val, size);
}

static const struct pci_cfg_ops ops = {fake_read, fake_write, NULL, 256};

static void put_cap(uint8_t pos, uint8_t type, uint8_t bar, uint32_t offset, uint32_t len,
		    uint8_t caplen)
{
	cfg[pos] = PCI_CAP_ID_VNDR;
	cfg[pos + 2] = caplen;
	cfg[pos + 3] = type;
	cfg[pos + 4] = bar;
	memcpy(&cfg[pos + 8], &offset, 4);
	memcpy(&cfg[pos + 12], &len, 4);
}

static int setup(void **state)
{
	uint32_t mult = 4;

	(void)state;
	memset(cfg, 0, sizeof(cfg));
	walks = 0;
	reorder = false;
	cfg[PCI_STATUS] = PCI_STATUS_CAP_LIST;
	put_cap(0x40, VIRTIO_PCI_CAP_COMMON_CFG, 4, 0x0000, 0x1000, 16);
	put_cap(0x50, VIRTIO_PCI_CAP_NOTIFY_CFG, 4, 0x3000, 0x1000, 20);
	memcpy(&cfg[0x50 + 16], &mult, 4);
	put_cap(0x68, VIRTIO_PCI_CAP_ISR_CFG, 4, 0x1000, 0x1000, 16);
	put_cap(0x78, VIRTIO_PCI_CAP_DEVICE_CFG, 4, 0x2000, 0x1000, 16);
	chain(false);
	return 0;
}

static void test_caps_found(void **state)
{
	struct pci_dev d = {.cfg = &ops};
	struct virtio_pci_caps c;

	(void)state;
	assert_int_equal(virtio_pci_read_caps(&d, &c), 0);
	assert_true(c.have_common && c.have_notify && c.have_isr && c.have_device);
	assert_int_equal(le32_to_cpu(c.notify.notify_off_multiplier), 4);
	assert_int_equal(le32_to_cpu(c.isr.offset), 0x1000);
	assert_int_equal(le32_to_cpu(c.device.offset), 0x2000);
	assert_int_equal(walks, 1);

	/* A notify capability too short for its multiplier is not used. */
	cfg[0x52] = 16;
	assert_int_equal(virtio_pci_read_caps(&d, &c), -ENODEV);
	assert_false(c.have_notify);
}

/* Finding (a): a device that reorders its list between walks; one walk only. */
static void test_caps_reordered_between_walks(void **state)
{
	struct pci_dev d = {.cfg = &ops};
	struct virtio_pci_caps c;

	(void)state;
	reorder = true;
	assert_int_equal(virtio_pci_read_caps(&d, &c), 0);
	assert_int_equal(walks, 1);
	assert_true(c.have_common && c.have_notify && c.have_isr && c.have_device);
}

/* A list that loops through every dword: the walk is bounded (48). */
static void test_caps_loop_bounded(void **state)
{
	struct pci_dev d = {.cfg = &ops};
	struct virtio_pci_caps c;

	(void)state;
	for (int pos = 0x40; pos < 0x100; pos += 4) {
		cfg[pos] = PCI_CAP_ID_VNDR;
		cfg[pos + 1] = (uint8_t)(pos + 4 < 0x100 ? pos + 4 : 0x40);
		cfg[pos + 2] = 2; /* too short to be a virtio capability */
	}
	assert_int_equal(virtio_pci_read_caps(&d, &c), -ENODEV);
	assert_int_equal(walks, 1);
}

/* Finding (b): queue_notify_off * multiplier wrapped in 32 bits past the bound check. */
static void test_notify_offset_no_wrap(void **state)
{
	uint32_t off = 0xdead;

	(void)state;
	assert_int_equal(virtio_pci_notify_offset(3, 4, 0x1000, 2, &off), 0);
	assert_int_equal(off, 12);
	/* 0x8000 * 0x20000 = 2^32: 0 in 32 bits, far past the capability in 64. */
	off = 0xdead;
	assert_int_equal(virtio_pci_notify_offset(0x8000, 0x20000, 0x1000, 2, &off), -EIO);
	assert_int_equal(off, 0xdead);
	assert_int_equal(virtio_pci_notify_offset(0xffff, 0xffffffff, 0xffffffff, 4, &off), -EIO);
	/* The last bytes of the capability: in; one more: out. */
	assert_int_equal(virtio_pci_notify_offset(0x3ff, 4, 0x1000, 4, &off), 0);
	assert_int_equal(virtio_pci_notify_offset(0x3ff, 4, 0x1000 - 1, 4, &off), -EIO);
	assert_int_equal(virtio_pci_notify_offset(1, 0, 2, 2, &off), 0); /* multiplier 0: shared */
	assert_int_equal(off, 0);
}

static uint64_t fake_now;
static unsigned status_reads, status_clears_after;

static uint64_t fake_clock(void)
{
	return fake_now += 1000000; /* 1 ms per look at the clock */
}

static uint32_t fake_status(void *ctx)
{
	(void)ctx;
	status_reads++;
	return status_clears_after && status_reads >= status_clears_after ? 0 : 0x0f;
}

/* Finding (c): a device that never completes its reset: -EIO after the deadline. */
static void test_reset_wait_deadline(void **state)
{
	(void)state;
	fake_now = 0;
	status_reads = 0;
	status_clears_after = 0;
	assert_int_equal(virtio_wait_zero(fake_status, NULL, fake_clock, VIRTIO_RESET_TIMEOUT_NS),
			 -EIO);
	assert_true(fake_now > VIRTIO_RESET_TIMEOUT_NS);
	assert_true(fake_now < 3 * VIRTIO_RESET_TIMEOUT_NS);

	fake_now = 0;
	status_reads = 0;
	status_clears_after = 5;
	assert_int_equal(virtio_wait_zero(fake_status, NULL, fake_clock, VIRTIO_RESET_TIMEOUT_NS),
			 0);
	assert_int_equal(status_reads, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_caps_found, setup),
		cmocka_unit_test_setup(test_caps_reordered_between_walks, setup),
		cmocka_unit_test_setup(test_caps_loop_bounded, setup),
		cmocka_unit_test_setup(test_notify_offset_no_wrap, setup),
		cmocka_unit_test_setup(test_reset_wait_deadline, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
