# virtio unikernel: one plain Makefile, out-of-tree build in build/.
#
#   make            build build/kernel.elf (installs/builds deps when missing)
#   make run        boot the shell in QEMU with a virtio disk, network, console and rng (Ctrl-A X quits)
#   make test       every test tier, ends with "N passed, N failed, N skipped"
#   make debug      boot halted, waiting for gdb on :1234
#   make efi        build/efi/BOOTX64.EFI and the ESP image build/efi/esp.img
#   make run-efi    boot the ESP image under OVMF (UEFI), console on this terminal
#   make bench      every benchmark, ours then Linux 6.1 where there is a baseline, one report:
#                   build/bench/report.md, report.json, plots/*.png (QUICK=1: about a minute)
#                   one only (figures on the terminal): make bench-blk, bench-console, bench-net
#   make bench-linux-blk / bench-linux-net   the same figures for a Linux 6.1 guest
#   make fuzz       libFuzzer: the virtqueue (per layout), net, console, blk, ACPI, PCI; FUZZ_SECONDS (300) each
#
# Knobs: MACHINE=q35|pc|microvm  ACCEL=tcg|kvm  MEM=256M  CMDLINE="app=shell"  QEMU_ARGS="-device ..."
#        make run attaches disk, network, virtio console and rng; DISK= NET= VCONSOLE= RNG=
#        drop one, NETDEV=tap TAP=vtap0 a tap instead of user networking (see the run target)

BUILD   := build
DEPS    := $(BUILD)/deps
NEWLIB  := $(DEPS)/newlib/x86_64-elf
PYTHON  := /usr/bin/python3

MACHINE ?= q35
ACCEL   ?= tcg
MEM     ?= 256M
CMDLINE ?=

# V=1 shows the full commands.
Q := $(if $(V),,@)

CC      := gcc
LD      := ld
GCC_INC := $(shell $(CC) -print-file-name=include)

# newlib declares clock_gettime/nanosleep only when the system says it has
# POSIX timers; lib/kernel/syscalls.c provides them.
KERNEL_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-fno-pic -fno-pie -mno-red-zone -fno-stack-protector \
	-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-strict-aliasing \
	-nostdinc -isystem $(NEWLIB)/include -isystem $(GCC_INC) -Iinclude \
	-D_POSIX_TIMERS=1 -D_POSIX_MONOTONIC_CLOCK=200112L \
	-MMD -MP
KERNEL_ASFLAGS := -Iinclude -MMD -MP
KERNEL_LDFLAGS := -nostdlib -static -no-pie -z max-page-size=4096 -z noexecstack \
	--build-id=none -T linker.ld
KERNEL_LIBS := --start-group $(NEWLIB)/lib/libc.a $(NEWLIB)/lib/libm.a --end-group

# The virtqueue core: portable, built unchanged into the kernel, the host
# tests, the fuzzers and the ring benchmark.
VQ_SRCS := lib/sg_ring.c drivers/virtio/ring/virtqueue.c drivers/virtio/ring/virtqueue_split.c \
	drivers/virtio/ring/virtqueue_packed.c

# The virtio console's portable core: built unchanged into the kernel and
# its host test (the kernel glue is drivers/virtio/devices/console.c).
VCON_SRCS := drivers/virtio/devices/console_ctrl.c drivers/virtio/devices/console_port.c \
	drivers/virtio/devices/console_recover.c

# The kernel's sources, layer by layer (README "Layout" has the map).
BOOT_SRCS := boot/pvh.S boot/pvh.c boot/efi_entry.S boot/efi_start.c
ARCH_SRCS := arch/x86_64/cpu.S arch/x86_64/entry.S arch/x86_64/cpu.c arch/x86_64/desc.c \
	arch/x86_64/trap.c arch/x86_64/paging.c arch/x86_64/tsc.c arch/x86_64/rtc.c \
	arch/x86_64/power.c arch/x86_64/apic.c arch/x86_64/ioapic.c arch/x86_64/irq.c
# The kernel core (lib/kernel/): init, consoles, memory, files, syscalls, random, shell.
CORE_SRCS := lib/kernel/init.c lib/kernel/console.c lib/kernel/panic.c lib/kernel/mem.c \
	lib/kernel/memmap.c lib/kernel/page_alloc.c lib/kernel/syscalls.c lib/kernel/file.c \
	lib/kernel/random.c lib/kernel/shell.c
