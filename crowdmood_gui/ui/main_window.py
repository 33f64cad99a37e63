"""The operator's window: live video with boxes, the expression chart, recent faces,
status bar, menus and toolbar. The window holds the layout and the wiring; its parts live
beside it:

- ``ui/window_actions.py``: the actions, menus and toolbar, enabled per session state;
- ``ui/live_figures.py``: what the video, chart, recent faces and status bar show of the
  running session (its events, through the bridge) and the ``--stats-out`` figures;
- ``ui/export_flow.py``: Stop's "export it?" offer and File ▸ Export;
- ``ui/aws_flow.py``: Setup ▸ AWS setup wizard / Tear down AWS, and the offer to set AWS up;
- ``ui/prompts.py``: the questions it asks first and its one non-modal message box;
- the session lifecycle (start, pause, stop, state) is
  :class:`~crowdmood_gui.ui.session_controller.SessionController`'s; the window asks it
  and shows what it reports.

Threads: the window never waits on capture or inference. Building and starting a
session (folder, model loading) and stopping it run in background threads; each session
reports through a fresh :class:`~crowdmood_gui.ui.bridge.SignalBridge`. Closing the
window is the one blocking exception: it stops every session within 2 s (records are
flushed, the session closed, by ``SessionRun.stop``).
"""

from __future__ import annotations

import importlib
import logging
from collections import deque
from pathlib import Path
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.core.events import StatsEvent
from crowdmood_gui.core.pipeline import PipelineControl
from crowdmood_gui.core.session_runner import SessionRun
from crowdmood_gui.core.sessions import Session, default_session_name
from crowdmood_gui.core.settings_store import ConfigChange, SettingsStore
from crowdmood_gui.ui import window_actions
from crowdmood_gui.ui.aws_flow import AwsFlow
from crowdmood_gui.ui.bridge import SignalBridge
from crowdmood_gui.ui.chart import EmotionChart, TimelineStore
from crowdmood_gui.ui.export_flow import ExportFlow
from crowdmood_gui.ui.faces_strip import RecentFacesStrip
from crowdmood_gui.ui.live_figures import LiveFigures
from crowdmood_gui.ui.prompts import Notice, ask
from crowdmood_gui.ui.session_controller import (
    STOP_TIMEOUT_S,
    SessionController,
    SessionFactory,
    default_session_factory,
)
from crowdmood_gui.ui.session_dialog import SessionStartDialog
from crowdmood_gui.ui.session_state import IDLE, PAUSED, RUNNING, STARTING
from crowdmood_gui.ui.status_bar import (
    ConsoleStatusBar,
    MessageBanner,
    RecBadge,
    clock_text,
    source_display_name,
)
from crowdmood_gui.ui.video_view import VideoView

log = logging.getLogger(__name__)

STATUS_INTERVAL_MS = 500


def validate_source(spec: str) -> str | None:
    """A one-line reason the source cannot be opened before even trying, or None."""
    from crowdmood_gui.core.capture import SourceSpec

    try:
        SourceSpec.parse(spec)
    except CrowdMoodError as exc:
        return str(exc)
    return None


