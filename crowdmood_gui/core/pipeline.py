"""capture -> detect -> track -> sample -> analyse -> aggregate/store, in plain threads.

Threads (all daemon, all watching one ``stop`` event):

- ``capture``  (core/capture.py) reads the source; live: keeps only the newest frame;
               analysis mode: a bounded queue, every frame, back-pressure.
- ``display``  (live only) forwards every captured frame to the observer with the latest
               boxes (blurred when privacy is on) and offers it to detection, which takes
               only the newest: display runs at the source rate, detection at its own.
- ``detect``   detection, tracking, sampling; hands crops to the backend.
- backend      (backends/*) analyses crops and reports records to this pipeline.
- ``heartbeat`` 4 Hz: timeline updates, stats, store commits (about once a second).

``stop()`` and the natural end of a file take the same shutdown path: stop the readers,
let the backend finish what is queued, commit the store, tell the observer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from crowdmood_gui.core.aggregation import TimelineAggregator
from crowdmood_gui.core.backends.base import AnalysisBackend, CropJob
from crowdmood_gui.core.config import AppConfig, redacted_dump
from crowdmood_gui.core.crowd_detection import CycleReport
from crowdmood_gui.core.errors import CrowdMoodError, StorageError
from crowdmood_gui.core.events import (
    ErrorEvent,
    FrameEvent,
    RecordEvent,
    SourceEvent,
    ShownBoxes,
    StatsEvent,
    TimelineRow,
    TrackBox,
)
from crowdmood_gui.core.process_stats import lower_this_thread_priority
from crowdmood_gui.core.records import CaptureMeta, FaceRecord
from crowdmood_gui.core.sampling import blur_faces, blurred_crop
from crowdmood_gui.core.secrets import redact_url
from crowdmood_gui.core.store import SessionStore

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.25
# A live source that delivers no frame for this long has lost its signal: the screen says
# so and its boxes, face counts and rates are cleared (a camera sends 5-30 frames a second).
NO_SIGNAL_AFTER_S = 2.0
LIVE_RETAIN_S = 900.0
STORE_COMMIT_S = 1.0


@runtime_checkable
class PipelineObserver(Protocol):
    """What the pipeline calls (``ui/bridge.py``'s SignalBridge, ``analyze``'s collector,
    the agent's log). Called from worker threads; implementations hand over to their own
    thread."""

    def on_frame(self, event: FrameEvent) -> None: ...

    def on_record(self, event: RecordEvent) -> None: ...

    def on_timeline(self, period_s: int, rows: list[TimelineRow]) -> None: ...

    def on_stats(self, event: StatsEvent) -> None: ...

    def on_source(self, event: SourceEvent) -> None: ...

    def on_error(self, event: ErrorEvent) -> None: ...

    def on_finished(self) -> None: ...


class NullObserver(PipelineObserver):
    """Accepts every event and ignores it (headless runs override what they need)."""


@runtime_checkable
class PipelineControl(Protocol):
    """Everything its callers use of a pipeline (:class:`Pipeline`; the tests' fakes): the
    console window and its session controller, :class:`~crowdmood_gui.core.session_runner.SessionRun`
    and through ``SessionRun.pipeline`` ``crowdmood analyze``, the booth agent and replay's
    "analyse a video". Every method returns at once but ``stop`` (bounded by ``timeout_s``)
    and ``run`` (the whole source)."""

    @property
    def frames_processed(self) -> int: ...

    @property
    def records_analysed(self) -> int: ...

    @property
    def source_error(self) -> str | None: ...

    def mean_detect_ms(self) -> float | None: ...

    def timeline_rows(self, period_s: int) -> list[TimelineRow]: ...

    def start(self) -> None: ...

    def run(self, progress: Callable[[float, int], None] | None = None) -> None: ...

    def stop(self, timeout_s: float = 2.0) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_privacy(self, blur_faces: bool) -> None: ...

    def set_chart_period(self, period_s: int) -> None: ...

    def stats(self) -> StatsEvent: ...


class _Latest:
    """A one-frame slot: ``put`` replaces, ``take`` waits for something newer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item = None
        self.dropped = 0

    def put(self, item) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float):
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item


class _Rate:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 2.0) -> None:
        self._times: deque[float] = deque()
        self._window = window_s
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            while self._times and now - self._times[0] > self._window:
                self._times.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] > self._window:
                self._times.popleft()
            if len(self._times) < 2:
                return 0.0
            span = max(now - self._times[0], 1e-6)
            return (len(self._times) - 1) / span if span < self._window else len(self._times) / self._window


