/*
 * Physical memory map normalisation (E820 semantics, ACPI 6.5 section 15).
 * Firmware lists may be unsorted, overlapping or contain empty entries;
 * everything downstream (page allocator, paging) wants a clean list.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <kernel/memmap.h>

static uint32_t clean_type(uint32_t t)
{
	return (t >= BOOT_MEM_RAM && t <= BOOT_MEM_UNUSABLE) ? t : BOOT_MEM_RESERVED;
}

/* Which of two types covering the same byte wins. */
static uint32_t stronger(uint32_t a, uint32_t b)
{
	if (a == 0)
		return b;
	if (a == BOOT_MEM_RAM)
		return b;
	if (b == BOOT_MEM_RAM)
		return a;
	return a > b ? a : b;
}

static void sort_u64(uint64_t *v, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		uint64_t x = v[i];
		unsigned j = i;
		while (j > 0 && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/*
 * Sweep over the elementary intervals between all range boundaries and give
 * each the strongest type covering it. n is at most MEMMAP_MAX + 1, so the
 * quadratic cost is bounded and small.
 */
static int normalize(struct mem_map *m, const struct boot_mem_range *in, unsigned n)
{
	uint64_t bounds[2 * (MEMMAP_MAX + 1)];
	unsigned nb = 0, out = 0;

	m->nr = 0;
	if (n > MEMMAP_MAX + 1)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++) {
		if (in[i].len == 0 || in[i].base + in[i].len < in[i].base)
			continue;
		bounds[nb++] = in[i].base;
		bounds[nb++] = in[i].base + in[i].len;
	}
	sort_u64(bounds, nb);

	for (unsigned b = 0; b + 1 < nb; b++) {
		uint64_t lo = bounds[b], hi = bounds[b + 1];
		uint32_t type = 0;

		if (lo == hi)
			continue;
		for (unsigned i = 0; i < n; i++) {
			const struct boot_mem_range *r = &in[i];
			if (r->len == 0 || r->base + r->len < r->base)
				continue;
			if (r->base <= lo && r->base + r->len >= hi)
				type = stronger(type, clean_type(r->type));
		}
		if (type == 0)
			continue; /* a hole */
		if (out > 0 && m->r[out - 1].type == type &&
		    m->r[out - 1].base + m->r[out - 1].len == lo) {
			m->r[out - 1].len += hi - lo;
			continue;
		}
		if (out == MEMMAP_MAX)
			return -E2BIG;
		m->r[out].base = lo;
		m->r[out].len = hi - lo;
		m->r[out].type = type;
		out++;
	}
	m->nr = out;
	return (int)out;
}

int memmap_normalize(struct mem_map *m, const struct boot_mem_range *in, unsigned n)
{
	m->dropped = 0;
	for (unsigned i = 0; i < n; i++)
		if (in[i].len == 0 || in[i].base + in[i].len < in[i].base)
			m->dropped++;
	return normalize(m, in, n);
}

int memmap_reserve(struct mem_map *m, uint64_t base, uint64_t len)
{
	struct boot_mem_range tmp[MEMMAP_MAX + 1];
	struct mem_map saved;
	int rc;

	if (len == 0)
		return 0;
	if (base + len < base)
		len = UINT64_MAX - base;
	memcpy(tmp, m->r, m->nr * sizeof(tmp[0]));
	tmp[m->nr].base = base;
	tmp[m->nr].len = len;
	tmp[m->nr].type = BOOT_MEM_RESERVED;
	saved = *m;
	rc = normalize(m, tmp, m->nr + 1);
	if (rc < 0) {
		*m = saved;
		return rc;
	}
	return 0;
}

uint64_t memmap_total(const struct mem_map *m, uint32_t type)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < m->nr; i++)
		if (m->r[i].type == type)
			sum += m->r[i].len;
	return sum;
}

uint64_t memmap_ram_end(const struct mem_map *m)
{
	for (unsigned i = m->nr; i-- > 0;)
		if (m->r[i].type == BOOT_MEM_RAM)
			return m->r[i].base + m->r[i].len;
	return 0;
}

uint64_t memmap_find_ram(const struct mem_map *m, uint64_t size, uint64_t align, uint64_t min)
{
	if (align == 0 || (align & (align - 1)))
		return 0;
	for (unsigned i = 0; i < m->nr; i++) {
		const struct boot_mem_range *r = &m->r[i];
		uint64_t start, end = r->base + r->len;

		if (r->type != BOOT_MEM_RAM || end <= min)
			continue;
		start = r->base > min ? r->base : min;
		if (start == 0)
			start = align; /* 0 means "nothing fits": try the next aligned address */
		start = (start + align - 1) & ~(align - 1);
		if (start != 0 && start < end && end - start >= size)
			return start;
	}
	return 0;
}

const char *memmap_type_name(uint32_t type)
{
	switch (type) {
	case BOOT_MEM_RAM: return "usable";
	case BOOT_MEM_RESERVED: return "reserved";
	case BOOT_MEM_ACPI: return "ACPI data";
	case BOOT_MEM_NVS: return "ACPI NVS";
	case BOOT_MEM_UNUSABLE: return "unusable";
	default: return "unknown";
	}
}
