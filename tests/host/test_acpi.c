/*
 * Host tests for drivers/acpi/acpi.c: RSDP, RSDT/XSDT, MADT, MCFG and FADT parsing
 * and the BIOS-area RSDP scan, over synthetic tables in a fake physical
 * memory. The map function hands out a fresh heap copy of exactly the
 * bytes asked for, so ASan catches any read past what the parser mapped.
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

#define KiB	  1024ull
#define MiB	  (1024 * KiB)
#define FAKE_SIZE (4 * MiB)

/* Where the standard set of tables lives. */
#define RSDP_ADDR 0xf5000
#define RSDT_ADDR 0x100000
#define XSDT_ADDR 0x100800
#define FADT_ADDR 0x101000
#define MADT_ADDR 0x102000
#define MCFG_ADDR 0x103000
#define DSDT_ADDR 0x104000
#define HPET_ADDR 0x105000
#define ALT_ADDR  0x106000 /* room for a second table */
#define BIG_XSDT  0x110000

#define LAPIC_DEFAULT 0xfee00000u

/* Fake physical memory [0, FAKE_SIZE); map() refuses anything at or past limit. */
static uint8_t mem[FAKE_SIZE];
static uint64_t limit;
static unsigned map_calls;
static void **copies;
static size_t nr_copies, cap_copies;

static const void *fake_map(uint64_t phys, size_t len, void *ctx)
{
	void *p;

	(void)ctx;
	map_calls++;
	if (len == 0 || phys >= limit || len > limit - phys)
		return NULL;
	if (nr_copies == cap_copies) {
		cap_copies = cap_copies ? 2 * cap_copies : 256;
		copies = realloc(copies, cap_copies * sizeof(*copies));
		assert_non_null(copies);
	}
	p = malloc(len);
	assert_non_null(p);
	memcpy(p, mem + phys, len);
	copies[nr_copies++] = p;
	return p;
}

static struct acpi_info info;

static int setup(void **state)
{
	(void)state;
	memset(mem, 0, sizeof(mem));
	memset(&info, 0xa5, sizeof(info)); /* acpi_parse must clear it */
	limit = FAKE_SIZE;
	map_calls = 0;
	alarm(20); /* a parser stuck in a loop fails instead of hanging */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	for (size_t i = 0; i < nr_copies; i++)
		free(copies[i]);
	nr_copies = 0;
	return 0;
}

/* Little-endian stores into the fake memory. */
static uint8_t *at(uint64_t phys)
{
	assert_true(phys < FAKE_SIZE);
	return mem + phys;
}

static void w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, (uint16_t)v);
	w16(p + 2, (uint16_t)(v >> 16));
}

static void w64(uint8_t *p, uint64_t v)
{
	w32(p, (uint32_t)v);
	w32(p + 4, (uint32_t)(v >> 32));
}

/* Set p[at] so that the len bytes at p sum to zero. */
static void fix_sum(uint8_t *p, size_t len, size_t at)
{
	uint8_t sum = 0;

	p[at] = 0;
	for (size_t i = 0; i < len; i++)
		sum += p[i];
	p[at] = (uint8_t)-sum;
}

/* A table header at phys (the body is left as it is). */
static uint8_t *table(uint64_t phys, const char *sig, uint32_t len, uint8_t rev)
{
	uint8_t *t = at(phys);

	memcpy(t, sig, 4);
	w32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "TESTOE", 6);
	memcpy(t + 16, "TESTTBL ", 8);
	w32(t + 24, 1);
	memcpy(t + 28, "TST ", 4);
	w32(t + 32, 1);
	return t;
}

/* Fix the checksum of the table at phys over the length in its header. */
static void seal(uint64_t phys)
{
	uint8_t *t = at(phys);
	uint32_t len =
		(uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;

	fix_sum(t, len, 9);
}

static void put_rsdp(uint64_t phys, uint8_t rev, uint32_t rsdt, uint64_t xsdt)
{
	uint8_t *p = at(phys);

	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, "QEMUQE", 6);
	p[15] = rev;
	w32(p + 16, rsdt);
	fix_sum(p, 20, 8);
	if (rev >= 2) {
		w32(p + 20, 36);
		w64(p + 24, xsdt);
		fix_sum(p, 36, 32); /* covers the first checksum too: after it */
	}
}

static void put_rsdt(uint64_t phys, const uint64_t *addr, unsigned n)
{
	uint8_t *t = table(phys, "RSDT", 36 + 4 * n, 1);

	for (unsigned i = 0; i < n; i++)
		w32(t + 36 + 4 * i, (uint32_t)addr[i]);
	seal(phys);
}

static void put_xsdt(uint64_t phys, const uint64_t *addr, unsigned n)
{
	uint8_t *t = table(phys, "XSDT", 36 + 8 * n, 1);

	for (unsigned i = 0; i < n; i++)
		w64(t + 36 + 8 * i, addr[i]);
	seal(phys);
}

/* MADT builder: madt_begin, entries, madt_end. */
static uint64_t madt_phys;
static uint32_t madt_len;

static void madt_begin(uint64_t phys, uint32_t lapic)
{
	uint8_t *t = table(phys, "APIC", 0, 5);

	madt_phys = phys;
	madt_len = 44;
	w32(t + 36, lapic);
	w32(t + 40, 1); /* PCAT_COMPAT */
}

