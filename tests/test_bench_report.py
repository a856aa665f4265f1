#!/usr/bin/python3
"""The benchmark report tool (bench/report.py) and the parsers of the bench
scripts, on canned input: no benchmark runs. Prints TAP, so tests/run.py
counts it with the host tier's binaries.

Checks the Markdown tables (figures, ratios ours / Linux, an error in the
row of a failed case and no figures there), report.json (set-up, every
figure, the comparisons), that each PNG is a non-empty PNG, that a section
whose results are missing or failed says why, and that ringbench's tables
are read by column name (columns added later come through).
"""
import json
import os
import sys
import tempfile
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import blk  # noqa: E402
import ring  # noqa: E402
import report  # noqa: E402

K, M = 1 << 10, 1 << 20


def blk_case(case, size, qd, mbs=None, iops=None, error=None):
    c = {"case": case, "size": size, "qd": qd, "error": error}
    if error is None:
        c.update(mbs=mbs, iops=iops, notif_per_req=1.0, irq_per_req=0.5)
    return c


SETUP = {"date": "2026-01-01 00:00:00 UTC", "git_commit": "0123abc", "accel": "tcg",
         "qemu": "QEMU emulator version 7.2.0", "blk_backend": "builtin",
         "machines": "q35, microvm", "host_cpu": "Test CPU 3000", "host_cpus": 2,
         "host_kernel": "6.1", "quick": True, "load_before": 1.0, "load_after": 1.5,
         "seconds": 60.0, "steps": [{"step": "blk", "seconds": 4.0, "exit_status": 0}]}

BOOT = {"bench": "boot", "guest": "ours", "setup": {"runs": 2, "accel": "tcg",
                                                     "kernel_bytes": 1000},
        "machines": [{"machine": "q35", "runs": 2, "error": None, "wall_median_ms": 500.0,
                      "wall_min_ms": 400.0, "wall_max_ms": 600.0, "ready_median_us": 90000},
                     {"machine": "pc", "runs": 2, "error": "boot 1 failed (status 1): oops"}],
        "error": None}

RING_TEXT = """ring benchmark: 1000 buffers per run, ring size 256, driver on CPU 0, device on CPU 1
cache line ping-pong (reference): 100.0 ns round trip, 50.0 ns one way

layout  mode     size order batch    ns/buf  kicks/buf   irqs/buf  xP
split   poll      256  ooo      1      40.5     0.0000     0.0000  1.0
split   in-order  256  io      32      20.25    0.0100     0.0000  2.0
packed  notify    256  ooo      1  stalled: notification lost?
"""

BLK_OURS = {"bench": "blk", "guest": "ours",
            "setup": {"backend": "builtin", "image_mib": 64, "ms": 100, "queues": 1,
                      "queue_size": 256},
            "transports": [{"transport": "q35-pci", "cache": "none", "features": "FLUSH",
                            "error": None, "cases": [
                                blk_case("seq read", 4 * K, 1, 100.0, 25000),
                                blk_case("seq read", 4 * K, 32, error="error -5 (EIO): 3 of "
                                         "9 requests failed"),
                                blk_case("seq write", M, 32, 900.0, 900),
                                blk_case("rand read", 4 * K, 32, 40.0, 10000)]},
                           {"transport": "microvm-mmio", "cache": "none", "features": "FLUSH",
                            "error": None, "cases": [
                                blk_case("seq read", 4 * K, 1, 80.0, 20000)]}],
            "error": None}

BLK_LINUX = {"bench": "blk", "guest": "linux",
             "setup": {"engine": "libaio", "ms": 200, "scheduler": "none",
                       "kernel": "6.1.0-test", "package": "linux-image 6.1"},
             "transports": [{"transport": "q35-pci", "error": None, "cases": [
                 blk_case("seq read", 4 * K, 1, 50.0, 12500),
                 blk_case("seq read", 4 * K, 32, 60.0, 15000),
                 blk_case("seq write", M, 32, error="fio failed: status 1; see log")]}],
             "error": None}

