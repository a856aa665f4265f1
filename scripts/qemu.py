#!/usr/bin/python3
"""Boot the kernel in QEMU: the one place that knows the QEMU command line.

Used by `make run` / `make debug` (interactive, console on this terminal)
and imported by the test runner (tests/qemu) and benchmarks (bench/).

The kernel leaves QEMU through isa-debug-exit: status 33 means pass,
35 means fail (the kernel writes 0x10 or 0x11; QEMU exits (v << 1) | 1).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

EXIT_PASS = 33
EXIT_FAIL = 35

QEMU = "qemu-system-x86_64"


def qemu_command(kernel, cmdline="", machine="q35", accel="tcg", mem="256M",
                 cpu=None, serial="stdio", devices=(), gdb=False,
                 interactive=False):
    """Return the argv that boots `kernel` with `cmdline`.

    serial: a QEMU chardev spec for COM1 ("stdio", "file:PATH", ...).
    devices: extra QEMU arguments (virtio devices, netdevs, drives).
    """
    args = [QEMU, "-machine", machine, "-accel", accel, "-m", str(mem),
            "-nodefaults", "-no-reboot", "-display", "none",
            "-kernel", kernel, "-append", cmdline,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if cpu:
        args += ["-cpu", cpu]
    if interactive:
        # mon:stdio multiplexes the monitor: Ctrl-A X quits, Ctrl-A C monitor.
        args += ["-serial", "mon:stdio"]
    else:
        args += ["-serial", serial, "-monitor", "none"]
    if gdb:
        args += ["-s", "-S"]
    args += list(devices)
    return args


def symbolize(log, kernel):
    """Append function and source line to the addresses of a backtrace."""
    addrs = re.findall(r"^\s+#\d+\s+(0x[0-9a-f]+)", log, re.M)
    if not addrs or not shutil.which("addr2line"):
        return log
    out = subprocess.run(["addr2line", "-f", "-i", "-p", "-C", "-e", kernel] + addrs,
                         capture_output=True, text=True, check=False).stdout
    # -i may print extra "(inlined by)" lines; keep the first line per address.
    names = {}
    lines = out.splitlines()
    j = 0
    for a in addrs:
        while j < len(lines) and lines[j].lstrip().startswith("(inlined by)"):
            j += 1
        if j < len(lines):
            names[a] = lines[j].strip()
            j += 1

    def repl(m):
        name = names.get(m.group(2))
        return m.group(0) + ("  " + name if name else "")
    return re.sub(r"^(\s+#\d+\s+)(0x[0-9a-f]+)$", repl, log, flags=re.M)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kernel", default="build/kernel.elf")
    p.add_argument("--machine", default="q35")
    p.add_argument("--accel", default="tcg")
    p.add_argument("--mem", default="256M")
    p.add_argument("--cmdline", default="")
    p.add_argument("--interactive", action="store_true")
    p.add_argument("--gdb", action="store_true", help="halt at start, gdb stub on :1234")
    p.add_argument("--symbolize", metavar="LOG",
                   help="print LOG with backtrace addresses resolved, then exit")
    p.add_argument("extra", nargs="*", help="extra QEMU arguments (after --)")
    a = p.parse_args()
    if a.symbolize:
        with open(a.symbolize, errors="replace") as f:
            sys.stdout.write(symbolize(f.read(), a.kernel))
        return 0
    if not os.path.exists(a.kernel):
        sys.exit(f"qemu.py: {a.kernel} not found (run make)")
    argv = qemu_command(a.kernel, a.cmdline, a.machine, a.accel, a.mem,
                        devices=a.extra, gdb=a.gdb, interactive=a.interactive)
    if a.interactive:
        print("qemu:", " ".join(argv), file=sys.stderr)
        print("qemu: Ctrl-A X quits", file=sys.stderr)
    rc = subprocess.call(argv)
    if rc in (EXIT_PASS, 0):
        return 0
    if rc == EXIT_FAIL:
        print("qemu: the kernel exited with the failure code", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
