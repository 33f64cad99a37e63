"""A one-page, self-contained HTML summary of a session, to send to a client.

No external assets: the charts are inline SVG, the styles inline CSS. Content: session
metadata, the expression chart, peaks per expression (with times), the share of each
dominant expression among analysed faces, faces and tracks over time, the disclaimer.
Also :func:`render_chart_png`, the same chart drawn with OpenCV (no display, no Qt).
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS, EXPRESSION_DISCLAIMER
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.records import FaceRecord
from crowdmood_gui.core.secrets import redact_url

FACES_COLOUR = "#555555"
TRACKS_COLOUR = "#999999"
MAX_POINTS = 1500


def fmt_clock(seconds: float) -> str:
    seconds = int(round(max(seconds, 0.0)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def chart_period(duration_s: float, available: Iterable[int] = (1, 10, 60)) -> int:
    """The shortest period that keeps a chart under ~MAX_POINTS points."""
    periods = sorted(available)
    for period in periods:
        if duration_s / period <= MAX_POINTS:
            return period
    return periods[-1]


@dataclass
class Peak:
    emotion: str
    value: float
    t: float
    wall: datetime | None


@dataclass
class SessionSummary:
    name: str
    session_id: str
    started: datetime | None
    ended: datetime | None
    duration_s: float
    source: str
    backend: str
    records: int
    faces_analysed: int
    distinct_tracks: int
    max_faces: int
    mean_faces: float
    period_s: int
    peaks: list[Peak] = field(default_factory=list)
    dominant_share: dict[str, float] = field(default_factory=dict)  # share 0..1 per expression
    dominant_counts: dict[str, int] = field(default_factory=dict)
    rows: list[TimelineRow] = field(default_factory=list)  # the chart's rows (period_s)


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def summarise(
    meta: dict[str, Any],
    rows_by_period: dict[int, list[TimelineRow]],
    records: Iterable[tuple[FaceRecord, float]],
    *,
    session_id: str = "",
) -> SessionSummary:
    fine = rows_by_period.get(1) or next((r for r in rows_by_period.values() if r), [])
    duration = (fine[-1].t + fine[-1].period_s) if fine else 0.0
    started = _parse(meta.get("started_at")) or _parse(meta.get("created_at"))
    ended = _parse(meta.get("ended_at"))
    if not duration and started and ended:
        duration = (ended - started).total_seconds()
    period = chart_period(duration, [p for p, r in rows_by_period.items() if r] or [1])
    rows = rows_by_period.get(period, fine)

    dominant: Counter[str] = Counter()
    faces_analysed = 0
    tracks: set[int] = set()
    n_records = 0
    for record, _t in records:
        n_records += 1
        for face in record.faces:
            faces_analysed += 1
            if face.dominant:
                dominant[face.dominant] += 1
        if record.meta.track_id is not None:
            tracks.add(record.meta.track_id)
    total = sum(dominant.values())
    share = {k: dominant.get(k, 0) / total for k in EMOTIONS} if total else {k: 0.0 for k in EMOTIONS}

    # Peaks on 10-s means when there are enough (one face's 1-s reading is noise), else 1 s.
    peak_rows = rows_by_period.get(10) if len(rows_by_period.get(10) or []) >= 3 else fine
    peaks = []
    for kind in EMOTIONS:
        best: TimelineRow | None = None
        for row in peak_rows or []:
            value = row.emotions.get(kind)
            if value is not None and (best is None or value > (best.emotions.get(kind) or 0.0)):
                best = row
        if best is not None:
            wall = started + timedelta(seconds=best.t) if started else None
            peaks.append(Peak(kind, float(best.emotions[kind]), best.t, wall))
    faces = [r.faces for r in fine]
    return SessionSummary(
        name=str(meta.get("name") or meta.get("session") or session_id),
        session_id=session_id,
        started=started,
        ended=ended,
        duration_s=float(duration),
        source=redact_url(str(meta.get("source") or "")),
        backend=str(meta.get("backend") or ""),
        records=n_records,
        faces_analysed=faces_analysed,
        distinct_tracks=len(tracks),
        max_faces=max(faces) if faces else 0,
        mean_faces=float(np.mean(faces)) if faces else 0.0,
        period_s=period,
        peaks=peaks,
        dominant_share=share,
        dominant_counts=dict(dominant),
        rows=list(rows),
    )


# --- SVG ------------------------------------------------------------------------------


def _polylines(xs: list[float], ys: list[float | None], x_of, y_of, max_gap: float) -> list[str]:
    """SVG point lists, split where a value is missing or time jumps (a gap, not a dip)."""
    out: list[str] = []
    current: list[str] = []
    last_x: float | None = None
    for x, y in zip(xs, ys):
        if y is None or (last_x is not None and x - last_x > max_gap):
            if len(current) > 1:
                out.append(" ".join(current))
            current = []
        if y is not None:
            current.append(f"{x_of(x):.1f},{y_of(y):.1f}")
        last_x = x
    if len(current) > 1:
        out.append(" ".join(current))
    elif len(current) == 1:  # a single point: a tiny segment so it shows
        px, py = current[0].split(",")
        out.append(f"{px},{py} {float(px) + 1.5:.1f},{py}")
    return out


def _ticks(duration: float, count: int = 6) -> list[float]:
    if duration <= 0:
        return [0.0]
    raw = duration / count
    steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]
    step = next((s for s in steps if s >= raw), steps[-1])
    return [i * step for i in range(int(duration // step) + 1)]


def svg_chart(rows: list[TimelineRow], *, width: int = 900, height: int = 300) -> str:
    """Expression lines (0..100 %) over session time, inline SVG."""
    left, right, top, bottom = 44, 10, 10, 26
    pw, ph = width - left - right, height - top - bottom
    duration = (rows[-1].t + rows[-1].period_s) if rows else 1.0
    period = rows[0].period_s if rows else 1
    x_of = lambda t: left + pw * (t / duration if duration else 0)  # noqa: E731
    y_of = lambda v: top + ph * (1 - v / 100.0)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="Expressions over time">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#ccc"/>']
    for v in (0, 25, 50, 75, 100):
        y = y_of(v)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#666">{v}%</text>')
    for t in _ticks(duration):
        x = x_of(t)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="#f2f2f2"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" font-size="11" text-anchor="middle" fill="#666">{fmt_clock(t)}</text>')
    xs = [r.t + r.period_s / 2 for r in rows]
    for kind in EMOTIONS:
        ys = [r.emotions.get(kind) for r in rows]
        for points in _polylines(xs, ys, x_of, y_of, max_gap=period * 1.5):
            parts.append(f'<polyline fill="none" stroke="{EMOTION_COLOURS[kind]}" stroke-width="1.2" points="{points}"/>')
    parts.append("</svg>")
    return "".join(parts)


def svg_faces(rows: list[TimelineRow], *, width: int = 900, height: int = 130) -> str:
    """Faces (peak in one frame) and tracks (distinct people) per period."""
    left, right, top, bottom = 44, 10, 8, 22
    pw, ph = width - left - right, height - top - bottom
    duration = (rows[-1].t + rows[-1].period_s) if rows else 1.0
    top_value = max([1] + [max(r.faces, r.tracks) for r in rows])
    x_of = lambda t: left + pw * (t / duration if duration else 0)  # noqa: E731
    y_of = lambda v: top + ph * (1 - v / top_value)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="Faces and tracks over time">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#ccc"/>',
             f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end" fill="#666">{top_value}</text>',
             f'<text x="{left - 6}" y="{top + ph}" font-size="11" text-anchor="end" fill="#666">0</text>']
    for t in _ticks(duration):
        parts.append(f'<text x="{x_of(t):.1f}" y="{height - 6}" font-size="11" text-anchor="middle" fill="#666">{fmt_clock(t)}</text>')
    xs = [r.t + r.period_s / 2 for r in rows]
    period = rows[0].period_s if rows else 1
    for values, colour, dash in (([r.faces for r in rows], FACES_COLOUR, ""), ([r.tracks for r in rows], TRACKS_COLOUR, ' stroke-dasharray="4 3"')):
        for points in _polylines(xs, values, x_of, y_of, max_gap=period * 1.5):
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.2"{dash} points="{points}"/>')
    parts.append("</svg>")
    return "".join(parts)


# --- HTML -----------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "unknown"


def render_html(summary: SessionSummary) -> str:
    e = lambda text: html.escape(text, quote=False)  # noqa: E731 (text content only, never attributes)
    legend = "".join(
        f'<span class="key"><i style="background:{EMOTION_COLOURS[k]}"></i>{k.title()}</span>' for k in EMOTIONS
    )
    peak_rows = "".join(
        f"<tr><td><i class='dot' style='background:{EMOTION_COLOURS[p.emotion]}'></i>{p.emotion.title()}</td>"
        f"<td class='n'>{p.value:.0f}%</td><td class='n'>{fmt_clock(p.t)}</td><td>{e(_when(p.wall)) if p.wall else ''}</td></tr>"
        for p in sorted(summary.peaks, key=lambda p: -p.value)
    ) or "<tr><td colspan='4'>No face was analysed.</td></tr>"
    share_rows = "".join(
        f"<tr><td><i class='dot' style='background:{EMOTION_COLOURS[k]}'></i>{k.title()}</td>"
        f"<td class='bar'><b style='width:{summary.dominant_share.get(k, 0) * 100:.1f}%;background:{EMOTION_COLOURS[k]}'></b></td>"
        f"<td class='n'>{summary.dominant_share.get(k, 0) * 100:.1f}%</td><td class='n'>{summary.dominant_counts.get(k, 0)}</td></tr>"
        for k in sorted(EMOTIONS, key=lambda k: -summary.dominant_share.get(k, 0))
    )
    facts = [
        ("Session", summary.name + (f" ({summary.session_id})" if summary.session_id and summary.session_id != summary.name else "")),
        ("Start", _when(summary.started)),
        ("End", _when(summary.ended)),
        ("Duration", fmt_clock(summary.duration_s)),
        ("Source", summary.source or "unknown"),
        ("Analysis", {"local": "local model", "aws": "Amazon Rekognition"}.get(summary.backend, summary.backend or "unknown")),
        ("Faces analysed", f"{summary.faces_analysed} ({summary.records} crops, {summary.distinct_tracks} people tracked)"),
        ("Faces at once", f"up to {summary.max_faces}, {summary.mean_faces:.1f} on average"),
    ]
    fact_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts)
    period = {1: "1-second", 10: "10-second", 60: "1-minute"}.get(summary.period_s, f"{summary.period_s}-s")
    local_note = (
        "<p class='note'>The local model does not read CONFUSED; it is reported as 0.</p>" if summary.backend == "local" else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Crowd expressions: {e(summary.name)}</title>
<style>
body{{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:960px;margin:24px auto;padding:0 16px}}
h1{{font-size:22px;margin:0 0 4px}} h2{{font-size:16px;margin:22px 0 6px}}
table{{border-collapse:collapse}} th,td{{padding:3px 10px 3px 0;text-align:left;vertical-align:top}}
th{{color:#666;font-weight:normal}} td.n{{text-align:right;font-variant-numeric:tabular-nums}}
.cols{{display:flex;gap:40px;flex-wrap:wrap}} .key{{margin-right:14px;white-space:nowrap}}
.key i,.dot{{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:baseline}}
td.bar{{width:180px}} td.bar b{{display:block;height:10px;border-radius:2px}}
.note,.disclaimer{{color:#666;font-size:12.5px}} .disclaimer{{border-top:1px solid #ddd;margin-top:22px;padding-top:8px}}
svg{{max-width:100%;height:auto}}
</style></head><body>
<h1>Crowd expressions: {e(summary.name)}</h1>
<div class="note">{e(_when(summary.started))} · {fmt_clock(summary.duration_s)} · {summary.faces_analysed} faces analysed</div>
<h2>Expressions over time <span class="note">(mean confidence of the faces analysed, {period} periods)</span></h2>
{svg_chart(summary.rows)}
<div>{legend}</div>
{local_note}
<div class="cols">
<div><h2>Peaks</h2><table><tr><th>Expression</th><th>Peak</th><th>At</th><th>Time of day</th></tr>{peak_rows}</table></div>
<div><h2>Dominant expression</h2><table><tr><th>Expression</th><th></th><th>Share</th><th>Faces</th></tr>{share_rows}</table></div>
</div>
<h2>Faces and people over time <span class="note">(solid: most faces in one frame; dashed: distinct people tracked)</span></h2>
{svg_faces(summary.rows)}
<h2>Session</h2><table>{fact_rows}</table>
<p class="disclaimer">{e(EXPRESSION_DISCLAIMER)} Values are the mean model confidence (0–100 %) per expression
over the faces analysed in each period; no image of a face is part of this report.</p>
</body></html>
"""


