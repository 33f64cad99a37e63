"""All booths (AWS mode): one small chart per booth, the all-booths line, click for the full chart.

Works with no local camera (``crowdmood booths --window``, an organiser's laptop) and from
the console (View ▸ All booths). The data comes from :class:`BoothsMonitor` (one
GetMetricData call per poll); each poll runs in a background thread
(:func:`run_in_background`), never on the GUI thread, and a poll still running when the
timer fires again is not doubled.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from crowdmood_gui.core.aws.booths import BoothsMonitor, BoothsSnapshot, BoothStatus, poll_cost_per_hour
from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS, EXPRESSION_DISCLAIMER
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.ui.chart import EmotionChart, TimelineStore
from crowdmood_gui.ui.tasks import run_in_background

STATE_COLOURS = {"live": "#2CA02C", "stale": "#FF9F1C", "offline": "#777777"}
DEFAULT_POLL_S = 30.0
COLUMNS = 4


def _plot_rows(plot: pg.PlotItem, curves: dict[str, pg.PlotDataItem], rows: list[TimelineRow], origin: float) -> None:
    """Each expression's points (minutes from ``origin``); periods with no face are gaps."""
    x = np.array([(r.t - origin) / 60.0 for r in rows], dtype=float)
    for name, curve in curves.items():
        y = np.array([np.nan if r.emotions.get(name) is None else r.emotions[name] for r in rows], dtype=float)
        curve.setData(x, y, connect="finite")


def _new_plot(widget: pg.PlotWidget, *, axes: bool) -> dict[str, pg.PlotDataItem]:
    widget.setBackground("#161616")
    item = widget.getPlotItem()
    item.setMouseEnabled(x=False, y=False)
    item.hideButtons()
    item.setMenuEnabled(False)
    item.setYRange(0, 100, padding=0.02)
    if not axes:
        item.hideAxis("left")
        item.hideAxis("bottom")
    return {name: item.plot([], [], pen=pg.mkPen(EMOTION_COLOURS[name], width=1)) for name in EMOTIONS}


class BoothTile(QFrame):
    """One booth: name, state, health figures and its mini chart. Click: ``clicked(camera)``."""

    clicked = Signal(str)

    def __init__(self, camera: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.camera = camera
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMaximumHeight(260)  # small multiples: twenty booths fit five rows
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{camera}: click for the full chart")
        self.title = QLabel(camera)
        self.title.setStyleSheet("font-weight: bold;")
        self.state = QLabel()
        self.health = QLabel()
        self.health.setStyleSheet("color: #9A9A9A;")
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(120)
        self.plot.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # the tile takes the click
        self.curves = _new_plot(self.plot, axes=False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.state)
        layout.addWidget(self.health)
        layout.addWidget(self.plot, 1)
        self.status: BoothStatus | None = None

    def show_status(self, booth: BoothStatus, origin: float) -> None:
        self.status = booth
        colour = STATE_COLOURS.get(booth.state, "#777777")
        age = "" if booth.beat_age_s is None else f" · beat {booth.beat_age_s:.0f} s ago"
        duplicate = " · TWO AGENTS share this name" if booth.duplicate else ""
        self.state.setText(f"<span style='color:{colour}'>● {booth.state}</span>{age}{duplicate}")
        figures = [f"session {booth.session}"]
        if booth.frames_per_s is not None:
            figures.append(f"{booth.frames_per_s:.0f} fps")
        if booth.faces_in_view is not None:
            figures.append(f"{booth.faces_in_view} faces")
        if booth.spool_depth:
            figures.append(f"{booth.spool_depth} waiting")
        self.health.setText(" · ".join(figures))
        _plot_rows(self.plot.getPlotItem(), self.curves, booth.line, origin)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.camera)
        super().mouseReleaseEvent(event)


class BoothChartWindow(QWidget):
    """One booth's full chart (the console's chart widget), updated by every poll."""

    def __init__(self, camera: str, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.camera = camera
        self.store = TimelineStore()
        self.caption = QLabel()
        self.chart = EmotionChart(self.store, self, period_s=10, window_s=1800)
        self.chart.set_local_backend(False)  # Rekognition's lines: CONFUSED is real here
        self.chart.period_box.setEnabled(False)  # the booths poll reads 10 s periods only
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(self.chart, 1)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.close)
        self.resize(960, 600)

    def show_status(self, booth: BoothStatus, origin: float) -> None:
        start = datetime.fromtimestamp(origin, UTC).strftime("%H:%M:%S")
        self.setWindowTitle(f"crowdmood — {booth.camera} ({booth.session})")
        self.caption.setText(f"{booth.camera} · session {booth.session} · {booth.state} · time from {start} UTC")
        self.store.clear()
        self.store.add(10, [TimelineRow(t=r.t - origin, period_s=r.period_s, faces=r.faces, tracks=r.tracks,
                                        analysed=r.analysed, emotions=dict(r.emotions)) for r in booth.line])
        self.chart.redraw()


