#!/usr/bin/python3
"""Linux baseline guest: Debian's Linux 6.1 kernel and a small initramfs.

The Linux side of the comparisons the issues ask for ("a Linux 6.1 guest in
the same QEMU configuration"), used by bench/linux_blk.py and
bench/linux_net.py. Everything comes from Debian's archive:

  build/deps/linux/           (cached; shared by the work trees)
    linux-image-*.deb         Debian's kernel package, as downloaded
    kernel.json               which package, version, kernel release, modules
    vmlinuz, config           from the package's /boot
    modules/...               the virtio modules and what they depend on
  build/linux/                (rebuilt when an input changes)
    vmlinuz                   copy of the cached one
    initramfs.cpio.gz         busybox-static, the modules, fio and iperf 2
                              with their shared libraries, /init
                              (scripts/linux_init.sh)

Host packages (fio, iperf, busybox-static, ...) are installed with apt-get
when missing; the tools go into the initramfs with the libraries ldd names.
The kernel package is the one linux-image-amd64 depends on at the first run
(--update fetches the newest again); it must be 6.1.

Usage: scripts/linux_guest.py [--build build] [--update]
"""
import argparse
import fcntl
import glob
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# Host packages: the tools copied into the guest, and what the benchmarks
# run on the host side.
HOST_PKGS = ["fio", "iperf", "busybox-static", "iproute2", "iputils-ping", "qemu-system-x86",
             "dpkg", "apt"]
# Modules the guest loads (with their dependencies, in order).
MODULES = ["virtio_pci", "virtio_blk", "virtio_net"]
# Binaries copied with their libraries.
TOOLS = ["/usr/bin/fio", "/usr/bin/iperf"]
META_PKG = "linux-image-amd64"
WANT_SERIES = "6.1"


def log(msg):
    print(f"linux-guest: {msg}", file=sys.stderr, flush=True)


def die(msg):
    print(f"linux-guest: error: {msg}", file=sys.stderr)
    sys.exit(1)


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw).stdout


# --- host packages -----------------------------------------------------------

def missing_pkgs(pkgs):
    miss = []
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                           text=True, check=False)
        if r.stdout.strip() != "install ok installed":
            miss.append(p)
    return miss


