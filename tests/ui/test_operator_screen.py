"""What the screen must say (issue #14): no signal, a source that never opens, the stopped
state, the session badge and PAUSED overlay, asking before a session is ended, naming a
session, Export after Stop, and the AWS offer closed without a choice."""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtWidgets import QMessageBox

from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.events import FrameEvent, SourceEvent, StatsEvent, TrackBox
from crowdmood_gui.ui.main_window import IDLE, PAUSED, RUNNING, STARTING
from crowdmood_gui.core.sessions import default_session_name

from fakes import FakePipeline, make_row

DEMO = "resources/demo/demo.mp4"
CAMERA = "http://127.0.0.1:9/video"


class ScriptedPipeline:
    """A pipeline (``core.pipeline.PipelineControl``) that says only what the test makes it
    say (through the runner and the real bridge)."""

    instances: list["ScriptedPipeline"] = []

    def __init__(self, config, observer):
        self.config, self.observer = config, observer
        self.stopped = self.paused = False
        self.records_analysed = self.frames_processed = 0
        self.source_error = None
        ScriptedPipeline.instances.append(self)

    def mean_detect_ms(self):
        return None

    def timeline_rows(self, period_s):
        return []

    def start(self):
        pass

    def run(self, progress=None):
        pass

    def stats(self):
        return StatsEvent(detection_fps=9.0, faces=0, tracks=0, analysis_queue=0, records_analysed=0)

    def set_chart_period(self, period_s):
        pass

    def pause(self):
        self.paused = True

    def resume(self):
        self.paused = False

    def set_privacy(self, blur):
        pass

    def stop(self, timeout_s=2.0):
        if not self.stopped:
            self.stopped = True
            self.observer.on_finished()

    # what the test makes it say
    def frame(self, index, faces=2):
        tracks = tuple(TrackBox(i + 1, 20.0 + 60 * i, 20.0, 70.0 + 60 * i, 80.0, 0.9, "HAPPY") for i in range(faces))
        self.observer.on_frame(FrameEvent(index, index / 10, time.monotonic(), np.zeros((120, 200, 3), np.uint8), tracks))

    def send_stats(self, faces=2, lost=None, clock=None):
        self.observer.on_stats(StatsEvent(detection_fps=0.0 if lost else 9.0, faces=0 if lost else faces,
                                          tracks=0 if lost else faces, analysis_queue=0, records_analysed=0,
                                          signal_lost_s=lost, clock_s=clock))


def scripted(make_window, qtbot, spec=CAMERA):
    window = make_window(factory=ScriptedPipeline)
    window.open_source(spec)
    qtbot.waitUntil(lambda: window.state == RUNNING)
    return window, ScriptedPipeline.instances[-1]


def test_lost_signal_says_no_signal_clears_live_figures_and_retries_visibly(make_window, qtbot):
    window, pipeline = scripted(make_window, qtbot)
    pipeline.observer.on_source(SourceEvent("open", width=200, height=120, fps=10))
    for i in range(3):
        pipeline.frame(i)
    pipeline.send_stats(clock=0.3)
    qtbot.waitUntil(lambda: len(window.video.last_boxes) == 2 and window.status_bar.texts()["faces"] == "Faces 2")
    # The camera goes silent: the pipeline reports the lost signal, then capture reconnects.
    pipeline.send_stats(lost=4.2, clock=4.5)
    qtbot.waitUntil(lambda: window.video.overlay is not None)
    title, detail = window.video.overlay
    assert title == "No signal" and "Last frame 4 s ago." in detail
    assert window.video.last_boxes == ()  # the frozen frame keeps no stale boxes
    status = window.status_bar.texts()
    assert (status["faces"], status["tracks"], status["detection"]) == ("Faces –", "Tracks –", "Detection –")
    assert window.source_label.text().startswith("No signal from http://127.0.0.1:9/video")
    pipeline.observer.on_source(SourceEvent("reconnecting", message=f"lost {CAMERA} (the stream was closed); retrying in 8.0 s",
                                            attempt=3, retry_in_s=8.0))
    qtbot.waitUntil(lambda: "attempt 3 failed" in window.video.overlay[1])
    assert "next try in 8 s" in window.video.overlay[1] or "next try in 7 s" in window.video.overlay[1]
    assert "Lost " in window.video.overlay[1] and "the stream was closed" in window.video.overlay[1]
    # Back: the notice goes, the figures are live again.
    pipeline.observer.on_source(SourceEvent("open", width=200, height=120, fps=10))
    pipeline.frame(50)
    pipeline.send_stats(clock=9.0)
    qtbot.waitUntil(lambda: window.video.overlay is None and window.status_bar.texts()["faces"] == "Faces 2")
    assert window.source_label.text().startswith("●")


