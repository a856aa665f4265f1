/*
 * Portable PCI core: enumeration, BAR sizing, capability walk, names.
 * Reaches configuration space only through struct pci_cfg_ops, so the same
 * source runs in the kernel and over the host tests' simulated topology.
 */
#include <stdlib.h>
#include <string.h>

#include <pci/pci.h>

#define CAP_WALK_MAX 48

uint8_t pci_read8(const struct pci_dev *d, uint16_t off)
{
	return (uint8_t)d->cfg->read(d->cfg->ctx, d->bus, d->dev, d->fn, off, 1);
}

uint16_t pci_read16(const struct pci_dev *d, uint16_t off)
{
	return (uint16_t)d->cfg->read(d->cfg->ctx, d->bus, d->dev, d->fn, off, 2);
}

uint32_t pci_read32(const struct pci_dev *d, uint16_t off)
{
	return d->cfg->read(d->cfg->ctx, d->bus, d->dev, d->fn, off, 4);
}

void pci_write8(const struct pci_dev *d, uint16_t off, uint8_t v)
{
	d->cfg->write(d->cfg->ctx, d->bus, d->dev, d->fn, off, 1, v);
}

void pci_write16(const struct pci_dev *d, uint16_t off, uint16_t v)
{
	d->cfg->write(d->cfg->ctx, d->bus, d->dev, d->fn, off, 2, v);
}

void pci_write32(const struct pci_dev *d, uint16_t off, uint32_t v)
{
	d->cfg->write(d->cfg->ctx, d->bus, d->dev, d->fn, off, 4, v);
}

int pci_cap_list(const struct pci_dev *d, uint8_t *pos_out, int max)
{
	uint8_t seen[256 / 8] = {0};
	uint8_t pos;
	int n = 0;

	if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	pos = pci_read8(d, PCI_CAP_PTR);
	while (n < max && n < CAP_WALK_MAX) {
		pos &= 0xfc; /* the bottom two bits are reserved */
		if (pos < 0x40 || (seen[pos / 8] & (1u << (pos % 8))))
			break; /* end of list, a pointer into the header, or a loop */
		seen[pos / 8] |= (uint8_t)(1u << (pos % 8));
		pos_out[n++] = pos;
		pos = pci_read8(d, (uint16_t)(pos + 1));
	}
	return n;
}

uint8_t pci_find_cap(const struct pci_dev *d, uint8_t id, uint8_t start)
{
	uint8_t list[CAP_WALK_MAX];
	int n = pci_cap_list(d, list, CAP_WALK_MAX), i = 0;

	if (start) {
		while (i < n && list[i] != start)
			i++;
		i++; /* the one after start */
	}
	for (; i < n; i++)
		if (pci_read8(d, list[i]) == id)
			return list[i];
	return 0;
}

/*
 * The size a BAR decodes: its lowest writable address bit (PCI 3.0,
 * 6.2.5.1). A device that reports writable bits that are not one run up to
 * the top (a hostile or broken one) still gets a power of two, never
 * ~mask + 1 (which for such a mask is no power of two, or is huge), so the
 * BAR is assigned naturally aligned like every other.
 */
static uint64_t bar_size(uint64_t mask)
{
	return mask & (~mask + 1);
}

/*
 * Size BAR i: write all ones, read back the writable bits, restore.
 * Returns: the number of BAR registers used (2 for a 64-bit BAR, else 1).
 */
static int size_bar(struct pci_dev *d, int i, int nbars)
{
	uint16_t off = (uint16_t)(PCI_BAR0 + 4 * i);
	uint32_t orig = pci_read32(d, off), mask;
	struct pci_bar *b = &d->bar[i];

	pci_write32(d, off, 0xffffffffu);
	mask = pci_read32(d, off);
	pci_write32(d, off, orig);

	if (orig & PCI_BAR_SPACE_IO) {
		mask &= PCI_BAR_IO_MASK;
		if (mask & 0xffff)
			mask |= 0xffff0000u; /* 16-bit I/O BARs leave the top bits 0 */
		if (!mask)
			return 1;
		b->type = PCI_BAR_IO;
		b->addr = orig & PCI_BAR_IO_MASK;
		b->size = bar_size(mask);
		return 1;
	}
	if ((orig & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64 && i + 1 < nbars) {
		uint32_t orig_hi = pci_read32(d, (uint16_t)(off + 4)), mask_hi;
		uint64_t mask64;

		pci_write32(d, (uint16_t)(off + 4), 0xffffffffu);
		mask_hi = pci_read32(d, (uint16_t)(off + 4));
		pci_write32(d, (uint16_t)(off + 4), orig_hi);
		mask64 = ((uint64_t)mask_hi << 32) | (mask & PCI_BAR_MEM_MASK);
		if (mask64) {
			b->type = PCI_BAR_MEM64;
			b->prefetch = !!(orig & PCI_BAR_MEM_PREFETCH);
			b->addr = ((uint64_t)orig_hi << 32) | (orig & PCI_BAR_MEM_MASK);
			b->size = bar_size(mask64);
		}
		return 2;
	}
	mask &= PCI_BAR_MEM_MASK;
	if (!mask)
		return 1;
	b->type = PCI_BAR_MEM32;
	b->prefetch = !!(orig & PCI_BAR_MEM_PREFETCH);
	b->addr = orig & PCI_BAR_MEM_MASK;
	b->size = bar_size(mask);
	return 1;
}

static void size_bars(struct pci_dev *d, int nbars)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);

	/* No decoding while a BAR briefly holds all ones. */
	pci_write16(d, PCI_COMMAND, cmd & (uint16_t) ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	for (int i = 0; i < nbars;)
		i += size_bar(d, i, nbars);
	pci_write16(d, PCI_COMMAND, cmd);
}

