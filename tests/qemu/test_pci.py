"""PCI enumeration from the host's point of view: the boot log lists every function."""
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
