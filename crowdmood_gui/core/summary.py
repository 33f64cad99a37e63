"""A one-page, self-contained HTML summary of a session, to send to a client, and the
session chart as a PNG.

No external assets: the chart is inline SVG, the styles inline CSS. Content: session
metadata, the crowd chart (the crowd value per expression, the share of people by dominant
expression as a stacked area, people in view), peaks per expression (with times), the
share of people by dominant expression over the session, the disclaimer.

Charts are drawn by matplotlib (Agg, no display, no pyplot state) from the one series
model (``core/series.py``): the same points, breaks and colours as the console's charts.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS, EXPRESSION_DISCLAIMER
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.records import FaceRecord
from crowdmood_gui.core.secrets import redact_url
from crowdmood_gui.core.series import (
    CHART_BACKGROUND,
    CROWD_TITLE,
    FACES_COLOUR,
    GRID_COLOUR,
    LEGEND_TEXT,
    PERIOD_LABELS,
    SHARE_TITLE,
    Series,
    chart_period,
    series_from_rows,
)

__all__ = ["chart_period", "fmt_clock", "render_chart_png", "render_html", "summarise", "crowd_figure"]


def fmt_clock(seconds: float) -> str:
    seconds = int(round(max(seconds, 0.0)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


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
    max_people: int  # most people in view in one second
    mean_people: float  # people in view, on average over the seconds with someone
    period_s: int
    peaks: list[Peak] = field(default_factory=list)
    # Share 0..1 of the people in view by dominant expression, averaged over the seconds
    # with someone rated in view (each person counts once per second, however sampled).
    dominant_share: dict[str, float] = field(default_factory=dict)
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

    faces_analysed = 0
    n_records = 0
    for record, _t in records:
        n_records += 1
        faces_analysed += len(record.faces)

    # People, not track fragments: how many were in view at once, second by second.
    people = [r.tracks for r in fine if r.tracks]
    rated_rows = [r for r in fine if r.rated and r.shares and any(v is not None for v in r.shares.values())]
    share = {k: (sum(r.shares.get(k) or 0.0 for r in rated_rows) / len(rated_rows)) if rated_rows else 0.0 for k in EMOTIONS}

    # Peaks of the crowd value on 10-s periods when there are enough, else 1 s.
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
        max_people=max(people) if people else 0,
        mean_people=float(np.mean(people)) if people else 0.0,
        period_s=period,
        peaks=peaks,
        dominant_share=share,
        rows=list(rows),
    )


# --- the chart (matplotlib) -------------------------------------------------------------

CHART_SIZE_PX = (1400, 900)
CHART_DPI = 100


def crowd_figure(rows: list[TimelineRow], *, size_px: tuple[int, int] = CHART_SIZE_PX):
    """The session chart: crowd value lines, the share of people as a stacked area, people
    in view; one matplotlib ``Figure`` (no pyplot: safe in any thread). Each line's
    ``gid`` is its expression (``share:<E>`` for the areas, ``people`` for the count)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    series = series_from_rows(rows)
    width, height = size_px
    fig = Figure(figsize=(width / CHART_DPI, height / CHART_DPI), dpi=CHART_DPI, facecolor=CHART_BACKGROUND)
    grid = fig.add_gridspec(3, 1, height_ratios=(4, 2.2, 1.2), hspace=0.32, left=0.06, right=0.99, top=0.9, bottom=0.06)
    mean_ax = fig.add_subplot(grid[0])
    share_ax = fig.add_subplot(grid[1], sharex=mean_ax)
    people_ax = fig.add_subplot(grid[2], sharex=mean_ax)
    clock = FuncFormatter(lambda v, _pos: fmt_clock(v))
    for ax in (mean_ax, share_ax, people_ax):
        ax.set_facecolor(CHART_BACKGROUND)
        ax.tick_params(colors=LEGEND_TEXT, labelsize=10)
        for spine in ax.spines.values():
            spine.set_color(GRID_COLOUR)
        ax.grid(True, color=GRID_COLOUR, linewidth=0.8)
        ax.set_axisbelow(True)
        ax.xaxis.set_major_formatter(clock)
    for ax in (mean_ax, share_ax):
        ax.tick_params(labelbottom=False)
    _draw_lines(mean_ax, series)
    _draw_shares(share_ax, series)
    px, py = series.x, series.people
    people_ax.fill_between(px, 0, py, color=FACES_COLOUR, alpha=0.35, linewidth=0)
    people_ax.plot(px, py, color=FACES_COLOUR, linewidth=1.0, gid="people")
    people_ax.set_ylim(0, max(1.0, float(np.nanmax(series.people)) if len(series) else 1.0) * 1.15)
    people_ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=3))
    period = PERIOD_LABELS.get(int(series.period_s), f"{series.period_s:g} s")
    mean_ax.set_title(f"{CROWD_TITLE}, {period} periods", color=LEGEND_TEXT, fontsize=12, loc="left")
    share_ax.set_title(SHARE_TITLE, color=LEGEND_TEXT, fontsize=12, loc="left")
    people_ax.set_title("People in view", color=LEGEND_TEXT, fontsize=12, loc="left")
    end = float(series.t[-1] + series.period_s) if len(series) else 1.0
    mean_ax.set_xlim(0, end)
    handles = [mean_ax.get_lines()[i] for i in range(len(EMOTIONS))]
    legend = fig.legend(handles, [k.title() for k in EMOTIONS], loc="upper center", ncol=len(EMOTIONS),
                        frameon=False, fontsize=13, bbox_to_anchor=(0.5, 0.995))
    for text, kind in zip(legend.get_texts(), EMOTIONS):
        text.set_color(EMOTION_COLOURS[kind])
    return fig


