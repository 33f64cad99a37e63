"""Helpers shared by the benchmarks: which code and machine a figure belongs to, frames."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def code_version() -> str:
    """The commit measured (``BENCH_COMMIT`` for an exported tree without .git)."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "crowdmood_gui"],
                               capture_output=True, text=True).stdout.strip()
        return commit + (" + uncommitted changes in crowdmood_gui/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("BENCH_COMMIT", "unknown")


def loadavg() -> str:
    """The 1, 5 and 15 min load averages, as the kernel prints them: noted beside every figure."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def write_json(path: Path, result: object) -> None:
    """A benchmark's results file (``--json-out``), its folder made when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def finish(result: dict, json_out: Path | None) -> int:
    """A run's end: the load average noted in ``result["load_after"]``, ``--json-out``
    written when given; the script's exit status."""
    result["load_after"] = loadavg()
    if json_out:
        write_json(json_out, result)
    return 0


def read_frames(path: Path) -> list:
    """Every frame of a video, decoded with OpenCV."""
    from crowdmood_gui.core.capture import read_video_frames

    frames = read_video_frames(path)
    if not frames:
        raise SystemExit(f"cannot read {path}")
    return frames


def write_video(path: Path, frames: Iterable, fps: float) -> Path:
    """An mp4v file of ``frames`` (any iterable; the size of the first) at ``fps``."""
    import cv2

    writer = None
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            writer.write(frame)
    finally:
        if writer is not None:
            writer.release()
    return path
