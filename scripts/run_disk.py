#!/usr/bin/python3
"""The disk `make run` attaches: a raw image with a note in sector 0.

Made on the first `make run` (build/run-disk.img, 64 MiB, sparse) and kept
afterwards, so what the guest writes stays. Sector 0 holds README_SECTOR,
text the shell's `blk read 0` shows; the rest is zeros until written.
An image whose sector 0 is all zeros (an empty image of an older
`make run`) gets the note; any other existing image is left alone.

    python3 scripts/run_disk.py [PATH]      make PATH (default build/run-disk.img)
"""
import os
import sys

SECTOR = 512
SIZE = 64 << 20

README_TEXT = (
    "virtio unikernel: the disk of make run (build/run-disk.img,\n"
    "64 MiB), made by scripts/run_disk.py and kept across runs.\n"
    "You are reading its sector 0 through virtio-blk. In the shell:\n"
    "  blk read 0             this sector\n"
    "  blk write 2048 64 7    the test pattern of seed 7 onto\n"
    "                         sectors 2048-2111\n"
    "  blk verify 2048 64 7   read them back and check them\n"
    "What is written stays: delete the image for a fresh one.\n"
)


def readme_sector():
    """Sector 0: the note, padded with zeros to 512 bytes."""
    data = README_TEXT.encode("ascii")
    assert len(data) <= SECTOR, len(data)
    return data + bytes(SECTOR - len(data))


def make(path, size=SIZE):
    """Make the image at path unless it exists (see the module's note); returns path."""
    if os.path.exists(path):
        with open(path, "r+b") as f:
            if f.read(SECTOR) == bytes(SECTOR):
                f.seek(0)
                f.write(readme_sector())
        return path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(readme_sector())
        f.truncate(size)
    os.rename(tmp, path)
    return path


if __name__ == "__main__":
    print(make(sys.argv[1] if len(sys.argv) > 1 else "build/run-disk.img"))
