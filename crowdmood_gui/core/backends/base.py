"""The one interface both analysis backends implement.

The pipeline hands a backend one :class:`CropJob` per sampled track; the backend turns it
into :class:`~crowdmood_gui.core.records.FaceRecord` s (now, locally; or later, via S3,
the Lambda and DynamoDB) and reports them to a :class:`RecordSink`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from crowdmood_gui.core.events import StatsEvent, TimelineRow
from crowdmood_gui.core.records import CaptureMeta, FaceRecord


@dataclass(frozen=True, slots=True)
class CropJob:
    """A face crop, with a margin, ready for expression analysis."""

    image: np.ndarray  # BGR uint8, the face plus its margin
    face_box: tuple[int, int, int, int]  # the tight face box inside ``image``: x1, y1, x2, y2
    meta: CaptureMeta  # session, camera, capture time, track id
    media_time_s: float  # seconds from the session start (timeline position)
    detection_score: float  # 0..1, from the detector
    landmarks: tuple[tuple[float, float], ...] = ()  # 5 points inside ``image``, if known
    sharpness: float | None = None  # the face's, measured by the sampler (core/sharpness.py)
    # Privacy ("blur faces"): analysed sharp, but any copy kept on disk is blurred.
    blur_copies: bool = False


@dataclass(frozen=True, slots=True)
class BackendStats:
    queue_depth: int = 0  # crops waiting for analysis
    records_analysed: int = 0
    upload_queue: int | None = None  # AWS: crops spooled, not yet in S3
    cost_usd: float | None = None  # AWS: estimated Rekognition spend so far
    projected_usd_per_hour: float | None = None
    analysis_lag_s: float | None = None  # AWS: capture -> record visible in DynamoDB
    failed_waiting: int | None = None  # AWS: events in the Lambda's failure queue (None: unknown)


class RecordSink(Protocol):
    """Where a backend reports. Called from backend threads: implementations must be thread-safe."""

    def on_record(self, record: FaceRecord, media_time_s: float, thumbnail: np.ndarray | None) -> None: ...

    def on_timeline(self, rows: list[TimelineRow]) -> None: ...  # backends that compute lines remotely

    def on_error(self, message: str) -> None: ...


class AnalysisBackend(ABC):
    """Lifecycle: ``start(sink)`` once, ``submit`` many times, ``stop`` once."""

    name: str = "base"
    #: True when the backend delivers chart lines itself (AWS: CloudWatch) instead of the
    #: pipeline aggregating the records it receives.
    provides_timeline: bool = False

    @abstractmethod
    def start(self, sink: RecordSink) -> None: ...

    @abstractmethod
    def submit(self, job: CropJob) -> bool:
        """Queue a crop; never blocks. False when it was dropped (queue full, over budget)."""

    def wants_sample(self, track_id: int, now_s: float, analysed_before: bool) -> bool:
        """Budget gate asked by the sampler before it cuts a crop. Local: always yes."""
        return True

    def crop_allowance(self) -> int | None:
        """How many crops the backend takes now (the sampler cuts no more, most overdue
        first); None: no limit. Local live mode: its share of a core (``LocalBackend``)."""
        return None

    def set_period(self, period_s: int) -> None:
        """The chart's period changed. Backends that compute the lines remotely (AWS:
        CloudWatch) fetch that period from now on; local aggregation keeps them all."""

    def observe_pipeline(self, stats: StatsEvent) -> None:
        """The pipeline's latest figures (4 Hz): the AWS backend's booth heartbeat reports them."""

    @abstractmethod
    def stats(self) -> BackendStats: ...

    @abstractmethod
    def stop(self, timeout_s: float = 2.0) -> None:
        """Finish or persist queued work within ``timeout_s``; loses no analysed record."""
