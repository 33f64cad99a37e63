"""The live detection schedule without the machine's load (issue #12, 4K live refresh).

    python bench/bench_live_emulated.py [--clips 1080p-16x16,4k-24x24] [--seconds 10]
                                        [--cpu-share 1.0] [--schedules allfull,new]
                                        [--precisions fp32,int8] [--json-out F]

A shared machine's load swamps the live figures (``bench_crowd.py --live``,
``bench_live.py --crowd``). This runs the live ``CrowdDetector`` + ``FaceTracker`` in one
thread over a grid clip (``tests/core/crowd_grid.py``) and advances media time by what
each cycle cost in **this thread's CPU time** (``time.thread_time``; onnxruntime's two
intra-op threads are not counted, so the absolute rates are optimistic), divided by
``--cpu-share`` (the share of one core the detection thread gets: 1.0 = a whole core, 0.4
= starved), plus the cycle's rest; the next cycle takes the frame of that time. Per
schedule, ``allfull`` (``live_full_cycle_s = 0``: every cycle full, the schedule before
refresh-only cycles) beside ``new`` (the defaults):

- per-face refresh Hz, median and p10: matches to a detection per second over the second
  half of the run, for faces matched throughout (a Kalman prediction never counts);
- cycles and full cycles per second, CPU seconds per second, tile sweeps;
- the recall of the shown boxes at the end and the media time at which it first reached 90 %;
- tracks started (the grid has one person per cell).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "core"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import code_version, finish, loadavg  # noqa: E402
from crowd_grid import Grid, match_counts, read_clip, reference_boxes  # noqa: E402

CLIPS = {"1080p-16x16": (16, 1920, 1080), "4k-24x24": (24, 3840, 2160)}
SCHEDULES = {"allfull": {"live_full_cycle_s": 0.0, "flow_refresh": False},
             "noflow": {"flow_refresh": False}, "flow2": {"flow_redetect_hz": 2.0},
             "flow3": {"flow_redetect_hz": 3.0}, "flow2c80": {"flow_redetect_hz": 2.0, "live_cycle_ms": 80},
             "flow2c60": {"flow_redetect_hz": 2.0, "live_cycle_ms": 60}, "c80": {"live_cycle_ms": 80}, "new": {}}
FPS = 30.0


def emulate(grid: Grid, detection: dict, seconds: float, cpu_share: float) -> dict:
    from crowdmood_gui.core.config import DetectionConfig
    from crowdmood_gui.core.crowd_detection import CrowdDetector
    from crowdmood_gui.core.detection import FaceDetector
    from crowdmood_gui.core.flow import FaceFlow
    from crowdmood_gui.core.tracking import FaceTracker

    config = DetectionConfig(**detection, threads=1)
    crowd = CrowdDetector(FaceDetector.from_config(config), config, realtime=True)
    tracker = FaceTracker()
    flow = FaceFlow(config.refresh_hz)
    crowd.with_flow = config.flow_refresh
    t = cpu = flow_cpu = 0.0
    cycles = fulls = flow_steps = 0
    matched: dict[int, list[float]] = {}
    measured: dict[int, list[float]] = {}  # a detection or a flow measurement
    errors: dict[str, list[float]] = {"detected": [], "flow": [], "predicted": []}
    recall: list[tuple[float, float]] = []
    while t < seconds:
        index = int(t * FPS)
        image, truth = grid.frame(index)
        started = time.thread_time()
        if crowd.flow_measures and flow.wants_step(index / FPS, tracker.active_tracks):  # the pipeline's rule: this frame is the flow's
            from crowdmood_gui.core.crowd_detection import CycleReport

            detections, report = [], CycleReport()
        else:
            detections, report = crowd.detect(image, index / FPS, tracker.active_tracks)
        visible = tracker.update(detections, index / FPS, covered=report.coverage)
        if report.ran:
            flow.note_cycle(report.compute_ms)
        flowed: set[int] = set()
        if crowd.flow_measures:
            f0 = time.thread_time()
            step = flow.step(image, index / FPS, tracker.active_tracks, detected=report.ran)
            if step.ran:
                tracker.measure(step.measured, index / FPS, lost=step.failed)
                flow_steps += 1
                flowed = set(step.measured)
                flow_cpu += time.thread_time() - f0
                rest = step.compute_ms / 1000.0 * (1.0 / config.live_busy_share - 1.0)
                report.rest_s += rest
        used = time.thread_time() - started
        cpu += used
        cycles += report.ran
        fulls += report.ran and report.full
        for track in visible:
            if track.fresh:
                matched.setdefault(track.id, []).append(index / FPS)
            if track.fresh or track.id in flowed:
                measured.setdefault(track.id, []).append(index / FPS)
        if t >= seconds / 2:  # each shown box against the truth: detected, flow-measured or predicted
            found, _, which = match_counts([v.box for v in visible], truth)
            for track, cell in zip(visible, which):
                if cell < 0:
                    continue
                kind = "detected" if track.fresh else "flow" if track.id in flowed else "predicted"
                tx, ty = (truth[cell][0] + truth[cell][2]) / 2, (truth[cell][1] + truth[cell][3]) / 2
                errors[kind].append(float(np.hypot(*(np.subtract(track.center, (tx, ty))))))
        recall.append((t, match_counts([v.box for v in visible], truth)[0] / len(truth)))
        t += max(1.0 / FPS, used / cpu_share + report.rest_s)
    half = seconds / 2

    def per_face_hz(events: dict[int, list[float]]) -> list[float]:
        rates = []
        for times in events.values():
            late = [x for x in times if x >= half]
            if len(late) >= 2 and times[-1] - max(half, times[0]) > 1.0:
                rates.append((len(late) - 1) / (times[-1] - max(half, times[0])))
        return rates

    rates, measured_rates = per_face_hz(matched), per_face_hz(measured)
    q = lambda xs, p: round(float(np.percentile(xs, p)), 2) if xs else None  # noqa: E731
    return {
        # re-detected: matched to a detection (unchanged meaning); measured: a detection or a flow measurement
        "refresh_hz_median": q(rates, 50),
        "refresh_hz_p10": q(rates, 10),
        "measured_hz_median": q(measured_rates, 50),
        "measured_hz_p10": q(measured_rates, 10),
        "faces_rated": len(rates),
        "flow_steps_per_s": round(flow_steps / seconds, 1),
        "flow_cpu_s_per_s": round(flow_cpu / seconds, 3),
        "flow_ms_per_step": round(flow_cpu / max(1, flow_steps) * 1000, 1),
        # centre error against the grid's truth (px), second half: boxes just detected,
        # measured by the flow on that frame, or predicted (coasting)
        "box_error_px": {k: {"median": q(v, 50), "p90": q(v, 90), "n": len(v)} for k, v in errors.items()},
        "cycles_per_s": round(cycles / seconds, 1),
        "full_cycles_per_s": round(fulls / seconds, 2),
        "cpu_s_per_s": round(cpu / seconds, 2),
        "sweeps": crowd.sweeps_completed,
        "recall_at_end": round(recall[-1][1], 3),
        "recall_90_at_s": next((round(x, 2) for x, r in recall if r >= 0.9), None),
        "recall_by_s": {s: round(next((r for x, r in recall if x >= s), recall[-1][1]), 3)
                        for s in range(1, int(seconds) + 1)},
        "tracks": tracker.total_tracks,
        "load_before": loadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--seconds", type=float, default=10.0, help="media seconds emulated per run")
    parser.add_argument("--cpu-share", type=float, default=1.0, help="share of one core the detection thread gets")
    parser.add_argument("--schedules", default=",".join(SCHEDULES), help="comma-separated: " + ", ".join(SCHEDULES))
    parser.add_argument("--precisions", default="fp32",
                        help="comma-separated detection.precision values, each schedule run with each (fp32,int8)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    frames = read_clip()
    boxes = reference_boxes(frames)
    result: dict = {"code": code_version(), "seconds": args.seconds, "cpu_share": args.cpu_share, "clips": {}}
    for name in args.clips.split(","):
        n, width, height = CLIPS[name]
        grid = Grid(frames, boxes, n, width, height)
        row = {"faces": n * n}
        for schedule in args.schedules.split(","):
            for precision in args.precisions.split(","):
                key = schedule if precision == "fp32" else f"{schedule}-{precision}"
                row[key] = emulate(grid, {**SCHEDULES[schedule], "precision": precision}, args.seconds, args.cpu_share)
                print(name, key, json.dumps(row[key]), flush=True)
        result["clips"][name] = row
    return finish(result, args.json_out)


if __name__ == "__main__":
    raise SystemExit(main())
