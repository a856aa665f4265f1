#!/usr/bin/python3
"""`make bench`: every benchmark, then one report.

Runs, in order: boot, ring (host), ringcost (the ring inside the guest), blk (ours, then the Linux 6.1 guest on the same
disk set-up), console, net (ours, then the Linux guest on the same tap
set-up). Each script keeps its terminal output and writes its figures to
BUILD/bench/results/NAME.json (--json); bench/report.py then writes
BUILD/bench/report.md, report.json and plots/*.png.

--quick (make bench QUICK=1): fewer cases and shorter runs, about a minute
in all; the report still has every section. The bench-* targets' make
variables (BLKBENCH_ARGS, LINUXBLK_ARGS, CONSOLE_BENCH_ARGS, BENCH_NET_ARGS,
LINUXNET_ARGS, RINGBENCH_ARGS, RINGCOST_ARGS; BOOTBENCH_ARGS) add their options to that step. A benchmark that cannot run here
(net without root or /dev/net/tun) or that fails still gets its section,
saying why. Figures only: the exit status is 0 unless the report itself could
not be written.
"""
import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import common  # noqa: E402

PY = sys.executable

# name, file, guest, full arguments, quick arguments (both after the script's own
# --build/--json), minutes before it is stopped, the environment variable (the
# make variable of the bench-* target) whose arguments come last.
STEPS = [
    ("boot", "boot.py", "ours", [], ["--runs", "2"], 30, "BOOTBENCH_ARGS"),
    ("ring", "ring.py", "host", ["--"], ["--", "-n", "100000", "-p", "20000"], 30,
     "RINGBENCH_ARGS"),
    ("ringcost", "ring/ringcost.py", "ours", [], ["--runs", "1"], 30, "RINGCOST_ARGS"),
    ("blk", "blk.py", "ours", [], ["--ms", "100", "--size", "64"], 30, "BLKBENCH_ARGS"),
    ("linux-blk", "linux_blk.py", "linux", [],
     ["--ms", "200", "--size", "64", "--cases", "0,1,3,5,13"], 30, "LINUXBLK_ARGS"),
    ("console", "console.py", "ours", [], ["--runs", "1", "--mib", "1"], 60,
     "CONSOLE_BENCH_ARGS"),
    ("net", "net.py", "ours", [], ["--secs", "2", "--pings", "20", "--transports", "q35-pci"],
     30, "BENCH_NET_ARGS"),
    ("linux-net", "linux_net.py", "linux", [], ["--time", "2", "--pings", "20"], 30,
     "LINUXNET_ARGS"),
]


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        return (out.stdout.strip().splitlines() or [""])[0]
    except OSError as e:
        return f"unknown ({e})"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def setup(args):
    commit = first_line(["git", "-C", ROOT, "rev-parse", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "git_commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "qemu": first_line(["qemu-system-x86_64", "--version"]),
        "accel": args.accel,
        "blk_backend": os.environ.get("BACKEND") or "builtin",
        "machines": "q35 (virtio-pci), microvm (virtio-mmio); boot: also pc",
        "host_cpu": cpu_model(),
        "host_cpus": os.cpu_count(),
        "host_kernel": platform.release(),
        "quick": args.quick,
        "load_before": loadavg(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--accel", default=os.environ.get("ACCEL", "tcg"))
    ap.add_argument("--quick", action="store_true", help="fewer cases, shorter runs")
    ap.add_argument("--only", default="", help="only these steps (comma-separated names)")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    out_dir = os.path.join(build, "bench")
    res_dir = os.path.join(out_dir, "results")
    os.makedirs(res_dir, exist_ok=True)
    for f in os.listdir(res_dir):  # never report figures of an earlier run
        os.unlink(os.path.join(res_dir, f))
    env = dict(os.environ, ACCEL=a.accel)
    info = setup(a)
    steps = [s for s in STEPS if not a.only or s[0] in a.only.split(",")]
    timings = []
    t_all = time.monotonic()
    for n, (name, script, guest, full, quick, minutes, var) in enumerate(steps, 1):
        path = os.path.join(res_dir, f"{name}.json")
        argv = [PY, os.path.join(ROOT, "bench", script), "--build", build, "--json", path]
        # Later options win: the make variable's after QUICK's (ring.py: all after "--").
        argv += (quick if a.quick else full) + shlex.split(os.environ.get(var, ""))
        print(f"\n=== bench {n} of {len(steps)}: {name} ({guest}), "
              f"{time.monotonic() - t_all:.0f} s elapsed ===", flush=True)
        t0 = time.monotonic()
        try:
            rc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, check=False,
                                timeout=minutes * 60).returncode
            why = f"exit status {rc}"
        except subprocess.TimeoutExpired:
            rc, why = None, f"stopped after {minutes} minutes"
        secs = time.monotonic() - t0
        timings.append({"step": name, "seconds": round(secs, 1), "exit_status": rc})
        if not os.path.exists(path):
            bench = name.split("-")[-1]
            common.write_json(path, {"bench": bench, "guest": guest, "setup": {},
                                     "error": f"{script} wrote no results ({why})"})
    info["load_after"] = loadavg()
    info["seconds"] = round(time.monotonic() - t_all, 1)
    info["steps"] = timings
    common.write_json(os.path.join(res_dir, "setup.json"), info)
    print(f"\n=== report, {time.monotonic() - t_all:.0f} s elapsed ===", flush=True)
    return subprocess.run([PY, os.path.join(ROOT, "bench", "report.py"), "--results", res_dir,
                           "--out", out_dir], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
