/*
 * Xen PVH start info, the structure QEMU's PVH loader passes in %ebx
 * (xen/include/public/arch-x86/hvm/start_info.h, version 1).
 */
#ifndef BOOT_PVH_H
#define BOOT_PVH_H

#include <stddef.h>
#include <stdint.h>

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	/* version >= 1 */
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "start_info v1 size");
_Static_assert(offsetof(struct hvm_start_info, cmdline_paddr) == 24, "cmdline");
_Static_assert(offsetof(struct hvm_start_info, rsdp_paddr) == 32, "rsdp");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40, "memmap");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 48, "entries");

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* E820 type */
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap entry");

#endif