class BoothsWindow(QWidget):
    """Small multiples of every booth, and the all-booths line. ``poll_now`` polls at once."""

    polled = Signal(object)  # the BoothsSnapshot shown (tests, status)

    def __init__(self, monitor: BoothsMonitor, parent: QWidget | None = None, *, poll_interval_s: float = DEFAULT_POLL_S) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("crowdmood — all booths")
        self.monitor = monitor
        self.poll_interval_s = poll_interval_s
        self.tiles: dict[str, BoothTile] = {}
        self.details: dict[str, BoothChartWindow] = {}
        self.snapshot: BoothsSnapshot | None = None
        self.polling = False

        self.status = QLabel("Polling the booths…")
        self.status.setWordWrap(True)
        all_title = QLabel("All booths (mean %, per crop)")
        all_title.setStyleSheet("font-weight: bold;")
        self.all_plot = pg.PlotWidget()
        self.all_plot.setMinimumHeight(160)
        self.all_plot.setMaximumHeight(260)  # the booths' tiles get the rest
        self.all_curves = _new_plot(self.all_plot, axes=True)
        self.all_plot.getPlotItem().setLabel("bottom", "minutes")
        legend = QLabel("  ".join(f"<span style='color:{EMOTION_COLOURS[e]}'>{e.title()}</span>" for e in EMOTIONS))
        grid_host = QWidget()
        self.grid = QGridLayout(grid_host)
        self.grid.setSpacing(8)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_host)
        disclaimer = QLabel(EXPRESSION_DISCLAIMER)
        disclaimer.setWordWrap(True)
        disclaimer.setStyleSheet("color: #9A9A9A;")
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(all_title)
        layout.addWidget(legend)
        layout.addWidget(self.all_plot)
        layout.addWidget(scroll, 1)
        layout.addWidget(disclaimer)
        self.resize(1280, 860)

        self.timer = QTimer(self)
        self.timer.setInterval(int(poll_interval_s * 1000))
        self.timer.timeout.connect(self.poll_now)

    def start(self) -> None:
        self.poll_now()
        self.timer.start()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.timer.stop()
        for detail in self.details.values():
            detail.close()
        super().closeEvent(event)

    # --- polling (background) ---------------------------------------------------------

    def poll_now(self) -> bool:
        """Start a poll in the background; False when one is still running."""
        if self.polling:
            return False
        self.polling = True
        run_in_background(self.monitor.poll, self._show, owner=self, on_error=self._failed, name="crowdmood-booths-poll")
        return True

    def _failed(self, exc: BaseException) -> None:
        from crowdmood_gui.core.aws.clients import describe_aws_error

        self.polling = False
        self.status.setText(f"<span style='color:#D62728'>Cannot read the booths: {describe_aws_error(exc)}</span> "
                            f"(retrying every {self.poll_interval_s:.0f} s)")

    def _show(self, snapshot: BoothsSnapshot) -> None:
        self.polling = False
        self.snapshot = snapshot
        origin = snapshot.polled_at.timestamp() - self.monitor.window_s
        counts = {state: sum(1 for b in snapshot.booths if b.state == state) for state in STATE_COLOURS}
        cost = poll_cost_per_hour(len(snapshot.booths), self.poll_interval_s)
        self.status.setText(
            f"{len(snapshot.booths)} booth(s): {counts['live']} live, {counts['stale']} stale, {counts['offline']} offline"
            f" · polled {snapshot.polled_at:%H:%M:%S} UTC, every {self.poll_interval_s:.0f} s"
            f" · {snapshot.metric_calls} GetMetricData call, {snapshot.metrics_requested} metrics (~${cost:.2f}/h)"
        )
        _plot_rows(self.all_plot.getPlotItem(), self.all_curves, snapshot.all_booths, origin)
        seen = set()
        for index, booth in enumerate(snapshot.booths):
            seen.add(booth.camera)
            tile = self.tiles.get(booth.camera)
            if tile is None:
                tile = self.tiles[booth.camera] = BoothTile(booth.camera)
                tile.clicked.connect(self.open_booth)
            self.grid.addWidget(tile, index // COLUMNS, index % COLUMNS)
            tile.show_status(booth, origin)
            detail = self.details.get(booth.camera)
            if detail is not None:
                detail.show_status(booth, origin)
        for camera in [c for c in self.tiles if c not in seen]:  # gone from the account's last 3 hours
            self.tiles.pop(camera).deleteLater()
        self.polled.emit(snapshot)

    def open_booth(self, camera: str) -> BoothChartWindow | None:
        tile = self.tiles.get(camera)
        if tile is None or tile.status is None or self.snapshot is None:
            return None
        detail = self.details.get(camera)
        if detail is None:
            detail = self.details[camera] = BoothChartWindow(camera, self)
        detail.show_status(tile.status, self.snapshot.polled_at.timestamp() - self.monitor.window_s)
        detail.show()
        detail.raise_()
        return detail


def open_booths_window(config, parent: QWidget | None = None, *, poll_interval_s: float = DEFAULT_POLL_S,
                       window_s: float = 900.0) -> BoothsWindow:
    """The window over the configured account (credentials from the standard chain), polling."""
    from crowdmood_gui.core.aws.clients import client, make_session

    monitor = BoothsMonitor(client(make_session(config.aws), "cloudwatch"), namespace=config.aws.namespace,
                            window_s=window_s)
    window = BoothsWindow(monitor, parent, poll_interval_s=poll_interval_s)
    window.show()
    window.start()
    return window