class Pipeline:
    """One source, one session. ``realtime=True``: live console (drop stale frames);
    ``realtime=False``: analysis of a file, every frame, as fast as the machine allows."""

    def __init__(
        self,
        config: AppConfig,
        observer: PipelineObserver | None = None,
        *,
        backend: AnalysisBackend | None = None,
        realtime: bool = True,
        store: SessionStore | None = None,
        detector=None,
        frame_tap: Callable[[FrameEvent], None] | None = None,
        session_name: str | None = None,
    ) -> None:
        self.config = config
        self.observer = observer or NullObserver()
        self.realtime = realtime
        self.store = store
        self.frame_tap = frame_tap  # e.g. the session's video recorder (display thread)
        self.session_name = session_name or config.session or datetime.now().strftime("session-%Y%m%d-%H%M%S")
        self._backend = backend
        self._detector = detector
        # Live: keep 15 min of buckets for late records; analysis: keep all (read at the end).
        # The crowd state (core/crowd.py) lives in the aggregator: the chart's values and the
        # boxes' colours (each person's dominant expression) come from that one place.
        self.aggregator = TimelineAggregator(
            retain_s=LIVE_RETAIN_S if realtime else None, half_life_s=config.crowd.half_life_s
        )
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._shutdown_lock = threading.Lock()
        self._shutdown_started = False
        self._threads: list[threading.Thread] = []
        self._capture = None
        self._detect_slot = _Latest()
        self._tracks: ShownBoxes | tuple[()] = ()  # the last cycle's boxes (arrays: moved per frame)
        self._blur = config.privacy.blur_faces
        self._paused = False
        self._start_wall = datetime.now(UTC)
        self._detect_rate = _Rate()
        self._display_rate = _Rate()
        self._faces_now = 0
        self._tracks_now = 0
        self._records = 0
        self._last_commit = 0.0
        self._last_storage_error = 0.0
        self._frames_processed = 0
        self._detect_ms: deque[float] = deque(maxlen=300)
        self._flow = None
        self._source_done = threading.Event()
        self._source_failed: str | None = None
        self._live_source = False
        self._privacy_boxes: ShownBoxes | tuple[()] = ()
        self._last_frame: tuple[float, float] | None = None  # (captured_monotonic, media_time_s)
        self._source_state = ""
        self._signal_lost_since: float | None = None

    # --- public API -----------------------------------------------------------------

    @property
    def backend(self) -> AnalysisBackend:
        return self._backend

    @property
    def frames_processed(self) -> int:
        return self._frames_processed

    @property
    def records_analysed(self) -> int:
        return self._records

    @property
    def source_error(self) -> str | None:
        """The reason the source failed, if it did (``None`` after a normal end)."""
        return self._source_failed

    def mean_detect_ms(self) -> float | None:
        samples = list(self._detect_ms)
        return sum(samples) / len(samples) if samples else None

    def timeline_rows(self, period_s: int) -> list[TimelineRow]:
        """Every row of the ``period_s`` timeline kept so far (analysis keeps them all)."""
        return self.aggregator.rows(period_s)

    def start(self) -> None:
        """Load the models and start every thread; returns at once (the source opens in
        the capture thread). Raises :class:`CrowdMoodError` if a model cannot load."""
        from crowdmood_gui.core.capture import CaptureThread, SourceSpec

        if self._detector is None:
            from crowdmood_gui.core.detection import FaceDetector

            self._detector = FaceDetector.from_config(self.config.detection)
        if self._backend is None:
            from crowdmood_gui.core.backends import make_backend

            self._backend = make_backend(
                self.config, session=self.session_name, session_start=self._start_wall, realtime=self.realtime
            )
        from crowdmood_gui.core.crowd_detection import CrowdDetector
        from crowdmood_gui.core.sampling import CropSampler
        from crowdmood_gui.core.tracking import FaceTracker

        self._crowd = CrowdDetector(self._detector, self.config.detection, realtime=self.realtime)
        # Live with tiles: each known face measured by optical flow between its re-detections.
        from crowdmood_gui.core.flow import FaceFlow

        self._flow = FaceFlow(self.config.detection.refresh_hz) if self.config.detection.flow_refresh else None
        self._crowd.with_flow = self._flow is not None
        self._tracker = FaceTracker(
            iou_threshold=self.config.tracking.iou_threshold,
            max_missed_s=self.config.tracking.max_missed_s,
            max_unseen_s=self.config.tracking.max_unseen_s,
        )
        s = self.config.sampling
        self._sampler = CropSampler(
            interval_s=s.interval_s, min_face_px=s.min_face_px, min_sharpness=s.min_sharpness, margin=s.margin
        )
        if self.store is not None:
            self.store.set_meta(
                session=self.session_name,
                camera=self.config.camera,
                source=redact_url(self.config.source.spec),
                started_at=self._start_wall.isoformat(),
                backend=self._backend.name,
                settings=redacted_dump(self.config),
            )
        spec = SourceSpec.parse(self.config.source.spec)
        self._live_source = spec.is_live
        self._capture = CaptureThread(
            spec,
            loop=self.config.source.loop,
            realtime=self.realtime,
            stop_event=self._stop,
            on_source_event=self._on_source_event,
            reconnect_max_backoff_s=self.config.source.reconnect_max_backoff_s,
            open_timeout_s=self.config.source.open_timeout_s,
            # Analysing (not watching) a camera or stream: one try, then a clear failure,
            # never a wait for ever on a camera that is not there.
            max_attempts=None if self.realtime else 1,
        )
        self._backend.start(self)
        self._capture.start()
        self._spawn("detect", self._detect_loop)
        if self.realtime:
            self._spawn("display", self._display_loop)
        self._spawn("heartbeat", self._heartbeat_loop)

    def pause(self) -> None:
        self._paused = True
        if self._capture is not None:
            self._capture.pause()

    def resume(self) -> None:
        if self._last_frame is not None:  # a pause is not a lost signal: count from now
            self._last_frame = (time.monotonic(), self._last_frame[1])
        self._paused = False
        if self._capture is not None:
            self._capture.resume()

    @property
    def paused(self) -> bool:
        return self._paused

    def set_privacy(self, blur_faces: bool) -> None:
        self._blur = bool(blur_faces)

    def set_chart_period(self, period_s: int) -> None:
        """The chart shows ``period_s``: a backend that computes lines remotely fetches it."""
        if self._backend is not None:
            self._backend.set_period(int(period_s))

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop every thread within ``timeout_s``; analysed records are committed."""
        self._shutdown(timeout_s)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the pipeline has finished (end of file, failure or stop)."""
        return self._finished.wait(timeout_s)

    def run(self, progress: Callable[[float, int], None] | None = None, drain_timeout_s: float = 600.0) -> None:
        """Analysis mode: start, process the whole source, finish. ``progress(media_s, frames)``
        is called about four times a second."""
        self.start()
        while not self._source_done.wait(HEARTBEAT_S):
            if progress is not None:
                progress(self._last_media_time, self._frames_processed)
        for thread in self._threads:
            if thread.name.endswith("detect"):
                thread.join()
        if progress is not None:
            progress(self._last_media_time, self._frames_processed)
        self._shutdown(drain_timeout_s)

    # --- RecordSink (backend threads) -----------------------------------------------

    def on_record(self, record: FaceRecord, media_time_s: float, thumbnail: np.ndarray | None) -> None:
        self._records += 1
        self.aggregator.add_record(media_time_s, record)
        if self.store is not None:
            self.store.add_record(record, media_time_s)
        if thumbnail is not None and self._blur:
            thumbnail = blurred_crop(thumbnail)  # "blur faces" covers the recent-faces strip too
        self._notify("on_record", RecordEvent(record=record, media_time_s=media_time_s, thumbnail=thumbnail))

    def on_timeline(self, rows: list[TimelineRow]) -> None:
        by_period: dict[int, list[TimelineRow]] = {}
        for row in rows:
            by_period.setdefault(int(row.period_s), []).append(row)
        if self.store is not None:
            self.store.upsert_timeline(rows)
        for period, period_rows in by_period.items():
            self._notify("on_timeline", period, period_rows)

    def on_error(self, message: str) -> None:
        self._notify("on_error", ErrorEvent(message=message, where=self._backend.name if self._backend else ""))

    # --- threads --------------------------------------------------------------------

    _last_media_time = 0.0

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=self._guarded(name, target), name=f"crowdmood-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _guarded(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except CrowdMoodError as exc:
                self._notify("on_error", ErrorEvent(message=str(exc), where=name))
            except Exception as exc:  # a worker must never die silently
                log.exception("pipeline thread %s crashed", name)
                self._notify("on_error", ErrorEvent(message=f"internal error in {name}: {exc}", where=name))
                if name == "detect":
                    self._source_done.set()
                    threading.Thread(target=self._shutdown, args=(2.0,), daemon=True).start()

        return run

    def _on_source_event(self, event: SourceEvent) -> None:
        if event.state == "failed":
            self._source_failed = event.message
        self._source_state = event.state
        if event.state in ("reconnecting", "ended", "failed"):
            self._clear_live_figures()  # nothing on screen is current any more
        self._notify("on_source", event)

    def _clear_live_figures(self) -> None:
        self._tracks = ()
        self._privacy_boxes = ()
        self._faces_now = 0
        self._tracks_now = 0

    def signal_lost_s(self, now: float | None = None) -> float | None:
        """Seconds since the last frame while a live source delivers none (not paused),
        else None. Clears the live figures and logs the drop and the return, once each."""
        if not (self.realtime and self._live_source) or self._paused or self._last_frame is None:
            lost = None
        else:
            now = time.monotonic() if now is None else now
            silent = now - self._last_frame[0]
            dropped = self._source_state in ("reconnecting", "opening")
            lost = silent if silent >= NO_SIGNAL_AFTER_S or dropped else None
        if lost is not None and self._signal_lost_since is None:
            self._signal_lost_since = self._last_frame[0]
            self._clear_live_figures()
            log.warning("no signal from %s: no frame for %.1f s", self._source_name(), lost)
        elif lost is None and self._signal_lost_since is not None and self._last_frame is not None:
            gap = self._last_frame[0] - self._signal_lost_since
            self._signal_lost_since = None
            if not self._paused:
                log.warning("signal back from %s after %.1f s without frames", self._source_name(), gap)
        if lost is not None:
            self._clear_live_figures()  # the detector may have finished one last frame since
        return lost

    def _source_name(self) -> str:
        return self._capture.spec.display_name if self._capture is not None else self.config.source.spec

    def clock_s(self, now: float | None = None) -> float | None:
        """The live source's clock now: the chart's right edge keeps moving through a gap."""
        if not (self.realtime and self._live_source) or self._last_frame is None or self._paused:
            return None
        now = time.monotonic() if now is None else now
        captured, media = self._last_frame
        return media + max(0.0, now - captured)

    def _next_frame(self, timeout: float):
        """Analysis mode reads the capture queue; live mode the display thread's slot."""
        if self.realtime:
            return self._detect_slot.take(timeout)
        return self._capture.channel.get(timeout)

    def _capture_finished(self) -> bool:
        return self._capture is not None and self._capture.channel.exhausted

    def _detect_loop(self) -> None:
        # Live mode may cap the detection rate (the booth agent: one crop per person every
        # few seconds needs no 30 Hz); the newest frame is taken after each pause.
        max_hz = self.config.detection.max_rate_hz if self.realtime else 0.0
        min_gap_s = 1.0 / max_hz if max_hz > 0 else 0.0
        if self.realtime:  # the frame on screen first, detection with what is left
            lower_this_thread_priority(self.config.detection.live_analysis_nice)
        try:
            while not self._stop.is_set():
                frame = self._next_frame(0.1)
                if frame is None:
                    if self._capture_finished():
                        break
                    continue
                started = time.monotonic()
                self._process(frame)
                if min_gap_s and self._stop.wait(max(0.0, min_gap_s - (time.monotonic() - started))):
                    break
        finally:
            self._source_done.set()
            if self.realtime and not self._stop.is_set():
                # The file ended (or the source failed for good): finish on our own.
                threading.Thread(target=self._shutdown, args=(30.0,), name="crowdmood-finish", daemon=True).start()

    def _process(self, frame) -> None:
        now_s = frame.media_time_s
        # A detection cycle (low-resolution pass, refreshes, tiles: core/crowd_detection.py)
        # or, between cycles in analysis mode, none: the tracker then only predicts.
        flow_on = self._flow is not None and self._crowd.flow_measures
        if flow_on and self._flow.wants_step(now_s, self._tracker.active_tracks):
            # This frame is the flow's (the faces would be older than the period by the next
            # step); the detection cycle takes the next one. (``flow_measures`` only after
            # the first sweep: a loaded 4K window followed 360 of 576 faces after 20 s when
            # the flow took its frames from the start.)
            detections, cycle = [], CycleReport()
        else:
            detections, cycle = self._crowd.detect(frame.image, now_s, self._tracker.active_tracks)
        if cycle.ran:
            self._detect_ms.append(cycle.compute_ms)
            if self._flow is not None:
                self._flow.note_cycle(cycle.compute_ms)
        tracks = self._tracker.update(detections, now_s, covered=cycle.coverage)
        rest_s = cycle.rest_s
        if flow_on:
            # Between re-detections: the faces due measured from this frame (never a
            # detection: they stay not ``fresh``, so no crop is cut at a flow box).
            flow = self._flow.step(frame.image, now_s, self._tracker.active_tracks, detected=cycle.ran)
            if flow.ran:
                self._tracker.measure(flow.measured, now_s, lost=flow.failed)
                # the flow's compute counts in detection's busy share like a cycle's
                rest_s += flow.compute_ms / 1000.0 * (1.0 / self.config.detection.live_busy_share - 1.0)
        # Crops only from boxes detected in this very frame (full resolution), never from
        # a prediction.
        fresh = [t for t in tracks if t.fresh]
        samples = self._sampler.select(frame.image, fresh, now_s, wants=self._backend.wants_sample,
                                       has_reading=self.aggregator.has_reading,
                                       max_crops=self._backend.crop_allowance())
        if self._live_source and frame.captured_wall:
            # A live frame's capture time is when it was read, whatever opening or
            # reconnecting cost before it (media time counts from the first frame).
            captured_at = datetime.fromtimestamp(frame.captured_wall, UTC)
        else:
            captured_at = self._start_wall + timedelta(seconds=now_s)
        for sample in samples:
            meta = CaptureMeta(
                session=self.session_name,
                camera=self.config.camera,
                captured_at=captured_at,
                track_id=sample.track_id,
            )
            self._backend.submit(
                CropJob(
                    image=sample.crop,
                    face_box=tuple(sample.face_box),
                    meta=meta,
                    media_time_s=now_s,
                    detection_score=float(sample.score),
                    landmarks=tuple(sample.landmarks or ()),
                    sharpness=sample.sharpness,
                    blur_copies=self._blur,
                )
            )
        boxes = tuple(t.to_box(now_s) for t in tracks)  # labelled per shown frame, in _frame_event
        # As arrays once per cycle: the display thread moves them to every frame.
        self._tracks = ShownBoxes.from_boxes(boxes)
        self._faces_now = len(boxes)
        active = self._tracker.active_tracks
        self._tracks_now = len(active)
        # Blur every live track, not only those detected in this frame: a face the
        # detector misses for a frame must not flash unblurred on screen or in the video.
        # (Only with the blur on: until the next cycle after it is turned on, the shown
        # boxes stand in.)
        self._privacy_boxes = ShownBoxes.from_boxes(tuple(t.to_box(now_s) for t in active)) if self._blur else ()
        self.aggregator.observe_frame(now_s, len(boxes), (b.track_id for b in boxes))
        if not self.realtime and self.frame_tap is not None:
            # Analysis mode has no display thread: record each frame with its own boxes.
            self._tap(self._frame_event(frame, boxes))
        self._frames_processed += 1
        self._last_media_time = now_s
        if cycle.ran:
            self._detect_rate.tick()
        if rest_s > 0:
            # Live with tiles: leave the display and the GUI their share of the cores.
            self._stop.wait(rest_s)

    def _display_loop(self) -> None:
        while not self._stop.is_set():
            frame = self._capture.channel.get(0.1)
            if frame is None:
                if self._capture_finished():
                    return
                continue
            self._last_frame = (frame.captured_monotonic, frame.media_time_s)
            self._detect_slot.put(frame)
            event = self._frame_event(frame, self._tracks)
            self._display_rate.tick()
            self._notify("on_frame", event)
            if self.frame_tap is not None:  # after the screen: the recorder shrinks the frame
                self._tap(event)

    def _frame_event(self, frame, tracks: Sequence[TrackBox]) -> FrameEvent:
        """The frame as shown and recorded: each box moved to where its face is in this
        frame (the boxes come from the last detection cycle, up to a cycle older), latest
        expressions on the boxes, faces blurred when privacy is on (on a copy: the
        detector keeps the original). The boxes are moved as arrays (:class:`ShownBoxes`):
        no object per box per frame."""
        image = frame.image
        now_s = frame.media_time_s
        tracks = ShownBoxes.from_boxes(tracks)
        if self._blur:
            # The blur covers both where the face was detected and where it is predicted
            # now: a wrong velocity must not uncover a face.
            blurred = ShownBoxes.from_boxes(self._privacy_boxes or tracks)
            if len(blurred):
                moved = blurred.at(now_s).xyxy
                hull = np.concatenate((np.minimum(blurred.xyxy[:, :2], moved[:, :2]),
                                       np.maximum(blurred.xyxy[:, 2:], moved[:, 2:])), axis=1)
                image = blur_faces(image.copy(), hull.tolist())
        return FrameEvent(
            frame_index=frame.index,
            media_time_s=frame.media_time_s,
            captured_monotonic=frame.captured_monotonic,
            image=image,
            tracks=tracks.at(now_s, self.aggregator.dominant),
        )

    def _tap(self, event: FrameEvent) -> None:
        try:
            self.frame_tap(event)
        except CrowdMoodError as exc:
            self._notify("on_error", ErrorEvent(message=str(exc), where="recording"))

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self._publish()

    def _publish(self, final: bool = False) -> None:
        if self._backend is None or not self._backend.provides_timeline:
            for period, rows in self.aggregator.pop_updates().items():
                if self.store is not None:
                    self.store.upsert_timeline(rows)
                self._notify("on_timeline", period, rows)
        now = time.monotonic()
        if self.store is not None and (final or now - self._last_commit >= STORE_COMMIT_S):
            self._last_commit = now
            try:
                self.store.flush()
            except StorageError as exc:
                if final or now - self._last_storage_error > 30:
                    self._last_storage_error = now
                    self._notify("on_error", ErrorEvent(message=str(exc), where="store"))
        stats = self.stats()
        if self._backend is not None:
            self._backend.observe_pipeline(stats)
        self._notify("on_stats", stats)

    def stats(self) -> StatsEvent:
        b = self._backend.stats() if self._backend else None
        lost = self.signal_lost_s()
        return StatsEvent(
            detection_fps=0.0 if lost is not None else self._detect_rate.rate(),
            faces=self._faces_now,
            tracks=self._tracks_now,
            analysis_queue=b.queue_depth if b else 0,
            records_analysed=self._records,
            upload_queue=b.upload_queue if b else None,
            cost_usd=b.cost_usd if b else None,
            projected_usd_per_hour=b.projected_usd_per_hour if b else None,
            analysis_lag_s=b.analysis_lag_s if b else None,
            failed_waiting=b.failed_waiting if b else None,
            signal_lost_s=lost,
            clock_s=self.clock_s(),
        )

    def _notify(self, method: str, *args) -> None:
        try:
            getattr(self.observer, method)(*args)
        except Exception:  # an observer bug must not stop the pipeline
            log.exception("observer %s failed", method)

    # --- the one shutdown path ------------------------------------------------------

    def _shutdown(self, timeout_s: float) -> None:
        with self._shutdown_lock:
            already = self._shutdown_started
            self._shutdown_started = True
        if already:
            self._finished.wait(timeout_s)
            return
        deadline = time.monotonic() + timeout_s
        self._stop.set()
        try:
            current = threading.current_thread()
            for thread in [self._capture, *self._threads]:
                if thread is not None and thread is not current and thread.is_alive():
                    thread.join(max(0.0, min(1.0, deadline - time.monotonic())))
            if self._backend is not None:
                self._backend.stop(max(0.1, deadline - time.monotonic()))
            self._publish(final=True)
        except Exception:  # whatever failed, the store is closed and observers are told
            log.exception("pipeline shutdown failed")
        finally:
            if self.store is not None:
                try:
                    self.store.close()
                except StorageError as exc:
                    self._notify("on_error", ErrorEvent(message=str(exc), where="store"))
            self._finished.set()
            self._notify("on_finished")

