#!/usr/bin/python3
"""Run every test tier and print one summary line: "N passed, N failed, N skipped".

A skipped test is neither passed nor failed; each one is printed with its
reason ("skipped: TIER: TEST: REASON"), e.g. the tap tests when not root.

Tiers:
  host  the kernel's portable sources under cmocka with ASan/UBSan
        (each binary reports in TAP; a crash counts its unreported tests failed),
        plus tests/check_dispatch.py on the kernel's virtqueue object (--static)
  qemu  pytest over tests/qemu, booting build/kernel.elf (2 workers)
  fuzz  the libFuzzer targets (tests/fuzz/), --fuzz-seconds each (PATH:SECONDS
        for one's own time), side by side,
        on a copy of the seed corpus in BUILD/fuzz/corpus-LAYOUT/; one test
        per fuzzer, failed on any crash (artifacts in BUILD/fuzz/artifacts/)

Exit status: 0 when everything passed and at least one test ran, 1 otherwise.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run_host(binaries):
    passed = failed = skipped = 0
    for b in binaries:
        env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
        p = subprocess.run([b], capture_output=True, text=True, env=env, check=False)
        plan = re.search(r"^1\.\.(\d+)", p.stdout, re.M)
        # A TAP "# SKIP" directive, on "ok" or (cmocka's skip()) "not ok N # SKIP name";
        # cmocka gives no reason: print what follows SKIP.
        skip_rx = r"^(?:not )?ok \d+[^#\n]*#\s*SKIP\b[ \t]*(.*)$"
        skips = re.findall(skip_rx, p.stdout, re.M | re.I)
        ok = len(re.findall(r"^ok \d+(?![^#\n]*#\s*SKIP\b)", p.stdout, re.M | re.I))
        bad = len(re.findall(r"^not ok \d+(?![^#\n]*#\s*SKIP\b)", p.stdout, re.M | re.I))
        total = int(plan.group(1)) if plan else ok + bad + len(skips)
        missing = max(0, total - ok - bad - len(skips))
        if p.returncode != 0 and bad + missing == 0:
            missing = 1   # crashed before reporting anything
        name = os.path.basename(b)
        print(f"host: {name}: {ok} passed, {bad + missing} failed, {len(skips)} skipped")
        for what in skips:
            print(f"skipped: host: {name}: {what or '?'} (the test called skip(); "
                  "cmocka reports no reason)")
        if bad + missing:
            sys.stdout.write(p.stdout)
            sys.stdout.write(p.stderr)
        passed += ok
        failed += bad + missing
        skipped += len(skips)
    return passed, failed, skipped


def run_static(objects):
    """tests/check_dispatch.py on each object: one test each."""
    passed = failed = 0
    for obj in objects:
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "check_dispatch.py"), obj],
                           capture_output=True, text=True, check=False)
        ok = p.returncode == 0
        print(f"host: check_dispatch {os.path.basename(obj)}: "
              f"{'1 passed, 0 failed' if ok else '0 passed, 1 failed'}, 0 skipped")
        if not ok:
            sys.stdout.write(p.stdout + p.stderr)
        passed += ok
        failed += not ok
    return passed, failed


def run_qemu(build, workers, select):
    os.makedirs(os.path.join(build, "test-logs"), exist_ok=True)
    xml = os.path.join(build, "test-logs", "qemu-junit.xml")
    if os.path.exists(xml):
        os.remove(xml)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           f"--junitxml={xml}", os.path.join(ROOT, "tests", "qemu")]
    if workers > 1:
        cmd[3:3] = ["-n", str(workers)]
    if select:
        cmd += ["-k", select]
    env = dict(os.environ, BUILD=os.path.abspath(build))
    p = subprocess.run(cmd, env=env, check=False)
    if not os.path.exists(xml):
        print("qemu: pytest produced no report")
        return 0, 1
    suite = ET.parse(xml).getroot()
    if suite.tag == "testsuites":
        suite = suite[0]
    total = int(suite.get("tests", 0))
    bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skips = []
    for case in suite.iter("testcase"):
        s = case.find("skipped")
        if s is not None:
            name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
            skips.append((name, s.get("message") or s.text or "no reason given"))
    skipped = max(int(suite.get("skipped", 0)), len(skips))
    if p.returncode not in (0, 1) and bad == 0:
        bad = 1   # pytest itself failed (collection or internal error)
    print(f"qemu: {total - bad - skipped} passed, {bad} failed, {skipped} skipped")
    for name, why in skips:
        print(f"skipped: qemu: {name}: {why}")
    return total - bad - skipped, bad, skipped


def run_fuzz(build, binaries, seconds):
    fuzz_dir = os.path.join(build, "fuzz")
    artifacts = os.path.join(fuzz_dir, "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    env = dict(os.environ)
    for sym in ("/usr/bin/llvm-symbolizer", "/usr/lib/llvm-14/bin/llvm-symbolizer"):
        if "ASAN_SYMBOLIZER_PATH" not in env and os.path.exists(sym):
            env["ASAN_SYMBOLIZER_PATH"] = sym
    runs = []
    for b in binaries:
        # "path:seconds" runs that fuzzer for its own time (a short pass)
        b, _, own = b.partition(":")
        secs = int(own) if own else seconds
        name = os.path.basename(b)
        layout = name.split("_", 1)[-1]
        corpus = os.path.join(fuzz_dir, f"corpus-{layout}")
        os.makedirs(corpus, exist_ok=True)
        seeds = os.path.join(ROOT, "tests", "fuzz", "corpus", layout)
        if os.path.isdir(seeds):
            for f in os.listdir(seeds):
                shutil.copyfile(os.path.join(seeds, f), os.path.join(corpus, f))
        log = os.path.join(fuzz_dir, f"{name}.log")
        cmd = [b, f"-max_total_time={secs}", "-timeout=25", "-max_len=4096",
               "-rss_limit_mb=2048", "-print_final_stats=1",
               f"-artifact_prefix={artifacts}/{name}-", corpus]
        if not os.access(b, os.X_OK):
            runs.append((name, None, log))
            continue
        with open(log, "w") as out:
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        runs.append((name, p, log))
    passed = failed = 0
    for name, p, log in runs:
        if p is None:
            print(f"fuzz: {name}: not built")
            failed += 1
            continue
        try:
            rc = p.wait(timeout=seconds + 300)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        text = open(log, errors="replace").read()
        m = re.search(r"stat::number_of_executed_units: (\d+)", text)
        execs = int(m.group(1)) if m else 0
        crash = re.search(r"Test unit written to (\S+)", text)
        ok = rc == 0 and not crash and "ERROR:" not in text
        if ok:
            print(f"fuzz: {name}: {execs} execs, 0 crashes")
            passed += 1
        else:
            where = crash.group(1) if crash else f"exit status {rc}"
            print(f"fuzz: {name}: {execs} execs, 1 crash ({where}; log {log})")
            lines = text.splitlines()
            start = next((i for i, l in enumerate(lines)
                          if "invariant violated" in l or "ERROR:" in l), max(0, len(lines) - 40))
            sys.stdout.write("\n".join(lines[start:start + 60]) + "\n")
            failed += 1
    return passed, failed, 0


def main():
    ap = argparse.ArgumentParser(description="run all test tiers")
    ap.add_argument("--build", default="build")
    ap.add_argument("--host", nargs="*", default=[], help="host test binaries")
    ap.add_argument("--static", nargs="*", default=[],
                    help="kernel objects for tests/check_dispatch.py (host tier)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("-k", dest="select", help="only QEMU tests matching this pytest -k expression")
    ap.add_argument("--fuzz", nargs="*", default=[], help="fuzzer binaries")
    ap.add_argument("--fuzz-seconds", type=int, default=30, help="run time of each fuzzer")
    ap.add_argument("--tiers", default="host,qemu,fuzz", help="comma-separated tiers to run")
    a = ap.parse_args()
    tiers = set(a.tiers.split(","))

    hp, hf, hs = run_host(a.host) if "host" in tiers else (0, 0, 0)
    if "host" in tiers:
        sp, sf = run_static(a.static)
        hp, hf = hp + sp, hf + sf
    qp, qf, qs = run_qemu(a.build, a.workers, a.select) if "qemu" in tiers else (0, 0, 0)
    fp, ff, fs = run_fuzz(a.build, a.fuzz, a.fuzz_seconds) if "fuzz" in tiers else (0, 0, 0)
    passed, failed, skipped = hp + qp + fp, hf + qf + ff, hs + qs + fs
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
