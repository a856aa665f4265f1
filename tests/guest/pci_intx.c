/*
 * PCI INTx through the IOAPIC: the GSI each function's pin is routed to,
 * and level-triggered delivery end to end with QEMU's "edu" teaching
 * device (docs/specs/edu.rst in QEMU: 1234:11e8, BAR0 registers; writing
 * the raise register asserts INTx until the acknowledge register clears
 * every status bit), which needs no virtio transport.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <arch/x86_64/cpu.h>
#include <arch/x86_64/ioapic.h>
#include <arch/x86_64/irq.h>
#include <kernel/clock.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <kernel/registry.h>
#include <pci/pci.h>

#define VENDOR_VIRTIO 0x1af4

static volatile unsigned quiet_calls;

static void quiet_handler(void *arg)
{
	(void)arg;
	quiet_calls++;
}

/*
 * An Interrupt Line the firmware did not set (0xff, "unknown"; 0) is
 * refused, not guessed: tried on the first function with a pin, its
 * register restored after (it is a scratch register: PCI 3.0, 6.2.4).
 */
static int no_routing_refused(void)
{
	static const uint8_t unset[] = {0xff, 0};

	for_each_pci_dev(d)
	{
		uint8_t line = pci_read8(d, PCI_INTERRUPT_LINE);
		int bad = 0;

		if (!d->irq_pin)
			continue;
		for (unsigned i = 0; i < sizeof(unset); i++) {
			uint32_t gsi;
			int rc;

			pci_write8(d, PCI_INTERRUPT_LINE, unset[i]);
			rc = pci_intx_gsi(d, &gsi, NULL);
			printf("pci-intx: Interrupt Line set to 0x%02x: %d\n", unset[i], rc);
			bad += rc != -ENODEV;
		}
		pci_write8(d, PCI_INTERRUPT_LINE, line);
		return bad;
	}
	return 0;
}

/*
 * Every function with an interrupt pin: its GSI. Virtio functions that do
 * not use MSI-X (vectors=0) also get a handler for 20 ms, which must not
 * see an interrupt storm: nothing is pending on an idle device.
 */
KTEST(pci_intx, "the GSI of every PCI function's INTx pin; request and release on virtio ones")
{
	unsigned pins = 0, routed = 0, requested = 0;
	int bad = 0;

	for_each_pci_dev(d)
	{
		uint32_t gsi;
		unsigned flags;
		uint64_t t0;
		int rc;

		if (!d->irq_pin)
			continue;
		pins++;
		rc = pci_intx_gsi(d, &gsi, &flags);
		printf("pci-intx: %02x:%02x.%u %04x:%04x pin %c, Interrupt Line %u: ", d->bus,
		       d->dev, d->fn, d->vendor, d->device, 'A' + d->irq_pin - 1, d->irq_line);
		if (rc < 0) {
			printf("no GSI (%d)\n", rc);
			continue;
		}
		printf("GSI %u (%s)\n", gsi, irq_flags_str(flags));
		routed++;
		if (!(flags & IRQ_LEVEL) || !ioapic_has_gsi(gsi))
			bad++;
		if (d->vendor != VENDOR_VIRTIO)
			continue;
		rc = pci_intx_request(d, quiet_handler, d);
		if (rc == -EBUSY)
			continue; /* MSI-X on: logged by pci_intx_request */
		if (rc < 0) {
			bad++;
			continue;
		}
		requested++;
		quiet_calls = 0;
		t0 = clock_ns();
		irq_enable();
		while (clock_ns() - t0 < 20000000ull)
			cpu_relax();
		irq_disable();
		if (quiet_calls > 10) {
			printf("pci-intx: %u interrupts from an idle device\n", quiet_calls);
			bad++;
		}
		/*
		 * The line is shared with the function's driver when it has one
		 * (the virtio transport uses INTx without MSI-X): INTx stays
		 * enabled for it. Otherwise release turns INTx off again.
		 */
		if (pci_intx_release(d, quiet_handler, d) != 0 ||
		    !(pci_read16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) != !!d->driver)
			bad++;
	}
	printf("pci-intx: %u functions with a pin, %u routed, %u requested and released\n", pins,
	       routed, requested);
	bad += no_routing_refused();
	return bad;
}

