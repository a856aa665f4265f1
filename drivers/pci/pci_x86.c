/*
 * The kernel's PCI bus on x86: configuration access through ECAM when the
 * ACPI MCFG describes it (segment 0) or, without an MCFG, the DSDT's host
 * bridge gives its _CBA (microvm), else the CF8/CFC mechanism (PCI 3.0,
 * 3.2.2.3.2); enumeration at boot with one lspci-like line per function;
 * resource assignment in the host bridge's _CRS windows for BARs firmware
 * left unassigned; the driver registry; the shell's `lspci`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <acpi/acpi.h>
#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <kernel/registry.h>
#include <pci/pci.h>

#define CF8_ADDR    0xcf8
#define CF8_DATA    0xcfc
#define MAX_DRIVERS 16

struct pci_dev *pci_devices;
static unsigned pci_count;
static const struct pci_driver *drivers[MAX_DRIVERS];
static unsigned nr_drivers;

static uint32_t cf8_address(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
	return 0x80000000u | (uint32_t)bus << 16 | (uint32_t)dev << 11 | (uint32_t)fn << 8 |
	       (off & 0xfc);
}

static uint32_t cf8_read(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off,
			 unsigned size)
{
	uint64_t flags;
	uint32_t v;

	(void)ctx;
	if (off >= 256 || dev >= 32 || fn >= 8)
		return 0xffffffffu;
	flags = irq_save(); /* address and data are two accesses */
	outl(CF8_ADDR, cf8_address(bus, dev, fn, off));
	v = size == 1	? inb((uint16_t)(CF8_DATA + (off & 3)))
	    : size == 2 ? inw((uint16_t)(CF8_DATA + (off & 2)))
			: inl(CF8_DATA);
	irq_restore(flags);
	return v;
}

static void cf8_write(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, unsigned size,
		      uint32_t val)
{
	uint64_t flags;

	(void)ctx;
	if (off >= 256 || dev >= 32 || fn >= 8)
		return;
	flags = irq_save();
	outl(CF8_ADDR, cf8_address(bus, dev, fn, off));
	if (size == 1)
		outb((uint16_t)(CF8_DATA + (off & 3)), (uint8_t)val);
	else if (size == 2)
		outw((uint16_t)(CF8_DATA + (off & 2)), (uint16_t)val);
	else
		outl(CF8_DATA, val);
	irq_restore(flags);
}

struct ecam {
	volatile uint8_t *base; /* mapping of bus 0 (only bus_start..bus_end are mapped) */
	uint8_t bus_start, bus_end;
	uint64_t phys, size; /* what is mapped */
};
static struct ecam ecam;

static volatile void *ecam_addr(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off)
{
	if (bus < ecam.bus_start || bus > ecam.bus_end || dev >= 32 || fn >= 8 || off >= 4096)
		return NULL;
	return ecam.base + ((uint32_t)bus << 20 | (uint32_t)dev << 15 | (uint32_t)fn << 12 | off);
}

static uint32_t ecam_read(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off,
			  unsigned size)
{
	volatile void *p = ecam_addr(bus, dev, fn, off);

	(void)ctx;
	if (!p)
		return 0xffffffffu;
	return size == 1   ? *(volatile uint8_t *)p
	       : size == 2 ? *(volatile uint16_t *)p
			   : *(volatile uint32_t *)p;
}

static void ecam_write(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, unsigned size,
		       uint32_t val)
{
	volatile void *p = ecam_addr(bus, dev, fn, off);

	(void)ctx;
	if (!p)
		return;
	if (size == 1)
		*(volatile uint8_t *)p = (uint8_t)val;
	else if (size == 2)
		*(volatile uint16_t *)p = (uint16_t)val;
	else
		*(volatile uint32_t *)p = val;
}

static struct pci_cfg_ops cfg_cf8 = {cf8_read, cf8_write, NULL, 256};
static struct pci_cfg_ops cfg_ecam = {ecam_read, ecam_write, NULL, 4096};

/* The DSDT's host bridge of segment 0 that holds bus 0, or NULL. */
static const struct acpi_pci_host *root_host(void)
{
	for (unsigned i = 0; i < acpi.nr_pci_hosts && i < ACPI_MAX_PCI_HOSTS; i++)
		if (acpi.pci_host[i].segment == 0 && acpi.pci_host[i].bus_start == 0)
			return &acpi.pci_host[i];
	return NULL;
}

