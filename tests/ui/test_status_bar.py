"""The status bar, the REC badge and the banner on their own, fed plain data (no window)."""

from __future__ import annotations

from crowdmood_gui.core.events import StatsEvent
from crowdmood_gui.ui.session_state import IDLE, PAUSED, RUNNING, STARTING, STOPPING
from crowdmood_gui.ui.status_bar import ConsoleStatusBar, LiveStatus, MessageBanner, RecBadge, Reconnecting

STATS = StatsEvent(detection_fps=11.96, faces=3, tracks=4, analysis_queue=2, records_analysed=9)
AWS_STATS = StatsEvent(detection_fps=9.5, faces=1, tracks=1, analysis_queue=0, records_analysed=3,
                       upload_queue=4, cost_usd=0.012, projected_usd_per_hour=0.5, analysis_lag_s=6.6)


def make_bar(qtbot, **kwargs) -> ConsoleStatusBar:
    bar = ConsoleStatusBar(**kwargs)
    qtbot.addWidget(bar)
    return bar


def test_running_shows_the_live_figures(qtbot):
    bar = make_bar(qtbot)
    bar.source_label.setText("● demo.mp4 1280×720 @ 15 fps")
    bar.show_status(LiveStatus(state=RUNNING, source_name="demo.mp4", stats=STATS, display_fps=14.96, frames_painted=40))
    assert bar.texts() == {"display": "Display 15.0 fps", "detection": "Detection 12.0 Hz", "faces": "Faces 3",
                           "tracks": "Tracks 4", "queue": "Queue 2"}  # local mode: no AWS figures
    assert bar.source_label.text() == "● demo.mp4 1280×720 @ 15 fps"  # a picture arrives: left as the window set it
    assert bar.labels["queue"].toolTip() == "Face crops waiting for analysis"


def test_no_signal_shows_dashes_and_says_since_when(qtbot):
    bar = make_bar(qtbot)
    status = LiveStatus(state=RUNNING, source_name="http://127.0.0.1:9/video", stats=STATS, display_fps=0.0,
                        frames_painted=40, signal_lost_s=75.0)
    bar.show_status(status, now=100.0)
    texts = bar.texts()
    assert texts["detection"] == "Detection –" and texts["faces"] == "Faces –" and texts["tracks"] == "Tracks –"
    assert texts["queue"] == "Queue 2"  # still true: crops wait whatever the source does
    assert bar.source_label.text() == "No signal from http://127.0.0.1:9/video"
    notice = status.no_signal(now=100.0)
    assert notice.title == "No signal" and notice.detail == "Last frame 1 min 15 s ago."


def test_reconnecting_says_which_attempt_and_when_the_next_one_is(qtbot):
    bar = make_bar(qtbot)
    retry = Reconnecting(2, next_try_at=104.0, reason="connection refused")
    status = LiveStatus(state=RUNNING, source_name="cam", stats=STATS, frames_painted=40, reconnect=retry)
    bar.show_status(status, now=100.0)
    assert bar.texts()["faces"] == "Faces –"
    assert bar.source_label.text() == "No signal from cam, reconnecting"
    assert status.no_signal(now=100.0).detail == "Reconnecting: attempt 2 failed, next try in 4 s.\nConnection refused"
    assert status.no_signal(now=104.2).detail.startswith("Reconnecting: attempt 2 failed, trying now.")
    # A source that never gave a picture cannot be opened: a different headline.
    never = LiveStatus(state=STARTING, source_name="cam", reconnect=retry)
    bar.show_status(never, now=100.0)
    assert never.no_signal(now=100.0).title == "Cannot open the source"
    assert bar.source_label.text() == "Cannot open cam: attempt 2 failed, retrying"


def test_paused_and_stopped(qtbot):
    bar = make_bar(qtbot)
    bar.show_status(LiveStatus(state=PAUSED, source_name="demo.mp4", stats=STATS, display_fps=15.0, frames_painted=9))
    assert bar.texts()["display"] == "Paused" and bar.texts()["faces"] == "Faces 3"
    # No notice over the video while paused or stopped, even with a silent source.
    assert LiveStatus(state=PAUSED, signal_lost_s=30.0).no_signal() is None
    assert LiveStatus(state=IDLE, signal_lost_s=30.0).no_signal() is None
    bar.show_status(LiveStatus(state=IDLE, source_name="demo.mp4"))
    assert bar.texts() == {"display": "Display 0.0 fps", "detection": "Detection –", "faces": "Faces –",
                           "tracks": "Tracks –", "queue": "Queue –"}


def test_aws_figures_and_the_failure_queue(qtbot):
    bar = make_bar(qtbot, aws_backend=True)
    assert bar.texts()["uploads"] == "Uploads –" and bar.texts()["cost"] == "Cost $–"  # AWS mode before any figure
    assert bar.labels["failed"].isHidden()
    bar.show_status(LiveStatus(state=RUNNING, stats=AWS_STATS, aws_backend=True))
    texts = bar.texts()
    assert texts["uploads"] == "Uploads 4" and texts["lag"] == "Lag 7 s" and texts["cost"] == "Cost $0.012 (~$0.50/h)"
    assert "failed" not in texts  # nothing waiting: nothing shown
    waiting = StatsEvent(detection_fps=9.5, faces=1, tracks=1, analysis_queue=0, records_analysed=3, upload_queue=0,
                         failed_waiting=3)
    bar.show_status(LiveStatus(state=RUNNING, stats=waiting, aws_backend=True))
    assert bar.texts()["failed"] == "Failed 3" and "E0533A" in bar.labels["failed"].styleSheet()
    assert "aws-redrive" in bar.labels["failed"].toolTip()
    # Local mode shows the AWS figures only if the pipeline reports uploads.
    local = make_bar(qtbot)
    assert "uploads" not in local.texts()
    local.show_status(LiveStatus(state=RUNNING, stats=AWS_STATS))
    assert local.texts()["uploads"] == "Uploads 4"


def test_rec_badge_for_each_state(qtbot):
    badge = RecBadge()
    qtbot.addWidget(badge)
    assert badge.text() == "Not recording" and badge.toolTip() == "No session is recording"
    badge.show_session(STARTING, "Expo day 1")
    assert badge.text() == "Starting Expo day 1…"
    badge.show_session(RUNNING, "Expo day 1", 3725.4, recording_video=True)
    assert badge.text() == "● REC  Expo day 1  01:02:05  ·  video recorded"
    assert "#B71C1C" in badge.styleSheet() and badge.toolTip() == "Session “Expo day 1”: video recorded"
    badge.show_session(PAUSED, "Expo day 1", 3726.0)
    assert badge.text() == "❚❚ PAUSED  Expo day 1  01:02:06  ·  no video recorded"
    badge.show_session(STOPPING, "Expo day 1")
    assert badge.text() == "Stopping Expo day 1…"
    badge.show_session(IDLE, "Expo day 1")
    assert badge.text() == "Not recording"
    assert badge.minimumWidth() >= badge.fontMetrics().horizontalAdvance(RecBadge.WIDEST)


def test_banner_shows_then_hides_itself(qtbot):
    banner = MessageBanner()
    qtbot.addWidget(banner)
    assert banner.isHidden()  # nothing to say yet
    banner.show_message("Settings not saved: disk full", seconds=0)
    assert banner.text == "Settings not saved: disk full" and banner.isVisible()
    qtbot.waitUntil(lambda: not banner.isVisible(), timeout=2000)
