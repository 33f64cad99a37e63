import sqlite3
from pathlib import Path
from datetime import UTC, datetime

import pytest

from crowdmood_gui.core.errors import StorageError
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.records import CaptureMeta, build_record
from crowdmood_gui.core.store import SessionStore

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def make_record(key: str, track: int, happy: float):
    response = {
        "FaceDetails": [
            {
                "BoundingBox": {"Width": 0.5, "Height": 0.6, "Left": 0.2, "Top": 0.1},
                "Confidence": 99.5,
                "Emotions": [{"Type": "HAPPY", "Confidence": happy}, {"Type": "CALM", "Confidence": 100 - happy}],
            }
        ]
    }
    return build_record(key, response, CaptureMeta("demo", "booth-1", T0, track))


def test_records_and_timeline_round_trip(tmp_path):
    path = tmp_path / "s" / "session.db"
    store = SessionStore(path)
    store.set_meta(name="Demo", settings={"interval": 2})
    store.add_record(make_record("faces/a.jpg", 1, 80.0), 1.5)
    store.add_record(make_record("faces/b.jpg", 2, 20.0), 0.5)
    row = TimelineRow(t=0, period_s=1, faces=2, tracks=2, analysed=1, emotions={"HAPPY": 80.0, "SAD": None})
    store.upsert_timeline([row])
    assert store.pending == 5
    store.close()

    again = SessionStore(path)
    records = list(again.records())
    assert [r.key for r, _ in records] == ["faces/b.jpg", "faces/a.jpg"]  # by media time
    rec, t = records[1]
    assert t == 1.5 and rec.meta.track_id == 1 and rec.meta.captured_at == T0
    assert rec.faces[0].emotions["HAPPY"] == 80.0 and rec.faces[0].emotions["FEAR"] == 0.0
    assert rec.faces[0].bounding_box["Left"] == 0.2
    (read_row,) = again.timeline(1)
    assert read_row.emotions["HAPPY"] == 80.0 and read_row.emotions["SAD"] is None
    assert again.meta()["settings"] == {"interval": 2}
    assert again.record_count() == 2
    again.close()


def test_timeline_upsert_replaces_the_row(tmp_path):
    store = SessionStore(tmp_path / "x.db")
    for analysed in (1, 3):
        store.upsert_timeline([TimelineRow(t=5, period_s=1, faces=1, tracks=1, analysed=analysed, emotions={})])
        store.flush()
    assert [r.analysed for r in store.timeline(1)] == [3]
    store.close()


def test_a_committed_record_survives_without_close(tmp_path):
    # Crash safety: what flush() committed is readable by another connection at once.
    path = tmp_path / "crash.db"
    store = SessionStore(path)
    store.add_record(make_record("faces/c.jpg", 3, 50.0), 2.0)
    store.flush()
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 1
    other.close()


def test_write_failure_keeps_the_buffer_and_retries(tmp_path, monkeypatch):
    store = SessionStore(tmp_path / "full.db")
    store.add_record(make_record("faces/d.jpg", 4, 10.0), 0.0)

    real_execute = store._db.execute

    class FullDisk:
        def __getattr__(self, name):
            return getattr(store._db_real, name)

        def executemany(self, *a, **k):
            raise sqlite3.OperationalError("database or disk is full")

        def execute(self, *a, **k):
            return real_execute(*a, **k)

    store._db_real = store._db
    store._db = FullDisk()
    with pytest.raises(StorageError, match="disk .* is full"):
        store.flush()
    assert store.pending == 1  # nothing lost
    store._db = store._db_real
    assert store.flush() == 1
    assert store.record_count() == 1
    store.close()


def test_unusable_location_is_a_clear_error(tmp_path):
    # A file where the session folder should be (works as root too, unlike chmod).
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot open the session store"):
        SessionStore(blocker / "sub" / "s.db")


def test_in_memory_store_for_headless_runs():
    store = SessionStore(None)
    store.add_record(make_record("faces/e.jpg", 1, 5.0), 0.0)
    store.flush()
    assert store.record_count() == 1
    store.close()


