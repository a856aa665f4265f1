"""virtio-net against a second device implementation: DPDK 22.11's vhost library
behind dpdk-testpmd's vhost PMD (scripts/vhost_user_net.py), which owns the
rings and moves frames from its own polling thread. testpmd forwards in
`icmpecho` mode, so it is the guest's only peer: it answers ARP and ICMP echo
for any address, and nothing leaves the vhost-user socket.

The guest pings the peer (ARP, then 50 pings 20 ms apart, then 10 of
1428-byte frames), and the frames are counted on both sides: the guest's
ifconfig counters against testpmd's port counters once it has exited.

What the backend offers (GET_FEATURES on the socket before QEMU connects):
VERSION_1, RING_PACKED, IN_ORDER, EVENT_IDX, INDIRECT_DESC, MRG_RXBUF, MQ,
CSUM, GUEST_CSUM, GUEST_TSO4/6, CTRL_VQ, CTRL_RX, GUEST_ANNOUNCE, ...; no
NOTIFICATION_DATA, no RING_RESET, no HOST_TSO4/6 (the vhost PMD's tso=0).
QEMU 7.2's virtio-net-pci has neither an in_order nor a notification_data
property, so the guest is never offered IN_ORDER or NOTIFICATION_DATA here:
RING_PACKED (packed=on) is what meets a real device.

QEMU 7.2 under TCG segfaults when a vhost-user virtio-net device is used
with MSI-X (see scripts/vhost_user_net.py): the device runs on INTx
(vectors=0), and test_vhost_user_net_msix_qemu_bug keeps the evidence.
"""
import re
import shutil
import subprocess
import tempfile

import pytest

from vm import PASS  # first: vm puts scripts/ on sys.path
import netcheck as nc
import vhost_user_net as vun

PEER = "10.99.0.1"
STATIC = "ip=10.99.0.2/24 gw=10.99.0.1"

REASON = vun.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=str(REASON))


