"""``crowdmood agent`` as a real process against moto server on loopback: two booths through
S3 -> SQS -> the Lambda handler -> CloudWatch -> ``crowdmood booths --json``; SIGTERM during
an upload outage and delivery, exactly once, by the next start; the cost budget; no Qt."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import pytest

from crowdmood_gui.cli import main

ROOT = Path(__file__).parents[2]

from aws_fixtures import create_faces_table, detect_faces_response  # noqa: E402
from handler import Clients, Settings, handle  # noqa: E402

DATA = ROOT / "tests" / "data"
TABLE = "rekognize-faces"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class World:
    """A bucket whose object-created events go to an SQS queue (as in the backend's end-to-end
    test), the faces table, and the handler's clients, all on the moto server."""

    def __init__(self, endpoint: str, bucket: str) -> None:
        kw = dict(region_name="us-east-1", endpoint_url=endpoint)
        self.endpoint, self.bucket = endpoint, bucket
        self.s3, self.sqs = boto3.client("s3", **kw), boto3.client("sqs", **kw)
        self.ddb, self.cw = boto3.client("dynamodb", **kw), boto3.client("cloudwatch", **kw)
        self.s3.create_bucket(Bucket=bucket)
        self.queue_url = self.sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "faces/"}]}}}]})
        if TABLE not in self.ddb.list_tables()["TableNames"]:
            create_faces_table(self.ddb, TABLE)
        self.events: list[dict] = []

    def drain(self) -> list[str]:
        """Every S3 event body waiting in the queue -> the keys it names (one per delivery)."""
        keys = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return keys
            for message in got:
                body = json.loads(message["Body"])
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                if "Records" in body:
                    self.events.append(body)
                    keys += [unquote_plus(r["s3"]["object"]["key"]) for r in body["Records"]]  # S3 URL-encodes

    def analyse(self) -> dict:
        """The Lambda handler over every drained event (Rekognition answers a canned response)."""
        class Rekognition:
            def detect_faces(self, **_):
                return detect_faces_response()

        clients = Clients(s3=self.s3, dynamodb=self.ddb, cloudwatch=self.cw, rekognition=Rekognition())
        total = Counter()
        for event in self.events:
            total.update({k: v for k, v in handle(event, clients, Settings(table=TABLE)).items() if isinstance(v, int)})
        self.events.clear()
        return total

    def keys(self) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])]


def _env(tmp_path: Path, name: str, endpoint: str, config: str = "", **extra: str) -> dict[str, str]:
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text("[detection]\nthreads = 1\n" + config, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CROWDMOOD_", "QT_"))}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               CROWDMOOD_HOME=str(home), **extra)
    return env


def _agent(env, camera, source, bucket, *extra, stats: Path) -> subprocess.Popen:
    log = open(stats.with_suffix(".log"), "w", encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "crowdmood_gui", "agent", "--source", str(source), "--camera", camera,
         "--backend", "aws", "--bucket", bucket, "--session", "expo", "--stats-out", str(stats), *extra],
        env=env, stdout=log, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )


def _finish(process: subprocess.Popen, stats: Path, timeout=60) -> tuple[dict, list[dict]]:
    _, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    assert "Traceback" not in err, err
    lines = [json.loads(line) for line in stats.with_suffix(".log").read_text(encoding="utf-8").splitlines()]
    return json.loads(stats.read_text(encoding="utf-8")), lines


