"""virtio-net and lwIP against real host peers (issue 7).

User networking (restrict=on, forwards on 127.0.0.1 only): DHCP, ping the
gateway, the host's iperf 2 client against the guest's lwiperf server.
A tap in a network namespace each test creates and deletes (static
addresses, nothing routed out): ping flood, iperf both ways, 64 MiB echoed
with equal sha256 (also through a device reset: a broken ring brought
back), the same through netem loss and reordering, link down
and up from the monitor, and a matrix of device options.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

import netcheck as nc
import netvm
import transport as tp
from vm import PASS

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_IP = "10.77.0.2"
HOST_IP = "10.77.0.1"
STATIC = f"ip={GUEST_IP}/24 gw={HOST_IP}"



def tap_unavailable():
    """None when a tap in a netns can be made here, else why not. TESTS_AS_USER=1
    takes the non-root path as root does not (to see the skips counted)."""
    if os.geteuid() != 0:
        return "tap tests need root"
    if os.environ.get("TESTS_AS_USER"):
        return "tap tests need root (TESTS_AS_USER set: run as if not root)"
    if not os.path.exists("/dev/net/tun"):
        return "tap tests need /dev/net/tun"
    if not shutil.which("ip"):
        return "tap tests need iproute2 (ip)"
    return None


TAP_REASON = tap_unavailable()
needs_tap = pytest.mark.skipif(TAP_REASON is not None, reason=str(TAP_REASON))


def user_net(extra="", dev="", t=tp.PCI):
    return ["-netdev", f"user,id=n0,restrict=on{extra}"] + t.device("net", f",netdev=n0{dev}")


def tap_net(ns, dev="", t=tp.PCI):
    return (["-netdev", f"tap,id=n0,ifname={ns.tap},script=no,downscript=no"] +
            t.device("net", f",netdev=n0{dev}"))


# The transports the main network tests run on (tests/qemu/transport.py).
NET_TRANSPORTS = [tp.PCI, tp.MMIO, tp.MMIO_LEGACY]
# DHCP and ping also where virtio-mmio is found on the command line (polled) and beside PCIe.
DHCP_TRANSPORTS = NET_TRANSPORTS + [tp.MMIO_CMDLINE, tp.MMIO_PCIE]


def stop(g):
    """'q' ends app=net; it prints its counters and exits with PASS."""
    g.send(b"q")
    return g.finish(60).expect(PASS, [r"^net: stopped$", r"^vn0: flags=<UP"])


def echo(ns, g, size, timeout=300):
    p = ns.run([sys.executable, os.path.join(HERE, "net_echo.py"), GUEST_IP, "7", str(size)],
               timeout=timeout, check=False)
    g.note(p.stdout.strip().replace("\n", " | "))
    if p.returncode != 0:
        g.run_result().fail(f"echo of {size} bytes failed:\n{p.stdout}")
    sent = re.search(r"sent (\d+) sha256 (\w+)", p.stdout)
    got = re.search(r"received (\d+) sha256 (\w+)", p.stdout)
    assert sent and got and sent.groups() == got.groups(), p.stdout
    return p.stdout


# User networking.

@pytest.mark.parametrize("t", DHCP_TRANSPORTS, ids=str)
def test_user_dhcp_ping_gateway(boot, t):
    run = boot(cmdline="app=shell", machine=t.machine, devices=user_net(t=t),
               input=b"ping 10.0.2.2 -c 3\nifconfig\npoweroff\n", timeout=60)
    run.expect(PASS, [
        r"^virtio-net: vn0: 52:54:00:12:34:56 mtu 1500 link up, rx mergeable",
        r"^net: vn0 up, link up, DHCP$",
        r"^net: vn0: DHCP lease 10\.0\.2\.15/24 ",
        r"^PING 10\.0\.2\.2 56\(84\) bytes of data\.$",
        r"^64 bytes from 10\.0\.2\.2: icmp_seq=1 ttl=\d+ time=[\d.]+ ms$",
        r"^64 bytes from 10\.0\.2\.2: icmp_seq=3 ",
        r"^3 packets transmitted, 3 received, 0% packet loss, time \d+ms$",
        r"^rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms$",
        r"^vn0: flags=<UP,LINK_UP,DHCP> mtu 1500$",
        r"^    inet 10\.0\.2\.15  netmask 255\.255\.255\.0",
        r"^poweroff$"])


def test_user_hostfwd_iperf(request):
    port = netvm.free_port()
    with netvm.Guest(request.node.name, "app=net",
                     user_net(f",hostfwd=tcp:127.0.0.1:{port}-:5001")) as g:
        g.wait_for(r"^net: serving iperf on 5001")
        p = netvm.run(["iperf", "-c", "127.0.0.1", "-p", str(port), "-t", "5"], timeout=60)
        g.note(p.stdout.strip().splitlines()[-1])
        m = re.search(r"0\.0+-(\d+\.\d+) sec\s+([\d.]+) (\w)Bytes", p.stdout)
        assert m and 4.5 < float(m.group(1)) < 6.5 and float(m.group(2)) > 0, p.stdout
        g.wait_for(r"^\[  1\] local 10\.0\.2\.15 port 5001 connected with 10\.0\.2\.2 port \d+ "
                   r"\(done\)$", timeout=20)
        g.wait_for(r"^\[  1\] 0\.00-[45]\.\d\d sec  [\d.]+ [KMG]Bytes  [\d.]+ [KMG]bits/sec$")
        stop(g)


# Tap in a namespace.

@pytest.fixture
def ns():
    with netvm.NetNs(HOST_IP) as n:
        yield n


@needs_tap
def test_tap_ping_flood(request, ns):
    with netvm.Guest(request.node.name, f"app=net {STATIC}", tap_net(ns), netns=ns) as g:
        g.wait_for(r"^net: serving")
        p = ns.run(["ping", "-q", "-c", "1000", "-i", "0.01", "-W", "2", GUEST_IP], timeout=120,
                   check=False)
        g.note(p.stdout.strip().replace("\n", " | "))
        assert "1000 packets transmitted, 1000 received" in p.stdout, p.stdout
        stop(g)


@needs_tap
@pytest.mark.parametrize("t", [tp.PCI, tp.MMIO], ids=str)
def test_tap_iperf_host_to_guest(request, ns, t):
    with netvm.Guest(request.node.name, f"app=net {STATIC}", tap_net(ns, t=t), netns=ns,
                     machine=t.machine) as g:
        g.wait_for(r"^net: serving")
        p = ns.run(["iperf", "-c", GUEST_IP, "-t", "5"], timeout=60)
        g.note(p.stdout.strip().splitlines()[-1])
        g.wait_for(rf"^\[  1\] local {GUEST_IP} port 5001 connected with {HOST_IP} .*\(done\)$",
                   timeout=20)
        m = g.wait_for(r"^\[  1\] 0\.00-[45]\.\d\d sec  ([\d.]+) ([KMG])Bytes")
        assert m.group(2) in "MG"
        stop(g)


@needs_tap
def test_tap_iperf_guest_to_host(request, ns):
    server = ns.popen(["iperf", "-s", "-p", "5001"])
    try:
        with netvm.Guest(request.node.name, f"app=shell {STATIC}", tap_net(ns), netns=ns) as g:
            g.wait_for(r"^shell: type 'help'")
            g.send(f"iperf -c {HOST_IP} -t 5 -i 1\npoweroff\n".encode())
            g.wait_for(rf"^\[  1\] local {GUEST_IP} port \d+ connected with {HOST_IP} port 5001$")
            g.wait_for(r"^\[  1\] 0\.00-5\.00 sec  [\d.]+ [MG]Bytes  [\d.]+ [MG]bits/sec$",
                       timeout=30)
            g.finish(30).expect(PASS, [r"^poweroff$"], absent=[r"not acknowledged", r"failed"])
    finally:
        server.terminate()
        out = server.communicate(timeout=10)[0]
    assert re.search(r"0\.0+-[45]\.\d+ sec\s+[\d.]+ [MG]Bytes", out), out


@needs_tap
@pytest.mark.parametrize("t", NET_TRANSPORTS, ids=str)
def test_tap_echo_64mib(request, ns, t):
    with netvm.Guest(request.node.name, f"app=net {STATIC}", tap_net(ns, t=t), netns=ns,
                     machine=t.machine) as g:
        g.wait_for(r"^net: serving")
        echo(ns, g, 64 << 20)
        g.wait_for(r"^echo: 10\.77\.0\.1 port \d+: 67108864 bytes in, 67108864 out ")
        stop(g)


# (net.fault=, transport, device options)
RESET_CASES = [
    ("rx", "rx@2000", tp.PCI, ""),
    ("tx", "tx@2000", tp.PCI, ""),
    ("rx-packed-big-intx", "rx@1000", tp.PCI, ",packed=on,mrg_rxbuf=off,vectors=0"),
    ("tx-mmio-legacy", "tx@2000", tp.MMIO_LEGACY, ""),
]


@needs_tap
@pytest.mark.parametrize("fault,t,opts", [c[1:] for c in RESET_CASES],
                         ids=[c[0] for c in RESET_CASES])
def test_tap_echo_64mib_through_device_reset(request, ns, fault, t, opts):
    """A bad used entry on the receive (transmit) ring after 2000 buffers
    (net.fault=): the driver resets the device and brings it back in the
    middle of the 64 MiB echo; the link goes down and up, the TCP connection
    survives (what was lost is sent again) and the data comes back intact."""
    with netvm.Guest(request.node.name, f"app=net {STATIC} net.fault={fault}",
                     tap_net(ns, opts, t), netns=ns, machine=t.machine) as g:
        g.wait_for(r"^net: serving")
        echo(ns, g, 64 << 20)
        g.wait_for(r"^echo: 10\.77\.0\.1 port \d+: 67108864 bytes in, 67108864 out ")
        stop(g).expect(PASS, [
            r"^net: vn0: link down$",
            r"^net: vn0: the device broke a ring \(.*injected fault.*\); device reset and "
            r"brought back \(reset 1\)",
            r"^net: vn0: link up$",
            r"^echo: 10\.77\.0\.1 port \d+: 67108864 bytes in, 67108864 out ",
            r"device resets that brought it back 1 ",
        ], absent=[r"given up", r"reset 2\)"])


@needs_tap
def test_tap_echo_through_loss_and_reordering(request, ns):
    """5% loss and 10% reordering of what the host sends to the guest, as netem on
    the tap's root qdisc would do. This kernel has no sch_netem, so net_lossy.py
    does netem's job between the tap and QEMU's socket netdev."""
    port = netvm.free_port()
    relay = ns.popen([sys.executable, os.path.join(HERE, "net_lossy.py"), ns.tap, str(port),
                      "0.05", "0.10"])
    try:
        assert relay.stdout.readline().strip() == "lossy: ready"
        dev = ["-netdev", f"socket,id=n0,connect=127.0.0.1:{port}",
               "-device", "virtio-net-pci,netdev=n0"]
        with netvm.Guest(request.node.name, f"app=net {STATIC}", dev, netns=ns) as g:
            g.wait_for(r"^net: serving")
            echo(ns, g, 64 << 20, timeout=600)
            run = stop(g)
    finally:
        relay.terminate()
        out = relay.communicate(timeout=10)[0]
    run.lines.append((0, out.strip()))
    m = re.search(r"lossy: (\d+) frames, (\d+) dropped, (\d+) reordered", out)
    assert m and int(m.group(2)) > 0 and int(m.group(3)) > 0, out


@needs_tap
def test_tap_link_down_up(request, ns):
    with netvm.Guest(request.node.name, f"app=net {STATIC}", tap_net(ns), netns=ns) as g:
        g.wait_for(r"^net: serving")
        ns.run(["ping", "-c", "2", "-i", "0.2", GUEST_IP], timeout=30)
        at = g.mark()
        g.monitor("set_link n0 off")
        g.wait_for(r"^net: vn0: link down$", timeout=10, after=at)
        p = ns.run(["ping", "-c", "2", "-W", "1", GUEST_IP], timeout=30, check=False)
        assert " 0 received" in p.stdout, p.stdout
        at = g.mark()
        g.monitor("set_link n0 on")
        g.wait_for(r"^net: vn0: link up$", timeout=10, after=at)
        ns.run(["ping", "-c", "3", "-i", "0.2", GUEST_IP], timeout=30)
        at = g.mark()
        g.monitor("announce_self")
        g.wait_for(r"^net: vn0: announcing \(gratuitous ARP\)$", timeout=10, after=at)
        stop(g).expect(PASS, [r"link changes 2, announcements [1-9]"])


# Device options: ring layout, buffers, offloads, notification suppression, interrupts.
# (name, transport, device options, features expected, interrupts, interface): every
# row asserts the exact negotiated features and the counters each implies
# (tests/qemu/netcheck.py), so a row whose option were ignored fails.
F = nc.features
MATRIX = [
    ("split", "", F()),
    ("packed", ",packed=on", F(add=["RING_PACKED"])),
    ("no-mrg-rxbuf", ",mrg_rxbuf=off", F(drop=["MRG_RXBUF"])),
    ("no-mrg-no-tso", ",mrg_rxbuf=off,guest_tso4=off,guest_tso6=off,guest_ecn=off",
     F(drop=["MRG_RXBUF"] + nc.NO_GUEST_TSO)),
    # QEMU drops the TSO features with the checksums they need.
    ("no-csum", ",csum=off,guest_csum=off", F(drop=nc.NO_CSUM)),
    ("no-tso", ",host_tso4=off,host_tso6=off,guest_tso4=off,guest_tso6=off,guest_ecn=off",
     F(drop=nc.NO_TSO)),
    ("no-event-idx", ",event_idx=off", F(drop=["EVENT_IDX"])),
    ("no-indirect", ",indirect_desc=off", F(drop=["INDIRECT_DESC"])),
    ("intx", ",vectors=0", F()),
    ("packed-intx-no-mrg", ",packed=on,vectors=0,mrg_rxbuf=off",
     F(drop=["MRG_RXBUF"], add=["RING_PACKED"])),
    ("no-ctrl-vq", ",ctrl_vq=off,ctrl_rx=off,guest_announce=off", F(drop=nc.NO_CTRL)),
    ("legacy", ",disable-modern=on", F()),
]
# On virtio-mmio (tests/qemu/transport.py): packed, the "big" buffers, no EVENT_IDX,
# and polled (no interrupt at all: acpi=off).
MMIO_MATRIX = [
    ("mmio-packed", tp.MMIO, ",packed=on", F(add=["RING_PACKED"])),
    ("mmio-no-mrg-no-tso", tp.MMIO, ",mrg_rxbuf=off,guest_tso4=off,guest_tso6=off,guest_ecn=off",
     F(drop=["MRG_RXBUF"] + nc.NO_GUEST_TSO)),
    ("mmio-legacy-no-event-idx", tp.MMIO_LEGACY, ",event_idx=off,indirect_desc=off",
     F(drop=["EVENT_IDX", "INDIRECT_DESC"])),
    ("mmio-cmdline-polled-no-csum", tp.MMIO_CMDLINE, ",csum=off,guest_csum=off",
     F(drop=nc.NO_CSUM)),
]
TAP_MATRIX = [(n, tp.PCI, o, f) for n, o, f in MATRIX] + MMIO_MATRIX


def irq_of(t, opts):
    if t is tp.MMIO_CMDLINE:
        return "polling"
    if t.mmio:
        return "GSI 47 level"
    return "INTx" if "vectors=0" in opts else "MSI-X"


@needs_tap
@pytest.mark.parametrize("t,opts,want", [m[1:] for m in TAP_MATRIX],
                         ids=[m[0] for m in TAP_MATRIX])
def test_tap_matrix(request, ns, t, opts, want):
    """50 pings and 8 MiB echoed (sha256 both sides); then the features and offload
    counters the options must have produced."""
    with netvm.Guest(request.node.name, f"app=net {STATIC}", tap_net(ns, opts, t), netns=ns,
                     machine=t.machine) as g:
        g.wait_for(r"^net: serving")
        p = ns.run(["ping", "-q", "-c", "50", "-i", "0.01", "-W", "2", GUEST_IP], timeout=60,
                   check=False)
        assert "50 packets transmitted, 50 received" in p.stdout, p.stdout
        echo(ns, g, 8 << 20)
        run = stop(g)
    legacy = "disable-modern=on" in opts or t is tp.MMIO_LEGACY
    nc.check(run, want, irq_of(t, opts), "legacy" if legacy else "modern",
             ring_reset=not t.mmio)


def test_shell_brings_network_up(boot):
    """app=shell with a virtio-net device: the network comes up by itself and DHCP
    completes while the shell waits for input (the console's idle hook polls it)."""
    run = boot(cmdline="app=shell", devices=["-netdev", "user,id=n0,restrict=on",
                                             "-device", "virtio-net-pci,netdev=n0"],
               input=b"ifconfig\rpoweroff\r", input_delay=4.0, timeout=60)
    run.expect(PASS, [r"^net: vn0 up, link up, DHCP$",
                      r"net: vn0: DHCP lease 10\.0\.2\.15/24",
                      r"^\s+inet 10\.0\.2\.15  netmask 255\.255\.255\.0"])


def test_net_off_keeps_network_down(boot):
    run = boot(cmdline="app=shell net=off", devices=["-netdev", "user,id=n0,restrict=on",
                                                     "-device", "virtio-net-pci,netdev=n0"],
               input=b"poweroff\r", input_delay=1.0, timeout=60)
    run.expect(PASS, [r"^shell: type 'help'"], absent=[r"^net: vn0 up"])
