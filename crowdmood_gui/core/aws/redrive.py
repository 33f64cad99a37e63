"""Redrive the failure queue: give the Lambda another go at the events it gave up on.

S3 invokes the Lambda asynchronously; after its retries Lambda sends an *on-failure
record* to the queue setup made (``<function>-failed``) instead of dropping the event. Each
record's ``requestPayload`` is the original S3 event, so redriving is: parse the record,
invoke the function asynchronously with that event, and delete the message only once the
invoke was accepted. A record that cannot be parsed, or that belongs to another function,
stays in the queue with a logged reason: losing it would defeat the queue's purpose.
Qt-free; ``crowdmood aws-redrive`` and setup's summary use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from crowdmood_gui.core.aws.clients import describe_aws_error, error_code
from crowdmood_gui.core.errors import AwsError

RECEIVE_BATCH = 10  # the SQS maximum per ReceiveMessage
# Long enough that a message received (and kept) in this run is not received again before
# the run ends; kept messages are made visible again at the end.
RECEIVE_VISIBILITY_S = 300
RECEIVE_WAIT_S = 1  # long polling asks every SQS server: an empty answer means empty
# Invoke errors that no other message can escape: stop the run (the rest stays queued).
FATAL_INVOKE_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "ExpiredToken", "ExpiredTokenException",
    "InvalidClientTokenId", "UnrecognizedClientException", "InvalidSignatureException",
})
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


class MalformedRecord(ValueError):
    """A queue message that is not an on-failure record of an S3-triggered invocation."""


@dataclass
class RedriveReport:
    redriven: int = 0
    failed: int = 0  # parsed, but the invoke failed: kept in the queue
    skipped: int = 0  # malformed or not ours: kept in the queue
    reasons: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return self.failed + self.skipped

    @property
    def ok(self) -> bool:
        return self.kept == 0

    def summary(self) -> str:
        text = f"{self.redriven} event(s) redriven, {self.failed} failed, {self.skipped} skipped"
        if self.kept:
            text += f" ({self.kept} kept in the queue)"
        return text


def s3_event_from_failure_record(body: str, function: str | None = None) -> dict[str, Any]:
    """The original S3 event of a Lambda on-failure record (the SQS message body).

    ``function``: when given, a record of another function is refused (a queue shared by
    mistake must not feed its events to ours).
    """
    try:
        record = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedRecord(f"not JSON ({exc})") from None
    if not isinstance(record, dict) or "requestPayload" not in record:
        raise MalformedRecord("no requestPayload: not a Lambda on-failure record")
    if function is not None:
        arn = str((record.get("requestContext") or {}).get("functionArn") or "")
        # arn:aws:lambda:region:account:function:NAME[:qualifier]
        parts = arn.split(":")
        name = parts[6] if len(parts) > 6 else ""
        if arn and name != function:
            raise MalformedRecord(f"record of another function ({name or arn})")
    payload = record["requestPayload"]
    if isinstance(payload, str):  # defensive: some emulators pass the payload as text
        try:
            payload = json.loads(payload)
        except ValueError:
            raise MalformedRecord("requestPayload is text that is not JSON") from None
    records = payload.get("Records") if isinstance(payload, dict) else None
    if not isinstance(records, list) or not records:
        raise MalformedRecord("requestPayload has no Records: not an S3 event")
    if not all(isinstance(r, dict) and isinstance(r.get("s3"), dict) for r in records):
        raise MalformedRecord("requestPayload has a record without 's3': not an S3 event")
    return payload


def find_queue_url(sqs, queue_name: str) -> str | None:
    """The queue's URL, or None when there is no such queue (any other error raises)."""
    try:
        return sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    except ClientError as exc:
        if error_code(exc) in MISSING_QUEUE_CODES:
            return None
        raise


def failure_queue_url(sqs, queue_name: str) -> str:
    """The queue's URL; a missing queue is an :class:`AwsError` that says what to run."""
    try:
        url = find_queue_url(sqs, queue_name)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(describe_aws_error(exc)) from None
    if url is None:
        raise AwsError(f"the failure queue {queue_name} does not exist: run crowdmood setup")
    return url


