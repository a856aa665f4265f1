/*
 * GSI interrupt lines over the IOAPICs: one vector per GSI, a chain of
 * handlers on it, a count, and the ISA IRQ -> GSI mapping of the MADT's
 * interrupt source overrides (ACPI 6.5, 5.2.12.5). See irq.h for the
 * level-triggered rules.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <arch/x86_64/cpu.h>
#include <arch/x86_64/ioapic.h>
#include <arch/x86_64/irq.h>
#include <acpi/acpi.h>
#include <kernel/kernel.h>

#define IRQ_KNOWN_FLAGS (IRQ_LEVEL | IRQ_ACTIVE_LOW | IRQ_SHARED | IRQ_REPORTS)
#define IRQ_MODE	(IRQ_LEVEL | IRQ_ACTIVE_LOW)

struct irq_action {
	struct irq_action *next;
	irq_handler_t fn;
	void *arg;
	bool reports; /* IRQ_REPORTS: calls irq_handled() */
};

struct irq_line {
	uint32_t gsi;
	int vector; /* 0: slot unused */
	unsigned flags;
	unsigned nr_actions, nr_reporting;
	struct irq_action *actions; /* changed only with interrupts off */
	volatile uint64_t count;
	unsigned unhandled; /* interrupts in a row no handler said were its device's */
	bool storm;	    /* masked for that, until its handlers are released */
};

static struct irq_line lines[IRQ_MAX_LINES];
static bool handled; /* irq_handled() during this dispatch */

void irq_handled(void)
{
	handled = true;
}

/*
 * A level-triggered line still asserted after its handlers fires again at
 * once, for ever, and the CPU does nothing else. Like Linux's "irq N:
 * nobody cared": where every handler reports (IRQ_REPORTS), a line that
 * takes IRQ_UNHANDLED_LIMIT interrupts in a row that none of them served
 * is masked, and said so once; releasing its last handler and requesting
 * it again unmasks it.
 */
static void line_unhandled(struct irq_line *line)
{
	if (handled) {
		line->unhandled = 0;
		return;
	}
	if (++line->unhandled < IRQ_UNHANDLED_LIMIT || line->storm)
		return;
	ioapic_mask(line->gsi);
	line->storm = true;
	kprintf("irq: GSI %u (vector 0x%x, %u handler%s): %u interrupts in a row and nobody "
		"handled one (nobody cared): line masked\n",
		line->gsi, line->vector, line->nr_actions, line->nr_actions == 1 ? "" : "s",
		line->unhandled);
}

/* The vector's handler: EOI follows in the local APIC code (apic.c). */
static void line_dispatch(void *arg)
{
	struct irq_line *line = arg;

	line->count++;
	handled = false;
	for (struct irq_action *a = line->actions; a; a = a->next)
		a->fn(a->arg);
	if ((line->flags & IRQ_LEVEL) && line->nr_actions && line->nr_reporting == line->nr_actions)
		line_unhandled(line);
}

static struct irq_line *line_find(uint32_t gsi)
{
	for (unsigned i = 0; i < IRQ_MAX_LINES; i++)
		if (lines[i].vector && lines[i].gsi == gsi)
			return &lines[i];
	return NULL;
}

const char *irq_flags_str(unsigned flags)
{
	switch (flags & IRQ_MODE) {
	case IRQ_EDGE | IRQ_ACTIVE_HIGH: return "edge, active high";
	case IRQ_EDGE | IRQ_ACTIVE_LOW: return "edge, active low";
	case IRQ_LEVEL | IRQ_ACTIVE_HIGH: return "level, active high";
	default: return "level, active low";
	}
}

static int line_route(struct irq_line *line, unsigned flags)
{
	return ioapic_route(line->gsi, line->vector,
			    flags & IRQ_LEVEL ? IRQ_TRIGGER_LEVEL : IRQ_TRIGGER_EDGE,
			    flags & IRQ_ACTIVE_LOW ? IRQ_ACTIVE_LOW : IRQ_ACTIVE_HIGH);
}

/* A line for gsi with a vector: the existing one, or a new one. Interrupts off. */
static int line_get(uint32_t gsi, struct irq_line **out)
{
	struct irq_line *line = line_find(gsi);
	int v;

	if (line) {
		*out = line;
		return 0;
	}
	for (unsigned i = 0; i < IRQ_MAX_LINES; i++) {
		if (lines[i].vector)
			continue;
		line = &lines[i];
		v = irq_alloc_vector(line_dispatch, line);
		if (v < 0)
			return v;
		line->gsi = gsi;
		line->vector = v;
		line->nr_actions = 0;
		line->actions = NULL;
		*out = line;
		return 0;
	}
	return -ENOSPC;
}

