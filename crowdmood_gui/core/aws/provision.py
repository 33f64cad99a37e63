"""Provision, verify and tear down the AWS side with direct, idempotent boto3 calls.

Every step is *create or adopt, then verify its settings*: running setup again after a
failure (or after a success) converges instead of failing on "already exists". What a run
created is recorded in a small state file next to the config, so teardown deletes only what
setup made (a pre-existing resource that setup adopted is kept); teardown also works from
names alone. Qt-free: the wizard and ``crowdmood setup`` drive the same :class:`Provisioner`.
"""

from __future__ import annotations

import json
import threading
import time  # noqa: F401  (monotonic clock default)
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote_plus

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from crowdmood_gui.core.aws import policies
from crowdmood_gui.core.aws.clients import client, describe_aws_error
from crowdmood_gui.core.aws.lambda_zip import HANDLER, build_lambda_zip, code_sha256
from crowdmood_gui.core.aws.naming import ResourceNames, validate_names
from crowdmood_gui.core.aws.redrive import count_waiting, find_queue_url
from crowdmood_gui.core.config import RESOURCES_DIR, AppConfig, default_config_path, load_config, save_config
from crowdmood_gui.core.emotions import EMOTION_COLOURS
from crowdmood_gui.core.errors import AwsError, CrowdMoodError
from crowdmood_gui.core.records import FACES_METRIC, SESSION_INDEX, CaptureMeta

STATE_FILE = "aws-state.json"
DASHBOARD_TEMPLATE = RESOURCES_DIR / "dashboard" / "dashboard.json"
TEST_FACE = RESOURCES_DIR / "test_face.jpg"

LAMBDA_RUNTIME = "python3.12"
LAMBDA_TIMEOUT_S = 30
LAMBDA_MEMORY_MB = 256
LOG_RETENTION_DAYS = 14
LIFECYCLE_RULE_ID = "crowdmood-expire-faces"
TLS_STATEMENT_SID = "DenyInsecureTransport"
PERMISSION_SID = "crowdmood-s3-invoke"
NOTIFICATION_ID = "crowdmood-faces-to-lambda"
VERIFY_CAMERA = "setup-verify"
# The failure queue and the function's async-invocation settings: AWS's own retries (2),
# then the event goes to the queue instead of being dropped; kept 14 days (the SQS maximum)
# for ``crowdmood aws-redrive``. 6 h is the longest an event may wait for a retry.
FAILURE_RETENTION_S = 14 * 24 * 3600
ASYNC_MAX_RETRIES = 2
ASYNC_MAX_EVENT_AGE_S = 6 * 3600
REDRIVE_HINT = "run crowdmood aws-redrive"

# Step keys in setup order; teardown walks them backwards.
STEPS: tuple[tuple[str, str], ...] = (
    ("identity", "Check the AWS identity"),
    ("table", "DynamoDB table"),
    ("bucket", "S3 bucket"),
    ("log_group", "Lambda log group"),
    ("role", "IAM role for the Lambda"),
    ("function", "Lambda function"),
    ("failure_queue", "Queue for failed analyses"),
    ("permission", "Permission for S3 to invoke the Lambda"),
    ("notification", "S3 notification to the Lambda"),
    ("dashboard", "CloudWatch dashboard"),
)
STEP_TITLES = dict(STEPS)
TEARDOWN_ORDER = ("notification", "permission", "dashboard", "function", "failure_queue", "role", "log_group", "bucket", "table")

OK_STATUSES = frozenset({"created", "adopted", "checked", "deleted", "absent", "kept"})


class Cancelled(CrowdMoodError):
    """The user pressed Cancel."""


class StepFailed(CrowdMoodError):
    """A step cannot converge; the message says what to do."""


@dataclass
class StepResult:
    key: str
    title: str
    resource: str
    status: str  # created | adopted | checked | failed | cancelled | skipped | deleted | absent | kept
    message: str = ""
    changes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    def line(self) -> str:
        text = f"{self.title} ({self.resource}): {self.status}"
        if self.changes:
            text += " [" + "; ".join(self.changes) + "]"
        if self.message:
            text += f": {self.message}"
        return text


@dataclass
class Report:
    action: str  # setup | teardown | rollback
    steps: list[StepResult] = field(default_factory=list)
    cancelled: bool = False
    rollback: "Report | None" = None
    # Resources this run created, including one whose step then failed half-way.
    made: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(step.ok for step in self.steps)

    def with_status(self, *statuses: str) -> list[str]:
        return [step.key for step in self.steps if step.status in statuses]

    @property
    def created(self) -> list[str]:
        return self.with_status("created")

    @property
    def adopted(self) -> list[str]:
        return self.with_status("adopted")

    @property
    def failed(self) -> list[StepResult]:
        return [step for step in self.steps if step.status == "failed"]

    @property
    def changed(self) -> bool:
        return any(step.status in ("created", "deleted") or step.changes for step in self.steps)

    def step(self, key: str) -> StepResult | None:
        return next((s for s in self.steps if s.key == key), None)

    def summary(self) -> str:
        if self.cancelled:
            head = f"{self.action} cancelled"
        elif self.ok:
            head = f"{self.action} succeeded"
        else:
            head = f"{self.action} failed: " + "; ".join(f"{s.title}: {s.message}" for s in self.failed)
        if self.action == "setup":
            head += f" (created: {', '.join(self.created) or 'nothing'}; adopted: {', '.join(self.adopted) or 'nothing'})"
        if self.rollback is not None:
            head += f"; rolled back: {', '.join(self.rollback.with_status('deleted')) or 'nothing'}"
            if not self.rollback.ok:
                head += " (some resources could not be deleted: see the log)"
        return head


@dataclass(frozen=True)
class PlannedResource:
    key: str
    kind: str
    name: str
    details: str


@dataclass
class VerifyResult:
    ok: bool
    message: str
    key: str = ""
    item: dict[str, Any] | None = None
    metric_seen: bool = False
    elapsed_s: float = 0.0
    failed_waiting: int | None = None  # messages in the failure queue (None: not known)


# --- state file ------------------------------------------------------------------------


def default_state_path() -> Path:
    """``aws-state.json`` next to the config file (``$CROWDMOOD_HOME`` when set)."""
    return default_config_path().parent / STATE_FILE


