"""Event parsing: every record, URL-decoded keys, TestEvent, SQS and SNS envelopes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aws_fixtures import load_event
from s3_event import S3Object, Skipped, iter_objects


def test_direct_batch_every_record_decoded():
    items = list(iter_objects(load_event("s3_put_batch.json")))
    objects = [i for i in items if isinstance(i, S3Object)]
    skipped = [i for i in items if isinstance(i, Skipped)]
    assert [o.key for o in objects] == [
        "faces/expo-2026/booth-1/20260501T123012.250000Z-t7-0a1b2c3d4e5f.jpg",
        "faces/séance 1/booth A/20260501T123012.900000Z-t3-9f8e7d6c5b4a.jpg",
        "uploads/not-a-face.jpg",
    ]
    assert objects[0].bucket == "crowdmood-faces-a1b2c3"
    assert objects[0].event_time == datetime(2026, 5, 1, 12, 30, 13, 512000, tzinfo=UTC)
    assert objects[0].size == 18342
    assert [s.reason for s in skipped] == ["not_object_created"]


def test_test_event_is_ignored():
    assert [i.reason for i in iter_objects(load_event("s3_test_event.json"))] == ["test_event"]


def test_sqs_envelope_with_test_event_and_duplicate():
    items = list(iter_objects(load_event("sqs_s3_batch.json")))
    assert isinstance(items[0], Skipped) and items[0].reason == "test_event"
    assert items[0].message_id == "059f36b4-87a3-44ab-83d2-661975830a7d"
    objects = [i for i in items if isinstance(i, S3Object)]
    assert len(objects) == 2 and objects[0].key == objects[1].key
    assert objects[0].message_id != objects[1].message_id


def test_sns_inside_sqs():
    s3_event = load_event("s3_put_duplicate.json")
    sns = {"Type": "Notification", "MessageId": "x", "Message": json.dumps(s3_event)}
    event = {"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": json.dumps(sns)}]}
    (obj,) = iter_objects(event)
    assert obj.key.startswith("faces/expo-2026/")


def test_garbage_is_reported_not_raised():
    event = {"Records": [{"eventSource": "aws:sqs", "messageId": "m", "body": "not json"}, 42, {"eventSource": "aws:kinesis"}]}
    assert [i.reason for i in iter_objects(event)] == ["unparsable"] * 3
    assert [i.reason for i in iter_objects([])] == ["unparsable"]
    assert list(iter_objects({})) == []
