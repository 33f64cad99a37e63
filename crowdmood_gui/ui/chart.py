"""The operator's expression chart: the crowd value per expression (or the share of
people by dominant expression), plus the people in view, per period.

:class:`TimelineStore` (no Qt) keeps every row received, per period (``core/series.py``: 1 s, 10 s, 1 min), for the
longest window (2 h); a row with the same ``t`` replaces the earlier one (the crowd value
of a period is revised when a late crop arrives). Several charts observe one store (the
main window's and the kiosk's): switching period, window or view redraws from rows
already received.

:class:`EmotionChart` is the period/window/view selectors over the one plot builder
(``ui/plots.py``). It redraws on a timer (4 Hz) and only when the store or the view
changed, never per event (1 Hz for the 2-hour window of 1-s rows): with 1-px pens,
``clipToView``, downsampling and no axis grid, a redraw with paint measures ~6 ms for the
5-min window and ~14 ms for 8 lines x 7200 points. Clicking a legend entry hides/shows its line.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from crowdmood_gui.core.emotions import EMOTIONS, EXPRESSION_DISCLAIMER
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.series import (
    CROWD_TITLE,
    PERIOD_LABELS,
    PERIODS,
    SHARE_TITLE,
    WINDOW_LABELS,
    WINDOWS,
    Series,
    series_from_columns,
)
from crowdmood_gui.ui.plots import CrowdPlot

REDRAW_INTERVAL_MS = 250  # 4 Hz
CONFUSED_NOTE = "CONFUSED stays at 0 with the local model: it has no such class."
VIEW_LABELS = {"mean": "Mean of people", "share": "Share of people"}

# Column layout of a stored row.
_COLUMNS = ("faces", "tracks", "analysed", "rated", *EMOTIONS, *(f"share_{k}" for k in EMOTIONS))
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
        shares = row.shares or {}
        values = [float(row.faces), float(row.tracks), float(row.analysed), float(row.rated)]
        for name in EMOTIONS:
            value = emotions.get(name)
            values.append(math.nan if value is None else float(value))
        for name in EMOTIONS:
            share = shares.get(name)
            values.append(math.nan if share is None else float(share))
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

    def window(self, period_s: int, window_s: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rows in the last ``window_s`` seconds of ``period_s``: t (period start) and columns."""
        series = self._series.get(int(period_s))
        if series is None or len(series) == 0:
            empty = np.empty(0)
            return empty, {name: empty for name in _COLUMNS}
        t = series.t
        start = int(np.searchsorted(t, t[-1] + period_s - window_s, side="left"))
        x = t[start:].copy()
        values = series.values[start:]
        return x, {name: values[:, j].copy() for name, j in _COL.items()}


    def series(self, period_s: int, window_s: float) -> Series:
        """The last ``window_s`` seconds of ``period_s`` as the one series model."""
        t, columns = self.window(period_s, window_s)
        return series_from_columns(period_s, t, columns)


class EmotionChart(QWidget):
    """Period/window/view selectors, then the legend, the crowd lines and the people count.

    Signals: ``period_changed(int seconds)``, ``window_changed(int seconds)``,
    ``view_changed(str)``, ``line_toggled(str emotion, bool visible)``.
    """

    period_changed = Signal(int)
    window_changed = Signal(int)
    view_changed = Signal(str)
    line_toggled = Signal(str, bool)

    def __init__(
        self,
        store: TimelineStore,
        parent: QWidget | None = None,
        *,
        period_s: int = 1,
        window_s: int = 300,
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
        self.view_box = QComboBox()
        for view, label in VIEW_LABELS.items():
            self.view_box.addItem(label, view)
        self.view_box.setToolTip("Lines: the mean of each person's current estimate; "
                                 "area: the share of people by their dominant expression")
        self.period_box.currentIndexChanged.connect(lambda i: self.set_period(PERIODS[i]))
        self.window_box.currentIndexChanged.connect(lambda i: self.set_window(WINDOWS[i]))
        self.view_box.currentIndexChanged.connect(lambda i: self.set_view(self.view_box.itemData(i)))
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel(CROWD_TITLE)
        self.title.setObjectName("chartTitle")
        controls.addWidget(self.title)
        controls.addStretch(1)
        controls.addWidget(self.view_box)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Period"))
        controls.addWidget(self.period_box)
        controls.addSpacing(8)
        controls.addWidget(QLabel("Window"))
        controls.addWidget(self.window_box)

        self.plots = CrowdPlot(self)
        self.plots.line_toggled.connect(self._on_line_toggled)
        self.legend = self.plots.legend
        self.plot = self.plots.plot
        self.faces_plot = self.plots.people_plot
        self.faces_curve = self.plots.people_curve

        # Notes under the chart.
        self.confused_note = QLabel(CONFUSED_NOTE)
        self.confused_note.setObjectName("chartNote")
        self.disclaimer = QLabel(EXPRESSION_DISCLAIMER)
        self.disclaimer.setObjectName("disclaimer")
        self.disclaimer.setWordWrap(True)
        for label in (self.confused_note, self.disclaimer):
            label.setStyleSheet("color: #9A9A9A;")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.plots, 1)
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

    @property
    def view(self) -> str:
        return self.plots.view

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

    def set_view(self, view: str) -> None:
        if view == self.plots.view:
            return
        self.plots.set_view(view)
        self.view_box.blockSignals(True)
        self.view_box.setCurrentIndex(list(VIEW_LABELS).index(view))
        self.view_box.blockSignals(False)
        self.title.setText(CROWD_TITLE if view == "mean" else SHARE_TITLE)
        self.redraw()
        self.view_changed.emit(view)

    def set_local_backend(self, local: bool) -> None:
        """Show the CONFUSED note only when the local model (which lacks it) is used."""
        self.confused_note.setVisible(local)

    def curve(self, emotion: str):
        return self.plots.curve(emotion)

    def line_visible(self, emotion: str) -> bool:
        return self.plots.line_visible(emotion)

    def set_line_visible(self, emotion: str, visible: bool) -> None:
        self.plots.set_line_visible(emotion, visible)

    def legend_sample(self, emotion: str):
        """The legend's sample item for ``emotion`` (clicking it toggles the line)."""
        return self.plots.legend_sample(emotion)

    def curve_data(self, emotion: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """What a line currently shows (x, y); ``None`` for the people count."""
        return self.plots.curve_data(emotion)

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
        series = self.store.series(period, window)
        self.plots.set_series(series)
        end = float(series.t[-1] + period) if len(series) else 0.0
        if self._live_edge is not None and len(series):
            end = max(end, self._live_edge)
        start = max(0.0, end - window)
        self.plots.set_x_range(start, max(end, start + min(window, 60.0)))
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
        return (self.store.version, self._period_s, self._window_s, self.plots.view, edge)

    def _on_line_toggled(self, emotion: str, visible: bool) -> None:
        self.line_toggled.emit(emotion, visible)
