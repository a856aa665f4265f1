#!/usr/bin/python3
"""The benchmark report: one Markdown file, one JSON file and PNG plots from
the JSON the bench scripts wrote (--json), as `make bench` (bench/suite.py)
leaves them in BUILD/bench/results/:

  setup.json                    the set-up (QEMU, accel, host CPU, date, commit, ...)
  boot.json ring.json console.json       our kernel (ring: the host)
  blk.json linux-blk.json       virtio-blk, ours and the Linux 6.1 guest
  net.json linux-net.json       virtio-net, ours and the Linux 6.1 guest

Writes OUT/report.md (tables; ratios ours / Linux), OUT/report.json (every
figure and the set-up) and OUT/plots/*.png (matplotlib, Agg). A section whose
results are missing or carry an error says so; a case with an error shows the
error in its row and has no figures. Figures only: nothing is judged.

Usage: bench/report.py --results DIR --out DIR
"""
import argparse
import json
import os
import sys

CASE_ORDER = ["seq read", "seq write", "rand read"]


def load(results, name):
    path = os.path.join(results, f"{name}.json")
    if not os.path.exists(path):
        return {"error": f"no results ({name}.json missing: the benchmark did not run)"}
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        return {"error": f"{name}.json unreadable: {e}"}


def size_name(n):
    return f"{n >> 20}M" if n >= 1 << 20 else f"{n >> 10}K"


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float) and digits is not None:
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def ratio(ours, linux):
    """ours / Linux as text, or "-" when either is missing."""
    if ours is None or linux is None or linux == 0:
        return "-"
    return f"{ours / linux:.2f}"


def cell_error(text):
    """An error as a table cell: one line, no pipes."""
    return "error: " + " ".join(str(text).split()).replace("|", "/")


class Md:
    def __init__(self):
        self.lines = []

    def __call__(self, text=""):
        self.lines.append(text)

    def table(self, header, rows):
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            cells = list(r) + [""] * (len(header) - len(r))
            self.lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        self.lines.append("")

    def text(self):
        return "\n".join(self.lines).rstrip() + "\n"


class Plots:
    """matplotlib with the Agg backend, imported on first use; a plot that cannot be
    made is reported in its section, never fatal."""

    def __init__(self, out_dir):
        self.dir = os.path.join(out_dir, "plots")
        os.makedirs(self.dir, exist_ok=True)
        for f in os.listdir(self.dir):
            if f.endswith(".png"):
                os.unlink(os.path.join(self.dir, f))
        self.made = []
        self.plt = None
        self.error = None
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            self.plt = plt
            from matplotlib.patches import Patch
            self.patch = Patch
        except ImportError as e:
            self.error = f"no plots: matplotlib missing ({e}; scripts/deps.sh installs " \
                         "python3-matplotlib)"

    def bars(self, name, title, ylabel, groups, series, ylog=False):
        """Grouped bars: groups (x labels), series [(label, [value or None per group])]."""
        if not self.plt or not groups or not series:
            return None
        plt = self.plt
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(groups) + 2), 4.5))
        width = 0.8 / len(series)
        handles = []
        for i, (label, values) in enumerate(series):
            xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
            ax.bar([x for x, v in zip(xs, values) if v is not None],
                   [v for v in values if v is not None], width, color=f"C{i}")
            handles.append(self.patch(color=f"C{i}", label=label if any(
                v is not None for v in values) else f"{label} (not measured)"))
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, rotation=30 if len(groups) > 6 else 0, ha="right"
                           if len(groups) > 6 else "center", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if ylog:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
        if len(series) > 1:
            ax.legend(handles=handles)
        fig.tight_layout()
        return self._save(fig, name)

    def blk(self, name, title, ylabel, panels):
        """One panel per case kind: x = size and depth, bars ours vs Linux.
        panels: [(kind, [labels], [(series label, [values])])]."""
        if not self.plt or not panels:
            return None
        plt = self.plt
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1, 4.2),
                                 squeeze=False)
        for ax, (kind, labels, series) in zip(axes[0], panels):
            width = 0.8 / max(1, len(series))
            handles = []
            for i, (label, values) in enumerate(series):
                xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(labels))]
                # A series keeps its colour, in the legend too, where it has no bar
                # at all (a case not run in QUICK mode).
                ax.bar([x for x, v in zip(xs, values) if v is not None],
                       [v for v in values if v is not None], width, color=f"C{i}")
                handles.append(self.patch(color=f"C{i}", label=label if any(
                    v is not None for v in values) else f"{label} (not measured)"))
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_title(kind)
            ax.set_ylabel(ylabel)
            ax.grid(axis="y", alpha=0.3)
            ax.legend(handles=handles, fontsize=8)
        fig.suptitle(title)
        fig.tight_layout()
        return self._save(fig, name)

    def _save(self, fig, name):
        path = os.path.join(self.dir, name)
        fig.savefig(path, dpi=90)
        self.plt.close(fig)
        self.made.append(path)
        return f"plots/{name}"


