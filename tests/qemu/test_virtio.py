"""The modern virtio-pci transport and the virtqueue against QEMU's real devices."""
import pytest

import transport as tp
from vm import FAIL, PASS


@pytest.mark.parametrize("packed", ["off", "on"])
def test_virtio_rng_data(boot, packed):
    layout = "packed" if packed == "on" else "split"
    boot(cmdline="test=virtio_rng", devices=["-device", f"virtio-rng-pci,packed={packed}"]).expect(
        PASS, [r"^virtio: virtio-rng 00:01\.0: modern interface, 1 queues, interrupts MSI-X$",
               rf"^virtio-rng: 32768 bytes in 128 buffers, {layout} ring, features 0x[0-9a-f]+ .*"
               r"VERSION_1", r"^TEST PASS: virtio_rng$"])


def test_virtio_rng_on_pc(boot):
    boot(cmdline="test=virtio_rng", machine="pc", devices=["-device", "virtio-rng-pci"]).expect(
        PASS, [r"^virtio-rng: 32768 bytes in 128 buffers, split ring", r"^TEST PASS: virtio_rng$"])


PROBE_DEVICES = ["-netdev", "user,id=n0,restrict=on",
                 "-device", "virtio-net-pci,netdev=n0,addr=0x2,packed=on",
                 "-drive", "driver=null-co,id=d0,if=none",
                 "-device", "virtio-blk-pci,drive=d0,addr=0x3,disable-legacy=on",
                 "-device", "virtio-rng-pci,addr=0x4",
                 "-device", "virtio-rng-pci,addr=0x5,disable-modern=on"]


def test_virtio_probe_mixed_devices(boot):
    """virtio-blk and virtio-net have drivers: the probe lists them as bound, leaves them alone."""
    run = boot(cmdline="test=virtio_probe", devices=PROBE_DEVICES)
    run.expect(PASS, [
        r"^virtio: virtio-net 00:02\.0: modern interface, 3 queues, interrupts MSI-X$",
        r"^virtio: virtio-blk 00:03\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^blk: vda: virtio-blk 00:03\.0, \d+ sectors",
        r"^virtio: virtio-rng 00:04\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:05\.0: legacy interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-net 00:02\.0: bound to virtio_net, features 0x[0-9a-f]+ .*RING_PACKED",
        r"^virtio: virtio-net 00:02\.0: 3 queues, in use: 256p 256p 64p, interrupts MSI-X$",
        r"^virtio: virtio-blk 00:03\.0: bound to virtio_blk, features 0x[0-9a-f]+ .*VERSION_1",
        r"^virtio: virtio-blk 00:03\.0: 1 queues, in use: 256, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:04\.0: 1 queues, sizes 8, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:05\.0: features 0x30000000 INDIRECT_DESC EVENT_IDX$",
        r"^virtio: virtio-rng 00:05\.0: 1 queues, sizes 8, interrupts MSI-X$",
        r"^virtio: 4 devices$", r"^TEST PASS: virtio_probe$"])


def test_virtio_probe_nobind(boot):
    """virtio=nobind: no driver binds, the probe negotiates with virtio-blk itself."""
    run = boot(cmdline="test=virtio_probe virtio=nobind", devices=PROBE_DEVICES)
    run.expect(PASS, [
        r"^virtio: virtio-blk 00:03\.0: features 0x[0-9a-f]+ .*VERSION_1",
        r"^virtio: virtio-blk 00:03\.0: 1 queues, sizes 256, interrupts MSI-X$",
        r"^virtio: 4 devices$", r"^TEST PASS: virtio_probe$"], absent=[r"^blk: vda"])


def test_virtio_rng_missing(boot):
    boot(cmdline="test=virtio_rng").expect(35, [r"^virtio-rng: no device$"])


def test_virtio_irq_msix_rounds(boot):
    boot(cmdline="test=virtio_irq", devices=["-device", "virtio-rng-pci"]).expect(
        PASS, [r"^apic: local APIC id 0 at 0xfee00000$",
               r"^virtio-irq: round 0: interrupt after \d+ us, 64 bytes$",
               r"^virtio-irq: 4 interrupts via MSI-X, 4 queue interrupts counted by the ring$",
               r"^TEST PASS: virtio_irq$"])


