"""The one pyqtgraph plot builder for the live chart, the kiosk and replay.

:class:`CrowdPlot` draws a :class:`~crowdmood_gui.core.series.Series` (points, breaks and
colours by the rules of ``core/series.py``): a legend row with each label in its line's
colour (click: hide/show the line), the crowd lines (or, in the share view, the share of
people by dominant expression as a stacked area), and the people in view below.

Cost (field notes §5): pens wider than 1 px cost ~5x per point in Qt's raster engine; the
operator's chart and replay use 1-px pens with ``clipToView`` and downsampling, the kiosk
wide pens over its few 10-s points (``bench/bench_crowd_line.py`` measures both).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS
from crowdmood_gui.core.series import (
    CHART_BACKGROUND,
    FACES_COLOUR,
    GRID_COLOUR,
    LEGEND_TEXT,
    VIEWS,
    broken_line,
    Series,
)
from crowdmood_gui.ui.video_view import scaled_font


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
    """Whole numbers only (a number of people has no 0.5)."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph naming)
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size) if spacing >= 1]
        if not levels:
            levels = [(1.0, [float(v) for v in range(math.ceil(minVal), math.floor(maxVal) + 1)])]
        return levels


class CrowdPlot(QWidget):
    """Legend, crowd lines or share area, people in view. Signals: ``line_toggled(str, bool)``.

    ``pen_width``: 1 for long histories; wider only for few points (the kiosk).
    ``font_scale``: legend and axis text. ``view_box``: a factory for the main plot's and
    the people plot's view boxes (replay's click-to-seek)."""

    line_toggled = Signal(str, bool)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        pen_width: float = 1.0,
        font_scale: float = 1.0,
        legend_columns: int = 4,
        view_box: Callable[[], pg.ViewBox] | None = None,
        antialias: bool = False,
        people_label: str = "people",
    ) -> None:
        super().__init__(parent)
        self._view = "mean"
        self._series: Series | None = None
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(CHART_BACKGROUND)
        self.graphics.ci.setSpacing(2)
        label_px = max(9, round(10 * font_scale))
        self.legend = pg.LegendItem(colCount=legend_columns, labelTextColor=LEGEND_TEXT, verSpacing=-4,
                                    horSpacing=round(12 * font_scale), labelTextSize=f"{label_px}pt")
        self.graphics.addItem(self.legend, row=0, col=0)
        main_box = view_box() if view_box else None
        people_box = view_box() if view_box else None
        self.plot = self.graphics.addPlot(row=1, col=0, viewBox=main_box, axisItems={"bottom": SessionTimeAxis("bottom")})
        self.people_plot = self.graphics.addPlot(
            row=2, col=0, viewBox=people_box, axisItems={"bottom": SessionTimeAxis("bottom"), "left": CountAxis("left")}
        )
        self.graphics.ci.layout.setRowStretchFactor(1, 4)
        self.graphics.ci.layout.setRowStretchFactor(2, 1)
        self.people_plot.setXLink(self.plot)
        axis_width = round(44 * max(1.0, font_scale * 0.9))
        for plot in (self.plot, self.people_plot):
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.getAxis("left").setWidth(axis_width)
            if font_scale != 1.0:
                font = scaled_font(self.font(), font_scale)
                for axis in ("left", "bottom"):
                    plot.getAxis(axis).setTickFont(font)
        self.plot.setYRange(0, 100, padding=0.02)
        # Reference lines instead of showGrid: the axis grid repaints at ~4 ms per axis.
        for level in (25, 50, 75, 100):
            self.plot.addItem(pg.InfiniteLine(pos=level, angle=0, movable=False, pen=pg.mkPen(GRID_COLOUR, width=1)))
        self.plot.setLabel("left", "%")
        self.plot.getAxis("bottom").setStyle(showValues=False)
        self.people_plot.setLabel("left", people_label)

        self._curves: dict[str, pg.PlotDataItem] = {}
        for name in EMOTIONS:
            curve = self.plot.plot([], [], pen=pg.mkPen(EMOTION_COLOURS[name], width=pen_width), connect="finite",
                                   antialias=antialias)
            curve.setClipToView(True)
            curve.setDownsampling(auto=True, method="peak")
            curve.setZValue(10)
            self._curves[name] = curve
            self.legend.addItem(curve, name.title())
            self.legend.items[-1][1].setText(name.title(), color=EMOTION_COLOURS[name], size=f"{label_px}pt")
        # The share view: each band filled from 0 to its stacked top, drawn from the top band
        # down so that each lower band covers the part of the one above it that is not its own.
        self._bands: dict[str, pg.PlotDataItem] = {}
        for name in reversed(EMOTIONS):
            colour = pg.mkColor(EMOTION_COLOURS[name])
            band = self.plot.plot([], [], pen=None, fillLevel=0.0, brush=pg.mkBrush(colour), connect="finite")
            band.setVisible(False)
            self._bands[name] = band
        self.people_curve = self.people_plot.plot(
            [], [], pen=pg.mkPen(FACES_COLOUR, width=1), fillLevel=0, brush=pg.mkBrush(154, 154, 154, 60)
        )
        self.people_curve.setClipToView(True)
        self.people_curve.setDownsampling(auto=True, method="peak")
        self.legend.sigSampleClicked.connect(self._on_legend_clicked)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)

    # --- drawing ---------------------------------------------------------------------

    @property
    def view(self) -> str:
        return self._view

    def set_view(self, view: str) -> None:
        """``"mean"``: one line per expression; ``"share"``: the stacked share of people."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
        if view == self._view:
            return
        self._view = view
        for curve in self._curves.values():
            curve.setVisible(view == "mean" and not getattr(curve, "_hidden_by_user", False))
        for band in self._bands.values():
            band.setVisible(view == "share")
        if self._series is not None:
            self.set_series(self._series)

    def set_series(self, series: Series) -> None:
        self._series = series
        if self._view == "mean":
            for name, curve in self._curves.items():
                if not curve.isVisible():
                    continue  # redrawn when shown again
                x, y = series.line(name, "mean")
                curve.setData(x, y, connect="finite")
        else:
            for name, x, _low, high in series.stacked():
                self._bands[name].setData(x, high, connect="finite")
        # A missing period means no picture (lost signal, pause): a gap, not the last count.
        px, py = broken_line(series.t, np.ones(len(series)), series.people, series.period_s)
        self.people_curve.setData(px, py, connect="finite")
        top = float(np.nanmax(series.people)) if len(series) else 0.0
        self.people_plot.setYRange(0, max(1.0, top) * 1.15, padding=0.0)

    def set_x_range(self, start: float, end: float, padding: float = 0.0) -> None:
        self.plot.setXRange(start, end, padding=padding)

    # --- lines and legend ------------------------------------------------------------

    def curve(self, emotion: str) -> pg.PlotDataItem:
        return self._curves[emotion]

    def band(self, emotion: str) -> pg.PlotDataItem:
        return self._bands[emotion]

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

    def legend_label_colour(self, emotion: str) -> str:
        for sample, label in self.legend.items:
            if sample.item is self._curves[emotion]:
                return pg.mkColor(label.opts["color"]).name().upper()
        raise KeyError(emotion)

    def curve_data(self, emotion: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """What a line currently shows (x, y); ``None`` for the people count."""
        curve = self.people_curve if emotion is None else self._curves[emotion]
        x, y = curve.getOriginalDataset()
        if x is None:
            return np.empty(0), np.empty(0)
        return np.asarray(x), np.asarray(y)

    def _on_legend_clicked(self, item) -> None:
        for name, curve in self._curves.items():
            if curve is item:
                curve._hidden_by_user = not curve.isVisible()
                self._line_visibility_changed(name, curve.isVisible())
                return

    def _line_visibility_changed(self, emotion: str, visible: bool) -> None:
        self._curves[emotion]._hidden_by_user = not visible
        if visible and self._series is not None:
            x, y = self._series.line(emotion, "mean")
            self._curves[emotion].setData(x, y, connect="finite")
        self.line_toggled.emit(emotion, visible)
