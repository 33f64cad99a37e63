"""One series model and one set of rules for every chart (live, kiosk, replay, PNG, HTML).

- **Periods**: :data:`PERIODS`, labelled by :data:`PERIOD_LABELS`; chart windows likewise.
- **Where a point sits**: at the middle of its period (:func:`point_x`): the value of a
  period describes the whole period, and a 60-s point drawn at its start would lead the
  1-s line by half a minute.
- **When a line breaks**: only where nobody was in view: a period with no person, or a
  period with no row at all (nothing was observed then). A period with people in view but
  none rated yet is skipped over, not broken (:func:`broken_line`).
- **Colours**: :data:`EMOTION_COLOURS` (``core/emotions.py``) on :data:`CHART_BACKGROUND`.

Qt-free: the pyqtgraph builder (``ui/plots.py``) and the matplotlib exports
(``core/summary.py``) both draw :class:`Series` built here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS
from crowdmood_gui.core.events import TimelineRow

PERIODS: tuple[int, ...] = (1, 10, 60)
PERIOD_LABELS: dict[int, str] = {1: "1 s", 10: "10 s", 60: "1 min"}
WINDOWS: tuple[int, ...] = (300, 1800, 7200)
WINDOW_LABELS: dict[int, str] = {300: "5 min", 1800: "30 min", 7200: "2 h"}

CHART_BACKGROUND = "#161616"
LEGEND_TEXT = "#DDDDDD"
FACES_COLOUR = "#9A9A9A"
GRID_COLOUR = "#2E2E2E"

# What the lines show, said the same way on every chart.
CROWD_TITLE = "Crowd expressions (mean of each person's current estimate, %)"
SHARE_TITLE = "Share of people by dominant expression (%)"
VIEWS = ("mean", "share")


def point_x(t: np.ndarray | float, period_s: float) -> np.ndarray | float:
    """Where the point of the period starting at ``t`` sits: its middle."""
    return t + period_s / 2.0


@dataclass(frozen=True)
class Series:
    """Rows of one period as columns: ``t`` (period start), ``people``, ``faces``, and per
    expression the crowd mean (0..100) and the share (0..100 %), NaN where no value."""

    period_s: float
    t: np.ndarray
    people: np.ndarray
    faces: np.ndarray
    means: dict[str, np.ndarray]
    shares: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.t)

    @property
    def x(self) -> np.ndarray:
        return point_x(self.t, self.period_s)

    def values(self, emotion: str, view: str = "mean") -> np.ndarray:
        return (self.means if view == "mean" else self.shares)[emotion]

    def line(self, emotion: str, view: str = "mean") -> tuple[np.ndarray, np.ndarray]:
        """The line to draw: (x, y) with NaN where it breaks."""
        return broken_line(self.t, self.people, self.values(emotion, view), self.period_s)

    def stacked(self) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """The share view as a stacked area: (emotion, x, bottom, top) per expression, in
        :data:`EMOTIONS` order, broken like the lines."""
        out = []
        bottom = np.zeros(len(self.t))
        for name in EMOTIONS:
            share = self.shares[name]
            top = bottom + np.nan_to_num(share, nan=0.0)
            valid = np.isfinite(share)
            x, lo = broken_line(self.t, self.people, np.where(valid, bottom, np.nan), self.period_s)
            _, hi = broken_line(self.t, self.people, np.where(valid, top, np.nan), self.period_s)
            out.append((name, x, lo, hi))
            bottom = top
        return out

    def at(self, t: float) -> dict[str, float] | None:
        """The values of the period holding ``t`` (what a cursor at ``t`` reads)."""
        if not len(self.t):
            return None
        i = int(np.searchsorted(self.t, t, side="right")) - 1
        if i < 0 or t >= self.t[i] + self.period_s:
            return None
        return {name: float(self.means[name][i]) for name in EMOTIONS}


def broken_line(t: np.ndarray, people: np.ndarray, y: np.ndarray, period_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Points at the middle of their period; NaN (a break) where nobody was in view or a
    period is missing; periods with people but no value are skipped (the line joins over them)."""
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    people = np.asarray(people, dtype=float)
    if not len(t):
        return np.empty(0), np.empty(0)
    nobody = ~(people > 0)
    keep = np.isfinite(y) | nobody
    # A missing period before row i: nobody was observed there.
    missing = np.zeros(len(t), dtype=bool)
    missing[1:] = np.diff(t) > period_s * 1.5
    x = point_x(t, period_s)
    ys = np.where(nobody, np.nan, y)
    positions = np.cumsum(keep) - keep  # index in the kept arrays of each row
    gap_rows = np.nonzero(missing)[0]
    xk, yk = x[keep], ys[keep]
    if len(gap_rows):
        xk = np.insert(xk, positions[gap_rows], t[gap_rows] - period_s / 2.0)
        yk = np.insert(yk, positions[gap_rows], np.nan)
    return xk, yk


def series_from_rows(rows: Sequence[TimelineRow], period_s: float | None = None) -> Series:
    """Timeline rows (one period, any order) -> :class:`Series`."""
    rows = sorted(rows, key=lambda r: r.t)
    period = float(period_s if period_s is not None else (rows[0].period_s if rows else 1))
    n = len(rows)
    t = np.fromiter((r.t for r in rows), float, n)
    people = np.fromiter((r.tracks for r in rows), float, n)
    faces = np.fromiter((r.faces for r in rows), float, n)

    def column(getter) -> np.ndarray:
        return np.fromiter((np.nan if (v := getter(r)) is None else float(v) for r in rows), float, n)

    means = {k: column(lambda r, k=k: (r.emotions or {}).get(k)) for k in EMOTIONS}
    shares = {k: column(lambda r, k=k: _pct((r.shares or {}).get(k))) for k in EMOTIONS}
    return Series(period, t, people, faces, means, shares)


def _pct(share: float | None) -> float | None:
    return None if share is None else share * 100.0


def series_from_columns(period_s: float, t: np.ndarray, columns: dict[str, np.ndarray]) -> Series:
    """From the live chart store's columns (``tracks``, ``faces``, emotions, ``share_<E>``)."""
    return Series(
        float(period_s),
        t,
        columns["tracks"],
        columns["faces"],
        {k: columns[k] for k in EMOTIONS},
        {k: columns[f"share_{k}"] * 100.0 for k in EMOTIONS},
    )


def chart_period(duration_s: float, available: Iterable[int] = PERIODS, max_points: int = 1500) -> int:
    """The shortest period that keeps a whole-session chart under ``max_points`` points."""
    periods = sorted(available)
    for period in periods:
        if duration_s / period <= max_points:
            return period
    return periods[-1]


# --- colour rules (WCAG 2.x) -------------------------------------------------------------


def relative_luminance(colour: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    hexa = colour.lstrip("#")
    r, g, b = (channel(int(hexa[i : i + 2], 16) / 255.0) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


__all__ = [
    "CHART_BACKGROUND",
    "EMOTION_COLOURS",
    "PERIODS",
    "PERIOD_LABELS",
    "Series",
    "broken_line",
    "chart_period",
    "contrast_ratio",
    "point_x",
    "series_from_rows",
]
