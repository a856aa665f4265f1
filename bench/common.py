"""What the bench scripts share: progress on the terminal, a QEMU run read as
it goes, and the machine-readable output (--json FILE) bench/report.py
collects.

Progress goes to stderr ("bench-blk: [3/14] seq read 64K QD1, 12 s"), so the
tables on stdout stay as they were; a heartbeat line comes every few seconds
while nothing else is printed, so no benchmark sits silent.
"""
import json
import os
import subprocess
import sys
import threading
import time

HEARTBEAT = 4.0  # seconds without a progress line before a heartbeat


class Progress:
    """Case n of N and the elapsed time, on stderr."""

    def __init__(self, name, total):
        self.name = name
        self.total = total
        self.n = 0
        self.t0 = time.monotonic()
        self.last = self.t0
        self.what = ""
        self.lock = threading.Lock()

    def elapsed(self):
        return time.monotonic() - self.t0

    def step(self, what):
        """Case what starts (or is done, as the caller words it): n of N."""
        with self.lock:
            self.n += 1
            self.what = what
            self.last = time.monotonic()
            print(f"{self.name}: [{self.n}/{self.total or '?'}] {what}, "
                  f"{self.elapsed():.0f} s elapsed", file=sys.stderr, flush=True)

    def note(self, what):
        """Something between cases (booting, ...): what the heartbeat says until the next."""
        with self.lock:
            self.last = time.monotonic()
            self.what = what
            print(f"{self.name}: {what}, {self.elapsed():.0f} s elapsed", file=sys.stderr,
                  flush=True)

    def touch(self):
        """Output the caller printed itself counts as progress."""
        with self.lock:
            self.last = time.monotonic()

    def beat(self):
        with self.lock:
            if time.monotonic() - self.last >= HEARTBEAT:
                self.last = time.monotonic()
                doing = f" ({self.what})" if self.what else ""
                case = f", case {max(self.n, 1)} of {self.total}" if self.total else ""
                print(f"{self.name}: ... still running{doing}{case}, "
                      f"{self.elapsed():.0f} s elapsed", file=sys.stderr, flush=True)

    def __enter__(self):
        """A heartbeat thread while the with-block runs."""
        self._stop = threading.Event()

        def loop():
            while not self._stop.wait(1.0):
                self.beat()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class Run:
    """What a run left: exit status (None: killed on timeout) and its output
    (stdout and stderr together; stderr is empty)."""

    def __init__(self, returncode, stdout):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = ""


def run_streaming(argv, timeout, on_line=None, **kw):
    """Run argv, stdout and stderr together, calling on_line(line) as each
    line arrives. Returns a Run; the process is killed after timeout seconds
    (status None then)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, text=True, errors="replace", **kw)
    out = []

    def read():
        for line in p.stdout:
            out.append(line)
            if on_line:
                on_line(line.rstrip("\r\n"))
    t = threading.Thread(target=read, daemon=True)
    t.start()
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = None
    t.join(10)
    return Run(rc, "".join(out))


def add_json_arg(ap):
    ap.add_argument("--json", metavar="FILE", default=None,
                    help="also write every figure (and each case's error) to FILE as JSON")


def write_json(path, doc):
    """doc: {"bench": name, "guest": "ours"|"linux", "setup": {...},
    "cases": [{..., "error": None or text}], "error": None or text}."""
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def tail(text, n=300):
    """The last n characters of text on one line: an error message for a row."""
    return " ".join(text.strip().split())[-n:]
