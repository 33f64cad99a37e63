"""Give each face a stable id across frames: constant-velocity Kalman tracks (NumPy only).

Per-person ids let the sampler analyse each person once per interval, so one person
staring at the booth for ten minutes does not dominate the crowd's lines.

Each track carries a constant-velocity Kalman filter on its centre (x, y, vx, vy; the
process noise scales with the face size), so its box is *predicted* at any time: between
two detection cycles, and while a crowd detector sweeps other parts of the frame.
Matching per update: greedy on IoU (highest first) between detections and each track's
predicted box; detections left over are matched by centroid distance relative to the face
size (a fast move can leave IoU at 0); what is still left starts a new track.

A track only counts as *missed* where the detector looked and could have seen it (the
``covered`` regions of an update): a face outside this cycle's tiles is not missed, it is
coasting on its prediction. A track dies ``max_missed_s`` after its last detection if it
was looked for since and not found (brief occlusion, a missed frame survive), and in any
case ``max_unseen_s`` after it (a sweep that never comes back).

Between detections a track may also be *measured* from the image (live, optical flow:
``core/flow.py``): :meth:`FaceTracker.measure` takes a face's measured centre as a
position-only Kalman update (size kept). A measurement is not a detection: it never sets
``fresh`` (crops are cut only at a box the detector found in that frame), never resets
``missed`` or ``last_seen_s`` (a face looked for and not found still ends), and never
creates or ends a track.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol, Sequence

import numpy as np

from crowdmood_gui.core.detection import pair_iou, touching_pairs
from crowdmood_gui.core.events import TrackBox

Box = tuple[float, float, float, float]

# Kalman noise, relative to the face size (a 30 px face and a 300 px one move alike on
# screen relative to their size): measurement noise (std, share of the size) and process
# noise (std of the acceleration, sizes per second squared).
MEASUREMENT_STD = 0.05
ACCELERATION_STD = 2.0
VELOCITY_STD_NEW = 1.0  # sizes per second: a new track's velocity is unknown
UNKNOWN_SPEED_SIZES_S = 6.0  # how far a face seen once may have walked, sizes per second
PREDICTION_DRIFT_SIZES_S = 1.0  # how far off a prediction may drift, sizes per second
MAX_EXTRAPOLATION_S = 1.0  # a box moves on its velocity this long after its last measurement, then holds
# A flow measurement's noise (std, share of the size): a median of a few points' motion
# over a few frames, chained from the last detection (bench/bench_flow.py: ~0.3 px median
# error on 18 px faces per step), so about as good as a detection's box centre.
FLOW_MEASUREMENT_STD = 0.05
# A shown box moves ahead of its detection cycle by at most this (live cycles come every
# 100-300 ms; a display stalled longer than this shows the box where it was last put).
MAX_BOX_LEAD_S = 0.5
# A box this close to a region's edge may have been cut there (and dropped as a partial face).
CUT_MARGIN_PX = 2.0
# A track whose box is this many times smaller than a pass's smallest reliable face may
# still take that pass's detection (``FaceTracker.update``).
MATCH_SIZE_SLACK = 1.1


class DetectionLike(Protocol):
    """What the tracker needs from a detection (``detection.Detection`` fits)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float


@dataclass(frozen=True, slots=True)
class Coverage:
    """Where one detection pass looked: a face wholly inside ``region`` whose short side is
    at least ``min_face_px`` would have been found there. ``frame``: the whole image, if
    known; a box at an edge the region shares with the frame is not cut there (nothing
    lies beyond it), so it counts as seen."""

    region: Box
    min_face_px: float = 0.0
    frame: Box | None = None

    def sees(self, box: Box) -> bool:
        """The whole box is inside (a face cut by the region's edge is found elsewhere)."""
        return bool(seen_by(np.asarray([box], dtype=np.float64), [self])[0])


