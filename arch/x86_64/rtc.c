/*
 * MC146818 CMOS real-time clock, read once at boot for wall-clock time.
 * Registers: 0 sec, 2 min, 4 hour, 7 day, 8 month, 9 year, 0x32 century
 * (ACPI FADT default); status A bit 7 = update in progress, status B bit 2
 * = binary mode, bit 1 = 24-hour mode.
 */
#include <time.h>

#include <arch/x86_64/cpu.h>
#include <kernel/clock.h>

#define CMOS_ADDR 0x70
#define CMOS_DATA 0x71

static uint8_t cmos_read(uint8_t reg)
{
	outb(CMOS_ADDR, reg | 0x80); /* keep NMIs disabled */
	return inb(CMOS_DATA);
}

static unsigned bcd(uint8_t v, int binary)
{
	return binary ? v : (v & 0x0f) + (v >> 4) * 10;
}

int64_t rtc_read_epoch(void)
{
	uint8_t t[7], again[7];
	uint8_t b;
	struct tm tm = {0};
	int binary;
	unsigned spin = 0;

	/* Read until two reads agree outside an update cycle. */
	do {
		while ((cmos_read(0x0a) & 0x80) && spin++ < 1000000)
			cpu_relax();
		for (int i = 0; i < 2; i++) {
			uint8_t *d = i ? again : t;
			d[0] = cmos_read(0x00);
			d[1] = cmos_read(0x02);
			d[2] = cmos_read(0x04);
			d[3] = cmos_read(0x07);
			d[4] = cmos_read(0x08);
			d[5] = cmos_read(0x09);
			d[6] = cmos_read(0x32);
		}
	} while (__builtin_memcmp(t, again, sizeof(t)) && spin++ < 1000000);

	if (t[4] == 0xff)
		return 0; /* no RTC */
	b = cmos_read(0x0b);
	binary = b & 0x04;
	tm.tm_sec = bcd(t[0], binary);
	tm.tm_min = bcd(t[1], binary);
	tm.tm_hour = bcd(t[2] & 0x7f, binary);
	if (!(b & 0x02) && (t[2] & 0x80))
		tm.tm_hour = (tm.tm_hour % 12) + 12; /* 12-hour mode, PM */
	tm.tm_mday = bcd(t[3], binary);
	tm.tm_mon = bcd(t[4], binary) - 1;
	unsigned century = bcd(t[6], binary);
	if (century < 19 || century > 99)
		century = 20;
	tm.tm_year = (int)(century * 100 + bcd(t[5], binary)) - 1900;
	return (int64_t)mktime(&tm); /* newlib: UTC when TZ is unset */
}
