/*
 * Host tests for boot/efi/kload.c, the UEFI loader's portable half: ELF
 * validation of KERNEL.ELF (every truncation, every bad field), UEFI
 * memory types, the memory map table and the command line from
 * LoadOptions or the CMDLINE file. Buffers are exactly sized heap copies,
 * so ASan catches any read past them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <boot/efi.h>
#include <boot/elf64.h>
#include <boot/kload.h>

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* A kernel-like ELF: text (RX), rodata (R) with the notes, data+bss (RW). */
#define TEXT_ADDR   (1 * MiB)
#define TEXT_SIZE   0x3000
#define RO_ADDR	    (TEXT_ADDR + TEXT_SIZE)
#define RO_SIZE	    0x1000
#define DATA_ADDR   (RO_ADDR + RO_SIZE)
#define DATA_FILESZ 0x800
#define DATA_MEMSZ  0x5000
#define ENTRY	    (TEXT_ADDR + 0x123)

#define PH_OFF	  64
#define NR_PH	  4
#define TEXT_OFF  0x1000
#define RO_OFF	  (TEXT_OFF + TEXT_SIZE)
#define NOTE_OFF  (RO_OFF + 0x100) /* inside rodata, as in the kernel */
#define DATA_OFF  (RO_OFF + RO_SIZE)
#define FILE_SIZE (DATA_OFF + DATA_FILESZ)

struct elf {
	uint8_t b[FILE_SIZE];
	uint64_t size;
	uint64_t note_len;
};

static struct elf64_ehdr *eh(struct elf *e)
{
	return (struct elf64_ehdr *)e->b;
}

static struct elf64_phdr *ph(struct elf *e, unsigned i)
{
	return (struct elf64_phdr *)(e->b + PH_OFF) + i;
}

static uint64_t put_note(struct elf *e, uint64_t off, const char *name, uint32_t type,
			 const void *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	uint32_t h[3] = {namesz, descsz, type};

	memcpy(e->b + off, h, sizeof(h));
	memcpy(e->b + off + 12, name, namesz);
	off += 12 + ((namesz + 3) & ~3u);
	memcpy(e->b + off, desc, descsz);
	return off + ((descsz + 3) & ~3u);
}

static void set_ph(struct elf *e, unsigned i, uint32_t type, uint32_t flags, uint64_t off,
		   uint64_t addr, uint64_t filesz, uint64_t memsz, uint64_t align)
{
	struct elf64_phdr p = {type, flags, off, addr, addr, filesz, memsz, align};

	*ph(e, i) = p;
}

/* Like the real kernel: a Xen PVH note first, then the VUK entry note. */
static void build(struct elf *e)
{
	uint64_t entry = ENTRY, end;
	uint64_t pvh = 0x100000;

	memset(e, 0, sizeof(*e));
	memcpy(eh(e)->ident,
	       "\x7f"
	       "ELF\x02\x01\x01",
	       7);
	eh(e)->type = 2;
	eh(e)->machine = 62;
	eh(e)->version = 1;
	eh(e)->entry = TEXT_ADDR;
	eh(e)->phoff = PH_OFF;
	eh(e)->ehsize = 64;
	eh(e)->phentsize = sizeof(struct elf64_phdr);
	eh(e)->phnum = NR_PH;
	end = put_note(e, NOTE_OFF, "Xen", 18, &pvh, 8);
	end = put_note(e, end, VUK_NOTE_NAME, VUK_NOTE_EFI_ENTRY, &entry, 8);
	e->note_len = end - NOTE_OFF;
	set_ph(e, 0, 1, 5, TEXT_OFF, TEXT_ADDR, TEXT_SIZE, TEXT_SIZE, 0x1000);
	set_ph(e, 1, 1, 4, RO_OFF, RO_ADDR, RO_SIZE, RO_SIZE, 0x1000);
	set_ph(e, 2, 1, 6, DATA_OFF, DATA_ADDR, DATA_FILESZ, DATA_MEMSZ, 0x1000);
	set_ph(e, 3, 4, 4, NOTE_OFF, RO_ADDR + 0x100, e->note_len, e->note_len, 4);
	e->size = FILE_SIZE;
}

