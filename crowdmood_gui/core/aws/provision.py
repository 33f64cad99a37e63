"""Provision, verify and tear down the AWS side with direct, idempotent boto3 calls.

Each resource is one module under :mod:`crowdmood_gui.core.aws.resources` that can ensure
(describe -> create or adopt -> compare -> update), delete and describe itself; the
:class:`Provisioner` walks them in order. Running setup again after a failure (or after a
success) converges instead of failing on "already exists". What a run created is recorded
in the state file (:mod:`.state`), so teardown deletes only what setup made (a pre-existing
resource that setup adopted is kept); teardown also works from names alone. The report
lives in :mod:`.report`, verification in :mod:`.verify`, the config write-back in
:mod:`.config_writeback`. Qt-free: the wizard and ``crowdmood setup`` drive the same
:class:`Provisioner`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from crowdmood_gui.core.aws import policies, verify as verification
from crowdmood_gui.core.aws.clients import client, describe_aws_error
from crowdmood_gui.core.aws.config_writeback import apply_to_config, finish_setup, forget_setup, names_from_config
from crowdmood_gui.core.aws.lambda_zip import HANDLER
from crowdmood_gui.core.aws.naming import ResourceNames, validate_names
from crowdmood_gui.core.aws.report import OK_STATUSES, PlannedResource, Report, StepResult
from crowdmood_gui.core.aws.resources import BY_KEY, SETUP_ORDER, TEARDOWN_ORDER
from crowdmood_gui.core.aws.resources.base import LOG_RETENTION_DAYS, Cancelled, StepContext, StepFailed
from crowdmood_gui.core.aws.resources.bucket import TLS_STATEMENT_SID, plain_http_endpoint
from crowdmood_gui.core.aws.resources.dashboard import dashboard_body
from crowdmood_gui.core.aws.resources.failure_queue import (
    ASYNC_MAX_EVENT_AGE_S,
    ASYNC_MAX_RETRIES,
    FAILURE_RETENTION_S,
)
from crowdmood_gui.core.aws.resources.function import LAMBDA_MEMORY_MB, LAMBDA_RUNTIME, LAMBDA_TIMEOUT_S
from crowdmood_gui.core.aws.resources.notification import NOTIFICATION_ID
from crowdmood_gui.core.aws.resources.permission import PERMISSION_SID
from crowdmood_gui.core.aws.state import StateFile, default_state_path
from crowdmood_gui.core.aws.verify import REDRIVE_HINT, TEST_FACE, VerifyResult, s3_put_event
from crowdmood_gui.core.errors import AwsError, CrowdMoodError

# Step keys and titles in setup order; teardown walks TEARDOWN_ORDER.
STEPS: tuple[tuple[str, str], ...] = tuple((r.key, r.title) for r in SETUP_ORDER)
STEP_TITLES = dict(STEPS)


class Provisioner(StepContext):
    """Ordered, idempotent setup steps for one deployment (a region and a set of names)."""

    def __init__(self, session: boto3.Session, names: ResourceNames, **kwargs: Any):
        """``kwargs``: see :class:`StepContext` (log, on_step, cancel, state, sleep, clock,
        package, expiry_days, log_retention_days, propagation_timeout_s, wait_timeout_s)."""
        problems = validate_names(names)
        if problems:
            raise CrowdMoodError("invalid resource names: " + "; ".join(problems.values()))
        if not session.region_name:
            raise AwsError("no AWS region chosen: pass --region, set AWS_REGION, or pick one in the wizard")
        super().__init__(session, names, **kwargs)

    def _title_and_name(self, key: str) -> tuple[str, str]:
        resource = BY_KEY[key]
        return resource.title, resource.name(self.names, self.region)

    # plan / run -------------------------------------------------------------------------

    def plan(self) -> list[PlannedResource]:
        return [p for p in (r.plan(self) for r in SETUP_ORDER) if p is not None]

    def describe_plan(self) -> str:
        lines = [f"Region {self.region}; resources to create or adopt:"]
        lines += [f"  - {p.kind} '{p.name}': {p.details}" for p in self.plan()]
        return "\n".join(lines)

    def run(self, rollback_on_failure: bool = False) -> Report:
        report = Report("setup")
        self._run_made = []
        stop = False
        for resource in SETUP_ORDER:
            result = StepResult(resource.key, *self._title_and_name(resource.key), "skipped")
            report.steps.append(result)
            if stop:
                self.on_step(result)
                continue
            result.status = "running"
            self.on_step(result)
            try:
                self.check_cancel()
                result.status, result.changes = resource.ensure(self)
            except Cancelled:
                result.status, result.message = "cancelled", "cancelled by the user"
                report.cancelled = True
                stop = True
            except (ClientError, BotoCoreError) as exc:
                result.status, result.message = "failed", describe_aws_error(exc)
                stop = True
            except CrowdMoodError as exc:  # StepFailed included: its message says what to do
                result.status, result.message = "failed", str(exc)
                stop = True
            self.log(result.line())
            self.on_step(result)
        report.made = list(dict.fromkeys(self._run_made))
        if not report.ok and rollback_on_failure and report.made:
            self.log("Rolling back what this run created…")
            report.rollback = self._delete(report.made, action="rollback", force=True)
        self.log(report.summary())
        return report

    # teardown ---------------------------------------------------------------------------

    def teardown(self, *, only_created: bool | None = None) -> Report:
        """Delete what setup created (per the state file) or, without state, everything named.

        ``only_created``: None = use the state file when it knows this deployment.
        """
        created = self.state.created(self.region, self.names)
        if only_created is None:
            only_created = created is not None
        keys = list(TEARDOWN_ORDER)
        if only_created:
            keys = [k for k in keys if k in (created or set()) or k in ("notification", "permission")]
        report = self._delete(keys, action="teardown", force=False, keep=[k for k in TEARDOWN_ORDER if k not in keys])
        self.log(report.summary())
        return report

    def _delete(self, keys: list[str], *, action: str, force: bool, keep: list[str] = ()) -> Report:
        """Delete ``keys`` in teardown order; ``force`` (a rollback) ignores Cancel."""
        report = Report(action)
        for key in TEARDOWN_ORDER:
            if key in keep:
                report.steps.append(StepResult(key, *self._title_and_name(key), "kept", "existed before setup: left in place"))
                self.log(report.steps[-1].line())
                self.on_step(report.steps[-1])
                continue
            if key not in keys:
                continue
            result = StepResult(key, *self._title_and_name(key), "deleting")
            report.steps.append(result)
            if report.cancelled:
                result.status = "skipped"
                self.on_step(result)
                continue
            self.on_step(result)
            try:
                if not force:
                    self.check_cancel()
                result.status = "deleted" if BY_KEY[key].delete(self) else "absent"
            except Cancelled:
                result.status, result.message = "cancelled", "cancelled by the user"
                report.cancelled = True  # the remaining ones are reported as skipped
            except (ClientError, BotoCoreError) as exc:
                result.status, result.message = "failed", "could not delete: " + describe_aws_error(exc)
            except CrowdMoodError as exc:
                result.status, result.message = "failed", f"could not delete: {exc}"
            self.log(result.line())
            self.on_step(result)
        gone = report.with_status("deleted", "absent")
        self.state.remove_created(self.region, self.names, gone)
        return report

    # verify -----------------------------------------------------------------------------

    def verify(
        self,
        *,
        invoke: Callable[[dict[str, Any]], Any] | None = None,
        timeout_s: float = 120.0,
        poll_s: float = 2.0,
        image: Path = TEST_FACE,
        keep_object: bool = False,
    ) -> VerifyResult:
        """See :func:`crowdmood_gui.core.aws.verify.verify`."""
        return verification.verify(self, invoke=invoke, timeout_s=timeout_s, poll_s=poll_s, image=image, keep_object=keep_object)

    def failed_waiting(self) -> int | None:
        """Failed analyses waiting in the failure queue (None: no queue, or it cannot be read)."""
        return verification.failed_waiting(self)


def operator_policy_for(session: boto3.Session, names: ResourceNames, account: str | None = None) -> str:
    """The printed minimal IAM policy for the operator's own user (account looked up if needed)."""
    if account is None:
        try:
            account = client(session, "sts").get_caller_identity()["Account"]
        except (ClientError, BotoCoreError):
            account = "ACCOUNT_ID"
    return policies.operator_policy_json(names, session.region_name or "REGION", account)


# The public API of setup, one import away for ``commands/aws_setup.py``, the wizard and the tests.
__all__ = [
    "ASYNC_MAX_EVENT_AGE_S", "ASYNC_MAX_RETRIES", "FAILURE_RETENTION_S", "HANDLER", "LAMBDA_MEMORY_MB", "LAMBDA_RUNTIME",
    "LAMBDA_TIMEOUT_S", "LOG_RETENTION_DAYS", "NOTIFICATION_ID", "OK_STATUSES", "PERMISSION_SID", "REDRIVE_HINT", "STEPS",
    "STEP_TITLES", "TEARDOWN_ORDER", "TEST_FACE", "TLS_STATEMENT_SID",
    "Cancelled", "PlannedResource", "Provisioner", "Report", "StateFile", "StepFailed", "StepResult", "VerifyResult",
    "apply_to_config", "dashboard_body", "default_state_path", "finish_setup", "forget_setup", "names_from_config",
    "operator_policy_for", "plain_http_endpoint", "s3_put_event",
]
