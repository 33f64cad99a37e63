"""Sessions on disk: one directory per session under ``<data home>/sessions``.

    <home>/sessions/<id>/session.db   records, timeline, metadata (SQLite, WAL)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crowdmood_gui.core.config import AppConfig
from crowdmood_gui.core.errors import StorageError
from crowdmood_gui.core.store import SessionStore

DB_NAME = "session.db"


@dataclass(frozen=True)
class Session:
    id: str
    path: Path

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    def open_store(self) -> SessionStore:
        return SessionStore(self.db_path)


def sessions_root(config: AppConfig) -> Path:
    return config.data_home() / "sessions"


def slugify(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return slug[:80] or datetime.now().strftime("session-%Y%m%d-%H%M%S")


def create_session(config: AppConfig, name: str, *, source: str = "") -> Session:
    root = sessions_root(config)
    base = slugify(name)
    candidate, n = base, 1
    while (root / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    path = root / candidate
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise StorageError(f"cannot create the session folder {path}: {exc.strerror}") from None
    session = Session(id=candidate, path=path)
    store = session.open_store()
    store.set_meta(name=name, source=source)
    store.close()
    return session