@pytest.mark.parametrize("opts,iface,mode", [
    ("", "modern", "MSI-X"),
    (",vectors=1", "modern", "MSI-X shared"),
    (",vectors=0", "modern", "INTx"),
    (",vectors=0,packed=on", "modern", "INTx"),
    (",disable-modern=on", "legacy", "MSI-X"),
    (",disable-modern=on,vectors=1", "legacy", "MSI-X shared"),
    (",disable-modern=on,vectors=0", "legacy", "INTx"),
])
def test_virtio_irq_modes(boot, opts, iface, mode):
    """A queue completes buffers by interrupt, counted in the handler, in each mode."""
    boot(cmdline="test=virtio_irq", devices=["-device", f"virtio-rng-pci{opts}"]).expect(
        PASS, [rf"^virtio: virtio-rng 00:01\.0: {iface} interface, 1 queues, interrupts {mode}$",
               r"^virtio-irq: round 3: interrupt after \d+ us, 64 bytes$",
               rf"^virtio-irq: 4 interrupts via {mode}, 4 queue interrupts counted by the ring$",
               r"^TEST PASS: virtio_irq$"])


@pytest.mark.parametrize("opts", ["", ",packed=on", ",vectors=0"])
def test_virtio_rng_legacy(boot, opts):
    """disable-modern=on: the 0.9.5 I/O BAR, split ring in the page-aligned layout
    (packed=on is offered by QEMU only to the modern interface: still split)."""
    boot(cmdline="test=virtio_rng",
         devices=["-device", f"virtio-rng-pci,disable-modern=on{opts}"]).expect(
        PASS, [r"^virtio: virtio-rng 00:01\.0: legacy interface, 1 queues",
               r"^virtio-rng: 32768 bytes in 128 buffers, split ring, features 0x30000000 "
               r"INDIRECT_DESC EVENT_IDX$", r"^TEST PASS: virtio_rng$"])


@pytest.mark.parametrize("opts", ["", ",packed=on", ",vectors=0"])
def test_virtio_queue_reset(boot, opts):
    """RING_RESET: four unseen buffers come back, the queue shrinks to 4 and works again."""
    boot(cmdline="test=virtio_queue_reset", devices=["-device", f"virtio-rng-pci{opts}"]).expect(
        PASS, [r"^virtio-reset: reset_vq -> 0, 4 buffers recycled, queue now 4 entries \(4 free\)$",
               r"^virtio-reset: 2 x 4 buffers of entropy after the reset: yes$",
               r"^TEST PASS: virtio_queue_reset$"])


def test_virtio_queue_reset_legacy(boot):
    boot(cmdline="test=virtio_queue_reset",
         devices=["-device", "virtio-rng-pci,disable-modern=on"]).expect(
        PASS, [r"^virtio-reset: reset_vq -> -95, 0 buffers recycled", r"^TEST PASS"])


@pytest.mark.parametrize("opts,mode", [("", "MSI-X"), (",vectors=0", "INTx")])
def test_virtio_needs_reset(boot, opts, mode):
    """QEMU answers a corrupt available index with DEVICE_NEEDS_RESET; we notice and recover."""
    boot(cmdline="test=virtio_needs_reset", devices=["-device", f"virtio-rng-pci{opts}"]).expect(
        PASS, [rf"interrupts {mode}$",
               r"^virtio: virtio-rng 00:01\.0: device reports DEVICE_NEEDS_RESET; its queues "
               r"are stopped$",
               r"^virtio-needs-reset: needs reset yes, config interrupts 1, queue device needs "
               r"reset$",
               r"^virtio-needs-reset: after a device reset 8 buffers of entropy again$",
               r"^TEST PASS: virtio_needs_reset$"])


@pytest.mark.parametrize("vectors", ["", ",vectors=0"])
def test_virtio_config_interrupt(boot, vectors):
    """set_link off in the monitor: virtio-net's config change reaches the driver's hook."""
    mode = "INTx" if vectors else "MSI-X"
    boot(cmdline="test=virtio_config_irq virtio=nobind",
         devices=["-netdev", "user,id=n0,restrict=on",
                  "-device", f"virtio-net-pci,netdev=n0{vectors}"],
         monitor=[(r"^virtio-config: link up, waiting", "set_link n0 off")]).expect(
        PASS, [rf"^virtio: virtio-net 00:0\d\.0: modern interface, 3 queues, interrupts {mode}$",
               r"^virtio-config: link up, waiting for a configuration change$",
               rf"^virtio-config: 1 configuration interrupts via {mode}, link down$",
               r"^TEST PASS: virtio_config_irq$"])


