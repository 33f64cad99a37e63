"""Boxes shown where the face is now (#12): a live frame is painted with the boxes of the
last detection cycle, up to a cycle older; each box moves on its track's velocity to the
frame's time, bounded, and the privacy blur covers both places."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.detection import FaceDetector
from crowdmood_gui.core.events import ShownBoxes, TrackBox
from crowdmood_gui.core.pipeline import Pipeline
from crowdmood_gui.core.tracking import MAX_BOX_LEAD_S, MAX_EXTRAPOLATION_S, FaceTracker

FPS = 30.0
CYCLE_FRAMES = 6  # a detection cycle every 200 ms: the live 5 Hz refresh


def test_a_box_moves_on_its_velocity_within_its_lead():
    box = TrackBox(1, 100, 50, 140, 90, 0.9, "HAPPY", vx=100.0, vy=-50.0, time_s=2.0, lead_s=0.3)
    assert box.at(1.5) is box  # an older frame: as detected
    moved = box.at(2.1)
    assert (moved.x1, moved.y1, moved.x2, moved.y2) == pytest.approx((110, 45, 150, 85))
    assert moved.dominant == "HAPPY" and moved.track_id == 1
    assert box.at(2.1, "SAD").dominant == "SAD" and box.at(1.5, None).dominant is None
    far = box.at(5.0)  # a stalled display: no further than the lead
    assert far.x1 == pytest.approx(130) and far.at(9.0).x1 == pytest.approx(130)


def test_the_array_form_moves_every_box_exactly_as_one_box_moves():
    # The display thread moves a whole cycle's boxes at once (ShownBoxes.at): the result must
    # be TrackBox.at's, box for box and bit for bit (older frames, the lead, labels).
    rng = np.random.default_rng(7)
    boxes = tuple(
        TrackBox(int(i), *map(float, rng.uniform(0, 3000, 2)), *map(float, rng.uniform(3000, 3800, 2)),
                 float(rng.uniform(0.5, 1)), rng.choice(["HAPPY", "SAD", None]),
                 vx=float(rng.normal(0, 80)) if i % 3 else 0.0, vy=float(rng.normal(0, 80)),
                 time_s=float(rng.uniform(9.5, 10.5)), lead_s=float(rng.uniform(0, 0.5)))
        for i in range(300))
    labels = {i: ("CALM" if i % 2 else None) for i in range(300)}
    shown = ShownBoxes.from_boxes(boxes)
    assert tuple(shown) == boxes and len(shown) == 300 and shown[5] == boxes[5]
    for t in (9.0, 10.0, 10.2, 12.0):
        assert tuple(shown.at(t)) == tuple(b.at(t) for b in boxes)
        assert tuple(shown.at(t, labels.get)) == tuple(b.at(t, labels.get(b.track_id)) for b in boxes)
    moved_twice = shown.at(10.2).at(10.4)  # a box keeps its remaining lead
    assert tuple(moved_twice) == tuple(b.at(10.2).at(10.4) for b in boxes)
    assert len(ShownBoxes.from_boxes(())) == 0 and not ShownBoxes.from_boxes(()).at(3.0)


def test_a_track_unseen_for_long_is_not_moved():
    tracker = FaceTracker(max_missed_s=5.0)
    for i in range(5):
        tracker.update([SimpleNamespace(x1=100 + 10 * i, y1=100, x2=140 + 10 * i, y2=140, score=0.9)], i * 0.1)
    (track,) = tracker.active_tracks
    assert track.velocity[0] == pytest.approx(100, rel=0.2)
    assert track.to_box(0.4).lead_s == MAX_BOX_LEAD_S
    coasting = track.to_box(0.3 + MAX_EXTRAPOLATION_S - 0.1)  # last seen at 0.4 s
    assert coasting.lead_s == pytest.approx(0.2)
    stale = track.to_box(0.4 + MAX_EXTRAPOLATION_S + 0.5)
    assert stale.at(10.0) is stale and (stale.vx, stale.vy) == (0.0, 0.0)


def sliding_clip(stop_frame: int, frames: int, speed_px_s: float = 150.0):
    """A real face (~60 px) on a grey 640x360 frame, sliding right, then standing still."""
    face = cv2.imread(str(Path(__file__).parents[1] / "data" / "single_face.jpg"))
    small = cv2.resize(face, (200, 196), interpolation=cv2.INTER_AREA)
    for index in range(frames):
        x = 40 + speed_px_s * min(index, stop_frame) / FPS
        image = np.full((360, 640, 3), 90, np.uint8)
        xi = int(round(x))
        image[80:276, xi:xi + 200] = small
        yield index, image


def test_a_sliding_face_is_painted_where_it_is_and_not_past_where_it_stops():
    detector = FaceDetector(threads=2)
    tracker = FaceTracker()
    stop = 60
    shown_err, held_err, after_stop = [], [], []
    boxes: tuple[TrackBox, ...] = ()
    reference = None  # the face's offset inside the pasted image, from the first detection
    for index, image in sliding_clip(stop, 120):
        t = index / FPS
        x_true = 40 + 150.0 * min(index, stop) / FPS
        if index % CYCLE_FRAMES == 0:  # a detection cycle: the boxes the display gets
            (track,) = tracker.update(detector.detect(image), t)
            boxes = (track.to_box(t),)
            if reference is None:
                reference = (track.box[0] + track.box[2]) / 2 - x_true
            continue
        # A frame between cycles, painted with the last cycle's boxes
        (box,) = boxes
        truth = x_true + reference
        shown = box.at(t)
        error = abs((shown.x1 + shown.x2) / 2 - truth)
        if 2 * CYCLE_FRAMES <= index < stop:  # the velocity is known after two cycles
            shown_err.append(error)
            held_err.append(abs((box.x1 + box.x2) / 2 - truth))
        elif index >= stop + 3 * CYCLE_FRAMES:  # stopped three cycles ago
            after_stop.append(error)
    # Held boxes trail by up to one cycle of motion (30 px at 150 px/s)
    assert np.mean(held_err) > 10
    assert np.mean(shown_err) < 0.3 * np.mean(held_err) and max(shown_err) < 8
    # Once the face stops, the boxes stop with it: no overshoot left
    assert max(after_stop) < 4, after_stop


def test_the_pipeline_paints_and_blurs_boxes_at_the_frame_time():
    config = AppConfig()
    config.privacy.blur_faces = True
    pipeline = Pipeline(config, realtime=True)
    box = TrackBox(4, 100, 100, 160, 160, 0.9, vx=300.0, vy=0.0, time_s=1.0, lead_s=0.5)
    pipeline._tracks = (box,)
    pipeline._privacy_boxes = (box,)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    frame = SimpleNamespace(index=7, media_time_s=1.1, captured_monotonic=0.0, image=image)
    event = pipeline._frame_event(frame, pipeline._tracks)
    (shown,) = event.tracks
    assert (shown.x1, shown.x2) == pytest.approx((130, 190))
    noisy = lambda x1, x2: float(np.std(cv2.Laplacian(event.image[110:150, x1:x2], cv2.CV_64F)))
    original = float(np.std(cv2.Laplacian(image[110:150, 100:190], cv2.CV_64F)))
    # Both where the face was detected and where it is now are blurred; beyond, untouched.
    assert noisy(105, 125) < 0.2 * original and noisy(165, 185) < 0.2 * original
    assert np.array_equal(event.image[:, 250:], image[:, 250:])
    assert np.array_equal(frame.image, image)  # the detector's frame is not blurred