def messages_waiting(sqs, queue_url: str) -> int:
    """ApproximateNumberOfMessages: visible messages, i.e. failed analyses waiting."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0))


def count_waiting(sqs, queue_name: str) -> int | None:
    """Failed analyses waiting in the queue ``queue_name``; None when there is no such queue."""
    url = find_queue_url(sqs, queue_name)
    return None if url is None else messages_waiting(sqs, url)


def redrive(
    sqs,
    lam,
    queue_url: str,
    function: str,
    *,
    log: Callable[[str], None] | None = None,
    limit: int | None = None,
) -> RedriveReport:
    """Re-invoke ``function`` (asynchronously) with each failed S3 event in the queue.

    A message is deleted only after its invoke was accepted (HTTP 202); every other message
    stays, and is made visible again at the end so the next run sees it at once.
    """
    log = log or (lambda line: None)
    report = RedriveReport()
    kept: dict[str, str] = {}  # message id -> latest receipt handle
    seen: set[str] = set()
    redriven_keys: set[str] = set()  # S3 keys re-invoked in this run
    try:
        while limit is None or report.redriven + report.kept < limit:
            want = RECEIVE_BATCH if limit is None else min(RECEIVE_BATCH, limit - report.redriven - report.kept)
            try:
                messages = sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=want,
                    VisibilityTimeout=RECEIVE_VISIBILITY_S,
                    WaitTimeSeconds=RECEIVE_WAIT_S,
                ).get("Messages", [])
            except (ClientError, BotoCoreError) as exc:
                raise AwsError(describe_aws_error(exc) + _so_far(report)) from None
            if not messages:  # long polling asked every server: the queue is drained
                break
            # A kept message seen again (a run longer than the visibility timeout): this
            # receive hid it again; remember its newest handle and go on to the others.
            for message in messages:
                if message["MessageId"] in kept:
                    kept[message["MessageId"]] = message["ReceiptHandle"]
            fresh = [m for m in messages if m["MessageId"] not in seen]
            for index, message in enumerate(fresh):
                seen.add(message["MessageId"])
                try:
                    _redrive_one(sqs, lam, queue_url, function, message, report, kept, redriven_keys, log)
                except BaseException:  # a fatal error: the rest of this batch is released too
                    kept.update((m["MessageId"], m["ReceiptHandle"]) for m in fresh[index + 1 :])
                    raise
    finally:
        _release(sqs, queue_url, list(kept.values()), log)
    return report


def _so_far(report: RedriveReport) -> str:
    return f" (so far: {report.summary()})" if report.redriven or report.kept else ""


def _redrive_one(sqs, lam, queue_url: str, function: str, message: dict[str, Any], report: RedriveReport,
                 kept: dict[str, str], redriven_keys: set[str], log: Callable[[str], None]) -> None:
    message_id = message["MessageId"]

    def keep(counter: str, reason: str) -> None:
        setattr(report, counter, getattr(report, counter) + 1)
        report.reasons.append(reason)
        log(reason)
        kept[message_id] = message["ReceiptHandle"]

    try:
        event = s3_event_from_failure_record(message.get("Body", ""), function)
    except MalformedRecord as exc:
        keep("skipped", f"message {message_id} skipped (kept in the queue): {exc}")
        return
    key_list = [str(r["s3"].get("object", {}).get("key", "?")) for r in event["Records"]]
    keys = ", ".join(key_list)
    if redriven_keys.issuperset(key_list):
        # Redriven earlier in this run and failed again: whatever fails it is still there;
        # re-invoking again would only loop. Kept for a later run.
        keep("failed", f"message {message_id} ({keys}) failed again after being redriven in this run: kept in the queue")
        return
    try:
        reply = lam.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode("utf-8"))
        status = int(reply.get("StatusCode", 0))
        if status != 202:
            raise AwsError(f"Invoke answered HTTP {status}, not 202")
    except (ClientError, BotoCoreError, AwsError) as exc:
        keep("failed", f"message {message_id} ({keys}) not redriven, kept in the queue: {describe_aws_error(exc)}")
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            raise AwsError(f"the function {function} does not exist: run crowdmood setup" + _so_far(report)) from None
        if code in FATAL_INVOKE_CODES:  # every other message would fail the same way
            raise AwsError(describe_aws_error(exc) + _so_far(report)) from None
        return
    redriven_keys.update(key_list)
    # The event is with Lambda again (its own retries and this queue behind it): now, and
    # only now, the message may go. Failing to delete it means a duplicate delivery later,
    # which the handler's conditional write makes harmless.
    try:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    except (ClientError, BotoCoreError) as exc:
        log(f"message {message_id} redriven but not deleted ({describe_aws_error(exc)}): it will be redriven again (harmless)")
    report.redriven += 1
    log(f"redriven: {keys}")


def _release(sqs, queue_url: str, handles: list[str], log: Callable[[str], None]) -> None:
    """Make the kept messages visible again now rather than after the receive timeout."""
    for start in range(0, len(handles), RECEIVE_BATCH):
        batch = handles[start : start + RECEIVE_BATCH]
        try:
            reply = sqs.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0} for i, handle in enumerate(batch)],
            )
        except (ClientError, BotoCoreError) as exc:
            log(f"kept messages stay hidden for up to {RECEIVE_VISIBILITY_S} s ({describe_aws_error(exc)})")
            return
        failed = reply.get("Failed") or []  # per-entry failures come back here, not raised
        if failed:
            log(f"{len(failed)} kept message(s) stay hidden for up to {RECEIVE_VISIBILITY_S} s "
                f"({failed[0].get('Code', '?')}: {failed[0].get('Message', '')})")
