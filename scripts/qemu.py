#!/usr/bin/python3
"""Boot the kernel in QEMU: the one place that knows the QEMU command line.

Used by `make run` / `make debug` / `make run-efi` (interactive, console on
this terminal) and imported by the test runner (tests/qemu) and benchmarks
(bench/). `make run`'s whole command line is run_command() (`--run`), which
tests/qemu/test_run.py boots too. Two ways in: the kernel through PVH (-kernel), or an ESP image
under OVMF (UEFI; efi_esp=, --efi), with the console on COM1 either way.

The kernel leaves QEMU through isa-debug-exit: status 33 means pass,
35 means fail (the kernel writes 0x10 or 0x11; QEMU exits (v << 1) | 1).
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

EXIT_PASS = 33
EXIT_FAIL = 35

QEMU = "qemu-system-x86_64"

# OVMF (Debian's ovmf package): firmware code and the template of its
# variable store, the 4 MiB non-Secure-Boot pair first.
OVMF_PAIRS = [("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
              ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd")]


def ovmf_files():
    """(code, vars template) of the installed OVMF."""
    for code, vars_template in OVMF_PAIRS:
        if os.path.exists(code) and os.path.exists(vars_template):
            return code, vars_template
    raise FileNotFoundError("OVMF not found in /usr/share/OVMF (apt-get install ovmf)")


def die_with_parent():
    """preexec_fn for QEMU: killed when the process (thread) that started it
    dies, so a failed or interrupted test never leaves a guest running."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)


def qemu_command(kernel, cmdline="", machine="q35", accel="tcg", mem="256M",
                 cpu=None, serial="stdio", devices=(), gdb=False,
                 interactive=False, efi_esp=None, efi_vars=None, virtio_console=False):
    """Return the argv that boots `kernel` with `cmdline`.

    serial: a QEMU chardev spec for COM1 ("stdio", "file:PATH", ...).
    devices: extra QEMU arguments (virtio devices, netdevs, drives).
    efi_esp: boot this ESP image under OVMF instead (kernel is unused and
    cmdline must be empty: both come from the ESP, see scripts/esp.py).
    efi_vars: where the fresh copy of OVMF's variable store is written
    (default: OVMF_VARS.fd next to the ESP image); every boot starts from
    the template, so no boot entry or setting carries over.
    virtio_console: (interactive) a virtio-serial device whose console
    port shares this terminal with COM1 and the monitor through one mux:
    the kernel log (COM1) and the shell (the virtio console) both show,
    typing goes to the shell; Ctrl-A C cycles the input between the
    console, COM1 and the monitor.
    """
    args = [QEMU, "-machine", machine, "-accel", accel, "-m", str(mem),
            "-nodefaults", "-no-reboot", "-display", "none"]
    if efi_esp:
        if cmdline:
            raise ValueError("a UEFI boot takes its command line from the ESP")
        code, vars_template = ovmf_files()
        if efi_vars is None:
            efi_vars = os.path.join(os.path.dirname(os.path.abspath(efi_esp)), "OVMF_VARS.fd")
        shutil.copyfile(vars_template, efi_vars)
        args += ["-drive", f"if=pflash,format=raw,readonly=on,file={code}",
                 "-drive", f"if=pflash,format=raw,file={efi_vars}",
                 "-drive", f"format=raw,file={efi_esp}"]
    else:
        args += ["-kernel", kernel, "-append", cmdline]
    args += ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if cpu:
        args += ["-cpu", cpu]
    if interactive and virtio_console:
        # One mux on stdio; the frontend attached last (the console) has the input.
        args += ["-chardev", "stdio,id=term,mux=on,signal=off", "-serial", "chardev:term",
                 "-mon", "chardev=term,mode=readline",
                 "-device", "virtio-serial-" + ("device" if machine.startswith("microvm")
                                                else "pci"),
                 "-device", "virtconsole,chardev=term"]
    elif interactive:
        # mon:stdio multiplexes the monitor: Ctrl-A X quits, Ctrl-A C monitor.
        args += ["-serial", "mon:stdio"]
    else:
        args += ["-serial", serial, "-monitor", "none"]
    if gdb:
        args += ["-s", "-S"]
    args += list(devices)
    return args


