"""``crowdmood analyze``: the headless twin of the console.

    crowdmood analyze VIDEO [--out timeline.csv] [--period 1] [--faces-out faces.csv] [--session NAME]
    crowdmood analyze IMAGE... --format json

A video is analysed frame by frame, faster than real time; an image is analysed whole and
printed as one Rekognition-shaped JSON document per line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from crowdmood_gui.core.errors import InputError
from crowdmood_gui.core.series import PERIODS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def add_parser(subparsers) -> None:
    from crowdmood_gui.core.flags import add_config_arguments, add_expression_argument

    parser = subparsers.add_parser(
        "analyze",
        help="analyse a video (timeline CSV) or images (Rekognition-shaped JSON) without a window",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", metavar="VIDEO|URL|IMAGE",
                        help="one video file or stream URL (rtsp://, http(s)://), or image files")
    add_config_arguments(parser)
    add_expression_argument(parser)
    parser.add_argument("--out", type=Path, help="timeline CSV (default: standard output)")
    parser.add_argument("--faces-out", type=Path, help="per-face CSV")
    parser.add_argument("--period", type=int, choices=PERIODS, default=1, help="timeline period in seconds (the crowd value per period)")
    parser.add_argument("--format", choices=("csv", "json"), default=None, help="csv (videos) or json (images)")
    parser.add_argument("--session", help="also record the analysis as a session with this name")
    parser.add_argument("--record-video", action="store_true", default=None,
                        help="with --session: keep the video (with boxes, blurred if privacy is on) for replay")
    parser.add_argument("--interval", type=float, help="seconds between two crops of one face (default 2)")
    parser.add_argument("--progress", choices=("auto", "always", "never"), default="auto")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from crowdmood_gui.core.capture import SourceSpec

    specs = [SourceSpec.parse(text) for text in args.inputs]  # a URL stays a URL, not a Path
    images = [s.path for s in specs if s.kind == "file" and s.path.suffix.lower() in IMAGE_SUFFIXES]
    if images and len(images) == len(specs):
        return analyze_images(images, args)
    if len(specs) != 1:
        raise InputError("give either one video file or stream URL, or one or more image files (.jpg, .png, ...)")
    if args.format == "json":
        raise InputError("--format json is for images; a video gives a timeline CSV")
    return analyze_video(args, specs[0])


# --- images ---------------------------------------------------------------------------


def analyze_images(paths: list[Path], args: argparse.Namespace) -> int:
    import cv2

    from crowdmood_gui.core.flags import expression_overrides
    from crowdmood_gui.core.config import load_config
    from crowdmood_gui.core.crowd_detection import CrowdDetector
    from crowdmood_gui.core.detection import FaceDetector
    from crowdmood_gui.core.expression import ExpressionModel, face_details

    config = load_config(args.config, expression_overrides(args))
    # A still image gets every tile at once: a group photo's small faces are found too.
    crowd = CrowdDetector(FaceDetector.from_config(config.detection), config.detection, realtime=False)
    model = ExpressionModel.from_config(config.expression)
    status = 0
    for path in paths:
        try:
            image = _read_image(path, cv2)
        except InputError as exc:
            print(f"crowdmood: error: {exc}", file=sys.stderr)
            status = 2
            continue
        detections = crowd.detect_whole(image)
        boxes = [(d.x1, d.y1, d.x2, d.y2) for d in detections]
        probabilities = model.predict([image] * len(boxes), boxes) if boxes else []
        details = [
            face_details(
                image,
                (int(d.x1), int(d.y1), int(d.x2), int(d.y2)),
                probs,
                d.score,
                d.landmarks,
            )
            for d, probs in zip(detections, probabilities)
        ]
        print(json.dumps({"path": str(path), "FaceDetails": details}), flush=True)
    return status


def _read_image(path: Path, cv2) -> "object":
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    if not data:
        raise InputError(f"{path}: the file is empty")
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: not an image OpenCV can decode (JPEG, PNG, BMP, WebP, TIFF)")
    return image


# --- video ----------------------------------------------------------------------------


class _Progress:
    def __init__(self, label: str, total_s: float | None, enabled: bool) -> None:
        self.label = label
        self.total_s = total_s
        self.enabled = enabled
        self.started = time.monotonic()

    def __call__(self, media_s: float, frames: int) -> None:
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        speed = media_s / elapsed
        if self.total_s:
            share = min(1.0, media_s / self.total_s)
            bar = "#" * int(share * 30)
            text = f"\r{self.label} [{bar:<30}] {share:4.0%} {media_s:6.1f}/{self.total_s:.1f} s  {frames / elapsed:5.0f} fps  {speed:4.1f}x"
        else:
            text = f"\r{self.label} {media_s:6.1f} s  {frames / elapsed:5.0f} fps  {speed:4.1f}x"
        sys.stderr.write(text)
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def analyze_video(args: argparse.Namespace, spec) -> int:
    """``spec``: a parsed :class:`~crowdmood_gui.core.capture.SourceSpec` (file or stream)."""
    from crowdmood_gui.core.flags import expression_overrides
    from crowdmood_gui.core.capture import open_source, video_duration_s
    from crowdmood_gui.core.config import load_config
    from crowdmood_gui.core.export import write_faces_csv, write_timeline_csv
    from crowdmood_gui.core.pipeline import NullObserver

    class Collector(NullObserver):
        """Keeps the records for the CSVs, and failures for the exit code."""

        def __init__(self) -> None:
            self.failure: str | None = None
            self.errors: list[str] = []
            self.storage_errors: list[str] = []  # the session on disk is incomplete
            self.records: list = []

        def on_record(self, event) -> None:
            self.records.append((event.record, event.media_time_s))

        def on_source(self, event) -> None:
            if event.state == "failed":
                self.failure = event.message

        def on_error(self, event) -> None:
            self.errors.append(event.message)
            if getattr(event, "where", "") in ("store", "recording"):
                self.storage_errors.append(event.message)

    # Before minutes of analysis: an output that cannot be written is a user error now.
    from crowdmood_gui.core.export import check_writable

    for target in (args.out, args.faces_out):
        if target is not None:
            check_writable(target)

    source_text = str(spec.path) if spec.kind == "file" else spec.text
    overrides: dict = {"source": {"spec": source_text, "loop": False}, "backend": "local", **expression_overrides(args)}
    if args.interval is not None:
        overrides["sampling"] = {"interval_s": args.interval}
    if args.session:
        overrides["session"] = args.session
    config = load_config(args.config, overrides)

    # Fail fast, with one line, on a file that cannot be opened at all.
    if spec.kind == "file":
        total_s = video_duration_s(spec)
    else:
        total_s = None
        if spec.kind in ("rtsp", "http"):  # unreachable, or no password in the keychain: say so now
            open_source(spec, open_timeout_s=config.source.open_timeout_s).close()

    from crowdmood_gui.core.session_runner import SessionRun

    record = config.recording.record_video if args.record_video is None else args.record_video
    collector = Collector()
    # With --session: a session folder (records, timeline, video when asked); without, nothing on disk.
    run = SessionRun(config, collector, session=args.session or None, record_video=bool(args.session and record),
                     realtime=False)
    session, recorder, pipeline = run.session, run.recorder, run.pipeline
    enabled = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    label = spec.path.name if spec.kind == "file" else spec.display_name  # never the password
    progress = _Progress(label, total_s, enabled)
    interrupted = False
    try:
        run.run(progress)  # ends the session whatever happens (a full disk must not cost the CSVs)
    except KeyboardInterrupt:  # Ctrl-C, the way a stream's analysis ends: keep what was analysed
        interrupted = True
    finally:
        progress.done()
    collector.storage_errors.extend(run.end_errors)
    # The store is closed by the pipeline; read back through a fresh handle when on disk.
    rows = pipeline.timeline_rows(args.period)
    records = sorted(collector.records, key=lambda item: (item[1], item[0].key))
    try:
        if args.out:
            write_timeline_csv(rows, args.out)
        else:
            write_timeline_csv(rows, sys.stdout)
        if args.faces_out:
            write_faces_csv(records, args.faces_out)
    except OSError as exc:
        raise InputError(f"cannot write {exc.filename or 'the output'}: {exc.strerror}") from None
    for message in collector.errors:
        if message not in collector.storage_errors:
            print(f"crowdmood: warning: {message}", file=sys.stderr)
    if collector.storage_errors and session is not None:
        outputs = ", ".join(str(p) for p in (args.out, args.faces_out) if p) or "standard output"
        # One line: what is incomplete, where everything is, how to merge it back. The store's
        # closing message names the cause and the file of unsaved results: prefer it.
        errors = collector.storage_errors
        main = next((e for e in errors if "unsaved results" in e), errors[0])
        video = " The recorded video stops where the disk filled." if recorder is not None and recorder.stats.errors else ""
        print(f"crowdmood: error: session {session.id} is incomplete on disk: {main}.{video} "
              f"Every result was written to {outputs}", file=sys.stderr)
        return 2
    if interrupted:
        outputs = ", ".join(str(p) for p in (args.out, args.faces_out) if p) or "standard output"
        print(f"crowdmood: interrupted: the results analysed so far were written to {outputs}", file=sys.stderr)
        return 130
    if collector.failure or pipeline.source_error:
        print(f"crowdmood: error: {collector.failure or pipeline.source_error} (results up to that point were kept)", file=sys.stderr)
        return 2
    return 0
