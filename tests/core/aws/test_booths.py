"""The all-booths monitor against moto: states from heartbeats, lines from the Lambda's
metrics, one GetMetricData call per poll, two agents with one camera name, the poll cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from aws_fixtures import CallRecorder, detect_faces_response
from crowdmood_gui.cli import main
from crowdmood_gui.core.aws.booths import (
    QUERIES_PER_BOOTH,
    BoothsMonitor,
    booth_state,
    last_beat_of,
    poll_cost_per_hour,
)
from crowdmood_gui.core.aws.heartbeat import HeartbeatFigures, heartbeat_datums
from crowdmood_gui.core.records import CaptureMeta, build_metric_data, build_record

NS = "CrowdMood"


def _beat(cw, camera, session, at, fps=15.0, spool=0, since=1.0):
    cw.put_metric_data(Namespace=NS, MetricData=heartbeat_datums(
        HeartbeatFigures(fps, 2, spool, since), camera=camera, session=session, timestamp=at))


def _crop(cw, camera, session, at):
    record = build_record(f"faces/{session}/{camera}/x.jpg", detect_faces_response(), CaptureMeta(session, camera, at, 1))
    cw.put_metric_data(Namespace=NS, MetricData=build_metric_data([record]))


@pytest.fixture
def world():
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        now = datetime.now(UTC).replace(microsecond=0)
        _beat(cw, "booth-a", "expo-old", now - timedelta(minutes=60))  # an earlier session of booth-a
        for back in (25, 15, 5):
            _beat(cw, "booth-a", "expo", now - timedelta(seconds=back), spool=back)
        _beat(cw, "booth-b", "expo", now - timedelta(seconds=120))  # stopped beating two minutes ago
        _beat(cw, "booth-c", "expo", now - timedelta(minutes=40))  # gone
        for back in range(5, 60, 10):  # two agents calling themselves booth-d
            _beat(cw, "booth-d", "expo", now - timedelta(seconds=back))
            _beat(cw, "booth-d", "expo", now - timedelta(seconds=back, milliseconds=300))
        _crop(cw, "booth-a", "expo", now - timedelta(seconds=32))
        _crop(cw, "booth-b", "expo", now - timedelta(seconds=150))
        yield cw, now


def test_one_poll_is_one_get_metric_data_call_with_states_and_lines(world):
    cw, now = world
    calls = CallRecorder(cw, "GetMetricData")
    monitor = BoothsMonitor(cw, namespace=NS, clock=lambda: now + timedelta(seconds=1))
    snapshot = monitor.poll()
    assert len(calls.calls) == 1 and snapshot.metric_calls == 1
    by_camera = {b.camera: b for b in snapshot.booths}
    assert sorted(by_camera) == ["booth-a", "booth-b", "booth-c", "booth-d"]  # booth-a once, newest session
    a, b, c, d = (by_camera[k] for k in ("booth-a", "booth-b", "booth-c", "booth-d"))
    assert (a.session, a.state, b.state, c.state) == ("expo", "live", "stale", "offline")
    assert a.spool_depth == 5 and a.frames_per_s == 15.0 and a.faces_in_view == 2 and a.seconds_since_upload == 1.0
    assert 5 <= a.beat_age_s <= 5 + 10 + 1 and c.last_beat is None  # to one period (the bucket start)
    assert d.duplicate and not a.duplicate and not b.duplicate
    happy = [r.emotions["HAPPY"] for r in a.line if r.faces]
    assert happy == [pytest.approx(46.25)]  # the two faces of the canned DetectFaces response
    assert [r.faces for r in b.line if r.faces] == [2] and not c.line
    # The all-booths line is the Lambda's dimensionless metric (moto also counts the per-booth
    # datums into a query without dimensions, so check the query, not moto's sum).
    assert any(r.faces for r in snapshot.all_booths)
    # Each booth's line is exactly the console's chart query for that Session + Camera.
    query = calls.calls[0]["MetricDataQueries"]
    assert len(query) == 5 * QUERIES_PER_BOOTH + 10  # 5 pairs discovered (booth-a twice)
    everyone = [q for q in query if q["Id"].startswith("all_")]
    assert len(everyone) == 10 and all("Dimensions" not in q["MetricStat"]["Metric"] for q in everyone)
    document = snapshot.to_json()
    json.dumps(document)  # serialisable
    assert document["booths"][0]["line"][0]["t"].endswith("+00:00")


def test_discovery_is_cached_between_polls(world):
    cw, now = world
    listed = CallRecorder(cw, "ListMetrics")
    monitor = BoothsMonitor(cw, namespace=NS, clock=lambda: now)
    monitor.poll()
    monitor.poll()
    assert len(listed.calls) == 1 and listed.calls[0]["RecentlyActive"] == "PT3H"
    monitor.discover(force=True)
    assert len(listed.calls) == 2


def test_twenty_booths_fit_one_call_and_the_cost_is_reported():
    monitor = BoothsMonitor(None, namespace=NS)
    queries = monitor.queries([(f"booth-{i}", "expo") for i in range(20)])
    assert len(queries) == 20 * QUERIES_PER_BOOTH + 10 <= 500
    assert len({q["Id"] for q in queries}) == len(queries)
    # 310 metrics per poll at $0.01 per 1000: every 30 s -> 120 polls an hour.
    assert poll_cost_per_hour(20, 30) == pytest.approx(310 * 0.01 / 1000 * 120)
    assert poll_cost_per_hour(20, 10) == pytest.approx(3 * poll_cost_per_hour(20, 30))


def test_an_agent_finds_a_namesake_that_beat_just_before_it_started(world):
    cw, now = world
    found = last_beat_of(cw, namespace=NS, camera="booth-a", since=now - timedelta(seconds=30), until=now)
    assert found is not None and now - timedelta(seconds=6) <= found <= now - timedelta(seconds=4)
    assert last_beat_of(cw, namespace=NS, camera="booth-b", since=now - timedelta(seconds=30), until=now) is None  # 2 min ago
    assert last_beat_of(cw, namespace=NS, camera="booth-new", since=now - timedelta(seconds=30), until=now) is None


def test_states_by_heartbeat_age():
    assert [booth_state(a) for a in (None, 0, 30, 31, 300, 301)] == ["offline", "live", "live", "stale", "stale", "offline"]


def test_the_command_prints_json_and_a_table(world, capsys):
    assert main(["booths", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [b["camera"] for b in document["booths"]] == ["booth-a", "booth-b", "booth-c", "booth-d"]
    assert document["booths"][0]["state"] == "live" and document["get_metric_data_calls"] == 1
    assert main(["booths"]) == 0
    out = capsys.readouterr()
    assert "booth-a" in out.out and "live" in out.out and "two agents share this camera name" in out.out


def test_an_unreachable_account_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["booths"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("crowdmood: error: cannot read the booths:")