def image(md, plot, what):
    if plot:
        md(f"![{what}]({plot})")
        md()


def section(md, title, doc, figures=None):
    """The heading; False (after saying why) when doc has an error and no figures
    (figures: the key holding them, when some may have been measured anyway)."""
    md(title)
    md()
    if doc.get("error") and not (figures and doc.get(figures)):
        md(f"Not measured: {doc['error']}")
        md()
        return False
    return True


# --- set-up -----------------------------------------------------------------

def section_setup(md, setup, docs):
    md("## Set-up")
    md()
    if setup.get("error"):
        md(f"Set-up unknown: {setup['error']}")
        md()
        return
    rows = [("date", setup.get("date")), ("git commit", setup.get("git_commit")),
            ("QEMU", setup.get("qemu")), ("accel", setup.get("accel")),
            ("machines", setup.get("machines")),
            ("virtio-blk backend", setup.get("blk_backend")),
            ("host CPU", f"{setup.get('host_cpu')} ({setup.get('host_cpus')} CPUs)"),
            ("host kernel", setup.get("host_kernel")),
            ("mode", "QUICK (fewer cases, shorter runs)" if setup.get("quick") else "full"),
            ("host load average (1 min) before / after",
             f"{fmt(setup.get('load_before'), 2)} / {fmt(setup.get('load_after'), 2)}"),
            ("total time", f"{fmt(setup.get('seconds'))} s")]
    for key in ("linux-blk", "linux-net"):
        s = docs[key].get("setup", {})
        if s.get("kernel"):
            rows.append((f"Linux guest ({key})", f"{s.get('kernel')} ({s.get('package')})"))
    md.table(["item", "value"], [(k, fmt(v)) for k, v in rows])
    steps = setup.get("steps") or []
    if steps:
        md("Time per benchmark: " + ", ".join(
            f"{s['step']} {s['seconds']} s" + ("" if s.get("exit_status") == 0 else
                                                f" (exit status {s.get('exit_status')})")
            for s in steps))
        md()
    md(f"Figures under emulation ({setup.get('accel')}); a load average above the host's "
       f"{setup.get('host_cpus')} CPUs means other jobs shared it. Compare ours and Linux "
       "within one report (same set-up, one run right after the other), not across reports.")
    md()


# --- boot -------------------------------------------------------------------

def section_boot(md, plots, doc):
    if not section(md, "## Boot", doc):
        return
    s = doc.get("setup", {})
    md(f"QEMU start to exit of `test=boot`, {s.get('runs')} runs per machine "
       f"({s.get('accel')}); kernel ready = the kernel's own \"boot: ready in N us\" "
       f"(first instruction to ready). kernel.elf {fmt(s.get('kernel_bytes'))} bytes.")
    md()
    rows, names, wall, ready = [], [], [], []
    for m in doc.get("machines", []):
        if m.get("error"):
            rows.append((m["machine"], cell_error(m["error"])))
            continue
        rows.append((m["machine"], fmt(m["wall_median_ms"]), fmt(m["wall_min_ms"]),
                     fmt(m["wall_max_ms"]), fmt(m["ready_median_us"] / 1000, 1)))
        names.append(m["machine"])
        wall.append(m["wall_median_ms"])
        ready.append(m["ready_median_us"] / 1000)
    md.table(["machine", "wall median (ms)", "min (ms)", "max (ms)", "kernel ready (ms)"], rows)
    image(md, plots.bars("boot.png", "Boot time per machine (median)", "ms", names,
                         [("QEMU start to exit", wall), ("kernel ready", ready)]),
          "boot time per machine")


# --- ring -------------------------------------------------------------------

