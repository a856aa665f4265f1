"""`make run`'s session, as the README's tour shows it (issue 15).

Boots scripts/qemu.py's run_command() -- the command line `make run` boots,
with the test's own disk image (made by the same scripts/run_disk.py) and
free host ports -- with stdio on pipes: COM1, the virtio console and the
monitor share them as on a terminal, and typing reaches the shell on the
virtio console. Checks the boot log binds all devices, types the tour's
commands and checks their exact lines, and reaches the guest from the
host: iperf 2 against the guest's server and an echo through nc, both
through the 127.0.0.1 forwards. The knobs that drop the devices and the
tap variant are checked too.
"""
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys

import pytest

import blkpattern
import netvm
import vm
from vm import PASS

sys.path.insert(0, os.path.join(vm.ROOT, "scripts"))
import qemu  # noqa: E402
import run_disk  # noqa: E402

# Where each machine puts the devices (run_devices() order: console, disk, net, rng).
SLOTS = {
    "q35": {"console": "00:01.0", "blk": "00:02.0", "net": "00:03.0", "rng": "00:04.0"},
    # microvm fills virtio-mmio slots from the top (tests/qemu/transport.py).
    "microvm": {"console": "mmio@0xfeb02e00", "blk": "mmio@0xfeb02c00",
                "net": "mmio@0xfeb02a00", "rng": "mmio@0xfeb02800"},
}

# The tour's `virtio` features lines: the hex and every bit named, none as bitN.
FEATURES = {
    "console": r"MULTIPORT EMERG_WRITE INDIRECT_DESC EVENT_IDX VERSION_1",
    "blk": r"SEG_MAX GEOMETRY BLK_SIZE FLUSH TOPOLOGY CONFIG_WCE DISCARD WRITE_ZEROES "
           r"INDIRECT_DESC EVENT_IDX VERSION_1",
    "net": r"MAC MRG_RXBUF STATUS CTRL_VQ CTRL_RX GUEST_ANNOUNCE INDIRECT_DESC EVENT_IDX "
           r"VERSION_1",
}


def hexdump(base, data):
    """drivers/block/blk_shell.c's hexdump, on the host: the lines `blk read` prints."""
    lines, starred = [], False
    for off in range(0, len(data), 16):
        row = data[off:off + 16]
        if off and off + 16 <= len(data) and row == data[off - 16:off]:
            if not starred:
                lines.append("*")
            starred = True
            continue
        starred = False
        hx = " ".join(f"{b:02x}" for b in row[:8]) + "  " + " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7f else "." for b in row)
        lines.append(f"{base + off:08x}  {hx}  |{text}|")
    lines.append(f"{base + len(data):08x}")
    return lines


def mbytes(figure):
    """iperf's "87.7 MBytes" in MiB."""
    value, unit = figure.split()
    return float(value) * {"KBytes": 1 / 1024, "MBytes": 1, "GBytes": 1024}[unit]


def run_guest(request, machine, tmp_path, **kw):
    disk = run_disk.make(str(tmp_path / "run-disk.img"))
    ports = {"iperf_port": netvm.free_port(), "echo_port": netvm.free_port()}
    ports.update(kw.pop("ports", {}))
    argv = qemu.run_command(vm.KERNEL, machine=machine, accel=vm.ACCEL,
                            disk=kw.pop("disk", disk), **ports, **kw)
    return netvm.Guest(request.node.name, argv=argv, timeout=300), ports, disk


def typed(g, command, pattern, timeout=60):
    """Type command, wait for its echo and then pattern; the match."""
    mark = g.mark()
    g.send(command.encode() + b"\n")
    g.wait_for(r"^(> )*" + re.escape(command) + "$", timeout=timeout, after=mark)
    return g.wait_for(pattern, timeout=timeout, after=mark)


def expect_lines(g, mark, lines, timeout=60):
    """Each exact line in order after mark."""
    for line in lines:
        m = g.wait_for("^" + re.escape(line) + "$", timeout=timeout, after=mark)
        with g.cond:
            mark = next(i for i in range(mark, len(g.lines)) if g.lines[i][1] == m.string) + 1
    return mark