def install_pkgs(pkgs, logfile):
    miss = missing_pkgs(pkgs)
    if not miss:
        return
    line = "apt-get install -y --no-install-recommends " + " ".join(miss)
    if os.geteuid() != 0:
        die(f"missing Debian packages; as root run: {line}")
    log(f"installing: {' '.join(miss)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(logfile, "a") as f:
        cmd = ["apt-get", "install", "-y", "--no-install-recommends"] + miss
        if subprocess.run(cmd, stdout=f, stderr=f, env=env, check=False).returncode:
            log("install failed, running apt-get update first")
            subprocess.run(["apt-get", "update"], stdout=f, stderr=f, env=env, check=False)
            if subprocess.run(cmd, stdout=f, stderr=f, env=env, check=False).returncode:
                die(f"apt-get failed (log: {logfile})")
    miss = missing_pkgs(pkgs)
    if miss:
        die(f"still missing after install: {' '.join(miss)}")


# --- kernel modules ----------------------------------------------------------

def modinfo(path):
    """The key=value strings of a module's .modinfo section (ELF64)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise ValueError(f"{path}: not an ELF64 file (compressed module?)")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def sh(i):
        name, _typ, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", data,
                                                                  shoff + i * shentsize)
        return name, off, size
    _, stroff, _ = sh(shstrndx)
    for i in range(shnum):
        name, off, size = sh(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".modinfo":
            out = {}
            for kv in data[off:off + size].split(b"\0"):
                if b"=" in kv:
                    k, v = kv.decode(errors="replace").split("=", 1)
                    out.setdefault(k, v)
            return out
    return {}


def module_closure(moddir, wanted):
    """[(name, relative path)] of wanted and their dependencies, dependencies first."""
    index = {}
    for path in glob.glob(os.path.join(moddir, "kernel", "**", "*.ko"), recursive=True):
        index[os.path.basename(path)[:-3].replace("-", "_")] = path
    order, seen = [], set()

    def visit(name, chain):
        name = name.replace("-", "_")
        if name in seen:
            return
        if name in chain:
            die(f"module dependency loop: {' -> '.join(chain + [name])}")
        if name not in index:
            die(f"module {name} is not in the kernel package (built in?)")
        deps = modinfo(index[name]).get("depends", "")
        for d in filter(None, deps.split(",")):
            visit(d, chain + [name])
        seen.add(name)
        order.append((name, os.path.relpath(index[name], moddir)))
    for w in wanted:
        visit(w, [])
    return order


# --- the kernel package ------------------------------------------------------

def resolve_kernel_pkg():
    """(package, version) of the kernel image linux-image-amd64 points at, unsigned."""
    out = run(["apt-cache", "depends", META_PKG])
    m = re.search(r"Depends: (linux-image-[0-9][^\s]*-amd64)\b", out)
    if not m:
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
        out = run(["apt-cache", "depends", META_PKG])
        m = re.search(r"Depends: (linux-image-[0-9][^\s]*-amd64)\b", out)
    if not m:
        die(f"apt-cache depends {META_PKG} names no kernel image")
    pkg = m.group(1)
    for cand in (pkg + "-unsigned", pkg):
        pol = run(["apt-cache", "policy", cand])
        v = re.search(r"Candidate: (\S+)", pol)
        if v and v.group(1) != "(none)":
            return cand, v.group(1)
    die(f"no candidate for {pkg}")


def fetch_kernel(kdir, update):
    """Make kdir hold vmlinuz, config and the modules; return kernel.json's dict."""
    meta_path = os.path.join(kdir, "kernel.json")
    meta = None
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        ok = (meta.get("wanted") == MODULES and
              os.path.exists(os.path.join(kdir, "vmlinuz")) and
              all(os.path.exists(os.path.join(kdir, "modules", p)) for _, p in meta["modules"]))
        if ok and not update:
            return meta
    debs = sorted(glob.glob(os.path.join(kdir, "linux-image-*.deb")))
    if update or not debs:
        pkg, ver = resolve_kernel_pkg()
        deb = None
        for d in debs:
            if os.path.basename(d).startswith(pkg + "_"):
                deb = d
        if deb is None or update:
            log(f"downloading {pkg} {ver} (about 70 MB)")
            with tempfile.TemporaryDirectory(dir=kdir) as tmp:
                r = subprocess.run(["apt-get", "download", f"{pkg}={ver}"], cwd=tmp,
                                   capture_output=True, text=True, check=False)
                got = glob.glob(os.path.join(tmp, "*.deb"))
                if r.returncode or not got:
                    die(f"apt-get download {pkg}={ver} failed:\n{r.stderr}")
                for d in debs:
                    os.unlink(d)
                deb = os.path.join(kdir, os.path.basename(got[0]))
                shutil.move(got[0], deb)
    else:
        deb = debs[-1]
    pkg = run(["dpkg-deb", "-f", deb, "Package"]).strip()
    ver = run(["dpkg-deb", "-f", deb, "Version"]).strip()
    log(f"unpacking {os.path.basename(deb)}")
    with tempfile.TemporaryDirectory(dir=kdir) as tmp:
        run(["dpkg-deb", "-x", deb, tmp])
        vmlinuz = glob.glob(os.path.join(tmp, "boot", "vmlinuz-*"))
        if len(vmlinuz) != 1:
            die(f"{deb} has no single /boot/vmlinuz-*")
        release = os.path.basename(vmlinuz[0])[len("vmlinuz-"):]
        if not release.startswith(WANT_SERIES + "."):
            die(f"{deb} is Linux {release}, not {WANT_SERIES}")
        moddir = os.path.join(tmp, "lib", "modules", release)
        if not os.path.isdir(moddir):
            moddir = os.path.join(tmp, "usr", "lib", "modules", release)
        mods = module_closure(moddir, MODULES)
        shutil.rmtree(os.path.join(kdir, "modules"), ignore_errors=True)
        for _, rel in mods:
            dst = os.path.join(kdir, "modules", rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(moddir, rel), dst)
        shutil.copyfile(vmlinuz[0], os.path.join(kdir, "vmlinuz"))
        shutil.copyfile(os.path.join(tmp, "boot", f"config-{release}"),
                        os.path.join(kdir, "config"))
    meta = {"package": pkg, "version": ver, "release": release, "wanted": MODULES,
            "modules": mods, "deb": os.path.basename(deb)}
    with open(meta_path + ".tmp", "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(meta_path + ".tmp", meta_path)
    log(f"kernel {release} ({pkg} {ver}), modules: {' '.join(n for n, _ in mods)}")
    return meta


# --- the initramfs -----------------------------------------------------------

class Cpio:
    """A newc cpio archive in memory: root-owned, mtime 0, reproducible."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1
        self.names = set()

    def _entry(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        name = name.lstrip("/")
        if name in self.names:
            return
        self.names.add(name)
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(nb), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + nb)
        self.buf.write(b"\0" * (-(110 + len(nb)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def dir(self, name):
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            self._entry("/".join(parts[:i]), 0o040755, nlink=2)

    def file(self, name, data, mode=0o644):
        parent = os.path.dirname(name.strip("/"))
        if parent:
            self.dir(parent)
        self._entry(name, 0o100000 | mode, data)

    def symlink(self, name, target):
        self._entry(name, 0o120777, target.encode())

    def chardev(self, name, major, minor):
        self._entry(name, 0o020600, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0, nlink=1)
        self.names.discard("TRAILER!!!")
        return self.buf.getvalue()


def libraries(binary):
    """Absolute paths ldd resolves for binary (the loader included)."""
    out = run(["ldd", binary])
    libs = []
    for line in out.splitlines():
        line = line.strip()
        if "not found" in line:
            die(f"{binary}: {line}")
        m = re.match(r"\S+ => (/\S+)", line) or re.match(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def guest_files(meta, kdir):
    """[(path in the initramfs, host file, mode)]: everything but /init and links."""
    files = [("/bin/busybox", "/bin/busybox", 0o755)]
    for tool in TOOLS:
        files.append((tool, tool, 0o755))
        for lib in libraries(tool):
            # The loader finds a library by its name in its directory; /lib is
            # a link to usr/lib in the initramfs as on Debian 12.
            real_dir = os.path.realpath(os.path.dirname(lib))
            files.append((os.path.join(real_dir, os.path.basename(lib)), lib, 0o755))
    for name, rel in meta["modules"]:
        files.append((f"/lib/modules/{name}.ko", os.path.join(kdir, "modules", rel), 0o644))
    seen, out = set(), []
    for dst, src, mode in files:
        if dst.startswith(("/lib/", "/lib64/", "/bin/", "/sbin/")):
            dst = "/usr" + dst
        if dst not in seen:
            seen.add(dst)
            out.append((dst, src, mode))
    return out


def build_initramfs(meta, kdir, out_dir):
    init = os.path.join(ROOT, "scripts", "linux_init.sh")
    files = guest_files(meta, kdir)
    h = hashlib.sha256()
    h.update(json.dumps(meta, sort_keys=True).encode())
    for path in [init, __file__] + [src for _, src, _ in files]:
        st = os.stat(path)
        h.update(f"{path} {st.st_size} {st.st_mtime_ns}\n".encode())
    stamp = h.hexdigest()
    img = os.path.join(out_dir, "initramfs.cpio.gz")
    stamp_path = os.path.join(out_dir, "initramfs.stamp")
    vmlinuz = os.path.join(out_dir, "vmlinuz")
    try:
        with open(stamp_path) as f:
            if f.read() == stamp and os.path.exists(img) and os.path.exists(vmlinuz):
                return img
    except FileNotFoundError:
        pass
    log(f"building {os.path.relpath(img, ROOT)}")
    c = Cpio()
    # Merged /usr, as on Debian 12.
    for d in ("usr/bin", "usr/sbin", "usr/lib/modules", "usr/lib64", "dev", "proc", "sys",
              "tmp", "run", "etc", "root"):
        c.dir(d)
    for d in ("bin", "sbin", "lib", "lib64"):
        c.symlink(d, "usr/" + d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3)
    c.chardev("dev/ttyS0", 4, 64)
    with open(init, "rb") as f:
        c.file("init", f.read(), 0o755)
    for dst, src, mode in files:
        with open(src, "rb") as f:
            c.file(dst, f.read(), mode)
    c.file("usr/lib/modules/load-order", "".join(n + "\n" for n, _ in meta["modules"]).encode())
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    c.file("etc/group", b"root:x:0:\n")
    c.file("etc/linux-baseline.json", json.dumps(meta, indent=1).encode())
    data = c.finish()
    with gzip.GzipFile(img + ".tmp", "wb", compresslevel=6, mtime=0) as f:
        f.write(data)
    os.replace(img + ".tmp", img)
    shutil.copyfile(os.path.join(kdir, "vmlinuz"), vmlinuz)
    with open(stamp_path, "w") as f:
        f.write(stamp)
    log(f"initramfs: {len(data) >> 20} MiB, {os.path.getsize(img) >> 20} MiB gzipped, "
        f"{len(files)} files")
    return img


def prepare(build=os.path.join(ROOT, "build"), update=False):
    """Fetch and build what is missing; return a dict with the paths and versions."""
    deps = os.path.join(build, "deps")
    kdir = os.path.join(deps, "linux")
    out_dir = os.path.join(build, "linux")
    os.makedirs(kdir, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    # One at a time: the cache is shared by the work trees.
    with open(os.path.join(kdir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        install_pkgs(HOST_PKGS, os.path.join(kdir, "apt.log"))
        meta = fetch_kernel(kdir, update)
    with open(os.path.join(out_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        initrd = build_initramfs(meta, kdir, out_dir)
    return dict(meta, kernel=os.path.join(out_dir, "vmlinuz"), initrd=initrd)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--update", action="store_true",
                    help="fetch the newest Debian 6.1 kernel package again")
    a = ap.parse_args()
    g = prepare(os.path.abspath(a.build), a.update)
    print(f"kernel  {g['kernel']}  (Linux {g['release']}, {g['package']} {g['version']})")
    print(f"initrd  {g['initrd']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
