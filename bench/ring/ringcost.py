#!/usr/bin/python3
"""In-guest ring cost: boots test=ringcost against real QEMU devices and prints
the guest's ns per buffer spent in our ring functions (median TSC per call of
virtqueue_add_*, virtqueue_kick_prepare, virtqueue_get_buf; see
tests/guest/ringcost.c), split and packed, virtio-blk at queue depth 1 and 32,
virtio-rng at depth 1 and 8. TCG: the figures are emulated-code time, for
comparing two builds of the ring on the same machine at the same moment, not
hardware figures; ring/ref divides by the guest's time for a fixed loop in the
same boot (ref), which takes out most of the emulator's speed changes.
Prints figures only; it never passes or fails on a time.

Usage: ringcost.py [--build build] [--kernel ELF]... [--runs N] [--json FILE]
With several --kernel, their boots are interleaved (A, B, A, B, ...) so that
a busy moment of the machine falls on both: one table per kernel. --json
writes the first kernel's figures for bench/report.py (make bench); a boot
that fails makes its configuration a row with the error, the others still run.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import common  # noqa: E402
import qemu  # noqa: E402

BLK = ["-drive", "driver=null-co,id=d0,if=none", "-device"]
CONFIGS = [  # (cmdline, devices)
    ("test=ringcost virtio=nobind", BLK + ["virtio-blk-pci,drive=d0,serial=ringcost,packed=off"]),
    ("test=ringcost virtio=nobind", BLK + ["virtio-blk-pci,drive=d0,serial=ringcost,packed=on"]),
    ("test=ringcost", ["-device", "virtio-rng-pci,packed=off"]),
    ("test=ringcost", ["-device", "virtio-rng-pci,packed=on"]),
]
# calls=: "single" (one call per buffer) or "burst" (add_bufs/get_bufs); absent
# from kernels older than the burst calls, which print only single passes.
LINE = re.compile(r"^ringcost: device=(\w+) layout=(\w+) qsize=(\d+) depth=(\d+)"
                  r"(?: calls=(\w+))? buffers=(\d+) "
                  r"bytes=\d+ kicks=(\d+) add_ns=([\d.]+) kick_prepare_ns=([\d.]+) "
                  r"get_ns=([\d.]+) ring_ns=([\d.]+) empty_polls=\d+ ref_ns=([\d.]+)$", re.M)


COLUMNS = ["add", "kick_prep", "get", "ring", "kicks/buf", "ref", "ring/ref"]


def config_name(cmdline, devices):
    dev = devices[-1].split(",")[0]
    return f"{dev} {'packed' if 'packed=on' in devices[-1] else 'split'}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--kernel", action="append",
                    help="kernel ELF (default: BUILD/kernel.elf); may be given more than once")
    ap.add_argument("--runs", type=int, default=3)
    common.add_json_arg(ap)
    a = ap.parse_args()
    kernels = a.kernel or [os.path.join(a.build, "kernel.elf")]
    rows = {k: {} for k in kernels}
    failed = {k: [] for k in kernels}  # (configuration, error)
    progress = common.Progress("bench-ringcost", len(CONFIGS) * a.runs * len(kernels))
    with progress:
        for cmdline, devices in CONFIGS:
            name = config_name(cmdline, devices)
            for run in range(a.runs):
                for kernel in kernels:
                    if any(f[0] == name for f in failed[kernel]):
                        continue
                    progress.step(f"{name}, boot {run + 1} of {a.runs}")
                    try:
                        p = subprocess.run(qemu.qemu_command(kernel, cmdline, devices=devices),
                                           capture_output=True, text=True, timeout=300)
                        rc, out = p.returncode, p.stdout
                    except subprocess.TimeoutExpired as e:
                        rc, out = None, e.stdout or ""
                        if isinstance(out, bytes):
                            out = out.decode(errors="replace")
                    found = LINE.findall(out)
                    if rc != qemu.EXIT_PASS or len(found) < 2:
                        why = (f"boot failed (exit {rc}, {len(found)} of 2 or 3 ringcost "
                               "lines): " + common.tail(out))
                        print(f"ringcost: {name}: {why}")
                        failed[kernel].append((name, why))
                        continue
                    for f in found:
                        v = [float(x) for x in f[7:]]
                        key = f[:4] + (f[4] or "single",)
                        rows[kernel].setdefault(key, []).append(
                            v[:4] + [int(f[6]) / int(f[5]), v[4], v[3] / v[4]])
    cases = []
    for kernel in kernels:
        print(f"guest ring cost, median of {a.runs} boots (TCG), ns per buffer: {kernel}")
        print(f"{'device':<6} {'layout':<7} {'qsize':>5} {'depth':>5} {'calls':<6} {'add':>8} "
              f"{'kick_prep':>9} {'get':>8} {'ring':>8} {'kicks/buf':>9} {'ref':>6} {'ring/ref':>8}")
        for key, runs in rows[kernel].items():
            med = [statistics.median(col) for col in zip(*runs)]
            print(f"{key[0]:<6} {key[1]:<7} {key[2]:>5} {key[3]:>5} {key[4]:<6} {med[0]:8.1f} "
                  f"{med[1]:9.1f} {med[2]:8.1f} {med[3]:8.1f} {med[4]:9.3f} {med[5]:6.1f} "
                  f"{med[6]:8.2f}")
            if kernel == kernels[0]:
                cases.append({"device": key[0], "layout": key[1], "qsize": int(key[2]),
                              "depth": int(key[3]), "calls": key[4], "boots": len(runs),
                              "error": None,
                              **{c: round(m, 3) for c, m in zip(COLUMNS, med)}})
        for name, why in failed[kernel]:
            print(f"{name}: error: {why}")
            if kernel == kernels[0]:
                cases.append({"config": name, "error": why})
    common.write_json(a.json, {"bench": "ringcost", "guest": "ours",
                               "setup": {"runs": a.runs, "kernel": kernels[0], "accel": "tcg"},
                               "columns": COLUMNS, "cases": cases,
                               "error": None if rows[kernels[0]] else "no configuration ran"})
    return 1 if any(failed.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
