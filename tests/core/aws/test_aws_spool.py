"""The durable spool and the uploader: nothing lost, each crop in S3 once, prompt stop."""

from __future__ import annotations

import errno
import os
import socket
import time
from datetime import UTC, datetime

import boto3
import botocore.config
import pytest
from moto import mock_aws

from crowdmood_gui.core.aws.spool import UploadSpool
from crowdmood_gui.core.aws.uploader import Uploader
from crowdmood_gui.core.retry import backoff_delay
from crowdmood_gui.core.errors import StorageError
from crowdmood_gui.core.records import CaptureMeta, crop_key

BUCKET = "crowdmood-spool-test"


def _meta(i: int) -> CaptureMeta:
    return CaptureMeta("séance 1", "booth-1", datetime(2026, 5, 1, 12, 0, i % 60, tzinfo=UTC), i)


def _fill(spool: UploadSpool, n: int) -> list[str]:
    keys = []
    for i in range(n):
        meta = _meta(i)
        key = crop_key(meta)
        spool.put(key, b"\xff\xd8crop-%d" % i, meta.to_s3_metadata())
        keys.append(key)
    return keys


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_put_take_done_fifo(tmp_path):
    spool = UploadSpool(tmp_path / "spool")
    keys = _fill(spool, 3)
    assert spool.depth() == 3
    first = spool.take()
    assert first.key == keys[0] and first.read() == b"\xff\xd8crop-0"
    assert first.metadata["session"].startswith("=?UTF-8?B?")  # S3 metadata is ASCII
    second = spool.take()
    assert second.key == keys[1]
    spool.release(second)
    spool.done(first)
    assert spool.depth() == 2
    assert spool.take().key == keys[1]  # released items come back in order
    assert sorted(p.suffix for p in (tmp_path / "spool").iterdir()) == [".jpg", ".jpg", ".json", ".json"]


def test_survives_restart_and_cleans_interrupted_writes(tmp_path):
    directory = tmp_path / "spool"
    spool = UploadSpool(directory)
    keys = _fill(spool, 5)
    spool.done(spool.take())
    # A crash mid-write leaves temporaries and a crop without its sidecar; a damaged sidecar too.
    (directory / "00000000000000000001-dead.jpg").write_bytes(b"orphan")
    (directory / "00000000000000000002-beef.json.tmp").write_bytes(b"{")
    (directory / "00000000000000000003-bad0.json").write_text("{not json")
    (directory / "00000000000000000003-bad0.jpg").write_bytes(b"x")

    reopened = UploadSpool(directory)
    assert reopened.recovered == 4 and reopened.depth() == 4
    assert [reopened.take().key for _ in range(4)] == keys[1:]
    assert not (directory / "00000000000000000001-dead.jpg").exists()
    assert not (directory / "00000000000000000002-beef.json.tmp").exists()
    assert (directory / "bad" / "00000000000000000003-bad0.json").exists()


