#!/usr/bin/python3
"""Build the FAT image of an EFI system partition with mtools (no mounts, no root).

The UEFI boot path's layout:
  EFI/BOOT/BOOTX64.EFI   the loader (boot/efi/), the firmware's default boot file
  EFI/BOOT/KERNEL.ELF    the kernel it loads
  EFI/BOOT/CMDLINE       the kernel command line, when one is given
plus any extra files. Used by `make efi` and the tests (tests/qemu/test_efi.py).
The image is a whole-disk FAT file system without a partition table, which
OVMF reads as it is; it is written to a temporary file and renamed.
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile

MiB = 1024 * 1024


def make_esp(img, files, min_mib=4):
    """Write the FAT image img holding files: {"EFI/BOOT/NAME": host path or bytes}."""
    blobs = {}
    for dest, src in files.items():
        if isinstance(src, (bytes, bytearray)):
            blobs[dest] = bytes(src)
        else:
            with open(src, "rb") as f:
                blobs[dest] = f.read()
    total = sum(len(b) for b in blobs.values())
    size_mib = max(min_mib, math.ceil(total * 1.25 / MiB) + 1)
    tmp = img + ".tmp"
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")

    def mtools(*argv):
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)

    if os.path.exists(tmp):
        os.remove(tmp)
    # -C creates the image; 64 heads x 32 sectors of 512 bytes: 1 MiB per cylinder.
    mtools("mformat", "-i", tmp, "-C", "-T", str(size_mib * 2048), "-h", "64", "-s", "32",
           "-v", "VUKESP", "::")
    dirs = sorted({os.path.dirname(d) for d in blobs if os.path.dirname(d)})
    made = set()
    for d in dirs:
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in made:
                mtools("mmd", "-i", tmp, "::/" + sub)
                made.add(sub)
    with tempfile.TemporaryDirectory() as td:
        for dest, data in blobs.items():
            src = os.path.join(td, "f")
            with open(src, "wb") as f:
                f.write(data)
            mtools("mcopy", "-o", "-i", tmp, src, "::/" + dest)
    os.replace(tmp, img)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("img", help="the image to write")
    p.add_argument("--loader", required=True, help="BOOTX64.EFI")
    p.add_argument("--kernel", required=True, help="the kernel ELF file")
    p.add_argument("--cmdline-file", help="a file holding the kernel command line")
    p.add_argument("--file", action="append", default=[], metavar="DEST=SRC",
                   help="an extra file, e.g. startup.nsh=path")
    a = p.parse_args()
    files = {"EFI/BOOT/BOOTX64.EFI": a.loader, "EFI/BOOT/KERNEL.ELF": a.kernel}
    if a.cmdline_file:
        files["EFI/BOOT/CMDLINE"] = a.cmdline_file
    for spec in a.file:
        dest, _, src = spec.partition("=")
        if not src:
            sys.exit(f"esp.py: --file wants DEST=SRC, got {spec!r}")
        files[dest] = src
    make_esp(a.img, files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
