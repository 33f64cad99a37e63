"""The Lambda on events it must survive (issue #14): malformed records are logged skips that
never fail or stall the good records beside them; EventBridge events are ignored with a log
line; a batch too large for one invocation stops before the timeout and loses nothing."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from moto import mock_aws

from aws_fixtures import BUCKET, CallRecorder, MotoWorld, expect_detect, load_event
from crowdmood_gui.core.records import CaptureMeta
from handler import RESERVE_S, Settings, TimeBudgetExceeded, handle
from s3_event import Skipped, iter_objects

from test_lambda_handler import CAPTURE1, KEY1, NOW

GOOD = load_event("s3_put_duplicate.json")["Records"][0]  # KEY1, ObjectCreated:Put


def _with(key=..., bucket=...):
    record = copy.deepcopy(GOOD)
    if key is not ...:
        record["s3"]["object"]["key"] = key
    if bucket is not ...:
        record["s3"]["bucket"]["name"] = bucket
    return record


@pytest.fixture
def world():
    with mock_aws():
        w = MotoWorld()
        w.metrics = CallRecorder(w.cw, "PutMetricData")
        w.put_crop(KEY1, CaptureMeta("expo-2026", "booth-1", CAPTURE1, 7))
        yield w


def _item(world, key):
    return world.ddb.get_item(TableName="rekognize-faces", Key={"s3key": {"S": key}}, ConsistentRead=True).get("Item")


def _log_lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


@pytest.mark.parametrize("bad", [
    _with(key=None), _with(key=12345), _with(key=""), _with(bucket=7), _with(bucket=None),
    {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": "x", "object": []}},
    "not a record",
])
def test_a_malformed_record_is_a_logged_skip_and_the_good_one_is_sent(world, capsys, bad):
    expect_detect(world.stub, BUCKET, KEY1)
    event = {"Records": [bad, GOOD]}
    summary = handle(event, world.clients, Settings(), now=lambda: NOW)
    assert summary["processed"] == 1
    assert [s["reason"] for s in summary["skipped"]] == ["unparsable"]
    assert _item(world, KEY1)["metrics_state"]["S"] == "sent"  # not left pending
    assert len(world.metrics.calls) == 1
    assert any(line.get("event") == "record_skipped" for line in _log_lines(capsys))


@pytest.mark.parametrize("records", [{"0": GOOD}, "Records", 42, True])
def test_records_that_is_not_a_list_is_a_logged_skip(world, capsys, records):
    summary = handle({"Records": records}, world.clients, Settings(), now=lambda: NOW)
    assert summary["processed"] == 0
    assert summary["skipped"][0]["reason"] == "unparsable" and "not a list" in summary["skipped"][0]["detail"]
    assert any(line.get("event") == "record_skipped" for line in _log_lines(capsys))


def test_an_sqs_body_with_records_that_are_not_objects_skips_them_and_keeps_the_good(world):
    expect_detect(world.stub, BUCKET, KEY1)
    event = {"Records": [
        {"messageId": "m-bad", "eventSource": "aws:sqs", "body": json.dumps({"Records": ["x", 5, None]})},
        {"messageId": "m-bad2", "eventSource": "aws:sqs", "body": json.dumps({"Records": {"a": 1}})},
        {"messageId": "m-good", "eventSource": "aws:sqs", "body": json.dumps({"Records": [GOOD]})},
    ]}
    summary = handle(event, world.clients, Settings(), now=lambda: NOW)
    assert summary["processed"] == 1
    assert [s["reason"] for s in summary["skipped"]] == ["unparsable"] * 4
    assert _item(world, KEY1)["metrics_state"]["S"] == "sent"


def test_an_eventbridge_object_created_event_is_ignored_with_a_log_line(world, capsys):
    event = {
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "123456789012", "time": "2026-05-01T12:30:13Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {"version": "0", "bucket": {"name": BUCKET}, "object": {"key": KEY1, "size": 18342},
                   "reason": "PutObject"},
    }
    summary = handle(event, world.clients, Settings(), now=lambda: NOW)
    assert summary["processed"] == 0 and _item(world, KEY1) is None
    ignored = [line for line in _log_lines(capsys) if line.get("event") == "eventbridge_ignored"]
    assert len(ignored) == 1 and KEY1 in ignored[0]["detail"]


def test_iter_objects_never_raises_on_odd_shapes():
    odd = [None, [], {"Records": None}, {"Records": [{"eventSource": "aws:sqs", "body": 5}]},
           {"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "faces/x.jpg"}},
                         "eventName": "ObjectCreated:Put", "eventTime": 12}]}]
    for event in odd:
        items = list(iter_objects(event))
        assert all(isinstance(i, Skipped) or i.event_time is None for i in items)


def test_a_batch_too_big_for_one_invocation_stops_in_time_and_the_retry_finishes_it(world):
    keys = [f"faces/expo-2026/booth-1/k{i}.jpg" for i in range(6)]
    records = []
    for key in keys:
        world.put_crop(key, CaptureMeta("expo-2026", "booth-1", CAPTURE1, 1))
        records.append(_with(key=key))
    event = {"Records": records}

    clock = {"t": NOW}

    def now():  # every call costs one second of the invocation
        clock["t"] += timedelta(seconds=1)
        return clock["t"]

    for key in keys[:2]:
        expect_detect(world.stub, BUCKET, key)
    # 4.5 s left beyond the reserve: two objects fit (each costs 2 clock reads here).
    with pytest.raises(TimeBudgetExceeded):
        handle(event, world.clients, Settings(), now=now, remaining_s=RESERVE_S + 4.5)
    world.stub.assert_no_pending_responses()
    assert [(_item(world, k) or {}).get("metrics_state", {}).get("S") for k in keys] == ["sent", "sent"] + [None] * 4

    # The retry (Lambda's, or aws-redrive's) skips the two done crops before Rekognition.
    for key in keys[2:]:
        expect_detect(world.stub, BUCKET, key)
    summary = handle(event, world.clients, Settings(), now=lambda: NOW)
    world.stub.assert_no_pending_responses()
    assert summary["processed"] == 4 and summary["duplicates"] == 2
    assert all(_item(world, k)["metrics_state"]["S"] == "sent" for k in keys)


def test_an_unexpected_error_on_one_object_commits_the_others_then_raises(world):
    # Not a silent skip: a bug or a broken runtime must reach the retry / failure queue.
    other = "faces/expo-2026/booth-1/other.jpg"
    world.put_crop(other, CaptureMeta("expo-2026", "booth-1", CAPTURE1, 2))
    expect_detect(world.stub, BUCKET, other)
    real_head = world.s3.head_object

    class Broken:
        def head_object(self, **kw):
            if kw["Key"] == KEY1:
                raise ModuleNotFoundError("No module named 'boto3'")
            return real_head(**kw)

    from handler import Clients

    clients = Clients(s3=Broken(), dynamodb=world.ddb, cloudwatch=world.cw, rekognition=world.rek)
    with pytest.raises(ModuleNotFoundError):
        handle({"Records": [GOOD, _with(key=other)]}, clients, Settings(), now=lambda: NOW)
    assert _item(world, other)["metrics_state"]["S"] == "sent" and _item(world, KEY1) is None
