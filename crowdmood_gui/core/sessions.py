"""Sessions on disk: one directory per session under ``<data home>/sessions``.

    <home>/sessions/<id>/session.db     metadata, records, timeline, video index (SQLite, WAL)
    <home>/sessions/<id>/video.mjpeg    optional recorded video (see core/recording.py)
    <home>/sessions/<id>/crops/         optional analysed crops (privacy.keep_crops)
    <home>/sessions/<id>/recording.lock while a process records into it: {"pid", "host", ...}

The id is the folder name (a slug of the name given at creation) and never changes; the
display name lives in the metadata (``rename_session``). A lock whose process is gone
(killed, crashed, another machine's stale file) is stale and ignored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import InputError, StorageError
from crowdmood_gui.core.secrets import private_dir, redact_url
from crowdmood_gui.core.store import SessionStore

DB_NAME = "session.db"
LOCK_NAME = "recording.lock"
VIDEO_NAME = "video.mjpeg"
CROPS_DIR = "crops"


@dataclass(frozen=True)
class Session:
    id: str
    path: Path

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    @property
    def video_path(self) -> Path:
        return self.path / VIDEO_NAME

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_NAME

    def open_store(self) -> SessionStore:
        return SessionStore(self.db_path)

    def meta(self) -> dict[str, Any]:
        return read_meta(self.db_path)


@dataclass(frozen=True)
class SessionInfo:
    id: str
    name: str
    path: Path
    started: datetime | None
    ended: datetime | None
    duration_s: float
    source: str
    backend: str
    records: int
    disk_bytes: int
    has_video: bool
    video_frames: int
    recording: bool  # a live process holds the lock
    damaged: str | None = None  # why session.db cannot be read (truncated, not a database, ...)


def human_bytes(n: int) -> str:
    """Disk usage for people: 950 B, 12.3 MB, 1.4 GB (decimal units)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def sessions_root(config: AppConfig) -> Path:
    return config.data_home() / "sessions"


def slugify(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return slug[:80] or datetime.now().strftime("session-%Y%m%d-%H%M%S")


# --- locks ----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def read_lock(session: Session) -> dict[str, Any] | None:
    try:
        return json.loads(session.lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_locked(session: Session) -> bool:
    """True when a live process on this machine is recording into the session."""
    lock = read_lock(session)
    if not lock:
        return False
    if lock.get("host") not in (None, socket.gethostname()):
        return False  # another machine's lock on a copied folder: stale here
    return _pid_alive(int(lock.get("pid", -1)))


def acquire_lock(session: Session) -> None:
    if is_locked(session) and int((read_lock(session) or {}).get("pid", -1)) != os.getpid():
        raise StorageError(f"session {session.id} is being recorded by another process")
    data = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat()}
    tmp = session.lock_path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, session.lock_path)
    except OSError as exc:  # a full disk at session start: one line, not a traceback
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise StorageError(f"cannot start recording session {session.id} in {session.path}: "
                           f"{exc.strerror or exc} (free some space and start again)") from None


def release_lock(session: Session) -> None:
    lock = read_lock(session)
    if lock is None or int(lock.get("pid", -1)) == os.getpid() or not is_locked(session):
        try:
            session.lock_path.unlink()
        except FileNotFoundError:
            pass


# --- metadata -------------------------------------------------------------------------


def read_meta(db_path: Path) -> dict[str, Any]:
    """The meta table, read-only (works while another process writes)."""
    if not db_path.exists():
        return {}
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = db.execute("SELECT key, value FROM meta").fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return {}
    out: dict[str, Any] = {}
    for key, value in rows:
        try:
            out[key] = json.loads(value)
        except (TypeError, ValueError):
            out[key] = value
    return out


def _write_meta(session: Session, **values: Any) -> None:
    try:
        db = sqlite3.connect(str(session.db_path), timeout=10.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [(k, json.dumps(v, default=str)) for k, v in values.items()],
                )
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot update session {session.id}: {exc}") from None


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- create / open / list -------------------------------------------------------------


def default_session_name(booth: str, when: datetime | None = None) -> str:
    """The booth (``config.camera``) and the local date and time: "booth-1 2026-11-30 14:05"."""
    return f"{booth} {(when or datetime.now()):%Y-%m-%d %H:%M}"


