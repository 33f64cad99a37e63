"""The CloudWatch dashboard: the bundled template with this deployment's names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from crowdmood_gui.core.aws.naming import ResourceNames
from crowdmood_gui.core.aws.report import PlannedResource
from crowdmood_gui.core.aws.resources.base import Outcome, StepContext, error_code
from crowdmood_gui.core.resources import RESOURCES_DIR
from crowdmood_gui.core.emotions import EMOTION_COLOURS

DASHBOARD_TEMPLATE = RESOURCES_DIR / "dashboard" / "dashboard.json"
DASHBOARD_CALM = "#777777"
NOT_FOUND_CODES = ("ResourceNotFound", "ResourceNotFoundException")


def dashboard_body(names: ResourceNames, region: str, template: Path = DASHBOARD_TEMPLATE) -> dict[str, Any]:
    """The dashboard: the template with this deployment's names, and each expression line
    in the console's colour (one palette, :data:`EMOTION_COLOURS`; the console's white
    CALM would vanish on the dashboard's light background: grey there)."""
    text = template.read_text(encoding="utf-8")
    for placeholder, value in (("${REGION}", region), ("${NAMESPACE}", names.namespace),
                               ("${FUNCTION}", names.function), ("${FAILURE_QUEUE}", names.failure_queue)):
        text = text.replace(placeholder, value)
    body = json.loads(text)
    for widget in body.get("widgets", []):
        for metric in widget.get("properties", {}).get("metrics", []):
            if metric[0] == names.namespace and metric[1] in EMOTION_COLOURS and isinstance(metric[-1], dict):
                metric[-1]["color"] = DASHBOARD_CALM if metric[1] == "CALM" else EMOTION_COLOURS[metric[1]]
    return body


class Dashboard:
    key = "dashboard"
    title = "CloudWatch dashboard"

    def name(self, names: ResourceNames, region: str) -> str:
        return names.dashboard

    def plan(self, ctx: StepContext) -> PlannedResource:
        n = ctx.names
        return PlannedResource(self.key, "CloudWatch dashboard", n.dashboard,
                               f"8 expressions + Faces (namespace {n.namespace}, 10 s), Lambda errors, failed analyses waiting, booth health")

    def describe(self, ctx: StepContext) -> dict[str, Any] | None:
        """The dashboard's current body (None: no dashboard)."""
        try:
            return json.loads(ctx.client("cloudwatch").get_dashboard(DashboardName=ctx.names.dashboard)["DashboardBody"])
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise
            return None

    def ensure(self, ctx: StepContext) -> Outcome:
        body = dashboard_body(ctx.names, ctx.region)
        current = self.describe(ctx)
        if current == body:
            return Outcome("adopted", [])
        reply = ctx.client("cloudwatch").put_dashboard(DashboardName=ctx.names.dashboard, DashboardBody=json.dumps(body))
        if current is None:
            ctx.made(self.key)
        problems = reply.get("DashboardValidationMessages") or []
        if problems:
            ctx.log("dashboard warnings: " + "; ".join(p.get("Message", "") for p in problems))
        return Outcome("created", []) if current is None else Outcome("adopted", ["dashboard body updated"])

    def delete(self, ctx: StepContext) -> bool:
        if self.describe(ctx) is None:
            return False
        ctx.client("cloudwatch").delete_dashboards(DashboardNames=[ctx.names.dashboard])
        return True
