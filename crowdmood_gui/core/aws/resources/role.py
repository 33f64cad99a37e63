"""The Lambda's IAM role: trusted by Lambda, one inline least-privilege policy."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from crowdmood_gui.core.aws import policies
from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext, error_code


class Role:
    key = "role"
    title = "IAM role for the Lambda"

    def name(self, names: ResourceNames, region: str) -> str:
        return names.role

    def plan(self, ctx: StepContext) -> PlannedResource:
        return PlannedResource(self.key, "IAM role", ctx.names.role, "trusted by Lambda; one inline least-privilege policy")

    def describe(self, ctx: StepContext) -> dict[str, Any] | None:
        try:
            return ctx.client("iam").get_role(RoleName=ctx.names.role)["Role"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            return None

    def ensure(self, ctx: StepContext) -> Outcome:
        iam = ctx.client("iam")
        n = ctx.names
        account = ctx.ensure_account()
        changes: list[str] = []
        trust = policies.lambda_trust_policy()
        role = self.describe(ctx)
        if role is not None:
            status = "adopted"
            if policies.normalise(role["AssumeRolePolicyDocument"]) != policies.normalise(trust):
                iam.update_assume_role_policy(RoleName=n.role, PolicyDocument=json.dumps(trust))
                changes.append("trust policy set to lambda.amazonaws.com")
        else:
            role = iam.create_role(
                RoleName=n.role,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description="crowdmood: the rekognize-emotions Lambda (least privilege)",
                Tags=[{"Key": "crowdmood", "Value": "setup"}],
            )["Role"]
            ctx.made(self.key)
            status = "created"
            ctx.wait_for("iam", "role_exists", f"role {n.role} to exist", RoleName=n.role)
        ctx.role_arn = role["Arn"]
        wanted = policies.lambda_inline_policy(n, ctx.region, account)
        try:
            current = iam.get_role_policy(RoleName=n.role, PolicyName=n.policy_name)["PolicyDocument"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            current = None
        if current is None or policies.normalise(current) != policies.normalise(wanted):
            iam.put_role_policy(RoleName=n.role, PolicyName=n.policy_name, PolicyDocument=json.dumps(wanted))
            if status == "adopted":
                changes.append("inline policy updated")
        attached = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=n.role).get("AttachedPolicies", [])]
        extra = [p for p in iam.list_role_policies(RoleName=n.role).get("PolicyNames", []) if p != n.policy_name]
        if attached or extra:
            ctx.log(
                f"warning: role {n.role} also has {', '.join(attached + extra)}: more privilege than the Lambda needs; "
                "remove them in the IAM console"
            )
        return Outcome(status, changes)

    def delete(self, ctx: StepContext) -> bool:
        iam = ctx.client("iam")
        role = ctx.names.role
        try:
            inline = iam.list_role_policies(RoleName=role).get("PolicyNames", [])
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return False
            raise
        for policy in inline:
            iam.delete_role_policy(RoleName=role, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=role).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=role)
        return True
