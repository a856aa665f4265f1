"""virtio-blk against a second device implementation: qemu-storage-daemon's
vhost-user-blk export (libvhost-user), which looks at the ring only when
kicked and interrupts only when the event index allows it
(scripts/vhost_user.py). The same in-guest tests as test_blk.py, the image checked
byte for byte on the host after the daemon has exited.

What the backend offers (QEMU 7.2's libvhost-user blk server): VERSION_1,
INDIRECT_DESC, EVENT_IDX, MQ, SIZE_MAX, SEG_MAX, BLK_SIZE, TOPOLOGY, FLUSH,
CONFIG_WCE, DISCARD, WRITE_ZEROES. No RING_PACKED (libvhost-user has no
packed ring), no IN_ORDER, no NOTIFICATION_DATA: `packed=on` on the QEMU
device is masked by the backend's features, and test_vhost_user_blk_packed_masked
proves the guest then runs split.
"""
import os

import pytest

import blkpattern as bp
import transport as tp
import vhost_user
from test_blk import expect_image, imgdir, seed_of  # noqa: F401 (imgdir: fixture)
from vm import PASS

MiB = 1 << 20

pytestmark = pytest.mark.skipif(not vhost_user.available(),
                                reason="qemu-storage-daemon is not installed "
                                       "(apt-get install qemu-system-common)")


def daemon_boot(boot, imgdir, cmdline, dev="", export_opts="", timeout=180):
    img = os.path.join(imgdir, "disk.img")
    d = vhost_user.BlkDaemon(img, imgdir, export_opts=export_opts)
    with d:
        run = boot(cmdline=cmdline, machine=d.machine, mem=d.mem, devices=d.devices(dev),
                   timeout=timeout)
    rc = d.proc.returncode
    if rc not in (0, -15):
        run.fail(f"qemu-storage-daemon exited with {rc}: {d.output()}")
    return run, img


# (name, QEMU device options, daemon export options, lines the log must show)
MATRIX = [
    ("split", "", "",
     [r"^blk: vda: virtio-blk 00:0\d\.0, 8192 sectors \(4 MiB\), 512-byte blocks, "
      r"1 queue of 128, interrupts MSI-X, serial \"vhost_user_blk\"",
      r"^  negotiated features 0x[0-9a-f]+.* INDIRECT_DESC EVENT_IDX VERSION_1",
      r"queue 0: 128 entries split.* indirect [1-9]"]),
    ("event-idx-off", ",event_idx=off", "",
     [r"^  negotiated features 0x[0-9a-f]+(?!.*EVENT_IDX).* VERSION_1"]),
    ("indirect-off", ",indirect_desc=off", "",
     [r"^  negotiated features 0x[0-9a-f]+(?!.*INDIRECT_DESC).* VERSION_1",
      r"queue 0: 128 entries split.* indirect 0$"]),
    ("indirect-off-event-idx-off", ",indirect_desc=off,event_idx=off", "",
     [r"^  negotiated features 0x[0-9a-f]+(?!.*(INDIRECT_DESC|EVENT_IDX)).* VERSION_1"]),
    ("mq2", ",num-queues=2", ",num-queues=2",
     [r"2 queues of 128"] + [rf"queue {i}: .* [1-9]\d* requests" for i in range(2)]),
    ("mq4", ",num-queues=4", ",num-queues=4",
     [r"4 queues of 128"] + [rf"queue {i}: .* [1-9]\d* requests" for i in range(4)]),
    ("q16", ",queue-size=16", "",
     [r"1 queue of 16", r"queue 0: 16 entries split.* [1-9]\d* waited"]),
    ("q256", ",queue-size=256", "", [r"1 queue of 256"]),
    ("mq2-q16-event-idx-off", ",num-queues=2,queue-size=16,event_idx=off", ",num-queues=2",
     [r"2 queues of 16", r"queue 1: 16 entries split"]),
]


@pytest.mark.parametrize("name,dev,export,lines", MATRIX, ids=[m[0] for m in MATRIX])
def test_vhost_user_blk_rw(boot, imgdir, name, dev, export, lines):
    """The blk_rw matrix of test_blk.py against the daemon: every sector read
    in many layouts and depths, a second pattern written, flushed, checked
    on the host once the daemon has exited."""
    seed, seed2 = seed_of("vu" + name), seed_of("vu" + name + "2")
    bp.make_image(os.path.join(imgdir, "disk.img"), seed, 4 * MiB)
    run, img = daemon_boot(boot, imgdir, f"test=blk_rw blkt.seed={seed} blkt.seed2={seed2}",
                           dev=dev, export_opts=export)
    run.expect(PASS, [r"^blk-rw: sequential 64K reads, 32 in flight",
                      r"^blk-rw: random-order writes of mixed sizes, 32 in flight",
                      r"^blk-rw: flush: 0", r"^blk-rw: read back the written pattern: .*4096 KiB",
                      r"^TEST PASS: blk_rw$"], absent=[r"failed", r"wrong", r"dead"])
    run.expect(PASS, [r"^virtio: virtio-blk .*: modern interface"] + lines)
    tp.check_ring_features(run, r"^  negotiated features 0x([0-9a-f]+) ",
                           tp.ring_features(dev, packed_ok=False),
                           r"^  queue \d+: .*, indirect (\d+)$")
    expect_image(run, img, lambda s: bp.sector(seed2, s))


