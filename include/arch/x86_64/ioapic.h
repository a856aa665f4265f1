/*
 * I/O APICs (Intel 82093AA data sheet, section 3; ICH9 data sheet 13.5):
 * every IOAPIC the ACPI MADT lists, each with the global system interrupts
 * (GSIs) gsi_base .. gsi_base + pins - 1. ioapic_init masks every pin; a
 * GSI is then routed to a vector on this CPU (fixed delivery, physical
 * destination) and unmasked. Drivers use include/arch/x86_64/irq.h, which
 * owns the vectors; this is the register level.
 */
#ifndef ARCH_X86_64_IOAPIC_H
#define ARCH_X86_64_IOAPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The two memory-mapped registers (82093AA 3.1): IOREGSEL selects an
 * indirect register, IOWIN reads or writes it, 32 bits at a time. The EOI
 * register exists from version 0x20 on (ICH9 13.5, EOIR at +0x40); unused here:
 * the local APIC's EOI is broadcast to the IOAPICs.
 */
struct ioapic_mmio {
	uint32_t regsel;
	uint32_t rsvd0[3];
	uint32_t win;
	uint32_t rsvd1[11];
	uint32_t eoi;
};
_Static_assert(offsetof(struct ioapic_mmio, win) == 0x10, "82093AA 3.1: IOWIN at +0x10");
_Static_assert(offsetof(struct ioapic_mmio, eoi) == 0x40, "ICH9 13.5: EOIR at +0x40");

/* Indirect registers (82093AA 3.2). */
#define IOAPIC_REG_ID		0x00
#define IOAPIC_REG_VER		0x01
#define IOAPIC_REG_REDTBL(pin)	(0x10 + 2 * (pin)) /* low dword; high at +1 */
#define IOAPIC_VER_VERSION(v)	((v)&0xff)
#define IOAPIC_VER_MAX_ENTRY(v) (((v) >> 16) & 0xff) /* pins - 1 (3.2.2) */

/* Redirection table entry (82093AA 3.2.4). */
#define IOAPIC_RTE_VECTOR	0xffull
#define IOAPIC_RTE_DELIV_FIXED	(0ull << 8)
#define IOAPIC_RTE_DEST_LOGICAL (1ull << 11) /* 0: physical */
#define IOAPIC_RTE_DELIVS	(1ull << 12) /* RO: send pending */
#define IOAPIC_RTE_ACTIVE_LOW	(1ull << 13)
#define IOAPIC_RTE_REMOTE_IRR	(1ull << 14) /* RO: level accepted, no EOI yet */
#define IOAPIC_RTE_LEVEL	(1ull << 15)
#define IOAPIC_RTE_MASKED	(1ull << 16)
#define IOAPIC_RTE_DEST_SHIFT	56

enum irq_trigger { IRQ_TRIGGER_EDGE, IRQ_TRIGGER_LEVEL };
enum irq_polarity { IRQ_ACTIVE_HIGH, IRQ_ACTIVE_LOW };

/*
 * ioapic_init - map every IOAPIC of the MADT, read its version and pin
 * count, mask every pin, log one line each. An IOAPIC that does not answer
 * or whose GSIs overlap another's is skipped with a message.
 */
void ioapic_init(void);

/* ioapic_count - IOAPICs in use. */
unsigned ioapic_count(void);

/* ioapic_has_gsi - some IOAPIC in use has a pin for gsi. */
bool ioapic_has_gsi(uint32_t gsi);

/*
 * ioapic_route - point the pin of gsi at vector on this CPU's local APIC
 * (fixed delivery, physical destination) with the given trigger and
 * polarity. The pin is left masked: ioapic_unmask() enables it.
 * Returns: 0, -ENODEV (no IOAPIC has gsi, or no local APIC), -EINVAL
 * (vector outside 0x10-0xfe).
 */
int ioapic_route(uint32_t gsi, int vector, enum irq_trigger trigger, enum irq_polarity polarity);

/* ioapic_mask / ioapic_unmask - set or clear the mask bit. Returns: 0, -ENODEV. */
int ioapic_mask(uint32_t gsi);
int ioapic_unmask(uint32_t gsi);

/* ioapic_read_rte - the redirection entry of gsi. Returns: 0, -ENODEV. */
int ioapic_read_rte(uint32_t gsi, uint64_t *rte);

#endif
