"""CSV exports, shared by ``crowdmood analyze``, ``crowdmood export`` and the UI.

Timeline CSV (the crowd state, ``core/crowd.py``): ``t`` (seconds from the start to the
start of the period), ``faces`` (most faces in one frame), ``people`` (people in view
during the period), ``rated`` (of them, people with an estimate), ``crops`` (faces
analysed in the period), then per expression (HAPPY, SAD, ANGRY, CONFUSED, DISGUSTED,
SURPRISED, CALM, FEAR) the crowd value 0..100 with two decimals, then ``share_<EXPRESSION>``:
the % of rated people whose dominant expression it is. Empty when nobody rated was in view.

Faces CSV: one row per analysed face.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Iterable

from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.records import FaceRecord, iso_utc
from crowdmood_gui.core.series import PERIODS

TIMELINE_COLUMNS = ["t", "faces", "people", "rated", "crops", *EMOTIONS, *(f"share_{k}" for k in EMOTIONS)]
FACES_COLUMNS = [
    "t",
    "captured_at",
    "track_id",
    "face",
    "dominant",
    "confidence",
    "box_left",
    "box_top",
    "box_width",
    "box_height",
    *EMOTIONS,
    "key",
]


def check_writable(path: Path) -> None:
    """Before minutes of work: an output file that cannot be written is a one-line
    :class:`InputError` now (a folder, /proc, a read-only place), not a traceback at the end."""
    from crowdmood_gui.core.errors import InputError

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a file name")
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        path.unlink(missing_ok=True)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def timeline_csv_row(row: TimelineRow) -> list[str]:
    cells = [_num(row.t), str(row.faces), str(row.tracks), str(row.rated), str(row.analysed)]
    for kind in EMOTIONS:
        value = row.emotions.get(kind)
        cells.append("" if value is None else f"{value:.2f}")
    for kind in EMOTIONS:
        share = (row.shares or {}).get(kind)
        cells.append("" if share is None else f"{share * 100:.1f}")
    return cells


def faces_csv_rows(record: FaceRecord, media_time_s: float) -> list[list[str]]:
    rows = []
    for index, face in enumerate(record.faces):
        box = face.bounding_box
        rows.append(
            [
                f"{media_time_s:.3f}",
                iso_utc(record.meta.captured_at),
                "" if record.meta.track_id is None else str(record.meta.track_id),
                str(index),
                face.dominant or "",
                f"{face.confidence:.2f}",
                *(f"{box.get(k, 0.0):.4f}" for k in ("Left", "Top", "Width", "Height")),
                *(f"{face.emotions.get(k, 0.0):.2f}" for k in EMOTIONS),
                record.key,
            ]
        )
    return rows


def write_timeline_csv(rows: Iterable[TimelineRow], out: Path | IO[str]) -> int:
    return _write(out, TIMELINE_COLUMNS, (timeline_csv_row(r) for r in rows))


def write_faces_csv(records: Iterable[tuple[FaceRecord, float]], out: Path | IO[str]) -> int:
    return _write(out, FACES_COLUMNS, (row for rec, t in records for row in faces_csv_rows(rec, t)))


def _write(out: Path | IO[str], header: list[str], rows: Iterable[list[str]]) -> int:
    count = 0
    if isinstance(out, (str, Path)):
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            return _write(handle, header, rows)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        count += 1
    return count


# --- whole-session export (``crowdmood export``, the session browser) --------------------

EXPORT_FILES = ("timeline.csv", "faces.csv", "chart.png", "summary.html")


def export_session(session, out_dir: Path, *, period: int = 1, png: bool = True, html: bool = True) -> dict[str, Path]:
    """Write timeline.csv (``period`` seconds), faces.csv, chart.png and summary.html.

    ``session`` is a :class:`crowdmood_gui.core.sessions.Session`; opened read-mostly (the
    store's WAL recovery after a crash happens here too). Returns {file name: path}.
    """
    from crowdmood_gui.core.errors import InputError, StorageError
    from crowdmood_gui.core.store import SessionStore

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir} is a file: --out is the folder the export is written into")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the export folder {out_dir}: {exc.strerror or exc}") from None
    # Read-only: exporting never writes into the session (a read-only or copied folder works,
    # a damaged database is reported, not re-created).
    store = SessionStore(session.db_path, read_only=True)
    try:
        rows_by_period = {p: store.timeline(p) for p in PERIODS}
        records = list(store.records())
        meta = store.meta()
    except Exception as exc:  # sqlite3.Error on a damaged database
        raise StorageError(f"{session.db_path} is damaged: {exc}") from None
    finally:
        store.close()
    try:
        return _write_export(session, out_dir, period, png, html, rows_by_period, records, meta)
    except OSError as exc:
        raise InputError(f"cannot write the export into {out_dir}: {exc.strerror or exc}"
                         f"{' (' + str(exc.filename) + ')' if exc.filename else ''}") from None


def _write_export(session, out_dir, period, png, html, rows_by_period, records, meta) -> dict[str, Path]:
    from crowdmood_gui.core.summary import render_chart_png, render_html, summarise

    written: dict[str, Path] = {}
    written["timeline.csv"] = out_dir / "timeline.csv"
    write_timeline_csv(rows_by_period.get(period) or [], written["timeline.csv"])
    written["faces.csv"] = out_dir / "faces.csv"
    write_faces_csv(records, written["faces.csv"])
    if png or html:
        summary = summarise(meta, rows_by_period, records, session_id=session.id)
        if png:
            written["chart.png"] = render_chart_png(summary.rows, out_dir / "chart.png")
        if html:
            written["summary.html"] = out_dir / "summary.html"
            written["summary.html"].write_text(render_html(summary), encoding="utf-8")
    return written
