"""Replay: a recorded session (video from its index, chart from its stored timeline, boxes
as they were shown live) or any video file (analysed first with the local model, in a
background thread behind a progress dialog, into a temporary session). The session is
loaded by ``core/replay_data.py`` (off the GUI thread); this module paints it.

Playback is driven by a QTimer on the GUI thread: the position advances with wall time ×
speed, and the frame shown is the last recorded frame at or before the position (one
``seek`` + ``read`` + ``cv2.imdecode``, ~1 ms). The chart's cursor is the position; the
chart is drawn once per load or period change, moving the cursor costs nothing.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QSlider,
    QSplitter,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.emotions import EMOTIONS, EXPRESSION_DISCLAIMER
from crowdmood_gui.core.events import FrameEvent, TimelineRow
from crowdmood_gui.core.replay_data import ReplayData, VideoAnalysis, replay_target
from crowdmood_gui.core.sessions import Session
from crowdmood_gui.core.series import PERIOD_LABELS, PERIODS, Series, series_from_rows
from crowdmood_gui.core.summary import fmt_clock
from crowdmood_gui.ui.plots import CrowdPlot
from crowdmood_gui.ui.video_view import VideoView

log = logging.getLogger(__name__)

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
TICK_MS = 15
CURSOR_COLOUR = "#FFFFFF"


class _SeekViewBox(pg.ViewBox):
    """Click or drag with the left button: seek. Wheel: zoom the time axis."""

    seek_requested = Signal(float)

    def mouseClickEvent(self, ev):  # noqa: N802 (pyqtgraph naming)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.seek_requested.emit(float(self.mapSceneToView(ev.scenePos()).x()))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (pyqtgraph naming)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.seek_requested.emit(float(self.mapSceneToView(ev.scenePos()).x()))
        else:
            ev.ignore()


class ReplayChart(QWidget):
    """The session's crowd lines (the one plot builder, 1-px pens) and people count, with a
    position cursor. Click or drag on the chart: seek."""

    seek_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plots = CrowdPlot(self, view_box=_SeekViewBox)
        self.plot = self.plots.plot
        self.faces_plot = self.plots.people_plot
        self.curves = {name: self.plots.curve(name) for name in EMOTIONS}
        self.faces_curve = self.plots.people_curve
        for plot in (self.plot, self.faces_plot):
            plot.setMouseEnabled(x=True, y=False)
        self.cursor = pg.InfiniteLine(0.0, angle=90, movable=True, pen=pg.mkPen(CURSOR_COLOUR, width=1))
        self.faces_cursor = pg.InfiniteLine(0.0, angle=90, movable=False, pen=pg.mkPen(CURSOR_COLOUR, width=1))
        self.plot.addItem(self.cursor, ignoreBounds=True)
        self.faces_plot.addItem(self.faces_cursor, ignoreBounds=True)
        self.cursor.sigDragged.connect(lambda line: self.seek_requested.emit(float(line.value())))
        self.plot.getViewBox().seek_requested.connect(self.seek_requested)
        self.faces_plot.getViewBox().seek_requested.connect(self.seek_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plots)
        self.duration_s = 0.0
        self.series: Series | None = None

    def set_rows(self, rows: list[TimelineRow], duration_s: float) -> None:
        self.duration_s = max(duration_s, 1.0)
        self.series = series_from_rows(rows)
        self.plots.set_series(self.series)
        self.plots.set_x_range(0, self.duration_s, padding=0.01)

    def curve_data(self, emotion: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.plots.curve_data(emotion)

    def set_cursor(self, t: float) -> None:
        self.cursor.blockSignals(True)
        self.cursor.setValue(t)
        self.cursor.blockSignals(False)
        self.faces_cursor.setValue(t)

    def cursor_position(self) -> float:
        return float(self.cursor.value())


class ReplayWidget(QWidget):
    """Video + chart + transport. Signals: ``position_changed(float seconds)``."""

    position_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: ReplayData | None = None
        self._position = 0.0
        self._frame = -1
        self._speed = 1.0
        self._playing = False
        self._origin = (0.0, 0.0)  # (monotonic, position) when play started or seeked
        self.seek_ms: list[float] = []  # measured seek-to-frame-shown times (ms)

        self.video = VideoView()
        self.video.set_placeholder("No session loaded")
        self.chart = ReplayChart()
        self.chart.seek_requested.connect(self.seek)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.video)
        splitter.addWidget(self.chart)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 4)

        sp = QStyle.StandardPixmap
        self.play_button = self._button(sp.SP_MediaPlay, "Play / pause (Space)", self.toggle_play)
        self.back_button = self._button(sp.SP_MediaSeekBackward, "Previous frame (Left)", lambda: self.step(-1))
        self.forward_button = self._button(sp.SP_MediaSeekForward, "Next frame (Right)", lambda: self.step(1))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Position")
        self.slider.valueChanged.connect(lambda ms: self.seek(ms / 1000.0) if self.slider.isSliderDown() else None)
        self.slider.sliderReleased.connect(lambda: self.seek(self.slider.value() / 1000.0))
        self.slider.actionTriggered.connect(lambda _a: QTimer.singleShot(0, lambda: self.seek(self.slider.value() / 1000.0)))
        self.speed_box = QComboBox()
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}×", s)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.setToolTip("Playback speed")
        self.speed_box.currentIndexChanged.connect(lambda i: self.set_speed(SPEEDS[i]))
        self.period_box = QComboBox()
        for p in PERIODS:
            self.period_box.addItem(PERIOD_LABELS[p], p)
        self.period_box.setToolTip("Chart period")
        self.period_box.currentIndexChanged.connect(lambda i: self.set_period(PERIODS[i]))
        self.time_label = QLabel("0:00 / 0:00")
        self.frame_label = QLabel("")
        self.frame_label.setStyleSheet("color: #9A9A9A;")
        transport = QHBoxLayout()
        for w in (self.play_button, self.back_button, self.forward_button):
            transport.addWidget(w)
        transport.addWidget(self.slider, 1)
        transport.addWidget(self.time_label)
        transport.addWidget(self.frame_label)
        transport.addSpacing(8)
        transport.addWidget(QLabel("Speed"))
        transport.addWidget(self.speed_box)
        transport.addWidget(QLabel("Period"))
        transport.addWidget(self.period_box)
        disclaimer = QLabel(EXPRESSION_DISCLAIMER)
        disclaimer.setStyleSheet("color: #9A9A9A;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter, 1)
        layout.addLayout(transport)
        layout.addWidget(disclaimer)

        for key, slot in ((Qt.Key.Key_Space, self.toggle_play), (Qt.Key.Key_Left, lambda: self.step(-1)),
                          (Qt.Key.Key_Right, lambda: self.step(1))):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def _button(self, icon, tip: str, slot) -> QToolButton:
        button = QToolButton()
        button.setIcon(self.style().standardIcon(icon))
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # --- loading --------------------------------------------------------------------

    def load(self, data: ReplayData) -> None:
        self.pause()
        if self.data is not None and self.data is not data:
            self.data.close()
        self.data = data
        self._frame = -1
        self.slider.setRange(0, int(round(data.duration_s * 1000)))
        period = data.default_period()
        self.period_box.blockSignals(True)
        self.period_box.setCurrentIndex(PERIODS.index(period))
        self.period_box.blockSignals(False)
        self.chart.set_rows(data.timelines.get(period, []), data.duration_s)
        if not len(data.index):
            self.video.clear("This session has no recorded video: the chart and the CSV exports are available.")
        self.seek(0.0)

    def load_session(self, session: Session) -> None:
        self.load(ReplayData.load(session))

    def set_period(self, period: int) -> None:
        if self.data is not None:
            self.chart.set_rows(self.data.timelines.get(period, []), self.data.duration_s)
            self.chart.set_cursor(self._position)

    # --- transport ------------------------------------------------------------------

    @property
    def position(self) -> float:
        return self._position

    @property
    def current_frame_index(self) -> int:
        return self._frame

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        speed = min(max(float(speed), SPEEDS[0]), SPEEDS[-1])
        self._origin = (time.monotonic(), self._position)
        self._speed = speed
        if self.speed_box.currentData() != speed and speed in SPEEDS:
            self.speed_box.setCurrentIndex(SPEEDS.index(speed))

    def play(self) -> None:
        if self.data is None:
            return
        if self._position >= self.data.duration_s - 1e-3:
            self.seek(0.0)
        self._playing = True
        self._origin = (time.monotonic(), self._position)
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self._timer.start()

    def pause(self) -> None:
        self._playing = False
        self._timer.stop()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))

    def toggle_play(self) -> None:
        self.pause() if self._playing else self.play()

    def seek(self, t: float) -> None:
        started = time.perf_counter()
        self._show(t)
        self._origin = (time.monotonic(), self._position)
        self.seek_ms.append((time.perf_counter() - started) * 1000)

    def step(self, frames: int) -> None:
        """Pause and move by whole recorded frames (seconds of timeline without video)."""
        self.pause()
        if self.data is None:
            return
        index = self.data.index
        if len(index):
            n = min(max(self._frame + frames, 0), len(index) - 1)
            self._show(float(index.times[n]))
        else:
            self._show(self._position + frames)
        self._origin = (time.monotonic(), self._position)

    def _tick(self) -> None:
        if self.data is None:
            return
        t = self._origin[1] + (time.monotonic() - self._origin[0]) * self._speed
        if t >= self.data.duration_s:
            self._show(self.data.duration_s)
            self.pause()
            return
        self._show(t)

    def _show(self, t: float) -> None:
        data = self.data
        if data is None:
            return
        t = min(max(float(t), 0.0), data.duration_s)
        self._position = t
        index = data.index
        if len(index):
            n = index.frame_at_time(t)
            if n != self._frame:
                self._frame = n
                event = index.event(n)
                if event is not None:
                    tracks = data.boxes_at(event.tracks, event.media_time_s)
                    self.video.set_frame(FrameEvent(n, event.media_time_s, event.captured_monotonic, event.image, tracks))
            self.frame_label.setText(f"frame {self._frame + 1}/{len(index)}")
        self.chart.set_cursor(t)
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(t * 1000)))
        self.slider.blockSignals(False)
        self.time_label.setText(f"{fmt_clock(t)} / {fmt_clock(data.duration_s)}")
        self.position_changed.emit(t)

    def close_data(self) -> None:
        self.pause()
        if self.data is not None:
            self.data.close()


class ReplayWindow(QMainWindow):
    """A top-level window around :class:`ReplayWidget`, with export actions."""

    loaded = Signal()  # the session is on screen (after open_in_background)
    loading = False
    closed = False  # closeEvent ran (the window is deleted later, by the event loop)
    load_error: str | None = None  # why the session could not be opened

    def __init__(self, config: AppConfig, parent: QWidget | None = None, *, temp_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.temp_dir = temp_dir  # an analysed video file's temporary session: removed on close
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.replay = ReplayWidget()
        self.setCentralWidget(self.replay)
        self.resize(1280, 760)
        menu = self.menuBar().addMenu("&Replay")
        menu.addAction("&Export…", self.export_dialog)
        menu.addSeparator()
        menu.addAction("&Close", self.close)
        self.statusBar()

    def load_session(self, session: Session) -> None:
        """Load ``session`` now, on the calling thread (tests, tools)."""
        started = time.perf_counter()
        self._show_loaded(ReplayData.load(session), session, started)

    def open_in_background(self, session: Session, *, title: str | None = None) -> None:
        """Read ``session`` off the GUI thread (a 2-hour session takes ~0.2 s); the window
        says "Opening…" meanwhile and emits :attr:`loaded` when it is ready. A session that
        cannot be read gets a message and the window closes."""
        from crowdmood_gui.ui.tasks import run_in_background

        started = time.perf_counter()
        self.loading = True
        self.replay.video.clear(f"Opening {session.path.name}…")
        temp_dir = self.temp_dir

        def abandon(data: ReplayData | None) -> None:
            # The window was closed while the session was being read: nobody will show it.
            if data is not None:
                data.close()
            if temp_dir is not None:  # closeEvent left it for us: the reader was using it
                shutil.rmtree(temp_dir, ignore_errors=True)

        def done(data: ReplayData) -> None:
            if self.closed:  # closed after the result was queued, before it arrived
                abandon(data)
                return
            self._show_loaded(data, session, started, title)

        def failed(exc: BaseException) -> None:
            self.loading = False
            if self.closed:
                abandon(None)
                return
            self.load_error = f"{session.path} cannot be read: {exc}"
            QMessageBox.warning(self, "Cannot open the session", self.load_error)
            self.close()

        run_in_background(lambda: ReplayData.load(session), done, owner=self, on_error=failed,
                          on_orphaned=abandon, name="crowdmood-replay-open")

    def _show_loaded(self, data: ReplayData, session: Session, started: float, title: str | None = None) -> None:
        self.replay.load(data)
        self.loading = False
        self.setWindowTitle(title or f"Replay: {data.meta.get('name') or session.id}")
        self.statusBar().showMessage(f"opened in {(time.perf_counter() - started) * 1000:.0f} ms", 5000)
        self.loaded.emit()

    def export_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        if self.replay.data is None:
            return
        folder = QFileDialog.getExistingDirectory(self, "Export the session into a folder")
        if folder:
            self.export_to(Path(folder))

    def export_to(self, folder: Path) -> dict[str, Path]:
        from crowdmood_gui.core.export import export_session

        written = export_session(self.replay.data.session, folder)
        self.statusBar().showMessage(f"exported {len(written)} files to {folder}", 8000)
        return written

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.closed = True
        self.replay.close_data()
        # While the session is still being read, the reader's callbacks remove the folder
        # (removing it under the reader would only have it re-created, then leaked).
        if self.temp_dir is not None and not self.loading:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        super().closeEvent(event)


# --- entry points for the main window ---------------------------------------------------

_open_windows: list[QWidget] = []  # keep top-level windows alive without a parent


def _keep(window: QWidget) -> None:
    _open_windows.append(window)
    window.destroyed.connect(lambda *_: _open_windows.remove(window) if window in _open_windows else None)


def open_replay(parent: QWidget | None, config: AppConfig, path_or_session: Session | str | Path) -> ReplayWindow | None:
    """Open a replay window for a session (a :class:`Session`, a session id/name, or a
    session folder) or analyse a video file first (progress dialog, cancellable).
    Returns the window, shown and reading the session in the background (its ``loaded``
    signal says when it is on screen), or ``None`` for a video file: the window appears
    when the analysis ends."""
    target = replay_target(config, path_or_session)  # InputError when unknown
    if isinstance(target, Session):
        window = ReplayWindow(config, parent)
        window.open_in_background(target)
        window.show()
        _keep(window)
        return window
    analyse_and_replay(parent, config, target)
    return None


class _Analysis(VideoAnalysis):
    """The analysis (``core/replay_data.py``) run in a background ``thread`` behind the
    progress dialog: Cancel stops it off the GUI thread, quitting waits for it (bounded)."""

    thread: threading.Thread | None = None

    def cancel(self) -> None:
        super().cancel()
        if self.session_run is not None:
            from crowdmood_gui.ui.tasks import run_in_background

            run_in_background(lambda: self.stop(2.0), lambda _r: None, owner=QCoreApplication.instance(),
                              name="crowdmood-replay-stop")

    def shutdown(self, timeout_s: float) -> None:
        """The application quits: stop the analysis, wait up to ``timeout_s``, clean up."""
        thread = self.thread
        if thread is None or not thread.is_alive():
            return
        try:
            self.stop(timeout_s)
        except Exception:  # quitting anyway
            log.debug("stopping the replay analysis failed", exc_info=True)
        thread.join(timeout_s)
        self.remove()


def analyse_and_replay(parent: QWidget | None, config: AppConfig, video: Path, *, on_window=None) -> _Analysis:
    """Analyse ``video`` in the background with a progress dialog, then open the replay."""
    from crowdmood_gui.ui.tasks import run_in_background

    job = _Analysis(config, video)
    dialog = QProgressDialog(f"Analysing {video.name}…", "Cancel", 0, 1000, parent)
    dialog.setWindowTitle("Analysing video")
    dialog.setMinimumDuration(300)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.connect(job.cancel)
    timer = QTimer(dialog)
    timer.setInterval(200)

    def update() -> None:
        if job.total_s:
            dialog.setValue(int(min(1.0, job.media_s / job.total_s) * 1000))
        dialog.setLabelText(f"Analysing {video.name}… {fmt_clock(job.media_s)}" + (f" / {fmt_clock(job.total_s)}" if job.total_s else ""))

    timer.timeout.connect(update)
    timer.start()

    def finish_dialog() -> None:
        timer.stop()
        dialog.canceled.disconnect(job.cancel)  # QProgressDialog.close() emits canceled
        dialog.close()
        dialog.deleteLater()

    def forget_quit_hook() -> None:
        try:
            getattr(job, "thread_done", lambda: None)()
        except (RuntimeError, TypeError):  # already disconnected
            pass

    def done(_count: int) -> None:
        forget_quit_hook()
        finish_dialog()
        if job.cancelled:
            job.remove()
            return
        window = ReplayWindow(config, parent, temp_dir=job.temp_dir)
        window.open_in_background(job.session, title=f"Replay: {video.name} (analysed)")
        window.show()
        _keep(window)
        if on_window is not None:
            on_window(window)

    def failed(exc: BaseException) -> None:
        forget_quit_hook()
        finish_dialog()
        job.remove()
        if not job.cancelled:
            QMessageBox.warning(parent, "Cannot analyse the video", str(exc))

    job.thread = run_in_background(job.run, done, owner=dialog, on_error=failed, name="crowdmood-replay-analysis")
    # Quitting mid-analysis: stop the pipeline and wait for it (bounded) instead of killing
    # a daemon thread half-way through a SQLite write, and remove the temporary session.
    app = QCoreApplication.instance()
    if app is not None:
        def on_quit() -> None:
            job.shutdown(2.0)

        app.aboutToQuit.connect(on_quit)
        job.thread_done = lambda: app.aboutToQuit.disconnect(on_quit)
    dialog.show()
    return job
