/*
 * libFuzzer target for the firmware table parser (drivers/acpi/acpi.c) and the
 * bounded AML scan (drivers/acpi/acpi_aml.c), unchanged. The first input byte
 * picks what is fed:
 *  - the rest as AML (acpi_aml_scan), as a resource template
 *    (acpi_parse_crs), or
 *  - a synthetic physical memory the rest describes: an RSDP (revision 0
 *    or 2), an RSDT or XSDT and up to MAX_TABLES tables (FACP, APIC, MCFG,
 *    DSDT, SSDT or any signature) with bodies from the input, header
 *    lengths that may lie, checksums made right (or not) by the fuzzer,
 *    and the FADT pointing at the DSDT; then acpi_parse and
 *    acpi_parse_dsdt over it.
 * Every map() hands out a copy of exactly the bytes asked for, so ASan
 * reports any read past what the parser mapped (and map() refuses what is
 * outside the memory). Checked besides: counts within their arrays,
 * problems within ACPI_MAX_PROBLEMS, every window and bus range sane.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <acpi/acpi.h>

#include "fuzz_script.h"

#define MEM_BASE   0xe0000u /* where the synthetic memory starts (physical) */
#define MAX_TABLES 6
#define MAX_COPIES 4096

static struct {
	struct fz_script in;
	uint8_t *mem; /* the synthetic physical memory, exactly mem_size bytes */
	size_t mem_size;
	void *copies[MAX_COPIES];
	unsigned ncopies;
	struct acpi_info info;
} F;

static void bug(const char *what)
{
	fz_bug("fuzz_acpi", what);
}

static uint8_t u8(void)
{
	return fz_u8(&F.in);
}

