#!/usr/bin/python3
"""virtio-blk baseline: a Linux 6.1 guest running fio in the QEMU set-up of
bench/blk.py, printing its table in the same layout. A benchmark, not a test:
it prints figures and never judges them.

Same QEMU configuration as `make bench-blk`: q35, 512 MiB, one vCPU, a raw
image of --size MiB of non-zero data opened with cache=none,aio=threads
(cache=writeback when QEMU cannot do O_DIRECT there, as bench/blk.py does),
virtio-blk-pci num-queues=1 queue-size=256. The guest (scripts/linux_guest.py:
Debian's kernel, busybox, Debian's fio) runs one fio job per case on /dev/vda:
direct=1, ioengine=libaio, time_based for --ms each, over the first
min(size, 2 GiB) of the disk like the kernel's bench; sequential read and
write at 4K/64K/1M and random 4K read, at iodepth 1 and 32. MB/s is 10^6
bytes per second. irq/req comes from the guest's /proc/interrupts (the
virtio request queues); the guest cannot see its notifications, so that
column is "-". The block layer's scheduler is the kernel's default for the
device unless --sched says otherwise.
"""
import json
import os
import re
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import linux_guest  # noqa: E402
import qemu  # noqa: E402
import blk  # noqa: E402
import common  # noqa: E402
from blk import disk_args, make_image  # noqa: E402

# The cases of blk_bench() (drivers/block/blk_job.c), in its order: name, fio rw, bytes, depth.
CASES = [("seq read", "read", 4096, 1), ("seq read", "read", 4096, 32),
         ("seq read", "read", 65536, 1), ("seq read", "read", 65536, 32),
         ("seq read", "read", 1048576, 1), ("seq read", "read", 1048576, 32),
         ("seq write", "write", 4096, 1), ("seq write", "write", 4096, 32),
         ("seq write", "write", 65536, 1), ("seq write", "write", 65536, 32),
         ("seq write", "write", 1048576, 1), ("seq write", "write", 1048576, 32),
         ("rand read", "randread", 4096, 1), ("rand read", "randread", 4096, 32)]


def size_name(n):
    return f"{n >> 20}M" if n >= 1 << 20 else f"{n >> 10}K"


def run(args, guest, image, cache, used_mib, progress):
    cases = ",".join(f"{rw}:{size_name(b).lower()}:{qd}" for _, rw, b, qd in args.cases)
    cmdline = (f"console=ttyS0 panic=-1 loglevel=4 lb.bench=blk lb.ms={args.ms} "
               f"lb.size={used_mib}M lb.engine={args.engine} lb.cases={cases}")
    if args.sched:
        cmdline += f" lb.sched={args.sched}"
    with blk.Disk(args, image, cache) as disk:
        argv = qemu.qemu_command(guest["kernel"], cmdline, machine=disk.machine,
                                 accel=args.accel, mem=blk.BENCH_MEM,
                                 devices=["-initrd", guest["initrd"]] + disk.devices)
        t0 = time.monotonic()

        def on_line(line):
            m = re.match(r"^@@LB case (\d+) (\S+) (\S+) (\S+) rc=(\d+)", line)
            if m:
                progress.step(f"fio {m.group(2)} {m.group(3)} QD{m.group(4)} done"
                              f"{'' if m.group(5) == '0' else ' (failed)'}")
            elif line.startswith("@@LB init"):
                progress.note("the Linux guest is up")
        p = common.run_streaming(argv, 180 + len(args.cases) * (3 * args.ms / 1000 + 10),
                                 on_line)
    return p, time.monotonic() - t0


def parse(out):
    """info dict, {case index: (rc, irqs)}, {case index: fio json}."""
    info = dict(re.findall(r"^@@LB info (\S+) (.*?)\r?$", out, re.M))
    status = {int(i): (int(rc), int(n)) for i, rc, n in
              re.findall(r"^@@LB case (\d+) \S+ \S+ \S+ rc=(\d+) irqs=(-?\d+)", out, re.M)}
    results = {}
    for m in re.finditer(r"^@@LB json-begin (\d+)\r?\n(.*?)^@@LB json-end", out, re.M | re.S):
        try:
            results[int(m.group(1))] = json.loads(m.group(2))
        except ValueError:
            pass
    return info, status, results