int irq_request_gsi(uint32_t gsi, unsigned flags, irq_handler_t fn, void *arg)
{
	struct irq_action *act, **pp;
	struct irq_line *line;
	uint64_t irqf;
	int rc;

	if (!fn || (flags & ~IRQ_KNOWN_FLAGS))
		return -EINVAL;
	if (!ioapic_has_gsi(gsi)) {
		kprintf("irq: GSI %u is not on any IOAPIC\n", gsi);
		return -ENODEV;
	}
	if (!lapic_ready()) {
		kprintf("irq: GSI %u: no local APIC to deliver it to\n", gsi);
		return -ENODEV;
	}
	act = malloc(sizeof(*act));
	if (!act)
		return -ENOMEM;
	act->next = NULL;
	act->fn = fn;
	act->arg = arg;
	act->reports = flags & IRQ_REPORTS;

	irqf = irq_save();
	rc = line_get(gsi, &line);
	if (rc < 0)
		goto fail;
	flags &= ~IRQ_REPORTS;
	if (line->nr_actions) {
		if (!(line->flags & flags & IRQ_SHARED) ||
		    (line->flags & IRQ_MODE) != (flags & IRQ_MODE)) {
			unsigned had = line->flags;

			irq_restore(irqf);
			free(act);
			kprintf("irq: GSI %u is in use (%s%s), cannot add a %s%s handler\n", gsi,
				irq_flags_str(had), had & IRQ_SHARED ? ", shared" : "",
				irq_flags_str(flags), flags & IRQ_SHARED ? ", shared" : "");
			return -EBUSY;
		}
		for (struct irq_action *a = line->actions; a; a = a->next) {
			if (a->fn == fn && a->arg == arg) {
				rc = -EEXIST;
				goto fail;
			}
		}
	} else {
		/* Empty (new, or all released): the pin is masked; (re)program it. */
		rc = line_route(line, flags);
		if (rc < 0)
			goto fail;
		line->flags = flags & ~IRQ_REPORTS;
		line->storm = false;
		line->unhandled = 0;
	}
	for (pp = &line->actions; *pp; pp = &(*pp)->next)
		;
	*pp = act;
	line->nr_reporting += act->reports;
	if (line->nr_actions++ == 0)
		ioapic_unmask(gsi);
	irq_restore(irqf);
	return 0;
fail:
	irq_restore(irqf);
	free(act);
	return rc;
}

int irq_release_gsi(uint32_t gsi, irq_handler_t fn, void *arg)
{
	struct irq_line *line;
	struct irq_action *act = NULL, **pp;
	uint64_t irqf = irq_save();

	line = line_find(gsi);
	for (pp = line ? &line->actions : NULL; pp && *pp; pp = &(*pp)->next) {
		if ((*pp)->fn == fn && (*pp)->arg == arg) {
			act = *pp;
			*pp = act->next;
			line->nr_reporting -= act->reports;
			if (--line->nr_actions == 0)
				ioapic_mask(gsi); /* the vector stays: see irq.h */
			break;
		}
	}
	irq_restore(irqf);
	if (!act)
		return -ENOENT;
	free(act);
	return 0;
}

uint32_t irq_isa_to_gsi(uint8_t isa_irq, unsigned *flags)
{
	uint16_t inti;
	uint32_t gsi = acpi_isa_irq_to_gsi(&acpi, isa_irq, &inti);

	inti = acpi_inti_resolve(inti, ACPI_BUS_ISA);
	if (flags)
		*flags = (ACPI_TRIGGER(inti) == ACPI_TRIGGER_LEVEL ? IRQ_LEVEL : IRQ_EDGE) |
			 (ACPI_POLARITY(inti) == ACPI_POLARITY_LOW ? IRQ_ACTIVE_LOW
								   : IRQ_ACTIVE_HIGH);
	return gsi;
}

int irq_gsi_info(unsigned index, struct irq_gsi_info *out)
{
	unsigned seen = 0;

	for (unsigned i = 0; i < IRQ_MAX_LINES; i++) {
		const struct irq_line *line = &lines[i];

		if (!line->vector || seen++ != index)
			continue;
		out->gsi = line->gsi;
		out->vector = line->vector;
		out->flags = line->flags;
		out->handlers = line->nr_actions;
		out->count = line->count;
		out->storm = line->storm;
		return 0;
	}
	return -ENOENT;
}

uint64_t irq_gsi_count(uint32_t gsi)
{
	const struct irq_line *line = line_find(gsi);

	return line ? line->count : 0;
}
