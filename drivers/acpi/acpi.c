/*
 * ACPI table parser (ACPI 6.5 chapter 5): RSDP, RSDT/XSDT, MADT, MCFG,
 * FADT, and the DSDT's header (its AML goes to drivers/acpi/acpi_aml.c). Firmware
 * data is untrusted: each table's signature, length and checksum are
 * checked before use, every read stays inside the validated length, and
 * every loop has a fixed bound. Portable (host-tested).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <acpi/acpi.h>

#define HDR_LEN	    36 /* System Description Table Header (Table 5.4) */
#define RSDP_V1_LEN 20 /* the part covered by the first checksum */
#define RSDP_V2_LEN 36
#define RSDP_MAX    4096 /* bound on the RSDP's Length field */
#define MADT_FIXED  44	 /* header, local APIC address, flags */
#define MCFG_FIXED  44	 /* header, 8 reserved bytes */
#define MCFG_ENTRY  16
#define FADT_V1_LEN 116 /* an ACPI 1.0 FADT ends after Flags */

/* MADT entry types (Table 5.21) and their minimum lengths. */
#define MADT_LAPIC	    0
#define MADT_IOAPIC	    1
#define MADT_ISO	    2
#define MADT_LAPIC_NMI	    4
#define MADT_LAPIC_OVERRIDE 5
#define MADT_X2APIC	    9

#define LAPIC_ENABLED 1u

/* FADT field offsets (Table 5.9). */
#define FADT_DSDT	    40
#define FADT_SCI_INT	    46
#define FADT_PM1A_CNT	    64
#define FADT_PM1B_CNT	    68
#define FADT_PM_TMR	    76
#define FADT_PM_TMR_LEN	    91
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS	    112
#define FADT_RESET_REG	    116
#define FADT_RESET_VALUE    128
#define FADT_X_DSDT	    140
#define FADT_X_PM1A_CNT	    172
#define FADT_X_PM1B_CNT	    184
#define FADT_X_PM_TMR	    208
#define GAS_LEN		    12

/* EBDA pointer and the BIOS read-only area (ACPI 6.5, 5.2.5.1). */
#define BDA_EBDA_SEGMENT 0x40e
#define EBDA_SCAN_LEN	 1024
#define BIOS_AREA	 0xe0000
#define BIOS_AREA_LEN	 0x20000