/* ECAM of buses bus_start..bus_end, base being the address of bus 0. */
static bool map_ecam(uint64_t base, uint8_t bus_start, uint8_t bus_end)
{
	uint64_t first = base + ((uint64_t)bus_start << 20);
	size_t size = (size_t)(bus_end - bus_start + 1) << 20;
	void *map = ioremap(first, size);

	if (!map) {
		kprintf("pci: cannot map ECAM at 0x%llx, using CF8\n", (unsigned long long)first);
		return false;
	}
	ecam.base = (volatile uint8_t *)map - ((uint64_t)bus_start << 20);
	ecam.bus_start = bus_start;
	ecam.bus_end = bus_end;
	ecam.phys = first;
	ecam.size = size;
	return true;
}

static const struct pci_cfg_ops *choose_access(const struct acpi_pci_host *host)
{
	const char *force = cmdline_get(&kernel_cmdline, "pci");

	if (force && strcmp(force, "cf8") == 0) {
		kprintf("pci: config access via ports 0xcf8/0xcfc (pci=cf8)\n");
		return &cfg_cf8;
	}
	for (unsigned i = 0; i < acpi.nr_mcfg; i++) {
		const struct acpi_mcfg *m = &acpi.mcfg[i];

		if (m->segment != 0 || m->bus_end < m->bus_start)
			continue;
		if (!map_ecam(m->base, m->bus_start, m->bus_end))
			break;
		kprintf("pci: config access via ECAM at 0x%llx, buses %u-%u\n",
			(unsigned long long)ecam.phys, m->bus_start, m->bus_end);
		return &cfg_ecam;
	}
	/* No MCFG: a GPEX host bridge (microvm) gives its ECAM through _CBA. */
	if (!acpi.have_mcfg && host && host->have_ecam && host->bus_end >= host->bus_start &&
	    map_ecam(host->ecam, host->bus_start, host->bus_end)) {
		kprintf("pci: config access via ECAM at 0x%llx, buses %u-%u (DSDT %s._CBA)\n",
			(unsigned long long)ecam.phys, host->bus_start, host->bus_end, host->path);
		return &cfg_ecam;
	}
	kprintf("pci: config access via ports 0xcf8/0xcfc\n");
	return &cfg_cf8;
}

static void log_dev(const struct pci_dev *d)
{
	kprintf("pci: %02x:%02x.%u [%02x%02x] %04x:%04x %s\n", d->bus, d->dev, d->fn, d->class_code,
		d->subclass, d->vendor, d->device, pci_dev_name(d));
}

static void log_assign(void *ctx, const char *fmt, ...)
{
	va_list ap;

	(void)ctx;
	va_start(ap, fmt);
	vkprintf(fmt, ap);
	va_end(ap);
}

static void reserve(struct pci_resources *r, uint64_t base, uint64_t len)
{
	if (len == 0 || base + len - 1 < base)
		return;
	if (r->nr_reserved == PCI_MAX_RESERVED) {
		kprintf("pci: more than %u reserved ranges, 0x%llx-0x%llx not reserved\n",
			PCI_MAX_RESERVED, (unsigned long long)base,
			(unsigned long long)(base + len - 1));
		return;
	}
	r->reserved[r->nr_reserved++] = (struct pci_range){base, base + len - 1};
}

/* The highest physical address the CPU can put on the bus. */
static uint64_t phys_addr_max(void)
{
	uint32_t r[4];
	unsigned bits = 36; /* without the leaf: the PAE minimum */

	if (cpu_features.max_ext_leaf >= 0x80000008) {
		cpuid(0x80000008, 0, r);
		bits = r[0] & 0xff;
	}
	if (bits < 32 || bits > 52)
		bits = 36;
	return (1ull << bits) - 1;
}

/*
 * The host bridge's _CRS windows, up to what the CPU can address. New
 * assignments start at I/O 0x1000 (below are the chipset's fixed ports)
 * and memory 1 MiB (the legacy VGA hole is a window too); firmware's may
 * sit lower (SeaBIOS puts the ICH9 SMBus at 0x700). Never handed out: the
 * firmware memory map (RAM, ACPI, reserved), the ECAM, the MSI/local APIC
 * range and the IOAPICs.
 */