def seen_by(boxes: np.ndarray, covered: Sequence[Coverage], size_slack: float = 1.0) -> np.ndarray:
    """For each box (N x 4), whether some coverage sees it (vectorised: a live cycle can
    look at hundreds of refresh regions for hundreds of tracks). ``size_slack``: a box this
    many times smaller than a coverage's ``min_face_px`` still counts."""
    if len(boxes) == 0 or not covered:
        return np.zeros(len(boxes), dtype=bool)
    regions = np.array([c.region for c in covered], dtype=np.float64).reshape(-1, 4)
    smallest = np.array([c.min_face_px for c in covered], dtype=np.float64)
    # Each region's bounds a box must keep within: CUT_MARGIN_PX inside a cut edge; none
    # at the frame's own edge. (Without that exception a face entering at the frame's
    # edge was never "looked for": its partial box could not take the next detection of
    # the same face, which started a second track, and it coasted on for max_unseen_s.)
    m = CUT_MARGIN_PX
    frames = np.array([c.frame if c.frame is not None else (np.nan,) * 4 for c in covered], dtype=np.float64)
    at_frame = np.zeros_like(regions, dtype=bool)
    at_frame[:, :2] = regions[:, :2] <= frames[:, :2]
    at_frame[:, 2:] = regions[:, 2:] >= frames[:, 2:]
    lower = np.where(at_frame[:, :2], -np.inf, regions[:, :2] + m)
    upper = np.where(at_frame[:, 2:], np.inf, regions[:, 2:] - m)
    side = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    inside = ((boxes[:, None, 0] > lower[None, :, 0]) & (boxes[:, None, 1] > lower[None, :, 1])
              & (boxes[:, None, 2] < upper[None, :, 0]) & (boxes[:, None, 3] < upper[None, :, 1])
              & (side[:, None] * size_slack >= smallest[None, :]))
    return inside.any(axis=1)


