"""The crowd-mood line (issue #13): the old per-crop line beside the new crowd line, one run.

    python bench/bench_crowd_line.py [--seconds 25] [--json-out bench/results/crowd_line.json]
    python bench/bench_crowd_line.py --plots-only     # only the chart redraw costs (Qt offscreen)

Input, built here with OpenCV from ``tests/data/single_face.mp4`` (one face, 640x360, 30 fps,
72 frames: neutral, a smile, neutral again), nothing downloaded:

- **three people**: three copies of the clip side by side (each 320x180, so 960x180), each
  played forwards and backwards in a loop, shifted by 0.8 s from the next: three people
  steadily in view for ``--seconds`` (default 25 s), each smiling at a different time. Two
  clips: the three arrive together at 0 s, or apart at 0, 0.7 and 1.3 s (a grey tile before).
- **one person changes**: one copy holding the clip's first frame (neutral) for 10 s, then
  its frame 36 (smiling) for 10 s: the same face in the same place, so the tracker keeps the
  person and only their expression changes.

Each clip goes through the real pipeline in analysis mode (``crowdmood analyze``: every frame,
local detector, tracker, sampler, expression model; ``detection.max_side`` 960). From the same
run's records and frames:

- the **old line**: per 1-s period, the mean over the crops analysed in it (the timeline
  before issue #13, recomputed here from the records);
- the **new line**: the pipeline's own timeline, the crowd value (``core/crowd.py``).

Printed for both: the share of 1-s periods with a value, the median |change| from one second
to the next of HAPPY and CALM (``median_abs_delta``: over pairs of consecutive seconds that
both have a value; ``median_abs_step_as_drawn``: between consecutive points, as the old chart
joined them over empty seconds), and on the second clip how many of the person's crops after the
change it takes for their state to show it (old: the crop's own dominant; new: the person's
estimate). It also times a redraw + paint (``grab()``) of the one plot builder for the live
chart (1-px pens) and the kiosk (5-px pens), 8 lines, 1280x640, offscreen (``--no-plots``: skip).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import code_version, cpu_model, loadavg, read_frames, write_json, write_video  # noqa: E402
from crowdmood_gui.core.config import AppConfig  # noqa: E402
from crowdmood_gui.core.emotions import EMOTIONS  # noqa: E402
from crowdmood_gui.core.records import emotion_vector  # noqa: E402

SOURCE = ROOT / "tests" / "data" / "single_face.mp4"
FPS = 30.0
TILE = (320, 180)
SHIFT_S = 0.8
# When the three people arrive (a grey tile before). Together: their crops fall in the same
# seconds (every 2 s), so the old per-crop line is empty every other second; apart: crops
# fall in every second, and the old line's problem is the jumps.
ENTRIES_S = {"arriving_together": (0.0, 0.0, 0.0), "arriving_apart": (0.0, 0.7, 1.3)}
SPLICE_AT_S = 10.0


def pingpong(frames: list[np.ndarray], i: int) -> np.ndarray:
    n = len(frames)
    cycle = 2 * n - 2
    k = i % cycle
    return frames[k if k < n else cycle - k]


def three_people_clip(out: Path, seconds: float, entry_s: tuple[float, ...]) -> Path:
    src = [cv2.resize(f, TILE, interpolation=cv2.INTER_AREA) for f in read_frames(SOURCE)]
    shift = int(round(SHIFT_S * FPS))
    empty = np.full_like(src[0], 128)

    def tile(k: int, i: int) -> np.ndarray:
        return pingpong(src, i + k * shift) if i >= entry_s[k] * FPS else empty

    frames = [np.hstack([tile(k, i) for k in range(3)]) for i in range(int(seconds * FPS))]
    return write_video(out, frames, FPS)


def change_clip(out: Path) -> Path:
    src = read_frames(SOURCE)
    neutral, smiling = src[0], src[36]
    n = int(SPLICE_AT_S * FPS)
    return write_video(out, [neutral] * n + [smiling] * n, FPS)


class _Collector:
    def __init__(self) -> None:
        self.records: list[tuple[float, object]] = []

    def on_record(self, event) -> None:
        self.records.append((event.media_time_s, event.record))

    def __getattr__(self, name):  # every other observer call: ignored
        return lambda *a, **k: None


def run_pipeline(clip: Path):
    from crowdmood_gui.core.pipeline import Pipeline

    config = AppConfig()
    config.source.spec = str(clip)
    config.source.loop = False
    config.detection.max_side = 960
    collector = _Collector()
    pipeline = Pipeline(config, collector, realtime=False)
    started = time.perf_counter()
    pipeline.run()
    elapsed = time.perf_counter() - started
    return pipeline, sorted(collector.records, key=lambda r: r[0]), elapsed


def old_line(records, seconds: int) -> dict[str, list[float | None]]:
    """The timeline before issue #13: per period, the mean over the faces analysed in it."""
    sums = [dict.fromkeys(EMOTIONS, 0.0) for _ in range(seconds)]
    counts = [0] * seconds
    for t, record in records:
        i = int(t)
        if not 0 <= i < seconds:
            continue
        for face in record.faces:
            vector = emotion_vector({"Type": k, "Confidence": v} for k, v in face.emotions.items())
            for k in EMOTIONS:
                sums[i][k] += vector[k]
            counts[i] += 1
    return {k: [sums[i][k] / counts[i] if counts[i] else None for i in range(seconds)] for k in EMOTIONS}


