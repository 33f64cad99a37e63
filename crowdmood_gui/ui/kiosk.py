"""The audience screen (View ▸ Kiosk chart window), readable from 3 m.

Thick lines over the last minutes (10-s periods or longer: the people's estimates are
already smoothed, and never more than :data:`KIOSK_MAX_POINTS` points, because a 5-px pen
costs ~6x a 1-px one per point in Qt's raster engine), a large legend, and
a big "right now" bar per expression: the crowd value of the latest second with someone
rated in view. No operator controls and no operator notes; only the one-line disclaimer.

It observes the main window's :class:`TimelineStore`, so it shows the same data; it
follows the operator's window length but keeps its own period. Esc closes it, F11 toggles
full screen. With a second screen it opens there, full screen.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetrics, QGuiApplication, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS, EXPRESSION_DISCLAIMER
from crowdmood_gui.core.series import CHART_BACKGROUND, CROWD_TITLE, LEGEND_TEXT, PERIODS, WINDOWS
from crowdmood_gui.ui.chart import TimelineStore
from crowdmood_gui.ui.plots import CrowdPlot

KIOSK_PEN_PX = 5
KIOSK_FONT_SCALE = 2.2
KIOSK_REDRAW_MS = 1000  # the audience needs no faster; a redraw + paint costs ~15-35 ms
KIOSK_MAX_POINTS = 200  # 5-min window: 10-s points; 30 min: 10 s; 2 h: 1-min points
NOW_PERIOD_S = 1  # the "right now" bars read the newest 1-s row


class NowBars(QWidget):
    """One big horizontal bar per expression, 0-100, with its name and value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: dict[str, float | None] = dict.fromkeys(EMOTIONS)
        self.setMinimumWidth(360)

    def set_values(self, values: dict[str, float | None]) -> None:
        if values != self.values:
            self.values = dict(values)
            self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor(CHART_BACKGROUND))
        rows = len(EMOTIONS)
        row_h = self.height() / (rows + 1)
        font = QFont(self.font())
        font.setBold(True)
        name_w = self.width() * 0.42
        value_w = self.width() * 0.16
        bar_w = self.width() - name_w - value_w - 12
        # As large as the row allows, but every name whole ("Disgusted" is the widest).
        size = max(10, int(row_h * 0.45))
        while size > 10:
            font.setPixelSize(size)
            widest = max(QFontMetrics(font).horizontalAdvance(k.title()) for k in EMOTIONS)
            if widest <= name_w - 8:
                break
            size -= 1
        font.setPixelSize(size)
        painter.setFont(font)
        painter.setPen(QColor(LEGEND_TEXT))
        painter.drawText(QRectF(0, 0, self.width(), row_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, "Right now")
        for i, kind in enumerate(EMOTIONS):
            top = row_h * (i + 1)
            colour = QColor(EMOTION_COLOURS[kind])
            painter.setPen(colour)
            painter.drawText(QRectF(0, top, name_w, row_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, kind.title())
            value = self.values.get(kind)
            track = QRectF(name_w, top + row_h * 0.18, bar_w, row_h * 0.64)
            painter.fillRect(track, QColor("#2A2A2A"))
            if value is not None and math.isfinite(value):
                filled = QRectF(track.left(), track.top(), track.width() * max(0.0, min(100.0, value)) / 100.0, track.height())
                painter.fillRect(filled, colour)
            text = "–" if value is None or not math.isfinite(value) else f"{value:.0f}"
            painter.drawText(QRectF(name_w + bar_w + 6, top, value_w, row_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, text)
        painter.end()


class KioskChartWindow(QWidget):
    def __init__(self, store: TimelineStore, parent: QWidget | None = None, *, period_s: int = 10, window_s: int = 300) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("crowdmood — expressions")
        self.setStyleSheet(f"background: {CHART_BACKGROUND}; color: {LEGEND_TEXT};")
        self.store = store
        self._wanted_period_s = max(10, period_s) if period_s in PERIODS else 10
        self.window_s = window_s if window_s in WINDOWS else WINDOWS[0]
        self._drawn_version = -1
        self.title = QLabel(CROWD_TITLE)
        title_font = QFont(self.font())
        title_font.setPointSizeF(self.font().pointSizeF() * KIOSK_FONT_SCALE)
        self.title.setFont(title_font)
        self.plots = CrowdPlot(self, pen_width=KIOSK_PEN_PX, font_scale=KIOSK_FONT_SCALE, legend_columns=4)
        self.now_bars = NowBars(self)
        people_font = QFont(self.font())
        people_font.setPointSizeF(self.font().pointSizeF() * 1.3)
        self.plots.people_plot.getAxis("left").setTickFont(people_font)  # 0..N in a short plot
        self.disclaimer = QLabel(EXPRESSION_DISCLAIMER)
        self.disclaimer.setStyleSheet("color: #9A9A9A;")
        body = QHBoxLayout()
        body.addWidget(self.plots, 3)
        body.addWidget(self.now_bars, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 8)
        layout.addWidget(self.title)
        layout.addLayout(body, 1)
        layout.addWidget(self.disclaimer)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.close)
        QShortcut(QKeySequence(Qt.Key.Key_F11), self, activated=self.toggle_full_screen)
        self._timer = QTimer(self)
        self._timer.setInterval(KIOSK_REDRAW_MS)
        self._timer.timeout.connect(self.redraw_if_needed)
        self._timer.start()
        self.resize(1280, 720)
        self.redraw()

    # --- data ----------------------------------------------------------------------

    @property
    def period_s(self) -> int:
        """10-s points or longer, and no more than KIOSK_MAX_POINTS in the window."""
        return next((p for p in PERIODS if p >= self._wanted_period_s and self.window_s / p <= KIOSK_MAX_POINTS),
                    PERIODS[-1])

    def set_window(self, window_s: int) -> None:
        """Follow the operator's window length."""
        if window_s in WINDOWS and window_s != self.window_s:
            self.window_s = window_s
            self.redraw()

    def now_values(self) -> dict[str, float | None]:
        """The crowd value of the newest 1-s period with someone rated in view (within
        the last 10 s: older than that, nobody is in front of the booth right now)."""
        series = self.store.series(NOW_PERIOD_S, 10)
        for i in range(len(series) - 1, -1, -1):
            if series.people[i] > 0 and math.isfinite(series.means[EMOTIONS[0]][i]):
                return {k: float(series.means[k][i]) for k in EMOTIONS}
            if series.people[i] <= 0:
                break
        return dict.fromkeys(EMOTIONS)

    def redraw_if_needed(self) -> None:
        if self.store.version != self._drawn_version and self.isVisible():
            self.redraw()

    def redraw(self) -> None:
        series = self.store.series(self.period_s, self.window_s)
        self.plots.set_series(series)
        end = float(series.t[-1] + self.period_s) if len(series) else 0.0
        start = max(0.0, end - self.window_s)
        self.plots.set_x_range(start, max(end, start + min(self.window_s, 60.0)))
        self.now_bars.set_values(self.now_values())
        self._drawn_version = self.store.version

    # --- window --------------------------------------------------------------------

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def show_on_best_screen(self) -> None:
        """Full screen on a second screen if there is one, else a normal window."""
        screens = QGuiApplication.screens()
        main_screen = self.parentWidget().screen() if self.parentWidget() is not None else QGuiApplication.primaryScreen()
        others = [s for s in screens if s is not main_screen]
        if others:
            target = others[0]
            self.setGeometry(target.availableGeometry())
            self.showFullScreen()
        else:
            self.show()
        self.raise_()
        self.activateWindow()
        self.redraw()
