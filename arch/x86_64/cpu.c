/* CPU identification and legacy-PIC silencing at boot. */
#include <string.h>

#include <arch/x86_64/cpu.h>

struct cpu_features cpu_features;

void cpu_detect(void)
{
	struct cpu_features *f = &cpu_features;
	uint32_t r[4];

	cpuid(0, 0, r);
	f->max_leaf = r[0];
	memcpy(f->vendor, &r[1], 4);
	memcpy(f->vendor + 4, &r[3], 4);
	memcpy(f->vendor + 8, &r[2], 4);
	f->vendor[12] = '\0';

	cpuid(1, 0, r);
	f->sse2 = !!(r[3] & (1u << 26));
	f->x2apic = !!(r[2] & (1u << 21));
	f->hypervisor = !!(r[2] & (1u << 31));

	cpuid(0x80000000, 0, r);
	f->max_ext_leaf = r[0];
	if (f->max_ext_leaf >= 0x80000001) {
		cpuid(0x80000001, 0, r);
		f->nx = !!(r[3] & (1u << 20));
		f->pdpe1gb = !!(r[3] & (1u << 26));
	}
	if (f->max_ext_leaf >= 0x80000004) {
		for (uint32_t i = 0; i < 3; i++) {
			cpuid(0x80000002 + i, 0, r);
			memcpy(f->brand + 16 * i, r, 16);
		}
		f->brand[48] = '\0';
	}
	if (f->max_ext_leaf >= 0x80000007) {
		cpuid(0x80000007, 0, r);
		f->invariant_tsc = !!(r[3] & (1u << 8));
	}
	if (f->hypervisor) {
		cpuid(0x40000000, 0, r);
		f->max_hv_leaf = r[0] >= 0x40000000 && r[0] < 0x40000100 ? r[0] : 0;
	}
}

/*
 * 8259A PICs: remap their vectors to 0x20-0x2f, away from the CPU
 * exceptions, and mask every line; interrupts come through the IOAPIC.
 */
void pic_disable(void)
{
	outb(0x20, 0x11); /* ICW1: init, ICW4 follows */
	outb(0xa0, 0x11);
	outb(0x21, 0x20); /* ICW2: vector base */
	outb(0xa1, 0x28);
	outb(0x21, 0x04); /* ICW3: slave on IRQ2 */
	outb(0xa1, 0x02);
	outb(0x21, 0x01); /* ICW4: 8086 mode */
	outb(0xa1, 0x01);
	outb(0x21, 0xff); /* mask all */
	outb(0xa1, 0xff);
}
