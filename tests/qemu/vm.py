"""Boot the kernel under QEMU for a test and collect what it printed.

boot() starts QEMU with the serial port on a pipe, timestamps every line
the kernel prints (so tests can time the guest from the host), feeds input
if asked, enforces a timeout, and returns a Run. Run.expect() checks the
exit code and the expected lines and, on failure, raises with the whole
serial log (backtraces symbolized) in the message.

boot(efi_esp=IMAGE) boots an ESP image under OVMF instead of the kernel
through PVH; the firmware's console output shares the serial port, with
its terminal escape sequences removed from the recorded lines.
boot(until=REGEX) stops QEMU as soon as a line matches (Run.stopped).
boot(monitor=[(REGEX, COMMAND), ...]) sends each human-monitor COMMAND
(e.g. "set_link n0 off") once a line matches its REGEX, in order.
boot(on_line=FN) calls FN(text) for each serial line as it arrives (from
the reader thread), for tests that act on the guest's progress.
"""
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import qemu  # noqa: E402  (scripts/qemu.py)

BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))
KERNEL = os.path.join(BUILD, "kernel.elf")
LOGDIR = os.path.join(BUILD, "test-logs")
ACCEL = os.environ.get("ACCEL", "tcg")

PASS = qemu.EXIT_PASS
FAIL = qemu.EXIT_FAIL


# Terminal control sequences (CSI ... final byte) that OVMF's console writes.
ANSI_CSI = re.compile(r"\x1b\[[0-9;=?]*[A-Za-z]")


class Run:
    def __init__(self, name, argv, rc, lines, timed_out, logfile, stopped=False):
        self.name = name
        self.argv = argv
        self.rc = rc
        self.lines = lines          # [(seconds since QEMU start, text)]
        self.timed_out = timed_out
        self.logfile = logfile
        self.stopped = stopped      # QEMU was stopped because a line matched `until`

    @property
    def log(self):
        return "\n".join(t for _, t in self.lines)

    def fail(self, why):
        log = qemu.symbolize(self.log, KERNEL)
        raise AssertionError(
            f"{self.name}: {why}\n"
            f"qemu: {' '.join(self.argv)}\n"
            f"exit status: {self.rc}{' (timed out)' if self.timed_out else ''}"
            f"{' (stopped: a line matched until=)' if self.stopped else ''}\n"
            f"----- serial log ({self.logfile}) -----\n{log}\n----- end of serial log -----")

    def find(self, pattern):
        """The first line matching the regex, as (time, match) or None."""
        rx = re.compile(pattern)
        for t, text in self.lines:
            m = rx.search(text)
            if m:
                return t, m
        return None

    def expect(self, rc=PASS, lines=(), absent=()):
        """Assert the exit status (not checked when rc is None, e.g. after
        until= stopped QEMU) and that each regex in lines matches a line,
        in order; no line may match a regex in absent."""
        if self.timed_out:
            self.fail("QEMU did not exit before the timeout")
        if rc is not None and self.rc != rc:
            self.fail(f"exit status {self.rc}, expected {rc}")
        pos = 0
        for pattern in lines:
            rx = re.compile(pattern)
            while pos < len(self.lines) and not rx.search(self.lines[pos][1]):
                pos += 1
            if pos == len(self.lines):
                self.fail(f"no line matching {pattern!r} (in order)")
            pos += 1
        for pattern in absent:
            if self.find(pattern):
                self.fail(f"unexpected line matching {pattern!r}")
        return self


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


UNIX_PATH_MAX = 108  # sun_path, with its terminating NUL


def monitor_path(name):
    """The monitor socket of test `name`: beside its log, unless that path is
    too long for a unix socket (a clone in a deep directory), then in a short
    per-user directory under /tmp, named by a hash of the long path."""
    path = os.path.join(LOGDIR, _safe(name) + ".monitor")
    if len(path.encode()) < UNIX_PATH_MAX:
        return path
    short = os.path.join("/tmp", f"vuk-mon-{os.getuid()}")
    os.makedirs(short, mode=0o700, exist_ok=True)
    return os.path.join(short, hashlib.sha1(path.encode()).hexdigest()[:20] + ".monitor")


