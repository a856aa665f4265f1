#!/usr/bin/env python3
"""Network benchmark (not a test): TCP throughput both ways and ping RTT.

A tap in a network namespace made for the run (and deleted after), QEMU
under TCG with virtio-net on it (no vhost), the guest at 10.77.0.2:
  host -> guest   host `iperf -c` against the guest's lwiperf server (app=net)
  guest -> host   the guest's `iperf -c` against the host's `iperf -s` (app=shell)
  ping            host `ping` of the guest, COUNT x 10 ms
Prints a table; never fails on a figure.
"""
import argparse
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "qemu"))
import netvm  # noqa: E402

GUEST, HOST = "10.77.0.2", "10.77.0.1"
CMDLINE = f"ip={GUEST}/24 gw={HOST}"


def rate(text, pattern):
    m = re.search(pattern, text)
    if not m:
        return None
    v, unit = float(m.group(1)), m.group(2)
    return v * {"K": 1e3, "M": 1e6, "G": 1e9, "": 1}[unit]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--pings", type=int, default=200)
    ap.add_argument("--device", default="", help="extra virtio-net-pci options, e.g. ,packed=on")
    ap.add_argument("--cmdline", default="", help="extra kernel command line, e.g. tso=off")
    a = ap.parse_args()
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        print("bench-net: needs root and /dev/net/tun (a tap in a network namespace); skipped")
        return 0
    rows = []
    with netvm.NetNs(HOST) as ns:
        dev = ["-netdev", f"tap,id=n0,ifname={ns.tap},script=no,downscript=no",
               "-device", f"virtio-net-pci,netdev=n0{a.device}"]
        with netvm.Guest("bench-net-rx", f"app=net {CMDLINE} {a.cmdline}", dev, netns=ns) as g:
            feats = g.wait_for(r"^virtio-net: vn0: features (.*)$").group(1)
            g.wait_for(r"^net: serving")
            p = ns.run(["ping", "-q", "-c", str(a.pings), "-i", "0.01", GUEST], timeout=120,
                       check=False)
            m = re.search(r"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)", p.stdout)
            ping = m.groups() if m else ("-", "-", "-")
            p = ns.run(["iperf", "-c", GUEST, "-t", str(a.secs)], timeout=a.secs + 60,
                       check=False)
            rows.append(("host -> guest", rate(p.stdout, r"sec\s+[\d.]+ \w+\s+([\d.]+) (\w?)bits")))
            g.send(b"q")
            g.finish(30)
        server = ns.popen(["iperf", "-s"])
        try:
            with netvm.Guest("bench-net-tx", f"app=shell {CMDLINE} {a.cmdline}", dev,
                             netns=ns) as g:
                g.wait_for(r"^shell: type")
                g.send(f"iperf -c {HOST} -t {a.secs}\npoweroff\n".encode())
                m = g.wait_for(r"^\[  1\] 0\.00-\d+\.\d\d sec  .*  ([\d.]+) (\w?)bits/sec$",
                               timeout=a.secs + 60)
                rows.append(("guest -> host", float(m.group(1)) *
                             {"K": 1e3, "M": 1e6, "G": 1e9, "": 1}[m.group(2)]))
                g.finish(30)
        finally:
            server.terminate()
            server.communicate(timeout=10)
    print(f"\nvirtio-net + lwIP under QEMU TCG, tap in a network namespace, no vhost; "
          f"iperf 2, {a.secs} s")
    print(f"device: virtio-net-pci{a.device or ''}   features: {feats}")
    print(f"{'direction':<16}{'TCP throughput':>16}")
    for name, bps in rows:
        print(f"{name:<16}{(f'{bps / 1e9:.2f} Gbit/s' if bps else 'failed'):>16}")
    print(f"{'ping RTT':<16}{'min/avg/max = ' + '/'.join(ping) + ' ms':>16} "
          f"({a.pings} pings, 10 ms apart, host -> guest)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
