#!/usr/bin/python3
"""Check that the virtqueue core reaches the layouts by direct calls.

The design (include/virtio/virtqueue.h, drivers/virtio/ring/virtqueue_internal.h):
one const ops table per layout, dispatched by a switch the compiler folds,
so the data path has no indirect branch. This disassembles the kernel's
build of drivers/virtio/ring/virtqueue.c and checks that
  - the data-path functions call both layouts' ops directly (by relocation),
  - no function has an indirect call or jump, except the few that invoke
    a caller's hook (transport notify, driver callback, recycle).
Usage: check_dispatch.py OBJECT   (exit 0 = pass)
"""
import re
import subprocess
import sys

# public function -> the layout op it must call directly
DATA_PATH = {
    "virtqueue_start_buf": "start",
    "virtqueue_add_sg": "add",
    "virtqueue_end_buf": "publish",
    "virtqueue_get_buf": "get",
    "virtqueue_kick_prepare": "kick_prepare",
}
# functions that legitimately call a hook supplied by the driver or transport
HOOK_CALLERS = {"virtqueue_notify", "virtqueue_kick", "virtqueue_interrupt",
                "virtqueue_reset", "virtqueue_resize", "recycle_all",
                "virtqueue_add_buf_single", "virtqueue_add_sgs"}


def main():
    obj = sys.argv[1]
    out = subprocess.run(["objdump", "-dr", "--no-show-raw-insn", obj],
                         capture_output=True, text=True, check=True).stdout
    funcs, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <([\w.]+)>:", line)
        if m:
            cur = m.group(1)
            funcs[cur] = []
        elif cur:
            funcs[cur].append(line)
    problems = []
    for fn, op in DATA_PATH.items():
        body = "\n".join(funcs.get(fn, []))
        if not body:
            problems.append(f"{fn}: not found in {obj}")
            continue
        for layout in ("vq_split", "vq_packed"):
            if not re.search(rf"R_X86_64_PLT32\s+{layout}_{op}\b", body):
                problems.append(f"{fn}: no direct call to {layout}_{op}")
    for fn, lines in funcs.items():
        base = fn.split(".")[0]   # gcc clones: recycle_all.part.0 etc.
        ind = [ln.strip() for ln in lines if re.search(r"\b(call|jmp)\s+(notrack\s+)?\*", ln)]
        if ind and base not in HOOK_CALLERS:
            problems.append(f"{fn}: indirect branch: {ind[0]}")
    for p in problems:
        print(f"check_dispatch: {p}")
    if problems:
        return 1
    print(f"check_dispatch: {len(DATA_PATH)} data-path functions call both layouts directly; "
          f"indirect branches only in hook callers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
