"""``rekognize-emotions``: S3 face crop -> Rekognition DetectFaces -> DynamoDB + CloudWatch.

Runtime python3.12; stdlib + boto3 (in the runtime) + the shared record logic
(``crowdmood_gui.core.records``, the same code the console's local backend uses).

Environment: ``FACES_TABLE`` (``rekognize-faces``), ``FACES_PREFIX`` (``faces/``),
``METRIC_NAMESPACE`` (``CrowdMood``), ``TTL_DAYS`` (30; 0 = items never expire),
``LOG_LEVEL`` (INFO).

Delivery semantics. S3 delivers at least once, unordered, sometimes late; Lambda retries
an invocation that raises. Each crop's DynamoDB item doubles as its idempotency record:

1. ``get_item`` (consistent): an item whose metrics were sent -> duplicate, skipped
   *before* paying for Rekognition;
2. ``head_object`` (capture metadata), ``detect_faces`` (every face);
3. ``put_item`` with ``attribute_not_exists(s3key)`` and ``metrics_state = pending`` plus a
   lease (the invocation's deadline): a concurrent duplicate loses the condition and is
   counted as a duplicate;
4. one ``put_metric_data`` per 1000 datums for every record newly written in the event;
5. ``metrics_state = sent``.

If step 4 fails the invocation raises (after releasing its leases), and the retry finds
the items ``pending``: it re-sends their metrics from the stored item without calling
Rekognition again. So a crop's metrics are sent once, except in the narrow window where
``put_metric_data`` succeeded and the step-5 write failed (logged).

Errors: throttling, 5xx, timeouts and any unrecognised AWS error raise (Lambda retries;
then the on-failure destination keeps the event). Errors that retrying cannot fix for one
object (bad image, too large, object deleted) are logged as one JSON line and skipped; the
rest of the batch goes on. A missing crop answers 403, not 404, because the role has no
``s3:ListBucket`` (least privilege): a 403 on ``head_object`` is treated as gone. A malformed
record (see ``s3_event``) is a logged skip. An unexpected error on one object (a bug, a
broken runtime) does not stop the others: they are finished and committed, then the handler
raises so the event is retried. Work finished before a transient error is committed (items +
metrics) before the handler raises, so no good record is left ``pending`` by a bad one.

Bounded work. An invocation stops starting new objects once less than ``RESERVE_S`` of its
time (``context.get_remaining_time_in_millis()``) is left, commits what it finished, and
raises :class:`TimeBudgetExceeded`. Nothing is lost: Lambda retries the whole event (S3
invokes asynchronously: 2 retries, then the failure queue, which ``crowdmood aws-redrive``
re-invokes), and each retry skips the crops already written with a consistent ``get_item``
before paying for Rekognition, so every invocation makes progress through the batch.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from crowdmood_gui.core import records
from jsonlog import get_logger
from s3_event import S3Object, Skipped, iter_objects

logger, _log_format = get_logger("rekognize-emotions")

DEFAULT_TABLE = "rekognize-faces"
DEFAULT_PREFIX = "faces/"
DEFAULT_TTL_DAYS = 30.0
DEFAULT_LEASE_S = 900.0  # no Lambda context (tests, scripts): the maximum function timeout

STATE_ATTR = "metrics_state"
LEASE_ATTR = "lease_until"
ANALYSED_ATTR = "analysed_at"
STATE_PENDING = "pending"
STATE_SENT = "sent"

# Client-error codes that retrying the same object can never fix.
PERMANENT_REKOGNITION = {
    "InvalidImageFormatException": "invalid_image_format",
    "ImageTooLargeException": "image_too_large",
    "InvalidParameterException": "invalid_parameter",
    "InvalidS3ObjectException": "invalid_s3_object",
}
# Without s3:ListBucket (the role's least privilege) S3 answers 403 for a missing key.
MISSING_CODES = {"NoSuchKey", "NotFound", "404", "AccessDenied", "403", "Forbidden"}
# Stop starting new objects when less than this is left of the invocation (one object takes
# four calls, each retried up to 3 times with a 10 s read timeout in the worst case).
RESERVE_S = 8.0


class TransientError(Exception):
    """Raised so Lambda retries the event (another invocation holds a crop's lease)."""


class TimeBudgetExceeded(TransientError):
    """The invocation stopped before its timeout; the retry goes on where this one stopped."""


@dataclass(frozen=True)
class Settings:
    table: str = DEFAULT_TABLE
    prefix: str = DEFAULT_PREFIX
    namespace: str = records.DEFAULT_NAMESPACE
    ttl_days: float | None = DEFAULT_TTL_DAYS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        ttl_raw = (env.get("TTL_DAYS") or "").strip()
        try:
            ttl = float(ttl_raw) if ttl_raw else DEFAULT_TTL_DAYS
        except ValueError:
            logger.warning("TTL_DAYS is not a number; using the default", extra={"ttl_days": ttl_raw})
            ttl = DEFAULT_TTL_DAYS
        return cls(
            table=env.get("FACES_TABLE") or DEFAULT_TABLE,
            prefix=env.get("FACES_PREFIX", DEFAULT_PREFIX),
            namespace=env.get("METRIC_NAMESPACE") or records.DEFAULT_NAMESPACE,
            ttl_days=ttl if ttl > 0 else None,
        )


class Clients:
    """boto3 clients, created on first use (cold start pays only for what it uses), injectable."""

    SERVICES = ("s3", "rekognition", "dynamodb", "cloudwatch")

    def __init__(self, **clients: Any) -> None:
        unknown = set(clients) - set(self.SERVICES)
        if unknown:
            raise TypeError(f"unknown client(s): {sorted(unknown)}")
        self._clients = dict(clients)

    def _get(self, name: str):
        if name not in self._clients:
            import boto3
            from botocore.config import Config

            self._clients[name] = boto3.client(
                name,
                config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10),
            )
        return self._clients[name]

    s3 = property(lambda self: self._get("s3"))
    rekognition = property(lambda self: self._get("rekognition"))
    dynamodb = property(lambda self: self._get("dynamodb"))
    cloudwatch = property(lambda self: self._get("cloudwatch"))