/* kload_check on an exactly sized heap copy of the first size bytes. */
static int check_n(const struct elf *e, uint64_t size, struct kload_image *img)
{
	uint8_t *copy = malloc(size ? size : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, e->b, size);
	rc = kload_check(copy, size, img);
	free(copy);
	return rc;
}

static int check(const struct elf *e, struct kload_image *img)
{
	return check_n(e, e->size, img);
}

static struct elf *new_elf(void)
{
	static struct elf e;

	build(&e);
	return &e;
}

static void test_valid(void **state)
{
	struct elf *e = new_elf();
	struct kload_image img;

	(void)state;
	assert_int_equal(check(e, &img), KLOAD_OK);
	assert_int_equal(img.bad_phdr, -1);
	assert_int_equal(img.nr_segs, 3);
	assert_int_equal(img.entry, ENTRY);
	assert_int_equal(img.lo, TEXT_ADDR);
	assert_int_equal(img.hi, DATA_ADDR + DATA_MEMSZ);
	assert_int_equal(img.seg[0].offset, TEXT_OFF);
	assert_int_equal(img.seg[0].paddr, TEXT_ADDR);
	assert_true(img.seg[0].exec);
	assert_false(img.seg[1].exec);
	assert_int_equal(img.seg[2].filesz, DATA_FILESZ);
	assert_int_equal(img.seg[2].memsz, DATA_MEMSZ);
	assert_false(img.seg[2].exec);
	assert_string_equal(kload_strerror(KLOAD_OK), "no error");
	assert_string_equal(kload_strerror(-1), "unknown error");
	assert_string_equal(kload_strerror(KLOAD_E_COUNT), "unknown error");
	for (int i = 1; i < KLOAD_E_COUNT; i++)
		assert_non_null(kload_strerror(i));
}

/* Every truncation of a valid file fails cleanly (ASan sees any overread). */
static void test_every_truncation(void **state)
{
	struct elf *e = new_elf();
	struct kload_image img;

	(void)state;
	for (uint64_t n = 0; n < e->size; n++) {
		int rc = check_n(e, n, &img);

		assert_int_not_equal(rc, KLOAD_OK);
		if (n < 64)
			assert_int_equal(rc, KLOAD_E_SHORT);
		else if (n < PH_OFF + NR_PH * sizeof(struct elf64_phdr))
			assert_int_equal(rc, KLOAD_E_PHDRS);
		else if (n < TEXT_OFF + TEXT_SIZE)
			assert_int_equal(rc, KLOAD_E_SEG_FILE);
	}
	assert_int_equal(check_n(e, 1, &img), KLOAD_E_SHORT);
	assert_int_equal(check_n(e, 0, &img), KLOAD_E_SHORT);
	assert_int_equal(kload_check(NULL, 0, &img), KLOAD_E_SHORT);
}

static void test_header_fields(void **state)
{
	struct elf *e = new_elf();
	struct kload_image img;
	static const struct {
		unsigned off;
		uint8_t val;
		int err;
	} bad[] = {
		{0, 0x7e, KLOAD_E_MAGIC},  {1, 'e', KLOAD_E_MAGIC},	{3, 'G', KLOAD_E_MAGIC},
		{4, 1, KLOAD_E_CLASS},	   {4, 0, KLOAD_E_CLASS},	{5, 2, KLOAD_E_DATA},
		{6, 0, KLOAD_E_VERSION},   {16, 3, KLOAD_E_TYPE},	{16, 1, KLOAD_E_TYPE},
		{18, 3, KLOAD_E_MACHINE},  {18, 0x28, KLOAD_E_MACHINE}, {20, 2, KLOAD_E_VERSION},
		{54, 0x40, KLOAD_E_PHDRS}, {56, 0, KLOAD_E_PHDRS},	{56, 65, KLOAD_E_PHDRS},
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		build(e);
		e->b[bad[i].off] = bad[i].val;
		assert_int_equal(check(e, &img), bad[i].err);
		assert_int_equal(img.bad_phdr, -1);
	}
	/* The program header table past the end, and wrapping. */
	build(e);
	eh(e)->phoff = FILE_SIZE - 100;
	assert_int_equal(check(e, &img), KLOAD_E_PHDRS);
	eh(e)->phoff = UINT64_MAX - 8;
	assert_int_equal(check(e, &img), KLOAD_E_PHDRS);
	/* Too large a file is refused before anything is read from it. */
	assert_int_equal(kload_check(e->b, KLOAD_MAX_FILE + 1, &img), KLOAD_E_BIG);
}

