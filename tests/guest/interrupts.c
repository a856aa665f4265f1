/*
 * The interrupt path preserves the interrupted code's state: a handler
 * that scribbles over every SSE and general register must leave the
 * interrupted code's values intact (arch/x86_64/entry.S saves them all).
 * Real device interrupts through the IOAPIC: the 8254 PIT (ISA IRQ 0) and
 * the MC146818 RTC periodic interrupt (ISA IRQ 8), each through the GSI
 * the MADT's overrides give it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/ioapic.h>
#include <arch/x86_64/irq.h>
#include <arch/x86_64/trap.h>
#include <kernel/clock.h>
#include <lib/cmdline.h>
#include <kernel/registry.h>

#define TEST_VECTOR 0x40

static volatile unsigned handled;

static void scribble(struct trap_frame *f, void *arg)
{
	volatile double x = 1.0;

	(void)f;
	(void)arg;
	for (int i = 0; i < 10; i++)
		x = x * 3.5 + 0.25; /* SSE arithmetic in the handler */
	__asm__ volatile("pxor %%xmm0, %%xmm0\n\t"
			 "pcmpeqd %%xmm1, %%xmm1\n\t"
			 "movdqa %%xmm1, %%xmm7\n\t"
			 "movdqa %%xmm1, %%xmm8\n\t"
			 "movdqa %%xmm0, %%xmm15\n\t"
			 "movq $-1, %%rax\n\t"
			 "movq $-1, %%rcx\n\t"
			 "movq $-1, %%rdx\n\t"
			 "movq $-1, %%rsi\n\t"
			 "movq $-1, %%rdi\n\t"
			 "movq $-1, %%r8\n\t"
			 "movq $-1, %%r9\n\t"
			 "movq $-1, %%r10\n\t"
			 "movq $-1, %%r11\n\t" ::
				 : "xmm0", "xmm1", "xmm7", "xmm8", "xmm15", "rax", "rcx", "rdx",
				   "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
	handled++;
}

