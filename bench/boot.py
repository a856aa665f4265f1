#!/usr/bin/python3
"""Boot benchmark: QEMU start to exit wall time and the kernel's own boot line.

For each machine, boots `test=boot` N times (TCG unless ACCEL says otherwise)
and prints the median, min and max wall time from starting QEMU to its exit,
and the median of the kernel's "boot: ready in N us" (first kernel
instruction to ready, TSC). Also prints the kernel image's section sizes.
Besides bare machines, two configurations with three virtio devices (disk,
network, console): q35-pci (virtio-pci) and microvm-mmio (virtio-mmio).
Prints figures only; it never passes or fails on a time.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import qemu  # noqa: E402


def three_devices(bus, extra=()):
    """A null disk, a network on restricted user networking, a console on a null chardev."""
    return list(extra) + [
        "-drive", "driver=null-co,id=d0,if=none", "-device", f"virtio-blk-{bus},drive=d0",
        "-netdev", "user,id=n0,restrict=on", "-device", f"virtio-net-{bus},netdev=n0",
        "-chardev", "null,id=c0", "-device", f"virtio-serial-{bus}",
        "-device", "virtconsole,chardev=c0"]


# name: (QEMU machine, extra arguments)
CONFIGS = {
    "q35-pci": ("q35", three_devices("pci")),
    "microvm-mmio": ("microvm", three_devices(
        "device", ["-global", "virtio-mmio.force-legacy=false"])),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--machines", default="q35,microvm,pc,q35-pci,microvm-mmio",
                    help="QEMU machines, or " + ", ".join(CONFIGS))
    a = ap.parse_args()
    kernel = os.path.join(a.build, "kernel.elf")
    accel = os.environ.get("ACCEL", "tcg")

    size = subprocess.run(["size", kernel], capture_output=True, text=True, check=True)
    print(size.stdout.strip())
    print(f"kernel.elf file size: {os.path.getsize(kernel)} bytes")
    print()
    print(f"{'machine':<13} {'wall median':>12} {'min':>8} {'max':>8} {'kernel ready':>13}  ({a.runs} runs, {accel})")
    for name in a.machines.split(","):
        machine, devices = CONFIGS.get(name, (name, []))
        walls, ready = [], []
        for _ in range(a.runs):
            argv = qemu.qemu_command(kernel, "test=boot", machine=machine, accel=accel,
                                     devices=devices)
            t0 = time.monotonic()
            p = subprocess.run(argv, capture_output=True, text=True, check=False,
                               stdin=subprocess.DEVNULL)
            walls.append(time.monotonic() - t0)
            m = re.search(r"^boot: ready in (\d+) us", p.stdout, re.M)
            if p.returncode != qemu.EXIT_PASS or not m:
                print(f"{name}: boot failed (status {p.returncode})\n{p.stdout}")
                return 1
            ready.append(int(m.group(1)))
        print(f"{name:<13} {1000 * statistics.median(walls):>9.1f} ms {1000 * min(walls):>5.1f} ms"
              f" {1000 * max(walls):>5.1f} ms {statistics.median(ready):>10.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