static void test_load_segments(void **state)
{
	struct elf *e = new_elf();
	struct kload_image img;

	(void)state;
#define BAD_LOAD(field, value, err, idx)                 \
	do {                                             \
		build(e);                                \
		ph(e, idx)->field = (value);             \
		assert_int_equal(check(e, &img), (err)); \
		assert_int_equal(img.bad_phdr, (idx));   \
	} while (0)
	BAD_LOAD(offset, FILE_SIZE - 0x10, KLOAD_E_SEG_FILE, 0);
	BAD_LOAD(offset, UINT64_MAX - 0x10, KLOAD_E_SEG_FILE, 0);
	BAD_LOAD(filesz, UINT64_MAX, KLOAD_E_SEG_FILE, 2);
	BAD_LOAD(filesz, DATA_FILESZ + 1, KLOAD_E_SEG_FILE, 2);
	BAD_LOAD(memsz, DATA_FILESZ - 1, KLOAD_E_SEG_MEMSZ, 2);
	BAD_LOAD(memsz, UINT64_MAX, KLOAD_E_SEG_ADDR, 2);
	BAD_LOAD(memsz, 4 * GiB - DATA_ADDR + 1, KLOAD_E_SEG_ADDR, 2);
	BAD_LOAD(vaddr, 0xffffffff80000000ull, KLOAD_E_SEG_VADDR, 1);
	/* Below 1 MiB, at 0, at or past 4 GiB. */
	build(e);
	ph(e, 0)->paddr = ph(e, 0)->vaddr = 0;
	assert_int_equal(check(e, &img), KLOAD_E_SEG_ADDR);
	ph(e, 0)->paddr = ph(e, 0)->vaddr = 0xff000;
	assert_int_equal(check(e, &img), KLOAD_E_SEG_ADDR);
	ph(e, 0)->paddr = ph(e, 0)->vaddr = 4 * GiB;
	assert_int_equal(check(e, &img), KLOAD_E_SEG_ADDR);
	ph(e, 0)->paddr = ph(e, 0)->vaddr = UINT64_MAX - 0xfff;
	assert_int_equal(check(e, &img), KLOAD_E_SEG_ADDR);
	/* Ending exactly at 4 GiB passes the address check; the span is then too big. */
	build(e);
	ph(e, 2)->paddr = ph(e, 2)->vaddr = 4 * GiB - DATA_MEMSZ;
	assert_int_equal(check(e, &img), KLOAD_E_IMAGE_BIG);
	/* Overlapping, and sharing a page without overlapping. */
	build(e);
	ph(e, 1)->paddr = ph(e, 1)->vaddr = TEXT_ADDR + 0x1000;
	assert_int_equal(check(e, &img), KLOAD_E_SEG_OVERLAP);
	assert_int_equal(img.bad_phdr, 1);
	build(e);
	ph(e, 1)->memsz = ph(e, 1)->filesz = RO_SIZE - 0x100;
	ph(e, 2)->paddr = ph(e, 2)->vaddr = RO_ADDR + RO_SIZE - 0x80;
	assert_int_equal(check(e, &img), KLOAD_E_SEG_OVERLAP);
	assert_int_equal(img.bad_phdr, 2);
	build(e);
	ph(e, 1)->paddr = ph(e, 1)->vaddr = RO_ADDR + 0x10;
	ph(e, 1)->memsz = ph(e, 1)->filesz = RO_SIZE - 0x20;
	assert_int_equal(check(e, &img), KLOAD_OK);
	/* An empty PT_LOAD is skipped, wherever it points. */
	build(e);
	set_ph(e, 1, 1, 4, UINT64_MAX, 0, 0, 0, 0);
	assert_int_equal(check(e, &img), KLOAD_OK);
	assert_int_equal(img.nr_segs, 2);
	/* None at all. */
	build(e);
	for (unsigned i = 0; i < 3; i++)
		ph(e, i)->type = 6; /* PT_PHDR: ignored */
	assert_int_equal(check(e, &img), KLOAD_E_NO_LOAD);
	/* Too far apart. */
	build(e);
	ph(e, 2)->paddr = ph(e, 2)->vaddr = TEXT_ADDR + KLOAD_MAX_IMAGE;
	assert_int_equal(check(e, &img), KLOAD_E_IMAGE_BIG);
	ph(e, 2)->paddr = ph(e, 2)->vaddr = TEXT_ADDR + KLOAD_MAX_IMAGE - DATA_MEMSZ;
	assert_int_equal(check(e, &img), KLOAD_OK);
#undef BAD_LOAD
}

