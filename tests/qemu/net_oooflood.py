"""Out-of-order flood: one-byte TCP segments past a hole, on real connections.

Opens CONNS TCP connections to GUEST:PORT through the host's own stack,
reads each connection's sequence numbers with TCP_REPAIR (root), and then
sends, through a raw IP socket, SEGS one-byte segments per connection that
start one byte past what the guest expects (a hole it never sees filled),
each a byte apart: every segment is queued out of order by the guest.
Rounds are paced (16 frames, then 1 ms) so that the tap's own queue on the
host does not overflow: what is lost must be lost by the guest.
Every ROUND seconds the flood is sent again, for SECONDS in all; the
connections stay open (the hole is never filled) until the end.
    net_oooflood.py GUEST PORT CONNS SEGS SECONDS ROUND
Prints "flood: round N sent K segments" after each round, and at the end
"flood: R rounds, S segments"; exits 0.
"""
import socket
import struct
import sys
import time

TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def segment(src, dst, sport, dport, seq, ack, payload):
    """An IPv4 datagram carrying one TCP segment (ACK|PSH) with both checksums."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xffffffff, ack & 0xffffffff,
                      5 << 4, 0x18, 65535, 0, 0) + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def seqs(s):
    """(next sequence number we send, next one we expect) of connected socket s."""
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
    snd = struct.unpack("I", s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
    rcv = struct.unpack("I", s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0)
    return snd, rcv


def main():
    guest, port, nconn, nseg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    seconds, round_s = float(sys.argv[5]), float(sys.argv[6])
    conns = []
    for _ in range(nconn):
        s = socket.create_connection((guest, port), timeout=10)
        src, sport = s.getsockname()
        snd, rcv = seqs(s)
        conns.append((s, src, sport, snd, rcv))
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    frames = [segment(src, guest, sport, port, snd + 1 + 2 * i, rcv, b"x")
              for _, src, sport, snd, rcv in conns for i in range(nseg)]
    end = time.monotonic() + seconds
    rounds = 0
    while True:
        for i, f in enumerate(frames):
            if i % 16 == 15:
                time.sleep(0.001)  # paced: the tap's queue must not drop the pings
            while True:
                try:
                    raw.sendto(f, (guest, 0))
                    break
                except BlockingIOError:
                    time.sleep(0.001)
        rounds += 1
        print(f"flood: round {rounds} sent {len(frames)} segments", flush=True)
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(round_s, left))
    print(f"flood: {rounds} rounds, {rounds * len(frames)} segments", flush=True)
    for c in conns:
        c[0].close()


if __name__ == "__main__":
    main()
