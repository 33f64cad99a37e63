"""The Lambda function that analyses each uploaded crop (the package built from ``lambda/``)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from crowdmood_gui.core.aws.lambda_zip import HANDLER, code_sha256
from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext, error_code

LAMBDA_RUNTIME = "python3.12"
LAMBDA_TIMEOUT_S = 30
LAMBDA_MEMORY_MB = 256


def desired_config(ctx: StepContext) -> dict[str, Any]:
    n = ctx.names
    return {
        "Runtime": LAMBDA_RUNTIME,
        "Handler": HANDLER,
        "Role": ctx.role_arn,
        "Timeout": LAMBDA_TIMEOUT_S,
        "MemorySize": LAMBDA_MEMORY_MB,
        "Environment": {"Variables": {"FACES_TABLE": n.table, "FACES_PREFIX": n.prefix, "METRIC_NAMESPACE": n.namespace}},
    }


def function_arn(ctx: StepContext) -> str:
    """The function's ARN (looked up when this run did not make or check it)."""
    if ctx.function_arn is None:
        ctx.function_arn = ctx.client("lambda").get_function_configuration(FunctionName=ctx.names.function)["FunctionArn"]
    return ctx.function_arn


class Function:
    key = "function"
    title = "Lambda function"

    def name(self, names: ResourceNames, region: str) -> str:
        return names.function

    def plan(self, ctx: StepContext) -> PlannedResource:
        return PlannedResource(self.key, "Lambda function", ctx.names.function,
                               f"{LAMBDA_RUNTIME}, {LAMBDA_MEMORY_MB} MB, {LAMBDA_TIMEOUT_S} s, handler {HANDLER}")

    def describe(self, ctx: StepContext) -> dict[str, Any] | None:
        try:
            return ctx.client("lambda").get_function_configuration(FunctionName=ctx.names.function)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            return None

    def _wait_ready(self, ctx: StepContext) -> dict[str, Any]:
        """Active (botocore's ``function_active``) and its last update done
        (``function_updated``); a Failed state is a failed step, with AWS's reason. Not the
        ``_v2`` waiters: they call GetFunction, a right setup does not otherwise need. An
        emulator that reports no state counts as ready, as before the waiters."""
        name = ctx.names.function

        def failed(cfg: dict[str, Any]) -> str:
            return f"function {name} failed: {cfg.get('StateReason') or cfg.get('LastUpdateStatusReason')}"

        ctx.wait_for("lambda", "function_active", f"function {name} to become active",
                     failure=failed, unreported_is_ready=True, FunctionName=name)
        return ctx.wait_for("lambda", "function_updated", f"function {name} to finish updating",
                            failure=failed, unreported_is_ready=True, FunctionName=name)

    def ensure(self, ctx: StepContext) -> Outcome:
        lam = ctx.client("lambda")
        n = ctx.names
        if ctx.role_arn is None:
            ctx.role_arn = ctx.client("iam").get_role(RoleName=n.role)["Role"]["Arn"]
        package = ctx.package
        desired = desired_config(ctx)
        if self.describe(ctx) is None:
            ctx.retry_role_propagation(
                lambda: lam.create_function(
                    FunctionName=n.function,
                    Code={"ZipFile": package},
                    Description="crowdmood: Rekognition DetectFaces on face crops -> DynamoDB + CloudWatch",
                    Tags={"crowdmood": "setup"},
                    **desired,
                )
            )
            ctx.made(self.key)
            ctx.function_arn = self._wait_ready(ctx)["FunctionArn"]
            return Outcome("created", [])
        changes: list[str] = []
        cfg = self._wait_ready(ctx)
        if cfg.get("CodeSha256") != code_sha256(package):
            lam.update_function_code(FunctionName=n.function, ZipFile=package)
            changes.append("code updated")
            cfg = self._wait_ready(ctx)
        current = {
            "Runtime": cfg.get("Runtime"),
            "Handler": cfg.get("Handler"),
            "Role": cfg.get("Role"),
            "Timeout": cfg.get("Timeout"),
            "MemorySize": cfg.get("MemorySize"),
            "Environment": {"Variables": (cfg.get("Environment") or {}).get("Variables") or {}},
        }
        differing = [k for k in desired if current[k] != desired[k]]
        if differing:
            ctx.retry_role_propagation(lambda: lam.update_function_configuration(FunctionName=n.function, **desired))
            changes.append("configuration updated (" + ", ".join(differing) + ")")
            cfg = self._wait_ready(ctx)
        ctx.function_arn = cfg["FunctionArn"]
        return Outcome("adopted", changes)

    def delete(self, ctx: StepContext) -> bool:
        try:
            ctx.client("lambda").delete_function(FunctionName=ctx.names.function)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True
