"""A second virtio-blk device implementation for the QEMU tier: QEMU's own
storage daemon (qemu-storage-daemon, Debian's qemu-system-common) exports
a raw image as a vhost-user-blk backend (libvhost-user), and QEMU's
vhost-user-blk-pci device connects the guest to it. Unlike QEMU's built-in
virtio-blk, this device never polls the ring: it looks at it only when
kicked, and interrupts only when the event index allows it.

The image is opened with discard=unmap, so a discard punches a hole (reads
as zeroes) as QEMU's built-in device does with discard=unmap.

vhost-user needs guest RAM in shared memory: the guest gets a memfd
memory backend of the same size as -m.

    with BlkDaemon(image, workdir) as d:
        run = boot(machine=d.machine, mem=d.mem, devices=d.devices(",num-queues=2"), ...)
    # the daemon has exited: the image holds everything it was told to write
"""
import os
import shutil
import signal
import subprocess
import time

import qemu  # scripts/qemu.py

DAEMON = "qemu-storage-daemon"


def available():
    return shutil.which(DAEMON) is not None


class Backend:
    """A vhost-user backend process serving one unix socket in workdir, with
    its output in a log file there; dies with the process that started it.
    Subclasses give argv(), devices(), and how they are told to exit."""
    what = "backend"
    stdin = subprocess.DEVNULL
    start_timeout = 10
    stop_timeout = 10

    def __init__(self, workdir, name, mem):
        self.sock = os.path.join(workdir, f"{name}.sock")
        self.logfile = os.path.join(workdir, f"{name}-{self.what}.log")
        self.name = name
        self.mem = mem
        self.proc = None

    @property
    def machine(self):
        """Guest RAM must be shared with the backend: the memfd of memory()."""
        return "q35,memory-backend=mem"

    def memory(self):
        return ["-object", f"memory-backend-memfd,id=mem,size={self.mem},share=on"]

    def ready(self):
        return os.path.exists(self.sock)

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.log = open(self.logfile, "w")
        self.proc = subprocess.Popen(self.argv(), stdin=self.stdin, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     preexec_fn=qemu.die_with_parent)
        deadline = time.monotonic() + self.start_timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{type(self).__name__} did not start: {self.output()}")
            time.sleep(0.02)
        return self

    def ask_to_exit(self):
        self.proc.send_signal(signal.SIGTERM)

    def stopped(self):
        """After the process is gone and its log closed."""

    def stop(self):
        """Ask the backend to exit (ask_to_exit), wait, kill if it does not."""
        if self.proc and self.proc.poll() is None:
            self.ask_to_exit()
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
            self.stopped()
        return self.proc.returncode if self.proc else None

    def output(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class BlkDaemon(Backend):
    """qemu-storage-daemon exporting image; SIGTERM makes it flush and close it."""
    what = "daemon"

    def __init__(self, image, workdir, mem="256M", export_opts="", name="vu0"):
        super().__init__(workdir, name, mem)
        self.image = image
        self.export_opts = export_opts

    def devices(self, dev_opts=""):
        return self.memory() + [
            "-chardev", f"socket,id={self.name},path={self.sock}",
            "-device", f"vhost-user-blk-pci,chardev={self.name}{dev_opts}"]

    def argv(self):
        return [DAEMON,
                "--blockdev", f"driver=file,node-name=f0,filename={self.image},discard=unmap",
                "--blockdev", "driver=raw,node-name=d0,file=f0,discard=unmap",
                "--export", "type=vhost-user-blk,id=e0,addr.type=unix,"
                f"addr.path={self.sock},node-name=d0,writable=on{self.export_opts}"]
