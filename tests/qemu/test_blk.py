"""virtio-blk against QEMU, with the host as the peer: each test writes a raw
image holding the pattern of tests/qemu/blkpattern.py (the same bytes as the
guest's include/block/blk_pattern.h), boots an in-guest test
(tests/guest/blk.c) on it, and checks the image byte for byte after QEMU
exits. Images live in a temporary directory under build/.
"""
import os
import shutil
import tempfile
import zlib

import pytest

import blkpattern as bp
import transport as tp
from vm import BUILD, PASS

MiB = 1 << 20


@pytest.fixture
def imgdir(request):
    base = os.path.join(BUILD, "test-blk")
    os.makedirs(base, exist_ok=True)
    d = tempfile.mkdtemp(prefix=request.node.name[:40].replace("/", "_") + "-", dir=base)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def seed_of(name):
    """A seed per test: different images in different tests, the same on every run."""
    return zlib.crc32(name.encode()) or 1


def disk(path, dev="", drive="", id="d0", cache="writeback", t=tp.PCI):
    return (["-drive", f"if=none,id={id},file={path},format=raw,cache={cache}{drive}"] +
            t.device("blk", f",drive={id}{dev}"))


def expect_image(run, path, expect):
    bad = bp.check_image(path, expect)
    if bad:
        run.fail("image differs from what the guest should have written: " +
                 "; ".join(f"sector {s}: {why}" for s, why in bad))


# The matrix: (name, device options, command line, lines the log must show).
MATRIX = [
    ("split", "", "", [r"^blk: vda: virtio-blk 00:01\.0, 8192 sectors \(4 MiB\), 512-byte "
                       r"blocks, 1 queue of 256, interrupts MSI-X"]),
    ("packed", ",packed=on", "", [r"queue 0: 256 entries packed"]),
    ("indirect-off", ",indirect_desc=off", "", [r"queue 0: 256 entries split.* indirect 0$"]),
    # (every row: the ring features negotiated, check_ring_features below)
    ("event-idx-off", ",event_idx=off", "", [r"queue 0: 256 entries split"]),
    ("packed-event-idx-off", ",packed=on,event_idx=off,indirect_desc=off", "",
     [r"queue 0: 256 entries packed.* indirect 0$"]),
    ("no-msix", ",vectors=0", "", [r"interrupts INTx"]),
    ("msix-shared", ",num-queues=4,vectors=2", "", [r"interrupts MSI-X shared"]),
    ("mq4", ",num-queues=4", "",
     [r"4 queues of 256"] + [rf"queue {i}: .* [1-9]\d* requests" for i in range(4)]),
    ("mq4-use-2", ",num-queues=4", "blk.queues=2",
     [r"2 queues of 256", r"queue 1: .* [1-9]\d* requests"]),
    ("mq4-packed-q16", ",num-queues=4,packed=on,queue-size=16", "",
     [r"4 queues of 16, interrupts MSI-X"] +
     [rf"queue {i}: 16 entries packed.* [1-9]\d* waited" for i in range(4)]),
    ("q16", ",queue-size=16", "", [r"max 14 segments", r"queue 0: 16 entries"]),
    ("q16-seg-max-adjust-off", ",queue-size=16,seg-max-adjust=off", "",
     [r"max 14 segments"]),
    ("q16-no-indirect", ",queue-size=16,indirect_desc=off", "", [r"max 14 segments"]),
    ("seg-max-3", "", "blk.seg_max=3 blk.size_max=4096",
     [r"max 3 segments of 4096 bytes", r"limits per device request: 3 segments of 4096 bytes"]),
    ("blocks-4k", ",logical_block_size=4096,physical_block_size=4096", "",
     [r"4096-byte blocks"]),
    ("legacy", ",disable-modern=on", "", [r"legacy interface"]),
    ("legacy-no-msix", ",disable-modern=on,vectors=0", "",
     [r"legacy interface, 1 queues, interrupts INTx"]),
]
# The same on microvm's virtio-mmio (tests/qemu/transport.py): version 2 and 1,
# split and packed, found in the DSDT or on the command line, beside PCIe.
# QEMU's virtio-mmio queues hold 1024 entries (virtio-blk-pci's 256).
MMIO_MATRIX = [
    ("mmio-split", tp.MMIO, "", "",
     [rf"^blk: vda: virtio-blk {tp.MMIO_SLOT_ACPI}, 8192 sectors \(4 MiB\), 512-byte blocks, "
      r"1 queue of 1024, interrupts GSI 47 level", r"queue 0: 1024 entries split"]),
    ("mmio-packed", tp.MMIO, ",packed=on", "", [r"queue 0: 1024 entries packed"]),
    ("mmio-packed-mq4", tp.MMIO, ",packed=on,num-queues=4", "",
     [r"4 queues of 1024, interrupts GSI 47 level"] +
     [rf"queue {i}: 1024 entries packed.* [1-9]\d* requests" for i in range(4)]),
    ("mmio-legacy", tp.MMIO_LEGACY, "", "",
     [rf"^virtio: virtio-blk {tp.MMIO_SLOT_ACPI}: legacy interface, 1 queues, "
      r"interrupts GSI 47 level$", r"legacy interface"]),
    ("mmio-legacy-no-indirect", tp.MMIO_LEGACY, ",indirect_desc=off,event_idx=off", "",
     [r"queue 0: 1024 entries split.* indirect 0$"]),
    ("mmio-cmdline", tp.MMIO_CMDLINE, ",packed=on", "",
     [r"virtio_mmio\.device=512@0xfeb00e00:12$",
      rf"^blk: vda: virtio-blk {tp.MMIO_SLOT_CMDLINE}, .*interrupts polling"]),
    ("mmio-pcie", tp.MMIO_PCIE, "", "", [r"^pci: ", r"interrupts GSI 47 level"]),
]
BLK_RW = [(n, tp.PCI, d, c, l) for n, d, c, l in MATRIX] + MMIO_MATRIX