def section_ring(md, plots, doc):
    if not section(md, "## Ring (host, two threads)", doc, "tables"):
        return
    if doc.get("header"):
        md(f"`{doc['header']}`")
        md()
    if doc.get("pingpong_rt_ns") is not None:
        md(f"Cache line ping-pong (reference): {doc['pingpong_rt_ns']} ns round trip, "
           f"{doc['pingpong_oneway_ns']} ns one way.")
        md()
    if doc.get("error"):
        md(f"Error: {doc['error']}")
        md()
    for n, t in enumerate(doc.get("tables", [])):
        cols = t["columns"]
        rows = []
        labels, values = [], []
        keys = [c for c in cols if "/" not in c]
        for r in t["rows"]:
            if r.get("error") and len(r) <= 2:
                rows.append((cell_error(r["error"]),))
                continue
            rows.append(r.get("text") or [fmt(r.get(c), None) for c in cols])
            labels.append(" ".join(str(r.get(c)) if isinstance(r.get(c), str)
                                   else f"{c} {r.get(c)}" for c in keys))
            values.append(r.get("ns/buf"))
        md.table(cols, rows)
        image(md, plots.bars(f"ring{'' if n == 0 else n + 1}.png", "Ring: ns per buffer",
                             "ns/buf", labels, [("ns/buf", values)]),
              "ring ns/buffer per mode")


# --- ring inside the guest -----------------------------------------------------

def section_ringcost(md, plots, doc):
    if not section(md, "## Ring inside the guest (test=ringcost)", doc, "cases"):
        return
    s = doc.get("setup", {})
    md(f"Guest ns per buffer spent in our ring functions (median TSC per call of the add, "
       f"kick_prepare and get_buf that returned a buffer; \"burst\": add_bufs/get_bufs, each "
       f"call's time shared by its buffers; tests/guest/ringcost.c), median of "
       f"{s.get('runs')} boot(s) under {s.get('accel', 'tcg').upper()}: emulated-code time, "
       "for comparing builds on one machine. ring/ref divides by the guest's time for a "
       "fixed loop in the same boot.")
    md()
    cols = doc.get("columns", [])
    rows, labels, values = [], [], []
    for c in doc.get("cases", []):
        if c.get("error"):
            rows.append([c.get("config", "?"), "", "", "", cell_error(c["error"])] +
                        [""] * (len(cols) - 1))
            continue
        burst = " burst" if c.get("calls") == "burst" else ""
        rows.append([c["device"], c["layout"], c["qsize"], f"{c['depth']}{burst}"] +
                    [fmt(c.get(k), 3 if k == "kicks/buf" else (2 if k == "ring/ref" else 1))
                     for k in cols])
        labels.append(f"{c['device']} {c['layout']} QD{c['depth']}{burst}")
        values.append(c.get("ring"))
    md.table(["device", "layout", "queue", "depth"] + cols, rows)
    image(md, plots.bars("ringcost.png", "Ring inside the guest: ns per buffer (TCG)",
                         "ns/buf", labels, [("ring", values)]),
          "ring ns/buffer inside the guest")


# --- blk --------------------------------------------------------------------

def blk_cases(doc, transport):
    for t in doc.get("transports", []) or []:
        if t.get("transport") == transport:
            return t
    return None


def case_key(c):
    return (c["case"], c["size"], c["qd"])


