"""Send SIZE bytes to a TCP echo server and read them back; print both sha256.

Run on the host side of the tap (inside the test's network namespace):
    net_echo.py HOST PORT SIZE
Prints "sent N sha256 X" and "received N sha256 Y in T s (R Mbit/s each way)".
"""
import hashlib
import random
import socket
import sys
import threading
import time


def main():
    host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(size)
    chunk = 256 * 1024
    sent_hash, recv_hash = hashlib.sha256(), hashlib.sha256()
    s = socket.create_connection((host, port), timeout=30)
    s.settimeout(120)
    got = [0]

    def reader():
        while got[0] < size:
            data = s.recv(1 << 20)
            if not data:
                break
            recv_hash.update(data)
            got[0] += len(data)

    t = threading.Thread(target=reader)
    start = time.monotonic()
    t.start()
    left = size
    while left:
        n = min(chunk, left)
        data = rng.randbytes(n)
        sent_hash.update(data)
        s.sendall(data)
        left -= n
    t.join(180)
    secs = time.monotonic() - start
    s.close()
    print(f"sent {size} sha256 {sent_hash.hexdigest()}")
    print(f"received {got[0]} sha256 {recv_hash.hexdigest()} in {secs:.2f} s "
          f"({size * 8 / secs / 1e6:.0f} Mbit/s each way)")
    return 0 if got[0] == size and sent_hash.digest() == recv_hash.digest() else 1


if __name__ == "__main__":
    sys.exit(main())