# Portable libraries (lib/): no kernel state, built into host tests as they are.
LIB_SRCS := lib/cmdline.c lib/sha256.c lib/chacha20.c lib/sg_cursor.c
# Firmware tables (drivers/acpi/) and buses (drivers/pci/, drivers/serial/).
ACPI_SRCS := drivers/acpi/acpi.c drivers/acpi/acpi_aml.c drivers/acpi/acpi_init.c
BUS_SRCS := drivers/serial/uart16550.c drivers/pci/pci.c drivers/pci/pci_resource.c \
	drivers/pci/pci_x86.c drivers/pci/pci_intx.c
# virtio: the core, its transports, the ring (VQ_SRCS) and the device drivers.
VIRTIO_SRCS := drivers/virtio/virtio.c drivers/virtio/features.c drivers/virtio/ring/virtio_dma.c \
	drivers/virtio/transport/wait.c drivers/virtio/transport/cfg_access.c \
	drivers/virtio/transport/pci_caps.c drivers/virtio/transport/pci.c \
	drivers/virtio/transport/mmio_parse.c drivers/virtio/transport/mmio.c \
	$(VQ_SRCS) \
	drivers/virtio/devices/blk_queue.c drivers/virtio/devices/blk.c \
	drivers/virtio/devices/net.c drivers/virtio/devices/rng.c \
	$(VCON_SRCS) drivers/virtio/devices/console.c drivers/virtio/devices/console_vport.c
# The block layer (drivers/block/): disks, request checks, jobs, the `blk` command.
BLOCK_SRCS := drivers/block/blkdev.c drivers/block/blk_job.c drivers/block/blk_shell.c \
	drivers/block/blk_pattern.c
# The network stack (net/): the lwIP port, the netif on virtio-net, the apps.
NET_SRCS := net/sys_arch.c net/net.c net/netif.c net/netif_tso.c net/netif_rxmem.c \
	net/serve.c net/iperf.c net/ping.c net/netcmds.c
# In-guest tests (KTEST), linked into the kernel.
KTEST_SRCS := tests/guest/exceptions.c tests/guest/libc.c tests/guest/memory.c \
	tests/guest/clock.c tests/guest/interrupts.c tests/guest/pci_intx.c \
	tests/guest/acpi_dump.c tests/guest/virtio.c tests/guest/ringcost.c tests/guest/blk.c \
	tests/guest/console.c

# Link order is the order of the linker tables (drivers, `help`, test and app
# lists): keep it.
KERNEL_SRCS := $(BOOT_SRCS) $(ARCH_SRCS) $(BUS_SRCS) $(VIRTIO_SRCS) $(CORE_SRCS) $(LIB_SRCS) \
	$(ACPI_SRCS) $(BLOCK_SRCS) $(KTEST_SRCS) $(NET_SRCS)

KERNEL_OBJS := $(patsubst %,$(BUILD)/kernel/%.o,$(KERNEL_SRCS))

# lwIP 2.1.3, compiled from the pristine tree in build/deps/lwip (never
# copied here) against our port in net/ (lwipopts.h, arch/cc.h). Its own
# warning set: upstream code, not held to our -Werror.
LWIP     := $(DEPS)/lwip/src
# lwIP's heap init shares its name with the kernel's mem_init(): renamed for
# everything that sees lwIP's headers.
LWIP_INC := -Inet -I$(LWIP)/include -Dmem_init=lwip_mem_init
LWIP_SRCS := \
	core/init.c core/def.c core/inet_chksum.c core/ip.c core/mem.c core/memp.c \
	core/netif.c core/pbuf.c core/raw.c core/stats.c core/sys.c core/tcp.c \
	core/tcp_in.c core/tcp_out.c core/timeouts.c core/udp.c \
	core/ipv4/dhcp.c core/ipv4/etharp.c core/ipv4/icmp.c core/ipv4/igmp.c \
	core/ipv4/ip4_frag.c core/ipv4/ip4.c core/ipv4/ip4_addr.c \
	core/ipv6/ethip6.c core/ipv6/icmp6.c core/ipv6/inet6.c core/ipv6/ip6.c \
	core/ipv6/ip6_addr.c core/ipv6/ip6_frag.c core/ipv6/mld6.c core/ipv6/nd6.c \
	netif/ethernet.c apps/lwiperf/lwiperf.c
