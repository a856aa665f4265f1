# virtio unikernel: one plain Makefile, out-of-tree build in build/.
#
#   make            build build/kernel.elf (installs/builds deps when missing)
#   make run        boot it in QEMU, console on this terminal (Ctrl-A X quits)
#   make test       every test tier, ends with "N passed, N failed"
#   make debug      boot halted, waiting for gdb on :1234
#   make bench      benchmarks (print figures, never pass/fail)
#
# Knobs: MACHINE=q35|pc|microvm  ACCEL=tcg|kvm  MEM=256M  CMDLINE="app=shell"

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
# POSIX timers; lib/syscalls.c provides them.
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
VQ_SRCS := lib/sg_ring.c drivers/virtio/virtqueue.c drivers/virtio/virtqueue_split.c \
	drivers/virtio/virtqueue_packed.c

KERNEL_SRCS := \
	boot/pvh.S \
	boot/pvh.c \
	arch/x86_64/cpu.S \
	arch/x86_64/entry.S \
	arch/x86_64/cpu.c \
	arch/x86_64/desc.c \
	arch/x86_64/trap.c \
	arch/x86_64/paging.c \
	arch/x86_64/tsc.c \
	arch/x86_64/rtc.c \
	arch/x86_64/power.c \
	drivers/serial/uart16550.c \
	drivers/virtio/virtio_dma.c \
	$(VQ_SRCS) \
	lib/init.c \
	lib/console.c \
	lib/panic.c \
	lib/mem.c \
	lib/memmap.c \
	lib/page_alloc.c \
	lib/cmdline.c \
	lib/syscalls.c \
	lib/shell.c \
	tests/guest/exceptions.c \
	tests/guest/libc.c \
	tests/guest/memory.c \
	tests/guest/clock.c \
	tests/guest/interrupts.c

KERNEL_OBJS := $(patsubst %,$(BUILD)/kernel/%.o,$(KERNEL_SRCS))

# Host unit tests: the kernel's portable sources, unchanged, with ASan/UBSan.
HOST_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Iinclude -Itests/host \
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -MMD -MP
HOST_TESTS := memmap page_alloc cmdline
HOST_BINS := $(patsubst %,$(BUILD)/host/test_%,$(HOST_TESTS))
# Sources of host test NAME: HOST_SRCS_NAME if set, else its test file plus lib/NAME.c.
host_test_srcs = $(or $(HOST_SRCS_$(1)),tests/host/test_$(1).c lib/$(1).c)

.PHONY: all deps kernel run debug test test-host test-qemu bench bench-boot clean distclean format
all: $(BUILD)/kernel.elf

# Third-party code and Debian packages (scripts/deps.sh is idempotent and fast
# when everything is in place). `make deps` re-checks the packages too.
$(DEPS)/.ok: scripts/deps.sh
	scripts/deps.sh $(DEPS)
deps:
	scripts/deps.sh $(DEPS)

$(BUILD)/kernel/%.c.o: %.c $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(KERNEL_CFLAGS) -c $< -o $@

$(BUILD)/kernel/%.S.o: %.S $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  AS      $<"
	$(Q)$(CC) $(KERNEL_ASFLAGS) -c $< -o $@

$(BUILD)/kernel.elf: $(KERNEL_OBJS) linker.ld
	@echo "  LD      $@"
	$(Q)$(LD) $(KERNEL_LDFLAGS) -o $@ $(KERNEL_OBJS) $(KERNEL_LIBS)
	@size $@

.SECONDEXPANSION:
$(BUILD)/host/test_%: $$(call host_test_srcs,$$*) $(DEPS)/.ok
	@mkdir -p $(@D)
	@echo "  HOSTCC  $@"
	$(Q)$(CC) $(HOST_CFLAGS) -o $@ $(call host_test_srcs,$*) -lcmocka

# deps (packages re-checked) then the kernel, as sequential sub-makes so
# that -j never runs scripts/deps.sh twice at once.
kernel:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/kernel.elf

run: kernel
	$(PYTHON) scripts/qemu.py --machine $(MACHINE) --accel $(ACCEL) --mem $(MEM) \
		--cmdline "$(CMDLINE)" --interactive

debug: kernel
	@echo "QEMU waits for gdb: gdb $(BUILD)/kernel.elf -ex 'target remote :1234'"
	$(PYTHON) scripts/qemu.py --machine $(MACHINE) --accel $(ACCEL) --mem $(MEM) \
		--cmdline "$(CMDLINE)" --interactive --gdb

test:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory -j2 $(BUILD)/kernel.elf $(HOST_BINS)
	$(PYTHON) tests/run.py --build $(BUILD) --host $(HOST_BINS)

# One tier only.
test-host:
	$(Q)$(MAKE) --no-print-directory -j2 $(HOST_BINS)
	$(PYTHON) tests/run.py --build $(BUILD) --host $(HOST_BINS) --tiers host

test-qemu: kernel
	$(PYTHON) tests/run.py --build $(BUILD) --tiers qemu

bench: bench-boot
bench-boot: kernel
	$(PYTHON) bench/boot.py --build $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)/kernel $(BUILD)/host $(BUILD)/kernel.elf $(BUILD)/test-logs

distclean:
	rm -rf $(BUILD)

-include $(KERNEL_OBJS:.o=.d) $(wildcard $(BUILD)/host/*.d)