static void madt_add(const uint8_t *e, unsigned n)
{
	memcpy(at(madt_phys + madt_len), e, n);
	madt_len += n;
}

static void madt_end(void)
{
	w32(at(madt_phys) + 4, madt_len);
	seal(madt_phys);
}

static void madt_lapic(uint8_t uid, uint8_t id, uint32_t flags)
{
	uint8_t e[8] = {0, 8, uid, id};

	w32(e + 4, flags);
	madt_add(e, sizeof(e));
}

static void madt_x2apic(uint32_t id, uint32_t flags)
{
	uint8_t e[16] = {9, 16};

	w32(e + 4, id);
	w32(e + 8, flags);
	w32(e + 12, id);
	madt_add(e, sizeof(e));
}

static void madt_ioapic(uint8_t id, uint32_t addr, uint32_t gsi)
{
	uint8_t e[12] = {1, 12, id, 0};

	w32(e + 4, addr);
	w32(e + 8, gsi);
	madt_add(e, sizeof(e));
}

static void madt_iso(uint8_t bus, uint8_t src, uint32_t gsi, uint16_t flags)
{
	uint8_t e[10] = {2, 10, bus, src};

	w32(e + 4, gsi);
	w16(e + 8, flags);
	madt_add(e, sizeof(e));
}

static void madt_nmi(uint8_t uid, uint16_t flags, uint8_t lint)
{
	uint8_t e[6] = {4, 6, uid};

	w16(e + 3, flags);
	e[5] = lint;
	madt_add(e, sizeof(e));
}

static void madt_override(uint64_t addr)
{
	uint8_t e[12] = {5, 12};

	w64(e + 4, addr);
	madt_add(e, sizeof(e));
}

/* The MADT QEMU's q35 has: one CPU, one IOAPIC, the usual overrides. */
static void put_std_madt(uint64_t phys, uint32_t lapic)
{
	madt_begin(phys, lapic);
	madt_lapic(0, 0, 1);
	madt_lapic(1, 1, 1);
	madt_lapic(2, 2, 0); /* disabled: not counted */
	madt_ioapic(0, 0xfec00000, 0);
	madt_iso(0, 0, 2, 0);
	madt_iso(0, 9, 9, 0xd); /* level, active high */
	madt_nmi(0xff, 0, 1);
	madt_end();
}

/* MCFG with n full entries (and extra trailing bytes). */
static void put_mcfg(uint64_t phys, unsigned n, unsigned extra)
{
	uint8_t *t = table(phys, "MCFG", 44 + 16 * n + extra, 1);

	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = t + 44 + 16 * i;

		w64(e, 0xb0000000ull + 0x10000000ull * i);
		w16(e + 8, (uint16_t)i);
		e[10] = 0;
		e[11] = 255;
	}
	for (unsigned i = 0; i < extra; i++)
		t[44 + 16 * n + i] = 0x77;
	seal(phys);
}

/* A FADT of the given length and revision, with the usual PIIX/ICH ports. */
static uint8_t *put_fadt(uint64_t phys, uint32_t len, uint8_t rev, uint32_t flags)
{
	uint8_t *t = table(phys, "FACP", len, rev);

	memset(t + 36, 0, len - 36);
	w32(t + 40, DSDT_ADDR);
	w16(t + 46, 9);
	w32(t + 56, 0x600);
	w32(t + 64, 0x604);
	w32(t + 76, 0x608);
	t[88] = 4;
	t[89] = 2;
	t[91] = 4;
	if (len >= 111)
		w16(t + 109, ACPI_BOOT_8042 | ACPI_BOOT_VGA_NOT_PRESENT);
	w32(t + 112, flags);
	if (len >= 129) {
		t[116] = ACPI_GAS_IO;
		t[117] = 8;
		w64(t + 120, 0xcf9);
		t[128] = 6;
	}
	seal(phys);
	return t;
}

static void put_dummy(uint64_t phys, const char *sig)
{
	table(phys, sig, 40, 1);
	seal(phys);
}

/* The standard machine: RSDP revision rev, FADT, MADT, HPET, MCFG. */
static void put_std(uint8_t rev)
{
	const uint64_t addr[] = {FADT_ADDR, MADT_ADDR, HPET_ADDR, MCFG_ADDR};

	put_fadt(FADT_ADDR, 244, 3, ACPI_FADT_RESET_REG_SUP | ACPI_FADT_TMR_VAL_EXT);
	put_std_madt(MADT_ADDR, LAPIC_DEFAULT);
	put_dummy(HPET_ADDR, "HPET");
	put_dummy(DSDT_ADDR, "DSDT");
	put_mcfg(MCFG_ADDR, 1, 0);
	put_rsdt(RSDT_ADDR, addr, 4);
	if (rev >= 2)
		put_xsdt(XSDT_ADDR, addr, 4);
	put_rsdp(RSDP_ADDR, rev, RSDT_ADDR, rev >= 2 ? XSDT_ADDR : 0);
}

static int parse(uint64_t rsdp)
{
	return acpi_parse(&info, rsdp, fake_map, NULL);
}

static bool has_problem(const char *needle)
{
	for (unsigned i = 0; i < info.nr_problems && i < ACPI_MAX_PROBLEMS; i++)
		if (strstr(info.problems[i], needle))
			return true;
	return false;
}

