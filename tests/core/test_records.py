"""The shared Rekognition response -> record -> metrics / DynamoDB item logic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from crowdmood_gui.core import records
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.records import CaptureMeta

EVENTS = Path(__file__).parents[1] / "lambda" / "events"
CAPTURED = datetime(2026, 5, 1, 14, 30, 12, 250000, tzinfo=timezone(timedelta(hours=2)))


def _response(name: str = "detect_faces_two_faces.json") -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def _meta(**kw) -> CaptureMeta:
    base = dict(session="expo-2026", camera="booth-1", captured_at=CAPTURED, track_id=7)
    base.update(kw)
    return CaptureMeta(**base)


def test_every_face_all_eight_emotions_absent_is_zero():
    rec = records.build_record("faces/a.jpg", _response(), _meta())
    assert len(rec.faces) == 2
    first, second = rec.faces
    assert set(first.emotions) == set(EMOTIONS)
    assert first.emotions["HAPPY"] == 92.5 and first.emotions["SAD"] == 0.0
    assert "UNKNOWN" not in first.emotions
    assert first.dominant == "HAPPY" and second.dominant == "SAD"
    assert first.age_range == {"Low": 24, "High": 32}
    assert rec.dominant == "HAPPY"  # the most confident face


def test_no_face_record():
    rec = records.build_record("faces/a.jpg", _response("detect_faces_no_face.json"), _meta())
    assert rec.faces == () and rec.dominant is None
    datums = records.build_metric_data([rec])
    assert {d["MetricName"] for d in datums} == {records.FACES_METRIC}
    assert all(d["Value"] == 0.0 for d in datums)


def test_metric_data_dimensions_timestamp_resolution():
    rec = records.build_record("faces/a.jpg", _response(), _meta())
    datums = records.build_metric_data([rec])
    assert len(datums) == 3 * (len(EMOTIONS) + 1)
    dims = {tuple((d["Name"], d["Value"]) for d in datum.get("Dimensions", [])) for datum in datums}
    assert dims == {
        (("Session", "expo-2026"), ("Camera", "booth-1")),
        (("Session", "expo-2026"),),
        (),
    }
    assert all(d["Timestamp"] == CAPTURED.astimezone(UTC) for d in datums)
    assert all(d["StorageResolution"] == 1 for d in datums)
    happy = [d for d in datums if d["MetricName"] == "HAPPY"]
    assert all(d["Values"] == [92.5, 0.0] for d in happy)
    faces = [d for d in datums if d["MetricName"] == "Faces"]
    assert all(d["Value"] == 2.0 for d in faces)


def test_metric_batches_respect_the_api_limit():
    recs = [records.build_record(f"faces/{i}.jpg", _response(), _meta()) for i in range(50)]
    datums = records.build_metric_data(recs)
    batches = records.metric_batches(datums)
    assert len(datums) == 50 * 27
    assert [len(b) for b in batches] == [1000, 350]


def test_crop_keys_never_collide_and_keep_the_prefix():
    meta = _meta()
    keys = {records.crop_key(meta) for _ in range(1000)}
    assert len(keys) == 1000
    key = next(iter(keys))
    assert key.startswith("faces/expo-2026/booth-1/20260501T123012.250000Z-t7-")
    assert key.endswith(".jpg")


def test_s3_metadata_round_trip_ascii_unchanged():
    meta = _meta()
    wire = meta.to_s3_metadata()
    assert wire == {
        "captured-at": "2026-05-01T12:30:12.250+00:00",
        "session": "expo-2026",
        "camera": "booth-1",
        "track-id": "7",
    }
    back = CaptureMeta.from_s3_metadata(wire, fallback_time=datetime.now(UTC))
    assert back == meta


def test_s3_metadata_non_ascii_is_rfc2047_and_round_trips():
    meta = _meta(session="séance 1", camera="caméra")
    wire = meta.to_s3_metadata()
    assert all(v.isascii() for v in wire.values())
    assert wire["session"].startswith("=?UTF-8?B?")
    back = CaptureMeta.from_s3_metadata(wire, fallback_time=datetime.now(UTC))
    assert back.session == "séance 1" and back.camera == "caméra"
    # The Q form (as some SDKs write it) decodes as well; junk stays as it is.
    assert records.decode_metadata_value("=?utf-8?Q?s=C3=A9ance_1?=") == "séance 1"
    assert records.decode_metadata_value("=?UTF-8?B?not base64!?=") == "=?UTF-8?B?not base64!?="


def test_s3_metadata_fallbacks():
    fallback = datetime(2026, 1, 1, tzinfo=UTC)
    meta = CaptureMeta.from_s3_metadata({"Track-Id": "x", "captured-at": "yesterday"}, fallback_time=fallback)
    assert meta == CaptureMeta(session="default", camera="unknown", captured_at=fallback, track_id=None)


def test_dynamodb_item_decimals_ttl_and_round_trip():
    rec = records.build_record("faces/a.jpg", _response(), _meta())
    item = records.to_dynamodb_item(records.record_to_item(rec, ttl_days=30))
    assert item["s3key"] == "faces/a.jpg"
    assert item["captured_at"] == "2026-05-01T12:30:12.250+00:00"
    assert item["ttl"] == int((CAPTURED + timedelta(days=30)).timestamp())
    face = item["faces"][0]
    assert set(face["emotions"]) == set(EMOTIONS)
    assert face["emotions"]["HAPPY"] == Decimal("92.5")
    assert face["emotions"]["ANGRY"] == Decimal("0.0")
    assert isinstance(face["bounding_box"]["Width"], Decimal)

    def no_float(value):
        if isinstance(value, dict):
            return all(no_float(v) for v in value.values())
        if isinstance(value, list):
            return all(no_float(v) for v in value)
        return not isinstance(value, float)

    assert no_float(item)
    back = records.item_to_record(item)
    assert back.key == rec.key and back.meta == rec.meta
    assert back.faces[0].emotions == rec.faces[0].emotions
    assert back.dominant == "HAPPY"


@pytest.mark.parametrize("ttl_days", [None, 0])
def test_item_without_ttl(ttl_days):
    rec = records.build_record("faces/a.jpg", _response(), _meta())
    assert "ttl" not in records.record_to_item(rec, ttl_days=ttl_days)


def test_naive_times_are_rejected():
    with pytest.raises(ValueError):
        records.iso_utc(datetime(2026, 1, 1))
    assert records.parse_time("2026-01-01T00:00:00") is None
    assert records.parse_time("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)


def test_split_by_metric_window():
    from datetime import UTC, datetime, timedelta

    from crowdmood_gui.core.records import CaptureMeta, FaceRecord, split_by_metric_window

    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    ages = [timedelta(0), timedelta(days=13), timedelta(days=15), -timedelta(hours=1), -timedelta(hours=3)]
    recs = [FaceRecord(f"k{i}", CaptureMeta("s", "c", now - age)) for i, age in enumerate(ages)]
    ok, refused = split_by_metric_window(recs, now)
    assert [r.key for r in ok] == ["k0", "k1", "k3"] and [r.key for r in refused] == ["k2", "k4"]


def test_attribute_values_round_trip_a_record_item():
    rec = records.build_record("faces/a.jpg", _response(), _meta())
    item = records.to_dynamodb_item(records.record_to_item(rec, ttl_days=30))
    wire = records.to_attribute_values(item)
    assert wire["s3key"] == {"S": item["s3key"]}
    assert all(len(value) == 1 for value in wire.values())  # each one typed: {"S": ...}, {"N": ...}, {"L": ...}
    assert wire["ttl"] == {"N": str(item["ttl"])}
    assert records.from_attribute_values(wire) == item