def _monitor_send(path, command):
    """One HMP command over the monitor's unix socket; returns its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sk:
        sk.settimeout(10)
        sk.connect(path)
        reply = b""
        while b"(qemu) " not in reply:      # the banner and first prompt
            chunk = sk.recv(4096)
            if not chunk:
                break
            reply += chunk
        sk.sendall(command.encode() + b"\n")
        reply = b""
        while reply.count(b"(qemu) ") < 1:  # the command's echo, output, prompt
            chunk = sk.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply.decode("utf-8", "replace")


def boot(name, cmdline="", machine="q35", mem="256M", devices=(), input=None,
         input_delay=0.0, timeout=60, efi_esp=None, until=None, monitor=(),
         on_line=None):
    """Boot the kernel, wait for QEMU to exit (or the timeout), return a Run.

    input: bytes written to the serial port after input_delay seconds.
    efi_esp: boot this ESP image under OVMF (cmdline must be empty).
    until: a regex; QEMU is stopped as soon as a line matches it.
    monitor: [(regex, hmp_command)], sent in order as lines match.
    on_line: called with each line's text as it arrives.
    """
    os.makedirs(LOGDIR, exist_ok=True)
    logfile = os.path.join(LOGDIR, _safe(name) + ".log")
    efi_vars = os.path.join(LOGDIR, _safe(name) + ".OVMF_VARS.fd") if efi_esp else None
    argv = qemu.qemu_command(KERNEL, cmdline, machine=machine, accel=ACCEL,
                             mem=mem, serial="stdio", devices=devices,
                             efi_esp=efi_esp, efi_vars=efi_vars)
    monitor = [(re.compile(rx), cmd) for rx, cmd in monitor]
    mon_path = None
    if monitor:
        mon_path = monitor_path(name)
        if os.path.exists(mon_path):
            os.unlink(mon_path)
        argv += ["-monitor", f"unix:{mon_path},server=on,wait=off"]
    until_rx = re.compile(until) if until else None
    matched = threading.Event()
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=qemu.die_with_parent)
    lines = []

    def add(now, raw):
        text = ANSI_CSI.sub("", raw.decode("utf-8", "replace")).rstrip("\r")
        lines.append((now, text))
        if monitor and monitor[0][0].search(text):
            _, cmd = monitor.pop(0)
            try:
                out = _monitor_send(mon_path, cmd)
                out = ANSI_CSI.sub("", out).replace("\r", "").replace("(qemu) ", "")
                out = out.split("\n", 1)[1].strip() if "\n" in out else ""  # drop the echo
                lines.append((now, f"[monitor] {cmd}" + (f": {out}" if out else "")))
            except OSError as e:
                lines.append((now, f"[monitor] {cmd}: failed: {e}"))
        if on_line:
            on_line(text)
        if until_rx and not matched.is_set() and until_rx.search(text):
            matched.set()
            proc.kill()

    def reader():
        buf = b""
        while True:
            chunk = proc.stdout.read1(4096)
            now = time.monotonic() - start
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                add(now, line)
        if buf:
            add(time.monotonic() - start, buf)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    if input is not None:
        def writer():
            try:
                time.sleep(input_delay)
                proc.stdin.write(input)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass
        threading.Thread(target=writer, daemon=True).start()
    timed_out = False
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = not matched.is_set()
        proc.kill()
        rc = proc.wait()
    t.join(5)
    with open(logfile, "w") as f:
        for ts, text in lines:
            f.write(f"[{ts:8.3f}] {text}\n")
    return Run(name, argv, rc, lines, timed_out, logfile, stopped=matched.is_set())