@dataclass(eq=False, slots=True)
class Track:
    id: int
    box: Box  # x1, y1, x2, y2: the matched detection, or the prediction while coasting
    score: float
    first_seen_s: float
    last_seen_s: float
    hits: int = 1  # updates with a matching detection
    landmarks: tuple = ()  # of the last matched detection (5 points), if the detector gives them
    missed: int = 0  # updates since the last match that looked where the face should be
    velocity: tuple[float, float] = (0.0, 0.0)  # centre px / s (the Kalman estimate)
    fresh: bool = True  # matched in the latest update: ``box`` is a detection of that frame
    center_seen: tuple[float, float] = (0.0, 0.0)  # centre of the last matched detection
    # The last time the face's position was measured from the image: a detection or
    # (live) an optical-flow measurement. Never earlier than ``last_seen_s``.
    last_measured_s: float = 0.0
    center_measured: tuple[float, float] = (0.0, 0.0)  # the centre measured then
    flow_measures: int = 0  # optical-flow measurements of this track (live)
    flow_lost: bool = False  # the flow failed on it since its last detection (covered, turned)
    # Sampler / pipeline state
    last_sampled_s: float | None = None  # when the sampler last cut a crop of this track
    extra: dict[str, Any] = field(default_factory=dict)  # free slot for the pipeline
    # Kalman state at ``_kf_time_s``: centre and velocity (x, y, vx, vy). Both axes have
    # the same noise, so they share one 2x2 covariance [[pos, cross], [cross, vel]]:
    # plain floats, about a microsecond per step (a crowd has hundreds of tracks).
    _kf: tuple[float, float, float, float] | None = None
    _kf_cov: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _kf_time_s: float = 0.0

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
    def size(self) -> float:
        """The face's size for noise and distances: the geometric mean of its sides."""
        return float(np.sqrt(max(self.width, 1.0) * max(self.height, 1.0)))

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    def predicted_box(self, now_s: float) -> Box:
        """The box moved to where the filter expects the face at ``now_s``."""
        if self._kf is None:
            return self.box
        dt = self._moving_dt(self._kf_time_s, now_s)
        x, y, vx, vy = self._kf
        cx, cy = x + vx * dt, y + vy * dt
        hw, hh = self.width / 2.0, self.height / 2.0
        return (cx - hw, cy - hh, cx + hw, cy + hh)

    def to_box(self, now_s: float | None = None, dominant: str | None = None,
               max_lead_s: float = MAX_BOX_LEAD_S) -> TrackBox:
        """For :class:`~crowdmood_gui.core.events.FrameEvent`: the box at ``now_s`` (the
        frame of the last update) with the velocity to show it on a later frame, for at
        most ``max_lead_s`` and never past ``MAX_EXTRAPOLATION_S`` after the last match
        (where the tracker's own prediction stops too). ``dominant``: the label, from the
        crowd state (core/crowd.py), the one place that holds each person's expression."""
        x1, y1, x2, y2 = self.box
        if now_s is None:
            return TrackBox(self.id, x1, y1, x2, y2, self.score, dominant)
        lead = max(0.0, min(max_lead_s, self._measured_s + MAX_EXTRAPOLATION_S - now_s))
        vx, vy = self.velocity if lead > 0 else (0.0, 0.0)
        return TrackBox(self.id, x1, y1, x2, y2, self.score, dominant, float(vx), float(vy), float(now_s), lead)

    # --- the Kalman filter (constant velocity on the centre) ------------------------

    def _kf_start(self, now_s: float) -> None:
        size = self.size
        cx, cy = self.center
        self._kf = (cx, cy, 0.0, 0.0)
        self._kf_cov = ((MEASUREMENT_STD * size) ** 2, 0.0, (VELOCITY_STD_NEW * size) ** 2)
        self._kf_time_s = now_s

    @property
    def _measured_s(self) -> float:
        return max(self.last_seen_s, self.last_measured_s)

    def _moving_dt(self, from_s: float, to_s: float) -> float:
        """How much of ``from_s`` -> ``to_s`` the box moves on its velocity: only up to
        ``MAX_EXTRAPOLATION_S`` after the last measurement (a detection or the flow). A
        velocity is a few frames' estimate; carried over seconds of a starved sweep it
        would walk the box off the face."""
        stop = self._measured_s + MAX_EXTRAPOLATION_S
        return max(0.0, min(to_s, stop) - from_s)

    def _kf_predict(self, now_s: float) -> None:
        dt = now_s - self._kf_time_s
        if dt <= 0 or self._kf is None:
            return
        moving = self._moving_dt(self._kf_time_s, now_s)
        dt = min(dt, 2.0)
        x, y, vx, vy = self._kf
        pos, cross, vel = self._kf_cov
        q = (ACCELERATION_STD * self.size) ** 2  # white acceleration noise
        self._kf = (x + vx * moving, y + vy * moving, vx, vy)
        self._kf_cov = (pos + 2 * dt * cross + dt * dt * vel + q * dt**4 / 4,
                        cross + dt * vel + q * dt**3 / 2,
                        vel + q * dt * dt)
        self._kf_time_s = now_s

    def _kf_update(self, cx: float, cy: float, previous: tuple[float, float], dt: float) -> None:
        r = (MEASUREMENT_STD * self.size) ** 2
        if self.hits == 1 and dt > 0:
            # Second detection: start from the two points (velocity = displacement / dt)
            # instead of letting a zero prior velocity lag a fast first move.
            vx, vy = (cx - previous[0]) / dt, (cy - previous[1]) / dt
            self._kf = (cx, cy, vx, vy)
            self._kf_cov = (r, 0.0, 2 * r / dt**2 + (ACCELERATION_STD * self.size * dt) ** 2)
            self.velocity = (vx, vy)
            return
        x, y, vx, vy = self._kf
        pos, cross, vel = self._kf_cov
        k_pos, k_vel = pos / (pos + r), cross / (pos + r)
        ix, iy = cx - x, cy - y
        self._kf = (x + k_pos * ix, y + k_pos * iy, vx + k_vel * ix, vy + k_vel * iy)
        self._kf_cov = ((1 - k_pos) * pos, (1 - k_pos) * cross, vel - k_vel * cross)
        self.velocity = (self._kf[2], self._kf[3])

    def _kf_measure(self, cx: float, cy: float, now_s: float) -> None:
        """A flow measurement (the filter was predicted to now): the position is taken as
        measured and the velocity as the displacement since the last measurement. A chain of
        flow steps a few frames apart measures a face's motion to a fraction of a pixel; the
        filter, tuned for sparse detections, would trail a face that turns between two of
        them (the box lagged 10-20 px behind a face turning back at 150 px/s)."""
        if self._kf is None:
            return
        r = (FLOW_MEASUREMENT_STD * self.size) ** 2
        x, y, vx, vy = self._kf
        dt = now_s - self._measured_s
        px, py = self.center_measured
        if dt > 1e-6 and now_s - self._measured_s <= MAX_EXTRAPOLATION_S:
            vx, vy = (cx - px) / dt, (cy - py) / dt
        pos, cross, vel = self._kf_cov
        self._kf = (cx, cy, vx, vy)
        self._kf_cov = (r, 0.0, min(vel, 2 * r / max(dt, 1.0 / 30.0) ** 2))
        self.velocity = (vx, vy)


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


