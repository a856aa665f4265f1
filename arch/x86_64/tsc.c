/*
 * TSC clock. The frequency comes from CPUID where the CPU or hypervisor
 * reports it (leaf 0x40000010 timing info, leaf 0x15 crystal ratio), else
 * it is measured against the 8254 PIT, whose 1.193182 MHz input QEMU
 * derives from the host clock. PIT channel 0 is read back by latching,
 * which needs no port 0x61 gate (absent on microvm).
 */
#include <stdbool.h>

#include <arch/x86_64/cpu.h>
#include <kernel/clock.h>
#include <kernel/kernel.h>

#define PIT_HZ	1193182ull
#define PIT_CH0 0x40
#define PIT_CMD 0x43
/*
 * 2.5 ms: one PIT tick (0.84 us) of read-out error is 0.034%, far below
 * what any figure the kernel prints needs; every millisecond here is boot
 * time (10 ms was a third of "boot: ready" under TCG).
 */
#define PIT_CALIBRATE_TICKS (PIT_HZ / 400)

struct clock_info clock_info;
static uint64_t ns_mult; /* ns = delta * ns_mult >> 32 */

uint64_t tsc_to_ns(uint64_t delta)
{
	return (uint64_t)(((unsigned __int128)delta * ns_mult) >> 32);
}

uint64_t clock_ns(void)
{
	return tsc_to_ns(rdtsc() - boot_tsc_start);
}

void ndelay(uint64_t ns)
{
	uint64_t end = clock_ns() + ns;

	while (clock_ns() < end)
		cpu_relax();
}

void udelay(uint64_t us)
{
	ndelay(us * 1000);
}

static uint16_t pit_read(void)
{
	uint8_t lo, hi;

	outb(PIT_CMD, 0x00); /* latch channel 0 */
	lo = inb(PIT_CH0);
	hi = inb(PIT_CH0);
	return (uint16_t)(hi << 8 | lo);
}

/* Returns: TSC Hz, or 0 when the PIT does not count (no PIT). */
static uint64_t pit_calibrate(void)
{
	uint64_t ticks = 0, t0, t1;
	uint16_t prev, cur;
	unsigned stuck = 0;

	outb(PIT_CMD, 0x34); /* channel 0, lo/hi, mode 2 (rate generator) */
	outb(PIT_CH0, 0);
	outb(PIT_CH0, 0); /* reload 65536 */

	prev = pit_read();
	t0 = rdtsc();
	while (ticks < PIT_CALIBRATE_TICKS) {
		cur = pit_read();
		if (cur == prev) {
			if (++stuck > 10000000)
				return 0;
			continue;
		}
		ticks += (uint16_t)(prev - cur);
		prev = cur;
	}
	t1 = rdtsc();
	return (t1 - t0) * PIT_HZ / ticks;
}

static uint64_t cpuid_tsc_hz(const char **source)
{
	uint32_t r[4];

	if (cpu_features.max_hv_leaf >= 0x40000010) {
		cpuid(0x40000010, 0, r);
		if (r[0]) {
			*source = "CPUID 0x40000010";
			return (uint64_t)r[0] * 1000;
		}
	}
	if (cpu_features.max_leaf >= 0x15) {
		cpuid(0x15, 0, r);
		if (r[0] && r[1] && r[2]) {
			*source = "CPUID 0x15";
			return (uint64_t)r[2] * r[1] / r[0];
		}
	}
	return 0;
}

void clock_init(void)
{
	const char *source = NULL;
	uint64_t hz = cpuid_tsc_hz(&source);

	if (!hz) {
		hz = pit_calibrate();
		source = "PIT calibrated";
	}
	if (!hz)
		panic("clock: no TSC frequency from CPUID and the PIT does not count");
	clock_info.tsc_hz = hz;
	clock_info.source = source;
	ns_mult = (uint64_t)(((unsigned __int128)1000000000 << 32) / hz);
	clock_info.boot_epoch = rtc_read_epoch();
}