RICH = ["-netdev", "user,id=n0,restrict=on",
        "-device", "virtio-net-pci,netdev=n0,addr=0x2,disable-legacy=on",
        "-drive", "driver=null-co,id=d0,if=none",
        "-device", "virtio-blk-pci,drive=d0,addr=0x3,packed=on",
        "-device", "virtio-rng-pci,addr=0x4,disable-modern=on",
        "-device", "virtio-rng-pci,addr=0x5,vectors=1",
        "-device", "pci-bridge,id=br1,chassis_nr=1,addr=0x6",
        "-device", "virtio-rng-pci,bus=br1,addr=0x1",
        "-device", "virtio-rng-pci,bus=br1,addr=0x2,vectors=0"]


@pytest.mark.parametrize("machine", ["q35", "pc"])
def test_virtio_probe_rich(boot, machine):
    """Modern-only, transitional, legacy-only, several of a type, a bridge, each interrupt mode."""
    run = boot(cmdline="test=virtio_probe virtio=nobind", machine=machine, devices=RICH)
    run.expect(PASS, [
        r"^virtio: virtio-net 00:02\.0: modern interface, 3 queues, interrupts MSI-X$",
        r"^virtio: virtio-blk 00:03\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:04\.0: legacy interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:05\.0: modern interface, 1 queues, interrupts MSI-X shared$",
        r"^virtio: virtio-rng 01:01\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-rng 01:02\.0: modern interface, 1 queues, interrupts INTx$",
        r"^virtio: virtio-net 00:02\.0: 3 queues, sizes 256 256 64, interrupts MSI-X$",
        r"^virtio: virtio-blk 00:03\.0: features 0x[0-9a-f]+ .*RING_PACKED",
        r"^virtio: virtio-blk 00:03\.0: 1 queues, sizes 256p, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:04\.0: features 0x30000000 INDIRECT_DESC EVENT_IDX$",
        r"^virtio: virtio-rng 00:05\.0: 1 queues, sizes 8, interrupts MSI-X shared$",
        r"^virtio: virtio-rng 01:02\.0: 1 queues, sizes 8, interrupts INTx$",
        r"^virtio: 6 devices$", r"^TEST PASS: virtio_probe$"])


def test_virtio_probe_microvm_modes(boot):
    """microvm,pcie=on: own BAR assignment; MSI-X, shared MSI-X, and without MSI-X no
    INTx routing is known (no firmware Interrupt Line, no _PRT): polling, still working."""
    devices = ["-device", "virtio-rng-pci,addr=0x1", "-device", "virtio-rng-pci,addr=0x2,vectors=1",
               "-device", "virtio-rng-pci,addr=0x3,vectors=0"]
    boot(cmdline="test=virtio_probe", machine="microvm,pcie=on", devices=devices).expect(PASS, [
        r"^virtio: virtio-rng 00:01\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:02\.0: modern interface, 1 queues, interrupts MSI-X shared$",
        r"^virtio: virtio-rng 00:03\.0: modern interface, 1 queues, interrupts polling$",
        r"^virtio: 3 devices$", r"^TEST PASS: virtio_probe$"])


@pytest.mark.parametrize("opts,mode", [("", "MSI-X"), (",vectors=1", "MSI-X shared"),
                                       (",vectors=0", "polling")])
def test_virtio_irq_microvm(boot, opts, mode):
    """Completions on microvm: by MSI-X, and counted by polling where no interrupt exists."""
    run = boot(cmdline="test=virtio_irq" if mode != "polling" else "test=virtio_rng",
               machine="microvm,pcie=on", devices=["-device", f"virtio-rng-pci{opts}"])
    run.expect(PASS, [rf"^virtio: virtio-rng 00:01\.0: modern interface, 1 queues, "
                      rf"interrupts {mode}$", r"^TEST PASS"])


# virtio-mmio (microvm): the same tests on the second transport.

