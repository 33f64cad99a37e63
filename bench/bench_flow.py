"""What one optical-flow step costs and how well it measures (issue #12, live 4K refresh).

    python bench/bench_flow.py [--clips 1080p-16x16,4k-24x24] [--repeats 10] [--json-out F]

On a grid clip (``tests/core/crowd_grid.py``: one real face per cell, exact truth), every
face is anchored at its true box in frame 0, then measured by ``core/flow.py`` in the frame
0.2 s later (a 5 Hz step), as is and panned by 30 px right and 12 px down (a face walking
at 150 px/s across a step; the grid's own faces barely move): with the velocity known to
the tracker (detected a step before, where the pan puts it: LK starts from the prediction)
and from rest (velocity unknown: the pyramid alone must find 30 px). Per step, CPU
milliseconds of this thread with one OpenCV thread (the work: OpenCV's pool spinning on a
loaded machine swung whole-process figures by 2x), median over ``--repeats``:

- the grey frame: colour to grey and the power-of-two shrink (``grey_frame``);
- Lucas-Kanade forward and backward (each call builds both images' pyramids itself: the
  Python binding of OpenCV 5 takes no pre-built pyramid);
- the whole step (``FaceFlow.step``: the above plus the points, the checks, the medians);

and per face: measured or not, and the centre's error against the truth, beside the error
of the box left where it was (no measurement). Nothing here is timed against a target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "core"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import code_version, finish, loadavg  # noqa: E402
from crowd_grid import Grid, read_clip, reference_boxes  # noqa: E402

CLIPS = {"1080p-16x16": (16, 1920, 1080), "4k-24x24": (24, 3840, 2160)}
STEP_FRAMES = 6  # 0.2 s at 30 fps
PAN = (30, 12)  # px over one step


def centre(box) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])


def one_step(grid: Grid, pan: tuple[int, int], moving: bool = False) -> dict:
    import cv2

    from crowdmood_gui.core import flow as flow_module
    from crowdmood_gui.core.flow import FaceFlow, flow_shrink, grey_frame
    from crowdmood_gui.core.tracking import FaceTracker

    first, truth0 = grid.frame(0)
    later, truth1 = grid.frame(STEP_FRAMES)
    dx, dy = pan
    if pan != (0, 0):
        later = np.roll(later, (dy, dx), axis=(0, 1))
        truth1 = [(x1 + dx, y1 + dy, x2 + dx, y2 + dy) for x1, y1, x2, y2 in truth1]
    tracker = FaceTracker()
    step_s = STEP_FRAMES / 30.0
    if moving:  # detected a step earlier where the pan puts them: the tracker knows the velocity
        tracker.update([SimpleNamespace(x1=b[0] - dx, y1=b[1] - dy, x2=b[2] - dx, y2=b[3] - dy, score=0.9)
                        for b in truth0], -step_s)
    tracker.update([SimpleNamespace(x1=b[0], y1=b[1], x2=b[2], y2=b[3], score=0.9) for b in truth0], 0.0)
    tracks = tracker.active_tracks
    by_id = {t.id: i for i, t in enumerate(tracks)}
    flow = FaceFlow(5.0)
    flow.step(first, 0.0, tracks, detected=True)  # the anchors: each face's true box in frame 0
    for t in tracks:
        t.fresh = False
    lk_ms: list[float] = []
    real_lk = cv2.calcOpticalFlowPyrLK

    def timed_lk(*args, **kwargs):
        started = time.thread_time()
        out = real_lk(*args, **kwargs)
        lk_ms.append((time.thread_time() - started) * 1000.0)
        return out

    cv2.calcOpticalFlowPyrLK = timed_lk
    try:
        started = time.thread_time()
        report = flow.step(later, step_s, tracks, detected=False)
        step_ms = (time.thread_time() - started) * 1000.0
    finally:
        cv2.calcOpticalFlowPyrLK = real_lk
    shrink = flow_shrink(tracks)
    started = time.thread_time()
    grey_frame(later, shrink)
    grey_ms = (time.thread_time() - started) * 1000.0
    errors, still = [], []
    for track_id, measured in report.measured.items():
        i = by_id[track_id]
        errors.append(float(np.hypot(*(np.array(measured) - centre(truth1[i])))))
    for i in range(len(tracks)):
        still.append(float(np.hypot(*(centre(truth0[i]) - centre(truth1[i])))))
    return {"step_ms": step_ms, "grey_ms": grey_ms, "lk_forward_ms": lk_ms[0] if lk_ms else None,
            "lk_backward_ms": lk_ms[1] if len(lk_ms) > 1 else None, "shrink": shrink,
            "points": len(tracks) * len(flow_module.POINTS),
            "measured": len(report.measured), "faces": len(tracks), "errors": errors, "still": still}


def main() -> int:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # the work of a step, in this thread's CPU time
    frames = read_clip()
    boxes = reference_boxes(frames)
    result: dict = {"code": code_version(), "opencv": cv2.__version__, "load_before": loadavg(), "clips": {}}
    for name in args.clips.split(","):
        n, width, height = CLIPS[name]
        grid = Grid(frames, boxes, n, width, height)
        row: dict = {"faces": n * n, "face_px": round(grid.face_px(), 1)}
        for label, pan, moving in (("still", (0, 0), False), ("panned, velocity known", PAN, True),
                                   ("panned from rest", PAN, False)):
            runs = [one_step(grid, pan, moving) for _ in range(args.repeats)]
            med = lambda key: round(statistics.median(r[key] for r in runs), 2)  # noqa: E731
            last = runs[-1]
            row[label] = {
                "cpu_ms": {k: med(k) for k in ("step_ms", "grey_ms", "lk_forward_ms", "lk_backward_ms")},
                "shrink": last["shrink"], "points": last["points"],
                "measured_share": round(last["measured"] / last["faces"], 4),
                "error_px_median": round(float(np.median(last["errors"])), 2) if last["errors"] else None,
                "error_px_p90": round(float(np.percentile(last["errors"], 90)), 2) if last["errors"] else None,
                "unmeasured_box_error_px_median": round(float(np.median(last["still"])), 2),
                "load": loadavg(),
            }
            print(name, label, row[label], flush=True)
        result["clips"][name] = row
    return finish(result, args.json_out)


if __name__ == "__main__":
    raise SystemExit(main())