# --- PNG (OpenCV, headless) -----------------------------------------------------------


def _bgr(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    r, g, b = (int(colour[i : i + 2], 16) for i in (0, 2, 4))
    return (b, g, r)


def render_chart_png(rows: list[TimelineRow], path: Path, *, width: int = 1400, height: int = 640) -> Path:
    """The expression chart and the faces count as a PNG, drawn with OpenCV (no display)."""
    import cv2

    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top = 60, 20, 46
    chart_h = int((height - top - 40) * 0.74)
    faces_top = top + chart_h + 14
    faces_h = height - faces_top - 30
    pw = width - left - right
    duration = (rows[-1].t + rows[-1].period_s) if rows else 1.0
    period = rows[0].period_s if rows else 1
    font = cv2.FONT_HERSHEY_SIMPLEX
    grey = (110, 110, 110)

    def x_of(t: float) -> int:
        return int(round(left + pw * t / duration))

    # Legend.
    x = left
    for kind in EMOTIONS:
        cv2.rectangle(img, (x, 16), (x + 14, 30), _bgr(EMOTION_COLOURS[kind]), -1)
        cv2.putText(img, kind.title(), (x + 20, 29), font, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
        x += 30 + cv2.getTextSize(kind.title(), font, 0.5, 1)[0][0]
    # Frames, grid, ticks.
    for y0, h in ((top, chart_h), (faces_top, faces_h)):
        cv2.rectangle(img, (left, y0), (left + pw, y0 + h), (200, 200, 200), 1)
    for v in (0, 25, 50, 75, 100):
        y = int(top + chart_h * (1 - v / 100))
        cv2.line(img, (left, y), (left + pw, y), (235, 235, 235), 1)
        cv2.putText(img, f"{v}%", (8, y + 5), font, 0.45, grey, 1, cv2.LINE_AA)
    for t in _ticks(duration):
        x = x_of(t)
        cv2.line(img, (x, top), (x, faces_top + faces_h), (240, 240, 240), 1)
        label = fmt_clock(t)
        tw = cv2.getTextSize(label, font, 0.45, 1)[0][0]
        cv2.putText(img, label, (x - tw // 2, height - 10), font, 0.45, grey, 1, cv2.LINE_AA)
    # Lines (split at gaps).
    xs = np.array([r.t + r.period_s / 2 for r in rows], dtype=float)
    for kind in EMOTIONS:
        ys = [r.emotions.get(kind) for r in rows]
        _cv_lines(img, xs, ys, x_of, lambda v: int(round(top + chart_h * (1 - v / 100))), _bgr(EMOTION_COLOURS[kind]), period)
    top_value = max([1] + [r.faces for r in rows])
    _cv_lines(img, xs, [r.faces for r in rows], x_of, lambda v: int(round(faces_top + faces_h * (1 - v / top_value))),
              _bgr(FACES_COLOUR), period)
    cv2.putText(img, f"faces (max {top_value})", (left + 6, faces_top + 16), font, 0.45, grey, 1, cv2.LINE_AA)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise OSError("PNG encoding failed")
    path.write_bytes(buf.tobytes())
    return path


def _cv_lines(img, xs, ys, x_of, y_of, colour, period) -> None:
    import cv2

    segment: list[tuple[int, int]] = []
    last_x = None

    def flush() -> None:
        if len(segment) > 1:
            cv2.polylines(img, [np.array(segment, np.int32)], False, colour, 1, cv2.LINE_AA)
        elif len(segment) == 1:
            cv2.circle(img, segment[0], 1, colour, -1, cv2.LINE_AA)
        segment.clear()

    for x, y in zip(xs, ys):
        if y is None or (isinstance(y, float) and math.isnan(y)) or (last_x is not None and x - last_x > period * 1.5):
            flush()
        if y is not None and not (isinstance(y, float) and math.isnan(y)):
            segment.append((x_of(x), y_of(y)))
        last_x = x
    flush()
