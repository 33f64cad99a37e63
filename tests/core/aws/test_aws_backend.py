"""The AWS backend, end to end: crop -> spool -> S3 -> SQS notification -> Lambda handler
-> DynamoDB + CloudWatch -> poller -> the sink's chart rows and records."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import boto3
import botocore.config
import cv2
import numpy as np
import pytest
from moto import mock_aws

from aws_fixtures import NAMESPACE, TABLE, create_faces_table, expect_detect, rekognition_stub
from crowdmood_gui.core.backends.aws import REKOGNITION_MIN_FACE_PX, AwsBackend, enlarge_small_face
from crowdmood_gui.core.backends.base import CropJob
from crowdmood_gui.core.config import AppConfig, AwsConfig
from crowdmood_gui.core.records import CaptureMeta
from handler import Clients, Settings, handle

BUCKET = "crowdmood-e2e-bucket"


class Sink:
    def __init__(self):
        self.lock = threading.Lock()
        self.records, self.rows, self.errors = [], [], []

    def on_record(self, record, media_time_s, thumbnail):
        with self.lock:
            self.records.append((record, media_time_s, thumbnail))

    def on_timeline(self, rows):
        with self.lock:
            self.rows.extend(rows)

    def on_error(self, message):
        with self.lock:
            self.errors.append(message)


def _wait(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _job(data_dir, session, captured_at, track_id=1, media_time_s=3.0):
    image = cv2.imread(str(data_dir / "single_face.jpg"))
    assert image is not None
    h, w = image.shape[:2]
    return CropJob(
        image=image,
        face_box=(w // 4, h // 4, 3 * w // 4, 3 * h // 4),
        meta=CaptureMeta(session, "booth-1", captured_at, track_id),
        media_time_s=media_time_s,
        detection_score=0.93,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_end_to_end_through_s3_sqs_lambda_dynamodb_cloudwatch(tmp_path, data_dir):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        queue_url = sqs.create_queue(QueueName="crowdmood-faces-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={"QueueConfigurations": [{
                "QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "faces/"}]}},
            }]},
        )
        create_faces_table(ddb)
        failed_url = sqs.create_queue(QueueName="rekognize-emotions-failed")["QueueUrl"]  # setup's failure queue
        sqs.send_message(QueueUrl=failed_url, MessageBody='{"requestPayload": {"Records": []}}')

        session = "séance 1"
        now = datetime.now(UTC)
        aws = AwsConfig(bucket=BUCKET, table=TABLE, namespace=NAMESPACE, poll_interval_s=1)
        backend = AwsBackend(aws, session=session, camera="booth-1", spool_dir=tmp_path / "spool",
                             session_start=now - timedelta(seconds=30), s3=s3, cloudwatch=cw, dynamodb=ddb)
        sink = Sink()
        backend.start(sink)
        try:
            # 1. The console: the budget lets a new track through, the crop is spooled and uploaded.
            assert backend.wants_sample(1, 0.0, False)
            assert backend.submit(_job(data_dir, session, now - timedelta(seconds=2)))
            assert backend.spool_write_ms is not None
            assert _wait(lambda: backend.stats().upload_queue == 0)
            (obj,) = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
            key = obj["Key"]
            assert re.fullmatch(r"faces/séance-1/booth-1/\d{8}T\d{6}\.\d{6}Z-t1-[0-9a-f]{12}\.jpg", key), key
            head = s3.head_object(Bucket=BUCKET, Key=key)
            assert head["ServerSideEncryption"] == "AES256" and head["ContentType"] == "image/jpeg"
            assert cv2.imdecode(__import__("numpy").frombuffer(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), "uint8"), cv2.IMREAD_COLOR) is not None

            # 2. S3 -> SQS: drain the queue (TestEvent first, then the object's event).
            messages = []
            while True:
                got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
                if not got:
                    break
                messages += got
                for m in got:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            bodies = [json.loads(m["Body"]) for m in messages]
            assert any(b.get("Event") == "s3:TestEvent" for b in bodies)
            assert any("Records" in b for b in bodies)

            # 3. The Lambda, called with the SQS batch as Lambda would deliver it, then with each
            #    raw S3 event body again (a duplicate delivery).
            rek, stub = rekognition_stub()
            expect_detect(stub, BUCKET, key)
            clients = Clients(s3=s3, dynamodb=ddb, cloudwatch=cw, rekognition=rek)
            sqs_event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                                      "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                                      "eventSourceARN": queue_arn, "awsRegion": "us-east-1"} for m in messages]}
            summary = handle(sqs_event, clients, Settings(table=TABLE, namespace=NAMESPACE))
            assert summary["processed"] == 1 and summary["faces"] == 2
            stub.assert_no_pending_responses()
            for body in bodies:
                again = handle(body, clients, Settings(table=TABLE, namespace=NAMESPACE))
                assert again["processed"] == 0
            assert ddb.scan(TableName=TABLE)["Count"] == 1

            # 4. The poller: the record from the GSI, with its thumbnail. The chart's crowd lines
            #    come from the pipeline's aggregator fed these records, as in local mode: the
            #    backend delivers no CloudWatch rows any more.
            assert _wait(lambda: sink.records), sink.errors
            record, media_time, thumb = sink.records[0]
            assert record.key == key and record.meta.session == session and len(record.faces) == 2
            assert media_time == 3.0 and thumb is not None and max(thumb.shape[:2]) <= 64
            assert sink.rows == [] and not backend.provides_timeline
            stats = backend.stats()
            assert stats.upload_queue == 0 and stats.records_analysed == 1
            assert stats.cost_usd == pytest.approx(0.001) and stats.projected_usd_per_hour > 0
            assert stats.analysis_lag_s is not None and stats.analysis_lag_s >= 2.0
            assert stats.failed_waiting == 1  # the failure queue, counted for the status bar
            assert len([r for r in sink.records]) == 1  # delivered once across polls
        finally:
            backend.stop(2.0)
        assert not sink.errors, sink.errors


def test_stop_persists_and_next_start_uploads(tmp_path, data_dir):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        down = boto3.client("s3", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{_closed_port()}",
                            config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=0.5))
        aws = AwsConfig(bucket=BUCKET)
        now = datetime.now(UTC)
        first = AwsBackend(aws, session="expo", camera="booth-1", spool_dir=tmp_path / "spool", s3=down, poll=False)
        sink = Sink()
        first.start(sink)
        for track in range(3):
            assert first.submit(_job(data_dir, "expo", now, track_id=track))
        started = time.monotonic()
        first.stop(1.0)
        assert time.monotonic() - started < 2.5  # not the uploader's back-off (up to 60 s)
        assert first.stats().upload_queue == 3
        assert any("retrying with back-off" in e for e in sink.errors)

        second = AwsBackend(aws, session="expo-2", camera="booth-1", spool_dir=tmp_path / "spool", s3=s3, poll=False)
        sink2 = Sink()
        second.start(sink2)
        assert any("3 crop(s) from an earlier run" in e for e in sink2.errors)
        assert _wait(lambda: second.stats().upload_queue == 0)
        second.stop()
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
        assert len(keys) == 3 and all(k.startswith("faces/expo/booth-1/") for k in keys)


class NullS3:
    def __init__(self):
        self.puts = []
        self.bodies = []

    def put_object(self, **kw):
        self.puts.append(kw["Key"])
        body = kw.get("Body")
        self.bodies.append(body.read() if hasattr(body, "read") else body)
        return {}


def test_budget_gate_and_ungated_submits(tmp_path, data_dir):
    aws = AwsConfig(bucket=BUCKET, budget_usd_per_hour=0.002, price_per_image_usd=0.001)
    clock = [0.0]
    s3 = NullS3()
    backend = AwsBackend(aws, session="s", camera="c", spool_dir=tmp_path / "spool", s3=s3, poll=False,
                         clock=lambda: clock[0])
    backend.start(Sink())
    try:
        job = _job(data_dir, "s", datetime.now(UTC))
        assert backend.wants_sample(1, 0.0, False)
        assert backend.submit(job)
        assert not backend.wants_sample(2, 0.0, False)  # $0.002/h: one burst token
        assert not backend.submit(_job(data_dir, "s", datetime.now(UTC), track_id=2))  # bypassing the gate fails too
        assert backend.stats().cost_usd == pytest.approx(0.001)
        assert _wait(lambda: len(s3.puts) == 1)
    finally:
        backend.stop(1.0)


def test_unwritable_spool_and_missing_bucket_are_reported_not_raised(tmp_path, data_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    sink = Sink()
    backend = AwsBackend(AwsConfig(bucket=BUCKET), session="s", camera="c", spool_dir=blocker / "spool", s3=NullS3(), poll=False)
    backend.start(sink)
    assert "cannot create the directory" in sink.errors[0]
    assert backend.submit(_job(data_dir, "s", datetime.now(UTC))) is False
    backend.stop(0.1)

    sink = Sink()
    no_bucket = AwsBackend(AwsConfig(), session="s", camera="c", spool_dir=tmp_path / "spool2", poll=False)
    no_bucket.start(sink)
    assert "no S3 bucket configured" in sink.errors[0]
    assert no_bucket.submit(_job(data_dir, "s", datetime.now(UTC)))  # kept in the spool for later
    assert no_bucket.stats().upload_queue == 1
    no_bucket.stop(0.1)


def test_from_config_uses_the_data_home(tmp_path, _isolated_home):
    config = AppConfig(camera="booth-9")
    backend = AwsBackend.from_config(config, session="s")
    assert backend.spool_dir == _isolated_home / "aws-spool"
    assert backend.camera == "booth-9" and not backend.provides_timeline  # the pipeline draws the crowd


def test_a_face_under_rekognitions_minimum_is_enlarged_before_upload():
    crop = np.full((42, 42, 3), 90, np.uint8)  # a 28 px face with the sampler's 25 % margin
    bigger = enlarge_small_face(crop, (7, 7, 35, 35))
    assert bigger.shape[:2] == (60, 60)  # the face is now 28 * 40/28 = 40 px
    large = np.zeros((100, 100, 3), np.uint8)
    assert enlarge_small_face(large, (10, 10, 90, 90)) is large  # left as it is


def test_the_uploaded_crop_of_a_small_face_is_enlarged(tmp_path, data_dir):
    s3 = NullS3()
    backend = AwsBackend(AwsConfig(bucket=BUCKET), session="s", camera="c", spool_dir=tmp_path / "spool", s3=s3,
                         poll=False)
    backend.start(Sink())
    try:
        image = cv2.resize(cv2.imread(str(data_dir / "single_face.jpg")), (42, 42), interpolation=cv2.INTER_AREA)
        job = CropJob(image=image, face_box=(7, 7, 35, 35), meta=CaptureMeta("s", "c", datetime.now(UTC), 1),
                      media_time_s=0.0, detection_score=0.9)
        assert backend.submit(job)
        assert _wait(lambda: len(s3.bodies) == 1)
        uploaded = cv2.imdecode(np.frombuffer(s3.bodies[0], np.uint8), cv2.IMREAD_COLOR)
        assert uploaded.shape[0] * 28 / 42 >= REKOGNITION_MIN_FACE_PX
    finally:
        backend.stop(1.0)