static void test_too_many_segments(void **state)
{
	static uint8_t buf[PH_OFF + 16 * sizeof(struct elf64_phdr) + 0x100];
	struct elf64_ehdr *h = (struct elf64_ehdr *)buf;
	struct elf64_phdr *p = (struct elf64_phdr *)(buf + PH_OFF);
	struct kload_image img;

	(void)state;
	memcpy(buf, new_elf()->b, 64);
	h->phnum = KLOAD_MAX_SEGS + 1;
	for (unsigned i = 0; i < h->phnum; i++) {
		struct elf64_phdr one = {1,    5,    0,	    MiB + i * 0x1000, MiB + i * 0x1000,
					 0x10, 0x10, 0x1000};

		p[i] = one;
	}
	assert_int_equal(kload_check(buf, sizeof(buf), &img), KLOAD_E_TOO_MANY);
	assert_int_equal(img.bad_phdr, KLOAD_MAX_SEGS);
	h->phnum = KLOAD_MAX_SEGS;
	assert_int_equal(kload_check(buf, sizeof(buf), &img), KLOAD_E_NO_ENTRY);
}

static void test_notes(void **state)
{
	struct elf *e = new_elf();
	struct kload_image img;
	uint64_t entry, end;
	uint32_t word;

	(void)state;
	/* PT_NOTE outside the file. */
	build(e);
	ph(e, 3)->offset = FILE_SIZE - 4;
	assert_int_equal(check(e, &img), KLOAD_E_NOTE_RANGE);
	assert_int_equal(img.bad_phdr, 3);
	ph(e, 3)->offset = UINT64_MAX;
	assert_int_equal(check(e, &img), KLOAD_E_NOTE_RANGE);
	/* A name or desc size running past the segment. */
	build(e);
	word = 0xfffffff0;
	memcpy(e->b + NOTE_OFF, &word, 4);
	assert_int_equal(check(e, &img), KLOAD_E_NOTE_BAD);
	build(e);
	memcpy(e->b + NOTE_OFF + 4, &word, 4);
	assert_int_equal(check(e, &img), KLOAD_E_NOTE_BAD);
	build(e);
	ph(e, 3)->filesz = e->note_len - 4; /* cuts the VUK desc */
	assert_int_equal(check(e, &img), KLOAD_E_NOTE_BAD);
	/* A VUK entry note whose desc is not 8 bytes. */
	build(e);
	entry = ENTRY;
	end = put_note(e, NOTE_OFF, VUK_NOTE_NAME, VUK_NOTE_EFI_ENTRY, &entry, 4);
	ph(e, 3)->filesz = end - NOTE_OFF;
	assert_int_equal(check(e, &img), KLOAD_E_NOTE_BAD);
	/* No VUK note; another type or name does not count. */
	build(e);
	ph(e, 3)->filesz = 12 + 4 + 8; /* the Xen note only */
	assert_int_equal(check(e, &img), KLOAD_E_NO_ENTRY);
	build(e);
	end = put_note(e, NOTE_OFF, VUK_NOTE_NAME, 2, &entry, 8);
	end = put_note(e, end, "VUX", VUK_NOTE_EFI_ENTRY, &entry, 8);
	ph(e, 3)->filesz = end - NOTE_OFF;
	assert_int_equal(check(e, &img), KLOAD_E_NO_ENTRY);
	build(e);
	ph(e, 3)->type = 0; /* PT_NULL: the notes are not looked at */
	assert_int_equal(check(e, &img), KLOAD_E_NO_ENTRY);
	/* Trailing bytes shorter than a note header are padding. */
	build(e);
	ph(e, 3)->filesz = e->note_len + 8;
	assert_int_equal(check(e, &img), KLOAD_OK);
	/* 8-byte aligned notes. */
	build(e);
	{
		uint32_t h[3] = {4, 8, VUK_NOTE_EFI_ENTRY};

		memcpy(e->b + NOTE_OFF, h, 12);
		memcpy(e->b + NOTE_OFF + 12, "VUK", 4);
		entry = ENTRY;
		memcpy(e->b + NOTE_OFF + 16, &entry, 8); /* 16 is 8-aligned: same layout */
		ph(e, 3)->filesz = 24;
		ph(e, 3)->align = 8;
		assert_int_equal(check(e, &img), KLOAD_OK);
		assert_int_equal(img.entry, ENTRY);
	}
}

