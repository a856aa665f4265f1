/*
 * The UEFI loader's portable half (boot/efi/kload.c): validation of the
 * kernel's ELF file, UEFI memory types as boot_info types, and the kernel
 * command line from LoadOptions or the CMDLINE file. No UEFI and no libc
 * calls, so the host tests run the same source (tests/host/test_kload.c).
 */
#ifndef BOOT_KLOAD_H
#define BOOT_KLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <boot/boot_info.h>

#define KLOAD_MAX_FILE	(64ull << 20) /* KERNEL.ELF size limit */
#define KLOAD_MAX_IMAGE (64ull << 20) /* lowest to highest loaded byte */
#define KLOAD_MAX_PHDRS 64
#define KLOAD_MAX_SEGS	8
#define KLOAD_MIN_ADDR	(1ull << 20) /* below: real-mode area, legacy ROMs */
#define KLOAD_MAX_ADDR	(4ull << 30) /* the kernel's boot map covers 4 GiB */
#define KLOAD_PAGE	4096ull

enum kload_err {
	KLOAD_OK,
	KLOAD_E_SHORT,	     /* smaller than an ELF header */
	KLOAD_E_BIG,	     /* file over KLOAD_MAX_FILE */
	KLOAD_E_MAGIC,	     /* no \x7fELF */
	KLOAD_E_CLASS,	     /* not ELFCLASS64 */
	KLOAD_E_DATA,	     /* not little-endian */
	KLOAD_E_VERSION,     /* not EV_CURRENT */
	KLOAD_E_TYPE,	     /* not ET_EXEC */
	KLOAD_E_MACHINE,     /* not EM_X86_64 */
	KLOAD_E_PHDRS,	     /* program header table missing, malformed or outside the file */
	KLOAD_E_SEG_FILE,    /* PT_LOAD file range outside the file */
	KLOAD_E_SEG_MEMSZ,   /* PT_LOAD memsz < filesz */
	KLOAD_E_SEG_ADDR,    /* PT_LOAD outside KLOAD_MIN_ADDR..KLOAD_MAX_ADDR */
	KLOAD_E_SEG_VADDR,   /* PT_LOAD vaddr != paddr */
	KLOAD_E_SEG_OVERLAP, /* two PT_LOADs share a page */
	KLOAD_E_TOO_MANY,    /* more than KLOAD_MAX_SEGS PT_LOADs */
	KLOAD_E_NO_LOAD,     /* no PT_LOAD */
	KLOAD_E_IMAGE_BIG,   /* PT_LOADs span more than KLOAD_MAX_IMAGE */
	KLOAD_E_NOTE_RANGE,  /* PT_NOTE file range outside the file */
	KLOAD_E_NOTE_BAD,    /* a note runs past its segment, or a bad VUK note */
	KLOAD_E_NO_ENTRY,    /* no VUK entry note */
	KLOAD_E_ENTRY,	     /* the entry is not in an executable PT_LOAD's file bytes */
	KLOAD_E_COUNT
};

struct kload_seg {
	uint64_t offset, filesz; /* in the file */
	uint64_t paddr, memsz;	 /* in memory; zeroed from filesz to memsz */
	int exec;		 /* PF_X */
};

struct kload_image {
	unsigned nr_segs;
	struct kload_seg seg[KLOAD_MAX_SEGS];
	uint64_t lo, hi; /* lowest and highest loaded byte (+1) */
	uint64_t entry;	 /* efi_kernel_entry, from the VUK note */
	int bad_phdr;	 /* index of the program header an error is about, or -1 */
};

/*
 * kload_check - validate the kernel file and describe what to load.
 * Checks the ELF header (magic, class, data, version, type, machine), that
 * the program header table and every PT_LOAD and PT_NOTE file range lie
 * inside the file, memsz >= filesz, physical addresses in 1 MiB..4 GiB
 * identity-mapped, no shared pages, the total size, and finds the entry
 * in the VUK note (include/boot/efi.h).
 * Returns: KLOAD_OK, or a KLOAD_E_* with img->bad_phdr set where it helps.
 */
int kload_check(const void *file, uint64_t size, struct kload_image *img);

/* kload_strerror - one line for a KLOAD_E_* code. */
const char *kload_strerror(int err);

/* UEFI memory types (UEFI 2.10, 7.2, EFI_MEMORY_TYPE). */
enum kload_efi_mem {
	KLOAD_EFI_RESERVED,
	KLOAD_EFI_LOADER_CODE,
	KLOAD_EFI_LOADER_DATA,
	KLOAD_EFI_BS_CODE,
	KLOAD_EFI_BS_DATA,
	KLOAD_EFI_RT_CODE,
	KLOAD_EFI_RT_DATA,
	KLOAD_EFI_CONVENTIONAL,
	KLOAD_EFI_UNUSABLE,
	KLOAD_EFI_ACPI_RECLAIM,
	KLOAD_EFI_ACPI_NVS,
	KLOAD_EFI_MMIO,
	KLOAD_EFI_MMIO_PORT,
	KLOAD_EFI_PAL_CODE,
	KLOAD_EFI_PERSISTENT,
	KLOAD_EFI_UNACCEPTED,
};

/*
 * kload_mem_type - the boot_info type of a UEFI memory type after
 * ExitBootServices: conventional, boot services and loader memory are
 * RAM; ACPI reclaim and NVS keep their meaning; unusable stays unusable;
 * everything else (runtime services, reserved, MMIO, PAL code,
 * persistent, unaccepted, unknown) is reserved.
 */
uint32_t kload_mem_type(uint32_t efi_type);

/*
 * kload_mem_add - append a range to bi->mem, merged into the previous one
 * when adjacent and of the same type. A full table sets BOOT_TRUNC_MEM.
 */
void kload_mem_add(struct boot_info *bi, uint64_t base, uint64_t len, uint32_t type);

#define KLOAD_CMDLINE_NOT_TEXT (-1) /* control or non-ASCII characters */
#define KLOAD_CMDLINE_NONE     0    /* empty (after whitespace, and the image name) */
#define KLOAD_CMDLINE_OK       1

/*
 * kload_cmdline_options - the command line from LoadOptions (UCS-2,
 * bytes long, up to a NUL). The UEFI shell passes the whole command line,
 * image name first: a first word without '=' that contains a backslash or
 * ends in ".efi" is dropped. Firmware boot entries often carry binary data
 * here (NOT_TEXT). Tabs and line ends become spaces; leading and trailing
 * whitespace goes. out (cap bytes, cap >= 1) is always NUL-terminated; a
 * command line that does not fit is cut and sets BOOT_TRUNC_CMDLINE.
 */
int kload_cmdline_options(char *out, size_t cap, const void *opts, uint64_t bytes,
			  uint32_t *truncated);

/* kload_cmdline_file - the same for the CMDLINE file's ASCII text (a UTF-8 BOM is skipped). */
int kload_cmdline_file(char *out, size_t cap, const void *text, uint64_t len, uint32_t *truncated);

#endif
