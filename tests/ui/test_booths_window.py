"""The all-booths window: small multiples from a poll in the background, the all-booths
line, a click opens the booth's full chart, a slow or failing account never blocks it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from botocore.exceptions import ClientError
from PySide6.QtCore import QPoint, Qt

from crowdmood_gui.core.aws.booths import BoothsMonitor, BoothsSnapshot, BoothStatus
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.ui.booths_window import BoothsWindow

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _line(happy: float, points: int = 6) -> list[TimelineRow]:
    start = NOW.timestamp() - 60
    emotions = {e: 0.0 for e in EMOTIONS} | {"HAPPY": happy}
    return [TimelineRow(t=start + 10 * i, period_s=10, faces=1, tracks=1, analysed=1, emotions=dict(emotions)) for i in range(points)]


def _booth(camera, state, happy, **kw) -> BoothStatus:
    base = dict(camera=camera, session="expo", state=state, last_beat=NOW - timedelta(seconds=5), beat_age_s=5.0,
                frames_per_s=14.0, faces_in_view=2, spool_depth=0, seconds_since_upload=3.0, duplicate=False,
                line=_line(happy))
    base.update(kw)
    return BoothStatus(**base)


class FakeMonitor:
    window_s = 900.0

    def __init__(self, snapshots, gate: threading.Event | None = None):
        self.snapshots = list(snapshots)
        self.gate = gate
        self.polls = 0

    def poll(self):
        self.polls += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        item = self.snapshots[min(self.polls, len(self.snapshots)) - 1]
        if isinstance(item, Exception):
            raise item
        return item


def _snapshot(*booths) -> BoothsSnapshot:
    return BoothsSnapshot(booths=list(booths), all_booths=_line(50.0), polled_at=NOW, metric_calls=1, metrics_requested=40)


def test_tiles_and_the_all_booths_line_then_a_click_opens_the_booths_chart(qtbot):
    monitor = FakeMonitor([_snapshot(_booth("booth-a", "live", 80.0), _booth("booth-b", "stale", 20.0, duplicate=True))])
    window = BoothsWindow(monitor, poll_interval_s=30)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.polled, timeout=5000):
        window.start()
    assert sorted(window.tiles) == ["booth-a", "booth-b"]
    assert "live" in window.tiles["booth-a"].state.text() and "stale" in window.tiles["booth-b"].state.text()
    assert "TWO AGENTS" in window.tiles["booth-b"].state.text()
    assert "2 booth(s): 1 live, 1 stale" in window.status.text() and "1 GetMetricData call" in window.status.text()
    x, y = window.tiles["booth-a"].curves["HAPPY"].getData()
    assert len(x) == 6 and np.allclose(y, 80.0)
    _, all_y = window.all_curves["HAPPY"].getData()
    assert np.allclose(all_y, 50.0)

    tile = window.tiles["booth-b"]
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    detail = window.details["booth-b"]
    assert detail.isVisible() and "booth-b" in detail.windowTitle()
    assert detail.store.count(10) == 6
    _, ys = detail.chart.curve_data("HAPPY")
    assert np.allclose(ys[~np.isnan(ys)], 20.0)
    window.close()


def test_a_slow_poll_never_blocks_the_window_and_is_not_doubled(qtbot):
    gate = threading.Event()
    monitor = FakeMonitor([_snapshot(_booth("booth-a", "live", 10.0))], gate=gate)
    window = BoothsWindow(monitor)
    qtbot.addWidget(window)
    started = time.monotonic()
    assert window.poll_now()
    assert time.monotonic() - started < 1.0  # returned at once: the poll waits in its thread
    assert not window.poll_now()  # a second poll while the first runs is skipped
    qtbot.wait(100)  # the event loop runs while the account is slow
    assert window.tiles == {}
    with qtbot.waitSignal(window.polled, timeout=5000):
        gate.set()
    assert monitor.polls == 1 and list(window.tiles) == ["booth-a"]
    window.close()


def test_an_account_error_is_one_line_in_the_window_and_the_next_poll_recovers(qtbot):
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")
    monitor = FakeMonitor([denied, _snapshot(_booth("booth-a", "offline", 0.0, last_beat=None, beat_age_s=None))])
    window = BoothsWindow(monitor)
    qtbot.addWidget(window)
    window.poll_now()
    qtbot.waitUntil(lambda: "Cannot read the booths" in window.status.text(), timeout=5000)
    assert "AccessDenied" in window.status.text() and not window.polling
    with qtbot.waitSignal(window.polled, timeout=5000):
        window.poll_now()
    assert "offline" in window.tiles["booth-a"].state.text()
    window.close()


def test_a_booth_gone_from_the_account_loses_its_tile(qtbot):
    monitor = FakeMonitor([_snapshot(_booth("booth-a", "live", 1.0), _booth("booth-b", "live", 1.0)),
                           _snapshot(_booth("booth-a", "live", 1.0))])
    window = BoothsWindow(monitor)
    qtbot.addWidget(window)
    for _ in range(2):
        with qtbot.waitSignal(window.polled, timeout=5000):
            window.poll_now()
    assert list(window.tiles) == ["booth-a"]
    window.close()


def test_the_window_runs_on_the_real_monitor_with_moto(qtbot):
    from moto import mock_aws
    import boto3

    from crowdmood_gui.core.aws.heartbeat import HeartbeatFigures, heartbeat_datums

    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        cw.put_metric_data(Namespace="CrowdMood", MetricData=heartbeat_datums(
            HeartbeatFigures(12.0, 1, 0, 2.0), camera="booth-z", session="expo", timestamp=datetime.now(UTC)))
        window = BoothsWindow(BoothsMonitor(cw, namespace="CrowdMood"))
        qtbot.addWidget(window)
        with qtbot.waitSignal(window.polled, timeout=10000):
            window.poll_now()
        assert "live" in window.tiles["booth-z"].state.text()
        window.close()


def test_crowdmood_booths_gui_opens_the_window_without_a_camera(qtbot):
    from moto import mock_aws

    from crowdmood_gui.cli import main

    with mock_aws():
        assert main(["booths", "--gui", "--every", "10", "--exit-after", "1.5"]) == 0


def test_the_console_opens_the_all_booths_window_from_its_view_menu(make_window, qtbot):
    from moto import mock_aws

    with mock_aws():
        window = make_window()
        view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
        assert window.act_booths in view_menu.actions()
        window.act_booths.trigger()
        booths = window.booths_window
        assert booths is not None and booths.isVisible()
        with qtbot.waitSignal(booths.polled, timeout=10000):
            pass  # the first poll, started by opening the window, in the background
        window.act_booths.trigger()  # a second time: the same window, raised
        assert window.booths_window is booths
        window.close()
        assert not booths.isVisible() and not booths.timer.isActive()  # closed with the console
