"""The booth heartbeat: datums, the thread against moto, outages reported once, the AWS
backend's figures, and the dashboard's per-booth health widgets."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta

import boto3
import botocore.config
import cv2
from moto import mock_aws

from aws_fixtures import CallRecorder
from crowdmood_gui.core.aws.heartbeat import (
    FACES_IN_VIEW_METRIC,
    FRAMES_METRIC,
    HEARTBEAT_METRICS,
    SINCE_UPLOAD_METRIC,
    SPOOL_DEPTH_METRIC,
    BoothHeartbeat,
    HeartbeatFigures,
    heartbeat_datums,
)
from crowdmood_gui.core.aws.naming import default_names
from crowdmood_gui.core.aws.provision import dashboard_body
from crowdmood_gui.core.backends.aws import AwsBackend
from crowdmood_gui.core.backends.base import CropJob
from crowdmood_gui.core.config import AppConfig, AwsConfig
from crowdmood_gui.core.events import StatsEvent
from crowdmood_gui.core.records import CaptureMeta

NOW = datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _values(cw, metric, camera, session, stat="Maximum"):
    out = cw.get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {"Namespace": "CrowdMood", "MetricName": metric, "Dimensions": [
            {"Name": "Camera", "Value": camera}, {"Name": "Session", "Value": session}]}, "Period": 60, "Stat": stat}}],
        StartTime=datetime.now(UTC) - timedelta(minutes=5), EndTime=datetime.now(UTC) + timedelta(minutes=1),
    )["MetricDataResults"][0]
    return out["Values"]


def test_one_beat_is_four_high_resolution_datums_per_booth():
    datums = heartbeat_datums(HeartbeatFigures(14.5, 3, 7, 2.25), camera="booth-a", session="expo", timestamp=NOW)
    assert [d["MetricName"] for d in datums] == list(HEARTBEAT_METRICS)
    assert [d["Value"] for d in datums] == [14.5, 3.0, 7.0, 2.25]
    assert all(d["StorageResolution"] == 1 and d["Timestamp"] == NOW for d in datums)
    assert all(d["Dimensions"] == [{"Name": "Camera", "Value": "booth-a"}, {"Name": "Session", "Value": "expo"}] for d in datums)
    # Before the first upload there is no "seconds since upload" to report (not a fake 0).
    first = heartbeat_datums(HeartbeatFigures(0.0, 0, 0, None), camera="booth-a", session="expo", timestamp=NOW)
    assert SINCE_UPLOAD_METRIC not in [d["MetricName"] for d in first]


def test_the_thread_beats_at_start_and_at_stop_in_one_call_each():
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        calls = CallRecorder(cw, "PutMetricData")
        figures = iter([HeartbeatFigures(10.0, 1, 0, None), HeartbeatFigures(12.0, 2, 5, 1.0)])
        beat = BoothHeartbeat(cw, namespace="CrowdMood", camera="booth-a", session="expo",
                              figures=lambda: next(figures), interval_s=3600)
        beat.start()
        assert beat.stop(5.0)
        assert beat.sent == 2 and len(calls.calls) == 2  # one PutMetricData per beat
        assert all(c["Namespace"] == "CrowdMood" for c in calls.calls)
        assert sorted(_values(cw, SPOOL_DEPTH_METRIC, "booth-a", "expo")) == [5.0]  # max of 0 and 5 in one minute
        assert _values(cw, FACES_IN_VIEW_METRIC, "booth-a", "expo") == [2.0]
        assert _values(cw, FRAMES_METRIC, "booth-b", "expo") == []  # another booth: nothing


def test_an_outage_is_reported_once_and_never_raised():
    down = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{_closed_port()}",
                        aws_access_key_id="x", aws_secret_access_key="y",
                        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=0.5))
    errors: list[str] = []
    beat = BoothHeartbeat(down, namespace="CrowdMood", camera="booth-a", session="expo",
                          figures=lambda: HeartbeatFigures(1.0, 0, 3, None), on_error=errors.append)
    assert [beat.beat() for _ in range(3)] == [False, False, False]
    assert len(errors) == 1 and errors[0].startswith("booth heartbeat: ") and "keeps running" in errors[0]
    assert beat.failures == 3 and beat.sent == 0


class _Sink:
    def __init__(self):
        self.errors = []

    def on_record(self, *a):
        pass

    def on_timeline(self, rows):
        pass

    def on_error(self, message):
        self.errors.append(message)


def test_the_aws_backend_beats_with_the_pipeline_figures_and_its_spool(tmp_path, data_dir):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        s3.create_bucket(Bucket="bucket-hb")
        backend = AwsBackend(AwsConfig(bucket="bucket-hb"), session="expo", camera="booth-a", spool_dir=tmp_path / "spool",
                             s3=s3, cloudwatch=cw, poll=False, heartbeat_s=3600)
        sink = _Sink()
        backend.start(sink)
        try:
            assert backend.heartbeat is not None
            assert backend.heartbeat_figures().seconds_since_upload is None
            backend.observe_pipeline(StatsEvent(detection_fps=12.5, faces=2, tracks=2, analysis_queue=0, records_analysed=0))
            image = cv2.imread(str(data_dir / "single_face.jpg"))
            meta = CaptureMeta("expo", "booth-a", datetime.now(UTC), 1)
            assert backend.submit(CropJob(image=image, face_box=(0, 0, 10, 10), meta=meta, media_time_s=0.0, detection_score=0.9))
            deadline = time.monotonic() + 10
            while backend.uploads == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            figures = backend.heartbeat_figures()
            assert (figures.frames_per_s, figures.faces_in_view, figures.spool_depth) == (12.5, 2, 0)
            assert figures.seconds_since_upload is not None and 0 <= figures.seconds_since_upload < 10
            assert backend.first_upload_wall is not None
        finally:
            backend.stop(3.0)
        assert max(_values(cw, FRAMES_METRIC, "booth-a", "expo")) == 12.5  # the final beat (the first said 0)
        assert not sink.errors, sink.errors


def test_from_config_beats_every_10_s_and_0_turns_it_off():
    assert AwsBackend.from_config(AppConfig(), session="s").heartbeat_s == 10.0
    assert AwsBackend.from_config(AppConfig(aws={"heartbeat_s": 0}), session="s").heartbeat_s == 0


def test_the_dashboard_has_one_health_widget_per_figure_with_a_line_per_booth():
    names = default_names("abc123")
    body = dashboard_body(names, "eu-west-1")
    expressions = [m[0]["expression"] for w in body["widgets"] for m in w["properties"].get("metrics", [])
                   if isinstance(m[0], dict)]
    for metric in HEARTBEAT_METRICS:
        assert any(f"{{{names.namespace},Camera,Session}} MetricName=\"{metric}\"" in e and ", 10)" in e
                   for e in expressions), metric
    assert "${" not in json.dumps(body)