CLIENTS = Clients()  # module level: reused across warm invocations


@dataclass
class Summary:
    processed: int = 0  # crops newly analysed and written
    recovered: int = 0  # crops whose metrics a failed invocation had not sent
    duplicates: int = 0
    faces: int = 0
    metric_calls: int = 0
    metric_datums: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "recovered": self.recovered,
            "duplicates": self.duplicates,
            "faces": self.faces,
            "metric_calls": self.metric_calls,
            "metric_datums": self.metric_datums,
            "skipped": list(self.skipped),
        }


# --- error classification ---------------------------------------------------------------


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _skip(summary: Summary, obj: S3Object, reason: str, exc: Exception | None = None) -> None:
    entry = {"bucket": obj.bucket, "key": obj.key, "reason": reason}
    if exc is not None:
        entry["error"] = (error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__) or str(exc)
    summary.skipped.append(entry)
    logger.warning("skipped object", extra={"event": "object_skipped", **entry})


# --- one object -------------------------------------------------------------------------


def process_object(
    obj: S3Object,
    clients: Clients,
    settings: Settings,
    *,
    now: datetime,
    lease_until: int,
) -> tuple[str, records.FaceRecord | None, Exception | None]:
    """-> (outcome, record, error). Outcome: new | recovered | duplicate | <skip reason>.

    Raises on transient errors (the caller commits finished work, then re-raises).
    """
    table = settings.table
    existing = clients.dynamodb.get_item(
        TableName=table, Key={"s3key": {"S": obj.key}}, ConsistentRead=True
    ).get("Item")
    if existing:
        return _existing(obj, records.from_attribute_values(existing), clients, settings, now=now, lease_until=lease_until)

    try:
        head = clients.s3.head_object(Bucket=obj.bucket, Key=obj.key)
    except ClientError as exc:
        if error_code(exc) in MISSING_CODES or http_status(exc) in (403, 404):
            return "object_missing", None, exc
        raise
    meta = records.CaptureMeta.from_s3_metadata(head.get("Metadata") or {}, fallback_time=obj.event_time or now)

    try:
        response = clients.rekognition.detect_faces(
            Image={"S3Object": {"Bucket": obj.bucket, "Name": obj.key}}, Attributes=["ALL"]
        )
    except ClientError as exc:
        reason = PERMANENT_REKOGNITION.get(error_code(exc))
        if reason:
            return reason, None, exc
        raise

    record = records.build_record(obj.key, response, meta)
    item = records.to_dynamodb_item(records.record_to_item(record, ttl_days=settings.ttl_days))
    item[STATE_ATTR] = STATE_PENDING
    item[LEASE_ATTR] = lease_until
    item[ANALYSED_ATTR] = records.iso_utc(now)
    try:
        clients.dynamodb.put_item(
            TableName=table,
            Item=records.to_attribute_values(item),
            ConditionExpression="attribute_not_exists(s3key)",
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return "duplicate", None, None  # a concurrent delivery wrote it first: its metrics
        raise
    return "new", record, None


def _existing(obj, item, clients, settings, *, now, lease_until):
    if item.get(STATE_ATTR) != STATE_PENDING:
        return "duplicate", None, None
    old_lease = int(item.get(LEASE_ATTR) or 0)
    if old_lease > now.timestamp():
        raise TransientError(f"{obj.key}: another invocation is sending its metrics (lease until {old_lease})")
    try:  # take over the expired lease, so only one retry re-sends the metrics
        clients.dynamodb.update_item(
            TableName=settings.table,
            Key={"s3key": {"S": obj.key}},
            UpdateExpression="SET #l = :new",
            ConditionExpression="#s = :pending AND #l = :old",
            ExpressionAttributeNames={"#l": LEASE_ATTR, "#s": STATE_ATTR},
            ExpressionAttributeValues={
                ":new": {"N": str(lease_until)},
                ":old": {"N": str(old_lease)},
                ":pending": {"S": STATE_PENDING},
            },
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise TransientError(f"{obj.key}: another invocation took over its metrics") from None
        raise
    return "recovered", records.item_to_record(item), None


# --- the batch --------------------------------------------------------------------------


def send_metrics(batch: list[records.FaceRecord], clients: Clients, settings: Settings, summary: Summary,
                 *, now: datetime) -> None:
    sendable, out_of_window = records.split_by_metric_window(batch, now)
    for record in out_of_window:
        # Stored in DynamoDB, but CloudWatch refuses its timestamp: say so, do not retry forever.
        logger.warning("capture time outside CloudWatch's accepted range: item kept, metrics not sent",
                       extra={"event": "metrics_out_of_window", "key": record.key,
                              "captured_at": records.iso_utc(record.meta.captured_at)})
    datums = records.build_metric_data(sendable)
    for chunk in records.metric_batches(datums):
        clients.cloudwatch.put_metric_data(Namespace=settings.namespace, MetricData=chunk)
        summary.metric_calls += 1
        summary.metric_datums += len(chunk)


def _mark(batch, clients, settings, *, state: str) -> None:
    """Best effort: ``sent`` after the metrics went out; on failure, release the lease."""
    for record in batch:
        try:
            if state == STATE_SENT:
                clients.dynamodb.update_item(
                    TableName=settings.table,
                    Key={"s3key": {"S": record.key}},
                    UpdateExpression="SET #s = :sent REMOVE #l",
                    ExpressionAttributeNames={"#s": STATE_ATTR, "#l": LEASE_ATTR},
                    ExpressionAttributeValues={":sent": {"S": STATE_SENT}},
                )
            else:
                clients.dynamodb.update_item(
                    TableName=settings.table,
                    Key={"s3key": {"S": record.key}},
                    UpdateExpression="SET #l = :zero",
                    ExpressionAttributeNames={"#l": LEASE_ATTR},
                    ExpressionAttributeValues={":zero": {"N": "0"}},
                )
        except (ClientError, BotoCoreError) as exc:
            logger.error(
                "could not update the item's metrics state",
                extra={"event": "mark_failed", "key": record.key, "state": state, "error": str(exc)},
            )


def handle(
    event: Mapping[str, Any],
    clients: Clients,
    settings: Settings,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    remaining_s: float | None = None,
) -> dict[str, Any]:
    """The whole event: every record, every face; metrics in as few calls as possible."""
    summary = Summary()
    start = now()
    lease_until = int(start.timestamp() + (remaining_s if remaining_s is not None else DEFAULT_LEASE_S) + 5)
    to_send: list[records.FaceRecord] = []
    seen: set[tuple[str, str]] = set()
    failure: BaseException | None = None
    deadline = start.timestamp() + remaining_s - RESERVE_S if remaining_s is not None else None

    for item in iter_objects(event):
        if isinstance(item, Skipped):
            if item.reason == "test_event":
                logger.info("ignored s3:TestEvent", extra={"event": "test_event", "bucket": item.detail})
            elif item.reason == "eventbridge_event":
                logger.info("ignored an EventBridge event: this function is fed by S3 notifications",
                            extra={"event": "eventbridge_ignored", "detail": item.detail})
            else:
                summary.skipped.append({"reason": item.reason, "detail": item.detail})
                logger.warning("skipped event record", extra={"event": "record_skipped", "reason": item.reason, "detail": item.detail})
            continue
        if not item.key.startswith(settings.prefix):
            _skip(summary, item, "outside_prefix")
            continue
        if (item.bucket, item.key) in seen:
            summary.duplicates += 1
            continue
        if deadline is not None and now().timestamp() >= deadline:
            failure = TimeBudgetExceeded(
                f"stopped at {item.key} with {RESERVE_S:g} s of the invocation left; the retry resumes here")
            logger.warning("time budget reached: finished work is committed, the event will be retried",
                           extra={"event": "time_budget", "key": item.key, "done": len(seen)})
            break
        seen.add((item.bucket, item.key))
        try:
            outcome, record, exc = process_object(item, clients, settings, now=now(), lease_until=lease_until)
        except (ClientError, BotoCoreError, TransientError) as exc:
            failure = exc
            logger.error(
                "transient error: the event will be retried",
                extra={"event": "transient_error", "bucket": item.bucket, "key": item.key,
                       "error": error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__,
                       "detail": str(exc)},
            )
            break
        except Exception as exc:
            # A bug or a broken runtime (an ImportError) must not be mistaken for a bad object:
            # finish the others, commit them, then raise so the event is retried and, failing
            # again, kept in the failure queue for aws-redrive.
            failure = failure or exc
            logger.exception("unexpected error on one object: the others go on, then the event is retried",
                             extra={"event": "object_error", "key": item.key})
            continue
        if outcome == "new":
            summary.processed += 1
        elif outcome == "recovered":
            summary.recovered += 1
        elif outcome == "duplicate":
            summary.duplicates += 1
        else:
            _skip(summary, item, outcome, exc)
        if record is not None:
            to_send.append(record)
            summary.faces += len(record.faces)

    if to_send:
        try:
            send_metrics(to_send, clients, settings, summary, now=now())
        except Exception as exc:  # release the leases: the retry re-sends from the stored items
            _mark(to_send, clients, settings, state="released")
            logger.error("put_metric_data failed: the event will be retried",
                         extra={"event": "metrics_failed", "records": len(to_send), "detail": str(exc)})
            raise
        _mark(to_send, clients, settings, state=STATE_SENT)

    result = summary.as_dict()
    logger.info("event processed", extra={"event": "summary", **result, "failed": failure is not None})
    if failure is not None:
        raise failure
    return result


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    _log_format.context = {"request_id": getattr(context, "aws_request_id", None)}
    remaining = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining = context.get_remaining_time_in_millis() / 1000.0
    started = time.perf_counter()
    try:
        return handle(event, CLIENTS, Settings.from_env(), remaining_s=remaining)
    finally:
        logger.debug("invocation finished", extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)})
