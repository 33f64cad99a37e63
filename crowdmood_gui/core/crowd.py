"""Per-person expression state and the crowd value built from it (issue #13).

Each tracked person carries an *estimate*: an exponential average of the expression
vectors of their analysed crops, with a half-life in seconds of capture time
(``crowd.half_life_s``). The estimate is held, unchanged, while the person stays in view
and no new crop of them is analysed.

The *crowd value* at an instant is, per expression, the mean over the people in view of
their current estimates: a person in view with no analysed crop yet does not count in the
mean (but counts as a person); each person counts once, however long they stay and however
often they are sampled. The *share* of an expression is the share of the people in view
with an estimate whose estimate's dominant expression it is (the shares sum to 1).

Qt-free and stdlib-only apart from the record types; the pipeline (local and AWS mode
alike) feeds one :class:`CrowdState` through ``core/aggregation.py``.
"""

from __future__ import annotations

import bisect
import math
import threading
from array import array
from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping, Sequence

from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.records import FaceRecord

DEFAULT_HALF_LIFE_S = 3.0
# Two crops captured at the same instant (a duplicate delivery, two faces in one crop):
# blend them equally instead of ignoring the second.
_SAME_INSTANT_WEIGHT = 0.5

Vector = tuple[float, ...]  # one value 0..100 per expression, in EMOTIONS order
_N = len(EMOTIONS)


def crop_vector(record: FaceRecord) -> Vector | None:
    """The expression vector of one analysed crop: the mean over its faces (absent types
    count as 0); ``None`` for a crop in which no face was found."""
    return mean_vector([face.emotions for face in record.faces])


def mean_vector(faces: Sequence[Mapping[str, float]]) -> Vector | None:
    """The mean of the faces' {type: confidence} maps; ``None`` for no face. Absent types
    count as 0 and values are clamped to 0..100 (non-finite: 0), as ``records.emotion_vector``
    does (replay reads thousands of stored crops: no per-face dict is built)."""
    if not faces:
        return None
    sums = [0.0] * len(EMOTIONS)
    for emotions in faces:
        for i, kind in enumerate(EMOTIONS):
            sums[i] += _clamp(emotions.get(kind))
    n = len(faces)
    return tuple(s / n for s in sums)


def _clamp(value) -> float:
    value = float(value or 0.0)
    return min(100.0, max(0.0, value)) if math.isfinite(value) else 0.0


def blend_weight(dt_s: float, half_life_s: float) -> float:
    """Weight of a new crop ``dt_s`` seconds after the previous one: after one half-life
    the old estimate and the new crop weigh the same."""
    if dt_s <= 0:
        return _SAME_INSTANT_WEIGHT
    return 1.0 - 0.5 ** (dt_s / half_life_s)


def dominant_of(vector: Vector) -> str | None:
    best = max(range(len(EMOTIONS)), key=lambda i: vector[i])
    return EMOTIONS[best] if vector[best] > 0 else None


@dataclass(frozen=True, slots=True)
class CrowdValue:
    """The crowd at one instant (or at the end of one period)."""

    people: int  # people in view
    rated: int  # of them, with an estimate
    means: dict[str, float | None]  # per expression, mean estimate over ``rated``; None if 0
    shares: dict[str, float | None]  # per expression, share 0..1 of ``rated``; None if 0


class PersonHistory:
    """One person's estimates after each analysed crop, in capture order.

    Kept as flat columns of doubles (``array('d')``: 8 bytes a value, the crop's and the
    estimate's vectors one after the other), not a tuple of floats per crop: a crowd of 256
    keeps ~48 000 crops for the retained 15 min, ~400 bytes each as Python objects, 136 here.
    The arithmetic is the same, so every estimate is the same double."""

    __slots__ = ("times", "_crops", "_estimates", "_latest", "last_seen", "dominant")

    def __init__(self) -> None:
        self.times = array("d")
        self._crops = array("d")  # crop i's vector at [i * _N, (i + 1) * _N)
        self._estimates = array("d")  # likewise, the estimate after crop i
        self._latest: Vector | None = None  # the last estimate, what most reads ask for
        self.last_seen = float("-inf")
        self.dominant: str | None = None  # of the latest estimate: read for every box of every frame

    def __len__(self) -> int:
        return len(self.times)

    def add(self, t: float, crop: Vector, half_life_s: float) -> None:
        """Insert a crop (late ones too: the estimates after it are recomputed)."""
        pos = bisect.bisect_right(self.times, t)
        self.times.insert(pos, t)
        self._crops[pos * _N:pos * _N] = array("d", crop)
        del self._estimates[pos * _N:]
        for i in range(pos, len(self.times)):
            crop_i = self._crops[i * _N:(i + 1) * _N]
            if i == 0:
                self._estimates.extend(crop_i)
                continue
            w = blend_weight(self.times[i] - self.times[i - 1], half_life_s)
            prev = self._estimates[(i - 1) * _N:i * _N]
            self._estimates.extend([p + w * (c - p) for p, c in zip(prev, crop_i)])
        self.last_seen = max(self.last_seen, t)
        self._latest = tuple(self._estimates[-_N:])
        self.dominant = dominant_of(self._latest)

    def forget_before(self, t: float) -> None:
        """Drop the crops before ``t`` but the last one, whose estimate holds at ``t``; it
        becomes the base the later estimates blend from (a person in view all day would
        otherwise keep every crop: 50 crops/s in a crowd of 256 grew the console ~4 MB/min)."""
        i = bisect.bisect_left(self.times, t)
        if i > 1:
            del self.times[:i - 1], self._crops[:(i - 1) * _N], self._estimates[:(i - 1) * _N]
            self._crops[:_N] = self._estimates[:_N]  # a late crop inserted before it blends from the estimate

    def at(self, t: float) -> Vector | None:
        """The estimate held at ``t`` (crops captured before ``t``), or None."""
        times = self.times
        if times and t > times[-1]:
            return self._latest
        i = bisect.bisect_left(times, t)
        return tuple(self._estimates[(i - 1) * _N:i * _N]) if i > 0 else None

    def latest(self) -> Vector | None:
        return self._latest


