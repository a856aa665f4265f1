/*
 * kernel_main: the boot sequence shared by every boot path, the boot log,
 * and the choice of what runs (test=NAME, app=NAME; app=shell by default).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/ioapic.h>
#include <arch/x86_64/trap.h>
#include <boot/boot_info.h>
#include <acpi/acpi.h>
#include <kernel/clock.h>
#include <kernel/random.h>
#include <lib/cmdline.h>
#include <kernel/console.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <kernel/page_alloc.h>
#include <kernel/registry.h>
#include <net/net.h>
#include <pci/pci.h>
#include <virtio/virtio.h>

#define DEFAULT_APP "shell"

struct cmdline kernel_cmdline;

static void log_memory(void)
{
	uint64_t ks = (uint64_t)__kernel_start, ke = (uint64_t)__kernel_end;

	for (unsigned i = 0; i < phys_map.nr; i++) {
		const struct boot_mem_range *r = &phys_map.r[i];

		kprintf("mem: [0x%012llx-0x%012llx] %s\n", (unsigned long long)r->base,
			(unsigned long long)(r->base + r->len - 1), memmap_type_name(r->type));
	}
	kprintf("mem: %llu MiB usable, kernel 0x%llx-0x%llx (%llu KiB), %llu pages free\n",
		(unsigned long long)(memmap_total(&phys_map, BOOT_MEM_RAM) / MiB),
		(unsigned long long)ks, (unsigned long long)ke,
		(unsigned long long)((ke - ks) / KiB), (unsigned long long)kernel_pages.nfree);
}

static void log_clock(void)
{
	char when[32] = "unknown";
	time_t t = (time_t)clock_info.boot_epoch;
	struct tm tm;

	if (t && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	kprintf("clock: TSC %llu.%03llu MHz (%s), RTC %s\n",
		(unsigned long long)(clock_info.tsc_hz / 1000000),
		(unsigned long long)(clock_info.tsc_hz / 1000 % 1000), clock_info.source, when);
}

static __noreturn void run_test(const char *name)
{
	for_each_ktest (t) {
		if (strcmp(t->name, name) != 0)
			continue;
		kprintf("test %s: start\n", name);
		int rc = t->fn();
		fflush(stdout);
		if (rc == 0) {
			kprintf("TEST PASS: %s\n", name);
			kernel_exit(EXIT_PASS);
		}
		kprintf("TEST FAIL: %s (%d)\n", name, rc);
		kernel_exit(EXIT_FAIL);
	}
	kprintf("error: unknown test '%s'; available tests:\n", name);
	for_each_ktest (t)
		kprintf("  %-16s %s\n", t->name, t->help);
	kernel_exit(EXIT_FAIL);
}

static __noreturn void run_app(const char *name)
{
	for_each_kapp (a) {
		if (strcmp(a->name, name) != 0)
			continue;
		int rc = a->fn();
		kernel_exit(rc == 0 ? EXIT_PASS : EXIT_FAIL);
	}
	kprintf("error: unknown app '%s'; available apps:\n", name);
	for_each_kapp (a)
		kprintf("  %-16s %s\n", a->name, a->help);
	kernel_exit(EXIT_FAIL);
}

void kernel_main(struct boot_info *bi)
{
	const char *test, *app;
	int rc;

	console_init_early();
	cpu_detect();
	gdt_init();
	idt_init();
	pic_disable();
	mem_init(bi->mem, bi->nr_mem);
	paging_init(&phys_map);
	clock_init();

	kprintf("\nvirtio unikernel (x86-64), booted via %s\n", bi->protocol);
	kprintf("cpu: %s \"%s\"%s%s\n", cpu_features.vendor, cpu_features.brand,
		cpu_features.nx ? ", NX" : "", cpu_features.hypervisor ? ", hypervisor" : "");
	kprintf("cmdline: %s\n", bi->cmdline);
	log_memory();
	log_clock();
	if (bi->truncated)
		kprintf("warning: boot information truncated (%s%s)\n",
			bi->truncated & BOOT_TRUNC_CMDLINE ? "command line " : "",
			bi->truncated & BOOT_TRUNC_MEM ? "memory map" : "");

	rc = cmdline_parse(&kernel_cmdline, bi->cmdline);
	if (rc < 0 || (bi->truncated & BOOT_TRUNC_CMDLINE)) {
		kprintf("error: cannot parse the command line (%s)\n",
			rc == -E2BIG || rc >= 0 ? "too long or too many words"
						: "unterminated quote or empty key");
		kernel_exit(EXIT_FAIL);
	}
	acpi_init(bi);

	lapic_init();
	ioapic_init();
	pci_init();
	virtio_pci_init();
	virtio_mmio_init();

	kprintf("boot: ready in %llu us\n", (unsigned long long)(clock_ns() / 1000));

	test = cmdline_get(&kernel_cmdline, "test");
	app = cmdline_get(&kernel_cmdline, "app");
	if (test && app) {
		kprintf("error: give test= or app=, not both\n");
		kernel_exit(EXIT_FAIL);
	}
	if (test)
		run_test(test);
	/* Not before a test: in-guest tests drive virtio-rng devices raw. */
	random_init();
	net_autostart();
	run_app(app ? app : DEFAULT_APP);
}
