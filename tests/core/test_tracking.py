"""IoU tracker: stable ids, several faces, gaps, expiry, fast moves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from crowdmood_gui.core.tracking import IouTracker, Track, _greedy, _greedy_pairs, iou_matrix, iou_pairs

DT = 1 / 30


@dataclass
class Det:  # the shape of detection.Detection (duck-typed)
    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 0.9
    landmarks: tuple = ()


def box(cx: float, cy: float, size: float = 80.0, **kw) -> Det:
    return Det(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2, **kw)


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    assert np.allclose(iou_matrix(a, b)[0], [1.0, 50 / 150, 0.0])
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)


@pytest.mark.parametrize("seed", range(6))
def test_iou_pairs_are_the_matrix_non_zero_entries_and_match_the_same(seed):
    # crowds of small boxes, a few large ones and duplicates: the sparse pairs (only boxes
    # that touch are compared) are exactly the dense matrix's non-zero entries, in its
    # order, and the greedy matching over them takes the same pairs
    rng = np.random.default_rng(seed)

    def boxes(n):
        xy = rng.uniform(0, 3800, (n, 2)) * [1, 0.56]
        side = np.where(rng.random(n) < 0.05, rng.uniform(100, 400, n), rng.uniform(20, 45, n))
        out = np.column_stack((xy, xy + side[:, None] * rng.uniform(0.8, 1.2, (n, 2))))
        return out

    a = boxes(300 + 50 * seed)
    b = np.concatenate((a[::3] + rng.normal(0, 4, a[::3].shape), boxes(200)))
    dense = iou_matrix(a, b)
    rows, cols, iou = iou_pairs(a, b)
    want_r, want_c = np.nonzero(dense)
    assert len(want_r) > len(a) // 3  # many real overlaps
    assert np.array_equal(rows, want_r) and np.array_equal(cols, want_c)
    assert np.allclose(iou, dense[want_r, want_c])
    take = iou >= 0.3
    assert _greedy_pairs(rows[take], cols[take], iou[take], descending=True) == _greedy(dense, dense >= 0.3,
                                                                                          descending=True)
    assert [len(v) for v in iou_pairs(a, np.zeros((0, 4)))] == [0, 0, 0]


def test_moving_face_keeps_one_id_over_50_frames():
    tracker = IouTracker()
    ids = set()
    for i in range(50):
        visible = tracker.update([box(100 + 6 * i, 150 + 2 * i)], i * DT)
        assert len(visible) == 1
        ids.add(visible[0].id)
    assert ids == {1}
    track = tracker.active_tracks[0]
    assert track.hits == 50
    assert track.age_s == pytest.approx(49 * DT)
    assert track.first_seen_s == 0 and track.last_seen_s == pytest.approx(49 * DT)


def test_fast_move_without_overlap_keeps_its_id():
    # 70 px per frame with an 80 px face: IoU with the last box is ~0.07, under the threshold.
    tracker = IouTracker()
    ids = {tracker.update([box(100 + 70 * i, 200)], i * DT)[0].id for i in range(8)}
    assert ids == {1}


def test_two_faces_get_two_stable_ids_in_any_detection_order():
    tracker = IouTracker()
    first = tracker.update([box(100, 100), box(400, 120)], 0.0)
    assert [t.id for t in first] == [1, 2]
    left_id = next(t.id for t in first if t.x1 < 200)
    for i in range(1, 30):
        dets = [box(100 + 2 * i, 100), box(400 - 2 * i, 120)]
        if i % 2:
            dets.reverse()
        visible = tracker.update(dets, i * DT)
        assert sorted(t.id for t in visible) == [1, 2]
        assert next(t.id for t in visible if t.x1 < 250) == left_id
    assert tracker.total_tracks == 2


def test_one_frame_gap_is_survived():
    tracker = IouTracker(max_missed_s=1.0)
    tracker.update([box(100, 100)], 0.0)
    tracker.update([box(104, 100)], DT)
    assert tracker.update([], 2 * DT) == []  # not visible in the frame it was missed
    assert [t.id for t in tracker.active_tracks] == [1]
    assert tracker.active_tracks[0].missed == 1
    assert [t.id for t in tracker.update([box(112, 100)], 3 * DT)] == [1]
    assert tracker.active_tracks[0].missed == 0


def test_track_is_dropped_after_max_missed_s_and_ids_are_not_reused():
    tracker = IouTracker(max_missed_s=1.0)
    tracker.update([box(100, 100)], 0.0)
    assert [t.id for t in tracker.update([], 0.9)] == []
    assert len(tracker.active_tracks) == 1  # 0.9 s: still alive
    tracker.update([], 1.05)
    assert tracker.active_tracks == []
    assert [t.id for t in tracker.update([box(100, 100)], 1.1)] == [2]


def test_new_and_unmatched_faces():
    tracker = IouTracker()
    tracker.update([box(100, 100)], 0.0)
    # The first face leaves, a far-away one arrives: a new id, not a jump.
    visible = tracker.update([box(500, 300)], DT)
    assert [t.id for t in visible] == [2]
    assert sorted(t.id for t in tracker.active_tracks) == [1, 2]


def test_track_carries_detection_fields_and_sampler_state():
    tracker = IouTracker()
    marks = ((90.0, 95.0), (110.0, 95.0), (100.0, 105.0), (92.0, 115.0), (108.0, 115.0))
    (track,) = tracker.update([box(100, 100, score=0.8, landmarks=marks)], 5.0)
    assert isinstance(track, Track)
    assert track.box == (60.0, 60.0, 140.0, 140.0) and track.score == 0.8
    assert track.landmarks == marks
    assert track.last_sampled_s is None
    track.last_sampled_s = 5.0
    tb = track.to_box(dominant="HAPPY")  # the label comes from the crowd state, passed in
    assert (tb.track_id, tb.x1, tb.y2, tb.dominant) == (1, 60.0, 140.0, "HAPPY")
    (again,) = tracker.update([box(102, 100, score=0.95)], 5.0 + DT)
    assert again is track and again.score == 0.95 and again.last_sampled_s == 5.0


def test_min_hits_hides_one_frame_flickers():
    tracker = IouTracker(min_hits=2)
    assert tracker.update([box(100, 100)], 0.0) == []
    assert [t.id for t in tracker.update([box(102, 100)], DT)] == [1]


def test_reset_forgets_tracks():
    tracker = IouTracker()
    tracker.update([box(100, 100)], 0.0)
    tracker.reset()
    assert tracker.active_tracks == []
    assert [t.id for t in tracker.update([box(100, 100)], DT)] == [2]