@pytest.mark.parametrize("name,t,dev,cmdline,lines", BLK_RW, ids=[m[0] for m in BLK_RW])
def test_blk_rw(boot, imgdir, name, t, dev, cmdline, lines):
    """Every sector read in several sizes, orders and buffer layouts, a second
    pattern written and flushed, the image checked on the host."""
    seed, seed2 = seed_of(name), seed_of(name + "2")
    img = os.path.join(imgdir, "disk.img")
    bp.make_image(img, seed, 4 * MiB)
    run = boot(cmdline=f"test=blk_rw blkt.seed={seed} blkt.seed2={seed2} {cmdline}",
               machine=t.machine, devices=disk(img, dev=",serial=matrix" + dev, t=t), timeout=120)
    run.expect(PASS, [r"^blk-rw: sequential 4K reads, one at a time: \d+ requests, 4096 KiB",
                      r"^blk-rw: 1M reads of 256 scattered 4K pieces",
                      r"^blk-rw: flush: 0", r"^blk-rw: read back the written pattern: .*4096 KiB",
                      r"^TEST PASS: blk_rw$"], absent=[r"failed", r"wrong"])
    run.expect(PASS, lines)
    legacy = "disable-modern=on" in dev or t is tp.MMIO_LEGACY
    tp.check_ring_features(run, r"^  negotiated features 0x([0-9a-f]+) ",
                           tp.ring_features(dev, legacy), r"^  queue \d+: .*, indirect (\d+)$")
    expect_image(run, img, lambda s: bp.sector(seed2, s))


def test_blk_rw_direct_io(boot, imgdir):
    """cache=none,aio=threads (O_DIRECT on the host), 8 MiB, two disks: the test runs on vdb."""
    seed, seed2 = 7001, 7002
    a, b = os.path.join(imgdir, "a.img"), os.path.join(imgdir, "b.img")
    bp.make_image(a, 1, 1 * MiB)
    bp.make_image(b, seed, 8 * MiB)
    before = open(a, "rb").read()
    run = boot(cmdline=f"test=blk_rw blkt.disk=vdb blkt.seed={seed} blkt.seed2={seed2}",
               devices=disk(a, id="d0") +
               disk(b, id="d1", dev=",serial=second", drive=",aio=threads", cache="none"))
    run.expect(PASS, [r"^blk: vda: .* 2048 sectors", r"^blk: vdb: .* 16384 sectors.*"
                      r"serial \"second\"", r"^blk-rw: vdb: ", r"^TEST PASS: blk_rw$"])
    expect_image(run, b, lambda s: bp.sector(seed2, s))
    if open(a, "rb").read() != before:
        run.fail("vda changed, but the test ran on vdb")


