/*
 * The firmware's DSDT, as hex on the serial port, for the host unit tests
 * of the AML scan (scripts/dump_dsdt.py turns it into a C header under
 * build/, so QEMU's tables are test data made at build time, not files in
 * the tree).
 */
#include <stdio.h>
#include <string.h>

#include <acpi/acpi.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <kernel/registry.h>

KTEST(acpi_dump_dsdt, "print the DSDT as hex lines (dsdt: OFFSET HEX)")
{
	const uint8_t *hdr, *t;
	uint32_t len;

	if (!acpi.have_fadt || !acpi.fadt.dsdt) {
		printf("dsdt: none\n");
		return 1;
	}
	hdr = memremap(acpi.fadt.dsdt, 36);
	if (!hdr || memcmp(hdr, "DSDT", 4) != 0) {
		printf("dsdt: not readable at 0x%llx\n", (unsigned long long)acpi.fadt.dsdt);
		return 1;
	}
	memcpy(&len, hdr + 4, 4);
	if (len < 36 || len > (1u << 20) || !(t = memremap(acpi.fadt.dsdt, len))) {
		printf("dsdt: bad length %u\n", len);
		return 1;
	}
	printf("dsdt: length %u\n", len);
	for (uint32_t off = 0; off < len; off += 32) {
		char line[80];
		unsigned n = 0;

		for (uint32_t i = off; i < len && i < off + 32; i++)
			n += (unsigned)snprintf(line + n, sizeof(line) - n, "%02x", t[i]);
		printf("dsdt: %06x %s\n", off, line);
	}
	return 0;
}