NET_OURS = {"bench": "net", "guest": "ours", "setup": {"secs": 2, "pings": 20},
            "transports": [{"transport": "q35-pci", "features": "CSUM",
                            "rx": {"bps": 2e9, "error": None},
                            "tx": {"error": "AssertionError: no line matching iperf"},
                            "ping": {"min_ms": 0.2, "avg_ms": 0.5, "max_ms": 1.0,
                                     "error": None}}],
            "error": None}

NET_LINUX = {"bench": "net", "guest": "linux", "setup": {"secs": 2, "pings": 20},
             "transports": [{"transport": "q35-pci", "features": "CSUM VERSION_1",
                             "rx": {"bps": 1e9, "error": None},
                             "tx": {"bps": 1.5e9, "error": None},
                             "ping": {"min_ms": 0.4, "avg_ms": 1.0, "max_ms": 2.0,
                                      "error": None}}],
             "error": None}

CONSOLE = {"bench": "console", "guest": "ours", "setup": {"mib": 1, "runs": 1},
           "streams": [{"stream": "port 0 (console) host->guest", "layout": "split",
                        "error": None, "guest_mbs": 60.0, "host_mbs": 2.0},
                       {"stream": "named port guest->host", "layout": "packed",
                        "error": "run 1: RuntimeError: source: the guest failed"}],
           "error": None}


def write(d, name, doc):
    with open(os.path.join(d, f"{name}.json"), "w") as f:
        json.dump(doc, f)


def table_row(md, first_cells, section=None):
    """The Markdown table row starting with these cells (in the part of md under the
    heading section, up to the next heading), as a list of cells."""
    if section:
        md = md.split(f"\n{section}\n", 1)[1].split("\n#", 1)[0]
    prefix = "| " + " | ".join(first_cells) + " |"
    rows = [ln for ln in md.splitlines() if ln.startswith(prefix)]
    assert len(rows) == 1, f"{len(rows)} rows start with {prefix!r}"
    return [c.strip() for c in rows[0].strip("|").split("|")]


RINGCOST = {"bench": "ringcost", "guest": "ours", "error": None,
            "setup": {"runs": 3, "kernel": "build/kernel.elf", "accel": "tcg"},
            "columns": ["add", "kick_prep", "get", "ring", "kicks/buf", "ref", "ring/ref"],
            "cases": [{"device": "rng", "layout": "split", "qsize": 8, "depth": 1, "boots": 3,
                       "error": None, "add": 190.0, "kick_prep": 90.0, "get": 210.0,
                       "ring": 490.0, "kicks/buf": 1.0, "ref": 220.0, "ring/ref": 2.227},
                      {"config": "virtio-blk-pci packed",
                       "error": "boot failed (exit 3, 0 of 2 ringcost lines): oops"}]}