def iou_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of a box in ``a`` (N x 4) and a box in ``b`` (M x 4) that overlap, as rows,
    columns and IoU (> 0), in row-major order: the non-zero entries of
    ``iou_matrix(a, b)``. Only boxes that touch are compared (``touching_pairs``): a 4K
    crowd's 576 x 576 matrix cost 13 ms of every detection cycle's tracker update."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float64)
    first, second = touching_pairs(np.concatenate((a, b)).astype(np.float64))
    cross = (first < n) != (second < n)
    rows = np.where(first[cross] < n, first[cross], second[cross])
    cols = np.where(first[cross] < n, second[cross], first[cross]) - n
    # each unordered pair once, row-major (the dense matrix's np.nonzero order)
    key = np.unique(rows * m + cols)
    rows, cols = key // m, key % m
    iou = pair_iou(a[rows].astype(np.float64), b[cols].astype(np.float64))
    keep = iou > 0
    return rows[keep], cols[keep], iou[keep]


def _greedy_pairs(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, *,
                  descending: bool) -> list[tuple[int, int]]:
    """Pairs (row, col) taken best-first from candidate pairs in row-major order, each row
    and column at most once (ties keep that order)."""
    if len(rows) == 0:
        return []
    order = np.argsort(-values if descending else values, kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


def _greedy(scores: np.ndarray, accept: np.ndarray, *, descending: bool) -> list[tuple[int, int]]:
    """Pairs (row, col) taken best-first, each row and column at most once."""
    rows, cols = np.nonzero(accept)
    return _greedy_pairs(rows, cols, scores[rows, cols], descending=descending)


class FaceTracker:
    """``update(detections, now_s, covered)`` once per processed frame; ``now_s`` is the
    frame's media time (or any clock that does not go backwards)."""

    def __init__(self, iou_threshold: float = 0.3, max_missed_s: float = 1.0, *,
                 max_center_distance: float = 1.0, min_hits: int = 1, max_unseen_s: float = 10.0) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed_s = max_missed_s
        # A track nobody looked for (a slow sweep) still dies this long after its last match.
        self.max_unseen_s = max(max_unseen_s, max_missed_s)
        # Fallback match: centre moved less than this many face sizes, similar size.
        self.max_center_distance = max_center_distance
        self.min_hits = min_hits  # visible only after this many matched frames
        self._tracks: list[Track] = []
        self._next_id = 1
        self.total_tracks = 0

    @property
    def active_tracks(self) -> list[Track]:
        """Every track still alive (matched, coasting, or missed within ``max_missed_s``)."""
        return list(self._tracks)

    def get(self, track_id: int) -> Track | None:
        for track in self._tracks:
            if track.id == track_id:
                return track
        return None

    def reset(self) -> None:
        """New source: forget every track (ids keep counting up, never reused)."""
        self._tracks = []

    def update(self, detections: Iterable[DetectionLike], now_s: float,
               covered: Sequence[Coverage] | None = None) -> list[Track]:
        """Match ``detections`` (all from the frame at ``now_s``) to the tracks.

        ``covered``: where the detector looked for this frame; ``None`` means the whole
        frame at every size (a plain detector), ``[]`` nowhere (a frame between two
        detection cycles: tracks only move on their prediction).

        Returns the visible tracks, by id: those matched now (``fresh``) and those not
        looked for since their last match (coasting on the prediction).
        """
        dets = list(detections)
        tracks = self._tracks
        for track in tracks:
            track._kf_predict(now_s)
        det_boxes = np.array([[d.x1, d.y1, d.x2, d.y2] for d in dets], dtype=np.float64).reshape(-1, 4)
        trk_boxes = np.array([t.predicted_box(now_s) for t in tracks], dtype=np.float64).reshape(-1, 4)

        # Only a track the detector looked for can take a detection of this update: a
        # face outside this cycle's tiles must not steal a neighbour's new detection.
        looked = np.ones(len(tracks), dtype=bool) if covered is None else seen_by(trk_boxes, covered)
        # A pass that reports faces from a size on (the low-resolution pass: 32 px in 720p)
        # may find a face whose track's box is a pixel under that size (box sizes jitter by a
        # few %): that track may still take it (it is not counted missed when not found).
        # Without the slack the demo's 32 px face started a second track (bench_demo_tracks).
        matchable = looked if covered is None else seen_by(trk_boxes, covered, MATCH_SIZE_SLACK)
        rows, cols, iou = iou_pairs(trk_boxes, det_boxes)
        take = matchable[rows] & (iou >= self.iou_threshold)
        pairs = _greedy_pairs(rows[take], cols[take], iou[take], descending=True)
        since = np.array([now_s - t.last_seen_s for t in tracks], dtype=np.float64)
        unsure = np.array([t.hits < 2 for t in tracks], dtype=bool)
        pairs += self._centroid_pairs(trk_boxes, det_boxes, pairs, since, unsure, matchable)

        matched_t = {r for r, _ in pairs}
        matched_d = {c for _, c in pairs}
        for r, c in pairs:
            self._apply(tracks[r], dets[c], now_s)
        survivors: list[Track] = []
        for i, track in enumerate(tracks):
            if i in matched_t:
                survivors.append(track)
                continue
            track.fresh = False
            track.box = tuple(float(v) for v in trk_boxes[i])  # coasting: where the face should be now
            if looked[i]:
                track.missed += 1
            gone = now_s - track.last_seen_s
            # After matching, so a track exactly at the limit can still be picked up; and
            # only after two looks without it, so one sweep that misses it is survived.
            if (looked[i] and track.missed >= 2 and gone > self.max_missed_s) or gone > self.max_unseen_s:
                continue
            survivors.append(track)
        for c, det in enumerate(dets):
            if c in matched_d:
                continue
            track = Track(id=self._next_id, box=_box_of(det), score=float(det.score),
                          first_seen_s=now_s, last_seen_s=now_s,
                          landmarks=_landmarks_of(det))
            track.center_seen = track.center
            track.center_measured = track.center
            track.last_measured_s = now_s
            track._kf_start(now_s)
            self._next_id += 1
            self.total_tracks += 1
            survivors.append(track)
        self._tracks = survivors
        visible = [t for t in survivors if (t.fresh or t.missed == 0) and t.hits >= self.min_hits]
        visible.sort(key=lambda t: t.id)
        return visible

    def measure(self, centres: dict[int, tuple[float, float]], now_s: float,
                lost: Iterable[int] = ()) -> list[Track]:
        """Take each face's centre measured from the frame at ``now_s`` by optical flow
        (``track id -> (cx, cy)``, source px): a position-only Kalman update, the box's
        size kept. Not a detection: ``fresh``, ``missed``, ``last_seen_s`` and ``hits``
        stay as they are. ``lost``: ids the flow tried and could not measure (marked
        ``flow_lost`` until their next detection). Ids the tracker does not know are
        ignored. Returns the tracks measured."""
        lost = set(lost)
        measured = []
        for track in self._tracks:
            if track.id in lost:
                track.flow_lost = True
            centre = centres.get(track.id)
            if centre is None or now_s < track._measured_s:
                continue
            track._kf_predict(now_s)
            x, y = float(centre[0]), float(centre[1])
            track._kf_measure(x, y, now_s)
            hw, hh = track.width / 2.0, track.height / 2.0
            track.box = (x - hw, y - hh, x + hw, y + hh)
            track.fresh = False  # the box is no longer the detector's
            track.last_measured_s = now_s
            track.center_measured = (x, y)
            track.flow_measures += 1
            measured.append(track)
        return measured

    def _centroid_pairs(self, trk: np.ndarray, det: np.ndarray, taken: Sequence[tuple[int, int]],
                        since: np.ndarray, unsure: np.ndarray, looked: np.ndarray) -> list[tuple[int, int]]:
        # Only the tracks and detections IoU left over (a crowd's update matches nearly all
        # of them by IoU: the full 576 x 576 distance matrix cost 14 ms per 4K cycle).
        used_t = {r for r, _ in taken}
        used_d = {c for _, c in taken}
        rows = np.array([r for r in range(len(trk)) if r not in used_t and looked[r]], dtype=np.int64)
        cols = np.array([c for c in range(len(det)) if c not in used_d], dtype=np.int64)
        if len(rows) == 0 or len(cols) == 0:
            return []
        trk, det = trk[rows], det[cols]
        t_ctr = (trk[:, :2] + trk[:, 2:]) / 2.0
        d_ctr = (det[:, :2] + det[:, 2:]) / 2.0
        t_size = np.sqrt(np.clip(trk[:, 2] - trk[:, 0], 1, None) * np.clip(trk[:, 3] - trk[:, 1], 1, None))
        d_size = np.sqrt(np.clip(det[:, 2] - det[:, 0], 1, None) * np.clip(det[:, 3] - det[:, 1], 1, None))
        dist = np.linalg.norm(t_ctr[:, None, :] - d_ctr[None, :, :], axis=2) / t_size[:, None]
        ratio = d_size[None, :] / t_size[:, None]
        # The gate widens with the time since the last match (a sweep can take a second):
        # by what a prediction may be off, or, before any velocity is known, by how far a
        # walking face moves.
        rate = np.where(unsure[rows], UNKNOWN_SPEED_SIZES_S, PREDICTION_DRIFT_SIZES_S)
        gate = self.max_center_distance + rate * np.clip(since[rows], 0.0, 2.0)
        accept = (dist <= gate[:, None]) & (ratio > 0.5) & (ratio < 2.0)
        return [(int(rows[r]), int(cols[c])) for r, c in _greedy(dist, accept, descending=False)]

    @staticmethod
    def _apply(track: Track, det: DetectionLike, now_s: float) -> None:
        box = _box_of(det)
        previous, dt = track.center_seen, now_s - track.last_seen_s
        track.box = box  # the detection itself: crops are cut from what the detector saw
        track.center_seen = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
        track._kf_update(*track.center_seen, previous, dt)
        track.score = float(det.score)
        track.landmarks = _landmarks_of(det)
        track.last_seen_s = max(track.last_seen_s, now_s)
        track.last_measured_s = max(track.last_measured_s, now_s)
        track.center_measured = track.center_seen
        track.flow_lost = False  # the flow tries again from this detection
        track.hits += 1
        track.missed = 0
        track.fresh = True


#: The former name (an IoU-only tracker until issue #12); kept so callers need no change.
IouTracker = FaceTracker


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
