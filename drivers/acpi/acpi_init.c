/*
 * ACPI in the kernel: reach the tables through memremap, parse them with
 * drivers/acpi/acpi.c into the global acpi, and log what was found and skipped.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <boot/boot_info.h>
#include <acpi/acpi.h>
#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>

struct acpi_info acpi;

/*
 * Is [phys, phys + len) inside what paging_init identity-mapped write-back
 * (RAM, ACPI data, ACPI NVS; whole pages, never page 0)? Then it is read
 * where it is, and no page attribute changes.
 */
static bool premapped(uint64_t phys, size_t len)
{
	for (unsigned i = 0; i < phys_map.nr; i++) {
		const struct boot_mem_range *r = &phys_map.r[i];
		uint64_t lo = ALIGN_UP(MAX(r->base, PAGE_SIZE), PAGE_SIZE);
		uint64_t hi = ALIGN_DOWN(r->base + r->len, PAGE_SIZE);

		if (r->type != BOOT_MEM_RAM && r->type != BOOT_MEM_ACPI && r->type != BOOT_MEM_NVS)
			continue;
		if (phys >= lo && phys < hi && len <= hi - phys)
			return true;
	}
	return false;
}

/*
 * Page 0 (the BIOS data area) stays unmapped to catch NULL: it is read
 * through a copy, at the same offsets, so earlier pointers stay valid.
 * memremap returns the physical address, so phys 0 itself cannot work.
 */
static uint8_t page0_copy[PAGE_SIZE];

static const void *acpi_map(uint64_t phys, size_t len, void *ctx)
{
	uint64_t ks = virt_to_phys(__kernel_start), ke = virt_to_phys(__kernel_end);
	const uint8_t *p;

	(void)ctx;
	if (len == 0 || phys == 0 || phys + len < phys)
		return NULL;
	/* A bogus table address must not remap the kernel image NX or writable. */
	if (phys < ke && phys + len > ks)
		return NULL;
	if (premapped(phys, len))
		return phys_to_virt(phys);
	if (phys < PAGE_SIZE) {
		if (len > PAGE_SIZE - phys)
			return NULL;
		p = memremap(phys, len);
		if (!p)
			return NULL;
		memcpy(page0_copy + phys, p, len);
		memunmap(phys, len);
		return page0_copy + phys;
	}
	return memremap(phys, len);
}

static void log_problems(const struct acpi_info *a)
{
	for (unsigned i = 0; i < a->nr_problems && i < ACPI_MAX_PROBLEMS; i++)
		kprintf("acpi: skipped: %s\n", a->problems[i]);
	if (a->problems_lost)
		kprintf("acpi: skipped: %u more problems not recorded\n", a->problems_lost);
}

static void log_madt(const struct acpi_info *a)
{
	char line[256];
	int n;

	if (!a->have_madt) {
		kprintf("acpi: MADT: none\n");
		return;
	}
	n = snprintf(line, sizeof(line), "LAPIC 0x%llx%s, %u CPU%s",
		     (unsigned long long)a->lapic_address, a->lapic_override ? " (override)" : "",
		     a->nr_cpus, a->nr_cpus == 1 ? "" : "s");
	for (unsigned i = 0; i < a->nr_ioapic && n > 0 && (size_t)n < sizeof(line); i++)
		n += snprintf(line + n, sizeof(line) - n, ", IOAPIC id %u at 0x%x GSI %u",
			      a->ioapic[i].id, a->ioapic[i].address, a->ioapic[i].gsi_base);
	if (n > 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - n, ", %u override%s", a->nr_iso,
			 a->nr_iso == 1 ? "" : "s");
	kprintf("acpi: MADT: %s\n", line);
}

static void log_mcfg(const struct acpi_info *a)
{
	if (!a->have_mcfg || a->nr_mcfg == 0)
		kprintf("acpi: MCFG: none\n");
	for (unsigned i = 0; i < a->nr_mcfg; i++)
		kprintf("acpi: MCFG: ECAM 0x%llx segment %u buses %u-%u\n",
			(unsigned long long)a->mcfg[i].base, a->mcfg[i].segment,
			a->mcfg[i].bus_start, a->mcfg[i].bus_end);
}

static const char *space_name(uint8_t id)
{
	switch (id) {
	case ACPI_GAS_MEMORY: return "memory";
	case ACPI_GAS_IO: return "I/O";
	case ACPI_GAS_PCI: return "PCI config";
	default: return "space?";
	}
}

