"""The first step: whose account and which region the run works in."""

from __future__ import annotations

from typing import Any

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext


class Identity:
    key = "identity"
    title = "Check the AWS identity"

    def name(self, names: ResourceNames, region: str) -> str:
        return region

    def plan(self, ctx: StepContext) -> None:
        return None

    def describe(self, ctx: StepContext) -> dict[str, Any]:
        reply = ctx.client("sts").get_caller_identity()
        return {"Account": reply["Account"], "Arn": reply.get("Arn"), "Region": ctx.region}

    def ensure(self, ctx: StepContext) -> Outcome:
        ctx.account = None
        account = ctx.ensure_account()
        ctx.log(f"account {account}, region {ctx.region}")
        return Outcome("checked", [])

    def delete(self, ctx: StepContext) -> bool:
        return False  # nothing to delete: the identity is the caller's
