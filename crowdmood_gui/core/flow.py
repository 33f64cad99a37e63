"""Each known face's position measured from the image between detections (live, issue #12).

A 4K crowd's re-detection (one forward pass over a mosaic of every due face) reaches
~2 Hz per face on two shared cores; a face must be measured at least ``refresh_hz`` times
a second. Between its detections, :class:`FaceFlow` measures each face's displacement
with pyramidal Lucas-Kanade (``cv2.calcOpticalFlowPyrLK``, one call for all faces):

- the frame in grey, shrunk by a power of two so the crowd's faces are about
  ``FLOW_FACE_PX`` or more (4K 37 px faces: by 2; 1080p 28 px faces: native);
- five points in the middle of each face's box in the frame where its position
  was last measured (its *anchor*: a detection, or a flow measurement chained from one),
  started from the Kalman prediction;
- each point tracked forward and back; a point is kept when it comes back within
  ``FB_MAX_PX`` and its patch still looks like the anchor's (``PATCH_MAX_ERR``: a face
  covered by someone or replaced by the background fails here);
- a face is measured when at least ``MIN_GOOD_POINTS`` of its 5 points are kept, by the
  median displacement; otherwise it is not measured and loses its anchor: it coasts on
  its prediction as before until the detector finds it again.

A flow measurement is never a detection (``FaceTracker.measure``): no crop is cut at a
flow box, no track is started or ended by one, and the re-detection still runs (it
corrects the drift a chain of measurements gathers, and the box's size).

The last few grey frames are kept (``KEEP_FRAMES``), each face's anchor names its frame;
a face whose anchor frame was dropped waits for its next detection.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from crowdmood_gui.core.tracking import Box, Track

# The faces' short side the flow runs at, at least (pixels of the shrunk grey frame): the
# frame is shrunk by the largest power of two that keeps the crowd's median face this big.
FLOW_FACE_PX = 16.0
# Lucas-Kanade window and pyramid: faces of 16-32 px, started from the prediction; two
# levels above the base follow a face the prediction misses by up to ~15 flow px (one
# turning back at 150 px/s between two steps 0.2 s apart at 4K).
WINDOW_PX = 9
MAX_LEVEL = 2
ITERATIONS = 5
# Where the points sit in a face's box (shares of its width and height): the centre and
# four around it, clear of the background at the box's edges. LK's cost is per point: 9
# points (a 3x3 grid) cost ~1.8x as much and measured no better on the grid clips
# (bench/bench_flow.py).
POINTS = ((0.5, 0.5), (0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7))
MIN_GOOD_POINTS = 3  # of 5: a face whose points mostly fail is not measured
FB_MAX_PX = 0.7  # forward-backward error, flow-frame pixels
# Mean absolute grey difference between a point's patch in the anchor frame and where it
# was tracked to (LK's own error): 2 (median) to 9 (p95) on the grid clips' faces; a face
# replaced by the background or another face goes far above.
PATCH_MAX_ERR = 14.0
KEEP_FRAMES = 3  # grey frames kept for anchors
# The flow takes a frame from detection only while its steps got less than this share of
# the detection thread's recent compute (steps and cycles, decaying sums): on a starved
# machine detection, the only source of crops and of new faces, keeps the rest. Load-free
# the flow takes 17-21 % (bench_live_emulated.py).
FLOW_MAX_SHARE = 0.3


@dataclass(slots=True)
class FlowReport:
    """What one flow step did (for the benchmark and tests)."""

    ran: bool = False
    measured: dict[int, tuple[float, float]] = field(default_factory=dict)  # track id -> measured centre
    failed: list[int] = field(default_factory=list)  # tried, not measured: anchor dropped
    compute_ms: float = 0.0


@dataclass(slots=True)
class _Frame:
    serial: int
    time_s: float
    shrink: int
    grey: np.ndarray


def flow_shrink(tracks: Sequence[Track]) -> int:
    """The power of two the frame is shrunk by for the flow: the crowd's median face stays
    at least ``FLOW_FACE_PX`` (short side)."""
    if not tracks:
        return 1
    side = float(np.median([min(t.width, t.height) for t in tracks]))
    return max(1, 2 ** int(math.floor(math.log2(max(1.0, side / FLOW_FACE_PX)))))


def grey_frame(image: np.ndarray, shrink: int) -> np.ndarray:
    """The frame in grey, shrunk ``shrink`` times (area average: no aliasing on a small face)."""
    import cv2

    if shrink > 1:
        h, w = image.shape[:2]
        image = cv2.resize(image, (max(1, w // shrink), max(1, h // shrink)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


class FaceFlow:
    """Flow steps over one live source. ``step`` runs on each frame the detection thread
    processes, after the tracker's update; it measures the faces due and anchors the
    faces detected or measured in this frame."""

    def __init__(self, refresh_hz: float) -> None:
        self.period_s = 1.0 / refresh_hz if refresh_hz > 0 else math.inf
        self._frames: list[_Frame] = []
        self._anchors: dict[int, tuple[int, Box]] = {}  # track id -> (frame serial, box there)
        self._serial = 0
        self._last_step_s: float | None = None
        self._gap_s: float | None = None  # media seconds between steps, smoothed
        # media seconds from a step on a detection cycle's frame to the next step, smoothed
        self._cycle_gap_s: float | None = None
        self._last_detected = False  # the last step ran on a cycle's frame
        self._step_ms = 0.0  # recent compute of flow steps (decaying sum)
        self._cycle_ms = 0.0  # recent compute of detection cycles (decaying sum)

    def reset(self) -> None:
        self._frames.clear()
        self._anchors.clear()
        self._last_step_s = None
        self._gap_s = None
        self._cycle_gap_s = None
        self._last_detected = False

    def _wait_s(self) -> float:
        """How much earlier than the period a face is taken: the gap to the next step (as
        the steps come), at most half a period."""
        return min(self._gap_s if self._gap_s is not None else 0.0, 0.5 * self.period_s)

    def note_cycle(self, compute_ms: float) -> None:
        """A detection cycle ran (its compute, as ``CycleReport.compute_ms``)."""
        self._cycle_ms = 0.8 * self._cycle_ms + compute_ms
        self._step_ms *= 0.8

    def wants_step(self, now_s: float, tracks: Sequence[Track]) -> bool:
        """A step is due on this frame (some face would be older than the period by the
        next one) and the flow's share of the recent compute is under ``FLOW_MAX_SHARE``.
        The pipeline then gives the frame to the flow and the next to detection: on a
        loaded machine a detection cycle takes a few hundred ms of wall time, and steps
        taken only on cycle frames came 3.5 times a second (4K window, load 5)."""
        if not self._anchors or self._step_ms >= FLOW_MAX_SHARE * (self._step_ms + self._cycle_ms):
            return False
        if self._last_step_s is not None and now_s - self._last_step_s < self.period_s - self._wait_s():
            return False
        return any(t.id in self._anchors for t in self.due(now_s, tracks))

    def due(self, now_s: float, tracks: Sequence[Track], *, cycle_frame: bool = False) -> list[Track]:
        """The visible tracks not detected in this frame whose position would be older than
        the period by the next step (the refresh's rule). One without an anchor is
        reported failed: it waits for the detector.

        ``cycle_frame``: this step follows a detection cycle on the same frame. The next
        step then comes only after that cycle's wall time and rest (4K: ~250 ms against
        ~50 after a flow step), so the gap measured after such steps is the one that
        counts: a face measured by the flow 50 ms earlier would otherwise wait for the
        step after next (each 4K face was measured 4-4.5 times a second, every ~250 ms)."""
        ahead = self._wait_s()
        if cycle_frame and self._cycle_gap_s is not None:
            ahead = min(self._cycle_gap_s, self.period_s)
        wait = self.period_s - ahead
        return [t for t in tracks if not t.fresh and t.missed == 0 and not t.flow_lost
                and now_s - max(t.last_seen_s, t.last_measured_s) >= wait]

    def step(self, image: np.ndarray, now_s: float, tracks: Sequence[Track], *, detected: bool) -> FlowReport:
        """Measure the faces due in ``image`` (the frame at ``now_s``) and anchor the faces
        whose position is known in it. ``detected``: a detection cycle ran on this frame
        (its fresh tracks need anchoring; a step then costs the grey frame anyway)."""
        report = FlowReport()
        if self._last_step_s is not None and now_s < self._last_step_s:
            self.reset()  # a new source, or a loop back to the start
        live_ids = {t.id for t in tracks}
        for gone in [i for i in self._anchors if i not in live_ids]:
            del self._anchors[gone]
        fresh = [t for t in tracks if t.fresh]
        spaced = self._last_step_s is None or now_s - self._last_step_s >= self.period_s - self._wait_s()
        due = self.due(now_s, tracks, cycle_frame=detected) if (spaced or detected) else []
        if not due and not fresh:
            return report
        started = time.perf_counter()
        shrink = flow_shrink(tracks)
        frame = _Frame(self._serial, now_s, shrink, grey_frame(image, shrink))
        self._serial += 1
        report.ran = True
        if due:
            self._measure(frame, now_s, due, report)
        for track in fresh:
            self._anchors[track.id] = (frame.serial, track.box)
        for track_id, centre in report.measured.items():
            x1, y1, x2, y2 = self._anchors[track_id][1]
            hw, hh = (x2 - x1) / 2.0, (y2 - y1) / 2.0
            self._anchors[track_id] = (frame.serial, (centre[0] - hw, centre[1] - hh, centre[0] + hw, centre[1] + hh))
        for track_id in report.failed:
            self._anchors.pop(track_id, None)
        self._frames.append(frame)
        del self._frames[:-KEEP_FRAMES]
        kept = {f.serial for f in self._frames}
        for track_id in [i for i, (serial, _) in self._anchors.items() if serial not in kept]:
            del self._anchors[track_id]
        if self._last_step_s is not None and now_s > self._last_step_s:
            gap = now_s - self._last_step_s
            self._gap_s = gap if self._gap_s is None else 0.7 * self._gap_s + 0.3 * gap
            if self._last_detected:
                self._cycle_gap_s = gap if self._cycle_gap_s is None else 0.7 * self._cycle_gap_s + 0.3 * gap
        self._last_step_s = now_s
        self._last_detected = detected
        report.compute_ms = (time.perf_counter() - started) * 1000.0
        self._step_ms = 0.8 * self._step_ms + report.compute_ms
        self._cycle_ms *= 0.8
        return report

    def _measure(self, frame: _Frame, now_s: float, due: Sequence[Track], report: FlowReport) -> None:
        import cv2

        by_serial = {f.serial: f for f in self._frames}
        groups: dict[int, list[Track]] = {}
        for track in due:
            serial = self._anchors[track.id][0] if track.id in self._anchors else -1
            if serial in by_serial and by_serial[serial].shrink == frame.shrink:
                groups.setdefault(serial, []).append(track)
            else:
                report.failed.append(track.id)
        k = float(frame.shrink)
        offsets = np.array(POINTS, dtype=np.float32)  # P x 2
        per_face = len(offsets)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ITERATIONS, 0.03)
        window = (WINDOW_PX, WINDOW_PX)
        for serial, group in groups.items():
            anchors = np.array([self._anchors[t.id][1] for t in group], dtype=np.float32)  # N x 4
            # each face's motion since its anchor, as the Kalman filter predicts it: the start
            predicted = np.array([t.predicted_box(now_s) for t in group], dtype=np.float32)
            guess = ((predicted[:, :2] + predicted[:, 2:]) - (anchors[:, :2] + anchors[:, 2:])) / 2.0
            size = anchors[:, 2:] - anchors[:, :2]
            points = (anchors[:, None, :2] + offsets[None, :, :] * size[:, None, :]) / k  # N x P x 2
            start = points + guess[:, None, :] / k
            p0 = points.reshape(-1, 1, 2).astype(np.float32)
            p1 = start.reshape(-1, 1, 2).astype(np.float32)
            prev = by_serial[serial].grey
            p1, st1, err = cv2.calcOpticalFlowPyrLK(prev, frame.grey, p0, p1, winSize=window, maxLevel=MAX_LEVEL,
                                                    criteria=criteria, flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(frame.grey, prev, p1, p0.copy(), winSize=window,
                                                    maxLevel=MAX_LEVEL, criteria=criteria,
                                                    flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
            fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
            good = ((st1.ravel() == 1) & (st2.ravel() == 1) & (fb <= FB_MAX_PX)
                    & (err.ravel() <= PATCH_MAX_ERR)).reshape(-1, per_face)
            # each face's median displacement over its good points (NaN elsewhere), at once:
            # a np.median per face cost ~10 ms for 576 faces
            moves = ((p1 - p0).reshape(-1, per_face, 2)) * k
            moves[~good] = np.nan
            measured = good.sum(axis=1) >= MIN_GOOD_POINTS
            with np.errstate(all="ignore"):
                median = np.nanmedian(moves[measured], axis=1) if measured.any() else np.zeros((0, 2))
            centres = (anchors[measured, :2] + anchors[measured, 2:]) / 2.0 + median
            kept = [t for t, m in zip(group, measured) if m]
            report.failed += [t.id for t, m in zip(group, measured) if not m]
            for track, (cx, cy) in zip(kept, centres.tolist()):
                report.measured[track.id] = (cx, cy)
