"""Sessions: create/list/rename/delete with a recording lock, DynamoDB import (moto), CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from crowdmood_gui.cli import main
from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.errors import InputError
from crowdmood_gui.core.records import CaptureMeta, FaceRecord, FaceResult, SESSION_INDEX, record_to_item
from crowdmood_gui.core.sessions import (
    sessions_root,
    acquire_lock,
    create_session,
    delete_session,
    import_from_dynamodb,
    is_locked,
    list_sessions,
    mark_ended,
    open_session,
    rename_session,
)


def _record(session: str, t: datetime, track: int, happy: float, n: int = 0) -> FaceRecord:
    emotions = {"HAPPY": happy, "CALM": 100 - happy}
    face = FaceResult(bounding_box={"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5},
                      emotions={k: emotions.get(k, 0.0) for k in ("HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR")},
                      dominant="HAPPY" if happy > 50 else "CALM", confidence=99.0)
    meta = CaptureMeta(session=session, camera="booth-1", captured_at=t, track_id=track)
    return FaceRecord(key=f"faces/{session}/booth-1/{n}-t{track}.jpg", meta=meta, faces=(face,))


def test_create_list_rename_and_delete(tmp_path):
    config = load_config()
    session = create_session(config, "Launch night!", source="cam 0")
    assert session.id == "Launch-night"
    assert session.path.parent == config.data_home() / "sessions"
    store = session.open_store()
    store.add_record(_record("s", datetime.now(UTC), 1, 80), 3.0)
    store.close()
    assert is_locked(session)  # this process records into it
    with pytest.raises(InputError, match="being recorded"):
        delete_session(config, session.id)
    mark_ended(session)
    assert not is_locked(session)
    [info] = list_sessions(config)
    assert (info.name, info.records, info.source, info.has_video) == ("Launch night!", 1, "cam 0", False)
    assert info.ended is not None and info.disk_bytes > 0
    rename_session(config, session.id, "Launch night (client A)")
    assert list_sessions(config)[0].name == "Launch night (client A)"
    assert open_session(config, "Launch night (client A)").id == session.id  # by name too
    assert create_session(config, "Launch night!", lock=False).id == "Launch-night-2"
    delete_session(config, session.id)
    assert [i.id for i in list_sessions(config)] == ["Launch-night-2"]
    with pytest.raises(InputError, match="no session"):
        open_session(config, "../etc")


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), OSError(28, "No space left on device")])
def test_a_session_that_cannot_be_made_leaves_no_half_made_folder(monkeypatch, failure):
    # Ctrl-C at the start of ``crowdmood analyze --session`` (or a full disk) while the folder
    # is being made left a folder without tables or end time, listed as damaged for ever.
    from crowdmood_gui.core.store import SessionStore

    config = load_config()

    def refuse(self, **values):
        raise failure

    with monkeypatch.context() as patched, pytest.raises(type(failure)):
        patched.setattr(SessionStore, "set_meta", refuse)
        create_session(config, "interrupted")
    assert list_sessions(config) == [] and not any(sessions_root(config).iterdir())
    assert create_session(config, "interrupted").id == "interrupted"  # the name is free again


def test_a_lock_left_by_a_dead_process_is_stale(tmp_path):
    config = load_config()
    session = create_session(config, "crashed", lock=False)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    session.lock_path.write_text(json.dumps({"pid": proc.pid, "host": os.uname().nodename}))
    assert not is_locked(session)
    acquire_lock(session)  # a stale lock is taken over
    assert json.loads(session.lock_path.read_text())["pid"] == os.getpid()
    mark_ended(session)
    delete_session(config, "crashed")


def test_import_from_dynamodb_rebuilds_the_timeline(tmp_path):
    import boto3
    from moto import mock_aws

    from crowdmood_gui.core.records import to_dynamodb_item

    start = datetime(2025, 5, 1, 18, 0, tzinfo=UTC)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="rekognize-faces",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("s3key", "session", "captured_at")],
            KeySchema=[{"AttributeName": "s3key", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{
                "IndexName": SESSION_INDEX,
                "KeySchema": [{"AttributeName": "session", "KeyType": "HASH"}, {"AttributeName": "captured_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
            BillingMode="PAY_PER_REQUEST",
        )
        table = boto3.resource("dynamodb", region_name="us-east-1").Table("rekognize-faces")
        for i in range(120):  # two tracks, one crop each every 2 s, over 2 minutes; enough for 2 query pages? no: small
            t = start + timedelta(seconds=i)
            table.put_item(Item=to_dynamodb_item(record_to_item(_record("expo", t, 1 + i % 2, 90 if i < 60 else 10, i))))
        table.put_item(Item=to_dynamodb_item(record_to_item(_record("other", start, 9, 50, 999))))
        config = load_config()
        session, count = import_from_dynamodb(config, "expo", dynamodb=client)
        assert count == 120
        with pytest.raises(InputError, match="no records"):
            import_from_dynamodb(config, "nobody", dynamodb=client)
    store = session.open_store()
    try:
        rows = store.timeline(1)
        minutes = store.timeline(60)
        assert store.record_count() == 120
    finally:
        store.close()
    assert len(rows) == 120 and rows[0].t == 0 and rows[-1].t == 119
    assert [round(r.emotions["HAPPY"]) for r in minutes] == [90, 10]
    assert minutes[0].tracks == 2
    info = list_sessions(config)[0]
    assert (info.name, info.backend, info.records, info.recording) == ("expo", "aws", 120, False)
    assert info.duration_s == pytest.approx(120)


def test_cli_list_export_and_errors(tmp_path, capsys, data_dir):
    assert main(["analyze", str(data_dir / "single_face.mp4"), "--session", "cli run", "--out", str(tmp_path / "a.csv")]) == 0
    capsys.readouterr()
    assert main(["sessions", "list"]) == 0
    out = capsys.readouterr().out
    assert "cli-run" in out and "cli run" in out
    assert main(["sessions", "list", "--json"]) == 0
    [entry] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert entry["id"] == "cli-run" and entry["records"] >= 1
    out_dir = tmp_path / "export"
    assert main(["export", "cli-run", "--out", str(out_dir)]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["chart.png", "faces.csv", "summary.html", "timeline.csv"]
    # Same timeline as `crowdmood analyze` wrote.
    assert (out_dir / "timeline.csv").read_text() == (tmp_path / "a.csv").read_text()
    assert main(["export", "no-such-session", "--out", str(out_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no session 'no-such-session'" in err
    assert main(["sessions", "rename", "cli-run", "Renamed"]) == 0
    # analyze ended the session (lock released), so it can be deleted.
    assert main(["sessions", "delete", "cli-run", "--yes"]) == 0
    assert not (sessions_root(load_config()) / "cli-run").exists()
    capsys.readouterr()


def test_cli_export_runs_without_a_display(tmp_path, data_dir):
    config = load_config()
    session = create_session(config, "headless", lock=False)
    store = session.open_store()
    store.add_record(_record("headless", datetime.now(UTC), 1, 70), 0.5)
    store.close()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "crowdmood_gui", "export", "headless", "--out", str(tmp_path / "o")],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "o" / "chart.png").stat().st_size > 1000