static void test_entry(void **state)
{
	struct elf *e = new_elf();
	struct kload_image img;
	const uint64_t bad[] = {0,	     TEXT_ADDR - 1, TEXT_ADDR + TEXT_SIZE,
				RO_ADDR + 8, DATA_ADDR + 8, DATA_ADDR + DATA_FILESZ + 8};

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t end;

		build(e);
		end = put_note(e, NOTE_OFF, VUK_NOTE_NAME, VUK_NOTE_EFI_ENTRY, &bad[i], 8);
		ph(e, 3)->filesz = end - NOTE_OFF;
		assert_int_equal(check(e, &img), bad[i] ? KLOAD_E_ENTRY : KLOAD_E_NO_ENTRY);
	}
	/* The last text byte is still text; an executable data segment would do too. */
	build(e);
	{
		uint64_t last = TEXT_ADDR + TEXT_SIZE - 1;
		uint64_t end = put_note(e, NOTE_OFF, VUK_NOTE_NAME, VUK_NOTE_EFI_ENTRY, &last, 8);

		ph(e, 3)->filesz = end - NOTE_OFF;
		assert_int_equal(check(e, &img), KLOAD_OK);
		assert_int_equal(img.entry, last);
	}
}

static void test_mem_types(void **state)
{
	(void)state;
	assert_int_equal(kload_mem_type(KLOAD_EFI_CONVENTIONAL), BOOT_MEM_RAM);
	assert_int_equal(kload_mem_type(KLOAD_EFI_BS_CODE), BOOT_MEM_RAM);
	assert_int_equal(kload_mem_type(KLOAD_EFI_BS_DATA), BOOT_MEM_RAM);
	assert_int_equal(kload_mem_type(KLOAD_EFI_LOADER_CODE), BOOT_MEM_RAM);
	assert_int_equal(kload_mem_type(KLOAD_EFI_LOADER_DATA), BOOT_MEM_RAM);
	assert_int_equal(kload_mem_type(KLOAD_EFI_ACPI_RECLAIM), BOOT_MEM_ACPI);
	assert_int_equal(kload_mem_type(KLOAD_EFI_ACPI_NVS), BOOT_MEM_NVS);
	assert_int_equal(kload_mem_type(KLOAD_EFI_UNUSABLE), BOOT_MEM_UNUSABLE);
	assert_int_equal(kload_mem_type(KLOAD_EFI_RESERVED), BOOT_MEM_RESERVED);
	assert_int_equal(kload_mem_type(KLOAD_EFI_RT_CODE), BOOT_MEM_RESERVED);
	assert_int_equal(kload_mem_type(KLOAD_EFI_RT_DATA), BOOT_MEM_RESERVED);
	assert_int_equal(kload_mem_type(KLOAD_EFI_MMIO), BOOT_MEM_RESERVED);
	assert_int_equal(kload_mem_type(KLOAD_EFI_MMIO_PORT), BOOT_MEM_RESERVED);
	assert_int_equal(kload_mem_type(KLOAD_EFI_PAL_CODE), BOOT_MEM_RESERVED);
	assert_int_equal(kload_mem_type(KLOAD_EFI_PERSISTENT), BOOT_MEM_RESERVED);
	assert_int_equal(kload_mem_type(KLOAD_EFI_UNACCEPTED), BOOT_MEM_RESERVED);
	assert_int_equal(kload_mem_type(0x70000000), BOOT_MEM_RESERVED); /* OEM */
	assert_int_equal(kload_mem_type(0x80000000), BOOT_MEM_RESERVED); /* OS loader */
}