static void host_resources(const struct acpi_pci_host *h, struct pci_resources *r)
{
	uint64_t top = phys_addr_max();

	memset(r, 0, sizeof(*r));
	r->io_floor = 0x1000;
	r->mem_floor = 1 * MiB;
	for (unsigned i = 0; i < h->nr_windows && r->nr_windows < PCI_MAX_WINDOWS; i++) {
		const struct acpi_window *w = &h->window[i];
		struct pci_window *o = &r->window[r->nr_windows];

		o->io = w->kind == ACPI_WINDOW_IO;
		o->base = w->min;
		o->limit = MIN(w->max, o->io ? 0xffffull : top);
		if (o->base <= o->limit)
			r->nr_windows++;
	}
	for (unsigned i = 0; i < phys_map.nr; i++) {
		const struct boot_mem_range *m = &phys_map.r[i];

		for (unsigned k = 0; k < r->nr_windows; k++) {
			const struct pci_window *w = &r->window[k];

			if (!w->io && m->base <= w->limit && w->base <= m->base + m->len - 1) {
				reserve(r, m->base, m->len);
				break;
			}
		}
	}
	if (ecam.size)
		reserve(r, ecam.phys, ecam.size);
	reserve(r, 0xfee00000, 1 * MiB); /* MSI writes and the local APIC */
	if (acpi.lapic_address && (acpi.lapic_address & ~(MiB - 1)) != 0xfee00000)
		reserve(r, acpi.lapic_address, PAGE_SIZE);
	for (unsigned i = 0; i < acpi.nr_ioapic; i++)
		reserve(r, acpi.ioapic[i].address, PAGE_SIZE);
}

static void assign_resources(const struct acpi_pci_host *host)
{
	static struct pci_resources res;
	int rc;

	if (!pci_devices)
		return;
	if (!host || !host->have_crs || host->nr_windows == 0) {
		kprintf("pci: no host bridge windows in the DSDT, BARs left as firmware set "
			"them\n");
		return;
	}
	host_resources(host, &res);
	rc = pci_assign_resources(pci_devices, &res, log_assign, NULL);
	if (rc < 0)
		kprintf("pci: resource assignment failed (%d), BARs left as firmware set them\n",
			rc);
}

void pci_init(void)
{
	const struct acpi_pci_host *host = root_host();
	const struct pci_cfg_ops *cfg = choose_access(host);
	uint64_t t0 = clock_ns();

	pci_devices = pci_enumerate(cfg, &pci_count);
	for_each_pci_dev(d) log_dev(d);
	kprintf("pci: %u functions, enumerated in %llu us\n", pci_count,
		(unsigned long long)((clock_ns() - t0) / 1000));
	assign_resources(host);
}

static const struct pci_id *match(const struct pci_driver *drv, const struct pci_dev *d)
{
	uint32_t cls = (uint32_t)d->class_code << 16 | (uint32_t)d->subclass << 8 | d->prog_if;

	for (const struct pci_id *id = drv->ids; id->vendor || id->device || id->class_mask; id++) {
		if (id->vendor != PCI_ANY && id->vendor != d->vendor)
			continue;
		if (id->device != PCI_ANY && id->device != d->device)
			continue;
		if ((cls & id->class_mask) != id->class_code)
			continue;
		return id;
	}
	return NULL;
}

int pci_register_driver(const struct pci_driver *drv)
{
	if (nr_drivers == MAX_DRIVERS)
		return -ENOSPC;
	drivers[nr_drivers++] = drv;
	for_each_pci_dev(d)
	{
		const struct pci_id *id;
		int rc;

		if (d->driver || !(id = match(drv, d)))
			continue;
		if (d->disabled) {
			kprintf("pci: %02x:%02x.%u: not probed by %s: disabled (resources did not "
				"fit)\n",
				d->bus, d->dev, d->fn, drv->name);
			continue;
		}
		rc = drv->probe(d, id);
		if (rc == 0)
			d->driver = drv;
		else if (rc != -ENODEV) /* -ENODEV: the driver declined, and said why */
			kprintf("pci: %02x:%02x.%u: %s probe failed (%d)\n", d->bus, d->dev, d->fn,
				drv->name, rc);
	}
	return 0;
}

