/*
 * ACPI tables, read-only and "just what we need" (ACPI 6.5 chapter 5):
 * the RSDP, the RSDT/XSDT, the MADT (local APIC, IOAPICs, interrupt
 * source overrides, LAPIC NMIs, CPU count), the MCFG (PCIe ECAM windows)
 * and the FADT (PM1 control blocks, PM timer, reset register, DSDT,
 * IAPC_BOOT_ARCH). From the DSDT, a bounded read-only AML scan (no
 * interpreter, drivers/acpi/acpi_aml.c) takes the PCI host bridges: bus range,
 * address windows (_CRS) and ECAM base (_CBA).
 *
 * Every table is checked (signature, length, checksum) before any of it
 * is used, and only bytes inside its validated length are read. A bad
 * table is skipped and recorded in acpi_info.problems, never trusted.
 * Portable: host-tested with the kernel's own source. Physical memory is
 * reached only through the caller's map function.
 */
#ifndef ACPI_ACPI_H
#define ACPI_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_IOAPIC	      16
#define ACPI_MAX_ISO	      32 /* interrupt source overrides */
#define ACPI_MAX_NMI	      16 /* local APIC NMI entries */
#define ACPI_MAX_MCFG	      8
#define ACPI_MAX_ROOT_ENTRIES 256      /* RSDT/XSDT entries looked at */
#define ACPI_MAX_MADT_ENTRIES 4096     /* MADT entries looked at */
#define ACPI_TABLE_MAX	      0x100000 /* larger tables are rejected (1 MiB) */
#define ACPI_MAX_PROBLEMS     8
#define ACPI_MAX_PCI_HOSTS    4	 /* PCI host bridges kept from the DSDT */
#define ACPI_MAX_WINDOWS      12 /* address windows kept per host bridge */
#define ACPI_PATH_LEN	      40 /* "\\_SB.PCI0" and the like, truncated */
#define ACPI_MAX_VIRTIO_MMIO  32 /* virtio-mmio transports kept from the DSDT */
#define ACPI_PROBLEM_LEN      96

/* Generic Address Structure address spaces (ACPI 6.5, 5.2.3.2). */
#define ACPI_GAS_MEMORY 0
#define ACPI_GAS_IO	1
#define ACPI_GAS_PCI	2

/* FADT flags (Table 5.10). */
#define ACPI_FADT_TMR_VAL_EXT	  (1u << 8)  /* the PM timer is 32 bits wide */
#define ACPI_FADT_RESET_REG_SUP	  (1u << 10) /* RESET_REG/RESET_VALUE are valid */
#define ACPI_FADT_HW_REDUCED_ACPI (1u << 20) /* no PM1 blocks, no PM timer */

/* IAPC_BOOT_ARCH flags (Table 5.11). */
#define ACPI_BOOT_LEGACY_DEVICES    (1u << 0)
#define ACPI_BOOT_8042		    (1u << 1)
#define ACPI_BOOT_VGA_NOT_PRESENT   (1u << 2)
#define ACPI_BOOT_MSI_NOT_SUPPORTED (1u << 3)
#define ACPI_BOOT_PCIE_ASPM	    (1u << 4)
#define ACPI_BOOT_CMOS_RTC_ABSENT   (1u << 5)

/* MPS INTI flags of overrides and NMI entries (Table 5.26). */
#define ACPI_POLARITY(flags)   ((flags)&3)
#define ACPI_TRIGGER(flags)    (((flags) >> 2) & 3)
#define ACPI_POLARITY_CONFORMS 0 /* to the bus: ISA active high */
#define ACPI_POLARITY_HIGH     1
#define ACPI_POLARITY_LOW      3
#define ACPI_TRIGGER_CONFORMS  0 /* to the bus: ISA edge */
#define ACPI_TRIGGER_EDGE      1
#define ACPI_TRIGGER_LEVEL     3

struct acpi_gas {
	uint8_t space_id; /* ACPI_GAS_* */
	uint8_t bit_width, bit_offset, access_size;
	uint64_t address;
};

struct acpi_ioapic {
	uint8_t id;
	uint32_t address;
	uint32_t gsi_base;
};

/* Interrupt source override: bus IRQ source is wired to GSI gsi. */
struct acpi_iso {
	uint8_t bus; /* 0: ISA */
	uint8_t source;
	uint32_t gsi;
	uint16_t flags; /* ACPI_POLARITY/ACPI_TRIGGER */
};

struct acpi_lapic_nmi {
	uint8_t uid; /* ACPI processor UID, 0xff: every processor */
	uint16_t flags;
	uint8_t lint; /* LINT0 or LINT1 */
};

/* One PCIe ECAM window. */
struct acpi_mcfg {
	uint64_t base; /* ECAM address of bus 0 of the segment, as the table says */
	uint16_t segment;
	uint8_t bus_start, bus_end;
};

/* What a host bridge window carries (_CRS Resource Type, ACPI 6.5 Table 6.50). */
enum acpi_window_kind { ACPI_WINDOW_MEM, ACPI_WINDOW_IO, ACPI_WINDOW_BUS };

