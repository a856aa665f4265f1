"""What a virtio-net run negotiated and which offloads it used, from the guest's
log: the driver's bring-up lines and the ifconfig block app=net (or the shell's
`ifconfig`) prints at the end. A matrix row states the features it expects;
check() asserts exactly those were negotiated and that the counters agree:

  CSUM        TX frames with NEEDS_CSUM > 0, none summed by lwIP      (else the reverse)
  GUEST_CSUM  RX frames with DATA_VALID/NEEDS_CSUM > 0, none checked
              by lwIP                                                  (else the reverse)
  HOST_TSO4   TX GSO frames > 0, carrying more segments than frames    (else 0 and 0)
  GUEST_TSO4  RX GSO frames > 0                                        (else 0)
  MRG_RXBUF   "mergeable" receive buffers                              (else "big", one
              buffer per frame)
  INDIRECT_DESC  transmit buffers in indirect tables > 0               (else 0 on rx0, tx0)
  RING_PACKED    every queue packed                                    (else split)
  CTRL_VQ        a control queue that carried commands                 (else none)
  EVENT_IDX      the feature line (no counter tells it apart)

A row whose option QEMU or the driver ignored fails here.
"""
import re

# What QEMU 7.2's virtio-net offers a tap (and the driver accepts) by default: the
# device's bits and the ring's. The interface adds its own (printed_features()).
DEFAULT = ("CSUM GUEST_CSUM MAC GUEST_TSO4 GUEST_TSO6 HOST_TSO4 HOST_TSO6 MRG_RXBUF "
           "STATUS CTRL_VQ CTRL_RX GUEST_ANNOUNCE INDIRECT_DESC EVENT_IDX").split()
# The order the driver prints them in (drivers/virtio/features.c): the device's
# bits by number, then the reserved bits in the order of VIRTIO 1.2 section 6.
DEVICE_ORDER = DEFAULT[:12]
TRANSPORT_ORDER = ["ANY_LAYOUT", "INDIRECT_DESC", "EVENT_IDX", "VERSION_1", "RING_PACKED",
                   "IN_ORDER", "RING_RESET"]
ORDER = DEVICE_ORDER + TRANSPORT_ORDER

NO_CSUM = ["CSUM", "GUEST_CSUM", "HOST_TSO4", "HOST_TSO6", "GUEST_TSO4", "GUEST_TSO6"]
NO_TSO = ["HOST_TSO4", "HOST_TSO6", "GUEST_TSO4", "GUEST_TSO6"]
NO_GUEST_TSO = ["GUEST_TSO4", "GUEST_TSO6"]
NO_CTRL = ["CTRL_VQ", "CTRL_RX", "GUEST_ANNOUNCE"]


def features(drop=(), add=(), base=DEFAULT):
    """The expected feature list: base without drop, with add, in print order."""
    for f in list(drop) + list(add):
        assert f in ORDER, f
    want = (set(base) - set(drop)) | set(add)
    return [f for f in ORDER if f in want]


def printed_features(want, interface="modern", ring_reset=True):
    """The feature line for want on an interface: a legacy device negotiates
    ANY_LAYOUT, a modern one VERSION_1 and, where the transport offers it (QEMU 7.2:
    virtio-pci only), RING_RESET."""
    extra = ["ANY_LAYOUT"] if interface == "legacy" else \
        ["VERSION_1"] + (["RING_RESET"] if ring_reset else [])
    return features(base=list(want) + extra)


def _num(run, pattern, what):
    hit = run.find(pattern)
    if not hit:
        run.fail(f"no line matching {pattern!r} ({what})")
    return [int(g) for g in hit[1].groups()]


def _last(run, pattern):
    """The last line matching pattern (ifconfig may run more than once)."""
    rx = re.compile(pattern)
    found = None
    for _, text in run.lines:
        m = rx.search(text)
        if m:
            found = m
    return found