@pytest.mark.parametrize("dev", ["", ",logical_block_size=4096,physical_block_size=4096",
                                 ",max-discard-sectors=24,max-write-zeroes-sectors=40"],
                         ids=["default", "blocks-4k", "split-limits"])
def test_blk_discard_write_zeroes(boot, imgdir, dev):
    """Discard and write zeroes (with and without unmap) read back as zeroes in the
    guest and on the host; with discard=unmap the host file loses blocks."""
    seed = seed_of("zero" + dev)
    img = os.path.join(imgdir, "disk.img")
    bp.make_image(img, seed, 4 * MiB)
    blocks = os.stat(img).st_blocks
    run = boot(cmdline=f"test=blk_zero blkt.seed={seed}",
               devices=disk(img, dev=dev, drive=",discard=unmap,detect-zeroes=unmap"))
    run.expect(PASS, [r"^blk-zero: discard yes", r"^blk-zero: discard of sectors 1024\+2048: 0",
                      r"^blk-zero: write zeroes \(unmap\) of sectors 4096\+1024: 0",
                      r"^blk-zero: write zeroes of sectors 6144\+520: 0",
                      r"^blk-zero: empty discard: -22", r"^TEST PASS: blk_zero$"])
    if "max-discard" in dev:
        run.expect(PASS, [r"discard yes \(max 24 sectors, alignment \d+\), write zeroes yes "
                          r"\(max 40 sectors"])
    zero = [(1024, 2048), (4096, 1024), (6144, 520)]

    def expect(s):
        return bp.ZERO if any(a <= s < a + n for a, n in zero) else bp.sector(seed, s)
    expect_image(run, img, expect)
    after = os.stat(img).st_blocks
    if after * 512 > blocks * 512 - 1 * MiB:
        run.fail(f"discard did not deallocate on the host: {blocks} -> {after} blocks")


def test_blk_read_only(boot, imgdir):
    seed = seed_of("ro")
    img = os.path.join(imgdir, "disk.img")
    bp.make_image(img, seed, 2 * MiB)
    run = boot(cmdline=f"test=blk_ro blkt.seed={seed}",
               devices=disk(img, drive=",readonly=on"))
    run.expect(PASS, [r"^blk: vda: .*, read-only,", r"^blk: vda: features .*\bRO\b",
                      r"^blk-ro: read-only yes",
                      r"^blk-ro: write: -30 \(the disk is read-only\)$",
                      r"^blk-ro: write zeroes: -(30|95) ", r"^blk-ro: discard: -(30|95) ",
                      r"^blk-ro: reads: \d+ requests, 2048 KiB", r"^TEST PASS: blk_ro$"],
               absent=[r"failed", r"wrong"])
    expect_image(run, img, lambda s: bp.sector(seed, s))


@pytest.mark.parametrize("dev", ["", ",packed=on,num-queues=2"], ids=["split", "packed-mq2"])
def test_blk_injected_errors(boot, imgdir, dev):
    """blkdebug fails reads of one sector and writes of another with EIO: those
    requests fail with -EIO, every other one succeeds, the driver carries on.
    (request-merging=off: QEMU fails every request it merged with a failing one.)"""
    seed, seed2, bad_read, bad_write = seed_of("err" + dev), seed_of("err2" + dev), 1234, 3001
    img = os.path.join(imgdir, "disk.img")
    cfg = os.path.join(imgdir, "blkdebug.cfg")
    bp.make_image(img, seed, 2 * MiB)
    with open(cfg, "w") as f:
        for event, sector in (("read_aio", bad_read), ("write_aio", bad_write)):
            f.write(f'[inject-error]\nevent = "{event}"\nerrno = "5"\nsector = "{sector}"\n'
                    f'once = "off"\n\n')
    devices = ["-drive", f"if=none,id=d0,format=raw,file.driver=blkdebug,file.config={cfg},"
               f"file.image.driver=file,file.image.filename={img},rerror=report,werror=report",
               "-device", f"virtio-blk-pci,drive=d0,request-merging=off{dev}"]
    run = boot(cmdline=f"test=blk_errors blkt.seed={seed} blkt.seed2={seed2} "
               f"blkt.bad_read={bad_read} blkt.bad_write={bad_write}", devices=devices)
    run.expect(PASS, [r"^blk: vda: read at sector 1232: I/O error$",
                      r"^blk-errors: 1 failed: sector 1232\+8 \(-5\)$",
                      r"^blk: vda: write at sector 3000: I/O error$",
                      r"^blk-errors: 1 failed: sector 3000\+8 \(-5\)$",
                      r"^blk-errors: read back: 512 requests.* 1 failed, 1 read wrong data "
                      r"\(first wrong sector 3000\)$",
                      r"^blk-errors: read of sector 1234 alone: -5 \(I/O error\)$",
                      r"^blk-errors: read of sector 1235: 0 \(success\)$",
                      r"^TEST PASS: blk_errors$"])
    expect_image(run, img, lambda s: bp.sector(seed if 3000 <= s < 3008 else seed2, s))


