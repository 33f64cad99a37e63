"""Setup / teardown of the AWS side against moto: settings, idempotency, failures, rollback."""

from __future__ import annotations

import io
import json
import sys
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from crowdmood_gui.core.aws import lambda_zip, policies
from crowdmood_gui.core.aws.naming import default_names
from crowdmood_gui.core.aws.provision import (
    ASYNC_MAX_EVENT_AGE_S,
    ASYNC_MAX_RETRIES,
    FAILURE_RETENTION_S,
    NOTIFICATION_ID,
    PERMISSION_SID,
    STEPS,
    Provisioner,
    StateFile,
    default_state_path,
)
from crowdmood_gui.core.emotions import EMOTION_COLOURS, EMOTIONS
from crowdmood_gui.core.records import SESSION_INDEX
from crowdmood_gui.core.resources import LAMBDA_SOURCE, bundled_dir, package_files

HANDLER = bundled_dir(LAMBDA_SOURCE) / "handler.py"
SUFFIX = "t3st01"


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture
def aws(moto_aws, monkeypatch):
    # moto 5.2 appends on PutFunctionEventInvokeConfig and Get returns the first one, so a
    # second put never shows; AWS overwrites ("If a configuration already exists ... this
    # operation overwrites it"). Make moto overwrite too, or drift could never be fixed here.
    from moto.awslambda.models import EventInvokeConfig, LambdaBackend

    def put_overwrites(backend, function_name, config):
        fn = backend.get_function(function_name)
        fn.event_invoke_config = [EventInvokeConfig(fn.function_arn, fn.last_modified, config)]
        return fn.event_invoke_config[0].response()

    monkeypatch.setattr(LambdaBackend, "put_function_event_invoke_config", put_overwrites)
    return moto_aws


@pytest.fixture(scope="session")
def package(tmp_path_factory) -> bytes:
    """The real Lambda package when its handler exists, else one built from a stub handler."""
    if HANDLER.is_file():
        return lambda_zip.build_lambda_zip()
    root = tmp_path_factory.mktemp("stub-root")
    (root / "crowdmood_gui" / LAMBDA_SOURCE).mkdir(parents=True)
    (root / "crowdmood_gui" / LAMBDA_SOURCE / "handler.py").write_text("def lambda_handler(event, context):\n    return {}\n")
    for rel in lambda_zip.SHARED_MODULES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(package_files().joinpath(*rel.split("/")[1:]).read_bytes())
    return lambda_zip.build_lambda_zip(root / "crowdmood_gui")


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make(session, package, names=None, **kwargs) -> Provisioner:
    clock = kwargs.pop("clock", None) or FakeClock()
    kwargs.setdefault("log", lambda line: None)
    return Provisioner(session, names or default_names(SUFFIX), package=package, sleep=clock.sleep, clock=clock, **kwargs)


def fail_once(monkeypatch, service: str, operation: str, code: str = "InternalError", message: str = "injected failure"):
    """Make the next ``operation`` call on a Provisioner's ``service`` client raise once."""
    calls = {"n": 0}
    original = Provisioner._c

    def _c(self, name):
        made = name not in self._clients
        c = original(self, name)
        if made and name == service:
            def hook(**_):
                calls["n"] += 1
                if calls["n"] == 1:
                    raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

            c.meta.events.register(f"before-call.{c.meta.service_model.service_id.hyphenize()}.{operation}", hook)
        return c

    monkeypatch.setattr(Provisioner, "_c", _c)
    return calls


def count_calls(session_client, operation: str) -> list:
    seen = []
    session_client.meta.events.register(
        f"before-call.{session_client.meta.service_model.service_id.hyphenize()}.{operation}", lambda **kw: seen.append(kw)
    )
    return seen


