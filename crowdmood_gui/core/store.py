"""SQLite store of one session: analysed records and the timeline.

WAL mode, one writer, a commit about once a second (``flush``): a crash loses at most the
last second. Writes are buffered in memory and stay buffered when the disk refuses them
(full disk, read-only directory), so nothing analysed is lost while the user frees space;
the failure is reported as a :class:`StorageError` with a message the user can act on.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.errors import StorageError
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.records import (
    CaptureMeta,
    FaceRecord,
    FaceResult,
    iso_utc,
    parse_time,
)

SCHEMA_VERSION = 2  # 2: timeline rows carry the crowd value, rated people and shares

_EMOTION_COLUMNS = ", ".join(f"{k} REAL" for k in EMOTIONS)
SHARE_COLUMNS = tuple(f"share_{k}" for k in EMOTIONS)
# Added in schema 2; a session recorded before has them NULL (its emotions are per-crop means).
_TIMELINE_ADDED = (("rated", "INTEGER NOT NULL DEFAULT 0"), *((c, "REAL") for c in SHARE_COLUMNS))
TIMELINE_FIELDS = ("period", "t", "faces", "tracks", "analysed", *EMOTIONS, "rated", *SHARE_COLUMNS)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    session TEXT NOT NULL,
    camera TEXT NOT NULL,
    track_id INTEGER,
    captured_at TEXT NOT NULL,
    media_time_s REAL NOT NULL,
    face_count INTEGER NOT NULL,
    dominant TEXT,
    faces_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_time ON records (media_time_s);
CREATE TABLE IF NOT EXISTS timeline (
    period INTEGER NOT NULL,
    t REAL NOT NULL,
    faces INTEGER NOT NULL,
    tracks INTEGER NOT NULL,
    analysed INTEGER NOT NULL,
    {_EMOTION_COLUMNS},
    {", ".join(f"{name} {kind}" for name, kind in _TIMELINE_ADDED)},
    PRIMARY KEY (period, t)
);
"""


def _face_to_json(face: FaceResult) -> dict[str, Any]:
    data = {
        "bounding_box": face.bounding_box,
        "emotions": face.emotions,
        "dominant": face.dominant,
        "confidence": face.confidence,
    }
    if face.age_range:
        data["age_range"] = face.age_range
    return data


def _face_from_json(data: dict[str, Any]) -> FaceResult:
    return FaceResult(
        bounding_box={k: float(v) for k, v in data.get("bounding_box", {}).items()},
        emotions={k: float(data.get("emotions", {}).get(k, 0.0)) for k in EMOTIONS},
        dominant=data.get("dominant"),
        confidence=float(data.get("confidence", 0.0)),
        age_range=data.get("age_range"),
    )


UNSAVED_PREFIX = "crowdmood-unsaved-"


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """Read a database without writing anything next to it (a read-only folder or copy).
    ``mode=ro`` still needs the WAL's -shm file; ``immutable=1`` reads the file as it is."""
    if not path.is_file():
        raise StorageError(f"{path}: no such session database")
    if path.stat().st_size == 0:
        raise StorageError(f"{path} is damaged: the file is empty (0 bytes)")
    last: Exception | None = None
    for flags in ("mode=ro", "immutable=1"):
        try:
            db = sqlite3.connect(f"file:{path}?{flags}", uri=True, check_same_thread=False, timeout=5.0)
            db.execute("SELECT COUNT(*) FROM records").fetchone()
            return db
        except sqlite3.Error as exc:
            last = exc
    raise StorageError(f"{path} is damaged or unreadable: {last}")