# make run: the host ends of the forwards to the guest's services (net.serve=on),
# on 127.0.0.1 only, and the tap NETDEV=tap attaches to.
RUN_IPERF_PORT = 15001   # -> guest TCP 5001, the iperf 2 server
RUN_ECHO_PORT = 10007    # -> guest TCP 7, echo
RUN_TAP = "vtap0"


def run_devices(machine="q35", disk=None, net="user", vconsole=True, rng=True,
                iperf_port=RUN_IPERF_PORT, echo_port=RUN_ECHO_PORT, tap=RUN_TAP):
    """make run's virtio devices: a disk image (path, or None), the network
    ("user": QEMU's user network, restrict=on, with the two forwards;
    "tap": the existing or QEMU-created tap device `tap`, which nothing here
    configures; None), virtio-rng; the virtio console is qemu_command()'s
    (virtio_console=vconsole). On microvm they are virtio-mmio (version 2)."""
    mmio = machine.startswith("microvm")
    bus = "device" if mmio else "pci"
    args = ["-global", "virtio-mmio.force-legacy=false"] if mmio else []
    if disk:
        args += ["-drive", f"if=none,id=d0,format=raw,file={disk}",
                 "-device", f"virtio-blk-{bus},drive=d0"]
    if net == "user":
        args += ["-netdev", "user,id=n0,restrict=on"
                 f",hostfwd=tcp:127.0.0.1:{iperf_port}-:5001"
                 f",hostfwd=tcp:127.0.0.1:{echo_port}-:7",
                 "-device", f"virtio-net-{bus},netdev=n0"]
    elif net == "tap":
        args += ["-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
                 "-device", f"virtio-net-{bus},netdev=n0"]
    elif net:
        raise ValueError(f"net={net!r}: user, tap or nothing")
    if rng:
        args += ["-device", f"virtio-rng-{bus}"]
    return args


def run_cmdline(cmdline="", net="user"):
    """make run's kernel command line: net.serve=on first when there is a
    network (a later net.serve= in cmdline wins), then cmdline."""
    return " ".join(w for w in ("net.serve=on" if net else "", cmdline) if w)


def run_command(kernel="build/kernel.elf", cmdline="", machine="q35", accel="tcg", mem="256M",
                disk=None, net="user", vconsole=True, rng=True, iperf_port=RUN_IPERF_PORT,
                echo_port=RUN_ECHO_PORT, tap=RUN_TAP, extra=()):
    """The argv of `make run`: interactive (COM1, the virtio console and the
    monitor on stdio), the devices of run_devices(), then extra."""
    return qemu_command(kernel, run_cmdline(cmdline, net), machine, accel, mem,
                        interactive=True, virtio_console=vconsole,
                        devices=run_devices(machine, disk, net, vconsole, rng, iperf_port,
                                            echo_port, tap) + list(extra))