/* The edu device's registers (QEMU docs/specs/edu.rst). */
#define EDU_VENDOR     0x1234
#define EDU_DEVICE     0x11e8
#define EDU_IDENT      0x00 /* 0xRRrr00ed */
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE  0x60
#define EDU_IRQ_ACK    0x64
#define EDU_MAX	       4

struct edu {
	struct pci_dev *pdev;
	volatile uint32_t *regs;
	uint32_t gsi;
	volatile unsigned calls;	  /* handler invocations */
	volatile unsigned handled;	  /* of which its status was set */
	volatile unsigned ack_after;	  /* leave the line asserted for this many calls */
	volatile uint64_t rte_in_handler; /* the pin's RTE seen from the first call */
};

static uint32_t edu_rd(struct edu *e, unsigned off)
{
	return e->regs[off / 4];
}

static void edu_wr(struct edu *e, unsigned off, uint32_t v)
{
	e->regs[off / 4] = v;
}

/*
 * A well-behaved shared handler: not its interrupt, return; else count and
 * acknowledge, unless told to leave the line asserted for a few calls.
 */
static void edu_handler(void *arg)
{
	struct edu *e = arg;
	uint32_t st;

	e->calls++;
	st = edu_rd(e, EDU_IRQ_STATUS);
	if (!st)
		return;
	if (e->handled++ == 0)
		ioapic_read_rte(e->gsi, (uint64_t *)&e->rte_in_handler);
	if (e->handled >= e->ack_after)
		edu_wr(e, EDU_IRQ_ACK, st);
}

/* Interrupts on until cond() or timeout_ns. Returns: cond() at the end. */
static bool wait_for(bool (*cond)(struct edu *), struct edu *e, uint64_t timeout_ns)
{
	uint64_t t0 = clock_ns();
	bool ok;

	irq_enable();
	while (!cond(e) && clock_ns() - t0 < timeout_ns)
		cpu_relax();
	irq_disable();
	ok = cond(e);
	return ok;
}

static bool acked(struct edu *e)
{
	return edu_rd(e, EDU_IRQ_STATUS) == 0;
}

static bool never(struct edu *e)
{
	(void)e;
	return false;
}

static int edu_find(struct edu *edus)
{
	int n = 0;

	for_each_pci_dev(d)
	{
		struct edu *e = &edus[n];

		if (d->vendor != EDU_VENDOR || d->device != EDU_DEVICE || n == EDU_MAX)
			continue;
		if (d->bar[0].type != PCI_BAR_MEM32 || !d->bar[0].addr)
			continue;
		pci_enable(d);
		e->pdev = d;
		e->regs = ioremap(d->bar[0].addr, PAGE_SIZE);
		if (!e->regs || (edu_rd(e, EDU_IDENT) & 0xffff) != 0x00ed) {
			printf("intx-level: %02x:%02x.%u: not an edu device\n", d->bus, d->dev,
			       d->fn);
			continue;
		}
		if (pci_intx_gsi(d, &e->gsi, NULL) < 0)
			continue;
		n++;
	}
	return n;
}

#define REFIRES 5u

/*
 * Level semantics on edu[0]: asserted and left so for REFIRES handler
 * calls, each after the previous EOI (Remote IRR set in the handler,
 * cleared by the EOI broadcast, the still-high input delivered again);
 * acknowledged on the last, after which the line stays quiet.
 */