int pci_msix_enable(struct pci_dev *d)
{
	uint8_t cap = pci_find_cap(d, PCI_CAP_ID_MSIX, 0);
	uint16_t ctrl;
	uint32_t table;
	const struct pci_bar *bar;
	unsigned size;

	if (!cap || !lapic_ready())
		return -ENODEV;
	ctrl = pci_read16(d, (uint16_t)(cap + PCI_MSIX_FLAGS));
	table = pci_read32(d, (uint16_t)(cap + PCI_MSIX_TABLE));
	size = (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1u;
	if ((table & PCI_MSIX_BIR_MASK) >= 6)
		return -ENODEV; /* BIR 6 and 7 are reserved */
	bar = &d->bar[table & PCI_MSIX_BIR_MASK];
	table &= ~(uint32_t)PCI_MSIX_BIR_MASK;
	if ((bar->type != PCI_BAR_MEM32 && bar->type != PCI_BAR_MEM64) || !bar->addr ||
	    (uint64_t)table + size * PCI_MSIX_ENTRY_SIZE > bar->size)
		return -ENODEV;
	d->msix_table = ioremap(bar->addr + table, size * PCI_MSIX_ENTRY_SIZE);
	if (!d->msix_table)
		return -ENODEV;
	d->msix_cap = cap;
	d->msix_size = (uint16_t)size;
	/* Everything masked while the function is switched over (6.8.2.3). */
	pci_write16(d, (uint16_t)(cap + PCI_MSIX_FLAGS), ctrl | PCI_MSIX_FLAGS_MASKALL);
	for (unsigned i = 0; i < size; i++)
		d->msix_table[(i * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_CTRL) / 4] |=
			PCI_MSIX_ENTRY_MASKED;
	pci_write16(d, (uint16_t)(cap + PCI_MSIX_FLAGS),
		    (ctrl | PCI_MSIX_FLAGS_ENABLE) & (uint16_t)~PCI_MSIX_FLAGS_MASKALL);
	/* INTx off: MSI-X replaces it. */
	pci_write16(d, PCI_COMMAND, pci_read16(d, PCI_COMMAND) | PCI_COMMAND_INTX_DISABLE);
	return (int)size;
}

int pci_msix_route(struct pci_dev *d, unsigned entry, int vector)
{
	volatile uint32_t *e;
	uint64_t addr = msi_address();

	if (!d->msix_table || entry >= d->msix_size || vector < 0)
		return -EINVAL;
	e = d->msix_table + entry * PCI_MSIX_ENTRY_SIZE / 4;
	e[PCI_MSIX_ENTRY_CTRL / 4] |= PCI_MSIX_ENTRY_MASKED;
	e[PCI_MSIX_ENTRY_ADDR_LO / 4] = (uint32_t)addr;
	e[PCI_MSIX_ENTRY_ADDR_HI / 4] = (uint32_t)(addr >> 32);
	e[PCI_MSIX_ENTRY_DATA / 4] = msi_data(vector);
	e[PCI_MSIX_ENTRY_CTRL / 4] &= ~(uint32_t)PCI_MSIX_ENTRY_MASKED;
	return 0;
}

void pci_msix_disable(struct pci_dev *d)
{
	uint16_t ctrl;

	if (!d->msix_cap)
		return;
	ctrl = pci_read16(d, (uint16_t)(d->msix_cap + PCI_MSIX_FLAGS));
	pci_write16(d, (uint16_t)(d->msix_cap + PCI_MSIX_FLAGS),
		    ctrl & (uint16_t) ~(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL));
	d->msix_table = NULL; /* the mapping stays: ioremap has no unmap of MMIO */
	d->msix_cap = 0;
	d->msix_size = 0;
}

static const char *bar_kind(const struct pci_bar *b)
{
	switch (b->type) {
	case PCI_BAR_IO: return "I/O";
	case PCI_BAR_MEM32: return b->prefetch ? "mem32 pref" : "mem32";
	case PCI_BAR_MEM64: return b->prefetch ? "mem64 pref" : "mem64";
	default: return "none";
	}
}

KCMD(lspci, "list PCI functions (-v: BARs and capabilities)")
{
	bool verbose = argc > 1 && strcmp(argv[1], "-v") == 0;

	for_each_pci_dev(d)
	{
		printf("%02x:%02x.%u [%02x%02x] %04x:%04x %s%s%s%s\n", d->bus, d->dev, d->fn,
		       d->class_code, d->subclass, d->vendor, d->device, pci_dev_name(d),
		       d->driver ? ", driver " : "", d->driver ? d->driver->name : "",
		       d->disabled ? ", disabled" : "");
		if (!verbose)
			continue;
		if (d->header_type == PCI_HEADER_BRIDGE) {
			static const char *const names[PCI_NR_WIN] = {"I/O", "mem", "mem pref"};

			printf("    buses %u-%u\n", d->secondary, d->subordinate);
			for (int k = 0; k < PCI_NR_WIN; k++)
				if (d->window[k].base <= d->window[k].limit)
					printf("    window %s 0x%llx-0x%llx\n", names[k],
					       (unsigned long long)d->window[k].base,
					       (unsigned long long)d->window[k].limit);
		}
		for (int i = 0; i < 6; i++)
			if (d->bar[i].type != PCI_BAR_NONE)
				printf("    BAR%d %s at 0x%llx, %llu bytes\n", i,
				       bar_kind(&d->bar[i]), (unsigned long long)d->bar[i].addr,
				       (unsigned long long)d->bar[i].size);
		if (d->irq_pin)
			printf("    INTx pin %c, line %u\n", 'A' + d->irq_pin - 1, d->irq_line);
		uint8_t caps[48];
		int ncaps = pci_cap_list(d, caps, 48);

		if (ncaps) {
			printf("    capabilities:");
			for (int i = 0; i < ncaps; i++)
				printf(" %02x@%02x", pci_read8(d, caps[i]), caps[i]);
			printf("\n");
		}
	}
	return 0;
}
