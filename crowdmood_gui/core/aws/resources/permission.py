"""The Lambda permission that lets S3 (this bucket, this account) invoke the function."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from crowdmood_gui.core.aws import policies
from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext, error_code

PERMISSION_SID = "crowdmood-s3-invoke"


class Permission:
    key = "permission"
    title = "Permission for S3 to invoke the Lambda"

    def name(self, names: ResourceNames, region: str) -> str:
        return f"{names.function}/{PERMISSION_SID}"

    def plan(self, ctx: StepContext) -> PlannedResource:
        return PlannedResource(self.key, "Lambda permission", PERMISSION_SID, f"s3.amazonaws.com may invoke it for bucket {ctx.names.bucket}")

    def describe(self, ctx: StepContext) -> dict[str, Any] | None:
        """Our statement in the function's resource policy (None: not there)."""
        try:
            doc = json.loads(ctx.client("lambda").get_policy(FunctionName=ctx.names.function)["Policy"])
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return None
        return next((s for s in doc.get("Statement", []) if s.get("Sid") == PERMISSION_SID), None)

    @staticmethod
    def _matches(ctx: StepContext, stmt: dict[str, Any]) -> bool:
        condition = stmt.get("Condition") or {}
        flat = {k.lower(): v for block in condition.values() for k, v in block.items()}
        principal = stmt.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        return (
            service == "s3.amazonaws.com"
            and stmt.get("Action") == "lambda:InvokeFunction"
            and stmt.get("Effect") == "Allow"
            and flat.get("aws:sourcearn") == policies.bucket_arn(ctx.names)
            and flat.get("aws:sourceaccount") == ctx.account
        )

    def ensure(self, ctx: StepContext) -> Outcome:
        lam = ctx.client("lambda")
        ctx.ensure_account()
        stmt = self.describe(ctx)
        if stmt is not None and self._matches(ctx, stmt):
            return Outcome("adopted", [])
        if stmt is not None:
            lam.remove_permission(FunctionName=ctx.names.function, StatementId=PERMISSION_SID)
        lam.add_permission(
            FunctionName=ctx.names.function,
            StatementId=PERMISSION_SID,
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=policies.bucket_arn(ctx.names),
            SourceAccount=ctx.account,
        )
        if stmt is not None:
            return Outcome("adopted", ["permission replaced"])
        ctx.made(self.key)
        return Outcome("created", [])

    def delete(self, ctx: StepContext) -> bool:
        if self.describe(ctx) is None:
            return False
        try:
            ctx.client("lambda").remove_permission(FunctionName=ctx.names.function, StatementId=PERMISSION_SID)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True