LWIP_CFLAGS := -std=gnu11 -O2 -g -w \
	-fno-pic -fno-pie -mno-red-zone -fno-stack-protector \
	-fno-omit-frame-pointer -fno-strict-aliasing \
	-nostdinc -isystem $(NEWLIB)/include -isystem $(GCC_INC) -Iinclude $(LWIP_INC) -MMD -MP
LWIP_OBJS := $(patsubst %,$(BUILD)/lwip/%.o,$(LWIP_SRCS))

# Our port and network code (net/) sees lwIP's headers.
$(BUILD)/kernel/net/%: KERNEL_CFLAGS += $(LWIP_INC)

# The kernel's virtqueue core, disassembled by tests/check_dispatch.py.
VQ_DISPATCH_OBJ := $(BUILD)/kernel/drivers/virtio/ring/virtqueue.c.o

# Host unit tests: the kernel's portable sources, unchanged, with ASan/UBSan.
HOST_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Iinclude -Itests/host -I$(BUILD)/host/gen \
	-DVIRT_MB_HOOK -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -MMD -MP
HOST_TESTS := memmap page_alloc cmdline acpi acpi_aml virtqueue strict sg_ring pci kload blk sha256 \
	console vnet virtio_pci virtio_mmio netif chacha20
HOST_SRCS_acpi := tests/host/test_acpi.c drivers/acpi/acpi.c drivers/acpi/acpi_aml.c
HOST_SRCS_acpi_aml := tests/host/test_acpi_aml.c drivers/acpi/acpi_aml.c drivers/acpi/acpi.c
HOST_SRCS_pci := tests/host/test_pci.c drivers/pci/pci.c drivers/pci/pci_resource.c
HOST_SRCS_virtio_mmio := tests/host/test_virtio_mmio.c drivers/virtio/transport/mmio_parse.c \
	drivers/acpi/acpi_aml.c drivers/acpi/acpi.c
HOST_SRCS_virtio_pci := tests/host/test_virtio_pci.c drivers/pci/pci.c \
	drivers/virtio/transport/pci_caps.c drivers/virtio/transport/wait.c
HOST_SRCS_kload := tests/host/test_kload.c boot/efi/kload.c
HOST_SRCS_blk := tests/host/test_blk.c tests/host/vq_sim.c tests/host/virtio_dma_host.c \
	$(VQ_SRCS) lib/sg_cursor.c drivers/block/blk_pattern.c drivers/block/blkdev.c drivers/virtio/devices/blk_queue.c
HOST_SRCS_console := tests/host/test_console.c tests/host/vq_sim.c tests/host/virtio_dma_host.c \
	$(VQ_SRCS) $(VCON_SRCS)
# The virtio-net driver (#included by its test) on the ring core and the simulated device.
HOST_SRCS_vnet := tests/host/test_vnet.c tests/host/vnet_fake_transport.c tests/host/vq_sim.c \
	tests/host/virtio_dma_host.c drivers/virtio/features.c $(VQ_SRCS)
HOST_SRCS_strict := tests/host/test_strict.c tests/host/vq_sim.c tests/host/virtio_dma_host.c \
	$(VQ_SRCS)
HOST_SRCS_virtqueue := tests/host/test_virtqueue.c tests/host/vq_sim.c tests/host/virtio_dma_host.c \
	$(VQ_SRCS)
# The network receive path with lwIP on the host (tests/host/net_host.c): lwIP's
# objects built apart, with its own warning set and no alignment check (lwIP
# reads headers through packed structs); the driver and net/ with ours.
HOST_LWIP_CFLAGS := -std=gnu11 -O1 -g -w -Iinclude $(LWIP_INC) -fsanitize=address,undefined \
	-fno-sanitize=alignment -fno-sanitize-recover=all -fno-omit-frame-pointer