/*
 * One range a host bridge forwards to PCI: a producer Word/DWord/QWord/
 * Extended Address Space descriptor of its _CRS. Inclusive bounds, with
 * no translation (descriptors with a translation offset are skipped).
 */
struct acpi_window {
	uint64_t min, max;
	enum acpi_window_kind kind;
	bool prefetch; /* memory, _MEM = prefetchable */
};

/* A PCI host bridge of the DSDT (_HID or _CID PNP0A08 or PNP0A03). */
struct acpi_pci_host {
	char path[ACPI_PATH_LEN]; /* absolute, for the log: "\\_SB.PCI0" */
	uint16_t segment;	  /* _SEG, 0 without one */
	uint8_t bus_start;	  /* the _CRS bus range, else _BBN-255 */
	uint8_t bus_end;
	bool have_crs;	/* a _CRS resource template was found and read */
	bool have_bus;	/* bus_start/bus_end came from the _CRS */
	bool have_ecam; /* _CBA: a constant, as a Name or a Method returning it */
	uint64_t ecam;	/* ECAM address of bus 0 (as the MCFG gives it) */
	unsigned nr_windows, windows_dropped;
	struct acpi_window window[ACPI_MAX_WINDOWS]; /* in _CRS order, bus ranges excluded */
};

/*
 * A virtio-mmio transport of the DSDT (_HID "LNRO0005", the ID Linux and
 * QEMU use): its _CRS fixed memory range and interrupt.
 */
struct acpi_virtio_mmio {
	uint64_t base, size; /* Memory32Fixed (6.4.3.4); size 0: none */
	uint32_t gsi;	     /* Extended Interrupt (6.4.3.6) or IRQ (6.4.2.1) */
	bool have_irq;
	uint16_t irq_flags; /* ACPI_POLARITY/ACPI_TRIGGER (MPS INTI encoding) */
};

struct acpi_fadt {
	uint8_t revision;
	uint32_t flags; /* ACPI_FADT_* */
	uint16_t sci_int;
	uint16_t iapc_boot_arch;     /* ACPI_BOOT_*; valid when boot_arch_valid */
	bool boot_arch_valid;	     /* FADT revision >= 2 */
	uint32_t pm1a_cnt, pm1b_cnt; /* I/O ports, 0 when absent */
	uint32_t pm_timer;	     /* I/O port, 0 when absent */
	uint64_t dsdt;		     /* X_DSDT when present and non-zero, else DSDT */
	bool reset_supported;	     /* reset_reg and reset_value are valid */
	struct acpi_gas reset_reg;
	uint8_t reset_value;
};

struct acpi_info {
	/* RSDP and root table. */
	uint64_t rsdp;	  /* physical address, 0 if none was valid */
	uint8_t revision; /* of the RSDP */
	char oem_id[7];
	uint64_t root;	     /* the RSDT or XSDT used */
	bool xsdt;	     /* root is an XSDT */
	unsigned nr_entries; /* root entries looked at */

	/* MADT. */
	bool have_madt;
	uint64_t lapic_address;
	bool lapic_override; /* from a 64-bit override entry (type 5) */
	uint32_t madt_flags; /* bit 0: PCAT_COMPAT, dual 8259s present */
	unsigned nr_cpus;    /* enabled processor local (x2)APIC entries */
	unsigned nr_ioapic, nr_iso, nr_nmi;
	unsigned ioapic_dropped, iso_dropped, nmi_dropped; /* did not fit */
	struct acpi_ioapic ioapic[ACPI_MAX_IOAPIC];
	struct acpi_iso iso[ACPI_MAX_ISO];
	struct acpi_lapic_nmi nmi[ACPI_MAX_NMI];

	/* MCFG. */
	bool have_mcfg;
	unsigned nr_mcfg, mcfg_dropped;
	struct acpi_mcfg mcfg[ACPI_MAX_MCFG];

	/* FADT. */
	bool have_fadt;
	struct acpi_fadt fadt;

	/* DSDT (acpi_parse_dsdt): the PCI host bridges, in AML order. */
	bool have_dsdt;
	unsigned nr_pci_hosts, pci_hosts_dropped;
	struct acpi_pci_host pci_host[ACPI_MAX_PCI_HOSTS];
	/* ... and the virtio-mmio transports (LNRO0005), in AML order. */
	unsigned nr_virtio_mmio, virtio_mmio_dropped;
	struct acpi_virtio_mmio virtio_mmio[ACPI_MAX_VIRTIO_MMIO];

	/* What was skipped or looked wrong, one line each, for the boot log. */
	unsigned nr_problems;
	unsigned problems_lost; /* beyond ACPI_MAX_PROBLEMS */
	char problems[ACPI_MAX_PROBLEMS][ACPI_PROBLEM_LEN];
};