def section_blk(md, plots, ours, linux, comparisons, quick=False):
    md("## virtio-blk: ours vs Linux 6.1")
    md()
    s = ours.get("setup", {})
    if s:
        md(f"Raw image {s.get('image_mib')} MiB, {s.get('backend')} backend, "
           f"num-queues={s.get('queues')}, queue-size={s.get('queue_size')}, "
           f"{s.get('ms')} ms per case (ours); Linux: fio "
           f"{linux.get('setup', {}).get('engine', '?')} direct=1, "
           f"{linux.get('setup', {}).get('ms', '?')} ms per case, scheduler "
           f"{linux.get('setup', {}).get('scheduler', '?')}. MB = 10^6 bytes. "
           "Ratio = ours / Linux (higher: ours faster).")
        md()
    if ours.get("error") and not ours.get("transports"):
        md(f"Ours not measured: {ours['error']}")
        md()
    if linux.get("error") and not linux.get("transports"):
        md(f"Linux not measured: {linux['error']}")
        md()
    lt = blk_cases(linux, "q35-pci")
    if lt and lt.get("error"):
        md(f"Linux (q35-pci): {lt['error']}")
        md()
    lcases = {case_key(c): c for c in (lt or {}).get("cases", [])}
    for t in ours.get("transports", []) or []:
        name = t["transport"]
        md(f"### {name}" + (" (Linux baseline: q35-pci)" if name == "q35-pci" else
                            " (ours only: the Linux baseline runs on q35-pci)"))
        md()
        if t.get("features"):
            md(f"Features (ours): {t['features']}; cache={t.get('cache')}")
            md()
        if t.get("error"):
            md(f"Error: {t['error']}")
            md()
        rows = []
        with_linux = name == "q35-pci"
        for c in t.get("cases", []):
            lc = lcases.get(case_key(c)) if with_linux else None
            row = [c["case"], size_name(c["size"]), c["qd"]]
            if c.get("error"):
                row += [cell_error(c["error"]), "", ""]
            else:
                row += [fmt(c["mbs"]), fmt(c["iops"], 0), fmt(c.get("irq_per_req"), 2)]
            if with_linux:
                if lc is None:
                    row += ["not run (QUICK)" if quick else "not run", "", "", "", ""]
                elif lc.get("error"):
                    row += [cell_error(lc["error"]), "", "", "", ""]
                else:
                    ok = not c.get("error")
                    row += [fmt(lc["mbs"]), fmt(lc["iops"], 0), fmt(lc.get("irq_per_req"), 2),
                            ratio(c["mbs"], lc["mbs"]) if ok else "-",
                            ratio(c["iops"], lc["iops"]) if ok else "-"]
                    if ok:
                        comparisons.append({
                            "bench": "blk", "transport": name,
                            "case": f"{c['case']} {size_name(c['size'])} QD{c['qd']}",
                            "ours_mbs": c["mbs"], "linux_mbs": lc["mbs"],
                            "ratio_mbs": round(c["mbs"] / lc["mbs"], 3) if lc["mbs"] else None,
                            "ours_iops": c["iops"], "linux_iops": lc["iops"],
                            "ratio_iops": round(c["iops"] / lc["iops"], 3)
                            if lc["iops"] else None})
            rows.append(row)
        header = ["case", "size", "QD", "ours MB/s", "ours IOPS", "ours irq/req"]
        if with_linux:
            header += ["Linux MB/s", "Linux IOPS", "Linux irq/req", "MB/s ours/Linux",
                       "IOPS ours/Linux"]
        md.table(header, rows)
        for metric, unit in (("mbs", "MB/s"), ("iops", "IOPS")):
            panels = []
            for kind in CASE_ORDER:
                cs = [c for c in t.get("cases", []) if c["case"] == kind]
                if not cs:
                    continue
                labels = [f"{size_name(c['size'])} QD{c['qd']}" for c in cs]
                series = [(f"ours ({name})", [c.get(metric) for c in cs])]
                if with_linux and lcases:
                    series.append(("Linux 6.1", [lcases.get(case_key(c), {}).get(metric)
                                                 for c in cs]))
                panels.append((kind, labels, series))
            image(md, plots.blk(f"blk_{metric}_{name}.png",
                                f"virtio-blk {unit} by size and depth, {name}", unit, panels),
                  f"virtio-blk {unit} {name}")


# --- net --------------------------------------------------------------------

NET_ROWS = [("rx", "TCP host -> guest (Gbit/s)"), ("tx", "TCP guest -> host (Gbit/s)")]
PING_ROWS = [("min_ms", "ping RTT min (ms)"), ("avg_ms", "ping RTT avg (ms)"),
             ("max_ms", "ping RTT max (ms)")]


def net_cell(r, key, scale=1.0, digits=2):
    if r is None:
        return "not run", None
    if r.get("error"):
        return cell_error(r["error"]), None
    v = r.get(key)
    return (fmt(v * scale, digits), v * scale) if v is not None else ("-", None)


