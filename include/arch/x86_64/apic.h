/*
 * Local APIC (Intel SDM Vol. 3A, chapter 11; xAPIC MMIO mode) and the
 * kernel's interrupt vectors: a driver asks for a vector with a handler,
 * the handler runs with interrupts off on the IRQ stack, and the EOI is
 * sent after it returns.
 */
#ifndef ARCH_X86_64_APIC_H
#define ARCH_X86_64_APIC_H

#include <stdint.h>

typedef void (*irq_handler_t)(void *arg);

/* lapic_init - map and enable the local APIC (spurious vector 0xff). */
void lapic_init(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
/* lapic_ready - lapic_init succeeded. */
int lapic_ready(void);

/*
 * irq_alloc_vector - a free vector (0x40-0xef) routed to fn(arg).
 * Returns: the vector, or -ENOSPC / -ENODEV (no local APIC).
 */
int irq_alloc_vector(irq_handler_t fn, void *arg);
/*
 * irq_free_vector - give the vector back. An interrupt already on its way
 * (an MSI the device sent before it was told to stop) may still arrive: it
 * is acknowledged (EOI) and counted, never left in service, where it would
 * block every interrupt of its priority class and below for ever.
 */
void irq_free_vector(int vector);
/* Interrupts that arrived on a vector after it was freed, since boot. */
unsigned long irq_late_count(void);

/*
 * lapic_in_service - the local APIC has vector v in service (ISR bit set:
 * delivered, no EOI yet). lapic_ack_unclaimed - EOI for a vector nobody
 * claimed if, and only if, the local APIC delivered it (the spurious
 * vector and exceptions get none). Returns: it sent an EOI.
 */
int lapic_in_service(unsigned v);
int lapic_ack_unclaimed(unsigned v);
/* lapic_self_ipi - send fixed interrupt vector v to this CPU (SDM 11.6.1; tests). */
void lapic_self_ipi(unsigned v);

/*
 * cpu_idle_ns - halt until an interrupt or ns nanoseconds have passed
 * (the local APIC timer, one-shot, is the wake-up). Call with interrupts
 * off, after checking there is no work: an interrupt that arrived since is
 * taken at once. Without a usable timer it spins for ns instead.
 */
void cpu_idle_ns(uint64_t ns);

/* x86 MSI message for a vector on this CPU (SDM 11.11.1, 11.11.2). */
uint64_t msi_address(void);
uint32_t msi_data(int vector);

#endif
