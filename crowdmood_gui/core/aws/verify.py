"""Verify a deployment end to end: upload the bundled test face, wait for its DynamoDB item
and its metric, then count the failed analyses waiting in the failure queue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote_plus

from botocore.exceptions import BotoCoreError, ClientError

from crowdmood_gui.core.aws.clients import describe_aws_error
from crowdmood_gui.core.aws.redrive import count_waiting
from crowdmood_gui.core.aws.resources.base import Cancelled, StepContext, StepFailed
from crowdmood_gui.core.aws.resources.notification import NOTIFICATION_ID
from crowdmood_gui.core.resources import RESOURCES_DIR
from crowdmood_gui.core.records import FACES_METRIC, CaptureMeta, from_attribute_values, from_dynamodb_item

TEST_FACE = RESOURCES_DIR / "test_face.jpg"
VERIFY_CAMERA = "setup-verify"
REDRIVE_HINT = "run crowdmood aws-redrive"


@dataclass
class VerifyResult:
    ok: bool
    message: str
    key: str = ""
    item: dict[str, Any] | None = None
    metric_seen: bool = False
    elapsed_s: float = 0.0
    failed_waiting: int | None = None  # messages in the failure queue (None: not known)


def s3_put_event(region: str, bucket: str, key: str, size: int, etag: str = "") -> dict[str, Any]:
    """An ``ObjectCreated:Put`` event as S3 sends it (key URL-encoded)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": NOTIFICATION_ID,
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag.strip('"')},
                },
            }
        ]
    }


def failed_waiting(ctx: StepContext) -> int | None:
    """Failed analyses waiting in the failure queue (None: no queue, or it cannot be read)."""
    try:
        return count_waiting(ctx.client("sqs"), ctx.names.failure_queue)
    except (ClientError, BotoCoreError) as exc:
        ctx.log(f"cannot count the failed analyses waiting: {describe_aws_error(exc)}")
        return None


def verify(
    ctx: StepContext,
    *,
    invoke: Callable[[dict[str, Any]], Any] | None = None,
    timeout_s: float = 120.0,
    poll_s: float = 2.0,
    image: Path = TEST_FACE,
    keep_object: bool = False,
) -> VerifyResult:
    """Upload the bundled test face, wait for its DynamoDB item and its metric; then
    count the failed analyses waiting in the failure queue (the message says so).

    ``invoke(event)``: call the function yourself with the S3 event (emulators without
    a Lambda runtime); None = S3 triggers the real function.
    """
    result = _verify_pipeline(ctx, invoke=invoke, timeout_s=timeout_s, poll_s=poll_s, image=image, keep_object=keep_object)
    result.failed_waiting = failed_waiting(ctx)
    if result.failed_waiting:
        line = f"{result.failed_waiting} failed analyses waiting: {REDRIVE_HINT}"
        result.message += f"; {line}"
        ctx.log(line)
    return result


def _verify_pipeline(
    ctx: StepContext,
    *,
    invoke: Callable[[dict[str, Any]], Any] | None,
    timeout_s: float,
    poll_s: float,
    image: Path,
    keep_object: bool,
) -> VerifyResult:
    start = ctx.clock()
    s3, ddb, cw = ctx.client("s3"), ctx.client("dynamodb"), ctx.client("cloudwatch")
    n = ctx.names
    now = datetime.now(UTC)
    meta = CaptureMeta(session=f"verify-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", camera=VERIFY_CAMERA, captured_at=now)
    key = f"{n.prefix}verify/{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.jpg"
    try:
        body = image.read_bytes()
    except OSError as exc:
        return VerifyResult(False, f"cannot read the test face {image}: {exc}")
    try:
        ctx.check_cancel()
        ctx.log(f"uploading the test face to s3://{n.bucket}/{key}…")
        put = s3.put_object(Bucket=n.bucket, Key=key, Body=body, ContentType="image/jpeg", Metadata=meta.to_s3_metadata())
        if invoke is not None:
            ctx.log("invoking the function with the S3 event…")
            invoke(s3_put_event(ctx.region, n.bucket, key, len(body), put.get("ETag", "")))
        ctx.log(f"waiting for the DynamoDB item in {n.table}…")
        holder: dict[str, Any] = {}

        def item_ready() -> bool:
            item = ddb.get_item(TableName=n.table, Key={"s3key": {"S": key}}, ConsistentRead=True).get("Item")
            holder["item"] = item
            return item is not None

        try:
            ctx.wait_until("the DynamoDB item", item_ready, timeout_s=max(0.0, timeout_s - (ctx.clock() - start)), every_s=poll_s)
        except StepFailed:
            return VerifyResult(
                False,
                f"no DynamoDB item for the test face after {timeout_s:.0f} s: check the function's log group {n.log_group}",
                key=key,
                elapsed_s=ctx.clock() - start,
            )
        item = _plain_item(holder["item"])
        ctx.log(f"item found (faces: {item.get('face_count')}, dominant: {item.get('dominant', '-')}); waiting for the metric…")
        dims = [{"Name": "Session", "Value": meta.session}, {"Name": "Camera", "Value": meta.camera}]

        def metric_ready() -> bool:
            reply = cw.get_metric_data(
                MetricDataQueries=[
                    {
                        "Id": "faces",
                        "MetricStat": {
                            "Metric": {"Namespace": n.namespace, "MetricName": FACES_METRIC, "Dimensions": dims},
                            "Period": 10,
                            "Stat": "SampleCount",
                        },
                    }
                ],
                StartTime=now - timedelta(minutes=10),
                EndTime=datetime.now(UTC) + timedelta(minutes=5),
            )
            return any(r.get("Values") for r in reply.get("MetricDataResults", []))

        try:
            ctx.wait_until("the metric", metric_ready, timeout_s=max(0.0, timeout_s - (ctx.clock() - start)), every_s=poll_s)
        except StepFailed:
            return VerifyResult(
                False,
                f"the item arrived but no '{FACES_METRIC}' metric in namespace {n.namespace} after {timeout_s:.0f} s",
                key=key,
                item=item,
                elapsed_s=ctx.clock() - start,
            )
    except Cancelled:
        return VerifyResult(False, "verification cancelled", key=key, elapsed_s=ctx.clock() - start)
    except (ClientError, BotoCoreError) as exc:
        return VerifyResult(False, "verification failed: " + describe_aws_error(exc), key=key, elapsed_s=ctx.clock() - start)
    finally:
        if not keep_object:
            try:
                s3.delete_object(Bucket=n.bucket, Key=key)
            except (ClientError, BotoCoreError):
                pass
    elapsed = ctx.clock() - start
    message = (
        f"pipeline works: the test face was analysed in {elapsed:.1f} s "
        f"({item.get('face_count', 0)} face(s), dominant expression {item.get('dominant', 'none')}) and its metric arrived"
    )
    ctx.log(message)
    return VerifyResult(True, message, key=key, item=item, metric_seen=True, elapsed_s=elapsed)


def _plain_item(item: dict[str, Any]) -> dict[str, Any]:
    return from_dynamodb_item(from_attribute_values(item))
