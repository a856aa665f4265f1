#!/usr/bin/python3
"""virtio-blk benchmark: boot the kernel with app=blkbench on a raw image and
print the guest's table (sequential read/write MB/s at 4K, 64K and 1M, random
4K read IOPS at queue depth 1 and 32, notifications and interrupts per
request). A benchmark, not a test: it prints figures and never judges them.

Each transport given by --transports runs in turn, its table printed beside
the others: q35-pci (virtio-blk-pci on q35) and microvm-mmio (virtio-blk-device
on microvm's virtio-mmio, version 2).

The image is opened with cache=none,aio=threads (O_DIRECT on the host); when
QEMU cannot do that on this file system, cache=writeback is used instead, and
the header says which one ran.

--backend vhost-user (env BACKEND) puts qemu-storage-daemon's vhost-user-blk
export behind the disk instead of QEMU's built-in device (q35-pci only: a
vhost-user-blk-pci device; guest RAM in a shared memfd).
"""
import argparse
import os
import re
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import qemu  # noqa: E402
import vhost_user  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "bench"))
import common  # noqa: E402

NCASES = 14  # blk_bench() in lib/blk_job.c
# One row of the guest's table: case, size, QD, then figures or "error ...".
ROW = re.compile(r"^(seq read|seq write|rand read)\s+(\d+)([KM])\s+(\d+)\s+(.*?)\s*$")


def make_image(path, mib):
    """mib MiB of non-zero data, so that reads are not served from holes."""
    block = bytes((i * 131 + 7) & 0xFF or 1 for i in range(1 << 20))
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)


# name: (QEMU machine, virtio device suffix, extra QEMU arguments)
TRANSPORTS = {
    "q35-pci": ("q35", "pci", []),
    "microvm-mmio": ("microvm", "device", ["-global", "virtio-mmio.force-legacy=false"]),
}


BENCH_MEM = "512M"


class Disk:
    """The disk both benches give their guest (bench-blk and bench-linux-blk,
    so both run on the same device): QEMU's built-in virtio-blk on the image
    (--backend builtin), or qemu-storage-daemon exporting the image over
    vhost-user to a vhost-user-blk-pci device (--backend vhost-user; the
    daemon opens the image as the built-in device would with
    cache=writeback). Use as a context manager: the daemon runs inside."""

    def __init__(self, args, image, cache, transport="q35-pci"):
        self.daemon = None
        self.machine, bus, extra = TRANSPORTS[transport]
        opts = f"num-queues={args.queues},queue-size={args.queue_size}"
        if args.device_opts:
            opts += "," + args.device_opts
        if getattr(args, "backend", "builtin") == "vhost-user":
            if transport != "q35-pci":
                raise ValueError("the vhost-user backend runs on q35-pci only")
            workdir = os.path.dirname(os.path.abspath(image))
            self.daemon = vhost_user.BlkDaemon(image, workdir, mem=BENCH_MEM,
                                               export_opts=f",num-queues={args.queues}")
            self.machine = self.daemon.machine
            self.devices = self.daemon.devices("," + opts)
        else:
            drive = f"if=none,id=d0,file={image},format=raw,cache={cache}"
            if cache == "none":
                drive += ",aio=threads"
            self.devices = extra + ["-drive", drive,
                                    "-device", f"virtio-blk-{bus},drive=d0,{opts}"]

    def __enter__(self):
        if self.daemon:
            self.daemon.start()
        return self

    def __exit__(self, *exc):
        if self.daemon:
            self.daemon.stop()


def run(args, image, cache, transport="q35-pci", progress=None):
    cmdline = f"app=blkbench blkbench.ms={args.ms}" + (" blkbench.poll" if args.poll else "")

    def on_line(line):
        m = ROW.match(line)
        if m and progress:
            progress.step(f"{transport}: {m.group(1)} {m.group(2)}{m.group(3)} QD{m.group(4)} "
                          "done")
    with Disk(args, image, cache, transport) as disk:
        argv = qemu.qemu_command(os.path.join(args.build, "kernel.elf"), cmdline,
                                 accel=args.accel, machine=disk.machine, mem=BENCH_MEM,
                                 devices=disk.devices)
        t0 = time.monotonic()
        p = common.run_streaming(argv, args.ms * 20 / 1000 + 120, on_line)
    return argv, p, time.monotonic() - t0


def parse_rows(lines):
    """The guest's table as case dicts: figures, or the error the guest printed."""
    cases = []
    for line in lines:
        m = ROW.match(line)
        if not m:
            continue
        size = int(m.group(2)) << (20 if m.group(3) == "M" else 10)
        case = {"case": m.group(1), "size": size, "qd": int(m.group(4)), "error": None}
        rest = m.group(5)
        f = re.match(r"^([\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", rest)
        if f:
            case.update(mbs=float(f.group(1)), iops=float(f.group(2)),
                        notif_per_req=float(f.group(3)), irq_per_req=float(f.group(4)))
        else:
            case["error"] = rest or "no figures"
        cases.append(case)
    return cases


