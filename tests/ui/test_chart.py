"""The chart: rows kept per period, redraw from data already received, legend toggles,
the share view; the kiosk's big bars."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import Qt

from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.ui.chart import EmotionChart, TimelineStore

from fakes import make_row


def rows(period, n, start=0.0, value=50.0):
    return [make_row(start + i * period, period, value=value) for i in range(n)]


def test_a_row_with_the_same_t_replaces_the_earlier_one():
    store = TimelineStore()
    store.add(1, [make_row(0, 1, value=10), make_row(1, 1, value=20)])
    store.add(1, [make_row(1, 1, value=80)])
    assert store.count(1) == 2
    assert store.row(1, 1)["HAPPY"] == 80
    assert store.row(1, 0)["HAPPY"] == 10


def test_no_face_analysed_is_nan_not_zero():
    store = TimelineStore()
    store.add(10, [TimelineRow(t=0, period_s=10, faces=1, tracks=1, analysed=0, emotions=dict.fromkeys(EMOTIONS))])
    row = store.row(10, 0)
    assert math.isnan(row["HAPPY"]) and row["faces"] == 1


def test_rows_out_of_order_are_kept_sorted():
    store = TimelineStore()
    store.add(1, [make_row(5, 1), make_row(7, 1)])
    store.add(1, [make_row(6, 1, value=99)])
    x, cols = store.window(1, 300)
    assert list(x) == [5, 6, 7]
    assert cols["HAPPY"][1] == 99


def test_window_returns_only_the_last_window_and_memory_is_bounded():
    store = TimelineStore()
    store.add(1, rows(1, 9000))  # 2.5 h of 1-s rows
    x, _ = store.window(1, 300)
    assert len(x) == 300 and x[-1] == 8999
    assert store.count(1) <= 7200 * 1.1 + 2  # pruned to the longest window (2 h)


@pytest.fixture
def chart(qtbot):
    store = TimelineStore()
    widget = EmotionChart(store)
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_the_chart_gains_points_on_its_timer_not_per_event(chart, qtbot):
    before = chart.redraw_count
    for i in range(20):
        chart.store.add(1, [make_row(i, 1, value=40)])
    assert chart.redraw_count == before  # no redraw per event
    qtbot.waitUntil(lambda: len(chart.curve_data("HAPPY")[0]) == 20, timeout=2000)
    assert chart.redraw_count <= before + 2
    x, y = chart.curve_data("HAPPY")
    assert y[0] == pytest.approx(40)
    fx, fy = chart.curve_data(None)
    assert len(fx) == 20 and fy[0] == 2  # faces count


def test_switching_period_redraws_that_periods_series(chart, qtbot):
    chart.store.add(1, rows(1, 30, value=10))
    chart.store.add(10, rows(10, 3, value=70))
    chart.store.add(60, rows(60, 1, value=90))
    chart.redraw()
    assert chart.curve_data("HAPPY")[1][0] == pytest.approx(10)
    with qtbot.waitSignal(chart.period_changed):
        chart.period_box.setCurrentIndex(1)  # the user picks "10 s"
    assert chart.period_s == 10
    x, y = chart.curve_data("HAPPY")
    assert list(x) == [5, 15, 25] and y[0] == pytest.approx(70)  # each point mid-period
    chart.set_period(60)
    assert list(chart.curve_data("HAPPY")[1]) == [90]


def test_window_selector_limits_the_history(chart):
    chart.store.add(10, rows(10, 360))  # one hour
    chart.set_period(10)
    assert len(chart.curve_data(None)[0]) == 30  # 5 min
    chart.window_box.setCurrentIndex(1)  # 30 min
    assert chart.window_s == 1800
    assert len(chart.curve_data(None)[0]) == 180


class _Click:
    def __init__(self):
        self.accepted = False

    def button(self):
        return Qt.MouseButton.LeftButton

    def accept(self):
        self.accepted = True


def test_clicking_a_legend_entry_toggles_its_line(chart, qtbot):
    sample = chart.legend_sample("SAD")
    with qtbot.waitSignal(chart.line_toggled) as blocker:
        sample.mouseClickEvent(_Click())
    assert blocker.args == ["SAD", False]
    assert not chart.line_visible("SAD")
    assert chart.line_visible("HAPPY")
    chart.store.add(1, rows(1, 5, value=33))
    chart.redraw()
    sample.mouseClickEvent(_Click())
    assert chart.line_visible("SAD")
    assert len(chart.curve_data("SAD")[0]) == 5  # redrawn when shown again


def test_lines_use_1px_pens_and_clip_to_view(chart):
    for name in EMOTIONS:
        curve = chart.curve(name)
        assert curve.opts["pen"].width() <= 1
        assert curve.opts["clipToView"] and curve.opts["autoDownsample"]


def test_confused_note_only_for_the_local_backend(chart):
    chart.set_local_backend(True)
    assert chart.confused_note.isVisible()
    chart.set_local_backend(False)
    assert not chart.confused_note.isVisible()
    assert "not a person's inner feelings" in chart.disclaimer.text()


def test_the_share_view_stacks_the_shares_of_people(chart, qtbot):
    shares = {k: 0.0 for k in EMOTIONS} | {"HAPPY": 0.25, "CALM": 0.75}
    row = TimelineRow(t=0, period_s=1, faces=4, tracks=4, analysed=1, rated=4,
                      emotions={k: 10.0 for k in EMOTIONS}, shares=shares)
    chart.store.add(1, [row, TimelineRow(t=1, period_s=1, faces=4, tracks=4, analysed=0, rated=4,
                                         emotions={k: 10.0 for k in EMOTIONS}, shares=shares)])
    with qtbot.waitSignal(chart.view_changed):
        chart.view_box.setCurrentIndex(1)  # "Share of people"
    assert chart.view == "share" and not chart.line_visible("HAPPY")
    _, happy_top = chart.plots.band("HAPPY").getOriginalDataset()
    _, calm_top = chart.plots.band("CALM").getOriginalDataset()
    _, fear_top = chart.plots.band("FEAR").getOriginalDataset()
    assert happy_top[0] == pytest.approx(25) and calm_top[0] == pytest.approx(100) and fear_top[0] == pytest.approx(100)
    chart.set_view("mean")
    assert chart.line_visible("HAPPY") and not chart.plots.band("HAPPY").isVisible()


def test_kiosk_has_thick_lines_a_large_legend_now_bars_and_no_controls(qtbot):
    from PySide6.QtWidgets import QComboBox

    from crowdmood_gui.ui.kiosk import KioskChartWindow

    store = TimelineStore()
    store.add(1, [make_row(i, 1, value=40 + i) for i in range(30)])
    store.add(10, [make_row(i * 10, 10, value=55) for i in range(3)])
    kiosk = KioskChartWindow(store, period_s=1)
    qtbot.addWidget(kiosk)
    kiosk.show()
    qtbot.waitExposed(kiosk)
    assert kiosk.period_s == 10  # never the noisy 1-s points on the audience screen
    assert kiosk.plots.curve("HAPPY").opts["pen"].width() >= 4
    assert kiosk.plots.curve_data("HAPPY")[1][0] == pytest.approx(55)
    assert kiosk.now_bars.values["HAPPY"] == pytest.approx(69)  # the newest second
    assert not kiosk.findChildren(QComboBox)
    label = kiosk.plots.legend.items[0][1]
    assert float(label.opts["size"].rstrip("pt")) >= 20


def test_legend_labels_are_drawn_in_the_palette_on_the_chart_background(chart):
    """The contrast test (tests/core/test_series.py) holds for what is actually drawn."""
    from crowdmood_gui.core.emotions import EMOTION_COLOURS
    from crowdmood_gui.core.series import CHART_BACKGROUND, contrast_ratio

    assert chart.plots.graphics.backgroundBrush().color().name().upper() == CHART_BACKGROUND.upper()
    for kind in EMOTIONS:
        drawn = chart.plots.legend_label_colour(kind)
        assert drawn == EMOTION_COLOURS[kind]
        assert contrast_ratio(drawn, CHART_BACKGROUND) >= 4.5
