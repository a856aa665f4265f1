#!/usr/bin/python3
"""Virtio console benchmark: bulk throughput both ways, in MB/s.

Boots the kernel with a virtio-serial-pci device (TCG unless ACCEL says
otherwise) and moves --mib MiB per run through the in-guest tests
console_sink (host->guest), console_source (guest->host) and console_echo
(both at once), on port 0 (the console) and on a named port
(virtserialport, /dev/vport/NAME), in both ring layouts. Prints the
median of --runs runs of the guest's figure (TSC, first byte to last) and
of the host's (wall clock, first byte to last at the socket or, for port 0
output, QEMU start to exit). Port 0 output goes to a file chardev: QEMU
drops console bytes a socket cannot take at once.

The named port's queues are polled with QEMU's default of 2 MSI-X
vectors (the driver sleeps only on queues that interrupt), which takes
CPU from QEMU's I/O thread: --vectors 8 gives them interrupts.

By default the guest does not hash (hash=0): under TCG its SHA-256 is
slower than the console, so the figures would measure the hash. The host
still checks what it received (source: against the guest's generator;
echo: against what it sent). --hash makes the guest hash too and checks
the SHA-256 on both sides, as the tests do. Figures only; it never passes
or fails on a time.
"""
import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "qemu"))
import vcon  # noqa: E402  (tests/qemu/vcon.py)
sys.path.insert(0, os.path.join(ROOT, "bench"))
import common  # noqa: E402

MB = 1e6
MiB = 1 << 20


def one_run(tmp, mode, packed, port, nbytes, guest_hash, vectors):
    """One transfer. Returns (guest MB/s, host MB/s) after checking what arrived."""
    serial = vcon.VirtioSerial(tmp, packed=packed, vectors=vectors)
    outfile = os.path.join(tmp, "console.out")
    to_file = mode == "source" and not port
    if to_file:
        serial.console_to_file("c0", outfile)
    else:
        serial.console("c0")
    if port:
        serial.port("p1", port)
    cmdline = f"test=console_{mode} bytes={nbytes}" + (f" port={port}" if port else "")
    if not guest_hash:
        cmdline += " hash=0"
    t0 = time.monotonic()
    guest = vcon.Guest(f"bench_console_{mode}", cmdline, serial, timeout=300)
    sock = None
    if port:
        con = guest.connect("c0")
        if not guest.wait_line(r"^vcon: .* ports \(multiport\)"):
            raise RuntimeError("the driver did not come up")
        sock = guest.connect("p1")
        vcon.hangup(con)
    elif not to_file:
        sock = guest.connect("c0")
    reader = vcon.Reader(sock, keep=False) if sock else None
    data = os.urandom(nbytes) if mode in ("sink", "echo") else None
    t_send = time.monotonic()
    if mode == "sink" or (mode == "echo" and port):
        threading.Thread(target=sock.sendall, args=(data,), daemon=True).start()
    elif mode == "echo":
        vcon.echo_windowed(sock, reader, data)
    if reader and mode in ("source", "echo"):
        reader.wait_count(nbytes, 300)
    run = guest.wait(600)
    t_end = time.monotonic()
    m = run.find(rf"^console-{mode}: (\d+) bytes in (\d+) us, [\d.]+ MB/s, sha256 ([0-9a-f]+|off)$")
    if run.rc != vcon.vm.PASS or not m:
        raise RuntimeError(f"{mode}: the guest failed (status {run.rc}), log {run.logfile}")
    guest_mbs = int(m[1].group(1)) / int(m[1].group(2))  # bytes per us = MB/s
    sha = m[1].group(3)
    sent_sha = hashlib.sha256(data).hexdigest() if data else \
        hashlib.sha256(vcon.prng_bytes(1, nbytes)).hexdigest()
    if mode == "sink":
        ok = sha in (sent_sha, "off")
        host_s = t_end - t_send
    elif to_file:
        with open(outfile, "rb") as f:
            body = f.read()
        ok = hashlib.sha256(body).hexdigest() == sent_sha and sha in (sent_sha, "off")
        host_s = t_end - t0  # whole QEMU run: an upper bound on the transfer
    else:
        ok = reader.count == nbytes and reader.sha.hexdigest() == sent_sha and \
            sha in (sent_sha, "off")
        host_s = reader.last - t_send
    if not ok:
        raise RuntimeError(f"{mode}: SHA-256 mismatch (log {run.logfile})")
    return guest_mbs, nbytes / host_s / MB


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mib", type=int, default=16)
    ap.add_argument("--hash", action="store_true", help="the guest hashes what it moves too")
    ap.add_argument("--vectors", type=int, default=None,
                    help="MSI-X vectors of virtio-serial-pci (QEMU's default 2 gives only the "
                         "configuration and queue 0 one: other queues are polled)")
    common.add_json_arg(ap)
    a = ap.parse_args()
    os.environ["BUILD"] = os.path.abspath(a.build)
    vcon.vm.BUILD = os.environ["BUILD"]
    vcon.vm.KERNEL = os.path.join(vcon.vm.BUILD, "kernel.elf")
    vcon.vm.LOGDIR = os.path.join(vcon.vm.BUILD, "test-logs")
    accel = os.environ.get("ACCEL", "tcg")
    nbytes = a.mib * MiB
    print(f"virtio console throughput, {a.mib} MiB per run, median of {a.runs} runs, {accel}, "
          f"MB = 10^6 bytes, guest SHA-256 {'on' if a.hash else 'off'}, MSI-X vectors "
          f"{a.vectors if a.vectors is not None else 'QEMU default (2)'}")
    print(f"{'stream':<28} {'layout':<7} {'guest MB/s':>11} {'host MB/s':>10}")
    rows = []
    streams = [(port, mode, what, packed) for port in (None, "org.bench.port")
               for mode, what in (("sink", "host->guest"), ("source", "guest->host"),
                                  ("echo", "both (echo)"))
               for packed in (False, True)]
    with common.Progress("bench-console", len(streams) * a.runs) as progress:
        for port, mode, what, packed in streams:
            name = f"{'port 0 (console)' if not port else 'named port'} {what}"
            layout = "packed" if packed else "split"
            row = {"stream": name, "port": "named" if port else "console", "mode": mode,
                   "layout": layout, "error": None}
            rows.append(row)
            g, h = [], []
            for i in range(a.runs):
                progress.step(f"{name} {layout}, run {i + 1} of {a.runs}")
                try:
                    with tempfile.TemporaryDirectory() as tmp:
                        gm, hm = one_run(tmp, mode, packed, port, nbytes, a.hash, a.vectors)
                except Exception as e:  # noqa: BLE001  a failed case is a row, not the end
                    row["error"] = f"run {i + 1}: {type(e).__name__}: {e}"
                    break
                g.append(gm)
                h.append(hm)
            if row["error"]:
                print(f"{name:<28} {layout:<7} error: {row['error']}")
                continue
            row.update(guest_mbs=round(statistics.median(g), 1),
                       host_mbs=round(statistics.median(h), 1),
                       host_measure="QEMU start to exit" if mode == "source" and not port
                       else "first to last byte")
            note = " (host: QEMU start to exit)" if mode == "source" and not port else ""
            print(f"{name:<28} {layout:<7} "
                  f"{row['guest_mbs']:>11.1f} {row['host_mbs']:>10.1f}{note}")
    common.write_json(a.json, {
        "bench": "console", "guest": "ours",
        "setup": {"accel": accel, "mib": a.mib, "runs": a.runs, "guest_hash": a.hash,
                  "vectors": a.vectors},
        "streams": rows, "error": None})
    return 1 if any(r["error"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
