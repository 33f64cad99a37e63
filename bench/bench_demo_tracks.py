"""Tracks per person on the bundled crowd demo (issue #12: a face entering at the frame's
edge must get one id, not two), today's code beside an older commit in the same run.

    python bench/bench_demo_tracks.py [--ref main] [--video crowdmood_gui/resources/demo/demo.mp4]
                                      [--precisions fp32,int8]

Runs the analysis path of ``crowdmood analyze`` (``CrowdDetector`` in analysis mode +
``FaceTracker``, default settings) over every frame and prints the tracks started, the
people in the demo (19, ``resources/demo/README.md``) and, per track, where and when it
started: a track born with its box at the frame's edge right before another one nearby
is the double id. ``--ref REV`` exports ``crowdmood_gui/`` of that commit (``git
archive``) and runs the same there. No timing: the figure does not depend on load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import write_json  # beside this script

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "crowdmood_gui" / "resources" / "demo" / "demo.mp4"
PEOPLE = 19


def count_tracks(video: Path, precision: str | None = None) -> dict:
    import cv2

    from crowdmood_gui.core.config import AppConfig
    from crowdmood_gui.core.crowd_detection import CrowdDetector
    from crowdmood_gui.core.detection import FaceDetector
    from crowdmood_gui.core.tracking import FaceTracker

    config = AppConfig()
    if precision:  # the face detector's weights (default: the config's)
        config.detection.precision = precision
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    crowd = CrowdDetector(FaceDetector.from_config(config.detection), config.detection, realtime=False)
    t = config.tracking
    tracker = FaceTracker(iou_threshold=t.iou_threshold, max_missed_s=t.max_missed_s, max_unseen_s=t.max_unseen_s)
    births, known, index, width = [], set(), 0, 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        width = image.shape[1]
        now = index / fps
        detections, report = crowd.detect(image, now, tracker.active_tracks)
        tracker.update(detections, now, covered=report.coverage)
        for track in tracker.active_tracks:
            if track.id not in known:
                known.add(track.id)
                x1, y1, x2, y2 = (round(v) for v in track.box)
                births.append({"id": track.id, "t": round(now, 2), "box": [x1, y1, x2, y2],
                               "at_edge": x1 <= 1 or y1 <= 1 or x2 >= width - 1 or y2 >= image.shape[0] - 1})
        index += 1
    return {"frames": index, "tracks": tracker.total_tracks, "people": PEOPLE,
            "tracks_over_people": round(tracker.total_tracks / PEOPLE, 3),
            "births_at_edge": sum(b["at_edge"] for b in births), "births": births}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", help="also run crowdmood_gui/ of this commit (git archive)")
    parser.add_argument("--video", type=Path, default=DEMO)
    parser.add_argument("--precisions", default="",
                        help="comma-separated detection.precision values to run this tree with, e.g. fp32,int8")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # run by --ref inside the exported tree
        print(json.dumps(count_tracks(args.video)))
        return 0
    sys.path.insert(0, str(ROOT))
    result = {}
    if args.ref:
        with tempfile.TemporaryDirectory(prefix="crowdmood-ref-") as tmp:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref, "crowdmood_gui"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            env = {**os.environ, "PYTHONPATH": tmp}
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--video", str(args.video)],
                                 capture_output=True, text=True, env=env, cwd=tmp, check=True).stdout
            result[args.ref] = json.loads(out.strip().splitlines()[-1])
    if args.precisions:
        for precision in args.precisions.split(","):
            result[f"this tree, {precision}"] = count_tracks(args.video, precision)
    else:
        result["this tree"] = count_tracks(args.video)
    for name, row in result.items():
        print(f"{name:>16}: {row['tracks']} tracks for {row['people']} people ({row['tracks_over_people']}x), "
              f"{row['births_at_edge']} born at the frame's edge, {row['frames']} frames")
        for birth in row["births"]:
            if birth["t"] > 0:
                print(f"            track {birth['id']} at {birth['t']} s, box {birth['box']}"
                      + (" (at the edge)" if birth["at_edge"] else ""))
    if args.json_out:
        write_json(args.json_out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
