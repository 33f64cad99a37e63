"""Session export: CSVs with the analyze columns, chart PNG, self-contained HTML summary."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta

import cv2

from crowdmood_gui.core.aggregation import TimelineAggregator
from crowdmood_gui.core.config import load_config
from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS, EXPRESSION_DISCLAIMER
from crowdmood_gui.core.export import FACES_COLUMNS, TIMELINE_COLUMNS, export_session
from crowdmood_gui.core.records import CaptureMeta, FaceRecord, FaceResult
from crowdmood_gui.core.sessions import create_session, mark_ended


def _make_session():
    config = load_config()
    session = create_session(config, "Client <demo>", source="demo.mp4")
    start = datetime(2025, 6, 1, 20, 0, tzinfo=UTC)
    store = session.open_store()
    store.set_meta(started_at=start.isoformat(), backend="local")
    agg = TimelineAggregator()
    for i in range(300):  # 5 minutes, a happy peak at 2:00
        t = float(i)
        happy = 95.0 if 118 <= i <= 125 else 20.0
        face = FaceResult(bounding_box={"Left": 0.2, "Top": 0.2, "Width": 0.4, "Height": 0.4},
                          emotions={k: (happy if k == "HAPPY" else (100 - happy) if k == "CALM" else 0.0) for k in EMOTIONS},
                          dominant="HAPPY" if happy > 50 else "CALM", confidence=99.0)
        record = FaceRecord(key=f"k{i}", meta=CaptureMeta("s", "booth-1", start + timedelta(seconds=t), i % 3), faces=(face,))
        store.add_record(record, t)
        agg.add_record(t, record)
        agg.observe_frame(t, 1 + i % 3, [i % 3])
    for p in agg.periods:
        store.upsert_timeline(agg.rows(p))
    store.close()
    mark_ended(session, start + timedelta(seconds=300))
    return session


def test_export_writes_four_files_a_client_can_read(tmp_path):
    session = _make_session()
    written = export_session(session, tmp_path)
    with written["timeline.csv"].open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == TIMELINE_COLUMNS and len(rows) == 301
    with written["faces.csv"].open() as handle:
        faces = list(csv.reader(handle))
    assert faces[0] == FACES_COLUMNS and len(faces) == 301
    image = cv2.imread(str(written["chart.png"]))
    assert image.shape == (900, 1400, 3)  # lines, shares, people (matplotlib)
    html = written["summary.html"].read_text()
    assert "Client &lt;demo&gt;" in html and "<script" not in html
    assert "http://" not in re.sub(r'xmlns(:xlink)?="[^"]*"', "", html)  # self-contained
    assert EXPRESSION_DISCLAIMER in html
    assert html.count("<svg") == 1 and "<path" in html  # one chart, drawn by matplotlib
    # The happy peak of the crowd value, at 2:00 (10-s periods: the 120-130 s period).
    peak_row = html.split(f"<td><i class='dot' style='background:{EMOTION_COLOURS['HAPPY']}'></i>Happy</td>")[1]
    assert "2:00" in peak_row.split("</tr>")[0]
    # Dominant shares over the people in view, second by second: each of the three people
    # is happy from their first happy crop (118-120 s) until their estimate falls back.
    rows = {int(float(r[0])): r for r in rows[1:]}
    happy_seconds = [t for t, r in rows.items() if r[TIMELINE_COLUMNS.index("share_HAPPY")] not in ("", "0.0")]
    assert happy_seconds and min(happy_seconds) == 118 and max(happy_seconds) < 135
    assert "People in view" in html and "up to 1 at once" in html


def test_export_of_an_empty_session_still_writes_everything(tmp_path):
    session = create_session(load_config(), "empty", lock=False)
    written = export_session(session, tmp_path)
    assert len(written) == 4
    assert "No face was analysed" in written["summary.html"].read_text()