def disk_args(doc):
    """The options bench-blk and bench-linux-blk share: the same disk, the same QEMU."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--accel", default=os.environ.get("ACCEL", "tcg"))
    ap.add_argument("--size", type=int, default=256, help="image size in MiB (256)")
    ap.add_argument("--ms", type=int, default=1000, help="milliseconds per case (1000)")
    ap.add_argument("--queues", type=int, default=1, help="virtio-blk num-queues (1)")
    ap.add_argument("--queue-size", type=int, default=256, help="virtio-blk queue-size (256)")
    ap.add_argument("--device-opts", default="", help="more virtio-blk-pci options")
    ap.add_argument("--backend", choices=["builtin", "vhost-user"],
                    default=os.environ.get("BACKEND") or "builtin",
                    help="QEMU's built-in virtio-blk, or qemu-storage-daemon over vhost-user "
                         "(env BACKEND)")
    return ap


def bench_one(args, image, transport, progress, results):
    argv, p, secs = run(args, image, "none", transport, progress)
    cache = "none,aio=threads" if args.backend == "builtin" else "daemon (writeback)"
    if (args.backend == "builtin" and p.returncode not in (qemu.EXIT_PASS, qemu.EXIT_FAIL)
            and "blkbench" not in p.stdout):
        print(f"bench-blk: cache=none failed ({p.stdout.strip().splitlines()[-1:]}); "
              "falling back to cache=writeback", file=sys.stderr)
        argv, p, secs = run(args, image, "writeback", transport, progress)
        cache = "writeback"
    res = {"transport": transport, "cache": cache, "seconds": round(secs, 1),
           "features": None, "error": None, "cases": []}
    results.append(res)
    lines = p.stdout.splitlines()
    print(f"bench-blk: {transport}: QEMU {args.accel.upper()}, {args.backend} backend, "
          f"raw image {args.size} MiB, "
          f"cache={cache}, num-queues={args.queues}, queue-size={args.queue_size}"
          f"{', ' + args.device_opts if args.device_opts else ''}, "
          f"{'polling' if args.poll else 'interrupts'}; {secs:.1f} s")
    start = next((i for i, l in enumerate(lines) if l.startswith("blk bench:")), None)
    if start is None:
        print("\n".join(lines[-30:]))
        status = "killed on timeout" if p.returncode is None else f"exit status {p.returncode}"
        print(f"bench-blk: no table ({status})")
        res["error"] = f"no table ({status}): {common.tail(p.stdout)}"
        return 1
    for line in lines:
        if line.startswith(("blk: vda: features", "blk: vda: virtio")):
            print(line)
            if line.startswith("blk: vda: features"):
                res["features"] = line.split("features", 1)[1].strip()
    res["cases"] = parse_rows(lines[start:])
    if len(res["cases"]) < NCASES:
        res["error"] = (f"the guest stopped after {len(res['cases'])} of {NCASES} cases "
                        f"(exit status {p.returncode})")
    for line in lines[start:]:
        if line.startswith(("blk bench", "case", "seq ", "rand ")):
            print(line)
    if res["error"]:
        print(f"bench-blk: {res['error']}")
    return 0 if p.returncode == qemu.EXIT_PASS else 1


def main():
    ap = disk_args(__doc__)
    ap.add_argument("--poll", action="store_true", help="poll for completions, no interrupts")
    ap.add_argument("--transports", default=None,
                    help="comma-separated: " + ", ".join(TRANSPORTS) +
                         " (default: all; q35-pci with the vhost-user backend)")
    common.add_json_arg(ap)
    args = ap.parse_args()
    if args.transports is None:
        args.transports = "q35-pci" if args.backend == "vhost-user" else ",".join(TRANSPORTS)

    bench_dir = os.path.join(args.build, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    image = os.path.join(bench_dir, "blk.img")
    make_image(image, args.size)
    rc = 0
    transports = args.transports.split(",")
    results = []
    try:
        with common.Progress("bench-blk", NCASES * len(transports)) as progress:
            for i, transport in enumerate(transports):
                if i:
                    print()
                progress.note(f"{transport}: booting")
                rc |= bench_one(args, image, transport, progress, results)
    finally:
        os.unlink(image)
    common.write_json(args.json, {
        "bench": "blk", "guest": "ours",
        "setup": {"accel": args.accel, "backend": args.backend, "image_mib": args.size,
                  "ms": args.ms, "queues": args.queues, "queue_size": args.queue_size,
                  "device_opts": args.device_opts, "poll": args.poll, "mem": BENCH_MEM},
        "transports": results, "error": None if results else "nothing ran"})
    return rc


if __name__ == "__main__":
    sys.exit(main())