static void print_problems(void)
{
	for (unsigned i = 0; i < info.nr_problems && i < ACPI_MAX_PROBLEMS; i++)
		print_message("problem: %s\n", info.problems[i]);
}

#define assert_problem(needle)                                        \
	do {                                                          \
		if (!has_problem(needle)) {                           \
			print_problems();                             \
			fail_msg("no problem mentions '%s'", needle); \
		}                                                     \
	} while (0)

#define assert_no_problems()                                                  \
	do {                                                                  \
		if (info.nr_problems) {                                       \
			print_problems();                                     \
			fail_msg("%u unexpected problems", info.nr_problems); \
		}                                                             \
	} while (0)

/* What put_std's tables say. */
static void check_std_tables(void)
{
	assert_true(info.have_madt);
	assert_int_equal(info.lapic_address, LAPIC_DEFAULT);
	assert_false(info.lapic_override);
	assert_int_equal(info.madt_flags, 1);
	assert_int_equal(info.nr_cpus, 2);
	assert_int_equal(info.nr_ioapic, 1);
	assert_int_equal(info.ioapic[0].id, 0);
	assert_int_equal(info.ioapic[0].address, 0xfec00000);
	assert_int_equal(info.ioapic[0].gsi_base, 0);
	assert_int_equal(info.nr_iso, 2);
	assert_int_equal(info.iso[1].bus, 0);
	assert_int_equal(info.iso[1].source, 9);
	assert_int_equal(info.iso[1].gsi, 9);
	assert_int_equal(ACPI_TRIGGER(info.iso[1].flags), ACPI_TRIGGER_LEVEL);
	assert_int_equal(ACPI_POLARITY(info.iso[1].flags), ACPI_POLARITY_HIGH);
	assert_int_equal(info.nr_nmi, 1);
	assert_int_equal(info.nmi[0].uid, 0xff);
	assert_int_equal(info.nmi[0].lint, 1);

	assert_true(info.have_mcfg);
	assert_int_equal(info.nr_mcfg, 1);
	assert_int_equal(info.mcfg[0].base, 0xb0000000);
	assert_int_equal(info.mcfg[0].segment, 0);
	assert_int_equal(info.mcfg[0].bus_start, 0);
	assert_int_equal(info.mcfg[0].bus_end, 255);

	assert_true(info.have_fadt);
	assert_int_equal(info.fadt.revision, 3);
	assert_int_equal(info.fadt.pm1a_cnt, 0x604);
	assert_int_equal(info.fadt.pm1b_cnt, 0);
	assert_int_equal(info.fadt.pm_timer, 0x608);
	assert_int_equal(info.fadt.sci_int, 9);
	assert_int_equal(info.fadt.dsdt, DSDT_ADDR);
	assert_true(info.fadt.boot_arch_valid);
	assert_int_equal(info.fadt.iapc_boot_arch, ACPI_BOOT_8042 | ACPI_BOOT_VGA_NOT_PRESENT);
	assert_true(info.fadt.reset_supported);
	assert_int_equal(info.fadt.reset_reg.space_id, ACPI_GAS_IO);
	assert_int_equal(info.fadt.reset_reg.bit_width, 8);
	assert_int_equal(info.fadt.reset_reg.address, 0xcf9);
	assert_int_equal(info.fadt.reset_value, 6);
}

static void test_v1_rsdt(void **state)
{
	(void)state;
	put_std(0);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_no_problems();
	assert_int_equal(info.rsdp, RSDP_ADDR);
	assert_int_equal(info.revision, 0);
	assert_string_equal(info.oem_id, "QEMUQE");
	assert_false(info.xsdt);
	assert_int_equal(info.root, RSDT_ADDR);
	assert_int_equal(info.nr_entries, 4);
	check_std_tables();
}

static void test_v2_xsdt(void **state)
{
	(void)state;
	put_std(2);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_no_problems();
	assert_int_equal(info.revision, 2);
	assert_true(info.xsdt);
	assert_int_equal(info.root, XSDT_ADDR);
	assert_int_equal(info.nr_entries, 4);
	check_std_tables();
}

/* With both, the XSDT's tables are the ones read; without an XSDT address, the RSDT's. */
static void test_xsdt_preferred(void **state)
{
	const uint64_t x[] = {ALT_ADDR};

	(void)state;
	put_std(2);
	put_std_madt(ALT_ADDR, 0xfee10000);
	put_xsdt(XSDT_ADDR, x, 1);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_no_problems();
	assert_true(info.xsdt);
	assert_int_equal(info.lapic_address, 0xfee10000);
	assert_false(info.have_fadt);

	put_rsdp(RSDP_ADDR, 2, RSDT_ADDR, 0);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_no_problems();
	assert_false(info.xsdt);
	assert_int_equal(info.root, RSDT_ADDR);
	assert_int_equal(info.lapic_address, LAPIC_DEFAULT);
	assert_true(info.have_fadt);

	/* Revision 0: the XSDT field is not even part of the structure. */
	put_rsdp(RSDP_ADDR, 0, RSDT_ADDR, 0);
	w64(at(RSDP_ADDR) + 24, XSDT_ADDR);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_false(info.xsdt);
}