static void test_mem_add(void **state)
{
	struct boot_info *bi = calloc(1, sizeof(*bi));

	(void)state;
	assert_non_null(bi);
	kload_mem_add(bi, 0, 0xa0000, BOOT_MEM_RAM);
	kload_mem_add(bi, 0xa0000, 0x1000, BOOT_MEM_RAM);  /* merged */
	kload_mem_add(bi, 0x100000, 0x1000, BOOT_MEM_RAM); /* gap: new */
	kload_mem_add(bi, 0x101000, 0x1000, BOOT_MEM_NVS); /* type: new */
	kload_mem_add(bi, 0x102000, 0, BOOT_MEM_RESERVED); /* empty: dropped */
	kload_mem_add(bi, 0x102000, 0x1000, BOOT_MEM_NVS); /* merged */
	assert_int_equal(bi->nr_mem, 3);
	assert_int_equal(bi->mem[0].len, 0xa1000);
	assert_int_equal(bi->mem[2].base, 0x101000);
	assert_int_equal(bi->mem[2].len, 0x2000);
	assert_int_equal(bi->truncated, 0);

	/* Full: further ranges are dropped and flagged; merging still works. */
	for (unsigned i = bi->nr_mem; i < BOOT_MEM_MAX; i++)
		kload_mem_add(bi, (uint64_t)i << 24, 0x1000, i & 1 ? BOOT_MEM_RAM : BOOT_MEM_ACPI);
	assert_int_equal(bi->nr_mem, BOOT_MEM_MAX);
	assert_int_equal(bi->truncated, 0);
	kload_mem_add(bi, ((uint64_t)(BOOT_MEM_MAX - 1) << 24) + 0x1000, 0x1000,
		      bi->mem[BOOT_MEM_MAX - 1].type);
	assert_int_equal(bi->truncated, 0);
	assert_int_equal(bi->mem[BOOT_MEM_MAX - 1].len, 0x2000);
	kload_mem_add(bi, 1ull << 40, 0x1000, BOOT_MEM_RAM);
	assert_int_equal(bi->nr_mem, BOOT_MEM_MAX);
	assert_int_equal(bi->truncated, BOOT_TRUNC_MEM);
	free(bi);
}

/* LoadOptions as the firmware passes them: UCS-2, exactly sized, NUL-terminated or not. */
static int options(const char *s, int nul, char *out, size_t cap, uint32_t *trunc)
{
	size_t n = strlen(s) + (nul ? 1 : 0);
	uint8_t *w = malloc(2 * n + 1);
	int rc;

	assert_non_null(w);
	for (size_t i = 0; i < n; i++) {
		w[2 * i] = (uint8_t)s[i];
		w[2 * i + 1] = 0;
	}
	rc = kload_cmdline_options(out, cap, w, 2 * n, trunc);
	free(w);
	return rc;
}

