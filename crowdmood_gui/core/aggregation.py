"""The timeline: per-period mean expression confidence, faces and tracks.

One implementation for the live console, the headless CLI and replay. Emotion values per
period are the mean over the faces analysed in that period, each face contributing all
eight types (an absent type counts as 0, see ``records.emotion_vector``); a period in which
no face was analysed has ``None`` emotions, not zeros, so a chart shows a gap, not a dip.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Iterable

from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.records import FaceRecord

PERIODS: tuple[int, ...] = (1, 10, 60)


@dataclass(slots=True)
class _Bucket:
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(EMOTIONS, 0.0))
    analysed: int = 0
    peak_faces: int = 0
    tracks: set[int] = field(default_factory=set)

    def row(self, t: float, period: int) -> TimelineRow:
        if self.analysed:
            emotions = {k: self.sums[k] / self.analysed for k in EMOTIONS}
        else:
            emotions = dict.fromkeys(EMOTIONS)
        return TimelineRow(
            t=t,
            period_s=period,
            faces=self.peak_faces,
            tracks=len(self.tracks),
            analysed=self.analysed,
            emotions=emotions,
        )


class TimelineAggregator:
    """Thread-safe: frames are observed by the detection thread, records by the backend's."""

    def __init__(self, periods: Iterable[int] = PERIODS, *, retain_s: float | None = None) -> None:
        """``retain_s``: forget periods that ended this long before the newest observation,
        once their rows were handed out by :meth:`pop_updates` (a live console stores and
        draws rows as they come; a day of 1 s buckets would otherwise cost ~300 MB).
        ``None`` keeps everything (``analyze`` reads all rows at the end)."""
        self.periods = tuple(sorted(set(int(p) for p in periods)))
        if not self.periods or min(self.periods) <= 0:
            raise ValueError("periods must be positive whole seconds")
        self.retain_s = retain_s
        self._buckets: dict[int, dict[int, _Bucket]] = {p: {} for p in self.periods}
        self._dirty: dict[int, set[int]] = {p: set() for p in self.periods}
        self._latest_t = 0.0
        self._lock = threading.Lock()

    def _bucket(self, period: int, t: float) -> tuple[int, _Bucket]:
        self._latest_t = max(self._latest_t, t)
        index = math.floor(max(t, 0.0) / period)
        bucket = self._buckets[period].get(index)
        if bucket is None:
            bucket = self._buckets[period][index] = _Bucket()
        self._dirty[period].add(index)
        return index, bucket

    def observe_frame(self, t: float, faces: int, track_ids: Iterable[int]) -> None:
        """A processed frame at ``t`` seconds: how many faces, which tracks."""
        ids = tuple(track_ids)
        with self._lock:
            for period in self.periods:
                _, bucket = self._bucket(period, t)
                bucket.peak_faces = max(bucket.peak_faces, faces)
                bucket.tracks.update(ids)

    def add_record(self, t: float, record: FaceRecord) -> None:
        """An analysed crop captured at ``t`` seconds; every face in it counts once."""
        if not record.faces:
            return
        with self._lock:
            for period in self.periods:
                _, bucket = self._bucket(period, t)
                for face in record.faces:
                    for kind in EMOTIONS:
                        bucket.sums[kind] += face.emotions.get(kind, 0.0)
                    bucket.analysed += 1
                if record.meta.track_id is not None:
                    bucket.tracks.add(record.meta.track_id)

    def pop_updates(self) -> dict[int, list[TimelineRow]]:
        """Rows changed since the last call, per period (a row replaces the one with its ``t``)."""
        with self._lock:
            out: dict[int, list[TimelineRow]] = {}
            for period, dirty in self._dirty.items():
                buckets = self._buckets[period]
                if dirty:
                    out[period] = [buckets[i].row(i * period, period) for i in sorted(dirty)]
                    dirty.clear()
                if self.retain_s is not None:
                    horizon = self._latest_t - self.retain_s
                    for index in [i for i in buckets if (i + 1) * period < horizon]:
                        del buckets[index]  # already handed out: the store and the chart have it
            return out

    def bucket_count(self) -> int:
        with self._lock:
            return sum(len(b) for b in self._buckets.values())

    def rows(self, period: int) -> list[TimelineRow]:
        with self._lock:
            buckets = self._buckets[period]
            return [buckets[i].row(i * period, period) for i in sorted(buckets)]
