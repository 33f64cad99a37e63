"""The app's one reader of AWS error codes (core/aws/clients.py)."""

from __future__ import annotations

from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from crowdmood_gui.core.aws.clients import describe_aws_error, error_code


def test_error_code_reads_the_code_aws_sent():
    exc = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
    assert error_code(exc) == "AccessDenied"


def test_error_code_is_empty_for_failures_aws_never_answered():
    assert error_code(EndpointConnectionError(endpoint_url="http://127.0.0.1:9")) == ""
    assert error_code(ParamValidationError(report="Bucket is empty")) == ""
    assert error_code(ClientError({}, "PutObject")) == ""  # an answer without an Error element
    assert error_code(ValueError("x")) == ""


def test_describe_aws_error_names_the_code_and_a_hint():
    exc = ClientError({"Error": {"Code": "ExpiredToken", "Message": "old"}}, "GetMetricData")
    line = describe_aws_error(exc)
    assert line.startswith("GetMetricData failed: ExpiredToken: old")
    assert "refresh them" in line
    assert describe_aws_error(ClientError({}, "PutObject")).startswith("PutObject failed: Error: ")
