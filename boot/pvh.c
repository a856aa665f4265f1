/*
 * PVH boot: turn QEMU's hvm_start_info into struct boot_info. Everything
 * is copied out (command line, memory map), so nothing the loader placed
 * in memory needs to survive once the allocators start.
 */
#include <string.h>

#include <boot/boot_info.h>
#include <boot/pvh.h>
#include <kernel/kernel.h>

static struct boot_info pvh_boot_info;

void pvh_start(const struct hvm_start_info *si);

void pvh_start(const struct hvm_start_info *si)
{
	struct boot_info *bi = &pvh_boot_info;

	bi->protocol = "PVH";
	bi->rsdp = si->rsdp_paddr;
	if (si->cmdline_paddr) {
		const char *cl = (const char *)(uintptr_t)si->cmdline_paddr;

		size_t len = strnlen(cl, sizeof(bi->cmdline));

		if (len == sizeof(bi->cmdline)) {
			bi->truncated |= BOOT_TRUNC_CMDLINE;
			len--;
		}
		memcpy(bi->cmdline, cl, len);
		bi->cmdline[len] = '\0';
	}
	if (si->version >= 1 && si->memmap_paddr) {
		const struct hvm_memmap_table_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
		uint32_t n = si->memmap_entries;

		if (n > BOOT_MEM_MAX) {
			bi->truncated |= BOOT_TRUNC_MEM;
			n = BOOT_MEM_MAX;
		}
		for (uint32_t i = 0; i < n; i++) {
			bi->mem[i].base = e[i].addr;
			bi->mem[i].len = e[i].size;
			bi->mem[i].type = e[i].type;
		}
		bi->nr_mem = n;
	}
	kernel_main(bi);
}
