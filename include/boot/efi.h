/*
 * The UEFI boot path's contract between the loader (boot/efi/, BOOTX64.EFI)
 * and the kernel (boot/efi_entry.S): the kernel publishes the address of
 * efi_kernel_entry in an ELF note, which the loader finds by walking the
 * PT_NOTE segments of KERNEL.ELF. Usable from assembly.
 *
 * efi_kernel_entry(struct boot_info *bi): 64-bit, SysV ABI, called after
 * ExitBootServices with interrupts off, on the firmware's identity-mapped
 * page tables; bi may live in any loader memory (also above 4 GiB).
 */
#ifndef BOOT_EFI_H
#define BOOT_EFI_H

#define VUK_NOTE_NAME	   "VUK"
#define VUK_NOTE_NAMESZ	   4 /* "VUK\0" */
#define VUK_NOTE_EFI_ENTRY 1 /* desc: 8-byte address of efi_kernel_entry */

#endif