class Full:
    """Every bench's results, some cases failed."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory()
        res = os.path.join(self.tmp.name, "results")
        os.makedirs(res)
        self.out = os.path.join(self.tmp.name, "out")
        ringdoc = {"bench": "ring", "guest": "host", "setup": {}, "error": None}
        ringdoc.update(ring.parse(RING_TEXT))
        for name, doc in (("setup", SETUP), ("boot", BOOT), ("ring", ringdoc),
                          ("blk", BLK_OURS), ("linux-blk", BLK_LINUX), ("net", NET_OURS),
                          ("linux-net", NET_LINUX), ("console", CONSOLE),
                          ("ringcost", RINGCOST)):
            write(res, name, doc)
        self.md, self.plots = report.build(res, self.out)
        with open(os.path.join(self.out, "report.md")) as f:
            assert f.read() == self.md
        with open(os.path.join(self.out, "report.json")) as f:
            self.json = json.load(f)


def t_sections(full):
    for h in ("## Set-up", "## Boot", "## Ring", "## virtio-blk: ours vs Linux 6.1",
              "### q35-pci", "### microvm-mmio", "## virtio-net: ours vs Linux 6.1",
              "## virtio console", "## Plots"):
        assert f"\n{h}" in full.md, h


def t_setup(full):
    for v in ("QEMU emulator version 7.2.0", "0123abc", "Test CPU 3000", "tcg", "builtin",
              "2026-01-01", "QUICK"):
        assert v in full.md, v
    assert full.json["setup"]["host_cpu"] == "Test CPU 3000"
    assert full.json["setup"]["qemu"] == "QEMU emulator version 7.2.0"


def t_blk_ratio(full):
    r = table_row(full.md, ["seq read", "4K", "1"], "### q35-pci (Linux baseline: q35-pci)")
    assert r[3:] == ["100.0", "25,000", "0.50", "50.0", "12,500", "0.50", "2.00", "2.00"], r
    r = table_row(full.md, ["seq read", "4K", "1"],
                  "### microvm-mmio (ours only: the Linux baseline runs on q35-pci)")
    assert r[3:] == ["80.0", "20,000", "0.50"], r
    r = table_row(full.md, ["rand read", "4K", "32"])
    assert r[6:] == ["not run (QUICK)", "", "", "", ""], r


def t_blk_errors_in_rows(full):
    r = table_row(full.md, ["seq read", "4K", "32"])
    assert r[3] == "error: error -5 (EIO): 3 of 9 requests failed", r
    assert r[4] == r[5] == "" and r[6] == "60.0" and r[9] == "-" and r[10] == "-", r
    r = table_row(full.md, ["seq write", "1M", "32"])
    assert r[3] == "900.0" and r[6] == "error: fio failed: status 1; see log", r
    assert r[9] == "" and r[10] == "", r
    cases = [c["case"] for c in full.json["comparisons"] if c["bench"] == "blk"]
    assert cases == ["seq read 4K QD1"], cases
    c = full.json["comparisons"][0]
    assert c["ratio_mbs"] == 2.0 and c["ratio_iops"] == 2.0, c


def t_net(full):
    r = table_row(full.md, ["TCP host -> guest (Gbit/s)"])
    assert r[1:] == ["2.00", "1.00", "2.00"], r
    r = table_row(full.md, ["TCP guest -> host (Gbit/s)"])
    assert r[1] == "error: AssertionError: no line matching iperf" and r[2] == "1.50" \
        and r[3] == "-", r
    r = table_row(full.md, ["ping RTT avg (ms)"])
    assert r[1:] == ["0.500", "1.000", "0.50"], r
    net = [c for c in full.json["comparisons"] if c["bench"] == "net"]
    assert [c["case"] for c in net] == ["TCP host -> guest (Gbit/s)", "ping RTT min (ms)",
                                        "ping RTT avg (ms)", "ping RTT max (ms)"], net


def t_boot_console(full):
    assert table_row(full.md, ["q35"])[1:] == ["500.0", "400.0", "600.0", "90.0"]
    assert table_row(full.md, ["pc"])[1] == "error: boot 1 failed (status 1): oops"
    r = table_row(full.md, ["named port guest->host", "packed"])
    assert r[2] == "error: run 1: RuntimeError: source: the guest failed" and r[3] == "", r


def t_ring_columns(full):
    assert "Cache line ping-pong (reference): 100.0 ns round trip, 50.0 ns one way." in full.md
    assert "| layout | mode | size | order | batch | ns/buf | kicks/buf | irqs/buf | xP |" \
        in full.md
    r = table_row(full.md, ["split", "in-order"])
    assert r == ["split", "in-order", "256", "io", "32", "20.25", "0.0100", "0.0000", "2.0"], r
    assert "| error: packed notify 256 ooo 1 stalled: notification lost? |" in full.md
    rows = full.json["results"]["ring"]["tables"][0]["rows"]
    assert rows[0]["ns/buf"] == 40.5 and rows[0]["order"] == "ooo" and rows[2]["error"]


def t_ringcost(full):
    r = table_row(full.md, ["rng", "split"], "## Ring inside the guest (test=ringcost)")
    assert r == ["rng", "split", "8", "1", "190.0", "90.0", "210.0", "490.0", "1.000",
                 "220.0", "2.23"], r
    r = table_row(full.md, ["virtio-blk-pci packed"])
    assert r[4] == "error: boot failed (exit 3, 0 of 2 ringcost lines): oops", r
    assert full.json["results"]["ringcost"]["cases"][0]["ring"] == 490.0


def t_plots(full):
    want = {"boot.png", "ring.png", "ringcost.png", "blk_mbs_q35-pci.png", "blk_iops_q35-pci.png",
            "blk_mbs_microvm-mmio.png", "blk_iops_microvm-mmio.png", "net_throughput.png",
            "net_rtt.png", "console.png"}
    made = {os.path.basename(p) for p in full.plots}
    assert made == want, made ^ want
    for p in full.plots:
        with open(p, "rb") as f:
            data = f.read()
        assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n", p
        assert f"(plots/{os.path.basename(p)})" in full.md, p
    assert sorted(full.json["plots"]) == sorted(f"plots/{n}" for n in want)


def t_missing_sections():
    """Nothing but the set-up: every section is there and says why it has no figures."""
    with tempfile.TemporaryDirectory() as d:
        write(d, "setup", SETUP)
        write(d, "net", {"bench": "net", "guest": "ours", "setup": {},
                         "error": "needs root and /dev/net/tun; skipped"})
        md, plots = report.build(d, os.path.join(d, "out"))
    assert plots == [], plots
    for h in ("## Boot", "## Ring", "## Ring inside the guest", "## virtio-blk",
              "## virtio-net", "## virtio console"):
        assert f"\n{h}" in md, h
    assert "Ours not measured: needs root and /dev/net/tun; skipped" in md
    assert md.count("no results (") >= 6, md
    assert "No virtio-net TCP throughput plot: no figures." in md


def t_blk_guest_rows():
    """bench/blk.py: a failed case of the guest's table keeps its error, no figures."""
    lines = ["case         size  QD       MB/s       IOPS  notif/req    irq/req",
             "seq read       4K   1       14.6       3587       1.00       0.99",
             "seq write      1M  32  error -5 (EIO): 3 of 12 requests failed"]
    cases = blk.parse_rows(lines)
    assert cases[0] == {"case": "seq read", "size": 4096, "qd": 1, "error": None, "mbs": 14.6,
                        "iops": 3587.0, "notif_per_req": 1.0, "irq_per_req": 0.99}, cases[0]
    assert cases[1] == {"case": "seq write", "size": M, "qd": 32,
                        "error": "error -5 (EIO): 3 of 12 requests failed"}, cases[1]


def main():
    full_tests = [t_sections, t_setup, t_blk_ratio, t_blk_errors_in_rows, t_net,
                  t_boot_console, t_ring_columns, t_ringcost, t_plots]
    other = [t_missing_sections, t_blk_guest_rows]
    print(f"1..{len(full_tests) + len(other)}")
    n = failed = 0
    full, setup_error = None, None
    try:
        full = Full()
    except Exception:  # noqa: BLE001  every test that needs it fails, with the reason
        setup_error = traceback.format_exc()
    for t in full_tests + other:
        n += 1
        try:
            if t in full_tests:
                if full is None:
                    raise RuntimeError(f"report.build failed:\n{setup_error}")
                t(full)
            else:
                t()
            print(f"ok {n} - {t.__name__}")
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"not ok {n} - {t.__name__}")
            for line in traceback.format_exc().splitlines():
                print(f"# {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
