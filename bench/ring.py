#!/usr/bin/python3
"""Ring benchmark runner: runs build/bench/ringbench (bench/ring/ringbench.c)
with the arguments given after --, prints its output as it comes, and with
--json FILE writes its tables as JSON for bench/report.py.

ringbench's tables are read by their column headers (a header is a line
holding an "ns/buf" column; its rows follow up to a blank line), so columns
it gains later (size, order, xP, ...) come through under their own names.
A row that does not fit its header is kept with its text as the error.
The reference line "cache line ping-pong (reference): X ns round trip, Y ns
one way" gives pingpong_rt_ns and pingpong_oneway_ns.

Usage: bench/ring.py [--build build] [--json FILE] [-- ringbench arguments]
"""
import argparse
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import common  # noqa: E402


def number(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse(text):
    """ringbench's output: {"header": first line, "pingpong_*": ns, "tables": [{"columns":
    [...], "rows": [{column: value, "text": [cells as printed], "error": None or text}]}]}."""
    out = {"header": None, "pingpong_rt_ns": None, "pingpong_oneway_ns": None, "tables": []}
    table = None
    for line in text.splitlines():
        words = line.split()
        if out["header"] is None and line.startswith("ring benchmark:"):
            out["header"] = line.strip()
        m = re.search(r"ping-pong \(reference\): ([\d.]+) ns round trip, ([\d.]+) ns one way",
                      line)
        if m:
            out["pingpong_rt_ns"] = float(m.group(1))
            out["pingpong_oneway_ns"] = float(m.group(2))
            continue
        if "ns/buf" in words:
            table = {"columns": words, "rows": []}
            out["tables"].append(table)
            continue
        if not words:
            table = None
            continue
        if table is None:
            continue
        if len(words) == len(table["columns"]) and \
                not isinstance(number(words[table["columns"].index("ns/buf")]), str):
            row = {c: number(w) for c, w in zip(table["columns"], words)}
            row["error"] = None
            row["text"] = words  # as printed, for the report's table
        else:
            row = {"error": line.strip()}
        table["rows"].append(row)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    common.add_json_arg(ap)
    ap.add_argument("args", nargs="*", help="ringbench arguments (after --)")
    a = ap.parse_args()
    binary = os.path.join(a.build, "bench", "ringbench")
    # ringbench prints each row as it is done: that is the progress; the heartbeat
    # (rows so far) fills the gaps of slow rows.
    progress = common.Progress("bench-ring", None)
    progress.what = "cache line ping-pong reference"

    def on_line(line):
        print(line, flush=True)
        if "ns/buf" in line.split():
            progress.what = "the first row"
        elif progress.what != "cache line ping-pong reference" and line.strip():
            progress.n += 1
            progress.what = f"{progress.n} rows done"
        progress.touch()
    with progress:
        # Line-buffered: ringbench's stdout is a pipe here (coreutils' stdbuf).
        p = common.run_streaming(["stdbuf", "-oL", binary] + a.args, 1800, on_line)
    rc, out = p.returncode, p.stdout
    doc = {"bench": "ring", "guest": "host", "setup": {"args": a.args}, "error": None}
    doc.update(parse(out))
    if rc != 0:
        status = "killed after 1800 s" if rc is None else f"exit status {rc}"
        doc["error"] = f"ringbench: {status}: {common.tail(out)}"
        print(f"bench-ring: {doc['error']}")
    elif not any(t["rows"] for t in doc["tables"]):
        doc["error"] = f"ringbench printed no table: {common.tail(out)}"
    common.write_json(a.json, doc)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
