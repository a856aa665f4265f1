/*
 * I/O APICs (Intel 82093AA data sheet, section 3): every one the MADT
 * lists, mapped uncached, pins masked at boot, then routed one GSI at a
 * time. Registers are reached through IOREGSEL/IOWIN, so each access pair
 * runs with interrupts off: a handler touching the IOAPIC between the two
 * would change the selected register under us.
 */
#include <errno.h>
#include <stdio.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/ioapic.h>
#include <acpi/acpi.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>

struct ioapic {
	volatile struct ioapic_mmio *mmio;
	uint32_t address;
	uint32_t gsi_base;
	unsigned pins;
	uint8_t id;	 /* from the MADT */
	uint8_t version; /* IOAPICVER bits 7:0 */
};

static struct ioapic ioapics[ACPI_MAX_IOAPIC];
static unsigned nr_ioapics;

static uint32_t reg_read(struct ioapic *io, unsigned reg)
{
	uint64_t flags = irq_save();
	uint32_t v;

	io->mmio->regsel = reg;
	v = io->mmio->win;
	irq_restore(flags);
	return v;
}

static void reg_write(struct ioapic *io, unsigned reg, uint32_t v)
{
	uint64_t flags = irq_save();

	io->mmio->regsel = reg;
	io->mmio->win = v;
	irq_restore(flags);
}

/* The IOAPIC with a pin for gsi, and the pin; NULL if none. */
static struct ioapic *find(uint32_t gsi, unsigned *pin)
{
	for (unsigned i = 0; i < nr_ioapics; i++) {
		struct ioapic *io = &ioapics[i];

		if (gsi >= io->gsi_base && gsi - io->gsi_base < io->pins) {
			*pin = gsi - io->gsi_base;
			return io;
		}
	}
	return NULL;
}

static bool overlaps(uint32_t base, unsigned pins)
{
	for (unsigned i = 0; i < nr_ioapics; i++) {
		const struct ioapic *io = &ioapics[i];

		if (base < io->gsi_base + io->pins && io->gsi_base < base + pins)
			return true;
	}
	return false;
}

static void setup_one(const struct acpi_ioapic *a)
{
	struct ioapic *io = &ioapics[nr_ioapics];
	uint32_t ver;

	io->mmio = ioremap(a->address, sizeof(struct ioapic_mmio));
	if (!io->mmio) {
		kprintf("ioapic: id %u at 0x%x: cannot map its registers, skipped\n", a->id,
			a->address);
		return;
	}
	io->address = a->address;
	io->gsi_base = a->gsi_base;
	io->id = a->id;
	ver = reg_read(io, IOAPIC_REG_VER);
	if (ver == 0xffffffffu) {
		kprintf("ioapic: id %u at 0x%x does not answer (IOAPICVER reads 0x%08x), skipped\n",
			a->id, a->address, ver);
		return;
	}
	io->version = (uint8_t)IOAPIC_VER_VERSION(ver);
	io->pins = IOAPIC_VER_MAX_ENTRY(ver) + 1;
	if (overlaps(io->gsi_base, io->pins)) {
		kprintf("ioapic: id %u at 0x%x: GSI %u-%u overlap another IOAPIC's, skipped\n",
			a->id, a->address, io->gsi_base, io->gsi_base + io->pins - 1);
		return;
	}
	/* Mask first (low dword), then a known destination. */
	for (unsigned pin = 0; pin < io->pins; pin++) {
		reg_write(io, IOAPIC_REG_REDTBL(pin), (uint32_t)IOAPIC_RTE_MASKED);
		reg_write(io, IOAPIC_REG_REDTBL(pin) + 1, 0);
	}
	nr_ioapics++;
	kprintf("ioapic: id %u at 0x%x, GSI %u-%u, version 0x%02x\n", io->id, io->address,
		io->gsi_base, io->gsi_base + io->pins - 1, io->version);
}

/*
 * The MADT's interrupt source overrides, one line: "IRQ 0 -> GSI 2 (0x0:
 * edge, high)" with the raw MPS INTI flags and what they mean for an ISA
 * source (a field that conforms to the bus is ISA's: edge, active high).
 */
