"""The window on the fake pipeline: threads, lifecycle, status bar, errors, settings."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import Qt

from crowdmood_gui.core.config import DEMO_VIDEO, load_config
from crowdmood_gui.core.emotions import EMOTION_COLOURS, EXPRESSION_DISCLAIMER
from crowdmood_gui.ui.main_window import IDLE, PAUSED, RUNNING

from fakes import ErrorEmittingPipeline, FakePipeline

DEMO = str(DEMO_VIDEO)


def test_open_a_source_shows_boxes_chart_points_faces_and_status(make_window, qtbot):
    window = make_window()
    assert window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.state == RUNNING)
    qtbot.waitUntil(lambda: any(b.dominant for b in window.video.last_boxes), timeout=3000)
    boxes = window.video.last_boxes
    assert [b.track_id for b in boxes] == [1, 2]
    assert boxes[0].colour == EMOTION_COLOURS[boxes[0].dominant]
    qtbot.waitUntil(lambda: len(window.chart.curve_data("HAPPY")[0]) >= 3, timeout=3000)
    qtbot.waitUntil(lambda: window.faces.count() >= 2)
    qtbot.waitUntil(lambda: window.video.frames_painted > 10)
    qtbot.wait(600)
    status = window.status_bar.texts()
    assert status["detection"] == "Detection 12.0 Hz"
    assert status["faces"] == "Faces 2" and status["tracks"] == "Tracks 2" and status["queue"] == "Queue 1"
    assert status["display"].startswith("Display ") and float(status["display"].split()[1]) > 5
    assert "uploads" not in status  # local mode: no AWS figures
    assert "demo.mp4" in window.source_label.text()


def test_switching_period_in_the_window_redraws_from_received_rows(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.store.count(10) >= 2, timeout=4000)
    window.chart.set_period(10)
    x, _ = window.chart.curve_data(None)
    assert len(x) >= 2 and all(t % 10 == 5 for t in x)  # 10-s points, each mid-period
    assert load_config().ui.period_s == 10  # remembered


def test_aws_mode_shows_uploads_and_cost(make_window, qtbot):
    config = load_config(overrides={"backend": "aws"})
    window = make_window(config=config)
    from crowdmood_gui.core.events import StatsEvent

    window._on_stats(StatsEvent(detection_fps=9.5, faces=1, tracks=1, analysis_queue=0, records_analysed=3,
                                upload_queue=4, cost_usd=0.012, projected_usd_per_hour=0.5))
    status = window.status_bar.texts()
    assert status["uploads"] == "Uploads 4"
    assert status["cost"] == "Cost $0.012 (~$0.50/h)"
    assert not window.chart.confused_note.isVisible()
    assert window.status_bar.labels["failed"].isHidden()  # nothing waiting: nothing shown
    window._on_stats(StatsEvent(detection_fps=9.5, faces=1, tracks=1, analysis_queue=0, records_analysed=3,
                                upload_queue=0, cost_usd=0.012, failed_waiting=3))
    assert window.status_bar.texts()["failed"] == "Failed 3"
    assert not window.status_bar.labels["failed"].isHidden()
    assert "aws-redrive" in window.status_bar.labels["failed"].toolTip()


def test_a_bad_source_shows_a_non_modal_error_and_the_app_keeps_running(make_window, qtbot):
    window = make_window()
    window.open_source("bad-missing.mp4")
    qtbot.waitUntil(lambda: window.message_box is not None and window.message_box.isVisible(), timeout=3000)
    box = window.message_box
    assert "could not connect" in box.text()
    assert box.windowModality() == Qt.WindowModality.NonModal
    qtbot.waitUntil(lambda: window.state == IDLE)
    # The event loop runs, and a good source still opens.
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.video.frames_painted > 3, timeout=3000)
    box.close()


def test_an_unparsable_source_is_refused_before_any_thread_starts(make_window, qtbot):
    window = make_window()
    count = len(FakePipeline.instances)
    assert not window.open_source("ftp://example.com/video")
    assert window.message_box.isVisible() and "unsupported source" in window.message_box.text()
    assert len(FakePipeline.instances) == count and window.state == IDLE


def test_a_pipeline_that_cannot_start_is_reported(make_window, qtbot):
    from crowdmood_gui.core.errors import ModelError

    def broken(config, observer):
        raise ModelError("crowdmood_gui/resources/models/face_detector.onnx is missing")

    window = make_window(factory=broken)
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.message_box is not None, timeout=3000)
    assert "face_detector.onnx" in window.message_box.text()
    assert window.state == IDLE


def test_error_events_show_a_banner_not_a_dialog(make_window, qtbot):
    window = make_window(factory=lambda c, o: ErrorEmittingPipeline(c, o))
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=3000)
    assert "disk full" in window.banner.text
    assert window.message_box is None
    assert window.state == RUNNING


def test_pause_resume_and_stop(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.state == RUNNING)
    pipeline = window.pipeline
    window.act_pause.trigger()
    assert window.state == PAUSED and pipeline.paused
    assert window.act_pause.text() == "&Resume"
    window.act_pause.trigger()
    assert window.state == RUNNING and not pipeline.paused
    window.act_stop.trigger()
    qtbot.waitUntil(lambda: window.state == IDLE, timeout=3000)
    assert pipeline.stopped and not pipeline.alive
    window.act_start.trigger()  # starts the same source again, once the session is named
    qtbot.waitUntil(lambda: window.session_dialog is not None and window.session_dialog.isVisible())
    window.session_dialog.accept()
    qtbot.waitUntil(lambda: window.state == RUNNING)
    assert window.pipeline is not pipeline


def test_space_pauses(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.state == RUNNING)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.state == PAUSED


def test_opening_another_source_replaces_the_session(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.state == RUNNING)
    first = window.pipeline
    qtbot.waitUntil(lambda: window.store.count(1) > 0, timeout=3000)
    window.open_source("tests/data/single_face.mp4", loop=False)
    qtbot.waitUntil(lambda: window.state == RUNNING and window.pipeline is not first, timeout=3000)
    assert first.stopped and not first.alive
    assert window.pipeline.config.source.spec == "tests/data/single_face.mp4"
    assert window.pipeline.config.source.loop is False


def test_a_source_replaced_while_starting_is_stopped(make_window, qtbot):
    started = threading.Event()

    def slow(config, observer):
        time.sleep(0.3)
        started.set()
        return FakePipeline(config, observer)

    window = make_window(factory=slow)
    window.open_source(DEMO)
    window.open_source("tests/data/single_face.mp4")
    qtbot.waitUntil(lambda: window.state == RUNNING, timeout=3000)
    qtbot.wait(500)
    live = [p for p in FakePipeline.instances[-2:] if p.alive]
    assert live == [window.pipeline]
    assert window.pipeline.config.source.spec == "tests/data/single_face.mp4"


def test_close_stops_every_thread_within_2_s(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.video.frames_painted > 5, timeout=3000)
    pipeline = window.pipeline
    with qtbot.waitSignal(window.closed, timeout=3000):
        started = time.monotonic()
        window.quit_without_asking()  # closing with a session running asks first (tested below)
    assert time.monotonic() - started < 2.0
    assert pipeline.stopped and not pipeline.alive
    assert window.measurements()["records_analysed"] == pipeline.records_analysed > 0


def test_last_source_is_remembered(make_window, qtbot, _isolated_home):
    window = make_window()
    window.open_source(DEMO, loop=False)
    window.open_source("tests/data/single_face.mp4")
    saved = load_config()
    assert saved.ui.last_sources[:2] == ["tests/data/single_face.mp4", DEMO]
    assert saved.source.spec == "tests/data/single_face.mp4"


def test_flag_overrides_are_not_written_to_the_config_file(make_window, qtbot):
    config = load_config(overrides={"backend": "aws", "session": "from-flags"})
    window = make_window(config=config)
    window.set_recent_faces_visible(False)
    saved = load_config()
    assert saved.privacy.show_recent_faces is False
    assert saved.backend == "local" and saved.session is None


def test_a_settings_file_that_cannot_be_written_is_said_in_the_banner(qtbot, tmp_path):
    from crowdmood_gui.ui.main_window import MainWindow

    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    window = MainWindow(load_config(), config_path=blocked / "config.toml", session_factory=lambda c, o: None)
    qtbot.addWidget(window)
    window.set_blur_faces(True)
    assert window.banner.text.startswith("Settings not saved: ")
    assert window.config.privacy.blur_faces is True and window.act_blur.isChecked()  # kept for this run


def test_settings_apply_and_persist(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.state == RUNNING)
    window.show_settings()
    dialog = window.settings_dialog
    dialog.interval.setValue(3.5)
    dialog.max_side.setValue(480)
    dialog.blur.setChecked(True)
    dialog.show_faces.setChecked(False)
    dialog.record_video.setChecked(True)
    assert dialog.tiling.isChecked() and dialog.smallest_face.isEnabled()
    dialog.smallest_face.setValue(32)
    dialog.tiling.setChecked(False)
    assert not dialog.smallest_face.isEnabled()  # it only sizes the tiles
    dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    assert window.pipeline.blur is True  # privacy applies at once
    assert window.faces.count() == 0 and not window.faces.showing
    saved = load_config()
    assert saved.sampling.interval_s == 3.5
    assert saved.detection.max_side == 480
    assert saved.detection.tiling is False and saved.detection.smallest_face_px == 32
    assert saved.privacy.blur_faces is True and saved.privacy.show_recent_faces is False
    assert saved.recording.record_video is True
    # The next session starts with the new settings.
    window.act_stop.trigger()
    qtbot.waitUntil(lambda: window.state == IDLE, timeout=3000)
    window.act_start.trigger()
    window.session_dialog.accept()
    qtbot.waitUntil(lambda: window.state == RUNNING)
    assert window.pipeline.config.sampling.interval_s == 3.5
    assert window.pipeline.config.detection.tiling is False
    # ...and the dialog opens on what was saved; switching tiles back on is saved too.
    window.show_settings()
    dialog = window.settings_dialog
    assert not dialog.tiling.isChecked() and dialog.smallest_face.value() == 32
    dialog.tiling.setChecked(True)
    assert dialog.changes() == {"detection": {"tiling": True}}
    dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    assert load_config().detection.tiling is True


def test_settings_dialog_refuses_what_the_config_refuses(make_window, qtbot):
    from crowdmood_gui.ui.settings_dialog import SettingsDialog, validate_changes

    window = make_window()
    dialog = SettingsDialog(window.config, window)
    qtbot.addWidget(dialog)
    assert dialog.interval.minimum() == 0.1 and dialog.interval.maximum() == 600  # from the pydantic model
    assert dialog.max_side.minimum() == 160 and dialog.max_side.maximum() == 1920
    assert dialog.smallest_face.minimum() == 12 and dialog.smallest_face.maximum() == 400
    assert validate_changes(window.config, {"detection": {"max_side": 50}}).startswith("detection.max_side")
    assert dialog.changes() == {}


def test_blur_toggle_reaches_the_running_pipeline(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.state == RUNNING)
    window.act_blur.trigger()
    assert window.pipeline.blur is True
    assert load_config().privacy.blur_faces is True


def test_kiosk_window_shows_the_same_data(make_window, qtbot):
    window = make_window()
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.store.count(10) >= 1, timeout=3000)
    window.act_kiosk.trigger()
    kiosk = window.kiosk
    qtbot.waitExposed(kiosk)
    assert kiosk.store is window.store
    kiosk.redraw()
    assert len(kiosk.plots.curve_data(None)[0]) >= 1
    assert kiosk.period_s == 10 and window.chart.period_s == 1  # the audience gets 10-s points
    window.chart.set_window(1800)
    assert kiosk.window_s == 1800  # it follows the operator's window (it has no controls)


def test_setup_menu_opens_the_wizard_with_the_config(make_window, monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("crowdmood_gui.ui.wizard")
    def fake_setup(parent, config, config_path):
        calls.append(("setup", parent, config, config_path))
        # What the wizard does on Finish: write the AWS settings to the config file.
        from crowdmood_gui.core.config import save_config

        on_disk = load_config(config_path)
        on_disk.aws.bucket = "crowdmood-faces-new"
        on_disk.backend = "aws"
        save_config(on_disk, config_path)
        return True

    fake.open_setup_wizard = fake_setup
    fake_teardown = types.ModuleType("crowdmood_gui.ui.teardown_dialog")
    fake_teardown.open_teardown_dialog = lambda parent, config, config_path: calls.append(("teardown", parent, config, config_path))
    monkeypatch.setitem(sys.modules, "crowdmood_gui.ui.wizard", fake)
    monkeypatch.setitem(sys.modules, "crowdmood_gui.ui.teardown_dialog", fake_teardown)
    window = make_window(show=False)
    config = window.config
    window.act_aws_setup.trigger()
    assert window.config.aws.bucket == "crowdmood-faces-new" and window.config.backend == "aws"  # reloaded
    after_setup = window.config
    window.act_aws_teardown.trigger()
    assert [c[0] for c in calls] == ["setup", "teardown"]
    assert all(c[1] is window and c[3] == window.config_path for c in calls)
    # Each gets the window's config of the moment (a reload makes a new one: a running
    # session keeps the object it started with).
    assert calls[0][2] is config and calls[1][2] is after_setup


def test_sessions_menu_opens_the_browser(make_window, monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("crowdmood_gui.ui.session_browser")
    fake.open_session_browser = lambda parent, config: calls.append((parent, config)) or "browser"
    monkeypatch.setitem(sys.modules, "crowdmood_gui.ui.session_browser", fake)
    window = make_window(show=False)
    window.act_sessions.trigger()
    assert calls == [(window, window.config)] and window.session_browser == "browser"


def test_about_names_the_models_and_the_disclaimer(make_window, qtbot):
    window = make_window()
    window.act_about.trigger()
    text = window.about_dialog.browser.toPlainText()
    assert EXPRESSION_DISCLAIMER in text
    assert "MIT License" in text  # crowdmood_gui/resources/models/LICENSE-*.txt
    window.about_dialog.close()


def test_about_says_what_each_local_model_cannot_read(tmp_path):
    import html

    from crowdmood_gui.core.expression import MODEL_LIMITS, MODEL_TITLES
    from crowdmood_gui.ui.about import about_html

    page = html.unescape(about_html(tmp_path))  # the limits do not depend on the models folder
    for choice, sentence in MODEL_LIMITS.items():
        assert sentence in page, choice
    assert f"{MODEL_TITLES['ensemble']}, the default" in page
    assert "CONFUSED" in page and "DISGUSTED" in page


def test_about_is_for_operators_not_the_models_readme():
    """Hashes and tensor shapes belong in crowdmood_gui/resources/models/README.md, not in About."""
    import html
    import re

    from crowdmood_gui.ui.about import about_html, model_limits

    page = about_html()
    text = html.unescape(page)
    assert model_limits()
    for limit in model_limits():  # core/expression.py MODEL_LIMITS, the one place
        assert limit in text
    assert "RetinaFace" in page and "FER-2013" in page and "MIT licence" in page
    assert "nothing is downloaded" in page and "AWS mode" in page
    for developer_only in ("sha256", "float32", "NCHW", "[N,", "onnx |"):
        assert developer_only not in page
    assert not re.search(r"[0-9a-f]{64}", page)
    assert "|---|" not in page and "# Bundled" not in page


def test_a_second_sessions_click_raises_the_open_browser(make_window, monkeypatch, qtbot):
    import sys
    import types

    from PySide6.QtWidgets import QDialog

    made = []

    def open_browser(parent, config):
        dialog = QDialog(parent)
        dialog.show()
        made.append(dialog)
        return dialog

    fake = types.ModuleType("crowdmood_gui.ui.session_browser")
    fake.open_session_browser = open_browser
    monkeypatch.setitem(sys.modules, "crowdmood_gui.ui.session_browser", fake)
    window = make_window()
    window.act_sessions.trigger()
    window.act_sessions.trigger()
    assert len(made) == 1
    made[0].close()
    window.act_sessions.trigger()
    assert len(made) == 2
    made[1].close()


def test_fonts_sized_in_pixels_scale_without_a_qt_warning(qtbot):
    """pointSizeF() is -1 for a pixel-sized font: scaling it used to warn (and do nothing)."""
    from PySide6.QtGui import QFont

    from crowdmood_gui.ui.video_view import scaled_font

    pixel = QFont()
    pixel.setPixelSize(12)
    assert scaled_font(pixel, 1.6).pixelSize() == 19
    point = QFont()
    point.setPointSizeF(10.0)
    assert scaled_font(point, 0.5, minimum=7.0).pointSizeF() == 7.0


def test_menus_have_the_usual_entries_and_shortcuts(make_window):
    window = make_window(show=False)
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&View", "&Session", "Set&up", "&Help"]
    assert window.act_pause.shortcut().toString() == "Space"
    assert window.act_full_screen.shortcut().toString() == "F11"
    assert EXPRESSION_DISCLAIMER in window.chart.disclaimer.text()


def test_an_exception_in_a_slot_is_shown_not_fatal(make_window, qtbot):
    from crowdmood_gui.ui.app import _ExceptHook

    window = make_window()
    hook = _ExceptHook(lambda: window)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        hook(type(exc), exc, exc.__traceback__)
    assert "ValueError: boom" in window.message_box.text()


def test_aws_chosen_but_not_set_up_offers_the_wizard_or_local(make_window, qtbot):
    config = load_config(overrides={"backend": "aws"})
    window = make_window(config=config)
    count = len(FakePipeline.instances)
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: getattr(window, "aws_offer_box", None) is not None and window.aws_offer_box.isVisible())
    assert len(FakePipeline.instances) == count  # nothing started against an unset AWS
    box = window.aws_offer_box
    local = [b for b in box.buttons() if b.text() == "Use the local model"][0]
    local.click()
    qtbot.waitUntil(lambda: window.state == RUNNING, timeout=3000)
    assert window.config.backend == "local" and load_config().backend == "local"


def test_aws_status_shows_lag_and_chart_period_reaches_the_pipeline(make_window, qtbot):
    config = load_config(overrides={"backend": "aws", "aws": {"bucket": "crowdmood-faces-x"}})
    window = make_window(config=config)
    window.open_source(DEMO)
    qtbot.waitUntil(lambda: window.state == RUNNING)
    from crowdmood_gui.core.events import StatsEvent

    window._on_stats(StatsEvent(detection_fps=9.5, faces=1, tracks=1, analysis_queue=0, records_analysed=3,
                                upload_queue=0, cost_usd=0.0, analysis_lag_s=7.4))
    assert window.status_bar.texts()["lag"] == "Lag 7 s"
    window.chart.set_period(60)
    assert window.pipeline.chart_periods[-1] == 60


def test_the_window_and_the_pipelines_keep_one_typed_contract(qtbot):
    """The window calls ``PipelineControl`` (the real Pipeline and every fake honour it) and
    hands the pipeline a ``PipelineObserver`` (its SignalBridge); no probing with hasattr."""
    from crowdmood_gui.core.pipeline import NullObserver, Pipeline, PipelineControl, PipelineObserver
    from crowdmood_gui.ui.bridge import SignalBridge

    from test_operator_screen import ScriptedPipeline

    config = load_config()
    for pipeline in (Pipeline(config), FakePipeline(config, NullObserver()), ErrorEmittingPipeline(config, NullObserver()),
                     ScriptedPipeline(config, NullObserver())):
        assert isinstance(pipeline, PipelineControl), type(pipeline).__name__
    bridge = SignalBridge()
    assert isinstance(bridge, PipelineObserver)
    bridge.detach()

    class Partial:  # no set_chart_period: not a pipeline the window can drive
        def start(self): ...

    assert not isinstance(Partial(), PipelineControl)
