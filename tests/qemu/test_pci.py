"""PCI enumeration from the host's point of view: the boot log lists every function."""
import os

import pytest

from vm import PASS

NET = ["-netdev", "user,id=n0,restrict=on"]


def test_q35_ecam_bridge_and_devices(boot):
    devices = NET + [
        "-device", "virtio-net-pci,netdev=n0,addr=0x2",
        "-device", "virtio-rng-pci,addr=0x3,disable-legacy=on",
        "-device", "virtio-rng-pci,addr=0x4,disable-modern=on",
        "-device", "pci-bridge,id=br1,chassis_nr=1,addr=0x5",
        "-device", "virtio-rng-pci,bus=br1,addr=0x1",
    ]
    run = boot(cmdline="test=boot", devices=devices)
    run.expect(PASS, [
        r"^pci: config access via ECAM at 0xb0000000, buses 0-255$",
        r"^pci: 00:00\.0 \[0600\] 8086:29c0 Q35 host bridge$",
        r"^pci: 00:02\.0 \[0200\] 1af4:1000 virtio-net \(transitional\)$",
        r"^pci: 00:03\.0 \[00ff\] 1af4:1044 virtio-rng$",
        r"^pci: 00:04\.0 \[00ff\] 1af4:1005 virtio-rng \(transitional\)$",
        r"^pci: 00:05\.0 \[0604\] 1b36:0001 PCI-PCI bridge$",
        r"^pci: 01:01\.0 \[00ff\] 1af4:1005 virtio-rng \(transitional\)$",
        r"^pci: 00:1f\.0 \[0601\] 8086:2918 ICH9 LPC bridge$",
        r"^pci: 9 functions, enumerated in \d+ us$",
        r"^TEST PASS: boot$"])


def test_pc_cf8(boot):
    run = boot(cmdline="test=boot", machine="pc",
               devices=NET + ["-device", "virtio-net-pci,netdev=n0,addr=0x4"])
    run.expect(PASS, [
        r"^pci: config access via ports 0xcf8/0xcfc$",
        r"^pci: 00:00\.0 \[0600\] 8086:1237 i440FX host bridge$",
        r"^pci: 00:01\.0 \[0601\] 8086:7000 PIIX3 ISA bridge$",
        r"^pci: 00:04\.0 \[0200\] 1af4:1000 virtio-net \(transitional\)$",
        r"^pci: 5 functions, enumerated in \d+ us$"])


def test_q35_cf8_forced_matches_ecam(boot):
    devices = NET + ["-device", "virtio-net-pci,netdev=n0,addr=0x2"]
    ecam = boot(cmdline="test=boot", devices=devices)
    cf8 = boot(cmdline="test=boot pci=cf8", devices=devices)
    ecam.expect(PASS, [r"via ECAM"])
    cf8.expect(PASS, [r"via ports 0xcf8/0xcfc \(pci=cf8\)$"])
    listing = [t for _, t in ecam.lines if t.startswith("pci: 0")]
    assert listing == [t for _, t in cf8.lines if t.startswith("pci: 0")]
    assert len(listing) == 5


def test_lspci_shell_command(boot):
    run = boot(cmdline="app=shell", input=b"lspci -v\rpoweroff\r", input_delay=0.3,
               devices=NET + ["-device", "virtio-net-pci,netdev=n0,addr=0x2"])
    run.expect(PASS, [r"^00:02\.0 \[0200\] 1af4:1000 virtio-net \(transitional\), driver virtio-pci$",
                      r"^    BAR0 I/O at 0x[0-9a-f]+, 32 bytes$",
                      r"^    BAR1 mem32 at 0x[0-9a-f]+, 4096 bytes$",
                      r"^    BAR4 mem64 pref at 0x[0-9a-f]+, 16384 bytes$",
                      r"^    capabilities: 11@98 09@84 09@70 09@60 09@50 09@40$",
                      r"^poweroff$"])


@pytest.mark.parametrize("machine", ["microvm"])
def test_no_pci_bus(boot, machine):
    """microvm without pcie=on has no PCI: zero functions, boot goes on."""
    boot(cmdline="test=boot", machine=machine).expect(
        PASS, [r"^pci: 0 functions, enumerated in \d+ us$", r"^TEST PASS: boot$"])