MMIO_RNG = [(tp.MMIO, "modern", "split", ""), (tp.MMIO, "modern", "packed", ",packed=on"),
            (tp.MMIO_LEGACY, "legacy", "split", ""),
            (tp.MMIO_CMDLINE, "modern", "packed", ",packed=on")]


@pytest.mark.parametrize("t,iface,layout,opts", MMIO_RNG,
                         ids=[f"{m[0]}-{m[2]}" for m in MMIO_RNG])
def test_virtio_rng_mmio(boot, t, iface, layout, opts):
    """Entropy through virtio-rng-device: version 2 and 1, split and packed, ACPI and
    command-line discovery (interrupts on a GSI with ACPI; polled without an IOAPIC)."""
    slot = tp.MMIO_SLOT_CMDLINE if t is tp.MMIO_CMDLINE else tp.MMIO_SLOT_ACPI
    mode = "polling" if t is tp.MMIO_CMDLINE else "GSI 47 level"
    found = "0 devices from ACPI, 1 from" if t is tp.MMIO_CMDLINE else "1 devices from ACPI, 0 from"
    boot(cmdline="test=virtio_rng", machine=t.machine, devices=t.device("rng", opts)).expect(
        PASS, [rf"^virtio: virtio-rng {slot}: {iface} interface, 1 queues, interrupts {mode}$",
               rf"^virtio-mmio: {found} the command line$",
               rf"^virtio-rng: 32768 bytes in 128 buffers, {layout} ring, features 0x[0-9a-f]+ "
               r"INDIRECT_DESC EVENT_IDX", r"^TEST PASS: virtio_rng$"])


@pytest.mark.parametrize("t", [tp.MMIO, tp.MMIO_LEGACY], ids=["modern", "legacy"])
def test_virtio_irq_mmio(boot, t):
    """Completions by the transport's IOAPIC line (level, as microvm's DSDT says),
    InterruptStatus read and InterruptACK written by the handler."""
    boot(cmdline="test=virtio_irq", machine=t.machine, devices=t.device("rng")).expect(
        PASS, [r"^virtio-irq: round 3: interrupt after \d+ us, 64 bytes$",
               r"^virtio-irq: 4 interrupts via GSI 47 level, 4 queue interrupts counted by "
               r"the ring$", r"^TEST PASS: virtio_irq$"])


def test_virtio_needs_reset_mmio(boot):
    boot(cmdline="test=virtio_needs_reset", machine=tp.MMIO.machine,
         devices=tp.MMIO.device("rng")).expect(
        PASS, [rf"^virtio: virtio-rng {tp.MMIO_SLOT_ACPI}: device reports DEVICE_NEEDS_RESET",
               r"^virtio-needs-reset: needs reset yes, config interrupts 1, queue device needs "
               r"reset$", r"^virtio-needs-reset: after a device reset 8 buffers of entropy again$",
               r"^TEST PASS: virtio_needs_reset$"])


def test_virtio_queue_reset_mmio(boot):
    """QEMU 7.2's virtio-mmio offers RING_RESET but has no QueueReset register: the
    transport sees the queue still ready, says -EOPNOTSUPP, and the queue runs on."""
    boot(cmdline="test=virtio_queue_reset", machine=tp.MMIO.machine,
         devices=tp.MMIO.device("rng")).expect(
        FAIL, [r"^virtio-reset: reset_vq -> -95, 0 buffers recycled"])


@pytest.mark.parametrize("t", [tp.MMIO, tp.MMIO_LEGACY], ids=["modern", "legacy"])
def test_virtio_config_interrupt_mmio(boot, t):
    """set_link off: InterruptStatus bit 1, told apart from a queue interrupt."""
    boot(cmdline="test=virtio_config_irq virtio=nobind", machine=t.machine,
         devices=["-netdev", "user,id=n0,restrict=on"] + t.device("net", ",netdev=n0"),
         monitor=[(r"^virtio-config: link up, waiting", "set_link n0 off")]).expect(
        PASS, [r"^virtio-config: link up, waiting for a configuration change$",
               r"^virtio-config: 1 configuration interrupts via GSI 47 level, link down$",
               r"^TEST PASS: virtio_config_irq$"])


