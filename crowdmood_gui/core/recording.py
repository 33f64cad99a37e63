"""Crash-safe session video: a raw MJPEG stream plus an index in the session database.

    <session>/video.mjpeg   JPEG after JPEG (playable as is: ``ffplay -f mjpeg video.mjpeg``)
    <session>/session.db    table ``frames``: n, byte offset, length, media time, boxes

Why not MP4: its index (moov atom) is written at close, so a killed app leaves an
unplayable file. Here every frame is a complete JPEG appended to the stream; about once a
second the recorder thread ``fsync``s the video file and only then commits the index rows
that point into it, so a committed row never points at bytes that are not on disk.

Each JPEG carries its own metadata in a COM segment (``{"n":..,"t":..,"i":..,"b":[..]}``,
ASCII JSON, ignored by decoders): after a crash, :func:`recover` scans the unindexed tail
for SOI/EOI markers and rebuilds the missing index rows exactly (frame number, media
time, boxes), and cuts a torn last frame off.

:class:`SessionRecorder` is fed from the pipeline's display thread (``frame_tap``):
``write`` rate-limits, shrinks the frame to the recording's size and puts it in a small
queue bounded by frames and by bytes (dropping when it is full); JPEG encoding, writing
and committing run on the recorder's thread. The queue never holds a source frame: eight
queued 4K frames were 200 MB.
:class:`VideoIndex` is the reader used by replay: O(1) seek by frame number, binary search
by media time, ``cv2.imdecode`` of one JPEG (~1 ms for 960 px).
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crowdmood_gui.core.errors import StorageError
from crowdmood_gui.core.events import FrameEvent, TrackBox
from crowdmood_gui.core.sessions import VIDEO_NAME

if TYPE_CHECKING:
    from crowdmood_gui.core.sessions import Session

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 1.0
DEFAULT_FPS_CAP = 15.0
DEFAULT_MAX_SIDE = 960
DEFAULT_QUALITY = 80
# What the queue may hold at most, whatever the frame count: 8 frames at the default
# 960 px are 12 MB; a recording at full 4K (max_side = 3840) gets 2 frames, not 8 (200 MB).
DEFAULT_QUEUE_BYTES = 64 * 2**20

FRAMES_SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    n INTEGER PRIMARY KEY,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    media_time_s REAL NOT NULL,
    source_index INTEGER NOT NULL,
    boxes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS frames_by_time ON frames (media_time_s);
"""

SOI = b"\xff\xd8"
EOI = b"\xff\xd9"
COM = b"\xff\xfe"


