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
import re


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

# Transport feature bits (VIRTIO 1.2 section 6) that device options switch off or on.
RING_BITS = {"INDIRECT_DESC": 28, "EVENT_IDX": 29, "VERSION_1": 32, "RING_PACKED": 34}


def ring_features(opts, legacy=False, packed_ok=True):
    """The ring features a device with QEMU options opts negotiates with our
    drivers (both always accept them): INDIRECT_DESC and EVENT_IDX unless turned
    off, VERSION_1 unless legacy, RING_PACKED with packed=on where offered."""
    want = {"INDIRECT_DESC", "EVENT_IDX"}
    if "indirect_desc=off" in opts:
        want.discard("INDIRECT_DESC")
    if "event_idx=off" in opts:
        want.discard("EVENT_IDX")
    if not legacy:
        want.add("VERSION_1")
        if packed_ok and "packed=on" in opts:
            want.add("RING_PACKED")
    return want


def check_ring_features(run, pattern, want, indirect_pattern=None):
    """pattern's group 1 is the negotiated feature word in hex: its ring bits must be
    exactly want. indirect_pattern's group 1 on every line it matches counts the
    buffers that used an indirect table: some with INDIRECT_DESC, none without."""
    hit = run.find(pattern)
    if not hit:
        run.fail(f"no line matching {pattern!r} (the negotiated features)")
    bits = int(hit[1].group(1), 16)
    got = {n for n, b in RING_BITS.items() if bits >> b & 1}
    if got != want:
        run.fail(f"negotiated ring features {sorted(got)}, expected {sorted(want)}")
    if indirect_pattern:
        rx = re.compile(indirect_pattern)
        counts = [int(m.group(1)) for _, t in run.lines for m in [rx.search(t)] if m]
        if not counts:
            run.fail(f"no line matching {indirect_pattern!r} (indirect counters)")
        if ("INDIRECT_DESC" in want) != (sum(counts) > 0):
            run.fail(f"indirect buffers {counts} with INDIRECT_DESC "
                     f"{'on' if 'INDIRECT_DESC' in want else 'off'}")
    print(f"{run.name}: ring features {' '.join(sorted(got))}")
