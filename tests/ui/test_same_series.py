"""The same series, rendered by the live chart, the kiosk, replay and the export, gives the
same values at the same times (one series model, one set of rules)."""

from __future__ import annotations

import numpy as np
import pytest

from crowdmood_gui.core.aggregation import TimelineAggregator
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.summary import crowd_figure
from crowdmood_gui.ui.chart import EmotionChart, TimelineStore
from crowdmood_gui.ui.kiosk import KioskChartWindow
from crowdmood_gui.ui.replay import ReplayChart

from fakes import make_record


def _session_rows():
    """Two minutes: three people, one leaves at 0:40 and nobody is in view 1:00-1:10."""
    agg = TimelineAggregator()
    moods = {1: "HAPPY", 2: "CALM", 3: "SURPRISED"}
    for step in range(1200):
        t = step / 10
        ids = [] if 60 <= t < 70 else [1, 2] + ([3] if t < 40 else [])
        agg.observe_frame(t, len(ids), ids)
        for person in ids:
            if step % 20 == person * 5:
                mood = moods[person] if t < 80 else "SAD"
                agg.add_record(t, make_record(person, mood))
    return {p: agg.rows(p) for p in agg.periods}


def _same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], equal_nan=True)


def _exported(fig, emotion):
    (line,) = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == emotion]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


@pytest.mark.parametrize("period", [1, 10])
def test_live_replay_kiosk_and_export_draw_the_same_points(qtbot, period):
    rows = _session_rows()
    store = TimelineStore()
    for p, period_rows in rows.items():
        store.add(p, period_rows)
    live = EmotionChart(store, period_s=period, window_s=300)
    replay = ReplayChart()
    kiosk = KioskChartWindow(store, period_s=period, window_s=300)
    for widget in (live, replay, kiosk):
        qtbot.addWidget(widget)
    live.redraw()
    replay.set_rows(rows[period], duration_s=120)
    figure = crowd_figure(rows[period])
    for emotion in EMOTIONS:
        drawn = live.curve_data(emotion)
        _same(drawn, replay.curve_data(emotion))
        _same(drawn, _exported(figure, emotion))
        if period == 10:
            _same(drawn, kiosk.plots.curve_data(emotion))
    x, y = live.curve_data("HAPPY")
    # The line breaks exactly once: nobody in view from 1:00 to 1:10.
    gap = np.isnan(y)
    runs = np.count_nonzero(gap[1:] & ~gap[:-1]) + int(gap[0])
    assert runs == 1 and 60 <= x[gap].min() and x[gap].max() <= 70
    # Mid-period points.
    assert x[0] == pytest.approx(period / 2)
    _same(live.curve_data(None), replay.curve_data(None))