@pytest.mark.parametrize("t,dev,mode", [(tp.PCI, "", "MSI-X"), (tp.PCI, ",vectors=0", "INTx"),
                                        (tp.MMIO, "", "GSI 47 level"),
                                        (tp.MMIO_LEGACY, "", "GSI 47 level")],
                         ids=["msix", "no-msix", "mmio", "mmio-legacy"])
def test_blk_resize(boot, imgdir, t, dev, mode):
    """The host grows the disk (block_resize): the guest learns of it by a configuration
    change, writes the new last 4K and is refused one sector further."""
    seed2 = seed_of("resize" + dev)
    img = os.path.join(imgdir, "disk.img")
    bp.make_image(img, 5, 2 * MiB)
    run = boot(cmdline=f"test=blk_resize blkt.seed2={seed2}", machine=t.machine,
               devices=disk(img, dev=dev, t=t),
               monitor=[(r"^blk-resize: capacity \d+ sectors, waiting", "block_resize d0 3M")])
    run.expect(PASS, [rf"interrupts {mode}", r"^blk-resize: capacity 4096 sectors, waiting",
                      r"^\[monitor\] block_resize d0 3M",
                      r"^blk: vda: capacity changed from 4096 to 6144 sectors \(3 MiB\)$",
                      r"^blk-resize: capacity now 6144 sectors, 1 change\(s\) seen$",
                      r"^blk-resize: write of the last 4K: 0$",
                      r"^blk-resize: read across the end: -34 ", r"^TEST PASS: blk_resize$"])
    if os.path.getsize(img) != 3 * MiB:
        run.fail(f"image is {os.path.getsize(img)} bytes, not 3 MiB")
    expect_image(run, img, lambda s: bp.sector(seed2, s) if s >= 6136 else
                 (bp.sector(5, s) if s < 4096 else None))


def test_blk_limits(boot, imgdir):
    """Refused before the device: beyond the end, misaligned to 4K blocks, empty; a full
    ring: -EAGAIN with NOWAIT, else waiting; a 20-character serial; the cache mode."""
    seed, serial = seed_of("limits"), "ABCDEFGHIJ0123456789"
    img = os.path.join(imgdir, "disk.img")
    bp.make_image(img, seed, 4 * MiB)
    run = boot(cmdline=f"test=blk_limits blkt.seed={seed} blkt.serial={serial}",
               devices=disk(img, dev=f",queue-size=16,logical_block_size=4096,physical_block_size=4096,"
                                 f"serial={serial}"))
    run.expect(PASS, [rf"^blk: vda: .*serial \"{serial}\"$",
                      r"^blk-limits: read at the capacity: -34 \(beyond the end of the disk\)$",
                      r"^blk-limits: read across the end: -34 ",
                      r"^blk-limits: read at sector 2\^64-8: -(34|22) ",
                      r"^blk-limits: read at sector 1 of 4096-byte blocks: -22 \(invalid "
                      r"request \(not aligned",
                      r"^blk-limits: 512-byte read of 4096-byte blocks: -22 ",
                      r"^blk-limits: empty read: -22 ",
                      r"^blk-limits: ([1-9]|1[0-6]) requests taken with NOWAIT before -11 ",
                      r"^blk-limits: 600 requests queued past the ring: 600 completed, 0 failed, "
                      r"0 wrong$",
                      rf"^blk-limits: GET_ID: 0, \"{serial}\"$",
                      r"^blk-limits: cache writeback -> writethrough: 0$",
                      r"queue 0: 16 entries split, 0 in flight \(max 1?\d\), .* [1-9]\d* waited",
                      r"^TEST PASS: blk_limits$"])
    expect_image(run, img, lambda s: bp.sector(seed, s))


