/*
 * PCI INTx interrupts (PCI 3.0, 2.2.6 and 6.2.4: Interrupt Line and Pin),
 * kernel side: the GSI from the firmware's Interrupt Line through the
 * MADT overrides, a shared level-triggered handler on it, INTx Disable
 * (Command bit 10, 6.2.2) cleared. How and where it falls short: pci.h.
 */
#include <errno.h>
#include <stdbool.h>

#include <arch/x86_64/cpu.h>
#include <arch/x86_64/ioapic.h>
#include <arch/x86_64/irq.h>
#include <acpi/acpi.h>
#include <kernel/kernel.h>
#include <pci/pci.h>

#define PCI_INTX_MAX	     32
#define PCI_MSI_FLAGS	     2 /* MSI capability Message Control (6.8.1.3) */
#define PCI_MSI_FLAGS_ENABLE 0x0001
#define ISA_IRQS	     16
/* Status bit 3 (PCI 3.0, 6.2.3): the function asserts INTx (unless INTx Disable is set). */
#define PCI_STATUS_INTERRUPT 0x0008

/* Requests, to know when a function has none left. */
struct intx_req {
	struct pci_dev *dev;
	irq_handler_t fn;
	void *arg;
	uint32_t gsi;
};
static struct intx_req reqs[PCI_INTX_MAX];

/*
 * Every INTx handler runs through here: the function asserted INTx before
 * the driver's handler and no longer after it is an interrupt served
 * (irq_handled); a line with none served for long is masked by irq.c.
 */
static void pci_intx_dispatch(void *arg)
{
	struct intx_req *r = arg;
	bool asserted = pci_read16(r->dev, PCI_STATUS) & PCI_STATUS_INTERRUPT;

	r->fn(r->arg);
	if (asserted && !(pci_read16(r->dev, PCI_STATUS) & PCI_STATUS_INTERRUPT))
		irq_handled();
}

#define DEV_FMT	    "pci %02x:%02x.%u: "
#define DEV_ARGS(d) (d)->bus, (d)->dev, (d)->fn

int pci_intx_gsi(const struct pci_dev *d, uint32_t *gsi, unsigned *flags)
{
	uint8_t pin = pci_read8(d, PCI_INTERRUPT_PIN);
	uint8_t line = pci_read8(d, PCI_INTERRUPT_LINE);
	uint16_t inti;
	uint32_t g;

	if (pin == 0 || pin > 4) {
		kprintf(DEV_FMT "no INTx pin (Interrupt Pin register 0x%02x)\n", DEV_ARGS(d), pin);
		return -ENODEV;
	}
	if (line == 0 || line >= ISA_IRQS) {
		kprintf(DEV_FMT
			"INTx pin %c: Interrupt Line is 0x%02x, not an ISA IRQ the firmware "
			"routed; without AML (_PRT) its GSI is unknown\n",
			DEV_ARGS(d), 'A' + pin - 1, line);
		return -ENODEV;
	}
	if (!acpi.have_madt || ioapic_count() == 0) {
		kprintf(DEV_FMT "INTx pin %c: no IOAPIC to deliver IRQ %u\n", DEV_ARGS(d),
			'A' + pin - 1, line);
		return -ENODEV;
	}
	g = acpi_isa_irq_to_gsi(&acpi, line, &inti);
	inti = acpi_inti_resolve(inti, ACPI_BUS_PCI);
	if (!ioapic_has_gsi(g)) {
		kprintf(DEV_FMT "INTx pin %c: IRQ %u -> GSI %u, which no IOAPIC has\n", DEV_ARGS(d),
			'A' + pin - 1, line, g);
		return -ENODEV;
	}
	/* INTx is level-signalled (PCI 3.0, 2.2.6), whatever an override claims. */
	if (ACPI_TRIGGER(inti) != ACPI_TRIGGER_LEVEL)
		kprintf(DEV_FMT "INTx pin %c: the MADT makes IRQ %u edge-triggered; using level\n",
			DEV_ARGS(d), 'A' + pin - 1, line);
	*gsi = g;
	if (flags)
		*flags = IRQ_LEVEL | (ACPI_POLARITY(inti) == ACPI_POLARITY_LOW ? IRQ_ACTIVE_LOW
									       : IRQ_ACTIVE_HIGH);
	return 0;
}

