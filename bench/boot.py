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
sys.path.insert(0, os.path.join(ROOT, "bench"))
import common  # noqa: E402


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
    common.add_json_arg(ap)
    a = ap.parse_args()
    kernel = os.path.join(a.build, "kernel.elf")
    accel = os.environ.get("ACCEL", "tcg")

    size = subprocess.run(["size", kernel], capture_output=True, text=True, check=True)
    print(size.stdout.strip())
    print(f"kernel.elf file size: {os.path.getsize(kernel)} bytes")
    print()
    print(f"{'machine':<13} {'wall median':>12} {'min':>8} {'max':>8} {'kernel ready':>13}  ({a.runs} runs, {accel})")
    names = a.machines.split(",")
    rows = []
    with common.Progress("bench-boot", len(names) * a.runs) as progress:
        for name in names:
            machine, devices = CONFIGS.get(name, (name, []))
            walls, ready = [], []
            row = {"machine": name, "qemu_machine": machine, "runs": a.runs, "error": None}
            rows.append(row)
            for i in range(a.runs):
                progress.step(f"{name} boot {i + 1} of {a.runs}")
                argv = qemu.qemu_command(kernel, "test=boot", machine=machine, accel=accel,
                                         devices=devices)
                t0 = time.monotonic()
                try:
                    p = subprocess.run(argv, capture_output=True, text=True, check=False,
                                       stdin=subprocess.DEVNULL, timeout=120)
                except subprocess.TimeoutExpired as e:
                    out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) \
                        else (e.stdout or "")
                    row["error"] = f"boot {i + 1}: no exit in 120 s: {common.tail(out)}"
                    break
                walls.append(time.monotonic() - t0)
                m = re.search(r"^boot: ready in (\d+) us", p.stdout, re.M)
                if p.returncode != qemu.EXIT_PASS or not m:
                    row["error"] = (f"boot {i + 1} failed (status {p.returncode}): "
                                    f"{common.tail(p.stdout + p.stderr)}")
                    break
                ready.append(int(m.group(1)))
            if row["error"]:
                print(f"{name:<13} error: {row['error']}")
                continue
            row.update(wall_median_ms=round(1000 * statistics.median(walls), 1),
                       wall_min_ms=round(1000 * min(walls), 1),
                       wall_max_ms=round(1000 * max(walls), 1),
                       ready_median_us=statistics.median(ready))
            print(f"{name:<13} {row['wall_median_ms']:>9.1f} ms {row['wall_min_ms']:>5.1f} ms"
                  f" {row['wall_max_ms']:>5.1f} ms {row['ready_median_us']:>10.0f} us")
    fields = size.stdout.splitlines()[1].split()
    sections = dict(zip(("text", "data", "bss"), map(int, fields[:3])))
    common.write_json(a.json, {
        "bench": "boot", "guest": "ours",
        "setup": {"accel": accel, "runs": a.runs, "kernel_bytes": os.path.getsize(kernel),
                  "sections": sections},
        "machines": rows, "error": None})
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