def test_blk_shell(boot, imgdir):
    """The blk shell command: list, info, hexdump, pattern write/verify, errors in words."""
    img = os.path.join(imgdir, "disk.img")
    bp.make_image(img, 3, 1 * MiB)
    cmds = ["blk", "blk info", "blk read 1", "blk write 8 8 77", "blk verify 8 8 77",
            "blk verify 8 8 78", "blk write 2047 2 1", "blk vda zero 16 8 unmap", "blk read 16",
            "blk id", "blk cache writethrough", "blk cache", "blk flush", "blk frob", "poweroff"]
    run = boot(cmdline="app=shell", devices=disk(img, dev=",serial=shell-disk"),
               input="".join(c + "\n" for c in cmds).encode(), input_delay=0.5)
    first = bp.sector(3, 1)[:16]
    hexline = " ".join(f"{b:02x}" for b in first[:8]) + "  " + \
        " ".join(f"{b:02x}" for b in first[8:])
    run.expect(PASS, [r"^vda\s+2048 sectors\s+1 MiB\s+512-byte blocks\s+virtio-blk 00:01\.0"
                      r"\s+serial \"shell-disk\"$",
                      r"^vda: virtio-blk 00:01\.0$", r"^  capacity: 2048 sectors",
                      r"^  queue 0: 256 entries split",
                      rf"^00000200  {hexline}  \|", r"^00000400$",
                      r"^blk: vda: wrote sectors 8\+8 \(seed 77\): ok",
                      r"^blk: vda: verified sectors 8\+8 \(seed 77\): ok",
                      r"^blk: vda: verify: 1 requests read wrong data, first wrong sector 8$",
                      r"^blk: vda: write of sectors 2047\+2 failed: beyond the end of the disk "
                      r"\(-34\)$",
                      r"^00002000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  \|", r"^\*$",
                      r"^vda: id \"shell-disk\"$", r"^vda: cache writethrough \(switchable\)$",
                      r"^vda: cache writethrough \(switchable\)$",
                      r"^blk: unknown command 'frob'$", r"^poweroff$"])

    def expect(s):
        return bp.sector(77, s) if 8 <= s < 16 else bp.ZERO if 16 <= s < 24 else bp.sector(3, s)
    expect_image(run, img, expect)


RECOVER = [("split", tp.PCI, ""), ("packed", tp.PCI, ",packed=on"),
           ("mq2", tp.PCI, ",num-queues=2"), ("mmio-packed", tp.MMIO, ",packed=on"),
           ("mmio-legacy", tp.MMIO_LEGACY, "")]


@pytest.mark.parametrize("name,t,dev", RECOVER, ids=[r[0] for r in RECOVER])
def test_blk_recover(boot, imgdir, name, t, dev):
    """A bad used entry injected on a live queue (blk.fault=used@N) in the middle of
    the queue-depth-32 stress: the device is reset and brought back, the requests in
    flight are sent again, nothing fails, every read is checked, the image is right."""
    seed2 = seed_of("recover" + name)
    img = os.path.join(imgdir, "disk.img")
    bp.make_image(img, 1, 8 * MiB)
    run = boot(cmdline=f"test=blk_stress blkt.seed2={seed2} blkt.ms=1500 blk.fault=used@500",
               machine=t.machine, devices=disk(img, dev=dev, t=t), timeout=120)
    run.expect(PASS, [r"^blk: vda: the device broke a ring \(used id is not an outstanding "
                      r"buffer \(injected fault\)\); device reset and brought back \(reset 1\): "
                      r"\d+ requests sent again, 0 failed",
                      r"^blk-stress: \d+ rounds of 250 ms, [1-9]\d* requests, .* flush: 0",
                      r"^  transport: .* 1 resets", r"^TEST PASS: blk_stress$"],
               absent=[r"failed: ", r"wrong", r"dead"])
    expect_image(run, img, lambda s: bp.sector(seed2, s))
