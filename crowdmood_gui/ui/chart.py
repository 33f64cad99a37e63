"""The expression lines: one per emotion, plus the number of faces, per period.

:class:`TimelineStore` (no Qt) keeps every row received, per period (1, 10, 60 s), for the
longest window (2 h); a row with the same ``t`` replaces the earlier one. Several charts can
observe one store (the main window's and the kiosk's): switching period or window redraws
from rows already received.

:class:`EmotionChart` redraws on a timer (4 Hz) and only when the store or the view
changed, never per event (1 Hz for the 2-hour window of 1-s rows): with 1-px pens,
``clipToView``, downsampling and no axis grid (it costs ~4 ms per axis), a redraw with
paint measures ~6 ms for the 5-min window and ~14 ms for 8 lines x 7200 points. Clicking a legend entry hides/shows its line.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS, EXPRESSION_DISCLAIMER
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.ui.video_view import scaled_font

PERIODS: tuple[int, ...] = (1, 10, 60)
WINDOWS: tuple[int, ...] = (300, 1800, 7200)
PERIOD_LABELS = {1: "1 s", 10: "10 s", 60: "60 s"}
WINDOW_LABELS = {300: "5 min", 1800: "30 min", 7200: "2 h"}
REDRAW_INTERVAL_MS = 250  # 4 Hz
FACES_COLOUR = "#DDDDDD"
CONFUSED_NOTE = "CONFUSED stays at 0 with the local model: it has no such class."

# Column layout of a stored row.
_COLUMNS = ("faces", "tracks", "analysed", *EMOTIONS)
_COL = {name: i for i, name in enumerate(_COLUMNS)}


class _PeriodSeries:
    """Rows of one period, sorted by ``t``, in growable numpy arrays."""

    def __init__(self, retention_s: float) -> None:
        self.retention_s = retention_s
        self._t = np.empty(256, dtype=np.float64)
        self._v = np.empty((256, len(_COLUMNS)), dtype=np.float64)
        self._n = 0
        self._index: dict[float, int] = {}

    def __len__(self) -> int:
        return self._n

    @property
    def t(self) -> np.ndarray:
        return self._t[: self._n]

    @property
    def values(self) -> np.ndarray:
        return self._v[: self._n]

    @staticmethod
    def _row_values(row: TimelineRow) -> list[float]:
        emotions = row.emotions or {}
        values = [float(row.faces), float(row.tracks), float(row.analysed)]
        for name in EMOTIONS:
            value = emotions.get(name)
            values.append(math.nan if value is None else float(value))
        return values

    def upsert(self, row: TimelineRow) -> None:
        t = float(row.t)
        values = self._row_values(row)
        i = self._index.get(t)
        if i is not None:
            self._v[i] = values
            return
        if self._n == len(self._t):
            self._t = np.resize(self._t, self._n * 2)
            self._v = np.resize(self._v, (self._n * 2, len(_COLUMNS)))
        if self._n == 0 or t > self._t[self._n - 1]:
            self._t[self._n] = t
            self._v[self._n] = values
            self._index[t] = self._n
            self._n += 1
            return
        # Out of order (rare): insert and re-index.
        pos = int(np.searchsorted(self._t[: self._n], t))
        self._t[pos + 1 : self._n + 1] = self._t[pos : self._n].copy()
        self._v[pos + 1 : self._n + 1] = self._v[pos : self._n].copy()
        self._t[pos] = t
        self._v[pos] = values
        self._n += 1
        self._reindex()

    def prune(self) -> None:
        """Drop rows older than the retention before the newest row (bounded memory)."""
        if self._n == 0:
            return
        cutoff = self._t[self._n - 1] - self.retention_s
        first = int(np.searchsorted(self._t[: self._n], cutoff, side="left"))
        if first <= 0:
            return
        keep = self._n - first
        self._t[:keep] = self._t[first : self._n].copy()
        self._v[:keep] = self._v[first : self._n].copy()
        self._n = keep
        self._reindex()

    def _reindex(self) -> None:
        self._index = {float(t): i for i, t in enumerate(self._t[: self._n])}

    def get(self, t: float) -> dict[str, float] | None:
        i = self._index.get(float(t))
        if i is None:
            return None
        return {name: float(self._v[i, j]) for name, j in _COL.items()}


class TimelineStore:
    """Timeline rows per period, Qt-free. ``version`` changes whenever data changes."""

    def __init__(self, periods: tuple[int, ...] = PERIODS, retention_s: float = max(WINDOWS)) -> None:
        self._retention_s = retention_s
        self._series = {p: _PeriodSeries(retention_s + p) for p in periods}
        self.version = 0

    @property
    def periods(self) -> tuple[int, ...]:
        return tuple(self._series)

    def add(self, period_s: int, rows: list[TimelineRow]) -> None:
        series = self._series.get(int(period_s))
        if series is None:
            series = self._series[int(period_s)] = _PeriodSeries(self._retention_s + period_s)
        for row in rows:
            series.upsert(row)
        # Amortised: prune only once the oldest row is well past the retention.
        if len(series) and series.t[0] < series.t[-1] - series.retention_s * 1.1:
            series.prune()
        self.version += 1

    def clear(self) -> None:
        for period in list(self._series):
            self._series[period] = _PeriodSeries(self._retention_s + period)
        self.version += 1

    def count(self, period_s: int) -> int:
        series = self._series.get(int(period_s))
        return len(series) if series is not None else 0

    def row(self, period_s: int, t: float) -> dict[str, float] | None:
        """One stored row as {column: value} (NaN where no face was analysed)."""
        series = self._series.get(int(period_s))
        return series.get(t) if series is not None else None

    def latest_t(self, period_s: int) -> float | None:
        series = self._series.get(int(period_s))
        return float(series.t[-1]) if series is not None and len(series) else None

    def window(self, period_s: int, window_s: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rows in the last ``window_s`` seconds of ``period_s``: x (period start) and columns."""
        series = self._series.get(int(period_s))
        if series is None or len(series) == 0:
            empty = np.empty(0)
            return empty, {name: empty for name in _COLUMNS}
        t = series.t
        start = int(np.searchsorted(t, t[-1] + period_s - window_s, side="left"))
        x = t[start:].copy()
        values = series.values[start:]
        return x, {name: values[:, j].copy() for name, j in _COL.items()}


