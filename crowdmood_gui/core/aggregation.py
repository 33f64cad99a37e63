"""The timeline: per period, the crowd value, the shares, faces and people.

One implementation for the live console (local and AWS mode), the headless CLI and
replay. A period's emotion values are the crowd value at the end of the period (see
``core/crowd.py``): per expression, the mean of the current estimates of the people seen
in the period, each person once; ``shares`` is the share of those people whose estimate's
dominant expression it is. A period in which nobody with an estimate was in view has
``None`` values, not zeros, so a chart shows a gap, not a dip.

Records may arrive late (AWS: up to a minute after capture): a record changes its
person's estimate from its capture time on, so every retained period that person was seen
in from then on is recomputed and handed out again by :meth:`pop_updates`.
"""

from __future__ import annotations

import bisect
import math
import threading
from array import array
from dataclasses import dataclass, field
from typing import Hashable, Iterable

from crowdmood_gui.core.crowd import DEFAULT_HALF_LIFE_S, CrowdState
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.records import FaceRecord
from crowdmood_gui.core.series import PERIODS


@dataclass(slots=True)
class _Bucket:
    # A set while the period may still gain people; once it has ended, the track ids as a
    # sorted array('q') (8 bytes a person, not a set's ~32), shared with the period before
    # when the same people were in view: 15 min of 1-s buckets of a 256-face crowd held
    # ~5 MB of sets.
    people: set[Hashable] | array = field(default_factory=set)
    analysed: int = 0  # faces analysed in crops captured in the period
    peak_faces: int = 0

    def open(self) -> set[Hashable]:
        """The people as a set to add to (a late record reopens an ended period)."""
        if isinstance(self.people, array):
            self.people = set(self.people)
        return self.people

    def __contains__(self, key: Hashable) -> bool:
        people = self.people
        if isinstance(people, array):
            if type(key) is not int:
                return False
            i = bisect.bisect_left(people, key)
            return i < len(people) and people[i] == key
        return key in people

    def pack(self, before: "_Bucket | None") -> None:
        """An ended period: its track ids as a sorted array, or the period before's array
        when equal (people without a track id, keyed otherwise, keep the set)."""
        people = self.people
        if isinstance(people, array) or not all(type(k) is int for k in people):
            return
        packed = array("q", sorted(people))
        if before is not None and isinstance(before.people, array) and before.people == packed:
            packed = before.people
        self.people = packed