def main():
    ap = disk_args(__doc__)
    ap.add_argument("--engine", default="libaio", help="fio ioengine (libaio; io_uring, psync)")
    ap.add_argument("--sched", default="", help="guest I/O scheduler (kernel default)")
    ap.add_argument("--cases", default="",
                    help="only these cases, by number in the table (0-13), comma-separated")
    common.add_json_arg(ap)
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.cases = [CASES[int(i)] for i in args.cases.split(",")] if args.cases else CASES

    guest = linux_guest.prepare(args.build)
    bench_dir = os.path.join(args.build, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    image = os.path.join(bench_dir, "linux-blk.img")
    # The kernel's bench uses the first min(size, 2 GiB), in whole 2 MiB.
    used_mib = min(args.size, 2048) // 2 * 2
    make_image(image, args.size)
    try:
        with common.Progress("bench-linux-blk", len(args.cases)) as progress:
            progress.note("booting the Linux guest")
            p, secs = run(args, guest, image, "none", used_mib, progress)
            cache = "none,aio=threads" if args.backend == "builtin" else "daemon (writeback)"
            if args.backend == "builtin" and "@@LB init" not in p.stdout:
                print(f"bench-linux-blk: cache=none failed "
                      f"({(p.stdout + p.stderr).strip()[-200:]}); "
                      "falling back to cache=writeback", file=sys.stderr)
                p, secs = run(args, guest, image, "writeback", used_mib, progress)
                cache = "writeback"
    finally:
        os.unlink(image)
    log = os.path.join(bench_dir, "linux-blk.log")
    with open(log, "w") as f:
        f.write(p.stdout + p.stderr)

    info, status, results = parse(p.stdout)
    sched = re.search(r"\[(\S+)\]", info.get("scheduler", ""))
    print(f"bench-linux-blk: Linux {info.get('kernel', '?')} guest ({guest['package']} "
          f"{guest['version']}), {info.get('fio', 'fio ?')} {args.engine} direct=1, "
          f"scheduler {sched.group(1) if sched else '?'}; QEMU {args.accel.upper()}, "
          f"{args.backend} backend, raw image "
          f"{args.size} MiB, cache={cache}, num-queues={args.queues}, "
          f"queue-size={args.queue_size}{', ' + args.device_opts if args.device_opts else ''}, "
          f"interrupts; {secs:.1f} s")
    res = {"transport": "q35-pci", "cache": cache, "seconds": round(secs, 1),
           "features": None, "error": None, "cases": []}
    doc = {"bench": "blk", "guest": "linux",
           "setup": {"accel": args.accel, "backend": args.backend, "image_mib": args.size,
                     "ms": args.ms, "queues": args.queues, "queue_size": args.queue_size,
                     "device_opts": args.device_opts, "mem": blk.BENCH_MEM,
                     "kernel": info.get("kernel"), "package": f"{guest['package']} "
                     f"{guest['version']}", "fio": info.get("fio"), "engine": args.engine,
                     "scheduler": sched.group(1) if sched else None},
           "transports": [res], "error": None}
    if not status:
        print("\n".join(p.stdout.splitlines()[-30:]))
        status = "killed on timeout" if p.returncode is None else f"exit status {p.returncode}"
        print(f"bench-linux-blk: no table ({status}; log {log})")
        res["error"] = f"no table ({status}): {common.tail(p.stdout)}"
        common.write_json(args.json, doc)
        return 1
    hwq = info.get("hwqueues", "?")
    print(f"blk bench: vda, {used_mib} MiB used, {hwq} queue{'' if hwq == '1' else 's'} of "
          f"{args.queue_size}, completions by interrupt, {args.ms} ms per case")
    print(f"{'case':<10} {'size':>6} {'QD':>3} {'MB/s':>10} {'IOPS':>10} {'notif/req':>10} "
          f"{'irq/req':>10}")
    failed = 0
    for i, (name, rw, nbytes, qd) in enumerate(args.cases):
        row = f"{name:<10} {size_name(nbytes):>6} {qd:>3}"
        rc, irqs = status.get(i, (None, 0))
        job = results.get(i, {}).get("jobs", [{}])[0]
        side = job.get("write" if rw == "write" else "read", {})
        case = {"case": name, "size": nbytes, "qd": qd, "error": None}
        res["cases"].append(case)
        if rc != 0 or not side.get("runtime") or not side.get("total_ios"):
            failed += 1
            why = ("the guest stopped before it" if rc is None else
                   f"fio failed: status {rc}" if rc else
                   "no fio JSON" if i not in results else "fio moved no data")
            case["error"] = f"{why}; see {log}"
            print(f"{row}  ({case['error']})")
            continue
        ios = side["total_ios"]
        mbs = side["io_bytes"] / side["runtime"] / 1000
        case.update(mbs=round(mbs, 1), iops=round(side["iops"]), notif_per_req=None,
                    irq_per_req=round(irqs / ios, 2))
        print(f"{row} {mbs:10.1f} {side['iops']:10.0f} {'-':>10} {irqs / ios:10.2f}")
    common.write_json(args.json, doc)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