static void log_fadt(const struct acpi_info *a)
{
	const struct acpi_fadt *f = &a->fadt;
	char line[256];
	size_t n = 0;

	if (!a->have_fadt) {
		kprintf("acpi: FADT: none\n");
		return;
	}
#define ADD(...)                                                                        \
	do {                                                                            \
		if (n < sizeof(line))                                                   \
			n += (size_t)snprintf(line + n, sizeof(line) - n, __VA_ARGS__); \
	} while (0)
	line[0] = '\0';
	if (f->flags & ACPI_FADT_HW_REDUCED_ACPI)
		ADD("hardware-reduced, ");
	if (f->pm1a_cnt)
		ADD("PM1a_CNT 0x%x, ", f->pm1a_cnt);
	if (f->pm1b_cnt)
		ADD("PM1b_CNT 0x%x, ", f->pm1b_cnt);
	if (f->pm_timer)
		ADD("PM timer 0x%x, ", f->pm_timer);
	if (f->reset_supported)
		ADD("reset reg %s 0x%llx value 0x%x", space_name(f->reset_reg.space_id),
		    (unsigned long long)f->reset_reg.address, f->reset_value);
	else
		ADD("no reset reg");
#undef ADD
	kprintf("acpi: FADT: %s\n", line);
}

static uint64_t dsdt_us;

static void log_dsdt(const struct acpi_info *a, int rc)
{
	char line[384];

	if (rc == -ENOENT) {
		kprintf("acpi: DSDT: none\n");
		return;
	}
	if (rc < 0) {
		kprintf("acpi: DSDT: not usable\n");
		return;
	}
	if (a->nr_pci_hosts == 0)
		kprintf("acpi: DSDT: no PCI host bridge\n");
	for (unsigned i = 0; i < a->nr_pci_hosts; i++) {
		const struct acpi_pci_host *h = &a->pci_host[i];

		size_t n = (size_t)snprintf(line, sizeof(line), "segment %u buses %u-%u",
					    h->segment, h->bus_start, h->bus_end);
		if (h->have_ecam && n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, ", ECAM 0x%llx (_CBA)",
					      (unsigned long long)h->ecam);
		if (!h->have_crs && n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, ", no _CRS");
		for (unsigned w = 0; w < h->nr_windows && n < sizeof(line); w++) {
			const struct acpi_window *win = &h->window[w];

			n += (size_t)snprintf(line + n, sizeof(line) - n, ", %s 0x%llx-0x%llx%s",
					      win->kind == ACPI_WINDOW_IO ? "I/O" : "mem",
					      (unsigned long long)win->min,
					      (unsigned long long)win->max,
					      win->prefetch ? " pref" : "");
		}
		kprintf("acpi: DSDT: PCI host bridge %s: %s (scanned in %llu us)\n", h->path, line,
			(unsigned long long)dsdt_us);
	}
}

void acpi_init(const struct boot_info *bi)
{
	static struct acpi_info first; /* the boot loader's RSDP, when it fails */
	const char *from = bi->protocol;
	uint64_t found = 0;
	const char *mode = cmdline_get(&kernel_cmdline, "acpi");
	uint64_t given = bi->rsdp;
	int rc = -ENOENT;

	/* acpi=scan: ignore the boot loader's RSDP, scan the BIOS area (for tests). */
	if (mode && strcmp(mode, "scan") == 0)
		given = 0;
	if (given) {
		rc = acpi_parse(&acpi, given, acpi_map, NULL);
		if (rc < 0) {
			first = acpi;
			memset(&acpi, 0, sizeof(acpi));
			kprintf("acpi: RSDP at 0x%llx from %s is not usable\n",
				(unsigned long long)given, bi->protocol);
			log_problems(&first);
		}
	}
	if (rc < 0) {
		found = acpi_find_rsdp(acpi_map, NULL);
		if (found && found != given) {
			rc = acpi_parse(&acpi, found, acpi_map, NULL);
			from = "BIOS scan";
		}
	}
	if (rc < 0) {
		if (found && found != given) {
			kprintf("acpi: RSDP at 0x%llx from BIOS scan is not usable\n",
				(unsigned long long)found);
			log_problems(&acpi);
		}
		kprintf(given || found ? "acpi: no usable tables\n" : "acpi: no RSDP found\n");
		memset(&acpi, 0, sizeof(acpi));
		return;
	}
	kprintf("acpi: RSDP rev %u at 0x%08llx (from %s), %s at 0x%08llx\n", acpi.revision,
		(unsigned long long)acpi.rsdp, from, acpi.xsdt ? "XSDT" : "RSDT",
		(unsigned long long)acpi.root);
	log_madt(&acpi);
	log_mcfg(&acpi);
	log_fadt(&acpi);
	{
		uint64_t t0 = clock_ns();
		int rc = acpi_parse_dsdt(&acpi, acpi_map, NULL);

		dsdt_us = (clock_ns() - t0) / 1000;
		log_dsdt(&acpi, rc);
	}
	log_problems(&acpi);
}
