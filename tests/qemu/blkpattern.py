"""The block test pattern of include/block/blk_pattern.h, on the host.

Sector s of seed k holds 64 little-endian 64-bit words:
    key  = mix(k ^ mix(s)),  word i = mix(key + i)
with mix() the splitmix64 finaliser of z + 0x9e3779b97f4a7c15, all modulo 2^64.
The guest computes the same bytes in C; test_blk.py writes images with it
and checks what the guest wrote.
"""
import os
import struct

MASK = (1 << 64) - 1
SECTOR = 512
_WORDS = struct.Struct("<64Q")


def mix(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def sector(seed, s):
    """The 512 bytes of sector s."""
    key = mix((seed ^ mix(s)) & MASK)
    return _WORDS.pack(*[mix((key + i) & MASK) for i in range(64)])


def sectors(seed, first, n):
    return b"".join(sector(seed, s) for s in range(first, first + n))


def make_image(path, seed, size):
    """A raw image of size bytes (a multiple of 512) holding the pattern of seed."""
    with open(path, "wb") as f:
        chunk = 2048
        for s in range(0, size // SECTOR, chunk):
            f.write(sectors(seed, s, min(chunk, size // SECTOR - s)))


def check_image(path, expect):
    """expect(s) -> the bytes sector s must hold (None: anything). Returns a list of
    (sector, problem) for the first few differences, [] when the image matches."""
    bad = []
    with open(path, "rb") as f:
        data = f.read()
    for s in range(len(data) // SECTOR):
        want = expect(s)
        if want is None:
            continue
        got = data[s * SECTOR:(s + 1) * SECTOR]
        if got != want:
            off = next(i for i in range(SECTOR) if got[i] != want[i])
            bad.append((s, f"byte {off}: 0x{got[off]:02x}, expected 0x{want[off]:02x}"))
            if len(bad) >= 8:
                break
    return bad


ZERO = bytes(SECTOR)

if __name__ == "__main__":
    # Reference values, also checked by the C host test (tests/host/test_blk.c).
    print(hex(mix(0)), hex(mix(1)))
    print(sector(42, 7)[:16].hex(), sector(1, 0)[504:].hex())
    print(os.path.basename(__file__), "ok")
