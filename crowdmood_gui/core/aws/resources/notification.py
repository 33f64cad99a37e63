"""The bucket's event notification: every new crop under the prefix invokes the function."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext, error_code
from crowdmood_gui.core.aws.resources.function import function_arn

NOTIFICATION_ID = "crowdmood-faces-to-lambda"


def _bucket_notifications(ctx: StepContext) -> dict[str, Any]:
    cfg = ctx.client("s3").get_bucket_notification_configuration(Bucket=ctx.names.bucket)
    cfg.pop("ResponseMetadata", None)
    return cfg


def _bucket_notifications_or_none(ctx: StepContext) -> dict[str, Any] | None:
    try:
        return _bucket_notifications(ctx)
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucket":
            raise
        return None


def _ours(cfg: dict[str, Any] | None) -> dict[str, Any] | None:
    configs = (cfg or {}).get("LambdaFunctionConfigurations", [])
    return next((c for c in configs if c.get("Id") == NOTIFICATION_ID), None)


def _matches(ours: dict[str, Any], wanted: dict[str, Any]) -> bool:
    rules = {(r["Name"].lower(), r["Value"]) for r in ((ours.get("Filter") or {}).get("Key") or {}).get("FilterRules", [])}
    return (
        ours.get("LambdaFunctionArn") == wanted["LambdaFunctionArn"]
        and sorted(ours.get("Events", [])) == wanted["Events"]
        and rules == {("prefix", wanted["Filter"]["Key"]["FilterRules"][0]["Value"])}
    )


class Notification:
    key = "notification"
    title = "S3 notification to the Lambda"

    def name(self, names: ResourceNames, region: str) -> str:
        return f"{names.bucket}/{NOTIFICATION_ID}"

    def plan(self, ctx: StepContext) -> PlannedResource:
        n = ctx.names
        return PlannedResource(self.key, "S3 event notification", NOTIFICATION_ID, f"s3:ObjectCreated:* under '{n.prefix}' -> {n.function}")

    def describe(self, ctx: StepContext) -> dict[str, Any] | None:
        """Our Lambda notification on the bucket (None: not there, or no bucket)."""
        return _ours(_bucket_notifications_or_none(ctx))

    def ensure(self, ctx: StepContext) -> Outcome:
        n = ctx.names
        wanted = {
            "Id": NOTIFICATION_ID,
            "LambdaFunctionArn": function_arn(ctx),
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": n.prefix}]}},
        }
        # The bucket's whole configuration is written back: keep everyone else's entries.
        cfg = _bucket_notifications(ctx)
        configs = cfg.get("LambdaFunctionConfigurations", [])
        ours = _ours(cfg)
        if ours is not None and _matches(ours, wanted):
            return Outcome("adopted", [])
        cfg["LambdaFunctionConfigurations"] = [c for c in configs if c.get("Id") != NOTIFICATION_ID] + [wanted]
        ctx.client("s3").put_bucket_notification_configuration(Bucket=n.bucket, NotificationConfiguration=cfg)
        if ours is not None:
            return Outcome("adopted", ["notification updated"])
        ctx.made(self.key)
        return Outcome("created", [])

    def delete(self, ctx: StepContext) -> bool:
        cfg = _bucket_notifications_or_none(ctx)
        if _ours(cfg) is None:
            return False
        cfg["LambdaFunctionConfigurations"] = [c for c in cfg["LambdaFunctionConfigurations"] if c.get("Id") != NOTIFICATION_ID]
        if not cfg["LambdaFunctionConfigurations"]:
            del cfg["LambdaFunctionConfigurations"]
        ctx.client("s3").put_bucket_notification_configuration(Bucket=ctx.names.bucket, NotificationConfiguration=cfg)
        return True
