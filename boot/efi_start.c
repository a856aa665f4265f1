/*
 * UEFI boot, kernel side: boot/efi_entry.S gets here on the kernel's boot
 * stack with BSS cleared. The loader's struct boot_info sits in loader
 * memory, which the kernel counts as free RAM and which may lie above
 * 4 GiB: copy it while the firmware's page tables still map it, then move
 * to the boot map (the first 4 GiB, like the PVH path) and start.
 */
#include <string.h>

#include <boot/boot_info.h>
#include <kernel/kernel.h>

static struct boot_info efi_boot_info;

void efi_start(const struct boot_info *loader_bi);
void efi_boot_map(void);

void efi_start(const struct boot_info *loader_bi)
{
	struct boot_info *bi = &efi_boot_info;

	memcpy(bi, loader_bi, sizeof(*bi));
	/* Nothing may point into loader memory, and the loader is not trusted with bounds. */
	bi->protocol = "UEFI";
	bi->cmdline[sizeof(bi->cmdline) - 1] = '\0';
	if (bi->nr_mem > BOOT_MEM_MAX) {
		bi->nr_mem = BOOT_MEM_MAX;
		bi->truncated |= BOOT_TRUNC_MEM;
	}
	efi_boot_map();
	kernel_main(bi);
}
