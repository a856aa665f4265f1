/*
 * PCI configuration space registers (PCI Local Bus Specification 3.0,
 * section 6; PCI-to-PCI Bridge Architecture 1.2, section 3.2).
 */
#ifndef PCI_PCI_REGS_H
#define PCI_PCI_REGS_H

/* Common header (type 0 and 1) */
#define PCI_VENDOR_ID	   0x00
#define PCI_DEVICE_ID	   0x02
#define PCI_COMMAND	   0x04
#define PCI_STATUS	   0x06
#define PCI_REVISION	   0x08
#define PCI_PROG_IF	   0x09
#define PCI_SUBCLASS	   0x0a
#define PCI_CLASS	   0x0b
#define PCI_HEADER_TYPE	   0x0e
#define PCI_BAR0	   0x10
#define PCI_CAP_PTR	   0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN  0x3d

/* Type 0 (endpoint) */
#define PCI_SUBSYS_VENDOR_ID 0x2c
#define PCI_SUBSYS_ID	     0x2e

/* Type 1 (PCI-to-PCI bridge) */
#define PCI_PRIMARY_BUS	     0x18
#define PCI_SECONDARY_BUS    0x19
#define PCI_SUBORDINATE_BUS  0x1a
#define PCI_IO_BASE	     0x1c
#define PCI_IO_LIMIT	     0x1d
#define PCI_MEM_BASE	     0x20
#define PCI_MEM_LIMIT	     0x22
#define PCI_PREF_MEM_BASE    0x24
#define PCI_PREF_MEM_LIMIT   0x26
#define PCI_PREF_BASE_UPPER  0x28
#define PCI_PREF_LIMIT_UPPER 0x2c
#define PCI_IO_BASE_UPPER    0x30
#define PCI_IO_LIMIT_UPPER   0x32
#define PCI_BRIDGE_CONTROL   0x3e

#define PCI_HEADER_TYPE_MASK	 0x7f
#define PCI_HEADER_MULTIFUNCTION 0x80
#define PCI_HEADER_NORMAL	 0
#define PCI_HEADER_BRIDGE	 1
#define PCI_HEADER_CARDBUS	 2

#define PCI_COMMAND_IO		 0x0001
#define PCI_COMMAND_MEMORY	 0x0002
#define PCI_COMMAND_MASTER	 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_CAP_LIST 0x0010

/* Bridge windows (PCI-to-PCI Bridge Architecture 1.2, 3.2.5.6-9) */
#define PCI_IO_RANGE_TYPE_MASK	   0x0f
#define PCI_IO_RANGE_TYPE_32	   0x01
#define PCI_IO_RANGE_MASK	   0xf0	  /* address bits 15:12 */
#define PCI_MEM_RANGE_MASK	   0xfff0 /* address bits 31:20 */
#define PCI_PREF_RANGE_TYPE_MASK   0x000f
#define PCI_PREF_RANGE_TYPE_64	   0x0001
#define PCI_IO_WINDOW_GRANULARITY  0x1000
#define PCI_MEM_WINDOW_GRANULARITY 0x100000

/* BARs (6.2.5.1) */
#define PCI_BAR_SPACE_IO      0x1
#define PCI_BAR_MEM_TYPE_MASK 0x6
#define PCI_BAR_MEM_TYPE_32   0x0
#define PCI_BAR_MEM_TYPE_1M   0x2 /* legacy: below 1 MiB */
#define PCI_BAR_MEM_TYPE_64   0x4
#define PCI_BAR_MEM_PREFETCH  0x8
#define PCI_BAR_IO_MASK	      0xfffffffcu
#define PCI_BAR_MEM_MASK      0xfffffff0u

/* Capability IDs (PCI Code and ID Assignment Specification, section 2) */
#define PCI_CAP_ID_PM	0x01
#define PCI_CAP_ID_MSI	0x05
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_EXP	0x10
#define PCI_CAP_ID_MSIX 0x11

/* MSI-X capability (6.8.2.1) and table entries (6.8.2.6-9) */
#define PCI_MSIX_FLAGS	       2
#define PCI_MSIX_FLAGS_QSIZE   0x07ff
#define PCI_MSIX_FLAGS_MASKALL 0x4000
#define PCI_MSIX_FLAGS_ENABLE  0x8000
#define PCI_MSIX_TABLE	       4
#define PCI_MSIX_BIR_MASK      0x7
#define PCI_MSIX_ENTRY_SIZE    16
#define PCI_MSIX_ENTRY_ADDR_LO 0
#define PCI_MSIX_ENTRY_ADDR_HI 4
#define PCI_MSIX_ENTRY_DATA    8
#define PCI_MSIX_ENTRY_CTRL    12
#define PCI_MSIX_ENTRY_MASKED  0x1

/* Class codes used by the boot log */
#define PCI_CLASS_BRIDGE	0x06
#define PCI_SUBCLASS_BRIDGE_PCI 0x04

#endif
