#!/usr/bin/python3
"""Write the network fuzzer's seed corpus: tests/fuzz/corpus/net/.

Each seed is a sequence of records in the format tests/fuzz/fuzz_net.c reads
(nbufs, extra, virtio_net_hdr, little-endian length, frame): honest frames
from the peer 10.0.0.1 / fe80::1 to the guest 10.0.0.2 / fe80::2 (ARP, ICMP
echo, UDP, a TCP connection with segments past a hole, IPv6 extension
headers and fragments, a TSO frame with a partial checksum).
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "qemu"))
from net_oooflood import csum  # noqa: E402  (the Internet checksum)
GUEST_MAC = bytes([0x52, 0x54, 0, 0x12, 0x34, 0x56])
PEER_MAC = bytes([0x52, 0x54, 0, 0, 0, 1])
SRC, DST = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
SRC6 = bytes([0xfe, 0x80] + [0] * 13 + [1])
DST6 = bytes([0xfe, 0x80] + [0] * 13 + [2])


def ip4(proto, l4, flags_frag=0x4000):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, flags_frag, 64, proto, 0, SRC,
                    DST)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return GUEST_MAC + PEER_MAC + b"\x08\x00" + h + l4


def tcp4(sport, dport, seq, ack, flags, payload=b""):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = SRC + DST + struct.pack("!BBH", 0, 6, len(t))
    return ip4(6, t[:16] + struct.pack("!H", csum(pseudo + t)) + t[18:])


def ip6(nh, payload):
    return (GUEST_MAC + PEER_MAC + b"\x86\xdd" + struct.pack("!IHBB", 6 << 28, len(payload), nh, 64)
            + SRC6 + DST6 + payload)


def rec(frame, nbufs=1, extra=0, hdr=b"\0" * 10 + struct.pack("<H", 1)):
    return bytes([nbufs, extra]) + hdr + struct.pack("<H", len(frame)) + frame


def icmp_echo():
    m = b"\x08\x00\x00\x00\x00\x01\x00\x01" + b"x" * 32
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


SEEDS = {
    "arp": rec(GUEST_MAC + PEER_MAC + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x800, 6, 4, 1)
               + PEER_MAC + SRC + b"\0" * 6 + DST),
    "icmp_echo": rec(ip4(1, icmp_echo())),
    # The guest's ISN is 1000 on the host (tests/host/net_host.c): the handshake completes.
    "tcp_syn_ooo": rec(tcp4(40000, 9, 1000, 0, 2)) + rec(tcp4(40000, 9, 1001, 1001, 0x10))
    + b"".join(rec(tcp4(40000, 9, 1003 + 2 * i, 1001, 0x18, b"y")) for i in range(8))
    + rec(tcp4(40000, 9, 1001, 1001, 0x18, b"h")) + bytes([0, 50]),
    "tcp_ooo_pages": rec(tcp4(40002, 9, 7000, 0, 2)) + rec(tcp4(40002, 9, 7001, 1001, 0x10))
    + b"".join(rec(tcp4(40002, 9, 7002 + 601 * i, 1001, 0x18, b"p" * 600)) for i in range(5)),
    "udp": rec(ip4(17, struct.pack("!HHHH", 5000, 7, 12, 0) + b"abcd")),
    "ipv6_hbh_tcp": rec(ip6(0, bytes([6, 0, 1, 4, 0, 0, 0, 0]) + struct.pack(
        "!HHIIBBHHH", 40000, 9, 1, 0, 5 << 4, 2, 65535, 0, 0))),
    "ipv6_frag": rec(ip6(44, bytes([6, 0, 0, 1, 0, 0, 0, 7]) + b"z" * 24)),
    "ipv4_frag": rec(ip4(6, b"q" * 40, flags_frag=0x2000)),
    "tso_needs_csum": rec(tcp4(40001, 5001, 1, 0, 0x18, b"w" * 3000),
                          hdr=struct.pack("<BBHHHHH", 1, 1, 1448, 54, 34, 16, 1)),
}


def main():
    out = os.path.join(HERE, "corpus", "net")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
