"""A guest that runs while the test talks to it: the network tests' harness.

vm.boot() runs a guest to its end; network tests need the guest up while
host tools (ping, iperf, a TCP client) run against it, so Guest starts
QEMU in the background (optionally inside a network namespace), lets the
test wait for serial lines, type on the console, send monitor commands,
and finally collects a vm.Run for the usual expect() checks.

NetNs creates a network namespace with a tap device and deletes both on
exit: traffic stays between the host side of the tap and the guest.
"""
import os
import re
import socket
import subprocess
import threading
import time

import vm
from vm import qemu


def run(argv, netns=None, timeout=60, check=True):
    """Run a host command (inside netns if given); returns CompletedProcess."""
    if netns:
        argv = ["ip", "netns", "exec", netns] + list(argv)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stdout}")
    return p


class NetNs:
    """ip netns NAME with tap0 (HOST_IP/24 on the host side), deleted on exit."""

    def __init__(self, host_ip="10.77.0.1", tap="tap0"):
        self.name = f"vut{os.getpid()}x{int(time.monotonic() * 1000) % 100000}"
        self.tap = tap
        self.host_ip = host_ip

    def __enter__(self):
        run(["ip", "netns", "add", self.name])
        try:
            for cmd in (["ip", "link", "set", "lo", "up"],
                        ["ip", "tuntap", "add", "dev", self.tap, "mode", "tap"],
                        ["ip", "link", "set", self.tap, "up"],
                        ["ip", "addr", "add", f"{self.host_ip}/24", "dev", self.tap]):
                run(cmd, netns=self.name)
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def run(self, argv, **kw):
        return run(argv, netns=self.name, **kw)

    def popen(self, argv):
        return subprocess.Popen(["ip", "netns", "exec", self.name] + list(argv),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=qemu.die_with_parent)

    def __exit__(self, *exc):
        # Processes still in the namespace keep the tap; the namespace goes anyway.
        run(["ip", "netns", "pids", self.name], check=False)
        subprocess.run(["ip", "netns", "exec", self.name, "ip", "link", "del", self.tap],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", self.name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Guest:
    """QEMU in the background; use as a context manager (killed on exit)."""

    def __init__(self, name, cmdline="", devices=(), netns=None, machine="q35", mem="256M",
                 timeout=180, argv=None):
        """argv: boot this QEMU command line as it is (make run's, whose monitor
        shares stdio) instead of building one from cmdline, devices, machine."""
        self.name = name
        self.timeout = timeout
        os.makedirs(vm.LOGDIR, exist_ok=True)
        self.logfile = os.path.join(vm.LOGDIR, vm._safe(name) + ".log")
        self.mon_path = vm.monitor_path(name)
        if os.path.exists(self.mon_path):
            os.unlink(self.mon_path)
        if argv is None:
            argv = qemu.qemu_command(vm.KERNEL, cmdline, machine=machine, accel=vm.ACCEL,
                                     mem=mem, serial="stdio", devices=devices)
            argv += ["-monitor", f"unix:{self.mon_path},server=on,wait=off"]
        self.argv = (["ip", "netns", "exec", netns.name] if netns else []) + argv
        self.lines = []
        self.cond = threading.Condition()
        self.start = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=qemu.die_with_parent)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._add(line)
        if buf:
            self._add(buf)
        with self.cond:
            self.cond.notify_all()

    def _add(self, raw):
        text = vm.ANSI_CSI.sub("", raw.decode("utf-8", "replace")).rstrip("\r")
        with self.cond:
            self.lines.append((time.monotonic() - self.start, text))
            self.cond.notify_all()

    def note(self, text):
        """Put a host-side remark into the log (shown with the serial lines)."""
        self._add(f"[host] {text}".encode())

    def run_result(self):
        return vm.Run(self.name, self.argv, self.proc.returncode, list(self.lines),
                      False, self.logfile)

    def wait_for(self, pattern, timeout=60, after=0):
        """The first line (from index after) matching pattern: its re.Match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        pos = after
        with self.cond:
            while True:
                while pos < len(self.lines):
                    m = rx.search(self.lines[pos][1])
                    if m:
                        return m
                    pos += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    break
                self.cond.wait(min(left, 0.5))
        self.run_result().fail(f"no line matching {pattern!r} within {timeout} s")

    def mark(self):
        """Index of the next line: wait_for(after=mark) looks only at what comes next."""
        with self.cond:
            return len(self.lines)

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def monitor(self, command):
        out = vm._monitor_send(self.mon_path, command)
        self.note(f"monitor: {command}")
        return out

    def finish(self, timeout=60):
        """Wait for QEMU to exit; returns the vm.Run (timed_out if it had to be killed)."""
        timed_out = False
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        with open(self.logfile, "w") as f:
            for ts, text in self.lines:
                f.write(f"[{ts:8.3f}] {text}\n")
        r = self.run_result()
        r.timed_out = timed_out
        return r

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        with open(self.logfile, "w") as f:
            for ts, text in self.lines:
                f.write(f"[{ts:8.3f}] {text}\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
