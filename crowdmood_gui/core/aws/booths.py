"""Every booth on the account: its state from its heartbeat, its crowd line from CloudWatch.

* **Discovery** (``ListMetrics``, cached ``discover_every_s``): the (Camera, Session) pairs
  that sent a heartbeat in the last three hours (``RecentlyActive=PT3H``).
* **One poll = one ``GetMetricData`` call** (more only past 500 queries, i.e. about 30
  booths), over the last ``window_s`` at ``period_s``: per pair the heartbeat (frames/s,
  faces in view, spool depth, seconds since upload, and the beats' sample count) and the
  booth's lines (the eight expressions and Faces, dimension Session + Camera: the same ten
  queries as the console's chart, :func:`poller.metric_queries`), plus the all-booths line
  (no dimension).
* **State** from the newest beat (to one period: CloudWatch gives the start of its bucket):
  ``live`` (<= 30 s old: three beats), ``stale`` (<= 5 min),
  ``offline``. A camera seen in several sessions is shown once, with its newest session.
  A camera whose beats come more than once per period is ``duplicate``: two agents share
  its name.

Cost: GetMetricData bills each metric requested ($0.01 per 1000); see :func:`poll_cost_per_hour`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Callable

from crowdmood_gui.core.aws.heartbeat import (
    FACES_IN_VIEW_METRIC,
    FRAMES_METRIC,
    SINCE_UPLOAD_METRIC,
    SPOOL_DEPTH_METRIC,
)
from crowdmood_gui.core.aws.poller import align_down, align_up, get_metric_data_pages, metric_queries, rows_from_results
from crowdmood_gui.core.events import TimelineRow

LIVE_S = 30.0
STALE_S = 300.0
MAX_QUERIES_PER_CALL = 500  # GetMetricData limit
PRICE_PER_1000_METRICS_USD = 0.01  # GetMetricData, us-east-1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Per booth: five heartbeat queries + the chart's ten.
HEARTBEAT_QUERIES = (
    ("fps", FRAMES_METRIC, "Average"),
    ("beats", FRAMES_METRIC, "SampleCount"),
    ("faces", FACES_IN_VIEW_METRIC, "Maximum"),
    ("spool", SPOOL_DEPTH_METRIC, "Maximum"),
    ("since", SINCE_UPLOAD_METRIC, "Minimum"),
)
QUERIES_PER_BOOTH = len(HEARTBEAT_QUERIES) + 10
ALL_BOOTHS_QUERIES = 10


@dataclass(frozen=True, slots=True)
class BoothStatus:
    camera: str
    session: str
    state: str  # "live" | "stale" | "offline"
    last_beat: datetime | None
    beat_age_s: float | None
    frames_per_s: float | None
    faces_in_view: int | None
    spool_depth: int | None
    seconds_since_upload: float | None
    duplicate: bool
    line: list[TimelineRow] = field(default_factory=list)  # ``t``: epoch seconds of the period start

    def to_json(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "session": self.session,
            "state": self.state,
            "last_heartbeat": self.last_beat.isoformat() if self.last_beat else None,
            "heartbeat_age_s": None if self.beat_age_s is None else round(self.beat_age_s, 1),
            "frames_per_s": self.frames_per_s,
            "faces_in_view": self.faces_in_view,
            "spool_depth": self.spool_depth,
            "seconds_since_upload": self.seconds_since_upload,
            "duplicate_camera_name": self.duplicate,
            "line": line_to_json(self.line),
        }


@dataclass(frozen=True, slots=True)
class BoothsSnapshot:
    booths: list[BoothStatus]
    all_booths: list[TimelineRow]
    polled_at: datetime
    metric_calls: int
    metrics_requested: int

    def to_json(self) -> dict[str, Any]:
        return {
            "polled_at": self.polled_at.isoformat(),
            "booths": [b.to_json() for b in self.booths],
            "all_booths": line_to_json(self.all_booths),
            "get_metric_data_calls": self.metric_calls,
            "metrics_requested": self.metrics_requested,
        }


def line_to_json(rows: list[TimelineRow]) -> list[dict[str, Any]]:
    return [
        {"t": datetime.fromtimestamp(r.t, UTC).isoformat(), "faces": r.faces,
         "emotions": {k: (None if v is None else round(v, 2)) for k, v in r.emotions.items()}}
        for r in rows
    ]


def booth_state(beat_age_s: float | None) -> str:
    if beat_age_s is None:
        return "offline"
    if beat_age_s <= LIVE_S:
        return "live"
    return "stale" if beat_age_s <= STALE_S else "offline"


def poll_cost_per_hour(booths: int, poll_interval_s: float) -> float:
    """USD per hour of polling ``booths`` every ``poll_interval_s`` (GetMetricData only;
    ListMetrics' one call per few minutes is noise)."""
    metrics = booths * QUERIES_PER_BOOTH + ALL_BOOTHS_QUERIES
    return metrics * PRICE_PER_1000_METRICS_USD / 1000.0 * (3600.0 / poll_interval_s)


class BoothsMonitor:
    def __init__(
        self,
        cloudwatch,
        *,
        namespace: str,
        window_s: float = 900.0,
        period_s: int = 10,
        discover_every_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cloudwatch = cloudwatch
        self.namespace = namespace
        self.window_s = window_s
        self.period_s = period_s
        self.discover_every_s = discover_every_s
        self.clock = clock
        self.monotonic = monotonic
        self._pairs: list[tuple[str, str]] = []
        self._discovered_at: float | None = None
        self.metric_calls = 0
        self.list_calls = 0

    # --- discovery ------------------------------------------------------------------

    def discover(self, force: bool = False) -> list[tuple[str, str]]:
        """(camera, session) pairs that sent a heartbeat recently (cached)."""
        now = self.monotonic()
        if not force and self._discovered_at is not None and now - self._discovered_at < self.discover_every_s:
            return self._pairs
        pairs: set[tuple[str, str]] = set()
        kwargs: dict[str, Any] = dict(Namespace=self.namespace, MetricName=FRAMES_METRIC, RecentlyActive="PT3H")
        while True:
            response = self.cloudwatch.list_metrics(**kwargs)
            self.list_calls += 1
            for metric in response.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                if set(dims) == {"Camera", "Session"}:
                    pairs.add((dims["Camera"], dims["Session"]))
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        self._pairs = sorted(pairs)
        self._discovered_at = now
        return self._pairs

    # --- one poll -------------------------------------------------------------------

    def queries(self, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for index, (camera, session) in enumerate(pairs):
            dims = [{"Name": "Camera", "Value": camera}, {"Name": "Session", "Value": session}]
            for qid, metric, stat in HEARTBEAT_QUERIES:
                out.append({
                    "Id": f"b{index}_{qid}",
                    "MetricStat": {"Metric": {"Namespace": self.namespace, "MetricName": metric, "Dimensions": dims},
                                   "Period": self.period_s, "Stat": stat},
                    "ReturnData": True,
                })
            for query in metric_queries(self.namespace, session, camera, self.period_s):
                out.append({**query, "Id": f"b{index}_l_{query['Id']}"})
        for query in metric_queries(self.namespace, "", None, self.period_s):
            query["MetricStat"]["Metric"].pop("Dimensions")  # the all-booths line: no dimension
            out.append({**query, "Id": f"all_{query['Id']}"})
        return out

    def poll(self) -> BoothsSnapshot:
        """Discover (cached), then one GetMetricData call (per 500 queries)."""
        pairs = self.discover()
        now = self.clock()
        start = align_down(now - timedelta(seconds=self.window_s), self.period_s)
        end = align_up(now, self.period_s)
        queries = self.queries(pairs)
        results: dict[str, dict[str, Any]] = {}
        calls = 0
        for first in range(0, len(queries), MAX_QUERIES_PER_CALL):
            calls += get_metric_data_pages(self.cloudwatch, queries[first:first + MAX_QUERIES_PER_CALL], start, end, results)
        self.metric_calls += calls
        booths = [self._booth(index, camera, session, results, now) for index, (camera, session) in enumerate(pairs)]
        all_rows = self._rows(results, "all_")
        return BoothsSnapshot(booths=newest_per_camera(booths), all_booths=all_rows, polled_at=now,
                              metric_calls=calls, metrics_requested=len(queries))

    def _rows(self, results: dict[str, dict[str, Any]], prefix: str) -> list[TimelineRow]:
        mine = [{**r, "Id": r["Id"][len(prefix):]} for rid, r in results.items() if rid.startswith(prefix)]
        return rows_from_results(mine, EPOCH, self.period_s)

    def _booth(self, index: int, camera: str, session: str, results, now: datetime) -> BoothStatus:
        def series(qid: str) -> list[tuple[datetime, float]]:
            r = results.get(f"b{index}_{qid}") or {}
            return sorted(zip(r.get("Timestamps", []), r.get("Values", [])), key=lambda p: p[0])

        def last(qid: str) -> float | None:
            points = series(qid)
            return float(points[-1][1]) if points else None

        beats = series("beats")
        last_beat = beats[-1][0].astimezone(UTC) if beats else None
        age = None if last_beat is None else max(0.0, (now - last_beat).total_seconds())
        # One agent beats once per period (10 s): two or more in most recent periods is two agents.
        recent = [v for _, v in beats[-6:]]
        duplicate = len(recent) >= 2 and sum(1 for v in recent if v >= 2) > len(recent) / 2
        faces, spool, since = last("faces"), last("spool"), last("since")
        return BoothStatus(
            camera=camera, session=session, state=booth_state(age), last_beat=last_beat, beat_age_s=age,
            frames_per_s=None if last("fps") is None else round(last("fps"), 2),
            faces_in_view=None if faces is None else int(faces),
            spool_depth=None if spool is None else int(spool),
            seconds_since_upload=None if since is None or math.isnan(since) else round(since, 1),
            duplicate=duplicate, line=self._rows(results, f"b{index}_l_"),
        )


def newest_per_camera(booths: list[BoothStatus]) -> list[BoothStatus]:
    """One entry per camera: the session with the newest beat (then by name, for stability)."""
    best: dict[str, BoothStatus] = {}
    for booth in booths:
        current = best.get(booth.camera)
        key = (booth.last_beat or EPOCH, booth.session)
        if current is None or key > (current.last_beat or EPOCH, current.session):
            best[booth.camera] = booth
    return sorted(best.values(), key=lambda b: b.camera)


def last_beat_of(cloudwatch, *, namespace: str, camera: str, since: datetime, until: datetime) -> datetime | None:
    """The newest heartbeat of ``camera`` (any session) between ``since`` and ``until``, or
    None: an agent starting as ``camera`` asks this to find a namesake already running.
    One ListMetrics and one GetMetricData call (at most 500 sessions)."""
    sessions: list[str] = []
    kwargs: dict[str, Any] = dict(Namespace=namespace, MetricName=FRAMES_METRIC, RecentlyActive="PT3H",
                                  Dimensions=[{"Name": "Camera", "Value": camera}])
    while True:
        response = cloudwatch.list_metrics(**kwargs)
        for metric in response.get("Metrics", []):
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            if dims.get("Camera") == camera and "Session" in dims:
                sessions.append(dims["Session"])
        token = response.get("NextToken")
        if not token:
            break
        kwargs["NextToken"] = token
    if not sessions:
        return None
    queries = [{
        "Id": f"s{i}",
        "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": FRAMES_METRIC, "Dimensions": [
            {"Name": "Camera", "Value": camera}, {"Name": "Session", "Value": session}]}, "Period": 1, "Stat": "SampleCount"},
        "ReturnData": True,
    } for i, session in enumerate(sorted(set(sessions))[:MAX_QUERIES_PER_CALL])]
    response = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=since, EndTime=until,
                                          ScanBy="TimestampDescending")
    stamps = [ts.astimezone(UTC) for r in response.get("MetricDataResults", []) for ts in r.get("Timestamps", [])]
    stamps = [ts for ts in stamps if since <= ts <= until]
    return max(stamps) if stamps else None
