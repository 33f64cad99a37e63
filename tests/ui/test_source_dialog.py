"""The source picker: cameras listed and URLs tested off the GUI thread; last source preselected."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer

from crowdmood_gui.ui.source_dialog import TAB_CAMERA, TAB_FILE, TAB_URL, SourceChoice, SourceDialog, check_stream_url

sys.path.insert(0, str(Path(__file__).parents[1] / "core"))
import mjpeg_server  # noqa: E402  (tests/core/mjpeg_server.py)

VIDEO = Path(__file__).parents[2] / "tests" / "data" / "single_face.mp4"  # 640×360


def make_dialog(qtbot, **kwargs):
    kwargs.setdefault("probe", lambda: [])
    dialog = SourceDialog(**kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_the_last_source_is_preselected_on_its_tab(qtbot):
    dialog = make_dialog(qtbot, last_sources=["rtsp://cam.local/stream", "/videos/a.mp4", "0"])
    assert dialog.tabs.currentIndex() == TAB_URL
    assert dialog.url_edit.currentText() == "rtsp://cam.local/stream"
    assert dialog.file_edit.itemText(0) == "/videos/a.mp4"  # the other remembered ones are offered
    dialog.tabs.setCurrentIndex(TAB_FILE)
    dialog.loop_check.setChecked(False)
    assert dialog.choice() == SourceChoice("/videos/a.mp4", loop=False)


def test_cameras_are_probed_in_the_background(qtbot):
    def slow_probe():
        time.sleep(0.3)
        return [0, 2]

    dialog = make_dialog(qtbot, probe=slow_probe, initial_tab=TAB_CAMERA)
    assert dialog.camera_status.text() == "Looking for cameras…"  # returned at once
    qtbot.waitUntil(lambda: dialog.camera_box.count() == 2, timeout=2000)
    assert dialog.camera_status.text() == "Cameras found: 0, 2"
    assert dialog.choice() == SourceChoice("0", loop=False)


def test_no_camera_is_said_plainly(qtbot):
    dialog = make_dialog(qtbot, initial_tab=TAB_CAMERA)
    qtbot.waitUntil(lambda: dialog.refresh_button.isEnabled())
    assert "No camera found" in dialog.camera_status.text()


def test_url_test_succeeds_on_a_live_mjpeg_stream(qtbot):
    frames = mjpeg_server.jpeg_frames_from_video(VIDEO, max_frames=5)
    with mjpeg_server.MjpegServer(frames, fps=10) as server:
        dialog = make_dialog(qtbot, initial_tab=TAB_URL)
        dialog.url_edit.setCurrentText(server.url)
        dialog.test_button.click()
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=10000)
    assert dialog.test_result.text().startswith("OK: received 640×360"), dialog.test_result.text()


def test_a_url_that_hangs_never_freezes_the_dialog(qtbot):
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(50)
    with mjpeg_server.SilentServer() as server:
        dialog = make_dialog(qtbot, initial_tab=TAB_URL, tester=lambda url: check_stream_url(url, timeout_s=1.0))
        dialog.url_edit.setCurrentText(server.url)
        started = time.monotonic()
        dialog.test_button.click()
        assert time.monotonic() - started < 0.8  # the click returned at once (a blocking test would take the 1 s timeout)
        assert dialog.test_result.text().startswith("Testing")
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=15000)
    timer.stop()
    assert dialog.test_result.text().startswith("Failed:")
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert gaps and max(gaps) < 0.9  # the event loop kept running while the URL hung (for 1 s)


def test_a_dialog_closed_during_a_test_never_hears_back(qtbot):
    calls = []

    def slow(url):
        time.sleep(0.3)
        calls.append(url)
        return "OK"

    dialog = make_dialog(qtbot, initial_tab=TAB_URL, tester=slow)
    dialog.url_edit.setCurrentText("http://127.0.0.1:9/x")
    dialog.test_button.click()
    dialog.close()
    dialog.deleteLater()
    qtbot.waitUntil(lambda: bool(calls), timeout=2000)
    qtbot.wait(100)  # the callback is dropped, no error about a deleted object


def test_invalid_entries_are_refused_in_the_dialog(qtbot):
    dialog = make_dialog(qtbot, initial_tab=TAB_URL)
    dialog.url_edit.setCurrentText("cam.local/stream")
    dialog._accept_if_valid()
    assert dialog.isVisible() and "rtsp://" in dialog.error_label.text()
    dialog.tabs.setCurrentIndex(TAB_CAMERA)
    dialog.camera_box.setEditText("front")
    dialog._accept_if_valid()
    assert "number" in dialog.error_label.text()


def test_cameras_are_listed_by_name_and_open_by_index(qtbot):
    from crowdmood_gui.core.cameras import CameraInfo

    cameras = [CameraInfo(0, "Integrated Camera"), CameraInfo(2, "Logitech C920"), CameraInfo(3)]
    dialog = make_dialog(qtbot, probe=lambda: cameras, last_sources=["2"])
    qtbot.waitUntil(lambda: dialog.camera_box.count() == 3, timeout=2000)
    assert [dialog.camera_box.itemText(i) for i in range(3)] == ["0: Integrated Camera", "2: Logitech C920", "3"]
    assert dialog.camera_status.text() == "Cameras found: 0: Integrated Camera, 2: Logitech C920, 3"
    assert dialog.camera_box.currentText() == "2: Logitech C920"  # the remembered index, with its name
    assert dialog.choice() == SourceChoice("2", loop=False)
    dialog.camera_box.setCurrentIndex(0)
    assert dialog.choice() == SourceChoice("0", loop=False)
    dialog.camera_box.setEditText("5")  # a camera the listing missed can still be typed
    assert dialog.choice() == SourceChoice("5", loop=False)
