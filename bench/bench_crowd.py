"""Crowds at a distance (#12): recall, false positives, identities and speed on grid clips,
today's path (one 640 px pass per frame: ``detection.tiling = false``) beside the new one.

    python bench/bench_crowd.py [--seconds 3] [--clips 1080p-16x16,4k-24x24] [--live 1080p-16x16]
                                [--paths today,new,new-int8] [--json-out bench/results/crowd.json]

Each clip is an N x N grid of ``tests/data/single_face.mp4`` (one face in every frame, so
the ground truth is exact; ``tests/core/crowd_grid.py`` builds it, the tests use it too).
For each clip and each path, in the same run:

- recall per frame: faces on screen (the pipeline's boxes of that frame, IoU >= 0.3 with a
  true face) / faces in the frame; mean over the frames after the first second (the first
  sweep) and the worst frame;
- false positives per frame: boxes matching no face / faces in the frame (mean, worst);
- distinct tracks / people, and id switches (extra ids on one true face);
- ``crowdmood analyze`` as a child process, whole: speed as a multiple of real time, its
  CPU seconds per media second (user + sys: the work, which a loaded machine does not
  stretch the way it stretches wall time) and peak RSS (VmHWM);

with ``--live``, the live pipeline headless per clip for ``today``, ``allfull`` (tiles,
every cycle full: ``live_full_cycle_s = 0``, the schedule before refresh-only cycles) and
``new``; a box counts as refreshed only when its track is matched to a detection (a
Kalman prediction never counts);

and, over the 1080p clips, the face size (short side) where the mean recall crosses 90 %.
Machines are shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "core"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analyze import _CHILD  # noqa: E402
from benchlib import code_version, cpu_model, finish, loadavg, write_video  # noqa: E402
from crowd_grid import Grid, match_counts, read_clip, reference_boxes  # noqa: E402

from crowdmood_gui.core.config import AppConfig  # noqa: E402
from crowdmood_gui.core.pipeline import Pipeline  # noqa: E402

FPS = 30.0
CLIPS = {  # name: (grid n, width, height)
    "1080p-4x4": (4, 1920, 1080),
    "1080p-8x8": (8, 1920, 1080),
    "1080p-12x12": (12, 1920, 1080),
    "1080p-16x16": (16, 1920, 1080),
    "1080p-20x20": (20, 1920, 1080),
    "1080p-24x24": (24, 1920, 1080),
    "1080p-30x30": (30, 1920, 1080),
    "4k-24x24": (24, 3840, 2160),
}
PATHS = {"today": {"tiling": False, "precision": "fp32"}, "new": {"tiling": True, "precision": "fp32"},
         # the int8 detector (README "A cheaper forward pass"): the same path, cheaper passes
         "new-int8": {"tiling": True, "precision": "int8"}}
# Live only: the schedule before refresh-only cycles (every cycle full) beside the new one.
LIVE_PATHS = {"today": {"tiling": False, "precision": "fp32"},
              "allfull": {"tiling": True, "live_full_cycle_s": 0.0, "precision": "fp32"},
              "new": {"tiling": True, "precision": "fp32"}, "new-int8": {"tiling": True, "precision": "int8"}}


def quality(grid: Grid, video: Path, detection: dict, frames: int) -> dict:
    """Run the pipeline in analysis mode and score every frame's boxes against the truth."""
    config = AppConfig()
    config.source.spec = str(video)
    config.source.loop = False
    for key, value in detection.items():
        setattr(config.detection, key, value)
    per_frame: list[tuple[int, int, int, int]] = []  # index, found, false, people
    ids_by_face: dict[int, set[int]] = {}

    def tap(event) -> None:
        truth = grid.truth(event.frame_index)
        boxes = [(b.x1, b.y1, b.x2, b.y2) for b in event.tracks]
        found, false, which = match_counts(boxes, truth)
        per_frame.append((event.frame_index, found, false, len(truth)))
        for box, face in zip(event.tracks, which):
            if face >= 0:
                ids_by_face.setdefault(face, set()).add(box.track_id)

    pipeline = Pipeline(config, realtime=False, frame_tap=tap)
    pipeline.run()
    people = grid.n**2
    settled = [r for r in per_frame if r[0] >= FPS] or per_frame  # after the first sweep
    recall = [f / p for _, f, _, p in settled]
    false = [x / p for _, _, x, p in settled]
    tracks = len(set().union(*ids_by_face.values())) if ids_by_face else 0
    return {
        "frames_scored": len(per_frame),
        "recall_mean": round(sum(recall) / len(recall), 4),
        "recall_worst_frame": round(min(recall), 4),
        "false_pos_per_face_mean": round(sum(false) / len(false), 4),
        "false_pos_per_face_worst": round(max(false), 4),
        "tracks_over_people": round(pipeline._tracker.total_tracks / people, 3),
        "tracks_on_faces_over_people": round(tracks / people, 3),
        "id_switches": sum(len(ids) - 1 for ids in ids_by_face.values()),
    }


