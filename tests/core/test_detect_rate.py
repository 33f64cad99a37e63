"""Live mode's detection cap (``detection.max_rate_hz``, the agent's 10 Hz): the display
keeps the source's rate, detection waits at least 1/max_rate_hz between two frames."""

from __future__ import annotations

import time

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.pipeline import NullObserver, Pipeline


class CountingDetector:
    def __init__(self):
        self.calls: list[float] = []

    def detect(self, image):
        self.calls.append(time.monotonic())
        return []


class Frames(NullObserver):
    def __init__(self):
        self.count = 0

    def on_frame(self, event):
        self.count += 1


def _run(data_dir, max_rate_hz: float, realtime: bool = True) -> tuple[CountingDetector, Frames]:
    config = AppConfig()
    config.source.spec = str(data_dir / "single_face.mp4")
    config.source.loop = realtime
    config.detection.max_rate_hz = max_rate_hz
    detector, frames = CountingDetector(), Frames()
    pipeline = Pipeline(config, frames, realtime=realtime, detector=detector, backend=_local_backend())
    if realtime:
        pipeline.start()
        deadline = time.monotonic() + 20
        while len(detector.calls) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        pipeline.stop(2.0)
    else:
        pipeline.run()
    return detector, frames


def _local_backend():
    from crowdmood_gui.core.backends.local import LocalBackend

    return LocalBackend(block_when_full=False)


def test_live_detection_waits_between_frames_when_capped(data_dir):
    detector, frames = _run(data_dir, 5.0)
    gaps = [b - a for a, b in zip(detector.calls, detector.calls[1:])]
    assert len(gaps) >= 5 and min(gaps) >= 0.19  # 1/5 s, a lower bound that load cannot break
    assert frames.count > len(detector.calls)  # the display was not slowed down


def test_analysis_mode_ignores_the_cap_and_sees_every_frame(data_dir):
    detector, _ = _run(data_dir, 5.0, realtime=False)
    assert len(detector.calls) == 72  # every frame of the clip
