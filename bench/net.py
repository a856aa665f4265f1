#!/usr/bin/env python3
"""Network benchmark (not a test): TCP throughput both ways and ping RTT.

A tap in a network namespace made for the run (and deleted after), QEMU
under TCG with virtio-net on it (no vhost), the guest at 10.77.0.2:
  host -> guest   host `iperf -c` against the guest's lwiperf server (app=net)
  guest -> host   the guest's `iperf -c` against the host's `iperf -s` (app=shell)
  ping            host `ping` of the guest, COUNT x 10 ms
on each transport of --transports (q35-pci: virtio-net-pci on q35;
microvm-mmio: virtio-net-device on microvm's virtio-mmio), side by side.
Prints a table; never fails on a figure.
"""
import argparse
import os
import re
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "qemu"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import common  # noqa: E402
import netvm  # noqa: E402

GUEST, HOST = "10.77.0.2", "10.77.0.1"
CMDLINE = f"ip={GUEST}/24 gw={HOST}"


def rate(text, pattern):
    m = re.search(pattern, text)
    if not m:
        return None
    v, unit = float(m.group(1)), m.group(2)
    return v * {"K": 1e3, "M": 1e6, "G": 1e9, "": 1}[unit]


# name: (QEMU machine, virtio device suffix, extra QEMU arguments)
TRANSPORTS = {
    "q35-pci": ("q35", "pci", []),
    "microvm-mmio": ("microvm", "device", ["-global", "virtio-mmio.force-legacy=false"]),
}


