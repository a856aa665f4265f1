#!/usr/bin/python3
"""Run every test tier and print one summary line: "N passed, N failed".

Tiers:
  host  the kernel's portable sources under cmocka with ASan/UBSan
        (each binary reports in TAP; a crash counts its unreported tests failed)
  qemu  pytest over tests/qemu, booting build/kernel.elf (2 workers)

Exit status: 0 when everything passed and at least one test ran, 1 otherwise.
"""
import argparse
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def run_host(binaries):
    passed = failed = 0
    for b in binaries:
        env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
        p = subprocess.run([b], capture_output=True, text=True, env=env, check=False)
        plan = re.search(r"^1\.\.(\d+)", p.stdout, re.M)
        ok = len(re.findall(r"^ok \d+", p.stdout, re.M))
        bad = len(re.findall(r"^not ok \d+", p.stdout, re.M))
        total = int(plan.group(1)) if plan else ok + bad
        missing = max(0, total - ok - bad)
        if p.returncode != 0 and bad + missing == 0:
            missing = 1   # crashed before reporting anything
        name = os.path.basename(b)
        print(f"host: {name}: {ok} passed, {bad + missing} failed")
        if bad + missing:
            sys.stdout.write(p.stdout)
            sys.stdout.write(p.stderr)
        passed += ok
        failed += bad + missing
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
    skipped = int(suite.get("skipped", 0))
    if p.returncode not in (0, 1) and bad == 0:
        bad = 1   # pytest itself failed (collection or internal error)
    print(f"qemu: {total - bad - skipped} passed, {bad} failed, {skipped} skipped")
    return total - bad - skipped, bad


def main():
    ap = argparse.ArgumentParser(description="run all test tiers")
    ap.add_argument("--build", default="build")
    ap.add_argument("--host", nargs="*", default=[], help="host test binaries")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("-k", dest="select", help="only QEMU tests matching this pytest -k expression")
    ap.add_argument("--tiers", default="host,qemu", help="comma-separated tiers to run")
    a = ap.parse_args()
    tiers = set(a.tiers.split(","))

    hp, hf = run_host(a.host) if "host" in tiers else (0, 0)
    qp, qf = run_qemu(a.build, a.workers, a.select) if "qemu" in tiers else (0, 0)
    passed, failed = hp + qp, hf + qf
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