static void test_rsdp_bad(void **state)
{
	(void)state;
	put_std(0);
	at(RSDP_ADDR)[16] ^= 1; /* 20-byte checksum now wrong */
	assert_int_equal(parse(RSDP_ADDR), -ENOENT);
	assert_int_equal(info.rsdp, 0);
	assert_false(info.have_madt);
	assert_problem("RSDP");

	put_std(0);
	at(RSDP_ADDR)[0] = 'X'; /* signature (checksum fixed) */
	fix_sum(at(RSDP_ADDR), 20, 8);
	assert_int_equal(parse(RSDP_ADDR), -ENOENT);

	assert_int_equal(parse(0), -ENOENT);		      /* nothing at 0 */
	assert_int_equal(parse(FAKE_SIZE + 0x1000), -ENOENT); /* unmappable */
	assert_int_equal(parse(FAKE_SIZE - 8), -ENOENT);      /* RSDP cut short */

	put_std(0);
	put_rsdp(RSDP_ADDR, 0, 0, 0); /* valid, but points nowhere */
	assert_int_equal(parse(RSDP_ADDR), -ENOENT);

	assert_int_equal(acpi_parse(NULL, RSDP_ADDR, fake_map, NULL), -EINVAL);
	assert_int_equal(acpi_parse(&info, RSDP_ADDR, NULL, NULL), -EINVAL);
}

/* A v2 RSDP whose extended part is bad: the RSDT, if there is one. */
static void test_rsdp_bad_extended(void **state)
{
	uint8_t *p = at(RSDP_ADDR);

	(void)state;
	put_std(2);
	p[33] ^= 0x10; /* a reserved byte under the extended checksum only */
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_problem("extended checksum");
	assert_false(info.xsdt);
	assert_int_equal(info.root, RSDT_ADDR);
	check_std_tables();

	put_std(2);
	w32(p + 20, 20); /* length under 36 */
	fix_sum(p, 36, 32);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_problem("bad length");
	assert_false(info.xsdt);

	put_std(2);
	w32(p + 20, 0x100000); /* absurd length */
	fix_sum(p, 36, 32);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_false(info.xsdt);

	put_rsdp(RSDP_ADDR, 2, 0, XSDT_ADDR);
	p[33] ^= 0x10;
	assert_int_equal(parse(RSDP_ADDR), -ENOENT); /* no RSDT to fall back on */
}

static void test_root_tables_bad(void **state)
{
	(void)state;
	put_std(2);
	at(XSDT_ADDR)[40] ^= 1;
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_problem("XSDT at 0x100800: bad checksum");
	assert_false(info.xsdt);
	assert_int_equal(info.root, RSDT_ADDR);
	check_std_tables();

	at(RSDT_ADDR)[40] ^= 1;
	assert_int_equal(parse(RSDP_ADDR), -EINVAL);
	assert_problem("RSDT at 0x100000: bad checksum");

	/* The RSDT address holds something else. */
	put_std(0);
	put_rsdp(RSDP_ADDR, 0, MADT_ADDR, 0);
	assert_int_equal(parse(RSDP_ADDR), -EINVAL);
	assert_problem("signature is 'APIC'");
}

/* A table with a bad checksum is skipped and reported; the others still count. */
static void test_table_bad_checksum(void **state)
{
	(void)state;
	put_std(2);
	at(MADT_ADDR)[50] ^= 0x40;
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_problems, 1);
	assert_problem("APIC at 0x102000: bad checksum");
	assert_false(info.have_madt);
	assert_int_equal(info.nr_cpus, 0);
	assert_int_equal(info.nr_ioapic, 0);
	assert_true(info.have_mcfg);
	assert_true(info.have_fadt);
	assert_int_equal(info.fadt.pm1a_cnt, 0x604);

	put_std(2);
	at(FADT_ADDR)[64] ^= 0x40;
	at(MCFG_ADDR)[44] ^= 0x40;
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_problem("FACP at 0x101000: bad checksum");
	assert_problem("MCFG at 0x103000: bad checksum");
	assert_false(info.have_fadt);
	assert_false(info.have_mcfg);
	assert_int_equal(info.nr_mcfg, 0);
	assert_true(info.have_madt);
}

/* A bad first copy of a table does not hide a good second one; two good ones: the first. */
static void test_duplicate_tables(void **state)
{
	const uint64_t addr[] = {MADT_ADDR, ALT_ADDR};

	(void)state;
	put_std(0);
	put_std_madt(ALT_ADDR, 0xfee20000);
	put_rsdt(RSDT_ADDR, addr, 2);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.lapic_address, LAPIC_DEFAULT);
	assert_int_equal(info.nr_cpus, 2);
	assert_problem("a second one");

	at(MADT_ADDR)[44] ^= 1;
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.lapic_address, 0xfee20000);
	assert_int_equal(info.nr_cpus, 2);
	assert_problem("APIC at 0x102000: bad checksum");
}

