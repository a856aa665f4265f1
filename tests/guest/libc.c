/* newlib inside the kernel: printf formats and strtod round trips. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kernel/registry.h>

KTEST(boot, "boot, print the boot log and exit")
{
	return 0;
}

static int check_fmt(const char *got, const char *want)
{
	int ok = strcmp(got, want) == 0;

	printf("printf: %-28s %s\n", got, ok ? "ok" : "MISMATCH");
	if (!ok)
		printf("printf:   expected %s\n", want);
	return !ok;
}

KTEST(printf, "newlib printf: %d %s %llu %f %g and friends")
{
	char b[128];
	int bad = 0;

#define CHECK(want, ...) (snprintf(b, sizeof(b), __VA_ARGS__), bad += check_fmt(b, want))
	CHECK("-42 str", "%d %s", -42, "str");
	CHECK("18446744073709551615", "%llu", 18446744073709551615ull);
	CHECK("-9223372036854775808", "%lld", (long long)INT64_MIN);
	CHECK("3.141593", "%f", 3.14159265358979);
	CHECK("0.667", "%.3f", 2.0 / 3.0);
	CHECK("-1.50", "%.2f", -1.5);
	CHECK("1e-05", "%g", 1e-5);
	CHECK("1.23457e+08", "%g", 123456789.0);
	CHECK("0.5", "%g", 0.5);
	CHECK("inf -inf nan", "%g %g %g", INFINITY, -INFINITY, NAN);
	CHECK("deadbeef 0XCAFE", "%x %#X", 0xdeadbeefu, 0xcafeu);
	CHECK("[   42] [42   ]", "[%5d] [%-5d]", 42, 42);
	CHECK("17 0x10", "%zu %p", (size_t)17, (void *)0x10);
	CHECK("2.718281828459045", "%.15f", 2.718281828459045);
#undef CHECK
	/* sqrt and friends come from newlib's libm */
	snprintf(b, sizeof(b), "%.6f", sqrt(2.0));
	bad += check_fmt(b, "1.414214");
	return bad;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int roundtrip(double d)
{
	char b[64];
	double back;

	snprintf(b, sizeof(b), "%.17g", d);
	back = strtod(b, NULL);
	if (memcmp(&back, &d, sizeof(d)) != 0) {
		printf("strtod: %s came back as %.17g\n", b, back);
		return 1;
	}
	return 0;
}

KTEST(strtod, "strtod(printf(\"%.17g\", x)) == x for 5000 doubles")
{
	static const double special[] = {
		0.0,	-0.0,	       0.1,	  1.0 / 3,	     1e308, DBL_MAX, DBL_MIN,
		5e-324, 123456789.125, -2.5e-300, 9007199254740993.0};
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int bad = 0, n = 0;

	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++, n++)
		bad += roundtrip(special[i]);
	while (n < 5000) {
		uint64_t bits = xorshift(&seed);
		double d;

		memcpy(&d, &bits, sizeof(d));
		if (isnan(d) || isinf(d))
			continue;
		bad += roundtrip(d);
		n++;
	}
	printf("strtod: %d of %d values round-tripped\n", n - bad, n);
	return bad;
}
