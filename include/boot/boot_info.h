/*
 * struct boot_info: what every boot path (PVH, UEFI) hands to kernel_main.
 * After this point the kernel cannot tell how it was booted, except for
 * the protocol name it prints once.
 */
#ifndef BOOT_BOOT_INFO_H
#define BOOT_BOOT_INFO_H

#include <stdint.h>

#define BOOT_CMDLINE_MAX 1024
#define BOOT_MEM_MAX	 128

#define BOOT_TRUNC_CMDLINE 1
#define BOOT_TRUNC_MEM	   2

/* Memory range types, E820 numbering (ACPI 6.5, 15.1). */
enum boot_mem_type {
	BOOT_MEM_RAM = 1,
	BOOT_MEM_RESERVED = 2,
	BOOT_MEM_ACPI = 3, /* ACPI tables; reclaimable after parsing */
	BOOT_MEM_NVS = 4,
	BOOT_MEM_UNUSABLE = 5,
};

struct boot_mem_range {
	uint64_t base;
	uint64_t len;
	uint32_t type; /* enum boot_mem_type */
};

struct boot_framebuffer {
	uint64_t base;		       /* 0 when there is none */
	uint32_t width, height, pitch; /* pitch in bytes */
	uint32_t bpp;
};

struct boot_info {
	const char *protocol; /* "PVH" or "UEFI" */
	char cmdline[BOOT_CMDLINE_MAX];
	uint32_t truncated; /* BOOT_TRUNC_*: what did not fit above/below */
	uint64_t rsdp;	    /* ACPI RSDP physical address, 0 if unknown */
	uint32_t nr_mem;
	struct boot_mem_range mem[BOOT_MEM_MAX];
	struct boot_framebuffer fb;
	uint64_t tsc_loader; /* TSC when the boot loader started (UEFI), 0 if unknown */
};

/* Common kernel entry, called by every boot path with a filled boot_info. */
void kernel_main(struct boot_info *bi) __attribute__((noreturn));

#endif