def test_two_booths_upload_through_s3_sqs_and_the_handler_and_booths_lists_both(tmp_path, endpoint, monkeypatch, capsys):
    world = World(endpoint, "crowdmood-two-booths")
    env_a = _env(tmp_path, "a", endpoint)
    # booth-b runs under a budget of two images an hour: the agent obeys the console's budget.
    env_b = _env(tmp_path, "b", endpoint, "[aws]\nbudget_usd_per_hour = 0.002\n")
    a = _agent(env_a, "booth-a", DATA / "single_face.mp4", world.bucket, "--exit-after", "10", stats=tmp_path / "a.json")
    b = _agent(env_b, "booth-b", DATA / "face_noface.mov", world.bucket, "--exit-after", "10", stats=tmp_path / "b.json")
    stats_a, log_a = _finish(a, tmp_path / "a.json")
    stats_b, log_b = _finish(b, tmp_path / "b.json")

    for stats, log in ((stats_a, log_a), (stats_b, log_b)):
        events = [line["event"] for line in log]
        assert events[0] == "start" and events[-1] == "stop" and "source_open" in events and "first_upload" in events
        assert stats["qt_modules"] == [] and stats["qt_libraries"] == []  # never loads Qt
        # A crop cut in the last instant may still be on disk (the next start sends it).
        assert stats["crops_uploaded"] + stats["spool_left"] == stats["crops_spooled"] >= 1 and stats["crops_uploaded"] >= 1
        assert stats["heartbeats_sent"] >= 2 and stats["start_to_first_upload_s"] > 0
        assert {"fps", "cpu_cores", "peak_rss_mb", "records"} <= set(stats)
    assert stats_a["budget_images_per_hour"] == 1000
    # Two images an hour: one crop at most in this run, whatever the sampler asked for.
    assert stats_b["crops_spooled"] == 1 and stats_b["budget_images_per_hour"] == 2

    # Right away, both booths are live (the last beat came at their stop).
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    assert main(["booths", "--json"]) == 0
    states = {b["camera"]: b["state"] for b in json.loads(capsys.readouterr().out)["booths"]}
    assert states == {"booth-a": "live", "booth-b": "live"}

    keys = world.drain()
    assert sorted(keys) == sorted(world.keys())  # one S3 event per crop
    assert {k.split("/")[2] for k in keys} == {"booth-a", "booth-b"}
    summary = world.analyse()
    assert summary["processed"] == len(keys) and summary["duplicates"] == 0

    capsys.readouterr()  # the handler's own JSON log lines
    assert main(["booths", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    booths = {b["camera"]: b for b in document["booths"]}
    assert set(booths) == {"booth-a", "booth-b"} and document["get_metric_data_calls"] == 1
    for name in ("booth-a", "booth-b"):
        booth = booths[name]
        assert booth["state"] in ("live", "stale") and booth["session"] == "expo"  # a loaded machine analyses slowly
        assert booth["last_heartbeat"] is not None and booth["frames_per_s"] is not None
        faces = [p for p in booth["line"] if p["faces"]]
        assert faces and faces[-1]["emotions"]["HAPPY"] == pytest.approx(46.25)  # the canned analysis


def test_sigterm_during_an_outage_keeps_the_crops_and_the_next_start_delivers_each_once(tmp_path, endpoint):
    world = World(endpoint, "crowdmood-outage")
    dead = f"http://127.0.0.1:{_free_port()}"
    env = _env(tmp_path, "outage", endpoint, AWS_ENDPOINT_URL_S3=dead, AWS_ENDPOINT_URL_CLOUDWATCH=dead)  # S3, CloudWatch down
    spool = tmp_path / "outage" / "aws-spool"
    first = _agent(env, "booth-a", DATA / "single_face.mp4", world.bucket, stats=tmp_path / "first.json")
    deadline = time.monotonic() + 60
    while len(list(spool.glob("*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list(spool.glob("*.json"))) >= 2, "the agent spooled no crop"
    first.send_signal(signal.SIGTERM)
    stats, log = _finish(first, tmp_path / "first.json", timeout=30)
    assert log[-1]["event"] == "stop" and log[-1]["reason"] == "SIGTERM"
    assert any(line["event"] == "warning" and "retrying" in line["message"] for line in log)
    assert any(line["event"] == "heartbeat_failed" for line in log)  # said, and the booth went on
    spooled = sorted(json.loads(p.read_text())["key"] for p in spool.glob("*.json"))
    assert stats["crops_uploaded"] == 0 and stats["spool_left"] == len(spooled) == stats["crops_spooled"] >= 2
    assert world.keys() == []

    # The next start, network back, on a source with no face: only the kept crops go up.
    env.pop("AWS_ENDPOINT_URL_S3")
    env.pop("AWS_ENDPOINT_URL_CLOUDWATCH")
    # Meanwhile another box calls itself booth-a too: the new start says so.
    from crowdmood_gui.core.aws.heartbeat import HeartbeatFigures, heartbeat_datums

    world.cw.put_metric_data(Namespace="CrowdMood", MetricData=heartbeat_datums(
        HeartbeatFigures(9.0, 1, 0, 1.0), camera="booth-a", session="elsewhere", timestamp=datetime.now(UTC) - timedelta(seconds=3)))
    second = _agent(env, "booth-a", DATA / "no_face.mp4", world.bucket, "--exit-after", "6", stats=tmp_path / "second.json")
    stats2, log2 = _finish(second, tmp_path / "second.json")
    assert stats2["crops_spooled"] == 0 and stats2["crops_uploaded"] == len(spooled) and stats2["spool_left"] == 0
    assert any(line["event"] == "first_upload" for line in log2)
    assert any(line["event"] == "duplicate_camera" and "booth-a" in line["message"] for line in log2)
    assert sorted(world.keys()) == spooled
    delivered = Counter(world.drain())
    assert sorted(delivered) == spooled and set(delivered.values()) == {1}  # each put exactly once
    summary = world.analyse()
    assert summary["processed"] == len(spooled)
    assert world.ddb.scan(TableName=TABLE, Select="COUNT", FilterExpression="begins_with(s3key, :p)",
                          ExpressionAttributeValues={":p": {"S": "faces/expo/booth-a/"}})["Count"] >= len(spooled)


def _wait_for_event(log_path: Path, event: str, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.exists():
            lines = [json.loads(x) for x in log_path.read_text(encoding="utf-8").splitlines() if x.strip()]
            if any(line["event"] == event for line in lines):
                return lines
        time.sleep(0.1)
    raise AssertionError(f"no {event} in {log_path.read_text(encoding='utf-8') if log_path.exists() else 'no log'}")


def test_a_camera_that_drops_is_reconnected_and_said_in_the_log(tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from mjpeg_server import MjpegServer, jpeg_frames_from_video

    env = _env(tmp_path, "camera", "http://127.0.0.1:9", "[source]\nreconnect_max_backoff_s = 1.0\nopen_timeout_s = 2.0\n")
    stats = tmp_path / "camera.json"
    log = stats.with_suffix(".log")
    with MjpegServer(jpeg_frames_from_video(DATA / "single_face.mp4", max_frames=30, width=320), fps=15) as camera:
        agent = subprocess.Popen(
            [sys.executable, "-m", "crowdmood_gui", "agent", "--source", camera.url, "--camera", "booth-cam",
             "--backend", "local", "--detect-hz", "5", "--stats-out", str(stats)],
            env=env, stdout=open(log, "w", encoding="utf-8"), stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )
        try:
            _wait_for_event(log, "source_open", timeout=60)
            camera.stop()  # the camera goes away mid-stream
            _wait_for_event(log, "source_lost")
            time.sleep(1.0)
            camera.start()
            _wait_for_event(log, "source_reconnected")
        finally:
            agent.send_signal(signal.SIGINT)
        figures, lines = _finish(agent, stats, timeout=30)
    events = [line["event"] for line in lines]
    assert events.index("source_open") < events.index("source_lost") < events.index("source_reconnected")
    assert events[-1] == "stop" and lines[-1]["reason"] == "SIGINT" and figures["frames"] > 0
    assert "source_failed" not in events  # a live source is retried, never given up


def test_the_spool_backlog_is_said_at_each_order_of_magnitude_and_when_drained():
    import io

    from crowdmood_gui.commands.agent import JsonLog, _pipeline_observer
    from crowdmood_gui.core.events import StatsEvent

    out = io.StringIO()
    observer = _pipeline_observer(JsonLog("booth-a", out))
    for depth in (0, 5, 12, 40, 150, 90, 3, 0, 0, 11):
        observer.on_stats(StatsEvent(detection_fps=10, faces=1, tracks=1, analysis_queue=0, records_analysed=0,
                                     upload_queue=depth))
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [(x["event"], x["depth"]) for x in lines] == [
        ("spool_backlog", 12), ("spool_backlog", 150), ("spool_drained", 0), ("spool_backlog", 11)]
    assert all(x["camera"] == "booth-a" and x["ts"].endswith("+00:00") for x in lines)


def test_bad_names_and_missing_settings_are_one_line_and_exit_2(capsys):
    cases = [
        (["--camera", "booth a/1"], "camera name"),
        (["--camera", "booth-a", "--session", "x\ny"], "session name"),
        (["--camera", "booth-a", "--backend", "aws"], "needs a bucket"),
    ]
    for extra, words in cases:
        assert main(["agent", "--source", str(DATA / "single_face.mp4"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
    assert main(["agent", "--source", str(DATA / "missing.mp4"), "--camera", "booth-a"]) == 2
    assert "no such video file" in capsys.readouterr().err


def test_the_local_backend_keeps_a_session(tmp_path, _isolated_home):
    stats = tmp_path / "local.json"
    code = subprocess.run(
        [sys.executable, "-m", "crowdmood_gui", "agent", "--source", str(DATA / "single_face.mp4"), "--camera", "booth-l",
         "--session", "local day", "--exit-after", "5", "--stats-out", str(stats)],
        env={**os.environ, "CROWDMOOD_HOME": str(_isolated_home)}, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert code.returncode == 0, code.stderr
    figures = json.loads(stats.read_text())
    assert figures["records"] >= 1 and figures["qt_modules"] == []
    from crowdmood_gui.core.config import load_config
    from crowdmood_gui.core.sessions import list_sessions

    (info,) = list_sessions(load_config(None))
    assert info.name == "local day"