@pytest.mark.parametrize("machine", ["q35", "microvm"])
def test_run_tour(request, tmp_path, machine):
    slot = SLOTS[machine]
    irq = "MSI-X" if machine == "q35" else r"GSI \d+ level"
    g, ports, disk = run_guest(request, machine, tmp_path)
    with g:
        # The boot log: all devices bound, the services up, the shell on the virtio console.
        for rx in [r"^cmdline: net\.serve=on$",
                   rf"^virtio: virtio-console {slot['console']}: modern interface, 64 queues, "
                   r"interrupts ",
                   rf"^vcon: virtio-console {slot['console']}: port 0 is the console: stdin, "
                   r"stdout and stderr are on it$",
                   rf"^blk: vda: virtio-blk {slot['blk']}, 131072 sectors \(64 MiB\), "
                   r"512-byte blocks, 1 queue of \d+, interrupts ",
                   rf"^virtio-net: vn0: 52:54:00:12:34:56 mtu 1500 link up, rx mergeable",
                   rf"^random: seeded from virtio-rng {slot['rng']}$",
                   r"^net: vn0 up, link up, DHCP$",
                   r"^net: serving iperf on 5001, echo on 7, discard on 9 \(net\.serve=on\)$",
                   r"^shell: type 'help' for commands$",
                   r"net: vn0: DHCP lease 10\.0\.2\.15/24 "]:
            g.wait_for(rx, timeout=120)

        # virtio: every device, its features by name.
        m = g.mark()
        typed(g, "virtio", rf"^virtio-rng {slot['rng']}: no driver bound \(read on demand "
                         r"for random numbers: rng\), ")
        for dev in ("console", "blk", "net"):
            g.wait_for(rf"^virtio-{dev} {slot[dev]}: virtio_{dev}, interrupts {irq}", after=m)
            g.wait_for(rf"^  features 0x[0-9a-f]+ {FEATURES[dev]}( RING_RESET)?$", after=m)
        with g.cond:
            numbered = [t for _, t in g.lines[m:] if re.search(r"^  features .*\bbit\d", t)]
        assert not numbered, f"feature bits without a name: {numbered}"

        # blk read 0: the note run_disk.py wrote, read through virtio-blk.
        m = g.mark()
        g.send(b"blk read 0\n")
        expect_lines(g, m, hexdump(0, run_disk.readme_sector()))
        # What the note suggests: the pattern written, read back (checked on the host below).
        typed(g, "blk write 2048 64 7",
              r"^blk: vda: wrote sectors 2048\+64 \(seed 7\): ok, 32 KiB in \d+ ms$")
        typed(g, "blk verify 2048 64 7",
              r"^blk: vda: verified sectors 2048\+64 \(seed 7\): ok, 32 KiB in \d+ ms$")

        # ifconfig, ping the gateway (the one address slirp answers with restrict=on).
        m = g.mark()
        typed(g, "ifconfig", r"^vn0: flags=<UP,LINK_UP,DHCP> mtu 1500$")
        g.wait_for(r"^    inet 10\.0\.2\.15  netmask 255\.255\.255\.0  gateway 0\.0\.0\.0$",
                   after=m)
        g.wait_for(rf"^    features {FEATURES['net']}( RING_RESET)?$", after=m)
        m = g.mark()
        typed(g, "ping 10.0.2.2 -c 3", r"^PING 10\.0\.2\.2 56\(84\) bytes of data\.$")
        g.wait_for(r"^64 bytes from 10\.0\.2\.2: icmp_seq=3 ttl=255 time=", after=m)
        g.wait_for(r"^3 packets transmitted, 3 received, 0% packet loss", after=m)

        # iperf: the shell waits for one test of the server net.serve=on runs; the host
        # connects through the forward.
        m = g.mark()
        typed(g, "iperf -s -n 1",
              r"^Server listening on TCP port 5001 \(lwIP lwiperf, net\.serve=on\)$")
        p = netvm.run(["iperf", "-c", "127.0.0.1", "-p", str(ports["iperf_port"]), "-t", "3"],
                      timeout=60)
        g.note(p.stdout.strip().splitlines()[-1])
        host = re.search(r"\]\s+0\.0+-\d+\.\d+ sec\s+([\d.]+ [KMG]Bytes)", p.stdout)
        assert host, p.stdout
        g.wait_for(r"^\[ *\d+\] local 10\.0\.2\.15 port 5001 connected with 10\.0\.2\.2 port "
                   r"\d+ \(done\)$", after=m)
        guest = g.wait_for(r"^\[ *\d+\] 0\.00-\d+\.\d\d sec  ([\d.]+ [KMG]Bytes)  ", after=m)
        # What the host sent is what the guest's server counted, within 1%: the host
        # counts what its socket took, which slirp then carries on.
        sent, got = mbytes(host.group(1)), mbytes(guest.group(1))
        assert sent > 0 and 0.99 * sent <= got <= 1.01 * sent, (guest.group(0), p.stdout)

        # echo through the forward with nc: the README's line, then 100000 random bytes.
        m = g.mark()
        e = subprocess.run(["nc", "-N", "127.0.0.1", str(ports["echo_port"])], input=b"hello\n",
                           stdout=subprocess.PIPE, timeout=60)
        assert e.stdout == b"hello\n", e.stdout
        g.wait_for(r"^(> )?echo: 10\.0\.2\.2 port \d+: 6 bytes in, 6 out in ", after=m)
        payload = bytes(random.Random(15).getrandbits(8) for _ in range(100000))
        m = g.mark()
        e = subprocess.run(["nc", "-N", "127.0.0.1", str(ports["echo_port"])], input=payload,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        g.note(f"nc: sent {len(payload)} sha256 {hashlib.sha256(payload).hexdigest()[:16]}, "
               f"got {len(e.stdout)} sha256 {hashlib.sha256(e.stdout).hexdigest()[:16]}")
        assert e.stdout == payload, (len(e.stdout), e.stderr)
        g.wait_for(r"^(> )?echo: 10\.0\.2\.2 port \d+: 100000 bytes in, 100000 out in [\d.]+ s "
                   r"\([\d.]+ Mbit/s in\) closed$", after=m)

        g.send(b"poweroff\n")
        g.finish(60).expect(PASS, [r"^poweroff$"])
    with open(disk, "rb") as f:
        f.seek(2048 * blkpattern.SECTOR)
        assert f.read(64 * blkpattern.SECTOR) == blkpattern.sectors(7, 2048, 64), \
            "blk write 2048 64 7 did not put the pattern on the image"


def test_run_knobs_off(request):
    """DISK= NET= VCONSOLE= RNG= (scripts/qemu.py --run as make passes them): no device."""
    argv = [sys.executable, os.path.join(vm.ROOT, "scripts", "qemu.py"), "--run",
            "--kernel", vm.KERNEL, "--accel", vm.ACCEL, "--disk", "", "--net", "0",
            "--vconsole", "", "--rng", "0"]
    with netvm.Guest(request.node.name, argv=argv) as g:
        g.wait_for(r"^shell: type 'help' for commands$", timeout=120)
        g.send(b"virtio\nblk list\npoweroff\n")
        run = g.finish(60)
    run.expect(0, [r"^run: virtio-blk  none \(DISK=\)$", r"^run: virtio-net  none \(NET=\)$",
                   r"^run: console     COM1 only \(VCONSOLE=\)$",
                   r"^run: virtio-rng  none \(RNG=\)$",
                   r"^cmdline: *$", r"^shell: type 'help' for commands$",
                   r"^(> )?no disks$", r"^(> )?poweroff$"],
               absent=[r"^virtio:", r"-netdev", r"virtconsole", r"-drive", r"^random: seeded"])


needs_tap = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/net/tun") or not shutil.which("ip"),
    reason="the tap variant needs root, /dev/net/tun and iproute2")