def create_session(config: AppConfig, name: str, *, source: str = "", lock: bool = True) -> Session:
    """A new session folder. With ``lock`` the calling process marks it as being recorded
    (released by :func:`mark_ended`, or stale once the process is gone)."""
    root = sessions_root(config)
    base = slugify(name)
    candidate, n = base, 1
    while (root / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    path = root / candidate
    try:
        private_dir(config.data_home())  # faces and camera names: owner only (0700)
        path.mkdir(parents=True)
    except OSError as exc:
        raise StorageError(f"cannot create the session folder {path}: {exc.strerror}") from None
    session = Session(id=candidate, path=path)
    try:
        store = session.open_store()
        try:
            store.set_meta(name=name, source=redact_url(source), created_at=datetime.now(UTC).isoformat(),
                           backend=config.backend, record_video=False)
        finally:
            store.close()
        if lock:
            acquire_lock(session)
    except BaseException:
        # Nothing is recorded yet: a folder that could not be made whole (Ctrl-C, a full disk)
        # goes, rather than being listed as a damaged session for ever.
        shutil.rmtree(path, ignore_errors=True)
        raise
    return session


def open_session(config: AppConfig, session_id: str) -> Session:
    """A session by id (folder name) or, failing that, by its display name."""
    root = sessions_root(config)
    if session_id and "/" not in session_id and "\\" not in session_id and session_id not in (".", ".."):
        path = root / session_id
        if (path / DB_NAME).exists():
            return Session(id=session_id, path=path)
    matches = [info for info in list_sessions(config) if info.name == session_id]
    if len(matches) == 1:
        return Session(id=matches[0].id, path=matches[0].path)
    if len(matches) > 1:
        raise InputError(f"more than one session is named {session_id!r}: use its id ({', '.join(m.id for m in matches)})")
    raise InputError(f"no session {session_id!r} in {root} (see: crowdmood sessions list)")


def mark_ended(session: Session, ended_at: datetime | None = None) -> None:
    """Record the end time and release the recording lock (released even when a full disk
    refuses the end time)."""
    try:
        _write_meta(session, ended_at=(ended_at or datetime.now(UTC)).isoformat())
    finally:
        release_lock(session)


def _dir_size(path: Path) -> int:
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except OSError:
            pass
    return total


def session_info(session: Session) -> SessionInfo:
    meta = read_meta(session.db_path)
    records = 0
    frames = 0
    last_t = 0.0
    damaged: str | None = None
    try:
        if session.db_path.stat().st_size == 0:
            raise sqlite3.DatabaseError("the file is empty (0 bytes)")
        db = sqlite3.connect(f"file:{session.db_path}?mode=ro", uri=True, timeout=5.0)
        try:
            records = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            row = db.execute("SELECT MAX(t + period) FROM timeline WHERE period = 1").fetchone()
            last_t = float(row[0] or 0.0)
            if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='frames'").fetchone():
                frames, t = db.execute("SELECT COUNT(*), MAX(media_time_s) FROM frames").fetchone()
                last_t = max(last_t, float(t or 0.0))
        finally:
            db.close()
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):  # a writer holds it: not damage
            damaged = str(exc)
    except (sqlite3.Error, OSError) as exc:
        damaged = str(exc)
    started = _parse(meta.get("started_at")) or _parse(meta.get("created_at"))
    ended = _parse(meta.get("ended_at"))
    duration = last_t
    if not duration and started and ended:
        duration = max(0.0, (ended - started).total_seconds())
    recording = is_locked(session)
    return SessionInfo(
        id=session.id,
        name=str(meta.get("name") or meta.get("session") or session.id),
        path=session.path,
        started=started,
        ended=ended,
        duration_s=float(duration),
        source=redact_url(str(meta.get("source") or "")),  # sessions recorded before masking
        backend=str(meta.get("backend") or ""),
        records=int(records),
        disk_bytes=_dir_size(session.path),
        has_video=session.video_path.exists() and frames > 0,
        video_frames=int(frames),
        recording=recording,
        damaged=damaged,
    )


def list_sessions(config: AppConfig) -> list[SessionInfo]:
    """Every session under the data home, newest first."""
    root = sessions_root(config)
    if not root.is_dir():
        return []
    infos = [session_info(Session(id=p.name, path=p)) for p in root.iterdir() if (p / DB_NAME).is_file()]
    epoch = datetime.min.replace(tzinfo=UTC)
    infos.sort(key=lambda i: (i.started or epoch, i.id), reverse=True)
    return infos


