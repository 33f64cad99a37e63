"""The results poller: DynamoDB for the analysed crops (the chart and the recent faces);
CloudWatch's per-crop means on request.

In AWS mode the console draws the same quantity as in local mode: the crowd value, computed
by the pipeline's one crowd state (``core/crowd.py`` via ``core/aggregation.py``) from the
items polled here (track id, capture time, emotions) and the people its own tracker sees.
CloudWatch keeps the per-crop means the Lambda writes (the dashboard shows them, titled so);
the console reads them only when ``poll_metrics`` is set (a per-crop comparison).

A thread polls every ``poll_interval_s`` (never the GUI thread):

* **CloudWatch** ``GetMetricData``, one call (paginated only past 100,800 points) with ten
  queries: the eight emotions (``Average``: the mean over faces, absent emotions counted
  as 0 by the Lambda), ``Faces`` (``Sum``: faces analysed) and ``Faces`` (``SampleCount``:
  crops analysed), dimension ``Session`` (+ ``Camera`` when the console shows one booth),
  period 1, 10 or 60 s, ``ScanBy=TimestampAscending``. The time range is aligned to the
  period, so buckets are the same whether CloudWatch aligns them or not. Each poll re-reads
  a revision window (late crops arrive up to a minute after capture): the rows it delivers
  are *upserts* keyed by ``t``.
* **DynamoDB** ``Query`` on the GSI ``SESSION_INDEX`` (partition ``session``, sort
  ``captured_at``) for items captured after the last one seen, minus an overlap for late
  arrivals; keys already delivered are not delivered again.

Errors go to ``on_error`` (one line from :func:`describe_aws_error`, once per outage), then
the poll interval backs off (x2, jittered, up to 60 s) until a poll succeeds.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from crowdmood_gui.core.aws.clients import describe_aws_error, error_code
from crowdmood_gui.core.aws.redrive import count_waiting
from crowdmood_gui.core.emotions import EMOTIONS
from crowdmood_gui.core.events import TimelineRow
from crowdmood_gui.core.series import PERIODS
from crowdmood_gui.core.records import FACES_METRIC, SESSION_INDEX, FaceRecord, from_attribute_values, item_to_record, iso_utc
from crowdmood_gui.core.retry import backoff_delay

PERIODS_S = PERIODS
HIGH_RES_RETENTION_S = 3 * 3600  # 1-30 s data points are kept 3 hours
FACES_SUM_ID = "faces"
CROPS_ID = "crops"


def query_id(emotion: str) -> str:
    return emotion.lower()


def metric_dimensions(session: str, camera: str | None) -> list[dict[str, str]]:
    dims = [{"Name": "Session", "Value": session}]
    if camera:
        dims.append({"Name": "Camera", "Value": camera})
    return dims


def metric_queries(namespace: str, session: str, camera: str | None, period_s: int) -> list[dict[str, Any]]:
    """The ten queries of one ``GetMetricData`` call."""
    dims = metric_dimensions(session, camera)

    def stat(qid: str, name: str, statistic: str) -> dict[str, Any]:
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dims},
                "Period": period_s,
                "Stat": statistic,
            },
            "ReturnData": True,
        }

    queries = [stat(query_id(e), e, "Average") for e in EMOTIONS]
    queries.append(stat(FACES_SUM_ID, FACES_METRIC, "Sum"))
    queries.append(stat(CROPS_ID, FACES_METRIC, "SampleCount"))
    return queries


def align_down(moment: datetime, period_s: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period_s, UTC)


def align_up(moment: datetime, period_s: int) -> datetime:
    down = align_down(moment, period_s)
    return down if down == moment else down + timedelta(seconds=period_s)


def rows_from_results(results: list[dict[str, Any]], session_start: datetime, period_s: int) -> list[TimelineRow]:
    """``MetricDataResults`` (all pages merged) -> one :class:`TimelineRow` per period, ascending.

    Emotions are ``None`` in a period with no face (consistent with the local timeline);
    ``faces`` and ``analysed`` are the faces analysed, ``tracks`` the crops analysed.
    """
    series: dict[str, dict[datetime, float]] = {}
    for result in results:
        points = series.setdefault(result["Id"], {})
        for ts, value in zip(result.get("Timestamps", []), result.get("Values", [])):
            points[align_down(ts.astimezone(UTC), period_s)] = float(value)
    stamps = sorted(set().union(*[set(p) for p in series.values()])) if series else []
    rows = []
    for ts in stamps:
        faces = int(round(series.get(FACES_SUM_ID, {}).get(ts, 0.0)))
        crops = int(round(series.get(CROPS_ID, {}).get(ts, 0.0)))
        has_faces = faces > 0 if FACES_SUM_ID in series else True
        emotions: dict[str, float | None] = {}
        for emotion in EMOTIONS:
            value = series.get(query_id(emotion), {}).get(ts)
            emotions[emotion] = value if value is not None and has_faces else None
        rows.append(
            TimelineRow(
                t=(ts - session_start).total_seconds(),
                period_s=float(period_s),
                faces=faces,
                tracks=crops,
                analysed=faces,
                emotions=emotions,
            )
        )
    return rows



def get_metric_data_pages(cloudwatch, queries: list[dict[str, Any]], start: datetime, end: datetime,
                          results: dict[str, dict[str, Any]]) -> int:
    """One ``GetMetricData`` call (and its next pages) for ``queries``; each query's points are
    merged into ``results`` by Id (timestamps ascending). Returns the number of calls made."""
    kwargs: dict[str, Any] = dict(MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending")
    calls = 0
    while True:
        response = cloudwatch.get_metric_data(**kwargs)
        calls += 1
        for part in response.get("MetricDataResults", []):
            merged = results.setdefault(part["Id"], {"Id": part["Id"], "Timestamps": [], "Values": []})
            merged["Timestamps"].extend(part.get("Timestamps", []))
            merged["Values"].extend(part.get("Values", []))
        token = response.get("NextToken")
        if not token:
            return calls
        kwargs["NextToken"] = token

class ResultsPoller:
    def __init__(
        self,
        cloudwatch,
        dynamodb,
        *,
        namespace: str,
        table: str,
        session: str,
        session_start: datetime,
        camera: str | None = None,
        period_s: int = 1,
        poll_interval_s: float = 5.0,
        on_timeline: Callable[[list[TimelineRow]], None] = lambda rows: None,
        on_record: Callable[[FaceRecord, float, Any], None] = lambda record, t, thumb: None,
        on_error: Callable[[str], None] = lambda message: None,
        lookup: Callable[[str], tuple[float | None, Any]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        revision_s: float = 120.0,
        overlap_s: float = 120.0,
        max_items_per_poll: int = 2000,
        index_name: str = SESSION_INDEX,
        sqs=None,
        failure_queue: str | None = None,
        failure_check_s: float = 60.0,
        poll_metrics: bool = False,
    ) -> None:
        if period_s not in PERIODS_S:
            raise ValueError(f"period must be one of {PERIODS_S}")
        self.cloudwatch = cloudwatch
        self.dynamodb = dynamodb
        self.namespace = namespace
        self.table = table
        self.session = session
        self.session_start = session_start.astimezone(UTC)
        self.camera = camera
        self._period_s = period_s
        self.poll_interval_s = poll_interval_s
        self.on_timeline = on_timeline
        self.on_record = on_record
        self.on_error = on_error
        self.lookup = lookup
        self.clock = clock
        self.revision_s = revision_s
        self.overlap_s = overlap_s
        self.max_items_per_poll = max_items_per_poll
        self.index_name = index_name
        self._metrics_from: datetime | None = None  # None: from the session start
        self._high_water: datetime | None = None  # newest captured_at delivered
        self._seen: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0
        self.last_lag_s: float | None = None
        # The Lambda's failure queue, read once a minute at most: analyses AWS gave up on.
        self.sqs = sqs
        self.failure_queue = failure_queue
        self.failure_check_s = failure_check_s
        self.failed_waiting: int | None = None
        self._failure_checked_at: datetime | None = None
        self.polls = 0
        self.metric_calls = 0
        self.poll_metrics = poll_metrics

    # --- configuration --------------------------------------------------------------

    @property
    def period_s(self) -> int:
        return self._period_s

    def set_period(self, period_s: int) -> None:
        """Change the chart period; the next poll re-reads the whole window at that period."""
        if period_s not in PERIODS_S:
            raise ValueError(f"period must be one of {PERIODS_S}")
        self._period_s = period_s
        self._metrics_from = None
        self._wake.set()

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="crowdmood-poller", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> bool:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ok = self.poll_once()
            except Exception as exc:  # a sink or a parsing bug must not end the polling
                self._failures += 1
                self._emit_error(f"AWS results: {type(exc).__name__}: {exc}")
                ok = False
            if ok:
                delay = self.poll_interval_s
            else:
                delay = backoff_delay(self._failures, base_s=2 * self.poll_interval_s, cap_s=60.0, jitter=0.5)
            self._wake.clear()
            self._wake.wait(delay)

    # --- one poll -------------------------------------------------------------------

    def poll_once(self) -> bool:
        """Poll both sources and deliver; False when one of them failed (reported)."""
        self.polls += 1
        ok = True
        steps = (self._poll_metrics, self._poll_items) if self.poll_metrics else (self._poll_items,)
        for step in steps:
            try:
                step()
            except (ClientError, BotoCoreError) as exc:
                ok = False
                self._failures += 1
                if self._failures == 1 or self._failures % 10 == 0:
                    self._emit_error(f"AWS results: {describe_aws_error(exc)}")
        if ok:
            self._failures = 0
        self._check_failure_queue()
        return ok

    def _check_failure_queue(self) -> None:
        """Count the failed analyses waiting (a status figure: never fails the poll). A
        queue that is missing or that the operator may not read stops the checks, once."""
        if self.sqs is None or not self.failure_queue:
            return
        now = self.clock()
        if self._failure_checked_at is not None and (now - self._failure_checked_at).total_seconds() < self.failure_check_s:
            return
        self._failure_checked_at = now
        try:
            waiting = count_waiting(self.sqs, self.failure_queue)
        except ClientError as exc:
            code = error_code(exc)
            if "AccessDenied" in code or code == "AuthorizationError":
                self._stop_counting(describe_aws_error(exc))
            return
        except BotoCoreError:
            return  # the network: the metrics poll reports it; try again next time
        if waiting is None:
            self._stop_counting(f"no queue {self.failure_queue}: run crowdmood setup to create it")
        else:
            self.failed_waiting = waiting

    def _stop_counting(self, why: str) -> None:
        """A permanent reason (no queue, no permission): say it once and stop asking."""
        self.sqs = None
        self.failed_waiting = None
        self._emit_error(f"AWS: failed analyses cannot be counted ({why})")

    def fetch_rows(self, now: datetime | None = None) -> list[TimelineRow]:
        now = now or self.clock()
        period = self._period_s
        oldest = now - timedelta(seconds=HIGH_RES_RETENTION_S if period < 60 else 24 * 3600)
        start = self._metrics_from or self.session_start
        start = align_down(max(start, oldest, self.session_start), period)
        end = align_up(now, period)
        if end <= start:
            return []
        results: dict[str, dict[str, Any]] = {}
        self.metric_calls += get_metric_data_pages(
            self.cloudwatch, metric_queries(self.namespace, self.session, self.camera, period), start, end, results
        )
        rows = [r for r in rows_from_results(list(results.values()), self.session_start, period) if r.t >= -period]
        self._metrics_from = now - timedelta(seconds=max(self.revision_s, 3 * period))
        return rows

    def _poll_metrics(self) -> None:
        rows = self.fetch_rows()
        if rows:
            self.on_timeline(rows)

    def fetch_records(self, now: datetime | None = None) -> list[FaceRecord]:
        now = now or self.clock()
        since = (self._high_water - timedelta(seconds=self.overlap_s)) if self._high_water else self.session_start - timedelta(seconds=1)
        kwargs: dict[str, Any] = dict(
            TableName=self.table,
            IndexName=self.index_name,
            KeyConditionExpression="#s = :s AND captured_at > :since",
            ExpressionAttributeNames={"#s": "session"},
            ExpressionAttributeValues={":s": {"S": self.session}, ":since": {"S": iso_utc(since)}},
            ScanIndexForward=True,
        )
        if self.camera:
            kwargs["FilterExpression"] = "camera = :c"
            kwargs["ExpressionAttributeValues"][":c"] = {"S": self.camera}
        fresh: list[FaceRecord] = []
        scanned = 0
        while scanned < self.max_items_per_poll:
            response = self.dynamodb.query(**kwargs)
            for raw in response.get("Items", []):
                scanned += 1
                record = item_to_record(from_attribute_values(raw))
                if record.key in self._seen:
                    continue
                self._seen[record.key] = record.meta.captured_at
                fresh.append(record)
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        fresh.sort(key=lambda r: r.meta.captured_at)
        if fresh:
            newest = fresh[-1].meta.captured_at
            self._high_water = max(self._high_water, newest) if self._high_water else newest
            self.last_lag_s = max(0.0, (now - newest).total_seconds())
            horizon = self._high_water - timedelta(seconds=2 * self.overlap_s)
            self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
        return fresh

    def _poll_items(self) -> None:
        for record in self.fetch_records():
            media_time, thumbnail = (None, None)
            if self.lookup is not None:
                media_time, thumbnail = self.lookup(record.key)
            if media_time is None:
                media_time = (record.meta.captured_at - self.session_start).total_seconds()
            self.on_record(record, media_time, thumbnail)

    def _emit_error(self, message: str) -> None:
        try:
            self.on_error(message)
        except Exception:
            pass