HOST_LWIP_OBJS := $(patsubst %,$(BUILD)/host/lwip/%.o,$(filter-out apps/%,$(LWIP_SRCS)))
NET_HOST_SRCS := tests/host/net_host.c tests/host/net_host_driver.c tests/host/vnet_fake_transport.c net/netif.c net/netif_rxmem.c \
	net/netif_tso.c lib/sg_ring.c drivers/virtio/features.c
HOST_SRCS_netif := tests/host/test_netif.c $(NET_HOST_SRCS)
HOST_BINS := $(patsubst %,$(BUILD)/host/test_%,$(HOST_TESTS))
HOST_SRCS_memmap := tests/host/test_memmap.c lib/kernel/memmap.c
HOST_SRCS_page_alloc := tests/host/test_page_alloc.c lib/kernel/page_alloc.c
# Sources of host test NAME: HOST_SRCS_NAME if set, else its test file plus lib/NAME.c.
host_test_srcs = $(or $(HOST_SRCS_$(1)),tests/host/test_$(1).c lib/$(1).c)

# Fuzzers (libFuzzer, clang): the ring sources, unchanged, against a device the
# input drives (tests/fuzz/). Their allocations go through fuzz_host.c, which
# can make the nth one fail. `make test` runs each FUZZ_TEST_SECONDS on a copy
# of the seed corpus; `make fuzz` FUZZ_SECONDS. Crashes land in build/fuzz/artifacts/.
FUZZ_CC := clang
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Iinclude -Itests/fuzz \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	-Dmalloc=fuzz_malloc -Dcalloc=fuzz_calloc -Drealloc=fuzz_realloc
FUZZ_SRCS := tests/fuzz/fuzz_vq.c tests/fuzz/fuzz_host.c $(VQ_SRCS)
FUZZ_DEPS := $(FUZZ_SRCS) tests/fuzz/fuzz_host.h drivers/virtio/ring/virtqueue_internal.h \
	$(wildcard include/virtio/*.h include/lib/sg_ring.h include/arch/x86_64/barrier.h)
# The network receive path (tests/fuzz/fuzz_net.c): the driver, net/ and lwIP over
# tests/host/net_host.c's scripted device; lwIP's objects built apart as for the host test.
NETFUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Iinclude -Itests/host $(LWIP_INC) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LWIP_CFLAGS := -std=gnu11 -O1 -g -w -Iinclude $(LWIP_INC) \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=alignment \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LWIP_OBJS := $(patsubst %,$(BUILD)/fuzz/lwip/%.o,$(filter-out apps/%,$(LWIP_SRCS)))
NETFUZZ_SRCS := tests/fuzz/fuzz_net.c $(NET_HOST_SRCS)
FUZZ_BINS := $(BUILD)/fuzz/fuzz_split $(BUILD)/fuzz/fuzz_packed $(BUILD)/fuzz/fuzz_net
FUZZ_SECONDS ?= 300
FUZZ_TEST_SECONDS ?= 30
# Hostile devices and firmware beyond the ring (tests/fuzz/fuzz_NAME.c): the
# console's control protocol and data paths, the block request engine with
# its device limits, the ACPI tables and the AML scan, PCI configuration space
# (enumeration, BAR and window assignment, the virtio-pci capability walk). A short pass of
# FUZZ_SHORT_SECONDS each in `make test`, FUZZ_SECONDS in `make fuzz`.
FUZZ_SHORT_SECONDS ?= 5
FUZZ_SRCS_console := $(VQ_SRCS) $(VCON_SRCS)
FUZZ_SRCS_blk := $(VQ_SRCS) drivers/virtio/devices/blk_queue.c drivers/block/blkdev.c lib/sg_cursor.c
FUZZ_SRCS_acpi := drivers/acpi/acpi.c drivers/acpi/acpi_aml.c $(VQ_SRCS)
FUZZ_SRCS_pci := drivers/pci/pci.c drivers/pci/pci_resource.c drivers/virtio/transport/pci_caps.c \
	$(VQ_SRCS)
FUZZ_MORE := console blk acpi pci
FUZZ_MORE_BINS := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_MORE))

# Host tests that are scripts printing TAP, run with the host binaries: the
# benchmark report tool on canned results (no benchmark runs).
HOST_SCRIPTS := tests/test_bench_report.py

# The ring benchmark: the same sources at -O2, no sanitizers, two threads.
BENCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Iinclude -pthread
BENCH_SRCS := bench/ring/ringbench.c tests/host/virtio_dma_host.c $(VQ_SRCS)

# The UEFI loader (boot/efi/): a GNU-EFI application (Debian's gnu-efi: crt0,
# linker script, libefi, libgnuefi) linked as a shared object, then turned into
# a PE32+ image by objcopy. The ESP image (FAT through mtools, no mounts) holds
# it as EFI/BOOT/BOOTX64.EFI next to EFI/BOOT/KERNEL.ELF (the kernel without
# debug info) and, when CMDLINE is set, EFI/BOOT/CMDLINE.
EFI_DIR := $(BUILD)/efi
EFI_LIB := /usr/lib
EFI_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding -fpic -fshort-wchar \
	-fno-stack-protector -fno-stack-check -mno-red-zone -maccumulate-outgoing-args \
	-isystem /usr/include/efi -isystem /usr/include/efi/x86_64 -Iinclude \
	-DEFI_FUNCTION_WRAPPER -MMD -MP
EFI_LDFLAGS := -nostdlib -znocombreloc -shared -Bsymbolic -T $(EFI_LIB)/elf_x86_64_efi.lds
EFI_SRCS := boot/efi/loader.c boot/efi/kload.c
EFI_OBJS := $(patsubst %,$(EFI_DIR)/obj/%.o,$(EFI_SRCS))
EFI_SECTIONS := -j .text -j .sdata -j .data -j .rodata -j .dynamic -j .dynsym \
	-j .rel -j .rela -j '.rel.*' -j '.rela.*' -j .reloc

.PHONY: all deps kernel run debug efi run-efi test test-host test-qemu test-fuzz fuzz bench \
	bench-boot bench-ring bench-ringcost bench-blk bench-console bench-net linux-guest bench-linux-blk \
	bench-linux-net clean distclean format FORCE
all: $(BUILD)/kernel.elf

# Third-party code and Debian packages (scripts/deps.sh is idempotent and fast
# when everything is in place). `make deps` re-checks the packages too.
# Objects depend on the stamp order-only: they are built after it exists,
# not rebuilt whenever deps.sh runs; a rebuilt newlib reaches them through
# the compiler's dependency files (its headers) and the link (libc.a).
$(DEPS)/.ok: scripts/deps.sh
	scripts/deps.sh $(DEPS)
deps:
	scripts/deps.sh $(DEPS)

$(BUILD)/kernel/%.c.o: %.c | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(KERNEL_CFLAGS) -c $< -o $@

$(BUILD)/lwip/%.c.o: $(LWIP)/%.c | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  CC      lwip/$*.c"
	$(Q)$(CC) $(LWIP_CFLAGS) -c $< -o $@

$(BUILD)/kernel/%.S.o: %.S | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  AS      $<"
	$(Q)$(CC) $(KERNEL_ASFLAGS) -c $< -o $@

$(NEWLIB)/lib/libc.a $(NEWLIB)/lib/libm.a: | $(DEPS)/.ok
	@test -f $@ || { echo "deps: $@ is missing after scripts/deps.sh" >&2; exit 1; }

$(BUILD)/kernel.elf: $(KERNEL_OBJS) $(LWIP_OBJS) linker.ld $(NEWLIB)/lib/libc.a $(NEWLIB)/lib/libm.a
	@echo "  LD      $@"
	$(Q)$(LD) $(KERNEL_LDFLAGS) -o $@ $(KERNEL_OBJS) $(LWIP_OBJS) $(KERNEL_LIBS)
	@size $@

$(EFI_DIR)/obj/%.c.o: %.c | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  EFICC   $<"
	$(Q)$(CC) $(EFI_CFLAGS) -c $< -o $@

$(EFI_DIR)/loader.so: $(EFI_OBJS)
	@echo "  LD      $@"
	$(Q)$(LD) $(EFI_LDFLAGS) -o $@ $(EFI_LIB)/crt0-efi-x86_64.o $(EFI_OBJS) \
		-L$(EFI_LIB) -lefi -lgnuefi

$(EFI_DIR)/BOOTX64.EFI: $(EFI_DIR)/loader.so
	@echo "  OBJCOPY $@"
	$(Q)objcopy $(EFI_SECTIONS) --target efi-app-x86_64 --subsystem=10 $< $@

$(EFI_DIR)/KERNEL.ELF: $(BUILD)/kernel.elf
	@mkdir -p $(@D)
	$(Q)objcopy --strip-debug $< $@

# EFI/BOOT/CMDLINE's content, rewritten only when CMDLINE changes.
$(EFI_DIR)/cmdline.txt: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$(CMDLINE)' | cmp -s - $@ || printf '%s\n' '$(CMDLINE)' > $@

$(EFI_DIR)/esp.img: $(EFI_DIR)/BOOTX64.EFI $(EFI_DIR)/KERNEL.ELF $(EFI_DIR)/cmdline.txt \
		scripts/esp.py
	@echo "  ESP     $@"
	$(Q)$(PYTHON) scripts/esp.py $@ --loader $(EFI_DIR)/BOOTX64.EFI \
		--kernel $(EFI_DIR)/KERNEL.ELF $(if $(CMDLINE),--cmdline-file $(EFI_DIR)/cmdline.txt)
	@ls -l $(EFI_DIR)/BOOTX64.EFI $@ | awk '{ print "  " $$5 " bytes  " $$NF }'

FORCE:

.SECONDEXPANSION:
# One compiler run per test binary writes one .d file for all its sources,
# so headers are listed here too.
HOST_HDRS := $(wildcard include/*/*.h include/*/*/*.h tests/host/*.h drivers/*/*.h drivers/*/*/*.h)
# QEMU's DSDTs for the AML scan's tests: dumped by the kernel under QEMU at build
# time (scripts/dump_dsdt.py), never kept in the tree.
DSDT_HDR := $(BUILD)/host/gen/dsdt_qemu.h
$(DSDT_HDR): scripts/dump_dsdt.py scripts/qemu.py | $(BUILD)/kernel.elf
	@echo "  DSDT    $@"
	$(Q)$(PYTHON) scripts/dump_dsdt.py --kernel $(BUILD)/kernel.elf --out $@
