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
    assert len(step_lines) == 8, err
    policy = json.loads(out[out.index("{"):])
    assert {s["Action"] for s in policy["Statement"]} >= {"s3:PutObject", "dynamodb:Query"}
    config = load_config()
    assert config.backend == "aws" and config.aws.bucket == "crowdmood-faces-cli001" and config.aws.region == "us-east-1"
    assert default_config_path().exists()

    # Again, with no suffix: the config's names are adopted, nothing is created.
    assert main(["setup", "--yes", "--no-verify"]) == 0
    err = capsys.readouterr().err
    assert "created" not in err.replace("created: nothing", "")
    assert err.count("): adopted") == 8

    assert main(["teardown"]) == 2
    assert "--yes" in capsys.readouterr().err
    assert main(["teardown", "--yes"]) == 0
    err = capsys.readouterr().err
    assert err.count("): deleted") == 8
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

    from crowdmood_gui.core.aws.provision import Provisioner

    def boom(self):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "User is not authorized to perform: iam:CreateRole"}}, "CreateRole")

    monkeypatch.setattr(Provisioner, "_step_role", boom)
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
