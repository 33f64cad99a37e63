"""The per-person state and the crowd value (issue #13)."""

from datetime import UTC, datetime

import pytest

from crowdmood_gui.core.aggregation import TimelineAggregator
from crowdmood_gui.core.config import AppConfig, ConfigError, load_config
from crowdmood_gui.core.crowd import CrowdState, blend_weight, crowd_value
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.records import CaptureMeta, build_record

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def record(emotions: dict[str, float], track: int | None = 1, key: str = "k"):
    details = [{"Confidence": 99.0, "Emotions": [{"Type": k, "Confidence": v} for k, v in emotions.items()]}]
    return build_record(key, {"FaceDetails": details}, CaptureMeta("s", "c", T0, track))


def test_half_life_weights_the_old_estimate_and_the_new_crop_equally():
    assert blend_weight(3.0, 3.0) == pytest.approx(0.5)
    assert blend_weight(6.0, 3.0) == pytest.approx(0.75)
    crowd = CrowdState(half_life_s=3.0)
    crowd.add_record(0.0, record({"HAPPY": 100.0}))
    crowd.add_record(3.0, record({"SAD": 100.0}))
    happy, sad = crowd.estimate(1)[EMOTIONS.index("HAPPY")], crowd.estimate(1)[EMOTIONS.index("SAD")]
    assert (happy, sad) == (pytest.approx(50.0), pytest.approx(50.0))


def test_the_estimate_is_held_between_crops_and_a_change_shows_by_the_second_crop():
    crowd = CrowdState(half_life_s=3.0)
    for t in (0.0, 2.0, 4.0, 6.0):  # a calm person, sampled every 2 s
        crowd.add_record(t, record({"CALM": 95.0, "HAPPY": 5.0}))
    assert crowd.dominant(1) == "CALM"
    assert crowd.estimate(1, at=7.9) == crowd.estimate(1, at=6.1)  # held, not decaying
    crowd.add_record(8.0, record({"HAPPY": 95.0, "CALM": 5.0}))  # they start smiling
    assert crowd.dominant(1) == "CALM"  # one crop is not enough to flip a steady state
    crowd.add_record(10.0, record({"HAPPY": 95.0, "CALM": 5.0}))
    assert crowd.dominant(1) == "HAPPY"  # the second is
    assert crowd.crops(1) == 6


def test_a_late_crop_is_placed_in_capture_order():
    in_order, late = CrowdState(3.0), CrowdState(3.0)
    crops = [(0.0, {"HAPPY": 80.0}), (2.0, {"SAD": 60.0}), (4.0, {"CALM": 70.0})]
    for t, e in crops:
        in_order.add_record(t, record(e))
    for t, e in (crops[0], crops[2], crops[1]):
        late.add_record(t, record(e))
    assert late.estimate(1) == pytest.approx(in_order.estimate(1))
    assert late.estimate(1, at=3.0) == pytest.approx(in_order.estimate(1, at=3.0))


def test_crowd_mean_counts_each_person_once_however_long_they_stay():
    agg = TimelineAggregator(periods=(1, 600))
    # Person 1 stays ten minutes and is sampled every 2 s (300 crops) reading HAPPY 90.
    for second in range(600):
        ids = [1, 2] if second == 300 else [1]
        agg.observe_frame(second + 0.5, len(ids), ids)
        if second % 2 == 0:
            agg.add_record(second + 0.5, record({"HAPPY": 90.0}, track=1))
    # Person 2 passes by once, at 5:00, reading HAPPY 10.
    agg.add_record(300.5, record({"HAPPY": 10.0}, track=2))
    (ten_minutes,) = agg.rows(600)
    assert ten_minutes.tracks == 2 and ten_minutes.rated == 2
    assert ten_minutes.emotions["HAPPY"] == pytest.approx(50.0)  # (90 + 10) / 2, not 300:1
    at_five = {r.t: r for r in agg.rows(1)}[300]
    assert at_five.emotions["HAPPY"] == pytest.approx(50.0)
    assert {r.t: r for r in agg.rows(1)}[301].emotions["HAPPY"] == pytest.approx(90.0)


