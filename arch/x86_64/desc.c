/*
 * Descriptor tables: the kernel's GDT (flat 64-bit code/data plus a TSS
 * whose IST stacks take double faults, NMIs, machine checks and all
 * hardware interrupts) and the 256-entry IDT. SDM Vol. 3A, 3.4.5, 6.14, 7.7.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arch/x86_64/asm.h>
#include <arch/x86_64/trap.h>
#include <kernel/kernel.h>

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "SDM 7.7: 64-bit TSS is 104 bytes");
_Static_assert(offsetof(struct tss64, ist) == 36, "SDM 7.7: IST1 at offset 36");

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "SDM 6.14.1: 16-byte gates");

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

enum { IST_DF = 1, IST_NMI = 2, IST_MC = 3, IST_IRQ = 4 };
#define IST_STACK_SIZE (16 * 1024)
#define IRQ_STACK_SIZE (32 * 1024)

static uint8_t ist_df[IST_STACK_SIZE] __attribute__((aligned(16)));
static uint8_t ist_nmi[IST_STACK_SIZE] __attribute__((aligned(16)));
static uint8_t ist_mc[IST_STACK_SIZE] __attribute__((aligned(16)));
static uint8_t ist_irq[IRQ_STACK_SIZE] __attribute__((aligned(16)));

static struct tss64 tss __attribute__((aligned(16)));
static uint64_t gdt[5] __attribute__((aligned(16)));
static struct idt_gate idt[256] __attribute__((aligned(16)));
extern const uint64_t trap_stubs[256];

void gdt_init(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	struct desc_ptr p = {sizeof(gdt) - 1, (uint64_t)gdt};

	tss.ist[IST_DF - 1] = (uint64_t)(ist_df + sizeof(ist_df));
	tss.ist[IST_NMI - 1] = (uint64_t)(ist_nmi + sizeof(ist_nmi));
	tss.ist[IST_MC - 1] = (uint64_t)(ist_mc + sizeof(ist_mc));
	tss.ist[IST_IRQ - 1] = (uint64_t)(ist_irq + sizeof(ist_irq));
	tss.iomap_base = sizeof(tss); /* no I/O bitmap */

	gdt[0] = 0;
	gdt[KERNEL_CS / 8] = 0x00af9a000000ffffull; /* 64-bit code, DPL 0 */
	gdt[KERNEL_DS / 8] = 0x00cf92000000ffffull; /* data, DPL 0 */
	/* 16-byte available 64-bit TSS descriptor (type 9), present. */
	gdt[KERNEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
			      ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	gdt[KERNEL_TSS / 8 + 1] = base >> 32;

	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movl %2, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "movl %%eax, %%ss\n\t"
			 "xorl %%eax, %%eax\n\t"
			 "movl %%eax, %%fs\n\t"
			 "movl %%eax, %%gs\n\t"
			 "ltr %w3"
			 :
			 : "m"(p), "i"(KERNEL_CS), "i"(KERNEL_DS), "r"(KERNEL_TSS)
			 : "rax", "memory");
}

static void idt_set(unsigned vec, uint64_t handler, unsigned ist)
{
	struct idt_gate *g = &idt[vec];

	g->offset_lo = handler & 0xffff;
	g->selector = KERNEL_CS;
	g->ist = ist;
	g->type_attr = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
	g->offset_mid = (handler >> 16) & 0xffff;
	g->offset_hi = handler >> 32;
	g->reserved = 0;
}

void idt_init(void)
{
	struct desc_ptr p = {sizeof(idt) - 1, (uint64_t)idt};

	for (unsigned v = 0; v < 256; v++) {
		unsigned ist = 0;

		if (v == VEC_DF)
			ist = IST_DF; /* a kernel stack overflow still gets a dump */
		else if (v == VEC_NMI)
			ist = IST_NMI;
		else if (v == VEC_MC)
			ist = IST_MC;
		else if (v >= VEC_FIRST_IRQ)
			ist = IST_IRQ; /* never touch the interrupted stack */
		idt_set(v, trap_stubs[v], ist);
	}
	__asm__ volatile("lidt %0" : : "m"(p));
}

/* Ranges the backtrace may read: the boot stack and the IST stacks. */
extern char boot_stack_guard[], boot_stack_top[];

int stack_addr_ok(uint64_t a, uint64_t len)
{
	static const struct {
		const void *lo;
		size_t size;
	} stacks[] = {
		{ist_df, sizeof(ist_df)},
		{ist_nmi, sizeof(ist_nmi)},
		{ist_mc, sizeof(ist_mc)},
		{ist_irq, sizeof(ist_irq)},
	};
	uint64_t blo = (uint64_t)boot_stack_guard + PAGE_SIZE, bhi = (uint64_t)boot_stack_top;

	if (a >= blo && a + len <= bhi)
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(stacks); i++) {
		uint64_t lo = (uint64_t)stacks[i].lo, hi = lo + stacks[i].size;
		if (a >= lo && a + len <= hi)
			return 1;
	}
	return 0;
}