# Firmware that leaves BARs unassigned: microvm with pcie=on (qboot; ECAM and
# windows only in the DSDT, no I/O window) and q35 under qboot (MCFG, DSDT
# windows). The kernel assigns them; virtio then works through them.
MICROVM = "microvm,pcie=on"
QBOOT = "/usr/share/qemu/qboot.rom"
ASSIGN_CLEAN = [r"does not fit", r"left disabled", r"not probed", r"^acpi: skipped:"]
MICROVM_DEVICES = ["-device", "virtio-rng-pci", "-device", "virtio-rng-pci",
                   "-drive", "driver=null-co,id=d0,if=none", "-device", "virtio-blk-pci,drive=d0"]
MICROVM_ASSIGNED = [
    r"^pci: config access via ECAM at 0xe0000000, buses 0-255 \(DSDT \\_SB\.PCI0\._CBA\)$",
    r"^pci: 00:00\.0 \[0600\] 1b36:0008 PCIe host bridge$",
    r"^pci: 00:01\.0 \[00ff\] 1af4:1005 virtio-rng \(transitional\)$",
    r"^pci: 00:02\.0 \[00ff\] 1af4:1005 virtio-rng \(transitional\)$",
    r"^pci: 00:03\.0 \[0100\] 1af4:1001 virtio-blk \(transitional\)$",
    r"^pci: 4 functions, enumerated in \d+ us$",
    # No port space on microvm: the legacy I/O BARs stay unassigned, the devices
    # work through their memory BARs.
    r"^pci: 00:01\.0 BAR0 I/O 32 bytes left unassigned: no I/O window$",
    r"^pci: 00:02\.0 BAR0 I/O 32 bytes left unassigned: no I/O window$",
    r"^pci: 00:03\.0 BAR0 I/O 128 bytes left unassigned: no I/O window$",
    # 32-bit BARs in 0xc0000000-0xdfffffff, 64-bit prefetchable ones above 4 GiB.
    r"^pci: 00:01\.0 BAR1 mem32 4 KiB at 0xc0000000$",
    r"^pci: 00:01\.0 BAR4 mem64 pref 16 KiB at 0xc000000000$",
    r"^pci: 00:02\.0 BAR1 mem32 4 KiB at 0xc0001000$",
    r"^pci: 00:02\.0 BAR4 mem64 pref 16 KiB at 0xc000004000$",
    r"^pci: 00:03\.0 BAR1 mem32 4 KiB at 0xc0002000$",
    r"^pci: 00:03\.0 BAR4 mem64 pref 16 KiB at 0xc000008000$",
    r"^pci: resources: 6 BARs assigned, 0 bridges programmed, 0 kept from firmware, "
    r"3 I/O BARs left unassigned, 0 devices disabled$",
]


def test_microvm_pcie_assigns_bars(boot):
    run = boot(cmdline="test=virtio_probe", machine=MICROVM, devices=MICROVM_DEVICES)
    run.expect(PASS, MICROVM_ASSIGNED + [
        r"^virtio: virtio-rng 00:01\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:02\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-blk 00:03\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^blk: vda: virtio-blk 00:03\.0, 2097152 sectors \(1024 MiB\)",
        r"^virtio: virtio-blk 00:03\.0: bound to virtio_blk, features",
        r"^virtio: virtio-blk 00:03\.0: 1 queues, in use: 256, interrupts MSI-X$",
        r"^virtio: 3 devices$", r"^TEST PASS: virtio_probe$"], absent=ASSIGN_CLEAN)


def test_microvm_pcie_virtio_rng_data(boot):
    """Data through a queue proves the assigned BARs decode (and MSI-X in BAR1)."""
    run = boot(cmdline="test=virtio_rng", machine=MICROVM, devices=MICROVM_DEVICES)
    run.expect(PASS, MICROVM_ASSIGNED + [
        r"^virtio-rng: 32768 bytes in 128 buffers, split ring",
        r"^TEST PASS: virtio_rng$"], absent=ASSIGN_CLEAN)