struct parser {
	struct acpi_info *out;
	acpi_map_fn map;
	void *ctx;
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static bool sum_ok(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return sum == 0;
}

static void read_gas(struct acpi_gas *g, const uint8_t *p)
{
	g->space_id = p[0];
	g->bit_width = p[1];
	g->bit_offset = p[2];
	g->access_size = p[3];
	g->address = rd64(p + 4);
}

/* A table signature fit for the log: 4 characters, unprintable ones as '?'. */
static void sig_str(char s[5], const uint8_t *p)
{
	for (int i = 0; i < 4; i++)
		s[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	s[4] = '\0';
}

static void vproblem(struct acpi_info *a, const char *fmt, va_list ap)
{
	if (a->nr_problems == ACPI_MAX_PROBLEMS) {
		a->problems_lost++;
		return;
	}
	vsnprintf(a->problems[a->nr_problems++], ACPI_PROBLEM_LEN, fmt, ap);
}

static void __attribute__((format(printf, 2, 3))) problem(struct acpi_info *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vproblem(a, fmt, ap);
	va_end(ap);
}

void acpi_problem(struct acpi_info *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vproblem(a, fmt, ap);
	va_end(ap);
}

/*
 * A whole table with signature sig (4 characters) at phys, checked.
 * Returns: the table, its length in *lenp, or NULL (problem recorded).
 */
static const uint8_t *get_table(struct parser *P, uint64_t phys, const char *sig, uint32_t *lenp)
{
	struct acpi_info *a = P->out;
	const uint8_t *t;
	uint32_t len;
	char got[5];

	t = P->map(phys, HDR_LEN, P->ctx);
	if (!t) {
		problem(a, "%s at 0x%llx: cannot map the header", sig, (unsigned long long)phys);
		return NULL;
	}
	if (memcmp(t, sig, 4) != 0) {
		sig_str(got, t);
		problem(a, "%s at 0x%llx: signature is '%s'", sig, (unsigned long long)phys, got);
		return NULL;
	}
	len = rd32(t + 4);
	if (len < HDR_LEN) {
		problem(a, "%s at 0x%llx: length %u is shorter than the header", sig,
			(unsigned long long)phys, len);
		return NULL;
	}
	if (len > ACPI_TABLE_MAX || phys + len < phys) {
		problem(a, "%s at 0x%llx: length %u is over the limit", sig,
			(unsigned long long)phys, len);
		return NULL;
	}
	t = P->map(phys, len, P->ctx);
	if (!t) {
		problem(a, "%s at 0x%llx: cannot map its %u bytes", sig, (unsigned long long)phys,
			len);
		return NULL;
	}
	if (!sum_ok(t, len)) {
		problem(a, "%s at 0x%llx: bad checksum", sig, (unsigned long long)phys);
		return NULL;
	}
	*lenp = len;
	return t;
}

/* Append to a bounded array, or count what did not fit. */
#define KEEP(arr, nr, dropped, max) ((nr) < (max) ? &(arr)[(nr)++] : ((dropped)++, NULL))

static bool parse_madt(struct parser *P, const uint8_t *t, uint32_t len, uint64_t phys)
{
	struct acpi_info *a = P->out;
	unsigned count = 0;
	uint32_t off;
	uint8_t elen = 0;

	if (len < MADT_FIXED) {
		problem(a, "APIC at 0x%llx: length %u is too short for a MADT",
			(unsigned long long)phys, len);
		return false;
	}
	a->lapic_address = rd32(t + 36);
	a->madt_flags = rd32(t + 40);

	/* Each pass either leaves the loop or steps by a checked elen >= 2. */
	for (off = MADT_FIXED; off < len; off += elen) {
		const uint8_t *e = t + off;
		uint8_t type, need;

		if (++count > ACPI_MAX_MADT_ENTRIES) {
			problem(a, "APIC: more than %u entries, the rest ignored",
				ACPI_MAX_MADT_ENTRIES);
			break;
		}
		if (len - off < 2) {
			problem(a, "APIC: stray byte at offset %u", off);
			break;
		}
		type = e[0];
		elen = e[1];
		if (elen < 2) {
			problem(a, "APIC: entry at offset %u has length %u, the rest ignored", off,
				elen);
			break;
		}
		if (elen > len - off) {
			problem(a, "APIC: entry type %u at offset %u runs past the end", type, off);
			break;
		}
		switch (type) {
		case MADT_LAPIC: need = 8; break;
		case MADT_IOAPIC: need = 12; break;
		case MADT_ISO: need = 10; break;
		case MADT_LAPIC_NMI: need = 6; break;
		case MADT_LAPIC_OVERRIDE: need = 12; break;
		case MADT_X2APIC: need = 16; break;
		default: continue; /* not ours */
		}
		if (elen < need) {
			problem(a, "APIC: entry type %u at offset %u is too short (%u)", type, off,
				elen);
			continue;
		}
		switch (type) {
		case MADT_LAPIC:
			if (rd32(e + 4) & LAPIC_ENABLED)
				a->nr_cpus++;
			break;
		case MADT_X2APIC:
			if (rd32(e + 8) & LAPIC_ENABLED)
				a->nr_cpus++;
			break;
		case MADT_IOAPIC: {
			struct acpi_ioapic *io =
				KEEP(a->ioapic, a->nr_ioapic, a->ioapic_dropped, ACPI_MAX_IOAPIC);
			if (io) {
				io->id = e[2];
				io->address = rd32(e + 4);
				io->gsi_base = rd32(e + 8);
			}
			break;
		}
		case MADT_ISO: {
			struct acpi_iso *iso =
				KEEP(a->iso, a->nr_iso, a->iso_dropped, ACPI_MAX_ISO);
			if (iso) {
				iso->bus = e[2];
				iso->source = e[3];
				iso->gsi = rd32(e + 4);
				iso->flags = rd16(e + 8);
			}
			break;
		}
		case MADT_LAPIC_NMI: {
			struct acpi_lapic_nmi *nmi =
				KEEP(a->nmi, a->nr_nmi, a->nmi_dropped, ACPI_MAX_NMI);
			if (nmi) {
				nmi->uid = e[2];
				nmi->flags = rd16(e + 3);
				nmi->lint = e[5];
			}
			break;
		}
		case MADT_LAPIC_OVERRIDE:
			a->lapic_address = rd64(e + 4);
			a->lapic_override = true;
			break;
		}
	}
	if (a->ioapic_dropped)
		problem(a, "APIC: %u IOAPICs, only %u kept", a->nr_ioapic + a->ioapic_dropped,
			ACPI_MAX_IOAPIC);
	if (a->iso_dropped)
		problem(a, "APIC: %u interrupt source overrides, only %u kept",
			a->nr_iso + a->iso_dropped, ACPI_MAX_ISO);
	if (a->nmi_dropped)
		problem(a, "APIC: %u LAPIC NMI entries, only %u kept", a->nr_nmi + a->nmi_dropped,
			ACPI_MAX_NMI);
	return true;
}

static bool parse_mcfg(struct parser *P, const uint8_t *t, uint32_t len, uint64_t phys)
{
	struct acpi_info *a = P->out;
	uint32_t n, rest;

	if (len < MCFG_FIXED) {
		problem(a, "MCFG at 0x%llx: length %u is too short", (unsigned long long)phys, len);
		return false;
	}
	n = (len - MCFG_FIXED) / MCFG_ENTRY;
	rest = (len - MCFG_FIXED) % MCFG_ENTRY;
	if (rest)
		problem(a, "MCFG: partial entry of %u bytes at the end ignored", rest);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = t + MCFG_FIXED + i * MCFG_ENTRY;
		struct acpi_mcfg *m;

		if (e[11] < e[10]) {
			problem(a, "MCFG: entry %u has buses %u-%u, ignored", i, e[10], e[11]);
			continue;
		}
		m = KEEP(a->mcfg, a->nr_mcfg, a->mcfg_dropped, ACPI_MAX_MCFG);
		if (!m) {
			a->mcfg_dropped += n - i - 1;
			problem(a, "MCFG: %u entries, only %u kept", a->nr_mcfg + a->mcfg_dropped,
				ACPI_MAX_MCFG);
			break;
		}
		m->base = rd64(e);
		m->segment = rd16(e + 8);
		m->bus_start = e[10];
		m->bus_end = e[11];
	}
	return true;
}

/* An I/O port from a 32-bit block, else from the X_ block when it is an I/O GAS. */
static uint32_t fadt_port(const uint8_t *t, uint32_t len, unsigned off32, unsigned off_x)
{
	struct acpi_gas g;
	uint32_t port = rd32(t + off32);

	if (port || len < off_x + GAS_LEN)
		return port;
	read_gas(&g, t + off_x);
	return (g.space_id == ACPI_GAS_IO && g.address <= 0xffff) ? (uint32_t)g.address : 0;
}

static bool parse_fadt(struct parser *P, const uint8_t *t, uint32_t len, uint64_t phys)
{
	struct acpi_info *a = P->out;
	struct acpi_fadt *f = &a->fadt;

	if (len < FADT_V1_LEN) {
		problem(a, "FACP at 0x%llx: length %u is too short for a FADT",
			(unsigned long long)phys, len);
		return false;
	}
	f->revision = t[8];
	f->flags = rd32(t + FADT_FLAGS);
	f->sci_int = rd16(t + FADT_SCI_INT);
	f->dsdt = rd32(t + FADT_DSDT);
	if (len >= FADT_X_DSDT + 8 && rd64(t + FADT_X_DSDT))
		f->dsdt = rd64(t + FADT_X_DSDT);
	f->pm1a_cnt = fadt_port(t, len, FADT_PM1A_CNT, FADT_X_PM1A_CNT);
	f->pm1b_cnt = fadt_port(t, len, FADT_PM1B_CNT, FADT_X_PM1B_CNT);
	f->pm_timer = fadt_port(t, len, FADT_PM_TMR, FADT_X_PM_TMR);
	if (f->pm_timer && rd32(t + FADT_PM_TMR) && t[FADT_PM_TMR_LEN] != 4) {
		problem(a, "FACP: PM timer length %u, timer ignored", t[FADT_PM_TMR_LEN]);
		f->pm_timer = 0;
	}
	/* Reserved in ACPI 1.0 (revision 1) FADTs. */
	if (f->revision >= 2) {
		f->iapc_boot_arch = rd16(t + FADT_IAPC_BOOT_ARCH);
		f->boot_arch_valid = true;
	}
	if ((f->flags & ACPI_FADT_RESET_REG_SUP) && len > FADT_RESET_VALUE) {
		read_gas(&f->reset_reg, t + FADT_RESET_REG);
		f->reset_value = t[FADT_RESET_VALUE];
		f->reset_supported = true;
	}
	return true;
}

static void parse_entry(struct parser *P, uint64_t phys)
{
	static const char *const sigs[] = {"APIC", "MCFG", "FACP"};
	struct acpi_info *a = P->out;
	bool *have[] = {&a->have_madt, &a->have_mcfg, &a->have_fadt};
	const uint8_t *h, *t;
	uint32_t len;
	unsigned k;

	h = P->map(phys, HDR_LEN, P->ctx);
	if (!h) {
		problem(a, "table at 0x%llx: cannot map the header", (unsigned long long)phys);
		return;
	}
	for (k = 0; k < 3; k++)
		if (memcmp(h, sigs[k], 4) == 0)
			break;
	if (k == 3)
		return; /* a table we do not read */
	if (*have[k]) {
		problem(a, "%s at 0x%llx: a second one, ignored", sigs[k],
			(unsigned long long)phys);
		return;
	}
	t = get_table(P, phys, sigs[k], &len);
	if (!t)
		return;
	switch (k) {
	case 0: *have[k] = parse_madt(P, t, len, phys); break;
	case 1: *have[k] = parse_mcfg(P, t, len, phys); break;
	case 2: *have[k] = parse_fadt(P, t, len, phys); break;
	}
}

enum rsdp_state { RSDP_BAD, RSDP_V1, RSDP_V2 };

/*
 * Check an RSDP: RSDP_V2 when the extended part is valid too, RSDP_V1
 * when only the first 20 bytes are (revision < 2, or a bad extended part:
 * *ext_bad then says why), RSDP_BAD otherwise.
 */
static enum rsdp_state check_rsdp(acpi_map_fn map, void *ctx, uint64_t phys, const char **ext_bad)
{
	const uint8_t *p = map(phys, RSDP_V1_LEN, ctx);
	uint32_t len;