def new_line(pipeline, seconds: int) -> dict[str, list[float | None]]:
    rows = {int(r.t): r for r in pipeline.aggregator.rows(1)}
    return {k: [rows[i].emotions.get(k) if i in rows else None for i in range(seconds)] for k in EMOTIONS}


def line_figures(line: dict[str, list[float | None]]) -> dict[str, float | None]:
    n = len(line["HAPPY"])
    with_value = sum(1 for v in line["HAPPY"] if v is not None)
    out: dict[str, float | None] = {"periods": n, "periods_with_value_pct": round(100.0 * with_value / n, 1)}
    for k in ("HAPPY", "CALM"):
        values = line[k]
        deltas = [abs(b - a) for a, b in zip(values, values[1:]) if a is not None and b is not None]
        out[f"median_abs_delta_{k}"] = round(statistics.median(deltas), 1) if deltas else None
        points = [v for v in values if v is not None]
        steps = [abs(b - a) for a, b in zip(points, points[1:])]
        out[f"median_abs_step_as_drawn_{k}"] = round(statistics.median(steps), 1) if steps else None
    return out


def crops_to_show_change(pipeline, records) -> dict[str, object]:
    """After the splice, how many of the person's crops until their state shows HAPPY."""
    from crowdmood_gui.core.crowd import CrowdState, crop_vector, dominant_of

    tracks = {r.meta.track_id for _, r in records if r.faces}
    person = max(tracks, key=lambda k: sum(1 for _, r in records if r.meta.track_id == k))
    mine = [(t, r) for t, r in records if r.meta.track_id == person and r.faces]
    before = [r.dominant for t, r in mine if t < SPLICE_AT_S]
    after = [(t, r) for t, r in mine if t >= SPLICE_AT_S]
    state = CrowdState(AppConfig().crowd.half_life_s)
    for t, r in mine:
        if t < SPLICE_AT_S:
            state.add_record(t, r)
    old = new = None
    for n, (t, r) in enumerate(after, start=1):
        if old is None and dominant_of(crop_vector(r)) == "HAPPY":
            old = n
        state.add_record(t, r)
        if new is None and state.dominant(person) == "HAPPY":
            new = n
    return {
        "tracks_seen": len(tracks),
        "person_crops_before": len(before),
        "dominant_before": max(set(before), key=before.count) if before else None,
        "person_crops_after": len(after),
        "crops_to_show_old": old,
        "crops_to_show_new": new,
    }


