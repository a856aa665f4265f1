/*
 * The UEFI loader's portable half: everything it decides about bytes it
 * did not produce (the kernel file, LoadOptions, the CMDLINE file, the
 * memory map) is here, free of UEFI calls, and host-tested under ASan and
 * UBSan. The file is untrusted: every offset and size is checked before
 * use and arithmetic cannot wrap; fields are copied out, never read in
 * place, so no alignment is assumed.
 */
#include <boot/efi.h>
#include <boot/elf64.h>
#include <boot/kload.h>

static const char *const errors[KLOAD_E_COUNT] = {
	[KLOAD_OK] = "no error",
	[KLOAD_E_SHORT] = "file too short for an ELF header (truncated?)",
	[KLOAD_E_BIG] = "file larger than 64 MiB",
	[KLOAD_E_MAGIC] = "not an ELF file (bad magic)",
	[KLOAD_E_CLASS] = "not a 64-bit ELF file",
	[KLOAD_E_DATA] = "not a little-endian ELF file",
	[KLOAD_E_VERSION] = "unknown ELF version",
	[KLOAD_E_TYPE] = "not an ELF executable (ET_EXEC)",
	[KLOAD_E_MACHINE] = "not an x86-64 ELF file",
	[KLOAD_E_PHDRS] =
		"program header table missing, malformed or outside the file (truncated?)",
	[KLOAD_E_SEG_FILE] = "PT_LOAD file range outside the file (truncated?)",
	[KLOAD_E_SEG_MEMSZ] = "PT_LOAD memory size smaller than its file size",
	[KLOAD_E_SEG_ADDR] = "PT_LOAD physical address outside 1 MiB..4 GiB",
	[KLOAD_E_SEG_VADDR] = "PT_LOAD virtual address differs from its physical address",
	[KLOAD_E_SEG_OVERLAP] = "PT_LOAD segments overlap or share a page",
	[KLOAD_E_TOO_MANY] = "too many PT_LOAD segments",
	[KLOAD_E_NO_LOAD] = "no PT_LOAD segment",
	[KLOAD_E_IMAGE_BIG] = "PT_LOAD segments span more than 64 MiB",
	[KLOAD_E_NOTE_RANGE] = "PT_NOTE file range outside the file (truncated?)",
	[KLOAD_E_NOTE_BAD] = "malformed ELF note",
	[KLOAD_E_NO_ENTRY] = "no UEFI entry note (VUK): not a kernel of this project",
	[KLOAD_E_ENTRY] = "UEFI entry point outside the kernel's code",
};

const char *kload_strerror(int err)
{
	if (err < 0 || err >= KLOAD_E_COUNT)
		return "unknown error";
	return errors[err];
}

static uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

