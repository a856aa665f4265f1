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
#include <kernel/clock.h>
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
/* In-service register: 8 x 32 bits, 16 bytes apart (SDM 11.8.4). */
#define LAPIC_ISR 0x100
/* Interrupt command register (SDM 11.6.1): fixed delivery, shorthand "self". */
#define LAPIC_ICR_LO	 0x300
#define LAPIC_ICR_HI	 0x310
#define ICR_SELF	 (1u << 18)
#define ICR_SEND_PENDING (1u << 12)
/* Timer (SDM 11.5.4): LVT entry, initial and current count, divide configuration. */
#define LAPIC_LVT_TIMER	   0x320
#define LAPIC_TIMER_INIT   0x380
#define LAPIC_TIMER_CUR	   0x390
#define LAPIC_TIMER_DIV	   0x3e0
#define LVT_MASKED	   (1u << 16)
#define TIMER_DIV_16	   0x3 /* divide configuration 0011b: by 16 */
#define TIMER_CALIBRATE_NS 1000000ull

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

static unsigned long late_irqs;

unsigned long irq_late_count(void)
{
	return late_irqs;
}

int lapic_in_service(unsigned v)
{
	if (!lapic || v > 0xff)
		return 0;
	return (rd(LAPIC_ISR + (v / 32) * 0x10) >> (v % 32)) & 1;
}

int lapic_ack_unclaimed(unsigned v)
{
	if (v == VEC_SPURIOUS || !lapic_in_service(v))
		return 0;
	lapic_eoi();
	return 1;
}

void lapic_self_ipi(unsigned v)
{
	uint64_t end;

	if (!lapic)
		return;
	wr(LAPIC_ICR_HI, 0);
	wr(LAPIC_ICR_LO, ICR_SELF | (v & 0xff));
	/* Delivery status (11.6.1): a self IPI leaves at once; never wait for ever. */
	end = clock_ns() + 1000000ull;
	while ((rd(LAPIC_ICR_LO) & ICR_SEND_PENDING) && clock_ns() < end)
		cpu_relax();
}

/*
 * Every vector ever handed out keeps this handler after it is freed, so an
 * interrupt that arrives late (an MSI in flight when the driver gave the
 * vector up) is acknowledged like any other.
 */
static void irq_trampoline(struct trap_frame *f, void *arg)
{
	unsigned v = (unsigned)f->vector;

	(void)arg;
	if (vectors[v].fn) {
		vectors[v].fn(vectors[v].arg);
	} else if (late_irqs++ < 8) {
		kprintf("irq: vector 0x%x: an interrupt after the vector was freed "
			"(a late MSI): acknowledged\n",
			v);
	}
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
	/* The trap handler stays: irq_trampoline acknowledges a late interrupt. */
	vectors[vector].fn = NULL;
	vectors[vector].arg = NULL;
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

/*
 * The local APIC timer, one-shot, as a wake-up for cpu_idle_ns(): its
 * rate (bus clock / 16) is measured against the TSC clock once.
 */
static uint64_t timer_hz;
static int timer_vector = -1;

static void timer_tick(void *arg)
{
	(void)arg; /* the wake-up is the whole point; the trampoline sends the EOI */
}

static int lapic_timer_init(void)
{
	uint64_t t0, t1;
	uint32_t left;

	if (timer_hz)
		return 0;
	if (!lapic)
		return -ENODEV;
	timer_vector = irq_alloc_vector(timer_tick, NULL);
	if (timer_vector < 0)
		return timer_vector;
	wr(LAPIC_TIMER_DIV, TIMER_DIV_16);
	wr(LAPIC_LVT_TIMER, LVT_MASKED | (uint32_t)timer_vector);
	wr(LAPIC_TIMER_INIT, 0xffffffffu);
	t0 = clock_ns();
	while ((t1 = clock_ns()) - t0 < TIMER_CALIBRATE_NS)
		cpu_relax();
	left = rd(LAPIC_TIMER_CUR);
	wr(LAPIC_TIMER_INIT, 0);
	timer_hz = (uint64_t)(0xffffffffu - left) * 1000000000ull / (t1 - t0);
	if (timer_hz == 0) {
		kprintf("apic: the local APIC timer does not count; idle waits spin\n");
		return -ENODEV;
	}
	return 0;
}

void cpu_idle_ns(uint64_t ns)
{
	uint64_t count;

	if (lapic_timer_init() != 0) {
		uint64_t end = clock_ns() + ns;

		while (clock_ns() < end)
			cpu_relax();
		return;
	}
	count = ns * timer_hz / 1000000000ull;
	if (count == 0)
		count = 1;
	if (count > 0xffffffffull)
		count = 0xffffffffull;
	wr(LAPIC_LVT_TIMER, (uint32_t)timer_vector); /* one-shot, unmasked */
	wr(LAPIC_TIMER_INIT, (uint32_t)count);
	/* An interrupt pending since the caller's check is taken at once by sti; hlt. */
	__asm__ volatile("sti; hlt; cli" ::: "memory");
	wr(LAPIC_TIMER_INIT, 0);
	wr(LAPIC_LVT_TIMER, LVT_MASKED | (uint32_t)timer_vector);
}
