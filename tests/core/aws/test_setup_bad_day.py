"""Setup on a bad day (issue #14): an SSO profile without a token says the command to run,
an unknown AWS_PROFILE is named, and a plain-HTTP emulator endpoint gets no TLS-only bucket
policy (it would refuse every upload and teardown with 403) and is told so."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from crowdmood_gui.cli import main
from crowdmood_gui.core.aws.clients import make_session
from crowdmood_gui.core.aws.naming import default_names
from crowdmood_gui.core.aws.provision import TLS_STATEMENT_SID, Provisioner
from crowdmood_gui.core.aws.regions import whoami
from crowdmood_gui.core.errors import AwsError

from test_provision import FakeClock, package  # noqa: F401 - the session-scoped zip fixture

SSO_CONFIG = """
[profile booth-sso]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Operator
region = eu-west-1

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1
sso_registration_scopes = sso:account:access
"""


@pytest.fixture
def sso_profile(tmp_path, monkeypatch):
    config = tmp_path / "aws-config"
    config.write_text(SSO_CONFIG)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws/sso/cache token
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    return "booth-sso"


def test_an_sso_profile_without_a_token_says_aws_sso_login(sso_profile):
    with pytest.raises(AwsError, match=r"run 'aws sso login --profile booth-sso'"):
        whoami(make_session(profile=sso_profile))


def test_setup_with_an_sso_profile_from_the_environment_is_one_line(sso_profile, monkeypatch, capsys):
    monkeypatch.setenv("AWS_PROFILE", sso_profile)
    assert main(["setup", "--yes", "--name-suffix", "sso001"]) == 2
    err = capsys.readouterr().err
    assert "aws sso login --profile booth-sso" in err and "Traceback" not in err


def test_an_unknown_aws_profile_is_named_not_none(monkeypatch, capsys):
    monkeypatch.setenv("AWS_PROFILE", "nosuch")
    assert main(["setup", "--yes", "--region", "us-east-1"]) == 2
    err = capsys.readouterr().err
    assert "'nosuch'" in err and "AWS_PROFILE" in err and "None" not in err


def _http_endpoint(client, url="http://127.0.0.1:4566"):
    client.meta._endpoint_url = url  # what AWS_ENDPOINT_URL=http://... gives a real client
    return client


@pytest.fixture
def plain_moto(monkeypatch):
    """moto without the conftest's HTTPS reading of bucket policies: a Deny on
    aws:SecureTransport=false denies every request, as an emulator over plain HTTP does."""
    from moto.awslambda.models import EventInvokeConfig, LambdaBackend

    def put_overwrites(backend, function_name, config):
        fn = backend.get_function(function_name)
        fn.event_invoke_config = [EventInvokeConfig(fn.function_arn, fn.last_modified, config)]
        return fn.event_invoke_config[0].response()

    monkeypatch.setattr(LambdaBackend, "put_function_event_invoke_config", put_overwrites)
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


def _provisioner(session, package, lines):
    clock = FakeClock()
    p = Provisioner(session, default_names("http01"), package=package, sleep=clock.sleep, clock=clock, log=lines.append)
    p._clients["s3"] = _http_endpoint(session.client("s3"))
    return p


def test_setup_against_a_plain_http_endpoint_leaves_out_the_tls_policy_and_says_so(plain_moto, package):
    lines: list[str] = []
    report = _provisioner(plain_moto, package, lines).run()
    assert report.ok, report.summary()
    assert any("plain HTTP" in line and "TLS-only bucket policy is left out" in line for line in lines)
    s3 = plain_moto.client("s3")
    bucket = default_names("http01").bucket
    s3.put_object(Bucket=bucket, Key="faces/s/c/x.jpg", Body=b"jpeg")  # an upload is not refused
    teardown = _provisioner(plain_moto, package, lines).teardown()
    assert teardown.ok, teardown.summary()


def test_teardown_over_plain_http_removes_an_old_tls_policy_first(plain_moto, package):
    lines: list[str] = []
    assert _provisioner(plain_moto, package, lines).run().ok
    s3 = plain_moto.client("s3")
    bucket = default_names("http01").bucket
    s3.put_object(Bucket=bucket, Key="faces/s/c/x.jpg", Body=b"jpeg")
    deny = {"Sid": TLS_STATEMENT_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny]}))
    teardown = _provisioner(plain_moto, package, lines).teardown()
    assert teardown.ok, teardown.summary()
    assert any("removed the TLS-only bucket policy" in line for line in lines)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
