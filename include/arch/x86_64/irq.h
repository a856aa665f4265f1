/*
 * Interrupt lines by global system interrupt (GSI), through the IOAPICs.
 *
 * Each GSI in use owns one vector, taken from irq_alloc_vector() the first
 * time it is requested and kept for as long as the kernel runs (so an
 * interrupt still in flight after the last release finds a handler that
 * sends its EOI). Several handlers can share a line when all of them ask
 * for IRQ_SHARED and the same trigger and polarity: PCI INTx lines are
 * wired-OR. On each interrupt the line's count goes up, every handler runs
 * in the order registered (with interrupts off, on the IRQ stack), and then
 * the local APIC gets its EOI. A level line whose handlers all report
 * (IRQ_REPORTS, irq_handled()) and that fires IRQ_UNHANDLED_LIMIT times in
 * a row with none of them served is masked and logged ("nobody cared")
 * until its handlers are released.
 *
 * Level-triggered lines: the IOAPIC sets the pin's Remote IRR when the
 * local APIC accepts the interrupt and sends nothing more for that pin
 * until the EOI; the local APIC broadcasts the EOI of a level-triggered
 * vector to the IOAPICs (Intel SDM Vol. 3A 11.8.5; 82093AA 3.2.4, Remote
 * IRR), which clears Remote IRR. So the pin needs no masking while its
 * handlers run, and a line still asserted after them (a device not yet
 * quiet, or one nobody handles) fires again at once: a handler must make
 * its device deassert before returning.
 *
 *	static void my_irq(void *arg) { ...read and acknowledge the device... }
 *	rc = irq_request_gsi(gsi, IRQ_LEVEL | IRQ_ACTIVE_LOW | IRQ_SHARED, my_irq, dev);
 *	...
 *	irq_release_gsi(gsi, my_irq, dev);
 *
 * ISA IRQs (PIT 0, COM1 4, RTC 8, ...) become GSIs through irq_isa_to_gsi().
 */
#ifndef ARCH_X86_64_IRQ_H
#define ARCH_X86_64_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#include <arch/x86_64/apic.h>

/* flags of irq_request_gsi() */
#define IRQ_EDGE	0x0u
#define IRQ_LEVEL	0x1u
#define IRQ_ACTIVE_HIGH 0x0u
#define IRQ_ACTIVE_LOW	0x2u
#define IRQ_SHARED	0x4u /* other handlers may share the line */
#define IRQ_REPORTS	0x8u /* the handler calls irq_handled() for interrupts it served */

/* At most this many GSIs in use at once. */
#define IRQ_MAX_LINES 32

/* A level line whose handlers all report and leave this many interrupts in a row unserved is masked. */
#define IRQ_UNHANDLED_LIMIT 1000u

/*
 * irq_request_gsi - run fn(arg) on every interrupt of gsi. The first
 * request of a line routes its IOAPIC pin (trigger and polarity from
 * flags) to the line's vector and unmasks it; later ones join the chain.
 * Not from an interrupt handler.
 * Returns: 0; -EINVAL (fn NULL, unknown flags); -ENODEV (no IOAPIC has
 * gsi, or no local APIC); -EBUSY (gsi is in use without IRQ_SHARED on
 * both sides, or with another trigger or polarity); -EEXIST (fn, arg is
 * already on gsi); -ENOSPC (no free vector or line); -ENOMEM.
 */
int irq_request_gsi(uint32_t gsi, unsigned flags, irq_handler_t fn, void *arg);

/*
 * irq_handled - from a handler registered with IRQ_REPORTS: this interrupt
 * was its device's and the device was quieted.
 */
void irq_handled(void);

/*
 * irq_release_gsi - take fn(arg) off gsi; the last one out masks the pin.
 * Not from an interrupt handler.
 * Returns: 0, or -ENOENT if fn, arg was not on gsi.
 */
int irq_release_gsi(uint32_t gsi, irq_handler_t fn, void *arg);

/*
 * irq_isa_to_gsi - the GSI an ISA IRQ (0-15) arrives on and how: the MADT's
 * interrupt source override for it (ACPI 6.5, 5.2.12.5) if there is one,
 * else the same number; trigger and polarity from the override, each one
 * that "conforms to the bus" being ISA's: edge, active high.
 * flags (may be NULL) receives IRQ_EDGE/IRQ_LEVEL | IRQ_ACTIVE_HIGH/LOW.
 * Returns: the GSI.
 */
uint32_t irq_isa_to_gsi(uint8_t isa_irq, unsigned *flags);

/* What a line looks like, for tests and a shell command. */
struct irq_gsi_info {
	uint32_t gsi;
	int vector;
	unsigned flags;	   /* as requested, IRQ_* */
	unsigned handlers; /* 0: released, pin masked */
	uint64_t count;	   /* interrupts taken since boot */
	bool storm;	   /* masked: it kept firing with nobody handling it */
};

/*
 * irq_gsi_info - line number index (0, 1, ... in first-request order).
 * Returns: 0, or -ENOENT past the last line.
 */
int irq_gsi_info(unsigned index, struct irq_gsi_info *out);

/* irq_gsi_count - interrupts taken on gsi since boot (0 if never requested). */
uint64_t irq_gsi_count(uint32_t gsi);

/* irq_flags_str - "level, active low" and the like, for messages. */
const char *irq_flags_str(unsigned flags);

#endif