def _knob(value):
    """A make knob is off when empty or 0."""
    return value not in ("", "0", "no", "off")


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
    p.add_argument("--efi", metavar="ESP",
                   help="boot this ESP image under OVMF (UEFI) instead of the kernel via PVH")
    p.add_argument("--interactive", action="store_true")
    p.add_argument("--virtio-console", action="store_true",
                   help="(interactive) the shell on a virtio console sharing the terminal")
    p.add_argument("--gdb", action="store_true", help="halt at start, gdb stub on :1234")
    p.add_argument("--symbolize", metavar="LOG",
                   help="print LOG with backtrace addresses resolved, then exit")
    run = p.add_argument_group("make run (--run): the whole stack; a knob is off when empty or 0")
    run.add_argument("--run", action="store_true",
                     help="boot make run's command line: disk, network, console, rng")
    run.add_argument("--disk", default="build/run-disk.img",
                     help="the disk image, made (scripts/run_disk.py) when missing")
    run.add_argument("--net", default="1", help="virtio-net")
    run.add_argument("--netdev", default="user", choices=("user", "tap"),
                     help="user: QEMU's user network with the forwards; tap: --tap")
    run.add_argument("--tap", default=RUN_TAP, help="the tap device for --netdev tap")
    run.add_argument("--vconsole", default="1", help="the shell on a virtio console")
    run.add_argument("--rng", default="1", help="virtio-rng")
    run.add_argument("--iperf-port", type=int, default=RUN_IPERF_PORT)
    run.add_argument("--echo-port", type=int, default=RUN_ECHO_PORT)
    p.add_argument("extra", nargs="*", help="extra QEMU arguments (after --)")
    a = p.parse_args()
    if a.run:
        return run_main(a)
    if a.symbolize:
        with open(a.symbolize, errors="replace") as f:
            sys.stdout.write(symbolize(f.read(), a.kernel))
        return 0
    if a.efi and a.cmdline:
        sys.exit("qemu.py: with --efi the command line comes from the ESP "
                 "(make run-efi CMDLINE=...)")
    image = a.efi or a.kernel
    if not os.path.exists(image):
        sys.exit(f"qemu.py: {image} not found (run make{' efi' if a.efi else ''})")
    argv = qemu_command(a.kernel, a.cmdline, a.machine, a.accel, a.mem,
                        devices=a.extra, gdb=a.gdb, interactive=a.interactive, efi_esp=a.efi,
                        virtio_console=a.virtio_console)
    if a.interactive:
        print("qemu:", " ".join(argv), file=sys.stderr)
        print("qemu: Ctrl-A X quits", file=sys.stderr)
    rc = subprocess.call(argv)
    if rc in (EXIT_PASS, 0):
        return 0
    if rc == EXIT_FAIL:
        print("qemu: the kernel exited with the failure code", file=sys.stderr)
    return rc


def run_main(a):
    """make run: say what is attached and how to reach it, then boot."""
    import run_disk
    if not os.path.exists(a.kernel):
        sys.exit(f"qemu.py: {a.kernel} not found (run make)")
    disk = run_disk.make(a.disk) if _knob(a.disk) else None
    net = a.netdev if _knob(a.net) else None
    vconsole, rng = _knob(a.vconsole), _knob(a.rng)
    argv = run_command(a.kernel, a.cmdline, a.machine, a.accel, a.mem, disk, net, vconsole, rng,
                       a.iperf_port, a.echo_port, a.tap, a.extra)
    say = lambda *w: print("run:", *w, file=sys.stderr)  # noqa: E731
    say(f"virtio-blk  {disk or 'none (DISK=)'}")
    if net == "user":
        say("virtio-net  user network (restrict=on); from this host: "
            f"iperf -c 127.0.0.1 -p {a.iperf_port}   and   echo hi | nc -N 127.0.0.1 {a.echo_port}")
    elif net == "tap":
        say(f"virtio-net  tap {a.tap} (configure it yourself; the guest needs "
            "CMDLINE=\"ip=A.B.C.D/N\")")
    else:
        say("virtio-net  none (NET=)")
    say("console     " + ("the shell on a virtio console, kernel log on COM1, one terminal "
                          "(Ctrl-A C cycles shell, COM1, monitor)" if vconsole
                          else "COM1 only (VCONSOLE=)"))
    say(f"virtio-rng  {'yes' if rng else 'none (RNG=)'}")
    say("qemu:", shlex.join(argv))
    say("Ctrl-A X quits")
    rc = subprocess.call(argv)
    return 0 if rc in (EXIT_PASS, 0) else rc


if __name__ == "__main__":
    sys.exit(main())
