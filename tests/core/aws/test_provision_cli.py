"""``crowdmood setup`` / ``crowdmood teardown`` against moto: exit codes, messages, config."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from crowdmood_gui.cli import main
from crowdmood_gui.core.config import default_config_path, load_config


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


def test_setup_without_yes_prints_the_plan_and_exits_2(aws, capsys):
    assert main(["setup", "--name-suffix", "cli001"]) == 2
    out, err = capsys.readouterr()
    assert "crowdmood-faces-cli001" in out and "rekognize-emotions-cli001" in out
    assert "--yes" in err and "Traceback" not in err
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_setup_then_again_then_teardown(aws, capsys):
    assert main(["setup", "--yes", "--name-suffix", "cli001", "--no-verify", "--use-aws-backend"]) == 0
    out, err = capsys.readouterr()
    step_lines = [line for line in err.splitlines() if "): created" in line]
    assert len(step_lines) == 9, err
    policy = json.loads(out[out.index("{"):])
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions >= {"s3:PutObject", "dynamodb:Query", "sqs:ReceiveMessage", "sqs:DeleteMessage", "lambda:InvokeFunction"}
    config = load_config()
    assert config.backend == "aws" and config.aws.bucket == "crowdmood-faces-cli001" and config.aws.region == "us-east-1"
    assert default_config_path().exists()

    # Again, with no suffix: the config's names are adopted, nothing is created.
    assert main(["setup", "--yes", "--no-verify"]) == 0
    err = capsys.readouterr().err
    assert "created" not in err.replace("created: nothing", "")
    assert err.count("): adopted") == 9

    assert main(["teardown"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["teardown", "--yes"]) == 0
    err = capsys.readouterr().err
    assert err.count("): deleted") == 9
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert aws.client("lambda").list_functions()["Functions"] == []
    config = load_config()
    assert config.backend == "local" and config.aws.bucket is None


def test_setup_in_a_region_without_rekognition_exits_2(aws, capsys):
    assert main(["setup", "--yes", "--region", "eu-north-1", "--name-suffix", "cli001"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crowdmood: error: Rekognition is not offered in eu-north-1")
    assert len(err.strip().splitlines()) == 1


def test_setup_with_a_bad_suffix_exits_2(aws, capsys):
    assert main(["setup", "--yes", "--name-suffix", "Bad_Suffix"]) == 2
    err = capsys.readouterr().err
    assert "--name-suffix" in err and "Traceback" not in err


def test_setup_failure_exits_2_with_a_clear_line(aws, capsys, monkeypatch):
    from botocore.exceptions import ClientError

    from crowdmood_gui.core.aws.resources.role import Role

    def boom(self, ctx):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "User is not authorized to perform: iam:CreateRole"}}, "CreateRole")

    monkeypatch.setattr(Role, "ensure", boom)
    assert main(["setup", "--yes", "--name-suffix", "cli002", "--no-verify", "--rollback-on-failure"]) == 2
    err = capsys.readouterr().err
    assert "crowdmood: error: setup failed: IAM role for the Lambda: CreateRole failed: AccessDenied" in err
    assert "rolled back" in err and "Traceback" not in err
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert aws.client("dynamodb").list_tables()["TableNames"] == []


def test_no_credentials_exits_2(monkeypatch, capsys):
    # No mock needed: botocore fails at signing, before any request leaves the process.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["setup", "--yes", "--name-suffix", "cli003", "--no-verify"]) == 2
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err and "Traceback" not in err


def test_teardown_with_nothing_recorded_exits_2(aws, capsys):
    assert main(["teardown", "--yes"]) == 2
    assert "nothing to tear down" in capsys.readouterr().err


# --- crowdmood aws-redrive -----------------------------------------------------------


class _FakeLambda:
    """moto's Lambda invoke needs Docker: record the async invokes instead."""

    def __init__(self):
        self.payloads: list[dict] = []

    def invoke(self, **kwargs):
        assert kwargs["InvocationType"] == "Event"
        self.payloads.append(json.loads(kwargs["Payload"]))
        return {"StatusCode": 202}


@pytest.fixture
def fake_lambda(monkeypatch):
    from crowdmood_gui.core.aws import clients

    fake = _FakeLambda()
    real = clients.client
    monkeypatch.setattr(clients, "client", lambda session, service: fake if service == "lambda" else real(session, service))
    return fake


def _failure_record(key: str) -> str:
    from crowdmood_gui.core.aws.provision import s3_put_event

    return json.dumps({
        "requestContext": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:rekognize-emotions-cli005:$LATEST",
                           "condition": "RetriesExhausted"},
        "requestPayload": s3_put_event("us-east-1", "crowdmood-faces-cli005", key, 10),
    })


def test_redrive_before_setup_exits_2_and_says_to_run_setup(aws, capsys, fake_lambda):
    assert main(["aws-redrive", "--name-suffix", "cli004"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "crowdmood: error: the failure queue rekognize-emotions-cli004-failed does not exist: run crowdmood setup"
    assert fake_lambda.payloads == []


def test_setup_counts_failed_analyses_and_redrive_empties_the_queue(aws, capsys, fake_lambda):
    assert main(["setup", "--yes", "--name-suffix", "cli005", "--no-verify"]) == 0
    assert "failed analyses waiting" not in capsys.readouterr().err
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName="rekognize-emotions-cli005-failed")["QueueUrl"]
    for i in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=_failure_record(f"faces/s/c/{i}.jpg"))
    sqs.send_message(QueueUrl=url, MessageBody='{"not": "a failure record"}')

    assert main(["setup", "--yes", "--no-verify"]) == 0  # the config's names
    assert "3 failed analyses waiting: run crowdmood aws-redrive" in capsys.readouterr().err

    assert main(["aws-redrive"]) == 2
    out, err = capsys.readouterr()
    assert out.strip() == "2 event(s) redriven, 0 failed, 1 skipped (1 kept in the queue); 1 message(s) left in rekognize-emotions-cli005-failed"
    assert "no requestPayload" in err and err.strip().endswith("could not be redriven and stay in the queue (reasons above)")
    assert sorted(p["Records"][0]["s3"]["object"]["key"] for p in fake_lambda.payloads) == ["faces/s/c/0.jpg", "faces/s/c/1.jpg"]

    (kept,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=kept["ReceiptHandle"])
    assert main(["aws-redrive"]) == 0
    assert capsys.readouterr().out.startswith("0 event(s) redriven, 0 failed, 0 skipped; 0 message(s) left")


def test_redrive_without_credentials_exits_2(aws, monkeypatch, capsys):
    assert main(["setup", "--yes", "--name-suffix", "cli006", "--no-verify"]) == 0
    capsys.readouterr()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["aws-redrive"]) == 2
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_redrive_help_explains_the_queue(capsys):
    with pytest.raises(SystemExit) as info:
        main(["aws-redrive", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "<function>-failed" in out and "two retries" in out and "--limit" in out
