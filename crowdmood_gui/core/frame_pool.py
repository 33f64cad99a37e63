"""Frame arrays a video source decodes into again once nobody holds them.

A fresh array per frame costs a 4K decode its page faults: 25 MB zeroed by the kernel per
frame, ~9 of the capture thread's 20 ms (``cap.read(buffer)`` into a kept array: 4.5).
An array is reused only when nothing outside the pool refers to it any more (every
holder, a view of it included, counts): a frame handed out is never written.
"""

from __future__ import annotations

import sys

import numpy as np

#: Arrays a source keeps. Live, ~4 frames are in use at once (the one being decoded, the
#: newest shown: detection's slot and the GUI's, the one on screen, the one detection
#: works on): 4K window, 15 s, 4 arrays served 97 % of the reads (3: 74 %, 6: 99 %, with
#: 50 MB more kept).
FRAME_POOL_SIZE = 4


def _unheld_refcount() -> int:
    """``sys.getrefcount`` of an array only a pool's list holds, read in a loop shaped like
    ``FramePool.free``'s: 3 on CPython 3.11-3.13 (the list, the loop variable, the
    argument); newer CPythons pass borrowed references and report fewer, and a fixed 3 would
    then hand out an array someone still holds."""
    arrays = [np.empty(1)]
    for array in arrays:
        return sys.getrefcount(array)
    return 0


# 0 (no reuse) where reference counts mean nothing (not CPython)
UNHELD_REFCOUNT = _unheld_refcount() if sys.implementation.name == "cpython" else 0


class FramePool:
    """At most ``FRAME_POOL_SIZE`` arrays, offered back when unheld. Used by one thread."""

    def __init__(self, first: np.ndarray | None = None) -> None:
        self._arrays: list[np.ndarray] = [] if first is None else [first]

    def free(self) -> np.ndarray | None:
        """An array nobody else holds, to decode the next frame into, or None."""
        for array in self._arrays:
            if sys.getrefcount(array) <= UNHELD_REFCOUNT:
                return array
        return None

    def decoded(self, image: np.ndarray, offered: np.ndarray | None) -> None:
        """The decoder returned ``image`` when offered ``offered``: a new array (the pool
        was busy, or the frame size changed) replaces the offered one, or joins the pool."""
        if image is offered:
            return
        if offered is not None:
            self._arrays.remove(offered)
        if len(self._arrays) < FRAME_POOL_SIZE:
            self._arrays.append(image)

    def clear(self) -> None:
        self._arrays.clear()
