/*
 * The PCI bus: configuration access, enumeration (behind bridges, every
 * function), BAR decoding and sizing, capability walks, and drivers
 * matched by vendor/device or class. The bus knows nothing of any device
 * type; drivers register a table of IDs and a probe function.
 *
 * The enumeration core (drivers/pci/pci.c) is portable: it reaches
 * configuration space only through struct pci_cfg_ops, so the host tests
 * run it over a simulated topology. drivers/pci/pci_x86.c supplies ECAM
 * (from the ACPI MCFG) or the CF8/CFC mechanism.
 */
#ifndef PCI_PCI_H
#define PCI_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include <pci/pci_regs.h>

struct pci_cfg_ops {
	/* size is 1, 2 or 4; off is aligned to it. All-ones for no device. */
	uint32_t (*read)(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off,
			 unsigned size);
	void (*write)(void *ctx, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, unsigned size,
		      uint32_t val);
	void *ctx;
	uint16_t cfg_size; /* 256 (CF8) or 4096 (ECAM) */
};

enum pci_bar_type { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
	uint64_t addr; /* as programmed; 0 = not assigned */
	uint64_t size; /* 0 = not implemented */
	enum pci_bar_type type;
	bool prefetch;
};

/* An address range, inclusive; base > limit is empty. */
struct pci_range {
	uint64_t base, limit;
};

/* The windows a PCI-to-PCI bridge forwards (PCI-to-PCI Bridge Architecture 1.2, 3.2.5.6-9). */
enum pci_win { PCI_WIN_IO, PCI_WIN_MEM, PCI_WIN_PREF, PCI_NR_WIN };

struct pci_driver;

struct pci_dev {
	struct pci_dev *next; /* enumeration order */
	const struct pci_cfg_ops *cfg;
	uint8_t bus, dev, fn;
	uint8_t header_type; /* without the multifunction bit */
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys_id;
	uint8_t class_code, subclass, prog_if, revision;
	uint8_t irq_pin, irq_line;
	struct pci_bar bar[6];
	uint8_t secondary, subordinate; /* bridges: the buses behind */
	struct pci_dev *upstream;	/* the bridge above, NULL on bus 0 */
	/* Bridges: the windows as programmed (closed: base > limit, or decoding off). */
	struct pci_range window[PCI_NR_WIN];
	bool has_io_window, has_pref_window; /* implemented (the memory window always is) */
	bool pref64;			     /* the prefetchable window has 64-bit registers */
	/* Resources could not be assigned: decoding is off and no driver is probed. */
	bool disabled;
	const struct pci_driver *driver;
	void *drvdata;
	/* MSI-X, once pci_msix_enable succeeded */
	uint8_t msix_cap;
	uint16_t msix_size;
	volatile uint32_t *msix_table;
};

struct pci_id {
	uint16_t vendor, device;	 /* PCI_ANY for any */
	uint32_t class_mask, class_code; /* matched on (class << 16 | subclass << 8 | prog_if) */
};
#define PCI_ANY 0xffff
#define PCI_DEVICE(v, d)       \
	{                      \
		(v), (d), 0, 0 \
	}

struct pci_driver {
	const char *name;
	const struct pci_id *ids; /* ends with an all-zero entry */
	/*
	 * probe - take the device. Returns: 0, -ENODEV to decline it (logged by
	 * the driver), or another negative errno (logged by the bus).
	 */
	int (*probe)(struct pci_dev *pdev, const struct pci_id *id);
};

/* Config access for one device. */
uint8_t pci_read8(const struct pci_dev *d, uint16_t off);
uint16_t pci_read16(const struct pci_dev *d, uint16_t off);
uint32_t pci_read32(const struct pci_dev *d, uint16_t off);
void pci_write8(const struct pci_dev *d, uint16_t off, uint8_t v);
void pci_write16(const struct pci_dev *d, uint16_t off, uint16_t v);
void pci_write32(const struct pci_dev *d, uint16_t off, uint32_t v);

/*
 * pci_find_cap - offset of the first capability with this ID after start
 * (0 = from the beginning). The walk is bounded: it stops at a pointer
 * below 0x40, a loop, or 48 entries (at most (256 - 64) / 4 fit).
 * Returns: the offset, or 0 if there is none.
 */
uint8_t pci_find_cap(const struct pci_dev *d, uint8_t id, uint8_t start);

/*
 * pci_cap_list - offsets of the capabilities, in list order, at most max,
 * with the same bounds as pci_find_cap. Returns: how many.
 */
int pci_cap_list(const struct pci_dev *d, uint8_t *pos_out, int max);

/*
 * pci_enumerate - scan every bus reachable from bus 0 through bridges
 * (numbering unnumbered bridges), every function of multi-function
 * devices, and size every BAR (decoding is turned off while sizing).
 * Returns: the device list (NULL if none); *count the number of devices.
 */
struct pci_dev *pci_enumerate(const struct pci_cfg_ops *cfg, unsigned *count);

/* pci_free_list - free what pci_enumerate returned. */
void pci_free_list(struct pci_dev *list);

/* pci_enable - turn on memory/I-O decoding (for the BARs it has) and bus mastering. */
void pci_enable(struct pci_dev *d);

/* What the host bridge forwards, and what must never be handed out. */
#define PCI_MAX_WINDOWS	 16
#define PCI_MAX_RESERVED 64

struct pci_window {
	uint64_t base, limit; /* inclusive, CPU = bus addresses */
	bool io;	      /* I/O ports, else memory (split at 4 GiB as needed) */
};

