"""One series model: point positions, line breaks, periods, and the palette's contrast."""

import itertools
import math

import numpy as np
import pytest

from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.series import (
    CHART_BACKGROUND,
    PERIOD_LABELS,
    PERIODS,
    broken_line,
    contrast_ratio,
    point_x,
    series_from_rows,
)


def row(t, people, happy, period=1):
    emotions = {k: (happy if k == "HAPPY" else 0.0) for k in EMOTIONS} if happy is not None else dict.fromkeys(EMOTIONS)
    return TimelineRow(t=t, period_s=period, faces=people, tracks=people, analysed=0, emotions=emotions,
                       rated=people if happy is not None else 0)


def test_a_point_sits_in_the_middle_of_its_period():
    assert point_x(10.0, 10) == 15.0
    series = series_from_rows([row(0, 1, 50, period=60), row(60, 1, 60, period=60)])
    assert list(series.line("HAPPY")[0]) == [30.0, 90.0]


def test_the_line_breaks_only_where_nobody_is_in_view():
    rows = [
        row(0, 2, 40),
        row(1, 2, None),  # people in view, none rated yet: joined over
        row(2, 2, 50),
        row(3, 0, None),  # nobody in view: a break
        row(4, 1, 60),
        # 5 and 6 missing: nothing observed then, a break
        row(7, 1, 70),
    ]
    x, y = series_from_rows(rows).line("HAPPY")
    assert list(x[:2]) == [0.5, 2.5] and list(y[:2]) == [40, 50]
    assert math.isnan(y[2]) and x[2] == 3.5
    assert y[3] == 60
    assert math.isnan(y[4])
    assert x[-1] == 7.5 and y[-1] == 70
    finite_runs = np.split(y, np.nonzero(np.isnan(y))[0])
    assert [len([v for v in run if np.isfinite(v)]) for run in finite_runs] == [2, 1, 1]


def test_broken_line_of_nothing_is_empty():
    x, y = broken_line(np.empty(0), np.empty(0), np.empty(0), 1)
    assert len(x) == 0 and len(y) == 0


def test_the_stacked_share_view_adds_up_to_100():
    shares = {k: 0.0 for k in EMOTIONS} | {"HAPPY": 0.5, "SAD": 0.25, "CALM": 0.25}
    rows = [TimelineRow(t=0, period_s=1, faces=4, tracks=4, analysed=0, rated=4,
                        emotions={k: 1.0 for k in EMOTIONS}, shares=shares)]
    bands = {name: (low[0], high[0]) for name, _x, low, high in series_from_rows(rows).stacked()}
    assert bands["HAPPY"] == (0, 50) and bands["SAD"] == (50, 75) and bands["CALM"] == (75, 100)
    assert bands["FEAR"] == (100, 100)


def test_one_list_of_periods_with_one_label_each():
    assert PERIODS == (1, 10, 60)
    assert [PERIOD_LABELS[p] for p in PERIODS] == ["1 s", "10 s", "1 min"]


def test_legend_text_contrast_is_at_least_4_5_on_the_chart_background():
    # WCAG 2.x: (L1 + 0.05) / (L2 + 0.05) with the relative luminance of sRGB.
    assert contrast_ratio("#FFFFFF", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#7F3C8D", CHART_BACKGROUND) == pytest.approx(2.53, abs=0.01)  # the old Fear
    for kind, colour in EMOTION_COLOURS.items():
        assert contrast_ratio(colour, CHART_BACKGROUND) >= 4.5, kind


# Colour-vision deficiency simulation: Machado et al. 2009, severity 1.0, on linear RGB.
_CVD = {
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216), (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413), (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779), (-0.078411, 0.930809, 0.147602), (0.004733, 0.691367, 0.303900)),
}


def _linear(colour):
    def channel(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return [channel(int(colour.lstrip("#")[i : i + 2], 16) / 255) for i in (0, 2, 4)]


def _lab(rgb):
    r, g, b = (min(max(c, 0.0), 1.0) for c in rgb)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))


@pytest.mark.parametrize("vision", [None, *_CVD])
def test_every_pair_of_expressions_stays_apart_for_colour_blind_viewers(vision):
    def seen(colour):
        rgb = _linear(colour)
        if vision is not None:
            rgb = [sum(m * c for m, c in zip(line, rgb)) for line in _CVD[vision]]
        return _lab(rgb)

    worst = min(
        (math.dist(seen(EMOTION_COLOURS[a]), seen(EMOTION_COLOURS[b])), a, b)
        for a, b in itertools.combinations(EMOTIONS, 2)
    )
    # CIELAB distance. The old palette failed this: Confused/Calm 13.7 and Happy/Surprised
    # 17.0 (orange and yellow) under deuteranopia; this one's worst pair is 21.
    assert worst[0] >= 20, worst