def assert_everything_configured(session, names, region="us-east-1"):
    account = session.client("sts").get_caller_identity()["Account"]
    s3 = session.client("s3")
    block = s3.get_public_access_block(Bucket=names.bucket)["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    rules = s3.get_bucket_encryption(Bucket=names.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=names.bucket)["Rules"]
    assert [(r["Filter"]["Prefix"], r["Expiration"]["Days"], r["Status"]) for r in lifecycle] == [("faces/", 1, "Enabled")]
    bucket_policy = json.loads(s3.get_bucket_policy(Bucket=names.bucket)["Policy"])
    (deny,) = bucket_policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert f"arn:aws:s3:::{names.bucket}/*" in deny["Resource"]
    notification = s3.get_bucket_notification_configuration(Bucket=names.bucket)["LambdaFunctionConfigurations"]
    (ours,) = notification
    assert ours["Id"] == NOTIFICATION_ID and ours["Events"] == ["s3:ObjectCreated:*"]
    assert ours["LambdaFunctionArn"].endswith(f":function:{names.function}")
    assert [(r["Name"].lower(), r["Value"]) for r in ours["Filter"]["Key"]["FilterRules"]] == [("prefix", "faces/")]

    table = session.client("dynamodb").describe_table(TableName=names.table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "s3key", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == SESSION_INDEX == "session-captured_at-index"
    assert gsi["KeySchema"] == [{"AttributeName": "session", "KeyType": "HASH"}, {"AttributeName": "captured_at", "KeyType": "RANGE"}]
    assert gsi["Projection"]["ProjectionType"] == "ALL"
    attrs = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert attrs == {"s3key": "S", "session": "S", "captured_at": "S"}
    ttl = session.client("dynamodb").describe_time_to_live(TableName=names.table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}

    iam = session.client("iam")
    role = iam.get_role(RoleName=names.role)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Statement"][0]["Action"] == "sts:AssumeRole"
    assert iam.list_attached_role_policies(RoleName=names.role)["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=names.role)["PolicyNames"] == [names.policy_name]
    inline = iam.get_role_policy(RoleName=names.role, PolicyName=names.policy_name)["PolicyDocument"]
    by_sid = {s["Sid"]: s for s in inline["Statement"]}
    assert by_sid["ReadFaceCrops"]["Action"] == "s3:GetObject"
    assert by_sid["ReadFaceCrops"]["Resource"] == f"arn:aws:s3:::{names.bucket}/faces/*"
    assert by_sid["DetectFaces"] == {"Sid": "DetectFaces", "Effect": "Allow", "Action": "rekognition:DetectFaces", "Resource": "*"}
    assert "dynamodb:PutItem" in by_sid["WriteFaceItems"]["Action"]
    assert not any("Scan" in a or "Delete" in a for a in by_sid["WriteFaceItems"]["Action"])
    assert by_sid["WriteFaceItems"]["Resource"] == f"arn:aws:dynamodb:{region}:{account}:table/{names.table}"
    assert by_sid["PutEmotionMetrics"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": names.namespace}}
    assert by_sid["OwnLogGroup"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert all(names.log_group in r for r in by_sid["OwnLogGroup"]["Resource"])
    # Nothing broad anywhere: no service wildcards, no resource wildcard except the two that need it.
    for statement in inline["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a.endswith(":*") or a == "*" for a in actions)
        if statement["Resource"] == "*":
            assert statement["Sid"] in ("DetectFaces", "PutEmotionMetrics")

    lam = session.client("lambda")
    cfg = lam.get_function_configuration(FunctionName=names.function)
    assert cfg["Runtime"] == "python3.12" and cfg["Handler"] == "handler.lambda_handler"
    assert cfg["Role"] == role["Arn"] and cfg["Timeout"] == 30 and cfg["MemorySize"] == 256
    assert cfg["Environment"]["Variables"] == {"FACES_TABLE": names.table, "FACES_PREFIX": "faces/", "METRIC_NAMESPACE": names.namespace}
    (permission,) = json.loads(lam.get_policy(FunctionName=names.function)["Policy"])["Statement"]
    assert permission["Sid"] == PERMISSION_SID and permission["Principal"] == {"Service": "s3.amazonaws.com"}
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{names.bucket}"
    assert permission["Condition"]["StringEquals"]["AWS:SourceAccount"] == account

    groups = session.client("logs").describe_log_groups(logGroupNamePrefix=names.log_group)["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in groups] == [(names.log_group, 14)]

    # Failure queue: encrypted, 14 days, the function's on-failure destination after 2 retries,
    # and the role may send to exactly it (and to nothing else in SQS).
    sqs = session.client("sqs")
    assert names.failure_queue == f"{names.function}-failed"
    url = sqs.get_queue_url(QueueName=names.failure_queue)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    assert attrs["MessageRetentionPeriod"] == str(FAILURE_RETENTION_S) == "1209600"
    queue_arn = f"arn:aws:sqs:{region}:{account}:{names.failure_queue}"
    assert attrs["QueueArn"] == queue_arn
    invoke_cfg = lam.get_function_event_invoke_config(FunctionName=names.function)
    assert (invoke_cfg["MaximumRetryAttempts"], invoke_cfg["MaximumEventAgeInSeconds"]) == (ASYNC_MAX_RETRIES, ASYNC_MAX_EVENT_AGE_S) == (2, 21600)
    assert invoke_cfg["DestinationConfig"]["OnFailure"] == {"Destination": queue_arn}
    assert by_sid["KeepFailedEvents"] == {"Sid": "KeepFailedEvents", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}
    sqs_statements = [s for s in inline["Statement"] if any(a.startswith("sqs:") for a in _actions(s))]
    assert sqs_statements == [by_sid["KeepFailedEvents"]]

    body = json.loads(session.client("cloudwatch").get_dashboard(DashboardName=names.dashboard)["DashboardBody"])
    props = body["widgets"][0]["properties"]
    assert props["view"] == "timeSeries" and props["period"] == 10 and props["region"] == region
    assert props["stat"] == "Average"
    metrics = {m[1]: m for m in props["metrics"]}
    assert set(metrics) == set(EMOTIONS) | {"Faces"}
    assert all(m[0] == names.namespace for m in props["metrics"])
    assert metrics["Faces"][2]["stat"] == "Sum"
    # The console's palette (CALM, white there, grey on the dashboard's light background).
    assert {e: metrics[e][2]["color"] for e in EMOTIONS} == EMOTION_COLOURS | {"CALM": "#777777"}
    assert "per-crop" in props["title"].lower()  # not the console's crowd value, and it says so
    others = [m for w in body["widgets"][1:] for m in w.get("properties", {}).get("metrics", [])]
    assert ["AWS/Lambda", "Errors", "FunctionName", names.function] in [m[:4] for m in others]
    assert ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", names.failure_queue] in [m[:4] for m in others]
    assert "${" not in json.dumps(body)  # every placeholder filled


def _actions(statement) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def assert_nothing_left(session):
    assert session.client("s3").list_buckets()["Buckets"] == []
    assert session.client("dynamodb").list_tables()["TableNames"] == []
    assert session.client("lambda").list_functions()["Functions"] == []
    assert session.client("iam").list_roles()["Roles"] == []
    assert session.client("cloudwatch").list_dashboards()["DashboardEntries"] == []
    assert session.client("logs").describe_log_groups()["logGroups"] == []
    assert session.client("sqs").list_queues().get("QueueUrls", []) == []


# --- setup ---------------------------------------------------------------------------


ASSUME_MESSAGE = "The role defined for the function cannot be assumed by Lambda."
SEND_MESSAGE_MISSING = "The provided execution role does not have permissions to call SendMessage on SQS"


def fail_lambda_calls(monkeypatch, operation: str, message: str, times: int | None = None) -> dict[str, int]:
    """Make the provisioner's Lambda client fail ``operation`` with the
    InvalidParameterValueException AWS gives while IAM changes propagate: the first
    ``times`` calls (every call when None). Returns the attempt counter."""
    original = Provisioner._c
    attempts = {"n": 0}

    def _c(self, name):
        made = name not in self._clients
        client = original(self, name)
        if made and name == "lambda":
            def hook(**_):
                attempts["n"] += 1
                if times is None or attempts["n"] <= times:
                    raise ClientError({"Error": {"Code": "InvalidParameterValueException", "Message": message}}, operation)
            client.meta.events.register(f"before-call.lambda.{operation}", hook)
        return client

    monkeypatch.setattr(Provisioner, "_c", _c)
    return attempts


def test_plan_lists_every_resource(aws, package):
    provisioner = make(aws, package)
    kinds = [p.key for p in provisioner.plan()]
    assert kinds == [k for k, _ in STEPS if k != "identity"]
    assert "crowdmood-faces-t3st01" in provisioner.describe_plan()


def test_setup_creates_every_resource_with_its_settings(aws, package):
    lines = []
    report = make(aws, package, log=lines.append).run()
    assert report.ok, report.summary()
    assert report.created == [k for k, _ in STEPS if k != "identity"]
    assert report.adopted == []
    names = default_names(SUFFIX)
    assert_everything_configured(aws, names)
    # One progress line per step, and a summary.
    for _, title in STEPS:
        assert any(line.startswith(title + " (") for line in lines)
    assert lines[-1].startswith("setup succeeded")
    state = json.loads(default_state_path().read_text())
    (deployment,) = state["deployments"]
    assert deployment["names"]["bucket"] == names.bucket and deployment["region"] == "us-east-1"
    assert set(deployment["created"]) == set(report.created)


def test_second_setup_adopts_everything_and_changes_nothing(aws, package):
    assert make(aws, package).run().ok
    lam = aws.client("lambda")
    provisioner = make(aws, package)
    provisioner._c("lambda")  # create the client, then watch it
    updates = count_calls(provisioner._clients["lambda"], "UpdateFunctionCode")
    configs = count_calls(provisioner._clients["lambda"], "UpdateFunctionConfiguration")
    report = provisioner.run()
    assert report.ok, report.summary()
    assert report.created == []
    assert report.adopted == [k for k, _ in STEPS if k != "identity"]
    assert not any(s.changes for s in report.steps), [s.line() for s in report.steps]
    assert updates == [] and configs == []
    assert lam.list_functions()["Functions"][0]["CodeSha256"] == lambda_zip.code_sha256(package)


def test_adopting_fixes_drifted_settings_and_code(aws, package):
    names = default_names(SUFFIX)
    assert make(aws, package).run().ok
    s3 = aws.client("s3")
    s3.delete_public_access_block(Bucket=names.bucket)
    s3.delete_bucket_lifecycle(Bucket=names.bucket)
    aws.client("lambda").update_function_configuration(FunctionName=names.function, Timeout=3)
    aws.client("iam").put_role_policy(RoleName=names.role, PolicyName=names.policy_name, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    new_package = package + b""  # same bytes: no code update
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def lambda_handler(e, c):\n    return 2\n")
    report = make(aws, package=buf.getvalue()).run()
    assert report.ok, report.summary()
    assert "public access blocked" in report.step("bucket").changes
    assert any("expires" in c for c in report.step("bucket").changes)
    assert "inline policy updated" in report.step("role").changes
    assert "code updated" in report.step("function").changes
    assert any("Timeout" in c for c in report.step("function").changes)
    assert make(aws, new_package).run().ok
    assert_everything_configured(aws, names)


def test_failure_queue_drift_is_fixed_then_left_alone(aws, package):
    names = default_names(SUFFIX)
    assert make(aws, package).run().ok
    sqs, lam = aws.client("sqs"), aws.client("lambda")
    url = sqs.get_queue_url(QueueName=names.failure_queue)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "60", "SqsManagedSseEnabled": "false"})
    lam.put_function_event_invoke_config(FunctionName=names.function, MaximumRetryAttempts=0, MaximumEventAgeInSeconds=60)
    assert "OnFailure" not in (lam.get_function_event_invoke_config(FunctionName=names.function).get("DestinationConfig") or {})

    report = make(aws, package).run()
    assert report.ok, report.summary()
    step = report.step("failure_queue")
    assert step.status == "adopted"
    assert set(step.changes) == {"encryption (SSE-SQS) enabled", "retention 14 days", "async invocation settings fixed"}
    assert_everything_configured(aws, names)
    again = make(aws, package).run()
    assert again.step("failure_queue").status == "adopted" and again.step("failure_queue").changes == []


def test_failure_queue_adopted_without_invoke_config_gets_one(aws, package):
    names = default_names(SUFFIX)
    assert make(aws, package).run().ok
    aws.client("lambda").delete_function_event_invoke_config(FunctionName=names.function)
    report = make(aws, package).run()
    assert report.step("failure_queue").changes == [f"{names.function} sends failed events here"]
    assert_everything_configured(aws, names)


def test_invoke_config_waits_for_the_role_policy_to_propagate(aws, package, monkeypatch):
    attempts = fail_lambda_calls(monkeypatch, "PutFunctionEventInvokeConfig", SEND_MESSAGE_MISSING, times=2)
    clock = FakeClock()
    report = make(aws, package, clock=clock).run()
    assert report.ok, report.summary()
    assert attempts["n"] == 3 and [1.0, 2.0] == clock.sleeps[-2:]
    assert_everything_configured(aws, default_names(SUFFIX))


def test_other_region_creates_bucket_with_location_constraint(package, monkeypatch):
    with mock_aws():
        session = boto3.Session(region_name="eu-west-1")
        report = make(session, package).run()
        assert report.ok, report.summary()
        names = default_names(SUFFIX)
        assert session.client("s3").get_bucket_location(Bucket=names.bucket)["LocationConstraint"] == "eu-west-1"
        assert_everything_configured(session, names, region="eu-west-1")


# (step that fails, service, operation): a call in the middle of each step, raising once.
FAILURES = [
    ("identity", "sts", "GetCallerIdentity"),
    ("table", "dynamodb", "UpdateTimeToLive"),
    ("bucket", "s3", "PutBucketLifecycleConfiguration"),
    ("log_group", "logs", "PutRetentionPolicy"),
    ("role", "iam", "PutRolePolicy"),
    ("function", "lambda", "CreateFunction"),
    ("failure_queue", "lambda", "PutFunctionEventInvokeConfig"),  # after the queue was created
    ("permission", "lambda", "AddPermission"),
    ("notification", "s3", "PutBucketNotificationConfiguration"),
    ("dashboard", "cloudwatch", "PutDashboard"),
]


@pytest.mark.parametrize("step,service,operation", FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_at_each_step_then_setup_again_completes(aws, package, monkeypatch, step, service, operation):
    calls = fail_once(monkeypatch, service, operation)
    first = make(aws, package).run()
    assert calls["n"] >= 1
    assert not first.ok
    (failed,) = first.failed
    assert failed.key == step and "injected failure" in failed.message
    index = [k for k, _ in STEPS].index(step)
    assert all(s.status == "skipped" for s in first.steps[index + 1 :])
    second = make(aws, package).run()
    assert second.ok, second.summary()
    names = default_names(SUFFIX)
    assert_everything_configured(aws, names)
    # Teardown still knows everything the two runs created between them.
    assert make(aws, package).teardown().ok
    assert_nothing_left(aws)


def test_rollback_removes_what_this_run_created_and_keeps_what_it_adopted(aws, package, monkeypatch):
    names = default_names(SUFFIX)
    aws.client("logs").create_log_group(logGroupName=names.log_group)  # pre-existing: adopted
    fail_once(monkeypatch, "cloudwatch", "PutDashboard")
    report = make(aws, package).run(rollback_on_failure=True)
    assert not report.ok and report.rollback is not None
    assert report.step("log_group").status == "adopted"
    assert set(report.rollback.with_status("deleted")) == {
        "table", "bucket", "role", "function", "failure_queue", "permission", "notification"} == set(report.made)
    assert report.rollback.ok
    assert "rolled back" in report.summary()
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert aws.client("lambda").list_functions()["Functions"] == []
    assert aws.client("iam").list_roles()["Roles"] == []
    assert aws.client("sqs").list_queues().get("QueueUrls", []) == []
    assert [g["logGroupName"] for g in aws.client("logs").describe_log_groups()["logGroups"]] == [names.log_group]
    assert StateFile().deployments() == []


def test_iam_propagation_is_retried_with_backoff(aws, package, monkeypatch):
    attempts = fail_lambda_calls(monkeypatch, "CreateFunction", ASSUME_MESSAGE, times=2)
    clock = FakeClock()
    report = make(aws, package, clock=clock).run()
    assert report.ok, report.summary()
    assert attempts["n"] == 3 and clock.sleeps[:2] == [1.0, 2.0]


def test_iam_propagation_wait_is_bounded(aws, package, monkeypatch):
    fail_lambda_calls(monkeypatch, "CreateFunction", ASSUME_MESSAGE)
    clock = FakeClock()
    report = make(aws, package, clock=clock, propagation_timeout_s=30).run()
    assert report.step("function").status == "failed"
    assert "run setup again" in report.step("function").message
    assert clock.now <= 30


def test_cancel_stops_before_the_next_step(aws, package):
    import threading

    cancel = threading.Event()
    lines = []

    def log(line):
        lines.append(line)
        if line.startswith("S3 bucket ("):
            cancel.set()

    report = make(aws, package, log=log, cancel=cancel).run()
    assert report.cancelled and not report.ok
    assert report.step("bucket").status == "created"
    assert report.step("log_group").status == "cancelled"
    assert report.step("dashboard").status == "skipped"
    assert "cancelled" in report.summary()


def test_existing_table_with_another_key_is_not_adopted(aws, package):
    names = default_names(SUFFIX)
    aws.client("dynamodb").create_table(
        TableName=names.table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    report = make(aws, package).run()
    assert report.step("table").status == "failed"
    assert "another key schema" in report.step("table").message


# --- teardown ------------------------------------------------------------------------


def test_teardown_leaves_nothing_behind(aws, package):
    names = default_names(SUFFIX)
    assert make(aws, package).run().ok
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket=names.bucket, VersioningConfiguration={"Status": "Enabled"})
    for i in range(3):
        s3.put_object(Bucket=names.bucket, Key=f"faces/s/c/{i}.jpg", Body=b"x")
        s3.put_object(Bucket=names.bucket, Key=f"faces/s/c/{i}.jpg", Body=b"y")
    s3.delete_object(Bucket=names.bucket, Key="faces/s/c/0.jpg")  # a delete marker
    lines = []
    report = make(aws, package, log=lines.append).teardown()
    assert report.ok, report.summary()
    assert set(report.with_status("deleted")) == {"notification", "permission", "dashboard", "function", "failure_queue", "role", "log_group", "bucket", "table"}
    assert_nothing_left(aws)
    assert StateFile().deployments() == []
    assert any("emptying bucket" in line for line in lines)
    again = make(aws, package).teardown()
    assert again.ok and set(again.with_status("absent")) == {"notification", "permission", "dashboard", "function", "failure_queue", "role", "log_group", "bucket", "table"}


def test_deleting_the_queue_unhooks_a_function_that_stays(aws, package):
    names = default_names(SUFFIX)
    assert make(aws, package).run().ok
    lam = aws.client("lambda")
    report = make(aws, package)._delete(["failure_queue"], action="teardown", force=False)
    assert report.ok and report.with_status("deleted") == ["failure_queue"]
    assert aws.client("sqs").list_queues().get("QueueUrls", []) == []
    with pytest.raises(ClientError) as info:
        lam.get_function_event_invoke_config(FunctionName=names.function)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert lam.get_function_configuration(FunctionName=names.function)["FunctionName"] == names.function


def test_someone_elses_destinations_survive_setup_and_teardown(aws, package):
    names = default_names(SUFFIX)
    assert make(aws, package).run().ok
    sqs, lam = aws.client("sqs"), aws.client("lambda")
    theirs = sqs.get_queue_attributes(QueueUrl=sqs.create_queue(QueueName="their-successes")["QueueUrl"],
                                      AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    old_failures = sqs.get_queue_attributes(QueueUrl=sqs.create_queue(QueueName="their-failures")["QueueUrl"],
                                            AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.put_function_event_invoke_config(
        FunctionName=names.function, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=600,
        DestinationConfig={"OnSuccess": {"Destination": theirs}, "OnFailure": {"Destination": old_failures}})

    report = make(aws, package).run()
    assert report.ok, report.summary()
    assert f"on-failure destination {old_failures} replaced by this queue" in report.step("failure_queue").changes
    cfg = lam.get_function_event_invoke_config(FunctionName=names.function)
    assert cfg["DestinationConfig"]["OnSuccess"]["Destination"] == theirs
    assert_everything_configured(aws, names)

    teardown = make(aws, package)._delete(["failure_queue"], action="teardown", force=False)
    assert teardown.ok
    cfg = lam.get_function_event_invoke_config(FunctionName=names.function)
    assert cfg["DestinationConfig"]["OnSuccess"]["Destination"] == theirs  # theirs stays
    assert "Destination" not in (cfg["DestinationConfig"].get("OnFailure") or {})  # ours is gone


def test_an_adopted_queue_encrypted_with_kms_is_left_encrypted_as_it_is(aws, package):
    names = default_names(SUFFIX)
    sqs = aws.client("sqs")
    sqs.create_queue(QueueName=names.failure_queue, Attributes={"KmsMasterKeyId": "alias/their-key"})
    provisioner = make(aws, package)
    provisioner._c("sqs")  # create the client, then watch it
    calls = count_calls(provisioner._clients["sqs"], "SetQueueAttributes")
    report = provisioner.run()
    assert report.ok, report.summary()
    assert report.step("failure_queue").status == "adopted"
    assert calls and all("SqsManagedSseEnabled" not in str(c["params"]) for c in calls)  # retention only
    assert report.step("failure_queue").changes == ["retention 14 days", f"{names.function} sends failed events here"]


def test_teardown_from_names_alone(aws, package):
    assert make(aws, package).run().ok
    default_state_path().unlink()
    report = make(aws, package).teardown()
    assert report.ok, report.summary()
    assert_nothing_left(aws)


def test_teardown_keeps_what_setup_adopted(aws, package):
    names = default_names(SUFFIX)
    aws.client("cloudwatch").put_dashboard(DashboardName=names.dashboard, DashboardBody=json.dumps({"widgets": []}))
    assert make(aws, package).run().ok
    report = make(aws, package).teardown()
    assert report.ok
    assert report.step("dashboard").status == "kept"
    assert [d["DashboardName"] for d in aws.client("cloudwatch").list_dashboards()["DashboardEntries"]] == [names.dashboard]


def test_teardown_reports_what_it_could_not_delete(aws, package, monkeypatch):
    assert make(aws, package).run().ok
    fail_once(monkeypatch, "dynamodb", "DeleteTable", code="AccessDeniedException", message="not allowed")
    report = make(aws, package).teardown()
    assert not report.ok
    (failed,) = report.failed
    assert failed.key == "table" and "could not delete" in failed.message and "not allowed" in failed.message
    assert "teardown failed" in report.summary()
    assert StateFile().created("us-east-1", default_names(SUFFIX)) == {"table"}
    assert make(aws, package).teardown().ok
    assert_nothing_left(aws)


# --- verify --------------------------------------------------------------------------


def test_verify_times_out_with_a_clear_message_when_nothing_answers(aws, package):
    assert make(aws, package).run().ok
    clock = FakeClock()
    result = make(aws, package, clock=clock).verify(timeout_s=10, poll_s=2)
    assert not result.ok
    assert "no DynamoDB item" in result.message and "/aws/lambda/" in result.message
    assert clock.now <= 12
    # The test face was removed again.
    assert aws.client("s3").list_objects_v2(Bucket=default_names(SUFFIX).bucket).get("KeyCount", 0) == 0


def test_verify_counts_the_failed_analyses_waiting(aws, package):
    names = default_names(SUFFIX)
    assert make(aws, package).run().ok
    assert make(aws, package).failed_waiting() == 0
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=names.failure_queue)["QueueUrl"]
    for i in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"requestPayload": {"Records": []}, "n": i}))
    lines = []
    result = make(aws, package, log=lines.append).verify(timeout_s=4, poll_s=2)
    assert result.failed_waiting == 2
    assert result.message.endswith("; 2 failed analyses waiting: run crowdmood aws-redrive")
    assert "2 failed analyses waiting: run crowdmood aws-redrive" in lines


def _stubbed_rekognition():
    rekognition = boto3.client("rekognition", region_name="us-east-1")
    stubber = Stubber(rekognition)
    emotions = [{"Type": t, "Confidence": 90.0 if t == "HAPPY" else 1.0} for t in EMOTIONS]
    stubber.add_response(
        "detect_faces",
        {"FaceDetails": [{"BoundingBox": {"Width": 0.6, "Height": 0.7, "Left": 0.2, "Top": 0.1}, "Confidence": 99.9,
                          "Emotions": emotions, "AgeRange": {"Low": 20, "High": 30}}]},
    )
    stubber.activate()
    return rekognition, stubber


def real_handler_invoke(session, names, monkeypatch):
    """An ``invoke`` hook running the Lambda handler in-process with the function's own env."""
    monkeypatch.syspath_prepend(str(HANDLER.parent))
    sys.modules.pop("handler", None)
    import handler  # noqa: PLC0415

    env = session.client("lambda").get_function_configuration(FunctionName=names.function)["Environment"]["Variables"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    rekognition, stubber = _stubbed_rekognition()
    monkeypatch.setattr(handler, "CLIENTS", handler.Clients(rekognition=rekognition))
    return lambda event: handler.lambda_handler(event, None), stubber


def test_verify_with_the_real_handler(aws, package, monkeypatch):
    names = default_names(SUFFIX)
    assert make(aws, package).run().ok
    invoke, stubber = real_handler_invoke(aws, names, monkeypatch)
    lines = []
    result = make(aws, package, log=lines.append).verify(invoke=invoke, timeout_s=30)
    assert result.ok, result.message
    stubber.assert_no_pending_responses()
    assert result.item["face_count"] == 1 and result.item["dominant"] == "HAPPY"
    assert result.key.startswith("faces/verify/") and result.metric_seen
    assert "pipeline works" in lines[-1]


# --- policies and settings -----------------------------------------------------------


def test_operator_policy_is_minimal():
    names = default_names(SUFFIX)
    doc = policies.operator_policy(names, "eu-west-1", "111122223333")
    actions = {a for s in doc["Statement"] for a in _actions(s)}
    assert actions == {
        "s3:PutObject", "dynamodb:Query", "cloudwatch:GetMetricData", "sts:GetCallerIdentity",
        # the booth heartbeat (its namespace only) and crowdmood booths' discovery
        "cloudwatch:PutMetricData", "cloudwatch:ListMetrics",
        # crowdmood aws-redrive: read and empty the failure queue, re-invoke the function
        "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility", "lambda:InvokeFunction",
    }
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["BoothHeartbeat"]["Condition"] == {"StringEquals": {"cloudwatch:namespace": names.namespace}}
    assert by_sid["RedriveFailedAnalyses"]["Resource"] == f"arn:aws:sqs:eu-west-1:111122223333:{names.failure_queue}"
    assert by_sid["ReinvokeFailedAnalyses"]["Resource"] == f"arn:aws:lambda:eu-west-1:111122223333:function:{names.function}"
    assert not any(s["Resource"] == "*" for s in doc["Statement"] if any(a.startswith(("sqs:", "lambda:")) for a in _actions(s)))
    assert by_sid["UploadCrops"]["Resource"] == f"arn:aws:s3:::{names.bucket}/faces/*"
    assert by_sid["ReadResults"]["Resource"] == [
        f"arn:aws:dynamodb:eu-west-1:111122223333:table/{names.table}",
        f"arn:aws:dynamodb:eu-west-1:111122223333:table/{names.table}/index/{SESSION_INDEX}",
    ]
    assert json.loads(policies.operator_policy_json(names, "eu-west-1", "111122223333")) == doc


def test_finish_writes_the_settings(tmp_path):
    from crowdmood_gui.core.aws.provision import finish_setup, names_from_config
    from crowdmood_gui.core.config import load_config

    names = default_names(SUFFIX)
    path = tmp_path / "config.toml"
    path.write_text('camera = "booth-7"\n')
    finish_setup(names, region="eu-west-1", profile="booth", use_aws_backend=False, config_path=path)
    config = load_config(path)
    assert config.camera == "booth-7" and config.backend == "local"
    assert (config.aws.region, config.aws.profile, config.aws.bucket, config.aws.table) == ("eu-west-1", "booth", names.bucket, names.table)
    assert (config.aws.function, config.aws.dashboard, config.aws.role) == (names.function, names.dashboard, names.role)
    assert names_from_config(config) == names
    finish_setup(names, region="eu-west-1", profile=None, use_aws_backend=True, config_path=path)
    config = load_config(path)
    assert config.backend == "aws" and config.aws.profile is None
