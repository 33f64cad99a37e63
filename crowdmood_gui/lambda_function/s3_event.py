"""S3 event notifications -> the objects to analyse. Pure functions, stdlib only.

Accepted shapes (each record of each, never only ``Records[0]``):

* an S3 event invoking the function directly: ``{"Records": [{"eventSource": "aws:s3", ...}]}``;
* an SQS event whose message bodies are S3 events (bucket notification -> SQS -> Lambda),
  including the ``s3:TestEvent`` S3 sends when a notification is configured;
* an SQS body that is an SNS envelope (``{"Type": "Notification", "Message": "<S3 event>"}``).

Anything else is a :class:`Skipped` with its reason, never an exception: a malformed record
(``Records`` not a list, a key that is ``null`` or a number, a bucket that is not a string,
an SQS body whose records are not objects) must not fail the good records beside it.
EventBridge "Object Created" events are not ours (the stack uses S3 notifications): they are
skipped as ``eventbridge_event`` so the handler logs them.

Keys arrive URL-encoded (``+`` for a space, ``%xx`` escapes): they are decoded with
``unquote_plus``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Iterator, Mapping
from urllib.parse import unquote_plus

TEST_EVENT = "s3:TestEvent"


@dataclass(frozen=True, slots=True)
class S3Object:
    bucket: str
    key: str  # decoded
    event_name: str  # e.g. "ObjectCreated:Put"
    event_time: datetime | None  # when S3 saw the object (fallback capture time)
    size: int | None = None
    sequencer: str | None = None
    message_id: str | None = None  # SQS message id when delivered through SQS


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something in the event that is not an object to analyse, and why."""

    reason: str  # "test_event" | "not_object_created" | "unparsable" | ...
    detail: str = ""
    message_id: str | None = None


def parse_event_time(text: str | None) -> datetime | None:
    if not text or not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def iter_objects(event: Mapping[str, Any]) -> Iterator[S3Object | Skipped]:
    """Every S3 object (or skip note) in a direct S3 event or an SQS batch of S3 events."""
    if not isinstance(event, Mapping):
        yield Skipped("unparsable", f"event is {type(event).__name__}")
        return
    if event.get("Event") == TEST_EVENT:
        yield Skipped("test_event", str(event.get("Bucket", "")))
        return
    if "detail-type" in event and "Records" not in event:
        detail = event.get("detail") if isinstance(event.get("detail"), Mapping) else {}
        obj = detail.get("object") if isinstance(detail.get("object"), Mapping) else {}
        yield Skipped("eventbridge_event", f"{event.get('detail-type')!s}: {obj.get('key')!s}")
        return
    raw_records = event.get("Records")
    if raw_records is None:
        return
    if not isinstance(raw_records, list):
        yield Skipped("unparsable", f"Records is {type(raw_records).__name__}, not a list")
        return
    for record in raw_records:
        if not isinstance(record, Mapping):
            yield Skipped("unparsable", "record is not an object")
            continue
        source = record.get("eventSource") or record.get("EventSource")
        if source == "aws:sqs":
            yield from _from_sqs(record)
        elif source == "aws:s3" or "s3" in record:
            yield _from_s3_record(record, None)
        else:
            yield Skipped("unparsable", f"unknown event source {source!r}")


def _from_sqs(record: Mapping[str, Any]) -> Iterator[S3Object | Skipped]:
    message_id = record.get("messageId")
    try:
        body = json.loads(record.get("body") or "")
    except (TypeError, ValueError):
        yield Skipped("unparsable", "SQS body is not JSON", message_id)
        return
    if isinstance(body, Mapping) and body.get("Type") == "Notification" and "Message" in body:
        try:
            body = json.loads(body["Message"])
        except (TypeError, ValueError):
            yield Skipped("unparsable", "SNS message is not JSON", message_id)
            return
    if not isinstance(body, Mapping):
        yield Skipped("unparsable", "SQS body is not an object", message_id)
        return
    if body.get("Event") == TEST_EVENT:
        yield Skipped("test_event", str(body.get("Bucket", "")), message_id)
        return
    records = body.get("Records")
    if not records:
        yield Skipped("unparsable", "SQS body has no Records", message_id)
        return
    if not isinstance(records, list):
        yield Skipped("unparsable", f"SQS body's Records is {type(records).__name__}, not a list", message_id)
        return
    for inner in records:
        if not isinstance(inner, Mapping):
            yield Skipped("unparsable", f"SQS body record is {type(inner).__name__}, not an object", message_id)
            continue
        yield _from_s3_record(inner, message_id)


def _from_s3_record(record: Mapping[str, Any], message_id: str | None) -> S3Object | Skipped:
    name = str(record.get("eventName") or "")
    try:
        s3 = record["s3"]
        bucket = s3["bucket"]["name"]
        raw_key = s3["object"]["key"]
    except (KeyError, TypeError):
        return Skipped("unparsable", "S3 record without s3.bucket.name / s3.object.key", message_id)
    if not isinstance(bucket, str) or not bucket:
        return Skipped("unparsable", f"bucket name is {type(bucket).__name__}, not a string", message_id)
    if not isinstance(raw_key, str) or not raw_key:
        return Skipped("unparsable", f"object key is {type(raw_key).__name__}, not a string", message_id)
    key = unquote_plus(raw_key)
    if not name.startswith("ObjectCreated:"):
        return Skipped("not_object_created", f"{name} {key}", message_id)
    obj = s3["object"]
    size = obj.get("size")
    sequencer = obj.get("sequencer")
    return S3Object(
        bucket=bucket,
        key=key,
        event_name=name,
        event_time=parse_event_time(record.get("eventTime")),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        sequencer=sequencer if isinstance(sequencer, str) else None,
        message_id=message_id,
    )