class StateFile:
    """Which resources setup created, per deployment (region + bucket)."""

    def __init__(self, path: Path | None = None):
        self.path = path if path is not None else default_state_path()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "deployments": []}
        except (OSError, ValueError) as exc:
            raise CrowdMoodError(f"{self.path}: cannot read the AWS setup state ({exc})") from None
        data.setdefault("deployments", [])
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(self.path)

    def deployments(self) -> list[dict[str, Any]]:
        return self._read()["deployments"]

    def find(self, region: str, bucket: str | None = None) -> dict[str, Any] | None:
        matches = [d for d in self.deployments() if d.get("region") == region and (bucket is None or d["names"].get("bucket") == bucket)]
        return matches[0] if len(matches) == 1 or (matches and bucket) else None

    def _update(self, region: str, names: ResourceNames, change: Callable[[dict[str, Any]], None], account: str | None = None) -> None:
        data = self._read()
        deployments = data["deployments"]
        entry = next((d for d in deployments if d.get("region") == region and d["names"].get("bucket") == names.bucket), None)
        if entry is None:
            entry = {"region": region, "names": names.to_dict(), "created": []}
            deployments.append(entry)
        entry["names"] = names.to_dict()
        if account:
            entry["account"] = account
        change(entry)
        entry["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        if not entry["created"]:
            deployments.remove(entry)
        self._write(data)

    def add_created(self, region: str, names: ResourceNames, key: str, account: str | None = None) -> None:
        def change(entry):
            if key not in entry["created"]:
                entry["created"].append(key)

        self._update(region, names, change, account)

    def remove_created(self, region: str, names: ResourceNames, keys: list[str]) -> None:
        if not self.path.exists():
            return

        def change(entry):
            entry["created"] = [k for k in entry["created"] if k not in keys]

        self._update(region, names, change)

    def created(self, region: str, names: ResourceNames) -> set[str] | None:
        entry = self.find(region, names.bucket)
        return set(entry["created"]) if entry else None


# --- documents ---------------------------------------------------------------------------


DASHBOARD_CALM = "#777777"


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


def plain_http_endpoint(s3_client: Any) -> str | None:
    """The S3 endpoint when it is plain ``http://`` (an emulator through ``AWS_ENDPOINT_URL``),
    else None. Over plain HTTP the TLS-only bucket policy would refuse every request the
    console and teardown make (403), so setup leaves it out there and says so."""
    url = str(getattr(getattr(s3_client, "meta", None), "endpoint_url", "") or "")
    return url if url.lower().startswith("http://") else None


EMULATOR_TLS_NOTE = ("S3 endpoint {url} is plain HTTP (an emulator): the TLS-only bucket policy is left out, "
                     "because it would refuse every upload and teardown over HTTP (403)")


def tls_only_statement(names: ResourceNames) -> dict[str, Any]:
    arn = policies.bucket_arn(names)
    return {
        "Sid": TLS_STATEMENT_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


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


def _destination(invoke_config: dict[str, Any] | None, kind: str) -> str | None:
    """The ``kind`` ("OnFailure" / "OnSuccess") destination ARN of a function's
    event-invoke config, None when it has none."""
    return (((invoke_config or {}).get("DestinationConfig") or {}).get(kind) or {}).get("Destination")


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


# --- the provisioner -------------------------------------------------------------------


class Provisioner:
    """Ordered, idempotent setup steps for one deployment (a region and a set of names)."""

    def __init__(
        self,
        session: boto3.Session,
        names: ResourceNames,
        *,
        log: Callable[[str], None] | None = None,
        on_step: Callable[[StepResult], None] | None = None,
        cancel: threading.Event | None = None,
        state: StateFile | None = None,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        package: bytes | None = None,
        expiry_days: int = 1,
        log_retention_days: int = LOG_RETENTION_DAYS,
        propagation_timeout_s: float = 90.0,
        wait_timeout_s: float = 300.0,
    ):
        problems = validate_names(names)
        if problems:
            raise CrowdMoodError("invalid resource names: " + "; ".join(problems.values()))
        self.session = session
        self.names = names
        self.region = session.region_name
        if not self.region:
            raise AwsError("no AWS region chosen: pass --region, set AWS_REGION, or pick one in the wizard")
        self.log = log or (lambda line: None)
        # Called with a step's result when it starts (status "running") and when it ends.
        self.on_step = on_step or (lambda result: None)
        self.cancel = cancel or threading.Event()
        self.state = state or StateFile()
        # Default wait: interruptible by Cancel. Tests inject a fake sleep + clock.
        self.sleep = sleep if sleep is not None else self.cancel.wait
        self.clock = clock
        self._package = package
        self.expiry_days = expiry_days
        self.log_retention_days = log_retention_days
        self.propagation_timeout_s = propagation_timeout_s
        self.wait_timeout_s = wait_timeout_s
        self.account: str | None = None
        self.role_arn: str | None = None
        self.function_arn: str | None = None
        self._clients: dict[str, Any] = {}
        self._run_made: list[str] = []

    # plumbing ---------------------------------------------------------------------------

    def _c(self, service: str):
        if service not in self._clients:
            self._clients[service] = client(self.session, service)
        return self._clients[service]

    @property
    def package(self) -> bytes:
        if self._package is None:
            self._package = build_lambda_zip()
        return self._package

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled by the user")

    def _pause(self, seconds: float) -> None:
        self._check_cancel()
        self.sleep(seconds)
        self._check_cancel()

    def _wait_until(self, what: str, ready: Callable[[], bool], *, timeout_s: float | None = None, every_s: float = 2.0) -> None:
        deadline = self.clock() + (timeout_s if timeout_s is not None else self.wait_timeout_s)
        while not ready():
            if self.clock() >= deadline:
                raise StepFailed(f"timed out waiting for {what}")
            self._pause(every_s)

    def _resource_name(self, key: str) -> str:
        n = self.names
        return {
            "identity": self.region,
            "table": n.table,
            "bucket": n.bucket,
            "log_group": n.log_group,
            "role": n.role,
            "function": n.function,
            "failure_queue": n.failure_queue,
            "permission": f"{n.function}/{PERMISSION_SID}",
            "notification": f"{n.bucket}/{NOTIFICATION_ID}",
            "dashboard": n.dashboard,
        }[key]

    def _made(self, key: str) -> None:
        """Record a creation at once, so a step failing later in its settings still counts."""
        self._run_made.append(key)
        self.state.add_created(self.region, self.names, key, self.account)

    def _ensure_account(self) -> str:
        if self.account is None:
            self.account = self._c("sts").get_caller_identity()["Account"]
        return self.account

    # plan / run -------------------------------------------------------------------------

    def plan(self) -> list[PlannedResource]:
        n = self.names
        return [
            PlannedResource("table", "DynamoDB table", n.table, f"partition key s3key, index {SESSION_INDEX}, on-demand, TTL on 'ttl'"),
            PlannedResource("bucket", "S3 bucket", n.bucket, f"private, encrypted (SSE-S3), TLS only, '{n.prefix}' expires after {self.expiry_days} day(s)"),
            PlannedResource("log_group", "CloudWatch Logs group", n.log_group, f"retention {self.log_retention_days} days"),
            PlannedResource("role", "IAM role", n.role, "trusted by Lambda; one inline least-privilege policy"),
            PlannedResource("function", "Lambda function", n.function, f"{LAMBDA_RUNTIME}, {LAMBDA_MEMORY_MB} MB, {LAMBDA_TIMEOUT_S} s, handler {HANDLER}"),
            PlannedResource(
                "failure_queue", "SQS queue", n.failure_queue,
                f"on-failure destination of {n.function} after {ASYNC_MAX_RETRIES} retries, encrypted (SSE-SQS), "
                f"kept {FAILURE_RETENTION_S // 86400} days for 'crowdmood aws-redrive'",
            ),
            PlannedResource("permission", "Lambda permission", PERMISSION_SID, f"s3.amazonaws.com may invoke it for bucket {n.bucket}"),
            PlannedResource("notification", "S3 event notification", NOTIFICATION_ID, f"s3:ObjectCreated:* under '{n.prefix}' -> {n.function}"),
            PlannedResource("dashboard", "CloudWatch dashboard", n.dashboard, f"8 expressions + Faces (namespace {n.namespace}, 10 s), Lambda errors, failed analyses waiting, booth health"),
        ]

    def describe_plan(self) -> str:
        lines = [f"Region {self.region}; resources to create or adopt:"]
        lines += [f"  - {p.kind} '{p.name}': {p.details}" for p in self.plan()]
        return "\n".join(lines)

    def run(self, rollback_on_failure: bool = False) -> Report:
        report = Report("setup")
        self._run_made = []
        steps = {
            "identity": self._step_identity,
            "table": self._step_table,
            "bucket": self._step_bucket,
            "log_group": self._step_log_group,
            "role": self._step_role,
            "function": self._step_function,
            "failure_queue": self._step_failure_queue,
            "permission": self._step_permission,
            "notification": self._step_notification,
            "dashboard": self._step_dashboard,
        }
        stop = False
        for key, title in STEPS:
            result = StepResult(key, title, self._resource_name(key), "skipped")
            report.steps.append(result)
            if stop:
                self.on_step(result)
                continue
            result.status = "running"
            self.on_step(result)
            try:
                self._check_cancel()
                status, changes = steps[key]()
                result.status, result.changes = status, changes
            except Cancelled:
                result.status, result.message = "cancelled", "cancelled by the user"
                report.cancelled = True
                stop = True
            except StepFailed as exc:
                result.status, result.message = "failed", str(exc)
                stop = True
            except (ClientError, BotoCoreError) as exc:
                result.status, result.message = "failed", describe_aws_error(exc)
                stop = True
            except CrowdMoodError as exc:
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

    # steps --------------------------------------------------------------------------------

    def _step_identity(self) -> tuple[str, list[str]]:
        self.account = None
        account = self._ensure_account()
        self.log(f"account {account}, region {self.region}")
        return "checked", []

    def _step_table(self) -> tuple[str, list[str]]:
        ddb = self._c("dynamodb")
        n = self.names
        changes: list[str] = []
        try:
            desc = ddb.describe_table(TableName=n.table)["Table"]
            status = "adopted"
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            ddb.create_table(
                TableName=n.table,
                AttributeDefinitions=[
                    {"AttributeName": "s3key", "AttributeType": "S"},
                    {"AttributeName": "session", "AttributeType": "S"},
                    {"AttributeName": "captured_at", "AttributeType": "S"},
                ],
                KeySchema=[{"AttributeName": "s3key", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                GlobalSecondaryIndexes=[self._gsi()],
                Tags=[{"Key": "crowdmood", "Value": "setup"}],
            )
            self._made("table")
            status = "created"
        desc = self._wait_table_active()
        keys = [(k["AttributeName"], k["KeyType"]) for k in desc["KeySchema"]]
        if keys != [("s3key", "HASH")]:
            raise StepFailed(f"table '{n.table}' exists with another key schema {keys} (expected s3key): choose another name")
        billing = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if billing != "PAY_PER_REQUEST":
            ddb.update_table(TableName=n.table, BillingMode="PAY_PER_REQUEST")
            changes.append("billing set to on-demand")
            desc = self._wait_table_active()
        gsis = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes") or []}
        if SESSION_INDEX not in gsis:
            ddb.update_table(
                TableName=n.table,
                AttributeDefinitions=[
                    {"AttributeName": "session", "AttributeType": "S"},
                    {"AttributeName": "captured_at", "AttributeType": "S"},
                ],
                GlobalSecondaryIndexUpdates=[{"Create": self._gsi()}],
            )
            changes.append(f"index {SESSION_INDEX} added")
            self._wait_table_active()
        else:
            gsi = gsis[SESSION_INDEX]
            gkeys = [(k["AttributeName"], k["KeyType"]) for k in gsi["KeySchema"]]
            if gkeys != [("session", "HASH"), ("captured_at", "RANGE")] or gsi["Projection"]["ProjectionType"] != "ALL":
                raise StepFailed(f"table '{n.table}' has an index {SESSION_INDEX} with other keys: choose another table name")
        ttl = ddb.describe_time_to_live(TableName=n.table)["TimeToLiveDescription"]
        if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            if ttl.get("AttributeName") != "ttl":
                raise StepFailed(f"table '{n.table}' has TTL on '{ttl.get('AttributeName')}', not 'ttl': choose another name")
        else:
            ddb.update_time_to_live(TableName=n.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
            if status == "adopted":
                changes.append("TTL enabled on 'ttl'")
        return status, changes

    @staticmethod
    def _gsi() -> dict[str, Any]:
        return {
            "IndexName": SESSION_INDEX,
            "KeySchema": [
                {"AttributeName": "session", "KeyType": "HASH"},
                {"AttributeName": "captured_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }

    def _wait_table_active(self) -> dict[str, Any]:
        ddb = self._c("dynamodb")
        holder: dict[str, Any] = {}

        def ready() -> bool:
            desc = ddb.describe_table(TableName=self.names.table)["Table"]
            holder["desc"] = desc
            gsis_ready = all(g.get("IndexStatus", "ACTIVE") == "ACTIVE" for g in desc.get("GlobalSecondaryIndexes") or [])
            return desc.get("TableStatus") == "ACTIVE" and gsis_ready

        self._wait_until(f"table {self.names.table} to become ACTIVE", ready)
        return holder["desc"]

    def _step_bucket(self) -> tuple[str, list[str]]:
        s3 = self._c("s3")
        n = self.names
        account = self._ensure_account()
        changes: list[str] = []
        status = "adopted"
        try:
            s3.head_bucket(Bucket=n.bucket, ExpectedBucketOwner=account)
        except ClientError as exc:
            if _status(exc) == 403 or _code(exc) in ("403", "AccessDenied", "Forbidden"):
                raise StepFailed(f"bucket name '{n.bucket}' is taken by another AWS account: choose another suffix") from None
            if _status(exc) != 404 and _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            kwargs: dict[str, Any] = {"Bucket": n.bucket}
            if self.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            try:
                s3.create_bucket(**kwargs)
                self._made("bucket")
                status = "created"
            except ClientError as exc2:
                if _code(exc2) == "BucketAlreadyExists":
                    raise StepFailed(f"bucket name '{n.bucket}' is taken (bucket names are global): choose another suffix") from None
                if _code(exc2) != "BucketAlreadyOwnedByYou":
                    raise
        location = s3.get_bucket_location(Bucket=n.bucket).get("LocationConstraint") or "us-east-1"
        if location == "EU":
            location = "eu-west-1"
        if location != self.region:
            raise StepFailed(f"bucket '{n.bucket}' is in {location}, not {self.region}: choose another name or region")

        block = {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
        try:
            current = s3.get_public_access_block(Bucket=n.bucket)["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            if _code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise
            current = {}
        if any(current.get(k) is not True for k in block):
            s3.put_public_access_block(Bucket=n.bucket, PublicAccessBlockConfiguration=block)
            changes.append("public access blocked")

        try:
            rules = s3.get_bucket_encryption(Bucket=n.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        except ClientError as exc:
            if _code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            rules = []
        algorithms = {(r.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm") for r in rules}
        if not algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}:
            s3.put_bucket_encryption(
                Bucket=n.bucket,
                ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            )
            changes.append("default encryption (SSE-S3)")

        try:
            lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=n.bucket)["Rules"]
        except ClientError as exc:
            if _code(exc) != "NoSuchLifecycleConfiguration":
                raise
            lifecycle = []
        wanted_rule = {
            "ID": LIFECYCLE_RULE_ID,
            "Filter": {"Prefix": n.prefix},
            "Status": "Enabled",
            "Expiration": {"Days": self.expiry_days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
        ours = next((r for r in lifecycle if r.get("ID") == LIFECYCLE_RULE_ID), None)
        if ours is None or not self._lifecycle_matches(ours, wanted_rule):
            others = [r for r in lifecycle if r.get("ID") != LIFECYCLE_RULE_ID]
            s3.put_bucket_lifecycle_configuration(Bucket=n.bucket, LifecycleConfiguration={"Rules": others + [wanted_rule]})
            changes.append(f"'{n.prefix}' expires after {self.expiry_days} day(s)")

        try:
            doc = json.loads(s3.get_bucket_policy(Bucket=n.bucket)["Policy"])
        except ClientError as exc:
            if _code(exc) != "NoSuchBucketPolicy":
                raise
            doc = {"Version": policies.VERSION, "Statement": []}
        statements = doc.get("Statement") or []
        if isinstance(statements, dict):
            statements = [statements]
        insecure = plain_http_endpoint(s3)
        if insecure:
            self.log(EMULATOR_TLS_NOTE.format(url=insecure))
            if any(s.get("Sid") == TLS_STATEMENT_SID for s in statements):
                others = [s for s in statements if s.get("Sid") != TLS_STATEMENT_SID]
                if others:
                    s3.put_bucket_policy(Bucket=n.bucket, Policy=json.dumps({**doc, "Statement": others}))
                else:
                    s3.delete_bucket_policy(Bucket=n.bucket)
                changes.append("TLS-only bucket policy removed (plain-HTTP endpoint)")
            return status, (changes if status == "adopted" else [])
        wanted_stmt = tls_only_statement(n)
        ours_stmt = next((s for s in statements if s.get("Sid") == TLS_STATEMENT_SID), None)
        if ours_stmt is None or policies.normalise(ours_stmt) != policies.normalise(wanted_stmt):
            doc["Statement"] = [s for s in statements if s.get("Sid") != TLS_STATEMENT_SID] + [wanted_stmt]
            doc.setdefault("Version", policies.VERSION)
            s3.put_bucket_policy(Bucket=n.bucket, Policy=json.dumps(doc))
            changes.append("TLS-only bucket policy")
        return status, (changes if status == "adopted" else [])

    @staticmethod
    def _lifecycle_matches(rule: dict[str, Any], wanted: dict[str, Any]) -> bool:
        prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix"))
        return (
            rule.get("Status") == "Enabled"
            and prefix == wanted["Filter"]["Prefix"]
            and (rule.get("Expiration") or {}).get("Days") == wanted["Expiration"]["Days"]
        )

    def _step_log_group(self) -> tuple[str, list[str]]:
        logs = self._c("logs")
        name = self.names.log_group
        groups = [g for g in logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", []) if g["logGroupName"] == name]
        status = "adopted"
        if not groups:
            try:
                logs.create_log_group(logGroupName=name, tags={"crowdmood": "setup"})
                self._made("log_group")
                status = "created"
            except ClientError as exc:
                if _code(exc) != "ResourceAlreadyExistsException":
                    raise
            groups = [{}]
        changes = []
        if groups[0].get("retentionInDays") != self.log_retention_days:
            logs.put_retention_policy(logGroupName=name, retentionInDays=self.log_retention_days)
            if status == "adopted":
                changes.append(f"retention {self.log_retention_days} days")
        return status, changes

    def _step_role(self) -> tuple[str, list[str]]:
        iam = self._c("iam")
        n = self.names
        account = self._ensure_account()
        changes: list[str] = []
        trust = policies.lambda_trust_policy()
        try:
            role = iam.get_role(RoleName=n.role)["Role"]
            status = "adopted"
            if policies.normalise(role["AssumeRolePolicyDocument"]) != policies.normalise(trust):
                iam.update_assume_role_policy(RoleName=n.role, PolicyDocument=json.dumps(trust))
                changes.append("trust policy set to lambda.amazonaws.com")
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
            role = iam.create_role(
                RoleName=n.role,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description="crowdmood: the rekognize-emotions Lambda (least privilege)",
                Tags=[{"Key": "crowdmood", "Value": "setup"}],
            )["Role"]
            self._made("role")
            status = "created"
        self.role_arn = role["Arn"]
        wanted = policies.lambda_inline_policy(n, self.region, account)
        try:
            current = iam.get_role_policy(RoleName=n.role, PolicyName=n.policy_name)["PolicyDocument"]
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise
            current = None
        if current is None or policies.normalise(current) != policies.normalise(wanted):
            iam.put_role_policy(RoleName=n.role, PolicyName=n.policy_name, PolicyDocument=json.dumps(wanted))
            if status == "adopted":
                changes.append("inline policy updated")
        attached = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=n.role).get("AttachedPolicies", [])]
        extra = [p for p in iam.list_role_policies(RoleName=n.role).get("PolicyNames", []) if p != n.policy_name]
        if attached or extra:
            self.log(
                f"warning: role {n.role} also has {', '.join(attached + extra)}: more privilege than the Lambda needs; "
                "remove them in the IAM console"
            )
        return status, changes

    def _desired_function_config(self) -> dict[str, Any]:
        n = self.names
        return {
            "Runtime": LAMBDA_RUNTIME,
            "Handler": HANDLER,
            "Role": self.role_arn,
            "Timeout": LAMBDA_TIMEOUT_S,
            "MemorySize": LAMBDA_MEMORY_MB,
            "Environment": {"Variables": {"FACES_TABLE": n.table, "FACES_PREFIX": n.prefix, "METRIC_NAMESPACE": n.namespace}},
        }

    def _retry_role_propagation(self, call: Callable[[], Any], *, symptom: str = "assume") -> Any:
        """IAM is eventually consistent: a new role 'cannot be assumed' for a few seconds, and
        a new policy statement is 'missing' (``symptom="sendmessage"``: "…does not have
        permissions to call SendMessage on SQS") for a few seconds."""
        deadline = self.clock() + self.propagation_timeout_s
        delay = 1.0
        while True:
            try:
                return call()
            except ClientError as exc:
                message = exc.response.get("Error", {}).get("Message", "")
                if _code(exc) != "InvalidParameterValueException" or symptom not in message.lower():
                    raise
                if self.clock() + delay > deadline:
                    what = "the new IAM role is still not usable by Lambda" if symptom == "assume" else (
                        f"Lambda still finds the role lacking ({message})")
                    raise StepFailed(f"{what} after {self.propagation_timeout_s:.0f} s: run setup again in a minute") from None
                self.log(f"waiting {delay:.0f} s for the IAM role to propagate…")
                self._pause(delay)
                delay = min(delay * 2, 10.0)

    def _wait_function_ready(self) -> dict[str, Any]:
        lam = self._c("lambda")
        holder: dict[str, Any] = {}

        def ready() -> bool:
            cfg = lam.get_function_configuration(FunctionName=self.names.function)
            holder["cfg"] = cfg
            if cfg.get("State") == "Failed" or cfg.get("LastUpdateStatus") == "Failed":
                raise StepFailed(f"function {self.names.function} failed: {cfg.get('StateReason') or cfg.get('LastUpdateStatusReason')}")
            return cfg.get("State", "Active") == "Active" and cfg.get("LastUpdateStatus", "Successful") != "InProgress"

        self._wait_until(f"function {self.names.function} to become active", ready)
        return holder["cfg"]

    def _step_function(self) -> tuple[str, list[str]]:
        lam = self._c("lambda")
        n = self.names
        if self.role_arn is None:
            self.role_arn = self._c("iam").get_role(RoleName=n.role)["Role"]["Arn"]
        package = self.package
        sha = code_sha256(package)
        desired = self._desired_function_config()
        changes: list[str] = []
        try:
            cfg = lam.get_function_configuration(FunctionName=n.function)
            status = "adopted"
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            self._retry_role_propagation(
                lambda: lam.create_function(
                    FunctionName=n.function,
                    Code={"ZipFile": package},
                    Description="crowdmood: Rekognition DetectFaces on face crops -> DynamoDB + CloudWatch",
                    Tags={"crowdmood": "setup"},
                    **desired,
                )
            )
            self._made("function")
            cfg = self._wait_function_ready()
            self.function_arn = cfg["FunctionArn"]
            return "created", []
        cfg = self._wait_function_ready()
        if cfg.get("CodeSha256") != sha:
            lam.update_function_code(FunctionName=n.function, ZipFile=package)
            changes.append("code updated")
            cfg = self._wait_function_ready()
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
            self._retry_role_propagation(lambda: lam.update_function_configuration(FunctionName=n.function, **desired))
            changes.append("configuration updated (" + ", ".join(differing) + ")")
            cfg = self._wait_function_ready()
        self.function_arn = cfg["FunctionArn"]
        return status, changes

    def _step_failure_queue(self) -> tuple[str, list[str]]:
        """The queue the Lambda's failed async events go to, and the function's settings
        that send them there (without it AWS drops an event after two retries)."""
        sqs, lam = self._c("sqs"), self._c("lambda")
        n = self.names
        wanted = {"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": str(FAILURE_RETENTION_S)}
        changes: list[str] = []
        url = find_queue_url(sqs, n.failure_queue)
        status = "adopted"
        if url is None:
            try:
                url = sqs.create_queue(QueueName=n.failure_queue, Attributes=wanted, tags={"crowdmood": "setup"})["QueueUrl"]
            except ClientError as exc:
                if "QueueDeletedRecently" in _code(exc):
                    raise StepFailed(f"queue {n.failure_queue} was deleted less than 60 s ago: run setup again in a minute") from None
                raise
            self._made("failure_queue")
            status = "created"
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        drifted = {k: v for k, v in wanted.items() if str(attrs.get(k, "")).lower() != v}
        if attrs.get("KmsMasterKeyId"):  # an adopted queue encrypted with a KMS key: already
            drifted.pop("SqsManagedSseEnabled", None)  # encrypted, and SQS allows one SSE kind
        if drifted:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=drifted)
            if "SqsManagedSseEnabled" in drifted:
                changes.append("encryption (SSE-SQS) enabled")
            if "MessageRetentionPeriod" in drifted:
                changes.append(f"retention {FAILURE_RETENTION_S // 86400} days")
        queue_arn = attrs["QueueArn"]
        try:
            current = lam.get_function_event_invoke_config(FunctionName=n.function)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            current = None
        if current is None or not self._invoke_config_matches(current, queue_arn):
            destinations: dict[str, Any] = {"OnFailure": {"Destination": queue_arn}}
            on_success = _destination(current, "OnSuccess")
            if on_success:  # not ours: keep it
                destinations["OnSuccess"] = {"Destination": on_success}
            # Lambda checks that the role may sqs:SendMessage: the role step's new statement
            # may take a few seconds to be visible.
            self._retry_role_propagation(
                lambda: lam.put_function_event_invoke_config(
                    FunctionName=n.function,
                    MaximumRetryAttempts=ASYNC_MAX_RETRIES,
                    MaximumEventAgeInSeconds=ASYNC_MAX_EVENT_AGE_S,
                    DestinationConfig=destinations,
                ),
                symptom="sendmessage",
            )
            previous = _destination(current, "OnFailure")
            if previous and previous != queue_arn:
                changes.append(f"on-failure destination {previous} replaced by this queue")
            elif status == "adopted":
                changes.append(f"{n.function} sends failed events here" if current is None else "async invocation settings fixed")
        return status, changes

    @staticmethod
    def _invoke_config_matches(cfg: dict[str, Any], queue_arn: str) -> bool:
        return (
            cfg.get("MaximumRetryAttempts") == ASYNC_MAX_RETRIES
            and cfg.get("MaximumEventAgeInSeconds") == ASYNC_MAX_EVENT_AGE_S
            and _destination(cfg, "OnFailure") == queue_arn
        )

    def failed_waiting(self) -> int | None:
        """Failed analyses waiting in the failure queue (None: no queue, or it cannot be read)."""
        try:
            return count_waiting(self._c("sqs"), self.names.failure_queue)
        except (ClientError, BotoCoreError) as exc:
            self.log(f"cannot count the failed analyses waiting: {describe_aws_error(exc)}")
            return None

    def _function_arn(self) -> str:
        if self.function_arn is None:
            self.function_arn = self._c("lambda").get_function_configuration(FunctionName=self.names.function)["FunctionArn"]
        return self.function_arn

    def _our_permission(self) -> dict[str, Any] | None:
        try:
            doc = json.loads(self._c("lambda").get_policy(FunctionName=self.names.function)["Policy"])
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            return None
        return next((s for s in doc.get("Statement", []) if s.get("Sid") == PERMISSION_SID), None)

    def _permission_matches(self, stmt: dict[str, Any]) -> bool:
        condition = stmt.get("Condition") or {}
        flat = {k.lower(): v for block in condition.values() for k, v in block.items()}
        principal = stmt.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        return (
            service == "s3.amazonaws.com"
            and stmt.get("Action") == "lambda:InvokeFunction"
            and stmt.get("Effect") == "Allow"
            and flat.get("aws:sourcearn") == policies.bucket_arn(self.names)
            and flat.get("aws:sourceaccount") == self.account
        )

    def _step_permission(self) -> tuple[str, list[str]]:
        lam = self._c("lambda")
        self._ensure_account()
        stmt = self._our_permission()
        if stmt is not None and self._permission_matches(stmt):
            return "adopted", []
        changes = []
        if stmt is not None:
            lam.remove_permission(FunctionName=self.names.function, StatementId=PERMISSION_SID)
            changes.append("permission replaced")
        lam.add_permission(
            FunctionName=self.names.function,
            StatementId=PERMISSION_SID,
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=policies.bucket_arn(self.names),
            SourceAccount=self.account,
        )
        if stmt is None:
            self._made("permission")
        return ("adopted", changes) if stmt is not None else ("created", [])

    def _notification(self) -> dict[str, Any]:
        cfg = self._c("s3").get_bucket_notification_configuration(Bucket=self.names.bucket)
        cfg.pop("ResponseMetadata", None)
        return cfg

    def _step_notification(self) -> tuple[str, list[str]]:
        n = self.names
        arn = self._function_arn()
        cfg = self._notification()
        wanted = {
            "Id": NOTIFICATION_ID,
            "LambdaFunctionArn": arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": n.prefix}]}},
        }
        configs = cfg.get("LambdaFunctionConfigurations", [])
        ours = next((c for c in configs if c.get("Id") == NOTIFICATION_ID), None)
        if ours is not None and self._notification_matches(ours, wanted):
            return "adopted", []
        cfg["LambdaFunctionConfigurations"] = [c for c in configs if c.get("Id") != NOTIFICATION_ID] + [wanted]
        self._c("s3").put_bucket_notification_configuration(Bucket=n.bucket, NotificationConfiguration=cfg)
        if ours is None:
            self._made("notification")
        return ("adopted", ["notification updated"]) if ours is not None else ("created", [])

    @staticmethod
    def _notification_matches(ours: dict[str, Any], wanted: dict[str, Any]) -> bool:
        rules = {(r["Name"].lower(), r["Value"]) for r in ((ours.get("Filter") or {}).get("Key") or {}).get("FilterRules", [])}
        return (
            ours.get("LambdaFunctionArn") == wanted["LambdaFunctionArn"]
            and sorted(ours.get("Events", [])) == wanted["Events"]
            and rules == {("prefix", wanted["Filter"]["Key"]["FilterRules"][0]["Value"])}
        )

    def _step_dashboard(self) -> tuple[str, list[str]]:
        cw = self._c("cloudwatch")
        body = dashboard_body(self.names, self.region)
        try:
            current = json.loads(cw.get_dashboard(DashboardName=self.names.dashboard)["DashboardBody"])
        except ClientError as exc:
            if _code(exc) not in ("ResourceNotFound", "ResourceNotFoundException"):
                raise
            current = None
        if current == body:
            return "adopted", []
        reply = cw.put_dashboard(DashboardName=self.names.dashboard, DashboardBody=json.dumps(body))
        if current is None:
            self._made("dashboard")
        problems = reply.get("DashboardValidationMessages") or []
        if problems:
            self.log("dashboard warnings: " + "; ".join(p.get("Message", "") for p in problems))
        return ("created", []) if current is None else ("adopted", ["dashboard body updated"])

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
        report = Report(action)
        deleters = {
            "notification": self._delete_notification,
            "permission": self._delete_permission,
            "dashboard": self._delete_dashboard,
            "function": self._delete_function,
            "failure_queue": self._delete_failure_queue,
            "role": self._delete_role,
            "log_group": self._delete_log_group,
            "bucket": self._delete_bucket,
            "table": self._delete_table,
        }
        for key in TEARDOWN_ORDER:
            if key in keep:
                report.steps.append(StepResult(key, STEP_TITLES[key], self._resource_name(key), "kept", "existed before setup: left in place"))
                self.log(report.steps[-1].line())
                self.on_step(report.steps[-1])
                continue
            if key not in keys:
                continue
            result = StepResult(key, STEP_TITLES[key], self._resource_name(key), "deleting")
            report.steps.append(result)
            if report.cancelled:
                result.status = "skipped"
                self.on_step(result)
                continue
            self.on_step(result)
            try:
                if not force:
                    self._check_cancel()
                result.status = "deleted" if deleters[key]() else "absent"
            except Cancelled:
                result.status, result.message = "cancelled", "cancelled by the user"
                report.cancelled = True  # the remaining ones are reported as skipped
            except (ClientError, BotoCoreError) as exc:
                result.status, result.message = "failed", "could not delete: " + describe_aws_error(exc)
            except CrowdMoodError as exc:
                result.status, result.message = "failed", f"could not delete: {exc}"
            self.log(result.line())
            self.on_step(result)
        gone = [s.key for s in report.steps if s.status in ("deleted", "absent")]
        self.state.remove_created(self.region, self.names, gone)
        return report

    def _delete_notification(self) -> bool:
        try:
            cfg = self._notification()
        except ClientError as exc:
            if _code(exc) == "NoSuchBucket":
                return False
            raise
        configs = cfg.get("LambdaFunctionConfigurations", [])
        if not any(c.get("Id") == NOTIFICATION_ID for c in configs):
            return False
        cfg["LambdaFunctionConfigurations"] = [c for c in configs if c.get("Id") != NOTIFICATION_ID]
        if not cfg["LambdaFunctionConfigurations"]:
            del cfg["LambdaFunctionConfigurations"]
        self._c("s3").put_bucket_notification_configuration(Bucket=self.names.bucket, NotificationConfiguration=cfg)
        return True

    def _delete_permission(self) -> bool:
        if self._our_permission() is None:
            return False
        try:
            self._c("lambda").remove_permission(FunctionName=self.names.function, StatementId=PERMISSION_SID)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    def _delete_dashboard(self) -> bool:
        cw = self._c("cloudwatch")
        try:
            cw.get_dashboard(DashboardName=self.names.dashboard)
        except ClientError as exc:
            if _code(exc) in ("ResourceNotFound", "ResourceNotFoundException"):
                return False
            raise
        cw.delete_dashboards(DashboardNames=[self.names.dashboard])
        return True

    def _delete_function(self) -> bool:
        try:
            self._c("lambda").delete_function(FunctionName=self.names.function)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    def _delete_failure_queue(self) -> bool:
        sqs = self._c("sqs")
        url = find_queue_url(sqs, self.names.failure_queue)
        if url is None:
            return False
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "ApproximateNumberOfMessages"])["Attributes"]
        # Deleting the function removes its invoke config; a function kept (adopted) must not
        # keep pointing at a queue that is gone.
        try:
            lam = self._c("lambda")
            cfg = lam.get_function_event_invoke_config(FunctionName=self.names.function)
            if _destination(cfg, "OnFailure") == attrs.get("QueueArn"):
                on_success = _destination(cfg, "OnSuccess")
                if on_success:  # not ours: keep it and the retry settings, drop only our queue
                    lam.put_function_event_invoke_config(
                        FunctionName=self.names.function,
                        MaximumRetryAttempts=cfg.get("MaximumRetryAttempts", ASYNC_MAX_RETRIES),
                        MaximumEventAgeInSeconds=cfg.get("MaximumEventAgeInSeconds", ASYNC_MAX_EVENT_AGE_S),
                        DestinationConfig={"OnSuccess": {"Destination": on_success}},
                    )
                else:
                    lam.delete_function_event_invoke_config(FunctionName=self.names.function)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
        waiting = int(attrs.get("ApproximateNumberOfMessages", 0))
        if waiting:
            self.log(f"deleting {waiting} failed analyses that were never redriven (their crops go with the bucket)")
        sqs.delete_queue(QueueUrl=url)
        return True

    def _delete_role(self) -> bool:
        iam = self._c("iam")
        n = self.names
        try:
            names = iam.list_role_policies(RoleName=n.role).get("PolicyNames", [])
        except ClientError as exc:
            if _code(exc) == "NoSuchEntity":
                return False
            raise
        for policy in names:
            iam.delete_role_policy(RoleName=n.role, PolicyName=policy)
        for attached in iam.list_attached_role_policies(RoleName=n.role).get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=n.role, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=n.role)
        return True

    def _delete_log_group(self) -> bool:
        try:
            self._c("logs").delete_log_group(logGroupName=self.names.log_group)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

    def _delete_bucket(self) -> bool:
        s3 = self._c("s3")
        bucket = self.names.bucket
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if _status(exc) == 404 or _code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        insecure = plain_http_endpoint(s3)
        if insecure:
            # A bucket made by an older setup over HTTP carries the TLS-only Deny: drop it
            # first, or every delete below is refused with 403.
            try:
                doc = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
                if any(s.get("Sid") == TLS_STATEMENT_SID for s in doc.get("Statement") or []):
                    s3.delete_bucket_policy(Bucket=bucket)
                    self.log(f"removed the TLS-only bucket policy of {bucket}: {insecure} is plain HTTP")
            except ClientError as exc:
                if _code(exc) != "NoSuchBucketPolicy":
                    if _status(exc) == 403 or _code(exc) == "AccessDenied":
                        raise StepFailed(
                            f"bucket {bucket} has the TLS-only policy, which refuses every request over plain "
                            f"HTTP ({insecure}): delete it over HTTPS, or reset the emulator") from None
                    raise
        self.log(f"emptying bucket {bucket} (all object versions)…")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            batch = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            self._delete_objects(bucket, batch)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            self._delete_objects(bucket, [{"Key": o["Key"]} for o in page.get("Contents", [])])
        for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        s3.delete_bucket(Bucket=bucket)
        return True

    def _delete_objects(self, bucket: str, objects: list[dict[str, str]]) -> None:
        for start in range(0, len(objects), 1000):
            reply = self._c("s3").delete_objects(Bucket=bucket, Delete={"Objects": objects[start : start + 1000], "Quiet": True})
            errors = reply.get("Errors") or []
            if errors:
                first = errors[0]
                raise StepFailed(f"{len(errors)} object(s) could not be deleted (e.g. {first.get('Key')}: {first.get('Code')})")

    def _delete_table(self) -> bool:
        try:
            self._c("dynamodb").delete_table(TableName=self.names.table)
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return False
            raise
        return True

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
        """Upload the bundled test face, wait for its DynamoDB item and its metric; then
        count the failed analyses waiting in the failure queue (the message says so).

        ``invoke(event)``: call the function yourself with the S3 event (emulators without
        a Lambda runtime); None = S3 triggers the real function.
        """
        result = self._verify_pipeline(invoke=invoke, timeout_s=timeout_s, poll_s=poll_s, image=image, keep_object=keep_object)
        result.failed_waiting = self.failed_waiting()
        if result.failed_waiting:
            line = f"{result.failed_waiting} failed analyses waiting: {REDRIVE_HINT}"
            result.message += f"; {line}"
            self.log(line)
        return result

    def _verify_pipeline(
        self,
        *,
        invoke: Callable[[dict[str, Any]], Any] | None,
        timeout_s: float,
        poll_s: float,
        image: Path,
        keep_object: bool,
    ) -> VerifyResult:
        start = self.clock()
        s3, ddb, cw = self._c("s3"), self._c("dynamodb"), self._c("cloudwatch")
        n = self.names
        now = datetime.now(UTC)
        meta = CaptureMeta(session=f"verify-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", camera=VERIFY_CAMERA, captured_at=now)
        key = f"{n.prefix}verify/{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.jpg"
        try:
            body = image.read_bytes()
        except OSError as exc:
            return VerifyResult(False, f"cannot read the test face {image}: {exc}")
        try:
            self._check_cancel()
            self.log(f"uploading the test face to s3://{n.bucket}/{key}…")
            put = s3.put_object(Bucket=n.bucket, Key=key, Body=body, ContentType="image/jpeg", Metadata=meta.to_s3_metadata())
            if invoke is not None:
                self.log("invoking the function with the S3 event…")
                invoke(s3_put_event(self.region, n.bucket, key, len(body), put.get("ETag", "")))
            self.log(f"waiting for the DynamoDB item in {n.table}…")
            holder: dict[str, Any] = {}

            def item_ready() -> bool:
                item = ddb.get_item(TableName=n.table, Key={"s3key": {"S": key}}, ConsistentRead=True).get("Item")
                holder["item"] = item
                return item is not None

            try:
                self._wait_until("the DynamoDB item", item_ready, timeout_s=max(0.0, timeout_s - (self.clock() - start)), every_s=poll_s)
            except StepFailed:
                return VerifyResult(
                    False,
                    f"no DynamoDB item for the test face after {timeout_s:.0f} s: check the function's log group {n.log_group}",
                    key=key,
                    elapsed_s=self.clock() - start,
                )
            item = _plain_item(holder["item"])
            self.log(f"item found (faces: {item.get('face_count')}, dominant: {item.get('dominant', '-')}); waiting for the metric…")
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
                self._wait_until("the metric", metric_ready, timeout_s=max(0.0, timeout_s - (self.clock() - start)), every_s=poll_s)
            except StepFailed:
                return VerifyResult(
                    False,
                    f"the item arrived but no '{FACES_METRIC}' metric in namespace {n.namespace} after {timeout_s:.0f} s",
                    key=key,
                    item=item,
                    elapsed_s=self.clock() - start,
                )
        except Cancelled:
            return VerifyResult(False, "verification cancelled", key=key, elapsed_s=self.clock() - start)
        except (ClientError, BotoCoreError) as exc:
            return VerifyResult(False, "verification failed: " + describe_aws_error(exc), key=key, elapsed_s=self.clock() - start)
        finally:
            if not keep_object:
                try:
                    s3.delete_object(Bucket=n.bucket, Key=key)
                except (ClientError, BotoCoreError):
                    pass
        elapsed = self.clock() - start
        message = (
            f"pipeline works: the test face was analysed in {elapsed:.1f} s "
            f"({item.get('face_count', 0)} face(s), dominant expression {item.get('dominant', 'none')}) and its metric arrived"
        )
        self.log(message)
        return VerifyResult(True, message, key=key, item=item, metric_seen=True, elapsed_s=elapsed)


def _plain_item(item: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    from crowdmood_gui.core.records import from_dynamodb_item

    deserializer = TypeDeserializer()
    return from_dynamodb_item({k: deserializer.deserialize(v) for k, v in item.items()})


# --- settings ----------------------------------------------------------------------------


def apply_to_config(config: AppConfig, names: ResourceNames, *, region: str, profile: str | None, use_aws_backend: bool) -> AppConfig:
    """A copy of ``config`` pointing at the provisioned resources."""
    data = config.model_dump()
    data["aws"].update(
        region=region,
        profile=profile or None,
        bucket=names.bucket,
        prefix=names.prefix,
        table=names.table,
        function=names.function,
        dashboard=names.dashboard,
        namespace=names.namespace,
        role=names.role,
    )
    if use_aws_backend:
        data["backend"] = "aws"
    return AppConfig.model_validate(data)


def finish_setup(
    names: ResourceNames,
    *,
    region: str,
    profile: str | None,
    use_aws_backend: bool,
    config_path: Path | None = None,
) -> Path:
    """Write the AWS settings into the app's config file (re-read first: keep other edits)."""
    config = load_config(config_path)
    return save_config(apply_to_config(config, names, region=region, profile=profile, use_aws_backend=use_aws_backend), config_path)


def names_from_config(config: AppConfig) -> ResourceNames | None:
    aws = config.aws
    if not aws.bucket or not aws.role:
        return None
    return ResourceNames(
        bucket=aws.bucket,
        table=aws.table,
        function=aws.function,
        role=aws.role,
        dashboard=aws.dashboard,
        namespace=aws.namespace,
        prefix=aws.prefix,
    )


def operator_policy_for(session: boto3.Session, names: ResourceNames, account: str | None = None) -> str:
    """The printed minimal IAM policy for the operator's own user (account looked up if needed)."""
    if account is None:
        try:
            account = client(session, "sts").get_caller_identity()["Account"]
        except (ClientError, BotoCoreError):
            account = "ACCOUNT_ID"
    return policies.operator_policy_json(names, session.region_name or "REGION", account)


def forget_setup(names: ResourceNames, *, config_path: Path | None = None) -> bool:
    """After a teardown: stop pointing the config at the deleted resources (back to local)."""
    config = load_config(config_path)
    if config.aws.bucket != names.bucket:
        return False
    data = config.model_dump()
    data["aws"].update(bucket=None, role=None)
    data["backend"] = "local"
    save_config(AppConfig.model_validate(data), config_path)
    return True