def analyze_process(video: Path, detection: dict, seconds: float) -> dict:
    """``crowdmood analyze`` as a user runs it: wall time and peak RSS of the process."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.toml"
        lines = ["[detection]"] + [f"{k} = {json.dumps(v)}" for k, v in detection.items()]  # TOML scalars
        config.write_text("\n".join(lines) + "\n")
        env = dict(os.environ, CROWDMOOD_HOME=str(Path(tmp) / "home"))
        load = loadavg()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, "analyze", str(video), "--out", str(Path(tmp) / "t.csv"),
             "--config", str(config), "--progress", "never"],
            capture_output=True, text=True, env=env, cwd=str(ROOT),
        )
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"crowdmood analyze failed: {proc.stderr.strip().splitlines()[-1:]}")
    rss = next((int(l.split()[1]) / 1024 for l in proc.stderr.splitlines() if l.startswith("VmHWM_kB")), float("nan"))
    # CPU seconds per media second: what the run costs whatever the load (a loaded machine
    # stretches the wall time, not the work); under 2.0 = within reach of real time on 2 cores.
    return {"x_realtime": round(seconds / elapsed, 2), "wall_s": round(elapsed, 2),
            "cpu_s_per_media_s": round(cpu / seconds, 2), "peak_rss_mb": round(rss, 1), "load_before": load}


def live_headless(video: Path, detection: dict, seconds: float) -> dict:
    """The live pipeline (no window: display thread + observer, as the console runs it) on a
    looping clip: display fps, frame -> observer p95, per-face box refresh Hz, CPU cores.
    Painting is not included (``bench_live.py`` measures the window)."""
    import threading

    import numpy as np
    import psutil

    from crowdmood_gui.core.pipeline import NullObserver

    config = AppConfig()
    config.source.spec = str(video)
    config.source.loop = True
    for key, value in detection.items():
        setattr(config.detection, key, value)
    holder: dict = {}
    lock = threading.Lock()
    latencies: list[float] = []
    seen: dict[int, set[float]] = {}
    first_last: dict[int, list[float]] = {}

    class Observer(NullObserver):
        frames = 0

        def on_frame(self, event) -> None:
            now = time.monotonic()
            with lock:
                Observer.frames += 1
                latencies.append((now - event.captured_monotonic) * 1000)
                pipeline = holder.get("p")
                tracker = getattr(pipeline, "_tracker", None)
                for track in list(tracker.active_tracks) if tracker else ():
                    seen.setdefault(track.id, set()).add(track.last_seen_s)
                    span = first_last.setdefault(track.id, [now, now])
                    span[1] = now

    proc = psutil.Process()
    pipeline = Pipeline(config, Observer(), realtime=True)
    holder["p"] = pipeline
    pipeline.start()
    time.sleep(2.0)  # models loaded, first sweep under way
    with lock:
        Observer.frames = 0
        latencies.clear()
        seen.clear()
        first_last.clear()
    cpu0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
    time.sleep(seconds)
    cpu1, t1 = sum(proc.cpu_times()[:2]), time.monotonic()
    with lock:
        frames = Observer.frames
        lat = sorted(latencies)
        rates = [(len(seen[i]) - 1) / (s[1] - s[0]) for i, s in first_last.items() if s[1] - s[0] >= seconds / 2]
    pipeline.stop(5.0)
    return {
        "display_fps": round(frames / (t1 - t0), 1),
        "frame_to_observer_p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
        "face_refresh_hz_median": round(float(np.median(rates)), 2) if rates else None,
        "face_refresh_hz_p10": round(float(np.percentile(rates, 10)), 2) if rates else None,
        "faces_followed": len(rates),
        "cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 2),
        "seconds": seconds,
        "load_before": loadavg(),
    }


def crossing(points: list[tuple[float, float]], level: float = 0.9) -> float | None:
    """The face size where recall (by size, interpolated linearly) first reaches ``level``."""
    points = sorted(points)
    for (s0, r0), (s1, r1) in zip(points, points[1:]):
        if r0 < level <= r1:
            return round(s0 + (level - r0) * (s1 - s0) / (r1 - r0), 1)
    if points and points[0][1] >= level:
        return None  # already above at the smallest size measured
    return float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each grid clip")
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma-separated: " + ", ".join(CLIPS))
    parser.add_argument("--no-process", action="store_true", help="skip the crowdmood analyze child runs")
    parser.add_argument("--live", default="", help="comma-separated clips to also run live (headless), e.g. 1080p-16x16")
    parser.add_argument("--live-seconds", type=float, default=15.0)
    parser.add_argument("--paths", default=",".join(PATHS), help="comma-separated: " + ", ".join(PATHS))
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    paths = {name: PATHS[name] for name in args.paths.split(",")}
    live_paths = {name: v for name, v in LIVE_PATHS.items() if name in paths or name == "allfull"}

    frames = read_clip()
    boxes = reference_boxes(frames)
    count = int(round(args.seconds * FPS))
    result: dict = {"code": code_version(), "cpu": cpu_model(), "cores": os.cpu_count(),
                    "clip_seconds": args.seconds, "fps": FPS, "clips": {}}
    with tempfile.TemporaryDirectory() as tmp:
        # 640x360: the bundled one-face clip itself, repeated (no tiles: must not be slower).
        small = Path(tmp) / "640x360.mp4"
        write_video(small, (frames[i % len(frames)] for i in range(count)), FPS)
        if not args.no_process:
            row = {"size": "640x360", "faces": 1}
            for name, detection in paths.items():
                row[name] = analyze_process(small, detection, args.seconds)
            result["clips"]["640x360-single"] = row
            print("640x360-single", json.dumps(row), flush=True)

        for name in args.clips.split(","):
            n, width, height = CLIPS[name]
            grid = Grid(frames, boxes, n, width, height)
            video = grid.write(Path(tmp) / f"{name}.mp4", count, fps=FPS)
            row = {"size": f"{width}x{height}", "faces": n * n, "face_px": round(grid.face_px(), 1)}
            for path, detection in paths.items():
                load = loadavg()
                row[path] = {"load_before": load, **quality(grid, video, detection, count)}
                if not args.no_process:
                    row[path].update({f"analyze_{k}": v for k, v in analyze_process(video, detection, args.seconds).items()})
            if name in args.live.split(","):
                for path, detection in live_paths.items():
                    row.setdefault(path, {})["live_headless"] = live_headless(video, detection, args.live_seconds)
            result["clips"][name] = row
            print(name, json.dumps(row), flush=True)
            video.unlink()

    for path in paths:
        points = [(r["face_px"], r[path]["recall_mean"]) for k, r in result["clips"].items()
                  if k.startswith("1080p")]
        result[f"recall_90_face_px_{path}"] = crossing(points)
    status = finish(result, args.json_out)
    print(json.dumps({k: v for k, v in result.items() if k != "clips"}, indent=1))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