def test_virtio_probe_mmio_max(boot):
    """Every one of microvm's 24 virtio-mmio transports (with ACPI) has a device."""
    devices = []
    for _ in range(24):
        devices += tp.MMIO.device("rng")
    run = boot(cmdline="test=virtio_probe", machine="microvm", devices=devices)
    run.expect(PASS, [r"^virtio: virtio-rng mmio@0xfeb02e00: modern interface, 1 queues, "
                      r"interrupts GSI 47 level$",
                      r"^virtio: virtio-rng mmio@0xfeb00000: modern interface, 1 queues, "
                      r"interrupts GSI 24 level$",
                      r"^virtio-mmio: 24 devices from ACPI, 0 from the command line$",
                      r"^virtio: 24 devices$", r"^TEST PASS: virtio_probe$"])


def test_virtio_probe_mmio_max_cmdline(boot):
    """acpi=off: microvm's 8 transports, each from a virtio_mmio.device= word."""
    devices = []
    for _ in range(8):
        devices += tp.MMIO_CMDLINE.device("rng")
    run = boot(cmdline="test=virtio_probe", machine=tp.MMIO_CMDLINE.machine, devices=devices)
    run.expect(PASS, [r"^virtio: virtio-rng mmio@0xfeb00000: modern interface",
                      r"^virtio-mmio: 0 devices from ACPI, 8 from the command line$",
                      r"^virtio: 8 devices$", r"^TEST PASS: virtio_probe$"])


def test_virtio_mmio_bad_cmdline_words(boot):
    """Malformed and unusable words are logged and skipped, an empty slot silently;
    the good word (QEMU's, appended last) works."""
    words = ("virtio_mmio.device=0@0x10000000:5 virtio_mmio.device=512@0xfeb00e00 "
             "virtio_mmio.device=1K@0xfeb01000:300 virtio_mmio.device=4K@0x200000:6 "
             "virtio_mmio.device=512@0xfeb00000:4 virtio_mmio.device=1K@0xfeb00000:9")
    run = boot(cmdline=f"test=virtio_rng {words}", machine=tp.MMIO_CMDLINE.machine,
               devices=tp.MMIO_CMDLINE.device("rng"))
    run.expect(PASS, [
        r"^virtio-mmio: virtio_mmio.device=0@0x10000000:5: size 0, skipped$",
        r"^virtio-mmio: virtio_mmio.device=512@0xfeb00e00: expected <size>@<base>:<irq>"
        r"\[:<id>\], skipped$",
        r"^virtio-mmio: virtio_mmio.device=1K@0xfeb01000:300: irq out of range \(0-255\), "
        r"skipped$",
        r"^virtio-mmio: command line: 0x200000\+0x1000 cannot be mapped \(RAM\?\), skipped$",
        r"^virtio-mmio: command line: 0xfeb00000\+0x400 overlaps another transport, skipped$",
        r"^virtio: virtio-rng mmio@0xfeb00e00: modern interface, 1 queues, interrupts polling$",
        r"^virtio-mmio: 0 devices from ACPI, 1 from the command line$",
        r"^TEST PASS: virtio_rng$"], absent=[r"virtio-rng mmio@0xfeb00000", r"0xfeb00000: version"])


def test_virtio_probe_pci_and_mmio(boot):
    """microvm,pcie=on: PCI and virtio-mmio devices at once, each bound on its transport."""
    devices = (["-device", "virtio-rng-pci,addr=0x1"] + tp.MMIO_PCIE.device("rng") +
               ["-drive", "driver=null-co,id=d0,if=none"] + tp.MMIO_PCIE.device("blk", ",drive=d0"))
    run = boot(cmdline="test=virtio_probe", machine=tp.MMIO_PCIE.machine, devices=devices)
    run.expect(PASS, [r"^virtio: virtio-rng 00:01\.0: modern interface, 1 queues, interrupts MSI-X$",
                      r"^virtio: virtio-(rng|blk) mmio@0xfeb02e00: modern interface",
                      r"^virtio: virtio-(rng|blk) mmio@0xfeb02c00: modern interface",
                      r"^blk: vda: virtio-blk mmio@0xfeb02[ce]00",
                      r"^virtio: 3 devices$", r"^TEST PASS: virtio_probe$"])