def test_a_source_that_never_opens_says_why_and_when_it_tries_again(make_window, qtbot):
    window, pipeline = scripted(make_window, qtbot)
    pipeline.observer.on_source(SourceEvent("opening"))
    reason = f"could not connect to {CAMERA} within 10 s"
    pipeline.observer.on_source(SourceEvent("reconnecting", message=f"{reason}; retrying in 2.0 s", attempt=1, retry_in_s=2.0))
    qtbot.waitUntil(lambda: window.video.overlay is not None)
    title, detail = window.video.overlay
    assert title == "Cannot open the source"
    assert "Reconnecting: attempt 1 failed" in detail and "Could not connect to" in detail
    assert "Opening" not in window.source_label.text() and "attempt 1 failed" in window.source_label.text()


def test_the_faces_chart_shows_a_gap_not_the_last_count(make_window, qtbot):
    window, pipeline = scripted(make_window, qtbot)
    window.store.add(1, [make_row(float(t), 1, faces=2) for t in range(5)])
    window.chart.set_live_edge(30.0)  # the source's clock ran on without frames
    window.chart.redraw()
    x, y = window.chart.curve_data(None)
    drawn = ~np.isnan(y)
    assert x[drawn].max() < 5.0 and y[drawn][-1] == 2  # the line stops in the last frame's period
    assert window.chart.plot.viewRange()[0][1] >= 30.0  # the axis runs on: an empty stretch
    window.store.add(1, [make_row(float(t), 1, faces=1) for t in range(30, 33)])
    window.chart.redraw()
    x, y = window.chart.curve_data(None)
    gap = [i for i, v in enumerate(y) if math.isnan(v)]
    assert len(gap) == 1 and x[gap[0] - 1] < 5.0 and x[gap[0] + 1] >= 30.0


def test_a_stopped_or_ended_source_clears_its_live_figures(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.status_bar.texts()["faces"] == "Faces 2" and len(window.video.last_boxes) == 2, timeout=3000)
    window.act_stop.trigger()
    qtbot.waitUntil(lambda: window.state == IDLE, timeout=3000)
    status = window.status_bar.texts()
    assert (status["faces"], status["detection"], status["tracks"]) == ("Faces –", "Detection –", "Tracks –")
    assert window.video.last_boxes == () and window.video.current_frame is None
    assert window.video.placeholder.startswith("Stopped:")
    # An ended file too.
    window2, pipeline = scripted(make_window, qtbot, spec=DEMO)
    pipeline.frame(0)
    pipeline.send_stats()
    qtbot.waitUntil(lambda: window2.status_bar.texts()["faces"] == "Faces 2")
    pipeline.observer.on_source(SourceEvent("ended", message="end of demo.mp4 (300 frames)"))
    pipeline.stop()
    qtbot.waitUntil(lambda: window2.state == IDLE)
    assert window2.status_bar.texts()["faces"] == "Faces –" and window2.video.last_boxes == ()
    assert window2.video.placeholder.startswith("Ended: demo.mp4")


def test_rec_badge_paused_overlay_and_consistent_actions(make_window, qtbot):
    window = make_window()
    assert window.rec_badge.text() == "Not recording"
    assert (window.act_start.isEnabled(), window.act_pause.isEnabled(), window.act_stop.isEnabled()) == (True, False, False)
    window.open_source(DEMO, session_name="Expo day 1", record_video=True)
    assert window.state == STARTING and not window.act_start.isEnabled() and window.act_stop.isEnabled()
    qtbot.waitUntil(lambda: window.state == RUNNING)
    assert (window.act_start.isEnabled(), window.act_pause.isEnabled(), window.act_stop.isEnabled()) == (False, True, True)
    qtbot.wait(1100)
    window._refresh_status()
    badge = window.rec_badge.text()
    assert badge.startswith("● REC  Expo day 1  00:00:0") and badge.endswith("video recorded")
    assert "no video" not in badge
    window.act_pause.trigger()
    assert window.state == PAUSED and window.video.overlay[0] == "PAUSED"
    assert window.rec_badge.text().startswith("❚❚ PAUSED  Expo day 1")
    assert window.act_pause.text() == "&Resume" and not window.act_start.isEnabled()
    window.act_pause.trigger()
    assert window.state == RUNNING and window.video.overlay is None


def test_starting_a_session_names_it_booth_and_date_by_default(make_window, qtbot):
    window = make_window()
    window.act_start.trigger()
    dialog = window.session_dialog
    qtbot.waitUntil(lambda: dialog.isVisible())
    assert dialog.name_edit.text() == default_session_name(window.config.camera)
    assert dialog.name_edit.text().startswith(f"{window.config.camera} 20")
    dialog.name_edit.setText("Launch party")
    dialog.video_box.setChecked(False)
    dialog.accept()
    qtbot.waitUntil(lambda: window.state == RUNNING)
    assert window.pipeline.config.session == "Launch party"
    assert window.pipeline.config.recording.record_video is False
    assert "no video recorded" in window.rec_badge.text()