struct pci_resources {
	unsigned nr_windows;
	struct pci_window window[PCI_MAX_WINDOWS];
	/* New assignments start at or above these; firmware's may sit lower in a window. */
	uint64_t io_floor, mem_floor;
	unsigned nr_reserved; /* RAM, firmware, ECAM, APICs: never given to a BAR firmware left */
	struct pci_range reserved[PCI_MAX_RESERVED];
};

typedef void (*pci_log_fn)(void *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * pci_assign_resources - give every BAR firmware left unassigned (address
 * 0, outside every window, or overlapping another) space from the host
 * windows, naturally aligned, clear of firmware-assigned BARs and of the
 * reserved ranges; program the windows of the bridges above them; enable
 * decoding and bus mastering of the devices it configured.
 *
 * Firmware-assigned BARs in a window and clear of each other are kept
 * (reserved ranges bind only new assignments), as is a bridge subtree whose
 * windows firmware programmed to cover every BAR behind it; any other
 * bridge subtree is assigned afresh, depth-first: window sizes rounded to
 * 1 MiB (memory) and 4 KiB (I/O), the prefetchable window above 4 GiB
 * when everything in it is 64-bit. 64-bit prefetchable BARs prefer the
 * windows above 4 GiB, everything else those below. A device whose BAR
 * does not fit is left with decoding off and marked disabled (an error is
 * logged); an I/O BAR with no I/O window on its path (microvm has no port
 * space) is left unassigned, with a notice, and the device works through
 * its memory BARs. One line is logged per assignment, and a summary.
 * Returns: the number of devices left disabled, or -ENOMEM.
 */
int pci_assign_resources(struct pci_dev *list, const struct pci_resources *res, pci_log_fn log,
			 void *log_ctx);

/* A name for the log: from a small table of known IDs, else the class. */
const char *pci_dev_name(const struct pci_dev *d);

/*
 * MSI-X (PCI 3.0, 6.8.2), kernel side: map the table, mask every entry and
 * enable. Returns: the number of table entries, or -ENODEV (no capability,
 * table BAR unusable).
 */
int pci_msix_enable(struct pci_dev *d);
/* pci_msix_route - entry -> this CPU's vector, unmasked. Returns: 0, -EINVAL. */
int pci_msix_route(struct pci_dev *d, unsigned entry, int vector);
/* pci_msix_disable - MSI-X off again (the function falls back to INTx/none). */
void pci_msix_disable(struct pci_dev *d);

/* The kernel's bus (drivers/pci/pci_x86.c). */
extern struct pci_dev *pci_devices;
void pci_init(void);
/* pci_register_driver - probe matching devices now and keep the driver for later ones. */
int pci_register_driver(const struct pci_driver *drv);

#define for_each_pci_dev(d) for (struct pci_dev *d = pci_devices; d; d = d->next)

/*
 * PCI INTx interrupts, kernel side (drivers/pci/pci_intx.c), over the GSI
 * lines of include/arch/x86_64/irq.h.
 *
 * How the GSI is found: the Interrupt Pin register (0x3d) says which of
 * INTA#-INTD# the function uses; the Interrupt Line register (0x3c) holds
 * the ISA IRQ (0-15) the firmware routed that pin to (SeaBIOS and OVMF on
 * QEMU's pc and q35 program the PIIX3/ICH9 PIRQ routers and write it,
 * bridge swizzling included). That IRQ goes through the MADT's interrupt
 * source overrides like an ISA IRQ, giving the GSI (the same number when
 * no override names the IRQ) and the polarity (PCI's active low when the
 * override has none or "conforms to the bus"). The trigger is always
 * level, as INTx is (PCI 3.0, 2.2.6); an override saying edge is logged
 * and overruled. QEMU's pc and q35 MADTs override IRQs 5, 9, 10 and 11 as
 * level, active high.
 *
 * Limits: no AML, so no _PRT and no link devices. An Interrupt Line of 0
 * or 0xff (nothing routed: microvm, or firmware that leaves it to the OS)
 * or above 15 is refused with -ENODEV rather than guessed. The method
 * relies on the routed PIRQ reaching the IOAPIC pin of that ISA IRQ, which
 * QEMU's PIIX3 and ICH9 models do (ICH9 also drives GSI 16 + PIRQ, which a
 * _PRT would name); real chipsets may wire PIRQs only to IOAPIC pins
 * 16-23 in APIC mode, where this is wrong. MSI or MSI-X must be off: a
 * function with either enabled does not signal INTx.
 */

/*
 * pci_intx_gsi - the GSI and IRQ_* trigger/polarity flags of the function's
 * INTx pin, found as above (flags may be NULL). Logs why when it fails.
 * Returns: 0, or -ENODEV (no pin, no firmware routing, no MADT/IOAPIC).
 */
int pci_intx_gsi(const struct pci_dev *d, uint32_t *gsi, unsigned *flags);

/*
 * pci_intx_request - run fn(arg) on the function's INTx interrupt: a
 * shared, level-triggered handler on its GSI; then the Command register's
 * INTx Disable bit is cleared. fn must make the function deassert INTx
 * (read and acknowledge its interrupt status) and return quietly when the
 * interrupt is not its own: other functions share the line. Logs
 * "pci BB:DD.F: INTx pin A -> GSI N (level, active high)". Not from an
 * interrupt handler.
 * Returns: 0; -ENODEV (see pci_intx_gsi); -EBUSY (MSI or MSI-X is enabled,
 * or the GSI is in use in another mode); -ENOSPC (too many requests); or
 * an error of irq_request_gsi().
 */
int pci_intx_request(struct pci_dev *d, void (*fn)(void *arg), void *arg);

/*
 * pci_intx_release - undo pci_intx_request(d, fn, arg); the function's last
 * one sets INTx Disable again. Returns: 0, or -ENOENT.
 */
int pci_intx_release(struct pci_dev *d, void (*fn)(void *arg), void *arg);

#endif