/*
 * How the parser reaches firmware memory: a pointer to len readable bytes
 * at physical address phys, or NULL. A returned pointer stays valid until
 * the parser returns.
 */
typedef const void *(*acpi_map_fn)(uint64_t phys, size_t len, void *ctx);

/*
 * acpi_parse - read the tables reached from the RSDP at rsdp_phys into out
 * (which is cleared first). The XSDT is used when the RSDP revision is >= 2
 * and its address is non-zero; the RSDT when not, or when the XSDT or the
 * extended RSDP checksum is bad.
 * Returns: 0 (possibly with problems recorded and tables missing),
 * -ENOENT if there is no valid RSDP at rsdp_phys, -EINVAL if neither root
 * table is valid (or a NULL argument).
 */
int acpi_parse(struct acpi_info *out, uint64_t rsdp_phys, acpi_map_fn map, void *ctx);

/*
 * acpi_parse_dsdt - read the DSDT the FADT points at (checked like every
 * table) and scan its AML for PCI host bridges into a->pci_host. Call
 * after acpi_parse succeeded; a missing or bad DSDT is a problem recorded
 * in a, never fatal.
 * Returns: 0, or -ENOENT (no FADT or no DSDT address), -EINVAL (the DSDT
 * is unusable).
 */
int acpi_parse_dsdt(struct acpi_info *a, acpi_map_fn map, void *ctx);

/*
 * acpi_aml_scan - find the PCI host bridges in an AML byte stream (a DSDT
 * or SSDT body, after the 36-byte header) without interpreting it: the
 * namespace structure (Scope, Device, Name, Method, ...) is followed with
 * every length checked against its enclosing package, objects inside
 * conditionals and methods are not looked at (a Method _CBA whose body is
 * "Return (constant)" is the one exception), and an opcode the scan does
 * not know ends the enclosing scope (a problem is recorded). Bounded by
 * len, a nesting depth of 16 and 2^20 objects. Host bridges are appended
 * to a->pci_host.
 */
void acpi_aml_scan(struct acpi_info *a, const uint8_t *aml, size_t len);

/*
 * acpi_parse_crs - read a resource template (ACPI 6.5, 6.4) into h: the
 * bus range and the producer address windows. Descriptors are walked up
 * to the End Tag or len; one that runs past the end stops the walk, one
 * that is malformed is skipped, each with a problem recorded in a.
 * Returns: the number of windows kept.
 */
unsigned acpi_parse_crs(struct acpi_info *a, struct acpi_pci_host *h, const uint8_t *res,
			size_t len);

/*
 * acpi_parse_mmio_crs - read a virtio-mmio device's resource template into
 * m: the first Memory32Fixed range and the first interrupt (Extended
 * Interrupt or IRQ descriptor), its trigger and polarity as MPS INTI flags.
 * Bounded by len like acpi_parse_crs. Returns: 0 when a memory range was found.
 */
int acpi_parse_mmio_crs(struct acpi_virtio_mmio *m, const uint8_t *res, size_t len);

/* acpi_problem - record a problem for the boot log (bounded, see problems[]). */
void acpi_problem(struct acpi_info *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * acpi_find_rsdp - the BIOS-area scan: the first KiB of the EBDA (whose
 * segment is the word at 0x40e), then 0xe0000-0xfffff, on 16-byte
 * boundaries. A candidate needs the signature, a good 20-byte checksum
 * and, for revision >= 2, a good extended checksum.
 * Returns: the RSDP's physical address, or 0.
 */
uint64_t acpi_find_rsdp(acpi_map_fn map, void *ctx);

/*
 * acpi_isa_irq_to_gsi - the GSI an ISA IRQ arrives on, after the
 * overrides (identity when none applies). flags, if not NULL, receives the
 * override's polarity/trigger flags (0, "conforms", without one).
 */
uint32_t acpi_isa_irq_to_gsi(const struct acpi_info *a, uint8_t irq, uint16_t *flags);

/* The bus an interrupt comes from, for what "conforms to the bus" means. */
enum acpi_bus {
	ACPI_BUS_ISA, /* edge-triggered, active high */
	ACPI_BUS_PCI, /* level-triggered, active low (PCI 3.0, 2.2.6) */
};

/*
 * acpi_inti_resolve - MPS INTI flags (Table 5.26) with each field that
 * "conforms to the specifications of the bus" (0), or holds the reserved
 * value 2, replaced by the convention of bus. Other bits are dropped.
 * Returns: flags whose ACPI_POLARITY is ACPI_POLARITY_HIGH or
 * ACPI_POLARITY_LOW and whose ACPI_TRIGGER is ACPI_TRIGGER_EDGE or
 * ACPI_TRIGGER_LEVEL.
 */
uint16_t acpi_inti_resolve(uint16_t flags, enum acpi_bus bus);

/* Kernel side (drivers/acpi/acpi_init.c). */
struct boot_info;
extern struct acpi_info acpi;
/* acpi_init - find and parse the tables into acpi and log what was found. */
void acpi_init(const struct boot_info *bi);

#endif
