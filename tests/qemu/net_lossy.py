"""A lossy wire between a tap and QEMU's socket netdev: netem in user space.

The kernel here has no sch_netem, so the fault test runs QEMU with
`-netdev socket,connect=127.0.0.1:PORT` (a TCP stream of frames, each
after its 4-byte big-endian length: no silent drops of its own) and this
relay between that stream and the tap in the test's namespace. Each frame
towards the guest (what netem on the tap's root qdisc would see; "both"
as the last argument: either way) is dropped with probability LOSS, or
held back and sent after the next frame (reordered) with probability
REORDER; a held frame leaves after 2 ms at the latest.
    net_lossy.py TAP PORT LOSS REORDER [both]
It prints "lossy: ready" once listening; on SIGTERM what it did, and exits.
"""
import fcntl
import os
import random
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000


def main():
    tap_name, port = sys.argv[1], int(sys.argv[2])
    loss, reorder = float(sys.argv[3]), float(sys.argv[4])
    both = len(sys.argv) > 5 and sys.argv[5] == "both"
    rng = random.Random(7)
    tap = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", tap_name.encode(), IFF_TAP | IFF_NO_PI))
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(1)
    stats = {"frames": 0, "dropped": 0, "reordered": 0}
    held = {"to_guest": None, "to_host": None}

    def out(direction, frame):
        if direction == "to_guest":
            qemu.sendall(struct.pack(">I", len(frame)) + frame)
        else:
            os.write(tap, frame)

    def forward(direction, frame):
        stats["frames"] += 1
        if direction == "to_host" and not both:
            out(direction, frame)
            return
        r = rng.random()
        if r < loss:
            stats["dropped"] += 1
            return
        h = held[direction]
        if h is None and r < loss + reorder:
            held[direction] = (frame, time.monotonic())
            stats["reordered"] += 1
            return
        out(direction, frame)
        if h is not None:
            held[direction] = None
            out(direction, h[0])

    def done(*_):
        print(f"lossy: {stats['frames']} frames, {stats['dropped']} dropped, "
              f"{stats['reordered']} reordered", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, done)
    print("lossy: ready", flush=True)
    qemu, _ = lsock.accept()
    buf = b""
    while True:
        ready, _, _ = select.select([tap, qemu], [], [], 0.002)
        for fd in ready:
            if fd is qemu:
                data = qemu.recv(1 << 20)
                if not data:
                    done()
                buf += data
                while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                    n = struct.unpack(">I", buf[:4])[0]
                    forward("to_host", buf[4:4 + n])
                    buf = buf[4 + n:]
            else:
                forward("to_guest", os.read(tap, 65536))
        now = time.monotonic()
        for d, h in held.items():
            if h is not None and now - h[1] > 0.002:
                held[d] = None
                out(d, h[0])


if __name__ == "__main__":
    main()
