"""Give each face a stable id across frames (IoU tracker, no scipy).

Per-person ids let the sampler analyse each person once per interval, so one person
staring at the booth for ten minutes does not dominate the crowd's lines.

Matching per frame: greedy on IoU (highest first) between detections and each track's box
predicted from its recent velocity; detections left over are matched by centroid distance
relative to the face size (a fast move between two frames can leave IoU at 0); what is
still left starts a new track. A track survives ``max_missed_s`` without a detection
(a missed frame, a brief occlusion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol, Sequence

import numpy as np

from crowdmood_gui.core.events import TrackBox

Box = tuple[float, float, float, float]


class DetectionLike(Protocol):
    """What the tracker needs from a detection (``detection.Detection`` fits)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float


@dataclass(eq=False, slots=True)
class Track:
    id: int
    box: Box  # x1, y1, x2, y2 of the last matched detection (frame pixels)
    score: float
    first_seen_s: float
    last_seen_s: float
    hits: int = 1  # frames with a matching detection
    landmarks: tuple = ()  # of the last matched detection (5 points), if the detector gives them
    missed: int = 0  # consecutive updates without a match
    velocity: tuple[float, float] = (0.0, 0.0)  # centre px / s, smoothed
    # Sampler / pipeline state
    last_sampled_s: float | None = None  # when the sampler last cut a crop of this track
    analysed_count: int = 0  # records that came back for this track
    last_dominant: str | None = None  # dominant expression of the last record
    extra: dict[str, Any] = field(default_factory=dict)  # free slot for the pipeline

    @property
    def age_s(self) -> float:
        return self.last_seen_s - self.first_seen_s

    @property
    def x1(self) -> float:
        return self.box[0]

    @property
    def y1(self) -> float:
        return self.box[1]

    @property
    def x2(self) -> float:
        return self.box[2]

    @property
    def y2(self) -> float:
        return self.box[3]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    def predicted_box(self, now_s: float) -> Box:
        dt = now_s - self.last_seen_s
        if dt <= 0 or dt > 1.0:
            return self.box
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        x1, y1, x2, y2 = self.box
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)

    def to_box(self) -> TrackBox:
        """For :class:`~crowdmood_gui.core.events.FrameEvent`."""
        x1, y1, x2, y2 = self.box
        return TrackBox(self.id, x1, y1, x2, y2, self.score, self.last_dominant)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N x 4) with every box in ``b`` (M x 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _greedy(scores: np.ndarray, accept: np.ndarray, *, descending: bool) -> list[tuple[int, int]]:
    """Pairs (row, col) taken best-first, each row and column at most once."""
    rows, cols = np.nonzero(accept)
    if len(rows) == 0:
        return []
    values = scores[rows, cols]
    order = np.argsort(-values if descending else values, kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


class IouTracker:
    """``update(detections, now_s)`` once per analysed frame; ``now_s`` is the frame's media
    time (or any clock that does not go backwards)."""

    def __init__(self, iou_threshold: float = 0.3, max_missed_s: float = 1.0, *,
                 max_center_distance: float = 1.0, min_hits: int = 1) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed_s = max_missed_s
        # Fallback match: centre moved less than this many face sizes, similar size.
        self.max_center_distance = max_center_distance
        self.min_hits = min_hits  # visible only after this many matched frames
        self._tracks: list[Track] = []
        self._next_id = 1
        self.total_tracks = 0

    @property
    def active_tracks(self) -> list[Track]:
        """Every track still alive (matched now or within ``max_missed_s``)."""
        return list(self._tracks)

    def get(self, track_id: int) -> Track | None:
        for track in self._tracks:
            if track.id == track_id:
                return track
        return None

    def reset(self) -> None:
        """New source: forget every track (ids keep counting up, never reused)."""
        self._tracks = []

    def update(self, detections: Iterable[DetectionLike], now_s: float) -> list[Track]:
        dets = list(detections)
        tracks = self._tracks
        det_boxes = np.array([[d.x1, d.y1, d.x2, d.y2] for d in dets], dtype=np.float64).reshape(-1, 4)
        trk_boxes = np.array([t.predicted_box(now_s) for t in tracks], dtype=np.float64).reshape(-1, 4)

        iou = iou_matrix(trk_boxes, det_boxes)
        pairs = _greedy(iou, iou >= self.iou_threshold, descending=True)
        pairs += self._centroid_pairs(trk_boxes, det_boxes, pairs)

        matched_t = {r for r, _ in pairs}
        matched_d = {c for _, c in pairs}
        visible: list[Track] = []
        for r, c in pairs:
            track = tracks[r]
            self._apply(track, dets[c], now_s)
            visible.append(track)
        for i, track in enumerate(tracks):
            if i not in matched_t:
                track.missed += 1
        # Drop tracks unseen for too long (after matching, so a track exactly at the limit
        # can still be picked up this frame).
        survivors = [t for i, t in enumerate(tracks)
                     if i in matched_t or now_s - t.last_seen_s <= self.max_missed_s]
        for c, det in enumerate(dets):
            if c in matched_d:
                continue
            track = Track(id=self._next_id, box=_box_of(det), score=float(det.score),
                          first_seen_s=now_s, last_seen_s=now_s,
                          landmarks=_landmarks_of(det))
            self._next_id += 1
            self.total_tracks += 1
            survivors.append(track)
            visible.append(track)
        self._tracks = survivors
        visible.sort(key=lambda t: t.id)
        return [t for t in visible if t.hits >= self.min_hits]

    def _centroid_pairs(self, trk: np.ndarray, det: np.ndarray,
                        taken: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        if len(trk) == 0 or len(det) == 0:
            return []
        used_t = {r for r, _ in taken}
        used_d = {c for _, c in taken}
        t_ctr = (trk[:, :2] + trk[:, 2:]) / 2.0
        d_ctr = (det[:, :2] + det[:, 2:]) / 2.0
        t_size = np.sqrt(np.clip(trk[:, 2] - trk[:, 0], 1, None) * np.clip(trk[:, 3] - trk[:, 1], 1, None))
        d_size = np.sqrt(np.clip(det[:, 2] - det[:, 0], 1, None) * np.clip(det[:, 3] - det[:, 1], 1, None))
        dist = np.linalg.norm(t_ctr[:, None, :] - d_ctr[None, :, :], axis=2) / t_size[:, None]
        ratio = d_size[None, :] / t_size[:, None]
        accept = (dist <= self.max_center_distance) & (ratio > 0.5) & (ratio < 2.0)
        if used_t:
            accept[sorted(used_t), :] = False
        if used_d:
            accept[:, sorted(used_d)] = False
        return _greedy(dist, accept, descending=False)

    @staticmethod
    def _apply(track: Track, det: DetectionLike, now_s: float) -> None:
        box = _box_of(det)
        dt = now_s - track.last_seen_s
        if dt > 0:
            (ox, oy), nx, ny = track.center, (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
            vx, vy = (nx - ox) / dt, (ny - oy) / dt
            pvx, pvy = track.velocity
            track.velocity = (0.5 * pvx + 0.5 * vx, 0.5 * pvy + 0.5 * vy) if track.hits > 1 else (vx, vy)
        track.box = box
        track.score = float(det.score)
        track.landmarks = _landmarks_of(det)
        track.last_seen_s = max(track.last_seen_s, now_s)
        track.hits += 1
        track.missed = 0


def _box_of(det: DetectionLike) -> Box:
    return (float(det.x1), float(det.y1), float(det.x2), float(det.y2))


def _landmarks_of(det: Any) -> tuple:
    points = getattr(det, "landmarks", None)
    if points is None:
        return ()
    try:
        return tuple((float(p[0]), float(p[1])) for p in points)
    except (TypeError, IndexError):
        return ()