KTEST(irq_state, "an interrupt handler cannot clobber SSE or general registers")
{
	uint64_t xin[16][2], xout[16][2], gin[9], gout[9];
	int bad = 0;

	for (int i = 0; i < 16; i++) {
		xin[i][0] = 0x1111111111111111ull * (uint64_t)(i + 1);
		xin[i][1] = ~xin[i][0];
	}
	for (int i = 0; i < 9; i++)
		gin[i] = 0x0101010101010101ull * (uint64_t)(i + 3);
	trap_set_handler(TEST_VECTOR, scribble, NULL);

	/* Load registers, take the interrupt, store them, all in one block. */
	__asm__ volatile("movdqu 0x00(%0), %%xmm0\n\t"
			 "movdqu 0x10(%0), %%xmm1\n\t"
			 "movdqu 0x20(%0), %%xmm2\n\t"
			 "movdqu 0x30(%0), %%xmm3\n\t"
			 "movdqu 0x40(%0), %%xmm4\n\t"
			 "movdqu 0x50(%0), %%xmm5\n\t"
			 "movdqu 0x60(%0), %%xmm6\n\t"
			 "movdqu 0x70(%0), %%xmm7\n\t"
			 "movdqu 0x80(%0), %%xmm8\n\t"
			 "movdqu 0x90(%0), %%xmm9\n\t"
			 "movdqu 0xa0(%0), %%xmm10\n\t"
			 "movdqu 0xb0(%0), %%xmm11\n\t"
			 "movdqu 0xc0(%0), %%xmm12\n\t"
			 "movdqu 0xd0(%0), %%xmm13\n\t"
			 "movdqu 0xe0(%0), %%xmm14\n\t"
			 "movdqu 0xf0(%0), %%xmm15\n\t"
			 "pushq %2\n\t"
			 "pushq %3\n\t"
			 "movq 0x00(%2), %%rax\n\t"
			 "movq 0x08(%2), %%rcx\n\t"
			 "movq 0x10(%2), %%rdx\n\t"
			 "movq 0x18(%2), %%rsi\n\t"
			 "movq 0x20(%2), %%r8\n\t"
			 "movq 0x28(%2), %%r9\n\t"
			 "movq 0x30(%2), %%r10\n\t"
			 "movq 0x38(%2), %%r11\n\t"
			 "movq 0x40(%2), %%rdi\n\t"
			 "int %4\n\t"
			 "xchgq (%%rsp), %%rdi\n\t" /* rdi = gout, saved rdi on the stack */
			 "movq %%rax, 0x00(%%rdi)\n\t"
			 "movq %%rcx, 0x08(%%rdi)\n\t"
			 "movq %%rdx, 0x10(%%rdi)\n\t"
			 "movq %%rsi, 0x18(%%rdi)\n\t"
			 "movq %%r8, 0x20(%%rdi)\n\t"
			 "movq %%r9, 0x28(%%rdi)\n\t"
			 "movq %%r10, 0x30(%%rdi)\n\t"
			 "movq %%r11, 0x38(%%rdi)\n\t"
			 "popq %%rax\n\t"
			 "movq %%rax, 0x40(%%rdi)\n\t"
			 "addq $8, %%rsp\n\t"
			 "movdqu %%xmm0, 0x00(%1)\n\t"
			 "movdqu %%xmm1, 0x10(%1)\n\t"
			 "movdqu %%xmm2, 0x20(%1)\n\t"
			 "movdqu %%xmm3, 0x30(%1)\n\t"
			 "movdqu %%xmm4, 0x40(%1)\n\t"
			 "movdqu %%xmm5, 0x50(%1)\n\t"
			 "movdqu %%xmm6, 0x60(%1)\n\t"
			 "movdqu %%xmm7, 0x70(%1)\n\t"
			 "movdqu %%xmm8, 0x80(%1)\n\t"
			 "movdqu %%xmm9, 0x90(%1)\n\t"
			 "movdqu %%xmm10, 0xa0(%1)\n\t"
			 "movdqu %%xmm11, 0xb0(%1)\n\t"
			 "movdqu %%xmm12, 0xc0(%1)\n\t"
			 "movdqu %%xmm13, 0xd0(%1)\n\t"
			 "movdqu %%xmm14, 0xe0(%1)\n\t"
			 "movdqu %%xmm15, 0xf0(%1)\n\t"
			 :
			 : "r"(xin), "r"(xout), "b"(gin), "r"(gout), "i"(TEST_VECTOR)
			 : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm0",
			   "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
			   "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory");
	trap_set_handler(TEST_VECTOR, NULL, NULL);

	if (handled != 1) {
		printf("irq_state: handler ran %u times\n", handled);
		return 1;
	}
	for (int i = 0; i < 16; i++)
		if (memcmp(xin[i], xout[i], 16)) {
			printf("irq_state: xmm%d changed\n", i);
			bad++;
		}
	for (int i = 0; i < 9; i++)
		if (gin[i] != gout[i]) {
			printf("irq_state: general register %d changed\n", i);
			bad++;
		}
	if (!bad)
		printf("irq_state: 16 xmm and 9 general registers kept across the interrupt\n");
	return bad;
}

/* Counts interrupts from an ISA device on its GSI for a while. */
struct isa_irq_run {
	const char *name;
	uint8_t isa_irq;
	unsigned hz;	   /* the rate the device was set to */
	void (*ack)(void); /* in the handler; NULL if none is needed */
	volatile unsigned count;
	volatile uint64_t first_ns, last_ns;
};

static void isa_irq_handler(void *arg)
{
	struct isa_irq_run *r = arg;

	if (r->ack)
		r->ack();
	r->last_ns = clock_ns();
	if (r->count++ == 0)
		r->first_ns = r->last_ns;
}

#define ISA_WINDOW_NS 100000000ull /* count for 100 ms after the first interrupt */

/*
 * Route the device's ISA IRQ, wait up to 1 s for a first interrupt, count
 * for ISA_WINDOW_NS, release. gsi=N on the command line replaces the GSI
 * the MADT gives (to show where QEMU really delivers it).
 * Returns: 0 if the rate is plausible.
 */