class SessionStore:
    """One session's database. ``path=None`` keeps everything in memory (headless runs).
    ``read_only=True`` (export, replay of a copied or read-only session) writes nothing."""

    def __init__(self, path: Path | None, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._lock = threading.RLock()
        self._pending_records: dict[str, tuple] = {}
        self._pending_timeline: dict[tuple[int, float], tuple] = {}
        self._pending_meta: dict[str, str] = {}
        if read_only:
            assert path is not None
            self._db = _connect_readonly(Path(path))
            return
        try:
            if path is not None and path.exists() and path.stat().st_size == 0:
                # Never re-create a damaged (truncated to 0 bytes) session silently.
                raise StorageError(f"{path} is damaged: the file is empty (0 bytes)")
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(path) if path is not None else ":memory:",
                check_same_thread=False,
                isolation_level=None,  # explicit transactions in flush()
                timeout=5.0,
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: durable across an app crash, at most the last commit lost on power loss.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._upgrade()
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except (sqlite3.Error, OSError) as exc:
            hint = " (is the disk full?)" if "full" in str(exc).lower() or getattr(exc, "errno", 0) == 28 else ""
            raise StorageError(f"cannot open the session store {path}: {exc}{hint}") from None

    def _upgrade(self) -> None:
        """Add the columns a session recorded by an older version lacks."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(timeline)")}
        for name, kind in _TIMELINE_ADDED:
            if name not in have:
                self._db.execute(f"ALTER TABLE timeline ADD COLUMN {name} {kind}")

    # --- writes (buffered) ----------------------------------------------------------

    def set_meta(self, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                self._pending_meta[key] = json.dumps(value, default=str)

    def add_record(self, record: FaceRecord, media_time_s: float) -> None:
        row = (
            record.key,
            record.meta.session,
            record.meta.camera,
            record.meta.track_id,
            iso_utc(record.meta.captured_at),
            float(media_time_s),
            len(record.faces),
            record.dominant,
            json.dumps([_face_to_json(f) for f in record.faces]),
        )
        with self._lock:
            self._pending_records[record.key] = row

    def upsert_timeline(self, rows: list[TimelineRow]) -> None:
        with self._lock:
            for row in rows:
                self._pending_timeline[(int(row.period_s), float(row.t))] = (
                    int(row.period_s),
                    float(row.t),
                    row.faces,
                    row.tracks,
                    row.analysed,
                    *(row.emotions.get(k) for k in EMOTIONS),
                    row.rated,
                    *((row.shares or {}).get(k) for k in EMOTIONS),
                )

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending_records) + len(self._pending_timeline) + len(self._pending_meta)

    def flush(self) -> int:
        """Commit what is buffered in one transaction. On failure the buffer is kept."""
        with self._lock:
            if not (self._pending_records or self._pending_timeline or self._pending_meta):
                return 0
            records = list(self._pending_records.values())
            # A row spilled by a version before schema 2 lacks rated and the shares.
            pad = (0, *(None,) * len(SHARE_COLUMNS))
            timeline = [r if len(r) == len(TIMELINE_FIELDS) else (*r, *pad)[: len(TIMELINE_FIELDS)]
                        for r in self._pending_timeline.values()]
            meta = list(self._pending_meta.items())
            marks = ", ".join("?" * len(TIMELINE_FIELDS))
            try:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", records
                )
                self._db.executemany(f"INSERT OR REPLACE INTO timeline ({', '.join(TIMELINE_FIELDS)}) VALUES ({marks})", timeline)
                self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StorageError(self._describe(exc)) from None
            self._pending_records.clear()
            self._pending_timeline.clear()
            self._pending_meta.clear()
            return len(records) + len(timeline) + len(meta)

    def _describe(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if "full" in text.lower():
            return f"the disk holding {self.path} is full: free some space; analysed results are kept in memory until then"
        if "readonly" in text.lower() or "read-only" in text.lower():
            return f"{self.path} is read-only: analysed results are kept in memory until it is writable"
        return f"could not save to {self.path}: {text} (results kept in memory, retrying)"

    def close(self, *, commit: bool = True) -> None:
        """Commit and close. If the last commit fails, what is still buffered is written as
        JSON lines (owner-only, 0600) to the first place that takes it (next to the
        database, the temporary directory, the home directory) and the error names that
        file and the command that merges it back (:func:`recover_unsaved`).
        ``commit=False`` only lets go of the file: for a reader of a session that another
        process is still recording into (no commit, no checkpoint)."""
        with self._lock:
            if self.read_only or not commit:
                self._db.close()
                return
            try:
                self.flush()
            except StorageError as exc:
                spilled = self._spill()
                where = (f"{self.pending} unsaved results were written to {spilled}; once there is space, "
                         f"merge them back with: crowdmood sessions recover {spilled}") if spilled else (
                    f"{self.pending} unsaved results could not be written anywhere")
                raise StorageError(f"{exc}; {where}") from None
            finally:
                try:
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error:
                    pass
                self._db.close()

    def _spill(self) -> Path | None:
        import tempfile
        import time as _time

        from crowdmood_gui.core.secrets import write_private_text

        lines = [json.dumps({"table": "header", "db": str(self.path) if self.path else None})]
        lines += [json.dumps({"table": "records", "row": list(r)}) for r in self._pending_records.values()]
        lines += [json.dumps({"table": "timeline", "row": list(r)}) for r in self._pending_timeline.values()]
        lines += [json.dumps({"table": "meta", "row": [k, v]}) for k, v in self._pending_meta.items()]
        session = self.path.parent.name if self.path else "memory"
        name = f"{UNSAVED_PREFIX}{session}-{_time.strftime('%Y%m%d-%H%M%S')}.jsonl"
        places = [self.path.parent if self.path else None, Path(tempfile.gettempdir()), Path.home()]
        for place in places:
            if place is None:
                continue
            target = place / name
            try:
                write_private_text(target, "\n".join(lines) + "\n")
                return target
            except OSError:
                try:
                    target.unlink(missing_ok=True)
                except OSError:
                    pass
        return None

    # --- reads ----------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        out: dict[str, Any] = {}
        for key, value in rows:
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError:
                out[key] = value
        return out

    def records(self, start_s: float | None = None, end_s: float | None = None) -> Iterator[tuple[FaceRecord, float]]:
        """Committed records in capture order, with their media time."""
        query = "SELECT key, session, camera, track_id, captured_at, media_time_s, faces_json FROM records"
        args: list[float] = []
        if start_s is not None or end_s is not None:
            query += " WHERE media_time_s >= ? AND media_time_s < ?"
            args = [start_s if start_s is not None else float("-inf"), end_s if end_s is not None else float("inf")]
        query += " ORDER BY media_time_s, key"
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        for key, session, camera, track_id, captured_at, media_time_s, faces_json in rows:
            meta = CaptureMeta(
                session=session,
                camera=camera,
                captured_at=parse_time(captured_at),
                track_id=track_id,
            )
            faces = tuple(_face_from_json(f) for f in json.loads(faces_json))
            yield FaceRecord(key=key, meta=meta, faces=faces), media_time_s

    def crop_emotions(self) -> list[tuple[int, float, list[dict[str, float]]]]:
        """(track id, media time, each face's emotions) of every record with a track, in
        capture order, without building the records (replay's box labels)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT track_id, media_time_s, faces_json FROM records WHERE track_id IS NOT NULL "
                "ORDER BY media_time_s, key"
            ).fetchall()
        return [(int(track_id), float(t), [face.get("emotions") or {} for face in json.loads(faces_json)])
                for track_id, t, faces_json in rows]

    def record_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def timeline(self, period: int) -> list[TimelineRow]:
        cols = ", ".join((*EMOTIONS, "rated", *SHARE_COLUMNS))
        n = len(EMOTIONS)
        with self._lock:
            rows = self._db.execute(
                f"SELECT t, faces, tracks, analysed, {cols} FROM timeline WHERE period = ? ORDER BY t",
                (int(period),),
            ).fetchall()
        return [
            TimelineRow(
                t=r[0],
                period_s=period,
                faces=r[1],
                tracks=r[2],
                analysed=r[3],
                emotions=dict(zip(EMOTIONS, r[4 : 4 + n])),
                rated=r[4 + n] or 0,
                shares=dict(zip(EMOTIONS, r[5 + n :])),
            )
            for r in rows
        ]


def recover_unsaved(spill: Path, db_path: Path | None = None) -> tuple[Path, int]:
    """Merge a file written by :meth:`SessionStore.close` on a full disk back into its
    session database (``db_path``, default: the one named in the file). Idempotent: rows
    are keyed, a second merge changes nothing. The file is removed once merged.
    Returns (database, rows merged)."""
    spill = Path(spill)
    try:
        lines = [json.loads(line) for line in spill.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise StorageError(f"cannot read {spill}: {exc.strerror or exc}") from None
    except ValueError:
        raise StorageError(f"{spill} is not a file of unsaved crowdmood results") from None
    header = next((entry for entry in lines if entry.get("table") == "header"), {})
    target = Path(db_path) if db_path is not None else Path(header["db"]) if header.get("db") else None
    if target is None:
        raise StorageError(f"{spill} does not say which session it belongs to: give the session")
    if not target.is_file():
        raise StorageError(f"{target}: the session database is gone; give the session to merge {spill} into")
    store = SessionStore(target)
    count = 0
    with store._lock:
        for entry in lines:
            table, row = entry.get("table"), entry.get("row")
            if table == "records":
                store._pending_records[row[0]] = tuple(row)
            elif table == "timeline":
                store._pending_timeline[(int(row[0]), float(row[1]))] = tuple(row)
            elif table == "meta":
                store._pending_meta[row[0]] = row[1]
            else:
                continue
            count += 1
    try:
        store.flush()
    except StorageError:
        with store._lock:  # still no space: keep the file as it is, spill nothing new
            store._pending_records.clear()
            store._pending_timeline.clear()
            store._pending_meta.clear()
        store.close()
        raise
    store.close()
    spill.unlink(missing_ok=True)
    return target, count
