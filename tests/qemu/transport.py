"""Which virtio transport a QEMU test puts its devices on: the machine to boot
and the name of each virtio device there. Tests take one as a parameter so
the same test runs on q35's virtio-pci and on microvm's virtio-mmio.

    pci           q35, virtio-*-pci (every test's default)
    mmio          microvm, virtio-*-device, virtio-mmio version 2 (modern),
                  found through the DSDT (LNRO0005), one IOAPIC line each
    mmio-legacy   the same with QEMU's default version 1 (legacy) transport
    mmio-cmdline  microvm,acpi=off: found through the virtio_mmio.device=
                  words QEMU appends; no MADT, so no IOAPIC: polled
    mmio-pcie     microvm,pcie=on: virtio-mmio devices next to a PCIe bus
"""


class Transport:
    def __init__(self, name, machine, bus, extra=()):
        self.name = name
        self.machine = machine
        self.bus = bus              # "pci" or "device": virtio-blk-pci, virtio-blk-device
        self.extra = list(extra)    # QEMU arguments the transport needs once

    def device(self, kind, opts=""):
        """-device virtio-KIND-pci/-device with opts (",packed=on", ...)."""
        return self.extra + ["-device", f"virtio-{kind}-{self.bus}{opts}"]

    @property
    def mmio(self):
        return self.bus == "device"

    def __repr__(self):
        return self.name


MODERN_MMIO = ["-global", "virtio-mmio.force-legacy=false"]

PCI = Transport("pci", "q35", "pci")
MMIO = Transport("mmio", "microvm", "device", MODERN_MMIO)
MMIO_LEGACY = Transport("mmio-legacy", "microvm", "device")
MMIO_CMDLINE = Transport("mmio-cmdline", "microvm,acpi=off", "device", MODERN_MMIO)
MMIO_PCIE = Transport("mmio-pcie", "microvm,pcie=on", "device", MODERN_MMIO)

# Where QEMU 7.2's microvm puts the first virtio-mmio device: the top slot.
MMIO_SLOT_ACPI = r"mmio@0xfeb02e00"   # slot 23 of 24, GSI 47 (second IOAPIC)
MMIO_SLOT_CMDLINE = r"mmio@0xfeb00e00"  # slot 7 of 8, virtio_mmio.device=512@0xfeb00e00:12
