"""The local backend's live crop budget: a share of one core, from its own CPU per crop."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

from crowdmood_gui.core.backends import make_backend
from crowdmood_gui.core.backends.base import CropJob
from crowdmood_gui.core.backends.local import FIRST_GUESS_S_PER_CROP, LocalBackend
from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.records import CaptureMeta

EMOTIONS = ("HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR")

NOW = datetime(2026, 11, 30, tzinfo=UTC)


class BusyModel:
    """Spends ``cpu_s`` of this thread's CPU per crop, then answers CALM."""

    def __init__(self, cpu_s: float) -> None:
        self.cpu_s = cpu_s

    def predict(self, crops, boxes):
        out = []
        for _ in crops:
            end = time.thread_time() + self.cpu_s
            while time.thread_time() < end:
                pass
            out.append({name: (1.0 if name == "CALM" else 0.0) for name in EMOTIONS})
        return out


class Sink:
    def __init__(self) -> None:
        self.records = []

    def on_record(self, record, media_time_s, thumbnail) -> None:
        self.records.append(record)

    def on_timeline(self, rows) -> None:
        pass

    def on_error(self, message: str) -> None:
        raise AssertionError(message)


def job(track_id: int) -> CropJob:
    image = np.random.default_rng(track_id).integers(0, 256, (60, 60, 3), dtype=np.uint8)
    meta = CaptureMeta(session="s", camera="c", captured_at=NOW, track_id=track_id)
    return CropJob(image=image, face_box=(10, 10, 50, 50), meta=meta, media_time_s=0.0, detection_score=0.9)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_allowance_is_spent_by_crops_and_refills_at_the_budgets_rate():
    clock = Clock()
    backend = LocalBackend(BusyModel(0.0), core_share=0.5, clock=clock)
    rate = 0.5 / FIRST_GUESS_S_PER_CROP  # crops per second before anything is measured
    assert backend.crops_per_s() == rate
    assert backend.crop_allowance() == int(rate)  # one second of crops saved up
    for k in range(int(rate)):
        backend.submit(job(k))
    assert backend.crop_allowance() == 0
    clock.t += 0.11
    assert backend.crop_allowance() == 5  # 0.11 s of 50 crops/s
    clock.t += 60.0  # never more than a second's worth saved
    assert backend.crop_allowance() == int(rate)


def test_no_budget_in_analysis_mode_or_without_a_share():
    assert LocalBackend(BusyModel(0.0)).crop_allowance() is None
    assert make_backend(AppConfig(), session="x", session_start=NOW, realtime=False).crop_allowance() is None
    config = AppConfig()
    config.expression.live_core_share = 0.25
    live = make_backend(config, session="x", session_start=NOW, realtime=True)
    assert live.crops_per_s() == 0.25 / FIRST_GUESS_S_PER_CROP


def test_a_costlier_model_gets_fewer_crops_per_second():
    """The budget follows the worker's measured CPU per crop (thread CPU time: not wall
    time, so a loaded machine does not shrink it)."""
    backend = LocalBackend(BusyModel(0.03), core_share=0.5, batch_max=4)
    sink = Sink()
    backend.start(sink)
    try:
        for k in range(24):
            assert backend.submit(job(k))
    finally:
        backend.stop(timeout_s=30.0)
    assert len(sink.records) == 24
    assert backend.s_per_crop > 0.02  # moved from the 10 ms first guess towards the 30 ms spent
    assert backend.crops_per_s() < 0.5 / 0.02