class TimelineAggregator:
    """Thread-safe: frames are observed by the detection thread, records by the backend's."""

    def __init__(
        self,
        periods: Iterable[int] = PERIODS,
        *,
        retain_s: float | None = None,
        half_life_s: float = DEFAULT_HALF_LIFE_S,
    ) -> None:
        """``retain_s``: forget periods that ended this long before the newest observation,
        once their rows were handed out by :meth:`pop_updates` (a live console stores and
        draws rows as they come; a day of 1 s buckets would otherwise cost ~300 MB).
        ``None`` keeps everything (``analyze`` reads all rows at the end)."""
        self.periods = tuple(sorted(set(int(p) for p in periods)))
        if not self.periods or min(self.periods) <= 0:
            raise ValueError("periods must be positive whole seconds")
        self.retain_s = retain_s
        self.crowd = CrowdState(half_life_s)
        self._buckets: dict[int, dict[int, _Bucket]] = {p: {} for p in self.periods}
        self._dirty: dict[int, set[int]] = {p: set() for p in self.periods}
        self._next_pack: dict[int, int] = {p: 0 for p in self.periods}  # periods before it are packed
        self._reopened: dict[int, set[int]] = {p: set() for p in self.periods}
        self._latest_t = 0.0
        self._lock = threading.Lock()

    def _bucket(self, period: int, t: float) -> tuple[int, _Bucket]:
        index = math.floor(max(t, 0.0) / period)
        bucket = self._buckets[period].get(index)
        if bucket is None:
            bucket = self._buckets[period][index] = _Bucket()
        self._dirty[period].add(index)
        if isinstance(bucket.people, array):  # an ended period reopened by a late record
            bucket.open()
            self._reopened[period].add(index)
        return index, bucket

    def observe_frame(self, t: float, faces: int, track_ids: Iterable[int]) -> None:
        """A processed frame at ``t`` seconds: how many faces, which people are in view."""
        ids = tuple(track_ids)
        with self._lock:
            self._latest_t = max(self._latest_t, t)
            self.crowd.seen(t, ids)
            for period in self.periods:
                _, bucket = self._bucket(period, t)
                bucket.peak_faces = max(bucket.peak_faces, faces)
                bucket.people.update(ids)

    def add_record(self, t: float, record: FaceRecord) -> None:
        """An analysed crop captured at ``t`` seconds: its person's estimate changes from
        ``t`` on, and the person was in view at ``t``."""
        if not record.faces:
            return
        with self._lock:
            key = self.crowd.add_record(t, record)
            self._latest_t = max(self._latest_t, t)
            for period in self.periods:
                first, bucket = self._bucket(period, t)
                bucket.analysed += len(record.faces)
                bucket.people.add(key)
                buckets = self._buckets[period]
                last = math.floor(self._latest_t / period)
                for index in range(first + 1, last + 1):
                    later = buckets.get(index)
                    if later is not None and key in later:
                        self._dirty[period].add(index)

    def _pack_ended(self, period: int, buckets: dict[int, _Bucket]) -> None:
        """Pack the periods that ended a whole period ago (late records rarely reach them)."""
        last = math.floor(self._latest_t / period) - 2  # the last index to pack
        first = max(self._next_pack[period], min(buckets, default=last + 1))
        again = [i for i in self._reopened[period] if i <= last]
        for index in [*range(first, last + 1), *again]:
            bucket = buckets.get(index)
            if bucket is not None:
                bucket.pack(buckets.get(index - 1))
            self._reopened[period].discard(index)
        self._next_pack[period] = max(self._next_pack[period], last + 1)

    def dominant(self, track_id: int) -> str | None:
        """The person's current dominant expression (box colours), None before a crop."""
        return self.crowd.dominant(track_id)

    def has_reading(self, track_id: int) -> bool:
        """An analysed crop of this person has come back (the sampler's budget question)."""
        return self.crowd.crops(track_id) > 0

    def _row(self, period: int, index: int, bucket: _Bucket) -> TimelineRow:
        value = self.crowd.value_at((index + 1) * period, bucket.people)
        return TimelineRow(
            t=index * period,
            period_s=period,
            faces=bucket.peak_faces,
            tracks=value.people,
            analysed=bucket.analysed,
            emotions=value.means,
            rated=value.rated,
            shares=value.shares,
        )

    def pop_updates(self) -> dict[int, list[TimelineRow]]:
        """Rows changed since the last call, per period (a row replaces the one with its ``t``)."""
        with self._lock:
            out: dict[int, list[TimelineRow]] = {}
            horizon = self._latest_t - self.retain_s if self.retain_s is not None else None
            for period, dirty in self._dirty.items():
                buckets = self._buckets[period]
                if dirty:
                    out[period] = [self._row(period, i, buckets[i]) for i in sorted(dirty)]
                    dirty.clear()
                if horizon is not None:
                    for index in [i for i in buckets if (i + 1) * period < horizon]:
                        del buckets[index]  # already handed out: the store and the chart have it
                    self._pack_ended(period, buckets)
            if horizon is not None:
                # People gone before every retained period: nothing will read them again.
                self.crowd.forget_before(horizon - max(self.periods))
            return out

    def bucket_entries(self) -> int:
        """People listed in the kept buckets, all periods (what the buckets' memory grows with)."""
        with self._lock:
            return sum(len(b.people) for buckets in self._buckets.values() for b in buckets.values())

    def rows(self, period: int) -> list[TimelineRow]:
        with self._lock:
            buckets = self._buckets[period]
            return [self._row(period, i, buckets[i]) for i in sorted(buckets)]