def test_close_on_a_full_disk_spills_what_is_buffered(tmp_path, monkeypatch):
    import json

    store = SessionStore(tmp_path / "full.db")
    for i in range(3):
        store.add_record(make_record(f"faces/{i}.jpg", i, 10.0), float(i))

    def full(*args, **kwargs):
        raise StorageError("the disk holding x is full")

    monkeypatch.setattr(store, "flush", full)
    with pytest.raises(StorageError, match=r"3 unsaved results were written to .*crowdmood-unsaved-.*\.jsonl") as err:
        store.close()
    import re
    import stat

    spilled = Path(re.search(r"written to (\S+\.jsonl);", str(err.value)).group(1))
    assert f"crowdmood sessions recover {spilled}" in str(err.value)  # says how to merge it back
    assert stat.S_IMODE(spilled.stat().st_mode) == 0o600  # faces' data: never a 0644 file
    rows = [json.loads(line) for line in spilled.read_text().splitlines()]
    assert sorted(r["row"][0] for r in rows if r["table"] == "records") == ["faces/0.jpg", "faces/1.jpg", "faces/2.jpg"]

    # Once there is space: the merge puts every result in the database and removes the file.
    from crowdmood_gui.core.store import recover_unsaved

    target, merged = recover_unsaved(spilled)
    assert target == tmp_path / "full.db" and merged == 3 and not spilled.exists()
    again = SessionStore(target)
    assert again.record_count() == 3
    again.close()

def test_crowd_columns_round_trip(tmp_path):
    from crowdmood_gui.core.emotions import EMOTIONS

    store = SessionStore(tmp_path / "s.db")
    shares = dict.fromkeys(EMOTIONS, 0.0) | {"HAPPY": 0.75, "CALM": 0.25}
    store.upsert_timeline([TimelineRow(t=3, period_s=1, faces=4, tracks=4, analysed=2, rated=3,
                                       emotions=dict.fromkeys(EMOTIONS, 12.5), shares=shares)])
    store.close()
    (row,) = SessionStore(tmp_path / "s.db").timeline(1)
    assert (row.tracks, row.rated) == (4, 3) and row.shares == shares and row.emotions["FEAR"] == 12.5


def test_a_session_recorded_before_the_crowd_columns_still_opens(tmp_path):
    """Schema 1 (per-crop timeline, no rated/shares): the columns are added, rows read back."""
    from crowdmood_gui.core.emotions import EMOTIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE timeline (period INTEGER NOT NULL, t REAL NOT NULL, faces INTEGER NOT NULL, "
               "tracks INTEGER NOT NULL, analysed INTEGER NOT NULL, "
               + ", ".join(f"{k} REAL" for k in EMOTIONS) + ", PRIMARY KEY (period, t))")
    db.execute("INSERT INTO timeline VALUES (1, 0, 1, 1, 1, " + ", ".join(["40.0"] * len(EMOTIONS)) + ")")
    db.commit()
    db.close()
    store = SessionStore(path)
    (row,) = store.timeline(1)
    assert row.emotions["HAPPY"] == 40.0 and row.rated == 0 and row.shares["HAPPY"] is None
    store.upsert_timeline([TimelineRow(t=1, period_s=1, faces=1, tracks=1, analysed=1, rated=1,
                                       emotions=dict.fromkeys(EMOTIONS, 5.0), shares=dict.fromkeys(EMOTIONS, 0.0))])
    store.close()
    assert [r.rated for r in SessionStore(path).timeline(1)] == [0, 1]


def test_a_timeline_row_spilled_before_the_crowd_columns_is_still_written(tmp_path):
    from crowdmood_gui.core.emotions import EMOTIONS

    store = SessionStore(tmp_path / "s.db")
    store._pending_timeline[(1, 0.0)] = (1, 0.0, 2, 2, 1, *([30.0] * len(EMOTIONS)))  # schema-1 shape
    store.close()
    (row,) = SessionStore(tmp_path / "s.db").timeline(1)
    assert row.emotions["SAD"] == 30.0 and row.rated == 0 and row.shares["SAD"] is None
