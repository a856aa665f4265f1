"""test=ringcost (bench/ring/ringcost.py): the in-guest ring cost measurement runs
against real devices, moves exactly its buffers and prints well-formed figures.
Timings are not checked; the counts are (kicks only as a number: whether the
device still had notifications off when a request came is QEMU's timing)."""
import pytest

from vm import FAIL, PASS

FIGURES = (r"add_ns=\d+\.\d kick_prepare_ns=\d+\.\d get_ns=\d+\.\d ring_ns=\d+\.\d "
           r"empty_polls=\d+ ref_ns=\d+\.\d$")


@pytest.mark.parametrize("packed", ["off", "on"])
def test_ringcost_blk(boot, packed):
    layout = "packed" if packed == "on" else "split"
    # GET_ID: 20 id bytes and the status byte per request.
    run = boot(cmdline="test=ringcost virtio=nobind",
               devices=["-drive", "driver=null-co,id=d0,if=none", "-device",
                        f"virtio-blk-pci,drive=d0,serial=ringcost,packed={packed}"])
    run.expect(PASS, [
        rf"^ringcost: device=blk layout={layout} qsize=256 depth=1 calls=single buffers=4096 "
        rf"bytes=86016 kicks=\d+ {FIGURES}",
        rf"^ringcost: device=blk layout={layout} qsize=256 depth=32 calls=single buffers=4096 "
        rf"bytes=86016 kicks=\d+ {FIGURES}",
        rf"^ringcost: device=blk layout={layout} qsize=256 depth=32 calls=burst buffers=4096 "
        rf"bytes=86016 kicks=\d+ {FIGURES}",
        r"^TEST PASS: ringcost$"])


def test_ringcost_rng(boot):
    run = boot(cmdline="test=ringcost", devices=["-device", "virtio-rng-pci"])
    run.expect(PASS, [
        rf"^ringcost: device=rng layout=split qsize=8 depth=1 calls=single buffers=4096 "
        rf"bytes=65536 kicks=\d+ {FIGURES}",
        rf"^ringcost: device=rng layout=split qsize=8 depth=8 calls=single buffers=4096 "
        rf"bytes=65536 kicks=\d+ {FIGURES}",
        rf"^ringcost: device=rng layout=split qsize=8 depth=8 calls=burst buffers=4096 "
        rf"bytes=65536 kicks=\d+ {FIGURES}",
        r"^TEST PASS: ringcost$"])


def test_ringcost_wrong_serial_fails(boot):
    """The check is real: a disk that answers GET_ID with another id fails the test."""
    run = boot(cmdline="test=ringcost virtio=nobind",
               devices=["-drive", "driver=null-co,id=d0,if=none", "-device",
                        "virtio-blk-pci,drive=d0,serial=other"])
    run.expect(FAIL, [r"^ringcost: bad completion", r"^TEST FAIL: ringcost"])
