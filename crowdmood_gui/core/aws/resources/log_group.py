"""The Lambda's CloudWatch Logs group, made ahead so its retention is ours (not "forever")."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext, error_code


class LogGroup:
    key = "log_group"
    title = "Lambda log group"

    def name(self, names: ResourceNames, region: str) -> str:
        return names.log_group

    def plan(self, ctx: StepContext) -> PlannedResource:
        return PlannedResource(self.key, "CloudWatch Logs group", ctx.names.log_group, f"retention {ctx.log_retention_days} days")

    def describe(self, ctx: StepContext) -> dict[str, Any] | None:
        name = ctx.names.log_group
        groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
        return next((g for g in groups if g["logGroupName"] == name), None)

    def ensure(self, ctx: StepContext) -> Outcome:
        logs = ctx.client("logs")
        name = ctx.names.log_group
        group = self.describe(ctx)
        status = "adopted"
        if group is None:
            try:
                logs.create_log_group(logGroupName=name, tags={"crowdmood": "setup"})
                ctx.made(self.key)
                status = "created"
            except ClientError as exc:
                if error_code(exc) != "ResourceAlreadyExistsException":
                    raise
            group = {}
        changes = []
        if group.get("retentionInDays") != ctx.log_retention_days:
            logs.put_retention_policy(logGroupName=name, retentionInDays=ctx.log_retention_days)
            if status == "adopted":
                changes.append(f"retention {ctx.log_retention_days} days")
        return Outcome(status, changes)

    def delete(self, ctx: StepContext) -> bool:
        try:
            ctx.client("logs").delete_log_group(logGroupName=ctx.names.log_group)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True
