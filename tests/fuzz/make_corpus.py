#!/usr/bin/python3
"""Write the fuzzers' seed corpus: tests/fuzz/corpus/{split,packed}/.

Each seed is a header (size selector, feature bits, indirect tables, indirect
max, queue index) and a script of operations in the byte format that
tests/fuzz/fuzz_vq.c reads (one selector byte, then its arguments). The seeds
are small, valid, honest-device sessions; libFuzzer mutates from there.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

INDIRECT, EVENT_IDX, IN_ORDER, LEGACY, NOTIF = 1, 2, 4, 8, 16


def add(nout, nin, length=16):
    # op 0: s=0 (no mistake), nout, nin, a length per entry, a chain shape per
    # non-empty chain (shape 0: one ring).
    b = [0, 0, nout, nin] + [length] * (nout + nin)
    b += [0] * ((nout > 0) + (nin > 0))
    return b


def single(write):
    return [2, 1 if write else 0, 24]


def piecewise(nout, nin):
    # op 3: s=0, how=0, nout, nin, short_call, (entry lengths), gout, gin, then
    # one chain shape per group.
    b = [3, 0, 0, nout, nin, 0] + [8] * (nout + nin)
    if nout:
        b.append(0)
    if nin:
        b.append(0)
    gout = 1 if nout else 0
    gin = 1 if nin else 0
    return b + [0] * (gout + gin)


def kick():
    return [8, 1]


def consume(n=8):
    return [9, n - 1]


def complete(full=True):
    return [10, 0, 1 if full else 0]


def publish():
    return [12]


def get(n=8):
    return [4, n - 1]


def enable_cb():
    return [7, 1]


def delayed():
    return [7, 4]


def disable_cb():
    return [7, 0]


def batch(k=3):
    return [13, k - 2, 1]


def events(packed):
    # split: avail_event = last_avail + 0; packed: ENABLE at the device position
    return [14, 0] if packed else [14, 0, 0]


def reset(detach=0):
    return [17, 4, detach] if detach else [17, 0]


def resize(sel):
    return [18, 0, sel, 0]


def session(rounds, nbuf, packed):
    b = []
    for _ in range(rounds):
        for i in range(nbuf):
            b += add(1, 1) if i % 2 else add(2, 2)
        b += kick() + consume() + events(packed)
        for _ in range(nbuf):
            b += complete()
        b += publish() + get() + enable_cb()
    return b


def seeds(packed):
    small = 7 if packed else 3     # 8 entries
    mid = 0x8f if packed else 6    # 32 / 64 entries
    s = {}
    s["basic"] = [small, 0, 0, 0, 0] + session(3, 3, packed)
    s["event_idx"] = [small, EVENT_IDX, 0, 0, 1] + session(4, 4, packed) + delayed() + session(1, 2, packed)
    s["indirect"] = [mid, INDIRECT | EVENT_IDX, 0, 0, 2] + \
        add(4, 4) + add(1, 6) + single(True) + piecewise(2, 3) + kick() + consume() + \
        complete() + complete() + complete() + complete() + publish() + get() + enable_cb()
    s["in_order"] = [small, IN_ORDER | EVENT_IDX, 0, 0, 3] + \
        add(1, 1) + add(1, 1) + add(1, 1) + add(2, 1) + kick() + consume() + batch(3) + \
        complete() + publish() + get() + enable_cb() + session(2, 3, packed)
    s["reset"] = [small, INDIRECT | NOTIF, 0, 0, 4] + \
        add(1, 1) + add(3, 3) + kick() + consume(1) + complete() + publish() + \
        reset(detach=1) + session(1, 2, packed) + resize(2 if not packed else 0x85) + session(2, 2, packed)
    s["callbacks"] = [small, EVENT_IDX | NOTIF, 0, 0, 5] + \
        disable_cb() + session(2, 5, packed) + [7, 2] + add(1, 1) + kick() + consume() + \
        complete() + publish() + [7, 3] + get()
    if not packed:
        s["legacy"] = [4, LEGACY, 0, 0, 6] + session(2, 4, packed)
    return s


def main():
    for layout, packed in (("split", False), ("packed", True)):
        d = os.path.join(HERE, "corpus", layout)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds(packed).items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(bytes(data))


if __name__ == "__main__":
    main()
