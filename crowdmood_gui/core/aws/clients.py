"""boto3 sessions from the standard credential chain only (profiles, SSO, environment).

The app stores no secret. ``AWS_ENDPOINT_URL`` (and the per-service
``AWS_ENDPOINT_URL_<SERVICE>``) is honoured by boto3 itself, so the same code runs
against moto server or another emulator.
"""

from __future__ import annotations

import os

import boto3
import botocore.config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from crowdmood_gui.core.config import AwsConfig
from crowdmood_gui.core.errors import AwsError

# Adaptive retries with a bounded budget: transient throttling is absorbed, outages surface.
CLIENT_CONFIG = botocore.config.Config(
    retries={"max_attempts": 5, "mode": "adaptive"},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="crowdmood-gui",
)


def make_session(aws: AwsConfig | None = None, *, profile: str | None = None, region: str | None = None) -> boto3.Session:
    profile = profile if profile is not None else (aws.profile if aws else None)
    region = region if region is not None else (aws.region if aws else None)
    global _last_profile
    try:
        session = boto3.Session(profile_name=profile or None, region_name=region or None)
        _last_profile = session.profile_name
        return session
    except ProfileNotFound as exc:
        # No profile given: boto3 took AWS_PROFILE from the environment; name that one.
        name = profile or exc.kwargs.get("profile") or os.environ.get("AWS_PROFILE")
        origin = "" if profile else " (from AWS_PROFILE)"
        raise AwsError(f"AWS profile '{name}'{origin} was not found in ~/.aws/config or ~/.aws/credentials") from None


def client(session: boto3.Session, service: str):
    return session.client(service, config=CLIENT_CONFIG)


_last_profile: str | None = None  # the profile of the last session made here


def _sso_profile(exc: Exception) -> str:
    """The profile an SSO token error is about (botocore's message names the start URL or
    session, not the profile)."""
    return _last_profile or os.environ.get("AWS_PROFILE") or "default"


def error_code(exc: BaseException) -> str:
    """The code of a call AWS refused (``AccessDenied``, ``NoSuchBucket`` ...); "" for any other
    failure (the network, a parameter botocore refused before sending). The app's one reader of
    ``response["Error"]["Code"]`` (the Lambda has its own: it is zipped without this module)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "")
    return ""


def describe_aws_error(exc: Exception, *, profile: str | None = None) -> str:
    """One line a user can act on, for any botocore failure."""
    from botocore.exceptions import SSOError, SSOTokenLoadError, TokenRetrievalError, UnauthorizedSSOTokenError

    if isinstance(exc, (SSOTokenLoadError, UnauthorizedSSOTokenError, TokenRetrievalError, SSOError)):
        name = profile or _sso_profile(exc)
        return (f"the AWS SSO login of profile '{name}' is missing or expired: "
                f"run 'aws sso login --profile {name}', then try again")
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found: choose a profile, run 'aws sso login', or set AWS_* environment variables"
    if isinstance(exc, ClientError):
        code = error_code(exc) or "Error"
        message = exc.response.get("Error", {}).get("Message", "")
        op = getattr(exc, "operation_name", "")
        hints = {
            "AccessDenied": "the identity lacks a permission (see the IAM policy printed by 'crowdmood setup')",
            "AccessDeniedException": "the identity lacks a permission (see the IAM policy printed by 'crowdmood setup')",
            "ExpiredToken": "the credentials expired: refresh them (e.g. 'aws sso login')",
            "ExpiredTokenException": "the credentials expired: refresh them (e.g. 'aws sso login')",
            "InvalidClientTokenId": "the access key is not valid for this account",
            "UnrecognizedClientException": "the access key is not valid for this account",
        }
        hint = hints.get(code)
        return f"{op or 'AWS call'} failed: {code}: {message}" + (f" ({hint})" if hint else "")
    if isinstance(exc, BotoCoreError):
        return f"AWS call failed: {exc}"
    return str(exc)