def test_unwritable_directory_and_full_disk_are_clear_errors(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot create the directory"):
        UploadSpool(blocker / "spool")

    spool = UploadSpool(tmp_path / "spool")
    real_replace = os.replace

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(StorageError, match="disk is full"):
        spool.put("faces/a.jpg", b"x", {})
    monkeypatch.setattr(os, "replace", real_replace)
    assert spool.depth() == 0 and list((tmp_path / "spool").iterdir()) == []

    small = UploadSpool(tmp_path / "small", max_items=2)
    _fill(small, 2)
    with pytest.raises(StorageError, match="2 crops waiting"):
        small.put("faces/b.jpg", b"x", {})


def test_backoff_is_full_jitter_and_capped():
    assert backoff_delay(0) == 0.0
    assert backoff_delay(1, base_s=0.5, rng=lambda a, b: b) == 0.5
    assert backoff_delay(4, base_s=0.5, rng=lambda a, b: b) == 4.0
    assert backoff_delay(40, base_s=0.5, cap_s=60, rng=lambda a, b: b) == 60.0
    assert backoff_delay(5, rng=lambda a, b: a) == 0.0


def test_unreachable_then_reachable_every_crop_exactly_once(tmp_path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        down = boto3.client(
            "s3", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{_closed_port()}",
            config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=0.5, read_timeout=0.5),
        )
        spool = UploadSpool(tmp_path / "spool")
        keys = _fill(spool, 12)
        errors: list[str] = []
        up = Uploader(spool, down, BUCKET, on_error=errors.append, base_backoff_s=0.02, max_backoff_s=0.1)
        up.start()
        assert _wait(lambda: up.failures >= 3)
        assert spool.depth() == 12  # nothing lost while the network is down
        assert len(errors) == 1 and "retrying with back-off" in errors[0]  # one message per outage

        up.s3 = s3  # the network comes back
        assert _wait(lambda: spool.depth() == 0)
        assert up.stop(2.0)

        versions = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
        assert sorted(v["Key"] for v in versions) == sorted(keys)  # each key exactly one version
        head = s3.head_object(Bucket=BUCKET, Key=keys[0])
        assert head["ContentType"] == "image/jpeg"
        assert head["ServerSideEncryption"] == "AES256"
        meta = CaptureMeta.from_s3_metadata(head["Metadata"], fallback_time=datetime.now(UTC))
        assert meta == _meta(0)
        assert up.stats().uploaded == 12 and up.stats().consecutive_failures == 0
        assert list((tmp_path / "spool").glob("*.json")) == []


def test_restart_uploads_what_the_previous_run_left(tmp_path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        keys = _fill(UploadSpool(tmp_path / "spool"), 4)  # the app quit before uploading
        spool = UploadSpool(tmp_path / "spool")
        up = Uploader(spool, s3, BUCKET)
        up.start()
        assert _wait(lambda: spool.depth() == 0)
        up.stop()
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
        assert sorted(listed) == sorted(keys)


def test_stop_is_prompt_during_a_long_backoff(tmp_path):
    class Down:
        def put_object(self, **_kw):
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    spool = UploadSpool(tmp_path / "spool")
    _fill(spool, 1)
    up = Uploader(spool, Down(), BUCKET, base_backoff_s=60.0, max_backoff_s=60.0)
    up.upload_one = _with_first_failure_forced(up)
    up.start()
    assert _wait(lambda: up.failures >= 1)
    started = time.monotonic()
    assert up.stop(2.0)
    assert time.monotonic() - started < 1.0
    assert spool.depth() == 1  # persisted for the next run


def _with_first_failure_forced(up):
    original = up.upload_one

    def wrapper(item):
        ok = original(item)
        up.consecutive_failures = max(up.consecutive_failures, 8)  # a long back-off ahead
        return ok

    return wrapper


def test_permanent_rejection_is_quarantined(tmp_path):
    from botocore.exceptions import ClientError

    class Refuses:
        def put_object(self, **_kw):
            raise ClientError({"Error": {"Code": "EntityTooLarge", "Message": "too big"}}, "PutObject")

    spool = UploadSpool(tmp_path / "spool")
    _fill(spool, 1)
    errors = []
    up = Uploader(spool, Refuses(), BUCKET, on_error=errors.append)
    assert up.upload_one(spool.take())
    bad = tmp_path / "spool" / "bad"
    assert spool.depth() == 0 and len([p for p in bad.iterdir() if p.suffix in (".jpg", ".json")]) == 2
    assert "EntityTooLarge" in errors[0]
    assert "EntityTooLarge" in next(bad.glob("*.reason")).read_text()  # says why


class _RefusesSome:
    """S3 that refuses the listed keys for good and takes the others."""

    def __init__(self, refused: dict[str, str]) -> None:
        self.refused, self.stored = refused, []

    def put_object(self, **kw):
        from botocore.exceptions import ClientError

        code = self.refused.get(kw["Key"])
        if code:
            raise ClientError({"Error": {"Code": code, "Message": "refused"},
                               "ResponseMetadata": {"HTTPStatusCode": 403 if code == "AccessDenied" else 400}},
                              "PutObject")
        self.stored.append(kw["Key"])
        return {}


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidRequest", "InvalidArgument"])
def test_a_permanently_refused_crop_goes_to_bad_and_the_queue_moves_on(tmp_path, code):
    spool = UploadSpool(tmp_path / "spool")
    keys = _fill(spool, 4)
    s3 = _RefusesSome({keys[0]: code})  # the oldest: at the head of the queue
    errors = []
    up = Uploader(spool, s3, BUCKET, on_error=errors.append, base_backoff_s=0.01)
    up.start()
    assert _wait(lambda: spool.depth() == 0)
    up.stop()
    assert sorted(s3.stored) == sorted(keys[1:])
    reason = next((tmp_path / "spool" / "bad").glob("*.reason")).read_text()
    assert code in reason and keys[0] in reason
    assert any("bad/" in e and "the other uploads go on" in e for e in errors)


def test_s3_denying_every_upload_keeps_the_queue_instead_of_emptying_it_into_bad(tmp_path):
    spool = UploadSpool(tmp_path / "spool")
    keys = _fill(spool, 8)
    s3 = _RefusesSome({k: "AccessDenied" for k in keys})
    errors = []
    up = Uploader(spool, s3, BUCKET, on_error=errors.append, base_backoff_s=0.01, max_backoff_s=0.02)
    for _ in range(10):
        item = spool.take()
        up.upload_one(item)
    assert spool.depth() == 8 - 3  # three went to bad/, then the uploader understood
    assert any("refuses every upload" in e for e in errors)


def test_throughput_to_moto_and_spool_write_time(tmp_path, record_property):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        spool = UploadSpool(tmp_path / "spool")
        body = os.urandom(20_000)  # a typical 160 px crop at quality 90
        started = time.perf_counter()
        for i in range(100):
            meta = _meta(i)
            spool.put(crop_key(meta), body, meta.to_s3_metadata())
        write_ms = (time.perf_counter() - started) * 1000 / 100
        up = Uploader(spool, s3, BUCKET)
        started = time.perf_counter()
        up.start()
        assert _wait(lambda: spool.depth() == 0, timeout=60)
        rate = 100 / (time.perf_counter() - started)
        up.stop()
        record_property("spool_write_ms", round(write_ms, 2))
        record_property("uploads_per_s_moto", round(rate, 1))
        print(f"spool write {write_ms:.2f} ms/crop (fsync), upload {rate:.0f} crops/s to moto")
        assert write_ms < 100 and rate > 5


def test_a_surprise_exception_does_not_end_the_uploader(tmp_path):
    class Flaky:
        calls = 0

        def put_object(self, **_kw):
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise RuntimeError("surprise")
            return {}

    spool = UploadSpool(tmp_path / "spool")
    _fill(spool, 2)
    errors = []
    up = Uploader(spool, Flaky(), BUCKET, on_error=errors.append, base_backoff_s=0.01)
    up.start()
    assert _wait(lambda: spool.depth() == 0)
    up.stop()
    assert "surprise" in errors[0] and up.uploaded == 2