def test_a_person_without_a_crop_counts_as_a_person_not_in_the_mean():
    agg = TimelineAggregator(periods=(1,))
    agg.observe_frame(0.5, 3, [1, 2, 3])
    agg.add_record(0.5, record({"SAD": 60.0}, track=1))
    (row,) = agg.rows(1)
    assert (row.tracks, row.rated) == (3, 1)
    assert row.emotions["SAD"] == pytest.approx(60.0)
    assert row.shares["SAD"] == 1.0 and row.shares["HAPPY"] == 0.0


def test_shares_are_the_dominant_expression_of_each_person_in_view():
    value = crowd_value([
        tuple(90.0 if k == "HAPPY" else 0.0 for k in EMOTIONS),
        tuple(80.0 if k == "HAPPY" else 0.0 for k in EMOTIONS),
        tuple(70.0 if k == "CALM" else 0.0 for k in EMOTIONS),
        None,
    ])
    assert (value.people, value.rated) == (4, 3)
    assert value.shares["HAPPY"] == pytest.approx(2 / 3) and value.shares["CALM"] == pytest.approx(1 / 3)
    assert sum(value.shares.values()) == pytest.approx(1.0)
    empty = crowd_value([None, None])
    assert empty.people == 2 and empty.means["HAPPY"] is None and empty.shares["HAPPY"] is None


def test_every_second_with_a_rated_person_in_view_has_a_value():
    """Three people in view, each sampled every 2 s at staggered times: the old per-crop
    mean had seconds with no crop at all; the crowd value has one every second."""
    agg = TimelineAggregator(periods=(1,))
    for step in range(200):  # 20 s at 10 fps
        t = step / 10
        agg.observe_frame(t, 3, [1, 2, 3])
        for person in (1, 2, 3):
            if step % 20 == person * 6 % 20:  # one crop per person every 2 s
                agg.add_record(t, record({"HAPPY": 30.0 * person}, track=person))
    rows = agg.rows(1)
    assert all(r.emotions["HAPPY"] is not None for r in rows[2:])
    assert rows[-1].emotions["HAPPY"] == pytest.approx(60.0)  # (30 + 60 + 90) / 3


def test_a_late_record_revises_the_rows_its_person_was_in_view_for():
    agg = TimelineAggregator(periods=(1,))
    for second in range(10):
        agg.observe_frame(second + 0.5, 1, [7])
    agg.pop_updates()
    agg.add_record(3.2, record({"FEAR": 40.0}, track=7))  # arrives late (AWS: up to a minute)
    revised = agg.pop_updates()[1]
    assert [r.t for r in revised] == [3, 4, 5, 6, 7, 8, 9]
    assert all(r.emotions["FEAR"] == pytest.approx(40.0) for r in revised)


def test_boxes_colour_comes_from_the_persons_estimate():
    agg = TimelineAggregator(periods=(1,))
    assert agg.dominant(4) is None
    agg.add_record(0.0, record({"SURPRISED": 70.0}, track=4))
    assert agg.dominant(4) == "SURPRISED"


def test_half_life_is_a_validated_setting(tmp_path):
    assert AppConfig().crowd.half_life_s == 3.0
    path = tmp_path / "c.toml"
    path.write_text("[crowd]\nhalf_life_s = 0\n")
    with pytest.raises(ConfigError, match="crowd.half_life_s"):
        load_config(path)
    with pytest.raises(ValueError):
        CrowdState(half_life_s=0)


def test_a_crop_vector_is_the_mean_of_its_faces_like_the_per_crop_values():
    from crowdmood_gui.core.crowd import mean_vector
    from crowdmood_gui.core.records import emotion_vector

    faces = [{"HAPPY": 90.0, "SAD": 150.0}, {"HAPPY": float("nan"), "CALM": 40.0, "UNKNOWN": 5.0}]
    expected = [emotion_vector({"Type": k, "Confidence": v} for k, v in f.items()) for f in faces]
    assert mean_vector(faces) == pytest.approx(tuple((expected[0][k] + expected[1][k]) / 2 for k in EMOTIONS))
    assert mean_vector(faces)[EMOTIONS.index("SAD")] == 50.0  # clamped to 100, then averaged
    assert mean_vector([]) is None