static uint16_t u16(void)
{
	return fz_u16(&F.in);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static const void *map(uint64_t phys, size_t len, void *ctx)
{
	void *p;

	(void)ctx;
	if (len == 0 || phys < MEM_BASE || phys - MEM_BASE >= F.mem_size ||
	    len > F.mem_size - (phys - MEM_BASE) || F.ncopies == MAX_COPIES)
		return NULL;
	p = malloc(len);
	if (!p)
		return NULL;
	memcpy(p, F.mem + (phys - MEM_BASE), len);
	F.copies[F.ncopies++] = p;
	return p;
}

static void check_host(const struct acpi_pci_host *h)
{
	if (h->nr_windows > ACPI_MAX_WINDOWS)
		bug("more windows than the array holds");
	if (strnlen(h->path, sizeof(h->path)) == sizeof(h->path))
		bug("a host bridge path without its NUL");
	if (h->have_bus && h->bus_start > h->bus_end)
		bug("a bus range that ends before it starts");
	for (unsigned i = 0; i < h->nr_windows; i++)
		if (h->window[i].min > h->window[i].max)
			bug("a window that ends before it starts");
}

static void check_info(const struct acpi_info *a)
{
	if (a->nr_problems > ACPI_MAX_PROBLEMS || a->nr_pci_hosts > ACPI_MAX_PCI_HOSTS ||
	    a->nr_ioapic > ACPI_MAX_IOAPIC || a->nr_iso > ACPI_MAX_ISO ||
	    a->nr_nmi > ACPI_MAX_NMI || a->nr_mcfg > ACPI_MAX_MCFG)
		bug("a count beyond its array");
	for (unsigned i = 0; i < a->nr_problems; i++)
		if (strnlen(a->problems[i], ACPI_PROBLEM_LEN) == ACPI_PROBLEM_LEN)
			bug("a problem line without its NUL");
	for (unsigned i = 0; i < a->nr_pci_hosts; i++)
		check_host(&a->pci_host[i]);
}

/*
 * The synthetic memory: RSDP at MEM_BASE (36 bytes), the root table at
 * +64, then the tables one after the other (16-byte aligned).
 */
static void tables(void)
{
	static const char *const sigs[] = {"FACP", "APIC", "MCFG", "DSDT", "SSDT", "HPET"};
	uint8_t flags = u8();
	unsigned n = 1 + u8() % MAX_TABLES, rev = flags & 1 ? 2 : 0;
	bool xsdt = rev == 2 && (flags & 2), sums = !(flags & 4);
	size_t entry = xsdt ? 8 : 4, root_len = 36 + n * entry, off;
	size_t at[MAX_TABLES], tlen[MAX_TABLES], size = 64 + root_len;
	const uint8_t *body[MAX_TABLES];
	int dsdt = -1, fadt = -1;
	uint32_t hdr_len[MAX_TABLES];
	char sig[MAX_TABLES][4];

	/* The tables: signature, body length and bytes, and what the header says. */
	for (unsigned i = 0; i < n; i++) {
		uint8_t s = u8();
		size_t blen = u16() % 2048;
		uint8_t lie = u8();

		if (s < 0xf0)
			memcpy(sig[i], sigs[s % 6], 4);
		else
			for (int k = 0; k < 4; k++)
				sig[i][k] = (char)u8();
		if (blen > F.in.len - F.in.pos)
			blen = F.in.len - F.in.pos;
		body[i] = F.in.in + F.in.pos;
		F.in.pos += blen;
		tlen[i] = 36 + blen;
		hdr_len[i] =
			lie < 0xe0 ? (uint32_t)tlen[i] : (uint32_t)(tlen[i] + (lie & 0x1f)) - 16;
		size = (size + 15) & ~(size_t)15;
		at[i] = size;
		size += tlen[i];
		if (!memcmp(sig[i], "DSDT", 4) && dsdt < 0)
			dsdt = (int)i;
		if (!memcmp(sig[i], "FACP", 4) && fadt < 0)
			fadt = (int)i;
	}
	F.mem_size = size;
	F.mem = calloc(1, size);
	if (!F.mem)
		return;
	/* The tables, each with its header. */
	for (unsigned i = 0; i < n; i++) {
		uint8_t *t = F.mem + at[i];

		memcpy(t, sig[i], 4);
		put32(t + 4, hdr_len[i]);
		t[8] = u8(); /* revision */
		memcpy(t + 36, body[i], tlen[i] - 36);
	}
	/* The FADT names the DSDT (offsets 40 and, for a long enough FADT, 140). */
	if (fadt >= 0 && dsdt >= 0) {
		uint8_t *t = F.mem + at[fadt];

		if (tlen[fadt] >= 44)
			put32(t + 40, (uint32_t)(MEM_BASE + at[dsdt]));
		if (tlen[fadt] >= 148 && (flags & 8))
			put64(t + 140, MEM_BASE + at[dsdt]);
	}
	for (unsigned i = 0; i < n; i++) {
		uint8_t *t = F.mem + at[i];

		if (sums)
			t[9] = (uint8_t)(t[9] - sum(t, tlen[i]));
	}
	/* The root table. */
	off = 64;
	memcpy(F.mem + off, xsdt ? "XSDT" : "RSDT", 4);
	put32(F.mem + off + 4, (uint32_t)root_len);
	for (unsigned i = 0; i < n; i++) {
		if (xsdt)
			put64(F.mem + off + 36 + i * 8, MEM_BASE + at[i]);
		else
			put32(F.mem + off + 36 + i * 4, (uint32_t)(MEM_BASE + at[i]));
	}
	F.mem[off + 9] = (uint8_t)(F.mem[off + 9] - sum(F.mem + off, root_len));
	/* The RSDP (ACPI 6.5, 5.2.5.3). */
	memcpy(F.mem, "RSD PTR ", 8);
	memcpy(F.mem + 9, "FUZZ  ", 6);
	F.mem[15] = (uint8_t)rev;
	put32(F.mem + 16, xsdt ? 0 : MEM_BASE + 64);
	F.mem[8] = (uint8_t)(F.mem[8] - sum(F.mem, 20));
	if (rev == 2) {
		put32(F.mem + 20, 36);
		put64(F.mem + 24, xsdt ? MEM_BASE + 64 : 0);
		F.mem[32] = (uint8_t)(F.mem[32] - sum(F.mem, 36));
	}
	if (acpi_parse(&F.info, MEM_BASE, map, NULL) == 0) {
		check_info(&F.info);
		acpi_parse_dsdt(&F.info, map, NULL);
	}
	check_info(&F.info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	memset(&F, 0, sizeof(F));
	F.in = (struct fz_script){data, size, 0};
	switch (u8() % 4) {
	case 0: {
		/* AML of exactly the bytes left, as the kernel hands it a DSDT body. */
		size_t n = F.in.len - F.in.pos;
		uint8_t *aml = malloc(n ? n : 1);

		if (!aml)
			return 0;
		memcpy(aml, F.in.in + F.in.pos, n);
		acpi_aml_scan(&F.info, aml, n);
		check_info(&F.info);
		free(aml);
		break;
	}
	case 1: {
		size_t n = F.in.len - F.in.pos;
		uint8_t *res = malloc(n ? n : 1);
		struct acpi_pci_host h;

		if (!res)
			return 0;
		memcpy(res, F.in.in + F.in.pos, n);
		memset(&h, 0, sizeof(h));
		strcpy(h.path, "\\_SB.PCI0");
		h.bus_end = 255;
		acpi_parse_crs(&F.info, &h, res, n);
		check_host(&h);
		check_info(&F.info);
		free(res);
		break;
	}
	default: tables(); break;
	}
	for (unsigned i = 0; i < F.ncopies; i++)
		free(F.copies[i]);
	free(F.mem);
	return 0;
}