@pytest.fixture
def workdir():
    # Under /tmp: a unix socket path must stay under 108 bytes.
    d = tempfile.mkdtemp(prefix="vhost-user-net-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def counters(run):
    """The guest's (rx packets, tx packets) from the last ifconfig."""
    rx = [int(m.group(1)) for _, t in run.lines
          for m in [re.match(r"^\s+RX packets (\d+) ", t)] if m]
    tx = [int(m.group(1)) for _, t in run.lines
          for m in [re.match(r"^\s+TX packets (\d+) ", t)] if m]
    if not rx or not tx:
        run.fail("no ifconfig counters in the log")
    return rx[-1], tx[-1]


def ping_boot(boot, workdir, dev, timeout=180):
    d = vun.NetDaemon(workdir)
    with d:
        offered = d.backend_features()
        run = boot(cmdline=f"app=shell {STATIC}", machine=d.machine, mem=d.mem,
                   devices=d.devices(dev),
                   input=(f"ping {PEER} -c 1\n"                 # ARP resolved
                          # -W 5: testpmd polls from a process the 2-core host may
                          # starve for a second; its late replies still count.
                          f"ping {PEER} -c 50 -i 0.02 -W 5\n"
                          f"ping {PEER} -c 10 -i 0.05 -s 1400 -W 5\n"
                          "virtio\nifconfig\npoweroff\n").encode(),
                   timeout=timeout)
    if d.proc.returncode != 0 or d.stats is None:
        run.fail(f"dpdk-testpmd exited with {d.proc.returncode}, counters {d.stats}:\n"
                 f"{d.output()}")
    return run, d, offered


# What the guest negotiates with testpmd by default (the backend has no HOST_TSO4/6).
VU_BASE = nc.features(drop=["HOST_TSO4", "HOST_TSO6"])
F = nc.features
# (name, QEMU device options, ring layout, features negotiated: exactly)
MATRIX = [
    ("split", "", "split", F(base=VU_BASE)),
    ("packed", ",packed=on", "packed", F(add=["RING_PACKED"], base=VU_BASE)),
    ("no-mrg-rxbuf", ",mrg_rxbuf=off", "split", F(drop=["MRG_RXBUF"], base=VU_BASE)),
    ("packed-no-mrg-rxbuf", ",packed=on,mrg_rxbuf=off", "packed",
     F(drop=["MRG_RXBUF"], add=["RING_PACKED"], base=VU_BASE)),
    ("no-event-idx", ",event_idx=off", "split", F(drop=["EVENT_IDX"], base=VU_BASE)),
    ("packed-no-event-idx-no-indirect", ",packed=on,event_idx=off,indirect_desc=off",
     "packed", F(drop=["EVENT_IDX", "INDIRECT_DESC"], add=["RING_PACKED"], base=VU_BASE)),
    ("no-csum", ",csum=off,guest_csum=off,guest_tso4=off,guest_tso6=off", "split",
     F(drop=nc.NO_CSUM, base=VU_BASE)),
]


@pytest.mark.parametrize("name,dev,layout,want", MATRIX, ids=[m[0] for m in MATRIX])
def test_vhost_user_net_ping(boot, workdir, name, dev, layout, want):
    run, d, offered = ping_boot(boot, workdir, dev)
    names = vun.feature_names(offered)
    for f in ("VERSION_1", "RING_PACKED", "IN_ORDER", "EVENT_IDX", "INDIRECT_DESC",
              "MRG_RXBUF", "CSUM", "GUEST_CSUM", "CTRL_VQ", "MQ"):
        assert f in names, f"backend does not offer {f}: {names}"
    for f in ("NOTIFICATION_DATA", "RING_RESET", "HOST_TSO4"):
        assert f not in names, f"backend offers {f}: {names}"
    run.expect(PASS, [r"^virtio: virtio-net 00:0\d\.0: modern interface, 3 queues, "
                      r"interrupts INTx$",
                      r"^virtio-net: vn0: 52:54:00:12:34:56 mtu 1500 link up, rx "
                      rf"{'mergeable' if 'MRG_RXBUF' in want else 'big'} ",
                      # The backend offers no RING_RESET (asserted above).
                      rf"^virtio-net: vn0: features "
                      rf"{' '.join(nc.printed_features(want, ring_reset=False))}$"] + [
        r"^net: vn0 up, link up, static address$",
        r"^1 packets transmitted, 1 received, 0% packet loss",
        # testpmd polls from a process the 2-core host may starve for a moment:
        # a late reply is not a lost frame (the counters below must agree).
        r"^50 packets transmitted, (4[5-9]|50) received",
        r"^1408 bytes from 10\.99\.0\.1: icmp_seq=\d+ ttl=255 ",
        r"^10 packets transmitted, (8|9|10) received",
        rf"^  queue 0   256 {layout} ",
        rf"^  queue 1   256 {layout} ",
        r"^    TX errors: ring-full 0  busy 0  linearized 0  other 0$",
        r"^poweroff$"],
        absent=[r"broken", r"EXCEPTION", r"RX drops: runt [1-9]",
                r"bad-num-buffers [1-9]", r"too-long [1-9]"])
    c = nc.counters(run)
    # Pings only (no TCP): no checksum or TSO figures to expect; the rings' are.
    if c["txq"]["packed"] != (layout == "packed") or \
            (c["txq"]["indirect"] > 0) != ("INDIRECT_DESC" in want):
        run.fail(f"tx0 {c['txq']} with {layout} ring, features {want}")
    guest_rx, guest_tx = counters(run)
    s = d.stats
    print(f"{name}: backend offers {' '.join(names)}")
    print(f"{name}: guest rx {guest_rx} tx {guest_tx}; testpmd rx {s['rx']} tx {s['tx']} "
          f"(dropped {s['rx_dropped']}/{s['tx_dropped']})")
    # Every frame the guest counted crossed the device: at least 54 requests and
    # replies each way (1 + 45 + 8 pings or more, and ARP). The guest reads its counters
    # just before poweroff; a frame or two may still leave it after that.
    if not (54 <= guest_tx <= s["rx"] <= guest_tx + 4 and
            54 <= guest_rx <= s["tx"] <= guest_rx + 4 and s["tx_dropped"] == 0):
        run.fail(f"counters disagree: guest rx {guest_rx} tx {guest_tx}, testpmd {s}")


def test_vhost_user_net_msix_qemu_bug(boot, workdir):
    """The reason for vectors=0: QEMU 7.2 with TCG dies of SIGSEGV (status -11)
    as the guest sets DRIVER_OK on a vhost-user virtio-net with MSI-X. When a
    QEMU without the bug arrives, this test fails and says so: drop vectors=0."""
    d = vun.NetDaemon(workdir)
    with d:
        devs = d.devices()
        devs[-1] = devs[-1].replace(",vectors=0", "")
        run = boot(cmdline=f"app=shell {STATIC}", machine=d.machine, mem=d.mem,
                   devices=devs, input=b"poweroff\n", timeout=120)
    if run.rc == PASS:
        run.fail("QEMU no longer crashes with MSI-X: remove vectors=0 from "
                 "scripts/vhost_user_net.py and this test")
    run.expect(-11, [r"^virtio: virtio-net 00:0\d\.0: modern interface, 3 queues, "
                     r"interrupts MSI-X$"], absent=[r"^net: vn0 up"])
    ver = subprocess.run([run.argv[0], "--version"], stdout=subprocess.PIPE, text=True).stdout
    print(f"QEMU {ver.splitlines()[0]}: SIGSEGV with MSI-X, as expected")