/*
 * Does a bridge implement an optional window? Its base register reads 0
 * when it does not (3.2.5.6, 3.2.5.9): write the highest base (above the
 * limit, so the window stays closed), read it back, restore.
 */
static bool probe_base(struct pci_dev *d, uint16_t off, unsigned size)
{
	uint32_t got;

	if (size == 1) {
		pci_write8(d, off, PCI_IO_RANGE_MASK);
		got = pci_read8(d, off) & PCI_IO_RANGE_MASK;
		pci_write8(d, off, 0);
	} else {
		pci_write16(d, off, PCI_MEM_RANGE_MASK);
		got = pci_read16(d, off) & PCI_MEM_RANGE_MASK;
		pci_write16(d, off, 0);
	}
	return got != 0;
}

/*
 * A bridge's windows as firmware left them, and which it implements. A
 * window counts as open only when decoding of its kind is on too: base 0
 * and limit 0 (the reset state) would otherwise read as open at 0.
 */
static void read_bridge_windows(struct pci_dev *d)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	uint8_t io_base = pci_read8(d, PCI_IO_BASE), io_limit = pci_read8(d, PCI_IO_LIMIT);
	uint16_t pref_base = pci_read16(d, PCI_PREF_MEM_BASE);
	uint16_t pref_limit = pci_read16(d, PCI_PREF_MEM_LIMIT);
	struct pci_range *w = d->window;

	/* The range type bits are read-only: non-zero means implemented. */
	d->has_io_window = io_base || io_limit || probe_base(d, PCI_IO_BASE, 1);
	d->has_pref_window = pref_base || pref_limit || probe_base(d, PCI_PREF_MEM_BASE, 2);
	d->pref64 = (pref_base & PCI_PREF_RANGE_TYPE_MASK) == PCI_PREF_RANGE_TYPE_64;

	w[PCI_WIN_IO].base = (uint64_t)(io_base & PCI_IO_RANGE_MASK) << 8;
	w[PCI_WIN_IO].limit = (uint64_t)(io_limit & PCI_IO_RANGE_MASK) << 8 | 0xfff;
	if ((io_base & PCI_IO_RANGE_TYPE_MASK) == PCI_IO_RANGE_TYPE_32) {
		w[PCI_WIN_IO].base |= (uint64_t)pci_read16(d, PCI_IO_BASE_UPPER) << 16;
		w[PCI_WIN_IO].limit |= (uint64_t)pci_read16(d, PCI_IO_LIMIT_UPPER) << 16;
	}
	w[PCI_WIN_MEM].base = (uint64_t)(pci_read16(d, PCI_MEM_BASE) & PCI_MEM_RANGE_MASK) << 16;
	w[PCI_WIN_MEM].limit =
		(uint64_t)(pci_read16(d, PCI_MEM_LIMIT) & PCI_MEM_RANGE_MASK) << 16 | 0xfffff;
	w[PCI_WIN_PREF].base = (uint64_t)(pref_base & PCI_MEM_RANGE_MASK) << 16;
	w[PCI_WIN_PREF].limit = (uint64_t)(pref_limit & PCI_MEM_RANGE_MASK) << 16 | 0xfffff;
	if (d->pref64) {
		w[PCI_WIN_PREF].base |= (uint64_t)pci_read32(d, PCI_PREF_BASE_UPPER) << 32;
		w[PCI_WIN_PREF].limit |= (uint64_t)pci_read32(d, PCI_PREF_LIMIT_UPPER) << 32;
	}
	if (!d->has_io_window || !(cmd & PCI_COMMAND_IO))
		w[PCI_WIN_IO] = (struct pci_range){1, 0};
	if (!(cmd & PCI_COMMAND_MEMORY)) {
		w[PCI_WIN_MEM] = (struct pci_range){1, 0};
		w[PCI_WIN_PREF] = (struct pci_range){1, 0};
	}
	if (!d->has_pref_window)
		w[PCI_WIN_PREF] = (struct pci_range){1, 0};
}