/* MSI or MSI-X enable set: the function then never signals INTx (6.8). */
static const char *msi_enabled(const struct pci_dev *d)
{
	uint8_t cap = pci_find_cap(d, PCI_CAP_ID_MSIX, 0);

	if (cap && (pci_read16(d, (uint16_t)(cap + PCI_MSIX_FLAGS)) & PCI_MSIX_FLAGS_ENABLE))
		return "MSI-X";
	cap = pci_find_cap(d, PCI_CAP_ID_MSI, 0);
	if (cap && (pci_read16(d, (uint16_t)(cap + PCI_MSI_FLAGS)) & PCI_MSI_FLAGS_ENABLE))
		return "MSI";
	return NULL;
}

int pci_intx_request(struct pci_dev *d, void (*fn)(void *arg), void *arg)
{
	const char *msi = msi_enabled(d);
	unsigned flags, slot = PCI_INTX_MAX;
	uint32_t gsi;
	int rc;

	if (msi) {
		kprintf(DEV_FMT "%s is enabled, so INTx is not signalled\n", DEV_ARGS(d), msi);
		return -EBUSY;
	}
	rc = pci_intx_gsi(d, &gsi, &flags);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < PCI_INTX_MAX; i++) {
		if (reqs[i].dev == d && reqs[i].fn == fn && reqs[i].arg == arg)
			return -EEXIST;
		if (!reqs[i].dev && slot == PCI_INTX_MAX)
			slot = i;
	}
	if (slot == PCI_INTX_MAX) {
		kprintf(DEV_FMT "INTx: more than %u requests\n", DEV_ARGS(d), PCI_INTX_MAX);
		return -ENOSPC;
	}
	reqs[slot] = (struct intx_req){.dev = d, .fn = fn, .arg = arg, .gsi = gsi};
	rc = irq_request_gsi(gsi, flags | IRQ_SHARED | IRQ_REPORTS, pci_intx_dispatch, &reqs[slot]);
	if (rc < 0) {
		kprintf(DEV_FMT "INTx on GSI %u: cannot register the handler (%d)\n", DEV_ARGS(d),
			gsi, rc);
		reqs[slot].dev = NULL;
		return rc;
	}
	/* Handler first, then the device may assert. */
	pci_write16(d, PCI_COMMAND,
		    pci_read16(d, PCI_COMMAND) & (uint16_t)~PCI_COMMAND_INTX_DISABLE);
	kprintf(DEV_FMT "INTx pin %c -> GSI %u (%s)\n", DEV_ARGS(d),
		'A' + pci_read8(d, PCI_INTERRUPT_PIN) - 1, gsi, irq_flags_str(flags));
	return 0;
}

int pci_intx_release(struct pci_dev *d, void (*fn)(void *arg), void *arg)
{
	bool others = false;
	int found = -1;

	for (unsigned i = 0; i < PCI_INTX_MAX; i++) {
		if (reqs[i].dev != d)
			continue;
		if (found < 0 && reqs[i].fn == fn && reqs[i].arg == arg)
			found = (int)i;
		else
			others = true;
	}
	if (found < 0)
		return -ENOENT;
	/* The device first falls silent, then the handler goes. */
	if (!others)
		pci_write16(d, PCI_COMMAND, pci_read16(d, PCI_COMMAND) | PCI_COMMAND_INTX_DISABLE);
	irq_release_gsi(reqs[found].gsi, pci_intx_dispatch, &reqs[found]);
	reqs[found].dev = NULL;
	return 0;
}