static void test_truncated_tables(void **state)
{
	const uint64_t addr[] = {MADT_ADDR, MCFG_ADDR, FADT_ADDR, HPET_ADDR};

	(void)state;
	put_std(0);
	/* Shorter than the header. */
	table(MADT_ADDR, "APIC", 20, 1);
	seal(MADT_ADDR);
	/* Over the 1 MiB limit (and the memory is there). */
	table(MCFG_ADDR, "MCFG", ACPI_TABLE_MAX + 1, 1);
	/* A FADT too short for the fields. */
	put_fadt(FADT_ADDR, 100, 1, 0);
	put_rsdt(RSDT_ADDR, addr, 4);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_problem("APIC at 0x102000: length 20 is shorter than the header");
	assert_problem("MCFG at 0x103000: length 1048577 is over the limit");
	assert_problem("FACP at 0x101000: length 100 is too short");
	assert_false(info.have_madt);
	assert_false(info.have_mcfg);
	assert_false(info.have_fadt);

	/* Longer than the memory that can be mapped. */
	put_std(0);
	limit = MADT_ADDR + 0x800;
	w32(at(MADT_ADDR) + 4, 0x1000);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_problem("APIC at 0x102000: cannot map its 4096 bytes");
	assert_false(info.have_madt);
	assert_false(info.have_mcfg); /* beyond the limit too */
	assert_problem("table at 0x103000: cannot map the header");
	assert_true(info.have_fadt);

	/* A MADT with a header but no room for the local APIC address and flags. */
	put_std(0);
	limit = FAKE_SIZE;
	table(MADT_ADDR, "APIC", 40, 1);
	seal(MADT_ADDR);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_problem("too short for a MADT");
	assert_false(info.have_madt);
	assert_true(info.have_mcfg);
}

/* Entry length 0 or 1 would never advance: the walk stops there. */
static void test_madt_entry_length_0_and_1(void **state)
{
	static const uint8_t zero[2] = {0, 0}, one[2] = {1, 1};
	const uint8_t *bad[] = {zero, one};

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		put_std(0);
		madt_begin(MADT_ADDR, LAPIC_DEFAULT);
		madt_lapic(0, 0, 1);
		madt_add(bad[k], 2);
		madt_lapic(1, 1, 1);
		madt_ioapic(0, 0xfec00000, 0);
		madt_end();
		assert_int_equal(parse(RSDP_ADDR), 0);
		assert_true(info.have_madt);
		assert_int_equal(info.nr_cpus, 1);
		assert_int_equal(info.nr_ioapic, 0);
		assert_problem(k == 0 ? "offset 52 has length 0" : "offset 52 has length 1");
		assert_true(info.have_mcfg);
	}
}

static void test_madt_entry_past_end(void **state)
{
	(void)state;
	put_std(0);
	madt_begin(MADT_ADDR, LAPIC_DEFAULT);
	madt_lapic(0, 0, 1);
	madt_ioapic(3, 0xfec00000, 0);
	madt_end();
	/* Cut the table inside the IOAPIC entry (the bytes stay in memory). */
	w32(at(MADT_ADDR) + 4, madt_len - 4);
	seal(MADT_ADDR);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_true(info.have_madt);
	assert_int_equal(info.nr_cpus, 1);
	assert_int_equal(info.nr_ioapic, 0);
	assert_problem("entry type 1 at offset 52 runs past the end");

	/* One stray byte after the last entry. */
	put_std(0);
	madt_begin(MADT_ADDR, LAPIC_DEFAULT);
	madt_lapic(0, 0, 1);
	madt_add((const uint8_t[]){0}, 1);
	madt_end();
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_cpus, 1);
	assert_problem("stray byte at offset 52");
}

/* Entries too short for their type are skipped; the walk goes on. */
static void test_madt_short_entries(void **state)
{
	static const uint8_t short_ioapic[8] = {1, 8, 7, 0, 0, 0, 0xc0, 0xfe};
	static const uint8_t short_override[6] = {5, 6, 0, 0, 0x12, 0x34};
	static const uint8_t unknown[5] = {0x7f, 5, 1, 2, 3};

	(void)state;
	put_std(0);
	madt_begin(MADT_ADDR, LAPIC_DEFAULT);
	madt_add(short_ioapic, sizeof(short_ioapic));
	madt_add(short_override, sizeof(short_override));
	madt_add(unknown, sizeof(unknown));
	madt_ioapic(1, 0xfec01000, 24);
	madt_x2apic(300, 1);
	madt_x2apic(301, 0);
	madt_end();
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_ioapic, 1);
	assert_int_equal(info.ioapic[0].id, 1);
	assert_int_equal(info.ioapic[0].gsi_base, 24);
	assert_int_equal(info.lapic_address, LAPIC_DEFAULT);
	assert_false(info.lapic_override);
	assert_int_equal(info.nr_cpus, 1); /* the enabled x2APIC */
	assert_problem("entry type 1 at offset 44 is too short (8)");
	assert_problem("entry type 5 at offset 52 is too short (6)");
}

static void test_lapic_override(void **state)
{
	(void)state;
	put_std(0);
	madt_begin(MADT_ADDR, LAPIC_DEFAULT);
	madt_lapic(0, 0, 1);
	madt_override(0x123456789000ull);
	madt_ioapic(0, 0xfec00000, 0);
	madt_end();
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_no_problems();
	assert_true(info.lapic_override);
	assert_int_equal(info.lapic_address, 0x123456789000ull);
	assert_int_equal(info.nr_ioapic, 1);
}