struct scan {
	const struct pci_cfg_ops *cfg;
	struct pci_dev *head, **tail;
	unsigned count;
	uint8_t next_bus;      /* the highest bus number in use */
	uint8_t seen[256 / 8]; /* buses scanned: a bridge loop cannot recurse forever */
};

static void scan_bus(struct scan *s, uint8_t bus, struct pci_dev *upstream, int depth);

static struct pci_dev *add_function(struct scan *s, uint8_t bus, uint8_t dev, uint8_t fn,
				    struct pci_dev *upstream)
{
	struct pci_dev *d = calloc(1, sizeof(*d));
	uint32_t class_rev;

	if (!d)
		return NULL;
	d->cfg = s->cfg;
	d->bus = bus;
	d->dev = dev;
	d->fn = fn;
	d->upstream = upstream;
	d->vendor = pci_read16(d, PCI_VENDOR_ID);
	d->device = pci_read16(d, PCI_DEVICE_ID);
	class_rev = pci_read32(d, PCI_REVISION);
	d->revision = (uint8_t)class_rev;
	d->prog_if = (uint8_t)(class_rev >> 8);
	d->subclass = (uint8_t)(class_rev >> 16);
	d->class_code = (uint8_t)(class_rev >> 24);
	d->header_type = pci_read8(d, PCI_HEADER_TYPE) & PCI_HEADER_TYPE_MASK;
	d->irq_line = pci_read8(d, PCI_INTERRUPT_LINE);
	d->irq_pin = pci_read8(d, PCI_INTERRUPT_PIN);
	if (d->header_type == PCI_HEADER_NORMAL) {
		d->subsys_vendor = pci_read16(d, PCI_SUBSYS_VENDOR_ID);
		d->subsys_id = pci_read16(d, PCI_SUBSYS_ID);
		size_bars(d, 6);
	} else if (d->header_type == PCI_HEADER_BRIDGE) {
		size_bars(d, 2);
		read_bridge_windows(d);
	}
	*s->tail = d;
	s->tail = &d->next;
	s->count++;
	return d;
}

/*
 * A bridge's buses: firmware may have numbered it (q35/pc with SeaBIOS,
 * OVMF) or not (microvm, qboot). Unnumbered (or nonsensically numbered)
 * bridges get the next free bus number; the subordinate number is set to
 * the last bus found behind them.
 */
static void scan_bridge(struct scan *s, struct pci_dev *br, int depth)
{
	uint8_t sec = pci_read8(br, PCI_SECONDARY_BUS);
	uint8_t sub = pci_read8(br, PCI_SUBORDINATE_BUS);

	if (sec == 0 || sec <= br->bus || (s->seen[sec / 8] & (1u << (sec % 8)))) {
		if (s->next_bus == 0xff)
			return; /* out of bus numbers */
		sec = ++s->next_bus;
		pci_write8(br, PCI_PRIMARY_BUS, br->bus);
		pci_write8(br, PCI_SECONDARY_BUS, sec);
		pci_write8(br, PCI_SUBORDINATE_BUS, 0xff); /* forward everything while scanning */
		scan_bus(s, sec, br, depth + 1);
		sub = s->next_bus;
		pci_write8(br, PCI_SUBORDINATE_BUS, sub);
	} else {
		if (sec > s->next_bus)
			s->next_bus = sec;
		scan_bus(s, sec, br, depth + 1);
		if (sub > s->next_bus)
			s->next_bus = sub;
	}
	br->secondary = sec;
	br->subordinate = sub < sec ? sec : sub;
}

