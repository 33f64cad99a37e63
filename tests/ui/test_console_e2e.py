"""The window on the real pipeline and the real demo video (local models)."""

from __future__ import annotations

import threading
import time

import pytest

from crowdmood_gui.core.config import DEMO_VIDEO
from crowdmood_gui.ui.main_window import IDLE, RUNNING, default_session_factory

DEMO = DEMO_VIDEO

pytestmark = pytest.mark.slow


@pytest.fixture
def real_window(make_window):
    return make_window(sessions=default_session_factory)


def test_demo_video_boxes_chart_period_and_clean_stop(real_window, qtbot, _isolated_home):
    window = real_window
    assert window.open_source(str(DEMO), loop=True)
    qtbot.waitUntil(lambda: window.state == RUNNING, timeout=5000)

    # A face is boxed, with its track id, then coloured by its expression, and is on the
    # chart soon after (target 1.5 s; the bound here leaves room for a loaded CI machine).
    qtbot.waitUntil(lambda: len(window.video.last_boxes) >= 1, timeout=5000)
    boxed = time.monotonic()
    qtbot.waitUntil(lambda: len(window.chart.curve_data("HAPPY")[0]) >= 1, timeout=8000)
    assert time.monotonic() - boxed < 3.0
    qtbot.waitUntil(lambda: any(b.dominant for b in window.video.last_boxes), timeout=8000)
    box = window.video.last_boxes[0]
    assert box.track_id >= 1 and box.label.startswith(f"#{box.track_id}")
    assert box.x2 > box.x1 and box.y2 > box.y1

    # The chart gains points, and switching period redraws from received rows.
    qtbot.waitUntil(lambda: len(window.chart.curve_data(None)[0]) >= 2, timeout=8000)
    qtbot.waitUntil(lambda: len(window.chart.curve_data("HAPPY")[0]) >= 1, timeout=8000)
    window.chart.set_period(10)
    x, _ = window.chart.curve_data(None)
    assert len(x) >= 1 and all(t % 10 == 5 for t in x)  # 10-s points, each mid-period
    window.chart.set_period(1)

    qtbot.waitUntil(lambda: window.faces.count() >= 1, timeout=8000)
    # The crowd demo: 17 to 19 faces in every frame (crowdmood_gui/resources/demo/build_demo.py --check).
    qtbot.waitUntil(lambda: int(window.status_bar.texts()["faces"].split()[1]) >= 12, timeout=3000)
    assert window.video.latency.count > 10

    # Closing stops every pipeline thread within 2 s and every record is in the store.
    run = window.session_run
    with qtbot.waitSignal(window.closed, timeout=5000):
        started = time.monotonic()
        window.quit_without_asking()  # a plain close() asks first while a session runs
    assert time.monotonic() - started < 2.0
    assert run.wait(0)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("crowdmood-") and t.is_alive()]
    records = window.measurements()["records_analysed"]
    assert records >= 1
    store = run.session.open_store()
    try:
        assert store.record_count() == records
    finally:
        store.close()


def test_a_missing_file_shows_an_error_and_the_window_keeps_working(real_window, qtbot, tmp_path):
    window = real_window
    window.open_source(str(tmp_path / "nope.mp4"))
    qtbot.waitUntil(lambda: window.message_box is not None and window.message_box.isVisible(), timeout=5000)
    assert "nope.mp4" in window.message_box.text()
    qtbot.waitUntil(lambda: window.state == IDLE, timeout=5000)
    window.message_box.close()
    window.open_source(str(DEMO))
    qtbot.waitUntil(lambda: window.video.frames_painted > 5, timeout=5000)


def test_stop_button_returns_within_2_s_and_the_session_is_closed(real_window, qtbot):
    from crowdmood_gui.core.sessions import is_locked

    window = real_window
    window.open_source(str(DEMO))
    qtbot.waitUntil(lambda: window.video.frames_painted > 10, timeout=5000)
    run = window.session_run
    started = time.monotonic()
    window.act_stop.trigger()
    qtbot.waitUntil(lambda: window.state == IDLE, timeout=3000)
    assert time.monotonic() - started < 2.0
    assert not is_locked(run.session)
