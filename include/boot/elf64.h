/*
 * ELF64 (System V ABI, gABI chapter 4-5; AMD64 supplement): the header,
 * program header and note header fields the UEFI loader reads.
 */
#ifndef BOOT_ELF64_H
#define BOOT_ELF64_H

#include <stddef.h>
#include <stdint.h>

#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define EV_CURRENT  1
#define ET_EXEC	    2
#define EM_X86_64   62
#define PT_LOAD	    1
#define PT_NOTE	    4
#define PF_X	    1

struct elf64_ehdr {
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
_Static_assert(sizeof(struct elf64_ehdr) == 64, "gABI: ELF64 header is 64 bytes");
_Static_assert(offsetof(struct elf64_ehdr, phoff) == 32, "gABI: e_phoff");
_Static_assert(offsetof(struct elf64_ehdr, phnum) == 56, "gABI: e_phnum");

struct elf64_phdr {
	uint32_t type, flags;
	uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
_Static_assert(sizeof(struct elf64_phdr) == 56, "gABI: ELF64 program header is 56 bytes");
_Static_assert(offsetof(struct elf64_phdr, paddr) == 24, "gABI: p_paddr");

struct elf64_nhdr {
	uint32_t namesz, descsz, type;
};
_Static_assert(sizeof(struct elf64_nhdr) == 12, "gABI: note header");

#endif