def rename_session(config: AppConfig, session_id: str, new_name: str) -> Session:
    """Change the display name (the folder id stays: paths in exports stay valid)."""
    new_name = new_name.strip()
    if not new_name:
        raise InputError("a session name cannot be empty")
    session = open_session(config, session_id)
    _write_meta(session, name=new_name)
    return session


def delete_session(config: AppConfig, session_id: str) -> None:
    """Remove a session folder; refuses while a live process records into it."""
    session = open_session(config, session_id)
    if is_locked(session):
        pid = (read_lock(session) or {}).get("pid")
        raise InputError(f"session {session.id} is being recorded (process {pid}): stop it first")
    root = sessions_root(config).resolve()
    target = session.path.resolve()
    if target.parent != root:
        raise InputError(f"{target} is not a session folder")
    try:
        shutil.rmtree(target)
    except OSError as exc:
        raise StorageError(f"cannot delete {target}: {exc.strerror or exc}") from None


# --- DynamoDB import ------------------------------------------------------------------



IMPORT_PRESENCE_STEP_S = 0.5

def import_from_dynamodb(
    config: AppConfig,
    session_name: str,
    *,
    dynamodb: Any,
    table: str | None = None,
    index: str | None = None,
    into: Session | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Session, int]:
    """Copy one AWS-mode session's records (DynamoDB GSI: partition ``session``, sort
    ``captured_at``) into a local session and rebuild its timeline. Returns (session, count).

    ``dynamodb`` is a boto3 DynamoDB *client*. Media time is seconds from the first record.
    """
    from crowdmood_gui.core.aggregation import TimelineAggregator
    from crowdmood_gui.core.records import SESSION_INDEX, from_attribute_values, item_to_record

    table = table or config.aws.table
    index = index or SESSION_INDEX
    records = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "session"},
        "ExpressionAttributeValues": {":s": {"S": session_name}},
    }
    try:
        while True:
            page = dynamodb.query(**kwargs)
            for item in page.get("Items", []):
                plain = from_attribute_values(item)  # client form -> Decimals
                records.append(item_to_record(plain))
            if progress is not None:
                progress(len(records))
            last = page.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
    except Exception as exc:
        from crowdmood_gui.core.aws.clients import describe_aws_error

        raise StorageError(f"cannot read session {session_name!r} from DynamoDB table {table}: {describe_aws_error(exc)}") from None
    if not records:
        raise InputError(f"no records for session {session_name!r} in DynamoDB table {table} (index {index})")
    records.sort(key=lambda r: (r.meta.captured_at, r.key))
    start = records[0].meta.captured_at
    session = into or create_session(config, session_name, source=f"dynamodb:{table}", lock=False)
    store = session.open_store()
    aggregator = TimelineAggregator(half_life_s=config.crowd.half_life_s)
    try:
        # No frames were kept: a person counts as in view from their first analysed crop to
        # their last (the tracker followed them in between), one observation every 0.5 s.
        spans: dict[int, list[float]] = {}
        for record in records:
            t = (record.meta.captured_at - start).total_seconds()
            store.add_record(record, t)
            aggregator.add_record(t, record)
            if record.meta.track_id is not None:
                span = spans.setdefault(record.meta.track_id, [t, t])
                span[0], span[1] = min(span[0], t), max(span[1], t)
        in_view: dict[float, set[int]] = {}
        for track_id, (first, last) in spans.items():
            steps = int((last - first) / IMPORT_PRESENCE_STEP_S)
            for i in range(steps + 1):
                in_view.setdefault(round(first + i * IMPORT_PRESENCE_STEP_S, 3), set()).add(track_id)
            in_view.setdefault(last, set()).add(track_id)
        for t in sorted(in_view):
            aggregator.observe_frame(t, len(in_view[t]), in_view[t])
        for period in aggregator.periods:
            store.upsert_timeline(aggregator.rows(period))
        end = records[-1].meta.captured_at
        store.set_meta(started_at=start.isoformat(), ended_at=end.isoformat(), backend="aws",
                       camera=records[0].meta.camera, imported_from=f"dynamodb:{table}/{index}", session=session_name)
    finally:
        store.close()
    return session, len(records)