static int isa_irq_count(struct isa_irq_run *r)
{
	unsigned flags, n, expect = (unsigned)(r->hz * ISA_WINDOW_NS / 1000000000ull);
	uint32_t gsi = irq_isa_to_gsi(r->isa_irq, &flags);
	const char *forced = cmdline_get(&kernel_cmdline, "gsi");
	uint64_t t0, rte = 0;
	int rc;

	if (forced) {
		printf("%s: GSI %s instead of the MADT's %u (gsi= on the command line)\n", r->name,
		       forced, gsi);
		gsi = (uint32_t)strtoul(forced, NULL, 0);
	}

	rc = irq_request_gsi(gsi, flags, isa_irq_handler, r);
	if (rc < 0) {
		printf("%s: cannot request GSI %u (%d)\n", r->name, gsi, rc);
		return 1;
	}
	ioapic_read_rte(gsi, &rte);
	t0 = clock_ns();
	irq_enable();
	while (r->count == 0 && clock_ns() - t0 < 1000000000ull)
		cpu_relax();
	while (r->count && clock_ns() - r->first_ns < ISA_WINDOW_NS)
		cpu_relax();
	irq_disable();
	n = r->count;
	irq_release_gsi(gsi, isa_irq_handler, r);
	if (n == 0) {
		printf("%s: no interrupt on GSI %u within 1 s (ISA IRQ %u, %s, RTE 0x%016llx)\n",
		       r->name, gsi, r->isa_irq, irq_flags_str(flags), (unsigned long long)rte);
		return 1;
	}
	printf("%s: ISA IRQ %u -> GSI %u (%s), vector 0x%02llx, %u interrupts in %llu ms "
	       "(%u expected at %u Hz), %llu on the GSI since boot\n",
	       r->name, r->isa_irq, gsi, irq_flags_str(flags),
	       (unsigned long long)(rte & IOAPIC_RTE_VECTOR), n,
	       (unsigned long long)(ISA_WINDOW_NS / 1000000), expect, r->hz,
	       (unsigned long long)irq_gsi_count(gsi));
	/* Loose bounds: TCG may coalesce late ticks; too many means a wrong rate. */
	if (n < expect / 4 || n > expect * 3 / 2 + 2) {
		printf("%s: rate out of range\n", r->name);
		return 1;
	}
	return 0;
}

#define PIT_HZ	1193182u
#define PIT_CH0 0x40
#define PIT_CMD 0x43

KTEST(ioapic_pit, "8254 PIT channel 0 at 1 kHz through ISA IRQ 0's GSI")
{
	static struct isa_irq_run r = {.name = "ioapic-pit", .isa_irq = 0, .hz = 1000};
	unsigned div = (PIT_HZ + 500) / 1000;
	int rc;

	outb(PIT_CMD, 0x34); /* channel 0, lo/hi byte, mode 2 (rate generator), binary */
	outb(PIT_CH0, div & 0xff);
	outb(PIT_CH0, div >> 8);
	rc = isa_irq_count(&r);
	outb(PIT_CMD, 0x34); /* back to what clock calibration left: reload 65536 */
	outb(PIT_CH0, 0);
	outb(PIT_CH0, 0);
	return rc;
}

#define CMOS_ADDR    0x70
#define CMOS_DATA    0x71
#define CMOS_NMI_OFF 0x80
#define RTC_REG_A    0x0a
#define RTC_REG_B    0x0b
#define RTC_REG_C    0x0c
#define RTC_B_PIE    0x40
#define RTC_RATE_1K  6 /* 32768 >> (6 - 1) = 1024 Hz */

static uint8_t cmos_read(uint8_t reg)
{
	outb(CMOS_ADDR, reg | CMOS_NMI_OFF);
	return inb(CMOS_DATA);
}

static void cmos_write(uint8_t reg, uint8_t v)
{
	outb(CMOS_ADDR, reg | CMOS_NMI_OFF);
	outb(CMOS_DATA, v);
}

/* Reading register C acknowledges: IRQ 8 drops and the next period can raise it. */
static void rtc_ack(void)
{
	(void)cmos_read(RTC_REG_C);
}

