"""Credentials and regions: which profiles exist, who they are, where Rekognition runs.

Everything here is offline except :func:`whoami` (one ``sts:GetCallerIdentity`` call).
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from crowdmood_gui.core.aws.clients import client, describe_aws_error
from crowdmood_gui.core.errors import AwsError

# Shown when neither a profile nor the environment yields a working identity.
CREDENTIALS_ADVICE = (
    "No working AWS credentials. Either run 'aws configure' (access key) or "
    "'aws configure sso' then 'aws sso login' (IAM Identity Center), or set "
    "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment; then try again. "
    "Setup needs an identity allowed to create S3, DynamoDB, IAM, Lambda, Logs and CloudWatch resources."
)


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    user_id: str

    def describe(self) -> str:
        return f"account {self.account} as {self.arn}"


def list_profiles() -> list[str]:
    try:
        return sorted(boto3.Session().available_profiles)
    except BotoCoreError:
        return []


def whoami(session: boto3.Session) -> Identity:
    """``sts:GetCallerIdentity``; an :class:`AwsError` with an actionable line on failure."""
    try:
        reply = client(session, "sts").get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(describe_aws_error(exc, profile=session.profile_name)) from None
    return Identity(account=reply["Account"], arn=reply["Arn"], user_id=reply["UserId"])


def rekognition_regions() -> list[str]:
    """Regions where Rekognition is offered, from botocore's bundled endpoint data (offline)."""
    return sorted(boto3.Session().get_available_regions("rekognition"))


def is_rekognition_region(region: str | None) -> bool:
    return bool(region) and region in rekognition_regions()


def region_warning(region: str | None) -> str | None:
    if not region:
        return "no region chosen: pick one where Rekognition is offered"
    if not is_rekognition_region(region):
        return f"Rekognition is not offered in {region}: choose one of {', '.join(rekognition_regions())}"
    return None
