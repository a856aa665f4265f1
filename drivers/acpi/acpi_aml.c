/*
 * PCI host bridges from AML, without an interpreter: a bounded, read-only
 * walk of the namespace structure of a DSDT (ACPI 6.5, 20.2 "AML Grammar
 * Definition") that finds the devices whose _HID or _CID is PNP0A08 (PCI
 * Express) or PNP0A03 (PCI), and reads their _CRS resource template (6.4),
 * _SEG and _BBN (6.5.6, 6.5.5) and _CBA (PCI Firmware Specification 3.2,
 * 4.1.3: the ECAM base of a host bridge, how microvm describes its ECAM).
 *
 * Two passes over the same bytes: the first finds the bridges' paths, the
 * second their objects, which may sit in a later Scope () of the same path
 * (QEMU's q35 and pc DSDTs declare PCI0 in one place and give its _CRS in
 * another). Every length is checked against its enclosing package before
 * anything inside is read, so a bad length ends that package's walk and
 * never reads past it. Only declarations are followed: If/Else/While
 * bodies and method bodies are skipped whole (nothing is evaluated), and
 * an opcode the walk does not know ends its enclosing scope with a
 * problem recorded. Portable (host-tested).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <acpi/acpi.h>

#define AML_MAX_DEPTH 16 /* NameSegs in a path, and nesting of scopes */
#define AML_MAX_STEPS (1 << 20)
#define AML_MAX_CID   16 /* _CID package elements looked at */

/* AML opcodes (ACPI 6.5, 20.3 "AML Byte Stream Byte Values"). */
#define AML_ZERO	  0x00
#define AML_ONE		  0x01
#define AML_ALIAS	  0x06
#define AML_NAME	  0x08
#define AML_BYTE_PREFIX	  0x0a
#define AML_WORD_PREFIX	  0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_SCOPE	  0x10
#define AML_BUFFER	  0x11
#define AML_PACKAGE	  0x12
#define AML_VAR_PACKAGE	  0x13
#define AML_METHOD	  0x14
#define AML_EXTERNAL	  0x15
#define AML_DUAL_NAME	  0x2e
#define AML_MULTI_NAME	  0x2f
#define AML_EXT_PREFIX	  0x5b
#define AML_ROOT_CHAR	  0x5c
#define AML_PARENT_CHAR	  0x5e
#define AML_LOCAL0	  0x60
#define AML_LOCAL7	  0x67
#define AML_ARG0	  0x68
#define AML_ARG6	  0x6e
#define AML_CREATE_DWORD  0x8a
#define AML_CREATE_WORD	  0x8b
#define AML_CREATE_BYTE	  0x8c
#define AML_CREATE_BIT	  0x8d
#define AML_CREATE_QWORD  0x8f
#define AML_IF		  0xa0
#define AML_ELSE	  0xa1
#define AML_WHILE	  0xa2
#define AML_RETURN	  0xa4
#define AML_ONES	  0xff
/* After AML_EXT_PREFIX. */
#define AML_X_MUTEX	   0x01
#define AML_X_EVENT	   0x02
#define AML_X_CREATE_FIELD 0x13
#define AML_X_REVISION	   0x30
#define AML_X_OP_REGION	   0x80
#define AML_X_FIELD	   0x81
#define AML_X_DEVICE	   0x82
#define AML_X_PROCESSOR	   0x83
#define AML_X_POWER_RES	   0x84
#define AML_X_THERMAL_ZONE 0x85
#define AML_X_INDEX_FIELD  0x86
#define AML_X_BANK_FIELD   0x87
#define AML_X_DATA_REGION  0x88

/*
 * Resource descriptors (ACPI 6.5, 6.4). Byte 0 tells small from large:
 * small (6.4.2) has the type in bits 6:3 and the length in bits 2:0;
 * large (6.4.3) has the type in bits 6:0 and a 16-bit length after it.
 * Lengths exclude the tag bytes.
 */
#define RES_LARGE	     0x80
#define RES_SMALL_TYPE(b)    (((b) >> 3) & 0xf)
#define RES_SMALL_LEN(b)     ((b)&7)
#define RES_SMALL_END_TAG    0xf /* 6.4.2.9 */
#define RES_LARGE_HDR	     3
#define RES_LARGE_DWORD_ADDR 0x07 /* 6.4.3.5.2 */
#define RES_LARGE_WORD_ADDR  0x08 /* 6.4.3.5.3 */
#define RES_LARGE_QWORD_ADDR 0x0a /* 6.4.3.5.1 */
#define RES_LARGE_EXT_ADDR   0x0b /* 6.4.3.5.4 */
#define RES_ADDR_CONSUMER    0x01 /* General Flags bit 0: consumes, does not produce */
#define RES_ADDR_TYPE_MEM    0
#define RES_ADDR_TYPE_IO     1
#define RES_ADDR_TYPE_BUS    2
#define RES_MEM_FLAGS_MEM(f) (((f) >> 1) & 3) /* Type Specific Flags _MEM */
#define RES_MEM_PREFETCHABLE 3
#define RES_ADDR_MIN_FIXED   0x04 /* _MIF */
#define RES_ADDR_MAX_FIXED   0x08 /* _MAF */

