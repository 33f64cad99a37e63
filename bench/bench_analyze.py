"""Headless analysis throughput, measured in one run on one machine.

    python bench/bench_analyze.py [--video PATH] [--repeat 5] [--threads 2]

Prints (and writes as JSON with --json-out):
- decode-only fps of the video (OpenCV, nothing else);
- detector-only fps (the model alone on pre-decoded frames, same threads as the app);
- full-pipeline fps of ``crowdmood analyze`` (decode, detect, track, sample, expression,
  aggregate, store) and its speed as a multiple of real time;
- ratios pipeline/detector and pipeline/decode;
- ms per frame for detection, ms per crop for the expression model;
- peak RSS of ``crowdmood analyze`` run as a child process.

The default video is the bundled 640x360 clip written ``--repeat`` times into one 24 fps
file, so the run lasts long enough to measure. Figures go in the README as ratios plus
absolute numbers from one run; these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crowdmood_gui.core.config import AppConfig  # noqa: E402
from crowdmood_gui.core.detection import FaceDetector  # noqa: E402
from crowdmood_gui.core.expression import ExpressionModel  # noqa: E402
from crowdmood_gui.core.pipeline import Pipeline  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import read_frames, write_json, write_video  # noqa: E402

DEFAULT_SOURCE = ROOT / "tests" / "data" / "single_face.mp4"  # 640x360, 30 fps, 72 frames: the bundled demo until issue #12 made it a crowd


def make_long_video(source: Path, repeat: int, out: Path, fps: float = 24.0) -> Path:
    return write_video(out, read_frames(source) * repeat, fps)


def decode_fps(path: Path) -> tuple[float, list[np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    started = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    elapsed = time.perf_counter() - started
    cap.release()
    return len(frames) / elapsed, frames


def detector_fps(frames: list[np.ndarray], threads: int) -> tuple[float, float]:
    detector = FaceDetector(threads=threads)
    detector.detect(frames[0])  # warm-up
    started = time.perf_counter()
    for frame in frames:
        detector.detect(frame)
    elapsed = time.perf_counter() - started
    return len(frames) / elapsed, elapsed * 1000 / len(frames)


def expression_ms(frames: list[np.ndarray]) -> float:
    detector = FaceDetector()
    model = ExpressionModel()
    crops = []
    for frame in frames[:: max(1, len(frames) // 20)]:
        for d in detector.detect(frame):
            crops.append(frame[int(d.y1) : int(d.y2), int(d.x1) : int(d.x2)])
    if not crops:
        return float("nan")
    model.predict(crops[:1])
    started = time.perf_counter()
    for crop in crops:
        model.predict([crop])
    return (time.perf_counter() - started) * 1000 / len(crops)


def pipeline_fps(path: Path, threads: int) -> tuple[float, int, float]:
    config = AppConfig()
    config.source.spec = str(path)
    config.source.loop = False
    config.detection.threads = threads
    pipeline = Pipeline(config, realtime=False)
    started = time.perf_counter()
    pipeline.run()
    elapsed = time.perf_counter() - started
    return pipeline.frames_processed / elapsed, pipeline.records_analysed, elapsed


# The child reads its own high-water mark (VmHWM) at exit. getrusage(RUSAGE_CHILDREN) would
# not do: Linux carries the forking parent's ru_maxrss into the child across exec, and this
# benchmark holds every decoded frame in memory.
_CHILD = """
import atexit, sys
from crowdmood_gui.cli import main
def report():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            print('VmHWM_kB', line.split()[1], file=sys.stderr)
atexit.register(report)
sys.exit(main(sys.argv[1:]))
"""


def analyze_peak_rss_mb(path: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, "analyze", str(path), "--out", str(Path(tmp) / "t.csv")],
            check=True,
            capture_output=True,
            text=True,
        )
    for line in proc.stderr.splitlines():
        if line.startswith("VmHWM_kB"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, help="a video to measure (default: tests/data/single_face.mp4, the demo before #12, repeated)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or make_long_video(DEFAULT_SOURCE, args.repeat, Path(tmp) / "bench.mp4")
        cap = cv2.VideoCapture(str(video))
        fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
        size = f"{int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))}x{int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}"
        cap.release()

        dec_fps, frames = decode_fps(video)
        det_fps, det_ms = detector_fps(frames, args.threads)
        emo_ms = expression_ms(frames)
        pipe_fps, records, elapsed = pipeline_fps(video, args.threads)
        rss = analyze_peak_rss_mb(video)

    duration = len(frames) / fps
    result = {
        "video": f"{size}, {len(frames)} frames, {fps:g} fps, {duration:.1f} s",
        "onnxruntime_threads": args.threads,
        "decode_fps": round(dec_fps, 1),
        "detector_fps": round(det_fps, 1),
        "pipeline_fps": round(pipe_fps, 1),
        "pipeline_x_realtime": round(duration / elapsed, 2),
        "pipeline_over_detector": round(pipe_fps / det_fps, 3),
        "pipeline_over_decode": round(pipe_fps / dec_fps, 3),
        "detect_ms_per_frame": round(det_ms, 2),
        "expression_ms_per_crop": round(emo_ms, 3),
        "records_analysed": records,
        "analyze_peak_rss_mb": round(rss, 1),
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    if args.json_out:
        write_json(args.json_out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
