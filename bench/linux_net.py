#!/usr/bin/python3
"""virtio-net baseline: TCP throughput both ways (iperf 2) and ping RTT between
the host and a Linux 6.1 guest on a tap device. A benchmark, not a test: it
prints figures and never judges them.

The script makes a network namespace of its own (linuxbench-PID) holding a
tap device (tap0, 10.77.0.1/24, nothing routed out) and runs QEMU inside it:
q35, 512 MiB, one vCPU, -netdev tap (no vhost) and virtio-net-pci with QEMU's
default offloads. The guest (scripts/linux_guest.py: Debian's kernel, busybox,
Debian's iperf 2) is 10.77.0.2. In order:

  tcp host->guest   host iperf -c 10.77.0.2 -t T, guest iperf -s
  ping              host ping -c 100 -i 0.01 10.77.0.2
  tcp guest->host   guest iperf -c 10.77.0.1 -t T, host iperf -s

Traffic only ever goes between 10.77.0.1 and 10.77.0.2 inside the namespace;
the namespace and the tap are deleted at the end, on failure and on SIGTERM
too (and stale ones of dead runs at the start).
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import linux_guest  # noqa: E402
import qemu  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "bench"))
import common  # noqa: E402

NS_PREFIX = "linuxbench-"
TAP = "tap0"
HOST_IP = "10.77.0.1"
GUEST_IP = "10.77.0.2"
PREFIX = 24
TRIGGER_PORT = 5002  # the guest's nc -l: a connection starts guest -> host

# iperf 2 -y C: time,src,sport,dst,dport,id,interval,bytes,bits/s
CSV = re.compile(r"^\d+(?:\.\d+)?,([0-9.]+),(\d+),([0-9.]+),(\d+),-?\d+,"
                 r"([0-9.]+)-([0-9.]+),(\d+),(\d+)\s*$")

# virtio-net feature bits, for the header (the guest's sysfs features string).
NET_FEATURES = {0: "CSUM", 1: "GUEST_CSUM", 2: "CTRL_GUEST_OFFLOADS", 3: "MTU", 5: "MAC",
                7: "GUEST_TSO4", 8: "GUEST_TSO6", 9: "GUEST_ECN", 10: "GUEST_UFO",
                11: "HOST_TSO4", 12: "HOST_TSO6", 13: "HOST_ECN", 14: "HOST_UFO",
                15: "MRG_RXBUF", 16: "STATUS", 17: "CTRL_VQ", 18: "CTRL_RX", 19: "CTRL_VLAN",
                21: "GUEST_ANNOUNCE", 22: "MQ", 23: "CTRL_MAC_ADDR", 28: "INDIRECT_DESC",
                29: "EVENT_IDX", 32: "VERSION_1", 34: "RING_PACKED"}


def sh(*argv, check=True, timeout=30):
    return subprocess.run(list(argv), capture_output=True, text=True, check=check,
                          timeout=timeout)


def in_ns(ns, *argv):
    return ["ip", "netns", "exec", ns] + list(argv)


def remove_stale():
    """Namespaces of earlier runs whose process is gone."""
    out = sh("ip", "netns", "list", check=False).stdout
    for name in re.findall(rf"^({NS_PREFIX}(\d+))\b", out, re.M):
        pid = int(name[1])
        if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
            delete_ns(name[0])


def create_ns(ns):
    sh("ip", "netns", "add", ns)
    sh(*in_ns(ns, "ip", "link", "set", "lo", "up"))
    sh(*in_ns(ns, "ip", "tuntap", "add", "dev", TAP, "mode", "tap"))
    sh(*in_ns(ns, "ip", "addr", "add", f"{HOST_IP}/{PREFIX}", "dev", TAP))
    sh(*in_ns(ns, "ip", "link", "set", TAP, "up"))


def delete_ns(ns):
    sh(*in_ns(ns, "ip", "tuntap", "del", "dev", TAP, "mode", "tap"), check=False)
    sh("ip", "netns", "del", ns, check=False)


class Console:
    """QEMU's serial output, read by a thread; wait() for a line."""

    def __init__(self, proc, log):
        self.proc = proc
        self.lines = []
        self.cond = threading.Condition()
        self.log = log
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()
            with self.cond:
                self.lines.append(line.rstrip("\r\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF
            self.cond.notify_all()

    def wait(self, pattern, timeout, start=0):
        """Index of the first line from start matching pattern, or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    if self.lines[i] is None:
                        return None
                    if rx.search(self.lines[i]):
                        return i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def text(self, start=0, end=None):
        with self.cond:
            return [ln for ln in self.lines[start:end] if ln is not None]


def csv_mbits(lines):
    """Mbit/s of the last iperf CSV report among lines, or None."""
    val = None
    for ln in lines:
        m = CSV.match(ln.strip())
        if m:
            val = int(m.group(8)) / 1e6
    return val


def features(bits):
    bits = bits.strip()
    return " ".join(name for b, name in sorted(NET_FEATURES.items())
                    if b < len(bits) and bits[b] == "1")


def run(args, guest, ns, log, res, progress):
    """Boot the guest in ns and fill res; raises on a broken run."""
    cmdline = (f"console=ttyS0 panic=-1 loglevel=4 lb.bench=net lb.ip={GUEST_IP}/{PREFIX} "
               f"lb.host={HOST_IP} lb.t={args.time}")
    dev = "virtio-net-pci,netdev=n0" + ("," + args.device_opts if args.device_opts else "")
    argv = qemu.qemu_command(guest["kernel"], cmdline, accel=args.accel, mem=args.mem,
                             devices=["-initrd", guest["initrd"], "-netdev",
                                      f"tap,id=n0,ifname={TAP},script=no,downscript=no",
                                      "-device", dev])
    res["procs"].append(subprocess.Popen(in_ns(ns, *argv), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True))
    con = Console(res["procs"][-1], log)
    res["console"] = con
    progress.step("booting the Linux guest")
    ready = con.wait(r"^@@LB net ready", 300)
    if ready is None:
        raise RuntimeError("the guest did not come up (no '@@LB net ready')")

    # host -> guest
    t = args.time
    progress.step(f"host -> guest iperf, {t} s")
    p = sh(*in_ns(ns, "iperf", "-c", GUEST_IP, "-t", str(t), "-y", "C"), check=False,
           timeout=t + 90)
    res["h2g_sender"] = csv_mbits(p.stdout.splitlines())
    if res["h2g_sender"] is None:
        res["notes"].append(f"host iperf -c: {(p.stdout + p.stderr).strip()[-300:]}")
    i = con.wait(CSV.pattern, 20, ready)
    res["h2g_receiver"] = csv_mbits(con.text(i, i + 1)) if i is not None else None

    # ping
    progress.step(f"ping x{args.pings}")
    p = sh(*in_ns(ns, "ping", "-q", "-c", str(args.pings), "-i", "0.01", GUEST_IP),
           check=False, timeout=120)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", p.stdout)
    r = re.search(r"= ([0-9.]+)/([0-9.]+)/([0-9.]+)/([0-9.]+) ms", p.stdout)
    res["ping"] = (m.groups() if m else None, r.groups() if r else None)
    if not r:
        res["notes"].append(f"ping: {(p.stdout + p.stderr).strip()[-300:]}")

    # guest -> host
    progress.step(f"guest -> host iperf, {t} s")
    server_out = os.path.join(os.path.dirname(log.name), "linux-net-iperf-s.txt")
    with open(server_out, "w") as f:
        srv = subprocess.Popen(in_ns(ns, "iperf", "-s", "-B", HOST_IP, "-y", "C"),
                               stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    res["procs"].append(srv)
    time.sleep(1)
    trigger = (f"import socket; socket.create_connection(('{GUEST_IP}', {TRIGGER_PORT}), "
               "10).close()")
    sh(*in_ns(ns, sys.executable, "-c", trigger), timeout=30)
    begin = con.wait(r"^@@LB net reverse begin", 60)
    end = con.wait(r"^@@LB net reverse end", t + 90, begin or 0) if begin is not None else None
    if end is None:
        res["notes"].append("the guest's iperf -c did not finish")
    else:
        res["g2h_sender"] = csv_mbits(con.text(begin, end))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(server_out) as f:
            got = csv_mbits(f.read().splitlines())
        if got is not None:
            res["g2h_receiver"] = got
            break
        time.sleep(0.2)
    srv.terminate()
    con.wait(r"^@@LB poweroff", 30, end or 0)
    try:
        res["procs"][0].wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--accel", default=os.environ.get("ACCEL", "tcg"))
    ap.add_argument("--mem", default="512M")
    ap.add_argument("--time", type=int, default=10, help="iperf seconds per direction (10)")
    ap.add_argument("--pings", type=int, default=100, help="ping count (100)")
    ap.add_argument("--device-opts", default="", help="more virtio-net-pci options")
    common.add_json_arg(ap)
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    doc = {"bench": "net", "guest": "linux",
           "setup": {"accel": args.accel, "secs": args.time, "pings": args.pings,
                     "device_opts": args.device_opts, "mem": args.mem,
                     "netdev": "tap in a network namespace, no vhost"},
           "transports": [], "error": None}
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        doc["error"] = "needs root and /dev/net/tun (network namespace, tap device); skipped"
        print(f"bench-linux-net: {doc['error']}", file=sys.stderr)
        common.write_json(args.json, doc)
        return 1

    guest = linux_guest.prepare(args.build)
    bench_dir = os.path.join(args.build, "bench")
    os.makedirs(bench_dir, exist_ok=True)

    def on_signal(signum, _frame):
        print(f"bench-linux-net: signal {signum}, cleaning up", file=sys.stderr)
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    ns = f"{NS_PREFIX}{os.getpid()}"
    res = {"procs": [], "notes": [], "console": None}
    error = None
    t0 = time.monotonic()
    log_path = os.path.join(bench_dir, "linux-net.log")
    remove_stale()
    try:
        with open(log_path, "w") as log:
            create_ns(ns)
            try:
                with common.Progress("bench-linux-net", 4) as progress:
                    run(args, guest, ns, log, res, progress)
            except (RuntimeError, subprocess.SubprocessError) as e:
                error = str(e)
    finally:
        for p in reversed(res["procs"]):
            if p.poll() is None:
                p.kill()
                p.wait()
        delete_ns(ns)
    secs = time.monotonic() - t0

    con = res["console"]
    lines = con.text() if con else []
    info = dict(m.groups() for m in (re.match(r"^@@LB info (\S+) (.*)$", ln) for ln in lines)
                if m)
    feats = info.get("eth0", "")
    feats = features(feats.split()[-1]) if feats.startswith("features ") and \
        len(feats.split()) > 1 else "?"
    print(f"bench-linux-net: Linux {info.get('kernel', '?')} guest ({guest['package']} "
          f"{guest['version']}), {info.get('iperf', 'iperf ?')}; QEMU {args.accel.upper()}, "
          f"q35, {args.mem}, -netdev tap (no vhost) + virtio-net-pci"
          f"{',' + args.device_opts if args.device_opts else ''} in netns {ns}; {secs:.1f} s")
    print(f"net: eth0: features {feats}")
    if error:
        print("\n".join(lines[-30:]))
        print(f"bench-linux-net: {error} (log {log_path})")

    def mb(v):
        return f"{v:10.1f}" if v is not None else f"{'-':>10}"
    print(f"{'case':<16} {'secs':>4} {'sender':>10} {'receiver':>10}  (Mbit/s, iperf 2 TCP)")
    why = error or "; ".join(res["notes"]) or "no figure"
    for name, key in (("tcp host->guest", "h2g"), ("tcp guest->host", "g2h")):
        if res.get(f"{key}_sender") is None and res.get(f"{key}_receiver") is None:
            print(f"{name:<16} {args.time:>4}  error: {why}")
        else:
            print(f"{name:<16} {args.time:>4} {mb(res.get(f'{key}_sender'))} "
                  f"{mb(res.get(f'{key}_receiver'))}")
    counts, rtt = res.get("ping", (None, None))
    if rtt:
        print(f"{'ping host->guest':<16} {counts[0]} sent, {counts[1]} received, -i 0.01: "
              f"rtt min/avg/max/mdev {'/'.join(rtt)} ms")
    else:
        print(f"{'ping host->guest':<16} error: {why}")
    for n in res["notes"]:
        print(f"bench-linux-net: {n}")

    def tput(key):
        """The sender's figure as bench/net.py takes it (the receiver's when the sender has
        none), or why there is none."""
        v = res.get(f"{key}_sender") or res.get(f"{key}_receiver")
        if v:
            return {"bps": v * 1e6, "sender_bps": (res.get(f"{key}_sender") or 0) * 1e6 or None,
                    "receiver_bps": (res.get(f"{key}_receiver") or 0) * 1e6 or None,
                    "error": None}
        return {"error": error or "; ".join(res["notes"]) or "no iperf figure"}
    row = {"transport": "q35-pci", "features": feats, "rx": tput("h2g"), "tx": tput("g2h")}
    if rtt:
        row["ping"] = {"min_ms": float(rtt[0]), "avg_ms": float(rtt[1]),
                       "max_ms": float(rtt[2]), "count": int(counts[0]),
                       "received": int(counts[1]), "error": None}
    else:
        row["ping"] = {"error": error or "; ".join(n for n in res["notes"]
                                                   if n.startswith("ping")) or "no ping figure"}
    doc["transports"].append(row)
    doc["setup"].update(kernel=info.get("kernel"), iperf=info.get("iperf"),
                        package=f"{guest['package']} {guest['version']}")
    common.write_json(args.json, doc)
    return 1 if error or res["notes"] else 0


if __name__ == "__main__":
    sys.exit(main())
