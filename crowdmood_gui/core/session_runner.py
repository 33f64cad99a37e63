"""One session from start to end: the session folder, its store, the video recorder and
the pipeline, built in one place and ended in one place.

The console, ``crowdmood analyze`` (with or without ``--session``), the booth agent and
replay's "analyse a video" all run a :class:`SessionRun`::

    run = SessionRun(config, observer, session="booth monday", record_video=True)
    run.start()          # live: returns at once; a model that cannot load raises
    ...
    run.stop(2.0)        # or the source ends, or it fails: the same ending

Ending (exactly once, whichever path comes first: ``stop()``, the end or failure of the
source, a failed start, an interrupted ``run()``): the recorder is flushed and closed, the
session's ``ended_at`` is written and its lock released. It happens before the observer
hears ``on_finished``, so a caller told "finished" finds the session closed on disk.
Problems while ending (a full disk) never raise: they are kept in ``end_errors`` (one
line each) and logged.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from crowdmood_gui.core.backends.base import AnalysisBackend
from crowdmood_gui.core.config import AppConfig, RecordingConfig
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.core.events import ErrorEvent, FrameEvent, RecordEvent, SourceEvent, StatsEvent, TimelineRow
from crowdmood_gui.core.pipeline import NullObserver, Pipeline, PipelineControl, PipelineObserver
from crowdmood_gui.core.recording import (
    DEFAULT_FPS_CAP,
    DEFAULT_MAX_SIDE,
    DEFAULT_QUALITY,
    SessionRecorder,
)
from crowdmood_gui.core.sessions import Session, _write_meta, acquire_lock, create_session, mark_ended
from crowdmood_gui.core.store import SessionStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoOptions:
    """How the displayed frames are recorded. ``block``: offline analysis waits for the
    recorder instead of dropping frames."""

    fps_cap: float = DEFAULT_FPS_CAP
    max_side: int = DEFAULT_MAX_SIDE
    quality: int = DEFAULT_QUALITY
    block: bool = False

    @classmethod
    def from_config(cls, recording: RecordingConfig, *, block: bool = False) -> "VideoOptions":
        return cls(fps_cap=recording.fps_cap, max_side=recording.max_side, quality=recording.jpeg_quality, block=block)


class PipelineFactory(Protocol):
    """Builds the pipeline of a run (:class:`Pipeline`; tests give a fake)."""

    def __call__(
        self,
        config: AppConfig,
        observer: PipelineObserver,
        *,
        backend: AnalysisBackend | None,
        realtime: bool,
        store: SessionStore | None,
        frame_tap: Callable[[FrameEvent], None] | None,
        session_name: str | None,
    ) -> PipelineControl: ...


class _EndingObserver:
    """Hands every pipeline event to the caller's observer; ends the run before passing
    on ``on_finished``."""

    def __init__(self, run: "SessionRun", inner: PipelineObserver) -> None:
        self._run = run
        self._inner = inner

    def on_frame(self, event: FrameEvent) -> None:
        self._inner.on_frame(event)

    def on_record(self, event: RecordEvent) -> None:
        self._inner.on_record(event)

    def on_timeline(self, period_s: int, rows: list[TimelineRow]) -> None:
        self._inner.on_timeline(period_s, rows)

    def on_stats(self, event: StatsEvent) -> None:
        self._inner.on_stats(event)

    def on_source(self, event: SourceEvent) -> None:
        self._inner.on_source(event)

    def on_error(self, event: ErrorEvent) -> None:
        self._inner.on_error(event)

    def on_finished(self) -> None:
        try:
            self._run.end()
        finally:
            self._inner.on_finished()


@contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Ctrl-C pressed again while an interrupted run winds down is logged, not raised: the
    threads must end first. A process that exits with one of them inside onnxruntime
    aborts ("terminate called without an active exception", exit status 134). The stop is
    bounded by its timeout. Only the main thread receives signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda _sig, _frame: log.warning("stopping: the analysis threads end first"))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class SessionRun:
    """A pipeline and, when ``session`` is given, the session it records into.

    ``session``: a name (a new session folder, locked while it records), an existing
    :class:`Session` (locked too), or ``None`` (nothing on disk: ``analyze`` without
    ``--session``, the agent in AWS mode). ``record_video`` records the displayed frames
    (needs a session). Every session a run records gets the same meta: ``record_video``
    and ``blur_faces``, plus ``meta``. Raises :class:`CrowdMoodError` (one line) when the
    session cannot be created; nothing is left locked then.
    """

    def __init__(
        self,
        config: AppConfig,
        observer: PipelineObserver | None = None,
        *,
        session: Session | str | None = None,
        record_video: bool = False,
        video: VideoOptions | None = None,
        realtime: bool = True,
        backend: AnalysisBackend | None = None,
        meta: dict[str, object] | None = None,
        pipeline_factory: PipelineFactory | None = None,
    ) -> None:
        self.config = config
        self.observer: PipelineObserver = observer if observer is not None else NullObserver()
        self.end_errors: list[str] = []
        self.ended_count = 0  # 0 or 1: what the tests of "ends exactly once" read
        self._end_lock = threading.Lock()
        self._ended = threading.Event()
        self.session: Session | None = None
        self.recorder: SessionRecorder | None = None
        self.store: SessionStore | None = None
        if isinstance(session, str):
            self.session = create_session(config, session, source=config.source.spec)  # stored masked
        elif session is not None:
            acquire_lock(session)
            self.session = session
        try:
            if self.session is not None:
                if record_video:
                    options = video or VideoOptions.from_config(config.recording, block=not realtime)
                    self.recorder = SessionRecorder(self.session, fps_cap=options.fps_cap, max_side=options.max_side,
                                                    quality=options.quality, block=options.block)
                _write_meta(self.session, record_video=self.recorder is not None,
                            blur_faces=bool(config.privacy.blur_faces), **(meta or {}))
                self.store = self.session.open_store()
            make = pipeline_factory or Pipeline
            self.pipeline: PipelineControl = make(
                config, _EndingObserver(self, self.observer), backend=backend, realtime=realtime, store=self.store,
                frame_tap=self.recorder.write if self.recorder is not None else None,
                session_name=self.session.id if self.session is not None else config.session,
            )
        except BaseException:
            # A session that cannot start is not left locked (nor its recorder running).
            if self.store is not None:
                self.store.close()
            self.end()
            raise

    @property
    def recording_video(self) -> bool:
        return self.recorder is not None

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def start(self) -> None:
        """Live: start the pipeline and return. A pipeline that cannot start (a model that
        cannot load) is stopped, the session ended, and the error raised."""
        try:
            self.pipeline.start()
        except BaseException:
            try:
                self.pipeline.stop(0.5)
            except Exception:  # it never fully started; nothing more to release
                log.debug("stopping a pipeline that failed to start", exc_info=True)
            self.end()
            raise

    def run(self, progress: Callable[[float, int], None] | None = None, *, stop_timeout_s: float = 10.0) -> None:
        """Analysis: process the whole source, then end. Interrupted (Ctrl-C) or failed,
        the pipeline is stopped (what was analysed is kept) and the run ended, then the
        exception goes on."""
        try:
            self.pipeline.run(progress=progress)
        except BaseException:
            with _ctrl_c_deferred():
                try:
                    self.pipeline.stop(stop_timeout_s)
                except Exception:
                    log.exception("stopping an interrupted analysis failed")
            raise
        finally:
            self.end()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop the pipeline (records committed) and end the session; idempotent."""
        try:
            self.pipeline.stop(timeout_s)
        finally:
            self.end()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the run has ended (end of source, failure or stop)."""
        return self._ended.wait(timeout_s)

    def end(self) -> None:
        """Close the recorder, write ``ended_at`` and release the lock: once, whoever calls
        first (a second caller waits until the first has finished)."""
        with self._end_lock:
            if self._ended.is_set():
                return
            try:
                self._close_recorder()
                self._mark_ended()
            finally:
                self.ended_count += 1
                self._ended.set()

    def _close_recorder(self) -> None:
        if self.recorder is None:
            return
        try:
            stats = self.recorder.close()
            if stats.errors:
                self._end_problem(f"the video could not be fully recorded: {self.recorder.last_error}")
        except CrowdMoodError as exc:
            self._end_problem(str(exc))
        except Exception:
            log.exception("closing the video recorder failed")

    def _mark_ended(self) -> None:
        if self.session is None:
            return
        try:
            mark_ended(self.session)
        except CrowdMoodError as exc:
            self._end_problem(str(exc))
        except Exception:
            log.exception("closing session %s failed", self.session.id)

    def _end_problem(self, message: str) -> None:
        self.end_errors.append(message)
        log.warning("session %s: %s", self.session.id if self.session else "-", message)