static void test_cmdline_options(void **state)
{
	char out[BOOT_CMDLINE_MAX];
	uint32_t trunc = 0;
	static const struct {
		const char *in, *want;
		int rc;
	} cases[] = {
		{"test=boot", "test=boot", KLOAD_CMDLINE_OK},
		{"  test=boot  app=x \r\n", "test=boot  app=x", KLOAD_CMDLINE_OK},
		{"fs0:\\EFI\\BOOT\\VUKLDR.EFI test=boot note=\"two words\"",
		 "test=boot note=\"two words\"", KLOAD_CMDLINE_OK},
		{"VUKLDR.efi\ttest=boot", "test=boot", KLOAD_CMDLINE_OK},
		{"fs0:\\EFI\\BOOT\\VUKLDR test=boot", "test=boot", KLOAD_CMDLINE_OK},
		{"\"fs0:\\my dir\\x.efi\" test=boot", "test=boot", KLOAD_CMDLINE_OK},
		{"\"x.efi\" a=b", "a=b", KLOAD_CMDLINE_OK},
		{"path=a\\b.efi test=boot", "path=a\\b.efi test=boot", KLOAD_CMDLINE_OK},
		{"efi test=boot", "efi test=boot", KLOAD_CMDLINE_OK},
		{"fs0:\\EFI\\BOOT\\VUKLDR.EFI", "", KLOAD_CMDLINE_NONE},
		{"\\EFI\\BOOT\\BOOTX64.EFI   ", "", KLOAD_CMDLINE_NONE},
		{"\"unterminated.efi", "", KLOAD_CMDLINE_NONE},
		{"", "", KLOAD_CMDLINE_NONE},
		{" \t ", "", KLOAD_CMDLINE_NONE},
		{"test=b\x01oot", "", KLOAD_CMDLINE_NOT_TEXT},
		{"test=\x7f", "", KLOAD_CMDLINE_NOT_TEXT},
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int nul = 0; nul <= 1; nul++) {
			memset(out, 'X', sizeof(out));
			assert_int_equal(options(cases[i].in, nul, out, sizeof(out), &trunc),
					 cases[i].rc);
			assert_string_equal(out, cases[i].want);
		}
	}
	assert_int_equal(trunc, 0);
	/* Nothing at all, and an odd byte count (the last byte is ignored). */
	assert_int_equal(kload_cmdline_options(out, sizeof(out), NULL, 0, &trunc),
			 KLOAD_CMDLINE_NONE);
	assert_int_equal(kload_cmdline_options(out, sizeof(out), "a\0=\0b\0c", 7, &trunc),
			 KLOAD_CMDLINE_OK);
	assert_string_equal(out, "a=b");
	/* Text after a NUL does not count. */
	assert_int_equal(kload_cmdline_options(out, sizeof(out), "a\0\0\0\x01\0", 6, &trunc),
			 KLOAD_CMDLINE_OK);
	assert_string_equal(out, "a");
	/* edk2's auto-created boot options carry a GUID: binary, ignored. */
	{
		static const uint8_t guid[16] = {0x4e, 0xac, 0x08, 0x81, 0x11, 0x9f, 0x59, 0x4d,
						 0x85, 0x0e, 0xe2, 0x1a, 0x52, 0x2c, 0x59, 0xb2};
		uint8_t *g = malloc(sizeof(guid));

		assert_non_null(g);
		memcpy(g, guid, sizeof(guid));
		assert_int_equal(kload_cmdline_options(out, sizeof(out), g, sizeof(guid), &trunc),
				 KLOAD_CMDLINE_NOT_TEXT);
		assert_string_equal(out, "");
		free(g);
	}
	/* Non-ASCII UCS-2. */
	assert_int_equal(kload_cmdline_options(out, sizeof(out), "a\0\xe9\0", 4, &trunc),
			 KLOAD_CMDLINE_NOT_TEXT);
	assert_int_equal(kload_cmdline_options(out, sizeof(out), "a\0\x41\x01", 4, &trunc),
			 KLOAD_CMDLINE_NOT_TEXT);
	assert_int_equal(trunc, 0);
}