def counters(run):
    """The counters of the last ifconfig block, as a dict."""
    pats = {
        "rx": r"^\s+RX packets (\d+)  bytes \d+  gso (\d+)  csum-ok (\d+)  buffers (\d+)$",
        "tx": r"^\s+TX packets (\d+)  bytes \d+  gso (\d+) \((\d+) segments\)  csum (\d+)  ",
        "sw": r"^\s+checksums in software: RX TCP (\d+) \(lwIP\) (\d+) \(driver\), "
              r"TX TCP (\d+) \(lwIP\)$",
        "rxq": r"^\s+rx0\s+\d+ entries \(\d+ free\)( packed)?: (\d+) added, \d+ used, .* "
               r"(\d+) indirect$",
        "txq": r"^\s+tx0\s+\d+ entries \(\d+ free\)( packed)?: (\d+) added, \d+ used, .* "
               r"(\d+) indirect$",
        "ctrl": r"^\s+ctrl\s+\d+ entries \(\d+ free\)( packed)?: (\d+) added, .* "
                r"(\d+) indirect$",
        "mode": r"^\s+rx: (mergeable|big) buffers,",
    }
    c = {}
    for k, p in pats.items():
        m = _last(run, p)
        if not m and k != "ctrl":
            run.fail(f"ifconfig: no line matching {p!r}")
        c[k] = m.groups() if m else None
    rx_packets, rx_gso, rx_csum, rx_bufs = map(int, c["rx"])
    tx_packets, tx_gso, tx_segs, tx_csum = map(int, c["tx"])
    rx_lwip, rx_drv, tx_lwip = map(int, c["sw"])
    out = dict(rx_packets=rx_packets, rx_gso=rx_gso, rx_csum_ok=rx_csum, rx_buffers=rx_bufs,
               tx_packets=tx_packets, tx_gso=tx_gso, tx_segments=tx_segs, tx_csum=tx_csum,
               rx_csum_lwip=rx_lwip, rx_csum_driver=rx_drv, tx_csum_lwip=tx_lwip,
               mergeable=c["mode"][0] == "mergeable")
    for q in ("rxq", "txq", "ctrl"):
        if c[q] is None:
            out[q] = None
        else:
            out[q] = dict(packed=bool(c[q][0]), added=int(c[q][1]), indirect=int(c[q][2]))
    return out


def check(run, want, irq, interface="modern", tso_traffic=True, ring_reset=True):
    """Assert the features in want (exact, both at bring-up and in ifconfig, with
    the interface's own: printed_features()), the interrupt mode, and the offload
    counters each feature implies.
    tso_traffic: the run moved enough TCP data both ways for GSO frames."""
    feats = " ".join(printed_features(want, interface, ring_reset))
    run.expect(None, [rf"^virtio: virtio-net \S+: {interface} interface, \d+ queues, "
                      rf"interrupts {re.escape(irq)}$",
                      rf"^virtio-net: vn0: features {feats}$",
                      rf"^    ether [0-9a-f:]+  \(virtio-net \S+, interrupts {re.escape(irq)}\)$",
                      rf"^    features {feats}$"])
    c = counters(run)
    has = set(want)
    bad = []

    def need(cond, what):
        if not cond:
            bad.append(what)

    need(c["rx_packets"] > 0 and c["tx_packets"] > 0, "traffic both ways")
    # (feature, frames the device summed or vouched for, TCP checksums lwIP did itself)
    for f, offloaded, by_lwip in (("CSUM", "tx_csum", "tx_csum_lwip"),
                                  ("GUEST_CSUM", "rx_csum_ok", "rx_csum_lwip")):
        on = f in has
        need((c[offloaded] > 0) == on and (c[by_lwip] > 0) != on,
             f"{offloaded} {'> 0' if on else '0'} and {by_lwip} {'0' if on else '> 0'} "
             f"({'' if on else 'no '}{f})")
    if "HOST_TSO4" in has and tso_traffic:
        need(c["tx_gso"] > 0 and c["tx_segments"] > c["tx_gso"],
             "TX GSO frames carrying several segments (HOST_TSO4)")
    if "HOST_TSO4" not in has:
        need(c["tx_gso"] == 0 and c["tx_segments"] == 0, "no TX GSO frame (no HOST_TSO4)")
    if "GUEST_TSO4" in has and tso_traffic:
        need(c["rx_gso"] > 0, "RX GSO frames (GUEST_TSO4)")
    if "GUEST_TSO4" not in has:
        need(c["rx_gso"] == 0, "no RX GSO frame (no GUEST_TSO4)")
    if "MRG_RXBUF" in has:
        need(c["mergeable"], "mergeable receive buffers (MRG_RXBUF)")
    else:
        need(not c["mergeable"] and c["rx_buffers"] == c["rx_packets"],
             "big receive buffers, one per frame (no MRG_RXBUF)")
    if "INDIRECT_DESC" in has:
        need(c["txq"]["indirect"] > 0, "transmit buffers in indirect tables (INDIRECT_DESC)")
    else:
        need(c["txq"]["indirect"] == 0 and c["rxq"]["indirect"] == 0,
             "no indirect table (no INDIRECT_DESC)")
    packed = "RING_PACKED" in has
    for q in ("rxq", "txq", "ctrl"):
        if c[q] is not None:
            need(c[q]["packed"] == packed, f"{q} {'packed' if packed else 'split'}")
    if "CTRL_VQ" in has:
        need(c["ctrl"] is not None and c["ctrl"]["added"] > 0, "control queue used (CTRL_VQ)")
    else:
        need(c["ctrl"] is None, "no control queue (no CTRL_VQ)")
    print(f"{run.name}: features {feats}; counters {c}")
    if bad:
        run.fail("offload counters disagree with the negotiated features: " + "; ".join(bad) +
                 f"\ncounters: {c}")
    return c
