#!/usr/bin/python3
"""virtio-blk benchmark: boot the kernel with app=blkbench on a raw image and
print the guest's table (sequential read/write MB/s at 4K, 64K and 1M, random
4K read IOPS at queue depth 1 and 32, notifications and interrupts per
request). A benchmark, not a test: it prints figures and never judges them.

The image is opened with cache=none,aio=threads (O_DIRECT on the host); when
QEMU cannot do that on this file system, cache=writeback is used instead, and
the header says which one ran.
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import qemu  # noqa: E402
import vhost_user  # noqa: E402


def make_image(path, mib):
    """mib MiB of non-zero data, so that reads are not served from holes."""
    block = bytes((i * 131 + 7) & 0xFF or 1 for i in range(1 << 20))
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)


BENCH_MEM = "512M"


class Disk:
    """The disk both benches give their guest (bench-blk and bench-linux-blk,
    so both run on the same device): QEMU's built-in virtio-blk-pci on the
    image (--backend builtin), or qemu-storage-daemon exporting the image
    over vhost-user to a vhost-user-blk-pci device (--backend vhost-user;
    the daemon opens the image as the built-in device would with
    cache=writeback). Use as a context manager: the daemon runs inside."""

    def __init__(self, args, image, cache):
        self.args, self.image, self.cache = args, image, cache
        self.daemon = None
        self.machine = "q35"
        opts = f"num-queues={args.queues},queue-size={args.queue_size}"
        if args.device_opts:
            opts += "," + args.device_opts
        if args.backend == "vhost-user":
            workdir = os.path.dirname(os.path.abspath(image))
            export = f",num-queues={args.queues}"
            self.daemon = vhost_user.BlkDaemon(image, workdir, mem=BENCH_MEM,
                                               export_opts=export)
            self.machine = self.daemon.machine
            self.devices = self.daemon.devices("," + opts)
            self.cache = "daemon (writeback)"
        else:
            drive = f"if=none,id=d0,file={image},format=raw,cache={cache}"
            if cache == "none":
                drive += ",aio=threads"
            self.devices = ["-drive", drive, "-device", f"virtio-blk-pci,drive=d0,{opts}"]

    def __enter__(self):
        if self.daemon:
            self.daemon.start()
        return self

    def __exit__(self, *exc):
        if self.daemon:
            self.daemon.stop()


def run(args, image, cache):
    cmdline = f"app=blkbench blkbench.ms={args.ms}" + (" blkbench.poll" if args.poll else "")
    with Disk(args, image, cache) as disk:
        argv = qemu.qemu_command(os.path.join(args.build, "kernel.elf"), cmdline,
                                 machine=disk.machine, accel=args.accel, mem=BENCH_MEM,
                                 devices=disk.devices)
        t0 = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=args.ms * 20 / 1000 + 120, check=False)
    return argv, p, time.monotonic() - t0


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


def main():
    ap = disk_args(__doc__)
    ap.add_argument("--poll", action="store_true", help="poll for completions, no interrupts")
    args = ap.parse_args()

    bench_dir = os.path.join(args.build, "bench")
    os.makedirs(bench_dir, exist_ok=True)
    image = os.path.join(bench_dir, "blk.img")
    make_image(image, args.size)
    try:
        argv, p, secs = run(args, image, "none")
        cache = "none,aio=threads" if args.backend == "builtin" else "daemon (writeback)"
        if args.backend == "builtin" and p.returncode not in (qemu.EXIT_PASS, qemu.EXIT_FAIL) and "blkbench" not in p.stdout:
            print(f"bench-blk: cache=none failed ({p.stdout.strip().splitlines()[-1:]}); "
                  "falling back to cache=writeback", file=sys.stderr)
            argv, p, secs = run(args, image, "writeback")
            cache = "writeback"
    finally:
        os.unlink(image)
    lines = p.stdout.splitlines()
    print(f"bench-blk: QEMU {args.accel.upper()}, {args.backend} backend, raw image "
          f"{args.size} MiB, cache={cache}, "
          f"num-queues={args.queues}, queue-size={args.queue_size}"
          f"{', ' + args.device_opts if args.device_opts else ''}, "
          f"{'polling' if args.poll else 'interrupts'}; {secs:.1f} s")
    start = next((i for i, l in enumerate(lines) if l.startswith("blk bench:")), None)
    if start is None:
        print("\n".join(lines[-30:]))
        print(f"bench-blk: no table (exit status {p.returncode})")
        return 1
    for line in lines:
        if line.startswith("blk: vda: features"):
            print(line)
    for line in lines[start:]:
        if line.startswith(("blk bench", "case", "seq ", "rand ")):
            print(line)
    return 0 if p.returncode == qemu.EXIT_PASS else 1


if __name__ == "__main__":
    sys.exit(main())
