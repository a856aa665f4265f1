"""The modern virtio-pci transport and the virtqueue against QEMU's real devices."""
import pytest

from vm import PASS


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


def test_virtio_probe_mixed_devices(boot):
    devices = ["-netdev", "user,id=n0,restrict=on",
               "-device", "virtio-net-pci,netdev=n0,addr=0x2,packed=on",
               "-drive", "driver=null-co,id=d0,if=none",
               "-device", "virtio-blk-pci,drive=d0,addr=0x3,disable-legacy=on",
               "-device", "virtio-rng-pci,addr=0x4",
               "-device", "virtio-rng-pci,addr=0x5,disable-modern=on"]
    run = boot(cmdline="test=virtio_probe", devices=devices)
    run.expect(PASS, [
        r"^virtio: virtio-net 00:02\.0: modern interface, 3 queues, interrupts MSI-X$",
        r"^virtio: virtio-blk 00:03\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:04\.0: modern interface, 1 queues, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:05\.0: no modern interface \(legacy-only device\), left alone$",
        r"^virtio: virtio-net 00:02\.0: features 0x[0-9a-f]+ .*RING_PACKED",
        r"^virtio: virtio-net 00:02\.0: 3 queues, sizes 256p 256p 64p, interrupts MSI-X$",
        r"^virtio: virtio-blk 00:03\.0: features 0x[0-9a-f]+ .*VERSION_1",
        r"^virtio: virtio-blk 00:03\.0: 1 queues, sizes 256, interrupts MSI-X$",
        r"^virtio: virtio-rng 00:04\.0: 1 queues, sizes 8, interrupts MSI-X$",
        r"^virtio: 3 devices$", r"^TEST PASS: virtio_probe$"])


def test_virtio_rng_missing(boot):
    boot(cmdline="test=virtio_rng").expect(35, [r"^virtio-rng: no device$"])


def test_virtio_irq_msix(boot):
    boot(cmdline="test=virtio_irq", devices=["-device", "virtio-rng-pci"]).expect(
        PASS, [r"^apic: local APIC id 0 at 0xfee00000$",
               r"^virtio-irq: round 0: interrupt after \d+ us, 64 bytes$",
               r"^virtio-irq: 4 interrupts via MSI-X, 4 queue interrupts counted by the ring$",
               r"^TEST PASS: virtio_irq$"])


@pytest.mark.parametrize("packed", ["off", "on"])
def test_virtio_without_msix_polls(boot, packed):
    """vectors=0: no MSI-X; the device is driven by polling and still works."""
    boot(cmdline="test=virtio_rng",
         devices=["-device", f"virtio-rng-pci,vectors=0,packed={packed}"]).expect(
        PASS, [r"^virtio: virtio-rng 00:01\.0: modern interface, 1 queues, interrupts polling "
               r"\(no MSI-X\)$", r"^TEST PASS: virtio_rng$"])
