from datetime import UTC, datetime

import pytest

from crowdmood_gui.core.aggregation import TimelineAggregator
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.records import CaptureMeta, build_record

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def record(emotions: dict[str, float], track: int = 1, faces: int = 1):
    details = [
        {"Confidence": 99.0, "Emotions": [{"Type": k, "Confidence": v} for k, v in emotions.items()]}
        for _ in range(faces)
    ]
    return build_record("k", {"FaceDetails": details}, CaptureMeta("s", "c", T0, track))


def test_absent_emotions_count_as_zero_in_the_mean():
    agg = TimelineAggregator(periods=(1,))
    agg.add_record(0.2, record({"HAPPY": 90.0}, track=1))
    agg.add_record(0.7, record({"SAD": 40.0, "HAPPY": 10.0}, track=2))
    (row,) = agg.rows(1)
    assert row.analysed == 2
    assert row.emotions["HAPPY"] == pytest.approx(50.0)  # (90 + 10) / 2
    assert row.emotions["SAD"] == pytest.approx(20.0)  # (0 + 40) / 2, not 40
    assert row.emotions["FEAR"] == 0.0


def test_every_face_of_a_crop_counts():
    agg = TimelineAggregator(periods=(1,))
    agg.add_record(0.0, record({"CALM": 60.0}, faces=3))
    assert agg.rows(1)[0].analysed == 3


def test_periods_bucket_and_gaps_are_none_not_zero():
    agg = TimelineAggregator(periods=(1, 10))
    agg.observe_frame(0.5, faces=2, track_ids=[1, 2])
    agg.observe_frame(1.5, faces=1, track_ids=[2])
    agg.add_record(0.5, record({"HAPPY": 80.0}))
    agg.observe_frame(12.0, faces=3, track_ids=[3, 4, 5])
    ones = agg.rows(1)
    assert [r.t for r in ones] == [0, 1, 12]
    assert ones[1].emotions["HAPPY"] is None  # frames but no analysis: a gap
    assert (ones[0].faces, ones[0].tracks) == (2, 2)
    tens = agg.rows(10)
    assert [r.t for r in tens] == [0, 10]
    assert (tens[0].faces, tens[0].tracks) == (2, 2)  # peak faces, distinct tracks
    assert tens[0].emotions["HAPPY"] == pytest.approx(80.0)


def test_pop_updates_returns_only_changed_rows():
    agg = TimelineAggregator(periods=(1, 60))
    agg.observe_frame(0.1, 1, [1])
    first = agg.pop_updates()
    assert set(first) == {1, 60} and len(first[1]) == 1
    assert agg.pop_updates() == {}
    agg.add_record(5.0, record({"ANGRY": 30.0}))
    update = agg.pop_updates()
    assert [r.t for r in update[1]] == [5]
    assert update[60][0].emotions["ANGRY"] == pytest.approx(30.0)


def test_all_eight_types_in_every_row():
    agg = TimelineAggregator(periods=(1,))
    agg.add_record(0.0, record({"HAPPY": 1.0}))
    assert set(agg.rows(1)[0].emotions) == set(EMOTIONS)


def test_rejects_bad_periods():
    with pytest.raises(ValueError):
        TimelineAggregator(periods=(0,))


def test_live_retention_forgets_old_buckets_after_handing_them_out():
    agg = TimelineAggregator(periods=(1, 60), retain_s=120)
    for second in range(3600):  # an hour of frames, 20 people
        agg.observe_frame(second + 0.5, 20, range(20))
        if second % 10 == 0:
            agg.pop_updates()
    agg.pop_updates()
    ones = [r.t for r in agg.rows(1)]
    assert len(ones) <= 125 and ones[-1] == 3599  # ~2 minutes kept, not 3600 buckets
    assert sum(len(agg.rows(p)) for p in agg.periods) < 140  # every bucket kept, all periods
    # A late record for a recent period still lands in its bucket.
    agg.add_record(3550.2, record({"HAPPY": 70.0}))
    assert agg.pop_updates()[1][0].t == 3550


def test_live_retention_bounds_a_person_in_view_all_along():
    # One person in view for two hours, a crop every second, alternating HAPPY and SAD:
    # the crops kept stay within the retained window (they grew without end), and the
    # retained rows read the same values as without forgetting.
    kept = TimelineAggregator(periods=(1, 60), retain_s=120)
    full = TimelineAggregator(periods=(1, 60))
    for second in range(7200):
        emotions = {"HAPPY": 90.0} if second % 2 else {"SAD": 90.0}
        for agg in (kept, full):
            agg.observe_frame(second + 0.5, 1, [1])
            agg.add_record(second + 0.2, record(emotions))
        if second % 10 == 0:
            kept.pop_updates()
    kept.pop_updates()
    assert kept.crowd.crops(1) <= 200  # ~180 s of crops, not 7200
    assert full.crowd.crops(1) == 7200
    recent = {r.t: r.emotions for r in kept.rows(1)}
    assert len(recent) >= 100
    for row in full.rows(1)[-len(recent):]:
        assert recent[row.t] == pytest.approx(row.emotions)
    # A late crop from before the window blends from the kept estimate instead of failing.
    kept.add_record(7000.0, record({"ANGRY": 90.0}))
    assert kept.crowd.estimate(1) is not None


def test_without_retention_everything_is_kept():
    agg = TimelineAggregator(periods=(1,))
    for second in range(500):
        agg.observe_frame(second, 1, [1])
        agg.pop_updates()
    assert len(agg.rows(1)) == 500