def test_microvm_pcie_root_port(boot):
    """The root port's windows are programmed to cover the device behind it."""
    devices = ["-device", "pcie-root-port,id=rp1,chassis=1",
               "-device", "virtio-rng-pci,bus=rp1"]
    boot(cmdline="test=virtio_rng", machine=MICROVM, devices=devices).expect(PASS, [
        r"^pci: 00:01\.0 \[0604\] 1b36:000c PCIe root port$",
        r"^pci: 01:00\.0 \[00ff\] 1af4:1044 virtio-rng$",
        r"^pci: 00:01\.0 bridge window mem 1 MiB at 0xc0000000-0xc00fffff$",
        r"^pci: 00:01\.0 bridge window mem pref 1 MiB at 0xc000000000-0xc0000fffff$",
        r"^pci: 00:01\.0 BAR0 mem32 4 KiB at 0xc0100000$",
        r"^pci: 01:00\.0 BAR1 mem32 4 KiB at 0xc0000000$",
        r"^pci: 01:00\.0 BAR4 mem64 pref 16 KiB at 0xc000000000$",
        r"^pci: resources: 3 BARs assigned, 1 bridge programmed, 0 kept from firmware, "
        r"0 I/O BARs left unassigned, 0 devices disabled$",
        r"^virtio: virtio-rng 01:00\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio-rng: 32768 bytes in 128 buffers", r"^TEST PASS: virtio_rng$"],
        absent=ASSIGN_CLEAN)


def test_microvm_pcie_nested_bridges(boot):
    """Root port, then a PCIe-to-PCI bridge, then the device: windows depth-first."""
    devices = ["-device", "pcie-root-port,id=rp1,chassis=1",
               "-device", "pcie-pci-bridge,id=pb1,bus=rp1",
               "-device", "virtio-rng-pci,bus=pb1,addr=0x1"]
    boot(cmdline="test=virtio_irq", machine=MICROVM, devices=devices).expect(PASS, [
        r"^pci: 02:01\.0 \[00ff\] 1af4:1005 virtio-rng \(transitional\)$",
        r"^pci: 02:01\.0 BAR0 I/O 32 bytes left unassigned: no I/O window$",
        r"^pci: 00:01\.0 bridge window mem 2 MiB at 0xc0000000-0xc01fffff$",
        r"^pci: 00:01\.0 bridge window mem pref 1 MiB at 0xc000000000-0xc0000fffff$",
        r"^pci: 01:00\.0 bridge window mem 1 MiB at 0xc0000000-0xc00fffff$",
        r"^pci: 01:00\.0 bridge window mem pref 1 MiB at 0xc000000000-0xc0000fffff$",
        r"^pci: resources: 4 BARs assigned, 2 bridges programmed",
        r"^virtio-irq: 4 interrupts via MSI-X", r"^TEST PASS: virtio_irq$"],
        absent=ASSIGN_CLEAN)


def test_microvm_pcie_lspci_windows(boot):
    devices = ["-device", "pcie-root-port,id=rp1,chassis=1",
               "-device", "virtio-rng-pci,bus=rp1"]
    run = boot(cmdline="app=shell", machine=MICROVM, devices=devices,
               input=b"lspci -v\rpoweroff\r", input_delay=0.3)
    run.expect(PASS, [r"^00:01\.0 \[0604\] 1b36:000c PCIe root port$",
                      r"^    buses 1-1$",
                      r"^    window mem 0xc0000000-0xc00fffff$",
                      r"^    window mem pref 0xc000000000-0xc0000fffff$",
                      r"^01:00\.0 \[00ff\] 1af4:1044 virtio-rng, driver virtio-pci$",
                      r"^    BAR4 mem64 pref at 0xc000000000, 16384 bytes$",
                      r"^poweroff$"])


def test_microvm_pcie_bar_too_large(boot):
    """A VGA with 512 MiB of VRAM cannot fit beside its own registers in the 512 MiB
    window: it alone is left disabled, the virtio device after it still works."""
    devices = ["-device", "VGA,vgamem_mb=512", "-device", "virtio-rng-pci"]
    boot(cmdline="test=virtio_rng", machine=MICROVM, devices=devices).expect(PASS, [
        r"^pci: 00:01\.0 BAR2 mem32 4 KiB does not fit in any window "
        r"\(the device needs 524292 KiB in all\): device left disabled$",
        r"^pci: 00:02\.0 BAR1 mem32 4 KiB at 0xc0000000$",
        r"^pci: resources: 2 BARs assigned, 0 bridges programmed, 0 kept from firmware, "
        r"1 I/O BAR left unassigned, 1 device disabled$",
        r"^virtio: virtio-rng 00:02\.0: modern interface", r"^TEST PASS: virtio_rng$"])