/* More IOAPICs, overrides and NMIs than the arrays hold: kept bounded, counted, reported. */
static void test_too_many_entries(void **state)
{
	(void)state;
	put_std(0);
	madt_begin(MADT_ADDR, LAPIC_DEFAULT);
	for (unsigned i = 0; i < ACPI_MAX_IOAPIC + 4; i++)
		madt_ioapic((uint8_t)i, 0xfec00000 + 0x1000 * i, 24 * i);
	for (unsigned i = 0; i < ACPI_MAX_ISO + 3; i++)
		madt_iso(0, (uint8_t)i, 100 + i, 0);
	for (unsigned i = 0; i < ACPI_MAX_NMI + 1; i++)
		madt_nmi((uint8_t)i, 0, 1);
	madt_lapic(0, 0, 1);
	madt_end();
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_ioapic, ACPI_MAX_IOAPIC);
	assert_int_equal(info.ioapic_dropped, 4);
	assert_int_equal(info.ioapic[ACPI_MAX_IOAPIC - 1].gsi_base, 24 * (ACPI_MAX_IOAPIC - 1));
	assert_int_equal(info.nr_iso, ACPI_MAX_ISO);
	assert_int_equal(info.iso_dropped, 3);
	assert_int_equal(info.nr_nmi, ACPI_MAX_NMI);
	assert_int_equal(info.nmi_dropped, 1);
	assert_int_equal(info.nr_cpus, 1); /* the walk went on past the full arrays */
	assert_problem("20 IOAPICs, only 16 kept");
	assert_problem("35 interrupt source overrides, only 32 kept");
	assert_problem("17 LAPIC NMI entries, only 16 kept");
}

/* The MADT walk stops after ACPI_MAX_MADT_ENTRIES entries. */
static void test_madt_entry_count_bounded(void **state)
{
	static const uint8_t filler[2] = {0x7e, 2};
	const uint64_t addr[] = {ALT_ADDR};

	(void)state;
	/* The MADT is 8 KiB here: at ALT_ADDR, where it overlaps nothing. */
	put_std(0);
	put_rsdt(RSDT_ADDR, addr, 1);
	madt_begin(ALT_ADDR, LAPIC_DEFAULT);
	for (unsigned i = 0; i < ACPI_MAX_MADT_ENTRIES; i++)
		madt_add(filler, sizeof(filler));
	madt_lapic(0, 0, 1);
	madt_end();
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_cpus, 0);
	assert_problem("more than 4096 entries");

	madt_begin(ALT_ADDR, LAPIC_DEFAULT);
	for (unsigned i = 0; i < ACPI_MAX_MADT_ENTRIES - 1; i++)
		madt_add(filler, sizeof(filler));
	madt_lapic(0, 0, 1);
	madt_end();
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_cpus, 1);
	assert_no_problems();
}

static void test_mcfg(void **state)
{
	(void)state;
	put_std(0);
	put_mcfg(MCFG_ADDR, 2, 8); /* a partial third entry */
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_true(info.have_mcfg);
	assert_int_equal(info.nr_mcfg, 2);
	assert_int_equal(info.mcfg[1].base, 0xc0000000);
	assert_int_equal(info.mcfg[1].segment, 1);
	assert_problem("partial entry of 8 bytes");

	put_std(0);
	put_mcfg(MCFG_ADDR, ACPI_MAX_MCFG + 2, 0);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_mcfg, ACPI_MAX_MCFG);
	assert_int_equal(info.mcfg_dropped, 2);
	assert_int_equal(info.mcfg[ACPI_MAX_MCFG - 1].segment, ACPI_MAX_MCFG - 1);
	assert_problem("10 entries, only 8 kept");

	/* Buses the wrong way round; and an MCFG with no entries at all. */
	put_std(0);
	put_mcfg(MCFG_ADDR, 2, 0);
	at(MCFG_ADDR)[44 + 10] = 5;
	at(MCFG_ADDR)[44 + 11] = 4;
	seal(MCFG_ADDR);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_mcfg, 1);
	assert_int_equal(info.mcfg[0].segment, 1);
	assert_problem("entry 0 has buses 5-4");

	put_std(0);
	put_mcfg(MCFG_ADDR, 0, 0);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_true(info.have_mcfg);
	assert_int_equal(info.nr_mcfg, 0);
}

