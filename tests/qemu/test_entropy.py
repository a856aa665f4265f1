"""Entropy (issue 13): what a remote host would have to guess must differ from
boot to boot, even when the clock does not.

Each boot runs under -icount with the RTC at a fixed date (clock=vm), so
the TSC and the RTC read the same in every boot of a configuration. The
shell prints the DHCP transaction id and the keyed part of a TCP initial
sequence number (RFC 6528's F, without the clock: `netrand`) and the generator's counters (`rng`). Without any entropy
source the xid is the same in two boots (the control: what a clock-seeded
generator gives), and the boot log says so; with virtio-rng, or RDRAND
(-cpu max), they differ, and the bytes from the source are counted.
"""
import re

import pytest

from vm import PASS

SAME_CLOCK = ["-rtc", "base=2026-01-01T00:00:00,clock=vm", "-icount", "shift=0,sleep=off",
              "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0"]
NETRAND = r"^netrand: dhcp xid (0x[0-9a-f]{8}), isn 10\.0\.2\.15:49152->10\.0\.2\.2:80 keyed part (0x[0-9a-f]{8})$"


def netrand(boot, extra, expect):
    run = boot(cmdline="app=shell", devices=SAME_CLOCK + extra,
               input=b"rng reseed\rnetrand\rpoweroff\r", input_delay=3.0, timeout=90)
    run.expect(PASS, expect + [NETRAND])
    return run.find(NETRAND)[1].groups()


def test_entropy_none_is_said_and_repeats(boot):
    expect = [r"^random: no entropy source \(no RDSEED/RDRAND, no virtio-rng\): random numbers "
              r"are predictable$", r"^rng: RDSEED no, RDRAND no, virtio-rng none$",
              r"\(UNSEEDED: predictable\)$"]
    a = netrand(boot, [], expect)
    b = netrand(boot, [], expect)
    # The xid is drawn at bring-up, before any input: the same instant in both boots.
    assert a[0] == b[0], f"the control boots differ ({a} vs {b}): the set-up is not repeatable"


@pytest.mark.parametrize("source,extra,line", [
    ("virtio-rng", ["-device", "virtio-rng-pci"],
     r"^rng: bytes in: rdseed 0 rdrand 0 virtio-rng ([1-9]\d*) "),
    ("rdrand", ["-cpu", "max"], r"^rng: bytes in: rdseed \d+ rdrand ([1-9]\d*) "),
])
def test_entropy_source_makes_boots_differ(boot, source, extra, line):
    expect = [rf"^random: seeded from .*{'virtio-rng' if source == 'virtio-rng' else 'RDRAND'}",
              line]
    a = netrand(boot, extra, expect)
    b = netrand(boot, extra, expect)
    assert a[0] != b[0] and a[1] != b[1], f"same values in two boots: {a}"
    assert re.match(r"0x[0-9a-f]{8}", a[0]) and a[0] != "0x00000000"