@pytest.mark.skipif(not os.path.exists(QBOOT), reason=f"{QBOOT} not installed")
def test_q35_qboot_assigns_bars(boot):
    """qboot boots q35 through PVH and leaves every BAR at 0; the MCFG gives ECAM, the
    DSDT the windows (I/O from 0x1000)."""
    devices = ["-bios", QBOOT, "-device", "virtio-rng-pci,addr=0x2",
               "-device", "pci-bridge,id=br1,chassis_nr=1,addr=0x3",
               "-device", "virtio-rng-pci,bus=br1,addr=0x1"]
    boot(cmdline="test=virtio_probe", devices=devices).expect(PASS, [
        r"^pci: config access via ECAM at 0xb0000000, buses 0-255$",
        r"^pci: 00:03\.0 bridge window I/O 4 KiB at 0x1000-0x1fff$",
        r"^pci: 00:03\.0 bridge window mem 1 MiB at 0x[0-9a-f]+-0x[0-9a-f]+$",
        r"^pci: 00:03\.0 bridge window mem pref 1 MiB at 0x1[0-9a-f]{8}-0x1[0-9a-f]{8}$",
        r"^pci: 00:02\.0 BAR0 I/O 32 bytes at 0x[2-9a-f][0-9a-f]{3}$",
        r"^pci: 01:01\.0 BAR0 I/O 32 bytes at 0x1000$",
        r"^pci: resources: 10 BARs assigned, 1 bridge programmed, 0 kept from firmware, "
        r"0 I/O BARs left unassigned, 0 devices disabled$",
        r"^virtio: virtio-rng 00:02\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-rng 01:01\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: 2 devices$", r"^TEST PASS: virtio_probe$"], absent=ASSIGN_CLEAN)


@pytest.mark.skipif(not os.path.exists(QBOOT), reason=f"{QBOOT} not installed")
@pytest.mark.parametrize("machine", ["q35", "pc"])
def test_qboot_data_behind_bridge(boot, machine):
    """qboot on q35 (ECAM) and pc (CF8 ports): the bridge's windows are ours."""
    devices = ["-bios", QBOOT, "-device", "pci-bridge,id=br1,chassis_nr=1,addr=0x3",
               "-device", "virtio-rng-pci,bus=br1,addr=0x1"]
    boot(cmdline="test=virtio_rng", machine=machine, devices=devices).expect(PASS, [
        r"^pci: 00:03\.0 bridge window I/O 4 KiB at 0x1000-0x1fff$",
        r"^pci: 00:03\.0 bridge window mem 1 MiB",
        r"^virtio: virtio-rng 01:01\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio-rng: 32768 bytes in 128 buffers", r"^TEST PASS: virtio_rng$"],
        absent=ASSIGN_CLEAN)


def test_q35_bridge_firmware_assigned(boot):
    """SeaBIOS assigned everything (the SMBus at 0x700, below the allocation floor,
    included): nothing is moved or reprogrammed, data flows behind the bridge."""
    devices = ["-device", "pci-bridge,id=br1,chassis_nr=1",
               "-device", "virtio-rng-pci,bus=br1,addr=0x1"]
    boot(cmdline="test=virtio_rng", devices=devices).expect(PASS, [
        r"^pci: 01:01\.0 \[00ff\] 1af4:1005 virtio-rng \(transitional\)$",
        r"^pci: resources: 0 BARs assigned, 0 bridges programmed, \d+ kept from firmware, "
        r"0 I/O BARs left unassigned, 0 devices disabled$",
        r"^virtio: virtio-rng 01:01\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio-rng: 32768 bytes in 128 buffers", r"^TEST PASS: virtio_rng$"],
        absent=ASSIGN_CLEAN + [r"^pci: [0-9a-f:.]+ BAR\d .* at 0x", r"bridge window"])