def test_vhost_user_blk_packed_masked(boot, imgdir):
    """packed=on on the QEMU device: the backend does not offer RING_PACKED,
    so the device does not either, and the guest runs split."""
    seed, seed2 = 501, 502
    bp.make_image(os.path.join(imgdir, "disk.img"), seed, 4 * MiB)
    run, img = daemon_boot(boot, imgdir, f"test=blk_rw blkt.seed={seed} blkt.seed2={seed2}",
                           dev=",packed=on")
    run.expect(PASS, [r"^  negotiated features 0x[0-9a-f]+(?!.*RING_PACKED).* VERSION_1",
                      r"queue 0: 128 entries split", r"^TEST PASS: blk_rw$"])
    tp.check_ring_features(run, r"^  negotiated features 0x([0-9a-f]+) ",
                           tp.ring_features("", packed_ok=False))
    expect_image(run, img, lambda s: bp.sector(seed2, s))


def test_vhost_user_blk_discard_write_zeroes(boot, imgdir):
    """Discard and write zeroes through the daemon read back as zeroes in the guest
    and on the host."""
    seed = 601
    bp.make_image(os.path.join(imgdir, "disk.img"), seed, 4 * MiB)
    run, img = daemon_boot(boot, imgdir, f"test=blk_zero blkt.seed={seed}")
    run.expect(PASS, [r"^blk-zero: discard yes .* write zeroes yes",
                      r"^blk-zero: discard of sectors 1024\+2048: 0",
                      r"^blk-zero: write zeroes \(unmap\) of sectors 4096\+1024: 0",
                      r"^TEST PASS: blk_zero$"], absent=[r"failed"])
    zero = bytes(512)
    zeroed = [(1024, 2048), (4096, 1024), (6144, 520)]

    def expect(s):
        return zero if any(a <= s < a + n for a, n in zeroed) else bp.sector(seed, s)
    expect_image(run, img, expect)


@pytest.mark.parametrize("dev,export", [("", ""), (",num-queues=2", ",num-queues=2")],
                         ids=["1q", "mq2"])
def test_vhost_user_blk_stress(boot, imgdir, dev, export):
    """Queue depth 32 for 4 s of random reads (each checked) and writes against
    the daemon, then every byte of the image checked on the host."""
    seed, seed2 = seed_of("vustress" + dev), seed_of("vustress2" + dev)
    bp.make_image(os.path.join(imgdir, "disk.img"), seed, 8 * MiB)
    run, img = daemon_boot(boot, imgdir,
                           f"test=blk_stress blkt.seed2={seed2} blkt.ms=4000", dev=dev,
                           export_opts=export)
    run.expect(PASS, [r"^blk-stress: the whole disk written, 32 in flight: .* 8192 KiB",
                      r"^blk-stress: \d+ rounds of 250 ms, [1-9]\d* requests, .* flush: 0",
                      r"^TEST PASS: blk_stress$"],
               absent=[r"failed", r"wrong", r"dead"])
    expect_image(run, img, lambda s: bp.sector(seed2, s))


def test_vhost_user_blk_recover(boot, imgdir):
    """A bad used entry injected mid-stress against the daemon: the device (and with
    it the vhost-user backend's rings) is reset and brought back, nothing is lost."""
    seed2 = seed_of("vurecover")
    bp.make_image(os.path.join(imgdir, "disk.img"), 1, 8 * MiB)
    run, img = daemon_boot(boot, imgdir,
                           f"test=blk_stress blkt.seed2={seed2} blkt.ms=1500 "
                           "blk.fault=used@500")
    run.expect(PASS, [r"^blk: vda: the device broke a ring \(used id is not an outstanding "
                      r"buffer \(injected fault\)\); device reset and brought back \(reset 1\): "
                      r"\d+ requests sent again, 0 failed",
                      r"^  transport: .* 1 resets", r"^TEST PASS: blk_stress$"],
               absent=[r"failed: ", r"wrong", r"dead"])
    expect_image(run, img, lambda s: bp.sector(seed2, s))
