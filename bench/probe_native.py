"""Where the live console's memory is: the Python heap against glibc's heap, over a run.

    xvfb-run -a python bench/probe_native.py [--every 30] [--trim-at 240,480] -- --source CLIP --exit-after S

Runs the console (``python -m crowdmood_gui`` with the arguments after ``--``) in this
process, with a thread that prints every ``--every`` seconds: RSS and anonymous memory
(``/proc/self/smaps_rollup``), Python's allocated blocks, glibc's ``mallinfo2`` (bytes in
use and free inside its heaps: free bytes that stay are fragmentation) and how many malloc
arenas exist (``malloc_info``). At each ``--trim-at`` second it calls ``malloc_trim(0)`` and
prints what that gave back. An experiment for bench/README.md's memory section, not a
benchmark: it prints, it asserts nothing. Linux with glibc only.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import runpy
import sys
import tempfile
import threading
import time


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


LIBC = ctypes.CDLL("libc.so.6")
LIBC.mallinfo2.restype = MallInfo2
LIBC.fdopen.restype = ctypes.c_void_p  # a FILE*: the default int would cut the pointer
LIBC.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
LIBC.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
LIBC.fclose.argtypes = [ctypes.c_void_p]


def smaps() -> dict[str, float]:
    out = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in ("Rss:", "Anonymous:"):
                out[parts[0][:-1].lower()] = int(parts[1]) / 1024
    return out


def arenas() -> int:
    """How many malloc arenas exist (``malloc_info``'s <heap> elements)."""
    with tempfile.TemporaryFile("w+b") as f:
        stream = LIBC.fdopen(os.dup(f.fileno()), b"w")
        LIBC.malloc_info(0, stream)
        LIBC.fclose(stream)
        f.seek(0)
        return len(re.findall(rb"<heap nr=", f.read()))


def line(t0: float, note: str = "") -> str:
    m, info = smaps(), LIBC.mallinfo2()
    return (f"{time.monotonic() - t0:7.0f} s  rss {m['rss']:6.1f}  anon {m['anonymous']:6.1f} MB  "
            f"python blocks {sys.getallocatedblocks():8d}  malloc in use {info.uordblks / 2**20:6.1f} "
            f"free {info.fordblks / 2**20:6.1f} mmapped {info.hblkhd / 2**20:6.1f} MB  arenas {arenas()}  {note}")


def probe(every: float, trims: list[float], t0: float) -> None:
    next_at, pending = t0, sorted(trims)
    while True:
        time.sleep(max(0.0, next_at - time.monotonic()))
        print(line(t0), file=sys.stderr, flush=True)
        while pending and time.monotonic() - t0 >= pending[0]:
            pending.pop(0)
            before = smaps()["anonymous"]
            LIBC.malloc_trim(0)
            print(line(t0, f"after malloc_trim(0): {before - smaps()['anonymous']:+.1f} MB returned"),
                  file=sys.stderr, flush=True)
        next_at += every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=float, default=30.0)
    parser.add_argument("--trim-at", default="", help="seconds, comma-separated")
    parser.add_argument("console", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    trims = [float(s) for s in args.trim_at.split(",") if s]
    threading.Thread(target=probe, args=(args.every, trims, time.monotonic()), daemon=True).start()
    sys.argv = ["crowdmood_gui", *[a for a in args.console if a != "--"]]
    runpy.run_module("crowdmood_gui", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