static void test_fadt(void **state)
{
	uint8_t *t;

	(void)state;
	/* Reset register needs RESET_REG_SUP. */
	put_std(0);
	put_fadt(FADT_ADDR, 244, 3, 0);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_true(info.have_fadt);
	assert_false(info.fadt.reset_supported);
	assert_int_equal(info.fadt.pm1a_cnt, 0x604);

	/* An ACPI 1.0 FADT: no reset register even with the flag, no boot flags. */
	put_fadt(FADT_ADDR, 116, 1, ACPI_FADT_RESET_REG_SUP);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_true(info.have_fadt);
	assert_false(info.fadt.reset_supported);
	assert_false(info.fadt.boot_arch_valid);
	assert_int_equal(info.fadt.iapc_boot_arch, 0);
	assert_int_equal(info.fadt.dsdt, DSDT_ADDR);
	assert_int_equal(info.fadt.pm_timer, 0x608);

	/* Exactly long enough for RESET_VALUE. */
	put_fadt(FADT_ADDR, 129, 2, ACPI_FADT_RESET_REG_SUP);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_true(info.fadt.reset_supported);
	assert_int_equal(info.fadt.reset_value, 6);
	assert_true(info.fadt.boot_arch_valid);

	/* X_DSDT wins over DSDT; X_PM1a_CNT fills in a zero PM1a_CNT_BLK. */
	t = put_fadt(FADT_ADDR, 276, 6, ACPI_FADT_RESET_REG_SUP);
	w64(t + 140, 0x1234567000ull);
	w32(t + 64, 0);
	t[172] = ACPI_GAS_IO;
	t[173] = 16;
	w64(t + 176, 0x1004);
	seal(FADT_ADDR);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.fadt.dsdt, 0x1234567000ull);
	assert_int_equal(info.fadt.pm1a_cnt, 0x1004);

	/* A PM timer block with the wrong length is not a timer. */
	t = put_fadt(FADT_ADDR, 244, 3, 0);
	t[91] = 3;
	seal(FADT_ADDR);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.fadt.pm_timer, 0);
	assert_problem("PM timer length 3");

	/* Hardware-reduced, memory-mapped reset register (like microvm). */
	t = put_fadt(FADT_ADDR, 276, 5, ACPI_FADT_HW_REDUCED_ACPI | ACPI_FADT_RESET_REG_SUP);
	memset(t + 56, 0, 36);
	t[116] = ACPI_GAS_MEMORY;
	w64(t + 120, 0xfea00202);
	t[128] = 0x42;
	seal(FADT_ADDR);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_true(info.fadt.flags & ACPI_FADT_HW_REDUCED_ACPI);
	assert_int_equal(info.fadt.pm1a_cnt, 0);
	assert_int_equal(info.fadt.pm_timer, 0);
	assert_int_equal(info.fadt.reset_reg.space_id, ACPI_GAS_MEMORY);
	assert_int_equal(info.fadt.reset_reg.address, 0xfea00202);
	assert_int_equal(info.fadt.reset_value, 0x42);
	assert_no_problems();
}

/* Only ACPI_MAX_ROOT_ENTRIES root entries are looked at, and the map calls stay bounded. */
static void test_root_entries_bounded(void **state)
{
	enum { N = 300 };
	uint64_t addr[N];

	(void)state;
	put_std(2);
	for (unsigned i = 0; i < N; i++)
		addr[i] = HPET_ADDR;
	addr[10] = MCFG_ADDR;
	addr[ACPI_MAX_ROOT_ENTRIES - 1] = FADT_ADDR;
	addr[ACPI_MAX_ROOT_ENTRIES] = MADT_ADDR; /* one past the bound */
	put_rsdt(RSDT_ADDR, addr, N);		 /* 1236 bytes: fits before XSDT_ADDR */
	put_xsdt(BIG_XSDT, addr, N);
	for (unsigned x = 0; x < 2; x++) {
		put_rsdp(RSDP_ADDR, x ? 2 : 0, RSDT_ADDR, BIG_XSDT);
		map_calls = 0;
		assert_int_equal(parse(RSDP_ADDR), 0);
		assert_int_equal(info.xsdt, x);
		assert_int_equal(info.nr_entries, ACPI_MAX_ROOT_ENTRIES);
		assert_true(info.have_mcfg);
		assert_true(info.have_fadt);
		assert_false(info.have_madt);
		assert_problem("300 entries, only the first 256 read");
		assert_true(map_calls < ACPI_MAX_ROOT_ENTRIES + 20);
	}

	/* Stray bytes after the last entry and a null entry: reported, the rest read. */
	put_std(0);
	addr[0] = 0;
	addr[1] = MADT_ADDR;
	put_rsdt(RSDT_ADDR, addr, 2);
	table(RSDT_ADDR, "RSDT", 36 + 8 + 3, 1);
	seal(RSDT_ADDR);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_entries, 2);
	assert_true(info.have_madt);
	assert_problem("RSDT: 3 stray bytes");
	assert_problem("RSDT: entry 0 is null");
}

/* The problem list is bounded too. */
static void test_problems_bounded(void **state)
{
	enum { N = 20 };
	uint64_t addr[N];

	(void)state;
	put_std(0);
	for (unsigned i = 0; i < N; i++)
		addr[i] = 0;
	put_rsdt(RSDT_ADDR, addr, N);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(info.nr_problems, ACPI_MAX_PROBLEMS);
	assert_int_equal(info.problems_lost, N - ACPI_MAX_PROBLEMS);
	for (unsigned i = 0; i < ACPI_MAX_PROBLEMS; i++)
		assert_true(strlen(info.problems[i]) < ACPI_PROBLEM_LEN);
}

static void test_scan_bios_area(void **state)
{
	(void)state;
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0); /* empty memory */

	put_rsdp(0xe1230, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0xe1230);

	/* Off a 16-byte boundary: not looked at. */
	memset(at(0xe1230), 0, 36);
	put_rsdp(0xe1238, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0);

	/* The last place a 20-byte RSDP fits. */
	put_rsdp(0xfffe0, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0xfffe0);

	/* Outside the area. */
	memset(at(0xfffe0), 0, 32);
	put_rsdp(0xdfff0, 0, RSDT_ADDR, 0);
	put_rsdp(0x100000, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0);

	/* End to end: found by the scan, then parsed. */
	put_std(2);
	memset(at(RSDP_ADDR), 0, 36);
	put_rsdp(0xf0010, 2, RSDT_ADDR, XSDT_ADDR);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0xf0010);
	assert_int_equal(parse(0xf0010), 0);
	assert_true(info.xsdt);
	check_std_tables();
}