/* x rounded up to a power of two a; x is at most 2^63 here, so no wrap. */
static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Is [off, off + len) inside a file of size bytes? */
static int in_file(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static int check_load(const struct elf64_phdr *ph, uint64_t size, struct kload_image *img)
{
	struct kload_seg *s;
	uint64_t lo, hi;

	if (!in_file(ph->offset, ph->filesz, size))
		return KLOAD_E_SEG_FILE;
	if (ph->memsz < ph->filesz)
		return KLOAD_E_SEG_MEMSZ;
	if (ph->paddr < KLOAD_MIN_ADDR || ph->paddr > KLOAD_MAX_ADDR ||
	    ph->memsz > KLOAD_MAX_ADDR - ph->paddr)
		return KLOAD_E_SEG_ADDR;
	if (ph->vaddr != ph->paddr)
		return KLOAD_E_SEG_VADDR;
	/* Each segment gets its own pages (AllocateAddress, code or data). */
	lo = align_down(ph->paddr, KLOAD_PAGE);
	hi = align_up(ph->paddr + ph->memsz, KLOAD_PAGE);
	for (unsigned i = 0; i < img->nr_segs; i++) {
		const struct kload_seg *o = &img->seg[i];

		if (lo < align_up(o->paddr + o->memsz, KLOAD_PAGE) &&
		    align_down(o->paddr, KLOAD_PAGE) < hi)
			return KLOAD_E_SEG_OVERLAP;
	}
	if (img->nr_segs == KLOAD_MAX_SEGS)
		return KLOAD_E_TOO_MANY;
	s = &img->seg[img->nr_segs++];
	s->offset = ph->offset;
	s->filesz = ph->filesz;
	s->paddr = ph->paddr;
	s->memsz = ph->memsz;
	s->exec = !!(ph->flags & PF_X);
	return KLOAD_OK;
}

/* Walk the notes of one PT_NOTE segment; sets img->entry from a VUK note. */
static int check_notes(const uint8_t *file, uint64_t size, const struct elf64_phdr *ph,
		       struct kload_image *img)
{
	/* ELF64 notes are padded to 4 bytes in practice, to 8 when the segment says so. */
	uint64_t align = ph->align == 8 ? 8 : 4;
	const uint8_t *p = file + ph->offset;
	uint64_t pos = 0, len = ph->filesz;

	if (!in_file(ph->offset, ph->filesz, size))
		return KLOAD_E_NOTE_RANGE;
	while (len - pos >= sizeof(struct elf64_nhdr)) {
		struct elf64_nhdr n;
		uint64_t name, desc, next;

		__builtin_memcpy(&n, p + pos, sizeof(n));
		/* Offsets within the segment, which starts aligned; 32-bit sizes: no wrap. */
		name = pos + sizeof(n);
		desc = align_up(name + n.namesz, align);
		next = align_up(desc + n.descsz, align);
		if (desc > len || n.descsz > len - desc)
			return KLOAD_E_NOTE_BAD;
		if (n.namesz == VUK_NOTE_NAMESZ && n.type == VUK_NOTE_EFI_ENTRY &&
		    __builtin_memcmp(p + name, VUK_NOTE_NAME, VUK_NOTE_NAMESZ) == 0) {
			if (n.descsz != 8)
				return KLOAD_E_NOTE_BAD;
			if (!img->entry)
				__builtin_memcpy(&img->entry, p + desc, 8);
		}
		if (next >= len)
			break;
		pos = next;
	}
	return KLOAD_OK;
}

int kload_check(const void *file, uint64_t size, struct kload_image *img)
{
	const uint8_t *f = file;
	struct elf64_ehdr eh;
	int rc;

	img->nr_segs = 0;
	img->lo = img->hi = img->entry = 0;
	img->bad_phdr = -1;
	if (size < sizeof(eh))
		return KLOAD_E_SHORT;
	if (size > KLOAD_MAX_FILE)
		return KLOAD_E_BIG;
	__builtin_memcpy(&eh, f, sizeof(eh));
	if (eh.ident[0] != 0x7f || eh.ident[1] != 'E' || eh.ident[2] != 'L' || eh.ident[3] != 'F')
		return KLOAD_E_MAGIC;
	if (eh.ident[4] != ELFCLASS64)
		return KLOAD_E_CLASS;
	if (eh.ident[5] != ELFDATA2LSB)
		return KLOAD_E_DATA;
	if (eh.ident[6] != EV_CURRENT || eh.version != EV_CURRENT)
		return KLOAD_E_VERSION;
	if (eh.type != ET_EXEC)
		return KLOAD_E_TYPE;
	if (eh.machine != EM_X86_64)
		return KLOAD_E_MACHINE;
	if (eh.phentsize != sizeof(struct elf64_phdr) || eh.phnum == 0 ||
	    eh.phnum > KLOAD_MAX_PHDRS ||
	    !in_file(eh.phoff, (uint64_t)eh.phnum * sizeof(struct elf64_phdr), size))
		return KLOAD_E_PHDRS;

	for (unsigned i = 0; i < eh.phnum; i++) {
		struct elf64_phdr ph;

		__builtin_memcpy(&ph, f + eh.phoff + i * sizeof(ph), sizeof(ph));
		img->bad_phdr = (int)i;
		if (ph.type == PT_LOAD && ph.memsz > 0)
			rc = check_load(&ph, size, img);
		else if (ph.type == PT_NOTE)
			rc = check_notes(f, size, &ph, img);
		else
			rc = KLOAD_OK;
		if (rc != KLOAD_OK)
			return rc;
	}
	img->bad_phdr = -1;
	if (img->nr_segs == 0)
		return KLOAD_E_NO_LOAD;

	img->lo = UINT64_MAX;
	for (unsigned i = 0; i < img->nr_segs; i++) {
		const struct kload_seg *s = &img->seg[i];

		if (s->paddr < img->lo)
			img->lo = s->paddr;
		if (s->paddr + s->memsz > img->hi)
			img->hi = s->paddr + s->memsz;
	}
	if (img->hi - img->lo > KLOAD_MAX_IMAGE)
		return KLOAD_E_IMAGE_BIG;

	if (!img->entry)
		return KLOAD_E_NO_ENTRY;
	for (unsigned i = 0; i < img->nr_segs; i++) {
		const struct kload_seg *s = &img->seg[i];

		if (s->exec && img->entry >= s->paddr && img->entry - s->paddr < s->filesz)
			return KLOAD_OK;
	}
	return KLOAD_E_ENTRY;
}

uint32_t kload_mem_type(uint32_t efi_type)
{
	switch (efi_type) {
	case KLOAD_EFI_CONVENTIONAL:
	case KLOAD_EFI_BS_CODE:
	case KLOAD_EFI_BS_DATA:
	case KLOAD_EFI_LOADER_CODE:
	case KLOAD_EFI_LOADER_DATA: return BOOT_MEM_RAM;
	case KLOAD_EFI_ACPI_RECLAIM: return BOOT_MEM_ACPI;
	case KLOAD_EFI_ACPI_NVS: return BOOT_MEM_NVS;
	case KLOAD_EFI_UNUSABLE: return BOOT_MEM_UNUSABLE;
	default: return BOOT_MEM_RESERVED;
	}
}

void kload_mem_add(struct boot_info *bi, uint64_t base, uint64_t len, uint32_t type)
{
	struct boot_mem_range *last = bi->nr_mem ? &bi->mem[bi->nr_mem - 1] : NULL;

	if (len == 0)
		return;
	if (last && last->type == type && last->base + last->len == base) {
		last->len += len;
		return;
	}
	if (bi->nr_mem >= BOOT_MEM_MAX) {
		bi->truncated |= BOOT_TRUNC_MEM;
		return;
	}
	bi->mem[bi->nr_mem].base = base;
	bi->mem[bi->nr_mem].len = len;
	bi->mem[bi->nr_mem].type = type;
	bi->nr_mem++;
}

/* Text as bytes or UCS-2 (little-endian, read bytewise: no alignment assumed). */
struct text {
	const uint8_t *p;
	uint64_t n; /* characters, up to the first NUL */
	int wide;
};

static unsigned char_at(const struct text *t, uint64_t i)
{
	return t->wide ? (unsigned)t->p[2 * i] | (unsigned)t->p[2 * i + 1] << 8 : t->p[i];
}

static int is_space(unsigned c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int lower(unsigned c)
{
	return c >= 'A' && c <= 'Z' ? (int)(c - 'A' + 'a') : (int)c;
}

/* The end of the word at i: a "quoted" word runs to its closing quote. */
static uint64_t word_end(const struct text *t, uint64_t i)
{
	if (i < t->n && char_at(t, i) == '"') {
		for (i++; i < t->n && char_at(t, i) != '"'; i++)
			;
		return i < t->n ? i + 1 : i;
	}
	while (i < t->n && !is_space(char_at(t, i)))
		i++;
	return i;
}

/* An image path, as the UEFI shell puts first: no '=', a backslash or a ".efi" end. */
static int is_image_name(const struct text *t, uint64_t start, uint64_t end)
{
	static const char efi[] = ".efi";
	uint64_t e = end;
	int slash = 0;

	for (uint64_t i = start; i < end; i++) {
		if (char_at(t, i) == '=')
			return 0;
		slash |= char_at(t, i) == '\\';
	}
	if (e > start && char_at(t, e - 1) == '"')
		e--;
	if (slash)
		return 1;
	if (e - start < 4)
		return 0;
	for (unsigned k = 0; k < 4; k++)
		if (lower(char_at(t, e - 4 + k)) != efi[k])
			return 0;
	return 1;
}

static int convert(char *out, size_t cap, struct text *t, int skip_image, uint32_t *truncated)
{
	uint64_t start = 0, end, n = 0, len;

	out[0] = '\0';
	while (n < t->n && char_at(t, n) != 0)
		n++;
	t->n = n;
	for (uint64_t i = 0; i < n; i++) {
		unsigned c = char_at(t, i);

		if (!is_space(c) && (c < 0x20 || c > 0x7e))
			return KLOAD_CMDLINE_NOT_TEXT;
	}
	while (start < n && is_space(char_at(t, start)))
		start++;
	if (skip_image && start < n && is_image_name(t, start, word_end(t, start))) {
		start = word_end(t, start);
		while (start < n && is_space(char_at(t, start)))
			start++;
	}
	end = n;
	while (end > start && is_space(char_at(t, end - 1)))
		end--;
	if (start == end)
		return KLOAD_CMDLINE_NONE;
	len = end - start;
	if (len > cap - 1) {
		len = cap - 1;
		*truncated |= BOOT_TRUNC_CMDLINE;
	}
	for (uint64_t i = 0; i < len; i++) {
		unsigned c = char_at(t, start + i);

		out[i] = is_space(c) ? ' ' : (char)c;
	}
	out[len] = '\0';
	return KLOAD_CMDLINE_OK;
}

int kload_cmdline_options(char *out, size_t cap, const void *opts, uint64_t bytes,
			  uint32_t *truncated)
{
	struct text t = {opts, opts ? bytes / 2 : 0, 1};

	return convert(out, cap, &t, 1, truncated);
}

int kload_cmdline_file(char *out, size_t cap, const void *text, uint64_t len, uint32_t *truncated)
{
	struct text t = {text, text ? len : 0, 0};

	if (t.n >= 3 && t.p[0] == 0xef && t.p[1] == 0xbb && t.p[2] == 0xbf) {
		t.p += 3;
		t.n -= 3;
	}
	return convert(out, cap, &t, 0, truncated);
}
