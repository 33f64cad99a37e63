"""The results poller: one GetMetricData call -> TimelineRows; the GSI -> records, once each."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from aws_fixtures import BUCKET, NAMESPACE, TABLE, CallRecorder, MotoWorld, expect_detect, load_event
from crowdmood_gui.core.aws.poller import ResultsPoller, align_down, align_up, metric_queries, rows_from_results
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.records import SESSION_INDEX, CaptureMeta
from handler import Settings, handle

START = datetime(2026, 5, 1, 12, 30, 0, tzinfo=UTC)
NOW = datetime(2026, 5, 1, 12, 30, 44, 300000, tzinfo=UTC)


def test_queries_one_call_ten_series():
    queries = metric_queries("CrowdMood", "expo", "booth-1", 10)
    assert [q["Id"] for q in queries] == [e.lower() for e in EMOTIONS] + ["faces", "crops"]
    assert {q["MetricStat"]["Stat"] for q in queries[:8]} == {"Average"}
    assert queries[8]["MetricStat"]["Stat"] == "Sum" and queries[9]["MetricStat"]["Stat"] == "SampleCount"
    for q in queries:
        metric = q["MetricStat"]["Metric"]
        assert metric["Namespace"] == "CrowdMood" and q["MetricStat"]["Period"] == 10
        assert metric["Dimensions"] == [{"Name": "Session", "Value": "expo"}, {"Name": "Camera", "Value": "booth-1"}]
    assert metric_queries("N", "expo", None, 1)[0]["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "Session", "Value": "expo"}]


def test_alignment():
    assert align_down(NOW, 10) == datetime(2026, 5, 1, 12, 30, 40, tzinfo=UTC)
    assert align_up(NOW, 60) == datetime(2026, 5, 1, 12, 31, 0, tzinfo=UTC)
    assert align_up(START, 60) == START


def _result(qid, stamps, values):
    return {"Id": qid, "Label": qid, "Timestamps": stamps, "Values": values, "StatusCode": "Complete"}


def test_stubbed_call_pages_and_rows():
    """Exactly the request we mean (Stubber checks it against the real API model), two pages."""
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    t0, t1 = START + timedelta(seconds=10), START + timedelta(seconds=20)
    expected = {
        "MetricDataQueries": metric_queries("CrowdMood", "expo", "booth-1", 10),
        "StartTime": START,  # the session start, aligned to the period
        "EndTime": datetime(2026, 5, 1, 12, 30, 50, tzinfo=UTC),
        "ScanBy": "TimestampAscending",
    }
    page1 = {"MetricDataResults": [_result("happy", [t0], [80.0]), _result("faces", [t0, t1], [2.0, 0.0])], "NextToken": "p2"}
    page2 = {"MetricDataResults": [_result("sad", [t0], [10.0]), _result("crops", [t0, t1], [2.0, 1.0])]}
    rows_seen = []
    with Stubber(cw) as stub:
        stub.add_response("get_metric_data", page1, expected)
        stub.add_response("get_metric_data", {**page2, "Messages": []}, {**expected, "NextToken": "p2"})
        poller = ResultsPoller(cw, None, namespace="CrowdMood", table=TABLE, session="expo", camera="booth-1",
                               session_start=START, period_s=10, clock=lambda: NOW, on_timeline=rows_seen.append)
        rows = poller.fetch_rows()
        stub.assert_no_pending_responses()
    assert [r.t for r in rows] == [10.0, 20.0]
    first, second = rows
    assert first.period_s == 10 and first.faces == 2 and first.analysed == 2 and first.tracks == 2
    assert first.emotions["HAPPY"] == 80.0 and first.emotions["SAD"] == 10.0
    assert first.emotions["FEAR"] is None  # no datapoint: unknown, not 0
    assert second.faces == 0 and all(v is None for v in second.emotions.values())  # a crop with no face


def test_rows_from_unaligned_timestamps_are_bucketed():
    stamps = [START + timedelta(seconds=12.7)]
    rows = rows_from_results([_result("happy", stamps, [50.0]), _result("faces", stamps, [1.0])], START, 10)
    assert rows[0].t == 10.0


class World(MotoWorld):
    """The moto world with the real handler writing it."""

    def analyse(self, key, meta, response="detect_faces_two_faces.json"):
        self.put_crop(key, meta)
        event = load_event("s3_put_duplicate.json")
        event["Records"][0]["s3"]["object"]["key"] = key.replace(" ", "+")
        expect_detect(self.stub, BUCKET, key, response)
        return handle(event, self.clients, Settings(), now=lambda: NOW)


@pytest.fixture
def world():
    with mock_aws():
        yield World()


def test_chart_rows_from_what_the_lambda_wrote(world):
    world.analyse("faces/expo/booth-1/a.jpg", CaptureMeta("expo", "booth-1", START + timedelta(seconds=12.25), 1))
    world.analyse("faces/expo/booth-1/b.jpg", CaptureMeta("expo", "booth-1", START + timedelta(seconds=17.9), 2),
                  "detect_faces_no_face.json")
    world.analyse("faces/expo/booth-1/c.jpg", CaptureMeta("expo", "booth-1", START + timedelta(seconds=21), 3))
    calls = CallRecorder(world.cw, "GetMetricData")
    poller = ResultsPoller(world.cw, world.ddb, namespace=NAMESPACE, table=TABLE, session="expo", camera="booth-1",
                           session_start=START, period_s=10, clock=lambda: NOW)
    rows = poller.fetch_rows()
    assert len(calls.calls) == 1 and len(calls.calls[0]["MetricDataQueries"]) == 10
    sent = calls.calls[0]
    assert {q["MetricStat"]["Metric"]["Namespace"] for q in sent["MetricDataQueries"]} == {NAMESPACE}
    assert sent["StartTime"] == START and sent["EndTime"].second % 10 == 0
    by_t = {r.t: r for r in rows}
    assert set(by_t) == {10.0, 20.0}
    # 10-20 s: two faces (92.5 and 0 HAPPY) from crop a, crop b had none -> mean over faces.
    assert by_t[10.0].faces == 2 and by_t[10.0].tracks == 2
    assert by_t[10.0].emotions["HAPPY"] == pytest.approx(46.25)
    assert by_t[10.0].emotions["SAD"] == pytest.approx(30.0)
    assert by_t[10.0].emotions["CONFUSED"] == pytest.approx(0.375)
    assert by_t[20.0].faces == 2 and by_t[20.0].emotions["HAPPY"] == pytest.approx(46.25)
    # The session-wide view (no Camera) counts each face once, not once per dimension set.
    whole = ResultsPoller(world.cw, world.ddb, namespace=NAMESPACE, table=TABLE, session="expo",
                          session_start=START, period_s=60, clock=lambda: NOW).fetch_rows()
    assert [(r.t, r.faces, r.tracks) for r in whole] == [(0.0, 4, 3)]


def test_records_from_the_gsi_once_each_with_late_arrivals(world):
    world.analyse("faces/expo/booth-1/a.jpg", CaptureMeta("expo", "booth-1", START + timedelta(seconds=5), 1))
    world.analyse("faces/expo/booth-2/x.jpg", CaptureMeta("expo", "booth-2", START + timedelta(seconds=6), 9))
    world.analyse("faces/other/booth-1/z.jpg", CaptureMeta("other", "booth-1", START + timedelta(seconds=6), 9))
    seen = []
    poller = ResultsPoller(world.cw, world.ddb, namespace=NAMESPACE, table=TABLE, session="expo", camera="booth-1",
                           session_start=START, period_s=1, clock=lambda: NOW,
                           on_record=lambda rec, t, thumb: seen.append((rec.key, t, thumb)))
    calls = CallRecorder(world.ddb, "Query")
    poller._poll_items()
    assert seen == [("faces/expo/booth-1/a.jpg", 5.0, None)]
    assert calls.calls[0]["IndexName"] == SESSION_INDEX
    assert poller.last_lag_s == pytest.approx(39.3)

    # A crop captured earlier but analysed late (S3 delivery is unordered), then a new one.
    world.analyse("faces/expo/booth-1/late.jpg", CaptureMeta("expo", "booth-1", START + timedelta(seconds=3), 4))
    world.analyse("faces/expo/booth-1/b.jpg", CaptureMeta("expo", "booth-1", START + timedelta(seconds=30), 2))
    poller._poll_items()
    poller._poll_items()
    assert [k for k, _, _ in seen] == ["faces/expo/booth-1/a.jpg", "faces/expo/booth-1/late.jpg", "faces/expo/booth-1/b.jpg"]
    assert len(poller._seen) == 3


def test_errors_are_reported_and_backed_off(world):
    class Denied:
        def get_metric_data(self, **_kw):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "GetMetricData")

    errors = []
    poller = ResultsPoller(Denied(), world.ddb, namespace=NAMESPACE, table=TABLE, session="expo",
                           session_start=START, poll_interval_s=0.05, on_error=errors.append, poll_metrics=True)
    assert poller.poll_once() is False
    assert "GetMetricData failed: AccessDenied" in errors[0] and "permission" in errors[0]
    poller.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert poller.stop(2.0) and time.monotonic() - started < 1.9  # not the full 2 s timeout
    assert poller.polls < 6  # backed off (0.05 s interval, doubling), not hammering
    assert len(errors) == 1  # one message per outage


def test_period_change_rereads_the_window(world):
    later = NOW + timedelta(minutes=10)
    poller = ResultsPoller(world.cw, world.ddb, namespace=NAMESPACE, table=TABLE, session="expo",
                           session_start=START, period_s=1, clock=lambda: later)
    calls = CallRecorder(world.cw, "GetMetricData")
    poller.fetch_rows()
    poller.fetch_rows()
    assert calls.calls[0]["StartTime"] == START
    assert calls.calls[1]["StartTime"] == align_down(later - timedelta(seconds=120), 1)  # the revision window
    poller.set_period(60)
    poller.fetch_rows()
    assert calls.calls[2]["StartTime"] == START and calls.calls[2]["MetricDataQueries"][0]["MetricStat"]["Period"] == 60
    with pytest.raises(ValueError):
        poller.set_period(5)


def test_failed_analyses_are_counted_at_most_once_a_minute_and_a_missing_queue_is_said_once(world):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="fn-failed")["QueueUrl"]
    calls = CallRecorder(sqs, "GetQueueAttributes")
    clock = {"now": NOW}
    errors = []
    poller = ResultsPoller(world.cw, world.ddb, namespace=NAMESPACE, table=TABLE, session="expo-2026",
                           session_start=START, sqs=sqs, failure_queue="fn-failed",
                           clock=lambda: clock["now"], on_error=errors.append)
    assert poller.poll_once() and poller.failed_waiting == 0
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    clock["now"] = NOW + timedelta(seconds=30)
    poller.poll_once()
    assert poller.failed_waiting == 0 and len(calls.calls) == 1  # not yet: once a minute
    clock["now"] = NOW + timedelta(seconds=61)
    poller.poll_once()
    assert poller.failed_waiting == 2 and len(calls.calls) == 2

    gone = ResultsPoller(world.cw, world.ddb, namespace=NAMESPACE, table=TABLE, session="expo-2026",
                         session_start=START, sqs=sqs, failure_queue="no-such-queue",
                         clock=lambda: clock["now"], on_error=errors.append, failure_check_s=0)
    assert gone.poll_once() and gone.poll_once()  # the results still poll fine
    assert gone.failed_waiting is None
    (said,) = [e for e in errors if "failed analyses cannot be counted" in e]
    assert "no queue no-such-queue: run crowdmood setup" in said


def _one_face(happy: float, calm: float) -> dict:
    """A DetectFaces response with one face reading ``happy`` and ``calm``."""
    from aws_fixtures import detect_faces_response

    body = detect_faces_response("detect_faces_two_faces.json")
    face = body["FaceDetails"][0]
    face["Emotions"] = [{"Type": "HAPPY", "Confidence": happy}, {"Type": "CALM", "Confidence": calm}]
    body["FaceDetails"] = [face]
    return body


def test_the_console_draws_the_same_crowd_state_from_polled_items_as_from_local_records(world):
    """AWS mode: the items the Lambda wrote (track id, capture time, emotions), polled from
    DynamoDB, give the crowd state the local pipeline computes from the same analyses."""
    from crowdmood_gui.core.aggregation import TimelineAggregator
    from crowdmood_gui.core.backends.aws import AwsBackend
    from crowdmood_gui.core.records import build_record

    assert AwsBackend.provides_timeline is False  # the pipeline aggregates what the poller delivers
    crops = [  # (seconds, track, HAPPY, CALM): two people, one turns happy, a third passes by
        (0.5, 1, 10.0, 90.0), (1.2, 2, 60.0, 30.0), (2.5, 1, 15.0, 80.0), (3.2, 2, 70.0, 20.0),
        (4.5, 1, 90.0, 5.0), (5.2, 2, 65.0, 30.0), (6.5, 1, 95.0, 3.0), (7.0, 3, 5.0, 5.0),
    ]
    frames = [(s / 10, [1, 2] + ([3] if 68 <= s <= 72 else [])) for s in range(90)]
    local, remote = TimelineAggregator(), TimelineAggregator()
    for t, ids in frames:
        local.observe_frame(t, len(ids), ids)
        remote.observe_frame(t, len(ids), ids)
    for i, (t, track, happy, calm) in enumerate(crops):
        key = f"faces/expo/booth-1/{i}.jpg"
        meta = CaptureMeta("expo", "booth-1", START + timedelta(seconds=t), track)
        local.add_record(t, build_record(key, _one_face(happy, calm), meta))
        world.analyse(key, meta, _one_face(happy, calm))
    poller = ResultsPoller(world.cw, world.ddb, namespace=NAMESPACE, table=TABLE, session="expo", camera="booth-1",
                           session_start=START, clock=lambda: NOW,
                           on_record=lambda record, t, _thumb: remote.add_record(t, record))
    calls = CallRecorder(world.cw, "GetMetricData")
    assert poller.poll_once()
    assert calls.calls == []  # the chart no longer reads CloudWatch's per-crop means
    assert remote.crowd.crops(1) == 4 and remote.crowd.crops(3) == 1
    for period in local.periods:
        mine, theirs = local.rows(period), remote.rows(period)
        assert [r.t for r in mine] == [r.t for r in theirs]
        for a, b in zip(mine, theirs):
            assert (a.tracks, a.rated, a.analysed) == (b.tracks, b.rated, b.analysed)
            for kind in EMOTIONS:
                assert a.emotions[kind] == pytest.approx(b.emotions[kind], abs=1e-6)
                assert a.shares[kind] == pytest.approx(b.shares[kind])
    assert local.rows(1)[-1].emotions["HAPPY"] == pytest.approx(remote.rows(1)[-1].emotions["HAPPY"]) and \
        local.rows(1)[-1].emotions["HAPPY"] > 50
