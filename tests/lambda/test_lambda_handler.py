"""The Lambda against moto (S3, DynamoDB, CloudWatch) with Rekognition through a Stubber."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

import handler as lambda_handler_module
from aws_fixtures import (
    BUCKET,
    NAMESPACE,
    TABLE,
    CallRecorder,
    MotoWorld,
    expect_detect,
    load_event,
)
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.records import CaptureMeta
from handler import Clients, Settings, TransientError, handle

KEY1 = "faces/expo-2026/booth-1/20260501T123012.250000Z-t7-0a1b2c3d4e5f.jpg"
KEY2 = "faces/séance 1/booth A/20260501T123012.900000Z-t3-9f8e7d6c5b4a.jpg"
CAPTURE1 = datetime(2026, 5, 1, 12, 30, 12, 250000, tzinfo=UTC)
CAPTURE2 = datetime(2026, 5, 1, 12, 30, 12, 900000, tzinfo=UTC)
NOW = datetime(2026, 5, 1, 12, 30, 15, tzinfo=UTC)


class Env(MotoWorld):
    def __init__(self):
        super().__init__()
        self.metrics = CallRecorder(self.cw, "PutMetricData")
        self.settings = Settings()

    def item(self, key):
        table = boto3.resource("dynamodb", region_name="us-east-1").Table(TABLE)
        return table.get_item(Key={"s3key": key}, ConsistentRead=True).get("Item")

    def run(self, event, **kw):
        return handle(event, self.clients, self.settings, now=lambda: NOW, **kw)


@pytest.fixture
def env():
    with mock_aws():
        yield Env()


def _standard_crops(env):
    env.put_crop(KEY1, CaptureMeta("expo-2026", "booth-1", CAPTURE1, 7))
    env.put_crop(KEY2, CaptureMeta("séance 1", "booth A", CAPTURE2, 3))


def test_batch_items_metrics_and_skips(env, capsys):
    _standard_crops(env)
    expect_detect(env.stub, BUCKET, KEY1, "detect_faces_two_faces.json")
    expect_detect(env.stub, BUCKET, KEY2, "detect_faces_no_face.json")

    summary = env.run(load_event("s3_put_batch.json"))

    env.stub.assert_no_pending_responses()
    assert summary["processed"] == 2 and summary["duplicates"] == 0 and summary["faces"] == 2
    assert sorted(s["reason"] for s in summary["skipped"]) == ["not_object_created", "outside_prefix"]

    item = env.item(KEY1)
    assert item["session"] == "expo-2026" and item["camera"] == "booth-1" and item["track_id"] == 7
    assert item["captured_at"] == "2026-05-01T12:30:12.250+00:00"
    assert item["ttl"] == int((CAPTURE1 + timedelta(days=30)).timestamp())
    assert item["metrics_state"] == "sent" and "lease_until" not in item
    assert item["face_count"] == 2 and item["dominant"] == "HAPPY"
    faces = item["faces"]
    assert len(faces) == 2
    for face in faces:
        assert set(face["emotions"]) == set(EMOTIONS)
        assert all(isinstance(v, Decimal) for v in face["emotions"].values())
    assert faces[0]["emotions"]["HAPPY"] == Decimal("92.5")
    assert faces[0]["emotions"]["SAD"] == Decimal("0")
    assert faces[1]["dominant"] == "SAD" and faces[1]["age_range"] == {"Low": 41, "High": 49}
    assert faces[0]["bounding_box"]["Left"] == Decimal("0.1002")

    item2 = env.item(KEY2)  # non-ASCII session from RFC 2047 metadata, no face
    assert item2["session"] == "séance 1" and item2["camera"] == "booth A"
    assert item2["face_count"] == 0 and item2["faces"] == []

    # All metrics of the event in one call: 27 datums for the 2-face crop, 3 Faces=0 for the other.
    assert len(env.metrics.calls) == 1
    call = env.metrics.calls[0]
    assert call["Namespace"] == NAMESPACE
    datums = env.metrics.datums
    assert len(datums) == 27 + 3
    assert all(d["StorageResolution"] == 1 for d in datums)
    by_time = {d["Timestamp"] for d in datums}
    assert by_time == {CAPTURE1, CAPTURE2}  # capture time, not arrival time
    dims = {tuple((x["Name"], x["Value"]) for x in d.get("Dimensions", [])) for d in datums if d["Timestamp"] == CAPTURE1}
    assert dims == {(("Session", "expo-2026"), ("Camera", "booth-1")), (("Session", "expo-2026"),), ()}
    happy = [d for d in datums if d["MetricName"] == "HAPPY"]
    assert all(d["Values"] == [92.5, 0.0] for d in happy)
    second = [d for d in datums if d["Timestamp"] == CAPTURE2]
    assert {d["MetricName"] for d in second} == {"Faces"} and all(d["Value"] == 0 for d in second)

    # Structured JSON logs: one line per skip, with the reason.
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    skipped = [l for l in lines if l.get("event") == "object_skipped"]
    assert [l["reason"] for l in skipped] == ["outside_prefix"]
    assert skipped[0]["key"] == "uploads/not-a-face.jpg" and skipped[0]["level"] == "WARNING"
    assert any(l.get("event") == "summary" and l["processed"] == 2 for l in lines)


def test_duplicate_delivery_writes_nothing_and_sends_no_metrics(env):
    _standard_crops(env)
    expect_detect(env.stub, BUCKET, KEY1)
    env.run(load_event("s3_put_duplicate.json"))
    first_item = env.item(KEY1)

    # Delivered again: no Rekognition call (the stubber has no response queued), no metrics.
    summary = env.run(load_event("s3_put_duplicate.json"))
    assert summary["processed"] == 0 and summary["duplicates"] == 1
    assert len(env.metrics.calls) == 1
    assert env.item(KEY1) == first_item

    # Read back: 2 faces' worth of HAPPY values in the session, not 4.
    result = env.cw.get_metric_data(
        MetricDataQueries=[{
            "Id": "n",
            "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": "HAPPY",
                           "Dimensions": [{"Name": "Session", "Value": "expo-2026"}]},
                "Period": 60, "Stat": "SampleCount",
            },
        }],
        StartTime=CAPTURE1 - timedelta(minutes=1), EndTime=CAPTURE1 + timedelta(minutes=1),
    )
    assert sum(result["MetricDataResults"][0]["Values"]) == 2


def test_duplicate_inside_one_event_and_via_sqs(env):
    key = "faces/expo-2026/booth-2/20260501T123020.000000Z-t11-aaaabbbbcccc.jpg"
    env.put_crop(key, CaptureMeta("expo-2026", "booth-2", CAPTURE1, 11))
    expect_detect(env.stub, BUCKET, key)
    summary = env.run(load_event("sqs_s3_batch.json"))  # TestEvent + the same object twice
    assert summary["processed"] == 1 and summary["duplicates"] == 1 and summary["skipped"] == []
    assert len(env.metrics.datums) == 27


class _StaleReads:
    """A DynamoDB client whose get_item misses: a concurrent delivery wrote after our read."""

    def __init__(self, ddb):
        self._ddb = ddb

    def get_item(self, **_kw):
        return {}

    def __getattr__(self, name):
        return getattr(self._ddb, name)


def test_concurrent_duplicate_loses_the_conditional_put(env):
    _standard_crops(env)
    expect_detect(env.stub, BUCKET, KEY1)
    env.run(load_event("s3_put_duplicate.json"))
    expect_detect(env.stub, BUCKET, KEY1)
    env.clients = Clients(s3=env.s3, dynamodb=_StaleReads(env.ddb), cloudwatch=env.cw, rekognition=env.rek)
    summary = env.run(load_event("s3_put_duplicate.json"))
    assert summary["duplicates"] == 1 and summary["processed"] == 0
    assert len(env.metrics.calls) == 1  # still only the first delivery's


def test_missing_metadata_falls_back_to_event_time(env):
    env.put_crop(KEY1, None)
    expect_detect(env.stub, BUCKET, KEY1)
    env.run(load_event("s3_put_duplicate.json"))
    item = env.item(KEY1)
    assert item["captured_at"] == "2026-05-01T12:30:13.512+00:00"  # the record's eventTime
    assert item["session"] == "default" and "track_id" not in item


def test_permanent_errors_are_skipped_others_succeed(env):
    keys = [f"faces/s/c/2026050112301{i}.000000Z-t{i}-x.jpg" for i in range(3)]
    event = load_event("s3_put_duplicate.json")
    template = event["Records"][0]
    event["Records"] = [json.loads(json.dumps(template)) for _ in keys]
    for rec, key in zip(event["Records"], keys):
        rec["s3"]["object"]["key"] = key
    env.put_crop(keys[0], CaptureMeta("s", "c", CAPTURE1, 0))
    env.put_crop(keys[2], CaptureMeta("s", "c", CAPTURE1, 2))
    # keys[1] was deleted before processing: head_object 404, Rekognition never called for it.
    env.stub.add_client_error("detect_faces", "InvalidImageFormatException", "Request has invalid image format", 400)
    expect_detect(env.stub, BUCKET, keys[2])

    summary = env.run(event)

    env.stub.assert_no_pending_responses()
    assert summary["processed"] == 1
    assert [(s["key"], s["reason"]) for s in summary["skipped"]] == [
        (keys[0], "invalid_image_format"),
        (keys[1], "object_missing"),
    ]
    assert env.item(keys[0]) is None and env.item(keys[1]) is None and env.item(keys[2])
    assert len(env.metrics.datums) == 27


@pytest.mark.parametrize("code,status", [("ThrottlingException", 400), ("InternalServerError", 500),
                                          ("ProvisionedThroughputExceededException", 400)])
def test_transient_error_raises_after_committing_finished_work(env, code, status):
    _standard_crops(env)
    expect_detect(env.stub, BUCKET, KEY1)
    env.stub.add_client_error("detect_faces", code, "slow down", status)
    with pytest.raises(ClientError) as info:
        env.run(load_event("s3_put_batch.json"))
    assert info.value.response["Error"]["Code"] == code
    assert env.item(KEY1)["metrics_state"] == "sent"  # committed before raising
    assert env.item(KEY2) is None
    assert len(env.metrics.datums) == 27

    # Lambda's retry: KEY1 is a duplicate (no Rekognition call), KEY2 is analysed.
    expect_detect(env.stub, BUCKET, KEY2)
    summary = env.run(load_event("s3_put_batch.json"))
    assert summary["processed"] == 1 and summary["duplicates"] == 1
    assert len(env.metrics.datums) == 27 * 2


class _FailingCloudWatch:
    def __init__(self, cw, failures):
        self._cw, self.failures = cw, failures

    def put_metric_data(self, **kw):
        if self.failures:
            self.failures -= 1
            raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "boom"},
                               "ResponseMetadata": {"HTTPStatusCode": 500}}, "PutMetricData")
        return self._cw.put_metric_data(**kw)


def test_metrics_failure_is_retried_without_double_counting(env):
    _standard_crops(env)
    expect_detect(env.stub, BUCKET, KEY1)
    env.clients = Clients(s3=env.s3, dynamodb=env.ddb, cloudwatch=_FailingCloudWatch(env.cw, 1), rekognition=env.rek)
    with pytest.raises(ClientError):
        env.run(load_event("s3_put_duplicate.json"))
    item = env.item(KEY1)
    assert item["metrics_state"] == "pending" and item["lease_until"] == 0  # lease released
    assert env.metrics.calls == []

    summary = env.run(load_event("s3_put_duplicate.json"))  # the retry: no Rekognition call
    env.stub.assert_no_pending_responses()
    assert summary["recovered"] == 1 and summary["processed"] == 0
    assert len(env.metrics.datums) == 27
    assert env.item(KEY1)["metrics_state"] == "sent"
    # A third delivery is a plain duplicate.
    assert env.run(load_event("s3_put_duplicate.json"))["duplicates"] == 1
    assert len(env.metrics.datums) == 27


def test_a_live_lease_means_in_progress_and_raises(env):
    _standard_crops(env)
    env.ddb.put_item(TableName=TABLE, Item={
        "s3key": {"S": KEY1}, "session": {"S": "expo-2026"}, "captured_at": {"S": "2026-05-01T12:30:12.250+00:00"},
        "metrics_state": {"S": "pending"}, "lease_until": {"N": str(int(NOW.timestamp()) + 60)},
    })
    with pytest.raises(TransientError):
        env.run(load_event("s3_put_duplicate.json"))
    assert env.metrics.calls == []


class _DeniedS3:
    def __init__(self, s3, denied):
        self._s3, self.denied = s3, denied

    def head_object(self, **kw):
        if kw["Key"] in self.denied:
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"},
                               "ResponseMetadata": {"HTTPStatusCode": 403}}, "HeadObject")
        return self._s3.head_object(**kw)


def test_a_missing_crop_that_answers_403_is_gone_not_retried(env):
    # The role has no s3:ListBucket, so S3 answers 403 for a deleted/expired crop: a redriven
    # event whose crop expired must be skipped, not fail into the failure queue again.
    _standard_crops(env)
    expect_detect(env.stub, BUCKET, KEY2)
    env.clients = Clients(s3=_DeniedS3(env.s3, {KEY1}), dynamodb=env.ddb, cloudwatch=env.cw, rekognition=env.rek)
    summary = env.run(load_event("s3_put_batch.json"))
    assert summary["processed"] == 1
    assert {"key": KEY1, "reason": "object_missing"}.items() <= next(
        s for s in summary["skipped"] if s.get("key") == KEY1).items()

    env.ddb.delete_item(TableName=TABLE, Key={"s3key": {"S": KEY1}})
    summary = env.run(load_event("s3_put_duplicate.json"))  # every object 403: still no raise
    assert summary["processed"] == 0 and summary["skipped"][0]["reason"] == "object_missing"


def test_many_crops_few_calls(env):
    event = load_event("s3_put_duplicate.json")
    template = event["Records"][0]
    keys = [f"faces/s/c/k{i:03d}.jpg" for i in range(40)]
    event["Records"] = []
    for key in keys:
        rec = json.loads(json.dumps(template))
        rec["s3"]["object"]["key"] = key
        event["Records"].append(rec)
        env.put_crop(key, CaptureMeta("s", "c", CAPTURE1, 1))
        expect_detect(env.stub, BUCKET, key)
    summary = env.run(event)
    assert summary["processed"] == 40
    assert [len(c["MetricData"]) for c in env.metrics.calls] == [1000, 80]  # 40 x 27 datums


def test_test_event_makes_no_call(env):
    summary = env.run(load_event("s3_test_event.json"))
    assert summary["processed"] == 0 and summary["skipped"] == []
    assert env.metrics.calls == []


def test_settings_from_env():
    assert Settings.from_env({}) == Settings("rekognize-faces", "faces/", "CrowdMood", 30.0)
    s = Settings.from_env({"FACES_TABLE": "t", "FACES_PREFIX": "crops/", "METRIC_NAMESPACE": "N", "TTL_DAYS": "0"})
    assert s == Settings("t", "crops/", "N", None)
    assert Settings.from_env({"TTL_DAYS": "abc"}).ttl_days == 30.0


class _Context:
    aws_request_id = "8f5c2a3e-1111-2222-3333-444455556666"
    function_name = "rekognize-emotions"

    def get_remaining_time_in_millis(self):
        return 30_000


def test_lambda_handler_entry_point(env, monkeypatch, capsys):
    monkeypatch.setenv("FACES_TABLE", TABLE)
    monkeypatch.setenv("TTL_DAYS", "0")
    monkeypatch.setattr(lambda_handler_module, "CLIENTS", env.clients)
    _standard_crops(env)
    expect_detect(env.stub, BUCKET, KEY1)
    result = lambda_handler_module.lambda_handler(load_event("s3_put_duplicate.json"), _Context())
    assert result["processed"] == 1
    assert "ttl" not in env.item(KEY1)
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.strip()]
    assert lines and all(l["request_id"] == _Context.aws_request_id for l in lines)


def test_clients_are_lazy_and_injectable():
    clients = Clients(s3="fake-s3")
    assert clients.s3 == "fake-s3"
    assert "rekognition" not in clients._clients
    with pytest.raises(TypeError):
        Clients(sns=object())


def test_a_capture_time_cloudwatch_would_refuse_keeps_the_item_and_sends_the_rest(env, capsys):
    old = CAPTURE1 - timedelta(days=20)  # spooled through a long outage
    env.put_crop(KEY1, CaptureMeta("expo-2026", "booth-1", old, 7))
    env.put_crop(KEY2, CaptureMeta("séance 1", "booth A", CAPTURE2, 3))
    expect_detect(env.stub, BUCKET, KEY1, "detect_faces_two_faces.json")
    expect_detect(env.stub, BUCKET, KEY2, "detect_faces_no_face.json")

    summary = env.run(load_event("s3_put_batch.json"))  # no exception: nothing to retry

    assert summary["processed"] == 2
    assert env.item(KEY1)["metrics_state"] == "sent" and env.item(KEY1)["captured_at"].startswith("2026-04-11")
    assert {d["Timestamp"] for d in env.metrics.datums} == {CAPTURE2}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [l["key"] for l in lines if l.get("event") == "metrics_out_of_window"] == [KEY1]