def test_switching_source_during_a_session_asks_first(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO, session_name="Morning")
    qtbot.waitUntil(lambda: window.state == RUNNING)
    first = window.pipeline
    dialog = window.request_session("tests/data/single_face.mp4")
    qtbot.waitUntil(lambda: dialog.isVisible())
    assert "“Morning” is running: it will be stopped first" in dialog.warning.text()
    dialog.reject()
    qtbot.wait(200)
    assert window.pipeline is first and not first.stopped  # cancel leaves it running
    dialog = window.request_session("tests/data/single_face.mp4")
    dialog.accept()
    qtbot.waitUntil(lambda: window.state == RUNNING and window.pipeline is not first, timeout=3000)
    assert first.stopped


def test_quitting_during_a_session_asks_first(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO, session_name="Afternoon")
    qtbot.waitUntil(lambda: window.state == RUNNING)
    pipeline = window.pipeline
    window.close()
    box = window.confirm_box
    qtbot.waitUntil(lambda: box.isVisible())
    assert window.isVisible() and "“Afternoon” is running" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(100)
    assert window.isVisible() and window.state == RUNNING and not pipeline.stopped
    window.close()
    box = window.confirm_box
    with qtbot.waitSignal(window.closed, timeout=3000):
        [b for b in box.buttons() if b.text() == "Quit"][0].click()
    assert pipeline.stopped


def test_export_is_in_the_file_menu_and_toolbar_and_stopping_offers_it(make_window, qtbot, tmp_path):
    from crowdmood_gui.core.session_runner import SessionRun

    def with_session(config, observer):
        return SessionRun(config, observer, session=config.session or "s",
                          pipeline_factory=lambda cfg, obs, **_kw: FakePipeline(cfg, obs))

    window = make_window(sessions=with_session)
    file_menu = window.menuBar().actions()[0].menu()
    toolbar = window.findChild(type(window.addToolBar("x")), "mainToolbar")
    assert window.act_export in file_menu.actions() and window.act_export in toolbar.actions()
    assert not window.act_export.isEnabled()  # nothing recorded yet
    window.open_source(DEMO, session_name="Export me")
    qtbot.waitUntil(lambda: window.state == RUNNING and window.faces.count() >= 2, timeout=3000)
    assert not window.act_export.isEnabled()  # not while it records
    window.act_stop.trigger()
    qtbot.waitUntil(lambda: window.export_offer is not None and window.export_offer.isVisible(), timeout=3000)
    assert "“Export me” stopped" in window.export_offer.text()
    assert window.act_export.isEnabled()
    window.ask_export_folder = lambda: tmp_path / "out"
    [b for b in window.export_offer.buttons() if b.text() == "Export…"][0].click()
    qtbot.waitUntil(lambda: window.last_export is not None, timeout=5000)
    assert (tmp_path / "out" / "timeline.csv").exists()


def test_closing_the_aws_offer_keeps_the_backend_setting(make_window, qtbot):
    config = load_config(overrides={"backend": "aws"})
    from crowdmood_gui.core.config import save_config

    on_disk = load_config()
    on_disk.backend = "aws"
    save_config(on_disk)
    window = make_window(config=config)
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: getattr(window, "aws_offer_box", None) is not None and window.aws_offer_box.isVisible())
    window.aws_offer_box.reject()  # Escape or the window's close button: no choice made
    qtbot.wait(100)
    assert window.config.backend == "aws" and load_config().backend == "aws"
    assert window.state == IDLE and "not set up" in window.video.placeholder


def test_after_a_successful_setup_the_next_session_uses_aws(make_window, qtbot, monkeypatch):
    import sys
    import types

    from crowdmood_gui.core.config import save_config

    def finished_setup(parent, config, config_path):  # what the wizard writes on Finish
        on_disk = load_config(config_path)
        on_disk.aws.bucket, on_disk.backend = "crowdmood-faces-new", "aws"
        save_config(on_disk, config_path)
        return True

    fake = types.ModuleType("crowdmood_gui.ui.wizard")
    fake.open_setup_wizard = finished_setup
    monkeypatch.setitem(sys.modules, "crowdmood_gui.ui.wizard", fake)
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.state == RUNNING)
    first = window.pipeline
    window.act_aws_setup.trigger()
    assert "next session uses it" in window.banner.text
    assert first.config.backend == "local"  # the running session keeps its backend
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.state == RUNNING and window.pipeline is not first, timeout=3000)
    assert window.pipeline.config.backend == "aws" and window.pipeline.config.aws.bucket == "crowdmood-faces-new"
