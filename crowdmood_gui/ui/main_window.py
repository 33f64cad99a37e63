"""The operator's window: live video with boxes, the expression chart, recent faces,
status bar, menus and toolbar. The session lifecycle (start, pause, stop, state) is
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
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QFileDialog,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import CrowdMoodError
from crowdmood_gui.core.events import ErrorEvent, RecordEvent, SourceEvent, StatsEvent, TimelineRow
from crowdmood_gui.core.pipeline import PipelineControl
from crowdmood_gui.core.session_runner import SessionRun
from crowdmood_gui.core.sessions import Session, default_session_name
from crowdmood_gui.core.settings_store import ConfigChange, SettingsStore
from crowdmood_gui.ui.bridge import SignalBridge
from crowdmood_gui.ui.chart import EmotionChart, TimelineStore
from crowdmood_gui.ui.faces_strip import RecentFacesStrip
from crowdmood_gui.ui.session_controller import (
    STOP_TIMEOUT_S,
    SessionController,
    SessionFactory,
    default_session_factory,
)
from crowdmood_gui.ui.session_dialog import SessionStartDialog
from crowdmood_gui.ui.session_state import IDLE, PAUSED, RUNNING, STARTING, STOPPING
from crowdmood_gui.ui.status_bar import (
    ConsoleStatusBar,
    LiveStatus,
    MessageBanner,
    RecBadge,
    Reconnecting,
    clock_text,
    source_display_name,
)
from crowdmood_gui.ui.tasks import run_in_background
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


def full_screen_icon(colour: str = "#E8EAED") -> QIcon:
    """Four corner brackets. The style's SP_TitleBarMaxButton is drawn for a title bar:
    on the dark toolbar it showed as an empty dark square."""
    icon = QIcon()
    for size in (16, 24, 32):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(colour), max(1.5, size / 12))
        painter.setPen(pen)
        m, arm = size * 0.15, size * 0.3
        lo, hi = m, size - m
        for x, y, dx, dy in ((lo, lo, 1, 1), (hi, lo, -1, 1), (lo, hi, 1, -1), (hi, hi, -1, -1)):
            painter.drawLine(QPointF(x, y), QPointF(x + dx * arm, y))
            painter.drawLine(QPointF(x, y), QPointF(x, y + dy * arm))
        painter.end()
        icon.addPixmap(pixmap)
    return icon


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
        self._closing = False
        self._source_state = ""
        self._open_label = ""  # the source line while it is open: "● demo.mp4 1280×720 @ 15 fps"
        self._last_stats: StatsEvent | None = None
        self._records_seen = 0
        self._detection_sum = 0.0
        self._detection_count = 0
        self.session_started_monotonic: float | None = None
        self.first_frame_delay_s: float | None = None
        self.first_frame_wall: float | None = None  # time.time() of the first frame painted-ready
        self.errors: deque[str] = deque(maxlen=50)
        self.message_box: QMessageBox | None = None
        self.kiosk = None
        self.booths_window = None
        # Ask before a running session is ended by switching source or quitting (tests and
        # --exit-after turn it off).
        self.ask_before_ending = True
        self._close_confirmed = False
        self._reconnect: Reconnecting | None = None
        self._signal_lost_s: float | None = None
        self.session_dialog: SessionStartDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.export_offer: QMessageBox | None = None
        self.last_export: dict[str, Path] | None = None

        self.setWindowTitle("crowdmood")
        self.resize(1440, 860)

        # Widgets.
        self.store = TimelineStore()
        self.video = VideoView()
        self.chart = EmotionChart(self.store, period_s=config.ui.period_s, window_s=config.ui.window_s)
        self.chart.set_local_backend(config.backend == "local")
        self.chart.period_changed.connect(lambda p: self._persist(lambda c: setattr(c.ui, "period_s", p)))
        self.chart.period_changed.connect(self._forward_period)
        self.chart.window_changed.connect(lambda w: self._persist(lambda c: setattr(c.ui, "window_s", w)))
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

        self._build_status_bar()
        self._build_actions()
        self._build_menus_and_toolbar()
        self.sessions.state_changed.connect(self._show_state)
        self.sessions.session_starting.connect(self._session_starting)
        self.sessions.started.connect(lambda: self.sessions.set_privacy(self.config.privacy.blur_faces))
        self.sessions.start_failed.connect(self._start_failed)
        self.sessions.stopped.connect(self._stopped)
        self.sessions.ended.connect(self._clear_live_figures)
        self.sessions.problem.connect(self._report_error)
        self.sessions.aws_setup_needed.connect(self.offer_aws_setup)
        self._show_state(IDLE)

        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self._refresh_status)
        self._status_timer.start()

    # --- construction ------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        self.status_bar = ConsoleStatusBar(aws_backend=self.config.backend == "aws")
        self.setStatusBar(self.status_bar)
        self.rec_badge = RecBadge()  # shown in the menu bar's corner (_build_menus_and_toolbar)

    @property
    def source_label(self) -> QLabel:
        """The status bar's source line (what is open, or why not)."""
        return self.status_bar.source_label

    def _action(self, text: str, slot, shortcut=None, *, icon=None, checkable=False, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon) if isinstance(icon, QStyle.StandardPixmap) else icon)
        action.setCheckable(checkable)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        self.act_open_video = self._action("Open &video…", lambda: self.show_source_dialog(1), QKeySequence.StandardKey.Open, icon=sp.SP_DialogOpenButton, tip="Open a video file")
        self.act_open_camera = self._action("Open &camera…", lambda: self.show_source_dialog(0), "Ctrl+Shift+O", icon=sp.SP_ComputerIcon, tip="Open a camera")
        self.act_open_url = self._action("Open &URL…", lambda: self.show_source_dialog(2), "Ctrl+U", icon=sp.SP_DriveNetIcon, tip="Open an RTSP or HTTP MJPEG stream")
        self.act_settings = self._action("&Settings…", self.show_settings, "Ctrl+,", icon=sp.SP_FileDialogDetailedView, tip="Analysis and privacy settings")
        self.act_sessions = self._action("Sess&ions…", self.show_sessions, "Ctrl+Shift+S", icon=sp.SP_DirIcon, tip="Recorded sessions: replay, export, delete")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_start = self._action("&Start", self.start_or_resume, "F5", icon=sp.SP_MediaPlay, tip="Start (or resume) the session (F5)")
        self.act_pause = self._action("&Pause", self.toggle_pause, Qt.Key.Key_Space, icon=sp.SP_MediaPause, tip="Pause / resume (Space)")
        self.act_stop = self._action("S&top", self.stop_and_offer_export, "Shift+F5", icon=sp.SP_MediaStop, tip="Stop the session (Shift+F5)")
        self.act_export = self._action("&Export…", self.export_dialog, "Ctrl+E", icon=sp.SP_DialogSaveButton, tip="Export the last session: timeline and faces CSV, chart, summary (Ctrl+E)")
        self.act_full_screen = self._action("&Full screen", self.toggle_full_screen, Qt.Key.Key_F11, checkable=True, icon=full_screen_icon(), tip="Full screen (F11)")
        self.act_kiosk = self._action("&Kiosk chart window", self.show_kiosk, "Ctrl+K", icon=sp.SP_DesktopIcon, tip="A big chart for a second screen (Ctrl+K)")
        self.act_faces = self._action("&Recent faces", self.set_recent_faces_visible, "Ctrl+R", checkable=True, tip="Show analysed faces (off for privacy)")
        self.act_faces.setChecked(self.config.privacy.show_recent_faces)
        self.act_blur = self._action("&Blur faces", self.set_blur_faces, "Ctrl+B", checkable=True, tip="Blur every face on screen, in the recent faces, the recorded video and kept crops")
        self.act_blur.setChecked(self.config.privacy.blur_faces)
        self.act_aws_setup = self._action("&AWS setup wizard…", self.open_aws_setup)
        self.act_aws_teardown = self._action("&Tear down AWS…", self.open_aws_teardown)
        self.act_booths = self._action("All &booths…", self.show_booths, tip="Every booth on the AWS account: state and crowd lines")
        self.act_about = self._action("&About crowdmood", self.show_about, QKeySequence.StandardKey.HelpContents)

    def _build_menus_and_toolbar(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addActions([self.act_open_video, self.act_open_camera, self.act_open_url])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.act_sessions)
        file_menu.addAction(self.act_export)
        file_menu.addAction(self.act_settings)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        view_menu = menu.addMenu("&View")
        view_menu.addActions([self.act_full_screen, self.act_kiosk])
        view_menu.addSeparator()
        view_menu.addActions([self.act_faces, self.act_blur])
        view_menu.addSeparator()
        view_menu.addAction(self.act_booths)
        session_menu = menu.addMenu("&Session")
        session_menu.addActions([self.act_start, self.act_pause, self.act_stop])
        setup_menu = menu.addMenu("Set&up")
        setup_menu.addActions([self.act_aws_setup, self.act_aws_teardown])
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.act_about)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addActions([self.act_open_video, self.act_open_camera, self.act_open_url])
        toolbar.addSeparator()
        toolbar.addActions([self.act_start, self.act_pause, self.act_stop, self.act_export])
        toolbar.addSeparator()
        toolbar.addActions([self.act_kiosk, self.act_full_screen, self.act_settings])
        # The REC badge in the menu bar's corner: never pushed into a toolbar's overflow.
        menu.setCornerWidget(self.rec_badge, Qt.Corner.TopRightCorner)

    # --- session lifecycle (SessionController's; here what the window shows of it) ------

    @property
    def state(self) -> str:
        return self.sessions.state

    @property
    def _state(self) -> str:  # the status bar's and badge's reads
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

    def session_elapsed_s(self) -> float:
        """Seconds the session has been running (pauses excluded)."""
        return self.sessions.elapsed_s()

    def _show_state(self, state: str) -> None:
        # One rule: Start only when nothing runs; Pause/Resume only on a running or paused
        # session; Stop whenever a session exists; Export once a session was recorded.
        busy = state in (RUNNING, PAUSED)
        self.act_start.setEnabled(state == IDLE)
        self.act_pause.setEnabled(busy)
        self.act_pause.setText("&Resume" if state == PAUSED else "&Pause")
        self.act_pause.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPlay if state == PAUSED else QStyle.StandardPixmap.SP_MediaPause))
        self.act_stop.setEnabled(state in (STARTING, RUNNING, PAUSED))
        self.act_export.setEnabled(state == IDLE and self.last_session is not None)
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
        config = self.config.model_copy(deep=True)
        config.source.spec = spec
        if loop is not None:
            config.source.loop = loop
        if session_name:
            config.session = session_name
        if record_video is not None:
            config.recording.record_video = bool(record_video)
        self.config = config
        self._remember_source(spec, config.source.loop)
        self.setWindowTitle(f"crowdmood — {source_display_name(spec)}")
        self.sessions.start(config)
        return True

    def start_or_resume(self) -> None:
        if self._state == PAUSED:
            self.toggle_pause()
        elif self._state == IDLE:
            self.request_session(self.config.source.spec, self.config.source.loop)

    def toggle_pause(self) -> None:
        self.sessions.toggle_pause()

    def stop_and_offer_export(self) -> None:
        """Session ▸ Stop: stop, then offer to export what was recorded."""
        if self._state in (RUNNING, PAUSED):
            self.stop_session(then=self.offer_export)
        elif self._state == STARTING:
            self.stop_session()  # nothing recorded yet: nothing to offer

    def offer_export(self) -> QMessageBox | None:
        """A non-modal "stopped: export it?" with the session's name and length."""
        if self.last_session is None or self._closing:
            return None
        name = self.session_name or self.last_session.id
        box = QMessageBox(QMessageBox.Icon.Information, "Session stopped",
                          f"The session “{name}” stopped after {clock_text(self.session_elapsed_s())} "
                          f"({self._records_seen} faces analysed). Everything is kept under File ▸ Sessions.\n\n"
                          "Export it now (timeline and faces CSV, chart, summary page)?", parent=self)
        export = box.addButton("Export…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(export)
        box.setWindowModality(Qt.WindowModality.NonModal)

        def chosen(_result: int) -> None:
            if box.clickedButton() is export:
                self.export_dialog()

        box.finished.connect(chosen)
        box.show()
        self.export_offer = box
        return box

    def ask_export_folder(self) -> Path | None:
        """Where to export (a folder chooser; tests replace it)."""
        chosen = QFileDialog.getExistingDirectory(self, "Export the session into a folder")
        return Path(chosen) if chosen else None

    def export_dialog(self) -> None:
        folder = self.ask_export_folder() if self.last_session is not None and not self.session_active else None
        if folder is not None:
            self.export_last_session(folder)

    def export_last_session(self, folder: Path) -> bool:
        """Export the last session into ``folder`` in the background; the status bar says
        what was written (``last_export``) or the banner why not."""
        from crowdmood_gui.core.export import export_session

        session = self.last_session
        if session is None or self.session_active:
            return False
        self.last_export = None
        self.act_export.setEnabled(False)

        def done(written: dict[str, Path]) -> None:
            self.last_export = written
            self.act_export.setEnabled(self._state == IDLE)
            self.statusBar().showMessage(f"Exported {', '.join(written)} to {folder}", 15000)

        def failed(exc: BaseException) -> None:
            self.act_export.setEnabled(self._state == IDLE)
            self._report_error(f"Export failed: {exc}")

        run_in_background(lambda: export_session(session, folder), done, owner=self, on_error=failed,
                          name="crowdmood-export")
        return True

    def stop_session(self, then: Callable[[], None] | None = None) -> None:
        """Stop the session in the background; ``then()`` runs on the GUI thread after."""
        self.sessions.stop(then)

    def _stopped(self) -> None:
        name = source_display_name(self.config.source.spec)
        self.source_label.setText(f"Stopped: {name}")
        self._clear_live_figures()
        self.video.clear(f"Stopped: {name}. Session ▸ Start (F5) starts a new session.")

    def _session_starting(self, bridge: SignalBridge, config: AppConfig) -> None:
        """A new session is being built: its events go to this window, the views start empty."""
        bridge.frame_ready.connect(self._on_frame_ready)
        bridge.record_analysed.connect(self._on_record)
        bridge.timeline_updated.connect(self._on_timeline)
        bridge.stats_updated.connect(self._on_stats)
        bridge.source_changed.connect(self._on_source)
        bridge.error_raised.connect(self._on_error)
        self.store.clear()
        self.faces.clear()
        self.chart.set_live_edge(None)
        self.video.clear(f"Opening {source_display_name(config.source.spec)}…")
        self._reconnect = None
        self._signal_lost_s = None
        self.video.reset_measurements()
        self._last_stats = None
        self._records_seen = 0
        self._detection_sum = 0.0
        self._detection_count = 0
        self.first_frame_delay_s = None
        self.session_started_monotonic = time.monotonic()
        self._source_state = "opening"
        self.source_label.setText(f"Opening {source_display_name(config.source.spec)}…")
        self.chart.set_local_backend(config.backend == "local")

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
        box = QMessageBox(QMessageBox.Icon.Question, title,
                          f"The session “{self.session_name}” is running ({clock_text(self.session_elapsed_s())}). "
                          f"{question}\n\nEverything it recorded so far is kept.", parent=self)
        yes = box.addButton(title, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(yes)

        def chosen(_result: int) -> None:
            if box.clickedButton() is yes:
                then()

        box.finished.connect(chosen)
        box.open()
        self.confirm_box = box
        return box

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

    # --- pipeline events (GUI thread, via the bridge) ---------------------------------

    def _on_frame_ready(self) -> None:
        bridge = self.sessions.bridge
        event = bridge.take_frame() if bridge is not None else None
        if event is None:
            return
        if self.first_frame_delay_s is None and self.session_started_monotonic is not None:
            self.first_frame_delay_s = time.monotonic() - self.session_started_monotonic
            if self.first_frame_wall is None:
                self.first_frame_wall = time.time()
        self.video.set_frame(event)

    def _on_record(self, event: RecordEvent) -> None:
        self._records_seen += 1
        self.faces.add_record(event)

    def _on_timeline(self, period_s: int, rows: list[TimelineRow]) -> None:
        self.store.add(period_s, rows)

    def _on_stats(self, event: StatsEvent) -> None:
        if self._state == STOPPING:
            return  # the last word of a session being stopped: its figures are not live any more
        self._last_stats = event
        lost = event.signal_lost_s
        if self._state == RUNNING and self._source_state == "open" and self.video.frames_painted > 0 and lost is None:
            self._detection_sum += event.detection_fps
            self._detection_count += 1
        self._signal_lost_s = lost
        if lost is not None:
            self.video.clear_boxes()  # the frozen picture's boxes are not current
        elif self._source_state == "open" and self.video.overlay and self.video.overlay[0] == "No signal":
            self.video.set_overlay(None)
            self._reconnect = None
            self.source_label.setText(self._open_label)
        self.chart.set_live_edge(event.clock_s)
        self._refresh_status()

    def _clear_live_figures(self) -> None:
        """A stopped, ended or failed source: nothing on screen may look live."""
        self._last_stats = None
        self._signal_lost_s = None
        self._reconnect = None
        self.video.clear_boxes()
        self.chart.set_live_edge(None)
        self._refresh_status()

    def _on_source(self, event: SourceEvent) -> None:
        self._source_state = event.state
        name = source_display_name(self.config.source.spec)
        if event.state == "opening":
            self.source_label.setText(f"Opening {name}…")
        elif event.state == "open":
            self._reconnect = None
            if self.video.overlay and self.video.overlay[0] in ("No signal", "Cannot open the source"):
                self.video.set_overlay(None)
            size = f" {event.width}×{event.height}" if event.width else ""
            rate = f" @ {event.fps:.0f} fps" if event.fps else ""
            self._open_label = f"● {name}{size}{rate}"
            self.source_label.setText(self._open_label)
        elif event.state == "reconnecting":
            reason = event.message.rsplit("; retrying in", 1)[0]
            self._reconnect = Reconnecting(event.attempt or 1, time.monotonic() + event.retry_in_s, reason)
            self.video.clear_boxes()
            self._refresh_status()
        elif event.state == "ended":
            self.source_label.setText(f"Ended: {name}")
            self._clear_live_figures()
            self.video.clear(f"Ended: {name}. Session ▸ Start (F5) plays it again in a new session.")
        elif event.state == "failed":
            self.source_label.setText(f"Failed: {name}")
            self._clear_live_figures()
            self.video.clear(f"Could not open {name}: {event.message}" if event.message else f"Could not open {name}.")
            self.errors.append(event.message)
            self.show_message("Cannot open the source", event.message or f"{name} could not be opened.")

    def _on_error(self, event: ErrorEvent) -> None:
        self._report_error(event.message if not event.where else f"{event.message} ({event.where})")

    def _report_error(self, message: str) -> None:
        log.warning("%s", message)
        self.errors.append(message)
        self.banner.show_message(message)

    # --- status bar -------------------------------------------------------------------

    def _refresh_status(self) -> None:
        """Hand the status bar, the REC badge and the video's "No signal" notice the figures of
        the moment (twice a second, and on every change)."""
        status = LiveStatus(
            state=self._state,
            source_name=source_display_name(self.config.source.spec),
            stats=self._last_stats,
            display_fps=self.video.display_fps(),
            frames_painted=self.video.frames_painted,
            signal_lost_s=self._signal_lost_s,
            reconnect=self._reconnect,
            aws_backend=self.config.backend == "aws",
        )
        self.status_bar.show_status(status)
        self.rec_badge.show_session(self._state, self.session_name, self.session_elapsed_s(), self.recording_video)
        notice = status.no_signal()
        if notice is not None:
            self.video.set_overlay(notice.title, notice.detail)

    # --- measurements -----------------------------------------------------------------

    def measurements(self) -> dict[str, Any]:
        """What --stats-out reports (the process figures are added by the app)."""
        records = max(self._records_seen, self.sessions.records_analysed())
        if self._last_stats is not None:
            records = max(records, self._last_stats.records_analysed)
        p50 = self.video.latency.percentile(50)
        p95 = self.video.latency.percentile(95)
        return {
            "display_fps": round(self.video.mean_display_fps(), 2),
            "detection_fps": round(self._detection_sum / self._detection_count, 2) if self._detection_count else 0.0,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "records_analysed": records,
            "frames_painted": self.video.frames_painted,
            "first_frame_s": round(self.first_frame_delay_s, 3) if self.first_frame_delay_s is not None else None,
        }

    # --- user actions -----------------------------------------------------------------

    def show_message(self, title: str, text: str, icon=QMessageBox.Icon.Warning) -> QMessageBox:
        """A non-modal message box (one at a time; a newer message replaces the text)."""
        self.errors.append(text)
        box = self.message_box
        if box is None:
            box = QMessageBox(self)
            box.setWindowModality(Qt.WindowModality.NonModal)
            box.setStandardButtons(QMessageBox.StandardButton.Ok)
            box.finished.connect(self._message_box_closed)
            self.message_box = box
        box.setIcon(icon)
        box.setWindowTitle(title)
        box.setText(text)
        box.show()
        return box

    def _message_box_closed(self, _result: int) -> None:
        box, self.message_box = self.message_box, None
        if box is not None:
            box.deleteLater()

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
        self._settings_do(lambda: self.settings.apply(changes))
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
        self._persist(lambda c: setattr(c.privacy, "show_recent_faces", bool(visible)))

    def set_blur_faces(self, blur: bool) -> None:
        self.act_blur.setChecked(blur)
        self._apply_blur(blur)
        self._persist(lambda c: setattr(c.privacy, "blur_faces", bool(blur)))

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

    def offer_aws_setup(self) -> QMessageBox:
        """The AWS backend is chosen but nothing is provisioned: offer the wizard, or the
        local model, instead of failing to start."""
        self.video.clear("The AWS backend is not set up yet.")
        self.source_label.setText("Not started")
        box = QMessageBox(QMessageBox.Icon.Question, "Set up AWS",
                          "The AWS backend is chosen, but no AWS resources are set up yet.\n\n"
                          "The setup wizard creates them in a few minutes (and can remove them again). "
                          "Or keep going with the on-device model: nothing leaves this computer.", parent=self)
        setup = box.addButton("Open the setup wizard…", QMessageBox.ButtonRole.AcceptRole)
        local = box.addButton("Use the local model", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(setup)

        def chosen(_result: int) -> None:
            clicked = box.clickedButton()
            if clicked is setup:
                self.open_aws_setup()
            elif clicked is local:
                self._persist(lambda c: setattr(c, "backend", "local"))
            else:
                # Closed or Escape: a choice nobody made is not written to the settings.
                self.video.clear("Not started: the AWS backend is not set up yet (Setup ▸ AWS setup wizard, "
                                 "or Settings for the local model).")
                return
            if self.config.backend == "local" or self.config.aws.bucket:
                self.open_source(self.config.source.spec, self.config.source.loop)

        box.finished.connect(chosen)
        box.open()
        self.aws_offer_box = box
        return box

    def open_aws_setup(self) -> None:
        if self._aws_module("wizard").open_setup_wizard(self, self.config, self.config_path):
            was = self.config.backend
            self._reload_aws_settings()
            if self.config.backend == "aws" and was != "aws" and self.session_active:
                # The running session keeps its backend; the next one uses AWS.
                self.banner.show_message("AWS is set up: the next session uses it (Session ▸ Stop, then Start).")

    def open_aws_teardown(self) -> None:
        self._aws_module("teardown_dialog").open_teardown_dialog(self, self.config, self.config_path)
        self._reload_aws_settings()

    def _reload_aws_settings(self) -> None:
        """Setup and teardown write the AWS section (and maybe the backend) to the file."""
        if not self._settings_do(self.settings.reload_aws):
            return
        self.chart.set_local_backend(self.config.backend == "local")
        self._refresh_status()

    @staticmethod
    def _aws_module(name: str):
        # Imported on first use (boto3 and the provisioning code: not needed to start the console).
        return importlib.import_module(f"crowdmood_gui.ui.{name}")

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
        self.recent_menu.clear()
        sources = self.settings.recent_sources()
        if not sources:
            action = self.recent_menu.addAction("(none yet)")
            action.setEnabled(False)
            return
        for spec in sources:
            action = self.recent_menu.addAction(source_display_name(spec))
            action.setToolTip(source_display_name(spec))
            action.triggered.connect(lambda _checked=False, s=spec: self.request_session(s))

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
        self._settings_do(lambda: self.settings.remember_source(spec, loop))

    def _persist(self, mutate: ConfigChange) -> None:
        self._settings_do(lambda: self.settings.change(mutate))

    def _settings_do(self, action: Callable[[], object]) -> bool:
        """Run a settings change; a refused value or a failed write goes to the banner."""
        try:
            action()
        except CrowdMoodError as exc:
            self._report_error(str(exc))
            return False
        return True
