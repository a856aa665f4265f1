/*
 * Local APIC in xAPIC mode (Intel SDM Vol. 3A, 11.4): base from
 * IA32_APIC_BASE, software-enabled through the spurious-interrupt vector
 * register; interrupt vectors 0x40-0xef handed out to drivers, each
 * acknowledged with an EOI after its handler.
 */
#include <errno.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/trap.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>

#define MSR_APIC_BASE	 0x1b
#define APIC_BASE_ENABLE (1u << 11)
#define APIC_BASE_MASK	 0x000ffffffffff000ull

/* Register offsets (SDM Table 11-1) */
#define LAPIC_ID   0x20
#define LAPIC_TPR  0x80
#define LAPIC_EOI  0xb0
#define LAPIC_SVR  0xf0
#define SVR_ENABLE (1u << 8)

#define VEC_SPURIOUS 0xff
#define VEC_FIRST    0x40
#define VEC_LAST     0xef

static volatile uint32_t *lapic;

static struct {
	irq_handler_t fn;
	void *arg;
} vectors[256];

static inline uint32_t rd(unsigned reg)
{
	return lapic[reg / 4];
}

static inline void wr(unsigned reg, uint32_t v)
{
	lapic[reg / 4] = v;
}

static void spurious(struct trap_frame *f, void *arg)
{
	(void)f;
	(void)arg; /* 11.9: no EOI for the spurious vector */
}

void lapic_init(void)
{
	uint64_t base = rdmsr(MSR_APIC_BASE);

	if (!(base & APIC_BASE_ENABLE)) {
		base |= APIC_BASE_ENABLE;
		wrmsr(MSR_APIC_BASE, base);
	}
	lapic = ioremap(base & APIC_BASE_MASK, PAGE_SIZE);
	if (!lapic) {
		kprintf("apic: cannot map the local APIC at 0x%llx\n",
			(unsigned long long)(base & APIC_BASE_MASK));
		return;
	}
	wr(LAPIC_TPR, 0); /* accept every priority */
	trap_set_handler(VEC_SPURIOUS, spurious, NULL);
	wr(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	kprintf("apic: local APIC id %u at 0x%llx\n", lapic_id(),
		(unsigned long long)(base & APIC_BASE_MASK));
}

int lapic_ready(void)
{
	return lapic != NULL;
}

uint32_t lapic_id(void)
{
	return rd(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
	wr(LAPIC_EOI, 0);
}

static void irq_trampoline(struct trap_frame *f, void *arg)
{
	unsigned v = (unsigned)f->vector;

	(void)arg;
	if (vectors[v].fn)
		vectors[v].fn(vectors[v].arg);
	lapic_eoi();
}

int irq_alloc_vector(irq_handler_t fn, void *arg)
{
	uint64_t flags;

	if (!lapic)
		return -ENODEV;
	flags = irq_save();
	for (int v = VEC_FIRST; v <= VEC_LAST; v++) {
		if (vectors[v].fn)
			continue;
		vectors[v].arg = arg;
		vectors[v].fn = fn;
		trap_set_handler((unsigned)v, irq_trampoline, NULL);
		irq_restore(flags);
		return v;
	}
	irq_restore(flags);
	return -ENOSPC;
}

void irq_free_vector(int vector)
{
	if (vector < VEC_FIRST || vector > VEC_LAST)
		return;
	trap_set_handler((unsigned)vector, NULL, NULL);
	vectors[vector].fn = NULL;
}

uint64_t msi_address(void)
{
	/* 11.11.1: 0xFEE, destination APIC ID in bits 19:12, physical mode. */
	return 0xfee00000ull | ((uint64_t)(lapic_id() & 0xff) << 12);
}

uint32_t msi_data(int vector)
{
	/* 11.11.2: fixed delivery, edge trigger, the vector in bits 7:0. */
	return (uint32_t)vector & 0xff;
}