	*ext_bad = NULL;
	if (!p || memcmp(p, "RSD PTR ", 8) != 0 || !sum_ok(p, RSDP_V1_LEN))
		return RSDP_BAD;
	if (p[15] < 2)
		return RSDP_V1;
	p = map(phys, RSDP_V2_LEN, ctx);
	if (!p) {
		*ext_bad = "cannot map the extended part";
		return RSDP_V1;
	}
	len = rd32(p + 20);
	if (len < RSDP_V2_LEN || len > RSDP_MAX) {
		*ext_bad = "bad length";
		return RSDP_V1;
	}
	p = map(phys, len, ctx);
	if (!p) {
		*ext_bad = "cannot map the extended part";
		return RSDP_V1;
	}
	if (!sum_ok(p, len)) {
		*ext_bad = "bad extended checksum";
		return RSDP_V1;
	}
	return RSDP_V2;
}

int acpi_parse(struct acpi_info *out, uint64_t rsdp_phys, acpi_map_fn map, void *ctx)
{
	struct parser P = {out, map, ctx};
	uint64_t rsdt, xsdt = 0, root = 0;
	enum rsdp_state st;
	const char *ext_bad;
	const uint8_t *p, *t = NULL;
	uint32_t len, n, esz;

	if (!out || !map)
		return -EINVAL;
	memset(out, 0, sizeof(*out));

	st = check_rsdp(map, ctx, rsdp_phys, &ext_bad);
	if (st == RSDP_BAD) {
		problem(out, "RSDP at 0x%llx: missing, unmappable or bad checksum",
			(unsigned long long)rsdp_phys);
		return -ENOENT;
	}
	p = map(rsdp_phys, st == RSDP_V2 ? RSDP_V2_LEN : RSDP_V1_LEN, ctx);
	if (!p)
		return -ENOENT; /* mapped a moment ago; a map function that changes its mind */
	out->revision = p[15];
	memcpy(out->oem_id, p + 9, 6);
	for (int i = 0; i < 6; i++)
		if (out->oem_id[i] < 0x20 || out->oem_id[i] > 0x7e)
			out->oem_id[i] = '?';
	rsdt = rd32(p + 16);
	if (st == RSDP_V2)
		xsdt = rd64(p + 24);
	else if (ext_bad)
		problem(out, "RSDP at 0x%llx: %s, using the RSDT", (unsigned long long)rsdp_phys,
			ext_bad);
	if (!rsdt && !xsdt) {
		problem(out, "RSDP at 0x%llx: no usable RSDT or XSDT address",
			(unsigned long long)rsdp_phys);
		return -ENOENT;
	}
	out->rsdp = rsdp_phys;

	if (xsdt) {
		t = get_table(&P, xsdt, "XSDT", &len);
		if (t) {
			out->xsdt = true;
			root = xsdt;
		} else if (rsdt) {
			problem(out, "XSDT unusable, using the RSDT");
		}
	}
	if (!t && rsdt) {
		t = get_table(&P, rsdt, "RSDT", &len);
		root = rsdt;
	}
	if (!t)
		return -EINVAL;
	out->root = root;

	esz = out->xsdt ? 8 : 4;
	n = (len - HDR_LEN) / esz;
	if ((len - HDR_LEN) % esz)
		problem(out, "%s: %u stray bytes at the end ignored", out->xsdt ? "XSDT" : "RSDT",
			(len - HDR_LEN) % esz);
	if (n > ACPI_MAX_ROOT_ENTRIES) {
		problem(out, "%s: %u entries, only the first %u read", out->xsdt ? "XSDT" : "RSDT",
			n, ACPI_MAX_ROOT_ENTRIES);
		n = ACPI_MAX_ROOT_ENTRIES;
	}
	out->nr_entries = n;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t addr = esz == 8 ? rd64(t + HDR_LEN + 8 * i) : rd32(t + HDR_LEN + 4 * i);

		if (addr == 0) {
			problem(out, "%s: entry %u is null", out->xsdt ? "XSDT" : "RSDT", i);
			continue;
		}
		parse_entry(&P, addr);
	}
	return 0;
}

