"""Crop sampler (interval, size, blur, budget gate, margins) and face blurring."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from crowdmood_gui.core.sampling import CropSampler, blur_faces, sharpness
from crowdmood_gui.core.tracking import Track


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """A 640x480 frame with fine texture everywhere (every region is sharp)."""
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 1.0)


def track(tid: int, x1: float, y1: float, x2: float, y2: float, **kw) -> Track:
    return Track(id=tid, box=(x1, y1, x2, y2), score=kw.pop("score", 0.9), first_seen_s=0.0,
                 last_seen_s=0.0, **kw)


def test_one_sample_per_track_per_interval(scene):
    sampler = CropSampler(interval_s=2.0)
    a, b = track(1, 100, 100, 200, 200), track(2, 300, 150, 380, 240)
    taken = {1: [], 2: []}
    for k in range(17):  # every 0.5 s for 8 s
        now = k * 0.5
        for s in sampler.select(scene, [a, b], now):
            taken[s.track_id].append(now)
    # both at once when they appear; the second of the two waits half an interval more once,
    # so from then on they are cut a second apart
    assert taken == {1: [0.0, 2.0, 4.0, 6.0, 8.0], 2: [0.0, 3.0, 5.0, 7.0]}
    assert sampler.stats.sampled == 9


def test_faces_that_appear_together_are_spread_over_the_interval(scene):
    sampler = CropSampler(interval_s=2.0)
    crowd = [track(i, 20 + (i % 8) * 75, 20 + (i // 8) * 75, 80 + (i % 8) * 75, 80 + (i // 8) * 75)
             for i in range(1, 21)]
    per_second: dict[int, int] = {}
    taken: dict[int, list[float]] = {t.id: [] for t in crowd}
    for k in range(200):  # every 0.05 s for 10 s
        now = round(k * 0.05, 2)
        for s in sampler.select(scene, crowd, now):
            per_second[int(now)] = per_second.get(int(now), 0) + 1
            taken[s.track_id].append(now)
    assert per_second[0] == 20  # everyone at once when they appear
    # then half of them every second (20 people / 2 s), never all or none
    assert all(per_second[t] == 10 for t in range(2, 10)), per_second
    for times in taken.values():  # and never more often than the interval
        assert all(b - a >= 2.0 - 1e-9 for a, b in zip(times, times[1:]))


def test_a_lone_face_is_not_delayed(scene):
    sampler = CropSampler(interval_s=2.0)
    a = track(1, 100, 100, 200, 200)
    taken = [now for now in (0.0, 1.0, 2.0, 3.0, 4.0) if sampler.select(scene, [a], now)]
    assert taken == [0.0, 2.0, 4.0]


def test_a_new_track_is_sampled_at_once(scene):
    sampler = CropSampler(interval_s=2.0)
    a = track(1, 100, 100, 200, 200)
    assert len(sampler.select(scene, [a], 0.0)) == 1
    newcomer = track(2, 300, 150, 380, 240)
    assert [s.track_id for s in sampler.select(scene, [a, newcomer], 0.3)] == [2]


def test_small_faces_are_skipped(scene):
    sampler = CropSampler(min_face_px=40)
    small = track(1, 100, 100, 139, 200)  # 39 px wide
    assert sampler.select(scene, [small], 0.0) == []
    assert sampler.stats.too_small == 1 and small.last_sampled_s is None
    ok = track(2, 100, 100, 140, 140)
    assert len(sampler.select(scene, [ok], 0.0)) == 1


def test_blurred_faces_are_skipped_until_a_sharp_frame(scene):
    sampler = CropSampler(min_sharpness=15.0)
    face = track(1, 200, 100, 300, 200)
    blurred = scene.copy()
    blurred[100:200, 200:300] = cv2.GaussianBlur(blurred[100:200, 200:300], (0, 0), 6)
    assert sharpness(cv2.cvtColor(blurred[100:200, 200:300], cv2.COLOR_BGR2GRAY)) < 15
    assert sampler.select(blurred, [face], 0.0) == []
    assert sampler.stats.blurry == 1
    (sample,) = sampler.select(scene, [face], 0.1)  # still due: the next sharp frame is taken
    assert sample.sharpness > 15


def test_budget_gate_is_asked_before_cutting(scene):
    calls = []
    allow = {"yes": False}

    def wants(track_id, now_s, analysed_before):
        calls.append((track_id, now_s, analysed_before))
        return allow["yes"]

    sampler = CropSampler(interval_s=1.0)
    t = track(7, 100, 100, 200, 200)
    assert sampler.select(scene, [t], 0.0, wants=wants) == []
    assert t.last_sampled_s is None and sampler.stats.refused == 1  # refused: stays due
    allow["yes"] = True
    assert len(sampler.select(scene, [t], 0.2, wants=wants)) == 1
    assert sampler.select(scene, [t], 1.3, wants=wants)
    assert calls == [(7, 0.0, False), (7, 0.2, False), (7, 1.3, True)]
    # Not asked for faces that would be skipped anyway (small, blurred, not due).
    sampler.select(scene, [t, track(8, 0, 0, 10, 10)], 1.5, wants=wants)
    assert len(calls) == 3
    # A person whose reading came back counts as analysed even before this sampler cut them
    # (the crowd state is the one place that knows; Track kept a count that stayed 0).
    sampler.select(scene, [track(9, 100, 100, 200, 200)], 1.6, wants=wants, has_reading=lambda tid: tid == 9)
    assert calls[-1] == (9, 1.6, True)


def test_crop_margin_face_box_and_landmarks(scene):
    sampler = CropSampler(margin=0.25)
    marks = ((120.0, 130.0), (180.0, 130.0), (150.0, 150.0), (125.0, 165.0), (175.0, 165.0))
    t = track(3, 100, 100, 200, 180, landmarks=marks, score=0.77)
    (s,) = sampler.select(scene, [t], 0.0)
    # 100x80 face + 25 px / 20 px each side -> 150x120 crop at (75, 80)
    assert s.crop.shape == (120, 150, 3)
    assert s.face_box == (25, 20, 125, 100)
    assert np.array_equal(s.crop, scene[80:200, 75:225])
    assert not np.shares_memory(s.crop, scene)
    assert s.landmarks[0] == (45.0, 50.0) and s.landmarks[-1] == (100.0, 85.0)
    assert s.score == 0.77 and s.track_id == 3 and s.now_s == 0.0


def test_crop_is_clipped_at_the_frame_edge(scene):
    (s,) = CropSampler(margin=0.25).select(scene, [track(1, 0, 0, 60, 60)], 0.0)
    assert s.crop.shape == (75, 75, 3)
    assert s.face_box == (0, 0, 60, 60)
    h, w = scene.shape[:2]
    (s,) = CropSampler(margin=0.25).select(scene, [track(2, w - 50, h - 60, w + 10, h)], 0.0)
    # 60x60 face sticking 10 px out on the right: 15 px margins left/top, none right/bottom
    assert s.crop.shape == (75, 65, 3)
    assert s.face_box == (15, 15, 65, 75)


def test_blur_faces_in_place(scene):
    image = scene.copy()
    out = blur_faces(image, [(200, 100, 300, 200), track(2, 400, 300, 480, 380)])
    assert out is image
    face = cv2.cvtColor(image[100:200, 200:300], cv2.COLOR_BGR2GRAY)
    assert sharpness(face) < 5 < sharpness(cv2.cvtColor(scene[100:200, 200:300], cv2.COLOR_BGR2GRAY))
    assert not np.array_equal(image[300:380, 400:480], scene[300:380, 400:480])
    assert np.array_equal(image[:80], scene[:80])  # outside the boxes (+margin) untouched
    assert np.array_equal(image[:, :180], scene[:, :180])
    blur_faces(image, [(-50, -50, 5, 5), (630, 470, 700, 500)])  # off-frame boxes: no error


def test_a_crop_allowance_reads_the_most_overdue_first_and_everyone_in_turn(scene):
    """Live, the backend takes fewer crops than a crowd wants: each person is read less
    often than the interval, but in turn (the most overdue first), nobody twice before
    everyone once, and newcomers before all."""
    sampler = CropSampler(interval_s=2.0)
    crowd = [track(i, 20 + (i % 8) * 75, 20 + (i // 8) * 75, 80 + (i % 8) * 75, 80 + (i // 8) * 75)
             for i in range(1, 13)]
    order: list[int] = []
    for k in range(48):  # every 0.5 s for 24 s, one crop allowed each time: 2 crops/s for 12 people
        now = k * 0.5
        taken = sampler.select(scene, crowd, now, max_crops=1)
        assert len(taken) == 1
        order.extend(s.track_id for s in taken)
    first_round = order[:12]
    assert sorted(first_round) == [t.id for t in crowd]  # every newcomer once, first
    for r in range(1, 4):  # then the same order again and again: the most overdue first
        assert order[12 * r:12 * (r + 1)] == first_round
    # a newcomer goes before everyone overdue
    late = track(99, 400, 300, 460, 360)
    assert [s.track_id for s in sampler.select(scene, [*crowd, late], 24.0, max_crops=1)] == [99]
    # no allowance: nothing is cut and nobody is marked sampled
    before = [t.last_sampled_s for t in crowd]
    assert sampler.select(scene, crowd, 25.0, max_crops=0) == []
    assert [t.last_sampled_s for t in crowd] == before


def test_without_an_allowance_every_due_face_is_cut(scene):
    for allowance in (None, 100):
        crowd = [track(i, 20 + i * 70, 100, 80 + i * 70, 160) for i in range(8)]
        assert len(CropSampler(interval_s=2.0).select(scene, crowd, 0.0, max_crops=allowance)) == 8
