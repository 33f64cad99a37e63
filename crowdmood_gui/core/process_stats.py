"""Whole-process figures a run reports with ``--stats-out``: peak RSS, CPU in cores, the
time from process start to a first event, and which GUI libraries the process loaded; and
the one process-wide memory tuning for video frames.

Shared by the console (``ui/app.py``) and the headless agent (``commands/agent.py``).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

QT_MODULE_ROOTS = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pyqtgraph")
# The young generation is collected after this many net container allocations (CPython's
# default: 700). A 4K crowd allocates tuples and small objects for 576 faces per frame:
# with the default the collector ran ~14 times a second and its older generations paused
# every thread (it holds the GIL) for up to 28 ms (generation 1) and 96 ms (generation 2).
GC_YOUNG_THRESHOLD = 10_000


class GcPauses:
    """The cyclic garbage collector's collections and pause times (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.collections = 0
        self.total_ms = 0.0
        self.max_ms = 0.0
        self._started: float | None = None

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            pause = (time.perf_counter() - self._started) * 1000.0
            self.collections += 1
            self.total_ms += pause
            self.max_ms = max(self.max_ms, pause)
            self._started = None

    def figures(self) -> dict[str, Any]:
        return {"gc_collections": self.collections, "gc_pause_ms_total": round(self.total_ms, 1),
                "gc_pause_max_ms": round(self.max_ms, 1)}


_gc_pauses: GcPauses | None = None


def tune_gc_for_live() -> GcPauses:
    """Collect once, move every object alive now (modules, classes, Qt and NumPy wrappers:
    ~95 000 after start-up) to the permanent generation (``gc.freeze``), so no later
    collection walks them again, and collect the young generation every
    ``GC_YOUNG_THRESHOLD`` allocations. Memory is still freed at once by reference
    counting; only objects in reference cycles wait a little longer. Call after the heavy
    imports, before the live threads start. The collector's pauses are recorded from then
    on and reported by :func:`process_figures`. Idempotent."""
    global _gc_pauses
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
    if _gc_pauses is None:  # the live run's pauses, not this start-up collect's (~40 ms)
        _gc_pauses = GcPauses()
        gc.callbacks.append(_gc_pauses)
    return _gc_pauses


def seconds_since_process_start(wall: float) -> float | None:
    """``wall`` (a ``time.time()``) minus this process's start time (interpreter included)."""
    try:
        import psutil

        return round(wall - psutil.Process().create_time(), 3)
    except Exception:  # psutil missing or no permission: leave it out
        return None


def process_figures(started_wall: float, started_cpu: float, first_frame_wall: float | None = None) -> dict[str, Any]:
    """Peak RSS (MB), mean CPU use (in cores) since ``run_console`` began, and the time from
    the process start (interpreter, imports, models) to the first frame."""
    figures: dict[str, Any] = {}
    if first_frame_wall is not None:
        since_start = seconds_since_process_start(first_frame_wall)
        if since_start is not None:
            figures["start_to_first_frame_s"] = since_start
    try:
        import resource

        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        figures["peak_rss_mb"] = round(peak_kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)
    except ImportError:  # Windows
        import psutil

        info = psutil.Process().memory_info()
        figures["peak_rss_mb"] = round(getattr(info, "peak_wset", info.rss) / (1024 * 1024), 1)
    wall = time.monotonic() - started_wall
    cpu = time.process_time() - started_cpu
    figures["cpu_cores"] = round(cpu / wall, 2) if wall > 0 else 0.0
    figures["wall_s"] = round(wall, 2)
    if _gc_pauses is not None:
        figures.update(_gc_pauses.figures())
    return figures


def write_stats(path: Path, figures: dict[str, Any]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def tune_malloc_for_frames() -> bool:
    """glibc: serve every allocation of 128 KiB or more (video frames) with mmap, so a freed
    frame goes back to the OS at once.

    Frames are allocated in capture threads and often freed on the GUI thread; with glibc's
    default *dynamic* mmap threshold they soon come from the heap arenas instead, which
    fragment: RSS crept up ~1.3 MB/min in a looping-video soak, and stayed flat with the
    fixed threshold (headless pipeline: flat either way; the agent applies it too). Returns True when applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_mmap_threshold = -3
        return bool(libc.mallopt(m_mmap_threshold, 128 * 1024))
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return False


def lower_this_thread_priority(nice: int) -> bool:
    """Make the calling thread ``nice`` steps nicer than it is (Linux: nice values are per
    thread; raising one needs no privilege). The live analysis threads call it so that the
    display path wins the CPU when both want it. Returns True when applied."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    import threading

    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + int(nice)))
        return True
    except OSError:  # a sandbox without setpriority: run at the same priority
        return False


def qt_loaded() -> dict[str, list[str]]:
    """Qt Python modules imported and Qt shared objects mapped into this process (Linux:
    ``/proc/self/maps``): the headless agent must report both empty."""
    modules = sorted(m for m in sys.modules if m.split(".")[0] in QT_MODULE_ROOTS)
    libraries: set[str] = set()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                name = os.path.basename(path)
                if name.startswith(("libQt", "libpyside", "libshiboken")) or "/PySide6/" in path:
                    libraries.add(path)
    except OSError:  # not Linux
        pass
    return {"qt_modules": modules, "qt_libraries": sorted(libraries)}