static void test_cmdline_truncation(void **state)
{
	char small[8];
	uint32_t trunc = 0;

	(void)state;
	assert_int_equal(options("x.efi abcdefg", 1, small, sizeof(small), &trunc),
			 KLOAD_CMDLINE_OK);
	assert_string_equal(small, "abcdefg");
	assert_int_equal(trunc, 0);
	assert_int_equal(options("x.efi abcdefgh", 1, small, sizeof(small), &trunc),
			 KLOAD_CMDLINE_OK);
	assert_string_equal(small, "abcdefg");
	assert_int_equal(trunc, BOOT_TRUNC_CMDLINE);
	trunc = BOOT_TRUNC_MEM;
	assert_int_equal(kload_cmdline_file(small, 1, "abc", 3, &trunc), KLOAD_CMDLINE_OK);
	assert_string_equal(small, "");
	assert_int_equal(trunc, BOOT_TRUNC_MEM | BOOT_TRUNC_CMDLINE);
}

/* The CMDLINE file, exactly sized. */
static int file(const char *s, size_t n, char *out, size_t cap, uint32_t *trunc)
{
	char *copy = malloc(n ? n : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, s, n);
	rc = kload_cmdline_file(out, cap, copy, n, trunc);
	free(copy);
	return rc;
}

static void test_cmdline_file(void **state)
{
	char out[BOOT_CMDLINE_MAX];
	uint32_t trunc = 0;
	static const struct {
		const char *in, *want;
		int rc;
	} cases[] = {
		{"test=boot\n", "test=boot", KLOAD_CMDLINE_OK},
		{"test=boot\r\n", "test=boot", KLOAD_CMDLINE_OK},
		{"\xef\xbb\xbftest=boot\n", "test=boot", KLOAD_CMDLINE_OK},
		{"test=boot\nnote=\"two words\"\n", "test=boot note=\"two words\"",
		 KLOAD_CMDLINE_OK},
		{"x.efi test=boot", "x.efi test=boot", KLOAD_CMDLINE_OK}, /* no image name here */
		{"\n\n", "", KLOAD_CMDLINE_NONE},
		{"", "", KLOAD_CMDLINE_NONE},
		{"\xef\xbb\xbf", "", KLOAD_CMDLINE_NONE},
		{"test=caf\xc3\xa9", "", KLOAD_CMDLINE_NOT_TEXT},
		{"\xef\xbb", "", KLOAD_CMDLINE_NOT_TEXT},
		{"test=boot\x1b[0m", "", KLOAD_CMDLINE_NOT_TEXT},
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 'X', sizeof(out));
		assert_int_equal(file(cases[i].in, strlen(cases[i].in), out, sizeof(out), &trunc),
				 cases[i].rc);
		assert_string_equal(out, cases[i].want);
	}
	assert_int_equal(file("a=b\0garbage\x01", 12, out, sizeof(out), &trunc), KLOAD_CMDLINE_OK);
	assert_string_equal(out, "a=b");
	assert_int_equal(kload_cmdline_file(out, sizeof(out), NULL, 5, &trunc), KLOAD_CMDLINE_NONE);
	assert_int_equal(trunc, 0);
}

int main(void)
{
	const struct CMUnitTest kload[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_load_segments),
		cmocka_unit_test(test_too_many_segments),
		cmocka_unit_test(test_notes),
		cmocka_unit_test(test_entry),
		cmocka_unit_test(test_mem_types),
		cmocka_unit_test(test_mem_add),
		cmocka_unit_test(test_cmdline_options),
		cmocka_unit_test(test_cmdline_truncation),
		cmocka_unit_test(test_cmdline_file),
	};

	return cmocka_run_group_tests(kload, NULL, NULL);
}
