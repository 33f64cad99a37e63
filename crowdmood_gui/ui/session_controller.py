"""The console's session lifecycle, out of the window: start (off the GUI thread), pause,
resume, stop, the state, and what the REC badge shows (name, video or not, the clock).

The controller builds each session with the window's ``session_factory``
(:class:`~crowdmood_gui.core.session_runner.SessionRun`: the runner ends the session on
every path) and reports through signals; the window observes it and owns the widgets.
Each session talks to the window through a fresh
:class:`~crowdmood_gui.ui.bridge.SignalBridge`, detached when the session is replaced, so
a late event of an old session never reaches the widgets.

States: idle → starting → running ⇄ paused → stopping → idle (or starting → idle when the
start fails; running/paused → idle when the source ends or fails on its own).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from PySide6.QtCore import QObject, Signal

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.core.pipeline import PipelineControl, PipelineObserver
from crowdmood_gui.core.session_runner import SessionRun
from crowdmood_gui.core.sessions import Session, default_session_name
from crowdmood_gui.ui.bridge import SignalBridge
from crowdmood_gui.ui.session_state import IDLE, PAUSED, RUNNING, STARTING, STOPPING
from crowdmood_gui.ui.status_bar import clock_text, source_display_name
from crowdmood_gui.ui.tasks import run_in_background

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 2.0

# (config, observer) -> the session to run (called off the GUI thread).
SessionFactory = Callable[[AppConfig, PipelineObserver], SessionRun]


def default_session_factory(config: AppConfig, observer: PipelineObserver) -> SessionRun:
    """The real pipeline recording into a new session folder (records, timeline, the video
    when ``recording.record_video``); the runner ends the session on every shutdown path."""
    return SessionRun(config, observer, session=config.session or default_session_name(config.camera),
                      record_video=config.recording.record_video)


class SessionController(QObject):
    """Signals (GUI thread):

    - ``state_changed(str)``: idle, starting, running, paused, stopping;
    - ``session_starting(SignalBridge, AppConfig)``: a session is being built; connect the
      bridge's signals and reset the views now (before any event can arrive);
    - ``started()``: the pipeline runs (the state turns to running right after);
    - ``start_failed(str)``: one line (a model that cannot load, a full disk);
    - ``problem(str)``: one line for the banner (stopping failed);
    - ``stopped()``: a ``stop()`` finished, the session is closed on disk;
    - ``ended()``: the source ended or failed on its own (the session is closed);
    - ``aws_setup_needed()``: the AWS backend is chosen but has no bucket: nothing started.
    """

    state_changed = Signal(str)
    session_starting = Signal(object, object)
    started = Signal()
    start_failed = Signal(str)
    problem = Signal(str)
    stopped = Signal()
    ended = Signal()
    aws_setup_needed = Signal()

    def __init__(self, factory: SessionFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = factory or default_session_factory
        self._state = IDLE
        self._run: SessionRun | None = None
        self._last_run: SessionRun | None = None
        self._bridge: SignalBridge | None = None
        self._start_jobs: list[tuple[threading.Thread, dict[str, SessionRun]]] = []  # (thread, {"run": r})
        self._stop_threads: list[threading.Thread] = []
        self.closing = False  # the window is closing: nothing new starts, no "then" runs
        # What the REC badge shows.
        self.session_name: str | None = None
        self.recording_video = False
        self.last_session: Session | None = None  # the current or last session's folder
        self._active_s = 0.0  # seconds running, pauses excluded, before _active_since
        self._active_since: float | None = None

    # --- state --------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def run(self) -> SessionRun | None:
        return self._run

    @property
    def pipeline(self) -> PipelineControl | None:
        return self._run.pipeline if self._run is not None else None

    @property
    def bridge(self) -> SignalBridge | None:
        return self._bridge

    @property
    def active(self) -> bool:
        return self._state in (STARTING, RUNNING, PAUSED)

    def elapsed_s(self) -> float:
        """Seconds the session has been running (pauses excluded)."""
        extra = time.monotonic() - self._active_since if self._active_since is not None else 0.0
        return self._active_s + extra

    def records_analysed(self) -> int:
        """The records of the current (or last) session's pipeline."""
        run = self._run or self._last_run
        return run.pipeline.records_analysed if run is not None else 0

    def _set_state(self, state: str) -> None:
        self._state = state
        now = time.monotonic()
        if self._active_since is not None and state != RUNNING:
            self._active_s += now - self._active_since  # the clock stops while paused
            self._active_since = None
        if state == RUNNING and self._active_since is None:
            self._active_since = now
        self.state_changed.emit(state)

    # --- what the operator does ---------------------------------------------------------

    def start(self, config: AppConfig) -> None:
        """Start a session on ``config`` (its ``session`` names it; default: booth and date),
        after stopping the current one."""
        if self._state == STARTING:
            self._abandon_starting()
        if self._run is not None:
            self.stop(then=lambda: self._start(config))
        else:
            self._start(config)

    def toggle_pause(self) -> None:
        if self._run is None:
            return
        if self._state == RUNNING:
            self._run.pipeline.pause()
            self._set_state(PAUSED)
        elif self._state == PAUSED:
            self._run.pipeline.resume()
            self._set_state(RUNNING)

    def set_privacy(self, blur_faces: bool) -> None:
        if self._run is not None:
            self._run.pipeline.set_privacy(bool(blur_faces))

    def set_chart_period(self, period_s: int) -> None:
        if self._run is not None:
            self._run.pipeline.set_chart_period(period_s)

    def stop(self, then: Callable[[], None] | None = None) -> None:
        """Stop the session in the background; ``then()`` runs on the GUI thread after."""
        if self._state == STARTING:
            self._abandon_starting()
        run, bridge = self._run, self._bridge
        if run is None:
            self._set_state(IDLE)
            if then is not None:
                then()
            return
        self._run = None
        self._last_run = run
        self._set_state(STOPPING)
        thread = run_in_background(
            lambda: run.stop(STOP_TIMEOUT_S),
            lambda _result: self._stopped(bridge, then),
            owner=self,
            on_error=lambda exc: (self.problem.emit(f"Stopping failed: {exc}"), self._stopped(bridge, then)),
            name="crowdmood-stop",
        )
        self._stop_threads.append(thread)

    def shutdown(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every session (running, starting or stopping) within ``timeout_s``. Blocks."""
        deadline = time.monotonic() + timeout_s
        runs: list[SessionRun] = []
        for thread, holder in list(self._start_jobs):
            thread.join(max(0.0, deadline - time.monotonic()))
            if holder.get("run") is not None:
                runs.append(holder["run"])
        if self._run is not None:
            runs.append(self._run)
            self._last_run = self._run
        seen: set[int] = set()
        for run in runs:
            if id(run) in seen:
                continue
            seen.add(id(run))
            try:
                run.stop(max(0.1, deadline - time.monotonic()))
            except Exception:
                log.exception("stopping the session failed")
        for thread in self._stop_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._run = None
        self._start_jobs.clear()
        if self._bridge is not None:
            self._bridge.detach()
        self._bridge = None
        self._state = IDLE

    # --- the steps ----------------------------------------------------------------------

    def _stopped(self, bridge: SignalBridge | None, then: Callable[[], None] | None) -> None:
        self._stop_threads = [t for t in self._stop_threads if t.is_alive()]
        if bridge is not None:
            bridge.detach()
        if bridge is self._bridge:
            self._bridge = None
            if self._state == STOPPING:
                log.info("session %r stopped after %s", self.session_name, clock_text(self.elapsed_s()))
                self._set_state(IDLE)
                self.stopped.emit()
        if then is not None and not self.closing:
            then()

    def _abandon_starting(self) -> None:
        """A session still starting is superseded: it is stopped when it arrives."""
        if self._bridge is not None:
            self._bridge.detach()
            self._bridge = None

    def _start(self, config: AppConfig) -> None:
        if self.closing:
            return
        if config.needs_aws_setup():
            self._set_state(IDLE)
            self.aws_setup_needed.emit()
            return
        bridge = SignalBridge(self)
        bridge.finished.connect(self._on_finished)
        self._bridge = bridge
        self.session_name = config.session or default_session_name(config.camera)
        config = config.model_copy(update={"session": self.session_name})  # the folder is named as shown
        self.recording_video = bool(config.recording.record_video)
        self._active_s, self._active_since = 0.0, None
        self.session_starting.emit(bridge, config)
        self._set_state(STARTING)
        holder: dict[str, SessionRun] = {}
        factory = self._factory

        def build_and_start() -> SessionRun:
            run = factory(config, bridge)
            holder["run"] = run
            try:
                run.start()  # a failed start is stopped and its session ended by the runner
            except BaseException:
                holder.pop("run", None)
                raise
            return run

        thread = run_in_background(
            build_and_start,
            lambda run: self._started(bridge, run, holder),
            owner=self,
            on_error=lambda exc: self._start_failed(bridge, exc, holder),
            name="crowdmood-start",
        )
        self._start_jobs.append((thread, holder))

    def _started(self, bridge: SignalBridge, run: SessionRun, holder: dict[str, SessionRun]) -> None:
        self._start_jobs = [(t, h) for t, h in self._start_jobs if h is not holder]
        if bridge is not self._bridge or bridge.detached or self.closing:
            # Superseded while starting: stop it quietly.
            self._stop_threads.append(run_in_background(lambda: run.stop(STOP_TIMEOUT_S), lambda _r: None, owner=self,
                                                        name="crowdmood-stop"))
            return
        self._run = run
        self._last_run = run
        self.last_session = run.session
        # A run without a session folder (the tests' fakes) records what the operator asked.
        self.recording_video = run.recording_video or (run.session is None and self.recording_video)
        self.started.emit()
        if self._state == STARTING:
            self._set_state(RUNNING)
            log.info("session %r started on %s (%s)", self.session_name, source_display_name(run.config.source.spec),
                     "video recorded" if self.recording_video else "no video recorded")

    def _start_failed(self, bridge: SignalBridge, exc: BaseException, holder: dict[str, SessionRun]) -> None:
        self._start_jobs = [(t, h) for t, h in self._start_jobs if h is not holder]
        bridge.detach()
        if bridge is not self._bridge:
            return
        self._bridge = None
        self._set_state(IDLE)
        self.start_failed.emit(str(exc) if isinstance(exc, CrowdMoodError) else f"{type(exc).__name__}: {exc}")

    def _on_finished(self) -> None:
        # The pipeline ended on its own (end of file, failed source) or after stop().
        if self._state in (RUNNING, PAUSED):
            self._last_run = self._run
            self._run = None
            self._set_state(IDLE)
            self.ended.emit()