def crowd_value(estimates: Iterable[Vector | None]) -> CrowdValue:
    """Mean and shares over the estimates of the people in view (None: not rated yet)."""
    people = 0
    rated: list[Vector] = []
    for estimate in estimates:
        people += 1
        if estimate is not None:
            rated.append(estimate)
    if not rated:
        return CrowdValue(people, 0, dict.fromkeys(EMOTIONS), dict.fromkeys(EMOTIONS))
    n = len(rated)
    means = {kind: sum(e[i] for e in rated) / n for i, kind in enumerate(EMOTIONS)}
    counts = dict.fromkeys(EMOTIONS, 0)
    for estimate in rated:
        kind = dominant_of(estimate)
        if kind is not None:
            counts[kind] += 1
    shares = {kind: counts[kind] / n for kind in EMOTIONS}
    return CrowdValue(people, n, means, shares)


class CrowdState:
    """Every person's estimate over time. Thread-safe: records arrive from backend
    threads, presence from the detection thread, reads from the heartbeat and the UI.

    People are keyed by ``person_key(record)``: the track id (the tracker's ids are what
    frames report as in view); a crop without a track id is a person of its own.
    """

    def __init__(self, half_life_s: float = DEFAULT_HALF_LIFE_S) -> None:
        if not half_life_s > 0:
            raise ValueError("the half-life must be positive")
        self.half_life_s = float(half_life_s)
        self._people: dict[Hashable, PersonHistory] = {}
        self._lock = threading.Lock()

    @staticmethod
    def person_key(record: FaceRecord) -> Hashable:
        return record.meta.track_id if record.meta.track_id is not None else ("crop", record.key)

    def add_record(self, t: float, record: FaceRecord) -> Hashable | None:
        """An analysed crop captured at ``t``; returns the person's key (None: no face)."""
        crop = crop_vector(record)
        if crop is None:
            return None
        key = self.person_key(record)
        self.add_crop(t, key, crop)
        return key

    def add_crop(self, t: float, key: Hashable, crop: Vector) -> None:
        """One crop's vector (see :func:`crop_vector`) for the person ``key``, captured at ``t``."""
        with self._lock:
            history = self._people.get(key)
            if history is None:
                history = self._people[key] = PersonHistory()
            history.add(t, crop, self.half_life_s)

    def seen(self, t: float, keys: Iterable[Hashable]) -> None:
        """These people were in view at ``t`` (keeps their estimate from being forgotten)."""
        with self._lock:
            for key in keys:
                history = self._people.get(key)
                if history is not None and t > history.last_seen:
                    history.last_seen = t

    def estimate(self, key: Hashable, at: float | None = None) -> Vector | None:
        with self._lock:
            history = self._people.get(key)
            if history is None:
                return None
            return history.latest() if at is None else history.at(at)

    def dominant(self, key: Hashable) -> str | None:
        """The dominant expression of the person's current estimate (box colours). Asked for
        every box of every shown frame (576 × 30 a second in a 4K crowd): kept per person
        when a crop is added, read without the lock (one dict read and one attribute read
        are atomic; a person forgotten meanwhile reads as None)."""
        history = self._people.get(key)
        return history.dominant if history is not None else None

    def crops(self, key: Hashable) -> int:
        with self._lock:
            history = self._people.get(key)
            return len(history.times) if history is not None else 0

    def value_at(self, t: float, in_view: Iterable[Hashable]) -> CrowdValue:
        """The crowd value at ``t`` over the people ``in_view`` (crops captured before ``t``)."""
        with self._lock:
            estimates = [
                (self._people[k].at(t) if k in self._people else None) for k in set(in_view)
            ]
        return crowd_value(estimates)

    def forget_before(self, t: float) -> int:
        """Drop people last seen before ``t`` (a day-long session sees thousands), and the
        others' crops before ``t`` (nothing reads an estimate before ``t`` any more)."""
        with self._lock:
            gone = [k for k, h in self._people.items() if h.last_seen < t]
            for key in gone:
                del self._people[key]
            for history in self._people.values():
                history.forget_before(t)
        return len(gone)

    def held(self) -> dict[str, int]:
        """What is kept: people and crops (a long run's memory is bounded by these)."""
        with self._lock:
            return {"people": len(self._people), "crops": sum(len(h) for h in self._people.values())}

    def __len__(self) -> int:
        with self._lock:
            return len(self._people)