/*
 * The address space descriptors (6.4.3.5.1-4): the same fields in three
 * widths, plus the Extended one. Parsed byte by byte at these offsets
 * (little-endian, any host); the structs pin the layout.
 */
struct res_word_addr {
	uint8_t tag;
	uint16_t length;
	uint8_t type, general_flags, type_flags;
	uint16_t granularity, min, max, translation, len;
} __attribute__((packed));
_Static_assert(sizeof(struct res_word_addr) == 16, "ACPI 6.5, 6.4.3.5.3: Word, 16 bytes");
_Static_assert(offsetof(struct res_word_addr, min) == 8, "ACPI 6.5, 6.4.3.5.3: _MIN at 8");

struct res_dword_addr {
	uint8_t tag;
	uint16_t length;
	uint8_t type, general_flags, type_flags;
	uint32_t granularity, min, max, translation, len;
} __attribute__((packed));
_Static_assert(sizeof(struct res_dword_addr) == 26, "ACPI 6.5, 6.4.3.5.2: DWord, 26 bytes");
_Static_assert(offsetof(struct res_dword_addr, min) == 10, "ACPI 6.5, 6.4.3.5.2: _MIN at 10");

struct res_qword_addr {
	uint8_t tag;
	uint16_t length;
	uint8_t type, general_flags, type_flags;
	uint64_t granularity, min, max, translation, len;
} __attribute__((packed));
_Static_assert(sizeof(struct res_qword_addr) == 46, "ACPI 6.5, 6.4.3.5.1: QWord, 46 bytes");
_Static_assert(offsetof(struct res_qword_addr, min) == 14, "ACPI 6.5, 6.4.3.5.1: _MIN at 14");

struct res_ext_addr {
	uint8_t tag;
	uint16_t length;
	uint8_t type, general_flags, type_flags;
	uint8_t revision, reserved;
	uint64_t granularity, min, max, translation, len, attributes;
} __attribute__((packed));
_Static_assert(sizeof(struct res_ext_addr) == 56, "ACPI 6.5, 6.4.3.5.4: Extended, 56 bytes");
_Static_assert(offsetof(struct res_ext_addr, min) == 16, "ACPI 6.5, 6.4.3.5.4: _MIN at 16");

/* The common head of all four, and where the five numbers start. */
#define RES_ADDR_TYPE	     offsetof(struct res_word_addr, type)
#define RES_ADDR_GEN_FLAGS   offsetof(struct res_word_addr, general_flags)
#define RES_ADDR_TYPE_FLAGS  offsetof(struct res_word_addr, type_flags)
#define RES_ADDR_GRANULARITY offsetof(struct res_word_addr, granularity)
#define RES_EXT_GRANULARITY  offsetof(struct res_ext_addr, granularity)

