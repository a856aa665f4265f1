"""A second virtio-net device implementation for the QEMU tier: DPDK's vhost
library behind the vhost PMD of dpdk-testpmd (Debian's dpdk-dev; scripts/deps.sh
unpacks only the dpdk-testpmd binary into build/deps/dpdk/ and installs the
runtime libraries it links). QEMU's virtio-net-pci with `-netdev vhost-user`
hands the rings to testpmd, which moves frames in its own polling thread:
QEMU's device model then only carries the configuration space, the control
queue and the interrupts.

testpmd runs without hugepages (--no-huge, anonymous memory) and without
PCI, with one vhost port in a forwarding mode that makes it the guest's
peer: `icmpecho` answers every ARP request and ICMP echo request (any
address), `macswap` sends every frame back with the addresses swapped,
`rxonly` counts and drops. It is the vhost-user server (it creates the
socket); QEMU connects. Its forwarding thread polls the rings all the time:
it runs at nice 10 so that the guest (TCG) and other tests keep the CPUs.

vhost-user needs guest RAM in shared memory: the guest gets a memfd memory
backend of the same size as -m.

QEMU 7.2 under TCG segfaults as soon as the guest enables a vhost-user
virtio-net device with MSI-X (virtio_pci_set_guest_notifiers installs the
MSI-X vector notifiers although there is no KVM irqfd; vhost_net_start has
cleared use_guest_notifier_mask for vhost-user, so unmasking a vector calls
kvm_virtio_pci_irqfd_use with proxy->vector_irqfd == NULL). The device is
therefore given no MSI-X (vectors=0): the guest runs it on its INTx line.

    with NetDaemon(workdir) as d:
        offered = d.backend_features()          # before QEMU connects
        run = boot(machine=d.machine, mem=d.mem, devices=d.devices(",packed=on"), ...)
    d.stats   # {"rx": ..., "tx": ..., "rx_dropped": ..., "tx_dropped": ...} at exit
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import time

import vhost_user  # scripts/vhost_user.py

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEPS_TESTPMD = os.path.join(ROOT, "build", "deps", "dpdk", "usr", "bin", "dpdk-testpmd")

# Virtio feature bits, for what the backend offers (VIRTIO 1.2, 5.1.3 and 6).
FEATURE_NAMES = {
    0: "CSUM", 1: "GUEST_CSUM", 2: "CTRL_GUEST_OFFLOADS", 3: "MTU", 5: "MAC", 6: "GSO",
    7: "GUEST_TSO4", 8: "GUEST_TSO6", 9: "GUEST_ECN", 10: "GUEST_UFO", 11: "HOST_TSO4",
    12: "HOST_TSO6", 13: "HOST_ECN", 14: "HOST_UFO", 15: "MRG_RXBUF", 16: "STATUS",
    17: "CTRL_VQ", 18: "CTRL_RX", 19: "CTRL_VLAN", 21: "GUEST_ANNOUNCE", 22: "MQ",
    23: "CTRL_MAC_ADDR", 24: "NOTIFY_ON_EMPTY", 26: "LOG_ALL", 27: "ANY_LAYOUT", 28: "INDIRECT_DESC",
    29: "EVENT_IDX", 30: "PROTOCOL_FEATURES", 32: "VERSION_1", 33: "ACCESS_PLATFORM",
    34: "RING_PACKED", 35: "IN_ORDER", 36: "ORDER_PLATFORM", 37: "SR_IOV",
    38: "NOTIFICATION_DATA", 39: "NOTIF_CONFIG_DATA", 40: "RING_RESET",
}

VHOST_USER_GET_FEATURES = 1
VHOST_USER_VERSION = 0x1
VHOST_USER_REPLY = 0x4


def testpmd_path():
    """The dpdk-testpmd to use: $TESTPMD, build/deps' copy, or one on PATH."""
    for p in (os.environ.get("TESTPMD"), DEPS_TESTPMD, shutil.which("dpdk-testpmd")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def unavailable():
    """None when testpmd can run here, else why not (for pytest's skip reason)."""
    p = testpmd_path()
    if not p:
        return ("dpdk-testpmd is not installed (scripts/deps.sh unpacks it from Debian's "
                "dpdk-dev into build/deps/dpdk; or apt-get install dpdk-dev)")
    try:
        r = subprocess.run([p, "-h"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{p} does not run: {e}"
    if "error while loading shared libraries" in r.stdout:
        return f"{p} does not run: {r.stdout.strip().splitlines()[-1]}"
    return None


def feature_names(bits):
    return [FEATURE_NAMES.get(b, f"bit{b}") for b in range(64) if bits >> b & 1]


class NetDaemon(vhost_user.Backend):
    """dpdk-testpmd serving the socket; Enter on its input makes it print its
    port counters (parsed into self.stats) and exit."""
    what = "testpmd"
    stdin = subprocess.PIPE  # without -i testpmd forwards until a line arrives here
    start_timeout = 30
    stop_timeout = 30

    def __init__(self, workdir, mode="icmpecho", mem="256M", name="vn0", queues=1):
        super().__init__(workdir, name, mem)
        self.mode = mode
        self.queues = queues
        self.stats = None
        self.prefix = f"vut{os.getpid()}{name}{int(time.monotonic() * 1000) % 100000}"

    def devices(self, dev_opts=""):
        """QEMU's side. vectors=0: see the module comment (QEMU 7.2 + TCG)."""
        return self.memory() + [
            "-chardev", f"socket,id={self.name}c,path={self.sock}",
            "-netdev", f"vhost-user,id={self.name},chardev={self.name}c,queues={self.queues}",
            "-device", f"virtio-net-pci,netdev={self.name},vectors=0{dev_opts}"]

    def argv(self):
        cpus = sorted(os.sched_getaffinity(0))
        cpuset = "(" + ",".join(str(c) for c in cpus) + ")"
        return ["nice", "-n", "10", "stdbuf", "-oL", testpmd_path(),
                # EAL: the main lcore and one forwarding lcore, both free to run on any
                # CPU; 64 MiB of ordinary memory, no PCI scan, no shared configuration
                # file (its run directory, named by --file-prefix, goes in stop()).
                f"--lcores=0@{cpuset},1@{cpuset}", "--no-huge", "-m", "64", "--no-pci",
                "--no-shconf", f"--file-prefix={self.prefix}",
                f"--vdev=net_vhost0,iface={self.sock},queues={self.queues}",
                "--log-level=lib.vhost.config:info",
                "--",
                f"--forward-mode={self.mode}", "--auto-start", "--nb-cores=1",
                f"--rxq={self.queues}", f"--txq={self.queues}",
                "--total-num-mbufs=2048", "--no-lsc-interrupt", "--disable-link-check"]

    def ready(self):
        return os.path.exists(self.sock) and "Press enter to exit" in self.output()

    def backend_features(self):
        """VHOST_USER_GET_FEATURES on a connection of our own, before QEMU's: the
        virtio features the backend offers (QEMU masks its device's with them)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.sock)
            s.sendall(struct.pack("<III", VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 0))
            buf = b""
            while len(buf) < 20:
                chunk = s.recv(20 - len(buf))
                if not chunk:
                    raise RuntimeError(f"vhost-user peer closed: {self.output()}")
                buf += chunk
        req, flags, size, bits = struct.unpack("<IIIQ", buf)
        if req != VHOST_USER_GET_FEATURES or not flags & VHOST_USER_REPLY or size != 8:
            raise RuntimeError(f"bad GET_FEATURES reply {buf.hex()}")
        # testpmd notices the closed connection and waits for the next one.
        deadline = time.monotonic() + 10
        while "vhost peer closed" not in self.output():
            if time.monotonic() > deadline:
                raise RuntimeError(f"testpmd did not see the probe close: {self.output()}")
            time.sleep(0.05)
        return bits

    def ask_to_exit(self):
        try:
            self.proc.stdin.write(b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass

    def stopped(self):
        for run in ("/var/run/dpdk", os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"),
                                                  "dpdk")):
            shutil.rmtree(os.path.join(run, self.prefix), ignore_errors=True)
        self.stats = self.parse_stats(self.output())

    @staticmethod
    def parse_stats(text):
        """The last 'Forward statistics for port 0' block testpmd printed."""
        i = text.rfind("Forward statistics for port 0")
        if i < 0:
            return None
        block = text[i:]
        rx = re.search(r"RX-packets:\s*(\d+)\s+RX-dropped:\s*(\d+)", block)
        tx = re.search(r"TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)", block)
        if not rx or not tx:
            return None
        return {"rx": int(rx.group(1)), "rx_dropped": int(rx.group(2)),
                "tx": int(tx.group(1)), "tx_dropped": int(tx.group(2))}
