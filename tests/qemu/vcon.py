"""The host side of a virtio console for tests and benchmarks.

A guest gets a virtio-serial-pci device whose ports are unix-socket
chardevs in a temporary directory; the test connects to them as QEMU's
peer. The console port (virtconsole) uses wait=on, so QEMU does not start
the guest before the test is connected and no byte of it is lost. QEMU
drops console output its chardev cannot take at once (a socket whose
reader lags): bulk guest->host on port 0 goes to a file chardev
(console_to_file), and an echo keeps at most one window of it unread.
Named ports (virtserialport) use wait=off: connecting and disconnecting is
the host opening and closing its end, which the guest sees.

    con = VirtioSerial(tmpdir, packed=True)
    con.console("c0")                        # port 0: virtconsole, wait=on
    con.port("p1", "org.test.echo")          # virtserialport name=org.test.echo
    guest = Guest("name", "test=console_sink bytes=1024", con)
    sock = guest.connect("c0")               # starts the guest
    ...
    run = guest.wait()                       # vm.Run (serial log, exit status)
"""
import hashlib
import os
import re
import socket
import threading
import time

import transport as tp
import vm


class VirtioSerial:
    """A virtio-serial-pci (or, on t, -device) device and its ports, as QEMU arguments."""

    def __init__(self, tmpdir, packed=False, vectors=None, max_ports=None, addr=None, t=tp.PCI):
        self.dir = str(tmpdir)
        self.transport = t
        self.opts = [f"packed={'on' if packed else 'off'}"]
        if vectors is not None:
            self.opts.append(f"vectors={vectors}")
        if max_ports is not None:
            self.opts.append(f"max_ports={max_ports}")
        if addr is not None:
            self.opts.append(f"addr={addr}")
        self.ports = []   # (chardev id, device args, wait)

    def path(self, cid):
        return os.path.join(self.dir, cid + ".sock")

    def console(self, cid, name=None):
        dev = f"virtconsole,chardev={cid}" + (f",name={name}" if name else "")
        self.ports.append((cid, dev, True))
        return self

    def console_to_file(self, cid, path):
        """Port 0 writing into a file: QEMU's console never drops bytes there (see README)."""
        self.ports.append((cid, f"virtconsole,chardev={cid}", path))
        return self

    def port(self, cid, name):
        self.ports.append((cid, f"virtserialport,chardev={cid},name={name}", False))
        return self

    def args(self):
        a = self.transport.device("serial", "," + ",".join(self.opts))
        for cid, dev, wait in self.ports:
            if isinstance(wait, str):
                a += ["-chardev", f"file,id={cid},path={wait}", "-device", dev]
                continue
            a += ["-chardev", f"socket,id={cid},path={self.path(cid)},server=on,"
                  f"wait={'on' if wait else 'off'}", "-device", dev]
        return a


def hangup(sock):
    """Close the host's end. shutdown() first: a plain close() while a Reader thread
    is blocked in recv() on the socket leaves it open and QEMU never sees the close."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def connect(path, timeout=30):
    """Connect to QEMU's listening socket at path (retrying until it listens)."""
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.02)


class Guest:
    """QEMU running in a thread (vm.boot); the test talks to its sockets."""

    def __init__(self, name, cmdline, serial, devices=(), timeout=120, **kw):
        self.serial = serial
        self.run = None
        self.error = None
        self.uart = []                  # serial lines so far
        self.uart_cond = threading.Condition()
        kw.setdefault("machine", serial.transport.machine)
        for cid, _, _ in serial.ports:
            if os.path.exists(serial.path(cid)):
                os.unlink(serial.path(cid))

        def on_line(text):
            with self.uart_cond:
                self.uart.append(text)
                self.uart_cond.notify_all()

        def body():
            try:
                self.run = vm.boot(name, cmdline=cmdline, devices=serial.args() + list(devices),
                                   timeout=timeout, on_line=on_line, **kw)
            except Exception as e:  # reported by wait()
                self.error = e
            with self.uart_cond:
                self.uart_cond.notify_all()
        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()

    def wait_line(self, pattern, timeout=30):
        """Wait for a serial line matching the regex. Returns the match, or None."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        seen = 0
        with self.uart_cond:
            while True:
                for text in self.uart[seen:]:
                    m = rx.search(text)
                    if m:
                        return m
                seen = len(self.uart)
                left = end - time.monotonic()
                if left <= 0 or not self.thread.is_alive():
                    return None
                self.uart_cond.wait(min(left, 0.5))

    def connect(self, cid, timeout=30):
        return connect(self.serial.path(cid), timeout)

    def wait(self, timeout=180):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("QEMU thread did not finish")
        if self.error:
            raise self.error
        return self.run


class Reader:
    """Reads a socket in a thread: all bytes (keep=True) or only their count and SHA-256."""

    def __init__(self, sock, keep=True):
        self.sock = sock
        self.keep = keep
        self.data = bytearray()
        self.count = 0
        self.sha = hashlib.sha256()
        self.first = self.last = None
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                chunk = b""
            now = time.monotonic()
            with self.cond:
                if not chunk:
                    self.closed = True
                    self.cond.notify_all()
                    return
                if self.first is None:
                    self.first = now
                self.last = now
                self.count += len(chunk)
                self.sha.update(chunk)
                if self.keep:
                    self.data += chunk
                self.cond.notify_all()

    def wait_for(self, pred, timeout=30):
        """Wait until pred(reader) holds (under the lock). Returns whether it did."""
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self):
                left = end - time.monotonic()
                if left <= 0 or self.closed:
                    return pred(self)
                self.cond.wait(left)
            return True

    def wait_count(self, n, timeout=60):
        return self.wait_for(lambda r: r.count >= n, timeout)

    def until(self, marker, start=0, timeout=30):
        """Wait until marker appears in data after offset start. Returns its end offset or -1."""
        found = []

        def pred(r):
            i = r.data.find(marker, start)
            if i >= 0:
                found.append(i + len(marker))
            return i >= 0
        return found[0] if self.wait_for(pred, timeout) else -1


def echo_windowed(sock, reader, data, window=64 * 1024, timeout=120):
    """Send data through an echo, window bytes at a time, each echoed back
    before the next: never more than window bytes wait in QEMU's socket."""
    for off in range(0, len(data), window):
        chunk = data[off:off + window]
        sock.sendall(chunk)
        if not reader.wait_count(off + len(chunk), timeout):
            return False
    return True


def prng_bytes(seed, n):
    """The guest's console_source stream (xorshift64*), for checks on the host."""
    out = bytearray()
    x = seed | 1
    mask = (1 << 64) - 1
    while len(out) < n:
        x ^= x >> 12
        x ^= (x << 25) & mask
        x ^= x >> 27
        out += ((x * 0x2545f4914f6cdd1d) & mask).to_bytes(8, "little")
    return bytes(out[:n])
