"""The live refresh's mosaic (#12): its cost and its recall for each region margin, face
size and border, on the grid clips.

    python bench/bench_refresh_mosaic.py [--precisions fp32,int8] [--json-out bench/results/refresh_mosaic.json]

For every known face of a grid frame the live console re-detects a square region around
the face's predicted box, all regions packed into one mosaic and detected in one forward
pass (``CrowdDetector._refresh``). Here the "predicted" boxes are the true boxes of the
frame ``--lag`` frames earlier (200 ms at 30 fps: a refresh period), the refresh runs on
the current frame through the real code path with the module's constants set to each
variant, and we print: mosaic megapixels, the whole refresh's milliseconds (packing,
forward pass, mapping back; best of 3), recall (a refreshed box at IoU >= 0.3 with a true
face / faces) and false positives. The load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "core"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from benchlib import code_version, cpu_model, finish, loadavg  # noqa: E402
from crowd_grid import Grid, match_counts, read_clip, reference_boxes  # noqa: E402

from crowdmood_gui.core import crowd_detection  # noqa: E402
from crowdmood_gui.core.config import DetectionConfig  # noqa: E402
from crowdmood_gui.core.crowd_detection import CrowdDetector, CycleReport  # noqa: E402
from crowdmood_gui.core.detection import Detection, FaceDetector  # noqa: E402
from crowdmood_gui.core.tracking import FaceTracker  # noqa: E402

CLIPS = {"1080p-16x16": (16, 1920, 1080), "4k-24x24": (24, 3840, 2160)}
# (region x face side, face px in the mosaic, border px): the first is the code before
# this measurement, the second today's default.
VARIANTS = [(1.5, 24.0, 4), (1.25, 20.0, 2), (1.25, 24.0, 4), (1.5, 20.0, 4), (1.25, 20.0, 4),
            (1.25, 18.0, 2), (1.25, 16.0, 2), (1.15, 20.0, 2)]
FPS = 30.0


def refresh_once(detector: FaceDetector, grid: Grid, index: int, lag: int) -> tuple[float, float, float, float]:
    image, truth = grid.frame(index)
    _, before = grid.frame(index - lag)
    tracker = FaceTracker()
    tracker.update([Detection(*box, 0.9) for box in before], (index - lag) / FPS)
    crowd = CrowdDetector(detector, DetectionConfig(), realtime=True)
    plan = crowd._plan_for(image)
    best, found, shape = float("inf"), [], (0, 0)
    pack = crowd_detection.pack_mosaic

    def spying_pack(*a, **k):
        nonlocal shape
        mosaic, cells = pack(*a, **k)
        shape = mosaic.shape[:2]
        return mosaic, cells

    crowd_detection.pack_mosaic = spying_pack
    try:
        for _ in range(3):
            crowd._ns_per_px = None  # no budget: every face
            report = CycleReport()
            started = time.perf_counter()
            found = crowd._refresh(image, plan, index / FPS, tracker.active_tracks, report, started, float("inf"))
            best = min(best, (time.perf_counter() - started) * 1000.0)
    finally:
        crowd_detection.pack_mosaic = pack
    matched, false_pos, _ = match_counts([(d.x1, d.y1, d.x2, d.y2) for d in found], truth)
    return best, matched / len(truth), false_pos / len(truth), shape[0] * shape[1] / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--lag", type=int, default=6, help="frames between the boxes and the frame refreshed")
    parser.add_argument("--precisions", default="fp32", help="comma-separated detection.precision values (fp32,int8)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    frames = read_clip()
    boxes = reference_boxes(frames)
    detectors = {p: FaceDetector(threads=2, precision=p) for p in args.precisions.split(",")}
    result: dict = {"code": code_version(), "cpu": cpu_model(), "cores": os.cpu_count(), "lag_frames": args.lag,
                    "load_before": loadavg(), "clips": {}}
    saved = (crowd_detection.REFRESH_REGION, crowd_detection.REFRESH_FACE_PX, crowd_detection.MOSAIC_PAD_PX)
    for name in args.clips.split(","):
        n, width, height = CLIPS[name]
        grid = Grid(frames, boxes, n, width, height)
        rows = []
        for (region, face_px, pad), (precision, detector) in itertools.product(VARIANTS, detectors.items()):
            crowd_detection.REFRESH_REGION, crowd_detection.REFRESH_FACE_PX, crowd_detection.MOSAIC_PAD_PX = \
                region, face_px, pad
            runs = [refresh_once(detector, grid, i, args.lag) for i in (20, 45, 70)]
            row = {"region": region, "face_px": face_px, "border_px": pad, "precision": precision,
                   "mosaic_mp": round(float(np.mean([r[3] for r in runs])), 3),
                   "refresh_ms": round(float(np.mean([r[0] for r in runs])), 1),
                   "recall": round(float(np.mean([r[1] for r in runs])), 4),
                   "false_positives": round(float(np.mean([r[2] for r in runs])), 4),
                   "load": loadavg()}
            rows.append(row)
            print(name, json.dumps(row), flush=True)
        crowd_detection.REFRESH_REGION, crowd_detection.REFRESH_FACE_PX, crowd_detection.MOSAIC_PAD_PX = saved
        result["clips"][name] = {"faces": n * n, "face_px": round(grid.face_px(), 1), "variants": rows}
    return finish(result, args.json_out)


if __name__ == "__main__":
    raise SystemExit(main())