int acpi_parse_dsdt(struct acpi_info *a, acpi_map_fn map, void *ctx)
{
	struct parser P = {a, map, ctx};
	const uint8_t *t;
	uint32_t len;

	if (!a || !map)
		return -EINVAL;
	a->have_dsdt = false;
	a->nr_pci_hosts = 0;
	a->pci_hosts_dropped = 0;
	if (!a->have_fadt || !a->fadt.dsdt)
		return -ENOENT;
	t = get_table(&P, a->fadt.dsdt, "DSDT", &len);
	if (!t)
		return -EINVAL;
	a->have_dsdt = true;
	acpi_aml_scan(a, t + HDR_LEN, len - HDR_LEN);
	return 0;
}

/* The first valid RSDP on a 16-byte boundary in [base, base + len), or 0. */
static uint64_t scan(acpi_map_fn map, void *ctx, uint64_t base, uint32_t len)
{
	const uint8_t *p = map(base, len, ctx);
	const char *ext_bad;

	if (!p)
		return 0;
	for (uint32_t off = 0; off + RSDP_V1_LEN <= len; off += 16) {
		if (memcmp(p + off, "RSD PTR ", 8) != 0)
			continue;
		if (check_rsdp(map, ctx, base + off, &ext_bad) == RSDP_BAD)
			continue;
		if (ext_bad)
			continue; /* revision >= 2 with a bad extended part */
		return base + off;
	}
	return 0;
}

