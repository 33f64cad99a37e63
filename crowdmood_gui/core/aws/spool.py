"""A durable on-disk upload spool: crops wait here until S3 has them.

Layout: one directory, two files per item::

    <name>.jpg    the crop, written first
    <name>.json   the sidecar {"key", "metadata", "content_type", "created"}; its presence
                  *is* the commit: an item exists if and only if its sidecar does.

Each file is written to a temporary sibling, fsync'ed and renamed with ``os.replace``
(atomic on POSIX and Windows), and the directory is fsync'ed, so a crash or power loss
leaves either a whole item or an orphan ``.jpg`` (cleaned at the next start), never a half
file. Removal deletes the sidecar first. Names sort by creation time (FIFO).

Why a directory and not SQLite: submit (pipeline thread) and upload (uploader thread) never
share a lock or a connection, a damaged item damages only itself (it is quarantined in
``bad/``, not the whole queue), and an operator can see and copy what waits. The object
key is chosen once, at spool time, so a retried or repeated upload writes the same object.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from crowdmood_gui.core.errors import StorageError

SIDECAR = ".json"
BLOB = ".jpg"
TMP = ".tmp"
REASON = ".reason"


@dataclass(frozen=True, slots=True)
class SpoolItem:
    name: str  # file stem in the spool directory
    key: str  # the S3 object key, fixed at spool time
    metadata: dict[str, str]
    content_type: str
    created: float  # epoch seconds
    path: Path  # the JPEG

    def read(self) -> bytes:
        return self.path.read_bytes()


class UploadSpool:
    """Thread-safe FIFO of crops on disk. ``put`` from any thread; one consumer ``take``s."""

    def __init__(self, directory: Path, *, fsync: bool = True, max_items: int = 50_000) -> None:
        self.directory = Path(directory)
        self.fsync = fsync
        self.max_items = max_items
        self._lock = threading.Lock()
        self._pending: dict[str, SpoolItem] = {}  # name -> item, insertion = FIFO order
        self._in_flight: set[str] = set()
        self._added = threading.Event()
        self.recovered = 0  # items found on disk at open (left by a previous run)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"upload spool {self.directory}: cannot create the directory ({exc.strerror or exc})") from None
        self._load()

    # --- start-up ---------------------------------------------------------------------

    def _load(self) -> None:
        names: list[str] = []
        try:
            entries = list(self.directory.iterdir())
        except OSError as exc:
            raise StorageError(f"upload spool {self.directory}: cannot read the directory ({exc.strerror or exc})") from None
        stems_with_sidecar = {p.stem for p in entries if p.suffix == SIDECAR}
        for path in entries:
            if path.name.endswith(TMP) or (path.suffix == BLOB and path.stem not in stems_with_sidecar):
                _unlink(path)  # a write interrupted by a crash: the item was never committed
            elif path.suffix == SIDECAR:
                names.append(path.stem)
        for name in sorted(names):
            item = self._read_item(name)
            if item is not None:
                self._pending[name] = item
        self.recovered = len(self._pending)

    def _read_item(self, name: str) -> SpoolItem | None:
        sidecar = self.directory / (name + SIDECAR)
        blob = self.directory / (name + BLOB)
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
            if not blob.is_file():
                raise ValueError("crop file missing")
            return SpoolItem(
                name=name,
                key=str(data["key"]),
                metadata={str(k): str(v) for k, v in dict(data.get("metadata") or {}).items()},
                content_type=str(data.get("content_type") or "image/jpeg"),
                created=float(data.get("created") or 0.0),
                path=blob,
            )
        except (OSError, ValueError, KeyError, TypeError):
            self._quarantine(name)
            return None

    def _quarantine(self, name: str, reason: str = "unreadable item") -> None:
        """Move an item to ``bad/`` with ``<name>.reason`` (one line: why). To send it again
        once the cause is fixed, move its files back into the spool folder."""
        bad = self.directory / "bad"
        try:
            bad.mkdir(exist_ok=True)
            (bad / (name + REASON)).write_text(reason.strip() + "\n", encoding="utf-8")
        except OSError:
            pass
        try:
            for suffix in (SIDECAR, BLOB):
                src = self.directory / (name + suffix)
                if src.exists():
                    os.replace(src, bad / src.name)
        except OSError:
            pass

    # --- producer ---------------------------------------------------------------------

    def put(self, key: str, data: bytes, metadata: dict[str, str], content_type: str = "image/jpeg") -> SpoolItem:
        """Persist one crop; returns once it is durable. Raises :class:`StorageError`."""
        with self._lock:
            if len(self._pending) >= self.max_items:
                raise StorageError(f"upload spool {self.directory}: {self.max_items} crops waiting; dropping new crops until uploads resume")
        created = time.time()
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        blob = self.directory / (name + BLOB)
        sidecar = self.directory / (name + SIDECAR)
        payload = json.dumps(
            {"key": key, "metadata": metadata, "content_type": content_type, "created": created, "version": 1},
            ensure_ascii=False,
        ).encode("utf-8")
        try:
            self._write_atomic(blob, data)
            self._write_atomic(sidecar, payload)  # the commit point
            if self.fsync:
                _fsync_dir(self.directory)
        except OSError as exc:
            for path in (blob, sidecar):
                _unlink(path)
                _unlink(path.with_name(path.name + TMP))
            raise StorageError(_describe_os_error(self.directory, exc)) from None
        item = SpoolItem(name, key, dict(metadata), content_type, created, blob)
        with self._lock:
            self._pending[name] = item
        self._added.set()
        return item

    def _write_atomic(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + TMP)
        with open(tmp, "wb") as fh:
            fh.write(data)
            if self.fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)

    # --- consumer ---------------------------------------------------------------------

    def take(self) -> SpoolItem | None:
        """The oldest item not being uploaded, marked in flight; None when none waits."""
        with self._lock:
            for name, item in self._pending.items():
                if name not in self._in_flight:
                    self._in_flight.add(name)
                    if len(self._in_flight) == len(self._pending):
                        self._added.clear()
                    return item
            self._added.clear()
            return None

    def release(self, item: SpoolItem) -> None:
        """Upload failed: the item stays, and becomes available again."""
        with self._lock:
            self._in_flight.discard(item.name)
        self._added.set()

    def done(self, item: SpoolItem) -> None:
        """Upload succeeded: forget the item (sidecar first, so a crash leaves an orphan blob)."""
        _unlink(self.directory / (item.name + SIDECAR))
        _unlink(item.path)
        with self._lock:
            self._pending.pop(item.name, None)
            self._in_flight.discard(item.name)

    def discard(self, item: SpoolItem, reason: str = "refused") -> None:
        """An item S3 will never accept: move it to ``bad/`` (with why) for a human to look at."""
        self._quarantine(item.name, reason)
        with self._lock:
            self._pending.pop(item.name, None)
            self._in_flight.discard(item.name)

    def wait(self, timeout: float) -> bool:
        """Block until an item may be available (or ``timeout``)."""
        return self._added.wait(timeout)

    def depth(self) -> int:
        with self._lock:
            return len(self._pending)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe_os_error(directory: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"upload spool {directory}: the disk is full; new crops are dropped until space is freed"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"upload spool {directory}: the directory is not writable ({exc.strerror}); crops cannot be queued"
    return f"upload spool {directory}: cannot write a crop ({exc.strerror or exc})"