def short(e):
    """An exception as one row's error: its first line (a vm failure carries the log after)."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def measure(ns, a, transport, progress):
    """Both directions and ping with virtio-net on one transport: (features, {row: result}).
    Each result is a dict with its figures or its "error"."""
    machine, bus, extra = TRANSPORTS[transport]
    rows = {"rx": {"error": "not run"}, "tx": {"error": "not run"},
            "ping": {"error": "not run"}}
    feats = None
    dev = extra + ["-netdev", f"tap,id=n0,ifname={ns.tap},script=no,downscript=no",
                   "-device", f"virtio-net-{bus},netdev=n0{a.device}"]
    progress.step(f"{transport}: boot (app=net), ping x{a.pings}")
    try:
        with netvm.Guest(f"bench-net-rx-{transport}", f"app=net {CMDLINE} {a.cmdline}", dev,
                         netns=ns, machine=machine) as g:
            feats = g.wait_for(r"^virtio-net: vn0: features (.*)$").group(1)
            g.wait_for(r"^net: serving")
            p = ns.run(["ping", "-q", "-c", str(a.pings), "-i", "0.01", GUEST], timeout=120,
                       check=False)
            m = re.search(r"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)", p.stdout)
            lost = re.search(r"(\d+) packets transmitted, (\d+) received", p.stdout)
            if m:
                rows["ping"] = {"min_ms": float(m.group(1)), "avg_ms": float(m.group(2)),
                                "max_ms": float(m.group(3)), "count": a.pings, "error": None,
                                "received": int(lost.group(2)) if lost else None}
            else:
                rows["ping"] = {"error": f"ping: {common.tail(p.stdout + p.stderr, 200)}"}
            progress.step(f"{transport}: host -> guest iperf, {a.secs} s")
            p = ns.run(["iperf", "-c", GUEST, "-t", str(a.secs)], timeout=a.secs + 60,
                       check=False)
            bps = rate(p.stdout, r"sec\s+[\d.]+ \w+\s+([\d.]+) (\w?)bits")
            rows["rx"] = {"bps": bps, "error": None} if bps else \
                {"error": f"iperf -c: {common.tail(p.stdout + p.stderr, 200)}"}
            g.send(b"q")
            g.finish(30)
    except Exception as e:  # noqa: BLE001  the rows not measured say why
        for k in ("rx", "ping"):
            if rows[k]["error"] == "not run":
                rows[k] = {"error": short(e)}
    progress.step(f"{transport}: boot (app=shell), guest -> host iperf, {a.secs} s")
    server = ns.popen(["iperf", "-s"])
    time.sleep(0.5)  # listening before the guest connects
    try:
        with netvm.Guest(f"bench-net-tx-{transport}", f"app=shell {CMDLINE} {a.cmdline}", dev,
                         netns=ns, machine=machine) as g:
            g.wait_for(r"^shell: type")
            g.send(f"iperf -c {HOST} -t {a.secs}\npoweroff\n".encode())
            m = g.wait_for(r"^\[  1\] 0\.00-\d+\.\d\d sec  .*  ([\d.]+) (\w?)bits/sec$",
                           timeout=a.secs + 60)
            rows["tx"] = {"bps": float(m.group(1)) * {"K": 1e3, "M": 1e6, "G": 1e9,
                                                      "": 1}[m.group(2)], "error": None}
            g.finish(30)
    except Exception as e:  # noqa: BLE001
        rows["tx"] = {"error": short(e)}
    finally:
        server.terminate()
        server.communicate(timeout=10)
    return feats, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=None, help="build directory (env BUILD, or build)")
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--pings", type=int, default=200)
    ap.add_argument("--device", default="", help="extra virtio-net options, e.g. ,packed=on")
    ap.add_argument("--cmdline", default="", help="extra kernel command line, e.g. tso=off")
    ap.add_argument("--transports", default="q35-pci,microvm-mmio",
                    help="comma-separated: " + ", ".join(TRANSPORTS))
    common.add_json_arg(ap)
    a = ap.parse_args()
    if a.build:
        netvm.vm.BUILD = os.path.abspath(a.build)
        netvm.vm.KERNEL = os.path.join(netvm.vm.BUILD, "kernel.elf")
        netvm.vm.LOGDIR = os.path.join(netvm.vm.BUILD, "test-logs")
    names = a.transports.split(",")
    doc = {"bench": "net", "guest": "ours",
           "setup": {"accel": os.environ.get("ACCEL", "tcg"), "secs": a.secs,
                     "pings": a.pings, "device_opts": a.device, "cmdline": a.cmdline,
                     "netdev": "tap in a network namespace, no vhost"},
           "transports": [], "error": None}
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        doc["error"] = "needs root and /dev/net/tun (a tap in a network namespace); skipped"
        print(f"bench-net: {doc['error']}")
        common.write_json(a.json, doc)
        return 0
    results = {}
    with common.Progress("bench-net", 3 * len(names)) as progress:
        with netvm.NetNs(HOST) as ns:
            for t in names:
                results[t] = measure(ns, a, t, progress)
    print(f"\nvirtio-net + lwIP under QEMU TCG, tap in a network namespace, no vhost; "
          f"iperf 2, {a.secs} s; device options: {a.device or 'none'}")
    for t in names:
        print(f"features ({t}): {results[t][0]}")
        doc["transports"].append({"transport": t, "features": results[t][0],
                                  **results[t][1]})

    def gbit(r):
        return f"{r['bps'] / 1e9:.2f} Gbit/s" if not r["error"] else "error (below)"

    def rtt(r):
        return (f"{r['min_ms']}/{r['avg_ms']}/{r['max_ms']} ms" if not r["error"]
                else "error (below)")
    print(f"{'direction':<16}" + "".join(f"{t:>26}" for t in names))
    print(f"{'host -> guest':<16}" + "".join(f"{gbit(results[t][1]['rx']):>26}" for t in names))
    print(f"{'guest -> host':<16}" + "".join(f"{gbit(results[t][1]['tx']):>26}" for t in names))
    print(f"{'ping min/avg/max':<16}" + "".join(f"{rtt(results[t][1]['ping']):>26}"
                                                for t in names) +
          f"  ({a.pings} pings, 10 ms apart, host -> guest)")
    failed = 0
    for t in names:
        for k, what in (("rx", "host -> guest"), ("tx", "guest -> host"), ("ping", "ping")):
            if results[t][1][k]["error"]:
                failed += 1
                print(f"bench-net: {t}: {what}: error: {results[t][1][k]['error']}")
    common.write_json(a.json, doc)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
