"""A fake pipeline for widget tests: synthetic events from a worker thread, no models.

It honours the contract the window relies on, ``core.pipeline.PipelineControl`` (start
returns at once, events from another thread, stop idempotent and ending with
``on_finished``), and runs inside the real ``core.session_runner.SessionRun`` (without a
session folder), so the window's threading is exercised for real; only capture and
inference are made up.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np

from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.events import (
    ErrorEvent,
    FrameEvent,
    RecordEvent,
    SourceEvent,
    StatsEvent,
    TimelineRow,
    TrackBox,
)
from crowdmood_gui.core.records import CaptureMeta, FaceRecord, FaceResult
from crowdmood_gui.core.series import PERIODS


def make_record(track_id: int, dominant: str, session: str = "fake") -> FaceRecord:
    emotions = dict.fromkeys(EMOTIONS, 1.0)
    emotions[dominant] = 90.0
    face = FaceResult(
        bounding_box={"Width": 0.5, "Height": 0.5, "Left": 0.25, "Top": 0.25},
        emotions=emotions,
        dominant=dominant,
        confidence=99.0,
    )
    meta = CaptureMeta(session=session, camera="booth-1", captured_at=datetime.now(UTC), track_id=track_id)
    return FaceRecord(key=f"fake/{track_id}/{time.monotonic_ns()}", meta=meta, faces=(face,))


def make_row(t: float, period_s: int, value: float = 50.0, faces: int = 2) -> TimelineRow:
    return TimelineRow(
        t=t,
        period_s=period_s,
        faces=faces,
        tracks=faces,
        analysed=faces,
        emotions={name: (value if name == "HAPPY" else 10.0) for name in EMOTIONS},
    )


class FakePipeline:
    """Emits frames at ``fps`` with ``faces`` tracks; a record per track every 0.2 s;
    timeline rows for 1/10/60 s at 10 Hz (the media clock runs 10x fast so 10 s and 60 s
    periods fill up in a test); stats at 4 Hz.

    A source whose spec starts with ``bad`` fails to open (SourceEvent "failed")."""

    instances: list["FakePipeline"] = []

    def __init__(self, config, observer, *, backend=None, realtime=True, fps=30.0, faces=2, size=(360, 640)):
        self.config = config
        self.observer = observer
        self.fps = fps
        self.faces = faces
        self.size = size
        self.started = False
        self.stopped = False
        self.paused = False
        self.blur = config.privacy.blur_faces
        self.stop_calls = 0
        self.records_analysed = 0
        self.source_error: str | None = None
        self.frames_sent = 0
        self.chart_periods: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished = False
        self._lock = threading.Lock()
        FakePipeline.instances.append(self)

    def start(self) -> None:
        self.started = True
        self._thread = threading.Thread(target=self._run, name="fake-pipeline", daemon=True)
        self._thread.start()

    def run(self, progress=None) -> None:
        self.start()
        self._thread.join()

    def stats(self) -> StatsEvent:
        return self._stats()

    @property
    def frames_processed(self) -> int:
        return self.frames_sent

    def mean_detect_ms(self) -> float | None:
        return 5.0 if self.frames_sent else None

    def timeline_rows(self, period_s: int) -> list[TimelineRow]:
        return []  # the rows went to the observer as they came

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def set_privacy(self, blur_faces: bool) -> None:
        self.blur = blur_faces

    def set_chart_period(self, period_s: int) -> None:
        self.chart_periods.append(period_s)

    def stop(self, timeout_s: float = 2.0) -> None:
        self.stop_calls += 1
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._finish()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _finish(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self.stopped = True
        self.observer.on_stats(self._stats())
        self.observer.on_finished()

    def _stats(self) -> StatsEvent:
        return StatsEvent(
            detection_fps=12.0,
            faces=self.faces,
            tracks=self.faces,
            analysis_queue=1,
            records_analysed=self.records_analysed,
        )

    def _run(self) -> None:
        spec = self.config.source.spec
        self.observer.on_source(SourceEvent("opening"))
        if spec.startswith("bad"):
            time.sleep(0.05)
            self.source_error = f"could not connect to {spec} within 1 s"
            self.observer.on_source(SourceEvent("failed", message=self.source_error))
            self._finish()
            return
        height, width = self.size
        self.observer.on_source(SourceEvent("open", width=width, height=height, fps=self.fps))
        start = time.monotonic()
        next_record = next_row = next_stats = start
        index = 0
        base = np.zeros((height, width, 3), dtype=np.uint8)
        base[:, :, 1] = 60
        while not self._stop.is_set():
            now = time.monotonic()
            if self.paused:
                time.sleep(0.02)
                continue
            media = (now - start) * 10.0
            tracks = tuple(
                TrackBox(
                    track_id=i + 1,
                    x1=40.0 + 150 * i,
                    y1=60.0,
                    x2=140.0 + 150 * i,
                    y2=180.0,
                    score=0.95,
                    dominant=EMOTIONS[i % len(EMOTIONS)] if index > 3 else None,
                )
                for i in range(self.faces)
            )
            image = base.copy()
            image[:, (index * 4) % width] = 255
            self.observer.on_frame(
                FrameEvent(frame_index=index, media_time_s=media, captured_monotonic=now, image=image, tracks=tracks)
            )
            self.frames_sent += 1
            if now >= next_record:
                next_record = now + 0.2
                for box in tracks:
                    thumb = np.full((48, 40, 3), 30 * box.track_id, dtype=np.uint8)
                    dominant = EMOTIONS[(box.track_id - 1) % len(EMOTIONS)]
                    self.records_analysed += 1
                    self.observer.on_record(
                        RecordEvent(record=make_record(box.track_id, dominant), media_time_s=media, thumbnail=thumb)
                    )
            if now >= next_row:
                next_row = now + 0.1
                for period in PERIODS:
                    t = float(int(media // period) * period)
                    self.observer.on_timeline(period, [make_row(t, period, value=50 + 40 * np.sin(t / 7.0), faces=self.faces)])
            if now >= next_stats:
                next_stats = now + 0.25
                self.observer.on_stats(self._stats())
            index += 1
            self._stop.wait(max(0.0, 1.0 / self.fps - (time.monotonic() - now)))


def fake_factory(**kwargs):
    """``(config, observer) -> FakePipeline(**kwargs)``."""

    def factory(config, observer):
        return FakePipeline(config, observer, **kwargs)

    return factory


def session_factory(pipeline_factory):
    """A MainWindow ``session_factory``: the real SessionRun, no session folder, around the
    pipeline ``pipeline_factory(config, observer)`` builds (a fake; it may raise)."""
    from crowdmood_gui.core.session_runner import SessionRun

    def factory(config, observer):
        return SessionRun(config, observer, pipeline_factory=lambda cfg, obs, **_kw: pipeline_factory(cfg, obs))

    return factory


class ErrorEmittingPipeline(FakePipeline):
    """Sends one ErrorEvent shortly after start (e.g. a storage problem)."""

    def _run(self) -> None:
        self.observer.on_error(ErrorEvent(message="disk full: records are kept in memory", where="store"))
        super()._run()