static int level_refire(struct edu *e)
{
	uint64_t before = irq_gsi_count(e->gsi), rte = 0;

	e->calls = e->handled = 0;
	e->ack_after = REFIRES;
	edu_wr(e, EDU_IRQ_RAISE, 1);
	wait_for(acked, e, 1000000000ull);
	wait_for(never, e, 20000000ull); /* anything more would come now */
	ioapic_read_rte(e->gsi, &rte);
	printf("intx-level: raised once, acknowledged on call %u: %u calls, %llu interrupts on "
	       "GSI %u; RTE in the handler 0x%016llx, after 0x%016llx\n",
	       REFIRES, e->calls, (unsigned long long)(irq_gsi_count(e->gsi) - before), e->gsi,
	       (unsigned long long)e->rte_in_handler, (unsigned long long)rte);
	if (e->handled != REFIRES || e->calls != REFIRES) {
		printf("intx-level: expected %u calls, each with the status set\n", REFIRES);
		return 1;
	}
	if (!(e->rte_in_handler & IOAPIC_RTE_LEVEL) ||
	    !(e->rte_in_handler & IOAPIC_RTE_REMOTE_IRR)) {
		printf("intx-level: the pin is not level-triggered with Remote IRR set in the "
		       "handler\n");
		return 1;
	}
	if (rte & (IOAPIC_RTE_REMOTE_IRR | IOAPIC_RTE_MASKED)) {
		printf("intx-level: Remote IRR or mask still set after the EOI\n");
		return 1;
	}
	return 0;
}

/* One raise on each function reaches its handler once, through its GSI. */
static int level_each(struct edu *edus, int n)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		struct edu *e = &edus[i];

		e->calls = e->handled = 0;
		e->ack_after = 1;
		edu_wr(e, EDU_IRQ_RAISE, 1);
		wait_for(acked, e, 1000000000ull);
		wait_for(never, e, 10000000ull);
		printf("intx-level: %02x:%02x.%u on GSI %u: raised once, handled %u\n",
		       e->pdev->bus, e->pdev->dev, e->pdev->fn, e->gsi, e->handled);
		bad += e->handled != 1;
	}
	return bad;
}

/* A masked pin holds the level back; unmasking delivers it. */
static int level_masked(struct edu *e)
{
	unsigned calls;

	e->calls = e->handled = 0;
	e->ack_after = 1;
	ioapic_mask(e->gsi);
	edu_wr(e, EDU_IRQ_RAISE, 1);
	wait_for(never, e, 20000000ull);
	calls = e->calls;
	ioapic_unmask(e->gsi);
	wait_for(acked, e, 1000000000ull);
	printf("intx-level: masked: %u calls in 20 ms; unmasked: %u call\n", calls, e->calls);
	return calls != 0 || e->handled != 1;
}

/* Two functions on one GSI: each handler sees every interrupt, handles its own. */
static int level_shared(struct edu *a, struct edu *b)
{
	int bad = 0;

	a->calls = a->handled = b->calls = b->handled = 0;
	a->ack_after = b->ack_after = 1;
	edu_wr(b, EDU_IRQ_RAISE, 1);
	wait_for(acked, b, 1000000000ull);
	printf("intx-level: shared GSI %u, second function raised: first handler %u calls "
	       "%u handled, second %u calls %u handled\n",
	       a->gsi, a->calls, a->handled, b->calls, b->handled);
	bad += a->handled != 0 || b->handled != 1 || a->calls < 1;

	a->calls = a->handled = b->calls = b->handled = 0;
	edu_wr(a, EDU_IRQ_RAISE, 1);
	edu_wr(b, EDU_IRQ_RAISE, 1);
	wait_for(acked, a, 1000000000ull);
	wait_for(acked, b, 1000000000ull);
	wait_for(never, a, 20000000ull);
	printf("intx-level: both raised: first %u handled, second %u handled\n", a->handled,
	       b->handled);
	bad += a->handled != 1 || b->handled != 1;
	return bad;
}

static bool storm_masked(struct edu *e)
{
	struct irq_gsi_info info;

	for (unsigned i = 0; irq_gsi_info(i, &info) == 0; i++)
		if (info.gsi == e->gsi)
			return info.storm;
	return false;
}