def _draw_lines(ax, series: Series) -> None:
    for kind in EMOTIONS:
        x, y = series.line(kind, "mean")
        ax.plot(x, y, color=EMOTION_COLOURS[kind], linewidth=1.6, gid=kind, solid_joinstyle="round")
    ax.set_ylim(0, 100)


def _draw_shares(ax, series: Series) -> None:
    for kind, x, low, high in series.stacked():
        ax.fill_between(x, low, high, color=EMOTION_COLOURS[kind], linewidth=0, gid=f"share:{kind}")
    ax.set_ylim(0, 100)


def render_chart_png(rows: list[TimelineRow], path: Path, *, size_px: tuple[int, int] = CHART_SIZE_PX) -> Path:
    """The session chart as a PNG (no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = crowd_figure(rows, size_px=size_px)
    FigureCanvasAgg(fig)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=CHART_DPI, facecolor=CHART_BACKGROUND)
    return path


def chart_svg(rows: list[TimelineRow], *, size_px: tuple[int, int] = (1100, 700)) -> str:
    """The session chart as an inline ``<svg>`` element (text kept as text)."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    fig = crowd_figure(rows, size_px=size_px)
    FigureCanvasSVG(fig)
    out = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "crowdmood"}):
        fig.savefig(out, format="svg", facecolor=CHART_BACKGROUND, metadata={"Date": None})
    text = out.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: this is inline
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    return text.replace("<svg ", '<svg role="img" aria-label="Crowd expressions over time" ', 1)


# --- HTML -----------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "unknown"


def render_html(summary: SessionSummary) -> str:
    e = lambda text: html.escape(text, quote=False)  # noqa: E731 (text content only, never attributes)
    peak_rows = "".join(
        f"<tr><td><i class='dot' style='background:{EMOTION_COLOURS[p.emotion]}'></i>{p.emotion.title()}</td>"
        f"<td class='n'>{p.value:.0f}%</td><td class='n'>{fmt_clock(p.t)}</td><td>{e(_when(p.wall)) if p.wall else ''}</td></tr>"
        for p in sorted(summary.peaks, key=lambda p: -p.value)
    ) or "<tr><td colspan='4'>No face was analysed.</td></tr>"
    share_rows = "".join(
        f"<tr><td><i class='dot' style='background:{EMOTION_COLOURS[k]}'></i>{k.title()}</td>"
        f"<td class='bar'><b style='width:{summary.dominant_share.get(k, 0) * 100:.1f}%;background:{EMOTION_COLOURS[k]}'></b></td>"
        f"<td class='n'>{summary.dominant_share.get(k, 0) * 100:.1f}%</td></tr>"
        for k in sorted(EMOTIONS, key=lambda k: -summary.dominant_share.get(k, 0))
    )
    facts = [
        ("Session", summary.name + (f" ({summary.session_id})" if summary.session_id and summary.session_id != summary.name else "")),
        ("Start", _when(summary.started)),
        ("End", _when(summary.ended)),
        ("Duration", fmt_clock(summary.duration_s)),
        ("Source", summary.source or "unknown"),
        ("Analysis", {"local": "local model", "aws": "Amazon Rekognition"}.get(summary.backend, summary.backend or "unknown")),
        ("Faces analysed", f"{summary.faces_analysed} ({summary.records} crops)"),
        ("People in view", f"up to {summary.max_people} at once, {summary.mean_people:.1f} on average"),
    ]
    fact_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts)
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
.dot{{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:baseline;outline:1px solid #888}}
td.bar{{width:180px}} td.bar b{{display:block;height:10px;border-radius:2px;outline:1px solid #888}}
.note,.disclaimer{{color:#666;font-size:12.5px}} .disclaimer{{border-top:1px solid #ddd;margin-top:22px;padding-top:8px}}
svg{{max-width:100%;height:auto}}
</style></head><body>
<h1>Crowd expressions: {e(summary.name)}</h1>
<div class="note">{e(_when(summary.started))} · {fmt_clock(summary.duration_s)} · {summary.faces_analysed} faces analysed</div>
<h2>Expressions over time</h2>
<p class="note">Each person in view carries an estimate of their expression, smoothed over their
analysed crops; a line is the mean of those estimates over the people in view, each person
once, however long they stay. The band below is the share of people whose estimate shows each
expression; the last panel, how many people were in view. A line breaks only when nobody was in view.</p>
{chart_svg(summary.rows)}
{local_note}
<div class="cols">
<div><h2>Peaks</h2><table><tr><th>Expression</th><th>Peak</th><th>At</th><th>Time of day</th></tr>{peak_rows}</table></div>
<div><h2>Dominant expression</h2><p class="note">Share of the people in view, over the session</p><table><tr><th>Expression</th><th></th><th>Share</th></tr>{share_rows}</table></div>
</div>
<h2>Session</h2><table>{fact_rows}</table>
<p class="disclaimer">{e(EXPRESSION_DISCLAIMER)} Values are model confidences (0–100 %), averaged per person
over their crops, then over the people in view; no image of a face is part of this report.</p>
</body></html>
"""
