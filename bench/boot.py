#!/usr/bin/python3
"""Boot benchmark: QEMU start to exit wall time and the kernel's own boot line.

For each machine, boots `test=boot` N times (TCG unless ACCEL says otherwise)
and prints the median, min and max wall time from starting QEMU to its exit,
and the median of the kernel's "boot: ready in N us" (first kernel
instruction to ready, TSC). Also prints the kernel image's section sizes.
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--machines", default="q35,microvm,pc")
    a = ap.parse_args()
    kernel = os.path.join(a.build, "kernel.elf")
    accel = os.environ.get("ACCEL", "tcg")

    size = subprocess.run(["size", kernel], capture_output=True, text=True, check=True)
    print(size.stdout.strip())
    print(f"kernel.elf file size: {os.path.getsize(kernel)} bytes")
    print()
    print(f"{'machine':<10} {'wall median':>12} {'min':>8} {'max':>8} {'kernel ready':>13}  ({a.runs} runs, {accel})")
    for machine in a.machines.split(","):
        walls, ready = [], []
        for _ in range(a.runs):
            argv = qemu.qemu_command(kernel, "test=boot", machine=machine, accel=accel)
            t0 = time.monotonic()
            p = subprocess.run(argv, capture_output=True, text=True, check=False,
                               stdin=subprocess.DEVNULL)
            walls.append(time.monotonic() - t0)
            m = re.search(r"^boot: ready in (\d+) us", p.stdout, re.M)
            if p.returncode != qemu.EXIT_PASS or not m:
                print(f"{machine}: boot failed (status {p.returncode})\n{p.stdout}")
                return 1
            ready.append(int(m.group(1)))
        print(f"{machine:<10} {1000 * statistics.median(walls):>9.1f} ms {1000 * min(walls):>5.1f} ms"
              f" {1000 * max(walls):>5.1f} ms {statistics.median(ready):>10.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