/*
 * A line held asserted that no handler quiets (edu raised, never
 * acknowledged): the kernel masks it after IRQ_UNHANDLED_LIMIT interrupts
 * in a row that nobody served; without that the test waits its 5 s and fails.
 */
KTEST(intx_storm, "a level INTx line nobody acknowledges is masked, not re-entered for ever")
{
	static struct edu edus[EDU_MAX];
	struct edu *e = &edus[0];
	uint64_t before;
	unsigned calls;
	int bad = 0;

	if (edu_find(edus) == 0) {
		printf("intx-storm: no edu device (QEMU -device edu)\n");
		return 1;
	}
	if (pci_intx_request(e->pdev, edu_handler, e) < 0)
		return 1;
	before = irq_gsi_count(e->gsi);
	e->calls = e->handled = 0;
	e->ack_after = ~0u; /* never */
	edu_wr(e, EDU_IRQ_RAISE, 1);
	wait_for(storm_masked, e, 5000000000ull);
	calls = e->calls;
	wait_for(never, e, 20000000ull);
	printf("intx-storm: GSI %u %s after %llu interrupts; %u calls in the 20 ms after\n", e->gsi,
	       storm_masked(e) ? "masked" : "NOT masked",
	       (unsigned long long)(irq_gsi_count(e->gsi) - before), e->calls - calls);
	bad += !storm_masked(e) || e->calls != calls || calls < IRQ_UNHANDLED_LIMIT;
	/* Acknowledged, released, requested again: the line works as before. */
	edu_wr(e, EDU_IRQ_ACK, edu_rd(e, EDU_IRQ_STATUS));
	bad += pci_intx_release(e->pdev, edu_handler, e) != 0;
	bad += pci_intx_request(e->pdev, edu_handler, e) != 0;
	e->calls = e->handled = 0;
	e->ack_after = 1;
	edu_wr(e, EDU_IRQ_RAISE, 1);
	wait_for(acked, e, 1000000000ull);
	printf("intx-storm: requested again: %s, raise handled %u\n",
	       storm_masked(e) ? "still masked" : "unmasked", e->handled);
	bad += storm_masked(e) || e->handled != 1;
	bad += pci_intx_release(e->pdev, edu_handler, e) != 0;
	return bad;
}

KTEST(intx_level, "level-triggered, shared PCI INTx end to end with QEMU's edu device")
{
	static struct edu edus[EDU_MAX];
	struct edu *share_a = NULL, *share_b = NULL;
	int n = edu_find(edus), bad = 0, requested = 0;

	if (n == 0) {
		printf("intx-level: no edu device (QEMU -device edu)\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (pci_intx_request(edus[i].pdev, edu_handler, &edus[i]) < 0) {
			bad++;
			break;
		}
		requested++;
		for (int j = 0; j < i && !share_a; j++)
			if (edus[j].gsi == edus[i].gsi) {
				share_a = &edus[j];
				share_b = &edus[i];
			}
	}
	if (!bad) {
		bad += level_each(edus, n);
		bad += level_refire(&edus[0]);
		bad += level_masked(&edus[0]);
		if (share_a)
			bad += level_shared(share_a, share_b);
		else
			printf("intx-level: no two edu devices share a GSI; sharing not tested\n");
	}
	for (int i = 0; i < requested; i++)
		if (pci_intx_release(edus[i].pdev, edu_handler, &edus[i]) != 0)
			bad++;

	/* Released: INTx Disable set again and the pin masked: a raise reaches no one. */
	edus[0].calls = 0;
	edu_wr(&edus[0], EDU_IRQ_RAISE, 1);
	wait_for(never, &edus[0], 20000000ull);
	printf("intx-level: after release: %u calls, INTx Disable %s\n", edus[0].calls,
	       pci_read16(edus[0].pdev, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE ? "set" : "clear");
	bad += edus[0].calls != 0 ||
	       !(pci_read16(edus[0].pdev, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	edu_wr(&edus[0], EDU_IRQ_ACK, edu_rd(&edus[0], EDU_IRQ_STATUS));
	return bad;
}