static uint64_t rd_le(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;

	for (unsigned i = width; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static const char *window_name(enum acpi_window_kind k)
{
	return k == ACPI_WINDOW_IO ? "I/O" : k == ACPI_WINDOW_BUS ? "bus" : "memory";
}

/*
 * One address space descriptor d (tag included, total bytes). Producer
 * ranges become windows (memory, I/O) or the bus range; consumer ranges
 * are the bridge's own registers and are not windows.
 */
static void crs_address(struct acpi_info *a, struct acpi_pci_host *h, const uint8_t *d,
			size_t total, unsigned width, size_t first, size_t off)
{
	uint64_t min, max, translation, len;
	uint8_t type, gflags, tflags;
	struct acpi_window *w;

	/* The length first: type and flags sit past a 3-byte header that may be all there is. */
	if (total < first + 5 * width) {
		acpi_problem(a, "%s._CRS: address descriptor at %zu is too short (%zu bytes)",
			     h->path, off, total);
		return;
	}
	type = d[RES_ADDR_TYPE];
	gflags = d[RES_ADDR_GEN_FLAGS];
	tflags = d[RES_ADDR_TYPE_FLAGS];
	/* granularity, min, max, translation, length */
	min = rd_le(d + first + width, width);
	max = rd_le(d + first + 2 * width, width);
	translation = rd_le(d + first + 3 * width, width);
	len = rd_le(d + first + 4 * width, width);
	if ((gflags & RES_ADDR_CONSUMER) || type > RES_ADDR_TYPE_BUS)
		return;
	if (len == 0 || max < min) {
		acpi_problem(a, "%s._CRS: %s range 0x%llx-0x%llx length 0x%llx ignored", h->path,
			     window_name((enum acpi_window_kind)type), (unsigned long long)min,
			     (unsigned long long)max, (unsigned long long)len);
		return;
	}
	/* Fixed min and max: the length must agree; trust the smaller range. */
	if ((gflags & (RES_ADDR_MIN_FIXED | RES_ADDR_MAX_FIXED)) ==
		    (RES_ADDR_MIN_FIXED | RES_ADDR_MAX_FIXED) &&
	    len - 1 < max - min)
		max = min + len - 1;
	if (type == RES_ADDR_TYPE_BUS) {
		if (min > 255) {
			acpi_problem(a, "%s._CRS: bus range starts at %llu", h->path,
				     (unsigned long long)min);
			return;
		}
		h->bus_start = (uint8_t)min;
		h->bus_end = (uint8_t)(max > 255 ? 255 : max);
		h->have_bus = true;
		return;
	}
	if (translation) {
		acpi_problem(a, "%s._CRS: %s window 0x%llx-0x%llx with translation 0x%llx ignored",
			     h->path, window_name((enum acpi_window_kind)type),
			     (unsigned long long)min, (unsigned long long)max,
			     (unsigned long long)translation);
		return;
	}
	if (h->nr_windows == ACPI_MAX_WINDOWS) {
		h->windows_dropped++;
		return;
	}
	w = &h->window[h->nr_windows++];
	w->min = min;
	w->max = max;
	w->kind = type == RES_ADDR_TYPE_IO ? ACPI_WINDOW_IO : ACPI_WINDOW_MEM;
	w->prefetch =
		type == RES_ADDR_TYPE_MEM && RES_MEM_FLAGS_MEM(tflags) == RES_MEM_PREFETCHABLE;
}

unsigned acpi_parse_crs(struct acpi_info *a, struct acpi_pci_host *h, const uint8_t *res,
			size_t len)
{
	size_t off = 0;
	unsigned before = h->nr_windows;

	/* Each pass steps by at least one byte: bounded by len. */
	while (off < len) {
		const uint8_t *d = res + off;
		size_t total;

		if (!(d[0] & RES_LARGE)) {
			total = 1 + RES_SMALL_LEN(d[0]);
			if (total > len - off) {
				acpi_problem(a, "%s._CRS: descriptor at %zu runs past the end",
					     h->path, off);
				break;
			}
			if (RES_SMALL_TYPE(d[0]) == RES_SMALL_END_TAG)
				break;
			off += total; /* IRQ, DMA, I/O port, ...: not windows */
			continue;
		}
		if (len - off < RES_LARGE_HDR) {
			acpi_problem(a, "%s._CRS: truncated descriptor at %zu", h->path, off);
			break;
		}
		total = RES_LARGE_HDR + (size_t)(d[1] | d[2] << 8);
		if (total > len - off) {
			acpi_problem(a, "%s._CRS: descriptor 0x%02x at %zu runs past the end",
				     h->path, d[0], off);
			break;
		}
		switch (d[0] & ~RES_LARGE) {
		case RES_LARGE_WORD_ADDR:
			crs_address(a, h, d, total, 2, RES_ADDR_GRANULARITY, off);
			break;
		case RES_LARGE_DWORD_ADDR:
			crs_address(a, h, d, total, 4, RES_ADDR_GRANULARITY, off);
			break;
		case RES_LARGE_QWORD_ADDR:
			crs_address(a, h, d, total, 8, RES_ADDR_GRANULARITY, off);
			break;
		case RES_LARGE_EXT_ADDR:
			crs_address(a, h, d, total, 8, RES_EXT_GRANULARITY, off);
			break;
		default: break; /* fixed memory, vendor, interrupts, ...: not windows */
		}
		off += total;
	}
	if (h->windows_dropped)
		acpi_problem(a, "%s._CRS: %u windows, only %u kept", h->path,
			     h->nr_windows + h->windows_dropped, ACPI_MAX_WINDOWS);
	return h->nr_windows - before;
}

/* An interrupt descriptor's mode and polarity as MPS INTI flags. */
static uint16_t res_inti(bool edge, bool active_low)
{
	return (uint16_t)((edge ? ACPI_TRIGGER_EDGE : ACPI_TRIGGER_LEVEL) << 2 |
			  (active_low ? ACPI_POLARITY_LOW : ACPI_POLARITY_HIGH));
}

int acpi_parse_mmio_crs(struct acpi_virtio_mmio *m, const uint8_t *res, size_t len)
{
	size_t off = 0;

	while (off < len) {
		const uint8_t *d = res + off;
		size_t total;

		if (!(d[0] & RES_LARGE)) {
			total = 1 + RES_SMALL_LEN(d[0]);
			if (total > len - off || RES_SMALL_TYPE(d[0]) == RES_SMALL_END_TAG)
				break;
			/* 6.4.2.1 IRQ: a mask of ISA IRQs, edge/high without the flags byte. */
			if (RES_SMALL_TYPE(d[0]) == 0x4 && total >= 3 && !m->have_irq &&
			    (d[1] | d[2] << 8)) {
				uint16_t mask = (uint16_t)(d[1] | d[2] << 8);
				uint8_t fl = total >= 4 ? d[3] : 0x01; /* IRQNoFlags: edge, high */

				m->gsi = (uint32_t)__builtin_ctz(mask);
				m->irq_flags = res_inti(fl & 0x01, fl & 0x08);
				m->have_irq = true;
			}
			off += total;
			continue;
		}
		if (len - off < RES_LARGE_HDR)
			break;
		total = RES_LARGE_HDR + (size_t)(d[1] | d[2] << 8);
		if (total > len - off)
			break;
		/* 6.4.3.4 Memory32Fixed: flags, base, length. */
		if (d[0] == 0x86 && total >= 12 && m->size == 0) {
			m->base = rd_le(d + 4, 4);
			m->size = rd_le(d + 8, 4);
		}
		/* 6.4.3.6 Extended Interrupt: flags, count, then the interrupts. */
		if (d[0] == 0x89 && total >= 9 && d[4] >= 1 && !m->have_irq) {
			m->gsi = (uint32_t)rd_le(d + 5, 4);
			m->irq_flags = res_inti(d[3] & 0x02, d[3] & 0x04);
			m->have_irq = true;
		}
		off += total;
	}
	return m->size ? 0 : -ENOENT;
}

/* An absolute namespace path: NameSegs as little-endian 32-bit words. */
struct aml_path {
	unsigned depth;
	uint32_t seg[AML_MAX_DEPTH];
};

#define SEG(s) \
	((uint32_t)(s)[0] | (uint32_t)(s)[1] << 8 | (uint32_t)(s)[2] << 16 | (uint32_t)(s)[3] << 24)

struct aml_scan {
	struct acpi_info *a;
	const uint8_t *start; /* offsets in problems are from here */
	int pass;	      /* 1: find bridges, 2: read their objects */
	unsigned steps;
	bool stop; /* the step bound was hit */
	struct aml_path host[ACPI_MAX_PCI_HOSTS];
	struct aml_path dropped; /* the last one that did not fit, counted once */
	struct aml_path mmio[ACPI_MAX_VIRTIO_MMIO]; /* LNRO0005 devices */
	unsigned first; /* the hosts of this scan start at a->pci_host[first] */
};

static bool path_eq(const struct aml_path *x, const struct aml_path *y)
{
	return x->depth == y->depth && memcmp(x->seg, y->seg, x->depth * sizeof(x->seg[0])) == 0;
}

static void path_str(const struct aml_path *p, char *buf, size_t size)
{
	size_t n = 0;

	if (size < 2)
		return;
	buf[n++] = '\\';
	for (unsigned i = 0; i < p->depth && n + 5 < size; i++) {
		if (i)
			buf[n++] = '.';
		for (int c = 0; c < 4; c++)
			buf[n++] = (char)(p->seg[i] >> (8 * c));
		while (buf[n - 1] == '_' && buf[n - 2] != '.' && buf[n - 2] != '\\')
			n--; /* "PCI0", "GPE_" -> "GPE", as iasl prints them */
	}
	buf[n] = '\0';
}

static bool lead_name_char(uint8_t c)
{
	return c == '_' || (c >= 'A' && c <= 'Z');
}

static bool name_char(uint8_t c)
{
	return lead_name_char(c) || (c >= '0' && c <= '9');
}

/*
 * PkgLength (20.2.4) at *pp: on success *pp is after it and *end is the end
 * of the package it measures, which must lie within limit.
 */
static bool pkg_length(const uint8_t **pp, const uint8_t *limit, const uint8_t **end)
{
	const uint8_t *p = *pp;
	unsigned extra;
	uint32_t len;

	if (p >= limit)
		return false;
	extra = p[0] >> 6;
	if ((size_t)(limit - p) < 1 + extra)
		return false;
	if (extra == 0) {
		len = p[0] & 0x3f;
	} else {
		if (p[0] & 0x30)
			return false; /* bits 5:4 are reserved in the multi-byte form */
		len = p[0] & 0x0f;
		for (unsigned i = 1; i <= extra; i++)
			len |= (uint32_t)p[i] << (4 + 8 * (i - 1));
	}
	if (len < 1 + extra || len > (size_t)(limit - p))
		return false;
	*end = p + len;
	*pp = p + 1 + extra;
	return true;
}

/*
 * NameString (20.2.2) at *pp, resolved against scope into out (when not
 * NULL). Returns: false if malformed, deeper than AML_MAX_DEPTH, or
 * climbing above the root.
 */
static bool name_string(const uint8_t **pp, const uint8_t *limit, const struct aml_path *scope,
			struct aml_path *out)
{
	const uint8_t *p = *pp;
	struct aml_path path = {0};
	unsigned nseg;

	if (p >= limit)
		return false;
	if (*p == AML_ROOT_CHAR) {
		p++;
	} else {
		path = *scope;
		while (p < limit && *p == AML_PARENT_CHAR) {
			if (path.depth == 0)
				return false;
			path.depth--;
			p++;
		}
	}
	if (p >= limit)
		return false;
	if (*p == AML_ZERO) {
		nseg = 0;
		p++;
	} else if (*p == AML_DUAL_NAME) {
		nseg = 2;
		p++;
	} else if (*p == AML_MULTI_NAME) {
		if (limit - p < 2)
			return false;
		nseg = p[1];
		p += 2;
	} else {
		nseg = 1;
	}
	if (path.depth + nseg > AML_MAX_DEPTH || (size_t)(limit - p) < 4 * (size_t)nseg)
		return false;
	for (unsigned i = 0; i < nseg; i++, p += 4) {
		if (!lead_name_char(p[0]) || !name_char(p[1]) || !name_char(p[2]) ||
		    !name_char(p[3]))
			return false;
		path.seg[path.depth++] = SEG(p);
	}
	if (out)
		*out = path;
	*pp = p;
	return true;
}

static bool is_name_start(uint8_t c)
{
	return c == AML_ROOT_CHAR || c == AML_PARENT_CHAR || c == AML_DUAL_NAME ||
	       c == AML_MULTI_NAME || lead_name_char(c);
}

/*
 * An integer constant at *pp (ComputationalData: Zero, One, Ones and the
 * Byte/Word/DWord/QWord prefixes, 20.2.3). Returns: false if it is not one.
 */
static bool integer(const uint8_t **pp, const uint8_t *limit, uint64_t *val)
{
	const uint8_t *p = *pp;
	unsigned width;

	if (p >= limit)
		return false;
	switch (*p) {
	case AML_ZERO:
	case AML_ONE:
		*val = *p;
		*pp = p + 1;
		return true;
	case AML_ONES:
		*val = ~0ull;
		*pp = p + 1;
		return true;
	case AML_BYTE_PREFIX: width = 1; break;
	case AML_WORD_PREFIX: width = 2; break;
	case AML_DWORD_PREFIX: width = 4; break;
	case AML_QWORD_PREFIX: width = 8; break;
	default: return false;
	}
	if ((size_t)(limit - p) < 1 + width)
		return false;
	*val = rd_le(p + 1, width);
	*pp = p + 1 + width;
	return true;
}

/* A data object's value, as far as the scan cares. */
struct aml_value {
	enum { V_OTHER, V_INT, V_STRING, V_BUFFER, V_PACKAGE } type;
	uint64_t num;
	const uint8_t *data; /* string (without NUL), buffer bytes, package elements */
	size_t len;
	unsigned count; /* package: NumElements */
};

/*
 * One data object or a plain name at *pp (DataRefObject, and the TermArgs
 * that are constants: 20.2.3, 20.2.5.4); v may be NULL. Expressions and
 * method calls are not understood. Returns: false if unknown or malformed.
 */
static bool data_object(const uint8_t **pp, const uint8_t *limit, const struct aml_path *scope,
			struct aml_value *v)
{
	const uint8_t *p = *pp, *end;
	struct aml_value tmp;

	if (!v)
		v = &tmp;
	memset(v, 0, sizeof(*v));
	if (p >= limit)
		return false;
	if (integer(&p, limit, &v->num)) {
		v->type = V_INT;
		*pp = p;
		return true;
	}
	switch (*p) {
	case AML_STRING_PREFIX:
		end = memchr(p + 1, 0, (size_t)(limit - p - 1));
		if (!end)
			return false;
		v->type = V_STRING;
		v->data = p + 1;
		v->len = (size_t)(end - p - 1);
		p = end + 1;
		break;
	case AML_BUFFER: {
		uint64_t size;

		p++;
		if (!pkg_length(&p, limit, &end) || !integer(&p, end, &size))
			return false; /* BufferSize, a TermArg: only constants here */
		v->type = V_BUFFER;
		v->data = p;
		/* The initializer may be shorter than BufferSize, never longer. */
		v->len = (size_t)(end - p) < size ? (size_t)(end - p) : (size_t)size;
		p = end;
		break;
	}
	case AML_PACKAGE:
	case AML_VAR_PACKAGE: {
		uint64_t count;

		p++;
		if (!pkg_length(&p, limit, &end) || p >= end)
			return false;
		v->type = V_PACKAGE;
		if (**pp == AML_PACKAGE)
			count = *p++; /* NumElements, a byte */
		else if (!integer(&p, end, &count))
			return false; /* VarNumElements, a TermArg: only constants here */
		v->count = count > 255 ? 255 : (unsigned)count;
		v->data = p;
		v->len = (size_t)(end - p);
		p = end;
		break;
	}
	case AML_EXT_PREFIX:
		if (limit - p < 2 || p[1] != AML_X_REVISION)
			return false;
		v->type = V_INT;
		p += 2;
		break;
	default:
		if ((*p >= AML_LOCAL0 && *p <= AML_LOCAL7) || (*p >= AML_ARG0 && *p <= AML_ARG6)) {
			p++;
			break;
		}
		if (!is_name_start(*p) || !name_string(&p, limit, scope, NULL))
			return false;
		break;
	}
	*pp = p;
	return true;
}

/* An EISA ID (6.1.5: compressed, byte-swapped) or a string, as "PNP0A08". */
static void hardware_id(const struct aml_value *v, char id[9])
{
	static const char hex[] = "0123456789ABCDEF";

	id[0] = '\0';
	if (v->type == V_INT && v->num <= 0xffffffffu) {
		uint32_t e = (uint32_t)v->num;
		uint16_t vendor = (uint16_t)((e & 0xff) << 8 | (e >> 8 & 0xff));
		uint16_t product = (uint16_t)((e >> 16 & 0xff) << 8 | e >> 24);

		id[0] = (char)('@' + (vendor >> 10 & 0x1f));
		id[1] = (char)('@' + (vendor >> 5 & 0x1f));
		id[2] = (char)('@' + (vendor & 0x1f));
		for (int i = 0; i < 4; i++)
			id[3 + i] = hex[product >> (12 - 4 * i) & 0xf];
		id[7] = '\0';
	} else if (v->type == V_STRING && v->len < 9) {
		memcpy(id, v->data, v->len);
		id[v->len] = '\0';
	}
}

static bool is_pci_host_id(const struct aml_value *v)
{
	char id[9];

	hardware_id(v, id);
	return strcmp(id, "PNP0A08") == 0 || strcmp(id, "PNP0A03") == 0;
}

/* _HID, or _CID: one ID or a package of them (6.1.2). */
static bool names_pci_host(const struct aml_value *v, const struct aml_path *scope)
{
	const uint8_t *p, *end;

	if (v->type != V_PACKAGE)
		return is_pci_host_id(v);
	p = v->data;
	end = v->data + v->len;
	for (unsigned i = 0; i < v->count && i < AML_MAX_CID && p < end; i++) {
		struct aml_value e;

		if (!data_object(&p, end, scope, &e))
			return false;
		if (is_pci_host_id(&e))
			return true;
	}
	return false;
}

static int host_index(const struct aml_scan *s, const struct aml_path *p)
{
	for (unsigned i = s->first; i < s->a->nr_pci_hosts; i++)
		if (path_eq(&s->host[i - s->first], p))
			return (int)i;
	return -1;
}

static void add_host(struct aml_scan *s, const struct aml_path *p)
{
	struct acpi_info *a = s->a;
	struct acpi_pci_host *h;

	if (host_index(s, p) >= 0)
		return; /* both _HID and _CID say so */
	if (a->nr_pci_hosts == ACPI_MAX_PCI_HOSTS) {
		if (!path_eq(&s->dropped, p))
			a->pci_hosts_dropped++;
		s->dropped = *p;
		return;
	}
	s->host[a->nr_pci_hosts - s->first] = *p;
	h = &a->pci_host[a->nr_pci_hosts++];
	memset(h, 0, sizeof(*h));
	path_str(p, h->path, sizeof(h->path));
	h->bus_end = 255;
}

/* A virtio-mmio transport: _HID "LNRO0005" (pass 1), its _CRS (pass 2). */
static void virtio_mmio_named(struct aml_scan *s, const struct aml_path *scope, uint32_t name,
			      const struct aml_value *v)
{
	struct acpi_info *a = s->a;
	char id[9];

	if (s->pass == 1 && name == SEG("_HID")) {
		hardware_id(v, id);
		if (strcmp(id, "LNRO0005") != 0)
			return;
		if (a->nr_virtio_mmio == ACPI_MAX_VIRTIO_MMIO) {
			a->virtio_mmio_dropped++;
			return;
		}
		s->mmio[a->nr_virtio_mmio] = *scope;
		memset(&a->virtio_mmio[a->nr_virtio_mmio], 0, sizeof(a->virtio_mmio[0]));
		a->nr_virtio_mmio++;
		return;
	}
	if (s->pass != 2 || name != SEG("_CRS") || v->type != V_BUFFER)
		return;
	for (unsigned i = 0; i < a->nr_virtio_mmio; i++)
		if (path_eq(&s->mmio[i], scope))
			acpi_parse_mmio_crs(&a->virtio_mmio[i], v->data, v->len);
}

/* Name (NAME, value) in scope: what the current pass looks for. */
static void named(struct aml_scan *s, const struct aml_path *scope, uint32_t name,
		  const struct aml_value *v)
{
	struct acpi_pci_host *h;
	int i;

	virtio_mmio_named(s, scope, name, v);
	if (s->pass == 1) {
		if ((name == SEG("_HID") || name == SEG("_CID")) && names_pci_host(v, scope))
			add_host(s, scope);
		return;
	}
	i = host_index(s, scope);
	if (i < 0)
		return;
	h = &s->a->pci_host[i];
	if (name == SEG("_CRS")) {
		if (v->type != V_BUFFER) {
			acpi_problem(s->a, "%s._CRS is not a buffer, not read", h->path);
			return;
		}
		h->have_crs = true;
		acpi_parse_crs(s->a, h, v->data, v->len);
	} else if (name == SEG("_CBA") && v->type == V_INT) {
		h->ecam = v->num;
		h->have_ecam = true;
	} else if (name == SEG("_SEG") && v->type == V_INT) {
		h->segment = (uint16_t)v->num;
	} else if (name == SEG("_BBN") && v->type == V_INT && v->num <= 255 && !h->have_bus) {
		h->bus_start = (uint8_t)v->num; /* a _CRS bus range, when there is one, wins */
	}
}

/* Method (NAME, flags) { body }: only "Method (_CBA) { Return (constant) }" is read. */
static void method(struct aml_scan *s, const struct aml_path *scope, uint32_t name,
		   const uint8_t *body, const uint8_t *end)
{
	struct aml_value v;
	int i;

	if (s->pass != 2 || (i = host_index(s, scope)) < 0)
		return;
	if (name == SEG("_CRS")) {
		acpi_problem(s->a, "%s._CRS is a method, not evaluated: no windows",
			     s->a->pci_host[i].path);
		return;
	}
	if (name != SEG("_CBA"))
		return;
	if (body < end && *body == AML_RETURN) {
		body++;
		if (data_object(&body, end, scope, &v) && v.type == V_INT) {
			s->a->pci_host[i].ecam = v.num;
			s->a->pci_host[i].have_ecam = true;
			return;
		}
	}
	acpi_problem(s->a, "%s._CBA does not return a constant, not evaluated",
		     s->a->pci_host[i].path);
}

static void walk(struct aml_scan *s, const uint8_t *p, const uint8_t *end,
		 const struct aml_path *scope, unsigned depth);

/*
 * Scope/Device: PkgLength NameString TermList. Returns: the end of the
 * package, or NULL if malformed.
 */
static const uint8_t *container(struct aml_scan *s, const uint8_t *p, const uint8_t *limit,
				const struct aml_path *scope, unsigned depth, bool follow)
{
	const uint8_t *end;
	struct aml_path inner;

	if (!pkg_length(&p, limit, &end) || !name_string(&p, end, scope, &inner))
		return NULL;
	if (follow)
		walk(s, p, end, &inner, depth + 1);
	return end;
}

/*
 * One TermList, [p, end): declarations are followed, anything else that
 * has a PkgLength is skipped whole, an unknown opcode ends the walk of
 * this list. Recursion is bounded by AML_MAX_DEPTH, iterations by end - p
 * (each step moves forward) and AML_MAX_STEPS.
 */
static void walk(struct aml_scan *s, const uint8_t *p, const uint8_t *end,
		 const struct aml_path *scope, unsigned depth)
{
	char where[ACPI_PATH_LEN];

	if (depth > AML_MAX_DEPTH) {
		path_str(scope, where, sizeof(where));
		if (s->pass == 1)
			acpi_problem(s->a, "AML: %s nested too deep, not scanned", where);
		return;
	}
	while (p < end && !s->stop) {
		const uint8_t *op = p, *next = NULL, *pkg_end;
		struct aml_path name;
		struct aml_value v;

		if (++s->steps > AML_MAX_STEPS) {
			if (s->pass == 1)
				acpi_problem(s->a, "AML: more than %u objects, scan stopped",
					     AML_MAX_STEPS);
			s->stop = true;
			return;
		}
		p++;
		switch (*op) {
		case AML_SCOPE: next = container(s, p, end, scope, depth, true); break;
		case AML_NAME:
			if (name_string(&p, end, scope, &name) && name.depth > 0 &&
			    data_object(&p, end, scope, &v)) {
				name.depth--;
				named(s, &name, name.seg[name.depth], &v);
				next = p;
			}
			break;
		case AML_METHOD:
			if (pkg_length(&p, end, &pkg_end) &&
			    name_string(&p, pkg_end, scope, &name) && name.depth > 0 &&
			    p < pkg_end) {
				name.depth--;
				method(s, &name, name.seg[name.depth], p + 1, pkg_end);
				next = pkg_end;
			}
			break;
		case AML_IF:
		case AML_ELSE:
		case AML_WHILE:
		case AML_BUFFER:
		case AML_PACKAGE:
		case AML_VAR_PACKAGE:
			if (pkg_length(&p, end, &pkg_end))
				next = pkg_end; /* not evaluated: what is inside is not looked at */
			break;
		case AML_ALIAS:
			if (name_string(&p, end, scope, NULL) && name_string(&p, end, scope, NULL))
				next = p;
			break;
		case AML_EXTERNAL:
			if (name_string(&p, end, scope, NULL) && end - p >= 2)
				next = p + 2; /* ObjectType, ArgumentCount */
			break;
		case AML_CREATE_DWORD:
		case AML_CREATE_WORD:
		case AML_CREATE_BYTE:
		case AML_CREATE_BIT:
		case AML_CREATE_QWORD:
			if (data_object(&p, end, scope, NULL) &&
			    data_object(&p, end, scope, NULL) && name_string(&p, end, scope, NULL))
				next = p;
			break;
		case AML_EXT_PREFIX:
			if (p >= end)
				break;
			switch (*p++) {
			case AML_X_DEVICE: next = container(s, p, end, scope, depth, true); break;
			case AML_X_PROCESSOR:
			case AML_X_POWER_RES:
			case AML_X_THERMAL_ZONE:
			case AML_X_FIELD:
			case AML_X_INDEX_FIELD:
			case AML_X_BANK_FIELD:
				if (pkg_length(&p, end, &pkg_end))
					next = pkg_end;
				break;
			case AML_X_OP_REGION:
				/* NameString RegionSpace RegionOffset RegionLen */
				if (!name_string(&p, end, scope, NULL) || p++ >= end)
					break;
				if (data_object(&p, end, scope, NULL) &&
				    data_object(&p, end, scope, NULL))
					next = p;
				break;
			case AML_X_MUTEX:
				if (name_string(&p, end, scope, NULL) && p < end)
					next = p + 1; /* SyncFlags */
				break;
			case AML_X_EVENT:
				if (name_string(&p, end, scope, NULL))
					next = p;
				break;
			case AML_X_CREATE_FIELD:
				if (data_object(&p, end, scope, NULL) &&
				    data_object(&p, end, scope, NULL) &&
				    data_object(&p, end, scope, NULL) &&
				    name_string(&p, end, scope, NULL))
					next = p;
				break;
			case AML_X_DATA_REGION:
				if (name_string(&p, end, scope, NULL) &&
				    data_object(&p, end, scope, NULL) &&
				    data_object(&p, end, scope, NULL) &&
				    data_object(&p, end, scope, NULL))
					next = p;
				break;
			}
			break;
		}
		if (!next) {
			/* Malformed or not understood: nothing after it in this list is trusted. */
			if (s->pass == 1) {
				path_str(scope, where, sizeof(where));
				acpi_problem(s->a,
					     "AML: opcode 0x%02x at 0x%zx in %s not understood, "
					     "rest of the scope skipped",
					     *op, (size_t)(op - s->start), where);
			}
			return;
		}
		p = next;
	}
}

void acpi_aml_scan(struct acpi_info *a, const uint8_t *aml, size_t len)
{
	struct aml_scan s = {.a = a, .start = aml, .first = a->nr_pci_hosts};
	struct aml_path root = {0};

	if (!aml || len == 0)
		return;
	for (s.pass = 1; s.pass <= 2; s.pass++) {
		s.steps = 0;
		s.stop = false;
		walk(&s, aml, aml + len, &root, 0);
	}
	if (a->pci_hosts_dropped)
		acpi_problem(a, "AML: %u PCI host bridges, only %u kept",
			     a->nr_pci_hosts + a->pci_hosts_dropped, ACPI_MAX_PCI_HOSTS);
}
