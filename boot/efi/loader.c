/*
 * BOOTX64.EFI: the UEFI boot loader, a GNU-EFI application. It loads the
 * kernel from \EFI\BOOT\KERNEL.ELF on the volume it was itself loaded
 * from, validates the ELF file (boot/efi/kload.c), places its PT_LOAD
 * segments at their physical addresses, fills a struct boot_info (memory
 * map, ACPI RSDP, command line, framebuffer), exits boot services and
 * calls efi_kernel_entry (boot/efi_entry.S), whose address the kernel
 * publishes in its "VUK" ELF note (include/boot/efi.h).
 *
 * Why the kernel is a file next to the loader rather than built into it:
 * the kernel can be swapped (rebuilt, or another build copied onto the
 * ESP) without rebuilding the loader, and a missing or corrupt kernel gets
 * a clear message instead of a crash. Every failure before
 * ExitBootServices prints why on the console (ConOut) and returns an error
 * to the firmware, which goes on to its next boot option.
 *
 * The kernel command line: LoadOptions when they hold one (the UEFI shell
 * passes its whole command line, image name first, which is dropped; boot
 * entries made by the firmware carry binary data, which is ignored), else
 * the file \EFI\BOOT\CMDLINE (ASCII text, line ends become spaces), else
 * empty.
 *
 * efi_main is called with the SysV ABI by GNU-EFI's crt0 (not EFIAPI);
 * firmware calls go through uefi_call_wrapper.
 */
#include <efi.h>
#include <efilib.h>

#include <boot/boot_info.h>
#include <boot/kload.h>

#define KERNEL_PATH	 L"\\EFI\\BOOT\\KERNEL.ELF"
#define CMDLINE_PATH	 L"\\EFI\\BOOT\\CMDLINE"
#define CMDLINE_FILE_MAX 4096 /* more than fits in boot_info: the kernel reports truncation */
#define MMAP_SLACK	 32   /* spare descriptors: allocations after sizing split ranges */
#define EXIT_TRIES	 8    /* GetMemoryMap + ExitBootServices rounds */
#define ERROR_PAUSE_US	 (3 * 1000 * 1000) /* to read a message before the firmware moves on */
#define CR4_LA57	 (1ull << 12)

#define say(...) Print(L"vuk-efi: " __VA_ARGS__)

#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(EfiLoaderCode, KLOAD_EFI_LOADER_CODE) &&
		       SAME(EfiLoaderData, KLOAD_EFI_LOADER_DATA) &&
		       SAME(EfiConventionalMemory, KLOAD_EFI_CONVENTIONAL) &&
		       SAME(EfiACPIMemoryNVS, KLOAD_EFI_ACPI_NVS) &&
		       SAME(EfiPalCode, KLOAD_EFI_PAL_CODE),
	       "kload.h numbers UEFI memory types as the spec does");
#undef SAME

struct loader {
	EFI_HANDLE image;
	EFI_LOADED_IMAGE *li;
	EFI_FILE_HANDLE root;
	void *file;
	UINT64 file_size;
	struct kload_image img;
	EFI_PHYSICAL_ADDRESS seg_base[KLOAD_MAX_SEGS];
	UINTN seg_pages[KLOAD_MAX_SEGS];
	unsigned nr_alloc;
	struct boot_info *bi;
	EFI_MEMORY_DESCRIPTOR *map;
	UINTN map_cap, map_size, desc_size;
	int exit_tried; /* ExitBootServices failed once: no more prints or allocations */
};

static UINT64 rdtsc(void)
{
	UINT32 lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (UINT64)hi << 32 | lo;
}

