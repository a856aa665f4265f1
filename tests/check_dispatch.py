#!/usr/bin/python3
"""Check that the virtqueue core reaches the layouts by direct calls.

The design (include/virtio/virtqueue.h, drivers/virtio/ring/virtqueue_internal.h):
one const ops table per layout, dispatched by a switch the compiler folds,
so the data path has no indirect branch. This disassembles the kernel's
build of drivers/virtio/ring/virtqueue.c and checks that
  - the data-path functions call both layouts' ops directly (by relocation;
    get_buf and add_buf_single jump to them: a tail call, no frame of their own),
  - no function has an indirect call or jump, except the few that invoke
    a caller's hook (transport notify, driver callback, recycle),
  - the per-buffer functions sit in .text.vq_hot.core (VQ_HOT), which
    linker.ld keeps on a page of its own (under TCG, code straddling a page
    boundary costs a trip through QEMU's loop on every call),
  - the prefetches the layouts rely on are in the code (the layout objects
    beside OBJECT): GCC deletes a call to a function whose only effect is a
    prefetch, so a prefetch that is not inlined early vanishes silently.
Usage: check_dispatch.py OBJECT   (exit 0 = pass)
"""
import os
import re
import subprocess
import sys

# public function -> the layout op it must call directly
DATA_PATH = {
    "virtqueue_start_buf": "start",
    "virtqueue_add_sg": "add",
    "virtqueue_end_buf": "publish",
    "virtqueue_get_buf": "get_buf",
    "virtqueue_add_buf_single": "add_single",
    "virtqueue_add_bufs": "add_bufs",
    "virtqueue_get_bufs": "get_bufs",
    "virtqueue_kick_prepare": "kick_prepare",
}
# functions that legitimately call a hook supplied by the driver or transport
HOOK_CALLERS = {"virtqueue_notify", "virtqueue_kick", "virtqueue_interrupt",
                "virtqueue_reset", "virtqueue_resize", "recycle_all",
                "virtqueue_add_sgs"}
# layout object (beside OBJECT) -> functions that must hold a prefetch instruction
PREFETCHES = {"virtqueue_packed.c.o": ["vq_packed_get_bufs"]}


def disassemble(obj):
    """Returns ({function: [lines]}, {function: section})."""
    out = subprocess.run(["objdump", "-dr", "--no-show-raw-insn", obj],
                         capture_output=True, text=True, check=True).stdout
    funcs, section, cur = {}, {}, None
    sec = None
    for line in out.splitlines():
        s = re.match(r"^Disassembly of section ([\w.]+):", line)
        if s:
            sec = s.group(1)
            continue
        m = re.match(r"^[0-9a-f]+ <([\w.]+)>:", line)
        if m:
            cur = m.group(1)
            funcs[cur] = []
            section[cur] = sec
        elif cur:
            funcs[cur].append(line)
    return funcs, section


def main():
    obj = sys.argv[1]
    funcs, section = disassemble(obj)
    problems = []
    for fn, op in DATA_PATH.items():
        body = "\n".join(funcs.get(fn, []))
        if not body:
            problems.append(f"{fn}: not found in {obj}")
            continue
        for layout in ("vq_split", "vq_packed"):
            if not re.search(rf"R_X86_64_PLT32\s+{layout}_{op}\b", body):
                problems.append(f"{fn}: no direct call to {layout}_{op}")
    for fn in list(DATA_PATH) + ["virtqueue_add_buf_single", "virtqueue_add_sgs",
                                 "virtqueue_more_used"]:
        if fn in funcs and section.get(fn) != ".text.vq_hot.core":
            problems.append(f"{fn}: in section {section.get(fn)}, not .text.vq_hot.core (VQ_HOT)")
    for fn, lines in funcs.items():
        base = fn.split(".")[0]   # gcc clones: recycle_all.part.0 etc.
        ind = [ln.strip() for ln in lines if re.search(r"\b(call|jmp)\s+(notrack\s+)?\*", ln)]
        if ind and base not in HOOK_CALLERS:
            problems.append(f"{fn}: indirect branch: {ind[0]}")
    for layout_obj, fns in PREFETCHES.items():
        lfuncs, _ = disassemble(os.path.join(os.path.dirname(obj), layout_obj))
        for fn in fns:
            if not any(re.search(r"\bprefetch", ln) for ln in lfuncs.get(fn, [])):
                problems.append(f"{layout_obj}: {fn} has no prefetch instruction")
    for p in problems:
        print(f"check_dispatch: {p}")
    if problems:
        return 1
    print(f"check_dispatch: {len(DATA_PATH)} data-path functions call both layouts directly; "
          f"indirect branches only in hook callers; the per-buffer functions in .text.vq_hot.core; "
          f"the layouts' prefetches in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