uint64_t acpi_find_rsdp(acpi_map_fn map, void *ctx)
{
	const uint8_t *bda;
	uint64_t found = 0;

	if (!map)
		return 0;
	bda = map(BDA_EBDA_SEGMENT, 2, ctx);
	if (bda) {
		uint64_t ebda = (uint64_t)rd16(bda) << 4;

		/* Only a plausible EBDA: above the BDA, below the 640 KiB line. */
		if (ebda > 0x400 && ebda + EBDA_SCAN_LEN <= 0xa0000)
			found = scan(map, ctx, ebda, EBDA_SCAN_LEN);
	}
	if (!found)
		found = scan(map, ctx, BIOS_AREA, BIOS_AREA_LEN);
	return found;
}

uint32_t acpi_isa_irq_to_gsi(const struct acpi_info *a, uint8_t irq, uint16_t *flags)
{
	for (unsigned i = 0; i < a->nr_iso && i < ACPI_MAX_ISO; i++) {
		if (a->iso[i].bus == 0 && a->iso[i].source == irq) {
			if (flags)
				*flags = a->iso[i].flags;
			return a->iso[i].gsi;
		}
	}
	if (flags)
		*flags = 0;
	return irq;
}

uint16_t acpi_inti_resolve(uint16_t flags, enum acpi_bus bus)
{
	unsigned pol = ACPI_POLARITY(flags), trig = ACPI_TRIGGER(flags);

	if (pol != ACPI_POLARITY_HIGH && pol != ACPI_POLARITY_LOW)
		pol = bus == ACPI_BUS_PCI ? ACPI_POLARITY_LOW : ACPI_POLARITY_HIGH;
	if (trig != ACPI_TRIGGER_EDGE && trig != ACPI_TRIGGER_LEVEL)
		trig = bus == ACPI_BUS_PCI ? ACPI_TRIGGER_LEVEL : ACPI_TRIGGER_EDGE;
	return (uint16_t)(pol | trig << 2);
}