$(BUILD)/host/test_acpi_aml: $(DSDT_HDR)

$(BUILD)/host/test_%: $$(call host_test_srcs,$$*) $(HOST_HDRS) | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)$(CC) $(HOST_CFLAGS) -o $@ $(call host_test_srcs,$*) -lcmocka

$(BUILD)/host/lwip/%.c.o: $(LWIP)/%.c | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  HOSTCC  lwip/$*.c"
	$(Q)$(CC) $(HOST_LWIP_CFLAGS) -c $< -o $@

# Sources a test #includes: one compiler run for all of a test's sources leaves
# only the last one's dependency file, so these are named here.
$(BUILD)/host/test_vnet: drivers/virtio/devices/net.c

$(BUILD)/host/test_netif: $(HOST_SRCS_netif) drivers/virtio/devices/net.c $(HOST_LWIP_OBJS) $(HOST_HDRS) net/lwipopts.h \
		net/netif_vnet.h | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)$(CC) $(HOST_CFLAGS) $(LWIP_INC) -o $@ $(HOST_SRCS_netif) $(HOST_LWIP_OBJS) -lcmocka

$(BUILD)/fuzz/fuzz_split: $(FUZZ_DEPS) | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_LAYOUT=VQ_SPLIT -o $@ $(FUZZ_SRCS)