@needs_tap
def test_run_netdev_tap(request, tmp_path):
    """NETDEV=tap: the tap the user made (here in the test's namespace), static address."""
    with netvm.NetNs("10.77.0.1", tap=qemu.RUN_TAP) as ns:
        disk = run_disk.make(str(tmp_path / "run-disk.img"))
        argv = qemu.run_command(vm.KERNEL, cmdline="ip=10.77.0.2/24", accel=vm.ACCEL,
                                disk=disk, net="tap")
        assert f"tap,id=n0,ifname={qemu.RUN_TAP},script=no,downscript=no" in argv
        g = netvm.Guest(request.node.name, argv=["ip", "netns", "exec", ns.name] + argv)
        with g:
            g.wait_for(r"^net: vn0 up, link up, static address$", timeout=120)
            g.wait_for(r"^net: serving iperf on 5001, echo on 7, discard on 9")
            p = ns.run(["ping", "-c", "3", "-W", "5", "10.77.0.2"], check=False)
            g.note(p.stdout.strip().replace("\n", " | "))
            assert "3 packets transmitted, 3 received" in p.stdout, p.stdout
            m = g.mark()
            payload = os.urandom(4096)
            e = subprocess.run(["ip", "netns", "exec", ns.name, "nc", "-N", "10.77.0.2", "7"],
                               input=payload, stdout=subprocess.PIPE, timeout=60)
            assert e.stdout == payload, len(e.stdout)
            g.wait_for(r"^(> )?echo: 10\.77\.0\.1 port \d+: 4096 bytes in, 4096 out ", after=m)
            g.send(b"poweroff\n")
            g.finish(60).expect(PASS, [r"^poweroff$"])