def plot_costs(repeats: int = 20) -> dict[str, float]:
    """Median ms for set_series + grab() (a full offscreen paint) of the one plot builder."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from crowdmood_gui.core.events import TimelineRow
    from crowdmood_gui.core.series import series_from_rows
    from crowdmood_gui.ui.kiosk import KIOSK_PEN_PX
    from crowdmood_gui.ui.plots import CrowdPlot

    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(1)

    def rows(n: int, period: int):
        values = np.clip(50 + np.cumsum(rng.normal(0, 3, (n, len(EMOTIONS))), axis=0), 0, 100)
        shares = rng.dirichlet(np.ones(len(EMOTIONS)), n)
        return [TimelineRow(t=i * period, period_s=period, faces=3, tracks=3, analysed=1, rated=3,
                            emotions=dict(zip(EMOTIONS, map(float, values[i]))),
                            shares=dict(zip(EMOTIONS, map(float, shares[i])))) for i in range(n)]

    cases = {  # name: (pen px, antialias, rows); 8 lines + people, 1280x640, offscreen
        "live_1px_300pts_ms": (1, False, rows(300, 1)),  # 5-min window of 1-s points
        "live_1px_7200pts_ms": (1, False, rows(7200, 1)),  # 2-h window of 1-s points
        "live_share_300pts_ms": (1, False, rows(300, 1), "share"),  # the stacked share view
        "live_share_7200pts_ms": (1, False, rows(7200, 1), "share"),
        "kiosk_5px_30pts_ms": (KIOSK_PEN_PX, False, rows(30, 10)),  # 5 min of 10-s points
        "kiosk_5px_180pts_ms": (KIOSK_PEN_PX, False, rows(180, 10)),  # 30 min of 10-s points
        "kiosk_5px_antialiased_180pts_ms": (KIOSK_PEN_PX, True, rows(180, 10)),  # not used: the cost of AA
        "kiosk_5px_720pts_ms": (KIOSK_PEN_PX, False, rows(720, 10)),  # 2 h of 10-s points: what the cap avoids
    }
    out = {}
    for name, (pen, antialias, data, *view) in cases.items():
        plot = CrowdPlot(pen_width=pen, antialias=antialias, font_scale=2.2 if pen > 1 else 1.0)
        plot.set_view(view[0] if view else "mean")
        plot.resize(1280, 640)
        plot.show()
        series = series_from_rows(data)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            plot.set_series(series)
            plot.set_x_range(0, float(series.t[-1] + series.period_s))
            plot.grab()
            app.processEvents()
            times.append((time.perf_counter() - started) * 1000)
        out[name] = round(statistics.median(times), 1)
        plot.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--plots-only", action="store_true")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args()
    result: dict[str, object] = {"commit": code_version(), "cpu": cpu_model(), "input": str(SOURCE.relative_to(ROOT))}
    if not args.plots_only:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["CROWDMOOD_HOME"] = str(Path(tmp) / "home")
            for name, entry_s in ENTRIES_S.items():
                clip = three_people_clip(Path(tmp) / f"{name}.mp4", args.seconds, entry_s)
                load_before = loadavg()
                pipeline, records, elapsed = run_pipeline(clip)
                seconds = int(args.seconds)
                result[f"three_people_{name}"] = {
                    "clip": f"3 x single_face.mp4 side by side, 960x180, {seconds} s, shifted {SHIFT_S} s, "
                            f"arriving at {entry_s} s",
                    "records": len(records),
                    "tracks": len({r.meta.track_id for _, r in records}),
                    "run_s": round(elapsed, 1),
                    "load": f"{load_before} -> {loadavg()}",
                    "old_per_crop": line_figures(old_line(records, seconds)),
                    "new_crowd": line_figures(new_line(pipeline, seconds)),
                }
            clip = change_clip(Path(tmp) / "change.mp4")
            load_before = loadavg()
            pipeline, records, elapsed = run_pipeline(clip)
            result["one_changes"] = crops_to_show_change(pipeline, records) | {
                "clip": f"single_face.mp4 frame 0 for {SPLICE_AT_S:g} s, then frame 36 (smiling) for {SPLICE_AT_S:g} s",
                "half_life_s": AppConfig().crowd.half_life_s,
                "sampling_interval_s": AppConfig().sampling.interval_s,
                "load": f"{load_before} -> {loadavg()}",
            }
    if not args.no_plots:
        load_before = loadavg()
        result["plots"] = plot_costs() | {"load": f"{load_before} -> {loadavg()}"}
    print(json.dumps(result, indent=2))
    if args.json_out:
        write_json(args.json_out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