def _connect(db_path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None, timeout=10.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(FRAMES_SCHEMA)
    return db


# --- frame <-> bytes ------------------------------------------------------------------


def boxes_to_json(tracks: tuple[TrackBox, ...], scale: float) -> list[list[Any]]:
    return [
        [t.track_id, round(t.x1 * scale, 1), round(t.y1 * scale, 1), round(t.x2 * scale, 1), round(t.y2 * scale, 1),
         round(t.score, 3), t.dominant]
        for t in tracks
    ]


def boxes_from_json(data: list[list[Any]]) -> tuple[TrackBox, ...]:
    return tuple(TrackBox(int(b[0]), float(b[1]), float(b[2]), float(b[3]), float(b[4]), float(b[5]), b[6]) for b in data)


def with_comment(jpeg: bytes, meta: dict[str, Any]) -> bytes:
    """Insert a COM segment with ``meta`` (ASCII JSON) right after the SOI marker."""
    payload = json.dumps(meta, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    if len(payload) > 65000:  # a COM segment holds at most 65533 bytes: drop the boxes
        payload = json.dumps({k: v for k, v in meta.items() if k != "b"}, separators=(",", ":")).encode("ascii")
    return SOI + COM + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def read_comment(jpeg: bytes) -> dict[str, Any] | None:
    if jpeg[:2] != SOI or jpeg[2:4] != COM:
        return None
    length = int.from_bytes(jpeg[4:6], "big")
    try:
        return json.loads(jpeg[6 : 4 + length].decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def shrink_frame(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """The frame with its longer side at most ``max_side`` (``INTER_AREA``), and the scale.

    Halved first while it is at least twice the target (a 2×2 average twice is the 4×4 one:
    the same pixels within 1 level), then resized to the target: 4K to 960 px costs 3.0 ms
    instead of 8.7 in one ``INTER_AREA`` step."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        while w >= 2 * size[0] and h >= 2 * size[1]:
            w, h = w // 2, h // 2
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        if (w, h) != size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image, scale


def encode_frame(image: np.ndarray, *, max_side: int, quality: int) -> tuple[bytes, float]:
    """Resize (longer side <= max_side) and JPEG-encode a BGR frame. Returns (bytes, scale)."""
    import cv2

    image, scale = shrink_frame(image, max_side)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise StorageError("could not encode a video frame as JPEG")
    return buf.tobytes(), scale


def decode_frame(data: bytes) -> np.ndarray | None:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


# --- recovery -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryReport:
    indexed_before: int
    recovered: int  # frames found in the unindexed tail and added to the index
    dropped_rows: int  # index rows pointing past the end of the file (removed)
    truncated_bytes: int  # a torn last frame cut off (only when ``truncate``)


def scan_jpegs(data: bytes, base_offset: int = 0) -> tuple[list[tuple[int, int]], int]:
    """Complete JPEGs in ``data``: ([(offset, length)], end of the last complete one)."""
    found: list[tuple[int, int]] = []
    pos = 0
    end = 0
    while True:
        start = data.find(SOI, pos)
        if start < 0:
            break
        search_from = start + 2
        if data[start + 2 : start + 4] == COM:  # skip our metadata segment
            search_from = start + 4 + int.from_bytes(data[start + 4 : start + 6], "big")
        stop = data.find(EOI, search_from)
        if stop < 0:
            break
        end = stop + 2
        found.append((base_offset + start, end - start))
        pos = end
    return found, base_offset + end


def recover(session_path: Path, *, truncate: bool = True) -> RecoveryReport:
    """Make the video index match the video file after a crash (idempotent, cheap when clean).

    Index rows pointing past the end of the file are dropped; complete JPEGs after the last
    indexed frame are indexed from their embedded metadata; with ``truncate`` a torn tail
    (a frame half written when the process died) is cut off so new frames append cleanly.
    Must not run while another process records into the session (see ``sessions.is_locked``).
    """
    video = Path(session_path) / VIDEO_NAME
    db_path = Path(session_path) / "session.db"
    db = _connect(db_path)
    try:
        size = video.stat().st_size if video.exists() else 0
        count = db.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
        dropped = db.execute("DELETE FROM frames WHERE offset + length > ?", (size,)).rowcount if count else 0
        row = db.execute("SELECT n, offset + length, media_time_s FROM frames ORDER BY n DESC LIMIT 1").fetchone()
        next_n, indexed_end, last_t = (row[0] + 1, row[1], row[2]) if row else (0, 0, 0.0)
        recovered = 0
        truncated = 0
        if size > indexed_end:
            with video.open("rb") as handle:
                handle.seek(indexed_end)
                tail = handle.read()
            found, complete_end = scan_jpegs(tail, indexed_end)
            rows = []
            for offset, length in found:
                meta = read_comment(tail[offset - indexed_end : offset - indexed_end + min(length, 65600)]) or {}
                t = float(meta.get("t", last_t))
                rows.append((next_n, offset, length, t, int(meta.get("i", -1)), json.dumps(meta.get("b", []))))
                next_n += 1
                last_t = t
            if rows:
                db.execute("BEGIN")
                db.executemany("INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
            recovered = len(rows)
            if truncate and complete_end < size:
                truncated = size - complete_end
                with video.open("r+b") as handle:
                    handle.truncate(complete_end)
        return RecoveryReport(indexed_before=count, recovered=recovered, dropped_rows=max(dropped, 0), truncated_bytes=truncated)
    finally:
        db.close()


# --- writer ---------------------------------------------------------------------------


@dataclass
class RecorderStats:
    frames_written: int = 0
    frames_dropped_queue: int = 0  # the recorder thread fell behind: dropped, never blocked the display
    frames_skipped_rate: int = 0  # above the fps cap
    bytes_written: int = 0
    encode_ms_total: float = 0.0
    commits: int = 0
    errors: int = 0

    @property
    def mean_encode_ms(self) -> float:
        return self.encode_ms_total / self.frames_written if self.frames_written else 0.0


_STOP = object()


@dataclass(frozen=True, slots=True)
class _Queued:
    """A frame waiting for the recorder's thread: already at the recording's size."""

    frame_index: int
    media_time_s: float
    tracks: Any  # the event's boxes, in source pixels
    image: np.ndarray
    scale: float  # image pixels per source pixel


class SessionRecorder:
    """Records a session's displayed frames (already blurred when privacy is on).

    ``write(frame_event)`` is the pipeline's ``frame_tap`` (display thread, cheap);
    ``close()`` writes what is queued, fsyncs, commits the index and releases the session.
    """

    def __init__(
        self,
        session: "Session",
        *,
        fps_cap: float = DEFAULT_FPS_CAP,
        max_side: int = DEFAULT_MAX_SIDE,
        quality: int = DEFAULT_QUALITY,
        queue_size: int = 8,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        commit_interval_s: float = COMMIT_INTERVAL_S,
        block: bool = False,
    ) -> None:
        self.session = session
        self.block = block  # offline analysis: wait for room instead of dropping
        self.fps_cap = float(fps_cap)
        self.max_side = int(max_side)
        self.quality = int(quality)
        self.commit_interval_s = commit_interval_s
        self.stats = RecorderStats()
        self.last_error: str | None = None
        self._min_dt = 1.0 / self.fps_cap if self.fps_cap > 0 else 0.0
        self._last_t: float | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.queue_bytes = int(queue_bytes)
        self._queued_bytes = 0  # pixels of the frames in the queue
        self._bytes_lock = threading.Lock()
        self._closed = False
        self.path = Path(session.path) / VIDEO_NAME
        try:
            recover(session.path, truncate=True)
            self._db = _connect(Path(session.path) / "session.db")
            row = self._db.execute("SELECT MAX(n) FROM frames").fetchone()
            self._next_n = 0 if row[0] is None else row[0] + 1
            # Unbuffered: a failed write (full disk) is seen here, at once, and undone.
            self._file = self.path.open("ab", buffering=0)
            self._offset = self._file.tell()
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('video', ?)",
                (json.dumps({"file": VIDEO_NAME, "format": "mjpeg", "fps_cap": self.fps_cap,
                             "max_side": self.max_side, "quality": self.quality}),),
            )
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot record video into {session.path}: {exc}") from None
        self._pending: list[tuple] = []
        self._last_commit = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="crowdmood-recorder", daemon=True)
        self._thread.start()

    # --- display thread -------------------------------------------------------------

    def write(self, event: FrameEvent) -> bool:
        """Offer a frame; returns False when it was skipped (rate cap) or dropped (queue full).

        The frame is shrunk to the recording's size here, so the queue holds no reference
        to the source frame (a 4K frame is 25 MB; the shrinking is work the recorder's
        thread did before, on the same frames)."""
        if self._closed:
            return False
        t = event.media_time_s
        if self._last_t is not None and 0.0 <= t - self._last_t < self._min_dt * 0.95:
            self.stats.frames_skipped_rate += 1
            return False
        if not self.block and (self._queue.full() or self._queued_bytes >= self.queue_bytes):
            self.stats.frames_dropped_queue += 1  # full: not even the shrinking is spent on it
            return False
        image, scale = shrink_frame(event.image, self.max_side)
        item = _Queued(event.frame_index, event.media_time_s, event.tracks, image, scale)
        with self._bytes_lock:
            if not self.block and self._queued_bytes and self._queued_bytes + image.nbytes > self.queue_bytes:
                self.stats.frames_dropped_queue += 1
                return False
            self._queued_bytes += image.nbytes
        try:
            if self.block:
                self._queue.put(item, timeout=5.0)
            else:
                self._queue.put_nowait(item)
        except queue.Full:
            with self._bytes_lock:
                self._queued_bytes -= image.nbytes
            self.stats.frames_dropped_queue += 1
            return False
        self._last_t = t
        return True

    __call__ = write  # usable directly as ``frame_tap``

    # --- recorder thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if item is not None:
                with self._bytes_lock:
                    self._queued_bytes -= item.image.nbytes
                try:
                    self._encode_and_write(item)
                except Exception as exc:  # disk full, encode failure: keep going, report
                    self.stats.errors += 1
                    repeated = str(exc) == self.last_error
                    self.last_error = str(exc)
                    if not repeated:  # once per cause, not once per frame (a full disk)
                        log.warning("recording a frame failed: %s", exc)
            if time.monotonic() - self._last_commit >= self.commit_interval_s:
                self._commit()
        self._commit()

    def _encode_and_write(self, event: "_Queued") -> None:
        started = time.perf_counter()
        jpeg, _ = encode_frame(event.image, max_side=self.max_side, quality=self.quality)  # shrunk already
        boxes = boxes_to_json(event.tracks, event.scale)
        data = with_comment(jpeg, {"n": self._next_n, "t": round(event.media_time_s, 4), "i": event.frame_index, "b": boxes})
        self.stats.encode_ms_total += (time.perf_counter() - started) * 1000
        self._append(data)
        self._pending.append((self._next_n, self._offset, len(data), float(event.media_time_s), int(event.frame_index),
                              json.dumps(boxes, separators=(",", ":"))))
        self._offset += len(data)
        self._next_n += 1
        self.stats.frames_written += 1
        self.stats.bytes_written += len(data)

    def _append(self, data: bytes) -> None:
        """Write one frame whole or not at all: on failure the file is cut back to the end
        of the last good frame, so the index never points into a torn JPEG."""
        view = memoryview(data)
        try:
            while view:
                written = self._file.write(view)
                view = view[written:]
        except OSError:
            try:
                os.ftruncate(self._file.fileno(), self._offset)
                self._file.seek(self._offset)
            except OSError:
                log.exception("could not cut the video back after a failed write")
            raise

    def _commit(self) -> None:
        self._last_commit = time.monotonic()
        if not self._pending:
            return
        try:
            self._file.flush()
            os.fsync(self._file.fileno())  # the bytes first, then the rows pointing at them
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO frames VALUES (?, ?, ?, ?, ?, ?)", self._pending)
            self._db.execute("COMMIT")
        except (OSError, sqlite3.Error) as exc:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self.stats.errors += 1
            message = f"could not save the video index: {exc} (retrying)"
            if message != self.last_error:
                log.warning(message)
            self.last_error = message
            return
        self._pending.clear()
        self.stats.commits += 1

    def close(self, timeout_s: float = 5.0) -> RecorderStats:
        if self._closed:
            return self.stats
        self._closed = True
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._queue.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    break
        self._thread.join(max(0.1, deadline - time.monotonic()))
        try:
            self._file.close()
        finally:
            self._db.close()
        return self.stats


# --- reader ---------------------------------------------------------------------------


class VideoIndex:
    """Read-only access to a session's recorded frames: O(1) by number, O(log n) by time."""

    def __init__(self, session_path: Path, *, recover_tail: bool = True) -> None:
        self.session_path = Path(session_path)
        self.path = self.session_path / VIDEO_NAME
        db_path = self.session_path / "session.db"
        if recover_tail and self.path.exists():
            try:
                recover(self.session_path, truncate=False)
            except (OSError, sqlite3.Error) as exc:
                log.warning("video recovery failed for %s: %s", self.session_path, exc)
        self._offsets = np.zeros(0, np.int64)
        self._lengths = np.zeros(0, np.int64)
        self.times = np.zeros(0, np.float64)
        self.source_index = np.zeros(0, np.int64)
        self._boxes: list[str] = []
        if db_path.exists():
            db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10.0)
            try:
                has = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='frames'").fetchone()
                rows = db.execute("SELECT offset, length, media_time_s, source_index, boxes FROM frames ORDER BY n").fetchall() if has else []
            finally:
                db.close()
            if rows:
                offsets, lengths, times, sources, boxes = zip(*rows)
                self._offsets = np.asarray(offsets, np.int64)
                self._lengths = np.asarray(lengths, np.int64)
                self.times = np.asarray(times, np.float64)
                self.source_index = np.asarray(sources, np.int64)
                self._boxes = list(boxes)
        self._file = self.path.open("rb") if self.path.exists() and len(self._offsets) else None
        self._times_list = self.times.tolist()

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def duration_s(self) -> float:
        return float(self.times[-1]) if len(self.times) else 0.0

    def frame_at_time(self, t: float) -> int:
        """The last frame shown at or before ``t`` (0 before the first)."""
        if not len(self):
            return -1
        i = bisect.bisect_right(self._times_list, t) - 1
        return max(0, min(i, len(self) - 1))

    def read_bytes(self, n: int) -> bytes:
        if self._file is None or not 0 <= n < len(self):
            raise IndexError(n)
        self._file.seek(int(self._offsets[n]))
        return self._file.read(int(self._lengths[n]))

    def read(self, n: int) -> np.ndarray | None:
        return decode_frame(self.read_bytes(n))

    def boxes(self, n: int) -> tuple[TrackBox, ...]:
        try:
            return boxes_from_json(json.loads(self._boxes[n]))
        except (IndexError, ValueError, TypeError):
            return ()

    def event(self, n: int) -> FrameEvent | None:
        image = self.read(n)
        if image is None:
            return None
        return FrameEvent(frame_index=n, media_time_s=float(self.times[n]), captured_monotonic=time.monotonic(),
                          image=image, tracks=self.boxes(n))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