static UINT64 read_cr4(void)
{
	UINT64 v;

	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static EFI_STATUS alloc_pool(UINTN size, void **p)
{
	return uefi_call_wrapper(BS->AllocatePool, 3, EfiLoaderData, size, p);
}

static void free_pool(void *p)
{
	if (p)
		uefi_call_wrapper(BS->FreePool, 1, p);
}

/*
 * Read a whole file of at most max bytes from the boot volume into pool
 * memory. Returns: EFI_NOT_FOUND when it is absent, EFI_BAD_BUFFER_SIZE
 * when it is too large, or what the firmware said.
 */
static EFI_STATUS read_file(EFI_FILE_HANDLE root, CHAR16 *path, UINT64 max, void **buf,
			    UINT64 *size)
{
	EFI_FILE_HANDLE f;
	EFI_FILE_INFO *info;
	EFI_STATUS st;
	UINT64 done = 0;

	*buf = NULL;
	st = uefi_call_wrapper(root->Open, 5, root, &f, path, EFI_FILE_MODE_READ, 0ull);
	if (EFI_ERROR(st))
		return st;
	info = LibFileInfo(f);
	if (!info) {
		st = EFI_DEVICE_ERROR;
		goto out;
	}
	*size = info->FileSize;
	st = (info->Attribute & EFI_FILE_DIRECTORY) ? EFI_NOT_FOUND : EFI_SUCCESS;
	FreePool(info);
	if (EFI_ERROR(st))
		goto out;
	if (*size > max) {
		st = EFI_BAD_BUFFER_SIZE;
		goto out;
	}
	st = alloc_pool(*size ? *size : 1, buf);
	if (EFI_ERROR(st))
		goto out;
	while (done < *size) {
		UINTN n = *size - done;

		st = uefi_call_wrapper(f->Read, 3, f, &n, (UINT8 *)*buf + done);
		if (EFI_ERROR(st))
			break;
		if (n == 0) {
			st = EFI_END_OF_FILE; /* shorter than its directory entry said */
			break;
		}
		done += n;
	}
	if (EFI_ERROR(st)) {
		free_pool(*buf);
		*buf = NULL;
	}
out:
	uefi_call_wrapper(f->Close, 1, f);
	return st;
}

static EFI_STATUS load_kernel(struct loader *ld)
{
	struct kload_image *img = &ld->img;
	EFI_STATUS st;
	int rc;

	st = read_file(ld->root, KERNEL_PATH, KLOAD_MAX_FILE, &ld->file, &ld->file_size);
	if (st == EFI_BAD_BUFFER_SIZE)
		say(L"%s is larger than %d MiB\n", KERNEL_PATH, (int)(KLOAD_MAX_FILE >> 20));
	else if (EFI_ERROR(st))
		say(L"cannot read the kernel %s from the boot volume: %r\n", KERNEL_PATH, st);
	if (EFI_ERROR(st))
		return st;

	rc = kload_check(ld->file, ld->file_size, img);
	if (rc != KLOAD_OK) {
		if (img->bad_phdr >= 0)
			say(L"%s is not a usable kernel: %a (program header %d)\n", KERNEL_PATH,
			    kload_strerror(rc), img->bad_phdr);
		else
			say(L"%s is not a usable kernel: %a\n", KERNEL_PATH, kload_strerror(rc));
		return EFI_LOAD_ERROR;
	}

	for (unsigned i = 0; i < img->nr_segs; i++) {
		const struct kload_seg *s = &img->seg[i];
		EFI_PHYSICAL_ADDRESS base = s->paddr & ~(KLOAD_PAGE - 1);
		UINT64 end = (s->paddr + s->memsz + KLOAD_PAGE - 1) & ~(KLOAD_PAGE - 1);
		UINTN pages = (end - base) / KLOAD_PAGE;

		/*
		 * Code as EfiLoaderCode: firmware that maps loader data
		 * no-execute (edk2's PcdDxeNxMemoryProtectionPolicy) would
		 * fault on the jump to the kernel otherwise.
		 */
		st = uefi_call_wrapper(BS->AllocatePages, 4, AllocateAddress,
				       s->exec ? EfiLoaderCode : EfiLoaderData, pages, &base);
		if (EFI_ERROR(st)) {
			say(L"kernel memory 0x%lx-0x%lx is not free (%r); the firmware uses it\n",
			    s->paddr & ~(KLOAD_PAGE - 1), end - 1, st);
			return st;
		}
		ld->seg_base[ld->nr_alloc] = base;
		ld->seg_pages[ld->nr_alloc++] = pages;
		SetMem((void *)(UINTN)base, pages * KLOAD_PAGE, 0);
		CopyMem((void *)(UINTN)s->paddr, (UINT8 *)ld->file + s->offset, s->filesz);
	}
	free_pool(ld->file);
	ld->file = NULL;
	return EFI_SUCCESS;
}

static EFI_STATUS get_cmdline(struct loader *ld)
{
	struct boot_info *bi = ld->bi;
	void *buf;
	UINT64 size;
	EFI_STATUS st;
	int rc;

	rc = kload_cmdline_options(bi->cmdline, sizeof(bi->cmdline), ld->li->LoadOptions,
				   ld->li->LoadOptionsSize, &bi->truncated);
	if (rc == KLOAD_CMDLINE_OK) {
		say(L"command line from LoadOptions: %a\n", bi->cmdline);
		return EFI_SUCCESS;
	}
	st = read_file(ld->root, CMDLINE_PATH, CMDLINE_FILE_MAX, &buf, &size);
	if (st == EFI_NOT_FOUND) {
		say(L"command line: none (no LoadOptions, no %s)\n", CMDLINE_PATH);
		return EFI_SUCCESS;
	}
	if (st == EFI_BAD_BUFFER_SIZE) {
		say(L"%s is larger than %d bytes\n", CMDLINE_PATH, CMDLINE_FILE_MAX);
		return st;
	}
	if (EFI_ERROR(st)) {
		say(L"cannot read %s: %r\n", CMDLINE_PATH, st);
		return st;
	}
	rc = kload_cmdline_file(bi->cmdline, sizeof(bi->cmdline), buf, size, &bi->truncated);
	free_pool(buf);
	if (rc == KLOAD_CMDLINE_NOT_TEXT) {
		say(L"%s is not ASCII text\n", CMDLINE_PATH);
		return EFI_LOAD_ERROR;
	}
	say(L"command line from %s: %a\n", CMDLINE_PATH, bi->cmdline);
	return EFI_SUCCESS;
}

/* The ACPI 2.0+ RSDP from the configuration table, else the ACPI 1.0 one, else 0. */
static UINT64 find_rsdp(void)
{
	EFI_GUID acpi20 = ACPI_20_TABLE_GUID, acpi10 = ACPI_TABLE_GUID;
	UINT64 rsdp1 = 0;

	for (UINTN i = 0; i < ST->NumberOfTableEntries; i++) {
		EFI_CONFIGURATION_TABLE *t = &ST->ConfigurationTable[i];

		if (CompareGuid(&t->VendorGuid, &acpi20) == 0)
			return (UINT64)(UINTN)t->VendorTable;
		if (CompareGuid(&t->VendorGuid, &acpi10) == 0 && !rsdp1)
			rsdp1 = (UINT64)(UINTN)t->VendorTable;
	}
	return rsdp1;
}

/* A linear 32-bit framebuffer from GOP, when there is one (none with -display none). */
static void find_framebuffer(struct boot_framebuffer *fb)
{
	EFI_GRAPHICS_OUTPUT_PROTOCOL *gop = NULL;
	EFI_GRAPHICS_OUTPUT_MODE_INFORMATION *info;

	if (EFI_ERROR(LibLocateProtocol(&GraphicsOutputProtocol, (void **)&gop)) || !gop ||
	    !gop->Mode || !gop->Mode->Info)
		return;
	info = gop->Mode->Info;
	if (info->PixelFormat != PixelRedGreenBlueReserved8BitPerColor &&
	    info->PixelFormat != PixelBlueGreenRedReserved8BitPerColor)
		return; /* blit-only or bitmask: no plain framebuffer */
	fb->base = gop->Mode->FrameBufferBase;
	fb->width = info->HorizontalResolution;
	fb->height = info->VerticalResolution;
	fb->pitch = info->PixelsPerScanLine * 4;
	fb->bpp = 32;
}

/*
 * GetMemoryMap into a buffer sized with slack, then ExitBootServices with
 * its key; a stale key (EFI_INVALID_PARAMETER) means the map changed in
 * between: fetch it again and retry, a bounded number of times. Nothing
 * between the final GetMemoryMap and ExitBootServices allocates or prints,
 * and after a failed ExitBootServices only these two calls are allowed.
 */
static EFI_STATUS exit_boot_services(struct loader *ld)
{
	UINTN key, size = 0;
	UINT32 version;
	EFI_STATUS st;

	st = uefi_call_wrapper(BS->GetMemoryMap, 5, &size, NULL, &key, &ld->desc_size, &version);
	if (st != EFI_BUFFER_TOO_SMALL || ld->desc_size < sizeof(EFI_MEMORY_DESCRIPTOR)) {
		say(L"GetMemoryMap failed: %r\n", EFI_ERROR(st) ? st : EFI_DEVICE_ERROR);
		return EFI_ERROR(st) ? st : EFI_DEVICE_ERROR;
	}
	for (int tries = 0; tries < EXIT_TRIES; tries++) {
		if (size > ld->map_cap) {
			if (ld->exit_tried)
				return EFI_BUFFER_TOO_SMALL;
			free_pool(ld->map);
			ld->map = NULL;
			ld->map_cap = size + MMAP_SLACK * ld->desc_size;
			st = alloc_pool(ld->map_cap, (void **)&ld->map);
			if (EFI_ERROR(st)) {
				ld->map_cap = 0;
				say(L"no memory for the memory map: %r\n", st);
				return st;
			}
		}
		size = ld->map_cap;
		st = uefi_call_wrapper(BS->GetMemoryMap, 5, &size, ld->map, &key, &ld->desc_size,
				       &version);
		if (st == EFI_BUFFER_TOO_SMALL)
			continue;
		if (EFI_ERROR(st)) {
			if (!ld->exit_tried)
				say(L"GetMemoryMap failed: %r\n", st);
			return st;
		}
		st = uefi_call_wrapper(BS->ExitBootServices, 2, ld->image, key);
		if (!EFI_ERROR(st)) {
			ld->map_size = size;
			return EFI_SUCCESS;
		}
		ld->exit_tried = 1;
		if (st != EFI_INVALID_PARAMETER)
			return st;
	}
	return EFI_ABORTED;
}

/* After ExitBootServices: the UEFI map as boot_info ranges (no firmware calls). */
static void convert_memory_map(struct loader *ld)
{
	for (UINTN off = 0; off + ld->desc_size <= ld->map_size; off += ld->desc_size) {
		const EFI_MEMORY_DESCRIPTOR *d = (const void *)((UINT8 *)ld->map + off);

		if (d->NumberOfPages > (~0ull >> EFI_PAGE_SHIFT))
			continue;
		kload_mem_add(ld->bi, d->PhysicalStart, d->NumberOfPages << EFI_PAGE_SHIFT,
			      kload_mem_type(d->Type));
	}
}

static EFI_STATUS boot(struct loader *ld, UINT64 tsc)
{
	void (*entry)(struct boot_info * bi);
	EFI_STATUS st;

	if (read_cr4() & CR4_LA57) {
		say(L"5-level paging is on; the kernel supports 4-level paging only\n");
		return EFI_UNSUPPORTED;
	}
	st = uefi_call_wrapper(BS->HandleProtocol, 3, ld->image, &LoadedImageProtocol,
			       (void **)&ld->li);
	if (EFI_ERROR(st)) {
		say(L"no loaded image protocol on our own image: %r\n", st);
		return st;
	}
	ld->root = LibOpenRoot(ld->li->DeviceHandle);
	if (!ld->root) {
		say(L"cannot open the file system this loader was loaded from\n");
		return EFI_NOT_FOUND;
	}
	st = alloc_pool(sizeof(*ld->bi), (void **)&ld->bi);
	if (EFI_ERROR(st)) {
		say(L"no memory for the boot information: %r\n", st);
		return st;
	}
	SetMem(ld->bi, sizeof(*ld->bi), 0);
	ld->bi->protocol = "UEFI";
	ld->bi->tsc_loader = tsc;

	st = load_kernel(ld);
	if (EFI_ERROR(st))
		return st;
	st = get_cmdline(ld);
	if (EFI_ERROR(st))
		return st;
	ld->bi->rsdp = find_rsdp();
	find_framebuffer(&ld->bi->fb);
	say(L"kernel at 0x%lx-0x%lx, entry 0x%lx, boot info at 0x%lx, RSDP 0x%lx; "
	    L"exiting boot services\n",
	    ld->img.lo, ld->img.hi - 1, ld->img.entry, (UINT64)(UINTN)ld->bi, ld->bi->rsdp);

	st = exit_boot_services(ld);
	if (EFI_ERROR(st))
		return st;
	__asm__ volatile("cli");
	convert_memory_map(ld);
	entry = (void (*)(struct boot_info *))(UINTN)ld->img.entry;
	entry(ld->bi);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Give back what a failed boot took, so the firmware's next boot option has it. */
static void cleanup(struct loader *ld)
{
	for (unsigned i = 0; i < ld->nr_alloc; i++)
		uefi_call_wrapper(BS->FreePages, 2, ld->seg_base[i], ld->seg_pages[i]);
	free_pool(ld->file);
	free_pool(ld->map);
	free_pool(ld->bi);
	if (ld->root)
		uefi_call_wrapper(ld->root->Close, 1, ld->root);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab)
{
	UINT64 tsc = rdtsc();
	struct loader ld;
	EFI_STATUS st;

	InitializeLib(image, systab);
	SetMem(&ld, sizeof(ld), 0);
	ld.image = image;
	st = boot(&ld, tsc);
	if (ld.exit_tried)
		return st; /* boot services may be half shut down: no more calls */
	say(L"not booting (%r); back to the firmware\n", st);
	cleanup(&ld);
	uefi_call_wrapper(BS->Stall, 1, ERROR_PAUSE_US);
	return st;
}