class MainWindow(QMainWindow):
    """Signals: ``session_state_changed(str)``: idle, starting, running, paused, stopping;
    ``closed()``: the window closed and every pipeline thread has stopped."""

    session_state_changed = Signal(str)
    closed = Signal()

    def __init__(
        self,
        config: AppConfig,
        *,
        config_path: Path | None = None,
        session_factory: SessionFactory | None = None,
        persist: bool = True,
    ) -> None:
        super().__init__()
        self.settings = SettingsStore(config, config_path, persist=persist)
        # The session lifecycle; the window shows what it reports.
        self.sessions = SessionController(session_factory or default_session_factory, self)
        self.live = LiveFigures(self)
        self.exports = ExportFlow(self)
        self.aws = AwsFlow(self)
        self._notice = Notice(self)
        self._closing = False
        self.errors: deque[str] = deque(maxlen=50)
        self.kiosk = None
        self.booths_window = None
        # Ask before a running session is ended by switching source or quitting (tests and
        # --exit-after turn it off).
        self.ask_before_ending = True
        self._close_confirmed = False
        self.session_dialog: SessionStartDialog | None = None
        self.confirm_box: QMessageBox | None = None

        self.setWindowTitle("crowdmood")
        self.resize(1440, 860)

        # Widgets.
        self.store = TimelineStore()
        self.video = VideoView()
        self.chart = EmotionChart(self.store, period_s=config.ui.period_s, window_s=config.ui.window_s)
        self.chart.set_local_backend(config.backend == "local")
        self.chart.period_changed.connect(lambda p: self.persist(lambda c: setattr(c.ui, "period_s", p)))
        self.chart.period_changed.connect(self._forward_period)
        self.chart.window_changed.connect(lambda w: self.persist(lambda c: setattr(c.ui, "window_s", w)))
        self.faces = RecentFacesStrip(showing=config.privacy.show_recent_faces)
        self.banner = MessageBanner()

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.video)
        self.splitter.addWidget(self.chart)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setSizes([780, 640])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.setSpacing(4)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.faces)
        self.setCentralWidget(central)

        self.status_bar = ConsoleStatusBar(aws_backend=self.config.backend == "aws")
        self.setStatusBar(self.status_bar)
        self.rec_badge = RecBadge()  # shown in the menu bar's corner
        window_actions.build_actions(self)
        window_actions.build_menus_and_toolbar(self)
        self.sessions.state_changed.connect(self._show_state)
        self.sessions.session_starting.connect(self.live.session_starting)
        self.sessions.started.connect(lambda: self.sessions.set_privacy(self.config.privacy.blur_faces))
        self.sessions.start_failed.connect(self._start_failed)
        self.sessions.stopped.connect(self._stopped)
        self.sessions.ended.connect(self.live.clear)
        self.sessions.problem.connect(self.report_error)
        self.sessions.aws_setup_needed.connect(self.offer_aws_setup)
        self._show_state(IDLE)

        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self._refresh_status)
        self._status_timer.start()

    @property
    def source_label(self) -> QLabel:
        """The status bar's source line (what is open, or why not)."""
        return self.status_bar.source_label

    # --- session lifecycle (SessionController's; here what the window shows of it) ------

    @property
    def state(self) -> str:
        return self.sessions.state

    @property
    def pipeline(self) -> PipelineControl | None:
        return self.sessions.pipeline

    @property
    def session_run(self) -> SessionRun | None:
        return self.sessions.run

    @property
    def bridge(self) -> SignalBridge | None:
        return self.sessions.bridge

    @property
    def session_name(self) -> str | None:
        return self.sessions.session_name

    @property
    def recording_video(self) -> bool:
        return self.sessions.recording_video

    @property
    def last_session(self) -> Session | None:
        return self.sessions.last_session

    @property
    def session_active(self) -> bool:
        return self.sessions.active

    @property
    def closing(self) -> bool:
        """The window is closing: it offers and asks nothing any more."""
        return self._closing

    def session_elapsed_s(self) -> float:
        """Seconds the session has been running (pauses excluded)."""
        return self.sessions.elapsed_s()

    def _show_state(self, state: str) -> None:
        window_actions.show_session_state(self, state, can_export=self.last_session is not None)
        if state == PAUSED:
            self.video.clear_boxes()
            self.video.set_overlay("PAUSED", "Space or Session ▸ Resume to go on; nothing is recorded meanwhile.")
        elif self.video.overlay and self.video.overlay[0] == "PAUSED":
            self.video.set_overlay(None)
        self.session_state_changed.emit(state)
        self._refresh_status()

    def request_session(self, spec: str | None = None, loop: bool | None = None) -> SessionStartDialog | None:
        """The operator starts a session (Start, an opened source, a recent source): ask its
        name (default: booth and date) and whether to record the video, and say that a
        running session will be stopped. Starts when accepted; returns the dialog."""
        spec = self.config.source.spec if spec is None else spec
        problem = validate_source((spec or "").strip())
        if problem:
            self.show_message("Cannot open the source", problem)
            return None
        running = self.session_name if self.session_active else None
        dialog = SessionStartDialog(self, source=source_display_name(spec),
                                    default_name=default_session_name(self.config.camera),
                                    record_video=self.config.recording.record_video, running=running)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def accepted() -> None:
            self.open_source(spec, loop, session_name=dialog.name(), record_video=dialog.record_video())

        dialog.accepted.connect(accepted)
        dialog.open()  # window-modal, never blocks the event loop: frames keep painting
        self.session_dialog = dialog
        return dialog

    def open_source(self, spec: str, loop: bool | None = None, *, session_name: str | None = None,
                    record_video: bool | None = None) -> bool:
        """Stop the current session (if any) and start one on ``spec``, named ``session_name``
        (default: the ``--session`` flag, else booth and date). False if ``spec`` is unusable
        (the reason is shown non-modally; the window keeps running). Asks nothing: the
        operator's way in is :meth:`request_session`."""
        spec = (spec or "").strip()
        problem = validate_source(spec)
        if problem:
            self.show_message("Cannot open the source", problem)
            return False
        config = self.settings.start_config(spec, loop, session=session_name, record_video=record_video)
        self._remember_source(spec, config.source.loop)
        self.setWindowTitle(f"crowdmood — {source_display_name(spec)}")
        self.sessions.start(config)
        return True

    def start_or_resume(self) -> None:
        if self.state == PAUSED:
            self.toggle_pause()
        elif self.state == IDLE:
            self.request_session(self.config.source.spec, self.config.source.loop)

    def toggle_pause(self) -> None:
        self.sessions.toggle_pause()

    def stop_and_offer_export(self) -> None:
        """Session ▸ Stop: stop, then offer to export what was recorded."""
        if self.state in (RUNNING, PAUSED):
            self.stop_session(then=self.offer_export)
        elif self.state == STARTING:
            self.stop_session()  # nothing recorded yet: nothing to offer

    def stop_session(self, then: Callable[[], None] | None = None) -> None:
        """Stop the session in the background; ``then()`` runs on the GUI thread after."""
        self.sessions.stop(then)

    def _stopped(self) -> None:
        name = source_display_name(self.config.source.spec)
        self.source_label.setText(f"Stopped: {name}")
        self.live.clear()
        self.video.clear(f"Stopped: {name}. Session ▸ Start (F5) starts a new session.")

    def _start_failed(self, message: str) -> None:
        self.video.clear("The session could not start.")
        self.source_label.setText("Not started")
        self.show_message("Could not start the session", message)

    def shutdown(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every session (running, starting or stopping) within ``timeout_s``. Blocks."""
        self.sessions.shutdown(timeout_s)

    def quit_without_asking(self) -> None:
        """Close even with a session running (Ctrl+C, --exit-after: nobody to ask)."""
        self._close_confirmed = True
        self.close()

    def confirm_end_session(self, title: str, question: str, then: Callable[[], None]) -> QMessageBox | None:
        """Ask before ending a running session (window-modal, never blocking); ``then()`` on yes.
        Nothing is asked when no session runs."""
        if not (self.session_active and self.ask_before_ending):
            then()
            return None
        self.confirm_box = ask(
            self, QMessageBox.Icon.Question, title,
            f"The session “{self.session_name}” is running ({clock_text(self.session_elapsed_s())}). "
            f"{question}\n\nEverything it recorded so far is kept.",
            [(title, QMessageBox.ButtonRole.AcceptRole, then),
             (QMessageBox.StandardButton.Cancel, QMessageBox.ButtonRole.RejectRole, None)])
        return self.confirm_box

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if not self._closing and not self._close_confirmed and self.session_active and self.ask_before_ending:
            event.ignore()
            self.confirm_end_session("Quit", "Quitting stops it.", self.quit_without_asking)
            return
        if not self._closing:
            self._closing = True
            self.sessions.closing = True
            self._status_timer.stop()
            self.shutdown(STOP_TIMEOUT_S)
            if self.kiosk is not None:
                self.kiosk.close()
            if self.booths_window is not None:
                self.booths_window.close()  # stops its polls
            for box in (self.message_box, self.confirm_box, self.export_offer):
                if box is not None and shiboken6.isValid(box):
                    box.close()
            event.accept()
            self.closed.emit()
            return
        event.accept()

    # --- what the window shows of the session (ui/live_figures.py) -------------------

    def _on_stats(self, event: StatsEvent) -> None:  # what the bridge hands live_figures (tests feed it here)
        self.live.on_stats(event)

    def _refresh_status(self) -> None:
        self.live.refresh_status()

    def measurements(self) -> dict[str, Any]:
        """What --stats-out reports (the process figures are added by the app)."""
        return self.live.measurements()

    def report_error(self, message: str) -> None:
        """A problem the operator should see, in the banner (and kept in ``errors``)."""
        log.warning("%s", message)
        self.errors.append(message)
        self.banner.show_message(message)

    # --- user actions -----------------------------------------------------------------

    @property
    def message_box(self) -> QMessageBox | None:
        """The non-modal message box on screen, if any."""
        return self._notice.box

    def show_message(self, title: str, text: str, icon=QMessageBox.Icon.Warning) -> QMessageBox:
        """A non-modal message box (one at a time; a newer message replaces the text)."""
        self.errors.append(text)
        return self._notice.show(title, text, icon)

    def show_source_dialog(self, tab: int | None = None) -> None:
        from crowdmood_gui.ui.source_dialog import SourceDialog

        remembered = self.config.ui.last_sources or [self.config.source.spec]
        dialog = SourceDialog(self, last_sources=remembered, initial_tab=tab, loop=self.config.source.loop)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def accepted() -> None:
            choice = dialog.choice()
            if choice is not None:
                self.request_session(choice.spec, choice.loop)

        dialog.accepted.connect(accepted)
        dialog.open()  # window-modal but never blocks the event loop: frames keep painting
        self.source_dialog = dialog

    def show_settings(self) -> None:
        from crowdmood_gui.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.config, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.changes()))
        dialog.open()
        self.settings_dialog = dialog

    def apply_settings(self, changes: dict[str, dict[str, Any]]) -> None:
        """Apply (privacy now, the rest at the next start) and persist."""
        if not changes:
            return
        self.settings_do(lambda: self.settings.apply(changes))
        privacy = changes.get("privacy", {})
        if "blur_faces" in privacy:
            self.act_blur.setChecked(privacy["blur_faces"])
            self._apply_blur(privacy["blur_faces"])
        if "show_recent_faces" in privacy:
            self.act_faces.setChecked(privacy["show_recent_faces"])
            self.faces.set_showing(privacy["show_recent_faces"])
        if {"sampling", "detection", "recording"} & set(changes):
            self.statusBar().showMessage("Analysis settings saved: they apply at the next start.", 8000)

    def set_recent_faces_visible(self, visible: bool) -> None:
        self.act_faces.setChecked(visible)
        self.faces.set_showing(visible)
        self.persist(lambda c: setattr(c.privacy, "show_recent_faces", bool(visible)))

    def set_blur_faces(self, blur: bool) -> None:
        self.act_blur.setChecked(blur)
        self._apply_blur(blur)
        self.persist(lambda c: setattr(c.privacy, "blur_faces", bool(blur)))

    def _apply_blur(self, blur: bool) -> None:
        self.sessions.set_privacy(blur)

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.act_full_screen.setChecked(self.isFullScreen())

    def show_booths(self) -> None:
        """The all-booths window (AWS mode; needs no camera). Polls in the background."""
        from crowdmood_gui.ui.booths_window import open_booths_window

        if self.booths_window is not None and self.booths_window.isVisible():
            self.booths_window.raise_()
            return
        self.booths_window = open_booths_window(self.config, self)

    def show_kiosk(self) -> None:
        from crowdmood_gui.ui.kiosk import KioskChartWindow

        if self.kiosk is None:
            # The audience screen: 10-s points or longer, the operator's window length.
            self.kiosk = KioskChartWindow(self.store, self, period_s=self.chart.period_s, window_s=self.chart.window_s)
            self.chart.window_changed.connect(self.kiosk.set_window)
        self.kiosk.show_on_best_screen()

    def _forward_period(self, period_s: int) -> None:
        # The AWS backend polls CloudWatch for one period: the one on screen.
        self.sessions.set_chart_period(period_s)

    # --- export (ui/export_flow.py) -----------------------------------------------------

    def offer_export(self) -> QMessageBox | None:
        """A non-modal "stopped: export it?" with the session's name and length."""
        return self.exports.offer(self.live.records_seen)

    def ask_export_folder(self) -> Path | None:
        """Where to export (a folder chooser; tests replace it)."""
        return self.exports.ask_folder()

    def export_dialog(self) -> None:
        self.exports.ask_and_export()

    def export_last_session(self, folder: Path) -> bool:
        """Export the last session into ``folder`` in the background (``last_export``)."""
        return self.exports.export(folder)

    @property
    def export_offer(self) -> QMessageBox | None:
        return self.exports.offer_box

    @property
    def last_export(self) -> dict[str, Path] | None:
        return self.exports.last_export

    # --- AWS set-up (ui/aws_flow.py) ---------------------------------------------------

    def offer_aws_setup(self) -> QMessageBox:
        """The AWS backend is chosen but nothing is provisioned: offer the wizard, or the
        local model, instead of failing to start."""
        return self.aws.offer_setup()

    @property
    def aws_offer_box(self) -> QMessageBox | None:
        return self.aws.offer_box

    def open_aws_setup(self) -> None:
        self.aws.open_setup()

    def open_aws_teardown(self) -> None:
        self.aws.open_teardown()

    def show_sessions(self) -> None:
        """Open the session browser, or bring the open one to the front (one listing job,
        not one browser per menu click)."""
        current = getattr(self, "session_browser", None)
        if isinstance(current, QWidget) and shiboken6.isValid(current) and current.isVisible():
            current.raise_()
            current.activateWindow()
            return
        browser = importlib.import_module("crowdmood_gui.ui.session_browser")  # imported on first use
        self.session_browser = browser.open_session_browser(self, self.config)

    def show_about(self) -> None:
        from crowdmood_gui.ui.about import AboutDialog

        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.about_dialog = dialog

    def _fill_recent_menu(self) -> None:
        window_actions.fill_recent_menu(self.recent_menu, self.settings.recent_sources(), self.request_session)

    # --- configuration (the store: core/settings_store.py) --------------------------

    @property
    def config(self) -> AppConfig:
        """The live config (command-line overrides included)."""
        return self.settings.config

    @config.setter
    def config(self, config: AppConfig) -> None:
        self.settings.config = config

    @property
    def config_path(self) -> Path | None:
        return self.settings.path

    def _remember_source(self, spec: str, loop: bool) -> None:
        self.settings_do(lambda: self.settings.remember_source(spec, loop))

    def persist(self, mutate: ConfigChange) -> None:
        self.settings_do(lambda: self.settings.change(mutate))

    def settings_do(self, action: Callable[[], object]) -> bool:
        """Run a settings change; a refused value or a failed write goes to the banner."""
        try:
            action()
        except CrowdMoodError as exc:
            self.report_error(str(exc))
            return False
        return True