$(BUILD)/fuzz/fuzz_packed: $(FUZZ_DEPS) | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -DFUZZ_LAYOUT=VQ_PACKED -o $@ $(FUZZ_SRCS)

$(BUILD)/fuzz/lwip/%.c.o: $(LWIP)/%.c | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  FUZZCC  lwip/$*.c"
	$(Q)$(FUZZ_CC) $(FUZZ_LWIP_CFLAGS) -c $< -o $@

$(BUILD)/fuzz/fuzz_net: $(NETFUZZ_SRCS) $(FUZZ_LWIP_OBJS) $(HOST_HDRS) net/lwipopts.h \
		net/netif_vnet.h | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(NETFUZZ_CFLAGS) -o $@ $(NETFUZZ_SRCS) $(FUZZ_LWIP_OBJS)

FUZZ_MORE_COMMON := tests/fuzz/fuzz_host.c tests/fuzz/fuzz_splitq.c
$(FUZZ_MORE_BINS): $(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRCS_$$*) $(FUZZ_MORE_COMMON) \
		tests/fuzz/fuzz_host.h tests/fuzz/fuzz_script.h $(HOST_HDRS) | $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_MORE_COMMON) $(FUZZ_SRCS_$*)

$(BUILD)/bench/ringbench: $(BENCH_SRCS) drivers/virtio/ring/virtqueue_internal.h \
		$(wildcard include/virtio/*.h include/lib/sg_ring.h include/arch/x86_64/barrier.h)
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $(BENCH_SRCS)

# deps (packages re-checked) then the kernel, as sequential sub-makes so
# that -j never runs scripts/deps.sh twice at once.
kernel:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/kernel.elf

# make run: the whole stack (scripts/qemu.py --run, the command line tests/qemu/test_run.py
# boots): a virtio-blk disk (DISK, made on the first run and kept), virtio-net on QEMU's user
# network (restrict=on; 127.0.0.1:IPERF_PORT and :ECHO_PORT forwarded to the guest's iperf
# server and echo, which net.serve=on starts), the shell on a virtio console (COM1 keeps the
# kernel log) and virtio-rng. DISK= NET= VCONSOLE= RNG= (empty or 0) drop one. NETDEV=tap
# attaches the tap TAP instead (created and configured by you; CMDLINE="ip=A.B.C.D/N").
# MACHINE=microvm: the same devices on virtio-mmio. QEMU_ARGS: anything else.
DISK       ?= $(BUILD)/run-disk.img
NET        ?= 1
NETDEV     ?= user
TAP        ?= vtap0
VCONSOLE   ?= 1
RNG        ?= 1
IPERF_PORT ?= 15001
ECHO_PORT  ?= 10007

run: kernel
	$(PYTHON) scripts/qemu.py --run --machine $(MACHINE) --accel $(ACCEL) --mem $(MEM) \
		--cmdline "$(CMDLINE)" --disk "$(DISK)" --net "$(NET)" --netdev "$(NETDEV)" \
		--tap "$(TAP)" --vconsole "$(VCONSOLE)" --rng "$(RNG)" \
		--iperf-port $(IPERF_PORT) --echo-port $(ECHO_PORT) $(if $(QEMU_ARGS),-- $(QEMU_ARGS))

debug: kernel
	@echo "QEMU waits for gdb: gdb $(BUILD)/kernel.elf -ex 'target remote :1234'"
	$(PYTHON) scripts/qemu.py --machine $(MACHINE) --accel $(ACCEL) --mem $(MEM) \
		--cmdline "$(CMDLINE)" --interactive --gdb

# UEFI: BOOTX64.EFI and the ESP image (the kernel too), then boot it under
# OVMF; the command line comes from EFI/BOOT/CMDLINE (make run-efi CMDLINE=...).
efi:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory $(EFI_DIR)/esp.img

run-efi: efi
	$(PYTHON) scripts/qemu.py --efi $(EFI_DIR)/esp.img --machine $(MACHINE) --accel $(ACCEL) \
		--mem $(MEM) --interactive

test:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory -j2 $(BUILD)/kernel.elf $(EFI_DIR)/BOOTX64.EFI \
		$(EFI_DIR)/KERNEL.ELF $(HOST_BINS) $(FUZZ_BINS) $(FUZZ_MORE_BINS)
	$(PYTHON) tests/run.py --build $(BUILD) --host $(HOST_BINS) $(HOST_SCRIPTS) \
		--static $(VQ_DISPATCH_OBJ) \
		--fuzz $(FUZZ_BINS) $(addsuffix :$(FUZZ_SHORT_SECONDS),$(FUZZ_MORE_BINS)) \
		--fuzz-seconds $(FUZZ_TEST_SECONDS)

# One tier only.
test-host:
	$(Q)$(MAKE) --no-print-directory -j2 $(HOST_BINS)
	$(PYTHON) tests/run.py --build $(BUILD) --host $(HOST_BINS) $(HOST_SCRIPTS) --tiers host

test-qemu: efi
	$(PYTHON) tests/run.py --build $(BUILD) --tiers qemu

test-fuzz:
	$(Q)$(MAKE) --no-print-directory -j2 $(FUZZ_BINS) $(FUZZ_MORE_BINS)
	$(PYTHON) tests/run.py --build $(BUILD) --tiers fuzz --fuzz $(FUZZ_BINS) \
		$(addsuffix :$(FUZZ_SHORT_SECONDS),$(FUZZ_MORE_BINS)) --fuzz-seconds $(FUZZ_TEST_SECONDS)

# Long fuzzing: FUZZ_SECONDS per fuzzer (make fuzz FUZZ_SECONDS=3600).
fuzz:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory -j2 $(FUZZ_BINS) $(FUZZ_MORE_BINS)
	$(PYTHON) tests/run.py --build $(BUILD) --tiers fuzz --fuzz $(FUZZ_BINS) $(FUZZ_MORE_BINS) \
		--fuzz-seconds $(FUZZ_SECONDS)

# Every benchmark and one report (bench/suite.py, bench/report.py): figures only,
# never pass/fail. QUICK=1: fewer cases and shorter runs (about a minute).
bench: kernel $(BUILD)/bench/ringbench
	BACKEND=$(BACKEND) $(PYTHON) bench/suite.py --build $(BUILD) --accel $(ACCEL) $(if $(QUICK),--quick)

bench-boot: kernel
	$(PYTHON) bench/boot.py --build $(BUILD) $(BOOTBENCH_ARGS)

# virtio-blk benchmark (QEMU): make bench-blk BLKBENCH_ARGS="--queues 4 --ms 2000"
# BACKEND=vhost-user: the disk is qemu-storage-daemon's vhost-user-blk export
# (bench-linux-blk too, so both run against the same export).
bench-blk: kernel
	BACKEND=$(BACKEND) $(PYTHON) bench/blk.py --build $(BUILD) --accel $(ACCEL) $(BLKBENCH_ARGS)

# Virtio console throughput: make bench-console CONSOLE_BENCH_ARGS="--runs 5 --mib 32"
bench-console: kernel
	$(PYTHON) bench/console.py --build $(BUILD) $(CONSOLE_BENCH_ARGS)

# Network: TCP both ways and ping RTT through a tap in a namespace (root).
# make bench-net BENCH_NET_ARGS="--device ,packed=on --cmdline tso=off"
bench-net: kernel
	$(PYTHON) bench/net.py $(BENCH_NET_ARGS)

# Linux baseline (README "Linux baseline"): Debian's Linux 6.1 with busybox,
# fio and iperf 2 in an initramfs (kernel package cached in build/deps/linux),
# benchmarked in the QEMU set-up of ours:
#   make bench-linux-blk LINUXBLK_ARGS="--ms 2000 --sched none"
#   make bench-linux-net LINUXNET_ARGS="--time 10"      (root: netns + tap)
linux-guest:
	$(PYTHON) scripts/linux_guest.py --build $(BUILD)

bench-linux-blk:
	BACKEND=$(BACKEND) $(PYTHON) bench/linux_blk.py --build $(BUILD) --accel $(ACCEL) $(LINUXBLK_ARGS)

bench-linux-net:
	$(PYTHON) bench/linux_net.py --build $(BUILD) --accel $(ACCEL) $(LINUXNET_ARGS)

# Ring benchmark flags: make bench-ring RINGBENCH_ARGS="-s 256 -r 5 -q 1.3" (see its header)
bench-ring: $(BUILD)/bench/ringbench
	$(BUILD)/bench/ringbench $(RINGBENCH_ARGS)

# The ring's cost inside the guest (QEMU, test=ringcost): make bench-ringcost RINGCOST_ARGS="--runs 5"
bench-ringcost: kernel
	$(PYTHON) bench/ring/ringcost.py --build $(BUILD) $(RINGCOST_ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)/kernel $(BUILD)/lwip $(BUILD)/host $(BUILD)/kernel.elf $(BUILD)/test-logs \
		$(BUILD)/fuzz $(BUILD)/bench $(BUILD)/test-blk $(BUILD)/linux $(EFI_DIR)

distclean:
	rm -rf $(BUILD)

-include $(KERNEL_OBJS:.o=.d) $(LWIP_OBJS:.o=.d) $(wildcard $(BUILD)/host/*.d)
