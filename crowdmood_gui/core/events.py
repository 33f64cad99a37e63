"""What the core tells its observers. Plain dataclasses: the UI's signal bridge
(``crowdmood_gui/ui/bridge.py``) re-emits each as a Qt signal on the GUI thread;
the headless CLI consumes the same objects directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import EllipsisType

import numpy as np

from crowdmood_gui.core.records import FaceRecord


@dataclass(frozen=True, slots=True)
class TrackBox:
    """A tracked face in one frame, in pixel coordinates of that frame."""

    track_id: int
    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    dominant: str | None = None  # last analysed expression of this track, if any
    # Motion, so a box can be shown on a frame newer than the one it was detected in
    # (live: the display runs at the source rate, detection cycles every ~200 ms).
    vx: float = 0.0  # centre px / s (the tracker's estimate)
    vy: float = 0.0
    time_s: float = 0.0  # media time of the frame the box belongs to
    lead_s: float = 0.0  # how far past ``time_s`` the box may move on its velocity

    def at(self, time_s: float, dominant: "str | None | EllipsisType" = ...) -> "TrackBox":
        """The box moved on its velocity to ``time_s``, at most ``lead_s`` ahead; never
        backwards (an older frame keeps the box as detected). ``dominant``: a new label
        (``...`` keeps this one). One constructor call: the display thread does this for
        every box of every frame (576 boxes at 30 fps in 4K)."""
        dt = min(max(0.0, time_s - self.time_s), self.lead_s)
        label = self.dominant if dominant is ... else dominant
        if (dt <= 0.0 or (self.vx == 0.0 and self.vy == 0.0)) and label == self.dominant:
            return self
        dx, dy = self.vx * dt, self.vy * dt
        return TrackBox(self.track_id, self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy, self.score,
                        label, self.vx, self.vy, self.time_s + dt, self.lead_s - dt)


class ShownBoxes(Sequence[TrackBox]):
    """The boxes of one detection cycle as arrays, and the same boxes moved to each shown frame.

    The display thread moves every box to every frame (576 boxes at 30 fps in a 4K crowd):
    :meth:`at` does what :meth:`TrackBox.at` does, for all of them in a few NumPy operations
    instead of one ``TrackBox`` per box per frame, and the video view paints from the arrays.
    It is a sequence of :class:`TrackBox` too, made only when read (the recorder's thread,
    tests), so ``FrameEvent.tracks`` reads the same whichever it holds.
    """

    __slots__ = ("ids", "xyxy", "score", "vx", "vy", "time_s", "lead_s", "dominants", "_boxes")

    def __init__(self, ids: np.ndarray, xyxy: np.ndarray, score: np.ndarray, vx: np.ndarray, vy: np.ndarray,
                 time_s: np.ndarray, lead_s: np.ndarray, dominants: tuple[str | None, ...]) -> None:
        self.ids = ids  # int64 (n,)
        self.xyxy = xyxy  # float64 (n, 4): x1, y1, x2, y2 in the frame's pixels
        self.score, self.vx, self.vy, self.time_s, self.lead_s = score, vx, vy, time_s, lead_s
        self.dominants = dominants
        self._boxes: tuple[TrackBox, ...] | None = None

    @classmethod
    def from_boxes(cls, boxes: Sequence[TrackBox]) -> "ShownBoxes":
        if isinstance(boxes, ShownBoxes):
            return boxes
        n = len(boxes)
        if n == 0:
            empty = np.zeros(0)
            return cls(np.zeros(0, np.int64), np.zeros((0, 4)), empty, empty, empty, empty, empty, ())
        rows = np.array([(b.x1, b.y1, b.x2, b.y2, b.score, b.vx, b.vy, b.time_s, b.lead_s) for b in boxes],
                        dtype=np.float64)
        out = cls(np.fromiter((b.track_id for b in boxes), np.int64, n), rows[:, 0:4].copy(), rows[:, 4].copy(),
                  rows[:, 5].copy(), rows[:, 6].copy(), rows[:, 7].copy(), rows[:, 8].copy(),
                  tuple(b.dominant for b in boxes))
        if isinstance(boxes, tuple):
            out._boxes = boxes
        return out

    def at(self, time_s: float, dominant: Callable[[int], str | None] | None = None) -> "ShownBoxes":
        """Every box moved on its velocity to ``time_s``, as :meth:`TrackBox.at` moves one
        (at most ``lead_s`` ahead, never backwards), labelled ``dominant(track_id)`` when given."""
        if len(self.ids) == 0:
            return self
        dt = np.minimum(np.maximum(0.0, time_s - self.time_s), self.lead_s)
        dx, dy = self.vx * dt, self.vy * dt
        xyxy = self.xyxy + np.stack((dx, dy, dx, dy), axis=1)
        dominants = self.dominants if dominant is None else tuple(map(dominant, self.ids.tolist()))
        return ShownBoxes(self.ids, xyxy, self.score, self.vx, self.vy, self.time_s + dt, self.lead_s - dt, dominants)

    def _all(self) -> tuple[TrackBox, ...]:
        if self._boxes is None:
            self._boxes = tuple(
                TrackBox(i, x1, y1, x2, y2, s, d, vx, vy, t, lead)
                for i, (x1, y1, x2, y2), s, d, vx, vy, t, lead in zip(
                    self.ids.tolist(), self.xyxy.tolist(), self.score.tolist(), self.dominants, self.vx.tolist(),
                    self.vy.tolist(), self.time_s.tolist(), self.lead_s.tolist()))
        return self._boxes

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):  # an int gives a TrackBox, a slice a tuple of them
        return self._all()[index]

    def __iter__(self) -> Iterator[TrackBox]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (ShownBoxes, tuple)):
            return self._all() == tuple(other)
        return NotImplemented

    __hash__ = None  # mutable cache inside: not hashable, like a list

    def __repr__(self) -> str:
        return f"ShownBoxes({len(self)} boxes)"


@dataclass(frozen=True, slots=True)
class FrameEvent:
    """A frame with its tracks, ready to paint (already blurred when privacy is on)."""

    frame_index: int
    media_time_s: float  # position in the source (file) or seconds since start (live)
    captured_monotonic: float  # time.monotonic() when the frame was read: latency = paint - this
    image: np.ndarray  # BGR uint8, H x W x 3
    # The live pipeline gives a ShownBoxes (arrays; TrackBoxes made only when read).
    tracks: Sequence[TrackBox] = ()


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One period of the timeline: the crowd at the end of the period (``core/crowd.py``).

    ``emotions``: per expression, the mean (0..100) of the current estimates of the people
    seen in the period who have one, each person once; ``shares``: the share (0..1) of
    those people whose estimate's dominant expression it is. Both ``None`` when nobody in
    view had an estimate yet."""

    t: float  # period start, seconds from the session start
    period_s: float
    faces: int  # peak number of faces in one frame during the period
    tracks: int  # people (distinct tracks) in view during the period
    analysed: int  # faces analysed in crops captured during the period
    emotions: dict[str, float | None] = field(default_factory=dict)
    rated: int = 0  # of ``tracks``, people with an estimate (the mean is over them)
    shares: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """A crop was analysed (by any backend)."""

    record: FaceRecord
    media_time_s: float
    thumbnail: np.ndarray | None = None  # small BGR crop for the recent-faces strip


@dataclass(frozen=True, slots=True)
class StatsEvent:
    detection_fps: float
    faces: int
    tracks: int
    analysis_queue: int
    records_analysed: int
    upload_queue: int | None = None  # AWS mode only
    cost_usd: float | None = None  # AWS mode only: spend so far
    projected_usd_per_hour: float | None = None
    analysis_lag_s: float | None = None
    failed_waiting: int | None = None  # AWS mode: analyses AWS gave up on, in the failure queue
    # Live sources: seconds since the last frame while the source delivers none (the
    # screen says "No signal"); None while frames arrive, before the first one, or paused.
    signal_lost_s: float | None = None
    # The source's clock now (media time of the last frame + time since): the chart's right edge.
    clock_s: float | None = None


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """Capture state changes: opened, reconnecting, ended, failed."""

    state: str  # "opening" | "open" | "reconnecting" | "ended" | "failed"
    message: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    attempt: int = 0  # "reconnecting": the number of the try that failed (1, 2, ...)
    retry_in_s: float = 0.0  # "reconnecting": seconds until the next try


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A non-fatal problem the user should see (one line)."""

    message: str
    where: str = ""