def gapped_line(x: np.ndarray, y: np.ndarray, max_gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Join the analysed periods (drop NaN), but break the line over gaps wider than ``max_gap``."""
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return x, y
    breaks = np.nonzero(np.diff(x) > max_gap)[0]
    if len(breaks) == 0:
        return x, y
    x = np.insert(x, breaks + 1, (x[breaks] + x[breaks + 1]) / 2.0)
    y = np.insert(y, breaks + 1, np.nan)
    return x, y


class SessionTimeAxis(pg.AxisItem):
    """Seconds from the session start as m:ss or h:mm:ss, on whole seconds only (a short
    session would otherwise get ticks every 0.5 s, all labelled alike: 0:02 0:02 0:02)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph naming)
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size) if spacing >= 1]
        if not levels and maxVal - minVal < 1e6:
            levels = [(1.0, [float(v) for v in range(max(0, math.ceil(minVal)), math.floor(maxVal) + 1)])]
        return levels

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph naming)
        out = []
        for value in values:
            seconds = int(round(value * scale))
            sign = "-" if seconds < 0 else ""
            seconds = abs(seconds)
            h, rem = divmod(seconds, 3600)
            m, s = divmod(rem, 60)
            out.append(f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}")
        return out


class CountAxis(pg.AxisItem):
    """Whole numbers only (a number of faces has no 0.5)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph naming)
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size) if spacing >= 1]
        if not levels:
            levels = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return levels


class EmotionChart(QWidget):
    """Period/window selectors, the legend, the emotion lines and the faces count below.

    Signals: ``period_changed(int seconds)``, ``window_changed(int seconds)``,
    ``line_toggled(str emotion, bool visible)``.
    """

    period_changed = Signal(int)
    window_changed = Signal(int)
    line_toggled = Signal(str, bool)

    def __init__(
        self,
        store: TimelineStore,
        parent: QWidget | None = None,
        *,
        period_s: int = 1,
        window_s: int = 300,
        large: bool = False,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self._period_s = period_s if period_s in PERIODS else PERIODS[0]
        self._window_s = window_s if window_s in WINDOWS else WINDOWS[0]
        self._drawn_key: tuple | None = None
        self._last_redraw = 0.0
        self.redraw_count = 0
        self._live_edge: float | None = None  # the live source's clock: the x axis ends here

        # Controls.
        self.period_box = QComboBox()
        for p in PERIODS:
            self.period_box.addItem(PERIOD_LABELS[p], p)
        self.period_box.setCurrentIndex(PERIODS.index(self._period_s))
        self.period_box.setToolTip("Length of one point of the lines")
        self.window_box = QComboBox()
        for w in WINDOWS:
            self.window_box.addItem(WINDOW_LABELS[w], w)
        self.window_box.setCurrentIndex(WINDOWS.index(self._window_s))
        self.window_box.setToolTip("How much history the chart shows")
        self.period_box.currentIndexChanged.connect(lambda i: self.set_period(PERIODS[i]))
        self.window_box.currentIndexChanged.connect(lambda i: self.set_window(WINDOWS[i]))
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Expressions (mean %, faces analysed)")
        title.setObjectName("chartTitle")
        controls.addWidget(title)
        controls.addStretch(1)
        controls.addWidget(QLabel("Period"))
        controls.addWidget(self.period_box)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Window"))
        controls.addWidget(self.window_box)

        # Plots: legend row, emotion lines, faces count (x linked).
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#161616")
        self.graphics.ci.setSpacing(2)
        self.legend = pg.LegendItem(colCount=4, labelTextColor="#DDDDDD", verSpacing=-4, horSpacing=12)
        self.graphics.addItem(self.legend, row=0, col=0)
        self.plot = self.graphics.addPlot(row=1, col=0, axisItems={"bottom": SessionTimeAxis("bottom")})
        self.faces_plot = self.graphics.addPlot(
            row=2, col=0, axisItems={"bottom": SessionTimeAxis("bottom"), "left": CountAxis("left")}
        )
        self.graphics.ci.layout.setRowStretchFactor(1, 4)
        self.graphics.ci.layout.setRowStretchFactor(2, 1)
        self.faces_plot.setXLink(self.plot)
        for plot in (self.plot, self.faces_plot):
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
        self.plot.setYRange(0, 100, padding=0.02)
        # Reference lines instead of showGrid: the axis grid repaints at ~4 ms per axis.
        for level in (25, 50, 75, 100):
            self.plot.addItem(pg.InfiniteLine(pos=level, angle=0, movable=False, pen=pg.mkPen("#2E2E2E", width=1)))
        self.plot.setLabel("left", "%")
        self.plot.getAxis("bottom").setStyle(showValues=False)
        self.faces_plot.setLabel("left", "faces")
        self.faces_plot.getAxis("left").setWidth(self.plot.getAxis("left").width())
        self.plot.getAxis("left").setWidth(44)
        self.faces_plot.getAxis("left").setWidth(44)

        self._curves: dict[str, pg.PlotDataItem] = {}
        for name in EMOTIONS:
            curve = self.plot.plot([], [], pen=pg.mkPen(EMOTION_COLOURS[name], width=1), name=None, connect="finite")
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            self._curves[name] = curve
            self.legend.addItem(curve, name.title())
            self.legend.items[-1][1].setText(name.title(), color=EMOTION_COLOURS[name])  # label in the line's colour
        self.faces_curve = self.faces_plot.plot(
            [], [], pen=pg.mkPen(FACES_COLOUR, width=1), fillLevel=0, brush=pg.mkBrush(220, 220, 220, 40)
        )
        self.faces_curve.setClipToView(True)
        self.faces_curve.setDownsampling(auto=True, method="peak")
        self.legend.sigSampleClicked.connect(self._on_legend_clicked)

        # Notes under the chart.
        self.confused_note = QLabel(CONFUSED_NOTE)
        self.confused_note.setObjectName("chartNote")
        self.disclaimer = QLabel(EXPRESSION_DISCLAIMER)
        self.disclaimer.setObjectName("disclaimer")
        self.disclaimer.setWordWrap(True)
        for label in (self.confused_note, self.disclaimer):
            label.setStyleSheet("color: #9A9A9A;")
        if large:
            font = scaled_font(self.font(), 1.6)
            for widget in (title, self.disclaimer, self.confused_note):
                widget.setFont(font)
            for plot in (self.plot, self.faces_plot):
                for axis in ("left", "bottom"):
                    plot.getAxis(axis).setTickFont(font)
            self.plot.getAxis("left").setWidth(70)
            self.faces_plot.getAxis("left").setWidth(70)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.confused_note)
        layout.addWidget(self.disclaimer)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self.redraw_if_needed)
        self._timer.start()
        self.redraw()

    # --- public API ------------------------------------------------------------------

    @property
    def period_s(self) -> int:
        return self._period_s

    @property
    def window_s(self) -> int:
        return self._window_s

    def set_period(self, period_s: int) -> None:
        if period_s not in PERIODS:
            raise ValueError(f"period must be one of {PERIODS}, not {period_s}")
        if period_s == self._period_s:
            return
        self._period_s = period_s
        self.period_box.blockSignals(True)
        self.period_box.setCurrentIndex(PERIODS.index(period_s))
        self.period_box.blockSignals(False)
        self.redraw()
        self.period_changed.emit(period_s)

    def set_window(self, window_s: int) -> None:
        if window_s not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, not {window_s}")
        if window_s == self._window_s:
            return
        self._window_s = window_s
        self.window_box.blockSignals(True)
        self.window_box.setCurrentIndex(WINDOWS.index(window_s))
        self.window_box.blockSignals(False)
        self.redraw()
        self.window_changed.emit(window_s)

    def set_local_backend(self, local: bool) -> None:
        """Show the CONFUSED note only when the local model (which lacks it) is used."""
        self.confused_note.setVisible(local)

    def curve(self, emotion: str) -> pg.PlotDataItem:
        return self._curves[emotion]

    def line_visible(self, emotion: str) -> bool:
        return self._curves[emotion].isVisible()

    def set_line_visible(self, emotion: str, visible: bool) -> None:
        curve = self._curves[emotion]
        if curve.isVisible() == visible:
            return
        curve.setVisible(visible)
        self.legend.update()
        self._line_visibility_changed(emotion, visible)

    def legend_sample(self, emotion: str):
        """The legend's sample item for ``emotion`` (clicking it toggles the line)."""
        for sample, _label in self.legend.items:
            if sample.item is self._curves[emotion]:
                return sample
        raise KeyError(emotion)

    def curve_data(self, emotion: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """What a line currently shows (x, y); ``None`` for the faces count."""
        curve = self.faces_curve if emotion is None else self._curves[emotion]
        x, y = curve.getOriginalDataset()
        if x is None:
            return np.empty(0), np.empty(0)
        return np.asarray(x), np.asarray(y)

    def redraw_if_needed(self) -> None:
        if self._view_key() == self._drawn_key or not self.isVisible():
            return
        # Thousands of points (2 h of 1-s rows) move by a pixel a second: 1 Hz is plenty.
        points = self._window_s / self._period_s
        min_interval = 1.0 if points > 1800 else 0.0
        if time.monotonic() - self._last_redraw < min_interval:
            return
        self.redraw()

    def redraw(self) -> None:
        """Draw the selected period and window from the store, now."""
        period, window = self._period_s, self._window_s
        x, columns = self.store.window(period, window)
        max_gap = max(5.0 * period, 10.0)
        for name, curve in self._curves.items():
            if not curve.isVisible():
                continue  # redrawn when shown again
            cx, cy = gapped_line(x, columns[name], max_gap)
            curve.setData(cx, cy, connect="finite")
        faces = columns["faces"]
        # Every period with a frame has a row: a missing period means no picture (lost
        # signal, pause), drawn as a gap, not as the last count carried across.
        fx, fy = gapped_line(x, faces, 1.5 * period)
        self.faces_curve.setData(fx, fy, connect="finite")
        end = float(x[-1] + period) if len(x) else 0.0
        if self._live_edge is not None and len(x):
            end = max(end, self._live_edge)
        start = max(0.0, end - window)
        self.plot.setXRange(start, max(end, start + min(window, 60.0)), padding=0.0)
        top = float(np.nanmax(faces)) if len(faces) else 0.0
        self.faces_plot.setYRange(0, max(1.0, top) * 1.15, padding=0.0)
        self._drawn_key = self._view_key()
        self._last_redraw = time.monotonic()
        self.redraw_count += 1

    # --- internals -------------------------------------------------------------------

    def set_live_edge(self, t: float | None) -> None:
        """The source's clock now (``None``: not live): the time axis runs on to it, so a
        source that stopped sending shows an empty stretch after its last row."""
        self._live_edge = None if t is None else float(t)

    def _view_key(self) -> tuple:
        edge = None if self._live_edge is None else int(self._live_edge // self._period_s)
        return (self.store.version, self._period_s, self._window_s, edge)

    def _on_legend_clicked(self, item) -> None:
        for name, curve in self._curves.items():
            if curve is item:
                self._line_visibility_changed(name, curve.isVisible())
                return

    def _line_visibility_changed(self, emotion: str, visible: bool) -> None:
        if visible:
            self._drawn_key = None  # hidden lines are not updated: refresh now
            self.redraw()
        self.line_toggled.emit(emotion, visible)