static void log_overrides(void)
{
	char line[400];
	size_t n = 0;

	line[0] = '\0';
	for (unsigned i = 0; i < acpi.nr_iso && i < ACPI_MAX_ISO && n < sizeof(line); i++) {
		const struct acpi_iso *o = &acpi.iso[i];
		uint16_t f = acpi_inti_resolve(o->flags, ACPI_BUS_ISA);

		n += (size_t)snprintf(line + n, sizeof(line) - n,
				      "%sIRQ %u -> GSI %u (0x%x: %s, %s)", i ? ", " : "", o->source,
				      o->gsi, o->flags,
				      ACPI_TRIGGER(f) == ACPI_TRIGGER_LEVEL ? "level" : "edge",
				      ACPI_POLARITY(f) == ACPI_POLARITY_LOW ? "low" : "high");
	}
	kprintf("ioapic: ISA overrides: %s\n", acpi.nr_iso ? line : "none (ISA IRQ n is GSI n)");
}

void ioapic_init(void)
{
	if (!acpi.have_madt || acpi.nr_ioapic == 0) {
		kprintf("ioapic: none listed (%s); GSI interrupts are unavailable\n",
			acpi.have_madt ? "the MADT has no IOAPIC entry" : "no MADT");
		return;
	}
	for (unsigned i = 0; i < acpi.nr_ioapic && i < ACPI_MAX_IOAPIC; i++)
		setup_one(&acpi.ioapic[i]);
	if (acpi.ioapic_dropped)
		kprintf("ioapic: %u more IOAPICs in the MADT than fit (%u), not used\n",
			acpi.ioapic_dropped, ACPI_MAX_IOAPIC);
	log_overrides();
}

unsigned ioapic_count(void)
{
	return nr_ioapics;
}

bool ioapic_has_gsi(uint32_t gsi)
{
	unsigned pin;

	return find(gsi, &pin) != NULL;
}

int ioapic_route(uint32_t gsi, int vector, enum irq_trigger trigger, enum irq_polarity polarity)
{
	unsigned pin;
	struct ioapic *io = find(gsi, &pin);
	uint64_t rte, flags;

	if (!io || !lapic_ready())
		return -ENODEV;
	if (vector < 0x10 || vector > 0xfe) /* 3.2.4: vectors 0x10-0xfe */
		return -EINVAL;
	rte = (uint64_t)vector | IOAPIC_RTE_DELIV_FIXED | IOAPIC_RTE_MASKED;
	if (trigger == IRQ_TRIGGER_LEVEL)
		rte |= IOAPIC_RTE_LEVEL;
	if (polarity == IRQ_ACTIVE_LOW)
		rte |= IOAPIC_RTE_ACTIVE_LOW;
	rte |= (uint64_t)(lapic_id() & 0xff) << IOAPIC_RTE_DEST_SHIFT; /* physical mode */

	/* Masked while the two halves disagree. */
	flags = irq_save();
	reg_write(io, IOAPIC_REG_REDTBL(pin), (uint32_t)IOAPIC_RTE_MASKED);
	reg_write(io, IOAPIC_REG_REDTBL(pin) + 1, (uint32_t)(rte >> 32));
	reg_write(io, IOAPIC_REG_REDTBL(pin), (uint32_t)rte);
	irq_restore(flags);
	return 0;
}

static int set_mask(uint32_t gsi, bool masked)
{
	unsigned pin;
	struct ioapic *io = find(gsi, &pin);
	uint64_t flags;
	uint32_t lo;

	if (!io)
		return -ENODEV;
	flags = irq_save();
	lo = reg_read(io, IOAPIC_REG_REDTBL(pin));
	if (masked)
		lo |= (uint32_t)IOAPIC_RTE_MASKED;
	else
		lo &= ~(uint32_t)IOAPIC_RTE_MASKED;
	reg_write(io, IOAPIC_REG_REDTBL(pin), lo); /* Remote IRR, DELIVS: read-only */
	irq_restore(flags);
	return 0;
}

int ioapic_mask(uint32_t gsi)
{
	return set_mask(gsi, true);
}

int ioapic_unmask(uint32_t gsi)
{
	return set_mask(gsi, false);
}

int ioapic_read_rte(uint32_t gsi, uint64_t *rte)
{
	unsigned pin;
	struct ioapic *io = find(gsi, &pin);
	uint64_t flags;

	if (!io)
		return -ENODEV;
	flags = irq_save();
	*rte = reg_read(io, IOAPIC_REG_REDTBL(pin)) |
	       (uint64_t)reg_read(io, IOAPIC_REG_REDTBL(pin) + 1) << 32;
	irq_restore(flags);
	return 0;
}
