"""CSV exports, shared by ``crowdmood analyze``, ``crowdmood export`` and the UI.

Timeline CSV: ``t`` (seconds from the start), ``faces``, ``tracks``, then one column per
emotion (HAPPY, SAD, ANGRY, CONFUSED, DISGUSTED, SURPRISED, CALM, FEAR), mean confidence
0..100 with two decimals, empty when no face was analysed in the period.

Faces CSV: one row per analysed face.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Iterable

from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.records import FaceRecord, iso_utc

TIMELINE_COLUMNS = ["t", "faces", "tracks", *EMOTIONS]
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


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def timeline_csv_row(row: TimelineRow) -> list[str]:
    cells = [_num(row.t), str(row.faces), str(row.tracks)]
    for kind in EMOTIONS:
        value = row.emotions.get(kind)
        cells.append("" if value is None else f"{value:.2f}")
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
