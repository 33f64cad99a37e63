"""A live source that stops delivering frames: the pipeline says "no signal" with the time
since the last frame, clears its boxes, face counts and detection rate, keeps its clock
moving (the chart's gap), and logs the drop and the return."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import pytest

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.pipeline import NO_SIGNAL_AFTER_S, NullObserver, Pipeline

sys.path.insert(0, str(Path(__file__).parent))
from mjpeg_server import MjpegServer, jpeg_frames_from_video  # noqa: E402

pytestmark = pytest.mark.slow
VIDEO = Path(__file__).parents[1] / "data" / "single_face.mp4"


class Watcher(NullObserver):
    def __init__(self) -> None:
        self.stats = []
        self.frames = []
        self._cond = threading.Condition()

    def on_stats(self, event) -> None:
        with self._cond:
            self.stats.append(event)
            self._cond.notify_all()

    def on_frame(self, event) -> None:
        self.frames.append(event)

    def wait_stats(self, predicate, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in reversed(self.stats):
                    if predicate(event):
                        return event
                    break  # only the newest counts
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching stats within {timeout} s; last: {self.stats[-1:]}")
                self._cond.wait(left)


def test_a_frozen_camera_is_no_signal_with_cleared_figures_then_recovers(caplog, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    caplog.set_level(logging.WARNING, logger="crowdmood_gui.core")
    frames = jpeg_frames_from_video(VIDEO, max_frames=60)
    watcher = Watcher()
    with MjpegServer(frames, fps=20) as camera:
        config = AppConfig()
        config.source.spec = camera.url
        config.source.open_timeout_s = 6.0  # longer than NO_SIGNAL_AFTER_S: the silence itself is detected
        pipeline = Pipeline(config, watcher, realtime=True)
        pipeline.start()
        try:
            live = watcher.wait_stats(lambda s: s.faces == 1 and s.detection_fps > 0)
            assert live.signal_lost_s is None and live.clock_s is not None
            camera.frozen.set()  # connected, silent: the frame stays on screen with its box
            frozen_at = time.monotonic()
            lost = watcher.wait_stats(lambda s: s.signal_lost_s is not None)
            assert lost.signal_lost_s >= NO_SIGNAL_AFTER_S
            assert (lost.faces, lost.tracks, lost.detection_fps) == (0, 0, 0.0)
            later = watcher.wait_stats(lambda s: s.signal_lost_s is not None and s.signal_lost_s > lost.signal_lost_s + 0.4)
            assert later.clock_s > lost.clock_s + 0.4  # the clock (chart edge) moves through the gap
            assert time.monotonic() - frozen_at < 15
            camera.frozen.clear()
            back = watcher.wait_stats(lambda s: s.signal_lost_s is None and s.faces == 1, timeout=30.0)
            assert back.detection_fps > 0
        finally:
            pipeline.stop(3.0)
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"no signal from {camera.url}: no frame for") for m in logged), logged
    assert any(m.startswith(f"signal back from {camera.url} after") for m in logged), logged


def test_pausing_is_not_a_lost_signal(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    frames = jpeg_frames_from_video(VIDEO, max_frames=30)
    watcher = Watcher()
    with MjpegServer(frames, fps=20) as camera:
        config = AppConfig()
        config.source.spec = camera.url
        pipeline = Pipeline(config, watcher, realtime=True)
        pipeline.start()
        try:
            watcher.wait_stats(lambda s: s.faces == 1)
            pipeline.pause()
            time.sleep(NO_SIGNAL_AFTER_S + 0.8)
            assert pipeline.signal_lost_s() is None
            pipeline.resume()
            assert pipeline.signal_lost_s() is None  # counted from the resume, not from the pause
        finally:
            pipeline.stop(3.0)
