"""Names, validators, regions, identity and the cost estimate: pure helpers of the setup."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from crowdmood_gui.core.aws import naming, pricing, regions
from crowdmood_gui.core.errors import AwsError


def test_default_names_follow_the_old_pipeline_plus_a_suffix():
    names = naming.default_names("ab12cd")
    assert (names.bucket, names.table, names.function, names.role, names.dashboard) == (
        "crowdmood-faces-ab12cd", "rekognize-faces-ab12cd", "rekognize-emotions-ab12cd", "crowdmood-lambda-ab12cd", "crowdmood-ab12cd")
    assert names.log_group == "/aws/lambda/rekognize-emotions-ab12cd"
    assert names.failure_queue == "rekognize-emotions-ab12cd-failed"
    # The longest valid function name still gives a valid SQS queue name (<= 80 of [A-Za-z0-9_-]).
    longest = replace(names, function="f" * 64)
    assert naming.validate_names(longest) == {} and len(longest.failure_queue) <= 80
    assert naming.validate_names(names) == {}
    assert naming.default_names().bucket != naming.default_names().bucket  # random suffixes differ
    with pytest.raises(ValueError):
        naming.default_names("-bad")


@pytest.mark.parametrize("name,fragment", [
    ("ab", "3 to 63"), ("a" * 64, "3 to 63"), ("Crowd", "lowercase"), ("crowd_faces", "only lowercase"),
    ("-crowd", "only lowercase"), ("crowd-", "only lowercase"), ("crowd.faces", "no dots"), ("xn--crowd", "reserved"),
])
def test_bucket_name_rules(name, fragment):
    assert fragment in naming.validate_bucket_name(name)


def test_other_validators():
    assert naming.validate_bucket_name("crowdmood-faces-1") is None
    assert naming.validate_table_name("ab") and naming.validate_table_name("a b")
    assert naming.validate_function_name("f" * 65) and naming.validate_function_name("a.b")
    assert naming.validate_role_name("r" * 65) and naming.validate_role_name("a b")
    assert naming.validate_dashboard_name("a.b")
    assert naming.validate_namespace("AWS/Mine")
    problems = naming.validate_names(replace(naming.default_names("abc"), bucket="Bad", table="x"))
    assert set(problems) == {"bucket", "table"}


def test_rekognition_regions_are_offline_and_exclude_regions_without_it():
    listed = regions.rekognition_regions()
    assert "us-east-1" in listed and "eu-west-1" in listed
    assert "eu-north-1" not in listed
    assert regions.region_warning("us-east-1") is None
    assert "not offered in eu-north-1" in regions.region_warning("eu-north-1")
    assert regions.region_warning(None)


def test_whoami_with_and_without_credentials(monkeypatch):
    with mock_aws():
        identity = regions.whoami(boto3.Session(region_name="us-east-1"))
    assert identity.account == "123456789012" and "123456789012" in identity.describe()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(AwsError, match="no AWS credentials found"):
        regions.whoami(boto3.Session(region_name="us-east-1"))
    assert regions.list_profiles() == []  # AWS_CONFIG_FILE is /dev/null in tests


def test_cost_estimate_per_hour():
    # 5 faces, one crop each every 2 s: 9000 images/hour, over a $1/h budget -> capped at 1000.
    capped = pricing.estimate_cost_per_hour(tracks=5, interval_s=2, budget_usd_per_hour=1.0, poll_interval_s=5)
    assert capped.capped_by_budget and capped.images_per_hour == pytest.approx(1000)
    lines = dict(capped.lines)
    assert lines["Rekognition DetectFaces"] == pytest.approx(1.0)
    assert lines["S3 PUT requests"] == pytest.approx(0.005)
    assert lines["DynamoDB on-demand writes"] == pytest.approx(1000 * 0.625e-6)
    assert lines["CloudWatch custom metrics"] == pytest.approx(27 * 0.30 / 730)  # 9 metrics x 3 dimension sets
    assert lines["CloudWatch GetMetricData polling"] == pytest.approx(720 * 9 * 0.01 / 1000)
    assert lines["SQS failure queue (free tier)"] == 0.0  # only failed events, inside the free tier
    assert capped.total == pytest.approx(sum(lines.values()))
    assert "capped" in capped.describe() and "total" in capped.describe()

    # 1 face every 10 s, no budget cap: 360 images/hour.
    light = pricing.estimate_cost_per_hour(tracks=1, interval_s=10, budget_usd_per_hour=None)
    assert not light.capped_by_budget and light.images_per_hour == pytest.approx(360)
    assert dict(light.lines)["Rekognition DetectFaces"] == pytest.approx(0.36)
    assert pricing.estimate_cost_per_hour(tracks=0).images_per_hour == 0
    # A second booth adds its two per-booth dimension sets.
    two = dict(pricing.estimate_cost_per_hour(booths=2).lines)["CloudWatch custom metrics"]
    assert two == pytest.approx(45 * 0.30 / 730)
    with pytest.raises(ValueError):
        pricing.images_per_hour(1, 0)
