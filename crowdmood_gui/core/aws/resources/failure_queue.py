"""The SQS queue the Lambda's failed async events go to, and the function's event-invoke
config that sends them there (without it AWS drops an event after two retries)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.redrive import find_queue_url
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext, StepFailed, error_code

# AWS's own retries (2), then the event goes to the queue instead of being dropped; kept
# 14 days (the SQS maximum) for ``crowdmood aws-redrive``. 6 h is the longest an event may
# wait for a retry.
FAILURE_RETENTION_S = 14 * 24 * 3600
ASYNC_MAX_RETRIES = 2
ASYNC_MAX_EVENT_AGE_S = 6 * 3600


def destination(invoke_config: dict[str, Any] | None, kind: str) -> str | None:
    """The ``kind`` ("OnFailure" / "OnSuccess") destination ARN of a function's
    event-invoke config, None when it has none."""
    return (((invoke_config or {}).get("DestinationConfig") or {}).get(kind) or {}).get("Destination")


def _invoke_config_matches(cfg: dict[str, Any], queue_arn: str) -> bool:
    return (
        cfg.get("MaximumRetryAttempts") == ASYNC_MAX_RETRIES
        and cfg.get("MaximumEventAgeInSeconds") == ASYNC_MAX_EVENT_AGE_S
        and destination(cfg, "OnFailure") == queue_arn
    )


def _invoke_config(ctx: StepContext) -> dict[str, Any] | None:
    try:
        return ctx.client("lambda").get_function_event_invoke_config(FunctionName=ctx.names.function)
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        return None


def _attributes(ctx: StepContext, url: str) -> dict[str, Any]:
    return {"QueueUrl": url, **ctx.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]}


class FailureQueue:
    key = "failure_queue"
    title = "Queue for failed analyses"

    def name(self, names: ResourceNames, region: str) -> str:
        return names.failure_queue

    def plan(self, ctx: StepContext) -> PlannedResource:
        n = ctx.names
        return PlannedResource(
            self.key, "SQS queue", n.failure_queue,
            f"on-failure destination of {n.function} after {ASYNC_MAX_RETRIES} retries, encrypted (SSE-SQS), "
            f"kept {FAILURE_RETENTION_S // 86400} days for 'crowdmood aws-redrive'",
        )

    def describe(self, ctx: StepContext) -> dict[str, Any] | None:
        """The queue's URL and attributes (None: no queue)."""
        url = find_queue_url(ctx.client("sqs"), ctx.names.failure_queue)
        return None if url is None else _attributes(ctx, url)

    def ensure(self, ctx: StepContext) -> Outcome:
        sqs, lam = ctx.client("sqs"), ctx.client("lambda")
        n = ctx.names
        wanted = {"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": str(FAILURE_RETENTION_S)}
        changes: list[str] = []
        status = "adopted"
        attrs = self.describe(ctx)
        if attrs is None:
            try:
                url = sqs.create_queue(QueueName=n.failure_queue, Attributes=wanted, tags={"crowdmood": "setup"})["QueueUrl"]
            except ClientError as exc:
                if "QueueDeletedRecently" in error_code(exc):
                    raise StepFailed(f"queue {n.failure_queue} was deleted less than 60 s ago: run setup again in a minute") from None
                raise
            ctx.made(self.key)
            status = "created"
            attrs = _attributes(ctx, url)
        drifted = {k: v for k, v in wanted.items() if str(attrs.get(k, "")).lower() != v}
        if attrs.get("KmsMasterKeyId"):  # an adopted queue encrypted with a KMS key: already
            drifted.pop("SqsManagedSseEnabled", None)  # encrypted, and SQS allows one SSE kind
        if drifted:
            sqs.set_queue_attributes(QueueUrl=attrs["QueueUrl"], Attributes=drifted)
            if "SqsManagedSseEnabled" in drifted:
                changes.append("encryption (SSE-SQS) enabled")
            if "MessageRetentionPeriod" in drifted:
                changes.append(f"retention {FAILURE_RETENTION_S // 86400} days")
        queue_arn = attrs["QueueArn"]
        current = _invoke_config(ctx)
        if current is None or not _invoke_config_matches(current, queue_arn):
            destinations: dict[str, Any] = {"OnFailure": {"Destination": queue_arn}}
            on_success = destination(current, "OnSuccess")
            if on_success:  # not ours: keep it
                destinations["OnSuccess"] = {"Destination": on_success}
            # Lambda checks that the role may sqs:SendMessage: the role step's new statement
            # may take a few seconds to be visible.
            ctx.retry_role_propagation(
                lambda: lam.put_function_event_invoke_config(
                    FunctionName=n.function,
                    MaximumRetryAttempts=ASYNC_MAX_RETRIES,
                    MaximumEventAgeInSeconds=ASYNC_MAX_EVENT_AGE_S,
                    DestinationConfig=destinations,
                ),
                symptom="sendmessage",
            )
            previous = destination(current, "OnFailure")
            if previous and previous != queue_arn:
                changes.append(f"on-failure destination {previous} replaced by this queue")
            elif status == "adopted":
                changes.append(f"{n.function} sends failed events here" if current is None else "async invocation settings fixed")
        return Outcome(status, changes)

    def delete(self, ctx: StepContext) -> bool:
        sqs = ctx.client("sqs")
        url = find_queue_url(sqs, ctx.names.failure_queue)
        if url is None:
            return False
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"])["Attributes"]
        # Deleting the function removes its invoke config; a function kept (adopted) must not
        # keep pointing at a queue that is gone.
        try:
            lam = ctx.client("lambda")
            cfg = lam.get_function_event_invoke_config(FunctionName=ctx.names.function)
            if destination(cfg, "OnFailure") == attrs.get("QueueArn"):
                on_success = destination(cfg, "OnSuccess")
                if on_success:  # not ours: keep it and the retry settings, drop only our queue
                    lam.put_function_event_invoke_config(
                        FunctionName=ctx.names.function,
                        MaximumRetryAttempts=cfg.get("MaximumRetryAttempts", ASYNC_MAX_RETRIES),
                        MaximumEventAgeInSeconds=cfg.get("MaximumEventAgeInSeconds", ASYNC_MAX_EVENT_AGE_S),
                        DestinationConfig={"OnSuccess": {"Destination": on_success}},
                    )
                else:
                    lam.delete_function_event_invoke_config(FunctionName=ctx.names.function)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
        waiting = int(attrs.get("ApproximateNumberOfMessages", 0))
        if waiting:
            ctx.log(f"deleting {waiting} failed analyses that were never redriven (their crops go with the bucket)")
        sqs.delete_queue(QueueUrl=url)
        return True