KTEST(ioapic_rtc, "MC146818 RTC periodic interrupt at 1024 Hz through ISA IRQ 8's GSI")
{
	static struct isa_irq_run r = {
		.name = "ioapic-rtc", .isa_irq = 8, .hz = 1024, .ack = rtc_ack};
	uint8_t a = cmos_read(RTC_REG_A), b = cmos_read(RTC_REG_B);
	int rc;

	if (a == 0xff && b == 0xff) {
		printf("ioapic-rtc: no RTC\n");
		return 1;
	}
	cmos_write(RTC_REG_A, (uint8_t)((a & 0xf0) | RTC_RATE_1K));
	rtc_ack();
	cmos_write(RTC_REG_B, b | RTC_B_PIE);
	rc = isa_irq_count(&r);
	cmos_write(RTC_REG_B, b & (uint8_t)~RTC_B_PIE);
	rtc_ack();
	cmos_write(RTC_REG_A, a);
	return rc;
}

/* cpu_idle_ns: the local APIC timer ends the halt, not much before or after the time. */
KTEST(idle, "cpu_idle_ns halts and the local APIC timer wakes it")
{
	uint64_t min = ~0ull, max = 0, flags = irq_save();

	for (int i = 0; i < 10; i++) {
		uint64_t t0 = clock_ns(), dt;

		cpu_idle_ns(2000000);
		dt = clock_ns() - t0;
		min = dt < min ? dt : min;
		max = dt > max ? dt : max;
	}
	irq_restore(flags);
	printf("idle: 10 halts of 2 ms took %llu-%llu us\n", (unsigned long long)(min / 1000),
	       (unsigned long long)(max / 1000));
	/* Woken by the timer (not at once), and not left asleep. */
	return !(min >= 1500000 && max < 100000000);
}

/*
 * A vector's interrupt that nobody claims must still be acknowledged: left
 * in service in the local APIC, it blocks every later interrupt of its
 * priority class and below. Two ways it happens: an MSI that arrives after
 * the driver freed its vector (late), and an interrupt on a vector never
 * handed out (a device writing a vector of its choosing). After each, an
 * interrupt on a lower vector must still get through.
 */
static volatile unsigned low_calls, freed_calls;

static void count_low(void *arg)
{
	(void)arg;
	low_calls++;
}

static void count_freed(void *arg)
{
	(void)arg;
	freed_calls++;
}

/* Deliver vector v to this CPU and let it in: true once low_calls reaches want. */
static bool ipi_and_wait(unsigned v, unsigned low, unsigned want)
{
	uint64_t flags = irq_save(), end;

	lapic_self_ipi(v);
	lapic_self_ipi(low);
	end = clock_ns() + 100000000ull;
	while (low_calls < want && clock_ns() < end)
		__asm__ volatile("sti; nop; cli" ::: "memory");
	irq_restore(flags);
	return low_calls >= want;
}

KTEST(irq_unclaimed, "an interrupt on a freed or never-allocated vector is acknowledged")
{
	int low = irq_alloc_vector(count_low, NULL);
	int freed = irq_alloc_vector(count_freed, NULL);
	unsigned long late = irq_late_count();
	int fail = 0;

	if (low < 0 || freed < 0 || freed <= low) {
		printf("irq-unclaimed: no vectors (%d, %d)\n", low, freed);
		return 1;
	}
	irq_free_vector(freed);
	if (!ipi_and_wait((unsigned)freed, (unsigned)low, 1)) {
		printf("irq-unclaimed: after a late interrupt on freed vector 0x%x, vector 0x%x "
		       "is blocked\n",
		       freed, low);
		fail = 1;
	}
	/* 0xef: the highest vector drivers get, never handed out in this test's boot. */
	if (!fail && !ipi_and_wait(0xef, (unsigned)low, 2)) {
		printf("irq-unclaimed: after an interrupt on unallocated vector 0xef, vector 0x%x "
		       "is blocked\n",
		       low);
		fail = 1;
	}
	printf("irq-unclaimed: late 0x%x then 0xef, each followed by 0x%x: %u of 2 delivered, "
	       "freed handler called %u times, %lu late interrupt(s) acknowledged, 0xef %s\n",
	       freed, low, low_calls, freed_calls, irq_late_count() - late,
	       lapic_in_service(0xef) ? "still in service" : "acknowledged");
	irq_free_vector(low);
	return fail || freed_calls != 0 || irq_late_count() - late != 1 || lapic_in_service(0xef);
}