static void scan_bus(struct scan *s, uint8_t bus, struct pci_dev *upstream, int depth)
{
	struct pci_dev probe = {.cfg = s->cfg, .bus = bus};

	if (depth > 32 || (s->seen[bus / 8] & (1u << (bus % 8))))
		return;
	s->seen[bus / 8] |= (uint8_t)(1u << (bus % 8));
	for (uint8_t dev = 0; dev < 32; dev++) {
		uint8_t nfn = 1;

		probe.dev = dev;
		probe.fn = 0;
		if (pci_read16(&probe, PCI_VENDOR_ID) == 0xffff)
			continue;
		if (pci_read8(&probe, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFUNCTION)
			nfn = 8;
		for (uint8_t fn = 0; fn < nfn; fn++) {
			struct pci_dev *d;

			probe.fn = fn;
			if (pci_read16(&probe, PCI_VENDOR_ID) == 0xffff)
				continue;
			d = add_function(s, bus, dev, fn, upstream);
			if (d && d->header_type == PCI_HEADER_BRIDGE)
				scan_bridge(s, d, depth);
		}
	}
}

struct pci_dev *pci_enumerate(const struct pci_cfg_ops *cfg, unsigned *count)
{
	struct scan s = {.cfg = cfg};

	s.tail = &s.head;
	scan_bus(&s, 0, NULL, 0);
	if (count)
		*count = s.count;
	return s.head;
}

void pci_free_list(struct pci_dev *list)
{
	while (list) {
		struct pci_dev *next = list->next;

		free(list);
		list = next;
	}
}

void pci_enable(struct pci_dev *d)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND) | PCI_COMMAND_MASTER;

	for (int i = 0; i < 6; i++) {
		if (d->bar[i].type == PCI_BAR_IO && d->bar[i].addr)
			cmd |= PCI_COMMAND_IO;
		else if ((d->bar[i].type == PCI_BAR_MEM32 || d->bar[i].type == PCI_BAR_MEM64) &&
			 d->bar[i].addr)
			cmd |= PCI_COMMAND_MEMORY;
	}
	pci_write16(d, PCI_COMMAND, cmd);
}

/* A few names for the boot log (the PCI ID database, abridged). */
static const struct {
	uint16_t vendor, device;
	const char *name;
} known[] = {
	{0x8086, 0x29c0, "Q35 host bridge"},
	{0x8086, 0x2918, "ICH9 LPC bridge"},
	{0x8086, 0x2922, "ICH9 SATA controller"},
	{0x8086, 0x2930, "ICH9 SMBus"},
	{0x8086, 0x1237, "i440FX host bridge"},
	{0x8086, 0x7000, "PIIX3 ISA bridge"},
	{0x8086, 0x7010, "PIIX3 IDE"},
	{0x8086, 0x7113, "PIIX4 ACPI"},
	{0x1b36, 0x0001, "PCI-PCI bridge"},
	{0x1b36, 0x0008, "PCIe host bridge"},
	{0x1b36, 0x000c, "PCIe root port"},
	{0x1234, 0x1111, "VGA"},
	{0x1af4, 0x1000, "virtio-net (transitional)"},
	{0x1af4, 0x1001, "virtio-blk (transitional)"},
	{0x1af4, 0x1002, "virtio-balloon (transitional)"},
	{0x1af4, 0x1003, "virtio-console (transitional)"},
	{0x1af4, 0x1004, "virtio-scsi (transitional)"},
	{0x1af4, 0x1005, "virtio-rng (transitional)"},
	{0x1af4, 0x1009, "virtio-9p (transitional)"},
	{0x1af4, 0x1041, "virtio-net"},
	{0x1af4, 0x1042, "virtio-blk"},
	{0x1af4, 0x1043, "virtio-console"},
	{0x1af4, 0x1044, "virtio-rng"},
	{0x1af4, 0x1045, "virtio-balloon"},
	{0x1af4, 0x1048, "virtio-scsi"},
	{0x1af4, 0x1049, "virtio-9p"},
	{0x1af4, 0x1050, "virtio-gpu"},
	{0x1af4, 0x1052, "virtio-input"},
	{0x1af4, 0x1053, "virtio-vsock"},
};

static const struct {
	uint8_t class_code;
	const char *name;
} classes[] = {
	{0x00, "unclassified"},
	{0x01, "storage controller"},
	{0x02, "network controller"},
	{0x03, "display controller"},
	{0x04, "multimedia controller"},
	{0x05, "memory controller"},
	{0x06, "bridge"},
	{0x07, "communication controller"},
	{0x08, "system peripheral"},
	{0x09, "input device"},
	{0x0c, "serial bus controller"},
	{0xff, "vendor specific"},
};

const char *pci_dev_name(const struct pci_dev *d)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].vendor == d->vendor && known[i].device == d->device)
			return known[i].name;
	if (d->vendor == 0x1af4 && d->device >= 0x1040 && d->device <= 0x107f)
		return "virtio device";
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (classes[i].class_code == d->class_code)
			return classes[i].name;
	return "device";
}