def section_net(md, plots, ours, linux, comparisons):
    md("## virtio-net: ours vs Linux 6.1")
    md()
    s = ours.get("setup", {}) or linux.get("setup", {})
    if s:
        md(f"Tap in a network namespace, no vhost, iperf 2 TCP for {s.get('secs')} s per "
           f"direction (sender's figure), {s.get('pings')} pings 10 ms apart (host -> guest). "
           "Throughput ratio = ours / Linux (higher: ours faster); RTT ratio = ours / Linux "
           "(lower: ours faster).")
        md()
    for who, doc in (("Ours", ours), ("Linux", linux)):
        if doc.get("error"):
            md(f"{who} not measured: {doc['error']}")
            md()
    ot = {t["transport"]: t for t in ours.get("transports", []) or []}
    lt = {t["transport"]: t for t in linux.get("transports", []) or []}
    names = list(ot) or ["q35-pci"]
    header = ["measure"] + [f"ours {n}" for n in names] + ["Linux q35-pci", "ours/Linux (q35-pci)"]
    rows, plot_tput, plot_rtt = [], {}, {}
    for key, label in NET_ROWS + PING_ROWS:
        row = [label]
        base = "ping" if key.endswith("_ms") else key
        field = key if key.endswith("_ms") else "bps"
        scale = 1.0 if key.endswith("_ms") else 1e-9
        digits = 3 if key.endswith("_ms") else 2
        ovals = {}
        for n in names:
            text, v = net_cell(ot.get(n, {}).get(base) if n in ot else None, field, scale,
                               digits)
            row.append(text)
            ovals[n] = v
        ltext, lv = net_cell(lt.get("q35-pci", {}).get(base) if "q35-pci" in lt else None,
                             field, scale, digits)
        row.append(ltext)
        ov = ovals.get("q35-pci")
        row.append(ratio(ov, lv))
        if ov is not None and lv is not None:
            comparisons.append({"bench": "net", "transport": "q35-pci", "case": label,
                                "ours": ov, "linux": lv,
                                "ratio": round(ov / lv, 3) if lv else None})
        rows.append(row)
        target = plot_rtt if key.endswith("_ms") else plot_tput
        target[label.split(" (")[0]] = (ovals, lv)
    md.table(header, rows)
    for n in names:
        if ot.get(n, {}).get("features"):
            md(f"Features, ours ({n}): {ot[n]['features']}")
            md()
    if lt.get("q35-pci", {}).get("features"):
        md(f"Features, Linux (q35-pci): {lt['q35-pci']['features']}")
        md()
    for fname, title, unit, data in (("net_throughput.png", "virtio-net TCP throughput",
                                      "Gbit/s", plot_tput),
                                     ("net_rtt.png", "ping RTT (host -> guest)", "ms", plot_rtt)):
        groups = list(data)
        series = [(f"ours {n}", [data[g][0].get(n) for g in groups]) for n in names]
        series.append(("Linux 6.1 q35-pci", [data[g][1] for g in groups]))
        if any(v is not None for _, vs in series for v in vs):
            image(md, plots.bars(fname, title, unit, groups, series), title)
        else:
            md(f"No {title} plot: no figures.")
            md()


# --- console ----------------------------------------------------------------

def section_console(md, plots, doc):
    if not section(md, "## virtio console (ours; no Linux baseline)", doc):
        return
    s = doc.get("setup", {})
    md(f"{s.get('mib')} MiB per run, median of {s.get('runs')} runs; guest = TSC first to "
       "last byte; host = first to last byte at the socket (port 0 output: QEMU start to "
       "exit, an upper bound). MB = 10^6 bytes.")
    md()
    rows, labels, g, h = [], [], [], []
    for r in doc.get("streams", []):
        if r.get("error"):
            rows.append((r["stream"], r["layout"], cell_error(r["error"]), ""))
            continue
        rows.append((r["stream"], r["layout"], fmt(r["guest_mbs"]), fmt(r["host_mbs"])))
        labels.append(f"{r['stream']} {r['layout']}")
        g.append(r["guest_mbs"])
        h.append(r["host_mbs"])
    md.table(["stream", "layout", "guest MB/s", "host MB/s"], rows)
    image(md, plots.bars("console.png", "virtio console throughput", "MB/s", labels,
                         [("guest", g), ("host", h)]), "console throughput")


def build(results, out_dir):
    docs = {n: load(results, n) for n in ("setup", "boot", "ring", "ringcost", "blk", "linux-blk",
                                           "console", "net", "linux-net")}
    plots = Plots(out_dir)
    md = Md()
    comparisons = []
    md("# Benchmark report: our kernel vs a Linux 6.1 guest")
    md()
    if plots.error:
        md(plots.error)
        md()
    section_setup(md, docs["setup"], docs)
    section_boot(md, plots, docs["boot"])
    section_ring(md, plots, docs["ring"])
    section_ringcost(md, plots, docs["ringcost"])
    section_blk(md, plots, docs["blk"], docs["linux-blk"], comparisons,
                docs["setup"].get("quick", False))
    section_net(md, plots, docs["net"], docs["linux-net"], comparisons)
    section_console(md, plots, docs["console"])
    md("## Plots")
    md()
    for p in plots.made:
        md(f"- plots/{os.path.basename(p)}")
    md()
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(md.text())
    report = {"setup": docs.pop("setup"), "results": docs, "comparisons": comparisons,
              "plots": [os.path.relpath(p, out_dir) for p in plots.made]}
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
        f.write("\n")
    return md.text(), plots.made


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", required=True, help="directory of the benches' JSON")
    ap.add_argument("--out", required=True, help="where report.md, report.json, plots/ go")
    a = ap.parse_args()
    _, made = build(a.results, a.out)
    print(f"bench report: {os.path.join(a.out, 'report.md')}, report.json, "
          f"{len(made)} plots in {os.path.join(a.out, 'plots')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