static void test_scan_ebda(void **state)
{
	(void)state;
	w16(at(0x40e), 0x9fc0);
	put_rsdp(0x9fc40, 0, RSDT_ADDR, 0);
	put_rsdp(0xe0000, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0x9fc40); /* the EBDA comes first */

	/* Past the first KiB of the EBDA: the BIOS area one. */
	memset(at(0x9fc40), 0, 36);
	put_rsdp(0x9fc00 + 1024, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0xe0000);

	/* An implausible EBDA segment (above 640 KiB, or in the IVT) is not scanned. */
	w16(at(0x40e), 0xf000);
	put_rsdp(0xf0200, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0xe0000);
	memset(at(0xe0000), 0, 36);
	memset(at(0xf0200), 0, 36);
	w16(at(0x40e), 0x0010);
	put_rsdp(0x100, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0);
}

static void test_scan_bad_checksum(void **state)
{
	(void)state;
	/* Bad v1 checksum first, a good one after it. */
	put_rsdp(0xe0000, 0, RSDT_ADDR, 0);
	at(0xe0000)[8] ^= 1;
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0);
	put_rsdp(0xe0040, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0xe0040);

	/* A v2 RSDP with a bad extended checksum is passed over too. */
	memset(at(0xe0040), 0, 36);
	put_rsdp(0xe0080, 2, RSDT_ADDR, XSDT_ADDR);
	at(0xe0080)[33] ^= 1;
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0);
	put_rsdp(0xe0100, 2, RSDT_ADDR, XSDT_ADDR);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0xe0100);

	/* Bad in the EBDA, good in the BIOS area. */
	memset(at(0xe0000), 0, 0x200);
	w16(at(0x40e), 0x9fc0);
	put_rsdp(0x9fc00, 0, RSDT_ADDR, 0);
	at(0x9fc00)[12] ^= 1;
	put_rsdp(0xfffe0, 0, RSDT_ADDR, 0);
	assert_int_equal(acpi_find_rsdp(fake_map, NULL), 0xfffe0);
	assert_int_equal(acpi_find_rsdp(NULL, NULL), 0);
}

static void test_isa_irq_to_gsi(void **state)
{
	uint16_t flags = 0xffff;

	(void)state;
	put_std(0);
	assert_int_equal(parse(RSDP_ADDR), 0);
	assert_int_equal(acpi_isa_irq_to_gsi(&info, 0, &flags), 2);
	assert_int_equal(flags, 0);
	assert_int_equal(acpi_isa_irq_to_gsi(&info, 9, &flags), 9);
	assert_int_equal(flags, 0xd);
	flags = 0xffff;
	assert_int_equal(acpi_isa_irq_to_gsi(&info, 4, &flags), 4);
	assert_int_equal(flags, 0);
	assert_int_equal(acpi_isa_irq_to_gsi(&info, 0, NULL), 2);
}

static void test_inti_resolve(void **state)
{
	(void)state;
	/* Conforming fields take the bus's convention. */
	assert_int_equal(acpi_inti_resolve(0x0, ACPI_BUS_ISA), 0x5); /* edge, high */
	assert_int_equal(acpi_inti_resolve(0x0, ACPI_BUS_PCI), 0xf); /* level, low */
	/* Explicit fields win, whatever the bus. */
	assert_int_equal(acpi_inti_resolve(0xd, ACPI_BUS_ISA), 0xd); /* level, high */
	assert_int_equal(acpi_inti_resolve(0xd, ACPI_BUS_PCI), 0xd);
	assert_int_equal(acpi_inti_resolve(0x7, ACPI_BUS_PCI), 0x7); /* edge, low */
	/* One field conforming, the other explicit. */
	assert_int_equal(acpi_inti_resolve(0x3, ACPI_BUS_ISA), 0x7); /* low given: edge, low */
	assert_int_equal(acpi_inti_resolve(0xc, ACPI_BUS_PCI), 0xf); /* level given: low */
	assert_int_equal(acpi_inti_resolve(0x1, ACPI_BUS_PCI), 0xd); /* high given: level */
	/* The reserved value 2 is treated as conforming; high bits are dropped. */
	assert_int_equal(acpi_inti_resolve(0xa, ACPI_BUS_ISA), 0x5);
	assert_int_equal(acpi_inti_resolve(0xa, ACPI_BUS_PCI), 0xf);
	assert_int_equal(acpi_inti_resolve(0xfff0, ACPI_BUS_ISA), 0x5);
}

int main(void)
{
	const struct CMUnitTest acpi[] = {
		cmocka_unit_test_setup_teardown(test_v1_rsdt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_xsdt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xsdt_preferred, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsdp_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsdp_bad_extended, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_tables_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_bad_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madt_entry_length_0_and_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madt_entry_past_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madt_short_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lapic_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_madt_entry_count_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mcfg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fadt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_entries_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_problems_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_bios_area, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_ebda, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_bad_checksum, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isa_irq_to_gsi, setup, teardown),
		cmocka_unit_test(test_inti_resolve),
	};

	return cmocka_run_group_tests(acpi, NULL, NULL);
}
